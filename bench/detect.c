/* detect: throughput of the console state detector (service/state_detect.c), beside
 * `grep -E -c` with the same patterns over the same text (docs/BENCHMARKS.md).
 *
 *   build/bench/detect [-m MEGABYTES] [-c CHUNK] [CORPUS_DIR]
 *
 * Builds three texts of MEGABYTES each (default 64): the transcripts (every .log in CORPUS_DIR,
 * default tests/corpus) repeated; a flood of plain log lines as a running system prints
 * them (kernel and systemd messages, an application's request log, ANSI colours, CRLF);
 * and the two interleaved half and half. Each is fed to one detector with the built-in
 * rules in CHUNK-byte reads (default 4096, a console read) on one core; the best of three
 * runs is reported in MB/s (10^6 bytes). Then each text is written to a temporary file
 * and `LC_ALL=C grep -E -c -e P1 -e P2 ...` (every built-in pattern) is timed on it, the
 * best of three. Prints a Markdown table.
 */
#include "state_detect.h"

#include <dirent.h>
#include <errno.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct buf {
    char *p;
    size_t n, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) {
            perror("realloc");
            exit(1);
        }
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t changes;

static void on_changed(struct detector *d, const struct detect_change *ch)
{
    (void)d;
    (void)ch;
    changes++;
}

/* Seconds to feed the text (best of three). */
static double time_detector(const struct detect_rules *rs, const struct buf *t, size_t chunk)
{
    double best = 1e9;
    for (int run = 0; run < 3; run++) {
        struct detector d;
        detector_init(&d, rs);
        d.changed = on_changed;
        changes = 0;
        double t0 = now();
        for (size_t off = 0; off < t->n; off += chunk)
            detector_feed(&d, t->p + off, t->n - off < chunk ? t->n - off : chunk);
        double el = now() - t0;
        detector_fini(&d);
        if (el < best)
            best = el;
    }
    return best;
}

/* Seconds for grep -E -c over the file (best of three); -1 if grep failed. */
static double time_grep(const char *path, long *count)
{
    const char *argv[2 * 64 + 8];
    size_t a = 0;
    argv[a++] = "grep";
    argv[a++] = "-E";
    argv[a++] = "-c";
    for (size_t i = 0; i < detect_builtin_count; i++) {
        argv[a++] = "-e";
        argv[a++] = detect_builtin_rules[i].pattern;
    }
    argv[a++] = path;
    argv[a] = NULL;
    char *env[] = {"LC_ALL=C", NULL};
    double best = 1e9;
    for (int run = 0; run < 3; run++) {
        int fds[2];
        if (pipe(fds) < 0)
            return -1;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
        posix_spawn_file_actions_addclose(&fa, fds[0]);
        pid_t pid;
        double t0 = now();
        int rc = posix_spawnp(&pid, "grep", &fa, NULL, (char *const *)argv, env);
        posix_spawn_file_actions_destroy(&fa);
        close(fds[1]);
        if (rc != 0) {
            close(fds[0]);
            return -1;
        }
        char out[64] = "";
        ssize_t n = read(fds[0], out, sizeof(out) - 1);
        int status;
        waitpid(pid, &status, 0);
        double el = now() - t0;
        close(fds[0]);
        if (n > 0)
            out[n] = '\0';
        *count = strtol(out, NULL, 10);
        if (!WIFEXITED(status) || WEXITSTATUS(status) > 1)
            return -1;
        if (el < best)
            best = el;
    }
    return best;
}

static void load_corpus(const char *dir, struct buf *b)
{
    DIR *dp = opendir(dir);
    if (!dp) {
        fprintf(stderr, "%s: %s\n", dir, strerror(errno));
        exit(1);
    }
    struct dirent *e;
    char path[4096], chunk[65536];
    while ((e = readdir(dp))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".log") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        size_t got;
        while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
            buf_add(b, chunk, got);
        fclose(f);
    }
    closedir(dp);
}

/* Lines a busy running system prints on its console. */
static void flood_line(struct buf *b, unsigned long i)
{
    char line[256];
    int n;
    switch (i % 6) {
    case 0:
        n = snprintf(
            line, sizeof(line),
            "[%6lu.%06lu] audit: type=1400 audit(1700000000.%03lu:%lu): apparmor=\"DENIED\" "
            "operation=\"open\" profile=\"snap.app\" name=\"/proc/%lu/maps\"\r\n",
            i / 1000, i % 1000000, i % 1000, i, i % 4096);
        break;
    case 1:
        n = snprintf(line, sizeof(line),
                     "[\x1b[0;32m  OK  \x1b[0m] Started \x1b[0;1;39mworker@%lu.service\x1b[0m - "
                     "Batch Worker %lu.\r\n",
                     i % 64, i % 64);
        break;
    case 2:
        n = snprintf(line, sizeof(line),
                     "2023-11-26T10:21:%02lu.%06luZ INFO  api::handler request_id=%08lx "
                     "method=GET path=/v1/items/%lu status=200 duration_ms=%lu\r\n",
                     i % 60, i % 1000000, i * 2654435761ul, i % 100000, i % 250);
        break;
    case 3:
        n = snprintf(line, sizeof(line),
                     "[%6lu.%06lu] systemd[1]: session-%lu.scope: Deactivated successfully.\r\n",
                     i / 1000, i % 1000000, i % 500);
        break;
    case 4:
        n = snprintf(line, sizeof(line),
                     "Nov 26 10:21:07 web01 nginx[812]: 10.0.%lu.%lu - - \"GET /static/app.js "
                     "HTTP/1.1\" 200 48213 \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\"\r\n",
                     i % 256, i % 253);
        break;
    default:
        n = snprintf(line, sizeof(line),
                     "[%6lu.%06lu] EXT4-fs (vda1): re-mounted. Quota mode: none. Loading config "
                     "from /etc/app/conf.d/%lu.toml\r\n",
                     i / 1000, i % 1000000, i % 32);
    }
    buf_add(b, line, (size_t)n);
}

static void write_file(const char *path, const struct buf *b)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b->p, 1, b->n, f) != b->n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    size_t mb = 64, chunk = 4096;
    int opt;
    while ((opt = getopt(argc, argv, "m:c:")) != -1) {
        if (opt == 'm')
            mb = strtoul(optarg, NULL, 10);
        else if (opt == 'c')
            chunk = strtoul(optarg, NULL, 10);
        else
            return 2;
    }
    const char *dir = optind < argc ? argv[optind] : "tests/corpus";
    if (!mb || !chunk)
        return 2;
    size_t want = mb * 1000000;

    struct buf corpus = {0}, texts[3] = {{0}};
    load_corpus(dir, &corpus);
    if (!corpus.n) {
        fprintf(stderr, "no transcripts in %s\n", dir);
        return 1;
    }
    while (texts[0].n < want)
        buf_add(&texts[0], corpus.p, corpus.n);
    for (unsigned long i = 0; texts[1].n < want; i++)
        flood_line(&texts[1], i);
    /* Mixed: one corpus copy, then as many flood bytes, and again. */
    for (unsigned long i = 0; texts[2].n < want;) {
        buf_add(&texts[2], corpus.p, corpus.n);
        size_t stop = texts[2].n + corpus.n;
        while (texts[2].n < stop)
            flood_line(&texts[2], i++);
    }
    static const char *const names[3] = {"transcripts repeated", "plain log flood",
                                         "half and half"};

    struct detect_rules *rs = detect_rules_new();
    if (!rs)
        return 1;
    char tmpl[] = "/tmp/bench-detect-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0) {
        perror("mkstemp");
        return 1;
    }
    close(fd);

    printf("%zu built-in rules, %zu MB per text, reads of %zu bytes, 1 core\n\n",
           detect_builtin_count, mb, chunk);
    printf(
        "| text | detector MB/s | changes | grep -E -c MB/s | matching lines | detector/grep |\n");
    printf("| --- | --- | --- | --- | --- | --- |\n");
    for (int k = 0; k < 3; k++) {
        double td = time_detector(rs, &texts[k], chunk);
        write_file(tmpl, &texts[k]);
        long count = -1;
        double tg = time_grep(tmpl, &count);
        double mbs = (double)texts[k].n / 1e6;
        if (tg > 0)
            printf("| %s | %.0f | %zu | %.0f | %ld | %.2f |\n", names[k], mbs / td, changes,
                   mbs / tg, count, tg / td);
        else
            printf("| %s | %.0f | %zu | (grep failed) | | |\n", names[k], mbs / td, changes);
    }
    unlink(tmpl);
    detect_rules_free(rs);
    for (int k = 0; k < 3; k++)
        free(texts[k].p);
    free(corpus.p);
    return 0;
}
