/* SPDX-License-Identifier: Apache-2.0
 * paxwire consensus core: a pure, deterministic Multi-Paxos replica.
 *
 * The replica never touches a clock, socket, thread, mbuf or the allocator after init
 * (see docs/architecture.md). Input is one of: a decoded message (px_step), a tick
 * (px_tick), a batch of client commands (px_propose), a persisted notice (px_persisted),
 * an applied notice (px_applied), the start of a read (px_read_begin). Output is one
 * batch of effects in struct px_out: messages to send, a persist request, the committed
 * range to apply, role changes, confirmed read tickets.
 *
 * Effects reference memory owned by the replica (log slot values): they stay valid
 * until the next call into the same replica. Encode or copy them before that.
 */
#ifndef PX_H
#define PX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "px_batch.h"
#include "px_limits.h"

/* ---------------------------------------------------------------------------------- */
/* Ballots                                                                             */

/** A ballot is (round, node id) in one u64: round in the high 56 bits. 0 = none. */
static inline uint64_t px_ballot_make(uint64_t round, uint8_t node)
{
	return (round << 8) | node;
}
static inline uint64_t px_ballot_round(uint64_t b) { return b >> 8; }
static inline uint8_t px_ballot_node(uint64_t b) { return (uint8_t)(b & 0xff); }

#define PX_NODE_NONE 0xffu  /**< no node / broadcast destination */

/* ---------------------------------------------------------------------------------- */
/* Configuration                                                                       */

enum px_durability {
	/** The embedder persists promises and accepted slots before confirming. */
	PX_DURABLE = 1,
	/** Durability by replication; a restarted replica runs the recovery protocol. */
	PX_MEMORY = 2,
};

struct px_config {
	uint32_t cluster_id;
	uint32_t config_epoch;
	uint8_t n_replicas;          /**< 3, 5, 7 or 9 */
	uint8_t self;                /**< this replica's id, < n_replicas */
	enum px_durability durability;
	uint32_t window_slots;       /**< log ring size, power of two, PX_WINDOW_MIN..MAX */
	uint32_t pipeline_slots;     /**< W: proposed-but-uncommitted bound, <= window/2 */
	uint32_t slot_bytes;         /**< max bytes of one slot value (encoded batch) */
	uint32_t batch_cmds_max;     /**< max commands packed into one slot */
	uint32_t heartbeat_ticks;    /**< leader heartbeat period */
	uint32_t election_ticks;     /**< a follower suspects the leader after e / h heartbeat
	                                  intervals without progress (net: Mu's score);
	                                  campaign retries are uniform in [e, 2e) */
	uint64_t seed;               /**< randomises election timeouts (deterministic) */
	/** True when this start follows a crash that lost this replica's promises and
	 *  votes: every memory-mode restart, and a durable start whose journal was damaged
	 *  (repair from peers: docs/consistency.md, "Repair of a damaged journal"). The
	 *  replica then recovers before it votes. false for the first start of a new
	 *  cluster and for a durable restart from an intact journal (node_restore). */
	bool restarted;
	/** A start with `restarted`: a nonce unique to this start (random from the
	 *  embedder). */
	uint64_t boot_nonce;
	/** A new replica joining a running cluster (paxwired --join): `self` is a new id,
	 *  n_replicas..PX_REPLICAS_MAX-1 (never one of the file's first voters, which
	 *  would believe itself a voter at slot 1). Every replica starts with
	 *  the cluster file's membership (voters 0..n_replicas-1 at config_epoch) as the
	 *  one in force at slot 1, and follows the log from there (or a snapshot's,
	 *  px_restore_membership); a replica that is no voter of the configuration in
	 *  force never campaigns, so a joiner waits until a leader adds it. */
	bool join;
	/** Deliberate protocol bugs (enum px_bug bit set), honoured only in builds with
	 *  PX_BUGS defined (the simulator's); ignored otherwise. Proves the checks can fail. */
	uint32_t bugs;
};

/** Deliberately broken protocol steps for the simulator (pw-sim --bug NAME). */
enum px_bug {
	PX_BUG_SKIP_RECOVERY = 1u << 0,    /**< new leader ignores promised values (no-ops) */
	PX_BUG_MINORITY_COMMIT = 1u << 1,  /**< commit counted on a minority */
	PX_BUG_ACCEPT_LOWER = 1u << 2,     /**< acceptor accepts a ballot below its promise */
	PX_BUG_FORGET_PROMISES = 1u << 3,  /**< memory-mode restart skips the recovery protocol */
	PX_BUG_COMMIT_STALE = 1u << 4,     /**< follower applies slots accepted at an older ballot */
	PX_BUG_READ_NO_CONFIRM = 1u << 5,  /**< leader confirms read tickets without a round */
	PX_BUG_READ_EARLY = 1u << 6,       /**< reads before the leader's phase-1 slots commit */
	PX_BUG_RECOVER_NO_BUMP = 1u << 7,  /**< a recovery keeps the newest known incarnation */
	PX_BUG_RECOVER_MINORITY = 1u << 8, /**< a recovery completes on f responders, not f+1 */
	PX_BUG_MERGE_ANY = 1u << 9,        /**< phase-1 merge keeps the latest report, not the
	                                        highest ballot */
	PX_BUG_CATCHUP_SKIP = 1u << 10,    /**< catch-up starts one past the follower's ack + 1 */
	PX_BUG_STATE_NEEDED_ANY = 1u << 11, /**< STATE_NEEDED believed from anyone, any role */
	PX_BUG_CHOSEN_ANY = 1u << 12,      /**< PX_EF_CHOSEN believed past the ACCEPT's commit */
	PX_BUG_NO_SENDER_CHECK = 1u << 13, /**< a leader's ballot need not name its sender */
	PX_BUG_INSTALL_ACK_ALL = 1u << 14, /**< an installed snapshot acknowledges every slot
	                                        held above it, whatever its ballot */
	PX_BUG_REPAIR_VOTES = 1u << 15,    /**< a durable replica whose journal was damaged
	                                        votes at once (no recovery first) */
	PX_BUG_LEARNER_VOTES = 1u << 16,   /**< a learner's ack counts towards commit */
	PX_BUG_CONF_NO_PHASE1 = 1u << 17,  /**< at a configuration's first slot the leader
	                                        keeps leading without a phase 1 among the
	                                        new voters */
	PX_BUG_CONF_NO_ALPHA = 1u << 18,   /**< the leader proposes past the alpha window
	                                        and into a pending configuration */
	/* node/'s remote-memory log transport (docs/rdma.md), honoured by node/: */
	PX_BUG_RM_NO_REVOKE = 1u << 19,    /**< a follower promises a new ballot without
	                                        revoking the old leader's write access */
	PX_BUG_RM_COUNT_POSTED = 1u << 20, /**< a leader counts a write as accepted when it
	                                        posts it, not when it completes */
};

/* ---------------------------------------------------------------------------------- */
/* Membership (docs/consistency.md, "Membership changes")                              */

/** Learners one configuration may hold besides its voters (ids share 0..PX_REPLICAS_MAX-1). */
#define PX_LEARNERS_MAX 4u

/** One configuration: who votes and who only receives the log. Bit i = node id i. */
struct px_members {
	uint32_t epoch;      /**< 1 for the cluster file's; +1 per change */
	uint16_t voters;     /**< 3 to 9 (1: the unreplicated baseline) */
	uint16_t learners;   /**< at most PX_LEARNERS_MAX, none a voter */
};

/**
 * What the log decided about membership as of one slot s ("in force at s"). A
 * configuration entry chosen at slot j takes effect at slot j + alpha (Lamport, Malkhi,
 * Zhou, "Reconfiguring a State Machine", 2010: the alpha window), alpha being the
 * cluster's pipeline bound (cfg.pipeline_slots): a leader proposes slot s only when
 * every slot <= s - alpha is known chosen, so it knows the configuration of every slot
 * it proposes. At most one change is pending at a time.
 */
struct px_membership {
	struct px_members cur;   /**< in force at s */
	struct px_members next;  /**< chosen, in force from next_eff (0: none pending) */
	uint64_t next_eff;
	uint32_t alpha;
};

/** A configuration entry is a batch of one command (client 0, seq 0) whose body is:
 *  u32 PX_CONF_MAGIC, u32 base epoch, u32 new epoch, u16 voters, u16 learners, then
 *  PX_REPLICAS_MAX addresses of PX_CONF_ADDR_BYTES (NUL-padded text, the embedder's;
 *  empty for ids that are not members). The core reads the first 16 bytes only. */
#define PX_CONF_MAGIC 0x46435850u  /* "PXCF" */
#define PX_CONF_ADDR_BYTES 32u
#define PX_CONF_HDR_BYTES 16u
#define PX_CONF_BYTES (PX_CONF_HDR_BYTES + PX_REPLICAS_MAX * PX_CONF_ADDR_BYTES)

/** True if m is a configuration a cluster may run: 3..9 voters (or exactly one, node 0
 *  of a single-replica cluster), at most PX_LEARNERS_MAX learners, none both. */
bool px_members_valid(const struct px_members *m);

/** If the batch value (len bytes) is a configuration entry, fills *base (the epoch it
 *  replaces), *m, and *body (the command body, PX_CONF_BYTES) and returns true. */
bool px_conf_parse(const uint8_t *value, uint32_t len, uint32_t *base, struct px_members *m,
		   const uint8_t **body);

/** Writes a configuration command body (PX_CONF_BYTES) replacing epoch base by m;
 *  addrs[i] (may be NULL) is member i's address text. */
void px_conf_body(uint8_t body[PX_CONF_BYTES], uint32_t base, const struct px_members *m,
		  const char *const addrs[PX_REPLICAS_MAX]);

/** The membership of a cluster file: voters 0..n-1, epoch, alpha. */
void px_membership_init(struct px_membership *ms, uint8_t n_replicas, uint32_t epoch,
			uint32_t alpha);

/** Slot `slot` was chosen with this value: the membership in force at slot + 1 (a
 *  pending change that takes effect, a configuration entry that starts pending).
 *  Returns 1 if the value was a configuration entry that took, -1 one that did not
 *  (stale base epoch, a change already pending, invalid members: void), 0 otherwise.
 *  The applier and the core call it on the same chosen slots, so they agree. */
int px_membership_chosen(struct px_membership *ms, uint64_t slot, const uint8_t *value,
			 uint32_t len);

/** The pending change takes effect once `slot` >= next_eff. True if it did. */
bool px_membership_advance(struct px_membership *ms, uint64_t slot);

static inline uint32_t px_popcount16(uint16_t x) { return (uint32_t)__builtin_popcount(x); }
static inline bool px_is_voter(const struct px_members *m, uint8_t id)
{
	return id < 16 && (m->voters >> id) & 1u;
}
static inline bool px_is_member(const struct px_members *m, uint8_t id)
{
	return id < 16 && ((m->voters | m->learners) >> id) & 1u;
}

/** Fills sensible defaults for n replicas with this node id. */
void px_config_default(struct px_config *cfg, uint8_t n_replicas, uint8_t self);

/** Returns 0, or -EINVAL with *why set to a static string naming the bad field. */
int px_config_check(const struct px_config *cfg, const char **why);

/* ---------------------------------------------------------------------------------- */
/* Messages (decoded form; see px_codec.h for the wire format)                         */

enum px_msg_type {
	PX_MSG_PREVOTE = 1,        /**< would you vote for me? (no state change) */
	PX_MSG_PREVOTE_REPLY = 2,
	PX_MSG_PREPARE = 3,        /**< phase 1a: ballot, from slot */
	PX_MSG_PROMISE = 4,        /**< phase 1b: accepted entries from slot (paged) */
	PX_MSG_ACCEPT = 5,         /**< phase 2a: entries at ballot + commit point; heartbeat if empty */
	PX_MSG_ACCEPTED = 6,       /**< phase 2b: cumulative ack */
	PX_MSG_NACK = 7,           /**< your ballot is stale: here is my promised ballot */
	PX_MSG_TIMEOUT_NOW = 8,    /**< leadership transfer: start phase 1 at once */
	PX_MSG_STATE_NEEDED = 9,   /**< the slots you need left my window: state transfer */
	PX_MSG_RECOVER = 10,       /**< memory-mode restart: query (round 1) or announce (round 2) */
	PX_MSG_RECOVER_REPLY = 11,
	/** State transfer (node/, never the core): ask a replica for a chunk of its
	 *  snapshot; from a replica or a tool (PX_NODE_NONE: pwctl snapshot save). */
	PX_MSG_SNAP_REQ = 12,
	PX_MSG_SNAP_CHUNK = 13,    /**< one chunk of a snapshot, or PX_MF_SNAP_NONE */
	/** node/, never the core: "your fresh start is refused": the receiver was started
	 *  as the first start of a new cluster (its messages carry PX_UUID_FRESH) but the
	 *  sender knows it as a member of its cluster, whose uuid the header carries. No
	 *  body. docs/protocol.md, "Cluster uuid". */
	PX_MSG_REFUSE = 14,
	/** node/, never the core: the remote-memory log transport's setup (docs/rdma.md):
	 *  a leader's HELLO (its endpoint), a follower's GRANT (PX_MF_RM_GRANT: its
	 *  endpoint, log region, next record, horizon). nonce: the HELLO it belongs to;
	 *  slot_lo: the follower's next record; slot_hi: its horizon; body: node/'s bytes,
	 *  at most PX_RM_BODY_MAX. */
	PX_MSG_RM = 15,
	PX_MSG_REQUEST = 20,       /**< client -> replica: one command */
	PX_MSG_REPLY = 21,         /**< replica -> client */
	PX_MSG_TYPE_MAX = 22,
};

/** Message flags (bit set, meaning depends on type). */
#define PX_MF_LAST 0x01u      /**< PROMISE/RECOVER_REPLY: no more entries after this page */
#define PX_MF_GRANT 0x02u     /**< PREVOTE_REPLY: granted */
#define PX_MF_FORCE 0x04u     /**< PREPARE: sent because of TIMEOUT_NOW (leadership
                                   transfer): the acceptor promises even though it heard
                                   from a leader within election_ticks (8.1, 8.4) */
#define PX_MF_NORMAL 0x08u    /**< RECOVER_REPLY: responder is in normal status */
#define PX_MF_LEADER 0x10u    /**< RECOVER_REPLY: responder leads at its promised ballot */
#define PX_MF_ANNOUNCE 0x20u  /**< RECOVER: round 2, carries the new incarnation */
#define PX_MF_ADMIN 0x40u     /**< REQUEST: an admin command for the replica (seq 0, no
                                   session, not logged); body: PX_ADMIN_* op, argument */
#define PX_MF_REGISTER 0x80u  /**< REQUEST: register a client session (seq 0, client_id =
                                   the client's random non-zero nonce, empty body); logged
                                   as a command with seq 0; the REPLY (client_id = the
                                   nonce, seq 0) carries the session id (px_apply.h) */

#define PX_MF_RM_GRANT 0x01u  /**< RM: a follower's grant (else a leader's HELLO) */
#define PX_MF_SNAP_NONE 0x01u /**< SNAP_CHUNK: the sender cannot serve the snapshot
                                   asked for (it needs state itself, or is behind the
                                   slot asked for): ask another replica */

/** Admin commands (REQUEST with PX_MF_ADMIN). Body: u8 op, then its argument. */
#define PX_ADMIN_TRANSFER 1u  /**< u8 target: the leader hands leadership to target */
#define PX_ADMIN_STATS 2u     /**< optional u8 page (none: 0): any member answers with
                                   its metrics, that page's groups (a JSON object in
                                   the REPLY body: docs/metrics.md) */
#define PX_ADMIN_MEMBERS 3u   /**< no argument: any member answers with the membership it
                                   knows (a JSON object: docs/operations.md) */
#define PX_ADMIN_ADD 4u       /**< u8 id, then the address text (1..31 bytes): the leader
                                   adds id as a learner (node_add_member) */
#define PX_ADMIN_REMOVE 5u    /**< u8 id: the leader removes id (node_remove_member) */

/** Entry flags. */
#define PX_EF_CHOSEN 0x01u    /**< the sender knows this slot is chosen */

/** One log entry in a message: a slot, the ballot its value was accepted at, the value.
 *  `value` points into the sender's log (outgoing) or the receive buffer (incoming). */
struct px_entry {
	uint64_t slot;
	uint64_t vballot;
	uint32_t len;
	uint8_t flags;
	const uint8_t *value;
};

/** Client reply status. */
enum px_status {
	PX_OK = 0,
	PX_NOT_LEADER = 1,       /**< `leader_hint` names the leader if known */
	PX_SESSION_EXPIRED = 2,  /**< the client's session is not held (evicted, or never
	                              registered): outcome unknown; register again */
	PX_BUSY = 3,             /**< pipeline full; retry */
	PX_BAD_COMMAND = 4,      /**< the service rejected the command */
	PX_STATUS_MAX = 5,
};

/**
 * A cluster's identity (docs/protocol.md, "Cluster uuid"): 128 random bits the first
 * leader of a new cluster writes into the log (px_apply.h, "bind"), carried in every
 * message's header. All zero: the sender does not know it (yet); lo ==
 * PX_UUID_FRESH_WORD (the fresh mark): the sender does not know it and was started as
 * the first start of a new cluster (paxwired --bootstrap), hi naming that start (random,
 * non-zero). Anything else is an id. The core only carries it: node/ checks it.
 */
struct px_uuid {
	uint64_t lo, hi;
};
#define PX_UUID_FRESH_WORD UINT64_MAX  /**< lo of the "fresh" mark */
#define PX_UUID_BYTES 16u

static inline bool px_uuid_eq(struct px_uuid a, struct px_uuid b)
{
	return a.lo == b.lo && a.hi == b.hi;
}
static inline bool px_uuid_zero(struct px_uuid u) { return (u.lo | u.hi) == 0; }
static inline bool px_uuid_fresh(struct px_uuid u) { return u.lo == PX_UUID_FRESH_WORD; }
/** A cluster's id: neither zero nor the fresh mark. */
static inline bool px_uuid_is_id(struct px_uuid u)
{
	return !px_uuid_zero(u) && !px_uuid_fresh(u);
}

struct px_msg {
	uint8_t type;          /**< enum px_msg_type */
	uint8_t flags;         /**< PX_MF_* */
	uint8_t from;          /**< sender node id (clients: PX_NODE_NONE) */
	uint8_t to;            /**< destination node id, PX_NODE_NONE = every peer */
	uint32_t cluster_id;
	uint32_t config_epoch;
	struct px_uuid uuid;   /**< the sender's cluster uuid (set by node/, not the core) */
	uint64_t ballot;       /**< sender's ballot (promised, proposing, or candidate) */
	/** Crash vector (DISC 2017): incarnation[i] = newest incarnation of node i the sender
	 *  knows of; incarnation[from] is the sender's own. n_inc entries. */
	uint8_t n_inc;
	uint32_t incarnation[PX_REPLICAS_MAX];

	/* Body fields; which ones are meaningful depends on type (docs/protocol.md). */
	uint64_t slot_lo;      /**< PREPARE/PROMISE/RECOVER/RECOVER_REPLY: first slot covered;
	                            PREVOTE_REPLY: the PREVOTE's ballot it answers (the
	                            header's ballot is the responder's promise) */
	uint64_t slot_hi;      /**< PROMISE/RECOVER_REPLY: next slot to ask for;
	                            ACCEPTED: cumulative ack (every slot <= it accepted) */
	uint64_t commit;       /**< sender's commit point (highest slot known chosen, prefix) */
	uint64_t nonce;        /**< RECOVER/RECOVER_REPLY: boot nonce of the recovering node */
	/** Read-index rounds (px_read_begin). ACCEPT: the leader's newest read round;
	 *  ACCEPTED: the highest round the follower saw from the leader of `ballot` (an
	 *  echo). 0 = none. Carried in the header's u64 at offset 32 (docs/protocol.md). */
	uint64_t read_round;

	/* State transfer (SNAP_REQ/SNAP_CHUNK). slot_lo: the lowest slot the snapshot
	 * must cover (SNAP_REQ); slot_hi: the snapshot's slot, nonce: its content hash
	 * (0 in a SNAP_REQ: any snapshot covering slot_lo). */
	uint64_t snap_off;     /**< byte offset of the chunk asked for / carried */
	uint64_t snap_total;   /**< SNAP_CHUNK: bytes of the whole snapshot */

	/* Client messages (REQUEST/REPLY). */
	uint64_t client_id;
	uint64_t seq;
	uint8_t status;        /**< REPLY: enum px_status */
	uint8_t leader_hint;   /**< REPLY: leader node id or PX_NODE_NONE */
	uint32_t body_len;
	const uint8_t *body;   /**< REQUEST: command; REPLY: reply bytes */

	/* Last: the entries array is large and only its first n_entries are meaningful, so
	 * that building or decoding a message touches only the cache lines it uses. */
	uint32_t n_entries;
	struct px_entry entries[PX_MSG_ENTRIES_MAX];
};

/* ---------------------------------------------------------------------------------- */
/* Effects                                                                             */

enum px_role {
	PX_FOLLOWER = 0,
	PX_PRECANDIDATE = 1,
	PX_CANDIDATE = 2,
	PX_LEADER = 3,
	PX_RECOVERING = 4,
};

struct px_out {
	uint32_t n_msgs;
	struct px_msg msgs[PX_OUT_MSGS_MAX];
	/** Durable mode: persist (promised ballot, slots [persist_lo, persist_hi]) then call
	 *  px_persisted(persist_seq). persist_seq == 0: nothing to persist. Requests are
	 *  cumulative: a later seq covers everything an earlier one asked for. */
	uint64_t persist_seq;
	uint64_t persist_ballot;
	uint64_t persist_lo, persist_hi;
	/** The commit point to record with this request (every slot <= it is chosen). On
	 *  restart the embedder rebuilds its state machine by applying its journal's slots
	 *  up to the recorded commit point, then calls px_restore_applied(). */
	uint64_t persist_commit;
	/** The crash vector to keep with this request (persist_n_inc entries; 0: unchanged
	 *  since the last request that carried it). Entry `self` is this replica's own
	 *  incarnation as of its last completed recovery, never a number it is still
	 *  announcing. A restart hands the newest back (px_restore_incarnations). */
	uint8_t persist_n_inc;
	uint32_t persist_inc[PX_REPLICAS_MAX];
	/** Chosen slots now ready to apply, in order: [apply_lo, apply_hi]; empty if lo > hi.
	 *  Read them with px_slot_value() and report progress with px_applied(). */
	uint64_t apply_lo, apply_hi;
	bool role_changed;
	enum px_role role;
	bool state_transfer_needed;  /**< this replica fell behind the window: see docs */
	uint32_t dropped;            /**< input messages dropped by this call (stale, etc.) */
	/** Read index: the highest read ticket (px_read_begin) this call confirmed, 0 if
	 *  none. Every ticket <= it of the current leadership is confirmed. */
	uint64_t read_confirmed;
};

static inline void px_out_reset(struct px_out *out)
{
	out->n_msgs = 0;
	out->persist_seq = 0;
	out->persist_ballot = 0;
	out->persist_lo = 1;
	out->persist_hi = 0;
	out->persist_commit = 0;
	out->persist_n_inc = 0;
	out->apply_lo = 1;
	out->apply_hi = 0;
	out->role_changed = false;
	out->state_transfer_needed = false;
	out->dropped = 0;
	out->read_confirmed = 0;
}

/* ---------------------------------------------------------------------------------- */
/* Counters (all monotonic; read by the dataplane's telemetry)                         */

enum px_drop {
	PX_DROP_STALE_BALLOT,      /**< ballot below the promised one */
	PX_DROP_STALE_INCARNATION, /**< sent by an earlier incarnation of its sender */
	PX_DROP_NOT_LEADER,        /**< leader-only message at a non-leader */
	PX_DROP_WRONG_ROLE,        /**< message meaningless in our current role */
	PX_DROP_OUT_OF_WINDOW,     /**< slot beyond what the window can hold */
	PX_DROP_BAD_FIELD,         /**< decoded fine, but a field is impossible (sender id, ...) */
	PX_DROP_RECOVERING,        /**< we are recovering and may not answer */
	/** A number beyond what this replica can believe (docs/protocol.md, "Bounds"): a
	 *  ballot round over PX_ROUND_MAX or naming no member, a slot over PX_SLOT_MAX or
	 *  beyond what the sender can hold, an entry's ballot above the message's, an
	 *  incarnation no recovery can have produced. */
	PX_DROP_BOUND,
	/** A leader's or candidate's message (PREVOTE, PREPARE, ACCEPT, TIMEOUT_NOW) whose
	 *  ballot names another node than its sender. */
	PX_DROP_SENDER,
	PX_DROP_NOT_FOR_US,        /**< addressed to another replica */
	PX_DROP_EPOCH,             /**< another configuration epoch */
	/** A PREPARE without PX_MF_FORCE while we hear from a leader (Raft dissertation
	 *  4.2.3): a node that skipped or lost pre-vote must not depose a live leader. */
	PX_DROP_LEADER_ALIVE,
	/** From a node that is no member (voter or learner) of any configuration this
	 *  replica knows, at an epoch no newer than ours: a removed member, or a stranger. */
	PX_DROP_NOT_MEMBER,
	PX_DROP_MAX,
};

struct px_counters {
	uint64_t drops[PX_DROP_MAX];
	uint64_t elections_started;
	uint64_t prevotes_started;
	uint64_t leaderships_won;
	uint64_t stepdowns_check_quorum;
	uint64_t proposals;          /**< slots proposed */
	uint64_t commands_proposed;
	uint64_t commits;            /**< slots committed (chosen, known here) */
	uint64_t catchup_entries_sent;
	uint64_t state_transfer_needed;
	uint64_t recoveries_completed;
	uint64_t transfers;
	uint64_t read_tickets;       /**< read tickets handed out (px_read_begin > 0) */
	uint64_t read_refused;       /**< px_read_begin calls that returned 0 */
	uint64_t read_rounds;        /**< leadership confirmation rounds started */
	uint64_t read_confirms;      /**< rounds confirmed by a majority */
	/** Memory mode: this replica learned that a life of its own it never completed
	 *  announced a higher incarnation, and took that number (docs/consistency.md). */
	uint64_t incarnation_adopted;
	uint64_t incarnation_told;   /**< NACKs telling a peer of its newer incarnation */
	uint64_t conf_proposed;      /**< configuration entries proposed here */
	uint64_t conf_chosen;        /**< configuration entries committed that took */
	uint64_t conf_void;          /**< committed configuration entries that were void */
	uint64_t conf_switches;      /**< configurations that took effect here */
	/** Times this replica's failure detector came to suspect the leader (its score
	 *  reached election_ticks / heartbeat_ticks missed intervals, net). */
	uint64_t suspicions;
};

/* ---------------------------------------------------------------------------------- */
/* The replica                                                                         */

struct px_replica;

/** Bytes of arena px_replica_init needs for this config. */
size_t px_replica_arena_bytes(const struct px_config *cfg);

/**
 * Builds a replica inside `arena` (len >= px_replica_arena_bytes). Nothing is allocated
 * later. Returns NULL and sets errno (EINVAL: bad config; ENOSPC: arena too small).
 * With cfg->restarted (a memory-mode restart, or a durable replica repairing a damaged
 * journal), the replica starts in PX_RECOVERING: it answers no PREPARE/ACCEPT until the
 * recovery protocol has completed (docs/consistency.md).
 */
struct px_replica *px_replica_init(const struct px_config *cfg, void *arena, size_t len);

/**
 * Durable mode restart: reloads what the embedder persisted before px_tick/px_step.
 * Call once for the promise, then once per persisted slot, in any order.
 * @return 0, or -EINVAL if the slot cannot be held by the window.
 */
int px_restore_promise(struct px_replica *r, uint64_t promised_ballot);
int px_restore_slot(struct px_replica *r, uint64_t slot, uint64_t vballot,
		    const uint8_t *value, uint32_t len);
/* px_restore_slot also takes history after px_restore_applied(a): slots a, a-1, a-2, ...
 * in that (descending) order are kept as chosen so that this replica can serve catch-up;
 * it returns -ENOSPC once the window is full. */

/**
 * Durable mode restart: the crash vector the journal kept (the newest persist_inc),
 * before px_tick/px_step; not called if the journal holds none (all 0).
 * @return 0, or -EINVAL (memory mode, a repair start, n != n_replicas, or an entry at
 *         or above PX_INCARNATION_MAX).
 */
int px_restore_incarnations(struct px_replica *r, const uint32_t *inc, uint32_t n);

/**
 * Durable mode restart: the embedder rebuilt its state machine by applying its journal
 * up to `slot` (at most the last persist_commit it recorded). Call after
 * px_restore_promise and before px_restore_slot; slots up to `slot` are then chosen,
 * applied and no longer held. @return 0, or -EINVAL (wrong mode, or called late).
 */
int px_restore_applied(struct px_replica *r, uint64_t slot);

/**
 * A NEW cluster seeded from a snapshot (a backup), either mode: the embedder restored
 * the state machine of a replica that never ran (memory mode: cfg.restarted false;
 * durable mode: nothing restored from a journal) to the applied state after `slot`,
 * before the replica's first px_step or px_tick. Every slot <= slot is then chosen and
 * applied, nothing is held, and the next slot a leader proposes is slot + 1. Every
 * replica of the cluster must start from the same snapshot (one backup file): the core
 * cannot tell, and replicas started from different ones would apply different states.
 * Durable mode: out carries a persist request (the promise, 0, and commit point `slot`)
 * so that the journal records where the log starts; the embedder keeps the snapshot on
 * stable storage before it writes that request (a restart starts from the snapshot,
 * then replays the journal above it, as after px_restore_applied).
 * @return 0, or -EINVAL (slot 0 or above PX_SLOT_MAX; the replica restarted, ran, or
 *         was restored): nothing changed.
 */
int px_start_from(struct px_replica *r, uint64_t slot, struct px_out *out);

/* ---- Membership changes (docs/consistency.md, "Membership changes") ---- */

/**
 * Leader only: proposes a configuration entry replacing the one in force (body: from
 * px_conf_body, base = the epoch in force, m->epoch = base + 1). It takes effect alpha
 * slots after the slot it is chosen in; the leader fills those with no-ops if clients
 * do not, then runs phase 1 among the new voters at a new ballot (or, if it is no voter
 * of the new configuration, hands leadership to the most caught-up one that is).
 * @return the slot proposed (> 0), or -EAGAIN (not leader, or a change is already under
 *         way: proposed, or chosen and not yet in force; or the pipeline is full),
 *         -EINVAL (base or epoch not the next, members invalid), -ENOTSUP (memory mode:
 *         a memory-mode restart recovers from a majority of a configuration it may no
 *         longer know; docs/consistency.md says what is missing).
 */
int64_t px_propose_members(struct px_replica *r, const uint8_t body[PX_CONF_BYTES],
			   struct px_out *out);

/** The membership in force at commit + 1 (and a pending change). */
const struct px_membership *px_membership(const struct px_replica *r);

/** Who a broadcast (PX_NODE_NONE) goes to besides this replica: the members of the
 *  configuration in force and of a pending one (bit i: node i). */
uint16_t px_recipients(const struct px_replica *r);

/** Whether a message from node `from` (< PX_REPLICAS_MAX) at configuration `epoch` is
 *  heard: the sender is a member of the configuration in force here or of a pending
 *  one, or knows a newer epoch (this replica may lag behind a change). Otherwise it is
 *  a removed member or a stranger: dropped, counted (PX_DROP_NOT_MEMBER; node/ drops
 *  its SNAP_REQ/SNAP_CHUNK by the same rule). */
bool px_heard_from(const struct px_replica *r, uint8_t from, uint32_t epoch);

/**
 * The embedder rebuilt state the core never saw (a journal replayed to the applier, a
 * snapshot installed, a backup): the membership in force after that state's last slot
 * `slot`, as its applier kept it (px_applier_membership). The replica then counts again
 * the chosen slots it holds past `slot` up to its commit point. Call before
 * px_restore_applied, px_state_installed or px_start_from. @return 0, or -EINVAL.
 */
int px_restore_membership(struct px_replica *r, const struct px_membership *ms,
			  uint64_t slot);

/** Leader: the highest slot node `id` acknowledged at this leadership (learners'
 *  catch-up, for promotion); 0 otherwise. */
uint64_t px_peer_ack(const struct px_replica *r, uint8_t id);

/**
 * Proposes client commands (leader only). Each cmds[i] is an encoded command
 * (px_batch.h: client id, seq, body). Packs them into slots of at most
 * cfg.batch_cmds_max commands and cfg.slot_bytes bytes, and sends one ACCEPT per slot.
 * @return the number of commands taken (a prefix of cmds): 0 if not leader, or the
 *         pipeline is full. px_leader_hint() says where to redirect.
 */
uint32_t px_propose(struct px_replica *r, const struct px_cmd_ref *cmds, uint32_t n,
		    struct px_out *out);

/** Handles one decoded message from a peer (client messages go to the embedder). */
void px_step(struct px_replica *r, const struct px_msg *m, struct px_out *out);

/** Advances logical time by one tick. */
void px_tick(struct px_replica *r, struct px_out *out);

/** Durable mode: everything asked for up to persist request `seq` is on stable storage. */
void px_persisted(struct px_replica *r, uint64_t seq, struct px_out *out);

/** The embedder applied every chosen slot up to `slot`; their log memory may be reused. */
void px_applied(struct px_replica *r, uint64_t slot);

/* ---- State transfer (docs/consistency.md, "Healing") ----------------------------
 * A replica that needs slots no member holds any more (px_needs_state_transfer) gets
 * the state machine from a peer instead: the embedder fetches a snapshot of some
 * replica's applied state at a slot S >= px_state_transfer_need(), restores its
 * applier from it, and calls px_state_installed(S). Slots <= S are then chosen and
 * applied here; the leader's catch-up brings the rest. Every slot <= S is chosen
 * because a replica applied it, so any replica's snapshot serves, the leader's or not. */

/** The lowest slot a snapshot must cover for this replica to heal: 0 when it needs no
 *  state transfer. It only grows while the transfer is under way (the cluster moves). */
uint64_t px_state_transfer_need(const struct px_replica *r);

/**
 * The embedder restored the state machine to the applied state after `slot` (a
 * snapshot). Requires px_needs_state_transfer() and slot >= px_state_transfer_need().
 * Clears the need: every slot <= slot is chosen and applied, the held slots above it
 * stay, and the chosen ones among them are handed out to apply. In durable mode the
 * embedder records the snapshot durably before it calls this (a restart then starts
 * from it). May emit an ACCEPTED (the new ack) to the leader.
 * @return 0, or -EINVAL (no transfer needed, or slot too low: fetch a newer snapshot).
 */
int px_state_installed(struct px_replica *r, uint64_t slot, struct px_out *out);

/** Leader only: hand leadership to `target` once it is caught up. -EINVAL/-EAGAIN. */
int px_transfer_leadership(struct px_replica *r, uint8_t target, struct px_out *out);

/* ---- Linearizable reads without a log slot: the read index ----------------------
 * Raft dissertation section 6.4 ("read-only queries"), etcd's ReadIndex, on Multi-Paxos
 * (docs/consistency.md, "Reads", says why it is linearizable; docs/protocol.md 8.7 the
 * messages). The embedder, for a read-only command (px_apply_is_read) of a session the
 * applier holds (px_applier_session_peek: true from the session's registration on; a
 * read of an evicted or unknown session goes through the log, which answers it
 * PX_SESSION_EXPIRED so that the client registers again), at the leader:
 *
 *   1. t = px_read_begin(r, out, &idx). t == 0: not leader (px_role() != PX_LEADER:
 *      answer PX_NOT_LEADER with px_leader_hint()) or leader but not ready yet
 *      (px_read_ready() false: answer PX_BUSY so the client retries the same leader,
 *      or propose the command through the log instead). Handle `out` as after any call.
 *   2. Keep (t, idx, the command, the client) in the embedder's own bounded queue.
 *   3. After every call into the replica, fold out->read_confirmed into a running
 *      maximum C (tickets are increasing: keep the queue in ticket order).
 *   4. Serve a queued read once t <= C and the applier has applied every slot up to idx
 *      (px_applier_last_slot() >= idx): px_apply_read() against the current state, and
 *      reply. Serving later than that is fine (the state then is still linearizable).
 *   5. On out->role_changed (any role change, so any ballot change of this replica's
 *      leadership), fail every queued read with PX_NOT_LEADER: their tickets are never
 *      confirmed, and C >= t must not serve them when a later leadership's tickets
 *      (all above every earlier ticket) are confirmed. A restart loses them too.
 *
 * The core keeps no per-read state: rounds are counted. Reads begun while a round is
 * in flight share the next round, which starts as soon as the current one is confirmed
 * (one round per burst of reads, not per read). A round is an ACCEPT at the leader's
 * ballot carrying the round number, sent at once (an empty ACCEPT when nothing else
 * goes out) and re-sent on every heartbeat until a majority (the leader included)
 * echoed it in ACCEPTED at the same ballot. A single-replica cluster confirms at once.
 */

/**
 * True if this replica may hand out read tickets: it leads, and every slot its phase 1
 * recovered (re-proposed at its ballot) is committed, so its commit point covers every
 * write that completed before it was elected (Raft: a leader's first commit of its term).
 */
bool px_read_ready(const struct px_replica *r);

/**
 * Begins one linearizable read at the leader.
 * @param read_index set to the read index of the ticket (the commit point now) when the
 *        return value is > 0; untouched otherwise.
 * @return the read ticket (> 0, increasing across calls for the life of this replica),
 *         or 0 if px_read_ready() is false. May emit messages (the confirmation round)
 *         and, for a single replica, out->read_confirmed.
 */
uint64_t px_read_begin(struct px_replica *r, struct px_out *out, uint64_t *read_index);

/** The highest read ticket confirmed so far (the running maximum of out->read_confirmed
 *  over every call); only meaningful for tickets of the current leadership. */
uint64_t px_read_confirmed(const struct px_replica *r);

/** The value of a chosen slot in [applied+1, commit]: NULL if not held. */
const uint8_t *px_slot_value(const struct px_replica *r, uint64_t slot, uint32_t *len);

enum px_role px_role(const struct px_replica *r);
/** Static name of a role ("follower", ...; "?" for a value no role has). */
const char *px_role_name(enum px_role role);
/** Static name of a message type ("ACCEPT", ...; "?" for a value no type has). */
const char *px_msg_type_name(uint8_t type);
uint8_t px_leader_hint(const struct px_replica *r);     /**< PX_NODE_NONE if unknown */
uint64_t px_promised(const struct px_replica *r);
uint64_t px_commit(const struct px_replica *r);         /**< highest chosen slot (prefix) */
uint64_t px_applied_slot(const struct px_replica *r);
uint64_t px_last_slot(const struct px_replica *r);      /**< highest slot held */
/** Leader: the next slot it proposes (every slot below it is proposed at its ballot or
 *  chosen); 0 when not leading. */
uint64_t px_next_slot(const struct px_replica *r);
bool px_needs_state_transfer(const struct px_replica *r);
/** The newest incarnation of `node` this replica knows (its own included);
 *  0 for a node out of range. */
uint32_t px_incarnation(const struct px_replica *r, uint8_t node);
const struct px_counters *px_counters(const struct px_replica *r);

/**
 * Test builds: checks every internal invariant; returns NULL or a static string naming
 * the first violated one. Always compiled (cheap enough to call from tests).
 */
const char *px_check_invariants(const struct px_replica *r);

/** Debug view of one slot for simulators and tests. false if not in the window. */
bool px_slot_peek(const struct px_replica *r, uint64_t slot, uint64_t *vballot,
		  bool *chosen, const uint8_t **value, uint32_t *len);

#endif /* PX_H */
