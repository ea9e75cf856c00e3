#include "port_rights.h"

uint32_t port_rights_of_role(enum role role)
{
    const uint32_t watch = PORT_RIGHT_WATCH;
    const uint32_t operate = watch | PORT_RIGHT_CONTROL | PORT_RIGHT_OBSERVE;
    switch (role) {
    case ROLE_ADMINISTRATOR:
        return operate | PORT_RIGHT_PRIVATE | PORT_RIGHT_FORCE | PORT_RIGHT_MANAGE;
    case ROLE_OPERATOR:
        return operate;
    case ROLE_READONLY:
        return watch;
    default:
        return 0;
    }
}

uint32_t port_rights(struct vsc_app *app, int64_t port_id, const char *user, enum role role)
{
    (void)app; /* per-port rules: see port_rights.h */
    (void)port_id;
    (void)user;
    return port_rights_of_role(role);
}
