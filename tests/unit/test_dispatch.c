/* dispatch: the request pipeline, called directly with a real database and auth. */
#include "test.h"

#include "app.h"
#include "db_accounts.h"
#include "dispatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ADMIN_USER     "admin"
#define ADMIN_PASSWORD "Adm1n-Passw0rd"
#define RO_USER        "viewer"
#define RO_PASSWORD    "View3r-Passw0rd"

struct fixture {
    char dir[256];
    struct vsc_app *app;
    int64_t admin_id;
};

static int add_account(struct fixture *f, const char *user, const char *password, enum role role,
                       int64_t *id)
{
    struct account a;
    memset(&a, 0, sizeof(a));
    snprintf(a.user, sizeof(a.user), "%s", user);
    a.role = role;
    a.enabled = true;
    a.created_at = time(NULL);
    if (secret_hash(password, a.hash, sizeof(a.hash)) < 0 || db_account_create(&f->app->db, &a))
        return -1;
    if (id)
        *id = a.id;
    return 0;
}

static void fixture_close(struct fixture *f)
{
    if (f->app) {
        auth_fini(&f->app->auth);
        db_close(&f->app->db);
        free(f->app);
        f->app = NULL;
    }
    if (f->dir[0])
        test_rmtree(f->dir);
    f->dir[0] = '\0';
}

static int fixture_open(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    if (test_tmpdir(f->dir, sizeof(f->dir)) < 0) {
        f->dir[0] = '\0';
        return -1;
    }
    f->app = calloc(1, sizeof(*f->app));
    if (!f->app)
        return -1;
    struct vsc_app *app = f->app;
    config_defaults(&app->cfg);
    snprintf(app->cfg.state_dir, sizeof(app->cfg.state_dir), "%s", f->dir);
    snprintf(app->uuid, sizeof(app->uuid), "%s", "6c2b1f3e-0d4a-4e8b-9f1a-2b3c4d5e6f70");
    app_format_time(time(NULL), app->started_iso, sizeof(app->started_iso));
    char path[320];
    snprintf(path, sizeof(path), "%s/vsc.db", f->dir);
    if (db_open(&app->db, path, db_migrations, db_migration_count) < 0) {
        free(f->app);
        f->app = NULL;
        return -1;
    }
    if (auth_init(&app->auth, &app->db, (size_t)app->cfg.max_sessions,
                  app->cfg.session_timeout_default) < 0 ||
        add_account(f, ADMIN_USER, ADMIN_PASSWORD, ROLE_ADMINISTRATOR, &f->admin_id) < 0) {
        fixture_close(f);
        return -1;
    }
    return 0;
}

/* "Basic " + base64(user:password) */
static void basic(const char *user, const char *password, char *out, size_t outsz)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char plain[256];
    int n = snprintf(plain, sizeof(plain), "%s:%s", user, password);
    size_t len = n > 0 ? (size_t)n : 0, o = 0;
    o += (size_t)snprintf(out, outsz, "Basic ");
    for (size_t i = 0; i < len && o + 5 < outsz; i += 3) {
        unsigned v = (unsigned char)plain[i] << 16;
        if (i + 1 < len)
            v |= (unsigned char)plain[i + 1] << 8;
        if (i + 2 < len)
            v |= (unsigned char)plain[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? b64[v & 63] : '=';
    }
    out[o] = '\0';
}

static char admin_basic[128];

static void request(struct dispatch_input *in, const char *method, const char *path)
{
    memset(in, 0, sizeof(*in));
    in->method = method;
    in->path = path;
    in->client_ip = "127.0.0.1";
    in->tls = true;
}

/* An authenticated (Basic, admin) request over TLS. */
static void admin_request(struct dispatch_input *in, const char *method, const char *path)
{
    request(in, method, path);
    basic(ADMIN_USER, ADMIN_PASSWORD, admin_basic, sizeof(admin_basic));
    in->authorization = admin_basic;
}

static void set_body(struct dispatch_input *in, const char *body)
{
    in->body = body;
    in->body_len = strlen(body);
    in->content_type = "application/json";
}

/* Without a worker (in->async NULL) password work runs in place: never pending. */
static void run(struct fixture *f, const struct dispatch_input *in, struct rf_response *r)
{
    rf_response_init(r);
    CHECK_EQ_INT(dispatch(f->app, in, r), DISPATCH_DONE);
}

static const char *header(const struct rf_response *r, const char *name)
{
    return json_string_value(json_object_get(r->headers, name));
}

static const char *error_code(const struct rf_response *r)
{
    const char *code =
        json_string_value(json_object_get(json_object_get(r->body, "error"), "code"));
    return code ? code : "(no error body)";
}

static const char *body_str(const struct rf_response *r, const char *key)
{
    return json_string_value(json_object_get(r->body, key));
}

TEST(dispatch_service_root_without_credentials)
{
    struct fixture f;
    REQUIRE(fixture_open(&f) == 0);
    struct dispatch_input in;
    struct rf_response r;

    request(&in, "GET", "/redfish/v1/");
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_STREQ(body_str(&r, "@odata.id"), "/redfish/v1");
    CHECK_STREQ(body_str(&r, "UUID"), f.app->uuid);
    CHECK_STREQ(header(&r, "OData-Version"), "4.0");
    CHECK_STREQ(header(&r, "Allow"), "GET, HEAD");
    CHECK(header(&r, "ETag") != NULL);
    CHECK_STREQ(header(&r, "ETag"), body_str(&r, "@odata.etag"));
    CHECK_STREQ(header(&r, "Cache-Control"), "no-store");
    CHECK(header(&r, "Strict-Transport-Security") != NULL);
    CHECK(header(&r, "Link") != NULL && strstr(header(&r, "Link"), "ServiceRoot") != NULL);
    rf_response_fini(&r);

    /* Plain HTTP too (loopback deployments), and HEAD. */
    request(&in, "HEAD", "/redfish/v1");
    in.tls = false;
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK(header(&r, "Strict-Transport-Security") == NULL);
    rf_response_fini(&r);

    request(&in, "GET", "/redfish");
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_STREQ(body_str(&r, "v1"), "/redfish/v1/");
    rf_response_fini(&r);
    fixture_close(&f);
}

/* The dashboard's files keep their own Cache-Control and CSP; their errors do not. */
TEST(dispatch_dashboard_files)
{
    struct fixture f;
    REQUIRE(fixture_open(&f) == 0);
    struct dispatch_input in;
    struct rf_response r;

    request(&in, "GET", "/");
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK(r.raw != NULL && r.raw_len > 0 && r.body == NULL);
    CHECK_STREQ(r.content_type, "text/html; charset=utf-8");
    CHECK_STREQ(header(&r, "Cache-Control"), "no-cache");
    CHECK(header(&r, "Content-Security-Policy") != NULL &&
          strstr(header(&r, "Content-Security-Policy"), "script-src 'self';") != NULL);
    CHECK_STREQ(header(&r, "X-Content-Type-Options"), "nosniff");
    CHECK(header(&r, "ETag") == NULL);
    rf_response_fini(&r);

    request(&in, "GET", "/ui/app.js");
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_STREQ(r.content_type, "text/javascript; charset=utf-8");
    CHECK_STREQ(header(&r, "Cache-Control"), "public, max-age=86400");
    rf_response_fini(&r);

    request(&in, "GET", "/ui/missing.js");
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 404);
    CHECK_STREQ(header(&r, "Cache-Control"), "no-store");
    CHECK(r.body != NULL && r.raw == NULL);
    rf_response_fini(&r);
    fixture_close(&f);
}

TEST(dispatch_401_without_credentials)
{
    struct fixture f;
    REQUIRE(fixture_open(&f) == 0);
    struct dispatch_input in;
    struct rf_response r;

    request(&in, "GET", "/redfish/v1/Managers/bmc");
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 401);
    CHECK_STREQ(error_code(&r), "Base.1.22.NoValidSession");
    CHECK(header(&r, "WWW-Authenticate") != NULL &&
          strncmp(header(&r, "WWW-Authenticate"), "Basic", 5) == 0);
    CHECK(header(&r, "ETag") == NULL);
    rf_response_fini(&r);

    /* An unknown path is 401 too: no probing of what exists without credentials. */
    request(&in, "GET", "/redfish/v1/NoSuchThing");
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 401);
    rf_response_fini(&r);

    /* Wrong password, unknown user, garbage, unknown scheme, bad token. */
    static const char *const bad[] = {"Basic YWRtaW46d3Jvbmc=", /* admin:wrong */
                                      "Basic bm9ib2R5OnB3",     /* nobody:pw */
                                      "Basic !!!!", "Basic ", "Bearer abc"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        request(&in, "GET", "/redfish/v1/Managers/bmc");
        in.authorization = bad[i];
        run(&f, &in, &r);
        if (r.status != 401)
            test_fail(__FILE__, __LINE__, "'%s' -> %d", bad[i], r.status);
        rf_response_fini(&r);
    }
    request(&in, "GET", "/redfish/v1/Managers/bmc");
    in.x_auth_token = "not-a-token";
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 401);
    rf_response_fini(&r);

    /* Without TLS there is no Basic challenge to answer. */
    request(&in, "GET", "/redfish/v1/Managers/bmc");
    in.tls = false;
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 401);
    CHECK(header(&r, "WWW-Authenticate") == NULL);
    rf_response_fini(&r);
    fixture_close(&f);
}

TEST(dispatch_basic_only_over_tls)
{
    struct fixture f;
    REQUIRE(fixture_open(&f) == 0);
    struct dispatch_input in;
    struct rf_response r;

    admin_request(&in, "GET", "/redfish/v1/Managers/bmc");
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_STREQ(body_str(&r, "Id"), "bmc");
    CHECK_EQ_INT(
        json_integer_value(json_object_get(json_object_get(json_object_get(r.body, "Oem"), "Vsc"),
                                           "DatabaseSchemaVersion")),
        (int)db_migration_count);
    rf_response_fini(&r);

    /* Again (the verified credentials are cached now): same answer. */
    admin_request(&in, "GET", "/redfish/v1/Managers/bmc");
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 200);
    rf_response_fini(&r);

    /* The same credentials over plain HTTP are refused, cached or not. */
    admin_request(&in, "GET", "/redfish/v1/Managers/bmc");
    in.tls = false;
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 401);
    CHECK(r.body == NULL || json_object_get(r.body, "Id") == NULL);
    rf_response_fini(&r);
    fixture_close(&f);
}

TEST(dispatch_404_405_and_allow)
{
    struct fixture f;
    REQUIRE(fixture_open(&f) == 0);
    struct dispatch_input in;
    struct rf_response r;

    admin_request(&in, "GET", "/redfish/v1/NoSuchThing");
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 404);
    CHECK_STREQ(error_code(&r), "Base.1.22.ResourceMissingAtURI");
    CHECK(header(&r, "Allow") == NULL);
    rf_response_fini(&r);

    admin_request(&in, "DELETE", "/redfish/v1/SessionService");
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 405);
    CHECK_STREQ(error_code(&r), "Base.1.22.OperationNotAllowed");
    CHECK_STREQ(header(&r, "Allow"), "GET, HEAD, PATCH");
    rf_response_fini(&r);

    /* A method the router does not know at all: 405 with the path's Allow... */
    admin_request(&in, "OPTIONS", "/redfish/v1/AccountService/Accounts");
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 405);
    CHECK_STREQ(header(&r, "Allow"), "GET, HEAD, POST");
    rf_response_fini(&r);
    /* ...but only after authentication, like any other request. */
    request(&in, "OPTIONS", "/redfish/v1/AccountService/Accounts");
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 401);
    CHECK(header(&r, "Allow") == NULL);
    rf_response_fini(&r);
    request(&in, "DELETE", "/redfish/v1/SessionService");
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 401);
    rf_response_fini(&r);

    /* A resource the handler does not have (the route exists). */
    admin_request(&in, "GET", "/redfish/v1/Managers/other");
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 404);
    CHECK_STREQ(error_code(&r), "Base.1.22.ResourceNotFound");
    rf_response_fini(&r);

    /* Trailing slash: the same resource. */
    admin_request(&in, "GET", "/redfish/v1/Managers/bmc/");
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 200);
    rf_response_fini(&r);
    fixture_close(&f);
}

TEST(dispatch_odata_version)
{
    struct fixture f;
    REQUIRE(fixture_open(&f) == 0);
    struct dispatch_input in;
    struct rf_response r;

    request(&in, "GET", "/redfish/v1");
    in.odata_version = "4.1";
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 412);
    CHECK_STREQ(error_code(&r), "Base.1.22.HeaderInvalid");
    rf_response_fini(&r);

    request(&in, "GET", "/redfish/v1");
    in.odata_version = "4.0";
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 200);
    rf_response_fini(&r);
    fixture_close(&f);
}

TEST(dispatch_malformed_json)
{
    struct fixture f;
    REQUIRE(fixture_open(&f) == 0);
    struct dispatch_input in;
    struct rf_response r;
    static const char *const bodies[] = {"{\"SessionTimeout\": ", "[1, 2]", "42", "nonsense",
                                         "{\"SessionTimeout\": 60, \"SessionTimeout\": 90}"};
    for (size_t i = 0; i < ARRAY_LEN(bodies); i++) {
        admin_request(&in, "PATCH", "/redfish/v1/SessionService");
        set_body(&in, bodies[i]);
        run(&f, &in, &r);
        if (r.status != 400 || strcmp(error_code(&r), "Base.1.22.MalformedJSON") != 0)
            test_fail(__FILE__, __LINE__, "body '%s' -> %d %s", bodies[i], r.status,
                      error_code(&r));
        rf_response_fini(&r);
    }
    /* An empty PATCH body is malformed too. */
    admin_request(&in, "PATCH", "/redfish/v1/SessionService");
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 400);
    rf_response_fini(&r);

    /* Not JSON at all: 415. */
    admin_request(&in, "PATCH", "/redfish/v1/SessionService");
    set_body(&in, "{\"SessionTimeout\": 60}");
    in.content_type = "text/plain";
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 415);
    rf_response_fini(&r);
    CHECK_EQ_INT(f.app->auth.policy.session_timeout, 1800);
    fixture_close(&f);
}

TEST(dispatch_body_too_large)
{
    struct fixture f;
    REQUIRE(fixture_open(&f) == 0);
    struct dispatch_input in;
    struct rf_response r;
    admin_request(&in, "PATCH", "/redfish/v1/SessionService");
    set_body(&in, "{\"SessionTimeout\": 60}");
    in.body_too_large = true;
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 413);
    CHECK_STREQ(error_code(&r), "Base.1.22.PayloadTooLarge");
    rf_response_fini(&r);
    CHECK_EQ_INT(f.app->auth.policy.session_timeout, 1800);

    /* Answered before authentication: the body was never read. */
    request(&in, "POST", "/redfish/v1/AccountService/Accounts");
    in.body_too_large = true;
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 413);
    rf_response_fini(&r);
    fixture_close(&f);
}

static const char *member(const struct rf_response *r, size_t i)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(r->body, "Members"), i), "@odata.id"));
}

TEST(dispatch_top_skip_paging)
{
    struct fixture f;
    REQUIRE(fixture_open(&f) == 0);
    struct dispatch_input in;
    struct rf_response r;

    admin_request(&in, "GET", "/redfish/v1/AccountService/Roles");
    in.query[0].key = "$top";
    in.query[0].value = "2";
    in.nquery = 1;
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(json_array_size(json_object_get(r.body, "Members")), 2);
    CHECK_STREQ(member(&r, 0), "/redfish/v1/AccountService/Roles/Administrator");
    CHECK_STREQ(member(&r, 1), "/redfish/v1/AccountService/Roles/Operator");
    /* The count is the whole collection's. */
    CHECK_EQ_INT(json_integer_value(json_object_get(r.body, "Members@odata.count")), 3);
    CHECK_STREQ(body_str(&r, "Members@odata.nextLink"),
                "/redfish/v1/AccountService/Roles?$skip=2&$top=2");
    rf_response_fini(&r);

    admin_request(&in, "GET", "/redfish/v1/AccountService/Roles");
    in.query[0].key = "$skip";
    in.query[0].value = "2";
    in.query[1].key = "$top";
    in.query[1].value = "2";
    in.nquery = 2;
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(json_array_size(json_object_get(r.body, "Members")), 1);
    CHECK_STREQ(member(&r, 0), "/redfish/v1/AccountService/Roles/ReadOnly");
    CHECK(json_object_get(r.body, "Members@odata.nextLink") == NULL);
    rf_response_fini(&r);

    /* Skipping past the end: an empty page. */
    admin_request(&in, "GET", "/redfish/v1/AccountService/Roles");
    in.query[0].key = "$skip";
    in.query[0].value = "10";
    in.nquery = 1;
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(json_array_size(json_object_get(r.body, "Members")), 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(r.body, "Members@odata.count")), 3);
    rf_response_fini(&r);

    /* Bad values and places. */
    static const struct {
        const char *path, *key, *value;
        int status;
    } bad[] = {
        {"/redfish/v1/AccountService/Roles", "$top", "-1", 400},
        {"/redfish/v1/AccountService/Roles", "$top", "1234567890", 400},
        {"/redfish/v1/AccountService/Roles", "$top", "x", 400},
        {"/redfish/v1/AccountService/Roles", "$skip", "", 400},
        {"/redfish/v1/SessionService", "$top", "1", 400}, /* not a collection */
        {"/redfish/v1/AccountService/Roles", "$expand", ".", 501},
        {"/redfish/v1/AccountService/Roles", "$filter", "x", 501},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        admin_request(&in, "GET", bad[i].path);
        in.query[0].key = bad[i].key;
        in.query[0].value = bad[i].value;
        in.nquery = 1;
        run(&f, &in, &r);
        if (r.status != bad[i].status || !r.body || !json_object_get(r.body, "error"))
            test_fail(__FILE__, __LINE__, "%s?%s=%s -> %d, want %d", bad[i].path, bad[i].key,
                      bad[i].value, r.status, bad[i].status);
        rf_response_fini(&r);
    }
    fixture_close(&f);
}

/*
 * $top=0 is accepted (openapi.yaml: minimum 0) and answers an empty page. A nextLink, if
 * any, must lead further: one that names the same empty page again would send a client
 * that follows nextLinks (a crawler) round forever.
 */
TEST(dispatch_top_zero)
{
    struct fixture f;
    REQUIRE(fixture_open(&f) == 0);
    struct dispatch_input in;
    struct rf_response r;
    admin_request(&in, "GET", "/redfish/v1/AccountService/Roles");
    in.query[0].key = "$top";
    in.query[0].value = "0";
    in.nquery = 1;
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(json_array_size(json_object_get(r.body, "Members")), 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(r.body, "Members@odata.count")), 3);
    const char *next = body_str(&r, "Members@odata.nextLink");
    /* A page of $top=0 never gets anywhere, whatever its $skip. */
    if (next && strstr(next, "$top=0"))
        test_fail(__FILE__, __LINE__, "$top=0 answers nextLink %s, the same empty page", next);
    rf_response_fini(&r);
    fixture_close(&f);
}

TEST(dispatch_patch_if_match)
{
    struct fixture f;
    REQUIRE(fixture_open(&f) == 0);
    struct dispatch_input in;
    struct rf_response r;

    /* The current ETag. */
    admin_request(&in, "GET", "/redfish/v1/SessionService");
    run(&f, &in, &r);
    REQUIRE(r.status == 200);
    char etag[64] = "";
    snprintf(etag, sizeof(etag), "%s", header(&r, "ETag") ? header(&r, "ETag") : "");
    CHECK(strlen(etag) > 2 && etag[0] == '"');
    rf_response_fini(&r);

    /* A stale ETag: 412 and nothing changes. */
    admin_request(&in, "PATCH", "/redfish/v1/SessionService");
    set_body(&in, "{\"SessionTimeout\": 600}");
    in.if_match = "\"0000000000000000\"";
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 412);
    CHECK_STREQ(error_code(&r), "Base.1.22.PreconditionFailed");
    rf_response_fini(&r);
    CHECK_EQ_INT(f.app->auth.policy.session_timeout, 1800);
    CHECK_EQ_INT(db_setting_get_int(&f.app->db, "session_timeout", -1), -1);

    /* The current ETag (in a list): applied. */
    char list[160];
    snprintf(list, sizeof(list), "\"1111111111111111\", %s", etag);
    admin_request(&in, "PATCH", "/redfish/v1/SessionService");
    set_body(&in, "{\"SessionTimeout\": 600}");
    in.if_match = list;
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(json_integer_value(json_object_get(r.body, "SessionTimeout")), 600);
    CHECK(header(&r, "ETag") != NULL && strcmp(header(&r, "ETag"), etag) != 0);
    rf_response_fini(&r);
    CHECK_EQ_INT(f.app->auth.policy.session_timeout, 600);

    /* The old ETag is stale now. */
    admin_request(&in, "PATCH", "/redfish/v1/SessionService");
    set_body(&in, "{\"SessionTimeout\": 700}");
    in.if_match = etag;
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 412);
    rf_response_fini(&r);
    CHECK_EQ_INT(f.app->auth.policy.session_timeout, 600);

    /* "*" matches any current representation. */
    admin_request(&in, "PATCH", "/redfish/v1/SessionService");
    set_body(&in, "{\"SessionTimeout\": 700}");
    in.if_match = "*";
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 200);
    rf_response_fini(&r);
    CHECK_EQ_INT(f.app->auth.policy.session_timeout, 700);
    fixture_close(&f);
}

TEST(dispatch_patch_answers_with_resource)
{
    struct fixture f;
    REQUIRE(fixture_open(&f) == 0);
    struct dispatch_input in;
    struct rf_response r;

    admin_request(&in, "PATCH", "/redfish/v1/SessionService/");
    set_body(&in, "{\"SessionTimeout\": 900, \"@odata.etag\": \"\\\"whatever\\\"\"}");
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_STREQ(body_str(&r, "@odata.id"), "/redfish/v1/SessionService");
    CHECK_STREQ(body_str(&r, "Id"), "SessionService");
    CHECK_EQ_INT(json_integer_value(json_object_get(r.body, "SessionTimeout")), 900);
    CHECK(header(&r, "ETag") != NULL);
    CHECK_STREQ(header(&r, "ETag"), body_str(&r, "@odata.etag"));
    CHECK_EQ_INT(json_array_size(r.messages), 0);
    char etag[64];
    snprintf(etag, sizeof(etag), "%s", header(&r, "ETag") ? header(&r, "ETag") : "");
    rf_response_fini(&r);
    /* Stored, and used. */
    CHECK_EQ_INT(db_setting_get_int(&f.app->db, "session_timeout", -1), 900);
    CHECK_EQ_INT(f.app->auth.policy.session_timeout, 900);

    /* A GET now shows the same representation (the same ETag). */
    admin_request(&in, "GET", "/redfish/v1/SessionService");
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_STREQ(header(&r, "ETag"), etag);
    CHECK_EQ_INT(json_integer_value(json_object_get(r.body, "SessionTimeout")), 900);
    rf_response_fini(&r);

    /* If-None-Match with that ETag: 304 without a body. */
    admin_request(&in, "GET", "/redfish/v1/SessionService");
    in.if_none_match = etag;
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 304);
    CHECK(r.body == NULL);
    rf_response_fini(&r);

    /* An invalid value: 400, nothing changed. */
    admin_request(&in, "PATCH", "/redfish/v1/SessionService");
    set_body(&in, "{\"SessionTimeout\": 5, \"Id\": \"x\"}");
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 400);
    CHECK_STREQ(error_code(&r), "Base.1.22.GeneralError"); /* two messages */
    CHECK_EQ_INT(
        json_array_size(json_object_get(json_object_get(r.body, "error"), "@Message.ExtendedInfo")),
        2);
    rf_response_fini(&r);
    CHECK_EQ_INT(f.app->auth.policy.session_timeout, 900);
    fixture_close(&f);
}

/* RFC 9110 §13.1.2: If-None-Match compares weakly, so W/"x" matches the ETag "x". */
TEST(dispatch_if_none_match)
{
    struct fixture f;
    REQUIRE(fixture_open(&f) == 0);
    struct dispatch_input in;
    struct rf_response r;

    admin_request(&in, "GET", "/redfish/v1/SessionService");
    run(&f, &in, &r);
    REQUIRE(r.status == 200 && header(&r, "ETag") != NULL);
    char etag[64], weak[80], list[160], other[80];
    snprintf(etag, sizeof(etag), "%s", header(&r, "ETag"));
    rf_response_fini(&r);
    snprintf(weak, sizeof(weak), "W/%s", etag);
    snprintf(list, sizeof(list), "\"0000000000000000\", W/%s", etag);
    snprintf(other, sizeof(other), "W/\"0000000000000000\"");

    static const struct {
        const char *what;
        int status;
    } want[] = {{"strong", 304}, {"weak", 304}, {"list", 304}, {"other", 200}, {"*", 304}};
    const char *values[] = {etag, weak, list, other, "*"};
    for (size_t i = 0; i < ARRAY_LEN(want); i++) {
        admin_request(&in, "GET", "/redfish/v1/SessionService");
        in.if_none_match = values[i];
        run(&f, &in, &r);
        if (r.status != want[i].status)
            test_fail(__FILE__, __LINE__, "If-None-Match: %s (%s) -> %d, want %d", values[i],
                      want[i].what, r.status, want[i].status);
        if (r.status == 304 && r.body != NULL)
            test_fail(__FILE__, __LINE__, "304 with a body");
        rf_response_fini(&r);
    }

    /* If-Match compares strongly: a weak validator never matches. */
    admin_request(&in, "PATCH", "/redfish/v1/SessionService");
    set_body(&in, "{\"SessionTimeout\": 600}");
    in.if_match = weak;
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 412);
    rf_response_fini(&r);
    CHECK_EQ_INT(f.app->auth.policy.session_timeout, 1800);
    fixture_close(&f);
}

TEST(dispatch_privileges)
{
    struct fixture f;
    REQUIRE(fixture_open(&f) == 0);
    REQUIRE(add_account(&f, RO_USER, RO_PASSWORD, ROLE_READONLY, NULL) == 0);
    struct dispatch_input in;
    struct rf_response r;
    char auth[128];
    basic(RO_USER, RO_PASSWORD, auth, sizeof(auth));

    request(&in, "GET", "/redfish/v1/SessionService");
    in.authorization = auth;
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 200);
    rf_response_fini(&r);

    request(&in, "PATCH", "/redfish/v1/SessionService");
    in.authorization = auth;
    set_body(&in, "{\"SessionTimeout\": 600}");
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 403);
    CHECK_STREQ(error_code(&r), "Base.1.22.InsufficientPrivilege");
    rf_response_fini(&r);
    CHECK_EQ_INT(f.app->auth.policy.session_timeout, 1800);
    fixture_close(&f);
}

TEST(dispatch_session_login_and_logout)
{
    struct fixture f;
    REQUIRE(fixture_open(&f) == 0);
    struct dispatch_input in;
    struct rf_response r;

    /* Login needs no credentials, and works without TLS. */
    request(&in, "POST", "/redfish/v1/SessionService/Sessions");
    in.tls = false;
    set_body(&in, "{\"UserName\": \"" ADMIN_USER "\", \"Password\": \"" ADMIN_PASSWORD "\"}");
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 201);
    char token[64] = "", location[160] = "";
    snprintf(token, sizeof(token), "%s",
             header(&r, "X-Auth-Token") ? header(&r, "X-Auth-Token") : "");
    snprintf(location, sizeof(location), "%s",
             header(&r, "Location") ? header(&r, "Location") : "");
    CHECK_EQ_INT(strlen(token), SECRET_TOKEN_LEN);
    CHECK_STREQ(location, body_str(&r, "@odata.id"));
    CHECK(json_is_null(json_object_get(r.body, "Password")));
    rf_response_fini(&r);
    CHECK_EQ_INT(f.app->auth.session_count, 1);

    /* The token authenticates, with or without TLS. */
    request(&in, "GET", "/redfish/v1/SessionService/Sessions");
    in.tls = false;
    in.x_auth_token = token;
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(json_array_size(json_object_get(r.body, "Members")), 1);
    CHECK_STREQ(member(&r, 0), location);
    rf_response_fini(&r);

    /* Wrong password: 401, no session. */
    request(&in, "POST", "/redfish/v1/SessionService/Sessions");
    set_body(&in, "{\"UserName\": \"" ADMIN_USER "\", \"Password\": \"wrong\"}");
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 401);
    CHECK(header(&r, "X-Auth-Token") == NULL);
    rf_response_fini(&r);
    CHECK_EQ_INT(f.app->auth.session_count, 1);

    /* Logout, after which the token is dead. */
    request(&in, "DELETE", location);
    in.x_auth_token = token;
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 204);
    CHECK(r.body == NULL);
    rf_response_fini(&r);
    CHECK_EQ_INT(f.app->auth.session_count, 0);

    request(&in, "GET", "/redfish/v1/SessionService/Sessions");
    in.x_auth_token = token;
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 401);
    rf_response_fini(&r);
    fixture_close(&f);
}

TEST(dispatch_serialize)
{
    struct fixture f;
    REQUIRE(fixture_open(&f) == 0);
    struct dispatch_input in;
    struct rf_response r;
    request(&in, "GET", "/redfish/v1");
    run(&f, &in, &r);
    char *buf = NULL;
    size_t len = 0;
    CHECK_EQ_INT(dispatch_serialize(&r, &buf, &len), 0);
    CHECK(buf != NULL && len == strlen(buf));
    json_t *back = buf ? json_loadb(buf, len, 0, NULL) : NULL;
    CHECK(back != NULL && json_equal(back, r.body));
    json_decref(back);
    free(buf);
    rf_response_fini(&r);

    /* A raw (XML) response is copied as it is. */
    request(&in, "GET", "/redfish/v1/$metadata");
    run(&f, &in, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK(r.raw != NULL && r.body == NULL);
    CHECK_EQ_INT(dispatch_serialize(&r, &buf, &len), 0);
    CHECK(buf != NULL && len == r.raw_len && memcmp(buf, r.raw, len) == 0);
    free(buf);
    rf_response_fini(&r);
    fixture_close(&f);
}
