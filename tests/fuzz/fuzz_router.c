/* router: router_normalize + router_method_parse + router_find (+ the Allow header) on any
 * method and path. Input: METHOD NUL PATH (no NUL: the whole input is the path, GET). */
#include "fuzz.h"

#include "router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf, *f[2];
    size_t len[2];
    int n = fuzz_split(data, size, f, len, 2, &buf);
    const char *method_name = n == 2 ? f[0] : "GET";
    const char *raw = n == 2 ? f[1] : f[0];

    enum http_method method = 0;
    if (router_method_parse(method_name, &method) == 0) {
        enum http_method again = 0;
        /* The canonical name parses to the same method. */
        if (router_method_parse(router_method_name(method), &again) != 0 || again != method)
            abort();
    }
    size_t rawlen = strlen(raw);
    char *path = malloc(rawlen + 1);
    if (!path)
        abort();
    router_normalize(raw, path, rawlen + 1);
    if (strlen(path) > rawlen)
        abort();

    struct router_match m;
    memset(&m, 0xa5, sizeof(m)); /* nothing may be read that router_find did not write */
    enum router_result r = router_find(path, method, &m);
    if (r == ROUTER_FOUND) {
        if (!m.route || m.nparams < 0 || m.nparams > RF_MAX_PARAMS)
            abort();
        for (int i = 0; i < m.nparams; i++)
            if (!memchr(m.params[i], '\0', RF_PARAM_MAX) || m.params[i][0] == '\0')
                abort();
    }
    if (r != ROUTER_NOT_FOUND) {
        char allow[128];
        router_allow_header(m.allowed, allow, sizeof(allow));
    }
    free(path);
    free(buf);
    return 0;
}
