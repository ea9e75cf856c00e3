/*
 * console_socket — local access to a port's stream: <state_dir>/consoles/<port id>.sock,
 * a Unix socket (mode 0600, root only) carrying the raw console bytes both ways, as
 * obmc-console's socket does. `socat -,raw,echo=0 UNIX-CONNECT:var/consoles/3.sock`
 * is a console. Remote users get the WebSocket instead (issue 4).
 *
 * A client that reads too slowly skips ahead (the ring's policy) and is shown
 * "[vsc: N bytes skipped]"; input that the VM cannot take is answered with a notice in
 * the client's stream, never dropped silently.
 */
#ifndef VSC_CONSOLE_SOCKET_H
#define VSC_CONSOLE_SOCKET_H

struct port;

int console_socket_open(struct port *p);
void console_socket_close(struct port *p);

#endif
