/* SPDX-License-Identifier: Apache-2.0
 * pw-sim internals: a deterministic cluster simulator (TigerBeetle's VOPR, FoundationDB's
 * simulation testing) that runs the real consensus core, codec, applier and kv service
 * for N replicas and M clients over a simulated network, disk and clock.
 *
 * One u64 seed decides everything: topology, timeouts, workload and the fault mix
 * (swarm testing, Groce et al. ISSTA 2012: each seed enables its own subset of faults at
 * its own rates, which finds more bugs than every fault at once). A run is a fault phase
 * followed by a liveness phase; safety is checked after every step of either.
 *
 * Module map:
 *   sim_opts.c    seed -> struct sim_opts, and printing them
 *   sim_net.c     the network: bounded message pool, delivery heap, faults on links
 *   sim_node.c    the embedder loop of one replica: effects, disk, applier, requests
 *   sim_client.c  clients, the kv workload and the history for the linearizability check
 *   sim_check.c   cluster-wide safety checks (agreement, validity, exactly-once, ...)
 *   sim_run.c     one seed: fault schedule, phases, liveness, final hash
 *   sim_main.c    command line, parallel seed ranges (fork + pipes)
 */
#ifndef SIM_PVT_H
#define SIM_PVT_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node.h"
#include "px.h"
#include "px_apply.h"
#include "px_codec.h"
#include "svc_kv.h"
#include "sim_rng.h"

/* ---------------------------------------------------------------------------------- */
/* Bounds. Everything the simulator holds is bounded; these are the bounds.            */

/** Replicas: up to 7 voters at the start, and spares that join later (membership). */
#define SIM_NODES_MAX 9u
/** tick_every draws (the replicas a seed had before spares existed: its options stay). */
#define SIM_TICK_DRAWS 7u
/** Membership changes one seed may commit at most. */
#define SIM_CONFS_MAX 64u
#define SIM_CLIENTS_MAX 16u
/** Network endpoints: replicas 0..n-1, then clients n..n+m-1. */
#define SIM_EP_MAX (SIM_NODES_MAX + SIM_CLIENTS_MAX)
/** Messages in flight at once, the whole network. Beyond it a send is dropped. */
#define SIM_MSGS_MAX 8192u
/** Bytes of encoded messages in flight at once (size-classed pool carved from it). */
#define SIM_NET_BYTES (24u << 20)
/** Size classes of message buffers: 128 << k bytes for k < SIM_NET_CLASSES. */
#define SIM_NET_CLASSES 9u
/** Keys of the kv workload: few, so that clients conflict. */
#define SIM_KEYS_MAX 8u
/** Bytes of one encoded kv command the workload builds (key "kN", value "c.s"). */
#define SIM_CMD_BYTES_MAX 64u
/** Operations one client may issue in one seed (it stops issuing after that). */
#define SIM_OPS_PER_CLIENT_MAX 1024u
/** Client requests a leader queues between proposals (the node's queue_max). */
#define SIM_QUEUE_MAX 64u
/** REQUEST datagrams a replica keeps until the next proposal (a queued command points
 *  into its datagram), and the bytes of one. */
#define SIM_HELD_MAX (2u * SIM_QUEUE_MAX)
#define SIM_HELD_BYTES 296u   /* a REQUEST and its trailer */
/** Slots a seed may reach; a leader that goes beyond it is a runaway: the seed fails. */
#define SIM_SLOTS_MAX (1u << 16)
/** The simulated cluster's identity on the wire. */
#define SIM_CLUSTER_ID 0x70770001u
#define SIM_CONFIG_EPOCH 1u
/** Message storm check: at most SIM_STORM_PER_EP x endpoints deliveries per endpoint
 *  per time unit, averaged over SIM_STORM_WINDOW units. A healthy cluster delivers a
 *  few per endpoint per unit (heartbeats, one request and reply per client); a storm
 *  (a reply that triggers more than one new request) grows until the pool saturates. */
#define SIM_STORM_WINDOW 100u
#define SIM_STORM_PER_EP 16u
/** Persist requests a node may have in flight to its disk. */
#define SIM_PERSIST_MAX 256u
/** Read-index reads a leader holds until confirmed and applied (then BUSY): the node's
 *  reads_max, and the tickets the read oracle remembers. */
#define SIM_READS_MAX 64u
/** Read-index serves of one (client, seq) whose replies a client may accept. */
#define SIM_READ_SERVES_MAX 8u
/** Client sessions an applier holds at most (a seed may choose fewer: sim_node.c). */
#define SIM_SESSIONS_MAX (2u * SIM_CLIENTS_MAX)
/** Session ids the simulation can map back to their client (open addressing, load
 *  <= 1/2; beyond it the seed fails as over a simulator limit). */
#define SIM_SESSION_MAP (1u << 16)

_Static_assert(SIM_NODES_MAX <= PX_REPLICAS_MAX, "the core holds our largest cluster");
_Static_assert(SIM_EP_MAX < 64, "link matrix indexes fit");
_Static_assert((128u << (SIM_NET_CLASSES - 1)) >= PX_MSG_BYTES_MAX,
	       "the largest size class holds a maximal wire message");
_Static_assert(SIM_QUEUE_MAX <= NODE_QUEUE_MAX, "the node's queue holds ours");
_Static_assert(SIM_READS_MAX <= NODE_READS_MAX, "the node holds our reads");
_Static_assert(SIM_HELD_BYTES >= PX_WIRE_HDR_BYTES + 4u * PX_REPLICAS_MAX + 20u +
	       SIM_CMD_BYTES_MAX, "a workload REQUEST fits a held buffer");
_Static_assert((SIM_SESSION_MAP & (SIM_SESSION_MAP - 1)) == 0, "the map is a power of two");
_Static_assert(WIRE_KV_CMD_HDR_BYTES + 8 + 24 <= SIM_CMD_BYTES_MAX,
	       "a workload command fits its buffer");

/* --failover (sim_failover): one time unit is one microsecond, every link delivers in
 * SIM_FO_LINK_US, the replicas run the dedicated-core timer profile
 * (deploy/local-3-dedicated.ini: 10 us ticks, 50 us heartbeats, 500 us election
 * timeout), no fault but one crash of the leader under load, then, once the crashed
 * replica is back, one leadership transfer. Both are timed to the first commit by the
 * new leader (docs/testing.md, "Failover"). */
#define SIM_FO_LINK_US 5u
#define SIM_FO_TICK_US 10u
#define SIM_FO_HEARTBEAT_US 50u
#define SIM_FO_ELECTION_US 500u
#define SIM_FO_CRASH_US 3000u       /**< crash the leader this long after the start (+0..1 ms) */
#define SIM_FO_DOWN_US 3000u        /**< the crashed replica restarts after this */
#define SIM_FO_TRANSFER_US 7000u    /**< transfer this long after the crash (+0..1 ms) */
#define SIM_FO_TAIL_US 4000u        /**< fault phase goes on this long after that */
#define SIM_FO_CLIENT_US 200u       /**< a client resends to another replica after this */
#define SIM_FO_NO_VALUE UINT64_MAX  /**< a time not measured (the run never got there) */
extern bool sim_failover;

/* ---------------------------------------------------------------------------------- */
/* Options: everything derived from the seed.                                          */

/** Partition kinds (bit set: a seed enables some of them). */
enum sim_part {
	SIM_PART_ISOLATE = 1u << 0,  /**< one node loses every link */
	SIM_PART_SPLIT = 1u << 1,    /**< random two-way split of replicas and clients */
	SIM_PART_ASYM = 1u << 2,     /**< one node's links cut in one direction only */
	SIM_PART_SWIZZLE = 1u << 3,  /**< cut nodes one by one, heal in random order */
};

struct sim_opts {
	uint64_t seed;
	uint32_t bugs;                  /**< enum px_bug bit set (--bug): biases the faults */
	/** The bugs are planted in the replicas. false: a control run, same options (and
	 *  fault bias) with correct replicas, to tell a bug's failures from the core's. */
	bool planted;

	/* Topology and the core's configuration. */
	uint8_t n_replicas;             /**< the first voters, 0..n_replicas-1 */
	/** Replicas in all: the first voters, then spares (ids n_replicas..n_nodes-1)
	 *  that join as learners and are promoted, while voters are removed (members_pm;
	 *  durable mode only). Endpoints 0..n_nodes-1 are replicas. */
	uint8_t n_nodes;
	uint32_t members_pm;            /**< per mille per time unit of a membership change */
	uint8_t n_clients;
	enum px_durability durability;
	uint32_t heartbeat_ticks;
	uint32_t election_ticks;
	uint32_t window_slots;
	uint32_t pipeline_slots;
	uint32_t batch_cmds_max;
	uint32_t slot_bytes;

	/* Phases, in simulated time units. */
	uint32_t fault_time;
	uint32_t liveness_time;         /**< bound on the liveness phase */

	/* Network faults. */
	uint32_t loss_pm;               /**< per mille of sends lost, 0..300 */
	uint32_t dup_pm;                /**< per mille of sends duplicated, 0..500 */
	uint32_t delay_min;             /**< delivery delay, time units */
	uint32_t delay_max;             /**< > delay_min: messages reorder */
	uint32_t link_queue_max;        /**< messages in flight per directed link */

	/* Partitions. */
	uint32_t part_kinds;            /**< enum sim_part bit set; 0 = none */
	uint32_t part_gap_max;          /**< healthy time between partitions */
	uint32_t part_len_max;          /**< time a partition lasts */

	/* Crashes. */
	uint32_t crash_pm;              /**< per mille chance per time unit of a crash */
	uint32_t down_max;              /**< time a crashed node stays down */
	uint32_t leader_storm_pm;       /**< per mille of crashes aimed at the leader */
	uint32_t persist_delay_max;     /**< disk latency, time units (durable mode) */
	/* Snapshots and state transfer (a stream of their own: SIM_STREAM_SNAP). */
	uint32_t transfer_chunks;       /**< node_conf.transfer_chunks_per_tick, 1..16 */
	uint32_t snapshot_every;        /**< node_conf.snapshot_every; 0: on request only */

	/* Pauses and clocks. */
	uint32_t pause_pm;              /**< per mille chance per time unit of a pause */
	uint32_t pause_len_max;
	uint8_t tick_every[SIM_NODES_MAX];  /**< node i ticks every k-th time unit */

	/* Workload. */
	uint32_t keys;
	uint32_t think_max;             /**< client idle time between operations */
	uint32_t client_timeout;        /**< resend after this long without a reply */
	uint32_t mix_get, mix_put, mix_del, mix_cas;  /**< operation weights */
	/** Operations each client issues at most. Most seeds keep the whole log inside
	 *  one window (no replica ever needs a state transfer); long_log seeds do not. */
	bool long_log;
	uint32_t ops_per_client;
	/** Reads (kv GET) go through the log as commands (--log-reads), instead of the
	 *  leader's read index (px_read_begin), the default. Not derived from the seed. */
	bool log_reads;
	/** Every datagram authenticated (--auth): the node's trailer check runs, clients
	 *  seal and open as libpaxwire-client does, and the network's rewrites (it holds no
	 *  key) are dropped as `mac` by the receiver. */
	bool auth;

	/* Hostile network and harder schedules (drawn after everything above, so every
	 * earlier option of a seed is what it was before they existed). */
	uint32_t corrupt_pm;            /**< per mille of replica sends rewritten (sim_net.c) */
	uint32_t straggle_pm;           /**< per mille of sends with a copy delivered late */
	uint32_t straggle_max;          /**< how late, time units */
	/** Memory mode, 5+ replicas: per mille of restarts whose recovery is cut short: its
	 *  round-2 announcement reaches 1..f-1 replicas, which are then cut off for a while,
	 *  and the replica crashes again (failed lives that announced an incarnation). */
	uint32_t recover_cut_pm;
	uint32_t transfer_pm;           /**< per mille chance per time unit of a transfer */
	/** Memory mode: per mille of restarts made as if new (paxwired --bootstrap by
	 *  mistake): the bootstrap guard must refuse them, or the checks fail. */
	uint32_t mistake_pm;

	/* The faulty disk behind the storage seam (durable mode; a stream of their own:
	 * SIM_STREAM_DISK_OPTS), each as the real journal's replay would see it
	 * (sim_node.c). Rates per 100,000 persist requests, or per mille of restarts. */
	uint32_t sector_pm;             /**< restarts that find a corrupted record in the
	                                     middle of the journal (per mille) */
	uint32_t misdirect_pcm;         /**< persist requests with one record written to
	                                     the wrong place (per 100,000) */
	uint32_t sync_error_pcm;        /**< persist requests whose sync fails (per 100,000):
	                                     the node fail-stops */

	/* --log-transport rdma (not derived: set by main; its rates are drawn last, on a
	 * stream of their own, SIM_STREAM_RM). The leader writes ACCEPTs into followers'
	 * log regions through the shared-memory backend of rdma/rm.h, in this process;
	 * memory mode only (the transport's limit), so durability is forced to memory. */
	bool rm;
	bool rm_verbs;            /**< the verbs backend on the fake device */
	uint32_t rm_revoke_fail_ppm; /**< rm_verbs: revokes the fake refuses */
	uint32_t rm_ring;               /**< node_conf.rm_ring: 8..64 records */
	uint32_t rm_drop_ppm;           /**< writes lost (retry exceeded), per million */
	uint32_t rm_torn_ppm;           /**< writes torn (a prefix lands, retry exceeded) */
	uint32_t rm_delay_ppm;          /**< writes that complete late ... */
	uint32_t rm_delay_polls;        /**< ... by up to this many polls */
	/** --auth too: per mille chance per time unit that a hostile fabric forges a
	 *  record in a follower's region (node_rm_forge), which it must refuse. */
	uint32_t rm_forge_pm;
};

/** Disk faults switched off on the command line (--no-corrupt-sectors, --no-misdirect,
 *  --no-sync-errors), set once by main before any run. */
enum sim_disk_fault {
	SIM_DISK_SECTOR = 1u << 0,
	SIM_DISK_MISDIRECT = 1u << 1,
	SIM_DISK_SYNC = 1u << 2,
};
extern uint32_t sim_disk_off;

/** --log-reads, set once by main before any run (every run copies it into its opts). */
extern bool sim_log_reads;
extern bool sim_auth;
/** --log-transport rdma. */
extern bool sim_rm;
extern bool sim_rm_verbs;   /**< --log-transport rdma-verbs */
/** --no-bias: a planted bug runs under the seed's own fault mix, not a raised one. */
extern bool sim_no_bias;
extern bool sim_no_members;
extern bool sim_jumps;

/** Derives every option from opts->seed (and opts->bugs, which biases the fault mix). */
void sim_opts_derive(struct sim_opts *o);

/** Prints every option, one "name=value" per line, each line prefixed with `prefix`. */
void sim_opts_print(const struct sim_opts *o, const char *prefix);

/* ---------------------------------------------------------------------------------- */
/* Network                                                                             */

/** Rewrites the corrupting network makes to real replica messages, keeping them
 *  decodable (sim_net.c). The first group names impossible values: every correct
 *  replica must refuse such a message and count it (checked at delivery). The second
 *  is believable and harmless by design: the replicas must only stay safe. */
enum sim_corrupt {
	SIM_CX_NONE = 0,
	SIM_CX_ROUND,        /**< ballot round above PX_ROUND_MAX */
	SIM_CX_BALLOT_NODE,  /**< ballot names no node id */
	SIM_CX_SENDER,       /**< a leader's/candidate's ballot names another member */
	SIM_CX_SLOT,         /**< a slot number above PX_SLOT_MAX */
	SIM_CX_WINDOW,       /**< an ACCEPT entry past the leader's commit + window */
	SIM_CX_VBALLOT,      /**< an entry accepted at a ballot above the message's, or 0 */
	SIM_CX_INC_CEIL,     /**< an incarnation at or above the ceiling */
	SIM_CX_TO,           /**< addressed to another replica */
	SIM_CX_EPOCH,        /**< a configuration epoch above the ceiling */
	SIM_CX_REFUSED_END,
	SIM_CX_GRANT = SIM_CX_REFUSED_END, /**< PREVOTE_REPLY grant flipped */
	SIM_CX_FORCE,        /**< PREPARE marked as a leadership transfer's */
	SIM_CX_CHOSEN,       /**< ACCEPT entries past the commit point flagged chosen */
	SIM_CX_INC_RAISE,    /**< an incarnation raised, below the ceiling */
	SIM_CX_TYPE,         /**< a type swapped for one of the same layout */
	SIM_CX_READ_ROUND,   /**< a read round no leader will reach */
	SIM_CX_MAX,
};

struct sim_msg {
	uint64_t deliver_at;
	uint64_t order;     /**< tie-break among equal deliver_at: send order (FIFO) */
	uint8_t src;        /**< endpoint */
	uint8_t dst;
	uint8_t cls;        /**< size class of buf */
	uint8_t corrupt;    /**< enum sim_corrupt: how the network rewrote it */
	bool straggler;     /**< a late copy: not counted in the link's queue */
	uint32_t len;
	uint8_t *buf;
};

struct sim_net {
	struct sim_msg msgs[SIM_MSGS_MAX];
	uint32_t free_idx[SIM_MSGS_MAX];
	uint32_t n_free;
	/** Min-heap of message indexes on (deliver_at, order). */
	uint32_t heap[SIM_MSGS_MAX];
	uint32_t n_heap;
	uint64_t order_next;

	/** Byte pool: bump allocation from arena, then per-class free lists. */
	uint8_t *arena;
	size_t arena_used;
	uint8_t *class_free[SIM_NET_CLASSES];

	/** link_up[a][b]: messages from endpoint a reach b. */
	bool link_up[SIM_EP_MAX][SIM_EP_MAX];
	uint16_t link_inflight[SIM_EP_MAX][SIM_EP_MAX];

	/* Fault rates now in force (the liveness phase clears loss and queue drops). */
	uint32_t loss_pm, dup_pm, delay_min, delay_max, link_queue_max;

	/* Fault rates now in force (the liveness phase clears them). */
	uint32_t corrupt_pm, straggle_pm;

	/* Counters. */
	uint64_t sent, delivered, lost, duplicated, dropped_link, dropped_queue,
		 dropped_pool, dropped_down;
	uint64_t corrupted[SIM_CX_MAX], straggled, refused, cut_announce;

	/* Scratch of the corrupting network. */
	struct px_msg cx_msg;
	uint8_t cx_wire[PX_DGRAM_BYTES_MAX];
};

/* ---------------------------------------------------------------------------------- */
/* Replicas and their embedder                                                         */

/** One slot copy on its way to the disk (staging). */
struct sim_disk_slot {
	uint64_t slot;       /**< 0: empty */
	uint64_t vballot;
	uint32_t len;
	uint8_t *value;      /**< slot_bytes */
};

/** One slot of the journal on disk: the newest write of that slot wins. */
struct sim_journal_slot {
	uint64_t vballot;
	uint32_t len;        /**< 0: never written */
	uint32_t off;        /**< value bytes at journal_bytes + off */
};

/** A persist request on its way to the disk: data copied at request time. */
struct sim_persist {
	uint64_t seq;
	uint64_t ballot;
	uint64_t lo, hi;
	uint64_t commit;     /**< commit point recorded with the request */
	uint64_t due;        /**< time the write completes and px_persisted is called */
	bool landed;         /**< already on the disk (a write can land before its ack) */
	uint8_t n_inc;       /**< the crash vector it writes (0: none) */
	uint32_t inc[PX_REPLICAS_MAX];
	uint32_t n;          /**< slots copied */
	uint32_t first;      /**< index of the first copy in the node's staging ring */
};

/** A read-index ticket a leader gave (the read oracle): what had been committed
 *  anywhere when it was given. */
struct sim_read {
	uint64_t ticket;
	uint64_t committed_before;
};

struct sim;
/** --auth: makes the cluster key (once per run; from the seed). */
void sim_auth_keys(struct sim *s);

/** Bind uuids remembered for the validity check (more starts reuse old ones). */
#define SIM_BINDS_MAX 1024u

struct sim_node {
	struct sim *sim;
	uint8_t id;
	bool up;
	uint64_t down_until;       /**< restart time while !up */
	uint64_t paused_until;     /**< no ticks before this time */
	/** Cut off from every endpoint until then (it heard an announcement that must not
	 *  spread: recover_cut_pm). */
	uint64_t quarantine_until;
	/** This life's recovery is cut short: its announcements go only to announce_mask,
	 *  and it crashes at crash_at (0: not scheduled) once it announced. */
	bool recover_cut;
	uint32_t announce_mask;
	uint64_t crash_at;
	/** Liveness phase: since when a majority has known a newer incarnation of this
	 *  replica than its own (it is dropped as stale), 0 if not. */
	uint64_t fenced_since;
	/** The incarnation of this replica's last life that completed its recovery (or
	 *  first started): a later life must complete with a higher one. Kept across
	 *  restarts: it is the simulator's knowledge, not the replica's. */
	uint32_t inc_completed;
	/* The node (node/node.h) and what the checks read of it. */
	struct node_conf conf;
	struct node *nd;
	/** --log-transport rdma: this life's remote-memory context (closed at a crash,
	 *  which takes every writer's access with it, as a NIC does for a dead process). */
	struct rm_ctx *rm;
	const struct px_replica *r;        /**< node_replica(nd), NULL while down */
	const struct px_applier *applier;  /**< node_applier(nd) */
	void *arena;                       /**< the node's, reused by every life */
	size_t arena_len;

	/* State machine: kv behind our wrapper, rebuilt from empty at every restart. */
	struct svc_kv *kv;
	void *kv_arena;
	size_t kv_len;
	struct px_service kv_svc;  /**< the real kv service, behind our wrapper */
	/** State transfer needed: the node stops applying (it must never apply wrong data)
	 *  until it installs a snapshot fetched from a peer. */
	bool st_needed;
	/** The node's snapshot buffer (node_conf.snapshot_buf), reused by every life. */
	uint8_t *snap_buf;
	size_t snap_bytes;
	/** Durable mode: the snapshot on the simulated disk (len 0: none), and the one
	 *  being saved (node ops snapshot_save) until its due time. */
	uint8_t *disk_snap;
	size_t disk_snap_len;
	uint64_t disk_snap_slot;
	bool snap_saving;
	uint64_t snap_save_due, snap_save_slot;
	size_t snap_save_len;
	/** Sessions this replica's applier holds: the same on every replica of a seed. */
	uint32_t max_sessions;
	/** The batch now being applied, to map service calls to (client, seq). */
	const uint8_t *cur_value;
	uint32_t cur_len;
	uint64_t cur_slot;
	/** Highest seq applied per client by this state machine (exactly-once check). */
	uint64_t sm_last_seq[SIM_CLIENTS_MAX];

	/* Disk (durable mode): a journal of every slot ever persisted, as a real one keeps
	 * without snapshots; what it returns at a restart is the core's to take or refuse. */
	uint64_t disk_promised;
	uint64_t disk_commit;              /**< highest commit point recorded on disk */
	struct sim_journal_slot *journal;  /**< SIM_SLOTS_MAX + 1, by slot */
	uint64_t journal_hi;               /**< highest slot written */
	uint32_t disk_inc[PX_REPLICAS_MAX];  /**< the newest crash vector landed */
	uint8_t disk_n_inc;                /**< its entries (0: none) */
	/** The journal's replay will find it damaged in the middle (a misdirected write,
	 *  or a corrupted sector drawn at a crash): the next start repairs from peers. */
	bool disk_damaged;
	/** A repair began and its recovery has not written its first records yet (the
	 *  real journal's `repairing` file without an INCARNATION record): a restart
	 *  repairs again. */
	bool repair_pending;
	/** This life began as a repair and has not completed its recovery: it must send
	 *  no PROMISE or ACCEPTED (checked in op_tx_commit). */
	bool repairing;
	uint64_t journal_lo;               /**< compacted below it (a saved snapshot) */
	uint8_t *journal_bytes;            /**< append-only value bytes */
	size_t journal_used, journal_cap;
	struct sim_persist persist[SIM_PERSIST_MAX];  /**< FIFO of requests */
	uint32_t persist_head, persist_n;
	struct sim_disk_slot *staging;    /**< ring of copies for pending requests */
	uint8_t *staging_values;
	uint32_t staging_cap, staging_head, staging_n;

	/* REQUEST datagrams the node's queued commands point into, until the next flush. */
	uint8_t held[SIM_HELD_MAX][SIM_HELD_BYTES];
	uint32_t n_held;

	/* The read oracle: tickets given (a ring), reads served. */
	struct sim_read reads[SIM_READS_MAX];
	uint32_t read_next;
	uint64_t reads_served;

	/* The message being delivered: how the network rewrote it, whether the core had
	 * to refuse it, whether it reached the core. The slot before the call (a
	 * proposal's slots are the leader's acceptances). */
	uint8_t corrupt;
	bool must_refuse, step_seen;
	bool replaying;            /**< node_restore is applying the journal */
	uint64_t last_before;
	uint64_t next_before;      /**< px_next_slot before the call (0: not leading) */
	uint32_t epoch_seen;       /**< the epoch last traced (--trace) */

	/* Monotonicity tracking (reset by restarts as the check's rules say). The promise
	 * may fall back at a durable restart to what was persisted, but never below the
	 * highest ballot the node vouched for in a PROMISE or ACCEPTED it sent. */
	uint64_t promised_seen;
	uint64_t vouched_ballot;
	uint64_t commit_seen;
	uint64_t applied_seen;
	enum px_role role;

	/* Counters for the summary and the final hash. */
	uint64_t ticks, msgs_in, msgs_out, restarts, st_events, applied_slots, replayed_slots;
	/** A spare that was added (members_ops): never added again. */
	bool added;
	/** A member a change proposed to remove (or a jump left out): never a member
	 *  again (operations.md: an id is never reused). */
	bool removed;
	/** The bootstrap guard (mistake_pm): this life is a mistaken first start, out until
	 *  it is refused. */
	bool as_new;
	uint64_t restore_rejected;   /**< durable slots px_restore_slot refused */
};

/* ---------------------------------------------------------------------------------- */
/* Clients and history                                                                 */

enum sim_op_kind {
	SIM_OP_GET = 0,
	SIM_OP_PUT,
	SIM_OP_DEL,
	SIM_OP_CAS,
};

/** One operation as its client saw it (the linearizability history). */
struct sim_op {
	uint8_t kind;          /**< enum sim_op_kind */
	uint8_t key;
	bool expect_absent;    /**< cas: expect the key absent */
	int8_t ok;             /**< 1 ok, 0 cas compare failed, -1 outcome unknown */
	bool result_absent;    /**< get: key absent */
	uint32_t value;        /**< put/cas: value written; encoded as "c.s" below */
	uint32_t expect;       /**< cas: expected value (if !expect_absent) */
	uint32_t result;       /**< get: value read */
	uint64_t call, ret;    /**< simulated time; ret valid when ok != -1 */
};

/** A command a client sent, for validity and reply checks: keyed by (client, seq). */
struct sim_cmd_rec {
	uint32_t len;
	uint8_t body[SIM_CMD_BYTES_MAX];
	bool reply_known;      /**< some replica applied it: reply_hash is its reply */
	uint8_t reply_status;
	uint64_t reply_hash;
	/** Read-index serves of this (client, seq): each reply a leader sent (a resent
	 *  read may be served more than once, each time as it stood then). */
	uint8_t n_read_serves;
	bool read_serves_lost;  /**< more serves than kept: the reply check is skipped */
	uint64_t read_hash[SIM_READ_SERVES_MAX];
	/** The session the command was sent in (a client's seqs grow across sessions, so
	 *  (client, seq) names one command whatever the session). */
	uint64_t session;
};

struct sim_client {
	uint8_t idx;
	uint8_t ep;                /**< network endpoint */
	/** The session id the log gave this client's last registration; 0: none, register
	 *  before the next op (at first, and after SESSION_EXPIRED). */
	uint64_t session;
	uint64_t nonce;            /**< the registration in flight, or the last one */
	uint32_t regs;             /**< registrations started (each with a new nonce) */
	bool registering;          /**< the outstanding request is a registration */
	uint64_t seq;              /**< current (or last) op's seq; 0 before the first. It
	                                keeps growing across sessions. */
	bool waiting;              /**< an op or a registration is outstanding */
	uint64_t next_op_at;       /**< idle: when to issue the next op */
	uint64_t resend_at;        /**< waiting: when to resend */
	bool backoff;              /**< the resend at resend_at goes to target as is */
	uint8_t target;            /**< replica the next (re)send goes to */
	uint32_t n_ops;
	struct sim_op ops[SIM_OPS_PER_CLIENT_MAX];
	struct sim_cmd_rec cmds[SIM_OPS_PER_CLIENT_MAX + 1];  /**< by seq */
	uint64_t resends, not_leader, busy;
	uint32_t hint_run;     /**< NOT_LEADER hints followed in a row (a circle breaks) */
	uint64_t expired;          /**< ops answered SESSION_EXPIRED (outcome unknown) */
};

/* ---------------------------------------------------------------------------------- */
/* Cluster-wide check state                                                            */

/** Acceptors observed holding one value at one ballot in one slot (the chosen oracle). */
struct sim_accept_group {
	uint64_t vballot;
	uint64_t value_hash;
	/** Every replica seen accepting it, ever: what a commit may have counted (a vote
	 *  in flight is counted after its sender crashed, and rightly so). */
	uint32_t ever;
	/** Those whose acceptance still stands: a crash takes a replica's bit away unless
	 *  the acceptance reached its disk (durable mode); in memory mode a crashed life's
	 *  votes are fenced by its next one. What P2 judges "chosen" by. */
	uint32_t nodes;
};

/** Distinct (ballot, value) pairs the oracle keeps per slot; beyond them it stops
 *  judging that slot (counted). A slot sees one more per leader that re-proposes it. */
#define SIM_ACCEPT_GROUPS 8u

/** What the cluster has decided about one slot: the first observation wins. */
struct sim_slot_rec {
	bool value_known;
	bool chain_known;
	/** The chosen oracle: the first commit of this slot was backed by a majority seen
	 *  accepting its value at one ballot (checked once). */
	bool chosen_ok;
	/** The value a commit was backed by, and the ballot of that majority: chosen, for
	 *  good, whatever crashes come later. */
	uint64_t chosen_vballot, chosen_hash;
	bool groups_full;       /**< more pairs than SIM_ACCEPT_GROUPS: not judged */
	uint8_t n_groups;
	struct sim_accept_group groups[SIM_ACCEPT_GROUPS];
	uint8_t value_node;     /**< who first reported it (for the failure message) */
	uint32_t len;
	uint64_t value_hash;
	uint64_t chain;         /**< applier chain after this slot */
	uint64_t kv_hash;       /**< kv hash after this slot */
	/** Highest seq per client applied up to this slot (a snapshot of this slot must
	 *  bring the exactly-once check to it). */
	uint64_t last_seq[SIM_CLIENTS_MAX];
};

/** Session id -> client, learned when an applier applies a registration. */
struct sim_session {
	uint64_t id;           /**< 0: empty */
	uint8_t client;
};

/* ---------------------------------------------------------------------------------- */
/* The simulation                                                                      */

struct sim {
	struct sim_opts o;
	bool verbose;
	bool trace;                /**< print every event (--trace): for replays */
	uint64_t now;
	bool liveness;             /**< in the liveness phase */
	struct sim_rng rng_net, rng_fault, rng_work, rng_node, rng_disk, rng_hostile;

	struct sim_node nodes[SIM_NODES_MAX];
	struct sim_client clients[SIM_CLIENTS_MAX];
	/* --auth: the cluster key, the last life a node start got, each client's side. */
	struct auth_keys keys;
	uint64_t lives;
	struct auth_client *client_auth[SIM_CLIENTS_MAX];
	struct sim_net net;
	/* --log-transport rdma: the shm objects' cluster name (this process and seed), and
	 * the transport's counters summed over every life that ended. */
	char rm_cluster[32];
	struct node_rm_counters rm_tot;
	bool rm_accounted;         /**< the lives still running were added (end of run) */
	uint64_t rm_forged;        /**< records forged (rm_forge_pm) */

	struct sim_slot_rec *slots;    /**< SIM_SLOTS_MAX + 1, by slot */
	uint64_t slot_hi;              /**< highest slot recorded */

	/* Sessions: every id an applier gave out, with its client (sim_session_learn). */
	struct sim_session sessions[SIM_SESSION_MAP];
	uint32_t n_sessions;
	/** What sim_cmd_lookup returns for a registration (an empty command): registrations
	 *  keep no reply record, their replies are checked as they are learned. */
	struct sim_cmd_rec reg_rec;

	/* Fault schedule state. */
	uint32_t part_active;          /**< enum sim_part of the partition in force, 0 none */
	uint64_t part_until;           /**< partition ends (or swizzle steps) at */
	uint64_t part_next;            /**< next partition may start at */
	uint8_t swizzle_order[SIM_NODES_MAX];
	/* Membership as the log decided it (sim_check.c members_track): the simulator's
	 * copy, and each configuration's voters from the slot it took effect. */
	struct px_membership ms;
	uint64_t ms_slot;
	uint32_t n_confs;
	uint64_t conf_from[SIM_CONFS_MAX];
	uint32_t conf_voters[SIM_CONFS_MAX];
	struct sim_rng rng_members;
	uint64_t member_adds, member_removes, member_jumps, member_refused;
	/* Every membership change a leader took (members_ops: its slot, and the hash and
	 * new epoch of its entry there as the leader proposed it), checked after the
	 * liveness phase (sim_check_confs): one that was chosen is in force everywhere.
	 * Independent of the core's parser: the epoch is read from the entry's bytes. */
	uint32_t n_conf_reqs;
	uint64_t conf_req_slot[SIM_CONFS_MAX];
	uint64_t conf_req_hash[SIM_CONFS_MAX];
	uint32_t conf_req_epoch[SIM_CONFS_MAX];
	uint8_t swizzle_step;          /**< cut so far; then restored so far */
	bool swizzle_restoring;

	/* Scratch (too big for the stack). */
	struct px_msg msg;         /**< a message delivered to a client, decoded */
	struct px_msg reply_msg;   /**< a REQUEST a client builds */
	struct px_msg trace_msg;   /**< a replica's message decoded for --trace */
	uint8_t wire[PX_DGRAM_BYTES_MAX];   /**< a node's datagram being encoded */

	/* What the step being handled changed, for the chosen oracle (sim_observe): the
	 * message delivered (its ACCEPT entries), slots a proposal took. */
	const struct px_msg *obs_msg;
	uint64_t obs_lo, obs_hi;
	uint64_t oracle_unjudged;      /**< slots with too many (ballot, value) pairs */
	uint64_t oracle_slot_hi;       /**< highest slot the oracle recorded */

	/* Failure: sim_fail() fills these and longjmps to the run. */
	jmp_buf fail_jmp;
	char fail_check[64];
	char fail_detail[512];

	/* Summary. */
	uint64_t ops_done, ops_unknown, crashes, partitions, pauses, st_nodes;
	uint64_t restore_rejected;
	uint64_t recover_wait;         /**< time the liveness phase took */
	uint64_t steps;                /**< deliveries + ticks + applies + persists */
	uint64_t unit_deliveries_max;  /**< most messages delivered in one time unit */
	uint64_t window_deliveries;    /**< delivered in the current storm window */
	uint64_t window_by_type[PX_MSG_TYPE_MAX];  /**< the same, by message type */
	int lincheck;                  /**< enum lc_result, or -1 if not run */
	uint64_t transfers, recover_cuts;
	uint64_t installs;             /**< snapshots installed by state transfer */
	uint64_t torn_writes;          /**< crashes that landed part of a persist request */
	uint64_t mistakes;             /**< restarts made as if new (mistake_pm) */
	uint64_t refused_starts;       /**< of those, refused by the cluster (node_refused) */
	/* The cluster uuid: every bind a node was given (a bind in the log must be one),
	 * and the one the log bound (every node that bound one must agree). */
	struct px_uuid binds[SIM_BINDS_MAX];
	uint32_t n_binds;
	struct px_uuid uuid;
	uint64_t corrupt_sectors;      /**< restarts that found a corrupted record */
	uint64_t misdirected;          /**< records written to the wrong place */
	uint64_t sync_errors;          /**< failed syncs (each a fail-stop crash) */
	uint64_t repairs;              /**< starts that repaired a damaged journal */

	/* --failover: the measured crash and transfer (sim_run.c, failover_step). */
	uint8_t fo_state;              /**< enum in sim_run.c */
	uint8_t fo_node;               /**< the crashed leader, then the transfer's target */
	uint64_t fo_at;                /**< when the next action is due */
	uint64_t fo_t0;                /**< when the crash or the transfer request happened */
	uint64_t fo_commit;            /**< highest commit point of any replica then */
	uint64_t failover_us, transfer_us;  /**< SIM_FO_NO_VALUE until measured */
	uint64_t fo_transfer_tries;    /**< transfers asked (a refused or timed-out one is retried) */
};

/* sim_net.c */
void sim_net_reset(struct sim *s);
/** Queues a copy of buf (len bytes) from endpoint src to dst, subject to faults. */
void sim_net_send(struct sim *s, uint8_t src, uint8_t dst, const uint8_t *buf, uint32_t len);
/** Pops the next message due at or before now; false if none. Release with _free. */
bool sim_net_next(struct sim *s, struct sim_msg **m);
void sim_net_free(struct sim *s, struct sim_msg *m);
/** Every link up (heal). */
void sim_net_heal(struct sim *s);
uint32_t sim_net_inflight(const struct sim *s);

/* sim_node.c */
void sim_node_setup(struct sim *s, struct sim_node *n, uint8_t id);
void sim_node_start(struct sim *s, struct sim_node *n, bool restart);
void sim_node_crash(struct sim *s, struct sim_node *n);
/** Delivers one message; `corrupt` is how the network rewrote it (enum sim_corrupt): a
 *  message it made impossible must be refused and counted by the replica. */
void sim_node_deliver(struct sim *s, struct sim_node *n, const uint8_t *buf, uint32_t len,
		      uint8_t src_ep, uint8_t corrupt);
/** Asks leader n to hand leadership to target (px_transfer_leadership). */
void sim_node_transfer(struct sim *s, struct sim_node *n, uint8_t target);
void sim_node_tick(struct sim *s, struct sim_node *n);
/** --log-transport rdma: the node's remote-memory work (completions, records). */
void sim_node_rm_poll(struct sim *s, struct sim_node *n);
/** Turns the transport's fault injection off on every live context (heal). */
void sim_node_rm_heal(struct sim *s, struct sim_node *n);
/** --log-transport rdma: the records landed in n's region are its votes (sim_check.c). */
void sim_observe_landed(struct sim *s, struct sim_node *n);
/** Adds the node's transport counters of this life to s->rm_tot. */
void sim_node_rm_account(struct sim *s, const struct sim_node *n);
void sim_node_disk_step(struct sim *s, struct sim_node *n);
/** A reply the applier of node n produced for command `index` of `slot`: if it is a
 *  registration's, checks that the id is that position and records id -> client. */
void sim_session_learn(struct sim *s, const struct sim_node *n, uint64_t slot,
		       uint32_t index, const struct px_reply *r);
void sim_node_free(struct sim_node *n);

/* sim_client.c */
void sim_clients_setup(struct sim *s);
void sim_client_step(struct sim *s, struct sim_client *c);
void sim_client_deliver(struct sim *s, struct sim_client *c, const uint8_t *buf, uint32_t len);
/** Every client idle (nothing outstanding). */
bool sim_clients_idle(const struct sim *s);
/** Runs the linearizability checker; returns enum lc_result and fills why. */
int sim_history_check(struct sim *s, char *why, size_t why_len);
/** The client record of the command (client_id, seq) as the log holds it: a session id
 *  and seq >= 1, or a registration (a nonce some client sent, seq 0: s->reg_rec, an
 *  empty command). NULL if no client sent it. */
struct sim_cmd_rec *sim_cmd_lookup(struct sim *s, uint64_t client_id, uint64_t seq);
/** Client index of a command's or reply's (client_id, seq): seq 0, a registration
 *  nonce; otherwise a session id. -1 if no client's. */
int sim_client_of(const struct sim *s, uint64_t client_id, uint64_t seq);
/** Records that session id belongs to client ci (the first time), or checks it. */
void sim_session_put(struct sim *s, uint64_t id, uint32_t ci);

/* sim_check.c */
/** A slot value seen chosen (commit) or applied by node n: agreement and validity. */
void sim_check_chosen(struct sim *s, const struct sim_node *n, uint64_t slot,
		      const uint8_t *value, uint32_t len, const char *how);
/** After node n applied slot: applied logs are prefixes of one history. */
void sim_check_applied(struct sim *s, const struct sim_node *n, uint64_t slot,
		       uint64_t chain, uint64_t kv_hash);
/** A reply the applier produced at node n (every replica's must agree). */
void sim_check_reply(struct sim *s, const struct sim_node *n, const struct px_reply *r);
/** After every step at node n: invariants and monotonic points. */
/** The voters of the configuration in force at slot (the log's). */
uint32_t sim_voters_at(const struct sim *s, uint64_t slot);
/** Slot `slot` was committed or applied with this value (each slot once, in order,
 *  whichever replica gets there first): the simulator's membership follows. */
void sim_members_track(struct sim *s, uint64_t slot, const uint8_t *value, uint32_t len);
/** A membership change leader n proposed at slot (members_ops): recorded for
 *  sim_check_confs. */
void sim_conf_proposed(struct sim *s, const struct sim_node *n, uint64_t slot);
/** After the liveness phase: every recorded change whose entry was chosen is in force
 *  (its new epoch or a later one) in the simulator's copy and at every member that
 *  runs. */
void sim_check_confs(struct sim *s);
void sim_check_node(struct sim *s, struct sim_node *n, const char *step);
/** Records the values node n holds accepted (not known chosen) in the slots the step
 *  changed: the entries of s->obs_msg if an ACCEPT, [s->obs_lo, s->obs_hi], and all of
 *  [commit + 1, last] if `whole_log` (it just became leader, or left recovery). */
void sim_observe(struct sim *s, const struct sim_node *n, bool whole_log);
/** Node n's role changed from recovering to `role` (its life completed recovery). */
void sim_check_recovered(struct sim *s, struct sim_node *n);
/** Node n crashed (after its in-flight writes landed or not): its acceptances stand
 *  only if its journal holds them (durable mode). */
void sim_oracle_crash(struct sim *s, const struct sim_node *n);

/* sim_run.c */
/** Prints one event line when tracing (--trace), prefixed with the time. */
__attribute__((format(printf, 2, 3)))
void sim_trace(const struct sim *s, const char *fmt, ...);
/** Name of a replica role, for traces and summaries. */
/** Short name of a message type, for traces. */
/** One-line description of a message, for traces. */
void sim_trace_msg(const struct sim *s, const char *dir, uint8_t node, const struct px_msg *m);
/** Records a failed check and unwinds the run. Never returns. */
__attribute__((noreturn, format(printf, 3, 4)))
void sim_fail(struct sim *s, const char *check, const char *fmt, ...);
/** Endpoint of replica i / client j. */
static inline uint8_t sim_ep_client(const struct sim *s, uint32_t j)
{
	return (uint8_t)(s->o.n_nodes + j);
}

/** Result of one seed. */
struct sim_result {
	uint64_t seed;
	int failed;              /**< 0 pass, 1 failed */
	/** --bug: failed, but the control run without the bug failed too (not counted) */
	int baseline_failed;
	int lincheck;            /**< enum lc_result or -1 */
	uint64_t installs;       /**< snapshots installed by state transfer */
	/** The faulty disk: torn writes, corrupted sectors, misdirected writes, failed
	 *  syncs, repairs (struct sim's counters). */
	uint64_t disk[5];
	/** Mistaken bootstraps (mistake_pm) and those the cluster refused. */
	uint64_t mistakes, refused;
	uint64_t state_hash;
	uint64_t steps;
	uint64_t fail_time;      /**< simulated time of the failed check */
	/** --failover: crash to the first commit by a new leader, and transfer request to
	 *  the first commit by its target, in us; SIM_FO_NO_VALUE if not measured. */
	uint64_t failover_us, transfer_us;
	/** --log-transport rdma: records taken and acks counted from completions. */
	uint64_t rm_records, rm_counted;
	char check[64];
	char detail[512];
};

/**
 * Runs one seed. bugs: enum px_bug set; control: derive the options as for bugs but do
 * not plant them (px_config.bugs = 0). Returns 0 pass, 1 fail.
 */
int sim_run(uint64_t seed, uint32_t bugs, bool control, bool verbose, bool trace,
	    struct sim_result *res);

/** Bug names <-> bits. */
struct sim_bug_name {
	const char *name;
	uint32_t bit;
};
extern const struct sim_bug_name sim_bug_names[];
extern const uint32_t sim_bug_count;

#endif /* SIM_PVT_H */
