#include "jsonbody.h"

#include "base_registry.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

char *jb_value_text(const json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    return s ? s : strdup("");
}

static bool type_matches(const json_t *v, enum jb_type t)
{
    switch (t) {
    case JB_STRING:
        return json_is_string(v);
    case JB_INT:
        return json_is_integer(v);
    case JB_BOOL:
        return json_is_boolean(v);
    case JB_OBJECT:
        return json_is_object(v);
    case JB_ARRAY:
        return json_is_array(v);
    }
    return false;
}

static const struct jb_field *find_field(const struct jb_field *f, size_t n, const char *name,
                                         size_t *index)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(f[i].name, name) == 0) {
            *index = i;
            return &f[i];
        }
    }
    return NULL;
}

static void report_type(const json_t *v, const char *name, const char *action,
                        struct rf_response *r)
{
    char *text = jb_value_text(v);
    rf_error(r, 400,
             action ? msg_action_parameter_value_type_error(text, name, action)
                    : msg_property_value_type_error(text, name));
    free(text);
}

static void report_range(const json_t *v, const char *name, const char *action,
                         struct rf_response *r)
{
    char *text = jb_value_text(v);
    rf_error(r, 400,
             action ? msg_action_parameter_value_out_of_range(text, name, action)
                    : msg_property_value_out_of_range(text, name));
    free(text);
}

/* Characters, not bytes (JSON Schema's maxLength counts characters). */
static int64_t utf8_chars(const json_t *v)
{
    int64_t n = 0;
    const char *s = json_string_value(v);
    for (size_t i = 0, len = json_string_length(v); i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

static bool in_range(const struct jb_field *f, const json_t *v)
{
    if (f->min == 0 && f->max == 0)
        return true;
    int64_t x = f->type == JB_INT ? (int64_t)json_integer_value(v) : utf8_chars(v);
    return x >= f->min && x <= f->max;
}

static int read_one(const struct jb_field *f, const json_t *v, struct jb_value *out,
                    const char *action, struct rf_response *r)
{
    if (f->flags & JB_READONLY) {
        rf_error(r, 400, msg_property_not_writable(f->name));
        return -1;
    }
    if (json_is_null(v) && (f->flags & JB_NULLABLE)) {
        out->present = out->is_null = true;
        out->json = v;
        return 0;
    }
    if (!type_matches(v, f->type)) {
        report_type(v, f->name, action, r);
        return -1;
    }
    if (!in_range(f, v)) {
        report_range(v, f->name, action, r);
        return -1;
    }
    out->present = true;
    out->json = v;
    out->s = json_string_value(v);
    out->i = json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
    out->b = json_is_true(v);
    return 0;
}

int jb_read(const json_t *body, const struct jb_field *fields, size_t count,
            struct jb_value *values, const char *action, struct rf_response *r)
{
    assert(count <= 64); /* `seen` is a 64-bit mask */
    uint64_t seen = 0;
    int rc = 0;
    memset(values, 0, count * sizeof(*values));
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)body, key, v)
    {
        size_t idx;
        if (strcmp(key, "@odata.etag") == 0)
            continue; /* clients echo it back; If-Match carries the precondition */
        const struct jb_field *f = find_field(fields, count, key, &idx);
        if (!f) {
            rf_error(r, 400,
                     key[0] == '@' ? msg_property_not_writable(key)
                     : action      ? msg_action_parameter_unknown(action, key)
                                   : msg_property_unknown(key));
            rc = -1;
            continue;
        }
        seen |= (uint64_t)1 << idx; /* refused is not missing: one message is enough */
        if (read_one(f, v, &values[idx], action, r) < 0)
            rc = -1;
    }
    for (size_t i = 0; i < count; i++) {
        if ((fields[i].flags & JB_REQUIRED) && !(seen & ((uint64_t)1 << i))) {
            rf_error(r, 400,
                     action ? msg_action_parameter_missing(action, fields[i].name)
                            : msg_property_missing(fields[i].name));
            rc = -1;
        }
    }
    return rc;
}
