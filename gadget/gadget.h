/*
 * gadget — USB serial ports for VMs through the kernel's gadget configfs, over libusbgx:
 * one composite gadget per VM, one CDC-ACM function per serial port.
 *
 * Policy (docs/usb-gadget.md tells the why):
 * - One gadget per VM, "vsc-<vm name>", bound to a UDC of its own. A BMC's USB virtual hub
 *   (ASPEED vhub) offers one UDC per downstream port, so VMs never share a gadget and
 *   changing one VM never disturbs the ports of another.
 * - All of a VM's ports are made before its gadget is bound: the kernel refuses to link a
 *   function into a bound gadget (EINVAL), and unlinking one unbinds the whole gadget, so a
 *   change means unbind, link, rebind, after which the host re-enumerates every port of
 *   that gadget (ttyACM numbers may change; open host fds hang up).
 * - At most 8 u_serial ports (acm, gser, obex) per kernel, all gadgets together: the 9th
 *   mkdir of a function fails with EBUSY, reported as "the kernel allows at most 8 USB
 *   serial ports". (The UDC's endpoints are a second, per-UDC limit, seen at bind.)
 * - The UDC is the first, in name order, of the UDC folder (/sys/class/udc) that no
 *   gadget's UDC file names; none left: "no free USB device controller".
 * - Removal: unbind (UDC emptied), unlink the functions from the config, remove the
 *   functions, the config's strings, the config, the gadget's strings, the gadget.
 * - Names: the BMC side of port i is /dev/ttyGS<port_num> (read from the function); the
 *   host side is udev's stable /dev/serial/by-id/usb-vsc_<product>_<serial>-if<NN>, with
 *   product "vsc serial for <vm>" (cut to 63 bytes, as udev's usb_id reads it), serial
 *   the VM's UUID, NN the control interface of function i in hex (2*i: each ACM function
 *   has a control and a data interface).
 *
 * Every call reads configfs afresh (no state is kept between calls), so leftovers of a
 * crash or of a previous vscd are seen as they are. Errors: -errno and a sentence in err.
 */
#ifndef VSC_GADGET_H
#define VSC_GADGET_H

#include <stddef.h>

#define GADGET_MAX_PORTS 8 /* the kernel's u_serial ports (MAX_U_SERIAL_PORTS) */

/* Where the kernel's interfaces are: configurable so that tests use temporary folders. */
struct gadget_where {
    const char *configfs; /* configfs mount point: /sys/kernel/config */
    const char *udc_dir;  /* /sys/class/udc (libusbgx itself always reads that path) */
};

struct gadget_port {
    int port_num;        /* u_serial port: /dev/ttyGS<port_num> */
    int interface;       /* the host's bInterfaceNumber of the ACM control interface */
    char tty[32];        /* /dev/ttyGS<port_num> */
    char host_path[256]; /* /dev/serial/by-id/usb-vsc_..._<serial>-if<NN> */
};

struct gadget_info {
    char name[80]; /* the gadget's folder name: vsc-<vm name> */
    char udc[128]; /* the UDC it is bound to */
    int count;
    struct gadget_port ports[GADGET_MAX_PORTS];
};

/* The gadget's folder name of a VM. */
void gadget_name(const char *vm_name, char *out, size_t outsz);

/* The host's stable name of port `index` (0-based) of a VM, as udev makes it. 0 or -ENAMETOOLONG.
 */
int gadget_host_path(const char *vm_name, const char *uuid, int index, char *out, size_t outsz);

/*
 * Creates the VM's gadget with `count` ports, all linked into one config, and binds it to
 * a free UDC. A gadget of that VM that already has exactly these ports is kept as it is
 * (bound again only if it was not): that is vscd restarting. Any other gadget of that VM
 * is removed first. All or nothing: on failure nothing of the VM's gadget is left.
 */
int gadget_create(const struct gadget_where *at, const char *vm_name, const char *uuid, int count,
                  struct gadget_info *out, char *err, size_t errsz);

/*
 * Step by step, for callers that learn a VM's ports one at a time: makes the gadget
 * (unbound) when it is missing and the function of port `index` (0-based) when that is
 * missing, linked into the config. If the gadget is bound and must change, it is unbound
 * first (see the policy): call gadget_bind() once all the ports are there.
 */
int gadget_add_port(const struct gadget_where *at, const char *vm_name, const char *uuid, int index,
                    struct gadget_port *out, char *err, size_t errsz);

/* Binds the VM's gadget to a free UDC unless it is bound; `udc` gets the UDC's name. */
int gadget_bind(const struct gadget_where *at, const char *vm_name, char *udc, size_t udcsz,
                char *err, size_t errsz);

/* Unbinds and removes the VM's gadget: 1 removed, 0 there was none, or -errno. */
int gadget_destroy(const struct gadget_where *at, const char *vm_name, char *err, size_t errsz);

/*
 * Removes every vsc-<vm> gadget for which keep(vm name) says false (left by a crash between
 * removing a VM and removing its gadget). Returns how many were removed.
 */
int gadget_sweep(const struct gadget_where *at, int (*keep)(const char *vm_name, void *ctx),
                 void *ctx);

/* The UDC the VM's gadget is bound to ("" when unbound or missing). */
void gadget_bound_udc(const struct gadget_where *at, const char *vm_name, char *udc, size_t udcsz);

/*
 * The UDC the VM's gadget is bound to, else the one gadget_bind() would take once `skip`
 * other gadgets (made, not bound yet) have each taken a free one: 0 is what it would take
 * now; -ENODEV and "no free USB device controller" when there is none. Reads files only.
 */
int gadget_pick_udc(const struct gadget_where *at, const char *vm_name, int skip, char *udc,
                    size_t udcsz, char *err, size_t errsz);

/*
 * Port `index` of the VM's gadget when that gadget is bound, is this VM's (serial number)
 * and has the port linked: 0 and *out filled, else -ENOENT. Reads files only (no libusbgx):
 * cheap enough to ask often.
 */
int gadget_lookup_port(const struct gadget_where *at, const char *vm_name, const char *uuid,
                       int index, struct gadget_port *out);

#endif
