/* The environment, transactions and error helpers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

#define DEFAULT_MAP_SIZE (1ULL << 30)
#define DEFAULT_MAX_BUCKETS 1024
#define DBS_PER_BUCKET 4 /* k, r, t, d */

int storage__fail(char *errmsg, int code, const char *fmt, ...)
{
    va_list ap;
    if (errmsg != NULL) {
        va_start(ap, fmt);
        vsnprintf(errmsg, CAIRN_ERRMSG_SIZE, fmt, ap);
        va_end(ap);
    }
    return code;
}

int storage__mdb_fail(char *errmsg, int rc, const char *what)
{
    int code;
    switch (rc) {
        case MDB_MAP_FULL:
        case MDB_DBS_FULL:
        case MDB_TXN_FULL:
        case MDB_READERS_FULL:
            code = CAIRN_ENOSPACE;
            break;
        case ENOMEM:
            code = CAIRN_ENOMEM;
            break;
        case MDB_CORRUPTED:
        case MDB_PAGE_NOTFOUND:
        case MDB_INVALID:
        case MDB_BAD_DBI:
            code = CAIRN_ECORRUPT;
            break;
        case MDB_VERSION_MISMATCH:
            code = CAIRN_EVERSION;
            break;
        default:
            code = CAIRN_EIO;
            break;
    }
    return storage__fail(errmsg, code, "%s: %s", what, mdb_strerror(rc));
}

void storage__wrap(char *errmsg, const char *what)
{
    char tmp[CAIRN_ERRMSG_SIZE];
    if (errmsg == NULL) {
        return;
    }
    snprintf(tmp, sizeof tmp, "%s: %s", what, errmsg);
    memcpy(errmsg, tmp, sizeof tmp);
}

/* mkdir -p @dir. */
static int make_dir(const char *dir, char *errmsg)
{
    char path[4096];
    size_t n = strlen(dir);
    struct stat st;
    if (n == 0 || n >= sizeof path) {
        return storage__fail(errmsg, CAIRN_EINVAL,
                             "data directory path is empty or too long");
    }
    memcpy(path, dir, n + 1);
    for (char *p = path + 1; *p != '\0'; p++) {
        if (*p != '/') {
            continue;
        }
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            return storage__fail(errmsg, CAIRN_EIO,
                                 "create directory '%s': %s", path,
                                 strerror(errno));
        }
        *p = '/';
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        return storage__fail(errmsg, CAIRN_EIO, "create directory '%s': %s",
                             path, strerror(errno));
    }
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return storage__fail(errmsg, CAIRN_EIO,
                             "data directory '%s' is not a directory", path);
    }
    return 0;
}

static int write_format(storage *s, MDB_txn *txn, char *errmsg)
{
    MDB_val k = {6, "format"}, v;
    uint8_t buf[4];
    int rc;
    storage__put_u32le(buf, STORAGE_FORMAT_VERSION);
    v.mv_data = buf;
    v.mv_size = sizeof buf;
    rc = mdb_put(txn, s->meta, &k, &v, 0);
    return rc != 0 ? storage__mdb_fail(errmsg, rc, "write format") : 0;
}

/* Check (or, in a new environment, write) the format version. *upgrade is
 * set for a format-1 environment: its buckets need a dedup table, and the
 * format record is rewritten once they have one. */
static int check_format(storage *s, MDB_txn *txn, bool *upgrade,
                        char *errmsg)
{
    MDB_val k = {6, "format"}, v;
    int rc = mdb_get(txn, s->meta, &k, &v);
    *upgrade = false;
    if (rc == MDB_NOTFOUND) {
        return write_format(s, txn, errmsg);
    }
    if (rc != 0) {
        return storage__mdb_fail(errmsg, rc, "read format");
    }
    if (v.mv_size != 4) {
        return storage__fail(errmsg, CAIRN_ECORRUPT, "format record is bad");
    }
    if (storage__get_u32le(v.mv_data) == STORAGE_FORMAT_V1) {
        *upgrade = true;
        return 0;
    }
    if (storage__get_u32le(v.mv_data) != STORAGE_FORMAT_VERSION) {
        return storage__fail(errmsg, CAIRN_EVERSION,
                             "data was written in storage format %u; this "
                             "build reads formats %u and %u",
                             storage__get_u32le(v.mv_data),
                             STORAGE_FORMAT_V1, STORAGE_FORMAT_VERSION);
    }
    return 0;
}

int storage_open(const char *dir, const struct storage_options *opts,
                 storage **out, char *errmsg)
{
    struct storage_options o = {0};
    storage *s;
    MDB_txn *txn = NULL;
    bool upgrade;
    int dead, rc;

    if (opts != NULL) {
        o = *opts;
    }
    if (o.map_size == 0) {
        o.map_size = DEFAULT_MAP_SIZE;
    }
    if (o.max_buckets == 0) {
        o.max_buckets = DEFAULT_MAX_BUCKETS;
    }
    if (o.max_buckets > 100000) {
        return storage__fail(errmsg, CAIRN_EINVAL,
                             "max_buckets %u is above 100000", o.max_buckets);
    }
    if (dir == NULL) {
        return storage__fail(errmsg, CAIRN_EINVAL, "no data directory");
    }
    if ((rc = make_dir(dir, errmsg)) != 0) {
        return rc;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        return storage__fail(errmsg, CAIRN_ENOMEM, "open storage");
    }
    s->max_buckets = o.max_buckets;
    if ((rc = mdb_env_create(&s->env)) != 0) {
        free(s);
        return storage__mdb_fail(errmsg, rc, "create environment");
    }
    rc = mdb_env_set_mapsize(s->env, (size_t)o.map_size);
    if (rc == 0) {
        rc = mdb_env_set_maxdbs(s->env,
                                (MDB_dbi)(o.max_buckets * DBS_PER_BUCKET + 1));
    }
    if (rc != 0) {
        rc = storage__mdb_fail(errmsg, rc, "configure environment");
        goto err;
    }
    rc = mdb_env_open(s->env, dir,
                      MDB_NOTLS | MDB_NORDAHEAD | (o.no_sync ? MDB_NOSYNC : 0),
                      0644);
    if (rc != 0) {
        char what[512];
        snprintf(what, sizeof what, "open '%s'", dir);
        rc = storage__mdb_fail(errmsg, rc, what);
        if (rc != CAIRN_ENOSPACE && rc != CAIRN_ENOMEM &&
            rc != CAIRN_EVERSION) {
            rc = CAIRN_EIO;
        }
        goto err;
    }
    mdb_reader_check(s->env, &dead);
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
        rc = storage__mdb_fail(errmsg, rc, "begin");
        goto err;
    }
    if ((rc = mdb_dbi_open(txn, "_meta", MDB_CREATE, &s->meta)) != 0) {
        rc = storage__mdb_fail(errmsg, rc, "open catalog");
        goto err;
    }
    if ((rc = check_format(s, txn, &upgrade, errmsg)) != 0 ||
        (rc = storage__buckets_load(s, txn, upgrade, errmsg)) != 0 ||
        (upgrade && (rc = write_format(s, txn, errmsg)) != 0)) {
        goto err;
    }
    if ((rc = mdb_txn_commit(txn)) != 0) {
        txn = NULL;
        rc = storage__mdb_fail(errmsg, rc, "commit");
        goto err;
    }
    *out = s;
    return 0;
err:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    storage__buckets_free(s);
    storage__zstd_free(s);
    mdb_env_close(s->env);
    free(s);
    return rc;
}

void storage_close(storage *s)
{
    if (s == NULL) {
        return;
    }
    if (s->idle_read != NULL) {
        mdb_txn_abort(s->idle_read->txn);
        free(s->idle_read);
    }
    storage__buckets_free(s);
    storage__zstd_free(s);
    mdb_env_close(s->env);
    free(s);
}

/* ------------------------------------------------------------------------
 * Transactions
 * ---------------------------------------------------------------------- */

int storage__txn_begin(storage *s, bool write, storage_txn **out,
                       char *errmsg)
{
    storage_txn *t;
    int rc;
    if (!write && s->idle_read != NULL) {
        t = s->idle_read;
        s->idle_read = NULL;
        if ((rc = mdb_txn_renew(t->txn)) == 0) {
            *out = t;
            return 0;
        }
        mdb_txn_abort(t->txn);
        free(t);
        return storage__mdb_fail(errmsg, rc, "begin read transaction");
    }
    t = calloc(1, sizeof *t);
    if (t == NULL) {
        return storage__fail(errmsg, CAIRN_ENOMEM, "begin transaction");
    }
    rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
    if (rc != 0) {
        free(t);
        return storage__mdb_fail(errmsg, rc, "begin transaction");
    }
    t->s = s;
    t->write = write;
    *out = t;
    return 0;
}

int storage_read_begin(storage *s, storage_txn **out, char *errmsg)
{
    return storage__txn_begin(s, false, out, errmsg);
}

int storage_write_begin(storage *s, storage_txn **out, char *errmsg)
{
    return storage__txn_begin(s, true, out, errmsg);
}

void storage_txn_end(storage_txn *t)
{
    if (t == NULL) {
        return;
    }
    storage__bufs_free(&t->bufs);
    if (!t->write && t->s->idle_read == NULL) {
        mdb_txn_reset(t->txn);
        t->s->idle_read = t;
        return;
    }
    mdb_txn_abort(t->txn);
    free(t->touched);
    free(t);
}

struct bucket_counters *storage__touch(storage_txn *t, struct bucket *b,
                                       char *errmsg)
{
    for (uint32_t i = 0; i < t->n_touched; i++) {
        if (t->touched[i].b == b) {
            return &t->touched[i].c;
        }
    }
    if (t->n_touched == t->cap_touched) {
        uint32_t cap = t->cap_touched == 0 ? 4 : 2 * t->cap_touched;
        struct touched *n = realloc(t->touched, cap * sizeof *n);
        if (n == NULL) {
            storage__fail(errmsg, CAIRN_ENOMEM, "track bucket");
            return NULL;
        }
        t->touched = n;
        t->cap_touched = cap;
    }
    t->touched[t->n_touched].b = b;
    t->touched[t->n_touched].c = b->c;
    return &t->touched[t->n_touched++].c;
}

int storage_write_commit(storage_txn *t, char *errmsg)
{
    int rc = 0;
    for (uint32_t i = 0; i < t->n_touched && rc == 0; i++) {
        rc = storage__counters_put(t->txn, t->s, t->touched[i].b,
                                   &t->touched[i].c, errmsg);
    }
    if (rc != 0) {
        storage_txn_end(t);
        return rc;
    }
    rc = mdb_txn_commit(t->txn);
    if (rc == 0) {
        for (uint32_t i = 0; i < t->n_touched; i++) {
            t->touched[i].b->c = t->touched[i].c;
        }
    } else {
        rc = storage__mdb_fail(errmsg, rc, "commit");
    }
    storage__bufs_free(&t->bufs);
    free(t->touched);
    free(t);
    return rc;
}

int storage_write_apply(storage_txn *t, const char *bucket,
                        const struct storage_cmd *cmd, uint64_t index,
                        struct storage_result *res, char *errmsg)
{
    struct bucket *b;
    memset(res, 0, sizeof *res);
    if (!t->write) {
        return storage__fail(errmsg, CAIRN_EINVAL,
                             "apply in a read transaction");
    }
    b = storage__bucket_find(t->s, bucket);
    if (b == NULL) {
        res->code = storage__fail(res->errmsg, CAIRN_ENOBUCKET,
                                  "bucket '%.64s' not found",
                                  bucket != NULL ? bucket : "");
        return 0;
    }
    return storage__apply_in(t, b, cmd, index, res, errmsg);
}

int storage_apply(storage *s, const char *bucket, const struct storage_cmd *cmd,
                  uint64_t index, struct storage_result *res, char *errmsg)
{
    storage_txn *t;
    int rc = storage_write_begin(s, &t, errmsg);
    if (rc != 0) {
        memset(res, 0, sizeof *res);
        return rc;
    }
    rc = storage_write_apply(t, bucket, cmd, index, res, errmsg);
    if (rc != 0 || t->n_touched == 0) {
        storage_txn_end(t);
        return rc;
    }
    return storage_write_commit(t, errmsg);
}
