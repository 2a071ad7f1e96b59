/* SPDX-License-Identifier: Apache-2.0
 * pxh: an in-process cluster of real replicas joined by in-memory message queues.
 *
 * Every message goes through the real codec (px_encode at the sender, px_decode at the
 * receiver), as it would on a wire. Each replica has its applier and a key-value
 * service. Used by the unit tests, the scripted interaction tests, the core
 * microbenchmark (pw-bench-core) and, until real processes exist, the demo.
 * Allocates at creation only.
 */
#ifndef PXH_H
#define PXH_H

#include <stdbool.h>
#include <stdint.h>

#include "px.h"
#include "auth.h"
#include "px_apply.h"

#define PXH_NODES_MAX PX_REPLICAS_MAX
/** A message in flight. */
struct pxh_msg {
	uint8_t from, to;
	uint32_t len;
	uint8_t *bytes;
};

struct pxh_opts {
	uint8_t n;
	enum px_durability durability;
	uint32_t window_slots;
	uint32_t pipeline_slots;
	uint32_t batch_cmds_max;
	uint32_t heartbeat_ticks;
	uint32_t election_ticks;
	uint64_t seed;
	uint32_t kv_keys;
	uint32_t kv_key_bytes;     /**< largest key the store holds */
	uint32_t kv_value_bytes;   /**< largest value the store holds */
	uint32_t queue_msgs;       /**< messages in flight at most */
	/** Durable mode: confirm persist requests at once (true) or only by pxh_persist(). */
	bool auto_persist;
	/** Give each node a snapshot buffer: a replica that falls behind the window heals
	 *  by state transfer (off: it stays behind, as the core tests want). */
	bool snapshots;
	/** Run px_check_invariants on a replica after every call into it (abort on failure). */
	bool check_invariants;
	/** The cluster uuid (node_conf.fresh, .bind): each node binds one if it leads
	 *  first, and the first boot is fresh (off: no bind slot, as the core tests want). */
	bool uuid;
	/** Authenticate every datagram (node_conf.keys: a cluster key made from the seed;
	 *  each boot a higher life). Messages a test injects (pxh_inject) carry no
	 *  trailer and are dropped then: the core tests run without. */
	bool auth;
	/** The remote-memory log transport (node_conf.rm, docs/rdma.md): each life of a
	 *  node opens a context on the shared-memory backend in this process (objects in
	 *  /dev/shm named for this cluster, removed by pxh_crash and pxh_free), and the
	 *  harness polls it (node_rm_poll) after each tick and whenever the queue runs
	 *  dry in pxh_deliver_one. rm_ring: records per follower region (0: the node's
	 *  default). */
	bool rm;
	uint32_t rm_ring;
	/** Optional observer of every delivered message (golden traces). */
	void (*trace)(void *ctx, const struct px_msg *m, uint8_t to);
	void *trace_ctx;
	/** Optional observer of replies a leader sends to clients. */
	void (*on_reply)(void *ctx, uint8_t node, const struct px_reply *rep);
	void *reply_ctx;
};

struct pxh_cluster;
struct svc_kv;

void pxh_opts_default(struct pxh_opts *o, uint8_t n);
struct pxh_cluster *pxh_new(const struct pxh_opts *o);
void pxh_free(struct pxh_cluster *c);

struct px_replica *pxh_replica(struct pxh_cluster *c, uint8_t i);
struct px_applier *pxh_applier(struct pxh_cluster *c, uint8_t i);
uint64_t pxh_kv_hash(struct pxh_cluster *c, uint8_t i);
struct svc_kv *pxh_kv(struct pxh_cluster *c, uint8_t i);
bool pxh_is_up(const struct pxh_cluster *c, uint8_t i);

/** Ticks one node (if up), or every node if i == PX_NODE_NONE. */
void pxh_tick(struct pxh_cluster *c, uint8_t i);
/** Delivers the oldest queued message. false: queue empty (opts.rm: and a poll of the
 *  remote-memory transports did nothing; one that did counts as a delivery). */
bool pxh_deliver_one(struct pxh_cluster *c);
/** Delivers until the queue is empty or max messages went. Returns the count. */
uint32_t pxh_deliver_all(struct pxh_cluster *c, uint32_t max);
/** Drops every queued message (optionally only from/to a node; PX_NODE_NONE = any). */
uint32_t pxh_drop(struct pxh_cluster *c, uint8_t from, uint8_t to);
uint32_t pxh_queued(const struct pxh_cluster *c);
/** Peeks at queued message k (0 = oldest). */
const struct pxh_msg *pxh_peek(const struct pxh_cluster *c, uint32_t k);
/** Removes queued message k without delivering it. */
void pxh_remove(struct pxh_cluster *c, uint32_t k);
/** Delivers queued message k out of order. */
void pxh_deliver_at(struct pxh_cluster *c, uint32_t k);
/** Re-queues a copy of message k (duplication). */
void pxh_duplicate(struct pxh_cluster *c, uint32_t k);

/** Queues m, encoded with the real codec, on the link m->from -> to, as if its sender
 *  had sent it: a crafted, mangled or replayed message for tests. The receiver decodes
 *  it like any other (it must be decodable: the harness aborts on a decode error).
 *  Returns false if it does not encode or the queue is full. */
bool pxh_inject(struct pxh_cluster *c, uint8_t to, const struct px_msg *m);

/** Decodes queued message k into m (its values point into the queue: valid until that
 *  message is delivered or dropped). false if there is no message k. */
bool pxh_decode_at(struct pxh_cluster *c, uint32_t k, struct px_msg *m);

/** Cuts (or restores) the link from -> to: messages on a cut link are dropped at send. */
void pxh_cut(struct pxh_cluster *c, uint8_t from, uint8_t to, bool cut);
/** Isolates a node both ways (or heals it). */
void pxh_isolate(struct pxh_cluster *c, uint8_t i, bool cut);

/* ---- Client sessions (px_apply.h) ----
 * A client registers through the log: a command with seq 0 and its nonce as client id.
 * The harness learns the session id the log gave each nonce from the registration
 * replies any replica's applier produces (the same on every replica). */

/** Proposes a registration for each nonces[k] (non-zero, fresh) at node i, then ticks
 *  and delivers until every one is applied, for at most 200 rounds (with auto_persist
 *  off it confirms every node's persist requests as it goes, as a test would by hand).
 *  Fills ids[k] with the session id, 0 if it did not commit in time.
 *  @return the number of nonces that got a session. */
uint32_t pxh_register(struct pxh_cluster *c, uint8_t i, const uint64_t *nonces, uint32_t n,
		      uint64_t *ids);
/** pxh_register for the nonces first..first+n-1 (n at most 64), ids not kept.
 *  @return the number that got a session. */
uint32_t pxh_register_range(struct pxh_cluster *c, uint8_t i, uint64_t first, uint32_t n);
/** The newest session id the log gave nonce (learned from applied registrations); 0
 *  if none yet. */
uint64_t pxh_session(const struct pxh_cluster *c, uint64_t nonce);

/** Proposes at node i; returns commands taken. */
uint32_t pxh_propose(struct pxh_cluster *c, uint8_t i, const struct px_cmd_ref *cmds,
		     uint32_t n);
/** Durable mode with auto_persist off: confirms node i's outstanding persist request. */
void pxh_persist(struct pxh_cluster *c, uint8_t i);

/** opts.auth: the cluster key every node holds (tests derive client keys from it). */
const struct auth_keys *pxh_auth_keys(const struct pxh_cluster *c);

/** The node's embedder (node.h): its counters, snapshot state. */
struct node *pxh_node(struct pxh_cluster *c, uint8_t i);
/** opts.rm: polls every live node's remote-memory transport once (node_rm_poll).
 *  @return what they handled (0: nothing landed or completed). */
unsigned pxh_rm_poll(struct pxh_cluster *c);

/** Crash: the node's process is gone; queued messages to it are dropped on delivery. */
void pxh_crash(struct pxh_cluster *c, uint8_t i);
/** Restart: durable mode keeps what was persisted; memory mode keeps nothing. */
void pxh_restart(struct pxh_cluster *c, uint8_t i);
/** Restart as if it were the first start of a new cluster (paxwired --bootstrap): a
 *  memory-mode node that forgot everything and does not recover (the bootstrap
 *  guard's case); fresh when opts.uuid is on. */
void pxh_restart_as_new(struct pxh_cluster *c, uint8_t i);
/** Durable mode: restart after the journal was found damaged: the disk is emptied and
 *  the replica starts with restarted set (it recovers from its peers: a repair). */
void pxh_repair(struct pxh_cluster *c, uint8_t i);

/** px_read_begin at node i (its effects handled as any call's); 0 if down. */
uint64_t pxh_read_begin(struct pxh_cluster *c, uint8_t i, uint64_t *read_index);
/** Starts a leadership transfer at node i to target (node_transfer): 0, -EINVAL or
 *  -EAGAIN; its effects (TIMEOUT_NOW) are queued. */
int pxh_transfer(struct pxh_cluster *c, uint8_t i, uint8_t target);
/** Highest read ticket confirmed at node i since its last role change (0: none), as
 *  an embedder tracks it from px_out.read_confirmed. */
uint64_t pxh_read_confirmed(const struct pxh_cluster *c, uint8_t i);
/** Role changes node i reported in px_out (since creation). */
uint64_t pxh_role_changes(const struct pxh_cluster *c, uint8_t i);

/** The node that is leader (lowest id if several claim it), or PX_NODE_NONE. */
uint8_t pxh_leader(const struct pxh_cluster *c);
/** Ticks and delivers until a leader exists (at most max_ticks). */
uint8_t pxh_elect(struct pxh_cluster *c, uint32_t max_ticks);
/** `ticks` rounds of: tick every replica, then deliver everything queued. */
void pxh_run(struct pxh_cluster *c, uint32_t ticks);

/** Counters of the harness itself. */
struct pxh_stats {
	uint64_t delivered;
	uint64_t dropped;
	uint64_t decode_errors;
	uint64_t bytes;
	uint64_t applied_cmds;
};
const struct pxh_stats *pxh_stats(const struct pxh_cluster *c);

#endif /* PXH_H */
