/*
 * login_limit — a per-source limit on failed logins (on top of the per-account lockout):
 * each client address has a bucket of `burst` failures that refills at `per_minute`. While
 * a source's bucket is empty, its credential checks are refused at once (429 with
 * Retry-After) without verifying anything, so guessing costs the guesser time, not the
 * service CPU. Successful logins are not counted. Bounded: LOGIN_LIMIT_SLOTS sources are
 * tracked; when all are in use the fullest bucket (the least suspicious source) is reused.
 * Pure: the caller gives the time.
 */
#ifndef VSC_LOGIN_LIMIT_H
#define VSC_LOGIN_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define LOGIN_LIMIT_SLOTS 256
#define LOGIN_LIMIT_ADDR  64

struct login_limit_slot {
    char addr[LOGIN_LIMIT_ADDR]; /* "" = free */
    double tokens;
    uint64_t at_ms; /* when tokens was computed */
};

struct login_limit {
    double burst, per_ms;
    struct login_limit_slot slots[LOGIN_LIMIT_SLOTS];
};

/* per_minute 0 turns the limit off. */
void login_limit_init(struct login_limit *l, int64_t burst, int64_t per_minute);
/* Whether `addr` may try credentials now; if not, *retry_s says when (>= 1). */
bool login_limit_allowed(struct login_limit *l, const char *addr, uint64_t now_ms,
                         uint32_t *retry_s);
/* Counts a failed attempt from `addr`. */
void login_limit_failed(struct login_limit *l, const char *addr, uint64_t now_ms);

#endif
