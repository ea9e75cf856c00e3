/*
 * console_ticket — short-lived, single-use tickets that open one console WebSocket.
 *
 * For clients that can set neither an X-Auth-Token header nor a subprotocol on a
 * WebSocket: a logged-in user asks for a ticket (POST .../SessionService/Oem/Vsc/
 * ConsoleTickets), then connects with ?ticket=<t> or the subprotocol vsc.ticket.<t>.
 * A ticket names one session and one port, lives CONSOLE_TICKET_TTL_MS and is gone once
 * redeemed, expired, or when its session ends; so a ticket in a URL (proxy logs,
 * browser history) is worthless by the time anyone could read it. Session tokens never
 * go in URLs.
 */
#ifndef VSC_CONSOLE_TICKET_H
#define VSC_CONSOLE_TICKET_H

#include "auth.h"
#include "secret.h"

#include <stdint.h>

#define CONSOLE_TICKET_TTL_MS 30000
#define CONSOLE_TICKET_MAX    256 /* outstanding at once; the oldest is dropped past it */

struct console_ticket {
    char ticket[SECRET_TOKEN_LEN + 1]; /* "" = free slot */
    char session_id[SESSION_ID_LEN + 1];
    int64_t port_id;
    uint64_t expires_ms;
};

struct console_tickets {
    struct console_ticket slot[CONSOLE_TICKET_MAX];
};

/* Issues a ticket for `session_id` on `port_id` into out (SECRET_TOKEN_LEN + 1). 0 or -EIO. */
int console_ticket_issue(struct console_tickets *t, const char *session_id, int64_t port_id,
                         uint64_t now_ms, char *out);

/* Redeems a ticket for `port_id`: 0 and the session id (SESSION_ID_LEN + 1), or -ENOENT
 * (unknown, used, expired, or for another port). A ticket is consumed even by a refusal
 * for another port: a guessed or leaked one is tried once at most. */
int console_ticket_redeem(struct console_tickets *t, const char *ticket, int64_t port_id,
                          uint64_t now_ms, char *session_id);

#endif
