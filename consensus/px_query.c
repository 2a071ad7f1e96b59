/* SPDX-License-Identifier: Apache-2.0
 * Read-only views of a replica (px_replica_pvt.h lists the other parts): the queries of
 * px.h, and px_check_invariants, which test builds (PX_INVARIANTS) run after every step
 * (STYLE.md section 6) and pw-sim runs itself.
 */
#include <errno.h>

#include "px.h"
#include "px_replica_pvt.h"

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

const char *px_msg_type_name(uint8_t type)
{
	switch (type) {
	case PX_MSG_PREVOTE: return "PREVOTE";
	case PX_MSG_PREVOTE_REPLY: return "PREVOTE_REPLY";
	case PX_MSG_PREPARE: return "PREPARE";
	case PX_MSG_PROMISE: return "PROMISE";
	case PX_MSG_ACCEPT: return "ACCEPT";
	case PX_MSG_ACCEPTED: return "ACCEPTED";
	case PX_MSG_NACK: return "NACK";
	case PX_MSG_TIMEOUT_NOW: return "TIMEOUT_NOW";
	case PX_MSG_STATE_NEEDED: return "STATE_NEEDED";
	case PX_MSG_SNAP_REQ: return "SNAP_REQ";
	case PX_MSG_SNAP_CHUNK: return "SNAP_CHUNK";
	case PX_MSG_REFUSE: return "REFUSE";
	case PX_MSG_RM: return "RM";
	case PX_MSG_RECOVER: return "RECOVER";
	case PX_MSG_RECOVER_REPLY: return "RECOVER_REPLY";
	case PX_MSG_REQUEST: return "REQUEST";
	case PX_MSG_REPLY: return "REPLY";
	default: return "?";
	}
}

const char *px_role_name(enum px_role role)
{
	switch (role) {
	case PX_FOLLOWER: return "follower";
	case PX_PRECANDIDATE: return "precandidate";
	case PX_CANDIDATE: return "candidate";
	case PX_LEADER: return "leader";
	case PX_RECOVERING: return "recovering";
	}
	return "?";
}
uint8_t px_leader_hint(const struct px_replica *r) { return r->leader; }
uint64_t px_promised(const struct px_replica *r) { return r->promised; }
uint64_t px_commit(const struct px_replica *r) { return r->commit; }
uint64_t px_applied_slot(const struct px_replica *r) { return r->applied; }
uint64_t px_last_slot(const struct px_replica *r) { return r->last; }
uint64_t px_next_slot(const struct px_replica *r)
{
	return r->role == PX_LEADER ? r->next_slot : 0;
}
bool px_needs_state_transfer(const struct px_replica *r) { return r->state_transfer != 0; }
uint32_t px_incarnation(const struct px_replica *r, uint8_t node)
{
	return node < PX_REPLICAS_MAX ? r->inc[node] : 0;
}
const struct px_membership *px_membership(const struct px_replica *r) { return &r->ms; }
uint16_t px_recipients(const struct px_replica *r)
{
	return (uint16_t)(recipients(r) & ~(1u << r->cfg.self));
}

bool px_heard_from(const struct px_replica *r, uint8_t from, uint32_t epoch)
{
	return epoch > r->ms.cur.epoch || ((recipients(r) >> from) & 1u) != 0;
}
uint64_t px_peer_ack(const struct px_replica *r, uint8_t id)
{
	return r->role == PX_LEADER && id < PX_REPLICAS_MAX ? r->peers[id].ack_hi : 0;
}

int px_restore_membership(struct px_replica *r, const struct px_membership *ms,
			  uint64_t slot)
{
	if (!px_members_valid(&ms->cur) || (ms->next_eff != 0 && !px_members_valid(&ms->next)) ||
	    ms->alpha == 0 || ms->alpha > PX_PIPELINE_MAX)
		return -EINVAL;
	r->ms = *ms;
	/* The replica may know chosen slots past the state's (a snapshot installed below
	 * its commit point): their entries count again. Bounded by the window. */
	for (uint64_t s = slot + 1; s <= r->commit; s++) {
		const struct px_slot *e = slot_get(r, s);
		if (e == NULL || e->len == 0)
			break;
		(void)px_membership_chosen(&r->ms, s, e->value, e->len);
	}
	px_membership_advance(&r->ms, r->commit + 1);
	pxr_members_changed(r);
	return 0;
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
	if (r->fd_score > pxr_fd_hi(r))
		return "failure detector score <= its high mark";
	if (r->fd_elapsed >= r->cfg.heartbeat_ticks)
		return "failure detector interval < heartbeat_ticks";
	if (r->ballot < r->promised && r->role != PX_RECOVERING)
		return "ballot >= promised";
	if ((r->role == PX_LEADER || r->role == PX_CANDIDATE) &&
	    px_ballot_node(r->ballot) != r->cfg.self)
		return "own ballot carries own node id";
	if (r->role == PX_LEADER && r->ballot != r->promised)
		return "leader's ballot is its promise";
	if (!memory_mode(r) && r->durable_promised > r->promised)
		return "durable promise <= promise";
	/* What a durable replica reports (ack_reportable) is a vote at its promise too. */
	if (!memory_mode(r) && r->durable_ack_hi > r->ack_hi)
		return "durable ack <= ack";
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
	if (r->ms.next_eff != 0 && r->ms.next_eff <= r->commit + 1)
		return "membership: a pending change is not yet in force";
	if (r->ms.cur.epoch != 0 && !px_members_valid(&r->ms.cur))
		return "membership: the configuration in force is valid";
	if (r->round_seen > PX_ROUND_MAX || px_ballot_round(r->promised) > PX_ROUND_MAX)
		return "rounds within the ceiling";
	if (r->role == PX_LEADER) {
		if (r->lead_hi > r->last)
			return "leader: lead_hi <= last";
		if (r->next_slot > r->last + 1)
			return "leader: next_slot <= last + 1";
		if (r->next_slot <= r->lead_hi && r->last != r->lead_hi)
			return "leader: re-proposing what phase 1 recovered, nothing else";
		if (r->ack_hi < r->next_slot - 1)
			return "leader: its own ack covers its proposals";
		if (!may_campaign(r) && !BUG(r, PX_BUG_CONF_NO_PHASE1))
			return "leader: a voter of the configuration in force, or of a later one";
		if (!BUG(r, PX_BUG_CONF_NO_ALPHA) && !BUG(r, PX_BUG_CONF_NO_PHASE1) &&
		    r->next_slot - 1 > r->commit + r->ms.alpha)
			return "leader: proposes within alpha of its commit point";
		if (!BUG(r, PX_BUG_CONF_NO_ALPHA) && !BUG(r, PX_BUG_CONF_NO_PHASE1) &&
		    r->ms.next_eff != 0 && r->next_slot > r->ms.next_eff)
			return "leader: proposes nothing in a configuration not yet in force";
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
