/*
 * cairn-storage-bench — a micro-benchmark of the storage engine
 * (storage/storage.h) measured side by side with raw LMDB in the same
 * process and the same run, so the result is a ratio rather than an
 * absolute figure that depends on the machine.
 *
 * Both sides skip fsync (storage_options.no_sync / MDB_NOSYNC, with the
 * engine's other environment flags MDB_NOTLS | MDB_NORDAHEAD) and use the
 * same map size. Per run, each side does, on fresh environments:
 *   put_txn     --keys puts in random key order, one write txn each
 *               (storage_apply / mdb_txn_begin + mdb_put + commit);
 *   put_batch   the same puts, --batch per write txn (storage_write_begin,
 *               storage_write_apply..., commit / mdb_put... commit);
 *   get_batch   --keys gets of random keys, --gets-per-txn per read txn
 *               (storage_get / mdb_get);
 *   get_txn     --keys gets of random keys, one read txn each;
 *   scan        every key in pages of --page keys, one read txn per page,
 *               each page resuming after the previous one (storage_scan with
 *               its cursor / an MDB cursor positioned with MDB_SET_RANGE).
 * The gets and the scan read the environment put_batch filled. Every
 * operation is checked (each put applied, each get found, the scan saw every
 * key), so a broken engine cannot look fast.
 *
 * Each measurement runs --runs times (engine and LMDB alternate which goes
 * first); the report gives the median ops/s of each side and the median of
 * the per-run ratios LMDB/engine (how many times faster raw LMDB was: 1.0 =
 * same speed, 2.0 = the engine at half LMDB's speed). The engine writes a
 * revision record, a latest record and the bucket counters per put, and
 * checksums every record it reads, so it is expected to be slower; the goal
 * is to stay within 2x on puts and gets.
 *
 * Usage: cairn-storage-bench [--keys N] [--value-size B] [--runs R]
 *                            [--dir PARENT] [--batch N] [--gets-per-txn N]
 *                            [--page N] [--max-buckets N] [--max-bytes N]
 *                            [--json]
 * The environments live in a fresh directory under --dir (default: $TMPDIR
 * or /tmp), removed at the end.
 *
 * Two knobs show the engine's configuration costs: --max-buckets (LMDB
 * callocs and zeroes max_dbs * 49 bytes for every read txn and every nested
 * txn, and the engine opens 3 databases per bucket: about 150 KB per read
 * txn at the default of 1024 buckets) and --max-bytes (a bucket with a
 * limit runs each write command in a nested txn).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage.h"
#include "tmpdir.h"

#define BUCKET "bench"
#define KEY_LEN 16 /* "bench/%010u" */
#define T0 ((uint64_t)1700000000000000000ULL)

enum { OP_PUT_TXN, OP_PUT_BATCH, OP_GET_BATCH, OP_GET_TXN, OP_SCAN, N_OPS };

static const char *const op_names[N_OPS] = {
    "put_txn", "put_batch", "get_batch", "get_txn", "scan",
};

struct config {
    uint32_t keys;
    uint32_t value_size;
    uint32_t runs;
    uint32_t batch;
    uint32_t gets_per_txn;
    uint32_t page;
    uint32_t max_buckets; /* storage_options.max_buckets; 0: the default */
    int64_t max_bytes;    /* the bucket's max_bytes; -1: unlimited */
    const char *dir;
    bool json;
};

static struct config cfg = {
    .keys = 100000,
    .value_size = 256,
    .runs = 5,
    .batch = 1000,
    .gets_per_txn = 1000,
    .page = 100,
    .max_bytes = -1,
};

static char *keys;      /* cfg.keys keys of KEY_LEN bytes, sorted order */
static uint32_t *order; /* put order: a random permutation */
static uint32_t *reads; /* get order: random keys (with repeats) */
static uint8_t *value;
static uint64_t map_size;
static char root[1024]; /* this run's directory */
static volatile uint64_t sink; /* keeps the reads from being optimised out */

/* ---- helpers ------------------------------------------------------------- */

__attribute__((noreturn, format(printf, 1, 2)))
static void fatal(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "cairn-storage-bench: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    if (root[0] != '\0') {
        test_tmpdir_remove(root);
    }
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
    /* xorshift64*: deterministic across runs and machines */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

static const char *key(uint32_t i)
{
    return keys + (size_t)i * KEY_LEN;
}

static void env_dir(char *path, size_t cap, const char *side, uint32_t run,
                    const char *what)
{
    int n = snprintf(path, cap, "%s/%s-%s-%u", root, side, what, run);
    if (n < 0 || (size_t)n >= cap) {
        fatal("path too long");
    }
    if (mkdir(path, 0700) != 0) {
        fatal("mkdir %s: %s", path, strerror(errno));
    }
}

static void setup_data(void)
{
    char buf[KEY_LEN + 1];
    keys = malloc((size_t)cfg.keys * KEY_LEN);
    order = malloc((size_t)cfg.keys * sizeof *order);
    reads = malloc((size_t)cfg.keys * sizeof *reads);
    value = malloc(cfg.value_size ? cfg.value_size : 1);
    if (keys == NULL || order == NULL || reads == NULL || value == NULL) {
        fatal("out of memory");
    }
    for (uint32_t i = 0; i < cfg.keys; i++) {
        snprintf(buf, sizeof buf, "bench/%010u", i);
        memcpy(keys + (size_t)i * KEY_LEN, buf, KEY_LEN);
        order[i] = i;
    }
    for (uint32_t i = cfg.keys; i > 1; i--) { /* Fisher-Yates */
        uint32_t j = (uint32_t)(rng() % i), t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    for (uint32_t i = 0; i < cfg.keys; i++) {
        reads[i] = (uint32_t)(rng() % cfg.keys);
    }
    for (uint32_t i = 0; i < cfg.value_size; i++) {
        value[i] = (uint8_t)rng();
    }
    /* Room for both databases of the engine, history and LMDB's slack. */
    map_size = (uint64_t)cfg.keys * (cfg.value_size + KEY_LEN + 256) * 6;
    if (map_size < (1ULL << 30)) {
        map_size = 1ULL << 30;
    }
}

/* ---- the engine ---------------------------------------------------------- */

static storage *eng_open(const char *dir)
{
    struct storage_options o = {.map_size = map_size,
                                .max_buckets = cfg.max_buckets,
                                .no_sync = true};
    cairn_bucket_config bc;
    char err[CAIRN_ERRMSG_SIZE];
    storage *s;
    if (storage_open(dir, &o, &s, err) != 0) {
        fatal("storage_open %s: %s", dir, err);
    }
    cairn_bucket_config_init(&bc, BUCKET);
    bc.max_bytes = cfg.max_bytes;
    if (storage_bucket_create(s, &bc, T0, err) != 0) {
        fatal("bucket create: %s", err);
    }
    return s;
}

static void eng_cmd(struct storage_cmd *c, uint32_t i)
{
    memset(c, 0, sizeof *c);
    c->type = STORAGE_CMD_PUT;
    c->time = T0 + i;
    c->w.key = key(order[i]);
    c->w.key_len = KEY_LEN;
    c->w.value = value;
    c->w.value_len = cfg.value_size;
}

static double eng_put_txn(storage *s)
{
    char err[CAIRN_ERRMSG_SIZE];
    struct storage_result res;
    struct storage_cmd c;
    double t = now_s();
    for (uint32_t i = 0; i < cfg.keys; i++) {
        eng_cmd(&c, i);
        if (storage_apply(s, BUCKET, &c, (uint64_t)i + 1, &res, err) != 0) {
            fatal("storage_apply: %s", err);
        }
        if (res.code != 0) {
            fatal("put refused: %s", res.errmsg);
        }
    }
    return now_s() - t;
}

static double eng_put_batch(storage *s)
{
    char err[CAIRN_ERRMSG_SIZE];
    struct storage_result res;
    struct storage_cmd c;
    double t = now_s();
    for (uint32_t i = 0; i < cfg.keys;) {
        storage_txn *w;
        if (storage_write_begin(s, &w, err) != 0) {
            fatal("storage_write_begin: %s", err);
        }
        for (uint32_t n = 0; n < cfg.batch && i < cfg.keys; n++, i++) {
            eng_cmd(&c, i);
            if (storage_write_apply(w, BUCKET, &c, (uint64_t)i + 1, &res,
                                    err) != 0) {
                fatal("storage_write_apply: %s", err);
            }
            if (res.code != 0) {
                fatal("put refused: %s", res.errmsg);
            }
        }
        if (storage_write_commit(w, err) != 0) {
            fatal("storage_write_commit: %s", err);
        }
    }
    return now_s() - t;
}

static double eng_get(storage *s, uint32_t per_txn)
{
    char err[CAIRN_ERRMSG_SIZE];
    struct storage_entry e;
    uint64_t sum = 0;
    double t = now_s();
    for (uint32_t i = 0; i < cfg.keys;) {
        storage_txn *r;
        if (storage_read_begin(s, &r, err) != 0) {
            fatal("storage_read_begin: %s", err);
        }
        for (uint32_t n = 0; n < per_txn && i < cfg.keys; n++, i++) {
            if (storage_get(r, BUCKET, key(reads[i]), KEY_LEN, 0, T0, &e,
                            err) != 0) {
                fatal("storage_get: %s", err);
            }
            sum += e.value_len;
        }
        storage_txn_end(r);
    }
    t = now_s() - t;
    if (sum != (uint64_t)cfg.keys * cfg.value_size) {
        fatal("gets returned %" PRIu64 " value bytes", sum);
    }
    sink += sum;
    return t;
}

struct scan_acc {
    uint64_t keys, bytes;
};

static int eng_scan_cb(void *arg, const struct storage_entry *e)
{
    struct scan_acc *a = arg;
    a->keys++;
    a->bytes += e->value_len;
    return 0;
}

static double eng_scan(storage *s)
{
    char err[CAIRN_ERRMSG_SIZE];
    struct storage_scan args = {0};
    struct storage_page page;
    struct scan_acc acc = {0};
    uint8_t cursor[STORAGE_CURSOR_MAX];
    double t = now_s();
    args.limit = cfg.page;
    args.now = T0;
    do {
        storage_txn *r;
        if (storage_read_begin(s, &r, err) != 0) {
            fatal("storage_read_begin: %s", err);
        }
        if (storage_scan(r, BUCKET, &args, eng_scan_cb, &acc, &page, err)) {
            fatal("storage_scan: %s", err);
        }
        storage_txn_end(r);
        memcpy(cursor, page.cursor, page.cursor_len);
        args.cursor = cursor;
        args.cursor_len = page.cursor_len;
    } while (page.more);
    t = now_s() - t;
    if (acc.keys != cfg.keys || acc.bytes != acc.keys * cfg.value_size) {
        fatal("the scan saw %" PRIu64 " keys", acc.keys);
    }
    sink += acc.bytes;
    return t;
}

/* ---- raw LMDB ------------------------------------------------------------ */

#define MDB_CHECK(call)                                                      \
    do {                                                                     \
        int rc_ = (call);                                                    \
        if (rc_ != 0) {                                                      \
            fatal("%s: %s", #call, mdb_strerror(rc_));                       \
        }                                                                    \
    } while (0)

struct raw {
    MDB_env *env;
    MDB_dbi dbi;
};

static struct raw raw_open(const char *dir)
{
    struct raw r;
    MDB_txn *t;
    MDB_CHECK(mdb_env_create(&r.env));
    MDB_CHECK(mdb_env_set_mapsize(r.env, (size_t)map_size));
    MDB_CHECK(mdb_env_open(r.env, dir, MDB_NOTLS | MDB_NORDAHEAD | MDB_NOSYNC,
                           0600));
    MDB_CHECK(mdb_txn_begin(r.env, NULL, 0, &t));
    MDB_CHECK(mdb_dbi_open(t, NULL, 0, &r.dbi));
    MDB_CHECK(mdb_txn_commit(t));
    return r;
}

static void raw_put1(struct raw *r, MDB_txn *t, uint32_t i)
{
    MDB_val k = {KEY_LEN, (void *)key(order[i])};
    MDB_val v = {cfg.value_size, value};
    MDB_CHECK(mdb_put(t, r->dbi, &k, &v, 0));
}

static double raw_put_txn(struct raw *r)
{
    double t = now_s();
    for (uint32_t i = 0; i < cfg.keys; i++) {
        MDB_txn *w;
        MDB_CHECK(mdb_txn_begin(r->env, NULL, 0, &w));
        raw_put1(r, w, i);
        MDB_CHECK(mdb_txn_commit(w));
    }
    return now_s() - t;
}

static double raw_put_batch(struct raw *r)
{
    double t = now_s();
    for (uint32_t i = 0; i < cfg.keys;) {
        MDB_txn *w;
        MDB_CHECK(mdb_txn_begin(r->env, NULL, 0, &w));
        for (uint32_t n = 0; n < cfg.batch && i < cfg.keys; n++, i++) {
            raw_put1(r, w, i);
        }
        MDB_CHECK(mdb_txn_commit(w));
    }
    return now_s() - t;
}

static double raw_get(struct raw *r, uint32_t per_txn)
{
    uint64_t sum = 0;
    double t = now_s();
    for (uint32_t i = 0; i < cfg.keys;) {
        MDB_txn *rt;
        MDB_CHECK(mdb_txn_begin(r->env, NULL, MDB_RDONLY, &rt));
        for (uint32_t n = 0; n < per_txn && i < cfg.keys; n++, i++) {
            MDB_val k = {KEY_LEN, (void *)key(reads[i])}, v;
            MDB_CHECK(mdb_get(rt, r->dbi, &k, &v));
            sum += v.mv_size;
        }
        mdb_txn_abort(rt);
    }
    t = now_s() - t;
    if (sum != (uint64_t)cfg.keys * cfg.value_size) {
        fatal("gets returned %" PRIu64 " value bytes", sum);
    }
    sink += sum;
    return t;
}

static double raw_scan(struct raw *r)
{
    uint8_t last[KEY_LEN];
    bool started = false, more = true;
    uint64_t n_keys = 0, bytes = 0;
    double t = now_s();
    while (more) {
        MDB_txn *rt;
        MDB_cursor *c;
        MDB_val k, v;
        uint32_t n = 0;
        int rc;
        MDB_CHECK(mdb_txn_begin(r->env, NULL, MDB_RDONLY, &rt));
        MDB_CHECK(mdb_cursor_open(rt, r->dbi, &c));
        if (!started) {
            rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
        } else {
            k.mv_size = sizeof last;
            k.mv_data = last;
            rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
            if (rc == 0 && k.mv_size == sizeof last &&
                memcmp(k.mv_data, last, sizeof last) == 0) {
                rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
            }
        }
        started = true;
        for (; rc == 0 && n < cfg.page;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            n++;
            n_keys++;
            bytes += v.mv_size;
            memcpy(last, k.mv_data, sizeof last);
        }
        if (rc != 0 && rc != MDB_NOTFOUND) {
            fatal("cursor: %s", mdb_strerror(rc));
        }
        more = rc == 0; /* stopped at the page limit on an existing key */
        mdb_cursor_close(c);
        mdb_txn_abort(rt);
    }
    t = now_s() - t;
    if (n_keys != cfg.keys || bytes != n_keys * cfg.value_size) {
        fatal("the LMDB scan saw %" PRIu64 " keys", n_keys);
    }
    sink += bytes;
    return t;
}

/* ---- runs and report ----------------------------------------------------- */

/* ops/s per op, side (0 engine, 1 LMDB), run. */
static double *results;

static double *slot(int op, int side, uint32_t run)
{
    return &results[((size_t)op * 2 + (size_t)side) * cfg.runs + run];
}

static void record(int op, int side, uint32_t run, double seconds)
{
    *slot(op, side, run) = seconds > 0 ? cfg.keys / seconds : 0;
}

static void run_engine(uint32_t run)
{
    char dir[1200];
    storage *s;
    env_dir(dir, sizeof dir, "engine", run, "txn");
    s = eng_open(dir);
    record(OP_PUT_TXN, 0, run, eng_put_txn(s));
    storage_close(s);
    test_tmpdir_remove(dir);

    env_dir(dir, sizeof dir, "engine", run, "batch");
    s = eng_open(dir);
    record(OP_PUT_BATCH, 0, run, eng_put_batch(s));
    record(OP_GET_BATCH, 0, run, eng_get(s, cfg.gets_per_txn));
    record(OP_GET_TXN, 0, run, eng_get(s, 1));
    record(OP_SCAN, 0, run, eng_scan(s));
    storage_close(s);
    test_tmpdir_remove(dir);
}

static void run_lmdb(uint32_t run)
{
    char dir[1200];
    struct raw r;
    env_dir(dir, sizeof dir, "lmdb", run, "txn");
    r = raw_open(dir);
    record(OP_PUT_TXN, 1, run, raw_put_txn(&r));
    mdb_env_close(r.env);
    test_tmpdir_remove(dir);

    env_dir(dir, sizeof dir, "lmdb", run, "batch");
    r = raw_open(dir);
    record(OP_PUT_BATCH, 1, run, raw_put_batch(&r));
    record(OP_GET_BATCH, 1, run, raw_get(&r, cfg.gets_per_txn));
    record(OP_GET_TXN, 1, run, raw_get(&r, 1));
    record(OP_SCAN, 1, run, raw_scan(&r));
    mdb_env_close(r.env);
    test_tmpdir_remove(dir);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

static double median(double *v, uint32_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct summary {
    double engine, lmdb, ratio;
};

static struct summary summarise(int op)
{
    struct summary m;
    double *tmp = malloc(cfg.runs * sizeof *tmp);
    if (tmp == NULL) {
        fatal("out of memory");
    }
    for (uint32_t r = 0; r < cfg.runs; r++) {
        tmp[r] = *slot(op, 0, r);
    }
    m.engine = median(tmp, cfg.runs);
    for (uint32_t r = 0; r < cfg.runs; r++) {
        tmp[r] = *slot(op, 1, r);
    }
    m.lmdb = median(tmp, cfg.runs);
    for (uint32_t r = 0; r < cfg.runs; r++) {
        double e = *slot(op, 0, r);
        tmp[r] = e > 0 ? *slot(op, 1, r) / e : 0;
    }
    m.ratio = median(tmp, cfg.runs);
    free(tmp);
    return m;
}

static const char *const op_labels[N_OPS] = {
    "put, 1 per write txn", "put, batched", "get, batched per read txn",
    "get, 1 per read txn", "scan, pages",
};

static void report_table(double total_s)
{
    printf("cairn storage bench: %u keys of %d bytes, %u-byte values, "
           "%u run%s (medians), no sync on both sides\n",
           cfg.keys, KEY_LEN, cfg.value_size, cfg.runs,
           cfg.runs == 1 ? "" : "s");
    printf("batch %u puts per txn, %u gets per read txn, scan pages of %u "
           "keys\n\n",
           cfg.batch, cfg.gets_per_txn, cfg.page);
    printf("%-28s %14s %14s %12s\n", "operation", "engine ops/s",
           "LMDB ops/s", "LMDB/engine");
    for (int op = 0; op < N_OPS; op++) {
        struct summary m = summarise(op);
        bool bounded = op != OP_SCAN; /* puts and gets: within 2x */
        printf("%-28s %14.0f %14.0f %11.2fx%s\n", op_labels[op], m.engine,
               m.lmdb, m.ratio,
               bounded && m.ratio > 2.0 ? "  (over the 2x goal)" : "");
    }
    printf("\n(scan: keys/s. LMDB/engine: median of the per-run ratios; "
           "the goal is <= 2x for puts and gets.) Total %.1f s.\n",
           total_s);
}

static void report_json(double total_s)
{
    printf("{\"bench\":\"cairn-storage-bench\",\"keys\":%u,\"key_size\":%d,"
           "\"value_size\":%u,\"runs\":%u,\"batch\":%u,\"gets_per_txn\":%u,"
           "\"scan_page\":%u,\"no_sync\":true,\"seconds\":%.3f,"
           "\"results\":[",
           cfg.keys, KEY_LEN, cfg.value_size, cfg.runs, cfg.batch,
           cfg.gets_per_txn, cfg.page, total_s);
    for (int op = 0; op < N_OPS; op++) {
        struct summary m = summarise(op);
        printf("%s{\"name\":\"%s\",\"unit\":\"%s\",\"engine\":%.1f,"
               "\"lmdb\":%.1f,\"ratio\":%.4f,\"engine_runs\":[",
               op ? "," : "", op_names[op], op == OP_SCAN ? "keys/s" : "ops/s",
               m.engine, m.lmdb, m.ratio);
        for (uint32_t r = 0; r < cfg.runs; r++) {
            printf("%s%.1f", r ? "," : "", *slot(op, 0, r));
        }
        printf("],\"lmdb_runs\":[");
        for (uint32_t r = 0; r < cfg.runs; r++) {
            printf("%s%.1f", r ? "," : "", *slot(op, 1, r));
        }
        printf("]}");
    }
    printf("]}\n");
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cairn-storage-bench [--keys N] [--value-size BYTES] "
            "[--runs N]\n"
            "                           [--dir PARENT] [--batch N] "
            "[--gets-per-txn N]\n"
            "                           [--page N] [--max-buckets N] "
            "[--max-bytes N] [--json]\n"
            "  --keys N          keys per measurement (default 100000)\n"
            "  --value-size B    value bytes (default 256)\n"
            "  --runs N          runs per measurement; medians are reported "
            "(default 5)\n"
            "  --dir PARENT      make the environments in a fresh directory "
            "under PARENT\n"
            "                    (default $TMPDIR or /tmp); removed at the "
            "end\n"
            "  --batch N         puts per write txn in put_batch (default "
            "1000)\n"
            "  --gets-per-txn N  gets per read txn in get_batch (default "
            "1000)\n"
            "  --page N          keys per scan page (default 100)\n"
            "  --max-buckets N   the engine's storage_options.max_buckets "
            "(default: the\n"
            "                    engine's default, 1024)\n"
            "  --max-bytes N     the bucket's max_bytes (default -1, "
            "unlimited; a limit\n"
            "                    makes every put run in a nested txn)\n"
            "  --json            print one JSON object instead of the "
            "table\n");
}

static uint32_t parse_u32(const char *opt, const char *arg, uint32_t min,
                          uint32_t max)
{
    char *end;
    unsigned long long v;
    errno = 0;
    v = strtoull(arg, &end, 10);
    if (errno != 0 || end == arg || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "cairn-storage-bench: %s wants a number in "
                "%u..%u, not '%s'\n", opt, min, max, arg);
        exit(2);
    }
    return (uint32_t)v;
}

int main(int argc, char **argv)
{
    static const struct option long_opts[] = {
        {"keys", required_argument, NULL, 'k'},
        {"value-size", required_argument, NULL, 'v'},
        {"runs", required_argument, NULL, 'r'},
        {"dir", required_argument, NULL, 'd'},
        {"batch", required_argument, NULL, 'b'},
        {"gets-per-txn", required_argument, NULL, 'g'},
        {"page", required_argument, NULL, 'p'},
        {"max-buckets", required_argument, NULL, 'm'},
        {"max-bytes", required_argument, NULL, 'x'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    double total;
    int c;

    while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        switch (c) {
            case 'k': cfg.keys = parse_u32("--keys", optarg, 1, 50000000); break;
            case 'v':
                cfg.value_size = parse_u32("--value-size", optarg, 0,
                                           CAIRN_VALUE_DEFAULT_MAX);
                break;
            case 'r': cfg.runs = parse_u32("--runs", optarg, 1, 1000); break;
            case 'd': cfg.dir = optarg; break;
            case 'b': cfg.batch = parse_u32("--batch", optarg, 1, 1000000); break;
            case 'g':
                cfg.gets_per_txn = parse_u32("--gets-per-txn", optarg, 1,
                                             UINT32_MAX);
                break;
            case 'p': cfg.page = parse_u32("--page", optarg, 1, 1000000); break;
            case 'm':
                cfg.max_buckets = parse_u32("--max-buckets", optarg, 1,
                                            1000000);
                break;
            case 'x': {
                char *end;
                long long v;
                errno = 0;
                v = strtoll(optarg, &end, 10);
                if (errno != 0 || end == optarg || *end != '\0' ||
                    (v < 1 && v != -1)) {
                    fprintf(stderr, "cairn-storage-bench: --max-bytes wants "
                            "-1 or a positive size, not '%s'\n", optarg);
                    return 2;
                }
                cfg.max_bytes = v;
                break;
            }
            case 'j': cfg.json = true; break;
            case 'h': usage(stdout); return 0;
            default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }

    if (cfg.dir != NULL) {
        int n = snprintf(root, sizeof root, "%s/cairn-bench-XXXXXX", cfg.dir);
        if (n < 0 || (size_t)n >= sizeof root || mkdtemp(root) == NULL) {
            root[0] = '\0';
            fatal("cannot make a directory under %s: %s", cfg.dir,
                  strerror(errno));
        }
    } else if (test_tmpdir_create("bench", root, sizeof root) != 0) {
        root[0] = '\0';
        fatal("cannot make a temp directory: %s", strerror(errno));
    }

    setup_data();
    results = calloc((size_t)N_OPS * 2 * cfg.runs, sizeof *results);
    if (results == NULL) {
        fatal("out of memory");
    }
    total = now_s();
    for (uint32_t run = 0; run < cfg.runs; run++) {
        if (run % 2 == 0) {
            run_engine(run);
            run_lmdb(run);
        } else {
            run_lmdb(run);
            run_engine(run);
        }
        if (isatty(STDERR_FILENO)) {
            fprintf(stderr, "run %u/%u done\r", run + 1, cfg.runs);
        }
    }
    total = now_s() - total;
    test_tmpdir_remove(root);
    root[0] = '\0';

    if (cfg.json) {
        report_json(total);
    } else {
        report_table(total);
    }
    free(results);
    free(keys);
    free(order);
    free(reads);
    free(value);
    return 0;
}
