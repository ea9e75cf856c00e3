/* state_detect: administrator rules with fuzzed patterns (detect_rules_add), then
 * detector_feed over arbitrary console bytes cut into random chunks, with a rule removed
 * half way (rules may change under a detector), pauses (detector_idle) at random, and
 * detector_flush.
 * Input: B0 B1 [PATTERN NUL]... BYTES — B0 & 3: how many patterns; B0 >> 2: their states;
 * B1 seeds the chunk sizes. Checks the documented promise: every line given to a
 * callback is valid UTF-8 without control characters, shorter than DETECT_LINE_MAX. */
#include "fuzz.h"

#include "state_detect.h"

#include <errno.h>
#include <stdbool.h>

static bool clean_line(const char *s)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t n = strlen(s);
    if (n >= DETECT_LINE_MAX)
        return false;
    for (size_t i = 0; i < n;) {
        uint8_t c = p[i];
        if (c < 0x20 || c == 0x7f)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 ? 1 : 0;
        if (need == 0 || c > 0xf4)
            return false;
        for (size_t k = 1; k <= need; k++)
            if (i + k >= n || (p[i + k] & 0xc0) != 0x80)
                return false;
        i += need + 1;
    }
    return true;
}

static void changed(struct detector *d, const struct detect_change *ch)
{
    (void)d;
    if (!ch->rule_id || !clean_line(ch->line) || ch->nbefore > DETECT_CONTEXT_LINES ||
        ch->state == ch->previous || ch->state <= VM_STATE_UNKNOWN || ch->state >= VM_STATE_COUNT)
        abort();
    for (size_t i = 0; i < ch->nbefore; i++)
        if (!clean_line(ch->before[i]))
            abort();
}

static void after(struct detector *d, const char *const *lines, size_t n)
{
    (void)d;
    if (n > DETECT_CONTEXT_LINES + 1)
        abort();
    for (size_t i = 0; i < n; i++)
        if (!clean_line(lines[i]))
            abort();
}

static struct detect_rules *rules;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned npat = data[0] & 3, states = data[0] >> 2;
    uint32_t rnd = data[1] * 2654435761u + 1;
    data += 2;
    size -= 2;
    if (!rules && !(rules = detect_rules_new()))
        abort();

    /* Patterns: NUL-terminated fields at the start. */
    char ids[3][8];
    unsigned added = 0;
    for (unsigned i = 0; i < npat; i++) {
        const uint8_t *nul = memchr(data, '\0', size);
        if (!nul)
            break;
        char err[200];
        snprintf(ids[added], sizeof(ids[added]), "fz%u", i);
        enum vm_state st = (enum vm_state)(1 + (states >> (2 * i)) % (VM_STATE_COUNT - 1));
        int rc = detect_rules_add(rules, ids[added], (const char *)data, st, err, sizeof(err));
        if (rc == 0)
            added++;
        else if (rc != -EINVAL && rc != -ENOMEM)
            abort();
        size -= (size_t)(nul - data) + 1;
        data = nul + 1;
    }

    struct detector d;
    detector_init(&d, rules);
    d.changed = changed;
    d.after = after;
    size_t off = 0, half = size / 2;
    bool removed = false;
    while (off < size) {
        rnd = rnd * 1103515245u + 12345u;
        size_t n = 1 + (rnd >> 16) % 64;
        if (n > size - off)
            n = size - off;
        detector_feed(&d, data + off, n);
        off += n;
        if ((rnd >> 8) % 4 == 0)
            detector_idle(&d); /* the console paused here */
        if (!removed && off >= half && added) {
            if (detect_rules_remove(rules, ids[0]) != 0)
                abort();
            removed = true;
        }
    }
    detector_idle(&d);
    detector_flush(&d);
    detector_fini(&d);
    /* Back to the built-ins for the next input. */
    for (unsigned i = removed ? 1 : 0; i < added; i++)
        if (detect_rules_remove(rules, ids[i]) != 0)
            abort();
    if (detect_rules_count(rules) != detect_builtin_count)
        abort();
    return 0;
}
