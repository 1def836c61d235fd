/*
 * fuzz_cmd_decode — libFuzzer target for the command and result codecs
 * (storage_cmd_decode / storage_cmd_encode, storage_result_decode /
 * storage_result_encode; docs/storage.md "Command encoding").
 *
 * Every input goes to both decoders. When one accepts it, the target checks
 * a round-trip property and abort()s when it fails:
 *
 *   commands: c1 = decode(input); e1 = encode(c1) must succeed;
 *             c2 = decode(e1) must succeed and equal c1 in every field the
 *             encoding carries for c1's type (the fields apply() reads);
 *             e2 = encode(c2) must be byte-identical to e1 (canonical form).
 *   results:  r1 = decode(input); r2 = decode(encode(r1)) equals r1 in every
 *             field (errmsg compared as a C string).
 *
 * Fields the decoder accepts but the encoding does not carry for the type
 * (a "rev" on a put, a "val" on a delete, an "exists" on a value compare...)
 * are dropped by a round trip; apply() ignores them, so by default they are
 * not compared. Set CAIRN_FUZZ_STRICT=1 to compare every field of struct
 * storage_cmd regardless of type, which reports such lenient decodes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "storage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static bool strict;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *e = getenv("CAIRN_FUZZ_STRICT");
    (void)argc;
    (void)argv;
    strict = e != NULL && e[0] == '1';
    return 0;
}

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_cmd_decode: %s: %s\n", what, detail);
    abort();
}

#define DIFF(cond, field)                                                    \
    do {                                                                     \
        if (cond) {                                                          \
            return field;                                                    \
        }                                                                    \
    } while (0)

#define BYTES_DIFF(a, b, f, field)                                           \
    DIFF(!fuzz_bytes_eq((a)->f, (a)->f##_len, (b)->f, (b)->f##_len), field)

/* The value fields of a write: meta, ttl, exp, and the value when @value. */
static const char *write_diff(const struct cairn_write *a,
                              const struct cairn_write *b, bool value)
{
    DIFF(a->op != b->op, "op");
    BYTES_DIFF(a, b, key, "key");
    if (value) {
        BYTES_DIFF(a, b, value, "value");
    }
    BYTES_DIFF(a, b, meta, "meta");
    DIFF(a->ttl_ns != b->ttl_ns, "ttl_ns");
    DIFF(a->expires_at != b->expires_at, "expires_at");
    return NULL;
}

static const char *compare_diff(const struct cairn_compare *a,
                                const struct cairn_compare *b)
{
    BYTES_DIFF(a, b, key, "key");
    DIFF(a->target != b->target, "target");
    DIFF(a->op != b->op, "op");
    if (strict || a->target == CAIRN_CMP_VALUE) {
        BYTES_DIFF(a, b, value, "value");
    }
    if (strict || a->target == CAIRN_CMP_REVISION) {
        DIFF(a->revision != b->revision, "revision");
    }
    if (strict || a->target == CAIRN_CMP_EXISTS) {
        DIFF(a->exists != b->exists, "exists");
    }
    return NULL;
}

/* The first field in which @a and @b differ (by the rules above), or NULL. */
static const char *cmd_diff(const struct storage_cmd *a,
                            const struct storage_cmd *b, char *buf,
                            size_t cap)
{
    const char *d;
    bool single = a->type >= STORAGE_CMD_PUT && a->type <= STORAGE_CMD_PURGE;
    bool value = a->type >= STORAGE_CMD_PUT && a->type <= STORAGE_CMD_CAS;

    DIFF(a->type != b->type, "type");
    DIFF(a->time != b->time, "time");
    DIFF(a->cid != b->cid, "cid");
    DIFF(a->seq != b->seq, "seq");
    if (strict || single) {
        if ((d = write_diff(&a->w, &b->w, strict || value)) != NULL) {
            snprintf(buf, cap, "w.%s", d);
            return buf;
        }
    }
    if (strict || a->type == STORAGE_CMD_UPDATE ||
        a->type == STORAGE_CMD_DELETE || a->type == STORAGE_CMD_PURGE) {
        DIFF(a->revision != b->revision, "revision");
    }
    if (strict || a->type == STORAGE_CMD_CAS) {
        DIFF(a->has_old != b->has_old, "has_old");
        if (strict || a->has_old) {
            BYTES_DIFF(a, b, old, "old");
        }
    }
    DIFF(a->n_compares != b->n_compares, "n_compares");
    DIFF(a->n_writes != b->n_writes, "n_writes");
    for (uint32_t i = 0; i < a->n_compares; i++) {
        if ((d = compare_diff(&a->compares[i], &b->compares[i])) != NULL) {
            snprintf(buf, cap, "compares[%u].%s", i, d);
            return buf;
        }
    }
    for (uint32_t i = 0; i < a->n_writes; i++) {
        const struct cairn_write *wa = &a->writes[i];
        if ((d = write_diff(wa, &b->writes[i],
                            strict || wa->op == CAIRN_OP_PUT)) != NULL) {
            snprintf(buf, cap, "writes[%u].%s", i, d);
            return buf;
        }
    }
    return NULL;
}

static const char *result_diff(const struct storage_result *a,
                               const struct storage_result *b)
{
    DIFF(a->code != b->code, "code");
    DIFF(a->revision != b->revision, "revision");
    DIFF(a->last_revision != b->last_revision, "last_revision");
    DIFF(a->current_revision != b->current_revision, "current_revision");
    DIFF(a->failed_compare != b->failed_compare, "failed_compare");
    DIFF(a->count != b->count, "count");
    DIFF(a->skipped != b->skipped, "skipped");
    DIFF(a->duplicate != b->duplicate, "duplicate");
    DIFF(strcmp(a->errmsg, b->errmsg) != 0, "errmsg");
    return NULL;
}

static void cmd_round_trip(const uint8_t *data, size_t size)
{
    struct storage_cmd c1, c2, c3;
    char err[CAIRN_ERRMSG_SIZE], where[64];
    void *e1 = NULL, *e2 = NULL;
    size_t l1 = 0, l2 = 0;
    const char *d;
    int rc;

    rc = storage_cmd_decode(data, size, &c1, err);
    if (rc != 0) {
        storage_cmd_release(&c1);
        return;
    }
    if (storage_cmd_encode(&c1, &e1, &l1, err) != 0) {
        fail("a decoded command does not encode", err);
    }
    if (storage_cmd_decode(e1, l1, &c2, err) != 0) {
        fail("a re-encoded command does not decode", err);
    }
    if ((d = cmd_diff(&c1, &c2, where, sizeof where)) != NULL) {
        fail("the round trip changed a command field", d);
    }
    if (storage_cmd_encode(&c2, &e2, &l2, err) != 0) {
        fail("a round-tripped command does not encode", err);
    }
    if (l1 != l2 || memcmp(e1, e2, l1) != 0) {
        fail("the encoding is not canonical", "encode(decode(e)) != e");
    }
    /* Decoding the canonical bytes once more must agree too. */
    if (storage_cmd_decode(e2, l2, &c3, err) != 0) {
        fail("a canonical encoding does not decode", err);
    }
    if ((d = cmd_diff(&c2, &c3, where, sizeof where)) != NULL) {
        fail("decoding the canonical encoding twice differs", d);
    }
    storage_cmd_release(&c3);
    storage_cmd_release(&c2);
    storage_cmd_release(&c1);
    free(e2);
    free(e1);
}

static void result_round_trip(const uint8_t *data, size_t size)
{
    struct storage_result r1, r2;
    char err[CAIRN_ERRMSG_SIZE];
    void *e = NULL;
    size_t l = 0;
    const char *d;

    if (storage_result_decode(data, size, &r1, err) != 0) {
        return;
    }
    if (storage_result_encode(&r1, &e, &l, err) != 0) {
        fail("a decoded result does not encode", err);
    }
    if (storage_result_decode(e, l, &r2, err) != 0) {
        fail("a re-encoded result does not decode", err);
    }
    if ((d = result_diff(&r1, &r2)) != NULL) {
        fail("the round trip changed a result field", d);
    }
    free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cmd_round_trip(data, size);
    result_round_trip(data, size);
    return 0;
}
