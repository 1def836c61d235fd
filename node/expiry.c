/*
 * The TTL sweeper: expired entries leave storage through the log.
 *
 * Storage never reads a clock (storage/storage.h): an entry whose expiry
 * has passed stays stored until an expire(T) command removes it (its value
 * becomes a PURGE marker, its history goes; docs/storage.md). Reads hide it
 * from the moment it expires, by the `now` they pass, on every replica.
 *
 * So every --expire-interval-ms the node looks at each bucket group it
 * leads: when the bucket's earliest expiry (storage_next_expiry, one index
 * lookup) is not after the leader's clock, it proposes expire(now) with
 * that clock. Every replica applies the command with the time it carries,
 * never its own clock, so all of them remove the same entries at the same
 * revisions. Nothing is proposed while nothing is due, so an idle bucket
 * adds nothing to its log, and at most one expire per bucket is in flight:
 * the next waits for its outcome. A leader whose clock runs behind removes
 * entries a little later; one whose clock runs ahead, a little earlier;
 * either way the replicas agree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* An expire proposal in flight. The bucket is found again by its group
 * when the outcome arrives: the replica may have stopped meanwhile. */
struct expire_ctx {
    node *n;
    uint64_t group;
    char bucket[CAIRN_BUCKET_NAME_MAX + 1];
};

static void expire_done(void *data, int status,
                        const struct storage_result *res)
{
    struct expire_ctx *x = data;
    node *n = x->n;
    for (struct bucket_rt *b = n->buckets; b != NULL; b = b->next) {
        if (b->group == x->group) {
            b->expiring = false;
        }
    }
    if (status != 0) {
        /* Leadership moved: the next leader proposes its own. */
        LOG_DEBUG("node", x->bucket, "expire not applied here code=%s",
                  cairn_errname(status));
    } else if (res->code != 0) {
        LOG_WARN("node", x->bucket, "expire refused code=%s error=%s",
                 cairn_errname(res->code), res->errmsg);
    } else if (res->count > 0) {
        LOG_DEBUG("node", x->bucket,
                  "expired entries count=%u first_rev=%llu last_rev=%llu",
                  res->count, (unsigned long long)res->revision,
                  (unsigned long long)res->last_revision);
    }
    free(x);
}

/* Propose expire(@now) to @b's group. */
static void propose_expire(node *n, struct bucket_rt *b, uint64_t now)
{
    struct storage_cmd cmd;
    struct expire_ctx *x;
    char err[CAIRN_ERRMSG_SIZE];
    void *buf;
    size_t len;
    int rc;

    memset(&cmd, 0, sizeof cmd);
    cmd.type = STORAGE_CMD_EXPIRE;
    cmd.time = now;
    if ((rc = storage_cmd_encode(&cmd, &buf, &len, err)) != 0) {
        LOG_ERROR("node", b->name, "expire: %s", err);
        return;
    }
    x = malloc(sizeof *x);
    if (x == NULL) {
        free(buf);
        LOG_ERROR("node", b->name, "expire: out of memory");
        return;
    }
    x->n = n;
    x->group = b->group;
    snprintf(x->bucket, sizeof x->bucket, "%s", b->name);
    rc = consensus_group_propose(b->g, buf, len, expire_done, x, err);
    free(buf);
    if (rc != 0) {
        free(x);
        if (rc != CAIRN_ENOTLEADER) {
            LOG_WARN("node", b->name, "expire not proposed: %s", err);
        }
        return;
    }
    b->expiring = true;
}

static void expiry_tick(uv_timer_t *t)
{
    node *n = t->data;
    /* One read transaction per environment the buckets live in (file and
     * memory), begun when a bucket there needs it. */
    storage_txn *txn[2] = {NULL, NULL};
    char err[CAIRN_ERRMSG_SIZE];
    uint64_t now, at;

    if (n->stopping) {
        uv_timer_stop(t);
        return;
    }
    now = node_now();
    for (struct bucket_rt *b = n->buckets; b != NULL; b = b->next) {
        storage_txn **tp = &txn[b->memory];
        if (b->stopping || b->expiring || !consensus_group_is_leader(b->g)) {
            continue;
        }
        if (*tp == NULL && storage_read_begin(b->s, tp, err) != 0) {
            LOG_WARN("node", b->name, "expiry check: %s", err);
            continue;
        }
        if (storage_next_expiry(*tp, b->name, &at, err) != 0) {
            LOG_WARN("node", b->name, "expiry check: %s", err);
            continue;
        }
        if (at != 0 && at <= now) {
            /* Only queued here: the command applies in a later turn of
             * the loop, after this read transaction ended. */
            propose_expire(n, b, now);
        }
    }
    storage_txn_end(txn[0]);
    storage_txn_end(txn[1]);
}

void expiry_start(node *n)
{
    uint64_t ms = n->cfg.expire_interval_ms;
    if (n->expiry_open) {
        return;
    }
    uv_timer_init(n->loop, &n->expiry);
    n->expiry.data = n;
    n->expiry_open = true;
    n->parts_open++; /* closed by expiry_stop() */
    uv_timer_start(&n->expiry, expiry_tick, ms, ms);
}

static void expiry_closed(uv_handle_t *h)
{
    node_part_done(h->data);
}

void expiry_stop(node *n)
{
    if (!n->expiry_open) {
        return;
    }
    n->expiry_open = false;
    uv_close((uv_handle_t *)&n->expiry, expiry_closed);
}
