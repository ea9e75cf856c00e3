#include "loop.h"

#include "log.h"
#include "send_batch.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define LOOP_MAX_EVENTS 64

uint64_t loop_now_ms(void)
{
    return loop_now_ns() / 1000000u;
}

uint64_t loop_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t loop_busy_ns(const struct loop *l)
{
    return l->busy_ns + (l->woke_ns ? loop_now_ns() - l->woke_ns : 0);
}

int loop_init(struct loop *l)
{
    memset(l, 0, sizeof(*l));
    l->wheel_ms = loop_now_ms();
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    return l->epfd < 0 ? -errno : 0;
}

void loop_fini(struct loop *l)
{
    if (l->epfd >= 0)
        close(l->epfd);
    l->epfd = -1;
}

int loop_add(struct loop *l, struct loop_watch *w)
{
    struct epoll_event ev = {.events = w->events, .data.ptr = w};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0)
        return -errno;
    w->active = true;
    return 0;
}

int loop_mod(struct loop *l, struct loop_watch *w, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
        return -errno;
    w->events = events;
    return 0;
}

void loop_del(struct loop *l, struct loop_watch *w)
{
    if (!w->active)
        return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->active = false;
    for (int i = 0; i < l->ready_count; i++) {
        if (l->ready[i].data.ptr == w)
            l->ready[i].data.ptr = NULL;
    }
}

static bool in_wheel(const struct loop *l, const struct loop_timer_list *list)
{
    return list >= l->wheel && list < l->wheel + LOOP_WHEEL_MS;
}

static void timer_unlink(struct loop *l, struct loop_timer *t)
{
    struct loop_timer_list *list = t->list;
    l->wheeled -= in_wheel(l, list);
    *(t->prev ? &t->prev->next : &list->head) = t->next;
    *(t->next ? &t->next->prev : &list->tail) = t->prev;
    t->next = t->prev = NULL;
    t->list = NULL;
}

/* Links t into `list` after `after` (NULL: at the head). */
static void timer_link(struct loop *l, struct loop_timer_list *list, struct loop_timer *after,
                       struct loop_timer *t)
{
    l->wheeled += in_wheel(l, list);
    t->list = list;
    t->prev = after;
    t->next = after ? after->next : list->head;
    *(after ? &after->next : &list->head) = t;
    *(t->next ? &t->next->prev : &list->tail) = t;
}

void loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
    if (t->armed) {
        timer_unlink(l, t);
        l->timers--;
    }
    t->next = t->prev = NULL;
    t->armed = false;
}

static struct loop_timer_list *slot_of(struct loop *l, uint64_t due_ms)
{
    return &l->wheel[due_ms & (LOOP_WHEEL_MS - 1)];
}

/* Files t by its due time: the slot of its millisecond (one millisecond per slot within
 * the wheel's reach), the past, or the sorted list beyond (searched from its end: such
 * timers are few, and the latest is usually armed last). */
static void timer_file(struct loop *l, struct loop_timer *t)
{
    if (t->due_ms <= l->wheel_ms) {
        timer_link(l, &l->late, l->late.tail, t);
    } else if (t->due_ms - l->wheel_ms <= LOOP_WHEEL_MS) {
        struct loop_timer_list *slot = slot_of(l, t->due_ms);
        timer_link(l, slot, slot->tail, t);
    } else {
        struct loop_timer *after = l->far.tail;
        while (after && after->due_ms > t->due_ms)
            after = after->prev;
        timer_link(l, &l->far, after, t);
    }
}

void loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t delay_ms)
{
    if (t->armed)
        loop_timer_cancel(l, t);
    t->due_ms = loop_now_ms() + delay_ms;
    timer_file(l, t);
    t->armed = true;
    l->timers++;
}

static void list_push(struct loop_deferred **list, struct loop_deferred *d)
{
    d->prev = NULL;
    d->next = *list;
    if (d->next)
        d->next->prev = d;
    *list = d;
    d->list = list;
}

static void list_unlink(struct loop_deferred *d)
{
    if (d->prev)
        d->prev->next = d->next;
    else
        *d->list = d->next;
    if (d->next)
        d->next->prev = d->prev;
    d->prev = d->next = NULL;
    d->list = NULL;
}

void loop_defer(struct loop *l, struct loop_deferred *d)
{
    if (!d->list)
        list_push(l->running_deferred ? &l->deferred_next : &l->deferred, d);
}

void loop_defer_cancel(struct loop *l, struct loop_deferred *d)
{
    (void)l;
    if (d->list)
        list_unlink(d);
}

static void run_deferred(struct loop *l);

void loop_run_deferred(struct loop *l)
{
    while (l->deferred) {
        run_deferred(l);
        if (l->batch)
            send_batch_flush(l->batch);
    }
}

/* Runs what is deferred, one at a time from the head, so a callback may cancel or free
 * any other entry; what the callbacks defer runs in the next iteration. */
static void run_deferred(struct loop *l)
{
    l->running_deferred = true;
    while (l->deferred) {
        struct loop_deferred *d = l->deferred;
        list_unlink(d);
        d->cb(d);
    }
    l->running_deferred = false;
    l->deferred = l->deferred_next;
    for (struct loop_deferred *d = l->deferred; d; d = d->next)
        d->list = &l->deferred; /* it moved lists */
    l->deferred_next = NULL;
}

void loop_stop(struct loop *l)
{
    l->stop = true;
}

/* When the next timer is due; UINT64_MAX when none is armed. */
static uint64_t next_due_ms(const struct loop *l)
{
    if (l->late.head)
        return l->late.head->due_ms;
    for (uint64_t ms = l->wheel_ms + 1; l->wheeled && ms <= l->wheel_ms + LOOP_WHEEL_MS; ms++) {
        if (l->wheel[ms & (LOOP_WHEEL_MS - 1)].head)
            return ms;
    }
    return l->far.head ? l->far.head->due_ms : UINT64_MAX;
}

static int next_wait_ms(struct loop *l)
{
    int64_t wait = -1;
    if (l->deferred)
        return 0;
    uint64_t due = next_due_ms(l);
    if (due != UINT64_MAX) {
        uint64_t now = loop_now_ms();
        wait = due > now ? (int64_t)(due - now) : 0;
    }
    if (l->prepare) {
        int64_t hook = l->prepare(l->hook_data);
        if (hook >= 0 && (wait < 0 || hook < wait))
            wait = hook;
    }
    return wait > 60000 ? 60000 : (int)wait;
}

/* Runs a list's timers from its head; one its callbacks arm for the same millisecond
 * joins the list and runs too. */
static void run_list(struct loop *l, struct loop_timer_list *list)
{
    while (list->head) {
        struct loop_timer *t = list->head;
        loop_timer_cancel(l, t); /* disarmed before its callback, which may re-arm it */
        t->cb(t);
    }
}

/* Moves the sorted list's timers that the wheel now reaches into their slots. */
static void wheel_take_far(struct loop *l)
{
    while (l->far.head && l->far.head->due_ms - l->wheel_ms <= LOOP_WHEEL_MS) {
        struct loop_timer *t = l->far.head;
        timer_unlink(l, t);
        timer_file(l, t);
    }
}

/* Turns the wheel up to now, a millisecond at a time, running each slot's timers. */
static void run_due_timers(struct loop *l)
{
    uint64_t now = loop_now_ms();
    run_list(l, &l->late);
    while (l->wheel_ms < now) {
        if (!l->wheeled) { /* nothing in the wheel: go straight to where something is */
            uint64_t to = now;
            if (l->far.head && l->far.head->due_ms - LOOP_WHEEL_MS < to)
                to = l->far.head->due_ms - LOOP_WHEEL_MS;
            l->wheel_ms = to;
            wheel_take_far(l);
            continue;
        }
        uint64_t ms = l->wheel_ms + 1;
        run_list(l, slot_of(l, ms));
        l->wheel_ms = ms;
        wheel_take_far(l);
    }
}

int loop_run(struct loop *l)
{
    struct epoll_event events[LOOP_MAX_EVENTS];
    l->woke_ns = loop_now_ns();
    while (!l->stop) {
        int wait_ms = next_wait_ms(l);
        l->busy_ns += loop_now_ns() - l->woke_ns;
        l->woke_ns = 0;
        int n = epoll_wait(l->epfd, events, LOOP_MAX_EVENTS, wait_ms);
        l->woke_ns = loop_now_ns();
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int err = errno;
            log_error("epoll_wait: %s", strerror(err));
            l->woke_ns = 0;
            return -err;
        }
        l->ready = events;
        l->ready_count = n;
        for (int i = 0; i < n && !l->stop; i++) {
            struct loop_watch *w = events[i].data.ptr;
            if (w && w->cb(w, events[i].events) == LOOP_REMOVE)
                loop_del(l, w);
        }
        l->ready = NULL;
        l->ready_count = 0;
        run_deferred(l);
        if (l->batch)
            send_batch_flush(l->batch);
        run_due_timers(l);
        if (l->after)
            l->after(l->hook_data);
    }
    l->busy_ns += loop_now_ns() - l->woke_ns;
    l->woke_ns = 0;
    return 0;
}
