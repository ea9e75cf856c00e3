/*
 * /redfish/v1/EventService: Redfish eventing over server-sent events (DSP0266 §13.5.2).
 * GET .../SSE opens a stream of the events events.c publishes; each open stream is an
 * EventDestination under .../Subscriptions (SubscriptionType SSE) until it closes; DELETE
 * on it closes the stream. Push subscriptions (POST with a Destination) are not offered:
 * the collection has no POST (405). docs/events.md.
 */
#include "app.h"
#include "base_registry.h"
#include "db_accounts.h"
#include "event_filter.h"
#include "events.h"
#include "jsonbody.h"
#include "log.h"
#include "port_rights.h"
#include "resources.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ES_URI       "/redfish/v1/EventService"
#define SSE_URI      ES_URI "/SSE"
#define SUBS_URI     ES_URI "/Subscriptions"
#define TEST_ACTION  "EventService.SubmitTestEvent"
#define KEEPALIVE_MS 15000 /* a comment line this often finds dead clients */

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* One open SSE stream: an events listener that http.c sends as text/event-stream. */
struct sse_stream {
    struct rf_stream stream;
    struct events_listener l;
    struct vsc_app *app;
    bool listening;
    bool ending;        /* read() ends the stream once `out` is sent */
    bool keepalive_due; /* a comment line is due */
    char *out;          /* the event being sent */
    size_t out_len, out_off;
    uint64_t last_sent_ms;
    struct event_filter *filter;
    char *filter_text;
    char user[65];
    int64_t account_id;
    char session_id[SESSION_ID_LEN + 1]; /* "" for Basic authentication */
    char client_ip[64];
    char opened[40];
};

static struct sse_stream *stream_of(struct events_listener *l)
{
    return container_of(l, struct sse_stream, l);
}

static void stream_stop_listening(struct sse_stream *ss)
{
    if (ss->listening)
        events_unlisten(&ss->app->events, &ss->l);
    ss->listening = false;
}

/* Ends the stream: it leaves Subscriptions now, the connection closes once idle. */
static void stream_end(struct sse_stream *ss, const char *why)
{
    log_info("event stream %u of %s closed: %s", ss->l.id, ss->user, why);
    stream_stop_listening(ss);
    ss->ending = true;
    rf_stream_wake(&ss->stream);
}

/* The payload for this stream's user: a guarded event (events.h) has a variant for users
 * an access rule denies Watch on its port; the account's current name and role decide. */
static const char *payload_for(struct sse_stream *ss, const struct event *e)
{
    if (!e->watch_port_id || !e->payload_unwatched)
        return e->payload;
    struct account a;
    if (db_account_get(&ss->app->db, ss->account_id, &a) < 0)
        return e->payload_unwatched; /* not known: the safe one */
    bool may = port_rights(ss->app, e->watch_port_id, a.user, a.role) & PORT_RIGHT_WATCH;
    return may ? e->payload : e->payload_unwatched;
}

/* The next bytes to send into ss->out: 1, 0 (nothing now), -1 (end). */
static int stream_fill(struct sse_stream *ss)
{
    free(ss->out);
    ss->out = NULL;
    ss->out_len = ss->out_off = 0;
    if (ss->ending)
        return -1;
    const struct event *e = NULL;
    char *notice = NULL;
    int n = -1;
    switch (events_next(&ss->app->events, &ss->l, &e)) {
    case EVENTS_EVENT:
        n = asprintf(&ss->out, "id: %" PRIu64 "\ndata: %s\n\n", e->id, payload_for(ss, e));
        break;
    case EVENTS_LOST: /* no id: the client's Last-Event-ID stays the last event it got */
        notice = events_lost_notice(&ss->app->events, ss->l.last_id);
        log_warn("event stream %u of %s: events after %" PRIu64 " were lost", ss->l.id, ss->user,
                 ss->l.last_id);
        n = notice ? asprintf(&ss->out, "data: %s\n\n", notice) : -1;
        free(notice);
        break;
    case EVENTS_NONE:
        if (!ss->keepalive_due)
            return 0;
        ss->keepalive_due = false;
        n = asprintf(&ss->out, ": keep-alive\n\n");
        break;
    }
    if (n < 0) {
        ss->out = NULL;
        stream_end(ss, "out of memory");
        return -1;
    }
    ss->out_len = (size_t)n;
    ss->last_sent_ms = loop_now_ms();
    return 1;
}

static long stream_read(struct rf_stream *s, char *buf, size_t max)
{
    struct sse_stream *ss = container_of(s, struct sse_stream, stream);
    if (ss->out_off == ss->out_len) {
        int rc = stream_fill(ss);
        if (rc <= 0)
            return rc;
    }
    size_t n = ss->out_len - ss->out_off;
    if (n > max)
        n = max;
    memcpy(buf, ss->out + ss->out_off, n);
    ss->out_off += n;
    return (long)n;
}

static void stream_closed(struct rf_stream *s)
{
    struct sse_stream *ss = container_of(s, struct sse_stream, stream);
    if (ss->listening)
        log_info("event stream %u of %s closed by the client", ss->l.id, ss->user);
    stream_stop_listening(ss);
    event_filter_free(ss->filter);
    free(ss->filter_text);
    free(ss->out);
    free(ss);
}

static void on_wake(struct events_listener *l)
{
    rf_stream_wake(&stream_of(l)->stream);
}

static void on_tick(struct events_listener *l)
{
    struct sse_stream *ss = stream_of(l);
    if (ss->session_id[0] && !auth_session_find(&ss->app->auth, ss->session_id)) {
        stream_end(ss, "its session ended");
        return;
    }
    if (loop_now_ms() - ss->last_sent_ms >= KEEPALIVE_MS) {
        ss->keepalive_due = true;
        rf_stream_wake(&ss->stream);
    }
}

static void on_end(struct events_listener *l)
{
    stream_end(stream_of(l), "the service stops");
}

/* Last-Event-ID: decimal digits only. */
static int parse_last_event_id(const char *s, uint64_t *out)
{
    if (!s[0] || strlen(s) > 19 || strspn(s, "0123456789") != strlen(s))
        return -1;
    *out = strtoull(s, NULL, 10);
    return 0;
}

/* GET .../SSE: DSP0266 §13.5.2. */
static void get_sse(struct rf_request *req, struct rf_response *r)
{
    uint64_t after = 0;
    if (req->last_event_id && parse_last_event_id(req->last_event_id, &after) < 0) {
        rf_error(r, 400, msg_header_invalid("Last-Event-ID"));
        return;
    }
    struct event_filter *filter = NULL;
    if (req->filter) {
        char err[128];
        int rc = event_filter_parse(req->filter, &filter, err, sizeof(err));
        if (rc == -ENOMEM) {
            rf_error(r, 500, NULL);
            return;
        }
        if (rc < 0) {
            log_warn("SSE $filter refused: %s", err);
            rf_error(r, 400,
                     rc == -EINVAL ? msg_query_parameter_value_format_error(req->filter, "$filter")
                                   : msg_query_parameter_value_error("$filter"));
            return;
        }
    }
    if (req->method == HTTP_HEAD) { /* the headers a GET would have; no stream */
        event_filter_free(filter);
        rf_reply_embedded(r, "", 0, "text/event-stream");
        return;
    }
    struct sse_stream *ss = calloc(1, sizeof(*ss));
    char *text = req->filter ? strdup(req->filter) : NULL;
    if (!ss || (req->filter && !text)) {
        free(ss);
        free(text);
        event_filter_free(filter);
        rf_error(r, 500, NULL);
        return;
    }
    ss->stream = (struct rf_stream){.read = stream_read, .closed = stream_closed};
    ss->app = req->app;
    ss->filter = filter;
    ss->filter_text = text;
    snprintf(ss->user, sizeof(ss->user), "%s", req->who.user);
    ss->account_id = req->who.account_id;
    if (req->who.session)
        snprintf(ss->session_id, sizeof(ss->session_id), "%s", req->who.session->id);
    snprintf(ss->client_ip, sizeof(ss->client_ip), "%s", req->client_ip ? req->client_ip : "");
    app_format_time(time(NULL), ss->opened, sizeof(ss->opened));
    ss->l.filter = filter;
    ss->l.wake = on_wake;
    ss->l.tick = on_tick;
    ss->l.end = on_end;
    ss->keepalive_due = true; /* a first comment line: the client sees the stream is open */
    ss->last_sent_ms = loop_now_ms();
    events_listen(&req->app->events, &ss->l, req->last_event_id != NULL, after);
    ss->listening = true;
    log_info("event stream %u opened by %s from %s%s%s", ss->l.id, ss->user, ss->client_ip,
             text ? ", $filter=" : "", text ? text : "");
    r->stream = &ss->stream;
    r->status = 200;
}

static json_t *event_service_body(void)
{
    json_t *regs = json_pack("[s, s]", EVENTS_RESOURCE_PREFIX, EVENTS_REGISTRY_PREFIX);
    json_t *types = json_pack("[s, s, s]", "ComputerSystem", "EventService", "SerialInterface");
    json_t *sse =
        json_pack("{s:b, s:b, s:b, s:b, s:b, s:b, s:b}", "EventFormatType", 1, "MessageId", 1,
                  "OriginResource", 1, "RegistryPrefix", 1, "ResourceType", 1,
                  "SubordinateResources", 1, "MetricReportDefinition", 0);
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:b, s:{s:s, s:s}, s:s, s:[s], s:o, s:o, s:o, s:b, s:o, "
        "s:{s:{s:s, s:s}}}",
        "@odata.id", ES_URI, "@odata.type", "#EventService.v1_12_0.EventService", "Id",
        "EventService", "Name", "Event Service", "Description",
        "Events over server-sent events (ServerSentEventUri); push subscriptions are not offered",
        "ServiceEnabled", 1, "Status", "State", "Enabled", "Health", "OK", "ServerSentEventUri",
        SSE_URI, "EventFormatTypes", "Event", "RegistryPrefixes", regs, "ResourceTypes", types,
        "SSEFilterPropertiesSupported", sse, "SubordinateResourcesSupported", 1, "Subscriptions",
        rf_link(SUBS_URI), "Actions", "#" TEST_ACTION, "target", ES_URI "/Actions/" TEST_ACTION,
        "@Redfish.ActionInfo", ES_URI "/SubmitTestEventActionInfo");
}

static void get_event_service(struct rf_request *req, struct rf_response *r)
{
    (void)req;
    rf_reply(r, 200, event_service_body());
}

static void get_test_action_info(struct rf_request *req, struct rf_response *r)
{
    (void)req;
    json_t *params = json_pack(
        "[{s:s, s:b, s:s}, {s:s, s:b, s:s}, {s:s, s:b, s:s}, {s:s, s:b, s:s, s:[s, s, s]}, "
        "{s:s, s:b, s:s}, {s:s, s:b, s:s}, {s:s, s:b, s:s}]",
        "Name", "MessageId", "Required", 1, "DataType", "String", "Name", "Message", "Required", 0,
        "DataType", "String", "Name", "MessageArgs", "Required", 0, "DataType", "StringArray",
        "Name", "MessageSeverity", "Required", 0, "DataType", "String", "AllowableValues", "OK",
        "Warning", "Critical", "Name", "OriginOfCondition", "Required", 0, "DataType", "String",
        "Name", "EventTimestamp", "Required", 0, "DataType", "String", "Name", "EventGroupId",
        "Required", 0, "DataType", "Number");
    rf_reply(r, 200,
             json_pack("{s:s, s:s, s:s, s:s, s:o}", "@odata.id",
                       ES_URI "/SubmitTestEventActionInfo", "@odata.type",
                       "#ActionInfo.v1_5_0.ActionInfo", "Id", "SubmitTestEventActionInfo", "Name",
                       "SubmitTestEvent Action Info", "Parameters", params));
}

enum {
    T_MESSAGE_ID,
    T_MESSAGE,
    T_ARGS,
    T_SEVERITY,
    T_OLD_SEVERITY,
    T_ORIGIN,
    T_TIMESTAMP,
    T_GROUP,
    T_EVENT_ID,
    T_EVENT_TYPE,
    T_COUNT
};

static bool is_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* Prefix.Major.Minor.Key (DSP0266 "MessageId format"): what both the parameter's pattern
 * (^\w+\.\d+\.\d+\.\w+$) and the Event's (^[A-Za-z0-9]+\.\d+\.\d+\.[A-Za-z0-9.]+$)
 * accept. */
static bool valid_message_id(const char *s)
{
    for (int part = 0; part < 4; part++) {
        const char *start = s;
        while (part == 1 || part == 2 ? (*s >= '0' && *s <= '9') : is_alnum(*s))
            s++;
        if (s == start || *s != (part < 3 ? '.' : '\0'))
            return false;
        if (part < 3)
            s++;
    }
    return true;
}

/* Event.EventType (deprecated since Event v1_3_0, still the action's parameter). */
static bool valid_event_type(const char *s)
{
    static const char *const types[] = {
        "StatusChange", "ResourceUpdated", "ResourceAdded", "ResourceRemoved",
        "Alert",        "MetricReport",    "Other"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(s, types[i]) == 0)
            return true;
    }
    return false;
}

static bool valid_severity(const char *s)
{
    return strcmp(s, "OK") == 0 || strcmp(s, "Warning") == 0 || strcmp(s, "Critical") == 0;
}

/* The record SubmitTestEvent asked for, or NULL with the error in r. */
static json_t *test_record(struct vsc_app *app, const struct jb_value *v, struct rf_response *r)
{
    const char *action = "SubmitTestEvent";
    const json_t *args = v[T_ARGS].json;
    if (!valid_message_id(v[T_MESSAGE_ID].s)) {
        rf_error(r, 400,
                 msg_action_parameter_value_format_error(v[T_MESSAGE_ID].s, "MessageId", action));
        return NULL;
    }
    for (size_t i = 0; args && i < json_array_size(args); i++) {
        if (!json_is_string(json_array_get(args, i))) {
            char *text = jb_value_text(args);
            rf_error(r, 400, msg_action_parameter_value_type_error(text, "MessageArgs", action));
            free(text);
            return NULL;
        }
    }
    /* Any MessageId of the right form goes (DSP0266), but one of our registries' messages
     * takes the arguments its registry text has (NumberOfArgs). */
    int nargs = events_message_nargs(&app->events, v[T_MESSAGE_ID].s);
    if (nargs >= 0 && (size_t)nargs != json_array_size(args)) {
        rf_error(r, 400, msg_action_parameter_value_error("MessageArgs", action));
        return NULL;
    }
    /* Severity: the deprecated name, taken when MessageSeverity is not given. */
    int sev_field = v[T_SEVERITY].present       ? T_SEVERITY
                    : v[T_OLD_SEVERITY].present ? T_OLD_SEVERITY
                                                : -1;
    const char *sev = sev_field >= 0 ? v[sev_field].s : "OK";
    if (!valid_severity(sev)) {
        rf_error(r, 400,
                 msg_action_parameter_value_not_in_list(
                     sev, sev_field == T_OLD_SEVERITY ? "Severity" : "MessageSeverity", action));
        return NULL;
    }
    if (v[T_EVENT_TYPE].present && !valid_event_type(v[T_EVENT_TYPE].s)) {
        rf_error(r, 400,
                 msg_action_parameter_value_not_in_list(v[T_EVENT_TYPE].s, "EventType", action));
        return NULL;
    }
    int64_t when;
    if (v[T_TIMESTAMP].present && app_parse_time_us(v[T_TIMESTAMP].s, &when) < 0) {
        rf_error(
            r, 400,
            msg_action_parameter_value_format_error(v[T_TIMESTAMP].s, "EventTimestamp", action));
        return NULL;
    }
    const char *origin = v[T_ORIGIN].present ? v[T_ORIGIN].s : "";
    if (origin[0] && strncmp(origin, "/redfish/v1", 11) != 0) {
        rf_error(r, 400,
                 msg_action_parameter_value_format_error(origin, "OriginOfCondition", action));
        return NULL;
    }
    json_t *rec = json_pack("{s:s, s:s}", "MessageId", v[T_MESSAGE_ID].s, "MessageSeverity", sev);
    if (!rec)
        return NULL;
    if (origin[0])
        json_object_set_new(rec, "OriginOfCondition", rf_link(origin));
    json_t *a = args ? json_deep_copy(args) : json_array();
    char *text = v[T_MESSAGE].present ? strdup(v[T_MESSAGE].s)
                                      : events_message_text(&app->events, v[T_MESSAGE_ID].s, a);
    if (text)
        json_object_set_new(rec, "Message", json_string(text));
    free(text);
    json_object_set_new(rec, "MessageArgs", a);
    if (v[T_TIMESTAMP].present)
        json_object_set_new(rec, "EventTimestamp", json_string(v[T_TIMESTAMP].s));
    if (v[T_EVENT_TYPE].present) /* else events_publish() gives Other */
        json_object_set_new(rec, "EventType", json_string(v[T_EVENT_TYPE].s));
    if (v[T_GROUP].present)
        json_object_set_new(rec, "EventGroupId", json_integer(v[T_GROUP].i));
    return rec;
}

/* POST .../Actions/EventService.SubmitTestEvent: publishes the event described. */
static void submit_test_event(struct rf_request *req, struct rf_response *r)
{
    static const struct jb_field fields[T_COUNT] = {
        [T_MESSAGE_ID] = {"MessageId", JB_STRING, JB_REQUIRED, 1, 256},
        [T_MESSAGE] = {"Message", JB_STRING, 0, 0, 8192},
        [T_ARGS] = {"MessageArgs", JB_ARRAY, 0, 0, 0},
        [T_SEVERITY] = {"MessageSeverity", JB_STRING, 0, 0, 0},
        [T_OLD_SEVERITY] = {"Severity", JB_STRING, 0, 0, 64},
        [T_ORIGIN] = {"OriginOfCondition", JB_STRING, 0, 0, 512},
        [T_TIMESTAMP] = {"EventTimestamp", JB_STRING, 0, 0, 64},
        [T_GROUP] = {"EventGroupId", JB_INT, 0, 0, 0},
        [T_EVENT_ID] = {"EventId", JB_STRING, 0, 0, 64}, /* the service gives its own */
        [T_EVENT_TYPE] = {"EventType", JB_STRING, 0, 0, 64},
    };
    struct jb_value v[T_COUNT];
    if (jb_read(req->body, fields, T_COUNT, v, "SubmitTestEvent", r) < 0)
        return;
    if (json_array_size(v[T_ARGS].json) > 16) {
        rf_error(r, 400, msg_action_parameter_value_error("MessageArgs", "SubmitTestEvent"));
        return;
    }
    json_t *rec = test_record(req->app, v, r);
    if (!rec) {
        if (!json_array_size(r->messages))
            rf_error(r, 500, NULL);
        return;
    }
    events_publish(&req->app->events, rec, "");
    r->status = 204;
}

static void sub_uri(const struct sse_stream *ss, char *out, size_t outsz)
{
    snprintf(out, outsz, SUBS_URI "/%u", ss->l.id);
}

static void get_subscriptions(struct rf_request *req, struct rf_response *r)
{
    json_t *c = rf_collection(SUBS_URI, "#EventDestinationCollection.EventDestinationCollection",
                              "Event Subscriptions");
    /* Oldest first: the list holds the newest first. */
    struct events_listener *last = req->app->events.listeners;
    while (last && last->next)
        last = last->next;
    for (struct events_listener *l = last; l; l = l->prev) {
        char uri[128];
        sub_uri(stream_of(l), uri, sizeof(uri));
        rf_collection_add(c, uri);
    }
    rf_reply(r, 200, c);
}

/* The stream named by {id}, or NULL with 404 recorded. */
static struct sse_stream *target_stream(struct rf_request *req, struct rf_response *r)
{
    const char *id = req->params[0];
    struct events_listener *l = NULL;
    if (rf_canonical_id(id) && strlen(id) <= 9)
        l = events_find_listener(&req->app->events, (unsigned)strtoul(id, NULL, 10));
    if (!l) {
        rf_not_found(r, "EventDestination", id);
        return NULL;
    }
    return stream_of(l);
}

static void get_subscription(struct rf_request *req, struct rf_response *r)
{
    struct sse_stream *ss = target_stream(req, r);
    if (!ss)
        return;
    char uri[128], id[16], desc[256];
    sub_uri(ss, uri, sizeof(uri));
    snprintf(id, sizeof(id), "%u", ss->l.id);
    snprintf(desc, sizeof(desc), "A server-sent event stream that %s opened", ss->user);
    json_t *oem = json_pack("{s:s, s:s?, s:s, s:s, s:s}", "@odata.type",
                            "#Vsc.v1_0_0.EventDestination", "Filter", ss->filter_text, "User",
                            ss->user, "ClientAddress", ss->client_ip, "OpenedAt", ss->opened);
    if (!ss->filter_text)
        json_object_set_new(oem, "Filter", json_null());
    rf_reply(r, 200,
             json_pack("{s:s, s:s, s:s, s:s, s:s, s:n, s:s, s:s, s:s, s:{s:s, s:s}, s:{s:o}}",
                       "@odata.id", uri, "@odata.type",
                       "#EventDestination.v1_16_0.EventDestination", "Id", id, "Name",
                       "Server-Sent Event Stream", "Description", desc, "Context",
                       "SubscriptionType", "SSE", "Protocol", "Redfish", "EventFormatType", "Event",
                       "Status", "State", "Enabled", "Health", "OK", "Oem", "Vsc", oem));
}

/* DELETE: ConfigureManager, or (ConfigureSelf) the user who opened the stream. */
static void delete_subscription(struct rf_request *req, struct rf_response *r)
{
    struct sse_stream *ss = target_stream(req, r);
    if (!ss)
        return;
    if (req->self_only && ss->account_id != req->who.account_id) {
        rf_error(r, 403, msg_insufficient_privilege());
        return;
    }
    stream_end(ss, "deleted");
    r->status = 204;
}

static const struct route routes[] = {
    {ES_URI, HTTP_GET, get_event_service, PRIV_LOGIN, 0, "EventService"},
    {SSE_URI, HTTP_GET, get_sse, PRIV_LOGIN, ROUTE_QUERY_FILTER, "EventService"},
    {ES_URI "/Actions/" TEST_ACTION, HTTP_POST, submit_test_event, PRIV_CONFIGURE_MANAGER, 0,
     "EventService"},
    {ES_URI "/SubmitTestEventActionInfo", HTTP_GET, get_test_action_info, PRIV_LOGIN, 0,
     "ActionInfo"},
    {SUBS_URI, HTTP_GET, get_subscriptions, PRIV_LOGIN, 0, "EventDestinationCollection"},
    {SUBS_URI "/{id}", HTTP_GET, get_subscription, PRIV_LOGIN, 0, "EventDestination"},
    {SUBS_URI "/{id}", HTTP_DELETE, delete_subscription,
     PRIV_CONFIGURE_MANAGER | PRIV_CONFIGURE_SELF, 0, "EventDestination"},
};
ROUTE_TABLE(event_routes, routes);
