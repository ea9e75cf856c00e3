/* worker: a request's call off the loop (rf_async_call), its result in the request's memo. */
#include "test.h"

#include "loop.h"
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct call_arg {
    pthread_t ran_on;
    int value;
    int *freed; /* counts free_arg calls */
};

static void call_fn(void *arg)
{
    struct call_arg *c = arg;
    c->ran_on = pthread_self();
    c->value = 42;
}

static void call_free(void *arg)
{
    struct call_arg *c = arg;
    (*c->freed)++;
    free(c);
}

static void stop_loop(struct rf_async *async)
{
    loop_stop(async->ctx);
}

static struct call_arg *new_arg(int *freed)
{
    struct call_arg *c = calloc(1, sizeof(*c));
    c->freed = freed;
    return c;
}

/* A loop and its worker thread. */
struct bench {
    struct loop loop;
    struct worker w;
};

static int bench_start(struct bench *b)
{
    if (loop_init(&b->loop) < 0)
        return -1;
    if (worker_start(&b->w, &b->loop) < 0) {
        loop_fini(&b->loop);
        return -1;
    }
    return 0;
}

static void bench_stop(struct bench *b)
{
    worker_stop(&b->w); /* finishes and delivers what is queued */
    loop_fini(&b->loop);
}

TEST(worker_call_runs_on_the_thread_and_the_request_finds_it)
{
    static const char tag[] = "t";
    struct bench b;
    REQUIRE(bench_start(&b) == 0);
    int freed = 0;
    struct rf_async a = {.worker = &b.w, .resume = stop_loop, .ctx = &b.loop};
    CHECK(rf_async_result(&a, tag) == NULL);
    CHECK_EQ_INT(rf_async_call(&a, tag, call_fn, new_arg(&freed), call_free), -EINPROGRESS);
    CHECK(a.pending);
    CHECK_EQ_INT(loop_run(&b.loop), 0); /* until the job is done: stop_loop */
    CHECK(!a.pending);
    struct call_arg *c = rf_async_result(&a, tag);
    REQUIRE(c != NULL);
    CHECK_EQ_INT(c->value, 42);
    CHECK(!pthread_equal(c->ran_on, pthread_self()));
    CHECK(rf_async_result(&a, "another tag") == NULL);
    CHECK_EQ_INT(freed, 0);
    rf_async_release(&a);
    CHECK_EQ_INT(freed, 1);
    bench_stop(&b);
}

TEST(worker_call_without_a_worker_runs_in_place)
{
    static const char tag[] = "t";
    int freed = 0;
    struct rf_async a = {0};
    CHECK_EQ_INT(rf_async_call(&a, tag, call_fn, new_arg(&freed), call_free), 0);
    struct call_arg *c = rf_async_result(&a, tag);
    REQUIRE(c != NULL);
    CHECK_EQ_INT(c->value, 42);
    CHECK(pthread_equal(c->ran_on, pthread_self()));
    rf_async_release(&a);
    CHECK_EQ_INT(freed, 1);
}

/* A request that goes away while its call runs: the result is freed when the job ends. */
TEST(worker_call_of_a_request_gone_is_freed)
{
    static const char tag[] = "t";
    struct bench b;
    REQUIRE(bench_start(&b) == 0);
    int freed = 0;
    struct rf_async a = {.worker = &b.w};
    CHECK_EQ_INT(rf_async_call(&a, tag, call_fn, new_arg(&freed), call_free), -EINPROGRESS);
    rf_async_release(&a);
    bench_stop(&b); /* the job ends and is delivered: nobody wants it */
    CHECK_EQ_INT(freed, 1);
}
