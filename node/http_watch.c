/*
 * http_watch.c — GET /v1/watch/{bucket}?key=|prefix=&from= as Server-Sent
 * Events (docs/http.md, "Watch").
 *
 * The gateway opens a client-protocol watch through the engine, as
 * libcairn's watches do (client/watch.c): it keeps the position (the
 * highest revision sent, or reported as progress), resumes the engine's
 * stream from position + 1 after a lost connection or a leader change,
 * drops anything at or below it, and sends "synced" once. A client that
 * does not read (more than BACKLOG_MAX bytes queued on its connection)
 * pauses the node's stream until its connection drains; then it resumes
 * from the position, so nothing is lost and nothing is buffered without
 * bound.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_api.h"

#define BACKLOG_MAX (4u << 20)
#define KEEPALIVE_MS 15000u

struct sse {
    struct creq r; /* first */
    struct http_api *api;
    struct http_req *req; /* NULL once the client is gone */
    uv_timer_t keepalive;
    char *filter; /* (owned) the key or prefix */
    uint64_t position;
    bool latest; /* current values first (no "from") */
    bool synced;
    bool active;  /* the engine has the request */
    bool paused;  /* stopped until the connection drains */
    bool closing; /* the client went away or the stream ended */
};

static void keepalive_closed(uv_handle_t *h)
{
    struct sse *w = h->data;

    free(w->filter);
    free(w);
}

/* Free @w once neither the engine nor the client needs it. */
static void sse_maybe_free(struct sse *w)
{
    if (w->active || w->req != NULL) {
        return;
    }
    w->api->calls--;
    uv_close((uv_handle_t *)&w->keepalive, keepalive_closed);
}

static void resume_point(struct sse *w)
{
    w->r.q.from = w->position + 1;
    w->r.q.has |= CAIRN_WIRE_REQ_FROM | CAIRN_WIRE_REQ_LATEST;
    w->r.q.latest = w->latest && !w->synced;
}

/* Send @len bytes; false when the client is gone. */
static bool sse_send(struct sse *w, const char *data, size_t len)
{
    if (w->req == NULL || w->closing) {
        return false;
    }
    if (http_stream_write(w->req, data, len) != 0) {
        return false;
    }
    uv_timer_again(&w->keepalive);
    return true;
}

/* One event: "event: NAME", an "id:" line when @id, "data: JSON". */
static void send_event(struct sse *w, const char *name, uint64_t id, json_t *j)
{
    char *data = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    char head[96];
    int n;

    json_decref(j);
    if (data == NULL) {
        return;
    }
    if (id != 0) {
        n = snprintf(head, sizeof head, "event: %s\nid: %llu\ndata: ", name,
                     (unsigned long long)id);
    } else {
        n = snprintf(head, sizeof head, "event: %s\ndata: ", name);
    }
    /* JSON_COMPACT output holds no newline: one data line. */
    if (sse_send(w, head, (size_t)n)) {
        if (sse_send(w, data, strlen(data))) {
            sse_send(w, "\n\n", 2);
        }
    }
    free(data);
}

static const char *event_name(uint32_t op)
{
    switch (op) {
        case CAIRN_OP_DEL:
            return "del";
        case CAIRN_OP_PURGE:
            return "purge";
        default:
            return "put";
    }
}

static void sse_frame(struct creq *r, const struct cairn_wire_response *res)
{
    struct sse *w = (struct sse *)r;
    cairn_entry e;

    if (res->has & CAIRN_WIRE_RES_EVENT) {
        if (res->event.revision <= w->position) {
            return; /* sent before a resume */
        }
        w->position = res->event.revision;
        resume_point(w);
        creq_entry_view(&e, &res->event);
        send_event(w, event_name(e.op), e.revision,
                   cairn_json_entry(NULL, &e));
    } else {
        if (res->rev > w->position) {
            w->position = res->rev;
        }
        if (res->synced && !w->synced) {
            json_t *j = json_object();
            w->synced = true;
            if (j != NULL) {
                json_object_set_new(j, "revision",
                                    json_integer((json_int_t)w->position));
            }
            send_event(w, "synced", 0, j);
        }
        resume_point(w);
    }
    if (w->req != NULL && !w->paused &&
        http_stream_backlog(w->req) > BACKLOG_MAX) {
        w->paused = true;
        engine_abort(&w->r, CAIRN_ECANCELED, "paused: the client is behind");
    }
}

static void sse_end(struct sse *w)
{
    if (w->req != NULL) {
        struct http_req *req = w->req;
        w->req = NULL;
        w->closing = true;
        http_req_on_close(req, NULL, NULL);
        http_req_on_drain(req, NULL, NULL);
        http_stream_end(req);
    }
}

static void sse_done(struct creq *r)
{
    struct sse *w = (struct sse *)r;
    int code = r->code;
    char msg[CAIRN_ERRMSG_SIZE];

    snprintf(msg, sizeof msg, "%s", r->errmsg);
    creq_release(r);
    w->active = false;
    if (w->req != NULL && !w->closing && w->paused && code == CAIRN_ECANCELED &&
        http_stream_backlog(w->req) > 0) {
        return; /* resumed by the drain callback */
    }
    if (w->req != NULL && !w->closing && w->paused) {
        w->paused = false;
        w->active = true;
        engine_submit(w->api->e, &w->r);
        return;
    }
    if (w->req != NULL && !w->closing) {
        json_t *j = json_object();
        if (j != NULL) {
            json_object_set_new(j, "error", json_string(msg));
            json_object_set_new(j, "code", json_string(cairn_errname(code)));
        }
        send_event(w, "error", 0, j);
        sse_end(w);
    }
    sse_maybe_free(w);
}

static void sse_drain(void *data)
{
    struct sse *w = data;

    if (w->paused && !w->active && w->req != NULL && !w->closing) {
        w->paused = false;
        w->active = true;
        engine_submit(w->api->e, &w->r);
    }
}

static void sse_closed(void *data)
{
    struct sse *w = data;

    w->req = NULL; /* freed by the server right after this */
    w->closing = true;
    if (w->active) {
        engine_abort(&w->r, CAIRN_ECANCELED, "the client went away");
    }
    sse_maybe_free(w);
}

static void keepalive_cb(uv_timer_t *t)
{
    struct sse *w = t->data;

    sse_send(w, ": keep-alive\n\n", 14);
}

void api_watch(struct http_api *api, struct http_req *r, const char *bucket,
               size_t bucket_len)
{
    static const struct http_header h[] = {{"Cache-Control", "no-cache"}};
    size_t key_len = 0, prefix_len = 0;
    const char *key = http_req_query(r, "key", &key_len);
    const char *prefix = http_req_query(r, "prefix", &prefix_len);
    const char *from = http_req_query(r, "from", NULL);
    const char *last = http_req_header(r, "Last-Event-ID");
    uint64_t from_rev = 0, last_id = 0;
    struct sse *w;

    if (key != NULL && prefix != NULL) {
        api_reply_error(r, CAIRN_EINVAL, "key and prefix exclude each other: "
                        "a watch follows one key or one prefix");
        return;
    }
    if (key != NULL && (key_len == 0 || key_len > CAIRN_KEY_MAX)) {
        api_reply_error(r, CAIRN_EINVAL, "key of %zu bytes: keys are 1 to %d "
                        "bytes", key_len, CAIRN_KEY_MAX);
        return;
    }
    if (prefix != NULL && prefix_len > CAIRN_KEY_MAX) {
        api_reply_error(r, CAIRN_EINVAL, "prefix of %zu bytes: keys are at "
                        "most %d bytes", prefix_len, CAIRN_KEY_MAX);
        return;
    }
    if (from != NULL &&
        (cairn_text_parse_u64(from, UINT64_MAX - 1, &from_rev) != 0 ||
         from_rev == 0)) {
        api_reply_error(r, CAIRN_EINVAL, "query parameter from='%s' must be a "
                        "revision, at least 1", from);
        return;
    }
    if (last != NULL &&
        cairn_text_parse_u64(last, UINT64_MAX - 1, &last_id) != 0) {
        api_reply_error(r, CAIRN_EINVAL, "Last-Event-ID '%.32s' is not a "
                        "revision", last);
        return;
    }
    w = calloc(1, sizeof *w);
    if (w == NULL) {
        api_reply_error(r, CAIRN_ENOMEM, "out of memory");
        return;
    }
    if (!api_bucket_name(r, bucket, bucket_len, w->r.q.bucket)) {
        free(w);
        return;
    }
    w->r.q.op = CAIRN_WIRE_WATCH;
    snprintf(w->r.what, sizeof w->r.what, "watch %s", w->r.q.bucket);
    w->api = api;
    w->req = r;
    if (key != NULL || prefix != NULL) {
        size_t n = key != NULL ? key_len : prefix_len;
        w->filter = malloc(n + 1);
        if (w->filter == NULL) {
            free(w);
            api_reply_error(r, CAIRN_ENOMEM, "out of memory");
            return;
        }
        memcpy(w->filter, key != NULL ? key : prefix, n);
        if (key != NULL) {
            w->r.q.w.key = w->filter;
            w->r.q.w.key_len = n;
            w->r.q.has |= CAIRN_WIRE_REQ_KEY;
        } else {
            w->r.q.prefix = w->filter;
            w->r.q.prefix_len = n;
            w->r.q.has |= CAIRN_WIRE_REQ_PREFIX;
        }
    }
    /* Last-Event-ID (a reconnecting EventSource) wins over from. */
    w->latest = from_rev == 0 && last_id == 0;
    w->position = last_id != 0 ? last_id : from_rev > 0 ? from_rev - 1 : 0;
    w->synced = last_id != 0; /* it had the initial data already */
    resume_point(w);
    w->r.route = ROUTE_BUCKET;
    w->r.stream = true;
    w->r.frame = sse_frame;
    w->r.done = sse_done;
    w->r.data = w;
    uv_timer_init(api->n->loop, &w->keepalive);
    w->keepalive.data = w;
    api->calls++;
    if (http_stream_start(r, 200, "text/event-stream", h, 1) != 0 ||
        http_req_on_close(r, sse_closed, w) != 0) {
        w->closing = true;
        http_stream_end(r);
        w->req = NULL;
        sse_maybe_free(w);
        return;
    }
    http_req_on_drain(r, sse_drain, w);
    uv_timer_start(&w->keepalive, keepalive_cb, KEEPALIVE_MS, KEEPALIVE_MS);
    w->active = true;
    engine_submit(api->e, &w->r);
}
