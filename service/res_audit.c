/*
 * /redfish/v1/Managers/bmc/LogServices/Audit: the audit trail (audit.h) as a LogService
 * readable by Administrators only (ConfigureManager, stricter than the registry's Login
 * for a LogService: the trail names every user, address and console they touched). Each
 * entry is a LogEntry of EntryType Oem (OemRecordFormat "Vsc.Audit") with Oem.Vsc: Action,
 * UserName, ClientAddress, Target, Detail.
 */
#include "app.h"
#include "audit.h"
#include "base_registry.h"
#include "log.h"
#include "resources.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOGS_PATTERN  "/redfish/v1/Managers/{id}/LogServices"
#define AUDIT_PATTERN LOGS_PATTERN "/Audit"
#define AUDIT_URI     MANAGER_URI "/LogServices/Audit"

static void get_log_services(struct rf_request *req, struct rf_response *r)
{
    if (!rf_is_our_manager(req, r))
        return;
    json_t *c = rf_collection(MANAGER_URI "/LogServices",
                              "#LogServiceCollection.LogServiceCollection", "Log Services");
    rf_collection_add(c, AUDIT_URI);
    rf_reply(r, 200, c);
}

static void get_audit(struct rf_request *req, struct rf_response *r)
{
    if (!rf_is_our_manager(req, r))
        return;
    char now[40];
    app_format_time(time(NULL), now, sizeof(now));
    rf_reply(r, 200,
             json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:s, s:s, s:s, s:s, s:o, "
                       "s:{s:s, s:s}, s:{s:{s:s}}}",
                       "@odata.id", AUDIT_URI, "@odata.type", "#LogService.v1_9_0.LogService", "Id",
                       "Audit", "Name", "Audit trail", "Description",
                       "Who did what on this service, when and from where (Administrators only)",
                       "ServiceEnabled", 1, "MaxNumberOfRecords",
                       (json_int_t)req->app->cfg.audit_entries, "OverWritePolicy", "WrapsWhenFull",
                       "LogEntryType", "OEM", "DateTime", now, "DateTimeLocalOffset", "+00:00",
                       "Entries", rf_link(AUDIT_URI "/Entries"), "Status", "State", "Enabled",
                       "Health", "OK", "Actions", "#LogService.ClearLog", "target",
                       AUDIT_URI "/Actions/LogService.ClearLog"));
}

static void get_entries(struct rf_request *req, struct rf_response *r)
{
    if (!rf_is_our_manager(req, r))
        return;
    /* Up to audit_entries (100,000; 10 million allowed) members: only the page asked for is
     * read and built (rf_page_window()), so that no listing holds the loop. */
    size_t skip, top;
    rf_page_window(req, RF_PAGE, &skip, &top);
    int64_t total = 0;
    int n = -ENOMEM;
    int64_t *ids = calloc(top ? top : 1, sizeof(*ids));
    if (ids)
        n = audit_count(&req->app->db, &total) < 0 ? -EIO
                                                   : audit_ids(&req->app->db, skip, ids, top);
    if (n < 0) {
        free(ids);
        rf_error(r, 500, msg_internal_error());
        return;
    }
    rf_reply(r, 200,
             rf_collection(AUDIT_URI "/Entries", "#LogEntryCollection.LogEntryCollection",
                           "Audit Log Entries"));
    char member[96];
    for (int i = 0; i < n; i++) {
        snprintf(member, sizeof(member), AUDIT_URI "/Entries/%lld", (long long)ids[i]);
        rf_collection_add(r->body, member);
    }
    free(ids);
    rf_collection_paged(r, req->path, skip, top, (size_t)total);
}

static json_t *entry_json(const struct audit_entry *e)
{
    char uri[96], id[24], created[40], message[2400];
    snprintf(id, sizeof(id), "%lld", (long long)e->id);
    snprintf(uri, sizeof(uri), AUDIT_URI "/Entries/%s", id);
    app_format_time_us(e->created_us, created, sizeof(created));
    snprintf(message, sizeof(message), "%s by '%s'%s%s: %s", audit_action_name(e->action), e->user,
             e->client[0] ? " from " : "", e->client, e->detail);
    json_t *oem =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "@odata.type", "#Vsc.v1_0_0.AuditLogEntry",
                  "Action", audit_action_name(e->action), "UserName", e->user, "ClientAddress",
                  e->client, "Target", e->target, "Detail", e->detail);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:o}}", "@odata.id", uri,
                     "@odata.type", "#LogEntry.v1_18_0.LogEntry", "Id", id, "Name", "Audit entry",
                     "EntryType", "Oem", "OemRecordFormat", "Vsc.Audit", "Created", created,
                     "Severity", audit_action_severity(e->action), "Message", message, "Oem", "Vsc",
                     oem);
}

static void get_entry(struct rf_request *req, struct rf_response *r)
{
    if (!rf_is_our_manager(req, r))
        return;
    const char *s = req->params[1];
    struct audit_entry e;
    int rc = rf_canonical_id(s) ? audit_get(&req->app->db, strtoll(s, NULL, 10), &e) : -ENOENT;
    if (rc == -ENOENT)
        rf_not_found(r, "LogEntry", s);
    else if (rc < 0)
        rf_error(r, 500, msg_internal_error());
    else
        rf_reply(r, 200, entry_json(&e));
}

/* ClearLog empties the trail; the clearing itself is its first new entry. */
static void post_clear_log(struct rf_request *req, struct rf_response *r)
{
    if (!rf_is_our_manager(req, r))
        return;
    if (json_object_size(req->body) != 0) {
        const char *key = json_object_iter_key(json_object_iter(req->body));
        rf_error(r, 400, msg_action_parameter_unknown("ClearLog", key));
        return;
    }
    int64_t n = 0;
    audit_count(&req->app->db, &n);
    if (audit_clear(&req->app->db) < 0) {
        rf_error(r, 500, msg_internal_error());
        return;
    }
    log_info("audit log cleared by '%s' (%lld entries)", req->who.user, (long long)n);
    audit_req(req, AUDIT_AUDIT_CLEARED, AUDIT_URI, "%lld entries removed", (long long)n);
    r->status = 204;
}

static const struct route routes[] = {
    {LOGS_PATTERN, HTTP_GET, get_log_services, PRIV_LOGIN, 0, "LogServiceCollection"},
    {AUDIT_PATTERN, HTTP_GET, get_audit, PRIV_CONFIGURE_MANAGER, 0, "LogService"},
    {AUDIT_PATTERN "/Entries", HTTP_GET, get_entries, PRIV_CONFIGURE_MANAGER, 0,
     "LogEntryCollection"},
    {AUDIT_PATTERN "/Entries/{entry}", HTTP_GET, get_entry, PRIV_CONFIGURE_MANAGER, 0, "LogEntry"},
    {AUDIT_PATTERN "/Actions/LogService.ClearLog", HTTP_POST, post_clear_log,
     PRIV_CONFIGURE_MANAGER, 0, "LogService"},
};
ROUTE_TABLE(audit_routes, routes);
