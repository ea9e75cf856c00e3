/*
 * readonlyfs — an LD_PRELOAD shim that makes a directory read-only for the process while a
 * flag file exists, as a filesystem remounted read-only after an error would: every
 * write-kind call on a file under VSC_RO_DIR (through a path or a descriptor already open)
 * fails with EROFS, reads go on. This machine cannot remount a filesystem with files open
 * for writing, and a read-only bind mount does not stop writes through open descriptors;
 * the fault test (tests/api/test_faults.py) needs exactly that. Test tooling only.
 *
 *   VSC_RO_DIR=<dir>  VSC_RO_FLAG=<file>  LD_PRELOAD=build/readonlyfs.so  vscd ...
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

static bool active(void)
{
    const char *flag = getenv("VSC_RO_FLAG");
    struct stat st;
    return flag && getenv("VSC_RO_DIR") && stat(flag, &st) == 0;
}

static bool under_dir(const char *path)
{
    const char *dir = getenv("VSC_RO_DIR");
    size_t n = dir ? strlen(dir) : 0;
    return n && path && strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* Whether writing through fd would touch the read-only directory now. */
static bool fd_blocked(int fd)
{
    if (!active())
        return false;
    char link[64], target[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n <= 0)
        return false;
    target[n] = '\0';
    return under_dir(target);
}

/* Whether a path (absolute, or relative to dirfd) is in the read-only directory now. */
static bool path_blocked(int dirfd, const char *path)
{
    if (!active() || !path)
        return false;
    if (path[0] == '/' || dirfd == AT_FDCWD) {
        char abs[PATH_MAX];
        if (path[0] != '/' && getcwd(abs, sizeof(abs))) {
            size_t len = strlen(abs);
            snprintf(abs + len, sizeof(abs) - len, "/%s", path);
            return under_dir(abs);
        }
        return under_dir(path);
    }
    return fd_blocked(dirfd);
}

#define REFUSE_FD(fd, fail)                                                                        \
    do {                                                                                           \
        if (fd_blocked(fd)) {                                                                      \
            errno = EROFS;                                                                         \
            return fail;                                                                           \
        }                                                                                          \
    } while (0)

ssize_t write(int fd, const void *buf, size_t n)
{
    REFUSE_FD(fd, -1);
    return NEXT(write)(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    REFUSE_FD(fd, -1);
    return NEXT(pwrite)(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    REFUSE_FD(fd, -1);
    return NEXT(pwrite64)(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    REFUSE_FD(fd, -1);
    return NEXT(writev)(fd, iov, cnt);
}

int ftruncate(int fd, off_t len)
{
    REFUSE_FD(fd, -1);
    return NEXT(ftruncate)(fd, len);
}

int ftruncate64(int fd, off_t len)
{
    REFUSE_FD(fd, -1);
    return NEXT(ftruncate64)(fd, len);
}

int fsync(int fd)
{
    REFUSE_FD(fd, -1);
    return NEXT(fsync)(fd);
}

int fdatasync(int fd)
{
    REFUSE_FD(fd, -1);
    return NEXT(fdatasync)(fd);
}

static bool writes(int flags)
{
    return (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC));
}

static bool refuse_path(int dirfd, const char *path, int flags)
{
    if (writes(flags) && path_blocked(dirfd, path)) {
        errno = EROFS;
        return true;
    }
    return false;
}

/* open(2) and its variants: the mode argument exists only with O_CREAT. */
#define WRAP_OPEN(name, params, dirfd, args)                                                       \
    int name params                                                                                \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, flags);                                                                       \
        mode_t mode = (flags & O_CREAT) ? va_arg(ap, mode_t) : 0;                                  \
        va_end(ap);                                                                                \
        if (refuse_path(dirfd, path, flags))                                                       \
            return -1;                                                                             \
        return NEXT(name) args;                                                                    \
    }

WRAP_OPEN(open, (const char *path, int flags, ...), AT_FDCWD, (path, flags, mode))
WRAP_OPEN(open64, (const char *path, int flags, ...), AT_FDCWD, (path, flags, mode))
WRAP_OPEN(openat, (int dirfd, const char *path, int flags, ...), dirfd, (dirfd, path, flags, mode))

int unlink(const char *path)
{
    return refuse_path(AT_FDCWD, path, O_WRONLY) ? -1 : NEXT(unlink)(path);
}

int unlinkat(int dirfd, const char *path, int flags)
{
    return refuse_path(dirfd, path, O_WRONLY) ? -1 : NEXT(unlinkat)(dirfd, path, flags);
}

int mkdir(const char *path, mode_t mode)
{
    return refuse_path(AT_FDCWD, path, O_WRONLY) ? -1 : NEXT(mkdir)(path, mode);
}

int rename(const char *from, const char *to)
{
    return refuse_path(AT_FDCWD, from, O_WRONLY) || refuse_path(AT_FDCWD, to, O_WRONLY)
               ? -1
               : NEXT(rename)(from, to);
}
