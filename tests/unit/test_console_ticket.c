/* console_ticket: single use, one port, a 30 s life, and a bounded table. */
#include "test.h"

#include "console_ticket.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct console_tickets *tickets_new(void)
{
    return calloc(1, sizeof(struct console_tickets));
}

TEST(console_ticket_redeems_once)
{
    struct console_tickets *t = tickets_new();
    char ticket[SECRET_TOKEN_LEN + 1], sid[SESSION_ID_LEN + 1];
    REQUIRE(console_ticket_issue(t, "session-a", 7, 1000, ticket) == 0);
    CHECK_EQ_INT(strlen(ticket), SECRET_TOKEN_LEN);
    CHECK(console_ticket_redeem(t, ticket, 7, 2000, sid) == 0);
    CHECK(strcmp(sid, "session-a") == 0);
    CHECK(console_ticket_redeem(t, ticket, 7, 2000, sid) == -ENOENT);
    free(t);
}

TEST(console_ticket_expires)
{
    struct console_tickets *t = tickets_new();
    char ticket[SECRET_TOKEN_LEN + 1], sid[SESSION_ID_LEN + 1];
    REQUIRE(console_ticket_issue(t, "s", 1, 1000, ticket) == 0);
    CHECK(console_ticket_redeem(t, ticket, 1, 1000 + CONSOLE_TICKET_TTL_MS, sid) == -ENOENT);
    free(t);
}

TEST(console_ticket_wrong_port_burns_it)
{
    struct console_tickets *t = tickets_new();
    char ticket[SECRET_TOKEN_LEN + 1], sid[SESSION_ID_LEN + 1];
    REQUIRE(console_ticket_issue(t, "s", 1, 0, ticket) == 0);
    CHECK(console_ticket_redeem(t, ticket, 2, 1, sid) == -ENOENT);
    CHECK(console_ticket_redeem(t, ticket, 1, 1, sid) == -ENOENT);
    CHECK(console_ticket_redeem(t, NULL, 1, 1, sid) == -ENOENT);
    CHECK(console_ticket_redeem(t, "short", 1, 1, sid) == -ENOENT);
    free(t);
}

TEST(console_ticket_table_is_bounded)
{
    struct console_tickets *t = tickets_new();
    char first[SECRET_TOKEN_LEN + 1], last[SECRET_TOKEN_LEN + 1], sid[SESSION_ID_LEN + 1];
    REQUIRE(console_ticket_issue(t, "s", 1, 0, first) == 0);
    for (int i = 1; i <= CONSOLE_TICKET_MAX; i++)
        REQUIRE(console_ticket_issue(t, "s", 1, (uint64_t)i, last) == 0);
    CHECK(console_ticket_redeem(t, first, 1, 10, sid) == -ENOENT); /* the oldest made room */
    CHECK(console_ticket_redeem(t, last, 1, 10, sid) == 0);
    free(t);
}
