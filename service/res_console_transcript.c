/*
 * .../LogServices/Console/Oem/Vsc/Transcript: a VM's raw console output from the history
 * (history.h) as text/plain, every port merged in time order (or one: ?Port=N).
 *   (nothing)         the last TRANSCRIPT_DEFAULT_TAIL bytes: "what did it say last"
 *   ?Tail=N           the last N bytes (1..TRANSCRIPT_MAX)
 *   ?Start=T&End=T    the output that arrived in [Start, End) (RFC 3339 date-times; either
 *                     may be left out); with Tail too: the last N bytes of that range
 * At most TRANSCRIPT_MAX bytes are answered; the header `Vsc-Transcript-Truncated: true`
 * then says more exists (ask again from a later Start). Output the history could not keep
 * shows as a line "[vsc: N bytes of console output were not kept]". A port whose Watch an
 * access rule denies the user is left out (?Port= of it: 403), as its WebSocket refuses them.
 * The reading (files, checksums: up to 16 MiB, 150 ms of CPU here for a VM's whole history)
 * runs on the worker thread (worker.h), never in the loop that serves the consoles.
 */
#include "app.h"
#include "base_registry.h"
#include "grow.h"
#include "history.h"
#include "port_rights.h"
#include "ports.h"
#include "resources.h"
#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRANSCRIPT_DEFAULT_TAIL 65536
#define TRANSCRIPT_MAX          (16 * 1024 * 1024)

bool console_history_kept(struct vsc_app *app, const char *vm_uuid)
{
    return history_has(app->history, vm_uuid);
}

void console_history_describe(struct vsc_app *app, const char *vm_uuid, json_t *oem)
{
    uint64_t bytes = 0;
    int64_t first = 0, last = 0;
    json_object_set_new(oem, "HistoryBytes", json_integer(0));
    if (history_stat(app->history, vm_uuid, &bytes, &first, &last) < 0)
        return;
    char when[40];
    json_object_set_new(oem, "HistoryBytes", json_integer((json_int_t)bytes));
    app_format_time_us(first, when, sizeof(when));
    json_object_set_new(oem, "HistoryStart", json_string(when));
    app_format_time_us(last, when, sizeof(when));
    json_object_set_new(oem, "HistoryEnd", json_string(when));
}

struct transcript_query {
    int64_t from_us, to_us; /* INT64_MIN, INT64_MAX: open */
    int port;               /* 0: all */
    uint64_t tail;          /* 0: none */
    /* With port 0: the ports the user may watch (bit = port index), when an access rule
     * denies Watch on some port of the VM; 0 = every port. (A VM has at most 16.) */
    uint32_t only;
    /* Output a private mode hid (history.h, HISTORY_FLAG_PRIVATE) is shown only to
     * Administrators, the service's owners (docs/SECURITY.md); to others a line counts it. */
    bool show_private;
};

/* *out is left alone when the parameter is absent. (1970-01-01T00:00:00Z is 0, a time
 * like any other: absence is not told by the value.) */
static int parse_time_param(struct rf_request *req, const char *name, int64_t *out,
                            struct rf_response *r)
{
    bool present;
    const char *v = rf_query_value(req, name, &present);
    if (!present)
        return 0;
    if (!v || app_parse_time_us(v, out) < 0) {
        rf_error(r, 400, msg_query_parameter_value_format_error(v ? v : "", name));
        return -1;
    }
    return 0;
}

static int parse_count_param(struct rf_request *req, const char *name, long long lo, long long hi,
                             long long *out, struct rf_response *r)
{
    bool present;
    const char *v = rf_query_value(req, name, &present);
    if (!present)
        return 0;
    char *end = NULL;
    long long n = v && *v >= '0' && *v <= '9' ? strtoll(v, &end, 10) : -1;
    if (!end || *end || n < lo || n > hi) {
        rf_error(r, 400, msg_query_parameter_out_of_range(v ? v : "", name, "a whole number"));
        return -1;
    }
    *out = n;
    return 0;
}

static int parse_query(struct rf_request *req, struct transcript_query *q, struct rf_response *r)
{
    long long port = 0, tail = 0;
    *q = (struct transcript_query){.from_us = INT64_MIN,
                                   .to_us = INT64_MAX,
                                   .show_private = req->who.privileges & PRIV_CONFIGURE_MANAGER};
    if (parse_time_param(req, "Start", &q->from_us, r) < 0 ||
        parse_time_param(req, "End", &q->to_us, r) < 0 ||
        parse_count_param(req, "Port", 1, 9999, &port, r) < 0 ||
        parse_count_param(req, "Tail", 1, TRANSCRIPT_MAX, &tail, r) < 0)
        return -1;
    if (q->to_us <= q->from_us) {
        rf_error(r, 400, msg_query_combination_invalid());
        return -1;
    }
    q->port = (int)port;
    q->tail = (uint64_t)tail;
    if (q->from_us == INT64_MIN && q->to_us == INT64_MAX && !q->tail)
        q->tail = TRANSCRIPT_DEFAULT_TAIL;
    return 0;
}

struct text {
    char *buf;
    size_t len, cap, max;
    size_t keep; /* > 0: a tail, only the newest `keep` bytes count (max is not used) */
    bool truncated;
};

/* Keeps the newest t->keep bytes of buf. */
static void text_keep_tail(struct text *t)
{
    if (t->len > t->keep) {
        memmove(t->buf, t->buf + t->len - t->keep, t->keep);
        t->len = t->keep;
    }
}

/* 0, 1 = full (truncated: stop reading), -ENOMEM. A tail is never full: its first record
 * may start long before its last `keep` bytes (records that share one time, after the
 * clock went back; gap lines, which history_tail_start() does not count), so it keeps a
 * window instead, slid once it holds half as much again: memory stays about 1.5 * keep
 * and every byte is copied at most twice. */
static int text_add(struct text *t, const void *data, size_t len)
{
    if (t->keep) {
        if (t->len + len > t->keep + t->keep / 2 + 65536)
            text_keep_tail(t);
        if (len > t->keep) {
            data = (const char *)data + (len - t->keep);
            len = t->keep;
            t->len = 0;
        }
    } else if (t->len + len > t->max) {
        len = t->max - t->len;
        t->truncated = true;
    }
    if (grow_bytes(&t->buf, &t->cap, t->len + len, 65536) < 0)
        return -ENOMEM;
    memcpy(t->buf + t->len, data, len);
    t->len += len;
    return t->truncated ? 1 : 0;
}

/* The line that stands for private output the reader may not see; 0 or as text_add(). */
static int add_hidden(struct text *t, uint64_t *hidden)
{
    if (!*hidden)
        return 0;
    char line[96];
    int n = snprintf(line, sizeof(line), "\r\n[vsc: %llu bytes of private output not shown]\r\n",
                     (unsigned long long)*hidden);
    *hidden = 0;
    return text_add(t, line, (size_t)n);
}

/* Reads [from, to) of the VM's history into t. 0 or -errno. */
static int read_range(struct history *h, const char *uuid, const struct transcript_query *q,
                      int64_t from, struct text *t)
{
    struct history_cursor *c;
    int rc = history_cursor_open(h, uuid, q->port, from, q->to_us, &c);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    struct history_chunk ch;
    uint64_t hidden = 0; /* private bytes in a row, told as one line */
    while ((rc = history_cursor_next(c, &ch)) == 1) {
        char gap[96];
        int added;
        if (q->only && (ch.port_idx >= 32 || !(q->only & 1u << ch.port_idx)))
            continue; /* a port the user may not watch */
        if (ch.private_output && !q->show_private) {
            hidden += ch.len;
            continue;
        }
        added = add_hidden(t, &hidden);
        if (added != 0) {
            rc = added < 0 ? added : 0;
            break;
        }
        if (ch.lost) {
            int n = snprintf(gap, sizeof(gap),
                             "\r\n[vsc: %llu bytes of console output were not kept]\r\n",
                             (unsigned long long)ch.lost);
            added = text_add(t, gap, (size_t)n);
        } else {
            added = text_add(t, ch.data, ch.len);
        }
        if (added != 0) {
            rc = added < 0 ? added : 0;
            break;
        }
    }
    if (rc == 0) {
        int added = add_hidden(t, &hidden);
        rc = added < 0 ? added : 0;
    }
    history_cursor_close(c);
    return rc < 0 ? rc : 0;
}

/* One transcript read, done on the worker thread: nothing in it touches the loop's state. */
struct transcript_job {
    struct history *h;
    char uuid[sizeof(((struct vm *)0)->uuid)];
    struct transcript_query q;
    struct text t;
    int rc;
};

/* Where the last q->tail bytes begin (INT64_MIN: not known): over the query's port(s), or
 * the earliest over the ports the user may watch (from there each has at least its own
 * last `tail` bytes; text_add() keeps the newest). */
static int64_t tail_begins(const struct transcript_job *j)
{
    const struct transcript_query *q = &j->q;
    int64_t from, earliest = INT64_MAX;
    if (!q->only)
        return history_tail_start(j->h, j->uuid, q->port, q->tail, q->to_us, &from) == 0
                   ? from
                   : INT64_MIN;
    for (int idx = 1; idx < 32; idx++) {
        if ((q->only & 1u << idx) &&
            history_tail_start(j->h, j->uuid, idx, q->tail, q->to_us, &from) == 0 &&
            from < earliest)
            earliest = from;
    }
    return earliest == INT64_MAX ? INT64_MIN : earliest;
}

static void transcript_read(void *arg)
{
    struct transcript_job *j = arg;
    const struct transcript_query *q = &j->q;
    int64_t from = q->from_us;
    if (q->to_us <= 0)
        return; /* nothing is kept from before 1970 (and 0 would be "no end" to history.h) */
    if (q->tail) {
        int64_t tail_from = tail_begins(j);
        if (tail_from > from)
            from = tail_from;
    }
    /* A tail is cut to size after reading: its first record may start before it. */
    j->t.max = TRANSCRIPT_MAX;
    j->t.keep = q->tail;
    j->rc = read_range(j->h, j->uuid, q, from, &j->t);
    if (j->rc == 0 && q->tail)
        text_keep_tail(&j->t);
}

static void transcript_job_free(void *arg)
{
    struct transcript_job *j = arg;
    free(j->t.buf);
    free(j);
}

static const char transcript_tag[] = "transcript";

/* The read's result: from this request's memo, or started now (NULL: pending or failed,
 * recorded in r). */
static struct transcript_job *transcript_result(struct rf_request *req, const char *uuid,
                                                const struct transcript_query *q,
                                                struct rf_response *r)
{
    struct transcript_job *j = rf_async_result(req->async, transcript_tag);
    if (j)
        return j;
    j = calloc(1, sizeof(*j));
    if (!j) {
        rf_error(r, 500, msg_internal_error());
        return NULL;
    }
    j->h = req->app->history;
    snprintf(j->uuid, sizeof(j->uuid), "%s", uuid);
    j->q = *q;
    int rc = rf_async_call(req->async, transcript_tag, transcript_read, j, transcript_job_free);
    if (rc < 0) {
        rf_worker_error(r, rc);
        return NULL;
    }
    return rf_async_result(req->async, transcript_tag);
}

/* Access rules deny Watch per port (port_rights.h): a port's output a user may not watch
 * live is not theirs in the history either. Narrows q to the ports the user may watch;
 * -1 with 403 when that leaves none. A freed VM has no ports, so no rules: roles decide. */
static int watchable_ports(struct rf_request *req, const struct rf_log_target *t,
                           struct transcript_query *q, struct rf_response *r)
{
    uint32_t may = 0, denied = 0;
    for (struct port *p = t->live ? req->app->ports.ports : NULL; p; p = p->next) {
        if (p->vm != t->live || p->idx < 1 || p->idx >= 32)
            continue;
        if (port_rights(req->app, p->id, req->who.user, req->who.role) & PORT_RIGHT_WATCH)
            may |= 1u << p->idx;
        else
            denied |= 1u << p->idx;
    }
    bool refused = q->port ? q->port < 32 && (denied & 1u << q->port) : denied && !may;
    if (refused) {
        rf_error(r, 403, msg_insufficient_privilege());
        return -1;
    }
    if (!q->port && denied)
        q->only = may;
    return 0;
}

static void get_transcript(struct rf_request *req, struct rf_response *r)
{
    struct rf_log_target target;
    struct transcript_query q;
    if (rf_log_target(req, r, &target) < 0 || parse_query(req, &q, r) < 0 ||
        watchable_ports(req, &target, &q, r) < 0)
        return;
    struct transcript_job *j = transcript_result(req, target.vm.uuid, &q, r);
    if (!j)
        return;
    if (j->rc < 0) {
        rf_error(r, 500, msg_internal_error());
        return;
    }
    char disposition[128];
    snprintf(disposition, sizeof(disposition), "inline; filename=\"%s-console.txt\"",
             target.vm.name);
    rf_set_header(r, "Content-Disposition", disposition);
    if (j->t.truncated)
        rf_set_header(r, "Vsc-Transcript-Truncated", "true");
    r->raw = j->t.buf ? j->t.buf : strdup(""); /* the answer takes the buffer */
    r->raw_len = j->t.len;
    j->t.buf = NULL;
    r->content_type = "text/plain";
    r->status = r->raw ? 200 : 500;
}

static const struct route routes[] = {
    {"/redfish/v1/Systems/{id}/LogServices/Console/Oem/Vsc/Transcript", HTTP_GET, get_transcript,
     PRIV_LOGIN, 0, "LogService"},
};
ROUTE_TABLE(transcript_routes, routes);
