/* router: exact matching, {param} capture, 404 vs 405, Allow, method names, the tables. */
#include "test.h"

#include "router.h"

#include <stdio.h>
#include <string.h>

#define GET_HEAD (HTTP_GET | HTTP_HEAD)

TEST(router_exact_match)
{
    struct router_match m;
    CHECK_EQ_INT(router_find("/redfish/v1", HTTP_GET, &m), ROUTER_FOUND);
    REQUIRE(m.route != NULL);
    CHECK_STREQ(m.route->pattern, "/redfish/v1");
    CHECK_EQ_INT(m.route->method, HTTP_GET);
    CHECK(m.route->handler != NULL);
    CHECK_EQ_INT(m.nparams, 0);
    CHECK_EQ_INT(m.allowed, GET_HEAD);

    CHECK_EQ_INT(router_find("/redfish/v1/SessionService/Sessions", HTTP_POST, &m), ROUTER_FOUND);
    REQUIRE(m.route != NULL);
    CHECK_STREQ(m.route->pattern, "/redfish/v1/SessionService/Sessions");
    CHECK_EQ_INT(m.route->method, HTTP_POST);
    CHECK(m.route->flags & ROUTE_NO_AUTH);
    CHECK_EQ_INT(m.allowed, GET_HEAD | HTTP_POST);

    /* "/redfish" and "/redfish/v1" are different resources. */
    CHECK_EQ_INT(router_find("/redfish", HTTP_GET, &m), ROUTER_FOUND);
    REQUIRE(m.route != NULL);
    CHECK_STREQ(m.route->pattern, "/redfish");
}

TEST(router_head_uses_get_route)
{
    struct router_match get, head;
    CHECK_EQ_INT(router_find("/redfish/v1/Managers/bmc", HTTP_GET, &get), ROUTER_FOUND);
    CHECK_EQ_INT(router_find("/redfish/v1/Managers/bmc", HTTP_HEAD, &head), ROUTER_FOUND);
    CHECK(get.route != NULL && get.route == head.route);
    CHECK_EQ_INT(head.nparams, 1);
    CHECK_STREQ(head.params[0], "bmc");
    CHECK(head.allowed & HTTP_HEAD);
}

TEST(router_param_capture)
{
    struct router_match m;
    CHECK_EQ_INT(router_find("/redfish/v1/AccountService/Accounts/17", HTTP_PATCH, &m),
                 ROUTER_FOUND);
    REQUIRE(m.route != NULL);
    CHECK_STREQ(m.route->pattern, "/redfish/v1/AccountService/Accounts/{id}");
    CHECK_EQ_INT(m.route->method, HTTP_PATCH);
    CHECK_EQ_INT(m.nparams, 1);
    CHECK_STREQ(m.params[0], "17");
    CHECK_EQ_INT(m.allowed, GET_HEAD | HTTP_PATCH | HTTP_DELETE);

    /* Two parameters, captured in order; a parameter may hold dots. */
    CHECK_EQ_INT(router_find("/redfish/v1/JsonSchemas/Vsc/Vsc.v1_0_0.json", HTTP_GET, &m),
                 ROUTER_FOUND);
    REQUIRE(m.route != NULL);
    CHECK_STREQ(m.route->pattern, "/redfish/v1/JsonSchemas/{id}/{file}");
    CHECK_EQ_INT(m.nparams, 2);
    CHECK_STREQ(m.params[0], "Vsc");
    CHECK_STREQ(m.params[1], "Vsc.v1_0_0.json");

    /* A parameter in the middle of the pattern. */
    CHECK_EQ_INT(router_find("/redfish/v1/Managers/x-1/SerialInterfaces", HTTP_GET, &m),
                 ROUTER_FOUND);
    REQUIRE(m.route != NULL);
    CHECK_STREQ(m.route->pattern, "/redfish/v1/Managers/{id}/SerialInterfaces");
    CHECK_EQ_INT(m.nparams, 1);
    CHECK_STREQ(m.params[0], "x-1");
}

TEST(router_param_needs_one_nonempty_segment)
{
    struct router_match m;
    /* Empty segment where a parameter is expected. */
    CHECK_EQ_INT(router_find("/redfish/v1/Managers//SerialInterfaces", HTTP_GET, &m),
                 ROUTER_NOT_FOUND);
    CHECK_EQ_INT(router_find("/redfish/v1/AccountService/Accounts/", HTTP_GET, &m),
                 ROUTER_NOT_FOUND);
    /* A parameter never spans two segments. */
    CHECK_EQ_INT(router_find("/redfish/v1/AccountService/Accounts/1/2", HTTP_GET, &m),
                 ROUTER_NOT_FOUND);
    CHECK_EQ_INT(m.allowed, 0);
}

TEST(router_trailing_slash_normalization)
{
    char out[256];
    router_normalize("/redfish/v1/", out, sizeof(out));
    CHECK_STREQ(out, "/redfish/v1");
    router_normalize("/redfish/v1", out, sizeof(out));
    CHECK_STREQ(out, "/redfish/v1");
    router_normalize("/", out, sizeof(out));
    CHECK_STREQ(out, "/");
    router_normalize("", out, sizeof(out));
    CHECK_STREQ(out, "");
    /* Only one slash goes: "//" at the end stays a different (unknown) path. */
    router_normalize("/redfish/v1//", out, sizeof(out));
    CHECK_STREQ(out, "/redfish/v1/");

    struct router_match m;
    router_normalize("/redfish/v1/Managers/bmc/", out, sizeof(out));
    CHECK_EQ_INT(router_find(out, HTTP_GET, &m), ROUTER_FOUND);
    CHECK_EQ_INT(m.nparams, 1);
    CHECK_STREQ(m.params[0], "bmc");
    router_normalize("/redfish/v1//", out, sizeof(out));
    CHECK_EQ_INT(router_find(out, HTTP_GET, &m), ROUTER_NOT_FOUND);

    /* The router itself matches exactly: normalizing is the caller's step. */
    CHECK_EQ_INT(router_find("/redfish/v1/", HTTP_GET, &m), ROUTER_NOT_FOUND);

    /* A short buffer truncates and stays terminated. */
    char small[8];
    memset(small, 'x', sizeof(small));
    router_normalize("/redfish/v1/", small, sizeof(small));
    CHECK_STREQ(small, "/redfis");
}

TEST(router_not_found_vs_bad_method)
{
    struct router_match m;
    CHECK_EQ_INT(router_find("/redfish/v1/Nope", HTTP_GET, &m), ROUTER_NOT_FOUND);
    CHECK(m.route == NULL);
    CHECK_EQ_INT(m.allowed, 0);

    CHECK_EQ_INT(router_find("/redfish/v1", HTTP_DELETE, &m), ROUTER_BAD_METHOD);
    CHECK(m.route == NULL);
    CHECK_EQ_INT(m.allowed, GET_HEAD);

    CHECK_EQ_INT(router_find("/redfish/v1/SessionService", HTTP_PUT, &m), ROUTER_BAD_METHOD);
    CHECK_EQ_INT(m.allowed, GET_HEAD | HTTP_PATCH);

    CHECK_EQ_INT(router_find("/redfish/v1/SessionService/Sessions/abc", HTTP_PATCH, &m),
                 ROUTER_BAD_METHOD);
    CHECK_EQ_INT(m.allowed, GET_HEAD | HTTP_DELETE);

    /* A POST-only collection method on a GET-only resource. */
    CHECK_EQ_INT(router_find("/redfish/v1/Systems", HTTP_POST, &m), ROUTER_BAD_METHOD);
    CHECK_EQ_INT(m.allowed, GET_HEAD);

    /* Nothing from a previous call leaks into the next result. */
    CHECK_EQ_INT(router_find("/redfish/v1/AccountService/Accounts/3", HTTP_GET, &m), ROUTER_FOUND);
    CHECK_EQ_INT(router_find("/nothing/here", HTTP_GET, &m), ROUTER_NOT_FOUND);
    CHECK_EQ_INT(m.nparams, 0);
    CHECK(m.route == NULL);
    CHECK_EQ_INT(m.allowed, 0);
}

TEST(router_no_prefix_matching)
{
    static const char *const paths[] = {
        "",
        "redfish/v1",
        "/ui", /* "/" (the dashboard) is a route; it prefixes nothing */
        "/ui/a/b",
        "/index.html",
        "/redfis",
        "/redfishx",
        "/redfish/v",
        "/redfish/v1x",
        "/redfish/v1/Manager",
        "/redfish/v1/Managersx",
        "/redfish/v1/Systems/1/Bios",
        "/redfish/v1/Systems/1/SerialConsole",
        "/redfish/v1/Managers/bmc/SerialInterfacesX",
        "/redfish/v1/Managers/bmc/SerialInterfaces/1/Settings",
        "/redfish/v1/SessionService/Sessions/abc/def",
        "/redfish/v1/JsonSchemas/a/b/c",
        "/x/redfish/v1",
        "//redfish/v1",
        "/REDFISH/V1",
    };
    for (size_t i = 0; i < ARRAY_LEN(paths); i++) {
        struct router_match m;
        enum router_result res = router_find(paths[i], HTTP_GET, &m);
        if (res != ROUTER_NOT_FOUND || m.allowed != 0)
            test_fail(__FILE__, __LINE__, "'%s' matched (result %d, allowed %u)", paths[i],
                      (int)res, (unsigned)m.allowed);
    }
}

TEST(router_overlong_segment)
{
    char path[512], seg[RF_PARAM_MAX + 2];
    struct router_match m;

    /* The longest parameter that fits: RF_PARAM_MAX - 1 characters and the NUL. */
    memset(seg, 'a', RF_PARAM_MAX - 1);
    seg[RF_PARAM_MAX - 1] = '\0';
    snprintf(path, sizeof(path), "/redfish/v1/AccountService/Accounts/%s", seg);
    CHECK_EQ_INT(router_find(path, HTTP_GET, &m), ROUTER_FOUND);
    CHECK_EQ_INT(strlen(m.params[0]), RF_PARAM_MAX - 1);
    CHECK_STREQ(m.params[0], seg);

    /* One more does not match (and does not overflow params[]). */
    memset(seg, 'a', RF_PARAM_MAX);
    seg[RF_PARAM_MAX] = '\0';
    snprintf(path, sizeof(path), "/redfish/v1/AccountService/Accounts/%s", seg);
    CHECK_EQ_INT(router_find(path, HTTP_GET, &m), ROUTER_NOT_FOUND);
    CHECK_EQ_INT(m.allowed, 0);

    /* Overlong in the first of two parameters. */
    snprintf(path, sizeof(path), "/redfish/v1/JsonSchemas/%s/x.json", seg);
    CHECK_EQ_INT(router_find(path, HTTP_GET, &m), ROUTER_NOT_FOUND);

    /* A long literal-looking segment is simply unknown. */
    snprintf(path, sizeof(path), "/redfish/%s", seg);
    CHECK_EQ_INT(router_find(path, HTTP_GET, &m), ROUTER_NOT_FOUND);
}

TEST(router_allow_header)
{
    char out[64];
    router_allow_header(HTTP_GET | HTTP_HEAD | HTTP_PATCH, out, sizeof(out));
    CHECK_STREQ(out, "GET, HEAD, PATCH");
    router_allow_header(HTTP_GET | HTTP_HEAD, out, sizeof(out));
    CHECK_STREQ(out, "GET, HEAD");
    /* Fixed order, whatever order the bits were given in. */
    router_allow_header(HTTP_DELETE | HTTP_PUT | HTTP_PATCH | HTTP_POST | HTTP_HEAD | HTTP_GET, out,
                        sizeof(out));
    CHECK_STREQ(out, "GET, HEAD, POST, PATCH, PUT, DELETE");
    router_allow_header(HTTP_DELETE, out, sizeof(out));
    CHECK_STREQ(out, "DELETE");
    router_allow_header(0, out, sizeof(out));
    CHECK_STREQ(out, "");

    /* A short buffer keeps whole names only and stays terminated. */
    char small[10];
    memset(small, 'x', sizeof(small));
    router_allow_header(HTTP_GET | HTTP_HEAD | HTTP_POST, small, sizeof(small));
    CHECK_STREQ(small, "GET, HEAD");
    char tiny[9];
    router_allow_header(HTTP_GET | HTTP_HEAD, tiny, sizeof(tiny));
    CHECK_STREQ(tiny, "GET");
    /* Truncated means a prefix of the full list: no later, shorter name after a gap. */
    char eleven[11];
    router_allow_header(HTTP_HEAD | HTTP_PATCH | HTTP_PUT, eleven, sizeof(eleven));
    CHECK_STREQ(eleven, "HEAD");
}

TEST(router_method_parse_and_name)
{
    static const struct {
        const char *name;
        enum http_method method;
    } known[] = {
        {"GET", HTTP_GET},     {"HEAD", HTTP_HEAD}, {"POST", HTTP_POST},
        {"PATCH", HTTP_PATCH}, {"PUT", HTTP_PUT},   {"DELETE", HTTP_DELETE},
    };
    for (size_t i = 0; i < ARRAY_LEN(known); i++) {
        enum http_method m = 0;
        CHECK_EQ_INT(router_method_parse(known[i].name, &m), 0);
        CHECK_EQ_INT(m, known[i].method);
        CHECK_STREQ(router_method_name(known[i].method), known[i].name);
    }
    /* Methods are case-sensitive (RFC 9110 §9.1); unknown ones are refused. */
    static const char *const bad[] = {"get", "Get", "", "OPTIONS", "TRACE", "GETX", "GE", " GET"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        enum http_method m = HTTP_PUT;
        if (router_method_parse(bad[i], &m) != -1)
            test_fail(__FILE__, __LINE__, "method '%s' was accepted", bad[i]);
        CHECK_EQ_INT(m, HTTP_PUT); /* untouched */
    }
    CHECK_STREQ(router_method_name(HTTP_GET | HTTP_POST), "?");
    CHECK_STREQ(router_method_name(0), "?");
}

/* The pattern with every {name} replaced by {}: two routes differing only in parameter
 * names would shadow each other. */
static void pattern_shape(const char *pattern, char *out, size_t outsz)
{
    size_t o = 0;
    for (const char *p = pattern; *p && o + 3 < outsz; p++) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            if (close) {
                out[o++] = '{';
                out[o++] = '}';
                p = close;
                continue;
            }
        }
        out[o++] = *p;
    }
    out[o] = '\0';
}

TEST(router_tables_have_no_duplicate_routes)
{
    size_t total = 0;
    for (size_t t = 0; t < router_table_count; t++)
        total += router_tables[t]->count;
    CHECK(total > 0);
    for (size_t t = 0; t < router_table_count; t++) {
        for (size_t i = 0; i < router_tables[t]->count; i++) {
            const struct route *a = &router_tables[t]->routes[i];
            char sa[256];
            pattern_shape(a->pattern, sa, sizeof(sa));
            for (size_t u = t; u < router_table_count; u++) {
                for (size_t j = u == t ? i + 1 : 0; j < router_tables[u]->count; j++) {
                    const struct route *b = &router_tables[u]->routes[j];
                    char sb[256];
                    pattern_shape(b->pattern, sb, sizeof(sb));
                    if (a->method == b->method && strcmp(sa, sb) == 0)
                        test_fail(__FILE__, __LINE__, "%s %s and %s %s are the same route",
                                  router_method_name(a->method), a->pattern,
                                  router_method_name(b->method), b->pattern);
                }
            }
        }
    }
}

TEST(router_tables_are_well_formed)
{
    for (size_t t = 0; t < router_table_count; t++) {
        for (size_t i = 0; i < router_tables[t]->count; i++) {
            const struct route *r = &router_tables[t]->routes[i];
            const char *p = r->pattern;
            size_t n = strlen(p);
            /* Normalized paths never end in '/' (but "/" itself, the dashboard), so such a
             * pattern could never match. */
            bool root = strcmp(p, "/") == 0;
            if (!root && (n < 2 || p[0] != '/' || p[n - 1] == '/' || strstr(p, "//")))
                test_fail(__FILE__, __LINE__, "pattern '%s' is not a normalized path", p);
            if (!r->handler)
                test_fail(__FILE__, __LINE__, "%s has no handler", p);
            /* HEAD is served by the GET route; one method per route. */
            if (strcmp(router_method_name(r->method), "?") == 0 || r->method == HTTP_HEAD)
                test_fail(__FILE__, __LINE__, "%s has method mask %u", p, (unsigned)r->method);
            /* Every route is reachable through router_find. */
            struct router_match m;
            char path[256];
            size_t o = 0;
            for (const char *c = p; *c && o + 2 < sizeof(path); c++) {
                if (*c == '{') {
                    const char *close = strchr(c, '}');
                    if (close) {
                        path[o++] = 'x';
                        c = close;
                        continue;
                    }
                }
                path[o++] = *c;
            }
            path[o] = '\0';
            if (router_find(path, r->method, &m) != ROUTER_FOUND || !m.route ||
                m.route->handler != r->handler || !(m.allowed & r->method))
                test_fail(__FILE__, __LINE__, "%s %s is not what %s finds",
                          router_method_name(r->method), p, path);
        }
    }
}
