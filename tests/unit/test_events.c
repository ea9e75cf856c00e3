/* events and event_filter: ids, the bounded backlog and its lost-event notice, resume,
 * registry texts, and the $filter grammar. */
#include "test.h"

#include "event_filter.h"
#include "events.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static struct events *new_events(struct loop *loop, size_t backlog)
{
    static struct events ev;
    if (loop_init(loop) < 0 || events_init(&ev, loop, backlog) < 0)
        abort(); /* the test fails (its child process crashed) */
    return &ev;
}

static void test_msg(struct events *ev, const char *msg)
{
    json_t *rec = json_pack("{s:s, s:s, s:s}", "MessageId", "VscEvents.1.0.Test", "Message", msg,
                            "MessageSeverity", "OK");
    CHECK(events_publish(ev, rec, "") > 0);
}

static const char *message_of(const struct event *e, char *buf, size_t n)
{
    json_t *j = json_loads(e->payload, 0, NULL);
    const char *m = json_string_value(
        json_object_get(json_array_get(json_object_get(j, "Events"), 0), "Message"));
    snprintf(buf, n, "%s", m ? m : "");
    json_decref(j);
    return buf;
}

TEST(events_ids_increase_and_backlog_is_bounded)
{
    struct loop loop;
    struct events *ev = new_events(&loop, 3);
    struct events_listener slow = {0};
    events_listen(ev, &slow, false, 0);
    uint64_t prev = 0;
    for (int i = 0; i < 5; i++) {
        char m[16];
        snprintf(m, sizeof(m), "m%d", i);
        test_msg(ev, m);
        CHECK(ev->last_id > prev);
        prev = ev->last_id;
    }
    CHECK_EQ_INT((long long)(ev->next_seq - ev->head_seq), 3);
    /* The slow listener lost m0 and m1: one notice, then m2..m4. */
    const struct event *e;
    char buf[32];
    CHECK_EQ_INT(events_next(ev, &slow, &e), EVENTS_LOST);
    CHECK_EQ_INT(events_next(ev, &slow, &e), EVENTS_EVENT);
    CHECK_STREQ(message_of(e, buf, sizeof(buf)), "m2");
    CHECK_EQ_INT(events_next(ev, &slow, &e), EVENTS_EVENT);
    CHECK_EQ_INT(events_next(ev, &slow, &e), EVENTS_EVENT);
    CHECK_STREQ(message_of(e, buf, sizeof(buf)), "m4");
    CHECK_EQ_INT(events_next(ev, &slow, &e), EVENTS_NONE);
    events_unlisten(ev, &slow);
    events_fini(ev);
    loop_fini(&loop);
}

TEST(events_resume_after_an_id)
{
    struct loop loop;
    struct events *ev = new_events(&loop, 10);
    test_msg(ev, "a");
    uint64_t after = ev->last_id;
    test_msg(ev, "b");
    test_msg(ev, "c");
    struct events_listener l = {0};
    events_listen(ev, &l, true, after);
    const struct event *e;
    char buf[32];
    CHECK_EQ_INT(events_next(ev, &l, &e), EVENTS_EVENT);
    CHECK_STREQ(message_of(e, buf, sizeof(buf)), "b");
    CHECK_EQ_INT(events_next(ev, &l, &e), EVENTS_EVENT);
    CHECK_STREQ(message_of(e, buf, sizeof(buf)), "c");
    CHECK_EQ_INT(events_next(ev, &l, &e), EVENTS_NONE);
    events_unlisten(ev, &l);
    /* An id from before this run: a notice, then everything kept. */
    struct events_listener old = {0};
    events_listen(ev, &old, true, 1);
    CHECK_EQ_INT(events_next(ev, &old, &e), EVENTS_LOST);
    CHECK_EQ_INT(events_next(ev, &old, &e), EVENTS_EVENT);
    CHECK_STREQ(message_of(e, buf, sizeof(buf)), "a");
    char *notice = events_lost_notice(ev, 1);
    CHECK(notice && strstr(notice, "Events after event 1 are no longer kept"));
    free(notice);
    events_unlisten(ev, &old);
    events_fini(ev);
    loop_fini(&loop);
}

TEST(events_registry_texts)
{
    struct loop loop;
    struct events *ev = new_events(&loop, 4);
    json_t *args = json_pack("[s, s]", "web1", "Kernel panic");
    char *t = events_message_text(ev, "VscEvents.1.0.ConsolePanic", args);
    CHECK_STREQ(t, "The system web1 panicked: Kernel panic");
    free(t);
    CHECK(events_message_text(ev, "VscEvents.1.0.Nope", args) == NULL);
    CHECK_EQ_INT(events_message_nargs(ev, "VscEvents.1.0.ConsolePanic"), 2);
    CHECK_EQ_INT(events_message_nargs(ev, "ResourceEvent.1.4.ResourceChanged"), 0);
    CHECK_EQ_INT(events_message_nargs(ev, "VscEvents.1.0.Nope"), -1);
    CHECK_EQ_INT(events_message_nargs(ev, "Acme.1.0.ConsolePanic"), -1);
    json_decref(args);
    json_t *none = json_array();
    t = events_message_text(ev, "ResourceEvent.1.4.ResourceCreated", none);
    CHECK_STREQ(t, "The resource was created successfully.");
    free(t);
    json_decref(none);
    const char *const three[] = {"h", "Running", "login:"};
    events_vsc(ev, "ConsoleStateChanged", "OK", "/redfish/v1/Systems/x", "ComputerSystem", three, 3,
               NULL, NULL);
    CHECK_EQ_INT((long long)ev->published, 1);
    CHECK(ev->ring[0].payload_unwatched == NULL && ev->ring[0].watch_port_id == 0);
    events_vsc(ev, "ConsoleStateChanged", "OK", "", "", three, 2, json_object(),
               NULL); /* refused */
    CHECK_EQ_INT((long long)ev->published, 1);
    /* A guarded argument: the same event for who may not watch, with it replaced. */
    const struct events_guard guard = {.port_id = 7, .arg = 2, .shown = "[hidden]"};
    events_vsc(ev, "ConsoleStateChanged", "OK", "/redfish/v1/Systems/x", "ComputerSystem", three, 3,
               NULL, &guard);
    CHECK_EQ_INT((long long)ev->published, 2);
    const struct event *g = &ev->ring[1 % ev->cap];
    CHECK_EQ_INT((long long)g->watch_port_id, 7);
    REQUIRE(g->payload_unwatched);
    CHECK(strstr(g->payload, "login:") != NULL && strstr(g->payload, "[hidden]") == NULL);
    CHECK(strstr(g->payload_unwatched, "login:") == NULL);
    CHECK(strstr(g->payload_unwatched, "\"MessageArgs\":[\"h\",\"Running\",\"[hidden]\"]"));
    char idtext[32];
    snprintf(idtext, sizeof(idtext), "\"Id\":\"%llu\"", (unsigned long long)g->id);
    CHECK(strstr(g->payload, idtext) && strstr(g->payload_unwatched, idtext));
    events_fini(ev);
    loop_fini(&loop);
}

static bool matches(const char *filter, const char *mid, const char *origin, const char *type)
{
    struct event_filter *f;
    char err[128];
    if (event_filter_parse(filter, &f, err, sizeof(err)) < 0)
        return false;
    struct event_facts facts = {mid, origin, type};
    bool ok = event_filter_match(f, &facts);
    event_filter_free(f);
    return ok;
}

TEST(event_filter_grammar_and_matching)
{
    const char *id = "ResourceEvent.1.4.ResourceCreated", *sys = "/redfish/v1/Systems/a";
    CHECK(matches("MessageId eq 'ResourceEvent.1.4.ResourceCreated'", id, sys, "ComputerSystem"));
    CHECK(matches("MessageId eq 'ResourceEvent.ResourceCreated'", id, sys, "ComputerSystem"));
    CHECK(!matches("MessageId eq 'ResourceEvent.1.0.ResourceCreated'", id, sys, ""));
    CHECK(matches("RegistryPrefix eq 'ResourceEvent' and ResourceType eq 'ComputerSystem'", id, sys,
                  "ComputerSystem"));
    CHECK(!matches("OriginResource eq '/redfish/v1/Systems'", id, sys, ""));
    CHECK(matches("OriginResource eq '/redfish/v1/Systems' and SubordinateResources eq true", id,
                  sys, ""));
    CHECK(!matches("OriginResource eq '/redfish/v1/Sys' and SubordinateResources eq true", id, sys,
                   ""));
    CHECK(matches("not (MessageId eq 'x') and (ResourceType eq 'A' or ResourceType ne 'B')", id,
                  sys, "B") == false);
    CHECK(matches("MessageId eq 'it''s' or EventFormatType eq 'Event'", id, sys, ""));
    struct event_filter *f;
    char err[128];
    CHECK_EQ_INT(event_filter_parse("MessageId eq", &f, err, sizeof(err)), -EINVAL);
    CHECK_EQ_INT(event_filter_parse("Foo eq 'x'", &f, err, sizeof(err)), -ENOENT);
    CHECK_EQ_INT(event_filter_parse("MessageId eq 'x' or", &f, err, sizeof(err)), -EINVAL);
    CHECK_EQ_INT(event_filter_parse("SubordinateResources eq 'x'", &f, err, sizeof(err)), -ENOENT);
    char deep[200] = "";
    for (int i = 0; i < 20; i++)
        strcat(deep, "(");
    strcat(deep, "MessageId eq 'x'");
    for (int i = 0; i < 20; i++)
        strcat(deep, ")");
    CHECK_EQ_INT(event_filter_parse(deep, &f, err, sizeof(err)), -E2BIG);
}
