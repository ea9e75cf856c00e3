/* Every route table, in matching order. Adding a resource file means adding it here. */
#include "resources.h"

/* clang-format off */
const struct route_table *const router_tables[] = {
    &root_routes,
    &systems_routes,
    &state_rule_routes, /* before the Manager's .../Oem/Vsc/{name}ActionInfo */
    &audit_routes,
    &managers_routes,
    &session_routes,
    &account_routes,
    &role_routes,
    &event_routes,
    &registry_routes,
    &schema_routes,
    &serial_interface_routes,
    &port_action_routes,
    &ipmi_routes,
    &console_ticket_routes,
    &access_rule_routes,
    &console_routes,
    &log_service_routes,
    &transcript_routes,
    &web_routes,
};
/* clang-format on */
const size_t router_table_count = sizeof(router_tables) / sizeof(router_tables[0]);
