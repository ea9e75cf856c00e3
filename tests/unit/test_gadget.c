/*
 * gadget: the USB gadget module against the fake configfs (tests/fakeconfigfs).
 *
 * The unit-test binary is not preloaded, so each test runs its scenario in a fresh copy of
 * this binary (/proc/self/exe) started with LD_PRELOAD=build/fakeconfigfs.so: a constructor
 * below sees VSC_GADGET_SCENARIO, runs that scenario before main() and exits; each failed
 * expectation is one line on its stdout, which the test reports as its failures.
 */
#include "test.h"

#include "gadget.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define UUID1 "5A0C8E0E-1D9B-4E43-9E1B-0C8D2F7A1B01"
#define UUID2 "6b1d9f1f-2eac-4f54-af2c-1d9e3a8b2c02"
#define UUID3 "7c2eaf2a-3fbd-4065-b03d-2eaf4b9c3d03"
#define SHIM  "fakeconfigfs.so"

/* ---- the scenario side: runs in the preloaded child ------------------------------------------ */

static int misses;

__attribute__((format(printf, 3, 4))) static bool miss(const char *file, int line, const char *fmt,
                                                       ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    for (char *p = text; *p; p++) {
        if (*p == '\n')
            *p = ' ';
    }
    printf("%s:%d: %s\n", file, line, text);
    misses++;
    return false;
}

#define EXPECT(c) ((c) ? true : miss(__FILE__, __LINE__, "EXPECT(%s)", #c))
#define EXPECT_INT(a, b)                                                                           \
    ((long long)(a) == (long long)(b)                                                              \
         ? true                                                                                    \
         : miss(__FILE__, __LINE__, "EXPECT_INT(%s, %s): %lld != %lld", #a, #b, (long long)(a),    \
                (long long)(b)))
#define EXPECT_STR(a, b)                                                                           \
    (strcmp((a), (b)) == 0                                                                         \
         ? true                                                                                    \
         : miss(__FILE__, __LINE__, "EXPECT_STR(%s, %s): \"%s\" != \"%s\"", #a, #b, (a), (b)))
/* A call that must succeed: shows the module's error text when it does not. */
#define EXPECT_OK(call)                                                                            \
    do {                                                                                           \
        err[0] = '\0';                                                                             \
        int rc_ = (call);                                                                          \
        if (rc_ != 0)                                                                              \
            miss(__FILE__, __LINE__, "%s: %d (%s)", #call, rc_, err);                              \
    } while (0)

struct scene {
    char root[PATH_MAX / 4];    /* the fake configfs mount point */
    char udc_dir[PATH_MAX / 4]; /* the fake /sys/class/udc: udc.a and udc.b */
    char gadgets[PATH_MAX / 2]; /* <root>/usb_gadget */
    struct gadget_where at;
};

/* The content of <gadgets>/<rel> without its newline ("<missing>" when it cannot be read). */
static const char *attr(const struct scene *sc, const char *rel, char *buf, size_t bufsz)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", sc->gadgets, rel);
    FILE *f = fopen(path, "r");
    snprintf(buf, bufsz, "<missing>");
    if (!f)
        return buf;
    if (!fgets(buf, (int)bufsz, f))
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

static bool exists(const struct scene *sc, const char *rel)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", sc->gadgets, rel);
    return lstat(path, &st) == 0;
}

static void sc_create_two_ports(struct scene *sc)
{
    struct gadget_info gi;
    char err[256], b[256];
    EXPECT_OK(gadget_create(&sc->at, "vm1", UUID1, 2, &gi, err, sizeof(err)));
    EXPECT_STR(gi.name, "vsc-vm1");
    EXPECT_STR(gi.udc, "udc.a");
    EXPECT_INT(gi.count, 2);
    EXPECT_STR(attr(sc, "vsc-vm1/UDC", b, sizeof(b)), "udc.a");
    EXPECT_STR(attr(sc, "vsc-vm1/idVendor", b, sizeof(b)), "0x1d6b");
    EXPECT_STR(attr(sc, "vsc-vm1/idProduct", b, sizeof(b)), "0x0104");
    EXPECT_STR(attr(sc, "vsc-vm1/bcdUSB", b, sizeof(b)), "0x0200");
    EXPECT_STR(attr(sc, "vsc-vm1/bDeviceClass", b, sizeof(b)), "0xef");
    EXPECT_STR(attr(sc, "vsc-vm1/bDeviceSubClass", b, sizeof(b)), "0x02");
    EXPECT_STR(attr(sc, "vsc-vm1/bDeviceProtocol", b, sizeof(b)), "0x01");
    EXPECT_STR(attr(sc, "vsc-vm1/strings/0x409/manufacturer", b, sizeof(b)), "vsc");
    EXPECT_STR(attr(sc, "vsc-vm1/strings/0x409/product", b, sizeof(b)), "vsc serial for vm1");
    EXPECT_STR(attr(sc, "vsc-vm1/strings/0x409/serialnumber", b, sizeof(b)),
               "5a0c8e0e-1d9b-4e43-9e1b-0c8d2f7a1b01");
    EXPECT_STR(attr(sc, "vsc-vm1/configs/c.1/bmAttributes", b, sizeof(b)), "0x80");
    EXPECT_STR(attr(sc, "vsc-vm1/configs/c.1/MaxPower", b, sizeof(b)), "2");
    EXPECT_STR(attr(sc, "vsc-vm1/configs/c.1/strings/0x409/configuration", b, sizeof(b)),
               "vsc serial ports");
    EXPECT_STR(attr(sc, "vsc-vm1/functions/acm.usb0/port_num", b, sizeof(b)), "0");
    EXPECT_STR(attr(sc, "vsc-vm1/functions/acm.usb1/port_num", b, sizeof(b)), "1");
    EXPECT(!exists(sc, "vsc-vm1/functions/acm.usb2"));
    for (int i = 0; i < 2; i++) {
        char link[PATH_MAX], want[PATH_MAX], got[PATH_MAX] = "";
        snprintf(link, sizeof(link), "%s/vsc-vm1/configs/c.1/acm.usb%d", sc->gadgets, i);
        snprintf(want, sizeof(want), "%s/vsc-vm1/functions/acm.usb%d", sc->gadgets, i);
        ssize_t n = readlink(link, got, sizeof(got) - 1);
        got[n > 0 ? n : 0] = '\0';
        EXPECT_STR(got, want);
    }
    /* Looking a port up reads the same from the files alone. */
    struct gadget_port found;
    EXPECT_INT(gadget_lookup_port(&sc->at, "vm1", UUID1, 1, &found), 0);
    EXPECT_STR(found.tty, gi.ports[1].tty);
    EXPECT_STR(found.host_path, gi.ports[1].host_path);
    EXPECT_INT(found.interface, 2);
    EXPECT_INT(gadget_lookup_port(&sc->at, "vm1", UUID1, 2, &found), -ENOENT);
    EXPECT_INT(gadget_lookup_port(&sc->at, "vm1", UUID2, 0, &found), -ENOENT); /* not this VM's */
    EXPECT_INT(gadget_lookup_port(&sc->at, "vm2", UUID2, 0, &found), -ENOENT);
    /* The UDC to use: the bound one, else the first free one. */
    EXPECT_OK(gadget_pick_udc(&sc->at, "vm1", 0, b, sizeof(b), err, sizeof(err)));
    EXPECT_STR(b, "udc.a");
    EXPECT_OK(gadget_pick_udc(&sc->at, "vm2", 0, b, sizeof(b), err, sizeof(err)));
    EXPECT_STR(b, "udc.b");
    /* udc.b is the only free one: a gadget about to bind takes it, none is left. */
    EXPECT_INT(gadget_pick_udc(&sc->at, "vm2", 1, b, sizeof(b), err, sizeof(err)), -ENODEV);
    EXPECT_STR(err, "no free USB device controller");
}

static void sc_host_names_and_ttys(struct scene *sc)
{
    struct gadget_info gi;
    char err[256];
    EXPECT_OK(gadget_create(&sc->at, "vm1", UUID1, 3, &gi, err, sizeof(err)));
    static const char *const want[] = {
        "/dev/serial/by-id/usb-vsc_vsc_serial_for_vm1_5a0c8e0e-1d9b-4e43-9e1b-0c8d2f7a1b01-if00",
        "/dev/serial/by-id/usb-vsc_vsc_serial_for_vm1_5a0c8e0e-1d9b-4e43-9e1b-0c8d2f7a1b01-if02",
        "/dev/serial/by-id/usb-vsc_vsc_serial_for_vm1_5a0c8e0e-1d9b-4e43-9e1b-0c8d2f7a1b01-if04",
    };
    for (int i = 0; i < 3; i++) {
        char tty[32];
        snprintf(tty, sizeof(tty), "/dev/ttyGS%d", i);
        EXPECT_STR(gi.ports[i].host_path, want[i]);
        EXPECT_INT(gi.ports[i].interface, 2 * i);
        EXPECT_INT(gi.ports[i].port_num, i);
        EXPECT_STR(gi.ports[i].tty, tty);
    }
    /* A second VM's ports take the next u_serial numbers, all gadgets together. */
    EXPECT_OK(gadget_create(&sc->at, "vm2", UUID2, 2, &gi, err, sizeof(err)));
    EXPECT_STR(gi.ports[0].tty, "/dev/ttyGS3");
    EXPECT_STR(gi.ports[1].tty, "/dev/ttyGS4");
    EXPECT_INT(gi.ports[1].interface, 2);
    EXPECT(strstr(gi.ports[1].host_path, "usb-vsc_vsc_serial_for_vm2_6b1d9f1f-") != NULL);
}

/* The entries of a folder, -1 when it cannot be read. */
static int count_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void sc_destroy_leaves_nothing(struct scene *sc)
{
    struct gadget_info gi;
    char err[256], b[64];
    EXPECT_OK(gadget_create(&sc->at, "vm1", UUID1, 2, &gi, err, sizeof(err)));
    EXPECT_INT(gadget_destroy(&sc->at, "vm1", err, sizeof(err)), 1);
    EXPECT(!exists(sc, "vsc-vm1"));
    EXPECT_INT(count_dir(sc->gadgets), 0);
    EXPECT_OK(gadget_destroy(&sc->at, "vm1", err, sizeof(err))); /* none: harmless */
    gadget_bound_udc(&sc->at, "vm1", b, sizeof(b));
    EXPECT_STR(b, "");
    /* The UDC and the u_serial numbers are free again. */
    EXPECT_OK(gadget_create(&sc->at, "vm2", UUID2, 1, &gi, err, sizeof(err)));
    EXPECT_STR(gi.udc, "udc.a");
    EXPECT_STR(gi.ports[0].tty, "/dev/ttyGS0");
}

static void sc_two_vms_two_udcs(struct scene *sc)
{
    struct gadget_info g1, g2, g3;
    char err[256], b[64];
    EXPECT_OK(gadget_create(&sc->at, "vm1", UUID1, 2, &g1, err, sizeof(err)));
    EXPECT_OK(gadget_create(&sc->at, "vm2", UUID2, 1, &g2, err, sizeof(err)));
    EXPECT_STR(g1.udc, "udc.a");
    EXPECT_STR(g2.udc, "udc.b");
    EXPECT_STR(attr(sc, "vsc-vm2/UDC", b, sizeof(b)), "udc.b");
    /* Removing one VM leaves the other bound and whole. */
    EXPECT_INT(gadget_destroy(&sc->at, "vm1", err, sizeof(err)), 1);
    EXPECT_STR(attr(sc, "vsc-vm2/UDC", b, sizeof(b)), "udc.b");
    EXPECT_STR(attr(sc, "vsc-vm2/functions/acm.usb0/port_num", b, sizeof(b)), "2");
    EXPECT(exists(sc, "vsc-vm2/configs/c.1/acm.usb0"));
    /* ... and its UDC is free for the next VM. */
    EXPECT_OK(gadget_create(&sc->at, "vm3", UUID3, 1, &g3, err, sizeof(err)));
    EXPECT_STR(g3.udc, "udc.a");
}

static void sc_no_free_udc(struct scene *sc)
{
    struct gadget_info gi;
    char err[256] = "", path[PATH_MAX];
    EXPECT_OK(gadget_create(&sc->at, "vm1", UUID1, 1, &gi, err, sizeof(err)));
    EXPECT_OK(gadget_create(&sc->at, "vm2", UUID2, 1, &gi, err, sizeof(err)));
    EXPECT_INT(gadget_create(&sc->at, "vm3", UUID3, 1, &gi, err, sizeof(err)), -ENODEV);
    EXPECT_STR(err, "no free USB device controller");
    EXPECT(!exists(sc, "vsc-vm3")); /* all or nothing */
    /* No UDC at all (no UDC driver loaded). */
    EXPECT_INT(gadget_destroy(&sc->at, "vm1", err, sizeof(err)), 1);
    EXPECT_INT(gadget_destroy(&sc->at, "vm2", err, sizeof(err)), 1);
    snprintf(path, sizeof(path), "%s/udc.a", sc->udc_dir);
    rmdir(path);
    snprintf(path, sizeof(path), "%s/udc.b", sc->udc_dir);
    rmdir(path);
    err[0] = '\0';
    EXPECT_INT(gadget_create(&sc->at, "vm3", UUID3, 1, &gi, err, sizeof(err)), -ENODEV);
    EXPECT_STR(err, "no free USB device controller");
    EXPECT_INT(count_dir(sc->gadgets), 0);
}

static void sc_ninth_port(struct scene *sc)
{
    struct gadget_info gi;
    char err[256] = "", b[64];
    EXPECT_OK(gadget_create(&sc->at, "vm1", UUID1, 8, &gi, err, sizeof(err)));
    EXPECT_STR(gi.ports[7].tty, "/dev/ttyGS7");
    EXPECT_STR(attr(sc, "vsc-vm1/functions/acm.usb7/port_num", b, sizeof(b)), "7");
    EXPECT_INT(gadget_create(&sc->at, "vm2", UUID2, 1, &gi, err, sizeof(err)), -EBUSY);
    EXPECT_STR(err, "the kernel allows at most 8 USB serial ports");
    EXPECT(!exists(sc, "vsc-vm2"));
    EXPECT_STR(attr(sc, "vsc-vm1/UDC", b, sizeof(b)), "udc.a"); /* vm1 untouched */
    err[0] = '\0';
    EXPECT_INT(gadget_create(&sc->at, "vm3", UUID3, 9, &gi, err, sizeof(err)), -EBUSY);
    EXPECT_STR(err, "the kernel allows at most 8 USB serial ports");
    /* The fake itself: a 9th u_serial mkdir is EBUSY, as in the kernel. */
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/vsc-vm1/functions/gser.extra", sc->gadgets);
    errno = 0;
    EXPECT_INT(mkdir(path, 0755), -1);
    EXPECT_INT(errno, EBUSY);
}

/* Link while bound: EINVAL; rmdir while linked: EBUSY; unlink while bound: unbinds. */
static void sc_kernel_rules(struct scene *sc)
{
    struct gadget_info gi;
    char err[256], b[64], fn[PATH_MAX], link[PATH_MAX], c1[PATH_MAX];
    EXPECT_OK(gadget_create(&sc->at, "vm1", UUID1, 2, &gi, err, sizeof(err)));
    snprintf(fn, sizeof(fn), "%s/vsc-vm1/functions/acm.extra", sc->gadgets);
    snprintf(link, sizeof(link), "%s/vsc-vm1/configs/c.1/acm.extra", sc->gadgets);
    snprintf(c1, sizeof(c1), "%s/vsc-vm1/configs/c.1", sc->gadgets);
    EXPECT_INT(mkdir(fn, 0755), 0);
    EXPECT_STR(attr(sc, "vsc-vm1/functions/acm.extra/port_num", b, sizeof(b)), "2");
    errno = 0;
    EXPECT_INT(symlink(fn, link), -1);
    EXPECT_INT(errno, EINVAL);
    EXPECT(!exists(sc, "vsc-vm1/configs/c.1/acm.extra"));

    char usb0[PATH_MAX], usb1_link[PATH_MAX];
    snprintf(usb0, sizeof(usb0), "%s/vsc-vm1/functions/acm.usb0", sc->gadgets);
    snprintf(usb1_link, sizeof(usb1_link), "%s/vsc-vm1/configs/c.1/acm.usb1", sc->gadgets);
    errno = 0;
    EXPECT_INT(rmdir(usb0), -1);
    EXPECT_INT(errno, EBUSY);
    EXPECT(exists(sc, "vsc-vm1/functions/acm.usb0"));
    errno = 0;
    EXPECT_INT(rmdir(c1), -1); /* a config with links */
    EXPECT_INT(errno, ENOTEMPTY);

    /* Unlinking from the bound config unbinds the whole gadget. */
    EXPECT_INT(unlink(usb1_link), 0);
    EXPECT_STR(attr(sc, "vsc-vm1/UDC", b, sizeof(b)), "");
    EXPECT_INT(symlink(fn, link), 0); /* unbound: linking works */
    errno = 0;
    EXPECT_INT(symlink(fn, usb1_link), -1); /* the same function twice */
    EXPECT_INT(errno, EEXIST);
    EXPECT_INT(unlink(link), 0);
    EXPECT_INT(rmdir(fn), 0);
    EXPECT(!exists(sc, "vsc-vm1/functions/acm.extra"));
    errno = 0;
    char attr_path[PATH_MAX];
    snprintf(attr_path, sizeof(attr_path), "%s/vsc-vm1/idVendor", sc->gadgets);
    EXPECT_INT(unlink(attr_path), -1);
    EXPECT_INT(errno, EPERM);
}

/* UDC writes: unknown name ENODEV, a UDC another gadget holds EBUSY, rebinding EBUSY. */
static void sc_kernel_udc_rules(struct scene *sc)
{
    struct gadget_info gi;
    char err[256], b[64], udc[PATH_MAX];
    EXPECT_OK(gadget_create(&sc->at, "vm1", UUID1, 1, &gi, err, sizeof(err)));
    EXPECT_OK(gadget_create(&sc->at, "vm2", UUID2, 1, &gi, err, sizeof(err)));
    snprintf(udc, sizeof(udc), "%s/vsc-vm1/UDC", sc->gadgets);
    int fd = open(udc, O_WRONLY);
    EXPECT(fd >= 0);
    errno = 0;
    EXPECT_INT(write(fd, "udc.b\n", 6), -1); /* already bound */
    EXPECT_INT(errno, EBUSY);
    EXPECT_INT(write(fd, "\n", 1), 1); /* unbind */
    EXPECT_STR(attr(sc, "vsc-vm1/UDC", b, sizeof(b)), "");
    errno = 0;
    EXPECT_INT(write(fd, "\n", 1), -1); /* unbind an unbound gadget */
    EXPECT_INT(errno, ENODEV);
    errno = 0;
    EXPECT_INT(write(fd, "udc.b\n", 6), -1); /* vm2 holds it */
    EXPECT_INT(errno, EBUSY);
    errno = 0;
    EXPECT_INT(write(fd, "nonesuch\n", 9), -1);
    EXPECT_INT(errno, ENODEV);
    EXPECT_STR(attr(sc, "vsc-vm1/UDC", b, sizeof(b)), "");
    close(fd);
    /* Through stdio, as libusbgx writes. */
    FILE *f = fopen(udc, "w");
    EXPECT(f != NULL);
    if (f) {
        fputs("udc.a\n", f);
        EXPECT_INT(fflush(f), 0);
        fclose(f);
    }
    EXPECT_STR(attr(sc, "vsc-vm1/UDC", b, sizeof(b)), "udc.a");
    gadget_bound_udc(&sc->at, "vm1", b, sizeof(b));
    EXPECT_STR(b, "udc.a");
}

/* vscd restarting: the same gadget is kept as it is, a different one is replaced. */
static void sc_adopt(struct scene *sc)
{
    struct gadget_info gi, again;
    char err[256], b[64], udc[PATH_MAX], marker[PATH_MAX];
    EXPECT_OK(gadget_create(&sc->at, "vm1", UUID1, 2, &gi, err, sizeof(err)));
    snprintf(udc, sizeof(udc), "%s/vsc-vm1/UDC", sc->gadgets);
    snprintf(marker, sizeof(marker), "%s/vsc-vm1/bcdDevice", sc->gadgets);
    FILE *f = fopen(marker, "w");
    if (f) {
        fputs("0x0999\n", f);
        fclose(f);
    }
    struct stat before, after;
    EXPECT_INT(stat(udc, &before), 0);
    usleep(30000); /* a rewrite of UDC would show in its mtime */
    EXPECT_OK(gadget_create(&sc->at, "vm1", UUID1, 2, &again, err, sizeof(err)));
    EXPECT_INT(stat(udc, &after), 0);
    EXPECT(before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
           before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);
    EXPECT_STR(again.udc, "udc.a");
    EXPECT_STR(again.ports[1].tty, gi.ports[1].tty);
    EXPECT_STR(again.ports[1].host_path, gi.ports[1].host_path);
    EXPECT_STR(attr(sc, "vsc-vm1/bcdDevice", b, sizeof(b)), "0x0999");
    /* Another port count: made anew. */
    EXPECT_OK(gadget_create(&sc->at, "vm1", UUID1, 3, &again, err, sizeof(err)));
    EXPECT_STR(attr(sc, "vsc-vm1/bcdDevice", b, sizeof(b)), "0x0100");
    EXPECT(exists(sc, "vsc-vm1/configs/c.1/acm.usb2"));
    EXPECT_STR(again.udc, "udc.a");
    /* Another VM of the same name (another UUID): made anew. */
    EXPECT_OK(gadget_create(&sc->at, "vm1", UUID2, 3, &again, err, sizeof(err)));
    EXPECT_STR(attr(sc, "vsc-vm1/strings/0x409/serialnumber", b, sizeof(b)),
               "6b1d9f1f-2eac-4f54-af2c-1d9e3a8b2c02");
}

/* The backend's way: ports one at a time, then one bind; a late port unbinds first. */
static void sc_add_port_then_bind(struct scene *sc)
{
    struct gadget_port p0, p1, p2;
    char err[256], b[64];
    EXPECT_OK(gadget_add_port(&sc->at, "vm1", UUID1, 0, &p0, err, sizeof(err)));
    EXPECT_OK(gadget_add_port(&sc->at, "vm1", UUID1, 1, &p1, err, sizeof(err)));
    EXPECT_STR(attr(sc, "vsc-vm1/UDC", b, sizeof(b)), "");                  /* not bound yet */
    EXPECT_INT(gadget_lookup_port(&sc->at, "vm1", UUID1, 0, &p2), -ENOENT); /* unbound */
    EXPECT_STR(p1.tty, "/dev/ttyGS1");
    EXPECT_INT(p1.interface, 2);
    EXPECT_OK(gadget_bind(&sc->at, "vm1", b, sizeof(b), err, sizeof(err)));
    EXPECT_STR(b, "udc.a");
    EXPECT_OK(gadget_bind(&sc->at, "vm1", b, sizeof(b), err, sizeof(err))); /* bound: no-op */
    EXPECT_STR(b, "udc.a");
    /* An existing port changes nothing. */
    EXPECT_OK(gadget_add_port(&sc->at, "vm1", UUID1, 1, &p1, err, sizeof(err)));
    EXPECT_STR(attr(sc, "vsc-vm1/UDC", b, sizeof(b)), "udc.a");
    /* A new port on a bound gadget: unbind, link (then the caller binds again). */
    EXPECT_OK(gadget_add_port(&sc->at, "vm1", UUID1, 2, &p2, err, sizeof(err)));
    EXPECT_STR(attr(sc, "vsc-vm1/UDC", b, sizeof(b)), "");
    EXPECT(exists(sc, "vsc-vm1/configs/c.1/acm.usb2"));
    EXPECT_OK(gadget_bind(&sc->at, "vm1", b, sizeof(b), err, sizeof(err)));
    EXPECT_STR(b, "udc.a");
    EXPECT_INT(gadget_bind(&sc->at, "vm9", b, sizeof(b), err, sizeof(err)), -ENOENT);
}

/* A UDC whose endpoints (the fake's `endpoints` file) do not hold the functions: the bind
 * fails (EBUSY on 6.1 kernels), and gadget_create leaves nothing of the VM's gadget. */
static void sc_endpoint_limit(struct scene *sc)
{
    struct gadget_info gi;
    char err[256] = "", path[PATH_MAX], b[64];
    snprintf(path, sizeof(path), "%s/udc.a/endpoints", sc->udc_dir);
    FILE *f = fopen(path, "w");
    EXPECT(f != NULL);
    if (f) {
        fputs("6\n", f); /* two ACM functions: notify, bulk in, bulk out each */
        fclose(f);
    }
    EXPECT_INT(gadget_create(&sc->at, "vm1", UUID1, 3, &gi, err, sizeof(err)), -EBUSY);
    EXPECT_STR(err, "cannot bind USB gadget vsc-vm1 to udc.a: the controller is busy");
    EXPECT(!exists(sc, "vsc-vm1"));
    EXPECT_OK(gadget_create(&sc->at, "vm1", UUID1, 2, &gi, err, sizeof(err)));
    EXPECT_STR(attr(sc, "vsc-vm1/UDC", b, sizeof(b)), "udc.a");
}

static int keep_vm2(const char *vm_name, void *ctx)
{
    (void)ctx;
    return strcmp(vm_name, "vm2") == 0;
}

/* Gadgets of VMs that are gone are removed; others' gadgets are not vsc's to touch. */
static void sc_sweep(struct scene *sc)
{
    struct gadget_info gi;
    char err[256], other[PATH_MAX];
    EXPECT_OK(gadget_create(&sc->at, "vm1", UUID1, 2, &gi, err, sizeof(err)));
    EXPECT_OK(gadget_create(&sc->at, "vm2", UUID2, 1, &gi, err, sizeof(err)));
    snprintf(other, sizeof(other), "%s/g-hid", sc->gadgets); /* e.g. the KVM's keyboard */
    EXPECT_INT(mkdir(other, 0755), 0);
    EXPECT_INT(gadget_sweep(&sc->at, keep_vm2, NULL), 1);
    EXPECT(!exists(sc, "vsc-vm1"));
    EXPECT(exists(sc, "vsc-vm2/configs/c.1/acm.usb0"));
    EXPECT(exists(sc, "g-hid/UDC"));
    EXPECT_INT(gadget_sweep(&sc->at, keep_vm2, NULL), 0);
}

static const struct {
    const char *name;
    void (*fn)(struct scene *sc);
} scenarios[] = {
    {"create_two_ports", sc_create_two_ports},
    {"host_names_and_ttys", sc_host_names_and_ttys},
    {"destroy_leaves_nothing", sc_destroy_leaves_nothing},
    {"two_vms_two_udcs", sc_two_vms_two_udcs},
    {"no_free_udc", sc_no_free_udc},
    {"ninth_port", sc_ninth_port},
    {"kernel_rules", sc_kernel_rules},
    {"kernel_udc_rules", sc_kernel_udc_rules},
    {"adopt", sc_adopt},
    {"add_port_then_bind", sc_add_port_then_bind},
    {"sweep", sc_sweep},
    {"endpoint_limit", sc_endpoint_limit},
};

__attribute__((constructor)) static void scenario_main(void)
{
    const char *name = getenv("VSC_GADGET_SCENARIO");
    if (!name)
        return;
    struct scene sc = {0};
    snprintf(sc.root, sizeof(sc.root), "%s", getenv("FAKE_CONFIGFS_ROOT"));
    snprintf(sc.udc_dir, sizeof(sc.udc_dir), "%s", getenv("FAKE_UDC_DIR"));
    snprintf(sc.gadgets, sizeof(sc.gadgets), "%s/usb_gadget", sc.root);
    sc.at = (struct gadget_where){.configfs = sc.root, .udc_dir = sc.udc_dir};
    bool found = false;
    for (size_t i = 0; i < ARRAY_LEN(scenarios); i++) {
        if (strcmp(scenarios[i].name, name) == 0) {
            scenarios[i].fn(&sc);
            found = true;
        }
    }
    if (!found)
        miss(__FILE__, __LINE__, "no scenario '%s'", name);
    fflush(stdout);
    exit(misses ? 3 : 0);
}

/* ---- the test side: starts the preloaded child and reports what it printed ------------------- */

static bool shim_path(char *out, size_t outsz)
{
    const char *env = getenv("FAKECONFIGFS_SO");
    if (env && *env) {
        snprintf(out, outsz, "%s", env);
        return access(out, R_OK) == 0;
    }
    char exe[PATH_MAX / 2];
    if (!test_exe_dir(exe, sizeof(exe)))
        return false;
    /* build/san/unit_tests → build/fakeconfigfs.so */
    snprintf(out, outsz, "%s/../%s", exe, SHIM);
    return access(out, R_OK) == 0;
}

static void run_scenario(const char *name)
{
    char dir[PATH_MAX / 2], root[PATH_MAX], udc[PATH_MAX], path[PATH_MAX + 16], shim[PATH_MAX];
    if (!shim_path(shim, sizeof(shim))) {
        test_fail(__FILE__, __LINE__, "%s is missing: make build/fakeconfigfs.so", shim);
        return;
    }
    REQUIRE(test_tmpdir(dir, sizeof(dir)) == 0);
    snprintf(root, sizeof(root), "%s/configfs", dir);
    snprintf(udc, sizeof(udc), "%s/udc", dir);
    REQUIRE(mkdir(root, 0755) == 0 && mkdir(udc, 0755) == 0);
    snprintf(path, sizeof(path), "%s/udc.a", udc);
    REQUIRE(mkdir(path, 0755) == 0);
    snprintf(path, sizeof(path), "%s/udc.b", udc);
    REQUIRE(mkdir(path, 0755) == 0);

    int fds[2];
    REQUIRE(pipe(fds) == 0);
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDOUT_FILENO);
        close(fds[1]);
        char asan[512];
        const char *old = getenv("ASAN_OPTIONS");
        /* The shim is preloaded ahead of the sanitizer runtime. */
        snprintf(asan, sizeof(asan), "%s%sverify_asan_link_order=0", old ? old : "",
                 old && *old ? ":" : "");
        setenv("ASAN_OPTIONS", asan, 1);
        old = getenv("LSAN_OPTIONS"); /* libusbgx's own leak is suppressed (gadget.c): quietly */
        snprintf(asan, sizeof(asan), "%s%sprint_suppressions=0", old ? old : "",
                 old && *old ? ":" : "");
        setenv("LSAN_OPTIONS", asan, 1);
        setenv("LD_PRELOAD", shim, 1);
        setenv("FAKE_CONFIGFS_ROOT", root, 1);
        setenv("FAKE_UDC_DIR", udc, 1);
        setenv("VSC_GADGET_SCENARIO", name, 1);
        /* The test binary's own path: under valgrind /proc/self/exe is valgrind's tool,
         * while readlink() of it answers the program's. */
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0) {
            self[n] = '\0';
            execl(self, "unit_tests", (char *)NULL);
        }
        _exit(127);
    }
    close(fds[1]);
    FILE *out = fdopen(fds[0], "r");
    char line[600];
    int lines = 0;
    while (out && fgets(line, sizeof(line), out)) {
        line[strcspn(line, "\n")] = '\0';
        test_fail(__FILE__, __LINE__, "%s", line);
        lines++;
    }
    if (out)
        fclose(out);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!lines && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        test_fail(__FILE__, __LINE__, "scenario %s: %s %d (see stderr)", name,
                  WIFEXITED(status) ? "exit status" : "signal",
                  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    test_rmtree(dir);
}

TEST(gadget_create_two_ports)
{
    run_scenario("create_two_ports");
}

TEST(gadget_host_names_and_ttys)
{
    run_scenario("host_names_and_ttys");
}

TEST(gadget_destroy_leaves_nothing)
{
    run_scenario("destroy_leaves_nothing");
}

TEST(gadget_two_vms_two_udcs)
{
    run_scenario("two_vms_two_udcs");
}

TEST(gadget_no_free_udc)
{
    run_scenario("no_free_udc");
}

TEST(gadget_ninth_port)
{
    run_scenario("ninth_port");
}

TEST(gadget_kernel_link_rmdir_unlink)
{
    run_scenario("kernel_rules");
}

TEST(gadget_kernel_udc_writes)
{
    run_scenario("kernel_udc_rules");
}

TEST(gadget_adopt_on_restart)
{
    run_scenario("adopt");
}

TEST(gadget_add_port_then_bind)
{
    run_scenario("add_port_then_bind");
}

TEST(gadget_sweep_gone_vms)
{
    run_scenario("sweep");
}

TEST(gadget_udc_without_the_endpoints)
{
    run_scenario("endpoint_limit");
}

/* Names only: no configfs needed. udev turns white space and odd bytes into '_'. */
TEST(gadget_host_path_like_udev)
{
    char out[256];
    CHECK_EQ_INT(
        gadget_host_path("web-01", "ABCDEF01-0000-0000-0000-000000000001", 5, out, sizeof(out)), 0);
    CHECK_STREQ(out, "/dev/serial/by-id/usb-vsc_vsc_serial_for_web-01_abcdef01-0000-0000-0000-"
                     "000000000001-if0a");
    CHECK_EQ_INT(gadget_host_path("a  b(c)", "u", 0, out, sizeof(out)), 0);
    CHECK_STREQ(out, "/dev/serial/by-id/usb-vsc_vsc_serial_for_a_b_c__u-if00");
    char small[16];
    CHECK_EQ_INT(gadget_host_path("vm", "u", 0, small, sizeof(small)), -ENAMETOOLONG);
    gadget_name("vm1", out, sizeof(out));
    CHECK_STREQ(out, "vsc-vm1");
}

/*
 * udev's usb_id keeps the product string in a 64-byte buffer (model_str) and reads at most
 * 63 bytes of it: "vsc serial for " leaves 48 bytes of a VM name in the by-id name. A VM
 * name may have 64 characters, and a BindPath that kept them all named a path udev never
 * makes.
 */
TEST(gadget_host_path_cuts_the_product_as_udev)
{
    char out[256], name[65], want[256];
    memset(name, 'L', 64);
    name[64] = '\0';
    CHECK_EQ_INT(gadget_host_path(name, "u", 1, out, sizeof(out)), 0);
    snprintf(want, sizeof(want), "/dev/serial/by-id/usb-vsc_vsc_serial_for_%.48s_u-if02", name);
    CHECK_STREQ(out, want);
    /* 48 bytes of name: the whole product fits, nothing is cut. */
    name[48] = '\0';
    CHECK_EQ_INT(gadget_host_path(name, "u", 0, out, sizeof(out)), 0);
    snprintf(want, sizeof(want), "/dev/serial/by-id/usb-vsc_vsc_serial_for_%s_u-if00", name);
    CHECK_STREQ(out, want);
}
