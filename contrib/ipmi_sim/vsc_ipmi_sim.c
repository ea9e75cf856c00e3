/*
 * vsc_ipmi_sim — a plugin for OpenIPMI's BMC simulator (ipmi_sim) that hands vscd's IPMI
 * OEM command (NetFn 2Eh under vscd's IANA, docs/ipmi-oem.md) to vscd's local socket
 * (the `ipmi_socket` setting), so a real IPMI client — `ipmitool -I lanplus ... raw 0x2e` —
 * allocates, lists and frees serial ports.
 *
 * In ipmi_sim's config (ipmi_lan(5)):
 *   loadlib "/path/vsc_ipmi_sim.so" "socket=/run/vsc/ipmi.sock iana=32473 timeout_ms=2000"
 * Only `socket` is required; iana defaults to vscd's default (32473), timeout_ms to 2000.
 *
 * ipmi_sim strips the three IANA bytes before calling the handler and puts them back in
 * front of whatever it answers. vscd wants them and echoes them: the plugin adds them to
 * the request and drops them from vscd's answer, so ipmitool sees exactly the bytes the
 * Redfish action Vsc.IpmiRequest answers.
 *
 * ipmi_sim handlers are synchronous: one exchange (connect, write, read) is bounded by
 * timeout_ms in total. vscd slow: C3 (timeout); vscd absent or closing on us: FF.
 */
#include <OpenIPMI/mcserv.h>
#include <OpenIPMI/serv.h>

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define VSC_IANA_DEFAULT   32473u /* vscd's ipmi_iana default: d9 7e 00 */
#define VSC_TIMEOUT_MS     2000
#define VSC_FRAME_MAX      300 /* vscd's IPMI_SOCKET_FRAME_MAX */
#define VSC_RESP_MAX       256
#define VSC_TRANSPORT_IPMB 0
#define VSC_TRANSPORT_LAN  1
#define CC_TIMEOUT         0xC3
#define CC_LENGTH_EXCEEDED 0xC8
#define CC_UNSPECIFIED     0xFF
#define MEDIUM_IPMB        1 /* IPMI v2.0 Table 6-3 */

/* The entry points ipmi_sim looks up with dlsym (no header declares them). */
int ipmi_sim_module_init(sys_data_t *sys, const char *options);
int ipmi_sim_module_print_version(sys_data_t *sys, const char *options);

struct vsc_plugin {
    sys_data_t *sys;
    struct sockaddr_un addr;
    uint32_t iana;
    int timeout_ms;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for `events` on fd until the deadline: 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -errno;
    }
}

static int send_all(int fd, const uint8_t *buf, size_t len, int64_t deadline)
{
    size_t done = 0;
    while (done < len) {
        ssize_t w = send(fd, buf + done, len - done, MSG_NOSIGNAL);
        if (w > 0) {
            done += (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return -errno;
        int rc = wait_fd(fd, POLLOUT, deadline);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Reads exactly len bytes; -EPIPE when vscd closes first. */
static int recv_all(int fd, uint8_t *buf, size_t len, int64_t deadline)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = recv(fd, buf + done, len - done, 0);
        if (r > 0) {
            done += (size_t)r;
            continue;
        }
        if (r == 0)
            return -EPIPE;
        if (errno != EAGAIN && errno != EINTR)
            return -errno;
        int rc = wait_fd(fd, POLLIN, deadline);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int connect_by(const struct vsc_plugin *pl, int64_t deadline)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* EAGAIN: vscd's accept queue is full (vscd busy, or stuck with earlier attempts still
     * queued), so vscd is there. A Unix socket does not connect in the background, and poll
     * says POLLOUT at once on the unconnected socket (the send then failed ENOTCONN: FF, as
     * if vscd were gone): try connect again until the deadline, which gives C3. */
    int rc;
    while ((rc = connect(fd, (const struct sockaddr *)&pl->addr, sizeof(pl->addr))) < 0 &&
           errno == EAGAIN) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            errno = ETIMEDOUT;
            break;
        }
        poll(NULL, 0, left < 20 ? (int)left : 20);
    }
    if (rc == 0)
        return fd;
    rc = -errno;
    close(fd);
    return rc;
}

/* One request frame out, one response frame back: the response's length, or -errno. */
static int exchange(const struct vsc_plugin *pl, const uint8_t *req, size_t req_len, uint8_t *resp,
                    size_t resp_max)
{
    int64_t deadline = now_ms() + pl->timeout_ms;
    int fd = connect_by(pl, deadline);
    if (fd < 0)
        return fd;
    uint8_t hdr[2];
    int rc = send_all(fd, req, req_len, deadline);
    if (rc == 0)
        rc = recv_all(fd, hdr, sizeof(hdr), deadline);
    size_t len = rc == 0 ? (size_t)(hdr[0] | hdr[1] << 8) : 0;
    if (rc == 0 && (len < 1 || len > resp_max))
        rc = -EPROTO;
    if (rc == 0)
        rc = recv_all(fd, resp, len, deadline);
    close(fd);
    return rc < 0 ? rc : (int)len;
}

static void answer_cc(unsigned char *rdata, unsigned int *rdata_len, uint8_t cc)
{
    rdata[0] = cc;
    *rdata_len = 1;
}

/* ipmi_sim calls this with msg->data after the IANA (in msg->iana) and *rdata_len the size
 * of its response buffer (36 bytes over LAN); it re-adds the IANA after rdata[0], so the
 * whole response vscd may build (cc, IANA, data) is *rdata_len bytes. */
static void handle_oem(lmc_data_t *mc, msg_t *msg, unsigned char *rdata, unsigned int *rdata_len,
                       void *cb_data)
{
    (void)mc;
    const struct vsc_plugin *pl = cb_data;
    uint8_t req[2 + VSC_FRAME_MAX], resp[VSC_RESP_MAX];
    size_t body = 4 + 3 + msg->len; /* netfn cmd transport max, IANA, data */
    if (body > VSC_FRAME_MAX) {
        answer_cc(rdata, rdata_len, CC_LENGTH_EXCEEDED);
        return;
    }
    if (*rdata_len < 4) { /* not even cc + IANA: nothing vscd says would fit */
        answer_cc(rdata, rdata_len, CC_UNSPECIFIED);
        return;
    }
    const channel_t *ch = msg->orig_channel;
    req[0] = (uint8_t)(body & 0xFF);
    req[1] = (uint8_t)(body >> 8);
    req[2] = msg->netfn;
    req[3] = msg->cmd;
    req[4] = ch && ch->medium_type == MEDIUM_IPMB ? VSC_TRANSPORT_IPMB : VSC_TRANSPORT_LAN;
    req[5] = (uint8_t)(*rdata_len > 255 ? 255 : *rdata_len);
    req[6] = (uint8_t)(msg->iana & 0xFF);
    req[7] = (uint8_t)(msg->iana >> 8 & 0xFF);
    req[8] = (uint8_t)(msg->iana >> 16 & 0xFF);
    if (msg->len)
        memcpy(req + 9, msg->data, msg->len);
    int n = exchange(pl, req, 2 + body, resp, sizeof(resp));
    if (n < 0) {
        pl->sys->log(pl->sys, OS_ERROR, msg, "vsc: %s: %s", pl->addr.sun_path, strerror(-n));
        answer_cc(rdata, rdata_len, n == -ETIMEDOUT ? CC_TIMEOUT : CC_UNSPECIFIED);
        return;
    }
    /* cc [IANA data...]: keep the cc and the data; ipmi_sim puts the IANA back. */
    size_t data_len = n > 4 ? (size_t)n - 4 : 0;
    if ((size_t)n > req[5]) { /* vscd answered more than it was allowed */
        answer_cc(rdata, rdata_len, CC_UNSPECIFIED);
        return;
    }
    rdata[0] = resp[0];
    memcpy(rdata + 1, resp + 4, data_len);
    *rdata_len = (unsigned int)(1 + data_len);
}

/* "socket=PATH iana=N timeout_ms=N" (any order, spaces between). 0 or EINVAL. */
static int parse_options(struct vsc_plugin *pl, const char *options)
{
    char *copy = strdup(options ? options : ""), *save = NULL;
    if (!copy)
        return ENOMEM;
    int err = 0;
    for (char *tok = strtok_r(copy, " \t", &save); tok && !err;
         tok = strtok_r(NULL, " \t", &save)) {
        char *end = NULL;
        if (strncmp(tok, "socket=", 7) == 0 && strlen(tok + 7) < sizeof(pl->addr.sun_path))
            strcpy(pl->addr.sun_path, tok + 7);
        else if (strncmp(tok, "iana=", 5) == 0)
            pl->iana = (uint32_t)strtoul(tok + 5, &end, 0);
        else if (strncmp(tok, "timeout_ms=", 11) == 0)
            pl->timeout_ms = (int)strtol(tok + 11, &end, 10);
        else
            err = EINVAL;
        if (end && *end)
            err = EINVAL;
    }
    free(copy);
    if (!pl->addr.sun_path[0] || pl->iana < 1 || pl->iana > 0xFFFFFF || pl->timeout_ms < 1 ||
        pl->timeout_ms > 60000)
        err = EINVAL;
    return err;
}

int ipmi_sim_module_print_version(sys_data_t *sys, const char *options)
{
    (void)sys;
    (void)options;
    printf("vsc_ipmi_sim: vscd's IPMI OEM command over its local socket\n");
    return 0;
}

int ipmi_sim_module_init(sys_data_t *sys, const char *options)
{
    struct vsc_plugin *pl = calloc(1, sizeof(*pl)); /* lives as long as ipmi_sim */
    if (!pl)
        return ENOMEM;
    pl->sys = sys;
    pl->addr.sun_family = AF_UNIX;
    pl->iana = VSC_IANA_DEFAULT;
    pl->timeout_ms = VSC_TIMEOUT_MS;
    int err = parse_options(pl, options);
    if (!err)
        err = ipmi_emu_register_iana_handler(pl->iana, handle_oem, pl);
    if (err) {
        sys->log(sys, SETUP_ERROR, NULL,
                 "vsc: cannot start (options \"%s\"; socket=PATH is required): %s",
                 options ? options : "", strerror(err));
        free(pl);
        return err;
    }
    sys->log(sys, DEBUG, NULL, "vsc: IANA %u forwarded to %s", (unsigned)pl->iana,
             pl->addr.sun_path);
    return 0;
}
