/*
 * event_filter — the `$filter` of a Redfish SSE stream (DSP0266 §13.5.2 "Server-sent events":
 * the properties of EventService.SSEFilterPropertiesSupported).
 *
 * Grammar (strict; keywords and property names are case-sensitive, as in OData):
 *   expr       := and_expr ("or" and_expr)*
 *   and_expr   := unary ("and" unary)*
 *   unary      := "not" unary | "(" expr ")" | comparison
 *   comparison := PROPERTY ("eq" | "ne") VALUE
 *   VALUE      := 'single-quoted string' ('' is a quote) | true | false
 * PROPERTY is EventFormatType, MessageId, OriginResource, RegistryPrefix, ResourceType or
 * SubordinateResources (a boolean). `SubordinateResources eq true` anywhere in the filter
 * makes every OriginResource comparison also match the resources below that URI.
 * MessageId matches "Prefix.Major.Minor.Key" exactly, or "Prefix.Key" whatever the version.
 *
 * Limits: at most EVENT_FILTER_MAX_LEN bytes, EVENT_FILTER_MAX_NODES comparisons and
 * operators, nesting depth EVENT_FILTER_MAX_DEPTH.
 */
#ifndef VSC_EVENT_FILTER_H
#define VSC_EVENT_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#define EVENT_FILTER_MAX_LEN   2048
#define EVENT_FILTER_MAX_NODES 64
#define EVENT_FILTER_MAX_DEPTH 16

struct event_filter;

/* What the filter is matched against. */
struct event_facts {
    const char *message_id;    /* "ResourceEvent.1.4.ResourceCreated" */
    const char *origin;        /* the OriginOfCondition URI, "" when none */
    const char *resource_type; /* the origin's schema name ("SerialInterface"), "" when none */
};

/*
 * Parses `text`. 0 with *out (free with event_filter_free); -EINVAL for a syntax error,
 * -ENOENT for an unknown property or a value of the wrong type, -E2BIG past a limit,
 * -ENOMEM. `err` says what is wrong (for the log; never echoed to other users).
 */
int event_filter_parse(const char *text, struct event_filter **out, char *err, size_t errsz);

bool event_filter_match(const struct event_filter *f, const struct event_facts *facts);

void event_filter_free(struct event_filter *f);

#endif
