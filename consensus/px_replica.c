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
 *
 * The replica is split by concern into the files px_replica_pvt.h lists. This one holds
 * the config and init, the helpers that build messages and change roles, and the entry
 * points: px_step, which bounds every number of a peer message (msg_check;
 * docs/protocol.md, "Bounds") and merges its crash vector before any handler runs;
 * px_tick (timers, check-quorum: Ongaro 6.2); px_persisted (acks wait for durability,
 * STYLE.md section 2); px_applied.
 */
#include <errno.h>
#include <string.h>

#include "px.h"
#include "px_batch.h"
#include "px_replica_pvt.h"

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

void pxr_reset_election_timer(struct px_replica *r)
{
	r->election_elapsed = 0;
	r->election_timeout = r->cfg.election_ticks +
			      (uint32_t)(rng_next(r) % r->cfg.election_ticks);
}

void pxr_fd_reset(struct px_replica *r)
{
	r->fd_score = 0;
	r->fd_suspect = 0;
	r->fd_heard = 0;
	r->fd_elapsed = (uint32_t)(rng_next(r) % r->cfg.heartbeat_ticks);
}

/**
 * One tick of the failure detector (pvt.h, "The failure detector"): a follower's or
 * precandidate's. Returns true when the leader has just come to be suspected.
 */
static bool fd_tick(struct px_replica *r)
{
	if (++r->fd_elapsed < r->cfg.heartbeat_ticks)
		return false;
	r->fd_elapsed = 0;
	if (r->fd_heard) {
		if (r->fd_score > 0)
			r->fd_score--;
	} else if (r->fd_score < pxr_fd_hi(r)) {
		r->fd_score++;
	}
	r->fd_heard = 0;
	if (r->fd_suspect && r->fd_score <= pxr_fd_lo(r)) {
		r->fd_suspect = 0;
	} else if (!r->fd_suspect && r->fd_score >= pxr_fd_hi(r)) {
		r->fd_suspect = 1;
		r->ctr.suspicions++;
		return true;
	}
	return false;
}

struct px_msg *pxr_msg_new(struct px_replica *r, struct px_out *out, uint8_t type, uint8_t to)
{
	PX_ASSERT(out->n_msgs < PX_OUT_MSGS_MAX);
	struct px_msg *m = &out->msgs[out->n_msgs++];
	m->type = type;
	m->flags = 0;
	m->from = r->cfg.self;
	m->to = to;
	m->cluster_id = r->cfg.cluster_id;
	m->config_epoch = r->ms.cur.epoch;
	m->ballot = r->promised;
	m->n_inc = r->n_ids;
	memcpy(m->incarnation, r->inc, sizeof(uint32_t) * r->n_ids);
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

/** Recomputes what the membership implies (px_replica_pvt.h). */
void pxr_members_changed(struct px_replica *r)
{
	const struct px_membership *ms = &r->ms;
	r->voters = ms->cur.voters;
	uint32_t all = (uint32_t)recipients(r) | (1u << r->cfg.self);
	uint8_t n = 0;
	for (uint32_t i = 0; i < PX_REPLICAS_MAX; i++)
		if ((all >> i) & 1u)
			n = (uint8_t)(i + 1);
	if (n > r->n_ids)
		r->n_ids = n;  /* never shrinks: peers may still send the longer vector */
	uint32_t nv = px_popcount16(r->voters);
	/* No voter known (a joiner): a quorum no count reaches. */
	r->quorum = nv == 0 ? PX_REPLICAS_MAX + 1 : nv / 2u + 1u;
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
	cfg->window_slots = PX_DEFAULT_WINDOW_SLOTS;
	cfg->pipeline_slots = PX_DEFAULT_PIPELINE_SLOTS;
	cfg->slot_bytes = PX_DEFAULT_SLOT_BYTES;
	cfg->batch_cmds_max = PX_DEFAULT_BATCH_CMDS;
	cfg->heartbeat_ticks = PX_DEFAULT_HEARTBEAT_TICKS;
	cfg->election_ticks = PX_DEFAULT_ELECTION_TICKS;
	cfg->seed = 0x5eed0000u + self;
}

int px_config_check(const struct px_config *cfg, const char **why)
{
	const char *w = NULL;
	uint8_t n = cfg->n_replicas;
	if (!(n == 1 || n == 3 || n == 5 || n == 7 || n == 9))
		w = "n_replicas must be 3, 5, 7 or 9 (1 only for the unreplicated baseline)";
	else if (!cfg->join && cfg->self >= n)
		w = "self must be below n_replicas";
	else if (cfg->join && (cfg->self < n || cfg->self >= PX_REPLICAS_MAX))
		w = "a joining replica's id must be new: n_replicas..8 (the cluster file's "
		    "first voters keep theirs; ids are never reused)";
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
	/* As of slot 1: the cluster file's. A joiner follows the log (or installs a
	 * snapshot) from there like any replica; its id is no voter of it. */
	px_membership_init(&r->ms, cfg->n_replicas, cfg->config_epoch, cfg->pipeline_slots);
	pxr_members_changed(r);
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
	pxr_reset_election_timer(r);
	pxr_fd_reset(r);
	/* A restart that lost its promises and votes (memory mode; a durable journal
	 * damaged in the middle) must not vote before it has recovered. */
	bool skip = cfg->durability == PX_MEMORY ? BUG(r, PX_BUG_FORGET_PROMISES)
						 : BUG(r, PX_BUG_REPAIR_VOTES);
	if (cfg->restarted && !skip)
		pxr_start_recovery(r);
	return r;
}

/* ---------------------------------------------------------------------------------- */
/* Roles                                                                               */

void pxr_set_role(struct px_replica *r, enum px_role role, struct px_out *out)
{
	if (r->role == role)
		return;
	r->role = role;
	out->role_changed = true;
	out->role = role;
}

void pxr_become_follower(struct px_replica *r, struct px_out *out)
{
	/* Outstanding read tickets are never confirmed now (px.h, step 5). */
	r->read_inflight = 0;
	/* A leader or candidate that steps down judges the leader afresh; a precandidate
	 * keeps its score (hysteresis: hearing the leader once does not clear it). */
	if (r->role == PX_LEADER || r->role == PX_CANDIDATE)
		pxr_fd_reset(r);
	pxr_set_role(r, PX_FOLLOWER, out);
	if (r->leader == r->cfg.self)
		r->leader = PX_NODE_NONE;
	r->ballot = r->promised;
	r->transfer_target = PX_NODE_NONE;
	pxr_reset_election_timer(r);
}

/** Adopts a higher ballot seen in a PREPARE or ACCEPT (acceptor rule). */
void pxr_adopt_ballot(struct px_replica *r, uint64_t b, struct px_out *out)
{
	PX_ASSERT(b > r->promised);
	pxr_set_promised(r, b);
	if (r->role != PX_FOLLOWER)
		pxr_become_follower(r, out);
	r->ballot = b;
	r->leader = PX_NODE_NONE;
	pxr_reset_ack(r);
	pxr_fd_reset(r);
}

void pxr_send_accepted(struct px_replica *r, uint8_t to, struct px_out *out)
{
	if (!promise_durable(r)) {
		r->ack_pending = 1;
		return;
	}
	if (!out_room(out, 1)) {
		r->ack_pending = 1;
		return;
	}
	struct px_msg *m = pxr_msg_new(r, out, PX_MSG_ACCEPTED, to);
	m->slot_hi = ack_reportable(r);
	r->ack_pending = 0;
}

void pxr_send_nack(struct px_replica *r, uint8_t to, struct px_out *out)
{
	if (!out_room(out, 1))
		return;
	pxr_msg_new(r, out, PX_MSG_NACK, to);
}

/* ---------------------------------------------------------------------------------- */
/* Entry points                                                                        */

/** A ballot a peer may name: 0 (none), or a node id's, at a round under the ceiling.
 *  Any id: a promise or an accepted value may name the leader of a configuration long
 *  gone, removed before this replica (restarted, or a joiner) learned of it. */
static bool ballot_ok(uint64_t b)
{
	return b == 0 || (px_ballot_round(b) <= PX_ROUND_MAX &&
			  px_ballot_node(b) < PX_REPLICAS_MAX);
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
	/* Membership: a node of no configuration we know, that knows none newer (a removed
	 * member, or a stranger), is not heard. A newer epoch is heard: we may be behind
	 * (a joiner knows none), and an acceptor's rules do not depend on who votes. */
	if (m->config_epoch > PX_EPOCH_MAX)
		return PX_DROP_EPOCH;
	if (!px_heard_from(r, m->from, m->config_epoch))
		return PX_DROP_NOT_MEMBER;
	if (!ballot_ok(m->ballot))
		return PX_DROP_BOUND;
	/* A leader's or candidate's own ballot names it. */
	if ((m->type == PX_MSG_PREVOTE || m->type == PX_MSG_PREPARE ||
	     m->type == PX_MSG_ACCEPT || m->type == PX_MSG_TIMEOUT_NOW) &&
	    (m->ballot == 0 || px_ballot_node(m->ballot) != m->from) &&
	    !BUG(r, PX_BUG_NO_SENDER_CHECK))
		return PX_DROP_SENDER;
	if (m->type == PX_MSG_PREVOTE_REPLY &&
	    (m->slot_lo == 0 || !ballot_ok(m->slot_lo)))
		return PX_DROP_BOUND;
	if (msg_slot_max(m) > PX_SLOT_MAX)
		return PX_DROP_BOUND;
	/* Entries: a value is accepted at a ballot no higher than the sender's own (a
	 * leader's, or an acceptor's promise): anything else names a phantom ballot. */
	for (uint32_t i = 0; i < m->n_entries; i++) {
		uint64_t vb = m->entries[i].vballot;
		if (vb == 0 || vb > m->ballot || !ballot_ok(vb))
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
	/* Crash vectors. Each incarnation is one past what f + 1 replicas knew, one per
	 * restart that lost its memory (every memory-mode restart; a durable replica's
	 * repair of a damaged journal), far below the ceiling. The same rule at every
	 * replica, in both modes, whatever its status: a replica that took a number its
	 * peers refuse could talk to nobody. A believable number above the truth only
	 * fences its node until that node takes it (pxr_merge_incarnations). */
	for (uint32_t j = 0; j < m->n_inc; j++)
		if (m->incarnation[j] >= PX_INCARNATION_MAX)
			return PX_DROP_BOUND;
	return PX_DROP_MAX;
}

void px_step(struct px_replica *r, const struct px_msg *m, struct px_out *out)
{
	if (m->from >= PX_REPLICAS_MAX || m->from == r->cfg.self ||
	    m->type >= PX_MSG_REQUEST || m->n_inc > PX_REPLICAS_MAX || m->from >= m->n_inc) {
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
	bool reannounce = pxr_merge_incarnations(r, m);
	bool recover_query = m->type == PX_MSG_RECOVER && !(m->flags & PX_MF_ANNOUNCE);
	if (!recover_query && m->incarnation[m->from] < r->inc[m->from]) {
		r->ctr.drops[PX_DROP_STALE_INCARNATION]++;
		out->dropped++;
		/* The sender may not know the number we hold for it (an earlier life's that
		 * never completed, or a believable wrong one): until it takes it, we and
		 * everyone who learns it drop it. Dropping in silence can fence it for good
		 * when we never send it anything of our own (a replica in state transfer
		 * never campaigns), so tell it: a NACK carries our crash vector. Once per
		 * peer per heartbeat interval, so a stream of stale messages is not
		 * answered one for one. */
		struct px_peer *p = &r->peers[m->from];
		if (!p->inc_told && out_room(out, 1)) {
			p->inc_told = 1;
			r->ctr.incarnation_told++;
			pxr_send_nack(r, m->from, out);
		}
		return;
	}
	note_ballot(r, m->ballot);
	if (reannounce && is_voter(r, r->cfg.self)) {
		pxr_start_reannounce(r, out);
	} else if (reannounce) {
		/* A learner (or a joiner, or a removed member) casts no vote that counts:
		 * nothing of its own needs fencing, so it takes the number at once (round 2
		 * needs a majority of voters, which a joiner does not even know). Promoted
		 * later, it votes with it. */
		r->ctr.incarnation_adopted++;
		r->inc_done = r->inc[r->cfg.self];
		inc_changed(r);
	}
	if (r->role == PX_RECOVERING && m->type != PX_MSG_RECOVER_REPLY &&
	    !(r->reannouncing && m->type == PX_MSG_RECOVER)) {
		r->ctr.drops[PX_DROP_RECOVERING]++;
		out->dropped++;
		return;
	}
	switch (m->type) {
	case PX_MSG_PREVOTE: pxr_on_prevote(r, m, out); break;
	case PX_MSG_PREVOTE_REPLY: pxr_on_prevote_reply(r, m, out); break;
	case PX_MSG_PREPARE: pxr_on_prepare(r, m, out); break;
	case PX_MSG_PROMISE: pxr_on_promise(r, m, out); break;
	case PX_MSG_ACCEPT: pxr_on_accept(r, m, out); break;
	case PX_MSG_ACCEPTED: pxr_on_accepted(r, m, out); break;
	case PX_MSG_NACK: pxr_on_nack(r, m, out); break;
	case PX_MSG_TIMEOUT_NOW: pxr_on_timeout_now(r, m, out); break;
	case PX_MSG_STATE_NEEDED: pxr_on_state_needed(r, m, out); break;
	case PX_MSG_RECOVER: pxr_on_recover(r, m, out); break;
	case PX_MSG_RECOVER_REPLY: pxr_on_recover_reply(r, m, out); break;
	default:
		r->ctr.drops[PX_DROP_BAD_FIELD]++;
		out->dropped++;
		break;
	}
	check_after_step(r);
}

void px_tick(struct px_replica *r, struct px_out *out)
{
	if (++r->inc_told_elapsed >= r->cfg.heartbeat_ticks) {
		r->inc_told_elapsed = 0;
		for (uint32_t i = 0; i < PX_REPLICAS_MAX; i++)
			r->peers[i].inc_told = 0;
	}
	switch (r->role) {
	case PX_RECOVERING:
		if (++r->recover_elapsed >= r->cfg.heartbeat_ticks)
			pxr_recover_broadcast(r, out);
		break;
	case PX_LEADER:
		if (++r->heartbeat_elapsed >= r->cfg.heartbeat_ticks) {
			r->heartbeat_elapsed = 0;
			/* Proposals first: claiming slots may reuse ring entries, which the
			 * catch-up messages of the heartbeat point into. */
			pxr_leader_continue(r, out);
			pxr_leader_heartbeat(r, out);
		}
		if (r->transfer_target != PX_NODE_NONE &&
		    ++r->transfer_elapsed >= r->cfg.election_ticks)
			r->transfer_target = PX_NODE_NONE; /* gave up: keep leading */
		if (++r->quorum_elapsed >= r->cfg.election_ticks) {
			/* Check-quorum (Ongaro 6.2): step down if a majority went quiet. */
			r->quorum_elapsed = 0;
			uint32_t heard = is_voter(r, r->cfg.self) ? 1u : 0u;
			for (uint32_t i = 0; i < PX_REPLICAS_MAX; i++) {
				if (i != r->cfg.self && is_voter(r, i))
					heard += r->peers[i].heard;
				r->peers[i].heard = 0;
			}
			if (heard < r->quorum) {
				r->ctr.stepdowns_check_quorum++;
				r->leader = PX_NODE_NONE;
				pxr_become_follower(r, out);
			}
		}
		break;
	case PX_CANDIDATE:
		if (++r->election_elapsed >= r->election_timeout) {
			pxr_start_prevote(r, out);
		} else if (r->election_elapsed % r->cfg.heartbeat_ticks == 0) {
			/* Ask again for promises that have not completed (lost messages). */
			for (uint32_t i = 0; i < PX_REPLICAS_MAX; i++) {
				if (i != r->cfg.self && is_voter(r, i) && !r->peers[i].promise_done)
					pxr_send_prepare(r, (uint8_t)i, r->peers[i].promise_next,
							 out);
			}
		}
		break;
	case PX_FOLLOWER:
	case PX_PRECANDIDATE: {
		/* The failure detector runs in every follower: its score also decides
		 * whether this replica grants others' pre-votes (leader_alive). */
		bool suspected_now = fd_tick(r);
		/* A replica that cannot rebuild its state cannot lead: it only votes. */
		if (r->state_transfer || !may_campaign(r)) {
			if (r->role == PX_PRECANDIDATE)
				pxr_become_follower(r, out);
			break;
		}
		if (r->role == PX_FOLLOWER) {
			if (suspected_now) {
				/* Campaign after a jitter below one heartbeat interval, so
				 * that followers that suspect together do not duel. */
				r->election_elapsed = 0;
				r->election_timeout = (uint32_t)(rng_next(r) %
								 r->cfg.heartbeat_ticks);
			}
			if (!r->fd_suspect || r->election_elapsed++ < r->election_timeout)
				break;
			r->leader = PX_NODE_NONE;
		} else if (++r->election_elapsed < r->election_timeout) {
			break;
		}
		/* Suspected (a follower), or a pre-vote that did not win in time: pre-vote
		 * (again); pxr_start_prevote times the retry, [e, 2e). */
		pxr_start_prevote(r, out);
		if (r->quorum == 1)
			pxr_start_candidacy(r, false, out);
		break;
	}
	}
	check_after_step(r);
}

void px_persisted(struct px_replica *r, uint64_t seq, struct px_out *out)
{
	if (memory_mode(r) || !r->persist_inflight || seq != r->persist_seq)
		return;
	r->persist_inflight = 0;
	/* An ack captured under an older promise says nothing about the current one. */
	/* Nor one above what the replica acknowledges now: a re-announcement lowered its
	 * ack to the commit point while this request was in flight (the promise unchanged
	 * until the pages raise it), and the slots above may go to another ballot. */
	uint64_t acked = r->inflight_ack_hi < r->ack_hi ? r->inflight_ack_hi : r->ack_hi;
	if (r->inflight_promised == r->promised && acked > r->durable_ack_hi) {
		r->durable_ack_hi = acked;
		r->ack_pending = 1; /* the leader learns the new durable ack */
	}
	if (r->inflight_promised > r->durable_promised)
		r->durable_promised = r->inflight_promised;
	if (r->inflight_inc_gen > r->durable_inc_gen)
		r->durable_inc_gen = r->inflight_inc_gen;
	if (r->role == PX_CANDIDATE && promise_durable(r)) {
		r->peers[r->cfg.self].promise_done = 1;
		pxr_candidate_check_quorum(r, out);
	}
	if (promise_durable(r)) {
		for (uint32_t i = 0; i < PX_REPLICAS_MAX; i++) {
			if (r->promise_pending[i] == 0)
				continue;
			uint64_t from = r->promise_pending[i];
			r->promise_pending[i] = 0;
			pxr_send_promise_page(r, (uint8_t)i, from, PX_MSG_PROMISE, 0, out);
		}
	}
	if (r->role == PX_LEADER)
		pxr_leader_update_commit(r, out);
	else if (r->ack_pending && r->leader != PX_NODE_NONE)
		pxr_send_accepted(r, r->leader, out);
	pxr_persist_kick(r, out);
	check_after_step(r);
}

void px_applied(struct px_replica *r, uint64_t slot)
{
	PX_ASSERT(slot <= r->apply_sent);
	if (slot > r->applied)
		r->applied = slot;
}
