/*
 * port_rights — what one user may do on one console port.
 *
 * The role gives the defaults (docs/console-protocol.md, "Rights"):
 *   ReadOnly      watch
 *   Operator      watch, control (type), observe-only
 *   Administrator all of the above, private, force, manage ACLs
 * Per-port access rules (grant or deny a right to a user or a role on a port) adjust
 * them; they are stored in SQLite and looked up here, so every caller — the WebSocket,
 * PATCH on the SerialInterface, broadcast input — applies the same answer.
 */
#ifndef VSC_PORT_RIGHTS_H
#define VSC_PORT_RIGHTS_H

#include "rf.h"

#include <stdint.h>

struct vsc_app;

enum port_right {
    PORT_RIGHT_WATCH = 1 << 0,   /* receive console output */
    PORT_RIGHT_CONTROL = 1 << 1, /* send input (free use, or as the mode's holder) */
    PORT_RIGHT_OBSERVE = 1 << 2, /* invoke observe-only */
    PORT_RIGHT_PRIVATE = 1 << 3, /* invoke private */
    PORT_RIGHT_FORCE = 1 << 4,   /* take or release a mode another user holds */
    PORT_RIGHT_MANAGE = 1 << 5,  /* manage the port's access rules */
};

/* The rights a role has on every port before any per-port rule applies. */
uint32_t port_rights_of_role(enum role role);

/* The rights `user` (with `role`) has on port `port_id`. */
uint32_t port_rights(struct vsc_app *app, int64_t port_id, const char *user, enum role role);

#endif
