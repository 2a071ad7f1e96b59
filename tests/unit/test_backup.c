/* SPDX-License-Identifier: Apache-2.0
 * Backups (docs/operations.md, "Backup and restore"; docs/storage.md, "Backup files"):
 *   - the snapshot content hash (wire/wire_hash.h) keeps the values node/ gave before it
 *     moved to wire/ (golden values): a backup's id, a saved snapshot's id and a
 *     SNAP_CHUNK's nonce all mean the same;
 *   - the backup header (wire/wire_backup.h) round-trips, and every corruption of it is
 *     refused, each with its reason; a snapshot that does not match its header too;
 *   - a NEW cluster started from a snapshot (node_start_from, px_start_from), in both
 *     durability modes, through the in-process harness: every replica holds the state
 *     and the client sessions after the snapshot's slot, elects a leader, goes on from
 *     the next slot (a session from before the snapshot included) and converges; what
 *     node_start_from refuses changes nothing.
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
#include "px_batch.h"
#include "pxh.h"
#include "wire_backup.h"
#include "wire_hash.h"
#include "wire_kv.h"
#include "wire_le.h"

/* ---- The hash -------------------------------------------------------------------- */

/** Values of node.c's snap_hash before it moved to wire/ (bytes i * 7 + 3). */
static void test_snap_hash_golden(void **state)
{
	(void)state;
	uint8_t b[1000];
	for (uint32_t i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)(i * 7u + 3u);
	assert_true(wire_snap_hash(b, 0) == 0x47c76ea92e918f49ull);
	assert_true(wire_snap_hash(b, 31) == 0x722168f6ea6767c7ull);
	assert_true(wire_snap_hash(b, 32) == 0x7dbca63c54ceb4afull);
	assert_true(wire_snap_hash(b, 1000) == 0xf3aecd919dca914eull);
	/* One flipped bit anywhere changes it. */
	uint64_t h = wire_snap_hash(b, sizeof(b));
	for (uint32_t i = 0; i < sizeof(b); i += 37) {
		b[i] ^= 0x10;
		assert_true(wire_snap_hash(b, sizeof(b)) != h);
		b[i] ^= 0x10;
	}
}

/* ---- The header ------------------------------------------------------------------ */

static uint8_t snap_bytes[777];

static struct wire_backup_hdr sample(void)
{
	for (uint32_t i = 0; i < sizeof(snap_bytes); i++)
		snap_bytes[i] = (uint8_t)(i ^ 0x5a);
	return (struct wire_backup_hdr){ .version = WIRE_BACKUP_VERSION, .cluster_id = 4242,
					 .slot = 123456, .id = wire_snap_hash(snap_bytes,
									      sizeof(snap_bytes)),
					 .len = sizeof(snap_bytes), .created_s = 1700000000 };
}

static void test_header_round_trip(void **state)
{
	(void)state;
	struct wire_backup_hdr h = sample(), g;
	uint8_t b[WIRE_BACKUP_HDR_BYTES];
	const char *why = NULL;

	wire_backup_encode(&h, b);
	assert_memory_equal(b, "PXBACKUP", 8);
	assert_int_equal(wire_ld32(b + 8), WIRE_BACKUP_VERSION);
	assert_int_equal(wire_ld32(b + 12), 4242);
	assert_true(wire_ld64(b + 16) == 123456);
	assert_true(wire_ld64(b + 32) == sizeof(snap_bytes));
	assert_true(wire_ld64(b + 48) == 0);
	assert_true(wire_ld64(b + 56) == wire_snap_hash(b, 56));
	assert_int_equal(wire_backup_decode(b, sizeof(b), &g, &why), 0);
	assert_int_equal(g.version, WIRE_BACKUP_VERSION);
	assert_int_equal(g.cluster_id, h.cluster_id);
	assert_true(g.slot == h.slot && g.id == h.id && g.len == h.len &&
		    g.created_s == h.created_s);
	assert_int_equal(wire_backup_check(&g, snap_bytes, sizeof(snap_bytes), &why), 0);
}

/** Re-seals a header after an edit (its hash over the first 56 bytes). */
static void reseal(uint8_t *b)
{
	wire_st64(b + 56, wire_snap_hash(b, 56));
}

static void test_header_corrupt(void **state)
{
	(void)state;
	struct wire_backup_hdr h = sample(), g;
	uint8_t b[WIRE_BACKUP_HDR_BYTES], x[WIRE_BACKUP_HDR_BYTES];
	const char *why;

	wire_backup_encode(&h, b);
	/* Every byte flipped: refused, by the magic or the header's hash. */
	for (uint32_t i = 0; i < sizeof(b); i++) {
		memcpy(x, b, sizeof(x));
		x[i] ^= 0x01;
		why = NULL;
		assert_int_equal(wire_backup_decode(x, sizeof(x), &g, &why), -EBADMSG);
		assert_non_null(why);
		assert_non_null(strstr(why, i < 8 ? "magic" : "hash"));
	}
	/* Short. */
	assert_int_equal(wire_backup_decode(b, sizeof(b) - 1, &g, &why), -EBADMSG);
	assert_non_null(strstr(why, "shorter"));
	assert_int_equal(wire_backup_decode(NULL, 0, &g, &why), -EBADMSG);
	/* Sealed, but out of bounds. */
	memcpy(x, b, sizeof(x));
	wire_st32(x + 8, WIRE_BACKUP_VERSION + 1u);
	reseal(x);
	assert_int_equal(wire_backup_decode(x, sizeof(x), &g, &why), -ENOTSUP);
	assert_non_null(strstr(why, "version"));
	memcpy(x, b, sizeof(x));
	x[50] = 1;
	reseal(x);
	assert_int_equal(wire_backup_decode(x, sizeof(x), &g, &why), -EBADMSG);
	assert_non_null(strstr(why, "reserved"));
	memcpy(x, b, sizeof(x));
	wire_st64(x + 16, 0);
	reseal(x);
	assert_int_equal(wire_backup_decode(x, sizeof(x), &g, &why), -EBADMSG);
	assert_non_null(strstr(why, "slot 0"));
	memcpy(x, b, sizeof(x));
	wire_st64(x + 24, 0);
	reseal(x);
	assert_int_equal(wire_backup_decode(x, sizeof(x), &g, &why), -EBADMSG);
	assert_non_null(strstr(why, "id 0"));
	memcpy(x, b, sizeof(x));
	wire_st64(x + 32, WIRE_BACKUP_BYTES_MAX + 1u);
	reseal(x);
	assert_int_equal(wire_backup_decode(x, sizeof(x), &g, &why), -EBADMSG);
	assert_non_null(strstr(why, "length"));
}

static void test_snapshot_mismatch(void **state)
{
	(void)state;
	struct wire_backup_hdr h = sample();
	const char *why = NULL;

	assert_int_equal(wire_backup_check(&h, snap_bytes, sizeof(snap_bytes) - 1, &why),
			 -EBADMSG);
	assert_non_null(strstr(why, "length"));
	for (uint32_t i = 0; i < sizeof(snap_bytes); i += 97) {
		snap_bytes[i] ^= 0x80;
		why = NULL;
		assert_int_equal(wire_backup_check(&h, snap_bytes, sizeof(snap_bytes), &why),
				 -EBADMSG);
		assert_non_null(strstr(why, "content hash"));
		snap_bytes[i] ^= 0x80;
	}
	assert_int_equal(wire_backup_check(&h, snap_bytes, sizeof(snap_bytes), &why), 0);
}

/* ---- A new cluster from a snapshot ----------------------------------------------- */

static struct pxh_cluster *cluster(enum px_durability d, uint64_t seed)
{
	struct pxh_opts o;
	pxh_opts_default(&o, 3);
	o.seed = seed;
	o.durability = d;
	o.window_slots = 64;
	o.pipeline_slots = 8;
	o.batch_cmds_max = 4;
	o.check_invariants = true;
	o.snapshots = true;
	o.auto_persist = true;
	return pxh_new(&o);
}

/** Proposes one put (client id = session, seq) at l until taken, then runs a while. */
static void put(struct pxh_cluster *c, uint8_t l, uint64_t session, uint64_t seq, uint32_t k)
{
	uint8_t buf[96];
	char key[32], val[48];
	snprintf(key, sizeof(key), "key-%u", k);
	snprintf(val, sizeof(val), "value-%u-of-a-backup-test", k);
	uint32_t len = wire_kv_encode_put(buf, sizeof(buf), key, (uint8_t)strlen(key), val,
					  (uint32_t)strlen(val));
	assert_true(len > 0);
	struct px_cmd_ref ref = { .client_id = session, .seq = seq, .len = len, .body = buf };
	uint32_t t = 0;
	for (; t < 1000 && pxh_propose(c, l, &ref, 1) == 0; t++)
		pxh_run(c, 1);
	assert_true(t < 1000);
	pxh_run(c, 3);
}

/** Runs until every replica applied the leader's commit point with the same state. */
static bool converged(struct pxh_cluster *c, uint32_t max)
{
	for (uint32_t t = 0; t < max; t++) {
		pxh_run(c, 1);
		bool same = true;
		for (uint8_t i = 1; i < 3 && same; i++)
			same = px_applier_last_slot(pxh_applier(c, i)) ==
				       px_applier_last_slot(pxh_applier(c, 0)) &&
			       px_applier_last_slot(pxh_applier(c, 0)) == px_commit(pxh_replica(c, 0)) &&
			       pxh_kv_hash(c, i) == pxh_kv_hash(c, 0) &&
			       px_applier_chain(pxh_applier(c, i)) ==
				       px_applier_chain(pxh_applier(c, 0));
		if (same)
			return true;
	}
	return false;
}

/** Cluster A applies 30 puts of one session; a snapshot of its leader's state; cluster
 *  B (mode d) starts from it, goes on with the same session, and converges. */
static void start_from(enum px_durability d, uint64_t seed)
{
	static const uint64_t nonce = 9001;
	struct pxh_cluster *a = cluster(d, seed);
	uint8_t l = pxh_elect(a, 500);
	assert_int_not_equal(l, PX_NODE_NONE);
	uint64_t session = 0;
	assert_int_equal(pxh_register(a, l, &nonce, 1, &session), 1);
	for (uint32_t k = 0; k < 30; k++)
		put(a, l, session, k + 1u, k);
	assert_true(converged(a, 200));
	const struct px_applier *ap = pxh_applier(a, l);
	size_t cap = px_applier_snapshot_max(ap);
	uint8_t *snap = malloc(cap);
	assert_non_null(snap);
	size_t len = px_applier_snapshot(ap, snap, cap);
	assert_true(len > 0);
	uint64_t slot = px_applier_last_slot(ap), chain = px_applier_chain(ap);
	uint64_t hash = pxh_kv_hash(a, l), last_seq = 0;
	assert_true(slot > 30);
	assert_true(px_applier_session_peek(ap, session, &last_seq));
	assert_true(last_seq == 30);
	pxh_free(a);

	struct pxh_cluster *b = cluster(d, seed + 1000);
	for (uint8_t i = 0; i < 3; i++) {
		struct node *nd = pxh_node(b, i);
		assert_int_equal(node_start_from(nd, snap, len), 0);
		assert_true(px_applier_last_slot(pxh_applier(b, i)) == slot);
		assert_true(px_commit(pxh_replica(b, i)) == slot);
		assert_true(px_last_slot(pxh_replica(b, i)) == slot);
		assert_true(px_applier_chain(pxh_applier(b, i)) == chain);
		assert_true(pxh_kv_hash(b, i) == hash);
		assert_true(px_applier_session_peek(pxh_applier(b, i), session, &last_seq));
		assert_true(last_seq == 30);
		/* Durable mode: the journal is told where the log starts, at once. */
		assert_int_equal(node_counters(nd)->persists, d == PX_DURABLE ? 1 : 0);
		/* Once is all. */
		assert_int_equal(node_start_from(nd, snap, len), -EINVAL);
	}
	uint8_t l2 = pxh_elect(b, 500);
	assert_int_not_equal(l2, PX_NODE_NONE);
	/* The session from before the snapshot goes on where it was. */
	for (uint32_t k = 30; k < 45; k++)
		put(b, l2, session, k + 1u, k);
	assert_true(converged(b, 200));
	for (uint8_t i = 0; i < 3; i++) {
		assert_true(px_applier_last_slot(pxh_applier(b, i)) > slot);
		assert_true(px_applier_session_peek(pxh_applier(b, i), session, &last_seq));
		assert_true(last_seq == 45);
		assert_true(px_applier_counters(pxh_applier(b, i))->expired == 0);
	}
	assert_true(pxh_kv_hash(b, 0) != hash);
	pxh_free(b);
	free(snap);
}

static void test_start_from_memory(void **state)
{
	(void)state;
	start_from(PX_MEMORY, 31);
}

static void test_start_from_durable(void **state)
{
	(void)state;
	start_from(PX_DURABLE, 32);
}

/** What node_start_from refuses leaves the replica as it was. */
static void test_start_from_refusals(void **state)
{
	(void)state;
	struct pxh_cluster *a = cluster(PX_MEMORY, 41);
	uint8_t l = pxh_elect(a, 500);
	assert_int_not_equal(l, PX_NODE_NONE);
	static const uint64_t nonce = 9002;
	uint64_t session = 0;
	assert_int_equal(pxh_register(a, l, &nonce, 1, &session), 1);
	assert_true(converged(a, 200));
	const struct px_applier *ap = pxh_applier(a, l);
	size_t cap = px_applier_snapshot_max(ap);
	uint8_t *snap = malloc(cap);
	assert_non_null(snap);
	size_t len = px_applier_snapshot(ap, snap, cap);
	assert_true(len > 0);
	uint64_t slot = px_applier_last_slot(ap);
	assert_true(slot >= 1);

	/* A replica that ran (ticked, stepped, applied). */
	assert_int_equal(node_start_from(pxh_node(a, l), snap, len), -EINVAL);
	pxh_free(a);

	struct pxh_cluster *b = cluster(PX_MEMORY, 42);
	/* Not a snapshot; cut short; a corrupt one the applier refuses. */
	uint8_t junk[64];
	memset(junk, 0x33, sizeof(junk));
	assert_int_equal(node_start_from(pxh_node(b, 0), junk, sizeof(junk)), -EBADMSG);
	assert_int_equal(node_start_from(pxh_node(b, 0), NULL, 0), -EBADMSG);
	assert_int_equal(node_start_from(pxh_node(b, 0), snap, len - 1), -EBADMSG);
	assert_true(px_applier_last_slot(pxh_applier(b, 0)) == 0);
	assert_true(px_commit(pxh_replica(b, 0)) == 0);
	/* Still fresh: a good one is then taken. */
	assert_int_equal(node_start_from(pxh_node(b, 0), snap, len), 0);
	assert_true(px_commit(pxh_replica(b, 0)) == slot);
	/* A memory-mode replica that restarted has lost its promises: it recovers first. */
	pxh_crash(b, 1);
	pxh_restart(b, 1);
	assert_int_equal(px_role(pxh_replica(b, 1)), PX_RECOVERING);
	assert_int_equal(node_start_from(pxh_node(b, 1), snap, len), -EINVAL);
	assert_true(px_applier_last_slot(pxh_applier(b, 1)) == 0);
	/* A replica ticked once has run. */
	pxh_tick(b, 2);
	assert_int_equal(node_start_from(pxh_node(b, 2), snap, len), -EINVAL);
	pxh_free(b);
	free(snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snap_hash_golden),
		cmocka_unit_test(test_header_round_trip),
		cmocka_unit_test(test_header_corrupt),
		cmocka_unit_test(test_snapshot_mismatch),
		cmocka_unit_test(test_start_from_memory),
		cmocka_unit_test(test_start_from_durable),
		cmocka_unit_test(test_start_from_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
