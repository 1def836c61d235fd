/*
 * http_functions.c — POST /v1/functions: the KV functions API
 * (docs/http.md, "The KV functions API"), answered in the shapes of the KV
 * storage functions document: HTTP 200 with {"status_code": S, "body":
 * {...}}, errors as {"error": "..."} in the body.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_api.h"

#define KEY_LIST_DEFAULT 1000u
#define KEY_LIST_MAX 10000u

/* Answer @r with status_code @status and @body (consumed). */
static void fn_reply(struct http_req *r, int status, json_t *body)
{
    json_t *j = json_object();

    if (j == NULL || body == NULL) {
        json_decref(j);
        json_decref(body);
        http_reply_json_error(r, 500, "out_of_memory", "out of memory");
        return;
    }
    json_object_set_new(j, "status_code", json_integer(status));
    json_object_set_new(j, "body", body);
    api_reply_json(r, 200, j);
}

static void fn_error(struct http_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fn_error(struct http_req *r, int status, const char *fmt, ...)
{
    char msg[CAIRN_ERRMSG_SIZE];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fn_reply(r, status, json_pack("{s:s}", "error", msg));
}

/* A failed call: the document's messages for the errors it names, else
 * the node's message with the code's status. */
static void fn_failed(struct api_call *k)
{
    switch (api_call_code(k)) {
        case CAIRN_ENOBUCKET:
            fn_error(k->req, 404, "Bucket not found");
            return;
        case CAIRN_ENOTFOUND:
            fn_error(k->req, 404, "Key not found");
            return;
        case CAIRN_EEXIST:
            fn_error(k->req, 400, "Bucket already exists");
            return;
        default:
            fn_error(k->req, cairn_http_status(api_call_code(k)), "%s",
                     k->r.errmsg);
            return;
    }
}

static void fn_message(struct api_call *k)
{
    fn_reply(k->req, 200, json_pack("{s:s}", "message",
                                    k->type == 0 ? "Bucket created successfully"
                                                 : "Key written successfully"));
}

/* params.@name as a string into @out; a 400 answered when missing. */
static const char *param_string(struct http_req *r, json_t *params,
                                const char *name)
{
    json_t *v = json_object_get(params, name);

    if (!json_is_string(v)) {
        fn_error(r, 400, "params.%s is %s: a string is required", name,
                 v == NULL ? "missing" : "not a string");
        return NULL;
    }
    return json_string_value(v);
}

/* A call on params.bucket. It keeps the request's document (@params is
 * its "params"), which the call's fields point into. */
static struct api_call *fn_call(struct http_api *api, struct http_req *r,
                                json_t *params, const char *route, uint32_t op,
                                uint32_t to)
{
    const char *bucket = param_string(r, params, "bucket");
    char name[CAIRN_BUCKET_NAME_MAX + 1];
    struct api_call *k;

    if (bucket == NULL) {
        return NULL;
    }
    if (!api_bucket_name(NULL, bucket, strlen(bucket), name)) {
        fn_error(r, 400, "params.bucket '%.64s' is invalid: use 1..%d "
                 "characters from [A-Za-z0-9_-]", bucket,
                 CAIRN_BUCKET_NAME_MAX);
        return NULL;
    }
    k = api_call_new(api, r, route, op, to);
    if (k == NULL || !api_call_bucket(k, name, strlen(name))) {
        return NULL;
    }
    k->doc = json_incref(params);
    k->failed = fn_failed;
    return k;
}

/* params.key into the call. */
static bool fn_key(struct api_call *k, json_t *params)
{
    json_t *v = json_object_get(params, "key");

    if (!json_is_string(v) || json_string_length(v) == 0 ||
        json_string_length(v) > CAIRN_KEY_MAX) {
        fn_error(k->req, 400, "params.key must be a string of 1 to %d bytes",
                 CAIRN_KEY_MAX);
        k->req = NULL;
        return false;
    }
    k->r.q.w.key = json_string_value(v);
    k->r.q.w.key_len = json_string_length(v);
    return true;
}

static void kv_bucket_create(struct http_api *api, struct http_req *r,
                             json_t *params)
{
    char msg[CAIRN_ERRMSG_SIZE];
    struct api_call *k = fn_call(api, r, params, "kv-bucket-create",
                                 CAIRN_WIRE_BUCKET_CREATE, ROUTE_META);

    if (k == NULL) {
        return;
    }
    if (api_config_parse(params, k->r.q.bucket, "bucket", &k->cfg, msg,
                         sizeof msg) != 0) {
        fn_error(r, 400, "%s", msg);
        k->req = NULL;
        api_call_drop(k);
        return;
    }
    k->r.q.config = &k->cfg;
    k->type = 0;
    k->ok = fn_message;
    api_call_submit(k);
}

static void kv_key_put(struct http_api *api, struct http_req *r,
                       json_t *params)
{
    struct api_call *k = fn_call(api, r, params, "kv-key-put", CAIRN_WIRE_PUT,
                                 ROUTE_BUCKET);
    json_t *v;

    if (k == NULL) {
        return;
    }
    if (!fn_key(k, params)) {
        api_call_drop(k);
        return;
    }
    v = json_object_get(params, "value");
    if (json_is_string(v)) {
        k->r.q.w.value = json_string_value(v);
        k->r.q.w.value_len = json_string_length(v);
    } else if (json_is_object(v) || json_is_array(v)) {
        /* An object is stored as its JSON, for kv-key-get with json. */
        k->owned = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (k->owned == NULL) {
            fn_error(r, 500, "out of memory");
            k->req = NULL;
            api_call_drop(k);
            return;
        }
        k->r.q.w.value = k->owned;
        k->r.q.w.value_len = strlen(k->owned);
    } else {
        fn_error(r, 400, "params.value is %s: give a string, or an object "
                 "or array (stored as JSON); wrap numbers and booleans in an "
                 "object", v == NULL ? "missing" : "neither");
        k->req = NULL;
        api_call_drop(k);
        return;
    }
    k->type = 1;
    k->ok = fn_message;
    api_call_submit(k);
}

static void key_got(struct api_call *k)
{
    const struct cairn_wire_entry *e = &k->r.res.entry;
    json_t *value, *inner;

    if (k->flag) {
        value = json_loadb(e->value_len > 0 ? e->value : "", e->value_len,
                           JSON_DECODE_ANY, NULL);
        if (value == NULL) {
            fn_error(k->req, 400, "Value of key %.*s is not valid JSON: ask "
                     "with json false", (int)e->key_len, (const char *)e->key);
            return;
        }
    } else {
        value = json_stringn(e->value_len > 0 ? e->value : "", e->value_len);
        if (value == NULL) {
            fn_error(k->req, 400, "Value of key %.*s is not UTF-8 text",
                     (int)e->key_len, (const char *)e->key);
            return;
        }
    }
    inner = json_object();
    cairn_json_set_bytes(inner, "key", e->key, e->key_len);
    json_object_set_new(inner, "value", value);
    fn_reply(k->req, 200,
             json_pack("{s:o,s:{s:s}}", "body", inner, "metadata", "Bucket",
                       k->r.q.bucket));
}

static void kv_key_get(struct http_api *api, struct http_req *r,
                       json_t *params)
{
    json_t *as_json = json_object_get(params, "json");
    struct api_call *k;

    if (as_json != NULL && !json_is_boolean(as_json)) {
        fn_error(r, 400, "params.json must be true or false");
        return;
    }
    k = fn_call(api, r, params, "kv-key-get", CAIRN_WIRE_GET, ROUTE_BUCKET);
    if (k == NULL) {
        return;
    }
    if (!fn_key(k, params)) {
        api_call_drop(k);
        return;
    }
    k->flag = json_is_true(as_json);
    k->ok = key_got;
    api_call_submit(k);
}

static void buckets_listed(struct http_req *r, int code, const char *errmsg,
                           const cairn_bucket_details *d, uint32_t n)
{
    json_t *results, *b, *meta;
    uint32_t count = 0;

    if (code != 0) {
        fn_error(r, cairn_http_status(code), "%s", errmsg);
        return;
    }
    results = json_array();
    for (uint32_t i = 0; results != NULL && i < n; i++) {
        const cairn_bucket_config *c = &d[i].config;
        if (c->name[0] == '\0') {
            continue;
        }
        meta = json_object();
        for (uint32_t m = 0; meta != NULL && m < c->n_metadata; m++) {
            json_object_set_new(meta, c->metadata[m].key,
                                json_string(c->metadata[m].value));
        }
        b = json_pack("{s:s,s:s,s:I,s:I,s:o}", "name", c->name, "description",
                      c->description, "entry_total", (json_int_t)d[i].keys,
                      "created", (json_int_t)(d[i].created / 1000000u),
                      "metadata", meta);
        json_array_append_new(results, b);
        count++;
    }
    fn_reply(r, 200,
             json_pack("{s:{s:I,s:o},s:{}}", "body", "results_total",
                       (json_int_t)count, "results", results, "metadata"));
}

/* kv-key-list: bucket.info for results_total, then the page: a scan in
 * revision order from last_sequence + 1. */
static void keys_listed(struct api_call *k)
{
    const struct cairn_wire_response *res = &k->r.res;
    json_t *results = json_array();
    uint64_t total = (uint64_t)(uintptr_t)k->data;

    for (uint32_t i = 0; results != NULL && i < res->n_entries; i++) {
        const struct cairn_wire_entry *e = &res->entries[i];
        json_t *o = json_object();
        cairn_json_set_bytes(o, "key", e->key, e->key_len);
        cairn_json_set_bytes(o, "value", e->value_len > 0 ? e->value : "",
                             e->value_len);
        json_object_set_new(o, "sequence", json_integer((json_int_t)e->revision));
        json_array_append_new(results, o);
    }
    fn_reply(k->req, 200,
             json_pack("{s:{s:I,s:o},s:{}}", "body", "results_total",
                       (json_int_t)total, "results", results, "metadata"));
}

static void key_total(struct api_call *info)
{
    struct api_call *k = info->data;

    /* The scan goes on with the request: the info call answers nobody. */
    k->data = (void *)(uintptr_t)info->r.res.info->keys;
    k->req = info->req;
    info->req = NULL;
    api_call_submit(k);
}

static void key_total_failed(struct api_call *info)
{
    api_call_drop(info->data);
    fn_failed(info);
}

static void kv_key_list(struct http_api *api, struct http_req *r,
                        json_t *params)
{
    json_t *last = json_object_get(params, "last_sequence");
    json_t *limit = json_object_get(params, "limit");
    struct api_call *info, *k;

    if ((last != NULL && (!json_is_integer(last) ||
                          json_integer_value(last) < 0)) ||
        (limit != NULL && (!json_is_integer(limit) ||
                           json_integer_value(limit) < 1 ||
                           json_integer_value(limit) > KEY_LIST_MAX))) {
        fn_error(r, 400, "params.last_sequence must be a sequence (0 or "
                 "more) and params.limit a number from 1 to %u",
                 KEY_LIST_MAX);
        return;
    }
    info = fn_call(api, r, params, "kv-key-list", CAIRN_WIRE_BUCKET_INFO,
                   ROUTE_BUCKET);
    if (info == NULL) {
        return;
    }
    k = api_call_new(api, NULL, "kv-key-list", CAIRN_WIRE_SCAN, ROUTE_BUCKET);
    if (k == NULL) {
        fn_error(r, 500, "out of memory");
        info->req = NULL;
        api_call_drop(info);
        return;
    }
    /* An internal call until key_total hands it the request. */
    memcpy(k->r.q.bucket, info->r.q.bucket, sizeof k->r.q.bucket);
    snprintf(k->r.what, sizeof k->r.what, "kv-key-list %s", k->r.q.bucket);
    k->r.q.has |= CAIRN_WIRE_REQ_FROM | CAIRN_WIRE_REQ_LIMIT;
    k->r.q.from = (last != NULL ? (uint64_t)json_integer_value(last) : 0) + 1;
    k->r.q.limit = limit != NULL ? (uint32_t)json_integer_value(limit)
                                 : KEY_LIST_DEFAULT;
    k->ok = keys_listed;
    k->failed = fn_failed;
    info->data = k;
    info->ok = key_total;
    info->failed = key_total_failed;
    api_call_submit(info);
}

void api_functions(struct http_api *api, struct http_req *r)
{
    static const char *const names[] = {"kv-bucket-create", "kv-key-put",
                                        "kv-key-get", "kv-bucket-list",
                                        "kv-key-list"};
    json_t *doc, *params, *v;
    const char *fn, *name;
    json_error_t jerr;
    size_t len;
    const void *body = http_req_body(r, &len);

    doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc)) {
        fn_error(r, 400, "the body must be a JSON object {\"function\": ..., "
                 "\"params\": {...}}%s%s", doc == NULL ? ": " : "",
                 doc == NULL ? jerr.text : "");
        json_decref(doc);
        return;
    }
    json_object_foreach(doc, name, v) {
        if (strcmp(name, "function") != 0 && strcmp(name, "params") != 0) {
            fn_error(r, 400, "unknown field \"%s\" (fields: function, params)",
                     name);
            json_decref(doc);
            return;
        }
    }
    fn = json_string_value(json_object_get(doc, "function"));
    params = json_object_get(doc, "params");
    if (params == NULL) {
        params = json_object();
        json_object_set_new(doc, "params", params);
    }
    if (fn == NULL || !json_is_object(params)) {
        fn_error(r, 400, "\"function\" must be a string and \"params\" an "
                 "object");
        json_decref(doc);
        return;
    }
    if (strcmp(fn, names[0]) == 0) {
        kv_bucket_create(api, r, params);
    } else if (strcmp(fn, names[1]) == 0) {
        kv_key_put(api, r, params);
    } else if (strcmp(fn, names[2]) == 0) {
        kv_key_get(api, r, params);
    } else if (strcmp(fn, names[3]) == 0) {
        api_bucket_list(api, r, buckets_listed);
    } else if (strcmp(fn, names[4]) == 0) {
        kv_key_list(api, r, params);
    } else {
        fn_error(r, 400, "unknown function \"%s\" (functions: "
                 "kv-bucket-create, kv-key-put, kv-key-get, kv-bucket-list, "
                 "kv-key-list)", fn);
    }
    json_decref(doc); /* the calls hold params */
}
