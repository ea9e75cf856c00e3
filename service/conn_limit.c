#include "conn_limit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void conn_limit_init(struct conn_limit *l, unsigned max_total, unsigned max_per_addr)
{
    memset(l, 0, sizeof(*l));
    l->max_total = max_total;
    l->max_per_addr = max_per_addr;
}

void conn_limit_fini(struct conn_limit *l)
{
    for (size_t i = 0; i < CONN_LIMIT_BUCKETS; i++) {
        while (l->buckets[i]) {
            struct conn_limit_addr *a = l->buckets[i];
            l->buckets[i] = a->next;
            free(a);
        }
    }
    l->total = 0;
}

static struct conn_limit_addr **bucket_of(const struct conn_limit *l, const char *addr)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
        h = (h ^ *p) * 16777619u;
    return (struct conn_limit_addr **)&l->buckets[h % CONN_LIMIT_BUCKETS];
}

static struct conn_limit_addr *find(const struct conn_limit *l, const char *addr)
{
    struct conn_limit_addr *a = *bucket_of(l, addr);
    while (a && strncmp(a->addr, addr, CONN_LIMIT_ADDR - 1) != 0)
        a = a->next;
    return a;
}

bool conn_limit_admits(const struct conn_limit *l, const char *addr)
{
    if (l->total >= l->max_total)
        return false;
    const struct conn_limit_addr *a = find(l, addr);
    return !a || a->open < l->max_per_addr;
}

struct conn_limit_addr *conn_limit_open(struct conn_limit *l, const char *addr)
{
    struct conn_limit_addr *a = find(l, addr);
    if (!a) {
        a = calloc(1, sizeof(*a));
        if (!a)
            return NULL;
        snprintf(a->addr, sizeof(a->addr), "%s", addr);
        struct conn_limit_addr **b = bucket_of(l, a->addr);
        a->next = *b;
        *b = a;
    }
    a->open++;
    l->total++;
    return a;
}

void conn_limit_close(struct conn_limit *l, struct conn_limit_addr *a)
{
    if (!a || !a->open)
        return;
    a->open--;
    l->total--;
    if (a->open)
        return;
    struct conn_limit_addr **p = bucket_of(l, a->addr);
    while (*p != a)
        p = &(*p)->next;
    *p = a->next;
    free(a);
}
