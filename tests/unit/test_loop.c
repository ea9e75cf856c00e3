/* loop: one-shot timers, fd watches, and removing watches from inside callbacks. */
#include "test.h"

#include "loop.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define GUARD_MS 3000 /* every loop test ends by then, pass or fail */

struct timer_log {
    struct loop *loop;
    int order[16];
    int n;
    int stop_after; /* stop the loop after this many firings (0 = never) */
};

struct tagged_timer {
    struct loop_timer t;
    int id;
    struct timer_log *log;
    uint64_t armed_at, fired_at;
    int fired;
    int rearm; /* times left to re-arm itself */
};

static void tagged_cb(struct loop_timer *t)
{
    struct tagged_timer *tt = t->data;
    tt->fired++;
    tt->fired_at = loop_now_ms();
    if (tt->log->n < (int)ARRAY_LEN(tt->log->order))
        tt->log->order[tt->log->n] = tt->id;
    tt->log->n++;
    CHECK(!t->armed); /* a fired timer is disarmed before its callback runs */
    if (tt->rearm > 0) {
        tt->rearm--;
        loop_timer_arm(tt->log->loop, t, 1);
    }
    if (tt->log->stop_after && tt->log->n >= tt->log->stop_after)
        loop_stop(tt->log->loop);
}

static void tagged_init(struct tagged_timer *tt, int id, struct timer_log *log)
{
    memset(tt, 0, sizeof(*tt));
    tt->t.cb = tagged_cb;
    tt->t.data = tt;
    tt->id = id;
    tt->log = log;
}

static void tagged_arm(struct tagged_timer *tt, uint64_t delay)
{
    tt->armed_at = loop_now_ms();
    loop_timer_arm(tt->log->loop, &tt->t, delay);
}

static bool guard_fired;

static void guard_cb(struct loop_timer *t)
{
    guard_fired = true;
    loop_stop(t->data);
}

/* Arms a timer that stops a loop that would otherwise run forever. */
static void arm_guard(struct loop *l, struct loop_timer *guard)
{
    memset(guard, 0, sizeof(*guard));
    guard->cb = guard_cb;
    guard->data = l;
    guard_fired = false;
    loop_timer_arm(l, guard, GUARD_MS);
}

/* Timers a, b, c, d (ids 1 to 4), armed in that order with `delays`. */
static void arm_four(struct timer_log *log, struct tagged_timer *t[4], const uint64_t delays[4])
{
    for (int i = 0; i < 4; i++)
        tagged_init(t[i], i + 1, log);
    for (int i = 0; i < 4; i++)
        tagged_arm(t[i], delays[i]);
}

/* Runs the loop until the four have fired (the log stops it); checks they did, in `order`. */
static void run_four(struct loop *l, struct timer_log *log, struct loop_timer *guard,
                     const int order[4])
{
    arm_guard(l, guard);
    CHECK_EQ_INT(loop_run(l), 0);
    CHECK(!guard_fired);
    CHECK_EQ_INT(log->n, 4);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(log->order[i], order[i]);
}

TEST(loop_timers_fire_in_order)
{
    struct loop l;
    REQUIRE(loop_init(&l) == 0);
    struct timer_log log = {.loop = &l, .stop_after = 4};
    struct tagged_timer a, b, c, d;
    arm_four(&log, (struct tagged_timer *[]){&a, &b, &c, &d}, (const uint64_t[]){60, 20, 40, 0});
    CHECK(a.t.armed && b.t.armed && c.t.armed && d.t.armed);
    struct loop_timer guard;
    run_four(&l, &log, &guard, (const int[]){4, 2, 3, 1});
    /* None fired early. */
    CHECK(b.fired_at - b.armed_at >= 20);
    CHECK(c.fired_at - c.armed_at >= 40);
    CHECK(a.fired_at - a.armed_at >= 60);
    CHECK(!a.t.armed && !b.t.armed && !c.t.armed && !d.t.armed);
    CHECK(guard.armed); /* still waiting */
    loop_timer_cancel(&l, &guard);
    CHECK_EQ_INT(l.timers, 0);
    loop_fini(&l);
}

/* Past the wheel's reach (LOOP_WHEEL_MS) timers wait in a sorted list and join the wheel
 * as it turns: all fire in order of due time, whichever place they waited in. */
TEST(loop_timers_beyond_the_wheel_fire_in_order)
{
    struct loop l;
    REQUIRE(loop_init(&l) == 0);
    struct timer_log log = {.loop = &l, .stop_after = 4};
    struct tagged_timer a, b, c, d;
    /* a and b beyond the wheel (b due first), c at the wheel's far end, d soon */
    arm_four(&log, (struct tagged_timer *[]){&a, &b, &c, &d},
             (const uint64_t[]){LOOP_WHEEL_MS + 60, LOOP_WHEEL_MS + 20, LOOP_WHEEL_MS - 10, 30});
    CHECK(a.t.list == &l.far && b.t.list == &l.far && c.t.list != &l.far);
    struct loop_timer guard;
    run_four(&l, &log, &guard, (const int[]){4, 3, 2, 1});
    CHECK(a.fired_at - a.armed_at >= LOOP_WHEEL_MS + 60);
    CHECK(b.fired_at - b.armed_at >= LOOP_WHEEL_MS + 20);
    loop_timer_cancel(&l, &guard);
    CHECK_EQ_INT(l.timers, 0);
    CHECK_EQ_INT(l.wheeled, 0);
    loop_fini(&l);
}

TEST(loop_timers_with_equal_due_fire_in_arming_order)
{
    struct loop l;
    REQUIRE(loop_init(&l) == 0);
    struct timer_log log = {.loop = &l, .stop_after = 3};
    struct tagged_timer t[3];
    for (int i = 0; i < 3; i++)
        tagged_init(&t[i], i + 1, &log);
    /* Same delay, armed in a row: due times are equal or increasing. */
    for (int i = 0; i < 3; i++)
        tagged_arm(&t[i], 5);
    struct loop_timer guard;
    arm_guard(&l, &guard);
    CHECK_EQ_INT(loop_run(&l), 0);
    CHECK(!guard_fired);
    CHECK_EQ_INT(log.n, 3);
    CHECK_EQ_INT(log.order[0], 1);
    CHECK_EQ_INT(log.order[1], 2);
    CHECK_EQ_INT(log.order[2], 3);
    loop_timer_cancel(&l, &guard);
    loop_fini(&l);
}

TEST(loop_timer_rearm_and_cancel)
{
    struct loop l;
    REQUIRE(loop_init(&l) == 0);
    struct timer_log log = {.loop = &l};
    struct tagged_timer moved, cancelled, periodic, stopper;
    tagged_init(&moved, 1, &log);
    tagged_init(&cancelled, 2, &log);
    tagged_init(&periodic, 3, &log);
    tagged_init(&stopper, 4, &log);

    /* Re-arming an armed timer moves it (it fires once, at the new time). */
    tagged_arm(&moved, 10000);
    tagged_arm(&moved, 10);
    /* A cancelled timer never fires; cancelling twice is harmless. */
    tagged_arm(&cancelled, 5);
    loop_timer_cancel(&l, &cancelled.t);
    loop_timer_cancel(&l, &cancelled.t);
    CHECK(!cancelled.t.armed);
    /* A timer may re-arm itself from its callback. */
    periodic.rearm = 2;
    tagged_arm(&periodic, 1);
    /* The stopper goes last and ends the run. */
    tagged_arm(&stopper, 150);
    log.stop_after = 0;
    struct loop_timer guard;
    arm_guard(&l, &guard);

    CHECK_EQ_INT(l.timers, 4); /* moved, periodic, stopper, guard */

    log.stop_after = 1 + 3 + 1; /* moved, periodic x3, stopper */
    CHECK_EQ_INT(loop_run(&l), 0);
    CHECK(!guard_fired);
    CHECK_EQ_INT(moved.fired, 1);
    CHECK(moved.fired_at - moved.armed_at < 5000);
    CHECK_EQ_INT(cancelled.fired, 0);
    CHECK_EQ_INT(periodic.fired, 3);
    CHECK_EQ_INT(stopper.fired, 1);
    CHECK_EQ_INT(log.n, 5);
    CHECK_EQ_INT(log.order[4], 4);
    loop_timer_cancel(&l, &guard);
    CHECK_EQ_INT(l.timers, 0);
    loop_fini(&l);
}

/* ---- fd watches ------------------------------------------------------------------------- */

struct pipe_watch {
    struct loop_watch w;
    struct loop *loop;
    int rfd, wfd;
    int calls;
    uint32_t events;
    char got;
};

static int pipe_cb(struct loop_watch *w, uint32_t events)
{
    struct pipe_watch *p = w->data;
    p->calls++;
    p->events |= events;
    if (events & EPOLLIN) {
        if (read(w->fd, &p->got, 1) != 1)
            test_fail(__FILE__, __LINE__, "read from the pipe failed");
    }
    loop_stop(p->loop);
    return LOOP_REMOVE;
}

static int open_pipe(struct pipe_watch *p, struct loop *l, loop_fd_cb cb)
{
    memset(p, 0, sizeof(*p));
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    p->rfd = fds[0];
    p->wfd = fds[1];
    p->loop = l;
    p->w.fd = p->rfd;
    p->w.events = EPOLLIN;
    p->w.cb = cb;
    p->w.data = p;
    return 0;
}

static void close_pipe(struct pipe_watch *p)
{
    close(p->rfd);
    close(p->wfd);
}

TEST(loop_watch_pipe_gets_epollin)
{
    struct loop l;
    REQUIRE(loop_init(&l) == 0);
    struct pipe_watch p;
    REQUIRE(open_pipe(&p, &l, pipe_cb) == 0);
    CHECK_EQ_INT(loop_add(&l, &p.w), 0);
    CHECK(p.w.active);
    /* Adding the same fd twice is an error, not a second watch. */
    CHECK(loop_add(&l, &p.w) < 0);

    struct loop_timer guard;
    arm_guard(&l, &guard);
    CHECK_EQ_INT(write(p.wfd, "x", 1), 1);
    CHECK_EQ_INT(loop_run(&l), 0);
    CHECK(!guard_fired);
    CHECK_EQ_INT(p.calls, 1);
    CHECK(p.events & EPOLLIN);
    CHECK_EQ_INT(p.got, 'x');
    /* LOOP_REMOVE unregistered it. */
    CHECK(!p.w.active);
    loop_del(&l, &p.w); /* again: harmless */

    loop_timer_cancel(&l, &guard);
    close_pipe(&p);
    loop_fini(&l);
}

TEST(loop_watch_silent_fd_is_not_called)
{
    struct loop l;
    REQUIRE(loop_init(&l) == 0);
    struct pipe_watch p;
    REQUIRE(open_pipe(&p, &l, pipe_cb) == 0);
    CHECK_EQ_INT(loop_add(&l, &p.w), 0);
    struct timer_log log = {.loop = &l, .stop_after = 1};
    struct tagged_timer stopper;
    tagged_init(&stopper, 1, &log);
    tagged_arm(&stopper, 30);
    CHECK_EQ_INT(loop_run(&l), 0);
    CHECK_EQ_INT(p.calls, 0); /* nothing written: no callback */
    CHECK_EQ_INT(stopper.fired, 1);
    CHECK(p.w.active);
    loop_del(&l, &p.w);
    CHECK(!p.w.active);
    close_pipe(&p);
    loop_fini(&l);
}

/*
 * Two watches ready in the same iteration; whichever runs first deletes the other.
 * The deleted one's event is pending in the same epoll_wait batch and must not be
 * delivered. With `free_deleted` the deleted watch is also freed at once, as the
 * contract allows (a delivery would then be a use-after-free for ASan to report);
 * without, a delivery is counted.
 */
struct pair {
    struct loop *loop;
    struct pipe_watch *w[2];
    bool deleted[2];
    int calls[2];
    int delivered_after_delete;
    bool free_deleted;
};

static struct pair *the_pair;

static int pair_cb(struct loop_watch *w, uint32_t events)
{
    (void)events;
    struct pair *pr = the_pair;
    int me = w->data == pr->w[0] ? 0 : 1;
    if (pr->deleted[me]) {
        pr->delivered_after_delete++;
        return LOOP_OK;
    }
    pr->calls[me]++;
    char c;
    if (read(w->fd, &c, 1) != 1)
        test_fail(__FILE__, __LINE__, "read from the pipe failed");
    int other = 1 - me;
    if (!pr->deleted[other]) {
        struct pipe_watch *o = pr->w[other];
        loop_del(pr->loop, &o->w);
        pr->deleted[other] = true;
        CHECK(!o->w.active);
        if (pr->free_deleted) {
            close_pipe(o);
            free(o);
            pr->w[other] = NULL;
        }
    }
    return LOOP_OK;
}

static void run_pair(bool free_deleted)
{
    struct loop l;
    REQUIRE(loop_init(&l) == 0);
    struct pair pr = {.loop = &l, .free_deleted = free_deleted};
    the_pair = &pr;
    for (int i = 0; i < 2; i++) {
        pr.w[i] = malloc(sizeof(*pr.w[i]));
        REQUIRE(pr.w[i] != NULL);
        REQUIRE(open_pipe(pr.w[i], &l, pair_cb) == 0);
        REQUIRE(loop_add(&l, &pr.w[i]->w) == 0);
        REQUIRE(write(pr.w[i]->wfd, "x", 1) == 1);
    }
    /* Both are readable before the loop waits: one epoll_wait returns both. */
    struct timer_log log = {.loop = &l, .stop_after = 1};
    struct tagged_timer stopper;
    tagged_init(&stopper, 1, &log);
    tagged_arm(&stopper, 50);
    CHECK_EQ_INT(loop_run(&l), 0);

    CHECK_EQ_INT(pr.calls[0] + pr.calls[1], 1);
    CHECK_EQ_INT(pr.delivered_after_delete, 0);
    CHECK(pr.deleted[0] != pr.deleted[1]);
    CHECK_EQ_INT(l.ready_count, 0);
    CHECK(l.ready == NULL);
    for (int i = 0; i < 2; i++) {
        if (pr.w[i]) {
            CHECK(pr.w[i]->w.active == !pr.deleted[i]);
            loop_del(&l, &pr.w[i]->w);
            close_pipe(pr.w[i]);
            free(pr.w[i]);
        }
    }
    the_pair = NULL;
    loop_fini(&l);
}

TEST(loop_del_inside_callback_drops_pending_event)
{
    run_pair(false);
}

TEST(loop_del_inside_callback_then_free)
{
    run_pair(true);
}

/* A callback that deletes itself and returns LOOP_REMOVE: the loop's own loop_del
 * must then be a no-op. */
static int self_delete_cb(struct loop_watch *w, uint32_t events)
{
    struct pipe_watch *p = w->data;
    (void)events;
    p->calls++;
    char c;
    if (read(w->fd, &c, 1) != 1)
        test_fail(__FILE__, __LINE__, "read from the pipe failed");
    loop_del(p->loop, w);
    return LOOP_REMOVE;
}

TEST(loop_del_self_then_remove)
{
    struct loop l;
    REQUIRE(loop_init(&l) == 0);
    struct pipe_watch p;
    REQUIRE(open_pipe(&p, &l, self_delete_cb) == 0);
    REQUIRE(loop_add(&l, &p.w) == 0);
    REQUIRE(write(p.wfd, "xy", 2) == 2); /* still readable after the first read */
    struct timer_log log = {.loop = &l, .stop_after = 1};
    struct tagged_timer stopper;
    tagged_init(&stopper, 1, &log);
    tagged_arm(&stopper, 30);
    CHECK_EQ_INT(loop_run(&l), 0);
    CHECK_EQ_INT(p.calls, 1); /* deleted: the byte left over is never reported */
    CHECK(!p.w.active);
    /* The fd may be watched again afterwards. */
    CHECK_EQ_INT(loop_add(&l, &p.w), 0);
    loop_del(&l, &p.w);
    close_pipe(&p);
    loop_fini(&l);
}

TEST(loop_mod_changes_events)
{
    struct loop l;
    REQUIRE(loop_init(&l) == 0);
    struct pipe_watch p;
    REQUIRE(open_pipe(&p, &l, pipe_cb) == 0);
    /* Watch the write end for EPOLLOUT (a fresh pipe is writable). */
    p.w.fd = p.wfd;
    p.w.events = 0;
    REQUIRE(loop_add(&l, &p.w) == 0);
    CHECK_EQ_INT(loop_mod(&l, &p.w, EPOLLOUT), 0);
    CHECK_EQ_INT(p.w.events, EPOLLOUT);
    struct loop_timer guard;
    arm_guard(&l, &guard);
    CHECK_EQ_INT(loop_run(&l), 0);
    CHECK(!guard_fired);
    CHECK_EQ_INT(p.calls, 1);
    CHECK(p.events & EPOLLOUT);
    loop_timer_cancel(&l, &guard);
    close_pipe(&p);
    loop_fini(&l);
}

/* ---- deferred work ------------------------------------------------------------------- */

struct deferred_probe {
    struct loop_deferred d;
    struct loop *loop;
    int runs;
    int redefer;                   /* defer again this many times */
    struct deferred_probe *cancel; /* cancels this one when it runs */
    int *total;                    /* runs of every probe; the loop stops at 3 */
};

static void deferred_cb(struct loop_deferred *d)
{
    struct deferred_probe *p = d->data;
    p->runs++;
    (*p->total)++;
    if (p->cancel)
        loop_defer_cancel(p->loop, &p->cancel->d);
    if (p->redefer-- > 0)
        loop_defer(p->loop, d);
    else if (*p->total >= 3)
        loop_stop(p->loop);
}

static void probe_init(struct deferred_probe *p, struct loop *l, int *total)
{
    memset(p, 0, sizeof(*p));
    p->d.cb = deferred_cb;
    p->d.data = p;
    p->loop = l;
    p->total = total;
}

TEST(loop_deferred_runs_once_per_queueing)
{
    struct loop l;
    REQUIRE(loop_init(&l) == 0);
    struct loop_timer guard;
    arm_guard(&l, &guard);
    int total = 0;
    struct deferred_probe a;
    probe_init(&a, &l, &total);
    a.redefer = 2;
    loop_defer(&l, &a.d);
    loop_defer(&l, &a.d); /* already queued: no second run */
    REQUIRE(loop_run(&l) == 0);
    CHECK(!guard_fired); /* re-deferring does not wait for the guard timer */
    CHECK_EQ_INT(a.runs, 3);
    loop_fini(&l);
}

TEST(loop_deferred_cancel_from_another_callback)
{
    struct loop l;
    REQUIRE(loop_init(&l) == 0);
    struct loop_timer guard;
    arm_guard(&l, &guard);
    int total = 0;
    struct deferred_probe a, b, c;
    probe_init(&a, &l, &total);
    probe_init(&b, &l, &total);
    probe_init(&c, &l, &total);
    loop_defer(&l, &c.d);
    loop_defer(&l, &b.d);
    loop_defer(&l, &a.d); /* the newest runs first: a cancels b before b runs */
    a.cancel = &b;
    loop_timer_arm(&l, &guard, 50); /* only two run: the guard stops the loop soon */
    (void)loop_run(&l);
    CHECK(guard_fired);
    CHECK_EQ_INT(a.runs, 1);
    CHECK_EQ_INT(b.runs, 0);
    CHECK_EQ_INT(c.runs, 1);
    loop_defer_cancel(&l, &b.d); /* not queued: harmless */
    loop_fini(&l);
}

TEST(loop_run_deferred_without_the_loop)
{
    struct loop l;
    REQUIRE(loop_init(&l) == 0);
    int total = 0;
    struct deferred_probe a, b;
    probe_init(&a, &l, &total);
    probe_init(&b, &l, &total);
    a.redefer = 1; /* what a callback defers runs too */
    loop_defer(&l, &a.d);
    loop_defer(&l, &b.d);
    loop_run_deferred(&l); /* as at shutdown: loop_run() has returned */
    CHECK_EQ_INT(a.runs, 2);
    CHECK_EQ_INT(b.runs, 1);
    loop_run_deferred(&l); /* nothing left */
    CHECK_EQ_INT(total, 3);
    loop_fini(&l);
}

static void noop_timer(struct loop_timer *t)
{
    (void)t;
}

/* Thousands of timers armed, re-armed and cancelled in any order: the list stays sorted
 * (equal due times in arming order), linked both ways, with the right tail. */
/* Walks one list, checking its links; `prev_due`/`prev` carry the order check across lists
 * taken in due order. Returns the timers listed. */
static int check_list(struct loop_timer_list *list, const struct loop_timer *base,
                      const unsigned *seq, const struct loop_timer **prev, bool *ok)
{
    int n = 0;
    const struct loop_timer *last = NULL;
    for (const struct loop_timer *p = list->head; p; last = p, p = p->next) {
        n++;
        *ok = *ok && p->armed && p->list == list && p->prev == last;
        const struct loop_timer *q = *prev;
        if (q && *ok)
            *ok =
                q->due_ms < p->due_ms || (q->due_ms == p->due_ms && seq[q - base] < seq[p - base]);
        *prev = p;
    }
    *ok = *ok && list->tail == last;
    return n;
}

TEST(loop_timers_stay_in_due_order_under_churn)
{
    struct loop l;
    REQUIRE(loop_init(&l) == 0);
    enum { N = 3000 };
    static struct loop_timer t[N];
    static unsigned seq[N];
    unsigned next_seq = 0, rnd = 12345;
    memset(t, 0, sizeof(t));
    for (int i = 0; i < N; i++)
        t[i].cb = noop_timer;
    for (int step = 0; step < 20000; step++) {
        rnd = rnd * 1103515245u + 12345u;
        int i = (int)((rnd >> 8) % N);
        if ((rnd >> 4) % 5 == 0) {
            loop_timer_cancel(&l, &t[i]);
        } else { /* many at one delay (clustered), the rest spread in and past the wheel */
            loop_timer_arm(&l, &t[i], (rnd >> 12) % 3 == 0 ? 1000 : (rnd >> 14) % 6000);
            seq[i] = next_seq++;
        }
    }
    int armed = 0, listed = 0, wheeled = 0;
    for (int i = 0; i < N; i++)
        armed += t[i].armed;
    bool ok = true;
    const struct loop_timer *prev = NULL;
    listed += check_list(&l.late, t, seq, &prev, &ok);
    for (uint64_t ms = l.wheel_ms + 1; ms <= l.wheel_ms + LOOP_WHEEL_MS; ms++) {
        struct loop_timer_list *slot = &l.wheel[ms & (LOOP_WHEEL_MS - 1)];
        for (const struct loop_timer *p = slot->head; p; p = p->next)
            ok = ok && p->due_ms == ms; /* a slot holds one millisecond */
        wheeled += check_list(slot, t, seq, &prev, &ok);
    }
    listed += wheeled + check_list(&l.far, t, seq, &prev, &ok);
    CHECK(ok);
    CHECK_EQ_INT(listed, armed);
    CHECK_EQ_INT(l.timers, armed);
    CHECK_EQ_INT(l.wheeled, wheeled);
    CHECK(wheeled > 0 && l.far.head != NULL); /* both places were exercised */
    for (int i = 0; i < N; i++)
        loop_timer_cancel(&l, &t[i]);
    CHECK_EQ_INT(l.timers, 0);
    CHECK_EQ_INT(l.wheeled, 0);
    CHECK(l.far.head == NULL && l.far.tail == NULL);
    loop_fini(&l);
}

struct spin {
    struct loop *loop;
    uint64_t busy_before, busy_after;
};

#define SPIN_NS (60 * 1000000ull)

static void spin_cb(struct loop_timer *t)
{
    struct spin *s = t->data;
    s->busy_before = loop_busy_ns(s->loop);
    uint64_t until = loop_now_ns() + SPIN_NS;
    while (loop_now_ns() < until)
        ;
    s->busy_after = loop_busy_ns(s->loop);
}

static void stop_cb(struct loop_timer *t)
{
    loop_stop(t->data);
}

TEST(loop_counts_the_time_it_works_not_the_time_it_waits)
{
    struct loop l;
    REQUIRE(loop_init(&l) == 0);
    struct spin s = {.loop = &l};
    struct loop_timer spin = {.cb = spin_cb, .data = &s}, stop = {.cb = stop_cb, .data = &l};
    loop_timer_arm(&l, &spin, 100);
    loop_timer_arm(&l, &stop, 600);
    uint64_t start = loop_now_ns();
    CHECK_EQ_INT(loop_run(&l), 0);
    uint64_t wall = loop_now_ns() - start, busy = loop_busy_ns(&l);
    CHECK(wall >= 390 * 1000000ull);                /* timers are due on the millisecond clock */
    CHECK(s.busy_after - s.busy_before >= SPIN_NS); /* the running iteration counts */
    CHECK(busy >= SPIN_NS);
    CHECK(busy + 300 * 1000000ull <= wall); /* the ~540 ms of waiting do not */
    CHECK(loop_busy_ns(&l) == busy);        /* not running: nothing more */
    loop_fini(&l);
}
