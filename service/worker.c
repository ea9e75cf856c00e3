#include "worker.h"

#include "log.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct worker_job *worker_job_new(enum worker_kind kind, const char *password, const char *hash)
{
    struct worker_job *job = calloc(1, sizeof(*job));
    if (!job)
        return NULL;
    job->kind = kind;
    job->password = strdup(password);
    if (!job->password) {
        free(job);
        return NULL;
    }
    if (hash)
        snprintf(job->hash, sizeof(job->hash), "%s", hash);
    return job;
}

void worker_job_free(struct worker_job *job)
{
    if (!job)
        return;
    if (job->password) {
        explicit_bzero(job->password, strlen(job->password));
        free(job->password);
    }
    if (job->free_arg)
        job->free_arg(job->arg);
    explicit_bzero(job, sizeof(*job));
    free(job);
}

static void compute(struct worker_job *job)
{
    if (job->kind == WORKER_CALL)
        job->call(job->arg);
    else if (job->kind == WORKER_VERIFY)
        job->ok = secret_verify(job->password, job->hash);
    else
        job->ok = secret_hash(job->password, job->hash, sizeof(job->hash)) == 0;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->queue && !w->stopping)
            pthread_cond_wait(&w->wake, &w->lock);
        struct worker_job *job = w->queue;
        if (!job)
            break; /* stopping and nothing left */
        w->queue = job->next;
        if (!w->queue)
            w->queue_tail = NULL;
        w->waiting--;
        pthread_mutex_unlock(&w->lock);
        compute(job);
        pthread_mutex_lock(&w->lock);
        job->next = w->finished;
        w->finished = job;
        uint64_t one = 1;
        if (write(w->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
            log_error("worker: eventfd: %s", strerror(errno));
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* In the loop thread: hand finished jobs to their owners. */
static void deliver(struct worker *w)
{
    uint64_t n;
    if (read(w->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        log_error("worker: eventfd: %s", strerror(errno));
    pthread_mutex_lock(&w->lock);
    struct worker_job *done = w->finished;
    w->finished = NULL;
    pthread_mutex_unlock(&w->lock);
    while (done) {
        struct worker_job *next = done->next;
        done->next = NULL;
        done->done(done);
        done = next;
    }
}

static int on_event(struct loop_watch *watch, uint32_t events)
{
    (void)events;
    deliver(watch->data);
    return LOOP_OK;
}

int worker_start(struct worker *w, struct loop *loop)
{
    memset(w, 0, sizeof(*w));
    w->loop = loop;
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->efd < 0)
        return -errno;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    w->watch = (struct loop_watch){.fd = w->efd, .events = EPOLLIN, .cb = on_event, .data = w};
    int rc = loop_add(loop, &w->watch);
    if (rc == 0) {
        rc = -pthread_create(&w->thread, NULL, worker_main, w);
        if (rc < 0)
            loop_del(loop, &w->watch);
    }
    if (rc < 0) {
        close(w->efd);
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        return rc;
    }
    w->running = true;
    return 0;
}

void worker_stop(struct worker *w)
{
    if (!w->running)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    deliver(w);
    loop_del(w->loop, &w->watch);
    close(w->efd);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    w->running = false;
}

int worker_submit(struct worker *w, struct worker_job *job)
{
    pthread_mutex_lock(&w->lock);
    if (w->waiting >= WORKER_QUEUE_MAX || w->stopping) {
        pthread_mutex_unlock(&w->lock);
        return -EAGAIN;
    }
    job->next = NULL;
    if (w->queue_tail)
        w->queue_tail->next = job;
    else
        w->queue = job;
    w->queue_tail = job;
    w->waiting++;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

/* ---- request-level memo ---------------------------------------------------------------- */

static struct worker_job *memo_find(struct rf_async *a, enum worker_kind kind, const char *password,
                                    const char *hash)
{
    for (struct worker_job *j = a->memo; j; j = j->next) {
        if (j->kind == kind && j->password && strcmp(j->password, password) == 0 &&
            (kind == WORKER_HASH || strcmp(j->hash, hash) == 0))
            return j;
    }
    return NULL;
}

static void async_done(struct worker_job *job)
{
    struct rf_async *a = job->data;
    if (!a) { /* the request went away while the job ran */
        worker_job_free(job);
        return;
    }
    a->inflight = NULL;
    a->pending = false;
    job->next = a->memo;
    a->memo = job;
    if (a->resume)
        a->resume(a);
}

/* Computes j in place (no worker) into the memo, or queues it: 0, -EINPROGRESS, or a
 * failure to queue (j freed). */
static int start(struct rf_async *a, struct worker_job *j)
{
    if (!a->worker) {
        compute(j);
        j->next = a->memo;
        a->memo = j;
        return 0;
    }
    j->done = async_done;
    j->data = a;
    int rc = worker_submit(a->worker, j);
    if (rc < 0) {
        worker_job_free(j);
        return rc;
    }
    a->inflight = j;
    a->pending = true;
    return -EINPROGRESS;
}

/* Finds the result, computes it in place, or queues it. Returns the job or NULL + rc. */
static struct worker_job *run(struct rf_async *a, enum worker_kind kind, const char *password,
                              const char *hash, int *rc)
{
    struct worker_job *j = memo_find(a, kind, password, hash);
    if (j)
        return j;
    j = worker_job_new(kind, password, hash);
    if (!j) {
        *rc = -ENOMEM;
        return NULL;
    }
    *rc = start(a, j);
    return *rc == 0 ? j : NULL;
}

void *rf_async_result(struct rf_async *a, const void *tag)
{
    for (struct worker_job *j = a->memo; j; j = j->next) {
        if (j->kind == WORKER_CALL && j->tag == tag)
            return j->arg;
    }
    return NULL;
}

int rf_async_call(struct rf_async *a, const void *tag, void (*call)(void *arg), void *arg,
                  void (*free_arg)(void *arg))
{
    struct worker_job *j = calloc(1, sizeof(*j));
    if (!j) {
        free_arg(arg);
        return -ENOMEM;
    }
    *j = (struct worker_job){
        .kind = WORKER_CALL, .tag = tag, .call = call, .arg = arg, .free_arg = free_arg};
    return start(a, j);
}

int pw_verify(struct rf_async *a, const char *password, const char *hash)
{
    int rc = 0;
    struct worker_job *j = run(a, WORKER_VERIFY, password, hash, &rc);
    return j ? j->ok : rc;
}

int pw_hash(struct rf_async *a, const char *password, char *out, size_t outsz)
{
    int rc = 0;
    struct worker_job *j = run(a, WORKER_HASH, password, NULL, &rc);
    if (!j)
        return rc;
    if (!j->ok || strlen(j->hash) >= outsz)
        return -EIO;
    memcpy(out, j->hash, strlen(j->hash) + 1);
    return 0;
}

void rf_async_release(struct rf_async *a)
{
    while (a->memo) {
        struct worker_job *next = a->memo->next;
        worker_job_free(a->memo);
        a->memo = next;
    }
    if (a->inflight)
        a->inflight->data = NULL; /* freed by async_done when it finishes */
    a->inflight = NULL;
    a->pending = false;
}
