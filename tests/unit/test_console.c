/* console: modes, input rules and the private ranges that readers and history skip. */
#include "test.h"

#include "console.h"
#include "port_rights.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define ADMIN                                                                                      \
    (PORT_RIGHT_WATCH | PORT_RIGHT_CONTROL | PORT_RIGHT_OBSERVE | PORT_RIGHT_PRIVATE |             \
     PORT_RIGHT_FORCE)
#define OPERATOR (PORT_RIGHT_WATCH | PORT_RIGHT_CONTROL | PORT_RIGHT_OBSERVE)
#define READONLY PORT_RIGHT_WATCH

struct rd {
    struct console_reader r;
    char got[8192];
    size_t len;
    int modes; /* mode callbacks seen */
};

static void rd_notify(struct console_reader *r)
{
    (void)r;
}

static void rd_mode(struct console_reader *r)
{
    ((struct rd *)r->data)->modes++;
}

static void rd_init(struct rd *d, const char *user, uint32_t rights, bool local)
{
    memset(d, 0, sizeof(*d));
    d->r.notify = rd_notify;
    d->r.mode = rd_mode;
    d->r.data = d;
    d->r.rights = rights;
    d->r.local = local;
    snprintf(d->r.user, sizeof(d->r.user), "%s", user);
}

/* Reads everything the reader may see now into d->got. */
static void drain(struct console *c, struct rd *d)
{
    const uint8_t *data;
    size_t n;
    while ((n = console_peek(c, &d->r, &data, 7)) > 0) { /* small chunks: boundaries matter */
        if (d->len + n < sizeof(d->got)) {
            memcpy(d->got + d->len, data, n);
            d->len += n;
        }
        d->r.offset += n;
    }
    d->got[d->len] = '\0';
}

static void out(struct console *c, const char *s)
{
    console_output(c, s, strlen(s));
}

TEST(console_free_use_lets_every_controller_type)
{
    struct console c;
    REQUIRE(console_init(&c, 4096) == 0);
    console_set_connected(&c, true);
    CHECK_EQ_INT(console_send_input(&c, "op", OPERATOR, false, "a", 1), 0);
    CHECK_EQ_INT(console_send_input(&c, "ro", READONLY, false, "b", 1), -EACCES);
    CHECK_EQ_INT(console_send_input(&c, "", PORT_RIGHT_WATCH | PORT_RIGHT_CONTROL, true, "c", 1),
                 0);
    const uint8_t *q;
    CHECK_EQ_INT(console_input_pending(&c, &q), 2);
    console_fini(&c);
}

TEST(console_observe_only_lets_the_holder_alone_type)
{
    struct console c;
    REQUIRE(console_init(&c, 4096) == 0);
    console_set_connected(&c, true);
    struct rd a, b;
    rd_init(&a, "op", OPERATOR, false);
    rd_init(&b, "admin", ADMIN, false);
    console_attach(&c, &a.r, 0);
    console_attach(&c, &b.r, 0);
    CHECK_EQ_INT(console_set_mode(&c, CONSOLE_OBSERVE, "ro", READONLY, false), -EPERM);
    CHECK_EQ_INT(console_set_mode(&c, CONSOLE_OBSERVE, "op", OPERATOR, false), 1);
    CHECK_EQ_INT(a.modes, 1);
    CHECK_EQ_INT(b.modes, 1);
    CHECK_STREQ(c.holder, "op");
    CHECK_EQ_INT(console_send_input(&c, "op", OPERATOR, false, "x", 1), 0);
    CHECK_EQ_INT(console_send_input(&c, "admin", ADMIN, false, "y", 1), -EBUSY);
    CHECK_EQ_INT(console_send_input(&c, "", OPERATOR, true, "z", 1), -EBUSY); /* local socket */
    /* Everyone still watches. */
    out(&c, "seen by all");
    drain(&c, &b);
    CHECK_STREQ(b.got, "seen by all");
    CHECK_EQ_INT(console_set_mode(&c, CONSOLE_OBSERVE, "op", OPERATOR, false), 0); /* already */
    console_detach(&c, &a.r);
    console_detach(&c, &b.r);
    console_fini(&c);
}

TEST(console_taking_or_releasing_anothers_mode_needs_force_and_the_right)
{
    struct console c;
    REQUIRE(console_init(&c, 4096) == 0);
    CHECK_EQ_INT(console_set_mode(&c, CONSOLE_OBSERVE, "op", OPERATOR, false), 1);
    CHECK_EQ_INT(console_set_mode(&c, CONSOLE_OBSERVE, "op2", OPERATOR, false), -EBUSY);
    CHECK_EQ_INT(console_set_mode(&c, CONSOLE_OBSERVE, "op2", OPERATOR, true), -EPERM);
    CHECK_EQ_INT(console_set_mode(&c, CONSOLE_FREE, "op2", OPERATOR, true), -EPERM);
    CHECK_EQ_INT(console_set_mode(&c, CONSOLE_FREE, "admin", ADMIN, false), -EBUSY);
    CHECK_EQ_INT(console_mode_check(&c, CONSOLE_PRIVATE, "admin", ADMIN, true), 0);
    CHECK_STREQ(c.holder, "op"); /* a check changes nothing */
    CHECK_EQ_INT(console_set_mode(&c, CONSOLE_PRIVATE, "admin", ADMIN, true), 1);
    CHECK(c.forced);
    CHECK_STREQ(c.holder, "admin");
    CHECK_STREQ(c.changed_by, "admin");
    CHECK_EQ_INT(console_set_mode(&c, CONSOLE_FREE, "admin", ADMIN, false), 1); /* the holder */
    CHECK(!c.forced);
    CHECK_EQ_INT(c.mode, CONSOLE_FREE);
    CHECK_STREQ(c.holder, "");
    CHECK_EQ_INT(console_set_mode(&c, CONSOLE_FREE, "ro", READONLY, false), 0); /* nothing held */
    console_fini(&c);
}

TEST(console_private_output_is_never_shown_to_others)
{
    struct console c;
    REQUIRE(console_init(&c, 4096) == 0);
    struct rd holder, other, local;
    rd_init(&holder, "admin", ADMIN, false);
    rd_init(&other, "op", OPERATOR, false);
    rd_init(&local, "", PORT_RIGHT_WATCH | PORT_RIGHT_CONTROL, true);
    console_attach(&c, &holder.r, 0);
    console_attach(&c, &other.r, 0);
    console_attach(&c, &local.r, 0);
    out(&c, "before|");
    CHECK_EQ_INT(console_set_mode(&c, CONSOLE_PRIVATE, "admin", ADMIN, false), 1);
    CHECK(console_reader_sees(&c, &holder.r));
    CHECK(!console_reader_sees(&c, &other.r));
    CHECK(!console_reader_sees(&c, &local.r));
    out(&c, "SECRET1");
    drain(&c, &other); /* live, while private */
    CHECK_STREQ(other.got, "before|");
    out(&c, "SECRET2");
    CHECK_EQ_INT(console_set_mode(&c, CONSOLE_FREE, "admin", ADMIN, false), 1);
    out(&c, "|after");
    drain(&c, &holder);
    drain(&c, &other);
    drain(&c, &local);
    CHECK_STREQ(holder.got, "before|SECRET1SECRET2|after");
    CHECK_STREQ(other.got, "before||after");
    CHECK_STREQ(local.got, "before||after");
    CHECK_EQ_INT(other.r.missed, 0); /* hidden, not "missed" */
    /* History replay, after the mode ended: still hidden from everyone but the holder. */
    struct rd late, late_holder;
    rd_init(&late, "op", OPERATOR, false);
    rd_init(&late_holder, "admin", ADMIN, false);
    console_attach(&c, &late.r, 100000);
    console_attach(&c, &late_holder.r, 100000);
    drain(&c, &late);
    drain(&c, &late_holder);
    CHECK_STREQ(late.got, "before||after");
    CHECK_STREQ(late_holder.got, "before|SECRET1SECRET2|after");
    console_fini(&c);
}

TEST(console_private_ranges_stay_bounded_and_hide_more_never_less)
{
    struct console c;
    REQUIRE(console_init(&c, 1 << 16) == 0);
    char text[32];
    for (int i = 0; i < CONSOLE_PRIVATE_RANGES * 3; i++) {
        CHECK_EQ_INT(console_set_mode(&c, CONSOLE_PRIVATE, "admin", ADMIN, false), 1);
        snprintf(text, sizeof(text), "S%d", i);
        out(&c, text);
        CHECK_EQ_INT(console_set_mode(&c, CONSOLE_FREE, "admin", ADMIN, false), 1);
        out(&c, ".");
    }
    CHECK(c.npriv <= CONSOLE_PRIVATE_RANGES);
    struct rd late;
    rd_init(&late, "op", OPERATOR, false);
    console_attach(&c, &late.r, 1 << 16);
    drain(&c, &late);
    CHECK(strchr(late.got, 'S') == NULL);
    console_fini(&c);
}

TEST(console_private_ranges_are_dropped_with_the_ring_tail)
{
    struct console c;
    REQUIRE(console_init(&c, 4096) == 0);
    CHECK_EQ_INT(console_set_mode(&c, CONSOLE_PRIVATE, "admin", ADMIN, false), 1);
    out(&c, "SECRET");
    CHECK_EQ_INT(console_set_mode(&c, CONSOLE_FREE, "admin", ADMIN, false), 1);
    char fill[1024];
    memset(fill, 'f', sizeof(fill));
    for (int i = 0; i < 8; i++)
        console_output(&c, fill, sizeof(fill));
    struct rd late;
    rd_init(&late, "op", OPERATOR, false);
    console_attach(&c, &late.r, 100000);
    drain(&c, &late);
    CHECK_EQ_INT(late.len, 4096);
    CHECK_EQ_INT(c.npriv, 0);
    console_fini(&c);
}

/* A reader that falls a ring behind is told how many bytes it lost that it could have seen:
 * private output another user printed meanwhile is skipped, not reported as missed. */
TEST(console_missed_counts_no_private_output)
{
    struct console c;
    REQUIRE(console_init(&c, 4096) == 0);
    struct rd slow, holder;
    rd_init(&slow, "op", OPERATOR, false);
    rd_init(&holder, "admin", ADMIN, false);
    console_attach(&c, &slow.r, 0);
    console_attach(&c, &holder.r, 0);
    char fill[1000], secret[700];
    memset(fill, 'f', sizeof(fill));
    memset(secret, 'S', sizeof(secret));
    console_output(&c, fill, 100); /* [0, 100): seen by all */
    CHECK_EQ_INT(console_set_mode(&c, CONSOLE_PRIVATE, "admin", ADMIN, false), 1);
    console_output(&c, secret, sizeof(secret)); /* [100, 800): private */
    CHECK_EQ_INT(console_set_mode(&c, CONSOLE_FREE, "admin", ADMIN, false), 1);
    for (int i = 0; i < 8; i++)
        console_output(&c, fill, sizeof(fill)); /* [800, 8800): the tail is at 4704 */
    drain(&c, &holder); /* the holder reads on: the ring's tail passed the private range */
    drain(&c, &slow);
    CHECK_EQ_INT(slow.len, 4096);
    CHECK(strchr(slow.got, 'S') == NULL);
    CHECK_EQ_INT(slow.r.missed, 4704 - 700); /* the lost bytes it may see, no private one */
    CHECK_EQ_INT(holder.r.missed, 4704);     /* the holder lost its own private bytes too */

    /* A private range the tail cut through: only its hidden part is skipped, silently. */
    struct rd slow2;
    rd_init(&slow2, "op", OPERATOR, false);
    console_attach(&c, &slow2.r, 0); /* at 8800 */
    console_output(&c, fill, 100);   /* [8800, 8900) */
    CHECK_EQ_INT(console_set_mode(&c, CONSOLE_PRIVATE, "admin", ADMIN, false), 1);
    for (int i = 0; i < 5; i++)
        console_output(&c, fill, sizeof(fill)); /* [8900, 13900): private */
    CHECK_EQ_INT(console_set_mode(&c, CONSOLE_FREE, "admin", ADMIN, false), 1);
    console_output(&c, fill, 100); /* [13900, 14000): the tail is at 9904 */
    drain(&c, &slow2);
    CHECK_EQ_INT(slow2.len, 100);
    CHECK_EQ_INT(slow2.r.missed, 100); /* [8800, 8900) */
    console_detach(&c, &slow2.r);
    console_detach(&c, &slow.r);
    console_detach(&c, &holder.r);
    console_fini(&c);
}

TEST(console_holders_last_reader_leaving_releases_the_mode)
{
    struct console c;
    REQUIRE(console_init(&c, 4096) == 0);
    struct rd a1, a2, watcher;
    rd_init(&a1, "admin", ADMIN, false);
    rd_init(&a2, "admin", ADMIN, false);
    rd_init(&watcher, "ro", READONLY, false);
    console_attach(&c, &a1.r, 0);
    console_attach(&c, &a2.r, 0);
    console_attach(&c, &watcher.r, 0);
    CHECK_EQ_INT(console_set_mode(&c, CONSOLE_PRIVATE, "admin", ADMIN, false), 1);
    console_detach(&c, &a1.r);
    CHECK_EQ_INT(c.mode, CONSOLE_PRIVATE); /* another connection of the holder remains */
    console_detach(&c, &a2.r);
    CHECK_EQ_INT(c.mode, CONSOLE_FREE);
    CHECK_STREQ(c.reason, "holder left");
    CHECK_EQ_INT(watcher.modes, 2);
    console_detach(&c, &watcher.r);
    console_fini(&c);
}

TEST(console_without_watch_right_receives_nothing)
{
    struct console c;
    REQUIRE(console_init(&c, 4096) == 0);
    struct rd d;
    rd_init(&d, "nobody", 0, false);
    console_attach(&c, &d.r, 0);
    out(&c, "hidden");
    drain(&c, &d);
    CHECK_EQ_INT(d.len, 0);
    CHECK(!console_reader_sees(&c, &d.r));
    console_detach(&c, &d.r);
    console_fini(&c);
}

TEST(console_stored_output_waits_for_its_notify_whoever_peeks)
{
    struct console c;
    REQUIRE(console_init(&c, 4096) == 0);
    struct rd d;
    rd_init(&d, "viewer", READONLY, false);
    console_attach(&c, &d.r, 0);
    out(&c, "shown ");
    console_store(&c, "batched", 7); /* a batch not due yet */
    drain(&c, &d);                   /* as a reader asking for more would */
    CHECK_STREQ(d.got, "shown ");
    struct rd late;
    rd_init(&late, "late", READONLY, false);
    console_attach(&c, &late.r, 4096); /* history: what was shown, nothing after */
    drain(&c, &late);
    CHECK_STREQ(late.got, "shown ");
    console_notify(&c);
    drain(&c, &d);
    drain(&c, &late);
    CHECK_STREQ(d.got, "shown batched");
    CHECK_STREQ(late.got, "shown batched");
    console_detach(&c, &late.r);
    console_detach(&c, &d.r);
    console_fini(&c);
}

/* A batch larger than the ring lost its oldest bytes before anyone was shown them: readers
 * attached before are told, one attaching now (at the live end) missed nothing. */
TEST(console_reader_attaching_before_an_overlong_batch_missed_nothing)
{
    struct console c;
    REQUIRE(console_init(&c, 4096) == 0);
    struct rd old, fresh;
    rd_init(&old, "old", READONLY, false);
    rd_init(&fresh, "fresh", READONLY, false);
    console_attach(&c, &old.r, 0);
    out(&c, "shown");
    drain(&c, &old);
    char fill[8192];
    memset(fill, 'f', sizeof(fill));
    console_store(&c, fill, sizeof(fill)); /* not shown yet: the ring holds its last 4096 */
    console_attach(&c, &fresh.r, 0);
    console_notify(&c);
    drain(&c, &old);
    drain(&c, &fresh);
    CHECK_EQ_INT(old.r.missed, 8192 - 4096);
    CHECK_EQ_INT(fresh.r.missed, 0);
    CHECK_EQ_INT(fresh.len, 4096);
    console_detach(&c, &fresh.r);
    console_detach(&c, &old.r);
    console_fini(&c);
}

TEST(console_mode_names)
{
    enum console_mode m;
    CHECK_EQ_INT(console_mode_parse("Private", true, &m), 0);
    CHECK_EQ_INT(m, CONSOLE_PRIVATE);
    CHECK_EQ_INT(console_mode_parse("private", true, &m), -EINVAL);
    CHECK_EQ_INT(console_mode_parse("Observe", true, &m), -EINVAL);
    CHECK_EQ_INT(console_mode_parse("observe", false, &m), 0);
    CHECK_EQ_INT(m, CONSOLE_OBSERVE);
    CHECK_EQ_INT(console_mode_parse("ObserveOnly", true, &m), 0);
    CHECK_EQ_INT(console_mode_parse(NULL, false, &m), -EINVAL);
    CHECK_EQ_INT(console_mode_parse("bogus", false, &m), -EINVAL);
    CHECK_STREQ(console_mode_name(CONSOLE_OBSERVE), "ObserveOnly");
}
