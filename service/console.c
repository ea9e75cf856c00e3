#include "console.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

void console_output(struct console *c, const void *data, size_t len)
{
    if (!len)
        return;
    ring_write(&c->ring, data, len);
    c->bytes_from_vm += len;
    for (struct console_reader *r = c->readers, *next; r; r = next) {
        next = r->next; /* notify may detach r */
        r->notify(r);
    }
}

int console_input(struct console *c, const void *data, size_t len)
{
    if (!c->connected)
        return -ENOTCONN;
    if (c->input_len + len > CONSOLE_INPUT_MAX)
        return -ENOSPC;
    if (c->input_len + len > c->input_cap) {
        size_t cap = c->input_cap ? c->input_cap : 1024;
        while (cap < c->input_len + len)
            cap *= 2;
        uint8_t *n = realloc(c->input, cap);
        if (!n)
            return -ENOSPC;
        c->input = n;
        c->input_cap = cap;
    }
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
    uint64_t held = c->ring.head - tail;
    r->offset = c->ring.head - (history < held ? history : held);
    r->missed = 0;
    r->next = c->readers;
    c->readers = r;
}

void console_detach(struct console *c, struct console_reader *r)
{
    for (struct console_reader **p = &c->readers; *p; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            r->next = NULL;
            return;
        }
    }
}

size_t console_peek(struct console *c, struct console_reader *r, const uint8_t **data, size_t max)
{
    uint64_t missed;
    size_t n = ring_peek(&c->ring, &r->offset, data, max, &missed);
    r->missed += missed;
    return n;
}
