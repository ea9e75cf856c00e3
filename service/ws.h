/*
 * ws — the server side of one WebSocket (RFC 6455) over a socket that the HTTP layer
 * already upgraded: wslay does the framing, the loop watches the fd, and this file knows
 * nothing of libmicrohttpd (http.c hands over the fd and an opaque release function).
 *
 * Contract:
 * - Single-threaded, non-blocking: reads and writes happen when epoll says so; a slow
 *   client only grows this connection's send queue, which its owner bounds (ws_queued).
 *   A fast one is read 64 KiB per turn of the loop at most, so it never holds up the rest.
 *   While 1 MiB waits for the peer it is not read at all: what ws.c answers by itself
 *   (pongs) cannot pile up behind a client that sends and never reads.
 * - The owner gets complete messages (at most `max_msg` bytes; larger ones close the
 *   connection with 1009), a `writable` call when the send queue drained, and one
 *   `closed` call when the connection ended by itself (peer close, error, timeout).
 *   `closed` is never called from inside ws_send() or ws_close().
 * - ws_close() is the owner letting go: no callbacks afterwards; the close handshake
 *   finishes (or times out) on its own and the transport is released.
 */
#ifndef VSC_WS_H
#define VSC_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct loop;
struct ws_conn;

#define WS_ACCEPT_LEN 28 /* base64 of a SHA-1 digest */

enum { WS_GOING_AWAY = 1001, WS_POLICY = 1008, WS_TOO_BIG = 1009 };

struct ws_ops {
    void (*message)(void *owner, bool binary, const uint8_t *data, size_t len);
    void (*writable)(void *owner);
    void (*closed)(void *owner);
};

/*
 * A stream that transforms bytes on the socket (TLS, ADR 0002). `recv` is like recv(2)
 * (-1 with errno; EAGAIN: try when `fd` is ready). Outgoing bytes are sealed, not sent:
 * from `attach` (at ws_open) on, the stream writes everything it has for the socket
 * through `sink` (into ws.c's buffer: 0, or -1 when out of memory), and ws.c sends it as
 * it sends a plain socket's bytes, in the loop's send batch. `seal` turns `len` bytes
 * into records (len, or -1: the stream is broken). `detach`, just before release, gives
 * the socket back with what ws.c could not send yet.
 */
struct ws_io_ops {
    ssize_t (*recv)(void *io, void *buf, size_t len);
    void (*attach)(void *io, int (*sink)(void *arg, const void *data, size_t len), void *arg);
    ssize_t (*seal)(void *io, const void *data, size_t len);
    void (*detach)(void *io, const void *unsent, size_t len);
};

/* The upgraded byte stream, from the HTTP layer. */
struct ws_transport {
    int fd;                         /* what the loop watches */
    const struct ws_io_ops *io_ops; /* NULL: a plain socket */
    void *io;
    const void *extra; /* bytes the HTTP layer read past the request (copied) */
    size_t extra_len;
    void (*release)(void *handle); /* closes the stream; called exactly once */
    void *handle;
};

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key; -1 if the key is not 16 bytes in base64. */
int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1]);

/* Takes over the transport (released on failure too). NULL on failure. */
struct ws_conn *ws_open(struct loop *loop, const struct ws_transport *t, size_t max_msg,
                        const struct ws_ops *ops, void *owner);

/* Queues one message (copied). 0, -EPIPE (closing) or -ENOMEM. What is queued during one
 * loop iteration goes out together at its end (loop_defer): one write, not one per frame. */
int ws_send(struct ws_conn *ws, bool binary, const void *data, size_t len);
int ws_send_text(struct ws_conn *ws, const char *text);

/* The peer types on this connection: from now on small frames leave at once instead of
 * waiting, by Nagle's rule, for the ACK of what was sent before (TCP_NODELAY), so its
 * echo is not held back a round trip, or a client's delayed ACK (up to 200 ms). Only the
 * typist's socket: the watchers' output keeps coalescing while an ACK is outstanding,
 * which is fewer packets for the same bytes at fan-out. Once per connection.
 * (bench/echo.py: 42 ms echoes while the console prints, 0.6 ms with it.) */
void ws_interactive(struct ws_conn *ws);

/* Bytes queued for sending and not yet written to the socket. */
size_t ws_queued(const struct ws_conn *ws);

/* The owner lets go (see above). */
void ws_close(struct ws_conn *ws, uint16_t code, const char *reason);

/* Ends the connection now (the service stops): a best-effort close frame, then release.
 * The owner is called back (`closed`) first unless it already let go. */
void ws_abort(struct ws_conn *ws, uint16_t code);

#endif
