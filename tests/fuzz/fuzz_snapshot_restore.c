/*
 * fuzz_snapshot_restore — libFuzzer target for storage_restore()
 * (docs/storage.md "Snapshot format").
 *
 * Once per process: a storage in a temp dir with bucket "b" holding the
 * content fuzz_populate(FULL) writes (history, markers, ttl, grouped long
 * keys), its snapshot (the known-good one) and its observable state: bucket
 * info, a full scan and a fresh snapshot's bytes.
 *
 * Per input: storage_restore(s, "b", input') where the first input byte
 * (mod 4) picks how input' is built from the rest:
 *   mode 0  the rest, as is;
 *   mode 1  "CAIRNSNP" · u32 BE 2 · rest · XXH3-64 (BE) of all before, so
 *           the trailer check passes and the body decoder and the record
 *           verifier see the bytes;
 *   mode 2  as mode 1, and every bin in the records array gets a
 *           consistent value length and a valid record checksum, so the
 *           restore logic past the record verifier sees them;
 *   mode 3  a snapshot synthesised from compact record descriptors (see
 *           synth()): valid records over short keys and keys around the
 *           511-byte group boundary, with history, markers, expiries and
 *           (on request) wrong counters or too many revisions per key, in
 *           snapshot format 1 (no dedup table), which restore still reads. The
 *           target knows what the bucket must then hold: restore must accept
 *           it exactly when it is well-formed, and the bucket's counters,
 *           scan, values and every key's history must match.
 * Then abort() when:
 *   - restore failed with a code storage.h does not list for it, or failed
 *     and the state (info, full scan, snapshot bytes) is not exactly as
 *     before;
 *   - restore succeeded and the result is inconsistent: info.keys differs
 *     from the number of live keys a scan at now=0 finds, a scanned key's
 *     history cannot be read, the new state's snapshot does not restore or
 *     does not reproduce itself; or restoring the known-good snapshot back
 *     fails or does not give exactly the old state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "fuzz_common.h"
#include "storage.h"
#include "tmpdir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define SNAP_HEADER 12
#define SNAP_TRAILER 8
#define REC_HEADER 48
#define REC_TRAILER 8

static storage *S;
static char dir[512];
static void *good;
static size_t good_len;

/* What reads can observe of bucket "b". */
struct state {
    struct storage_bucket_info info;
    uint8_t *scan; /* serialised entries of a full scan at now = 0 */
    size_t scan_len, scan_cap;
    uint64_t scan_count;
    void *snap;
    size_t snap_len;
};

static struct state base;

static void syn_keys_init(void);

/* Outcomes per mode and code, printed at exit when CAIRN_FUZZ_STATS=1. */
static unsigned long stats[4][CAIRN__ERR_COUNT + 1];

static void die(const char *what, int rc, const char *err)
{
    fprintf(stderr, "fuzz_snapshot_restore: %s (rc %d %s: %s)\n", what, rc,
            cairn_errname(rc), err != NULL ? err : "");
    abort();
}

/* ---- state capture ----------------------------------------------------- */

static void buf_add(struct state *st, const void *p, size_t n)
{
    if (st->scan_len + n > st->scan_cap) {
        size_t cap = st->scan_cap ? st->scan_cap : 4096;
        while (cap < st->scan_len + n) {
            cap *= 2;
        }
        st->scan = realloc(st->scan, cap);
        if (st->scan == NULL) {
            die("out of memory", CAIRN_ENOMEM, NULL);
        }
        st->scan_cap = cap;
    }
    if (n > 0) {
        memcpy(st->scan + st->scan_len, p, n);
    }
    st->scan_len += n;
}

static void buf_add_bytes(struct state *st, const void *p, size_t n)
{
    uint64_t len = n;
    buf_add(st, &len, sizeof len);
    buf_add(st, p, n);
}

static int scan_cb(void *arg, const struct storage_entry *e)
{
    struct state *st = arg;
    uint64_t nums[5] = {e->revision, e->create_revision, e->updated,
                        e->expires_at, e->op};
    buf_add_bytes(st, e->key, e->key_len);
    buf_add_bytes(st, e->value, e->value_len);
    buf_add_bytes(st, e->meta, e->meta_len);
    buf_add(st, nums, sizeof nums);
    st->scan_count++;
    return 0;
}

static int capture(struct state *st, char *err)
{
    struct storage_scan args = {0};
    struct storage_page page;
    storage_txn *t;
    int rc;

    memset(st, 0, sizeof *st);
    if ((rc = storage_bucket_info(S, FUZZ_BUCKET, &st->info, err)) != 0) {
        return rc;
    }
    if ((rc = storage_read_begin(S, &t, err)) != 0) {
        return rc;
    }
    args.now = 0; /* every value is live: none has expired at 0 */
    rc = storage_scan(t, FUZZ_BUCKET, &args, scan_cb, st, &page, err);
    storage_txn_end(t);
    if (rc != 0) {
        return rc;
    }
    return storage_snapshot(S, FUZZ_BUCKET, &st->snap, &st->snap_len, err);
}

static void state_free(struct state *st)
{
    free(st->scan);
    free(st->snap);
    memset(st, 0, sizeof *st);
}

/* The first observable difference between @a and @b, or NULL. */
static const char *state_diff(const struct state *a, const struct state *b)
{
    if (a->info.keys != b->info.keys) {
        return "info.keys";
    }
    if (a->info.bytes != b->info.bytes) {
        return "info.bytes";
    }
    if (a->info.last_revision != b->info.last_revision) {
        return "info.last_revision";
    }
    if (a->info.compacted_revision != b->info.compacted_revision) {
        return "info.compacted_revision";
    }
    if (a->info.applied_index != b->info.applied_index) {
        return "info.applied_index";
    }
    if (a->info.created != b->info.created) {
        return "info.created";
    }
    if (a->info.config.history != b->info.config.history ||
        a->info.config.ttl_ns != b->info.config.ttl_ns ||
        a->info.config.max_bytes != b->info.config.max_bytes ||
        a->info.config.max_value_size != b->info.config.max_value_size ||
        strcmp(a->info.config.description, b->info.config.description) != 0) {
        return "info.config";
    }
    if (!fuzz_bytes_eq(a->scan, a->scan_len, b->scan, b->scan_len)) {
        return "full scan";
    }
    if (!fuzz_bytes_eq(a->snap, a->snap_len, b->snap, b->snap_len)) {
        return "snapshot bytes";
    }
    return NULL;
}

static void cleanup(void)
{
    const char *e = getenv("CAIRN_FUZZ_STATS");
    if (e != NULL && e[0] == '1') {
        for (int m = 0; m < 4; m++) {
            fprintf(stderr, "mode %d:", m);
            for (int c = 0; c <= CAIRN__ERR_COUNT; c++) {
                if (stats[m][c] != 0) {
                    fprintf(stderr, " %s=%lu",
                            c < CAIRN__ERR_COUNT ? cairn_errname(c) : "other",
                            stats[m][c]);
                }
            }
            fprintf(stderr, "\n");
        }
    }
    storage_close(S);
    S = NULL;
    state_free(&base);
    free(good);
    if (dir[0] != '\0') {
        test_tmpdir_remove(dir);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    /* One bucket: max_buckets 1 keeps LMDB's per-read-txn allocation small
     * (it is proportional to the number of named databases). */
    struct storage_options opts = {
        .map_size = 256u << 20, .max_buckets = 1, .no_sync = true};
    char err[CAIRN_ERRMSG_SIZE] = "";
    int rc;
    (void)argc;
    (void)argv;
    if (test_tmpdir_create("fuzz-snapshot", dir, sizeof dir) != 0) {
        perror("fuzz_snapshot_restore: temp dir");
        abort();
    }
    atexit(cleanup);
    syn_keys_init();
    if ((rc = storage_open(dir, &opts, &S, err)) != 0) {
        die("storage_open", rc, err);
    }
    if ((rc = fuzz_populate(S, FUZZ_CONTENT_FULL, err)) != 0) {
        die("populate", rc, err);
    }
    if ((rc = storage_snapshot(S, FUZZ_BUCKET, &good, &good_len, err)) != 0) {
        die("snapshot", rc, err);
    }
    if ((rc = capture(&base, err)) != 0) {
        die("capture", rc, err);
    }
    return 0;
}

/* ---- input shaping (modes 1 and 2) ------------------------------------- */

enum { MP_SCALAR, MP_ARRAY, MP_MAP, MP_PAYLOAD, MP_BIN };

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* Read one msgpack header at @p: *kind, and *n (elements of a container,
 * payload bytes otherwise). Returns the byte after the header, or NULL. */
static uint8_t *mp_head(uint8_t *p, const uint8_t *end, int *kind,
                        uint64_t *n)
{
    uint8_t b;
    int len = 0;
    if (p >= end) {
        return NULL;
    }
    b = *p++;
    *n = 0;
    *kind = MP_SCALAR;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        return p;
    }
    if ((b & 0xf0) == 0x80 || (b & 0xf0) == 0x90) {
        *kind = (b & 0xf0) == 0x80 ? MP_MAP : MP_ARRAY;
        *n = b & 0x0f;
        return p;
    }
    if ((b & 0xe0) == 0xa0) {
        *kind = MP_PAYLOAD;
        *n = b & 0x1f;
        return p;
    }
    switch (b) {
        case 0xc4: case 0xc5: case 0xc6:
            *kind = MP_BIN;
            len = b == 0xc4 ? 1 : b == 0xc5 ? 2 : 4;
            break;
        case 0xd9: case 0xda: case 0xdb:
            *kind = MP_PAYLOAD;
            len = b == 0xd9 ? 1 : b == 0xda ? 2 : 4;
            break;
        case 0xdc: case 0xdd:
            *kind = MP_ARRAY;
            len = b == 0xdc ? 2 : 4;
            break;
        case 0xde: case 0xdf:
            *kind = MP_MAP;
            len = b == 0xde ? 2 : 4;
            break;
        case 0xcc: case 0xd0: *kind = MP_PAYLOAD; *n = 1; return p;
        case 0xcd: case 0xd1: *kind = MP_PAYLOAD; *n = 2; return p;
        case 0xca: case 0xce: case 0xd2: *kind = MP_PAYLOAD; *n = 4; return p;
        case 0xcb: case 0xcf: case 0xd3: *kind = MP_PAYLOAD; *n = 8; return p;
        case 0xd4: *kind = MP_PAYLOAD; *n = 2; return p;
        case 0xd5: *kind = MP_PAYLOAD; *n = 3; return p;
        case 0xd6: *kind = MP_PAYLOAD; *n = 5; return p;
        case 0xd7: *kind = MP_PAYLOAD; *n = 9; return p;
        case 0xd8: *kind = MP_PAYLOAD; *n = 17; return p;
        case 0xc7: case 0xc8: case 0xc9:
            len = b == 0xc7 ? 1 : b == 0xc8 ? 2 : 4;
            if (end - p < len) {
                return NULL;
            }
            *kind = MP_PAYLOAD;
            *n = be(p, len) + 1;
            return p + len;
        default:
            return NULL;
    }
    if (end - p < len) {
        return NULL;
    }
    *n = be(p, len);
    return p + len;
}

/* Skip one object; NULL when it does not fit or nests too deep. */
static uint8_t *mp_skip(uint8_t *p, const uint8_t *end, int depth)
{
    int kind;
    uint64_t n;
    if (depth > 32 || (p = mp_head(p, end, &kind, &n)) == NULL) {
        return NULL;
    }
    if (kind == MP_ARRAY || kind == MP_MAP) {
        uint64_t count = kind == MP_MAP ? 2 * n : n;
        for (uint64_t i = 0; i < count && p != NULL; i++) {
            p = mp_skip(p, end, depth + 1);
        }
        return p;
    }
    if (n > (uint64_t)(end - p)) {
        return NULL;
    }
    return p + n;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* Make entry record @r (@n bytes) length-consistent (through its value
 * length) and give it a valid checksum. */
static void fix_record(uint8_t *r, size_t n)
{
    uint64_t fixed;
    if (n < REC_HEADER + REC_TRAILER) {
        return;
    }
    fixed = REC_HEADER + (uint64_t)le32(r + 4) + le32(r + 12) +
            8 * (uint64_t)(r[2] | r[3] << 8) + REC_TRAILER;
    if (fixed <= n && n - fixed <= UINT32_MAX) {
        put_le(r + 8, n - fixed, 4);
    }
    put_le(r + n - REC_TRAILER, XXH3_64bits(r, n - REC_TRAILER), 8);
}

/* Body [state, [bin...], dedup]: fix every bin of the records array (the
 * dedup entries have no checksum to fix). */
static void fix_records(uint8_t *body, size_t len)
{
    const uint8_t *end = body + len;
    uint8_t *p;
    int kind;
    uint64_t n;
    if ((p = mp_head(body, end, &kind, &n)) == NULL || kind != MP_ARRAY ||
        (n != 2 && n != 3) || (p = mp_skip(p, end, 1)) == NULL ||
        (p = mp_head(p, end, &kind, &n)) == NULL || kind != MP_ARRAY) {
        return;
    }
    for (uint64_t i = 0; i < n && p != NULL; i++) {
        uint64_t plen;
        uint8_t *q = mp_head(p, end, &kind, &plen);
        if (q != NULL && kind == MP_BIN && plen <= (uint64_t)(end - q)) {
            fix_record(q, (size_t)plen);
        }
        p = mp_skip(p, end, 2);
    }
}

/* ---- the target -------------------------------------------------------- */

static bool restore_code_listed(int rc)
{
    switch (rc) {
        case CAIRN_ECORRUPT:
        case CAIRN_EVERSION:
        case CAIRN_EMALFORMED:
        case CAIRN_EINVAL:
        case CAIRN_ENOSPACE:
        case CAIRN_EIO:
        case CAIRN_ENOMEM:
            return true;
        default:
            return false;
    }
}

struct keys {
    uint8_t (*k)[CAIRN_KEY_MAX];
    size_t *len;
    size_t n, cap;
};

static int key_cb(void *arg, const struct storage_entry *e)
{
    struct keys *ks = arg;
    if (ks->n == ks->cap) {
        size_t cap = ks->cap ? 2 * ks->cap : 16;
        void *k = realloc(ks->k, cap * sizeof *ks->k);
        void *l = k != NULL ? realloc(ks->len, cap * sizeof *ks->len) : NULL;
        if (k == NULL || l == NULL) {
            die("out of memory", CAIRN_ENOMEM, NULL);
        }
        ks->k = k;
        ks->len = l;
        ks->cap = cap;
    }
    memcpy(ks->k[ks->n], e->key, e->key_len);
    ks->len[ks->n++] = e->key_len;
    return 0;
}

static int history_cb(void *arg, const struct storage_entry *e)
{
    (void)arg;
    (void)e;
    return 0;
}

/* The checks on a state a fuzzed snapshot was accepted into. */
static void check_restored(void)
{
    char err[CAIRN_ERRMSG_SIZE] = "";
    struct storage_bucket_info info;
    struct storage_scan args = {0};
    struct storage_page page;
    struct keys ks = {0};
    storage_txn *t;
    void *s1 = NULL, *s2 = NULL;
    size_t l1 = 0, l2 = 0;
    int rc;

    if ((rc = storage_bucket_info(S, FUZZ_BUCKET, &info, err)) != 0) {
        die("info after an accepted restore", rc, err);
    }
    if ((rc = storage_read_begin(S, &t, err)) != 0) {
        die("read_begin", rc, err);
    }
    if ((rc = storage_scan(t, FUZZ_BUCKET, &args, key_cb, &ks, &page,
                           err)) != 0) {
        die("scan after an accepted restore", rc, err);
    }
    if (page.count != info.keys) {
        fprintf(stderr, "info.keys %llu, scan at now=0 finds %u keys\n",
                (unsigned long long)info.keys, page.count);
        die("an accepted restore left info.keys inconsistent", 0, NULL);
    }
    for (size_t i = 0; i < ks.n; i++) {
        struct storage_entry e;
        if ((rc = storage_get(t, FUZZ_BUCKET, ks.k[i], ks.len[i], 0, 0, &e,
                              err)) != 0) {
            die("get of a scanned key after an accepted restore", rc, err);
        }
        if ((rc = storage_history(t, FUZZ_BUCKET, ks.k[i], ks.len[i], 0,
                                  history_cb, NULL, err)) != 0) {
            die("history of a scanned key after an accepted restore", rc,
                err);
        }
    }
    storage_txn_end(t);
    free(ks.k);
    free(ks.len);

    /* What the store now holds must snapshot and restore to itself. */
    if ((rc = storage_snapshot(S, FUZZ_BUCKET, &s1, &l1, err)) != 0) {
        die("snapshot of an accepted restore", rc, err);
    }
    if ((rc = storage_restore(S, FUZZ_BUCKET, s1, l1, err)) != 0) {
        die("the snapshot of an accepted restore is refused", rc, err);
    }
    if ((rc = storage_snapshot(S, FUZZ_BUCKET, &s2, &l2, err)) != 0) {
        die("snapshot after re-restore", rc, err);
    }
    if (!fuzz_bytes_eq(s1, l1, s2, l2)) {
        die("snapshot -> restore -> snapshot is not the identity", 0, NULL);
    }
    free(s1);
    free(s2);
}

/* ---- mode 3: a snapshot synthesised from record descriptors ------------ */

/* Keys the descriptors pick from: short ones, and long ones around the
 * 511-byte group boundary (docs/storage.md "Layout in LMDB"). */
#define SYN_KEYS 12
#define SYN_RECORDS_MAX 256
static uint8_t syn_key[SYN_KEYS][CAIRN_KEY_MAX];
static size_t syn_key_len[SYN_KEYS];

static void syn_keys_init(void)
{
    static const char *const short_keys[] = {"a", "ab", "b", "c", "d"};
    for (int i = 0; i < 5; i++) {
        syn_key_len[i] = strlen(short_keys[i]);
        memcpy(syn_key[i], short_keys[i], syn_key_len[i]);
    }
    for (int i = 5; i < SYN_KEYS; i++) {
        memset(syn_key[i], i == 11 ? 'y' : 'x', CAIRN_KEY_MAX);
    }
    syn_key_len[5] = 510;
    syn_key_len[6] = 511;
    syn_key_len[7] = syn_key_len[8] = syn_key_len[9] = syn_key_len[10] = 512;
    syn_key[7][511] = 'a';
    syn_key[8][511] = 'b';
    syn_key[9][511] = '\0';
    syn_key[10][511] = 0xff;
    syn_key_len[11] = 512;
}

struct out {
    uint8_t *p;
    size_t len, cap;
};

static void out_put(struct out *o, const void *p, size_t n)
{
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 1024;
        while (cap < o->len + n) {
            cap *= 2;
        }
        if ((o->p = realloc(o->p, cap)) == NULL) {
            die("out of memory", CAIRN_ENOMEM, NULL);
        }
        o->cap = cap;
    }
    memcpy(o->p + o->len, p, n);
    o->len += n;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    }
}

static void mp_uint(struct out *o, uint64_t v)
{
    uint8_t b[9] = {0xcf};
    put_be(b + 1, v, 8);
    out_put(o, b, sizeof b);
}

static void mp_str(struct out *o, const char *str)
{
    uint8_t h = (uint8_t)(0xa0 | strlen(str)); /* fixstr: < 32 bytes */
    out_put(o, &h, 1);
    out_put(o, str, strlen(str));
}

static void mp_head_put(struct out *o, uint8_t tag, uint64_t n, int len)
{
    uint8_t b[5] = {tag};
    put_be(b + 1, n, len);
    out_put(o, b, 1 + (size_t)len);
}

/* What a well-formed synthesised snapshot must restore to, per key. */
struct syn_key_state {
    uint32_t n_records;
    uint32_t last_op;
    uint64_t last_rev;
    uint32_t last_vlen;
    uint8_t last_fill;
};

struct syn {
    struct syn_key_state k[SYN_KEYS];
    uint64_t keys, bytes, rev;
    bool valid; /* every rule restore checks holds */
};

/*
 * Input (after the mode byte): h0 · h1 · 4-byte record descriptors.
 *   h0: history 1 + h0 % 8 (h0 & 0x80: 1 + h0 % 64)
 *   h1: bit 0 / 1: keys / bytes counter off by one (must be refused);
 *       bit 2: the state's rev above the last record's by h1 >> 4;
 *       bit 3: the bucket has a ttl
 *   descriptor b0 b1 b2 b3:
 *       op 1 + b0 % 3, key (b0 >> 2) % SYN_KEYS;
 *       value length b1 & 15, metadata length (b1 >> 4) & 3,
 *       b1 & 0x40: an expiry, b1 & 0x80: a revision gap of b3 % 8;
 *       value bytes all b2; create revision rev - (b3 & 3);
 *       markers carry no value or metadata unless b3 & 0x80.
 * Builds the snapshot into @o and what it must restore to into @sy.
 */
static void synth(const uint8_t *d, size_t n, struct out *o, struct syn *sy)
{
    uint8_t h0 = n > 0 ? d[0] : 0, h1 = n > 1 ? d[1] : 0;
    uint32_t history = 1 + (h0 & 0x80 ? h0 % 64 : h0 % 8);
    size_t n_rec = n > 2 ? (n - 2) / 4 : 0;
    uint8_t trailer[8];
    uint64_t rev = 0;

    memset(sy, 0, sizeof *sy);
    if (n_rec > SYN_RECORDS_MAX) {
        n_rec = SYN_RECORDS_MAX;
    }
    d += 2;
    out_put(o, "CAIRNSNP\0\0\0\1", SNAP_HEADER);
    mp_head_put(o, 0x92, 0, 0); /* [state, records] */

    /* The records first (into a side buffer): the state needs their sums. */
    struct out recs = {0};
    mp_head_put(&recs, 0xdd, n_rec, 4);
    for (size_t i = 0; i < n_rec; i++, d += 4) {
        uint32_t op = 1 + d[0] % 3, key = (uint32_t)(d[0] >> 2) % SYN_KEYS;
        uint32_t vlen = d[1] & 15, mlen = (d[1] >> 4) & 3;
        uint8_t r[REC_HEADER + CAIRN_KEY_MAX + 15 + 3 + REC_TRAILER];
        size_t klen = syn_key_len[key], rlen;
        struct syn_key_state *ks = &sy->k[key];

        if (op != CAIRN_OP_PUT && !(d[3] & 0x80)) {
            vlen = mlen = 0;
        }
        rev += 1 + (d[1] & 0x80 ? d[3] % 8 : 0);
        rlen = REC_HEADER + klen + vlen + mlen + REC_TRAILER;
        r[0] = 1;
        r[1] = (uint8_t)op;
        r[2] = r[3] = 0;
        put_le(r + 4, klen, 4);
        put_le(r + 8, vlen, 4);
        put_le(r + 12, mlen, 4);
        put_le(r + 16, rev, 8);
        put_le(r + 24, rev > (d[3] & 3u) ? rev - (d[3] & 3u) : rev, 8);
        put_le(r + 32, FUZZ_T0 + d[3], 8);
        put_le(r + 40, d[1] & 0x40 ? FUZZ_T0 + 1000000000ULL * (1 + d[2]) : 0,
               8);
        memcpy(r + REC_HEADER, syn_key[key], klen);
        memset(r + REC_HEADER + klen, d[2], vlen);
        memset(r + REC_HEADER + klen + vlen, 'm', mlen);
        put_le(r + rlen - REC_TRAILER, XXH3_64bits(r, rlen - REC_TRAILER), 8);
        mp_head_put(&recs, 0xc5, rlen, 2);
        out_put(&recs, r, rlen);

        if (ks->n_records > 0 && ks->last_op == CAIRN_OP_PUT) {
            sy->keys--;
        }
        if (op == CAIRN_OP_PUT) {
            sy->keys++;
        }
        ks->n_records++;
        ks->last_op = op;
        ks->last_rev = rev;
        ks->last_vlen = vlen;
        ks->last_fill = d[2];
        sy->bytes += klen + vlen + mlen;
    }
    sy->rev = rev + (h1 & 4 ? h1 >> 4 : 0);
    sy->valid = (h1 & 3) == 0;
    for (int k = 0; k < SYN_KEYS; k++) {
        if (sy->k[k].n_records > history) {
            sy->valid = false;
        }
    }

    mp_head_put(o, 0x88, 0, 0); /* the state: 8 fields */
    mp_str(o, "v");
    mp_uint(o, 1);
    mp_str(o, "cfg");
    mp_head_put(o, h1 & 8 ? 0x83 : 0x82, 0, 0);
    mp_str(o, "name");
    mp_str(o, FUZZ_BUCKET);
    mp_str(o, "history");
    mp_uint(o, history);
    if (h1 & 8) {
        mp_str(o, "ttl");
        mp_uint(o, 3600ULL * 1000000000ULL);
    }
    mp_str(o, "created");
    mp_uint(o, FUZZ_T0);
    mp_str(o, "keys");
    mp_uint(o, sy->keys + (h1 & 1));
    mp_str(o, "bytes");
    mp_uint(o, sy->bytes + ((h1 >> 1) & 1));
    mp_str(o, "rev");
    mp_uint(o, sy->rev);
    mp_str(o, "compacted");
    mp_uint(o, 0);
    mp_str(o, "applied");
    mp_uint(o, h1);
    out_put(o, recs.p, recs.len);
    free(recs.p);
    put_be(trailer, XXH3_64bits(o->p, o->len), 8);
    out_put(o, trailer, sizeof trailer);
}

struct syn_check {
    const struct syn *sy;
    uint32_t seen;
    const char *bad;
};

static int syn_scan_cb(void *arg, const struct storage_entry *e)
{
    struct syn_check *c = arg;
    const struct syn_key_state *ks = NULL;
    for (int k = 0; k < SYN_KEYS; k++) {
        if (fuzz_bytes_eq(e->key, e->key_len, syn_key[k], syn_key_len[k])) {
            ks = &c->sy->k[k];
        }
    }
    c->seen++;
    if (ks == NULL || ks->n_records == 0 || ks->last_op != CAIRN_OP_PUT) {
        c->bad = "the scan returned a key that is not live in the snapshot";
    } else if (e->revision != ks->last_rev) {
        c->bad = "the scan returned a key at the wrong revision";
    } else if (e->value_len != ks->last_vlen ||
               (e->value_len > 0 &&
                (((const uint8_t *)e->value)[0] != ks->last_fill ||
                 ((const uint8_t *)e->value)[e->value_len - 1] !=
                     ks->last_fill))) {
        c->bad = "the scan returned a wrong value";
    }
    return c->bad != NULL;
}

static int count_cb(void *arg, const struct storage_entry *e)
{
    (void)e;
    (*(uint32_t *)arg)++;
    return 0;
}

/* An accepted synthesised snapshot: the bucket must hold exactly it. */
static void syn_verify(const struct syn *sy)
{
    char err[CAIRN_ERRMSG_SIZE] = "";
    struct storage_bucket_info info;
    struct storage_scan args = {0};
    struct storage_page page;
    struct syn_check c = {.sy = sy};
    uint32_t live = 0;
    storage_txn *t;
    int rc;

    if ((rc = storage_bucket_info(S, FUZZ_BUCKET, &info, err)) != 0) {
        die("info after a synthesised restore", rc, err);
    }
    if (info.keys != sy->keys || info.bytes != sy->bytes ||
        info.last_revision != sy->rev) {
        die("the counters differ from the synthesised snapshot's", 0, NULL);
    }
    if ((rc = storage_read_begin(S, &t, err)) != 0) {
        die("read_begin", rc, err);
    }
    rc = storage_scan(t, FUZZ_BUCKET, &args, syn_scan_cb, &c, &page, err);
    if (c.bad != NULL) {
        die(c.bad, rc, err);
    }
    if (rc != 0) {
        die("scan after a synthesised restore", rc, err);
    }
    for (int k = 0; k < SYN_KEYS; k++) {
        const struct syn_key_state *ks = &sy->k[k];
        uint32_t n = 0;
        live += ks->n_records > 0 && ks->last_op == CAIRN_OP_PUT;
        rc = storage_history(t, FUZZ_BUCKET, syn_key[k], syn_key_len[k], 0,
                             count_cb, &n, err);
        if (ks->n_records == 0 ? rc != CAIRN_ENOTFOUND
                               : rc != 0 || n != ks->n_records) {
            fprintf(stderr, "key %d (%zu bytes): %u records, history rc %d "
                    "with %u entries\n",
                    k, syn_key_len[k], ks->n_records, rc, n);
            die("a key's history differs from the synthesised snapshot's",
                rc, err);
        }
    }
    storage_txn_end(t);
    if (c.seen != live) {
        die("the scan missed live keys of the synthesised snapshot", 0,
            NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[CAIRN_ERRMSG_SIZE] = "";
    struct state now;
    struct syn sy;
    const char *d;
    uint8_t *buf;
    size_t len;
    int mode, rc;

    if (size == 0) {
        return 0;
    }
    mode = data[0] % 4;
    data++;
    size--;
    if (mode == 0) {
        buf = malloc(size ? size : 1);
        if (buf == NULL) {
            return 0;
        }
        if (size > 0) {
            memcpy(buf, data, size);
        }
        len = size;
    } else if (mode == 3) {
        struct out o = {0};
        synth(data, size, &o, &sy);
        buf = o.p;
        len = o.len;
    } else {
        len = SNAP_HEADER + size + SNAP_TRAILER;
        buf = malloc(len);
        if (buf == NULL) {
            return 0;
        }
        memcpy(buf, "CAIRNSNP\0\0\0\2", SNAP_HEADER);
        if (size > 0) {
            memcpy(buf + SNAP_HEADER, data, size);
        }
        if (mode == 2) {
            fix_records(buf + SNAP_HEADER, size);
        }
        put_be(buf + len - SNAP_TRAILER, XXH3_64bits(buf, len - SNAP_TRAILER),
               8);
    }

    rc = storage_restore(S, FUZZ_BUCKET, buf, len, err);
    free(buf);
    stats[mode][rc >= 0 && rc < CAIRN__ERR_COUNT ? rc : CAIRN__ERR_COUNT]++;
    if (mode == 3 && (rc == 0) != sy.valid) {
        die(rc == 0 ? "an invalid synthesised snapshot was accepted"
                    : "a well-formed synthesised snapshot was refused",
            rc, err);
    }
    if (rc != 0) {
        int crc;
        if (!restore_code_listed(rc)) {
            die("restore failed with a code storage.h does not list", rc,
                err);
        }
        if ((crc = capture(&now, err)) != 0) {
            die("capture after a refused restore", crc, err);
        }
        if ((d = state_diff(&base, &now)) != NULL) {
            fprintf(stderr, "refused restore (mode %d): %s\n", mode, err);
            die(d, rc, "a refused restore changed the state");
        }
        state_free(&now);
        return 0;
    }

    if (mode == 3) {
        syn_verify(&sy);
    }
    check_restored();
    if ((rc = storage_restore(S, FUZZ_BUCKET, good, good_len, err)) != 0) {
        die("restoring the known-good snapshot back", rc, err);
    }
    if ((rc = capture(&now, err)) != 0) {
        die("capture after restoring the known-good snapshot", rc, err);
    }
    if ((d = state_diff(&base, &now)) != NULL) {
        die(d, 0, "restoring the known-good snapshot did not give back "
                  "the state");
    }
    state_free(&now);
    return 0;
}
