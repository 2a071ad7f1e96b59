/* SPDX-License-Identifier: Apache-2.0
 * The cluster uuid and the bootstrap guard (docs/protocol.md, "Cluster uuid"), through
 * node/ in the in-process harness: the first leader binds one uuid through the log and
 * every replica takes it; a member started again as new (paxwired --bootstrap) is
 * refused and stops, while the cluster goes on; started the right way it rejoins with
 * the same uuid; a message of another cluster's uuid is dropped before the core; a
 * snapshot carries the uuid, a rebased one (a backup seeding a new cluster) does not.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node.h"
#include "px.h"
#include "px_apply.h"
#include "pxh.h"

static struct pxh_cluster *cluster(uint64_t seed)
{
	struct pxh_opts o;
	pxh_opts_default(&o, 3);
	o.seed = seed;
	o.durability = PX_MEMORY;
	o.check_invariants = true;
	o.uuid = true;
	return pxh_new(&o);
}

/** Proposes one registration (a command) at the leader and runs until it applied. */
static void commit_one(struct pxh_cluster *c, uint64_t nonce)
{
	uint64_t id = 0;
	uint8_t l = pxh_leader(c);
	assert_int_not_equal(l, PX_NODE_NONE);
	assert_int_equal(pxh_register(c, l, &nonce, 1, &id), 1);
	assert_true(id != 0);
}

/** A cluster with a leader (*l) that committed a command (nonce) and ran on. */
static struct pxh_cluster *running(uint64_t seed, uint64_t nonce, uint8_t *l)
{
	struct pxh_cluster *c = cluster(seed);
	*l = pxh_elect(c, 2000);
	assert_int_not_equal(*l, PX_NODE_NONE);
	commit_one(c, nonce);
	pxh_run(c, 100);
	return c;
}

static void test_bind_and_refuse(void **state)
{
	(void)state;
	uint8_t l;
	struct pxh_cluster *c = running(11, 501, &l);

	/* One uuid, bound once, the same everywhere. */
	struct px_uuid u = node_uuid(pxh_node(c, l));
	assert_true(px_uuid_is_id(u));
	for (uint8_t i = 0; i < 3; i++) {
		assert_true(px_uuid_eq(node_uuid(pxh_node(c, i)), u));
		assert_int_equal(px_applier_counters(pxh_applier(c, i))->binds, 1);
		assert_null(node_refused(pxh_node(c, i)));
	}
	assert_int_equal(node_counters(pxh_node(c, l))->binds_proposed, 1);

	/* A follower started again as new: refused, it stops; the others go on. */
	uint8_t f = (uint8_t)((l + 1) % 3), g = (uint8_t)((l + 2) % 3);
	pxh_restart_as_new(c, f);
	pxh_run(c, 200);
	assert_non_null(node_refused(pxh_node(c, f)));
	assert_non_null(strstr(node_refused(pxh_node(c, f)), "without --bootstrap"));
	assert_true(node_counters(pxh_node(c, l))->fresh_refused +
		    node_counters(pxh_node(c, g))->fresh_refused > 0);
	assert_true(node_counters(pxh_node(c, f))->refuse_in > 0);
	/* It may have heard the leader before REFUSE came, but the members dropped every
	 * message it sent: it counted in no quorum. Stopped, it sends nothing more. */
	uint64_t out0 = node_counters(pxh_node(c, f))->steps;
	pxh_run(c, 50);
	assert_int_equal(node_counters(pxh_node(c, f))->steps, out0);
	uint64_t commit = px_commit(pxh_replica(c, l));
	commit_one(c, 502);
	assert_true(px_commit(pxh_replica(c, pxh_leader(c))) > commit);

	/* Started the right way (a memory-mode restart recovers): the same uuid. */
	pxh_restart(c, f);
	pxh_run(c, 400);
	commit_one(c, 503);
	pxh_run(c, 100);
	assert_null(node_refused(pxh_node(c, f)));
	assert_true(px_uuid_eq(node_uuid(pxh_node(c, f)), u));
	assert_int_equal(px_applier_chain(pxh_applier(c, f)),
			 px_applier_chain(pxh_applier(c, pxh_leader(c))));
	pxh_free(c);
}

/* A member that restarted since it last heard another one still refuses that one's first
 * start: the log recorded who ran (px_applier_members), and it caught up. */
static void test_refuse_from_log(void **state)
{
	(void)state;
	uint8_t l;
	struct pxh_cluster *c = running(14, 801, &l);
	commit_one(c, 802);
	pxh_run(c, 100);
	for (uint8_t i = 0; i < 3; i++)
		assert_int_equal(px_applier_members(pxh_applier(c, i)), 0x7);
	uint8_t f = (uint8_t)((l + 1) % 3), g = (uint8_t)((l + 2) % 3);

	/* g restarts (memory mode: it recovers, then catches up from the leader); it has
	 * not heard f since (followers talk to the leader only). */
	pxh_restart(c, g);
	pxh_run(c, 400);
	commit_one(c, 803);
	pxh_run(c, 100);
	assert_false(node_counters(pxh_node(c, g))->fresh_refused);
	assert_true(node_uuid_members(pxh_node(c, g)) & (1u << f));

	/* f starts as new, cut off from the leader: only g can refuse it, from the log. */
	pxh_isolate(c, l, true);
	pxh_restart_as_new(c, f);
	pxh_run(c, 200);
	assert_non_null(node_refused(pxh_node(c, f)));
	assert_true(node_counters(pxh_node(c, g))->fresh_refused > 0);
	pxh_free(c);
}

static void test_other_cluster_dropped(void **state)
{
	(void)state;
	uint8_t l;
	struct pxh_cluster *c = running(12, 601, &l);
	uint8_t f = (uint8_t)((l + 1) % 3);
	struct px_uuid u = node_uuid(pxh_node(c, f));
	assert_true(px_uuid_is_id(u));

	/* A heartbeat from the leader's id, at a higher ballot, under another uuid: had it
	 * reached the core, the follower would have promised the ballot. */
	struct px_msg *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	struct px_config cfg;
	px_config_default(&cfg, 3, l);
	m->type = PX_MSG_ACCEPT;
	m->from = l;
	m->to = f;
	m->cluster_id = cfg.cluster_id;
	m->config_epoch = cfg.config_epoch;
	m->ballot = px_ballot_make(px_ballot_round(px_promised(pxh_replica(c, f))) + 5, l);
	m->n_inc = 3;
	m->uuid.lo = u.lo ^ 1;
	m->uuid.hi = u.hi;
	uint64_t steps = node_counters(pxh_node(c, f))->steps;
	uint64_t promised = px_promised(pxh_replica(c, f));
	assert_true(pxh_inject(c, f, m));
	pxh_deliver_all(c, 100);
	assert_int_equal(node_counters(pxh_node(c, f))->uuid_other, 1);
	assert_int_equal(px_promised(pxh_replica(c, f)), promised);
	assert_int_equal(node_counters(pxh_node(c, f))->steps, steps);

	/* The same message with the cluster's uuid is stepped (and promised). */
	m->uuid = u;
	assert_true(pxh_inject(c, f, m));
	pxh_deliver_one(c);
	assert_int_equal(px_promised(pxh_replica(c, f)), m->ballot);
	free(m);
	pxh_free(c);
}

static uint64_t ld64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* A version-5 snapshot rewritten in an older format (2: no session owners, one reply
 * per session; 1: no uuid either), in place; its new length. */
static size_t downgrade(uint8_t *buf, size_t len, int version)
{
	uint32_t n = (uint32_t)buf[28] | (uint32_t)buf[29] << 8 | (uint32_t)buf[30] << 16 |
		     (uint32_t)buf[31] << 24;
	/* From version 4: the 56-byte header, then the membership block (32 bytes and the
	 * addresses), which versions before 4 lack. */
	size_t rd = 56 + 32 + PX_REPLICAS_MAX * PX_CONF_ADDR_BYTES, wr = version == 1 ? 32 : 56;
	memcpy(buf, version == 1 ? "PXSNAP01" : "PXSNAP02", 8);
	for (uint32_t i = 0; i < n; i++) {
		/* Version 5: id, last_seq, floor, applied, owner, ring; an entry (status,
		 * kept, len u16, start u32, the reply if kept) per applied bit, newest first.
		 * Version 2: id, last_seq, status u8, len u32, the newest reply. */
		uint8_t sess[16], status = 0, reply[PX_REPLY_BYTES_MAX];
		uint64_t applied = ld64(buf + rd + 24);
		uint32_t rlen = 0;
		memcpy(sess, buf + rd, 16);
		rd += 40;
		for (uint32_t k = 0; k < 64; k++) {
			if (((applied >> k) & 1u) == 0)
				continue;
			uint32_t l = (uint32_t)buf[rd + 2] | (uint32_t)buf[rd + 3] << 8;
			bool kept = buf[rd + 1] != 0;
			if (k == 0) {
				status = buf[rd];
				rlen = l;
				memcpy(reply, buf + rd + 8, l);
			}
			rd += 8 + (kept ? l : 0);
		}
		memcpy(buf + wr, sess, 16);
		buf[wr + 16] = status;
		for (int b = 0; b < 4; b++)
			buf[wr + 17 + b] = (uint8_t)(rlen >> (8 * b));
		memcpy(buf + wr + 21, reply, rlen);
		wr += 21 + rlen;
	}
	memmove(buf + wr, buf + rd, len - rd);
	return len - (rd - wr);
}

static void test_snapshot_keeps_uuid(void **state)
{
	(void)state;
	struct pxh_opts o;
	pxh_opts_default(&o, 3);
	o.seed = 13;
	o.uuid = true;
	o.snapshots = true;
	struct pxh_cluster *c = pxh_new(&o);
	uint8_t l = pxh_elect(c, 2000);
	assert_int_not_equal(l, PX_NODE_NONE);
	commit_one(c, 701);
	/* A session registered with a key's tag in its nonce (an authenticated client). */
	uint64_t nonce = ((uint64_t)px_owner_tag(42, false) << PX_OWNER_SHIFT) | 0x1234u, sid = 0;
	assert_int_equal(pxh_register(c, l, &nonce, 1, &sid), 1);
	pxh_run(c, 50);
	struct px_applier *a = pxh_applier(c, l);
	uint32_t owner = 0;
	assert_true(px_applier_session_owner(a, sid, &owner));
	assert_int_equal(owner, px_owner_tag(42, false));
	struct px_uuid u = px_applier_uuid(a);
	assert_true(px_uuid_is_id(u));
	size_t cap = px_applier_snapshot_max(a);
	uint8_t *buf = malloc(cap);
	assert_non_null(buf);
	size_t len = px_applier_snapshot(a, buf, cap);
	assert_true(len > 0);
	assert_memory_equal(buf, "PXSNAP05", 8);
	/* The membership in force comes along too (the cluster file's: epoch 1, 0-2). */
	assert_int_equal(px_applier_membership(a)->cur.epoch, 1);
	assert_int_equal(px_applier_membership(a)->cur.voters, 7);

	/* Restored elsewhere: the uuid comes along (a follower's applier, then put back). */
	uint8_t f = (uint8_t)((l + 1) % 3);
	struct px_applier *b = pxh_applier(c, f);
	assert_int_equal(px_applier_restore(b, buf, len), 0);
	assert_true(px_uuid_eq(px_applier_uuid(b), u));
	assert_int_equal(px_applier_membership(b)->cur.voters, 7);
	assert_int_equal(px_applier_membership(b)->alpha, px_applier_membership(a)->alpha);
	/* The session's owner comes along too. */
	owner = 0;
	assert_true(px_applier_session_owner(b, sid, &owner));
	assert_int_equal(owner, px_owner_tag(42, false));
	/* A version-2 snapshot (before owners) reads with owner 0: no key's. */
	size_t len2 = downgrade(buf, len, 2);
	assert_int_equal(px_applier_restore(b, buf, len2), 0);
	assert_true(px_uuid_eq(px_applier_uuid(b), u));
	assert_true(px_applier_session_owner(b, sid, &owner));
	assert_int_equal(owner, 0);
	assert_int_equal(px_applier_membership(b)->cur.epoch, 0);  /* unknown before 4 */
	len = px_applier_snapshot(a, buf, cap);
	/* Rebased (a backup seeding a new cluster): no uuid, that cluster binds its own. */
	uint64_t slot = 0, chain = 0;
	assert_true(px_snapshot_peek(buf, len, &slot, &chain));
	assert_int_equal(px_snapshot_rebase(buf, len, slot + 1000), 0);
	assert_int_equal(px_applier_restore(b, buf, len), 0);
	assert_true(px_uuid_zero(px_applier_uuid(b)));
	/* A snapshot of the older format (no uuid in its header) reads as unbound. */
	len = px_applier_snapshot(a, buf, cap);
	assert_int_equal(px_applier_restore(b, buf, downgrade(buf, len, 1)), 0);
	assert_true(px_uuid_zero(px_applier_uuid(b)));
	assert_int_equal(px_applier_last_slot(b), px_applier_last_slot(a));
	/* The fresh mark is no uuid a snapshot may hold. */
	len = px_applier_snapshot(a, buf, cap);
	memset(buf + 32, 0xff, 8);
	assert_int_equal(px_applier_restore(b, buf, len), -EINVAL);
	free(buf);
	pxh_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bind_and_refuse),
		cmocka_unit_test(test_refuse_from_log),
		cmocka_unit_test(test_other_cluster_dropped),
		cmocka_unit_test(test_snapshot_keeps_uuid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
