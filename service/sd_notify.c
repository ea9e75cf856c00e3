#include "sd_notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Fills addr from a NOTIFY_SOCKET value: "/path" or "@abstract". */
static int parse_address(struct sd_notifier *n, const char *name)
{
    size_t len = strlen(name);
    if ((name[0] != '/' && name[0] != '@') || len < 2 || len > sizeof(n->addr.sun_path))
        return -EINVAL;
    if (name[0] == '/' && len == sizeof(n->addr.sun_path))
        return -EINVAL; /* a path needs its terminating NUL */
    n->addr = (struct sockaddr_un){.sun_family = AF_UNIX};
    memcpy(n->addr.sun_path, name, len);
    if (name[0] == '@')
        n->addr.sun_path[0] = '\0'; /* abstract: the name is the bytes after the NUL */
    n->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    return 0;
}

/* A positive decimal number that fits, else 0. */
static uint64_t parse_positive(const char *s)
{
    if (!s || *s < '0' || *s > '9')
        return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    return errno || *end ? 0 : (uint64_t)v;
}

static uint64_t watchdog_for_me(const char *usec, const char *pid)
{
    if (pid && *pid && parse_positive(pid) != (uint64_t)getpid())
        return 0; /* meant for another process (a parent that exec'd us kept it) */
    return parse_positive(usec);
}

int sd_notifier_open(struct sd_notifier *n, const char *socket_name, const char *watchdog_usec,
                     const char *watchdog_pid)
{
    *n = (struct sd_notifier){.fd = -1};
    if (!socket_name || !*socket_name)
        return 0;
    int rc = parse_address(n, socket_name);
    if (rc < 0)
        return rc;
    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (n->fd < 0)
        return -errno;
    n->watchdog_usec = watchdog_for_me(watchdog_usec, watchdog_pid);
    return 0;
}

int sd_notifier_open_env(struct sd_notifier *n)
{
    int rc = sd_notifier_open(n, getenv("NOTIFY_SOCKET"), getenv("WATCHDOG_USEC"),
                              getenv("WATCHDOG_PID"));
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    return rc;
}

void sd_notifier_close(struct sd_notifier *n)
{
    if (n->fd >= 0)
        close(n->fd);
    n->fd = -1;
    n->watchdog_usec = 0;
}

bool sd_notifier_enabled(const struct sd_notifier *n)
{
    return n->fd >= 0;
}

uint64_t sd_notifier_watchdog_ms(const struct sd_notifier *n)
{
    if (n->fd < 0 || n->watchdog_usec == 0)
        return 0;
    uint64_t ms = n->watchdog_usec / 2000;
    return ms ? ms : 1;
}

int sd_notifier_send(struct sd_notifier *n, const char *message)
{
    if (n->fd < 0)
        return 0;
    ssize_t sent = sendto(n->fd, message, strlen(message), MSG_NOSIGNAL | MSG_DONTWAIT,
                          (const struct sockaddr *)&n->addr, n->addr_len);
    return sent < 0 ? -errno : 0;
}

int sd_notifier_reloading(struct sd_notifier *n)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char msg[64];
    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
    return sd_notifier_send(n, msg);
}
