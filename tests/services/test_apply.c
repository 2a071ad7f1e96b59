/* SPDX-License-Identifier: Apache-2.0
 * The applier: registered client sessions and exactly-once, LRU eviction decided by
 * the log, session ids from log positions, whole replies, the hash chain. A counting
 * service records every command that reaches it, so each test can tell "applied once"
 * from "answered from the cache".
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

#include "svc_kv.h"
#include "px_apply.h"
#include "px_batch.h"
#include "wire_le.h"

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

/** A registration (seq 0, empty body) of the client with this nonce, appended to b. */
static void batch_register(struct batch *b, uint64_t nonce)
{
	batch_add(b, nonce, 0, NULL, 0);
}

/** The session id in a registration's reply (checked: PX_OK, the nonce, seq 0). */
static uint64_t reply_session(const struct px_reply *rp, uint64_t nonce)
{
	assert_int_equal(rp->status, PX_OK);
	assert_int_equal(rp->client_id, nonce);
	assert_int_equal(rp->seq, 0);
	assert_int_equal(rp->len, 8);
	return wire_ld64(rp->data);
}

/** Registers the client with this nonce in a slot of its own; returns its session id. */
static uint64_t rig_register(struct rig *r, uint64_t nonce)
{
	struct batch b;
	uint64_t id;

	batch_begin(&b);
	batch_register(&b, nonce);
	rig_apply(r, &b);
	assert_int_equal(r->out.n, 1);
	id = reply_session(&r->out.replies[0], nonce);
	assert_int_equal(id, px_session_id(r->slot, 0));
	assert_true(px_applier_session_peek(r->a, id, NULL));
	return id;
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

/* A registration is a command with seq 0: a session whose id is its log position, a
 * PX_OK reply to the nonce carrying the id. Nothing reaches the service. */
static void test_register(void **state)
{
	struct rig *r = rig_new(16);
	const struct px_reply *rp;
	struct batch b;
	uint64_t id, last = 99, s1, s2;

	(void)state;
	id = rig_register(r, 0xabcdef);
	assert_int_equal(id, px_session_id(1, 0));
	assert_true(id != 0);
	/* A registered session is there before its first command (read index needs it). */
	assert_true(px_applier_session_peek(r->a, id, &last));
	assert_int_equal(last, 0);
	assert_int_equal(r->svc_state.applied, 0);
	assert_int_equal(px_applier_counters(r->a)->registrations, 1);
	assert_int_equal(px_applier_counters(r->a)->commands, 0);

	/* Registrations among other commands: each id is its own position; a command later
	 * in the same batch may already use it. */
	batch_begin(&b);
	batch_add(&b, id, 1, "a", 1);
	batch_register(&b, 0x111);
	batch_register(&b, 0x111);      /* a retried registration: a second session */
	batch_add(&b, px_session_id(2, 1), 1, "b", 1);
	rig_apply(r, &b);
	assert_int_equal(r->out.n, 4);
	assert_int_equal(r->out.replies[0].status, PX_OK);
	s1 = reply_session(&r->out.replies[1], 0x111);
	s2 = reply_session(&r->out.replies[2], 0x111);
	assert_int_equal(s1, px_session_id(2, 1));
	assert_int_equal(s2, px_session_id(2, 2));
	assert_int_equal(r->out.replies[3].status, PX_OK);
	assert_int_equal(reply_counter(&r->out.replies[3]), 2);
	assert_int_equal(px_applier_sessions(r->a), 3);

	/* seq 0 with a body is no registration: refused, no session, nothing applied. */
	rp = rig_one(r, 0x222, 0, "x");
	assert_int_equal(rp->status, PX_BAD_COMMAND);
	assert_int_equal(rp->len, 0);
	assert_int_equal(px_applier_sessions(r->a), 3);
	assert_int_equal(px_applier_counters(r->a)->bad_seq, 1);
	assert_int_equal(r->svc_state.applied, 2);
	rig_free(r);
}

static void test_applies_in_order(void **state)
{
	struct rig *r = rig_new(16);
	struct batch b;
	uint64_t chain0 = px_applier_chain(r->a), ids[3];

	(void)state;
	for (uint32_t i = 0; i < 3; i++)
		ids[i] = rig_register(r, 10 + i);
	batch_begin(&b);
	batch_add(&b, ids[0], 1, "a", 1);
	batch_add(&b, ids[1], 1, "bb", 2);
	batch_add(&b, ids[2], 1, "", 0);
	rig_apply(r, &b);

	assert_int_equal(r->out.n, 3);
	for (uint32_t i = 0; i < 3; i++) {
		assert_int_equal(r->out.replies[i].client_id, ids[i]);
		assert_int_equal(r->out.replies[i].status, PX_OK);
		assert_int_equal(reply_counter(&r->out.replies[i]), i + 1);
	}
	assert_int_equal(r->out.replies[1].len, 10);
	assert_memory_equal(r->out.replies[1].data + 8, "bb", 2);
	assert_int_equal(r->svc_state.applied, 3);
	assert_int_equal(px_applier_sessions(r->a), 3);
	assert_int_equal(px_applier_counters(r->a)->commands, 3);
	assert_int_equal(px_applier_counters(r->a)->slots, 4);
	assert_true(px_applier_chain(r->a) != chain0);
	rig_free(r);
}

static void test_duplicate_in_one_batch(void **state)
{
	struct rig *r = rig_new(16);
	struct batch b;
	uint64_t id = rig_register(r, 7);

	(void)state;
	batch_begin(&b);
	batch_add(&b, id, 1, "x", 1);
	batch_add(&b, id, 1, "x", 1);
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

/* A retry (the same seq) gets the cached reply, byte for byte, and is not applied. */
static void test_duplicate_across_slots(void **state)
{
	struct rig *r = rig_new(16);
	const struct px_reply *rp;
	uint64_t a = rig_register(r, 7), b = rig_register(r, 8), c = rig_register(r, 9);
	uint8_t first[64];
	uint32_t first_len;
	uint64_t seq;

	(void)state;
	rp = rig_one(r, a, 1, "hello");
	assert_int_equal(rp->status, PX_OK);
	first_len = rp->len;
	memcpy(first, rp->data, rp->len);

	/* Other clients in between, then the retry: answered from the cache. */
	rig_one(r, b, 1, "other");
	rp = rig_one(r, a, 1, "hello");
	assert_int_equal(rp->status, PX_OK);
	assert_int_equal(rp->len, first_len);
	assert_memory_equal(rp->data, first, first_len);
	assert_int_equal(r->svc_state.applied, 2);
	assert_true(px_applier_session_peek(r->a, a, &seq));
	assert_int_equal(seq, 1);

	/* A rejected command is cached like any other reply. */
	rp = rig_one(r, c, 1, "\xff");
	assert_int_equal(rp->status, PX_BAD_COMMAND);
	rp = rig_one(r, c, 1, "\xff");
	assert_int_equal(rp->status, PX_BAD_COMMAND);
	assert_int_equal(rp->len, 0);
	assert_int_equal(r->svc_state.applied, 3);

	/* The next seq is applied. */
	rp = rig_one(r, a, 2, "again");
	assert_int_equal(reply_counter(rp), 4);
	assert_int_equal(px_applier_counters(r->a)->duplicates, 2);
	rig_free(r);
}

/* A seq below the last applied one is stale: SESSION_EXPIRED, not applied. */
static void test_stale_seq_expired(void **state)
{
	struct rig *r = rig_new(16);
	const struct px_reply *rp;
	uint64_t id = rig_register(r, 5);

	(void)state;
	rig_one(r, id, 1, "a");
	rig_one(r, id, 2, "b");
	rp = rig_one(r, id, 1, "a");
	assert_int_equal(rp->status, PX_SESSION_EXPIRED);
	assert_int_equal(rp->len, 0);
	assert_int_equal(r->svc_state.applied, 2);
	assert_int_equal(px_applier_counters(r->a)->stale, 1);

	/* A gap in seqs is allowed: the client gave up on a command, or its reads went by
	 * read index and never reached the log. */
	rp = rig_one(r, id, 9, "c");
	assert_int_equal(rp->status, PX_OK);
	assert_int_equal(r->svc_state.applied, 3);
	rig_free(r);
}

/* An id no registration issued: one from a position the log has not reached (an
 * honest client cannot hold it) or from slot 0. Refused, never applied, no session. */
static void test_future_id_refused(void **state)
{
	struct rig *r = rig_new(16);
	const struct px_reply *rp;
	struct batch b;
	uint64_t id = rig_register(r, 1), future;

	(void)state;
	/* At slot 2: slot 9's first position, this very slot's next one, and slot 0's. */
	future = px_session_id(9, 0);
	rp = rig_one(r, future, 1, "a");
	assert_int_equal(rp->status, PX_SESSION_EXPIRED);
	rp = rig_one(r, px_session_id(r->slot + 1, 0), 1, "a");   /* its own position */
	assert_int_equal(rp->status, PX_SESSION_EXPIRED);
	rp = rig_one(r, 5, 1, "a");
	assert_int_equal(rp->status, PX_SESSION_EXPIRED);
	rp = rig_one(r, 0, 1, "a");
	assert_int_equal(rp->status, PX_SESSION_EXPIRED);
	assert_int_equal(px_applier_counters(r->a)->unissued, 4);
	assert_int_equal(px_applier_counters(r->a)->expired, 0);

	/* A command ahead of the registration that then takes its id, in one batch: at
	 * the command's position the id did not exist yet. */
	batch_begin(&b);
	batch_add(&b, px_session_id(r->slot + 1, 1), 1, "b", 1);
	batch_register(&b, 2);
	rig_apply(r, &b);
	assert_int_equal(r->out.replies[0].status, PX_SESSION_EXPIRED);
	assert_int_equal(reply_session(&r->out.replies[1], 2), px_session_id(r->slot, 1));
	assert_int_equal(px_applier_counters(r->a)->unissued, 5);
	assert_int_equal(r->svc_state.applied, 0);
	assert_int_equal(px_applier_sessions(r->a), 2);
	assert_false(px_applier_session_peek(r->a, future, NULL));
	rp = rig_one(r, id, 1, "ok");
	assert_int_equal(rp->status, PX_OK);
	assert_int_equal(r->svc_state.applied, 1);
	rig_free(r);
}

static void test_eviction_is_lru(void **state)
{
	struct rig *r = rig_new(3);
	const struct px_reply *rp;
	uint64_t s1, s2, s3, s4, s5;

	(void)state;
	s1 = rig_register(r, 1);
	s2 = rig_register(r, 2);
	rig_one(r, s1, 1, "a");
	rig_one(r, s2, 1, "a");
	rig_one(r, s2, 2, "b");
	s3 = rig_register(r, 3);
	rig_one(r, s1, 2, "b");      /* 1 is now more recent than 2 and 3... */
	rig_one(r, s3, 1, "a");      /* ...and 3 more recent than 1: 2 is the LRU */
	s4 = rig_register(r, 4);     /* full: evicts 2 */
	assert_int_equal(px_applier_counters(r->a)->evictions, 1);
	assert_false(px_applier_session_peek(r->a, s2, NULL));
	assert_true(px_applier_session_peek(r->a, s1, NULL));
	assert_true(px_applier_session_peek(r->a, s3, NULL));
	assert_true(px_applier_session_peek(r->a, s4, NULL));

	/* The evicted session's commands cannot be vouched for, whatever their seq. */
	rp = rig_one(r, s2, 2, "b");
	assert_int_equal(rp->status, PX_SESSION_EXPIRED);
	rp = rig_one(r, s2, 3, "c");
	assert_int_equal(rp->status, PX_SESSION_EXPIRED);
	rp = rig_one(r, s2, 1, "a");
	assert_int_equal(rp->status, PX_SESSION_EXPIRED);
	assert_int_equal(px_applier_counters(r->a)->expired, 3);
	assert_int_equal(r->svc_state.applied, 5);

	/* A duplicate touches its session too: 1 becomes the most recent, so the next
	 * registration evicts 3 (4, registered after 3's command, is more recent). */
	rig_one(r, s1, 2, "b");
	s5 = rig_register(r, 5);
	assert_false(px_applier_session_peek(r->a, s3, NULL));
	assert_true(px_applier_session_peek(r->a, s1, NULL));
	assert_true(px_applier_session_peek(r->a, s4, NULL));
	assert_true(px_applier_session_peek(r->a, s5, NULL));
	assert_int_equal(px_applier_counters(r->a)->evictions, 2);
	rig_free(r);
}

/*
 * Issue 9, defect 5: exactly-once after eviction. Client A's seq 1 is applied; then
 * 2 x max_sessions other clients register, which evicts A (and, before registered
 * sessions, also pushed A's id out of the remembered evicted ids). A's seq 1 comes back
 * (a retry from the network): it must be SESSION_EXPIRED, and the service must not see
 * it again; nor any other seq of A, ever.
 */
static void test_evicted_replay_never_applied(void **state)
{
	enum { MAX = 8 };
	struct rig *r = rig_new(MAX);
	const struct px_reply *rp;
	struct batch b;
	uint64_t a, applied;

	(void)state;
	a = rig_register(r, 0xa);
	rp = rig_one(r, a, 1, "once");
	assert_int_equal(rp->status, PX_OK);
	applied = r->svc_state.applied;
	assert_int_equal(applied, 1);
	for (uint64_t k = 0; k < 2 * MAX; k++) {
		batch_begin(&b);
		batch_register(&b, 0x1000 + k);
		batch_add(&b, px_session_id(r->slot + 1, 0), 1, "other", 5);
		rig_apply(r, &b);
		assert_int_equal(r->out.replies[1].status, PX_OK);
	}
	assert_false(px_applier_session_peek(r->a, a, NULL));
	assert_int_equal(px_applier_counters(r->a)->evictions, MAX + 1);
	applied = r->svc_state.applied;

	rp = rig_one(r, a, 1, "once");
	assert_int_equal(rp->status, PX_SESSION_EXPIRED);
	assert_int_equal(r->svc_state.applied, applied);
	/* Nothing brings A back: no seq, now or after more registrations. */
	rp = rig_one(r, a, 2, "twice");
	assert_int_equal(rp->status, PX_SESSION_EXPIRED);
	for (uint64_t k = 0; k < 4 * MAX; k++)
		rig_register(r, 0x2000 + k);
	rp = rig_one(r, a, 1, "once");
	assert_int_equal(rp->status, PX_SESSION_EXPIRED);
	assert_int_equal(r->svc_state.applied, applied);
	assert_int_equal(px_applier_counters(r->a)->expired, 3);
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
 * Against a model: session ids in most-recent-first order. Many more clients than
 * sessions, so registrations evict constantly. A client whose session is gone first
 * replays its last command and a fresh one under the old id (both refused), then
 * registers again, as libpaxwire-client does.
 */
static void test_lru_matches_model(void **state)
{
	enum { MAX = 8, CLIENTS = 40, STEPS = 20000 };
	struct rig *r = rig_new(MAX);
	uint64_t ids[CLIENTS] = { 0 }, seqs[CLIENTS] = { 0 }, model[MAX], rng = 42, last;
	uint32_t n_model = 0, i, j, k;
	const struct px_reply *rp;
	bool found;

	(void)state;
	for (uint32_t step = 0; step < STEPS; step++) {
		k = (uint32_t)(rng_next(&rng) % CLIENTS);
		found = false;
		for (j = 0; j < n_model; j++)
			if (model[j] == ids[k]) {
				found = true;
				break;
			}
		if (!found) {
			if (ids[k] != 0) {
				uint64_t applied = r->svc_state.applied;

				rp = rig_one(r, ids[k], seqs[k], "z");
				assert_int_equal(rp->status, PX_SESSION_EXPIRED);
				rp = rig_one(r, ids[k], seqs[k] + 1, "z");
				assert_int_equal(rp->status, PX_SESSION_EXPIRED);
				assert_int_equal(r->svc_state.applied, applied);
			}
			ids[k] = rig_register(r, 0x9000 + k);
			if (n_model < MAX)
				n_model++;   /* else model[MAX - 1] is evicted */
			memmove(&model[1], &model[0], (n_model - 1) * sizeof(model[0]));
			model[0] = ids[k];
			seqs[k] = 0;
		} else {
			memmove(&model[1], &model[0], j * sizeof(model[0]));
			model[0] = ids[k];
		}
		/* Mostly a new command, sometimes a retry of the last one. */
		if (seqs[k] == 0 || rng_next(&rng) % 4 != 0)
			seqs[k]++;
		rp = rig_one(r, ids[k], seqs[k], "z");
		assert_int_equal(rp->status, PX_OK);
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
	assert_true(px_applier_counters(r->a)->duplicates > 1000);
	assert_null(px_applier_check_invariants(r->a));
	rig_free(r);
}

/**
 * A pseudo-random batch: registrations (some retried), new commands, duplicates, stale
 * seqs, ids from the future and from evicted sessions, seq 0 with a body, no-ops. `a`
 * only steers the workload (a client whose session is gone usually registers again).
 * ids[k] is client k's session, learned from the replies (0: none yet).
 */
static void random_batch(struct batch *b, uint64_t *rng, uint64_t *seqs, uint64_t *ids,
			 uint32_t clients, const struct px_applier *a, uint64_t slot)
{
	uint32_t n = (uint32_t)(rng_next(rng) % 9), i, k, pick;
	uint8_t body[16] = { 0 };
	uint64_t seq, id;

	batch_begin(b);
	for (i = 0; i < n; i++) {
		k = (uint32_t)(rng_next(rng) % clients);
		pick = (uint32_t)(rng_next(rng) % 12);
		if (pick < 8 && (ids[k] == 0 || !px_applier_session_peek(a, ids[k], NULL))) {
			batch_register(b, 0x5000 + k);
			continue;
		}
		id = ids[k];
		if (pick < 6)
			seq = ++seqs[k];                 /* new */
		else if (pick < 8)
			seq = seqs[k];                   /* retry */
		else if (pick < 9)
			seq = seqs[k] > 1 ? seqs[k] - 1 : 0; /* stale, or seq 0 with a body */
		else if (pick < 10)
			seq = seqs[k] + 3;               /* a gap */
		else if (pick < 11) {
			seq = 1;                         /* an id from the future */
			id = px_session_id(slot + rng_next(rng) % 3, (uint32_t)(rng_next(rng) % 9));
		} else {
			batch_register(b, 0x5000 + k);   /* a retried registration */
			continue;
		}
		memcpy(body, &seq, 8);
		memcpy(body + 8, &k, 4);
		batch_add(b, id, seq, body, 4 + (uint32_t)(rng_next(rng) % 12));
	}
}

/* Two appliers fed the same log agree on every reply, session id, counter and state:
 * registration ids are a function of the log alone. */
static void test_replicas_agree(void **state)
{
	enum { CLIENTS = 64, SLOTS = 3000 };
	struct rig *r1 = rig_new(16), *r2 = rig_new(16);
	uint64_t seqs[CLIENTS] = { 0 }, ids[CLIENTS] = { 0 }, rng = 7, last_id = 0;
	struct batch b;
	uint32_t i;

	(void)state;
	for (uint32_t s = 0; s < SLOTS; s++) {
		random_batch(&b, &rng, seqs, ids, CLIENTS, r1->a, r1->slot + 1);
		rig_apply(r1, &b);
		rig_apply(r2, &b);
		assert_int_equal(r1->out.n, r2->out.n);
		for (i = 0; i < r1->out.n; i++) {
			const struct px_reply *p1 = &r1->out.replies[i], *p2 = &r2->out.replies[i];

			assert_int_equal(p1->client_id, p2->client_id);
			assert_int_equal(p1->seq, p2->seq);
			assert_int_equal(p1->status, p2->status);
			assert_int_equal(p1->len, p2->len);
			assert_memory_equal(p1->data, p2->data, p1->len);
			if (p1->seq == 0 && p1->status == PX_OK) {
				/* A registration: its position, so ids only grow. */
				uint64_t id = reply_session(p1, p1->client_id);

				assert_int_equal(id, px_session_id(r1->slot, i));
				assert_true(id > last_id);
				last_id = id;
				ids[p1->client_id - 0x5000] = id;
				seqs[p1->client_id - 0x5000] = 0;
			}
		}
		assert_int_equal(px_applier_chain(r1->a), px_applier_chain(r2->a));
	}
	assert_memory_equal(px_applier_counters(r1->a), px_applier_counters(r2->a),
			    sizeof(struct px_apply_counters));
	assert_int_equal(counting_hash(&r1->svc_state), counting_hash(&r2->svc_state));
	for (i = 0; i < CLIENTS; i++) {
		uint64_t s1 = 0, s2 = 0;
		bool h1 = px_applier_session_peek(r1->a, ids[i], &s1);
		bool h2 = px_applier_session_peek(r2->a, ids[i], &s2);

		assert_int_equal(h1, h2);
		assert_int_equal(s1, s2);
	}
	/* The workload did exercise every path. */
	const struct px_apply_counters *c = px_applier_counters(r1->a);
	assert_true(c->registrations > 0);
	assert_true(c->evictions > 0);
	assert_true(c->duplicates > 0);
	assert_true(c->stale > 0);
	assert_true(c->expired > 0);
	assert_true(c->unissued > 0);
	assert_true(c->noops > 0);
	assert_true(c->bad_seq > 0);
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
	enum { N = 64, VLEN = WIRE_KV_VALUE_BYTES_MAX };
	size_t kv_len = svc_kv_arena_bytes(N, 8, VLEN);
	void *kv_arena = malloc(kv_len);
	struct px_service svc;
	struct wire_kv_reply kr;
	struct svc_kv *kv;
	struct rig *r;
	struct batch b;
	static uint8_t val[VLEN], cmd[PX_CMD_BYTES_MAX];
	char key[8];
	uint32_t i, len;

	(void)state;
	assert_non_null(kv_arena);
	kv = svc_kv_init(N, 8, VLEN, kv_arena, kv_len);
	assert_non_null(kv);
	svc_kv_service(kv, &svc);
	r = rig_new_svc(2 * N, &svc);
	batch_begin(&b);
	for (i = 0; i <= N; i++)
		batch_register(&b, 1000 + i);
	rig_apply(r, &b);
	/* One put a slot (3845-byte commands), all from the session of the last nonce. */
	for (i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "k%02u", i);
		memset(val, 'a' + (int)(i % 26), sizeof(val));
		val[0] = (uint8_t)i;
		len = wire_kv_encode_put(cmd, sizeof(cmd), key, 3, val, VLEN);
		assert_true(len > 0);
		batch_begin(&b);
		batch_add(&b, px_session_id(1, N), i + 1, cmd, len);
		rig_apply(r, &b);
		assert_int_equal(r->out.replies[0].status, PX_OK);
	}
	batch_begin(&b);
	for (i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "k%02u", i);
		len = wire_kv_encode_get(cmd, sizeof(cmd), key, 3);
		batch_add(&b, px_session_id(1, i), 1, cmd, len);
	}
	rig_apply(r, &b);
	assert_int_equal(r->out.n, N);
	for (i = 0; i < N; i++) {
		const struct px_reply *rp = &r->out.replies[i];

		assert_int_equal(rp->client_id, px_session_id(1, i));
		assert_int_equal(rp->status, PX_OK);
		assert_int_equal(rp->len, WIRE_KV_REPLY_HDR_BYTES + VLEN);
		assert_int_equal(wire_kv_decode_reply(rp->data, rp->len, &kr), 0);
		assert_int_equal(kr.result, WIRE_KV_R_OK);
		assert_int_equal(kr.value_len, VLEN);
		assert_int_equal(kr.value[0], i);
		assert_int_equal(kr.value[VLEN - 1], 'a' + (int)(i % 26));
	}
	assert_int_equal(r->out.used, N * (WIRE_KV_REPLY_HDR_BYTES + VLEN));
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
		batch_register(&b, 100 + i);
	rig_apply(r, &b);
	batch_begin(&b);
	for (i = 0; i < HALF; i++)
		batch_add(&b, px_session_id(1, i), 1, "\xfe", 1);
	for (i = 0; i < HALF - 1; i++)
		batch_add(&b, px_session_id(1, i), 1, "\xfe", 1);   /* retries: from the cache */
	batch_add(&b, px_session_id(1, HALF - 1), 2, "", 0);     /* 8 bytes, last */
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
		cmocka_unit_test(test_register),
		cmocka_unit_test(test_applies_in_order),
		cmocka_unit_test(test_duplicate_in_one_batch),
		cmocka_unit_test(test_duplicate_across_slots),
		cmocka_unit_test(test_stale_seq_expired),
		cmocka_unit_test(test_future_id_refused),
		cmocka_unit_test(test_eviction_is_lru),
		cmocka_unit_test(test_evicted_replay_never_applied),
		cmocka_unit_test(test_lru_matches_model),
		cmocka_unit_test(test_replicas_agree),
		cmocka_unit_test(test_chain_tells_logs_apart),
		cmocka_unit_test(test_noop_slot),
		cmocka_unit_test(test_large_kv_replies_whole),
		cmocka_unit_test(test_worst_case_slot_replies_whole),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
