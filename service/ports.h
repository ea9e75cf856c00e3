/*
 * ports — virtual machines and their serial ports: the allocate/free command's logic,
 * persistence, and the live backends behind each port.
 *
 * Contract:
 * - An allocation is all-or-nothing and idempotent per VM UUID: the database rows and the
 *   backends are created together, committed in one transaction; any failure undoes both.
 *   A repeated allocation with the same UUID returns the same ports.
 * - The database is the truth. At start, ports_restore() recreates every active port's
 *   backend at the same path with the same Id, and removes published paths that no
 *   active port owns (left by a crash between creating a backend and committing).
 * - Freed ports keep their row (freed_at set): freeing twice is harmless, Ids are never
 *   reused. A VM whose last port is freed is freed too (its ComputerSystem goes away).
 */
#ifndef VSC_PORTS_H
#define VSC_PORTS_H

#include "batch_pace.h"
#include "console.h"
#include "console_state.h"
#include "loop.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct vsc_app;
struct port;

enum backend_kind { BACKEND_PTY, BACKEND_UNIX, BACKEND_USB_GADGET, BACKEND_COUNT };

/* A port's Label: at most 64 characters (JSON Schema counts characters), each up to 4
 * bytes of UTF-8. */
#define PORT_LABEL_CHARS 64
#define PORT_LABEL_SIZE  (4 * PORT_LABEL_CHARS + 1)

/* One small interface per backend (obmc-console's handler idea). */
struct backend_ops {
    const char *name;
    /* Creates the device or listener and publishes p->bind_path. 0 or -errno. */
    int (*open)(struct port *p);
    /* Stops the backend; with `unpublish`, removes the published path too. */
    void (*close)(struct port *p, bool unpublish);
    /* Input is queued in p->console: write what the device takes now. */
    void (*input_ready)(struct port *p);
    /* Line settings changed (may be NULL: recorded only). 0 or -errno. */
    int (*apply_line)(struct port *p);
    /* Whether the published path still leads to this backend (may be NULL). */
    bool (*healthy)(struct port *p);
};

enum port_state {
    PORT_DOWN,      /* the backend failed; see port.error */
    PORT_WAITING,   /* ready, no VM attached to it */
    PORT_CONNECTED, /* the VM side is attached */
};

struct line_settings {
    int64_t bit_rate;
    int data_bits;
    char parity[8]; /* None, Even, Odd, Mark, Space */
    int stop_bits;
    char flow_control[12]; /* None, Software, Hardware */
};

struct vm {
    char uuid[37];
    char name[65];
    char host_name[256];
    int64_t created_at;
    struct vm_console_state cstate; /* what its consoles say (console_state.h) */
    struct vm *next;
};

struct port {
    int64_t id;
    struct vm *vm;
    int idx; /* 1..N within its VM */
    char com_port[16];
    char label[PORT_LABEL_SIZE];
    enum backend_kind kind;
    const struct backend_ops *ops;
    char bind_path[PATH_MAX]; /* what the hypervisor binds */
    bool enabled;
    struct line_settings line;
    struct console console;
    struct port_console_state cstate; /* its state detector (console_state.h) */
    struct loop_timer batch_due;      /* a batch is due: tells the readers what came */
    uint64_t typed_ms;                /* loop_now_ms() of its last input; 0 = never */
    uint64_t last_batch;              /* bytes the readers were told of last time */
    struct loop_watch *vm_watch;      /* the backend's watch on the VM side's fd, or NULL */
    bool reading_held;                /* reading what the kernel held: store, tell nobody */
    /* The client address of a mode request, for its audit row: set by the caller around
     * console_set_mode(), NULL otherwise (a holder leaving, a rename: no request). */
    const char *mode_client;
    enum port_state state;
    char error[128];
    void *backend;        /* the backend's own state */
    void *console_socket; /* console_socket.c's listener */
    struct ports *registry;
    struct port *next;
};

#define PORT_TYPED_MS   1000 /* a port typed into this recently is interactive: no batching */
#define PORT_BATCH_FULL 4096 /* bytes: a batch this big is big enough; it goes at once */
/* A console whose last batch was smaller than this is read once per batch, when the batch
 * is due within PORT_READ_LATER_MS: the kernel holds its output meanwhile (20 KiB for a
 * pty, more for a socket); a burst past that waits, at most until the batch is due. */
#define PORT_READ_LATER_BELOW 1024
#define PORT_READ_LATER_MS    100
#define PORTS_CHECK_MS        2000 /* how often down or unpublished backends are re-created */

struct ports {
    struct vsc_app *app;
    struct loop *loop;
    struct loop_timer check;
    struct batch_pace pace; /* console_batch_busy_ms: the delay the loop's load calls for */
    char dir[3200];         /* <state_dir>/ports */
    struct vm *vms;
    struct port *ports; /* ascending id */
};

extern const struct backend_ops backend_pty;
extern const struct backend_ops backend_unix;
extern const struct backend_ops backend_usb_gadget;

const char *backend_name(enum backend_kind kind);
int backend_parse(const char *name, enum backend_kind *out);
const char *port_state_name(enum port_state state);

/* Loads and reopens every active port. 0 or -1 (logged). */
int ports_init(struct ports *ps, struct vsc_app *app);
void ports_fini(struct ports *ps);

struct port_request {
    char com_port[16];
    char label[PORT_LABEL_SIZE];
};

struct allocate_request {
    char uuid[37];
    char name[65];
    bool name_given;     /* false: any name matches a repeat (IPMI allocate without a name) */
    char host_name[256]; /* "" = not given */
    int count;
    enum backend_kind kind;
    bool kind_given;
    struct port_request ports[16]; /* optional per-port mapping */
    bool ports_given;
};

enum allocate_result {
    ALLOC_CREATED,   /* new ports */
    ALLOC_EXISTING,  /* the same request again: the same ports */
    ALLOC_CONFLICT,  /* the VM has ports that differ from the request, or the name is taken */
    ALLOC_EXHAUSTED, /* a limit would be exceeded */
    ALLOC_BACKEND,   /* a backend could not be created (message in err) */
    ALLOC_FAILED,    /* database error */
};

/* Allocates (or finds) the VM's ports; *vm_out is the VM on success. */
enum allocate_result ports_allocate(struct ports *ps, const struct allocate_request *req,
                                    struct vm **vm_out, char *err, size_t errsz);

/* Frees a port, or all ports of a VM (and the VM), in one transaction: all or nothing.
 * 1 = freed now, 0 = already freed (harmless), -ENOENT = never existed, -EIO. */
int ports_free_port(struct ports *ps, int64_t id);
int ports_free_vm(struct ports *ps, const char *uuid);

#define PORTS_FREE_MAX 64 /* ports one ports_free_ports() call frees */

/* Frees the ports `ids` (at most PORTS_FREE_MAX), and each VM left without ports, in one
 * transaction: all or nothing. freed[i]: ids[i] was freed now (false: it was free before,
 * or named earlier in ids). 0, -ENOENT (an id never existed: nothing freed), -EIO. */
int ports_free_ports(struct ports *ps, const int64_t *ids, size_t n, bool *freed);

struct port *ports_find(struct ports *ps, int64_t id);
struct vm *ports_find_vm(struct ports *ps, const char *uuid);
size_t ports_count(const struct ports *ps, const struct vm *vm); /* vm NULL: all */

/* How long console output waits now to reach viewers, in ms: console_batch_ms, or more
 * while the loop is busy (console_batch_busy_ms, batch_pace.h). A port typed into within
 * PORT_TYPED_MS, and a batch of PORT_BATCH_FULL bytes, go at once (port_pump_output). */
uint32_t ports_batch_ms(struct ports *ps);

/*
 * Persists and applies a changed port (enabled, line settings); `was_enabled` is the
 * state before the change (enabling opens the backend, disabling closes it). 0 or -EIO.
 */
int ports_update(struct ports *ps, struct port *p, bool was_enabled);

/* An account was renamed to `now` or deleted (`now` NULL) by `by`: every port's consoles
 * follow (console_user_renamed). */
void ports_user_renamed(struct ports *ps, const char *old, const char *now, const char *by);

/* ResourceChanged for the port's SerialInterface: something it shows changed that the
 * port itself did not (its access rules, and with them EffectiveRights). */
void port_publish_changed(struct port *p);

/* For backends: the VM side came, went or failed. */
void port_set_state(struct port *p, enum port_state state, const char *error);

/* For backends: reads what the VM printed into the console (bounded per call).
 * 0 when the fd would block, -EPIPE at end of file, else -errno. */
int port_pump_output(struct port *p, int fd);

/* For backends: the watch whose EPOLLIN calls port_pump_output() (NULL once it is gone).
 * While a slow console's batch waits, the port takes EPOLLIN off it and reads the fd
 * itself when the batch is due; errors and end of file stay for the watch to report (the
 * watch must read on EPOLLHUP too). A backend that sets the watch's events itself turns
 * reading back on, which is always safe. */
void port_watch_output(struct port *p, struct loop_watch *w);

/* For backends: writes queued input. 1 = all written, 0 = would block, -errno. */
int port_pump_input(struct port *p, int fd);

/* For backends: raw mode and the port's bit rate on a tty fd. 0 or -errno. */
int port_apply_termios(struct port *p, int fd);

/* For backends: applies the configured owner group and mode to a published path. */
void port_publish_mode(struct port *p, const char *path, mode_t mode);

#endif
