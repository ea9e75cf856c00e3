/*
 * /redfish/v1/Systems/{id}/LogServices/Console: a VM's console LogService. Its entries
 * are the console state changes the detector saw (console_state.h), each with its line,
 * the lines before it and, for a panic, the lines after; AdditionalDataURI downloads the
 * raw console output around it (res_console_transcript.c). The entries and the history
 * outlive the VM: a freed VM's LogService stays readable (its ComputerSystem is gone) while
 * anything is kept, and the Manager's Oem.Vsc.ConsoleHistories lists them.
 */
#include "app.h"
#include "base_registry.h"
#include "db_console.h"
#include "db_ports.h"
#include "events.h"
#include "log.h"
#include "port_rights.h"
#include "ports.h"
#include "resources.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOGS_PATTERN    "/redfish/v1/Systems/{id}/LogServices"
#define CONSOLE_PATTERN LOGS_PATTERN "/Console"

void rf_console_log_uri(const char *vm_uuid, char *out, size_t outsz)
{
    snprintf(out, outsz, "/redfish/v1/Systems/%s/LogServices/Console", vm_uuid);
}

int rf_log_target(struct rf_request *req, struct rf_response *r, struct rf_log_target *t)
{
    struct vm *live = ports_find_vm(&req->app->ports, req->params[0]);
    memset(t, 0, sizeof(*t));
    if (live) {
        t->vm = *live;
        t->live = live;
        return 0;
    }
    int64_t freed_at = 0;
    int rc = rf_valid_uuid(req->params[0])
                 ? db_vm_get(&req->app->db, req->params[0], &t->vm, &freed_at)
                 : -ENOENT;
    if (rc == -EIO) {
        rf_error(r, 500, msg_internal_error());
        return -1;
    }
    if (rc < 0 || !rf_console_history_kept(req->app, t->vm.uuid)) {
        rf_not_found(r, "ComputerSystem", req->params[0]);
        return -1;
    }
    t->freed_at = freed_at;
    return 0;
}

bool rf_console_history_kept(struct vsc_app *app, const char *vm_uuid)
{
    int64_t id;
    return db_console_entry_ids(&app->db, vm_uuid, 0, &id, 1) > 0 ||
           console_history_kept(app, vm_uuid);
}

static void get_log_services(struct rf_request *req, struct rf_response *r)
{
    struct rf_log_target t;
    if (rf_log_target(req, r, &t) < 0)
        return;
    char uri[128], member[160];
    snprintf(uri, sizeof(uri), "/redfish/v1/Systems/%s/LogServices", t.vm.uuid);
    json_t *c = rf_collection(uri, "#LogServiceCollection.LogServiceCollection", "Log Services");
    rf_console_log_uri(t.vm.uuid, member, sizeof(member));
    rf_collection_add(c, member);
    rf_reply(r, 200, c);
}

/* A time in the compact UTC form used inside URIs ('+' would need escaping). */
static void uri_time(int64_t us, char *out, size_t outsz)
{
    time_t tt = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void get_console_log(struct rf_request *req, struct rf_response *r)
{
    struct rf_log_target t;
    if (rf_log_target(req, r, &t) < 0)
        return;
    char uri[160], entries[192], clear[224], transcript[224], now[40];
    rf_console_log_uri(t.vm.uuid, uri, sizeof(uri));
    snprintf(entries, sizeof(entries), "%s/Entries", uri);
    snprintf(clear, sizeof(clear), "%s/Actions/LogService.ClearLog", uri);
    snprintf(transcript, sizeof(transcript), "%s/Oem/Vsc/Transcript", uri);
    app_format_time(time(NULL), now, sizeof(now));
    json_t *oem = json_pack("{s:s, s:s, s:b}", "@odata.type", "#Vsc.v1_0_0.LogService",
                            "Transcript", transcript, "SystemFreed", t.live == NULL);
    console_history_describe(req->app, t.vm.uuid, oem);
    json_t *body = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:s, s:s, s:s, s:s, s:o, s:{s:s, s:s}, "
        "s:{s:{s:s}}, s:{s:o}}",
        "@odata.id", uri, "@odata.type", "#LogService.v1_9_0.LogService", "Id", "Console", "Name",
        "Console log", "Description",
        "State changes seen on the virtual machine's serial consoles, and its console output",
        "ServiceEnabled", 1, "MaxNumberOfRecords", (json_int_t)req->app->cfg.console_log_entries,
        "OverWritePolicy", "WrapsWhenFull", "LogEntryType", "Event", "DateTime", now,
        "DateTimeLocalOffset", "+00:00", "Entries", rf_link(entries), "Status", "State", "Enabled",
        "Health", "OK", "Actions", "#LogService.ClearLog", "target", clear, "Oem", "Vsc", oem);
    rf_reply(r, 200, body);
}

static const char *entry_severity(const char *state)
{
    return strcmp(state, "Panic") == 0 ? "Critical" : "OK";
}

json_t *rf_console_entry_json(struct vsc_app *app, const struct vm *vm,
                              const struct db_console_entry *e)
{
    char uri[224], id[24], created[40], from[32], to[32], transcript[320], system[96];
    rf_console_log_uri(vm->uuid, uri, sizeof(uri));
    snprintf(id, sizeof(id), "%lld", (long long)e->id);
    snprintf(uri + strlen(uri), sizeof(uri) - strlen(uri), "/Entries/%s", id);
    app_format_time_us(e->created_us, created, sizeof(created));
    /* The transcript around the change: a minute before, ten seconds after. */
    uri_time(e->created_us - 60 * 1000000LL, from, sizeof(from));
    uri_time(e->created_us + 11 * 1000000LL, to, sizeof(to));
    rf_console_log_uri(vm->uuid, transcript, sizeof(transcript));
    snprintf(transcript + strlen(transcript), sizeof(transcript) - strlen(transcript),
             "/Oem/Vsc/Transcript?Start=%s&End=%s", from, to);
    rf_system_uri(vm, system, sizeof(system));
    const char *host = vm->host_name[0] ? vm->host_name : vm->name;
    bool panic = strcmp(e->state, "Panic") == 0;
    /* The same message as the event that announced it (VscEvents). */
    char message_id[64];
    snprintf(message_id, sizeof(message_id), "%s.%s", EVENTS_VSC_ID_PREFIX,
             panic ? "ConsolePanic" : "ConsoleStateChanged");
    json_t *args = panic ? json_pack("[s, s]", host, e->line)
                         : json_pack("[s, s, s]", host, e->state, e->line);
    char *text = events_message_text(&app->events, message_id, args);
    json_t *message = json_string(text ? text : e->line);
    free(text);
    json_t *oem =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:O}", "@odata.type", "#Vsc.v1_0_0.LogEntry",
                  "State", e->state, "PreviousState", e->previous, "RuleId", e->rule_id, "Line",
                  e->line, "Port", e->port_idx, "LinesBefore", e->before);
    if (e->after)
        json_object_set(oem, "LinesAfter", e->after);
    json_t *entry =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:s, s:{s:o}}", "@odata.id",
                  uri, "@odata.type", "#LogEntry.v1_18_0.LogEntry", "Id", id, "Name",
                  "Console state change", "EntryType", "Event", "Created", created, "Severity",
                  entry_severity(e->state), "Message", message, "MessageId", message_id,
                  "MessageArgs", args, "AdditionalDataURI", transcript, "Oem", "Vsc", oem);
    /* A freed VM's ComputerSystem is gone: its kept entries link no resource that 404s. */
    if (ports_find_vm(&app->ports, vm->uuid))
        json_object_set_new(entry, "Links",
                            json_pack("{s:o}", "OriginOfCondition", rf_link(system)));
    return entry;
}

bool rf_may_watch_port(struct rf_request *req, const struct vm *live, int port_idx)
{
    for (struct port *p = live ? req->app->ports.ports : NULL; p; p = p->next) {
        if (p->vm == live && p->idx == port_idx)
            return port_rights(req->app, p->id, req->who.user, req->who.role) & PORT_RIGHT_WATCH;
    }
    return true;
}

static void get_entries(struct rf_request *req, struct rf_response *r)
{
    struct rf_log_target t;
    if (rf_log_target(req, r, &t) < 0)
        return;
    char uri[192], member[224];
    rf_console_log_uri(t.vm.uuid, uri, sizeof(uri));
    strcat(uri, "/Entries");
    size_t skip, top; /* console_log_entries may be 100,000: a page at a time */
    rf_page_window(req, RF_PAGE, &skip, &top);
    int64_t total = 0;
    int n = -ENOMEM;
    int64_t *ids = calloc(top ? top : 1, sizeof(*ids));
    if (ids)
        n = db_console_entry_count(&req->app->db, t.vm.uuid, &total) < 0
                ? -EIO
                : db_console_entry_ids(&req->app->db, t.vm.uuid, skip, ids, top);
    if (n < 0) {
        free(ids);
        rf_error(r, 500, msg_internal_error());
        return;
    }
    rf_reply(r, 200,
             rf_collection(uri, "#LogEntryCollection.LogEntryCollection", "Console Log Entries"));
    for (int i = 0; i < n; i++) {
        snprintf(member, sizeof(member), "%s/%lld", uri, (long long)ids[i]);
        rf_collection_add(r->body, member);
    }
    free(ids);
    rf_collection_paged(r, req->path, skip, top, (size_t)total);
}

static void get_entry(struct rf_request *req, struct rf_response *r)
{
    struct rf_log_target t;
    if (rf_log_target(req, r, &t) < 0)
        return;
    const char *s = req->params[1];
    struct db_console_entry e;
    int rc = rf_canonical_id(s)
                 ? db_console_entry_get(&req->app->db, t.vm.uuid, strtoll(s, NULL, 10), &e)
                 : -ENOENT;
    if (rc == -ENOENT) {
        rf_not_found(r, "LogEntry", s);
        return;
    }
    if (rc < 0) {
        rf_error(r, 500, msg_internal_error());
        return;
    }
    struct db_console_entry shown = e; /* borrows e's arrays */
    json_t *no_lines = NULL;
    if (!rf_may_watch_port(req, t.live, e.port_idx)) {
        snprintf(shown.line, sizeof(shown.line), "%s", RF_LINE_NOT_WATCHABLE);
        shown.before = no_lines = json_array();
        shown.after = e.after ? no_lines : NULL;
    }
    rf_reply(r, 200, rf_console_entry_json(req->app, &t.vm, &shown));
    json_decref(no_lines);
    db_console_entry_fini(&e);
}

/* ClearLog: drops the VM's state entries; the console output history stays (its own caps). */
static void post_clear_log(struct rf_request *req, struct rf_response *r)
{
    struct rf_log_target t;
    if (rf_log_target(req, r, &t) < 0)
        return;
    if (json_object_size(req->body) != 0) {
        const char *key = json_object_iter_key(json_object_iter(req->body));
        rf_error(r, 400, msg_action_parameter_unknown("ClearLog", key));
        return;
    }
    if (db_console_entries_clear(&req->app->db, t.vm.uuid) < 0) {
        rf_error(r, 500, msg_internal_error());
        return;
    }
    log_info("console log of VM '%s' (%s) cleared by '%s'", t.vm.name, t.vm.uuid, req->who.user);
    r->status = 204;
}

static const struct route routes[] = {
    {LOGS_PATTERN, HTTP_GET, get_log_services, PRIV_LOGIN, 0, "LogServiceCollection"},
    {CONSOLE_PATTERN, HTTP_GET, get_console_log, PRIV_LOGIN, 0, "LogService"},
    {CONSOLE_PATTERN "/Entries", HTTP_GET, get_entries, PRIV_LOGIN, 0, "LogEntryCollection"},
    {CONSOLE_PATTERN "/Entries/{entry}", HTTP_GET, get_entry, PRIV_LOGIN, 0, "LogEntry"},
    {CONSOLE_PATTERN "/Actions/LogService.ClearLog", HTTP_POST, post_clear_log,
     PRIV_CONFIGURE_COMPONENTS, 0, "LogService"},
};
ROUTE_TABLE(log_service_routes, routes);
