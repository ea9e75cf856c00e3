/*
 * conn_limit — client connections open at once, in all and per client address
 * (`max_connections`, `max_connections_per_ip`). libmicrohttpd counts only the connections
 * it serves; once a console WebSocket takes its socket over, http.c lets libmicrohttpd's
 * connection go (its 32 KiB memory pool with it) and the WebSocket is counted here
 * instead, so the limits still bound every socket a client holds. Addresses are text
 * (inet_ntop's); an address is tracked while it has a connection open.
 */
#ifndef VSC_CONN_LIMIT_H
#define VSC_CONN_LIMIT_H

#include <stdbool.h>

#define CONN_LIMIT_BUCKETS 256
#define CONN_LIMIT_ADDR    64

struct conn_limit_addr {
    char addr[CONN_LIMIT_ADDR];
    unsigned open;
    struct conn_limit_addr *next;
};

struct conn_limit {
    unsigned max_total, max_per_addr, total;
    struct conn_limit_addr *buckets[CONN_LIMIT_BUCKETS];
};

void conn_limit_init(struct conn_limit *l, unsigned max_total, unsigned max_per_addr);
/* Forgets every address (the connections are gone). */
void conn_limit_fini(struct conn_limit *l);
/* Whether one more connection from `addr` stays within both limits. */
bool conn_limit_admits(const struct conn_limit *l, const char *addr);
/* Counts a connection from `addr` (whether or not it was admitted: a WebSocket taking over
 * a counted connection is counted before that one is let go). NULL only without memory;
 * then nothing is counted. */
struct conn_limit_addr *conn_limit_open(struct conn_limit *l, const char *addr);
/* Uncounts a connection conn_limit_open() counted; NULL is ignored. */
void conn_limit_close(struct conn_limit *l, struct conn_limit_addr *a);

#endif
