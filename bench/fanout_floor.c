/* fanout_floor: the least a console server can do for the fan-out benchmark
 * (bench/fanout.py), to measure the CPU floor of the job on this machine.
 *
 * One process, one epoll loop, every descriptor non-blocking. It reads K consoles and
 * copies each chunk it reads, as is, to every viewer attached to that console: one send()
 * per viewer per chunk. No history, no framing, no flow control: when a viewer's socket is
 * full the chunk (or its tail) is dropped for that viewer and counted, never queued.
 * With -u the sends of one chunk leave in one io_uring_enter() instead (each still
 * non-blocking), as vscd's send batch does (service/send_batch.h). With -n the viewers'
 * sockets send without Nagle's wait for an ACK (TCP_NODELAY); by default they keep it,
 * as conserver's, ConMan's and vscd's watchers' do.
 *
 *   fanout_floor [-u] [-n] -p PORT CONSOLE...
 *   CONSOLE: [NAME=]device:PATH  open PATH (a pty slave), set it raw, read it
 *            [NAME=]unix:PATH    connect to the socket listening at PATH, read it
 * Consoles that cannot be opened yet are retried ten times a second; NAME defaults to
 * the console's index. Viewers connect to 127.0.0.1:PORT and send one line, a console's
 * NAME or index; from then on they get the console's raw bytes. SIGTERM or SIGINT ends
 * it; the bytes read, sent and dropped go to stderr.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#define CHUNK      (64 * 1024)
#define NAME_MAX_  64
#define RETRY_MS   100
#define MAX_EVENTS 256

enum item { IT_LISTEN, IT_SIGNAL, IT_CONSOLE, IT_VIEWER };

/* What epoll hands back: every watched object starts with its kind. */
struct tag {
    enum item kind;
};

/* A set of viewers (a console's, or those still sending their console's name). */
struct group {
    struct viewer **v;
    size_t n, cap;
};

struct console {
    struct tag tag;
    bool is_unix;
    char name[NAME_MAX_], path[108];
    int fd; /* -1 until opened or connected */
    struct group viewers;
};

struct viewer {
    struct tag tag;
    int fd;
    struct group *group;
    size_t slot; /* index in group->v */
    char line[NAME_MAX_];
    size_t linelen;
};

/* The listening socket and the signalfd. */
struct plain {
    struct tag tag;
    int fd;
};

static int ep;
static struct console *cons;
static int ncons, nopen;
static struct group pending;
static uint64_t bytes_read, bytes_sent, bytes_dropped, sends_short, attached;
static struct io_uring ring;
static bool use_uring, no_delay;

#define RING_ENTRIES 256

static void watch(int fd, uint32_t events, struct tag *t)
{
    struct epoll_event e = {.events = events, .data.ptr = t};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
}

static void group_add(struct group *g, struct viewer *v)
{
    if (g->n == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 16;
        g->v = realloc(g->v, g->cap * sizeof(*g->v));
        if (!g->v) {
            perror("realloc");
            exit(1);
        }
    }
    v->group = g;
    v->slot = g->n;
    g->v[g->n++] = v;
}

/* Swap-remove: the last viewer takes the hole. */
static void group_del(struct viewer *v)
{
    struct group *g = v->group;
    struct viewer *last = g->v[--g->n];
    g->v[v->slot] = last;
    last->slot = v->slot;
    v->group = NULL;
}

static void viewer_close(struct viewer *v)
{
    group_del(v);
    close(v->fd); /* also leaves the epoll set */
    free(v);
}

static int open_unix(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    /* A Unix socket connects at once or not at all (EAGAIN: backlog full, retried). */
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Raw, so that reads return what arrived rather than lines; a pty has no baud rate. */
static int open_device(const char *path)
{
    int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    struct termios t;
    if (fd >= 0 && tcgetattr(fd, &t) == 0) {
        cfmakeraw(&t);
        tcsetattr(fd, TCSANOW, &t);
    }
    return fd;
}

/* Opens what is not open yet. */
static void open_consoles(void)
{
    for (int i = 0; i < ncons && nopen < ncons; i++) {
        struct console *c = &cons[i];
        if (c->fd >= 0)
            continue;
        c->fd = c->is_unix ? open_unix(c->path) : open_device(c->path);
        if (c->fd >= 0) {
            watch(c->fd, EPOLLIN, &c->tag);
            nopen++;
        }
    }
}

/* One chunk to every viewer of the console, each with one non-blocking send. A viewer
 * whose send fails is closed by its own event (an error makes the socket readable), never
 * here: its event may still wait in this round's batch. */
static void count_send(ssize_t n, size_t len)
{
    size_t sent = n > 0 ? (size_t)n : 0;
    bytes_sent += sent;
    if (sent < len) {
        bytes_dropped += len - sent; /* full socket: drop, never wait */
        sends_short++;
    }
}

/* -u: up to RING_ENTRIES sends per io_uring_enter(); MSG_DONTWAIT makes each finish (or
 * fail with -EAGAIN) inside the call, so buf is free again when it returns. */
static void fan_out_uring(struct console *c, const uint8_t *buf, size_t len)
{
    for (size_t first = 0; first < c->viewers.n; first += RING_ENTRIES) {
        unsigned want = 0;
        for (size_t i = first; i < c->viewers.n && want < RING_ENTRIES; i++, want++)
            io_uring_prep_send(io_uring_get_sqe(&ring), c->viewers.v[i]->fd, buf, len,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
        io_uring_submit_and_wait(&ring, want);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            count_send(cqe->res, len);
            seen++;
        }
        io_uring_cq_advance(&ring, seen);
    }
}

static void fan_out(struct console *c, const uint8_t *buf, size_t len)
{
    if (use_uring) {
        fan_out_uring(c, buf, len);
        return;
    }
    for (size_t i = 0; i < c->viewers.n; i++)
        count_send(send(c->viewers.v[i]->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT), len);
}

/* Level-triggered: one read per wake-up; epoll reports the console again if more waits. */
static void console_readable(struct console *c)
{
    static uint8_t buf[CHUNK];
    ssize_t n = read(c->fd, buf, sizeof(buf));
    if (n > 0) {
        bytes_read += (uint64_t)n;
        fan_out(c, buf, (size_t)n);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    /* End of file, or EIO from a pty whose master went: reopen it later. */
    close(c->fd);
    c->fd = -1;
    nopen--;
}

static struct console *find_console(const char *name)
{
    for (int i = 0; i < ncons; i++)
        if (strcmp(cons[i].name, name) == 0)
            return &cons[i];
    char *end;
    long idx = strtol(name, &end, 10);
    if (*name && !*end && idx >= 0 && idx < ncons)
        return &cons[idx];
    return NULL;
}

/* The viewer's first line names its console; anything it sends later is discarded, and
 * its end of file (or an error) closes it. */
static void viewer_readable(struct viewer *v)
{
    char buf[4096];
    ssize_t n = recv(v->fd, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        viewer_close(v);
        return;
    }
    if (v->group != &pending)
        return;
    char *nl = memchr(buf, '\n', (size_t)n);
    size_t take = nl ? (size_t)(nl - buf) : (size_t)n;
    if (v->linelen + take >= sizeof(v->line)) {
        viewer_close(v);
        return;
    }
    memcpy(v->line + v->linelen, buf, take);
    v->linelen += take;
    if (!nl)
        return;
    if (v->linelen && v->line[v->linelen - 1] == '\r')
        v->linelen--;
    v->line[v->linelen] = '\0';
    struct console *c = find_console(v->line);
    if (!c) {
        static const char msg[] = "unknown console\n";
        send(v->fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        viewer_close(v);
        return;
    }
    group_del(v);
    group_add(&c->viewers, v);
    attached++;
}

static void accept_viewers(int lfd)
{
    /* Default socket options, as vscd's: kernel-sized buffers, Nagle unless -n. */
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or out of descriptors: the next wake-up retries */
        struct viewer *v = calloc(1, sizeof(*v));
        if (!v) {
            close(fd);
            return;
        }
        if (no_delay)
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
        v->tag.kind = IT_VIEWER;
        v->fd = fd;
        group_add(&pending, v);
        watch(fd, EPOLLIN | EPOLLRDHUP, &v->tag);
    }
}

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, SOMAXCONN) < 0) {
        perror("listen");
        exit(1);
    }
    return fd;
}

/* SIGTERM and SIGINT arrive through the loop, so no handler races with it. */
static int signal_fd(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static bool parse_console(struct console *c, int idx, const char *arg)
{
    const char *eq = strchr(arg, '='), *colon = strchr(arg, ':'), *spec = arg;
    snprintf(c->name, sizeof(c->name), "%d", idx);
    if (eq && (!colon || eq < colon)) {
        snprintf(c->name, sizeof(c->name), "%.*s", (int)(eq - arg), arg);
        spec = eq + 1;
    }
    if (strncmp(spec, "device:", 7) == 0) {
        snprintf(c->path, sizeof(c->path), "%s", spec + 7);
    } else if (strncmp(spec, "unix:", 5) == 0) {
        c->is_unix = true;
        snprintf(c->path, sizeof(c->path), "%s", spec + 5);
    } else {
        return false;
    }
    c->tag.kind = IT_CONSOLE;
    c->fd = -1;
    return true;
}

static void dispatch(struct tag *t)
{
    switch (t->kind) {
    case IT_LISTEN:
        accept_viewers(((struct plain *)t)->fd);
        break;
    case IT_CONSOLE:
        console_readable((struct console *)t);
        break;
    case IT_VIEWER:
        viewer_readable((struct viewer *)t);
        break;
    case IT_SIGNAL:
        break;
    }
}

static void run(int lfd, int sfd)
{
    struct plain listener = {{IT_LISTEN}, lfd}, signals = {{IT_SIGNAL}, sfd};
    watch(lfd, EPOLLIN, &listener.tag);
    watch(sfd, EPOLLIN, &signals.tag);
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        /* Sleep until something happens; wake to retry consoles only while one is closed. */
        open_consoles();
        int n = epoll_wait(ep, evs, MAX_EVENTS, nopen < ncons ? RETRY_MS : -1);
        for (int i = 0; i < n; i++) {
            struct tag *t = evs[i].data.ptr;
            if (t->kind == IT_SIGNAL)
                return;
            dispatch(t);
        }
    }
}

static void close_group(struct group *g)
{
    while (g->n)
        viewer_close(g->v[g->n - 1]);
    free(g->v);
}

/* Closes every viewer and console, then says what was read, sent and dropped. */
static void finish(void)
{
    for (int i = 0; i < ncons; i++) {
        close_group(&cons[i].viewers);
        if (cons[i].fd >= 0)
            close(cons[i].fd);
    }
    close_group(&pending);
    free(cons);
    fprintf(stderr,
            "fanout_floor: %llu viewers attached; read %llu B, sent %llu B, dropped %llu B "
            "in %llu partial or refused sends\n",
            (unsigned long long)attached, (unsigned long long)bytes_read,
            (unsigned long long)bytes_sent, (unsigned long long)bytes_dropped,
            (unsigned long long)sends_short);
}

int main(int argc, char **argv)
{
    int opt, port = 0;
    while ((opt = getopt(argc, argv, "unp:")) != -1) {
        if (opt == 'u')
            use_uring = true;
        else if (opt == 'n')
            no_delay = true;
        else if (opt == 'p')
            port = atoi(optarg);
        else
            break;
    }
    ncons = argc - optind;
    cons = calloc(ncons > 0 ? (size_t)ncons : 1, sizeof(*cons));
    bool ok = port > 0 && port < 65536 && ncons > 0;
    for (int i = 0; ok && i < ncons; i++)
        ok = parse_console(&cons[i], i, argv[optind + i]);
    if (!ok) {
        fprintf(stderr, "usage: %s [-u] -p PORT [NAME=]device:PATH|[NAME=]unix:PATH...\n", argv[0]);
        return 2;
    }
    if (use_uring && io_uring_queue_init(RING_ENTRIES, &ring, 0) < 0) {
        fprintf(stderr, "fanout_floor: no io_uring here\n");
        return 1;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    int sfd = signal_fd();
    open_consoles(); /* before listening: once viewers can connect, ptys are open */
    int lfd = listen_on(port);
    run(lfd, sfd);
    finish();
    close(lfd);
    close(sfd);
    close(ep);
    return 0;
}
