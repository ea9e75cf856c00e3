/*
 * events — Redfish events, free of HTTP: a bounded backlog of recent events and the
 * listeners that read it (res_event_service.c serves each listener as a server-sent event
 * stream, DSP0266 §13.5.2). docs/events.md describes what is published.
 *
 * Contract:
 * - Event ids are decimal, unique and increasing, also across restarts: an event's id is
 *   max(the previous id + 1, the wall clock in microseconds). A restarted vscd thus starts
 *   above every id an earlier run gave out, unless that run published more than a million
 *   events a second on average or the clock went back.
 * - The backlog keeps the last `backlog` events (config event_backlog), in memory only.
 *   Publishing never blocks and never waits for a listener: it appends (dropping the
 *   oldest event when full) and wakes every listener at once.
 * - A listener is a cursor into the backlog plus a filter. A listener that falls out of the
 *   backlog (it read too slowly, or resumed after an id older than the backlog or than this
 *   run) is told once — events_next() answers EVENTS_LOST — and then continues with the
 *   oldest event kept. Memory stays bounded by the backlog whatever listeners do.
 * - Message texts come from the registries: DMTF's ResourceEvent for events_resource(),
 *   vsc's own VscEvents registry (schemas/redfish/VscEvents.1.0.0.json, compiled in) for
 *   events_vsc().
 */
#ifndef VSC_EVENTS_H
#define VSC_EVENTS_H

#include "loop.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_filter;

#define EVENTS_REGISTRY_PREFIX  "VscEvents"
#define EVENTS_REGISTRY_VERSION "1.0.0"
#define EVENTS_RESOURCE_PREFIX  "ResourceEvent"
#define EVENTS_RESOURCE_VERSION "1.4.3"
/* MessageId = prefix "." major "." minor "." key (DSP0266 §9.6.3). */
#define EVENTS_RESOURCE_ID_PREFIX "ResourceEvent.1.4"
#define EVENTS_VSC_ID_PREFIX      "VscEvents.1.0"
#define EVENTS_TICK_MS            1000 /* how often listeners' tick() runs (keep-alives) */

enum event_resource_change { EVENT_CREATED, EVENT_REMOVED, EVENT_CHANGED };

struct event {
    uint64_t id;
    char *payload;       /* the Event resource (JSON, compact) */
    char *message_id;    /* "ResourceEvent.1.4.ResourceCreated" */
    char *origin;        /* the OriginOfCondition URI, "" when none */
    char *resource_type; /* "SerialInterface", "" when unknown */
    /* Set when an argument is a port's console output (struct events_guard): listeners who
     * may not watch that port get payload_unwatched, the same event with it replaced. */
    int64_t watch_port_id;   /* 0: none */
    char *payload_unwatched; /* NULL when watch_port_id is 0 */
};

/* For events_vsc(): argument `arg` is port `port_id`'s console output (a line it printed),
 * which a user an access rule denies Watch may not read (docs/events.md); `shown` stands
 * in for it in what they receive. */
struct events_guard {
    int64_t port_id;
    size_t arg;
    const char *shown;
};

enum events_next_result { EVENTS_NONE, EVENTS_EVENT, EVENTS_LOST };

struct events_listener {
    uint64_t seq;                      /* next backlog position to look at */
    uint64_t last_id;                  /* the last event id delivered (or resumed after) */
    bool lost;                         /* a notice is due */
    const struct event_filter *filter; /* NULL: every event */
    unsigned id;                       /* unique in this run, from 1 (the EventDestination Id) */
    void (*wake)(struct events_listener *l); /* an event or a notice is waiting */
    void (*tick)(struct events_listener *l); /* every EVENTS_TICK_MS; may be NULL */
    void (*end)(struct events_listener *l);  /* the service stops: unlisten and end */
    struct events_listener *prev, *next;
};

struct events {
    struct event *ring;
    size_t cap;
    uint64_t head_seq, next_seq; /* kept: positions [head_seq, next_seq) */
    uint64_t last_id;            /* the newest id given out (or the start seed) */
    uint64_t start_id;           /* ids below this one are from before this run */
    uint64_t evicted_id;         /* the newest id dropped from the backlog (0: none) */
    unsigned next_listener_id;
    struct events_listener *listeners;
    json_t *registry; /* the VscEvents registry's Messages */
    struct loop *loop;
    struct loop_timer timer;
    uint64_t published, lost_notices;
};

/* `backlog` >= 1. 0, or -ENOMEM / -EINVAL (the compiled-in registry does not parse). */
int events_init(struct events *ev, struct loop *loop, size_t backlog);
/* Listeners must have been removed (their streams closed) before. */
void events_fini(struct events *ev);

/* ResourceEvent.1.x.ResourceCreated / ResourceRemoved / ResourceChanged for a resource. */
void events_resource(struct events *ev, enum event_resource_change kind, const char *origin_uri,
                     const char *resource_type);

/* An event from vsc's own VscEvents registry: message key (e.g. "ConsoleStateChanged"),
 * severity ("OK", "Warning", "Critical"), origin, resource type, the message arguments
 * (strings, as the registry declares them), an optional Oem object (owned by the call,
 * may be NULL) and an optional guard (an argument not every listener may read). An
 * unknown key or a wrong argument count is logged and nothing published. */
void events_vsc(struct events *ev, const char *message_key, const char *severity,
                const char *origin_uri, const char *resource_type, const char *const *args,
                size_t nargs, json_t *oem, const struct events_guard *guard);

/*
 * Publishes one EventRecord (stolen): adds EventId, MemberId and, when absent,
 * EventTimestamp, wraps it in an Event and wakes the listeners. The record's MessageId and
 * OriginOfCondition are what filters see. Returns the event id, 0 when out of memory.
 */
uint64_t events_publish(struct events *ev, json_t *record, const char *resource_type);

/* The message text of a registered message ("ResourceEvent.1.4.ResourceCreated" or
 * "VscEvents.1.0.EventsLost", any version) with `args` filled in; NULL when unknown
 * or the argument count differs. malloc'd. */
char *events_message_text(const struct events *ev, const char *message_id, const json_t *args);
/* The NumberOfArgs of a registered message (as above, any version); -1 when unknown. */
int events_message_nargs(const struct events *ev, const char *message_id);

/*
 * Starts a listener: with `resume`, at the first kept event after `after_id` (a notice
 * first when events after it are no longer kept); without, at the next event published.
 * The caller set l->filter, l->wake and l->tick.
 */
void events_listen(struct events *ev, struct events_listener *l, bool resume, uint64_t after_id);
void events_unlisten(struct events *ev, struct events_listener *l);
/* Before the HTTP server stops: every listener's end(). */
void events_end_all(struct events *ev);
struct events_listener *events_find_listener(struct events *ev, unsigned id);

/* The next thing for a listener: EVENTS_EVENT with *out (valid until the next publish),
 * EVENTS_LOST (build the notice with events_lost_notice(), for l->last_id), EVENTS_NONE. */
enum events_next_result events_next(struct events *ev, struct events_listener *l,
                                    const struct event **out);

/* The Event payload telling a listener that events after `after_id` were lost (JSON,
 * malloc'd). Not in the backlog and without an id of its own. */
char *events_lost_notice(struct events *ev, uint64_t after_id);

#endif
