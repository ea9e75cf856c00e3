/*
 * unix backend: vscd listens on a Unix socket at <ports dir>/<vm>/<n>; QEMU connects as
 * the client (-chardev socket,path=...,reconnect=1) and reconnects by itself when vscd
 * restarts, so VM consoles survive a vscd restart. One VM connection at a time: a second
 * client is refused (closed at once) and logged.
 */
#include "app.h"
#include "log.h"
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

struct unix_state {
    int listen_fd, conn_fd;
    dev_t dev; /* the published socket file, to notice it was removed or replaced */
    ino_t ino;
    struct loop_watch listen_watch, conn_watch;
    struct port *port;
};

static void drop_connection(struct unix_state *s)
{
    if (s->conn_fd < 0)
        return;
    port_watch_output(s->port, NULL);
    loop_del(s->port->registry->loop, &s->conn_watch);
    close(s->conn_fd);
    s->conn_fd = -1;
    port_set_state(s->port, PORT_WAITING, NULL);
}

static int on_conn(struct loop_watch *w, uint32_t events)
{
    struct unix_state *s = w->data;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        if (port_pump_output(s->port, s->conn_fd) < 0) {
            drop_connection(s);
            return LOOP_OK;
        }
    }
    if (events & EPOLLOUT) {
        int rc = port_pump_input(s->port, s->conn_fd);
        if (rc < 0)
            drop_connection(s);
        else if (rc == 1)
            loop_mod(s->port->registry->loop, w, EPOLLIN);
    }
    return LOOP_OK;
}

static int on_listen(struct loop_watch *w, uint32_t events)
{
    (void)events;
    struct unix_state *s = w->data;
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return LOOP_OK;
    if (s->conn_fd >= 0) {
        log_warn("port %lld: a second VM-side connection refused", (long long)s->port->id);
        close(fd);
        return LOOP_OK;
    }
    s->conn_fd = fd;
    s->conn_watch = (struct loop_watch){.fd = fd, .events = EPOLLIN, .cb = on_conn, .data = s};
    if (loop_add(s->port->registry->loop, &s->conn_watch) < 0) {
        close(fd);
        s->conn_fd = -1;
        return LOOP_OK;
    }
    port_watch_output(s->port, &s->conn_watch);
    port_set_state(s->port, PORT_CONNECTED, NULL);
    return LOOP_OK;
}

static int listen_at(struct port *p, int *out)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(p->bind_path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, p->bind_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (lstat(p->bind_path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(p->bind_path); /* ours, from before a restart: QEMU reconnects to the new one */
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    port_publish_mode(p, p->bind_path, 0660);
    *out = fd;
    return 0;
}

static bool unix_healthy(struct port *p)
{
    struct unix_state *s = p->backend;
    struct stat st;
    return s && lstat(p->bind_path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino;
}

static int unix_open(struct port *p)
{
    struct unix_state *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->port = p;
    s->conn_fd = -1;
    int rc = listen_at(p, &s->listen_fd);
    if (rc < 0) {
        free(s);
        return rc;
    }
    struct stat st;
    if (lstat(p->bind_path, &st) == 0) {
        s->dev = st.st_dev;
        s->ino = st.st_ino;
    }
    s->listen_watch =
        (struct loop_watch){.fd = s->listen_fd, .events = EPOLLIN, .cb = on_listen, .data = s};
    rc = loop_add(p->registry->loop, &s->listen_watch);
    if (rc < 0) {
        close(s->listen_fd);
        unlink(p->bind_path);
        free(s);
        return rc;
    }
    p->backend = s;
    port_set_state(p, PORT_WAITING, NULL);
    return 0;
}

static void unix_close(struct port *p, bool unpublish)
{
    struct unix_state *s = p->backend;
    if (!s)
        return;
    if (s->conn_fd >= 0) {
        port_watch_output(p, NULL);
        loop_del(p->registry->loop, &s->conn_watch);
        close(s->conn_fd);
    }
    loop_del(p->registry->loop, &s->listen_watch);
    close(s->listen_fd);
    if (unpublish)
        unlink(p->bind_path);
    free(s);
    p->backend = NULL;
    console_set_connected(&p->console, false);
}

static void unix_input_ready(struct port *p)
{
    struct unix_state *s = p->backend;
    if (!s || s->conn_fd < 0)
        return;
    int rc = port_pump_input(p, s->conn_fd);
    if (rc == 0)
        loop_mod(p->registry->loop, &s->conn_watch, EPOLLIN | EPOLLOUT);
    else if (rc < 0)
        drop_connection(s);
}

const struct backend_ops backend_unix = {
    .name = "unix",
    .open = unix_open,
    .close = unix_close,
    .input_ready = unix_input_ready,
    .apply_line = NULL, /* a socket has no line settings: recorded only */
    .healthy = unix_healthy,
};
