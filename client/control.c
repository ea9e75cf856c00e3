/* control: see control.h. */
#include "control.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void control_init(struct control *c)
{
    memset(c, 0, sizeof(*c));
}

/* Copies a JSON string (or "" / "none" for others) into dst, replacing control characters. */
static void copy_str(char *dst, size_t dstsz, json_t *v, const char *dflt)
{
    const char *s = json_is_string(v) ? json_string_value(v) : dflt;
    snprintf(dst, dstsz, "%s", s);
    for (char *p = dst; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

static void conn_read(struct control_conn *k, json_t *o)
{
    copy_str(k->id, sizeof(k->id), json_object_get(o, "Id"), "");
    copy_str(k->user, sizeof(k->user), json_object_get(o, "UserName"), "?");
    copy_str(k->role, sizeof(k->role), json_object_get(o, "Role"), "");
    copy_str(k->since, sizeof(k->since), json_object_get(o, "Since"), "");
    k->interactive = json_is_true(json_object_get(o, "Interactive"));
    k->receives_output = json_is_true(json_object_get(o, "ReceivesOutput"));
}

static struct control_conn *conn_find(struct control *c, const char *id)
{
    for (size_t i = 0; i < c->nconns; i++)
        if (strcmp(c->conns[i].id, id) == 0)
            return &c->conns[i];
    return NULL;
}

static void conn_add(struct control *c, json_t *o)
{
    struct control_conn k;
    conn_read(&k, o);
    struct control_conn *old = conn_find(c, k.id);
    if (old)
        *old = k;
    else if (c->nconns < CONTROL_MAX_CONNS)
        c->conns[c->nconns++] = k;
    else
        c->overflow++;
}

static void conn_remove(struct control *c, const char *id)
{
    struct control_conn *k = conn_find(c, id);
    if (!k) {
        if (c->overflow)
            c->overflow--;
        return;
    }
    size_t i = (size_t)(k - c->conns);
    memmove(&c->conns[i], &c->conns[i + 1], (c->nconns - i - 1) * sizeof(c->conns[0]));
    c->nconns--;
}

static const char *mode_words(const char *mode)
{
    if (strcmp(mode, "ObserveOnly") == 0)
        return "observe-only";
    if (strcmp(mode, "Private") == 0)
        return "private";
    if (strcmp(mode, "Free") == 0)
        return "free use";
    return mode;
}

static enum control_kind on_hello(struct control *c, json_t *m, char *line, size_t linesz)
{
    json_t *self = json_object_get(m, "connection");
    copy_str(c->self_id, sizeof(c->self_id), json_object_get(self, "Id"), "");
    c->nconns = 0;
    c->overflow = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(m, "attached"), i, v) conn_add(c, v);
    c->have_hello = true;
    char user[64];
    copy_str(user, sizeof(user), json_object_get(self, "UserName"), "?");
    snprintf(line, linesz, "attached as %s (connection %s); %zu connection%s on this port", user,
             c->self_id, c->nconns + c->overflow, c->nconns + c->overflow == 1 ? "" : "s");
    return CTL_INFO;
}

static enum control_kind on_mode(struct control *c, json_t *m, char *line, size_t linesz)
{
    char by[64], reason[32];
    copy_str(c->mode, sizeof(c->mode), json_object_get(m, "mode"), "?");
    copy_str(c->holder, sizeof(c->holder), json_object_get(m, "holder"), "");
    copy_str(by, sizeof(by), json_object_get(m, "by"), "");
    copy_str(reason, sizeof(reason), json_object_get(m, "reason"), "");
    bool forced = json_is_true(json_object_get(m, "forced"));
    int n = snprintf(line, linesz, "mode: %s", mode_words(c->mode));
    if (c->holder[0] && n >= 0 && (size_t)n < linesz)
        n += snprintf(line + n, linesz - (size_t)n, " held by %s", c->holder);
    if (strcmp(reason, "current") != 0 && reason[0] && n >= 0 && (size_t)n < linesz) {
        if (by[0])
            n += snprintf(line + n, linesz - (size_t)n, " (%s%s by %s)", reason,
                          forced ? ", forced" : "", by);
        else
            n += snprintf(line + n, linesz - (size_t)n, " (%s)", reason);
    }
    return strcmp(reason, "current") == 0 ? CTL_INFO : CTL_MODE;
}

static enum control_kind on_attached(struct control *c, json_t *m, char *line, size_t linesz)
{
    json_t *conn = json_object_get(m, "connection");
    const char *event = json_string_value(json_object_get(m, "event"));
    struct control_conn k;
    conn_read(&k, conn);
    if (event && strcmp(event, "attach") == 0) {
        conn_add(c, conn);
        snprintf(line, linesz, "%s attached (connection %s)", k.user, k.id);
    } else if (event && strcmp(event, "detach") == 0) {
        conn_remove(c, k.id);
        snprintf(line, linesz, "%s left (connection %s)", k.user, k.id);
    } else {
        return CTL_BAD;
    }
    return CTL_INFO;
}

enum control_kind control_apply(struct control *c, const char *msg, size_t len, char *line,
                                size_t linesz)
{
    line[0] = '\0';
    json_t *m = json_loadb(msg, len, 0, NULL);
    const char *type = json_string_value(json_object_get(m, "type"));
    enum control_kind kind = CTL_BAD;
    if (!type) {
        snprintf(line, linesz, "unexpected control message from the server");
    } else if (strcmp(type, "hello") == 0) {
        kind = on_hello(c, m, line, linesz);
    } else if (strcmp(type, "mode") == 0) {
        kind = on_mode(c, m, line, linesz);
    } else if (strcmp(type, "attached") == 0) {
        kind = on_attached(c, m, line, linesz);
    } else if (strcmp(type, "notice") == 0) {
        copy_str(line, linesz, json_object_get(m, "error"), "notice");
        kind = CTL_NOTICE;
    } else if (strcmp(type, "missed") == 0) {
        json_int_t n = json_integer_value(json_object_get(m, "bytes"));
        snprintf(line, linesz, "%lld bytes of output missed (this terminal fell behind)",
                 (long long)n);
        kind = CTL_MISSED;
    } else if (strcmp(type, "pong") == 0) {
        kind = CTL_IGNORED;
    } else {
        kind = CTL_IGNORED; /* a newer server's message: not ours to show */
    }
    json_decref(m);
    return kind;
}

void control_who(const struct control *c, char *buf, size_t bufsz)
{
    size_t n = 0;
    buf[0] = '\0';
    int w =
        snprintf(buf, bufsz, "%zu connection%s; mode %s%s%s", c->nconns + c->overflow,
                 c->nconns + c->overflow == 1 ? "" : "s", c->mode[0] ? mode_words(c->mode) : "?",
                 c->holder[0] ? " held by " : "", c->holder);
    if (w < 0 || (size_t)w >= bufsz)
        return;
    n = (size_t)w;
    for (size_t i = 0; i < c->nconns; i++) {
        const struct control_conn *k = &c->conns[i];
        w = snprintf(buf + n, bufsz - n, "\n%s %s (%s) since %s%s%s%s", k->id, k->user, k->role,
                     k->since, k->interactive ? ", may type" : ", watching",
                     k->receives_output ? "" : ", output hidden",
                     strcmp(k->id, c->self_id) == 0 ? "  <- you" : "");
        if (w < 0 || (size_t)w >= bufsz - n)
            return;
        n += (size_t)w;
    }
    if (c->overflow)
        snprintf(buf + n, bufsz - n, "\n... and %zu more", c->overflow);
}

const char *control_next_mode(const char *mode)
{
    if (strcasecmp(mode, "Free") == 0 || !mode[0])
        return "observe";
    if (strcasecmp(mode, "ObserveOnly") == 0)
        return "private";
    return "free";
}
