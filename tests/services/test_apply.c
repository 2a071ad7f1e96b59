/* SPDX-License-Identifier: Apache-2.0
 * The applier: exactly-once through client sessions, LRU eviction decided by the log,
 * the hash chain. A counting service records every command that reaches it, so each
 * test can tell "applied once" from "answered from the cache".
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

#include "pw_kv.h"
#include "px_apply.h"
#include "px_batch.h"

/* ---------------------------------------------------------------------------------- */
/* A counting service: the reply is (u64 number of commands applied so far, body).     */
/* A body starting with 0xff is rejected (PX_BAD_COMMAND); one starting with 0xfe asks */
/* for a reply of PX_REPLY_BYTES_MAX bytes.                                             */

struct counting {
	uint64_t applied;
	uint64_t hash;
};

static uint32_t counting_apply(void *ctx, const uint8_t *cmd, uint32_t len, uint8_t *reply,
			       uint32_t cap, uint8_t *status)
{
	struct counting *c = ctx;
	uint32_t n;

	assert_true(cap >= PX_REPLY_BYTES_MAX);
	c->applied++;
	c->hash = px_hash_bytes(c->hash, cmd, len);
	if (len > 0 && cmd[0] == 0xff) {
		*status = PX_BAD_COMMAND;
		return 0;
	}
	*status = PX_OK;
	if (len > 0 && cmd[0] == 0xfe) {
		memset(reply, (int)(c->applied & 0xff), PX_REPLY_BYTES_MAX);
		return PX_REPLY_BYTES_MAX;
	}
	memcpy(reply, &c->applied, 8);
	n = len < cap - 8 ? len : cap - 8;
	memcpy(reply + 8, cmd, n);
	return 8 + n;
}

static uint64_t counting_hash(const void *ctx)
{
	const struct counting *c = ctx;

	return c->hash ^ c->applied;
}

struct rig {
	struct counting svc_state;
	struct px_service svc;
	void *arena;
	struct px_applier *a;
	struct px_apply_out out;
	uint64_t slot;
};

/** A rig around svc, or around the counting service if svc is NULL. */
static struct rig *rig_new_svc(uint32_t max_sessions, const struct px_service *svc)
{
	struct rig *r = calloc(1, sizeof(*r));
	size_t len = px_applier_arena_bytes(max_sessions);

	assert_non_null(r);
	assert_true(len > 0);
	r->svc_state.hash = PX_HASH_SEED;
	r->svc.apply = counting_apply;
	r->svc.hash = counting_hash;
	r->svc.ctx = &r->svc_state;
	if (svc != NULL)
		r->svc = *svc;
	r->arena = malloc(len);
	assert_non_null(r->arena);
	r->a = px_applier_init(max_sessions, &r->svc, r->arena, len);
	assert_non_null(r->a);
	return r;
}

static struct rig *rig_new(uint32_t max_sessions)
{
	return rig_new_svc(max_sessions, NULL);
}

static void rig_free(struct rig *r)
{
	free(r->arena);
	free(r);
}

/** A batch under construction. */
struct batch {
	uint8_t buf[PX_SLOT_BYTES_MAX];
	uint32_t len;
};

static void batch_begin(struct batch *b)
{
	b->len = px_batch_begin(b->buf, sizeof(b->buf));
	assert_int_equal(b->len, PX_BATCH_HDR_BYTES);
}

static void batch_add(struct batch *b, uint64_t client, uint64_t seq, const void *body,
		      uint32_t len)
{
	struct px_cmd_ref c = { .client_id = client, .seq = seq, .len = len, .body = body };

	b->len = px_batch_add(b->buf, b->len, sizeof(b->buf), &c);
	assert_true(b->len > 0);
}

/** Applies b at the rig's next slot and checks the session table afterwards. */
static void rig_apply(struct rig *r, const struct batch *b)
{
	const char *why;

	assert_true(px_batch_valid(b->buf, b->len));
	px_apply_slot(r->a, ++r->slot, b->buf, b->len, &r->out);
	why = px_applier_check_invariants(r->a);
	if (why != NULL)
		fail_msg("applier invariant violated: %s", why);
	assert_int_equal(px_applier_last_slot(r->a), r->slot);
}

/** Applies a batch of one command; returns its reply. */
static const struct px_reply *rig_one(struct rig *r, uint64_t client, uint64_t seq,
				      const char *body)
{
	struct batch b;

	batch_begin(&b);
	batch_add(&b, client, seq, body, (uint32_t)strlen(body));
	rig_apply(r, &b);
	assert_int_equal(r->out.n, 1);
	assert_int_equal(r->out.replies[0].client_id, client);
	assert_int_equal(r->out.replies[0].seq, seq);
	return &r->out.replies[0];
}

static uint64_t reply_counter(const struct px_reply *rp)
{
	uint64_t v;

	assert_true(rp->len >= 8);
	memcpy(&v, rp->data, 8);
	return v;
}

/* ---------------------------------------------------------------------------------- */

static void test_init_errors(void **state)
{
	struct px_service svc = { .apply = counting_apply, .hash = counting_hash };
	size_t len = px_applier_arena_bytes(4);
	void *arena = malloc(len);

	(void)state;
	assert_int_equal(px_applier_arena_bytes(0), 0);
	assert_int_equal(px_applier_arena_bytes(PX_SESSIONS_MAX + 1), 0);
	assert_true(px_applier_arena_bytes(PX_SESSIONS_MAX) > 0);

	errno = 0;
	assert_null(px_applier_init(0, &svc, arena, len));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(px_applier_init(PX_SESSIONS_MAX + 1, &svc, arena, len));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(px_applier_init(4, NULL, arena, len));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(px_applier_init(4, &svc, arena, len - 1));
	assert_int_equal(errno, ENOSPC);
	assert_non_null(px_applier_init(4, &svc, arena, len));
	free(arena);
}

static void test_applies_in_order(void **state)
{
	struct rig *r = rig_new(16);
	struct batch b;
	uint64_t chain0 = px_applier_chain(r->a);

	(void)state;
	batch_begin(&b);
	batch_add(&b, 10, 1, "a", 1);
	batch_add(&b, 11, 1, "bb", 2);
	batch_add(&b, 12, 1, "", 0);
	rig_apply(r, &b);

	assert_int_equal(r->out.n, 3);
	for (uint32_t i = 0; i < 3; i++) {
		assert_int_equal(r->out.replies[i].client_id, 10 + i);
		assert_int_equal(r->out.replies[i].status, PX_OK);
		assert_int_equal(reply_counter(&r->out.replies[i]), i + 1);
	}
	assert_int_equal(r->out.replies[1].len, 10);
	assert_memory_equal(r->out.replies[1].data + 8, "bb", 2);
	assert_int_equal(r->svc_state.applied, 3);
	assert_int_equal(px_applier_sessions(r->a), 3);
	assert_int_equal(px_applier_counters(r->a)->commands, 3);
	assert_int_equal(px_applier_counters(r->a)->slots, 1);
	assert_true(px_applier_chain(r->a) != chain0);
	rig_free(r);
}

static void test_duplicate_in_one_batch(void **state)
{
	struct rig *r = rig_new(16);
	struct batch b;

	(void)state;
	batch_begin(&b);
	batch_add(&b, 7, 1, "x", 1);
	batch_add(&b, 7, 1, "x", 1);
	rig_apply(r, &b);

	assert_int_equal(r->svc_state.applied, 1);
	assert_int_equal(r->out.n, 2);
	assert_int_equal(r->out.replies[0].status, PX_OK);
	assert_int_equal(r->out.replies[1].status, PX_OK);
	assert_int_equal(r->out.replies[0].len, r->out.replies[1].len);
	assert_memory_equal(r->out.replies[0].data, r->out.replies[1].data,
			    r->out.replies[0].len);
	assert_int_equal(px_applier_counters(r->a)->duplicates, 1);
	assert_int_equal(px_applier_counters(r->a)->commands, 1);
	rig_free(r);
}

static void test_duplicate_across_slots(void **state)
{
	struct rig *r = rig_new(16);
	const struct px_reply *rp;
	uint8_t first[64];
	uint32_t first_len;
	uint64_t seq;

	(void)state;
	rp = rig_one(r, 7, 1, "hello");
	assert_int_equal(rp->status, PX_OK);
	first_len = rp->len;
	memcpy(first, rp->data, rp->len);

	/* Other clients in between, then the retry: answered from the cache. */
	rig_one(r, 8, 1, "other");
	rp = rig_one(r, 7, 1, "hello");
	assert_int_equal(rp->status, PX_OK);
	assert_int_equal(rp->len, first_len);
	assert_memory_equal(rp->data, first, first_len);
	assert_int_equal(r->svc_state.applied, 2);
	assert_true(px_applier_session_peek(r->a, 7, &seq));
	assert_int_equal(seq, 1);

	/* A rejected command is cached like any other reply. */
	rp = rig_one(r, 9, 1, "\xff");
	assert_int_equal(rp->status, PX_BAD_COMMAND);
	rp = rig_one(r, 9, 1, "\xff");
	assert_int_equal(rp->status, PX_BAD_COMMAND);
	assert_int_equal(rp->len, 0);
	assert_int_equal(r->svc_state.applied, 3);

	/* The next seq is applied. */
	rp = rig_one(r, 7, 2, "again");
	assert_int_equal(reply_counter(rp), 4);
	assert_int_equal(px_applier_counters(r->a)->duplicates, 2);
	rig_free(r);
}

static void test_stale_seq_expired(void **state)
{
	struct rig *r = rig_new(16);
	const struct px_reply *rp;

	(void)state;
	rig_one(r, 5, 1, "a");
	rig_one(r, 5, 2, "b");
	rp = rig_one(r, 5, 1, "a");
	assert_int_equal(rp->status, PX_SESSION_EXPIRED);
	assert_int_equal(rp->len, 0);
	assert_int_equal(r->svc_state.applied, 2);
	assert_int_equal(px_applier_counters(r->a)->stale, 1);

	/* A gap in seqs is allowed: the client gave up on a command. */
	rp = rig_one(r, 5, 9, "c");
	assert_int_equal(rp->status, PX_OK);
	assert_int_equal(r->svc_state.applied, 3);
	rig_free(r);
}

static void test_seq_zero_rejected(void **state)
{
	struct rig *r = rig_new(16);
	const struct px_reply *rp;

	(void)state;
	rp = rig_one(r, 5, 0, "a");
	assert_int_equal(rp->status, PX_BAD_COMMAND);
	assert_int_equal(r->svc_state.applied, 0);
	assert_int_equal(px_applier_sessions(r->a), 0);
	assert_int_equal(px_applier_counters(r->a)->bad_seq, 1);
	rig_free(r);
}

static void test_unknown_client_needs_seq_one(void **state)
{
	struct rig *r = rig_new(16);
	const struct px_reply *rp;

	(void)state;
	rp = rig_one(r, 5, 2, "a");
	assert_int_equal(rp->status, PX_SESSION_EXPIRED);
	assert_int_equal(r->svc_state.applied, 0);
	assert_false(px_applier_session_peek(r->a, 5, NULL));
	assert_int_equal(px_applier_counters(r->a)->expired, 1);
	rig_free(r);
}

static void test_eviction_is_lru(void **state)
{
	struct rig *r = rig_new(3);
	const struct px_reply *rp;

	(void)state;
	rig_one(r, 1, 1, "a");
	rig_one(r, 2, 1, "a");
	rig_one(r, 2, 2, "b");
	rig_one(r, 3, 1, "a");
	rig_one(r, 1, 2, "b");      /* 1 is now more recent than 2 */
	rig_one(r, 4, 1, "a");      /* full: evicts 2, the least recently used */
	assert_int_equal(px_applier_counters(r->a)->evictions, 1);
	assert_false(px_applier_session_peek(r->a, 2, NULL));
	assert_true(px_applier_session_peek(r->a, 1, NULL));
	assert_true(px_applier_session_peek(r->a, 3, NULL));
	assert_true(px_applier_session_peek(r->a, 4, NULL));

	/* The evicted client's retry cannot be vouched for, a retry of its first command
	 * (seq 1) included: that one must not start a new session and apply twice. */
	rp = rig_one(r, 2, 2, "b");
	assert_int_equal(rp->status, PX_SESSION_EXPIRED);
	rp = rig_one(r, 2, 3, "c");
	assert_int_equal(rp->status, PX_SESSION_EXPIRED);
	rp = rig_one(r, 2, 1, "a");
	assert_int_equal(rp->status, PX_SESSION_EXPIRED);
	assert_int_equal(px_applier_counters(r->a)->expired, 3);
	assert_int_equal(r->svc_state.applied, 6);
	assert_null(px_applier_check_invariants(r->a));

	/* A duplicate touches its session too: 3 becomes the most recent, 1 goes next. */
	rig_one(r, 3, 1, "a");
	rig_one(r, 5, 1, "a");
	assert_false(px_applier_session_peek(r->a, 1, NULL));
	assert_true(px_applier_session_peek(r->a, 3, NULL));
	assert_true(px_applier_session_peek(r->a, 4, NULL));
	assert_true(px_applier_session_peek(r->a, 5, NULL));
	assert_int_equal(px_applier_counters(r->a)->evictions, 2);
	rig_free(r);
}

static uint64_t rng_next(uint64_t *s)
{
	/* splitmix64: the tests' only source of "randomness", seeded and replayable. */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/*
 * Against a model: an array of client ids in most-recent-first order. Many more clients
 * than sessions, ids spread over the whole u64 range and clustered, so the hash index
 * sees long probe runs and many backward-shift deletions.
 */
static void test_lru_matches_model(void **state)
{
	enum { MAX = 8, CLIENTS = 40, STEPS = 20000 };
	struct rig *r = rig_new(MAX);
	uint64_t ids[CLIENTS], seqs[CLIENTS] = { 0 }, model[MAX], rng = 42, last;
	uint64_t gone[MAX];   /* the model's last MAX evicted ids, oldest at gone_head */
	uint32_t n_model = 0, i, j, k, gone_head = 0, n_gone = 0;
	const struct px_reply *rp;
	bool found;

	(void)state;
	for (i = 0; i < CLIENTS; i++)
		ids[i] = i < CLIENTS / 2 ? rng_next(&rng) : 1000 + i * (uint64_t)MAX * 4;
	for (uint32_t step = 0; step < STEPS; step++) {
		k = (uint32_t)(rng_next(&rng) % CLIENTS);
		found = false;
		for (j = 0; j < n_model; j++)
			if (model[j] == ids[k]) {
				found = true;
				break;
			}
		/* A client whose session is gone starts over with a new id at seq 1, as
		 * libpaxwire-client does; its old id, while among the last MAX evicted, is
		 * refused even at seq 1. */
		if (!found && seqs[k] != 0) {
			bool remembered = false;
			for (j = 0; j < n_gone; j++)
				remembered |= gone[(gone_head + j) % MAX] == ids[k];
			if (remembered) {
				rp = rig_one(r, ids[k], 1, "z");
				assert_int_equal(rp->status, PX_SESSION_EXPIRED);
			}
			ids[k] = k < CLIENTS / 2 ? rng_next(&rng) : ids[k] + (uint64_t)CLIENTS * MAX * 4;
		}
		if (!found)
			seqs[k] = 0;
		rp = rig_one(r, ids[k], ++seqs[k], "z");
		assert_int_equal(rp->status, PX_OK);
		if (found) {
			memmove(&model[1], &model[0], j * sizeof(model[0]));
		} else {
			if (n_model < MAX) {
				n_model++;
			} else {   /* model[MAX - 1] is evicted */
				if (n_gone == MAX) {
					gone_head = (gone_head + 1) % MAX;
					n_gone--;
				}
				gone[(gone_head + n_gone++) % MAX] = model[MAX - 1];
			}
			memmove(&model[1], &model[0], (n_model - 1) * sizeof(model[0]));
		}
		model[0] = ids[k];
		assert_int_equal(px_applier_sessions(r->a), n_model);
		for (i = 0; i < CLIENTS; i++) {
			found = false;
			for (j = 0; j < n_model; j++)
				found |= model[j] == ids[i];
			assert_int_equal(px_applier_session_peek(r->a, ids[i], &last), found);
			if (found)
				assert_int_equal(last, seqs[i]);
		}
	}
	assert_true(px_applier_counters(r->a)->evictions > 1000);
	assert_null(px_applier_check_invariants(r->a));
	rig_free(r);
}

/* Evicted ids are remembered for the last max evictions only: an older one is
 * forgotten, and its seq 1 would start a session again (the documented edge). */
static void test_evicted_ids_remembered(void **state)
{
	enum { MAX = 2 };
	struct rig *r = rig_new(MAX);
	const struct px_reply *rp;

	(void)state;
	for (uint64_t id = 1; id <= 6; id++)   /* sessions 5, 6; evicted 1..4 */
		rig_one(r, id, 1, "a");
	assert_int_equal(px_applier_counters(r->a)->evictions, 4);
	assert_null(px_applier_check_invariants(r->a));
	rp = rig_one(r, 4, 1, "a");   /* remembered: refused */
	assert_int_equal(rp->status, PX_SESSION_EXPIRED);
	rp = rig_one(r, 3, 1, "a");
	assert_int_equal(rp->status, PX_SESSION_EXPIRED);
	rp = rig_one(r, 1, 1, "a");   /* forgotten after 2 more evictions: a new session */
	assert_int_equal(rp->status, PX_OK);
	assert_true(px_applier_session_peek(r->a, 1, NULL));
	assert_null(px_applier_check_invariants(r->a));
	rig_free(r);
}

/**
 * A pseudo-random batch: duplicates, stale seqs, unknown clients, no-ops. `a` only
 * steers the workload (a client that lost its session usually starts over at seq 1).
 */
static void random_batch(struct batch *b, uint64_t *rng, uint64_t *seqs, uint32_t clients,
			 const struct px_applier *a)
{
	uint32_t n = (uint32_t)(rng_next(rng) % 9), i, k, pick;
	uint8_t body[16] = { 0 };
	uint64_t seq;

	batch_begin(b);
	for (i = 0; i < n; i++) {
		k = (uint32_t)(rng_next(rng) % clients);
		pick = (uint32_t)(rng_next(rng) % 10);
		if (pick < 8 && !px_applier_session_peek(a, 0x5000 + k, NULL))
			seqs[k] = 0;
		if (pick < 6)
			seq = ++seqs[k];                 /* new */
		else if (pick < 8)
			seq = seqs[k];                   /* retry */
		else if (pick < 9)
			seq = seqs[k] > 1 ? seqs[k] - 1 : 0; /* stale, or seq 0 */
		else
			seq = seqs[k] + 3;               /* a gap */
		memcpy(body, &seq, 8);
		memcpy(body + 8, &k, 4);
		batch_add(b, 0x5000 + k, seq, body, 4 + (uint32_t)(rng_next(rng) % 12));
	}
}

static void test_replicas_agree(void **state)
{
	enum { CLIENTS = 64, SLOTS = 3000 };
	struct rig *r1 = rig_new(16), *r2 = rig_new(16);
	uint64_t seqs[CLIENTS] = { 0 }, rng = 7;
	struct batch b;
	uint32_t i;

	(void)state;
	for (uint32_t s = 0; s < SLOTS; s++) {
		random_batch(&b, &rng, seqs, CLIENTS, r1->a);
		rig_apply(r1, &b);
		rig_apply(r2, &b);
		assert_int_equal(r1->out.n, r2->out.n);
		for (i = 0; i < r1->out.n; i++) {
			assert_int_equal(r1->out.replies[i].status, r2->out.replies[i].status);
			assert_int_equal(r1->out.replies[i].len, r2->out.replies[i].len);
			assert_memory_equal(r1->out.replies[i].data, r2->out.replies[i].data,
					    r1->out.replies[i].len);
		}
		assert_int_equal(px_applier_chain(r1->a), px_applier_chain(r2->a));
	}
	assert_memory_equal(px_applier_counters(r1->a), px_applier_counters(r2->a),
			    sizeof(struct px_apply_counters));
	assert_int_equal(counting_hash(&r1->svc_state), counting_hash(&r2->svc_state));
	for (i = 0; i < CLIENTS; i++) {
		uint64_t s1 = 0, s2 = 0;
		bool h1 = px_applier_session_peek(r1->a, 0x5000 + i, &s1);
		bool h2 = px_applier_session_peek(r2->a, 0x5000 + i, &s2);

		assert_int_equal(h1, h2);
		assert_int_equal(s1, s2);
	}
	/* The workload did exercise every path. */
	assert_true(px_applier_counters(r1->a)->evictions > 0);
	assert_true(px_applier_counters(r1->a)->duplicates > 0);
	assert_true(px_applier_counters(r1->a)->stale > 0);
	assert_true(px_applier_counters(r1->a)->expired > 0);
	assert_true(px_applier_counters(r1->a)->noops > 0);
	assert_true(px_applier_counters(r1->a)->bad_seq > 0);
	rig_free(r1);
	rig_free(r2);
}

static void test_chain_tells_logs_apart(void **state)
{
	struct rig *r1 = rig_new(4), *r2 = rig_new(4), *r3 = rig_new(4);
	struct batch x, y, y2;

	(void)state;
	batch_begin(&x);
	batch_add(&x, 1, 1, "same", 4);
	batch_begin(&y);
	batch_add(&y, 2, 1, "abcdefghij", 10);
	batch_begin(&y2);
	batch_add(&y2, 2, 1, "abcdefghiJ", 10);   /* one byte differs, in the tail word */

	rig_apply(r1, &x);
	rig_apply(r2, &x);
	rig_apply(r3, &y);
	assert_int_equal(px_applier_chain(r1->a), px_applier_chain(r2->a));
	assert_true(px_applier_chain(r1->a) != px_applier_chain(r3->a));

	rig_apply(r1, &y);
	rig_apply(r2, &y2);
	rig_apply(r3, &x);
	/* Same values, other slots (r3) or one byte off (r2): all three differ. */
	assert_true(px_applier_chain(r1->a) != px_applier_chain(r2->a));
	assert_true(px_applier_chain(r1->a) != px_applier_chain(r3->a));
	assert_true(px_applier_chain(r2->a) != px_applier_chain(r3->a));
	rig_free(r1);
	rig_free(r2);
	rig_free(r3);
}

static void test_noop_slot(void **state)
{
	struct rig *r = rig_new(4);
	struct batch b;
	uint64_t chain0 = px_applier_chain(r->a);

	(void)state;
	b.len = px_batch_noop(b.buf);
	rig_apply(r, &b);
	assert_int_equal(r->out.n, 0);
	assert_int_equal(r->out.used, 0);
	assert_int_equal(px_applier_counters(r->a)->noops, 1);
	assert_int_equal(px_applier_counters(r->a)->slots, 1);
	assert_true(px_applier_chain(r->a) != chain0);   /* a no-op still moves the chain */
	rig_free(r);
}

/*
 * A reply is whole or an error the client can act on, never cut with status OK (issue 9,
 * defect 3). 64 kv GETs of 3829-byte values (the largest kv_value_bytes allows) in one
 * slot make 245 KB of replies: every one must come back whole, with its own value.
 */
static void test_large_kv_replies_whole(void **state)
{
	enum { N = 64, VLEN = PW_KV_VALUE_BYTES_MAX };
	size_t kv_len = pw_kv_arena_bytes(N, 8, VLEN);
	void *kv_arena = malloc(kv_len);
	struct px_service svc;
	struct pw_kv_reply kr;
	struct pw_kv *kv;
	struct rig *r;
	struct batch b;
	static uint8_t val[VLEN], cmd[PX_CMD_BYTES_MAX];
	char key[8];
	uint32_t i, len;

	(void)state;
	assert_non_null(kv_arena);
	kv = pw_kv_init(N, 8, VLEN, kv_arena, kv_len);
	assert_non_null(kv);
	pw_kv_service(kv, &svc);
	r = rig_new_svc(2 * N, &svc);
	/* One put a slot: a 3845-byte command, four of them would not fill a slot anyway. */
	for (i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "k%02u", i);
		memset(val, 'a' + (int)(i % 26), sizeof(val));
		val[0] = (uint8_t)i;
		len = pw_kv_encode_put(cmd, sizeof(cmd), key, 3, val, VLEN);
		assert_true(len > 0);
		batch_begin(&b);
		batch_add(&b, 1000 + i, 1, cmd, len);
		rig_apply(r, &b);
		assert_int_equal(r->out.replies[0].status, PX_OK);
	}
	batch_begin(&b);
	for (i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "k%02u", i);
		len = pw_kv_encode_get(cmd, sizeof(cmd), key, 3);
		batch_add(&b, 2000 + i, 1, cmd, len);
	}
	rig_apply(r, &b);
	assert_int_equal(r->out.n, N);
	for (i = 0; i < N; i++) {
		const struct px_reply *rp = &r->out.replies[i];

		assert_int_equal(rp->client_id, 2000 + i);
		assert_int_equal(rp->status, PX_OK);
		assert_int_equal(rp->len, PW_KV_REPLY_HDR_BYTES + VLEN);
		assert_int_equal(pw_kv_decode_reply(rp->data, rp->len, &kr), 0);
		assert_int_equal(kr.result, PW_KV_R_OK);
		assert_int_equal(kr.value_len, VLEN);
		assert_int_equal(kr.value[0], i);
		assert_int_equal(kr.value[VLEN - 1], 'a' + (int)(i % 26));
	}
	assert_int_equal(r->out.used, N * (PW_KV_REPLY_HDR_BYTES + VLEN));
	rig_free(r);
	free(kv_arena);
}

/*
 * The worst slot: PX_BATCH_CMDS_MAX commands, each with a PX_REPLY_BYTES_MAX reply, half
 * of them applied and half answered from the session caches (duplicates), and a short
 * reply last (short ones are copied as a fixed 16 bytes: it must stay inside out).
 */
static void test_worst_case_slot_replies_whole(void **state)
{
	enum { N = PX_BATCH_CMDS_MAX, HALF = N / 2 };
	struct rig *r = rig_new(N);
	const struct px_reply *rp;
	struct batch b;
	uint32_t i, total = 0;
	uint64_t counter;

	(void)state;
	batch_begin(&b);
	for (i = 0; i < HALF; i++)
		batch_add(&b, 100 + i, 1, "\xfe", 1);
	for (i = 0; i < HALF - 1; i++)
		batch_add(&b, 100 + i, 1, "\xfe", 1);   /* retries: from the cache */
	batch_add(&b, 999, 1, "", 0);                   /* 8 bytes, last */
	rig_apply(r, &b);
	assert_int_equal(r->out.n, N);
	for (i = 0; i < N - 1; i++) {
		rp = &r->out.replies[i];
		assert_int_equal(rp->status, PX_OK);
		assert_int_equal(rp->len, PX_REPLY_BYTES_MAX);
		/* The counting service fills a long reply with its count of applied commands. */
		assert_int_equal(rp->data[0], (i % HALF) + 1);
		assert_int_equal(rp->data[PX_REPLY_BYTES_MAX - 1], (i % HALF) + 1);
		total += rp->len;
	}
	rp = &r->out.replies[N - 1];
	assert_int_equal(rp->status, PX_OK);
	assert_int_equal(rp->len, 8);
	counter = HALF + 1;
	assert_memory_equal(rp->data, &counter, 8);
	total += rp->len;
	assert_int_equal(r->out.used, total);
	assert_true(r->out.used <= PX_APPLY_OUT_BYTES);
	assert_int_equal(px_applier_counters(r->a)->duplicates, HALF - 1);
	assert_int_equal(r->svc_state.applied, HALF + 1);
	rig_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_errors),
		cmocka_unit_test(test_applies_in_order),
		cmocka_unit_test(test_duplicate_in_one_batch),
		cmocka_unit_test(test_duplicate_across_slots),
		cmocka_unit_test(test_stale_seq_expired),
		cmocka_unit_test(test_seq_zero_rejected),
		cmocka_unit_test(test_unknown_client_needs_seq_one),
		cmocka_unit_test(test_eviction_is_lru),
		cmocka_unit_test(test_evicted_ids_remembered),
		cmocka_unit_test(test_lru_matches_model),
		cmocka_unit_test(test_replicas_agree),
		cmocka_unit_test(test_chain_tells_logs_apart),
		cmocka_unit_test(test_noop_slot),
		cmocka_unit_test(test_large_kv_replies_whole),
		cmocka_unit_test(test_worst_case_slot_replies_whole),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
