/* Redfish error responses built from the Base message registry (DSP0266 §9.6). */
#include "audit.h"
#include "base_registry.h"
#include "resources.h"
#include "rf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Expands %1..%9 in a registry message template. */
static char *expand_template(const char *tmpl, const char *const *args, int nargs)
{
    size_t cap = strlen(tmpl) + 1;
    for (int i = 0; i < nargs; i++)
        cap += strlen(args[i] ? args[i] : "");
    char *out = malloc(cap);
    if (!out)
        return NULL;
    char *o = out;
    for (const char *p = tmpl; *p; p++) {
        if (p[0] == '%' && p[1] >= '1' && p[1] <= '9' && p[1] - '1' < nargs) {
            const char *a = args[p[1] - '1'] ? args[p[1] - '1'] : "";
            size_t n = strlen(a);
            memcpy(o, a, n);
            o += n;
            p++;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

json_t *base_message_build(unsigned index, const char *const *args)
{
    const struct base_message *m = &base_messages[index];
    char *text = expand_template(m->message, args, m->nargs);
    json_t *margs = json_array();
    for (int i = 0; i < m->nargs; i++)
        json_array_append_new(margs, json_string(args[i] ? args[i] : ""));
    json_t *msg =
        json_pack("{s:s, s:s, s:s, s:o, s:s, s:s}", "@odata.type", "#Message.v1_3_0.Message",
                  "MessageId", m->id, "Message", text ? text : m->message, "MessageArgs", margs,
                  "MessageSeverity", m->severity, "Resolution", m->resolution);
    free(text);
    return msg;
}

void rf_response_init(struct rf_response *r)
{
    memset(r, 0, sizeof(*r));
    r->headers = json_object();
    r->messages = json_array();
}

void rf_response_fini(struct rf_response *r)
{
    json_decref(r->body);
    json_decref(r->headers);
    json_decref(r->messages);
    free(r->raw);
    if (r->stream)
        r->stream->closed(r->stream); /* never sent */
    memset(r, 0, sizeof(*r));
}

void rf_stream_wake(struct rf_stream *s)
{
    if (s->wake)
        s->wake(s);
}

void rf_set_header(struct rf_response *r, const char *name, const char *value)
{
    json_object_set_new(r->headers, name, json_string(value));
}

void rf_reply(struct rf_response *r, int status, json_t *body)
{
    r->status = status;
    json_decref(r->body);
    r->body = body;
}

void rf_error(struct rf_response *r, int status, json_t *message)
{
    if (r->status < 400)
        r->status = status;
    if (message)
        json_array_append_new(r->messages, message);
}

json_t *rf_error_body(const json_t *messages)
{
    json_t *info = json_copy((json_t *)messages); /* shares the message objects */
    json_t *head;
    if (json_array_size(info) == 1) {
        head = json_incref(json_array_get(info, 0));
    } else {
        /* Several problems, or none recorded: the umbrella message points at the list. */
        head = msg_general_error();
        if (json_array_size(info) == 0)
            json_array_append(info, head);
    }
    json_t *err =
        json_pack("{s:{s:O, s:O, s:o}}", "error", "code", json_object_get(head, "MessageId"),
                  "message", json_object_get(head, "Message"), "@Message.ExtendedInfo", info);
    json_decref(head);
    return err;
}

const char *rf_query_value(const struct rf_request *req, const char *key, bool *present)
{
    for (int i = 0; i < req->nquery; i++) {
        if (strcmp(req->query[i].key, key) == 0) {
            if (present)
                *present = true;
            return req->query[i].value;
        }
    }
    if (present)
        *present = false;
    return NULL;
}

json_t *rf_link(const char *uri)
{
    return json_pack("{s:s}", "@odata.id", uri);
}

json_t *rf_collection(const char *odata_id, const char *odata_type, const char *name)
{
    return json_pack("{s:s, s:s, s:s, s:[], s:i}", "@odata.id", odata_id, "@odata.type", odata_type,
                     "Name", name, "Members", "Members@odata.count", 0);
}

void rf_collection_add(json_t *collection, const char *member_uri)
{
    json_t *members = json_object_get(collection, "Members");
    json_array_append_new(members, rf_link(member_uri));
    json_object_set_new(collection, "Members@odata.count",
                        json_integer((json_int_t)json_array_size(members)));
}

void rf_set_next_link(json_t *body, const char *path, size_t skip, size_t top, size_t total)
{
    if (top == 0 || skip + top >= total)
        return;
    char next[1100];
    snprintf(next, sizeof(next), "%s?$skip=%zu&$top=%zu", path, skip + top, top);
    json_object_set_new(body, "Members@odata.nextLink", json_string(next));
}

void rf_page_window(const struct rf_request *req, size_t server_top, size_t *skip, size_t *top)
{
    *skip = req->paging.skip;
    *top = req->paging.has_top ? req->paging.top : server_top;
    if (*top > RF_PAGE_MAX)
        *top = RF_PAGE_MAX;
}

void rf_collection_paged(struct rf_response *r, const char *path, size_t skip, size_t top,
                         size_t total)
{
    json_object_set_new(r->body, "Members@odata.count", json_integer((json_int_t)total));
    rf_set_next_link(r->body, path, skip, top, total);
    r->paged = true;
}

void rf_not_found(struct rf_response *r, const char *type, const char *id)
{
    rf_error(r, 404, msg_resource_not_found(type, id));
}

void rf_login_limited(const struct rf_request *req, struct rf_response *r, const char *user,
                      uint32_t retry_s)
{
    char secs[16];
    snprintf(secs, sizeof(secs), "%u", retry_s);
    audit(req->app, AUDIT_LOGIN_FAILED, user, req->client_ip, req->path,
          "refused unchecked: too many failed logins from this address (retry in %s s)", secs);
    rf_error(r, 429, msg_service_temporarily_unavailable(secs));
    rf_set_header(r, "Retry-After", secs);
}

void rf_worker_error(struct rf_response *r, int rc)
{
    if (rc == -EINPROGRESS)
        return;
    if (rc == -EAGAIN)
        rf_error(r, 503, msg_service_temporarily_unavailable("1"));
    else
        rf_error(r, 500, msg_internal_error());
}
