#include "ports.h"

#include "audit.h"

#include "app.h"
#include "console_socket.h"
#include "console_ws.h"
#include "db_ports.h"
#include "events.h"
#include "log.h"
#include "resources.h"

#include <dirent.h>
#include <ftw.h>
#include <grp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static const char *const backend_names[BACKEND_COUNT] = {"pty", "unix", "usb-gadget"};
static const struct backend_ops *const backend_table[BACKEND_COUNT] = {&backend_pty, &backend_unix,
                                                                       &backend_usb_gadget};

const char *backend_name(enum backend_kind kind)
{
    return kind < BACKEND_COUNT ? backend_names[kind] : "";
}

int backend_parse(const char *name, enum backend_kind *out)
{
    for (int i = 0; i < BACKEND_COUNT; i++) {
        if (strcmp(name, backend_names[i]) == 0) {
            *out = (enum backend_kind)i;
            return 0;
        }
    }
    return -1;
}

const char *port_state_name(enum port_state state)
{
    static const char *const names[] = {"Down", "Waiting", "Connected"};
    return names[state];
}

void port_set_state(struct port *p, enum port_state state, const char *error)
{
    if (p->state != state)
        log_info("port %lld (%s/%d): %s%s%s", (long long)p->id, p->vm->name, p->idx,
                 port_state_name(state), error ? ": " : "", error ? error : "");
    p->state = state;
    snprintf(p->error, sizeof(p->error), "%s", error ? error : "");
    console_set_connected(&p->console, state == PORT_CONNECTED);
}

/* Reading was put off until the batch is due: the port took EPOLLIN off the watch (the
 * backends always ask for it, so a backend that sets the events turns reading back on). */
static bool reading_put_off(const struct port *p)
{
    return p->vm_watch && !(p->vm_watch->events & EPOLLIN);
}

static void read_now_again(struct port *p)
{
    if (reading_put_off(p))
        loop_mod(p->registry->loop, p->vm_watch, p->vm_watch->events | EPOLLIN);
}

/* A slow console's output can wait in the kernel until its batch is due: one read per batch
 * instead of one per write of the VM (most of a console's cost at a few bytes a write). */
static void read_later(struct port *p, uint32_t wait)
{
    struct loop_watch *w = p->vm_watch;
    if (w && wait <= PORT_READ_LATER_MS && p->last_batch < PORT_READ_LATER_BELOW)
        loop_mod(p->registry->loop, w, w->events & ~(uint32_t)EPOLLIN);
}

static int pump_output(struct port *p, int fd, uint64_t at_least);

/* What the kernel held while reading was put off goes into the console now (ring, history,
 * state detection); the caller tells the readers. Errors and end of file are left to the
 * backend's watch, which reports them again. With `whole`, everything the kernel holds
 * now is read, however much that is (else one call's bounded reads). */
static void read_held_output(struct port *p, bool whole)
{
    int fd = p->vm_watch->fd, held = 0;
    if (!whole || ioctl(fd, FIONREAD, &held) < 0 || held < 0)
        held = 0;
    p->reading_held = true;
    (void)pump_output(p, fd, (uint64_t)held);
    p->reading_held = false;
}

static void tell_readers(struct port *p)
{
    p->last_batch = console_held(&p->console);
    console_notify(&p->console);
}

/* Output the VM sent before a mode change is filed under the mode it was sent in: what the
 * kernel holds and the port has not read yet (reading put off for a batch, or the rest of
 * a burst longer than one turn's reads) is read now, all of it (a private spell's last
 * output stays private after it ends). Its readers hear of it when the batch is due, or
 * at the next turn of the loop when none is pending. */
static void on_mode_changing(struct console *c)
{
    struct port *p = c->owner;
    if (p->vm_watch) {
        read_held_output(p, true);
        if (console_held(c) && !p->batch_due.armed)
            loop_timer_arm(p->registry->loop, &p->batch_due, 0);
    }
    if (c->mode == CONSOLE_PRIVATE) /* ending (or changing hands): its lines stay private */
        console_state_port_private_ended(p);
}

void port_watch_output(struct port *p, struct loop_watch *w)
{
    p->vm_watch = w;
}

static void on_console_input(struct console *c)
{
    struct port *p = c->owner;
    p->typed_ms = loop_now_ms();
    read_now_again(p); /* the echo is read, and sent, as it comes */
    if (p->ops->input_ready)
        p->ops->input_ready(p);
}

/* ResourceCreated / ResourceRemoved / ResourceChanged for a port's SerialInterface. */
static void publish_port(struct port *p, enum event_resource_change kind)
{
    char uri[128];
    rf_port_uri(p, uri, sizeof(uri));
    events_resource(&p->registry->app->events, kind, uri, "SerialInterface");
}

void port_publish_changed(struct port *p)
{
    publish_port(p, EVENT_CHANGED);
}

static void publish_vm(struct ports *ps, struct vm *vm, enum event_resource_change kind)
{
    char uri[128];
    rf_system_uri(vm, uri, sizeof(uri));
    events_resource(&ps->app->events, kind, uri, "ComputerSystem");
}

static void on_mode_changed(struct console *c)
{
    struct port *p = c->owner;
    char uri[128];
    rf_port_uri(p, uri, sizeof(uri));
    audit(p->registry->app, AUDIT_MODE_CHANGE, c->changed_by, p->mode_client, uri,
          "mode %s%s%s%s (%s)", console_mode_name(c->mode), c->holder[0] ? " held by " : "",
          c->holder, c->forced ? ", forced" : "", c->reason ? c->reason : "set");
    publish_port(p, EVENT_CHANGED);
}

static void default_line(struct line_settings *l)
{
    l->bit_rate = 115200;
    l->data_bits = 8;
    snprintf(l->parity, sizeof(l->parity), "None");
    l->stop_bits = 1;
    snprintf(l->flow_control, sizeof(l->flow_control), "None");
}

static void on_batch_due(struct loop_timer *t)
{
    struct port *p = t->data;
    if (reading_put_off(p)) {
        read_now_again(p);
        read_held_output(p, false);
    }
    tell_readers(p);
}

/* A port object with its console, not yet open. */
static struct port *port_new(struct ports *ps, struct vm *vm, const struct port *tmpl)
{
    struct port *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    *p = *tmpl;
    p->vm = vm;
    p->registry = ps;
    p->ops = backend_table[p->kind];
    p->state = PORT_DOWN;
    p->next = NULL;
    p->backend = NULL;
    if (console_init(&p->console, (size_t)ps->app->cfg.console_ring_bytes) < 0) {
        free(p);
        return NULL;
    }
    p->console.owner = p;
    p->console.input_ready = on_console_input;
    p->console.mode_changing = on_mode_changing;
    p->batch_due = (struct loop_timer){.cb = on_batch_due, .data = p};
    console_state_port_init(p);
    p->console.mode_changed = on_mode_changed;
    return p;
}

static void port_destroy(struct port *p, bool unpublish)
{
    if (!p)
        return;
    p->console.mode_changing = NULL; /* a port going away changes no more */
    p->console.mode_changed = NULL;
    console_socket_close(p);
    console_ws_port_closing(p);
    if (p->ops)
        p->ops->close(p, unpublish);
    console_state_port_fini(p);
    loop_timer_cancel(&p->registry->app->loop, &p->batch_due);
    console_fini(&p->console);
    free(p);
}

static void link_port(struct ports *ps, struct port *p)
{
    struct port **pp = &ps->ports;
    while (*pp && (*pp)->id < p->id)
        pp = &(*pp)->next;
    p->next = *pp;
    *pp = p;
}

static void unlink_port(struct ports *ps, struct port *p)
{
    for (struct port **pp = &ps->ports; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            return;
        }
    }
}

static void unlink_vm(struct ports *ps, struct vm *vm)
{
    for (struct vm **pv = &ps->vms; *pv; pv = &(*pv)->next) {
        if (*pv == vm) {
            *pv = vm->next;
            return;
        }
    }
}

struct port *ports_find(struct ports *ps, int64_t id)
{
    for (struct port *p = ps->ports; p; p = p->next) {
        if (p->id == id)
            return p;
    }
    return NULL;
}

struct vm *ports_find_vm(struct ports *ps, const char *uuid)
{
    for (struct vm *vm = ps->vms; vm; vm = vm->next) {
        if (strcasecmp(vm->uuid, uuid) == 0)
            return vm;
    }
    return NULL;
}

static struct vm *find_vm_by_name(struct ports *ps, const char *name)
{
    for (struct vm *vm = ps->vms; vm; vm = vm->next) {
        if (strcmp(vm->name, name) == 0)
            return vm;
    }
    return NULL;
}

size_t ports_count(const struct ports *ps, const struct vm *vm)
{
    size_t n = 0;
    for (const struct port *p = ps->ports; p; p = p->next)
        n += !vm || p->vm == vm;
    return n;
}

/* <ports dir>/<vm name>/<idx>: the path the hypervisor binds (pty and unix backends). */
static void published_path(struct ports *ps, const char *vm_name, int idx, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s/%s/%d", ps->dir, vm_name, idx);
}

static int make_vm_dir(struct ports *ps, const char *vm_name)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/%s", ps->dir, vm_name);
    if (mkdir(dir, 0711) < 0 && errno != EEXIST)
        return -errno;
    chmod(dir, 0711); /* the hypervisor's user must reach its paths, not list others */
    return 0;
}

/* Opens the backend; a failure leaves the port (and its mapping) Down with the reason. */
static void open_port_backend(struct port *p)
{
    if (p->kind != BACKEND_USB_GADGET)
        make_vm_dir(p->registry, p->vm->name); /* removed with the paths in it, maybe */
    int rc = p->ops->open(p);
    if (rc < 0) {
        char msg[sizeof(p->error) + 32];
        snprintf(msg, sizeof(msg), "%s backend: %s", p->ops->name,
                 p->error[0] ? p->error : strerror(-rc)); /* the backend's words first */
        port_set_state(p, PORT_DOWN, msg);
    }
}

static void open_port(struct port *p)
{
    if (console_socket_open(p) < 0)
        log_warn("port %lld: no local console socket", (long long)p->id);
    if (p->enabled)
        open_port_backend(p);
    else
        port_set_state(p, PORT_DOWN, "disabled (InterfaceEnabled false)");
}

/* ---- start-up: the database is the truth ------------------------------------------------ */

static int load_vm(void *ctx, const struct vm *row)
{
    struct ports *ps = ctx;
    struct vm *vm = malloc(sizeof(*vm));
    if (!vm)
        return -ENOMEM;
    *vm = *row;
    vm->next = ps->vms;
    ps->vms = vm;
    return 0;
}

static int load_port(void *ctx, const struct port *row, const char *vm_uuid)
{
    struct ports *ps = ctx;
    struct vm *vm = ports_find_vm(ps, vm_uuid);
    if (!vm) {
        log_error("port %lld belongs to no active VM (%s); ignored", (long long)row->id, vm_uuid);
        return 0;
    }
    struct port *p = port_new(ps, vm, row);
    if (!p)
        return -ENOMEM;
    link_port(ps, p);
    return 0;
}

/* Whether `path` is some active port's published path. */
static bool path_owned(struct ports *ps, const char *path)
{
    for (struct port *p = ps->ports; p; p = p->next) {
        if (p->enabled && strcmp(p->bind_path, path) == 0)
            return true;
    }
    return false;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if ((type == FTW_DP ? rmdir(path) : unlink(path)) < 0)
        log_warn("cannot remove stray %s: %s", path, strerror(errno));
    return 0;
}

/* Removes a stray file, link, socket or whole folder (never following links). */
static void remove_stray(const char *path)
{
    log_info("removing stray %s", path);
    nftw(path, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/*
 * Removes what a crash or a hand left under the ports folder: anything that is neither an
 * active VM's folder nor an active port's published path. (Published paths of disabled
 * ports were removed when they were disabled; see ports_update().)
 */
static void remove_strays(struct ports *ps)
{
    DIR *top = opendir(ps->dir);
    if (!top)
        return;
    struct dirent *vd;
    char vdir[PATH_MAX], path[PATH_MAX];
    while ((vd = readdir(top))) {
        if (strcmp(vd->d_name, ".") == 0 || strcmp(vd->d_name, "..") == 0)
            continue;
        snprintf(vdir, sizeof(vdir), "%s/%s", ps->dir, vd->d_name);
        DIR *d = find_vm_by_name(ps, vd->d_name) ? opendir(vdir) : NULL;
        if (!d) {
            remove_stray(vdir); /* no active VM of that name (or not a folder) */
            continue;
        }
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
                snprintf(path, sizeof(path), "%s/%s", vdir, e->d_name) >= (int)sizeof(path))
                continue;
            if (!path_owned(ps, path))
                remove_stray(path);
        }
        closedir(d);
    }
    closedir(top);
}

/*
 * Every PORTS_CHECK_MS: an enabled port whose backend is down, or whose published path
 * was removed or replaced, gets its backend re-created; the mapping (Id, path, VM) stays.
 */
static void on_check(struct loop_timer *t)
{
    struct ports *ps = t->data;
    for (struct port *p = ps->ports; p; p = p->next) {
        if (!p->enabled)
            continue;
        bool down = p->state == PORT_DOWN;
        if (!down && (!p->ops->healthy || p->ops->healthy(p)))
            continue;
        log_warn("port %lld (%s/%d): %s; re-creating its %s backend", (long long)p->id, p->vm->name,
                 p->idx, down ? "down" : "published path lost", p->ops->name);
        p->ops->close(p, false);
        open_port_backend(p);
    }
    loop_timer_arm(ps->loop, t, PORTS_CHECK_MS);
}

int ports_init(struct ports *ps, struct vsc_app *app)
{
    memset(ps, 0, sizeof(*ps));
    ps->app = app;
    ps->loop = &app->loop;
    batch_pace_init(&ps->pace, (uint32_t)app->cfg.console_batch_busy_ms, loop_now_ns(),
                    loop_busy_ns(ps->loop)); /* before restored ports print anything */
    snprintf(ps->dir, sizeof(ps->dir), "%s/ports", app->cfg.state_dir);
    if (mkdir(ps->dir, 0711) < 0 && errno != EEXIST) {
        log_error("cannot create %s: %s", ps->dir, strerror(errno));
        return -1;
    }
    chmod(ps->dir, 0711);
    if (db_vms_each(&app->db, load_vm, ps) < 0 || db_ports_each(&app->db, load_port, ps) < 0) {
        log_error("cannot load ports from the database");
        return -1;
    }
    remove_strays(ps);
    size_t n = 0;
    for (struct port *p = ps->ports; p; p = p->next, n++) {
        if (p->kind != BACKEND_USB_GADGET)
            make_vm_dir(ps, p->vm->name);
        open_port(p);
    }
    if (n)
        log_info("restored %zu port(s)", n);
    ps->check = (struct loop_timer){.cb = on_check, .data = ps};
    loop_timer_arm(ps->loop, &ps->check, PORTS_CHECK_MS);
    return 0;
}

static uint32_t batch_ms_at(struct ports *ps, uint64_t now_ns)
{
    uint32_t paced = batch_pace_ms(&ps->pace, now_ns, loop_busy_ns(ps->loop));
    uint32_t fixed = (uint32_t)ps->app->cfg.console_batch_ms;
    return paced > fixed ? paced : fixed;
}

uint32_t ports_batch_ms(struct ports *ps)
{
    if (!ps->loop) /* not started (the REST layer's unit tests): nothing is paced */
        return 0;
    return batch_ms_at(ps, loop_now_ns());
}

void ports_fini(struct ports *ps)
{
    if (ps->loop)
        loop_timer_cancel(ps->loop, &ps->check);
    while (ps->ports) {
        struct port *p = ps->ports;
        ps->ports = p->next;
        port_destroy(p, false); /* paths stay published: the mapping outlives vscd */
    }
    while (ps->vms) {
        struct vm *vm = ps->vms;
        ps->vms = vm->next;
        free(vm);
    }
}

/* ---- allocate ----------------------------------------------------------------------------- */

static bool same_request(struct ports *ps, struct vm *vm, const struct allocate_request *req)
{
    if ((int)ports_count(ps, vm) != req->count ||
        (req->name_given && strcmp(vm->name, req->name) != 0) ||
        (req->host_name[0] && strcmp(vm->host_name, req->host_name) != 0))
        return false;
    for (struct port *p = ps->ports; p; p = p->next) {
        if (p->vm != vm)
            continue;
        if (req->kind_given && p->kind != req->kind)
            return false;
        if (req->ports_given && (strcmp(p->com_port, req->ports[p->idx - 1].com_port) != 0 ||
                                 strcmp(p->label, req->ports[p->idx - 1].label) != 0))
            return false;
    }
    return true;
}

/* Builds, records and opens the ports; on any failure undoes everything it did. */
static enum allocate_result create_ports(struct ports *ps, struct vm *vm,
                                         const struct allocate_request *req, char *err,
                                         size_t errsz)
{
    struct db *db = &ps->app->db;
    struct port *made[16] = {0};
    enum allocate_result res = ALLOC_FAILED;
    enum backend_kind kind = req->kind;
    if (!req->kind_given)
        backend_parse(ps->app->cfg.default_backend, &kind);
    if (db_begin(db) < 0)
        return ALLOC_FAILED;
    /* A freed VM's row comes back; the console state of its earlier life must not (the
     * new VM is Unknown in memory, and a restart reads the stored state). */
    if (db_vm_activate(db, vm) < 0 || console_state_vm_allocated(&ps->app->cstate, vm) < 0)
        goto undo;
    if (kind != BACKEND_USB_GADGET && make_vm_dir(ps, vm->name) < 0) {
        snprintf(err, errsz, "cannot create the VM's folder under %s", ps->dir);
        res = ALLOC_BACKEND;
        goto undo;
    }
    for (int i = 0; i < req->count; i++) {
        struct port tmpl = {.idx = i + 1, .kind = kind, .enabled = true};
        default_line(&tmpl.line);
        if (req->ports_given) {
            snprintf(tmpl.com_port, sizeof(tmpl.com_port), "%s", req->ports[i].com_port);
            snprintf(tmpl.label, sizeof(tmpl.label), "%s", req->ports[i].label);
        }
        if (kind != BACKEND_USB_GADGET)
            published_path(ps, vm->name, i + 1, tmpl.bind_path, sizeof(tmpl.bind_path));
        made[i] = port_new(ps, vm, &tmpl);
        if (!made[i] || db_port_insert(db, made[i], vm->uuid) < 0)
            goto undo;
        int rc = made[i]->ops->open(made[i]);
        if (rc < 0) {
            snprintf(err, errsz, "%s backend for port %d: %s", made[i]->ops->name, i + 1,
                     made[i]->error[0] ? made[i]->error : strerror(-rc));
            res = ALLOC_BACKEND;
            goto undo;
        }
        /* The backend may have chosen the path (USB gadget: the host's by-id name). */
        if (strcmp(made[i]->bind_path, tmpl.bind_path) != 0 && db_port_update(db, made[i]) < 0)
            goto undo;
        if (console_socket_open(made[i]) < 0)
            log_warn("port %lld: no local console socket", (long long)made[i]->id);
    }
    if (db_commit(db) < 0)
        goto undo;
    for (int i = 0; i < req->count; i++)
        link_port(ps, made[i]);
    return ALLOC_CREATED;
undo:
    db_rollback(db);
    for (int i = 0; i < req->count; i++)
        port_destroy(made[i], true);
    if (kind != BACKEND_USB_GADGET) {
        /* No other active VM has this name: the folder is this allocation's, empty now. */
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/%s", ps->dir, vm->name);
        rmdir(dir);
    }
    return res;
}

enum allocate_result ports_allocate(struct ports *ps, const struct allocate_request *req,
                                    struct vm **vm_out, char *err, size_t errsz)
{
    const struct vsc_config *cfg = &ps->app->cfg;
    struct vm *vm = ports_find_vm(ps, req->uuid);
    err[0] = '\0';
    if (vm) {
        if (!same_request(ps, vm, req)) {
            snprintf(err, errsz,
                     "VM %s already has %zu port(s) that differ from this request; "
                     "free them first",
                     vm->uuid, ports_count(ps, vm));
            return ALLOC_CONFLICT;
        }
        *vm_out = vm;
        return ALLOC_EXISTING;
    }
    if (find_vm_by_name(ps, req->name)) {
        snprintf(err, errsz, "another VM named '%s' has ports", req->name);
        return ALLOC_CONFLICT;
    }
    if (req->count > cfg->max_ports_per_vm ||
        (int64_t)ports_count(ps, NULL) + req->count > cfg->max_ports) {
        snprintf(err, errsz, "limit: %lld ports per VM, %lld in all (%zu in use)",
                 (long long)cfg->max_ports_per_vm, (long long)cfg->max_ports,
                 ports_count(ps, NULL));
        return ALLOC_EXHAUSTED;
    }
    vm = calloc(1, sizeof(*vm));
    if (!vm)
        return ALLOC_FAILED;
    snprintf(vm->uuid, sizeof(vm->uuid), "%s", req->uuid);
    snprintf(vm->name, sizeof(vm->name), "%s", req->name);
    snprintf(vm->host_name, sizeof(vm->host_name), "%s", req->host_name);
    vm->created_at = time(NULL);
    enum allocate_result res = create_ports(ps, vm, req, err, errsz);
    if (res != ALLOC_CREATED) {
        free(vm);
        return res;
    }
    vm->next = ps->vms;
    ps->vms = vm;
    *vm_out = vm;
    log_info("allocated %d port(s) for VM '%s' (%s)", req->count, vm->name, vm->uuid);
    publish_vm(ps, vm, EVENT_CREATED);
    for (struct port *p = ps->ports; p; p = p->next) {
        if (p->vm == vm)
            publish_port(p, EVENT_CREATED);
    }
    return ALLOC_CREATED;
}

/* ---- free ---------------------------------------------------------------------------------- */

/* Whether list[i] is the last port of its VM in `list` and the list holds all of the VM's
 * ports: freeing the list frees the VM with it. */
static bool frees_vm(struct ports *ps, struct port *const *list, size_t n, size_t i)
{
    size_t in_list = 0;
    for (size_t j = 0; j < n; j++) {
        if (list[j]->vm != list[i]->vm)
            continue;
        if (j > i)
            return false;
        in_list++;
    }
    return in_list == ports_count(ps, list[i]->vm);
}

/* After the database freed `p`: closes it, and its VM when it was the VM's last port. */
static void close_freed(struct ports *ps, struct port *p)
{
    struct vm *vm = p->vm;
    bool last = ports_count(ps, vm) == 1;
    unlink_port(ps, p);
    port_acl_drop_port(&ps->app->acl, p->id); /* the database dropped them (migration 0004) */
    log_info("freed port %lld (%s/%d)", (long long)p->id, vm->name, p->idx);
    publish_port(p, EVENT_REMOVED);
    port_destroy(p, true);
    if (last) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/%s", ps->dir, vm->name);
        rmdir(dir);
        unlink_vm(ps, vm);
        log_info("VM '%s' (%s) has no ports left", vm->name, vm->uuid);
        publish_vm(ps, vm, EVENT_REMOVED);
        free(vm);
    }
}

/*
 * Frees the `n` active ports of `list` (no port twice), and each VM left without ports, in
 * one transaction, then closes them: all or nothing. A VM half freed by a failure would
 * refuse the hypervisor's next AllocatePorts as a conflict; whole, it gets its ports back.
 * 0 or -EIO.
 */
static int free_ports(struct ports *ps, struct port *const *list, size_t n)
{
    struct db *db = &ps->app->db;
    int64_t now = time(NULL);
    if (db_begin(db) < 0)
        return -EIO;
    for (size_t i = 0; i < n; i++) {
        if (db_port_free(db, list[i]->id, now) < 0 ||
            (frees_vm(ps, list, n, i) && db_vm_free(db, list[i]->vm->uuid, now) < 0)) {
            db_rollback(db);
            return -EIO;
        }
    }
    if (db_commit(db) < 0) {
        db_rollback(db);
        return -EIO;
    }
    for (size_t i = 0; i < n; i++)
        close_freed(ps, list[i]);
    return 0;
}

/* A port not active here: 0 freed before, -ENOENT never allocated, -EIO. */
static int inactive_port_status(struct ports *ps, int64_t id)
{
    int status = db_port_status(&ps->app->db, id);
    return status == 0 ? 0 : status < 0 ? status : -EIO; /* 1 here would be a lost port */
}

int ports_free_port(struct ports *ps, int64_t id)
{
    struct port *p = ports_find(ps, id);
    if (!p)
        return inactive_port_status(ps, id);
    int rc = free_ports(ps, &p, 1);
    return rc < 0 ? rc : 1;
}

int ports_free_ports(struct ports *ps, const int64_t *ids, size_t n, bool *freed)
{
    struct port *list[PORTS_FREE_MAX];
    size_t count = 0;
    if (n > PORTS_FREE_MAX)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        struct port *p = ports_find(ps, ids[i]);
        for (size_t j = 0; p && j < count; j++) {
            if (list[j] == p)
                p = NULL; /* named twice: freed by its first mention */
        }
        freed[i] = p != NULL;
        if (p) {
            list[count++] = p;
        } else if (!ports_find(ps, ids[i])) {
            int rc = inactive_port_status(ps, ids[i]);
            if (rc < 0)
                return rc;
        }
    }
    return free_ports(ps, list, count);
}

int ports_free_vm(struct ports *ps, const char *uuid)
{
    struct vm *vm = ports_find_vm(ps, uuid);
    if (!vm) {
        int status = db_vm_status(&ps->app->db, uuid);
        return status == 0 ? 0 : status < 0 ? status : -EIO;
    }
    struct port *list[PORTS_FREE_MAX];
    size_t n = 0;
    for (struct port *p = ps->ports; p && n < PORTS_FREE_MAX; p = p->next) {
        if (p->vm == vm)
            list[n++] = p;
    }
    int rc = free_ports(ps, list, n); /* the VM goes with its last port */
    return rc < 0 ? rc : 1;
}

int ports_update(struct ports *ps, struct port *p, bool was_enabled)
{
    if (db_port_update(&ps->app->db, p) < 0)
        return -EIO;
    if (was_enabled && !p->enabled) {
        /* Unpublished: a stale pty link could lead to another VM's console once the
         * pty number is reused. */
        p->ops->close(p, true);
        port_set_state(p, PORT_DOWN, "disabled (InterfaceEnabled false)");
    } else if (!was_enabled && p->enabled) {
        open_port_backend(p);
    } else if (p->enabled && p->ops->apply_line) {
        p->ops->apply_line(p);
    }
    publish_port(p, EVENT_CHANGED);
    return 0;
}

void ports_user_renamed(struct ports *ps, const char *old, const char *now, const char *by)
{
    for (struct port *p = ps->ports; p; p = p->next)
        console_user_renamed(&p->console, old, now, by);
}

/* ---- helpers for backends -------------------------------------------------------------------- */

/* Viewers are told of new output at once, or once per ports_batch_ms(): fewer, larger
 * sends for many viewers, at the cost of that delay. Not when someone waits for the echo
 * of their typing, nor once a batch holds enough to make its sends worth their cost (and
 * long before a fast console could lap the ring while its output waits). */
static void console_output_batched(struct port *p, const uint8_t *buf, size_t n)
{
    struct loop *loop = p->registry->loop;
    console_store(&p->console, buf, n);
    if (p->reading_held)
        return; /* the batch is due, or a mode changes: the caller goes on */
    uint64_t now_ns = loop_now_ns(), now_ms = now_ns / 1000000u; /* one clock read a read */
    uint32_t period = batch_ms_at(p->registry, now_ns);
    bool typed = p->typed_ms && now_ms - p->typed_ms < PORT_TYPED_MS;
    if (!period || typed || console_held(&p->console) >= PORT_BATCH_FULL) {
        loop_timer_cancel(loop, &p->batch_due);
        read_now_again(p);
        tell_readers(p);
    } else if (!p->batch_due.armed) {
        bool paced = period > (uint32_t)p->registry->app->cfg.console_batch_ms;
        uint32_t wait = paced ? batch_pace_until_slot((uint64_t)p->id, period, now_ms) : period;
        loop_timer_arm(loop, &p->batch_due, wait);
        read_later(p, wait);
    }
}

/* Reads up to 16 times, or on until at least `at_least` bytes were read. */
static int pump_output(struct port *p, int fd, uint64_t at_least)
{
    uint8_t buf[16384];
    uint64_t got = 0;
    for (int rounds = 0; rounds < 16 || got < at_least; rounds++) { /* bounded: let others run */
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0) {
            got += (uint64_t)n;
            /* History first: telling the readers may change the mode, which reads on
             * (on_mode_changing) before this read's bytes would be appended. */
            if (p->console.mode == CONSOLE_PRIVATE) /* the transcript hides it too */
                history_append_private(p->registry->app->history, p->vm->uuid, p->idx, buf,
                                       (size_t)n);
            else
                history_append(p->registry->app->history, p->vm->uuid, p->idx, buf, (size_t)n);
            console_state_port_output(p, buf, (size_t)n);
            console_output_batched(p, buf, (size_t)n);
            if ((size_t)n < sizeof(buf) && got >= at_least)
                return 0; /* drained for now: the (level-triggered) watch says when more comes */
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        return n == 0 ? -EPIPE : -errno;
    }
    return 0;
}

int port_pump_output(struct port *p, int fd)
{
    return pump_output(p, fd, 0);
}

int port_pump_input(struct port *p, int fd)
{
    const uint8_t *data;
    size_t len = console_input_pending(&p->console, &data);
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return 0;
            return -errno;
        }
        console_input_consumed(&p->console, (size_t)n);
        len = console_input_pending(&p->console, &data);
    }
    return 1;
}

void port_publish_mode(struct port *p, const char *path, mode_t mode)
{
    const char *group = p->registry->app->cfg.ports_group;
    if (group[0]) {
        struct group *g = getgrnam(group);
        if (!g || chown(path, (uid_t)-1, g->gr_gid) < 0)
            log_warn("cannot give %s to group '%s'", path, group);
    }
    chmod(path, mode);
}

int port_apply_termios(struct port *p, int fd)
{
    struct termios t;
    if (tcgetattr(fd, &t) < 0)
        return -errno;
    cfmakeraw(&t);
    static const struct {
        int64_t rate;
        speed_t speed;
    } speeds[] = {{1200, B1200},     {2400, B2400},     {4800, B4800},    {9600, B9600},
                  {19200, B19200},   {38400, B38400},   {57600, B57600},  {115200, B115200},
                  {230400, B230400}, {460800, B460800}, {921600, B921600}};
    for (size_t i = 0; i < sizeof(speeds) / sizeof(speeds[0]); i++) {
        if (speeds[i].rate == p->line.bit_rate)
            cfsetspeed(&t, speeds[i].speed);
    }
    return tcsetattr(fd, TCSANOW, &t) < 0 ? -errno : 0;
}
