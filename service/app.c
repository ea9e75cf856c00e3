#include "app.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void app_format_time(int64_t t, char *out, size_t outsz)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, outsz, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
}

void app_format_time_us(int64_t us, char *out, size_t outsz)
{
    time_t tt = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&tt, &tm);
    char secs[24];
    strftime(secs, sizeof(secs), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outsz, "%s.%06lld+00:00", secs, (long long)(us % 1000000));
}

/* Digits at s[0..n) as a number; -1 when any is not a digit. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int app_parse_time_us(const char *s, int64_t *out)
{
    /* YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+HH:MM|-HH:MM) */
    if (!s || strlen(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
        s[13] != ':' || s[16] != ':')
        return -EINVAL;
    struct tm tm = {.tm_year = digits(s, 4) - 1900,
                    .tm_mon = digits(s + 5, 2) - 1,
                    .tm_mday = digits(s + 8, 2),
                    .tm_hour = digits(s + 11, 2),
                    .tm_min = digits(s + 14, 2),
                    .tm_sec = digits(s + 17, 2)};
    if (tm.tm_year < 70 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 ||
        tm.tm_sec > 60)
        return -EINVAL;
    const char *p = s + 19;
    int64_t frac = 0, scale = 1000000;
    if (*p == '.') {
        int n = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, n++) {
            if (n < 6) {
                scale /= 10;
                frac += (*p - '0') * scale;
            }
        }
        if (n == 0 || n > 9)
            return -EINVAL;
    }
    int64_t offset = 0;
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        offset = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int h = digits(p + 1, 2), m = digits(p + 4, 2);
        if (h < 0 || h > 23 || m < 0 || m > 59)
            return -EINVAL;
        offset = (h * 3600 + m * 60) * (*p == '+' ? 1 : -1);
    } else {
        return -EINVAL;
    }
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -EINVAL;
    *out = ((int64_t)t - offset) * 1000000 + frac;
    return 0;
}
