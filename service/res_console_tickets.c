/*
 * POST /redfish/v1/SessionService/Oem/Vsc/ConsoleTickets: a single-use ticket that opens
 * one console WebSocket (console_ticket.h says why and for whom). The caller must be
 * logged in with a session (the ticket's WebSocket lives and dies with it) and may watch
 * the port. The privilege registry's SessionCollection entity: a ticket is a short-lived
 * stand-in for the session's own token, and every role may create one (Login).
 */
#include "app.h"
#include "base_registry.h"
#include "console_ticket.h"
#include "console_ws.h"
#include "jsonbody.h"
#include "port_rights.h"
#include "resources.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TICKETS_URI "/redfish/v1/SessionService/Oem/Vsc/ConsoleTickets"

static const struct jb_field ticket_fields[] = {
    {"SerialInterface", JB_STRING, JB_REQUIRED, 1, 20},
};

static void create_ticket(struct rf_request *req, struct rf_response *r)
{
    struct jb_value v[1];
    if (jb_read(req->body, ticket_fields, 1, v, NULL, r) < 0)
        return;
    if (!req->who.session) {
        rf_error(r, 401, msg_no_valid_session()); /* Basic: log in first */
        return;
    }
    const char *id = v[0].s;
    struct port *p =
        rf_canonical_id(id) ? ports_find(&req->app->ports, strtoll(id, NULL, 10)) : NULL;
    if (!p) {
        rf_not_found(r, "SerialInterface", id);
        return;
    }
    if (!(port_rights(req->app, p->id, req->who.user, req->who.role) & PORT_RIGHT_WATCH)) {
        rf_error(r, 403, msg_insufficient_privilege());
        return;
    }
    char ticket[SECRET_TOKEN_LEN + 1], uri[256];
    if (console_ticket_issue(&req->app->tickets, req->who.session->id, p->id, loop_now_ms(),
                             ticket) < 0) {
        rf_error(r, 500, msg_internal_error());
        return;
    }
    rf_port_uri(p, uri, sizeof(uri));
    char console[sizeof(uri) + sizeof(ticket) + 32];
    snprintf(console, sizeof(console), "%s/Oem/Vsc/Console?ticket=%s", uri, ticket);
    rf_reply(r, 200,
             json_pack("{s:s, s:s, s:o, s:s, s:i}", "@odata.type", "#Vsc.v1_0_0.ConsoleTicket",
                       "Ticket", ticket, "SerialInterface", rf_link(uri), "ConsoleURI", console,
                       "ExpiresInSeconds", CONSOLE_TICKET_TTL_MS / 1000));
    explicit_bzero(ticket, sizeof(ticket));
}

static const struct route routes[] = {
    {TICKETS_URI, HTTP_POST, create_ticket, PRIV_LOGIN, 0, "SessionCollection"},
};
ROUTE_TABLE(console_ticket_routes, routes);
