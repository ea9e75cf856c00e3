/* fanout_src: the "VM side" of the console fan-out benchmark (bench/fanout.py).
 *
 * Writes sequence-numbered, timestamped records into K consoles, either paced like a UART
 * (-b BYTES_PER_SECOND, e.g. 11520 for 115200 baud 8N1) or flat out (-b 0). A record is
 * 32 bytes: "#SSSSSSSSSS TTTTTTTTTTTTTTTTTTT\n", S the console's sequence number (10 decimal
 * digits), T CLOCK_MONOTONIC in ns (19 digits) taken just before the write(2) that carries
 * the record's last byte. Paced records are written whole, one write per record when due
 * (a UART delivers bytes one by one; the latency measured is that of a record's last byte).
 *
 * Consoles, one argument each:
 *   pty-open:PATH      open PATH (a pty slave, e.g. vscd's BindPath), set it raw, write
 *   pty-new            openpty(); print "pty N /dev/pts/X"; the server opens the slave;
 *                      we write the master (our slave fd stays open, so no hang-ups)
 *   unix-connect:PATH  connect to a listening socket (vscd's unix backend; retried)
 *   unix-listen:PATH   listen at PATH and write to whoever connects (conserver's uds and
 *                      ConMan's unix: consoles connect as clients)
 * Prints "ready" once every console has a peer (or after -r seconds), runs until SIGTERM.
 * Bytes read back from a console (echo, server probes) are discarded.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define REC      32
#define OUTCAP   (64 * 1024)
#define FLAT_MAX (128 * REC) /* records formatted per write when flat out */

enum kind { PTY_OPEN, PTY_NEW, UNIX_CONNECT, UNIX_LISTEN };

struct con {
    enum kind kind;
    int idx;
    char path[108];
    int fd;     /* what we write to (-1: no peer yet) */
    int lfd;    /* listening socket (UNIX_LISTEN) */
    int keepfd; /* pty slave we keep open (PTY_NEW) */
    uint64_t seq, due_base;
    uint8_t out[OUTCAP];
    size_t out_len, out_off;
    bool want_out;
};

static volatile sig_atomic_t stop;
static int ep;
static long rate; /* bytes per second; 0 = flat out */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void put_dec(uint8_t *p, uint64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (uint8_t)('0' + v % 10);
        v /= 10;
    }
}

static void fmt_rec(uint8_t *p, uint64_t seq, uint64_t ns)
{
    p[0] = '#';
    put_dec(p + 1, seq, 10);
    p[11] = ' ';
    put_dec(p + 12, ns, 19);
    p[31] = '\n';
}

static void set_raw(int fd)
{
    struct termios t;
    if (tcgetattr(fd, &t) == 0) {
        cfmakeraw(&t);
        cfsetspeed(&t, B115200);
        tcsetattr(fd, TCSANOW, &t);
    }
}

static void watch(struct con *c, int fd, uint32_t ev, bool add)
{
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(ep, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &e);
}

static void peer_gone(struct con *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->out_len = c->out_off = 0;
}

static bool try_open(struct con *c)
{
    if (c->kind == PTY_OPEN) {
        int fd = open(c->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
            return false;
        set_raw(fd);
        c->fd = fd;
    } else if (c->kind == UNIX_CONNECT) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", c->path);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            close(fd);
            return false;
        }
        c->fd = fd;
    } else {
        return false;
    }
    c->want_out = rate == 0;
    watch(c, c->fd, EPOLLIN | (c->want_out ? EPOLLOUT : 0), true);
    return true;
}

static void flush_out(struct con *c)
{
    while (c->fd >= 0 && c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        peer_gone(c);
        return;
    }
    if (c->fd < 0)
        return;
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    bool want = rate == 0 || c->out_len > 0;
    if (want != c->want_out) {
        c->want_out = want;
        watch(c, c->fd, EPOLLIN | (want ? EPOLLOUT : 0), false);
    }
}

/* Flat out: a batch of fresh records whenever the previous batch is gone. */
static void fill_flat(struct con *c)
{
    if (c->out_len)
        return;
    uint64_t ns = now_ns();
    for (size_t off = 0; off < FLAT_MAX; off += REC)
        fmt_rec(c->out + off, c->seq++, ns);
    c->out_len = FLAT_MAX;
}

/* Paced: every record due by now (at `rate`), each stamped as it is queued. */
static void fill_paced(struct con *c, uint64_t t0, uint64_t now)
{
    if (now <= t0)
        return;
    uint64_t due = (now - t0) / 1000 * (uint64_t)rate / 1000000 / REC;
    while (c->due_base < due) {
        if (c->out_len + REC > OUTCAP)
            break; /* the server is not reading: records wait, their stamps tell */
        if (c->out_len == 0 || c->out_off == c->out_len) {
            c->out_len = c->out_off = 0;
            fmt_rec(c->out, c->seq++, now_ns());
            c->out_len = REC;
            c->due_base++;
            flush_out(c);
            if (c->fd < 0)
                return;
        } else {
            fmt_rec(c->out + c->out_len, c->seq++, now_ns());
            c->out_len += REC;
            c->due_base++;
        }
    }
}

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    int opt;
    double ready_wait = 30;
    while ((opt = getopt(argc, argv, "b:r:")) != -1) {
        if (opt == 'b')
            rate = atol(optarg);
        else if (opt == 'r')
            ready_wait = atof(optarg);
        else {
            fprintf(stderr, "usage: %s [-b BYTES_PER_S|0] [-r READY_WAIT_S] CONSOLE...\n", argv[0]);
            return 2;
        }
    }
    int k = argc - optind;
    if (k <= 0)
        return 2;
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    ep = epoll_create1(EPOLL_CLOEXEC);
    struct con *cons = calloc((size_t)k, sizeof(*cons));
    for (int i = 0; i < k; i++) {
        struct con *c = &cons[i];
        const char *a = argv[optind + i];
        c->idx = i;
        c->fd = c->lfd = c->keepfd = -1;
        if (strncmp(a, "pty-open:", 9) == 0) {
            c->kind = PTY_OPEN;
            snprintf(c->path, sizeof(c->path), "%s", a + 9);
        } else if (strcmp(a, "pty-new") == 0) {
            c->kind = PTY_NEW;
            int m, s;
            char name[64];
            if (openpty(&m, &s, name, NULL, NULL) < 0) {
                perror("openpty");
                return 1;
            }
            set_raw(s);
            fcntl(m, F_SETFL, O_NONBLOCK);
            c->fd = m;
            c->keepfd = s;
            printf("pty %d %s\n", i, name);
            c->want_out = rate == 0;
            watch(c, m, EPOLLIN | (c->want_out ? EPOLLOUT : 0), true);
        } else if (strncmp(a, "unix-connect:", 13) == 0) {
            c->kind = UNIX_CONNECT;
            snprintf(c->path, sizeof(c->path), "%s", a + 13);
        } else if (strncmp(a, "unix-listen:", 12) == 0) {
            c->kind = UNIX_LISTEN;
            snprintf(c->path, sizeof(c->path), "%s", a + 12);
            c->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            struct sockaddr_un sa = {.sun_family = AF_UNIX};
            snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", c->path);
            unlink(c->path);
            if (bind(c->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(c->lfd, 4) < 0) {
                perror(c->path);
                return 1;
            }
            struct epoll_event e = {.events = EPOLLIN, .data.ptr = &c->lfd};
            epoll_ctl(ep, EPOLL_CTL_ADD, c->lfd, &e);
        } else {
            fprintf(stderr, "bad console '%s'\n", a);
            return 2;
        }
    }
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct itimerspec its = {.it_interval = {0, 1000000}, .it_value = {0, 1000000}};
    timerfd_settime(tfd, 0, &its, NULL);
    struct epoll_event te = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &te);

    uint64_t start = now_ns(), t0 = 0;
    bool ready = false;
    uint8_t junk[65536];
    struct epoll_event evs[256];
    while (!stop) {
        int n = epoll_wait(ep, evs, 256, 100);
        uint64_t now = now_ns();
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (!p) {
                uint64_t x;
                while (read(tfd, &x, sizeof(x)) > 0) {
                }
                continue;
            }
            bool is_listen = false;
            for (int j = 0; j < k && !is_listen; j++)
                is_listen = p == &cons[j].lfd;
            if (is_listen) {
                struct con *c = (struct con *)((char *)p - offsetof(struct con, lfd));
                int fd = accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                    continue;
                if (c->fd >= 0)
                    peer_gone(c); /* the server reconnected: the new peer wins */
                c->fd = fd;
                c->want_out = rate == 0;
                watch(c, fd, EPOLLIN | (c->want_out ? EPOLLOUT : 0), true);
                continue;
            }
            struct con *c = p;
            if (c->fd < 0)
                continue;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t r = read(c->fd, junk, sizeof(junk));
                if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR && errno != EIO)) {
                    peer_gone(c);
                    continue;
                }
                if (r < 0 && errno == EIO && (evs[i].events & EPOLLHUP)) {
                    /* pty master whose slave nobody holds: wait for the server */
                }
            }
            if (evs[i].events & EPOLLOUT) {
                if (rate == 0 && ready)
                    fill_flat(c);
                flush_out(c);
            }
        }
        /* Connect what is not yet connected; a few times a second at most. */
        bool all = true;
        for (int j = 0; j < k; j++) {
            struct con *c = &cons[j];
            if (c->fd < 0 && !try_open(c))
                all = false;
        }
        if (!ready && (all || (now - start) / 1e9 > ready_wait)) {
            ready = true;
            t0 = now_ns();
            for (int j = 0; j < k; j++)
                cons[j].due_base = 0;
            printf("ready %d/%d\n", all ? k : 0, k);
        }
        if (ready && rate > 0) {
            for (int j = 0; j < k; j++) {
                if (cons[j].fd >= 0) {
                    flush_out(&cons[j]);
                    fill_paced(&cons[j], t0, now);
                }
            }
        }
    }
    uint64_t total = 0;
    for (int j = 0; j < k; j++) {
        total += cons[j].seq;
        if (cons[j].kind == UNIX_LISTEN)
            unlink(cons[j].path);
    }
    printf("records %llu\n", (unsigned long long)total);
    return 0;
}
