/*
 * console — one serial console's byte streams, knowing nothing of HTTP or of the
 * backend behind it.
 *
 * Output (VM -> users): every byte goes into the ring; readers (local sockets now,
 * WebSockets later) keep their own offset and are notified when bytes arrive. A reader
 * that falls a whole ring behind skips ahead and is told how many bytes it missed; a
 * reader never slows the console or another reader.
 *
 * Input (users -> VM): console_input() queues bytes in a bounded buffer that the backend
 * drains when its fd is writable (EAGAIN and partial writes just wait). All or nothing:
 * when the bytes do not fit, nothing is queued and the writer is told (-ENOSPC); when
 * the VM side is not connected, input is refused (-ENOTCONN). Never silently dropped.
 *
 * Modes (docs/console-protocol.md, "Modes"): every reader carries an identity (user name,
 * the rights port_rights() gave it, whether it is the local socket). In free use every
 * reader with PORT_RIGHT_CONTROL may type; in observe-only and private the mode's holder
 * alone types; in private the holder alone receives output. Output written while a port
 * is private is remembered as offset ranges (bounded, dropped once older than the ring's
 * tail and every reader's offset) and console_peek() skips them for every reader but the
 * holder's, live and in history replay, also after the mode ended; a reader that fell a
 * ring behind is told as missed only the bytes it could have seen. The core decides;
 * callers supply rights (port_rights()) and tell their clients what happened (the `mode`
 * callback).
 */
#ifndef VSC_CONSOLE_H
#define VSC_CONSOLE_H

#include "ring.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONSOLE_INPUT_MAX      (64 * 1024)
#define CONSOLE_USER_MAX       65 /* user names: 64 bytes and the NUL */
#define CONSOLE_PRIVATE_RANGES 32 /* private output ranges remembered per console */

struct console;

enum console_mode { CONSOLE_FREE, CONSOLE_OBSERVE, CONSOLE_PRIVATE };

struct console_reader {
    uint64_t offset; /* next byte to deliver (absolute) */
    uint64_t missed; /* bytes skipped so far because the reader fell behind */
    void (*notify)(struct console_reader *r); /* new bytes or a state change */
    /* The port's mode changed (c->mode, c->holder, c->changed_by, c->forced); may be NULL. */
    void (*mode)(struct console_reader *r);
    void *data;
    /* Identity: who reads, with which rights (enum port_right), refreshed by the owner. */
    char user[CONSOLE_USER_MAX];
    uint32_t rights;
    bool local; /* the host's local socket: never holds a mode, never sees private output */
    struct console_reader *next;
};

/* Output written while the port was private to `holder`: offsets [start, end). */
struct console_private_range {
    uint64_t start, end;
    char holder[CONSOLE_USER_MAX]; /* "" after merging: nobody's (hidden from all) */
};

struct console {
    struct ring ring;
    uint64_t shown; /* readers see the ring up to here: its head as of the last notify */
    struct console_reader *readers;
    uint8_t *input;
    size_t input_len, input_cap;
    bool connected;                         /* the VM side is present: input is accepted */
    void (*input_ready)(struct console *c); /* the backend should drain the input queue */
    void *owner;
    uint64_t bytes_from_vm, bytes_to_vm;
    uint64_t slow_readers_dropped; /* readers disconnected past the hard limit */
    enum console_mode mode;
    char holder[CONSOLE_USER_MAX];     /* who holds observe-only or private ("" in free use) */
    char changed_by[CONSOLE_USER_MAX]; /* who made the last mode change */
    bool forced;                       /* the last change overrode another user's mode */
    const char *reason;                /* why the last change happened ("set", "released"...) */
    /* Before every mode change (may be NULL): the owner stores output the VM already sent,
     * so that it is filed under the mode it was sent in. */
    void (*mode_changing)(struct console *c);
    /* After every mode change, once the readers were told (may be NULL): the owner's hook. */
    void (*mode_changed)(struct console *c);
    struct console_private_range priv[CONSOLE_PRIVATE_RANGES]; /* oldest first */
    size_t npriv;
};

int console_init(struct console *c, size_t ring_size);
void console_fini(struct console *c);

/* Bytes the VM printed: kept in the ring, and every reader told at once. */
void console_output(struct console *c, const void *data, size_t len);

/* The same, split for output batched in time: console_store() keeps the bytes (ring,
 * private ranges, counters) and tells nobody; console_notify() shows them to the readers
 * and tells every one. Until then console_peek() does not return them, whoever asks. */
void console_store(struct console *c, const void *data, size_t len);
void console_notify(struct console *c);
/* Bytes stored and not yet shown. */
uint64_t console_held(const struct console *c);

/* Queues input for the VM: 0, -ENOSPC (queue full), -ENOTCONN (no VM attached). */
int console_input(struct console *c, const void *data, size_t len);

/* For the backend: the queued input, and how much of it was written. */
size_t console_input_pending(const struct console *c, const uint8_t **data);
void console_input_consumed(struct console *c, size_t n);

/* The VM side came or went; going drops queued input (it was for that VM session). */
void console_set_connected(struct console *c, bool connected);

/* Attaches a reader that first receives up to `history` bytes already in the ring. */
void console_attach(struct console *c, struct console_reader *r, uint64_t history);
/* Detaches a reader; when it was the mode holder's last reader, the mode is released
 * (reason "holder left") and the remaining readers told. */
void console_detach(struct console *c, struct console_reader *r);

/* Next chunk for a reader (see ring_peek); advance with r->offset += n. Output the reader
 * may not see (private to another user, or no PORT_RIGHT_WATCH) is skipped silently. */
size_t console_peek(struct console *c, struct console_reader *r, const uint8_t **data, size_t max);

const char *console_mode_name(enum console_mode mode); /* "Free", "ObserveOnly", "Private" */
/* Parses a mode name: strict, exactly as console_mode_name() spells it (Redfish); else
 * case-insensitively, "observe" too (the WebSocket control message). 0 or -EINVAL. */
int console_mode_parse(const char *name, bool strict, enum console_mode *out);

/* Whether the reader receives output now. */
bool console_reader_sees(const struct console *c, const struct console_reader *r);

/*
 * Whether `user` with `rights` may type now: 0, -EACCES (no PORT_RIGHT_CONTROL), -EBUSY
 * (another user holds observe-only or private; `local` readers never hold one).
 */
int console_may_input(const struct console *c, const char *user, uint32_t rights, bool local);

/* console_may_input(), then console_input(): 0 or the first refusal (-EACCES, -EBUSY,
 * -ENOTCONN, -ENOSPC). */
int console_send_input(struct console *c, const char *user, uint32_t rights, bool local,
                       const void *data, size_t len);

/* The notice text for a refused input (uses buf for texts naming the holder). */
const char *console_refusal_text(int rc, const struct console *c, char *buf, size_t bufsz);

/*
 * Sets the port's mode on behalf of `user` (with `rights`). Free releases; observe-only and
 * private are taken by `user`. Taking or releasing a mode another user holds needs `force`
 * and PORT_RIGHT_FORCE. Returns 1 when the mode changed (every reader's `mode` callback
 * has run), 0 when it was already so, -EPERM (missing right: observe, private, or force),
 * -EBUSY (another user holds a mode and `force` was not asked).
 */
int console_set_mode(struct console *c, enum console_mode mode, const char *user, uint32_t rights,
                     bool force);
/* What console_set_mode() would answer, changing nothing: 0, -EPERM or -EBUSY. */
int console_mode_check(const struct console *c, enum console_mode mode, const char *user,
                       uint32_t rights, bool force);

/*
 * An account was renamed to `now`, or deleted (`now` NULL; `by` did it). Readers, the
 * mode and the output private to `old` follow a rename (reason "holder renamed"); on a
 * deletion that output becomes nobody's and a mode `old` held is released ("holder
 * deleted"), so that a new account of the old name inherits neither.
 */
void console_user_renamed(struct console *c, const char *old, const char *now, const char *by);

/* The holder no longer has the right its mode needs (a role or an access rule changed, by
 * `by`): the mode is released, reason "holder lost the right". */
void console_holder_lost_right(struct console *c, const char *by);

/* Whether a reader (other than `except`) of `user` is attached. */
bool console_user_attached(const struct console *c, const char *user,
                           const struct console_reader *except);

#endif
