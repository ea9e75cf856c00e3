#include "ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int ring_init(struct ring *r, size_t size)
{
    size_t s = 4096;
    while (s < size)
        s <<= 1;
    r->buf = malloc(s);
    if (!r->buf)
        return -ENOMEM;
    r->size = s;
    r->head = 0;
    return 0;
}

void ring_fini(struct ring *r)
{
    free(r->buf);
    r->buf = NULL;
    r->size = 0;
}

void ring_write(struct ring *r, const void *data, size_t len)
{
    const uint8_t *p = data;
    if (len > r->size) { /* only the last `size` bytes can be kept */
        p += len - r->size;
        r->head += len - r->size;
        len = r->size;
    }
    size_t pos = (size_t)(r->head & (r->size - 1));
    size_t first = r->size - pos < len ? r->size - pos : len;
    memcpy(r->buf + pos, p, first);
    memcpy(r->buf, p + first, len - first);
    r->head += len;
}

uint64_t ring_tail(const struct ring *r)
{
    return r->head > r->size ? r->head - r->size : 0;
}

size_t ring_peek(const struct ring *r, uint64_t *offset, const uint8_t **data, size_t max,
                 uint64_t *missed)
{
    *missed = 0;
    uint64_t tail = ring_tail(r);
    if (*offset < tail) {
        *missed = tail - *offset;
        *offset = tail;
    }
    if (*offset > r->head)
        *offset = r->head; /* a reader from the future (bad resume offset) starts live */
    size_t avail = (size_t)(r->head - *offset);
    size_t pos = (size_t)(*offset & (r->size - 1));
    size_t contiguous = r->size - pos;
    size_t n = avail < contiguous ? avail : contiguous;
    if (n > max)
        n = max;
    *data = r->buf + pos;
    return n;
}

size_t ring_copy(const struct ring *r, uint64_t from, uint8_t *out, size_t max)
{
    uint64_t missed;
    size_t total = 0;
    while (total < max) {
        const uint8_t *d;
        size_t n = ring_peek(r, &from, &d, max - total, &missed);
        if (!n)
            break;
        memcpy(out + total, d, n);
        total += n;
        from += n;
    }
    return total;
}
