/* control: what vsc-console knows from the console WebSocket's control messages
 * (docs/console-protocol.md, "Frames"): its own connection, who is attached, the port's
 * mode; and the status line each message deserves.
 *
 * Pure: no I/O. Bounded: at most CONTROL_MAX_CONNS connections are remembered (more are
 * counted). Strings from the server are cut to fit and control characters in them are
 * replaced, so a status line never carries terminal escapes.
 */
#ifndef VSC_CONTROL_H
#define VSC_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

#define CONTROL_MAX_CONNS 64

struct control_conn {
    char id[24];
    char user[64];
    char role[24];
    char since[32];
    bool interactive;
    bool receives_output;
};

struct control {
    char self_id[24];
    struct control_conn conns[CONTROL_MAX_CONNS];
    size_t nconns;
    size_t overflow; /* attached connections not remembered */
    char mode[16];   /* "Free", "ObserveOnly", "Private"; "" until told */
    char holder[64]; /* "" in free use */
    bool have_hello;
};

/* What a message was, for the caller's display policy. */
enum control_kind {
    CTL_IGNORED, /* pong, or nothing to show */
    CTL_INFO,    /* hello, attach/detach, the mode at attach: hidden by -q */
    CTL_MODE,    /* the mode changed */
    CTL_NOTICE,  /* a refusal or a warning: always shown */
    CTL_MISSED,  /* output bytes skipped: always shown */
    CTL_BAD,     /* not a JSON object with a known type */
};

void control_init(struct control *c);

/* Applies one text message; writes its status line (without brackets) to line. */
enum control_kind control_apply(struct control *c, const char *msg, size_t len, char *line,
                                size_t linesz);

/* Who is attached, one "[vsc: ...]"-ready line per connection separated by '\n'. */
void control_who(const struct control *c, char *buf, size_t bufsz);

/* The mode after `mode` in the cycle Free -> ObserveOnly -> Private -> Free, as the
 * protocol's request names ("free", "observe", "private"). */
const char *control_next_mode(const char *mode);

#endif
