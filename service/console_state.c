#include "console_state.h"

#include "app.h"
#include "db_console.h"
#include "events.h"
#include "log.h"
#include "resources.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void console_state_view(enum vm_state state, struct vm_state_view *v)
{
    *v = (struct vm_state_view){"Enabled", "OK", "On", "None", NULL};
    switch (state) {
    case VM_STATE_FIRMWARE:
        v->status_state = "Starting";
        v->boot_last_state = "SystemHardwareInitializationComplete";
        break;
    case VM_STATE_BOOTING:
        v->status_state = "Starting";
        v->boot_last_state = "OSBootStarted";
        break;
    case VM_STATE_RUNNING:
        v->boot_last_state = "OSRunning";
        break;
    case VM_STATE_PANIC:
        v->health = "Critical";
        v->boot_last_state = "OEM";
        v->boot_oem_state = "KernelPanic";
        break;
    case VM_STATE_REBOOTING:
        v->status_state = "Starting";
        v->boot_last_state = "OEM";
        v->boot_oem_state = "Rebooting";
        break;
    case VM_STATE_OFF:
        v->status_state = "Disabled";
        v->power_state = "Off";
        break;
    case VM_STATE_UNKNOWN:
    case VM_STATE_COUNT:
        break;
    }
}

/* ---- rules --------------------------------------------------------------------------------- */

static int load_rule(void *ctx, const struct db_state_rule *row)
{
    struct console_state *cs = ctx;
    enum vm_state state;
    char err[160];
    if (vm_state_parse(row->state, &state) < 0 ||
        detect_rules_add(cs->rules, row->id, row->pattern, state, err, sizeof(err)) < 0)
        log_warn("console state rule '%s' ignored: %s", row->id, err); /* a newer built-in id */
    return 0;
}

static void on_pause(struct loop_timer *t);

int console_state_init(struct console_state *cs, struct vsc_app *app)
{
    memset(cs, 0, sizeof(*cs));
    cs->app = app;
    cs->pause = (struct loop_timer){.cb = on_pause, .data = cs};
    cs->rules = detect_rules_new();
    if (!cs->rules || db_state_rules_each(&app->db, load_rule, cs) < 0) {
        log_error("cannot load the console state rules");
        detect_rules_free(cs->rules);
        cs->rules = NULL;
        return -1;
    }
    return 0;
}

int console_state_rule_add(struct console_state *cs, const char *id, const char *pattern,
                           enum vm_state state, const char *by, char *err, size_t errsz)
{
    if (detect_rules_find(cs->rules, id))
        return -EEXIST;
    struct detect_rules *check = detect_rules_new(); /* validates without touching the live set */
    if (!check)
        return -EIO;
    int rc = detect_rules_add(check, id, pattern, state, err, errsz);
    detect_rules_free(check);
    if (rc < 0)
        return rc;
    size_t custom = 0;
    for (size_t i = 0; i < detect_rules_count(cs->rules); i++)
        custom += !detect_rules_at(cs->rules, i)->builtin;
    if (custom >= CONSOLE_STATE_RULES_MAX)
        return -ENOSPC;
    struct db_state_rule row = {.created_at = time(NULL)};
    snprintf(row.id, sizeof(row.id), "%s", id);
    snprintf(row.pattern, sizeof(row.pattern), "%s", pattern);
    snprintf(row.state, sizeof(row.state), "%s", vm_state_name(state));
    snprintf(row.created_by, sizeof(row.created_by), "%s", by);
    rc = db_state_rule_insert(&cs->app->db, &row);
    if (rc < 0)
        return rc == -EEXIST ? -EEXIST : -EIO;
    rc = detect_rules_add(cs->rules, id, pattern, state, err, errsz);
    if (rc < 0) { /* validated above: only memory can fail here; keep both sides equal */
        db_state_rule_delete(&cs->app->db, id);
        return -EIO;
    }
    return 0;
}

int console_state_rule_remove(struct console_state *cs, const char *id)
{
    const struct detect_rule *rule = detect_rules_find(cs->rules, id);
    if (!rule)
        return -ENOENT;
    if (rule->builtin)
        return -EPERM;
    int rc = db_state_rule_delete(&cs->app->db, id);
    if (rc < 0 && rc != -ENOENT)
        return -EIO;
    return detect_rules_remove(cs->rules, id);
}

/* ---- state changes -------------------------------------------------------------------------- */

static json_t *lines_array(const char *const *lines, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(lines[i]));
    return a;
}

/* Spends one unit of the VM's LogEntry budget; false when it is spent. */
static bool take_token(struct vm_console_state *s, int64_t now)
{
    if (!s->refilled_us) {
        s->tokens = CONSOLE_STATE_BURST;
        s->refilled_us = now;
    }
    s->tokens += (double)(now - s->refilled_us) / 1e6;
    if (s->tokens > CONSOLE_STATE_BURST)
        s->tokens = CONSOLE_STATE_BURST;
    s->refilled_us = now;
    if (s->tokens < 1)
        return false;
    s->tokens -= 1;
    return true;
}

/* Tells the world: ResourceChanged for the ComputerSystem and vsc's state message (a
 * panic as the Critical ConsolePanic, with its line). */
static void publish(struct vsc_app *app, const struct vm *vm, const struct vm_console_state *s)
{
    char uri[96];
    rf_system_uri(vm, uri, sizeof(uri));
    const char *host = vm->host_name[0] ? vm->host_name : vm->name;
    events_resource(&app->events, EVENT_CHANGED, uri, "ComputerSystem");
    /* The line is the port's output: not for those an access rule denies Watch on it. */
    struct events_guard guard = {.shown = RF_LINE_NOT_WATCHABLE};
    for (const struct port *p = app->ports.ports; p; p = p->next) {
        if (p->vm == vm && p->idx == s->port_idx)
            guard.port_id = p->id;
    }
    if (s->state == VM_STATE_PANIC) {
        const char *args[] = {host, s->line};
        guard.arg = 1;
        events_vsc(&app->events, "ConsolePanic", "Critical", uri, "ComputerSystem", args, 2, NULL,
                   &guard);
    } else {
        const char *args[] = {host, vm_state_name(s->state), s->line};
        guard.arg = 2;
        events_vsc(&app->events, "ConsoleStateChanged", "OK", uri, "ComputerSystem", args, 3, NULL,
                   &guard);
    }
}

/* The VM's current state as a row: what console_states keeps, a LogEntry's main part. */
static void state_row(const struct vm *vm, struct db_console_entry *e)
{
    const struct vm_console_state *s = &vm->cstate;
    *e = (struct db_console_entry){.port_idx = s->port_idx, .created_us = s->since_us};
    snprintf(e->vm_uuid, sizeof(e->vm_uuid), "%s", vm->uuid);
    snprintf(e->state, sizeof(e->state), "%s", vm_state_name(s->state));
    snprintf(e->rule_id, sizeof(e->rule_id), "%s", s->rule_id);
    snprintf(e->line, sizeof(e->line), "%s", s->line);
}

/* Records the VM's current state as a LogEntry (with the lines before it). */
static int64_t log_change(struct vsc_app *app, struct vm *vm, enum vm_state previous,
                          const struct detect_change *ch)
{
    struct vm_console_state *s = &vm->cstate;
    struct db_console_entry e;
    state_row(vm, &e);
    snprintf(e.previous, sizeof(e.previous), "%s", vm_state_name(previous));
    if (ch)
        snprintf(e.line, sizeof(e.line), "%s", ch->line);
    e.before = ch ? lines_array(ch->before, ch->nbefore) : json_array();
    int rc = db_console_entry_insert(&app->db, &e, app->cfg.console_log_entries);
    db_console_state_put(&app->db, &e); /* what a restart reads back, whatever the log keeps */
    db_console_entry_fini(&e);
    s->logged = s->state;
    publish(app, vm, s);
    return rc < 0 ? 0 : e.id;
}

/* What a LogEntry, the VM's Status and events show of a state change's lines: while the
 * port is private, its output is not everyone's, so neither are the lines that told. */
static const char private_line[] = "[vsc: private output]";

static void on_change(struct detector *d, const struct detect_change *told)
{
    struct port *p = d->data;
    struct detect_change shown = *told;
    if (p->console.mode == CONSOLE_PRIVATE) {
        shown.line = private_line;
        shown.nbefore = 0;
    }
    const struct detect_change *ch = &shown;
    struct vm *vm = p->vm;
    struct vm_console_state *s = &vm->cstate;
    struct vsc_app *app = p->registry->app;
    int64_t now = now_us();
    enum vm_state previous = s->state;
    s->state = ch->state;
    s->since_us = now;
    s->port_idx = p->idx;
    snprintf(s->rule_id, sizeof(s->rule_id), "%s", ch->rule_id);
    snprintf(s->line, sizeof(s->line), "%s", ch->line);
    log_info("VM '%s' (%s): console state %s -> %s (rule %s, port %d)", vm->name, vm->uuid,
             vm_state_name(previous), vm_state_name(ch->state), ch->rule_id, p->idx);
    bool panic = ch->state == VM_STATE_PANIC && s->logged != VM_STATE_PANIC;
    if (!take_token(s, now) && !panic) {
        s->suppressed++;
        return;
    }
    int64_t id = log_change(app, vm, previous, ch);
    if (ch->state == VM_STATE_PANIC)
        p->cstate.panic_entry_id = id;
}

static void on_after(struct detector *d, const char *const *lines, size_t n)
{
    struct port *p = d->data;
    if (!p->cstate.panic_entry_id)
        return;
    if (p->console.mode == CONSOLE_PRIVATE)
        n = 0; /* not everyone's (on_change) */
    json_t *after = lines_array(lines, n);
    db_console_entry_set_after(&p->registry->app->db, p->cstate.panic_entry_id, after);
    json_decref(after);
    p->cstate.panic_entry_id = 0;
}

int console_state_vm_allocated(struct console_state *cs, const struct vm *vm)
{
    return db_console_state_delete(&cs->app->db, vm->uuid);
}

void console_state_port_init(struct port *p)
{
    struct port_console_state *ps = &p->cstate;
    memset(ps, 0, sizeof(*ps));
    detector_init(&ps->detector, p->registry->app->cstate.rules);
    ps->detector.changed = on_change;
    ps->detector.after = on_after;
    ps->detector.data = p;
}

void console_state_port_private_ended(struct port *p)
{
    detector_forget_lines(&p->cstate.detector);
}

void console_state_port_output(struct port *p, const void *data, size_t len)
{
    p->cstate.last_output_us = now_us();
    detector_feed(&p->cstate.detector, data, len);
    struct vsc_app *app = p->registry->app;
    if (detector_pending(&p->cstate.detector) && !app->cstate.pause.armed)
        loop_timer_arm(&app->loop, &app->cstate.pause, CONSOLE_STATE_PAUSE_MS);
}

/* Fires the partial-line matches (prompts) of consoles that paused on them; one timer for
 * all ports, running only while such a match waits (state_detect.h). */
static void on_pause(struct loop_timer *t)
{
    struct console_state *cs = t->data;
    struct vsc_app *app = cs->app;
    int64_t now = now_us();
    bool waiting = false;
    for (struct port *p = app->ports.ports; p; p = p->next) {
        struct detector *d = &p->cstate.detector;
        if (!detector_pending(d))
            continue;
        if (now - p->cstate.last_output_us >= (int64_t)CONSOLE_STATE_PAUSE_MS * 1000)
            detector_idle(d);
        else
            waiting = true;
    }
    if (waiting)
        loop_timer_arm(&app->loop, t, CONSOLE_STATE_PAUSE_MS);
}

void console_state_port_fini(struct port *p)
{
    detector_flush(&p->cstate.detector); /* a panic's following lines are kept */
    detector_fini(&p->cstate.detector);
}

/* ---- restart and housekeeping ---------------------------------------------------------------- */

static void restore_one(struct vm *vm, const struct db_console_entry *e)
{
    struct vm_console_state *s = &vm->cstate;
    enum vm_state state;
    if (vm_state_parse(e->state, &state) < 0)
        return;
    s->state = s->logged = state;
    s->since_us = e->created_us;
    s->port_idx = e->port_idx;
    snprintf(s->rule_id, sizeof(s->rule_id), "%s", e->rule_id);
    snprintf(s->line, sizeof(s->line), "%s", e->line);
}

/* Every second: ends a panic's following lines once its console went quiet, logs a state
 * the budget held back, and now and then drops entries past the age cap. */
static void on_tick(struct loop_timer *t)
{
    struct console_state *cs = t->data;
    struct vsc_app *app = cs->app;
    int64_t now = now_us();
    for (struct port *p = app->ports.ports; p; p = p->next) {
        if (p->cstate.panic_entry_id &&
            now - p->cstate.last_output_us >= (int64_t)CONSOLE_STATE_QUIET_MS * 1000)
            detector_flush(&p->cstate.detector);
    }
    for (struct vm *vm = app->ports.vms; vm; vm = vm->next) {
        struct vm_console_state *s = &vm->cstate;
        if (s->state != s->logged && take_token(s, now))
            log_change(app, vm, s->logged, NULL);
    }
    if (app->cfg.history_max_age && now - cs->last_expiry_us >= 60 * 1000000LL) {
        cs->last_expiry_us = now;
        db_console_entries_expire(&app->db, now - app->cfg.history_max_age * 1000000);
    }
    loop_timer_arm(&app->loop, t, CONSOLE_STATE_TICK_MS);
}

void console_state_start(struct console_state *cs)
{
    struct vsc_app *app = cs->app;
    for (struct vm *vm = app->ports.vms; vm; vm = vm->next) {
        struct db_console_entry e;
        if (db_console_state_get(&app->db, vm->uuid, &e) == 0)
            restore_one(vm, &e);
    }
    cs->tick = (struct loop_timer){.cb = on_tick, .data = cs};
    loop_timer_arm(&app->loop, &cs->tick, CONSOLE_STATE_TICK_MS);
}

void console_state_save(struct console_state *cs)
{
    if (!cs->app)
        return;
    for (const struct vm *vm = cs->app->ports.vms; vm; vm = vm->next) {
        if (vm->cstate.state == vm->cstate.logged)
            continue; /* stored with its LogEntry */
        struct db_console_entry e;
        state_row(vm, &e);
        db_console_state_put(&cs->app->db, &e);
    }
}

void console_state_fini(struct console_state *cs)
{
    if (cs->app) {
        loop_timer_cancel(&cs->app->loop, &cs->tick);
        loop_timer_cancel(&cs->app->loop, &cs->pause);
    }
    detect_rules_free(cs->rules);
    cs->rules = NULL;
}
