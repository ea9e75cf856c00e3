/* fanout_view: many console viewers in one epoll loop, for the fan-out benchmark
 * (bench/fanout.py). Every server is measured with this same client, speaking its protocol:
 *
 *   ws  vscd's console WebSocket (RFC 6455 client; plain HTTP or TLS via GnuTLS), X-Auth-Token
 *   cs  conserver's client protocol: master "login"/"call" gives the group port, then the
 *       group server's "login"/"call" attaches (as console(1) does, without SSL: -E)
 *   cm  ConMan's: "HELLO USER=" then "MONITOR CONSOLE=" (as conman -m does)
 *   fl  bench/fanout_floor's: the line "CONSOLE\n", then the console's raw bytes
 *
 * Targets come on stdin, one a line:
 *   ws HOST PORT PATH TOKEN TLS(0|1) COUNT STALLED
 *   cs HOST PORT CONSOLE COUNT STALLED
 *   cm HOST PORT CONSOLE COUNT STALLED
 *   fl HOST PORT CONSOLE COUNT STALLED
 * COUNT viewers, of which STALLED stop reading (receive buffer 4 KiB) until RESUME seconds
 * before the end. Records are fanout_src's 32-byte lines; anything else in the stream
 * (server banners) is skipped line by line. Per record: latency = arrival (CLOCK_MONOTONIC
 * after the read) - the source's stamp; gaps = sequence numbers never seen.
 *
 *   fanout_view -d SECONDS -w WARMUP -R RESUME < targets
 * Prints "ready N/M" when every viewer is attached (or after 60 s), measures for
 * SECONDS after WARMUP, then prints one JSON object.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REC        32
#define LINE_MAX_  48
#define HANDSHAKES 64 /* connections being set up at once */
#define NBUCKETS   (1024 + 40 * 512)

enum proto { P_WS, P_CS, P_CM, P_FL };
enum state {
    S_IDLE,
    S_CONNECTING,
    S_TLS,
    S_WS_HTTP,
    S_CS_MASTER_OK,
    S_CS_MASTER_LOGIN,
    S_CS_MASTER_CALL,
    S_CS_OK,
    S_CS_LOGIN,
    S_CS_CALL,
    S_CM_HELLO,
    S_CM_MONITOR,
    S_STREAM,
    S_DEAD
};

struct target {
    enum proto proto;
    char host[64], path[256], token[128], console[64];
    int port, tls;
};

struct viewer {
    struct target *t;
    enum state st;
    int fd, port; /* port: conserver's group port once known */
    bool stalled, reading, counted_ready;
    gnutls_session_t tls;
    char hbuf[2048]; /* handshake lines / HTTP head */
    size_t hlen;
    /* WebSocket frame parser */
    uint8_t fh[14];
    size_t fhlen;
    uint64_t payload_left;
    int opcode, last_data_op;
    char text[512];
    size_t textlen;
    /* record parser */
    char line[LINE_MAX_];
    size_t linelen;
    bool junk_line;
    bool have_seq;
    uint64_t last_seq;
    /* results */
    uint64_t bytes, records, gaps, dups, missed_bytes, missed_notices, lat_max;
    char err[96];
};

static uint64_t hist[NBUCKETS], hist_stalled[NBUCKETS];
static uint64_t t_measure, t_end, t_resume;
static int ep;
static gnutls_certificate_credentials_t xcred;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Latency histogram in microseconds: exact below 1024 us, then 512 steps per octave. */
static int bucket_of(uint64_t us)
{
    if (us < 1024)
        return (int)us;
    int e = 63 - __builtin_clzll(us); /* >= 10 */
    int b = 1024 + (e - 10) * 512 + (int)((us >> (e - 9)) & 511);
    return b < NBUCKETS ? b : NBUCKETS - 1;
}

static double value_of(int b)
{
    if (b < 1024)
        return b;
    int e = (b - 1024) / 512 + 10, sub = (b - 1024) % 512;
    return (double)(1ull << e) + (double)sub * (double)(1ull << (e - 9));
}

static double percentile(const uint64_t *h, double p)
{
    uint64_t total = 0;
    for (int i = 0; i < NBUCKETS; i++)
        total += h[i];
    if (!total)
        return -1;
    uint64_t want = (uint64_t)ceil(p * (double)total), acc = 0;
    for (int i = 0; i < NBUCKETS; i++) {
        acc += h[i];
        if (acc >= want && h[i])
            return value_of(i);
    }
    return value_of(NBUCKETS - 1);
}

static void fail(struct viewer *v, const char *what)
{
    if (!v->err[0])
        snprintf(v->err, sizeof(v->err), "%s (state %d, errno %s)", what, v->st, strerror(errno));
    if (v->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, v->fd, NULL);
        close(v->fd);
    }
    v->fd = -1;
    v->st = S_DEAD;
}

static void set_events(struct viewer *v, uint32_t ev)
{
    struct epoll_event e = {.events = ev, .data.ptr = v};
    epoll_ctl(ep, EPOLL_CTL_MOD, v->fd, &e);
}

static int start_connect(struct viewer *v, int port)
{
    v->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (v->fd < 0)
        return -1;
    int one = 1;
    setsockopt(v->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (v->stalled) {
        int small = 4096;
        setsockopt(v->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, v->t->host, &sa.sin_addr);
    if (connect(v->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
        return -1;
    struct epoll_event e = {.events = EPOLLOUT, .data.ptr = v};
    epoll_ctl(ep, EPOLL_CTL_ADD, v->fd, &e);
    v->st = S_CONNECTING;
    v->hlen = 0;
    return 0;
}

static ssize_t v_send(struct viewer *v, const void *buf, size_t len)
{
    size_t off = 0;
    for (int tries = 0; off < len && tries < 1000; tries++) {
        ssize_t n = v->tls ? gnutls_record_send(v->tls, (const char *)buf + off, len - off)
                           : send(v->fd, (const char *)buf + off, len - off, MSG_NOSIGNAL);
        if (n > 0)
            off += (size_t)n;
        else if (v->tls ? (n != GNUTLS_E_AGAIN && n != GNUTLS_E_INTERRUPTED)
                        : (errno != EAGAIN && errno != EINTR))
            return -1;
    }
    return off == len ? (ssize_t)len : -1;
}

static void v_sendstr(struct viewer *v, const char *s)
{
    if (v_send(v, s, strlen(s)) < 0)
        fail(v, "send");
}

/* A masked client frame (RFC 6455 §5.3; the mask may be anything for a benchmark). */
static void ws_send_frame(struct viewer *v, int opcode, const char *data, size_t len)
{
    uint8_t f[8 + 125];
    if (len > 125)
        return;
    f[0] = (uint8_t)(0x80 | opcode);
    f[1] = (uint8_t)(0x80 | len);
    memset(f + 2, 0, 4); /* zero mask */
    memcpy(f + 6, data, len);
    if (v_send(v, f, 6 + len) < 0)
        fail(v, "send frame");
}

static void on_record(struct viewer *v, const char *l, uint64_t now)
{
    uint64_t seq = 0, ns = 0;
    for (int i = 1; i <= 10; i++)
        seq = seq * 10 + (uint64_t)(l[i] - '0');
    for (int i = 12; i <= 30; i++)
        ns = ns * 10 + (uint64_t)(l[i] - '0');
    bool in = now >= t_measure;
    if (v->have_seq && in) {
        if (seq > v->last_seq + 1)
            v->gaps += seq - v->last_seq - 1;
        else if (seq <= v->last_seq)
            v->dups++;
    }
    v->have_seq = true;
    v->last_seq = seq;
    if (!in)
        return;
    v->records++;
    uint64_t us = now > ns ? (now - ns) / 1000 : 0;
    if (us > v->lat_max)
        v->lat_max = us;
    (v->stalled ? hist_stalled : hist)[bucket_of(us)]++;
}

/* Console bytes: find whole records; skip other lines. */
static void feed(struct viewer *v, const uint8_t *p, size_t n, uint64_t now)
{
    if (now >= t_measure)
        v->bytes += n;
    while (n) {
        const uint8_t *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (!v->junk_line && v->linelen + take <= REC - 1) {
            memcpy(v->line + v->linelen, p, take);
            v->linelen += take;
        } else {
            v->junk_line = true;
        }
        if (!nl)
            return;
        if (!v->junk_line && v->linelen == REC - 1 && v->line[0] == '#' && v->line[11] == ' ')
            on_record(v, v->line, now);
        v->linelen = 0;
        v->junk_line = false;
        p = nl + 1;
        n -= take + 1;
    }
}

static void on_text(struct viewer *v)
{
    v->text[v->textlen < sizeof(v->text) ? v->textlen : sizeof(v->text) - 1] = '\0';
    if (strstr(v->text, "\"missed\"")) {
        const char *b = strstr(v->text, "\"bytes\":");
        v->missed_notices++;
        if (b)
            v->missed_bytes += strtoull(b + 8, NULL, 10);
    }
}

static void ws_feed(struct viewer *v, const uint8_t *p, size_t n, uint64_t now)
{
    while (n) {
        if (v->payload_left == 0 && v->fhlen < 2) {
            v->fh[v->fhlen++] = *p++;
            n--;
            continue;
        }
        if (v->payload_left == 0 && v->opcode < 0) {
            size_t need = 2;
            int l7 = v->fh[1] & 0x7f;
            need += l7 == 126 ? 2 : l7 == 127 ? 8 : 0;
            need += (v->fh[1] & 0x80) ? 4 : 0;
            while (v->fhlen < need && n) {
                v->fh[v->fhlen++] = *p++;
                n--;
            }
            if (v->fhlen < need)
                return;
            uint64_t len = (uint64_t)l7;
            if (l7 == 126)
                len = (uint64_t)v->fh[2] << 8 | v->fh[3];
            else if (l7 == 127) {
                len = 0;
                for (int i = 2; i < 10; i++)
                    len = len << 8 | v->fh[i];
            }
            v->opcode = v->fh[0] & 0x0f;
            if (v->opcode == 1 || v->opcode == 2)
                v->last_data_op = v->opcode;
            v->textlen = 0;
            v->payload_left = len;
            if (len == 0)
                goto frame_done;
            continue;
        }
        {
            size_t take = n < v->payload_left ? n : (size_t)v->payload_left;
            int op = v->opcode == 0 ? v->last_data_op : v->opcode;
            if (op == 2)
                feed(v, p, take, now);
            else if (v->textlen < sizeof(v->text)) {
                size_t c =
                    take < sizeof(v->text) - v->textlen ? take : sizeof(v->text) - v->textlen;
                memcpy(v->text + v->textlen, p, c);
                v->textlen += c;
            }
            p += take;
            n -= take;
            v->payload_left -= take;
            if (v->payload_left)
                return;
        }
    frame_done : {
        int op = v->opcode == 0 ? v->last_data_op : v->opcode;
        if (op == 1 && (v->fh[0] & 0x80))
            on_text(v);
        else if (op == 9)
            ws_send_frame(v, 10, v->text, v->textlen);
        else if (op == 8) {
            errno = 0;
            fail(v, "closed by server");
            return;
        }
        v->fhlen = 0;
        v->opcode = -1;
    }
    }
}

static bool take_line(struct viewer *v, char *out, size_t outsz)
{
    char *nl = memchr(v->hbuf, '\n', v->hlen);
    if (!nl)
        return false;
    size_t l = (size_t)(nl - v->hbuf);
    snprintf(out, outsz, "%.*s", (int)(l && v->hbuf[l - 1] == '\r' ? l - 1 : l), v->hbuf);
    memmove(v->hbuf, nl + 1, v->hlen - l - 1);
    v->hlen -= l + 1;
    return true;
}

static int n_ready, n_handshaking;

static void stream_begins(struct viewer *v, uint64_t now)
{
    v->st = S_STREAM;
    v->counted_ready = true;
    n_handshaking--;
    n_ready++;
    v->reading = !v->stalled;
    set_events(v, v->reading ? EPOLLIN : 0);
    if (v->hlen) { /* bytes read past the handshake */
        if (v->t->proto == P_WS)
            ws_feed(v, (uint8_t *)v->hbuf, v->hlen, now);
        else
            feed(v, (uint8_t *)v->hbuf, v->hlen, now);
        v->hlen = 0;
    }
}

static void send_ws_request(struct viewer *v)
{
    char req[1024];
    snprintf(req, sizeof(req),
             "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Protocol: vsc.v1\r\nX-Auth-Token: %s\r\n\r\n",
             v->t->path, v->t->host, v->t->port, v->t->token);
    v->st = S_WS_HTTP;
    v_sendstr(v, req);
}

/* One step of the protocols' set-up, on the lines read so far. */
static void handshake(struct viewer *v, uint64_t now)
{
    char l[512], cmd[256];
    for (;;) {
        if (v->st == S_WS_HTTP) {
            char *end = memmem(v->hbuf, v->hlen, "\r\n\r\n", 4);
            if (!end)
                return;
            if (strncmp(v->hbuf, "HTTP/1.1 101", 12) != 0) {
                errno = 0;
                snprintf(v->err, sizeof(v->err), "upgrade refused: %.60s", v->hbuf);
                fail(v, "");
                return;
            }
            size_t head = (size_t)(end + 4 - v->hbuf);
            memmove(v->hbuf, v->hbuf + head, v->hlen - head);
            v->hlen -= head;
            v->opcode = -1;
            stream_begins(v, now);
            return;
        }
        if (!take_line(v, l, sizeof(l)))
            return;
        switch (v->st) {
        case S_CS_MASTER_OK:
        case S_CS_OK:
            if (strcmp(l, "ok") != 0)
                goto bad;
            v_sendstr(v, "login bench\r\n");
            v->st = v->st == S_CS_MASTER_OK ? S_CS_MASTER_LOGIN : S_CS_LOGIN;
            break;
        case S_CS_MASTER_LOGIN:
        case S_CS_LOGIN:
            if (strcmp(l, "ok") != 0)
                goto bad;
            snprintf(cmd, sizeof(cmd), "call %s\r\n", v->t->console);
            v_sendstr(v, cmd);
            if (v->st == S_CS_LOGIN) {
                v->st = S_CS_CALL;
                break;
            }
            v->st = S_CS_MASTER_CALL;
            break;
        case S_CS_CALL:
            /* "[attached]" (or "[spy]"): tell the server we are up (^Ec;, as console(1)
             * does; conserver sends nothing before it) and ask for spy mode (^Ecs). */
            if (l[0] != '[')
                goto bad;
            v_sendstr(v, "\005c;\005cs");
            stream_begins(v, now);
            return;
        case S_CS_MASTER_CALL: {
            int port = atoi(l);
            if (port <= 0)
                goto bad;
            epoll_ctl(ep, EPOLL_CTL_DEL, v->fd, NULL);
            close(v->fd);
            v->port = port;
            if (start_connect(v, port) < 0)
                fail(v, "connect group");
            return;
        }
        case S_CM_HELLO:
            if (strncmp(l, "OK", 2) != 0)
                goto bad;
            snprintf(cmd, sizeof(cmd), "MONITOR CONSOLE='%s'\n", v->t->console);
            v_sendstr(v, cmd);
            v->st = S_CM_MONITOR;
            break;
        case S_CM_MONITOR:
            if (strncmp(l, "OK", 2) != 0)
                goto bad;
            stream_begins(v, now);
            return;
        default:
            return;
        }
    }
bad:
    errno = 0;
    snprintf(v->err, sizeof(v->err), "unexpected '%.60s' in state %d", l, v->st);
    fail(v, "");
}

static void tls_step(struct viewer *v);

static void connected(struct viewer *v)
{
    int err = 0;
    socklen_t el = sizeof(err);
    getsockopt(v->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) {
        errno = err;
        fail(v, "connect");
        return;
    }
    set_events(v, EPOLLIN);
    switch (v->t->proto) {
    case P_WS:
        if (v->t->tls) {
            gnutls_init(&v->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK);
            gnutls_set_default_priority(v->tls);
            gnutls_credentials_set(v->tls, GNUTLS_CRD_CERTIFICATE, xcred);
            gnutls_transport_set_int(v->tls, v->fd);
            v->st = S_TLS;
            tls_step(v); /* the client speaks first */
        } else {
            send_ws_request(v);
        }
        break;
    case P_CS:
        v->st = v->port ? S_CS_OK : S_CS_MASTER_OK;
        break;
    case P_CM:
        v_sendstr(v, "HELLO USER='bench'\n");
        v->st = S_CM_HELLO;
        break;
    case P_FL: {
        /* No answer comes: the stream starts with the console's next bytes. */
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "%s\n", v->t->console);
        v_sendstr(v, cmd);
        if (v->st != S_DEAD)
            stream_begins(v, now_ns());
        break;
    }
    }
}

static void tls_step(struct viewer *v)
{
    int rc = gnutls_handshake(v->tls);
    if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
        set_events(v, gnutls_record_get_direction(v->tls) ? EPOLLOUT : EPOLLIN);
        return;
    }
    if (rc < 0) {
        errno = 0;
        snprintf(v->err, sizeof(v->err), "TLS: %s", gnutls_strerror(rc));
        fail(v, "");
        return;
    }
    set_events(v, EPOLLIN);
    send_ws_request(v);
}

static void on_readable(struct viewer *v)
{
    uint8_t buf[65536];
    /* Level-triggered: a busy socket is read again on the next wake-up. What GnuTLS has
     * already decrypted is not on the socket any more, so that is always read now. */
    for (int rounds = 0; rounds < 8 || (v->tls && gnutls_record_check_pending(v->tls)); rounds++) {
        ssize_t n;
        /* Before the stream: no more than the handshake buffer holds; the rest waits. */
        size_t want = v->st == S_STREAM ? sizeof(buf) : sizeof(v->hbuf) - v->hlen;
        if (v->tls) {
            n = gnutls_record_recv(v->tls, buf, want);
            if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
                return;
            if (n < 0) {
                errno = 0;
                snprintf(v->err, sizeof(v->err), "TLS: %s", gnutls_strerror((int)n));
                fail(v, "");
                return;
            }
        } else {
            n = recv(v->fd, buf, want, 0);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        }
        if (n <= 0) {
            fail(v, n == 0 ? "closed by peer" : "recv");
            return;
        }
        uint64_t now = now_ns();
        if (v->st == S_STREAM) {
            if (v->t->proto == P_WS)
                ws_feed(v, buf, (size_t)n, now);
            else
                feed(v, buf, (size_t)n, now);
            if (v->st != S_STREAM)
                return;
        } else {
            if (v->hlen + (size_t)n > sizeof(v->hbuf)) {
                errno = 0;
                fail(v, "handshake too long");
                return;
            }
            memcpy(v->hbuf + v->hlen, buf, (size_t)n);
            v->hlen += (size_t)n;
            handshake(v, now);
            if (v->st == S_DEAD || v->st == S_CONNECTING)
                return;
            continue; /* more handshake, or the stream's first bytes */
        }
        if ((size_t)n < want && !(v->tls && gnutls_record_check_pending(v->tls)))
            return;
    }
}

static int parse_targets(struct target **out, int **counts, int **stalls)
{
    int cap = 256, nt = 0;
    *out = calloc((size_t)cap, sizeof(**out));
    *counts = calloc((size_t)cap, sizeof(int));
    *stalls = calloc((size_t)cap, sizeof(int));
    char line[1024], proto[8];
    while (fgets(line, sizeof(line), stdin)) {
        if (nt == cap) {
            cap *= 2;
            *out = realloc(*out, (size_t)cap * sizeof(**out));
            *counts = realloc(*counts, (size_t)cap * sizeof(int));
            *stalls = realloc(*stalls, (size_t)cap * sizeof(int));
        }
        struct target *t = &(*out)[nt];
        memset(t, 0, sizeof(*t));
        if (sscanf(line, "%7s", proto) != 1)
            continue;
        int ok;
        if (strcmp(proto, "ws") == 0) {
            t->proto = P_WS;
            ok = sscanf(line, "ws %63s %d %255s %127s %d %d %d", t->host, &t->port, t->path,
                        t->token, &t->tls, &(*counts)[nt], &(*stalls)[nt]) == 7;
        } else if (strcmp(proto, "cs") == 0 || strcmp(proto, "cm") == 0 ||
                   strcmp(proto, "fl") == 0) {
            t->proto = proto[0] == 'f' ? P_FL : proto[1] == 's' ? P_CS : P_CM;
            ok = sscanf(line + 3, "%63s %d %63s %d %d", t->host, &t->port, t->console,
                        &(*counts)[nt], &(*stalls)[nt]) == 5;
        } else {
            ok = false;
        }
        if (!ok) {
            fprintf(stderr, "bad target line: %s", line);
            exit(2);
        }
        nt++;
    }
    return nt;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    double dur = 20, warm = 2, resume = 2;
    int opt;
    while ((opt = getopt(argc, argv, "d:w:R:")) != -1) {
        if (opt == 'd')
            dur = atof(optarg);
        else if (opt == 'w')
            warm = atof(optarg);
        else if (opt == 'R')
            resume = atof(optarg);
        else
            return 2;
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    setvbuf(stdout, NULL, _IOLBF, 0);
    gnutls_global_init();
    gnutls_certificate_allocate_credentials(&xcred); /* loopback bench: no verification */

    struct target *ts;
    int *counts, *stalls;
    int nt = parse_targets(&ts, &counts, &stalls);
    int nv = 0;
    for (int i = 0; i < nt; i++)
        nv += counts[i];
    struct viewer *vs = calloc((size_t)nv, sizeof(*vs));
    for (int i = 0, k = 0; i < nt; i++) {
        for (int j = 0; j < counts[i]; j++, k++) {
            vs[k].t = &ts[i];
            vs[k].fd = -1;
            vs[k].stalled = j < stalls[i];
            vs[k].opcode = -1;
        }
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event *evs = calloc(1024, sizeof(*evs));
    uint64_t start = now_ns(), t_ready = 0;
    t_measure = t_end = UINT64_MAX;
    int next = 0;
    for (;;) {
        uint64_t now = now_ns();
        while (next < nv && n_handshaking < HANDSHAKES) {
            struct viewer *v = &vs[next++];
            n_handshaking++;
            if (start_connect(v, v->t->port) < 0) {
                fail(v, "connect");
                n_handshaking--;
            }
        }
        int dead = 0;
        if (!t_ready) {
            for (int i = 0; i < nv; i++) {
                if (vs[i].st == S_DEAD && !vs[i].counted_ready) {
                    vs[i].counted_ready = true;
                    n_handshaking--;
                }
                dead += vs[i].st == S_DEAD;
            }
            if ((next == nv && n_ready + dead == nv) || now - start > 60e9) {
                t_ready = now;
                t_measure = now + (uint64_t)(warm * 1e9);
                t_end = t_measure + (uint64_t)(dur * 1e9);
                t_resume = t_end - (uint64_t)(resume * 1e9);
                printf("ready %d/%d\n", n_ready, nv);
            }
        }
        if (now >= t_end)
            break;
        if (t_ready && now >= t_resume) {
            for (int i = 0; i < nv; i++) {
                if (vs[i].st == S_STREAM && !vs[i].reading) {
                    vs[i].reading = true;
                    set_events(&vs[i], EPOLLIN);
                }
            }
        }
        int n = epoll_wait(ep, evs, 1024, 50);
        for (int i = 0; i < n; i++) {
            struct viewer *v = evs[i].data.ptr;
            if (v->st == S_DEAD)
                continue;
            if (v->st == S_CONNECTING)
                connected(v);
            else if (v->st == S_TLS)
                tls_step(v);
            else
                on_readable(v);
        }
    }

    /* Results. */
    double secs = dur;
    uint64_t *rates = calloc((size_t)nv, sizeof(*rates));
    int normal = 0, with_gaps = 0, unannounced = 0, dead = 0;
    uint64_t recs = 0, gaps = 0, dups = 0, missed = 0, notices = 0, lat_max = 0;
    uint64_t st_recs = 0, st_gaps = 0, st_missed = 0, st_notices = 0;
    const char *first_err = "";
    for (int i = 0; i < nv; i++) {
        struct viewer *v = &vs[i];
        if (v->st == S_DEAD) {
            dead++;
            if (!*first_err) {
                for (char *c = v->err; *c; c++)
                    *c = (*c == '"' || *c == '\\' || (unsigned char)*c < 32) ? '\'' : *c;
                first_err = v->err;
            }
        }
        if (v->stalled) {
            st_recs += v->records;
            st_gaps += v->gaps;
            st_missed += v->missed_bytes;
            st_notices += v->missed_notices;
            continue;
        }
        rates[normal++] = v->bytes;
        recs += v->records;
        gaps += v->gaps;
        dups += v->dups;
        missed += v->missed_bytes;
        notices += v->missed_notices;
        with_gaps += v->gaps > 0;
        unannounced += v->gaps > 0 && v->missed_notices == 0;
        if (v->lat_max > lat_max)
            lat_max = v->lat_max;
    }
    qsort(rates, (size_t)normal, sizeof(*rates), cmp_u64);
    printf("{\"viewers\": %d, \"ready\": %d, \"dead\": %d, \"first_error\": \"%s\", "
           "\"seconds\": %.1f, \"records\": %llu, \"gaps\": %llu, \"dups\": %llu, "
           "\"viewers_with_gaps\": %d, \"viewers_with_unannounced_gaps\": %d, "
           "\"missed_bytes\": %llu, \"missed_notices\": %llu, "
           "\"rate_min\": %.0f, \"rate_median\": %.0f, \"rate_max\": %.0f, "
           "\"p50_us\": %.0f, \"p99_us\": %.0f, \"p999_us\": %.0f, \"max_us\": %llu, "
           "\"stalled_records\": %llu, \"stalled_gaps\": %llu, \"stalled_missed_bytes\": "
           "%llu, \"stalled_notices\": %llu}\n",
           nv, n_ready, dead, first_err, secs, (unsigned long long)recs, (unsigned long long)gaps,
           (unsigned long long)dups, with_gaps, unannounced, (unsigned long long)missed,
           (unsigned long long)notices, normal ? rates[0] / secs : 0,
           normal ? rates[normal / 2] / secs : 0, normal ? rates[normal - 1] / secs : 0,
           percentile(hist, 0.50), percentile(hist, 0.99), percentile(hist, 0.999),
           (unsigned long long)lat_max, (unsigned long long)st_recs, (unsigned long long)st_gaps,
           (unsigned long long)st_missed, (unsigned long long)st_notices);
    return 0;
}
