/*
 * db_ports — the vms and ports tables (migration 0003). Plain data; ports.c decides.
 * Returns 0 or -errno (-ENOENT, -EEXIST, -EIO) unless said otherwise.
 */
#ifndef VSC_DB_PORTS_H
#define VSC_DB_PORTS_H

#include "db.h"
#include "ports.h"

/* Inserts the VM or revives a freed row with new name/host. */
int db_vm_activate(struct db *db, const struct vm *vm);
int db_vm_free(struct db *db, const char *uuid, int64_t now);
/* 1 = active, 0 = freed, -ENOENT = never allocated, -EIO. */
int db_vm_status(struct db *db, const char *uuid);

int db_port_insert(struct db *db, struct port *p, const char *vm_uuid); /* sets p->id */
int db_port_free(struct db *db, int64_t id, int64_t now);
int db_port_status(struct db *db, int64_t id); /* as db_vm_status */
int db_port_update(struct db *db, const struct port *p);

/* Calls cb for every active VM / port in ascending order; stops on a non-zero return (and
 * returns it). -EIO when the table cannot be read to its end (a damaged page). */
int db_vms_each(struct db *db, int (*cb)(void *ctx, const struct vm *vm), void *ctx);
/* One VM, active or freed (*freed_at 0 when active). */
int db_vm_get(struct db *db, const char *uuid, struct vm *vm, int64_t *freed_at);
/* Every VM the service ever had, freed ones too, oldest first. */
int db_vms_ever_each(struct db *db, int (*cb)(void *ctx, const struct vm *vm, int64_t freed_at),
                     void *ctx);
int db_ports_each(struct db *db, int (*cb)(void *ctx, const struct port *p, const char *vm_uuid),
                  void *ctx);

#endif
