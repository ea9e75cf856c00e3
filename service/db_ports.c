#include "db_ports.h"

#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int finish(struct db *db, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    int ext = sqlite3_extended_errcode(db->sql);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
        return -EEXIST;
    db_error(db, ext, what);
    return -EIO;
}

int db_vm_activate(struct db *db, const struct vm *vm)
{
    sqlite3_stmt *st = db_stmt(db, "INSERT INTO vms (uuid, name, host_name, created_at) "
                                   "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (uuid) DO UPDATE SET "
                                   "name = excluded.name, host_name = excluded.host_name, "
                                   "created_at = excluded.created_at, freed_at = NULL");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, vm->uuid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, vm->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, vm->host_name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, vm->created_at);
    return finish(db, st, "vm insert");
}

int db_vm_free(struct db *db, const char *uuid, int64_t now)
{
    sqlite3_stmt *st = db_stmt(db, "UPDATE vms SET freed_at = ?2 WHERE uuid = ?1");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    return finish(db, st, "vm free");
}

static int status_query(struct db *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    int status = rc == SQLITE_ROW ? sqlite3_column_type(st, 0) == SQLITE_NULL : -ENOENT;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        log_error("database: status: %s", sqlite3_errmsg(db->sql));
        return -EIO;
    }
    return status;
}

int db_vm_status(struct db *db, const char *uuid)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT freed_at FROM vms WHERE uuid = ?1");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
    return status_query(db, st);
}

int db_port_status(struct db *db, int64_t id)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT freed_at FROM ports WHERE id = ?1");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    return status_query(db, st);
}

int db_port_insert(struct db *db, struct port *p, const char *vm_uuid)
{
    sqlite3_stmt *st = db_stmt(
        db, "INSERT INTO ports (vm_uuid, idx, com_port, label, backend, bind_path, enabled, "
            "bit_rate, data_bits, parity, stop_bits, flow_control, created_at) VALUES "
            "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, strftime('%s','now'))");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, vm_uuid, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, p->idx);
    sqlite3_bind_text(st, 3, p->com_port, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, p->label, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, backend_name(p->kind), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, p->bind_path, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 7, p->enabled);
    sqlite3_bind_int64(st, 8, p->line.bit_rate);
    sqlite3_bind_int(st, 9, p->line.data_bits);
    sqlite3_bind_text(st, 10, p->line.parity, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 11, p->line.stop_bits);
    sqlite3_bind_text(st, 12, p->line.flow_control, -1, SQLITE_STATIC);
    int rc = finish(db, st, "port insert");
    if (rc == 0)
        p->id = sqlite3_last_insert_rowid(db->sql);
    return rc;
}

int db_port_free(struct db *db, int64_t id, int64_t now)
{
    sqlite3_stmt *st = db_stmt(db, "UPDATE ports SET freed_at = ?2 WHERE id = ?1");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    return finish(db, st, "port free");
}

int db_port_update(struct db *db, const struct port *p)
{
    sqlite3_stmt *st = db_stmt(db, "UPDATE ports SET enabled = ?2, bit_rate = ?3, data_bits = ?4, "
                                   "parity = ?5, stop_bits = ?6, flow_control = ?7, "
                                   "bind_path = ?8 WHERE id = ?1");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, p->id);
    sqlite3_bind_int(st, 2, p->enabled);
    sqlite3_bind_int64(st, 3, p->line.bit_rate);
    sqlite3_bind_int(st, 4, p->line.data_bits);
    sqlite3_bind_text(st, 5, p->line.parity, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 6, p->line.stop_bits);
    sqlite3_bind_text(st, 7, p->line.flow_control, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, p->bind_path, -1, SQLITE_STATIC);
    return finish(db, st, "port update");
}

/* The end of a scan: 0 when it read every row (SQLITE_DONE), else -EIO (logged). A scan cut
 * short by a damaged page must not pass for the whole table: at start the ports it missed
 * would be taken for strays and their published paths removed. */
static int done_or_error(struct db *db, int rc, const char *what)
{
    if (rc == SQLITE_DONE)
        return 0;
    log_error("database: %s: %s", what, sqlite3_errmsg(db->sql));
    return -EIO;
}

static const char *text(sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    return s ? s : "";
}

int db_vms_each(struct db *db, int (*cb)(void *ctx, const struct vm *vm), void *ctx)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT uuid, name, host_name, created_at FROM vms "
                                   "WHERE freed_at IS NULL ORDER BY created_at, uuid");
    if (!st)
        return -EIO;
    int rc, stop = 0;
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct vm vm = {.created_at = sqlite3_column_int64(st, 3)};
        snprintf(vm.uuid, sizeof(vm.uuid), "%s", text(st, 0));
        snprintf(vm.name, sizeof(vm.name), "%s", text(st, 1));
        snprintf(vm.host_name, sizeof(vm.host_name), "%s", text(st, 2));
        stop = cb(ctx, &vm);
    }
    sqlite3_reset(st);
    return stop ? stop : done_or_error(db, rc, "reading the VMs");
}

static void vm_from_row(sqlite3_stmt *st, struct vm *vm, int64_t *freed_at)
{
    memset(vm, 0, sizeof(*vm));
    vm->created_at = sqlite3_column_int64(st, 3);
    snprintf(vm->uuid, sizeof(vm->uuid), "%s", text(st, 0));
    snprintf(vm->name, sizeof(vm->name), "%s", text(st, 1));
    snprintf(vm->host_name, sizeof(vm->host_name), "%s", text(st, 2));
    *freed_at = sqlite3_column_int64(st, 4);
}

int db_vm_get(struct db *db, const char *uuid, struct vm *vm, int64_t *freed_at)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT uuid, name, host_name, created_at, freed_at "
                                   "FROM vms WHERE uuid = ?1");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        vm_from_row(st, vm, freed_at);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : -EIO;
}

int db_vms_ever_each(struct db *db, int (*cb)(void *ctx, const struct vm *vm, int64_t freed_at),
                     void *ctx)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT uuid, name, host_name, created_at, freed_at FROM vms "
                                   "ORDER BY created_at, uuid");
    if (!st)
        return -EIO;
    int rc, stop = 0;
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct vm vm;
        int64_t freed_at;
        vm_from_row(st, &vm, &freed_at);
        stop = cb(ctx, &vm, freed_at);
    }
    sqlite3_reset(st);
    return stop ? stop : rc == SQLITE_DONE ? 0 : -EIO;
}

int db_ports_each(struct db *db, int (*cb)(void *ctx, const struct port *p, const char *vm_uuid),
                  void *ctx)
{
    sqlite3_stmt *st = db_stmt(db, "SELECT id, vm_uuid, idx, com_port, label, backend, bind_path, "
                                   "enabled, bit_rate, data_bits, parity, stop_bits, flow_control "
                                   "FROM ports WHERE freed_at IS NULL ORDER BY id");
    if (!st)
        return -EIO;
    int rc, stop = 0;
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct port p = {.id = sqlite3_column_int64(st, 0), .idx = sqlite3_column_int(st, 2)};
        snprintf(p.com_port, sizeof(p.com_port), "%s", text(st, 3));
        snprintf(p.label, sizeof(p.label), "%s", text(st, 4));
        if (backend_parse(text(st, 5), &p.kind) < 0)
            p.kind = BACKEND_PTY;
        snprintf(p.bind_path, sizeof(p.bind_path), "%s", text(st, 6));
        p.enabled = sqlite3_column_int(st, 7) != 0;
        p.line.bit_rate = sqlite3_column_int64(st, 8);
        p.line.data_bits = sqlite3_column_int(st, 9);
        snprintf(p.line.parity, sizeof(p.line.parity), "%s", text(st, 10));
        p.line.stop_bits = sqlite3_column_int(st, 11);
        snprintf(p.line.flow_control, sizeof(p.line.flow_control), "%s", text(st, 12));
        char uuid[37];
        snprintf(uuid, sizeof(uuid), "%s", text(st, 1));
        stop = cb(ctx, &p, uuid);
    }
    sqlite3_reset(st);
    return stop ? stop : done_or_error(db, rc, "reading the ports");
}
