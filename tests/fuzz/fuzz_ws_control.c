/* ws_control: the console WebSocket's text control messages (console_ws_control_parse,
 * the function on_message() calls for every text frame) and console_mode_parse, strict
 * (Redfish) and not (the control message), on the same bytes as a name. */
#include "fuzz.h"

#include "console_ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct console_ws_control c;
    console_ws_control_parse(data, size, &c);
    if (c.type > CONSOLE_WS_CONTROL_BAD_MODE)
        abort();
    if (c.type == CONSOLE_WS_CONTROL_MODE && (unsigned)c.mode > CONSOLE_PRIVATE)
        abort();

    char *name = fuzz_strndup(data, size);
    enum console_mode strict, loose;
    int s = console_mode_parse(name, true, &strict), l = console_mode_parse(name, false, &loose);
    /* Whatever the strict parse takes, the loose one takes the same way. */
    if (s == 0 && (l != 0 || loose != strict))
        abort();
    if (s == 0 && strcmp(console_mode_name(strict), name) != 0)
        abort();
    free(name);
    return 0;
}
