/*
 * db_checkpoint — the database's checkpoints on a thread of their own.
 *
 * In WAL mode a commit appends pages to the write-ahead log, and a checkpoint copies them
 * into the database file and syncs both. SQLite runs that checkpoint in the connection whose
 * commit took the log past 1000 pages: vscd's loop thread, which then writes up to 4 MiB and
 * waits for two fdatasync() calls while every console and client waits behind it (1–2 ms on
 * this machine's disk, far longer on a BMC's eMMC or a busy disk).
 *
 * db_checkpoints_start() turns that off for the loop's connection and gives the work to one
 * thread with a connection of its own, woken when a commit leaves `pages` or more in the log.
 * Its checkpoints are PASSIVE: they never wait for a lock, and the loop's readers and writer
 * never wait for them (WAL lets both run at once). Durability is unchanged (synchronous =
 * NORMAL on both connections). One sync stays in the loop: SQLite's of a new log's header,
 * when the first commit after a complete checkpoint starts the log over (a few bytes, once
 * per log). If the log keeps growing because checkpoints fail, the failure is logged once
 * per spell, and SQLite's closing checkpoint still runs at exit.
 */
#ifndef VSC_DB_CHECKPOINT_H
#define VSC_DB_CHECKPOINT_H

#include <stdint.h>

struct db;

/* Opens the second connection to `path` (the file db has open) and starts the thread.
 * 0, or -1 with SQLite's own checkpoints left as they were (logged). */
int db_checkpoints_start(struct db *db, const char *path, int pages);

/* Wakes and joins the thread and closes its connection; SQLite's automatic checkpoints
 * come back. Harmless when not started. db_close() calls it. */
void db_checkpoints_stop(struct db *db);

/* Checkpoints the thread has run so far (0 when not started). */
uint64_t db_checkpoints_done(struct db *db);

#endif
