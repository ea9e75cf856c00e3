/*
 * port_rights — what one user may do on one console port.
 *
 * The role gives the defaults (docs/console-protocol.md, "Rights"):
 *   ReadOnly      watch
 *   Operator      watch, control (type), observe-only
 *   Administrator all of the above, private, force, manage ACLs
 * Per-port access rules (grant or deny a right to a user or a role on a port) adjust
 * them; they are stored in SQLite (db_acl.c) and kept in memory (port_acl.c), so every
 * caller — the WebSocket, PATCH on the SerialInterface, broadcast input — applies the same
 * answer without a query.
 *
 * How rules combine (docs/console-protocol.md, "Access rules"):
 *  1. Start from the role's defaults.
 *  2. Apply the port's rules for the user's role, then the port's rules for the user
 *     (so a user rule beats a role rule). At each level the granted rights are added,
 *     then the denied ones removed (deny beats grant at the same level).
 *  3. Rights depend on each other: Control needs Watch; Observe, Private and Force need
 *     Control. Granting a right grants what it needs; denying a right denies what needs
 *     it (denying Watch leaves nothing). So the result is always consistent.
 *  Manage is the Administrator's and no rule changes it (an Administrator who denied
 *  themselves Watch can still remove that rule).
 */
#ifndef VSC_PORT_RIGHTS_H
#define VSC_PORT_RIGHTS_H

#include "rf.h"

#include <stddef.h>
#include <stdint.h>

struct vsc_app;
struct db_acl_rule;

enum port_right {
    PORT_RIGHT_WATCH = 1 << 0,   /* receive console output */
    PORT_RIGHT_CONTROL = 1 << 1, /* send input (free use, or as the mode's holder) */
    PORT_RIGHT_OBSERVE = 1 << 2, /* invoke observe-only */
    PORT_RIGHT_PRIVATE = 1 << 3, /* invoke private */
    PORT_RIGHT_FORCE = 1 << 4,   /* take or release a mode another user holds */
    PORT_RIGHT_MANAGE = 1 << 5,  /* manage the port's access rules */
};

/* The rights an access rule may grant or deny. */
#define PORT_RIGHTS_RULED                                                                          \
    (PORT_RIGHT_WATCH | PORT_RIGHT_CONTROL | PORT_RIGHT_OBSERVE | PORT_RIGHT_PRIVATE |             \
     PORT_RIGHT_FORCE)

/* The rights a role has on every port before any per-port rule applies. */
uint32_t port_rights_of_role(enum role role);

/* The rights `user` (with `role`) has on port `port_id`: no SQL, a scan of that port's
 * rules in memory. */
uint32_t port_rights(struct vsc_app *app, int64_t port_id, const char *user, enum role role);

/* ---- the combination, for port_rights() and the unit tests ---- */

/* `rights` and everything they need (Control -> Watch; Observe/Private/Force -> Control). */
uint32_t port_rights_with_needs(uint32_t rights);
/* `rights` and everything that needs them (Watch -> all ruled rights). */
uint32_t port_rights_with_dependents(uint32_t rights);

/* Rights a level of rules grants and denies (each a PORT_RIGHT_* mask). */
struct port_rights_level {
    uint32_t grant, deny;
};

/* Steps 1-3 above: defaults, then the role level, then the user level. */
uint32_t port_rights_combine(uint32_t defaults, struct port_rights_level role_rules,
                             struct port_rights_level user_rules);

/* port_rights() over an explicit list of one port's rules. */
uint32_t port_rights_from_rules(const struct db_acl_rule *rules, size_t count, const char *user,
                                enum role role);

/* "Watch", "Control", "Observe", "Private", "Force", "Manage" for one bit; NULL otherwise. */
const char *port_right_name(uint32_t right);
/* The bit for a name above (exact case), 0 when unknown. */
uint32_t port_right_parse(const char *name);

#endif
