/*
 * http — libmicrohttpd in external-epoll mode inside vscd's loop (docs/adr/0001).
 * Collects each request (headers, query, a body bounded by max_body_bytes), hands it
 * to dispatch(), and queues the response. TLS (GnuTLS, TLS 1.2+) unless the operator
 * asked for plain HTTP on a loopback address.
 */
#ifndef VSC_HTTP_H
#define VSC_HTTP_H

struct vsc_app;

/* Starts serving on app->cfg.listen. Returns 0 or -1 (logged). */
int http_start(struct vsc_app *app);
void http_stop(struct vsc_app *app);
/* Reads the certificate and key files again (SIGHUP): new connections use them, open ones
 * keep theirs. 0, -ENOTSUP (plain HTTP), -EINVAL (unreadable or not a pair: the old ones
 * stay; logged). */
int http_reload_tls(struct vsc_app *app);

/* Parses "host:port" / "[v6]:port" into a sockaddr; true when it is a loopback address. */
struct sockaddr_storage;
int http_parse_listen(const char *listen, struct sockaddr_storage *ss, unsigned *len,
                      int *is_loopback);

/* The listen setting parsed, and insecure_http allowed on it (loopback only): 0, or -1
 * with the reason logged. */
struct vsc_config;
int http_listen_address(const struct vsc_config *cfg, struct sockaddr_storage *ss, unsigned *len);

#endif
