/* term: see term.h. */
#include "term.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved;
static int saved_fd = -1;
static int saved_flags = -1, flags_fd = -1; /* its file status flags (O_NONBLOCK) */

int term_raw(int fd)
{
    if (flags_fd < 0 && (saved_flags = fcntl(fd, F_GETFL)) >= 0)
        flags_fd = fd;
    if (!isatty(fd))
        return -ENOTTY;
    struct termios t;
    if (tcgetattr(fd, &t) < 0)
        return -errno;
    if (saved_fd < 0) {
        saved = t;
        saved_fd = fd;
    }
    cfmakeraw(&t);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(fd, TCSAFLUSH, &t) < 0)
        return -errno;
    return 0;
}

void term_restore(void)
{
    if (flags_fd >= 0) /* the open file is the shell's too: the event loop made it O_NONBLOCK */
        fcntl(flags_fd, F_SETFL, saved_flags);
    flags_fd = -1;
    if (saved_fd < 0)
        return;
    tcsetattr(saved_fd, TCSAFLUSH, &saved);
    saved_fd = -1;
}

bool term_is_raw(void)
{
    return saved_fd >= 0;
}

static void put(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* Reads one line from fd; sigfd readable interrupts. */
static int read_line(int fd, char *buf, size_t bufsz, int sigfd)
{
    size_t n = 0;
    for (;;) {
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = sigfd, .events = POLLIN}};
        if (poll(p, sigfd >= 0 ? 2 : 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (sigfd >= 0 && (p[1].revents & POLLIN))
            return -EINTR;
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -ECANCELED;
        if (c == '\n' || c == '\r')
            break;
        if (n + 1 < bufsz)
            buf[n++] = c;
    }
    buf[n] = '\0';
    return 0;
}

int term_prompt(const char *prompt, bool secret, char *buf, size_t bufsz, int sigfd)
{
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return -ENXIO;
    struct termios old, t;
    bool restore = false;
    if (secret && tcgetattr(fd, &old) == 0) {
        t = old;
        t.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
        t.c_lflag |= ECHONL | ICANON;
        restore = tcsetattr(fd, TCSAFLUSH, &t) == 0;
    }
    put(fd, prompt);
    int rc = read_line(fd, buf, bufsz, sigfd);
    if (restore) {
        tcsetattr(fd, TCSAFLUSH, &old);
        if (rc < 0)
            put(fd, "\n");
    }
    close(fd);
    return rc;
}
