/* The terminal client's pure modules: the escape machine (client/escape.c) and the control
 * messages' bookkeeping (client/control.c). */
#include <stdio.h>
#include <string.h>

#include "control.h"
#include "escape.h"
#include "test.h"

/* Feeds a typed string; returns the bytes sent in sent[] and the commands in cmds[]. */
static void feed(struct escape *e, const char *typed, char *sent, size_t sentsz, int *cmds,
                 size_t ncmds)
{
    size_t ns = 0, nc = 0;
    for (const char *p = typed; *p; p++) {
        unsigned char out[2];
        size_t nout;
        enum escape_cmd cmd = escape_byte(e, (unsigned char)*p, out, &nout);
        for (size_t i = 0; i < nout && ns + 1 < sentsz; i++)
            sent[ns++] = (char)out[i];
        if (cmd != ESC_NONE && nc < ncmds)
            cmds[nc++] = cmd;
    }
    sent[ns] = '\0';
    if (nc < ncmds)
        cmds[nc] = ESC_NONE;
}

/* What typing gives: the bytes sent and the commands run (up to 3). */
static const struct {
    int esc;
    const char *typed, *sent;
    int cmds[3];
} escape_cases[] = {
    {'&', "&.", "", {ESC_DETACH}},
    {'&', "a&.", "a&.", {0}},                           /* not at a line start: as typed */
    {'&', "ls\r&w\n&?", "ls\r\n", {ESC_WHO, ESC_HELP}}, /* after CR or LF */
    {'&', "&f&p&m", "", {ESC_FORCE, ESC_MODE_PRIVATE, ESC_MODE_CYCLE}}, /* one after another */
    {'&', "&&&.", "&&.", {0}},      /* && sends one &; then mid-line */
    {'&', "&x&u&o", "&x&u&o", {0}}, /* unknown: both sent */
    {'&', "&u&o", "", {ESC_MODE_FREE, ESC_MODE_OBSERVE}},
    {-1, "&.", "&.", {0}},             /* -e none */
    {0x1d, "\x1d.", "", {ESC_DETACH}}, /* ^] */
};

TEST(escape_sequences)
{
    for (size_t i = 0; i < sizeof(escape_cases) / sizeof(escape_cases[0]); i++) {
        struct escape e;
        char sent[64];
        int cmds[4] = {0};
        escape_init(&e, escape_cases[i].esc);
        feed(&e, escape_cases[i].typed, sent, sizeof(sent), cmds, 4);
        CHECK_STREQ(sent, escape_cases[i].sent);
        for (size_t k = 0; k < 3; k++)
            CHECK_EQ_INT(cmds[k], escape_cases[i].cmds[k]);
    }
}

TEST(escape_end_of_input_sends_a_waiting_escape_character)
{
    struct escape e;
    unsigned char out[2];
    size_t nout = 9;
    char sent[16];
    int cmds[2];
    escape_init(&e, '&');
    feed(&e, "ls\r&", sent, sizeof(sent), cmds, 2);
    CHECK_STREQ(sent, "ls\r");
    escape_end(&e, out, &nout);
    CHECK_EQ_INT((int)nout, 1);
    CHECK_EQ_INT(out[0], '&');
    escape_end(&e, out, &nout); /* sent once */
    CHECK_EQ_INT((int)nout, 0);
    feed(&e, "x&", sent, sizeof(sent), cmds, 2); /* mid-line: already sent as typed */
    CHECK_STREQ(sent, "x&");
    escape_end(&e, out, &nout);
    CHECK_EQ_INT((int)nout, 0);
}

TEST(escape_parse_and_name)
{
    CHECK_EQ_INT(escape_parse("&"), '&');
    CHECK_EQ_INT(escape_parse("~"), '~');
    CHECK_EQ_INT(escape_parse("^]"), 0x1d);
    CHECK_EQ_INT(escape_parse("^e"), 5);
    CHECK_EQ_INT(escape_parse("^?"), 0x7f);
    CHECK_EQ_INT(escape_parse("none"), -1);
    CHECK_EQ_INT(escape_parse(""), -2);
    CHECK_EQ_INT(escape_parse("ab"), -2);
    CHECK_EQ_INT(escape_parse("^1"), -2);
    CHECK_EQ_INT(escape_parse("\xc3\xa9"), -2);
    char n[8];
    escape_name(0x1d, n, sizeof(n));
    CHECK_STREQ(n, "^]");
    escape_name('&', n, sizeof(n));
    CHECK_STREQ(n, "&");
    escape_name(-1, n, sizeof(n));
    CHECK_STREQ(n, "none");
}

static enum control_kind apply(struct control *c, const char *msg, char *line, size_t linesz)
{
    return control_apply(c, msg, strlen(msg), line, linesz);
}

TEST(control_tracks_who_is_attached_and_the_mode)
{
    struct control c;
    char line[256], who[2048];
    control_init(&c);
    CHECK_EQ_INT(apply(&c,
                       "{\"type\":\"hello\",\"connection\":{\"Id\":\"7\",\"UserName\":\"alice\"},"
                       "\"attached\":[{\"Id\":\"3\",\"UserName\":\"bob\",\"Role\":\"Operator\","
                       "\"Since\":\"t1\",\"Interactive\":true,\"ReceivesOutput\":true},"
                       "{\"Id\":\"7\",\"UserName\":\"alice\",\"Role\":\"Administrator\","
                       "\"Since\":\"t2\",\"Interactive\":true,\"ReceivesOutput\":true}]}",
                       line, sizeof(line)),
                 CTL_INFO);
    CHECK_STREQ(line, "attached as alice (connection 7); 2 connections on this port");
    CHECK_EQ_INT(apply(&c,
                       "{\"type\":\"mode\",\"mode\":\"Free\",\"holder\":null,\"by\":null,"
                       "\"forced\":false,\"reason\":\"current\"}",
                       line, sizeof(line)),
                 CTL_INFO);
    CHECK_STREQ(line, "mode: free use");
    CHECK_STREQ(control_next_mode(c.mode), "observe");
    CHECK_EQ_INT(apply(&c,
                       "{\"type\":\"attached\",\"event\":\"detach\",\"connection\":{\"Id\":\"3\","
                       "\"UserName\":\"bob\"}}",
                       line, sizeof(line)),
                 CTL_INFO);
    CHECK_STREQ(line, "bob left (connection 3)");
    CHECK_EQ_INT(apply(&c,
                       "{\"type\":\"mode\",\"mode\":\"Private\",\"holder\":\"carol\",\"by\":"
                       "\"carol\",\"forced\":true,\"reason\":\"set\"}",
                       line, sizeof(line)),
                 CTL_MODE);
    CHECK_STREQ(line, "mode: private held by carol (set, forced by carol)");
    CHECK_STREQ(control_next_mode(c.mode), "free");
    control_who(&c, who, sizeof(who));
    CHECK_STREQ(who, "1 connection; mode private held by carol\n"
                     "7 alice (Administrator) since t2, may type  <- you");
}

TEST(control_notices_missed_and_bad_messages)
{
    struct control c;
    char line[128];
    control_init(&c);
    CHECK_EQ_INT(
        apply(&c, "{\"type\":\"notice\",\"error\":\"no \\u001b[2Jcontrol\"}", line, sizeof(line)),
        CTL_NOTICE);
    CHECK_STREQ(line, "no ?[2Jcontrol"); /* no terminal escapes from the server */
    CHECK_EQ_INT(apply(&c, "{\"type\":\"missed\",\"bytes\":1234}", line, sizeof(line)), CTL_MISSED);
    CHECK_STREQ(line, "1234 bytes of output missed (this terminal fell behind)");
    CHECK_EQ_INT(apply(&c, "{\"type\":\"pong\"}", line, sizeof(line)), CTL_IGNORED);
    CHECK_EQ_INT(apply(&c, "{\"type\":\"future\"}", line, sizeof(line)), CTL_IGNORED);
    CHECK_EQ_INT(apply(&c, "not json", line, sizeof(line)), CTL_BAD);
    CHECK_EQ_INT(apply(&c, "[1]", line, sizeof(line)), CTL_BAD);
}

TEST(control_remembers_a_bounded_number_of_connections)
{
    struct control c;
    char line[128], msg[160], who[256];
    control_init(&c);
    for (int i = 0; i < CONTROL_MAX_CONNS + 5; i++) {
        snprintf(msg, sizeof(msg),
                 "{\"type\":\"attached\",\"event\":\"attach\",\"connection\":{\"Id\":\"%d\","
                 "\"UserName\":\"u%d\"}}",
                 i, i);
        apply(&c, msg, line, sizeof(line));
    }
    CHECK_EQ_INT((int)c.nconns, CONTROL_MAX_CONNS);
    CHECK_EQ_INT((int)c.overflow, 5);
    control_who(&c, who, sizeof(who)); /* cut to fit, NUL-terminated */
    CHECK(strlen(who) < sizeof(who));
    CHECK(strncmp(who, "69 connections;", 15) == 0);
}
