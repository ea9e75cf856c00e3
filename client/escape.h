/* escape: vsc-console's escape sequences, as ConMan's: the escape character (default '&')
 * typed at the start of a line, then one command character.
 *
 * A pure state machine over the bytes typed: it owns no I/O. For each byte it says which
 * bytes to send to the console (0, 1 or 2) and which command, if any, to run. "Start of a
 * line" means nothing was sent yet, or the last byte sent was CR or LF; a command sends
 * nothing, so commands can follow each other (&f&p). The escape character elsewhere is sent
 * as typed; twice at a line start sends it once; followed by an unknown character, both are
 * sent.
 */
#ifndef VSC_ESCAPE_H
#define VSC_ESCAPE_H

#include <stddef.h>

enum escape_cmd {
    ESC_NONE = 0,
    ESC_DETACH,       /* .  */
    ESC_HELP,         /* ?  */
    ESC_WHO,          /* w  */
    ESC_MODE_CYCLE,   /* m  free -> observe-only -> private -> free */
    ESC_MODE_FREE,    /* u  free use (release the mode) */
    ESC_MODE_OBSERVE, /* o  observe-only */
    ESC_MODE_PRIVATE, /* p  private */
    ESC_FORCE,        /* f  repeat the last mode request with force */
};

struct escape {
    int ch;         /* the escape character; -1: none (every byte is sent) */
    int line_start; /* nothing sent yet on this line */
    int pending;    /* the escape character was typed at a line start */
};

/* Starts at a line start. ch: the escape character, or -1 for none. */
void escape_init(struct escape *e, int ch);

/* Feeds one typed byte. Writes the bytes to send to out[0..*nout) (at most 2) and returns
 * the command to run, ESC_NONE for none. */
enum escape_cmd escape_byte(struct escape *e, unsigned char c, unsigned char out[2], size_t *nout);

/* The input ended: writes to out[0..*nout) (at most 1) an escape character still waiting
 * for its command, which nothing can follow now, so it is sent as typed. */
void escape_end(struct escape *e, unsigned char out[2], size_t *nout);

/* Parses an -e argument: one character ("&", "~"), "^X" for a control character, or
 * "none". Returns the character, -1 for "none", -2 when invalid. */
int escape_parse(const char *arg);

/* Writes the escape character printably ("&", "^]") into buf (at least 4 bytes). */
void escape_name(int ch, char *buf, size_t bufsz);

#endif
