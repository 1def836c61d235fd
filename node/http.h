/*
 * http.h — the HTTP/1.1 server core under cairnd's HTTP/JSON API: one
 * listener on the node's libuv loop, keep-alive connections, requests
 * parsed by the packaged nodejs http-parser and handed to the caller's
 * callbacks. It knows no cairn routes: the API built on it decides what a
 * request means.
 *
 * Overview
 * --------
 * For each request the server calls, on the loop thread:
 *
 *   1. check(), once the request line and headers are parsed and before
 *      any byte of the body is read. It may refuse the request with a
 *      status (say 413 for a value larger than the bucket allows): the
 *      server answers with a JSON error at once and closes the connection
 *      once the answer is written, without reading the body.
 *   2. handle(), once the body is read whole. The handler answers exactly
 *      once, then or later from the loop thread, with http_reply(),
 *      http_reply_json_error(), or a stream (http_stream_start(), any
 *      number of http_stream_write(), http_stream_end()). The server frees
 *      the request after that answer.
 *
 * Requests on one connection are answered in order: while one is with the
 * handler the parser is paused, and it resumes (with any pipelined bytes
 * already received) once that answer has been written to the socket.
 *
 * Every response carries Content-Type and, except streams, Content-Length,
 * and echoes the request's X-Correlation-Id header when it has one (and it
 * is printable ASCII of at most HTTP_CORRELATION_ID_MAX bytes). Error
 * bodies are JSON: {"error": "<message>", "code": "<code>"}.
 *
 * The server answers by itself, with a JSON error, and then closes:
 *   400 "malformed"  the parser refused the bytes (its error name is in
 *                    the message), or a bad percent-escape in the URL;
 *   405 "method_not_allowed"  CONNECT (this is no proxy);
 *   413 "too_large"  a body over limits.body_max: as soon as Content-Length
 *                    announces it, or as soon as a chunked body passes it;
 *   414 "too_large"  a request target over limits.url_max;
 *   431 "too_large"  headers over limits.header_bytes_max (names and values
 *                    plus 4 bytes a line) or more than limits.headers_max;
 *   500 "out_of_memory".
 *
 * Caveats
 * -------
 * - Everything happens on the loop thread; no function here is
 *   thread-safe, and callbacks must not block.
 * - check() must not answer the request: it returns a status instead.
 * - A request stays valid until it is answered (http_reply*, or
 *   http_stream_end), or until its close callback has run. When the
 *   connection goes away first and the caller registered no close
 *   callback, the request stays allocated until the caller answers it; that
 *   answer is then dropped. So a request that is never answered leaks.
 * - When the client closes its end while its request is with the handler,
 *   the server treats that as a disconnect (and closes) if the request has
 *   a close callback or a stream started; otherwise it still writes the
 *   answer, as the client may only have half-closed, then closes.
 * - No Date header (the server reads no clock but libuv's timers), no
 *   protocol upgrades (a request asking for one is answered and the
 *   connection closed), no TLS, no HTTP/2.
 * - Streams use chunked transfer coding; to an HTTP/1.0 client a stream
 *   is sent without a length and the connection closes at its end.
 * - Every request body is buffered whole before handle(): a server may
 *   hold up to connections_max x body_max bytes of bodies. check() is
 *   where a tighter per-request bound belongs.
 * - The process must ignore SIGPIPE (cairnd's main does): a write to a
 *   client that went away would otherwise kill it.
 * - A connection that ends with an error answer is shut down and then
 *   read (and dropped) for up to 2 s before it is closed, so that the
 *   client gets the answer even while it is still sending a body.
 */
#ifndef CAIRN_NODE_HTTP_H
#define CAIRN_NODE_HTTP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/* Defaults of struct http_limits. */
#define HTTP_URL_MAX_DEFAULT (8 * 1024)
#define HTTP_HEADER_BYTES_MAX_DEFAULT (16 * 1024)
#define HTTP_HEADERS_MAX_DEFAULT 100
/* The largest value a bucket may allow (16 MiB) and room for the rest. */
#define HTTP_BODY_MAX_DEFAULT ((16u << 20) + (64u << 10))
#define HTTP_CONNECTIONS_MAX_DEFAULT 1024
#define HTTP_IDLE_TIMEOUT_MS_DEFAULT 60000

/* The longest request target http_parser_parse_url() can describe: its
 * offsets are 16 bits wide. A larger url_max is lowered to this. */
#define HTTP_URL_MAX_LIMIT 65535

/* The longest X-Correlation-Id echoed (a longer one is not echoed). */
#define HTTP_CORRELATION_ID_MAX 256

/* Limits of a server. A field left 0 takes its default. */
struct http_limits {
    size_t url_max;           /* request target bytes; over: 414 */
    size_t header_bytes_max;  /* over: 431 */
    unsigned headers_max;     /* header lines; over: 431 */
    uint64_t body_max;        /* body bytes; over: 413 */
    unsigned connections_max; /* beyond: accepted and closed at once */
    uint64_t idle_timeout_ms; /* a connection with nothing to do closes */
};

struct http_server;
struct http_req;

/* A header of a response: name and value, NUL-terminated, (borrowed) for
 * the duration of the call that takes them. */
struct http_header {
    const char *name;
    const char *value;
};

/* A run of bytes (borrowed from the request): @data is followed by a NUL,
 * which is not counted in @len; the run itself may hold NUL bytes. */
struct http_slice {
    const char *data;
    size_t len;
};

struct http_callbacks {
    /*
     * Optional (NULL accepts every request). Called once the request line
     * and headers of @r are parsed, before its body is read: the accessors
     * below work, except http_req_body(). Returns 0 to go on, or an HTTP
     * status (400..599) to refuse: the server answers with a JSON error
     * whose message is @msg (NUL-terminated, @msg_size bytes of room, empty
     * on entry) and whose code is the one set with
     * http_req_set_error_code(), else the one the server derives from the
     * status ("too_large" for 413, "not_found" for 404...), then closes the
     * connection. It must not call any reply function.
     */
    int (*check)(void *data, struct http_req *r, char *msg, size_t msg_size);
    /*
     * Called once the whole request @r is read. The handler answers it
     * exactly once, now or later (from the loop thread).
     */
    void (*handle)(void *data, struct http_req *r);
};

/* ------------------------------------------------------------------------
 * The server
 * ---------------------------------------------------------------------- */

/*
 * Listen on @host (an IPv4 or IPv6 literal) and @port (0: a port the system
 * picks, see http_server_port()) on @loop, and serve requests through @cbs
 * with @data as their first argument. @limits may be NULL for the
 * defaults; it and @cbs are copied. On success *out is the server, which
 * must be stopped with http_server_stop() before the loop ends.
 *
 * Errors (with @errmsg, CAIRN_ERRMSG_SIZE bytes, saying which): CAIRN_EINVAL
 * (@host is no address, @port is out of range, no handle callback),
 * CAIRN_EIO (bind or listen failed: "http listen 127.0.0.1:7601: address
 * already in use"), CAIRN_ENOMEM. After a failure nothing needs stopping,
 * but the listening handle is closed asynchronously: its memory is freed
 * the next time @loop runs.
 */
int http_server_start(uv_loop_t *loop, const char *host, int port,
                      const struct http_limits *limits,
                      const struct http_callbacks *cbs, void *data,
                      struct http_server **out, char *errmsg);

/* The port @srv listens on. */
int http_server_port(const struct http_server *srv);

/*
 * Stop @srv: close the listener and every connection. Requests not yet
 * answered are abandoned: those with a close callback get it, the others
 * are dropped when answered (see the caveats). @cb(@data) runs once every
 * handle is closed, from the loop; @srv is freed just before. Call once.
 */
void http_server_stop(struct http_server *srv, void (*cb)(void *data),
                      void *data);

/* ------------------------------------------------------------------------
 * Requests. Returned pointers are (borrowed) from @r and valid as long as
 * @r is.
 * ---------------------------------------------------------------------- */

/* The method, upper case ("GET", "PUT"...). */
const char *http_req_method(const struct http_req *r);

/* The request target as received (path and query, still percent-encoded),
 * NUL-terminated. */
const char *http_req_target(const struct http_req *r);

/* The URL path as received, percent-encoded ("/v1/k/a%2Fb"). */
struct http_slice http_req_raw_path(const struct http_req *r);

/* The URL path percent-decoded into bytes ("/v1/k/a/b"): may hold any
 * byte, NUL included. '+' stays '+'. */
struct http_slice http_req_path(const struct http_req *r);

/*
 * The segments of the path, each percent-decoded on its own, so that an
 * encoded '/' stays inside its segment: "/v1/k/a%2Fb" gives "v1", "k",
 * "a/b". The leading '/' starts no segment; "/" has none, "/a/" has "a"
 * and "". Sets *segs to the array (borrowed from @r) and returns its size.
 */
size_t http_req_segments(const struct http_req *r,
                         const struct http_slice **segs);

/*
 * The value of the first query parameter called @name (compared after
 * decoding), percent-decoded with '+' as a space, NUL-terminated; its
 * length in *len (@len may be NULL). A parameter without '=' has the value
 * "". NULL if there is no such parameter.
 */
const char *http_req_query(const struct http_req *r, const char *name,
                           size_t *len);

/* The value of the first header called @name (any letter case), or NULL. */
const char *http_req_header(const struct http_req *r, const char *name);

/* The body (empty before handle() or when the request has none); its
 * length in *len. */
const void *http_req_body(const struct http_req *r, size_t *len);

/* The Content-Length the request announced, or -1 when it gave none (no
 * body, or a chunked one). */
int64_t http_req_content_length(const struct http_req *r);

/*
 * For check(): the "code" of the JSON error sent if check() refuses @r;
 * @code is (borrowed) and must be a static string.
 */
void http_req_set_error_code(struct http_req *r, const char *code);

/*
 * Call @cb(@data) if the connection of @r closes before @r is answered
 * (or its stream ended): the client went away, the idle timeout or an
 * error closed it, or the server stopped. The call comes from the loop,
 * never from inside a function of this module; @r is freed right after
 * and must not be touched again. A later call replaces the callback; NULL
 * removes it.
 *
 * Errors: CAIRN_ECLOSED when the connection is already gone: @cb will not
 * be called, and @r is freed when answered as usual.
 */
int http_req_on_close(struct http_req *r, void (*cb)(void *data), void *data);

/*
 * Call @cb(@data) each time the connection of @r has written all it had
 * queued (http_stream_backlog() is then 0), so that a producer that
 * paused on a large backlog can resume. @cb may write or end the stream.
 * NULL removes it.
 */
void http_req_on_drain(struct http_req *r, void (*cb)(void *data), void *data);

/* ------------------------------------------------------------------------
 * Answers: exactly one per request. After http_reply(),
 * http_reply_json_error() or http_stream_end(), @r is freed.
 * ---------------------------------------------------------------------- */

/*
 * Answer @r with @status (200..599), Content-Type @content_type (NULL:
 * "application/octet-stream"), the @n_extra headers of @extra (they must
 * not include Content-Type, Content-Length, Transfer-Encoding or
 * Connection), and the @len bytes of @body (copied). A HEAD request gets
 * the headers only; 204 and 304 get no body and no Content-Length. A
 * header name that is not a token or a value with CR, LF or NUL turns the
 * answer into a 500 JSON error naming it, rather than a broken response.
 * When the connection is gone the answer is dropped.
 */
void http_reply(struct http_req *r, int status, const char *content_type,
                const struct http_header *extra, size_t n_extra,
                const void *body, size_t len);

/*
 * Answer @r with @status and the JSON body {"error": "<message>", "code":
 * "<@code>"}, the message formatted from @fmt (printf). Bytes of the
 * message that are not UTF-8 become '?'.
 */
void http_reply_json_error(struct http_req *r, int status, const char *code,
                           const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* As http_reply_json_error(), with a va_list. */
void http_reply_json_verror(struct http_req *r, int status, const char *code,
                            const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/*
 * Start a streamed answer to @r: the status line and headers (as for
 * http_reply()) with chunked transfer coding; the body follows in
 * http_stream_write() calls and ends with http_stream_end().
 *
 * Errors: CAIRN_ECLOSED (the client went away; @r must still be ended),
 * CAIRN_EINVAL (a bad status or header, as http_reply() describes; nothing
 * was sent and @r is still unanswered), CAIRN_ENOMEM (the connection is
 * closed).
 */
int http_stream_start(struct http_req *r, int status, const char *content_type,
                      const struct http_header *extra, size_t n_extra);

/*
 * Queue the @len bytes of @data (copied) as the next part of @r's stream;
 * 0 bytes queue nothing. They are written as the socket takes them: watch
 * http_stream_backlog() and wait for the drain callback rather than
 * queueing without bound.
 *
 * Errors: CAIRN_ECLOSED (the client went away: stop producing and end
 * @r, or let its close callback come), CAIRN_ENOMEM (the connection is
 * closed).
 */
int http_stream_write(struct http_req *r, const void *data, size_t len);

/* The bytes queued on @r's connection and not yet written to the socket;
 * 0 when the connection is gone. */
size_t http_stream_backlog(const struct http_req *r);

/* End @r's stream (the last chunk), and free @r. */
void http_stream_end(struct http_req *r);

#endif
