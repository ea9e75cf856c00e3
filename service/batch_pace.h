/*
 * batch_pace — how long console output may wait before it reaches the viewers, from how
 * busy the event loop is.
 *
 * Each read of a console's output costs one send per viewer. With a few viewers that is
 * cheap and output goes at once; with hundreds those sends fill the loop's core, and every
 * client then waits in a queue anyway. Output held back a few milliseconds leaves in fewer,
 * larger sends (docs/BENCHMARKS.md measures it). The pace looks at the share of each
 * window the loop spent working, and moves the delay: above BATCH_PACE_BUSY_HIGH percent
 * up by half again (at least 1 ms, at most max_ms); below BATCH_PACE_BUSY_LOW halved for
 * each window that passed (down to 0); in between it holds, so it settles instead of
 * swinging. Pure: the caller passes the clock and the loop's busy total.
 */
#ifndef VSC_BATCH_PACE_H
#define VSC_BATCH_PACE_H

#include <stdint.h>

#define BATCH_PACE_WINDOW_MS 250
#define BATCH_PACE_BUSY_HIGH 50
#define BATCH_PACE_BUSY_LOW  25
#define BATCH_PACE_SLOTS     8 /* per period: see batch_pace_until_slot() */

struct batch_pace {
    uint32_t max_ms;         /* 0: never batches */
    uint32_t ms;             /* the delay now */
    uint64_t window_ns;      /* when the current window began */
    uint64_t window_busy_ns; /* the loop's busy total then */
};

void batch_pace_init(struct batch_pace *p, uint32_t max_ms, uint64_t now_ns, uint64_t busy_ns);

/* The delay to use now, in ms. Once the window is BATCH_PACE_WINDOW_MS old it is judged
 * and a new one begins. now_ns: loop_now_ns(); busy_ns: loop_busy_ns(). */
uint32_t batch_pace_ms(struct batch_pace *p, uint64_t now_ns, uint64_t busy_ns);

/* When the batch of port `id` is due, in ms from now_ms, in (0, period_ms]: at its slot of
 * each period, one of BATCH_PACE_SLOTS (from a hash of its Id). Ports whose consoles print
 * together then send to their viewers an eighth at a time, not all in one loop iteration
 * with everyone waiting behind that burst; few enough slots that each still fills an
 * io_uring_enter() (finer slots cost 10 % more CPU in B, docs/BENCHMARKS.md). */
uint32_t batch_pace_until_slot(uint64_t id, uint32_t period_ms, uint64_t now_ms);

#endif
