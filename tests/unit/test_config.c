/* config: compiled-in defaults and `name = value` settings. */
#include "test.h"

#include "config.h"

#include <stdlib.h>
#include <string.h>

static struct vsc_config *fresh(void)
{
    struct vsc_config *c = malloc(sizeof(*c));
    if (c)
        config_defaults(c);
    return c;
}

TEST(config_defaults_values)
{
    struct vsc_config *c = malloc(sizeof(*c));
    REQUIRE(c != NULL);
    memset(c, 0x7f, sizeof(*c)); /* defaults overwrite whatever was there */
    config_defaults(c);
    CHECK_STREQ(c->listen, "127.0.0.1:8443");
    CHECK_STREQ(c->state_dir, "var");
    CHECK_STREQ(c->tls_cert, "");
    CHECK_STREQ(c->tls_key, "");
    CHECK(c->insecure_http == false);
    CHECK_STREQ(c->log_level, "info");
    CHECK_EQ_INT(c->max_sessions, 64);
    CHECK_EQ_INT(c->max_connections, 256);
    CHECK_EQ_INT(c->max_connections_per_ip, 64);
    CHECK_EQ_INT(c->max_body_bytes, 65536);
    CHECK_EQ_INT(c->connection_timeout, 60);
    CHECK_EQ_INT(c->session_timeout_default, 1800);
    free(c);
}

TEST(config_set_string)
{
    struct vsc_config *c = fresh();
    REQUIRE(c != NULL);
    char err[256] = "";
    CHECK_EQ_INT(config_set(c, "listen", "[::1]:9443", err, sizeof(err)), 0);
    CHECK_STREQ(c->listen, "[::1]:9443");
    CHECK_EQ_INT(config_set(c, "state_dir", "/var/lib/vsc", err, sizeof(err)), 0);
    CHECK_STREQ(c->state_dir, "/var/lib/vsc");
    CHECK_EQ_INT(config_set(c, "tls_cert", "", err, sizeof(err)), 0);
    CHECK_STREQ(c->tls_cert, "");

    /* The longest value that fits, then one too long: refused, old value kept. */
    char v[sizeof(c->listen) + 1];
    memset(v, 'a', sizeof(c->listen) - 1);
    v[sizeof(c->listen) - 1] = '\0';
    CHECK_EQ_INT(config_set(c, "listen", v, err, sizeof(err)), 0);
    CHECK_EQ_INT(strlen(c->listen), sizeof(c->listen) - 1);
    CHECK_EQ_INT(config_set(c, "listen", "keep:1", err, sizeof(err)), 0);
    memset(v, 'a', sizeof(c->listen));
    v[sizeof(c->listen)] = '\0';
    err[0] = '\0';
    CHECK_EQ_INT(config_set(c, "listen", v, err, sizeof(err)), -1);
    CHECK_STREQ(c->listen, "keep:1");
    CHECK(strstr(err, "listen") != NULL);
    free(c);
}

TEST(config_set_int_range)
{
    struct vsc_config *c = fresh();
    REQUIRE(c != NULL);
    char err[256];
    CHECK_EQ_INT(config_set(c, "max_sessions", "1", err, sizeof(err)), 0);
    CHECK_EQ_INT(c->max_sessions, 1);
    CHECK_EQ_INT(config_set(c, "max_sessions", "10000", err, sizeof(err)), 0);
    CHECK_EQ_INT(c->max_sessions, 10000);
    CHECK_EQ_INT(config_set(c, "max_sessions", "100", err, sizeof(err)), 0);
    CHECK_EQ_INT(c->max_sessions, 100);

    err[0] = '\0';
    CHECK_EQ_INT(config_set(c, "max_sessions", "0", err, sizeof(err)), -1);
    CHECK(strstr(err, "max_sessions") != NULL);
    CHECK_EQ_INT(config_set(c, "max_sessions", "10001", err, sizeof(err)), -1);
    CHECK_EQ_INT(config_set(c, "max_sessions", "-5", err, sizeof(err)), -1);
    CHECK_EQ_INT(c->max_sessions, 100); /* unchanged by the refusals */

    CHECK_EQ_INT(config_set(c, "max_body_bytes", "1023", err, sizeof(err)), -1);
    CHECK_EQ_INT(config_set(c, "max_body_bytes", "16777216", err, sizeof(err)), 0);
    CHECK_EQ_INT(c->max_body_bytes, 16777216);
    CHECK_EQ_INT(config_set(c, "max_body_bytes", "16777217", err, sizeof(err)), -1);
    CHECK_EQ_INT(config_set(c, "session_timeout_default", "29", err, sizeof(err)), -1);
    CHECK_EQ_INT(config_set(c, "session_timeout_default", "86400", err, sizeof(err)), 0);
    CHECK_EQ_INT(c->session_timeout_default, 86400);
    free(c);
}

TEST(config_set_int_garbage)
{
    struct vsc_config *c = fresh();
    REQUIRE(c != NULL);
    char err[256];
    static const char *const bad[] = {
        "", "abc", "12abc", "12 ", "1.5", "0x10", "1e3", "99999999999999999999", "--1", "64k",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        err[0] = '\0';
        if (config_set(c, "max_connections", bad[i], err, sizeof(err)) != -1)
            test_fail(__FILE__, __LINE__, "max_connections = '%s' accepted", bad[i]);
        else if (!strstr(err, "max_connections"))
            test_fail(__FILE__, __LINE__, "no useful error for '%s': %s", bad[i], err);
    }
    CHECK_EQ_INT(c->max_connections, 256);
    free(c);
}

TEST(config_set_bool)
{
    struct vsc_config *c = fresh();
    REQUIRE(c != NULL);
    char err[256];
    static const char *const yes[] = {"true", "1", "yes"};
    static const char *const no[] = {"false", "0", "no"};
    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
        c->insecure_http = false;
        CHECK_EQ_INT(config_set(c, "insecure_http", yes[i], err, sizeof(err)), 0);
        CHECK(c->insecure_http == true);
    }
    for (size_t i = 0; i < ARRAY_LEN(no); i++) {
        c->insecure_http = true;
        CHECK_EQ_INT(config_set(c, "insecure_http", no[i], err, sizeof(err)), 0);
        CHECK(c->insecure_http == false);
    }
    static const char *const bad[] = {"", "maybe", "2", "truex", "on"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        c->insecure_http = true;
        err[0] = '\0';
        if (config_set(c, "insecure_http", bad[i], err, sizeof(err)) != -1)
            test_fail(__FILE__, __LINE__, "insecure_http = '%s' accepted", bad[i]);
        CHECK(c->insecure_http == true);
        CHECK(strstr(err, "insecure_http") != NULL);
    }
    free(c);
}

TEST(config_set_unknown_name)
{
    struct vsc_config *c = fresh();
    REQUIRE(c != NULL);
    struct vsc_config *before = fresh();
    REQUIRE(before != NULL);
    char err[256];
    static const char *const names[] = {"nope",          "", "Listen", "listen ", "max_session",
                                        "max_sessions_x"};
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        err[0] = '\0';
        if (config_set(c, names[i], "1", err, sizeof(err)) != -1)
            test_fail(__FILE__, __LINE__, "setting '%s' accepted", names[i]);
        if (!strstr(err, "unknown"))
            test_fail(__FILE__, __LINE__, "'%s': error '%s'", names[i], err);
    }
    CHECK(memcmp(c, before, sizeof(*c)) == 0); /* nothing changed */

    /* The error message fits the buffer it was given. */
    char tiny[8];
    memset(tiny, 'x', sizeof(tiny));
    CHECK_EQ_INT(config_set(c, "a-rather-long-unknown-name", "1", tiny, sizeof(tiny)), -1);
    CHECK(memchr(tiny, '\0', sizeof(tiny)) != NULL);
    free(before);
    free(c);
}
