/* app_parse_time_us: RFC 3339 date-times from query parameters (console transcripts). */
#include "fuzz.h"

#include "app.h"

#include <errno.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    int64_t us = 0;
    int rc = app_parse_time_us(s, &us);
    if (rc != 0 && rc != -EINVAL)
        abort();
    if (rc == 0) {
        /* What parses formats back, and that parses to the same instant. */
        char text[64];
        int64_t again = 0;
        app_format_time_us(us, text, sizeof(text));
        if (us >= 0 && (app_parse_time_us(text, &again) != 0 || again != us))
            abort();
    }
    free(s);
    return 0;
}
