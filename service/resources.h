/*
 * resources — the route table each resource file exports, and small helpers they share.
 * routes.c puts the tables together; one file per Redfish resource (or per resource and
 * its collection).
 */
#ifndef VSC_RESOURCES_H
#define VSC_RESOURCES_H

#include "ports.h"
#include "router.h"

extern const struct route_table root_routes;
extern const struct route_table systems_routes;
extern const struct route_table managers_routes;
extern const struct route_table session_routes;
extern const struct route_table account_routes;
extern const struct route_table role_routes;
extern const struct route_table event_routes;
extern const struct route_table registry_routes;
extern const struct route_table schema_routes;
extern const struct route_table serial_interface_routes;
extern const struct route_table port_action_routes;
extern const struct route_table ipmi_routes;
extern const struct route_table console_ticket_routes;
extern const struct route_table access_rule_routes;
extern const struct route_table console_routes;
extern const struct route_table log_service_routes;
extern const struct route_table transcript_routes;
extern const struct route_table state_rule_routes;
extern const struct route_table audit_routes;
extern const struct route_table web_routes;

/* IpmiRequest's ActionInfo Parameters (new reference). */
json_t *rf_ipmi_action_params(void);
/* SendInput's ActionInfo Parameters (new reference). */
json_t *rf_send_input_action_params(void);

struct vm;
struct port;
/* /redfish/v1/Systems/<uuid> and /redfish/v1/Managers/bmc/SerialInterfaces/<id>. */
void rf_system_uri(const struct vm *vm, char *out, size_t outsz);
void rf_port_uri(const struct port *p, char *out, size_t outsz);

/* Request checks shared by the port actions. */
bool rf_valid_uuid(const char *s);
bool rf_valid_vm_name(const char *s);
/* Decimal without sign, spaces or leading zeros: one resource, one Id spelling. */
bool rf_canonical_id(const char *s);
void rf_lower_uuid(const char *in, char out[37]);

struct ports;
/* The AllocatePortsResponse body for a VM's ports (new reference). */
json_t *rf_allocation_json(struct ports *ps, struct vm *vm, bool created);

/* The port's access rule collection (.../SerialInterfaces/<id>/Oem/Vsc/AccessRules). */
void rf_access_rules_uri(const struct port *p, char *out, size_t outsz);

/* SerialInterface.Oem.Vsc of a port (new reference). */
json_t *rf_port_oem(const struct port *p);

/* The port named by {port} (params[1]) of our Manager, canonical decimal Ids only; else
 * NULL with 404 recorded in r. */
struct port *rf_target_port(struct rf_request *req, struct rf_response *r);

/* True when {id} (params[0]) names our Manager; else 404 recorded in r. */
bool rf_is_our_manager(struct rf_request *req, struct rf_response *r);

/* ---- a VM's console LogService (res_log_services.c, res_console_transcript.c) ---- */

struct vsc_app;
struct db_console_entry;

/* The VM a LogServices URI names ({id} = params[0]): active, or freed with history kept. */
struct rf_log_target {
    struct vm vm;
    struct vm *live; /* NULL when freed */
    int64_t freed_at;
};
/* 0, or -1 with 404 (or 500) recorded in r. */
int rf_log_target(struct rf_request *req, struct rf_response *r, struct rf_log_target *t);
/* /redfish/v1/Systems/<uuid>/LogServices/Console */
void rf_console_log_uri(const char *vm_uuid, char *out, size_t outsz);
/* Whether anything of a VM's console is kept: state entries or output history. */
bool rf_console_history_kept(struct vsc_app *app, const char *vm_uuid);
/* Whether the caller may watch port `port_idx` of `live` (NULL: freed): an access rule
 * may deny it (port_rights.h), and then the port's console lines are not theirs in a
 * LogEntry or a ComputerSystem either. A port that is gone has no rules: true. */
bool rf_may_watch_port(struct rf_request *req, const struct vm *live, int port_idx);
/* What stands for such a port's line. */
#define RF_LINE_NOT_WATCHABLE "[vsc: not shown: no Watch right on this port]"
/* A LogEntry of the console LogService (new reference). */
json_t *rf_console_entry_json(struct vsc_app *app, const struct vm *vm,
                              const struct db_console_entry *e);
/* Whether the output history holds anything of the VM; its extent into a LogService's Oem. */
bool console_history_kept(struct vsc_app *app, const char *vm_uuid);
void console_history_describe(struct vsc_app *app, const char *vm_uuid, json_t *oem);

#define MANAGER_ID  "bmc"
#define MANAGER_URI "/redfish/v1/Managers/" MANAGER_ID

/* Replies 200 with a copy of a compiled-in file. */
void rf_reply_embedded(struct rf_response *r, const char *data, size_t len,
                       const char *content_type);

/*
 * For a failed pw_verify()/pw_hash()/auth call: -EINPROGRESS records nothing (the request
 * runs again when the worker is done), -EAGAIN answers 503, anything else 500.
 */
void rf_worker_error(struct rf_response *r, int rc);

/* A login from a source past login_failures_per_minute: 429 with Retry-After, audited
 * (`user` is the name tried). */
void rf_login_limited(const struct rf_request *req, struct rf_response *r, const char *user,
                      uint32_t retry_s);

/* Replies 404 ResourceNotFound for `type` named `id`. */
void rf_not_found(struct rf_response *r, const char *type, const char *id);

#endif
