/* SPDX-License-Identifier: Apache-2.0
 * The replica's log (px_replica_pvt.h lists the other parts; the log model is in
 * px_replica.c's header): the window of slots, restoring a durable replica from its
 * journal after a restart, durability, and the commit point.
 *
 * Durability: at most one persist request in flight (group commit); what a replica
 * reports in PROMISE and ACCEPTED is only what is on stable storage (STYLE.md section 2).
 * Commit: a leader counts a slot chosen once a majority accepted it at its ballot
 * (Lamport, "Paxos Made Simple" (2001), phase 2); a follower, once the leader of the
 * ballot it accepted the slot at announces a commit point covering it. The contiguous
 * chosen prefix goes to the embedder to apply (px_out.apply_lo/apply_hi).
 */
#include <errno.h>
#include <string.h>

#include "px.h"
#include "px_batch.h"
#include "px_replica_pvt.h"

/* ---------------------------------------------------------------------------------- */
/* The window of slots                                                                 */

/** Empties the window's entries of the slots below new_base (>= base) and moves its
 *  base there. Bounded by the window. */
static void window_drop_below(struct px_replica *r, uint64_t new_base)
{
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
}

/** Makes room for slot s. Only applied slots are dropped. false: s cannot be held. */
bool pxr_window_make_room(struct px_replica *r, uint64_t s)
{
	if (s < r->base)
		return false;
	if (s < r->base + r->cfg.window_slots)
		return true;
	uint64_t new_base = s - r->cfg.window_slots + 1;
	if (new_base > r->applied + 1 && !r->state_transfer)
		return false;
	window_drop_below(r, new_base);
	if (r->commit < new_base - 1) {
		/* Only possible while waiting for state transfer: never applied. */
		PX_ASSERT(r->state_transfer);
	}
	return true;
}

/** The entry for slot s, created empty if needed. NULL if the window cannot hold it. */
struct px_slot *pxr_slot_claim(struct px_replica *r, uint64_t s)
{
	if (!pxr_window_make_room(r, s))
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

void pxr_slot_set(struct px_slot *e, uint64_t vballot, const uint8_t *v, uint32_t len)
{
	if (e->value != v)
		memcpy(e->value, v, len);
	e->len = len;
	e->vballot = vballot;
}

void pxr_mark_dirty(struct px_replica *r, uint64_t s)
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

/* ---------------------------------------------------------------------------------- */
/* Restore after a restart (durable mode)                                              */

int px_restore_promise(struct px_replica *r, uint64_t promised_ballot)
{
	if (r->cfg.durability != PX_DURABLE || r->cfg.restarted)
		return -EINVAL;
	if (promised_ballot > r->promised) {
		r->promised = promised_ballot;
		r->ballot = promised_ballot;
		r->durable_promised = promised_ballot;
		note_ballot(r, promised_ballot);
	}
	return 0;
}

int px_restore_incarnations(struct px_replica *r, const uint32_t *inc, uint32_t n)
{
	if (r->cfg.durability != PX_DURABLE || r->cfg.restarted || n == 0 ||
	    n > PX_REPLICAS_MAX)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++)
		if (inc[i] >= PX_INCARNATION_MAX)
			return -EINVAL;
	memcpy(r->inc, inc, sizeof(uint32_t) * n);
	r->inc_done = r->cfg.self < n ? inc[r->cfg.self] : 0;
	if (n > r->n_ids)
		r->n_ids = (uint8_t)n;
	return 0;
}

/** Every slot <= slot chosen and applied, none held: the window starts after it. */
static void start_after(struct px_replica *r, uint64_t slot)
{
	r->base = slot + 1;
	r->commit = slot;
	r->applied = slot;
	r->apply_sent = slot;
	r->ack_hi = slot;
	r->durable_ack_hi = slot;
	r->commit_recorded = slot;
	r->last = slot;
}

int px_restore_applied(struct px_replica *r, uint64_t slot)
{
	if (r->cfg.durability != PX_DURABLE || r->cfg.restarted || r->last != 0 ||
	    r->applied != 0)
		return -EINVAL;
	start_after(r, slot);
	return 0;
}

int px_start_from(struct px_replica *r, uint64_t slot, struct px_out *out)
{
	/* A replica that never ran: no promise, no vote, nothing applied, normal status. */
	if (slot == 0 || slot > PX_SLOT_MAX || r->last != 0 || r->applied != 0 ||
	    r->promised != 0 || r->role != PX_FOLLOWER || r->state_transfer ||
	    r->cfg.restarted)
		return -EINVAL;
	start_after(r, slot);
	if (!memory_mode(r)) {
		/* Its journal holds nothing yet: the first persist request records the commit
		 * point, so that the journal says where this replica's log starts (a restart
		 * replays from the snapshot the embedder kept, then the journal above it). */
		r->commit_recorded = 0;
		pxr_persist_kick(r, out);
	}
	check_after_step(r);
	return 0;
}

int px_restore_slot(struct px_replica *r, uint64_t slot, uint64_t vballot, const uint8_t *value,
		    uint32_t len)
{
	if (r->cfg.durability != PX_DURABLE || r->cfg.restarted || slot == 0 ||
	    len > r->cfg.slot_bytes || !px_batch_valid(value, len))
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
		pxr_slot_set(h, vballot, value, len);
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
		bool ok = pxr_window_make_room(r, slot);
		PX_ASSERT(ok);
	}
	struct px_slot *e = pxr_slot_claim(r, slot);
	PX_ASSERT(e != NULL);
	if (vballot >= e->vballot) {
		pxr_slot_set(e, vballot, value, len);
		note_ballot(r, vballot);
	}
	if (slot > r->last)
		r->last = slot;
	return 0;
}

/* ---------------------------------------------------------------------------------- */
/* State transfer                                                                      */

static void emit_apply(struct px_replica *r, struct px_out *out);

uint64_t px_state_transfer_need(const struct px_replica *r)
{
	if (!r->state_transfer)
		return 0;
	uint64_t need = r->base - 1 > r->st_need ? r->base - 1 : r->st_need;
	return need > 0 ? need : 1;
}

int px_state_installed(struct px_replica *r, uint64_t slot, struct px_out *out)
{
	if (!r->state_transfer || r->role != PX_FOLLOWER || slot > PX_SLOT_MAX ||
	    slot < px_state_transfer_need(r))
		return -EINVAL;
	/* Every slot <= slot is chosen (a replica applied it) and now applied here: drop
	 * what the window holds of them. need >= base - 1, so base <= slot + 1 and the
	 * slots above slot that the window holds stay where they are. */
	window_drop_below(r, slot + 1);
	if (r->commit < slot)
		r->commit = slot;
	r->applied = slot;
	r->apply_sent = slot;
	if (r->last < slot)
		r->last = slot;
	if (r->ack_hi < slot)
		r->ack_hi = slot;
	/* Chosen slots need no durable vote: the ack may report them at once. */
	if (!memory_mode(r) && r->durable_ack_hi < slot)
		r->durable_ack_hi = slot;
	if (r->dirty_lo <= r->dirty_hi && r->dirty_lo <= slot)
		r->dirty_lo = slot + 1;
	r->state_transfer = 0;
	r->st_need = 0;
	/* The slots held above it may now extend the chosen prefix and the ack. */
	pxr_advance_commit(r, out);
	pxr_advance_ack(r);
	if (BUG(r, PX_BUG_INSTALL_ACK_ALL)) {
		r->ack_hi = r->last;
		if (!memory_mode(r))
			r->durable_ack_hi = r->last;
	}
	emit_apply(r, out);
	pxr_persist_kick(r, out);
	if (r->leader != PX_NODE_NONE && r->leader != r->cfg.self)
		pxr_send_accepted(r, r->leader, out);
	check_after_step(r);
	return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Durability                                                                          */

/** Issues a persist request for what changed, if none is in flight (group commit). */
void pxr_persist_kick(struct px_replica *r, struct px_out *out)
{
	if (memory_mode(r) || r->persist_inflight)
		return;
	/* A replica repairing a damaged journal writes nothing until its recovery has
	 * completed: a journal that holds records (and a crash vector) after the repair
	 * began says the repair is done (docs/storage.md, "Repair"). */
	if (r->role == PX_RECOVERING && !r->reannouncing)
		return;
	if (!r->dirty_promise && r->dirty_lo > r->dirty_hi &&
	    r->durable_ack_hi >= r->ack_hi && r->commit_recorded >= r->commit &&
	    r->inc_gen_sent == r->inc_gen)
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
	if (r->inc_gen_sent != r->inc_gen) {
		out->persist_n_inc = r->n_ids;
		memcpy(out->persist_inc, r->inc, sizeof(uint32_t) * r->n_ids);
		/* Our own number only once f + 1 replicas recorded it (a recovery or a
		 * re-announcement completed): a restart must not vote with one they may
		 * not know (docs/consistency.md, "A newer incarnation of oneself", 3). */
		out->persist_inc[r->cfg.self] = r->inc_done;
		r->inc_gen_sent = r->inc_gen;
	}
	r->inflight_inc_gen = r->inc_gen_sent;
	r->dirty_promise = 0;
	r->dirty_lo = 1;
	r->dirty_hi = 0;
}

/** The promise changed: slots accepted at older ballots no longer count towards the
 *  cumulative ack, durable or not (chosen ones still do). */
void pxr_reset_ack(struct px_replica *r)
{
	r->ack_hi = r->commit;
	if (r->durable_ack_hi > r->commit)
		r->durable_ack_hi = r->commit;
	pxr_advance_ack(r);
}

void pxr_set_promised(struct px_replica *r, uint64_t b)
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
void pxr_advance_ack(struct px_replica *r)
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

/**
 * Slot s was just committed here: the membership moves with it (px_members.c). When a
 * configuration takes effect, its voters' majority counts from now on; a leader runs
 * phase 1 among the new voters at a new ballot (its own phase 1 covered the old ones
 * only), or, if it is no voter now, hands leadership to the most caught-up voter; a
 * candidate or precandidate of the old configuration gives up.
 */
static void members_on_commit(struct px_replica *r, const struct px_slot *e,
			      struct px_out *out)
{
	uint32_t epoch = r->ms.cur.epoch;
	int took = px_membership_chosen(&r->ms, e->slot, e->value, e->len);
	if (took > 0) {
		r->ctr.conf_chosen++;
		if (r->role == PX_LEADER && r->ms.next_eff - 1 > r->pad_to)
			r->pad_to = r->ms.next_eff - 1;
	} else if (took < 0) {
		r->ctr.conf_void++;
	}
	if (took != 0 || r->ms.cur.epoch != epoch)
		pxr_members_changed(r);
	if (r->ms.cur.epoch == epoch)
		return;
	r->ctr.conf_switches++;
	if (r->role == PX_PRECANDIDATE || r->role == PX_CANDIDATE) {
		pxr_become_follower(r, out);
		return;
	}
	if (r->role != PX_LEADER || BUG(r, PX_BUG_CONF_NO_PHASE1))
		return;
	if (is_voter(r, r->cfg.self)) {
		pxr_start_candidacy(r, true, out);
		return;
	}
	/* Removed (or made a learner): tell the new members the commit point that put
	 * their configuration in force (they got the log as a pending configuration's
	 * members), then hand over to the voter that holds the most. */
	if (out_room(out, 1)) {
		struct px_msg *a = pxr_msg_new(r, out, PX_MSG_ACCEPT, PX_NODE_NONE);
		a->ballot = r->ballot;
	}
	uint8_t best = PX_NODE_NONE;
	for (uint32_t i = 0; i < PX_REPLICAS_MAX; i++) {
		if (!is_voter(r, i) || i == r->cfg.self)
			continue;
		if (best == PX_NODE_NONE || r->peers[i].ack_hi > r->peers[best].ack_hi)
			best = (uint8_t)i;
	}
	if (best != PX_NODE_NONE && out_room(out, 1)) {
		struct px_msg *m = pxr_msg_new(r, out, PX_MSG_TIMEOUT_NOW, best);
		m->ballot = r->ballot;
		r->ctr.transfers++;
	}
	r->leader = PX_NODE_NONE;
	pxr_become_follower(r, out);
}

/** Extends commit over slots known chosen; as a follower, slots accepted at the ballot
 *  whose leader announced them committed are chosen too. */
void pxr_advance_commit(struct px_replica *r, struct px_out *out)
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
		members_on_commit(r, e, out);
	}
	if (r->ack_hi < r->commit)
		r->ack_hi = r->commit;
	emit_apply(r, out);
}

void pxr_leader_update_commit(struct px_replica *r, struct px_out *out)
{
	uint64_t acks[PX_REPLICAS_MAX];
	uint32_t n = 0;
	uint16_t counted = BUG(r, PX_BUG_LEARNER_VOTES)
				   ? (uint16_t)(r->ms.cur.voters | r->ms.cur.learners)
				   : r->voters;
	for (uint32_t i = 0; i < PX_REPLICAS_MAX; i++) {
		if (!((counted >> i) & 1u))
			continue;
		if (i == r->cfg.self)
			acks[n++] = ack_reportable(r);
		else
			acks[n++] = r->peers[i].ack_hi < r->last ? r->peers[i].ack_hi : r->last;
	}
	if (n < r->quorum)
		return;
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
		r->commit = s;
		members_on_commit(r, e, out);
		if (r->role != PX_LEADER)
			break;  /* a new configuration: its phase 1 decides the rest */
	}
	if (r->ack_hi < r->commit)
		r->ack_hi = r->commit;
	emit_apply(r, out);
}
