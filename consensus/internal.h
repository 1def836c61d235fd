/* Private to consensus/: the state machine glue between raft and storage. */
#ifndef CAIRN_CONSENSUS_INTERNAL_H
#define CAIRN_CONSENSUS_INTERNAL_H

#include <raft.h>

#include "consensus.h"
#include "storage.h"

/* What applying one entry produced; valid only inside the raft_apply
 * callback that receives it (the next apply overwrites it). */
struct consensus_apply_result {
    int code;      /* CAIRN_OK, or why the whole entry was refused */
    unsigned n;    /* results, one per command of the entry */
    struct storage_result *results;
    char errmsg[CAIRN_ERRMSG_SIZE];
};

/* A bucket replica's state machine: applies entries to @s's bucket. */
struct consensus_fsm {
    struct raft_fsm fsm; /* handed to raft_init; fsm.data points here */
    struct raft *raft;   /* set before raft_start: gives each entry's index */
    storage *s;
    char bucket[CAIRN_BUCKET_NAME_MAX + 1];
    struct consensus_apply_result out;
    struct storage_result *slots; /* grown to the largest batch seen */
    unsigned n_slots;
    char errmsg[CAIRN_ERRMSG_SIZE]; /* the last environment failure */
    void (*on_apply)(void *data);   /* after each entry or restore */
    void *on_apply_data;
};

/* Initialise @f for bucket @bucket of @s (both borrowed; they outlive @f).
 * Set f->raft after raft_init. Errors: CAIRN_EINVAL (bucket name). */
int consensus__fsm_init(struct consensus_fsm *f, storage *s,
                        const char *bucket, char *errmsg);

/* Release what @f allocated. */
void consensus__fsm_close(struct consensus_fsm *f);

#endif
