/* Command and result encodings: round trips for every command type,
 * truncation at every length, wrong versions, unknown fields, wrong types.
 * Malformed documents are built with a tiny msgpack reader/writer below so
 * the tests do not depend on the engine's encoder for their inputs. */
#include <stdio.h>
#include <stdlib.h>

#include "helpers.h"

/* ---- a tiny msgpack toolkit ------------------------------------------- */

struct mbuf {
    uint8_t *p;
    size_t n;
    size_t cap;
};

static void mb_put(struct mbuf *b, const void *src, size_t len)
{
    if (b->n + len > b->cap) {
        size_t cap = b->cap == 0 ? 256 : b->cap;
        while (cap < b->n + len) {
            cap *= 2;
        }
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    if (len > 0) {
        memcpy(b->p + b->n, src, len);
    }
    b->n += len;
}

static void mb_byte(struct mbuf *b, uint8_t c)
{
    mb_put(b, &c, 1);
}

static void mb_be(struct mbuf *b, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        mb_byte(b, (uint8_t)(v >> (8 * i)));
    }
}

static void mb_map(struct mbuf *b, size_t n)
{
    if (n < 16) {
        mb_byte(b, (uint8_t)(0x80 | n));
    } else {
        mb_byte(b, 0xde);
        mb_be(b, n, 2);
    }
}

static void mb_str(struct mbuf *b, const char *s)
{
    size_t n = strlen(s);
    assert_true(n < 32);
    mb_byte(b, (uint8_t)(0xa0 | n));
    mb_put(b, s, n);
}

static void mb_uint(struct mbuf *b, uint64_t v)
{
    if (v < 128) {
        mb_byte(b, (uint8_t)v);
    } else {
        mb_byte(b, 0xcf);
        mb_be(b, v, 8);
    }
}

static void mb_bin(struct mbuf *b, const void *p, size_t n)
{
    assert_true(n < 256);
    mb_byte(b, 0xc4);
    mb_byte(b, (uint8_t)n);
    mb_put(b, p, n);
}

/* Skip one msgpack object at *pos. Returns 0 or -1 (malformed/ext). */
static int mp_skip(const uint8_t *b, size_t n, size_t *pos)
{
    uint8_t c;
    size_t len = 0, items = 0;
    if (*pos >= n) {
        return -1;
    }
    c = b[(*pos)++];
    if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
        return 0;
    }
    if ((c & 0xe0) == 0xa0) {
        len = c & 0x1f;
    } else if ((c & 0xf0) == 0x90) {
        items = c & 0x0f;
    } else if ((c & 0xf0) == 0x80) {
        items = 2 * (size_t)(c & 0x0f);
    } else {
        int lb = 0; /* bytes of a length prefix */
        switch (c) {
        case 0xcc: case 0xd0: len = 1; break;
        case 0xcd: case 0xd1: len = 2; break;
        case 0xce: case 0xd2: case 0xca: len = 4; break;
        case 0xcf: case 0xd3: case 0xcb: len = 8; break;
        case 0xc4: case 0xd9: lb = 1; break;
        case 0xc5: case 0xda: lb = 2; break;
        case 0xc6: case 0xdb: lb = 4; break;
        case 0xdc: case 0xde: lb = 2; break;
        case 0xdd: case 0xdf: lb = 4; break;
        default: return -1;
        }
        if (lb > 0) {
            uint64_t v = 0;
            if (*pos + (size_t)lb > n) {
                return -1;
            }
            for (int i = 0; i < lb; i++) {
                v = (v << 8) | b[(*pos)++];
            }
            if (c == 0xdc || c == 0xdd) {
                items = v;
            } else if (c == 0xde || c == 0xdf) {
                items = 2 * v;
            } else {
                len = v;
            }
        }
    }
    if (len > n - *pos) {
        return -1;
    }
    *pos += len;
    for (size_t i = 0; i < items; i++) {
        if (mp_skip(b, n, pos) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Read a map header at *pos: returns the number of pairs or -1. */
static long mp_map_header(const uint8_t *b, size_t n, size_t *pos)
{
    uint8_t c;
    if (*pos >= n) {
        return -1;
    }
    c = b[(*pos)++];
    if ((c & 0xf0) == 0x80) {
        return c & 0x0f;
    }
    if (c == 0xde && *pos + 2 <= n) {
        long v = (long)b[*pos] << 8 | b[*pos + 1];
        *pos += 2;
        return v;
    }
    return -1;
}

static long mp_array_header(const uint8_t *b, size_t n, size_t *pos)
{
    uint8_t c;
    if (*pos >= n) {
        return -1;
    }
    c = b[(*pos)++];
    if ((c & 0xf0) == 0x90) {
        return c & 0x0f;
    }
    if (c == 0xdc && *pos + 2 <= n) {
        long v = (long)b[*pos] << 8 | b[*pos + 1];
        *pos += 2;
        return v;
    }
    return -1;
}

/* Does the key at @k (a msgpack string) equal @name? */
static bool key_is(const uint8_t *k, size_t klen, const char *name)
{
    size_t n = strlen(name);
    if (klen == n + 1 && k[0] == (0xa0 | n)) {
        return memcmp(k + 1, name, n) == 0;
    }
    if (klen == n + 2 && k[0] == 0xd9 && k[1] == n) {
        return memcmp(k + 2, name, n) == 0;
    }
    return false;
}

/* Rewrite the map at @map (@len bytes): the value of field @name replaced
 * by @val (NULL: the field removed); if @name is absent and @val is given,
 * the field is added. The result goes to @out. Returns whether @name was
 * found. */
static bool map_set(const uint8_t *map, size_t len, const char *name,
                    const uint8_t *val, size_t vlen, struct mbuf *out)
{
    size_t pos = 0;
    long pairs = mp_map_header(map, len, &pos);
    struct mbuf body = {0};
    size_t kept = 0;
    bool found = false;
    assert_true(pairs >= 0);
    for (long i = 0; i < pairs; i++) {
        size_t k0 = pos, v0;
        assert_int_equal(mp_skip(map, len, &pos), 0);
        v0 = pos;
        assert_int_equal(mp_skip(map, len, &pos), 0);
        if (key_is(map + k0, v0 - k0, name)) {
            found = true;
            if (val == NULL) {
                continue;
            }
            mb_put(&body, map + k0, v0 - k0);
            mb_put(&body, val, vlen);
        } else {
            mb_put(&body, map + k0, pos - k0);
        }
        kept++;
    }
    assert_int_equal(pos, len);
    if (!found && val != NULL) {
        mb_str(&body, name);
        mb_put(&body, val, vlen);
        kept++;
    }
    out->n = 0;
    mb_map(out, kept);
    mb_put(out, body.p, body.n);
    free(body.p);
    return found;
}

/* The span of field @name's value in the map at @map. */
static bool map_get(const uint8_t *map, size_t len, const char *name,
                    size_t *off, size_t *vlen)
{
    size_t pos = 0;
    long pairs = mp_map_header(map, len, &pos);
    assert_true(pairs >= 0);
    for (long i = 0; i < pairs; i++) {
        size_t k0 = pos, v0;
        assert_int_equal(mp_skip(map, len, &pos), 0);
        v0 = pos;
        assert_int_equal(mp_skip(map, len, &pos), 0);
        if (key_is(map + k0, v0 - k0, name)) {
            *off = v0;
            *vlen = pos - v0;
            return true;
        }
    }
    return false;
}

/* The names of the fields of the map at @map. */
static size_t map_names(const uint8_t *map, size_t len, char names[][32],
                        size_t max)
{
    size_t pos = 0, n = 0;
    long pairs = mp_map_header(map, len, &pos);
    assert_true(pairs >= 0);
    for (long i = 0; i < pairs && n < max; i++) {
        size_t k0 = pos;
        assert_int_equal(mp_skip(map, len, &pos), 0);
        assert_true((map[k0] & 0xe0) == 0xa0);
        snprintf(names[n], 32, "%.*s", (int)(map[k0] & 0x1f),
                 (const char *)map + k0 + 1);
        n++;
        assert_int_equal(mp_skip(map, len, &pos), 0);
    }
    return n;
}

/* Replace the first element of the array at @arr by @elem. */
static void array_set_first(const uint8_t *arr, size_t len,
                            const uint8_t *elem, size_t elen,
                            struct mbuf *out)
{
    size_t pos = 0, e0;
    long n = mp_array_header(arr, len, &pos);
    assert_true(n >= 1);
    e0 = pos;
    assert_int_equal(mp_skip(arr, len, &pos), 0);
    out->n = 0;
    mb_put(out, arr, e0);
    mb_put(out, elem, elen);
    mb_put(out, arr + pos, len - pos);
}

/* ---- helpers ----------------------------------------------------------- */

static void encode(const struct storage_cmd *c, uint8_t **buf, size_t *len)
{
    char err[CAIRN_ERRMSG_SIZE] = "";
    void *b = NULL;
    int rc = storage_cmd_encode(c, &b, len, err);
    if (rc != 0) {
        print_error("encode: %d %s\n", rc, err);
    }
    assert_int_equal(rc, CAIRN_OK);
    assert_non_null(b);
    assert_true(*len > 0);
    *buf = b;
}

/* Decode @len bytes copied into an exactly-sized heap buffer (so a read
 * past the end is caught by ASan). Returns the code; @cmd is released. */
static int decode_exact(const void *src, size_t len, char *err)
{
    uint8_t *copy = malloc(len > 0 ? len : 1);
    struct storage_cmd c;
    int rc;
    assert_non_null(copy);
    if (len > 0) {
        memcpy(copy, src, len);
    }
    memset(&c, 0, sizeof c);
    err[0] = '\0';
    rc = storage_cmd_decode(copy, len, &c, err);
    storage_cmd_release(&c);
    free(copy);
    return rc;
}

static int decode_result_exact(const void *src, size_t len, char *err)
{
    uint8_t *copy = malloc(len > 0 ? len : 1);
    struct storage_result r;
    int rc;
    assert_non_null(copy);
    if (len > 0) {
        memcpy(copy, src, len);
    }
    err[0] = '\0';
    rc = storage_result_decode(copy, len, &r, err);
    free(copy);
    return rc;
}

static void assert_bytes(const void *a, size_t alen, const void *b,
                         size_t blen)
{
    assert_int_equal(alen, blen);
    if (alen > 0) {
        assert_non_null(a);
        assert_non_null(b);
        assert_memory_equal(a, b, alen);
    }
}

static void assert_write_equal(const struct cairn_write *a,
                               const struct cairn_write *b, bool txn)
{
    if (txn) {
        assert_int_equal(a->op, b->op);
    }
    assert_bytes(a->key, a->key_len, b->key, b->key_len);
    assert_bytes(a->value, a->value_len, b->value, b->value_len);
    assert_bytes(a->meta, a->meta_len, b->meta, b->meta_len);
    assert_int_equal(a->ttl_ns, b->ttl_ns);
    assert_int_equal(a->expires_at, b->expires_at);
}

static void assert_cmd_equal(const struct storage_cmd *a,
                             const struct storage_cmd *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->time, b->time);
    assert_int_equal(a->cid, b->cid);
    assert_int_equal(a->cid != 0 ? a->seq : 0, b->seq);
    switch (a->type) {
    case STORAGE_CMD_PUT:
    case STORAGE_CMD_CREATE:
        assert_write_equal(&a->w, &b->w, false);
        break;
    case STORAGE_CMD_UPDATE:
        assert_write_equal(&a->w, &b->w, false);
        assert_int_equal(a->revision, b->revision);
        break;
    case STORAGE_CMD_CAS:
        assert_write_equal(&a->w, &b->w, false);
        assert_int_equal(a->has_old, b->has_old);
        if (a->has_old) {
            assert_bytes(a->old, a->old_len, b->old, b->old_len);
        }
        break;
    case STORAGE_CMD_DELETE:
    case STORAGE_CMD_PURGE:
        assert_bytes(a->w.key, a->w.key_len, b->w.key, b->w.key_len);
        assert_int_equal(a->revision, b->revision);
        break;
    case STORAGE_CMD_EXPIRE:
        break;
    case STORAGE_CMD_TXN:
        assert_int_equal(a->n_compares, b->n_compares);
        for (uint32_t i = 0; i < a->n_compares; i++) {
            const struct cairn_compare *x = &a->compares[i];
            const struct cairn_compare *y = &b->compares[i];
            assert_bytes(x->key, x->key_len, y->key, y->key_len);
            assert_int_equal(x->target, y->target);
            assert_int_equal(x->op, y->op);
            switch (x->target) {
            case CAIRN_CMP_VALUE:
                assert_bytes(x->value, x->value_len, y->value, y->value_len);
                break;
            case CAIRN_CMP_REVISION:
                assert_int_equal(x->revision, y->revision);
                break;
            default:
                assert_int_equal(x->exists, y->exists);
            }
        }
        assert_int_equal(a->n_writes, b->n_writes);
        for (uint32_t i = 0; i < a->n_writes; i++) {
            assert_write_equal(&a->writes[i], &b->writes[i], true);
        }
        break;
    default:
        fail_msg("unexpected type %u", a->type);
    }
}

/* Encode, decode, compare; re-encode and compare the bytes. */
static void roundtrip(const struct storage_cmd *c)
{
    uint8_t *buf, *buf2;
    size_t len, len2;
    struct storage_cmd d;
    char err[CAIRN_ERRMSG_SIZE] = "";
    int rc;
    encode(c, &buf, &len);
    memset(&d, 0xa5, sizeof d);
    rc = storage_cmd_decode(buf, len, &d, err);
    if (rc != 0) {
        print_error("decode: %d %s\n", rc, err);
    }
    assert_int_equal(rc, CAIRN_OK);
    assert_cmd_equal(c, &d);
    /* Byte fields point into the buffer. */
    if (c->type != STORAGE_CMD_EXPIRE && c->type != STORAGE_CMD_TXN) {
        const uint8_t *k = d.w.key;
        assert_true(k >= buf && k + d.w.key_len <= buf + len);
    }
    encode(&d, &buf2, &len2);
    assert_bytes(buf, len, buf2, len2);
    storage_cmd_release(&d);
    free(buf);
    free(buf2);
}

/* Every command type, with every field it carries. */
static size_t sample_cmds(struct storage_cmd *out)
{
    static const struct cairn_compare cmp[] = {
        {"ck1", 3, CAIRN_CMP_VALUE, CAIRN_CMP_EQ, "cv", 2, 0, false},
        {"ck2", 3, CAIRN_CMP_VALUE, CAIRN_CMP_NE, "", 0, 0, false},
        {"ck3", 3, CAIRN_CMP_REVISION, CAIRN_CMP_EQ, NULL, 0, 7, false},
        {"ck4", 3, CAIRN_CMP_REVISION, CAIRN_CMP_NE, NULL, 0, 0, false},
        {"ck5", 3, CAIRN_CMP_REVISION, CAIRN_CMP_LT, NULL, 0,
         UINT64_MAX, false},
        {"ck6", 3, CAIRN_CMP_REVISION, CAIRN_CMP_GT, NULL, 0, 1 << 20,
         false},
        {"ck7", 3, CAIRN_CMP_EXISTS, CAIRN_CMP_EQ, NULL, 0, 0, true},
        {"ck8", 3, CAIRN_CMP_EXISTS, CAIRN_CMP_EQ, NULL, 0, 0, false},
    };
    static struct cairn_write wr[4];
    size_t n = 0;
    wr[0] = wr_put(S("wk1"), S("wv1"));
    wr[0].meta = "wm";
    wr[0].meta_len = 2;
    wr[0].ttl_ns = 1000;
    wr[1] = wr_put(S("wk2"), "\0\xff", 2);
    wr[1].expires_at = T0 + 99;
    wr[2] = wr_del(S("wk3"));
    wr[3] = wr_purge("\x00\x01", 2);

    out[n] = cmd_put(S("key"), S("value"), T0);
    out[n].w.meta = "\x00meta";
    out[n].w.meta_len = 5;
    out[n].w.ttl_ns = 5000000000LL;
    out[n].cid = 1;
    out[n].seq = 1;
    n++;
    out[n] = cmd_put(S("k2"), "", 0, UINT64_MAX);
    out[n].w.expires_at = UINT64_MAX;
    n++;
    out[n++] = cmd_put("\x00\x01\x02", 3, "\xff\x00", 2, 0);
    out[n] = cmd_create(S("c"), S("cv"), T0 + 1);
    out[n].cid = UINT64_MAX;
    out[n].seq = 0;
    n++;
    out[n] = cmd_update(S("u"), S("uv"), 12345678901ULL, T0 + 2);
    out[n].cid = 2;
    out[n].seq = UINT64_MAX;
    n++;
    out[n] = cmd_cas(S("cas"), S("new"), S("old"), true, T0 + 3);
    out[n].cid = 1;
    out[n].seq = 2;
    n++;
    out[n++] = cmd_cas(S("cas"), S("new"), "", 0, true, T0 + 3);
    out[n++] = cmd_cas(S("cas"), S("new"), NULL, 0, false, T0 + 3);
    out[n++] = cmd_delete(S("d"), 0, T0 + 4);
    out[n] = cmd_delete(S("d"), 42, T0 + 4);
    out[n].cid = 1;
    out[n].seq = 3;
    n++;
    out[n] = cmd_purge(S("p"), 0, T0 + 5);
    out[n].cid = 3;
    out[n].seq = 1000000;
    n++;
    out[n++] = cmd_purge(S("p"), 43, T0 + 5);
    out[n++] = cmd_expire(T0 + 6);
    out[n] = cmd_txn(cmp, 8, wr, 4, T0 + 7);
    out[n].cid = 1;
    out[n].seq = 4;
    n++;
    out[n++] = cmd_txn(NULL, 0, wr, 1, T0 + 8);
    return n;
}

/* ---- tests ------------------------------------------------------------- */

static void test_cmd_roundtrip_every_type(void **state)
{
    struct storage_cmd c[16];
    size_t n = sample_cmds(c);
    (void)state;
    for (size_t i = 0; i < n; i++) {
        roundtrip(&c[i]);
    }
}

static void test_cmd_roundtrip_long_fields(void **state)
{
    static uint8_t key[CAIRN_KEY_MAX], val[70000], meta[CAIRN_KEY_META_MAX];
    struct storage_cmd c;
    (void)state;
    for (size_t i = 0; i < sizeof val; i++) {
        val[i] = (uint8_t)(i * 7);
    }
    memset(key, 0xee, sizeof key);
    memset(meta, 0x11, sizeof meta);
    c = cmd_put(key, sizeof key, val, sizeof val, T0);
    c.w.meta = meta;
    c.w.meta_len = sizeof meta;
    roundtrip(&c);
}

static void test_cmd_roundtrip_big_txn(void **state)
{
    size_t n = CAIRN_TXN_OPS_MAX;
    struct cairn_write *w = calloc(n, sizeof *w);
    struct cairn_compare cmp[CAIRN_TXN_COMPARES_MAX];
    char (*keys)[16] = calloc(n, sizeof *keys);
    struct storage_cmd c;
    (void)state;
    assert_non_null(w);
    assert_non_null(keys);
    for (size_t i = 0; i < n; i++) {
        snprintf(keys[i], sizeof keys[i], "k%zu", i);
        w[i] = i % 3 == 2 ? wr_del(keys[i], strlen(keys[i]))
                          : wr_put(keys[i], strlen(keys[i]), keys[i], 2);
    }
    for (size_t i = 0; i < CAIRN_TXN_COMPARES_MAX; i++) {
        memset(&cmp[i], 0, sizeof cmp[i]);
        cmp[i].key = keys[i];
        cmp[i].key_len = strlen(keys[i]);
        cmp[i].target = CAIRN_CMP_REVISION;
        cmp[i].op = CAIRN_CMP_LT;
        cmp[i].revision = i;
    }
    c = cmd_txn(cmp, CAIRN_TXN_COMPARES_MAX, w, (uint32_t)n, T0);
    roundtrip(&c);
    free(w);
    free(keys);
}

static void test_decoded_cmd_applies_the_same(void **state)
{
    struct fx *f = *state;
    struct storage_cmd c[16];
    size_t n = sample_cmds(c);
    fx_bucket(f, "direct", 4, 0, -1);
    fx_bucket(f, "decoded", 4, 0, -1);
    for (size_t i = 0; i < n; i++) {
        uint8_t *buf;
        size_t len;
        struct storage_cmd d;
        struct storage_result r1, r2;
        char err[CAIRN_ERRMSG_SIZE];
        encode(&c[i], &buf, &len);
        assert_int_equal(storage_cmd_decode(buf, len, &d, err), CAIRN_OK);
        r1 = fx_apply(f, "direct", &c[i], 0);
        r2 = fx_apply(f, "decoded", &d, 0);
        assert_int_equal(r1.code, r2.code);
        assert_int_equal(r1.revision, r2.revision);
        assert_int_equal(r1.last_revision, r2.last_revision);
        assert_int_equal(r1.current_revision, r2.current_revision);
        assert_int_equal(r1.count, r2.count);
        storage_cmd_release(&d);
        free(buf);
    }
    assert_int_equal(fx_info(f, "direct").last_revision,
                     fx_info(f, "decoded").last_revision);
    assert_int_equal(fx_info(f, "direct").bytes,
                     fx_info(f, "decoded").bytes);
}

static void test_cmd_truncated(void **state)
{
    struct storage_cmd c[16];
    size_t n = sample_cmds(c);
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    for (size_t i = 0; i < n; i++) {
        uint8_t *buf;
        size_t len;
        encode(&c[i], &buf, &len);
        assert_int_equal(decode_exact(buf, len, err), CAIRN_OK);
        for (size_t cut = 0; cut < len; cut++) {
            int rc = decode_exact(buf, cut, err);
            if (rc != CAIRN_EMALFORMED) {
                print_error("cmd %zu cut at %zu of %zu: %d (%s)\n", i, cut,
                            len, rc, err);
            }
            assert_int_equal(rc, CAIRN_EMALFORMED);
            assert_true(err[0] != '\0');
        }
        free(buf);
    }
}

static void test_cmd_garbage(void **state)
{
    static const uint8_t docs[][4] = {
        {0xc1}, {0x01}, {0x90}, {0xa1, 'v'}, {0xc0}, {0x81, 0x01, 0x01},
    };
    static const size_t lens[] = {1, 1, 1, 2, 1, 3};
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        assert_int_equal(decode_exact(docs[i], lens[i], err),
                         CAIRN_EMALFORMED);
    }
    /* A whole document followed by garbage inside a map count that
     * claims more pairs than there are. */
    {
        struct mbuf b = {0};
        mb_map(&b, 5);
        mb_str(&b, "v");
        mb_uint(&b, 1);
        assert_int_equal(decode_exact(b.p, b.n, err), CAIRN_EMALFORMED);
        free(b.p);
    }
}

/* A hand-built put: v, type, t, k, val (the fields every put has). */
static void hand_put(struct mbuf *b, uint64_t version)
{
    b->n = 0;
    mb_map(b, 5);
    mb_str(b, "v");
    mb_uint(b, version);
    mb_str(b, "type");
    mb_str(b, "put");
    mb_str(b, "t");
    mb_uint(b, T0);
    mb_str(b, "k");
    mb_bin(b, "key", 3);
    mb_str(b, "val");
    mb_bin(b, "value", 5);
}

static void test_cmd_hand_built(void **state)
{
    struct mbuf b = {0};
    struct storage_cmd c;
    char err[CAIRN_ERRMSG_SIZE] = "";
    (void)state;
    hand_put(&b, 1);
    memset(&c, 0, sizeof c);
    assert_int_equal(storage_cmd_decode(b.p, b.n, &c, err), CAIRN_OK);
    assert_int_equal(c.type, STORAGE_CMD_PUT);
    assert_int_equal(c.time, T0);
    assert_bytes(c.w.key, c.w.key_len, "key", 3);
    assert_bytes(c.w.value, c.w.value_len, "value", 5);
    assert_int_equal(c.w.meta_len, 0);
    assert_int_equal(c.w.ttl_ns, 0);
    assert_int_equal(c.w.expires_at, 0);
    /* A command written before at-most-once writes: no client id. */
    assert_int_equal(c.cid, 0);
    assert_int_equal(c.seq, 0);
    storage_cmd_release(&c);
    free(b.p);
}

/* "cid" and "seq": both or neither, cid not 0, never on an expire; an
 * encoder given a seq without a cid writes neither. */
static void test_cmd_cid_seq(void **state)
{
    struct mbuf b = {0}, out = {0}, tmp = {0}, val = {0};
    struct storage_cmd c;
    char err[CAIRN_ERRMSG_SIZE] = "";
    uint8_t *buf;
    size_t len;
    (void)state;

    hand_put(&b, 1);
    mb_uint(&val, 77);
    assert_false(map_set(b.p, b.n, "cid", val.p, val.n, &tmp));
    assert_int_equal(decode_exact(tmp.p, tmp.n, err), CAIRN_EMALFORMED);
    assert_msg_has(err, "seq");
    assert_false(map_set(b.p, b.n, "seq", val.p, val.n, &tmp));
    assert_int_equal(decode_exact(tmp.p, tmp.n, err), CAIRN_EMALFORMED);
    assert_msg_has(err, "cid");
    /* Both: decodes. */
    assert_false(map_set(b.p, b.n, "cid", val.p, val.n, &tmp));
    assert_false(map_set(tmp.p, tmp.n, "seq", val.p, val.n, &out));
    memset(&c, 0, sizeof c);
    assert_int_equal(storage_cmd_decode(out.p, out.n, &c, err), CAIRN_OK);
    assert_int_equal(c.cid, 77);
    assert_int_equal(c.seq, 77);
    storage_cmd_release(&c);
    /* cid 0 is "none" and never encoded. */
    val.n = 0;
    mb_uint(&val, 0);
    assert_true(map_set(out.p, out.n, "cid", val.p, val.n, &tmp));
    assert_int_equal(decode_exact(tmp.p, tmp.n, err), CAIRN_EMALFORMED);
    assert_msg_has(err, "cid");

    /* Not on an expire. */
    c = cmd_expire(T0);
    encode(&c, &buf, &len);
    val.n = 0;
    mb_uint(&val, 5);
    assert_false(map_set(buf, len, "cid", val.p, val.n, &tmp));
    assert_false(map_set(tmp.p, tmp.n, "seq", val.p, val.n, &out));
    assert_int_equal(decode_exact(out.p, out.n, err), CAIRN_EMALFORMED);
    free(buf);
    c.cid = 5;
    c.seq = 5;
    {
        void *none = NULL;
        assert_int_equal(storage_cmd_encode(&c, &none, &len, err),
                         CAIRN_EINVAL);
        assert_null(none);
    }
    assert_msg_has(err, "client id");

    /* A seq without a cid is not encoded. */
    c = cmd_put(S("k"), S("v"), T0);
    c.seq = 9;
    encode(&c, &buf, &len);
    {
        size_t off, vlen;
        assert_false(map_get(buf, len, "cid", &off, &vlen));
        assert_false(map_get(buf, len, "seq", &off, &vlen));
    }
    memset(&c, 0xa5, sizeof c);
    assert_int_equal(storage_cmd_decode(buf, len, &c, err), CAIRN_OK);
    assert_int_equal(c.cid, 0);
    assert_int_equal(c.seq, 0);
    storage_cmd_release(&c);
    free(buf);
    free(b.p);
    free(out.p);
    free(tmp.p);
    free(val.p);
}

static void test_cmd_version(void **state)
{
    struct mbuf b = {0}, out = {0};
    struct storage_cmd c[16];
    size_t n = sample_cmds(c);
    char err[CAIRN_ERRMSG_SIZE];
    static const uint8_t v2[] = {0x02}, v0[] = {0x00};
    static const uint8_t v255[] = {0xcc, 0xff};
    (void)state;
    hand_put(&b, 2);
    assert_int_equal(decode_exact(b.p, b.n, err), CAIRN_EVERSION);
    assert_true(err[0] != '\0');
    hand_put(&b, 0);
    assert_int_equal(decode_exact(b.p, b.n, err), CAIRN_EVERSION);
    /* On every encoded type. */
    for (size_t i = 0; i < n; i++) {
        uint8_t *buf;
        size_t len;
        encode(&c[i], &buf, &len);
        assert_true(map_set(buf, len, "v", v2, 1, &out));
        assert_int_equal(decode_exact(out.p, out.n, err), CAIRN_EVERSION);
        assert_true(map_set(buf, len, "v", v0, 1, &out));
        assert_int_equal(decode_exact(out.p, out.n, err), CAIRN_EVERSION);
        assert_true(map_set(buf, len, "v", v255, 2, &out));
        assert_int_equal(decode_exact(out.p, out.n, err), CAIRN_EVERSION);
        free(buf);
    }
    free(b.p);
    free(out.p);
}

static void test_cmd_unknown_field(void **state)
{
    struct mbuf b = {0}, out = {0};
    struct storage_cmd c[16];
    size_t n = sample_cmds(c);
    char err[CAIRN_ERRMSG_SIZE];
    static const uint8_t one[] = {0x01};
    (void)state;
    hand_put(&b, 1);
    assert_false(map_set(b.p, b.n, "zzextra", one, 1, &out));
    assert_int_equal(decode_exact(out.p, out.n, err), CAIRN_EMALFORMED);
    assert_msg_has(err, "zzextra");
    for (size_t i = 0; i < n; i++) {
        uint8_t *buf;
        size_t len;
        encode(&c[i], &buf, &len);
        assert_false(map_set(buf, len, "zzextra", one, 1, &out));
        assert_int_equal(decode_exact(out.p, out.n, err), CAIRN_EMALFORMED);
        free(buf);
    }
    free(b.p);
    free(out.p);
}

static void test_cmd_unknown_field_nested(void **state)
{
    struct storage_cmd c[16];
    size_t n = sample_cmds(c);
    struct storage_cmd *txn = &c[n - 2];
    struct mbuf elem = {0}, arr = {0}, out = {0};
    uint8_t *buf;
    size_t len, off = 0, vlen = 0, eoff, elen;
    char err[CAIRN_ERRMSG_SIZE];
    static const uint8_t one[] = {0x01};
    const char *arrays[] = {"cmp", "ops"};
    (void)state;
    assert_int_equal(txn->type, STORAGE_CMD_TXN);
    assert_true(txn->n_compares > 0);
    encode(txn, &buf, &len);
    for (int a = 0; a < 2; a++) {
        size_t pos;
        assert_true(map_get(buf, len, arrays[a], &off, &vlen));
        /* The array's first element. */
        pos = off;
        assert_true(mp_array_header(buf, off + vlen, &pos) >= 1);
        eoff = pos;
        assert_int_equal(mp_skip(buf, off + vlen, &pos), 0);
        elen = pos - eoff;
        /* Unknown field in the element. */
        assert_false(map_set(buf + eoff, elen, "zzextra", one, 1, &elem));
        array_set_first(buf + off, vlen, elem.p, elem.n, &arr);
        assert_true(map_set(buf, len, arrays[a], arr.p, arr.n, &out));
        assert_int_equal(decode_exact(out.p, out.n, err), CAIRN_EMALFORMED);
        /* Element unchanged: decodes (the toolkit is sound). */
        array_set_first(buf + off, vlen, buf + eoff, elen, &arr);
        assert_true(map_set(buf, len, arrays[a], arr.p, arr.n, &out));
        assert_int_equal(decode_exact(out.p, out.n, err), CAIRN_OK);
        /* Wrong strings in the element's enums. */
        {
            struct mbuf bad = {0};
            const char *field = a == 0 ? "target" : "op";
            mb_str(&bad, "bogus");
            assert_true(map_set(buf + eoff, elen, field, bad.p, bad.n, &elem));
            array_set_first(buf + off, vlen, elem.p, elem.n, &arr);
            assert_true(map_set(buf, len, arrays[a], arr.p, arr.n, &out));
            assert_int_equal(decode_exact(out.p, out.n, err),
                             CAIRN_EMALFORMED);
            if (a == 0) {
                assert_true(map_set(buf + eoff, elen, "op", bad.p, bad.n,
                                    &elem));
                array_set_first(buf + off, vlen, elem.p, elem.n, &arr);
                assert_true(map_set(buf, len, "cmp", arr.p, arr.n, &out));
                assert_int_equal(decode_exact(out.p, out.n, err),
                                 CAIRN_EMALFORMED);
            }
            free(bad.p);
        }
    }
    free(buf);
    free(elem.p);
    free(arr.p);
    free(out.p);
}

/* Every top-level field of every sample, given a value of a wrong type,
 * is refused with a message naming the field. */
static void test_cmd_wrong_types(void **state)
{
    struct storage_cmd c[16];
    size_t n = sample_cmds(c);
    struct mbuf out = {0};
    char err[CAIRN_ERRMSG_SIZE];
    char names[16][32];
    static const uint8_t arr[] = {0x91, 0x01}; /* [1] */
    static const uint8_t str[] = {0xa1, 'x'};  /* "x" */
    (void)state;
    for (size_t i = 0; i < n; i++) {
        uint8_t *buf;
        size_t len, nf;
        encode(&c[i], &buf, &len);
        nf = map_names(buf, len, names, 16);
        for (size_t j = 0; j < nf; j++) {
            bool is_array = strcmp(names[j], "cmp") == 0 ||
                            strcmp(names[j], "ops") == 0;
            if (strcmp(names[j], "v") == 0) {
                continue; /* a bad version may be EVERSION */
            }
            if (is_array) {
                assert_true(map_set(buf, len, names[j], str, 2, &out));
            } else {
                assert_true(map_set(buf, len, names[j], arr, 2, &out));
            }
            {
                int rc = decode_exact(out.p, out.n, err);
                if (rc != CAIRN_EMALFORMED) {
                    print_error("cmd %zu field '%s' of a wrong type: %d\n", i,
                                names[j], rc);
                }
                assert_int_equal(rc, CAIRN_EMALFORMED);
                assert_msg_has(err, names[j]);
            }
        }
        free(buf);
    }
    free(out.p);
}

static void test_cmd_bad_enums(void **state)
{
    struct mbuf b = {0}, out = {0}, s = {0};
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    hand_put(&b, 1);
    mb_str(&s, "frobnicate");
    assert_true(map_set(b.p, b.n, "type", s.p, s.n, &out));
    assert_int_equal(decode_exact(out.p, out.n, err), CAIRN_EMALFORMED);
    assert_msg_has(err, "type");
    s.n = 0;
    mb_str(&s, "PUT");
    assert_true(map_set(b.p, b.n, "type", s.p, s.n, &out));
    assert_int_equal(decode_exact(out.p, out.n, err), CAIRN_EMALFORMED);
    free(b.p);
    free(out.p);
    free(s.p);
}

static void test_cmd_encode_errors(void **state)
{
    struct storage_cmd c = cmd_put(S("k"), S("v"), T0);
    struct cairn_write w = wr_put(S("k"), S("v"));
    struct cairn_compare cmp;
    void *buf = NULL;
    size_t len = 0;
    char err[CAIRN_ERRMSG_SIZE] = "";
    (void)state;
    c.type = 99;
    assert_int_equal(storage_cmd_encode(&c, &buf, &len, err), CAIRN_EINVAL);
    assert_true(err[0] != '\0');
    c.type = 0;
    assert_int_equal(storage_cmd_encode(&c, &buf, &len, err), CAIRN_EINVAL);
    w.op = 9;
    c = cmd_txn(NULL, 0, &w, 1, T0);
    assert_int_equal(storage_cmd_encode(&c, &buf, &len, err), CAIRN_EINVAL);
    w.op = CAIRN_OP_PUT;
    memset(&cmp, 0, sizeof cmp);
    cmp.key = "k";
    cmp.key_len = 1;
    cmp.target = 9;
    cmp.op = CAIRN_CMP_EQ;
    c = cmd_txn(&cmp, 1, &w, 1, T0);
    assert_int_equal(storage_cmd_encode(&c, &buf, &len, err), CAIRN_EINVAL);
    cmp.target = CAIRN_CMP_REVISION;
    cmp.op = 9;
    assert_int_equal(storage_cmd_encode(&c, &buf, &len, err), CAIRN_EINVAL);
    cmp.op = CAIRN_CMP_GT;
    assert_int_equal(storage_cmd_encode(&c, &buf, &len, err), CAIRN_OK);
    free(buf);
}

/* ---- results ----------------------------------------------------------- */

static void result_roundtrip(const struct storage_result *r, bool with_msg)
{
    void *buf = NULL, *buf2 = NULL;
    size_t len, len2;
    struct storage_result d;
    char err[CAIRN_ERRMSG_SIZE] = "";
    assert_int_equal(storage_result_encode(r, &buf, &len, err), CAIRN_OK);
    memset(&d, 0xa5, sizeof d);
    assert_int_equal(storage_result_decode(buf, len, &d, err), CAIRN_OK);
    assert_int_equal(d.code, r->code);
    assert_int_equal(d.revision, r->revision);
    assert_int_equal(d.last_revision, r->last_revision);
    assert_int_equal(d.current_revision, r->current_revision);
    assert_int_equal(d.failed_compare, r->failed_compare);
    assert_int_equal(d.count, r->count);
    assert_int_equal(d.skipped, r->skipped);
    assert_int_equal(d.duplicate, r->duplicate);
    if (with_msg) {
        assert_string_equal(d.errmsg, r->errmsg);
    }
    assert_int_equal(storage_result_encode(&d, &buf2, &len2, err), CAIRN_OK);
    if (with_msg) {
        assert_bytes(buf, len, buf2, len2);
    }
    free(buf);
    free(buf2);
}

static size_t sample_results(struct storage_result *r)
{
    size_t n = 0;
    memset(r, 0, 5 * sizeof *r);
    r[n].code = CAIRN_OK;
    r[n].revision = 7;
    r[n].last_revision = 7;
    n++;
    r[n].code = CAIRN_OK;
    r[n].revision = 1;
    r[n].last_revision = 10000;
    r[n].count = 10000;
    n++;
    r[n].code = CAIRN_ECONFLICT;
    r[n].current_revision = UINT64_MAX;
    r[n].failed_compare = 63;
    r[n].duplicate = true;
    strcpy(r[n].errmsg, "txn: compare 63 failed on 'k'");
    n++;
    r[n].code = CAIRN_EFULL;
    memset(r[n].errmsg, 'm', CAIRN_ERRMSG_SIZE - 1);
    r[n].errmsg[CAIRN_ERRMSG_SIZE - 1] = '\0';
    n++;
    r[n].code = CAIRN_OK;
    r[n].skipped = true;
    n++;
    return n;
}

static void test_result_roundtrip(void **state)
{
    struct storage_result r[5];
    size_t n = sample_results(r);
    (void)state;
    for (size_t i = 0; i < n; i++) {
        result_roundtrip(&r[i], r[i].code != CAIRN_OK);
    }
}

static void test_result_malformed(void **state)
{
    struct storage_result r[5];
    size_t n = sample_results(r);
    struct mbuf out = {0};
    char err[CAIRN_ERRMSG_SIZE];
    static const uint8_t one[] = {0x01}, v2[] = {0x02};
    static const uint8_t arr[] = {0x91, 0x01};
    char names[16][32];
    (void)state;
    for (size_t i = 0; i < n; i++) {
        void *buf = NULL;
        size_t len, nf;
        assert_int_equal(storage_result_encode(&r[i], &buf, &len, err),
                         CAIRN_OK);
        assert_int_equal(decode_result_exact(buf, len, err), CAIRN_OK);
        for (size_t cut = 0; cut < len; cut++) {
            int rc = decode_result_exact(buf, cut, err);
            if (rc != CAIRN_EMALFORMED) {
                print_error("result %zu cut at %zu of %zu: %d\n", i, cut, len,
                            rc);
            }
            assert_int_equal(rc, CAIRN_EMALFORMED);
        }
        assert_true(map_set(buf, len, "v", v2, 1, &out));
        assert_int_equal(decode_result_exact(out.p, out.n, err),
                         CAIRN_EVERSION);
        assert_false(map_set(buf, len, "zzextra", one, 1, &out));
        assert_int_equal(decode_result_exact(out.p, out.n, err),
                         CAIRN_EMALFORMED);
        nf = map_names(buf, len, names, 16);
        for (size_t j = 0; j < nf; j++) {
            if (strcmp(names[j], "v") == 0) {
                continue;
            }
            assert_true(map_set(buf, len, names[j], arr, 2, &out));
            assert_int_equal(decode_result_exact(out.p, out.n, err),
                             CAIRN_EMALFORMED);
        }
        free(buf);
    }
    free(out.p);
}


/* Regression (tests/fuzz/crashes): fields a command type does not use, and a
 * txn compare whose operand is not its target's, are refused rather than
 * silently dropped. */
static void hex_bytes(const char *hex, uint8_t *out, size_t *len)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned b;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &b), 1);
        out[i] = (uint8_t)b;
    }
    *len = n;
}

static void test_cmd_fields_of_other_types_refused(void **state)
{
    static const char *const inputs[] = {
        /* {v:1, type:"put", t:1, k:"a", val:"b", rev:5} */
        "86a17601a474797065a3707574a17401a16bc40161a376616cc40162a372657605",
        /* txn whose value compare carries rev:7 instead of val */
        "85a17601a474797065a3747874a17401a3636d709184a16bc40161a6746172676574"
        "a576616c7565a26f70a26571a372657607a36f70739183a26f70a3707574a16bc401"
        "61a376616cc40178",
    };
    (void)state;
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        uint8_t buf[128];
        size_t len;
        struct storage_cmd cmd;
        char err[CAIRN_ERRMSG_SIZE];
        hex_bytes(inputs[i], buf, &len);
        assert_int_equal(storage_cmd_decode(buf, len, &cmd, err),
                         CAIRN_EMALFORMED);
        storage_cmd_release(&cmd);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmd_roundtrip_every_type),
        cmocka_unit_test(test_cmd_roundtrip_long_fields),
        cmocka_unit_test(test_cmd_roundtrip_big_txn),
        TEST_EMPTY(test_decoded_cmd_applies_the_same),
        cmocka_unit_test(test_cmd_truncated),
        cmocka_unit_test(test_cmd_garbage),
        cmocka_unit_test(test_cmd_hand_built),
        cmocka_unit_test(test_cmd_cid_seq),
        cmocka_unit_test(test_cmd_version),
        cmocka_unit_test(test_cmd_unknown_field),
        cmocka_unit_test(test_cmd_unknown_field_nested),
        cmocka_unit_test(test_cmd_wrong_types),
        cmocka_unit_test(test_cmd_bad_enums),
        cmocka_unit_test(test_cmd_encode_errors),
        cmocka_unit_test(test_result_roundtrip),
        cmocka_unit_test(test_result_malformed),
        cmocka_unit_test(test_cmd_fields_of_other_types_refused),
    };
    RUN_TESTS("storage_codec", tests, argc, argv);
}
