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

static void assert_same_replies(const struct rig *r1, const struct rig *r2)
{
	assert_int_equal(r1->out.n, r2->out.n);
	for (uint32_t i = 0; i < r1->out.n; i++) {
		const struct px_reply *p1 = &r1->out.replies[i], *p2 = &r2->out.replies[i];
		assert_int_equal(p1->client_id, p2->client_id);
		assert_int_equal(p1->seq, p2->seq);
		assert_int_equal(p1->status, p2->status);
		assert_int_equal(p1->len, p2->len);
		assert_memory_equal(p1->data, p2->data, p1->len);
	}
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
	assert_int_equal(rp->len, 1);   /* the session lives: the reason */
	assert_int_equal(rp->data[0], PX_EXPIRED_SEQ);
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
		assert_same_replies(r1, r2);
		for (i = 0; i < r1->out.n; i++) {
			const struct px_reply *p1 = &r1->out.replies[i];

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

/* ---------------------------------------------------------------------------------- */
/* Windows: up to PX_SESSION_WINDOW seqs outstanding per session                        */

/** Applies one command with seq field px_seq_field(seq, behind); returns its reply. */
static const struct px_reply *rig_win(struct rig *r, uint64_t client, uint64_t seq,
				      uint32_t behind, const char *body)
{
	struct batch b;
	uint64_t field = px_seq_field(seq, behind);

	batch_begin(&b);
	batch_add(&b, client, field, body, (uint32_t)strlen(body));
	rig_apply(r, &b);
	assert_int_equal(r->out.n, 1);
	assert_int_equal(r->out.replies[0].seq, field);
	return &r->out.replies[0];
}

/** A PX_SESSION_EXPIRED of a held session, with its reason byte. */
static void assert_expired(const struct px_reply *rp, uint8_t why)
{
	assert_int_equal(rp->status, PX_SESSION_EXPIRED);
	assert_int_equal(rp->len, 1);
	assert_int_equal(rp->data[0], why);
}

/* A pipelining client: seqs 1..200 in order, each naming the oldest still awaited
 * (a window of 40 in flight): every one applied once, in order. */
static void test_window_in_order(void **state)
{
	struct rig *r = rig_new(4);
	uint64_t id = rig_register(r, 3), last = 0;
	const struct px_reply *rp;

	(void)state;
	for (uint64_t s = 1; s <= 200; s++) {
		uint32_t behind = s > 40 ? 39 : (uint32_t)(s - 1);
		rp = rig_win(r, id, s, behind, "x");
		assert_int_equal(rp->status, PX_OK);
		assert_int_equal(reply_counter(rp), s);
	}
	assert_true(px_applier_session_peek(r->a, id, &last));
	assert_int_equal(last, 200);
	/* Every seq of the window is still answered from the cache (9 bytes a reply). */
	for (uint64_t s = 161; s <= 200; s++) {
		rp = rig_win(r, id, s, 39, "x");
		assert_int_equal(rp->status, PX_OK);
		assert_int_equal(reply_counter(rp), s);
	}
	/* Below the floor the client named (200 - 39): stale. */
	assert_expired(rig_win(r, id, 160, 0, "x"), PX_EXPIRED_SEQ);
	assert_int_equal(r->svc_state.applied, 200);
	assert_int_equal(px_applier_counters(r->a)->duplicates, 40);
	assert_int_equal(px_applier_counters(r->a)->stale, 1);
	assert_int_equal(px_applier_counters(r->a)->gaps_filled, 0);
	rig_free(r);
}

/* Commands chosen out of order (resends, a failover): each applied once, where it is
 * chosen; the gaps filled; a later copy of any is a duplicate. */
static void test_window_out_of_order(void **state)
{
	static const uint64_t order[] = { 3, 1, 7, 2, 5, 4, 8, 6 };
	struct rig *r = rig_new(4);
	uint64_t id = rig_register(r, 3), last = 0, got[9] = { 0 };
	const struct px_reply *rp;

	(void)state;
	for (uint32_t i = 0; i < 8; i++) {
		/* Sent in order 1..8 with seq 1 still awaited: behind = seq - 1. */
		rp = rig_win(r, id, order[i], (uint32_t)(order[i] - 1), "y");
		assert_int_equal(rp->status, PX_OK);
		assert_int_equal(reply_counter(rp), i + 1);
		got[order[i]] = reply_counter(rp);
	}
	assert_true(px_applier_session_peek(r->a, id, &last));
	assert_int_equal(last, 8);
	assert_int_equal(px_applier_counters(r->a)->gaps_filled, 5);   /* 1, 2, 5, 4, 6 */
	/* Every copy again, in another order: the first answers, none applied again. */
	for (uint64_t s = 8; s >= 1; s--) {
		rp = rig_win(r, id, s, (uint32_t)(s - 1), "y");
		assert_int_equal(rp->status, PX_OK);
		assert_int_equal(reply_counter(rp), got[s]);
	}
	assert_int_equal(r->svc_state.applied, 8);
	assert_int_equal(px_applier_counters(r->a)->duplicates, 8);

	/* A gap left open and filled much later, while the window still covers it. */
	rp = rig_win(r, id, 20, 11, "z");           /* 9..19 still awaited */
	assert_int_equal(rp->status, PX_OK);
	rp = rig_win(r, id, 9, 0, "z");
	assert_int_equal(rp->status, PX_OK);
	assert_int_equal(reply_counter(rp), 10);
	rp = rig_win(r, id, 9, 0, "z");
	assert_int_equal(reply_counter(rp), 10);
	/* A command naming 9 as its floor now makes 1..8 stale, applied or not. */
	assert_expired(rig_win(r, id, 8, 7, "y"), PX_EXPIRED_SEQ);
	assert_int_equal(r->svc_state.applied, 10);
	rig_free(r);
}

/* A duplicate within the window gets the first reply byte for byte, a rejected
 * command's too; neither is applied again. */
static void test_window_duplicate_in_window(void **state)
{
	struct rig *r = rig_new(4);
	uint64_t id = rig_register(r, 3);
	const struct px_reply *rp;
	uint8_t first[64];
	uint32_t first_len;

	(void)state;
	for (uint64_t s = 1; s <= 30; s++)
		rig_win(r, id, s, (uint32_t)(s - 1), s == 7 ? "\xff" : "hello");
	rp = rig_win(r, id, 12, 11, "hello");
	assert_int_equal(rp->status, PX_OK);
	assert_int_equal(reply_counter(rp), 12);
	first_len = rp->len;
	memcpy(first, rp->data, first_len);
	for (uint32_t k = 0; k < 3; k++) {
		rp = rig_win(r, id, 12, 11, "hello");
		assert_int_equal(rp->len, first_len);
		assert_memory_equal(rp->data, first, first_len);
	}
	rp = rig_win(r, id, 7, 6, "\xff");
	assert_int_equal(rp->status, PX_BAD_COMMAND);
	assert_int_equal(rp->len, 0);
	/* A duplicate in the same batch as its first copy, and one of an older seq. */
	struct batch b;
	batch_begin(&b);
	batch_add(&b, id, px_seq_field(31, 30), "w", 1);
	batch_add(&b, id, px_seq_field(31, 30), "w", 1);
	batch_add(&b, id, px_seq_field(2, 1), "hello", 5);
	rig_apply(r, &b);
	assert_int_equal(r->out.n, 3);
	assert_int_equal(reply_counter(&r->out.replies[0]), 31);
	assert_int_equal(reply_counter(&r->out.replies[1]), 31);
	assert_int_equal(reply_counter(&r->out.replies[2]), 2);
	assert_int_equal(r->svc_state.applied, 31);
	rig_free(r);
}

/* Too old: a seq PX_SESSION_WINDOW or more below the highest applied is refused, never
 * applied, whatever its floor said; and a seq 0 with a `behind` is no command. */
static void test_window_too_old(void **state)
{
	struct rig *r = rig_new(4);
	uint64_t id = rig_register(r, 3), last = 0;
	const struct px_reply *rp;

	(void)state;
	assert_int_equal(rig_win(r, id, 1, 0, "a")->status, PX_OK);
	/* seq W + 2 claiming it still awaits everything from 1 (behind is 8 bits): the
	 * window ends at 3 anyway. */
	rp = rig_win(r, id, PX_SESSION_WINDOW + 2, PX_SESSION_WINDOW + 1, "b");
	assert_int_equal(rp->status, PX_OK);
	assert_expired(rig_win(r, id, 2, 1, "c"), PX_EXPIRED_SEQ);       /* never applied */
	assert_expired(rig_win(r, id, 1, 0, "a"), PX_EXPIRED_SEQ);       /* applied before */
	rp = rig_win(r, id, 3, 2, "d");                                  /* the window's end */
	assert_int_equal(rp->status, PX_OK);
	assert_int_equal(r->svc_state.applied, 3);
	/* Nothing ever applies 2 later, even after the window moves back... it does not:
	 * a higher seq only moves it on. */
	rig_win(r, id, 200, 0, "e");
	assert_expired(rig_win(r, id, 2, 0, "c"), PX_EXPIRED_SEQ);
	assert_expired(rig_win(r, id, 199, 0, "c"), PX_EXPIRED_SEQ);    /* below floor 200 */
	assert_true(px_applier_session_peek(r->a, id, &last));
	assert_int_equal(last, 200);
	assert_int_equal(px_applier_counters(r->a)->stale, 4);
	/* A far jump empties the window. */
	rig_win(r, id, 1000, 5, "f");
	assert_expired(rig_win(r, id, 200, 0, "e"), PX_EXPIRED_SEQ);
	/* seq 0 with behind: PX_BAD_COMMAND, no session touched. */
	struct batch b;
	batch_begin(&b);
	batch_add(&b, id, px_seq_field(0, 3), "g", 1);
	rig_apply(r, &b);
	assert_int_equal(r->out.replies[0].status, PX_BAD_COMMAND);
	assert_int_equal(px_applier_counters(r->a)->bad_seq, 1);
	assert_int_equal(px_applier_sessions(r->a), 1);
	assert_int_equal(r->svc_state.applied, 5);
	rig_free(r);
}

/* The reply ring: long replies push older ones out (a duplicate of one is then
 * SESSION_EXPIRED with PX_EXPIRED_REPLY, still not applied again), the newest is
 * always kept, short ones stay for the whole window. Sessions are still evicted LRU,
 * windows and all. */
static void test_window_eviction(void **state)
{
	struct rig *r = rig_new(2);
	uint64_t a = rig_register(r, 3), b, c;
	const struct px_reply *rp;

	(void)state;
	/* 1..4: 4096-byte replies; only the newest fits the ring. */
	for (uint64_t s = 1; s <= 4; s++) {
		rp = rig_win(r, a, s, (uint32_t)(s - 1), "\xfe");
		assert_int_equal(rp->len, PX_REPLY_BYTES_MAX);
	}
	for (uint64_t s = 1; s <= 3; s++)
		assert_expired(rig_win(r, a, s, (uint32_t)(s - 1), "\xfe"), PX_EXPIRED_REPLY);
	rp = rig_win(r, a, 4, 3, "\xfe");
	assert_int_equal(rp->status, PX_OK);
	assert_int_equal(rp->len, PX_REPLY_BYTES_MAX);
	assert_int_equal(rp->data[0], 4);
	assert_int_equal(px_applier_counters(r->a)->replies_lost, 3);
	/* Short replies after it: the long one goes once they need its bytes (9 bytes
	 * each: a short one never crosses the end, so 4096 / 9 of them at most). */
	for (uint64_t s = 5; s <= 5 + 62; s++)
		assert_int_equal(rig_win(r, a, s, (uint32_t)(s - 5), "x")->status, PX_OK);
	for (uint64_t s = 5; s <= 67; s++)
		assert_int_equal(reply_counter(rig_win(r, a, s, (uint32_t)(s - 5), "x")), s);
	assert_int_equal(r->svc_state.applied, 67);
	/* A long reply in the middle of short ones: it and the short ones after it stay. */
	rp = rig_win(r, a, 68, 0, "\xfe");
	assert_int_equal(rp->len, PX_REPLY_BYTES_MAX);
	rp = rig_win(r, a, 69, 1, "x");
	assert_int_equal(reply_counter(rp), 69);
	rp = rig_win(r, a, 68, 0, "\xfe");
	/* The ring holds the last 4096 bytes written: 68's 4096 less what 69 took. */
	assert_expired(rp, PX_EXPIRED_REPLY);
	assert_int_equal(reply_counter(rig_win(r, a, 69, 1, "x")), 69);
	assert_int_equal(r->svc_state.applied, 69);

	/* Session eviction: a's window goes with it. */
	b = rig_register(r, 4);
	rig_win(r, b, 1, 0, "x");
	c = rig_register(r, 5);       /* evicts a (least recently used) */
	assert_false(px_applier_session_peek(r->a, a, NULL));
	rp = rig_win(r, a, 69, 1, "x");
	assert_int_equal(rp->status, PX_SESSION_EXPIRED);
	assert_int_equal(rp->len, 0);   /* no session: no reason byte */
	assert_int_equal(rig_win(r, c, 1, 0, "x")->status, PX_OK);
	assert_int_equal(r->svc_state.applied, 71);
	rig_free(r);
}

/* Snapshots of a kv applier whose sessions have windows with gaps, duplicates, lost and
 * kept replies; restored elsewhere, the two answer a long random continuation of the
 * log identically, and a snapshot of the restored one is the same bytes. A PXSNAP04
 * (one reply per session) reads as a window holding last_seq alone. */
struct kv_rig {
	void *kv_arena;
	struct svc_kv *kv;
	struct px_service svc;
	struct rig *r;
};

static void kv_rig_new(struct kv_rig *k, uint32_t sessions)
{
	size_t len = svc_kv_arena_bytes(256, 16, WIRE_KV_VALUE_BYTES_MAX);

	k->kv_arena = malloc(len);
	assert_non_null(k->kv_arena);
	k->kv = svc_kv_init(256, 16, WIRE_KV_VALUE_BYTES_MAX, k->kv_arena, len);
	assert_non_null(k->kv);
	svc_kv_service(k->kv, &k->svc);
	k->r = rig_new_svc(sessions, &k->svc);
}

static void kv_rig_free(struct kv_rig *k)
{
	rig_free(k->r);
	free(k->kv_arena);
}

/** A random kv command: a put (a value up to 1 KiB, sometimes 3 KiB) or a get. */
static uint32_t random_kv_cmd(uint64_t *rng, uint8_t *cmd, uint32_t cap)
{
	static uint8_t val[WIRE_KV_VALUE_BYTES_MAX];
	char key[8];
	uint64_t x = rng_next(rng);
	uint32_t vlen = (x >> 8) % 16 == 0 ? 3000 : (uint32_t)((x >> 16) % 1024);

	snprintf(key, sizeof(key), "k%u", (unsigned)(x % 13));
	memset(val, (int)(x >> 40), vlen);
	if ((x >> 32) % 3 == 0)
		return wire_kv_encode_get(cmd, cap, key, (uint8_t)strlen(key));
	return wire_kv_encode_put(cmd, cap, key, (uint8_t)strlen(key), val, vlen);
}

/** A batch of pipelined commands of `n` clients with resends and gaps: each client has
 *  a next seq and an oldest awaited; commands go out of order. */
static void random_window_batch(struct batch *b, uint64_t *rng, const uint64_t *ids,
				uint64_t *next, uint64_t *oldest, uint32_t n)
{
	static uint8_t cmd[PX_CMD_BYTES_MAX];
	uint32_t k = 1 + (uint32_t)(rng_next(rng) % 4);

	batch_begin(b);
	for (uint32_t i = 0; i < k; i++) {
		uint32_t c = (uint32_t)(rng_next(rng) % n);
		uint64_t x = rng_next(rng), seq;
		uint32_t len = random_kv_cmd(rng, cmd, sizeof(cmd));

		if (b->len + PX_CMD_HDR_BYTES + len > PX_SLOT_BYTES_MAX)
			break;
		if (x % 5 == 0 || next[c] == oldest[c]) {
			seq = next[c]++;                               /* a new one */
			if ((x >> 40) % 3 == 0)
				continue;                              /* lost on its way */
		} else if (x % 5 == 1 && next[c] - oldest[c] > 1) {
			oldest[c] += 1 + (x >> 8) % (next[c] - oldest[c] - 1);  /* answered */
			continue;
		} else {
			seq = oldest[c] + (x >> 16) % (next[c] - oldest[c]);    /* a resend */
		}
		if (x % 97 == 0 && oldest[c] > 10)
			seq = oldest[c] - 1 - (x >> 24) % 10;                 /* a late copy */
		uint64_t behind = seq - oldest[c] < 256 ? seq - oldest[c] : 0;
		if (seq < oldest[c])
			behind = 0;
		if (next[c] - oldest[c] >= PX_SESSION_WINDOW)
			oldest[c] = next[c] - PX_SESSION_WINDOW + 1;          /* gave up */
		batch_add(b, ids[c], px_seq_field(seq, (uint32_t)behind), cmd, len);
	}
}

static void test_window_snapshot_round_trip(void **state)
{
	enum { CLIENTS = 6, SLOTS = 1500 };
	struct kv_rig k1, k2;
	uint64_t ids[CLIENTS], next[CLIENTS], oldest[CLIENTS], rng = 11;
	struct batch b;

	(void)state;
	kv_rig_new(&k1, 8);
	kv_rig_new(&k2, 8);
	batch_begin(&b);
	for (uint32_t i = 0; i < CLIENTS; i++)
		batch_register(&b, 100 + i);
	rig_apply(k1.r, &b);
	for (uint32_t i = 0; i < CLIENTS; i++) {
		ids[i] = px_session_id(1, i);
		next[i] = oldest[i] = 1;
	}
	for (uint32_t s = 0; s < SLOTS / 2; s++) {
		random_window_batch(&b, &rng, ids, next, oldest, CLIENTS);
		rig_apply(k1.r, &b);
	}
	const struct px_apply_counters *c = px_applier_counters(k1.r->a);
	assert_true(c->gaps_filled > 0);
	assert_true(c->duplicates > 0);
	assert_true(c->replies_lost > 0);
	assert_true(c->stale > 0);

	size_t cap = px_applier_snapshot_max(k1.r->a);
	uint8_t *buf = malloc(cap), *buf2 = malloc(cap);
	assert_non_null(buf);
	assert_non_null(buf2);
	size_t len = px_applier_snapshot(k1.r->a, buf, cap);
	assert_true(len > 0);
	assert_memory_equal(buf, "PXSNAP05", 8);
	assert_int_equal(px_applier_restore(k2.r->a, buf, len), 0);
	assert_null(px_applier_check_invariants(k2.r->a));
	k2.r->slot = k1.r->slot;
	/* The same bytes again from the restored one. */
	assert_int_equal(px_applier_snapshot(k2.r->a, buf2, cap), len);
	assert_memory_equal(buf, buf2, len);
	/* Every cut of it is refused, never read past. */
	for (size_t cut = 0; cut < len; cut += 1 + cut / 8)
		assert_int_equal(px_applier_restore(k2.r->a, buf, cut), -EINVAL);
	assert_int_equal(px_applier_restore(k2.r->a, buf, len), 0);

	for (uint32_t s = SLOTS / 2; s < SLOTS; s++) {
		random_window_batch(&b, &rng, ids, next, oldest, CLIENTS);
		rig_apply(k1.r, &b);
		rig_apply(k2.r, &b);
		assert_same_replies(k1.r, k2.r);
	}
	assert_int_equal(px_applier_chain(k1.r->a), px_applier_chain(k2.r->a));
	assert_int_equal(k1.svc.hash(k1.svc.ctx), k2.svc.hash(k2.svc.ctx));
	free(buf);
	free(buf2);
	kv_rig_free(&k1);
	kv_rig_free(&k2);
}

/** Rewrites a PXSNAP05 in place as the PXSNAP04 that applier would have written (each
 *  session's reply to last_seq; the fixed header the same); its new length. */
static size_t snap_to_v4(uint8_t *buf, size_t len)
{
	size_t hdr = 56 + 32 + PX_REPLICAS_MAX * PX_CONF_ADDR_BYTES, rd = hdr, wr = hdr;
	uint32_t n = wire_ld32(buf + 28);

	memcpy(buf, "PXSNAP04", 8);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t id = wire_ld64(buf + rd), last = wire_ld64(buf + rd + 8);
		uint64_t applied = wire_ld64(buf + rd + 24);
		uint32_t owner = wire_ld32(buf + rd + 32);
		uint8_t status = PX_OK, tmp[PX_REPLY_BYTES_MAX];
		uint32_t rlen = 0;
		rd += 40;
		for (uint32_t k = 0; k < PX_SESSION_WINDOW; k++) {
			if (((applied >> k) & 1u) == 0)
				continue;
			uint8_t st = buf[rd], kept = buf[rd + 1];
			uint32_t l = wire_ld16(buf + rd + 2);
			rd += 8;
			if (k == 0) {
				assert_int_equal(kept, 1);   /* the newest is always kept */
				status = st;
				rlen = l;
				memcpy(tmp, buf + rd, l);
			}
			if (kept)
				rd += l;
		}
		wire_st64(buf + wr, id);
		wire_st64(buf + wr + 8, last);
		buf[wr + 16] = status;
		wire_st32(buf + wr + 17, rlen);
		wire_st32(buf + wr + 21, owner);
		memcpy(buf + wr + 25, tmp, rlen);
		wr += 25 + rlen;
	}
	memmove(buf + wr, buf + rd, len - rd);
	return len - (rd - wr);
}

static void test_window_snapshot_v4(void **state)
{
	struct kv_rig k1, k2;
	uint8_t cmd[64];
	uint32_t len1;
	struct batch b;

	(void)state;
	kv_rig_new(&k1, 4);
	kv_rig_new(&k2, 4);
	uint64_t id = rig_register(k1.r, 9), id2 = rig_register(k1.r, 10);
	for (uint64_t s = 1; s <= 5; s++) {
		len1 = wire_kv_encode_put(cmd, sizeof(cmd), "k", 1, "v", 1);
		batch_begin(&b);
		batch_add(&b, id, px_seq_field(s, 0), cmd, len1);
		rig_apply(k1.r, &b);
	}
	size_t cap = px_applier_snapshot_max(k1.r->a);
	uint8_t *buf = malloc(cap);
	assert_non_null(buf);
	size_t len = snap_to_v4(buf, px_applier_snapshot(k1.r->a, buf, cap));
	assert_int_equal(px_applier_restore(k2.r->a, buf, len), 0);
	assert_null(px_applier_check_invariants(k2.r->a));
	k2.r->slot = k1.r->slot;
	uint64_t last = 0;
	assert_true(px_applier_session_peek(k2.r->a, id, &last));
	assert_int_equal(last, 5);
	assert_true(px_applier_session_peek(k2.r->a, id2, &last));
	assert_int_equal(last, 0);
	/* 5 again: the cached reply; 4: stale (as that applier answered it); 6: applied. */
	for (uint64_t s = 5; s >= 4; s--) {
		batch_begin(&b);
		batch_add(&b, id, px_seq_field(s, 0), cmd, len1);
		rig_apply(k1.r, &b);
		rig_apply(k2.r, &b);
		assert_same_replies(k1.r, k2.r);
	}
	assert_int_equal(k2.r->out.replies[0].status, PX_SESSION_EXPIRED);
	batch_begin(&b);
	batch_add(&b, id, px_seq_field(6, 0), cmd, len1);
	batch_add(&b, id2, px_seq_field(1, 0), cmd, len1);
	rig_apply(k1.r, &b);
	rig_apply(k2.r, &b);
	assert_same_replies(k1.r, k2.r);
	assert_int_equal(k2.r->out.replies[0].status, PX_OK);
	assert_int_equal(px_applier_counters(k2.r->a)->commands, 2);
	free(buf);
	kv_rig_free(&k1);
	kv_rig_free(&k2);
}

/* At most once, against a model, with many pipelining clients resending, giving up,
 * filling gaps and sending late copies: a service that knows every (client, seq) it
 * was given fails on a second one; every duplicate answers the first reply (or, its
 * bytes gone, PX_EXPIRED_REPLY); a command still awaited (at or above the floor it
 * names, within the client's window) is never refused as stale. Two appliers agree. */
#define ONCE_CLIENTS 16u
#define ONCE_SEQS 4096u
struct once {
	uint64_t applied;
	uint8_t seen[ONCE_CLIENTS][ONCE_SEQS];
};

static uint32_t once_apply(void *ctx, const uint8_t *cmd, uint32_t len, uint8_t *reply,
			   uint32_t cap, uint8_t *status)
{
	struct once *o = ctx;
	uint32_t c, q;

	assert_true(cap >= PX_REPLY_BYTES_MAX && len >= 8);
	memcpy(&c, cmd, 4);
	memcpy(&q, cmd + 4, 4);
	assert_true(c < ONCE_CLIENTS && q < ONCE_SEQS);
	if (o->seen[c][q]++ != 0)
		fail_msg("client %u seq %u applied twice", c, q);
	o->applied++;
	*status = PX_OK;
	memcpy(reply, &o->applied, 8);
	/* Replies of 8 bytes, and now and then a long one (pushes older ones out). */
	uint32_t n = len > 8 && cmd[8] == 0xfe ? 2000 : 8;
	if (n > 8)
		memset(reply + 8, 0xab, n - 8);
	return n;
}

static uint64_t once_hash(const void *ctx)
{
	return ((const struct once *)ctx)->applied;
}

static void test_window_at_most_once(void **state)
{
	enum { SLOTS = 6000 };
	static struct once o1, o2;
	struct px_service s1 = { .apply = once_apply, .hash = once_hash, .ctx = &o1 };
	struct px_service s2 = { .apply = once_apply, .hash = once_hash, .ctx = &o2 };
	struct rig *r1 = rig_new_svc(ONCE_CLIENTS, &s1), *r2 = rig_new_svc(ONCE_CLIENTS, &s2);
	static uint64_t first[ONCE_CLIENTS][ONCE_SEQS];
	uint64_t ids[ONCE_CLIENTS], next[ONCE_CLIENTS], oldest[ONCE_CLIENTS], rng = 5;
	struct batch b;

	(void)state;
	memset(first, 0, sizeof(first));
	batch_begin(&b);
	for (uint32_t i = 0; i < ONCE_CLIENTS; i++)
		batch_register(&b, 100 + i);
	rig_apply(r1, &b);
	rig_apply(r2, &b);
	for (uint32_t i = 0; i < ONCE_CLIENTS; i++) {
		ids[i] = px_session_id(1, i);
		next[i] = oldest[i] = 1;
	}
	for (uint32_t s = 0; s < SLOTS; s++) {
		uint8_t body[ONCE_CLIENTS * 8][12];
		uint32_t k = 1 + (uint32_t)(rng_next(&rng) % 8);

		batch_begin(&b);
		for (uint32_t i = 0; i < k; i++) {
			uint32_t c = (uint32_t)(rng_next(&rng) % ONCE_CLIENTS);
			uint64_t x = rng_next(&rng), seq;
			if (next[c] >= ONCE_SEQS - 1)
				continue;
			if (x % 4 == 0 || next[c] == oldest[c]) {
				seq = next[c]++;
				if ((x >> 40) % 3 == 0)
					continue;   /* lost on its way: a resend fills the gap */
			} else if (x % 4 == 1 && next[c] - oldest[c] > 1) {
				oldest[c] += 1 + (x >> 8) % (next[c] - oldest[c] - 1);
				continue;
			} else {
				seq = oldest[c] + (x >> 16) % (next[c] - oldest[c]);
			}
			bool late = x % 31 == 0 && oldest[c] > 5;
			if (late)
				seq = oldest[c] - 1 - (x >> 24) % 5;
			if (next[c] - oldest[c] >= PX_SESSION_WINDOW)
				oldest[c] = next[c] - PX_SESSION_WINDOW + 1;
			uint32_t behind = late ? 0 : (uint32_t)(seq - oldest[c]);
			uint32_t cc = c, qq = (uint32_t)seq;
			memcpy(body[i], &cc, 4);
			memcpy(body[i] + 4, &qq, 4);
			body[i][8] = (x >> 32) % 16 == 0 ? 0xfe : 0;
			batch_add(&b, ids[c], px_seq_field(seq, behind), body[i], 9);
		}
		rig_apply(r1, &b);
		rig_apply(r2, &b);
		assert_same_replies(r1, r2);
		/* Check each reply against the model, in batch order. */
		uint32_t off = 0, i = 0;
		struct px_cmd_ref cr;
		while (px_batch_next(b.buf, b.len, &off, &cr)) {
			const struct px_reply *rp = &r1->out.replies[i];
			uint32_t c, q;
			memcpy(&c, cr.body, 4);
			memcpy(&q, cr.body + 4, 4);
			if (rp->status == PX_OK) {
				uint64_t v;
				memcpy(&v, rp->data, 8);
				if (first[c][q] == 0)
					first[c][q] = v;
				else
					assert_int_equal(v, first[c][q]);
			} else {
				assert_int_equal(rp->status, PX_SESSION_EXPIRED);
				assert_int_equal(rp->len, 1);
				if (rp->data[0] == PX_EXPIRED_REPLY)
					assert_true(first[c][q] != 0);
			}
			i++;
		}
	}
	/* Awaited commands are never stale: every client's seqs from its oldest on, sent
	 * again with the right floor, are applied or answered from the cache. */
	for (uint32_t c = 0; c < ONCE_CLIENTS; c++) {
		for (uint64_t q = oldest[c]; q < next[c]; q++) {
			uint8_t body[9] = { 0 };
			uint32_t cc = c, qq = (uint32_t)q;
			memcpy(body, &cc, 4);
			memcpy(body + 4, &qq, 4);
			batch_begin(&b);
			batch_add(&b, ids[c], px_seq_field(q, (uint32_t)(q - oldest[c])), body, 9);
			rig_apply(r1, &b);
			const struct px_reply *rp = &r1->out.replies[0];
			assert_true(rp->status == PX_OK ||
				    (rp->status == PX_SESSION_EXPIRED && rp->data[0] == PX_EXPIRED_REPLY));
		}
	}
	const struct px_apply_counters *c = px_applier_counters(r1->a);
	assert_true(c->gaps_filled > 100);
	assert_true(c->duplicates > 100);
	assert_true(c->stale > 10);
	assert_true(c->replies_lost > 0);
	rig_free(r1);
	rig_free(r2);
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
		cmocka_unit_test(test_window_in_order),
		cmocka_unit_test(test_window_out_of_order),
		cmocka_unit_test(test_window_duplicate_in_window),
		cmocka_unit_test(test_window_too_old),
		cmocka_unit_test(test_window_eviction),
		cmocka_unit_test(test_window_snapshot_round_trip),
		cmocka_unit_test(test_window_snapshot_v4),
		cmocka_unit_test(test_window_at_most_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
