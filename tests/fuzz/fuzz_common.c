#include "fuzz_common.h"

#include <stdio.h>
#include <string.h>

bool fuzz_bytes_eq(const void *a, size_t alen, const void *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static struct cairn_write put_w(const char *k, size_t kl, const char *v)
{
    struct cairn_write w = {0};
    w.op = CAIRN_OP_PUT;
    w.key = k;
    w.key_len = kl;
    w.value = v;
    w.value_len = strlen(v);
    return w;
}

static int apply(storage *s, struct storage_cmd *cmd, uint64_t *index,
                 char *errmsg)
{
    struct storage_result res;
    int rc;
    cmd->time = FUZZ_T0 + *index * 1000;
    rc = storage_apply(s, FUZZ_BUCKET, cmd, *index, &res, errmsg);
    (*index)++;
    if (rc != 0) {
        return rc;
    }
    if (res.code != CAIRN_OK) {
        snprintf(errmsg, CAIRN_ERRMSG_SIZE, "populate command %llu: %s",
                 (unsigned long long)*index - 1, res.errmsg);
        return res.code;
    }
    return 0;
}

static int populate_full(storage *s, char *errmsg)
{
    char l511[511], l512a[512], l512b[512];
    struct storage_cmd c;
    struct cairn_compare cmp[1];
    struct cairn_write ws[3];
    uint64_t idx = 1;
    int rc;

    memset(l511, 'x', sizeof l511);
    memcpy(l512a, l511, 511);
    l512a[511] = 'a';
    memcpy(l512b, l511, 511);
    l512b[511] = 'b';

#define DO(cmdexpr)                                                          \
    do {                                                                     \
        c = (struct storage_cmd){0};                                         \
        cmdexpr;                                                             \
        if ((rc = apply(s, &c, &idx, errmsg)) != 0) {                        \
            return rc;                                                       \
        }                                                                    \
    } while (0)

    /* 1: put with metadata; 2: put; 3: update; 4: put with a ttl. */
    DO((c.type = STORAGE_CMD_PUT, c.w = put_w("alpha", 5, "one"),
        c.w.meta = "m1", c.w.meta_len = 2));
    DO((c.type = STORAGE_CMD_PUT, c.w = put_w("beta", 4, "two"),
        c.cid = 0xc1d, c.seq = 1));
    DO((c.type = STORAGE_CMD_UPDATE, c.w = put_w("alpha", 5, "uno"),
        c.revision = 1));
    DO((c.type = STORAGE_CMD_PUT, c.w = put_w("gamma", 5, "three"),
        c.w.ttl_ns = 1000000000000LL));
    /* 5: delete (a DEL marker); 6-8: keys stored in a group record. */
    DO((c.type = STORAGE_CMD_DELETE, c.w.key = "beta", c.w.key_len = 4));
    DO((c.type = STORAGE_CMD_PUT, c.w = put_w(l511, sizeof l511, "L")));
    DO((c.type = STORAGE_CMD_PUT, c.w = put_w(l512a, sizeof l512a, "La")));
    DO((c.type = STORAGE_CMD_PUT, c.w = put_w(l512b, sizeof l512b, "Lb"),
        c.w.expires_at = FUZZ_T0 + 5000000000000ULL));
    /* 9: a txn with a compare and three writes. */
    cmp[0] = (struct cairn_compare){.key = "alpha",
                                      .key_len = 5,
                                      .target = CAIRN_CMP_EXISTS,
                                      .op = CAIRN_CMP_EQ,
                                      .exists = true};
    ws[0] = put_w("delta", 5, "4");
    ws[1] = put_w("eps", 3, "5");
    ws[2] = (struct cairn_write){
        .op = CAIRN_OP_DEL, .key = "gamma", .key_len = 5};
    DO((c.type = STORAGE_CMD_TXN, c.compares = cmp, c.n_compares = 1,
        c.writes = ws, c.n_writes = 3));
    /* 10: purge; 11: cas; 12: create; 13: a third revision of alpha. */
    DO((c.type = STORAGE_CMD_PURGE, c.w.key = "eps", c.w.key_len = 3));
    DO((c.type = STORAGE_CMD_CAS, c.w = put_w("delta", 5, "four"),
        c.has_old = true, c.old = "4", c.old_len = 1));
    DO((c.type = STORAGE_CMD_CREATE, c.w = put_w("zeta", 4, "6"),
        c.cid = 0xc1d, c.seq = 2));
    /* A retry of the create: answered from the dedup table. */
    DO((c.type = STORAGE_CMD_CREATE, c.w = put_w("zeta", 4, "6"),
        c.cid = 0xc1d, c.seq = 2));
    DO((c.type = STORAGE_CMD_PUT, c.w = put_w("alpha", 5, "three-times")));
#undef DO
    return 0;
}

static int populate_small(storage *s, char *errmsg)
{
    struct storage_cmd c = {0};
    uint64_t idx = 1;
    int rc;
    c.type = STORAGE_CMD_PUT;
    c.w = put_w("k1", 2, "v1");
    if ((rc = apply(s, &c, &idx, errmsg)) != 0) {
        return rc;
    }
    c.w = put_w("k2", 2, "v2");
    c.w.meta = "meta";
    c.w.meta_len = 4;
    return apply(s, &c, &idx, errmsg);
}

int fuzz_populate(storage *s, enum fuzz_content content, char *errmsg)
{
    cairn_bucket_config cfg;
    int rc;
    cairn_bucket_config_init(&cfg, FUZZ_BUCKET);
    switch (content) {
        case FUZZ_CONTENT_FULL:
            cfg.history = 3;
            snprintf(cfg.description, sizeof cfg.description, "fuzz seed");
            cfg.n_tags = 1;
            snprintf(cfg.tags[0], sizeof cfg.tags[0], "zone:a");
            cfg.n_metadata = 1;
            snprintf(cfg.metadata[0].key, sizeof cfg.metadata[0].key, "owner");
            snprintf(cfg.metadata[0].value, sizeof cfg.metadata[0].value,
                     "fuzz");
            break;
        case FUZZ_CONTENT_SMALL:
            cfg.ttl_ns = 3600LL * 1000000000LL;
            cfg.max_bytes = 1 << 20;
            break;
        case FUZZ_CONTENT_EMPTY:
            break;
    }
    if ((rc = storage_bucket_create(s, &cfg, FUZZ_T0, errmsg)) != 0) {
        return rc;
    }
    switch (content) {
        case FUZZ_CONTENT_FULL:
            return populate_full(s, errmsg);
        case FUZZ_CONTENT_SMALL:
            return populate_small(s, errmsg);
        default:
            return 0;
    }
}
