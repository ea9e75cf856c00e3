#include "events.h"

#include "app.h"
#include "embed.h"
#include "event_filter.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EVENT_TYPE "#Event.v1_13_0.Event"

/* DMTF's ResourceEvent.1.4.3 texts (../shared/redfish/registries): no arguments. */
static const struct {
    const char *key, *text;
} resource_messages[] = {
    {"ResourceCreated", "The resource was created successfully."},
    {"ResourceRemoved", "The resource was removed successfully."},
    {"ResourceChanged", "One or more resource properties have changed."},
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void event_clear(struct event *e)
{
    free(e->payload);
    free(e->message_id);
    free(e->origin);
    free(e->resource_type);
    free(e->payload_unwatched);
    memset(e, 0, sizeof(*e));
}

static void on_tick(struct loop_timer *t)
{
    struct events *ev = t->data;
    for (struct events_listener *l = ev->listeners, *next; l; l = next) {
        next = l->next; /* tick() may close the listener */
        if (l->tick)
            l->tick(l);
    }
    if (ev->listeners)
        loop_timer_arm(ev->loop, &ev->timer, EVENTS_TICK_MS);
}

int events_init(struct events *ev, struct loop *loop, size_t backlog)
{
    memset(ev, 0, sizeof(*ev));
    ev->cap = backlog ? backlog : 1;
    ev->ring = calloc(ev->cap, sizeof(*ev->ring));
    if (!ev->ring)
        return -ENOMEM;
    json_error_t jerr;
    json_t *reg = json_loadb(embed_event_registry, EMBED_LEN(embed_event_registry), 0, &jerr);
    ev->registry = json_incref(json_object_get(reg, "Messages"));
    json_decref(reg);
    if (!json_is_object(ev->registry)) {
        log_error("events: the compiled-in VscEvents registry does not parse: %s", jerr.text);
        events_fini(ev);
        return -EINVAL;
    }
    ev->loop = loop;
    ev->timer = (struct loop_timer){.cb = on_tick, .data = ev};
    ev->start_id = now_us();
    ev->last_id = ev->start_id - 1;
    ev->next_listener_id = 1;
    return 0;
}

void events_fini(struct events *ev)
{
    if (ev->loop)
        loop_timer_cancel(ev->loop, &ev->timer);
    for (size_t i = 0; ev->ring && i < ev->cap; i++)
        event_clear(&ev->ring[i]);
    free(ev->ring);
    json_decref(ev->registry);
    memset(ev, 0, sizeof(*ev));
}

/* "Prefix.1.4.Key" (any version, or none) -> the prefix length and the key. */
static const char *split_message_id(const char *id, size_t *prefix_len)
{
    const char *last = strrchr(id, '.');
    *prefix_len = strcspn(id, ".");
    return last ? last + 1 : NULL;
}

/* The registry text for a message, or NULL. */
static const char *message_template(const struct events *ev, const char *message_id, int *nargs)
{
    size_t plen;
    const char *key = split_message_id(message_id, &plen);
    if (!key)
        return NULL;
    if (plen == strlen(EVENTS_RESOURCE_PREFIX) &&
        strncmp(message_id, EVENTS_RESOURCE_PREFIX, plen) == 0) {
        for (size_t i = 0; i < sizeof(resource_messages) / sizeof(resource_messages[0]); i++) {
            if (strcmp(key, resource_messages[i].key) == 0) {
                *nargs = 0;
                return resource_messages[i].text;
            }
        }
        return NULL;
    }
    if (plen != strlen(EVENTS_REGISTRY_PREFIX) ||
        strncmp(message_id, EVENTS_REGISTRY_PREFIX, plen) != 0)
        return NULL;
    json_t *m = json_object_get(ev->registry, key);
    *nargs = (int)json_integer_value(json_object_get(m, "NumberOfArgs"));
    return json_string_value(json_object_get(m, "Message"));
}

int events_message_nargs(const struct events *ev, const char *message_id)
{
    int nargs;
    return message_template(ev, message_id, &nargs) ? nargs : -1;
}

char *events_message_text(const struct events *ev, const char *message_id, const json_t *args)
{
    int nargs;
    const char *tmpl = message_template(ev, message_id, &nargs);
    if (!tmpl || (size_t)nargs != json_array_size(args))
        return NULL;
    size_t cap = strlen(tmpl) + 1;
    for (size_t i = 0; i < json_array_size(args); i++)
        cap += json_string_length(json_array_get(args, i));
    char *out = malloc(cap), *o = out;
    if (!out)
        return NULL;
    for (const char *p = tmpl; *p;) {
        if (p[0] == '%' && p[1] >= '1' && p[1] <= '9') {
            const char *arg = json_string_value(json_array_get(args, (size_t)(p[1] - '1')));
            size_t n = arg ? strlen(arg) : 0;
            memcpy(o, arg ? arg : "", n); /* each %n appears once: cap holds */
            o += n;
            p += 2;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

static void wake_all(struct events *ev)
{
    for (struct events_listener *l = ev->listeners, *next; l; l = next) {
        next = l->next;
        if (l->wake)
            l->wake(l);
    }
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

/* The record's Message and MessageArgs for listeners who may not watch a guarded port. */
struct unwatched {
    int64_t port_id;
    json_t *message, *args; /* stolen */
};

static uint64_t publish_record(struct events *ev, json_t *record, const char *resource_type,
                               struct unwatched *alt);

uint64_t events_publish(struct events *ev, json_t *record, const char *resource_type)
{
    return publish_record(ev, record, resource_type, NULL);
}

static uint64_t publish_record(struct events *ev, json_t *record, const char *resource_type,
                               struct unwatched *alt)
{
    uint64_t id = now_us();
    if (id <= ev->last_id)
        id = ev->last_id + 1;
    char idtext[24], stamp[40];
    snprintf(idtext, sizeof(idtext), "%" PRIu64, id);
    json_object_set_new(record, "EventId", json_string(idtext));
    json_object_set_new(record, "MemberId", json_string("0"));
    if (!json_object_get(record, "EventType"))
        json_object_set_new(record, "EventType", json_string("Other"));
    if (!json_object_get(record, "EventTimestamp")) {
        app_format_time((int64_t)(id / 1000000u), stamp, sizeof(stamp));
        json_object_set_new(record, "EventTimestamp", json_string(stamp));
    }
    json_t *event = json_pack("{s:s, s:s, s:s, s:[o]}", "@odata.type", EVENT_TYPE, "Id", idtext,
                              "Name", "vsc event", "Events", record);
    struct event e = {.id = id};
    e.payload = event ? json_dumps(event, JSON_COMPACT) : NULL;
    const char *mid = json_string_value(json_object_get(record, "MessageId"));
    const char *origin = json_string_value(
        json_object_get(json_object_get(record, "OriginOfCondition"), "@odata.id"));
    e.message_id = dup_or_empty(mid);
    e.origin = dup_or_empty(origin);
    e.resource_type = dup_or_empty(resource_type);
    bool alt_failed = false;
    if (alt && !event) { /* the record went with the failed pack */
        json_decref(alt->message);
        json_decref(alt->args);
        alt_failed = true;
    } else if (alt) { /* the same event (id, time) with the guarded argument replaced */
        json_object_set_new(record, "Message", alt->message);
        json_object_set_new(record, "MessageArgs", alt->args);
        e.watch_port_id = alt->port_id;
        e.payload_unwatched = json_dumps(event, JSON_COMPACT);
        alt_failed = !e.payload_unwatched;
    }
    json_decref(event);
    if (!e.payload || !e.message_id || !e.origin || !e.resource_type || alt_failed) {
        event_clear(&e);
        log_error("events: out of memory: an event was not published");
        return 0;
    }
    if (ev->next_seq - ev->head_seq == ev->cap) {
        struct event *oldest = &ev->ring[ev->head_seq++ % ev->cap];
        ev->evicted_id = oldest->id;
        event_clear(oldest);
    }
    ev->ring[ev->next_seq++ % ev->cap] = e;
    ev->last_id = id;
    ev->published++;
    log_debug("event %s: %s %s", idtext, e.message_id, e.origin);
    wake_all(ev);
    return id;
}

static json_t *new_record(const char *message_id, const char *severity, const char *origin_uri)
{
    json_t *rec = json_pack("{s:s, s:s}", "MessageId", message_id, "MessageSeverity", severity);
    if (rec && origin_uri && origin_uri[0])
        json_object_set_new(rec, "OriginOfCondition", json_pack("{s:s}", "@odata.id", origin_uri));
    return rec;
}

/* Fills Message and MessageArgs, then publishes; with alt_args (stolen), the variant for
 * listeners who may not watch port_id too. */
static void publish_message(struct events *ev, json_t *rec, json_t *args, const char *resource_type,
                            json_t *alt_args, int64_t port_id)
{
    const char *id = json_string_value(json_object_get(rec, "MessageId"));
    char *text = events_message_text(ev, id, args);
    char *alt_text = alt_args ? events_message_text(ev, id, alt_args) : NULL;
    json_t *alt_message = alt_text ? json_string(alt_text) : NULL;
    free(alt_text);
    /* A guarded event without its variant would show the guarded argument to all. */
    if (!rec || !args || !text || (port_id && !alt_message)) {
        json_decref(rec);
        json_decref(args);
        json_decref(alt_args);
        json_decref(alt_message);
        free(text);
        log_error("events: out of memory: an event was not published");
        return;
    }
    json_object_set_new(rec, "Message", json_string(text));
    json_object_set_new(rec, "MessageArgs", args);
    free(text);
    struct unwatched alt = {.port_id = port_id, .message = alt_message, .args = alt_args};
    publish_record(ev, rec, resource_type, port_id ? &alt : NULL);
}

void events_resource(struct events *ev, enum event_resource_change kind, const char *origin_uri,
                     const char *resource_type)
{
    char id[96];
    snprintf(id, sizeof(id), "%s.%s", EVENTS_RESOURCE_ID_PREFIX, resource_messages[kind].key);
    publish_message(ev, new_record(id, "OK", origin_uri), json_array(), resource_type, NULL, 0);
}

void events_vsc(struct events *ev, const char *message_key, const char *severity,
                const char *origin_uri, const char *resource_type, const char *const *args,
                size_t nargs, json_t *oem, const struct events_guard *guard)
{
    json_t *m = json_object_get(ev->registry, message_key);
    if (!m || json_integer_value(json_object_get(m, "NumberOfArgs")) != (json_int_t)nargs) {
        log_error("events: %s is not a VscEvents message with %zu argument(s)", message_key, nargs);
        json_decref(oem);
        return;
    }
    char id[96];
    snprintf(id, sizeof(id), "%s.%s", EVENTS_VSC_ID_PREFIX, message_key);
    json_t *rec = new_record(id, severity, origin_uri);
    json_t *a = json_array();
    for (size_t i = 0; a && i < nargs; i++)
        json_array_append_new(a, json_string(args[i] ? args[i] : ""));
    json_t *alt = NULL;
    int64_t guarded = guard && guard->arg < nargs ? guard->port_id : 0;
    if (guarded) {
        alt = json_deep_copy(a);
        if (alt)
            json_array_set_new(alt, guard->arg, json_string(guard->shown));
    }
    if (rec && oem)
        json_object_set(rec, "Oem", oem);
    json_decref(oem);
    publish_message(ev, rec, a, resource_type, alt, guarded);
}

void events_listen(struct events *ev, struct events_listener *l, bool resume, uint64_t after_id)
{
    l->seq = ev->next_seq;
    l->last_id = resume ? after_id : ev->last_id;
    l->lost = false;
    if (resume) {
        l->seq = ev->head_seq;
        while (l->seq < ev->next_seq && ev->ring[l->seq % ev->cap].id <= after_id)
            l->seq++;
        /* Gone: events of an earlier run, or of this run that left the backlog. */
        l->lost = after_id < ev->start_id || after_id < ev->evicted_id;
    }
    l->id = ev->next_listener_id++;
    l->prev = NULL;
    l->next = ev->listeners;
    if (l->next)
        l->next->prev = l;
    if (!ev->listeners)
        loop_timer_arm(ev->loop, &ev->timer, EVENTS_TICK_MS);
    ev->listeners = l;
}

void events_unlisten(struct events *ev, struct events_listener *l)
{
    if (l->prev)
        l->prev->next = l->next;
    else if (ev->listeners == l)
        ev->listeners = l->next;
    else
        return; /* not listening */
    if (l->next)
        l->next->prev = l->prev;
    l->prev = l->next = NULL;
    if (!ev->listeners)
        loop_timer_cancel(ev->loop, &ev->timer);
}

void events_end_all(struct events *ev)
{
    while (ev->listeners) {
        struct events_listener *l = ev->listeners;
        if (l->end)
            l->end(l); /* unlistens */
        if (ev->listeners == l)
            events_unlisten(ev, l);
    }
}

struct events_listener *events_find_listener(struct events *ev, unsigned id)
{
    for (struct events_listener *l = ev->listeners; l; l = l->next) {
        if (l->id == id)
            return l;
    }
    return NULL;
}

enum events_next_result events_next(struct events *ev, struct events_listener *l,
                                    const struct event **out)
{
    if (l->seq < ev->head_seq) {
        l->seq = ev->head_seq; /* fell out of the backlog: skip ahead, say so once */
        l->lost = true;
    }
    if (l->lost) {
        l->lost = false;
        ev->lost_notices++;
        return EVENTS_LOST;
    }
    while (l->seq < ev->next_seq) {
        const struct event *e = &ev->ring[l->seq++ % ev->cap];
        struct event_facts facts = {e->message_id, e->origin, e->resource_type};
        if (event_filter_match(l->filter, &facts)) {
            l->last_id = e->id;
            *out = e;
            return EVENTS_EVENT;
        }
    }
    return EVENTS_NONE;
}

char *events_lost_notice(struct events *ev, uint64_t after_id)
{
    char after[24], id[96], stamp[40];
    snprintf(after, sizeof(after), "%" PRIu64, after_id);
    snprintf(id, sizeof(id), "%s.EventsLost", EVENTS_VSC_ID_PREFIX);
    json_t *args = json_pack("[s]", after);
    char *text = events_message_text(ev, id, args);
    app_format_time(time(NULL), stamp, sizeof(stamp));
    json_t *event =
        json_pack("{s:s, s:s, s:s, s:[{s:s, s:s, s:s, s:s, s:s, s:s, s:o}]}", "@odata.type",
                  EVENT_TYPE, "Id", "lost", "Name", "vsc event stream notice", "Events", "MemberId",
                  "0", "EventType", "Other", "EventTimestamp", stamp, "MessageId", id,
                  "MessageSeverity", "Warning", "Message", text ? text : "", "MessageArgs", args);
    free(text);
    char *out = event ? json_dumps(event, JSON_COMPACT) : NULL;
    json_decref(event);
    return out;
}
