/*
 * http_internal.h — private to the HTTP server (http.c, http_message.c):
 * the request, the byte buffer answers are built in, and the functions
 * that decode requests and encode answers.
 *
 *   http.c          connections: reading, parsing (http-parser's
 *                   callbacks), writing, the listener
 *   http_message.c  the request's accessors, target decoding, and the
 *                   encoding of answers (heads, JSON errors)
 *
 * Everything runs on the loop thread.
 */
#ifndef CAIRN_NODE_HTTP_INTERNAL_H
#define CAIRN_NODE_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

/* ------------------------------------------------------------------------
 * A growable byte buffer. The functions that add return 0, or -1 when out
 * of memory (the buffer is left as it was).
 * ---------------------------------------------------------------------- */

struct buf {
    char *data; /* (owned) */
    size_t len;
    size_t cap;
};

int http__buf_put(struct buf *b, const void *p, size_t n);
int http__buf_putc(struct buf *b, char ch);
int http__buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Drop the first @n bytes (at most b->len). */
void http__buf_consume(struct buf *b, size_t n);

/* Free what @b holds and make it empty. */
void http__buf_close(struct buf *b);

/* ------------------------------------------------------------------------
 * Requests
 * ---------------------------------------------------------------------- */

enum header_state { H_NONE, H_FIELD, H_VALUE };

/* A request header: offsets of its NUL-terminated name and value in
 * hbuf (offsets, as hbuf moves while it grows). */
struct header {
    size_t name;
    size_t value;
};

struct param {
    struct http_slice name;
    struct http_slice value;
};

struct conn;

struct http_req {
    struct conn *conn;   /* (borrowed) NULL once the connection is gone */
    struct buf url;      /* the request target, NUL-terminated once parsed */
    struct buf hbuf;     /* header names and values */
    struct header *hdrs; /* (owned) */
    unsigned n_hdrs;
    unsigned cap_hdrs;
    size_t header_bytes;
    enum header_state hstate;
    bool headers_done;
    struct buf body;
    /* Derived from the target once the headers are parsed. */
    struct http_slice raw_path; /* into url, or a static "/" */
    struct http_slice path;     /* into dec */
    struct http_slice *segs;    /* (owned) into dec */
    size_t n_segs;
    struct param *params; /* (owned) into dec */
    size_t n_params;
    char *dec; /* (owned) the decoded path, segments and parameters */
    int64_t content_length;
    unsigned method;
    bool head;
    bool http10;
    bool keep_alive;
    bool streaming;         /* http_stream_start() succeeded */
    const char *error_code; /* (borrowed) for a check() refusal */
    void (*close_cb)(void *data);
    void *close_data;
    void (*drain_cb)(void *data);
    void *drain_data;
};

/* A request read on @c, or NULL when out of memory. */
struct http_req *http__req_new(struct conn *c);

/* Free @r and all it owns. */
void http__req_free(struct http_req *r);

/*
 * Find the path and query in r->url (complete and NUL-terminated) and
 * decode them into r->path, r->segs and r->params. Returns 0,
 * CAIRN_EMALFORMED with @msg saying why (not a URL, a bad percent-escape),
 * or CAIRN_ENOMEM.
 */
int http__parse_target(struct http_req *r, char *msg, size_t msg_size);

/* ------------------------------------------------------------------------
 * Answers. The http__put_* functions append to @out and return 0 or
 * CAIRN_ENOMEM (@out may then hold part of the answer: close the
 * connection).
 * ---------------------------------------------------------------------- */

/* How an answer's body is delimited. */
enum http__framing {
    HTTP__FRAME_LENGTH,  /* Content-Length */
    HTTP__FRAME_NONE,    /* 204 and 304: no body at all */
    HTTP__FRAME_CHUNKED, /* a stream to an HTTP/1.1 client */
    HTTP__FRAME_CLOSE, /* a stream to an HTTP/1.0 client: ends with the close */
};

/* The reason phrase of @status ("Not Found"); a generic one for statuses
 * http-parser does not name. Static. */
const char *http__reason_phrase(int status);

/* The "code" of a JSON error for @status when nobody chose one: cairn's
 * code name where one status means one code ("too_large"), else the
 * reason phrase in snake case ("method_not_allowed"). Returns a static
 * string or one written to @tmp (64 bytes). */
const char *http__status_code_name(int status, char *tmp);

/* Check what a caller puts in an answer's head: a status of 200..599, and
 * headers this server may write as given (token names, values without
 * control characters, none of the headers the server sets itself). NULL if
 * all is fine, else @msg, which says what is wrong. */
const char *http__check_head(int status, const char *content_type,
                             const struct http_header *extra, size_t n_extra,
                             char *msg, size_t msg_size);

/* Append an answer's status line and headers. @r (NULL when the request
 * was not read far enough) gives the version and the correlation id;
 * @len is the Content-Length for HTTP__FRAME_LENGTH; @close says the
 * connection closes after the answer. The head passed http__check_head(). */
int http__put_head(struct buf *out, const struct http_req *r, int status,
                   const char *content_type, const struct http_header *extra,
                   size_t n_extra, enum http__framing framing, size_t len,
                   bool close);

/* Append a whole answer with status @status and a JSON error body
 * {"error": @msg, "code": @code}; @r as for http__put_head(), and a HEAD
 * request gets no body. */
int http__put_error(struct buf *out, const struct http_req *r, int status,
                    const char *code, const char *msg, bool close);

/* Append a whole answer to @r: the head, then the @len bytes of @body
 * unless @r is a HEAD request or @status forbids a body (204, 304). */
int http__put_answer(struct buf *out, const struct http_req *r, int status,
                     const char *content_type, const struct http_header *extra,
                     size_t n_extra, const void *body, size_t len);

#endif
