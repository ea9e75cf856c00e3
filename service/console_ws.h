/*
 * console_ws — a serial console over a WebSocket on the HTTPS port
 * (GET .../SerialInterfaces/{port}/Oem/Vsc/Console with Upgrade: websocket;
 * docs/console-protocol.md).
 *
 * http.c asks console_ws_admit() whether an upgrade request may proceed (credentials,
 * Origin, port, handshake headers); it answers the Redfish error itself when not, else
 * sends 101 and hands the upgraded stream to console_ws_start(). VM output goes out as
 * binary frames, binary frames from the client are console input; the stream is bounded
 * per client (a slow client skips ahead and is told how much it missed).
 */
#ifndef VSC_CONSOLE_WS_H
#define VSC_CONSOLE_WS_H

#include "auth.h"
#include "console.h"
#include "rf.h"
#include "ws.h"

#include <stdbool.h>
#include <stdint.h>

#define CONSOLE_WS_PATTERN       "/redfish/v1/Managers/{id}/SerialInterfaces/{port}/Oem/Vsc/Console"
#define CONSOLE_WS_PROTOCOL      "vsc.v1"
#define CONSOLE_WS_TOKEN_PREFIX  "vsc.token."
#define CONSOLE_WS_TICKET_PREFIX "vsc.ticket."
#define CONSOLE_WS_MSG_MAX       (64 * 1024)  /* largest message accepted from a client */
#define CONSOLE_WS_FRAME_MAX     (16 * 1024)  /* largest output frame */
#define CONSOLE_WS_QUEUE_MAX     (256 * 1024) /* output queued per client at most */
/* Control messages (notices, announcements) may queue this far past CONSOLE_WS_QUEUE_MAX;
 * a client that lets them pile up beyond it (sending without reading) is dropped. */
#define CONSOLE_WS_CONTROL_SLACK (64 * 1024)

struct vsc_app;
struct port;

/* What http.c read from the upgrade request (any may be NULL). */
struct console_ws_request {
    const char *path;
    const char *x_auth_token;
    const char *protocols; /* Sec-WebSocket-Protocol */
    const char *origin;
    const char *host;
    const char *key;     /* Sec-WebSocket-Key */
    const char *version; /* Sec-WebSocket-Version */
    const char *history; /* ?history=N */
    const char *ticket;  /* ?ticket=T (console_ticket.h) */
    const char *client_ip;
    bool tls;
    bool connection_upgrade; /* Connection names "Upgrade" (RFC 6455 4.2.1) */
};

/* An admitted upgrade, carried from the request to the upgraded stream. */
struct console_ws_ticket {
    int64_t port_id;
    char session_id[SESSION_ID_LEN + 1];
    char user[65];
    uint64_t history;
    char client[64]; /* the client's address (audit trail) */
    char accept[WS_ACCEPT_LEN + 1];
    bool protocol_v1; /* answer Sec-WebSocket-Protocol: vsc.v1 */
};

/* True when `path` is a console WebSocket URI. */
bool console_ws_route(const char *path);

/* 0: upgrade with *t; -1: `r` holds the error (status and messages). */
int console_ws_admit(struct vsc_app *app, const struct console_ws_request *in,
                     struct console_ws_ticket *t, struct rf_response *r);

/* Starts the console stream over an upgraded connection; NULL when it could not (the
 * transport is released then). */
struct ws_conn *console_ws_start(struct vsc_app *app, const struct console_ws_ticket *t,
                                 const struct ws_transport *tr);

/* The port is going away: closes its WebSockets (1001). */
void console_ws_port_closing(struct port *p);

/* Access rules or accounts changed (by `by`): every open console connection re-reads its
 * rights; one that may no longer watch is closed (1008 "access revoked"); a mode whose
 * holder lost the right to hold it is released. */
struct ports;
void console_ws_rights_changed(struct ports *ps, const char *by);

/* The port's console connections, as Oem.Vsc.Attached entries (new reference). */
json_t *console_ws_connections(const struct port *p);

/* One connection as a ConsoleConnection body's core (new reference), or NULL. */
json_t *console_ws_connection(struct port *p, uint64_t id);

/* The user of a connection, or NULL when there is none with that Id. */
const char *console_ws_connection_user(struct port *p, uint64_t id);

/* Closes a connection (1008, "disconnected by <by>"). 0 or -ENOENT. */
int console_ws_disconnect(struct port *p, uint64_t id, const char *by);

/* The notice text for a refused mode change (console_set_mode's -EPERM / -EBUSY). */
const char *console_mode_refusal(int rc);

/* A client's text message (docs/console-protocol.md), as console_ws_control_parse()
 * read it: {"type":"ping"}, or {"type":"mode","mode":"free"|"observe"|"private",
 * "force":bool} (mode any case, "ObserveOnly" too; force optional). */
enum console_ws_control_type {
    CONSOLE_WS_CONTROL_UNKNOWN,  /* not JSON, no string "type", or a type we do not know */
    CONSOLE_WS_CONTROL_PING,     /* answered with {"type":"pong"} */
    CONSOLE_WS_CONTROL_MODE,     /* mode and force are set */
    CONSOLE_WS_CONTROL_BAD_MODE, /* a mode message with a bad mode or a non-boolean force */
};
struct console_ws_control {
    enum console_ws_control_type type;
    enum console_mode mode;
    bool force;
};

/* Parses any bytes (a text frame's payload) into *out. Pure: no state, no allocation
 * outliving the call. */
void console_ws_control_parse(const uint8_t *data, size_t len, struct console_ws_control *out);

#endif
