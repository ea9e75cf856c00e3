/*
 * state_detect: line cleaning, rules, precedence, context, chunking and the transcripts in
 * tests/corpus (every NAME.log with a NAME.states: the expected sequence of changes).
 */
#include "test.h"

#include "state_detect.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REC_MAX  64
#define TEXT_MAX DETECT_LINE_MAX

/* What a detector told: changes (with their context) and the lines after panics. */
struct rec {
    size_t n;
    struct {
        enum vm_state state, previous;
        char rule[DETECT_ID_MAX + 1];
        char line[TEXT_MAX];
        size_t nbefore;
        char first_before[TEXT_MAX], last_before[TEXT_MAX];
        size_t seq; /* order among all callbacks */
    } ch[REC_MAX];
    size_t nafter;
    struct {
        size_t n;
        char first[TEXT_MAX], last[TEXT_MAX];
        size_t seq;
    } after[REC_MAX];
    size_t seq;
};

static void copy(char *dst, const char *src)
{
    snprintf(dst, TEXT_MAX, "%s", src);
}

static void on_changed(struct detector *d, const struct detect_change *ch)
{
    struct rec *r = d->data;
    if (r->n == REC_MAX)
        return;
    r->ch[r->n].state = ch->state;
    r->ch[r->n].previous = ch->previous;
    snprintf(r->ch[r->n].rule, sizeof(r->ch[r->n].rule), "%s", ch->rule_id);
    copy(r->ch[r->n].line, ch->line);
    r->ch[r->n].nbefore = ch->nbefore;
    copy(r->ch[r->n].first_before, ch->nbefore ? ch->before[0] : "");
    copy(r->ch[r->n].last_before, ch->nbefore ? ch->before[ch->nbefore - 1] : "");
    r->ch[r->n].seq = r->seq++;
    r->n++;
}

static void on_after(struct detector *d, const char *const *lines, size_t n)
{
    struct rec *r = d->data;
    if (r->nafter == REC_MAX)
        return;
    r->after[r->nafter].n = n;
    copy(r->after[r->nafter].first, n ? lines[0] : "");
    copy(r->after[r->nafter].last, n ? lines[n - 1] : "");
    r->after[r->nafter].seq = r->seq++;
    r->nafter++;
}

static void start(struct detector *d, const struct detect_rules *rs, struct rec *r)
{
    memset(r, 0, sizeof(*r));
    detector_init(d, rs);
    d->changed = on_changed;
    d->after = on_after;
    d->data = r;
}

static void feed_chunked(struct detector *d, const char *text, size_t len, size_t chunk)
{
    for (size_t off = 0; off < len; off += chunk)
        detector_feed(d, text + off, len - off < chunk ? len - off : chunk);
}

static void feed_str(struct detector *d, const char *s)
{
    detector_feed(d, s, strlen(s));
}

/* The cleaned line that `text` (ending the line) gives, as the context of a panic after it. */
static void cleaned(const struct detect_rules *rs, const char *text, size_t len, size_t chunk,
                    char *out)
{
    struct detector d;
    struct rec r;
    start(&d, rs, &r);
    feed_chunked(&d, text, len, chunk);
    feed_str(&d, "\nKernel panic - not syncing: x\n");
    out[0] = '\0';
    if (r.n && r.ch[r.n - 1].state == VM_STATE_PANIC)
        copy(out, r.ch[r.n - 1].last_before);
    detector_fini(&d);
}

#define CHECK_CLEAN(rs, text, expected)                                                            \
    do {                                                                                           \
        char out_[TEXT_MAX];                                                                       \
        static const char text_[] = text;                                                          \
        const size_t chunks_[] = {1, 3, sizeof(text_)};                                            \
        for (size_t k_ = 0; k_ < ARRAY_LEN(chunks_); k_++) {                                       \
            cleaned(rs, text_, sizeof(text_) - 1, chunks_[k_], out_);                              \
            CHECK_STREQ(out_, expected);                                                           \
        }                                                                                          \
    } while (0)

TEST(state_names)
{
    enum vm_state s;
    CHECK_STREQ(vm_state_name(VM_STATE_UNKNOWN), "Unknown");
    CHECK_STREQ(vm_state_name(VM_STATE_REBOOTING), "Rebooting");
    CHECK_STREQ(vm_state_name(VM_STATE_OFF), "Off");
    CHECK_STREQ(vm_state_name(VM_STATE_COUNT), "?");
    for (int k = VM_STATE_FIRMWARE; k < VM_STATE_COUNT; k++) {
        CHECK_EQ_INT(vm_state_parse(vm_state_name((enum vm_state)k), &s), 0);
        CHECK_EQ_INT(s, k);
    }
    CHECK_EQ_INT(vm_state_parse("Unknown", &s), -EINVAL);
    CHECK_EQ_INT(vm_state_parse("panic", &s), -EINVAL);
    CHECK_EQ_INT(vm_state_parse("", &s), -EINVAL);
    CHECK_EQ_INT(vm_state_parse(NULL, &s), -EINVAL);
}

TEST(state_builtin_rules)
{
    struct detect_rules *rs = detect_rules_new();
    REQUIRE(rs);
    CHECK_EQ_INT(detect_rules_count(rs), detect_builtin_count);
    for (size_t i = 0; i < detect_builtin_count; i++) {
        const struct detect_rule *r = detect_rules_at(rs, i);
        REQUIRE(r);
        CHECK_STREQ(r->id, detect_builtin_rules[i].id);
        CHECK(r->builtin);
        CHECK(r->state > VM_STATE_UNKNOWN && r->state < VM_STATE_COUNT);
        CHECK(detect_rules_find(rs, r->id) == r);
        regex_t re;
        CHECK_EQ_INT(regcomp(&re, r->pattern, REG_EXTENDED | REG_NOSUB), 0);
        regfree(&re);
        for (size_t k = 0; k < i; k++)
            CHECK(strcmp(detect_builtin_rules[k].id, r->id) != 0);
    }
    CHECK(detect_rules_at(rs, detect_builtin_count) == NULL);
    CHECK(detect_rules_find(rs, "nope") == NULL);
    detect_rules_free(rs);
    detect_rules_free(NULL);
}

TEST(state_clean_lines)
{
    struct detect_rules *rs = detect_rules_new();
    REQUIRE(rs);
    CHECK_CLEAN(rs, "plain text", "plain text");
    CHECK_CLEAN(rs, "a\x1b[31mred\x1b[0m b\r", "ared b");
    CHECK_CLEAN(rs,
                "[  *** ] A start job is running for x (1s / 1min 30s)\r\x1b[K[  OK  ] Started x.",
                "[  OK  ] Started x.");
    CHECK_CLEAN(rs,
                "\r\x1b[K[\x1b[0;32m  OK  \x1b[0m] Reached target \x1b[0;1;39mbasic.target\x1b[0m",
                "[  OK  ] Reached target basic.target");
    CHECK_CLEAN(rs, "abcdef\rXY", "XYcdef");
    CHECK_CLEAN(rs, "abc\b\bX", "aXc");
    CHECK_CLEAN(rs, "abcdef\b\b\b\x1b[K!", "abc!");
    CHECK_CLEAN(rs, "\x1b]0;title\x07text", "text");
    CHECK_CLEAN(rs, "\x1b]0;title\x1b\\text", "text");
    CHECK_CLEAN(rs, "\x1bP1$r0m\x1b\\dcs gone", "dcs gone");
    CHECK_CLEAN(rs, "\x1b(Bpl\x1b)0ain\x1b#8", "plain");
    CHECK_CLEAN(rs,
                "\x1b"
                "7a\x1b"
                "8b\x1b=c",
                "abc");
    CHECK_CLEAN(rs, "\x1b[?25lhidden cursor\x1b[?25h", "hidden cursor");
    CHECK_CLEAN(rs,
                "a\x00\x07\x01\x7f"
                "b",
                "ab");
    CHECK_CLEAN(rs, "a\tb", "a       b");
    CHECK_CLEAN(rs, "ab\x1b[10Gc", "ab       c");
    CHECK_CLEAN(rs, "caf\xc3\xa9 \xff\xc3(",
                "caf\xc3\xa9 ?"
                "?(");
    CHECK_CLEAN(rs, "\xe2\x82\xac\x80\xed\xa0\x80", "\xe2\x82\xac????");
    CHECK_CLEAN(rs, "\xc3\xa9\xc3\xa9\rX", "X?\xc3\xa9");
    CHECK_CLEAN(rs, "\x1b]0;never ended\nvisible", "visible");
    CHECK_CLEAN(rs, "first\x1b[2;5HGNU GRUB", "    GNU GRUB");
    CHECK_CLEAN(rs, "\x1b[2J\x1b[1;1Hrow\x1b[K", "row");
    CHECK_CLEAN(rs, "x\x1b[5X\x1b[1;2;3my", "xy");
    CHECK_CLEAN(rs, "crlf\r\n\r\n", "crlf");

    /* A long line is matched and kept on its first DETECT_LINE_MAX-1 bytes. */
    char longl[DETECT_LINE_MAX + 100], out[TEXT_MAX];
    memset(longl, 'x', sizeof(longl));
    cleaned(rs, longl, sizeof(longl), 4096, out);
    CHECK_EQ_INT(strlen(out), DETECT_LINE_MAX - 1);
    cleaned(rs, longl, sizeof(longl), 1, out);
    CHECK_EQ_INT(strlen(out), DETECT_LINE_MAX - 1);
    detect_rules_free(rs);
}

TEST(state_partial_line_fires_once)
{
    struct detect_rules *rs = detect_rules_new();
    REQUIRE(rs);
    struct detector d;
    struct rec r;
    start(&d, rs, &r);
    feed_str(&d, "\r\nDebian GNU/Linux 12 debian ttyS0\r\n\r\ndebian login: ");
    CHECK_EQ_INT(r.n, 0); /* a partial line waits for the console to pause on it */
    CHECK(detector_pending(&d));
    detector_idle(&d);
    CHECK(!detector_pending(&d));
    REQUIRE(r.n == 1);
    CHECK_EQ_INT(r.ch[0].state, VM_STATE_RUNNING);
    CHECK_STREQ(r.ch[0].rule, "getty.login");
    CHECK_STREQ(r.ch[0].line, "debian login: ");
    CHECK_STREQ(r.ch[0].last_before, "Debian GNU/Linux 12 debian ttyS0");
    detector_idle(&d); /* unchanged: not matched again */
    detector_fini(&d);

    /* A pause inside the prompt (a slow VM): matched again once the rest came and paused. */
    for (size_t cut = 1; cut < 15; cut++) {
        static const char prompt[] =
            "\r\nvsc test VM (busybox) e2e-pty /dev/ttyS0\r\n\r\r\n\re2e-pty login: ";
        size_t head = sizeof(prompt) - 1 - cut;
        start(&d, rs, &r);
        detector_feed(&d, prompt, head);
        detector_idle(&d);
        CHECK_EQ_INT(r.n, 0);
        detector_feed(&d, prompt + head, cut);
        CHECK(detector_pending(&d));
        detector_idle(&d);
        CHECK_EQ_INT(r.n, 1);
        detector_fini(&d);
    }
    start(&d, rs, &r);
    feed_str(&d, "\r\nDebian GNU/Linux 12 debian ttyS0\r\n\r\ndebian login: ");
    detector_idle(&d);
    feed_str(&d, "r");
    detector_idle(&d);
    feed_str(&d, "oot\r\nPassword: ");
    detector_idle(&d);
    feed_str(&d, "\r\n");
    CHECK_EQ_INT(r.n, 1);
    CHECK_EQ_INT(d.state, VM_STATE_RUNNING);
    detector_fini(&d);
    detect_rules_free(rs);
}

/* Reads that end inside a line do not report its first half: the panic line in a real VM's
 * console arrived as "...Kernel panic - not syncing" then ": sysrq triggered crash" and the
 * event said only the first part (tests/e2e). Every way of cutting it gives the whole line. */
TEST(state_line_cut_by_reads_reports_the_whole_line)
{
    struct detect_rules *rs = detect_rules_new();
    REQUIRE(rs);
    static const char text[] =
        "[    4.737788] Kernel panic - not syncing: sysrq triggered crash\r\n";
    const size_t len = sizeof(text) - 1;
    for (size_t cut = 1; cut < len; cut++) {
        struct detector d;
        struct rec r;
        start(&d, rs, &r);
        detector_feed(&d, text, cut);
        CHECK_EQ_INT(r.n, 0);
        detector_feed(&d, text + cut, len - cut);
        REQUIRE(r.n == 1);
        CHECK_EQ_INT(r.ch[0].state, VM_STATE_PANIC);
        CHECK_STREQ(r.ch[0].line,
                    "[    4.737788] Kernel panic - not syncing: sysrq triggered crash");
        detector_fini(&d);
    }
    /* Byte by byte too. */
    struct detector d;
    struct rec r;
    start(&d, rs, &r);
    feed_chunked(&d, text, len, 1);
    REQUIRE(r.n == 1);
    CHECK_STREQ(r.ch[0].line, "[    4.737788] Kernel panic - not syncing: sysrq triggered crash");
    detector_fini(&d);
    /* A prompt that other output followed on the same line before any pause (the kernel's
     * messages race with getty's prompt; found by tests/e2e): the prompt still counts. */
    start(&d, rs, &r);
    feed_str(&d, "[    3.2] Run /init as init process\r\n\re2e-pty login: ");
    REQUIRE(r.n == 1); /* Booting; the prompt waits */
    CHECK(detector_pending(&d));
    feed_str(&d, "[    5.9] tsc: Refined TSC clocksource calibration: 2096.028 MHz\r\n");
    REQUIRE(r.n == 2);
    CHECK_EQ_INT(r.ch[1].state, VM_STATE_RUNNING);
    CHECK_STREQ(r.ch[1].line, "e2e-pty login: ");
    CHECK(!detector_pending(&d));
    detector_fini(&d);
    /* A console that pauses inside the line has it matched as it stood then. */
    start(&d, rs, &r);
    feed_str(&d, "Kernel panic - not syncing: VFS");
    detector_idle(&d);
    REQUIRE(r.n == 1);
    CHECK_STREQ(r.ch[0].line, "Kernel panic - not syncing: VFS");
    feed_str(&d, ": Unable to mount root fs\n");
    CHECK_EQ_INT(r.n, 1);
    CHECK_EQ_INT(d.state, VM_STATE_PANIC);
    detector_fini(&d);
    detect_rules_free(rs);
}

/* The states a text goes through, as names joined by spaces. */
static void states_of(const struct detect_rules *rs, const char *text, char *out, size_t outsz)
{
    struct detector d;
    struct rec r;
    start(&d, rs, &r);
    feed_str(&d, text);
    detector_idle(&d); /* the text ends where the console paused */
    size_t o = 0;
    out[0] = '\0';
    for (size_t k = 0; k < r.n && o < outsz; k++)
        o += (size_t)snprintf(out + o, outsz - o, "%s%s", k ? " " : "",
                              vm_state_name(r.ch[k].state));
    detector_fini(&d);
}

#define CHECK_STATES(rs, text, expected)                                                           \
    do {                                                                                           \
        char got_[256];                                                                            \
        states_of(rs, text, got_, sizeof(got_));                                                   \
        CHECK_STREQ(got_, expected);                                                               \
    } while (0)

TEST(state_precedence_and_transitions)
{
    struct detect_rules *rs = detect_rules_new();
    REQUIRE(rs);
    /* Repeated panic lines fire once; a reboot after the panic fires. */
    CHECK_STATES(rs,
                 "[   12.1] Kernel panic - not syncing: Fatal exception\n"
                 "[   12.2] Kernel panic - not syncing: again\n"
                 "[   12.3] Rebooting in 10 seconds..\n",
                 "Panic Rebooting");
    /* The first matching rule wins: panic rules come before the reboot rules. */
    CHECK_STATES(rs, "Kernel panic - not syncing: x Rebooting.\n", "Panic");
    /* A running system's own messages do not flip it back to Booting. */
    CHECK_STATES(rs,
                 "debian login: root\ndebian login: \n"
                 "[  101.0] systemd[1]: Started session-1.scope - Session 1 of User root.\n"
                 "Welcome to Ubuntu 22.04.3 LTS (GNU/Linux 5.15.0-91-generic x86_64)!\n"
                 "[  102.0] dracut: something\n"
                 "Run /init as init process\n"
                 "[  OK  ] Started systemd-tmpfiles-clean.service.\n",
                 "Running");
    /* ... but a new kernel does (a reset that printed nothing before). */
    CHECK_STATES(rs, "debian login: \n[    0.000000] Linux version 6.1.0-13-amd64 (x)\n",
                 "Running Booting");
    CHECK_STATES(rs, "Welcome to Debian GNU/Linux 12 (bookworm)!\n", "Booting");
    /* Ordinary lines that must not match. */
    CHECK_STATES(rs,
                 "DEBUG: nothing\n"
                 "[    1.0] systemd[1]: BUGS: none\n"
                 "Whoops: harmless\n"
                 "[   55.0] traps: a.out[1234] general protection fault ip:401136 "
                 "sp:7ffd error:0 in a.out[401000+1000]\n"
                 "Booting the kernel.\n"
                 "the panic: button\n"
                 "Restarting system services\n"
                 "We are not Rebooting\n"
                 "Last login: Sun Nov 26 10:21:07 2023 from 10.0.2.2\n"
                 "INFO: task list\n",
                 "");
    CHECK_STATES(rs,
                 "[   33.1] BUG: kernel NULL pointer dereference, address: 0000000000000008\n"
                 "[   33.2] BUG: unable to handle page fault\n",
                 "Panic");
    CHECK_STATES(rs, "[   60.1] watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [a:1]\n",
                 "Panic");
    CHECK_STATES(rs, "reboot: Power down\n", "Off");
    CHECK_STATES(rs, "[  20.0] reboot: Restarting system\nSeaBIOS (version 1.16.2)\n",
                 "Rebooting Firmware");

    /* An administrator rule is tried before the built-ins, so it can override one. */
    char err[256];
    CHECK_STATES(rs, "panic: runtime error: index out of range\n", "Panic");
    CHECK_EQ_INT(detect_rules_add(rs, "go.panic", "^panic: runtime error", VM_STATE_RUNNING, err,
                                  sizeof(err)),
                 0);
    CHECK_STATES(rs, "panic: runtime error: index out of range\n", "Running");
    CHECK_STATES(rs, "panic: page fault\n", "Panic");
    CHECK_STREQ(detect_rules_at(rs, 0)->id, "go.panic");
    detect_rules_free(rs);
}

TEST(state_rules_add_replace_remove)
{
    struct detect_rules *rs = detect_rules_new();
    REQUIRE(rs);
    char err[256], id[80];
    size_t nb = detect_builtin_count;

    static const char *const bad_ids[] = {"",
                                          "a b",
                                          "x/y",
                                          "caf\xc3\xa9",
                                          "a\n",
                                          "0123456789012345678901234567890123456789"
                                          "01234567890123456789012345"};
    for (size_t k = 0; k < ARRAY_LEN(bad_ids); k++) {
        err[0] = '\0';
        CHECK_EQ_INT(detect_rules_add(rs, bad_ids[k], "x", VM_STATE_PANIC, err, sizeof(err)),
                     -EINVAL);
        CHECK(strstr(err, "rule id") != NULL);
    }
    CHECK_EQ_INT(detect_rules_add(rs, NULL, "x", VM_STATE_PANIC, err, sizeof(err)), -EINVAL);
    CHECK_EQ_INT(detect_rules_add(rs, "linux.panic", "x", VM_STATE_PANIC, err, sizeof(err)),
                 -EEXIST);
    CHECK(strstr(err, "built-in") != NULL);
    CHECK_EQ_INT(detect_rules_add(rs, "a", "x", VM_STATE_UNKNOWN, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "Firmware, Booting") != NULL);
    CHECK_EQ_INT(detect_rules_add(rs, "a", "x", VM_STATE_COUNT, err, sizeof(err)), -EINVAL);
    CHECK_EQ_INT(detect_rules_add(rs, "a", "", VM_STATE_PANIC, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "1 to 256 bytes") != NULL);
    char longp[DETECT_PATTERN_MAX + 2];
    memset(longp, 'p', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    CHECK_EQ_INT(detect_rules_add(rs, "a", longp, VM_STATE_PANIC, err, sizeof(err)), -EINVAL);
    longp[DETECT_PATTERN_MAX] = '\0';
    CHECK_EQ_INT(detect_rules_add(rs, "a", longp, VM_STATE_PANIC, err, sizeof(err)), 0);
    CHECK_EQ_INT(detect_rules_add(rs, "b", "(unclosed", VM_STATE_PANIC, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "not a valid POSIX extended regular expression") != NULL);
    CHECK_EQ_INT(detect_rules_add(rs, "b", "x*", VM_STATE_PANIC, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "empty line") != NULL);
    CHECK_EQ_INT(detect_rules_add(rs, "b", "^$", VM_STATE_PANIC, NULL, 0), -EINVAL);
    CHECK_EQ_INT(detect_rules_count(rs), nb + 1);

    /* Added in order before the built-ins; a replacement keeps its place. */
    CHECK_EQ_INT(detect_rules_add(rs, "b", "bbb", VM_STATE_OFF, err, sizeof(err)), 0);
    CHECK_EQ_INT(detect_rules_add(rs, "c", "ccc", VM_STATE_OFF, err, sizeof(err)), 0);
    CHECK_STREQ(detect_rules_at(rs, 0)->id, "a");
    CHECK_STREQ(detect_rules_at(rs, 1)->id, "b");
    CHECK_STREQ(detect_rules_at(rs, 2)->id, "c");
    CHECK_STREQ(detect_rules_at(rs, 3)->id, detect_builtin_rules[0].id);
    CHECK_EQ_INT(detect_rules_add(rs, "b", "BBB", VM_STATE_FIRMWARE, err, sizeof(err)), 0);
    CHECK_EQ_INT(detect_rules_count(rs), nb + 3);
    const struct detect_rule *b = detect_rules_at(rs, 1);
    CHECK_STREQ(b->id, "b");
    CHECK_STREQ(b->pattern, "BBB");
    CHECK_EQ_INT(b->state, VM_STATE_FIRMWARE);
    CHECK(!b->builtin);
    CHECK_STATES(rs, "xx BBB yy\nbbb\n", "Firmware");
    /* A failed replacement changes nothing. */
    CHECK_EQ_INT(detect_rules_add(rs, "b", "[", VM_STATE_OFF, err, sizeof(err)), -EINVAL);
    CHECK_STREQ(detect_rules_find(rs, "b")->pattern, "BBB");

    CHECK_EQ_INT(detect_rules_remove(rs, "nope"), -ENOENT);
    CHECK_EQ_INT(detect_rules_remove(rs, "linux.oops"), -EPERM);
    CHECK_EQ_INT(detect_rules_remove(rs, "b"), 0);
    CHECK_EQ_INT(detect_rules_remove(rs, "b"), -ENOENT);
    CHECK_STREQ(detect_rules_at(rs, 1)->id, "c");
    CHECK_STATES(rs, "xx BBB yy\n", "");
    CHECK_EQ_INT(detect_rules_count(rs), nb + 2);

    /* At most DETECT_RULES_MAX administrator rules; replacing still works when full. */
    for (int k = 2; k < DETECT_RULES_MAX; k++) {
        snprintf(id, sizeof(id), "r%d", k);
        REQUIRE(detect_rules_add(rs, id, "zzz[0-9]", VM_STATE_OFF, err, sizeof(err)) == 0);
    }
    CHECK_EQ_INT(detect_rules_add(rs, "one-more", "x", VM_STATE_OFF, err, sizeof(err)), -ENOSPC);
    CHECK(strstr(err, "remove one") != NULL);
    CHECK_EQ_INT(detect_rules_add(rs, "c", "cc+", VM_STATE_OFF, err, sizeof(err)), 0);
    CHECK_STATES(rs, "zzz7\nKernel panic - not syncing\n", "Off Panic");
    CHECK_EQ_INT(detect_rules_count(rs), nb + DETECT_RULES_MAX);
    detect_rules_free(rs);
}

TEST(state_rules_change_under_detector)
{
    struct detect_rules *rs = detect_rules_new();
    REQUIRE(rs);
    struct detector d;
    struct rec r;
    char err[128];
    start(&d, rs, &r);
    feed_str(&d, "hello wor");
    CHECK_EQ_INT(r.n, 0);
    REQUIRE(detect_rules_add(rs, "w", "hello world", VM_STATE_RUNNING, err, sizeof(err)) == 0);
    feed_str(&d, "ld\n");
    REQUIRE(r.n == 1);
    CHECK_STREQ(r.ch[0].rule, "w");
    feed_str(&d, "second hello wor");
    REQUIRE(detect_rules_remove(rs, "w") == 0);
    REQUIRE(detect_rules_add(rs, "w2", "hello world", VM_STATE_OFF, err, sizeof(err)) == 0);
    feed_str(&d, "ld\n");
    REQUIRE(r.n == 2);
    CHECK_STREQ(r.ch[1].rule, "w2");
    CHECK_EQ_INT(r.ch[1].previous, VM_STATE_RUNNING);
    detector_fini(&d);

    /* A detector without rules cleans lines and never changes. */
    start(&d, NULL, &r);
    feed_str(&d, "Kernel panic - not syncing\n");
    CHECK_EQ_INT(r.n, 0);
    detect_rules_free(rs);
}

TEST(state_context_before_and_after)
{
    struct detect_rules *rs = detect_rules_new();
    REQUIRE(rs);
    struct detector d;
    struct rec r;
    char line[64];
    start(&d, rs, &r);
    for (int k = 0; k < 20; k++) {
        snprintf(line, sizeof(line), "line %d\n\n", k);
        feed_str(&d, line);
    }
    feed_str(&d, "Kernel panic - not syncing: Attempted to kill init!\n");
    REQUIRE(r.n == 1);
    CHECK_EQ_INT(r.ch[0].nbefore, DETECT_CONTEXT_LINES);
    CHECK_STREQ(r.ch[0].first_before, "line 4");
    CHECK_STREQ(r.ch[0].last_before, "line 19");
    for (int k = 0; k < 20; k++) {
        snprintf(line, sizeof(line), "after %d\n", k);
        feed_str(&d, line);
    }
    REQUIRE(r.nafter == 1);
    CHECK_EQ_INT(r.after[0].n, DETECT_CONTEXT_LINES);
    CHECK_STREQ(r.after[0].first, "after 0");
    CHECK_STREQ(r.after[0].last, "after 15");
    detector_flush(&d);
    CHECK_EQ_INT(r.nafter, 1);

    /* A change ends the collection: the lines come before the change is told. */
    start(&d, rs, &r);
    feed_str(&d, "first\nOops: 0002 [#1] SMP\n");
    CHECK_EQ_INT(r.ch[0].nbefore, 1);
    feed_str(&d, "CPU: 0 PID: 1\nRIP: 0010:x\nCall Trace:\n");
    CHECK_EQ_INT(r.nafter, 0);
    feed_str(&d, "Rebooting in 10 seconds..\n");
    REQUIRE(r.nafter == 1 && r.n == 2);
    CHECK_EQ_INT(r.after[0].n, 3);
    CHECK_STREQ(r.after[0].first, "CPU: 0 PID: 1");
    CHECK_STREQ(r.after[0].last, "Call Trace:");
    CHECK(r.after[0].seq < r.ch[1].seq);
    CHECK_EQ_INT(r.ch[1].state, VM_STATE_REBOOTING);
    CHECK_STREQ(r.ch[1].last_before, "Call Trace:");

    /* flush: nothing collected yet does nothing; then the lines and the partial line. */
    start(&d, rs, &r);
    feed_str(&d, "[  5.0] general protection fault: 0000 [#1] SMP");
    detector_idle(&d);
    REQUIRE(r.n == 1);
    detector_flush(&d);
    CHECK_EQ_INT(r.nafter, 0);
    feed_str(&d, "\nRIP: 0010:x\n---[ end trace ]---");
    detector_flush(&d);
    REQUIRE(r.nafter == 1);
    CHECK_EQ_INT(r.after[0].n, 2);
    CHECK_STREQ(r.after[0].first, "RIP: 0010:x");
    CHECK_STREQ(r.after[0].last, "---[ end trace ]---");
    detector_flush(&d);
    feed_str(&d, "\nmore\n");
    detector_flush(&d);
    CHECK_EQ_INT(r.nafter, 1);
    detector_fini(&d);
    detect_rules_free(rs);
}

/* The prefilter never hides a match: each pattern alone decides as regexec does. */
TEST(state_prefilter_agrees_with_regexec)
{
    static const char *const patterns[] = {
        "ab+c",          "a?bcd",       "x(y|z)w",     "foo|bar",
        "a{0,2}bcd",     "^abc$",       "\\.lit",      "[[:digit:]]+ apples",
        "a.c",           "(ab)+cd",     "\\<word\\>",  "colou?r",
        "caf\xc3\xa9+x", "q{2}rs",      "[]x]yz",      "(a|b)|cde",
        "k\\|l",         "^ *Loading ", "m[^n]o{1,}p", "ab*c",
    };
    static const char *const lines[] = {
        "abc",         "abbbc",     "ac",
        "bcd",         "abcd",      "xyw",
        "xzw",         "xw",        "foo",
        "bar",         "fo",        "aabcd",
        "bcd!",        "abc ",      "x.lit",
        "xlit",        "12 apples", "apples",
        "abc",         "ababcd",    "cd",
        "a word!",     "words",     "color",
        "colour",      "colouur",   "caf\xc3\xa9\xc3\xa9x",
        "cafx",        "qqrs",      "qrs",
        "]yz",         "xyz",       "a",
        "cde",         "k|l",       "kl",
        "  Loading x", "Loading",   "mxop",
        "mnop",        "mxoop",     "mxp",
        "ac",          "abbbbbc",
    };
    char err[256];
    for (size_t i = 0; i < ARRAY_LEN(patterns); i++) {
        struct detect_rules *rs = detect_rules_new();
        REQUIRE(rs);
        REQUIRE(detect_rules_add(rs, "t", patterns[i], VM_STATE_OFF, err, sizeof(err)) == 0);
        regex_t re;
        REQUIRE(regcomp(&re, patterns[i], REG_EXTENDED | REG_NOSUB) == 0);
        for (size_t k = 0; k < ARRAY_LEN(lines); k++) {
            struct detector d;
            struct rec r;
            start(&d, rs, &r);
            feed_str(&d, lines[k]);
            feed_str(&d, "\n");
            bool want = regexec(&re, lines[k], 0, NULL, 0) == 0;
            bool got = r.n == 1 && strcmp(r.ch[0].rule, "t") == 0;
            if (want != got)
                test_fail(__FILE__, __LINE__, "pattern /%s/ line \"%s\": regexec %d, detector %d",
                          patterns[i], lines[k], want, got);
        }
        regfree(&re);
        detect_rules_free(rs);
    }
}

/* ---- transcripts ----------------------------------------------------------------------- */

/* rel under the repository: from the working directory (make unit), else next to the
 * binary (build/san/unit_tests → ../../rel). */
static bool repo_path(const char *rel, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s", rel);
    if (access(out, R_OK) == 0)
        return true;
    char exe[PATH_MAX / 2];
    if (!test_exe_dir(exe, sizeof(exe)))
        return false;
    snprintf(out, outsz, "%s/../../%s", exe, rel);
    return access(out, R_OK) == 0;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *bigger = realloc(buf, 2 * cap + 1);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

/* "Firmware Booting Running": the .states file's names (blank lines and # comments skipped). */
static void expected_states(char *text, char *out, size_t outsz)
{
    size_t o = 0;
    out[0] = '\0';
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        l[strcspn(l, "#\r")] = '\0';
        while (*l == ' ')
            l++;
        size_t e = strlen(l);
        while (e && l[e - 1] == ' ')
            l[--e] = '\0';
        if (*l && o < outsz)
            o += (size_t)snprintf(out + o, outsz - o, "%s%s", o ? " " : "", l);
    }
}

static void transcript_states(const struct detect_rules *rs, const char *log, size_t len,
                              size_t chunk, char *out, size_t outsz)
{
    struct detector d;
    struct rec r;
    start(&d, rs, &r);
    feed_chunked(&d, log, len, chunk);
    detector_idle(&d); /* the transcript ends where the console paused */
    detector_flush(&d);
    size_t o = 0;
    out[0] = '\0';
    for (size_t k = 0; k < r.n && o < outsz; k++)
        o += (size_t)snprintf(out + o, outsz - o, "%s%s[%s]", k ? " " : "",
                              vm_state_name(r.ch[k].state), r.ch[k].rule);
    detector_fini(&d);
}

/* Drops the "[rule]" parts. */
static void strip_rules(const char *in, char *out, size_t outsz)
{
    size_t o = 0;
    for (bool skip = false; *in && o + 1 < outsz; in++) {
        if (*in == '[')
            skip = true;
        else if (*in == ']')
            skip = false;
        else if (!skip)
            out[o++] = *in;
    }
    out[o] = '\0';
}

TEST(state_corpus)
{
    char dir[PATH_MAX], path[PATH_MAX + 300];
    REQUIRE(repo_path("tests/corpus", dir, sizeof(dir)));
    struct detect_rules *rs = detect_rules_new();
    REQUIRE(rs);
    DIR *dp = opendir(dir);
    REQUIRE(dp);
    size_t checked = 0;
    struct dirent *e;
    while ((e = readdir(dp))) {
        size_t nl = strlen(e->d_name);
        if (nl < 5 || strcmp(e->d_name + nl - 4, ".log") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%.*s.states", dir, (int)(nl - 4), e->d_name);
        size_t slen, llen;
        char *states = read_file(path, &slen);
        if (!states)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        char *log = read_file(path, &llen);
        if (!log) {
            test_fail(__FILE__, __LINE__, "%s: %s", path, strerror(errno));
            free(states);
            continue;
        }
        char want[1024], got[4096], bare[1024], first[4096];
        expected_states(states, want, sizeof(want));
        static const size_t chunks[] = {4096, 1, 7, 65536};
        for (size_t k = 0; k < ARRAY_LEN(chunks); k++) {
            transcript_states(rs, log, llen, chunks[k], got, sizeof(got));
            strip_rules(got, bare, sizeof(bare));
            if (strcmp(bare, want) != 0)
                test_fail(__FILE__, __LINE__, "%s (chunks of %zu): got %s, expected %s", e->d_name,
                          chunks[k], got, want);
            if (k == 0)
                snprintf(first, sizeof(first), "%s", got);
            else if (strcmp(first, got) != 0)
                test_fail(__FILE__, __LINE__, "%s: chunks of %zu give %s, of 4096 %s", e->d_name,
                          chunks[k], got, first);
        }
        checked++;
        free(log);
        free(states);
    }
    closedir(dp);
    CHECK(checked >= 10);
    detect_rules_free(rs);
}

/* docs/console-states.md lists every built-in rule with its pattern. */
TEST(state_rules_documented)
{
    char path[PATH_MAX];
    REQUIRE(repo_path("docs/console-states.md", path, sizeof(path)));
    size_t len;
    char *doc = read_file(path, &len);
    REQUIRE(doc);
    char want[512];
    for (size_t i = 0; i < detect_builtin_count; i++) {
        snprintf(want, sizeof(want), "| `%s` | %s |", detect_builtin_rules[i].id,
                 vm_state_name(detect_builtin_rules[i].state));
        if (!strstr(doc, want))
            test_fail(__FILE__, __LINE__, "docs/console-states.md lacks the row \"%s\"", want);
    }
    free(doc);
}
