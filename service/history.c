/* history — console output on disk: the queue, the writer thread, the caps, the readers.
 * The contract and the on-disk format are in history.h. */
#include "history.h"

#include "log.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define HASH_BUCKETS 1024
#define READ_CHUNK   65536
#define UUID_MAX     36
#define PORT_IDX_MAX 9999
#define SEGMENT_MIN  1024
#define RUN_RECORDS  64 /* records written by one writev */

struct hseg {
    int64_t start_us; /* the file's name: its first record's time */
    int64_t last_us;  /* its newest record's time; 0 = not known yet (read when needed) */
    uint64_t size;
};

/*
 * One port's state. Created under the mutex by an append (or at open); freed only by the
 * writer, under the mutex, once it holds nothing: no segment, nothing queued, no loss
 * pending (forget_empty_ports). So the writer may walk h->all unlocked, and everyone else
 * holds a port only under the mutex (a queued entry or the lost list counts as holding).
 * The queue fields are the appender's (under the mutex); the index (segs, bytes, last_us)
 * is changed only by the writer, under the mutex, and read by readers under it; the
 * writer-only fields need no lock.
 */
struct hport {
    char uuid[UUID_MAX + 1];
    int idx;
    struct hport *hnext;    /* hash chain */
    struct hport *all_next; /* every port, newest first */
    /* queue side */
    uint64_t qlost; /* dropped (queue full) and not yet queued as a gap */
    int64_t qlost_since;
    bool in_lost;
    struct hport *lost_next; /* h->lost_list */
    size_t queued;           /* entries naming this port, in the queue or being written */
    /* index */
    struct hseg *segs; /* oldest first */
    size_t nsegs, segcap;
    uint64_t bytes;
    int64_t last_us; /* the newest record's time; kept after the caps drop everything */
    /* writer only */
    int fd;            /* the newest segment, open for appending; -1 */
    uint64_t wrote_ms; /* CLOCK_MONOTONIC of the last write: idle ports give their fd back */
    bool sealed;       /* the newest segment takes no more records (a write failed in it) */
    bool dir_made;
    uint64_t glost; /* moved from qlost by the writer: a gap to write after the batch */
    int64_t glost_since;
    struct hport *gnext; /* the writer's copy of the lost list */
    uint64_t wlost;      /* not written yet (a failed write or a pending gap) */
    int64_t wlost_since;
    struct hentry *wq_head, *wq_tail; /* this port's entries of the batch being written */
    size_t wq_count;
    struct hport *wq_next; /* the batch's other ports */
};

struct hentry {
    struct hentry *next;
    struct hport *port;
    int64_t time_us;
    uint64_t lost; /* > 0: a gap (lost bytes since lost_since) comes before the data */
    int64_t lost_since;
    uint64_t seq;
    uint32_t flags; /* the data's record flags (HISTORY_FLAG_PRIVATE) */
    size_t len;
    uint8_t data[];
};

struct history {
    char dir[PATH_MAX - 80]; /* room for /<uuid>/<idx>/<name>.seg */
    struct history_config cfg;
    uint64_t seg_bytes;
    size_t piece_max; /* payload bytes per record */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t wake;   /* the writer: work or stop */
    pthread_cond_t done;   /* history_sync(): seq_done moved */
    bool writer_idle;      /* waiting for work: an append wakes it */
    bool writer_gathering; /* letting appends gather: only pressure or a reader wakes it */
    bool stop;
    struct hentry *q_head, *q_tail;
    uint64_t q_bytes;
    uint64_t seq_in, seq_done;
    uint64_t lost_seq; /* the seq of the newest loss waiting in lost_list for its gap */
    size_t sync_waiters;
    struct hport *lost_list;
    struct hport *buckets[HASH_BUCKETS];
    struct hport *all;
    size_t nports;               /* in h->all */
    struct history_counters ctr; /* under the mutex */
    /* writer only */
    size_t emptied; /* ports that may hold nothing now: forget_empty_ports() looks */
    bool disk_failing, unlink_failing;
    bool gaps_pending; /* a failed write left a port's gap to write (wlost) */
    uint64_t lost_at_failure;
    uint64_t next_age_ms;  /* CLOCK_MONOTONIC */
    uint64_t next_idle_ms; /* next check for idle append fds */
};

/* ---- small helpers ---------------------------------------------------------------------- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

uint32_t history_crc32(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc_once, crc_init);
    const uint8_t *p = data;
    crc = ~crc;
    while (len--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A VM UUID as a path component: 1..36 of [0-9A-Za-z-], lower-cased into out. */
static bool uuid_norm(const char *in, char out[UUID_MAX + 1])
{
    size_t n = 0;
    if (!in)
        return false;
    for (; in[n]; n++) {
        if (n >= UUID_MAX || !(isalnum((unsigned char)in[n]) || in[n] == '-'))
            return false;
        out[n] = (char)tolower((unsigned char)in[n]);
    }
    out[n] = '\0';
    return n > 0;
}

static unsigned uuid_hash(const char *uuid)
{
    uint32_t h = 2166136261u;
    for (; *uuid; uuid++)
        h = (h ^ (uint8_t)*uuid) * 16777619u;
    return h % HASH_BUCKETS;
}

static void port_dir(const struct history *h, const struct hport *p, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s/%s/%d", h->dir, p->uuid, p->idx);
}

static void seg_path(const struct history *h, const struct hport *p, int64_t start, char *out,
                     size_t outsz)
{
    snprintf(out, outsz, "%s/%s/%d/%016" PRIx64 ".seg", h->dir, p->uuid, p->idx, (uint64_t)start);
}

/* Under the mutex. NULL when absent and !create (or out of memory). */
static struct hport *port_find(struct history *h, const char *uuid, int idx, bool create)
{
    unsigned b = uuid_hash(uuid);
    for (struct hport *p = h->buckets[b]; p; p = p->hnext) {
        if (p->idx == idx && strcmp(p->uuid, uuid) == 0)
            return p;
    }
    if (!create)
        return NULL;
    struct hport *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    memcpy(p->uuid, uuid, strlen(uuid) + 1);
    p->idx = idx;
    p->fd = -1;
    p->hnext = h->buckets[b];
    h->buckets[b] = p;
    p->all_next = h->all;
    h->all = p;
    h->nports++;
    return p;
}

static int seg_push(struct hport *p, int64_t start, uint64_t size)
{
    if (p->nsegs == p->segcap) {
        size_t cap = p->segcap ? p->segcap * 2 : 8;
        struct hseg *s = realloc(p->segs, cap * sizeof(*s));
        if (!s)
            return -ENOMEM;
        p->segs = s;
        p->segcap = cap;
    }
    p->segs[p->nsegs++] = (struct hseg){.start_us = start, .size = size};
    return 0;
}

/* ---- reading records -------------------------------------------------------------------- */

/* A buffered view of one segment file. */
struct reader {
    int fd;
    uint8_t *buf;
    size_t cap;
    uint64_t buf_off; /* file offset of buf[0] */
    size_t buf_len;
};

struct rec {
    int64_t time_us;
    uint64_t lost;
    uint32_t flags;
    uint32_t len;
    const uint8_t *data;
};

static void reader_reset(struct reader *rd, int fd)
{
    rd->fd = fd;
    rd->buf_off = 0;
    rd->buf_len = 0;
}

/* Points *p at file bytes [off, off + need). 1, 0 = the file ends first, -errno. */
static int reader_get(struct reader *rd, uint64_t off, size_t need, const uint8_t **p)
{
    if (off >= rd->buf_off && off + need <= rd->buf_off + rd->buf_len) {
        *p = rd->buf + (off - rd->buf_off);
        return 1;
    }
    size_t want = need > READ_CHUNK ? need : READ_CHUNK;
    if (want > rd->cap) {
        uint8_t *b = realloc(rd->buf, want);
        if (!b)
            return -ENOMEM;
        rd->buf = b;
        rd->cap = want;
    }
    size_t got = 0;
    while (got < want) {
        ssize_t n = pread(rd->fd, rd->buf + got, want - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rd->buf_len = 0;
            return -errno;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    rd->buf_off = off;
    rd->buf_len = got;
    if (got < need)
        return 0;
    *p = rd->buf;
    return 1;
}

/* The record at off: 1 (*r filled, *next its end), 0 = none (end of file, torn or bad), or
 * -errno. r->data points into the reader's buffer. */
static int read_record(struct reader *rd, uint64_t off, struct rec *r, uint64_t *next)
{
    const uint8_t *p;
    int rc = reader_get(rd, off, HISTORY_HDR_BYTES, &p);
    if (rc <= 0)
        return rc;
    uint32_t len = get32(p + 4), flags = get32(p + 24);
    uint64_t lost = get64(p + 16);
    bool gap = flags & HISTORY_FLAG_GAP;
    if (get32(p) != HISTORY_MAGIC || len > HISTORY_RECORD_MAX ||
        (flags & ~(HISTORY_FLAG_GAP | HISTORY_FLAG_PRIVATE)) ||
        (gap ? len != 0 || lost == 0 || flags != HISTORY_FLAG_GAP : lost != 0))
        return 0;
    rc = reader_get(rd, off, HISTORY_HDR_BYTES + (size_t)len, &p);
    if (rc <= 0)
        return rc;
    uint32_t crc = history_crc32(history_crc32(0, p, 28), p + HISTORY_HDR_BYTES, len);
    if (crc != get32(p + 28))
        return 0;
    r->time_us = (int64_t)get64(p + 8);
    r->lost = lost;
    r->flags = flags;
    r->len = len;
    r->data = p + HISTORY_HDR_BYTES;
    *next = off + HISTORY_HDR_BYTES + len;
    return 1;
}

/* ---- recovery at open ------------------------------------------------------------------- */

/* The valid prefix of a segment and its last record's time (0 when it has none). */
static int scan_segment(const char *path, uint64_t *valid, int64_t *last_us)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct reader rd = {0};
    reader_reset(&rd, fd);
    uint64_t off = 0, next;
    struct rec r;
    int rc;
    *last_us = 0;
    while ((rc = read_record(&rd, off, &r, &next)) == 1) {
        *last_us = r.time_us;
        off = next;
    }
    free(rd.buf);
    close(fd);
    *valid = off;
    return rc < 0 ? rc : 0;
}

static int cmp_seg(const void *a, const void *b)
{
    const struct hseg *x = a, *y = b;
    return x->start_us < y->start_us ? -1 : x->start_us > y->start_us;
}

/* "<16 hex>.seg" → its start time. */
static bool parse_seg_name(const char *name, int64_t *start)
{
    if (strlen(name) != 20 || strcmp(name + 16, ".seg") != 0)
        return false;
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = name[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return false;
        v = v << 4 | (uint64_t)d;
    }
    if (v > INT64_MAX)
        return false;
    *start = (int64_t)v;
    return true;
}

/*
 * Cuts a torn tail off the port's newest segment (a segment with no valid record is
 * removed, and the one before it checked). Where the file cannot be cut (a read-only
 * directory), the segment is sealed: readers stop at the torn record anyway and the
 * writer starts a new segment.
 */
static void recover_tail(struct history *h, struct hport *p)
{
    char path[PATH_MAX];
    while (p->nsegs) {
        struct hseg *s = &p->segs[p->nsegs - 1];
        seg_path(h, p, s->start_us, path, sizeof(path));
        uint64_t valid;
        int64_t last;
        if (scan_segment(path, &valid, &last) < 0) {
            p->sealed = true;
            return;
        }
        s->last_us = last;
        if (valid == s->size) {
            p->last_us = last;
            return;
        }
        log_warn("history: %s: cut a torn record off (%" PRIu64 " of %" PRIu64 " bytes kept)", path,
                 valid, s->size);
        if (valid == 0) {
            if (unlink(path) == 0) {
                p->bytes -= s->size;
                p->nsegs--;
                continue;
            }
        } else if (truncate(path, (off_t)valid) == 0) {
            p->bytes -= s->size - valid;
            s->size = valid;
            p->last_us = last;
            return;
        }
        p->sealed = true;
        p->last_us = last;
        return;
    }
}

static void load_port(struct history *h, const char *uuid, int idx)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s/%d", h->dir, uuid, idx);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct hport *p = port_find(h, uuid, idx, true);
    if (!p) {
        closedir(d);
        return;
    }
    p->dir_made = true;
    struct dirent *e;
    while ((e = readdir(d))) {
        int64_t start;
        struct stat st;
        if (!parse_seg_name(e->d_name, &start) || fstatat(dirfd(d), e->d_name, &st, 0) < 0 ||
            !S_ISREG(st.st_mode))
            continue;
        if (st.st_size == 0) {
            unlinkat(dirfd(d), e->d_name, 0);
            continue;
        }
        if (seg_push(p, start, (uint64_t)st.st_size) < 0)
            break;
        p->bytes += (uint64_t)st.st_size;
    }
    closedir(d);
    if (p->nsegs > 1) /* none when every segment was empty: segs is NULL then */
        qsort(p->segs, p->nsegs, sizeof(*p->segs), cmp_seg);
    recover_tail(h, p);
    h->ctr.disk_bytes += p->bytes;
    if (!p->nsegs) { /* nothing valid was left: the writer forgets the port */
        p->dir_made = false;
        rmdir(path);
        snprintf(path, sizeof(path), "%s/%s", h->dir, uuid);
        rmdir(path);
    }
}

static bool parse_idx(const char *s, int *idx)
{
    int v = 0;
    if (!*s || *s == '0')
        return false;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s) || v > PORT_IDX_MAX)
            return false;
        v = v * 10 + (*s - '0');
    }
    *idx = v;
    return v >= 1 && v <= PORT_IDX_MAX;
}

static void load_all(struct history *h)
{
    DIR *top = opendir(h->dir);
    if (!top)
        return;
    struct dirent *e;
    while ((e = readdir(top))) {
        char uuid[UUID_MAX + 1], path[PATH_MAX];
        if (!uuid_norm(e->d_name, uuid) || strcmp(uuid, e->d_name) != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", h->dir, uuid);
        DIR *vm = opendir(path);
        if (!vm)
            continue;
        struct dirent *pe;
        while ((pe = readdir(vm))) {
            int idx;
            if (parse_idx(pe->d_name, &idx))
                load_port(h, uuid, idx);
        }
        closedir(vm);
    }
    closedir(top);
}

/* ---- the writer ------------------------------------------------------------------------- */

static void disk_failed(struct history *h, int err, uint64_t lost)
{
    pthread_mutex_lock(&h->mu);
    h->ctr.lost_disk += lost;
    pthread_mutex_unlock(&h->mu);
    if (!h->disk_failing) {
        log_error("history: cannot write under %s: %s; console output is not kept until this "
                  "clears",
                  h->dir, strerror(-err));
        h->disk_failing = true;
        h->lost_at_failure = h->ctr.lost_disk - lost;
    }
}

static void disk_ok(struct history *h)
{
    if (h->disk_failing) {
        pthread_mutex_lock(&h->mu);
        uint64_t lost = h->ctr.lost_disk - h->lost_at_failure;
        pthread_mutex_unlock(&h->mu);
        log_info("history: writes work again (%" PRIu64 " bytes were not kept)", lost);
        h->disk_failing = false;
    }
}

static int ensure_dirs(struct history *h, struct hport *p)
{
    if (p->dir_made)
        return 0;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", h->dir, p->uuid);
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return -errno;
    port_dir(h, p, path, sizeof(path));
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return -errno;
    p->dir_made = true;
    return 0;
}

/*
 * A run: records of one port gathered for one writev to its newest segment, or to a new
 * one (a record is never split across segments, so a run ends where a segment would).
 * The payloads point into queue entries, which live until the run is written.
 */
struct run {
    struct hport *p;
    int n, niov;
    bool fresh;        /* the run starts a new segment */
    int64_t seg_start; /* the segment's name */
    uint64_t seg_size; /* its size before the run */
    uint64_t bytes;    /* headers + payloads */
    uint64_t payload;  /* console bytes */
    uint64_t lost;     /* what its gap records stand for */
    int64_t first_us, last_us;
    uint8_t hdr[RUN_RECORDS][HISTORY_HDR_BYTES];
    struct iovec iov[2 * RUN_RECORDS];
};

/* An empty run for the port: records join it with run_push(). */
static void run_init(struct run *r, struct hport *p)
{
    r->p = p;
    r->n = r->niov = 0;
}

/* Starts a run with a record of time *time_us. A new segment is named by its first record,
 * and names grow strictly: when the clock is behind the newest segment's name (it stepped
 * back, so the port's records all carry its last time; or that segment was sealed in the
 * same microsecond), the record opening the new segment is stamped 1 us after that name.
 * Keeping every record in the old segment instead would grow it past segment_bytes
 * without end, until the port cap dropped it and with it the port's whole history. */
static void run_start(struct history *h, struct run *r, int64_t *time_us, size_t reclen)
{
    struct hport *p = r->p;
    struct hseg *last = p->nsegs ? &p->segs[p->nsegs - 1] : NULL;
    r->n = r->niov = 0;
    r->bytes = r->payload = r->lost = 0;
    r->fresh = !last || p->sealed || last->size + reclen > h->seg_bytes;
    if (r->fresh) {
        if (last && *time_us <= last->start_us)
            *time_us = last->start_us + 1;
        r->seg_start = *time_us;
        r->seg_size = 0;
    } else {
        r->seg_start = last->start_us;
        r->seg_size = last->size;
    }
}

/* Whether the record still fits the run's segment. */
static bool run_takes(const struct history *h, const struct run *r, size_t reclen)
{
    return r->n < RUN_RECORDS && r->seg_size + r->bytes + reclen <= h->seg_bytes;
}

static void run_add(struct run *r, int64_t time_us, uint64_t lost, uint32_t flags,
                    const uint8_t *data, size_t len)
{
    uint8_t *hdr = r->hdr[r->n];
    put32(hdr, HISTORY_MAGIC);
    put32(hdr + 4, (uint32_t)len);
    put64(hdr + 8, (uint64_t)time_us);
    put64(hdr + 16, lost);
    put32(hdr + 24, lost ? HISTORY_FLAG_GAP : flags);
    put32(hdr + 28, history_crc32(history_crc32(0, hdr, 28), data, len));
    r->iov[r->niov++] = (struct iovec){hdr, HISTORY_HDR_BYTES};
    if (len)
        r->iov[r->niov++] = (struct iovec){(void *)data, len};
    if (!r->n)
        r->first_us = time_us;
    r->last_us = time_us;
    r->n++;
    r->bytes += HISTORY_HDR_BYTES + len;
    r->payload += len;
    r->lost += lost;
}

/* Writes the run with one writev and indexes it. 0 or -errno (nothing of the run is left
 * in the file, or the torn part seals the segment). */
static int run_write(struct history *h, struct run *r)
{
    struct hport *p = r->p;
    int rc = ensure_dirs(h, p);
    if (rc < 0)
        return rc;
    char path[PATH_MAX];
    seg_path(h, p, r->seg_start, path, sizeof(path));
    if (r->fresh) {
        if (p->fd >= 0)
            close(p->fd);
        p->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
        if (p->fd < 0)
            return -errno;
        p->sealed = false;
    } else if (p->fd < 0) {
        p->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (p->fd < 0)
            return -errno;
    }
    ssize_t n = writev(p->fd, r->iov, r->niov);
    if (n != (ssize_t)r->bytes) {
        rc = n < 0 ? -errno : -ENOSPC;
        if (r->fresh) {
            close(p->fd);
            p->fd = -1;
            unlink(path);
        } else if (n > 0 && ftruncate(p->fd, (off_t)r->seg_size) < 0) {
            struct hseg *last = &p->segs[p->nsegs - 1];
            p->sealed = true; /* the torn record ends this segment for readers */
            pthread_mutex_lock(&h->mu);
            last->size += (uint64_t)n;
            p->bytes += (uint64_t)n;
            h->ctr.disk_bytes += (uint64_t)n;
            pthread_mutex_unlock(&h->mu);
        }
        return rc;
    }
    p->wrote_ms = mono_ms();
    pthread_mutex_lock(&h->mu);
    if (r->fresh)
        rc = seg_push(p, r->seg_start, r->bytes);
    else
        p->segs[p->nsegs - 1].size += r->bytes;
    if (rc == 0) {
        p->segs[p->nsegs - 1].last_us = r->last_us;
        p->bytes += r->bytes;
        h->ctr.disk_bytes += r->bytes;
        p->last_us = r->last_us;
        h->ctr.written += r->payload;
    }
    pthread_mutex_unlock(&h->mu);
    if (rc < 0) { /* no room in the index: the file goes too */
        close(p->fd);
        p->fd = -1;
        unlink(path);
    }
    return rc;
}

static void add_wlost(struct hport *p, uint64_t lost, int64_t since);

/* Writes what the run holds: 0 or -errno. On a failure none of it is on disk: one pending
 * gap, from its first record on, stands for it, and goes before the port's next bytes. */
static int run_flush(struct history *h, struct run *r)
{
    if (!r->n)
        return 0;
    int rc = run_write(h, r);
    if (rc < 0) {
        disk_failed(h, rc, r->payload);
        add_wlost(r->p, r->lost + r->payload, r->first_us);
        h->gaps_pending = true;
    } else {
        disk_ok(h);
    }
    r->n = r->niov = 0;
    return rc;
}

/* Bytes that cannot go after a loss that is not on disk yet: they join it. */
static void lose_too(struct history *h, struct hport *p, int rc, uint64_t lost, size_t len,
                     int64_t time_us)
{
    add_wlost(p, lost + len, time_us);
    if (len)
        disk_failed(h, rc, len);
}

/* Adds one record to the run, writing the run first when the record does not fit in it.
 * false: that write failed, and the record joined the pending gap instead. */
static bool run_push(struct history *h, struct run *r, int64_t time_us, uint64_t lost,
                     uint32_t flags, const uint8_t *data, size_t len)
{
    struct hport *p = r->p;
    if (time_us < p->last_us)
        time_us = p->last_us;
    if (r->n && time_us < r->last_us)
        time_us = r->last_us;
    size_t reclen = HISTORY_HDR_BYTES + len;
    if (r->n && !run_takes(h, r, reclen)) {
        int rc = run_flush(h, r);
        if (rc < 0) {
            lose_too(h, p, rc, lost, len, time_us);
            return false;
        }
    }
    if (!r->n)
        run_start(h, r, &time_us, reclen);
    run_add(r, time_us, lost, flags, data, len);
    return true;
}

/* The port's pending gap, then data split into records, into the run. */
static void run_port(struct history *h, struct run *r, int64_t time_us, uint32_t flags,
                     const uint8_t *data, size_t len)
{
    struct hport *p = r->p;
    if (p->wlost) {
        uint64_t lost = p->wlost;
        p->wlost = 0; /* the run carries it now; a failed write gives it back */
        if (!run_push(h, r, p->wlost_since, lost, 0, NULL, 0)) {
            lose_too(h, p, -EIO, 0, len, time_us);
            return;
        }
    }
    while (len) {
        size_t piece = len < h->piece_max ? len : h->piece_max;
        bool kept = run_push(h, r, time_us, 0, flags, data, piece);
        data += piece;
        len -= piece;
        if (!kept) {
            lose_too(h, p, -EIO, 0, len, time_us);
            return;
        }
    }
}

static void add_wlost(struct hport *p, uint64_t lost, int64_t since)
{
    if (!p->wlost)
        p->wlost_since = since;
    p->wlost += lost;
}

/* Removes the port's oldest segment (file and index). */
static void drop_oldest(struct history *h, struct hport *p)
{
    char path[PATH_MAX];
    seg_path(h, p, p->segs[0].start_us, path, sizeof(path));
    if (p->nsegs == 1 && p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
    if (unlink(path) < 0 && errno != ENOENT && !h->unlink_failing) {
        log_error("history: cannot remove %s: %s", path, strerror(errno));
        h->unlink_failing = true;
    }
    pthread_mutex_lock(&h->mu);
    uint64_t size = p->segs[0].size;
    memmove(p->segs, p->segs + 1, (p->nsegs - 1) * sizeof(*p->segs));
    p->nsegs--;
    p->bytes -= size;
    h->ctr.disk_bytes -= size;
    h->ctr.dropped++;
    pthread_mutex_unlock(&h->mu);
    if (!p->nsegs) {
        p->sealed = false;
        p->dir_made = false;
        port_dir(h, p, path, sizeof(path));
        rmdir(path);
        snprintf(path, sizeof(path), "%s/%s", h->dir, p->uuid);
        rmdir(path); /* fails while other ports of the VM have history: fine */
        h->emptied++;
    }
}

static struct hport *all_ports(struct history *h)
{
    pthread_mutex_lock(&h->mu);
    struct hport *all = h->all;
    pthread_mutex_unlock(&h->mu);
    return all; /* others only add at the head and only this thread frees: walk unlocked */
}

static void enforce_port_cap(struct history *h, struct hport *p)
{
    while (p->nsegs && p->bytes > h->cfg.port_bytes)
        drop_oldest(h, p);
}

static void enforce_total_cap(struct history *h)
{
    while (h->ctr.disk_bytes > h->cfg.total_bytes) { /* only the writer changes it */
        struct hport *oldest = NULL;
        for (struct hport *p = all_ports(h); p; p = p->all_next) {
            if (p->nsegs && (!oldest || p->segs[0].start_us < oldest->segs[0].start_us))
                oldest = p;
        }
        if (!oldest)
            return;
        drop_oldest(h, oldest);
    }
}

/* The newest record time of the port's oldest segment: known for segments written since
 * open, else read once from the file (at worst bounded by the next segment's name). */
static int64_t oldest_segment_end(struct history *h, struct hport *p)
{
    struct hseg *s = &p->segs[0];
    if (s->last_us)
        return s->last_us;
    char path[PATH_MAX];
    uint64_t valid;
    int64_t last;
    seg_path(h, p, s->start_us, path, sizeof(path));
    if (scan_segment(path, &valid, &last) < 0 || !last)
        last = p->nsegs > 1 ? p->segs[1].start_us : p->last_us;
    pthread_mutex_lock(&h->mu);
    s->last_us = last;
    pthread_mutex_unlock(&h->mu);
    return last;
}

/* Drops segments whose newest record is older than max_age_s. */
static void enforce_age(struct history *h)
{
    if (h->cfg.max_age_s <= 0)
        return;
    int64_t cutoff = now_us() - h->cfg.max_age_s * 1000000;
    for (struct hport *p = all_ports(h); p; p = p->all_next) {
        while (p->nsegs && p->segs[0].start_us < cutoff && oldest_segment_end(h, p) < cutoff)
            drop_oldest(h, p);
    }
}

static void enforce_caps(struct history *h)
{
    enforce_age(h);
    for (struct hport *p = all_ports(h); p; p = p->all_next)
        enforce_port_cap(h, p);
    enforce_total_cap(h);
}

/* Splits a batch by port, each port's entries in order: they become that port's runs. */
static struct hport *group_by_port(struct hentry *batch, uint64_t *last_seq)
{
    struct hport *ports = NULL;
    while (batch) {
        struct hentry *e = batch;
        batch = e->next;
        e->next = NULL;
        *last_seq = e->seq;
        struct hport *p = e->port;
        if (p->wq_head) {
            p->wq_tail->next = e;
        } else {
            p->wq_head = e;
            p->wq_count = 0;
            p->wq_next = ports;
            ports = p;
        }
        p->wq_tail = e;
        p->wq_count++;
    }
    return ports;
}

/* Writes a port's entries of the batch and frees them; returns the queue bytes they held
 * (the caller gives them and p->wq_count back under the mutex). */
static uint64_t write_entries(struct history *h, struct hport *p)
{
    struct run r;
    run_init(&r, p);
    for (struct hentry *e = p->wq_head; e; e = e->next) {
        if (e->lost)
            add_wlost(p, e->lost, e->lost_since);
        run_port(h, &r, e->time_us, e->flags, e->data, e->len);
    }
    run_flush(h, &r);
    enforce_port_cap(h, p);
    uint64_t freed = 0;
    while (p->wq_head) {
        struct hentry *e = p->wq_head;
        p->wq_head = e->next;
        freed += e->len + HISTORY_ENTRY_OVERHEAD;
        free(e);
    }
    p->wq_tail = NULL;
    return freed;
}

/* A gap with nothing after it yet (the queue dropped the port's last bytes). */
static void write_gap(struct history *h, struct hport *p, uint64_t lost, int64_t since)
{
    add_wlost(p, lost, since);
    struct run r;
    run_init(&r, p);
    run_port(h, &r, 0, 0, NULL, 0);
    run_flush(h, &r);
}

/* Writes the gaps that failed writes left on ports that printed nothing since. Without
 * this a port whose last output met a full disk (a VM that went down then) would keep its
 * loss only in memory, unseen by readers, and close would drop it: a silent loss. Tried
 * when writes work again, once a minute and at close (they fail fast while the disk is
 * full). */
static void write_pending_gaps(struct history *h)
{
    if (!h->gaps_pending)
        return;
    h->gaps_pending = false; /* a gap that fails again sets it again */
    for (struct hport *p = all_ports(h); p; p = p->all_next) {
        if (p->wlost)
            write_gap(h, p, 0, 0);
    }
}

static bool holds_nothing(const struct hport *p)
{
    return !p->nsegs && p->fd < 0 && !p->queued && !p->in_lost && !p->qlost && !p->wlost &&
           !p->glost && !p->wq_head;
}

static void unlink_from_bucket(struct history *h, struct hport *p)
{
    struct hport **link = &h->buckets[uuid_hash(p->uuid)];
    while (*link != p)
        link = &(*link)->hnext;
    *link = p->hnext;
}

/* Frees the ports whose history the caps dropped, once nothing names them: without this,
 * the index would keep a node for every port that ever printed. A port that prints again
 * gets a new node (its time floor goes with the old one: nothing of it is left to order
 * against). Writer only, between walks; under the mutex, as appenders add at the head. */
static void forget_empty_ports(struct history *h)
{
    if (!h->emptied)
        return;
    size_t kept = 0;
    pthread_mutex_lock(&h->mu);
    for (struct hport **link = &h->all; *link;) {
        struct hport *p = *link;
        if (!holds_nothing(p)) {
            kept += !p->nsegs;
            link = &p->all_next;
            continue;
        }
        *link = p->all_next;
        unlink_from_bucket(h, p);
        h->nports--;
        free(p->segs);
        free(p);
    }
    pthread_mutex_unlock(&h->mu);
    h->emptied = kept; /* those still waiting for their queue: looked at again next time */
}

/* Closes the append fd of every port idle for idle_close_ms: a freed VM's ports (and
 * quiet ones) give their descriptor back, so open fds follow the ports that print, not
 * every port ever seen. A port that prints again reopens its segment. Writer only. */
static void close_idle(struct history *h)
{
    uint64_t now = mono_ms();
    if (now < h->next_idle_ms)
        return;
    h->next_idle_ms = now + (uint64_t)h->cfg.idle_close_ms / 2;
    pthread_mutex_lock(&h->mu);
    struct hport *all = h->all; /* only this thread frees ports */
    pthread_mutex_unlock(&h->mu);
    for (struct hport *p = all; p; p = p->all_next) {
        if (p->fd >= 0 && now - p->wrote_ms >= (uint64_t)h->cfg.idle_close_ms) {
            close(p->fd);
            p->fd = -1;
        }
    }
    forget_empty_ports(h);
}

static struct timespec mono_after_ms(uint64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Work has come: let more gather for up to gather_ms, so that the loop thread wakes the
 * writer once per batch, not once per console read. A reader in history_sync(), a queue
 * half full or stop cut it short. Called and returns with the mutex held. */
static void gather(struct history *h)
{
    if (!h->cfg.gather_ms)
        return;
    struct timespec until = mono_after_ms((uint64_t)h->cfg.gather_ms);
    h->writer_gathering = true;
    while (h->q_head && !h->stop && !h->sync_waiters && h->q_bytes < h->cfg.queue_bytes / 2) {
        if (pthread_cond_timedwait(&h->wake, &h->mu, &until) == ETIMEDOUT)
            break;
    }
    h->writer_gathering = false;
}

static void *writer_main(void *arg)
{
    struct history *h = arg;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->q_head && !h->lost_list && !h->stop && mono_ms() < h->next_age_ms &&
               mono_ms() < h->next_idle_ms) {
            uint64_t until = h->next_age_ms < h->next_idle_ms ? h->next_age_ms : h->next_idle_ms;
            struct timespec ts = mono_after_ms(until - mono_ms());
            h->writer_idle = true;
            pthread_cond_timedwait(&h->wake, &h->mu, &ts);
            h->writer_idle = false;
        }
        gather(h);
        struct hentry *batch = h->q_head;
        h->q_head = h->q_tail = NULL;
        struct hport *lost = h->lost_list;
        h->lost_list = NULL;
        uint64_t lost_seq = lost ? h->lost_seq : 0; /* done once their gaps are written */
        for (struct hport *p = lost; p; p = p->lost_next) {
            p->gnext = p->lost_next; /* lost_next is the appender's again once unlocked */
            p->glost = p->qlost;
            p->glost_since = p->qlost_since;
            p->qlost = 0;
            p->in_lost = false;
        }
        bool stopping = h->stop;
        pthread_mutex_unlock(&h->mu);

        if (!batch && !lost && stopping) {
            write_pending_gaps(h); /* one last try */
            break;
        }
        uint64_t seq = 0;
        for (struct hport *p = group_by_port(batch, &seq), *next; p; p = next) {
            next = p->wq_next;
            uint64_t freed = write_entries(h, p);
            pthread_mutex_lock(&h->mu);
            h->q_bytes -= freed; /* room for appends, port by port */
            p->queued -= p->wq_count;
            pthread_mutex_unlock(&h->mu);
        }
        /* Losses after everything that was queued for those ports: their gaps go last. */
        for (struct hport *p = lost; p; p = p->gnext) {
            if (p->glost) {
                write_gap(h, p, p->glost, p->glost_since);
                p->glost = 0;
            }
        }
        if (!h->disk_failing) /* the batch's writes worked (or there were none) */
            write_pending_gaps(h);
        enforce_total_cap(h);
        close_idle(h);
        if (mono_ms() >= h->next_age_ms) {
            write_pending_gaps(h);
            enforce_age(h);
            h->next_age_ms = mono_ms() + (uint64_t)h->cfg.age_check_ms;
            h->next_idle_ms = mono_ms() + (uint64_t)h->cfg.idle_close_ms;
        }
        pthread_mutex_lock(&h->mu);
        if (lost_seq > seq)
            seq = lost_seq;
        if (seq > h->seq_done)
            h->seq_done = seq;
        if (h->sync_waiters)
            pthread_cond_broadcast(&h->done);
    }
    return NULL;
}

/* ---- the public side -------------------------------------------------------------------- */

int history_open(struct history **out, const char *dir, const struct history_config *cfg)
{
    *out = NULL;
    if (!dir || strlen(dir) >= sizeof(((struct history *)0)->dir))
        return -ENAMETOOLONG;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        int err = errno;
        struct stat st;
        if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
            return -err;
    }
    struct history *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    memcpy(h->dir, dir, strlen(dir) + 1);
    h->cfg = *cfg;
    if (!h->cfg.age_check_ms)
        h->cfg.age_check_ms = HISTORY_AGE_CHECK_MS;
    if (!h->cfg.idle_close_ms)
        h->cfg.idle_close_ms = HISTORY_IDLE_CLOSE_MS;
    if (!h->cfg.gather_ms)
        h->cfg.gather_ms = HISTORY_GATHER_MS;
    else if (h->cfg.gather_ms < 0)
        h->cfg.gather_ms = 0;
    h->seg_bytes = h->cfg.segment_bytes;
    if (!h->seg_bytes) {
        /* Never more than the smaller cap: a segment past it would be dropped whole, the
         * port's newest output with it (a total cap of 64 KiB under 256 KiB segments). */
        uint64_t cap =
            h->cfg.port_bytes < h->cfg.total_bytes ? h->cfg.port_bytes : h->cfg.total_bytes;
        h->seg_bytes = cap / 8;
        h->seg_bytes = h->seg_bytes < SEGMENT_MIN           ? SEGMENT_MIN
                       : h->seg_bytes > HISTORY_SEGMENT_MAX ? HISTORY_SEGMENT_MAX
                                                            : h->seg_bytes;
        if (h->seg_bytes > cap)
            h->seg_bytes = cap;
    }
    if (h->seg_bytes < HISTORY_HDR_BYTES + 1)
        h->seg_bytes = HISTORY_HDR_BYTES + 1;
    h->piece_max = h->seg_bytes - HISTORY_HDR_BYTES < HISTORY_RECORD_MAX
                       ? (size_t)(h->seg_bytes - HISTORY_HDR_BYTES)
                       : HISTORY_RECORD_MAX;

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->wake, &ca);
    pthread_cond_init(&h->done, NULL);
    pthread_condattr_destroy(&ca);

    load_all(h);
    enforce_caps(h);
    h->emptied = 1;   /* a port loaded without any segment left is forgotten at the first look */
    size_t ports = 0; /* counted before the writer may forget any */
    for (struct hport *p = h->all; p; p = p->all_next)
        ports += p->nsegs > 0;
    h->next_age_ms = mono_ms() + (uint64_t)h->cfg.age_check_ms;
    h->next_idle_ms = mono_ms() + (uint64_t)h->cfg.idle_close_ms;
    /* The writer takes no signals (vscd reads SIGTERM through a signalfd in the loop,
     * which only works while no thread leaves it unblocked). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = -pthread_create(&h->thread, NULL, writer_main, h);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc < 0) {
        history_close(h);
        return rc;
    }
    h->thread_started = true;
    log_info("history: %s: %" PRIu64 " bytes kept for %zu port(s)", dir, h->ctr.disk_bytes, ports);
    *out = h;
    return 0;
}

void history_close(struct history *h)
{
    if (!h)
        return;
    if (h->thread_started) {
        pthread_mutex_lock(&h->mu);
        h->stop = true;
        pthread_cond_signal(&h->wake);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->thread, NULL);
    }
    while (h->q_head) { /* only when the thread never ran */
        struct hentry *e = h->q_head;
        h->q_head = e->next;
        free(e);
    }
    struct hport *p = h->all;
    while (p) {
        struct hport *next = p->all_next;
        if (p->fd >= 0)
            close(p->fd);
        free(p->segs);
        free(p);
        p = next;
    }
    pthread_cond_destroy(&h->wake);
    pthread_cond_destroy(&h->done);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

static void append(struct history *h, const char *vm_uuid, int port_idx, int64_t time_us,
                   uint32_t flags, const void *data, size_t len)
{
    char uuid[UUID_MAX + 1];
    if (!h || !len || port_idx < 1 || port_idx > PORT_IDX_MAX || !uuid_norm(vm_uuid, uuid))
        return;
    if (time_us < 0)
        time_us = 0;
    uint64_t cost = len + HISTORY_ENTRY_OVERHEAD;
    struct hentry *e = cost <= h->cfg.queue_bytes ? malloc(sizeof(*e) + len) : NULL;
    pthread_mutex_lock(&h->mu);
    struct hport *p = port_find(h, uuid, port_idx, true);
    if (!p) {
        h->ctr.lost_queue += len;
    } else if (!e || h->q_bytes + cost > h->cfg.queue_bytes) {
        if (!p->qlost)
            p->qlost_since = time_us;
        p->qlost += len;
        h->ctr.lost_queue += len;
        if (!p->in_lost) {
            p->in_lost = true;
            p->lost_next = h->lost_list;
            h->lost_list = p;
        }
        h->lost_seq = ++h->seq_in; /* a reader after this waits for the gap (history_sync) */
    } else {
        *e = (struct hentry){
            .port = p, .time_us = time_us, .flags = flags, .len = len, .seq = ++h->seq_in};
        memcpy(e->data, data, len);
        if (p->qlost) { /* the gap goes before these bytes; the writer skips it in lost_list */
            e->lost = p->qlost;
            e->lost_since = p->qlost_since;
            p->qlost = 0;
        }
        if (h->q_tail)
            h->q_tail->next = e;
        else
            h->q_head = e;
        h->q_tail = e;
        h->q_bytes += cost;
        p->queued++;
        e = NULL;
        if (h->writer_idle || (h->writer_gathering && h->q_bytes >= h->cfg.queue_bytes / 2))
            pthread_cond_signal(&h->wake);
    }
    pthread_mutex_unlock(&h->mu);
    free(e); /* not queued */
}

void history_append_at(struct history *h, const char *vm_uuid, int port_idx, int64_t time_us,
                       const void *data, size_t len)
{
    append(h, vm_uuid, port_idx, time_us, 0, data, len);
}

void history_append(struct history *h, const char *vm_uuid, int port_idx, const void *data,
                    size_t len)
{
    if (h)
        append(h, vm_uuid, port_idx, now_us(), 0, data, len);
}

void history_append_private(struct history *h, const char *vm_uuid, int port_idx, const void *data,
                            size_t len)
{
    if (h)
        append(h, vm_uuid, port_idx, now_us(), HISTORY_FLAG_PRIVATE, data, len);
}

void history_sync(struct history *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    uint64_t target = h->seq_in;
    h->sync_waiters++;
    if (h->writer_gathering || (h->writer_idle && h->seq_done < target))
        pthread_cond_signal(&h->wake); /* idle: only a loss's gap is left to write */
    while (h->seq_done < target)
        pthread_cond_wait(&h->done, &h->mu);
    h->sync_waiters--;
    pthread_mutex_unlock(&h->mu);
}

void history_counters(struct history *h, struct history_counters *out)
{
    memset(out, 0, sizeof(*out));
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    *out = h->ctr;
    out->queue_bytes = h->q_bytes;
    out->ports = h->nports;
    pthread_mutex_unlock(&h->mu);
}

/* ---- readers ------------------------------------------------------------------------------ */

struct sub {
    int idx;
    char dir[PATH_MAX - 24]; /* <h->dir>/<uuid>/<idx> */
    int64_t *starts;         /* the segments when the cursor opened */
    size_t nseg, seg_i;
    struct reader rd;
    uint64_t off;
    struct rec cur;
    bool have, done;
};

struct history_cursor {
    int64_t from, to; /* to: INT64_MAX = no end */
    struct sub *subs;
    size_t nsub;
};

static int cmp_sub(const void *a, const void *b)
{
    const struct sub *x = a, *y = b;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

void history_cursor_close(struct history_cursor *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nsub; i++) {
        if (c->subs[i].rd.fd >= 0)
            close(c->subs[i].rd.fd);
        free(c->subs[i].rd.buf);
        free(c->subs[i].starts);
    }
    free(c->subs);
    free(c);
}

/* Snapshots the segment lists of the VM's ports (port_idx 0 = all) under the mutex. */
static int cursor_make(struct history *h, const char *uuid, int port_idx, int64_t from_us,
                       int64_t to_us, struct history_cursor **out)
{
    struct history_cursor *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->from = from_us;
    c->to = to_us > 0 ? to_us : INT64_MAX;
    int rc = 0;
    pthread_mutex_lock(&h->mu);
    for (struct hport *p = h->buckets[uuid_hash(uuid)]; p && rc == 0; p = p->hnext) {
        if (strcmp(p->uuid, uuid) != 0 || (port_idx && p->idx != port_idx) || !p->nsegs)
            continue;
        struct sub *subs = realloc(c->subs, (c->nsub + 1) * sizeof(*subs));
        int64_t *starts = malloc(p->nsegs * sizeof(*starts));
        if (subs)
            c->subs = subs;
        if (!subs || !starts) {
            free(starts);
            rc = -ENOMEM;
            break;
        }
        struct sub *s = &c->subs[c->nsub++];
        *s = (struct sub){.idx = p->idx, .starts = starts, .nseg = p->nsegs};
        s->rd.fd = -1;
        port_dir(h, p, s->dir, sizeof(s->dir));
        for (size_t i = 0; i < p->nsegs; i++) {
            starts[i] = p->segs[i].start_us;
            /* Times never decrease within a port, so a segment holds nothing later than
             * the next one's name: reading starts in the last one named before `from`. */
            if (starts[i] < from_us)
                s->seg_i = i;
        }
    }
    pthread_mutex_unlock(&h->mu);
    if (rc == 0 && !c->nsub)
        rc = -ENOENT;
    if (rc < 0) {
        history_cursor_close(c);
        return rc;
    }
    qsort(c->subs, c->nsub, sizeof(*c->subs), cmp_sub);
    *out = c;
    return 0;
}

int history_cursor_open(struct history *h, const char *vm_uuid, int port_idx, int64_t from_us,
                        int64_t to_us, struct history_cursor **out)
{
    char uuid[UUID_MAX + 1];
    *out = NULL;
    if (port_idx < 0)
        return -EINVAL;
    if (!h || !uuid_norm(vm_uuid, uuid))
        return -ENOENT;
    history_sync(h);
    return cursor_make(h, uuid, port_idx, from_us, to_us, out);
}

/* The sub-cursor's next record in [from, to): sets have, or done. 0 or -errno. */
static int sub_advance(struct history_cursor *c, struct sub *s)
{
    while (!s->done) {
        if (s->rd.fd < 0) {
            if (s->seg_i >= s->nseg) {
                s->done = true;
                break;
            }
            char path[PATH_MAX];
            snprintf(path, sizeof(path), "%s/%016" PRIx64 ".seg", s->dir,
                     (uint64_t)s->starts[s->seg_i]);
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                if (errno != ENOENT) /* ENOENT: dropped by a cap since the cursor opened */
                    return -errno;
                s->seg_i++;
                continue;
            }
            reader_reset(&s->rd, fd);
            s->off = 0;
        }
        uint64_t next;
        int rc = read_record(&s->rd, s->off, &s->cur, &next);
        if (rc < 0)
            return rc;
        if (rc == 0) { /* the segment's end (or a torn tail): on to the next one */
            close(s->rd.fd);
            s->rd.fd = -1;
            s->seg_i++;
            continue;
        }
        s->off = next;
        if (s->cur.time_us < c->from)
            continue;
        if (s->cur.time_us >= c->to) {
            s->done = true;
            break;
        }
        s->have = true;
        return 0;
    }
    return 0;
}

int history_cursor_next(struct history_cursor *c, struct history_chunk *chunk)
{
    struct sub *best = NULL;
    for (size_t i = 0; i < c->nsub; i++) {
        struct sub *s = &c->subs[i];
        if (!s->have && !s->done) {
            int rc = sub_advance(c, s);
            if (rc < 0)
                return rc;
        }
        if (s->have && (!best || s->cur.time_us < best->cur.time_us))
            best = s;
    }
    if (!best)
        return 0;
    *chunk = (struct history_chunk){.time_us = best->cur.time_us,
                                    .port_idx = best->idx,
                                    .data = best->cur.data,
                                    .len = best->cur.len,
                                    .lost = best->cur.lost,
                                    .private_output = best->cur.flags & HISTORY_FLAG_PRIVATE};
    best->have = false;
    return 1;
}

static int cmp_desc_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x < y) - (x > y);
}

/* Payload bytes of the VM's records in [from, to) and the first one's time (pass 1), or
 * the time of the record where the last `bytes` of `total` begin (pass 2: total given). */
static int tail_pass(struct history *h, const char *uuid, int port_idx, int64_t from, int64_t to,
                     uint64_t bytes, uint64_t *total, int64_t *when)
{
    struct history_cursor *c;
    int rc = cursor_make(h, uuid, port_idx, from, to, &c);
    if (rc < 0)
        return rc;
    struct history_chunk ch;
    uint64_t remaining = *total, sum = 0;
    bool pass2 = remaining > 0;
    *when = INT64_MIN;
    while ((rc = history_cursor_next(c, &ch)) == 1) {
        /* A gap adds no bytes; but its time counts as the first one's: when everything
         * kept is asked for, a gap before the first bytes is part of it. */
        if (!pass2) {
            if (*when == INT64_MIN)
                *when = ch.time_us;
            sum += ch.len;
        } else if (ch.len >= remaining || remaining - ch.len < bytes) {
            *when = ch.time_us;
            break;
        } else {
            remaining -= ch.len;
        }
    }
    history_cursor_close(c);
    if (!pass2)
        *total = sum;
    return rc < 0 ? rc : 0;
}

int history_tail_start(struct history *h, const char *vm_uuid, int port_idx, uint64_t bytes,
                       int64_t to_us, int64_t *from_us)
{
    char uuid[UUID_MAX + 1];
    if (!h || port_idx < 0 || !uuid_norm(vm_uuid, uuid))
        return -ENOENT;
    if (!bytes)
        bytes = 1;
    history_sync(h);
    int64_t to = to_us > 0 ? to_us : now_us() + 1;

    /* The segment starts before `to`, newest first: a first guess of how far back `bytes`
     * reach; each miss doubles the reach. */
    size_t n = 0, cap = 0;
    int64_t *starts = NULL;
    int rc = 0;
    pthread_mutex_lock(&h->mu);
    for (struct hport *p = h->buckets[uuid_hash(uuid)]; p; p = p->hnext) {
        if (strcmp(p->uuid, uuid) != 0 || (port_idx && p->idx != port_idx))
            continue;
        for (size_t i = 0; i < p->nsegs && p->segs[i].start_us < to; i++) {
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                int64_t *s2 = realloc(starts, cap * sizeof(*s2));
                if (s2)
                    starts = s2;
                if (!s2) {
                    rc = -ENOMEM;
                    break;
                }
            }
            starts[n++] = p->segs[i].start_us;
        }
    }
    pthread_mutex_unlock(&h->mu);
    if (rc < 0 || !n) {
        free(starts);
        return rc < 0 ? rc : -ENOENT;
    }
    qsort(starts, n, sizeof(*starts), cmp_desc_i64);
    /* Each segment holds at most seg_bytes: start with as many as `bytes` could fill. */
    uint64_t guess = bytes / (h->seg_bytes - HISTORY_HDR_BYTES) + 1;
    size_t k = guess < n ? (size_t)guess : n - 1;
    for (;;) {
        uint64_t total = 0;
        int64_t first;
        rc = tail_pass(h, uuid, port_idx, starts[k], to, bytes, &total, &first);
        if (rc < 0)
            break;
        if (total < bytes && k < n - 1) {
            k = k * 2 + 1 < n - 1 ? k * 2 + 1 : n - 1;
            continue;
        }
        if (!total) {
            rc = -ENOENT;
        } else if (total <= bytes) {
            *from_us = first;
        } else {
            rc = tail_pass(h, uuid, port_idx, starts[k], to, bytes, &total, &first);
            if (rc == 0)
                *from_us = first;
        }
        break;
    }
    free(starts);
    return rc;
}

bool history_has(struct history *h, const char *vm_uuid)
{
    char uuid[UUID_MAX + 1];
    bool found = false;
    if (!h || !uuid_norm(vm_uuid, uuid))
        return false;
    pthread_mutex_lock(&h->mu);
    for (struct hport *p = h->buckets[uuid_hash(uuid)]; p && !found; p = p->hnext)
        found = strcmp(p->uuid, uuid) == 0 && p->nsegs;
    pthread_mutex_unlock(&h->mu);
    return found;
}

int history_stat(struct history *h, const char *vm_uuid, uint64_t *bytes, int64_t *first_us,
                 int64_t *last_us)
{
    char uuid[UUID_MAX + 1];
    if (!h || !uuid_norm(vm_uuid, uuid))
        return -ENOENT;
    uint64_t sum = 0;
    int64_t first = INT64_MAX, last = 0;
    pthread_mutex_lock(&h->mu);
    for (struct hport *p = h->buckets[uuid_hash(uuid)]; p; p = p->hnext) {
        if (strcmp(p->uuid, uuid) != 0 || !p->nsegs)
            continue;
        sum += p->bytes;
        if (p->segs[0].start_us < first)
            first = p->segs[0].start_us;
        if (p->last_us > last)
            last = p->last_us;
    }
    pthread_mutex_unlock(&h->mu);
    if (!sum)
        return -ENOENT;
    *bytes = sum;
    *first_us = first;
    *last_us = last;
    return 0;
}
