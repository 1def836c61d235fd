/*
 * cairn_text.h — the text and JSON forms of cairn's values, shared by the
 * `cairn` CLI (docs/cli.md) and cairnd's HTTP API (docs/http.md), so that
 * both speak the same shapes: entries, bucket configs and statuses,
 * durations, times, and the JSON objects that describe a write. JSON is
 * jansson's. Not installed; not part of libcairn's ABI.
 *
 * Caveats
 * -------
 * - Functions returning json_t * return a new reference (NULL when out of
 *   memory) that the caller owns.
 * - Bytes that are not valid UTF-8 cannot be JSON strings: they appear as
 *   "<name>_b64", their base64.
 */
#ifndef CAIRN_TEXT_H
#define CAIRN_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cairn.h"

#define CAIRN_NS_PER_S 1000000000LL

/* ------------------------------------------------------------------------
 * Numbers, durations, times
 * ---------------------------------------------------------------------- */

/* Decimal digits only (no sign, no spaces), at most @max, into *out.
 * Returns 0 or -1. */
int cairn_text_parse_u64(const char *s, uint64_t max, uint64_t *out);

/* A duration: a number of seconds ("30") or runs of digits and units,
 * ns us ms s m h d ("1h30m", "250ms"), into *ns. Returns 0 or -1. */
int cairn_text_parse_duration(const char *s, int64_t *ns);

/* @ns as the shortest run of units ("1h30m"; "0s"), into @buf. */
void cairn_text_format_duration(int64_t ns, char *buf, size_t size);

/* @ns since the epoch as RFC 3339 in UTC with milliseconds
 * ("2024-05-01T12:00:00.123Z"); "-" for 0. */
void cairn_text_format_time(uint64_t ns, char *buf, size_t size);

/* A byte size: decimal with an optional K/KiB, M/MiB or G/GiB suffix
 * (powers of 1024), or -1. Returns 0 or -1. */
int cairn_text_parse_size(const char *s, int64_t *out);

/* Lowercase hex of @len bytes in a new string (free() it), or NULL when
 * out of memory. */
char *cairn_text_hex_encode(const void *p, size_t len);

/* The bytes of hex string @s in a new buffer (free() it; one byte more
 * than *len, so that empty input is still a buffer), or NULL when @s is
 * not hex or out of memory. */
void *cairn_text_hex_decode(const char *s, size_t *len);

/* "file" or "memory" for an enum cairn_storage_kind. */
const char *cairn_text_storage_name(uint32_t storage);

/* "PUT", "DEL", "PURGE" (or "UNKNOWN") for an enum cairn_op. */
const char *cairn_text_op_name(uint32_t op);

/* ------------------------------------------------------------------------
 * JSON out
 * ---------------------------------------------------------------------- */

/* A JSON string of the @len bytes at @p, or NULL when they are not UTF-8
 * (or out of memory). */
json_t *cairn_json_bytes(const void *p, size_t len);

/* Set @obj's field @name to the bytes as a string, or "<name>_b64" to
 * their base64 when they are not UTF-8. */
void cairn_json_set_bytes(json_t *obj, const char *name, const void *p,
                          size_t len);

/* RFC 3339 as cairn_text_format_time(), or null for 0. */
json_t *cairn_json_time(uint64_t ns);

/* Whether @e carries a value (a PUT, possibly of 0 bytes). */
bool cairn_entry_has_value(const cairn_entry *e);

/* @e as {"bucket"?, "key", "value"?, "meta"?, "revision",
 * "created_revision", "updated", "expires", "operation"} (docs/cli.md);
 * "bucket" only when @bucket is not NULL. */
json_t *cairn_json_entry(const char *bucket, const cairn_entry *e);

/* @cfg as {"name", "description", "replicas", "history", "ttl", "ttl_ns",
 * "max_bytes", "max_value_size", "storage", "compression", "cluster",
 * "tags", "metadata"}. */
json_t *cairn_json_bucket_config(const cairn_bucket_config *cfg);

/* A bucket's status as `cairn bucket info --json` prints it: {"name",
 * "config", "created", "keys", "bytes", "stored_bytes", "revision",
 * "compacted", "replicas": [{"node", "leader", "applied", "lag"?,
 * "active"?}]}. */
json_t *cairn_json_bucket_details(const cairn_bucket_details *in);

/* ------------------------------------------------------------------------
 * JSON in
 * ---------------------------------------------------------------------- */

/* Memory that parsed writes point into (decoded base64, metadata). */
struct cairn_json_keep {
    void **bufs; /* (owned) */
    size_t n, cap;
};

/* Free what @k keeps (not @k itself). */
void cairn_json_keep_free(struct cairn_json_keep *k);

/* What cairn_json_write() accepts beyond a plain key/value pair. */
enum cairn_json_write_flags {
    CAIRN_JSON_WRITE_OP = 1u << 0, /* "op": "put" | "delete" | "purge" */
};

/*
 * Fill @w from the JSON object @o: "key" or "key_b64" (1..512 bytes),
 * "value" or "value_b64" (required for a put), "ttl" (a duration string or
 * seconds), "expires_at" (unix seconds; not with ttl), "meta" (an object,
 * stored as compact JSON, or a string; at most 1 KiB), and with
 * CAIRN_JSON_WRITE_OP "op". @w points into @o's strings and into @keep.
 * Returns 0, CAIRN_EINVAL with @msg (@size bytes) naming the field and the
 * rule ("unknown field \"vaule\" (fields: ...)"), or CAIRN_ENOMEM.
 */
int cairn_json_write(json_t *o, unsigned flags, struct cairn_write *w,
                     struct cairn_json_keep *keep, char *msg, size_t size);

/*
 * Check that every field of object @o is one of the @n names of @known.
 * Returns 0, or CAIRN_EINVAL with @msg: "unknown field \"x\" (fields:
 * @list)".
 */
int cairn_json_known_fields(json_t *o, const char *const *known, size_t n,
                            const char *list, char *msg, size_t size);

/*
 * The bytes of field @name of @o: "NAME" as a string, or "NAME_b64" as
 * base64 (decoded into memory kept by @keep), into *p and *len; *given says
 * whether either was there. Returns 0, CAIRN_EINVAL with @msg, or
 * CAIRN_ENOMEM.
 */
int cairn_json_field_bytes(json_t *o, const char *name,
                           struct cairn_json_keep *keep, const void **p,
                           size_t *len, bool *given, char *msg, size_t size);

#endif /* CAIRN_TEXT_H */
