/*
 * history — every port's console output kept on disk with timestamps, under size and age
 * caps, across vscd restarts and after a VM is freed (until the caps expire it).
 *
 * Layout: <dir>/<vm-uuid>/<port-idx>/<first-record-time>.seg. The VM UUID is lower case;
 * the port index is decimal (1..N); a segment is named by its first record's time in
 * microseconds since the epoch, 16 lower-case hex digits, so a time range finds its files
 * by name. Names grow strictly within a port. A segment is append-only and is closed once
 * it holds segment_bytes (a record is never split across segments; a segment holds at
 * least one record). The caps drop whole segments, oldest first.
 *
 * Record (every integer little-endian; HISTORY_HDR_BYTES = 32 bytes, then the payload):
 *   off size field
 *    0   4   magic    "VSH1" (bytes 0x56 0x53 0x48 0x31)
 *    4   4   len      payload bytes (0 for a gap record); at most HISTORY_RECORD_MAX
 *    8   8   time_us  int64: CLOCK_REALTIME microseconds when the bytes arrived; never
 *                     smaller than the previous record's of the same port (a clock that
 *                     went back is held at the port's last time; a record that opens a
 *                     segment then takes the previous segment's name + 1, so names grow)
 *   16   8   lost     uint64: a gap record's count of bytes that were not kept; else 0
 *   24   4   flags    bit 0 = gap (the record stands for `lost` bytes; no payload);
 *                     bit 1 = private (the bytes arrived while the port was private: a
 *                     reader shows them only to whom may see private output)
 *   28   4   crc      CRC-32 (ISO-HDLC, zlib's crc32) of bytes 0..27, then of the payload
 *   32  len  payload  the console bytes, as read from the backend
 * A reader stops reading a segment at the first record that does not fit in the file or
 * whose magic, length or CRC is wrong: so a torn last record (vscd killed in a write) is
 * only ever the end. history_open() cuts it off the newest segment of each port.
 *
 * Threads: history_append() runs in the loop thread and only copies the bytes into a
 * bounded queue (queue_bytes over all ports, counting each append as len + 64 bytes)
 * under a mutex; one writer thread writes records, enforces the caps and checks the age
 * cap once a minute. The writer lets appends gather for gather_ms after the first one
 * wakes it, so the loop thread signals it about once per batch, not once per read, and
 * writes each port's records of a batch with one writev (up to 64 records, never across
 * a segment's end); a failed or short write loses the whole write, marked by one gap.
 * Readers (cursor, tail) run in the caller's thread: they first wait for what was queued
 * before them (history_sync(): bounded by queue_bytes of writes) and then read the files
 * without holding up the writer; vscd calls them on its worker thread, never in the loop.
 * history_stat() does not wait: it counts what the writer has written.
 *
 * Losses, never silent:
 * - Queue full: the bytes are dropped at once (history_append never waits); the port's
 *   loss is counted and one gap record (lost = the bytes dropped, time = the first drop)
 *   is queued ahead of that port's next bytes, or by the writer when it empties the queue.
 * - A failed write (disk full, read-only directory): its records are counted as lost, a
 *   gap record is written before the port's next record that can be written (a port that
 *   prints nothing more, a VM that went down, gets it after the next write that works, at
 *   the minute's check or at close); the error is logged once until writes work again
 *   (then logged once more, with the count). A partly done write is truncated off, or if
 *   that fails too, the segment is sealed and the next record starts a new one. Reads keep
 *   working; vscd keeps running.
 *
 * Caps (whole segments, enforced by the writer after each batch and at open): a port's
 * segments beyond port_bytes (bytes on disk, headers included), the oldest segments of
 * any port beyond total_bytes, and a segment whose newest record is older than max_age_s.
 * Crash safety needs no fsync: a kill -9 leaves the page cache to the kernel; a power cut
 * may lose the last seconds and leave a torn tail, which the reader and open handle.
 *
 * Every function takes h == NULL (history off): append and sync do nothing, reads answer
 * -ENOENT.
 */
#ifndef VSC_HISTORY_H
#define VSC_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HISTORY_HDR_BYTES      32
#define HISTORY_RECORD_MAX     65536 /* longer appends are split into several records */
#define HISTORY_SEGMENT_MAX    (256 * 1024)
#define HISTORY_ENTRY_OVERHEAD 64    /* what one queued append costs beyond its bytes */
#define HISTORY_IDLE_CLOSE_MS  10000 /* a port not written for this long closes its fd */
#define HISTORY_AGE_CHECK_MS   60000
#define HISTORY_GATHER_MS      20 /* appends gather this long before the writer writes them */
#define HISTORY_MAGIC          0x31485356u /* "VSH1" read as a little-endian uint32 */
#define HISTORY_FLAG_GAP       1u
#define HISTORY_FLAG_PRIVATE   2u

struct history;

struct history_config {
    uint64_t port_bytes;  /* cap per port (VM uuid + port index) */
    uint64_t total_bytes; /* cap over everything */
    int64_t max_age_s;    /* records older than this are dropped; 0 = no age cap */
    uint64_t queue_bytes; /* bytes waiting for the writer thread, over all ports */
    /* Optional (0 = default): */
    /* default: the smaller of port_bytes and total_bytes, / 8, within 1 KiB ..
     * HISTORY_SEGMENT_MAX but never more than that cap (a bigger segment would take the
     * port's newest output with it when the cap drops it) */
    uint64_t segment_bytes;
    int64_t age_check_ms;  /* default HISTORY_AGE_CHECK_MS */
    int64_t idle_close_ms; /* default HISTORY_IDLE_CLOSE_MS */
    int64_t gather_ms;     /* default HISTORY_GATHER_MS; < 0: write at once */
};

/* Opens (creating) <dir>, recovers after a crash (a torn last record is cut off), applies
 * the caps, starts the writer thread. A directory that exists but cannot be written is
 * accepted (every append is then counted as lost). 0 or -errno. */
int history_open(struct history **out, const char *dir, const struct history_config *cfg);

/* Writes out everything queued (and pending gap records), stops the thread, frees.
 * NULL is fine. */
void history_close(struct history *h);

/* Queues a port's output, stamped now (CLOCK_REALTIME, microseconds). Never blocks and
 * never fails loudly: when the queue is full the bytes are not kept, and a gap record (how
 * many bytes were lost, when) is written in their place. Copies the data. A VM UUID that
 * is not 1..36 characters of [0-9A-Za-z-], or a port index outside 1..9999, is ignored. */
void history_append(struct history *h, const char *vm_uuid, int port_idx, const void *data,
                    size_t len);

/* history_append() of output a private mode hides (HISTORY_FLAG_PRIVATE): kept like any
 * other, marked so that readers can leave it out (docs/SECURITY.md). */
void history_append_private(struct history *h, const char *vm_uuid, int port_idx, const void *data,
                            size_t len);

/* history_append() with a given time (tests, imports). Times are kept non-decreasing per
 * port: an earlier time than the port's last record is recorded as that last time (or 1 us
 * after the newest segment's name, when the record opens a new segment). */
void history_append_at(struct history *h, const char *vm_uuid, int port_idx, int64_t time_us,
                       const void *data, size_t len);

/* Waits until everything queued before the call is on disk (or counted as lost), and the
 * gap record of every loss before it too. The readers below call it first; bounded by
 * queue_bytes of writes. */
void history_sync(struct history *h);

struct history_chunk {
    int64_t time_us; /* when the bytes arrived */
    int port_idx;
    const uint8_t *data; /* valid until the next read or close */
    size_t len;
    uint64_t lost;       /* > 0: a gap record (len == 0): bytes the queue could not keep */
    bool private_output; /* the bytes arrived while the port was private */
};

struct history_cursor;

/* A reader over one VM's records with from_us <= time < to_us (to_us 0 = no end), port_idx
 * 0 = every port (merged in time order; equal times: lower port first), else one port.
 * 0, -ENOENT (no history for that VM or port) or -errno. */
int history_cursor_open(struct history *h, const char *vm_uuid, int port_idx, int64_t from_us,
                        int64_t to_us, struct history_cursor **out);

/* 1 = *chunk filled, 0 = end, -errno. Reads at most one record per port it merges. */
int history_cursor_next(struct history_cursor *c, struct history_chunk *chunk);

/* NULL is fine. */
void history_cursor_close(struct history_cursor *c);

/* The time of the first byte at or after which the last `bytes` bytes of the VM's output
 * (port_idx 0 = all) before to_us (0 = now) begin: for "the last N bytes before it went
 * down". The answer is the time of the record holding that byte, so reading from it gives
 * at least `bytes` bytes (or everything kept, if less is kept). 0 or -ENOENT (nothing
 * kept before to_us). */
int history_tail_start(struct history *h, const char *vm_uuid, int port_idx, uint64_t bytes,
                       int64_t to_us, int64_t *from_us);

/* What is kept for a VM: bytes on disk (record headers included), first and last record
 * times; -ENOENT when nothing. Never waits for the writer (the loop calls it): output still
 * queued (gather_ms and the write, typically) is not counted yet. */
int history_stat(struct history *h, const char *vm_uuid, uint64_t *bytes, int64_t *first_us,
                 int64_t *last_us);

/* Whether anything of the VM is on disk, without waiting for the queue (cheap: for listing
 * many VMs). */
bool history_has(struct history *h, const char *vm_uuid);

struct history_counters {
    uint64_t written;     /* payload bytes written */
    uint64_t lost_queue;  /* bytes dropped because the queue was full */
    uint64_t lost_disk;   /* bytes whose write failed */
    uint64_t dropped;     /* segments removed by the caps */
    uint64_t disk_bytes;  /* bytes on disk now */
    uint64_t queue_bytes; /* queued now (entry overhead included) */
    uint64_t ports;       /* ports in the index now: with history, or bytes on the way */
};

/* A snapshot of the counters (for an operator's view). */
void history_counters(struct history *h, struct history_counters *out);

/* The CRC-32 used by the record format (exposed for tests). */
uint32_t history_crc32(uint32_t crc, const void *data, size_t len);

#endif
