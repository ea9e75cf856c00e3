#include "db_checkpoint.h"

#include "db.h"
#include "log.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct db_checkpointer {
    sqlite3 *conn; /* the thread's own connection; only the thread uses it once started */
    int pages;
    pthread_t thread;
    pthread_mutex_t lock; /* guards the fields below; never held during a checkpoint */
    pthread_cond_t wake;
    bool wanted;
    bool stopping;
    uint64_t done;
    bool failing; /* the thread's own: the last checkpoint failed (logged once a spell) */
};

/* Called by SQLite in the loop thread after each commit, with the pages in the log. Only
 * flags the work: the lock is held by the thread just long enough to read the flags. */
static int on_commit(void *data, sqlite3 *sql, const char *name, int pages)
{
    (void)sql;
    (void)name;
    struct db_checkpointer *c = data;
    if (pages >= c->pages) {
        pthread_mutex_lock(&c->lock);
        c->wanted = true;
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->lock);
    }
    return SQLITE_OK;
}

static void checkpoint(struct db_checkpointer *c)
{
    int in_log = 0, copied = 0;
    int rc = sqlite3_wal_checkpoint_v2(c->conn, NULL, SQLITE_CHECKPOINT_PASSIVE, &in_log, &copied);
    bool ok = rc == SQLITE_OK || rc == SQLITE_BUSY; /* busy: another checkpoint runs */
    if (!ok && !c->failing)
        log_error("database: checkpoint failed: %s (the log grows until one succeeds)",
                  sqlite3_errmsg(c->conn));
    else if (ok && c->failing)
        log_info("database: checkpoints succeed again");
    else if (ok)
        log_debug("database: checkpoint copied %d of %d pages", copied, in_log);
    c->failing = !ok;
    pthread_mutex_lock(&c->lock);
    c->done += ok;
    pthread_mutex_unlock(&c->lock);
}

static void *checkpoint_main(void *arg)
{
    struct db_checkpointer *c = arg;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->wanted && !c->stopping)
            pthread_cond_wait(&c->wake, &c->lock);
        if (c->stopping)
            break;
        c->wanted = false;
        pthread_mutex_unlock(&c->lock);
        checkpoint(c);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

static sqlite3 *open_second_connection(const char *path)
{
    sqlite3 *conn = NULL;
    int rc = sqlite3_open_v2(path, &conn, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(conn, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        log_warn("database: no checkpoint thread (%s): checkpoints stay in the loop",
                 conn ? sqlite3_errmsg(conn) : sqlite3_errstr(rc));
        sqlite3_close(conn);
        return NULL;
    }
    return conn;
}

static void checkpointer_free(struct db_checkpointer *c)
{
    sqlite3_close(c->conn);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

int db_checkpoints_start(struct db *db, const char *path, int pages)
{
    if (!sqlite3_threadsafe()) { /* an SQLite built without mutexes: one thread only */
        log_warn("database: SQLite is single-threaded here: checkpoints stay in the loop");
        return -1;
    }
    struct db_checkpointer *c = calloc(1, sizeof(*c));
    if (!c) {
        log_warn("database: no memory for the checkpoint thread: checkpoints stay in the loop");
        return -1;
    }
    c->pages = pages > 0 ? pages : 1;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    c->conn = open_second_connection(path);
    if (!c->conn) {
        checkpointer_free(c);
        return -1;
    }
    /* The thread takes no signal: they are the loop's (signalfd), blocked only later. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&c->thread, NULL, checkpoint_main, c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        log_warn("database: cannot start the checkpoint thread: checkpoints stay in the loop");
        checkpointer_free(c);
        return -1;
    }
    db->checkpointer = c;
    sqlite3_wal_hook(db->sql, on_commit, c); /* replaces SQLite's automatic checkpoint */
    return 0;
}

void db_checkpoints_stop(struct db *db)
{
    struct db_checkpointer *c = db->checkpointer;
    if (!c)
        return;
    sqlite3_wal_autocheckpoint(db->sql, 1000); /* SQLite's default hook again */
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    checkpointer_free(c);
    db->checkpointer = NULL;
}

uint64_t db_checkpoints_done(struct db *db)
{
    struct db_checkpointer *c = db->checkpointer;
    if (!c)
        return 0;
    pthread_mutex_lock(&c->lock);
    uint64_t done = c->done;
    pthread_mutex_unlock(&c->lock);
    return done;
}
