/* SPDX-License-Identifier: Apache-2.0
 * Private to the replica: its state, the assertion and planted-bug macros, the small
 * helpers every part inlines, and the functions the parts share. Nothing here is API
 * (that is px.h); nothing outside consensus/px_*.c includes it.
 *
 * Module map (each file's header comment names the paper sections it implements):
 *   px_replica.c   config and init, the message and role helpers, the entry points:
 *                  px_step (msg_check's bounds, then the handlers), px_tick (timers,
 *                  check-quorum), px_persisted, px_applied
 *   px_log.c       the window of slots, restore after a restart, durability (group
 *                  commit), commit and apply
 *   px_election.c  pre-vote, phase 1 (PREPARE/PROMISE, the new leader's merge), NACK,
 *                  leadership transfer (TIMEOUT_NOW)
 *   px_phase2.c    proposals, phase 2 (ACCEPT/ACCEPTED), catch-up and heartbeats,
 *                  STATE_NEEDED
 *   px_read.c      reads by read index
 *   px_recovery.c  memory-mode recovery (RECOVER/RECOVER_REPLY), the crash vector merge,
 *                  re-announcing a newer incarnation of oneself
 *   px_query.c     queries and px_check_invariants
 *
 * The small helpers below are static inline, so that every part inlines them as the
 * single file did; the functions the parts share are declared at the end, by file.
 * Those carry the prefix pxr_ (private to the replica): px_ is px.h's public API, and
 * with the plain names they had as statics of one file they would be global symbols of
 * libpxcore, free to collide with any other module's.
 */
#ifndef PX_REPLICA_PVT_H
#define PX_REPLICA_PVT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "px.h"

/* Always-on assertions: a failure is our bug, never bad input (STYLE.md section 6). */
#define PX_ASSERT(c)                                                                      \
	do {                                                                              \
		if (__builtin_expect(!(c), 0))                                            \
			px_assert_fail(#c, __FILE__, __LINE__);                           \
	} while (0)

/* The one place the core may end the process: a broken invariant of our own code. */
__attribute__((noreturn, cold)) static inline void px_assert_fail(const char *what,
								 const char *file, int line)
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
	uint8_t inc_told;       /**< told this peer, this heartbeat interval, that we know a
	                             newer incarnation of it than it sent (px_step) */
	uint64_t read_ack;      /**< leader: highest read round echoed at our ballot */
};

struct px_replica {
	struct px_config cfg;
	/* Membership as of commit + 1 (px_members.c), and what it implies, cached: the
	 * voters (the commit count reads them per slot), their majority, and the crash
	 * vector's length (1 + the highest id known, self included). */
	struct px_membership ms;
	uint16_t voters;
	uint8_t n_ids;
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
	/** Leader: no-ops to propose up to here (a configuration entry's alpha window, so
	 *  that the change takes effect without waiting for client load). */
	uint64_t pad_to;

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

	/* Timers, in ticks. election_elapsed/election_timeout time a campaign: a
	 * candidacy's or pre-vote's retry (uniform in [e, 2e)), and a suspecting
	 * follower's jitter before its first pre-vote (below one heartbeat interval). */
	uint32_t election_elapsed;
	uint32_t election_timeout;
	/* The failure detector of a follower (or precandidate): Mu's score (Aguilera et
	 * al., "Microsecond Consensus for Microsecond Applications", OSDI 2020, 4.2). Each
	 * heartbeat interval (heartbeat_ticks) ends with +1 if no progress (an ACCEPT, with
	 * entries or empty) came from the leader in it, -1 if some did. The leader is
	 * suspected once the score reaches pxr_fd_hi, and no longer once it falls to
	 * pxr_fd_lo (hysteresis); a voter grants pre-votes and phase 1 once its own score
	 * is at pxr_fd_lo or more (leader_alive). Time only decides when to campaign:
	 * safety never depends on it. Invariant: fd_score <= pxr_fd_hi(r), fd_elapsed <
	 * heartbeat_ticks. */
	uint32_t fd_elapsed;
	uint32_t fd_score;
	uint8_t fd_heard;            /**< progress from the leader in this interval */
	uint8_t fd_suspect;
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
	/** Durable mode: the crash vector is kept in the journal (persist_inc), so that a
	 *  restart from an intact journal keeps fencing what it fenced before. inc_gen
	 *  counts its changes that must be kept (a peer's entry; our own number once a
	 *  recovery completes: inc_done); a request carries it when inc_gen_sent lags;
	 *  durable_inc_gen is the generation on stable storage. A round-2 RECOVER is
	 *  answered only once the vector is durable (docs/consistency.md, "Repair"). */
	uint32_t inc_done;           /**< own incarnation of the last completed recovery */
	uint64_t inc_gen, inc_gen_sent, inflight_inc_gen, durable_inc_gen;
	uint8_t recover_round;       /**< 1 or 2 while recovering */
	/** Recovering only to announce a newer incarnation, memory intact: it still
	 *  answers others' RECOVERs (pxr_start_reannounce). */
	uint8_t reannouncing;
	uint32_t recover_elapsed;
	uint32_t inc_told_elapsed;   /**< clears every peer's inc_told each heartbeat_ticks */

	uint8_t state_transfer;
	/** While state_transfer: the highest slot - 1 a leader said it no longer holds
	 *  (STATE_NEEDED's slot_lo - 1); a snapshot must cover it (px_state_transfer_need). */
	uint64_t st_need;
	struct px_peer peers[PX_REPLICAS_MAX];
	struct px_counters ctr;
	struct px_slot *slots;
};

/* ---------------------------------------------------------------------------------- */
/* Small helpers, inlined in every part                                                */

static inline struct px_slot *slot_at(const struct px_replica *r, uint64_t s)
{
	return &r->slots[s & r->mask];
}

/** The entry of slot s if the window holds it, else NULL. */
static inline struct px_slot *slot_get(const struct px_replica *r, uint64_t s)
{
	if (s < r->base || s >= r->base + r->cfg.window_slots)
		return NULL;
	struct px_slot *e = slot_at(r, s);
	return e->slot == s ? e : NULL;
}

static inline bool is_voter(const struct px_replica *r, uint32_t id)
{
	return id < PX_REPLICAS_MAX && ((r->voters >> id) & 1u) != 0;
}

/** Everyone who gets the log: the members (voters and learners) of the configuration in
 *  force and of a pending one, so that these hold it when it takes effect. */
static inline uint16_t recipients(const struct px_replica *r)
{
	const struct px_membership *ms = &r->ms;
	return (uint16_t)(ms->cur.voters | ms->cur.learners | ms->next.voters |
			  ms->next.learners);
}

/**
 * May this replica campaign? A voter of the configuration in force may; so may one that
 * holds a later configuration naming it a voter (pending, or accepted past its commit
 * point): the slots before that configuration takes effect need a leader, and a
 * proposer need not be an acceptor (its own promise and acks count only if it votes).
 * Without it, a configuration whose voters all lag behind its first slot, its old
 * voters removed, would have no one to lead it in.
 */
static inline bool may_campaign(const struct px_replica *r)
{
	uint8_t self = r->cfg.self;
	if (is_voter(r, self) || px_is_voter(&r->ms.next, self))
		return true;
	/* Bounded: the window. Only on an election timeout. */
	for (uint64_t s = r->commit + 1; s <= r->last; s++) {
		const struct px_slot *e = slot_get(r, s);
		uint32_t base;
		struct px_members m;
		if (e != NULL && e->len != 0 && px_conf_parse(e->value, e->len, &base, &m, NULL) &&
		    px_is_voter(&m, self))
			return true;
	}
	return false;
}

/** The highest slot a leader may propose now: alpha past the commit point (so that it
 *  knows the configuration of every slot it proposes), and short of a pending
 *  configuration's first slot (those need a phase 1 among its voters). */
static inline uint64_t leader_bound(const struct px_replica *r)
{
	uint64_t w = r->cfg.pipeline_slots;
	if (r->ms.alpha != 0 && r->ms.alpha < w)
		w = r->ms.alpha;
	uint64_t b = r->commit + w;
	if (r->ms.next_eff != 0 && r->ms.next_eff - 1 < b)
		b = r->ms.next_eff - 1;
	return b;
}

static inline bool memory_mode(const struct px_replica *r)
{
	return r->cfg.durability == PX_MEMORY;
}

static inline void note_ballot(struct px_replica *r, uint64_t b)
{
	if (px_ballot_round(b) > r->round_seen)
		r->round_seen = px_ballot_round(b);
}

static inline bool out_room(const struct px_out *out, uint32_t n)
{
	return out->n_msgs + n <= PX_OUT_MSGS_MAX;
}

/* Conservative encoded size of one entry (its wire header plus value). */
#define ENTRY_WIRE_BYTES 24u
#define MSG_WIRE_OVERHEAD (64u + 4u * PX_REPLICAS_MAX + 64u)

static inline bool msg_entry_fits(const struct px_msg *m, uint32_t *bytes, uint32_t len)
{
	if (m->n_entries >= PX_MSG_ENTRIES_MAX)
		return false;
	if (*bytes + ENTRY_WIRE_BYTES + len > PX_MSG_BYTES_MAX)
		return false;
	*bytes += ENTRY_WIRE_BYTES + len;
	return true;
}

static inline void msg_add_entry(struct px_msg *m, const struct px_slot *e, bool chosen)
{
	struct px_entry *x = &m->entries[m->n_entries++];
	x->slot = e->slot;
	x->vballot = e->vballot;
	x->len = e->len;
	x->flags = chosen ? PX_EF_CHOSEN : 0;
	x->value = e->value;
}

/** The ack this replica may report: only what is on stable storage (durable mode). */
static inline uint64_t ack_reportable(const struct px_replica *r)
{
	return memory_mode(r) ? r->ack_hi : r->durable_ack_hi;
}

static inline bool promise_durable(const struct px_replica *r)
{
	return memory_mode(r) || r->durable_promised >= r->promised;
}

/** The crash vector as we know it is on stable storage (always, in memory mode). */
static inline bool inc_durable(const struct px_replica *r)
{
	return memory_mode(r) || r->durable_inc_gen == r->inc_gen;
}

/** Durable mode: a crash vector entry that must be kept changed. */
static inline void inc_changed(struct px_replica *r)
{
	if (!memory_mode(r))
		r->inc_gen++;
}

static inline void check_after_step(const struct px_replica *r)
{
#ifdef PX_INVARIANTS
	const char *why = px_check_invariants(r);
	if (why != NULL)
		px_assert_fail(why, __FILE__, __LINE__);
#else
	(void)r;
#endif
}

/* ---------------------------------------------------------------------------------- */
/* Shared between the parts, by the file that defines them                             */

/* px_replica.c */
void pxr_reset_election_timer(struct px_replica *r);
/** The failure detector's marks (in heartbeat intervals): suspect at hi =
 *  election_ticks / heartbeat_ticks (>= 2 by px_config_check), clear at lo = hi / 2. */
static inline uint32_t pxr_fd_hi(const struct px_replica *r)
{
	return r->cfg.election_ticks / r->cfg.heartbeat_ticks;
}
static inline uint32_t pxr_fd_lo(const struct px_replica *r)
{
	return pxr_fd_hi(r) / 2u;
}
/** A fresh judgement (a new ballot adopted): score 0, not suspected, and a random
 *  phase of the interval, so that followers do not all suspect on the same tick. */
void pxr_fd_reset(struct px_replica *r);
struct px_msg *pxr_msg_new(struct px_replica *r, struct px_out *out, uint8_t type, uint8_t to);
void pxr_set_role(struct px_replica *r, enum px_role role, struct px_out *out);
void pxr_become_follower(struct px_replica *r, struct px_out *out);
void pxr_adopt_ballot(struct px_replica *r, uint64_t b, struct px_out *out);
void pxr_send_accepted(struct px_replica *r, uint8_t to, struct px_out *out);
void pxr_send_nack(struct px_replica *r, uint8_t to, struct px_out *out);

void pxr_members_changed(struct px_replica *r);

/* px_log.c */
bool pxr_window_make_room(struct px_replica *r, uint64_t s);
struct px_slot *pxr_slot_claim(struct px_replica *r, uint64_t s);
void pxr_slot_set(struct px_slot *e, uint64_t vballot, const uint8_t *v, uint32_t len);
void pxr_mark_dirty(struct px_replica *r, uint64_t s);
void pxr_persist_kick(struct px_replica *r, struct px_out *out);
void pxr_reset_ack(struct px_replica *r);
void pxr_set_promised(struct px_replica *r, uint64_t b);
void pxr_advance_ack(struct px_replica *r);
void pxr_advance_commit(struct px_replica *r, struct px_out *out);
void pxr_leader_update_commit(struct px_replica *r, struct px_out *out);
void pxr_leader_continue(struct px_replica *r, struct px_out *out);
void pxr_repropose(struct px_replica *r, struct px_slot *e);

/* px_election.c */
void pxr_start_prevote(struct px_replica *r, struct px_out *out);
void pxr_on_prevote(struct px_replica *r, const struct px_msg *m, struct px_out *out);
void pxr_on_prevote_reply(struct px_replica *r, const struct px_msg *m, struct px_out *out);
void pxr_send_prepare(struct px_replica *r, uint8_t to, uint64_t from, struct px_out *out);
void pxr_candidate_check_quorum(struct px_replica *r, struct px_out *out);
void pxr_start_candidacy(struct px_replica *r, bool forced, struct px_out *out);
bool pxr_merge_entry(struct px_replica *r, const struct px_entry *x);
void pxr_send_promise_page(struct px_replica *r, uint8_t to, uint64_t from, uint8_t type,
			   uint64_t nonce, struct px_out *out);
void pxr_on_prepare(struct px_replica *r, const struct px_msg *m, struct px_out *out);
void pxr_on_promise(struct px_replica *r, const struct px_msg *m, struct px_out *out);
void pxr_on_nack(struct px_replica *r, const struct px_msg *m, struct px_out *out);
void pxr_maybe_transfer(struct px_replica *r, struct px_out *out);
void pxr_on_timeout_now(struct px_replica *r, const struct px_msg *m, struct px_out *out);

/* px_phase2.c */
uint64_t pxr_broadcast_accepts(struct px_replica *r, uint64_t lo, uint64_t hi,
			       struct px_out *out);
void pxr_on_accept(struct px_replica *r, const struct px_msg *m, struct px_out *out);
void pxr_on_accepted(struct px_replica *r, const struct px_msg *m, struct px_out *out);
void pxr_leader_heartbeat(struct px_replica *r, struct px_out *out);
void pxr_on_state_needed(struct px_replica *r, const struct px_msg *m, struct px_out *out);

/* px_read.c */
void pxr_read_kick(struct px_replica *r, struct px_out *out, bool send);
void pxr_read_check_round(struct px_replica *r, struct px_out *out);

/* px_recovery.c */
void pxr_recover_broadcast(struct px_replica *r, struct px_out *out);
void pxr_start_recovery(struct px_replica *r);
void pxr_start_reannounce(struct px_replica *r, struct px_out *out);
void pxr_on_recover(struct px_replica *r, const struct px_msg *m, struct px_out *out);
void pxr_on_recover_reply(struct px_replica *r, const struct px_msg *m, struct px_out *out);
bool pxr_merge_incarnations(struct px_replica *r, const struct px_msg *m);

#endif /* PX_REPLICA_PVT_H */
