/* port_rights, db_acl and port_acl: how access rules combine with the role defaults, and
 * the rules' storage (uniqueness, removal with the account or the freed port) and cache. */
#include "test.h"

#include "db.h"
#include "db_accounts.h"
#include "db_acl.h"
#include "db_ports.h"
#include "port_acl.h"
#include "port_rights.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum {
    W = PORT_RIGHT_WATCH,
    C = PORT_RIGHT_CONTROL,
    O = PORT_RIGHT_OBSERVE,
    P = PORT_RIGHT_PRIVATE,
    F = PORT_RIGHT_FORCE,
    M = PORT_RIGHT_MANAGE,
};

TEST(port_rights_role_defaults)
{
    CHECK_EQ_INT(port_rights_of_role(ROLE_READONLY), W);
    CHECK_EQ_INT(port_rights_of_role(ROLE_OPERATOR), W | C | O);
    CHECK_EQ_INT(port_rights_of_role(ROLE_ADMINISTRATOR), W | C | O | P | F | M);
    CHECK_EQ_INT(port_rights_of_role(ROLE_NONE), 0);
    /* No rules: the defaults. */
    CHECK_EQ_INT(port_rights_from_rules(NULL, 0, "bob", ROLE_OPERATOR), W | C | O);
    CHECK_EQ_INT(port_rights_from_rules(NULL, 0, "bob", ROLE_NONE), 0);
}

TEST(port_rights_needs_and_dependents)
{
    CHECK_EQ_INT(port_rights_with_needs(W), W);
    CHECK_EQ_INT(port_rights_with_needs(C), W | C);
    CHECK_EQ_INT(port_rights_with_needs(P), W | C | P);
    CHECK_EQ_INT(port_rights_with_needs(F | O), W | C | O | F);
    CHECK_EQ_INT(port_rights_with_needs(M), 0); /* not a ruled right */
    CHECK_EQ_INT(port_rights_with_dependents(W), W | C | O | P | F);
    CHECK_EQ_INT(port_rights_with_dependents(C), C | O | P | F);
    CHECK_EQ_INT(port_rights_with_dependents(O), O);
    CHECK_EQ_INT(port_rights_with_dependents(M), 0);
}

TEST(port_rights_combine_table)
{
    static const struct {
        uint32_t defaults;
        struct port_rights_level role, user;
        uint32_t want;
    } cases[] = {
        /* Nothing: defaults. */
        {W, {0, 0}, {0, 0}, W},
        /* A role denial of Watch leaves a ReadOnly user nothing; an Operator nothing either. */
        {W, {0, W}, {0, 0}, 0},
        {W | C | O, {0, W}, {0, 0}, 0},
        /* ... unless a user rule grants it back: the user level comes last. */
        {W, {0, W}, {W, 0}, W},
        /* A role grant is undone by a user denial. */
        {W, {C, 0}, {0, C}, W},
        /* Deny beats grant at the same level. */
        {W, {C, C}, {0, 0}, W},
        {W, {0, 0}, {W | C, W}, 0},
        /* Granting Private brings Control and Watch along. */
        {0, {0, 0}, {P, 0}, W | C | P},
        /* Denying Control takes Observe (and Private, Force) with it, keeps Watch. */
        {W | C | O | P | F | M, {0, C}, {0, 0}, W | M},
        /* Manage is never taken by a rule. */
        {W | C | O | P | F | M, {0, W}, {0, W}, M},
        /* A denial of Observe alone keeps Control. */
        {W | C | O, {0, O}, {0, 0}, W | C},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        uint32_t got = port_rights_combine(cases[i].defaults, cases[i].role, cases[i].user);
        if (!CHECK_EQ_INT(got, cases[i].want))
            test_fail(__FILE__, __LINE__, "case %zu", i);
    }
}

static struct db_acl_rule role_rule(enum role role, uint32_t right, bool deny)
{
    return (struct db_acl_rule){.port_id = 1, .role = role, .right = right, .deny = deny};
}

static struct db_acl_rule user_rule(int64_t account, const char *user, uint32_t right, bool deny)
{
    struct db_acl_rule r = {
        .port_id = 1, .account_id = account, .role = ROLE_NONE, .right = right, .deny = deny};
    snprintf(r.user, sizeof(r.user), "%s", user);
    return r;
}

TEST(port_rights_from_rules_matches_subjects)
{
    struct db_acl_rule rules[] = {
        role_rule(ROLE_READONLY, W, true), /* ReadOnly: no Watch */
        user_rule(7, "alice", W, false),   /* alice: Watch again */
        user_rule(8, "bob", C, false),     /* bob: Control (so Watch) */
        role_rule(ROLE_OPERATOR, O, true), /* Operators: no Observe */
        user_rule(9, "carol", P, false),   /* carol: Private */
    };
    size_t n = ARRAY_LEN(rules);
    CHECK_EQ_INT(port_rights_from_rules(rules, n, "dave", ROLE_READONLY), 0);
    CHECK_EQ_INT(port_rights_from_rules(rules, n, "alice", ROLE_READONLY), W);
    /* A ReadOnly user granted Control: input goes through (the modes check Control). */
    CHECK_EQ_INT(port_rights_from_rules(rules, n, "bob", ROLE_READONLY), W | C);
    CHECK_EQ_INT(port_rights_from_rules(rules, n, "dave", ROLE_OPERATOR), W | C);
    CHECK_EQ_INT(port_rights_from_rules(rules, n, "carol", ROLE_OPERATOR), W | C | P);
    /* A user rule names the user exactly; no rule of another role applies. */
    CHECK_EQ_INT(port_rights_from_rules(rules, n, "Alice", ROLE_READONLY), 0);
    CHECK_EQ_INT(port_rights_from_rules(rules, n, "dave", ROLE_ADMINISTRATOR),
                 port_rights_of_role(ROLE_ADMINISTRATOR));
    CHECK_EQ_INT(port_rights_from_rules(rules, n, NULL, ROLE_READONLY), 0);
}

TEST(port_right_names)
{
    static const char *const names[] = {"Watch",   "Control", "Observe",
                                        "Private", "Force",   "Manage"};
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        CHECK_STREQ(port_right_name(1u << i), names[i]);
        CHECK_EQ_INT(port_right_parse(names[i]), 1u << i);
    }
    CHECK(port_right_name(0) == NULL);
    CHECK(port_right_name(W | C) == NULL);
    CHECK_EQ_INT(port_right_parse("watch"), 0);
    CHECK_EQ_INT(port_right_parse(""), 0);
    CHECK_EQ_INT(port_right_parse(NULL), 0);
}

/* ---- storage and cache ------------------------------------------------------------------ */

struct fixture {
    char dir[256];
    struct db db;
    int64_t alice, bob;
    int64_t port1, port2;
};

static int64_t make_account(struct db *db, const char *user, enum role role)
{
    struct account a = {.role = role, .enabled = true, .created_at = 1700000000};
    snprintf(a.user, sizeof(a.user), "%s", user);
    snprintf(a.hash, sizeof(a.hash), "$y$not-a-hash");
    return db_account_create(db, &a) == 0 ? a.id : -1;
}

static int64_t make_port(struct db *db, const char *uuid, int idx)
{
    struct vm vm = {.created_at = 1700000000};
    snprintf(vm.uuid, sizeof(vm.uuid), "%s", uuid);
    snprintf(vm.name, sizeof(vm.name), "vm-%.8s", uuid);
    struct port p = {.idx = idx,
                     .kind = BACKEND_PTY,
                     .enabled = true,
                     .line = {.bit_rate = 115200, .data_bits = 8, .stop_bits = 1}};
    snprintf(p.bind_path, sizeof(p.bind_path), "/tmp/x/%d", idx);
    snprintf(p.line.parity, sizeof(p.line.parity), "None");
    snprintf(p.line.flow_control, sizeof(p.line.flow_control), "None");
    if (db_vm_activate(db, &vm) < 0 || db_port_insert(db, &p, uuid) < 0)
        return -1;
    return p.id;
}

static int fixture_open(struct fixture *f)
{
    char path[320];
    if (test_tmpdir(f->dir, sizeof(f->dir)) < 0)
        return -1;
    snprintf(path, sizeof(path), "%s/vsc.db", f->dir);
    if (db_open(&f->db, path, db_migrations, db_migration_count) < 0)
        return -1;
    f->alice = make_account(&f->db, "alice", ROLE_READONLY);
    f->bob = make_account(&f->db, "bob", ROLE_OPERATOR);
    f->port1 = make_port(&f->db, "11111111-1111-1111-1111-111111111111", 1);
    f->port2 = make_port(&f->db, "22222222-2222-2222-2222-222222222222", 1);
    return f->alice > 0 && f->bob > 0 && f->port1 > 0 && f->port2 > 0 ? 0 : -1;
}

static void fixture_close(struct fixture *f)
{
    db_close(&f->db);
    test_rmtree(f->dir);
}

static int insert(struct fixture *f, int64_t port, int64_t account, enum role role, uint32_t right,
                  bool deny)
{
    struct db_acl_rule r = {.port_id = port,
                            .account_id = account,
                            .role = role,
                            .right = right,
                            .deny = deny,
                            .created_at = 1700000000};
    return db_acl_insert(&f->db, &r);
}

TEST(db_acl_store_and_cache)
{
    struct fixture f;
    REQUIRE(fixture_open(&f) == 0);
    struct port_acl acl = {0};
    REQUIRE(port_acl_load(&acl, &f.db) == 0);
    size_t n = 99;
    CHECK(port_acl_of_port(&acl, f.port1, &n) == NULL);
    CHECK_EQ_INT(n, 0);

    CHECK_EQ_INT(insert(&f, f.port1, 0, ROLE_READONLY, W, true), 0);
    CHECK_EQ_INT(insert(&f, f.port1, f.alice, ROLE_NONE, W, false), 0);
    CHECK_EQ_INT(insert(&f, f.port2, f.bob, ROLE_NONE, C, true), 0);
    CHECK_EQ_INT(insert(&f, f.port1, f.bob, ROLE_NONE, P, false), 0);
    /* One rule per subject and right, whatever the effect. */
    CHECK_EQ_INT(insert(&f, f.port1, 0, ROLE_READONLY, W, false), -EEXIST);
    CHECK_EQ_INT(insert(&f, f.port1, f.alice, ROLE_NONE, W, true), -EEXIST);
    /* Unknown account or port: the foreign keys refuse. */
    CHECK_EQ_INT(insert(&f, f.port1, 999, ROLE_NONE, W, true), -ENOENT);
    CHECK_EQ_INT(insert(&f, 999, 0, ROLE_READONLY, W, true), -ENOENT);

    REQUIRE(port_acl_load(&acl, &f.db) == 0);
    const struct db_acl_rule *rules = port_acl_of_port(&acl, f.port1, &n);
    REQUIRE(n == 3);
    CHECK_STREQ(rules[1].user, "alice");
    CHECK_EQ_INT(rules[0].role, ROLE_READONLY);
    CHECK(rules[0].deny && !rules[1].deny);
    CHECK_EQ_INT(port_rights_from_rules(rules, n, "alice", ROLE_READONLY), W);
    CHECK_EQ_INT(port_rights_from_rules(rules, n, "carol", ROLE_READONLY), 0);
    CHECK_EQ_INT(port_rights_from_rules(rules, n, "bob", ROLE_OPERATOR), W | C | O | P);
    rules = port_acl_of_port(&acl, f.port2, &n);
    REQUIRE(n == 1);
    CHECK_EQ_INT(port_rights_from_rules(rules, n, "bob", ROLE_OPERATOR), W);
    CHECK(port_acl_find(&acl, f.port2, rules[0].id) == &rules[0]);
    CHECK(port_acl_find(&acl, f.port1, rules[0].id) == NULL); /* another port's rule */

    /* Effect changes and deletion. */
    int64_t id = rules[0].id;
    CHECK_EQ_INT(db_acl_set_effect(&f.db, id, false), 0);
    REQUIRE(port_acl_load(&acl, &f.db) == 0);
    CHECK(!port_acl_find(&acl, f.port2, id)->deny);
    CHECK_EQ_INT(db_acl_delete(&f.db, id), 0);
    CHECK_EQ_INT(db_acl_delete(&f.db, id), -ENOENT);
    CHECK_EQ_INT(db_acl_set_effect(&f.db, id, true), -ENOENT);

    /* Deleting an account deletes its rules (ON DELETE CASCADE). */
    CHECK_EQ_INT(db_account_delete(&f.db, f.alice), 0);
    REQUIRE(port_acl_load(&acl, &f.db) == 0);
    port_acl_of_port(&acl, f.port1, &n);
    CHECK_EQ_INT(n, 2);

    /* Freeing a port deletes its rules (trigger); the cache drops them too. */
    CHECK_EQ_INT(db_port_free(&f.db, f.port1, 1700000001), 0);
    port_acl_drop_port(&acl, f.port1);
    port_acl_of_port(&acl, f.port1, &n);
    CHECK_EQ_INT(n, 0);
    REQUIRE(port_acl_load(&acl, &f.db) == 0);
    port_acl_of_port(&acl, f.port1, &n);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(acl.count, 0);
    port_acl_drop_port(&acl, f.port2); /* none: harmless */

    port_acl_fini(&acl);
    fixture_close(&f);
}

TEST(db_acl_schema_refuses_bad_rows)
{
    struct fixture f;
    REQUIRE(fixture_open(&f) == 0);
    char sql[256];
    /* Both subjects, or neither, or an unknown right: the CHECK constraints refuse. */
    snprintf(sql, sizeof(sql),
             "INSERT INTO port_access_rules (port_id, account_id, role_id, port_right, effect, "
             "created_at) VALUES (%lld, %lld, 'ReadOnly', 'Watch', 'Deny', 0)",
             (long long)f.port1, (long long)f.alice);
    CHECK(sqlite3_exec(f.db.sql, sql, NULL, NULL, NULL) != SQLITE_OK);
    snprintf(sql, sizeof(sql),
             "INSERT INTO port_access_rules (port_id, port_right, effect, created_at) "
             "VALUES (%lld, 'Watch', 'Deny', 0)",
             (long long)f.port1);
    CHECK(sqlite3_exec(f.db.sql, sql, NULL, NULL, NULL) != SQLITE_OK);
    snprintf(sql, sizeof(sql),
             "INSERT INTO port_access_rules (port_id, role_id, port_right, effect, created_at) "
             "VALUES (%lld, 'ReadOnly', 'Manage', 'Deny', 0)",
             (long long)f.port1);
    CHECK(sqlite3_exec(f.db.sql, sql, NULL, NULL, NULL) != SQLITE_OK);
    fixture_close(&f);
}
