/* SPDX-License-Identifier: Apache-2.0
 * The Multi-Paxos replica: a pure state machine (see px.h and docs/protocol.md).
 *
 * References:
 *  - L. Lamport, "Paxos Made Simple" (2001): phase 1/2, highest-ballot value rule.
 *  - R. van Renesse, D. Altinbuken, "Paxos Made Moderately Complex" (2015): one phase 1
 *    per leadership covering every slot, the leader's pvalue merge, holes filled with
 *    no-ops.
 *  - D. Ongaro, "Consensus: Bridging Theory and Practice" (2014): pre-vote (9.6),
 *    check-quorum (6.2), leadership transfer (3.10), client sessions (6.3).
 *  - E. Michael, D. Ports, N. Sharma, A. Szekeres, "Recovering Shared Objects Without
 *    Stable Storage", DISC 2017: crash vectors for memory-mode restarts.
 *
 * Log model. Each replica holds a window of `window_slots` consecutive slots
 * [base, base + window). A slot holds at most one value and the ballot it was accepted
 * at (vballot), or is known chosen. The replica's commit point is the longest prefix of
 * slots known chosen. Every slot below base is chosen and applied here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "px.h"
#include "px_batch.h"

/* Always-on assertions: a failure is our bug, never bad input (STYLE.md section 6). */
#define PX_ASSERT(c)                                                                      \
	do {                                                                              \
		if (__builtin_expect(!(c), 0))                                            \
			px_assert_fail(#c, __FILE__, __LINE__);                           \
	} while (0)

/* The one place the core may end the process: a broken invariant of our own code. */
__attribute__((noreturn, cold)) static void px_assert_fail(const char *what, const char *file,
							  int line)
{
	fprintf(stderr, "paxwire: assertion failed: %s (%s:%d)\n", what, file, line);
	abort();
}

#ifdef PX_BUGS
#define BUG(r, b) (((r)->cfg.bugs & (b)) != 0)
#else
#define BUG(r, b) 0
#endif

struct px_slot {
	uint64_t slot;     /**< slot held by this ring entry; 0 = empty */
	uint64_t vballot;  /**< ballot the value was accepted at; 0 = no value */
	uint32_t len;
	uint8_t chosen;    /**< 1: the value is known chosen (immutable from now on) */
	uint8_t *value;    /**< cfg.slot_bytes bytes inside the arena */
};

struct px_peer {
	uint64_t ack_hi;        /**< leader: peer accepted every slot <= ack_hi at our ballot */
	uint64_t ack_at_hb;     /**< leader: ack_hi at the previous heartbeat (stall check) */
	uint64_t commit;        /**< peer's reported commit point */
	uint64_t promise_next;  /**< candidate: next slot to ask this peer's promise for */
	uint64_t recover_next;  /**< recovering: next slot to ask this peer for */
	uint8_t heard;          /**< leader: heard this check-quorum period */
	uint8_t promise_done;   /**< candidate: full promise received */
	uint8_t prevote;        /**< precandidate: granted */
	uint8_t recover_r1;     /**< recovering: round-1 reply received */
	uint8_t recover_done;   /**< recovering: round-2 pages complete */
	uint8_t state_needed;   /**< leader: told this peer it needs state transfer */
	uint8_t replied;        /**< leader: answered us at least once this leadership */
	uint64_t read_ack;      /**< leader: highest read round echoed at our ballot */
};

struct px_replica {
	struct px_config cfg;
	uint32_t quorum;
	uint64_t mask;           /**< window_slots - 1 */

	enum px_role role;
	uint64_t promised;       /**< Invariant: never decreases within one incarnation */
	uint64_t ballot;         /**< candidate/leader: own ballot; else == promised */
	uint8_t leader;          /**< known leader or PX_NODE_NONE */
	uint64_t round_seen;     /**< highest round seen in any ballot */
	uint64_t prevote_ballot; /**< precandidate: the ballot we asked pre-votes for */

	/* Log. Invariants: base <= applied + 1 unless state_transfer; commit <= last;
	 * applied <= commit; ack_hi >= commit; every slot in [base, commit] is chosen. */
	uint64_t base;
	uint64_t last;           /**< highest slot holding a value */
	uint64_t commit;
	uint64_t applied;        /**< reported by px_applied */
	uint64_t apply_sent;     /**< highest slot handed out in px_out.apply_* */
	uint64_t ack_hi;         /**< every slot <= ack_hi is chosen or accepted at `promised` */
	uint64_t hint;           /**< commit point announced by the leader at hint_ballot */
	uint64_t hint_ballot;

	/* Leader / candidate. */
	uint64_t next_slot;      /**< leader: next slot to propose */
	uint64_t p1_from;        /**< candidate: first slot covered by phase 1 */
	uint8_t self_promised;   /**< candidate: own promise durable */
	uint8_t transfer_target; /**< PX_NODE_NONE when no transfer is under way */
	uint32_t transfer_elapsed;
	uint64_t lead_hi;        /**< leader: last slot phase 1 recovered; reads wait for it */

	/* Read index (px_read_begin). Invariant: read_confirmed <= read_round_ticket <=
	 * read_ticket. Tickets and rounds only grow, for the life of the replica, so that a
	 * ticket or an echo of an earlier leadership never matches a later one. */
	uint64_t read_ticket;        /**< last ticket handed out */
	uint64_t read_round;         /**< last round started */
	uint64_t read_round_ticket;  /**< every ticket <= it is covered by read_round */
	uint64_t read_confirmed;     /**< highest ticket confirmed */
	uint8_t read_inflight;       /**< read_round awaits a majority (leader only) */
	uint64_t read_echo;          /**< follower: highest round seen at read_echo_ballot */
	uint64_t read_echo_ballot;

	/* Timers, in ticks. */
	uint32_t election_elapsed;
	uint32_t election_timeout;
	uint32_t heartbeat_elapsed;
	uint32_t quorum_elapsed;
	uint64_t rng;

	/* Durability (durable mode): at most one persist request in flight (group commit). */
	uint64_t persist_seq;        /**< last request issued */
	uint8_t persist_inflight;
	uint64_t inflight_ack_hi, inflight_promised;
	uint8_t dirty_promise;
	uint64_t dirty_lo, dirty_hi; /**< slots changed since the in-flight request */
	uint64_t durable_ack_hi;     /**< ack_hi covered by a confirmed request */
	uint64_t durable_promised;
	uint64_t commit_recorded;    /**< commit point sent with the last persist request */
	uint64_t promise_pending[PX_REPLICAS_MAX]; /**< from-slot of a deferred PROMISE, 0 none */
	uint8_t ack_pending;         /**< an ACCEPTED is owed to the leader once durable */

	/* Crash vector: newest incarnation known of each node (DISC 2017). */
	uint32_t inc[PX_REPLICAS_MAX];
	uint8_t recover_round;       /**< 1 or 2 while recovering */
	/** Recovering only to announce a newer incarnation, memory intact: it still
	 *  answers others' RECOVERs (start_reannounce). */
	uint8_t reannouncing;
	uint32_t recover_elapsed;

	uint8_t state_transfer;
	struct px_peer peers[PX_REPLICAS_MAX];
	struct px_counters ctr;
	struct px_slot *slots;
};

/* ---------------------------------------------------------------------------------- */
/* Small helpers                                                                       */

static uint64_t rng_next(struct px_replica *r)
{
	/* splitmix64: deterministic, seeded from the config. */
	uint64_t z = (r->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void reset_election_timer(struct px_replica *r)
{
	r->election_elapsed = 0;
	r->election_timeout = r->cfg.election_ticks +
			      (uint32_t)(rng_next(r) % r->cfg.election_ticks);
}

static struct px_slot *slot_at(const struct px_replica *r, uint64_t s)
{
	return &r->slots[s & r->mask];
}

/** The entry of slot s if the window holds it, else NULL. */
static struct px_slot *slot_get(const struct px_replica *r, uint64_t s)
{
	if (s < r->base || s >= r->base + r->cfg.window_slots)
		return NULL;
	struct px_slot *e = slot_at(r, s);
	return e->slot == s ? e : NULL;
}

static bool memory_mode(const struct px_replica *r)
{
	return r->cfg.durability == PX_MEMORY;
}

/** Makes room for slot s. Only applied slots are dropped. false: s cannot be held. */
static bool window_make_room(struct px_replica *r, uint64_t s)
{
	if (s < r->base)
		return false;
	if (s < r->base + r->cfg.window_slots)
		return true;
	uint64_t new_base = s - r->cfg.window_slots + 1;
	if (new_base > r->applied + 1 && !r->state_transfer)
		return false;
	uint64_t stop = new_base < r->base + r->cfg.window_slots ? new_base
								 : r->base + r->cfg.window_slots;
	for (uint64_t t = r->base; t < stop; t++) {
		struct px_slot *e = slot_at(r, t);
		if (e->slot == t) {
			e->slot = 0;
			e->vballot = 0;
			e->len = 0;
			e->chosen = 0;
		}
	}
	r->base = new_base;
	if (r->commit < new_base - 1) {
		/* Only possible while waiting for state transfer: never applied. */
		PX_ASSERT(r->state_transfer);
	}
	return true;
}

/** The entry for slot s, created empty if needed. NULL if the window cannot hold it. */
static struct px_slot *slot_claim(struct px_replica *r, uint64_t s)
{
	if (!window_make_room(r, s))
		return NULL;
	struct px_slot *e = slot_at(r, s);
	if (e->slot != s) {
		PX_ASSERT(e->slot == 0 || e->slot < r->base);
		e->slot = s;
		e->vballot = 0;
		e->len = 0;
		e->chosen = 0;
	}
	return e;
}

static void slot_set(struct px_slot *e, uint64_t vballot, const uint8_t *v, uint32_t len)
{
	if (e->value != v)
		memcpy(e->value, v, len);
	e->len = len;
	e->vballot = vballot;
}

static void mark_dirty(struct px_replica *r, uint64_t s)
{
	if (memory_mode(r))
		return;
	if (r->dirty_lo > r->dirty_hi) {
		r->dirty_lo = s;
		r->dirty_hi = s;
	} else {
		if (s < r->dirty_lo)
			r->dirty_lo = s;
		if (s > r->dirty_hi)
			r->dirty_hi = s;
	}
}

static void note_ballot(struct px_replica *r, uint64_t b)
{
	if (px_ballot_round(b) > r->round_seen)
		r->round_seen = px_ballot_round(b);
}

static struct px_msg *msg_new(struct px_replica *r, struct px_out *out, uint8_t type,
			      uint8_t to)
{
	PX_ASSERT(out->n_msgs < PX_OUT_MSGS_MAX);
	struct px_msg *m = &out->msgs[out->n_msgs++];
	m->type = type;
	m->flags = 0;
	m->from = r->cfg.self;
	m->to = to;
	m->cluster_id = r->cfg.cluster_id;
	m->config_epoch = r->cfg.config_epoch;
	m->ballot = r->promised;
	m->n_inc = r->cfg.n_replicas;
	memcpy(m->incarnation, r->inc, sizeof(uint32_t) * r->cfg.n_replicas);
	m->slot_lo = 0;
	m->slot_hi = 0;
	m->commit = r->commit;
	m->nonce = 0;
	/* Read rounds ride on every ACCEPT of a leader and are echoed in every ACCEPTED
	 * (only to the leader of the ballot the echo was seen at). */
	m->read_round = 0;
	if (type == PX_MSG_ACCEPT && r->role == PX_LEADER)
		m->read_round = r->read_round;
	else if (type == PX_MSG_ACCEPTED && r->read_echo_ballot == r->promised)
		m->read_round = r->read_echo;
	m->n_entries = 0;
	m->client_id = 0;
	m->seq = 0;
	m->status = 0;
	m->leader_hint = PX_NODE_NONE;
	m->body_len = 0;
	m->body = NULL;
	return m;
}

static bool out_room(const struct px_out *out, uint32_t n)
{
	return out->n_msgs + n <= PX_OUT_MSGS_MAX;
}

/* Conservative encoded size of one entry (its wire header plus value). */
#define ENTRY_WIRE_BYTES 24u
#define MSG_WIRE_OVERHEAD (64u + 4u * PX_REPLICAS_MAX + 64u)

static bool msg_entry_fits(const struct px_msg *m, uint32_t *bytes, uint32_t len)
{
	if (m->n_entries >= PX_MSG_ENTRIES_MAX)
		return false;
	if (*bytes + ENTRY_WIRE_BYTES + len > PX_MSG_BYTES_MAX)
		return false;
	*bytes += ENTRY_WIRE_BYTES + len;
	return true;
}

static void msg_add_entry(struct px_msg *m, const struct px_slot *e, bool chosen)
{
	struct px_entry *x = &m->entries[m->n_entries++];
	x->slot = e->slot;
	x->vballot = e->vballot;
	x->len = e->len;
	x->flags = chosen ? PX_EF_CHOSEN : 0;
	x->value = e->value;
}

/* ---------------------------------------------------------------------------------- */
/* Config and init                                                                     */

void px_config_default(struct px_config *cfg, uint8_t n_replicas, uint8_t self)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->cluster_id = 1;
	cfg->config_epoch = 1;
	cfg->n_replicas = n_replicas;
	cfg->self = self;
	cfg->durability = PX_MEMORY;
	cfg->window_slots = 1024;
	cfg->pipeline_slots = 256;
	cfg->slot_bytes = 8192;
	cfg->batch_cmds_max = 128;
	cfg->heartbeat_ticks = 2;
	cfg->election_ticks = 20;
	cfg->seed = 0x5eed0000u + self;
}

int px_config_check(const struct px_config *cfg, const char **why)
{
	const char *w = NULL;
	uint8_t n = cfg->n_replicas;
	if (!(n == 1 || n == 3 || n == 5 || n == 7 || n == 9))
		w = "n_replicas must be 3, 5, 7 or 9 (1 only for the unreplicated baseline)";
	else if (cfg->self >= n)
		w = "self must be below n_replicas";
	else if (cfg->durability != PX_DURABLE && cfg->durability != PX_MEMORY)
		w = "durability must be durable or memory";
	else if (cfg->window_slots < PX_WINDOW_MIN || cfg->window_slots > PX_WINDOW_MAX ||
		 (cfg->window_slots & (cfg->window_slots - 1)) != 0)
		w = "window_slots must be a power of two in [16, 4096]";
	else if (cfg->pipeline_slots < 1 || cfg->pipeline_slots > cfg->window_slots / 2 ||
		 cfg->pipeline_slots > PX_PIPELINE_MAX)
		w = "pipeline_slots must be in [1, window_slots / 2] and <= 1024";
	else if (cfg->slot_bytes < PX_BATCH_HDR_BYTES + PX_CMD_HDR_BYTES + PX_CMD_BYTES_MAX ||
		 cfg->slot_bytes > PX_SLOT_BYTES_MAX)
		w = "slot_bytes must hold one maximal command and be <= 16384";
	else if (cfg->batch_cmds_max < 1 || cfg->batch_cmds_max > PX_BATCH_CMDS_MAX)
		w = "batch_cmds_max must be in [1, 256]";
	else if (cfg->heartbeat_ticks < 1 || cfg->election_ticks < 2 * cfg->heartbeat_ticks ||
		 cfg->election_ticks > PX_TICKS_MAX)
		w = "election_ticks must be at least twice heartbeat_ticks";
	if (why)
		*why = w;
	return w ? -EINVAL : 0;
}

#define ALIGN64(x) (((x) + 63u) & ~(size_t)63u)

size_t px_replica_arena_bytes(const struct px_config *cfg)
{
	return ALIGN64(sizeof(struct px_replica)) +
	       ALIGN64(sizeof(struct px_slot) * cfg->window_slots) +
	       ALIGN64((size_t)cfg->slot_bytes * cfg->window_slots) + 64;
}

static void start_recovery(struct px_replica *r);

struct px_replica *px_replica_init(const struct px_config *cfg, void *arena, size_t len)
{
	if (px_config_check(cfg, NULL) != 0) {
		errno = EINVAL;
		return NULL;
	}
	if (arena == NULL || len < px_replica_arena_bytes(cfg)) {
		errno = ENOSPC;
		return NULL;
	}
	uint8_t *p = (uint8_t *)ALIGN64((uintptr_t)arena);
	struct px_replica *r = (struct px_replica *)p;
	memset(r, 0, sizeof(*r));
	p += ALIGN64(sizeof(*r));
	r->slots = (struct px_slot *)p;
	p += ALIGN64(sizeof(struct px_slot) * cfg->window_slots);
	uint8_t *values = p;

	r->cfg = *cfg;
#ifndef PX_BUGS
	r->cfg.bugs = 0;
#endif
	r->quorum = cfg->n_replicas / 2u + 1u;
	r->mask = cfg->window_slots - 1u;
	for (uint32_t i = 0; i < cfg->window_slots; i++) {
		r->slots[i].slot = 0;
		r->slots[i].vballot = 0;
		r->slots[i].len = 0;
		r->slots[i].chosen = 0;
		r->slots[i].value = values + (size_t)i * cfg->slot_bytes;
	}
	r->role = PX_FOLLOWER;
	r->leader = PX_NODE_NONE;
	r->transfer_target = PX_NODE_NONE;
	r->base = 1;
	r->dirty_lo = 1;
	r->dirty_hi = 0;
	r->rng = cfg->seed ^ ((uint64_t)cfg->self << 56) ^ cfg->boot_nonce;
	reset_election_timer(r);
	if (cfg->durability == PX_MEMORY && cfg->restarted &&
	    !BUG(r, PX_BUG_FORGET_PROMISES))
		start_recovery(r);
	return r;
}

int px_restore_promise(struct px_replica *r, uint64_t promised_ballot)
{
	if (r->cfg.durability != PX_DURABLE)
		return -EINVAL;
	if (promised_ballot > r->promised) {
		r->promised = promised_ballot;
		r->ballot = promised_ballot;
		r->durable_promised = promised_ballot;
		note_ballot(r, promised_ballot);
	}
	return 0;
}

int px_restore_applied(struct px_replica *r, uint64_t slot)
{
	if (r->cfg.durability != PX_DURABLE || r->last != 0 || r->applied != 0)
		return -EINVAL;
	r->base = slot + 1;
	r->commit = slot;
	r->applied = slot;
	r->apply_sent = slot;
	r->ack_hi = slot;
	r->durable_ack_hi = slot;
	r->commit_recorded = slot;
	r->last = slot;
	return 0;
}

int px_restore_slot(struct px_replica *r, uint64_t slot, uint64_t vballot, const uint8_t *value,
		    uint32_t len)
{
	if (r->cfg.durability != PX_DURABLE || slot == 0 || len > r->cfg.slot_bytes ||
	    !px_batch_valid(value, len))
		return -EINVAL;
	if (slot + 1 == r->base && slot <= r->applied && slot > 0) {
		/* History: an applied (chosen) slot just below the window, restored in
		 * descending order so that this replica can serve catch-up after a restart.
		 * Only while the window can still hold every slot above it. */
		if (r->last >= slot + r->cfg.window_slots)
			return -ENOSPC;
		struct px_slot *h = slot_at(r, slot);
		PX_ASSERT(h->slot == 0);
		h->slot = slot;
		slot_set(h, vballot, value, len);
		h->chosen = 1;
		r->base = slot;
		return 0;
	}
	if (slot < r->base)
		return 0; /* below a window a later slot already moved us to: chosen, applied */
	if (slot >= r->base + r->cfg.window_slots) {
		/* Before the crash every slot held was inside one window, and every slot below
		 * that window was applied, hence chosen: dropping the lower ones loses no vote
		 * that matters. But this replica can no longer rebuild its state machine from
		 * slot 1 through its own window: it needs state transfer (docs/consistency.md). */
		if (!r->state_transfer)
			r->ctr.state_transfer_needed++;
		r->state_transfer = 1;
		bool ok = window_make_room(r, slot);
		PX_ASSERT(ok);
	}
	struct px_slot *e = slot_claim(r, slot);
	PX_ASSERT(e != NULL);
	if (vballot >= e->vballot) {
		slot_set(e, vballot, value, len);
		note_ballot(r, vballot);
	}
	if (slot > r->last)
		r->last = slot;
	return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Durability                                                                          */

static void advance_ack(struct px_replica *r);

/** The ack this replica may report: only what is on stable storage (durable mode). */
static uint64_t ack_reportable(const struct px_replica *r)
{
	return memory_mode(r) ? r->ack_hi : r->durable_ack_hi;
}

static bool promise_durable(const struct px_replica *r)
{
	return memory_mode(r) || r->durable_promised >= r->promised;
}

/** Issues a persist request for what changed, if none is in flight (group commit). */
static void persist_kick(struct px_replica *r, struct px_out *out)
{
	if (memory_mode(r) || r->persist_inflight)
		return;
	if (!r->dirty_promise && r->dirty_lo > r->dirty_hi &&
	    r->durable_ack_hi >= r->ack_hi && r->commit_recorded >= r->commit)
		return;
	r->persist_inflight = 1;
	r->persist_seq++;
	r->inflight_ack_hi = r->ack_hi;
	r->inflight_promised = r->promised;
	out->persist_seq = r->persist_seq;
	out->persist_ballot = r->promised;
	/* Slots that left the window meanwhile were applied (hence chosen): there is
	 * nothing left to write for them. */
	out->persist_lo = r->dirty_lo < r->base ? r->base : r->dirty_lo;
	out->persist_hi = r->dirty_hi;
	out->persist_commit = r->commit;
	r->commit_recorded = r->commit;
	r->dirty_promise = 0;
	r->dirty_lo = 1;
	r->dirty_hi = 0;
}

/** The promise changed: slots accepted at older ballots no longer count towards the
 *  cumulative ack, durable or not (chosen ones still do). */
static void reset_ack(struct px_replica *r)
{
	r->ack_hi = r->commit;
	if (r->durable_ack_hi > r->commit)
		r->durable_ack_hi = r->commit;
	advance_ack(r);
}

static void set_promised(struct px_replica *r, uint64_t b)
{
	PX_ASSERT(b >= r->promised);
	if (b == r->promised)
		return;
	r->promised = b;
	r->dirty_promise = 1;
	note_ballot(r, b);
}

/* ---------------------------------------------------------------------------------- */
/* Commit and apply                                                                    */

static void emit_apply(struct px_replica *r, struct px_out *out)
{
	if (r->state_transfer)
		return;
	if (r->commit > r->apply_sent) {
		if (out->apply_lo > out->apply_hi)
			out->apply_lo = r->apply_sent + 1;
		out->apply_hi = r->commit;
		r->apply_sent = r->commit;
	}
}

/** Extends ack_hi over slots chosen or accepted at the promised ballot. */
static void advance_ack(struct px_replica *r)
{
	if (r->ack_hi < r->commit)
		r->ack_hi = r->commit;
	/* A replica waiting for state transfer holds no slot between its commit point and
	 * its base: its ack stops at the gap. It acknowledges only what it holds, never a
	 * slot it skipped because some message said the cluster had moved on. */
	for (;;) {
		struct px_slot *e = slot_get(r, r->ack_hi + 1);
		if (e == NULL || !(e->chosen || (e->vballot == r->promised && e->len > 0)))
			break;
		r->ack_hi++;
	}
}

/** Extends commit over slots known chosen; as a follower, slots accepted at the ballot
 *  whose leader announced them committed are chosen too. */
static void advance_commit(struct px_replica *r, struct px_out *out)
{
	for (;;) {
		uint64_t s = r->commit + 1;
		struct px_slot *e = slot_get(r, s);
		if (e == NULL || e->len == 0)
			break;
		if (!e->chosen) {
			bool by_hint = s <= r->hint &&
				       (e->vballot == r->hint_ballot ||
					BUG(r, PX_BUG_COMMIT_STALE));
			if (!by_hint)
				break;
			e->chosen = 1;
		}
		r->commit = s;
		r->ctr.commits++;
	}
	if (r->ack_hi < r->commit)
		r->ack_hi = r->commit;
	emit_apply(r, out);
}

static void leader_update_commit(struct px_replica *r, struct px_out *out)
{
	uint64_t acks[PX_REPLICAS_MAX];
	uint32_t n = r->cfg.n_replicas;
	for (uint32_t i = 0; i < n; i++) {
		if (i == r->cfg.self)
			acks[i] = ack_reportable(r);
		else
			acks[i] = r->peers[i].ack_hi < r->last ? r->peers[i].ack_hi : r->last;
	}
	/* Insertion sort, descending; n <= 9. */
	for (uint32_t i = 1; i < n; i++) {
		uint64_t v = acks[i];
		uint32_t j = i;
		while (j > 0 && acks[j - 1] < v) {
			acks[j] = acks[j - 1];
			j--;
		}
		acks[j] = v;
	}
	uint32_t q = r->quorum;
	if (BUG(r, PX_BUG_MINORITY_COMMIT) && q > 1)
		q--;
	uint64_t c = acks[q - 1];
	if (c <= r->commit)
		return;
	for (uint64_t s = r->commit + 1; s <= c; s++) {
		struct px_slot *e = slot_get(r, s);
		PX_ASSERT(e != NULL);
		PX_ASSERT(e->chosen || e->vballot == r->ballot);
		e->chosen = 1;
		r->ctr.commits++;
	}
	r->commit = c;
	emit_apply(r, out);
}

/* ---------------------------------------------------------------------------------- */
/* Roles                                                                               */

static void set_role(struct px_replica *r, enum px_role role, struct px_out *out)
{
	if (r->role == role)
		return;
	r->role = role;
	out->role_changed = true;
	out->role = role;
}

static void become_follower(struct px_replica *r, struct px_out *out)
{
	/* Outstanding read tickets are never confirmed now (px.h, step 5). */
	r->read_inflight = 0;
	set_role(r, PX_FOLLOWER, out);
	if (r->leader == r->cfg.self)
		r->leader = PX_NODE_NONE;
	r->ballot = r->promised;
	r->transfer_target = PX_NODE_NONE;
	reset_election_timer(r);
}

/** Adopts a higher ballot seen in a PREPARE or ACCEPT (acceptor rule). */
static void adopt_ballot(struct px_replica *r, uint64_t b, struct px_out *out)
{
	PX_ASSERT(b > r->promised);
	set_promised(r, b);
	if (r->role != PX_FOLLOWER)
		become_follower(r, out);
	r->ballot = b;
	r->leader = PX_NODE_NONE;
	reset_ack(r);
}

static void send_accepted(struct px_replica *r, uint8_t to, struct px_out *out)
{
	if (!promise_durable(r)) {
		r->ack_pending = 1;
		return;
	}
	if (!out_room(out, 1)) {
		r->ack_pending = 1;
		return;
	}
	struct px_msg *m = msg_new(r, out, PX_MSG_ACCEPTED, to);
	m->slot_hi = ack_reportable(r);
	r->ack_pending = 0;
}

static void send_nack(struct px_replica *r, uint8_t to, struct px_out *out)
{
	if (!out_room(out, 1))
		return;
	msg_new(r, out, PX_MSG_NACK, to);
}

/* ---- Pre-vote (Ongaro 9.6): a node that cannot win does not disturb the cluster. ---- */

/** The round of our next ballot: above every round seen and our promise. 0 past the
 *  ceiling (only forged ballots lead there: no peer would accept the next round). */
static uint64_t next_round(const struct px_replica *r)
{
	uint64_t round = r->round_seen + 1;
	if (round <= px_ballot_round(r->promised))
		round = px_ballot_round(r->promised) + 1;
	return round <= PX_ROUND_MAX ? round : 0;
}

static void start_prevote(struct px_replica *r, struct px_out *out)
{
	uint64_t round = next_round(r);
	reset_election_timer(r);
	if (round == 0) {
		if (r->role != PX_FOLLOWER)
			become_follower(r, out);
		return;
	}
	set_role(r, PX_PRECANDIDATE, out);
	r->ctr.prevotes_started++;
	for (uint32_t i = 0; i < r->cfg.n_replicas; i++)
		r->peers[i].prevote = 0;
	r->peers[r->cfg.self].prevote = 1;
	r->prevote_ballot = px_ballot_make(round, r->cfg.self);
	if (r->quorum == 1) {
		/* Unreplicated baseline: a quorum of one. */
		return;
	}
	if (!out_room(out, 1))
		return;
	struct px_msg *m = msg_new(r, out, PX_MSG_PREVOTE, PX_NODE_NONE);
	m->ballot = r->prevote_ballot;
	m->slot_lo = r->commit + 1;
}

static void start_candidacy(struct px_replica *r, bool forced, struct px_out *out);

/** We lead, or heard from a leader within a full minimum election timeout. */
static bool leader_alive(const struct px_replica *r)
{
	return r->role == PX_LEADER ||
	       (r->leader != PX_NODE_NONE && r->election_elapsed < r->cfg.election_ticks);
}

static void on_prevote(struct px_replica *r, const struct px_msg *m, struct px_out *out)
{
	/* Grant only if we have not heard from a leader for a full minimum timeout, the
	 * candidate's ballot would beat our promise, and its log is not so far behind that
	 * it could not hold ours. */
	bool grant = !leader_alive(r) && m->ballot > r->promised && m->slot_lo >= r->base &&
		     m->commit + r->cfg.window_slots / 2 >= r->commit &&
		     r->role != PX_RECOVERING;
	if (!out_room(out, 1))
		return;
	/* The header's ballot is our promise (msg_new), so a refused precandidate learns
	 * the round to beat; slot_lo names the PREVOTE answered. */
	struct px_msg *x = msg_new(r, out, PX_MSG_PREVOTE_REPLY, m->from);
	x->slot_lo = m->ballot;
	if (grant)
		x->flags |= PX_MF_GRANT;
}

static void on_prevote_reply(struct px_replica *r, const struct px_msg *m, struct px_out *out)
{
	if (r->role != PX_PRECANDIDATE || m->slot_lo != r->prevote_ballot || r->state_transfer) {
		out->dropped++;
		r->ctr.drops[PX_DROP_WRONG_ROLE]++;
		return;
	}
	if (!(m->flags & PX_MF_GRANT))
		return;
	r->peers[m->from].prevote = 1;
	uint32_t n = 0;
	for (uint32_t i = 0; i < r->cfg.n_replicas; i++)
		n += r->peers[i].prevote;
	if (n >= r->quorum)
		start_candidacy(r, false, out);
}

/* ---- Phase 1 ---- */

static void send_prepare(struct px_replica *r, uint8_t to, uint64_t from, struct px_out *out)
{
	if (!out_room(out, 1))
		return;
	struct px_msg *m = msg_new(r, out, PX_MSG_PREPARE, to);
	m->ballot = r->ballot;
	m->slot_lo = from;
}

static void become_leader(struct px_replica *r, struct px_out *out);

static void candidate_check_quorum(struct px_replica *r, struct px_out *out)
{
	if (r->role != PX_CANDIDATE)
		return;
	uint32_t n = 0;
	for (uint32_t i = 0; i < r->cfg.n_replicas; i++)
		n += r->peers[i].promise_done;
	if (n >= r->quorum)
		become_leader(r, out);
}

static void start_candidacy(struct px_replica *r, bool forced, struct px_out *out)
{
	uint64_t round = next_round(r);
	if (round == 0)
		return;
	uint64_t b = px_ballot_make(round, r->cfg.self);
	set_role(r, PX_CANDIDATE, out);
	r->ctr.elections_started++;
	set_promised(r, b);
	r->ballot = b;
	r->leader = PX_NODE_NONE;
	reset_ack(r);
	r->p1_from = r->commit + 1;
	reset_election_timer(r);
	for (uint32_t i = 0; i < r->cfg.n_replicas; i++) {
		r->peers[i].promise_done = 0;
		r->peers[i].promise_next = r->p1_from;
	}
	/* Our own promise counts once it is durable (at once in memory mode). */
	r->peers[r->cfg.self].promise_done = promise_durable(r) ? 1 : 0;
	struct px_msg *m = NULL;
	if (out_room(out, 1) && r->quorum > 1) {
		m = msg_new(r, out, PX_MSG_PREPARE, PX_NODE_NONE);
		m->ballot = b;
		m->slot_lo = r->p1_from;
		if (forced)
			m->flags |= PX_MF_FORCE;
	}
	persist_kick(r, out);
	candidate_check_quorum(r, out);
}

/** Merges one reported entry into our log (phase 1 or recovery): keep the value with
 *  the highest ballot; a chosen value wins and is final. false: cannot hold it. */
static bool merge_entry(struct px_replica *r, const struct px_entry *x)
{
	if (x->slot < r->base)
		return true; /* chosen and applied here already */
	struct px_slot *e = slot_claim(r, x->slot);
	if (e == NULL)
		return false;
	if (e->chosen)
		return true;
	if (x->flags & PX_EF_CHOSEN) {
		slot_set(e, x->vballot, x->value, x->len);
		e->chosen = 1;
	} else if (x->vballot > e->vballot ||
		   (BUG(r, PX_BUG_MERGE_ANY) && x->vballot != e->vballot)) {
		slot_set(e, x->vballot, x->value, x->len);
	} else {
		return true;
	}
	mark_dirty(r, x->slot);
	if (x->slot > r->last)
		r->last = x->slot;
	return true;
}

static void send_promise_page(struct px_replica *r, uint8_t to, uint64_t from, uint8_t type,
			      uint64_t nonce, struct px_out *out)
{
	if (!out_room(out, 1))
		return;
	struct px_msg *m = msg_new(r, out, type, to);
	m->nonce = nonce;
	/* slot_lo echoes the request, so that the asker can tell a lost page from a
	 * window that starts above what it asked for (slots below our base are chosen and
	 * applied here, and are not sent). */
	m->slot_lo = from;
	uint64_t s = from < r->base ? r->base : from;
	uint32_t bytes = MSG_WIRE_OVERHEAD;
	for (; s <= r->last; s++) {
		struct px_slot *e = slot_get(r, s);
		if (e == NULL || e->len == 0)
			continue;
		if (!msg_entry_fits(m, &bytes, e->len))
			break;
		msg_add_entry(m, e, e->chosen != 0);
	}
	m->slot_hi = s;
	if (s > r->last)
		m->flags |= PX_MF_LAST;
}

static void on_prepare(struct px_replica *r, const struct px_msg *m, struct px_out *out)
{
	if (m->ballot < r->promised) {
		r->ctr.drops[PX_DROP_STALE_BALLOT]++;
		out->dropped++;
		send_nack(r, m->from, out);
		return;
	}
	if (m->ballot > r->promised && !(m->flags & PX_MF_FORCE) && leader_alive(r)) {
		/* Raft dissertation 4.2.3: while we hear from a leader, a PREPARE that did not
		 * come from a leadership transfer is ignored (no NACK: our promise is lower,
		 * the candidate learns nothing from it). A candidate only gets here after a
		 * majority granted its pre-vote, so it still wins once the leader is gone. */
		r->ctr.drops[PX_DROP_LEADER_ALIVE]++;
		out->dropped++;
		return;
	}
	if (m->ballot > r->promised) {
		adopt_ballot(r, m->ballot, out);
		reset_election_timer(r);
	}
	if (m->slot_lo < r->base) {
		/* We applied and dropped slots the candidate lacks: it cannot lead. */
		if (out_room(out, 1)) {
			struct px_msg *x = msg_new(r, out, PX_MSG_STATE_NEEDED, m->from);
			x->slot_lo = r->base;
		}
		persist_kick(r, out);
		return;
	}
	if (!promise_durable(r)) {
		r->promise_pending[m->from] = m->slot_lo;
		persist_kick(r, out);
		return;
	}
	send_promise_page(r, m->from, m->slot_lo, PX_MSG_PROMISE, 0, out);
}

static void on_promise(struct px_replica *r, const struct px_msg *m, struct px_out *out)
{
	if (r->role != PX_CANDIDATE || m->ballot != r->ballot) {
		r->ctr.drops[PX_DROP_WRONG_ROLE]++;
		out->dropped++;
		return;
	}
	struct px_peer *p = &r->peers[m->from];
	if (p->promise_done)
		return;
	if (m->slot_lo > p->promise_next) {
		/* A page went missing; the next PREPARE for this peer asks again. */
		return;
	}
	for (uint32_t i = 0; i < m->n_entries; i++) {
		if (m->entries[i].slot < r->p1_from)
			continue;
		if (!merge_entry(r, &m->entries[i])) {
			/* The acceptor holds slots beyond our window: we are too far behind
			 * to lead. Let a more current replica win. */
			r->ctr.drops[PX_DROP_OUT_OF_WINDOW]++;
			become_follower(r, out);
			return;
		}
	}
	bool advanced = m->slot_hi > p->promise_next;
	if (advanced)
		p->promise_next = m->slot_hi;
	if (m->flags & PX_MF_LAST) {
		p->promise_done = 1;
		candidate_check_quorum(r, out);
	} else if (advanced) {
		/* Ask for the next page only when this one was new: a duplicated page must
		 * not multiply the requests (the heartbeat-period re-send covers losses). */
		send_prepare(r, m->from, p->promise_next, out);
	}
}

/* ---- Phase 2 ---- */

/** Broadcasts slots [lo, hi] in as few ACCEPT messages as fit the output. Returns the
 *  first slot not sent. */
static uint64_t broadcast_accepts(struct px_replica *r, uint64_t lo, uint64_t hi,
				  struct px_out *out)
{
	uint64_t s = lo;
	while (s <= hi && out_room(out, 1)) {
		struct px_msg *m = msg_new(r, out, PX_MSG_ACCEPT, PX_NODE_NONE);
		m->ballot = r->ballot;
		uint32_t bytes = MSG_WIRE_OVERHEAD;
		for (; s <= hi; s++) {
			struct px_slot *e = slot_get(r, s);
			PX_ASSERT(e != NULL);
			if (!msg_entry_fits(m, &bytes, e->len))
				break;
			msg_add_entry(m, e, e->chosen != 0);
		}
		PX_ASSERT(m->n_entries > 0);
	}
	return s;
}

static void become_leader(struct px_replica *r, struct px_out *out)
{
	set_role(r, PX_LEADER, out);
	r->ctr.leaderships_won++;
	r->leader = r->cfg.self;
	r->heartbeat_elapsed = 0;
	r->quorum_elapsed = 0;
	r->transfer_target = PX_NODE_NONE;
	/* Re-propose, at our ballot, the highest-ballot value of every unchosen slot the
	 * promise quorum reported; fill holes with no-ops (PMMC, section 3). */
	uint64_t hi = r->last;
	for (uint64_t s = r->p1_from; s <= hi; s++) {
		struct px_slot *e = slot_claim(r, s);
		PX_ASSERT(e != NULL);
		if (e->chosen)
			continue;
		if (e->len == 0 || BUG(r, PX_BUG_SKIP_RECOVERY))
			e->len = px_batch_noop(e->value);
		e->vballot = r->ballot;
		mark_dirty(r, s);
	}
	r->next_slot = hi + 1;
	r->lead_hi = hi;
	/* Tickets of an earlier leadership are abandoned: none is outstanding now. */
	r->read_inflight = 0;
	r->read_round_ticket = r->read_ticket;
	for (uint32_t i = 0; i < r->cfg.n_replicas; i++) {
		r->peers[i].ack_hi = 0;
		r->peers[i].ack_at_hb = 0;
		r->peers[i].heard = 1;
		r->peers[i].state_needed = 0;
		r->peers[i].replied = 0;
		r->peers[i].read_ack = 0;
	}
	advance_ack(r);
	PX_ASSERT(r->ack_hi == r->last);
	persist_kick(r, out);
	if (r->p1_from <= hi && r->quorum > 1)
		broadcast_accepts(r, r->p1_from, hi, out);
	/* The rest (if the output filled) goes out as catch-up on heartbeats. An empty
	 * ACCEPT announces the leadership at once. */
	if (r->quorum > 1 && out_room(out, 1)) {
		struct px_msg *m = msg_new(r, out, PX_MSG_ACCEPT, PX_NODE_NONE);
		m->ballot = r->ballot;
	}
	leader_update_commit(r, out);
}

uint32_t px_propose(struct px_replica *r, const struct px_cmd_ref *cmds, uint32_t n,
		    struct px_out *out)
{
	if (r->role != PX_LEADER || r->transfer_target != PX_NODE_NONE)
		return 0;
	uint32_t taken = 0;
	uint64_t first = r->next_slot;
	while (taken < n) {
		uint64_t s = r->next_slot;
		if (s > r->commit + r->cfg.pipeline_slots)
			break;
		struct px_slot *e = slot_claim(r, s);
		if (e == NULL)
			break;
		uint32_t len = 0;
		uint32_t k = px_batch_fill(e->value, r->cfg.slot_bytes, cmds + taken, n - taken,
					   r->cfg.batch_cmds_max, &len);
		taken += k;
		if (k == 0) {
			/* A command larger than a slot: the embedder should have refused it. */
			e->slot = 0;
			break;
		}
		e->len = len;
		e->vballot = r->ballot;
		e->chosen = 0;
		r->next_slot = s + 1;
		r->last = s;
		r->ctr.proposals++;
		r->ctr.commands_proposed += k;
		mark_dirty(r, s);
	}
	if (r->next_slot > first) {
		advance_ack(r);
		persist_kick(r, out);
		if (r->quorum > 1)
			broadcast_accepts(r, first, r->next_slot - 1, out);
		leader_update_commit(r, out);
	}
	return taken;
}

static void on_accept(struct px_replica *r, const struct px_msg *m, struct px_out *out)
{
	if (m->ballot < r->promised && !BUG(r, PX_BUG_ACCEPT_LOWER)) {
		r->ctr.drops[PX_DROP_STALE_BALLOT]++;
		out->dropped++;
		send_nack(r, m->from, out);
		return;
	}
	if (m->ballot > r->promised)
		adopt_ballot(r, m->ballot, out);
	if (r->role == PX_LEADER && m->ballot == r->ballot) {
		/* Two leaders at one ballot cannot exist: the node id is in the ballot. */
		r->ctr.drops[PX_DROP_BAD_FIELD]++;
		out->dropped++;
		return;
	}
	if (r->role != PX_FOLLOWER)
		become_follower(r, out);
	r->leader = m->from;
	r->election_elapsed = 0;
	/* Read rounds: remember the round of this ballot's leader's latest ACCEPT, to echo
	 * it in every ACCEPTED we send it (an ACCEPTED held back for durability included).
	 * The latest, not the highest: an echo says "I saw round k at your ballot", true of
	 * either, and a mangled round above the leader's own (which it ignores) is replaced
	 * by the next ACCEPT instead of silencing our echoes for the whole leadership. */
	r->read_echo_ballot = m->ballot;
	r->read_echo = m->read_round;

	for (uint32_t i = 0; i < m->n_entries; i++) {
		const struct px_entry *x = &m->entries[i];
		if (x->slot < r->base)
			continue;
		struct px_slot *e = slot_claim(r, x->slot);
		if (e == NULL) {
			r->ctr.drops[PX_DROP_OUT_OF_WINDOW]++;
			out->dropped++;
			break;
		}
		if (e->chosen)
			continue;
		if ((x->flags & PX_EF_CHOSEN) &&
		    (x->slot <= m->commit || BUG(r, PX_BUG_CHOSEN_ANY))) {
			/* Believed only where the leader's commit point covers the slot: the
			 * flag then says no more than that commit point does. Elsewhere the
			 * value is taken as the leader's proposal at its ballot (it is one:
			 * a leader keeps chosen values). */
			slot_set(e, x->vballot, x->value, x->len);
			e->chosen = 1;
		} else if (e->vballot != m->ballot || e->len == 0) {
			slot_set(e, m->ballot, x->value, x->len);
		} else {
			continue; /* duplicate */
		}
		mark_dirty(r, x->slot);
		if (x->slot > r->last)
			r->last = x->slot;
	}
	if (m->ballot > r->hint_ballot) {
		r->hint_ballot = m->ballot;
		r->hint = m->commit;
	} else if (m->ballot == r->hint_ballot && m->commit > r->hint) {
		r->hint = m->commit;
	}
	advance_commit(r, out);
	advance_ack(r);
	persist_kick(r, out);
	send_accepted(r, m->from, out);
}

static void maybe_transfer(struct px_replica *r, struct px_out *out);

/* ---- Read index (Raft dissertation 6.4; docs/consistency.md, "Reads") ---- */

static void check_after_step(const struct px_replica *r);

/** Starts the next read round if tickets wait and none is in flight. send: broadcast it
 *  at once in an empty ACCEPT (else it rides on the next ACCEPT: every one carries it). */
static void read_kick(struct px_replica *r, struct px_out *out, bool send)
{
	if (r->role != PX_LEADER || r->read_inflight || r->read_ticket == r->read_round_ticket)
		return;
	r->read_round++;
	r->read_round_ticket = r->read_ticket;
	r->read_inflight = 1;
	r->ctr.read_rounds++;
	if (send && out_room(out, 1)) {
		struct px_msg *m = msg_new(r, out, PX_MSG_ACCEPT, PX_NODE_NONE);
		m->ballot = r->ballot;
	}
}

static void read_confirm(struct px_replica *r, uint64_t ticket, struct px_out *out)
{
	PX_ASSERT(ticket <= r->read_ticket);
	if (ticket > r->read_confirmed)
		r->read_confirmed = ticket;
	if (ticket > out->read_confirmed)
		out->read_confirmed = ticket;
}

/** The round in flight is confirmed once a majority, ourselves included, echoed it (or
 *  a later round) at our ballot: none of them had promised a higher ballot by then. */
static void read_check_round(struct px_replica *r, struct px_out *out)
{
	if (r->role != PX_LEADER || !r->read_inflight)
		return;
	uint32_t n = 1;
	for (uint32_t i = 0; i < r->cfg.n_replicas; i++) {
		if (i != r->cfg.self && r->peers[i].read_ack >= r->read_round)
			n++;
	}
	if (n < r->quorum)
		return;
	r->read_inflight = 0;
	r->ctr.read_confirms++;
	read_confirm(r, r->read_round_ticket, out);
	/* Reads that arrived meanwhile: their round goes out now. */
	read_kick(r, out, true);
}

bool px_read_ready(const struct px_replica *r)
{
	return r->role == PX_LEADER && (r->commit >= r->lead_hi || BUG(r, PX_BUG_READ_EARLY));
}

uint64_t px_read_begin(struct px_replica *r, struct px_out *out, uint64_t *read_index)
{
	if (!px_read_ready(r)) {
		r->ctr.read_refused++;
		return 0;
	}
	uint64_t t = ++r->read_ticket;
	r->ctr.read_tickets++;
	*read_index = r->commit;
	if (r->quorum == 1 || BUG(r, PX_BUG_READ_NO_CONFIRM)) {
		/* A single replica is its own majority: confirmed at once. */
		r->read_round_ticket = t;
		read_confirm(r, t, out);
	} else {
		read_kick(r, out, true);
	}
	check_after_step(r);
	return t;
}

uint64_t px_read_confirmed(const struct px_replica *r) { return r->read_confirmed; }

static void on_accepted(struct px_replica *r, const struct px_msg *m, struct px_out *out)
{
	if (r->role != PX_LEADER || m->ballot != r->ballot) {
		r->ctr.drops[PX_DROP_NOT_LEADER]++;
		out->dropped++;
		return;
	}
	if (m->slot_hi > r->last) {
		/* An ack covers slots accepted at our ballot or chosen, all of which we hold
		 * (a chosen slot past our log would have come up in our phase 1): one beyond
		 * our log is a mangled number, and taking it would count votes never cast. */
		r->ctr.drops[PX_DROP_BOUND]++;
		out->dropped++;
		return;
	}
	struct px_peer *p = &r->peers[m->from];
	p->heard = 1;
	p->replied = 1;
	p->commit = m->commit;
	/* Taken as reported, even when lower: a durable replica that restarted has lost
	 * what it knew chosen, and its ack goes back; catch-up must start from there. (A
	 * reordered older ack only causes a harmless re-send; commit never goes back.) */
	p->ack_hi = m->slot_hi;
	leader_update_commit(r, out);
	/* An echo of a round we never started is impossible from a correct peer: ignored. */
	if (m->read_round > p->read_ack && m->read_round <= r->read_round) {
		p->read_ack = m->read_round;
		read_check_round(r, out);
	}
	if (r->transfer_target == m->from)
		maybe_transfer(r, out);
}

static void on_nack(struct px_replica *r, const struct px_msg *m, struct px_out *out)
{
	note_ballot(r, m->ballot);
	if ((r->role == PX_LEADER || r->role == PX_CANDIDATE) && m->ballot > r->ballot)
		become_follower(r, out);
}

/* ---- Catch-up and heartbeats ---- */

static void send_catchup(struct px_replica *r, uint8_t to, struct px_out *out)
{
	struct px_peer *p = &r->peers[to];
	uint64_t s = p->ack_hi + 1 + (BUG(r, PX_BUG_CATCHUP_SKIP) ? 1u : 0u);
	if (s < r->base) {
		if (out_room(out, 1)) {
			struct px_msg *m = msg_new(r, out, PX_MSG_STATE_NEEDED, to);
			m->slot_lo = r->base;
			if (!p->state_needed)
				r->ctr.state_transfer_needed++;
			p->state_needed = 1;
		}
		return;
	}
	if (!out_room(out, 1))
		return;
	struct px_msg *m = msg_new(r, out, PX_MSG_ACCEPT, to);
	m->ballot = r->ballot;
	uint32_t bytes = MSG_WIRE_OVERHEAD;
	uint32_t k = 0;
	for (; s <= r->last && k < PX_CATCHUP_SLOTS_MAX; s++, k++) {
		struct px_slot *e = slot_get(r, s);
		PX_ASSERT(e != NULL);
		if (!msg_entry_fits(m, &bytes, e->len))
			break;
		msg_add_entry(m, e, e->chosen != 0);
	}
	r->ctr.catchup_entries_sent += m->n_entries;
}

static void leader_heartbeat(struct px_replica *r, struct px_out *out)
{
	if (r->quorum == 1)
		return;
	for (uint32_t i = 0; i < r->cfg.n_replicas; i++) {
		if (i == r->cfg.self)
			continue;
		struct px_peer *p = &r->peers[i];
		/* Re-send what a follower has not acknowledged for a whole heartbeat period
		 * (lost ACCEPTs, a restarted or partitioned follower). Followers that never
		 * answered get heartbeats only: their position is unknown. */
		bool stalled = p->replied && p->ack_hi < r->last && p->ack_hi == p->ack_at_hb;
		if (stalled)
			send_catchup(r, (uint8_t)i, out);
		p->ack_at_hb = p->ack_hi;
	}
	/* Tickets still waiting start their round here at the latest; a round in flight
	 * is re-sent by this heartbeat (lost messages). */
	read_kick(r, out, false);
	if (out_room(out, 1)) {
		struct px_msg *m = msg_new(r, out, PX_MSG_ACCEPT, PX_NODE_NONE);
		m->ballot = r->ballot;
	}
}

static void maybe_transfer(struct px_replica *r, struct px_out *out)
{
	uint8_t t = r->transfer_target;
	if (t == PX_NODE_NONE || r->peers[t].ack_hi < r->last || !out_room(out, 1))
		return;
	struct px_msg *m = msg_new(r, out, PX_MSG_TIMEOUT_NOW, t);
	m->ballot = r->ballot;
}

int px_transfer_leadership(struct px_replica *r, uint8_t target, struct px_out *out)
{
	if (target >= r->cfg.n_replicas || target == r->cfg.self)
		return -EINVAL;
	if (r->role != PX_LEADER)
		return -EAGAIN;
	r->transfer_target = target;
	r->transfer_elapsed = 0;
	r->ctr.transfers++;
	maybe_transfer(r, out);
	return 0;
}

static void on_timeout_now(struct px_replica *r, const struct px_msg *m, struct px_out *out)
{
	if (r->role != PX_FOLLOWER || m->ballot != r->promised ||
	    px_ballot_node(r->promised) != m->from || r->state_transfer) {
		r->ctr.drops[PX_DROP_WRONG_ROLE]++;
		out->dropped++;
		return;
	}
	start_candidacy(r, true, out);
}

/*
 * STATE_NEEDED comes from an acceptor answering our PREPARE (it applied and dropped
 * slots our phase 1 must cover: we cannot lead), or from the leader we follow (we need
 * slots it no longer holds). Only the second sets state transfer, and only when it is
 * true now: a delayed or duplicated one, or one sent on a reordered old ack, must not
 * stop a replica that holds every slot it needs, and nothing may stop a leader.
 */
static void on_state_needed(struct px_replica *r, const struct px_msg *m, struct px_out *out)
{
	if (BUG(r, PX_BUG_STATE_NEEDED_ANY) && m->slot_lo > r->commit + 1) {
		/* d043dfc's rule: believed from anyone, in any role. */
		if (!r->state_transfer)
			r->ctr.state_transfer_needed++;
		r->state_transfer = 1;
		out->state_transfer_needed = true;
		if (r->role == PX_CANDIDATE)
			become_follower(r, out);
		return;
	}
	if (r->role == PX_CANDIDATE && m->ballot == r->ballot) {
		/* An acceptor of our ballot holds no slot below m->slot_lo, and we lack some:
		 * a candidate whose log is further behind must leave it to another. */
		become_follower(r, out);
		return;
	}
	/* The leader's window starts at most one past its commit point. */
	bool from_leader = r->role == PX_FOLLOWER && m->ballot == r->promised &&
			   px_ballot_node(m->ballot) == m->from && r->leader == m->from &&
			   m->slot_lo <= m->commit + 1;
	if (!from_leader) {
		r->ctr.drops[PX_DROP_WRONG_ROLE]++;
		out->dropped++;
		return;
	}
	/* Every slot <= ack_hi we hold, chosen or accepted at this leader's ballot (so the
	 * leader's value, which its commit point will confirm): only a gap below the
	 * leader's window needs a state transfer. */
	if (m->slot_lo <= r->ack_hi + 1) {
		r->ctr.drops[PX_DROP_BAD_FIELD]++;
		out->dropped++;
		return;
	}
	if (!r->state_transfer)
		r->ctr.state_transfer_needed++;
	r->state_transfer = 1;
	out->state_transfer_needed = true;
}

/* ---- Memory-mode recovery (DISC 2017 crash vectors + a phase-1 style read) ----
 * Round 1: ask f+1 others for the newest incarnation of ours they know; ours becomes
 * max + 1. Round 2: announce it (each responder records it before answering, so any
 * later message of theirs fences our pre-crash messages) and read their promised
 * ballots and logs. We adopt the highest promise and the highest-ballot value per slot
 * (as a new leader would), then rejoin as a follower. See docs/consistency.md. */

static void recover_broadcast(struct px_replica *r, struct px_out *out)
{
	r->recover_elapsed = 0;
	for (uint32_t i = 0; i < r->cfg.n_replicas; i++) {
		if (i == r->cfg.self || !out_room(out, 1))
			continue;
		struct px_peer *p = &r->peers[i];
		if (r->recover_round == 1 && p->recover_r1)
			continue;
		if (r->recover_round == 2 && p->recover_done)
			continue;
		struct px_msg *m = msg_new(r, out, PX_MSG_RECOVER, (uint8_t)i);
		m->nonce = r->cfg.boot_nonce;
		if (r->recover_round == 2) {
			m->flags |= PX_MF_ANNOUNCE;
			m->slot_lo = p->recover_next;
		}
	}
}

static void start_recovery(struct px_replica *r)
{
	r->role = PX_RECOVERING;
	r->recover_round = 1;
	for (uint32_t i = 0; i < r->cfg.n_replicas; i++) {
		r->peers[i].recover_r1 = 0;
		r->peers[i].recover_done = 0;
		r->peers[i].recover_next = 1;
	}
	/* The first tick sends round 1. */
	r->recover_elapsed = r->cfg.heartbeat_ticks;
}

/*
 * A replica in normal status learned a newer incarnation of itself (merge_incarnations):
 * it takes the number and runs round 2 of the recovery with it, its memory intact, so
 * that f + 1 replicas record the number before it votes again; its votes carry the
 * number from then on, and a later life must pick a higher one (docs/consistency.md).
 * Pages are asked from the commit point on: below it everything is chosen and held.
 */
static void start_reannounce(struct px_replica *r, struct px_out *out)
{
	r->ctr.incarnation_adopted++;
	r->reannouncing = 1;
	r->read_inflight = 0;
	r->transfer_target = PX_NODE_NONE;
	if (r->leader == r->cfg.self)
		r->leader = PX_NODE_NONE;
	set_role(r, PX_RECOVERING, out);
	r->recover_round = 2;
	/* No vote is reported while recovering; the promise may rise with the pages. */
	r->ack_hi = r->commit;
	for (uint32_t i = 0; i < r->cfg.n_replicas; i++) {
		r->peers[i].recover_r1 = 1;
		r->peers[i].recover_done = 0;
		r->peers[i].recover_next = r->commit + 1;
	}
	recover_broadcast(r, out);
}

static uint32_t count_flags(const struct px_replica *r, size_t off)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < r->cfg.n_replicas; i++)
		n += *((const uint8_t *)&r->peers[i] + off);
	return n;
}

static void on_recover(struct px_replica *r, const struct px_msg *m, struct px_out *out)
{
	/* A restarted replica knows nothing to answer with; one that only announces a
	 * newer number of itself knows everything it did (else two doing so at once, in
	 * three replicas, would wait for each other for ever). */
	if (r->role == PX_RECOVERING && !r->reannouncing) {
		r->ctr.drops[PX_DROP_RECOVERING]++;
		out->dropped++;
		return;
	}
	if (!out_room(out, 1))
		return;
	if (!(m->flags & PX_MF_ANNOUNCE)) {
		struct px_msg *x = msg_new(r, out, PX_MSG_RECOVER_REPLY, m->from);
		x->nonce = m->nonce;
		x->flags |= PX_MF_NORMAL;
		x->slot_lo = 0; /* round 1: no log */
		return;
	}
	/* Round 2: the crash vector was merged before this handler (see px_step). */
	if (!promise_durable(r)) {
		persist_kick(r, out);
		return; /* asked again on its next broadcast */
	}
	send_promise_page(r, m->from, m->slot_lo, PX_MSG_RECOVER_REPLY, m->nonce, out);
	out->msgs[out->n_msgs - 1].flags |= PX_MF_NORMAL | PX_MF_ANNOUNCE;
	if (r->role == PX_LEADER)
		out->msgs[out->n_msgs - 1].flags |= PX_MF_LEADER;
}

static void finish_recovery(struct px_replica *r, struct px_out *out)
{
	r->recover_round = 0;
	r->reannouncing = 0;
	r->ctr.recoveries_completed++;
	r->ballot = r->promised;
	/* Contiguous chosen prefix from the merged log. */
	advance_commit(r, out);
	r->ack_hi = r->commit;
	advance_ack(r);
	become_follower(r, out);
}

static void on_recover_reply(struct px_replica *r, const struct px_msg *m, struct px_out *out)
{
	if (r->role != PX_RECOVERING || m->nonce != r->cfg.boot_nonce ||
	    !(m->flags & PX_MF_NORMAL)) {
		r->ctr.drops[PX_DROP_WRONG_ROLE]++;
		out->dropped++;
		return;
	}
	struct px_peer *p = &r->peers[m->from];
	if (r->recover_round == 1) {
		if (m->flags & PX_MF_ANNOUNCE)
			return;
		p->recover_r1 = 1;
		if (count_flags(r, offsetof(struct px_peer, recover_r1)) >= r->quorum) {
			/* Our incarnation: one past the newest any responder knows. The crash
			 * vector merge has already put the max of theirs into inc[self]. At the
			 * ceiling (only a forged vector gets there) no new number exists: stay
			 * in round 1 rather than reuse one. */
			if (r->inc[r->cfg.self] + 1u >= PX_INCARNATION_MAX) {
				r->ctr.drops[PX_DROP_BOUND]++;
				return;
			}
			if (!BUG(r, PX_BUG_RECOVER_NO_BUMP))
				r->inc[r->cfg.self] += 1;
			r->recover_round = 2;
			recover_broadcast(r, out);
		}
		return;
	}
	if (!(m->flags & PX_MF_ANNOUNCE) || p->recover_done ||
	    m->incarnation[r->cfg.self] != r->inc[r->cfg.self])
		return;
	if (m->slot_lo > p->recover_next)
		return; /* lost page; asked again */
	for (uint32_t i = 0; i < m->n_entries; i++) {
		if (merge_entry(r, &m->entries[i]))
			continue;
		/* The cluster moved on past our window from slot 1: we will need state
		 * transfer. Slots we skip are below a responder's window, hence chosen:
		 * no vote of ours there matters. */
		if (!r->state_transfer)
			r->ctr.state_transfer_needed++;
		r->state_transfer = 1;
		out->state_transfer_needed = true;
		bool ok = window_make_room(r, m->entries[i].slot);
		PX_ASSERT(ok);
		ok = merge_entry(r, &m->entries[i]);
		PX_ASSERT(ok);
	}
	/* No ack is held while recovering (ack_hi == commit), so the promise may rise. */
	if (m->ballot > r->promised)
		set_promised(r, m->ballot);
	note_ballot(r, m->ballot);
	bool advanced = m->slot_hi > p->recover_next;
	if (advanced)
		p->recover_next = m->slot_hi;
	if (m->flags & PX_MF_LAST)
		p->recover_done = 1;
	/* f + 1 responders, ourselves excluded: they intersect every quorum's other f. */
	if (count_flags(r, offsetof(struct px_peer, recover_done)) +
		    (BUG(r, PX_BUG_RECOVER_MINORITY) ? 1u : 0u) >= r->quorum)
		finish_recovery(r, out);
	else if (!(m->flags & PX_MF_LAST) && advanced && out_room(out, 1)) {
		/* Next page only for a new page (duplicates must not multiply requests). */
		struct px_msg *x = msg_new(r, out, PX_MSG_RECOVER, m->from);
		x->nonce = r->cfg.boot_nonce;
		x->flags |= PX_MF_ANNOUNCE;
		x->slot_lo = p->recover_next;
	}
}

/* ---------------------------------------------------------------------------------- */
/* Entry points                                                                        */

static void check_after_step(const struct px_replica *r)
{
#ifdef PX_INVARIANTS
	const char *why = px_check_invariants(r);
	if (why != NULL)
		px_assert_fail(why, __FILE__, __LINE__);
#else
	(void)r;
#endif
}

/**
 * Crash vector merge (DISC 2017): learn newer incarnations; forget what we collected
 * from the older ones. Returns true if a replica in normal status learned a newer
 * incarnation of itself, which it must now announce (start_reannounce).
 */
static bool merge_incarnations(struct px_replica *r, const struct px_msg *m)
{
	uint32_t n = m->n_inc < r->cfg.n_replicas ? m->n_inc : r->cfg.n_replicas;
	bool reannounce = false;
	for (uint32_t j = 0; j < n; j++) {
		if (m->incarnation[j] <= r->inc[j])
			continue;
		r->inc[j] = m->incarnation[j];
		if (j == r->cfg.self) {
			/* Someone knows a newer us than us. In round 1 of a recovery that is
			 * the answer asked for. Otherwise it is a number an earlier life of
			 * ours announced and never completed (its round 2 reached few
			 * replicas, and we recovered from others): we take it, or every
			 * replica that learns it drops us for good; and whoever recorded our
			 * current number must learn the new one before we vote with it, so
			 * round 2 (re)starts (docs/consistency.md, "A newer incarnation of
			 * oneself"). */
			if (r->role != PX_RECOVERING)
				reannounce = true;
			else if (r->recover_round == 2)
				for (uint32_t i = 0; i < r->cfg.n_replicas; i++)
					r->peers[i].recover_done = 0;
			continue;
		}
		struct px_peer *p = &r->peers[j];
		p->ack_hi = 0;
		p->ack_at_hb = 0;
		p->promise_done = 0;
		p->promise_next = r->p1_from;
		p->prevote = 0;
		p->read_ack = 0;
	}
	return reannounce;
}

/** A ballot a peer may name: 0 (none), or a member's, at a round under the ceiling. */
static bool ballot_ok(const struct px_replica *r, uint64_t b)
{
	return b == 0 || (px_ballot_round(b) <= PX_ROUND_MAX &&
			  px_ballot_node(b) < r->cfg.n_replicas);
}

/** The highest slot number a message names (entries in increasing order). */
static uint64_t msg_slot_max(const struct px_msg *m)
{
	uint64_t hi = m->commit;
	if (m->type != PX_MSG_PREVOTE_REPLY && m->slot_lo > hi)
		hi = m->slot_lo;
	if (m->slot_hi > hi)
		hi = m->slot_hi;
	if (m->n_entries > 0 && m->entries[m->n_entries - 1].slot > hi)
		hi = m->entries[m->n_entries - 1].slot;
	return hi;
}

/**
 * Every number a peer message carries, bounded by what this replica knows, before any
 * of it is used (docs/protocol.md, "Bounds"). The codec checked the form; this checks
 * the sense that does not depend on our role. Returns PX_DROP_MAX if acceptable, else
 * the reason to count. A message that passes may still be stale or wrong for our role:
 * the handlers judge that.
 */
static enum px_drop msg_check(const struct px_replica *r, const struct px_msg *m)
{
	if (m->to != PX_NODE_NONE && m->to != r->cfg.self)
		return PX_DROP_NOT_FOR_US;
	if (m->config_epoch != r->cfg.config_epoch)
		return PX_DROP_EPOCH;
	if (!ballot_ok(r, m->ballot))
		return PX_DROP_BOUND;
	/* A leader's or candidate's own ballot names it. */
	if ((m->type == PX_MSG_PREVOTE || m->type == PX_MSG_PREPARE ||
	     m->type == PX_MSG_ACCEPT || m->type == PX_MSG_TIMEOUT_NOW) &&
	    (m->ballot == 0 || px_ballot_node(m->ballot) != m->from) &&
	    !BUG(r, PX_BUG_NO_SENDER_CHECK))
		return PX_DROP_SENDER;
	if (m->type == PX_MSG_PREVOTE_REPLY &&
	    (m->slot_lo == 0 || !ballot_ok(r, m->slot_lo)))
		return PX_DROP_BOUND;
	if (msg_slot_max(m) > PX_SLOT_MAX)
		return PX_DROP_BOUND;
	/* Entries: a value is accepted at a ballot no higher than the sender's own (a
	 * leader's, or an acceptor's promise): anything else names a phantom ballot. */
	for (uint32_t i = 0; i < m->n_entries; i++) {
		uint64_t vb = m->entries[i].vballot;
		if (vb == 0 || vb > m->ballot || !ballot_ok(r, vb))
			return PX_DROP_BOUND;
	}
	if (m->type == PX_MSG_ACCEPT && m->n_entries > 0 &&
	    m->entries[m->n_entries - 1].slot > m->commit + r->cfg.window_slots) {
		/* A leader holds no slot past its window, which starts at most one past its
		 * commit point (its base <= applied + 1 <= commit + 1). */
		return PX_DROP_BOUND;
	}
	if ((m->type == PX_MSG_PROMISE || m->type == PX_MSG_RECOVER_REPLY) &&
	    (m->slot_hi < m->slot_lo ||
	     (m->n_entries > 0 && (m->entries[0].slot < m->slot_lo ||
				   m->entries[m->n_entries - 1].slot >= m->slot_hi)))) {
		/* A page's entries lie in the range [slot_lo, slot_hi) it claims. */
		return PX_DROP_BOUND;
	}
	/* Crash vectors. Durable mode never changes an incarnation (restarts keep their
	 * promises). In memory mode each is one past what f + 1 replicas knew, one per
	 * restart, far below the ceiling. The same rule at every replica, whatever its
	 * status: a replica that took a number its peers refuse could talk to nobody. A
	 * believable number above the truth only fences its node until that node takes it
	 * (merge_incarnations). */
	for (uint32_t j = 0; j < r->cfg.n_replicas; j++) {
		uint32_t v = m->incarnation[j];
		if (r->cfg.durability == PX_DURABLE ? v != 0 : v >= PX_INCARNATION_MAX)
			return PX_DROP_BOUND;
	}
	return PX_DROP_MAX;
}

void px_step(struct px_replica *r, const struct px_msg *m, struct px_out *out)
{
	if (m->from >= r->cfg.n_replicas || m->from == r->cfg.self ||
	    m->type >= PX_MSG_REQUEST || m->n_inc != r->cfg.n_replicas) {
		r->ctr.drops[PX_DROP_BAD_FIELD]++;
		out->dropped++;
		return;
	}
	enum px_drop why = msg_check(r, m);
	if (why != PX_DROP_MAX) {
		r->ctr.drops[why]++;
		out->dropped++;
		return;
	}
	bool reannounce = merge_incarnations(r, m);
	bool recover_query = m->type == PX_MSG_RECOVER && !(m->flags & PX_MF_ANNOUNCE);
	if (!recover_query && m->incarnation[m->from] < r->inc[m->from]) {
		r->ctr.drops[PX_DROP_STALE_INCARNATION]++;
		out->dropped++;
		return;
	}
	note_ballot(r, m->ballot);
	if (reannounce)
		start_reannounce(r, out);
	if (r->role == PX_RECOVERING && m->type != PX_MSG_RECOVER_REPLY &&
	    !(r->reannouncing && m->type == PX_MSG_RECOVER)) {
		r->ctr.drops[PX_DROP_RECOVERING]++;
		out->dropped++;
		return;
	}
	switch (m->type) {
	case PX_MSG_PREVOTE: on_prevote(r, m, out); break;
	case PX_MSG_PREVOTE_REPLY: on_prevote_reply(r, m, out); break;
	case PX_MSG_PREPARE: on_prepare(r, m, out); break;
	case PX_MSG_PROMISE: on_promise(r, m, out); break;
	case PX_MSG_ACCEPT: on_accept(r, m, out); break;
	case PX_MSG_ACCEPTED: on_accepted(r, m, out); break;
	case PX_MSG_NACK: on_nack(r, m, out); break;
	case PX_MSG_TIMEOUT_NOW: on_timeout_now(r, m, out); break;
	case PX_MSG_STATE_NEEDED: on_state_needed(r, m, out); break;
	case PX_MSG_RECOVER: on_recover(r, m, out); break;
	case PX_MSG_RECOVER_REPLY: on_recover_reply(r, m, out); break;
	default:
		r->ctr.drops[PX_DROP_BAD_FIELD]++;
		out->dropped++;
		break;
	}
	check_after_step(r);
}

void px_tick(struct px_replica *r, struct px_out *out)
{
	switch (r->role) {
	case PX_RECOVERING:
		if (++r->recover_elapsed >= r->cfg.heartbeat_ticks)
			recover_broadcast(r, out);
		break;
	case PX_LEADER:
		if (++r->heartbeat_elapsed >= r->cfg.heartbeat_ticks) {
			r->heartbeat_elapsed = 0;
			leader_heartbeat(r, out);
		}
		if (r->transfer_target != PX_NODE_NONE &&
		    ++r->transfer_elapsed >= r->cfg.election_ticks)
			r->transfer_target = PX_NODE_NONE; /* gave up: keep leading */
		if (++r->quorum_elapsed >= r->cfg.election_ticks) {
			/* Check-quorum (Ongaro 6.2): step down if a majority went quiet. */
			r->quorum_elapsed = 0;
			uint32_t heard = 1;
			for (uint32_t i = 0; i < r->cfg.n_replicas; i++) {
				if (i != r->cfg.self)
					heard += r->peers[i].heard;
				r->peers[i].heard = 0;
			}
			if (heard < r->quorum) {
				r->ctr.stepdowns_check_quorum++;
				r->leader = PX_NODE_NONE;
				become_follower(r, out);
			}
		}
		break;
	case PX_CANDIDATE:
		if (++r->election_elapsed >= r->election_timeout) {
			start_prevote(r, out);
		} else if (r->election_elapsed % r->cfg.heartbeat_ticks == 0) {
			/* Ask again for promises that have not completed (lost messages). */
			for (uint32_t i = 0; i < r->cfg.n_replicas; i++) {
				if (i != r->cfg.self && !r->peers[i].promise_done)
					send_prepare(r, (uint8_t)i, r->peers[i].promise_next, out);
			}
		}
		break;
	case PX_FOLLOWER:
	case PX_PRECANDIDATE:
		/* A replica that cannot rebuild its state cannot lead: it only votes. Its
		 * timer still runs: it tells when the leader went quiet (pre-vote grants). */
		if (r->state_transfer) {
			if (r->role == PX_PRECANDIDATE)
				become_follower(r, out);
			if (r->election_elapsed < PX_TICKS_MAX)
				r->election_elapsed++;
			break;
		}
		if (++r->election_elapsed >= r->election_timeout) {
			if (r->role == PX_FOLLOWER)
				r->leader = PX_NODE_NONE;
			start_prevote(r, out);
			if (r->quorum == 1)
				start_candidacy(r, false, out);
		}
		break;
	}
	check_after_step(r);
}

void px_persisted(struct px_replica *r, uint64_t seq, struct px_out *out)
{
	if (memory_mode(r) || !r->persist_inflight || seq != r->persist_seq)
		return;
	r->persist_inflight = 0;
	/* An ack captured under an older promise says nothing about the current one. */
	if (r->inflight_promised == r->promised && r->inflight_ack_hi > r->durable_ack_hi) {
		r->durable_ack_hi = r->inflight_ack_hi;
		r->ack_pending = 1; /* the leader learns the new durable ack */
	}
	if (r->inflight_promised > r->durable_promised)
		r->durable_promised = r->inflight_promised;
	if (r->role == PX_CANDIDATE && promise_durable(r)) {
		r->peers[r->cfg.self].promise_done = 1;
		candidate_check_quorum(r, out);
	}
	if (promise_durable(r)) {
		for (uint32_t i = 0; i < r->cfg.n_replicas; i++) {
			if (r->promise_pending[i] == 0)
				continue;
			uint64_t from = r->promise_pending[i];
			r->promise_pending[i] = 0;
			send_promise_page(r, (uint8_t)i, from, PX_MSG_PROMISE, 0, out);
		}
	}
	if (r->role == PX_LEADER)
		leader_update_commit(r, out);
	else if (r->ack_pending && r->leader != PX_NODE_NONE)
		send_accepted(r, r->leader, out);
	persist_kick(r, out);
	check_after_step(r);
}

void px_applied(struct px_replica *r, uint64_t slot)
{
	PX_ASSERT(slot <= r->apply_sent);
	if (slot > r->applied)
		r->applied = slot;
}

/* ---------------------------------------------------------------------------------- */
/* Queries                                                                             */

const uint8_t *px_slot_value(const struct px_replica *r, uint64_t slot, uint32_t *len)
{
	struct px_slot *e = slot_get(r, slot);
	if (e == NULL || !e->chosen || slot > r->commit)
		return NULL;
	*len = e->len;
	return e->value;
}

bool px_slot_peek(const struct px_replica *r, uint64_t slot, uint64_t *vballot, bool *chosen,
		  const uint8_t **value, uint32_t *len)
{
	struct px_slot *e = slot_get(r, slot);
	if (e == NULL || e->len == 0)
		return false;
	*vballot = e->vballot;
	*chosen = e->chosen != 0;
	*value = e->value;
	*len = e->len;
	return true;
}

enum px_role px_role(const struct px_replica *r) { return r->role; }
uint8_t px_leader_hint(const struct px_replica *r) { return r->leader; }
uint64_t px_promised(const struct px_replica *r) { return r->promised; }
uint64_t px_commit(const struct px_replica *r) { return r->commit; }
uint64_t px_applied_slot(const struct px_replica *r) { return r->applied; }
uint64_t px_last_slot(const struct px_replica *r) { return r->last; }
bool px_needs_state_transfer(const struct px_replica *r) { return r->state_transfer != 0; }
uint32_t px_incarnation(const struct px_replica *r, uint8_t node)
{
	return node < r->cfg.n_replicas ? r->inc[node] : 0;
}
const struct px_counters *px_counters(const struct px_replica *r) { return &r->ctr; }

const char *px_check_invariants(const struct px_replica *r)
{
	if (r->commit > r->last && r->commit != 0)
		return "commit <= last";
	if (r->applied > r->commit)
		return "applied <= commit";
	if (r->apply_sent > r->commit)
		return "apply_sent <= commit";
	if (!r->state_transfer && r->base > r->applied + 1)
		return "base <= applied + 1";
	if (r->ack_hi < r->commit)
		return "ack_hi >= commit";
	if (r->ballot < r->promised && r->role != PX_RECOVERING)
		return "ballot >= promised";
	if ((r->role == PX_LEADER || r->role == PX_CANDIDATE) &&
	    px_ballot_node(r->ballot) != r->cfg.self)
		return "own ballot carries own node id";
	if (r->role == PX_LEADER && r->ballot != r->promised)
		return "leader's ballot is its promise";
	if (!memory_mode(r) && r->durable_promised > r->promised)
		return "durable promise <= promise";
	uint64_t lo = r->commit >= r->base ? r->base : r->commit + 1;
	if (lo < r->base)
		lo = r->base;
	for (uint64_t s = lo; s <= r->commit; s++) {
		struct px_slot *e = slot_get(r, s);
		if (e == NULL || !e->chosen || e->len == 0)
			return "every slot in [base, commit] is held and chosen";
	}
	for (uint64_t s = r->commit + 1; s <= r->ack_hi; s++) {
		struct px_slot *e = slot_get(r, s);
		if (e == NULL || !(e->chosen || e->vballot == r->promised))
			return "every slot in (commit, ack_hi] is chosen or at the promise";
	}
	if (r->read_confirmed > r->read_round_ticket)
		return "read: confirmed <= round ticket";
	if (r->read_round_ticket > r->read_ticket)
		return "read: round ticket <= last ticket";
	if (r->read_inflight && r->role != PX_LEADER)
		return "read: a round is in flight only at a leader";
	if (r->role == PX_RECOVERING && r->ack_hi != r->commit)
		return "a recovering replica acknowledges nothing";
	if (r->state_transfer && r->role != PX_FOLLOWER && r->role != PX_RECOVERING)
		return "a replica waiting for state transfer only follows";
	if (r->last >= r->base && r->last - r->base >= r->cfg.window_slots)
		return "last slot inside the window";
	if (r->round_seen > PX_ROUND_MAX || px_ballot_round(r->promised) > PX_ROUND_MAX)
		return "rounds within the ceiling";
	if (r->role == PX_LEADER) {
		if (r->lead_hi > r->last)
			return "leader: lead_hi <= last";
		if (r->next_slot != r->last + 1)
			return "leader: next_slot == last + 1";
		if (r->ack_hi != r->last)
			return "leader: its own ack covers its log";
	}
	for (uint32_t i = 0; i < r->cfg.window_slots; i++) {
		const struct px_slot *e = &r->slots[i];
		if (e->slot != 0 && e->slot >= r->base && (e->slot & r->mask) != i)
			return "ring entry holds a slot of its own index";
		if (e->len > r->cfg.slot_bytes)
			return "slot value fits the slot";
	}
	return NULL;
}
