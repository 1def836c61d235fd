/*
 * output.c — what the commands print: exit codes and error lines, JSON
 * (jansson) and the escaping of bytes in line-oriented human output.
 */
#include <inttypes.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

int cli_exit_code(int code)
{
    switch (code) {
        case CAIRN_OK:
            return CLI_OK;
        case CAIRN_ENOTFOUND:
        case CAIRN_ENOBUCKET:
        case CAIRN_EEXIST:
        case CAIRN_ECONFLICT:
            return CLI_NEGATIVE;
        case CAIRN_EUNAVAILABLE:
        case CAIRN_ETIMEDOUT:
        case CAIRN_ECLOSED:
            return CLI_UNAVAILABLE;
        default:
            return CLI_ERROR;
    }
}

int cli_fail(int code, const char *errmsg)
{
    fprintf(stderr, "%s: %s\n", CLI_PROG,
            errmsg != NULL && errmsg[0] != '\0' ? errmsg
                                                : cairn_strerror(code));
    return cli_exit_code(code);
}

int cli_fail_conflict(int code, const char *errmsg, uint64_t current)
{
    const char *msg = errmsg != NULL && errmsg[0] != '\0'
                          ? errmsg
                          : cairn_strerror(code);

    if (code != CAIRN_ECONFLICT || strstr(msg, "current revision") != NULL) {
        return cli_fail(code, errmsg);
    }
    if (current == 0) {
        fprintf(stderr, "%s: %s (the key has no live value)\n", CLI_PROG, msg);
    } else {
        fprintf(stderr, "%s: %s (current revision %" PRIu64 ")\n", CLI_PROG,
                msg, current);
    }
    return CLI_NEGATIVE;
}

int cli_json_print(json_t *j)
{
    int rc;

    if (j == NULL) {
        fprintf(stderr, "%s: out of memory\n", CLI_PROG);
        return CLI_ERROR;
    }
    rc = json_dumpf(j, stdout, JSON_COMPACT);
    json_decref(j);
    if (rc != 0 || fputc('\n', stdout) == EOF) {
        fprintf(stderr, "%s: cannot write the output\n", CLI_PROG);
        return CLI_ERROR;
    }
    return CLI_OK;
}

json_t *cli_json_bytes(const void *p, size_t len)
{
    /* json_stringn() refuses invalid UTF-8 (and accepts NUL bytes). */
    return json_stringn(len > 0 ? p : "", len);
}

void cli_json_set_bytes(json_t *obj, const char *name, const void *p,
                        size_t len)
{
    json_t *s = cli_json_bytes(p, len);
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

void cli_format_time(uint64_t ns, char *buf, size_t size)
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

json_t *cli_json_time(uint64_t ns)
{
    char buf[64];

    if (ns == 0) {
        return json_null();
    }
    cli_format_time(ns, buf, sizeof buf);
    return json_string(buf);
}

const char *cli_op_name(uint32_t op)
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

bool cli_entry_has_value(const cairn_entry *e)
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
        cli_json_set_bytes(obj, "meta", e->meta, e->meta_len);
    }
}

json_t *cli_json_entry(const char *bucket, const cairn_entry *e)
{
    json_t *o = json_object();

    if (o == NULL) {
        return NULL;
    }
    if (bucket != NULL) {
        json_object_set_new(o, "bucket", json_string(bucket));
    }
    cli_json_set_bytes(o, "key", e->key, e->key_len);
    if (cli_entry_has_value(e)) {
        cli_json_set_bytes(o, "value", e->value, e->value_len);
    }
    set_meta(o, e);
    json_object_set_new(o, "revision", json_integer((json_int_t)e->revision));
    json_object_set_new(o, "created_revision",
                        json_integer((json_int_t)e->create_revision));
    json_object_set_new(o, "updated", cli_json_time(e->updated));
    json_object_set_new(o, "expires", cli_json_time(e->expires));
    json_object_set_new(o, "operation", json_string(cli_op_name(e->op)));
    return o;
}

/* The length of the valid UTF-8 sequence at @p (at most @len bytes) that
 * encodes a printable character, or 0. */
static size_t utf8_len(const unsigned char *p, size_t len)
{
    json_t *s;
    size_t n;

    if (p[0] >= 0x20 && p[0] < 0x7f) {
        return 1;
    }
    if (p[0] < 0xc2 || p[0] > 0xf4) {
        return 0; /* ASCII controls, DEL, continuation bytes, overlongs */
    }
    n = p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;
    if (n > len) {
        return 0;
    }
    s = json_stringn((const char *)p, n); /* jansson checks the sequence */
    if (s == NULL) {
        return 0;
    }
    json_decref(s);
    return n;
}

void cli_put_escaped(FILE *f, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t i = 0, n;

    while (i < len) {
        if (p[i] == '\\') {
            fputs("\\\\", f);
            i++;
            continue;
        }
        n = utf8_len(p + i, len - i);
        if (n > 0) {
            fwrite(p + i, 1, n, f);
            i += n;
            continue;
        }
        switch (p[i]) {
            case '\n':
                fputs("\\n", f);
                break;
            case '\t':
                fputs("\\t", f);
                break;
            case '\r':
                fputs("\\r", f);
                break;
            default:
                fprintf(f, "\\x%02x", p[i]);
        }
        i++;
    }
}

char *cli_hex_encode(const void *data, size_t len)
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
