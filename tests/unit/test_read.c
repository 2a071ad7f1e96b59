/* SPDX-License-Identifier: Apache-2.0
 * Linearizable reads by read index (px_read_begin, px.h; docs/consistency.md, "Reads"),
 * driven through the in-process harness (real codec, applier and kv service). Every
 * test asserts outcomes: which tickets are confirmed, which are not, and what a read
 * returns.
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

#include "svc_kv.h"
#include "svc_stream.h"
#include "px.h"
#include "px_apply.h"
#include "px_codec.h"
#include "pxh.h"

/* ---- helpers ---- */

static uint64_t next_seq[64];

static struct pxh_cluster *cluster(uint8_t n, uint64_t seed)
{
	struct pxh_opts o;
	pxh_opts_default(&o, n);
	o.seed = seed;
	o.check_invariants = true;
	memset(next_seq, 0, sizeof(next_seq));
	return pxh_new(&o);
}


/** Ticks only the nodes in `mask` (and delivers), until one of them leads. */
static uint8_t elect_among(struct pxh_cluster *c, uint32_t mask, uint32_t max_ticks)
{
	for (uint32_t t = 0; t < max_ticks; t++) {
		for (uint8_t i = 0; i < 32; i++) {
			if ((mask & (1u << i)) && pxh_is_up(c, i) &&
			    px_role(pxh_replica(c, i)) == PX_LEADER)
				return i;
		}
		for (uint8_t i = 0; i < 32; i++)
			if (mask & (1u << i))
				pxh_tick(c, i);
		pxh_deliver_all(c, 100000);
	}
	return PX_NODE_NONE;
}

/** Registers clients 1 and 2 (nonces 101, 102) through leader l: put() needs their
 *  sessions, and registering later would run the cluster in the middle of a test. */
static void register_clients(struct pxh_cluster *c, uint8_t l)
{
	const uint64_t nonces[2] = { 101, 102 };
	uint64_t ids[2];
	assert_int_equal(pxh_register(c, l, nonces, 2, ids), 2);
}

/** Proposes put key=val from client `client` (1 or 2, registered) at node l; true if
 *  taken. */
static bool put(struct pxh_cluster *c, uint8_t l, uint32_t client, const char *key,
		const char *val)
{
	static uint8_t buf[64];
	struct px_cmd_ref ref;
	uint32_t len = wire_kv_encode_put(buf, sizeof(buf), key, (uint8_t)strlen(key), val,
					(uint32_t)strlen(val));
	assert_true(len > 0);
	ref.client_id = pxh_session(c, 100 + client);
	assert_int_not_equal(ref.client_id, 0);
	ref.seq = ++next_seq[client];
	ref.len = len;
	ref.body = buf;
	return pxh_propose(c, l, &ref, 1) == 1;
}

/** Serves GET key at node i as an embedder would: px_apply_read on the current state.
 *  Returns true and the value if the key is present. */
static bool serve_get(struct pxh_cluster *c, uint8_t i, const char *key, char *val,
		      size_t cap)
{
	static uint8_t reply[PX_REPLY_BYTES_MAX];
	uint8_t cmd[64], status = 0xff;
	uint32_t rlen = 0;
	struct wire_kv_reply r;
	uint32_t len = wire_kv_encode_get(cmd, sizeof(cmd), key, (uint8_t)strlen(key));
	assert_true(len > 0);
	assert_true(px_apply_is_read(pxh_applier(c, i), cmd, len));
	assert_int_equal(px_apply_read(pxh_applier(c, i), cmd, len, reply, sizeof(reply),
				       &rlen, &status), 0);
	assert_int_equal(status, PX_OK);
	assert_int_equal(wire_kv_decode_reply(reply, rlen, &r), 0);
	if (r.result == WIRE_KV_R_NOT_FOUND)
		return false;
	assert_int_equal(r.result, WIRE_KV_R_OK);
	assert_true(r.value_len < cap);
	memcpy(val, r.value, r.value_len);
	val[r.value_len] = '\0';
	return true;
}

/* ---- tests ---- */

/* A ticket is confirmed once a majority answered a round begun after it; reads begun
 * while a round is in flight share the next round (one round per burst). */
static void test_read_confirmed_by_majority(void **state)
{
	(void)state;
	struct pxh_cluster *c = cluster(3, 41);
	uint8_t l = pxh_elect(c, 500);
	assert_int_not_equal(l, PX_NODE_NONE);
	register_clients(c, l);
	pxh_run(c, 3);
	assert_true(put(c, l, 1, "k0", "v1"));
	pxh_run(c, 3);
	struct px_replica *r = pxh_replica(c, l);
	assert_true(px_read_ready(r));

	/* A follower gives no ticket. */
	uint64_t idx = 77;
	uint8_t f = (uint8_t)((l + 1) % 3);
	assert_int_equal(pxh_read_begin(c, f, &idx), 0);
	assert_int_equal(idx, 77);
	assert_false(px_read_ready(pxh_replica(c, f)));

	uint64_t rounds0 = px_counters(r)->read_rounds;
	uint64_t t1 = pxh_read_begin(c, l, &idx);
	assert_true(t1 > 0);
	assert_int_equal(idx, px_commit(r));
	/* The round went out at once (an empty ACCEPT to each follower), unconfirmed yet. */
	assert_int_equal(pxh_queued(c), 2);
	assert_int_equal(pxh_read_confirmed(c, l), 0);
	assert_int_equal(px_counters(r)->read_rounds, rounds0 + 1);

	/* Three more reads while the round is in flight: no new messages, no new round. */
	uint64_t idx2, idx3, idx4;
	uint64_t t2 = pxh_read_begin(c, l, &idx2);
	uint64_t t3 = pxh_read_begin(c, l, &idx3);
	uint64_t t4 = pxh_read_begin(c, l, &idx4);
	assert_true(t1 < t2 && t2 < t3 && t3 < t4);
	assert_int_equal(pxh_queued(c), 2);
	assert_int_equal(px_counters(r)->read_rounds, rounds0 + 1);

	/* One follower's echo makes a majority with the leader: t1 only. */
	pxh_cut(c, l, (uint8_t)((l + 2) % 3), true);
	pxh_drop(c, l, (uint8_t)((l + 2) % 3));
	pxh_deliver_all(c, 100000);
	assert_true(pxh_read_confirmed(c, l) >= t1);
	/* ... and the next round, started by that confirmation, covers t2..t4. */
	assert_int_equal(pxh_read_confirmed(c, l), t4);
	assert_int_equal(px_counters(r)->read_rounds, rounds0 + 2);
	assert_int_equal(px_read_confirmed(r), t4);

	/* Confirmed and applied up to the read index: the read sees the write. */
	assert_true(px_applier_last_slot(pxh_applier(c, l)) >= idx4);
	char v[64];
	assert_true(serve_get(c, l, "k0", v, sizeof(v)));
	assert_string_equal(v, "v1");

	/* With both followers cut off, a ticket is never confirmed. */
	pxh_cut(c, l, f, true);
	uint64_t t5 = pxh_read_begin(c, l, &idx);
	assert_true(t5 > t4);
	for (int i = 0; i < 2; i++) {
		pxh_tick(c, l);
		pxh_deliver_all(c, 100000);
	}
	assert_int_equal(pxh_read_confirmed(c, l), t4);
	/* Healed: the heartbeat re-sends the round and it is confirmed. */
	pxh_cut(c, l, f, false);
	pxh_cut(c, l, (uint8_t)((l + 2) % 3), false);
	pxh_run(c, 3);
	assert_int_equal(pxh_leader(c), l);
	assert_int_equal(pxh_read_confirmed(c, l), t5);
	pxh_free(c);
}

/* The stale-read scenario: a leader cut off on the minority side still believes it
 * leads and hands out a ticket; the majority elects a new leader that commits a newer
 * write. The old leader's state is stale, and its ticket is never confirmed. */
static void test_read_stale_leader_never_confirms(void **state)
{
	(void)state;
	struct pxh_cluster *c = cluster(5, 43);
	uint8_t old = pxh_elect(c, 500);
	assert_int_not_equal(old, PX_NODE_NONE);
	register_clients(c, old);
	pxh_run(c, 3);
	assert_true(put(c, old, 1, "k0", "v1"));
	pxh_run(c, 3);
	/* Minority side: the old leader and one follower. */
	uint8_t buddy = (uint8_t)((old + 1) % 5);
	uint32_t major = 0;
	for (uint8_t i = 0; i < 5; i++) {
		if (i == old || i == buddy)
			continue;
		major |= 1u << i;
		for (uint8_t j = 0; j < 5; j++) {
			if (j == old || j == buddy) {
				pxh_cut(c, i, j, true);
				pxh_cut(c, j, i, true);
			}
		}
	}
	uint64_t idx = 0;
	uint64_t t = pxh_read_begin(c, old, &idx);
	assert_true(t > 0);
	/* The majority elects a new leader (the old one is not ticked: it does not know). */
	uint8_t nl = elect_among(c, major, 500);
	assert_int_not_equal(nl, PX_NODE_NONE);
	assert_true(px_promised(pxh_replica(c, nl)) > px_promised(pxh_replica(c, old)));
	assert_true(put(c, nl, 2, "k0", "v2"));
	for (int i = 0; i < 4; i++) {
		for (uint8_t j = 0; j < 5; j++)
			if (major & (1u << j))
				pxh_tick(c, j);
		pxh_deliver_all(c, 100000);
	}
	char v[64];
	assert_true(serve_get(c, nl, "k0", v, sizeof(v)));
	assert_string_equal(v, "v2");
	/* The old leader still leads in its own eyes and holds the stale value... */
	assert_int_equal(px_role(pxh_replica(c, old)), PX_LEADER);
	assert_true(serve_get(c, old, "k0", v, sizeof(v)));
	assert_string_equal(v, "v1");
	/* ... but its round gets only its buddy's echo: no majority, no confirmation. */
	pxh_tick(c, old);
	pxh_tick(c, old);
	pxh_deliver_all(c, 100000);
	assert_true(pxh_read_confirmed(c, old) < t);
	assert_true(px_read_confirmed(pxh_replica(c, old)) < t);
	/* Healed: the old leader's round at its old ballot is refused (NACK); it steps
	 * down, and the ticket is never confirmed. */
	uint64_t changes = pxh_role_changes(c, old);
	for (uint8_t i = 0; i < 5; i++)
		pxh_isolate(c, i, false);
	pxh_run(c, 10);
	assert_int_not_equal(px_role(pxh_replica(c, old)), PX_LEADER);
	assert_true(pxh_role_changes(c, old) > changes);
	assert_true(px_read_confirmed(pxh_replica(c, old)) < t);
	assert_int_equal(pxh_read_confirmed(c, old), 0);
	pxh_free(c);
}

/* A new leader gives no ticket until the slots its phase 1 recovered are committed at
 * its ballot: before that its commit point may miss a write that already completed. */
static void test_read_waits_for_own_commit(void **state)
{
	(void)state;
	struct pxh_cluster *c = cluster(3, 47);
	uint8_t l = pxh_elect(c, 500);
	assert_int_not_equal(l, PX_NODE_NONE);
	register_clients(c, l);
	pxh_run(c, 3);
	assert_true(put(c, l, 1, "k0", "v1"));
	pxh_run(c, 3);
	uint8_t a = (uint8_t)((l + 1) % 3), b = (uint8_t)((l + 2) % 3);
	/* Slot s reaches a only, and a's ack never comes back: accepted by a majority
	 * (chosen) but nobody but the old leader could know. */
	pxh_cut(c, l, b, true);
	pxh_cut(c, a, l, true);
	assert_true(put(c, l, 2, "k0", "v2"));
	uint64_t s = px_last_slot(pxh_replica(c, l));
	pxh_deliver_all(c, 100000);
	assert_true(px_commit(pxh_replica(c, a)) < s);
	pxh_crash(c, l);
	pxh_cut(c, l, b, false);
	pxh_cut(c, a, l, false);

	/* Elect a new leader step by step; look at it the moment it leads. */
	uint8_t nl = PX_NODE_NONE;
	for (uint32_t t = 0; t < 500 && nl == PX_NODE_NONE; t++) {
		pxh_tick(c, a);
		pxh_tick(c, b);
		while (nl == PX_NODE_NONE && pxh_deliver_one(c)) {
			if (px_role(pxh_replica(c, a)) == PX_LEADER)
				nl = a;
			else if (px_role(pxh_replica(c, b)) == PX_LEADER)
				nl = b;
		}
	}
	assert_int_not_equal(nl, PX_NODE_NONE);
	struct px_replica *r = pxh_replica(c, nl);
	/* It re-proposed slot s at its ballot; until that commits, no ticket. */
	assert_true(px_last_slot(r) >= s);
	assert_true(px_commit(r) < s);
	assert_false(px_read_ready(r));
	uint64_t idx = 0;
	uint64_t refused = px_counters(r)->read_refused;
	assert_int_equal(pxh_read_begin(c, nl, &idx), 0);
	assert_int_equal(px_counters(r)->read_refused, refused + 1);
	/* Once the recovered slot is committed the leader is ready, and the read index
	 * covers the write that was chosen before the election. */
	pxh_deliver_all(c, 100000);
	assert_true(px_commit(r) >= s);
	assert_true(px_read_ready(r));
	uint64_t t = pxh_read_begin(c, nl, &idx);
	assert_true(t > 0);
	assert_true(idx >= s);
	pxh_deliver_all(c, 100000);
	assert_true(pxh_read_confirmed(c, nl) >= t);
	char v[64];
	assert_true(px_applier_last_slot(pxh_applier(c, nl)) >= idx);
	assert_true(serve_get(c, nl, "k0", v, sizeof(v)));
	assert_string_equal(v, "v2");
	pxh_free(c);
}

/* A single replica is its own majority: a ticket is confirmed by px_read_begin. */
static void test_read_single_replica(void **state)
{
	(void)state;
	struct pxh_cluster *c = cluster(1, 53);
	uint8_t l = pxh_elect(c, 500);
	assert_int_equal(l, 0);
	register_clients(c, 0);
	assert_true(put(c, 0, 1, "k0", "v1"));
	pxh_deliver_all(c, 100000);
	uint64_t idx = 0;
	uint64_t t = pxh_read_begin(c, 0, &idx);
	assert_true(t > 0);
	assert_int_equal(idx, px_commit(pxh_replica(c, 0)));
	assert_true(idx >= 1);
	assert_int_equal(pxh_read_confirmed(c, 0), t);
	assert_int_equal(pxh_queued(c), 0);
	assert_int_equal(px_counters(pxh_replica(c, 0))->read_rounds, 0);
	char v[64];
	assert_true(serve_get(c, 0, "k0", v, sizeof(v)));
	assert_string_equal(v, "v1");
	pxh_free(c);
}

/** Index in the queue of the first message from -> to, or -1. */
static int find_msg(struct pxh_cluster *c, uint8_t from, uint8_t to)
{
	for (uint32_t k = 0; k < pxh_queued(c); k++) {
		const struct pxh_msg *m = pxh_peek(c, k);
		if (m->from == from && m->to == to)
			return (int)k;
	}
	return -1;
}

/* An old round's echo, duplicated or late, does not confirm a ticket begun after it. */
static void test_read_old_echo_no_confirm(void **state)
{
	(void)state;
	struct pxh_cluster *c = cluster(3, 59);
	uint8_t l = pxh_elect(c, 500);
	assert_int_not_equal(l, PX_NODE_NONE);
	pxh_run(c, 3);
	uint8_t a = (uint8_t)((l + 1) % 3), b = (uint8_t)((l + 2) % 3);
	uint64_t idx;
	uint64_t t1 = pxh_read_begin(c, l, &idx);
	assert_true(t1 > 0);
	/* Deliver the round to both followers; their echoes are queued. */
	pxh_deliver_at(c, (uint32_t)find_msg(c, l, a));
	pxh_deliver_at(c, (uint32_t)find_msg(c, l, b));
	assert_int_equal(pxh_queued(c), 2);
	/* The echoes carry the round, in the header's read_round field. */
	const struct pxh_msg *e = pxh_peek(c, 0);
	static struct px_msg d;
	assert_int_equal(px_decode(e->bytes, e->len, 1, 3, &d), PX_WIRE_OK);
	assert_int_equal(d.type, PX_MSG_ACCEPTED);
	assert_true(d.read_round > 0);
	/* a's echo (and a copy of it for later) confirms t1; b's echo is held back. */
	int ea = find_msg(c, a, l);
	assert_true(ea >= 0);
	pxh_duplicate(c, (uint32_t)ea);
	pxh_deliver_at(c, (uint32_t)ea);
	assert_int_equal(pxh_read_confirmed(c, l), t1);
	assert_int_equal(pxh_queued(c), 2);
	/* Next ticket: its round is lost on the way out; only the old echoes arrive, one
	 * late (b's, new from b) and one duplicated (a's). */
	pxh_cut(c, l, a, true);
	pxh_cut(c, l, b, true);
	uint64_t t2 = pxh_read_begin(c, l, &idx);
	assert_true(t2 > t1);
	assert_int_equal(pxh_queued(c), 2);
	pxh_deliver_all(c, 100000);
	assert_int_equal(pxh_read_confirmed(c, l), t1);
	/* A forged echo of a round never started is ignored too. */
	d.read_round = 1000000;
	d.to = l;
	static uint8_t buf[PX_MSG_BYTES_MAX];
	size_t len = px_encode(&d, buf, sizeof(buf));
	assert_true(len > 0);
	pxh_cut(c, l, a, false);
	pxh_cut(c, l, b, false);
	/* Delivered directly (px_step), as the harness would from the wire. */
	static struct px_msg in;
	assert_int_equal(px_decode(buf, len, 1, 3, &in), PX_WIRE_OK);
	struct px_out *out = calloc(1, sizeof(*out));
	assert_non_null(out);
	px_out_reset(out);
	px_step(pxh_replica(c, l), &in, out);
	assert_int_equal(out->read_confirmed, 0);
	free(out);
	assert_true(px_read_confirmed(pxh_replica(c, l)) < t2);
	/* The heartbeat re-sends the round in flight: now it is confirmed. */
	pxh_run(c, 3);
	assert_int_equal(pxh_read_confirmed(c, l), t2);
	pxh_free(c);
}

/* Tickets of a leadership are never confirmed after it ends, even when the same
 * replica leads again later: the new leadership confirms only its own tickets. */
static void test_read_across_leader_change(void **state)
{
	(void)state;
	struct pxh_cluster *c = cluster(3, 61);
	uint8_t l = pxh_elect(c, 500);
	assert_int_not_equal(l, PX_NODE_NONE);
	pxh_run(c, 3);
	uint8_t a = (uint8_t)((l + 1) % 3), b = (uint8_t)((l + 2) % 3);
	struct px_replica *r = pxh_replica(c, l);
	/* The round cannot get out. */
	pxh_cut(c, l, a, true);
	pxh_cut(c, l, b, true);
	uint64_t idx;
	uint64_t t_old = pxh_read_begin(c, l, &idx);
	assert_true(t_old > 0);
	/* A second read waits for the next round (one is in flight). */
	uint64_t t_wait = pxh_read_begin(c, l, &idx);
	assert_true(t_wait > t_old);
	uint64_t confirms = px_counters(r)->read_confirms;
	uint64_t changes = pxh_role_changes(c, l);
	/* The others elect a leader; the old one learns the higher ballot. */
	uint8_t nl = elect_among(c, (1u << a) | (1u << b), 500);
	assert_int_not_equal(nl, PX_NODE_NONE);
	pxh_cut(c, l, a, false);
	pxh_cut(c, l, b, false);
	pxh_run(c, 5);
	assert_int_not_equal(px_role(r), PX_LEADER);
	assert_true(pxh_role_changes(c, l) > changes);
	assert_true(px_read_confirmed(r) < t_old);
	assert_int_equal(px_counters(r)->read_confirms, confirms);
	/* A follower: no ticket. */
	assert_int_equal(pxh_read_begin(c, l, &idx), 0);
	/* Leadership comes back to l; the old ticket stays unconfirmed until a new one is
	 * confirmed, and the first confirmation is a new ticket's. */
	static struct px_out tout;
	px_out_reset(&tout);
	assert_int_equal(px_transfer_leadership(pxh_replica(c, nl), l, &tout), 0);
	/* A TIMEOUT_NOW in tout is not sent (the harness did not see it); the next ack
	 * from l sends it again. */
	for (int i = 0; i < 60 && px_role(r) != PX_LEADER; i++)
		pxh_run(c, 1);
	assert_int_equal(px_role(r), PX_LEADER);
	pxh_run(c, 3);
	assert_true(px_read_confirmed(r) < t_old);
	assert_int_equal(px_counters(r)->read_confirms, confirms);
	assert_int_equal(pxh_read_confirmed(c, l), 0);
	uint64_t t_new = pxh_read_begin(c, l, &idx);
	assert_true(t_new > t_wait);
	pxh_deliver_all(c, 100000);
	assert_int_equal(pxh_read_confirmed(c, l), t_new);
	assert_int_equal(px_counters(r)->read_confirms, confirms + 1);
	pxh_free(c);
}

/* The applier's read path: reads run against the current state, touch no session and
 * refuse anything that is not a read. */
static void test_apply_read(void **state)
{
	(void)state;
	struct pxh_cluster *c = cluster(3, 67);
	uint8_t l = pxh_elect(c, 500);
	register_clients(c, l);
	pxh_run(c, 3);
	assert_true(put(c, l, 1, "k0", "v1"));
	pxh_run(c, 3);
	struct px_applier *a = pxh_applier(c, l);
	static uint8_t reply[PX_REPLY_BYTES_MAX];
	uint8_t cmd[64], status = 0xee;
	uint32_t rlen = 12345;
	uint32_t sessions = px_applier_sessions(a);
	uint64_t chain = px_applier_chain(a);
	uint32_t len = wire_kv_encode_put(cmd, sizeof(cmd), "k0", 2, "zz", 2);
	assert_false(px_apply_is_read(a, cmd, len));
	memset(reply, 0xab, 16);
	assert_int_equal(px_apply_read(a, cmd, len, reply, sizeof(reply), &rlen, &status),
			 -EINVAL);
	assert_int_equal(rlen, 12345);
	assert_int_equal(status, 0xee);
	assert_int_equal(reply[0], 0xab);
	len = wire_kv_encode_del(cmd, sizeof(cmd), "k0", 2);
	assert_int_equal(px_apply_read(a, cmd, len, reply, sizeof(reply), &rlen, &status),
			 -EINVAL);
	/* A malformed command is not a read (the log answers it). */
	cmd[0] = 0x7f;
	assert_false(px_apply_is_read(a, cmd, len));
	char v[64];
	assert_true(serve_get(c, l, "k0", v, sizeof(v)));
	assert_string_equal(v, "v1");
	assert_false(serve_get(c, l, "k9", v, sizeof(v)));
	assert_int_equal(px_applier_sessions(a), sessions);
	assert_int_equal(px_applier_chain(a), chain);
	assert_int_equal(px_applier_counters(a)->reads, 2);
	pxh_free(c);

	/* The stream service: READ is a read, APPEND is not. */
	uint8_t s_cmd[64];
	assert_true(svc_stream_is_read(NULL, s_cmd,
				      wire_stream_encode_read(s_cmd, sizeof(s_cmd), 0, 512)));
	assert_false(svc_stream_is_read(NULL, s_cmd,
				       wire_stream_encode_append(s_cmd, sizeof(s_cmd), "x", 1)));
	assert_true(svc_kv_is_read(NULL, s_cmd, wire_kv_encode_get(s_cmd, sizeof(s_cmd), "k", 1)));
	/* A service without a read fast path: nothing is a read. */
	struct px_service svc = { .apply = svc_kv_apply, .hash = svc_kv_hash, .ctx = NULL };
	size_t alen = px_applier_arena_bytes(4);
	void *arena = calloc(1, alen);
	assert_non_null(arena);
	struct px_applier *na = px_applier_init(4, &svc, arena, alen);
	assert_non_null(na);
	len = wire_kv_encode_get(cmd, sizeof(cmd), "k0", 2);
	assert_false(px_apply_is_read(na, cmd, len));
	assert_int_equal(px_apply_read(na, cmd, len, reply, sizeof(reply), &rlen, &status),
			 -EINVAL);
	free(arena);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_confirmed_by_majority),
		cmocka_unit_test(test_read_stale_leader_never_confirms),
		cmocka_unit_test(test_read_waits_for_own_commit),
		cmocka_unit_test(test_read_single_replica),
		cmocka_unit_test(test_read_old_echo_no_confirm),
		cmocka_unit_test(test_read_across_leader_change),
		cmocka_unit_test(test_apply_read),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
