/* SPDX-License-Identifier: Apache-2.0
 * What a replica believes of a message (docs/protocol.md, "Bounds"; docs/consistency.md).
 *
 * Each test drives real replicas through the in-process harness and puts one crafted,
 * mangled or late message on a link, as a faulty network or a confused peer would, then
 * asserts what the replicas did: nothing they must not do, and everything they must
 * still do. Every test here failed on d043dfc, the commit an outside audit read:
 *   - STATE_NEEDED believed from anyone, in any role (a leader stopped applying);
 *   - a replica fenced for good by an incarnation a failed life of its own announced;
 *   - unbounded slots, rounds and incarnations acted on (a window moved to 2^64 - 1,
 *     a cluster leaderless after a round overflowed, every peer fenced by a vector of
 *     0xffffffff);
 *   - a leader message whose ballot names another node, PX_EF_CHOSEN trusted beyond the
 *     sender's commit point;
 *   - a PREPARE deposing a live leader, PREVOTE_REPLY echoing the candidate's ballot (a
 *     refused precandidate climbed a round per timeout);
 *   - one mangled read round silencing a follower's read echoes for a whole leadership;
 *   - a replica waiting for state transfer acknowledging slots it never held.
 * They do not depend on what the applier makes of the commands: they assert commit
 * points, roles, promises, counters and messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "svc_kv.h"
#include "px.h"
#include "px_apply.h"
#include "px_codec.h"
#include "pxh.h"

/* ---- helpers ---- */

static uint64_t next_seq;

static struct pxh_cluster *cluster_opts(uint8_t n, uint32_t window, uint64_t seed)
{
	struct pxh_opts o;
	pxh_opts_default(&o, n);
	o.seed = seed;
	o.check_invariants = true;
	if (window != 0) {
		o.window_slots = window;
		o.pipeline_slots = window / 4;
	}
	next_seq = 0;
	return pxh_new(&o);
}

static struct pxh_cluster *cluster(uint8_t n, uint64_t seed)
{
	return cluster_opts(n, 0, seed);
}

/** Proposes one put at node l; true if taken. */
static bool put(struct pxh_cluster *c, uint8_t l)
{
	static uint8_t buf[64];
	char v[24];
	struct px_cmd_ref ref;
	int vl = snprintf(v, sizeof(v), "v%llu", (unsigned long long)next_seq + 1);
	uint32_t len = wire_kv_encode_put(buf, sizeof(buf), "k", 1, v, (uint32_t)vl);
	assert_true(len > 0);
	ref.client_id = 77;
	ref.seq = ++next_seq;
	ref.len = len;
	ref.body = buf;
	return pxh_propose(c, l, &ref, 1) == 1;
}

/** A message from `from` as a replica of this harness would build it (cluster 1,
 *  epoch 1, a crash vector of zeros: nothing restarted). */
static void craft(struct px_msg *m, uint8_t n, uint8_t from, uint8_t type)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->from = from;
	m->to = PX_NODE_NONE;
	m->cluster_id = 1;
	m->config_epoch = 1;
	m->n_inc = n;
}

/* The empty batch: a valid no-op value. */
static const uint8_t noop_value[4] = {0, 0, 0, 0};

static uint64_t drops(struct pxh_cluster *c, uint8_t i, enum px_drop why)
{
	return px_counters(pxh_replica(c, i))->drops[why];
}

/** Index of the first queued message from -> to of this type, or UINT32_MAX. */
static uint32_t find_queued(struct pxh_cluster *c, uint8_t from, uint8_t to, uint8_t type)
{
	struct px_msg m;
	for (uint32_t k = 0; k < pxh_queued(c); k++) {
		const struct pxh_msg *q = pxh_peek(c, k);
		if (q->from == from && q->to == to && pxh_decode_at(c, k, &m) && m.type == type)
			return k;
	}
	return UINT32_MAX;
}

/** The harness leader after an election and a few rounds; asserts one exists. */
static uint8_t elect(struct pxh_cluster *c)
{
	uint8_t l = pxh_elect(c, 1000);
	assert_int_not_equal(l, PX_NODE_NONE);
	pxh_run(c, 3);
	return l;
}

/** Puts k commands through the leader; returns its commit point after. */
static uint64_t commit_some(struct pxh_cluster *c, uint8_t l, int k)
{
	for (int i = 0; i < k; i++) {
		assert_true(put(c, l));
		pxh_run(c, 2);
	}
	return px_commit(pxh_replica(c, l));
}

/* ---- defect 1: STATE_NEEDED ---- */

/* A leader never enters state transfer: it keeps leading and applying. */
static void test_leader_ignores_state_needed(void **state)
{
	(void)state;
	struct pxh_cluster *c = cluster(3, 11);
	uint8_t l = elect(c), f = (uint8_t)((l + 1) % 3);
	uint64_t commit = commit_some(c, l, 3);
	struct px_msg m;
	craft(&m, 3, f, PX_MSG_STATE_NEEDED);
	m.to = l;
	m.ballot = px_promised(pxh_replica(c, l));
	m.slot_lo = commit + 1000;
	m.commit = commit + 999;
	assert_true(pxh_inject(c, l, &m));
	pxh_deliver_all(c, 1000);
	assert_false(px_needs_state_transfer(pxh_replica(c, l)));
	assert_int_equal(px_role(pxh_replica(c, l)), PX_LEADER);
	uint64_t after = commit_some(c, l, 3);
	assert_true(after > commit);
	assert_int_equal(px_applier_last_slot(pxh_applier(c, l)), after);
	pxh_free(c);
}

/* A candidate told by an acceptor of its ballot that slots it lacks are gone steps
 * down, and does not stop applying: another replica will lead. */
static void test_candidate_steps_down_on_state_needed(void **state)
{
	(void)state;
	struct pxh_cluster *c = cluster(3, 12);
	uint8_t l = elect(c);
	commit_some(c, l, 2);
	pxh_isolate(c, l, true);
	uint8_t cand = PX_NODE_NONE;
	for (int t = 0; t < 500 && cand == PX_NODE_NONE; t++) {
		for (uint8_t i = 0; i < 3; i++)
			if (i != l)
				pxh_tick(c, i);
		while (cand == PX_NODE_NONE && pxh_deliver_one(c)) {
			for (uint8_t i = 0; i < 3; i++)
				if (i != l && px_role(pxh_replica(c, i)) == PX_CANDIDATE)
					cand = i;
		}
	}
	assert_int_not_equal(cand, PX_NODE_NONE);
	pxh_drop(c, PX_NODE_NONE, PX_NODE_NONE);
	uint8_t other = (uint8_t)(3 - l - cand);
	struct px_msg m;
	craft(&m, 3, other, PX_MSG_STATE_NEEDED);
	m.to = cand;
	m.ballot = px_promised(pxh_replica(c, cand));
	m.slot_lo = 500;
	m.commit = 499;
	assert_true(pxh_inject(c, cand, &m));
	pxh_deliver_all(c, 1000);
	assert_int_equal(px_role(pxh_replica(c, cand)), PX_FOLLOWER);
	assert_false(px_needs_state_transfer(pxh_replica(c, cand)));
	pxh_free(c);
}

/* A follower believes STATE_NEEDED only from its leader, at its ballot, and only when it
 * lacks a slot below the leader's window: not when it holds everything up to there
 * accepted (its commit point lags its ack), and not from another node. */
static void test_follower_state_needed_only_when_true(void **state)
{
	(void)state;
	struct pxh_cluster *c = cluster(3, 13);
	uint8_t l = elect(c), f = (uint8_t)((l + 1) % 3), g = (uint8_t)((l + 2) % 3);
	commit_some(c, l, 2);
	/* Three slots reach f alone; nothing comes back, so the leader's commit point and
	 * what f knows of it stay behind f's ack. */
	for (int i = 0; i < 3; i++) {
		assert_true(put(c, l));
		uint32_t k = find_queued(c, l, f, PX_MSG_ACCEPT);
		assert_int_not_equal(k, UINT32_MAX);
		pxh_deliver_at(c, k);
		pxh_drop(c, PX_NODE_NONE, PX_NODE_NONE);
	}
	uint64_t last = px_last_slot(pxh_replica(c, l));
	uint64_t commit_f = px_commit(pxh_replica(c, f));
	assert_true(last >= commit_f + 3);

	struct px_msg m;
	craft(&m, 3, l, PX_MSG_STATE_NEEDED);
	m.to = f;
	m.ballot = px_promised(pxh_replica(c, l));
	m.slot_lo = last;          /* above f's commit + 1, not above its ack + 1 */
	m.commit = last;
	assert_true(pxh_inject(c, f, &m));
	/* The same from a follower that does not lead, far above everything. */
	craft(&m, 3, g, PX_MSG_STATE_NEEDED);
	m.to = f;
	m.ballot = px_promised(pxh_replica(c, l));
	m.slot_lo = last + 1000;
	m.commit = last + 999;
	assert_true(pxh_inject(c, f, &m));
	pxh_deliver_all(c, 1000);
	assert_false(px_needs_state_transfer(pxh_replica(c, f)));
	/* And it catches up: it needed nothing but the commit point. */
	pxh_run(c, 6);
	assert_int_equal(px_applier_last_slot(pxh_applier(c, f)), px_commit(pxh_replica(c, l)));
	pxh_free(c);
}

/* ---- defect 2: an incarnation announced by a failed recovery ---- */

/** Links between x and the nodes in `keep` (bit set) up, the rest of x's links cut. */
static void links_of(struct pxh_cluster *c, uint8_t n, uint8_t x, uint32_t keep)
{
	for (uint8_t k = 0; k < n; k++) {
		if (k == x)
			continue;
		pxh_cut(c, x, k, !(keep & (1u << k)));
		pxh_cut(c, k, x, !(keep & (1u << k)));
	}
}

/** True if x has a round-2 RECOVER (an announcement) queued. */
static bool announcing(struct pxh_cluster *c, uint8_t x)
{
	struct px_msg m;
	for (uint32_t k = 0; k < pxh_queued(c); k++)
		if (pxh_peek(c, k)->from == x && pxh_decode_at(c, k, &m) &&
		    m.type == PX_MSG_RECOVER && (m.flags & PX_MF_ANNOUNCE))
			return true;
	return false;
}

/** The incarnation x's messages carry now (it ticks once to send one). */
static uint32_t own_incarnation(struct pxh_cluster *c, uint8_t x)
{
	struct px_msg m;
	pxh_drop(c, PX_NODE_NONE, PX_NODE_NONE);
	for (int t = 0; t < 50 && pxh_queued(c) == 0; t++)
		pxh_tick(c, x);
	assert_true(pxh_queued(c) > 0);
	assert_true(pxh_decode_at(c, 0, &m));
	assert_int_equal(m.from, x);
	pxh_drop(c, PX_NODE_NONE, PX_NODE_NONE);
	return m.incarnation[x];
}

/** One recovery attempt of x: round 1 answered by `r1`, its announcement delivered to
 *  `r2` only; then x crashes. */
static void failed_recovery(struct pxh_cluster *c, uint8_t n, uint8_t x, uint32_t r1,
			    uint32_t r2)
{
	pxh_restart(c, x);
	assert_int_equal(px_role(pxh_replica(c, x)), PX_RECOVERING);
	links_of(c, n, x, r1);
	pxh_tick(c, x);
	while (!announcing(c, x) && pxh_deliver_one(c))
		;
	assert_true(announcing(c, x));
	links_of(c, n, x, r2);
	pxh_deliver_all(c, 100000);
	assert_int_equal(px_role(pxh_replica(c, x)), PX_RECOVERING);
	pxh_crash(c, x);
	pxh_drop(c, PX_NODE_NONE, PX_NODE_NONE);
}

/*
 * Seven replicas, memory mode. Replica x restarts three times. Life 1 completes round 1
 * and announces incarnation 1 to one replica only, then crashes; life 2 learns 1 from
 * that replica, announces 2 to another one only, and crashes; both of those replicas
 * are then cut off. Life 3 recovers from four replicas that never heard of either, and
 * ends at incarnation 1. When the two come back, incarnation 2 spreads and every
 * replica drops x's messages as stale, unless x takes 2 for itself, which it must: no
 * life of x that voted ever had it. Then x's vote is made necessary for a quorum.
 */
static void test_incarnation_of_failed_life_adopted(void **state)
{
	(void)state;
	struct pxh_cluster *c = cluster(7, 21);
	uint8_t l = elect(c);
	commit_some(c, l, 2);
	uint8_t o[6], n_o = 0, x = (uint8_t)((l + 1) % 7);
	/* Others of x: the two that hear the lost announcements first, then the rest,
	 * the leader among the last four. */
	for (uint8_t i = 0; i < 7; i++)
		if (i != x && i != l)
			o[n_o++] = i;
	o[n_o++] = l;
	assert_int_equal(n_o, 6);
	uint32_t first4 = (1u << o[0]) | (1u << o[1]) | (1u << o[2]) | (1u << o[3]);

	/* Life 1: round 1 from o[0..3]; its announcement reaches o[0] only, which is then
	 * cut off from everyone (so it tells nobody). */
	pxh_crash(c, x);
	pxh_drop(c, PX_NODE_NONE, PX_NODE_NONE);
	failed_recovery(c, 7, x, first4, 1u << o[0]);
	pxh_isolate(c, o[0], true);

	/* Life 2: round 1 from o[0..3] (o[0] knows 1): incarnation 2, announced to o[1]
	 * only, which is cut off too. */
	failed_recovery(c, 7, x, first4, 1u << o[1]);
	pxh_isolate(c, o[0], true);
	pxh_isolate(c, o[1], true);

	/* Life 3: from o[2..5], who know nothing of lives 1 and 2: incarnation 1. */
	links_of(c, 7, x, (1u << o[2]) | (1u << o[3]) | (1u << o[4]) | (1u << o[5]));
	pxh_restart(c, x);
	for (int t = 0; t < 20 && px_role(pxh_replica(c, x)) == PX_RECOVERING; t++) {
		pxh_tick(c, x);
		pxh_deliver_all(c, 100000);
	}
	assert_int_equal(px_role(pxh_replica(c, x)), PX_FOLLOWER);

	/* o[0] and o[1] come back; the leader learns incarnation 2 of x from o[1]. */
	pxh_isolate(c, o[0], false);
	pxh_isolate(c, o[1], false);
	pxh_run(c, 10);

	/* x's vote is needed: the leader, x and two more make the quorum of four. */
	pxh_isolate(c, o[0], true);
	pxh_isolate(c, o[1], true);
	pxh_isolate(c, o[2], true);
	uint64_t before = px_commit(pxh_replica(c, l));
	for (int i = 0; i < 3; i++) {
		put(c, l);
		pxh_run(c, 2);
	}
	assert_true(px_commit(pxh_replica(c, l)) >= before + 3);
	assert_int_equal(pxh_leader(c), l);
	assert_true(px_counters(pxh_replica(c, x))->incarnation_adopted >= 1);
	assert_int_equal(own_incarnation(c, x), 2);

	/* x announced 2 to f + 1 replicas before voting with it: its next life, whichever
	 * f + 1 replicas answer its round 1, learns 2 and takes a higher number, so the
	 * votes it gave at 2 are fenced. */
	pxh_isolate(c, o[0], false);
	pxh_isolate(c, o[1], false);
	pxh_isolate(c, o[2], false);
	pxh_crash(c, x);
	pxh_drop(c, PX_NODE_NONE, PX_NODE_NONE);
	links_of(c, 7, x, (1u << o[0]) | (1u << o[1]) | (1u << o[2]) | (1u << o[3]));
	pxh_restart(c, x);
	for (int t = 0; t < 20 && px_role(pxh_replica(c, x)) == PX_RECOVERING; t++) {
		pxh_tick(c, x);
		pxh_deliver_all(c, 100000);
	}
	assert_int_equal(px_role(pxh_replica(c, x)), PX_FOLLOWER);
	assert_true(own_incarnation(c, x) >= 3);
	pxh_free(c);
}

/* ---- defect 4: numbers bounded by what the receiver knows ---- */

struct ack_watch {
	struct pxh_cluster *c;
	uint8_t node;
	uint64_t over_commit;   /**< most an ACCEPTED of node's acked past its commit */
};

static void watch_acks(void *ctx, const struct px_msg *m, uint8_t to)
{
	struct ack_watch *w = ctx;
	(void)to;
	if (w->c == NULL || m->type != PX_MSG_ACCEPTED || m->from != w->node)
		return;
	/* Delivered after it was sent: the sender's commit point now is at least the one
	 * it had then. */
	uint64_t commit = px_commit(pxh_replica(w->c, w->node));
	if (m->slot_hi > commit && m->slot_hi - commit > w->over_commit)
		w->over_commit = m->slot_hi - commit;
}

/* A replica waiting for state transfer moves its window for an ACCEPT only as far as the
 * leader can hold (its commit point plus a window), never to 2^64 - 1; and it
 * acknowledges only slots it holds, never the ones it skipped. */
static void test_state_transfer_window_and_acks(void **state)
{
	(void)state;
	struct ack_watch w = {NULL, 0, 0};
	struct pxh_opts o;
	pxh_opts_default(&o, 3);
	o.seed = 31;
	o.check_invariants = true;
	o.window_slots = 32;
	o.pipeline_slots = 8;
	o.trace = watch_acks;
	o.trace_ctx = &w;
	struct pxh_cluster *c = pxh_new(&o);
	next_seq = 0;
	uint8_t l = elect(c), f = (uint8_t)((l + 1) % 3);
	pxh_isolate(c, f, true);
	for (int t = 0; t < 100; t++) {
		put(c, l);
		pxh_run(c, 1);
	}
	uint64_t commit = px_commit(pxh_replica(c, l));
	assert_true(commit > 64);
	w.c = c;
	w.node = f;
	pxh_isolate(c, f, false);
	pxh_run(c, 40);
	struct px_replica *rf = pxh_replica(c, f);
	assert_true(px_needs_state_transfer(rf));
	/* New slots move its window along; its ACCEPTEDs still cover nothing past its own
	 * commit point: below the window is a gap it never held. */
	for (int t = 0; t < 40; t++) {
		put(c, l);
		pxh_run(c, 1);
	}
	assert_true(px_last_slot(rf) > px_commit(rf) + 32);
	assert_int_equal(w.over_commit, 0);

	commit = px_commit(pxh_replica(c, l));
	uint64_t last_f = px_last_slot(rf);
	struct px_msg m;
	craft(&m, 3, l, PX_MSG_ACCEPT);
	m.ballot = px_promised(pxh_replica(c, l));
	m.commit = commit;
	m.n_entries = 1;
	m.entries[0].slot = UINT64_MAX - 1;
	m.entries[0].vballot = m.ballot;
	m.entries[0].len = sizeof(noop_value);
	m.entries[0].value = noop_value;
	uint64_t bound_before = drops(c, f, PX_DROP_BOUND);
	assert_true(pxh_inject(c, f, &m));
	/* Just past what the leader could hold: refused too. */
	m.entries[0].slot = commit + 32 + 1;
	assert_true(pxh_inject(c, f, &m));
	pxh_deliver_all(c, 1000);
	assert_true(px_last_slot(rf) <= commit + 32);
	assert_true(px_last_slot(rf) >= last_f);
	assert_int_equal(drops(c, f, PX_DROP_BOUND), bound_before + 2);
	/* A PREPARE still gets an answer (paging ends). */
	pxh_run(c, 5);
	pxh_free(c);
}

/* An ACCEPT whose ballot names another node than its sender is refused; PX_EF_CHOSEN is
 * believed only where the leader's commit point covers the slot. */
static void test_accept_sender_and_chosen(void **state)
{
	(void)state;
	struct pxh_cluster *c = cluster(3, 41);
	uint8_t l = elect(c), f = (uint8_t)((l + 1) % 3), g = (uint8_t)((l + 2) % 3);
	uint64_t commit = commit_some(c, l, 2);
	pxh_run(c, 2);
	struct px_replica *rf = pxh_replica(c, f);
	assert_int_equal(px_commit(rf), commit);

	/* g claims the leader's ballot and a chosen slot. */
	struct px_msg m;
	craft(&m, 3, g, PX_MSG_ACCEPT);
	m.ballot = px_promised(pxh_replica(c, l));
	m.commit = commit + 1;
	m.n_entries = 1;
	m.entries[0].slot = commit + 1;
	m.entries[0].vballot = m.ballot;
	m.entries[0].flags = PX_EF_CHOSEN;
	m.entries[0].len = sizeof(noop_value);
	m.entries[0].value = noop_value;
	assert_true(pxh_inject(c, f, &m));
	pxh_deliver_all(c, 1000);
	assert_int_equal(px_commit(rf), commit);
	assert_int_equal(px_leader_hint(rf), l);
	assert_int_equal(drops(c, f, PX_DROP_SENDER), 1);

	/* From the leader's node at a higher ballot, a "chosen" slot past its commit
	 * point: accepted as a proposal, not as chosen, so nothing is applied. */
	craft(&m, 3, l, PX_MSG_ACCEPT);
	m.ballot = px_ballot_make(px_ballot_round(px_promised(rf)) + 5, l);
	m.commit = commit;
	m.n_entries = 1;
	m.entries[0].slot = commit + 1;
	m.entries[0].vballot = m.ballot;
	m.entries[0].flags = PX_EF_CHOSEN;
	m.entries[0].len = sizeof(noop_value);
	m.entries[0].value = noop_value;
	assert_true(pxh_inject(c, f, &m));
	pxh_deliver_one(c);
	assert_int_equal(px_commit(rf), commit);
	assert_int_equal(px_applier_last_slot(pxh_applier(c, f)), commit);
	pxh_free(c);
}

/* A PREPARE at a round no honest cluster reaches is refused; the cluster keeps a leader
 * and commits (before: the next ballot wrapped and no leader was ever elected). */
static void test_round_ceiling(void **state)
{
	(void)state;
	struct pxh_cluster *c = cluster(3, 51);
	uint8_t l = elect(c), g = (uint8_t)((l + 2) % 3);
	uint64_t commit = commit_some(c, l, 2);
	struct px_msg m;
	craft(&m, 3, g, PX_MSG_PREPARE);
	m.ballot = px_ballot_make((1ull << 56) - 1, g);
	m.slot_lo = commit + 1;
	m.commit = commit;
	for (uint8_t i = 0; i < 3; i++)
		if (i != g)
			assert_true(pxh_inject(c, i, &m));
	pxh_deliver_all(c, 1000);
	assert_int_equal(px_role(pxh_replica(c, l)), PX_LEADER);
	assert_true(px_ballot_round(px_promised(pxh_replica(c, g))) < 100);
	for (uint8_t i = 0; i < 3; i++)
		if (i != g)
			assert_int_equal(drops(c, i, PX_DROP_BOUND), 1);
	/* Even with the leader gone, the others elect one at an ordinary round. */
	pxh_crash(c, l);
	uint8_t l2 = PX_NODE_NONE;
	for (int t = 0; t < 2000 && l2 == PX_NODE_NONE; t++) {
		pxh_run(c, 1);
		l2 = pxh_leader(c);
	}
	assert_int_not_equal(l2, PX_NODE_NONE);
	assert_true(px_ballot_round(px_promised(pxh_replica(c, l2))) < 100);
	assert_true(commit_some(c, l2, 2) > commit);
	pxh_free(c);
}

/* Crash vectors: 0xffffffff everywhere, or any entry at the ceiling, is refused; a
 * believable jump in the incarnation of a live replica is learned by everyone, the
 * replica itself included, which takes it, announces it and is not fenced. */
static void test_crash_vector_bounds(void **state)
{
	(void)state;
	struct pxh_cluster *c = cluster(3, 61);
	uint8_t l = elect(c), f = (uint8_t)((l + 1) % 3), g = (uint8_t)((l + 2) % 3);
	uint64_t commit = commit_some(c, l, 2);
	struct px_msg m;
	craft(&m, 3, f, PX_MSG_ACCEPTED);
	m.to = l;
	m.ballot = px_promised(pxh_replica(c, l));
	m.slot_hi = commit;
	m.commit = commit;
	for (uint8_t j = 0; j < 3; j++)
		m.incarnation[j] = UINT32_MAX;
	assert_true(pxh_inject(c, l, &m));
	for (uint8_t j = 0; j < 3; j++)
		m.incarnation[j] = 0;
	m.incarnation[g] = PX_INCARNATION_MAX;
	assert_true(pxh_inject(c, l, &m));
	pxh_deliver_all(c, 1000);
	pxh_run(c, 30);
	assert_int_equal(px_role(pxh_replica(c, l)), PX_LEADER);
	assert_true(commit_some(c, l, 2) >= commit + 2);
	commit = px_commit(pxh_replica(c, l));
	assert_int_equal(drops(c, l, PX_DROP_BOUND), 2);

	/* A believable jump for g: the leader and f learn it, g takes it for itself. */
	m.incarnation[g] = 70000;
	assert_true(pxh_inject(c, l, &m));
	pxh_deliver_all(c, 1000);
	pxh_run(c, 4);
	assert_true(px_counters(pxh_replica(c, g))->incarnation_adopted >= 1);
	/* g's vote is needed: f is cut off. */
	pxh_isolate(c, f, true);
	assert_true(commit_some(c, l, 3) >= commit + 3);
	assert_int_equal(px_role(pxh_replica(c, l)), PX_LEADER);
	pxh_free(c);
}

/* Durable mode (docs/consistency.md, "Repair of a damaged journal"): a replica answers
 * a round-2 RECOVER only once the crash vector that records the announced number is in
 * its journal, so that its messages after a restart of its own still fence the
 * announcer's earlier life; its own entry is the number of its last completed
 * recovery. A crash vector entry in [1, PX_INCARNATION_MAX) is taken in durable mode. */
static void test_durable_announce_waits_for_vector(void **state)
{
	(void)state;
	static struct px_out out;
	static uint8_t arena[1u << 22];
	struct px_config cfg;
	px_config_default(&cfg, 3, 1);
	cfg.durability = PX_DURABLE;
	cfg.window_slots = 64;
	cfg.pipeline_slots = 8;
	assert_true(px_replica_arena_bytes(&cfg) <= sizeof(arena));
	struct px_replica *r = px_replica_init(&cfg, arena, sizeof(arena));
	assert_non_null(r);
	uint32_t inc[3] = {0, 4, 0};
	assert_int_equal(px_restore_incarnations(r, inc, 3), 0);
	assert_int_equal(px_incarnation(r, 1), 4);

	struct px_msg m;
	craft(&m, 3, 2, PX_MSG_RECOVER);
	m.to = 1;
	m.flags = PX_MF_ANNOUNCE;
	m.nonce = 99;
	m.slot_lo = 1;
	m.incarnation[1] = 4;
	m.incarnation[2] = 3;
	px_out_reset(&out);
	px_step(r, &m, &out);
	assert_int_equal(out.dropped, 0);
	assert_int_equal(px_incarnation(r, 2), 3);
	/* No answer yet: first the vector goes to the journal. */
	for (uint32_t i = 0; i < out.n_msgs; i++)
		assert_int_not_equal(out.msgs[i].type, PX_MSG_RECOVER_REPLY);
	assert_int_not_equal(out.persist_seq, 0);
	assert_int_equal(out.persist_n_inc, 3);
	assert_int_equal(out.persist_inc[0], 0);
	assert_int_equal(out.persist_inc[1], 4);
	assert_int_equal(out.persist_inc[2], 3);
	uint64_t seq = out.persist_seq;
	/* Asked again before it is durable: still no answer, no second request. */
	px_out_reset(&out);
	px_step(r, &m, &out);
	assert_int_equal(out.persist_seq, 0);
	for (uint32_t i = 0; i < out.n_msgs; i++)
		assert_int_not_equal(out.msgs[i].type, PX_MSG_RECOVER_REPLY);
	px_out_reset(&out);
	px_persisted(r, seq, &out);
	px_out_reset(&out);
	px_step(r, &m, &out);
	uint32_t replies = 0;
	for (uint32_t i = 0; i < out.n_msgs; i++) {
		if (out.msgs[i].type != PX_MSG_RECOVER_REPLY)
			continue;
		replies++;
		assert_int_equal(out.msgs[i].to, 2);
		assert_int_equal(out.msgs[i].nonce, 99);
		assert_int_equal(out.msgs[i].incarnation[2], 3);
	}
	assert_int_equal(replies, 1);
	/* An unchanged vector is not written again. */
	assert_int_equal(out.persist_n_inc, 0);
	/* A repair start takes no journal state. */
	cfg.restarted = true;
	cfg.boot_nonce = 7;
	r = px_replica_init(&cfg, arena, sizeof(arena));
	assert_non_null(r);
	assert_int_equal(px_role(r), PX_RECOVERING);
	assert_int_equal(px_restore_incarnations(r, inc, 3), -EINVAL);
	assert_int_equal(px_restore_promise(r, 5), -EINVAL);
}

/* A replica that holds a newer incarnation of a peer than the peer sent tells it (a NACK
 * carrying its crash vector), once per heartbeat interval, instead of dropping it in
 * silence: one that never sends anything of its own (in state transfer it never
 * campaigns) would otherwise fence the peer for good. Found by the 200,000-seed soak
 * (seeds 50706, 65539, 72169, 77410: a replica stuck re-announcing, or fenced, while
 * the only ones who knew its number needed a state transfer). */
static void test_stale_incarnation_answered(void **state)
{
	(void)state;
	struct pxh_cluster *c = cluster(3, 81);
	uint8_t l = elect(c), f = (uint8_t)((l + 1) % 3), g = (uint8_t)((l + 2) % 3);
	uint64_t commit = commit_some(c, l, 2);
	struct px_msg m;

	/* g learns a believable newer number for l (as a mangled vector would bring). */
	pxh_drop(c, PX_NODE_NONE, PX_NODE_NONE);
	craft(&m, 3, f, PX_MSG_NACK);
	m.to = g;
	m.ballot = px_promised(pxh_replica(c, g));
	m.incarnation[l] = 9;
	assert_true(pxh_inject(c, g, &m));
	pxh_deliver_all(c, 10);
	pxh_drop(c, PX_NODE_NONE, PX_NODE_NONE);

	/* Two heartbeats of l, at the number l knows for itself, in one interval. */
	craft(&m, 3, l, PX_MSG_ACCEPT);
	m.to = g;
	m.ballot = px_promised(pxh_replica(c, l));
	m.commit = px_commit(pxh_replica(c, l));
	assert_true(pxh_inject(c, g, &m));
	assert_true(pxh_inject(c, g, &m));
	uint64_t stale0 = drops(c, g, PX_DROP_STALE_INCARNATION);
	assert_int_equal(pxh_deliver_all(c, 2), 2);
	assert_int_equal(drops(c, g, PX_DROP_STALE_INCARNATION), stale0 + 2);
	/* Answered once, with g's crash vector. */
	assert_int_equal(pxh_queued(c), 1);
	uint32_t k = find_queued(c, g, l, PX_MSG_NACK);
	assert_int_not_equal(k, UINT32_MAX);
	struct px_msg nack;
	assert_true(pxh_decode_at(c, k, &nack));
	assert_int_equal(nack.incarnation[l], 9);
	assert_int_equal(px_counters(pxh_replica(c, g))->incarnation_told, 1);

	/* l takes the number, announces it, and its vote counts again: with f cut off,
	 * whoever leads needs l and g. */
	pxh_deliver_all(c, 1000);
	pxh_run(c, 30);
	assert_true(px_counters(pxh_replica(c, l))->incarnation_adopted >= 1);
	pxh_isolate(c, f, true);
	pxh_run(c, 60);
	uint8_t L = pxh_leader(c);
	assert_true(L == l || L == g);
	assert_true(commit_some(c, L, 3) >= commit + 3);
	assert_int_equal(own_incarnation(c, l), 9);
	pxh_free(c);
}

/* ---- read echoes ---- */

/* A mangled read round in one heartbeat does not silence a follower's echoes for the
 * rest of the leadership: reads are confirmed again with the next ACCEPT. */
static void test_read_echo_recovers_from_mangled_round(void **state)
{
	(void)state;
	struct pxh_cluster *c = cluster(3, 71);
	uint8_t l = elect(c);
	uint64_t commit = commit_some(c, l, 2);
	struct px_msg m;
	craft(&m, 3, l, PX_MSG_ACCEPT);
	m.ballot = px_promised(pxh_replica(c, l));
	m.commit = commit;
	m.read_round = 1ull << 60;
	for (uint8_t i = 0; i < 3; i++)
		if (i != l)
			assert_true(pxh_inject(c, i, &m));
	pxh_deliver_all(c, 1000);
	uint64_t idx = 0;
	uint64_t t = pxh_read_begin(c, l, &idx);
	assert_true(t > 0);
	pxh_run(c, 4);
	assert_true(pxh_read_confirmed(c, l) >= t);
	pxh_free(c);
}

/* ---- elections ---- */

/* A replica that hears from a leader ignores a PREPARE that does not come from a
 * leadership transfer; one that does (PX_MF_FORCE) it obeys. */
static void test_prepare_while_leader_alive(void **state)
{
	(void)state;
	struct pxh_cluster *c = cluster(3, 81);
	uint8_t l = elect(c), f = (uint8_t)((l + 1) % 3), g = (uint8_t)((l + 2) % 3);
	uint64_t commit = commit_some(c, l, 2);
	uint64_t promised = px_promised(pxh_replica(c, f));
	struct px_msg m;
	craft(&m, 3, g, PX_MSG_PREPARE);
	m.to = f;
	m.ballot = px_ballot_make(px_ballot_round(promised) + 1, g);
	m.slot_lo = commit + 1;
	m.commit = commit;
	assert_true(pxh_inject(c, f, &m));
	pxh_deliver_all(c, 1000);
	assert_int_equal(px_promised(pxh_replica(c, f)), promised);
	assert_int_equal(drops(c, f, PX_DROP_LEADER_ALIVE), 1);
	m.flags = PX_MF_FORCE;
	assert_true(pxh_inject(c, f, &m));
	pxh_deliver_one(c);
	assert_int_equal(px_promised(pxh_replica(c, f)), m.ballot);
	pxh_free(c);
}

struct prevote_watch {
	uint8_t node;
	uint64_t round_max;
};

static void watch_prevotes(void *ctx, const struct px_msg *m, uint8_t to)
{
	struct prevote_watch *w = ctx;
	(void)to;
	if (m->type == PX_MSG_PREVOTE && m->from == w->node &&
	    px_ballot_round(m->ballot) > w->round_max)
		w->round_max = px_ballot_round(m->ballot);
}

/* A precandidate that cannot hear the leader, refused again and again, asks with the
 * same round: a refusal carries the responder's promise, not an echo of the asked
 * ballot (which made it climb one round per timeout). */
static void test_refused_prevote_does_not_climb(void **state)
{
	(void)state;
	struct prevote_watch w = {0, 0};
	struct pxh_opts o;
	pxh_opts_default(&o, 3);
	o.seed = 91;
	o.check_invariants = true;
	o.trace = watch_prevotes;
	o.trace_ctx = &w;
	struct pxh_cluster *c = pxh_new(&o);
	uint8_t l = elect(c), g = (uint8_t)((l + 2) % 3);
	commit_some(c, l, 1);
	w.node = g;
	w.round_max = 0;
	uint64_t round = px_ballot_round(px_promised(pxh_replica(c, l)));
	pxh_cut(c, l, g, true);        /* g does not hear the leader; the rest is up */
	pxh_run(c, 40 * o.election_ticks);
	assert_int_equal(px_role(pxh_replica(c, l)), PX_LEADER);
	assert_true(w.round_max > 0);
	assert_true(w.round_max <= round + 1);
	pxh_free(c);
}

/* ---- the rest of the bounds ---- */

/* An epoch no configuration can have, another addressee, an
 * entry accepted at a ballot above the message's: each refused and counted, nothing
 * changed. (An epoch above ours from a member is believed: we may lag behind a change.) */
static void test_misc_bounds(void **state)
{
	(void)state;
	struct pxh_cluster *c = cluster(3, 101);
	uint8_t l = elect(c), f = (uint8_t)((l + 1) % 3), g = (uint8_t)((l + 2) % 3);
	uint64_t commit = commit_some(c, l, 2);
	pxh_run(c, 2);
	struct px_msg m;
	craft(&m, 3, l, PX_MSG_ACCEPT);
	m.ballot = px_promised(pxh_replica(c, l));
	m.commit = commit + 1;
	m.n_entries = 1;
	m.entries[0].slot = commit + 1;
	m.entries[0].vballot = m.ballot;
	m.entries[0].flags = PX_EF_CHOSEN;
	m.entries[0].len = sizeof(noop_value);
	m.entries[0].value = noop_value;

	m.config_epoch = PX_EPOCH_MAX + 1;
	assert_true(pxh_inject(c, f, &m));
	m.config_epoch = 1;
	m.to = g;                      /* delivered to f */
	assert_true(pxh_inject(c, f, &m));
	m.to = PX_NODE_NONE;
	m.entries[0].vballot = m.ballot + (1u << 8);
	assert_true(pxh_inject(c, f, &m));
	pxh_deliver_all(c, 1000);
	assert_int_equal(px_commit(pxh_replica(c, f)), commit);
	assert_int_equal(drops(c, f, PX_DROP_EPOCH), 1);
	assert_int_equal(drops(c, f, PX_DROP_NOT_FOR_US), 1);
	assert_int_equal(drops(c, f, PX_DROP_BOUND), 1);
	pxh_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_leader_ignores_state_needed),
		cmocka_unit_test(test_candidate_steps_down_on_state_needed),
		cmocka_unit_test(test_follower_state_needed_only_when_true),
		cmocka_unit_test(test_incarnation_of_failed_life_adopted),
		cmocka_unit_test(test_state_transfer_window_and_acks),
		cmocka_unit_test(test_accept_sender_and_chosen),
		cmocka_unit_test(test_round_ceiling),
		cmocka_unit_test(test_crash_vector_bounds),
		cmocka_unit_test(test_durable_announce_waits_for_vector),
		cmocka_unit_test(test_stale_incarnation_answered),
		cmocka_unit_test(test_read_echo_recovers_from_mangled_round),
		cmocka_unit_test(test_prepare_while_leader_alive),
		cmocka_unit_test(test_refused_prevote_does_not_climb),
		cmocka_unit_test(test_misc_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
