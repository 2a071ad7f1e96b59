/* SPDX-License-Identifier: Apache-2.0
 * node: THE embedder (prefix node_). One replica, its applier and service, and
 * everything between them and the world: decoding what arrives, the client requests
 * queued for proposal, the read-index queue, the client address table, the
 * persistence pipeline, applying and replying. The daemon (dataplane/), the simulator
 * (tests/sim/) and the in-process harness (tests/harness/) run this same code; they
 * differ only in the ops table they hand it (etcd's one RawNode; TigerBeetle's replica
 * generic over its storage and message bus). docs/architecture.md draws it.
 *
 * What arrives (the embedder calls):
 *   node_recv     a datagram (a peer's message or a client's request), with where it
 *                 came from; says whether a queued command now points into it
 *   node_flush    propose the commands queued since the last flush (whatever arrived,
 *                 up to batch_cmds_max, at which node_recv proposes by itself); the
 *                 datagrams they point into may be released once the queue is empty
 *   node_tick     one logical tick of the core's timers
 *   node_persisted  storage finished a sync (durable mode)
 * What it does to the world (struct node_ops): transmit a datagram to a peer or a
 * client, append to and sync the journal, read a clock (metrics), log.
 *
 * Memory: node_init carves everything from one arena (node_arena_bytes), the replica's
 * and the applier's included; nothing is allocated later. One thread calls a node.
 */
#ifndef NODE_H
#define NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "px.h"
#include "px_apply.h"
#include "px_codec.h"

/* ---------------------------------------------------------------------------------- */
/* Bounds                                                                              */

/** Bytes of a client's address as the I/O layer names it (opaque here). */
#define NODE_ADDR_BYTES 24u
/** Client requests queued between two node_flush calls at most. */
#define NODE_QUEUE_MAX PX_BATCH_CMDS_MAX
/** Read-index reads held at the leader at most (waiting for their round and apply). */
#define NODE_READS_MAX 256u
/** Client address table: probes per lookup (open addressing, bounded). */
#define NODE_CLIENT_PROBES 8u
/** Smallest client address table (entries, a power of two). */
#define NODE_CLIENTS_MIN 64u
/** Commit-latency histogram: bucket b counts commits that took [2^b, 2^(b+1)) ns from
 *  the leader's propose to its commit (the last bucket: 2^31 ns and more). */
#define NODE_LAT_BUCKETS 32u

_Static_assert(NODE_QUEUE_MAX <= PX_BATCH_CMDS_MAX, "one queue fits one px_propose");
_Static_assert((NODE_CLIENTS_MIN & (NODE_CLIENTS_MIN - 1)) == 0, "a power of two");
_Static_assert(NODE_CLIENT_PROBES <= NODE_CLIENTS_MIN, "probes stay within the table");

/* ---------------------------------------------------------------------------------- */
/* The world, as the embedder sees it                                                  */

/** A client's address as the I/O layer names it: stored and handed back, never read. */
struct node_addr {
	uint8_t b[NODE_ADDR_BYTES];
};

/** Where a datagram goes: a peer replica, or a client. */
struct node_dst {
	uint8_t peer;                    /**< replica id, or NODE_TO_CLIENT */
	const struct node_addr *client;  /**< the client, when peer == NODE_TO_CLIENT */
};
#define NODE_TO_CLIENT 0xffu

enum node_log { NODE_LOG_ERROR = 0, NODE_LOG_WARN = 1, NODE_LOG_INFO = 2, NODE_LOG_DEBUG = 3 };

/** What the node does to the world. Every function runs on the node's thread. */
struct node_ops {
	/**
	 * A transmit buffer for one datagram to dst, *cap bytes (at least
	 * PX_DGRAM_BYTES_MAX: a message and its trailer), or NULL if none can be had now (the datagram is dropped and
	 * counted: the protocol tolerates loss). The node writes it, then tx_commit.
	 */
	uint8_t *(*tx_buf)(void *ctx, const struct node_dst *dst, uint32_t *cap);
	/** Queues the buffer tx_buf returned last: len bytes to dst. */
	void (*tx_commit)(void *ctx, const struct node_dst *dst, uint32_t len);

	/* The journal (durable mode; NULL in memory mode, where the core asks nothing).
	 * One persist request of the core is: promise, then each changed slot, then sync.
	 * The journal copies what it is given (the values live in the replica's log and
	 * change later) and calls node_persisted(seq) once everything up to that sync is
	 * on stable storage. Storage failures are the journal's to handle (stop the
	 * process: a replica that cannot keep its promises must not vote). */
	void (*journal_promise)(void *ctx, uint64_t ballot);
	void (*journal_slot)(void *ctx, uint64_t slot, uint64_t vballot, const uint8_t *value,
			     uint32_t len);
	/** commit: every slot <= it is chosen (recorded for the restart's replay). */
	void (*journal_sync)(void *ctx, uint64_t seq, uint64_t commit);
	/** Within a persist request, after the promise, when the crash vector changed: n
	 *  incarnations to keep (the newest written is handed back at a restart:
	 *  node_journal.incarnation). Required in durable mode. */
	void (*journal_incarnation)(void *ctx, const uint32_t *inc, uint32_t n);

	/** Monotonic nanoseconds, for metrics only (the core's time is node_tick). */
	uint64_t (*now_ns)(void *ctx);
	/** One line of log at level (enum node_log); NULL: none. */
	void (*log)(void *ctx, int level, const char *line);
	/** PX_ADMIN_STATS: page `page` of the embedder's metrics, a JSON object, into buf
	 *  (at most cap bytes, PX_REPLY_BYTES_MAX); its length, 0 if there is no such
	 *  page. NULL, or 0: answered BAD_COMMAND. */
	uint32_t (*admin_stats)(void *ctx, uint8_t page, char *buf, uint32_t cap);
	/** A client's address as text, for the log (admin actions name who asked); NULL:
	 *  its first bytes in hex. */
	void (*addr_name)(void *ctx, const struct node_addr *a, char *buf, size_t cap);

	/**
	 * Durable mode (NULL: snapshots stay in memory): keep this snapshot of the applied
	 * state after `slot` on stable storage (content hash `id`). The node leaves buf
	 * unchanged until the embedder calls node_snapshot_saved; the journal may be
	 * compacted below slot once it is saved. Called from the node's thread; the
	 * writing must not block it (a storage thread).
	 */
	void (*snapshot_save)(void *ctx, uint64_t slot, uint64_t id, const uint8_t *buf,
			      size_t len);

	/**
	 * Membership (NULL: peers are the I/O layer's own table): the applied log (or a
	 * snapshot) says replica id is reached at addr (the text `pwctl add-member` gave,
	 * NUL-terminated, at most PX_CONF_ADDR_BYTES - 1 characters). Called again for
	 * every configuration that takes; the I/O layer resolves it (or, if it cannot
	 * reach an added peer, leaves tx_buf to refuse it: counted tx_no_buf).
	 */
	void (*peer_addr)(void *ctx, uint8_t id, const char *addr);
};

/** Which call into the core a step was (observers). */
enum node_call {
	NODE_CALL_STEP,       /**< px_step of a peer's message */
	NODE_CALL_TICK,
	NODE_CALL_PROPOSE,
	NODE_CALL_PERSISTED,
	NODE_CALL_READ,       /**< px_read_begin */
	NODE_CALL_TRANSFER,   /**< px_transfer_leadership */
	NODE_CALL_INSTALL,    /**< px_state_installed (a snapshot) */
	NODE_CALL_RM,         /**< px_step of a message the remote-memory transport made:
	                           an ACCEPT taken from this replica's log region, or an
	                           ACCEPTED built from write completions */
};

/**
 * Observers of what the node does (tests and the simulator; all NULL in the daemon).
 * They see, never change: the simulator checks its properties here.
 */
struct node_observer {
	/** After each call into the core, its effects handled but the committed range not
	 *  applied yet. in: the peer message (NODE_CALL_STEP, NODE_CALL_RM), else NULL. */
	void (*step)(void *ctx, enum node_call call, const struct px_msg *in,
		     const struct px_out *out);
	/** Around each applied slot (the service runs in between). */
	void (*apply_begin)(void *ctx, uint64_t slot, const uint8_t *value, uint32_t len);
	void (*apply_end)(void *ctx, uint64_t slot, const struct px_apply_out *out);
	/** State transfer: the applier was restored from a snapshot of the state after
	 *  slot (the replica installed it: every slot <= it is applied here). */
	void (*installed)(void *ctx, uint64_t slot);
	/** A read-index read got its ticket; and was served (reply, status) from the state
	 *  at applied slot `applied`. */
	void (*read_begin)(void *ctx, uint64_t ticket, uint64_t index);
	void (*read_served)(void *ctx, uint64_t ticket, uint64_t index, uint64_t applied,
			    uint64_t client_id, uint64_t seq, uint8_t status, const uint8_t *reply,
			    uint32_t len);
	/** The remote-memory transport polled its context: the writes this replica had
	 *  in flight that were going to land have landed, and their completions are not
	 *  counted yet (a checker looks at every follower's region here: node_rm_landed). */
	void (*rm_polled)(void *ctx);
	void *ctx;
};

/* ---------------------------------------------------------------------------------- */
/* Configuration and life                                                              */

struct node_conf {
	struct px_config px;       /**< the replica's (px_config_check must accept it) */
	uint32_t sessions;         /**< client sessions the applier keeps */
	/** Read-index reads held at most (<= NODE_READS_MAX); 0: every read goes through
	 *  the log as a command. */
	uint32_t reads_max;
	/** Commands queued between flushes at most (<= NODE_QUEUE_MAX); a request beyond
	 *  it is answered BUSY. The node also proposes by itself once batch_cmds_max
	 *  commands are queued. */
	uint32_t queue_max;
	/**
	 * Snapshots and state transfer (docs/storage.md): one buffer of snapshot_bytes
	 * (>= px_snapshot_bytes_max of the applier; the embedder's memory, untouched
	 * pages cost nothing) holds the snapshot this replica serves to peers, or the one
	 * it receives. NULL / 0: no state transfer (a replica that falls behind the
	 * cluster's window cannot heal, and says so).
	 */
	uint8_t *snapshot_buf;
	size_t snapshot_bytes;
	/** Snapshot chunks (PX_SNAP_CHUNK_BYTES each) a receiving replica asks for per
	 *  tick, and twice that a serving one sends: the transfer's rate limit
	 *  (0: NODE_TRANSFER_CHUNKS_DEFAULT). */
	uint32_t transfer_chunks_per_tick;
	/** Take (and, with ops->snapshot_save, save) a snapshot every this many applied
	 *  slots; 0: only when a peer asks for one. */
	uint64_t snapshot_every;
	/**
	 * The cluster uuid (docs/protocol.md, "Cluster uuid"). fresh: this is the first
	 * start of a new cluster (paxwired --bootstrap): until the log binds a uuid, this
	 * replica's messages carry the fresh mark, and a peer that knows it as a member
	 * refuses it (node_refused). bind: the uuid this replica writes into the log if it
	 * leads while none is bound; random from the embedder (an id: px_uuid_is_id;
	 * paxwired and pw-sim give one). Zero: this replica binds none (the core's
	 * scripted tests, whose traces hold no bind slot); it still takes a bound one.
	 */
	bool fresh;
	struct px_uuid bind;
	/**
	 * Authentication (docs/security.md). keys: the cluster key file's master keys
	 * (kind cluster; copied); NULL: off (`auth = off`: every datagram is taken as it
	 * is, the lab only). With keys, every datagram carries a trailer (auth.h) checked
	 * before decode, and this replica's carry one sealed for their receiver.
	 * auth_life: this start's life (auth_life_now), above every earlier start's: the
	 * peers drop the older lives' datagrams. auth_clients: client lives kept at once
	 * (a power of two; 0: NODE_AUTH_CLIENTS_DEFAULT), each with its replay window.
	 */
	const struct auth_keys *keys;
	uint64_t auth_life;
	uint32_t auth_clients;
	/**
	 * Membership: NULL if the I/O layer can reach a peer added at run time
	 * (ops->peer_addr); else why it cannot (a memif mesh: one port per peer, fixed at
	 * start), which node_add_member's refusal names (-EPERM) and PX_ADMIN_ADD answers.
	 */
	const char *members_fixed;
	/**
	 * The remote-memory log transport (docs/rdma.md; rdma/rm.h): NULL, the message
	 * path only. Else a context the embedder opened (rm_open: shared memory or verbs,
	 * conf.self = this replica's id; it stays the embedder's to close after the node
	 * is done): as leader, this replica writes its ACCEPTs into each follower's log
	 * region and counts a follower when the write completes; as follower, it lets
	 * exactly the leader it promised write its region, and takes what lands from
	 * there. Setup (RM messages), election, recovery, catch-up, state transfer and
	 * membership stay on the message path. Memory durability only. The embedder calls
	 * node_rm_poll every loop iteration.
	 */
	struct rm_ctx *rm;
	/** Records in this replica's log region (a power of two, 8..NODE_RM_RING_MAX; 0:
	 *  NODE_RM_RING_DEFAULT). Each holds one encoded ACCEPT. */
	uint32_t rm_ring;
};

/** Remote-memory log transport bounds (docs/rdma.md). */
#define NODE_RM_RING_DEFAULT 64u
#define NODE_RM_RING_MAX 1024u
/** Writes a leader keeps in flight per follower at most (and rm_conf.sq_depth at least). */
#define NODE_RM_INFLIGHT 32u
struct rm_ctx;

/** Default and largest auth_clients. */
#define NODE_AUTH_CLIENTS_DEFAULT 1024u
#define NODE_AUTH_CLIENTS_MAX 65536u

/** Default transfer_chunks_per_tick, and the most it may be (px_limits.h). */
#define NODE_TRANSFER_CHUNKS_DEFAULT PX_TRANSFER_CHUNKS_DEFAULT
#define NODE_TRANSFER_CHUNKS_MAX PX_TRANSFER_CHUNKS_MAX

/** Counters (all monotonic). */
struct node_counters {
	uint64_t decode_drops[PX_WIRE_E_MAX];  /**< by enum px_wire_err */
	uint64_t unexpected;       /**< a REPLY sent to a replica: dropped */
	uint64_t steps;            /**< messages given to px_step */
	uint64_t msgs_in[PX_MSG_TYPE_MAX];  /**< decoded messages by type (enum px_msg_type) */
	uint64_t requests;         /**< REQUESTs decoded */
	uint64_t duplicates;       /**< a REQUEST already queued or held: dropped */
	uint64_t proposed;         /**< commands px_propose took */
	uint64_t flushes;          /**< flushes that proposed commands */
	uint64_t batch_max;        /**< most commands one flush proposed (<= batch_cmds_max) */
	uint64_t not_leader;       /**< REPLY PX_NOT_LEADER sent */
	uint64_t busy;             /**< REPLY PX_BUSY sent (pipeline or queue full) */
	uint64_t replies;          /**< REPLYs of applied commands sent */
	uint64_t reply_no_addr;    /**< applied reply for a client whose address is unknown */
	uint64_t tx_no_buf;        /**< datagrams not sent for want of a buffer */
	uint64_t ticks;
	uint64_t role_changes;
	uint64_t reads_index;      /**< reads served by read index (no log slot) */
	uint64_t reads_logged;     /**< reads sent through the log (session not held, or the
	                                leader not ready for read index) */
	uint64_t reads_failed;     /**< held reads answered NOT_LEADER (leadership lost) */
	uint64_t admin;            /**< admin REQUESTs (PX_MF_ADMIN) answered */
	uint64_t registers;        /**< registrations (PX_MF_REGISTER) queued to propose */
	uint64_t bad_requests;     /**< REQUESTs that are no command, answered BAD_COMMAND
	                                at once, never logged: seq 0 without REGISTER (a
	                                probe), or a REGISTER with a seq, a body or nonce 0 */
	uint64_t persists;         /**< persist requests handed to the journal */
	uint64_t client_evictions; /**< client addresses overwritten in the table */
	/* Snapshots and state transfer. */
	uint64_t snapshots_taken;  /**< snapshots written into the buffer */
	uint64_t snapshot_ns_last; /**< how long the last one stopped the loop */
	uint64_t snapshot_ns_max;  /**< the longest such pause */
	uint64_t snapshot_bytes_last;
	uint64_t snapshots_saved;  /**< confirmed by node_snapshot_saved */
	uint64_t st_started;       /**< state transfers begun (this replica needed one) */
	uint64_t st_installed;     /**< snapshots installed */
	uint64_t st_chunks_in;     /**< chunks taken into the buffer */
	uint64_t st_bytes_in;
	uint64_t st_chunks_out;    /**< chunks served */
	uint64_t st_bytes_out;
	uint64_t st_requests_out;  /**< SNAP_REQs sent */
	uint64_t st_refused;       /**< SNAP_REQs answered SNAP_NONE */
	uint64_t st_throttled;     /**< SNAP_REQs not answered: this tick's budget spent */
	uint64_t st_none_in;       /**< SNAP_NONE answers received */
	uint64_t st_bad_chunk;     /**< chunks dropped: not the snapshot being fetched,
	                                misaligned, or beyond the buffer */
	uint64_t st_late_chunks;   /**< chunks dropped: no transfer under way (answers to
	                                requests of one already installed, or stray ones) */
	uint64_t st_hash_mismatch; /**< whole snapshots whose content hash disagreed */
	uint64_t st_restore_failed;/**< snapshots the applier refused (px_applier_restore) */
	uint64_t st_stale;         /**< snapshots too old to install when complete */
	uint64_t st_source_switches; /**< another replica asked after silence or SNAP_NONE */
	uint64_t st_misaddressed;  /**< SNAP_REQ/SNAP_CHUNK for another replica, or from a
	                                replica of no configuration known (removed): dropped */
	/* The cluster uuid (docs/protocol.md, "Cluster uuid"). */
	uint64_t uuid_other;       /**< peer messages of another cluster's uuid: dropped */
	uint64_t fresh_refused;    /**< fresh-marked messages of a known member: dropped,
	                                answered REFUSE */
	uint64_t refuse_in;        /**< REFUSEs received (acted on when this start is fresh) */
	uint64_t binds_proposed;   /**< bind commands this replica proposed as leader */
	uint64_t members_proposed; /**< member masks this replica proposed as leader */
	uint64_t conf_proposed;    /**< membership changes proposed here (add, remove,
	                                promotions) */
	uint64_t promotions;       /**< learners this leader proposed to promote */
	/* Authentication (docs/security.md). */
	uint64_t auth_drops[AUTH_E_MAX];  /**< datagrams dropped before decode, by
	                                       enum auth_err */
	uint64_t auth_lives;       /**< client lives taken into the table */
	uint64_t auth_evictions;   /**< client lives evicted to make room */
	uint64_t auth_reply_lost;  /**< replies not sent: the client life's entry was
	                                evicted since (its retry makes it again) */
	uint64_t auth_challenges;  /**< client datagrams sealed without this replica's life
	                                (AUTH_TF_CHALLENGE): answered, not acted on */
	uint64_t auth_owner_other; /**< REQUESTs of a session another key registered
	                                (answered SESSION_EXPIRED), or REGISTERs whose
	                                nonce does not carry their key's tag (BAD_COMMAND) */
	uint64_t commit_lat[NODE_LAT_BUCKETS];  /**< leader: slots by commit latency, log2
	                                             ns buckets [2^b, 2^(b+1)) (the last
	                                             one: 2^31 ns and over) */
	uint64_t commit_lat_sum_ns;               /**< the sum of those latencies */
};

struct node;

/** Bytes of arena node_init needs (0 if the configuration is refused). */
size_t node_arena_bytes(const struct node_conf *c);

/**
 * Builds a node in arena (len >= node_arena_bytes(c), any alignment). svc: the state
 * machine (its own memory is the caller's). ops: as above (journal ops required in
 * durable mode). obs: NULL, or observers. A memory-mode replica with c->px.restarted
 * starts recovering; a durable one starts from node_restore.
 * @return the node, or NULL with errno (EINVAL: a bad configuration, why set to a
 *         static string naming it; ENOSPC: arena too small).
 */
struct node *node_init(const struct node_conf *c, const struct px_service *svc,
		       const struct node_ops *ops, void *ctx, const struct node_observer *obs,
		       void *arena, size_t len, const char **why);

/** What a durable replica's journal holds, to restart from (node_restore). */
struct node_journal {
	/** A snapshot to start from (NULL: none): the state is restored from it, then the
	 *  journal's slots above its slot are replayed. */
	const uint8_t *snapshot;
	size_t snapshot_len;
	uint64_t promised;   /**< the last promise synced */
	uint64_t commit;     /**< the last commit point synced (every slot <= it chosen) */
	uint64_t hi;         /**< the highest slot it holds a value for */
	/** The newest crash vector it holds (n_inc entries; 0: none, all 0). */
	const uint32_t *incarnation;
	uint32_t n_inc;
	/** The value it holds for slot (the newest written): false if none. */
	bool (*slot)(void *jctx, uint64_t slot, uint64_t *vballot, const uint8_t **value,
		     uint32_t *len);
	void *jctx;
};

/** What node_restore did. */
struct node_restored {
	uint64_t replayed;   /**< slots applied to the state machine (the chosen prefix) */
	uint64_t restored;   /**< votes above it handed back to the replica */
	uint64_t history;    /**< chosen slots below it kept for catch-up */
	uint64_t rejected;   /**< slots the replica could not hold (px_restore_slot) */
};

/**
 * Durable mode, before the first node_recv or node_tick (never for a repair start,
 * c->px.restarted: that replica recovers from its peers instead): rebuilds the state machine by
 * applying the journal's chosen prefix (slots 1.. up to its commit point, while held),
 * hands the replica its promise and every vote above that, then as much history below
 * it as the window holds (newest first) so that it can serve catch-up. Observers see
 * the replayed slots applied, and the crash vector back (px_restore_incarnations).
 * @return 0, or -EINVAL (not durable mode, a repair start, a bad crash vector, or
 * called late).
 */
int node_restore(struct node *n, const struct node_journal *j, struct node_restored *r);

/** Authenticated mode: this start's life (node_conf.auth_life); 0 with auth off. */
uint64_t node_auth_life(const struct node *n);

/** The cluster uuid the applied log bound; all zero while none is. */
struct px_uuid node_uuid(const struct node *n);

/** Bit i: replica i is known as a member that ran in the bound cluster: heard with the
 *  uuid since this replica's start, or recorded so by the applied log (a leader writes
 *  the members it heard: px_applier_members). A first start of i is refused. */
uint32_t node_uuid_members(const struct node *n);

/**
 * Non-NULL when a peer refused this replica's fresh start (conf.fresh): a peer knows
 * it as a member of its running cluster, so this start forgot promises and votes.
 * The text names the peer, the cluster uuid and the fix; the embedder must stop the
 * process (docs/operations.md, "Bootstrap guard"). The node drops every message from
 * then on.
 */
const char *node_refused(const struct node *n);

/**
 * A replica of a NEW cluster seeded from a snapshot (a backup: paxwired --bootstrap
 * --restore), in either mode, before the first node_recv or node_tick: restores the
 * applier from the snapshot (px_applier_snapshot's bytes: the state, the client
 * sessions and the hash chain after its slot S) and starts the core with every slot
 * <= S chosen and applied (px_start_from): the next slot proposed is S + 1, and clients
 * whose sessions the snapshot holds go on with them. Every replica of the new cluster
 * must start from the same snapshot. A snapshot in conf.snapshot_buf is served to peers
 * as it is. Observers see `installed(S)`, then the step (NODE_CALL_INSTALL).
 * Durable mode: the core's first persist request, recording commit point S, goes to the
 * journal within this call (its sync completes as any other, node_persisted). Keep the
 * snapshot on stable storage first (a restart starts from it and the journal above it:
 * node_restore with it as j->snapshot).
 * @return 0; -EINVAL (the replica ran, restarted in memory mode, or was restored:
 *         nothing changed); -EBADMSG (not a snapshot, or the applier refused it: the
 *         applier is empty again, the core untouched).
 */
int node_start_from(struct node *n, const uint8_t *snapshot, size_t len);

/* ---------------------------------------------------------------------------------- */
/* Input                                                                               */

/**
 * A datagram arrived from src (the I/O layer's name for the sender: a client's address
 * is kept to reply to it). Decoded here; a malformed one is counted by reason and
 * dropped. A REQUEST that becomes a command is queued, pointing into buf, and the
 * queue is proposed by the next node_flush, or within this call once batch_cmds_max
 * commands are queued.
 * @return true when a queued command points into buf: its bytes must then stay valid
 *         until node_queued(n) is 0 again (the next flush, which may come within a
 *         later node_recv). false: nothing points into buf once this returns.
 */
bool node_recv(struct node *n, const uint8_t *buf, uint32_t len, const struct node_addr *src);

/** Proposes the queued commands (adaptive batching: whatever arrived); answers those
 *  the pipeline refused (BUSY, or NOT_LEADER). Their bytes are free afterwards. */
void node_flush(struct node *n);

/** One tick of the core's timers. */
void node_tick(struct node *n);

/** The journal finished sync `seq` (durable mode). */
void node_persisted(struct node *n, uint64_t seq);

/* ---------------------------------------------------------------------------------- */
/* Queries                                                                             */

const struct px_replica *node_replica(const struct node *n);
const struct px_applier *node_applier(const struct node *n);
const struct node_counters *node_counters(const struct node *n);
/** Commands queued for the next flush. */
uint32_t node_queued(const struct node *n);
/** Read-index reads held. */
uint32_t node_reads_held(const struct node *n);
/** The highest read ticket confirmed since the last role change (0: none). */
uint64_t node_read_confirmed(const struct node *n);
/** Replicas in the cluster, this one's id. */
uint8_t node_self(const struct node *n);

/**
 * The remote-memory log transport's work (no-op without conf.rm): completions of this
 * replica's writes (a leader counts the followers they reached) and the records
 * written into its log region (a follower takes them, in order, as its leader's
 * ACCEPTs). Call it every loop iteration. Returns what it handled (0: nothing to do).
 */
unsigned node_rm_poll(struct node *n);

/**
 * For a checker (pw-sim's oracle): visits, in order, the ACCEPTs that have landed whole
 * in this replica's log region from the leader it granted, at that leader's ballot,
 * and are not taken yet, without taking them. Under the remote-memory transport a
 * follower's acceptance is the landing (docs/consistency.md): its core takes the
 * record before it may promise another ballot. Returns how many it visited.
 */
unsigned node_rm_landed(struct node *n, void (*visit)(void *ctx, const struct px_msg *m),
			void *ctx);

/**
 * For a simulator's hostile fabric: writes into this replica's own log region, at the
 * next record it will take (only if that record has not landed), a record that is
 * whole (its seq, length and CRC32C hold: a checksum is no authentication) but not
 * its leader's: how 0, noise behind a paxwire header; 1, an authentic record it took
 * before, replayed at this seq. Authenticated mode must refuse both (record_drops).
 * true if it wrote one.
 */
bool node_rm_forge(struct node *n, unsigned how, uint64_t rnd);

/** The remote-memory transport's counters (all zero without conf.rm). */
struct node_rm_counters {
	uint64_t writes;           /**< leader: ACCEPTs written into a follower's region */
	uint64_t write_bytes;
	uint64_t inline_writes;    /**< leader: of those, small enough to post inline
	                                (rm_max_inline) */
	uint64_t completions;      /**< leader: writes that completed successfully */
	uint64_t counted;          /**< leader: acks derived from completions */
	uint64_t write_errors;     /**< leader: writes that completed with an error */
	uint64_t fallback;         /**< leader: ACCEPTs sent as datagrams to a follower the
	                                transport could not take (not granted, ring full,
	                                beyond its horizon, a write refused) */
	uint64_t reads;            /**< leader: reads of a follower's position */
	uint64_t hellos;           /**< leader: HELLOs sent */
	uint64_t grants_in;        /**< leader: GRANTs taken */
	uint64_t grants;           /**< follower: write access granted */
	uint64_t revokes;          /**< follower: write access taken back */
	uint64_t revoke_failed;    /**< follower: a revoke that could not fence (the promise
	                                it was for was not made) */
	uint64_t records;          /**< follower: records taken from its region */
	uint64_t record_bytes;
	uint64_t torn;             /**< follower: a record whose checksum failed (torn or
	                                landing; waited on) */
	uint64_t record_drops;     /**< follower: records dropped (not an ACCEPT of the
	                                granted leader at its ballot; bad length) */
	uint64_t setup_drops;      /**< RM messages dropped (stale, malformed, refused) */
	uint64_t errors;           /**< rm calls that failed on the control path */
	uint64_t quiet_acks;       /**< follower: ACCEPTEDs not sent in answer to records
	                                (their leader counts the completions instead) */
};
const struct node_rm_counters *node_rm_counters(const struct node *n);

/** Proposes commands directly, not from a client's REQUEST (tests, benchmarks): no one
 *  is answered. @return the number taken (px_propose), its effects handled. */
uint32_t node_propose(struct node *n, const struct px_cmd_ref *cmds, uint32_t k);

/** Starts a leadership transfer to target (px_transfer_leadership: 0, -EINVAL or
 *  -EAGAIN), its effects handled. */
int node_transfer(struct node *n, uint8_t target);

/**
 * Membership changes (docs/operations.md, "Membership changes"), at the leader; each
 * is one configuration entry (px_propose_members), effects handled.
 *   add:    id joins as a learner, reached at addr; the leader promotes it to voter
 *           once it is caught up (NODE_PROMOTE_LAG slots behind the commit point).
 *   remove: id leaves (voter or learner); if it leads, it hands over once the change
 *           is in force. At least three voters stay.
 * @return the slot proposed (> 0), or -EAGAIN (not leader; a change under way),
 *         -EINVAL (id out of range, already a member / no member, too many learners,
 *         too few voters left), -ENOTSUP (memory mode; px_propose_members), -EPERM
 *         (add: conf.members_fixed), -EEXIST (add: a replica ran with id in this
 *         cluster, px_applier_members: ids are never reused).
 */
int64_t node_add_member(struct node *n, uint8_t id, const char *addr);
int64_t node_remove_member(struct node *n, uint8_t id);
/** Any change at once (the simulator's: several members in or out in one entry, which
 *  the alpha window and the new phase 1 keep safe; operators add and remove one at a
 *  time). Addresses: the applied ones. Same returns. */
int64_t node_set_members(struct node *n, uint16_t voters, uint16_t learners);
/** Slots a learner may lag behind the commit point and be promoted. */
#define NODE_PROMOTE_LAG 64u

/** Begins a read-index read without a client (tests): its ticket, 0 if refused. */
uint64_t node_read_begin(struct node *n, uint64_t *read_index);

/* ---------------------------------------------------------------------------------- */
/* Snapshots and state transfer                                                        */

/** Durable mode: the snapshot handed to ops->snapshot_save for slot is on stable
 *  storage (ok) or could not be written (!ok); the buffer is the node's again. */
void node_snapshot_saved(struct node *n, uint64_t slot, bool ok);

/**
 * Takes a snapshot of the applied state now (it stops this thread for as long as the
 * service's snapshot() takes: counters snapshot_ns_last). @return 0; -ENOTSUP (no
 * buffer, or the service has no snapshots); -EBUSY (the buffer is being saved or
 * receives a state transfer).
 */
int node_snapshot_take(struct node *n);

/** The snapshot the buffer holds (a served or saved one): its slot (0: none). */
uint64_t node_snapshot_slot(const struct node *n, uint64_t *id, size_t *len);

/** True while this replica fetches a snapshot (px_needs_state_transfer). */
bool node_transferring(const struct node *n);

#endif /* NODE_H */
