#include "tls_front.h"

#include "log.h"
#include "loop.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define RECORD_MAX 16384 /* one TLS record of plaintext */

/* A certificate and key in use: the front holds one reference to the current one, each
 * connection one to those it was made with, so a reload never frees what a live session
 * still uses. */
struct tls_creds {
    gnutls_certificate_credentials_t cred;
    unsigned refs;
};

static void creds_unref(struct tls_creds *c)
{
    if (c && --c->refs == 0) {
        gnutls_certificate_free_credentials(c->cred);
        free(c);
    }
}

struct tls_conn {
    struct tls_creds *creds;
    struct tls_front *front;
    gnutls_session_t session;
    struct loop_watch net; /* the client's TCP socket */
    struct loop_watch app; /* our end of the socketpair; libmicrohttpd has the other */
    struct loop_timer linger;
    bool handshaken;
    bool net_eof;    /* the client will send no more: the app side was shut for writing */
    bool app_eof;    /* libmicrohttpd closed its end: send what is left, then close */
    bool send_again; /* gnutls_record_send said EAGAIN: call it again with `out` */
    bool torn;       /* the stream ended inside a record: say nothing more */
    bool adopted;    /* a WebSocket took the TLS stream over (tls_front_adopt) */
    bool app_hup;    /* libmicrohttpd closed its end while `out` was full (linger runs) */
    bool progress;   /* a record went to the client since the last pump */
    /* Adopted: where gnutls writes records (the WebSocket sends them); NULL: the socket. */
    int (*sink)(void *arg, const void *data, size_t len);
    void *sink_arg;
    int mhd_fd;      /* libmicrohttpd's end of the socketpair */
    size_t inflight; /* bytes of `out` in the record gnutls is still sending */
    uint8_t *in;     /* RECORD_MAX: client -> libmicrohttpd, decrypted; freed once adopted */
    size_t in_len, in_off;
    uint8_t *out; /* RECORD_MAX: libmicrohttpd -> client, to encrypt; freed once adopted */
    size_t out_len;
    struct tls_conn *prev, *next;
};

struct tls_front {
    struct loop *loop;
    struct MHD_Daemon *mhd;
    struct loop_watch listener;
    struct loop_timer accept_again; /* out of descriptors: the listener waits */
    struct tls_creds *creds;        /* for new connections */
    gnutls_priority_t prio;
    struct tls_conn *conns;
};

static void conn_free(struct tls_conn *c)
{
    struct tls_front *f = c->front;
    if (c->prev)
        c->prev->next = c->next;
    else
        f->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    loop_timer_cancel(f->loop, &c->linger);
    if (c->net.active)
        loop_del(f->loop, &c->net);
    if (c->app.active)
        loop_del(f->loop, &c->app);
    gnutls_deinit(c->session);
    creds_unref(c->creds);
    free(c->in);
    free(c->out);
    close(c->net.fd);
    if (c->app.fd >= 0)
        close(c->app.fd);
    free(c);
}

static void on_linger(struct loop_timer *t)
{
    conn_free(t->data);
}

/* Client -> libmicrohttpd. Returns -1 when the connection must go. */
static int pump_in(struct tls_conn *c)
{
    for (;;) {
        while (c->in_off < c->in_len) {
            ssize_t n = send(c->app.fd, c->in + c->in_off, c->in_len - c->in_off, MSG_NOSIGNAL);
            if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -1;
            c->in_off += (size_t)n;
        }
        if (c->net_eof)
            return 0;
        ssize_t n = gnutls_record_recv(c->session, c->in, RECORD_MAX);
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            return 0;
        if (n == 0 || n == GNUTLS_E_PREMATURE_TERMINATION) {
            c->net_eof = true; /* libmicrohttpd sees the end of the request stream */
            shutdown(c->app.fd, SHUT_WR);
            return 0;
        }
        if (n < 0)
            return -1; /* renegotiation and every other error: we do not go on */
        c->in_len = (size_t)n;
        c->in_off = 0;
    }
}

/* Encrypts and sends `out`, a record at a time: 0 (all sent), -EAGAIN or -EIO. After
 * EAGAIN gnutls must be called again with the same record, so `inflight` remembers its
 * size while more bytes may be appended behind it. */
static int flush_out(struct tls_conn *c)
{
    while (c->out_len) {
        size_t n = c->send_again ? c->inflight : c->out_len;
        ssize_t w = gnutls_record_send(c->session, c->out, n);
        if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED) {
            c->send_again = true;
            c->inflight = n;
            return -EAGAIN;
        }
        if (w < 0)
            return -EIO;
        c->send_again = false;
        c->progress = true;
        memmove(c->out, c->out + w, c->out_len - (size_t)w);
        c->out_len -= (size_t)w;
    }
    return 0;
}

/* libmicrohttpd -> client. Returns -1 when the connection must go. */
static int pump_out(struct tls_conn *c)
{
    for (;;) {
        int rc = flush_out(c);
        if (rc == -EIO)
            return -1;
        if (rc == -EAGAIN || c->app_eof)
            return 0;
        ssize_t n = recv(c->app.fd, c->out, RECORD_MAX, 0);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        if (n == 0) {
            c->app_eof = true;
            return 0;
        }
        c->out_len = (size_t)n;
    }
}

/* A side with nothing to wait for leaves epoll, which would still report its hang-up
 * (EPOLLHUP cannot be masked) again and again while the other side is blocked. */
static int set_events(struct loop *loop, struct loop_watch *w, uint32_t events)
{
    if (!events) {
        if (w->active)
            loop_del(loop, w);
        w->events = 0;
        return 0;
    }
    if (!w->active) {
        w->events = events;
        return loop_add(loop, w);
    }
    return events == w->events ? 0 : loop_mod(loop, w, events);
}

/* Moves what can move both ways, then watches for what would let more move. */
static void pump(struct tls_conn *c)
{
    struct loop *loop = c->front->loop;
    if (!c->handshaken) {
        int rc = gnutls_handshake(c->session);
        if (rc < 0 && gnutls_error_is_fatal(rc)) {
            log_debug("tls: handshake failed: %s", gnutls_strerror(rc));
            conn_free(c);
            return;
        }
        if (rc < 0) {
            set_events(loop, &c->net, gnutls_record_get_direction(c->session) ? EPOLLOUT : EPOLLIN);
            set_events(loop, &c->app, EPOLLIN); /* libmicrohttpd may time out meanwhile */
            return;
        }
        c->handshaken = true;
    }
    if (pump_in(c) < 0 || pump_out(c) < 0) {
        conn_free(c);
        return;
    }
    if (c->app_eof && !c->out_len) {
        gnutls_bye(c->session, GNUTLS_SHUT_WR); /* best effort: never waits */
        conn_free(c);
        return;
    }
    if ((c->app_eof && !c->linger.armed) || (c->app_hup && c->progress))
        loop_timer_arm(loop, &c->linger, TLS_FRONT_LINGER_MS); /* a reader gets its time */
    c->progress = false;
    bool in_blocked = c->in_off < c->in_len; /* libmicrohttpd is not taking input */
    uint32_t net = (in_blocked || c->net_eof ? 0 : EPOLLIN) | (c->send_again ? EPOLLOUT : 0);
    uint32_t app = (c->out_len || c->app_eof ? 0 : EPOLLIN) | (in_blocked ? EPOLLOUT : 0);
    /* While the client takes nothing, `out` stays full and libmicrohttpd's end is not
     * read: its close (idle timeout) shows only as a hang-up, which starts the linger. */
    if (c->out_len && !c->app_eof && !c->app_hup)
        app |= EPOLLRDHUP;
    if (set_events(loop, &c->net, net) < 0 || set_events(loop, &c->app, app) < 0)
        conn_free(c);
}

static int on_net(struct loop_watch *w, uint32_t events)
{
    (void)events;
    pump(w->data);
    return LOOP_OK;
}

static int on_app(struct loop_watch *w, uint32_t events)
{
    struct tls_conn *c = w->data;
    if (!c->handshaken) {
        /* libmicrohttpd speaks only after a request: this is it closing (idle timeout) */
        conn_free(c);
        return LOOP_OK;
    }
    if ((events & (EPOLLRDHUP | EPOLLHUP)) && c->out_len && !c->app_hup) {
        c->app_hup = true; /* it closed: what it wrote waits no longer than the linger */
        loop_timer_arm(c->front->loop, &c->linger, TLS_FRONT_LINGER_MS);
    }
    pump(c);
    return LOOP_OK;
}

static int session_new(struct tls_front *f, int fd, gnutls_session_t *out)
{
    gnutls_session_t s;
    if (gnutls_init(&s, GNUTLS_SERVER | GNUTLS_NONBLOCK) < 0)
        return -1;
    if (gnutls_priority_set(s, f->prio) < 0 ||
        gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, f->creds->cred) < 0) {
        gnutls_deinit(s);
        return -1;
    }
    gnutls_certificate_server_set_request(s, GNUTLS_CERT_IGNORE);
    gnutls_transport_set_int(s, fd);
    gnutls_handshake_set_timeout(s, 0); /* libmicrohttpd's idle timeout covers it */
    *out = s;
    return 0;
}

/* A new client: its plaintext end goes to libmicrohttpd, which applies its limits. */
static void admit(struct tls_front *f, int fd, const struct sockaddr *peer, socklen_t peerlen)
{
    int sv[2];
    struct tls_conn *c = calloc(1, sizeof(*c));
    uint8_t *in = malloc(RECORD_MAX), *out = malloc(RECORD_MAX);
    if (!c || !in || !out ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
        free(in);
        free(out);
        free(c);
        close(fd);
        return;
    }
    c->in = in;
    c->out = out;
    c->mhd_fd = sv[1];
    if (MHD_add_connection(f->mhd, sv[1], peer, peerlen) != MHD_YES) {
        /* libmicrohttpd closed sv[1]: over a limit (logged by it) */
        close(sv[0]);
        close(fd);
        free(c->in);
        free(c->out);
        free(c);
        return;
    }
    if (session_new(f, fd, &c->session) < 0) {
        close(sv[0]); /* libmicrohttpd sees the end and drops its side */
        close(fd);
        free(c->in);
        free(c->out);
        free(c);
        return;
    }
    c->front = f;
    c->creds = f->creds;
    c->creds->refs++;
    c->net = (struct loop_watch){.fd = fd, .events = EPOLLIN, .cb = on_net, .data = c};
    c->app = (struct loop_watch){.fd = sv[0], .events = EPOLLIN, .cb = on_app, .data = c};
    c->linger = (struct loop_timer){.cb = on_linger, .data = c};
    c->next = f->conns;
    if (c->next)
        c->next->prev = c;
    f->conns = c;
    if (loop_add(f->loop, &c->net) < 0 || loop_add(f->loop, &c->app) < 0) {
        conn_free(c);
        return;
    }
    pump(c);
}

static void on_accept_again(struct loop_timer *t)
{
    struct tls_front *f = t->data;
    if (!f->listener.active && loop_add(f->loop, &f->listener) < 0)
        loop_timer_arm(f->loop, t, TLS_FRONT_ACCEPT_PAUSE_MS);
}

static int on_listener(struct loop_watch *w, uint32_t events)
{
    (void)events;
    struct tls_front *f = w->data;
    for (int i = 0; i < 64; i++) { /* then let the others run */
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd = accept4(w->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                break;
            /* The connection stays queued (EMFILE, ENFILE, ENOBUFS, ENOMEM): the level-
             * triggered listener would be called again at once, for ever. */
            log_warn("tls: accept: %s; accepting again in %d ms", strerror(errno),
                     TLS_FRONT_ACCEPT_PAUSE_MS);
            loop_del(f->loop, w);
            loop_timer_arm(f->loop, &f->accept_again, TLS_FRONT_ACCEPT_PAUSE_MS);
            break;
        }
        admit(f, fd, (struct sockaddr *)&peer, len);
    }
    return LOOP_OK;
}

static int listen_on(const struct sockaddr *addr, socklen_t addrlen)
{
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (addr->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, addr, addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Credentials for a PEM certificate (chain) and key; NULL (logged) when they do not fit. */
static struct tls_creds *creds_load(const char *cert_pem, const char *key_pem)
{
    gnutls_datum_t cert = {(unsigned char *)cert_pem, (unsigned)strlen(cert_pem)};
    gnutls_datum_t key = {(unsigned char *)key_pem, (unsigned)strlen(key_pem)};
    struct tls_creds *c = calloc(1, sizeof(*c));
    if (!c || gnutls_certificate_allocate_credentials(&c->cred) < 0) {
        free(c);
        return NULL;
    }
    c->refs = 1;
    int rc = gnutls_certificate_set_x509_key_mem(c->cred, &cert, &key, GNUTLS_X509_FMT_PEM);
    if (rc < 0) {
        log_error("tls: certificate or key rejected: %s", gnutls_strerror(rc));
        creds_unref(c);
        return NULL;
    }
    return c;
}

static int creds_new(struct tls_front *f, const char *cert_pem, const char *key_pem,
                     const char *priorities)
{
    f->creds = creds_load(cert_pem, key_pem);
    if (!f->creds || gnutls_priority_init(&f->prio, priorities, NULL) < 0)
        return -1;
    return 0;
}

int tls_front_reload(struct tls_front *f, const char *cert_pem, const char *key_pem)
{
    struct tls_creds *c = creds_load(cert_pem, key_pem);
    if (!c)
        return -1;
    creds_unref(f->creds); /* live connections keep theirs */
    f->creds = c;
    return 0;
}

/* ---- a WebSocket takes the stream over ------------------------------------------------ */

ssize_t tls_conn_recv(void *io, void *buf, size_t len)
{
    struct tls_conn *c = io;
    ssize_t n = gnutls_record_recv(c->session, buf, len);
    if (n >= 0)
        return n;
    if (n == GNUTLS_E_PREMATURE_TERMINATION)
        return 0;
    errno = n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED ? EAGAIN : EIO;
    return -1;
}

/* gnutls's output while a sink is attached: all of it, or an error (never EAGAIN, so a
 * record is never left half-written inside gnutls). */
static ssize_t push_to_sink(gnutls_transport_ptr_t ptr, const void *data, size_t len)
{
    struct tls_conn *c = ptr;
    if (c->sink(c->sink_arg, data, len) < 0) {
        gnutls_transport_set_errno(c->session, ENOMEM);
        return -1;
    }
    return (ssize_t)len;
}

static ssize_t push_to_socket(gnutls_transport_ptr_t ptr, const void *data, size_t len)
{
    struct tls_conn *c = ptr;
    ssize_t n = send(c->net.fd, data, len, MSG_NOSIGNAL);
    if (n < 0)
        gnutls_transport_set_errno(c->session, errno);
    return n;
}

void tls_conn_attach(void *io, int (*sink)(void *arg, const void *data, size_t len), void *arg)
{
    struct tls_conn *c = io;
    c->sink = sink;
    c->sink_arg = arg;
    gnutls_transport_set_ptr2(c->session, (gnutls_transport_ptr_t)(intptr_t)c->net.fd, c);
    gnutls_transport_set_push_function(c->session, push_to_sink); /* no vector push now */
    /* The 101 answer goes first; a failure shows at the next seal. Then `out` is never
     * used again: the WebSocket's records go to the sink. */
    if (flush_out(c) == 0) {
        free(c->out);
        c->out = NULL;
    }
}

ssize_t tls_conn_seal(void *io, const void *data, size_t len)
{
    struct tls_conn *c = io;
    if (flush_out(c) < 0) { /* anything still held (after a failure at attach) */
        errno = EIO;
        return -1;
    }
    for (size_t done = 0; done < len;) {
        size_t n = len - done < RECORD_MAX ? len - done : RECORD_MAX;
        ssize_t w = gnutls_record_send(c->session, (const uint8_t *)data + done, n);
        if (w <= 0) { /* the sink takes everything: EAGAIN cannot happen */
            errno = EIO;
            return -1;
        }
        done += (size_t)w;
    }
    return (ssize_t)len;
}

void tls_conn_detach(void *io, const void *unsent, size_t len)
{
    struct tls_conn *c = io;
    c->sink = NULL;
    gnutls_transport_set_push_function(c->session, push_to_socket);
    ssize_t n = len ? send(c->net.fd, unsent, len, MSG_NOSIGNAL | MSG_DONTWAIT) : 0;
    c->torn = n != (ssize_t)len; /* no close_notify after a torn record */
}

int tls_conn_fd(const struct tls_conn *c)
{
    return c->net.fd;
}

/* Appends up to what `fd` holds now to a growing buffer. */
static int drain_fd(int fd, uint8_t **buf, size_t *len)
{
    uint8_t chunk[4096];
    for (;;) {
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n <= 0)
            return n == 0 || errno == EAGAIN ? 0 : -1;
        uint8_t *nb = realloc(*buf, *len + (size_t)n);
        if (!nb)
            return -1;
        memcpy(nb + *len, chunk, (size_t)n);
        *buf = nb;
        *len += (size_t)n;
    }
}

struct tls_conn *tls_front_adopt(struct tls_front *f, int mhd_fd, uint8_t **extra,
                                 size_t *extra_len)
{
    struct tls_conn *c = f->conns;
    while (c && (c->mhd_fd != mhd_fd || c->adopted || !c->handshaken))
        c = c->next;
    *extra = NULL;
    *extra_len = 0;
    if (!c)
        return NULL;
    /* What libmicrohttpd wrote (the 101 answer) goes first: it must fit behind `out`. */
    uint8_t *reply = NULL;
    size_t reply_len = 0;
    if (drain_fd(c->app.fd, &reply, &reply_len) < 0 || reply_len > RECORD_MAX - c->out_len ||
        drain_fd(mhd_fd, extra, extra_len) < 0) {
        free(reply);
        free(*extra);
        *extra = NULL;
        *extra_len = 0;
        return NULL; /* cannot happen with a sane peer; the caller keeps the socketpair */
    }
    memcpy(c->out + c->out_len, reply, reply_len);
    c->out_len += reply_len;
    free(reply);
    /* Client bytes decrypted but not yet handed to libmicrohttpd come after its unread ones. */
    size_t left = c->in_len - c->in_off;
    uint8_t *nb = left ? realloc(*extra, *extra_len + left) : *extra;
    if (left && nb) {
        memcpy(nb + *extra_len, c->in + c->in_off, left);
        *extra = nb;
        *extra_len += left;
        c->in_off = c->in_len;
    } else if (left) {
        free(*extra);
        *extra = NULL;
        *extra_len = 0;
        return NULL;
    }
    if (c->net.active)
        loop_del(f->loop, &c->net);
    if (c->app.active)
        loop_del(f->loop, &c->app);
    loop_timer_cancel(f->loop, &c->linger);
    free(c->in); /* the WebSocket reads the session itself from now on */
    c->in = NULL;
    close(c->app.fd); /* libmicrohttpd lets go of its end too (http.c) */
    c->app.fd = -1;
    c->adopted = true;
    return c;
}

void tls_front_release(struct tls_conn *c)
{
    if (!c)
        return;
    if (c->sink)
        tls_conn_detach(c, NULL, 0);
    if (!c->torn && flush_out(c) == 0) /* best effort: a close frame, then close_notify */
        gnutls_bye(c->session, GNUTLS_SHUT_WR);
    conn_free(c);
}

struct tls_front *tls_front_start(struct loop *loop, struct MHD_Daemon *mhd,
                                  const struct sockaddr *addr, socklen_t addrlen,
                                  const char *cert_pem, const char *key_pem, const char *priorities)
{
    struct tls_front *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->loop = loop;
    f->mhd = mhd;
    f->listener.fd = -1;
    f->accept_again = (struct loop_timer){.cb = on_accept_again, .data = f};
    if (creds_new(f, cert_pem, key_pem, priorities) < 0) {
        tls_front_stop(f);
        errno = EINVAL;
        return NULL;
    }
    f->listener = (struct loop_watch){
        .fd = listen_on(addr, addrlen), .events = EPOLLIN, .cb = on_listener, .data = f};
    if (f->listener.fd < 0 || loop_add(loop, &f->listener) < 0) {
        int e = errno;
        tls_front_stop(f);
        errno = e;
        return NULL;
    }
    return f;
}

void tls_front_stop(struct tls_front *f)
{
    if (!f)
        return;
    while (f->conns) {
        struct tls_conn *c = f->conns;
        if (c->handshaken && !c->adopted)
            pump_out(c); /* what libmicrohttpd wrote last, best effort */
        if (c->handshaken)
            tls_front_release(c);
        else
            conn_free(c);
    }
    loop_timer_cancel(f->loop, &f->accept_again);
    if (f->listener.active)
        loop_del(f->loop, &f->listener);
    if (f->listener.fd >= 0)
        close(f->listener.fd);
    if (f->prio)
        gnutls_priority_deinit(f->prio);
    creds_unref(f->creds);
    free(f);
}
