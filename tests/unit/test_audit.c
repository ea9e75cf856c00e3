/* audit: entries stored with their fields, the cap, clearing, and input escaping. */
#include "test.h"

#include "app.h"
#include "audit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct vsc_app *open_app(char *dir, size_t dirsz, int64_t cap)
{
    if (test_tmpdir(dir, dirsz) < 0)
        return NULL;
    struct vsc_app *app = calloc(1, sizeof(*app));
    char path[512];
    snprintf(path, sizeof(path), "%s/vsc.db", dir);
    config_defaults(&app->cfg);
    app->cfg.audit_entries = cap;
    if (db_open(&app->db, path, db_migrations, db_migration_count) < 0) {
        free(app);
        return NULL;
    }
    return app;
}

static void close_app(struct vsc_app *app, const char *dir)
{
    db_close(&app->db);
    free(app);
    test_rmtree(dir);
}

TEST(audit_entries_keep_their_fields)
{
    char dir[256];
    struct vsc_app *app = open_app(dir, sizeof(dir), 1000);
    REQUIRE(app != NULL);
    audit(app, AUDIT_LOGIN_FAILED, "mallory", "192.0.2.7", "/redfish/v1/Systems", "try %d", 3);
    audit(app, AUDIT_FREE, NULL, NULL, NULL, "no one");
    int64_t ids[4];
    REQUIRE(audit_ids(&app->db, 0, ids, 4) == 2);
    struct audit_entry e;
    REQUIRE(audit_get(&app->db, ids[0], &e) == 0);
    CHECK_EQ_INT(e.action, AUDIT_LOGIN_FAILED);
    CHECK_STREQ(e.user, "mallory");
    CHECK_STREQ(e.client, "192.0.2.7");
    CHECK_STREQ(e.target, "/redfish/v1/Systems");
    CHECK_STREQ(e.detail, "try 3");
    CHECK_STREQ(audit_action_severity(e.action), "Warning");
    CHECK(e.created_us > 1700000000LL * 1000000);
    REQUIRE(audit_get(&app->db, ids[1], &e) == 0);
    CHECK_STREQ(e.user, "");
    CHECK_STREQ(audit_action_name(e.action), "PortsFreed");
    CHECK_STREQ(audit_action_severity(e.action), "OK");
    CHECK_EQ_INT(audit_get(&app->db, ids[1] + 1, &e), -ENOENT);
    close_app(app, dir);
}

TEST(audit_keeps_the_newest_entries_and_clears)
{
    char dir[256];
    struct vsc_app *app = open_app(dir, sizeof(dir), 100);
    REQUIRE(app != NULL);
    for (int i = 0; i < 130; i++)
        audit(app, AUDIT_LOGIN, "u", "c", "t", "n%d", i);
    int64_t n = 0, ids[200];
    REQUIRE(audit_count(&app->db, &n) == 0);
    CHECK_EQ_INT(n, 100);
    REQUIRE(audit_ids(&app->db, 0, ids, 200) == 100);
    struct audit_entry e;
    REQUIRE(audit_get(&app->db, ids[0], &e) == 0);
    CHECK_STREQ(e.detail, "n30");
    int64_t page[10];
    REQUIRE(audit_ids(&app->db, 95, page, 10) == 5); /* a page: the 96th to the 100th */
    CHECK(page[0] == ids[95] && page[4] == ids[99]);
    CHECK_EQ_INT(audit_ids(&app->db, 100, page, 10), 0);
    CHECK_EQ_INT(audit_clear(&app->db), 0);
    CHECK_EQ_INT(audit_ids(&app->db, 0, ids, 200), 0);
    close_app(app, dir);
}

TEST(audit_escapes_console_input)
{
    char out[64];
    audit_escape("ls -l\r\n\x03\\\xff", 10, out, sizeof(out));
    CHECK_STREQ(out, "ls -l\\r\\n\\x03\\\\\\xff");
    char small[12];
    audit_escape("abcdefghijklmnop", 16, small, sizeof(small));
    CHECK_STREQ(small, "abcdefgh...");
    audit_escape("", 0, small, sizeof(small));
    CHECK_STREQ(small, "");
}
