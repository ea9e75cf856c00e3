#include "batch_pace.h"

#define WINDOW_NS ((uint64_t)BATCH_PACE_WINDOW_MS * 1000000u)

void batch_pace_init(struct batch_pace *p, uint32_t max_ms, uint64_t now_ns, uint64_t busy_ns)
{
    *p = (struct batch_pace){.max_ms = max_ms, .window_ns = now_ns, .window_busy_ns = busy_ns};
}

static uint32_t raised(const struct batch_pace *p)
{
    uint64_t ms = (uint64_t)p->ms + p->ms / 2 + 1;
    return ms > p->max_ms ? p->max_ms : (uint32_t)ms;
}

/* Halved once per window the last one spanned: after a quiet spell (no output, so nobody
 * asked) the delay is not the one of the busy time before it. */
static uint32_t lowered(const struct batch_pace *p, uint64_t window_len_ns)
{
    uint64_t windows = window_len_ns / WINDOW_NS;
    return windows >= 32 ? 0 : p->ms >> windows;
}

uint32_t batch_pace_ms(struct batch_pace *p, uint64_t now_ns, uint64_t busy_ns)
{
    uint64_t len = now_ns - p->window_ns;
    if (len < WINDOW_NS)
        return p->ms;
    uint64_t busy = busy_ns - p->window_busy_ns;
    if (busy * 100 > len * BATCH_PACE_BUSY_HIGH)
        p->ms = raised(p);
    else if (busy * 100 < len * BATCH_PACE_BUSY_LOW)
        p->ms = lowered(p, len);
    p->window_ns = now_ns;
    p->window_busy_ns = busy_ns;
    return p->ms;
}

uint32_t batch_pace_until_slot(uint64_t id, uint32_t period_ms, uint64_t now_ms)
{
    uint32_t slot = (uint32_t)(id * 2654435761u) >> 29; /* Fibonacci hashing: the top 3 bits */
    uint64_t phase = (uint64_t)slot * period_ms / BATCH_PACE_SLOTS;
    return period_ms - (uint32_t)((now_ms + phase) % period_ms);
}
