/*
 * jsonbody — the table-driven reader for request bodies (PATCH, POST create, actions).
 *
 * Each handler declares its properties {name, type, flags, min, max}; jb_read() checks
 * the whole body before anything changes and records every problem it finds:
 * PropertyUnknown, PropertyNotWritable, PropertyValueTypeError, PropertyValueOutOfRange,
 * PropertyMissing (or the ActionParameter* equivalents for actions). All-or-nothing:
 * a body with any problem changes nothing.
 */
#ifndef VSC_JSONBODY_H
#define VSC_JSONBODY_H

#include "rf.h"

enum jb_type { JB_STRING, JB_INT, JB_BOOL, JB_OBJECT, JB_ARRAY };

enum jb_flags {
    JB_REQUIRED = 1 << 0, /* must be present (POST create / action) */
    JB_READONLY = 1 << 1, /* a known property that may not be written */
    JB_NULLABLE = 1 << 2, /* null accepted */
};

struct jb_field {
    const char *name;
    enum jb_type type;
    unsigned flags;
    int64_t min, max; /* JB_INT: value range; JB_STRING: length range; 0,0 = unchecked */
};

struct jb_value {
    bool present;
    bool is_null;
    const json_t *json;
    const char *s;
    int64_t i;
    bool b;
};

/*
 * Reads `body` against `fields` (at most 64) into values[] (same order); a refused value
 * is left not present. `action` names the action
 * for ActionParameter* messages, or NULL for resource properties. Returns 0 when the
 * body is acceptable, -1 with every error recorded in r (status 400).
 */
int jb_read(const json_t *body, const struct jb_field *fields, size_t count,
            struct jb_value *values, const char *action, struct rf_response *r);

/* The JSON text of a value, for message arguments (malloc'd; "" on failure). */
char *jb_value_text(const json_t *v);

#endif
