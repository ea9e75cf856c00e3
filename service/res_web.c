/*
 * The web dashboard (docs/dashboard.md): `/` and `/ui/<file>`, compiled into the binary
 * (embed.S; the files are bundled from web/ by `make`). Public routes: the page and its
 * scripts carry no secrets; every API call the page makes needs a session token.
 */
#include "embed.h"
#include "resources.h"

#include <string.h>

/* No inline scripts; the API, the event stream and the console WebSockets are same-origin.
 * Styles allow 'unsafe-inline' only because xterm.js sets its theme through a <style>
 * element it creates; no script can be injected through that. */
#define WEB_CSP                                                                                    \
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "                    \
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; "                 \
    "form-action 'none'; frame-ancestors 'none'"

static const struct {
    const char *name;
    const char *data, *end;
    const char *content_type;
} web_files[] = {
    {"app.js", embed_web_app_js, embed_web_app_js_end, "text/javascript; charset=utf-8"},
    {"app.css", embed_web_app_css, embed_web_app_css_end, "text/css; charset=utf-8"},
};
#define WEB_FILE_COUNT (sizeof(web_files) / sizeof(web_files[0]))

static void web_headers(struct rf_response *r, const char *cache_control)
{
    rf_set_header(r, "Cache-Control", cache_control);
    rf_set_header(r, "Content-Security-Policy", WEB_CSP);
    rf_set_header(r, "Referrer-Policy", "no-referrer");
    rf_set_header(r, "Cross-Origin-Opener-Policy", "same-origin");
}

static void get_index(struct rf_request *req, struct rf_response *r)
{
    (void)req;
    rf_reply_embedded(r, embed_web_index, EMBED_LEN(embed_web_index), "text/html; charset=utf-8");
    /* Always revalidated: it names the current assets (their URLs carry a content hash). */
    web_headers(r, "no-cache");
}

static void get_asset(struct rf_request *req, struct rf_response *r)
{
    for (size_t i = 0; i < WEB_FILE_COUNT; i++) {
        if (strcmp(req->params[0], web_files[i].name) == 0) {
            rf_reply_embedded(r, web_files[i].data, (size_t)(web_files[i].end - web_files[i].data),
                              web_files[i].content_type);
            web_headers(r, "public, max-age=86400");
            return;
        }
    }
    rf_not_found(r, "File", req->params[0]);
}

static const struct route routes[] = {
    {"/", HTTP_GET, get_index, 0, ROUTE_NO_AUTH, NULL},
    {"/ui/{file}", HTTP_GET, get_asset, 0, ROUTE_NO_AUTH, NULL},
};
ROUTE_TABLE(web_routes, routes);
