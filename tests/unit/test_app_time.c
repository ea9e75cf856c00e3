/* app_parse_time_us / app_format_time_us: RFC 3339 times of the transcript queries. */
#include "app.h"
#include "test.h"

#include <errno.h>
#include <string.h>

TEST(time_parses_utc_offsets_and_fractions)
{
    int64_t us = 0;
    CHECK_EQ_INT(app_parse_time_us("2026-11-26T03:20:11Z", &us), 0);
    CHECK_EQ_INT(us, 1795663211LL * 1000000);
    CHECK_EQ_INT(app_parse_time_us("2026-11-26T04:20:11.5+01:00", &us), 0);
    CHECK_EQ_INT(us, 1795663211LL * 1000000 + 500000);
    CHECK_EQ_INT(app_parse_time_us("2026-11-26T02:20:11.000001-01:00", &us), 0);
    CHECK_EQ_INT(us, 1795663211LL * 1000000 + 1);
}

TEST(time_refuses_what_is_not_rfc3339)
{
    int64_t us = 42;
    const char *bad[] = {"",
                         "2026-11-26",
                         "2026-11-26 03:20:11Z",
                         "2026-13-26T03:20:11Z",
                         "2026-11-26T24:20:11Z",
                         "2026-11-26T03:20:11",
                         "2026-11-26T03:20:11+0100",
                         "2026-11-26T03:20:11.Z",
                         "2026-11-26T03:20:11Zjunk",
                         "1969-12-31T23:59:59Z",
                         "2026-1a-26T03:20:11Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (app_parse_time_us(bad[i], &us) != -EINVAL)
            test_fail(__FILE__, __LINE__, "accepted '%s'", bad[i]);
    }
    CHECK_EQ_INT(us, 42);
}

TEST(time_round_trips_through_the_formatter)
{
    char text[40];
    int64_t us = 1795663211LL * 1000000 + 123456, back = 0;
    app_format_time_us(us, text, sizeof(text));
    CHECK_STREQ(text, "2026-11-26T03:20:11.123456+00:00");
    CHECK_EQ_INT(app_parse_time_us(text, &back), 0);
    CHECK_EQ_INT(back, us);
}
