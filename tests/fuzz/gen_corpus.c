/*
 * gen_corpus — writes the fuzz targets' seed corpus:
 *   <out>/cmd/       encoded commands of every type and encoded results
 *                    (fuzz_cmd_decode);
 *   <out>/snapshot/  snapshots of bucket "b", each in the first three input
 *                    modes of fuzz_snapshot_restore (first byte 0: the whole
 *                    snapshot; 1 and 2: the msgpack body only), and record
 *                    descriptors for its mode 3.
 * Usage: fuzz_gen_corpus <out dir>   (e.g. tests/fuzz/corpus; the dirs must
 * exist). The output is deterministic.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "storage.h"
#include "tmpdir.h"

static const char *out_dir;

static void write_file(const char *sub, const char *name, uint8_t mode_byte,
                       bool with_mode, const void *p, size_t n)
{
    char path[1024];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s/%s", out_dir, sub, name);
    f = fopen(path, "wb");
    if (f == NULL) {
        fprintf(stderr, "gen_corpus: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    if ((with_mode && fwrite(&mode_byte, 1, 1, f) != 1) ||
        (n > 0 && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
        fprintf(stderr, "gen_corpus: write %s failed\n", path);
        exit(1);
    }
}

static void cmd_file(const char *name, const struct storage_cmd *c)
{
    char err[CAIRN_ERRMSG_SIZE];
    void *buf;
    size_t len;
    if (storage_cmd_encode(c, &buf, &len, err) != 0) {
        fprintf(stderr, "gen_corpus: encode %s: %s\n", name, err);
        exit(1);
    }
    write_file("cmd", name, 0, false, buf, len);
    free(buf);
}

static void res_file(const char *name, const struct storage_result *r)
{
    char err[CAIRN_ERRMSG_SIZE];
    void *buf;
    size_t len;
    if (storage_result_encode(r, &buf, &len, err) != 0) {
        fprintf(stderr, "gen_corpus: encode %s: %s\n", name, err);
        exit(1);
    }
    write_file("cmd", name, 0, false, buf, len);
    free(buf);
}

static struct storage_cmd single(uint32_t type, const char *k, const char *v)
{
    struct storage_cmd c = {0};
    c.type = type;
    c.time = FUZZ_T0;
    c.w.key = k;
    c.w.key_len = strlen(k);
    if (v != NULL) {
        c.w.value = v;
        c.w.value_len = strlen(v);
    }
    return c;
}

static void gen_cmds(void)
{
    static char long_key[512];
    struct storage_cmd c;
    struct storage_result r;
    struct cairn_compare cmp[5];
    struct cairn_write ws[4];

    c = single(STORAGE_CMD_PUT, "config/db.url", "postgres://db:5432");
    c.w.meta = "content-type=text/plain";
    c.w.meta_len = strlen(c.w.meta);
    c.w.ttl_ns = 60000000000LL;
    cmd_file("put_meta_ttl", &c);

    c = single(STORAGE_CMD_PUT, "k", "");
    c.w.expires_at = FUZZ_T0 + 1000;
    cmd_file("put_empty_exp", &c);

    memset(long_key, 'x', sizeof long_key);
    c = single(STORAGE_CMD_PUT, "", "v");
    c.w.key = long_key;
    c.w.key_len = sizeof long_key;
    cmd_file("put_long_key", &c);

    cmd_file("create", (c = single(STORAGE_CMD_CREATE, "lock", "owner-1"), &c));
    c = single(STORAGE_CMD_PUT, "k", "v");
    c.cid = 0x1234567890abcdefULL;
    c.seq = 42;
    cmd_file("put_cid", &c);

    c = single(STORAGE_CMD_UPDATE, "counter", "42");
    c.revision = 7;
    cmd_file("update", &c);

    c = single(STORAGE_CMD_CAS, "counter", "43");
    c.has_old = true;
    c.old = "42";
    c.old_len = 2;
    cmd_file("cas_old", &c);

    c = single(STORAGE_CMD_CAS, "counter", "1");
    c.has_old = false;
    cmd_file("cas_absent", &c);

    cmd_file("delete", (c = single(STORAGE_CMD_DELETE, "lock", NULL), &c));
    c = single(STORAGE_CMD_DELETE, "lock", NULL);
    c.revision = 9;
    cmd_file("delete_rev", &c);

    cmd_file("purge", (c = single(STORAGE_CMD_PURGE, "old", NULL), &c));
    c = single(STORAGE_CMD_PURGE, "old", NULL);
    c.revision = 3;
    cmd_file("purge_rev", &c);

    c = (struct storage_cmd){.type = STORAGE_CMD_EXPIRE, .time = FUZZ_T0};
    cmd_file("expire", &c);

    cmp[0] = (struct cairn_compare){.key = "a", .key_len = 1,
                                      .target = CAIRN_CMP_VALUE,
                                      .op = CAIRN_CMP_EQ, .value = "1",
                                      .value_len = 1};
    cmp[1] = (struct cairn_compare){.key = "b", .key_len = 1,
                                      .target = CAIRN_CMP_REVISION,
                                      .op = CAIRN_CMP_LT, .revision = 10};
    cmp[2] = (struct cairn_compare){.key = "c", .key_len = 1,
                                      .target = CAIRN_CMP_EXISTS,
                                      .op = CAIRN_CMP_EQ, .exists = false};
    cmp[3] = (struct cairn_compare){.key = "d", .key_len = 1,
                                      .target = CAIRN_CMP_REVISION,
                                      .op = CAIRN_CMP_GT, .revision = 1};
    cmp[4] = (struct cairn_compare){.key = "e", .key_len = 1,
                                      .target = CAIRN_CMP_VALUE,
                                      .op = CAIRN_CMP_NE, .value = "x",
                                      .value_len = 1};
    ws[0] = (struct cairn_write){.op = CAIRN_OP_PUT, .key = "a",
                                   .key_len = 1, .value = "2",
                                   .value_len = 1, .meta = "m",
                                   .meta_len = 1, .ttl_ns = 5};
    ws[1] = (struct cairn_write){.op = CAIRN_OP_DEL, .key = "b",
                                   .key_len = 1};
    ws[2] = (struct cairn_write){.op = CAIRN_OP_PURGE, .key = "c",
                                   .key_len = 1};
    ws[3] = (struct cairn_write){.op = CAIRN_OP_PUT, .key = "f",
                                   .key_len = 1, .value = "v",
                                   .value_len = 1,
                                   .expires_at = FUZZ_T0 + 10};
    c = (struct storage_cmd){.type = STORAGE_CMD_TXN, .time = FUZZ_T0,
                             .compares = cmp, .n_compares = 5,
                             .writes = ws, .n_writes = 4};
    cmd_file("txn", &c);
    c.n_compares = 0;
    c.compares = NULL;
    c.n_writes = 2;
    cmd_file("txn_bulk", &c);
    c.cid = 7;
    c.seq = 8193;
    cmd_file("txn_cid", &c);

    r = (struct storage_result){.code = CAIRN_OK, .revision = 12,
                                .last_revision = 12, .count = 1};
    res_file("res_ok", &r);
    r = (struct storage_result){.code = CAIRN_ECONFLICT,
                                .current_revision = 5, .failed_compare = 2};
    snprintf(r.errmsg, sizeof r.errmsg, "txn compare 2 failed");
    res_file("res_conflict", &r);
    r = (struct storage_result){.code = CAIRN_OK, .skipped = true};
    res_file("res_skipped", &r);
    r = (struct storage_result){.code = CAIRN_OK, .revision = 3,
                                .last_revision = 3, .count = 1,
                                .duplicate = true};
    res_file("res_dup", &r);
}

static void gen_snapshot(const char *name, enum fuzz_content content)
{
    struct storage_options opts = {.no_sync = true};
    char dir[512], err[CAIRN_ERRMSG_SIZE], file[64];
    storage *s;
    uint8_t *buf;
    size_t len;

    if (test_tmpdir_create("gen-corpus", dir, sizeof dir) != 0) {
        perror("gen_corpus: temp dir");
        exit(1);
    }
    if (storage_open(dir, &opts, &s, err) != 0 ||
        fuzz_populate(s, content, err) != 0 ||
        storage_snapshot(s, FUZZ_BUCKET, (void **)&buf, &len, err) != 0) {
        fprintf(stderr, "gen_corpus: %s: %s\n", name, err);
        exit(1);
    }
    snprintf(file, sizeof file, "%s_raw", name);
    write_file("snapshot", file, 0, true, buf, len);
    /* Modes 1 and 2 take the body: no header, no trailer. */
    snprintf(file, sizeof file, "%s_body", name);
    write_file("snapshot", file, 1, true, buf + 12, len - 20);
    snprintf(file, sizeof file, "%s_body_fixrec", name);
    write_file("snapshot", file, 2, true, buf + 12, len - 20);
    free(buf);
    storage_close(s);
    test_tmpdir_remove(dir);
}

/* Mode 3 of fuzz_snapshot_restore: h0 h1, then descriptors b0 b1 b2 b3
 * where b0 = key << 2 | (op - 1) (see synth() there). */
#define D(key, op, b1, b2, b3) (uint8_t)((key) << 2 | ((op) - 1)), b1, b2, b3
static void gen_synth(void)
{
    static const uint8_t basic[] = {
        2, 0x00, /* history 3 */
        D(0, 1, 0x13, 'a', 0), D(2, 1, 0x02, 'b', 1), D(0, 1, 0x44, 'c', 2),
        D(2, 2, 0x00, 0, 0),   D(5, 1, 0x01, 'l', 0), D(6, 1, 0x01, 'm', 0),
        D(7, 1, 0x02, 'n', 0), D(8, 1, 0x82, 'o', 5), D(9, 1, 0x01, 'p', 0),
        D(10, 1, 0x01, 'q', 0), D(11, 1, 0x01, 'r', 0), D(7, 3, 0, 0, 0),
        D(1, 1, 0x0f, 's', 3), D(3, 2, 0x00, 0, 0x80),
    };
    static const uint8_t too_many[] = {
        0, 0x00, /* history 1: a second revision of "a" is refused */
        D(0, 1, 0x01, 'a', 0), D(0, 1, 0x01, 'b', 0),
    };
    static const uint8_t bad_counters[] = {
        7, 0x0b, /* history 8, keys and bytes off by one, bucket ttl */
        D(6, 1, 0x01, 'a', 0), D(7, 1, 0x01, 'b', 0), D(6, 1, 0x01, 'c', 0),
    };
    write_file("snapshot", "synth_basic", 3, true, basic, sizeof basic);
    write_file("snapshot", "synth_too_many", 3, true, too_many,
               sizeof too_many);
    write_file("snapshot", "synth_bad_counters", 3, true, bad_counters,
               sizeof bad_counters);
}
#undef D

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <corpus dir with cmd/ and snapshot/>\n",
                argv[0]);
        return 2;
    }
    out_dir = argv[1];
    gen_cmds();
    gen_snapshot("full", FUZZ_CONTENT_FULL);
    gen_snapshot("small", FUZZ_CONTENT_SMALL);
    gen_snapshot("empty", FUZZ_CONTENT_EMPTY);
    gen_synth();
    return 0;
}
