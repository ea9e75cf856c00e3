/*
 * slowsync — an LD_PRELOAD shim for a slow disk, as a BMC's eMMC or a disk busy with other
 * writes would be, that writes down which thread waited for it:
 * - fsync() and fdatasync() on a descriptor of VSC_SLOW_SYNC_FILE sleep VSC_SLOW_SYNC_MS
 *   first;
 * - pread() on a file under the directory VSC_SLOW_READ_DIR sleeps VSC_SLOW_READ_MS first;
 * - writev() to a file under the directory VSC_SLOW_WRITE_DIR sleeps VSC_SLOW_WRITE_MS first.
 * Each such call appends "main" (the process's first thread) or "other" to VSC_SLOW_SYNC_LOG
 * (VSC_SLOW_READ_LOG, VSC_SLOW_WRITE_LOG). Other files behave as usual. Test tooling only
 * (tests/api/test_faults.py).
 *
 *   VSC_SLOW_SYNC_FILE=<state>/vsc.db  VSC_SLOW_SYNC_MS=1500  VSC_SLOW_SYNC_LOG=<file>
 *   VSC_SLOW_READ_DIR=<state>/history  VSC_SLOW_READ_MS=200  VSC_SLOW_READ_LOG=<file>
 *   VSC_SLOW_WRITE_DIR=<state>/history  VSC_SLOW_WRITE_MS=500  VSC_SLOW_WRITE_LOG=<file>
 *   LD_PRELOAD=build/slowsync.so  vscd ...
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

/* The file behind fd, into target; false when it has none. */
static bool fd_path(int fd, char *target, size_t size)
{
    char link[64];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, size - 1);
    if (n <= 0)
        return false;
    target[n] = '\0';
    return true;
}

static bool is_the_slow_file(int fd)
{
    const char *want = getenv("VSC_SLOW_SYNC_FILE");
    char target[PATH_MAX];
    return want && fd_path(fd, target, sizeof(target)) && strcmp(target, want) == 0;
}

static bool is_under(const char *dir, int fd)
{
    char target[PATH_MAX];
    size_t n = dir ? strlen(dir) : 0;
    return n && fd_path(fd, target, sizeof(target)) && strncmp(target, dir, n) == 0 &&
           target[n] == '/';
}

static void note_and_wait(const char *log, const char *ms)
{
    if (log) {
        int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
            const char *who = gettid() == getpid() ? "main\n" : "other\n";
            ssize_t w = write(fd, who, strlen(who));
            (void)w;
            close(fd);
        }
    }
    long wait_ms = ms ? atol(ms) : 0;
    struct timespec ts = {.tv_sec = wait_ms / 1000, .tv_nsec = (wait_ms % 1000) * 1000000L};
    while (wait_ms > 0 && nanosleep(&ts, &ts) != 0)
        ;
}

int fsync(int fd)
{
    if (is_the_slow_file(fd))
        note_and_wait(getenv("VSC_SLOW_SYNC_LOG"), getenv("VSC_SLOW_SYNC_MS"));
    return NEXT(fsync)(fd);
}

int fdatasync(int fd)
{
    if (is_the_slow_file(fd))
        note_and_wait(getenv("VSC_SLOW_SYNC_LOG"), getenv("VSC_SLOW_SYNC_MS"));
    return NEXT(fdatasync)(fd);
}

ssize_t pread(int fd, void *buf, size_t count, off_t offset)
{
    if (is_under(getenv("VSC_SLOW_READ_DIR"), fd))
        note_and_wait(getenv("VSC_SLOW_READ_LOG"), getenv("VSC_SLOW_READ_MS"));
    return NEXT(pread)(fd, buf, count, offset);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    if (is_under(getenv("VSC_SLOW_WRITE_DIR"), fd))
        note_and_wait(getenv("VSC_SLOW_WRITE_LOG"), getenv("VSC_SLOW_WRITE_MS"));
    return NEXT(writev)(fd, iov, iovcnt);
}
