/* SPDX-License-Identifier: Apache-2.0
 * paxwired internals (prefix dp_): the bounds of the poll loop, the per-lcore context.
 *
 * One context drives one node (node/node.h: the replica, its applier and service, and
 * everything between them and the world) in one run-to-completion loop (dp_loop.c):
 *   rx burst per port -> node_recv each datagram -> node_flush (propose what the burst
 *   queued) -> durable mode: a newly durable sync to node_persisted -> ticks due by the
 *   clock -> tx flush -> idle policy.
 * This file and dp_loop.c are only the world the node lives in: ports, the journal
 * (durable mode, storage/journal.h), the clock, the stats line and telemetry. Everything is allocated by dp_init (paxwired.c); the loop
 * allocates nothing.
 */
#ifndef DP_PVT_H
#define DP_PVT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "env.h"
#include "env_log.h"
#include "journal.h"
#include "snapstore.h"
#include "nic.h"
#include "node.h"
#include "cfg.h"
#include "px.h"
#include "px_apply.h"
#include "px_codec.h"

/* ---------------------------------------------------------------------------------- */
/* Bounds (STYLE 4: every loop and queue bounded, relations checked at compile time)    */

/** Datagrams one port's receive burst brings at most. */
#define DP_RX_BURST 32u
/** Bursts taken from one port in one loop iteration at most: the next is taken only
 *  while they come full, so that a batch can grow to batch_cmds_max under load. */
#define DP_RX_ROUNDS_MAX (NODE_QUEUE_MAX / DP_RX_BURST)
/** Transmit buffers of the port; a fuller queue is flushed by nic_tx_buf itself. */
#define DP_TX_BUFS 512u
/** Ticks run at once after a stall (a descheduled process); the rest are skipped,
 *  which only makes timeouts longer, never shorter. */
#define DP_TICKS_CATCHUP_MAX 16u
/** Adaptive idle: spin this long on an empty socket before sleeping in poll(). */
#define DP_IDLE_SPIN_NS 50000u
/** Longest single sleep of the adaptive idle policy (a tick is usually shorter). */
#define DP_IDLE_SLEEP_NS_MAX 100000000u
/** Requested kernel socket buffer (capped by net.core.rmem_max / wmem_max). */
#define DP_SOCK_BUF_BYTES (4u << 20)
/** Ports of one replica: an ethdev port per peer link, plus the ports clients come in on
 *  (clients = dpdk: every other ethdev port, e.g. one memif link per client process;
 *  clients = udp: one kernel socket). */
#define DP_PORTS_MAX 16u
/** Several ports and nothing to sleep on for all of them: adaptive idle naps this long
 *  between two looks at every port. */
#define DP_IDLE_SLICE_NS 20000u
/** Durable mode: while a persist request is with the journal, adaptive idle sleeps at
 *  most this long before it looks at journal_poll again (the writer's fdatasync
 *  completing does not wake poll()). Bounds what idling adds to a commit. */
#define DP_IDLE_PERSIST_NS 20000u

_Static_assert(DP_RX_BURST <= NIC_BURST_MAX, "the rx burst fits the nic's bound");
_Static_assert(DP_TX_BUFS >= DP_RX_BURST && DP_TX_BUFS <= NIC_TX_BUFS_MAX,
	       "the tx queue holds a burst and fits one sendmmsg");
_Static_assert(DP_TX_BUFS >= PX_REPLICAS_MAX * 8u,
	       "a handful of broadcasts to every peer fit before a flush");
_Static_assert(DP_RX_ROUNDS_MAX >= 1u, "a port gives at least one burst per iteration");
_Static_assert(NODE_QUEUE_MAX <= NIC_HOLD_MAX, "a port can hold every queued command's datagram");
_Static_assert(PX_DGRAM_BYTES_MAX <= NIC_BUF_BYTES_MAX, "a message and its trailer fit one datagram");
_Static_assert(DP_PORTS_MAX <= 255u, "a port slot fits a uint8_t");
_Static_assert(DP_PORTS_MAX > PX_REPLICAS_MAX, "a link per peer and a client port fit");
_Static_assert(DP_IDLE_PERSIST_NS <= DP_IDLE_SLEEP_NS_MAX, "a persist caps the sleep, never lengthens it");

/** A client's address as the node keeps it (struct node_addr, opaque there): the port
 *  slot it came in on and its datagram address. */
struct dp_client_addr {
	uint8_t port;
	struct nic_addr addr;
};
_Static_assert(sizeof(struct dp_client_addr) <= NODE_ADDR_BYTES, "fits a node_addr");

/* ---------------------------------------------------------------------------------- */
/* Counters                                                                            */

/** The loop's own counters (the node counts everything about datagrams and the core:
 *  struct node_counters). */
struct dp_counters {
	uint64_t iterations;
	uint64_t ticks_skipped;    /**< beyond DP_TICKS_CATCHUP_MAX after a stall */
	uint64_t idle_sleeps;      /**< adaptive idle: poll() calls */
	uint64_t stats_lines;
};

/* ---------------------------------------------------------------------------------- */
/* Published snapshot (read off-thread, e.g. by DPDK telemetry: dp_telemetry.c)         */

/** Publish a snapshot this often (and when a reader asks for one). */
#define DP_PUB_INTERVAL_NS 100000000u

/** Every field of the JSON stats line, copied by the loop. Only uint64_t members, so
 *  that it can be copied word by word through atomics (dp_pub_write / dp_pub_read). */
/* The counters of each group, listed once: the JSON stats line and the telemetry
 * commands are both generated from these lists (X is applied to every field name). */
#define DP_NIC_FIELDS(X)                                                                 \
	X(rx_pkts) X(rx_bytes) X(rx_polls) X(rx_bursts) X(rx_holds) X(rx_hold_full)     \
	X(tx_pkts) X(tx_bytes) X(tx_flushes) X(waits) X(wakeups) X(arp_replies)           \
	X(icmp_replies) X(ctl_tx_drops) X(link_restarts)
#define DP_LOOP_FIELDS(X)                                                                \
	X(iterations) X(ticks_skipped) X(idle_sleeps)
#define DP_NODE_FIELDS(X)                                                                \
	X(steps) X(requests) X(duplicates) X(proposed) X(flushes) X(batch_max)          \
	X(replies) X(not_leader) X(busy)                                                 \
	X(reply_no_addr) X(unexpected) X(tx_no_buf) X(ticks) X(role_changes)             \
	X(reads_index) X(reads_logged) X(reads_failed) X(admin) X(registers)             \
	X(bad_requests) X(persists) X(client_evictions)                                  \
	X(uuid_other) X(fresh_refused) X(refuse_in) X(binds_proposed) X(members_proposed)  \
	X(conf_proposed) X(promotions)
#define DP_PX_FIELDS(X)                                                                  \
	X(elections_started) X(prevotes_started) X(leaderships_won)                      \
	X(stepdowns_check_quorum) X(proposals) X(commands_proposed) X(commits)           \
	X(catchup_entries_sent) X(state_transfer_needed) X(recoveries_completed)         \
	X(transfers) X(read_tickets) X(read_refused) X(read_rounds) X(read_confirms)     \
	X(incarnation_adopted) X(incarnation_told) X(conf_chosen) X(conf_void)            \
	X(conf_switches) X(suspicions)
#define DP_APPLY_FIELDS(X)                                                               \
	X(slots) X(commands) X(duplicates) X(stale) X(expired) X(evictions) X(noops)     \
	X(bad_seq) X(reads) X(registrations) X(unissued) X(binds) X(binds_late)          \
	X(members_grown) X(gaps_filled) X(replies_lost)
/* Snapshots and state transfer: node/node.h's struct node_counters, the st_ and
 *  snapshot fields. */
#define DP_TRANSFER_FIELDS(X)                                                            \
	X(snapshots_taken) X(snapshot_ns_last) X(snapshot_ns_max) X(snapshot_bytes_last) X(snapshots_saved)  \
	X(st_started) X(st_installed) X(st_chunks_in) X(st_bytes_in) X(st_chunks_out)    \
	X(st_bytes_out) X(st_requests_out) X(st_refused) X(st_throttled) X(st_none_in)   \
	X(st_bad_chunk) X(st_late_chunks) X(st_hash_mismatch) X(st_restore_failed) X(st_stale)             \
	X(st_source_switches) X(st_misaddressed)
/* Durable mode only: storage/journal.h's struct journal_counters. */
#define DP_JOURNAL_FIELDS(X)                                                             \
	X(records) X(bytes) X(syncs) X(drains) X(ring_full_waits) X(max_drain_bytes)     \
	X(segments)

struct dp_snap {
	uint64_t t_ms;                 /**< since dp_run started */
	uint64_t self, cluster;
	uint64_t role;                 /**< enum px_role */
	uint64_t leader;               /**< PX_NODE_NONE if unknown */
	uint64_t ballot_round, ballot_node;
	uint64_t commit, applied, last_slot;
	uint64_t state_transfer_needed;   /**< 0 or 1 */
	uint64_t uuid_hi, uuid_lo;     /**< the cluster uuid */
	uint64_t config_epoch;         /**< the membership in force */
	uint64_t voters, learners;     /**< its bit masks (bit j: replica j) */
	uint64_t auth_on;              /**< 0 or 1: the cluster authenticates */
	struct nic_stats nic;
	struct dp_counters dp;
	struct node_counters node;     /**< decode drops, requests, commit latency, ... */
	struct px_counters px;
	struct px_apply_counters apply;
	uint64_t sessions;
	/* Durable mode (durable == 1); all 0 in memory mode. */
	uint64_t durable;
	uint64_t sync_seq;             /**< the last persist request handed to the journal */
	uint64_t persisted_seq;        /**< the last one made durable (node_persisted) */
	struct journal_counters journal;
};

#define DP_SNAP_WORDS (sizeof(struct dp_snap) / sizeof(uint64_t))
_Static_assert(sizeof(struct dp_snap) % sizeof(uint64_t) == 0, "the snapshot is whole words");
_Static_assert(sizeof(struct journal_counters) % sizeof(uint64_t) == 0,
	       "journal counters are whole words");

/** A seqlock: one writer (the loop, never blocks), any readers (retry on a torn read).
 *  seq is odd while a write is in progress; words are atomics accessed relaxed, so a
 *  racing read is a retried read, not a data race. */
struct dp_pub {
	_Alignas(64) atomic_uint_fast64_t seq;
	atomic_bool want;              /**< a reader asks for a fresh snapshot */
	_Alignas(64) _Atomic uint64_t words[DP_SNAP_WORDS];
};

struct dp_ctx;

/** A seqlock over n words: one writer (never blocks), any readers (retry on a torn
 *  read). seq is odd while a write is in progress; words are atomics accessed relaxed,
 *  so a racing read is a retried read, not a data race. dp_seq_read returns false if
 *  every one of a bounded number of tries raced a write, or nothing was written yet. */
void dp_seq_write(atomic_uint_fast64_t *seq, _Atomic uint64_t *words, const void *src,
		  size_t n);
bool dp_seq_read(atomic_uint_fast64_t *seq, _Atomic uint64_t *words, void *dst, size_t n);

/** Copies every counter of d into s (loop thread). */
void dp_snap_fill(const struct dp_ctx *d, uint64_t now_ns, struct dp_snap *s);
/** Writer side (the loop thread only). */
void dp_pub_write(struct dp_pub *p, const struct dp_snap *s);
/** Reader side (any thread): a consistent copy into s. Returns false if every one of
 *  a bounded number of tries raced a write (s then undefined). */
bool dp_pub_read(struct dp_pub *p, struct dp_snap *s);

/* ---------------------------------------------------------------------------------- */
/* Context                                                                             */

/** The levels of env_log.h (paxwired's lines go through it: timestamps, text or JSON). */
enum dp_log_level { DP_LOG_ERROR = ENV_LOG_ERROR, DP_LOG_WARN = ENV_LOG_WARN,
		    DP_LOG_INFO = ENV_LOG_INFO, DP_LOG_DEBUG = ENV_LOG_DEBUG };

/** One replica's loop state. Owned by the thread running dp_run (no sharing). */
struct dp_ctx {
	/* Configuration (read-only after dp_init). Cache-aligned: one context per lcore. */
	_Alignas(64) const struct cfg_cluster *cfg;
	const struct auth_keys *keys;  /**< the cluster key (cfg->auth_off: unused) */
	struct px_config pxc;
	uint8_t self;
	enum dp_log_level log_level;
	uint64_t tick_ns;
	uint64_t stats_interval_ns;          /**< 0: no periodic stats */

	/* The node: the replica, its applier and service (arenas from dp_init). */
	struct node *nd;
	const struct px_replica *r;    /**< node_replica(nd), for queries */
	struct px_service svc;
	/** The remote-memory context of log_transport = shm | rdma (node_conf.rm); NULL
	 *  with log_transport = message. */
	struct rm_ctx *rm;

	/* The journal (durable mode; NULL in memory mode). The node's journal ops append to
	 * it (dp_node_ops_durable); the loop hands each newly durable seq to node_persisted.
	 * Invariant: persisted_seq <= sync_seq; a persist is in flight while they differ. */
	struct journal *j;
	const char *data_dir;                /**< its dir (--data-dir), for messages */
	/** The journal was damaged (now, or at an earlier start whose repair did not
	 *  complete): this replica lost its promises and votes and recovers from its peers
	 *  before it votes (px_config.restarted; docs/storage.md, "Repair"). */
	bool repair;
	uint64_t sync_seq;                   /**< the last seq given to journal_sync */
	uint64_t persisted_seq;              /**< the last seq given to node_persisted */
	/* Snapshots on disk (durable mode): the node's snapshot_save hands its buffer to
	 * the store's writer; the loop polls for the end, tells the node, and compacts the
	 * journal below a saved snapshot. */
	struct snapstore *ss;
	uint64_t snap_saved_slot;            /**< the newest snapshot saved (0: none) */

	/* I/O: one port (udp, or one ethdev port for everything), or an ethdev port per peer
	 * link plus the ports clients come in on (a memif mesh). */
	struct nic_port *ports[DP_PORTS_MAX];
	uint8_t n_ports;
	/** The port to sleep on when idle: the kernel socket if there is one (clients wake
	 *  it at once), else ports[0]. */
	uint8_t sleep_port;
	struct nic_addr peers[PX_REPLICAS_MAX];   /**< members' addresses; [self] unused */
	uint8_t peer_port[PX_REPLICAS_MAX];       /**< ports slot that reaches member j */
	/** Bit j: peers[j] and peer_port[j] hold an address for replica j (the cluster
	 *  file's, or the one the applied log named). A datagram for any other id is
	 *  refused (tx_buf NULL): the node may name ids 0..PX_REPLICAS_MAX-1. */
	uint16_t peers_known;
	/** The ports slot a member added at run time is reached on (all peers share one
	 *  port unless members_fixed). */
	uint8_t peer_port_default;
	/** A mesh of point-to-point links (one port per initial voter): no member added at
	 *  run time is reachable (node_conf.members_fixed says why). */
	bool members_fixed;
	/** DPDK: bit j: the address of replica j came from the log, whose text has no MAC,
	 *  and the file gives none for it: frames go to the Ethernet broadcast address
	 *  until a datagram from j shows its MAC (rx_port learns it). */
	uint16_t mac_learn;
	/** Bit j: the log named an address for j that is no IPv4:PORT (warned once). */
	uint16_t addr_bad;
	struct nic_pkt pkts[DP_RX_BURST];
	struct nic_addr tx_to;                    /**< a client's address being sent to */
	/* The datagrams the node's queued commands point into, held at their ports until
	 * the queue is proposed (nic_rx_hold). Invariant: n_held == node_queued(nd) between
	 * two datagrams. */
	struct dp_hold {
		uint8_t port;
		uint32_t h;
	} held[NODE_QUEUE_MAX];
	uint32_t n_held;

	/* Time */
	uint64_t start_ns;
	uint64_t next_tick_ns;
	uint64_t next_stats_ns;
	uint64_t last_rx_ns;                  /**< adaptive idle: spin this long after it */
	bool warned_recovering;

	/* Signals (set by handlers in paxwired.c; the only state shared with them) */
	atomic_bool *stop;
	atomic_bool *stats_now;
	atomic_bool *hup;                     /**< SIGHUP came: log it (and nothing else) */

	/* Snapshot for off-thread readers (NULL: nobody reads one, nothing published) */
	struct dp_pub *pub;
	uint64_t next_pub_ns;

	struct dp_counters c;
};

/** The node's ops: the ports, the clock, the log, the admin stats (dp_loop.c). Memory
 *  mode: no journal ops (the core asks for no persist). */
extern const struct node_ops dp_node_ops;
/** Durable mode: the same, and the journal ops, which append to d->j. */
extern const struct node_ops dp_node_ops_durable;

/**
 * Runs the loop until *stop, or until the journal fails (durable mode: the error is
 * logged, and the loop stops at once without sending or proposing anything more: a
 * replica that cannot keep its promises must not vote).
 * @return 0 (stopped), or -EIO (storage failed).
 */
int dp_run(struct dp_ctx *d);

/** Prints one JSON line of every counter to f (and flushes it). */
void dp_stats_print(struct dp_ctx *d, FILE *f, uint64_t now_ns, bool final);

/* ---------------------------------------------------------------------------------- */
/* The metrics schema (docs/metrics.md): one walk over a snapshot that every output      */
/* (the stats line, the admin stats reply of pwctl stats / metrics, DPDK telemetry)    */
/* renders, so that a name means the same thing, with the same shape, everywhere.       */

/** The groups after the identity fields, in output order; a mask of (1u << group)
 *  says which an output carries. Each is one flat dict of u64 values (DPDK telemetry
 *  nests no deeper), except DP_MG_LATENCY: the dict commit_latency_ns (count, sum,
 *  p50, p90, p99, p999) and the array commit_latency_ns_buckets. */
enum dp_mgroup {
	DP_MG_NIC, DP_MG_NIC_DROPS, DP_MG_DECODE_DROPS, DP_MG_AUTH_DROPS, DP_MG_AUTH,
	DP_MG_MSGS_IN, DP_MG_DP, DP_MG_PX, DP_MG_PX_DROPS, DP_MG_APPLY, DP_MG_TRANSFER,
	DP_MG_JOURNAL, DP_MG_LATENCY, DP_MG_MAX
};
#define DP_MG_ALL ((1u << DP_MG_MAX) - 1u)
/** The admin stats reply (PX_ADMIN_STATS) is one REPLY of at most PX_REPLY_BYTES_MAX:
 *  the groups come in pages, each with the identity fields. Page 0 (pwctl stats) holds
 *  what an operator watches; pwctl metrics and paxwire-exporter ask for every page.
 *  paxwired checks at start that each fits with every value at its largest
 *  (dp_metrics_admin_len_max). */
#define DP_ADMIN_PAGES 3u
extern const uint32_t dp_admin_pages[DP_ADMIN_PAGES];

/** Commit latency buckets: bucket b counts the commits of at most 2^(b+1) - 1 ns
 *  (cumulative; the last one, b = NODE_LAT_BUCKETS - 1, counts every commit). */
#define DP_LAT_QUANTILES 4u

/** What a walk renders into (JSON text, DPDK telemetry data). Names are static. */
struct dp_emit {
	void *arg;
	void (*u64)(void *arg, const char *name, uint64_t v);
	void (*i64)(void *arg, const char *name, int64_t v);
	void (*str)(void *arg, const char *name, const char *v);
	void (*begin)(void *arg, const char *dict);   /**< a nested dict starts */
	void (*end)(void *arg);                        /**< ... and ends */
	void (*array)(void *arg, const char *name, const uint64_t *v, uint32_t n);
};

/** Renders s's identity fields and the groups in mask `groups` (journal only in
 *  durable mode) through e. Off the per-packet path. */
void dp_metrics_walk(const struct dp_snap *s, uint32_t groups, const struct dp_emit *e);

/**
 * The same as one JSON object into buf (NUL-terminated). head, if not NULL, is put
 * first inside the object (members with their trailing comma).
 * @return its length; cap or more if it did not fit (buf then holds a truncated text).
 */
uint32_t dp_metrics_json(const struct dp_snap *s, uint32_t groups, const char *head,
			 char *buf, uint32_t cap);

/** The commit latency at quantile q (0 < q <= 1) of the log2 histogram c (counts per
 *  bucket [2^b, 2^(b+1)) ns), interpolated within its bucket; 0 with no commit. */
uint64_t dp_lat_quantile(const uint64_t *c, uint32_t n, double q);

/** Bytes of the stats line's buffer (dp_stats_print). */
#define DP_STATS_LINE_BYTES 16384u
/** The longest stats line (every group, every value at its largest, the final line's
 *  fields): paxwired checks at start that it fits DP_STATS_LINE_BYTES. */
uint32_t dp_metrics_line_len_max(void);

/** The longest admin stats reply (of any page) any snapshot can give (every value at
 *  its largest). paxwired checks it fits PX_REPLY_BYTES_MAX at start. */
uint32_t dp_metrics_admin_len_max(void);

/** Monotonic nanoseconds. */
uint64_t dp_now_ns(void);

__attribute__((format(printf, 3, 4))) void dp_log(const struct dp_ctx *d,
						  enum dp_log_level lvl, const char *fmt, ...);

/** The JSON key of a px_drop reason ("stale_ballot", ...). */
const char *dp_px_drop_name(enum px_drop drop);

/* dp_telemetry.c (DPDK builds only): registers /paxwire/stats and /paxwire/role with
 * DPDK telemetry, reading p (which must outlive the EAL). After env_eal_init.
 * Returns 0 or a negative errno. */
int dp_telemetry_register(struct dp_pub *p);

#endif /* DP_PVT_H */
