/*
 * db_acl — the port_access_rules table (migration 0004). Plain data; port_acl.c keeps the
 * in-memory copy and port_rights.c decides what the rules mean.
 * Functions return 0, -ENOENT (no such rule or account), -EEXIST (the subject already has
 * a rule for that right on that port) or -EIO.
 */
#ifndef VSC_DB_ACL_H
#define VSC_DB_ACL_H

#include "db.h"
#include "rf.h"

/* One access rule as stored. Exactly one of account_id (> 0) and role (!= ROLE_NONE). */
struct db_acl_rule {
    int64_t id;
    int64_t port_id;
    int64_t account_id; /* a user rule: the account; 0 for a role rule */
    enum role role;     /* a role rule: the role; ROLE_NONE for a user rule */
    char user[65];      /* a user rule: the account's current user name */
    uint32_t right;     /* one PORT_RIGHT_* (port_rights.h) */
    bool deny;
    int64_t created_at;
};

/* Inserts the rule (sets rule->id). -ENOENT: the account or port does not exist. */
int db_acl_insert(struct db *db, struct db_acl_rule *rule);
/* Changes a rule's effect. */
int db_acl_set_effect(struct db *db, int64_t id, bool deny);
int db_acl_delete(struct db *db, int64_t id);

/* Calls cb for every rule, ordered by port and id; stops on a non-zero return (returned). */
int db_acl_each(struct db *db, int (*cb)(void *ctx, const struct db_acl_rule *rule), void *ctx);

#endif
