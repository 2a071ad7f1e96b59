/* SPDX-License-Identifier: Apache-2.0
 * Memory-mode recovery (px_replica_pvt.h lists the other parts): a replica restarted
 * without stable storage rejoins through crash vectors (E. Michael, D. Ports, N. Sharma,
 * A. Szekeres, "Recovering Shared Objects Without Stable Storage", DISC 2017) and a
 * phase-1 style read of f + 1 others' logs; a replica that learns of a newer incarnation
 * of itself announces it (pxr_start_reannounce). pxr_merge_incarnations is the crash
 * vector merge px_step runs on every peer message it accepts. See docs/consistency.md.
 */
#include <stddef.h>

#include "px.h"
#include "px_replica_pvt.h"

/* ---- Memory-mode recovery (DISC 2017 crash vectors + a phase-1 style read) ----
 * Round 1: ask f+1 others for the newest incarnation of ours they know; ours becomes
 * max + 1. Round 2: announce it (each responder records it before answering, so any
 * later message of theirs fences our pre-crash messages) and read their promised
 * ballots and logs. We adopt the highest promise and the highest-ballot value per slot
 * (as a new leader would), then rejoin as a follower. See docs/consistency.md. */

void pxr_recover_broadcast(struct px_replica *r, struct px_out *out)
{
	r->recover_elapsed = 0;
	for (uint32_t i = 0; i < PX_REPLICAS_MAX; i++) {
		if (i == r->cfg.self || !is_voter(r, i) || !out_room(out, 1))
			continue;
		struct px_peer *p = &r->peers[i];
		if (r->recover_round == 1 && p->recover_r1)
			continue;
		if (r->recover_round == 2 && p->recover_done)
			continue;
		struct px_msg *m = pxr_msg_new(r, out, PX_MSG_RECOVER, (uint8_t)i);
		m->nonce = r->cfg.boot_nonce;
		if (r->recover_round == 2) {
			m->flags |= PX_MF_ANNOUNCE;
			m->slot_lo = p->recover_next;
		}
	}
}

void pxr_start_recovery(struct px_replica *r)
{
	r->role = PX_RECOVERING;
	r->recover_round = 1;
	for (uint32_t i = 0; i < PX_REPLICAS_MAX; i++) {
		r->peers[i].recover_r1 = 0;
		r->peers[i].recover_done = 0;
		r->peers[i].recover_next = 1;
	}
	/* The first tick sends round 1. */
	r->recover_elapsed = r->cfg.heartbeat_ticks;
}

/*
 * A replica in normal status learned a newer incarnation of itself (pxr_merge_incarnations):
 * it takes the number and runs round 2 of the recovery with it, its memory intact, so
 * that f + 1 replicas record the number before it votes again; its votes carry the
 * number from then on, and a later life must pick a higher one (docs/consistency.md).
 * Pages are asked from the commit point on: below it everything is chosen and held.
 */
void pxr_start_reannounce(struct px_replica *r, struct px_out *out)
{
	r->ctr.incarnation_adopted++;
	r->reannouncing = 1;
	r->read_inflight = 0;
	r->transfer_target = PX_NODE_NONE;
	if (r->leader == r->cfg.self)
		r->leader = PX_NODE_NONE;
	pxr_set_role(r, PX_RECOVERING, out);
	r->recover_round = 2;
	/* No vote is reported while recovering; the promise may rise with the pages. In
	 * durable mode the ack reported is the durable one: it goes back too, or a vote
	 * made durable under the old promise would be reported under the new one (the
	 * pages may raise the promise without pxr_reset_ack). */
	r->ack_hi = r->commit;
	if (r->durable_ack_hi > r->commit)
		r->durable_ack_hi = r->commit;
	for (uint32_t i = 0; i < PX_REPLICAS_MAX; i++) {
		r->peers[i].recover_r1 = 1;
		r->peers[i].recover_done = 0;
		r->peers[i].recover_next = r->commit + 1;
	}
	pxr_recover_broadcast(r, out);
}

static uint32_t count_flags(const struct px_replica *r, size_t off)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < PX_REPLICAS_MAX; i++)
		n += is_voter(r, i) && i != r->cfg.self ? *((const uint8_t *)&r->peers[i] + off)
							 : 0u;
	return n;
}

void pxr_on_recover(struct px_replica *r, const struct px_msg *m, struct px_out *out)
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
		struct px_msg *x = pxr_msg_new(r, out, PX_MSG_RECOVER_REPLY, m->from);
		x->nonce = m->nonce;
		x->flags |= PX_MF_NORMAL;
		x->slot_lo = 0; /* round 1: no log */
		return;
	}
	/* Round 2: the crash vector was merged before this handler (see px_step). The
	 * answer fences the requester's earlier life from then on in every message we
	 * send, also after a restart of ours: in durable mode it waits until the vector
	 * is in our journal (docs/consistency.md, "Repair of a damaged journal"). */
	if (!promise_durable(r) || !inc_durable(r)) {
		pxr_persist_kick(r, out);
		return; /* asked again on its next broadcast */
	}
	pxr_send_promise_page(r, m->from, m->slot_lo, PX_MSG_RECOVER_REPLY, m->nonce, out);
	out->msgs[out->n_msgs - 1].flags |= PX_MF_NORMAL | PX_MF_ANNOUNCE;
	if (r->role == PX_LEADER)
		out->msgs[out->n_msgs - 1].flags |= PX_MF_LEADER;
}

static void finish_recovery(struct px_replica *r, struct px_out *out)
{
	r->recover_round = 0;
	r->reannouncing = 0;
	r->ctr.recoveries_completed++;
	/* f + 1 replicas recorded our number: a durable replica keeps it (and writes its
	 * first records since a repair began: below, pxr_persist_kick). */
	r->inc_done = r->inc[r->cfg.self];
	inc_changed(r);
	r->ballot = r->promised;
	/* Contiguous chosen prefix from the merged log. */
	pxr_advance_commit(r, out);
	r->ack_hi = r->commit;
	pxr_advance_ack(r);
	pxr_become_follower(r, out);
	pxr_persist_kick(r, out);
}

void pxr_on_recover_reply(struct px_replica *r, const struct px_msg *m, struct px_out *out)
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
			pxr_recover_broadcast(r, out);
		}
		return;
	}
	if (!(m->flags & PX_MF_ANNOUNCE) || p->recover_done ||
	    m->incarnation[r->cfg.self] != r->inc[r->cfg.self])
		return;
	if (m->slot_lo > p->recover_next)
		return; /* lost page; asked again */
	/* Slots the responder committed but no longer holds are not in its page: they lie
	 * below its window (a durable replica restarted from a snapshot holds only the
	 * slots above it; a window moved on). They are chosen, and only a snapshot can
	 * bring them: without one we would hold a hole there that a leadership of ours
	 * would fill with no-ops (pw-sim seed 4529). Chosen slots in its window are in the
	 * page (flagged), so the omitted ones are those below its first entry. */
	uint64_t first = m->n_entries > 0 ? m->entries[0].slot : m->slot_hi;
	uint64_t omitted = first - 1u < m->commit ? first - 1u : m->commit;
	if (first > 0 && omitted >= m->slot_lo && omitted > r->commit) {
		if (!r->state_transfer)
			r->ctr.state_transfer_needed++;
		r->state_transfer = 1;
		if (omitted > r->st_need)
			r->st_need = omitted;
		out->state_transfer_needed = true;
	}
	for (uint32_t i = 0; i < m->n_entries; i++) {
		if (pxr_merge_entry(r, &m->entries[i]))
			continue;
		/* The cluster moved on past our window from slot 1: we will need state
		 * transfer. Slots we skip are below a responder's window, hence chosen:
		 * no vote of ours there matters. */
		if (!r->state_transfer)
			r->ctr.state_transfer_needed++;
		r->state_transfer = 1;
		out->state_transfer_needed = true;
		bool ok = pxr_window_make_room(r, m->entries[i].slot);
		PX_ASSERT(ok);
		ok = pxr_merge_entry(r, &m->entries[i]);
		PX_ASSERT(ok);
	}
	/* No ack is held while recovering (ack_hi == commit), so the promise may rise. */
	if (m->ballot > r->promised)
		pxr_set_promised(r, m->ballot);
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
		struct px_msg *x = pxr_msg_new(r, out, PX_MSG_RECOVER, m->from);
		x->nonce = r->cfg.boot_nonce;
		x->flags |= PX_MF_ANNOUNCE;
		x->slot_lo = p->recover_next;
	}
}

/**
 * Crash vector merge (DISC 2017): learn newer incarnations; forget what we collected
 * from the older ones. Returns true if a replica in normal status learned a newer
 * incarnation of itself, which it must now announce (pxr_start_reannounce).
 */
bool pxr_merge_incarnations(struct px_replica *r, const struct px_msg *m)
{
	uint32_t n = m->n_inc < PX_REPLICAS_MAX ? m->n_inc : PX_REPLICAS_MAX;
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
				for (uint32_t i = 0; i < PX_REPLICAS_MAX; i++)
					r->peers[i].recover_done = 0;
			continue;
		}
		inc_changed(r);
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
