/* console_ws: the client's text control messages (console_ws_control_parse). */
#include "test.h"

#include "console_ws.h"

#include <string.h>

static struct console_ws_control parse(const char *text)
{
    struct console_ws_control c;
    memset(&c, 0x5a, sizeof(c));
    console_ws_control_parse((const uint8_t *)text, strlen(text), &c);
    return c;
}

TEST(console_ws_control_ping_and_mode)
{
    CHECK_EQ_INT(parse("{\"type\":\"ping\"}").type, CONSOLE_WS_CONTROL_PING);

    struct console_ws_control c = parse("{\"type\":\"mode\",\"mode\":\"private\"}");
    CHECK_EQ_INT(c.type, CONSOLE_WS_CONTROL_MODE);
    CHECK_EQ_INT(c.mode, CONSOLE_PRIVATE);
    CHECK(!c.force);

    c = parse("{\"type\":\"mode\",\"mode\":\"Observe\",\"force\":true}");
    CHECK_EQ_INT(c.type, CONSOLE_WS_CONTROL_MODE);
    CHECK_EQ_INT(c.mode, CONSOLE_OBSERVE);
    CHECK(c.force);

    c = parse("{\"type\":\"mode\",\"mode\":\"ObserveOnly\",\"force\":false}");
    CHECK_EQ_INT(c.type, CONSOLE_WS_CONTROL_MODE);
    CHECK_EQ_INT(c.mode, CONSOLE_OBSERVE);
    CHECK(!c.force);

    c = parse("{\"type\":\"mode\",\"mode\":\"FREE\"}");
    CHECK_EQ_INT(c.type, CONSOLE_WS_CONTROL_MODE);
    CHECK_EQ_INT(c.mode, CONSOLE_FREE);
}

TEST(console_ws_control_bad_messages)
{
    static const char *const bad_mode[] = {
        "{\"type\":\"mode\"}",
        "{\"type\":\"mode\",\"mode\":\"shared\"}",
        "{\"type\":\"mode\",\"mode\":1}",
        "{\"type\":\"mode\",\"mode\":\"free\",\"force\":\"yes\"}",
        "{\"type\":\"mode\",\"mode\":\"free\",\"force\":null}",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad_mode); i++)
        if (parse(bad_mode[i]).type != CONSOLE_WS_CONTROL_BAD_MODE)
            test_fail(__FILE__, __LINE__, "'%s' is not a bad mode message", bad_mode[i]);

    static const char *const unknown[] = {
        "",
        "nonsense",
        "[]",
        "{}",
        "{\"type\":1}",
        "{\"type\":\"pong\"}",
        "{\"type\":\"ping\"",
        "\"ping\"",
        "{\"type\":\"PING\"}",
    };
    for (size_t i = 0; i < ARRAY_LEN(unknown); i++)
        if (parse(unknown[i]).type != CONSOLE_WS_CONTROL_UNKNOWN)
            test_fail(__FILE__, __LINE__, "'%s' is not an unknown message", unknown[i]);

    /* Bytes after a NUL, and a length shorter than the text, are what the frame holds. */
    const char nul[] = "{\"type\":\"ping\"}\0garbage";
    struct console_ws_control c;
    console_ws_control_parse((const uint8_t *)nul, sizeof(nul) - 1, &c);
    CHECK_EQ_INT(c.type, CONSOLE_WS_CONTROL_UNKNOWN);
    console_ws_control_parse((const uint8_t *)nul, 10, &c);
    CHECK_EQ_INT(c.type, CONSOLE_WS_CONTROL_UNKNOWN);
    console_ws_control_parse(NULL, 0, &c);
    CHECK_EQ_INT(c.type, CONSOLE_WS_CONTROL_UNKNOWN);
}
