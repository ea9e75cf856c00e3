/* conn_limit: connections open at once, in all and per client address. */
#include "test.h"

#include "conn_limit.h"

#include <stdio.h>
#include <stdlib.h>

TEST(conn_limit_bounds_each_address_and_the_total)
{
    struct conn_limit *l = malloc(sizeof(*l));
    REQUIRE(l != NULL);
    conn_limit_init(l, 5, 2);
    struct conn_limit_addr *a1 = conn_limit_open(l, "192.0.2.1");
    struct conn_limit_addr *a2 = conn_limit_open(l, "192.0.2.1");
    REQUIRE(a1 != NULL && a1 == a2);
    CHECK(!conn_limit_admits(l, "192.0.2.1")); /* its two are open */
    CHECK(conn_limit_admits(l, "192.0.2.2"));
    struct conn_limit_addr *b = conn_limit_open(l, "192.0.2.2");
    struct conn_limit_addr *c = conn_limit_open(l, "2001:db8::1");
    struct conn_limit_addr *d = conn_limit_open(l, "198.51.100.7");
    REQUIRE(b && c && d);
    CHECK_EQ_INT(l->total, 5);
    CHECK(!conn_limit_admits(l, "203.0.113.9")); /* the total is reached */
    conn_limit_close(l, d);
    CHECK(conn_limit_admits(l, "203.0.113.9"));
    conn_limit_close(l, a1);
    CHECK(conn_limit_admits(l, "192.0.2.1"));
    CHECK_EQ_INT(a2->open, 1);
    conn_limit_close(l, a2);
    conn_limit_close(l, NULL);
    CHECK_EQ_INT(l->total, 2);
    conn_limit_fini(l);
    CHECK_EQ_INT(l->total, 0);
    free(l);
}

TEST(conn_limit_counts_past_the_limit_what_takes_over_a_counted_connection)
{
    struct conn_limit *l = malloc(sizeof(*l));
    REQUIRE(l != NULL);
    conn_limit_init(l, 4, 1);
    struct conn_limit_addr *http = conn_limit_open(l, "192.0.2.1");
    struct conn_limit_addr *ws = conn_limit_open(l, "192.0.2.1"); /* before http lets go */
    REQUIRE(http && ws);
    CHECK_EQ_INT(ws->open, 2);
    conn_limit_close(l, http);
    CHECK(!conn_limit_admits(l, "192.0.2.1")); /* the WebSocket still counts */
    conn_limit_close(l, ws);
    CHECK(conn_limit_admits(l, "192.0.2.1"));
    CHECK_EQ_INT(l->total, 0);
    conn_limit_fini(l);
    free(l);
}

TEST(conn_limit_forgets_an_address_with_nothing_open)
{
    struct conn_limit *l = malloc(sizeof(*l));
    REQUIRE(l != NULL);
    conn_limit_init(l, 100000, 100000);
    char addr[32];
    for (int round = 0; round < 2; round++) {
        struct conn_limit_addr *open[600];
        for (int i = 0; i < 600; i++) { /* more addresses than buckets: chains */
            snprintf(addr, sizeof(addr), "10.0.%d.%d", i / 256, i % 256);
            open[i] = conn_limit_open(l, addr);
            REQUIRE(open[i] != NULL);
        }
        CHECK_EQ_INT(l->total, 600);
        for (int i = 599; i >= 0; i -= 2) /* out of order */
            conn_limit_close(l, open[i]);
        for (int i = 0; i < 600; i += 2)
            conn_limit_close(l, open[i]);
        CHECK_EQ_INT(l->total, 0);
        size_t left = 0;
        for (size_t b = 0; b < CONN_LIMIT_BUCKETS; b++)
            left += l->buckets[b] != NULL;
        CHECK_EQ_INT(left, 0);
    }
    conn_limit_fini(l);
    free(l);
}
