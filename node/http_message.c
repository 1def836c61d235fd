/*
 * The HTTP server's messages (http_internal.h): what a request holds and
 * how its target decodes, and how answers are encoded. Plain functions over
 * buffers: no socket and no loop here (http.c moves the bytes).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>
#include <jansson.h>

#include "cairn.h"
#include "http_internal.h"

/* ------------------------------------------------------------------------
 * A growable byte buffer
 * ---------------------------------------------------------------------- */

static int buf_reserve(struct buf *b, size_t more)
{
    size_t cap = b->cap != 0 ? b->cap : 256;
    char *p;
    if (more <= b->cap - b->len) {
        return 0;
    }
    if (more > SIZE_MAX / 2 - b->len) {
        return -1;
    }
    while (cap - b->len < more) {
        cap *= 2;
    }
    if ((p = realloc(b->data, cap)) == NULL) {
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int http__buf_put(struct buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) != 0) {
        return -1;
    }
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    return 0;
}

int http__buf_putc(struct buf *b, char ch)
{
    return http__buf_put(b, &ch, 1);
}

int http__buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n + 1) != 0) {
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void http__buf_consume(struct buf *b, size_t n)
{
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void http__buf_close(struct buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* ------------------------------------------------------------------------
 * Requests
 * ---------------------------------------------------------------------- */

struct http_req *http__req_new(struct conn *c)
{
    struct http_req *r = calloc(1, sizeof *r);
    if (r != NULL) {
        r->conn = c;
        r->content_length = -1;
    }
    return r;
}

void http__req_free(struct http_req *r)
{
    http__buf_close(&r->url);
    http__buf_close(&r->hbuf);
    http__buf_close(&r->body);
    free(r->hdrs);
    free(r->segs);
    free(r->params);
    free(r->dec);
    free(r);
}

const char *http_req_method(const struct http_req *r)
{
    return http_method_str((enum http_method)r->method);
}

const char *http_req_target(const struct http_req *r)
{
    return r->url.data != NULL ? r->url.data : "";
}

struct http_slice http_req_raw_path(const struct http_req *r)
{
    return r->raw_path;
}

struct http_slice http_req_path(const struct http_req *r)
{
    return r->path;
}

size_t http_req_segments(const struct http_req *r,
                         const struct http_slice **segs)
{
    *segs = r->segs;
    return r->n_segs;
}

const char *http_req_query(const struct http_req *r, const char *name,
                           size_t *len)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < r->n_params; i++) {
        const struct param *p = &r->params[i];
        if (p->name.len == n && memcmp(p->name.data, name, n) == 0) {
            if (len != NULL) {
                *len = p->value.len;
            }
            return p->value.data;
        }
    }
    return NULL;
}

const char *http_req_header(const struct http_req *r, const char *name)
{
    if (!r->headers_done) {
        return NULL;
    }
    for (unsigned i = 0; i < r->n_hdrs; i++) {
        if (strcasecmp(r->hbuf.data + r->hdrs[i].name, name) == 0) {
            return r->hbuf.data + r->hdrs[i].value;
        }
    }
    return NULL;
}

const void *http_req_body(const struct http_req *r, size_t *len)
{
    *len = r->body.len;
    return r->body.data != NULL ? r->body.data : "";
}

int64_t http_req_content_length(const struct http_req *r)
{
    return r->content_length;
}

void http_req_set_error_code(struct http_req *r, const char *code)
{
    r->error_code = code;
}

/* ------------------------------------------------------------------------
 * The request target: percent-decoding, path segments, query parameters
 * ---------------------------------------------------------------------- */

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

/* Decode the @len bytes of @in into @out (room for @len + 1 bytes), '+'
 * as a space when @plus_space, NUL-terminated; the decoded length in
 * *out_len. Returns -1 for a '%' not followed by two hex digits: such a
 * request is refused rather than guessed at, since keys may hold any
 * byte and a guess could name another key. */
static int pct_decode(const char *in, size_t len, bool plus_space, char *out,
                      size_t *out_len)
{
    size_t n = 0;
    int hi, lo;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '+' && plus_space) {
            out[n++] = ' ';
        } else if (in[i] != '%') {
            out[n++] = in[i];
        } else if (len - i >= 3 && (hi = hex_value(in[i + 1])) >= 0 &&
                   (lo = hex_value(in[i + 2])) >= 0) {
            out[n++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            return -1;
        }
    }
    out[n] = '\0';
    *out_len = n;
    return 0;
}

static size_t count_byte(const char *s, size_t len, char ch)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        n += s[i] == ch;
    }
    return n;
}

/* Split @path at '/', after its leading one, decoding each segment into
 * @dec, which advances past them. */
static int split_path(struct http_req *r, struct http_slice path, char **dec)
{
    const char *p = path.data, *end = path.data + path.len;
    if (p < end && *p == '/') {
        p++;
    }
    if (p == end) {
        return 0; /* "/" or "": no segments */
    }
    r->segs =
        calloc(count_byte(p, (size_t)(end - p), '/') + 1, sizeof *r->segs);
    if (r->segs == NULL) {
        return CAIRN_ENOMEM;
    }
    for (;;) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *stop = slash != NULL ? slash : end;
        struct http_slice *s = &r->segs[r->n_segs++];
        s->data = *dec;
        if (pct_decode(p, (size_t)(stop - p), false, *dec, &s->len) != 0) {
            return CAIRN_EMALFORMED;
        }
        *dec += s->len + 1;
        if (slash == NULL) {
            return 0;
        }
        p = slash + 1;
    }
}

/* Split @query at '&' into name=value parameters decoded into @dec. Empty
 * pieces ("a=1&&b=2") are skipped. */
static int split_query(struct http_req *r, struct http_slice query, char *dec)
{
    const char *p = query.data, *end = query.data + query.len;
    if (query.len == 0) {
        return 0;
    }
    r->params = calloc(count_byte(p, query.len, '&') + 1, sizeof *r->params);
    if (r->params == NULL) {
        return CAIRN_ENOMEM;
    }
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp != NULL ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        const char *name_end = eq != NULL ? eq : stop;
        const char *value = eq != NULL ? eq + 1 : stop;
        struct param *q = &r->params[r->n_params];
        if (stop > p) {
            q->name.data = dec;
            if (pct_decode(p, (size_t)(name_end - p), true, dec,
                           &q->name.len) != 0) {
                return CAIRN_EMALFORMED;
            }
            dec += q->name.len + 1;
            q->value.data = dec;
            if (pct_decode(value, (size_t)(stop - value), true, dec,
                           &q->value.len) != 0) {
                return CAIRN_EMALFORMED;
            }
            dec += q->value.len + 1;
            r->n_params++;
        }
        p = stop + (amp != NULL);
    }
    return 0;
}

int http__parse_target(struct http_req *r, char *msg, size_t msg_size)
{
    struct http_parser_url u;
    struct http_slice query = {"", 0};
    char *dec;
    int rc;

    http_parser_url_init(&u);
    if (http_parser_parse_url(r->url.data, r->url.len,
                              r->method == HTTP_CONNECT, &u) != 0) {
        snprintf(msg, msg_size, "the request target is not a valid URL");
        return CAIRN_EMALFORMED;
    }
    r->raw_path = (struct http_slice){"/", 1};
    if (u.field_set & (1 << UF_PATH)) {
        r->raw_path.data = r->url.data + u.field_data[UF_PATH].off;
        r->raw_path.len = u.field_data[UF_PATH].len;
    }
    if (u.field_set & (1 << UF_QUERY)) {
        query.data = r->url.data + u.field_data[UF_QUERY].off;
        query.len = u.field_data[UF_QUERY].len;
    }
    /* Room for the path twice (whole, then as segments, which take no
     * more bytes than it: a NUL for each '/' dropped) and the query
     * (a NUL for its '&' or '=' dropped, two for a parameter without
     * '='). */
    r->dec = malloc(2 * (r->raw_path.len + 1) + 2 * (query.len + 1));
    if (r->dec == NULL) {
        return CAIRN_ENOMEM;
    }
    dec = r->dec;
    if (pct_decode(r->raw_path.data, r->raw_path.len, false, dec,
                   &r->path.len) != 0) {
        snprintf(msg, msg_size,
                 "the URL path has a '%%' not followed by "
                 "two hex digits");
        return CAIRN_EMALFORMED;
    }
    r->path.data = dec;
    dec += r->path.len + 1;
    rc = split_path(r, r->raw_path, &dec);
    if (rc == 0) {
        rc = split_query(r, query, dec);
        if (rc == CAIRN_EMALFORMED) {
            snprintf(msg, msg_size,
                     "the URL query has a '%%' not followed "
                     "by two hex digits");
        }
    }
    return rc;
}

/* ------------------------------------------------------------------------
 * Encoding answers
 * ---------------------------------------------------------------------- */

const char *http__reason_phrase(int status)
{
    const char *s = http_status_str((enum http_status)status);
    if (s[0] != '<') {
        return s;
    }
    /* Statuses http-parser does not name (cairn's 499). */
    return status < 300   ? "OK"
           : status < 400 ? "Redirect"
           : status < 500 ? "Client Error"
                          : "Server Error";
}

const char *http__status_code_name(int status, char *tmp)
{
    static const struct {
        int status;
        int code;
    } map[] = {
        {400, CAIRN_EINVAL},     {403, CAIRN_EPERM},
        {404, CAIRN_ENOTFOUND},  {409, CAIRN_ECONFLICT},
        {410, CAIRN_ECOMPACTED}, {413, CAIRN_ETOOLARGE},
        {414, CAIRN_ETOOLARGE},  {421, CAIRN_ENOTLEADER},
        {429, CAIRN_EBUSY},      {431, CAIRN_ETOOLARGE},
        {499, CAIRN_ECANCELED},  {500, CAIRN_EINTERNAL},
        {501, CAIRN_ENOTSUP},    {503, CAIRN_EUNAVAILABLE},
        {504, CAIRN_ETIMEDOUT},
    };
    const char *s = http__reason_phrase(status);
    size_t n = 0;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (map[i].status == status) {
            return cairn_errname(map[i].code);
        }
    }
    for (; *s != '\0' && n < 63; s++) {
        tmp[n++] = *s == ' ' || *s == '-'     ? '_'
                   : (*s >= 'A' && *s <= 'Z') ? (char)(*s - 'A' + 'a')
                                              : *s;
    }
    tmp[n] = '\0';
    return tmp;
}

/* RFC 9110 token characters, for header names. */
static bool is_token(const char *s)
{
    if (*s == '\0') {
        return false;
    }
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
              (ch >= 'A' && ch <= 'Z') || strchr("!#$%&'*+-.^_`|~", ch))) {
            return false;
        }
    }
    return true;
}

/* A header value this server writes: no control character but tab, so
 * that no value can end the line (or the head) early. */
static bool is_field_value(const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            return false;
        }
    }
    return true;
}

const char *http__check_head(int status, const char *content_type,
                             const struct http_header *extra, size_t n_extra,
                             char *msg, size_t msg_size)
{
    static const char *const reserved[] = {
        "Content-Type",
        "Content-Length",
        "Transfer-Encoding",
        "Connection",
    };
    if (status < 200 || status > 599) {
        snprintf(msg, msg_size, "invalid response status %d", status);
        return msg;
    }
    if (content_type != NULL && !is_field_value(content_type)) {
        snprintf(msg, msg_size, "invalid response Content-Type");
        return msg;
    }
    for (size_t i = 0; i < n_extra; i++) {
        if (!is_token(extra[i].name) || !is_field_value(extra[i].value)) {
            snprintf(msg, msg_size, "invalid response header '%.64s'",
                     extra[i].name);
            return msg;
        }
        for (size_t k = 0; k < sizeof reserved / sizeof reserved[0]; k++) {
            if (strcasecmp(extra[i].name, reserved[k]) == 0) {
                snprintf(msg, msg_size,
                         "response header '%s' is the "
                         "server's to set",
                         reserved[k]);
                return msg;
            }
        }
    }
    return NULL;
}

/* The X-Correlation-Id of @r to echo, or NULL: only a printable ASCII one
 * of sane length, as it is copied into the answer's head. */
static const char *correlation_id(const struct http_req *r)
{
    const char *id = r != NULL ? http_req_header(r, "X-Correlation-Id") : NULL;
    size_t n = 0;
    if (id == NULL) {
        return NULL;
    }
    for (; id[n] != '\0'; n++) {
        if (id[n] < 0x20 || id[n] > 0x7e || n >= HTTP_CORRELATION_ID_MAX) {
            return NULL;
        }
    }
    return n > 0 ? id : NULL;
}

int http__put_head(struct buf *out, const struct http_req *r, int status,
                   const char *content_type, const struct http_header *extra,
                   size_t n_extra, enum http__framing framing, size_t len,
                   bool close)
{
    const char *id = correlation_id(r);
    int rc = http__buf_printf(
        out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n", status,
        http__reason_phrase(status),
        content_type != NULL ? content_type : "application/octet-stream");
    if (framing == HTTP__FRAME_LENGTH) {
        rc |= http__buf_printf(out, "Content-Length: %zu\r\n", len);
    } else if (framing == HTTP__FRAME_CHUNKED) {
        rc |= http__buf_printf(out, "Transfer-Encoding: chunked\r\n");
    }
    if (close) {
        rc |= http__buf_printf(out, "Connection: close\r\n");
    } else if (r != NULL && r->http10) {
        rc |= http__buf_printf(out, "Connection: keep-alive\r\n");
    }
    if (id != NULL) {
        rc |= http__buf_printf(out, "X-Correlation-Id: %s\r\n", id);
    }
    for (size_t i = 0; i < n_extra; i++) {
        rc |=
            http__buf_printf(out, "%s: %s\r\n", extra[i].name, extra[i].value);
    }
    rc |= http__buf_printf(out, "\r\n");
    return rc != 0 ? CAIRN_ENOMEM : 0;
}

/* Copy @msg, with each byte that starts no valid UTF-8 sequence replaced
 * by '?', as jansson accepts only UTF-8. The caller frees the copy. */
static char *utf8_sanitize(const char *msg)
{
    size_t len = strlen(msg);
    char *s = malloc(len + 1);
    json_t *probe;
    size_t i = 0;
    if (s == NULL) {
        return NULL;
    }
    while (i < len) {
        unsigned char lead = (unsigned char)msg[i];
        size_t seq = lead < 0x80 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
        bool ok = seq == 1;
        if (!ok && seq <= len - i &&
            (probe = json_stringn(msg + i, seq)) != NULL) {
            json_decref(probe); /* jansson judged the one sequence */
            ok = true;
        }
        if (!ok) {
            s[i++] = '?';
            continue;
        }
        memcpy(s + i, msg + i, seq);
        i += seq;
    }
    s[len] = '\0';
    return s;
}

/* The JSON error body {"error": @msg, "code": @code}, malloc'd (the
 * caller frees it with free()), or NULL when out of memory. */
static char *json_error_body(const char *code, const char *msg)
{
    json_t *o = json_object();
    json_t *m = json_string(msg);
    char *fixed = NULL, *body = NULL;
    if (m == NULL && (fixed = utf8_sanitize(msg)) != NULL) {
        m = json_string(fixed);
    }
    if (o != NULL && m != NULL && json_object_set_new(o, "error", m) == 0 &&
        json_object_set_new(o, "code", json_string(code)) == 0) {
        body = json_dumps(o, 0);
    } else if (o == NULL) {
        json_decref(m); /* json_object_set_new() takes it, even failing */
    }
    json_decref(o);
    free(fixed);
    return body;
}

/* 204 and 304 answers have no body, and so no Content-Length (RFC 9110
 * 8.6 forbids it on a 204). */
static enum http__framing whole_framing(int status)
{
    return status == 204 || status == 304 ? HTTP__FRAME_NONE
                                          : HTTP__FRAME_LENGTH;
}

int http__put_error(struct buf *out, const struct http_req *r, int status,
                    const char *code, const char *msg, bool close)
{
    char *body = json_error_body(code, msg);
    size_t len = body != NULL ? strlen(body) : 0;
    enum http__framing framing = whole_framing(status);
    int rc = body != NULL ? 0 : CAIRN_ENOMEM;
    if (rc == 0) {
        rc = http__put_head(out, r, status, "application/json", NULL, 0,
                            framing, len, close);
    }
    if (rc == 0 && framing == HTTP__FRAME_LENGTH && (r == NULL || !r->head)) {
        rc = http__buf_put(out, body, len) == 0 ? 0 : CAIRN_ENOMEM;
    }
    free(body);
    return rc;
}

int http__put_answer(struct buf *out, const struct http_req *r, int status,
                     const char *content_type, const struct http_header *extra,
                     size_t n_extra, const void *body, size_t len)
{
    enum http__framing framing = whole_framing(status);
    int rc = http__put_head(out, r, status, content_type, extra, n_extra,
                            framing, len, !r->keep_alive);
    if (rc == 0 && framing == HTTP__FRAME_LENGTH && !r->head &&
        http__buf_put(out, body, len) != 0) {
        rc = CAIRN_ENOMEM;
    }
    return rc;
}
