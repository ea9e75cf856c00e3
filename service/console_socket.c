#include "console_socket.h"

#include "app.h"
#include "log.h"
#include "port_rights.h"
#include "ports.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Per port; local clients are root's tools (vsc-console, a logger), not an audience. */
#define MAX_CLIENTS 16

struct cs_client {
    int fd;
    struct loop_watch watch;
    struct console_reader reader;
    uint64_t missed_reported;
    /* "[vsc: ...]" lines not yet written: a notice waits for room like output does. */
    char notes[1024];
    size_t notes_len;
    struct cs_listener *owner;
    struct cs_client *next;
};

struct cs_listener {
    int fd;
    char path[PATH_MAX];
    struct loop_watch watch;
    struct port *port;
    struct cs_client *clients;
    int nclients;
};

static void client_close(struct cs_client *c)
{
    struct cs_listener *l = c->owner;
    console_detach(&l->port->console, &c->reader);
    loop_del(l->port->registry->loop, &c->watch);
    close(c->fd);
    for (struct cs_client **pp = &l->clients; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    l->nclients--;
    free(c);
}

/* Writes the waiting notices: 0 all written, 1 the socket is full, -1 the client is gone. */
static int write_notes(struct cs_client *c)
{
    while (c->notes_len) {
        ssize_t w = write(c->fd, c->notes, c->notes_len);
        if (w < 0)
            return errno == EAGAIN || errno == EINTR ? 1 : -1;
        memmove(c->notes, c->notes + w, c->notes_len - (size_t)w);
        c->notes_len -= (size_t)w;
    }
    return 0;
}

/* Queues a notice for the client's stream and writes it when the socket has room (bounded:
 * a client that reads nothing at all keeps the first ones). */
static void notice(struct cs_client *c, const char *text)
{
    char line[200];
    int n = snprintf(line, sizeof(line), "\r\n[vsc: %s]\r\n", text);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    if (len > sizeof(c->notes) - c->notes_len) {
        log_debug("console socket: a notice dropped for a client that does not read");
        return;
    }
    memcpy(c->notes + c->notes_len, line, len);
    c->notes_len += len;
    if (write_notes(c) == 1)
        loop_mod(c->owner->port->registry->loop, &c->watch, EPOLLIN | EPOLLOUT);
}

/* Sends what the client has not seen yet, notices first; returns -1 when the client is
 * gone. */
static int flush_output(struct cs_client *c)
{
    struct console *con = &c->owner->port->console;
    for (;;) {
        int rc = write_notes(c);
        if (rc < 0)
            return -1;
        if (rc > 0) {
            loop_mod(c->owner->port->registry->loop, &c->watch, EPOLLIN | EPOLLOUT);
            return 0;
        }
        const uint8_t *data;
        size_t n = console_peek(con, &c->reader, &data, 65536);
        if (c->reader.missed != c->missed_reported) {
            char msg[64];
            snprintf(msg, sizeof(msg), "%llu bytes skipped",
                     (unsigned long long)(c->reader.missed - c->missed_reported));
            c->missed_reported = c->reader.missed;
            notice(c, msg); /* fits: the notices were all written */
            continue;
        }
        if (!n)
            break;
        ssize_t w = write(c->fd, data, n);
        if (w < 0) {
            if (errno == EAGAIN) {
                loop_mod(c->owner->port->registry->loop, &c->watch, EPOLLIN | EPOLLOUT);
                return 0;
            }
            return -1;
        }
        c->reader.offset += (uint64_t)w;
        if ((size_t)w < n) {
            loop_mod(c->owner->port->registry->loop, &c->watch, EPOLLIN | EPOLLOUT);
            return 0;
        }
    }
    loop_mod(c->owner->port->registry->loop, &c->watch, EPOLLIN);
    return 0;
}

static void on_output(struct console_reader *r)
{
    struct cs_client *c = r->data;
    if (flush_output(c) < 0)
        client_close(c);
}

static int read_input(struct cs_client *c)
{
    uint8_t buf[4096];
    ssize_t n = read(c->fd, buf, sizeof(buf));
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        return -1;
    if (n < 0)
        return 0;
    struct console *con = &c->owner->port->console;
    int rc = console_send_input(con, "", c->reader.rights, true, buf, (size_t)n);
    char text[160];
    if (rc < 0)
        notice(c, console_refusal_text(rc, con, text, sizeof(text)));
    return 0;
}

/* The port's mode changed: a line in the stream says so. */
static void on_mode(struct console_reader *r)
{
    struct cs_client *c = r->data;
    const struct console *con = &c->owner->port->console;
    char text[200];
    if (con->mode == CONSOLE_FREE)
        snprintf(text, sizeof(text), "port is in free use (by '%s'%s)", con->changed_by,
                 con->forced ? ", forced" : "");
    else
        snprintf(text, sizeof(text), "port is %s by '%s'%s", console_mode_name(con->mode),
                 con->holder, con->mode == CONSOLE_PRIVATE ? "; output is hidden" : "");
    notice(c, text);
}

static int on_client(struct loop_watch *w, uint32_t events)
{
    struct cs_client *c = w->data;
    if ((events & EPOLLOUT) && flush_output(c) < 0) {
        client_close(c);
        return LOOP_OK;
    }
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && read_input(c) < 0)
        client_close(c);
    return LOOP_OK;
}

/* Tells a client it was not taken before closing it, so that it does not look like a
 * console with nothing to say; its socket buffer is empty, the line fits. */
static void refuse_client(int fd, const char *why)
{
    char line[160];
    int n = snprintf(line, sizeof(line), "[vsc: %s]\r\n", why);
    if (n > 0 && send(fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        log_debug("console socket: refusal not sent: %s", strerror(errno));
    close(fd);
}

static int on_accept(struct loop_watch *w, uint32_t events)
{
    (void)events;
    struct cs_listener *l = w->data;
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return LOOP_OK;
    if (l->nclients >= MAX_CLIENTS) {
        char why[64];
        snprintf(why, sizeof(why), "local console full: %d clients on this port", MAX_CLIENTS);
        refuse_client(fd, why);
        return LOOP_OK;
    }
    struct cs_client *c = calloc(1, sizeof(*c));
    if (!c) {
        refuse_client(fd, "out of memory");
        return LOOP_OK;
    }
    c->fd = fd;
    c->owner = l;
    c->watch = (struct loop_watch){.fd = fd, .events = EPOLLIN, .cb = on_client, .data = c};
    /* Root on the host: watches and types in free use, never holds a mode, and sees no
     * private output (docs/console-protocol.md, "The local socket"). */
    c->reader = (struct console_reader){.notify = on_output,
                                        .mode = on_mode,
                                        .data = c,
                                        .rights = PORT_RIGHT_WATCH | PORT_RIGHT_CONTROL,
                                        .local = true};
    if (loop_add(l->port->registry->loop, &c->watch) < 0) {
        close(fd);
        free(c);
        return LOOP_OK;
    }
    console_attach(&l->port->console, &c->reader, 0);
    c->next = l->clients;
    l->clients = c;
    l->nclients++;
    return LOOP_OK;
}

int console_socket_open(struct port *p)
{
    struct cs_listener *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->port = p;
    char dir[PATH_MAX - 32];
    snprintf(dir, sizeof(dir), "%s/consoles", p->registry->app->cfg.state_dir);
    mkdir(dir, 0700);
    snprintf(l->path, sizeof(l->path), "%s/%lld.sock", dir, (long long)p->id);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int rc = 0;
    if (strlen(l->path) >= sizeof(sa.sun_path))
        rc = -ENAMETOOLONG;
    l->fd = rc ? -1 : socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (!rc && l->fd < 0)
        rc = -errno;
    if (!rc) {
        strcpy(sa.sun_path, l->path);
        unlink(l->path);
        if (bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l->fd, MAX_CLIENTS) < 0)
            rc = -errno;
    }
    if (!rc) {
        chmod(l->path, 0600);
        l->watch = (struct loop_watch){.fd = l->fd, .events = EPOLLIN, .cb = on_accept, .data = l};
        rc = loop_add(p->registry->loop, &l->watch);
    }
    if (rc < 0) {
        if (l->fd >= 0)
            close(l->fd);
        free(l);
        return rc;
    }
    p->console_socket = l;
    return 0;
}

void console_socket_close(struct port *p)
{
    struct cs_listener *l = p->console_socket;
    if (!l)
        return;
    while (l->clients)
        client_close(l->clients);
    loop_del(p->registry->loop, &l->watch);
    close(l->fd);
    unlink(l->path);
    free(l);
    p->console_socket = NULL;
}
