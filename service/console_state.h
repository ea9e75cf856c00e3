/*
 * console_state — what each VM's console says about it: a state detector per port
 * (state_detect.h) fed with everything the port prints, the VM's state derived from it,
 * and what follows a change: a LogEntry in the VM's console LogService (db_console.h),
 * Redfish events, and the ComputerSystem's Status / BootProgress (docs/console-states.md).
 *
 * Contract:
 * - The rules are the built-ins plus the administrators' rules (SQLite), loaded at start
 *   and changed through console_state_rule_add()/_remove(): the database first, then the
 *   detectors follow at once.
 * - A VM's state is the last change any of its ports reported; it survives restarts (the
 *   console_states table, written with each LogEntry and, for a change the budget still
 *   holds back, at shutdown). A VM allocated again (a freed VMUUID) starts Unknown.
 * - Bounded: at most CONSOLE_STATE_BURST LogEntries and events per VM at once, refilled at
 *   one per second. A console that flips states faster still has its current state shown
 *   on the ComputerSystem; the changes in between are counted (`suppressed`), not logged,
 *   and the newest state is logged once the budget allows. A panic after a non-panic is
 *   always logged.
 * - Entries kept: `console_log_entries` per VM, and none older than `history_max_age`.
 */
#ifndef VSC_CONSOLE_STATE_H
#define VSC_CONSOLE_STATE_H

#include "loop.h"
#include "state_detect.h"

#include <stdbool.h>
#include <stdint.h>

#define CONSOLE_STATE_BURST     20
#define CONSOLE_STATE_QUIET_MS  1000 /* a panic's following lines end after this much quiet */
#define CONSOLE_STATE_TICK_MS   1000
#define CONSOLE_STATE_PAUSE_MS  50 /* a partial line (a prompt) is matched after this quiet */
#define CONSOLE_STATE_LINE_MAX  DETECT_LINE_MAX /* the line shown on the ComputerSystem */
#define CONSOLE_STATE_RULES_MAX 64              /* administrator rules */

struct vsc_app;
struct vm;
struct port;

/* A VM's console-derived state (in struct vm). */
struct vm_console_state {
    enum vm_state state;
    int64_t since_us; /* when it was detected (0: never) */
    int port_idx;     /* the port whose console told */
    char rule_id[65];
    char line[CONSOLE_STATE_LINE_MAX];
    enum vm_state logged; /* the state of the newest LogEntry */
    double tokens;        /* LogEntry/event budget (see the contract) */
    int64_t refilled_us;
    uint64_t suppressed; /* changes not logged because the budget was spent */
};

/* A port's detector (in struct port). */
struct port_console_state {
    struct detector detector;
    int64_t last_output_us;
    int64_t panic_entry_id; /* the LogEntry waiting for the lines after its panic (0: none) */
};

struct console_state {
    struct vsc_app *app;
    struct detect_rules *rules;
    struct loop_timer tick;
    struct loop_timer pause; /* armed while some port's partial line waits for a pause */
    int64_t last_expiry_us;
};

/* Loads the rules (built-ins and the database's); before ports_init(). 0 or -1 (logged). */
int console_state_init(struct console_state *cs, struct vsc_app *app);
/* After ports_init(): restores each VM's state as last stored, starts the timer. */
void console_state_start(struct console_state *cs);
/* At shutdown, before ports_fini(): stores the state of each VM whose latest change the
 * LogEntry budget still holds back (the tick would have logged it within a second), so that
 * a restart shows what the console last said. No LogEntry, no event: they were counted. */
void console_state_save(struct console_state *cs);
void console_state_fini(struct console_state *cs);

/* For ports.c, inside the allocation's transaction: a VM allocated (again: a freed VMUUID)
 * starts Unknown, and so must it after a restart; the state stored in its earlier life goes.
 * 0 or -EIO. */
int console_state_vm_allocated(struct console_state *cs, const struct vm *vm);

/* For ports.c: a port came, prints, goes. */
void console_state_port_init(struct port *p);
void console_state_port_output(struct port *p, const void *data, size_t len);
/* The port's private mode ended: the lines its detector kept from that output are dropped,
 * never to reach a LogEntry (docs/SECURITY.md). */
void console_state_port_private_ended(struct port *p);
void console_state_port_fini(struct port *p);

/*
 * Administrator rules. add: 0, -EINVAL (err says why), -EEXIST (a rule with that id
 * exists: built-in, or an administrator's), -ENOSPC, -EIO. remove: 0, -ENOENT, -EPERM
 * (built-in), -EIO.
 */
int console_state_rule_add(struct console_state *cs, const char *id, const char *pattern,
                           enum vm_state state, const char *by, char *err, size_t errsz);
int console_state_rule_remove(struct console_state *cs, const char *id);

/* Redfish's view of a state: Status.State, Status.Health, PowerState, BootProgress. */
struct vm_state_view {
    const char *status_state, *health, *power_state, *boot_last_state, *boot_oem_state;
};
void console_state_view(enum vm_state state, struct vm_state_view *out);

#endif
