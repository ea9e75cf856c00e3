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
 *   stops reading (back-pressure reaches the sender through TCP), nothing grows.
 * - Limits and timeouts stay libmicrohttpd's: the connection is added to it at accept
 *   time (connection and per-address limits, idle timeout, the real client address).
 *   When libmicrohttpd closes its end, the TLS connection is closed after what it wrote
 *   was sent (bounded by TLS_FRONT_LINGER_MS).
 */
#ifndef VSC_TLS_FRONT_H
#define VSC_TLS_FRONT_H

#include <sys/socket.h>

struct loop;
struct MHD_Daemon;
struct tls_front;

#define TLS_FRONT_LINGER_MS 5000

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

#endif
