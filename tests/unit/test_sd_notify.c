/* sd_notify: the notification datagrams reach a real AF_UNIX socket, path and abstract. */
#include "test.h"

#include "sd_notify.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A datagram socket bound at name ("/path" or "@abstract", as NOTIFY_SOCKET spells it). */
static int bind_receiver(const char *name)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    if (len >= sizeof(a.sun_path))
        return -1;
    memcpy(a.sun_path, name, len);
    if (name[0] == '@')
        a.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (name[0] == '/'));
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, alen) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The next datagram within 2 s, as a string; "" if none came. */
static const char *receive(int fd, char *buf, size_t bufsz)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    buf[0] = '\0';
    if (poll(&p, 1, 2000) == 1) {
        ssize_t n = recv(fd, buf, bufsz - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
    }
    return buf;
}

static bool nothing_waiting(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 0;
}

TEST(sd_notify_sends_each_message_to_a_path_socket)
{
    char dir[256], path[300], buf[256];
    REQUIRE(test_tmpdir(dir, sizeof(dir)) == 0);
    snprintf(path, sizeof(path), "%s/notify", dir);
    int rx = bind_receiver(path);
    REQUIRE(rx >= 0);
    struct sd_notifier n;
    CHECK_EQ_INT(sd_notifier_open(&n, path, NULL, NULL), 0);
    CHECK(sd_notifier_enabled(&n));
    CHECK_EQ_INT(sd_notifier_send(&n, "READY=1\nSTATUS=serving"), 0);
    CHECK_STREQ(receive(rx, buf, sizeof(buf)), "READY=1\nSTATUS=serving");
    CHECK_EQ_INT(sd_notifier_send(&n, "STOPPING=1"), 0);
    CHECK_STREQ(receive(rx, buf, sizeof(buf)), "STOPPING=1");
    CHECK_EQ_INT(sd_notifier_reloading(&n), 0);
    receive(rx, buf, sizeof(buf));
    CHECK(strncmp(buf, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0);
    CHECK(strtoull(buf + 27, NULL, 10) > 0);
    CHECK(nothing_waiting(rx));
    sd_notifier_close(&n);
    CHECK(!sd_notifier_enabled(&n));
    close(rx);
    test_rmtree(dir);
}

TEST(sd_notify_sends_to_an_abstract_socket)
{
    char name[64], buf[64];
    snprintf(name, sizeof(name), "@vsc-test-notify-%d", (int)getpid());
    int rx = bind_receiver(name);
    REQUIRE(rx >= 0);
    struct sd_notifier n;
    CHECK_EQ_INT(sd_notifier_open(&n, name, NULL, NULL), 0);
    CHECK_EQ_INT(sd_notifier_send(&n, "WATCHDOG=1"), 0);
    CHECK_STREQ(receive(rx, buf, sizeof(buf)), "WATCHDOG=1");
    sd_notifier_close(&n);
    close(rx);
}

TEST(sd_notify_is_off_without_a_socket)
{
    struct sd_notifier n;
    CHECK_EQ_INT(sd_notifier_open(&n, NULL, "1000000", NULL), 0);
    CHECK(!sd_notifier_enabled(&n));
    CHECK_EQ_INT(sd_notifier_send(&n, "READY=1"), 0);
    CHECK_EQ_INT(sd_notifier_watchdog_ms(&n), 0); /* no watchdog without a socket to feed */
    CHECK_EQ_INT(sd_notifier_open(&n, "", NULL, NULL), 0);
    CHECK(!sd_notifier_enabled(&n));
    sd_notifier_close(&n);
}

TEST(sd_notify_refuses_bad_socket_names)
{
    struct sd_notifier n;
    char long_path[200];
    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[0] = '/';
    long_path[sizeof(long_path) - 1] = '\0';
    CHECK_EQ_INT(sd_notifier_open(&n, "relative/notify", NULL, NULL), -EINVAL);
    CHECK(!sd_notifier_enabled(&n));
    CHECK_EQ_INT(sd_notifier_open(&n, "@", NULL, NULL), -EINVAL);
    CHECK_EQ_INT(sd_notifier_open(&n, long_path, NULL, NULL), -EINVAL);
    CHECK(!sd_notifier_enabled(&n));
}

TEST(sd_notify_reports_a_missing_receiver)
{
    char dir[256], path[300];
    REQUIRE(test_tmpdir(dir, sizeof(dir)) == 0);
    snprintf(path, sizeof(path), "%s/nobody", dir);
    struct sd_notifier n;
    CHECK_EQ_INT(sd_notifier_open(&n, path, NULL, NULL), 0);
    CHECK_EQ_INT(sd_notifier_send(&n, "READY=1"), -ENOENT);
    sd_notifier_close(&n);
    test_rmtree(dir);
}

TEST(sd_notify_watchdog_interval_is_half_the_timeout_for_this_process_only)
{
    char mine[32], other[32];
    snprintf(mine, sizeof(mine), "%d", (int)getpid());
    snprintf(other, sizeof(other), "%d", (int)getpid() + 1);
    struct sd_notifier n;
    CHECK_EQ_INT(sd_notifier_open(&n, "@vsc-test-wd", "30000000", NULL), 0);
    CHECK_EQ_INT(sd_notifier_watchdog_ms(&n), 15000);
    sd_notifier_close(&n);
    CHECK_EQ_INT(sd_notifier_open(&n, "@vsc-test-wd", "400000", mine), 0);
    CHECK_EQ_INT(sd_notifier_watchdog_ms(&n), 200);
    sd_notifier_close(&n);
    CHECK_EQ_INT(sd_notifier_open(&n, "@vsc-test-wd", "400000", other), 0);
    CHECK_EQ_INT(sd_notifier_watchdog_ms(&n), 0);
    sd_notifier_close(&n);
    const char *bad[] = {"0", "-5", "12x", "", "99999999999999999999999"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CHECK_EQ_INT(sd_notifier_open(&n, "@vsc-test-wd", bad[i], NULL), 0);
        CHECK_EQ_INT(sd_notifier_watchdog_ms(&n), 0);
        sd_notifier_close(&n);
    }
}

TEST(sd_notify_env_is_read_then_cleared)
{
    char name[64], buf[64];
    snprintf(name, sizeof(name), "@vsc-test-env-%d", (int)getpid());
    int rx = bind_receiver(name);
    REQUIRE(rx >= 0);
    setenv("NOTIFY_SOCKET", name, 1);
    setenv("WATCHDOG_USEC", "2000000", 1);
    unsetenv("WATCHDOG_PID");
    struct sd_notifier n;
    CHECK_EQ_INT(sd_notifier_open_env(&n), 0);
    CHECK_EQ_INT(sd_notifier_watchdog_ms(&n), 1000);
    CHECK(getenv("NOTIFY_SOCKET") == NULL);
    CHECK(getenv("WATCHDOG_USEC") == NULL);
    CHECK_EQ_INT(sd_notifier_send(&n, "READY=1"), 0);
    CHECK_STREQ(receive(rx, buf, sizeof(buf)), "READY=1");
    sd_notifier_close(&n);
    close(rx);
}
