/* history: records on disk, merge order, ranges, tails, caps, restarts, torn tails, losses. */
#include "test.h"

#include "history.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define VM  "0b8e7a4c-5a1f-4d3e-9c2b-7f6e5d4c3b2a"
#define VM2 "1c9f8b5d-6b2a-4e4f-8d3c-8a7f6e5d4c3b"
#define T0  ((int64_t)1700000000000000) /* 2023-11-14, in microseconds */

static const struct history_config big = {
    .port_bytes = 1 << 20, .total_bytes = 8 << 20, .max_age_s = 0, .queue_bytes = 1 << 20};

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static struct history *open_at(const char *dir, const struct history_config *cfg)
{
    struct history *h = NULL;
    int rc = history_open(&h, dir, cfg);
    if (rc != 0)
        test_fail(__FILE__, __LINE__, "history_open(%s): %d", dir, rc);
    return h;
}

/* A fresh directory with a history open in it. */
static struct history *open_fresh(char *dir, size_t dirsz, const struct history_config *cfg)
{
    return test_tmpdir(dir, dirsz) == 0 ? open_at(dir, cfg) : NULL;
}

static void close_and_remove(struct history *h, const char *dir)
{
    history_close(h);
    test_rmtree(dir);
}

static void put(struct history *h, const char *vm, int port, int64_t t, const char *s)
{
    history_append_at(h, vm, port, t, s, strlen(s));
}

/* Every chunk of a read as "port@time:bytes" (gaps "port@time:<lost N>"), joined by '|'. */
static int read_all(struct history *h, const char *vm, int port, int64_t from, int64_t to,
                    char *out, size_t outsz)
{
    struct history_cursor *c;
    int rc = history_cursor_open(h, vm, port, from, to, &c);
    out[0] = '\0';
    if (rc < 0)
        return rc;
    size_t o = 0;
    struct history_chunk ch;
    while ((rc = history_cursor_next(c, &ch)) == 1 && o < outsz) {
        int n = ch.lost ? snprintf(out + o, outsz - o, "%s%d@%" PRId64 ":<lost %" PRIu64 ">",
                                   o ? "|" : "", ch.port_idx, ch.time_us - T0, ch.lost)
                        : snprintf(out + o, outsz - o, "%s%d@%" PRId64 ":%.*s", o ? "|" : "",
                                   ch.port_idx, ch.time_us - T0, (int)ch.len, ch.data);
        o += n > 0 ? (size_t)n : 0;
    }
    history_cursor_close(c);
    return rc;
}

/* Payload bytes and gap counts of a whole VM (or port). */
static void totals(struct history *h, const char *vm, int port, uint64_t *bytes, uint64_t *lost,
                   size_t *gaps)
{
    *bytes = *lost = 0;
    *gaps = 0;
    struct history_cursor *c;
    if (history_cursor_open(h, vm, port, 0, 0, &c) < 0)
        return;
    struct history_chunk ch;
    while (history_cursor_next(c, &ch) == 1) {
        *bytes += ch.len;
        *lost += ch.lost;
        *gaps += ch.lost > 0;
    }
    history_cursor_close(c);
}

static int count_segments(const char *dir, const char *vm, int port)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s/%d", dir, vm, port);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strstr(e->d_name, ".seg") != NULL;
    closedir(d);
    return n;
}

/* The newest segment file of a port (names sort by time). */
static int newest_segment(const char *dir, const char *vm, int port, char *out, size_t outsz)
{
    char path[PATH_MAX - 300], best[256] = "";
    snprintf(path, sizeof(path), "%s/%s/%d", dir, vm, port);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strstr(e->d_name, ".seg") && strcmp(e->d_name, best) > 0)
            snprintf(best, sizeof(best), "%s", e->d_name);
    }
    closedir(d);
    snprintf(out, outsz, "%s/%s", path, best);
    return best[0] ? 0 : -1;
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

TEST(history_round_trip_merges_ports_in_time_order)
{
    char dir[256], got[1024];
    struct history *h = open_fresh(dir, sizeof(dir), &big);
    REQUIRE(h);
    put(h, VM, 1, T0 + 1000, "boot");
    put(h, VM, 2, T0 + 2000, "uart2");
    put(h, VM, 1, T0 + 3000, "login:");
    put(h, VM, 2, T0 + 3000, "same-time");
    put(h, VM2, 1, T0 + 1500, "other vm");
    CHECK_EQ_INT(read_all(h, VM, 0, 0, 0, got, sizeof(got)), 0);
    CHECK_STREQ(got, "1@1000:boot|2@2000:uart2|1@3000:login:|2@3000:same-time");
    CHECK_EQ_INT(read_all(h, VM, 2, 0, 0, got, sizeof(got)), 0);
    CHECK_STREQ(got, "2@2000:uart2|2@3000:same-time");
    CHECK_EQ_INT(read_all(h, VM2, 0, 0, 0, got, sizeof(got)), 0);
    CHECK_STREQ(got, "1@1500:other vm");
    /* Upper-case UUIDs name the same VM; unknown VMs and ports have nothing. */
    CHECK_EQ_INT(read_all(h, "0B8E7A4C-5A1F-4D3E-9C2B-7F6E5D4C3B2A", 1, 0, 0, got, sizeof(got)), 0);
    CHECK_STREQ(got, "1@1000:boot|1@3000:login:");
    struct history_cursor *c;
    CHECK_EQ_INT(history_cursor_open(h, "no-such-vm", 0, 0, 0, &c), -ENOENT);
    CHECK_EQ_INT(history_cursor_open(h, VM, 3, 0, 0, &c), -ENOENT);
    CHECK_EQ_INT(history_cursor_open(h, "../etc", 0, 0, 0, &c), -ENOENT);
    uint64_t bytes;
    int64_t first, last;
    REQUIRE(history_stat(h, VM, &bytes, &first, &last) == 0);
    CHECK_EQ_INT(bytes, 4 * HISTORY_HDR_BYTES + strlen("bootuart2login:same-time"));
    CHECK_EQ_INT(first, T0 + 1000);
    CHECK_EQ_INT(last, T0 + 3000);
    CHECK_EQ_INT(history_stat(h, "no-such-vm", &bytes, &first, &last), -ENOENT);
    CHECK(history_has(h, VM));
    CHECK(history_has(h, "0B8E7A4C-5A1F-4D3E-9C2B-7F6E5D4C3B2A")); /* any case */
    CHECK(!history_has(h, "no-such-vm"));
    CHECK(!history_has(h, "../etc"));
    /* The files: <dir>/<uuid>/<port>/<16 hex>.seg */
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s/1/%016" PRIx64 ".seg", dir, VM, (uint64_t)(T0 + 1000));
    CHECK_EQ_INT(file_size(path), 2 * HISTORY_HDR_BYTES + 10);
    close_and_remove(h, dir);
}

TEST(history_record_format_is_the_documented_one)
{
    char dir[256], path[PATH_MAX];
    struct history *h = open_fresh(dir, sizeof(dir), &big);
    REQUIRE(h);
    put(h, VM, 1, T0, "hi");
    history_close(h);
    REQUIRE(newest_segment(dir, VM, 1, path, sizeof(path)) == 0);
    uint8_t rec[64];
    int fd = open(path, O_RDONLY);
    REQUIRE(fd >= 0);
    CHECK_EQ_INT(read(fd, rec, sizeof(rec)), HISTORY_HDR_BYTES + 2);
    close(fd);
    CHECK(memcmp(rec, "VSH1\x02\0\0\0", 8) == 0);
    uint64_t t = 0;
    for (int i = 7; i >= 0; i--)
        t = t << 8 | rec[8 + i];
    CHECK_EQ_INT(t, T0);
    CHECK(memcmp(rec + 16, "\0\0\0\0\0\0\0\0\0\0\0\0", 12) == 0); /* lost, flags */
    uint32_t crc = history_crc32(history_crc32(0, rec, 28), rec + 32, 2);
    CHECK_EQ_INT(rec[28] | rec[29] << 8 | rec[30] << 16 | (uint32_t)rec[31] << 24, crc);
    CHECK(memcmp(rec + 32, "hi", 2) == 0);
    CHECK_EQ_INT(history_crc32(0, "123456789", 9), 0xcbf43926u); /* the CRC-32 check value */
    test_rmtree(dir);
}

TEST(history_time_ranges_across_segments)
{
    char dir[256], got[4096];
    REQUIRE(test_tmpdir(dir, sizeof(dir)) == 0);
    struct history_config cfg = big;
    cfg.segment_bytes = 128; /* three 10-byte records per segment */
    struct history *h = open_at(dir, &cfg);
    REQUIRE(h);
    char s[32];
    for (int i = 0; i < 20; i++) {
        snprintf(s, sizeof(s), "r%02d-------", i);
        put(h, VM, 1, T0 + i * 100, s);
    }
    history_sync(h);
    CHECK_EQ_INT(count_segments(dir, VM, 1), 7);
    CHECK_EQ_INT(read_all(h, VM, 1, T0 + 450, T0 + 800, got, sizeof(got)), 0);
    CHECK_STREQ(got, "1@500:r05-------|1@600:r06-------|1@700:r07-------");
    CHECK_EQ_INT(read_all(h, VM, 0, T0 + 1900, 0, got, sizeof(got)), 0);
    CHECK_STREQ(got, "1@1900:r19-------");
    CHECK_EQ_INT(read_all(h, VM, 0, T0 + 1901, 0, got, sizeof(got)), 0);
    CHECK_STREQ(got, "");
    CHECK_EQ_INT(read_all(h, VM, 0, 0, T0 + 100, got, sizeof(got)), 0);
    CHECK_STREQ(got, "1@0:r00-------");
    /* Equal times stay in order; an earlier time is recorded as the port's last time. */
    put(h, VM, 1, T0 + 1900, "again");
    put(h, VM, 1, T0 + 5, "late");
    CHECK_EQ_INT(read_all(h, VM, 1, T0 + 1900, 0, got, sizeof(got)), 0);
    CHECK_STREQ(got, "1@1900:r19-------|1@1900:again|1@1900:late");
    close_and_remove(h, dir);
}

TEST(history_tail_start_finds_the_last_bytes)
{
    char dir[256];
    REQUIRE(test_tmpdir(dir, sizeof(dir)) == 0);
    struct history_config cfg = big;
    cfg.segment_bytes = 100;
    struct history *h = open_at(dir, &cfg);
    REQUIRE(h);
    for (int i = 0; i < 50; i++) /* 10 bytes each; ports 1 and 2 take turns */
        put(h, VM, 1 + i % 2, T0 + i * 10, "0123456789");
    int64_t from = 0;
    CHECK_EQ_INT(history_tail_start(h, VM, 0, 10, 0, &from), 0);
    CHECK_EQ_INT(from - T0, 490);
    CHECK_EQ_INT(history_tail_start(h, VM, 0, 11, 0, &from), 0);
    CHECK_EQ_INT(from - T0, 480);
    CHECK_EQ_INT(history_tail_start(h, VM, 0, 100, 0, &from), 0);
    CHECK_EQ_INT(from - T0, 400);
    CHECK_EQ_INT(history_tail_start(h, VM, 1, 100, 0, &from), 0); /* even records only */
    CHECK_EQ_INT(from - T0, 300);
    CHECK_EQ_INT(history_tail_start(h, VM, 0, 25, T0 + 205, &from), 0); /* before 205 */
    CHECK_EQ_INT(from - T0, 180);
    CHECK_EQ_INT(history_tail_start(h, VM, 0, 1 << 20, 0, &from), 0); /* more than kept */
    CHECK_EQ_INT(from - T0, 0);
    CHECK_EQ_INT(history_tail_start(h, VM, 0, 10, T0, &from), -ENOENT); /* nothing before */
    CHECK_EQ_INT(history_tail_start(h, VM2, 0, 10, 0, &from), -ENOENT);
    close_and_remove(h, dir);
}

TEST(history_port_cap_drops_old_segments_of_that_port_only)
{
    char dir[256], got[256];
    REQUIRE(test_tmpdir(dir, sizeof(dir)) == 0);
    struct history_config cfg = big;
    cfg.port_bytes = 4096; /* segments of 1 KiB (port_bytes / 8, at least 1 KiB) */
    struct history *h = open_at(dir, &cfg);
    REQUIRE(h);
    char line[100];
    memset(line, 'x', sizeof(line));
    put(h, VM, 2, T0, "keep me");
    for (int i = 0; i < 200; i++) /* 200 * 132 bytes on disk */
        history_append_at(h, VM, 1, T0 + 10 + i, line, sizeof(line));
    uint64_t bytes, lost;
    size_t gaps;
    totals(h, VM, 1, &bytes, &lost, &gaps);
    CHECK(bytes > 2000 && bytes <= 4096);
    CHECK_EQ_INT(gaps, 0);
    CHECK(count_segments(dir, VM, 1) <= 4);
    CHECK_EQ_INT(read_all(h, VM, 2, 0, 0, got, sizeof(got)), 0);
    CHECK_STREQ(got, "2@0:keep me");
    int64_t first, last;
    REQUIRE(history_stat(h, VM, &bytes, &first, &last) == 0);
    CHECK(bytes <= 4096 + HISTORY_HDR_BYTES + 7);
    CHECK_EQ_INT(last - T0, 10 + 199);
    struct history_counters ctr;
    history_counters(h, &ctr);
    CHECK(ctr.dropped > 0);
    CHECK_EQ_INT(ctr.disk_bytes, bytes);
    history_close(h);
    /* Reopened with a smaller cap: applied at open. */
    cfg.port_bytes = 1024;
    h = open_at(dir, &cfg);
    REQUIRE(h);
    totals(h, VM, 1, &bytes, &lost, &gaps);
    CHECK(bytes > 0 && bytes <= 1024);
    close_and_remove(h, dir);
}

/* The wall clock stepped back (NTP, a bad RTC): every record is stamped with the port's last
 * time until it catches up. Segments still close at segment_bytes, so the port cap drops
 * the oldest of them, not the port's whole history at once. */
TEST(history_a_clock_stepped_back_keeps_segments_bounded)
{
    char dir[256], path[PATH_MAX];
    REQUIRE(test_tmpdir(dir, sizeof(dir)) == 0);
    struct history_config cfg = big;
    cfg.port_bytes = 4096; /* segments of 1 KiB */
    struct history *h = open_at(dir, &cfg);
    REQUIRE(h);
    put(h, VM, 1, T0 + 1000, "before the step\r\n");
    char line[100];
    for (int i = 0; i < 200; i++) { /* 200 * 132 bytes on disk, all stamped T0 + 1000 */
        snprintf(line, sizeof(line), "%-99d", i);
        history_append_at(h, VM, 1, T0 + i, line, sizeof(line) - 1);
        if (i % 10 == 9)
            history_sync(h);
    }
    uint64_t bytes, lost;
    size_t gaps;
    totals(h, VM, 1, &bytes, &lost, &gaps);
    CHECK(bytes > 2000 && bytes <= 4096);
    CHECK_EQ_INT(gaps, 0);
    CHECK(count_segments(dir, VM, 1) >= 3);
    REQUIRE(newest_segment(dir, VM, 1, path, sizeof(path)) == 0);
    CHECK(file_size(path) <= 1024);
    /* The newest output is the one kept. A record that opens a segment is stamped 1 us
     * after the previous segment's name (names grow strictly): times drift by at most one
     * microsecond per segment while the clock is behind. */
    struct history_cursor *c;
    REQUIRE(history_cursor_open(h, VM, 1, T0 + 1000, 0, &c) == 0);
    struct history_chunk ch, last = {0};
    uint64_t from_step = 0;
    while (history_cursor_next(c, &ch) == 1) {
        from_step += ch.len;
        last = ch;
    }
    CHECK_EQ_INT(from_step, bytes);
    CHECK(last.time_us - T0 > 1000 && last.time_us - T0 <= 1000 + 200 / 7 + 1);
    CHECK(last.len == 99 && memcmp(last.data, "199 ", 4) == 0);
    history_cursor_close(c);
    int64_t from = 0;
    CHECK_EQ_INT(history_tail_start(h, VM, 1, 10, 0, &from), 0);
    CHECK_EQ_INT(from, last.time_us);
    /* The newest segment is still named by its first record's time. */
    uint8_t hdr[HISTORY_HDR_BYTES];
    int fd = open(path, O_RDONLY);
    REQUIRE(fd >= 0);
    CHECK_EQ_INT(read(fd, hdr, sizeof(hdr)), sizeof(hdr));
    close(fd);
    uint64_t first_time = 0;
    for (int i = 7; i >= 0; i--)
        first_time = first_time << 8 | hdr[8 + i];
    char name[32];
    snprintf(name, sizeof(name), "%016" PRIx64 ".seg", first_time);
    CHECK_STREQ(strrchr(path, '/') + 1, name);
    close_and_remove(h, dir);
}

TEST(history_total_cap_drops_the_oldest_anywhere)
{
    char dir[256], got[256];
    REQUIRE(test_tmpdir(dir, sizeof(dir)) == 0);
    struct history_config cfg = big;
    cfg.total_bytes = 3000;
    cfg.segment_bytes = 512;
    struct history *h = open_at(dir, &cfg);
    REQUIRE(h);
    char line[200];
    memset(line, 'y', sizeof(line));
    history_append_at(h, VM2, 1, T0, line, sizeof(line)); /* the oldest */
    for (int i = 0; i < 20; i++)
        history_append_at(h, VM, 1 + i % 3, T0 + 100 + i, line, sizeof(line));
    history_sync(h);
    struct history_counters ctr;
    history_counters(h, &ctr);
    CHECK(ctr.disk_bytes <= 3000);
    CHECK(ctr.disk_bytes > 3000 - 3 * 512);
    CHECK_EQ_INT(read_all(h, VM2, 0, 0, 0, got, sizeof(got)), -ENOENT);
    uint64_t bytes;
    int64_t first, last;
    CHECK_EQ_INT(history_stat(h, VM2, &bytes, &first, &last), -ENOENT);
    CHECK(!history_has(h, VM2)); /* the cap dropped all of it */
    REQUIRE(history_stat(h, VM, &bytes, &first, &last) == 0);
    CHECK_EQ_INT(last - T0, 119);
    CHECK(first - T0 > 100);
    /* A VM whose history is all gone leaves no directory behind. */
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, VM2);
    CHECK(access(path, F_OK) < 0);
    close_and_remove(h, dir);
}

/* A small cap with the default segment size (port_bytes / 8, up to 256 KiB): a segment
 * never grows past a cap, or the cap would drop the newest output with it. */
TEST(history_small_caps_keep_the_newest_output)
{
    char dir[256];
    char line[1000];
    struct history_config caps[] = {
        {.port_bytes = 4 << 20, .total_bytes = 65536, .queue_bytes = 1 << 20}, /* a BMC */
        {.port_bytes = 600, .total_bytes = 8 << 20, .queue_bytes = 1 << 20},
    };
    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
        uint64_t cap =
            caps[c].port_bytes < caps[c].total_bytes ? caps[c].port_bytes : caps[c].total_bytes;
        struct history *h = open_fresh(dir, sizeof(dir), &caps[c]);
        REQUIRE(h);
        size_t piece = cap < 4096 ? 100 : sizeof(line);
        int n = (int)(2 * cap / piece);
        for (int i = 0; i < n; i++) {
            memset(line, 'a' + i % 26, piece);
            history_append_at(h, VM, 1, T0 + i, line, piece);
            history_sync(h);
        }
        uint64_t bytes, lost;
        size_t gaps;
        totals(h, VM, 1, &bytes, &lost, &gaps);
        CHECK(bytes + HISTORY_HDR_BYTES * (bytes / piece) <= cap);
        CHECK(bytes >= cap / 2); /* at worst a new segment was just started */
        CHECK_EQ_INT(gaps, 0);
        int64_t from;
        CHECK_EQ_INT(history_tail_start(h, VM, 1, 1, 0, &from), 0);
        CHECK_EQ_INT(from - T0, n - 1); /* the last piece is kept */
        close_and_remove(h, dir);
    }
}

TEST(history_age_cap_at_open_and_while_running)
{
    char dir[256], got[256];
    REQUIRE(test_tmpdir(dir, sizeof(dir)) == 0);
    struct history_config cfg = big;
    cfg.segment_bytes = 64; /* one record per segment */
    struct history *h = open_at(dir, &cfg);
    REQUIRE(h);
    int64_t now = wall_us();
    history_append_at(h, VM, 1, now - 7200 * 1000000LL, "two hours ago", 13);
    history_append_at(h, VM, 1, now - 1800 * 1000000LL, "half an hour ago", 16);
    history_append_at(h, VM, 2, now - 7000 * 1000000LL, "old, other port", 15);
    history_close(h);

    cfg.max_age_s = 3600;
    h = open_at(dir, &cfg);
    REQUIRE(h);
    CHECK_EQ_INT(read_all(h, VM, 0, 0, 0, got, sizeof(got)), 0);
    CHECK(strstr(got, "half an hour ago") != NULL);
    CHECK(strstr(got, "two hours") == NULL);
    CHECK(strstr(got, "other port") == NULL);
    history_close(h);

    /* While running: the writer checks every age_check_ms. */
    cfg.max_age_s = 1;
    cfg.age_check_ms = 50;
    h = open_at(dir, &cfg);
    REQUIRE(h);
    CHECK_EQ_INT(read_all(h, VM, 0, 0, 0, got, sizeof(got)), -ENOENT); /* 30 min > 1 s */
    history_append(h, VM, 1, "fresh", 5);
    CHECK_EQ_INT(read_all(h, VM, 0, 0, 0, got, sizeof(got)), 0);
    CHECK(strstr(got, "fresh") != NULL);
    int rc = 0;
    for (int i = 0; i < 60 && rc == 0; i++) { /* gone within about 1 s + 50 ms */
        usleep(50000);
        uint64_t bytes;
        int64_t first, last;
        rc = history_stat(h, VM, &bytes, &first, &last);
    }
    CHECK_EQ_INT(rc, -ENOENT);
    close_and_remove(h, dir);
}

TEST(history_survives_a_restart_and_appends_go_on)
{
    char dir[256], got[1024];
    struct history *h = open_fresh(dir, sizeof(dir), &big);
    REQUIRE(h);
    put(h, VM, 1, T0 + 1, "before ");
    history_close(h); /* flushes what was queued */
    h = open_at(dir, &big);
    REQUIRE(h);
    put(h, VM, 1, T0 + 2, "after");
    CHECK_EQ_INT(read_all(h, VM, 0, 0, 0, got, sizeof(got)), 0);
    CHECK_STREQ(got, "1@1:before |1@2:after");
    CHECK_EQ_INT(count_segments(dir, VM, 1), 1); /* appended to the same segment */
    history_close(h);
    history_close(NULL);
    test_rmtree(dir);
}

TEST(history_private_output_is_marked_across_a_restart)
{
    char dir[256];
    struct history *h = open_fresh(dir, sizeof(dir), &big);
    REQUIRE(h);
    history_append(h, VM, 1, "seen", 4);
    history_append_private(h, VM, 1, "hidden", 6);
    history_append(h, VM, 1, "seen again", 10);
    history_close(h);
    h = open_at(dir, &big); /* the mark is on disk, not only in memory */
    REQUIRE(h);
    struct history_cursor *c;
    REQUIRE(history_cursor_open(h, VM, 0, 0, 0, &c) == 0);
    static const struct {
        const char *data;
        bool private_output;
    } want[] = {{"seen", false}, {"hidden", true}, {"seen again", false}};
    struct history_chunk ch;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        REQUIRE(history_cursor_next(c, &ch) == 1);
        CHECK_EQ_INT((int)ch.len, (int)strlen(want[i].data));
        CHECK(memcmp(ch.data, want[i].data, ch.len) == 0);
        CHECK_EQ_INT(ch.private_output, want[i].private_output);
    }
    CHECK_EQ_INT(history_cursor_next(c, &ch), 0);
    history_cursor_close(c);
    close_and_remove(h, dir);
}

TEST(history_torn_tail_is_cut_off_and_appends_go_on)
{
    char dir[256], got[1024], path[PATH_MAX];
    struct history *h = open_fresh(dir, sizeof(dir), &big);
    REQUIRE(h);
    put(h, VM, 1, T0 + 1, "complete");
    put(h, VM, 1, T0 + 2, "torn record");
    history_close(h);
    REQUIRE(newest_segment(dir, VM, 1, path, sizeof(path)) == 0);
    off_t full = file_size(path);
    REQUIRE(truncate(path, full - 4) == 0); /* kill -9 in the middle of the write */

    h = open_at(dir, &big);
    REQUIRE(h);
    CHECK_EQ_INT(file_size(path), HISTORY_HDR_BYTES + 8);
    put(h, VM, 1, T0 + 3, "next");
    CHECK_EQ_INT(read_all(h, VM, 0, 0, 0, got, sizeof(got)), 0);
    CHECK_STREQ(got, "1@1:complete|1@3:next");
    history_close(h);

    /* Garbage (zeros after a power cut) and a bad CRC are cut too. */
    int fd = open(path, O_WRONLY | O_APPEND);
    REQUIRE(fd >= 0);
    char zeros[100] = {0};
    CHECK_EQ_INT(write(fd, zeros, sizeof(zeros)), sizeof(zeros));
    close(fd);
    h = open_at(dir, &big);
    REQUIRE(h);
    CHECK_EQ_INT(file_size(path), 2 * HISTORY_HDR_BYTES + 12);
    history_close(h);
    fd = open(path, O_WRONLY);
    REQUIRE(fd >= 0);
    CHECK_EQ_INT(pwrite(fd, "N", 1, 2 * HISTORY_HDR_BYTES + 8 + 1), 1); /* "next" → "nNxt" */
    close(fd);
    h = open_at(dir, &big);
    REQUIRE(h);
    CHECK_EQ_INT(read_all(h, VM, 0, 0, 0, got, sizeof(got)), 0);
    CHECK_STREQ(got, "1@1:complete");
    history_close(h);

    /* A segment with nothing valid in it is removed. */
    REQUIRE(truncate(path, 10) == 0);
    h = open_at(dir, &big);
    REQUIRE(h);
    CHECK(access(path, F_OK) < 0);
    CHECK_EQ_INT(read_all(h, VM, 0, 0, 0, got, sizeof(got)), -ENOENT);
    close_and_remove(h, dir);
}

/* A child appends as fast as it can and is killed (SIGKILL) at some point in a write. */
TEST(history_kill_9_while_writing_damages_nothing_but_the_tail)
{
    char dir[256];
    REQUIRE(test_tmpdir(dir, sizeof(dir)) == 0);
    struct history_config cfg = big;
    cfg.segment_bytes = 4096;
    for (int round = 0; round < 3; round++) {
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            struct history *h = NULL;
            if (history_open(&h, dir, &cfg) < 0)
                _exit(1);
            char buf[700];
            memset(buf, 'k', sizeof(buf));
            for (unsigned i = 0;; i++) {
                history_append(h, VM, 1, buf, sizeof(buf));
                history_append(h, VM, 2, buf, 50);
                if (i % 64 == 0)
                    history_sync(h); /* lets the writer run under valgrind too */
            }
        }
        for (int i = 0; i < 500 && count_segments(dir, VM, 1) < 2 * (round + 1); i++)
            usleep(10000);
        usleep(1000 + round * 3000);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        CHECK(WIFSIGNALED(status));
    }
    struct history *h = open_at(dir, &cfg);
    REQUIRE(h);
    uint64_t bytes, lost, on_disk;
    size_t gaps;
    int64_t first, last;
    totals(h, VM, 1, &bytes, &lost, &gaps);
    CHECK(bytes > 0);
    CHECK_EQ_INT(bytes % 700, 0); /* whole records only (700 < a segment) */
    REQUIRE(history_stat(h, VM, &on_disk, &first, &last) == 0);
    uint64_t bytes2, lost2;
    totals(h, VM, 2, &bytes2, &lost2, &gaps);
    /* Every byte on disk belongs to a valid record: nothing else was damaged. */
    struct history_cursor *c;
    REQUIRE(history_cursor_open(h, VM, 0, 0, 0, &c) == 0);
    struct history_chunk ch;
    uint64_t records = 0;
    while (history_cursor_next(c, &ch) == 1)
        records++;
    history_cursor_close(c);
    CHECK_EQ_INT(on_disk, records * HISTORY_HDR_BYTES + bytes + bytes2);
    close_and_remove(h, dir);
}

TEST(history_queue_full_loses_bytes_and_marks_a_gap)
{
    char dir[256], got[1024];
    REQUIRE(test_tmpdir(dir, sizeof(dir)) == 0);
    struct history_config cfg = big;
    cfg.queue_bytes = 1000;
    struct history *h = open_at(dir, &cfg);
    REQUIRE(h);
    char big_write[5000];
    memset(big_write, 'z', sizeof(big_write));
    put(h, VM, 1, T0 + 1, "kept ");
    history_sync(h);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    history_append_at(h, VM, 1, T0 + 2, big_write, sizeof(big_write)); /* never fits */
    history_append_at(h, VM, 1, T0 + 3, big_write, sizeof(big_write));
    clock_gettime(CLOCK_MONOTONIC, &b);
    CHECK((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < 5000000L); /* < 5 ms */
    put(h, VM, 1, T0 + 4, "after");
    put(h, VM, 2, T0 + 5, "port 2 lost nothing");
    CHECK_EQ_INT(read_all(h, VM, 0, 0, 0, got, sizeof(got)), 0);
    CHECK_STREQ(got, "1@1:kept |1@2:<lost 10000>|1@4:after|2@5:port 2 lost nothing");
    /* A loss with nothing after it: the writer writes the gap by itself. */
    history_append_at(h, VM, 2, T0 + 6, big_write, sizeof(big_write));
    history_close(h);
    h = open_at(dir, &cfg);
    REQUIRE(h);
    CHECK_EQ_INT(read_all(h, VM, 2, 0, 0, got, sizeof(got)), 0);
    CHECK_STREQ(got, "2@5:port 2 lost nothing|2@6:<lost 5000>");
    close_and_remove(h, dir);
}

/* A loss with nothing after it is not silent to a reader that comes right after: the
 * reader waits for its gap as for queued bytes (not for the writer's next idle check). */
TEST(history_a_reader_right_after_a_loss_sees_its_gap)
{
    char dir[256], got[1024];
    struct history_config cfg = big;
    cfg.queue_bytes = 1000;
    struct history *h = open_fresh(dir, sizeof(dir), &cfg);
    REQUIRE(h);
    char big_write[5000];
    memset(big_write, 'z', sizeof(big_write));
    put(h, VM, 1, T0 + 1, "kept ");
    history_sync(h);
    history_append_at(h, VM, 1, T0 + 2, big_write, sizeof(big_write)); /* never fits */
    CHECK_EQ_INT(read_all(h, VM, 0, 0, 0, got, sizeof(got)), 0);
    CHECK_STREQ(got, "1@1:kept |1@2:<lost 5000>");
    close_and_remove(h, dir);
}

static int64_t mono_ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The writer lets appends gather; a reader (history_sync) and a half-full queue cut the
 * wait short, so neither waits for the gathering time. */
TEST(history_gathering_is_cut_short_by_readers_and_pressure)
{
    char dir[256], got[256];
    REQUIRE(test_tmpdir(dir, sizeof(dir)) == 0);
    struct history_config cfg = big;
    cfg.queue_bytes = 64 * 1024;
    cfg.gather_ms = 60000; /* far longer than the test may take */
    struct history *h = open_at(dir, &cfg);
    REQUIRE(h);
    int64_t t0 = mono_ms_now();
    put(h, VM, 1, T0 + 1, "a");
    put(h, VM, 1, T0 + 2, "b");
    CHECK_EQ_INT(read_all(h, VM, 1, 0, 0, got, sizeof(got)), 0); /* syncs first */
    CHECK_STREQ(got, "1@1:a|1@2:b");
    CHECK(mono_ms_now() - t0 < 10000);

    /* No reader: past half the queue the writer goes at once. */
    char chunk[1024];
    memset(chunk, 'p', sizeof(chunk));
    t0 = mono_ms_now();
    for (int i = 0; i < 40; i++) /* 40 x (1024 + 64) bytes > 32 KiB */
        history_append_at(h, VM, 2, T0 + 10 + i, chunk, sizeof(chunk));
    struct history_counters c = {0};
    while (mono_ms_now() - t0 < 10000) {
        history_counters(h, &c);
        if (c.written >= 30 * sizeof(chunk))
            break;
        usleep(1000);
    }
    CHECK(c.written >= 30 * sizeof(chunk));
    CHECK_EQ_INT((long long)c.lost_queue, 0);
    close_and_remove(h, dir);
}

/* Largest segment file of a port, in bytes. */
static off_t largest_segment(const char *dir, const char *vm, int port)
{
    char path[PATH_MAX - 300], file[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s/%d", dir, vm, port);
    DIR *d = opendir(path);
    off_t max = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!strstr(e->d_name, ".seg"))
            continue;
        snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
        off_t sz = file_size(file);
        max = sz > max ? sz : max;
    }
    if (d)
        closedir(d);
    return max;
}

/* One batch (nothing syncs until the end) of two ports' interleaved records: each port's
 * records go out in writes of many records, split after 64 and where a segment ends. */
TEST(history_a_batch_is_written_in_runs_that_respect_segments)
{
    char dir[256];
    REQUIRE(test_tmpdir(dir, sizeof(dir)) == 0);
    struct history_config cfg = big;
    cfg.segment_bytes = 8192; /* port 1: 113 records of 32 + 40 bytes; port 2: 35 of 32 + 200 */
    cfg.gather_ms = 60000;
    struct history *h = open_at(dir, &cfg);
    REQUIRE(h);
    static char want1[8192], want2[32768], got[32768];
    size_t o1 = 0, o2 = 0;
    char rec[256];
    for (int i = 0; i < 100; i++) {
        snprintf(rec, sizeof(rec), "record %03d of port one, forty bytes ...", i);
        history_append_at(h, VM, 1, T0 + 10 + i, rec, 40);
        o1 += (size_t)snprintf(want1 + o1, sizeof(want1) - o1, "%s1@%d:%.40s", o1 ? "|" : "",
                               10 + i, rec);
        memset(rec, 'a' + i % 26, 200);
        history_append_at(h, VM, 2, T0 + 10 + i, rec, 200);
        o2 += (size_t)snprintf(want2 + o2, sizeof(want2) - o2, "%s2@%d:%.200s", o2 ? "|" : "",
                               10 + i, rec);
    }
    CHECK_EQ_INT(read_all(h, VM, 1, 0, 0, got, sizeof(got)), 0);
    CHECK_STREQ(got, want1);
    CHECK_EQ_INT(read_all(h, VM, 2, 0, 0, got, sizeof(got)), 0);
    CHECK_STREQ(got, want2);
    CHECK_EQ_INT(count_segments(dir, VM, 1), 1);
    CHECK_EQ_INT(count_segments(dir, VM, 2), 3); /* 100 records, 35 per segment */
    CHECK(largest_segment(dir, VM, 2) <= 8192);
    struct history_counters c;
    history_counters(h, &c);
    CHECK_EQ_INT((long long)c.written, 100 * 40 + 100 * 200);
    CHECK_EQ_INT((long long)c.lost_disk, 0);
    close_and_remove(h, dir);
}

/* A write cut short in the middle of a run: the whole run is lost and marked, the torn
 * part is cut off the segment, and what comes after the space returns follows the gap. */
TEST(history_a_short_write_loses_its_whole_run_and_marks_it)
{
    char dir[256], got[1024];
    REQUIRE(test_tmpdir(dir, sizeof(dir)) == 0);
    struct history_config cfg = big;
    cfg.gather_ms = 60000;
    struct history *h = open_at(dir, &cfg);
    REQUIRE(h);
    put(h, VM, 1, T0 + 1, "kept");
    history_sync(h);
    char seg[PATH_MAX];
    REQUIRE(newest_segment(dir, VM, 1, seg, sizeof(seg)) == 0);
    off_t before = file_size(seg);

    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {.rlim_cur = (rlim_t)before + 100, .rlim_max = RLIM_INFINITY};
    REQUIRE(setrlimit(RLIMIT_FSIZE, &rl) == 0);
    for (int i = 0; i < 5; i++) /* 5 x (32 + 10) bytes: the write stops after 100 */
        history_append_at(h, VM, 1, T0 + 2 + i, "0123456789", 10);
    history_sync(h);
    CHECK_EQ_INT((long long)file_size(seg), (long long)before); /* torn part cut off */
    rl.rlim_cur = RLIM_INFINITY;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &rl) == 0);

    put(h, VM, 1, T0 + 9, "back");
    CHECK_EQ_INT(read_all(h, VM, 1, 0, 0, got, sizeof(got)), 0);
    CHECK_STREQ(got, "1@1:kept|1@2:<lost 50>|1@9:back");
    struct history_counters c;
    history_counters(h, &c);
    CHECK_EQ_INT((long long)c.lost_disk, 50);
    close_and_remove(h, dir);
}

/* Port 1 prints "last words" at T0 + 2 while its segment cannot grow (a full disk), then
 * the disk has room again. */
static void last_words_meet_a_full_disk(struct history *h, const char *dir)
{
    char seg[PATH_MAX];
    REQUIRE(newest_segment(dir, VM, 1, seg, sizeof(seg)) == 0);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {.rlim_cur = (rlim_t)file_size(seg), .rlim_max = RLIM_INFINITY};
    REQUIRE(setrlimit(RLIMIT_FSIZE, &rl) == 0);
    put(h, VM, 1, T0 + 2, "last words");
    history_sync(h);
    rl.rlim_cur = RLIM_INFINITY;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &rl) == 0);
}

/* The disk was full when a VM printed its last words; then it printed nothing more (it went
 * down). The loss is still marked: readers see its gap once another port's write works, and
 * it is on disk after close (also when nothing at all was written after it). */
TEST(history_a_failed_write_is_marked_when_the_port_prints_no_more)
{
    char dir[256], got[1024];
    for (int others_print = 1; others_print >= 0; others_print--) {
        struct history *h = open_fresh(dir, sizeof(dir), &big);
        REQUIRE(h);
        put(h, VM, 1, T0 + 1, "kept");
        history_sync(h);
        last_words_meet_a_full_disk(h, dir);
        if (others_print) {
            put(h, VM, 2, T0 + 3, "port two goes on");
            CHECK_EQ_INT(read_all(h, VM, 1, 0, 0, got, sizeof(got)), 0);
            CHECK_STREQ(got, "1@1:kept|1@2:<lost 10>");
        }
        history_close(h);
        h = open_at(dir, &big);
        REQUIRE(h);
        CHECK_EQ_INT(read_all(h, VM, 1, 0, 0, got, sizeof(got)), 0);
        CHECK_STREQ(got, "1@1:kept|1@2:<lost 10>");
        close_and_remove(h, dir);
    }
}

struct flood {
    struct history *h;
    int port;
    int n;
};

/* Writes n numbered lines "<port>:<i>\n" to a port. */
static void *flood_main(void *arg)
{
    struct flood *f = arg;
    char line[32];
    for (int i = 0; i < f->n; i++) {
        int len = snprintf(line, sizeof(line), "%d:%d\n", f->port, i);
        history_append(f->h, VM, f->port, line, (size_t)len);
    }
    return NULL;
}

/* Checks a port's history: the lines present are in order, and kept + lost = sent. */
static void check_flood(struct history *h, int port, int n, bool expect_all)
{
    struct history_cursor *c;
    REQUIRE(history_cursor_open(h, VM, port, 0, 0, &c) == 0);
    char *text = calloc(1, (size_t)n * 16 + 1);
    REQUIRE(text);
    size_t len = 0;
    uint64_t lost = 0;
    int64_t prev = 0;
    struct history_chunk ch;
    while (history_cursor_next(c, &ch) == 1) {
        CHECK(ch.time_us >= prev);
        prev = ch.time_us;
        lost += ch.lost;
        memcpy(text + len, ch.data, ch.len);
        len += ch.len;
    }
    history_cursor_close(c);
    int next = 0, kept = 0;
    uint64_t sent = 0;
    char want[32];
    for (int i = 0; i < n; i++)
        sent += (uint64_t)snprintf(want, sizeof(want), "%d:%d\n", port, i);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        int p, i;
        if (!CHECK(sscanf(line, "%d:%d", &p, &i) == 2 && p == port && i >= next))
            break;
        next = i + 1;
        kept++;
    }
    CHECK_EQ_INT(len + lost, sent);
    if (expect_all)
        CHECK_EQ_INT(kept, n);
    free(text);
}

TEST(history_concurrent_appends_while_the_thread_writes)
{
    char dir[256];
    REQUIRE(test_tmpdir(dir, sizeof(dir)) == 0);
    struct history_config cfg = big;
    cfg.port_bytes = 64 << 20;
    cfg.total_bytes = 256 << 20;
    cfg.queue_bytes = 64 << 20; /* room for everything */
    struct history *h = open_at(dir, &cfg);
    REQUIRE(h);
    enum { THREADS = 4, LINES = 20000 };
    pthread_t t[THREADS];
    struct flood f[THREADS];
    for (int i = 0; i < THREADS; i++) {
        f[i] = (struct flood){h, i + 1, LINES};
        REQUIRE(pthread_create(&t[i], NULL, flood_main, &f[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < THREADS; i++)
        check_flood(h, i + 1, LINES, true);
    history_close(h);

    /* A small queue: some lines are lost, each loss is a gap, and the counts add up. */
    test_rmtree(dir);
    REQUIRE(test_tmpdir(dir, sizeof(dir)) == 0);
    cfg.queue_bytes = 2048;
    h = open_at(dir, &cfg);
    REQUIRE(h);
    for (int i = 0; i < THREADS; i++) {
        f[i] = (struct flood){h, i + 1, LINES};
        REQUIRE(pthread_create(&t[i], NULL, flood_main, &f[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    history_close(h); /* the gaps of the last losses are written at close */
    h = open_at(dir, &cfg);
    REQUIRE(h);
    for (int i = 0; i < THREADS; i++)
        check_flood(h, i + 1, LINES, false);
    close_and_remove(h, dir);
}

/* The file-size limit makes every write fail as a full disk does (EFBIG). */
TEST(history_full_disk_counts_losses_and_reads_work)
{
    char dir[256], got[1024];
    struct history *h = open_fresh(dir, sizeof(dir), &big);
    REQUIRE(h);
    put(h, VM, 1, T0 + 1, "written before");
    history_close(h);

    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {.rlim_cur = 1, .rlim_max = RLIM_INFINITY};
    REQUIRE(setrlimit(RLIMIT_FSIZE, &rl) == 0);
    h = open_at(dir, &big);
    REQUIRE(h);
    put(h, VM, 1, T0 + 2, "not kept");
    put(h, VM2, 1, T0 + 3, "not kept either");
    CHECK_EQ_INT(read_all(h, VM, 0, 0, 0, got, sizeof(got)), 0);
    CHECK_STREQ(got, "1@1:written before");
    struct history_counters ctr;
    history_counters(h, &ctr);
    CHECK_EQ_INT(ctr.lost_disk, 8 + 15);
    CHECK_EQ_INT(count_segments(dir, VM2, 1), 0); /* no empty segment left behind */

    rl.rlim_cur = RLIM_INFINITY; /* space again: the loss is marked before new bytes */
    REQUIRE(setrlimit(RLIMIT_FSIZE, &rl) == 0);
    put(h, VM, 1, T0 + 4, "back");
    CHECK_EQ_INT(read_all(h, VM, 0, 0, 0, got, sizeof(got)), 0);
    CHECK_STREQ(got, "1@1:written before|1@2:<lost 8>|1@4:back");
    close_and_remove(h, dir);
}

/* A read-only directory (as an unprivileged user: root ignores the mode bits). */
TEST(history_read_only_directory_reads_work)
{
    char dir[256], got[1024], path[PATH_MAX];
    REQUIRE(test_tmpdir(dir, sizeof(dir)) == 0);
    if (geteuid() == 0) {
        char parent[256];
        snprintf(parent, sizeof(parent), "%s", dir);
        *strrchr(parent, '/') = '\0';
        REQUIRE(chmod(parent, 0711) == 0 && chown(dir, 65534, 65534) == 0);
        REQUIRE(setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0);
        prctl(PR_SET_DUMPABLE, 1); /* LeakSanitizer inspects this process at exit */
    }
    struct history *h = open_at(dir, &big);
    REQUIRE(h);
    put(h, VM, 1, T0 + 1, "kept");
    history_close(h);
    REQUIRE(newest_segment(dir, VM, 1, path, sizeof(path)) == 0);
    char vmdir[PATH_MAX - 8], portdir[PATH_MAX];
    snprintf(vmdir, sizeof(vmdir), "%s/%s", dir, VM);
    snprintf(portdir, sizeof(portdir), "%s/1", vmdir);
    REQUIRE(chmod(path, 0400) == 0 && chmod(portdir, 0500) == 0 && chmod(vmdir, 0500) == 0 &&
            chmod(dir, 0500) == 0);

    h = open_at(dir, &big);
    REQUIRE(h);
    put(h, VM, 1, T0 + 2, "lost");
    put(h, VM, 2, T0 + 3, "lost too");
    put(h, VM2, 1, T0 + 4, "and this");
    CHECK_EQ_INT(read_all(h, VM, 0, 0, 0, got, sizeof(got)), 0);
    CHECK_STREQ(got, "1@1:kept");
    struct history_counters ctr;
    history_counters(h, &ctr);
    CHECK_EQ_INT(ctr.lost_disk, 4 + 8 + 8);
    history_close(h);
    chmod(dir, 0700);
    chmod(vmdir, 0700);
    chmod(portdir, 0700);
    test_rmtree(dir);
}

/* Found by the history_reader fuzz target (tests/fuzz/regressions/history_reader): a port
 * whose only segment is empty (vscd killed between creating and writing it) has no segment
 * left after open removes it; open and reads must cope with the empty list. */
TEST(history_port_with_only_an_empty_segment)
{
    char dir[256], path[PATH_MAX];
    REQUIRE(test_tmpdir(dir, sizeof(dir)) == 0);
    snprintf(path, sizeof(path), "%s/" VM, dir);
    REQUIRE(mkdir(path, 0700) == 0);
    snprintf(path, sizeof(path), "%s/" VM "/1", dir);
    REQUIRE(mkdir(path, 0700) == 0);
    snprintf(path, sizeof(path), "%s/" VM "/1/0000000000000001.seg", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(fd >= 0);
    close(fd);

    struct history *h = open_at(dir, &big);
    REQUIRE(h != NULL);
    CHECK(access(path, F_OK) < 0); /* the empty segment is gone */
    struct history_cursor *c = NULL;
    CHECK_EQ_INT(history_cursor_open(h, VM, 0, 0, 0, &c), -ENOENT);
    put(h, VM, 1, T0, "after");
    CHECK_EQ_INT(history_cursor_open(h, VM, 1, 0, 0, &c), 0);
    struct history_chunk ch;
    CHECK_EQ_INT(history_cursor_next(c, &ch), 1);
    CHECK(ch.len == 5 && memcmp(ch.data, "after", 5) == 0);
    history_cursor_close(c);
    close_and_remove(h, dir);
}

TEST(history_null_is_history_off)
{
    struct history_cursor *c;
    uint64_t bytes;
    int64_t a, b;
    history_append(NULL, VM, 1, "x", 1);
    history_sync(NULL);
    CHECK_EQ_INT(history_cursor_open(NULL, VM, 0, 0, 0, &c), -ENOENT);
    CHECK_EQ_INT(history_tail_start(NULL, VM, 0, 1, 0, &a), -ENOENT);
    CHECK_EQ_INT(history_stat(NULL, VM, &bytes, &a, &b), -ENOENT);
    CHECK(!history_has(NULL, VM));
    history_cursor_close(NULL);
}

TEST(history_open_removes_empty_segments_a_full_disk_left)
{
    char dir[256], path[512], got[256];
    REQUIRE(test_tmpdir(dir, sizeof(dir)) == 0);
    snprintf(path, sizeof(path), "%s/%s", dir, VM);
    REQUIRE(mkdir(path, 0700) == 0);
    snprintf(path, sizeof(path), "%s/%s/1", dir, VM);
    REQUIRE(mkdir(path, 0700) == 0);
    /* A segment created when the disk was full: it got no byte. */
    snprintf(path, sizeof(path), "%s/%s/1/%016" PRIx64 ".seg", dir, VM, (uint64_t)(T0 + 5));
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    REQUIRE(fd >= 0);
    close(fd);
    struct history *h = open_at(dir, &big);
    REQUIRE(h);
    CHECK(access(path, F_OK) != 0); /* removed */
    CHECK(!history_has(h, VM));
    put(h, VM, 1, T0 + 9, "works");
    CHECK_EQ_INT(read_all(h, VM, 0, 0, 0, got, sizeof(got)), 0);
    CHECK_STREQ(got, "1@9:works");
    close_and_remove(h, dir);
}

/* Segment files this process has open. */
static int open_segments(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    struct dirent *e;
    char link[300], target[PATH_MAX];
    while (d && (e = readdir(d))) {
        snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(link, target, sizeof(target) - 1);
        if (len > 4) {
            target[len] = '\0';
            n += strcmp(target + len - 4, ".seg") == 0;
        }
    }
    if (d)
        closedir(d);
    return n;
}

TEST(history_idle_ports_give_their_fd_back)
{
    char dir[256], vm[40], got[64];
    struct history_config cfg = big;
    cfg.idle_close_ms = 100;
    struct history *h = open_fresh(dir, sizeof(dir), &cfg);
    REQUIRE(h);
    for (int i = 0; i < 20; i++) { /* VMs that came and went */
        snprintf(vm, sizeof(vm), "0b8e7a4c-5a1f-4d3e-9c2b-%012d", i);
        put(h, vm, 1, T0 + i, "x");
    }
    history_sync(h);
    CHECK_EQ_INT(open_segments(), 20);
    for (int waited = 0; open_segments() && waited < 3000; waited += 50)
        usleep(50 * 1000);
    CHECK_EQ_INT(open_segments(), 0);
    put(h, VM, 1, T0 + 100, "again"); /* reopens */
    put(h, "0b8e7a4c-5a1f-4d3e-9c2b-000000000003", 1, T0 + 101, "y");
    CHECK_EQ_INT(read_all(h, "0b8e7a4c-5a1f-4d3e-9c2b-000000000003", 0, 0, 0, got, sizeof(got)), 0);
    CHECK_STREQ(got, "1@3:x|1@101:y"); /* appended to the segment it had */
    CHECK_EQ_INT(open_segments(), 2);
    close_and_remove(h, dir);
}

static uint64_t ports_indexed(struct history *h)
{
    struct history_counters ctr;
    history_counters(h, &ctr);
    return ctr.ports;
}

static void vm_name(char *out, size_t outsz, int i)
{
    snprintf(out, outsz, "0b8e7a4c-5a1f-4d3e-9c2b-%012d", i);
}

/* VMs [0, n) that still have history. */
static uint64_t vms_with_history(struct history *h, int n)
{
    char vm[40];
    uint64_t has = 0;
    for (int i = 0; i < n; i++) {
        vm_name(vm, sizeof(vm), i);
        has += history_has(h, vm);
    }
    return has;
}

static bool wait_ports_indexed(struct history *h, uint64_t want)
{
    for (int waited = 0; ports_indexed(h) != want && waited < 3000; waited += 10)
        usleep(10 * 1000);
    return ports_indexed(h) == want;
}

TEST(history_ports_whose_history_the_caps_dropped_are_forgotten)
{
    char dir[256], vm[40], got[64], line[200];
    struct history_config cfg = big;
    cfg.total_bytes = 3000;
    cfg.segment_bytes = 512;
    cfg.idle_close_ms = 50;
    struct history *h = open_fresh(dir, sizeof(dir), &cfg);
    REQUIRE(h);
    memset(line, 'z', sizeof(line));
    enum { VMS = 200 };
    for (int i = 0; i < VMS; i++) { /* VMs that came and went: the cap keeps the last few */
        vm_name(vm, sizeof(vm), i);
        history_append_at(h, vm, 1, T0 + i, line, sizeof(line));
    }
    history_sync(h);
    uint64_t has = vms_with_history(h, VMS);
    CHECK(has > 0 && has < 15);
    CHECK(wait_ports_indexed(h, has));

    /* A forgotten port that prints again starts over, and reads as one. */
    vm_name(vm, sizeof(vm), 0);
    put(h, vm, 1, T0 + 1000, "again");
    CHECK_EQ_INT(read_all(h, vm, 0, 0, 0, got, sizeof(got)), 0);
    CHECK_STREQ(got, "1@1000:again");
    CHECK_EQ_INT(ports_indexed(h), vms_with_history(h, VMS));
    history_close(h);

    /* At open, a port directory left with nothing valid in it is forgotten too. */
    char path[PATH_MAX], vm_dir[PATH_MAX - 40];
    snprintf(vm_dir, sizeof(vm_dir), "%s/%s", dir, VM);
    snprintf(path, sizeof(path), "%s/2", vm_dir);
    REQUIRE(mkdir(vm_dir, 0700) == 0 && mkdir(path, 0700) == 0);
    snprintf(path, sizeof(path), "%s/2/%016" PRIx64 ".seg", vm_dir, (uint64_t)T0);
    int fd = open(path, O_WRONLY | O_CREAT, 0600); /* empty: a full disk left it */
    REQUIRE(fd >= 0);
    close(fd);
    h = open_at(dir, &cfg);
    REQUIRE(h);
    has = vms_with_history(h, VMS);
    CHECK(!history_has(h, VM));
    CHECK(access(vm_dir, F_OK) < 0); /* nothing of it is left behind */
    CHECK(wait_ports_indexed(h, has));
    close_and_remove(h, dir);
}

struct churn {
    struct history *h;
    atomic_bool stop;
    int vms;
};

static void *churn_append(void *arg)
{
    struct churn *c = arg;
    char vm[40], line[100];
    memset(line, 'c', sizeof(line));
    for (int i = 0; !atomic_load(&c->stop); i++) {
        vm_name(vm, sizeof(vm), i % c->vms);
        history_append(c->h, vm, 1 + i % 2, line, sizeof(line));
        if (i % 64 == 0)
            usleep(100);
    }
    return NULL;
}

static void *churn_read(void *arg)
{
    struct churn *c = arg;
    char vm[40];
    for (int i = 0; !atomic_load(&c->stop); i++) {
        vm_name(vm, sizeof(vm), i % c->vms);
        uint64_t bytes, lost;
        size_t gaps;
        int64_t first, last;
        history_has(c->h, vm);
        history_stat(c->h, vm, &bytes, &first, &last);
        totals(c->h, vm, 0, &bytes, &lost, &gaps);
    }
    return NULL;
}

/* Ports come and go under a tiny cap while appends and reads go on from other threads:
 * nothing is freed while an entry, a reader or a pending gap still names it (ASan checks
 * the use-after-free this would be), and the index ends as small as the history. */
TEST(history_forgetting_ports_races_appends_and_readers)
{
    char dir[256];
    struct history_config cfg = big;
    cfg.total_bytes = 4000;
    cfg.segment_bytes = 300;
    cfg.idle_close_ms = 4;
    cfg.gather_ms = -1;
    struct history *h = open_fresh(dir, sizeof(dir), &cfg);
    REQUIRE(h);
    struct churn c = {.h = h, .vms = 40};
    pthread_t app, rd;
    REQUIRE(pthread_create(&app, NULL, churn_append, &c) == 0);
    REQUIRE(pthread_create(&rd, NULL, churn_read, &c) == 0);
    /* At least 0.7 s, longer where threads run slowly (valgrind): until the caps dropped
     * whole ports many times, for at most 30 s. */
    struct history_counters ctr;
    for (int ms = 0; ms < 30000; ms += 100) {
        usleep(100 * 1000);
        history_counters(h, &ctr);
        if (ms >= 700 && ctr.dropped > 100)
            break;
    }
    atomic_store(&c.stop, true);
    pthread_join(app, NULL);
    pthread_join(rd, NULL);
    history_sync(h);
    history_counters(h, &ctr);
    CHECK(ctr.dropped > 100); /* the caps did drop whole ports, many times */
    CHECK(ctr.disk_bytes <= 4000);
    uint64_t ports = 0;
    char vm[40];
    for (int i = 0; i < c.vms; i++) {
        vm_name(vm, sizeof(vm), i);
        for (int port = 1; port <= 2; port++) {
            uint64_t bytes, lost;
            size_t gaps;
            totals(h, vm, port, &bytes, &lost, &gaps);
            ports += bytes + lost > 0;
        }
    }
    CHECK(ports > 0);
    CHECK(wait_ports_indexed(h, ports));
    close_and_remove(h, dir);
}
