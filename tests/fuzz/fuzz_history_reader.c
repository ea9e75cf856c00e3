/* history_reader: the on-disk history reader on any bytes. The input becomes segment files
 * of one VM under a fresh directory; history_open() recovers them (cuts a torn tail, applies
 * the caps), then cursors (all ports merged, one port, a time window), history_stat and
 * history_tail_start read them. Input: B0 BYTES — B0 bit 0: the bytes are split between
 * ports 1 and 2 (a merged read), bit 1: between two segments of port 1, bit 2: every
 * record's CRC is made right first (so mutations reach the fields behind the CRC). */
#include "fuzz.h"

#include "history.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#define VM "6c2b1f3e-0d4a-4e8b-9f1a-2b3c4d5e6f70"

static void write_file(const char *path, const uint8_t *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len) || close(fd) < 0)
        abort();
}

static void segment(const char *dir, int port, const char *name, const uint8_t *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/" VM, dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/" VM "/%d", dir, port);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/" VM "/%d/%s", dir, port, name);
    write_file(path, data, len);
}

static void read_all(struct history *h, int port, int64_t from, int64_t to)
{
    struct history_cursor *c = NULL;
    int rc = history_cursor_open(h, VM, port, from, to, &c);
    if (rc == -ENOENT)
        return;
    if (rc < 0 || !c)
        abort();
    /* Only the sizes are checked: record times are whatever the (CRC-valid) bytes say, and
     * a file written by anything but vscd may have them out of order or out of range. */
    struct history_chunk ch;
    while ((rc = history_cursor_next(c, &ch)) == 1) {
        if (ch.len > HISTORY_RECORD_MAX || (ch.len && !ch.data))
            abort();
        if (ch.len)
            (void)((volatile const uint8_t *)ch.data)[ch.len - 1];
    }
    history_cursor_close(c);
}

/* Walks the records as a reader would and writes the right CRC into each header. */
static void fix_crcs(uint8_t *p, size_t len)
{
    size_t off = 0;
    while (len - off >= HISTORY_HDR_BYTES) {
        uint32_t plen;
        memcpy(&plen, p + off + 4, 4);
        size_t avail = len - off - HISTORY_HDR_BYTES;
        size_t take = plen < avail ? plen : avail;
        uint32_t crc = history_crc32(0, p + off, 28);
        crc = history_crc32(crc, p + off + HISTORY_HDR_BYTES, take);
        memcpy(p + off + 28, &crc, 4);
        off += HISTORY_HDR_BYTES + take;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_ERROR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4 * HISTORY_SEGMENT_MAX)
        return 0;
    uint8_t how = data[0];
    uint8_t *copy = malloc(size);
    if (!copy)
        abort();
    memcpy(copy, data + 1, --size);
    if (how & 4)
        fix_crcs(copy, size);
    data = copy;
    char dir[256];
    fuzz_tmpdir(dir, sizeof(dir), "history");
    size_t half = size / 2;
    if (how & 1) {
        segment(dir, 1, "0000000000000001.seg", data, half);
        segment(dir, 2, "0000000000000001.seg", data + half, size - half);
    } else if (how & 2) {
        segment(dir, 1, "0000000000000001.seg", data, half);
        segment(dir, 1, "0000000000000100.seg", data + half, size - half);
    } else {
        segment(dir, 1, "0000000000000001.seg", data, size);
    }

    struct history_config cfg = {
        .port_bytes = 1 << 20, .total_bytes = 4 << 20, .max_age_s = 0, .queue_bytes = 64 << 10};
    struct history *h = NULL;
    if (history_open(&h, dir, &cfg) != 0 || !h)
        abort();
    read_all(h, 0, 0, 0);
    read_all(h, 1, 0, 0);
    read_all(h, 2, 0, 0);
    read_all(h, 0, 2, 1000);
    uint64_t bytes;
    int64_t first, last, from;
    (void)history_stat(h, VM, &bytes, &first, &last); /* times as the bytes say: any order */
    (void)history_tail_start(h, VM, 0, 100, 0, &from);
    (void)history_has(h, VM);
    /* After recovery the port takes new records after what was kept. */
    history_append_at(h, VM, 1, 5, "more", 4);
    read_all(h, 1, 0, 0);
    history_close(h);
    fuzz_rmtree(dir);
    free(copy);
    return 0;
}
