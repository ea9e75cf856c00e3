/*
 * slowsync — an LD_PRELOAD shim that makes syncing one file slow, as a BMC's eMMC or a disk
 * busy with other writes would, and writes down which thread synced it: fsync() and
 * fdatasync() on a descriptor of VSC_SLOW_SYNC_FILE sleep VSC_SLOW_SYNC_MS first, and each
 * such call appends "main" (the process's first thread) or "other" to VSC_SLOW_SYNC_LOG.
 * Other files sync as usual. Test tooling only (tests/api/test_faults.py).
 *
 *   VSC_SLOW_SYNC_FILE=<state>/vsc.db  VSC_SLOW_SYNC_MS=1500  VSC_SLOW_SYNC_LOG=<file>
 *   LD_PRELOAD=build/slowsync.so  vscd ...
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

static bool is_the_slow_file(int fd)
{
    const char *want = getenv("VSC_SLOW_SYNC_FILE");
    char link[64], target[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (!want || n <= 0)
        return false;
    target[n] = '\0';
    return strcmp(target, want) == 0;
}

static void note_and_wait(void)
{
    const char *log = getenv("VSC_SLOW_SYNC_LOG");
    if (log) {
        int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
            const char *who = gettid() == getpid() ? "main\n" : "other\n";
            ssize_t w = write(fd, who, strlen(who));
            (void)w;
            close(fd);
        }
    }
    const char *ms = getenv("VSC_SLOW_SYNC_MS");
    long wait_ms = ms ? atol(ms) : 0;
    struct timespec ts = {.tv_sec = wait_ms / 1000, .tv_nsec = (wait_ms % 1000) * 1000000L};
    while (wait_ms > 0 && nanosleep(&ts, &ts) != 0)
        ;
}

int fsync(int fd)
{
    if (is_the_slow_file(fd))
        note_and_wait();
    return NEXT(fsync)(fd);
}

int fdatasync(int fd)
{
    if (is_the_slow_file(fd))
        note_and_wait();
    return NEXT(fdatasync)(fd);
}
