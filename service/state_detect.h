/*
 * state_detect — tells a VM's state from its serial console output (docs/console-states.md).
 *
 * A pure module: no I/O, no loop, no database, no allocation per byte or per line. The
 * owner feeds every byte the console prints to a `struct detector`; the detector cuts the
 * bytes into cleaned lines, matches each line against an ordered rule list and calls
 * `changed` when the state differs from the current one.
 *
 * Rules (`struct detect_rules`): the built-in rules (service/state_rules.c, a const table)
 * plus up to DETECT_RULES_MAX administrator rules. Matching order: administrator rules in
 * the order they were added (a replaced rule keeps its place), then the built-ins in table
 * order; the first rule that matches a line wins. A pattern is a POSIX extended regular
 * expression (glibc regcomp, REG_EXTENDED | REG_NOSUB), case-sensitive, matched against one
 * cleaned line without its end-of-line (`^` and `$` are the line's start and end).
 *
 * Speed: no rule is regexec'd on a line that cannot match it. From each pattern the literal
 * strings that every match must contain are extracted (one per top-level alternative,
 * at most DETECT_LITERAL_MAX bytes each) and all of them are found in one pass over the line
 * by an Aho-Corasick automaton; only rules whose literal occurs (and the rare rules without
 * any literal, e.g. "^[0-9]+$") are regexec'd, in order. A partial line is scanned
 * incrementally as it grows.
 *
 * Line cleaning (what a terminal would show on that line):
 * - LF, VT, FF end a line; the next line starts at column 0. A bare CR moves to column 0:
 *   what follows overwrites the line from there (so "\r\x1b[K[  OK  ] Started x." gives
 *   "[  OK  ] Started x."). CRLF and LFCR end a line once.
 * - BS moves one column left; HT moves to the next multiple of 8 (gaps become spaces).
 * - ANSI/ECMA-48 escapes are parsed across feed boundaries and removed: CSI (ESC [ ...),
 *   OSC/DCS/SOS/PM/APC strings (ended by BEL or ESC \; CAN, SUB and LF abort them so a stray
 *   OSC cannot swallow the console), ESC with intermediates (charset selects ESC ( B,
 *   ESC # 8, ESC % G), lone ESC x. Their effects on the line: CSI K (erase in line 0/1/2),
 *   CSI G/` (column), CSI C/a and D (forward/back), CSI J (0/1 as K; 2/3 end the line).
 *   Cursor moves to another row (CSI H f A B E F d, ESC D E M c) end the current line
 *   (firmware menus such as GRUB's draw rows with cursor positioning, not newlines); CUP's
 *   column is kept.
 * - Other C0 controls and DEL are dropped. Valid UTF-8 is kept byte for byte (one byte = one
 *   column); every byte of an invalid or truncated sequence (8-bit C1 bytes included) becomes
 *   '?', also where a CR overwrite or an erase cut a character: a cleaned line is always
 *   valid UTF-8 without control characters.
 * - A line is at most DETECT_LINE_MAX-1 bytes: later columns are dropped.
 * - Empty lines are neither matched nor kept as context.
 *
 * When lines are matched: a completed line, and the partial line at the end of every feed
 * (login prompts end without a newline). A partial line's match does not fire at once: a
 * read often ends mid-line, and "Kernel panic - not syncing" without its ": reason" would
 * be reported. It waits (detector_pending) until
 *  - its line ends: the completed line's own match fires instead when it gives the same
 *    state (the whole panic line); otherwise the partial match fires as it stood, then the
 *    completed line's (a prompt that other output followed on the same line was real);
 *  - or the console pauses: detector_idle(), called by the owner after a short quiet.
 * A line is matched again only if it changed; a change fires only when the state differs,
 * so a partial line that fired does not fire again when it completes. Results do not depend
 * on how the bytes were chunked; only on where the console paused.
 *
 * Context: `before` holds up to DETECT_CONTEXT_LINES completed non-empty lines before the
 * changing line. After a change to Panic, the lines that follow are collected and given to
 * `after` once DETECT_CONTEXT_LINES came, before the `changed` call of the next change, or at
 * detector_flush() (which also includes the partial line; with nothing collected yet flush
 * does nothing and collection goes on).
 *
 * Threads and lifetime: one thread. A detector points to its rules; rules may be added and
 * removed while detectors point to them (a detector notices at its next line and rescans
 * it), but must outlive them. Pointers given to callbacks (rule_id, line, before, lines) are
 * valid during the call only. Callbacks must not feed, flush or fini their own detector.
 */
#ifndef VSC_STATE_DETECT_H
#define VSC_STATE_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vm_state {
    VM_STATE_UNKNOWN,
    VM_STATE_FIRMWARE,
    VM_STATE_BOOTING,
    VM_STATE_RUNNING,
    VM_STATE_PANIC,
    VM_STATE_REBOOTING,
    VM_STATE_OFF,
    VM_STATE_COUNT
};

/* "Unknown", "Firmware", "Booting", "Running", "Panic", "Rebooting", "Off"; "?" if invalid. */
const char *vm_state_name(enum vm_state s);
/* The exact names above except "Unknown" (not a rule state): 0 or -EINVAL. */
int vm_state_parse(const char *name, enum vm_state *out);

#define DETECT_RULES_MAX     256 /* administrator rules */
#define DETECT_BUILTIN_MAX   64  /* room for built-in rules (a static check holds the table) */
#define DETECT_ID_MAX        64  /* rule ids: ^[A-Za-z0-9_.-]{1,64}$ */
#define DETECT_PATTERN_MAX   256 /* pattern bytes */
#define DETECT_LITERAL_MAX   32  /* bytes of a required literal used by the prefilter */
#define DETECT_RULES_TOTAL   (DETECT_RULES_MAX + DETECT_BUILTIN_MAX)
#define DETECT_LINE_MAX      512 /* a longer line is matched on its first DETECT_LINE_MAX-1 bytes */
#define DETECT_CONTEXT_LINES 16  /* lines kept before a change; lines collected after a panic */

/* The bit of a state in detect_rule.skip_in. */
#define DETECT_IN(s) (1u << (s))

struct detect_rule {
    const char *id;
    const char *pattern;
    enum vm_state state;
    bool builtin;
    /* States in which the rule is not tried (DETECT_IN bits); built-ins only, 0 for
     * administrator rules. E.g. systemd's "Welcome to ...!" is not tried while Running. */
    unsigned skip_in;
};

/* The built-in rules in matching order (service/state_rules.c). */
extern const struct detect_rule detect_builtin_rules[];
extern const size_t detect_builtin_count;

struct detect_rules; /* built-ins + administrator rules, compiled */

/* The built-in rules; NULL on ENOMEM. */
struct detect_rules *detect_rules_new(void);
void detect_rules_free(struct detect_rules *rs); /* NULL is fine */

/*
 * Adds (or replaces, same id, keeping its place) an administrator rule; administrator rules
 * are tried before the built-ins. 0; -EINVAL (bad id, pattern or state: err gets a sentence a
 * user can act on); -EEXIST (the id of a built-in rule); -ENOSPC (DETECT_RULES_MAX
 * administrator rules already); -ENOMEM. Ids: ^[A-Za-z0-9_.-]{1,64}$. Pattern: POSIX ERE,
 * 1..DETECT_PATTERN_MAX bytes, that does not match an empty line. State: not Unknown.
 * On failure nothing changed. err may be NULL.
 */
int detect_rules_add(struct detect_rules *rs, const char *id, const char *pattern,
                     enum vm_state state, char *err, size_t errsz);
/* 0, -ENOENT, -EPERM (a built-in rule), -ENOMEM (nothing changed). */
int detect_rules_remove(struct detect_rules *rs, const char *id);
size_t detect_rules_count(const struct detect_rules *rs);
/* Whether `id` is a valid rule id (^[A-Za-z0-9_.-]{1,64}$). */
bool detect_rule_id_valid(const char *id);
/* The i-th rule in matching order; NULL past the end. */
const struct detect_rule *detect_rules_at(const struct detect_rules *rs, size_t i);
const struct detect_rule *detect_rules_find(const struct detect_rules *rs, const char *id);

struct detect_change {
    enum vm_state state, previous;
    const char *rule_id; /* the rule that matched */
    const char *line;    /* the cleaned line (no escapes, no CR/LF) */
    const char *const
        *before; /* up to DETECT_CONTEXT_LINES cleaned lines before it, oldest first */
    size_t nbefore;
};

struct detector {
    /* Private: the parser, the line slots and the scan state (fixed arrays only). */
    struct {
        const struct detect_rules *rules;
        uint64_t gen; /* rules->gen the scan state belongs to */
        /* escape parser */
        uint8_t esc;      /* enum in state_detect.c */
        uint8_t csi_n;    /* CSI bytes seen (bounded) */
        uint8_t csi_np;   /* numeric parameters seen */
        bool csi_private; /* a private marker (? < = >) or an intermediate byte */
        unsigned csi_p[2];
        /* UTF-8 decoder */
        uint8_t u8_need, u8_len, u8_lo, u8_hi;
        uint8_t u8_buf[4];
        /* lines: slot[cur] is the line being built; the hist slots before it (mod
         * DETECT_CONTEXT_LINES + 1) are the completed lines, newest last */
        char slot[DETECT_CONTEXT_LINES + 1][DETECT_LINE_MAX];
        uint8_t cur, hist;
        uint16_t len, col;
        uint16_t dirty; /* lowest column changed below scan (UINT16_MAX: none) */
        bool unmatched; /* changed since it was last matched */
        bool nonascii;  /* holds bytes >= 0x80 */
        bool maybe_bad; /* an overwrite or erase may have cut a UTF-8 sequence */
        /* prefilter scan of the current line */
        uint32_t ac;   /* automaton state (row offset) */
        uint16_t scan; /* bytes of the line scanned */
        uint64_t hits[(DETECT_RULES_TOTAL + 63) / 64];
        /* lines after a panic */
        bool collecting;
        uint8_t after_n;
        uint64_t line_seq, panic_seq;
        const char *ptrs[DETECT_CONTEXT_LINES + 1];
        /* a partial line's match, waiting for its line to end or the console to pause */
        const void *pending; /* the rule; used only while rules->gen == pending_gen */
        uint64_t pending_gen;
        char pending_line[DETECT_LINE_MAX];
    } p;
    enum vm_state state; /* current state, readable by the owner */
    void (*changed)(struct detector *d, const struct detect_change *ch); /* may be NULL */
    /* The lines that followed a panic line (see above). May be NULL. */
    void (*after)(struct detector *d, const char *const *lines, size_t n);
    void *data;
};

/* State Unknown, no callbacks: set changed/after/data after init. rules may be NULL
 * (nothing ever matches). */
void detector_init(struct detector *d, const struct detect_rules *rules);
void detector_feed(struct detector *d, const void *data, size_t len);
/* A partial line's match waits (see above): the owner calls detector_idle after a pause. */
bool detector_pending(const struct detector *d);
/* The console paused: the partial line's match, if any, fires. */
void detector_idle(struct detector *d);
/* The console went quiet: delivers the lines collected after a panic, if any. */
void detector_flush(struct detector *d);
/* Forgets the lines it holds, completed and partial (their output may not be shown to all:
 * it was private); the state, the escape parser and a panic's collection go on. */
void detector_forget_lines(struct detector *d);
/* Calls nothing (flush first to get pending panic lines). */
void detector_fini(struct detector *d);

#endif
