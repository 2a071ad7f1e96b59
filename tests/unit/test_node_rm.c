/* SPDX-License-Identifier: Apache-2.0
 * The remote-memory log transport through node/ (node/node_rm.c, docs/rdma.md), on the
 * shared-memory backend in this process (pxh_opts.rm), one case per test:
 *   - the log goes by writes: followers grant the leader, take its records, answer none
 *     of them with an ACCEPTED, and every replica applies the same;
 *   - RM setup messages that are replayed, mangled, from the wrong replica or for the
 *     wrong ballot are dropped and counted (setup_drops) without a new grant;
 *   - records written into a follower's region by someone else (noise behind a paxwire
 *     header, an authentic record replayed at another seq) are refused and counted
 *     (record_drops), and the leader's own record of that seq is taken after them;
 *   - the leader dies: a follower revokes its access before promising the next leader,
 *     grants the new one, and the old leader, restarted, is written to again.
 * pw-sim --log-transport rdma runs the same code over many seeds with faults; these
 * say what each case must do, one at a time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node.h"
#include "px.h"
#include "px_apply.h"
#include "px_codec.h"
#include "pxh.h"

/* The test's cluster: a failed assertion leaves the test by longjmp, and the teardown
 * frees it then, which removes its shared-memory objects from /dev/shm. */
static struct pxh_cluster *cur;

static int teardown(void **state)
{
	(void)state;
	pxh_free(cur);
	cur = NULL;
	return 0;
}

static struct pxh_cluster *cluster(uint64_t seed, bool auth, uint8_t *l)
{
	struct pxh_opts o;
	pxh_opts_default(&o, 3);
	o.seed = seed;
	o.auth = auth;
	o.uuid = true;   /* RM setup runs only between replicas bound to one uuid */
	o.rm = true;
	o.rm_ring = 16;
	struct pxh_cluster *c = pxh_new(&o);
	assert_non_null(c);
	cur = c;
	*l = pxh_elect(c, 2000);
	assert_int_not_equal(*l, PX_NODE_NONE);
	return c;
}

static const struct node_rm_counters *rmc(struct pxh_cluster *c, uint8_t i)
{
	return node_rm_counters(pxh_node(c, i));
}

/* Registers n fresh clients through the leader (commands through the log). */
static void load(struct pxh_cluster *c, uint8_t l, uint64_t first, uint32_t n)
{
	assert_int_equal(pxh_register_range(c, l, first, n), n);
}

/* Every live replica has applied what the leader applied, to the same state. */
static void agree(struct pxh_cluster *c, uint8_t l)
{
	pxh_run(c, 30);
	for (uint8_t i = 0; i < 3; i++) {
		if (!pxh_is_up(c, i))
			continue;
		assert_int_equal(px_applier_last_slot(pxh_applier(c, i)),
				 px_applier_last_slot(pxh_applier(c, l)));
		assert_int_equal(pxh_kv_hash(c, i), pxh_kv_hash(c, l));
	}
}

static void test_records_carry_the_log(void **state)
{
	(void)state;
	uint8_t l;
	struct pxh_cluster *c = cluster(31, true, &l);
	load(c, l, 1000, 8);
	pxh_run(c, 20);   /* HELLOs on the leader's ticks, GRANTs back */
	uint64_t w0 = rmc(c, l)->writes;
	load(c, l, 2000, 16);
	agree(c, l);

	const struct node_rm_counters *lc = rmc(c, l);
	assert_int_equal(lc->grants_in, 2);
	assert_true(lc->writes > w0);
	assert_int_equal(lc->completions, lc->writes);
	assert_true(lc->counted > 0);
	assert_int_equal(lc->write_errors, 0);
	uint64_t taken = 0;
	for (uint8_t i = 0; i < 3; i++) {
		if (i == l)
			continue;
		const struct node_rm_counters *fc = rmc(c, i);
		assert_int_equal(fc->grants, 1);
		assert_true(fc->records > 0);
		assert_int_equal(fc->quiet_acks, fc->records);
		assert_int_equal(fc->record_drops, 0);
		assert_int_equal(fc->setup_drops, 0);
		assert_int_equal(fc->torn, 0);
		taken += fc->records;
	}
	assert_int_equal(taken, lc->writes);
}

/* The first queued RM message from -> to whose GRANT flag is as asked, decoded into m
 * with its body copied to body (the queue entry is left where it is). */
static bool find_rm(struct pxh_cluster *c, uint8_t from, uint8_t to, bool grant,
		    struct px_msg *m, uint8_t *body)
{
	for (uint32_t k = 0; k < pxh_queued(c); k++) {
		const struct pxh_msg *q = pxh_peek(c, k);
		if (q->from != from || q->to != to || !pxh_decode_at(c, k, m) ||
		    m->type != PX_MSG_RM || !!(m->flags & PX_MF_RM_GRANT) != grant)
			continue;
		memcpy(body, m->body, m->body_len);
		m->body = body;
		return true;
	}
	return false;
}

/* Delivers m to `to` (encoded as its sender would; no authentication in this test) and
 * says whether `to` counted it as a setup drop and granted nothing new. */
static bool dropped(struct pxh_cluster *c, uint8_t to, const struct px_msg *m)
{
	uint64_t d0 = rmc(c, to)->setup_drops, g0 = rmc(c, to)->grants;
	uint64_t gi0 = rmc(c, to)->grants_in;
	if (!pxh_inject(c, to, m))
		return false;
	pxh_deliver_all(c, 100000);
	return rmc(c, to)->setup_drops == d0 + 1 && rmc(c, to)->grants == g0 &&
	       rmc(c, to)->grants_in == gi0;
}

static void test_bad_setup_messages_dropped(void **state)
{
	(void)state;
	uint8_t l;
	struct pxh_cluster *c = cluster(32, false, &l);
	uint8_t f = (uint8_t)((l + 1) % 3), g = (uint8_t)((l + 2) % 3);
	static uint8_t hb[PX_DGRAM_BYTES_MAX], gb[PX_DGRAM_BYTES_MAX], x[PX_DGRAM_BYTES_MAX];
	struct px_msg hello, grant, m;

	/* Catch the leader's HELLO to f that f grants (HELLOs before f has bound the
	 * cluster uuid are dropped: the last one before the GRANT) and the GRANT. */
	load(c, l, 1000, 4);
	bool got_h = false, got_g = false;
	for (int t = 0; t < 200 && !got_g; t++) {
		pxh_tick(c, PX_NODE_NONE);
		for (uint32_t k = 0; k < 1000 && pxh_queued(c) > 0 && !got_g; k++) {
			got_g = find_rm(c, f, l, true, &grant, gb);
			if (!got_g && find_rm(c, l, f, false, &m, x)) {
				hello = m;
				memcpy(hb, x, m.body_len);
				hello.body = hb;
				got_h = true;
			}
			pxh_deliver_one(c);
		}
	}
	assert_true(got_h && got_g);
	pxh_run(c, 10);
	assert_int_equal(rmc(c, f)->grants, 1);
	assert_int_equal(rmc(c, l)->grants_in, 2);

	/* HELLO: replayed as it was; a byte short; from another replica; for a ballot
	 * not promised; an endpoint naming another node (with a fresh id). */
	m = hello;
	assert_true(dropped(c, f, &m));
	m = hello;
	m.body_len--;
	assert_true(dropped(c, f, &m));
	m = hello;
	m.from = g;
	assert_true(dropped(c, f, &m));
	m = hello;
	m.ballot++;
	m.nonce += 1000;
	assert_true(dropped(c, f, &m));
	m = hello;
	memcpy(x, hb, hello.body_len);
	x[0] ^= 1;   /* ep.node */
	m.body = x;
	m.nonce += 2000;
	assert_true(dropped(c, f, &m));
	/* To the leader, which is no follower. */
	m = hello;
	m.from = f;
	m.to = l;
	m.ballot = px_promised(pxh_replica(c, l));
	assert_true(dropped(c, l, &m));

	/* GRANT: replayed (the path is up, no HELLO outstanding); to a follower. */
	m = grant;
	assert_true(dropped(c, l, &m));
	m = grant;
	m.from = f;
	m.to = g;
	assert_true(dropped(c, g, &m));

	/* From a replica to itself: no replica sends that (dropped before RM setup). */
	m = hello;
	m.from = f;
	m.to = f;
	uint64_t s0 = node_counters(pxh_node(c, f))->decode_drops[PX_WIRE_E_SENDER];
	uint64_t d0 = rmc(c, f)->setup_drops;
	assert_true(pxh_inject(c, f, &m));
	pxh_deliver_all(c, 100000);
	assert_int_equal(node_counters(pxh_node(c, f))->decode_drops[PX_WIRE_E_SENDER], s0 + 1);
	assert_int_equal(rmc(c, f)->setup_drops, d0);
	assert_int_equal(rmc(c, f)->grants, 1);

	/* Nothing of it moved the log off the writes. */
	uint64_t r0 = rmc(c, f)->records;
	load(c, l, 2000, 8);
	agree(c, l);
	assert_true(rmc(c, f)->records > r0);
	assert_int_equal(rmc(c, f)->record_drops, 0);
}

static void test_forged_records_refused(void **state)
{
	(void)state;
	uint8_t l;
	struct pxh_cluster *c = cluster(33, true, &l);
	uint8_t f = (uint8_t)((l + 1) % 3);
	load(c, l, 1000, 8);
	pxh_run(c, 20);
	load(c, l, 2000, 4);
	pxh_run(c, 5);
	assert_true(rmc(c, f)->records > 0);

	for (unsigned how = 0; how < 2; how++) {
		uint64_t d0 = rmc(c, f)->record_drops, r0 = rmc(c, f)->records;
		uint64_t s0 = node_counters(pxh_node(c, f))->steps;
		assert_true(node_rm_forge(pxh_node(c, f), how, 0x9e3779b97f4a7c15ull + how));
		assert_int_equal(pxh_rm_poll(c), 0);
		assert_int_equal(rmc(c, f)->record_drops, d0 + 1);
		assert_int_equal(rmc(c, f)->records, r0);
		assert_int_equal(node_counters(pxh_node(c, f))->steps, s0);
		/* The leader's own record of that seq overwrites it and is taken. */
		load(c, l, 3000 + 100u * how, 4);
		agree(c, l);
		assert_true(rmc(c, f)->records > r0);
		assert_int_equal(rmc(c, f)->record_drops, d0 + 1);
	}
}

static void test_leader_dies_access_moves(void **state)
{
	(void)state;
	uint8_t l;
	struct pxh_cluster *c = cluster(34, true, &l);
	load(c, l, 1000, 8);
	pxh_run(c, 20);
	load(c, l, 2000, 8);
	agree(c, l);

	pxh_crash(c, l);
	uint8_t l2 = pxh_elect(c, 5000);
	assert_int_not_equal(l2, PX_NODE_NONE);
	assert_int_not_equal(l2, l);
	uint8_t f = (uint8_t)(3 - l - l2);
	load(c, l2, 3000, 8);
	pxh_run(c, 20);
	load(c, l2, 4000, 8);
	agree(c, l2);
	/* The survivor took access away from the dead leader before it promised the new
	 * one, then granted the new one, whose records it takes. */
	assert_true(rmc(c, f)->revokes >= 1);
	assert_int_equal(rmc(c, f)->grants, 2);
	assert_int_equal(rmc(c, f)->revoke_failed, 0);
	assert_true(rmc(c, l2)->writes > 0);
	assert_true(rmc(c, l2)->grants_in >= 1);

	/* The old leader comes back as a follower and is written to again. */
	pxh_restart(c, l);
	pxh_run(c, 100);
	load(c, l2, 5000, 8);
	agree(c, l2);
	assert_int_equal(pxh_leader(c), l2);
	assert_true(rmc(c, l)->grants >= 1);
	assert_true(rmc(c, l)->records > 0);
	assert_int_equal(rmc(c, l)->record_drops, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_records_carry_the_log, teardown),
		cmocka_unit_test_teardown(test_bad_setup_messages_dropped, teardown),
		cmocka_unit_test_teardown(test_forged_records_refused, teardown),
		cmocka_unit_test_teardown(test_leader_dies_access_moves, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
