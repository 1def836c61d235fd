/*
 * node.h — cairnd, the node daemon: one process per node, one libuv loop.
 *
 * Overview
 * --------
 * node_start() opens the node's data and memory directories, takes their
 * locks, opens the storage and the consensus layer (the peer port every
 * Raft group shares),
 * and starts the meta group, the Raft group over the cluster's voters whose
 * replicated bucket "_cluster" holds the catalog, the bucket groups the
 * catalog places on this node, and the client protocol server
 * (docs/protocol.md); docs/cairnd.md describes what the node does. The
 * data directory holds:
 *
 *   LOCK       an flock held while the node runs (one process per dir)
 *   IDENTITY   "cairn-node 1\nid <id>\ncluster <name>\n", written once:
 *              a restart with another --id or --cluster is refused
 *   storage/   the LMDB environment (storage/storage.h)
 *   raft/<g>/  the Raft log and snapshots of group g (1 is the meta group)
 *
 * and the memory directory (--memory-dir, on tmpfs) the buckets with
 * storage "memory" (docs/cairnd.md, "Memory buckets"):
 *
 *   LOCK       an flock held while the node runs (one node per dir)
 *   IDENTITY   "cairn-memory 1\ndata-dir <absolute data dir>\n": a start
 *              from another data directory is refused
 *   storage/   a second LMDB environment, without fsync
 *   raft/<g>/  the Raft logs of the memory buckets' groups
 *
 * Caveats
 * -------
 * - A new data directory needs --initial-cluster (bootstrap) or --join
 *   (ask a running node to add this one). An existing one resumes from its
 *   own state, and both flags are ignored.
 * - Bucket names starting with '_' are reserved for the node's own buckets.
 * - A memory bucket's replica whose memory directory lost its data or its
 *   Raft log (the machine restarted) starts again empty and is caught up by
 *   the group's leader; when every replica lost it, the bucket is empty.
 */
#ifndef CAIRN_NODE_H
#define CAIRN_NODE_H

#include <uv.h>

#include "config.h"

typedef struct node node;

/* The reserved bucket the meta group replicates, and its group id. */
#define NODE_META_BUCKET "_cluster"
#define NODE_META_GROUP 1

/*
 * Start node @cfg (copied) on @loop (borrowed). On success *out runs until
 * node_stop(). Errors, with @errmsg naming the file or address:
 * CAIRN_EINVAL (the data directory belongs to another node or cluster, or
 * is empty and no --initial-cluster was given; the memory directory is held
 * by another process, belongs to another data directory or is the data
 * directory: the daemon exits 2), CAIRN_EBUSY (another process holds the
 * data directory), CAIRN_EIO, CAIRN_ENOMEM.
 */
int node_start(uv_loop_t *loop, const struct node_config *cfg, node **out,
               char *errmsg);

/*
 * Stop gracefully: hand leadership of every group this node leads to
 * another voter (bounded by the election timeout), stop the groups, close
 * the storage and release the lock. @cb fires from the loop when done and
 * @n is freed. Calling it again while stopping does nothing.
 */
void node_stop(node *n, void (*cb)(void *data), void *data);

#endif /* CAIRN_NODE_H */
