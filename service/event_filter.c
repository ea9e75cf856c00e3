#include "event_filter.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum node_kind { NODE_CMP, NODE_AND, NODE_OR, NODE_NOT };

enum prop {
    PROP_EVENT_FORMAT_TYPE,
    PROP_MESSAGE_ID,
    PROP_ORIGIN_RESOURCE,
    PROP_REGISTRY_PREFIX,
    PROP_RESOURCE_TYPE,
    PROP_SUBORDINATE_RESOURCES,
    PROP_COUNT,
};

static const char *const prop_names[PROP_COUNT] = {"EventFormatType", "MessageId",
                                                   "OriginResource",  "RegistryPrefix",
                                                   "ResourceType",    "SubordinateResources"};

struct node {
    enum node_kind kind;
    int left, right; /* children; NOT uses left */
    enum prop prop;
    bool negate; /* ne */
    bool flag;   /* a boolean value */
    char *value; /* a string value */
};

struct event_filter {
    struct node nodes[EVENT_FILTER_MAX_NODES];
    int count;
    int root;
    bool subordinate; /* SubordinateResources eq true */
};

struct parser {
    const char *text, *p;
    struct event_filter *f;
    int depth;
    char *err;
    size_t errsz;
};

static int fail(struct parser *ps, int rc, const char *what)
{
    snprintf(ps->err, ps->errsz, "%s at offset %d", what, (int)(ps->p - ps->text));
    return rc;
}

static void skip_space(struct parser *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t')
        ps->p++;
}

static bool is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* The word at the cursor (letters only), without consuming it. */
static size_t peek_word(struct parser *ps)
{
    skip_space(ps);
    size_t n = 0;
    while (is_alpha(ps->p[n]))
        n++;
    return n;
}

static bool take_keyword(struct parser *ps, const char *kw)
{
    size_t n = peek_word(ps);
    if (n != strlen(kw) || strncmp(ps->p, kw, n) != 0)
        return false;
    ps->p += n;
    return true;
}

static int new_node(struct parser *ps, enum node_kind kind)
{
    if (ps->f->count >= EVENT_FILTER_MAX_NODES)
        return fail(ps, -E2BIG, "too many terms");
    int i = ps->f->count++;
    ps->f->nodes[i] = (struct node){.kind = kind, .left = -1, .right = -1};
    return i;
}

/* 'text' with '' for a quote: a malloc'd copy in *out. */
static int parse_string(struct parser *ps, char **out)
{
    const char *start = ++ps->p; /* past the opening quote */
    size_t len = 0;
    for (const char *q = start;; q++) {
        if (*q == '\0')
            return fail(ps, -EINVAL, "unterminated string");
        if (*q == '\'') {
            if (q[1] != '\'')
                break;
            q++;
        }
        len++;
    }
    char *s = malloc(len + 1);
    if (!s)
        return -ENOMEM;
    size_t n = 0;
    while (n < len) {
        if (*ps->p == '\'')
            ps->p++;
        s[n++] = *ps->p++;
    }
    s[n] = '\0';
    ps->p++; /* the closing quote */
    *out = s;
    return 0;
}

static int parse_comparison(struct parser *ps)
{
    size_t n = peek_word(ps);
    if (n == 0)
        return fail(ps, -EINVAL, "a property name expected");
    int prop = -1;
    for (int i = 0; i < PROP_COUNT; i++) {
        if (strlen(prop_names[i]) == n && strncmp(ps->p, prop_names[i], n) == 0)
            prop = i;
    }
    if (prop < 0)
        return fail(ps, -ENOENT, "unknown property");
    ps->p += n;
    bool negate;
    if (take_keyword(ps, "eq"))
        negate = false;
    else if (take_keyword(ps, "ne"))
        negate = true;
    else
        return fail(ps, -EINVAL, "'eq' or 'ne' expected");
    int i = new_node(ps, NODE_CMP);
    if (i < 0)
        return i;
    struct node *nd = &ps->f->nodes[i];
    nd->prop = (enum prop)prop;
    nd->negate = negate;
    skip_space(ps);
    bool boolean = prop == PROP_SUBORDINATE_RESOURCES;
    if (*ps->p == '\'') {
        if (boolean)
            return fail(ps, -ENOENT, "SubordinateResources takes true or false");
        int rc = parse_string(ps, &nd->value);
        return rc < 0 ? rc : i;
    }
    if (!boolean)
        return fail(ps, is_alpha(*ps->p) ? -ENOENT : -EINVAL, "a quoted string expected");
    if (take_keyword(ps, "true"))
        nd->flag = true;
    else if (take_keyword(ps, "false"))
        nd->flag = false;
    else
        return fail(ps, -EINVAL, "true or false expected");
    if (nd->flag != negate)
        ps->f->subordinate = true;
    return i;
}

static int parse_or(struct parser *ps);

static int parse_unary(struct parser *ps)
{
    if (take_keyword(ps, "not")) {
        int i = new_node(ps, NODE_NOT);
        if (i < 0)
            return i;
        int child = parse_unary(ps);
        if (child < 0)
            return child;
        ps->f->nodes[i].left = child;
        return i;
    }
    skip_space(ps);
    if (*ps->p != '(')
        return parse_comparison(ps);
    if (++ps->depth > EVENT_FILTER_MAX_DEPTH)
        return fail(ps, -E2BIG, "nested too deep");
    ps->p++;
    int i = parse_or(ps);
    if (i < 0)
        return i;
    skip_space(ps);
    if (*ps->p != ')')
        return fail(ps, -EINVAL, "')' expected");
    ps->p++;
    ps->depth--;
    return i;
}

/* left (op right)*, for "and" (of unaries) and "or" (of and-expressions). */
static int parse_chain(struct parser *ps, const char *op, enum node_kind kind,
                       int (*operand)(struct parser *))
{
    int left = operand(ps);
    while (left >= 0 && take_keyword(ps, op)) {
        int i = new_node(ps, kind);
        if (i < 0)
            return i;
        int right = operand(ps);
        if (right < 0)
            return right;
        ps->f->nodes[i].left = left;
        ps->f->nodes[i].right = right;
        left = i;
    }
    return left;
}

static int parse_and(struct parser *ps)
{
    return parse_chain(ps, "and", NODE_AND, parse_unary);
}

static int parse_or(struct parser *ps)
{
    return parse_chain(ps, "or", NODE_OR, parse_and);
}

int event_filter_parse(const char *text, struct event_filter **out, char *err, size_t errsz)
{
    *out = NULL;
    struct parser ps = {.text = text, .p = text, .err = err, .errsz = errsz};
    if (strlen(text) > EVENT_FILTER_MAX_LEN)
        return fail(&ps, -E2BIG, "too long");
    ps.f = calloc(1, sizeof(*ps.f));
    if (!ps.f)
        return -ENOMEM;
    int root = parse_or(&ps);
    if (root >= 0) {
        skip_space(&ps);
        if (*ps.p != '\0')
            root = fail(&ps, -EINVAL, "unexpected text");
    }
    if (root < 0) {
        event_filter_free(ps.f);
        return root;
    }
    ps.f->root = root;
    *out = ps.f;
    return 0;
}

/* "Prefix.1.4.Key" against a filter value "Prefix.1.4.Key" or "Prefix.Key". */
static bool message_id_matches(const char *id, const char *want)
{
    if (strcmp(id, want) == 0)
        return true;
    const char *want_dot = strchr(want, '.');
    if (!want_dot || strchr(want_dot + 1, '.'))
        return false; /* versioned and not equal */
    const char *id_dot = strchr(id, '.'), *id_last = strrchr(id, '.');
    return id_dot && (size_t)(id_dot - id) == (size_t)(want_dot - want) &&
           strncmp(id, want, (size_t)(id_dot - id)) == 0 && strcmp(id_last, want_dot) == 0;
}

static bool origin_matches(const char *origin, const char *want, bool subordinate)
{
    size_t n = strlen(want);
    while (n > 1 && want[n - 1] == '/')
        n--;
    if (strncmp(origin, want, n) != 0)
        return false;
    return origin[n] == '\0' || (subordinate && origin[n] == '/');
}

static bool compare(const struct event_filter *f, const struct node *nd,
                    const struct event_facts *e)
{
    bool eq = true;
    size_t plen;
    switch (nd->prop) {
    case PROP_EVENT_FORMAT_TYPE:
        eq = strcmp(nd->value, "Event") == 0; /* every event vscd sends is an Event */
        break;
    case PROP_MESSAGE_ID:
        eq = message_id_matches(e->message_id, nd->value);
        break;
    case PROP_ORIGIN_RESOURCE:
        eq = origin_matches(e->origin, nd->value, f->subordinate);
        break;
    case PROP_REGISTRY_PREFIX:
        plen = strcspn(e->message_id, ".");
        eq = strlen(nd->value) == plen && strncmp(e->message_id, nd->value, plen) == 0;
        break;
    case PROP_RESOURCE_TYPE:
        eq = strcmp(e->resource_type, nd->value) == 0;
        break;
    case PROP_SUBORDINATE_RESOURCES:
        return true; /* a modifier of OriginResource, not a condition */
    case PROP_COUNT:
        break;
    }
    return eq != nd->negate;
}

static bool eval(const struct event_filter *f, int i, const struct event_facts *e)
{
    const struct node *nd = &f->nodes[i];
    switch (nd->kind) {
    case NODE_AND:
        return eval(f, nd->left, e) && eval(f, nd->right, e);
    case NODE_OR:
        return eval(f, nd->left, e) || eval(f, nd->right, e);
    case NODE_NOT:
        return !eval(f, nd->left, e);
    case NODE_CMP:
        break;
    }
    return compare(f, nd, e);
}

bool event_filter_match(const struct event_filter *f, const struct event_facts *facts)
{
    return !f || eval(f, f->root, facts);
}

void event_filter_free(struct event_filter *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->count; i++)
        free(f->nodes[i].value);
    free(f);
}
