/* escape: see escape.h. */
#include "escape.h"

#include <stdio.h>
#include <string.h>

void escape_init(struct escape *e, int ch)
{
    e->ch = ch;
    e->line_start = 1;
    e->pending = 0;
}

static void emit(struct escape *e, unsigned char c, unsigned char out[2], size_t *nout)
{
    out[(*nout)++] = c;
    e->line_start = (c == '\r' || c == '\n');
}

static enum escape_cmd command(unsigned char c)
{
    switch (c) {
    case '.':
        return ESC_DETACH;
    case '?':
        return ESC_HELP;
    case 'w':
        return ESC_WHO;
    case 'm':
        return ESC_MODE_CYCLE;
    case 'u':
        return ESC_MODE_FREE;
    case 'o':
        return ESC_MODE_OBSERVE;
    case 'p':
        return ESC_MODE_PRIVATE;
    case 'f':
        return ESC_FORCE;
    default:
        return ESC_NONE;
    }
}

enum escape_cmd escape_byte(struct escape *e, unsigned char c, unsigned char out[2], size_t *nout)
{
    *nout = 0;
    if (e->pending) {
        e->pending = 0;
        if ((int)c == e->ch) {
            emit(e, c, out, nout);
            return ESC_NONE;
        }
        enum escape_cmd cmd = command(c);
        if (cmd != ESC_NONE)
            return cmd; /* still at the line start */
        emit(e, (unsigned char)e->ch, out, nout);
        emit(e, c, out, nout);
        return ESC_NONE;
    }
    if (e->line_start && e->ch >= 0 && (int)c == e->ch) {
        e->pending = 1;
        return ESC_NONE;
    }
    emit(e, c, out, nout);
    return ESC_NONE;
}

void escape_end(struct escape *e, unsigned char out[2], size_t *nout)
{
    *nout = 0;
    if (e->pending) {
        e->pending = 0;
        emit(e, (unsigned char)e->ch, out, nout);
    }
}

int escape_parse(const char *arg)
{
    if (!arg)
        return -2;
    if (strcmp(arg, "none") == 0)
        return -1;
    if (arg[0] == '^' && arg[1] && !arg[2]) {
        int c = arg[1];
        if (c == '?')
            return 0x7f;
        if (c >= 'a' && c <= 'z')
            c -= 'a' - 'A';
        if (c < '@' || c > '_')
            return -2;
        return c - '@';
    }
    if (arg[0] && !arg[1] && (unsigned char)arg[0] < 0x80)
        return (unsigned char)arg[0];
    return -2;
}

void escape_name(int ch, char *buf, size_t bufsz)
{
    if (ch < 0)
        snprintf(buf, bufsz, "none");
    else if (ch == 0x7f)
        snprintf(buf, bufsz, "^?");
    else if (ch < 0x20)
        snprintf(buf, bufsz, "^%c", ch + '@');
    else
        snprintf(buf, bufsz, "%c", ch);
}
