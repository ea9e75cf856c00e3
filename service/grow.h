/*
 * grow — the one way a byte buffer grows here: doubling from a first size until it holds
 * what is needed (amortized O(1) appends, no exact-fit reallocations).
 */
#ifndef VSC_GROW_H
#define VSC_GROW_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Makes the buffer *bufp (any char-sized pointer, NULL at first) hold at least `need` bytes;
 * *cap is its size. 0, or -ENOMEM with the buffer untouched. */
static inline int grow_bytes(void *bufp, size_t *cap, size_t need, size_t first)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : first;
    while (n < need)
        n *= 2;
    void *old;
    memcpy(&old, bufp, sizeof(old)); /* char, unsigned char and void pointers look alike */
    void *p = realloc(old, n);
    if (!p)
        return -ENOMEM;
    memcpy(bufp, &p, sizeof(p));
    *cap = n;
    return 0;
}

#endif
