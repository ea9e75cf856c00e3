/* event_filter: event_filter_parse + event_filter_match on any $filter text.
 * Input: FILTER [NUL MESSAGE-ID NUL ORIGIN NUL RESOURCE-TYPE]; facts that are not given
 * are matched from a fixed set of real events. */
#include "fuzz.h"

#include "event_filter.h"

#include <errno.h>

static const struct event_facts fixed[] = {
    {"VscEvents.1.0.ConsolePanic", "/redfish/v1/Systems/6c2b1f3e-0d4a-4e8b-9f1a-2b3c4d5e6f70",
     "ComputerSystem"},
    {"ResourceEvent.1.4.ResourceChanged", "/redfish/v1/Managers/bmc/SerialInterfaces/3",
     "SerialInterface"},
    {"VscEvents.1.0.EventsLost", "", ""},
    {"", "", ""},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf, *f[4];
    size_t len[4];
    int n = fuzz_split(data, size, f, len, 4, &buf);
    struct event_filter *filter = NULL;
    char err[160];
    int rc = event_filter_parse(f[0], &filter, err, sizeof(err));
    if (rc != 0 && rc != -EINVAL && rc != -ENOENT && rc != -E2BIG && rc != -ENOMEM)
        abort();
    if (rc == 0) {
        if (!filter)
            abort();
        for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
            (void)event_filter_match(filter, &fixed[i]);
        if (n == 4) {
            struct event_facts facts = {f[1], f[2], f[3]};
            (void)event_filter_match(filter, &facts);
        }
        event_filter_free(filter);
    } else if (!memchr(err, '\0', sizeof(err))) {
        abort();
    }
    free(buf);
    return 0;
}
