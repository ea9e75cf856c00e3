/*
 * ipmi_socket — the IPMI OEM command (docs/ipmi-oem.md) from a local IPMI front end: a
 * BMC's IPMI daemon (the contrib/ipmi_sim plugin, an OpenBMC ipmid provider) forwards
 * NetFn 2Eh requests here over a Unix stream socket, the `ipmi_socket` setting (empty =
 * off). Requests run through ipmi_serve(), as the Redfish action's do.
 *
 * Protocol (docs/ipmi-oem.md, "The local socket"): each frame is a 2-byte little-endian
 * length and that many bytes. Request: netfn, cmd, transport (0 IPMB, 1 LAN), response
 * max (the most bytes, from the completion code on, the front end can answer; 0 = the
 * transport's limit), data. Response: cc, data. Any number of requests per connection,
 * answered in order.
 *
 * Policy: the socket is mode 0600 (it can do what ConfigureManager can); a stale socket
 * file is replaced at start (a live one, or a file that is not a socket, is an error) and
 * removed at exit. At most IPMI_SOCKET_MAX_CLIENTS connections; more are closed at once.
 * A frame shorter than 4 or longer than IPMI_SOCKET_FRAME_MAX bytes, a transport other
 * than 0/1 or a NetFn above 3Fh closes the connection (garbage, not an IPMI request); so
 * does a connection idle (or mid-frame) for IPMI_SOCKET_IDLE_MS. Never blocks the loop.
 */
#ifndef VSC_IPMI_SOCKET_H
#define VSC_IPMI_SOCKET_H

#define IPMI_SOCKET_FRAME_MAX   300 /* request bytes after the length: 4 + data */
#define IPMI_SOCKET_MAX_CLIENTS 8
#define IPMI_SOCKET_IDLE_MS     10000

struct vsc_app;
struct ipmi_socket;

/* Listens on app->cfg.ipmi_socket; *out stays NULL when the setting is empty. 0 or -errno
 * (-EADDRINUSE: another process answers there; -EEXIST: the path is not a socket). */
int ipmi_socket_open(struct vsc_app *app, struct ipmi_socket **out);
/* Closes every connection and removes the socket file. NULL is fine. */
void ipmi_socket_close(struct ipmi_socket *s);

#endif
