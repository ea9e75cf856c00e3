#include "console_ticket.h"

#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>

/* A free or expired slot, else the one closest to expiry. */
static struct console_ticket *slot_for_new(struct console_tickets *t, uint64_t now_ms)
{
    struct console_ticket *oldest = &t->slot[0];
    for (size_t i = 0; i < CONSOLE_TICKET_MAX; i++) {
        struct console_ticket *s = &t->slot[i];
        if (!s->ticket[0] || s->expires_ms <= now_ms)
            return s;
        if (s->expires_ms < oldest->expires_ms)
            oldest = s;
    }
    return oldest;
}

int console_ticket_issue(struct console_tickets *t, const char *session_id, int64_t port_id,
                         uint64_t now_ms, char *out)
{
    struct console_ticket *s = slot_for_new(t, now_ms);
    if (secret_token(s->ticket, sizeof(s->ticket)) < 0) {
        memset(s, 0, sizeof(*s));
        return -EIO;
    }
    snprintf(s->session_id, sizeof(s->session_id), "%s", session_id);
    s->port_id = port_id;
    s->expires_ms = now_ms + CONSOLE_TICKET_TTL_MS;
    memcpy(out, s->ticket, sizeof(s->ticket));
    return 0;
}

int console_ticket_redeem(struct console_tickets *t, const char *ticket, int64_t port_id,
                          uint64_t now_ms, char *session_id)
{
    if (!ticket || strlen(ticket) != SECRET_TOKEN_LEN)
        return -ENOENT;
    for (size_t i = 0; i < CONSOLE_TICKET_MAX; i++) {
        struct console_ticket *s = &t->slot[i];
        if (!s->ticket[0] || !secret_equal(s->ticket, SECRET_TOKEN_LEN, ticket, SECRET_TOKEN_LEN))
            continue;
        bool valid = s->expires_ms > now_ms && s->port_id == port_id;
        if (valid)
            memcpy(session_id, s->session_id, sizeof(s->session_id));
        explicit_bzero(s, sizeof(*s)); /* single use, whatever the outcome */
        return valid ? 0 : -ENOENT;
    }
    return -ENOENT;
}
