/*
 * A bucket replica's state machine: raft hands it committed entries, it
 * applies them to the bucket in storage.
 *
 * From the Raft paper, §5.3: "If a follower crashes ... the leader retries
 * AppendEntries RPCs indefinitely". The same holds for apply in
 * canonical/raft: a non-zero return makes raft retry the entry forever, so
 * only environment failures (disk full, I/O) return non-zero; everything a
 * command decides (conflict, limits, malformed input) is a result, the same
 * on every replica.
 *
 * Indexes: raft does not pass the entry's index to apply(); it is
 * raft_last_applied() + 1. The storage stores it with the entry's effects,
 * so entries raft re-applies after a restart (all those after the last
 * snapshot) are skipped instead of applied twice.
 *
 * A client's retry of a write is another entry, at a new index: the storage
 * answers it from the bucket's dedup table (client id and sequence number,
 * storage.h) with the first outcome and res->duplicate set, which reaches
 * the proposer through the same result slot as any other outcome.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
                     void **result)
{
    struct consensus_fsm *f = fsm->data;
    struct consensus_apply_result *out = &f->out;
    struct consensus_cmd_buf cmds[CONSENSUS_BATCH_MAX];
    raft_index index = raft_last_applied(f->raft) + 1;
    storage_txn *t;
    unsigned n;
    bool skipped = false;
    int rc;

    memset(out, 0, sizeof *out);
    *result = out;
    out->code = consensus_entry_decode(buf->base, buf->len, cmds, &n,
                                       out->errmsg);
    if (out->code == 0 && n > f->n_slots) {
        struct storage_result *grown = realloc(f->slots, n * sizeof *grown);
        if (grown == NULL) {
            return RAFT_NOMEM; /* raft retries the entry */
        }
        f->slots = grown;
        f->n_slots = n;
    }
    out->results = f->slots;
    if (out->code != 0) {
        /* Deterministic: every replica refuses the same bytes. The index
         * still counts as applied so a replay does not re-decide it. */
        struct storage_cmd none = {.type = STORAGE_CMD_TXN};
        struct storage_result ignored;
        rc = storage_apply(f->s, f->bucket, &none, index, &ignored,
                           f->errmsg);
        return rc == 0 ? 0 : RAFT_IOERR;
    }
    if ((rc = storage_write_begin(f->s, &t, f->errmsg)) != 0) {
        return RAFT_IOERR;
    }
    for (unsigned i = 0; i < n; i++) {
        struct storage_cmd cmd;
        struct storage_result *res = &f->slots[i];
        if (skipped) {
            memset(res, 0, sizeof *res);
            res->skipped = true;
            continue;
        }
        rc = storage_cmd_decode(cmds[i].base, cmds[i].len, &cmd, res->errmsg);
        if (rc != 0) {
            /* A command that does not decode is refused alone, but the
             * entry's index must still be recorded with the first one. */
            char keep[CAIRN_ERRMSG_SIZE];
            memcpy(keep, res->errmsg, sizeof keep);
            storage_cmd_release(&cmd);
            memset(&cmd, 0, sizeof cmd);
            cmd.type = STORAGE_CMD_TXN;
            rc = storage_write_apply(t, f->bucket, &cmd, i == 0 ? index : 0,
                                     res, f->errmsg);
            skipped = res->skipped;
            res->code = CAIRN_EMALFORMED;
            memcpy(res->errmsg, keep, sizeof keep);
        } else {
            rc = storage_write_apply(t, f->bucket, &cmd, i == 0 ? index : 0,
                                     res, f->errmsg);
            storage_cmd_release(&cmd);
            skipped = res->skipped;
        }
        if (rc != 0) {
            storage_txn_end(t);
            return RAFT_IOERR;
        }
    }
    out->n = n;
    if ((rc = storage_write_commit(t, f->errmsg)) != 0) {
        return RAFT_IOERR;
    }
    if (f->on_apply != NULL && !skipped) {
        f->on_apply(f->on_apply_data);
    }
    return 0;
}

/* Version 2 snapshots: raft calls snapshot_finalize when it has written the
 * buffers, and frees nothing itself. */
static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                        unsigned *n_bufs)
{
    struct consensus_fsm *f = fsm->data;
    struct raft_buffer *b = malloc(sizeof *b);
    int rc;
    if (b == NULL) {
        return RAFT_NOMEM;
    }
    rc = storage_snapshot(f->s, f->bucket, &b->base, &b->len, f->errmsg);
    if (rc != 0) {
        free(b);
        return rc == CAIRN_ENOMEM ? RAFT_NOMEM : RAFT_IOERR;
    }
    *bufs = b;
    *n_bufs = 1;
    return 0;
}

static int fsm_snapshot_finalize(struct raft_fsm *fsm,
                                 struct raft_buffer *bufs[], unsigned *n_bufs)
{
    (void)fsm;
    for (unsigned i = 0; i < *n_bufs; i++) {
        free((*bufs)[i].base);
    }
    free(*bufs);
    *bufs = NULL;
    *n_bufs = 0;
    return 0;
}

/* On success the buffer is ours to free (raft_free: raft allocated it). */
static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct consensus_fsm *f = fsm->data;
    int rc = storage_restore(f->s, f->bucket, buf->base, buf->len, f->errmsg);
    if (rc != 0) {
        return rc == CAIRN_ENOMEM ? RAFT_NOMEM : RAFT_CORRUPT;
    }
    raft_free(buf->base);
    if (f->on_apply != NULL) {
        f->on_apply(f->on_apply_data);
    }
    return 0;
}

void consensus__fsm_close(struct consensus_fsm *f)
{
    free(f->slots);
    f->slots = NULL;
    f->n_slots = 0;
}

int consensus__fsm_init(struct consensus_fsm *f, storage *s,
                        const char *bucket, char *errmsg)
{
    size_t n = bucket != NULL ? strlen(bucket) : 0;
    if (n == 0 || n > CAIRN_BUCKET_NAME_MAX) {
        if (errmsg != NULL) {
            snprintf(errmsg, CAIRN_ERRMSG_SIZE, "fsm: bad bucket name");
        }
        return CAIRN_EINVAL;
    }
    memset(f, 0, sizeof *f);
    memcpy(f->bucket, bucket, n + 1);
    f->s = s;
    f->fsm.version = 2;
    f->fsm.data = f;
    f->fsm.apply = fsm_apply;
    f->fsm.snapshot = fsm_snapshot;
    f->fsm.restore = fsm_restore;
    f->fsm.snapshot_finalize = fsm_snapshot_finalize;
    return 0;
}
