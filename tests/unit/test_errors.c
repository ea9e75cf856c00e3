/* errors.c: Base registry messages and the Redfish error body (DSP0266 §9.6). */
#include "test.h"

#include "base_registry.h"
#include "rf.h"

#include <string.h>

static unsigned message_index(const char *id)
{
    for (unsigned i = 0; i < base_message_count; i++) {
        if (strcmp(base_messages[i].id, id) == 0)
            return i;
    }
    test_fail(__FILE__, __LINE__, "no message %s in the registry", id);
    return 0;
}

static const char *str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

TEST(errors_message_template_expansion)
{
    const char *const args[] = {"abc", "SessionTimeout"};
    json_t *m = base_message_build(message_index("Base.1.22.PropertyValueTypeError"), args);
    REQUIRE(m != NULL);
    CHECK_STREQ(str(m, "@odata.type"), "#Message.v1_3_0.Message");
    CHECK_STREQ(str(m, "MessageId"), "Base.1.22.PropertyValueTypeError");
    CHECK_STREQ(str(m, "Message"), "The value 'abc' for the property SessionTimeout is not a type "
                                   "that the property can accept.");
    CHECK_STREQ(str(m, "MessageSeverity"), "Warning");
    CHECK(str(m, "Resolution") != NULL && strlen(str(m, "Resolution")) > 0);
    json_t *margs = json_object_get(m, "MessageArgs");
    CHECK_EQ_INT(json_array_size(margs), 2);
    CHECK_STREQ(json_string_value(json_array_get(margs, 0)), "abc");
    CHECK_STREQ(json_string_value(json_array_get(margs, 1)), "SessionTimeout");
    json_decref(m);
}

TEST(errors_message_three_args_in_order)
{
    /* "%1 ... %2 ... %3": each placeholder takes its own argument. */
    const char *const args[] = {"ManagerAccount", "UserName", "admin"};
    json_t *m = base_message_build(message_index("Base.1.22.ResourceAlreadyExists"), args);
    REQUIRE(m != NULL);
    CHECK_STREQ(str(m, "Message"), "The requested resource of type ManagerAccount with the "
                                   "property UserName with the value 'admin' already exists.");
    CHECK_EQ_INT(json_array_size(json_object_get(m, "MessageArgs")), 3);
    json_decref(m);

    /* The argument order of the wrappers follows the registry's %n. */
    m = msg_action_parameter_missing("#Manager.Reset", "ResetType");
    CHECK_STREQ(str(m, "Message"),
                "The action #Manager.Reset requires the parameter ResetType to be present in the "
                "request body.");
    json_decref(m);
}

TEST(errors_message_arguments_are_not_expanded_again)
{
    /* An argument that itself looks like a placeholder is copied as it is. */
    const char *const args[] = {"%2%1", "%%1"};
    json_t *m = base_message_build(message_index("Base.1.22.PropertyValueOutOfRange"), args);
    REQUIRE(m != NULL);
    CHECK_STREQ(str(m, "Message"), "The value '%2%1' for the property %%1 is not in the supported "
                                   "range of acceptable values.");
    json_decref(m);

    /* A NULL argument becomes an empty string, in the text and in MessageArgs. */
    const char *const nulls[] = {NULL};
    m = base_message_build(message_index("Base.1.22.PropertyMissing"), nulls);
    REQUIRE(m != NULL);
    CHECK_STREQ(str(m, "Message"),
                "The property  is a required property and must be included in the request.");
    CHECK_STREQ(json_string_value(json_array_get(json_object_get(m, "MessageArgs"), 0)), "");
    json_decref(m);

    /* Long arguments (the output buffer grows with them). */
    char big[2048];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    const char *const bigs[] = {big, big};
    m = base_message_build(message_index("Base.1.22.PropertyValueTypeError"), bigs);
    REQUIRE(m != NULL);
    const char *text = str(m, "Message");
    CHECK(text != NULL && strlen(text) == 2 * strlen(big) + strlen("The value '' for the property "
                                                                   " is not a type that the "
                                                                   "property can accept."));
    json_decref(m);
}

TEST(errors_message_without_args)
{
    json_t *m = msg_general_error();
    REQUIRE(m != NULL);
    CHECK_STREQ(str(m, "MessageId"), "Base.1.22.GeneralError");
    CHECK_EQ_INT(json_array_size(json_object_get(m, "MessageArgs")), 0);
    CHECK(json_is_array(json_object_get(m, "MessageArgs")));
    CHECK_STREQ(str(m, "MessageSeverity"), "Critical");
    json_decref(m);
}

TEST(errors_every_registry_message_builds)
{
    const char *const args[] = {"A1", "A2", "A3", "A4", "A5", "A6", "A7", "A8", "A9"};
    CHECK(base_message_count > 100);
    for (unsigned i = 0; i < base_message_count; i++) {
        const struct base_message *bm = &base_messages[i];
        json_t *m = base_message_build(i, args);
        const char *text = str(m, "Message");
        if (!m || !text || strcmp(str(m, "MessageId"), bm->id) != 0) {
            test_fail(__FILE__, __LINE__, "%s does not build", bm->id);
            json_decref(m);
            continue;
        }
        if (strncmp(bm->id, BASE_REGISTRY_PREFIX ".", strlen(BASE_REGISTRY_PREFIX) + 1) != 0)
            test_fail(__FILE__, __LINE__, "%s lacks the prefix " BASE_REGISTRY_PREFIX, bm->id);
        /* Every placeholder is expanded, and every argument used. */
        for (const char *p = strchr(text, '%'); p; p = strchr(p + 1, '%')) {
            if (p[1] >= '1' && p[1] <= '9')
                test_fail(__FILE__, __LINE__, "%s: '%s' left unexpanded", bm->id, text);
        }
        for (int a = 0; a < bm->nargs; a++) {
            if (!strstr(text, args[a]))
                test_fail(__FILE__, __LINE__, "%s: argument %d unused in '%s'", bm->id, a + 1,
                          text);
        }
        if (json_array_size(json_object_get(m, "MessageArgs")) != (size_t)bm->nargs)
            test_fail(__FILE__, __LINE__, "%s: MessageArgs has the wrong length", bm->id);
        json_decref(m);
    }
}

TEST(errors_body_with_one_message)
{
    json_t *messages = json_array();
    json_array_append_new(messages, msg_property_unknown("Foo"));
    json_t *body = rf_error_body(messages);
    REQUIRE(body != NULL);
    json_t *err = json_object_get(body, "error");
    REQUIRE(json_is_object(err));
    CHECK_STREQ(str(err, "code"), "Base.1.22.PropertyUnknown");
    CHECK_STREQ(str(err, "message"),
                "The property Foo is not in the list of valid properties for the resource.");
    json_t *info = json_object_get(err, "@Message.ExtendedInfo");
    CHECK_EQ_INT(json_array_size(info), 1);
    CHECK(json_equal(json_array_get(info, 0), json_array_get(messages, 0)));
    CHECK_EQ_INT(json_object_size(body), 1);
    /* The input is left as it was. */
    CHECK_EQ_INT(json_array_size(messages), 1);
    json_decref(body);
    json_decref(messages);
}

TEST(errors_body_with_several_messages)
{
    json_t *messages = json_array();
    json_array_append_new(messages, msg_property_unknown("Foo"));
    json_array_append_new(messages, msg_property_value_type_error("x", "SessionTimeout"));
    json_array_append_new(messages, msg_property_missing("UserName"));
    json_t *body = rf_error_body(messages);
    REQUIRE(body != NULL);
    json_t *err = json_object_get(body, "error");
    CHECK_STREQ(str(err, "code"), "Base.1.22.GeneralError");
    CHECK(str(err, "message") != NULL && strstr(str(err, "message"), "general error"));
    json_t *info = json_object_get(err, "@Message.ExtendedInfo");
    REQUIRE(json_array_size(info) == 3);
    CHECK_STREQ(str(json_array_get(info, 0), "MessageId"), "Base.1.22.PropertyUnknown");
    CHECK_STREQ(str(json_array_get(info, 1), "MessageId"), "Base.1.22.PropertyValueTypeError");
    CHECK_STREQ(str(json_array_get(info, 2), "MessageId"), "Base.1.22.PropertyMissing");
    CHECK_EQ_INT(json_array_size(messages), 3);
    json_decref(body);
    json_decref(messages);
}

TEST(errors_body_without_messages)
{
    /* A handler that set an error status without a message still gets a valid body. */
    json_t *messages = json_array();
    json_t *body = rf_error_body(messages);
    REQUIRE(body != NULL);
    json_t *err = json_object_get(body, "error");
    CHECK_STREQ(str(err, "code"), "Base.1.22.GeneralError");
    json_t *info = json_object_get(err, "@Message.ExtendedInfo");
    CHECK_EQ_INT(json_array_size(info), 1);
    CHECK_STREQ(str(json_array_get(info, 0), "MessageId"), "Base.1.22.GeneralError");
    CHECK_EQ_INT(json_array_size(messages), 0);
    json_decref(body);
    json_decref(messages);
}

TEST(errors_rf_error_keeps_first_status)
{
    struct rf_response r;
    rf_response_init(&r);
    rf_error(&r, 400, msg_property_unknown("A"));
    rf_error(&r, 404, msg_property_unknown("B"));
    rf_error(&r, 500, NULL);
    CHECK_EQ_INT(r.status, 400);
    CHECK_EQ_INT(json_array_size(r.messages), 2);
    CHECK_STREQ(str(json_array_get(r.messages, 0), "MessageId"), "Base.1.22.PropertyUnknown");
    CHECK_STREQ(json_string_value(json_array_get(
                    json_object_get(json_array_get(r.messages, 1), "MessageArgs"), 0)),
                "B");
    rf_response_fini(&r);

    /* A success status set earlier gives way to the error. */
    rf_response_init(&r);
    rf_reply(&r, 200, json_object());
    rf_error(&r, 409, msg_resource_in_use());
    CHECK_EQ_INT(r.status, 409);
    CHECK_EQ_INT(json_array_size(r.messages), 1);
    rf_response_fini(&r);

    /* NULL message: the status only. */
    rf_response_init(&r);
    rf_error(&r, 503, NULL);
    CHECK_EQ_INT(r.status, 503);
    CHECK_EQ_INT(json_array_size(r.messages), 0);
    rf_response_fini(&r);
}

TEST(errors_response_helpers)
{
    struct rf_response r;
    rf_response_init(&r);
    CHECK_EQ_INT(r.status, 0);
    CHECK(r.body == NULL);
    rf_set_header(&r, "X-Test", "one");
    rf_set_header(&r, "X-Test", "two");
    CHECK_STREQ(str(r.headers, "X-Test"), "two");
    CHECK_EQ_INT(json_object_size(r.headers), 1);
    rf_reply(&r, 201, json_pack("{s:i}", "a", 1));
    rf_reply(&r, 200, json_pack("{s:i}", "a", 2)); /* replaces (and frees) the first body */
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(json_integer_value(json_object_get(r.body, "a")), 2);
    rf_response_fini(&r);

    json_t *c = rf_collection("/redfish/v1/X", "#XCollection.XCollection", "X Collection");
    CHECK_EQ_INT(json_integer_value(json_object_get(c, "Members@odata.count")), 0);
    rf_collection_add(c, "/redfish/v1/X/1");
    rf_collection_add(c, "/redfish/v1/X/2");
    CHECK_EQ_INT(json_integer_value(json_object_get(c, "Members@odata.count")), 2);
    CHECK_STREQ(str(json_array_get(json_object_get(c, "Members"), 1), "@odata.id"),
                "/redfish/v1/X/2");
    CHECK_STREQ(str(c, "@odata.id"), "/redfish/v1/X");
    json_decref(c);
}
