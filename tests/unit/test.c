/* The unit tests' runner: see test.h. */
#include "test.h"

#include "log.h"

#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TEST_TIMEOUT_S  60 /* per test; a hung loop test must not hang `make unit` */
#define FAILURES_SHOWN  4
#define FAILURE_TEXT_SZ 512

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

bool test_check_int(const char *file, int line, const char *a_expr, const char *b_expr,
                    long long a, long long b)
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

int test_tmpdir(char *out, size_t outsz)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    int n = snprintf(out, outsz, "%s/vsc-unit-XXXXXX", base);
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
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

static void on_timeout(int sig)
{
    (void)sig;
    /* Only async-signal-safe calls here. */
    static const char pre[] = "FAIL ", post[] = ": timed out\n";
    if (write(STDOUT_FILENO, pre, sizeof(pre) - 1) < 0 ||
        write(STDOUT_FILENO, running->name, strlen(running->name)) < 0 ||
        write(STDOUT_FILENO, post, sizeof(post) - 1) < 0) {
        /* nothing more to do */
    }
    _exit(1);
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
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* The service logs lifecycle and 4xx warnings; tests provoke plenty of both. */
    enum log_level level = LOG_ERROR;
    const char *env = getenv("VSC_TEST_LOG");
    if (env && log_level_parse(env, &level) < 0)
        level = LOG_ERROR;
    log_set_level(level);

    struct test_case **order = calloc(test_count ? test_count : 1, sizeof(*order));
    if (!order)
        return 1;
    size_t n = 0;
    for (struct test_case *t = tests; t; t = t->next)
        order[n++] = t;
    qsort(order, n, sizeof(*order), by_place);

    signal(SIGALRM, on_timeout);
    size_t passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        const struct test_case *t = order[i];
        if (filter && !strstr(t->name, filter))
            continue;
        running = t;
        failures = 0;
        alarm(TEST_TIMEOUT_S);
        t->fn();
        alarm(0);
        if (failures == 0) {
            passed++;
            continue;
        }
        failed++;
        printf("FAIL %s:", t->name);
        for (int k = 0; k < failures && k < FAILURES_SHOWN; k++)
            printf("%s %s", k ? ";" : "", failure_text[k]);
        if (failures > FAILURES_SHOWN)
            printf(" (+%d more)", failures - FAILURES_SHOWN);
        printf("\n");
    }
    free(order);
    printf("%zu passed, %zu failed\n", passed, failed);
    if (passed + failed == 0) {
        fprintf(stderr, "no test name contains '%s'\n", filter ? filter : "");
        return 1;
    }
    return failed ? 1 : 0;
}
