/*
 * worker — one background thread for the slow work of requests: yescrypt password hashing
 * and verification (about 50 ms each) and calls that read much from disk (a VM's whole
 * console transcript). The loop never waits for it.
 *
 * Contract:
 * - worker_submit() queues a job (bounded: WORKER_QUEUE_MAX waiting jobs, else -EAGAIN);
 *   the thread computes it; job->done(job) then runs in the loop thread, after which the
 *   job belongs to whoever `done` hands it to.
 * - Handlers use pw_verify()/pw_hash() with the request's struct rf_async: the first call
 *   queues the job and returns -EINPROGRESS (the handler returns at once, changing
 *   nothing); http.c suspends the connection and, when the job is done, runs the whole
 *   request again; this time the result comes from the request's memo. So a handler must
 *   make no change before its last pw_* call has returned a result.
 * - Without a worker (rf_async.worker == NULL, as in unit tests) the work runs in place.
 */
#ifndef VSC_WORKER_H
#define VSC_WORKER_H

#include "loop.h"
#include "secret.h"

#include <pthread.h>

#define WORKER_QUEUE_MAX 32

enum worker_kind { WORKER_VERIFY, WORKER_HASH, WORKER_CALL };

struct worker_job {
    enum worker_kind kind;
    char *password;             /* VERIFY, HASH: owned copy; wiped when the job is freed */
    char hash[SECRET_HASH_MAX]; /* VERIFY: the stored hash; HASH: the new hash */
    bool ok;                    /* VERIFY: matched; HASH: hashed */
    /* CALL: call(arg) runs on the thread; `tag` names the work in the request's memo;
     * free_arg(arg) when the job is freed. */
    const void *tag;
    void (*call)(void *arg);
    void *arg;
    void (*free_arg)(void *arg);
    void (*done)(struct worker_job *job);
    void *data;
    struct worker_job *next;
};

struct worker {
    pthread_t thread;
    bool running;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct worker_job *queue, *queue_tail; /* waiting, FIFO */
    struct worker_job *finished;           /* computed, for the loop */
    size_t waiting;
    bool stopping;
    int efd; /* eventfd: the thread tells the loop that jobs finished */
    struct loop_watch watch;
    struct loop *loop;
};

int worker_start(struct worker *w, struct loop *loop);
/* Finishes queued jobs, runs their callbacks, joins the thread. */
void worker_stop(struct worker *w);
int worker_submit(struct worker *w, struct worker_job *job);

struct worker_job *worker_job_new(enum worker_kind kind, const char *password, const char *hash);
void worker_job_free(struct worker_job *job);

/* Per-request state for password work (see the contract above). */
struct rf_async {
    struct worker *worker;
    struct worker_job *memo;                /* finished jobs of this request */
    struct worker_job *inflight;            /* at most one */
    bool pending;                           /* the request waits for `inflight` */
    void (*resume)(struct rf_async *async); /* set by http.c */
    void *ctx;
};

/* 1 = matches, 0 = does not, -EINPROGRESS, -EAGAIN (queue full), -ENOMEM. */
int pw_verify(struct rf_async *async, const char *password, const char *hash);
/* 0 = hashed into out, -EINPROGRESS, -EAGAIN, -ENOMEM, -EIO. */
int pw_hash(struct rf_async *async, const char *password, char *out, size_t outsz);

/*
 * Other work that must not run in the loop, by the same contract (a handler changes nothing
 * before it has its result). rf_async_result(): the arg of this request's finished call
 * named `tag` (still the memo's), or NULL. rf_async_call(): the job takes arg (freed with
 * free_arg) and runs call(arg) on the thread: -EINPROGRESS, the request runs again once it
 * is done; -EAGAIN (queue full) or -ENOMEM, arg freed; 0 when it ran in place (no worker).
 */
void *rf_async_result(struct rf_async *async, const void *tag);
int rf_async_call(struct rf_async *async, const void *tag, void (*call)(void *arg), void *arg,
                  void (*free_arg)(void *arg));

/* Frees the memo; detaches an in-flight job (it is freed when it finishes). */
void rf_async_release(struct rf_async *async);

#endif
