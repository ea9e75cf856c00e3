/*
 * db_console — the console_state_rules and console_log tables (migration 0005) and
 * console_states (0007). Plain
 * data; console_state.c decides what they mean.
 * Functions return 0, -ENOENT (no such row), -EEXIST (the rule id is taken) or -EIO.
 */
#ifndef VSC_DB_CONSOLE_H
#define VSC_DB_CONSOLE_H

#include "db.h"

#include <jansson.h>

/* An administrator's detector rule as stored. */
struct db_state_rule {
    char id[65];
    char pattern[257];
    char state[16]; /* vm_state_name() */
    int64_t created_at;
    char created_by[65];
};

int db_state_rule_insert(struct db *db, const struct db_state_rule *rule);
int db_state_rule_delete(struct db *db, const char *id);
/* Every rule in the order added; stops on a non-zero return of cb (returned). */
int db_state_rules_each(struct db *db, int (*cb)(void *ctx, const struct db_state_rule *rule),
                        void *ctx);

/* One detected state change (a LogEntry of the VM's console LogService). */
struct db_console_entry {
    int64_t id;
    char vm_uuid[37];
    int port_idx;
    int64_t created_us;
    char state[16], previous[16];
    char rule_id[65];
    char line[512];
    json_t *before; /* array of strings (owned) */
    json_t *after;  /* array of strings, or NULL while not collected (owned) */
};

void db_console_entry_fini(struct db_console_entry *e);

/* Inserts (sets e->id), then keeps the newest `keep` entries of the VM. */
int db_console_entry_insert(struct db *db, struct db_console_entry *e, int64_t keep);
int db_console_entry_set_after(struct db *db, int64_t id, const json_t *after);
/* Loads one entry of a VM (fills *e; db_console_entry_fini() it). */
int db_console_entry_get(struct db *db, const char *vm_uuid, int64_t id,
                         struct db_console_entry *e);
/* The VM's entries, oldest first (latest_only: only the newest one); cb's `e` is borrowed. */
int db_console_entries_each(struct db *db, const char *vm_uuid, bool latest_only,
                            int (*cb)(void *ctx, const struct db_console_entry *e), void *ctx);
/* Entry ids of the VM, oldest first, from the skip-th on, into ids (at most max); the count
 * or -EIO. */
int db_console_entry_ids(struct db *db, const char *vm_uuid, size_t skip, int64_t *ids, size_t max);
/* How many entries the VM has: 0 or -EIO. */
int db_console_entry_count(struct db *db, const char *vm_uuid, int64_t *n);
int db_console_entries_clear(struct db *db, const char *vm_uuid);
/* Drops entries created before `before_us` (the age cap). The number dropped or -EIO. */
int db_console_entries_expire(struct db *db, int64_t before_us);

/* A VM's current state, kept apart from its entries (ClearLog and the caps leave it):
 * put stores e's vm_uuid, port_idx, created_us (the state's time), state, rule_id and line;
 * get fills those (before and after stay NULL). */
int db_console_state_put(struct db *db, const struct db_console_entry *e);
int db_console_state_get(struct db *db, const char *vm_uuid, struct db_console_entry *e);
/* Forgets a VM's state: 0 (also when none was kept) or -EIO. */
int db_console_state_delete(struct db *db, const char *vm_uuid);

#endif
