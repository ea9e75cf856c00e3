/*
 * usb-gadget backend: each VM gets a USB composite gadget of its own (gadget/gadget.h has
 * the policy), one CDC-ACM function per port. vscd holds the BMC side, /dev/ttyGS<n>; the
 * host sees /dev/ttyACM devices and the hypervisor binds their stable names
 * /dev/serial/by-id/usb-vsc_..-if<NN>, which become the ports' bind_path.
 *
 * - A VM's ports are made together and the gadget is bound once. An allocation opens the
 *   ports one by one before they are in the registry (none of them is listed yet): each open
 *   adds its function to the unbound gadget, and a 0 ms timer binds it after the
 *   allocation's callback returned (port 1 checks that a UDC is left for it once the
 *   binds still pending took theirs). At start (and when a port is re-enabled or re-created),
 *   the registry knows the VM's port count: a gadget left bound by the previous vscd with
 *   that port is used as it is (files read only); otherwise it is made whole and bound,
 *   the VM's other ports closing their ttys first (u_serial's rmdir waits for them).
 * - Gadget failures (no free UDC, the 9th u_serial port) fail open() with -errno and the
 *   clear reason in p->error. A tty that cannot be opened (no /dev/ttyGS<n>) leaves the
 *   port Down with the reason but keeps the gadget and the mapping (open() returns 0).
 * - Connected means the tty is open and the UDC's state is "configured" (the host has
 *   enumerated the gadget); else Waiting. A host disconnect hangs the tty up: it is reopened
 *   on the next tick (every GADGET_TICK_MS, which also follows the UDC state).
 * - close(unpublish=true) removes the VM's gadget once the VM has no port left;
 *   close(false) (vscd stopping, a port disabled) leaves it bound: the host keeps its devices.
 *
 * Settings (environment for now): VSC_CONFIGFS (default /sys/kernel/config),
 * VSC_UDC_DIR (default /sys/class/udc) and, for tests, VSC_TTY_DIR (default /dev: where
 * ttyGS<n> are looked for, so a test can put a pty there).
 */
#include "gadget.h"
#include "log.h"
#include "ports.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <termios.h>
#include <unistd.h>

#define GADGET_TICK_MS 1000

struct usb_vm;

struct usb_port {
    struct port *port;
    struct usb_vm *vm;
    struct gadget_port info;
    int fd; /* /dev/ttyGS<n>, or -1 */
    struct loop_watch watch;
};

/* A VM with at least one open port. */
struct usb_vm {
    struct vm *vm;
    struct ports *registry;
    struct usb_port *ports[GADGET_MAX_PORTS]; /* by idx - 1 */
    int open_count;
    struct loop_timer bind; /* after an allocation added ports: bind once */
    struct loop_timer tick; /* UDC state, reopening hung-up ttys */
    struct usb_vm *next;
};

static struct usb_vm *usb_vms;

static struct gadget_where where(void)
{
    const char *configfs = getenv("VSC_CONFIGFS"), *udc_dir = getenv("VSC_UDC_DIR");
    return (struct gadget_where){
        .configfs = configfs && *configfs ? configfs : "/sys/kernel/config",
        .udc_dir = udc_dir && *udc_dir ? udc_dir : "/sys/class/udc",
    };
}

/* ---- the tty --------------------------------------------------------------------------------- */

/* /dev/ttyGS<n>, or <VSC_TTY_DIR>/ttyGS<n>. */
static void tty_path(const struct gadget_port *gp, char *out, size_t outsz)
{
    const char *dir = getenv("VSC_TTY_DIR");
    if (dir && *dir)
        snprintf(out, outsz, "%s/ttyGS%d", dir, gp->port_num);
    else
        snprintf(out, outsz, "%s", gp->tty);
}

/* Connected when the host has configured the gadget (or the UDC does not say). */
static enum port_state host_state(const char *vm_name)
{
    struct gadget_where at = where();
    char udc[128], path[4096], state[64] = "";
    gadget_bound_udc(&at, vm_name, udc, sizeof(udc));
    if (!udc[0])
        return PORT_WAITING;
    snprintf(path, sizeof(path), "%s/%s/state", at.udc_dir, udc);
    FILE *f = fopen(path, "re");
    if (!f)
        return PORT_CONNECTED;
    if (!fgets(state, sizeof(state), f))
        state[0] = '\0';
    fclose(f);
    state[strcspn(state, "\n")] = '\0';
    return strcmp(state, "configured") == 0 ? PORT_CONNECTED : PORT_WAITING;
}

static void follow_host(struct usb_port *u)
{
    enum port_state want = host_state(u->port->vm->name);
    if (u->port->state != want)
        port_set_state(u->port, want, NULL);
}

static void close_tty(struct usb_port *u)
{
    if (u->fd < 0)
        return;
    port_watch_output(u->port, NULL);
    loop_del(u->port->registry->loop, &u->watch);
    close(u->fd);
    u->fd = -1;
}

/* The host went away (u_serial hung the tty up): reopen on the next tick. */
static void hung_up(struct usb_port *u)
{
    close_tty(u);
    port_set_state(u->port, PORT_WAITING, NULL);
}

static int on_tty(struct loop_watch *w, uint32_t events)
{
    struct usb_port *u = w->data;
    struct port *p = u->port;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        if (port_pump_output(p, u->fd) < 0) {
            hung_up(u);
            return LOOP_OK;
        }
    }
    if (events & EPOLLOUT) {
        int rc = port_pump_input(p, u->fd);
        if (rc < 0)
            hung_up(u);
        else if (rc == 1)
            loop_mod(p->registry->loop, w, EPOLLIN);
    }
    return LOOP_OK;
}

/* Opens and watches the port's tty; a failure leaves the port Down with the reason. */
static int open_tty(struct usb_port *u)
{
    struct port *p = u->port;
    char msg[128], tty[PATH_MAX];
    tty_path(&u->info, tty, sizeof(tty));
    int fd = open(tty, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    int rc = fd < 0 ? -errno : port_apply_termios(p, fd);
    if (rc == 0) {
        u->fd = fd;
        u->watch = (struct loop_watch){.fd = fd, .events = EPOLLIN, .cb = on_tty, .data = u};
        rc = loop_add(p->registry->loop, &u->watch);
        if (rc < 0)
            u->fd = -1;
        else
            port_watch_output(p, &u->watch);
    }
    if (rc < 0) {
        if (fd >= 0)
            close(fd);
        snprintf(msg, sizeof(msg), "cannot open %.80s: %s", tty, strerror(-rc));
        port_set_state(p, PORT_DOWN, msg);
        return rc;
    }
    follow_host(u);
    return 0;
}

/* ---- the VM's gadget ------------------------------------------------------------------------- */

static void on_tick(struct loop_timer *t)
{
    struct usb_vm *v = t->data;
    for (int i = 0; i < GADGET_MAX_PORTS; i++) {
        struct usb_port *u = v->ports[i];
        if (!u || u->port->state == PORT_DOWN)
            continue; /* Down: ports.c re-creates the backend */
        if (u->fd < 0)
            open_tty(u);
        else
            follow_host(u);
    }
    loop_timer_arm(v->registry->loop, &v->tick, GADGET_TICK_MS);
}

/* After an allocation added the VM's ports to its unbound gadget. */
static void on_bind(struct loop_timer *t)
{
    struct usb_vm *v = t->data;
    struct gadget_where at = where();
    char udc[128], err[128] = "";
    int rc = gadget_bind(&at, v->vm->name, udc, sizeof(udc), err, sizeof(err));
    if (rc < 0)
        log_error("VM '%s': %s", v->vm->name, err);
    else
        log_info("VM '%s': USB gadget bound to %s", v->vm->name, udc);
    for (int i = 0; i < GADGET_MAX_PORTS; i++) {
        struct usb_port *u = v->ports[i];
        if (u && rc < 0)
            port_set_state(u->port, PORT_DOWN, err);
        else if (u && u->fd >= 0)
            follow_host(u);
    }
}

static struct usb_vm *find_vm(const struct vm *vm)
{
    for (struct usb_vm *v = usb_vms; v; v = v->next) {
        if (v->vm == vm)
            return v;
    }
    return NULL;
}

static struct usb_vm *add_vm(struct port *p)
{
    struct usb_vm *v = find_vm(p->vm);
    if (v)
        return v;
    v = calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    v->vm = p->vm;
    v->registry = p->registry;
    v->bind = (struct loop_timer){.cb = on_bind, .data = v};
    v->tick = (struct loop_timer){.cb = on_tick, .data = v};
    loop_timer_arm(v->registry->loop, &v->tick, GADGET_TICK_MS);
    v->next = usb_vms;
    usb_vms = v;
    return v;
}

/* Forgets a VM that has no open port left. */
static void drop_vm_if_idle(struct usb_vm *v)
{
    if (v->open_count)
        return;
    loop_timer_cancel(v->registry->loop, &v->bind);
    loop_timer_cancel(v->registry->loop, &v->tick);
    for (struct usb_vm **pv = &usb_vms; *pv; pv = &(*pv)->next) {
        if (*pv == v) {
            *pv = v->next;
            break;
        }
    }
    free(v);
}

/* The highest port number of the VM in the registry (0 while an allocation is under way:
 * its ports join the registry after they are all open). Ports freed one by one leave
 * gaps, so this, not ports_count(), is how many functions the gadget has. */
static int registered_span(const struct ports *registry, const struct vm *vm)
{
    int span = 0;
    for (const struct port *q = registry->ports; q; q = q->next) {
        if (q->vm == vm && q->idx > span)
            span = q->idx;
    }
    return span;
}

/*
 * VMs other than `self` whose allocation made an unbound gadget that the bind timer has
 * not bound yet: each will take a free UDC. Allocations handled in one pass of the loop
 * (several requests in one MHD_run) all come before any of those binds, so a UDC check
 * must count them.
 */
static int binds_pending(const struct usb_vm *self)
{
    int n = 0;
    for (const struct usb_vm *v = usb_vms; v; v = v->next)
        n += v != self && v->bind.armed;
    return n;
}

/*
 * Closes the ttys the VM's open ports hold: the kernel's rmdir of an ACM function waits
 * until its tty is closed (u_serial's gserial_free_line), and making a gadget whole may
 * remove functions (a gadget that differs, or one that then fails to bind): vscd would
 * wait for itself. A port not Down reopens its tty on its next tick.
 */
static void close_vm_ttys(struct usb_vm *v)
{
    for (int i = 0; i < GADGET_MAX_PORTS; i++) {
        struct usb_port *u = v->ports[i];
        if (u && u->fd >= 0) {
            close_tty(u);
            if (u->port->state != PORT_DOWN)
                port_set_state(u->port, PORT_WAITING, NULL);
        }
    }
}

/* Makes (or finds) the gadget function of port p; 0 or -errno with the reason in err. */
static int gadget_port_for(struct port *p, struct usb_vm *v, struct gadget_port *out, char *err,
                           size_t errsz)
{
    struct gadget_where at = where();
    const struct vm *vm = p->vm;
    int index = p->idx - 1;
    char udc[128];
    if (gadget_lookup_port(&at, vm->name, vm->uuid, index, out) == 0)
        return 0; /* bound, with this port: the previous vscd's, or a sibling port made it */
    int count = registered_span(p->registry, vm);
    if (count > 0) {
        /* The registry knows the VM: make its gadget whole (kept if it already is). */
        struct gadget_info info;
        int rc = gadget_pick_udc(&at, vm->name, binds_pending(v), udc, sizeof(udc), err, errsz);
        if (rc == 0) {
            close_vm_ttys(v);
            rc = gadget_create(&at, vm->name, vm->uuid, count, &info, err, errsz);
        }
        if (rc == 0 && index >= info.count) {
            snprintf(err, errsz, "port %d is not in the VM's USB gadget", p->idx);
            rc = -ENOENT;
        }
        if (rc == 0)
            *out = info.ports[index];
        return rc;
    }
    /* An allocation: its ports come one by one, in order; the gadget is bound afterwards,
     * so a free UDC must be left for it once the binds already pending took theirs. */
    if (p->idx == 1 && v->open_count == 0) {
        int rc = gadget_destroy(&at, vm->name, err, errsz); /* a crash's leftover */
        if (rc >= 0)
            rc = gadget_pick_udc(&at, vm->name, binds_pending(v), udc, sizeof(udc), err, errsz);
        if (rc < 0)
            return rc;
    }
    int rc = gadget_add_port(&at, vm->name, vm->uuid, index, out, err, errsz);
    if (rc == 0)
        loop_timer_arm(p->registry->loop, &v->bind, 0);
    return rc;
}

/* Whether a gadget's VM is active (or is the one being allocated). */
static int vm_active(const char *vm_name, void *ctx)
{
    const struct port *p = ctx;
    if (strcmp(vm_name, p->vm->name) == 0)
        return 1;
    for (const struct vm *vm = p->registry->vms; vm; vm = vm->next) {
        if (strcmp(vm->name, vm_name) == 0)
            return 1;
    }
    return 0;
}

/* Once per process, before the first gadget is touched: the database is the truth, so
 * gadgets of VMs it no longer has (a crash between freeing a VM and removing its gadget)
 * go, with the UDCs and u_serial ports they hold. */
static void sweep_once(struct port *p)
{
    static bool swept;
    if (swept)
        return;
    swept = true;
    struct gadget_where at = where();
    int n = gadget_sweep(&at, vm_active, p);
    if (n > 0)
        log_info("removed %d USB gadget(s) of VMs that have no ports", n);
}

/* ---- backend_ops ----------------------------------------------------------------------------- */

static int usb_open(struct port *p)
{
    char err[256] = "";
    int index = p->idx - 1;
    if (index < 0 || index >= GADGET_MAX_PORTS) {
        port_set_state(p, PORT_DOWN, "the kernel allows at most 8 USB serial ports");
        return -EBUSY;
    }
    sweep_once(p);
    int rc = gadget_host_path(p->vm->name, p->vm->uuid, index, p->bind_path, sizeof(p->bind_path));
    struct usb_vm *v = rc == 0 ? add_vm(p) : NULL;
    struct usb_port *u = v ? calloc(1, sizeof(*u)) : NULL;
    if (!u) {
        if (v)
            drop_vm_if_idle(v);
        return rc < 0 ? rc : -ENOMEM;
    }
    u->port = p;
    u->vm = v;
    u->fd = -1;
    rc = gadget_port_for(p, v, &u->info, err, sizeof(err));
    if (rc < 0) {
        if (p->state != PORT_DOWN || strncmp(p->error, err, sizeof(p->error) - 1) != 0)
            log_error("port %lld (%s/%d): %s", (long long)p->id, p->vm->name, p->idx, err);
        port_set_state(p, PORT_DOWN, err);
        free(u);
        drop_vm_if_idle(v);
        return rc;
    }
    v->ports[index] = u;
    v->open_count++;
    p->backend = u;
    open_tty(u); /* a failure leaves the port Down, the gadget and the mapping kept */
    return 0;
}

static void usb_close(struct port *p, bool unpublish)
{
    struct usb_port *u = p->backend;
    struct vm *vm = p->vm;
    if (u) {
        struct usb_vm *v = u->vm;
        close_tty(u);
        v->ports[p->idx - 1] = NULL;
        v->open_count--;
        drop_vm_if_idle(v);
        free(u);
        p->backend = NULL;
        console_set_connected(&p->console, false);
    }
    /* The gadget goes with the VM's last port (an allocation undone, or the VM freed). */
    if (unpublish && !find_vm(vm) && ports_count(p->registry, vm) == 0) {
        struct gadget_where at = where();
        char err[128] = "";
        int rc = gadget_destroy(&at, vm->name, err, sizeof(err));
        if (rc < 0)
            log_error("VM '%s': %s", vm->name, err);
        else if (rc > 0)
            log_info("VM '%s': USB gadget removed", vm->name);
    }
}

static void usb_input_ready(struct port *p)
{
    struct usb_port *u = p->backend;
    if (!u || u->fd < 0 || p->state != PORT_CONNECTED)
        return;
    int rc = port_pump_input(p, u->fd);
    if (rc == 0)
        loop_mod(p->registry->loop, &u->watch, EPOLLIN | EPOLLOUT);
    else if (rc < 0)
        hung_up(u);
}

static int usb_apply_line(struct port *p)
{
    struct usb_port *u = p->backend;
    return u && u->fd >= 0 ? port_apply_termios(p, u->fd) : 0;
}

/* Still ours: the gadget is bound with this port's function under the same tty. */
static bool usb_healthy(struct port *p)
{
    struct usb_port *u = p->backend;
    struct gadget_where at = where();
    struct gadget_port now;
    return u && gadget_lookup_port(&at, p->vm->name, p->vm->uuid, p->idx - 1, &now) == 0 &&
           now.port_num == u->info.port_num;
}

const struct backend_ops backend_usb_gadget = {
    .name = "usb-gadget",
    .open = usb_open,
    .close = usb_close,
    .input_ready = usb_input_ready,
    .apply_line = usb_apply_line,
    .healthy = usb_healthy,
};
