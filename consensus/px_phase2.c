/* SPDX-License-Identifier: Apache-2.0
 * Replication under an established leader (px_replica_pvt.h lists the other parts):
 * proposals (px_propose: client commands batched into slots), phase 2, ACCEPT/ACCEPTED
 * (L. Lamport, "Paxos Made Simple" (2001); one ballot for every slot of a leadership, as
 * in "Paxos Made Moderately Complex" (2015), section 3), catch-up of slow or restarted
 * followers on heartbeats, and STATE_NEEDED, for a peer that needs slots no longer held
 * (docs/consistency.md). The commit rule is in px_log.c; the read rounds that ride on
 * ACCEPT and ACCEPTED are in px_read.c.
 */
#include <errno.h>
#include <string.h>

#include "px.h"
#include "px_batch.h"
#include "px_replica_pvt.h"

/* ---- Phase 2 ---- */

/** Broadcasts slots [lo, hi] in as few ACCEPT messages as fit the output. Returns the
 *  first slot not sent. */
uint64_t pxr_broadcast_accepts(struct px_replica *r, uint64_t lo, uint64_t hi,
			       struct px_out *out)
{
	uint64_t s = lo;
	while (s <= hi && out_room(out, 1)) {
		struct px_msg *m = pxr_msg_new(r, out, PX_MSG_ACCEPT, PX_NODE_NONE);
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

/** Re-proposes, at our ballot, the value phase 1 left in e (a hole: a no-op). */
void pxr_repropose(struct px_replica *r, struct px_slot *e)
{
	uint32_t base;
	struct px_members m;

	if (e->len == 0 || BUG(r, PX_BUG_SKIP_RECOVERY))
		e->len = px_batch_noop(e->value);
	e->vballot = r->ballot;
	pxr_mark_dirty(r, e->slot);
	if (px_conf_parse(e->value, e->len, &base, &m, NULL) &&
	    e->slot + r->ms.alpha - 1 > r->pad_to)
		r->pad_to = e->slot + r->ms.alpha - 1;
}

/** The slot after the last a leader may propose now (px_replica_pvt.h, leader_bound). */
static uint64_t propose_end(const struct px_replica *r)
{
	if (BUG(r, PX_BUG_CONF_NO_ALPHA))
		return r->commit + r->cfg.pipeline_slots + 1;
	return leader_bound(r) + 1;
}

/**
 * Leader, after its commit point moved and on heartbeats: re-proposes the slots phase 1
 * recovered past its bound then, as the bound moves, and fills a configuration entry's
 * alpha window with no-ops (pad_to) so that the change takes effect without client load.
 */
void pxr_leader_continue(struct px_replica *r, struct px_out *out)
{
	if (r->role != PX_LEADER)
		return;
	uint64_t first = r->next_slot;
	uint64_t end = propose_end(r);
	while (r->next_slot < end && r->next_slot <= r->lead_hi) {
		struct px_slot *e = pxr_slot_claim(r, r->next_slot);
		PX_ASSERT(e != NULL);
		if (!e->chosen)
			pxr_repropose(r, e);
		r->next_slot++;
	}
	if (r->next_slot > r->lead_hi && r->transfer_target == PX_NODE_NONE) {
		while (r->next_slot < end && r->next_slot <= r->pad_to) {
			struct px_slot *e = pxr_slot_claim(r, r->next_slot);
			if (e == NULL)
				break;
			e->len = px_batch_noop(e->value);
			e->vballot = r->ballot;
			e->chosen = 0;
			r->last = r->next_slot;
			r->ctr.proposals++;
			pxr_mark_dirty(r, r->next_slot);
			r->next_slot++;
		}
	}
	if (r->next_slot == first)
		return;
	pxr_advance_ack(r);
	pxr_persist_kick(r, out);
	if (r->quorum > 1)
		pxr_broadcast_accepts(r, first, r->next_slot - 1, out);
	pxr_leader_update_commit(r, out);
}

uint32_t px_propose(struct px_replica *r, const struct px_cmd_ref *cmds, uint32_t n,
		    struct px_out *out)
{
	if (r->role != PX_LEADER || r->transfer_target != PX_NODE_NONE ||
	    r->next_slot <= r->lead_hi)
		return 0;
	uint32_t taken = 0;
	uint64_t first = r->next_slot;
	uint64_t end = propose_end(r);
	while (taken < n) {
		uint64_t s = r->next_slot;
		if (s >= end)
			break;
		struct px_slot *e = pxr_slot_claim(r, s);
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
		pxr_mark_dirty(r, s);
	}
	if (r->next_slot > first) {
		pxr_advance_ack(r);
		pxr_persist_kick(r, out);
		if (r->quorum > 1)
			pxr_broadcast_accepts(r, first, r->next_slot - 1, out);
		pxr_leader_update_commit(r, out);
	}
	return taken;
}

void pxr_on_accept(struct px_replica *r, const struct px_msg *m, struct px_out *out)
{
	if (m->ballot < r->promised && !BUG(r, PX_BUG_ACCEPT_LOWER)) {
		r->ctr.drops[PX_DROP_STALE_BALLOT]++;
		out->dropped++;
		pxr_send_nack(r, m->from, out);
		return;
	}
	if (m->ballot > r->promised)
		pxr_adopt_ballot(r, m->ballot, out);
	if (r->role == PX_LEADER && m->ballot == r->ballot) {
		/* Two leaders at one ballot cannot exist: the node id is in the ballot. */
		r->ctr.drops[PX_DROP_BAD_FIELD]++;
		out->dropped++;
		return;
	}
	if (r->role != PX_FOLLOWER)
		pxr_become_follower(r, out);
	r->leader = m->from;
	/* Progress from the leader, for the failure detector: an ACCEPT with entries or
	 * the empty one its consensus loop sends each heartbeat interval. */
	r->fd_heard = 1;
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
		struct px_slot *e = pxr_slot_claim(r, x->slot);
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
			pxr_slot_set(e, x->vballot, x->value, x->len);
			e->chosen = 1;
		} else if (e->vballot != m->ballot || e->len == 0) {
			pxr_slot_set(e, m->ballot, x->value, x->len);
		} else {
			continue; /* duplicate */
		}
		pxr_mark_dirty(r, x->slot);
		if (x->slot > r->last)
			r->last = x->slot;
	}
	if (m->ballot > r->hint_ballot) {
		r->hint_ballot = m->ballot;
		r->hint = m->commit;
	} else if (m->ballot == r->hint_ballot && m->commit > r->hint) {
		r->hint = m->commit;
	}
	pxr_advance_commit(r, out);
	pxr_advance_ack(r);
	pxr_persist_kick(r, out);
	pxr_send_accepted(r, m->from, out);
}

void pxr_on_accepted(struct px_replica *r, const struct px_msg *m, struct px_out *out)
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
	pxr_leader_update_commit(r, out);
	/* An echo of a round we never started is impossible from a correct peer: ignored. */
	if (m->read_round > p->read_ack && m->read_round <= r->read_round) {
		p->read_ack = m->read_round;
		pxr_read_check_round(r, out);
	}
	if (r->transfer_target == m->from)
		pxr_maybe_transfer(r, out);
}

/* ---- Catch-up and heartbeats ---- */

static void send_catchup(struct px_replica *r, uint8_t to, struct px_out *out)
{
	struct px_peer *p = &r->peers[to];
	/* What we proposed: slots phase 1 recovered past our bound are not ours yet. */
	uint64_t hi = r->next_slot - 1;
	uint64_t s = p->ack_hi + 1 + (BUG(r, PX_BUG_CATCHUP_SKIP) ? 1u : 0u);
	if (s < r->base) {
		if (out_room(out, 1)) {
			struct px_msg *m = pxr_msg_new(r, out, PX_MSG_STATE_NEEDED, to);
			m->slot_lo = r->base;
			if (!p->state_needed)
				r->ctr.state_transfer_needed++;
			p->state_needed = 1;
		}
		return;
	}
	if (!out_room(out, 1))
		return;
	struct px_msg *m = pxr_msg_new(r, out, PX_MSG_ACCEPT, to);
	m->ballot = r->ballot;
	uint32_t bytes = MSG_WIRE_OVERHEAD;
	uint32_t k = 0;
	for (; s <= hi && k < PX_CATCHUP_SLOTS_MAX; s++, k++) {
		struct px_slot *e = slot_get(r, s);
		PX_ASSERT(e != NULL);
		if (!msg_entry_fits(m, &bytes, e->len))
			break;
		msg_add_entry(m, e, e->chosen != 0);
	}
	r->ctr.catchup_entries_sent += m->n_entries;
}

void pxr_leader_heartbeat(struct px_replica *r, struct px_out *out)
{
	if (r->quorum == 1)
		return;
	for (uint32_t i = 0; i < PX_REPLICAS_MAX; i++) {
		if (i == r->cfg.self || !((recipients(r) >> i) & 1u))
			continue;
		struct px_peer *p = &r->peers[i];
		/* Re-send what a follower has not acknowledged for a whole heartbeat period
		 * (lost ACCEPTs, a restarted or partitioned follower). Followers that never
		 * answered get heartbeats only: their position is unknown. */
		bool stalled = p->replied && p->ack_hi < r->next_slot - 1 &&
			       p->ack_hi == p->ack_at_hb;
		if (stalled)
			send_catchup(r, (uint8_t)i, out);
		p->ack_at_hb = p->ack_hi;
	}
	/* Tickets still waiting start their round here at the latest; a round in flight
	 * is re-sent by this heartbeat (lost messages). */
	pxr_read_kick(r, out, false);
	if (out_room(out, 1)) {
		struct px_msg *m = pxr_msg_new(r, out, PX_MSG_ACCEPT, PX_NODE_NONE);
		m->ballot = r->ballot;
	}
}

/*
 * STATE_NEEDED comes from an acceptor answering our PREPARE (it applied and dropped
 * slots our phase 1 must cover: we cannot lead), or from the leader we follow (we need
 * slots it no longer holds). Only the second sets state transfer, and only when it is
 * true now: a delayed or duplicated one, or one sent on a reordered old ack, must not
 * stop a replica that holds every slot it needs, and nothing may stop a leader.
 */
void pxr_on_state_needed(struct px_replica *r, const struct px_msg *m, struct px_out *out)
{
	if (BUG(r, PX_BUG_STATE_NEEDED_ANY) && m->slot_lo > r->commit + 1) {
		/* d043dfc's rule: believed from anyone, in any role. */
		if (!r->state_transfer)
			r->ctr.state_transfer_needed++;
		r->state_transfer = 1;
		if (m->slot_lo - 1 > r->st_need)
			r->st_need = m->slot_lo - 1;
		out->state_transfer_needed = true;
		if (r->role == PX_CANDIDATE)
			pxr_become_follower(r, out);
		return;
	}
	if (r->role == PX_CANDIDATE && m->ballot == r->ballot) {
		/* An acceptor of our ballot holds no slot below m->slot_lo, and we lack some:
		 * a candidate whose log is further behind must leave it to another. */
		pxr_become_follower(r, out);
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
	if (m->slot_lo - 1 > r->st_need)
		r->st_need = m->slot_lo - 1;
	out->state_transfer_needed = true;
}

/* ---- Membership changes ---- */

int64_t px_propose_members(struct px_replica *r, const uint8_t body[PX_CONF_BYTES],
			   struct px_out *out)
{
	uint8_t v[PX_BATCH_HDR_BYTES + PX_CMD_HDR_BYTES + PX_CONF_BYTES];
	struct px_cmd_ref c = { .client_id = 0, .seq = 0, .len = PX_CONF_BYTES, .body = body };
	uint32_t base, len;
	struct px_members m;

	if (memory_mode(r))
		return -ENOTSUP;
	len = px_batch_begin(v, sizeof(v));
	len = px_batch_add(v, len, sizeof(v), &c);
	PX_ASSERT(len == sizeof(v));
	if (!px_conf_parse(v, len, &base, &m, NULL) || base != r->ms.cur.epoch ||
	    m.epoch != base + 1 || !px_members_valid(&m) || r->ms.alpha == 0)
		return -EINVAL;
	if (r->role != PX_LEADER || r->transfer_target != PX_NODE_NONE || r->ms.next_eff != 0 ||
	    r->next_slot <= r->lead_hi || r->next_slot >= propose_end(r) ||
	    r->cfg.slot_bytes < len)
		return -EAGAIN;
	/* One change at a time: none proposed and not yet chosen (ours, or one phase 1
	 * recovered). Bounded: the proposals past the commit point, at most alpha. */
	for (uint64_t s = r->commit + 1; s < r->next_slot; s++) {
		struct px_slot *e = slot_get(r, s);
		if (e != NULL && px_conf_parse(e->value, e->len, &base, &m, NULL))
			return -EAGAIN;
	}
	uint64_t s = r->next_slot;
	struct px_slot *e = pxr_slot_claim(r, s);
	if (e == NULL)
		return -EAGAIN;
	memcpy(e->value, v, len);
	e->len = len;
	e->vballot = r->ballot;
	e->chosen = 0;
	r->next_slot = s + 1;
	r->last = s;
	r->pad_to = s + r->ms.alpha - 1;
	r->ctr.proposals++;
	r->ctr.conf_proposed++;
	pxr_mark_dirty(r, s);
	pxr_advance_ack(r);
	pxr_persist_kick(r, out);
	if (r->quorum > 1)
		pxr_broadcast_accepts(r, s, s, out);
	pxr_leader_update_commit(r, out);
	pxr_leader_continue(r, out);
	return (int64_t)s;
}
