/*
 * fakeconfigfs — an LD_PRELOAD shim that makes a plain folder behave as the kernel's
 * configfs for USB gadgets (drivers/usb/gadget/configfs.c), as far as libusbgx and
 * gadget/gadget.c touch it, on machines with no configfs and no UDC.
 *
 *   FAKE_CONFIGFS_ROOT  the configfs mount point; gadgets live in <root>/usb_gadget
 *                       (created when missing, as loading libcomposite does)
 *   FAKE_UDC_DIR        stands in for /sys/class/udc (one entry per UDC); an entry may
 *                       hold `endpoints`, the UDC's endpoint count (no limit without it)
 *   FAKE_TTY_DIR        where the caller's /dev/ttyGS<n> are (its VSC_TTY_DIR), if any
 *   FAKE_CONFIGFS_TRACE set: every call the shim judges is logged on stderr
 *
 * What the kernel does and the shim fakes (absolute paths only; the rest passes through):
 * - mkdir of a gadget, configs/<label>.<n>, functions/<type>.<instance>, strings/<lang>
 *   creates the attribute files and default folders the kernel would show.
 * - acm, gser and obex are u_serial functions: mkdir gives port_num the lowest free number
 *   in all gadgets (read from the folder, so it holds across processes); the 9th gives
 *   EBUSY. Other function types are not there (ENOENT), a name with no dot is EINVAL.
 * - Writing UDC: a name that is not in FAKE_UDC_DIR gives ENODEV; a name another gadget
 *   holds, or any name while this gadget is bound, gives EBUSY; a gadget with no config
 *   or a config with no function gives EINVAL; "" or "\n" unbinds (ENODEV if unbound).
 *   A UDC with an `endpoints` file cannot bind functions needing more endpoints (3 per
 *   u_serial function: notify, bulk in, bulk out): EBUSY, as 6.1 kernels report a failed
 *   bind ("couldn't find an available UDC or it's busy").
 * - symlink of a function into a config: EINVAL while the gadget is bound or for a target
 *   that is not a function of the same gadget, EEXIST when already linked there.
 * - unlink of a function link from a bound gadget's config unbinds the whole gadget.
 * - rmdir of a linked function: EBUSY; of a config with links, or of a gadget with
 *   configs, functions or strings left: ENOTEMPTY; of a default folder: EPERM. A
 *   successful rmdir removes the attribute files and default folders with it.
 * - rmdir of a u_serial function whose FAKE_TTY_DIR/ttyGS<port_num> the calling process
 *   holds open: the kernel's rmdir waits until every open of that tty is closed
 *   (u_serial's gserial_free_line -> gserial_free_port: wait_event on close_wait), so the
 *   caller would wait for itself forever. The shim says so on stderr and aborts. (The
 *   kernel hangs open ttys up when the gadget is unbound; the shim does not, so a tty
 *   kept open across an unbind counts as open.)
 * - unlink of an attribute file: EPERM.
 * Not faked: attribute value checks, the host side.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SYS_UDC     "/sys/class/udc"
#define MAX_SERIAL  8
#define MAX_TRACKED 16

static char gadgets[PATH_MAX]; /* <FAKE_CONFIGFS_ROOT>/usb_gadget, or "" */
static char udcs[PATH_MAX];    /* FAKE_UDC_DIR, or "" */
static char ttys[PATH_MAX];    /* FAKE_TTY_DIR, or "" */
static bool trace;

/* The next definitions (libc's, or a sanitizer's), resolved on first use. */
static int (*real_mkdir)(const char *, mode_t);
static int (*real_rmdir)(const char *);
static int (*real_symlink)(const char *, const char *);
static int (*real_unlink)(const char *);
static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_close)(int);
static FILE *(*real_fopen)(const char *, const char *);
static DIR *(*real_opendir)(const char *);
static int (*real_scandir)(const char *, struct dirent ***, int (*)(const struct dirent *),
                           int (*)(const struct dirent **, const struct dirent **));

static void resolve_all(void)
{
    if (real_scandir)
        return;
#define RESOLVE(name) *(void **)&real_##name = dlsym(RTLD_NEXT, #name)
    RESOLVE(mkdir);
    RESOLVE(rmdir);
    RESOLVE(symlink);
    RESOLVE(unlink);
    RESOLVE(open);
    RESOLVE(openat);
    RESOLVE(write);
    RESOLVE(close);
    RESOLVE(fopen);
    RESOLVE(opendir);
    RESOLVE(scandir); /* last: the others are set once this is */
#undef RESOLVE
}

/* snprintf that says whether all of it fit. */
__attribute__((format(printf, 3, 4))) static bool pathf(char *out, size_t outsz, const char *fmt,
                                                        ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, outsz, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < outsz;
}

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
    if (!trace)
        return;
    va_list ap;
    va_start(ap, fmt);
    vdprintf(STDERR_FILENO, fmt, ap); /* libc's own write: not intercepted */
    va_end(ap);
}

__attribute__((constructor)) static void fake_init(void)
{
    resolve_all();
    const char *root = getenv("FAKE_CONFIGFS_ROOT"), *udc = getenv("FAKE_UDC_DIR");
    const char *t = getenv("FAKE_CONFIGFS_TRACE");
    trace = t && *t && strcmp(t, "0") != 0;
    if (root && *root) {
        pathf(gadgets, sizeof(gadgets), "%s/usb_gadget", root);
        real_mkdir(gadgets, 0755);
    }
    if (udc && *udc)
        pathf(udcs, sizeof(udcs), "%s", udc);
    const char *tty = getenv("FAKE_TTY_DIR");
    if (tty && *tty)
        pathf(ttys, sizeof(ttys), "%s", tty);
}

/* ---- paths ----------------------------------------------------------------------------------- */

/* Where a path falls in the gadget tree: comp[0] is the gadget, comp[1..] below it. */
struct where {
    int n; /* components below <root>/usb_gadget; 0 = outside */
    char comp[6][NAME_MAX + 1];
    char gadget[PATH_MAX]; /* the gadget's folder */
};

/* /sys/class/udc/... → FAKE_UDC_DIR/...; returns `path` itself when nothing changes. */
static const char *redirect(const char *path, char *buf, size_t bufsz)
{
    size_t n = strlen(SYS_UDC);
    if (!path || !udcs[0] || strncmp(path, SYS_UDC, n) != 0 || (path[n] && path[n] != '/'))
        return path;
    pathf(buf, bufsz, "%s%s", udcs, path + n);
    return buf;
}

static bool locate(const char *path, struct where *w)
{
    memset(w, 0, sizeof(*w));
    size_t n = strlen(gadgets);
    if (!gadgets[0] || !path || strncmp(path, gadgets, n) != 0 || path[n] != '/')
        return false;
    for (const char *p = path + n; *p;) {
        while (*p == '/')
            p++;
        size_t len = strcspn(p, "/");
        if (!len)
            break;
        if (w->n == 6 || len > NAME_MAX)
            return false;
        if (!(len == 1 && p[0] == '.')) {
            memcpy(w->comp[w->n], p, len);
            w->comp[w->n++][len] = '\0';
        }
        p += len;
    }
    pathf(w->gadget, sizeof(w->gadget), "%s/%s", gadgets, w->comp[0]);
    return w->n > 0;
}

static bool is(const struct where *w, int n, const char *c1)
{
    return w->n == n && (!c1 || strcmp(w->comp[1], c1) == 0);
}

static bool is_user_config(const struct where *w)
{
    return is(w, 3, "configs");
}

static bool is_config_link(const struct where *w)
{
    return is(w, 4, "configs") && strcmp(w->comp[3], "strings") != 0;
}

static bool is_function(const struct where *w)
{
    return is(w, 3, "functions");
}

/* strings/<lang> of a gadget or of a config */
static bool is_strings_lang(const struct where *w)
{
    return is(w, 3, "strings") || (is(w, 5, "configs") && strcmp(w->comp[3], "strings") == 0);
}

static bool is_udc_file(const struct where *w)
{
    return is(w, 2, "UDC");
}

/* ---- the real folder ------------------------------------------------------------------------- */

static int put(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX];
    pathf(path, sizeof(path), "%s/%s", dir, name);
    int fd = real_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    ssize_t len = (ssize_t)strlen(text), done = real_write(fd, text, (size_t)len);
    real_close(fd);
    return done == len ? 0 : -EIO;
}

static void get(const char *dir, const char *name, char *out, size_t outsz)
{
    char path[PATH_MAX];
    pathf(path, sizeof(path), "%s/%s", dir, name);
    out[0] = '\0';
    int fd = real_open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, out, outsz - 1);
    real_close(fd);
    out[n > 0 ? n : 0] = '\0';
    out[strcspn(out, "\n")] = '\0';
}

/* Removes a folder the kernel would remove with its parent: files, then folders. */
static void remove_tree(const char *dir)
{
    DIR *d = real_opendir(dir);
    if (d) {
        struct dirent *e;
        char path[PATH_MAX];
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            pathf(path, sizeof(path), "%s/%s", dir, e->d_name);
            if (e->d_type == DT_DIR)
                remove_tree(path);
            else
                real_unlink(path);
        }
        closedir(d);
    }
    real_rmdir(dir);
}

/* The number of entries of `dir`, not counting those named in `skip` (NULL-ended). */
static int entries(const char *dir, const char *const *skip, unsigned char only_type)
{
    DIR *d = real_opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        bool skipped = e->d_name[0] == '.' || (only_type && e->d_type != only_type);
        for (int i = 0; skip && skip[i] && !skipped; i++)
            skipped = strcmp(e->d_name, skip[i]) == 0;
        n += !skipped;
    }
    closedir(d);
    return n;
}

static bool bound(const char *gadget)
{
    char udc[NAME_MAX + 1];
    get(gadget, "UDC", udc, sizeof(udc));
    return udc[0] != '\0';
}

/* Whether a config of `gadget` links the function folder `function`. */
static bool linked(const char *gadget, const char *function)
{
    char configs[PATH_MAX], target[PATH_MAX], fn_real[PATH_MAX];
    if (!realpath(function, fn_real))
        return false;
    pathf(configs, sizeof(configs), "%s/configs", gadget);
    DIR *d = real_opendir(configs);
    if (!d)
        return false;
    bool found = false;
    struct dirent *c;
    while (!found && (c = readdir(d))) {
        char cdir[PATH_MAX];
        if (c->d_name[0] == '.' || !pathf(cdir, sizeof(cdir), "%s/%s", configs, c->d_name))
            continue;
        DIR *cd = real_opendir(cdir);
        struct dirent *l;
        while (cd && !found && (l = readdir(cd))) {
            char lpath[PATH_MAX];
            if (l->d_type != DT_LNK || !pathf(lpath, sizeof(lpath), "%s/%s", cdir, l->d_name))
                continue;
            found = realpath(lpath, target) && strcmp(target, fn_real) == 0;
        }
        if (cd)
            closedir(cd);
    }
    closedir(d);
    return found;
}

static bool serial_type(const char *function)
{
    static const char *const types[] = {"acm.", "gser.", "obex."};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strncmp(function, types[i], strlen(types[i])) == 0)
            return true;
    }
    return false;
}

/* The lowest u_serial port number no function of any gadget holds, or -EBUSY. */
static int free_port_num(void)
{
    bool used[MAX_SERIAL] = {false};
    DIR *g = real_opendir(gadgets);
    struct dirent *ge;
    while (g && (ge = readdir(g))) {
        char fdir[PATH_MAX];
        if (ge->d_name[0] == '.' ||
            !pathf(fdir, sizeof(fdir), "%s/%s/functions", gadgets, ge->d_name))
            continue;
        DIR *f = real_opendir(fdir);
        struct dirent *fe;
        while (f && (fe = readdir(f))) {
            char dir[PATH_MAX], num[16];
            if (!serial_type(fe->d_name) || !pathf(dir, sizeof(dir), "%s/%s", fdir, fe->d_name))
                continue;
            get(dir, "port_num", num, sizeof(num));
            int n = atoi(num);
            if (num[0] && n >= 0 && n < MAX_SERIAL)
                used[n] = true;
        }
        if (f)
            closedir(f);
    }
    if (g)
        closedir(g);
    for (int i = 0; i < MAX_SERIAL; i++) {
        if (!used[i])
            return i;
    }
    return -EBUSY;
}

/* ---- the kernel's rules ---------------------------------------------------------------------- */

static int make_gadget_dir(const char *path, mode_t mode)
{
    static const char *const attrs[][2] = {
        {"bcdUSB", "0x0200\n"},
        {"bDeviceClass", "0x00\n"},
        {"bDeviceSubClass", "0x00\n"},
        {"bDeviceProtocol", "0x00\n"},
        {"bMaxPacketSize0", "0x40\n"},
        {"idVendor", "0x0000\n"},
        {"idProduct", "0x0000\n"},
        {"bcdDevice", "0x0601\n"},
        {"max_speed", "super-speed-plus\n"},
        {"UDC", "\n"},
    };
    static const char *const os_desc[][2] = {
        {"use", "0\n"}, {"b_vendor_code", "0x00\n"}, {"qw_sign", "\n"}};
    char sub[PATH_MAX];
    if (real_mkdir(path, mode) < 0)
        return -errno;
    for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
        put(path, attrs[i][0], attrs[i][1]);
    static const char *const dirs[] = {"configs", "functions", "strings", "os_desc"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        pathf(sub, sizeof(sub), "%s/%s", path, dirs[i]);
        real_mkdir(sub, 0755);
    }
    pathf(sub, sizeof(sub), "%s/os_desc", path);
    for (size_t i = 0; i < sizeof(os_desc) / sizeof(os_desc[0]); i++)
        put(sub, os_desc[i][0], os_desc[i][1]);
    return 0;
}

static int fake_mkdir(const struct where *w, const char *path, mode_t mode)
{
    if (w->n == 1)
        return make_gadget_dir(path, mode);
    const char *name = w->comp[w->n - 1];
    const char *dot = strrchr(name, '.');
    if (is_user_config(w)) {
        if (!dot || dot == name || !dot[1] || strspn(dot + 1, "0123456789") != strlen(dot + 1))
            return -EINVAL; /* <label>.<number> */
        if (real_mkdir(path, mode) < 0)
            return -errno;
        char sub[PATH_MAX];
        pathf(sub, sizeof(sub), "%s/strings", path);
        real_mkdir(sub, 0755);
        put(path, "bmAttributes", "0x80\n");
        put(path, "MaxPower", "2\n");
        return 0;
    }
    if (is_function(w)) {
        if (!strchr(name, '.') || name[0] == '.' || !strchr(name, '.')[1])
            return -EINVAL;
        if (!serial_type(name))
            return -ENOENT; /* no such function module */
        int num = free_port_num();
        if (num < 0)
            return num;
        if (real_mkdir(path, mode) < 0)
            return -errno;
        char text[16];
        pathf(text, sizeof(text), "%d\n", num);
        put(path, "port_num", text);
        return 0;
    }
    if (is_strings_lang(w)) {
        if (real_mkdir(path, mode) < 0)
            return -errno;
        if (w->n == 3) {
            put(path, "manufacturer", "\n");
            put(path, "product", "\n");
            put(path, "serialnumber", "\n");
        } else {
            put(path, "configuration", "\n");
        }
        return 0;
    }
    return -EPERM; /* configfs has no other folders a user may make */
}

/* Whether this process holds FAKE_TTY_DIR/ttyGS<port_num of `function`> open. */
static bool tty_held(const char *function, char *tty, size_t ttysz)
{
    char num[16], name[PATH_MAX], dev[PATH_MAX], fd_path[64], target[PATH_MAX];
    get(function, "port_num", num, sizeof(num));
    if (!ttys[0] || !num[0] || !pathf(name, sizeof(name), "%s/ttyGS%s", ttys, num) ||
        !realpath(name, dev))
        return false;
    pathf(tty, ttysz, "%s", name);
    DIR *d = real_opendir("/proc/self/fd");
    struct dirent *e;
    bool held = false;
    while (d && !held && (e = readdir(d))) {
        ssize_t n;
        if (e->d_name[0] == '.' || !pathf(fd_path, sizeof(fd_path), "/proc/self/fd/%s", e->d_name))
            continue;
        n = readlink(fd_path, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';
        held = strcmp(target, dev) == 0;
    }
    if (d)
        closedir(d);
    return held;
}

static int fake_rmdir(const struct where *w, const char *path)
{
    static const char *const config_own[] = {"strings", "bmAttributes", "MaxPower", NULL};
    char sub[PATH_MAX];
    struct stat st;
    if (lstat(path, &st) < 0)
        return -errno;
    if (w->n == 1) {
        static const char *const user[] = {"configs", "functions", "strings"};
        for (size_t i = 0; i < sizeof(user) / sizeof(user[0]); i++) {
            pathf(sub, sizeof(sub), "%s/%s", path, user[i]);
            if (entries(sub, NULL, 0))
                return -ENOTEMPTY;
        }
    } else if (is_user_config(w)) {
        pathf(sub, sizeof(sub), "%s/strings", path);
        if (entries(path, config_own, 0) || entries(sub, NULL, 0))
            return -ENOTEMPTY;
    } else if (is_function(w)) {
        char tty[PATH_MAX];
        if (linked(w->gadget, path))
            return -EBUSY;
        if (serial_type(w->comp[2]) && tty_held(path, tty, sizeof(tty))) {
            dprintf(STDERR_FILENO,
                    "fakeconfigfs: rmdir %s: this process holds %s open; the kernel's rmdir "
                    "waits until it is closed (u_serial gserial_free_line), which would "
                    "never happen: aborting\n",
                    path, tty);
            abort();
        }
    } else if (!is_strings_lang(w)) {
        return -EPERM; /* a default folder */
    }
    remove_tree(path);
    return 0;
}

/*
 * Whether UDC `udc` has the endpoints the functions linked in `gadget`'s configs need: 3
 * per function, as an ACM function autoconfigures notify, bulk in and bulk out (acm_bind).
 * No `endpoints` file: no limit.
 */
static bool endpoints_enough(const char *gadget, const char *udc)
{
    char dir[PATH_MAX], text[32], configs[PATH_MAX];
    pathf(dir, sizeof(dir), "%s/%s", udcs[0] ? udcs : SYS_UDC, udc);
    get(dir, "endpoints", text, sizeof(text));
    if (!text[0])
        return true;
    int need = 0;
    pathf(configs, sizeof(configs), "%s/configs", gadget);
    DIR *d = real_opendir(configs);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char cdir[PATH_MAX];
        if (e->d_name[0] == '.' || !pathf(cdir, sizeof(cdir), "%s/%s", configs, e->d_name))
            continue;
        int n = 3 * entries(cdir, NULL, DT_LNK); /* one config is bound at a time */
        need = n > need ? n : need;
    }
    if (d)
        closedir(d);
    return need <= atoi(text);
}

/* The UDC attribute's store: 0 or -errno. */
static int udc_store(const char *gadget, const char *data, size_t len)
{
    char name[NAME_MAX + 1], other[NAME_MAX + 1], path[PATH_MAX];
    if (len >= sizeof(name))
        return -EINVAL;
    memcpy(name, data, len);
    name[len] = '\0';
    if (len && name[len - 1] == '\n')
        name[len - 1] = '\0';
    if (!name[0]) {
        if (!bound(gadget))
            return -ENODEV;
        say("fakeconfigfs: %s unbound\n", gadget);
        return put(gadget, "UDC", "\n");
    }
    if (bound(gadget))
        return -EBUSY;
    pathf(path, sizeof(path), "%s/%s", udcs[0] ? udcs : SYS_UDC, name);
    if (strchr(name, '/') || access(path, F_OK) < 0)
        return -ENODEV;
    DIR *d = real_opendir(gadgets);
    struct dirent *e;
    bool taken = false;
    while (d && !taken && (e = readdir(d))) {
        if (e->d_name[0] == '.' || !pathf(path, sizeof(path), "%s/%s", gadgets, e->d_name))
            continue;
        get(path, "UDC", other, sizeof(other));
        taken = strcmp(other, name) == 0;
    }
    if (d)
        closedir(d);
    if (taken)
        return -EBUSY;
    /* The composite driver's bind: at least one config, each with a function. */
    pathf(path, sizeof(path), "%s/configs", gadget);
    d = real_opendir(path);
    int configs = 0, empty = 0;
    while (d && (e = readdir(d))) {
        char cdir[PATH_MAX];
        if (e->d_name[0] == '.' || !pathf(cdir, sizeof(cdir), "%s/%s", path, e->d_name))
            continue;
        configs++;
        empty += entries(cdir, NULL, DT_LNK) == 0;
    }
    if (d)
        closedir(d);
    if (!configs || empty)
        return -EINVAL;
    if (!endpoints_enough(gadget, name))
        return -EBUSY; /* the function's bind found no endpoint: the UDC "is busy" */
    char text[NAME_MAX + 2];
    pathf(text, sizeof(text), "%s\n", name);
    say("fakeconfigfs: %s bound to %s\n", gadget, name);
    return put(gadget, "UDC", text);
}

/* ---- descriptors open on a UDC file ---------------------------------------------------------- */

static struct {
    int fd;
    dev_t dev; /* the UDC file, so that a reused fd number is not taken for it */
    ino_t ino;
    char gadget[PATH_MAX];
} tracked[MAX_TRACKED];
static int tracked_count;
static pthread_mutex_t tracked_lock = PTHREAD_MUTEX_INITIALIZER;

static void track(int fd, const char *gadget)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return;
    pthread_mutex_lock(&tracked_lock);
    for (int i = 0; i < MAX_TRACKED; i++) {
        if (!tracked[i].gadget[0]) {
            tracked[i].fd = fd;
            tracked[i].dev = st.st_dev;
            tracked[i].ino = st.st_ino;
            pathf(tracked[i].gadget, sizeof(tracked[i].gadget), "%s", gadget);
            __atomic_add_fetch(&tracked_count, 1, __ATOMIC_SEQ_CST);
            break;
        }
    }
    pthread_mutex_unlock(&tracked_lock);
}

/* Copies the gadget of a tracked fd into `out` (and forgets it with `forget`). */
static bool tracked_gadget(int fd, char *out, bool forget)
{
    if (!__atomic_load_n(&tracked_count, __ATOMIC_SEQ_CST))
        return false;
    bool found = false;
    struct stat st;
    bool known = fstat(fd, &st) == 0;
    pthread_mutex_lock(&tracked_lock);
    for (int i = 0; i < MAX_TRACKED && !found; i++) {
        if (tracked[i].gadget[0] && tracked[i].fd == fd) {
            /* closed behind our back (fclose, dup2...) and the number reused: forget it */
            found = known && st.st_dev == tracked[i].dev && st.st_ino == tracked[i].ino;
            forget = forget || !found;
            if (out)
                pathf(out, PATH_MAX, "%s", tracked[i].gadget);
            if (forget) {
                tracked[i].gadget[0] = '\0';
                __atomic_sub_fetch(&tracked_count, 1, __ATOMIC_SEQ_CST);
            }
        }
    }
    pthread_mutex_unlock(&tracked_lock);
    return found;
}

static ssize_t cookie_write(void *cookie, const char *buf, size_t size)
{
    int rc = udc_store(cookie, buf, size);
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    return (ssize_t)size;
}

static int cookie_close(void *cookie)
{
    free(cookie);
    return 0;
}

/* ---- the intercepted calls ------------------------------------------------------------------- */

static int fail(int rc)
{
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    return 0;
}

int mkdir(const char *path, mode_t mode)
{
    resolve_all();
    struct where w;
    char buf[PATH_MAX];
    if (!locate(path, &w))
        return real_mkdir(redirect(path, buf, sizeof(buf)), mode);
    int rc = fake_mkdir(&w, path, mode);
    say("fakeconfigfs: mkdir %s: %s\n", path, strerror(-rc));
    return fail(rc);
}

int rmdir(const char *path)
{
    resolve_all();
    struct where w;
    if (!locate(path, &w))
        return real_rmdir(path);
    int rc = fake_rmdir(&w, path);
    say("fakeconfigfs: rmdir %s: %s\n", path, strerror(-rc));
    return fail(rc);
}

int symlink(const char *target, const char *linkpath)
{
    resolve_all();
    struct where w, t;
    if (!locate(linkpath, &w))
        return real_symlink(target, linkpath);
    int rc = 0;
    char real_target[PATH_MAX];
    if (!is_config_link(&w) || !locate(target, &t) || !is_function(&t) ||
        strcmp(t.comp[0], w.comp[0]) != 0 || bound(w.gadget))
        rc = -EINVAL;
    else if (!realpath(target, real_target))
        rc = -ENOENT;
    else {
        char cdir[PATH_MAX];
        pathf(cdir, sizeof(cdir), "%s/configs/%s", w.gadget, w.comp[2]);
        /* the same function twice in one config */
        DIR *d = real_opendir(cdir);
        struct dirent *e;
        while (d && !rc && (e = readdir(d))) {
            char l[PATH_MAX], r[PATH_MAX];
            if (e->d_type == DT_LNK && pathf(l, sizeof(l), "%s/%s", cdir, e->d_name) &&
                realpath(l, r) && strcmp(r, real_target) == 0)
                rc = -EEXIST;
        }
        if (d)
            closedir(d);
        if (!rc && real_symlink(target, linkpath) < 0)
            rc = -errno;
    }
    say("fakeconfigfs: symlink %s -> %s: %s\n", linkpath, target, strerror(-rc));
    return fail(rc);
}

int unlink(const char *path)
{
    resolve_all();
    struct where w;
    struct stat st;
    if (!locate(path, &w) || lstat(path, &st) < 0)
        return real_unlink(path);
    int rc = 0;
    if (!S_ISLNK(st.st_mode))
        rc = -EPERM; /* attributes cannot be removed */
    else if (is_config_link(&w) && bound(w.gadget))
        rc = udc_store(w.gadget, "", 0); /* the kernel unbinds the whole gadget */
    if (!rc && real_unlink(path) < 0)
        rc = -errno;
    say("fakeconfigfs: unlink %s: %s\n", path, strerror(-rc));
    return fail(rc);
}

/* open/openat: a UDC file opened for writing is tracked so write() can judge the name. */
static int opened(int fd, const char *path, int flags)
{
    struct where w;
    if (fd >= 0 && (flags & O_ACCMODE) != O_RDONLY && locate(path, &w) && is_udc_file(&w))
        track(fd, w.gadget);
    return fd;
}

static int open_flags(const char *path, int flags)
{
    struct where w;
    if ((flags & O_ACCMODE) != O_RDONLY && locate(path, &w) && is_udc_file(&w))
        flags &= ~(O_TRUNC | O_CREAT); /* the store decides what the file holds */
    return flags;
}

int open(const char *path, int flags, ...)
{
    resolve_all();
    va_list ap;
    va_start(ap, flags);
    mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
    va_end(ap);
    char buf[PATH_MAX];
    path = redirect(path, buf, sizeof(buf));
    return opened(real_open(path, open_flags(path, flags), mode), path, flags);
}

int open64(const char *path, int flags, ...) __attribute__((alias("open")));

int openat(int dirfd, const char *path, int flags, ...)
{
    resolve_all();
    va_list ap;
    va_start(ap, flags);
    mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
    va_end(ap);
    char buf[PATH_MAX];
    path = redirect(path, buf, sizeof(buf));
    bool abs = path && path[0] == '/';
    int fd = real_openat(dirfd, path, abs ? open_flags(path, flags) : flags, mode);
    return abs ? opened(fd, path, flags) : fd;
}

int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));

ssize_t write(int fd, const void *data, size_t len)
{
    resolve_all();
    char gadget[PATH_MAX];
    if (!tracked_gadget(fd, gadget, false))
        return real_write(fd, data, len);
    int rc = udc_store(gadget, data, len);
    say("fakeconfigfs: write UDC of %s: %s\n", gadget, strerror(-rc));
    return rc < 0 ? fail(rc) : (ssize_t)len;
}

int close(int fd)
{
    resolve_all();
    tracked_gadget(fd, NULL, true);
    return real_close(fd);
}

FILE *fopen(const char *path, const char *mode)
{
    resolve_all();
    char buf[PATH_MAX];
    struct where w;
    path = redirect(path, buf, sizeof(buf));
    if (!locate(path, &w) || !is_udc_file(&w) || !strpbrk(mode, "wa+"))
        return real_fopen(path, mode);
    char *cookie = strdup(w.gadget);
    if (!cookie)
        return NULL;
    FILE *f = fopencookie(cookie, "w",
                          (cookie_io_functions_t){.write = cookie_write, .close = cookie_close});
    if (!f)
        free(cookie);
    return f;
}

FILE *fopen64(const char *path, const char *mode) __attribute__((alias("fopen")));

DIR *opendir(const char *path)
{
    resolve_all();
    char buf[PATH_MAX];
    return real_opendir(redirect(path, buf, sizeof(buf)));
}

int scandir(const char *path, struct dirent ***list, int (*sel)(const struct dirent *),
            int (*cmp)(const struct dirent **, const struct dirent **))
{
    resolve_all();
    char buf[PATH_MAX];
    return real_scandir(redirect(path, buf, sizeof(buf)), list, sel, cmp);
}
