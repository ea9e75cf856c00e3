/*
 * tls_front — terminates TLS for the HTTPS port inside vscd's own loop and hands each
 * connection's plaintext to libmicrohttpd through a socketpair (MHD_add_connection).
 *
 * Why not MHD's own TLS: libmicrohttpd 0.9.75 (Debian 12) gives a TLS connection that
 * was upgraded (our console WebSockets) an 8-byte forwarding buffer, so a console
 * streamed at ~0.1 MB/s (ADR 0002). Here every connection gets 16 KiB buffers each way
 * and libmicrohttpd only ever sees plain HTTP, upgraded or not.
 *
 * Contract:
 * - Single-threaded, non-blocking; never waits on a peer. Each direction holds at most
 *   one TLS record (16 KiB) in flight: when the other side does not take it, this side
 *   stops reading (back-pressure reaches the sender through TCP), nothing grows. An
 *   adopted connection's records wait in the WebSocket's buffer instead, bounded there.
 * - Limits and timeouts stay libmicrohttpd's: the connection is added to it at accept
 *   time (connection and per-address limits, idle timeout, the real client address).
 *   When libmicrohttpd closes its end, the TLS connection is closed after what it wrote
 *   was sent (bounded by TLS_FRONT_LINGER_MS).
 */
#ifndef VSC_TLS_FRONT_H
#define VSC_TLS_FRONT_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct loop;
struct MHD_Daemon;
struct tls_front;

#define TLS_FRONT_LINGER_MS       5000
#define TLS_FRONT_ACCEPT_PAUSE_MS 250 /* out of descriptors: the listener waits */

/*
 * Listens on `addr` and serves TLS with the PEM certificate chain and key, forwarding to
 * `mhd` (a daemon started with MHD_USE_NO_LISTEN_SOCKET). Returns NULL with errno set.
 */
struct tls_front *tls_front_start(struct loop *loop, struct MHD_Daemon *mhd,
                                  const struct sockaddr *addr, socklen_t addrlen,
                                  const char *cert_pem, const char *key_pem,
                                  const char *priorities);

/* Closes the listener and every connection. NULL is fine. */
void tls_front_stop(struct tls_front *f);

/* New connections use this certificate and key from now on; open ones keep theirs.
 * 0, or -1 (logged) with the old ones kept. */
int tls_front_reload(struct tls_front *f, const char *cert_pem, const char *key_pem);

/*
 * A WebSocket takes a connection over after libmicrohttpd upgraded it: from then on its
 * bytes go straight between the WebSocket and the TLS session (one send per batch, no
 * socketpair hop). `mhd_fd` is the upgraded socket libmicrohttpd handed over. What was
 * still in flight is kept in order: libmicrohttpd's 101 answer is sent first, and client
 * bytes libmicrohttpd had not read come back in *extra (malloc'd; after its own extra).
 * NULL when `mhd_fd` is not one of ours (plain HTTP) or cannot be taken over; the
 * socketpair path then keeps working.
 */
struct tls_conn;
struct tls_conn *tls_front_adopt(struct tls_front *f, int mhd_fd, uint8_t **extra,
                                 size_t *extra_len);

/*
 * The adopted stream (see ws_io_ops in ws.h). From tls_conn_attach() on, every record
 * gnutls writes (those tls_conn_seal() makes, and any answer a read makes it owe) goes to
 * `sink` instead of the socket: the WebSocket sends them with its own bytes' policy, in
 * the loop's send batch. tls_conn_detach() gives the socket back before release: `unsent`
 * is what the sink got and the socket has not taken (tried once; when it does not all
 * go, no close_notify follows a torn record).
 */
int tls_conn_fd(const struct tls_conn *c);
ssize_t tls_conn_recv(void *io, void *buf, size_t len);
void tls_conn_attach(void *io, int (*sink)(void *arg, const void *data, size_t len), void *arg);
ssize_t tls_conn_seal(void *io, const void *data, size_t len); /* len, or -1 (EIO) */
void tls_conn_detach(void *io, const void *unsent, size_t len);

/* The WebSocket is done: sends what is queued (best effort), close_notify, closes. */
void tls_front_release(struct tls_conn *c);

#endif
