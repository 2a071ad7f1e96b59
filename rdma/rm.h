/* SPDX-License-Identifier: Apache-2.0
 * rm: remote-memory transport (prefix rm_), shaped like RDMA verbs and owned by paxwire.
 *
 * A context is one node's end of a set of reliable connections to up to RM_PEERS_MAX
 * peers (node ids 0..RM_PEERS_MAX-1). Through it a node
 *   - registers memory regions (rm_region_reg) that peers may read and, when granted,
 *     write without this node's CPU taking part;
 *   - connects to a peer (rm_endpoint_get here, the endpoint carried to the peer on the
 *     existing message path, rm_connect there; both sides connect);
 *   - posts one-sided writes and reads into a peer's registered regions
 *     (rm_post_write, rm_post_read) and learns their fate from completions (rm_poll);
 *   - grants one peer write access to its own regions (rm_grant) and takes it back
 *     (rm_revoke). This per-peer switch is what fences an old leader (Mu, OSDI'20, 4.2:
 *     a follower lets exactly one leader write its log). libfabric and UCX do not expose
 *     it, which is why this interface exists rather than one of theirs.
 *
 * Backends (enum rm_backend):
 *   - shared memory (rm_shm.c): processes on one host. Regions are POSIX shared memory
 *     objects named per cluster and node; a write is a memcpy by the WRITER's CPU into
 *     the target's mapping, done when the writer polls (the writer plays the NIC), so the
 *     target's CPU takes no part. Always built. Fault injection (rm_faults) for tests.
 *   - verbs (rm_verbs.c, built when meson finds libibverbs): RC queue pairs over RoCE v2
 *     (GID addressing) or InfiniBand. rm_verbs_built() says whether it is in the binary.
 *
 * What a completion means.
 *   - A write completing RM_WC_SUCCESS has placed all of its bytes in the target's
 *     region (verbs: the responder acknowledged it; RC orders it before the completion
 *     of any later operation on the same connection). It says nothing about the target
 *     having looked at them, and nothing about persistence.
 *   - A write completing with any error may have placed none, some or all of its bytes
 *     (a torn write): the RDMA specification does not order a write's bytes, so readers
 *     of the region must check a checksum, never a trailing canary.
 *   - RM_WC_REM_ACCESS_ERR: the target refused: no write permission for this peer
 *     (revoked or never granted), a stale or wrong region key, or out of the region's
 *     bounds. Nothing of that write landed.
 *   - RM_WC_RETRY_EXC_ERR: the target did not answer within the retry budget (dead,
 *     partitioned, its end reset). Bytes may have landed (torn).
 *   - RM_WC_FLUSH_ERR: posted after, and on the same connection as, a failed operation;
 *     never attempted.
 *   After any error completion the connection to that peer is in RM_PEER_ERROR: posts
 *   answer -ENOTCONN, every operation still queued on it completes with RM_WC_FLUSH_ERR,
 *   and rm_connect (with a fresh endpoint from the peer, who reconnects too) brings it
 *   back. Error completions are delivered for unsignaled operations as well.
 *
 * Signalling. An operation posted without RM_WR_SIGNALED produces no completion when it
 * succeeds; a later signaled completion on the same peer retires it (RC completes in
 * order). The context signals an operation by itself when a peer's queue would otherwise
 * fill with unsignaled work (every sq_depth/2 posts): a caller may receive a successful
 * completion for a wr_id it posted unsignaled. Reads are always signaled.
 *
 * Inline. With RM_WR_INLINE and len <= rm_max_inline(ctx) the bytes are copied at post time
 * and src may be reused at once; otherwise src must lie in a region this context
 * registered and must not change until the operation completes (or a later signaled one
 * on the same peer does).
 *
 * Revoke. shm: after rm_revoke(ctx, p) returns 0, no write from p lands in this node's
 * regions, including any p had already posted: the revoke waits until copies p has
 * begun are done; later ones complete at p with RM_WC_REM_ACCESS_ERR. verbs: the QP's
 * access flags lose remote write (or, if the device refuses that, the QP is reset);
 * packets arriving after that are refused (p sees RM_WC_REM_ACCESS_ERR, or
 * RM_WC_RETRY_EXC_ERR after a reset), but a multi-packet write whose first packets
 * were accepted before may have placed part of its bytes (torn: the checksum covers
 * it). Reads stay allowed. rm_revoke returns -ETIMEDOUT (shm: a writer stalled in the
 * middle of a copy past conf.revoke_wait_us) or -EIO (verbs: neither the access change
 * nor the reset worked) when it could not fence p: the caller must then not rely on p
 * being fenced.
 * Memory and bounds: rm_open allocates every queue (sq_depth per peer, cq_depth, the
 * inline buffers); rm_region_reg allocates and registers a region (control path, before
 * peers connect). The data path (rm_post_write, rm_post_read, rm_poll) allocates
 * nothing, takes no lock and makes no system call; rm_poll handles at most RM_POLL_MAX
 * completions and (shm) executes a bounded number of queued operations.
 * Threads: a context is used by one thread (_st). The only state shared across threads
 * or processes is the registered memory itself and (shm) each node's control page,
 * whose fields are atomics (rm_shm.c says which pairs with which).
 * Return contract: int functions return 0 or -errno; rm_poll returns a count;
 * rm_open returns NULL, sets errno and writes a message naming the cause and the fix.
 */
#ifndef RM_H
#define RM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Node ids a context can connect to: 0..RM_PEERS_MAX-1 (the largest cluster). */
#define RM_PEERS_MAX 9u
/** Regions one context registers at most. */
#define RM_REGIONS_MAX 4u
/** Operations queued per peer at most (conf.sq_depth <= this). */
#define RM_SQ_DEPTH_MAX 1024u
/** Completion queue entries at most (conf.cq_depth <= this). */
#define RM_CQ_DEPTH_MAX 4096u
/** Completions one rm_poll returns at most. */
#define RM_POLL_MAX 64u
/** Largest inline write (conf.max_inline <= this). */
#define RM_INLINE_MAX 256u
/** Longest cluster name (shm object names are derived from it). */
#define RM_NAME_MAX 32u

_Static_assert(RM_SQ_DEPTH_MAX >= 2u, "selective signalling needs room for two halves");
_Static_assert(RM_POLL_MAX <= RM_CQ_DEPTH_MAX, "a poll never asks for more than the CQ holds");

enum rm_backend {
	RM_BACKEND_SHM = 1,      /**< shared memory between processes on one host */
	RM_BACKEND_VERBS = 2,    /**< libibverbs RC QPs (rm_verbs_built() tells if built) */
};

enum rm_op { RM_OP_WRITE = 1, RM_OP_READ = 2 };

/** The fate of one operation (see "What a completion means" above). */
enum rm_status {
	RM_WC_SUCCESS = 0,
	RM_WC_REM_ACCESS_ERR = 1,  /**< the target refused: permission, key or bounds */
	RM_WC_RETRY_EXC_ERR = 2,   /**< no answer within the retry budget; may be torn */
	RM_WC_FLUSH_ERR = 3,       /**< not attempted: the connection had failed before */
	RM_WC_LOCAL_ERR = 4,       /**< this side's fault (verbs: local length/protection) */
	RM_WC_OTHER_ERR = 5,       /**< anything else the device reported */
};

enum rm_peer_state {
	RM_PEER_IDLE = 0,        /**< never connected (or closed) */
	RM_PEER_CONNECTED = 1,   /**< operations may be posted */
	RM_PEER_ERROR = 2,       /**< an operation failed; rm_connect again to recover */
};

/** rm_post_write flags. */
#define RM_WR_SIGNALED 0x1u  /**< produce a completion on success too */
#define RM_WR_INLINE 0x2u    /**< copy the bytes at post time (len <= rm_max_inline(ctx)) */

/** Deterministic fault injection (shm backend). Rates are per million operations. */
struct rm_faults {
	uint64_t seed;           /**< one seed decides every fault */
	uint32_t drop_ppm;       /**< nothing lands, RM_WC_RETRY_EXC_ERR */
	uint32_t torn_ppm;       /**< a prefix lands, RM_WC_RETRY_EXC_ERR */
	uint32_t delay_ppm;      /**< the operation waits 1..delay_polls_max polls */
	uint32_t delay_polls_max;
	/** A write stalls stall_us in the middle of its copy, after the permission check
	 *  (a slow or stopped writer: what rm_revoke must wait for). */
	uint32_t stall_ppm;
	uint32_t stall_us;
};

struct rm_conf {
	enum rm_backend backend;
	uint32_t self;           /**< this node's id, < RM_PEERS_MAX */
	uint32_t sq_depth;       /**< operations queued per peer, 2..RM_SQ_DEPTH_MAX */
	uint32_t cq_depth;       /**< completions held, >= sq_depth, <= RM_CQ_DEPTH_MAX */
	uint32_t max_inline;     /**< largest inline write, <= RM_INLINE_MAX: asked; verbs may take less (rm_max_inline) */
	/** How long rm_revoke waits for a peer's writes in progress (shm), microseconds. */
	uint32_t revoke_wait_us;
	/* shm */
	const char *cluster;     /**< names the shm objects: [A-Za-z0-9_-], < RM_NAME_MAX */
	struct rm_faults faults;
	/* verbs */
	const char *device;      /**< e.g. "mlx5_0"; NULL: the first device found */
	uint8_t port;            /**< device port, usually 1 */
	uint8_t gid_index;       /**< RoCE v2 GID table index (show_gids names it) */
	/** Local ACK timeout exponent: 4.096 us * 2^timeout per attempt (0: default 8,
	 *  1.05 ms), and how many retries (retry_cnt, 0..7; default 2 when timeout is 0). */
	uint8_t timeout;
	uint8_t retry_cnt;
};

/** What a peer needs to address one of this node's regions. Carried on the message
 *  path; the fields are plain integers so the codec can put them on the wire. */
struct rm_region_desc {
	uint64_t addr;           /**< verbs: virtual address; shm: 0 */
	uint64_t len;
	uint32_t rkey;           /**< verbs: the MR's rkey; shm: a per-region random key */
	uint32_t owner;          /**< the node that registered it */
	uint32_t index;          /**< which of the owner's regions */
};

/** A registered local region. */
struct rm_region {
	void *base;              /**< zeroed, page aligned, len bytes, owned by the context */
	size_t len;
	struct rm_region_desc desc;
};

/** One end of a connection, handed to the peer for its rm_connect. */
struct rm_endpoint {
	uint32_t node;           /**< the sender's id */
	uint32_t qpn;            /**< verbs: the QP number for this peer; shm: 0 */
	uint32_t psn;            /**< verbs: the starting packet sequence number */
	uint16_t lid;            /**< InfiniBand only; 0 on RoCE */
	uint8_t mtu;             /**< enum ibv_mtu of the local port; 0 on shm */
	uint8_t gid[16];         /**< RoCE v2: the local GID at conf.gid_index */
};

/** One completion. */
struct rm_wc {
	uint64_t wr_id;          /**< as posted */
	uint32_t peer;
	uint32_t len;            /**< bytes of the operation */
	enum rm_op op;
	enum rm_status status;
};

/** Counters of one context. wc_* count outcomes as this side learned them: the verbs
 *  backend never learns of an unsignaled success (its wc_ok counts completions), the
 *  shm backend executes every operation itself and counts them all. */
struct rm_stats {
	uint64_t writes_posted, reads_posted, signaled_forced;
	uint64_t wc_ok, wc_rem_access, wc_retry_exc, wc_flush, wc_other;
	uint64_t grants, revokes, revoke_resets, revoke_timeouts, connects;
	uint64_t inline_lowered;   /**< verbs: the device took less inline than asked */
	/* shm fault injection */
	uint64_t faults_dropped, faults_torn, faults_delayed, faults_stalled;
};

struct rm_ctx;

/** True if this binary has the verbs backend (built with libibverbs). */
bool rm_verbs_built(void);

/**
 * Opens a context (allocates every queue).
 * @param err  receives a message naming the cause and the fix on failure
 * @return the context, or NULL with errno set (ENODEV: no RDMA device; EINVAL: conf).
 */
struct rm_ctx *rm_open(const struct rm_conf *conf, char *err, size_t errlen);
/** Closes the context: destroys connections, unregisters and frees regions (shm: unmaps
 *  and unlinks this node's objects). NULL is allowed. */
void rm_close(struct rm_ctx *ctx);

/** Allocates and registers a zeroed region of len bytes (rounded up to a page);
 *  remote-readable by connected peers, remote-writable by the granted ones. */
int rm_region_reg(struct rm_ctx *ctx, size_t len, struct rm_region *out);
/** The largest write RM_WR_INLINE takes on this context: conf.max_inline, or less where
 *  the device gave less (verbs: asked for and halved while ibv_create_qp refuses). */
uint32_t rm_max_inline(const struct rm_ctx *ctx);

/** This node's end of the connection to peer, to be sent to it. */
int rm_endpoint_get(struct rm_ctx *ctx, uint32_t peer, struct rm_endpoint *out);
/** Connects (or reconnects, after RM_PEER_ERROR) to peer. Shm: the peer's context must
 *  exist and have registered its regions (-ENOENT otherwise). Requests still queued
 *  on the old connection complete as flushed first (-EBUSY if the completion queue has
 *  no room for them: poll, then connect again). It also resets this end: whatever the
 *  peer posted to this node before it connects again fails (RM_WC_RETRY_EXC_ERR at the
 *  peer) and lands nothing, even if this node grants it write access meanwhile (verbs:
 *  the QP's reset and a fresh PSN drop the old packets; shm: a connection generation in
 *  the control page). Verbs: remote is the
 *  peer's endpoint; the QP goes RESET -> INIT -> RTR -> RTS. Write permission for the
 *  peer is whatever rm_grant/rm_revoke last set (initially revoked). */
int rm_connect(struct rm_ctx *ctx, uint32_t peer, const struct rm_endpoint *remote);
enum rm_peer_state rm_peer_state(const struct rm_ctx *ctx, uint32_t peer);

/** Lets peer write this node's regions. Does not revoke anyone else: a follower that
 *  must be written by one leader only revokes the old one first. */
int rm_grant(struct rm_ctx *ctx, uint32_t peer);
/** Takes write access from peer (see "Revoke" above). */
int rm_revoke(struct rm_ctx *ctx, uint32_t peer);

/** Posts a one-sided write of len bytes (1..remote->len) from src to remote + off.
 *  @return 0; -ENOTCONN (peer not connected or in error); -ENOBUFS (peer's queue full:
 *  poll); -EINVAL (arguments: src not registered and not inline, bounds, flags). */
int rm_post_write(struct rm_ctx *ctx, uint32_t peer, uint64_t wr_id, const void *src,
		  uint32_t len, const struct rm_region_desc *remote, uint64_t off,
		  unsigned flags);
/** Posts a one-sided read of len bytes from remote + off into dst (in a registered
 *  region). Always signaled. Returns as rm_post_write. */
int rm_post_read(struct rm_ctx *ctx, uint32_t peer, uint64_t wr_id, void *dst,
		 uint32_t len, const struct rm_region_desc *remote, uint64_t off);
/** Progresses and returns up to max (clamped to RM_POLL_MAX) completions. max 0:
 *  progress only (shm: executes what is queued, as the NIC would meanwhile; its
 *  completions wait for the next call). */
unsigned rm_poll(struct rm_ctx *ctx, struct rm_wc *wc, unsigned max);

/** Replaces the fault injection settings (shm; -ENOTSUP on verbs). */
int rm_faults_set(struct rm_ctx *ctx, const struct rm_faults *faults);
const struct rm_stats *rm_stats(const struct rm_ctx *ctx);
const char *rm_status_str(enum rm_status s);

/** Unlinks every shm object of (cluster, node), whoever made them: cleanup after a
 *  crash or a failed test. Returns how many it removed. */
int rm_shm_unlink_node(const char *cluster, uint32_t node);

#endif /* RM_H */
