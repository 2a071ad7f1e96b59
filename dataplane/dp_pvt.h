/* SPDX-License-Identifier: Apache-2.0
 * paxwired internals (prefix dp_): the bounds of the poll loop, the per-lcore context,
 * the client address table.
 *
 * One context drives one replica in one run-to-completion loop (dp_loop.c):
 *   rx burst -> decode -> px_step / queue REQUESTs -> px_propose the queue ->
 *   effects (encode to peers, apply, REPLY to clients) -> ticks -> tx flush -> idle.
 * Everything is allocated by dp_init (paxwired.c); the loop allocates nothing.
 */
#ifndef DP_PVT_H
#define DP_PVT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nic.h"
#include "pw_config.h"
#include "px.h"
#include "px_apply.h"
#include "px_codec.h"

/* ---------------------------------------------------------------------------------- */
/* Bounds (STYLE 4: every loop and queue bounded, relations checked at compile time)    */

/** Datagrams one loop iteration receives. */
#define DP_RX_BURST 32u
/** Client commands queued per iteration: one REQUEST per datagram, so one burst. */
#define DP_CMDS_MAX DP_RX_BURST
/** Transmit buffers of the port; a fuller queue is flushed by nic_tx_buf itself. */
#define DP_TX_BUFS 512u
/** Ticks run at once after a stall (a descheduled process); the rest are skipped,
 *  which only makes timeouts longer, never shorter. */
#define DP_TICKS_CATCHUP_MAX 16u
/** Adaptive idle: spin this long on an empty socket before sleeping in poll(). */
#define DP_IDLE_SPIN_NS 50000u
/** Longest single sleep of the adaptive idle policy (a tick is usually shorter). */
#define DP_IDLE_SLEEP_NS_MAX 100000000u
/** Client address table: probes per lookup (open addressing, bounded). */
#define DP_CLIENT_PROBES 8u
/** Smallest client address table (entries, power of two). */
#define DP_CLIENTS_MIN 64u
/** Requested kernel socket buffer (capped by net.core.rmem_max / wmem_max). */
#define DP_SOCK_BUF_BYTES (4u << 20)
/** Ports of one replica: an ethdev port per peer link, plus the ports clients come in on
 *  (clients = dpdk: every other ethdev port, e.g. one memif link per client process;
 *  clients = udp: one kernel socket). */
#define DP_PORTS_MAX 16u
/** Commit-latency histogram: bucket b counts commits that took [2^b, 2^(b+1)) ns from
 *  the leader's propose to the commit it learnt (the last bucket: 2^31 ns and more). */
#define DP_LAT_BUCKETS 32u
/** Read-index reads queued at the leader, waiting for their leadership round and the
 *  apply point (docs/consistency.md); a fuller queue answers BUSY. */
#define DP_READS_MAX 256u
/** stages = 2: records in the ring from the consensus lcore to the apply lcore (a power
 *  of two). Slots are never dropped (they wait for room); client addresses and early
 *  replies are dropped and counted when it is full. */
#define DP_RING_RECS 16384u
/** stages = 2: the apply lcore publishes its counters this often. */
#define DP_APPLY_PUB_NS 50000000u
/** Several ports and nothing to sleep on for all of them: adaptive idle naps this long
 *  between two looks at every port. */
#define DP_IDLE_SLICE_NS 20000u

_Static_assert(DP_RX_BURST <= NIC_BURST_MAX, "the rx burst fits the nic's bound");
_Static_assert(DP_TX_BUFS >= DP_RX_BURST && DP_TX_BUFS <= NIC_TX_BUFS_MAX,
	       "the tx queue holds a burst and fits one sendmmsg");
_Static_assert(DP_TX_BUFS >= PX_REPLICAS_MAX * 8u,
	       "a handful of broadcasts to every peer fit before a flush");
_Static_assert(DP_CMDS_MAX >= DP_RX_BURST, "every REQUEST of a burst can be queued");
_Static_assert(PX_MSG_BYTES_MAX <= NIC_BUF_BYTES_MAX, "a message fits one datagram");
_Static_assert((DP_CLIENTS_MIN & (DP_CLIENTS_MIN - 1)) == 0, "table size is a power of two");
_Static_assert(DP_CLIENT_PROBES <= DP_CLIENTS_MIN, "probes stay within the table");
_Static_assert(DP_PORTS_MAX <= 255u, "a port slot fits a uint8_t");
_Static_assert(DP_PORTS_MAX > PX_REPLICAS_MAX, "a link per peer and a client port fit");
_Static_assert((DP_RING_RECS & (DP_RING_RECS - 1)) == 0, "ring size is a power of two");
_Static_assert(DP_RING_RECS >= 2u * PX_WINDOW_MAX, "the ring holds a window of slots and more");

/* ---------------------------------------------------------------------------------- */
/* Client address table: client_id -> where its last REQUEST came from                 */

struct dp_client {
	uint64_t client_id;
	uint64_t stamp;          /**< 0: empty; else the table's clock when last used */
	struct nic_addr addr;
	uint8_t port;            /**< the replica's port (dp_ctx.ports slot) it came in on */
};

struct dp_clients {
	struct dp_client *t;
	uint32_t mask;           /**< entries - 1; entries a power of two */
	uint64_t clock;          /**< Invariant: > every entry's stamp */
	uint64_t evictions;      /**< a live entry was overwritten (table or probe window full) */
};

/** Entries for max_sessions client sessions (twice as many, power of two). */
uint32_t dp_clients_entries(uint32_t max_sessions);
/** t has `entries` zeroed elements (calloc). */
void dp_clients_init(struct dp_clients *c, struct dp_client *t, uint32_t entries);
/** Remembers (addr, port) for client_id; evicts the least recently used of its probe
 *  window. */
void dp_clients_put(struct dp_clients *c, uint64_t client_id, const struct nic_addr *addr,
		    uint8_t port);
/** The entry of client_id, or NULL if it is not (or no longer) known. */
const struct dp_client *dp_clients_get(const struct dp_clients *c, uint64_t client_id);

/* ---------------------------------------------------------------------------------- */
/* Counters                                                                            */

struct dp_counters {
	uint64_t iterations;
	uint64_t decode_drops[PX_WIRE_E_MAX];   /**< by enum px_wire_err */
	uint64_t misaddressed;     /**< replica message for another replica: dropped */
	uint64_t unexpected;       /**< a REPLY sent to a replica: dropped */
	uint64_t steps;            /**< messages given to px_step */
	uint64_t requests;         /**< REQUESTs decoded */
	uint64_t proposed;         /**< commands px_propose took */
	uint64_t not_leader;       /**< REPLY PX_NOT_LEADER sent */
	uint64_t busy;             /**< REPLY PX_BUSY sent (pipeline full, queue full) */
	uint64_t replies;          /**< REPLYs of applied commands sent */
	uint64_t reply_no_addr;    /**< applied reply for a client whose address is unknown */
	uint64_t tx_no_buf;        /**< messages not sent for want of a tx buffer */
	uint64_t ticks;
	uint64_t ticks_skipped;    /**< beyond DP_TICKS_CATCHUP_MAX after a stall */
	uint64_t idle_sleeps;      /**< adaptive idle: poll() calls */
	uint64_t role_changes;
	uint64_t stats_lines;
	uint64_t reads_index;      /**< reads served by read index (no log slot) */
	uint64_t reads_logged;     /**< reads sent through the log (session not held, or
	                                the leader not ready for read index) */
	uint64_t reads_failed;     /**< queued reads answered NOT_LEADER (leadership lost) */
	uint64_t ring_full;        /**< stages = 2: client address or reply not handed to the
	                                apply lcore (ring full); the client retries */
	uint64_t client_on_link;   /**< stages = 2: REQUEST on a peer link port: dropped */
	uint64_t admin;            /**< admin REQUESTs (PX_MF_ADMIN) answered */
	uint64_t registers;        /**< registrations (PX_MF_REGISTER) queued to propose */
	uint64_t bad_requests;     /**< REQUESTs that are no command, answered BAD_COMMAND
	                                at once, never logged: seq 0 without REGISTER (a
	                                probe), or a REGISTER with a seq, a body or nonce 0 */
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
	X(rx_pkts) X(rx_bytes) X(rx_polls) X(rx_bursts) X(tx_pkts) X(tx_bytes)          \
	X(tx_flushes) X(waits) X(wakeups) X(arp_replies) X(icmp_replies) X(ctl_tx_drops)  \
	X(link_restarts)
#define DP_LOOP_FIELDS(X)                                                                \
	X(iterations) X(steps) X(requests) X(proposed) X(replies) X(not_leader) X(busy)  \
	X(reply_no_addr) X(misaddressed) X(unexpected) X(tx_no_buf) X(ticks)             \
	X(ticks_skipped) X(idle_sleeps) X(role_changes) X(reads_index) X(reads_logged)   \
	X(reads_failed) X(ring_full) X(client_on_link) X(admin) X(registers)             \
	X(bad_requests)
#define DP_PX_FIELDS(X)                                                                  \
	X(elections_started) X(prevotes_started) X(leaderships_won)                      \
	X(stepdowns_check_quorum) X(proposals) X(commands_proposed) X(commits)           \
	X(catchup_entries_sent) X(state_transfer_needed) X(recoveries_completed)         \
	X(transfers) X(read_tickets) X(read_refused) X(read_rounds) X(read_confirms)
#define DP_APPLY_FIELDS(X)                                                               \
	X(slots) X(commands) X(duplicates) X(stale) X(expired) X(evictions) X(noops)     \
	X(bad_seq) X(reads) X(registrations) X(unissued)

struct dp_snap {
	uint64_t t_ms;                 /**< since dp_run started */
	uint64_t self, cluster;
	uint64_t role;                 /**< enum px_role */
	uint64_t leader;               /**< PX_NODE_NONE if unknown */
	uint64_t ballot_round, ballot_node;
	uint64_t commit, applied, last_slot;
	uint64_t state_transfer_needed;   /**< 0 or 1 */
	struct nic_stats nic;
	struct dp_counters dp;
	uint64_t client_evictions;
	struct px_counters px;
	struct px_apply_counters apply;
	uint64_t sessions;
	uint64_t commit_lat[DP_LAT_BUCKETS];   /**< leader: slots by commit latency (log2 ns) */
};

#define DP_SNAP_WORDS (sizeof(struct dp_snap) / sizeof(uint64_t))
_Static_assert(sizeof(struct dp_snap) % sizeof(uint64_t) == 0, "the snapshot is whole words");

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
/* stages = 2: the ring from the consensus lcore to the apply lcore (dp_apply.c)        */

enum dp_rec_type {
	DP_REC_SLOT = 1,    /**< apply slot `a` (value, len); answer its clients if `leader` */
	DP_REC_ADDR = 2,    /**< client `a` is at (addr, port): for the REPLYs of its commands */
	DP_REC_REPLY = 3,   /**< send a body-less REPLY (status) to (addr, port) now */
};

/** One record. SLOT: value points into the replica's log; the consensus lcore does not
 *  reuse that memory before the apply lcore reports the slot applied (px_applied). */
struct dp_rec {
	uint8_t type;             /**< enum dp_rec_type */
	uint8_t port;             /**< ADDR, REPLY: the client's port slot */
	uint8_t status;           /**< REPLY */
	uint8_t leader;           /**< SLOT: this replica led when the slot was handed out */
	uint8_t hint;             /**< SLOT, REPLY: leader hint for the REPLY */
	uint32_t len;             /**< SLOT: value bytes */
	uint64_t a;               /**< SLOT: the slot; ADDR, REPLY: the client id */
	uint64_t seq;             /**< REPLY */
	uint64_t ballot;          /**< SLOT, REPLY: ballot for the REPLY */
	const uint8_t *value;     /**< SLOT */
	struct nic_addr addr;     /**< ADDR, REPLY */
};

/** Single producer (consensus lcore), single consumer (apply lcore). Each side keeps its
 *  own position and a cached copy of the other's; positions only grow. */
struct dp_ring {
	_Alignas(64) _Atomic uint64_t tail;     /**< written by the producer (release) */
	uint64_t tail_local;                    /**< producer: records written */
	uint64_t head_cache;                    /**< producer: last head read */
	_Alignas(64) _Atomic uint64_t head;     /**< written by the consumer (release) */
	uint64_t head_local;                    /**< consumer: records read */
	uint64_t tail_cache;                    /**< consumer: last tail read */
	_Alignas(64) struct dp_rec *recs;       /**< DP_RING_RECS */
};

/** The apply lcore's counters, published to the consensus lcore (seqlock of words). */
struct dp_apply_snap {
	uint64_t replies, reply_no_addr, tx_no_buf, client_evictions, sessions, applied;
	struct px_apply_counters apply;
};
#define DP_APPLY_SNAP_WORDS (sizeof(struct dp_apply_snap) / sizeof(uint64_t))
_Static_assert(sizeof(struct dp_apply_snap) % sizeof(uint64_t) == 0, "whole words");

struct dp_ctx;

/** The apply stage's state: owned by the apply lcore once it runs, except the atomics. */
struct dp_stage {
	struct dp_ctx *d;           /**< read-only from here: ports, cfg, stop flag */
	struct dp_ring ring;
	struct px_applier *a;       /**< the applier moves here from the consensus lcore */
	struct px_apply_out *aout;
	struct px_msg *reply;
	struct dp_clients clients;
	uint64_t applied;
	uint64_t replies, reply_no_addr, tx_no_buf;
	uint64_t next_pub_ns, last_work_ns;
	_Alignas(64) _Atomic uint64_t applied_pub;   /**< release: slots <= it are applied */
	_Alignas(64) atomic_uint_fast64_t snap_seq;
	_Atomic uint64_t snap_words[DP_APPLY_SNAP_WORDS];
};

/** Producer side (consensus lcore). false: full (nothing written). */
bool dp_ring_push(struct dp_ring *r, const struct dp_rec *rec);
/** Makes what was pushed visible to the consumer. */
void dp_ring_publish(struct dp_ring *r);
/** Room for n more records. */
bool dp_ring_room(struct dp_ring *r, uint32_t n);
/** The apply lcore's loop (nic_worker_launch's fn); returns 0 after *d->stop. */
int dp_apply_run(void *stage);
/** Consensus lcore: a consistent copy of the apply lcore's counters (false: every try
 *  raced a write; s then undefined). */
bool dp_apply_snap_read(struct dp_stage *st, struct dp_apply_snap *s);

/* ---------------------------------------------------------------------------------- */
/* Context                                                                             */

enum dp_log_level { DP_LOG_ERROR = 0, DP_LOG_WARN = 1, DP_LOG_INFO = 2, DP_LOG_DEBUG = 3 };

/** One replica's loop state. Owned by the thread running dp_run (no sharing). */
struct dp_ctx {
	/* Configuration (read-only after dp_init). Cache-aligned: one context per lcore. */
	_Alignas(64) const struct pw_cluster_cfg *cfg;
	struct px_config pxc;
	uint8_t self;
	enum dp_log_level log_level;
	uint64_t tick_ns;
	uint64_t stats_interval_ns;          /**< 0: no periodic stats */

	/* The replica, its applier and service (arenas from dp_init) */
	struct px_replica *r;
	struct px_applier *a;
	struct px_service svc;

	/* I/O: one port (udp, or one ethdev port for everything), or an ethdev port per peer
	 * link plus the ports clients come in on (a memif mesh). */
	struct nic_port *ports[DP_PORTS_MAX];
	uint8_t n_ports;
	/** The port to sleep on when idle: the kernel socket if there is one (clients wake
	 *  it at once), else ports[0]. */
	uint8_t sleep_port;
	struct nic_addr peers[PX_REPLICAS_MAX];   /**< members' addresses; [self] unused */
	uint8_t peer_port[PX_REPLICAS_MAX];       /**< ports slot that reaches member j */
	struct nic_pkt pkts[DP_RX_BURST];

	/* Scratch, allocated once: effects of one call into the core, replies of one
	 * applied slot, one decoded message, one REPLY being built. */
	struct px_out *out;
	struct px_apply_out *aout;
	struct px_msg *msg;
	struct px_msg *reply;

	/* Commands queued by one port's burst; bodies point into its receive views. */
	uint32_t n_cmds;
	struct px_cmd_ref cmds[DP_CMDS_MAX];
	struct nic_addr cmd_src[DP_CMDS_MAX];
	uint8_t cmd_port[DP_CMDS_MAX];

	struct dp_clients clients;

	/* Read-index reads (leader): a FIFO in ticket order, command bytes copied. */
	struct dp_read {
		uint64_t ticket, index, client_id, seq;
		struct nic_addr src;
		uint8_t port;
		uint32_t len;
	} *reads;                              /**< DP_READS_MAX */
	uint8_t *read_bytes;                   /**< DP_READS_MAX x PX_CMD_BYTES_MAX */
	uint8_t *read_reply;                   /**< PX_REPLY_BYTES_MAX */
	uint32_t read_head, read_n;            /**< Invariant: read_n <= DP_READS_MAX */
	uint64_t read_confirmed;               /**< highest ticket confirmed so far */

	/* Commit latency (leader): when each slot of the window was proposed (0: not by
	 * this replica), and the histogram of propose-to-commit times. */
	uint64_t *slot_t0;                    /**< window_slots entries, by slot % window */
	uint64_t commit_lat[DP_LAT_BUCKETS];

	/* stages = 2 (NULL: run to completion): the apply lcore's stage. */
	struct dp_stage *stage;
	bool port_is_link[DP_PORTS_MAX];      /**< tx owned by this lcore; else by the stage */
	uint64_t slots_given;                 /**< SLOT records pushed up to this slot */
	uint64_t slots_due;                   /**< the core handed out slots up to this one */
	uint64_t applied_told;                /**< px_applied called up to this slot */

	/* Time */
	uint64_t start_ns;
	uint64_t next_tick_ns;
	uint64_t next_stats_ns;
	uint64_t last_rx_ns;                  /**< adaptive idle: spin this long after it */
	enum px_role role;                    /**< as last reported by the core */
	bool warned_recovering;
	bool warned_state_transfer;

	/* Signals (set by handlers in paxwired.c; the only state shared with them) */
	atomic_bool *stop;
	atomic_bool *stats_now;

	/* Snapshot for off-thread readers (NULL: nobody reads one, nothing published) */
	struct dp_pub *pub;
	uint64_t next_pub_ns;

	struct dp_counters c;
};

/** Encodes m into a transmit buffer of p for dst. false: no buffer (caller counts). */
bool dp_tx_msg(struct nic_port *p, const struct px_msg *m, const struct nic_addr *dst);
/** Fills the per-reply fields of the REPLY scratch m (its header was set once) and
 *  sends it like dp_tx_msg. */
bool dp_tx_reply(struct nic_port *p, struct px_msg *m, const struct nic_addr *dst,
		 uint64_t ballot, uint8_t hint, uint64_t client_id, uint64_t seq,
		 uint8_t status, const uint8_t *body, uint32_t len);

/** Runs the loop until *stop. Returns 0. */
int dp_run(struct dp_ctx *d);

/** Prints one JSON line of every counter to f (and flushes it). */
void dp_stats_print(struct dp_ctx *d, FILE *f, uint64_t now_ns, bool final);

/** Monotonic nanoseconds. */
uint64_t dp_now_ns(void);

__attribute__((format(printf, 3, 4))) void dp_log(const struct dp_ctx *d,
						  enum dp_log_level lvl, const char *fmt, ...);

const char *dp_role_name(enum px_role role);
/** The JSON key of a px_drop reason ("stale_ballot", ...). */
const char *dp_px_drop_name(enum px_drop drop);

/* dp_telemetry.c (DPDK builds only): registers /paxwire/stats and /paxwire/role with
 * DPDK telemetry, reading p (which must outlive the EAL). After nic_eal_init.
 * Returns 0 or a negative errno. */
int dp_telemetry_register(struct dp_pub *p);

#endif /* DP_PVT_H */
