#include "console.h"

#include "grow.h"
#include "port_rights.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int console_init(struct console *c, size_t ring_size)
{
    memset(c, 0, sizeof(*c));
    return ring_init(&c->ring, ring_size);
}

void console_fini(struct console *c)
{
    ring_fini(&c->ring);
    free(c->input);
    c->input = NULL;
    c->readers = NULL;
}

/* Forgets private ranges the ring no longer holds and no reader has yet to pass (a reader
 * behind the tail needs them to tell what it missed from what was hidden from it). */
static void private_trim(struct console *c)
{
    uint64_t tail = ring_tail(&c->ring);
    if (!c->npriv || c->priv[0].end > tail)
        return; /* the common case: nothing to drop, no reader to look at */
    for (const struct console_reader *r = c->readers; r; r = r->next) {
        if (r->offset < tail)
            tail = r->offset;
    }
    size_t drop = 0;
    while (drop < c->npriv && c->priv[drop].end <= tail &&
           !(c->mode == CONSOLE_PRIVATE && drop == c->npriv - 1))
        drop++;
    if (drop) {
        memmove(c->priv, c->priv + drop, (c->npriv - drop) * sizeof(c->priv[0]));
        c->npriv -= drop;
    }
}

/* Opens a range at the head for a private mode that starts now. When the list is full,
 * the two oldest ranges merge into one nobody sees: more is hidden, nothing leaks. */
static void private_open(struct console *c, const char *holder)
{
    private_trim(c);
    if (c->npriv == CONSOLE_PRIVATE_RANGES) {
        c->priv[0].end = c->priv[1].end;
        c->priv[0].holder[0] = '\0';
        memmove(c->priv + 1, c->priv + 2, (c->npriv - 2) * sizeof(c->priv[0]));
        c->npriv--;
    }
    struct console_private_range *pr = &c->priv[c->npriv++];
    pr->start = pr->end = c->ring.head;
    snprintf(pr->holder, sizeof(pr->holder), "%s", holder);
}

void console_store(struct console *c, const void *data, size_t len)
{
    ring_write(&c->ring, data, len);
    if (c->mode == CONSOLE_PRIVATE && c->npriv)
        c->priv[c->npriv - 1].end = c->ring.head;
    c->bytes_from_vm += len;
}

void console_notify(struct console *c)
{
    c->shown = c->ring.head;
    for (struct console_reader *r = c->readers, *next; r; r = next) {
        next = r->next; /* notify may detach r */
        r->notify(r);
    }
}

uint64_t console_held(const struct console *c)
{
    return c->ring.head - c->shown;
}

void console_output(struct console *c, const void *data, size_t len)
{
    if (!len)
        return;
    console_store(c, data, len);
    console_notify(c);
}

int console_input(struct console *c, const void *data, size_t len)
{
    if (!c->connected)
        return -ENOTCONN;
    if (c->input_len + len > CONSOLE_INPUT_MAX)
        return -ENOSPC;
    if (grow_bytes(&c->input, &c->input_cap, c->input_len + len, 1024) < 0)
        return -ENOSPC;
    memcpy(c->input + c->input_len, data, len);
    c->input_len += len;
    if (c->input_ready)
        c->input_ready(c);
    return 0;
}

size_t console_input_pending(const struct console *c, const uint8_t **data)
{
    *data = c->input;
    return c->input_len;
}

void console_input_consumed(struct console *c, size_t n)
{
    if (n > c->input_len)
        n = c->input_len;
    memmove(c->input, c->input + n, c->input_len - n);
    c->input_len -= n;
    c->bytes_to_vm += n;
}

void console_set_connected(struct console *c, bool connected)
{
    c->connected = connected;
    if (!connected)
        c->input_len = 0;
}

void console_attach(struct console *c, struct console_reader *r, uint64_t history)
{
    uint64_t tail = ring_tail(&c->ring);
    uint64_t held = c->shown > tail ? c->shown - tail : 0;
    r->offset = c->shown - (history < held ? history : held);
    if (r->offset < tail) /* a batch not shown yet overran the ring: nothing missed here */
        r->offset = tail;
    r->missed = 0;
    r->next = c->readers;
    c->readers = r;
}

static void announce(struct console *c)
{
    for (struct console_reader *r = c->readers, *next; r; r = next) {
        next = r->next;
        if (r->mode)
            r->mode(r);
    }
}

static void mode_change(struct console *c, enum console_mode mode, const char *holder,
                        const char *by, bool forced, const char *reason)
{
    if (c->mode_changing)
        c->mode_changing(c);
    if (mode == CONSOLE_PRIVATE && !(c->mode == CONSOLE_PRIVATE && strcmp(c->holder, holder) == 0))
        private_open(c, holder);
    c->mode = mode;
    snprintf(c->holder, sizeof(c->holder), "%s", mode == CONSOLE_FREE ? "" : holder);
    snprintf(c->changed_by, sizeof(c->changed_by), "%s", by);
    c->forced = forced;
    c->reason = reason;
    announce(c);
    if (c->mode_changed)
        c->mode_changed(c);
}

void console_detach(struct console *c, struct console_reader *r)
{
    bool found = false;
    for (struct console_reader **p = &c->readers; *p; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            r->next = NULL;
            found = true;
            break;
        }
    }
    if (found && !r->local && c->mode != CONSOLE_FREE && strcmp(c->holder, r->user) == 0 &&
        !console_user_attached(c, r->user, NULL))
        mode_change(c, CONSOLE_FREE, "", r->user, false, "holder left");
}

void console_holder_lost_right(struct console *c, const char *by)
{
    if (c->mode != CONSOLE_FREE)
        mode_change(c, CONSOLE_FREE, "", by, false, "holder lost the right");
}

void console_user_renamed(struct console *c, const char *old, const char *now, const char *by)
{
    for (size_t i = 0; i < c->npriv; i++) {
        if (strcmp(c->priv[i].holder, old) == 0)
            snprintf(c->priv[i].holder, sizeof(c->priv[i].holder), "%s", now ? now : "");
    }
    for (struct console_reader *r = c->readers; r && now; r = r->next) {
        if (!r->local && strcmp(r->user, old) == 0)
            snprintf(r->user, sizeof(r->user), "%s", now);
    }
    if (c->mode == CONSOLE_FREE || strcmp(c->holder, old) != 0)
        return;
    if (!now) {
        mode_change(c, CONSOLE_FREE, "", by, false, "holder deleted");
        return;
    }
    snprintf(c->holder, sizeof(c->holder), "%s", now); /* the same mode: no new range */
    mode_change(c, c->mode, now, by, c->forced, "holder renamed");
}

bool console_user_attached(const struct console *c, const char *user,
                           const struct console_reader *except)
{
    for (const struct console_reader *r = c->readers; r; r = r->next) {
        if (r != except && !r->local && strcmp(r->user, user) == 0)
            return true;
    }
    return false;
}

static bool is_holder(const struct console *c, const struct console_reader *r)
{
    return !r->local && c->mode != CONSOLE_FREE && strcmp(c->holder, r->user) == 0;
}

bool console_reader_sees(const struct console *c, const struct console_reader *r)
{
    if (!(r->rights & PORT_RIGHT_WATCH))
        return false;
    return c->mode != CONSOLE_PRIVATE || is_holder(c, r);
}

/* The private range that hides `offset` from `r`, or NULL. */
static const struct console_private_range *hidden_at(const struct console *c,
                                                     const struct console_reader *r,
                                                     uint64_t offset, uint64_t *next_start)
{
    *next_start = UINT64_MAX;
    for (size_t i = 0; i < c->npriv; i++) {
        const struct console_private_range *pr = &c->priv[i];
        bool mine = !r->local && pr->holder[0] && strcmp(pr->holder, r->user) == 0;
        if (mine || pr->end <= offset)
            continue;
        if (pr->start <= offset)
            return pr;
        if (pr->start < *next_start)
            *next_start = pr->start;
    }
    return NULL;
}

size_t console_peek(struct console *c, struct console_reader *r, const uint8_t **data, size_t max)
{
    if (!(r->rights & PORT_RIGHT_WATCH)) {
        r->offset = c->ring.head; /* no right to watch: nothing is delivered */
        return 0;
    }
    uint64_t missed, next_start, tail = ring_tail(&c->ring);
    private_trim(c);
    const struct console_private_range *pr;
    for (;;) {
        while ((pr = hidden_at(c, r, r->offset, &next_start)) != NULL)
            r->offset = pr->end; /* private output: skipped, not counted as missed */
        if (r->offset >= tail)
            break;
        /* Fell behind the tail: what it could have seen up to the next hidden range (or
         * the tail) is missed. */
        uint64_t upto = next_start < tail ? next_start : tail;
        r->missed += upto - r->offset;
        r->offset = upto;
    }
    size_t n = ring_peek(&c->ring, &r->offset, data, max, &missed);
    if (next_start != UINT64_MAX && r->offset + n > next_start)
        n = (size_t)(next_start - r->offset);
    if (r->offset + n > c->shown) /* stored for a batch that is not due yet */
        n = r->offset < c->shown ? (size_t)(c->shown - r->offset) : 0;
    return n;
}

const char *console_mode_name(enum console_mode mode)
{
    switch (mode) {
    case CONSOLE_OBSERVE:
        return "ObserveOnly";
    case CONSOLE_PRIVATE:
        return "Private";
    default:
        return "Free";
    }
}

int console_mode_parse(const char *name, bool strict, enum console_mode *out)
{
    static const struct {
        const char *name;
        enum console_mode mode;
    } names[] = {{"Free", CONSOLE_FREE},
                 {"ObserveOnly", CONSOLE_OBSERVE},
                 {"Observe", CONSOLE_OBSERVE},
                 {"Private", CONSOLE_PRIVATE}};
    for (size_t i = 0; name && i < sizeof(names) / sizeof(names[0]); i++) {
        bool observe_alias =
            names[i].mode == CONSOLE_OBSERVE && strcmp(names[i].name, "Observe") == 0;
        if (strict ? !observe_alias && strcmp(name, names[i].name) == 0
                   : strcasecmp(name, names[i].name) == 0) {
            *out = names[i].mode;
            return 0;
        }
    }
    return -EINVAL;
}

int console_may_input(const struct console *c, const char *user, uint32_t rights, bool local)
{
    if (!(rights & PORT_RIGHT_CONTROL))
        return -EACCES;
    if (c->mode != CONSOLE_FREE && (local || strcmp(c->holder, user) != 0))
        return -EBUSY;
    return 0;
}

int console_mode_check(const struct console *c, enum console_mode mode, const char *user,
                       uint32_t rights, bool force)
{
    if ((mode == CONSOLE_OBSERVE && !(rights & PORT_RIGHT_OBSERVE)) ||
        (mode == CONSOLE_PRIVATE && !(rights & PORT_RIGHT_PRIVATE)))
        return -EPERM;
    if (mode == CONSOLE_FREE && c->mode == CONSOLE_FREE)
        return 0; /* nothing to release: anyone may ask */
    bool others = c->mode != CONSOLE_FREE && strcmp(c->holder, user) != 0;
    if (others && !force)
        return -EBUSY;
    if (others && !(rights & PORT_RIGHT_FORCE))
        return -EPERM;
    return 0;
}

int console_set_mode(struct console *c, enum console_mode mode, const char *user, uint32_t rights,
                     bool force)
{
    int rc = console_mode_check(c, mode, user, rights, force);
    if (rc < 0)
        return rc;
    bool others = c->mode != CONSOLE_FREE && strcmp(c->holder, user) != 0;
    if (mode == c->mode && (mode == CONSOLE_FREE || !others))
        return 0;
    mode_change(c, mode, user, user, others, mode == CONSOLE_FREE ? "released" : "set");
    return 1;
}

int console_send_input(struct console *c, const char *user, uint32_t rights, bool local,
                       const void *data, size_t len)
{
    int rc = console_may_input(c, user, rights, local);
    return rc < 0 ? rc : console_input(c, data, len);
}

const char *console_refusal_text(int rc, const struct console *c, char *buf, size_t bufsz)
{
    switch (rc) {
    case -ENOTCONN:
        return "no VM is attached to this port; input not sent";
    case -ENOSPC:
        return "input queue full; input not sent";
    case -EACCES:
        return "no control right on this port; input not sent";
    case -EBUSY:
        snprintf(buf, bufsz, "port is %s by '%s'; input not sent",
                 c->mode == CONSOLE_PRIVATE ? "private" : "observe-only", c->holder);
        return buf;
    default:
        return "input not sent";
    }
}
