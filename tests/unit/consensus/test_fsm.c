/*
 * The bucket state machine on canonical/raft's in-memory fixture: three
 * replicas, each applying to its own storage, on simulated time. Checks that
 * every replica ends in the identical state, that results reach the
 * proposer, that a lagging replica catches up by snapshot install, that a
 * leader change loses nothing, and that replayed entries are not applied
 * twice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <raft/fixture.h>

#include "internal.h"
#include "tmpdir.h"

#define N 3
#define BUCKET "cfg"
#define T0 1700000000000000000ULL

struct server {
    char dir[256];
    storage *s;
    struct consensus_fsm fsm;
    int (*restore)(struct raft_fsm *, struct raft_buffer *);
    unsigned restores;
};

struct fix {
    struct server servers[N];
    struct raft_fixture rf;
};

static struct fix *current; /* for the restore counter */

static int counting_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    for (int i = 0; i < N; i++) {
        struct server *sv = &current->servers[i];
        if (&sv->fsm.fsm == fsm) {
            sv->restores++;
            return sv->restore(fsm, buf);
        }
    }
    return RAFT_INVALID;
}

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof *f);
    struct raft_configuration conf;
    char err[CAIRN_ERRMSG_SIZE];
    cairn_bucket_config cfg;
    assert_non_null(f);
    current = f;
    cairn_bucket_config_init(&cfg, BUCKET);
    cfg.history = 4;
    assert_int_equal(raft_fixture_initialize(&f->rf), 0);
    for (int i = 0; i < N; i++) {
        struct server *sv = &f->servers[i];
        assert_int_equal(test_tmpdir_create("fsm", sv->dir, sizeof sv->dir), 0);
        assert_int_equal(storage_open(sv->dir, NULL, &sv->s, err), 0);
        assert_int_equal(storage_bucket_create(sv->s, &cfg, T0, err), 0);
        assert_int_equal(consensus__fsm_init(&sv->fsm, sv->s, BUCKET, err), 0);
        sv->restore = sv->fsm.fsm.restore;
        sv->fsm.fsm.restore = counting_restore;
        assert_int_equal(raft_fixture_grow(&f->rf, &sv->fsm.fsm), 0);
        sv->fsm.raft = raft_fixture_get(&f->rf, (unsigned)i);
    }
    assert_int_equal(raft_fixture_configuration(&f->rf, N, &conf), 0);
    assert_int_equal(raft_fixture_bootstrap(&f->rf, &conf), 0);
    raft_configuration_close(&conf);
    assert_int_equal(raft_fixture_start(&f->rf), 0);
    assert_true(raft_fixture_step_until_has_leader(&f->rf, 10000));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;
    raft_fixture_close(&f->rf);
    for (int i = 0; i < N; i++) {
        storage_close(f->servers[i].s);
        consensus__fsm_close(&f->servers[i].fsm);
        test_tmpdir_remove(f->servers[i].dir);
    }
    free(f);
    return 0;
}

/* ------------------------------------------------------------------------
 * Proposing
 * ---------------------------------------------------------------------- */

struct proposal {
    struct raft_apply req;
    bool done;
    int status;
    unsigned n;
    struct storage_result results[4];
};

static void apply_cb(struct raft_apply *req, int status, void *result)
{
    struct proposal *p = req->data;
    p->done = true;
    p->status = status;
    if (status == 0) {
        struct consensus_apply_result *r = result;
        assert_int_equal(r->code, 0);
        p->n = r->n;
        memcpy(p->results, r->results, r->n * sizeof *r->results);
    }
}

static struct storage_cmd put_cmd(const char *key, const char *value)
{
    struct storage_cmd c = {.type = STORAGE_CMD_PUT, .time = T0};
    c.w.key = key;
    c.w.key_len = strlen(key);
    c.w.value = value;
    c.w.value_len = strlen(value);
    return c;
}

/* Propose @n commands as one entry on the leader; step until applied
 * everywhere alive; return the results through @p. */
static void propose(struct fix *f, const struct storage_cmd *cmds, unsigned n,
                    struct proposal *p)
{
    struct consensus_cmd_buf bufs[4];
    void *enc[4];
    struct raft_buffer buf;
    char err[CAIRN_ERRMSG_SIZE];
    unsigned leader = raft_fixture_leader_index(&f->rf);
    struct raft *r;
    assert_true(leader < N);
    r = raft_fixture_get(&f->rf, leader);
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(storage_cmd_encode(&cmds[i], &enc[i], &bufs[i].len,
                                            err),
                         0);
        bufs[i].base = enc[i];
    }
    assert_int_equal(consensus_entry_encode(bufs, n, raft_malloc, &buf.base,
                                            &buf.len, err),
                     0);
    for (unsigned i = 0; i < n; i++) {
        free(enc[i]);
    }
    memset(p, 0, sizeof *p);
    p->req.data = p;
    assert_int_equal(raft_apply(r, &p->req, &buf, 1, apply_cb), 0);
    assert_true(raft_fixture_step_until_applied(&f->rf, leader,
                                                raft_last_index(r), 10000));
    assert_true(p->done);
}

static void step_until_all_applied(struct fix *f)
{
    unsigned leader = raft_fixture_leader_index(&f->rf);
    raft_index last = raft_last_index(raft_fixture_get(&f->rf, leader));
    for (unsigned i = 0; i < N; i++) {
        if (raft_fixture_alive(&f->rf, i)) {
            assert_true(raft_fixture_step_until_applied(&f->rf, i, last,
                                                        20000));
        }
    }
}

/* ------------------------------------------------------------------------
 * State comparison: every read a client could make
 * ---------------------------------------------------------------------- */

struct dump {
    char buf[65536];
    size_t len;
};

static int dump_entry(void *arg, const struct storage_entry *e)
{
    struct dump *d = arg;
    int n = snprintf(d->buf + d->len, sizeof d->buf - d->len,
                     "%.*s=%.*s@%llu/%llu op%u exp%llu|", (int)e->key_len,
                     (const char *)e->key, (int)e->value_len,
                     e->value ? (const char *)e->value : "",
                     (unsigned long long)e->revision,
                     (unsigned long long)e->create_revision, e->op,
                     (unsigned long long)e->expires_at);
    assert_true(n > 0 && (size_t)n < sizeof d->buf - d->len);
    d->len += (size_t)n;
    return 0;
}

static int dump_key_history(void *arg, const struct storage_entry *e);

struct hist_ctx {
    storage_txn *t;
    struct dump *d;
};

static int dump_key_history(void *arg, const struct storage_entry *e)
{
    struct hist_ctx *h = arg;
    char err[CAIRN_ERRMSG_SIZE];
    dump_entry(h->d, e);
    assert_int_equal(storage_history(h->t, BUCKET, e->key, e->key_len, T0,
                                     dump_entry, h->d, err),
                     0);
    return 0;
}

static void dump_state(storage *s, struct dump *d)
{
    storage_txn *t;
    struct storage_scan sc = {.now = T0};
    struct storage_page page;
    struct storage_bucket_info info;
    char err[CAIRN_ERRMSG_SIZE];
    struct hist_ctx h = {.d = d};
    d->len = 0;
    assert_int_equal(storage_bucket_info(s, BUCKET, &info, err), 0);
    d->len = (size_t)snprintf(d->buf, sizeof d->buf,
                              "keys %llu bytes %llu rev %llu|",
                              (unsigned long long)info.keys,
                              (unsigned long long)info.bytes,
                              (unsigned long long)info.last_revision);
    assert_int_equal(storage_read_begin(s, &t, err), 0);
    h.t = t;
    assert_int_equal(storage_scan(t, BUCKET, &sc, dump_key_history, &h, &page,
                                  err),
                     0);
    storage_txn_end(t);
}

static void assert_replicas_equal(struct fix *f)
{
    static struct dump a, b;
    dump_state(f->servers[0].s, &a);
    for (int i = 1; i < N; i++) {
        dump_state(f->servers[i].s, &b);
        assert_string_equal(a.buf, b.buf);
    }
}

/* ------------------------------------------------------------------------
 * Tests
 * ---------------------------------------------------------------------- */

static void test_replicas_apply_identically(void **state)
{
    struct fix *f = *state;
    struct proposal p;
    struct storage_cmd batch[3];
    char key[16], value[16];

    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "k%d", i % 7);
        snprintf(value, sizeof value, "v%d", i);
        batch[0] = put_cmd(key, value);
        propose(f, batch, 1, &p);
        assert_int_equal(p.status, 0);
        assert_int_equal(p.n, 1);
        assert_int_equal(p.results[0].code, CAIRN_OK);
        assert_int_equal(p.results[0].revision, (uint64_t)i + 1);
    }
    /* A batch: a create that conflicts, an update at the right revision,
     * a delete; each has its own outcome. */
    batch[0] = put_cmd("k0", "x");
    batch[0].type = STORAGE_CMD_CREATE;
    batch[1] = put_cmd("k1", "y");
    batch[1].type = STORAGE_CMD_UPDATE;
    batch[1].revision = 16; /* k1 was last written as the 16th put */
    batch[2] = put_cmd("k2", "");
    batch[2].type = STORAGE_CMD_DELETE;
    propose(f, batch, 3, &p);
    assert_int_equal(p.n, 3);
    assert_int_equal(p.results[0].code, CAIRN_ECONFLICT);
    assert_int_equal(p.results[0].current_revision, 15);
    assert_int_equal(p.results[1].code, CAIRN_OK);
    assert_int_equal(p.results[1].revision, 21);
    assert_int_equal(p.results[2].code, CAIRN_OK);
    assert_int_equal(p.results[2].revision, 22);
    step_until_all_applied(f);
    assert_replicas_equal(f);
}

static void test_lagging_replica_catches_up_by_snapshot(void **state)
{
    struct fix *f = *state;
    struct proposal p;
    struct storage_cmd c;
    char key[16], value[16];
    unsigned leader = raft_fixture_leader_index(&f->rf);
    unsigned lagging = (leader + 1) % N;

    for (unsigned i = 0; i < N; i++) {
        raft_set_snapshot_threshold(raft_fixture_get(&f->rf, i), 8);
        raft_set_snapshot_trailing(raft_fixture_get(&f->rf, i), 2);
    }
    raft_fixture_kill(&f->rf, lagging);
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "key-%d", i % 11);
        snprintf(value, sizeof value, "value-%d", i);
        c = put_cmd(key, value);
        propose(f, &c, 1, &p);
        assert_int_equal(p.results[0].code, CAIRN_OK);
    }
    assert_int_equal(f->servers[lagging].restores, 0);
    raft_fixture_revive(&f->rf, lagging);
    step_until_all_applied(f);
    assert_true(f->servers[lagging].restores >= 1);
    assert_replicas_equal(f);
}

static void test_leader_change_loses_nothing(void **state)
{
    struct fix *f = *state;
    struct proposal p;
    struct storage_cmd c;
    unsigned first;

    c = put_cmd("a", "1");
    propose(f, &c, 1, &p);
    first = raft_fixture_leader_index(&f->rf);
    raft_fixture_depose(&f->rf);
    assert_true(raft_fixture_step_until_has_leader(&f->rf, 20000));
    c = put_cmd("b", "2");
    propose(f, &c, 1, &p);
    assert_int_equal(p.results[0].code, CAIRN_OK);
    assert_int_equal(p.results[0].revision, 2);
    (void)first;
    step_until_all_applied(f);
    assert_replicas_equal(f);
}

/* After a restart raft re-applies every entry after the last snapshot;
 * the same index must not apply twice. */
static void test_replayed_entry_is_skipped(void **state)
{
    struct fix *f = *state;
    struct consensus_fsm *fsm = &f->servers[0].fsm;
    struct raft fake;
    struct storage_cmd c = put_cmd("replayed", "once");
    struct consensus_cmd_buf b;
    struct raft_buffer buf;
    struct consensus_apply_result *res;
    struct storage_bucket_info info;
    char err[CAIRN_ERRMSG_SIZE];
    void *enc, *result;
    struct raft *real = fsm->raft;

    raft_fixture_kill(&f->rf, 0); /* drive its FSM by hand */
    memset(&fake, 0, sizeof fake);
    fake.last_applied = 100;
    fsm->raft = &fake;
    assert_int_equal(storage_cmd_encode(&c, &enc, &b.len, err), 0);
    b.base = enc;
    assert_int_equal(consensus_entry_encode(&b, 1, NULL, &buf.base, &buf.len,
                                            err),
                     0);
    assert_int_equal(fsm->fsm.apply(&fsm->fsm, &buf, &result), 0);
    res = result;
    assert_int_equal(res->results[0].code, CAIRN_OK);
    assert_false(res->results[0].skipped);
    assert_int_equal(storage_bucket_info(fsm->s, BUCKET, &info, err), 0);
    assert_int_equal(info.applied_index, 101);
    /* The same entry again, as a replay from an older applied index. */
    fake.last_applied = 50;
    assert_int_equal(fsm->fsm.apply(&fsm->fsm, &buf, &result), 0);
    res = result;
    assert_true(res->results[0].skipped);
    assert_int_equal(storage_bucket_info(fsm->s, BUCKET, &info, err), 0);
    assert_int_equal(info.last_revision, 1);
    assert_int_equal(info.applied_index, 101);
    /* A malformed entry is refused as a result, not a retry loop. */
    fake.last_applied = 101;
    ((uint8_t *)buf.base)[0] = 0xc1;
    assert_int_equal(fsm->fsm.apply(&fsm->fsm, &buf, &result), 0);
    res = result;
    assert_int_equal(res->code, CAIRN_EMALFORMED);
    assert_int_equal(storage_bucket_info(fsm->s, BUCKET, &info, err), 0);
    assert_int_equal(info.applied_index, 102);
    assert_int_equal(info.last_revision, 1);
    free(enc);
    free(buf.base);
    fsm->raft = real;
}

static void test_entry_codec(void **state)
{
    struct consensus_cmd_buf in[2] = {{"abc", 3}, {"", 0}}, out[CONSENSUS_BATCH_MAX];
    char err[CAIRN_ERRMSG_SIZE];
    unsigned n;
    void *buf;
    size_t len;
    (void)state;
    assert_int_equal(consensus_entry_encode(in, 2, NULL, &buf, &len, err), 0);
    assert_int_equal(consensus_entry_decode(buf, len, out, &n, err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].len, 3);
    assert_memory_equal(out[0].base, "abc", 3);
    assert_int_equal(out[1].len, 0);
    /* raft_uv needs entries padded to 8 bytes: zeros after the document. */
    size_t doc_len = 0;
    assert_int_equal(len % 8, 0);
    assert_int_equal(cairn_msgpack_check_prefix(buf, len, &doc_len), 0);
    assert_true(doc_len <= len && len - doc_len < 8);
    for (size_t cut = 0; cut < doc_len; cut++) {
        assert_int_equal(consensus_entry_decode(buf, cut, out, &n, err),
                         CAIRN_EMALFORMED);
        assert_int_equal(n, 0);
    }
    {
        /* Padding is zeros only, and less than 8 bytes. */
        uint8_t *grown = calloc(1, len + 8);
        assert_non_null(grown);
        memcpy(grown, buf, doc_len);
        assert_int_equal(consensus_entry_decode(grown, doc_len + 7, out, &n,
                                                err),
                         0);
        assert_int_equal(consensus_entry_decode(grown, doc_len + 8, out, &n,
                                                err),
                         CAIRN_EMALFORMED);
        grown[doc_len + 1] = 1;
        assert_int_equal(consensus_entry_decode(grown, doc_len + 2, out, &n,
                                                err),
                         CAIRN_EMALFORMED);
        free(grown);
    }
    assert_int_equal(consensus_entry_encode(in, 0, NULL, &buf, &len, err) == 0
                         ? -1
                         : CAIRN_EINVAL,
                     CAIRN_EINVAL);
    free(buf);
    /* Version 2 is refused by name. */
    {
        const uint8_t v2[] = {0x82, 0xa1, 'v', 0x02, 0xa4, 'c', 'm', 'd', 's',
                              0x91, 0xc4, 0x00};
        assert_int_equal(consensus_entry_decode(v2, sizeof v2, out, &n, err),
                         CAIRN_EVERSION);
        /* An array header claiming 2^32-1 commands in 12 bytes. */
        const uint8_t bomb[] = {0x82, 0xa1, 'v', 0x01, 0xa4, 'c', 'm', 'd',
                                's', 0xdd, 0xff, 0xff, 0xff, 0xff};
        assert_int_equal(
            consensus_entry_decode(bomb, sizeof bomb, out, &n, err),
            CAIRN_EMALFORMED);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entry_codec),
        cmocka_unit_test_setup_teardown(test_replicas_apply_identically, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_lagging_replica_catches_up_by_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leader_change_loses_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replayed_entry_is_skipped, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("consensus_fsm", tests, NULL, NULL);
}
