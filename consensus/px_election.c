/* SPDX-License-Identifier: Apache-2.0
 * Winning and handing over leadership (px_replica_pvt.h lists the other parts):
 *  - pre-vote: D. Ongaro, "Consensus: Bridging Theory and Practice" (2014), 9.6;
 *  - phase 1, PREPARE/PROMISE (L. Lamport, "Paxos Made Simple" (2001)), run once per
 *    leadership over every slot from the candidate's commit point on, in pages, and
 *    the new leader's merge: the highest-ballot value of every slot, holes filled with
 *    no-ops (R. van Renesse, D. Altinbuken, "Paxos Made Moderately Complex" (2015),
 *    section 3); a PREPARE is ignored while a leader is heard from (Ongaro 4.2.3);
 *  - NACK: a higher ballot seen ends a leadership or a candidacy;
 *  - leadership transfer, TIMEOUT_NOW (Ongaro 3.10).
 * pxr_merge_entry and pxr_send_promise_page serve memory-mode recovery too
 * (px_recovery.c).
 */
#include <errno.h>

#include "px.h"
#include "px_batch.h"
#include "px_replica_pvt.h"

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

void pxr_start_prevote(struct px_replica *r, struct px_out *out)
{
	uint64_t round = next_round(r);
	pxr_reset_election_timer(r);
	if (round == 0) {
		if (r->role != PX_FOLLOWER)
			pxr_become_follower(r, out);
		return;
	}
	if (!may_campaign(r) || r->state_transfer) {
		/* A learner, a removed member or a joiner never campaigns. */
		if (r->role != PX_FOLLOWER)
			pxr_become_follower(r, out);
		return;
	}
	pxr_set_role(r, PX_PRECANDIDATE, out);
	r->ctr.prevotes_started++;
	for (uint32_t i = 0; i < PX_REPLICAS_MAX; i++)
		r->peers[i].prevote = 0;
	r->peers[r->cfg.self].prevote = 1;
	r->prevote_ballot = px_ballot_make(round, r->cfg.self);
	if (r->quorum == 1) {
		/* Unreplicated baseline: a quorum of one. */
		return;
	}
	if (!out_room(out, 1))
		return;
	struct px_msg *m = pxr_msg_new(r, out, PX_MSG_PREVOTE, PX_NODE_NONE);
	m->ballot = r->prevote_ballot;
	m->slot_lo = r->commit + 1;
}

/** We lead, or follow a leader our failure detector does not doubt: its score is
 *  below the low mark (fewer than half the suspicion mark of missed intervals, net). A
 *  follower that suspects first finds the others at least there when the leader is
 *  gone for all, and at 0 when only its own link failed (pre-vote's purpose). */
static bool leader_alive(const struct px_replica *r)
{
	return r->role == PX_LEADER ||
	       (r->leader != PX_NODE_NONE && r->fd_score < pxr_fd_lo(r));
}

void pxr_on_prevote(struct px_replica *r, const struct px_msg *m, struct px_out *out)
{
	/* Grant only if we have not heard from a leader for a full minimum timeout, the
	 * candidate's ballot would beat our promise, and its log is not so far behind that
	 * it could not hold ours. */
	bool grant = !leader_alive(r) && m->ballot > r->promised && m->slot_lo >= r->base &&
		     m->commit + r->cfg.window_slots / 2 >= r->commit &&
		     r->role != PX_RECOVERING;
	if (!out_room(out, 1))
		return;
	/* The header's ballot is our promise (pxr_msg_new), so a refused precandidate learns
	 * the round to beat; slot_lo names the PREVOTE answered. */
	struct px_msg *x = pxr_msg_new(r, out, PX_MSG_PREVOTE_REPLY, m->from);
	x->slot_lo = m->ballot;
	if (grant)
		x->flags |= PX_MF_GRANT;
}

void pxr_on_prevote_reply(struct px_replica *r, const struct px_msg *m, struct px_out *out)
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
	for (uint32_t i = 0; i < PX_REPLICAS_MAX; i++)
		n += is_voter(r, i) ? r->peers[i].prevote : 0u;
	if (n >= r->quorum)
		pxr_start_candidacy(r, false, out);
}

/* ---- Phase 1 ---- */

void pxr_send_prepare(struct px_replica *r, uint8_t to, uint64_t from, struct px_out *out)
{
	if (!out_room(out, 1))
		return;
	struct px_msg *m = pxr_msg_new(r, out, PX_MSG_PREPARE, to);
	m->ballot = r->ballot;
	m->slot_lo = from;
}

static void become_leader(struct px_replica *r, struct px_out *out);

void pxr_candidate_check_quorum(struct px_replica *r, struct px_out *out)
{
	if (r->role != PX_CANDIDATE)
		return;
	uint32_t n = 0;
	for (uint32_t i = 0; i < PX_REPLICAS_MAX; i++)
		n += is_voter(r, i) ? r->peers[i].promise_done : 0u;
	if (n >= r->quorum)
		become_leader(r, out);
}

void pxr_start_candidacy(struct px_replica *r, bool forced, struct px_out *out)
{
	uint64_t round = next_round(r);
	if (round == 0 || !may_campaign(r))
		return;
	uint64_t b = px_ballot_make(round, r->cfg.self);
	/* A leader that runs phase 1 again (a configuration took effect) abandons its
	 * read round: its tickets fail with the role change (px.h, step 5). */
	r->read_inflight = 0;
	pxr_set_role(r, PX_CANDIDATE, out);
	r->ctr.elections_started++;
	pxr_set_promised(r, b);
	r->ballot = b;
	r->leader = PX_NODE_NONE;
	pxr_reset_ack(r);
	r->p1_from = r->commit + 1;
	pxr_reset_election_timer(r);
	for (uint32_t i = 0; i < PX_REPLICAS_MAX; i++) {
		r->peers[i].promise_done = 0;
		r->peers[i].promise_next = r->p1_from;
	}
	/* Our own promise counts once it is durable (at once in memory mode). */
	r->peers[r->cfg.self].promise_done = promise_durable(r) ? 1 : 0;
	struct px_msg *m = NULL;
	if (out_room(out, 1) && r->quorum > 1) {
		m = pxr_msg_new(r, out, PX_MSG_PREPARE, PX_NODE_NONE);
		m->ballot = b;
		m->slot_lo = r->p1_from;
		if (forced)
			m->flags |= PX_MF_FORCE;
	}
	pxr_persist_kick(r, out);
	pxr_candidate_check_quorum(r, out);
}

/** Merges one reported entry into our log (phase 1 or recovery): keep the value with
 *  the highest ballot; a chosen value wins and is final. false: cannot hold it. */
bool pxr_merge_entry(struct px_replica *r, const struct px_entry *x)
{
	if (x->slot < r->base)
		return true; /* chosen and applied here already */
	struct px_slot *e = pxr_slot_claim(r, x->slot);
	if (e == NULL)
		return false;
	if (e->chosen)
		return true;
	if (x->flags & PX_EF_CHOSEN) {
		pxr_slot_set(e, x->vballot, x->value, x->len);
		e->chosen = 1;
	} else if (x->vballot > e->vballot ||
		   (BUG(r, PX_BUG_MERGE_ANY) && x->vballot != e->vballot)) {
		pxr_slot_set(e, x->vballot, x->value, x->len);
	} else {
		return true;
	}
	pxr_mark_dirty(r, x->slot);
	if (x->slot > r->last)
		r->last = x->slot;
	return true;
}

void pxr_send_promise_page(struct px_replica *r, uint8_t to, uint64_t from, uint8_t type,
			   uint64_t nonce, struct px_out *out)
{
	if (!out_room(out, 1))
		return;
	struct px_msg *m = pxr_msg_new(r, out, type, to);
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

void pxr_on_prepare(struct px_replica *r, const struct px_msg *m, struct px_out *out)
{
	if (m->ballot < r->promised) {
		r->ctr.drops[PX_DROP_STALE_BALLOT]++;
		out->dropped++;
		pxr_send_nack(r, m->from, out);
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
		pxr_adopt_ballot(r, m->ballot, out);
		pxr_reset_election_timer(r);
	}
	/* Slots we know chosen but do not hold (a recovery learned that a responder
	 * applied them: px_recovery.c) are as gone as those below our window. */
	uint64_t gone_below = r->base;
	if (r->state_transfer && r->st_need + 1u > gone_below)
		gone_below = r->st_need + 1u;
	if (m->slot_lo < gone_below) {
		/* We applied and dropped slots the candidate lacks, or know them chosen and
		 * cannot report them: it cannot lead. */
		if (out_room(out, 1)) {
			struct px_msg *x = pxr_msg_new(r, out, PX_MSG_STATE_NEEDED, m->from);
			x->slot_lo = gone_below;
		}
		pxr_persist_kick(r, out);
		return;
	}
	if (!promise_durable(r)) {
		r->promise_pending[m->from] = m->slot_lo;
		pxr_persist_kick(r, out);
		return;
	}
	pxr_send_promise_page(r, m->from, m->slot_lo, PX_MSG_PROMISE, 0, out);
}

void pxr_on_promise(struct px_replica *r, const struct px_msg *m, struct px_out *out)
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
		if (!pxr_merge_entry(r, &m->entries[i])) {
			/* The acceptor holds slots beyond our window: we are too far behind
			 * to lead. Let a more current replica win. */
			r->ctr.drops[PX_DROP_OUT_OF_WINDOW]++;
			pxr_become_follower(r, out);
			return;
		}
	}
	bool advanced = m->slot_hi > p->promise_next;
	if (advanced)
		p->promise_next = m->slot_hi;
	if (m->flags & PX_MF_LAST) {
		p->promise_done = 1;
		pxr_candidate_check_quorum(r, out);
	} else if (advanced) {
		/* Ask for the next page only when this one was new: a duplicated page must
		 * not multiply the requests (the heartbeat-period re-send covers losses). */
		pxr_send_prepare(r, m->from, p->promise_next, out);
	}
}

static void become_leader(struct px_replica *r, struct px_out *out)
{
	pxr_set_role(r, PX_LEADER, out);
	r->ctr.leaderships_won++;
	r->leader = r->cfg.self;
	r->heartbeat_elapsed = 0;
	r->quorum_elapsed = 0;
	r->transfer_target = PX_NODE_NONE;
	/* Re-propose, at our ballot, the highest-ballot value of every unchosen slot the
	 * promise quorum reported; fill holes with no-ops (PMMC, section 3). Only up to
	 * the leader's bound (alpha past the commit point, short of a pending
	 * configuration): the rest as the commit point moves (pxr_leader_continue). */
	uint64_t hi = r->last;
	uint64_t top = leader_bound(r);
	if (top > hi || BUG(r, PX_BUG_CONF_NO_ALPHA))
		top = hi;
	r->pad_to = 0;
	for (uint64_t s = r->p1_from; s <= top; s++) {
		struct px_slot *e = pxr_slot_claim(r, s);
		PX_ASSERT(e != NULL);
		if (e->chosen)
			continue;
		pxr_repropose(r, e);
	}
	r->next_slot = (top >= r->p1_from ? top : r->p1_from - 1) + 1;
	r->lead_hi = hi;
	/* Tickets of an earlier leadership are abandoned: none is outstanding now. */
	r->read_inflight = 0;
	r->read_round_ticket = r->read_ticket;
	for (uint32_t i = 0; i < PX_REPLICAS_MAX; i++) {
		r->peers[i].ack_hi = 0;
		r->peers[i].ack_at_hb = 0;
		r->peers[i].heard = 1;
		r->peers[i].state_needed = 0;
		r->peers[i].replied = 0;
		r->peers[i].read_ack = 0;
	}
	pxr_advance_ack(r);
	PX_ASSERT(r->ack_hi >= r->next_slot - 1);
	pxr_persist_kick(r, out);
	if (r->p1_from < r->next_slot && r->quorum > 1)
		pxr_broadcast_accepts(r, r->p1_from, r->next_slot - 1, out);
	/* The rest (if the output filled) goes out as catch-up on heartbeats. An empty
	 * ACCEPT announces the leadership at once. */
	if (r->quorum > 1 && out_room(out, 1)) {
		struct px_msg *m = pxr_msg_new(r, out, PX_MSG_ACCEPT, PX_NODE_NONE);
		m->ballot = r->ballot;
	}
	pxr_leader_update_commit(r, out);
}

void pxr_on_nack(struct px_replica *r, const struct px_msg *m, struct px_out *out)
{
	note_ballot(r, m->ballot);
	if ((r->role == PX_LEADER || r->role == PX_CANDIDATE) && m->ballot > r->ballot)
		pxr_become_follower(r, out);
}

/* ---- Leadership transfer (Ongaro 3.10) ---- */

void pxr_maybe_transfer(struct px_replica *r, struct px_out *out)
{
	uint8_t t = r->transfer_target;
	if (t == PX_NODE_NONE || r->peers[t].ack_hi < r->next_slot - 1 || !out_room(out, 1))
		return;
	struct px_msg *m = pxr_msg_new(r, out, PX_MSG_TIMEOUT_NOW, t);
	m->ballot = r->ballot;
}

int px_transfer_leadership(struct px_replica *r, uint8_t target, struct px_out *out)
{
	if (!is_voter(r, target) || target == r->cfg.self)
		return -EINVAL;
	if (r->role != PX_LEADER)
		return -EAGAIN;
	r->transfer_target = target;
	r->transfer_elapsed = 0;
	r->ctr.transfers++;
	pxr_maybe_transfer(r, out);
	return 0;
}

void pxr_on_timeout_now(struct px_replica *r, const struct px_msg *m, struct px_out *out)
{
	/* The leader's commit point rides along: a leader that hands over because it is no
	 * voter of the configuration now in force sends it with the commit that put it in
	 * force, so that the target knows itself a voter. */
	if (r->role == PX_FOLLOWER && m->ballot == r->promised && m->ballot == r->hint_ballot &&
	    m->commit > r->hint) {
		r->hint = m->commit;
		pxr_advance_commit(r, out);
		pxr_advance_ack(r);
	}
	if (!may_campaign(r) || r->role != PX_FOLLOWER || m->ballot != r->promised ||
	    px_ballot_node(r->promised) != m->from || r->state_transfer) {
		r->ctr.drops[PX_DROP_WRONG_ROLE]++;
		out->dropped++;
		return;
	}
	pxr_start_candidacy(r, true, out);
}
