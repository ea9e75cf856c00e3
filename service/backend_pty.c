/*
 * pty backend: vscd holds the master of a pseudo-terminal; the hypervisor opens the slave
 * through the stable symlink <ports dir>/<vm>/<n> (QEMU -serial /dev/pts/N or
 * -chardev serial,path=...; libvirt <serial type='dev'>).
 *
 * With no slave open the master reports POLLHUP at once and forever, so the master
 * leaves the epoll set and a timer probes it every PTY_PROBE_MS until a VM opens the
 * slave. A new pty is made at every vscd start (the symlink is updated); a VM bound to
 * the old one must reopen it (the unix backend survives restarts instead).
 */
#include "app.h"
#include "log.h"
#include "ports.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <termios.h>
#include <unistd.h>

#define PTY_PROBE_MS 200

struct pty_state {
    int master;
    char slave[64];
    struct loop_watch watch;
    struct loop_timer probe;
    struct port *port;
};

static void wait_for_slave(struct pty_state *s)
{
    port_watch_output(s->port, NULL);
    loop_del(s->port->registry->loop, &s->watch);
    if (s->port->state != PORT_WAITING)
        port_set_state(s->port, PORT_WAITING, NULL);
    loop_timer_arm(s->port->registry->loop, &s->probe, PTY_PROBE_MS);
}

static int on_master(struct loop_watch *w, uint32_t events)
{
    struct pty_state *s = w->data;
    struct port *p = s->port;
    /* On a hang-up too: with reading put off (port_watch_output) EPOLLIN is not reported,
     * and what the VM printed last must not be lost. */
    if (events & (EPOLLIN | EPOLLHUP)) {
        int rc = port_pump_output(p, s->master);
        if (rc < 0) { /* EIO: the last slave fd closed */
            wait_for_slave(s);
            return LOOP_OK;
        }
    }
    if (events & EPOLLOUT) {
        if (port_pump_input(p, s->master) != 0)
            loop_mod(p->registry->loop, w, EPOLLIN);
    }
    if ((events & EPOLLHUP) && !(events & EPOLLIN))
        wait_for_slave(s);
    return LOOP_OK;
}

static void on_probe(struct loop_timer *t)
{
    struct pty_state *s = t->data;
    struct pollfd pfd = {.fd = s->master, .events = POLLIN};
    if (poll(&pfd, 1, 0) >= 0 && (pfd.revents & POLLHUP)) {
        loop_timer_arm(s->port->registry->loop, t, PTY_PROBE_MS);
        return;
    }
    s->watch.events = EPOLLIN;
    if (loop_add(s->port->registry->loop, &s->watch) < 0) {
        port_set_state(s->port, PORT_DOWN, "cannot watch the pty");
        return;
    }
    port_watch_output(s->port, &s->watch);
    port_set_state(s->port, PORT_CONNECTED, NULL);
}

/* Points the symlink at the slave, atomically (rename over the old one). */
static int publish(struct port *p, const char *slave)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.new", p->bind_path);
    unlink(tmp);
    if (symlink(slave, tmp) < 0)
        return -errno;
    if (rename(tmp, p->bind_path) < 0) {
        int err = -errno;
        unlink(tmp);
        return err;
    }
    return 0;
}

static int pty_open(struct port *p)
{
    struct pty_state *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->port = p;
    s->master = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    int rc = s->master < 0 ? -errno : 0;
    if (!rc && (grantpt(s->master) < 0 || unlockpt(s->master) < 0 ||
                ptsname_r(s->master, s->slave, sizeof(s->slave)) != 0))
        rc = -errno;
    if (!rc)
        rc = port_apply_termios(p, s->master);
    if (!rc) {
        /* A pty whose slave was never opened reports no hang-up; open and close it once so
         * that the master says POLLHUP until the VM really opens it. */
        int slave = open(s->slave, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (slave < 0)
            rc = -errno;
        else
            close(slave);
    }
    if (!rc) {
        port_publish_mode(p, s->slave, 0660);
        rc = publish(p, s->slave);
    }
    if (rc < 0) {
        if (s->master >= 0)
            close(s->master);
        free(s);
        return rc;
    }
    s->watch = (struct loop_watch){.fd = s->master, .events = EPOLLIN, .cb = on_master, .data = s};
    s->probe = (struct loop_timer){.cb = on_probe, .data = s};
    p->backend = s;
    wait_for_slave(s); /* the probe finds out whether a VM has it open */
    on_probe(&s->probe);
    return 0;
}

static void pty_close(struct port *p, bool unpublish)
{
    struct pty_state *s = p->backend;
    if (!s)
        return;
    port_watch_output(p, NULL);
    loop_del(p->registry->loop, &s->watch);
    loop_timer_cancel(p->registry->loop, &s->probe);
    close(s->master);
    if (unpublish)
        unlink(p->bind_path);
    free(s);
    p->backend = NULL;
    console_set_connected(&p->console, false);
}

static bool pty_healthy(struct port *p)
{
    struct pty_state *s = p->backend;
    char target[sizeof(s->slave)];
    ssize_t n = s ? readlink(p->bind_path, target, sizeof(target) - 1) : -1;
    if (n < 0)
        return false;
    target[n] = '\0';
    return strcmp(target, s->slave) == 0;
}

static void pty_input_ready(struct port *p)
{
    struct pty_state *s = p->backend;
    if (!s || p->state != PORT_CONNECTED)
        return;
    int rc = port_pump_input(p, s->master);
    if (rc == 0)
        loop_mod(p->registry->loop, &s->watch, EPOLLIN | EPOLLOUT);
}

static int pty_apply_line(struct port *p)
{
    struct pty_state *s = p->backend;
    return s ? port_apply_termios(p, s->master) : 0;
}

const struct backend_ops backend_pty = {
    .name = "pty",
    .open = pty_open,
    .close = pty_close,
    .input_ready = pty_input_ready,
    .apply_line = pty_apply_line,
    .healthy = pty_healthy,
};
