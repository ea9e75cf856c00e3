/*
 * state_detect — console state detection: rules, their prefilter, the line cleaner and the
 * matcher. The contract is in state_detect.h; the built-in rules are in state_rules.c.
 */
#include "state_detect.h"

#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define LINE_CAP  (DETECT_LINE_MAX - 1)
#define SLOTS     (DETECT_CONTEXT_LINES + 1)
#define HIT_WORDS ((DETECT_RULES_TOTAL + 63) / 64)
#define ALT_MAX   4           /* top-level alternatives a rule's prefilter follows */
#define AC_OUT    0x80000000u /* in a transition: the target state ends a literal */
#define AC_NONE   UINT32_MAX
#define CSI_MAX   64 /* longer CSI sequences are abandoned */
#define NOT_DIRTY UINT16_MAX

_Static_assert(DETECT_LINE_MAX < NOT_DIRTY, "line columns fit in uint16_t");
_Static_assert(SLOTS < 256, "slot indices fit in uint8_t");

/* ---- states ---------------------------------------------------------------------------- */

static const char *const state_names[VM_STATE_COUNT] = {
    "Unknown", "Firmware", "Booting", "Running", "Panic", "Rebooting", "Off",
};

const char *vm_state_name(enum vm_state s)
{
    return (unsigned)s < VM_STATE_COUNT ? state_names[s] : "?";
}

int vm_state_parse(const char *name, enum vm_state *out)
{
    for (int s = VM_STATE_FIRMWARE; name && s < VM_STATE_COUNT; s++) {
        if (strcmp(name, state_names[s]) == 0) {
            *out = (enum vm_state)s;
            return 0;
        }
    }
    return -EINVAL;
}

/* ---- rules ----------------------------------------------------------------------------- */

struct rule_entry {
    struct detect_rule pub; /* id and pattern point into the table or to the copies below */
    regex_t re;
    char id[DETECT_ID_MAX + 1];
    char pattern[DETECT_PATTERN_MAX + 1];
};

struct ac_owner {
    uint32_t rule;
    int32_t next;
};

/* The Aho-Corasick automaton over every rule's literals, as a full DFA over byte classes. */
struct ac {
    uint16_t cls[256]; /* byte -> class; 0: in no literal */
    uint32_t nclass, nstates;
    uint32_t *delta; /* [row + class]: the next state's row (state * nclass) | AC_OUT */
    uint32_t *dict;  /* per state: the longest proper suffix state ending a literal, or 0 */
    int32_t *first;  /* per state: the first owner of the literals ending there, or -1 */
    struct ac_owner *owners;
    uint64_t nolit[HIT_WORDS]; /* rules without a literal: always regexec'd */
};

struct detect_rules {
    struct rule_entry *order[DETECT_RULES_TOTAL]; /* administrator rules first */
    size_t n, nadmin;
    struct ac ac;
    uint64_t gen; /* changes with every rebuild; detectors compare it */
    struct rule_entry builtin[DETECT_BUILTIN_MAX];
};

struct literal {
    uint32_t rule;
    uint8_t len;
    char s[DETECT_LITERAL_MAX];
};

static int set_err(char *err, size_t errsz, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int set_err(char *err, size_t errsz, int rc, const char *fmt, ...)
{
    if (err && errsz) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errsz, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* Index just past the bracket expression opening at pat[i], or 0 if it does not close. */
static size_t skip_bracket(const char *pat, size_t n, size_t i)
{
    size_t k = i + 1;
    if (k < n && pat[k] == '^')
        k++;
    if (k < n && pat[k] == ']')
        k++;
    while (k < n) {
        if (pat[k] == '[' && k + 1 < n && strchr(":.=", pat[k + 1])) {
            char kind = pat[k + 1];
            k += 2;
            while (k + 1 < n && !(pat[k] == kind && pat[k + 1] == ']'))
                k++;
            if (k + 1 >= n)
                return 0;
            k += 2;
        } else if (pat[k] == ']') {
            return k + 1;
        } else {
            k++;
        }
    }
    return 0;
}

/* Index just past the group opening at pat[i], or 0 if it does not close. */
static size_t skip_group(const char *pat, size_t n, size_t i)
{
    int depth = 0;
    for (size_t k = i; k < n;) {
        if (pat[k] == '\\') {
            k += 2;
        } else if (pat[k] == '[') {
            k = skip_bracket(pat, n, k);
            if (!k)
                return 0;
        } else {
            if (pat[k] == '(')
                depth++;
            else if (pat[k] == ')' && --depth == 0)
                return k + 1;
            k++;
        }
    }
    return 0;
}

/*
 * The literals a POSIX ERE requires: one per top-level alternative (the longest run of
 * ordinary characters every match of that alternative contains, cut to DETECT_LITERAL_MAX).
 * Returns how many, or 0 when some alternative has none or the pattern is beyond this
 * simple reading (groups, brackets, dots, anchors, glibc's \w \< ... and non-ASCII bytes
 * only end runs; anything unusual gives 0, which means "always regexec": safe).
 */
static int extract_literals(const char *pat, uint32_t rule, struct literal *lits)
{
    size_t n = strlen(pat), i = 0;
    char run[DETECT_PATTERN_MAX + 1], best[DETECT_PATTERN_MAX + 1];
    size_t rl = 0, bl = 0;
    int nl = 0;
    for (;;) {
        if (i == n || pat[i] == '|') {
            if (rl > bl) {
                memcpy(best, run, rl);
                bl = rl;
            }
            if (bl == 0 || nl == ALT_MAX)
                return 0;
            lits[nl].rule = rule;
            lits[nl].len = (uint8_t)(bl < DETECT_LITERAL_MAX ? bl : DETECT_LITERAL_MAX);
            memcpy(lits[nl].s, best, lits[nl].len);
            nl++;
            rl = bl = 0;
            if (i == n)
                return nl;
            i++;
            continue;
        }
        unsigned char c = (unsigned char)pat[i];
        bool literal = false;
        char lit = 0;
        size_t j = i + 1;
        switch (c) {
        case '\\':
            if (i + 1 >= n)
                return 0;
            c = (unsigned char)pat[i + 1];
            j = i + 2;
            if (c < 0x80 && !strchr("abcdefghijklmnopqrstuvwxyz"
                                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<>`'",
                                    c)) {
                literal = true;
                lit = (char)c;
            }
            break;
        case '[':
            j = skip_bracket(pat, n, i);
            if (!j)
                return 0;
            break;
        case '(':
            j = skip_group(pat, n, i);
            if (!j)
                return 0;
            break;
        case '.':
            break;
        case '^':
        case '$':
            if (j < n && strchr("*+?{", pat[j]))
                return 0;
            break;
        case ')':
        case '*':
        case '+':
        case '?':
        case '{':
            return 0;
        default:
            if (c < 0x80) {
                literal = true;
                lit = (char)c;
            }
        }
        bool optional = false, repeated = false;
        while (j < n && strchr("*+?{", pat[j])) {
            if (pat[j] == '{') {
                if (j + 1 >= n || pat[j + 1] < '0' || pat[j + 1] > '9')
                    return 0;
                optional |=
                    pat[j + 1] == '0' && (j + 2 >= n || pat[j + 2] < '0' || pat[j + 2] > '9');
                const char *close = memchr(pat + j, '}', n - j);
                if (!close)
                    return 0;
                j = (size_t)(close - pat) + 1;
            } else {
                optional |= pat[j] != '+';
                j++;
            }
            repeated = true;
        }
        if (literal && !optional)
            run[rl++] = lit;
        if (!literal || optional || repeated) {
            if (rl > bl) {
                memcpy(best, run, rl);
                bl = rl;
            }
            rl = 0;
        }
        i = j;
    }
}

static void ac_free(struct ac *a)
{
    free(a->delta);
    free(a->dict);
    free(a->first);
    free(a->owners);
    memset(a, 0, sizeof(*a));
}

/* Builds the automaton for rs->order into *a. 0 or -ENOMEM (a untouched but zeroed). */
static int ac_build(const struct detect_rules *rs, struct ac *a)
{
    memset(a, 0, sizeof(*a));
    struct literal *lits = malloc(sizeof(*lits) * (rs->n ? rs->n : 1) * ALT_MAX);
    if (!lits)
        return -ENOMEM;
    size_t nlits = 0, bytes = 0;
    for (size_t i = 0; i < rs->n; i++) {
        int k = extract_literals(rs->order[i]->pub.pattern, (uint32_t)i, lits + nlits);
        if (k == 0)
            a->nolit[i / 64] |= 1ull << (i % 64);
        for (int m = 0; m < k; m++)
            bytes += lits[nlits + (size_t)m].len;
        nlits += (size_t)k;
    }
    uint32_t nclass = 1;
    for (size_t k = 0; k < nlits; k++) {
        for (size_t m = 0; m < lits[k].len; m++) {
            unsigned char c = (unsigned char)lits[k].s[m];
            if (!a->cls[c])
                a->cls[c] = (uint16_t)nclass++;
        }
    }
    size_t maxstates = bytes + 1;
    uint32_t *g = malloc(maxstates * nclass * sizeof(*g));
    uint32_t *fail = malloc(maxstates * sizeof(*fail));
    uint32_t *queue = malloc(maxstates * sizeof(*queue));
    a->dict = calloc(maxstates, sizeof(*a->dict));
    a->first = malloc(maxstates * sizeof(*a->first));
    a->owners = malloc((nlits ? nlits : 1) * sizeof(*a->owners));
    if (!g || !fail || !queue || !a->dict || !a->first || !a->owners) {
        free(g);
        free(fail);
        free(queue);
        free(lits);
        ac_free(a);
        return -ENOMEM;
    }
    memset(g, 0xff, maxstates * nclass * sizeof(*g));
    for (size_t s = 0; s < maxstates; s++)
        a->first[s] = -1;

    /* The trie. */
    uint32_t nstates = 1;
    for (size_t k = 0; k < nlits; k++) {
        uint32_t s = 0;
        for (size_t m = 0; m < lits[k].len; m++) {
            uint32_t *t = &g[s * nclass + a->cls[(unsigned char)lits[k].s[m]]];
            if (*t == AC_NONE)
                *t = nstates++;
            s = *t;
        }
        a->owners[k].rule = lits[k].rule;
        a->owners[k].next = a->first[s];
        a->first[s] = (int32_t)k;
    }

    /* Failure links breadth first, completing the DFA as we go. */
    size_t qh = 0, qt = 0;
    fail[0] = 0;
    for (uint32_t c = 0; c < nclass; c++) {
        uint32_t t = g[c];
        if (t == AC_NONE) {
            g[c] = 0;
        } else {
            fail[t] = 0;
            queue[qt++] = t;
        }
    }
    while (qh < qt) {
        uint32_t r = queue[qh++];
        for (uint32_t c = 0; c < nclass; c++) {
            uint32_t t = g[r * nclass + c];
            if (t == AC_NONE) {
                g[r * nclass + c] = g[fail[r] * nclass + c];
                continue;
            }
            uint32_t f = g[fail[r] * nclass + c];
            fail[t] = f;
            a->dict[t] = a->first[f] >= 0 ? f : a->dict[f];
            queue[qt++] = t;
        }
    }
    for (size_t x = 0; x < (size_t)nstates * nclass; x++) {
        uint32_t t = g[x];
        g[x] = t * nclass | (a->first[t] >= 0 || a->dict[t] ? AC_OUT : 0);
    }
    uint32_t *shrunk = realloc(g, (size_t)nstates * nclass * sizeof(*g));
    a->delta = shrunk ? shrunk : g;
    a->nclass = nclass;
    a->nstates = nstates;
    free(fail);
    free(queue);
    free(lits);
    return 0;
}

static int rules_rebuild(struct detect_rules *rs)
{
    struct ac a;
    if (ac_build(rs, &a) < 0)
        return -ENOMEM;
    ac_free(&rs->ac);
    rs->ac = a;
    rs->gen++;
    return 0;
}

struct detect_rules *detect_rules_new(void)
{
    struct detect_rules *rs = calloc(1, sizeof(*rs));
    if (!rs)
        return NULL;
    for (size_t i = 0; i < detect_builtin_count; i++) {
        struct rule_entry *e = &rs->builtin[i];
        e->pub = detect_builtin_rules[i];
        if (regcomp(&e->re, e->pub.pattern, REG_EXTENDED | REG_NOSUB) != 0) {
            detect_rules_free(rs); /* out of memory (a unit test compiles every built-in) */
            return NULL;
        }
        rs->order[rs->n++] = e;
    }
    if (rules_rebuild(rs) < 0) {
        detect_rules_free(rs);
        return NULL;
    }
    return rs;
}

static void entry_free(struct rule_entry *e)
{
    regfree(&e->re);
    free(e);
}

void detect_rules_free(struct detect_rules *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n; i++) {
        if (i < rs->nadmin)
            entry_free(rs->order[i]);
        else
            regfree(&rs->order[i]->re);
    }
    ac_free(&rs->ac);
    free(rs);
}

bool detect_rule_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > DETECT_ID_MAX)
        return false;
    return strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static ssize_t rules_index(const struct detect_rules *rs, const char *id)
{
    for (size_t i = 0; id && i < rs->n; i++) {
        if (strcmp(rs->order[i]->pub.id, id) == 0)
            return (ssize_t)i;
    }
    return -1;
}

int detect_rules_add(struct detect_rules *rs, const char *id, const char *pattern,
                     enum vm_state state, char *err, size_t errsz)
{
    if (!detect_rule_id_valid(id))
        return set_err(err, errsz, -EINVAL,
                       "A rule id is 1 to %d characters from A-Z, a-z, 0-9, '_', '.' and '-'.",
                       DETECT_ID_MAX);
    ssize_t at = rules_index(rs, id);
    if (at >= 0 && rs->order[at]->pub.builtin)
        return set_err(err, errsz, -EEXIST,
                       "'%s' is the id of a built-in rule; choose another id (an administrator "
                       "rule is tried before every built-in rule, so it can override one).",
                       id);
    if (state <= VM_STATE_UNKNOWN || state >= VM_STATE_COUNT)
        return set_err(err, errsz, -EINVAL,
                       "The state must be one of Firmware, Booting, Running, Panic, Rebooting, "
                       "Off.");
    size_t plen = pattern ? strlen(pattern) : 0;
    if (plen == 0 || plen > DETECT_PATTERN_MAX)
        return set_err(err, errsz, -EINVAL, "A pattern is 1 to %d bytes long.", DETECT_PATTERN_MAX);
    if (at < 0 && rs->nadmin == DETECT_RULES_MAX)
        return set_err(err, errsz, -ENOSPC,
                       "There are already %d administrator rules; remove one first.",
                       DETECT_RULES_MAX);

    struct rule_entry *e = calloc(1, sizeof(*e));
    if (!e)
        return set_err(err, errsz, -ENOMEM, "Out of memory.");
    memcpy(e->id, id, strlen(id) + 1);
    memcpy(e->pattern, pattern, plen + 1);
    e->pub = (struct detect_rule){e->id, e->pattern, state, false, 0};
    int rc = regcomp(&e->re, e->pattern, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char why[128];
        regerror(rc, &e->re, why, sizeof(why));
        free(e);
        return set_err(err, errsz, -EINVAL,
                       "The pattern is not a valid POSIX extended regular expression: %s.", why);
    }
    if (regexec(&e->re, "", 0, NULL, 0) == 0) {
        entry_free(e);
        return set_err(err, errsz, -EINVAL,
                       "The pattern matches an empty line, so it would match every line; make it "
                       "require some text.");
    }

    struct rule_entry *old = NULL;
    if (at >= 0) {
        old = rs->order[at];
        rs->order[at] = e;
    } else {
        memmove(&rs->order[rs->nadmin + 1], &rs->order[rs->nadmin],
                (rs->n - rs->nadmin) * sizeof(rs->order[0]));
        rs->order[rs->nadmin] = e;
        rs->nadmin++;
        rs->n++;
    }
    if (rules_rebuild(rs) < 0) {
        if (old) {
            rs->order[at] = old;
        } else {
            rs->nadmin--;
            rs->n--;
            memmove(&rs->order[rs->nadmin], &rs->order[rs->nadmin + 1],
                    (rs->n - rs->nadmin) * sizeof(rs->order[0]));
        }
        entry_free(e);
        return set_err(err, errsz, -ENOMEM, "Out of memory.");
    }
    if (old)
        entry_free(old);
    return 0;
}

int detect_rules_remove(struct detect_rules *rs, const char *id)
{
    ssize_t at = rules_index(rs, id);
    if (at < 0)
        return -ENOENT;
    struct rule_entry *e = rs->order[at];
    if (e->pub.builtin)
        return -EPERM;
    memmove(&rs->order[at], &rs->order[at + 1], (rs->n - (size_t)at - 1) * sizeof(rs->order[0]));
    rs->n--;
    rs->nadmin--;
    if (rules_rebuild(rs) < 0) {
        memmove(&rs->order[at + 1], &rs->order[at], (rs->n - (size_t)at) * sizeof(rs->order[0]));
        rs->order[at] = e;
        rs->n++;
        rs->nadmin++;
        return -ENOMEM;
    }
    entry_free(e);
    return 0;
}

size_t detect_rules_count(const struct detect_rules *rs)
{
    return rs->n;
}

const struct detect_rule *detect_rules_at(const struct detect_rules *rs, size_t i)
{
    return i < rs->n ? &rs->order[i]->pub : NULL;
}

const struct detect_rule *detect_rules_find(const struct detect_rules *rs, const char *id)
{
    ssize_t at = rules_index(rs, id);
    return at < 0 ? NULL : &rs->order[at]->pub;
}

/* ---- the detector ---------------------------------------------------------------------- */

enum { ESC_NONE, ESC_ESC, ESC_INTER, ESC_CSI, ESC_STR, ESC_STR_ESC };

#define P(d) (&(d)->p)

static char *cur_line(struct detector *d)
{
    return P(d)->slot[P(d)->cur];
}

static void scan_reset(struct detector *d)
{
    P(d)->ac = 0;
    P(d)->scan = 0;
    memset(P(d)->hits, 0, sizeof(P(d)->hits));
}

void detector_init(struct detector *d, const struct detect_rules *rules)
{
    memset(d, 0, sizeof(*d));
    P(d)->rules = rules;
    P(d)->gen = rules ? rules->gen : 0;
    P(d)->dirty = NOT_DIRTY;
    d->state = VM_STATE_UNKNOWN;
}

void detector_fini(struct detector *d)
{
    P(d)->rules = NULL;
    P(d)->collecting = false;
}

/* The k-th of the last n completed lines (oldest first). */
static const char *hist_line(struct detector *d, size_t n, size_t k)
{
    return P(d)->slot[(P(d)->cur + SLOTS - n + k) % SLOTS];
}

static void deliver_after(struct detector *d, bool with_partial)
{
    size_t n = 0;
    for (; n < P(d)->after_n; n++)
        P(d)->ptrs[n] = hist_line(d, P(d)->after_n, n);
    if (with_partial && P(d)->len && P(d)->line_seq != P(d)->panic_seq) {
        cur_line(d)[P(d)->len] = '\0';
        P(d)->ptrs[n++] = cur_line(d);
    }
    P(d)->collecting = false;
    P(d)->after_n = 0;
    if (n && d->after)
        d->after(d, P(d)->ptrs, n);
}

static void fire(struct detector *d, const struct rule_entry *e, const char *line)
{
    if (P(d)->collecting)
        deliver_after(d, false);
    struct detect_change ch = {
        .state = e->pub.state,
        .previous = d->state,
        .rule_id = e->pub.id,
        .line = line,
        .before = P(d)->ptrs,
        .nbefore = P(d)->hist,
    };
    d->state = e->pub.state;
    if (d->state == VM_STATE_PANIC) {
        P(d)->collecting = true;
        P(d)->after_n = 0;
        P(d)->panic_seq = P(d)->line_seq;
    }
    for (size_t k = 0; k < P(d)->hist; k++)
        P(d)->ptrs[k] = hist_line(d, P(d)->hist, k);
    if (d->changed)
        d->changed(d, &ch);
}

/* Replaces every byte of an invalid UTF-8 sequence in the current line by '?'. */
static void sanitize(struct detector *d)
{
    unsigned char *s = (unsigned char *)cur_line(d);
    size_t n = P(d)->len;
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t need = 0;
        unsigned char lo = 0x80, hi = 0xbf;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            lo = c == 0xe0 ? 0xa0 : 0x80;
            hi = c == 0xed ? 0x9f : 0xbf;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            lo = c == 0xf0 ? 0x90 : 0x80;
            hi = c == 0xf4 ? 0x8f : 0xbf;
        }
        size_t k = 1;
        while (need && k <= need && i + k < n && s[i + k] >= lo && s[i + k] <= hi) {
            lo = 0x80;
            hi = 0xbf;
            k++;
        }
        if (need && k == need + 1) {
            i += k;
            continue;
        }
        if (i < P(d)->dirty)
            P(d)->dirty = (uint16_t)i;
        for (size_t m = 0; m < k; m++)
            s[i + m] = '?';
        i += k;
    }
}

static void ac_record(const struct ac *a, uint32_t state, uint64_t *hits)
{
    for (uint32_t t = state; t; t = a->dict[t]) {
        for (int32_t k = a->first[t]; k >= 0; k = a->owners[k].next) {
            uint32_t r = a->owners[k].rule;
            hits[r / 64] |= 1ull << (r % 64);
        }
    }
}

/* The first rule the current line (NUL-terminated here) matches that applies in the current
 * state, or NULL. */
static const struct rule_entry *match_line(struct detector *d)
{
    const struct detect_rules *rs = P(d)->rules;
    char *line = cur_line(d);
    P(d)->unmatched = false;
    if (P(d)->maybe_bad) {
        sanitize(d);
        P(d)->maybe_bad = false;
    }
    line[P(d)->len] = '\0';
    if (!rs)
        return NULL;
    if (P(d)->gen != rs->gen || P(d)->dirty < P(d)->scan) {
        P(d)->gen = rs->gen;
        scan_reset(d);
    }
    P(d)->dirty = NOT_DIRTY;

    const struct ac *a = &rs->ac;
    const uint32_t *delta = a->delta;
    const uint16_t *cls = a->cls;
    uint32_t s = P(d)->ac;
    for (size_t i = P(d)->scan; i < P(d)->len; i++) {
        uint32_t t = delta[s + cls[(unsigned char)line[i]]];
        s = t & ~AC_OUT;
        if (t & AC_OUT)
            ac_record(a, s / a->nclass, P(d)->hits);
    }
    P(d)->ac = s;
    P(d)->scan = P(d)->len;

    unsigned skip = DETECT_IN(d->state);
    for (size_t w = 0; w < HIT_WORDS; w++) {
        uint64_t bits = P(d)->hits[w] | a->nolit[w];
        while (bits) {
            size_t i = w * 64 + (size_t)__builtin_ctzll(bits);
            bits &= bits - 1;
            if (i >= rs->n)
                return NULL;
            const struct rule_entry *e = rs->order[i];
            if (e->pub.skip_in & skip)
                continue;
            if (regexec(&e->re, line, 0, NULL, 0) == 0)
                return e;
        }
    }
    return NULL;
}

static const struct rule_entry *pending_rule(const struct detector *d)
{
    const struct detect_rules *rs = P(d)->rules;
    if (!P(d)->pending || !rs || rs->gen != P(d)->pending_gen)
        return NULL; /* none, or the rules changed since: dropped */
    return P(d)->pending;
}

static void fire_pending(struct detector *d)
{
    const struct rule_entry *e = pending_rule(d);
    P(d)->pending = NULL;
    if (e && e->pub.state != d->state)
        fire(d, e, P(d)->pending_line);
}

/* The partial line at the end of a feed: a match waits (state_detect.h). */
static void evaluate_partial(struct detector *d)
{
    const struct rule_entry *e = match_line(d);
    if (e && e->pub.state != d->state) {
        P(d)->pending = e;
        P(d)->pending_gen = P(d)->rules->gen;
        memcpy(P(d)->pending_line, cur_line(d), P(d)->len + 1u);
    }
}

/* A completed line: its own match wins over its partial one when both give the same state;
 * a partial match the whole line no longer supports still happened, so it fires first. */
static void evaluate_completed(struct detector *d)
{
    const struct rule_entry *e = P(d)->unmatched ? match_line(d) : NULL;
    const struct rule_entry *partial = pending_rule(d);
    if (partial && !(e && e->pub.state == partial->pub.state))
        fire_pending(d);
    P(d)->pending = NULL;
    if (e && e->pub.state != d->state)
        fire(d, e, cur_line(d));
}

static void line_reset(struct detector *d)
{
    P(d)->len = 0;
    P(d)->dirty = NOT_DIRTY;
    P(d)->unmatched = P(d)->nonascii = P(d)->maybe_bad = false;
    scan_reset(d);
}

/* Ends the current line (a newline or a move to another row); the column is the caller's. */
static void complete_line(struct detector *d)
{
    if (P(d)->len == 0) {
        line_reset(d); /* an erased line may have left scan state behind */
        return;
    }
    evaluate_completed(d);
    cur_line(d)[P(d)->len] = '\0';
    bool after = P(d)->collecting && P(d)->line_seq != P(d)->panic_seq;
    P(d)->cur = (uint8_t)((P(d)->cur + 1) % SLOTS);
    if (P(d)->hist < DETECT_CONTEXT_LINES)
        P(d)->hist++;
    P(d)->line_seq++;
    line_reset(d);
    if (after && ++P(d)->after_n == DETECT_CONTEXT_LINES)
        deliver_after(d, false);
}

void detector_forget_lines(struct detector *d)
{
    P(d)->hist = 0;
    P(d)->after_n = 0;
    P(d)->col = 0;
    line_reset(d);
    P(d)->pending = NULL;
}

static void mark_changed(struct detector *d, size_t at)
{
    if (at < P(d)->len) {
        if (at < P(d)->dirty)
            P(d)->dirty = (uint16_t)at;
        if (P(d)->nonascii)
            P(d)->maybe_bad = true;
    }
    P(d)->unmatched = true;
}

static void put(struct detector *d, const uint8_t *b, size_t n)
{
    char *line = cur_line(d);
    if (P(d)->col + n > LINE_CAP)
        return;
    if (P(d)->col > P(d)->len) {
        memset(line + P(d)->len, ' ', P(d)->col - P(d)->len);
        P(d)->len = P(d)->col;
    }
    if (P(d)->col + n <= P(d)->len && memcmp(line + P(d)->col, b, n) == 0) {
        P(d)->col = (uint16_t)(P(d)->col + n); /* the same text drawn again */
        return;
    }
    mark_changed(d, P(d)->col);
    memcpy(line + P(d)->col, b, n);
    P(d)->col = (uint16_t)(P(d)->col + n);
    if (P(d)->col > P(d)->len)
        P(d)->len = P(d)->col;
    if (b[0] >= 0x80)
        P(d)->nonascii = true;
}

static void put_invalid(struct detector *d, size_t n)
{
    static const uint8_t q[4] = {'?', '?', '?', '?'};
    put(d, q, n);
}

static void set_col(struct detector *d, size_t col)
{
    P(d)->col = (uint16_t)(col < LINE_CAP ? col : LINE_CAP);
}

/* A move to another row: the line ends, the cursor keeps its column. */
static void break_line(struct detector *d)
{
    uint16_t col = P(d)->col;
    complete_line(d);
    P(d)->col = col;
}

/* CSI K: 0 from the cursor to the end, 1 from the start to the cursor, 2 all. */
static void erase_in_line(struct detector *d, unsigned how)
{
    size_t col = P(d)->col, len = P(d)->len;
    if (how == 0 && col < len) {
        mark_changed(d, col);
        P(d)->len = (uint16_t)col;
    } else if (how == 1 && len) {
        size_t end = col + 1 < len ? col + 1 : len;
        mark_changed(d, 0);
        memset(cur_line(d), ' ', end);
    } else if (how == 2 && len) {
        mark_changed(d, 0);
        P(d)->len = 0;
    }
}

static void csi_final(struct detector *d, uint8_t c)
{
    unsigned a = P(d)->csi_p[0], b = P(d)->csi_p[1], n = a ? a : 1;
    if (P(d)->csi_private)
        return;
    switch (c) {
    case 'K':
        erase_in_line(d, a);
        break;
    case 'J':
        if (a >= 2)
            break_line(d);
        else
            erase_in_line(d, a);
        break;
    case 'G':
    case '`':
        set_col(d, n - 1);
        break;
    case 'C':
    case 'a':
        set_col(d, (size_t)P(d)->col + n);
        break;
    case 'D':
        set_col(d, P(d)->col > n ? P(d)->col - n : 0);
        break;
    case 'H':
    case 'f':
        break_line(d);
        set_col(d, b ? b - 1 : 0);
        break;
    case 'A':
    case 'B':
    case 'd':
    case 'e':
        break_line(d);
        break;
    case 'E':
    case 'F':
        break_line(d);
        P(d)->col = 0;
        break;
    default:
        break; /* SGR and the rest change nothing on the line */
    }
}

static void control(struct detector *d, uint8_t c)
{
    switch (c) {
    case '\n':
    case '\v':
    case '\f':
        complete_line(d);
        P(d)->col = 0;
        break;
    case '\r':
        P(d)->col = 0;
        break;
    case '\b':
        if (P(d)->col)
            P(d)->col--;
        break;
    case '\t':
        set_col(d, ((size_t)P(d)->col / 8 + 1) * 8);
        break;
    case 0x1b:
        P(d)->esc = ESC_ESC;
        break;
    default:
        break; /* NUL, BEL and the other C0 controls */
    }
}

/* A C0 control inside an escape sequence: executed, except ESC (restarts) and CAN/SUB
 * (abort), as a VT does. */
static void control_in_escape(struct detector *d, uint8_t c)
{
    if (c == 0x18 || c == 0x1a)
        P(d)->esc = ESC_NONE;
    else
        control(d, c);
}

static void ground(struct detector *d, uint8_t c)
{
    if (P(d)->u8_need) {
        if (c >= P(d)->u8_lo && c <= P(d)->u8_hi) {
            P(d)->u8_buf[P(d)->u8_len++] = c;
            P(d)->u8_lo = 0x80;
            P(d)->u8_hi = 0xbf;
            if (--P(d)->u8_need == 0)
                put(d, P(d)->u8_buf, P(d)->u8_len);
            return;
        }
        put_invalid(d, P(d)->u8_len);
        P(d)->u8_need = 0;
    }
    if (c < 0x20) {
        control(d, c);
    } else if (c < 0x7f) {
        put(d, &c, 1);
    } else if (c >= 0xc2 && c <= 0xf4) {
        P(d)->u8_buf[0] = c;
        P(d)->u8_len = 1;
        P(d)->u8_need = c <= 0xdf ? 1 : c <= 0xef ? 2 : 3;
        P(d)->u8_lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
        P(d)->u8_hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
    } else if (c != 0x7f) {
        put_invalid(d, 1);
    }
}

static void step(struct detector *d, uint8_t c)
{
    switch (P(d)->esc) {
    case ESC_NONE:
        ground(d, c);
        return;
    case ESC_ESC:
        if (c < 0x20) {
            control_in_escape(d, c);
            return;
        }
        P(d)->esc = ESC_NONE;
        if (c >= 0x80) {
            ground(d, c);
        } else if (c == '[') {
            P(d)->esc = ESC_CSI;
            P(d)->csi_n = P(d)->csi_np = 0;
            P(d)->csi_p[0] = P(d)->csi_p[1] = 0;
            P(d)->csi_private = false;
        } else if (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_') {
            P(d)->esc = ESC_STR;
        } else if (c >= 0x20 && c <= 0x2f) {
            P(d)->esc = ESC_INTER;
        } else if (c == 'D' || c == 'M' || c == 'c') {
            break_line(d);
        } else if (c == 'E') {
            complete_line(d);
            P(d)->col = 0;
        }
        return; /* any other ESC x (ESC 7, ESC =, ...) changes nothing here */
    case ESC_INTER:
        if (c < 0x20) {
            control_in_escape(d, c);
        } else if (c >= 0x80) {
            P(d)->esc = ESC_NONE;
            ground(d, c);
        } else if (c > 0x2f) {
            P(d)->esc = ESC_NONE;
        }
        return;
    case ESC_CSI:
        if (c < 0x20) {
            control_in_escape(d, c);
        } else if (c >= 0x80 || ++P(d)->csi_n > CSI_MAX) {
            P(d)->esc = ESC_NONE;
            if (c >= 0x80)
                ground(d, c);
        } else if (c >= '0' && c <= '9') {
            if (P(d)->csi_np < 2 && P(d)->csi_p[P(d)->csi_np] < 10000)
                P(d)->csi_p[P(d)->csi_np] = P(d)->csi_p[P(d)->csi_np] * 10 + (c - '0');
        } else if (c == ';' || c == ':') {
            if (P(d)->csi_np < 2)
                P(d)->csi_np++;
        } else if (c <= 0x3f) {
            P(d)->csi_private = true; /* < = > ? and intermediates: not one we act on */
        } else if (c >= 0x40 && c <= 0x7e) {
            P(d)->esc = ESC_NONE;
            csi_final(d, c);
        }
        return;
    case ESC_STR:
        if (c == 0x07 || c == 0x18 || c == 0x1a) {
            P(d)->esc = ESC_NONE;
        } else if (c == 0x1b) {
            P(d)->esc = ESC_STR_ESC;
        } else if (c == '\n') {
            P(d)->esc = ESC_NONE;
            control(d, c);
        }
        return;
    case ESC_STR_ESC:
        P(d)->esc = ESC_NONE;
        if (c != '\\') {
            P(d)->esc = ESC_ESC;
            step(d, c);
        }
        return;
    default:
        P(d)->esc = ESC_NONE;
    }
}

void detector_feed(struct detector *d, const void *data, size_t len)
{
    const uint8_t *s = data, *end = s + len;
    while (s < end) {
        /* Fast path: printable ASCII appended at the end of the line. */
        if (P(d)->esc == ESC_NONE && !P(d)->u8_need && P(d)->col == P(d)->len) {
            char *line = cur_line(d);
            size_t at = P(d)->len, room = LINE_CAP - at;
            const uint8_t *q = s, *stop = (size_t)(end - s) < room ? end : s + room;
            while (q < stop && *q >= 0x20 && *q < 0x7f)
                line[at++] = (char)*q++;
            if (q != s) {
                P(d)->len = P(d)->col = (uint16_t)at;
                P(d)->unmatched = true;
                s = q;
                continue;
            }
        }
        step(d, *s++);
    }
    if (P(d)->len && P(d)->unmatched)
        evaluate_partial(d);
}

bool detector_pending(const struct detector *d)
{
    return pending_rule(d) != NULL;
}

void detector_idle(struct detector *d)
{
    if (P(d)->len && P(d)->unmatched)
        evaluate_partial(d);
    fire_pending(d);
}

void detector_flush(struct detector *d)
{
    if (P(d)->collecting && (P(d)->after_n || (P(d)->len && P(d)->line_seq != P(d)->panic_seq)))
        deliver_after(d, true);
}
