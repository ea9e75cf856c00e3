/* jsonbody: the table-driven request body reader. */
#include "test.h"

#include "jsonbody.h"

#include <stdlib.h>
#include <string.h>

enum { F_NAME, F_COUNT, F_FLAG, F_OBJ, F_LIST, F_RO, F_NOTE, F_AGE, N_FIELDS };
static const struct jb_field fields[] = {
    [F_NAME] = {"Name", JB_STRING, 0, 1, 8},
    [F_COUNT] = {"Count", JB_INT, 0, 1, 100},
    [F_FLAG] = {"Flag", JB_BOOL, 0, 0, 0},
    [F_OBJ] = {"Obj", JB_OBJECT, 0, 0, 0},
    [F_LIST] = {"List", JB_ARRAY, 0, 0, 0},
    [F_RO] = {"Id", JB_STRING, JB_READONLY, 0, 0},
    [F_NOTE] = {"Note", JB_STRING, JB_NULLABLE, 0, 0},
    [F_AGE] = {"Age", JB_INT, 0, 0, 0}, /* 0,0: any integer */
};

/* Parses `text` and runs jb_read; returns its result. r must be initialized. */
static int read_text(const char *text, const struct jb_field *f, size_t n, struct jb_value *v,
                     const char *action, struct rf_response *r, json_t **body)
{
    json_error_t jerr;
    *body = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!*body) {
        test_fail(__FILE__, __LINE__, "bad test JSON %s: %s", text, jerr.text);
        return -2;
    }
    return jb_read(*body, f, n, v, action, r);
}

/* The MessageId of message i, without the registry prefix. */
static const char *msg_id(const struct rf_response *r, size_t i)
{
    const char *id =
        json_string_value(json_object_get(json_array_get(r->messages, i), "MessageId"));
    const char *dot = id ? strrchr(id, '.') : NULL;
    return dot ? dot + 1 : "(none)";
}

static const char *msg_arg(const struct rf_response *r, size_t i, size_t a)
{
    return json_string_value(
        json_array_get(json_object_get(json_array_get(r->messages, i), "MessageArgs"), a));
}

/* True when some message has this id (without prefix). */
static bool has_msg(const struct rf_response *r, const char *id)
{
    for (size_t i = 0; i < json_array_size(r->messages); i++) {
        if (strcmp(msg_id(r, i), id) == 0)
            return true;
    }
    return false;
}

TEST(jsonbody_reads_every_type)
{
    struct rf_response r;
    rf_response_init(&r);
    struct jb_value v[N_FIELDS];
    json_t *body;
    int rc = read_text("{\"Name\": \"abc\", \"Count\": 7, \"Flag\": true, \"Obj\": {\"a\": 1}, "
                       "\"List\": [1, 2], \"Age\": -5}",
                       fields, N_FIELDS, v, NULL, &r, &body);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(json_array_size(r.messages), 0);
    CHECK_EQ_INT(r.status, 0);
    CHECK(v[F_NAME].present && !v[F_NAME].is_null);
    CHECK_STREQ(v[F_NAME].s, "abc");
    CHECK(v[F_COUNT].present);
    CHECK_EQ_INT(v[F_COUNT].i, 7);
    CHECK(v[F_FLAG].present && v[F_FLAG].b);
    CHECK(v[F_OBJ].present && json_is_object(v[F_OBJ].json));
    CHECK(v[F_LIST].present && json_array_size(v[F_LIST].json) == 2);
    CHECK(v[F_AGE].present);
    CHECK_EQ_INT(v[F_AGE].i, -5);
    CHECK(!v[F_RO].present);
    CHECK(!v[F_NOTE].present);
    json_decref(body);
    rf_response_fini(&r);

    /* false is a value, not absence. */
    rf_response_init(&r);
    rc = read_text("{\"Flag\": false}", fields, N_FIELDS, v, NULL, &r, &body);
    CHECK_EQ_INT(rc, 0);
    CHECK(v[F_FLAG].present && !v[F_FLAG].b);
    json_decref(body);
    rf_response_fini(&r);
}

TEST(jsonbody_unknown_property)
{
    struct rf_response r;
    rf_response_init(&r);
    struct jb_value v[N_FIELDS];
    json_t *body;
    CHECK_EQ_INT(read_text("{\"Bogus\": 1}", fields, N_FIELDS, v, NULL, &r, &body), -1);
    CHECK_EQ_INT(r.status, 400);
    CHECK_EQ_INT(json_array_size(r.messages), 1);
    CHECK_STREQ(msg_id(&r, 0), "PropertyUnknown");
    CHECK_STREQ(msg_arg(&r, 0, 0), "Bogus");
    json_decref(body);
    rf_response_fini(&r);

    /* Matching is case-sensitive. */
    rf_response_init(&r);
    CHECK_EQ_INT(read_text("{\"name\": \"abc\"}", fields, N_FIELDS, v, NULL, &r, &body), -1);
    CHECK_STREQ(msg_id(&r, 0), "PropertyUnknown");
    CHECK(!v[F_NAME].present);
    json_decref(body);
    rf_response_fini(&r);
}

TEST(jsonbody_wrong_type)
{
    static const struct {
        const char *body, *property, *value;
    } cases[] = {
        {"{\"Name\": 5}", "Name", "5"},       {"{\"Count\": \"7\"}", "Count", "7"},
        {"{\"Count\": 1.5}", "Count", "1.5"}, {"{\"Count\": true}", "Count", "true"},
        {"{\"Flag\": 1}", "Flag", "1"},       {"{\"Flag\": \"true\"}", "Flag", "true"},
        {"{\"Obj\": [1]}", "Obj", "[1]"},     {"{\"List\": {}}", "List", "{}"},
        {"{\"Name\": null}", "Name", "null"}, /* not nullable */
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct rf_response r;
        rf_response_init(&r);
        struct jb_value v[N_FIELDS];
        json_t *body;
        int rc = read_text(cases[i].body, fields, N_FIELDS, v, NULL, &r, &body);
        if (rc != -1 || r.status != 400 || json_array_size(r.messages) != 1 ||
            strcmp(msg_id(&r, 0), "PropertyValueTypeError") != 0)
            test_fail(__FILE__, __LINE__, "%s: rc %d, status %d, %s", cases[i].body, rc, r.status,
                      msg_id(&r, 0));
        else {
            CHECK_STREQ(msg_arg(&r, 0, 0), cases[i].value);
            CHECK_STREQ(msg_arg(&r, 0, 1), cases[i].property);
        }
        json_decref(body);
        rf_response_fini(&r);
    }
}

TEST(jsonbody_read_only)
{
    struct rf_response r;
    rf_response_init(&r);
    struct jb_value v[N_FIELDS];
    json_t *body;
    /* Even a value of the right type may not be written. */
    CHECK_EQ_INT(read_text("{\"Id\": \"x\"}", fields, N_FIELDS, v, NULL, &r, &body), -1);
    CHECK_EQ_INT(r.status, 400);
    CHECK_EQ_INT(json_array_size(r.messages), 1);
    CHECK_STREQ(msg_id(&r, 0), "PropertyNotWritable");
    CHECK_STREQ(msg_arg(&r, 0, 0), "Id");
    CHECK(!v[F_RO].present);
    json_decref(body);
    rf_response_fini(&r);

    /* Unknown annotations are not writable either. */
    rf_response_init(&r);
    CHECK_EQ_INT(read_text("{\"@odata.id\": \"/x\"}", fields, N_FIELDS, v, NULL, &r, &body), -1);
    CHECK_STREQ(msg_id(&r, 0), "PropertyNotWritable");
    CHECK_STREQ(msg_arg(&r, 0, 0), "@odata.id");
    json_decref(body);
    rf_response_fini(&r);
}

TEST(jsonbody_int_range)
{
    static const struct {
        const char *body;
        bool ok;
    } cases[] = {
        {"{\"Count\": 1}", true},
        {"{\"Count\": 100}", true},
        {"{\"Count\": 0}", false},
        {"{\"Count\": 101}", false},
        {"{\"Count\": -1}", false},
        {"{\"Count\": 9223372036854775807}", false},
        {"{\"Age\": 0}", true}, /* 0,0 = unchecked */
        {"{\"Age\": -9223372036854775807}", true},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct rf_response r;
        rf_response_init(&r);
        struct jb_value v[N_FIELDS];
        json_t *body;
        int rc = read_text(cases[i].body, fields, N_FIELDS, v, NULL, &r, &body);
        if (cases[i].ok) {
            if (rc != 0 || json_array_size(r.messages) != 0)
                test_fail(__FILE__, __LINE__, "%s refused (%s)", cases[i].body, msg_id(&r, 0));
        } else if (rc != -1 || r.status != 400 ||
                   strcmp(msg_id(&r, 0), "PropertyValueOutOfRange") != 0 ||
                   json_array_size(r.messages) != 1) {
            test_fail(__FILE__, __LINE__, "%s: rc %d, %s", cases[i].body, rc, msg_id(&r, 0));
        } else {
            CHECK_STREQ(msg_arg(&r, 0, 1), "Count");
            CHECK(!v[F_COUNT].present);
        }
        json_decref(body);
        rf_response_fini(&r);
    }
    /* The value is reported as the client wrote it. */
    struct rf_response r;
    rf_response_init(&r);
    struct jb_value v[N_FIELDS];
    json_t *body;
    read_text("{\"Count\": 101}", fields, N_FIELDS, v, NULL, &r, &body);
    CHECK_STREQ(msg_arg(&r, 0, 0), "101");
    json_decref(body);
    rf_response_fini(&r);
}

TEST(jsonbody_string_length)
{
    static const struct {
        const char *body;
        bool ok;
    } cases[] = {
        {"{\"Name\": \"a\"}", true}, {"{\"Name\": \"abcdefgh\"}", true},
        {"{\"Name\": \"\"}", false}, {"{\"Name\": \"abcdefghi\"}", false},
        {"{\"Note\": \"\"}", true}, /* 0,0 = unchecked */
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct rf_response r;
        rf_response_init(&r);
        struct jb_value v[N_FIELDS];
        json_t *body;
        int rc = read_text(cases[i].body, fields, N_FIELDS, v, NULL, &r, &body);
        if (cases[i].ok ? rc != 0
                        : rc != -1 || strcmp(msg_id(&r, 0), "PropertyValueOutOfRange") != 0 ||
                              r.status != 400)
            test_fail(__FILE__, __LINE__, "%s: rc %d, %s", cases[i].body, rc, msg_id(&r, 0));
        json_decref(body);
        rf_response_fini(&r);
    }
}

/*
 * Lengths are in characters, as JSON Schema's minLength/maxLength (which Redfish schemas
 * use) count them, not in UTF-8 bytes: "é" is one character of two bytes.
 */
TEST(jsonbody_string_length_counts_characters)
{
    static const struct {
        const char *body;
        bool ok;
    } cases[] = {
        /* 8 characters, 16 bytes: at the maximum */
        {"{\"Name\": \"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\"}", true},
        /* 3 characters, 9 bytes */
        {"{\"Name\": \"\u20ac\u20ac\u20ac\"}", true},
        /* 9 characters: one too many */
        {"{\"Name\": \"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\"}", false},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct rf_response r;
        rf_response_init(&r);
        struct jb_value v[N_FIELDS];
        json_t *body;
        int rc = read_text(cases[i].body, fields, N_FIELDS, v, NULL, &r, &body);
        if (cases[i].ok ? rc != 0 : rc != -1)
            test_fail(__FILE__, __LINE__, "%s: rc %d (%s), want %s", cases[i].body, rc,
                      msg_id(&r, 0), cases[i].ok ? "accepted" : "refused");
        json_decref(body);
        rf_response_fini(&r);
    }
}

static const struct jb_field create_fields[] = {
    {"UserName", JB_STRING, JB_REQUIRED, 1, 64},
    {"Password", JB_STRING, JB_REQUIRED, 0, 0},
    {"Enabled", JB_BOOL, 0, 0, 0},
};

TEST(jsonbody_required_missing)
{
    struct rf_response r;
    rf_response_init(&r);
    struct jb_value v[3];
    json_t *body;
    CHECK_EQ_INT(read_text("{\"Enabled\": true}", create_fields, 3, v, NULL, &r, &body), -1);
    CHECK_EQ_INT(r.status, 400);
    REQUIRE(json_array_size(r.messages) == 2);
    CHECK_STREQ(msg_id(&r, 0), "PropertyMissing");
    CHECK_STREQ(msg_arg(&r, 0, 0), "UserName");
    CHECK_STREQ(msg_id(&r, 1), "PropertyMissing");
    CHECK_STREQ(msg_arg(&r, 1, 0), "Password");
    json_decref(body);
    rf_response_fini(&r);

    rf_response_init(&r);
    CHECK_EQ_INT(read_text("{\"UserName\": \"u\", \"Password\": \"pw\"}", create_fields, 3, v, NULL,
                           &r, &body),
                 0);
    CHECK_STREQ(v[0].s, "u");
    CHECK_STREQ(v[1].s, "pw");
    CHECK(!v[2].present);
    json_decref(body);
    rf_response_fini(&r);
}

static const struct jb_field action_fields[] = {
    {"ResetType", JB_STRING, JB_REQUIRED, 0, 0},
    {"Delay", JB_INT, 0, 0, 60},
};
#define ACTION "#Manager.Reset"

TEST(jsonbody_action_mode)
{
    struct rf_response r;
    struct jb_value v[2];
    json_t *body;

    rf_response_init(&r);
    CHECK_EQ_INT(
        read_text("{\"ResetType\": \"On\", \"Bogus\": 1}", action_fields, 2, v, ACTION, &r, &body),
        -1);
    CHECK_EQ_INT(r.status, 400);
    CHECK_EQ_INT(json_array_size(r.messages), 1);
    CHECK_STREQ(msg_id(&r, 0), "ActionParameterUnknown");
    CHECK_STREQ(msg_arg(&r, 0, 0), ACTION);
    CHECK_STREQ(msg_arg(&r, 0, 1), "Bogus");
    json_decref(body);
    rf_response_fini(&r);

    rf_response_init(&r);
    CHECK_EQ_INT(read_text("{}", action_fields, 2, v, ACTION, &r, &body), -1);
    CHECK_EQ_INT(json_array_size(r.messages), 1);
    CHECK_STREQ(msg_id(&r, 0), "ActionParameterMissing");
    CHECK_STREQ(msg_arg(&r, 0, 0), ACTION);
    CHECK_STREQ(msg_arg(&r, 0, 1), "ResetType");
    json_decref(body);
    rf_response_fini(&r);

    rf_response_init(&r);
    CHECK_EQ_INT(read_text("{\"ResetType\": \"On\", \"Delay\": \"1\"}", action_fields, 2, v, ACTION,
                           &r, &body),
                 -1);
    CHECK_EQ_INT(json_array_size(r.messages), 1);
    CHECK_STREQ(msg_id(&r, 0), "ActionParameterValueTypeError");
    CHECK_STREQ(msg_arg(&r, 0, 0), "1");
    CHECK_STREQ(msg_arg(&r, 0, 1), "Delay");
    CHECK_STREQ(msg_arg(&r, 0, 2), ACTION);
    json_decref(body);
    rf_response_fini(&r);

    /* A required parameter of the wrong type: a type error (see also
     * jsonbody_refused_required_is_not_missing). */
    rf_response_init(&r);
    CHECK_EQ_INT(read_text("{\"ResetType\": 1}", action_fields, 2, v, ACTION, &r, &body), -1);
    CHECK(has_msg(&r, "ActionParameterValueTypeError"));
    CHECK_STREQ(msg_id(&r, 0), "ActionParameterValueTypeError");
    CHECK_STREQ(msg_arg(&r, 0, 0), "1");
    CHECK_STREQ(msg_arg(&r, 0, 1), "ResetType");
    CHECK_STREQ(msg_arg(&r, 0, 2), ACTION);
    json_decref(body);
    rf_response_fini(&r);

    rf_response_init(&r);
    CHECK_EQ_INT(
        read_text("{\"ResetType\": \"On\", \"Delay\": 61}", action_fields, 2, v, ACTION, &r, &body),
        -1);
    CHECK_EQ_INT(json_array_size(r.messages), 1);
    CHECK_STREQ(msg_id(&r, 0), "ActionParameterValueOutOfRange");
    CHECK_STREQ(msg_arg(&r, 0, 1), "Delay");
    CHECK_STREQ(msg_arg(&r, 0, 2), ACTION);
    json_decref(body);
    rf_response_fini(&r);

    rf_response_init(&r);
    CHECK_EQ_INT(
        read_text("{\"ResetType\": \"On\", \"Delay\": 0}", action_fields, 2, v, ACTION, &r, &body),
        0);
    CHECK_STREQ(v[0].s, "On");
    CHECK(v[1].present);
    CHECK_EQ_INT(v[1].i, 0);
    json_decref(body);
    rf_response_fini(&r);
}

/*
 * A required property that is present but refused (wrong type, out of range) gets that
 * error only: PropertyMissing ("... must be included in the request") would tell the
 * client to add what it did send.
 */
TEST(jsonbody_refused_required_is_not_missing)
{
    static const struct {
        const char *body, *action, *want;
    } cases[] = {
        {"{\"UserName\": 5, \"Password\": \"pw\"}", NULL, "PropertyValueTypeError"},
        {"{\"UserName\": \"\", \"Password\": \"pw\"}", NULL, "PropertyValueOutOfRange"},
        {"{\"UserName\": \"u\", \"Password\": null}", NULL, "PropertyValueTypeError"},
        {"{\"UserName\": \"u\", \"Password\": false}", ACTION, "ActionParameterValueTypeError"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct rf_response r;
        rf_response_init(&r);
        struct jb_value v[3];
        json_t *body;
        int rc = read_text(cases[i].body, create_fields, 3, v, cases[i].action, &r, &body);
        CHECK_EQ_INT(rc, -1);
        CHECK(has_msg(&r, cases[i].want));
        if (json_array_size(r.messages) != 1)
            test_fail(__FILE__, __LINE__, "%s: %zu messages (%s, %s), want only %s", cases[i].body,
                      json_array_size(r.messages), msg_id(&r, 0), msg_id(&r, 1), cases[i].want);
        json_decref(body);
        rf_response_fini(&r);
    }
}

TEST(jsonbody_nullable)
{
    struct rf_response r;
    rf_response_init(&r);
    struct jb_value v[N_FIELDS];
    json_t *body;
    CHECK_EQ_INT(read_text("{\"Note\": null}", fields, N_FIELDS, v, NULL, &r, &body), 0);
    CHECK_EQ_INT(json_array_size(r.messages), 0);
    CHECK(v[F_NOTE].present);
    CHECK(v[F_NOTE].is_null);
    CHECK(json_is_null(v[F_NOTE].json));
    CHECK(v[F_NOTE].s == NULL);
    json_decref(body);
    rf_response_fini(&r);

    rf_response_init(&r);
    CHECK_EQ_INT(read_text("{\"Note\": \"text\"}", fields, N_FIELDS, v, NULL, &r, &body), 0);
    CHECK(v[F_NOTE].present && !v[F_NOTE].is_null);
    CHECK_STREQ(v[F_NOTE].s, "text");
    json_decref(body);
    rf_response_fini(&r);

    /* Nullable does not mean any type. */
    rf_response_init(&r);
    CHECK_EQ_INT(read_text("{\"Note\": 3}", fields, N_FIELDS, v, NULL, &r, &body), -1);
    CHECK_STREQ(msg_id(&r, 0), "PropertyValueTypeError");
    json_decref(body);
    rf_response_fini(&r);
}

TEST(jsonbody_reports_every_error_at_once)
{
    struct rf_response r;
    rf_response_init(&r);
    struct jb_value v[N_FIELDS];
    json_t *body;
    CHECK_EQ_INT(read_text("{\"Bogus\": 1, \"Name\": 5, \"Count\": 1000, \"Id\": \"x\", "
                           "\"Flag\": true}",
                           fields, N_FIELDS, v, NULL, &r, &body),
                 -1);
    CHECK_EQ_INT(r.status, 400);
    CHECK_EQ_INT(json_array_size(r.messages), 4);
    CHECK(has_msg(&r, "PropertyUnknown"));
    CHECK(has_msg(&r, "PropertyValueTypeError"));
    CHECK(has_msg(&r, "PropertyValueOutOfRange"));
    CHECK(has_msg(&r, "PropertyNotWritable"));
    json_decref(body);
    rf_response_fini(&r);

    /* Problems in the body and missing required properties together. */
    rf_response_init(&r);
    CHECK_EQ_INT(read_text("{\"Bogus\": 1}", create_fields, 3, v, NULL, &r, &body), -1);
    CHECK_EQ_INT(json_array_size(r.messages), 3);
    CHECK(has_msg(&r, "PropertyUnknown"));
    CHECK(has_msg(&r, "PropertyMissing"));
    json_decref(body);
    rf_response_fini(&r);
}

TEST(jsonbody_ignores_odata_etag)
{
    struct rf_response r;
    rf_response_init(&r);
    struct jb_value v[N_FIELDS];
    json_t *body;
    CHECK_EQ_INT(read_text("{\"@odata.etag\": \"\\\"abc\\\"\", \"Count\": 5}", fields, N_FIELDS, v,
                           NULL, &r, &body),
                 0);
    CHECK_EQ_INT(json_array_size(r.messages), 0);
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_INT(v[F_COUNT].i, 5);
    json_decref(body);
    rf_response_fini(&r);

    /* Whatever its type, and in action bodies too. */
    rf_response_init(&r);
    struct jb_value av[2];
    CHECK_EQ_INT(read_text("{\"@odata.etag\": 5, \"ResetType\": \"On\"}", action_fields, 2, av,
                           ACTION, &r, &body),
                 0);
    CHECK_EQ_INT(json_array_size(r.messages), 0);
    json_decref(body);
    rf_response_fini(&r);
}

TEST(jsonbody_value_text)
{
    json_t *j = json_string("plain");
    char *s = jb_value_text(j);
    CHECK_STREQ(s, "plain");
    free(s);
    json_decref(j);
    j = json_pack("{s:i}", "a", 1);
    s = jb_value_text(j);
    CHECK_STREQ(s, "{\"a\":1}");
    free(s);
    json_decref(j);
    j = json_null();
    s = jb_value_text(j);
    CHECK_STREQ(s, "null");
    free(s);
}
