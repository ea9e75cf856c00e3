/*
 * app — the daemon's state, owned by main.c and handed to every handler through
 * rf_request.app. One instance per process; no other globals hold service state.
 */
#ifndef VSC_APP_H
#define VSC_APP_H

#include "auth.h"
#include "console_ticket.h"
#include "config.h"
#include "console_state.h"
#include "db.h"
#include "history.h"
#include "events.h"
#include "login_limit.h"
#include "loop.h"
#include "port_acl.h"
#include "ports.h"
#include "sd_notify.h"
#include "send_batch.h"
#include "worker.h"

#include <time.h>

#define VSC_VERSION "0.1.0"

struct http_server;
struct history;
struct ipmi_socket;

struct vsc_app {
    struct vsc_config cfg;
    struct loop loop;
    struct send_batch sends; /* the loop's batch: sends to viewers, one call an iteration */
    struct db db;
    struct auth auth;
    struct http_server *http;
    struct worker worker;           /* password hashing off the loop */
    struct ports ports;             /* VMs and their serial ports */
    struct port_acl acl;            /* per-port access rules (port_rights.h) */
    struct console_tickets tickets; /* single-use console WebSocket tickets */
    struct console_state cstate;    /* console state rules and detection */
    struct login_limit login_limit; /* failed logins per client address */
    struct history *history;        /* console output on disk; NULL = off (history.h) */
    struct events events;           /* the Redfish event backlog and its SSE listeners */
    struct ipmi_socket *ipmi;       /* the IPMI OEM command's local socket; NULL = off */
    char uuid[37];                  /* ServiceRoot.UUID, stable across restarts */
    char started_iso[32];           /* Manager.Oem.Vsc.StartTime */
    struct loop_timer sweep;        /* session expiry */
    struct sd_notifier notify;      /* systemd: READY, WATCHDOG, RELOADING, STOPPING */
    struct loop_timer watchdog;     /* WATCHDOG=1 from the loop itself */
};

/* ISO 8601 UTC with offset ("2026-11-25T18:50:22+00:00") for a unix time. */
void app_format_time(int64_t t, char *out, size_t outsz);
/* The same for microseconds since the epoch, with six decimals. */
void app_format_time_us(int64_t us, char *out, size_t outsz);
/* Parses an RFC 3339 date-time (Z or +HH:MM offset, optional fraction) into microseconds
 * since the epoch. 0 or -EINVAL. */
int app_parse_time_us(const char *s, int64_t *out);

#endif
