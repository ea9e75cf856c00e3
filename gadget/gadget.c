/* gadget: see gadget.h for the policy. */
#include "gadget.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <usbg/function/serial.h>
#include <usbg/usbg.h>

#define VID          0x1d6b /* Linux Foundation */
#define PID          0x0104 /* Multifunction Composite Gadget */
#define MANUFACTURER "vsc"
#define CONFIG_LABEL "c"
#define CONFIG_ID    1 /* configs/c.1 */
#define TOO_MANY     "the kernel allows at most 8 USB serial ports"
#define NO_UDC       "no free USB device controller"

#ifdef __SANITIZE_ADDRESS__
/*
 * libusbgx 0.2.0's usbg_init() leaks the label of every config it parses (2 bytes for
 * "c"; fixed upstream after 0.2.0). Sanitizer builds ignore leaks from inside libusbgx;
 * vscd itself calls usbg_init only when a gadget changes, never on a timer.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libusbgx.so\n";
}
#endif

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errsz, const char *fmt,
                                                          ...)
{
    if (!err || !errsz)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
}

static int usbg_errno(int e)
{
    switch (e) {
    case USBG_SUCCESS:
        return 0;
    case USBG_ERROR_NO_MEM:
        return -ENOMEM;
    case USBG_ERROR_NO_ACCESS:
        return -EACCES;
    case USBG_ERROR_INVALID_PARAM:
        return -EINVAL;
    case USBG_ERROR_NOT_FOUND:
        return -ENOENT;
    case USBG_ERROR_EXIST:
        return -EEXIST;
    case USBG_ERROR_NO_DEV:
        return -ENODEV;
    case USBG_ERROR_BUSY:
        return -EBUSY;
    case USBG_ERROR_NOT_SUPPORTED:
        return -ENOTSUP;
    case USBG_ERROR_PATH_TOO_LONG:
        return -ENAMETOOLONG;
    default:
        return -EIO;
    }
}

/* ---- names ----------------------------------------------------------------------------------- */

void gadget_name(const char *vm_name, char *out, size_t outsz)
{
    snprintf(out, outsz, "vsc-%s", vm_name);
}

static void product_string(const char *vm_name, char *out, size_t outsz)
{
    snprintf(out, outsz, "vsc serial for %s", vm_name);
}

static void serial_string(const char *uuid, char *out, size_t outsz)
{
    size_t i = 0;
    for (; uuid[i] && i + 1 < outsz; i++)
        out[i] = (char)tolower((unsigned char)uuid[i]);
    out[i] = '\0';
}

/*
 * A USB string as udev's usb_id puts it in ID_SERIAL: outer white space dropped, each run
 * of white space one '_', and every byte but [0-9A-Za-z#+-.:=@_] '_' (udev keeps valid
 * UTF-8 too; VM names are ASCII).
 */
static void udev_encode(const char *in, char *out, size_t outsz)
{
    size_t o = 0, len;
    while (isspace((unsigned char)*in))
        in++;
    len = strlen(in);
    while (len && isspace((unsigned char)in[len - 1]))
        len--;
    for (size_t i = 0; i < len && o + 1 < outsz; i++) {
        unsigned char c = (unsigned char)in[i];
        if (isspace(c)) {
            while (i + 1 < len && isspace((unsigned char)in[i + 1]))
                i++;
            out[o++] = '_';
        } else {
            out[o++] = c < 0x80 && (isalnum(c) || strchr("#+-.:=@_", c)) ? (char)c : '_';
        }
    }
    out[o] = '\0';
}

/*
 * udev's usb_id reads at most this many bytes of the manufacturer and product strings
 * (its vendor_str and model_str are 64-byte buffers): "vsc serial for " and a VM name of
 * more than 48 characters are cut there in the by-id name.
 */
#define USB_ID_STRING_MAX 63

int gadget_host_path(const char *vm_name, const char *uuid, int index, char *out, size_t outsz)
{
    char product[USB_ID_STRING_MAX + 1], serial[64], enc_vendor[16], enc_product[128],
        enc_serial[64];
    product_string(vm_name, product, sizeof(product)); /* cut as usb_id cuts it */
    serial_string(uuid, serial, sizeof(serial));
    udev_encode(MANUFACTURER, enc_vendor, sizeof(enc_vendor));
    udev_encode(product, enc_product, sizeof(enc_product));
    udev_encode(serial, enc_serial, sizeof(enc_serial));
    int n = snprintf(out, outsz, "/dev/serial/by-id/usb-%s_%s_%s-if%02x", enc_vendor, enc_product,
                     enc_serial, 2 * index);
    return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : 0;
}

/* ---- configfs files -------------------------------------------------------------------------- */

/* The first line of <configfs>/usb_gadget/<gadget>/<rel>, "" when it cannot be read. */
static void read_file(const struct gadget_where *at, const char *gname, const char *rel, char *out,
                      size_t outsz)
{
    char path[4096];
    out[0] = '\0';
    snprintf(path, sizeof(path), "%s/usb_gadget/%s/%s", at->configfs, gname, rel);
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    if (!fgets(out, (int)outsz, f))
        out[0] = '\0';
    fclose(f);
    out[strcspn(out, "\n")] = '\0';
}

static void read_udc(const struct gadget_where *at, const char *gname, char *out, size_t outsz)
{
    read_file(at, gname, "UDC", out, outsz);
}

void gadget_bound_udc(const struct gadget_where *at, const char *vm_name, char *udc, size_t udcsz)
{
    char gname[80];
    gadget_name(vm_name, gname, sizeof(gname));
    read_udc(at, gname, udc, udcsz);
}

/* Whether some gadget's UDC file names `udc`. */
static bool udc_taken(const struct gadget_where *at, const char *udc)
{
    char dir[4096], cur[256];
    snprintf(dir, sizeof(dir), "%s/usb_gadget", at->configfs);
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool taken = false;
    struct dirent *e;
    while (!taken && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        read_udc(at, e->d_name, cur, sizeof(cur));
        taken = strcmp(cur, udc) == 0;
    }
    closedir(d);
    return taken;
}

static int not_dot(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

/* The first UDC, in name order, that no gadget uses, after `skip` such UDCs. */
static int pick_udc(const struct gadget_where *at, int skip, char *out, size_t outsz, char *err,
                    size_t errsz)
{
    struct dirent **list = NULL;
    int n = scandir(at->udc_dir, &list, not_dot, alphasort);
    bool found = false;
    for (int i = 0; i < n; i++) {
        if (!found && !udc_taken(at, list[i]->d_name) && skip-- == 0) {
            snprintf(out, outsz, "%s", list[i]->d_name);
            found = true;
        }
        free(list[i]);
    }
    free(list);
    if (found)
        return 0;
    set_err(err, errsz, NO_UDC);
    return -ENODEV;
}

int gadget_pick_udc(const struct gadget_where *at, const char *vm_name, int skip, char *udc,
                    size_t udcsz, char *err, size_t errsz)
{
    gadget_bound_udc(at, vm_name, udc, udcsz);
    return udc[0] ? 0 : pick_udc(at, skip, udc, udcsz, err, errsz);
}

int gadget_lookup_port(const struct gadget_where *at, const char *vm_name, const char *uuid,
                       int index, struct gadget_port *out)
{
    char gname[80], buf[128], serial[64], rel[64], path[4096];
    struct stat st;
    memset(out, 0, sizeof(*out));
    if (index < 0 || index >= GADGET_MAX_PORTS)
        return -ENOENT;
    gadget_name(vm_name, gname, sizeof(gname));
    serial_string(uuid, serial, sizeof(serial));
    read_udc(at, gname, buf, sizeof(buf));
    if (!buf[0])
        return -ENOENT;
    read_file(at, gname, "strings/0x409/serialnumber", buf, sizeof(buf));
    if (strcmp(buf, serial) != 0)
        return -ENOENT;
    snprintf(path, sizeof(path), "%s/usb_gadget/%s/configs/%s.%d/acm.usb%d", at->configfs, gname,
             CONFIG_LABEL, CONFIG_ID, index);
    if (lstat(path, &st) < 0 || !S_ISLNK(st.st_mode))
        return -ENOENT;
    snprintf(rel, sizeof(rel), "functions/acm.usb%d/port_num", index);
    read_file(at, gname, rel, buf, sizeof(buf));
    char *end;
    long num = strtol(buf, &end, 10);
    if (!buf[0] || *end || num < 0 || num > 255)
        return -ENOENT;
    out->port_num = (int)num;
    out->interface = 2 * index;
    snprintf(out->tty, sizeof(out->tty), "/dev/ttyGS%ld", num);
    return gadget_host_path(vm_name, uuid, index, out->host_path, sizeof(out->host_path));
}

/* ---- the gadget through libusbgx ------------------------------------------------------------- */

static int open_state(const struct gadget_where *at, usbg_state **s, char *err, size_t errsz)
{
    int rc = usbg_init(at->configfs, s);
    if (rc != USBG_SUCCESS) {
        set_err(err, errsz, "cannot open %s/usb_gadget: %s (configfs? libcomposite?)", at->configfs,
                strerror(-usbg_errno(rc)));
        return usbg_errno(rc);
    }
    return 0;
}

static int make_config(usbg_gadget *g, usbg_config **c, char *err, size_t errsz)
{
    struct usbg_config_attrs attrs = {.bmAttributes = 0x80, .bMaxPower = 2};
    struct usbg_config_strs strs = {.configuration = "vsc serial ports"};
    int rc = usbg_create_config(g, CONFIG_ID, CONFIG_LABEL, &attrs, &strs, c);
    if (rc != USBG_SUCCESS) {
        set_err(err, errsz, "cannot create the configuration of gadget %s: %s",
                usbg_get_gadget_name(g), usbg_strerror(rc));
        return usbg_errno(rc);
    }
    return 0;
}

static int make_gadget(usbg_state *s, const char *vm_name, const char *uuid, usbg_gadget **g,
                       char *err, size_t errsz)
{
    char gname[80], product[128], serial[64];
    gadget_name(vm_name, gname, sizeof(gname));
    product_string(vm_name, product, sizeof(product));
    serial_string(uuid, serial, sizeof(serial));
    /* Miscellaneous class with IADs: a composite device of several ACM functions. */
    struct usbg_gadget_attrs attrs = {.bcdUSB = 0x0200,
                                      .bDeviceClass = 0xef,
                                      .bDeviceSubClass = 0x02,
                                      .bDeviceProtocol = 0x01,
                                      .bMaxPacketSize0 = 64,
                                      .idVendor = VID,
                                      .idProduct = PID,
                                      .bcdDevice = 0x0100};
    struct usbg_gadget_strs strs = {
        .manufacturer = MANUFACTURER, .product = product, .serial = serial};
    int rc = usbg_create_gadget(s, gname, &attrs, &strs, g);
    if (rc != USBG_SUCCESS) {
        set_err(err, errsz, "cannot create USB gadget %s: %s", gname, usbg_strerror(rc));
        return usbg_errno(rc);
    }
    usbg_config *c;
    return make_config(*g, &c, err, errsz);
}

static bool is_linked(usbg_config *c, usbg_function *f)
{
    usbg_binding *b;
    usbg_for_each_binding(b, c)
    {
        if (usbg_get_binding_target(b) == f)
            return true;
    }
    return false;
}

static int unbind(usbg_gadget *g, char *err, size_t errsz)
{
    int rc = usbg_disable_gadget(g);
    if (rc != USBG_SUCCESS) {
        set_err(err, errsz, "cannot unbind USB gadget %s: %s", usbg_get_gadget_name(g),
                usbg_strerror(rc));
        return usbg_errno(rc);
    }
    return 0;
}

static int fill_port(usbg_function *f, const char *vm_name, const char *uuid, int index,
                     struct gadget_port *port, char *err, size_t errsz)
{
    int num = -1;
    int rc = usbg_f_serial_get_port_num(usbg_to_serial_function(f), &num);
    if (rc != USBG_SUCCESS || num < 0) {
        set_err(err, errsz, "cannot read port_num of function %s: %s",
                usbg_get_function_instance(f), usbg_strerror(rc));
        return rc != USBG_SUCCESS ? usbg_errno(rc) : -EIO;
    }
    port->port_num = num;
    port->interface = 2 * index;
    snprintf(port->tty, sizeof(port->tty), "/dev/ttyGS%d", num);
    return gadget_host_path(vm_name, uuid, index, port->host_path, sizeof(port->host_path));
}

static int add_port_in(usbg_state *s, const struct gadget_where *at, const char *vm_name,
                       const char *uuid, int index, struct gadget_port *port, char *err,
                       size_t errsz)
{
    char gname[80], instance[16], link[24], udc[128];
    if (index < 0 || index >= GADGET_MAX_PORTS) {
        set_err(err, errsz, TOO_MANY);
        return -EBUSY;
    }
    gadget_name(vm_name, gname, sizeof(gname));
    snprintf(instance, sizeof(instance), "usb%d", index);
    snprintf(link, sizeof(link), "acm.%s", instance);
    usbg_gadget *g = usbg_get_gadget(s, gname);
    int rc = g ? 0 : make_gadget(s, vm_name, uuid, &g, err, errsz);
    if (rc < 0)
        return rc;
    usbg_config *c = usbg_get_config(g, CONFIG_ID, CONFIG_LABEL);
    if (!c && (rc = make_config(g, &c, err, errsz)) < 0)
        return rc;
    read_udc(at, gname, udc, sizeof(udc));
    bool bound = udc[0] != '\0';
    usbg_function *f = usbg_get_function(g, USBG_F_ACM, instance);
    if (!f || !is_linked(c, f)) {
        /* The kernel links nothing into a bound gadget: unbind (the host re-enumerates). */
        if (bound && (rc = unbind(g, err, errsz)) < 0)
            return rc;
    }
    if (!f) {
        rc = usbg_create_function(g, USBG_F_ACM, instance, NULL, &f);
        if (rc == USBG_ERROR_BUSY) {
            set_err(err, errsz, TOO_MANY);
            return -EBUSY;
        }
        if (rc != USBG_SUCCESS) {
            set_err(err, errsz, "cannot create function %s of gadget %s: %s", link, gname,
                    usbg_strerror(rc));
            return usbg_errno(rc);
        }
    }
    if (!is_linked(c, f)) {
        rc = usbg_add_config_function(c, link, f);
        if (rc != USBG_SUCCESS) {
            set_err(err, errsz, "cannot link function %s into gadget %s: %s", link, gname,
                    usbg_strerror(rc));
            return usbg_errno(rc);
        }
    }
    return fill_port(f, vm_name, uuid, index, port, err, errsz);
}

static int bind_in(usbg_state *s, const struct gadget_where *at, const char *gname, char *udc,
                   size_t udcsz, char *err, size_t errsz)
{
    usbg_gadget *g = usbg_get_gadget(s, gname);
    if (!g) {
        set_err(err, errsz, "there is no USB gadget %s", gname);
        return -ENOENT;
    }
    read_udc(at, gname, udc, udcsz);
    if (udc[0])
        return 0;
    int rc = pick_udc(at, 0, udc, udcsz, err, errsz);
    if (rc < 0)
        return rc;
    usbg_udc *u = usbg_get_udc(s, udc);
    if (!u) {
        set_err(err, errsz, "USB device controller %s is not in /sys/class/udc", udc);
        udc[0] = '\0';
        return -ENODEV;
    }
    rc = usbg_enable_gadget(g, u);
    if (rc != USBG_SUCCESS) {
        set_err(err, errsz, "cannot bind USB gadget %s to %s: %s", gname, udc,
                rc == USBG_ERROR_BUSY ? "the controller is busy" : usbg_strerror(rc));
        udc[0] = '\0';
        return usbg_errno(rc);
    }
    return 0;
}

/* 1 removed, 0 there was none, or -errno. */
static int destroy_in(usbg_state *s, const struct gadget_where *at, const char *gname, char *err,
                      size_t errsz)
{
    char udc[128];
    usbg_gadget *g = usbg_get_gadget(s, gname);
    if (!g)
        return 0;
    read_udc(at, gname, udc, sizeof(udc));
    int rc = udc[0] ? unbind(g, err, errsz) : 0;
    if (rc < 0)
        return rc;
    rc = usbg_rm_gadget(g, USBG_RM_RECURSE);
    if (rc != USBG_SUCCESS) {
        set_err(err, errsz, "cannot remove USB gadget %s: %s", gname, usbg_strerror(rc));
        return usbg_errno(rc);
    }
    return 1;
}

/* Whether the VM's existing gadget is exactly what gadget_create would make. */
static bool matches(usbg_gadget *g, const char *uuid, int count)
{
    char serial[64];
    struct usbg_gadget_strs strs = {0};
    serial_string(uuid, serial, sizeof(serial));
    if (usbg_get_gadget_strs(g, LANG_US_ENG, &strs) != USBG_SUCCESS)
        return false;
    bool same = strs.serial && strcmp(strs.serial, serial) == 0;
    usbg_free_gadget_strs(&strs);
    usbg_config *c = usbg_get_config(g, CONFIG_ID, CONFIG_LABEL);
    if (!same || !c)
        return false;
    int functions = 0;
    usbg_function *f;
    usbg_for_each_function(f, g) functions++;
    for (int i = 0; i < count && same; i++) {
        char instance[16];
        snprintf(instance, sizeof(instance), "usb%d", i);
        f = usbg_get_function(g, USBG_F_ACM, instance);
        same = f && is_linked(c, f);
    }
    return same && functions == count;
}

/* ---- the calls ------------------------------------------------------------------------------- */

int gadget_create(const struct gadget_where *at, const char *vm_name, const char *uuid, int count,
                  struct gadget_info *out, char *err, size_t errsz)
{
    memset(out, 0, sizeof(*out));
    if (count < 1 || count > GADGET_MAX_PORTS) {
        set_err(err, errsz, count < 1 ? "a USB gadget needs at least one port" : TOO_MANY);
        return count < 1 ? -EINVAL : -EBUSY;
    }
    usbg_state *s;
    int rc = open_state(at, &s, err, errsz);
    if (rc < 0)
        return rc;
    gadget_name(vm_name, out->name, sizeof(out->name));
    usbg_gadget *g = usbg_get_gadget(s, out->name);
    if (g && !matches(g, uuid, count) && (rc = destroy_in(s, at, out->name, err, errsz)) > 0)
        rc = 0;
    for (int i = 0; i < count && rc == 0; i++)
        rc = add_port_in(s, at, vm_name, uuid, i, &out->ports[i], err, errsz);
    if (rc == 0)
        rc = bind_in(s, at, out->name, out->udc, sizeof(out->udc), err, errsz);
    if (rc == 0) {
        out->count = count;
    } else {
        char ignored[64];
        destroy_in(s, at, out->name, ignored, sizeof(ignored));
        out->udc[0] = '\0';
    }
    usbg_cleanup(s);
    return rc;
}

int gadget_add_port(const struct gadget_where *at, const char *vm_name, const char *uuid, int index,
                    struct gadget_port *out, char *err, size_t errsz)
{
    usbg_state *s;
    memset(out, 0, sizeof(*out));
    int rc = open_state(at, &s, err, errsz);
    if (rc < 0)
        return rc;
    rc = add_port_in(s, at, vm_name, uuid, index, out, err, errsz);
    usbg_cleanup(s);
    return rc;
}

int gadget_bind(const struct gadget_where *at, const char *vm_name, char *udc, size_t udcsz,
                char *err, size_t errsz)
{
    char gname[80], free_udc[128];
    usbg_state *s;
    gadget_name(vm_name, gname, sizeof(gname));
    /* Bound already, or no UDC free: known from the files, without libusbgx. */
    read_udc(at, gname, udc, udcsz);
    if (udc[0])
        return 0;
    int rc = gadget_pick_udc(at, vm_name, 0, free_udc, sizeof(free_udc), err, errsz);
    if (rc < 0)
        return rc;
    rc = open_state(at, &s, err, errsz);
    if (rc < 0)
        return rc;
    rc = bind_in(s, at, gname, udc, udcsz, err, errsz);
    usbg_cleanup(s);
    return rc;
}

int gadget_destroy(const struct gadget_where *at, const char *vm_name, char *err, size_t errsz)
{
    char gname[80], path[4096];
    struct stat st;
    usbg_state *s;
    gadget_name(vm_name, gname, sizeof(gname));
    snprintf(path, sizeof(path), "%s/usb_gadget/%s", at->configfs, gname);
    if (lstat(path, &st) < 0 && errno == ENOENT)
        return 0; /* none (or no configfs at all): nothing to do, no libusbgx needed */
    int rc = open_state(at, &s, err, errsz);
    if (rc < 0)
        return rc;
    rc = destroy_in(s, at, gname, err, errsz);
    usbg_cleanup(s);
    return rc;
}

int gadget_sweep(const struct gadget_where *at, int (*keep)(const char *vm_name, void *ctx),
                 void *ctx)
{
    char dir[4096], err[160];
    snprintf(dir, sizeof(dir), "%s/usb_gadget", at->configfs);
    struct dirent **list = NULL;
    int n = scandir(dir, &list, not_dot, alphasort), removed = 0;
    for (int i = 0; i < n; i++) {
        const char *name = list[i]->d_name;
        if (strncmp(name, "vsc-", 4) == 0 && name[4] && !keep(name + 4, ctx) &&
            gadget_destroy(at, name + 4, err, sizeof(err)) > 0)
            removed++;
        free(list[i]);
    }
    free(list);
    return removed;
}
