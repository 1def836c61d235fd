/*
 * http_api.c — cairnd's HTTP/JSON API (docs/http.md): routes, the
 * gateway's calls through libcairn's engine, keys and buckets.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "http_api.h"
#include "log.h"

#define LIST_LIMIT_DEFAULT 1000u
#define LIST_LIMIT_MAX 10000u
/* How long the gateway tries a call (elections included). */
#define GATEWAY_DEADLINE_MS 10000u
#define GATEWAY_CONNECT_TIMEOUT_MS 1000u
#define GATEWAY_REQUEST_TIMEOUT_MS 5000u

/* ------------------------------------------------------------------------
 * Answers
 * ---------------------------------------------------------------------- */

void api_reply_json(struct http_req *r, int status, json_t *j)
{
    char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

    json_decref(j);
    if (text == NULL) {
        http_reply_json_error(r, 500, "out_of_memory", "out of memory");
        return;
    }
    http_reply(r, status, "application/json", NULL, 0, text, strlen(text));
    free(text);
}

void api_reply_error(struct http_req *r, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    http_reply_json_verror(r, cairn_http_status(code), cairn_errname(code),
                           fmt, ap);
    va_end(ap);
}

bool api_body_json(struct http_req *r, bool want_array, json_t **out)
{
    json_error_t jerr;
    size_t len;
    const void *body = http_req_body(r, &len);
    json_t *j;

    j = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (j == NULL) {
        api_reply_error(r, CAIRN_EMALFORMED,
                        "the body is not JSON: line %d column %d: %s",
                        jerr.line, jerr.column, jerr.text);
        return false;
    }
    if (want_array ? !json_is_array(j) : !json_is_object(j)) {
        json_decref(j);
        api_reply_error(r, CAIRN_EINVAL, "the body must be a JSON %s",
                        want_array ? "array" : "object");
        return false;
    }
    *out = j;
    return true;
}

/* ------------------------------------------------------------------------
 * Calls
 * ---------------------------------------------------------------------- */

void api_call_drop(struct api_call *k)
{
    struct http_api *api = k->api;

    creq_release(&k->r);
    json_decref(k->doc);
    cairn_json_keep_free(&k->keep);
    free(k->writes);
    free(k->cmps);
    free(k->owned);
    free(k);
    api->calls--;
}

int api_call_code(const struct api_call *k)
{
    return k->r.code;
}

/* The default error answer: the code's status and name, the message, and
 * for a conflict the key's current revision and a txn's failed compare. */
static void call_error(struct api_call *k)
{
    const struct creq *r = &k->r;
    json_t *j = json_object();

    if (j == NULL) {
        http_reply_json_error(k->req, 500, "out_of_memory", "out of memory");
        return;
    }
    json_object_set_new(j, "error", json_string(r->errmsg));
    json_object_set_new(j, "code", json_string(cairn_errname(r->code)));
    if (r->code == CAIRN_ECONFLICT && r->has_res) {
        if (r->res.has & CAIRN_WIRE_RES_REV) {
            json_object_set_new(j, "revision",
                                json_integer((json_int_t)r->res.rev));
        }
        if (r->res.has & CAIRN_WIRE_RES_FAILED) {
            json_object_set_new(j, "failed", json_integer(r->res.failed));
        }
    }
    api_reply_json(k->req, cairn_http_status(r->code), j);
}

static void call_done(struct creq *r)
{
    struct api_call *k = (struct api_call *)r;

    if (k->req != NULL) {
        if (r->code == 0) {
            k->ok(k);
        } else if (k->failed != NULL) {
            k->failed(k);
        } else {
            call_error(k);
        }
    }
    api_call_drop(k);
}

/* Internal calls (no request) answer through ok/failed regardless. */
static void call_done_internal(struct creq *r)
{
    struct api_call *k = (struct api_call *)r;

    if (r->code == 0) {
        k->ok(k);
    } else {
        k->failed(k);
    }
    api_call_drop(k);
}

struct api_call *api_call_new(struct http_api *api, struct http_req *req,
                              const char *route, uint32_t op, uint32_t route_to)
{
    struct api_call *k = calloc(1, sizeof *k);

    if (k == NULL) {
        if (req != NULL) {
            http_reply_json_error(req, 500, "out_of_memory", "out of memory");
        }
        return NULL;
    }
    k->api = api;
    k->req = req;
    k->route = route;
    k->t0 = uv_hrtime();
    k->r.q.op = op;
    k->r.route = route_to;
    k->r.done = req != NULL ? call_done : call_done_internal;
    k->r.data = k;
    snprintf(k->r.what, sizeof k->r.what, "%s", route);
    api->calls++;
    return k;
}

/* Refuse @k before it was submitted: answer @code and free it. */
static void call_refuse(struct api_call *k, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void call_refuse(struct api_call *k, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (k->req != NULL) {
        http_reply_json_verror(k->req, cairn_http_status(code),
                               cairn_errname(code), fmt, ap);
    }
    va_end(ap);
    k->req = NULL;
    api_call_drop(k);
}

bool api_bucket_name(struct http_req *r, const char *bucket, size_t len,
                     char out[CAIRN_BUCKET_NAME_MAX + 1])
{
    bool ok = len >= 1 && len <= CAIRN_BUCKET_NAME_MAX;

    for (size_t i = 0; ok && i < len; i++) {
        char c = bucket[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9') || c == '_' || c == '-';
    }
    if (!ok) {
        if (r != NULL) {
            api_reply_error(r, CAIRN_EINVAL, "bucket name '%.*s' is invalid: "
                            "use 1..%d characters from [A-Za-z0-9_-]",
                            (int)(len > 64 ? 64 : len), bucket,
                            CAIRN_BUCKET_NAME_MAX);
        }
        return false;
    }
    memcpy(out, bucket, len);
    out[len] = '\0';
    return true;
}

bool api_call_bucket(struct api_call *k, const char *bucket, size_t len)
{
    if (!api_bucket_name(k->req, bucket, len, k->r.q.bucket)) {
        k->req = NULL;
        api_call_drop(k);
        return false;
    }
    snprintf(k->r.what, sizeof k->r.what, "%s %s", k->route, k->r.q.bucket);
    return true;
}

void api_call_submit(struct api_call *k)
{
    engine_submit(k->api->e, &k->r);
}

/* ------------------------------------------------------------------------
 * Query parameters
 * ---------------------------------------------------------------------- */

/* Query parameter @name as a boolean: absent false; "true"/"1"/"" true;
 * "false"/"0" false; else a 400 is answered and -1 returned. */
static int q_bool(struct http_req *r, const char *name)
{
    const char *v = http_req_query(r, name, NULL);

    if (v == NULL) {
        return 0;
    }
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || v[0] == '\0') {
        return 1;
    }
    if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) {
        return 0;
    }
    api_reply_error(r, CAIRN_EINVAL, "query parameter %s='%s' must be true "
                    "or false", name, v);
    return -1;
}

/* Query parameter @name as an unsigned number in 1..@max into *out (0 when
 * absent). Returns 0, or -1 with a 400 answered. */
static int q_u64(struct http_req *r, const char *name, uint64_t max,
                 uint64_t *out)
{
    const char *v = http_req_query(r, name, NULL);

    *out = 0;
    if (v == NULL) {
        return 0;
    }
    if (cairn_text_parse_u64(v, max, out) != 0 || *out == 0) {
        api_reply_error(r, CAIRN_EINVAL, "query parameter %s='%s' must be a "
                        "number from 1 to %llu", name, v,
                        (unsigned long long)max);
        return -1;
    }
    return 0;
}

/* Query parameter @name as bytes (NULL, 0 when absent). */
static const char *q_bytes(struct http_req *r, const char *name, size_t *len)
{
    *len = 0;
    return http_req_query(r, name, len);
}

/* ------------------------------------------------------------------------
 * Keys
 * ---------------------------------------------------------------------- */

/* A key call: @op on the bucket and key of segments 2 and 3. */
static struct api_call *key_call(struct http_api *api, struct http_req *r,
                                 const char *route, uint32_t op,
                                 const struct http_slice *s)
{
    struct api_call *k = api_call_new(api, r, route, op, ROUTE_BUCKET);

    if (k == NULL || !api_call_bucket(k, s[2].data, s[2].len)) {
        return NULL;
    }
    if (s[3].len == 0 || s[3].len > CAIRN_KEY_MAX) {
        call_refuse(k, CAIRN_EINVAL, "key of %zu bytes: keys are 1 to %d "
                    "bytes", s[3].len, CAIRN_KEY_MAX);
        return NULL;
    }
    k->r.q.w.key = s[3].data;
    k->r.q.w.key_len = s[3].len;
    snprintf(k->r.what, sizeof k->r.what, "%s %s/%.*s", route,
             k->r.q.bucket, (int)(s[3].len > 64 ? 64 : s[3].len), s[3].data);
    return k;
}

static void ok_revision(struct api_call *k)
{
    json_t *j = json_object();

    if (j != NULL) {
        json_object_set_new(j, "revision",
                            json_integer((json_int_t)k->r.res.rev));
    }
    api_reply_json(k->req, 200, j);
}

/* X-Cairn-Metadata: a JSON object, stored as compact JSON. */
static bool put_metadata(struct api_call *k)
{
    const char *h = http_req_header(k->req, "X-Cairn-Metadata");
    json_error_t jerr;
    json_t *m;
    char *text;

    if (h == NULL) {
        return true;
    }
    m = json_loads(h, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(m)) {
        json_decref(m);
        call_refuse(k, CAIRN_EINVAL, "X-Cairn-Metadata must be a JSON "
                    "object: %s", m == NULL ? jerr.text : "not an object");
        return false;
    }
    text = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    if (text == NULL) {
        call_refuse(k, CAIRN_ENOMEM, "out of memory");
        return false;
    }
    k->owned = text;
    if (strlen(text) > CAIRN_KEY_META_MAX) {
        call_refuse(k, CAIRN_ETOOLARGE, "X-Cairn-Metadata of %zu bytes: the "
                    "limit is %d", strlen(text), CAIRN_KEY_META_MAX);
        return false;
    }
    k->r.q.w.meta = text;
    k->r.q.w.meta_len = strlen(text);
    k->r.q.has |= CAIRN_WIRE_REQ_META;
    return true;
}

static void kv_put(struct http_api *api, struct http_req *r,
                   const struct http_slice *s)
{
    const char *ttl = http_req_query(r, "ttl", NULL);
    const char *exp = http_req_query(r, "expiration", NULL);
    uint64_t rev, at;
    int create;
    struct api_call *k;
    size_t len;
    const void *body;

    if ((create = q_bool(r, "create")) < 0 ||
        q_u64(r, "revision", UINT64_MAX, &rev) != 0 ||
        q_u64(r, "expiration", UINT64_MAX / CAIRN_NS_PER_S, &at) != 0) {
        return;
    }
    if (create && rev != 0) {
        api_reply_error(r, CAIRN_EINVAL, "create=true and revision=%llu "
                        "exclude each other", (unsigned long long)rev);
        return;
    }
    if (ttl != NULL && exp != NULL) {
        api_reply_error(r, CAIRN_EINVAL, "ttl and expiration exclude each "
                        "other");
        return;
    }
    k = key_call(api, r, "kv.put",
                 create ? CAIRN_WIRE_CREATE
                 : rev != 0 ? CAIRN_WIRE_UPDATE : CAIRN_WIRE_PUT, s);
    if (k == NULL) {
        return;
    }
    body = http_req_body(r, &len);
    k->r.q.w.value = len > 0 ? body : "";
    k->r.q.w.value_len = len;
    k->r.q.rev = rev;
    if (rev != 0) {
        k->r.q.has |= CAIRN_WIRE_REQ_REV;
    }
    if (ttl != NULL) {
        if (cairn_text_parse_duration(ttl, &k->r.q.w.ttl_ns) != 0 ||
            k->r.q.w.ttl_ns <= 0) {
            call_refuse(k, CAIRN_EINVAL, "query parameter ttl='%s' must be a "
                        "duration like 500ms, 30s, 5m, 2h or 1d, or seconds",
                        ttl);
            return;
        }
        k->r.q.has |= CAIRN_WIRE_REQ_TTL;
    }
    if (at != 0) {
        k->r.q.w.expires_at = at * (uint64_t)CAIRN_NS_PER_S;
        k->r.q.has |= CAIRN_WIRE_REQ_EXP;
    }
    if (!put_metadata(k)) {
        return;
    }
    k->ok = ok_revision;
    api_call_submit(k);
}

enum { TYPE_BINARY, TYPE_TEXT, TYPE_JSON };

static void ok_get(struct api_call *k)
{
    const struct cairn_wire_entry *w = &k->r.res.entry;
    struct http_header h[8];
    char rev[24], crev[24], upd[40], exp[40], at[24];
    char *meta = NULL;
    size_t n = 0;
    static const char *const types[] = {"application/octet-stream",
                                        "text/plain; charset=utf-8",
                                        "application/json"};

    if (k->type == TYPE_JSON) {
        json_t *j = json_loadb(w->value_len > 0 ? w->value : "",
                               w->value_len, JSON_DECODE_ANY, NULL);
        if (j == NULL) {
            api_reply_error(k->req, CAIRN_EINVAL, "%s: the value is not JSON "
                            "(type=json)", k->r.what);
            return;
        }
        json_decref(j);
    }
    snprintf(rev, sizeof rev, "%llu", (unsigned long long)w->revision);
    snprintf(crev, sizeof crev, "%llu",
             (unsigned long long)w->create_revision);
    cairn_text_format_time(w->updated, upd, sizeof upd);
    h[n++] = (struct http_header){"X-Cairn-Revision", rev};
    h[n++] = (struct http_header){"X-Cairn-Created-Revision", crev};
    h[n++] = (struct http_header){"X-Cairn-Updated", upd};
    if (w->expires != 0) {
        cairn_text_format_time(w->expires, exp, sizeof exp);
        h[n++] = (struct http_header){"X-Cairn-Expires", exp};
    }
    if (w->has_meta && w->meta_len > 0) {
        /* Only metadata that is one printable line of UTF-8 fits a header. */
        json_t *s = cairn_json_bytes(w->meta, w->meta_len);
        bool printable = s != NULL;
        json_decref(s);
        for (size_t i = 0; printable && i < w->meta_len; i++) {
            unsigned char c = ((const unsigned char *)w->meta)[i];
            printable = c >= 0x20 && c != 0x7f;
        }
        if (printable && (meta = strndup(w->meta, w->meta_len)) != NULL) {
            h[n++] = (struct http_header){"X-Cairn-Metadata", meta};
        }
    }
    if (k->r.res.has & CAIRN_WIRE_RES_AT) {
        snprintf(at, sizeof at, "%llu", (unsigned long long)k->r.res.at);
        h[n++] = (struct http_header){"X-Cairn-Stale-At", at};
    }
    http_reply(k->req, 200, types[k->type], h, n, w->value, w->value_len);
    free(meta);
}

/* The entries of a history or scan answer as a JSON array. */
static json_t *entries_json(const struct cairn_wire_response *res)
{
    json_t *a = json_array();
    cairn_entry e;

    for (uint32_t i = 0; a != NULL && i < res->n_entries; i++) {
        creq_entry_view(&e, &res->entries[i]);
        if (json_array_append_new(a, cairn_json_entry(NULL, &e)) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static void set_stale_at(json_t *j, const struct cairn_wire_response *res)
{
    if (res->has & CAIRN_WIRE_RES_AT) {
        json_object_set_new(j, "stale_at", json_integer((json_int_t)res->at));
    }
}

static void ok_history(struct api_call *k)
{
    json_t *j = json_object();

    if (j != NULL) {
        json_object_set_new(j, "bucket", json_string(k->r.q.bucket));
        cairn_json_set_bytes(j, "key", k->r.q.w.key, k->r.q.w.key_len);
        json_object_set_new(j, "history", entries_json(&k->r.res));
        set_stale_at(j, &k->r.res);
    }
    api_reply_json(k->req, 200, j);
}

static void kv_get(struct http_api *api, struct http_req *r,
                   const struct http_slice *s)
{
    const char *type = http_req_query(r, "type", NULL);
    int history, stale, t = TYPE_BINARY;
    uint64_t rev;
    struct api_call *k;

    if ((history = q_bool(r, "history")) < 0 ||
        (stale = q_bool(r, "stale")) < 0 ||
        q_u64(r, "revision", UINT64_MAX, &rev) != 0) {
        return;
    }
    if (type != NULL) {
        if (strcmp(type, "text") == 0) {
            t = TYPE_TEXT;
        } else if (strcmp(type, "json") == 0) {
            t = TYPE_JSON;
        } else if (strcmp(type, "binary") != 0) {
            api_reply_error(r, CAIRN_EINVAL, "query parameter type='%s' is "
                            "none of text, json, binary", type);
            return;
        }
    }
    if (history && rev != 0) {
        api_reply_error(r, CAIRN_EINVAL, "history=true and revision exclude "
                        "each other");
        return;
    }
    k = key_call(api, r, history ? "kv.history" : "kv.get",
                 history ? CAIRN_WIRE_HISTORY : CAIRN_WIRE_GET, s);
    if (k == NULL) {
        return;
    }
    if (stale) {
        k->r.q.has |= CAIRN_WIRE_REQ_STALE;
        k->r.q.stale = true;
    }
    if (rev != 0) {
        k->r.q.has |= CAIRN_WIRE_REQ_REV;
        k->r.q.rev = rev;
    }
    k->type = t;
    k->ok = history ? ok_history : ok_get;
    api_call_submit(k);
}

static void kv_delete(struct http_api *api, struct http_req *r,
                      const struct http_slice *s)
{
    int purge;
    uint64_t rev;
    struct api_call *k;

    if ((purge = q_bool(r, "purge")) < 0 ||
        q_u64(r, "revision", UINT64_MAX, &rev) != 0) {
        return;
    }
    k = key_call(api, r, purge ? "kv.purge" : "kv.delete",
                 purge ? CAIRN_WIRE_PURGE : CAIRN_WIRE_DELETE, s);
    if (k == NULL) {
        return;
    }
    if (rev != 0) {
        k->r.q.has |= CAIRN_WIRE_REQ_REV;
        k->r.q.rev = rev;
    }
    k->ok = ok_revision;
    api_call_submit(k);
}

static void ok_list(struct api_call *k)
{
    const struct cairn_wire_response *res = &k->r.res;
    json_t *j = json_object();
    char *cursor = NULL;

    if (j != NULL) {
        json_object_set_new(j, "bucket", json_string(k->r.q.bucket));
        json_object_set_new(j, "entries", entries_json(res));
        json_object_set_new(j, "more", json_boolean(res->more));
        if (res->more && res->cursor != NULL &&
            (cursor = cairn_text_hex_encode(res->cursor, res->cursor_len)) !=
                NULL) {
            json_object_set_new(j, "cursor", json_string(cursor));
        } else {
            json_object_set_new(j, "cursor", json_null());
        }
        set_stale_at(j, res);
    }
    free(cursor);
    api_reply_json(k->req, 200, j);
}

static void kv_list(struct http_api *api, struct http_req *r,
                    const struct http_slice *s)
{
    struct cairn_wire_request *q;
    struct api_call *k;
    const char *v, *cursor;
    uint64_t limit;
    int keys_only, stale;
    size_t len;

    if ((keys_only = q_bool(r, "keys_only")) < 0 ||
        (stale = q_bool(r, "stale")) < 0 ||
        q_u64(r, "limit", LIST_LIMIT_MAX, &limit) != 0) {
        return;
    }
    k = api_call_new(api, r, "kv.list", CAIRN_WIRE_SCAN, ROUTE_BUCKET);
    if (k == NULL || !api_call_bucket(k, s[2].data, s[2].len)) {
        return;
    }
    q = &k->r.q;
    if ((v = q_bytes(r, "prefix", &len)) != NULL) {
        q->has |= CAIRN_WIRE_REQ_PREFIX;
        q->prefix = v;
        q->prefix_len = len;
    }
    if ((v = q_bytes(r, "start", &len)) != NULL) {
        q->has |= CAIRN_WIRE_REQ_START;
        q->start = v;
        q->start_len = len;
    }
    if ((v = q_bytes(r, "end", &len)) != NULL) {
        q->has |= CAIRN_WIRE_REQ_END;
        q->end = v;
        q->end_len = len;
    }
    if ((q->has & CAIRN_WIRE_REQ_PREFIX) &&
        (q->has & (CAIRN_WIRE_REQ_START | CAIRN_WIRE_REQ_END))) {
        call_refuse(k, CAIRN_EINVAL, "prefix and start/end exclude each "
                    "other");
        return;
    }
    if ((cursor = http_req_query(r, "cursor", NULL)) != NULL) {
        if ((k->owned = cairn_text_hex_decode(cursor, &len)) == NULL) {
            call_refuse(k, CAIRN_EINVAL, "query parameter cursor='%.64s' is "
                        "not a cursor from a previous page", cursor);
            return;
        }
        q->has |= CAIRN_WIRE_REQ_CURSOR;
        q->cursor = k->owned;
        q->cursor_len = len;
    }
    q->has |= CAIRN_WIRE_REQ_LIMIT;
    q->limit = limit != 0 ? (uint32_t)limit : LIST_LIMIT_DEFAULT;
    if (keys_only) {
        q->has |= CAIRN_WIRE_REQ_KEYS_ONLY;
        q->keys_only = true;
    }
    if (stale) {
        q->has |= CAIRN_WIRE_REQ_STALE;
        q->stale = true;
    }
    k->ok = ok_list;
    api_call_submit(k);
}

/* POST /v1/cas/{bucket}/{key}: {"old": string|null, "new": string, ...}. */
static void kv_cas(struct http_api *api, struct http_req *r,
                   const struct http_slice *s)
{
    static const char *const known[] = {"old", "old_b64", "new", "new_b64",
                                        "ttl", "expires_at", "meta"};
    char msg[CAIRN_ERRMSG_SIZE];
    struct cairn_write w;
    struct api_call *k;
    json_t *doc, *v, *as_write;
    bool given;
    int rc;

    if (!api_body_json(r, false, &doc)) {
        return;
    }
    if ((k = key_call(api, r, "kv.cas", CAIRN_WIRE_CAS, s)) == NULL) {
        json_decref(doc);
        return;
    }
    k->doc = doc;
    if ((rc = cairn_json_known_fields(doc, known, sizeof known / sizeof known[0],
                                      "old, new, ttl, expires_at, meta; "
                                      "old_b64, new_b64", msg,
                                      sizeof msg)) != 0) {
        call_refuse(k, rc, "%s", msg);
        return;
    }
    if (json_is_null(json_object_get(doc, "old"))) {
        k->r.q.has_old = false;
    } else {
        rc = cairn_json_field_bytes(doc, "old", &k->keep, &k->r.q.old,
                                    &k->r.q.old_len, &given, msg, sizeof msg);
        if (rc == 0 && !given) {
            rc = CAIRN_EINVAL;
            snprintf(msg, sizeof msg, "\"old\" is missing (null: only if "
                     "the key is absent)");
        }
        if (rc != 0) {
            call_refuse(k, rc, "%s", msg);
            return;
        }
        k->r.q.has_old = true;
        if (k->r.q.old == NULL) {
            k->r.q.old = "";
        }
    }
    /* "new" and the options are a write's: read them as one. */
    as_write = json_deep_copy(doc);
    if (as_write == NULL) {
        call_refuse(k, CAIRN_ENOMEM, "out of memory");
        return;
    }
    json_object_del(as_write, "old");
    json_object_del(as_write, "old_b64");
    if ((v = json_object_get(as_write, "new")) != NULL) {
        json_object_set(as_write, "value", v);
        json_object_del(as_write, "new");
    }
    if ((v = json_object_get(as_write, "new_b64")) != NULL) {
        json_object_set(as_write, "value_b64", v);
        json_object_del(as_write, "new_b64");
    }
    json_object_set_new(as_write, "key", json_string("-"));
    /* The write points into as_write: keep it with the call. */
    json_object_set_new(doc, "\x01write", as_write);
    rc = cairn_json_write(as_write, 0, &w, &k->keep, msg, sizeof msg);
    if (rc != 0) {
        call_refuse(k, rc, "%s", strstr(msg, "\"value\"") != NULL
                                      ? "\"new\" is missing or not a string"
                                      : msg);
        return;
    }
    k->r.q.w.value = w.value;
    k->r.q.w.value_len = w.value_len;
    if (w.meta != NULL) {
        k->r.q.has |= CAIRN_WIRE_REQ_META;
        k->r.q.w.meta = w.meta;
        k->r.q.w.meta_len = w.meta_len;
    }
    if (w.ttl_ns > 0) {
        k->r.q.has |= CAIRN_WIRE_REQ_TTL;
        k->r.q.w.ttl_ns = w.ttl_ns;
    }
    if (w.expires_at > 0) {
        k->r.q.has |= CAIRN_WIRE_REQ_EXP;
        k->r.q.w.expires_at = w.expires_at;
    }
    k->ok = ok_revision;
    api_call_submit(k);
}

static void ok_txn(struct api_call *k)
{
    json_t *j = json_object();

    if (j != NULL) {
        if (k->flag) { /* bulk */
            json_object_set_new(j, "count", json_integer(k->r.q.n_writes));
            json_object_set_new(j, "first_revision",
                                json_integer((json_int_t)k->r.res.rev));
            json_object_set_new(j, "last_revision",
                                json_integer((json_int_t)k->r.res.last_rev));
        } else {
            json_object_set_new(j, "revision",
                                json_integer((json_int_t)k->r.res.rev));
            json_object_set_new(j, "last_revision",
                                json_integer((json_int_t)k->r.res.last_rev));
        }
    }
    api_reply_json(k->req, 200, j);
}

/* The writes of JSON array @a into k->writes. */
static bool parse_writes(struct api_call *k, json_t *a, unsigned flags)
{
    char msg[CAIRN_ERRMSG_SIZE];
    size_t n = json_array_size(a), i;
    int rc;

    if (n > CAIRN_TXN_OPS_MAX) {
        call_refuse(k, CAIRN_ETOOLARGE, "%s: %zu writes, more than the limit "
                    "of %d", k->r.what, n, CAIRN_TXN_OPS_MAX);
        return false;
    }
    if ((k->writes = calloc(n > 0 ? n : 1, sizeof *k->writes)) == NULL) {
        call_refuse(k, CAIRN_ENOMEM, "out of memory");
        return false;
    }
    for (i = 0; i < n; i++) {
        rc = cairn_json_write(json_array_get(a, i), flags, &k->writes[i],
                              &k->keep, msg, sizeof msg);
        if (rc != 0) {
            call_refuse(k, rc, "write [%zu]: %s", i, msg);
            return false;
        }
    }
    k->r.q.writes = k->writes;
    k->r.q.n_writes = (uint32_t)n;
    return true;
}

/* One compare of a txn: {"key", "target", "op", "value"|"revision"|
 * "exists"}. */
static int parse_compare(struct api_call *k, json_t *o, struct cairn_compare *c,
                         char *msg, size_t size)
{
    static const char *const known[] = {"key", "key_b64", "target", "op",
                                        "value", "value_b64", "revision",
                                        "exists"};
    const char *target = json_string_value(json_object_get(o, "target"));
    const char *op = json_string_value(json_object_get(o, "op"));
    json_t *v;
    bool given;
    int rc;

    if (!json_is_object(o)) {
        snprintf(msg, size, "expected an object {\"key\", \"target\", \"op\", "
                 "...}");
        return CAIRN_EINVAL;
    }
    if ((rc = cairn_json_known_fields(o, known, sizeof known / sizeof known[0],
                                      "key, target, op, value, revision, "
                                      "exists; key_b64, value_b64", msg,
                                      size)) != 0) {
        return rc;
    }
    memset(c, 0, sizeof *c);
    if ((rc = cairn_json_field_bytes(o, "key", &k->keep, &c->key, &c->key_len,
                                     &given, msg, size)) != 0) {
        return rc;
    }
    if (!given || c->key_len == 0 || c->key_len > CAIRN_KEY_MAX) {
        snprintf(msg, size, "\"key\" must be 1 to %d bytes", CAIRN_KEY_MAX);
        return CAIRN_EINVAL;
    }
    if (op == NULL || strcmp(op, "eq") == 0) {
        c->op = CAIRN_CMP_EQ;
    } else if (strcmp(op, "ne") == 0) {
        c->op = CAIRN_CMP_NE;
    } else if (strcmp(op, "lt") == 0) {
        c->op = CAIRN_CMP_LT;
    } else if (strcmp(op, "gt") == 0) {
        c->op = CAIRN_CMP_GT;
    } else {
        snprintf(msg, size, "\"op\" must be \"eq\", \"ne\", \"lt\" or \"gt\"");
        return CAIRN_EINVAL;
    }
    if (target == NULL) {
        snprintf(msg, size, "\"target\" must be \"value\", \"revision\" or "
                 "\"exists\"");
        return CAIRN_EINVAL;
    }
    if (strcmp(target, "value") == 0) {
        c->target = CAIRN_CMP_VALUE;
        if ((rc = cairn_json_field_bytes(o, "value", &k->keep, &c->value,
                                         &c->value_len, &given, msg, size)) !=
            0) {
            return rc;
        }
        if (!given) {
            snprintf(msg, size, "a value compare needs \"value\"");
            return CAIRN_EINVAL;
        }
        if (c->value == NULL) {
            c->value = "";
        }
    } else if (strcmp(target, "revision") == 0) {
        v = json_object_get(o, "revision");
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            snprintf(msg, size, "a revision compare needs \"revision\", a "
                     "number");
            return CAIRN_EINVAL;
        }
        c->target = CAIRN_CMP_REVISION;
        c->revision = (uint64_t)json_integer_value(v);
    } else if (strcmp(target, "exists") == 0) {
        v = json_object_get(o, "exists");
        if (!json_is_boolean(v)) {
            snprintf(msg, size, "an exists compare needs \"exists\", a "
                     "boolean");
            return CAIRN_EINVAL;
        }
        c->target = CAIRN_CMP_EXISTS;
        c->exists = json_is_true(v);
    } else {
        snprintf(msg, size, "\"target\" '%s' is none of \"value\", "
                 "\"revision\", \"exists\"", target);
        return CAIRN_EINVAL;
    }
    if (c->target != CAIRN_CMP_REVISION && c->op != CAIRN_CMP_EQ &&
        c->op != CAIRN_CMP_NE) {
        snprintf(msg, size, "\"lt\" and \"gt\" compare revisions only");
        return CAIRN_EINVAL;
    }
    return 0;
}

/* POST /v1/txn/{bucket} and POST /v1/bulk/{bucket}. */
static void kv_txn(struct http_api *api, struct http_req *r,
                   const struct http_slice *s, bool bulk)
{
    char msg[CAIRN_ERRMSG_SIZE];
    struct api_call *k;
    json_t *doc, *cmp, *writes, *v;
    const char *name;
    size_t n, i;
    int rc;

    if (!api_body_json(r, bulk, &doc)) {
        return;
    }
    k = api_call_new(api, r, bulk ? "kv.bulk" : "kv.txn", CAIRN_WIRE_TXN,
                     ROUTE_BUCKET);
    if (k == NULL) {
        json_decref(doc);
        return;
    }
    k->doc = doc;
    if (!api_call_bucket(k, s[2].data, s[2].len)) {
        return;
    }
    k->flag = bulk;
    if (bulk) {
        if (!parse_writes(k, doc, 0)) {
            return;
        }
    } else {
        json_object_foreach(doc, name, v) {
            if (strcmp(name, "compare") != 0 && strcmp(name, "writes") != 0) {
                call_refuse(k, CAIRN_EINVAL, "unknown field \"%s\" (fields: "
                            "compare, writes)", name);
                return;
            }
        }
        cmp = json_object_get(doc, "compare");
        writes = json_object_get(doc, "writes");
        if (!json_is_array(writes) || (cmp != NULL && !json_is_array(cmp))) {
            call_refuse(k, CAIRN_EINVAL, "\"writes\" (and \"compare\") must "
                        "be arrays");
            return;
        }
        if (!parse_writes(k, writes, CAIRN_JSON_WRITE_OP)) {
            return;
        }
        n = json_array_size(cmp);
        if (n > CAIRN_TXN_COMPARES_MAX) {
            call_refuse(k, CAIRN_ETOOLARGE, "%zu compares, more than the "
                        "limit of %d", n, CAIRN_TXN_COMPARES_MAX);
            return;
        }
        if (n > 0) {
            if ((k->cmps = calloc(n, sizeof *k->cmps)) == NULL) {
                call_refuse(k, CAIRN_ENOMEM, "out of memory");
                return;
            }
            for (i = 0; i < n; i++) {
                rc = parse_compare(k, json_array_get(cmp, i), &k->cmps[i], msg,
                                   sizeof msg);
                if (rc != 0) {
                    call_refuse(k, rc, "compare [%zu]: %s", i, msg);
                    return;
                }
            }
            k->r.q.has |= CAIRN_WIRE_REQ_CMP;
            k->r.q.compares = k->cmps;
            k->r.q.n_compares = (uint32_t)n;
        }
    }
    if (k->r.q.n_writes == 0) {
        call_refuse(k, CAIRN_EINVAL, "no writes: give at least one");
        return;
    }
    k->ok = ok_txn;
    api_call_submit(k);
}

/* ------------------------------------------------------------------------
 * Buckets
 * ---------------------------------------------------------------------- */

/* A string field of @o into @dst (@size bytes with the NUL). */
static int config_string(json_t *v, const char *name, char *dst, size_t size,
                         char *msg, size_t msize)
{
    if (!json_is_string(v) || json_string_length(v) >= size ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        snprintf(msg, msize, "\"%s\" must be a string of at most %zu bytes",
                 name, size - 1);
        return CAIRN_EINVAL;
    }
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int config_int(json_t *v, const char *name, int64_t min, int64_t max,
                      int64_t *out, char *msg, size_t size)
{
    if (!json_is_integer(v) || json_integer_value(v) < min ||
        json_integer_value(v) > max) {
        snprintf(msg, size, "\"%s\" must be an integer from %lld to %lld",
                 name, (long long)min, (long long)max);
        return CAIRN_EINVAL;
    }
    *out = json_integer_value(v);
    return 0;
}

static int config_placement(json_t *v, cairn_bucket_config *cfg, char *msg,
                            size_t size)
{
    const char *name;
    json_t *f, *tag;
    size_t i;
    int rc;

    if (!json_is_object(v)) {
        snprintf(msg, size, "\"placement\" must be an object {\"cluster\", "
                 "\"tags\"}");
        return CAIRN_EINVAL;
    }
    json_object_foreach(v, name, f) {
        if (strcmp(name, "cluster") == 0) {
            if ((rc = config_string(f, "placement.cluster", cfg->cluster,
                                    sizeof cfg->cluster, msg, size)) != 0) {
                return rc;
            }
        } else if (strcmp(name, "tags") == 0) {
            if (!json_is_array(f) || json_array_size(f) > CAIRN_TAGS_MAX) {
                snprintf(msg, size, "\"placement.tags\" must be an array of "
                         "at most %d strings", CAIRN_TAGS_MAX);
                return CAIRN_EINVAL;
            }
            json_array_foreach(f, i, tag) {
                if ((rc = config_string(tag, "placement.tags[]",
                                        cfg->tags[i], sizeof cfg->tags[i], msg,
                                        size)) != 0) {
                    return rc;
                }
            }
            cfg->n_tags = (uint32_t)json_array_size(f);
        } else {
            snprintf(msg, size, "unknown field \"placement.%s\" (fields: "
                     "cluster, tags)", name);
            return CAIRN_EINVAL;
        }
    }
    return 0;
}

static int config_metadata(json_t *v, cairn_bucket_config *cfg, char *msg,
                           size_t size)
{
    const char *name;
    json_t *f;
    uint32_t n = 0;

    if (!json_is_object(v) || json_object_size(v) > CAIRN_METADATA_PAIRS_MAX) {
        snprintf(msg, size, "\"metadata\" must be an object of at most %d "
                 "strings", CAIRN_METADATA_PAIRS_MAX);
        return CAIRN_EINVAL;
    }
    json_object_foreach(v, name, f) {
        if (strlen(name) > CAIRN_METADATA_KEY_MAX) {
            snprintf(msg, size, "metadata key of %zu bytes: the limit is %d",
                     strlen(name), CAIRN_METADATA_KEY_MAX);
            return CAIRN_EINVAL;
        }
        snprintf(cfg->metadata[n].key, sizeof cfg->metadata[n].key, "%s",
                 name);
        if (config_string(f, "metadata value", cfg->metadata[n].value,
                          sizeof cfg->metadata[n].value, msg, size) != 0) {
            return CAIRN_EINVAL;
        }
        n++;
    }
    cfg->n_metadata = n;
    return 0;
}

int api_config_parse(json_t *o, const char *name, const char *skip,
                     cairn_bucket_config *cfg, char *msg, size_t size)
{
    const char *f;
    json_t *v;
    int64_t x;
    int rc = 0;

    cairn_bucket_config_init(cfg, name);
    json_object_foreach(o, f, v) {
        if (skip != NULL && strcmp(f, skip) == 0) {
            continue;
        }
        if (strcmp(f, "description") == 0) {
            rc = config_string(v, f, cfg->description,
                               sizeof cfg->description, msg, size);
        } else if (strcmp(f, "ttl") == 0) {
            rc = config_int(v, f, 0, INT64_MAX, &cfg->ttl_ns, msg, size);
        } else if (strcmp(f, "history") == 0) {
            if ((rc = config_int(v, f, 1, CAIRN_HISTORY_MAX, &x, msg,
                                 size)) == 0) {
                cfg->history = (uint32_t)x;
            }
        } else if (strcmp(f, "max_bytes") == 0) {
            rc = config_int(v, f, -1, INT64_MAX, &cfg->max_bytes, msg, size);
        } else if (strcmp(f, "max_value_size") == 0) {
            rc = config_int(v, f, -1, CAIRN_VALUE_HARD_MAX,
                            &cfg->max_value_size, msg, size);
        } else if (strcmp(f, "num_replicas") == 0) {
            if ((rc = config_int(v, f, 1, CAIRN_REPLICAS_MAX, &x, msg,
                                 size)) == 0) {
                cfg->num_replicas = (uint32_t)x;
            }
        } else if (strcmp(f, "storage") == 0) {
            const char *st = json_string_value(v);
            if (st != NULL && strcmp(st, "file") == 0) {
                cfg->storage = CAIRN_STORAGE_FILE;
            } else if (st != NULL && strcmp(st, "memory") == 0) {
                cfg->storage = CAIRN_STORAGE_MEMORY;
            } else {
                snprintf(msg, size, "\"storage\" must be \"file\" or "
                         "\"memory\"");
                rc = CAIRN_EINVAL;
            }
        } else if (strcmp(f, "compression") == 0) {
            if (!json_is_boolean(v)) {
                snprintf(msg, size, "\"compression\" must be a boolean");
                rc = CAIRN_EINVAL;
            }
            cfg->compression = json_is_true(v);
        } else if (strcmp(f, "metadata") == 0) {
            rc = config_metadata(v, cfg, msg, size);
        } else if (strcmp(f, "placement") == 0) {
            rc = config_placement(v, cfg, msg, size);
        } else if (strcmp(f, "mirror") == 0 || strcmp(f, "republish") == 0 ||
                   strcmp(f, "sources") == 0) {
            snprintf(msg, size, "%s is not supported by cairn: a bucket "
                     "cannot mirror, source from or republish to other "
                     "streams", f);
            rc = CAIRN_EINVAL;
        } else {
            snprintf(msg, size, "unknown field \"%s\" (fields: description, "
                     "ttl, history, max_bytes, max_value_size, storage, "
                     "num_replicas, compression, metadata, placement)", f);
            rc = CAIRN_EINVAL;
        }
        if (rc != 0) {
            return rc;
        }
    }
    return cairn_bucket_config_validate(cfg, msg) != 0 ? CAIRN_EINVAL : 0;
}

static void ok_bucket_create(struct api_call *k)
{
    json_t *j = json_object();

    if (j != NULL) {
        json_object_set_new(j, "bucket", json_string(k->r.q.bucket));
        json_object_set_new(j, "created", cairn_json_time(k->r.res.created));
    }
    api_reply_json(k->req, 200, j);
}

static void bucket_create(struct http_api *api, struct http_req *r,
                          const struct http_slice *s)
{
    char msg[CAIRN_ERRMSG_SIZE];
    struct api_call *k;
    json_t *doc;
    size_t len;
    int rc;

    http_req_body(r, &len);
    if (len == 0) {
        doc = json_object();
    } else if (!api_body_json(r, false, &doc)) {
        return;
    }
    k = api_call_new(api, r, "bucket.create", CAIRN_WIRE_BUCKET_CREATE,
                     ROUTE_META);
    if (k == NULL) {
        json_decref(doc);
        return;
    }
    k->doc = doc;
    if (!api_call_bucket(k, s[2].data, s[2].len)) {
        return;
    }
    rc = api_config_parse(doc, k->r.q.bucket, NULL, &k->cfg, msg, sizeof msg);
    if (rc != 0) {
        call_refuse(k, rc, "bucket %s: %s", k->r.q.bucket, msg);
        return;
    }
    k->r.q.config = &k->cfg;
    k->ok = ok_bucket_create;
    api_call_submit(k);
}

static void ok_bucket_info(struct api_call *k)
{
    cairn_bucket_details d;

    creq_bucket_details(&d, k->r.res.info);
    api_reply_json(k->req, 200, cairn_json_bucket_details(&d));
}

static void ok_bucket_delete(struct api_call *k)
{
    json_t *j = json_object();

    if (j != NULL) {
        json_object_set_new(j, "bucket", json_string(k->r.q.bucket));
        json_object_set_new(j, "deleted", json_true());
    }
    api_reply_json(k->req, 200, j);
}

static void bucket_one(struct http_api *api, struct http_req *r,
                       const struct http_slice *s, bool del)
{
    struct api_call *k =
        api_call_new(api, r, del ? "bucket.delete" : "bucket.info",
                     del ? CAIRN_WIRE_BUCKET_DELETE : CAIRN_WIRE_BUCKET_INFO,
                     del ? ROUTE_META : ROUTE_BUCKET);

    if (k == NULL || !api_call_bucket(k, s[2].data, s[2].len)) {
        return;
    }
    k->ok = del ? ok_bucket_delete : ok_bucket_info;
    api_call_submit(k);
}

/* ------------------------------------------------------------------------
 * The bucket list: bucket.list, then bucket.info of each bucket. Shared
 * with kv-bucket-list (http_functions.c) through api_bucket_list().
 * ---------------------------------------------------------------------- */

struct bucket_list {
    struct http_req *req;
    void (*answer)(struct http_req *req, int code, const char *errmsg,
                   const cairn_bucket_details *d, uint32_t n);
    uint32_t n, waiting;
    int code; /* the first error */
    char errmsg[CAIRN_ERRMSG_SIZE];
    cairn_bucket_details d[]; /* n */
};

static void bucket_list_finish(struct bucket_list *l)
{
    l->answer(l->req, l->code, l->errmsg, l->d, l->n);
    free(l);
}

static void list_info_done(struct api_call *k)
{
    struct bucket_list *l = k->data;
    uint32_t i = (uint32_t)k->type;

    if (k->r.code == 0) {
        creq_bucket_details(&l->d[i], k->r.res.info);
    } else if (k->r.code == CAIRN_ENOBUCKET) {
        l->d[i].config.name[0] = '\0'; /* deleted meanwhile: left out */
    } else if (l->code == 0) {
        l->code = k->r.code;
        snprintf(l->errmsg, sizeof l->errmsg, "%s", k->r.errmsg);
    }
    if (--l->waiting == 0) {
        bucket_list_finish(l);
    }
}

static void list_names_done(struct api_call *k)
{
    struct bucket_list *l, *small = k->data;
    const struct cairn_wire_response *res = &k->r.res;
    uint32_t n = res->n_buckets;

    if (k->r.code != 0) {
        small->code = k->r.code;
        snprintf(small->errmsg, sizeof small->errmsg, "%s", k->r.errmsg);
        bucket_list_finish(small);
        return;
    }
    l = calloc(1, sizeof *l + n * sizeof l->d[0]);
    if (l == NULL) {
        small->code = CAIRN_ENOMEM;
        snprintf(small->errmsg, sizeof small->errmsg, "out of memory");
        bucket_list_finish(small);
        return;
    }
    *l = *small;
    free(small);
    l->n = n;
    l->waiting = 1; /* until every info call is out */
    for (uint32_t i = 0; i < n; i++) {
        struct api_call *q = api_call_new(k->api, NULL, "bucket.info",
                                          CAIRN_WIRE_BUCKET_INFO,
                                          ROUTE_BUCKET);
        const struct cairn_wire_str *name = &res->buckets[i].name;
        if (q == NULL || name->len > CAIRN_BUCKET_NAME_MAX) {
            if (q != NULL) {
                api_call_drop(q);
            }
            l->code = l->code != 0 ? l->code : CAIRN_ENOMEM;
            snprintf(l->errmsg, sizeof l->errmsg, "out of memory");
            continue;
        }
        memcpy(q->r.q.bucket, name->ptr, name->len);
        q->r.q.bucket[name->len] = '\0';
        q->data = l;
        q->type = (int)i;
        q->ok = list_info_done;
        q->failed = list_info_done;
        l->waiting++;
        api_call_submit(q);
    }
    if (--l->waiting == 0) {
        bucket_list_finish(l);
    }
}

void api_bucket_list(struct http_api *api, struct http_req *req,
                     void (*answer)(struct http_req *req, int code,
                                    const char *errmsg,
                                    const cairn_bucket_details *d, uint32_t n))
{
    struct bucket_list *l = calloc(1, sizeof *l);
    struct api_call *k;

    if (l == NULL) {
        answer(req, CAIRN_ENOMEM, "out of memory", NULL, 0);
        return;
    }
    l->req = req;
    l->answer = answer;
    k = api_call_new(api, NULL, "bucket.list", CAIRN_WIRE_BUCKET_LIST,
                     ROUTE_META);
    if (k == NULL) {
        free(l);
        answer(req, CAIRN_ENOMEM, "out of memory", NULL, 0);
        return;
    }
    k->data = l;
    k->ok = list_names_done;
    k->failed = list_names_done;
    api_call_submit(k);
}

static void bucket_list_answer(struct http_req *req, int code,
                               const char *errmsg,
                               const cairn_bucket_details *d, uint32_t n)
{
    json_t *j, *a;

    if (code != 0) {
        api_reply_error(req, code, "bucket list: %s", errmsg);
        return;
    }
    j = json_object();
    a = json_array();
    for (uint32_t i = 0; j != NULL && a != NULL && i < n; i++) {
        json_t *b;
        if (d[i].config.name[0] == '\0') {
            continue;
        }
        b = cairn_json_bucket_details(&d[i]);
        json_array_append_new(a, b);
    }
    if (j != NULL) {
        json_object_set_new(j, "buckets", a);
    } else {
        json_decref(a);
    }
    api_reply_json(req, 200, j);
}

/* ------------------------------------------------------------------------
 * Routing
 * ---------------------------------------------------------------------- */

static bool is(const struct http_slice *s, const char *lit)
{
    return s->len == strlen(lit) && memcmp(s->data, lit, s->len) == 0;
}

static void method_not_allowed(struct http_req *r, const char *allow)
{
    struct http_header h = {"Allow", allow};
    char body[160];
    int n = snprintf(body, sizeof body,
                     "{\"error\":\"method %s is not allowed here; allowed: "
                     "%s\",\"code\":\"method_not_allowed\"}",
                     http_req_method(r), allow);

    http_reply(r, 405, "application/json", &h, 1, body, (size_t)n);
}

/* The routes: which one @segs name, and the methods it takes. */
enum route {
    R_NONE,
    R_HEALTHZ,
    R_BUCKETS,
    R_BUCKET,
    R_KV_LIST,
    R_KV_KEY,
    R_CAS,
    R_TXN,
    R_BULK,
    R_WATCH,
    R_FUNCTIONS,
};

static const struct {
    const char *first, *second; /* the path's segments; NULL: any */
    size_t n;                   /* how many segments */
    enum route route;
    const char *allow;
} routes[] = {
    {"healthz", NULL, 1, R_HEALTHZ, "GET, HEAD"},
    {"v1", "buckets", 2, R_BUCKETS, "GET"},
    {"v1", "buckets", 3, R_BUCKET, "GET, PUT, DELETE"},
    {"v1", "kv", 3, R_KV_LIST, "GET"},
    {"v1", "kv", 4, R_KV_KEY, "GET, HEAD, PUT, DELETE"},
    {"v1", "cas", 4, R_CAS, "POST"},
    {"v1", "txn", 3, R_TXN, "POST"},
    {"v1", "bulk", 3, R_BULK, "POST"},
    {"v1", "watch", 3, R_WATCH, "GET"},
    {"v1", "functions", 2, R_FUNCTIONS, "POST"},
};

static enum route route_of(const struct http_slice *s, size_t n,
                           const char **allow)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (routes[i].n == n && is(&s[0], routes[i].first) &&
            (routes[i].second == NULL || is(&s[1], routes[i].second))) {
            *allow = routes[i].allow;
            return routes[i].route;
        }
    }
    return R_NONE;
}

static bool method_in(const char *m, const char *allow)
{
    size_t n = strlen(m);

    for (const char *p = allow; (p = strstr(p, m)) != NULL; p += n) {
        if ((p == allow || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0')) {
            return true;
        }
    }
    return false;
}

/* Before the body: unknown routes, wrong methods, and a value larger than
 * its bucket takes are refused without reading it. */
static int api_check(void *data, struct http_req *r, char *msg, size_t size)
{
    struct http_api *api = data;
    const struct http_slice *s;
    size_t n = http_req_segments(r, &s);
    const char *allow = "";
    enum route rt = route_of(s, n, &allow);
    int64_t len = http_req_content_length(r);

    if (rt == R_NONE || !method_in(http_req_method(r), allow)) {
        return 0; /* answered with the body read: 404 and 405 in handle */
    }
    if (rt == R_KV_KEY && strcmp(http_req_method(r), "PUT") == 0 &&
        len > 0 && s[2].len <= CAIRN_BUCKET_NAME_MAX) {
        char name[CAIRN_BUCKET_NAME_MAX + 1];
        const struct catalog_bucket *b;

        memcpy(name, s[2].data, s[2].len);
        name[s[2].len] = '\0';
        b = catalog_find_bucket(&api->n->cat, name);
        if (b != NULL && len > cairn_bucket_value_limit(&b->config)) {
            snprintf(msg, size, "kv.put %s: a value of %lld bytes is larger "
                     "than the bucket's max_value_size of %lld", name,
                     (long long)len,
                     (long long)cairn_bucket_value_limit(&b->config));
            http_req_set_error_code(r, "too_large");
            return 413;
        }
    }
    return 0;
}

static void healthz(struct http_req *r)
{
    http_reply(r, 200, "text/plain; charset=utf-8", NULL, 0, "ok\n", 3);
}

static void api_handle(void *data, struct http_req *r)
{
    struct http_api *api = data;
    const struct http_slice *s;
    size_t n = http_req_segments(r, &s);
    const char *m = http_req_method(r), *allow = "";
    enum route rt = route_of(s, n, &allow);

    if (rt == R_NONE) {
        http_reply_json_error(r, 404, "not_found", "no route %s %s: see "
                              "docs/http.md", m, http_req_target(r));
        return;
    }
    if (!method_in(m, allow)) {
        method_not_allowed(r, allow);
        return;
    }
    switch (rt) {
        case R_HEALTHZ:
            healthz(r);
            return;
        case R_BUCKETS:
            api_bucket_list(api, r, bucket_list_answer);
            return;
        case R_BUCKET:
            if (strcmp(m, "PUT") == 0) {
                bucket_create(api, r, s);
            } else {
                bucket_one(api, r, s, strcmp(m, "DELETE") == 0);
            }
            return;
        case R_KV_LIST:
            kv_list(api, r, s);
            return;
        case R_KV_KEY:
            if (strcmp(m, "PUT") == 0) {
                kv_put(api, r, s);
            } else if (strcmp(m, "DELETE") == 0) {
                kv_delete(api, r, s);
            } else {
                kv_get(api, r, s);
            }
            return;
        case R_CAS:
            kv_cas(api, r, s);
            return;
        case R_TXN:
            kv_txn(api, r, s, false);
            return;
        case R_BULK:
            kv_txn(api, r, s, true);
            return;
        case R_WATCH:
            api_watch(api, r, s[2].data, s[2].len);
            return;
        case R_FUNCTIONS:
            api_functions(api, r);
            return;
        case R_NONE:
            break;
    }
}

/* ------------------------------------------------------------------------
 * Start and stop
 * ---------------------------------------------------------------------- */

int http_api_start(node *n, char *errmsg)
{
    struct http_callbacks cbs = {api_check, api_handle};
    struct engine_options eo = {0};
    struct http_api *api = calloc(1, sizeof *api);
    char name[96];
    char *seed = n->client_address;
    int rc;

    if (api == NULL) {
        snprintf(errmsg, CAIRN_ERRMSG_SIZE, "http: out of memory");
        return CAIRN_ENOMEM;
    }
    api->n = n;
    snprintf(name, sizeof name, "cairnd-http-%llu",
             (unsigned long long)n->cfg.id);
    eo.seeds = &seed;
    eo.n_seeds = 1;
    eo.name = name;
    eo.connect_timeout_ms = GATEWAY_CONNECT_TIMEOUT_MS;
    eo.request_timeout_ms = GATEWAY_REQUEST_TIMEOUT_MS;
    eo.deadline_ms = GATEWAY_DEADLINE_MS;
    if (getrandom(&eo.cid, sizeof eo.cid, 0) != sizeof eo.cid) {
        eo.cid = uv_hrtime() ^ ((uint64_t)n->cfg.id << 48);
    }
    if ((rc = engine_new(n->loop, &eo, &api->e, errmsg)) != 0) {
        free(api);
        return rc;
    }
    rc = http_server_start(n->loop, n->cfg.http_listen.host,
                           (int)n->cfg.http_listen.port, NULL, &cbs, api,
                           &api->srv, errmsg);
    if (rc != 0) {
        engine_close(api->e);
        /* Nothing was submitted: the engine has no handles to wait for. */
        engine_free(api->e);
        free(api);
        return rc;
    }
    uv_timer_init(n->loop, &api->settle);
    api->settle.data = api;
    n->http = api;
    LOG_INFO("http", NULL, "listening on %s:%d", n->cfg.http_listen.host,
             http_server_port(api->srv));
    return 0;
}

static void settle_closed(uv_handle_t *h)
{
    struct http_api *api = h->data;
    node *n = api->n;
    void (*cb)(node *n) = api->stop_cb;

    engine_free(api->e);
    free(api);
    n->http = NULL;
    cb(n);
}

/* The engine's handles closed a loop turn ago: free it. */
static void settle_cb(uv_timer_t *t)
{
    struct http_api *api = t->data;

    if (api->calls > 0) {
        return; /* their done callbacks are still on their way */
    }
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, settle_closed);
}

static void server_stopped(void *data)
{
    struct http_api *api = data;

    /* Calls still in flight end with CAIRN_ECANCELED (answers that reach
     * no one are dropped); the engine is freed once they all finished. */
    engine_close(api->e);
    uv_timer_start(&api->settle, settle_cb, 0, 10);
}

void http_api_stop(node *n, void (*cb)(node *n))
{
    struct http_api *api = n->http;

    if (api == NULL) {
        cb(n);
        return;
    }
    api->stop_cb = cb;
    http_server_stop(api->srv, server_stopped, api);
}
