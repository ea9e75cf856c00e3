#include "port_rights.h"

#include "app.h"
#include "db_acl.h"
#include "port_acl.h"

#include <string.h>

static const char *const right_names[] = {"Watch",   "Control", "Observe",
                                          "Private", "Force",   "Manage"};

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

uint32_t port_rights_with_needs(uint32_t rights)
{
    rights &= PORT_RIGHTS_RULED;
    if (rights & (PORT_RIGHT_OBSERVE | PORT_RIGHT_PRIVATE | PORT_RIGHT_FORCE))
        rights |= PORT_RIGHT_CONTROL;
    if (rights & PORT_RIGHT_CONTROL)
        rights |= PORT_RIGHT_WATCH;
    return rights;
}

uint32_t port_rights_with_dependents(uint32_t rights)
{
    rights &= PORT_RIGHTS_RULED;
    if (rights & PORT_RIGHT_WATCH)
        rights |= PORT_RIGHT_CONTROL;
    if (rights & PORT_RIGHT_CONTROL)
        rights |= PORT_RIGHT_OBSERVE | PORT_RIGHT_PRIVATE | PORT_RIGHT_FORCE;
    return rights;
}

static uint32_t apply_level(uint32_t rights, struct port_rights_level level)
{
    return (rights | port_rights_with_needs(level.grant)) &
           ~port_rights_with_dependents(level.deny);
}

uint32_t port_rights_combine(uint32_t defaults, struct port_rights_level role_rules,
                             struct port_rights_level user_rules)
{
    return apply_level(apply_level(defaults, role_rules), user_rules);
}

uint32_t port_rights_from_rules(const struct db_acl_rule *rules, size_t count, const char *user,
                                enum role role)
{
    if (role <= ROLE_NONE || role >= ROLE_COUNT)
        return 0;
    struct port_rights_level by_role = {0}, by_user = {0};
    for (size_t i = 0; i < count; i++) {
        const struct db_acl_rule *rule = &rules[i];
        struct port_rights_level *level = NULL;
        if (rule->account_id > 0 && user && strcmp(rule->user, user) == 0)
            level = &by_user;
        else if (rule->account_id <= 0 && rule->role == role)
            level = &by_role;
        if (level)
            *(rule->deny ? &level->deny : &level->grant) |= rule->right;
    }
    return port_rights_combine(port_rights_of_role(role), by_role, by_user);
}

uint32_t port_rights(struct vsc_app *app, int64_t port_id, const char *user, enum role role)
{
    size_t n;
    const struct db_acl_rule *rules = port_acl_of_port(&app->acl, port_id, &n);
    return port_rights_from_rules(rules, n, user, role);
}

const char *port_right_name(uint32_t right)
{
    for (size_t i = 0; i < sizeof(right_names) / sizeof(right_names[0]); i++) {
        if (right == 1u << i)
            return right_names[i];
    }
    return NULL;
}

uint32_t port_right_parse(const char *name)
{
    for (size_t i = 0; name && i < sizeof(right_names) / sizeof(right_names[0]); i++) {
        if (strcmp(name, right_names[i]) == 0)
            return 1u << i;
    }
    return 0;
}
