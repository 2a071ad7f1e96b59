/* SPDX-License-Identifier: Apache-2.0
 * Reads by read index (px_read_begin in px.h; D. Ongaro, "Consensus: Bridging Theory and
 * Practice" (2014), 6.4; docs/consistency.md, "Reads"): a leader serves a read at its
 * commit point once a majority, itself included, echoed a read round started after the
 * read arrived, at its ballot. Rounds ride on every ACCEPT of the leader and are echoed
 * in ACCEPTED (px_phase2.c). px_replica_pvt.h lists the other parts.
 */
#include "px.h"
#include "px_replica_pvt.h"

/* ---- Read index (Raft dissertation 6.4; docs/consistency.md, "Reads") ---- */

/** Starts the next read round if tickets wait and none is in flight. send: broadcast it
 *  at once in an empty ACCEPT (else it rides on the next ACCEPT: every one carries it). */
void pxr_read_kick(struct px_replica *r, struct px_out *out, bool send)
{
	if (r->role != PX_LEADER || r->read_inflight || r->read_ticket == r->read_round_ticket)
		return;
	r->read_round++;
	r->read_round_ticket = r->read_ticket;
	r->read_inflight = 1;
	r->ctr.read_rounds++;
	if (send && out_room(out, 1)) {
		struct px_msg *m = pxr_msg_new(r, out, PX_MSG_ACCEPT, PX_NODE_NONE);
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
void pxr_read_check_round(struct px_replica *r, struct px_out *out)
{
	if (r->role != PX_LEADER || !r->read_inflight)
		return;
	uint32_t n = is_voter(r, r->cfg.self) ? 1u : 0u;
	for (uint32_t i = 0; i < PX_REPLICAS_MAX; i++) {
		if (i != r->cfg.self && is_voter(r, i) && r->peers[i].read_ack >= r->read_round)
			n++;
	}
	if (n < r->quorum)
		return;
	r->read_inflight = 0;
	r->ctr.read_confirms++;
	read_confirm(r, r->read_round_ticket, out);
	/* Reads that arrived meanwhile: their round goes out now. */
	pxr_read_kick(r, out, true);
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
		pxr_read_kick(r, out, true);
	}
	check_after_step(r);
	return t;
}

uint64_t px_read_confirmed(const struct px_replica *r) { return r->read_confirmed; }
