/*
 * http_api.h — private to node/: cairnd's HTTP/JSON API (docs/http.md) on
 * the HTTP server core (http.h).
 *
 *   http_api.c        routes, the gateway's calls, keys and buckets
 *   http_watch.c      GET /v1/watch as Server-Sent Events
 *   http_functions.c  POST /v1/functions, the KV functions API
 *
 * The gateway runs libcairn's engine (client/internal.h) on the node's
 * loop, seeded with the node's own client address: a request becomes a
 * client-protocol call that the engine routes to the bucket's leader (the
 * meta leader for catalog changes), following redirects and retrying
 * through elections, with the exactly-once writes of any client. So every
 * node answers every request the same way, and the HTTP API has no
 * semantics of its own to drift from the client protocol's.
 *
 * Everything runs on the loop thread.
 */
#ifndef CAIRN_NODE_HTTP_API_H
#define CAIRN_NODE_HTTP_API_H

#include <jansson.h>

#include "cairn_text.h"
#include "http.h"
#include "internal.h"
#include "client/internal.h" /* libcairn's engine */

struct http_api {
    node *n;
    struct http_server *srv;
    struct engine *e;
    uv_timer_t settle; /* frees the engine once its handles closed */
    void (*stop_cb)(node *n);
    unsigned calls; /* calls in flight */
};

/* One client-protocol call made for an HTTP request. */
struct api_call {
    struct creq r; /* first: the engine hands back &r */
    struct http_api *api;
    struct http_req *req; /* NULL once the call answers nobody */
    const char *route;     /* for messages and metrics */
    uint64_t t0;           /* uv_hrtime() at the start */
    /* On status 200: answer the request (the call is freed after). */
    void (*ok)(struct api_call *k);
    /* On an error (optional; default: the JSON error body). */
    void (*failed)(struct api_call *k);
    json_t *doc; /* (owned) the parsed body */
    struct cairn_json_keep keep;
    struct cairn_write *writes;  /* (owned) */
    struct cairn_compare *cmps;  /* (owned) */
    cairn_bucket_config cfg;     /* bucket.create */
    void *owned;                 /* (owned) any one more buffer */
    int type;                    /* per route */
    bool flag;                   /* per route */
    void *data;                  /* per route */
};

/* A new call of @route on @api for @req (may be NULL: an internal call),
 * with wire op @op and @route: NULL when out of memory. */
struct api_call *api_call_new(struct http_api *api, struct http_req *req,
                              const char *route, uint32_t op, uint32_t route_to);

/* Free @k, never submitted (or from its done callback). */
void api_call_drop(struct api_call *k);

/* Hand @k to the engine: k->ok or k->failed answer, then @k is freed. */
void api_call_submit(struct api_call *k);

/* Check bucket name @bucket (@len bytes) and copy it to @out; when it is
 * not a name, answer @r (may be NULL) with a 400 and return false. */
bool api_bucket_name(struct http_req *r, const char *bucket, size_t len,
                     char out[CAIRN_BUCKET_NAME_MAX + 1]);

/* Set @k's bucket (checked: 400 answered, @k freed and false returned when
 * bad). */
bool api_call_bucket(struct api_call *k, const char *bucket, size_t len);

/* The cairn error code @k ended with and its message. */
int api_call_code(const struct api_call *k);

/* Answer @r with @j (consumed) as JSON and @status. */
void api_reply_json(struct http_req *r, int status, json_t *j);

/* Answer @r with cairn error @code, its HTTP status and name. */
void api_reply_error(struct http_req *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parse @r's body as a JSON object or array (@want_array) into *out
 * (owned by the caller). On failure a 400 is answered and false returned. */
bool api_body_json(struct http_req *r, bool want_array, json_t **out);

/*
 * A bucket config from JSON object @o (the fields of docs/http.md; @skip:
 * one more field name to ignore, or NULL) over the defaults, named @name.
 * Returns 0, or CAIRN_EINVAL with @msg naming the field.
 */
int api_config_parse(json_t *o, const char *name, const char *skip,
                     cairn_bucket_config *cfg, char *msg, size_t size);

/*
 * List every bucket with its status: bucket.list, then bucket.info of each
 * (in parallel). @answer gets @req back with the details of the buckets
 * (those deleted meanwhile have an empty name), or the first error.
 */
void api_bucket_list(struct http_api *api, struct http_req *req,
                     void (*answer)(struct http_req *req, int code,
                                    const char *errmsg,
                                    const cairn_bucket_details *d,
                                    uint32_t n));

/* http_watch.c: GET /v1/watch/{bucket}. */
void api_watch(struct http_api *api, struct http_req *r, const char *bucket,
               size_t bucket_len);

/* http_functions.c: POST /v1/functions. */
void api_functions(struct http_api *api, struct http_req *r);

#endif
