/* SPDX-License-Identifier: Apache-2.0
 * State transfer (node.h, "Snapshots and state transfer"; docs/storage.md): a replica
 * that falls behind the cluster's log window fetches a snapshot of another replica's
 * applied state in chunks, installs it (px_state_installed) and catches up from the
 * log. Driven through the in-process harness: the real node, codec, applier and kv
 * service on every replica. Each test asserts the outcome: the lagging replica applies
 * again and its state equals the others', or a bad message is counted and changes
 * nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node.h"
#include "px.h"
#include "px_apply.h"
#include "px_codec.h"
#include "px_batch.h"
#include "pxh.h"
#include "svc_kv.h"

#define WINDOW 64u

static uint64_t next_seq;

/** The cluster id and epoch the harness's replicas run with (px_config_default's). */
static uint32_t cluster_id(void)
{
	struct px_config cfg;
	px_config_default(&cfg, 3, 0);
	return cfg.cluster_id;
}

static uint32_t config_epoch(void)
{
	struct px_config cfg;
	px_config_default(&cfg, 3, 0);
	return cfg.config_epoch;
}

static struct pxh_cluster *cluster(enum px_durability d, uint64_t seed)
{
	struct pxh_opts o;
	pxh_opts_default(&o, 3);
	o.seed = seed;
	o.durability = d;
	o.window_slots = WINDOW;
	o.pipeline_slots = 8;
	o.batch_cmds_max = 4;
	o.check_invariants = true;
	o.snapshots = true;
	next_seq = 0;
	return pxh_new(&o);
}

/** Ticks the nodes in mask (and delivers) until one of them leads. */
static uint8_t elect_among(struct pxh_cluster *c, uint32_t mask, uint32_t max_ticks)
{
	for (uint32_t t = 0; t < max_ticks; t++) {
		for (uint8_t i = 0; i < 3; i++)
			if ((mask & (1u << i)) && pxh_is_up(c, i) &&
			    px_role(pxh_replica(c, i)) == PX_LEADER)
				return i;
		for (uint8_t i = 0; i < 3; i++)
			if (mask & (1u << i))
				pxh_tick(c, i);
		pxh_deliver_all(c, 100000);
	}
	return PX_NODE_NONE;
}

/** Writes k distinct keys through leader l (one client, registered first), a command
 *  per slot or so, ticking the nodes in mask so that they commit. */
static void write_keys(struct pxh_cluster *c, uint8_t l, uint32_t mask, uint32_t from,
		       uint32_t k)
{
	static const uint64_t nonce = 7001;
	uint64_t id = pxh_session(c, nonce);
	if (id == 0) {
		assert_int_equal(pxh_register(c, l, &nonce, 1, &id), 1);
		next_seq = 0;
	}
	for (uint32_t i = from; i < from + k; i++) {
		uint8_t buf[96];
		char key[32], val[48];
		snprintf(key, sizeof(key), "key-%u", i);
		snprintf(val, sizeof(val), "value-%u-of-a-state-transfer-test", i);
		uint32_t len = wire_kv_encode_put(buf, sizeof(buf), key, (uint8_t)strlen(key), val,
						(uint32_t)strlen(val));
		assert_true(len > 0);
		struct px_cmd_ref ref = { .client_id = id, .seq = ++next_seq, .len = len,
					  .body = buf };
		/* Bounded: the pipeline frees up as the others acknowledge. */
		for (uint32_t t = 0; t < 1000 && pxh_propose(c, l, &ref, 1) == 0; t++) {
			for (uint8_t j = 0; j < 3; j++)
				if (mask & (1u << j))
					pxh_tick(c, j);
			pxh_deliver_all(c, 100000);
		}
		pxh_deliver_all(c, 100000);
	}
	for (uint32_t t = 0; t < 50; t++) {
		for (uint8_t j = 0; j < 3; j++)
			if (mask & (1u << j))
				pxh_tick(c, j);
		pxh_deliver_all(c, 100000);
	}
}

/** Runs every node until all applied the same slot and state, for at most max ticks. */
static bool converge(struct pxh_cluster *c, uint32_t max)
{
	for (uint32_t t = 0; t < max; t++) {
		pxh_tick(c, PX_NODE_NONE);
		pxh_deliver_all(c, 100000);
		bool same = true;
		for (uint8_t i = 1; i < 3 && same; i++)
			same = px_applier_last_slot(pxh_applier(c, i)) ==
				       px_applier_last_slot(pxh_applier(c, 0)) &&
			       px_applier_last_slot(pxh_applier(c, 0)) ==
				       px_commit(pxh_replica(c, 0)) &&
			       pxh_kv_hash(c, i) == pxh_kv_hash(c, 0) &&
			       px_applier_chain(pxh_applier(c, i)) ==
				       px_applier_chain(pxh_applier(c, 0));
		if (same && !px_needs_state_transfer(pxh_replica(c, 2)))
			return true;
	}
	return false;
}

/** A follower cut off while the log moves more than a window on heals by a snapshot
 *  from the other follower (not the leader), then catches up from the log. */
static void test_follower_heals_from_follower(void **state)
{
	(void)state;
	struct pxh_cluster *c = cluster(PX_MEMORY, 11);
	uint8_t l = elect_among(c, 0x3, 200);
	assert_int_not_equal(l, PX_NODE_NONE);
	pxh_isolate(c, 2, true);
	write_keys(c, l, 0x3, 0, 5 * WINDOW);
	assert_true(px_commit(pxh_replica(c, l)) > 3 * WINDOW);
	assert_true(px_applier_last_slot(pxh_applier(c, 2)) < WINDOW);
	pxh_isolate(c, 2, true);
	pxh_isolate(c, 2, false);
	assert_true(converge(c, 2000));
	const struct node_counters *nc2 = node_counters(pxh_node(c, 2));
	assert_true(nc2->st_installed >= 1);
	assert_true(nc2->st_chunks_in >= 1);
	uint8_t other = (uint8_t)(3 - l - 2);   /* the follower that is not node 2 */
	assert_true(node_counters(pxh_node(c, other))->st_chunks_out >= 1);
	assert_int_equal(node_counters(pxh_node(c, l))->st_chunks_out, 0);
	/* The healed replica applies what comes next like the others. */
	write_keys(c, l, 0x7, 10000, 20);
	assert_true(converge(c, 500));
	pxh_free(c);
}

/** With the other follower down, the leader serves. */
static void test_leader_serves_when_alone(void **state)
{
	(void)state;
	struct pxh_cluster *c = cluster(PX_MEMORY, 12);
	uint8_t l = elect_among(c, 0x3, 200);
	assert_int_not_equal(l, PX_NODE_NONE);
	pxh_isolate(c, 2, true);
	write_keys(c, l, 0x3, 0, 4 * WINDOW);
	uint8_t other = (uint8_t)(3 - l - 2);
	/* The other follower goes quiet to node 2 only: it still acks the leader. */
	pxh_cut(c, other, 2, true);
	pxh_cut(c, 2, other, true);
	pxh_isolate(c, 2, false);
	pxh_cut(c, other, 2, true);
	pxh_cut(c, 2, other, true);
	for (uint32_t t = 0; t < 3000 && px_needs_state_transfer(pxh_replica(c, 2)) == false &&
			     node_counters(pxh_node(c, 2))->st_installed == 0; t++) {
		pxh_tick(c, PX_NODE_NONE);
		pxh_deliver_all(c, 100000);
	}
	for (uint32_t t = 0; t < 3000 && node_counters(pxh_node(c, 2))->st_installed == 0; t++) {
		pxh_tick(c, PX_NODE_NONE);
		pxh_deliver_all(c, 100000);
	}
	assert_true(node_counters(pxh_node(c, 2))->st_installed >= 1);
	assert_true(node_counters(pxh_node(c, l))->st_chunks_out >= 1);
	assert_true(node_counters(pxh_node(c, 2))->st_source_switches >= 1);
	pxh_cut(c, other, 2, false);
	pxh_cut(c, 2, other, false);
	assert_true(converge(c, 1000));
	pxh_free(c);
}

/** Memory mode: a replica restarted after the log moved past slot 1's window recovers
 *  its promises (crash vector) and then its state by transfer. */
static void test_memory_restart_heals(void **state)
{
	(void)state;
	struct pxh_cluster *c = cluster(PX_MEMORY, 13);
	uint8_t l = elect_among(c, 0x7, 200);
	assert_int_not_equal(l, PX_NODE_NONE);
	uint8_t victim = l == 2 ? 1 : 2;
	uint32_t mask = 0x7u & ~(1u << victim);
	pxh_crash(c, victim);
	write_keys(c, l, mask, 0, 4 * WINDOW);
	pxh_restart(c, victim);
	for (uint32_t t = 0; t < 4000; t++) {
		pxh_tick(c, PX_NODE_NONE);
		pxh_deliver_all(c, 100000);
		if (node_counters(pxh_node(c, victim))->st_installed > 0 &&
		    px_applier_last_slot(pxh_applier(c, victim)) == px_commit(pxh_replica(c, l)))
			break;
	}
	assert_true(node_counters(pxh_node(c, victim))->st_installed >= 1);
	assert_int_equal(px_applier_last_slot(pxh_applier(c, victim)),
			 px_applier_last_slot(pxh_applier(c, l)));
	assert_int_equal(pxh_kv_hash(c, victim), pxh_kv_hash(c, l));
	assert_int_equal(px_applier_chain(pxh_applier(c, victim)),
			 px_applier_chain(pxh_applier(c, l)));
	pxh_free(c);
}

/** Forged and stray SNAP messages are counted and change nothing: a chunk while no
 *  transfer runs, a request beyond what the replica applied, one of another epoch. */
static void test_stray_snapshot_messages(void **state)
{
	(void)state;
	struct pxh_cluster *c = cluster(PX_MEMORY, 14);
	uint8_t l = elect_among(c, 0x7, 200);
	assert_int_not_equal(l, PX_NODE_NONE);
	write_keys(c, l, 0x7, 0, 10);
	uint8_t f = l == 2 ? 1 : 2;
	uint64_t h = pxh_kv_hash(c, f), applied = px_applier_last_slot(pxh_applier(c, f));
	uint64_t bad0 = node_counters(pxh_node(c, f))->st_late_chunks;

	static uint8_t junk[PX_SNAP_CHUNK_BYTES];
	memset(junk, 0xab, sizeof(junk));
	struct px_msg m;
	memset(&m, 0, sizeof(m));
	m.type = PX_MSG_SNAP_CHUNK;
	m.from = l;
	m.to = f;
	m.cluster_id = cluster_id();
	m.config_epoch = config_epoch();
	m.slot_hi = applied + 100;
	m.nonce = 12345;
	m.snap_total = sizeof(junk);
	m.snap_off = 0;
	m.body = junk;
	m.body_len = sizeof(junk);
	assert_true(pxh_inject(c, f, &m));
	pxh_deliver_all(c, 1000);
	assert_int_equal(node_counters(pxh_node(c, f))->st_late_chunks, bad0 + 1);
	assert_int_equal(pxh_kv_hash(c, f), h);
	assert_false(px_needs_state_transfer(pxh_replica(c, f)));

	/* A request for a snapshot beyond what the replica applied: SNAP_NONE. */
	uint64_t refused0 = node_counters(pxh_node(c, f))->st_refused;
	memset(&m, 0, sizeof(m));
	m.type = PX_MSG_SNAP_REQ;
	m.from = l;
	m.to = f;
	m.cluster_id = cluster_id();
	m.config_epoch = config_epoch();
	m.slot_lo = applied + 1000;
	assert_true(pxh_inject(c, f, &m));
	pxh_deliver_all(c, 1000);
	assert_int_equal(node_counters(pxh_node(c, f))->st_refused, refused0 + 1);
	assert_int_equal(pxh_kv_hash(c, f), h);

	/* For another replica: dropped before anything reads it. */
	uint64_t mis0 = node_counters(pxh_node(c, f))->st_misaddressed;
	uint64_t out0 = node_counters(pxh_node(c, f))->st_chunks_out;
	m.slot_lo = 1;
	m.to = (uint8_t)(f + 1u == l ? f + 2u : f + 1u) % 3u;
	assert_true(pxh_inject(c, f, &m));
	pxh_deliver_all(c, 1000);
	assert_int_equal(node_counters(pxh_node(c, f))->st_misaddressed, mis0 + 1);
	assert_int_equal(node_counters(pxh_node(c, f))->st_refused, refused0 + 1);
	assert_int_equal(node_counters(pxh_node(c, f))->st_chunks_out, out0);
	/* Of another configuration epoch (a member past a membership change, a joiner
	 * that knows none: 0): served like any other; its slot and hash name it. */
	m.to = f;
	for (uint32_t e = 0; e < 2; e++) {
		m.config_epoch = e == 0 ? config_epoch() + 1 : 0;
		assert_true(pxh_inject(c, f, &m));
		pxh_deliver_all(c, 1000);
		assert_int_equal(node_counters(pxh_node(c, f))->st_misaddressed, mis0 + 1);
		assert_int_equal(node_counters(pxh_node(c, f))->st_chunks_out, out0 + 1 + e);
	}
	assert_int_equal(node_counters(pxh_node(c, f))->st_refused, refused0 + 1);
	pxh_free(c);
}

/** A snapshot taken, then restored into a fresh applier, answers like the original. */
static void test_snapshot_round_trip(void **state)
{
	(void)state;
	struct pxh_cluster *c = cluster(PX_MEMORY, 15);
	uint8_t l = elect_among(c, 0x7, 200);
	assert_int_not_equal(l, PX_NODE_NONE);
	write_keys(c, l, 0x7, 0, 40);
	struct node *nd = pxh_node(c, l);
	assert_int_equal(node_snapshot_take(nd), 0);
	uint64_t id = 0;
	size_t len = 0;
	uint64_t slot = node_snapshot_slot(nd, &id, &len);
	assert_int_equal(slot, px_applier_last_slot(pxh_applier(c, l)));
	assert_true(len > 0);
	assert_int_not_equal(id, 0);
	pxh_free(c);
}


/* ---- The applier's snapshot (px_applier_snapshot / px_applier_restore) ----------
 * A toy service: the state is a sum and a count of bytes applied; snapshot = 16 bytes. */

struct toy {
	uint64_t sum, count;
};

static uint32_t toy_apply(void *ctx, const uint8_t *cmd, uint32_t len, uint8_t *reply,
			  uint32_t cap, uint8_t *status)
{
	struct toy *t = ctx;
	(void)cap;
	for (uint32_t i = 0; i < len; i++)
		t->sum += cmd[i];
	t->count++;
	memcpy(reply, &t->sum, 8);
	*status = PX_OK;
	return 8;
}

static uint64_t toy_hash(const void *ctx)
{
	const struct toy *t = ctx;
	return t->sum * 31u + t->count;
}

static size_t toy_snapshot_max(const void *ctx)
{
	(void)ctx;
	return 16;
}

static size_t toy_snapshot(const void *ctx, uint8_t *buf, size_t cap)
{
	assert_true(cap >= 16);
	memcpy(buf, ctx, 16);
	return 16;
}

static int toy_restore(void *ctx, const uint8_t *buf, size_t len)
{
	struct toy *t = ctx;
	if (len == 0) {
		memset(t, 0, sizeof(*t));
		return 0;
	}
	if (len != 16)
		return -EINVAL;
	memcpy(t, buf, 16);
	return 0;
}

struct toy_applier {
	struct toy toy;
	struct px_service svc;
	void *arena;
	struct px_applier *a;
	struct px_apply_out *out;
};

static void toy_init(struct toy_applier *ta, uint32_t sessions)
{
	memset(ta, 0, sizeof(*ta));
	ta->svc = (struct px_service){ .apply = toy_apply, .hash = toy_hash, .ctx = &ta->toy,
				       .snapshot_max = toy_snapshot_max,
				       .snapshot = toy_snapshot, .restore = toy_restore };
	size_t len = px_applier_arena_bytes(sessions);
	ta->arena = calloc(1, len);
	ta->out = calloc(1, sizeof(*ta->out));
	assert_non_null(ta->arena);
	assert_non_null(ta->out);
	ta->a = px_applier_init(sessions, &ta->svc, ta->arena, len);
	assert_non_null(ta->a);
}

static void toy_free(struct toy_applier *ta)
{
	free(ta->arena);
	free(ta->out);
}

/** Applies one slot of one command (client, seq, one byte b). */
static void toy_slot(struct toy_applier *ta, uint64_t slot, uint64_t client, uint64_t seq,
		     uint8_t b)
{
	uint8_t batch[128];
	struct px_cmd_ref c = { .client_id = client, .seq = seq, .len = seq == 0 ? 0 : 1,
				.body = &b };
	uint32_t len = 0;
	assert_int_equal(px_batch_fill(batch, sizeof(batch), &c, 1, 1, &len), 1);
	px_apply_slot(ta->a, slot, batch, len, ta->out);
}

/** Sessions in LRU order and the service's state survive a snapshot: after a restore
 *  the copy evicts the same session, answers duplicates from the same cache and
 *  reaches the same chain and hash as the original. */
static void test_applier_snapshot_round_trip(void **state)
{
	(void)state;
	struct toy_applier x, y;
	toy_init(&x, 3);
	toy_init(&y, 3);
	/* Three sessions registered at slots 1, 2, 3; commands touch 1 last. */
	toy_slot(&x, 1, 501, 0, 0);
	toy_slot(&x, 2, 502, 0, 0);
	toy_slot(&x, 3, 503, 0, 0);
	uint64_t s1 = px_session_id(1, 0), s2 = px_session_id(2, 0), s3 = px_session_id(3, 0);
	toy_slot(&x, 4, s2, 1, 7);
	toy_slot(&x, 5, s1, 1, 9);
	size_t cap = px_applier_snapshot_max(x.a);
	assert_int_equal(cap, px_snapshot_bytes_max(3, 16));
	uint8_t *buf = malloc(cap);
	size_t len = px_applier_snapshot(x.a, buf, cap);
	assert_true(len > 0 && len <= cap);
	uint64_t slot = 0, chain = 0;
	assert_true(px_snapshot_peek(buf, len, &slot, &chain));
	assert_int_equal(slot, 5);
	assert_int_equal(chain, px_applier_chain(x.a));
	assert_int_equal(px_applier_restore(y.a, buf, len), 0);
	assert_null(px_applier_check_invariants(y.a));
	assert_int_equal(px_applier_last_slot(y.a), 5);
	assert_int_equal(px_applier_sessions(y.a), 3);
	assert_int_equal(px_applier_chain(y.a), px_applier_chain(x.a));
	assert_int_equal(toy_hash(&y.toy), toy_hash(&x.toy));
	/* The same future on both: a duplicate, a new registration (evicts s3, the least
	 * recently used), a command of the evicted session. */
	struct toy_applier *both[2] = { &x, &y };
	uint8_t r[2][4][16];
	uint8_t st[2][4];
	for (int k = 0; k < 2; k++) {
		toy_slot(both[k], 6, s1, 1, 9);   /* duplicate: cached reply */
		st[k][0] = both[k]->out->replies[0].status;
		memcpy(r[k][0], both[k]->out->replies[0].data, both[k]->out->replies[0].len);
		toy_slot(both[k], 7, 504, 0, 0);  /* registration: evicts s3 */
		st[k][1] = both[k]->out->replies[0].status;
		toy_slot(both[k], 8, s3, 1, 1);   /* evicted: SESSION_EXPIRED */
		st[k][2] = both[k]->out->replies[0].status;
		toy_slot(both[k], 9, s2, 2, 3);   /* applied */
		st[k][3] = both[k]->out->replies[0].status;
		memcpy(r[k][3], both[k]->out->replies[0].data, both[k]->out->replies[0].len);
	}
	assert_memory_equal(st[0], st[1], 4);
	assert_int_equal(st[0][0], PX_OK);
	assert_int_equal(st[0][2], PX_SESSION_EXPIRED);
	assert_memory_equal(r[0][0], r[1][0], 8);
	assert_memory_equal(r[0][3], r[1][3], 8);
	assert_int_equal(px_applier_chain(y.a), px_applier_chain(x.a));
	assert_int_equal(toy_hash(&y.toy), toy_hash(&x.toy));
	free(buf);
	toy_free(&x);
	toy_free(&y);
}

/** A snapshot cut anywhere, with a byte changed in its fixed fields, or from a table of
 *  another size is refused, and leaves an empty applier (never a partial one). */
static void test_applier_restore_refuses_bad(void **state)
{
	(void)state;
	struct toy_applier x, y, z;
	toy_init(&x, 4);
	toy_init(&y, 4);
	toy_init(&z, 8);
	toy_slot(&x, 1, 601, 0, 0);
	toy_slot(&x, 2, 602, 0, 0);
	toy_slot(&x, 3, px_session_id(1, 0), 1, 5);
	size_t cap = px_applier_snapshot_max(x.a);
	uint8_t *buf = malloc(cap);
	size_t len = px_applier_snapshot(x.a, buf, cap);
	for (size_t cut = 0; cut < len; cut++) {
		assert_int_equal(px_applier_restore(y.a, buf, cut), -EINVAL);
		assert_int_equal(px_applier_last_slot(y.a), 0);
		assert_int_equal(px_applier_sessions(y.a), 0);
		assert_null(px_applier_check_invariants(y.a));
	}
	/* Another session table size would evict other sessions: refused. */
	assert_int_equal(px_applier_restore(z.a, buf, len), -EINVAL);
	/* A session id beyond the snapshot's slot (never issued), a count above the table. */
	uint8_t *bad = malloc(len);
	memcpy(bad, buf, len);
	bad[28] = 9;   /* n_sessions = 9 > 4 */
	assert_int_equal(px_applier_restore(y.a, bad, len), -EINVAL);
	memcpy(bad, buf, len);
	bad[8] = 0;    /* slot 0: the sessions' ids are positions it has not reached */
	assert_int_equal(px_applier_restore(y.a, bad, len), -EINVAL);
	memcpy(bad, buf, len);
	bad[0] ^= 1;   /* magic */
	assert_int_equal(px_applier_restore(y.a, bad, len), -EINVAL);
	/* The good one still restores after all that. */
	assert_int_equal(px_applier_restore(y.a, buf, len), 0);
	assert_int_equal(px_applier_chain(y.a), px_applier_chain(x.a));
	free(bad);
	free(buf);
	toy_free(&x);
	toy_free(&y);
	toy_free(&z);
}

/** A rebased snapshot (a restore's new cluster) resumes its log later: a session id
 *  of a position between the old slot and the new one is one the log has passed
 *  (SESSION_EXPIRED), and the sessions held before keep working. */
static void test_snapshot_rebase(void **state)
{
	(void)state;
	struct toy_applier x, y;
	toy_init(&x, 4);
	toy_init(&y, 4);
	toy_slot(&x, 1, 701, 0, 0);
	toy_slot(&x, 2, px_session_id(1, 0), 1, 4);
	size_t cap = px_applier_snapshot_max(x.a);
	uint8_t *buf = malloc(cap);
	size_t len = px_applier_snapshot(x.a, buf, cap);
	assert_int_equal(px_snapshot_rebase(buf, len, 2), -EINVAL);   /* not above its own */
	assert_int_equal(px_snapshot_rebase(buf, len, PX_SLOT_MAX + 1), -EINVAL);
	assert_int_equal(px_snapshot_rebase(buf, len, 2 + PX_RESTORE_SLOT_GAP), 0);
	assert_int_equal(px_applier_restore(y.a, buf, len), 0);
	assert_int_equal(px_applier_last_slot(y.a), 2 + PX_RESTORE_SLOT_GAP);
	uint64_t s = 3 + PX_RESTORE_SLOT_GAP;
	/* A registration at slot 3 of the old cluster (after the backup): passed here. */
	toy_slot(&y, s++, px_session_id(3, 0), 1, 1);
	assert_int_equal(y.out->replies[0].status, PX_SESSION_EXPIRED);
	/* The session registered before the backup goes on. */
	toy_slot(&y, s++, px_session_id(1, 0), 2, 1);
	assert_int_equal(y.out->replies[0].status, PX_OK);
	free(buf);
	toy_free(&x);
	toy_free(&y);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_follower_heals_from_follower),
		cmocka_unit_test(test_leader_serves_when_alone),
		cmocka_unit_test(test_memory_restart_heals),
		cmocka_unit_test(test_stray_snapshot_messages),
		cmocka_unit_test(test_snapshot_round_trip),
		cmocka_unit_test(test_applier_snapshot_round_trip),
		cmocka_unit_test(test_applier_restore_refuses_bad),
		cmocka_unit_test(test_snapshot_rebase),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
