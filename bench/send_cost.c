/* send_cost: what one small loopback TCP send costs the sender, one send() per socket
 * against one io_uring_enter() per batch of sends (service/send_batch.c), on this machine.
 *
 * N connected loopback TCP pairs (TCP_NODELAY, as vscd's sockets); a reader thread on the
 * first CPU drains every receiver with epoll; the sender on the last CPU sends a 34-byte
 * message (a console record in a WebSocket frame) to each of the N sockets, then sleeps
 * 2 ms, ROUNDS times. Reported: the sender thread's CPU (utime + stime) per send.
 *
 *   send_cost [-n SOCKETS] [-r ROUNDS] [-b BATCH]...    (default -n 512 -r 2000 -b 8 -b 256)
 * Runs "send" first, then io_uring with each BATCH (sends per io_uring_enter()).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG_LEN 34

static int nsock = 512, rounds = 2000;
static int *tx, *rx;
static volatile bool stop;

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof(set), &set);
}

static double thread_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void *reader(void *arg)
{
    (void)arg;
    pin(0);
    int ep = epoll_create1(0);
    for (int i = 0; i < nsock; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = rx[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, rx[i], &ev);
    }
    static struct epoll_event evs[1024];
    static char buf[65536];
    while (!stop) {
        int n = epoll_wait(ep, evs, 1024, 50);
        for (int i = 0; i < n; i++)
            recv(evs[i].data.fd, buf, sizeof(buf), MSG_DONTWAIT);
    }
    close(ep);
    return NULL;
}

static void connect_pairs(void)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    if (lfd < 0 || bind(lfd, (void *)&a, sizeof(a)) < 0 ||
        getsockname(lfd, (void *)&a, &alen) < 0 || listen(lfd, 4096) < 0) {
        perror("listen");
        exit(1);
    }
    tx = calloc((size_t)nsock, sizeof(int));
    rx = calloc((size_t)nsock, sizeof(int));
    for (int i = 0; i < nsock; i++) {
        rx[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (rx[i] < 0 || connect(rx[i], (void *)&a, sizeof(a)) < 0 ||
            (tx[i] = accept(lfd, NULL, NULL)) < 0) {
            perror("connect");
            exit(1);
        }
        int one = 1;
        setsockopt(tx[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    close(lfd);
}

/* One round: a message to every socket; batch 0 = one send() each. */
static void send_round(struct io_uring *ring, int batch, const char *msg)
{
    if (!batch) {
        for (int i = 0; i < nsock; i++)
            send(tx[i], msg, MSG_LEN, MSG_DONTWAIT | MSG_NOSIGNAL);
        return;
    }
    for (int first = 0; first < nsock; first += batch) {
        unsigned want = 0;
        for (int i = first; i < nsock && i < first + batch; i++, want++)
            io_uring_prep_send(io_uring_get_sqe(ring), tx[i], msg, MSG_LEN,
                               MSG_DONTWAIT | MSG_NOSIGNAL);
        io_uring_submit_and_wait(ring, want);
        io_uring_cq_advance(ring, io_uring_cq_ready(ring));
    }
}

static void measure(int batch)
{
    struct io_uring ring;
    if (batch) {
        struct io_uring_params p = {.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
                                             IORING_SETUP_SINGLE_ISSUER};
        if (io_uring_queue_init_params((unsigned)batch, &ring, &p) < 0) {
            printf("io_uring, %d per call: not available here\n", batch);
            return;
        }
    }
    char msg[MSG_LEN];
    memset(msg, 'x', sizeof(msg));
    double cpu0 = thread_cpu_s();
    for (int r = 0; r < rounds; r++) {
        send_round(&ring, batch, msg);
        nanosleep(&(struct timespec){0, 2000000}, NULL);
    }
    double cpu = thread_cpu_s() - cpu0;
    double sends = (double)nsock * rounds;
    if (batch)
        printf("io_uring, %3d per call: %.2f us per send (%.0f sends, sender CPU %.2f s)\n", batch,
               cpu / sends * 1e6, sends, cpu);
    else
        printf("send(), one per call : %.2f us per send (%.0f sends, sender CPU %.2f s)\n",
               cpu / sends * 1e6, sends, cpu);
    fflush(stdout);
    if (batch)
        io_uring_queue_exit(&ring);
}

int main(int argc, char **argv)
{
    int batches[16], nb = 0, opt;
    while ((opt = getopt(argc, argv, "n:r:b:")) != -1) {
        if (opt == 'n')
            nsock = atoi(optarg);
        else if (opt == 'r')
            rounds = atoi(optarg);
        else if (opt == 'b' && nb < 16)
            batches[nb++] = atoi(optarg);
        else {
            fprintf(stderr, "usage: %s [-n SOCKETS] [-r ROUNDS] [-b BATCH]...\n", argv[0]);
            return 2;
        }
    }
    if (!nb) {
        batches[nb++] = 8;
        batches[nb++] = 256;
    }
    if (nsock < 1 || nsock > 16384 || rounds < 1)
        return 2;
    connect_pairs();
    pthread_t th;
    pthread_create(&th, NULL, reader, NULL);
    pin((int)sysconf(_SC_NPROCESSORS_ONLN) - 1);
    printf("# send_cost: %d loopback TCP sockets, %d rounds of one %d-byte send each\n", nsock,
           rounds, MSG_LEN);
    measure(0);
    for (int i = 0; i < nb; i++)
        if (batches[i] > 0 && batches[i] <= 4096)
            measure(batches[i]);
    stop = true;
    pthread_join(th, NULL);
    return 0;
}
