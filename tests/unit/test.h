/*
 * test — the unit tests' harness.
 *
 *   TEST(name) { CHECK(x); CHECK_EQ_INT(a, b); CHECK_STREQ(s, t); }
 *
 * TEST registers the test before main() runs (a constructor). A failed check records
 * file:line and what it saw, and the test goes on; REQUIRE is CHECK that also ends the
 * test at once (for checks the rest of the test depends on, like an open database).
 * test.c's main runs every test, or those whose name contains argv[1], prints one line
 * per failing test and ends with "N passed, N failed"; the exit status is 1 if any failed.
 * Each test runs in its own child process (see test.c), so a crash, a sanitizer report or
 * a hang fails that test only.
 */
#ifndef VSC_TEST_H
#define VSC_TEST_H

#include <stdbool.h>
#include <stddef.h>

struct test_case {
    const char *name;
    void (*fn)(void);
    const char *file;
    int line;
    struct test_case *next;
};

void test_register(struct test_case *t);

/* Records a failure of the running test; returns false (so checks can be used as values). */
bool test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

bool test_check(const char *file, int line, const char *expr, bool ok);
bool test_check_int(const char *file, int line, const char *a_expr, const char *b_expr, long long a,
                    long long b);
bool test_check_str(const char *file, int line, const char *a_expr, const char *b_expr,
                    const char *a, const char *b);

/* A fresh private directory (in this run's directory under $TMPDIR); 0 or -1. */
int test_tmpdir(char *out, size_t outsz);
/* Removes a directory and everything in it. */
void test_rmtree(const char *dir);
/* The directory holding the test binary (build/san); false if /proc/self/exe is unreadable. */
bool test_exe_dir(char *out, size_t outsz);

#define TEST(name)                                                                                 \
    static void test_fn_##name(void);                                                              \
    static struct test_case test_case_##name = {#name, test_fn_##name, __FILE__, __LINE__, NULL};  \
    __attribute__((constructor)) static void test_reg_##name(void)                                 \
    {                                                                                              \
        test_register(&test_case_##name);                                                          \
    }                                                                                              \
    static void test_fn_##name(void)

#define CHECK(cond) test_check(__FILE__, __LINE__, #cond, (cond) != 0)

#define CHECK_EQ_INT(a, b)                                                                         \
    test_check_int(__FILE__, __LINE__, #a, #b, (long long)(a), (long long)(b))

#define CHECK_STREQ(a, b) test_check_str(__FILE__, __LINE__, #a, #b, (a), (b))

/* CHECK that ends the test when it fails. */
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!CHECK(cond))                                                                          \
            return;                                                                                \
    } while (0)

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
