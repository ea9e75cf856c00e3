/*
 * port_acl — the per-port access rules in memory, so that port_rights() (called on attach,
 * on every input and on mode changes) never runs SQL.
 *
 * Contract: the database is the truth. The copy is loaded at start and reloaded whole
 * after every committed change of rules or accounts (a rule shows its account's current
 * name); rule changes are rare administrator actions, and the copy is bounded by
 * PORT_ACL_MAX_PER_PORT rules per active port. A failed reload keeps the previous copy.
 * Rules are sorted by port and id: a port's rules are one contiguous run found by binary
 * search.
 */
#ifndef VSC_PORT_ACL_H
#define VSC_PORT_ACL_H

#include "db_acl.h"

#include <stddef.h>
#include <stdint.h>

#define PORT_ACL_MAX_PER_PORT 64

struct port_acl {
    struct db_acl_rule *rules; /* ascending (port_id, id) */
    size_t count;
};

/* (Re)loads every rule from the database. 0 or -EIO/-ENOMEM (logged; the old copy stays). */
int port_acl_load(struct port_acl *acl, struct db *db);
void port_acl_fini(struct port_acl *acl);

/* The rules of `port_id` (*n of them; NULL when none). Valid until the next load or drop. */
const struct db_acl_rule *port_acl_of_port(const struct port_acl *acl, int64_t port_id, size_t *n);
/* The rule with this id on this port, or NULL. */
const struct db_acl_rule *port_acl_find(const struct port_acl *acl, int64_t port_id,
                                        int64_t rule_id);

/* Forgets a freed port's rules (the database deletes them when the port is freed). */
void port_acl_drop_port(struct port_acl *acl, int64_t port_id);

#endif
