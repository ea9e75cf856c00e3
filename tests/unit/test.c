/*
 * The unit tests' runner: see test.h.
 *
 * Each test runs in a child process (fork), so a crash, a sanitizer report, a leak or a
 * hang is charged to the test that caused it and the other tests still run and count.
 * The child sends its failure text through a pipe; the parent prints one line per
 * failing test. VSC_TEST_NOFORK=1 runs the tests in-process instead (for a debugger).
 * VSC_TEST_LOG=debug|info|warning|error sets the service's log level (default error).
 */
#include "test.h"

#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TEST_TIMEOUT_MS 20000 /* per test (each takes well under 1 s): a hang fails the test */
#define FAILURES_SHOWN  4
#define FAILURE_TEXT_SZ 512
#define REPORT_SZ       (FAILURES_SHOWN * (FAILURE_TEXT_SZ + 2) + 64)
#define EXIT_CHECKS     3 /* the child's status when checks failed (sanitizers use 1, 23) */

static struct test_case *tests;
static size_t test_count;

static const struct test_case *running;
static int failures;
static char failure_text[FAILURES_SHOWN][FAILURE_TEXT_SZ];

void test_register(struct test_case *t)
{
    t->next = tests;
    tests = t;
    test_count++;
}

bool test_fail(const char *file, int line, const char *fmt, ...)
{
    if (failures < FAILURES_SHOWN) {
        char *out = failure_text[failures];
        int n = snprintf(out, FAILURE_TEXT_SZ, "%s:%d: ", file, line);
        if (n < 0 || n >= FAILURE_TEXT_SZ)
            n = 0;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(out + n, FAILURE_TEXT_SZ - (size_t)n, fmt, ap);
        va_end(ap);
        /* Keep the report on one line whatever the values held. */
        for (char *p = out; *p; p++) {
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        }
    }
    failures++;
    return false;
}

bool test_check(const char *file, int line, const char *expr, bool ok)
{
    return ok ? true : test_fail(file, line, "CHECK(%s)", expr);
}

bool test_check_int(const char *file, int line, const char *a_expr, const char *b_expr, long long a,
                    long long b)
{
    if (a == b)
        return true;
    return test_fail(file, line, "CHECK_EQ_INT(%s, %s): %lld != %lld", a_expr, b_expr, a, b);
}

bool test_check_str(const char *file, int line, const char *a_expr, const char *b_expr,
                    const char *a, const char *b)
{
    if (a && b && strcmp(a, b) == 0)
        return true;
    return test_fail(file, line, "CHECK_STREQ(%s, %s): \"%.120s\" != \"%.120s\"", a_expr, b_expr,
                     a ? a : "(null)", b ? b : "(null)");
}

/* This run's directory under $TMPDIR: every test_tmpdir() lives in it, and main removes
 * it at the end, so even a test that crashed or hung leaves nothing behind. */
static char run_dir[256];

int test_tmpdir(char *out, size_t outsz)
{
    if (!run_dir[0])
        return -1;
    int n = snprintf(out, outsz, "%s/t-XXXXXX", run_dir);
    if (n < 0 || (size_t)n >= outsz)
        return -1;
    return mkdtemp(out) ? 0 : -1;
}

void test_rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[4096];
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            if (e->d_type == DT_DIR)
                test_rmtree(path);
            else
                unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

bool test_exe_dir(char *out, size_t outsz)
{
    if (outsz < 2)
        return false;
    ssize_t n = readlink("/proc/self/exe", out, outsz - 1);
    if (n <= 0)
        return false;
    out[n] = '\0';
    char *slash = strrchr(out, '/');
    if (slash)
        *slash = '\0';
    return true;
}

static int make_run_dir(void)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    int n = snprintf(run_dir, sizeof(run_dir), "%s/vsc-unit-XXXXXX", base);
    if (n < 0 || (size_t)n >= sizeof(run_dir) || !mkdtemp(run_dir)) {
        run_dir[0] = '\0';
        return -1;
    }
    return 0;
}

/* The recorded failures as one line (no trailing newline). */
static void failure_report(char *out, size_t outsz)
{
    size_t o = 0;
    out[0] = '\0';
    for (int k = 0; k < failures && k < FAILURES_SHOWN && o < outsz; k++)
        o += (size_t)snprintf(out + o, outsz - o, "%s%s", k ? "; " : "", failure_text[k]);
    if (failures > FAILURES_SHOWN && o < outsz)
        snprintf(out + o, outsz - o, " (+%d more)", failures - FAILURES_SHOWN);
}

static void run_in_process(const struct test_case *t)
{
    running = t;
    failures = 0;
    t->fn();
    running = NULL;
}

/* In-process mode only: a hang ends the run (there is no safe way back into main). */
static void on_timeout(int sig)
{
    (void)sig;
    static const char pre[] = "FAIL ", post[] = ": timed out\n";
    const char *name = running ? running->name : "?";
    if (write(STDOUT_FILENO, pre, sizeof(pre) - 1) < 0 ||
        write(STDOUT_FILENO, name, strlen(name)) < 0 ||
        write(STDOUT_FILENO, post, sizeof(post) - 1) < 0) {
        /* nothing more to do */
    }
    _exit(1);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * Runs t in a child. Returns true when it passed; otherwise fills `why` with one line.
 */
static bool run_forked(const struct test_case *t, char *why, size_t whysz)
{
    int fds[2];
    if (pipe(fds) < 0) {
        snprintf(why, whysz, "pipe: %s", strerror(errno));
        return false;
    }
    fflush(NULL); /* nothing buffered may be written twice */
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, whysz, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return false;
    }
    if (pid == 0) {
        close(fds[0]);
        run_in_process(t);
        char report[REPORT_SZ];
        failure_report(report, sizeof(report));
        size_t len = strlen(report), off = 0;
        while (off < len) {
            ssize_t n = write(fds[1], report + off, len - off);
            if (n <= 0)
                break;
            off += (size_t)n;
        }
        /* exit(), not _exit(): LeakSanitizer checks this test's leaks at exit. */
        exit(failures ? EXIT_CHECKS : 0);
    }
    close(fds[1]);

    char report[REPORT_SZ];
    size_t got = 0;
    bool timed_out = false;
    uint64_t deadline = now_ms() + TEST_TIMEOUT_MS;
    for (;;) {
        uint64_t now = now_ms();
        if (now >= deadline) {
            timed_out = true;
            break;
        }
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        int r = poll(&p, 1, (int)(deadline - now));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            timed_out = r == 0;
            break;
        }
        char scratch[256];
        char *dst = got + 1 < sizeof(report) ? report + got : scratch;
        size_t room = got + 1 < sizeof(report) ? sizeof(report) - 1 - got : sizeof(scratch);
        ssize_t n = read(fds[0], dst, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* EOF: the child has exited */
        if (dst == report + got)
            got += (size_t)n;
    }
    report[got] = '\0';
    close(fds[0]);
    if (timed_out)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }

    if (!timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0 && got == 0)
        return true;
    size_t o = (size_t)snprintf(why, whysz, "%s", report);
    const char *sep = got ? " " : "";
    if (o < whysz) {
        if (timed_out)
            snprintf(why + o, whysz - o, "%s[timed out after %d s]", sep, TEST_TIMEOUT_MS / 1000);
        else if (WIFSIGNALED(status))
            snprintf(why + o, whysz - o, "%s[killed by signal %d; see stderr]", sep,
                     WTERMSIG(status));
        else if (WIFEXITED(status) && WEXITSTATUS(status) != EXIT_CHECKS)
            snprintf(why + o, whysz - o, "%s[exit status %d: sanitizer report on stderr]", sep,
                     WEXITSTATUS(status));
    }
    return false;
}

/* Definition order: file name, then line. */
static int by_place(const void *a, const void *b)
{
    const struct test_case *x = *(const struct test_case *const *)a;
    const struct test_case *y = *(const struct test_case *const *)b;
    int c = strcmp(x->file, y->file);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    const char *nofork = getenv("VSC_TEST_NOFORK");
    bool isolate = !(nofork && *nofork && strcmp(nofork, "0") != 0);
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* The service logs lifecycle and 4xx warnings; tests provoke plenty of both. */
    enum log_level level = LOG_ERROR;
    const char *env = getenv("VSC_TEST_LOG");
    if (env && log_level_parse(env, &level) < 0)
        level = LOG_ERROR;
    log_set_level(level);

    if (make_run_dir() < 0)
        fprintf(stderr, "unit tests: cannot make a temporary directory: %s\n", strerror(errno));

    struct test_case **order = calloc(test_count ? test_count : 1, sizeof(*order));
    if (!order)
        return 1;
    size_t n = 0;
    for (struct test_case *t = tests; t; t = t->next)
        order[n++] = t;
    qsort(order, n, sizeof(*order), by_place);

    if (!isolate)
        signal(SIGALRM, on_timeout);
    size_t passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        const struct test_case *t = order[i];
        if (filter && !strstr(t->name, filter))
            continue;
        char why[REPORT_SZ + 128];
        bool ok;
        if (isolate) {
            ok = run_forked(t, why, sizeof(why));
        } else {
            alarm(TEST_TIMEOUT_MS / 1000);
            run_in_process(t);
            alarm(0);
            ok = failures == 0;
            failure_report(why, sizeof(why));
        }
        if (ok) {
            passed++;
            continue;
        }
        failed++;
        printf("FAIL %s: %s\n", t->name, why);
    }
    free(order);
    if (run_dir[0])
        test_rmtree(run_dir);
    printf("%zu passed, %zu failed\n", passed, failed);
    if (passed + failed == 0) {
        fprintf(stderr, "no test name contains '%s'\n", filter ? filter : "");
        return 1;
    }
    return failed ? 1 : 0;
}
