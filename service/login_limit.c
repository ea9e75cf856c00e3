#include "login_limit.h"

#include <stdio.h>
#include <string.h>

void login_limit_init(struct login_limit *l, int64_t burst, int64_t per_minute)
{
    memset(l, 0, sizeof(*l));
    l->burst = (double)burst;
    l->per_ms = (double)per_minute / 60000.0;
}

static void refill(const struct login_limit *l, struct login_limit_slot *s, uint64_t now_ms)
{
    if (now_ms > s->at_ms)
        s->tokens += (double)(now_ms - s->at_ms) * l->per_ms;
    if (s->tokens > l->burst)
        s->tokens = l->burst;
    s->at_ms = now_ms;
}

/* The source's slot; with `create`, a new or reused one (a full bucket). */
static struct login_limit_slot *slot_of(struct login_limit *l, const char *addr, uint64_t now_ms,
                                        bool create)
{
    struct login_limit_slot *fullest = NULL, *free_slot = NULL;
    for (size_t i = 0; i < LOGIN_LIMIT_SLOTS; i++) {
        struct login_limit_slot *s = &l->slots[i];
        if (!s->addr[0]) {
            free_slot = free_slot ? free_slot : s;
            continue;
        }
        if (strncmp(s->addr, addr, LOGIN_LIMIT_ADDR - 1) == 0)
            return s;
        refill(l, s, now_ms);
        if (!fullest || s->tokens > fullest->tokens)
            fullest = s;
    }
    if (!create)
        return NULL;
    struct login_limit_slot *s = free_slot ? free_slot : fullest;
    snprintf(s->addr, sizeof(s->addr), "%s", addr);
    s->tokens = l->burst;
    s->at_ms = now_ms;
    return s;
}

bool login_limit_allowed(struct login_limit *l, const char *addr, uint64_t now_ms,
                         uint32_t *retry_s)
{
    if (l->per_ms <= 0 || !addr)
        return true;
    struct login_limit_slot *s = slot_of(l, addr, now_ms, false);
    if (!s)
        return true;
    refill(l, s, now_ms);
    if (s->tokens >= 1)
        return true;
    double wait_ms = (1 - s->tokens) / l->per_ms;
    *retry_s = (uint32_t)((wait_ms + 999.0) / 1000.0); /* whole seconds, rounded up */
    if (*retry_s < 1)
        *retry_s = 1;
    return false;
}

void login_limit_failed(struct login_limit *l, const char *addr, uint64_t now_ms)
{
    if (l->per_ms <= 0 || !addr)
        return;
    struct login_limit_slot *s = slot_of(l, addr, now_ms, true);
    refill(l, s, now_ms);
    s->tokens = s->tokens >= 1 ? s->tokens - 1 : 0;
}
