/* SPDX-License-Identifier: Apache-2.0
 * One seed, start to finish.
 *
 * Time advances in units. In each unit, in this order: the fault schedule acts (fault
 * phase only), crashed nodes whose downtime is over restart, every message due is
 * delivered (one step each), disk completions fire, every node whose clock ticks in this
 * unit ticks (clock skew: node i ticks every tick_every[i] units; a paused node does
 * not tick), and clients act. Safety checks run after every step.
 *
 * Fault phase: o.fault_time units under the seed's fault mix.
 * Liveness phase: everything heals (no loss, no partitions, crashed nodes restart,
 * paused nodes resume); within o.liveness_time units every outstanding request must
 * complete and every replica's state machine (but those that need a state transfer,
 * which are counted) must reach the same slot, chain and kv hash. Then the history
 * must be linearizable.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lincheck.h"
#include "sim_pvt.h"

void sim_trace(const struct sim *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->trace)
		return;
	printf("t=%" PRIu64 " ", s->now);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

void sim_trace_msg(const struct sim *s, const char *dir, uint8_t node, const struct px_msg *m)
{
	char ents[160];
	size_t off = 0;
	uint32_t i;

	if (!s->trace)
		return;
	ents[0] = '\0';
	for (i = 0; i < m->n_entries && off < sizeof(ents) - 40; i++)
		off += (size_t)snprintf(ents + off, sizeof(ents) - off, " %" PRIu64 "@%" PRIx64 "%s%s",
					m->entries[i].slot, m->entries[i].vballot,
					m->entries[i].len == PX_BATCH_HDR_BYTES ? "(noop)" : "",
					m->entries[i].flags & PX_EF_CHOSEN ? "c" : "");
	if (i < m->n_entries)
		snprintf(ents + off, sizeof(ents) - off, " ...(%u)", m->n_entries);
	sim_trace(s, "n%u %s %s from=%u to=%d b=%" PRIx64 " flags=%x lo=%" PRIu64 " hi=%" PRIu64
		  " commit=%" PRIu64 " inc=%u%s",
		  node, dir, px_msg_type_name(m->type), m->from, m->to == PX_NODE_NONE ? -1 : m->to,
		  m->ballot, m->flags, m->slot_lo, m->slot_hi, m->commit,
		  m->n_inc > m->from ? m->incarnation[m->from] : 0, ents);
}

void sim_fail(struct sim *s, const char *check, const char *fmt, ...)
{
	va_list ap;

	snprintf(s->fail_check, sizeof(s->fail_check), "%s", check);
	va_start(ap, fmt);
	vsnprintf(s->fail_detail, sizeof(s->fail_detail), fmt, ap);
	va_end(ap);
	longjmp(s->fail_jmp, 1);
}

/* ---------------------------------------------------------------------------------- */
/* Fault schedule                                                                      */

/** The node that leads at the highest ballot, or NULL. */
static struct sim_node *leader(struct sim *s)
{
	struct sim_node *best = NULL;
	uint32_t i;

	for (i = 0; i < s->o.n_nodes; i++) {
		struct sim_node *n = &s->nodes[i];

		if (n->up && px_role(n->r) == PX_LEADER &&
		    (best == NULL || px_promised(n->r) > px_promised(best->r)))
			best = n;
	}
	return best;
}

/** Cuts every link between replica x and every other endpoint, both directions. */
static void isolate(struct sim *s, uint32_t x)
{
	uint32_t e, n_ep = s->o.n_nodes + s->o.n_clients;

	for (e = 0; e < n_ep; e++) {
		s->net.link_up[x][e] = false;
		s->net.link_up[e][x] = false;
	}
}

static void partition_start(struct sim *s)
{
	struct sim_rng *r = &s->rng_fault;
	uint32_t kinds[4], n_kinds = 0, i, j, t, n = s->o.n_nodes;
	uint32_t n_ep = n + s->o.n_clients;
	bool side[SIM_EP_MAX];
	uint32_t kind, x;

	for (i = 0; i < 4; i++)
		if (s->o.part_kinds & (1u << i))
			kinds[n_kinds++] = 1u << i;
	kind = kinds[sim_rng_below(r, n_kinds)];
	sim_trace(s, "PARTITION kind=%u", kind);
	s->part_active = kind;
	s->part_until = s->now + sim_rng_range(r, 1, s->o.part_len_max);
	s->partitions++;

	switch (kind) {
	case SIM_PART_ISOLATE:
		isolate(s, sim_rng_below(r, n));
		break;
	case SIM_PART_SPLIT:
		/* Replicas: a random non-trivial split; clients land on either side. */
		do {
			for (i = 0; i < n; i++)
				side[i] = sim_rng_below(r, 2);
			for (j = 0, t = 0; j < n; j++)
				t += side[j];
		} while (t == 0 || t == n);
		for (i = n; i < n_ep; i++)
			side[i] = sim_rng_below(r, 2);
		for (i = 0; i < n_ep; i++)
			for (j = 0; j < n_ep; j++)
				if (side[i] != side[j])
					s->net.link_up[i][j] = false;
		break;
	case SIM_PART_ASYM:
		/* One node hears but is not heard (or the reverse): the case that breaks
		 * naive failure detectors and leader leases. */
		x = sim_rng_below(r, n);
		t = sim_rng_below(r, 2);
		for (i = 0; i < n; i++) {
			if (i == x)
				continue;
			if (t)
				s->net.link_up[x][i] = false;
			else
				s->net.link_up[i][x] = false;
		}
		break;
	case SIM_PART_SWIZZLE:
		/* TigerBeetle's swizzle clog: cut nodes one at a time in a random order,
		 * then restore them one at a time in another random order. */
		for (i = 0; i < n; i++)
			s->swizzle_order[i] = (uint8_t)i;
		for (i = n - 1; i > 0; i--) {
			j = sim_rng_below(r, i + 1);
			t = s->swizzle_order[i];
			s->swizzle_order[i] = s->swizzle_order[j];
			s->swizzle_order[j] = (uint8_t)t;
		}
		s->swizzle_step = 0;
		s->swizzle_restoring = false;
		s->part_until = s->now;  /* first cut at once */
		break;
	default:
		break;
	}
	if ((s->o.bugs & PX_BUG_READ_NO_CONFIRM) && !sim_no_bias) {
		/* The bug needs a leader deposed without knowing it: cut off with some
		 * clients while the others elect and write. Check-quorum ends that within
		 * its own election timeout, so pause it (no ticks) for a while too. */
		struct sim_node *l = leader(s);

		if (l != NULL) {
			l->paused_until = s->now + sim_rng_range(r, s->o.election_ticks,
							   s->o.pause_len_max);
			s->pauses++;
		}
	}
}

/** Recomputes links for swizzle: nodes swizzle_order[0..cut) are cut off. */
static void swizzle_apply(struct sim *s, uint32_t lo, uint32_t hi)
{
	uint32_t i;

	sim_net_heal(s);
	for (i = lo; i < hi; i++)
		isolate(s, s->swizzle_order[i]);
}

static void swizzle_step(struct sim *s)
{
	struct sim_rng *r = &s->rng_fault;
	uint32_t n = s->o.n_nodes, i, j, t;

	s->part_until = s->now + sim_rng_range(r, 1, s->o.part_len_max / 2 + 1);
	if (!s->swizzle_restoring) {
		s->swizzle_step++;
		swizzle_apply(s, 0, s->swizzle_step);
		if (s->swizzle_step == n) {
			/* All cut: restore in a fresh random order. */
			for (i = n - 1; i > 0; i--) {
				j = sim_rng_below(r, i + 1);
				t = s->swizzle_order[i];
				s->swizzle_order[i] = s->swizzle_order[j];
				s->swizzle_order[j] = (uint8_t)t;
			}
			s->swizzle_restoring = true;
			s->swizzle_step = 0;
		}
		return;
	}
	s->swizzle_step++;
	swizzle_apply(s, s->swizzle_step, n);
	if (s->swizzle_step == n) {
		s->part_active = 0;
		s->part_next = s->now + sim_rng_range(r, 1, s->o.part_gap_max);
	}
}

static void partitions(struct sim *s)
{
	if (s->o.part_kinds == 0)
		return;
	if (s->part_active == 0) {
		if (s->now >= s->part_next)
			partition_start(s);
		return;
	}
	if (s->now < s->part_until)
		return;
	if (s->part_active == SIM_PART_SWIZZLE) {
		swizzle_step(s);
		return;
	}
	sim_net_heal(s);
	sim_trace(s, "PARTITION healed");
	s->part_active = 0;
	s->part_next = s->now + sim_rng_range(&s->rng_fault, 1, s->o.part_gap_max);
}

/** Nodes that are down or still running memory-mode recovery. */
static uint32_t nodes_out(const struct sim *s)
{
	uint32_t i, k = 0;

	for (i = 0; i < s->o.n_nodes; i++)
		/* Memory mode keeps the applied state in state machines only: one that
		 * waits for a state transfer holds none of it, as if down. */
		if (!s->nodes[i].up || px_role(s->nodes[i].r) == PX_RECOVERING ||
		    px_needs_state_transfer(s->nodes[i].r) || s->nodes[i].as_new)
			k++;
	return k;
}

static void crashes(struct sim *s)
{
	struct sim_rng *r = &s->rng_fault;
	struct sim_node *victim = NULL, *l;
	uint32_t f = (s->o.n_nodes - 1) / 2, i, k, up = 0;
	bool storm, hit;

	if (s->o.crash_pm == 0)
		return;
	/* Both draws every unit keep the stream aligned whatever happens. */
	hit = sim_rng_chance(r, s->o.crash_pm);
	storm = sim_rng_chance(r, s->o.leader_storm_pm);
	if (!hit)
		return;
	/* Memory mode keeps its promises by replication only: it is safe while at most
	 * f replicas are down or recovering at once (the fault model of the recovery
	 * protocol, docs/consistency.md). Durable mode may lose every node at once. */
	if (s->o.durability == PX_MEMORY && nodes_out(s) >= f)
		return;
	/* While a mistaken first start runs, no member forgets it: the guard's stated
	 * limit (docs/protocol.md, "Cluster uuid": a member that restarted, and leads
	 * before it caught up, may count the mistaken start's votes; pw-sim seed 162 with
	 * --log-reads showed it). */
	for (i = 0; i < s->o.n_nodes; i++)
		if (s->nodes[i].up && s->nodes[i].as_new)
			return;
	l = leader(s);
	if (storm && l != NULL) {
		victim = l;
	} else {
		for (i = 0; i < s->o.n_nodes; i++)
			up += s->nodes[i].up;
		if (up == 0)
			return;
		k = sim_rng_below(r, up);
		for (i = 0; i < s->o.n_nodes; i++) {
			if (!s->nodes[i].up)
				continue;
			if (k-- == 0) {
				victim = &s->nodes[i];
				break;
			}
		}
	}
	sim_node_crash(s, victim);
	victim->down_until = s->now + sim_rng_range(r, 1, s->o.down_max);
	sim_trace(s, "n%u CRASH until %" PRIu64, victim->id, victim->down_until);
	s->crashes++;
}

/**
 * Recoveries cut short (recover_cut_pm): a replica whose announcement reached only a
 * few replicas (sim_net.c) crashes as scheduled; those few are cut off from everyone
 * until well after its next life's recovery, so that life does not hear of the
 * number they recorded (docs/consistency.md, "A newer incarnation of oneself").
 */
static void scheduled_crashes(struct sim *s)
{
	struct sim_rng *r = &s->rng_fault;
	uint32_t i, k;

	for (i = 0; i < s->o.n_nodes; i++) {
		struct sim_node *n = &s->nodes[i];

		if (!n->up || n->crash_at == 0 || s->now < n->crash_at)
			continue;
		sim_node_crash(s, n);
		n->down_until = s->now + sim_rng_range(r, 1, s->o.down_max);
		for (k = 0; k < s->o.n_nodes; k++)
			if (n->announce_mask & (1u << k))
				s->nodes[k].quarantine_until = n->down_until +
					sim_rng_range(r, 10, 40) * s->o.election_ticks;
		sim_trace(s, "n%u CRASH (recovery cut, announced to %x) until %" PRIu64, n->id,
			  n->announce_mask, n->down_until);
		s->crashes++;
		s->recover_cuts++;
	}
}

/** At a memory-mode restart: does this life's recovery get cut short? Needs 5+
 *  replicas: its next life must still find f + 1 replicas outside the 1..f-1 that
 *  heard the announcement. */
static void draw_recover_cut(struct sim *s, struct sim_node *n)
{
	struct sim_rng *r = &s->rng_fault;
	uint32_t f = (s->o.n_nodes - 1) / 2, k, want, j;
	bool cut = sim_rng_chance(r, s->o.recover_cut_pm);

	n->recover_cut = false;
	n->announce_mask = 0;
	n->crash_at = 0;
	if (!cut || s->liveness || f < 2 || s->o.durability != PX_MEMORY)
		return;
	want = sim_rng_range(r, 1, f - 1);
	/* Bounded: each pass adds one new member, and want < n - 1. */
	for (k = 0; k < want;) {
		j = sim_rng_below(r, s->o.n_nodes);
		if (j == n->id || (n->announce_mask & (1u << j)))
			continue;
		n->announce_mask |= 1u << j;
		k++;
	}
	n->recover_cut = true;
}

/** The members (voters and learners) of the log's latest configuration, and of a
 *  pending one. */
static uint32_t members_now(const struct sim *s)
{
	return (uint32_t)s->ms.cur.voters | s->ms.cur.learners | s->ms.next.voters |
	       s->ms.next.learners;
}

/**
 * Membership changes (members_pm; durable seeds): a spare joins (started with --join,
 * added as a learner at the leader; the leader promotes it once caught up), or a voter
 * leaves (the leader itself sometimes), keeping three. A removed replica runs on: its
 * messages must be dropped. An id is never added twice.
 */
static void members_ops(struct sim *s)
{
	struct sim_rng *r = &s->rng_members;
	struct sim_node *l, *n;
	uint32_t pick, k, i;

	if (s->o.members_pm == 0 || !sim_rng_chance(r, s->o.members_pm))
		return;
	uint32_t kind = sim_rng_below(r, 3);
	if (kind == 2 && !sim_jumps)
		kind = 1;
	bool add = kind == 0;
	pick = sim_rng_next(r) & 0xffff;
	uint32_t subset = sim_rng_next(r) & 0x1ff;
	l = leader(s);
	if (l == NULL)
		return;
	if (kind == 2) {
		/* A jump: any voter set of 3 or more among the replicas that run, several in
		 * and out at once (two majorities that need not meet: the alpha window and
		 * the new configuration's phase 1 must keep it safe). */
		const struct px_membership *lm = px_membership(l->r);
		uint32_t run = 0, was = members_now(s) | lm->cur.voters | lm->cur.learners |
				       lm->next.voters | lm->next.learners;
		for (i = 0; i < s->o.n_nodes; i++)
			if (s->nodes[i].up && !s->nodes[i].removed)
				run |= 1u << i;
		uint32_t v = subset & run;
		if (__builtin_popcount(v) < 3)
			return;
		for (i = s->o.n_replicas; i < s->o.n_nodes; i++)
			if ((v >> i) & 1u)
				s->nodes[i].added = true;
		int64_t rj = node_set_members(l->nd, (uint16_t)v, 0);
		if (rj > 0) {
			s->member_jumps++;
			sim_conf_proposed(s, l, (uint64_t)rj);
			for (i = 0; i < s->o.n_nodes; i++)
				if ((was >> i) & 1u && !((v >> i) & 1u))
					s->nodes[i].removed = true;
		} else {
			s->member_refused++;
		}
		/* -EAGAIN: not leader any more, a change under way, no room in the window.
		 * Never -EINVAL: the set is valid (3 or more voters, no learners), built on
		 * the configuration in force, so the core must take it. */
		if (rj <= 0 && rj != -EAGAIN)
			sim_fail(s, "effects", "node %u: membership jump = %" PRId64, l->id, rj);
		sim_trace(s, "n%u MEMBERS jump to %03x: %" PRId64, l->id, v, rj);
		return;
	}
	const struct px_members *cur = &px_membership(l->r)->cur;
	uint32_t spares = 0, voters = 0;
	for (i = s->o.n_replicas; i < s->o.n_nodes; i++)
		if (!s->nodes[i].added)
			spares |= 1u << i;
	for (i = 0; i < s->o.n_nodes; i++)
		if (px_is_voter(cur, (uint8_t)i))
			voters |= 1u << i;
	if (add && spares == 0)
		add = false;
	if (!add && __builtin_popcount(voters) <= 3)
		return;
	uint32_t from = add ? spares : voters;
	k = pick % (uint32_t)__builtin_popcount(from);
	for (i = 0; i < s->o.n_nodes; i++)
		if ((from >> i) & 1u && k-- == 0)
			break;
	n = &s->nodes[i];
	int64_t rc;
	if (add) {
		if (!n->up)
			sim_node_start(s, n, true);
		rc = node_add_member(l->nd, (uint8_t)i, "sim");
		if (rc > 0) {
			sim_conf_proposed(s, l, (uint64_t)rc);
			n->added = true;
			s->member_adds++;
		}
	} else {
		rc = node_remove_member(l->nd, (uint8_t)i);
		if (rc > 0) {
			sim_conf_proposed(s, l, (uint64_t)rc);
			s->member_removes++;
			n->removed = true;
		}
	}
	if (rc <= 0)
		s->member_refused++;
	/* -EINVAL only where the change is invalid: an add beyond PX_LEARNERS_MAX learners
	 * (a remove keeps 3 voters or more, an add picks an id that never ran). */
	bool einval_ok = add && __builtin_popcount(cur->learners) + 1 > (int)PX_LEARNERS_MAX;
	if (rc <= 0 && rc != -EAGAIN && !(rc == -EINVAL && einval_ok))
		sim_fail(s, "effects", "node %u: membership change = %" PRId64, l->id, rc);
	sim_trace(s, "n%u MEMBERS %s %u: %" PRId64, l->id, add ? "add" : "remove", i, rc);
}

/** A leadership transfer on request, now and then (transfer_pm). */
static void transfers(struct sim *s)
{
	struct sim_rng *r = &s->rng_fault;
	struct sim_node *l;
	uint8_t target;

	if (s->o.transfer_pm == 0 || !sim_rng_chance(r, s->o.transfer_pm))
		return;
	target = (uint8_t)sim_rng_below(r, s->o.n_nodes);
	l = leader(s);
	if (l == NULL || target == l->id || !s->nodes[target].up)
		return;
	s->transfers++;
	sim_node_transfer(s, l, target);
}

/* --failover (sim_pvt.h): one crash of the leader under load, then a transfer. */
enum { FO_CRASH, FO_CRASHED, FO_TRANSFER, FO_TRANSFERRING, FO_DONE };

/** The highest commit point of any replica that is up. */
static uint64_t commit_max(const struct sim *s)
{
	uint64_t c = 0;

	for (uint32_t i = 0; i < s->o.n_nodes; i++)
		if (s->nodes[i].up && px_commit(s->nodes[i].r) > c)
			c = px_commit(s->nodes[i].r);
	return c;
}

/** True if replica id leads and committed past fo_commit. */
static bool fo_committed(const struct sim *s, uint32_t id)
{
	const struct sim_node *n = &s->nodes[id];

	return n->up && px_role(n->r) == PX_LEADER && px_commit(n->r) > s->fo_commit;
}

static void failover_step(struct sim *s)
{
	struct sim_rng *r = &s->rng_fault;
	struct sim_node *l;
	uint32_t i;

	switch (s->fo_state) {
	case FO_CRASH:
		/* Crash a leader that has committed under load. */
		l = leader(s);
		if (s->now < s->fo_at || l == NULL || px_commit(l->r) == 0)
			return;
		s->fo_commit = commit_max(s);
		s->fo_node = l->id;
		s->fo_t0 = s->now;
		sim_node_crash(s, l);
		l->down_until = s->now + SIM_FO_DOWN_US;
		s->crashes++;
		sim_trace(s, "n%u CRASH (failover: the leader) until %" PRIu64, l->id, l->down_until);
		s->fo_state = FO_CRASHED;
		return;
	case FO_CRASHED:
		for (i = 0; i < s->o.n_nodes; i++) {
			if (i == s->fo_node || !fo_committed(s, i))
				continue;
			s->failover_us = s->now - s->fo_t0;
			sim_trace(s, "n%u FAILOVER done: commit %" PRIu64 " after %" PRIu64 " us", i,
				  px_commit(s->nodes[i].r), s->failover_us);
			s->fo_state = FO_TRANSFER;
			s->fo_at = s->fo_t0 + SIM_FO_TRANSFER_US + sim_rng_below(r, 1000);
			return;
		}
		return;
	case FO_TRANSFER: {
		/* To a follower that holds the log (not the restarted replica, which may
		 * still be catching up or recovering). */
		l = leader(s);
		if (s->now < s->fo_at || l == NULL)
			return;
		uint32_t start = sim_rng_below(r, s->o.n_nodes), t = SIM_NODES_MAX;
		for (i = 0; i < s->o.n_nodes; i++) {
			uint32_t k = (start + i) % s->o.n_nodes;
			const struct sim_node *n = &s->nodes[k];
			if (k != l->id && n->up && px_role(n->r) == PX_FOLLOWER &&
			    !px_needs_state_transfer(n->r) && px_commit(n->r) + 64 >= px_commit(l->r)) {
				t = k;
				break;
			}
		}
		if (t == SIM_NODES_MAX)
			return;
		s->fo_commit = commit_max(s);
		s->fo_node = (uint8_t)t;
		s->fo_t0 = s->now;
		s->fo_transfer_tries++;
		s->transfers++;
		sim_node_transfer(s, l, (uint8_t)t);
		s->fo_state = FO_TRANSFERRING;
		return;
	}
	case FO_TRANSFERRING:
		if (fo_committed(s, s->fo_node)) {
			s->transfer_us = s->now - s->fo_t0;
			sim_trace(s, "n%u TRANSFER done after %" PRIu64 " us", s->fo_node,
				  s->transfer_us);
			s->fo_state = FO_DONE;
		} else if (s->now - s->fo_t0 > 4u * SIM_FO_ELECTION_US) {
			/* Refused or abandoned (the leader gives up after election_ticks): ask
			 * again; the time of the one that completes is what counts. */
			s->fo_state = FO_TRANSFER;
			s->fo_at = s->now;
		}
		return;
	default:
		return;
	}
}

static void pauses(struct sim *s)
{
	struct sim_rng *r = &s->rng_fault;
	struct sim_node *n;

	if (s->o.pause_pm == 0 || !sim_rng_chance(r, s->o.pause_pm))
		return;
	n = &s->nodes[sim_rng_below(r, s->o.n_nodes)];
	if (!n->up || n->paused_until > s->now)
		return;
	n->paused_until = s->now + sim_rng_range(r, 1, s->o.pause_len_max);
	s->pauses++;
}

/* ---------------------------------------------------------------------------------- */
/* Time                                                                                */

/** Longest a replica may stay fenced with the network healed: it needs to hear one
 *  message carrying its newer number, then one round trip to announce it. */
static uint64_t fenced_bound(const struct sim *s)
{
	uint32_t i, slow = 1;

	for (i = 0; i < s->o.n_nodes; i++)
		if (s->o.tick_every[i] > slow)
			slow = s->o.tick_every[i];
	return (uint64_t)20 * s->o.election_ticks * slow + 100;
}

/**
 * Liveness phase: a replica in normal status that a majority knows by a newer
 * incarnation than its own is dropped by them as stale. It must take the number (or
 * recover) within a bound, or it is fenced for good (docs/consistency.md). A node the
 * log's membership no longer holds is dropped by design (not_member): not checked.
 */
static void check_fenced(struct sim *s)
{
	uint32_t voters = sim_voters_at(s, s->ms_slot + 1), members = members_now(s);
	uint32_t i, k, quorum = (uint32_t)__builtin_popcount(voters) / 2u + 1u, newer;

	for (i = 0; i < s->o.n_nodes; i++) {
		struct sim_node *n = &s->nodes[i];

		if (!n->up || px_role(n->r) == PX_RECOVERING || !((members >> i) & 1u)) {
			n->fenced_since = 0;
			continue;
		}
		newer = 0;
		for (k = 0; k < s->o.n_nodes; k++)
			newer += k != i && s->nodes[k].up && ((voters >> k) & 1u) &&
				 px_incarnation(s->nodes[k].r, (uint8_t)i) >
					 px_incarnation(n->r, (uint8_t)i);
		if (newer < quorum) {
			n->fenced_since = 0;
			continue;
		}
		if (n->fenced_since == 0)
			n->fenced_since = s->now;
		else if (s->now - n->fenced_since > fenced_bound(s))
			sim_fail(s, "fenced",
				 "node %u in normal status at incarnation %u, but %u replicas know "
				 "a newer one of it and drop its messages, for %" PRIu64
				 " time units", n->id, px_incarnation(n->r, (uint8_t)i), newer,
				 s->now - n->fenced_since);
	}
}

/**
 * The bootstrap guard's precondition (docs/protocol.md, "Cluster uuid"): every other
 * member is up and heard n with the bound uuid since its own start
 * (node_uuid_members), so each refuses a first start of n; and no datagram of n's
 * earlier lives is still on its way to one of them. The guard promises nothing
 * otherwise: a member down now that restarts while the mistaken start runs does not
 * know it and welcomes it (pw-sim --log-transport rdma seed 3715: it then served it
 * a snapshot); a late datagram of the earlier life reads as a reply to the leader,
 * which sends the log up to the bind to the new start before any member refuses it
 * (seed 1660: a straggler sent 150 ticks before). Or before the uuid is bound. The
 * simulator makes the mistake only when the guard is meant to catch it, and nodes_out
 * counts the mistaken life as out, so no crash makes a member forget it meanwhile.
 */
static bool guard_knows(const struct sim *s, const struct sim_node *n)
{
	uint32_t up = 0;

	for (uint32_t j = 0; j < s->o.n_nodes; j++) {
		const struct sim_node *m = &s->nodes[j];
		if (m == n)
			continue;
		if (!m->up || m->as_new || !(node_uuid_members(m->nd) & (1u << n->id)))
			return false;
		up++;
	}
	for (uint32_t i = 0; i < s->net.n_heap; i++) {
		const struct sim_msg *m = &s->net.msgs[s->net.heap[i]];
		if (m->src == n->id && m->dst < s->o.n_nodes)
			return false;
	}
	return up > 0;
}

static void step_time(struct sim *s)
{
	struct sim_msg *m;
	struct sim_node *n;
	uint64_t delivered = 0;
	uint32_t i;

	if (!s->liveness && sim_failover)
		failover_step(s);
	if (!s->liveness) {
		partitions(s);
		crashes(s);
		pauses(s);
		scheduled_crashes(s);
		transfers(s);
		members_ops(s);
	}
	for (i = 0; i < s->o.n_nodes; i++) {
		n = &s->nodes[i];
		if (!n->up && s->now >= n->down_until) {
			/* An operator's mistake: a member restarted as the first start of a
			 * new cluster. The members that know it must refuse it. */
			bool as_new = s->o.durability == PX_MEMORY && !s->liveness &&
				      sim_rng_chance(&s->rng_fault, s->o.mistake_pm) &&
				      guard_knows(s, n);
			sim_node_start(s, n, !as_new);
			n->as_new = as_new;
			if (as_new) {
				s->mistakes++;
				sim_trace(s, "n%u RESTART AS NEW (--bootstrap by mistake)", n->id);
			} else {
				draw_recover_cut(s, n);
			}
		}
	}
	/* Ends: every message sent now is due at now + delay_min or later, delay_min >= 1. */
	while (sim_net_next(s, &m)) {
		if (m->dst < s->o.n_nodes)
			sim_node_deliver(s, &s->nodes[m->dst], m->buf, m->len, m->src, m->corrupt);
		else
			sim_client_deliver(s, &s->clients[m->dst - s->o.n_nodes], m->buf,
					   m->len);
		sim_net_free(s, m);
		delivered++;
	}
	/* The remote-memory transport, every time unit: each node takes its completions
	 * and the records in its region (the oracle sees what landed as votes between the
	 * two: the rm_polled observer). A paused node does nothing; writes into its
	 * memory land all the same. */
	/* A hostile fabric (with --auth): a record forged into a follower's region. */
	if (s->o.rm_forge_pm != 0 && !s->liveness &&
	    sim_rng_chance(&s->rng_hostile, s->o.rm_forge_pm)) {
		n = &s->nodes[sim_rng_below(&s->rng_hostile, s->o.n_nodes)];
		uint64_t rnd = sim_rng_next(&s->rng_hostile);
		if (n->up && node_rm_forge(n->nd, (unsigned)(rnd & 1u), rnd >> 1)) {
			s->rm_forged++;
			sim_trace(s, "n%u RM FORGED (%s)", n->id, rnd & 1u ? "replay" : "noise");
		}
	}
	for (i = 0; i < s->o.n_nodes && s->o.rm; i++) {
		n = &s->nodes[i];
		if (n->up && n->paused_until <= s->now)
			sim_node_rm_poll(s, n);
	}
	if (delivered > s->unit_deliveries_max)
		s->unit_deliveries_max = delivered;
	s->window_deliveries += delivered;
	if (s->now % SIM_STORM_WINDOW == SIM_STORM_WINDOW - 1) {
		uint64_t cap = (uint64_t)SIM_STORM_WINDOW * SIM_STORM_PER_EP *
			       (s->o.n_nodes + s->o.n_clients);

		if (s->window_deliveries > cap) {
			uint32_t t, top = 0;

			for (t = 0; t < PX_MSG_TYPE_MAX; t++)
				if (s->window_by_type[t] > s->window_by_type[top])
					top = t;
			sim_fail(s, "message-storm",
				 "%" PRIu64 " messages delivered in the last %u time units (cap %"
				 PRIu64 "), %" PRIu64 " of them %s: some message is answered with "
				 "more than one",
				 s->window_deliveries, SIM_STORM_WINDOW, cap, s->window_by_type[top],
				 px_msg_type_name((uint8_t)top));
		}
		s->window_deliveries = 0;
		memset(s->window_by_type, 0, sizeof(s->window_by_type));
	}
	for (i = 0; i < s->o.n_nodes; i++)
		sim_node_disk_step(s, &s->nodes[i]);
	for (i = 0; i < s->o.n_nodes; i++) {
		n = &s->nodes[i];
		if (!n->up || n->paused_until > s->now)
			continue;
		if ((s->now + i) % s->o.tick_every[i] != 0)
			continue;
		sim_node_tick(s, n);
	}
	for (i = 0; i < s->o.n_clients; i++)
		sim_client_step(s, &s->clients[i]);
	/* A start the cluster refused stops (paxwired exits); it is restarted later. */
	for (i = 0; i < s->o.n_nodes; i++) {
		n = &s->nodes[i];
		if (!n->up || node_refused(n->nd) == NULL)
			continue;
		sim_trace(s, "n%u REFUSED: %s", n->id, node_refused(n->nd));
		sim_node_crash(s, n);
		n->down_until = s->now + sim_rng_range(&s->rng_fault, 1, s->o.down_max);
		s->refused_starts++;
	}
	if (s->liveness)
		check_fenced(s);
}

/** Heals every fault for the liveness phase. */
static void heal(struct sim *s)
{
	uint32_t i;

	s->liveness = true;
	s->net.loss_pm = 0;
	s->net.dup_pm = 0;
	s->net.corrupt_pm = 0;
	s->net.straggle_pm = 0;
	s->net.link_queue_max = 1024;
	/* A healthy network: round trips well inside an election timeout, as every
	 * leader-based protocol needs for liveness (Raft: broadcast time << election
	 * timeout). Reordering stays, within that bound. */
	s->net.delay_min = 1;
	s->net.delay_max = s->o.election_ticks / 4 > 1 ? s->o.election_ticks / 4 : 1;
	s->part_active = 0;
	sim_net_heal(s);
	for (i = 0; i < s->o.n_nodes; i++) {
		s->nodes[i].paused_until = 0;
		s->nodes[i].quarantine_until = 0;
		s->nodes[i].recover_cut = false;
		s->nodes[i].crash_at = 0;
		sim_node_rm_heal(s, &s->nodes[i]);
		if (!s->nodes[i].up && s->nodes[i].down_until != UINT64_MAX)
			s->nodes[i].down_until = s->now;
	}
}

/** True once the cluster has converged; fills why with what is missing otherwise. */
static bool converged(struct sim *s, char *why, size_t len)
{
	const struct sim_node *ref = NULL, *n;
	uint64_t chain, kvh;
	uint32_t i;

	for (i = 0; i < s->o.n_clients; i++) {
		if (s->clients[i].waiting) {
			snprintf(why, len, "client %u seq %" PRIu64 " still outstanding (%" PRIu64
				 " resends, last to node %u)", i, s->clients[i].seq,
				 s->clients[i].resends, s->clients[i].target);
			return false;
		}
	}
	for (i = 0; i < s->o.n_nodes; i++) {
		n = &s->nodes[i];
		/* Only the members of the log's configuration must converge: a removed
		 * replica, or a spare never added, owes nothing. */
		if (!((members_now(s) >> i) & 1u))
			continue;
		if (!n->up) {
			snprintf(why, len, "node %u down", i);
			return false;
		}
		/* Even a node that needs a state transfer must finish recovery: with every
		 * peer reachable, nothing excuses staying out of the acceptor quorum. */
		if (px_role(n->r) == PX_RECOVERING) {
			snprintf(why, len, "node %u still recovering (memory-mode restart)%s", i,
				 n->st_needed ? ", state transfer needed" : "");
			return false;
		}
		if (n->st_needed) {
			snprintf(why, len, "node %u still needs a state transfer (applied %" PRIu64
				 ", %" PRIu64 " chunks in, %" PRIu64 " installed)", i,
				 px_applier_last_slot(n->applier),
				 node_counters(n->nd)->st_chunks_in,
				 node_counters(n->nd)->st_installed);
			return false;
		}
		if (px_applier_last_slot(n->applier) != px_commit(n->r) ||
		    px_applied_slot(n->r) != px_commit(n->r)) {
			snprintf(why, len, "node %u applied %" PRIu64 " of commit %" PRIu64
				 " (%s)", i, px_applier_last_slot(n->applier),
				 px_commit(n->r), px_role_name(px_role(n->r)));
			return false;
		}
		/* The first leader binds the cluster uuid; every replica applies it. */
		if (!px_uuid_is_id(node_uuid(n->nd))) {
			snprintf(why, len, "node %u has no cluster uuid bound (applied %" PRIu64 ")",
				 i, px_applier_last_slot(n->applier));
			return false;
		}
		if (ref == NULL) {
			ref = n;
			continue;
		}
		chain = px_applier_chain(n->applier);
		kvh = n->kv_svc.hash(n->kv_svc.ctx);
		if (px_applier_last_slot(n->applier) != px_applier_last_slot(ref->applier) ||
		    chain != px_applier_chain(ref->applier) ||
		    kvh != ref->kv_svc.hash(ref->kv_svc.ctx)) {
			snprintf(why, len, "node %u at slot %" PRIu64 " vs node %u at slot %" PRIu64,
				 i, px_applier_last_slot(n->applier), ref->id,
				 px_applier_last_slot(ref->applier));
			return false;
		}
	}
	return true;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	return px_hash_bytes(h, &v, sizeof(v));
}

/** A hash of the final state: equal across replays of one seed, bit for bit. */
static uint64_t state_hash(const struct sim *s)
{
	const struct sim_node *n;
	uint64_t h = PX_HASH_SEED;
	uint32_t i;

	for (i = 0; i < s->o.n_nodes; i++) {
		n = &s->nodes[i];
		h = mix(h, n->up);
		if (n->up) {
			h = mix(h, px_applier_chain(n->applier));
			h = mix(h, px_applier_last_slot(n->applier));
			h = mix(h, px_commit(n->r));
			h = mix(h, px_promised(n->r));
			h = mix(h, n->kv_svc.hash(n->kv_svc.ctx));
		}
		h = mix(h, n->msgs_in);
		h = mix(h, n->msgs_out);
		h = mix(h, n->ticks);
		h = mix(h, n->restarts);
	}
	h = mix(h, s->net.sent);
	h = mix(h, s->net.delivered);
	for (i = 0; i < s->o.n_clients; i++) {
		h = mix(h, s->clients[i].seq);
		h = mix(h, s->clients[i].resends);
	}
	h = mix(h, s->steps);
	h = mix(h, s->now);
	return h;
}



static void summary(const struct sim *s, uint64_t hash)
{
	const struct sim_node *n;
	uint32_t i;

	printf("  time=%" PRIu64 " (fault %u, liveness %" PRIu64 ") steps=%" PRIu64 "\n",
	       s->now, s->o.fault_time, s->recover_wait, s->steps);
	printf("  net: sent=%" PRIu64 " delivered=%" PRIu64 " lost=%" PRIu64 " dup=%" PRIu64
	       " cut=%" PRIu64 " queue_drop=%" PRIu64 " pool_drop=%" PRIu64 " to_down=%" PRIu64
	       "\n",
	       s->net.sent, s->net.delivered, s->net.lost, s->net.duplicated,
	       s->net.dropped_link, s->net.dropped_queue, s->net.dropped_pool,
	       s->net.dropped_down);
	printf("  faults: crashes=%" PRIu64 " partitions=%" PRIu64 " pauses=%" PRIu64
	       " restore_rejected=%" PRIu64 " recover_cuts=%" PRIu64 " cut_announcements=%" PRIu64
	       " transfers=%" PRIu64 " bootstrap_mistakes=%" PRIu64 " refused=%" PRIu64 "\n",
	       s->crashes, s->partitions, s->pauses, s->restore_rejected, s->recover_cuts,
	       s->net.cut_announce, s->transfers, s->mistakes, s->refused_starts);
	{
		uint64_t total = 0;

		for (i = 1; i < SIM_CX_MAX; i++)
			total += s->net.corrupted[i];
		printf("  hostile network: stragglers=%" PRIu64 " rewritten=%" PRIu64
		       " (refused as they must be: %" PRIu64 ") by class:", s->net.straggled,
		       total, s->net.refused);
		for (i = 1; i < SIM_CX_MAX; i++)
			printf(" %" PRIu64, s->net.corrupted[i]);
		printf("\n");
	}
	for (i = 0; i < s->o.n_nodes; i++) {
		n = &s->nodes[i];
		if (!n->up) {
			printf("  node %u: down\n", i);
			continue;
		}
		printf("  node %u: %s promised=0x%" PRIx64 " commit=%" PRIu64
		       " applied=%" PRIu64 " chain=%016" PRIx64 " restarts=%" PRIu64
		       " ticks=%" PRIu64 " in=%" PRIu64 " out=%" PRIu64 "%s\n",
		       i, px_role_name(px_role(n->r)), px_promised(n->r), px_commit(n->r),
		       px_applier_last_slot(n->applier), px_applier_chain(n->applier),
		       n->restarts, n->ticks, n->msgs_in, n->msgs_out,
		       n->st_needed ? " STATE-TRANSFER-NEEDED" : "");
		const struct px_membership *ms = px_membership(n->r);
		const struct px_counters *pc = px_counters(n->r);
		printf("          epoch=%u voters=%03x learners=%03x next=%u@%" PRIu64
		       " drops:", ms->cur.epoch, ms->cur.voters, ms->cur.learners,
		       ms->next.epoch, ms->next_eff);
		for (uint32_t d = 0; d < PX_DROP_MAX; d++)
			printf(" %" PRIu64, pc->drops[d]);
		printf("\n");
	}
	{
		uint64_t served = 0, failed = 0, logged = 0;

		/* The node's counters start over with each life: the lives still up. */
		for (i = 0; i < s->o.n_nodes; i++) {
			served += s->nodes[i].reads_served;
			if (s->nodes[i].nd != NULL) {
				failed += node_counters(s->nodes[i].nd)->reads_failed;
				logged += node_counters(s->nodes[i].nd)->reads_logged;
			}
		}
		printf("  reads by read index: served=%" PRIu64 " failed=%" PRIu64
		       " (current lives) through the log=%" PRIu64 "\n", served, failed, logged);
	}
	printf("  busiest time unit: %" PRIu64 " deliveries\n", s->unit_deliveries_max);
	if (sim_failover)
		printf("  failover: crash to first commit by a new leader %" PRId64
		       " us, transfer %" PRId64 " us (%" PRIu64 " asked); -1: not measured\n",
		       s->failover_us == SIM_FO_NO_VALUE ? -1 : (int64_t)s->failover_us,
		       s->transfer_us == SIM_FO_NO_VALUE ? -1 : (int64_t)s->transfer_us,
		       s->fo_transfer_tries);
	printf("  members: epoch=%u voters=%03x learners=%03x adds=%" PRIu64 " removes=%" PRIu64
	       " jumps=%" PRIu64 " refused=%" PRIu64 " changes_in_force=%u\n", s->ms.cur.epoch,
	       s->ms.cur.voters, s->ms.cur.learners, s->member_adds, s->member_removes,
	       s->member_jumps, s->member_refused, s->n_confs - 1);
	printf("  disk: torn_writes=%" PRIu64 " corrupt_sectors=%" PRIu64 " misdirected=%" PRIu64
	       " sync_errors=%" PRIu64 " repairs=%" PRIu64 "\n", s->torn_writes,
	       s->corrupt_sectors, s->misdirected, s->sync_errors, s->repairs);
	printf("  clients: ops=%" PRIu64 " slots=%" PRIu64 " state_transfer_nodes=%" PRIu64
	       " installs=%" PRIu64 " lincheck=%s\n",
	       s->ops_done, s->slot_hi, s->st_nodes, s->installs,
	       s->lincheck < 0 ? "not run" : lc_result_str((enum lc_result)s->lincheck));
	if (s->o.rm) {
		const struct node_rm_counters *c = &s->rm_tot;
		printf("  rdma: writes=%" PRIu64 " inline=%" PRIu64 " completions=%" PRIu64 " counted=%" PRIu64
		       " write_errors=%" PRIu64 " fallback=%" PRIu64 " hellos=%" PRIu64
		       " grants=%" PRIu64 " revokes=%" PRIu64 " revoke_failed=%" PRIu64
		       " records=%" PRIu64 " torn=%" PRIu64
		       " record_drops=%" PRIu64 " setup_drops=%" PRIu64 " forged=%" PRIu64 "\n",
		       c->writes, c->inline_writes, c->completions, c->counted, c->write_errors,
		       c->fallback,
		       c->hellos, c->grants, c->revokes, c->revoke_failed, c->records, c->torn, c->record_drops,
		       c->setup_drops, s->rm_forged);
	}
	printf("  final state hash=%016" PRIx64 "\n", hash);
}

/* ---------------------------------------------------------------------------------- */
/* One seed                                                                            */

/** Adds the transport counters of the lives still running to s->rm_tot, once. */
static void rm_account_live(struct sim *s)
{
	if (s->rm_accounted)
		return;
	s->rm_accounted = true;
	for (uint32_t i = 0; i < s->o.n_nodes; i++)
		if (s->nodes[i].up && s->nodes[i].nd != NULL)
			sim_node_rm_account(s, &s->nodes[i]);
}

static void run_phases(struct sim *s)
{
	char why[256];
	uint64_t t0;
	uint32_t i;
	int lc;

	px_membership_init(&s->ms, s->o.n_replicas, SIM_CONFIG_EPOCH, s->o.pipeline_slots);
	s->n_confs = 1;
	s->conf_from[0] = 1;
	s->conf_voters[0] = s->ms.cur.voters;
	sim_rng_seed(&s->rng_members, s->o.seed, SIM_STREAM_MEMBER_OPS);
	for (i = 0; i < s->o.n_nodes; i++)
		sim_node_setup(s, &s->nodes[i], (uint8_t)i);
	for (i = 0; i < s->o.n_replicas; i++)
		sim_node_start(s, &s->nodes[i], false);
	/* Spares start when added (members_ops). */
	for (i = s->o.n_replicas; i < s->o.n_nodes; i++)
		s->nodes[i].down_until = UINT64_MAX;
	sim_clients_setup(s);

	for (s->now = 0; s->now < s->o.fault_time; s->now++)
		step_time(s);

	heal(s);
	t0 = s->now;
	why[0] = '\0';
	for (; s->now < t0 + s->o.liveness_time; s->now++) {
		step_time(s);
		if (converged(s, why, sizeof(why)))
			break;
	}
	s->recover_wait = s->now - t0;
	if (s->now >= t0 + s->o.liveness_time)
		sim_fail(s, "liveness", "no convergence %u units after healing: %s",
			 s->o.liveness_time, why);
	for (i = 0; i < s->o.n_nodes; i++)
		s->st_nodes += s->nodes[i].st_needed;
	sim_check_confs(s);

	lc = sim_history_check(s, why, sizeof(why));
	s->lincheck = lc;
	if (lc == LC_NOT_LINEARIZABLE)
		sim_fail(s, "linearizability", "history not linearizable: %s", why);
	if (s->o.rm)
		rm_account_live(s);
}

int sim_run(uint64_t seed, uint32_t bugs, bool control, bool verbose, bool trace,
	    struct sim_result *res)
{
	struct sim *s = calloc(1, sizeof(*s));
	volatile int failed = 0;
	uint32_t i;

	if (s == NULL) {
		fprintf(stderr, "pw-sim: out of memory for the simulation state\n");
		exit(2);
	}
	s->slots = calloc(SIM_SLOTS_MAX + 1, sizeof(*s->slots));
	if (s->slots == NULL) {
		fprintf(stderr, "pw-sim: out of memory for the slot table\n");
		exit(2);
	}
	s->o.seed = seed;
	s->o.bugs = bugs;
	s->o.planted = !control;
	s->verbose = verbose;
	s->trace = trace;
	s->lincheck = -1;
	s->failover_us = SIM_FO_NO_VALUE;
	s->transfer_us = SIM_FO_NO_VALUE;
	s->fo_state = FO_CRASH;
	sim_opts_derive(&s->o);
	snprintf(s->rm_cluster, sizeof(s->rm_cluster), "sim%d-%" PRIu64, (int)getpid(),
		 seed % UINT64_C(1000000000000));
	sim_rng_seed(&s->rng_net, seed, SIM_STREAM_NET);
	sim_rng_seed(&s->rng_fault, seed, SIM_STREAM_FAULT);
	sim_rng_seed(&s->rng_work, seed, SIM_STREAM_WORK);
	sim_rng_seed(&s->rng_node, seed, SIM_STREAM_NODE);
	sim_rng_seed(&s->rng_disk, seed, SIM_STREAM_DISK);
	sim_rng_seed(&s->rng_hostile, seed, SIM_STREAM_HOSTILE);
	sim_net_reset(s);
	if (sim_failover)  /* drawn only then: every other seed keeps its fault stream */
		s->fo_at = SIM_FO_CRASH_US + sim_rng_below(&s->rng_fault, 1000);
	if (verbose)
		sim_opts_print(&s->o, "  ");

	memset(res, 0, sizeof(*res));
	res->seed = seed;
	if (setjmp(s->fail_jmp) == 0)
		run_phases(s);
	else
		failed = 1;

	res->failed = failed;
	res->lincheck = s->lincheck;
	res->installs = s->installs;
	res->disk[0] = s->torn_writes;
	res->disk[1] = s->corrupt_sectors;
	res->disk[2] = s->misdirected;
	res->disk[3] = s->sync_errors;
	res->disk[4] = s->repairs;
	res->mistakes = s->mistakes;
	res->refused = s->refused_starts;
	res->steps = s->steps;
	res->fail_time = s->now;
	res->failover_us = s->failover_us;
	res->transfer_us = s->transfer_us;
	res->rm_records = s->rm_tot.records;
	res->rm_counted = s->rm_tot.counted;
	if (failed) {
		snprintf(res->check, sizeof(res->check), "%s", s->fail_check);
		snprintf(res->detail, sizeof(res->detail), "%s", s->fail_detail);
	} else {
		res->state_hash = state_hash(s);
	}
	if (s->o.rm)
		rm_account_live(s);
	if (verbose)
		summary(s, res->state_hash);

	for (i = 0; i < SIM_NODES_MAX; i++)
		if (s->nodes[i].sim != NULL)
			sim_node_free(&s->nodes[i]);
	for (i = 0; i < SIM_CLIENTS_MAX; i++)
		free(s->client_auth[i]);
	free(s->net.arena);
	free(s->slots);
	free(s);
	return failed;
}
