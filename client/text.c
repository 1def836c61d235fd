/*
 * text.c — the text and JSON forms of cairn's values (cairn_text.h), shared
 * by the CLI and cairnd's HTTP API.
 */
#include <errno.h>
#include <stdarg.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cairn_text.h"

/* ------------------------------------------------------------------------
 * Numbers, durations, times
 * ---------------------------------------------------------------------- */

static const struct unit {
    const char *name;
    int64_t ns;
} units[] = {
    /* Longest names first where one is a prefix of another ("ms", "m"). */
    {"ns", 1},
    {"us", 1000},
    {"ms", 1000000},
    {"s", CAIRN_NS_PER_S},
    {"m", 60 * CAIRN_NS_PER_S},
    {"h", 3600 * CAIRN_NS_PER_S},
    {"d", 86400 * CAIRN_NS_PER_S},
};

int cairn_text_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s[0] < '0' || s[0] > '9') {
        return -1; /* strtoull would take a sign or spaces */
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

/* A run of digits at *s into *v, advancing *s. */
static int digits(const char **s, uint64_t *v)
{
    uint64_t x = 0;
    const char *p = *s;

    if (*p < '0' || *p > '9') {
        return -1;
    }
    for (; *p >= '0' && *p <= '9'; p++) {
        if (x > (UINT64_MAX - 9) / 10) {
            return -1;
        }
        x = x * 10 + (uint64_t)(*p - '0');
    }
    *s = p;
    *v = x;
    return 0;
}

int cairn_text_parse_duration(const char *s, int64_t *ns)
{
    uint64_t total = 0, v;
    const char *p = s;
    size_t i, n;

    if (cairn_text_parse_u64(s, (uint64_t)INT64_MAX / CAIRN_NS_PER_S, &v) == 0) {
        *ns = (int64_t)v * CAIRN_NS_PER_S; /* plain seconds */
        return 0;
    }
    if (*p == '\0') {
        return -1;
    }
    while (*p != '\0') {
        if (digits(&p, &v) != 0) {
            return -1;
        }
        for (i = 0; i < sizeof units / sizeof units[0]; i++) {
            n = strlen(units[i].name);
            if (strncmp(p, units[i].name, n) == 0 &&
                (p[n] == '\0' || (p[n] >= '0' && p[n] <= '9'))) {
                break;
            }
        }
        if (i == sizeof units / sizeof units[0]) {
            return -1; /* a missing or unknown unit */
        }
        p += strlen(units[i].name);
        if (v > ((uint64_t)INT64_MAX - total) / (uint64_t)units[i].ns) {
            return -1;
        }
        total += v * (uint64_t)units[i].ns;
    }
    *ns = (int64_t)total;
    return 0;
}

void cairn_text_format_duration(int64_t ns, char *buf, size_t size)
{
    size_t used = 0;
    int i;

    if (size == 0) {
        return;
    }
    buf[0] = '\0';
    if (ns <= 0) {
        snprintf(buf, size, "%llds", (long long)ns / CAIRN_NS_PER_S);
        return;
    }
    for (i = (int)(sizeof units / sizeof units[0]) - 1; i >= 0 && ns > 0;
         i--) {
        int64_t q = ns / units[i].ns;
        int w;

        if (q == 0) {
            continue;
        }
        w = snprintf(buf + used, size - used, "%lld%s", (long long)q,
                     units[i].name);
        if (w < 0 || (size_t)w >= size - used) {
            return;
        }
        used += (size_t)w;
        ns -= q * units[i].ns;
    }
}

void cairn_text_format_time(uint64_t ns, char *buf, size_t size)
{
    time_t secs = (time_t)(ns / 1000000000u);
    struct tm tm;
    char date[32];

    if (ns == 0 || gmtime_r(&secs, &tm) == NULL) {
        snprintf(buf, size, "-");
        return;
    }
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03uZ", date,
             (unsigned)(ns % 1000000000u / 1000000u));
}

const char *cairn_text_op_name(uint32_t op)
{
    switch (op) {
        case CAIRN_OP_PUT:
            return "PUT";
        case CAIRN_OP_DEL:
            return "DEL";
        case CAIRN_OP_PURGE:
            return "PURGE";
        default:
            return "UNKNOWN";
    }
}

int cairn_text_parse_size(const char *s, int64_t *out)
{
    static const struct {
        const char *suffix;
        int shift;
    } suffixes[] = {
        {"", 0},    {"K", 10},   {"KiB", 10}, {"M", 20},
        {"MiB", 20}, {"G", 30},  {"GiB", 30},
    };
    const char *p = s;
    uint64_t v;
    size_t i;

    if (strcmp(s, "-1") == 0) {
        *out = -1;
        return 0;
    }
    if (digits(&p, &v) != 0) {
        return -1;
    }
    for (i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        if (strcmp(p, suffixes[i].suffix) == 0) {
            if (v > ((uint64_t)INT64_MAX >> suffixes[i].shift)) {
                return -1;
            }
            *out = (int64_t)(v << suffixes[i].shift);
            return 0;
        }
    }
    return -1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

void *cairn_text_hex_decode(const char *s, size_t *len)
{
    size_t n = strlen(s), i;
    unsigned char *out;

    if (n % 2 != 0) {
        return NULL;
    }
    out = malloc(n / 2 + 1); /* + 1: an empty cursor is still a buffer */
    if (out == NULL) {
        return NULL;
    }
    for (i = 0; i < n / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            free(out);
            return NULL;
        }
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    *len = n / 2;
    return out;
}

char *cairn_text_hex_encode(const void *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = data;
    char *out = malloc(2 * len + 1);
    size_t i;

    if (out == NULL) {
        return NULL;
    }
    for (i = 0; i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * len] = '\0';
    return out;
}

/* ------------------------------------------------------------------------
 * JSON out
 * ---------------------------------------------------------------------- */

json_t *cairn_json_bytes(const void *p, size_t len)
{
    /* json_stringn() refuses invalid UTF-8 (and accepts NUL bytes). */
    return json_stringn(len > 0 ? p : "", len);
}

void cairn_json_set_bytes(json_t *obj, const char *name, const void *p,
                        size_t len)
{
    json_t *s = cairn_json_bytes(p, len);
    char key[64];
    char *b64;
    size_t size = (len + 2) / 3 * 4 + 1;

    if (s != NULL) {
        json_object_set_new(obj, name, s);
        return;
    }
    snprintf(key, sizeof key, "%s_b64", name);
    b64 = malloc(size);
    if (b64 == NULL) {
        return;
    }
    if (b64_ntop(p, len, b64, size) >= 0) {
        json_object_set_new(obj, key, json_string(b64));
    }
    free(b64);
}

json_t *cairn_json_time(uint64_t ns)
{
    char buf[64];

    if (ns == 0) {
        return json_null();
    }
    cairn_text_format_time(ns, buf, sizeof buf);
    return json_string(buf);
}

bool cairn_entry_has_value(const cairn_entry *e)
{
    /* A PUT of 0 bytes may come back with value NULL: it still has one. */
    return e->value != NULL || e->op == CAIRN_OP_PUT;
}

/* Per-key metadata: the JSON this tool writes (put --meta) as itself,
 * anything else as bytes under "meta" or "meta_b64". */
static void set_meta(json_t *obj, const cairn_entry *e)
{
    json_t *m;

    if (e->meta == NULL) {
        return;
    }
    m = json_loadb(e->meta, e->meta_len, JSON_DECODE_ANY, NULL);
    if (m != NULL) {
        json_object_set_new(obj, "meta", m);
    } else {
        cairn_json_set_bytes(obj, "meta", e->meta, e->meta_len);
    }
}

json_t *cairn_json_entry(const char *bucket, const cairn_entry *e)
{
    json_t *o = json_object();

    if (o == NULL) {
        return NULL;
    }
    if (bucket != NULL) {
        json_object_set_new(o, "bucket", json_string(bucket));
    }
    cairn_json_set_bytes(o, "key", e->key, e->key_len);
    if (cairn_entry_has_value(e)) {
        cairn_json_set_bytes(o, "value", e->value, e->value_len);
    }
    set_meta(o, e);
    json_object_set_new(o, "revision", json_integer((json_int_t)e->revision));
    json_object_set_new(o, "created_revision",
                        json_integer((json_int_t)e->create_revision));
    json_object_set_new(o, "updated", cairn_json_time(e->updated));
    json_object_set_new(o, "expires", cairn_json_time(e->expires));
    json_object_set_new(o, "operation", json_string(cairn_text_op_name(e->op)));
    return o;
}

const char *cairn_text_storage_name(uint32_t s)
{
    return s == CAIRN_STORAGE_MEMORY ? "memory" : "file";
}

json_t *cairn_json_bucket_config(const cairn_bucket_config *cfg)
{
    json_t *o = json_object(), *tags = json_array(), *meta = json_object();
    char d[64];
    uint32_t i;

    if (o == NULL || tags == NULL || meta == NULL) {
        json_decref(o);
        json_decref(tags);
        json_decref(meta);
        return NULL;
    }
    cairn_text_format_duration(cfg->ttl_ns, d, sizeof d);
    json_object_set_new(o, "name", json_string(cfg->name));
    json_object_set_new(o, "description", json_string(cfg->description));
    json_object_set_new(o, "replicas", json_integer(cfg->num_replicas));
    json_object_set_new(o, "history", json_integer(cfg->history));
    json_object_set_new(o, "ttl", json_string(d));
    json_object_set_new(o, "ttl_ns", json_integer(cfg->ttl_ns));
    json_object_set_new(o, "max_bytes", json_integer(cfg->max_bytes));
    json_object_set_new(o, "max_value_size",
                        json_integer(cfg->max_value_size));
    json_object_set_new(o, "storage", json_string(cairn_text_storage_name(cfg->storage)));
    json_object_set_new(o, "compression", json_boolean(cfg->compression));
    json_object_set_new(o, "cluster", json_string(cfg->cluster));
    for (i = 0; i < cfg->n_tags && i < CAIRN_TAGS_MAX; i++) {
        json_array_append_new(tags, json_string(cfg->tags[i]));
    }
    for (i = 0; i < cfg->n_metadata && i < CAIRN_METADATA_PAIRS_MAX; i++) {
        json_object_set_new(meta, cfg->metadata[i].key,
                            json_string(cfg->metadata[i].value));
    }
    json_object_set_new(o, "tags", tags);
    json_object_set_new(o, "metadata", meta);
    return o;
}

static json_t *json_replicas(const cairn_replica *r, uint32_t n)
{
    json_t *arr = json_array(), *o;
    uint32_t i;

    for (i = 0; arr != NULL && i < n; i++) {
        o = json_object();
        if (o == NULL) {
            break;
        }
        json_object_set_new(o, "node", json_integer((json_int_t)r[i].node));
        json_object_set_new(o, "leader", json_boolean(r[i].leader));
        json_object_set_new(o, "applied",
                            json_integer((json_int_t)r[i].applied));
        if (r[i].has_lag) {
            json_object_set_new(o, "lag", json_integer((json_int_t)r[i].lag));
            json_object_set_new(o, "active", json_boolean(r[i].active));
        }
        json_array_append_new(arr, o);
    }
    return arr;
}

json_t *cairn_json_bucket_details(const cairn_bucket_details *in)
{
    json_t *o = json_object();
    uint32_t n = in->n_replicas;

    if (o == NULL) {
        return NULL;
    }
    json_object_set_new(o, "name", json_string(in->config.name));
    json_object_set_new(o, "config", cairn_json_bucket_config(&in->config));
    json_object_set_new(o, "created", cairn_json_time(in->created));
    json_object_set_new(o, "keys", json_integer((json_int_t)in->keys));
    json_object_set_new(o, "bytes", json_integer((json_int_t)in->bytes));
    json_object_set_new(o, "stored_bytes",
                        json_integer((json_int_t)in->stored_bytes));
    json_object_set_new(o, "revision", json_integer((json_int_t)in->revision));
    json_object_set_new(o, "compacted",
                        json_integer((json_int_t)in->compacted));
    json_object_set_new(o, "replicas", json_replicas(
        in->replicas, n < CAIRN_REPLICAS_MAX ? n : CAIRN_REPLICAS_MAX));
    return o;
}

/* ------------------------------------------------------------------------
 * JSON in
 * ---------------------------------------------------------------------- */

void cairn_json_keep_free(struct cairn_json_keep *k)
{
    for (size_t i = 0; i < k->n; i++) {
        free(k->bufs[i]);
    }
    free(k->bufs);
    memset(k, 0, sizeof *k);
}

/* Keep @p (malloc'd) until @k is freed. Returns 0, or -1 (then @p is
 * freed). */
static int keep_add(struct cairn_json_keep *k, void *p)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 64;
        void **bigger = realloc(k->bufs, cap * sizeof *bigger);
        if (bigger == NULL) {
            free(p);
            return -1;
        }
        k->bufs = bigger;
        k->cap = cap;
    }
    k->bufs[k->n++] = p;
    return 0;
}

static int bad(char *msg, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(char *msg, size_t size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, size, fmt, ap);
    va_end(ap);
    return CAIRN_EINVAL;
}

int cairn_json_field_bytes(json_t *o, const char *name,
                           struct cairn_json_keep *keep, const void **p,
                           size_t *len, bool *given, char *msg, size_t size)
{
    char b64name[32];
    json_t *s, *s64;
    unsigned char *dec;
    const char *text;
    size_t cap;
    int n;

    snprintf(b64name, sizeof b64name, "%s_b64", name);
    s = json_object_get(o, name);
    s64 = json_object_get(o, b64name);
    *given = s != NULL || s64 != NULL;
    if (s != NULL && s64 != NULL) {
        return bad(msg, size, "give \"%s\" or \"%s\", not both", name,
                   b64name);
    }
    if (s != NULL) {
        if (!json_is_string(s)) {
            return bad(msg, size, "\"%s\" must be a string", name);
        }
        *p = json_string_value(s);
        *len = json_string_length(s);
        return 0;
    }
    if (s64 == NULL) {
        return 0;
    }
    if (!json_is_string(s64)) {
        return bad(msg, size, "\"%s\" must be a base64 string", b64name);
    }
    text = json_string_value(s64);
    cap = json_string_length(s64) / 4 * 3 + 3;
    dec = malloc(cap);
    if (dec == NULL || keep_add(keep, dec) != 0) {
        snprintf(msg, size, "out of memory");
        return CAIRN_ENOMEM;
    }
    n = b64_pton(text, dec, cap);
    if (n < 0 || strlen(text) != json_string_length(s64)) {
        return bad(msg, size, "\"%s\" is not valid base64", b64name);
    }
    *p = dec;
    *len = (size_t)n;
    return 0;
}

int cairn_json_known_fields(json_t *o, const char *const *known, size_t n,
                        const char *list, char *msg, size_t size)
{
    const char *k;
    json_t *v;

    json_object_foreach(o, k, v) {
        size_t i = 0;
        while (i < n && strcmp(k, known[i]) != 0) {
            i++;
        }
        if (i == n) {
            return bad(msg, size, "unknown field \"%s\" (fields: %s)", k,
                       list);
        }
    }
    return 0;
}

static int write_op(json_t *o, uint32_t *op, char *msg, size_t size)
{
    json_t *v = json_object_get(o, "op");
    const char *s;

    *op = CAIRN_OP_PUT;
    if (v == NULL) {
        return 0;
    }
    s = json_string_value(v);
    if (s == NULL) {
        return bad(msg, size, "\"op\" must be \"put\", \"delete\" or "
                   "\"purge\"");
    }
    if (strcmp(s, "put") == 0) {
        *op = CAIRN_OP_PUT;
    } else if (strcmp(s, "delete") == 0) {
        *op = CAIRN_OP_DEL;
    } else if (strcmp(s, "purge") == 0) {
        *op = CAIRN_OP_PURGE;
    } else {
        return bad(msg, size, "\"op\" \"%s\" is none of \"put\", "
                   "\"delete\", \"purge\"", s);
    }
    return 0;
}

/* "ttl" and "expires_at" of @o into @w. */
static int write_expiry(json_t *o, struct cairn_write *w, char *msg,
                        size_t size)
{
    json_t *v = json_object_get(o, "ttl");

    if (json_is_string(v)) {
        if (cairn_text_parse_duration(json_string_value(v), &w->ttl_ns) != 0) {
            return bad(msg, size, "invalid \"ttl\" \"%s\": expected a "
                       "duration like 500ms, 30s, 5m, 2h or 1d",
                       json_string_value(v));
        }
    } else if (json_is_integer(v) && json_integer_value(v) >= 0 &&
               json_integer_value(v) <= INT64_MAX / CAIRN_NS_PER_S) {
        w->ttl_ns = (int64_t)json_integer_value(v) * CAIRN_NS_PER_S;
    } else if (v != NULL) {
        return bad(msg, size, "\"ttl\" must be a duration string (\"30s\") "
                   "or a number of seconds");
    }
    v = json_object_get(o, "expires_at");
    if (v != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
            (uint64_t)json_integer_value(v) > UINT64_MAX / CAIRN_NS_PER_S) {
            return bad(msg, size, "\"expires_at\" must be seconds since the "
                       "Unix epoch, like 1767225600");
        }
        w->expires_at = (uint64_t)json_integer_value(v) * CAIRN_NS_PER_S;
        if (w->ttl_ns > 0) {
            return bad(msg, size, "give \"ttl\" or \"expires_at\", not both");
        }
    }
    return 0;
}

/* "meta" of @o into @w. */
static int write_meta(json_t *o, struct cairn_write *w,
                      struct cairn_json_keep *keep, char *msg, size_t size)
{
    json_t *v = json_object_get(o, "meta");

    if (json_is_object(v)) {
        char *m = json_dumps(v, JSON_COMPACT);
        if (m == NULL || keep_add(keep, m) != 0) {
            snprintf(msg, size, "out of memory");
            return CAIRN_ENOMEM;
        }
        w->meta = m;
        w->meta_len = strlen(m);
    } else if (json_is_string(v)) {
        w->meta = json_string_value(v);
        w->meta_len = json_string_length(v);
    } else if (v != NULL && !json_is_null(v)) {
        return bad(msg, size, "\"meta\" must be an object or a string");
    }
    if (w->meta_len > CAIRN_KEY_META_MAX) {
        return bad(msg, size, "meta of %zu bytes: the limit is %d",
                   w->meta_len, CAIRN_KEY_META_MAX);
    }
    return 0;
}

int cairn_json_write(json_t *o, unsigned flags, struct cairn_write *w,
                     struct cairn_json_keep *keep, char *msg, size_t size)
{
    static const char *const known[] = {"key",  "key_b64",    "value",
                                        "value_b64", "ttl", "expires_at",
                                        "meta", "op"};
    bool with_op = (flags & CAIRN_JSON_WRITE_OP) != 0;
    bool given;
    int rc;

    if (!json_is_object(o)) {
        return bad(msg, size, "expected a JSON object {\"key\": ..., "
                   "\"value\": ...}");
    }
    if ((rc = cairn_json_known_fields(o, known, with_op ? 8 : 7,
                           with_op ? "op, key, value, ttl, expires_at, meta; "
                                     "key_b64, value_b64"
                                   : "key, value, ttl, expires_at, meta; "
                                     "key_b64, value_b64",
                           msg, size)) != 0) {
        return rc;
    }
    memset(w, 0, sizeof *w);
    w->op = CAIRN_OP_PUT;
    if (with_op && (rc = write_op(o, &w->op, msg, size)) != 0) {
        return rc;
    }
    if ((rc = cairn_json_field_bytes(o, "key", keep, &w->key, &w->key_len,
                                     &given, msg, size)) != 0) {
        return rc;
    }
    if (!given) {
        return bad(msg, size, "\"key\" is missing");
    }
    if (w->key_len == 0 || w->key_len > CAIRN_KEY_MAX) {
        return bad(msg, size, "key of %zu bytes: keys are 1 to %d bytes",
                   w->key_len, CAIRN_KEY_MAX);
    }
    if ((rc = cairn_json_field_bytes(o, "value", keep, &w->value,
                                     &w->value_len, &given, msg, size)) != 0) {
        return rc;
    }
    if (w->op == CAIRN_OP_PUT && !given) {
        return bad(msg, size, "\"value\" is missing");
    }
    if (w->op != CAIRN_OP_PUT && given) {
        return bad(msg, size, "a %s takes no \"value\"",
                   w->op == CAIRN_OP_DEL ? "delete" : "purge");
    }
    if (w->op == CAIRN_OP_PUT && w->value == NULL) {
        w->value = ""; /* a value of 0 bytes is still a value */
    }
    if ((rc = write_expiry(o, w, msg, size)) != 0 ||
        (rc = write_meta(o, w, keep, msg, size)) != 0) {
        return rc;
    }
    return 0;
}
