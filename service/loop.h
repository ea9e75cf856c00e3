/*
 * loop — the one event loop vscd owns: epoll over every fd (the HTTP server's own
 * epoll fd, console fds, upgraded WebSockets, signalfd), plus one-shot timers.
 *
 * Contract:
 * - Single-threaded. Callbacks must not block; they return LOOP_OK to keep the watch
 *   or LOOP_REMOVE to have the loop unregister it after the callback returns.
 * - A watch may be removed from inside any callback (loop_del) and its memory freed at
 *   once: loop_del forgets the watch's pending events of the current iteration.
 * - Timers are one-shot; loop_timer_arm re-arms an armed timer. Arming and cancelling
 *   cost O(1) for delays up to LOOP_WHEEL_MS (a wheel of 1-ms slots), however many
 *   timers are armed and however they cluster; longer ones wait in a sorted list.
 *   Timers fire in order of due time, equal ones in arming order.
 * - A "prepare" hook runs before each wait and may shorten the wait (libmicrohttpd's
 *   own timeout), and runs its work hook after every wake-up.
 * - Each iteration: ready fds, then deferred work, then the send batch (send_batch.h:
 *   the sends the deferred work queued leave together), then due timers.
 * - It counts the time it spends working (everything but the wait): loop_busy_ns().
 */
#ifndef VSC_LOOP_H
#define VSC_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct epoll_event;
struct send_batch;

enum { LOOP_OK = 0, LOOP_REMOVE = 1 };

struct loop;
struct loop_watch;
typedef int (*loop_fd_cb)(struct loop_watch *w, uint32_t events);

struct loop_watch {
    int fd;
    uint32_t events; /* EPOLLIN, EPOLLOUT, ... */
    loop_fd_cb cb;
    void *data;
    bool active; /* registered with epoll */
};

/* Work to run once at the end of the current loop iteration, after every ready fd was
 * handled: it batches what several events produced (one write per client per wake-up). */
struct loop_deferred {
    void (*cb)(struct loop_deferred *d);
    void *data;
    struct loop_deferred *prev, *next;
    struct loop_deferred **list; /* the list it is queued on; NULL when not queued */
};

struct loop_timer;
/* Timers due in one millisecond (a wheel slot), or further than the wheel reaches. */
struct loop_timer_list {
    struct loop_timer *head, *tail;
};

struct loop_timer {
    uint64_t due_ms;
    void (*cb)(struct loop_timer *t);
    void *data;
    struct loop_timer *next, *prev;
    struct loop_timer_list *list; /* where it waits; NULL when not armed */
    bool armed;
};

#define LOOP_WHEEL_MS 2048 /* a power of two: the wheel's slots, one per millisecond */

/* Called before every wait: returns the longest wait in ms it allows (-1 = no limit). */
typedef int64_t (*loop_prepare_cb)(void *data);
/* Called after every wake-up, whatever woke the loop. */
typedef void (*loop_after_cb)(void *data);

struct loop {
    int epfd;
    bool stop;
    uint64_t wheel_ms;                           /* the wheel has turned past this millisecond */
    struct loop_timer_list late;                 /* armed for a millisecond already past */
    struct loop_timer_list wheel[LOOP_WHEEL_MS]; /* due in (wheel_ms, wheel_ms + size] */
    struct loop_timer_list far;                  /* due later: sorted, equal ones in arming order */
    size_t timers;                               /* armed, in all */
    size_t wheeled;                              /* armed, in the wheel */
    struct loop_deferred *deferred;              /* runs after this iteration's events */
    struct loop_deferred *deferred_next;         /* deferred while those run: the next iteration */
    bool running_deferred;
    loop_prepare_cb prepare;
    loop_after_cb after;
    void *hook_data;
    struct epoll_event *ready; /* events of the iteration being dispatched */
    int ready_count;
    struct send_batch *batch; /* flushed after each iteration's deferred work; may be NULL */
    uint64_t busy_ns;         /* spent outside epoll_wait since loop_init (loop_busy_ns) */
    uint64_t woke_ns;         /* when the running iteration's wait returned; 0 outside loop_run */
};

int loop_init(struct loop *l);
void loop_fini(struct loop *l);

/* Returns 0 or -errno. */
int loop_add(struct loop *l, struct loop_watch *w);
int loop_mod(struct loop *l, struct loop_watch *w, uint32_t events);
void loop_del(struct loop *l, struct loop_watch *w);

/* Queues d to run once after this iteration's events (no-op when queued); O(1). A
 * callback that defers again runs in the next iteration, which then does not wait. */
void loop_defer(struct loop *l, struct loop_deferred *d);
void loop_defer_cancel(struct loop *l, struct loop_deferred *d);
/* Runs everything deferred now, including what that defers (shutdown, after loop_run()). */
void loop_run_deferred(struct loop *l);

void loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t delay_ms);
void loop_timer_cancel(struct loop *l, struct loop_timer *t);

/* Runs until loop_stop(); returns 0, or -errno if epoll itself failed. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

/* Monotonic clock in milliseconds, and in nanoseconds. */
uint64_t loop_now_ms(void);
uint64_t loop_now_ns(void);

/* Nanoseconds the loop has spent working (not waiting) since loop_init(), the running
 * iteration included: the difference over a window, divided by its length, is the share of
 * a core the loop uses. */
uint64_t loop_busy_ns(const struct loop *l);

#endif
