/*
 * sd_notify — systemd's service notification protocol (sd_notify(3)) without libsystemd:
 * one datagram per state change ("READY=1", "STATUS=...", "WATCHDOG=1", "RELOADING=1",
 * "STOPPING=1") sent to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name"
 * for the abstract namespace). The watchdog interval comes from $WATCHDOG_USEC, for this
 * process only when $WATCHDOG_PID names it.
 *
 * Without NOTIFY_SOCKET (a terminal, the tests) the notifier is off and sending is a no-op.
 * Sending never blocks: the socket is non-blocking, and a message the manager's queue
 * cannot take now is dropped (systemd reads its socket at once; the next WATCHDOG=1
 * follows within half the interval).
 */
#ifndef VSC_SD_NOTIFY_H
#define VSC_SD_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

struct sd_notifier {
    int fd; /* -1: off */
    struct sockaddr_un addr;
    socklen_t addr_len;
    uint64_t watchdog_usec; /* 0: no watchdog for this process */
};

/*
 * Sets the notifier up from the values of NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID
 * (each may be NULL). Returns 0 (off when socket is NULL or empty), or -EINVAL for a
 * socket name that is neither an absolute path nor "@name" or does not fit, -errno if no
 * socket can be made. A WATCHDOG_USEC that is not a positive number, or a WATCHDOG_PID
 * naming another process, leaves the watchdog off.
 */
int sd_notifier_open(struct sd_notifier *n, const char *socket_name, const char *watchdog_usec,
                     const char *watchdog_pid);
/* The same from this process's environment, which it then clears of the three variables
 * (nothing vscd might start should talk to systemd in its name). */
int sd_notifier_open_env(struct sd_notifier *n);
void sd_notifier_close(struct sd_notifier *n);

bool sd_notifier_enabled(const struct sd_notifier *n);
/* Half the watchdog timeout in ms (the interval to send WATCHDOG=1 at), 0 when off. */
uint64_t sd_notifier_watchdog_ms(const struct sd_notifier *n);

/* Sends one message ("KEY=value" lines). 0, or -errno (also when off: 0). */
int sd_notifier_send(struct sd_notifier *n, const char *message);
/* "RELOADING=1" with the MONOTONIC_USEC systemd 253+ asks for. */
int sd_notifier_reloading(struct sd_notifier *n);

#endif
