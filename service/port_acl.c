#include "port_acl.h"

#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct loader {
    struct db_acl_rule *rules;
    size_t count, cap;
    bool oom;
};

static int collect(void *ctx, const struct db_acl_rule *rule)
{
    struct loader *l = ctx;
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct db_acl_rule *grown = realloc(l->rules, cap * sizeof(*grown));
        if (!grown) {
            l->oom = true;
            return 1;
        }
        l->rules = grown;
        l->cap = cap;
    }
    l->rules[l->count++] = *rule;
    return 0;
}

int port_acl_load(struct port_acl *acl, struct db *db)
{
    struct loader l = {0};
    int rc = db_acl_each(db, collect, &l);
    if (rc != 0 || l.oom) {
        free(l.rules);
        log_error("access rules: reload failed; keeping the previous rules");
        return l.oom ? -ENOMEM : -EIO;
    }
    free(acl->rules);
    acl->rules = l.rules;
    acl->count = l.count;
    return 0;
}

void port_acl_fini(struct port_acl *acl)
{
    free(acl->rules);
    acl->rules = NULL;
    acl->count = 0;
}

/* Index of the first rule with port_id >= `port_id`. */
static size_t lower_bound(const struct port_acl *acl, int64_t port_id)
{
    size_t lo = 0, hi = acl->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (acl->rules[mid].port_id < port_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* [*first, return) is the run of `port_id`'s rules. */
static size_t run_of(const struct port_acl *acl, int64_t port_id, size_t *first)
{
    size_t end = *first = lower_bound(acl, port_id);
    while (end < acl->count && acl->rules[end].port_id == port_id)
        end++;
    return end;
}

const struct db_acl_rule *port_acl_of_port(const struct port_acl *acl, int64_t port_id, size_t *n)
{
    size_t first, end = run_of(acl, port_id, &first);
    *n = end - first;
    return *n ? &acl->rules[first] : NULL;
}

const struct db_acl_rule *port_acl_find(const struct port_acl *acl, int64_t port_id,
                                        int64_t rule_id)
{
    size_t n;
    const struct db_acl_rule *rules = port_acl_of_port(acl, port_id, &n);
    for (size_t i = 0; i < n; i++) {
        if (rules[i].id == rule_id)
            return &rules[i];
    }
    return NULL;
}

void port_acl_drop_port(struct port_acl *acl, int64_t port_id)
{
    size_t first, end = run_of(acl, port_id, &first);
    if (end == first)
        return;
    memmove(&acl->rules[first], &acl->rules[end], (acl->count - end) * sizeof(acl->rules[0]));
    acl->count -= end - first;
}
