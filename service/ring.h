/*
 * ring — a fixed-size byte ring addressed by 64-bit absolute offsets (obmc-console's
 * idea with redis-style reader limits on top, in console.c).
 *
 * The ring holds the last `size` bytes ever written: bytes [head - size, head) when
 * head >= size. Readers keep their own absolute offset; ring_read() tells a reader that
 * fell behind how many bytes it missed and moves it to the oldest byte still held.
 * Writes never block and never fail: old bytes are overwritten.
 */
#ifndef VSC_RING_H
#define VSC_RING_H

#include <stddef.h>
#include <stdint.h>

struct ring {
    uint8_t *buf;
    size_t size;   /* power of two */
    uint64_t head; /* absolute offset of the next byte written */
};

/* size is rounded up to a power of two (at least 4096). Returns 0 or -ENOMEM. */
int ring_init(struct ring *r, size_t size);
void ring_fini(struct ring *r);

void ring_write(struct ring *r, const void *data, size_t len);

/* The oldest offset still held. */
uint64_t ring_tail(const struct ring *r);

/*
 * Points *data at up to `max` contiguous bytes from *offset and returns their count
 * (0 when the reader is up to date). When *offset is older than the tail, *missed gets
 * the number of bytes lost and *offset moves to the tail first.
 */
size_t ring_peek(const struct ring *r, uint64_t *offset, const uint8_t **data, size_t max,
                 uint64_t *missed);

/* Copies the bytes [from, head) that are still held into out (at most max); returns count. */
size_t ring_copy(const struct ring *r, uint64_t from, uint8_t *out, size_t max);

#endif
