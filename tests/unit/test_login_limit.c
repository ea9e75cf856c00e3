/* login_limit: failed logins per source, as a bucket that refills. */
#include "test.h"

#include "login_limit.h"

#include <stdio.h>
#include <stdlib.h>

TEST(login_limit_refuses_a_source_past_its_burst_then_refills)
{
    struct login_limit *l = malloc(sizeof(*l));
    REQUIRE(l != NULL);
    login_limit_init(l, 3, 6); /* 3 at once, one more every 10 s */
    uint32_t retry = 0;
    for (int i = 0; i < 3; i++) {
        CHECK(login_limit_allowed(l, "192.0.2.1", 1000, &retry));
        login_limit_failed(l, "192.0.2.1", 1000);
    }
    CHECK(!login_limit_allowed(l, "192.0.2.1", 1000, &retry));
    CHECK_EQ_INT(retry, 10);
    CHECK(login_limit_allowed(l, "192.0.2.2", 1000, &retry)); /* another source */
    CHECK(!login_limit_allowed(l, "192.0.2.1", 6000, &retry));
    CHECK_EQ_INT(retry, 5);
    CHECK(login_limit_allowed(l, "192.0.2.1", 11000, &retry)); /* one refilled */
    login_limit_failed(l, "192.0.2.1", 11000);
    CHECK(!login_limit_allowed(l, "192.0.2.1", 11000, &retry));
    CHECK(login_limit_allowed(l, "192.0.2.1", 1000000, &retry)); /* full again, not more */
    for (int i = 0; i < 3; i++)
        login_limit_failed(l, "192.0.2.1", 1000000);
    CHECK(!login_limit_allowed(l, "192.0.2.1", 1000000, &retry));
    free(l);
}

TEST(login_limit_off_and_bounded)
{
    struct login_limit *l = malloc(sizeof(*l));
    REQUIRE(l != NULL);
    uint32_t retry;
    login_limit_init(l, 5, 0);
    for (int i = 0; i < 100; i++)
        login_limit_failed(l, "192.0.2.9", 0);
    CHECK(login_limit_allowed(l, "192.0.2.9", 0, &retry)); /* 0 per minute: off */
    login_limit_init(l, 2, 1);
    login_limit_failed(l, "203.0.113.1", 0); /* a guesser, its bucket empty */
    login_limit_failed(l, "203.0.113.1", 0);
    char addr[32];
    for (int i = 0; i < 2 * LOGIN_LIMIT_SLOTS; i++) { /* many sources, one failure each */
        snprintf(addr, sizeof(addr), "10.0.%d.%d", i / 256, i % 256);
        login_limit_failed(l, addr, 1);
    }
    /* Fuller buckets went first: the guesser is still held back. */
    CHECK(!login_limit_allowed(l, "203.0.113.1", 1, &retry));
    free(l);
}
