/*
 * loop — the one event loop vscd owns: epoll over every fd (the HTTP server's own
 * epoll fd, console fds, upgraded WebSockets, signalfd), plus one-shot timers.
 *
 * Contract:
 * - Single-threaded. Callbacks must not block; they return LOOP_OK to keep the watch
 *   or LOOP_REMOVE to have the loop unregister it after the callback returns.
 * - A watch may be removed from inside any callback (loop_del) and its memory freed at
 *   once: loop_del forgets the watch's pending events of the current iteration.
 * - Timers are one-shot, kept in a sorted list; loop_timer_arm re-arms an armed timer.
 * - A "prepare" hook runs before each wait and may shorten the wait (libmicrohttpd's
 *   own timeout), and runs its work hook after every wake-up.
 */
#ifndef VSC_LOOP_H
#define VSC_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct epoll_event;

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

struct loop_timer {
    uint64_t due_ms;
    void (*cb)(struct loop_timer *t);
    void *data;
    struct loop_timer *next;
    bool armed;
};

/* Called before every wait: returns the longest wait in ms it allows (-1 = no limit). */
typedef int64_t (*loop_prepare_cb)(void *data);
/* Called after every wake-up, whatever woke the loop. */
typedef void (*loop_after_cb)(void *data);

struct loop {
    int epfd;
    bool stop;
    struct loop_timer *timers; /* sorted by due_ms */
    loop_prepare_cb prepare;
    loop_after_cb after;
    void *hook_data;
    struct epoll_event *ready; /* events of the iteration being dispatched */
    int ready_count;
};

int loop_init(struct loop *l);
void loop_fini(struct loop *l);

/* Returns 0 or -errno. */
int loop_add(struct loop *l, struct loop_watch *w);
int loop_mod(struct loop *l, struct loop_watch *w, uint32_t events);
void loop_del(struct loop *l, struct loop_watch *w);

void loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t delay_ms);
void loop_timer_cancel(struct loop *l, struct loop_timer *t);

/* Runs until loop_stop(); returns 0, or -errno if epoll itself failed. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

/* Monotonic clock in milliseconds. */
uint64_t loop_now_ms(void);

#endif
