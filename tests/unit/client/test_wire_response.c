/* Responses (docs/protocol.md): round trips of every op's response with
 * its optional fields present and absent, the per-op reply helpers, the
 * entries writer, error responses for every code with their extras, the
 * client-side check of each op's fields, truncation and wrong types. */
#include <stdio.h>
#include <stdlib.h>

#include "helpers.h"

static cairn_bucket_config cfg;
static struct cairn_wire_replica reps[2] = {{1, true, 100, true, 0, true},
                                            {3, false, 97, true, 4, false}};
static struct cairn_wire_bucket_info info;
static struct cairn_wire_entry ents[3];
static struct cairn_wire_str tags[2] = {{"zone:a", 6}, {"rack:r1", 7}};
static struct cairn_wire_node nodes[3];
static struct cairn_wire_bucket_status bstat[2];
static struct cairn_wire_bucket_status bnames[3];

static struct cairn_wire_str ws(const char *s)
{
    struct cairn_wire_str v = {s, strlen(s)};
    return v;
}

static void init_data(void)
{
    cairn_bucket_config_init(&cfg, "orders");
    cfg.history = 5;
    cfg.num_replicas = 2;
    cfg.n_tags = 1;
    snprintf(cfg.tags[0], sizeof cfg.tags[0], "zone:a");
    memset(&info, 0, sizeof info);
    info.config = cfg;
    info.created = 1700000000000000000ULL;
    info.keys = 10;
    info.bytes = 12345;
    info.stored_bytes = 4321;
    info.rev = 99;
    info.compacted = 3;
    info.replicas = reps;
    info.n_replicas = 2;
    memset(ents, 0, sizeof ents);
    ents[0] = (struct cairn_wire_entry){
        .key = "k1", .key_len = 2, .has_value = true, .value = "value",
        .value_len = 5, .has_meta = true, .meta = "m", .meta_len = 1,
        .revision = 7, .create_revision = 5, .updated = 1000,
        .expires = 2000, .op = CAIRN_OP_PUT};
    ents[1] = (struct cairn_wire_entry){.key = "k2", .key_len = 2,
                                        .revision = 8, .create_revision = 8,
                                        .updated = UINT64_MAX,
                                        .op = CAIRN_OP_DEL};
    ents[2] = (struct cairn_wire_entry){.key = "k3", .key_len = 2,
                                        .has_value = true, .value = "",
                                        .value_len = 0, .revision = 9,
                                        .op = CAIRN_OP_PURGE};
    memset(nodes, 0, sizeof nodes);
    nodes[0] = (struct cairn_wire_node){
        .id = 1, .name = ws("n1"), .client = ws("127.0.0.1:7401"),
        .peer = ws("127.0.0.1:7501"), .n_tags = 2, .tags = tags,
        .cluster = ws("eu")};
    nodes[1] = (struct cairn_wire_node){.id = 2, .name = ws("n2"),
                                        .client = ws("10.0.0.2:7401"),
                                        .peer = ws("10.0.0.2:7501"),
                                        .cluster = ws("")};
    /* With an HTTP address and a meta group role (nodes[0] and [1] have
     * neither: the cluster.status of before they existed). */
    nodes[2] = (struct cairn_wire_node){
        .id = 3, .name = ws("n3"), .client = ws("10.0.0.3:7401"),
        .peer = ws("10.0.0.3:7501"), .n_tags = 1, .tags = tags + 1,
        .cluster = ws("eu"), .http = ws("10.0.0.3:8080"),
        .role = ws("standby")};
    memset(bstat, 0, sizeof bstat);
    bstat[0] = (struct cairn_wire_bucket_status){ws("orders"), 2, reps};
    bstat[1] = (struct cairn_wire_bucket_status){ws("empty"), 0, NULL};
    memset(bnames, 0, sizeof bnames);
    bnames[0].name = ws("a");
    bnames[1].name = ws("b-2");
    bnames[2].name = ws("c_3");
}

struct sample {
    uint32_t op;
    struct cairn_wire_response res;
};

#define MAX_SAMPLES 48

static struct cairn_wire_response *add(struct sample *s, size_t *n,
                                       uint32_t op)
{
    struct sample *x = &s[(*n)++];
    assert_true(*n <= MAX_SAMPLES);
    memset(x, 0, sizeof *x);
    x->op = op;
    x->res.id = 500 + *n;
    x->res.status = 200;
    return &x->res;
}

static size_t samples(struct sample *s)
{
    size_t n = 0;
    struct cairn_wire_response *r;
    init_data();
    r = add(s, &n, CAIRN_WIRE_HELLO);
    r->version = 1;
    r->node = 3;
    r->name = ws("node-3");
    r->cluster = ws("eu");
    r = add(s, &n, CAIRN_WIRE_BUCKET_CREATE);
    r->created = 42;
    add(s, &n, CAIRN_WIRE_BUCKET_DELETE);
    r = add(s, &n, CAIRN_WIRE_BUCKET_LIST);
    r->buckets = bnames;
    r->n_buckets = 3;
    add(s, &n, CAIRN_WIRE_BUCKET_LIST); /* no buckets */
    r = add(s, &n, CAIRN_WIRE_BUCKET_INFO);
    r->info = &info;
    for (int all = 0; all < 2; all++) {
        r = add(s, &n, CAIRN_WIRE_GET);
        r->entry = ents[all ? 0 : 1];
        r->at = 77;
        r->has = all ? CAIRN_WIRE_RES_AT : 0;
        r = add(s, &n, CAIRN_WIRE_EXISTS);
        r->exists = all != 0;
        r->rev = all ? 7 : 0;
        r->at = 0;
        r->has = all ? CAIRN_WIRE_RES_AT : 0;
        r = add(s, &n, CAIRN_WIRE_HISTORY);
        r->entries = all ? ents : NULL;
        r->n_entries = all ? 3 : 0;
        r->at = 5;
        r->has = all ? CAIRN_WIRE_RES_AT : 0;
        r = add(s, &n, CAIRN_WIRE_SCAN);
        r->entries = ents + (all ? 0 : 1);
        r->n_entries = all ? 3 : 1;
        r->more = all != 0;
        r->cursor = "\x01k3";
        r->cursor_len = 3;
        r->at = 6;
        r->has = all ? CAIRN_WIRE_RES_CURSOR | CAIRN_WIRE_RES_AT : 0;
        r = add(s, &n, CAIRN_WIRE_COUNT);
        r->count = all ? UINT64_MAX : 0;
        r->at = 9;
        r->has = all ? CAIRN_WIRE_RES_AT : 0;
    }
    for (uint32_t op = CAIRN_WIRE_PUT; op <= CAIRN_WIRE_PURGE; op++) {
        r = add(s, &n, op);
        r->rev = op * 100;
    }
    r = add(s, &n, CAIRN_WIRE_TXN);
    r->rev = 10;
    r->last_rev = 19;
    r = add(s, &n, CAIRN_WIRE_CLUSTER_STATUS);
    r->nodes = nodes;
    r->n_nodes = 3;
    r->buckets = bstat;
    r->n_buckets = 2;
    add(s, &n, CAIRN_WIRE_CLUSTER_STATUS); /* an empty cluster */
    r = add(s, &n, CAIRN_WIRE_NODE_JOIN);
    r->role = ws("voter");
    r = add(s, &n, CAIRN_WIRE_NODE_JOIN);
    r->role = ws("spare");
    add(s, &n, CAIRN_WIRE_NODE_REMOVE);
    add(s, &n, CAIRN_WIRE_BUCKET_LEADER);
    /* The frames of a watch: events (a value, a marker), the end of the
     * initial data, progress; and the answer to a cancel. */
    r = add(s, &n, CAIRN_WIRE_WATCH);
    r->event = ents[0];
    r->has = CAIRN_WIRE_RES_EVENT;
    r = add(s, &n, CAIRN_WIRE_WATCH);
    r->event = ents[1];
    r->has = CAIRN_WIRE_RES_EVENT;
    r = add(s, &n, CAIRN_WIRE_WATCH);
    r->synced = true;
    r->rev = 40;
    r->has = CAIRN_WIRE_RES_SYNCED | CAIRN_WIRE_RES_REV;
    r = add(s, &n, CAIRN_WIRE_WATCH);
    r->rev = UINT64_MAX;
    r->has = CAIRN_WIRE_RES_REV;
    add(s, &n, CAIRN_WIRE_WATCH_CANCEL);
    /* Error responses, with and without their extras. */
    r = add(s, &n, CAIRN_WIRE_PUT);
    r->status = 409;
    r->err = CAIRN_ECONFLICT;
    r->code = ws("conflict");
    r->error = ws("put k: precondition failed");
    r->rev = 12;
    r->has = CAIRN_WIRE_RES_REV;
    r = add(s, &n, CAIRN_WIRE_TXN);
    r->status = 409;
    r->err = CAIRN_ECONFLICT;
    r->code = ws("conflict");
    r->error = ws("txn: compare 2 failed");
    r->failed = 2;
    r->has = CAIRN_WIRE_RES_REV | CAIRN_WIRE_RES_FAILED;
    r = add(s, &n, CAIRN_WIRE_GET);
    r->status = 421;
    r->err = CAIRN_ENOTLEADER;
    r->code = ws("not_leader");
    r->error = ws("");
    r->leader = ws("10.0.0.1:7401");
    r->has = CAIRN_WIRE_RES_LEADER;
    r = add(s, &n, CAIRN_WIRE_HELLO);
    r->status = 400;
    r->err = CAIRN_EVERSION;
    r->code = ws("version");
    r->error = ws("version 2 is not spoken");
    r->n_versions = 2;
    r->versions[0] = 1;
    r->versions[1] = 3;
    r->has = CAIRN_WIRE_RES_VERSIONS;
    r = add(s, &n, CAIRN_WIRE_WATCH);
    r->status = 410;
    r->err = CAIRN_ECOMPACTED;
    r->code = ws("compacted");
    r->error = ws("revision 17 is no longer kept; oldest is 40");
    r = add(s, &n, CAIRN_WIRE_HELLO);
    r->id = 0;
    r->status = 400;
    r->err = CAIRN_EPROTO;
    r->code = ws("protocol");
    r->error = ws("request has no usable id");
    return n;
}

/* ---- helpers ----------------------------------------------------------- */

static const uint8_t *enc(struct cairn_wire_buf *b, uint32_t op,
                          const struct cairn_wire_response *r, size_t *len)
{
    char err[CAIRN_ERRMSG_SIZE];
    cairn_wire_buf_reset(b);
    if (cairn_wire_response_encode(b, op, r, err) != 0) {
        print_error("encode response to %u: %s\n", op, err);
        fail();
    }
    return one_body(b, len);
}

static int dec(const void *p, size_t n, struct cairn_wire_response *res,
               char *err)
{
    int rc;
    err[0] = '\0';
    rc = cairn_wire_response_decode(p, n, res, err);
    if (rc != 0) {
        assert_true(err[0] != '\0');
    }
    return rc;
}

static void expect_proto(const void *body, size_t len, const char *part)
{
    struct cairn_wire_response res;
    char err[CAIRN_ERRMSG_SIZE];
    int rc = dec(body, len, &res, err);
    if (rc != CAIRN_EPROTO) {
        print_error("expected EPROTO, got %d (%s)\n", rc, err);
    }
    assert_int_equal(rc, CAIRN_EPROTO);
    if (part != NULL) {
        assert_msg_has(err, part);
    }
    cairn_wire_response_release(&res);
}

/* ---- round trips ------------------------------------------------------- */

static void test_roundtrip_every_op(void **state)
{
    struct sample s[MAX_SAMPLES];
    struct cairn_wire_buf b1, b2;
    struct cairn_wire_response d, d2;
    char err[CAIRN_ERRMSG_SIZE];
    size_t n = samples(s);
    bool seen[CAIRN_WIRE__OP_COUNT] = {false};
    (void)state;
    cairn_wire_buf_init(&b1);
    cairn_wire_buf_init(&b2);
    for (size_t i = 0; i < n; i++) {
        size_t l1, l2;
        const uint8_t *e1 = enc(&b1, s[i].op, &s[i].res, &l1);
        const uint8_t *e2;
        if (dec(e1, l1, &d, err) != 0 ||
            cairn_wire_response_check(&d, s[i].op, err) != 0) {
            print_error("sample %zu (%s): %s\n", i,
                        cairn_wire_op_name(s[i].op), err);
            fail();
        }
        assert_response_equal(s[i].op, &s[i].res, &d);
        e2 = enc(&b2, s[i].op, &d, &l2);
        assert_int_equal(l1, l2);
        assert_memory_equal(e1, e2, l1);
        assert_int_equal(dec(e2, l2, &d2, err), 0);
        assert_response_equal(s[i].op, &d, &d2);
        seen[s[i].op] = true;
        cairn_wire_response_release(&d2);
        cairn_wire_response_release(&d);
        assert_null(d.entries);
    }
    for (uint32_t op = 1; op < CAIRN_WIRE__OP_COUNT; op++) {
        assert_true(seen[op]);
    }
    cairn_wire_buf_close(&b1);
    cairn_wire_buf_close(&b2);
}

/* Each reply helper writes the bytes the struct encoder writes. */
static void test_reply_helpers(void **state)
{
    struct sample s[MAX_SAMPLES];
    struct cairn_wire_buf b1, b2;
    size_t n = samples(s);
    char err[CAIRN_ERRMSG_SIZE];
    const char *names[3] = {"a", "b-2", "c_3"};
    (void)state;
    cairn_wire_buf_init(&b1);
    cairn_wire_buf_init(&b2);
    for (size_t i = 0; i < n; i++) {
        const struct cairn_wire_response *r = &s[i].res;
        const uint64_t *at = (r->has & CAIRN_WIRE_RES_AT) ? &r->at : NULL;
        int rc;
        size_t l1, l2;
        const uint8_t *e1;
        if (r->status != 200) {
            continue;
        }
        cairn_wire_buf_reset(&b2);
        switch (s[i].op) {
            case CAIRN_WIRE_HELLO:
                rc = cairn_wire_reply_hello(&b2, r->id, r->node, "node-3",
                                            "eu", err);
                break;
            case CAIRN_WIRE_BUCKET_CREATE:
                rc = cairn_wire_reply_bucket_create(&b2, r->id, r->created,
                                                    err);
                break;
            case CAIRN_WIRE_BUCKET_DELETE:
                rc = cairn_wire_reply_bucket_delete(&b2, r->id, err);
                break;
            case CAIRN_WIRE_BUCKET_LIST:
                rc = cairn_wire_reply_bucket_list(&b2, r->id, names,
                                                  r->n_buckets, err);
                break;
            case CAIRN_WIRE_BUCKET_INFO:
                rc = cairn_wire_reply_bucket_info(&b2, r->id, r->info, err);
                break;
            case CAIRN_WIRE_GET:
                rc = cairn_wire_reply_get(&b2, r->id, &r->entry, at, err);
                break;
            case CAIRN_WIRE_EXISTS:
                rc = cairn_wire_reply_exists(&b2, r->id, r->exists, r->rev,
                                             at, err);
                break;
            case CAIRN_WIRE_HISTORY:
                rc = cairn_wire_reply_history(&b2, r->id, r->entries,
                                              r->n_entries, at, err);
                break;
            case CAIRN_WIRE_SCAN:
                rc = cairn_wire_reply_scan(
                    &b2, r->id, r->entries, r->n_entries, r->more,
                    (r->has & CAIRN_WIRE_RES_CURSOR) ? r->cursor : NULL,
                    r->cursor_len, at, err);
                break;
            case CAIRN_WIRE_COUNT:
                rc = cairn_wire_reply_count(&b2, r->id, r->count, at, err);
                break;
            case CAIRN_WIRE_TXN:
                rc = cairn_wire_reply_txn(&b2, r->id, r->rev, r->last_rev,
                                          err);
                break;
            case CAIRN_WIRE_CLUSTER_STATUS:
                rc = cairn_wire_reply_cluster_status(&b2, r->id, r->nodes,
                                                     r->n_nodes, r->buckets,
                                                     r->n_buckets, err);
                break;
            case CAIRN_WIRE_NODE_JOIN:
                rc = cairn_wire_reply_node_join(&b2, r->id, r->role.ptr, err);
                break;
            case CAIRN_WIRE_NODE_REMOVE:
                rc = cairn_wire_reply_node_remove(&b2, r->id, err);
                break;
            case CAIRN_WIRE_BUCKET_LEADER:
                rc = cairn_wire_reply_bucket_leader(&b2, r->id, err);
                break;
            case CAIRN_WIRE_WATCH:
                rc = (r->has & CAIRN_WIRE_RES_EVENT)
                         ? cairn_wire_reply_watch_event(&b2, r->id,
                                                        &r->event, err)
                     : r->synced
                         ? cairn_wire_reply_watch_synced(&b2, r->id, r->rev,
                                                         err)
                         : cairn_wire_reply_watch_progress(&b2, r->id,
                                                           r->rev, err);
                break;
            case CAIRN_WIRE_WATCH_CANCEL:
                rc = cairn_wire_reply_watch_cancel(&b2, r->id, err);
                break;
            default:
                rc = cairn_wire_reply_write(&b2, r->id, r->rev, err);
                break;
        }
        assert_int_equal(rc, 0);
        e1 = enc(&b1, s[i].op, r, &l1);
        (void)one_body(&b2, &l2);
        assert_int_equal(l1, l2);
        assert_memory_equal(e1, b2.data + 4, l1);
    }
    cairn_wire_buf_close(&b1);
    cairn_wire_buf_close(&b2);
}

static void test_entries_writer(void **state)
{
    struct cairn_wire_buf b1, b2;
    struct cairn_wire_entries_writer ew;
    struct cairn_wire_response d1, d2;
    struct cairn_wire_entry bad;
    char err[CAIRN_ERRMSG_SIZE];
    uint64_t at = 31;
    (void)state;
    init_data();
    cairn_wire_buf_init(&b1);
    cairn_wire_buf_init(&b2);
    for (uint32_t n = 0; n <= 3; n++) {
        for (int variant = 0; variant < 3; variant++) {
            uint32_t op = variant == 0 ? CAIRN_WIRE_HISTORY : CAIRN_WIRE_SCAN;
            const void *cursor = variant == 2 ? "\x01z" : NULL;
            const uint64_t *pat = variant != 1 ? &at : NULL;
            size_t l1, l2;
            const uint8_t *e1, *e2;
            cairn_wire_buf_reset(&b1);
            cairn_wire_buf_reset(&b2);
            if (op == CAIRN_WIRE_HISTORY) {
                assert_int_equal(cairn_wire_reply_history(&b1, 4, ents, n,
                                                          pat, err),
                                 0);
            } else {
                assert_int_equal(cairn_wire_reply_scan(&b1, 4, ents, n,
                                                       n == 3, cursor, 2,
                                                       pat, err),
                                 0);
            }
            /* Something before, to check the offsets. */
            assert_int_equal(cairn_wire_reply_write(&b2, 1, 1, err), 0);
            cairn_wire_entries_begin(&ew, &b2, 4);
            for (uint32_t i = 0; i < n; i++) {
                cairn_wire_entries_add(&ew, &ents[i]);
            }
            assert_int_equal(cairn_wire_entries_end(&ew, op, n == 3, cursor,
                                                    2, pat, err),
                             0);
            e1 = one_body(&b1, &l1);
            {
                struct cairn_wire_reader r;
                const void *body;
                cairn_wire_reader_init(&r);
                assert_int_equal(cairn_wire_reader_feed(&r, b2.data, b2.len),
                                 0);
                assert_int_equal(cairn_wire_reader_next(&r, &body, &l2), 0);
                assert_int_equal(cairn_wire_reader_next(&r, &body, &l2), 0);
                assert_non_null(body);
                e2 = body;
                assert_int_equal(dec(e1, l1, &d1, err), 0);
                assert_int_equal(dec(e2, l2, &d2, err), 0);
                assert_int_equal(cairn_wire_response_check(&d2, op, err), 0);
                assert_response_equal(op, &d1, &d2);
                assert_int_equal(d2.n_entries, n);
                cairn_wire_response_release(&d1);
                cairn_wire_response_release(&d2);
                assert_int_equal(cairn_wire_reader_next(&r, &body, &l2), 0);
                assert_null(body);
                cairn_wire_reader_close(&r);
            }
        }
    }
    /* An entry with a bad op, or an op that has no entries: refused, and
     * the buffer is as it was. */
    cairn_wire_buf_reset(&b2);
    assert_int_equal(cairn_wire_reply_write(&b2, 1, 1, err), 0);
    {
        size_t before = b2.len;
        bad = ents[0];
        bad.op = 0;
        cairn_wire_entries_begin(&ew, &b2, 4);
        cairn_wire_entries_add(&ew, &ents[0]);
        cairn_wire_entries_add(&ew, &bad);
        assert_int_equal(cairn_wire_entries_end(&ew, CAIRN_WIRE_SCAN, false,
                                                NULL, 0, NULL, err),
                         CAIRN_EINVAL);
        assert_int_equal(b2.len, before);
        cairn_wire_entries_begin(&ew, &b2, 4);
        assert_int_equal(cairn_wire_entries_end(&ew, CAIRN_WIRE_GET, false,
                                                NULL, 0, NULL, err),
                         CAIRN_EINVAL);
        assert_int_equal(b2.len, before);
        assert_int_equal(cairn_wire_reply_get(&b2, 1, &bad, NULL, err),
                         CAIRN_EINVAL);
        assert_int_equal(cairn_wire_reply_history(&b2, 1, &bad, 1, NULL, err),
                         CAIRN_EINVAL);
        assert_int_equal(b2.len, before);
    }
    cairn_wire_buf_close(&b1);
    cairn_wire_buf_close(&b2);
}

static void test_error_every_code(void **state)
{
    struct cairn_wire_buf b;
    struct cairn_wire_response d;
    char err[CAIRN_ERRMSG_SIZE];
    struct cairn_wire_error_extra x = {.rev = 77, .has_failed = true,
                                       .failed = 3, .leader = "1.2.3.4:7401"};
    (void)state;
    cairn_wire_buf_init(&b);
    for (int code = 1; code < CAIRN__ERR_COUNT; code++) {
        for (int with_x = 0; with_x < 2; with_x++) {
            size_t len;
            const uint8_t *body;
            cairn_wire_buf_reset(&b);
            assert_int_equal(cairn_wire_reply_error(&b, 9, code,
                                                    with_x ? "ctx: msg" : NULL,
                                                    with_x ? &x : NULL, err),
                             0);
            body = one_body(&b, &len);
            assert_int_equal(dec(body, len, &d, err), 0);
            assert_int_equal(d.id, 9);
            assert_int_equal(d.status, cairn_http_status(code));
            assert_int_equal(d.err, code);
            assert_true(d.has & CAIRN_WIRE_RES_CODE);
            assert_true(bytes_eq(d.code.ptr, d.code.len, S(cairn_errname(code))));
            if (with_x) {
                assert_true(bytes_eq(d.error.ptr, d.error.len, S("ctx: msg")));
            } else {
                assert_true(bytes_eq(d.error.ptr, d.error.len,
                                     S(cairn_strerror(code))));
            }
            /* Extras only where they belong. */
            assert_int_equal(!!(d.has & CAIRN_WIRE_RES_REV),
                             code == CAIRN_ECONFLICT);
            assert_int_equal(!!(d.has & CAIRN_WIRE_RES_FAILED),
                             code == CAIRN_ECONFLICT && with_x);
            assert_int_equal(!!(d.has & CAIRN_WIRE_RES_LEADER),
                             code == CAIRN_ENOTLEADER && with_x);
            assert_int_equal(!!(d.has & CAIRN_WIRE_RES_VERSIONS),
                             code == CAIRN_EVERSION);
            if (code == CAIRN_ECONFLICT) {
                assert_int_equal(d.rev, with_x ? 77 : 0);
                assert_int_equal(d.failed, with_x ? 3 : 0);
            }
            if (code == CAIRN_ENOTLEADER && with_x) {
                assert_true(bytes_eq(d.leader.ptr, d.leader.len,
                                     S("1.2.3.4:7401")));
            }
            if (code == CAIRN_EVERSION) {
                assert_int_equal(d.n_versions, 1);
                assert_int_equal(d.versions[0], CAIRN_WIRE_VERSION);
            }
            /* An error passes the check of any op. */
            for (uint32_t op = 1; op < CAIRN_WIRE__OP_COUNT; op++) {
                assert_int_equal(cairn_wire_response_check(&d, op, err), 0);
            }
            cairn_wire_response_release(&d);
        }
    }
    /* The documented statuses of docs/protocol.md's table. */
    assert_int_equal(cairn_http_status(CAIRN_ECONFLICT), 409);
    assert_int_equal(cairn_http_status(CAIRN_ENOTLEADER), 421);
    assert_int_equal(cairn_http_status(CAIRN_EBUSY), 429);
    assert_int_equal(cairn_http_status(CAIRN_ETOOLARGE), 413);
    assert_int_equal(cairn_wire_reply_error(&b, 1, CAIRN_OK, "x", NULL, err),
                     CAIRN_EINVAL);
    cairn_wire_buf_close(&b);
}

/* ---- the client's checks ------------------------------------------------ */

static void test_check_required_fields(void **state)
{
    struct mp m;
    struct cairn_wire_response d;
    char err[CAIRN_ERRMSG_SIZE];
    static const char *const first_missing[CAIRN_WIRE__OP_COUNT] = {
        [CAIRN_WIRE_HELLO] = "'version'",
        [CAIRN_WIRE_BUCKET_CREATE] = "'created'",
        [CAIRN_WIRE_BUCKET_LIST] = "'buckets'",
        [CAIRN_WIRE_BUCKET_INFO] = "'info'",
        [CAIRN_WIRE_GET] = "'entry'",
        [CAIRN_WIRE_EXISTS] = "'exists'",
        [CAIRN_WIRE_PUT] = "'rev'",
        [CAIRN_WIRE_CREATE] = "'rev'",
        [CAIRN_WIRE_UPDATE] = "'rev'",
        [CAIRN_WIRE_CAS] = "'rev'",
        [CAIRN_WIRE_DELETE] = "'rev'",
        [CAIRN_WIRE_PURGE] = "'rev'",
        [CAIRN_WIRE_HISTORY] = "'entries'",
        [CAIRN_WIRE_SCAN] = "'entries'",
        [CAIRN_WIRE_COUNT] = "'count'",
        [CAIRN_WIRE_TXN] = "'rev'",
        [CAIRN_WIRE_CLUSTER_STATUS] = "'nodes'",
        [CAIRN_WIRE_NODE_JOIN] = "'role'",
        [CAIRN_WIRE_WATCH] = "'event'",
    };
    (void)state;
    mp_init(&m);
    msgpack_pack_map(&m.pk, 2);
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, 1);
    mp_str(&m, "status");
    msgpack_pack_int(&m.pk, 200);
    assert_int_equal(dec(m.sb.data, m.sb.size, &d, err), 0);
    for (uint32_t op = 1; op < CAIRN_WIRE__OP_COUNT; op++) {
        int rc = cairn_wire_response_check(&d, op, err);
        if (first_missing[op] == NULL) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, CAIRN_EPROTO);
            assert_msg_has(err, first_missing[op]);
        }
    }
    assert_int_equal(cairn_wire_response_check(&d, 0, err), CAIRN_EINVAL);
    assert_int_equal(cairn_wire_response_check(&d, 99, err), CAIRN_EINVAL);
    cairn_wire_response_release(&d);
    mp_free(&m);
}

/* A watch frame carries an event or a revision; "synced" comes true and
 * with a revision. A reply helper refuses an event with an unknown op. */
static void test_check_watch_frames(void **state)
{
    struct cairn_wire_buf b;
    struct cairn_wire_response r, d;
    char err[CAIRN_ERRMSG_SIZE];
    size_t len;
    const uint8_t *body;
    struct cairn_wire_entry bad;
    (void)state;
    init_data();
    cairn_wire_buf_init(&b);
    memset(&r, 0, sizeof r);
    r.id = 3;
    r.status = 200;
    r.synced = false;
    r.rev = 5;
    r.has = CAIRN_WIRE_RES_SYNCED | CAIRN_WIRE_RES_REV;
    body = enc(&b, CAIRN_WIRE_WATCH, &r, &len);
    assert_int_equal(dec(body, len, &d, err), 0);
    assert_int_equal(cairn_wire_response_check(&d, CAIRN_WIRE_WATCH, err),
                     CAIRN_EPROTO);
    assert_msg_has(err, "'synced'");
    cairn_wire_response_release(&d);
    r.synced = true;
    r.has = CAIRN_WIRE_RES_SYNCED;
    body = enc(&b, CAIRN_WIRE_WATCH, &r, &len);
    assert_int_equal(dec(body, len, &d, err), 0);
    assert_int_equal(cairn_wire_response_check(&d, CAIRN_WIRE_WATCH, err),
                     CAIRN_EPROTO);
    cairn_wire_response_release(&d);
    /* Error frames pass the check: they end the watch. */
    cairn_wire_buf_reset(&b);
    assert_int_equal(cairn_wire_reply_error(&b, 3, CAIRN_EBUSY, "too slow",
                                            NULL, err),
                     0);
    body = one_body(&b, &len);
    assert_int_equal(dec(body, len, &d, err), 0);
    assert_int_equal(d.status, 429);
    assert_int_equal(cairn_wire_response_check(&d, CAIRN_WIRE_WATCH, err), 0);
    cairn_wire_response_release(&d);
    bad = ents[0];
    bad.op = 9;
    cairn_wire_buf_reset(&b);
    assert_int_equal(cairn_wire_reply_watch_event(&b, 3, &bad, err),
                     CAIRN_EINVAL);
    assert_int_equal(b.len, 0);
    assert_int_equal(cairn_wire_reply_watch_event(&b, 3, NULL, err),
                     CAIRN_EINVAL);
    cairn_wire_buf_close(&b);
}

static void test_check_buckets_form(void **state)
{
    struct cairn_wire_buf b;
    struct cairn_wire_response r, d;
    char err[CAIRN_ERRMSG_SIZE];
    size_t len;
    const uint8_t *body;
    (void)state;
    init_data();
    cairn_wire_buf_init(&b);
    memset(&r, 0, sizeof r);
    r.id = 1;
    r.status = 200;
    r.buckets = bstat;
    r.n_buckets = 2;
    r.nodes = nodes;
    r.n_nodes = 3;
    /* Maps where bucket.list wants names. */
    body = enc(&b, CAIRN_WIRE_CLUSTER_STATUS, &r, &len);
    assert_int_equal(dec(body, len, &d, err), 0);
    assert_false(d.buckets_named);
    assert_int_equal(cairn_wire_response_check(&d, CAIRN_WIRE_BUCKET_LIST,
                                               err),
                     CAIRN_EPROTO);
    assert_msg_has(err, "'buckets'");
    cairn_wire_response_release(&d);
    /* Names where cluster.status wants maps. */
    body = enc(&b, CAIRN_WIRE_BUCKET_LIST, &r, &len);
    assert_int_equal(dec(body, len, &d, err), 0);
    assert_true(d.buckets_named);
    assert_int_equal(cairn_wire_response_check(&d, CAIRN_WIRE_BUCKET_LIST,
                                               err),
                     0);
    assert_int_equal(cairn_wire_response_check(&d, CAIRN_WIRE_CLUSTER_STATUS,
                                               err),
                     CAIRN_EPROTO);
    cairn_wire_response_release(&d);
    cairn_wire_buf_close(&b);
}

/* ---- malformed responses ------------------------------------------------ */

static void test_truncated_at_every_length(void **state)
{
    struct sample s[MAX_SAMPLES];
    struct cairn_wire_buf b;
    size_t n = samples(s);
    (void)state;
    cairn_wire_buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const uint8_t *body = enc(&b, s[i].op, &s[i].res, &len);
        for (size_t cut = 0; cut < len; cut++) {
            uint8_t *p = malloc(cut + 1);
            assert_non_null(p);
            memcpy(p, body, cut);
            expect_proto(p, cut, NULL);
            free(p);
        }
    }
    cairn_wire_buf_close(&b);
}

static void test_unknown_fields_skipped(void **state)
{
    struct sample s[MAX_SAMPLES];
    struct cairn_wire_buf b;
    struct cairn_wire_response d;
    struct mp out;
    char err[CAIRN_ERRMSG_SIZE];
    size_t n = samples(s);
    (void)state;
    cairn_wire_buf_init(&b);
    mp_init(&out);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const uint8_t *body = enc(&b, s[i].op, &s[i].res, &len);
        assert_false(map_edit(body, len, "future", "\x92\x01\xa1x", 4, &out));
        assert_int_equal(dec(out.sb.data, out.sb.size, &d, err), 0);
        assert_int_equal(cairn_wire_response_check(&d, s[i].op, err), 0);
        assert_response_equal(s[i].op, &s[i].res, &d);
        cairn_wire_response_release(&d);
    }
    mp_free(&out);
    cairn_wire_buf_close(&b);
}

static void test_wrong_types(void **state)
{
    struct sample s[MAX_SAMPLES];
    struct cairn_wire_buf b;
    struct mp out;
    size_t n = samples(s);
    char names[32][32];
    (void)state;
    cairn_wire_buf_init(&b);
    mp_init(&out);
    for (size_t i = 0; i < n; i++) {
        size_t len, nf;
        const uint8_t *body = enc(&b, s[i].op, &s[i].res, &len);
        nf = map_names(body, len, names, 32);
        for (size_t f = 0; f < nf; f++) {
            char quoted[40];
            snprintf(quoted, sizeof quoted, "'%s'", names[f]);
            /* No response field takes a float or nil. */
            assert_true(map_edit(body, len, names[f], "\xca\0\0\0\0", 5,
                                 &out));
            expect_proto(out.sb.data, out.sb.size, quoted);
            assert_true(map_edit(body, len, names[f], "\xc0", 1, &out));
            expect_proto(out.sb.data, out.sb.size, quoted);
        }
    }
    mp_free(&out);
    cairn_wire_buf_close(&b);
}

/* Nil in place of any value at any depth: no response field takes nil,
 * so every variant is refused. */
static void test_nil_anywhere(void **state)
{
    struct sample s[MAX_SAMPLES];
    struct cairn_wire_buf b;
    struct mp out;
    size_t n = samples(s);
    char top[32];
    size_t variants = 0;
    (void)state;
    cairn_wire_buf_init(&b);
    mp_init(&out);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const uint8_t *body = enc(&b, s[i].op, &s[i].res, &len);
        for (int t = 0; nil_at(body, len, t, &out, top); t++) {
            expect_proto(out.sb.data, out.sb.size, "response");
            variants++;
        }
    }
    assert_true(variants > 200);
    mp_free(&out);
    cairn_wire_buf_close(&b);
}

/* Unknown fields in nested maps (outside the config map, which keeps the
 * storage engine's strict reading) are skipped like top-level ones. */
static void test_nested_unknown_fields_skipped(void **state)
{
    struct mp m;
    struct cairn_wire_response d;
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    mp_init(&m);
    msgpack_pack_map(&m.pk, 4);
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, 1);
    mp_str(&m, "status");
    msgpack_pack_int(&m.pk, 200);
    mp_str(&m, "nodes");
    msgpack_pack_array(&m.pk, 1);
    msgpack_pack_map(&m.pk, 7);
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, 4);
    mp_str(&m, "zone");
    mp_str(&m, "a"); /* unknown */
    mp_str(&m, "name");
    mp_str(&m, "n4");
    mp_str(&m, "client");
    mp_str(&m, "c");
    mp_str(&m, "peer");
    mp_str(&m, "p");
    mp_str(&m, "tags");
    msgpack_pack_array(&m.pk, 0);
    mp_str(&m, "cluster");
    mp_str(&m, "");
    mp_str(&m, "buckets");
    msgpack_pack_array(&m.pk, 1);
    msgpack_pack_map(&m.pk, 3);
    mp_str(&m, "name");
    mp_str(&m, "b");
    mp_str(&m, "epoch");
    msgpack_pack_uint64(&m.pk, 1); /* unknown */
    mp_str(&m, "replicas");
    msgpack_pack_array(&m.pk, 1);
    msgpack_pack_map(&m.pk, 4);
    mp_str(&m, "node");
    msgpack_pack_uint64(&m.pk, 4);
    mp_str(&m, "leader");
    msgpack_pack_true(&m.pk);
    mp_str(&m, "rack");
    msgpack_pack_uint64(&m.pk, 0); /* unknown */
    mp_str(&m, "applied");
    msgpack_pack_uint64(&m.pk, 8);
    assert_int_equal(dec(m.sb.data, m.sb.size, &d, err), 0);
    assert_int_equal(cairn_wire_response_check(&d, CAIRN_WIRE_CLUSTER_STATUS,
                                               err),
                     0);
    assert_int_equal(d.nodes[0].id, 4);
    assert_int_equal(d.buckets[0].replicas[0].applied, 8);
    assert_true(d.buckets[0].replicas[0].leader);
    cairn_wire_response_release(&d);
    mp_free(&m);
}

static void test_malformed_by_hand(void **state)
{
    struct mp m;
    (void)state;
    mp_init(&m);
    /* No id; no status; a status out of range. */
    msgpack_pack_map(&m.pk, 1);
    mp_str(&m, "status");
    msgpack_pack_int(&m.pk, 200);
    expect_proto(m.sb.data, m.sb.size, "'id'");
    mp_clear(&m);
    msgpack_pack_map(&m.pk, 1);
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, 0);
    expect_proto(m.sb.data, m.sb.size, "'status'");
    mp_clear(&m);
    msgpack_pack_map(&m.pk, 2);
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, 0);
    mp_str(&m, "status");
    msgpack_pack_int(&m.pk, 99);
    expect_proto(m.sb.data, m.sb.size, "'status'");
    /* An error without its code. */
    mp_clear(&m);
    msgpack_pack_map(&m.pk, 4);
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, 0);
    mp_str(&m, "status");
    msgpack_pack_int(&m.pk, 400);
    mp_str(&m, "err");
    msgpack_pack_int(&m.pk, 1);
    mp_str(&m, "error");
    mp_str(&m, "x");
    expect_proto(m.sb.data, m.sb.size, "'code'");
    /* A field twice. */
    mp_clear(&m);
    msgpack_pack_map(&m.pk, 3);
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, 0);
    mp_str(&m, "status");
    msgpack_pack_int(&m.pk, 200);
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, 0);
    expect_proto(m.sb.data, m.sb.size, "appears twice");
    /* An entry without its revision; buckets mixing names and maps; too
     * many versions; an array where a map belongs. */
    mp_clear(&m);
    msgpack_pack_map(&m.pk, 3);
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, 1);
    mp_str(&m, "status");
    msgpack_pack_int(&m.pk, 200);
    mp_str(&m, "entry");
    msgpack_pack_map(&m.pk, 5);
    mp_str(&m, "key");
    mp_bin(&m, "k", 1);
    mp_str(&m, "create_rev");
    msgpack_pack_uint64(&m.pk, 1);
    mp_str(&m, "updated");
    msgpack_pack_uint64(&m.pk, 1);
    mp_str(&m, "expires");
    msgpack_pack_uint64(&m.pk, 1);
    mp_str(&m, "op");
    mp_str(&m, "put");
    expect_proto(m.sb.data, m.sb.size, "'rev'");
    mp_clear(&m);
    msgpack_pack_map(&m.pk, 3);
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, 1);
    mp_str(&m, "status");
    msgpack_pack_int(&m.pk, 200);
    mp_str(&m, "buckets");
    msgpack_pack_array(&m.pk, 2);
    mp_str(&m, "a");
    msgpack_pack_map(&m.pk, 0);
    expect_proto(m.sb.data, m.sb.size, "mixes");
    mp_clear(&m);
    msgpack_pack_map(&m.pk, 3);
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, 1);
    mp_str(&m, "status");
    msgpack_pack_int(&m.pk, 200);
    mp_str(&m, "versions");
    msgpack_pack_array(&m.pk, CAIRN_WIRE_VERSIONS_MAX + 1);
    for (int i = 0; i <= CAIRN_WIRE_VERSIONS_MAX; i++) {
        msgpack_pack_uint64(&m.pk, 1);
    }
    expect_proto(m.sb.data, m.sb.size, "'versions'");
    mp_clear(&m);
    msgpack_pack_map(&m.pk, 3);
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, 1);
    mp_str(&m, "status");
    msgpack_pack_int(&m.pk, 200);
    mp_str(&m, "info");
    msgpack_pack_array(&m.pk, 0);
    expect_proto(m.sb.data, m.sb.size, "'info'");
    /* Not a map at all. */
    expect_proto("\x91\x01", 2, "map");
    expect_proto("", 0, "msgpack");
    mp_free(&m);
}

/* ---- node.join, node.remove and cluster.status nodes -------------------- */

/* {id: 1, status: 200, nodes: [<node>]} with node 7's six fields plus the
 * @n_extra pairs (key, msgpack value) of @extra. */
static void status_with(struct mp *m, const char *const *extra_keys,
                        const char *const *extra_vals,
                        const size_t *extra_lens, uint32_t n_extra)
{
    mp_clear(m);
    msgpack_pack_map(&m->pk, 4);
    mp_str(m, "id");
    msgpack_pack_uint64(&m->pk, 1);
    mp_str(m, "status");
    msgpack_pack_int(&m->pk, 200);
    mp_str(m, "buckets");
    msgpack_pack_array(&m->pk, 0);
    mp_str(m, "nodes");
    msgpack_pack_array(&m->pk, 1);
    msgpack_pack_map(&m->pk, 6 + n_extra);
    mp_str(m, "id");
    msgpack_pack_uint64(&m->pk, 7);
    mp_str(m, "name");
    mp_str(m, "n7");
    mp_str(m, "client");
    mp_str(m, "10.0.0.7:7401");
    mp_str(m, "peer");
    mp_str(m, "10.0.0.7:7501");
    mp_str(m, "tags");
    msgpack_pack_array(&m->pk, 0);
    mp_str(m, "cluster");
    mp_str(m, "eu");
    for (uint32_t i = 0; i < n_extra; i++) {
        mp_str(m, extra_keys[i]);
        msgpack_sbuffer_write(&m->sb, extra_vals[i], extra_lens[i]);
    }
}

static void test_cluster_status_http_and_role(void **state)
{
    static const char *const keys[] = {"http", "role"};
    struct cairn_wire_buf b;
    struct cairn_wire_response r, d;
    struct cairn_wire_node nd[2];
    struct mp m, old;
    char err[CAIRN_ERRMSG_SIZE];
    const uint8_t *body;
    size_t len;
    (void)state;
    init_data();
    cairn_wire_buf_init(&b);
    mp_init(&m);
    mp_init(&old);
    /* Without http and role (an older server): accepted, left empty. */
    status_with(&m, NULL, NULL, NULL, 0);
    assert_int_equal(dec(m.sb.data, m.sb.size, &d, err), 0);
    assert_int_equal(cairn_wire_response_check(&d, CAIRN_WIRE_CLUSTER_STATUS,
                                               err),
                     0);
    assert_int_equal(d.nodes[0].id, 7);
    assert_int_equal(d.nodes[0].http.len, 0);
    assert_int_equal(d.nodes[0].role.len, 0);
    cairn_wire_response_release(&d);
    /* With them. */
    {
        const char *vals[] = {"\xa4h:80", "\xa5voter"};
        size_t lens[] = {5, 6};
        status_with(&m, keys, vals, lens, 2);
        assert_int_equal(dec(m.sb.data, m.sb.size, &d, err), 0);
        assert_true(bytes_eq(d.nodes[0].http.ptr, d.nodes[0].http.len,
                             S("h:80")));
        assert_true(bytes_eq(d.nodes[0].role.ptr, d.nodes[0].role.len,
                             S("voter")));
        cairn_wire_response_release(&d);
    }
    /* Checked for type when present; never repeated. */
    for (int k = 0; k < 2; k++) {
        static const struct {
            const char *val;
            size_t len;
        } wrong[] = {{"\x05", 1}, {"\xc4\x01x", 3}, {"\xc0", 1},
                     {"\x90", 1}, {"\x80", 1}};
        char part[48];
        snprintf(part, sizeof part, "field '%s'", keys[k]);
        for (size_t w = 0; w < sizeof wrong / sizeof wrong[0]; w++) {
            status_with(&m, &keys[k], &wrong[w].val, &wrong[w].len, 1);
            expect_proto(m.sb.data, m.sb.size, part);
        }
        {
            const char *twice_keys[] = {keys[k], keys[k]};
            const char *vals[] = {"\xa1x", "\xa1x"};
            size_t lens[] = {2, 2};
            status_with(&m, twice_keys, vals, lens, 2);
            expect_proto(m.sb.data, m.sb.size, part);
        }
    }
    /* The encoder writes them only when non-empty, so a node without them
     * has exactly the bytes of the cluster.status of before. */
    memset(nd, 0, sizeof nd);
    nd[0] = (struct cairn_wire_node){.id = 7, .name = ws("n7"),
                                     .client = ws("10.0.0.7:7401"),
                                     .peer = ws("10.0.0.7:7501"),
                                     .cluster = ws("eu"), .http = ws(""),
                                     .role = ws("")};
    memset(&r, 0, sizeof r);
    r.id = 1;
    r.status = 200;
    r.nodes = nd;
    r.n_nodes = 1;
    body = enc(&b, CAIRN_WIRE_CLUSTER_STATUS, &r, &len);
    status_with(&old, NULL, NULL, NULL, 0);
    /* Same fields in the encoder's order: id, status, nodes, buckets. */
    assert_true(map_edit(old.sb.data, old.sb.size, "buckets", NULL, 0, &m));
    assert_false(map_edit(m.sb.data, m.sb.size, "buckets", "\x90", 1, &old));
    assert_int_equal(len, old.sb.size);
    assert_memory_equal(body, old.sb.data, len);
    /* And with both set, both are there after a round trip. */
    nd[0].http = ws("10.0.0.7:8080");
    nd[0].role = ws("voter");
    body = enc(&b, CAIRN_WIRE_CLUSTER_STATUS, &r, &len);
    assert_int_equal(dec(body, len, &d, err), 0);
    assert_node_equal(&nd[0], &d.nodes[0], true);
    cairn_wire_response_release(&d);
    /* A node counting tags it does not have cannot be encoded. */
    nd[0].n_tags = 1;
    assert_int_equal(cairn_wire_reply_cluster_status(&b, 1, nd, 1, NULL, 0,
                                                     err),
                     CAIRN_EINVAL);
    mp_free(&m);
    mp_free(&old);
    cairn_wire_buf_close(&b);
}

static void test_node_join_and_remove_replies(void **state)
{
    struct cairn_wire_buf b;
    struct cairn_wire_response d;
    struct mp m;
    char err[CAIRN_ERRMSG_SIZE], names[4][32];
    const uint8_t *body;
    size_t len;
    (void)state;
    cairn_wire_buf_init(&b);
    mp_init(&m);
    /* node.join: 200 with a role. */
    assert_int_equal(cairn_wire_reply_node_join(&b, 8, "standby", err), 0);
    body = one_body(&b, &len);
    assert_int_equal(map_names(body, len, names, 4), 3);
    assert_string_equal(names[2], "role");
    assert_int_equal(dec(body, len, &d, err), 0);
    assert_int_equal(d.id, 8);
    assert_int_equal(d.status, 200);
    assert_true(d.has & CAIRN_WIRE_RES_ROLE);
    assert_true(bytes_eq(d.role.ptr, d.role.len, S("standby")));
    assert_int_equal(cairn_wire_response_check(&d, CAIRN_WIRE_NODE_JOIN, err),
                     0);
    cairn_wire_response_release(&d);
    /* No role: refused, nothing appended. */
    cairn_wire_buf_reset(&b);
    assert_int_equal(cairn_wire_reply_node_join(&b, 8, NULL, err),
                     CAIRN_EINVAL);
    assert_int_equal(b.len, 0);
    /* node.remove: 200 and nothing else. */
    assert_int_equal(cairn_wire_reply_node_remove(&b, 9, err), 0);
    body = one_body(&b, &len);
    assert_int_equal(map_names(body, len, names, 4), 2);
    assert_int_equal(dec(body, len, &d, err), 0);
    assert_int_equal(d.id, 9);
    assert_int_equal(cairn_wire_response_check(&d, CAIRN_WIRE_NODE_REMOVE,
                                               err),
                     0);
    /* ... which is not a node.join response: it lacks the role. */
    assert_int_equal(cairn_wire_response_check(&d, CAIRN_WIRE_NODE_JOIN, err),
                     CAIRN_EPROTO);
    assert_msg_has(err, "'role'");
    assert_msg_has(err, "node.join");
    cairn_wire_response_release(&d);
    /* bucket.leader: 200 and nothing else either. */
    cairn_wire_buf_reset(&b);
    assert_int_equal(cairn_wire_reply_bucket_leader(&b, 10, err), 0);
    body = one_body(&b, &len);
    assert_int_equal(map_names(body, len, names, 4), 2);
    assert_string_equal(names[0], "id");
    assert_string_equal(names[1], "status");
    assert_int_equal(dec(body, len, &d, err), 0);
    assert_int_equal(d.id, 10);
    assert_int_equal(d.status, 200);
    assert_int_equal(d.has, 0);
    assert_int_equal(cairn_wire_response_check(&d, CAIRN_WIRE_BUCKET_LEADER,
                                               err),
                     0);
    cairn_wire_response_release(&d);
    /* A role that is not a string. */
    msgpack_pack_map(&m.pk, 3);
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, 1);
    mp_str(&m, "status");
    msgpack_pack_int(&m.pk, 200);
    mp_str(&m, "role");
    msgpack_pack_uint64(&m.pk, 1);
    expect_proto(m.sb.data, m.sb.size, "'role'");
    /* The 421 a node that does not lead the meta group answers. */
    {
        struct cairn_wire_error_extra x = {.leader = "10.0.0.1:7401"};
        cairn_wire_buf_reset(&b);
        assert_int_equal(cairn_wire_reply_error(&b, 4, CAIRN_ENOTLEADER,
                                                "node.join: not the meta "
                                                "leader",
                                                &x, err),
                         0);
        body = one_body(&b, &len);
        assert_int_equal(dec(body, len, &d, err), 0);
        assert_int_equal(d.status, 421);
        assert_true(bytes_eq(d.leader.ptr, d.leader.len, S("10.0.0.1:7401")));
        assert_int_equal(cairn_wire_response_check(&d, CAIRN_WIRE_NODE_JOIN,
                                                   err),
                         0);
        cairn_wire_response_release(&d);
    }
    mp_free(&m);
    cairn_wire_buf_close(&b);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_every_op),
        cmocka_unit_test(test_reply_helpers),
        cmocka_unit_test(test_entries_writer),
        cmocka_unit_test(test_error_every_code),
        cmocka_unit_test(test_check_required_fields),
        cmocka_unit_test(test_check_buckets_form),
        cmocka_unit_test(test_check_watch_frames),
        cmocka_unit_test(test_truncated_at_every_length),
        cmocka_unit_test(test_unknown_fields_skipped),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_nil_anywhere),
        cmocka_unit_test(test_nested_unknown_fields_skipped),
        cmocka_unit_test(test_malformed_by_hand),
        cmocka_unit_test(test_cluster_status_http_and_role),
        cmocka_unit_test(test_node_join_and_remove_replies),
    };
    RUN_TESTS("client_wire_response", tests, argc, argv);
}
