/* SPDX-License-Identifier: Apache-2.0
 * svc_kv: PUT/GET/DEL/CAS semantics, a full table, every kind of malformed command,
 * an order-independent state hash, a long random run against a reference model, and
 * snapshots (round trips, the same replies afterwards, every malformed snapshot refused).
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

#include "px_apply.h"
#include "px_batch.h"
#include "svc_kv.h"

struct kvt {
	void *arena;
	struct svc_kv *kv;
	uint8_t cmd[PX_CMD_BYTES_MAX];
	uint8_t reply[PX_REPLY_BYTES_MAX];
	uint32_t reply_len;
	uint8_t status;
	struct wire_kv_reply r;
};

static struct kvt *kvt_new(uint32_t max_keys, uint32_t kbytes, uint32_t vbytes)
{
	struct kvt *t = calloc(1, sizeof(*t));
	size_t len = svc_kv_arena_bytes(max_keys, kbytes, vbytes);

	assert_non_null(t);
	assert_true(len > 0);
	t->arena = malloc(len);
	assert_non_null(t->arena);
	t->kv = svc_kv_init(max_keys, kbytes, vbytes, t->arena, len);
	assert_non_null(t->kv);
	return t;
}

static void kvt_free(struct kvt *t)
{
	free(t->arena);
	free(t);
}

/** Runs a raw command; decodes the reply. */
static void kvt_run(struct kvt *t, const uint8_t *cmd, uint32_t len)
{
	memset(t->reply, 0xaa, sizeof(t->reply));
	t->status = 0xee;
	t->reply_len = svc_kv_apply(t->kv, cmd, len, t->reply, sizeof(t->reply), &t->status);
	assert_int_equal(wire_kv_decode_reply(t->reply, t->reply_len, &t->r), 0);
	assert_true(t->status == PX_OK || t->status == PX_BAD_COMMAND);
	assert_int_equal(t->status == PX_BAD_COMMAND, t->r.result == WIRE_KV_R_BAD);
}

static uint8_t put(struct kvt *t, const char *k, const char *v)
{
	uint32_t n = wire_kv_encode_put(t->cmd, sizeof(t->cmd), k, (uint8_t)strlen(k), v,
				      (uint32_t)strlen(v));

	assert_true(n > 0);
	kvt_run(t, t->cmd, n);
	assert_int_equal(t->r.value_len, 0);
	return t->r.result;
}

static uint8_t get(struct kvt *t, const char *k)
{
	uint32_t n = wire_kv_encode_get(t->cmd, sizeof(t->cmd), k, (uint8_t)strlen(k));

	assert_true(n > 0);
	kvt_run(t, t->cmd, n);
	return t->r.result;
}

static uint8_t del(struct kvt *t, const char *k)
{
	uint32_t n = wire_kv_encode_del(t->cmd, sizeof(t->cmd), k, (uint8_t)strlen(k));

	assert_true(n > 0);
	kvt_run(t, t->cmd, n);
	assert_int_equal(t->r.value_len, 0);
	return t->r.result;
}

/** expect NULL: expect absent. */
static uint8_t cas(struct kvt *t, const char *k, const char *v, const char *expect)
{
	uint32_t n = wire_kv_encode_cas(t->cmd, sizeof(t->cmd), k, (uint8_t)strlen(k), v,
				      (uint32_t)strlen(v), expect,
				      expect ? (uint32_t)strlen(expect) : 0);

	assert_true(n > 0);
	kvt_run(t, t->cmd, n);
	return t->r.result;
}

static void assert_value(struct kvt *t, const char *k, const char *v)
{
	const uint8_t *p;
	uint32_t n;

	assert_int_equal(get(t, k), WIRE_KV_R_OK);
	assert_int_equal(t->r.value_len, strlen(v));
	assert_memory_equal(t->r.value, v, strlen(v));
	assert_true(svc_kv_get_direct(t->kv, k, (uint8_t)strlen(k), &p, &n));
	assert_int_equal(n, strlen(v));
	assert_memory_equal(p, v, n);
}

/* ---------------------------------------------------------------------------------- */

static void test_init_errors(void **state)
{
	size_t len = svc_kv_arena_bytes(8, 16, 64);
	void *arena = malloc(len);

	(void)state;
	assert_int_equal(svc_kv_arena_bytes(0, 16, 64), 0);
	assert_int_equal(svc_kv_arena_bytes(8, 0, 64), 0);
	assert_int_equal(svc_kv_arena_bytes(8, 256, 64), 0);
	assert_int_equal(svc_kv_arena_bytes(8, 16, WIRE_KV_VALUE_BYTES_MAX + 1), 0);
	assert_int_equal(svc_kv_arena_bytes(SVC_KV_KEYS_MAX + 1, 16, 64), 0);
	errno = 0;
	assert_null(svc_kv_init(8, 0, 64, arena, len));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(svc_kv_init(8, 16, 64, arena, len - 1));
	assert_int_equal(errno, ENOSPC);
	assert_non_null(svc_kv_init(8, 16, 64, arena, len));
	free(arena);
}

static void test_put_get_del(void **state)
{
	struct kvt *t = kvt_new(16, 16, 64);

	(void)state;
	assert_int_equal(get(t, "a"), WIRE_KV_R_NOT_FOUND);
	assert_int_equal(t->r.value_len, 0);
	assert_int_equal(del(t, "a"), WIRE_KV_R_NOT_FOUND);
	assert_false(svc_kv_get_direct(t->kv, "a", 1, NULL, NULL));

	assert_int_equal(put(t, "a", "one"), WIRE_KV_R_OK);
	assert_value(t, "a", "one");
	assert_int_equal(put(t, "a", "uno, longer"), WIRE_KV_R_OK);   /* overwrite */
	assert_value(t, "a", "uno, longer");
	assert_int_equal(put(t, "a", "1"), WIRE_KV_R_OK);             /* and shorter */
	assert_value(t, "a", "1");
	assert_int_equal(svc_kv_count(t->kv), 1);

	/* The empty key and the empty value are ordinary. */
	assert_int_equal(put(t, "", "empty key"), WIRE_KV_R_OK);
	assert_value(t, "", "empty key");
	assert_int_equal(put(t, "b", ""), WIRE_KV_R_OK);
	assert_value(t, "b", "");
	assert_int_equal(svc_kv_count(t->kv), 3);

	assert_int_equal(del(t, "a"), WIRE_KV_R_OK);
	assert_int_equal(get(t, "a"), WIRE_KV_R_NOT_FOUND);
	assert_int_equal(del(t, "a"), WIRE_KV_R_NOT_FOUND);
	assert_value(t, "b", "");
	assert_value(t, "", "empty key");
	assert_int_equal(svc_kv_count(t->kv), 2);

	/* Maximal key and value for this store. */
	char k[17], v[65];
	memset(k, 'k', 16);
	k[16] = 0;
	memset(v, 'v', 64);
	v[64] = 0;
	assert_int_equal(put(t, k, v), WIRE_KV_R_OK);
	assert_value(t, k, v);
	kvt_free(t);
}

static void test_cas(void **state)
{
	struct kvt *t = kvt_new(16, 16, 64);

	(void)state;
	/* Expecting a value of an absent key. */
	assert_int_equal(cas(t, "k", "v1", "v0"), WIRE_KV_R_NOT_FOUND);
	assert_int_equal(t->r.value_len, 0);
	assert_int_equal(get(t, "k"), WIRE_KV_R_NOT_FOUND);

	/* Expect absent, and it is: stored. */
	assert_int_equal(cas(t, "k", "v1", NULL), WIRE_KV_R_OK);
	assert_value(t, "k", "v1");

	/* Expect absent, but it is there: mismatch, with the current value. */
	assert_int_equal(cas(t, "k", "v2", NULL), WIRE_KV_R_CAS_MISMATCH);
	assert_int_equal(t->r.value_len, 2);
	assert_memory_equal(t->r.value, "v1", 2);
	assert_value(t, "k", "v1");

	/* Wrong expectation (same length, and a prefix): mismatch, current value. */
	assert_int_equal(cas(t, "k", "v2", "v9"), WIRE_KV_R_CAS_MISMATCH);
	assert_memory_equal(t->r.value, "v1", 2);
	assert_int_equal(cas(t, "k", "v2", "v"), WIRE_KV_R_CAS_MISMATCH);
	assert_value(t, "k", "v1");

	/* Right expectation: swapped. */
	assert_int_equal(cas(t, "k", "v2-long", "v1"), WIRE_KV_R_OK);
	assert_int_equal(t->r.value_len, 0);
	assert_value(t, "k", "v2-long");

	/* The empty value is a value, not absence. */
	assert_int_equal(put(t, "e", ""), WIRE_KV_R_OK);
	assert_int_equal(cas(t, "e", "x", NULL), WIRE_KV_R_CAS_MISMATCH);
	assert_int_equal(t->r.value_len, 0);
	assert_int_equal(cas(t, "e", "x", ""), WIRE_KV_R_OK);
	assert_value(t, "e", "x");

	/* Encoder: a real expect cannot claim the "absent" length. */
	assert_int_equal(wire_kv_encode_cas(t->cmd, sizeof(t->cmd), "k", 1, "v", 1, "x",
					  WIRE_KV_EXPECT_ABSENT), 0);
	kvt_free(t);
}

static void test_full_table(void **state)
{
	struct kvt *t = kvt_new(4, 8, 16);
	uint64_t h;

	(void)state;
	assert_int_equal(put(t, "k1", "1"), WIRE_KV_R_OK);
	assert_int_equal(put(t, "k2", "2"), WIRE_KV_R_OK);
	assert_int_equal(put(t, "k3", "3"), WIRE_KV_R_OK);
	assert_int_equal(cas(t, "k4", "4", NULL), WIRE_KV_R_OK);
	h = svc_kv_hash(t->kv);

	assert_int_equal(put(t, "k5", "5"), WIRE_KV_R_FULL);
	assert_int_equal(cas(t, "k5", "5", NULL), WIRE_KV_R_FULL);
	assert_int_equal(get(t, "k5"), WIRE_KV_R_NOT_FOUND);
	assert_int_equal(svc_kv_count(t->kv), 4);
	assert_int_equal(svc_kv_hash(t->kv), h);

	/* Existing keys still change in a full table. */
	assert_int_equal(put(t, "k1", "one"), WIRE_KV_R_OK);
	assert_int_equal(cas(t, "k2", "two", "2"), WIRE_KV_R_OK);
	assert_value(t, "k1", "one");
	assert_value(t, "k2", "two");

	/* A delete makes room; the freed entry is reused. */
	assert_int_equal(del(t, "k3"), WIRE_KV_R_OK);
	assert_int_equal(put(t, "k5", "5"), WIRE_KV_R_OK);
	assert_value(t, "k5", "5");
	assert_int_equal(put(t, "k6", "6"), WIRE_KV_R_FULL);
	assert_value(t, "k1", "one");
	assert_value(t, "k4", "4");
	kvt_free(t);
}

static void hdr(uint8_t *b, uint8_t op, uint8_t klen, uint16_t rsv, uint32_t vlen,
		uint32_t elen)
{
	b[0] = op;
	b[1] = klen;
	memcpy(b + 2, &rsv, 2);   /* the tests run little-endian */
	memcpy(b + 4, &vlen, 4);
	memcpy(b + 8, &elen, 4);
}

static void test_malformed(void **state)
{
	struct kvt *t = kvt_new(8, 8, 16);
	uint8_t b[256];
	uint64_t h;
	uint32_t n;
	struct {
		const char *what;
		uint8_t op, klen;
		uint16_t rsv;
		uint32_t vlen, elen, len;
	} cases[] = {
		{ "empty", WIRE_KV_PUT, 1, 0, 1, 0, 0 },
		{ "short header", WIRE_KV_PUT, 1, 0, 1, 0, 11 },
		{ "op 0", 0, 1, 0, 0, 0, 13 },
		{ "op 5", 5, 1, 0, 0, 0, 13 },
		{ "op 255", 255, 1, 0, 0, 0, 13 },
		{ "reserved set", WIRE_KV_GET, 1, 1, 0, 0, 13 },
		{ "put truncated", WIRE_KV_PUT, 1, 0, 4, 0, 16 },
		{ "put trailing", WIRE_KV_PUT, 1, 0, 2, 0, 16 },
		{ "put with expect", WIRE_KV_PUT, 1, 0, 1, 1, 15 },
		{ "put expect absent", WIRE_KV_PUT, 1, 0, 1, WIRE_KV_EXPECT_ABSENT, 14 },
		{ "get with value", WIRE_KV_GET, 1, 0, 1, 0, 14 },
		{ "get with expect", WIRE_KV_GET, 1, 0, 0, 1, 14 },
		{ "get key truncated", WIRE_KV_GET, 3, 0, 0, 0, 14 },
		{ "del with value", WIRE_KV_DEL, 1, 0, 1, 0, 14 },
		{ "del trailing", WIRE_KV_DEL, 1, 0, 0, 0, 14 },
		{ "cas truncated expect", WIRE_KV_CAS, 1, 0, 1, 3, 16 },
		{ "cas absent + trailing", WIRE_KV_CAS, 1, 0, 1, WIRE_KV_EXPECT_ABSENT, 15 },
		{ "value_len overflows", WIRE_KV_PUT, 1, 0, UINT32_MAX, 0, 13 },
		{ "value + expect overflow u32", WIRE_KV_CAS, 1, 0, 0x80000000u, 0x80000000u, 13 },
		{ "expect_len near absent", WIRE_KV_CAS, 1, 0, 0, UINT32_MAX - 1, 13 },
		{ "key over store limit", WIRE_KV_GET, 9, 0, 0, 0, 21 },
		{ "value over store limit", WIRE_KV_PUT, 1, 0, 17, 0, 30 },
		{ "expect over store limit", WIRE_KV_CAS, 1, 0, 1, 17, 31 },
	};

	(void)state;
	assert_int_equal(put(t, "a", "b"), WIRE_KV_R_OK);
	h = svc_kv_hash(t->kv);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(b, 'a', sizeof(b));
		hdr(b, cases[i].op, cases[i].klen, cases[i].rsv, cases[i].vlen, cases[i].elen);
		kvt_run(t, b, cases[i].len);
		if (t->status != PX_BAD_COMMAND)
			fail_msg("case '%s' was accepted", cases[i].what);
		assert_int_equal(t->r.result, WIRE_KV_R_BAD);
		assert_int_equal(t->r.value_len, 0);
		assert_int_equal(svc_kv_hash(t->kv), h);
		assert_int_equal(svc_kv_count(t->kv), 1);
	}
	/* A NULL command of length 0 (an empty body) too. */
	kvt_run(t, NULL, 0);
	assert_int_equal(t->status, PX_BAD_COMMAND);

	/* The same shapes, well formed, are accepted: the cases above fail for their flaw. */
	hdr(b, WIRE_KV_CAS, 1, 0, 1, 3);
	kvt_run(t, b, 17);
	assert_int_equal(t->status, PX_OK);
	assert_int_equal(t->r.result, WIRE_KV_R_CAS_MISMATCH);   /* key "a" holds "b" */
	assert_int_equal(t->r.value_len, 1);
	assert_memory_equal(t->r.value, "b", 1);
	n = wire_kv_encode_get(b, sizeof(b), "abcdefgh", 8);
	kvt_run(t, b, n);
	assert_int_equal(t->status, PX_OK);

	/* Random bytes never crash, and a rejected one never changes anything. */
	uint64_t rng = 99;
	for (uint32_t i = 0; i < 200000; i++) {
		uint32_t len = (uint32_t)((rng = rng * 6364136223846793005ull + 1) >> 59) + 10;
		for (uint32_t j = 0; j < len; j++)
			b[j] = (uint8_t)((rng = rng * 6364136223846793005ull + 1) >> 56);
		/* Bias toward plausible headers so the length checks get exercised. */
		b[0] &= 7;
		b[1] &= 7;
		b[2] = b[3] = 0;
		b[5] = b[6] = b[7] = 0;
		if (b[0] != WIRE_KV_CAS)
			b[9] = b[10] = b[11] = 0;
		h = svc_kv_hash(t->kv);
		n = svc_kv_count(t->kv);
		kvt_run(t, b, len);
		if (t->status == PX_BAD_COMMAND) {
			assert_int_equal(svc_kv_hash(t->kv), h);
			assert_int_equal(svc_kv_count(t->kv), n);
		}
	}
	kvt_free(t);
}

static void test_codec(void **state)
{
	uint8_t b[64];
	struct wire_kv_cmd c;
	struct wire_kv_reply r;

	(void)state;
	assert_int_equal(wire_kv_encode_put(b, 12 + 3 + 4 - 1, "key", 3, "valu", 4), 0);
	assert_int_equal(wire_kv_encode_put(b, 19, "key", 3, "valu", 4), 19);
	assert_int_equal(wire_kv_decode_cmd(b, 19, &c), 0);
	assert_int_equal(c.op, WIRE_KV_PUT);
	assert_int_equal(c.key_len, 3);
	assert_memory_equal(c.key, "key", 3);
	assert_int_equal(c.value_len, 4);
	assert_memory_equal(c.value, "valu", 4);

	assert_int_equal(wire_kv_encode_cas(b, sizeof(b), "k", 1, "new", 3, NULL, 7), 16);
	assert_int_equal(wire_kv_decode_cmd(b, 16, &c), 0);
	assert_null(c.expect);
	assert_int_equal(c.expect_len, WIRE_KV_EXPECT_ABSENT);
	assert_int_equal(wire_kv_encode_cas(b, sizeof(b), "k", 1, "new", 3, "old", 3), 19);
	assert_int_equal(wire_kv_decode_cmd(b, 19, &c), 0);
	assert_memory_equal(c.expect, "old", 3);
	assert_int_equal(wire_kv_encode_get(b, 12, "k", 1), 0);
	assert_int_equal(wire_kv_encode_del(b, 13, "k", 1), 13);

	/* Replies: exact length, known result. */
	b[0] = WIRE_KV_R_OK;
	memcpy(b + 1, "\x02\x00\x00\x00", 4);
	b[5] = 'h';
	b[6] = 'i';
	assert_int_equal(wire_kv_decode_reply(b, 7, &r), 0);
	assert_int_equal(r.value_len, 2);
	assert_memory_equal(r.value, "hi", 2);
	assert_int_equal(wire_kv_decode_reply(b, 6, &r), -EINVAL);
	assert_int_equal(wire_kv_decode_reply(b, 8, &r), -EINVAL);
	assert_int_equal(wire_kv_decode_reply(b, 4, &r), -EINVAL);
	b[0] = WIRE_KV_R_BAD + 1;
	assert_int_equal(wire_kv_decode_reply(b, 7, &r), -EINVAL);
}

static void key_of(char *k, uint32_t i)
{
	snprintf(k, 16, "key-%u", i);
}

static void test_hash_ignores_order(void **state)
{
	enum { N = 200 };
	struct kvt *a = kvt_new(N, 16, 32), *b = kvt_new(N, 16, 32), *c = kvt_new(N, 16, 32);
	char k[16], v[32];
	uint32_t i;

	(void)state;
	assert_int_equal(svc_kv_hash(a->kv), svc_kv_hash(b->kv));
	for (i = 0; i < N; i++) {
		key_of(k, i);
		snprintf(v, sizeof(v), "value-%u", i * 7);
		assert_int_equal(put(a, k, v), WIRE_KV_R_OK);
	}
	/* b: reverse order, with churn (deletes and re-puts move entries around). */
	for (i = N; i-- > 0;) {
		key_of(k, i);
		assert_int_equal(put(b, k, "junk"), WIRE_KV_R_OK);
	}
	for (i = 0; i < N; i += 3) {
		key_of(k, i);
		assert_int_equal(del(b, k), WIRE_KV_R_OK);
	}
	for (i = N; i-- > 0;) {
		key_of(k, i);
		snprintf(v, sizeof(v), "value-%u", i * 7);
		assert_int_equal(put(b, k, v), WIRE_KV_R_OK);
	}
	assert_int_equal(svc_kv_count(a->kv), svc_kv_count(b->kv));
	assert_int_equal(svc_kv_hash(a->kv), svc_kv_hash(b->kv));

	/* c: the same keys but one value differs, then one key missing. */
	for (i = 0; i < N; i++) {
		key_of(k, i);
		snprintf(v, sizeof(v), "value-%u", i == 123 ? 0 : i * 7);
		assert_int_equal(put(c, k, v), WIRE_KV_R_OK);
	}
	assert_true(svc_kv_hash(a->kv) != svc_kv_hash(c->kv));
	key_of(k, 123);
	assert_int_equal(del(c, k), WIRE_KV_R_OK);
	assert_true(svc_kv_hash(a->kv) != svc_kv_hash(c->kv));
	snprintf(v, sizeof(v), "value-%u", 123 * 7);
	assert_int_equal(put(c, k, v), WIRE_KV_R_OK);
	assert_int_equal(svc_kv_hash(a->kv), svc_kv_hash(c->kv));

	/* Swapping values between two keys changes the hash. */
	assert_int_equal(put(c, "key-1", "value-14"), WIRE_KV_R_OK);
	assert_int_equal(put(c, "key-2", "value-7"), WIRE_KV_R_OK);
	assert_true(svc_kv_hash(a->kv) != svc_kv_hash(c->kv));
	kvt_free(a);
	kvt_free(b);
	kvt_free(c);
}

/* A long random run against a plain array, small enough to hit FULL and to exercise
 * backward-shift deletion on long probe runs. */
static void test_matches_model(void **state)
{
	enum { KEYS = 48, SPACE = 64, STEPS = 100000 };
	struct kvt *t = kvt_new(KEYS, 16, 24);
	struct {
		bool present;
		uint32_t len;
		char v[24];
	} model[SPACE] = { 0 };
	uint64_t rng = 1234;
	uint32_t held = 0, i, kidx, op, vlen, n;
	char k[16], v[24];

	(void)state;
	for (uint32_t step = 0; step < STEPS; step++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		kidx = (uint32_t)(rng >> 33) % SPACE;
		op = (uint32_t)(rng >> 20) % 4;
		vlen = (uint32_t)(rng >> 40) % 24;
		key_of(k, kidx);
		for (i = 0; i < vlen; i++)
			v[i] = (char)('a' + (step + i) % 26);
		if (op == 0) {
			n = wire_kv_encode_put(t->cmd, sizeof(t->cmd), k, (uint8_t)strlen(k), v, vlen);
			kvt_run(t, t->cmd, n);
			if (!model[kidx].present && held == KEYS) {
				assert_int_equal(t->r.result, WIRE_KV_R_FULL);
			} else {
				assert_int_equal(t->r.result, WIRE_KV_R_OK);
				held += !model[kidx].present;
				model[kidx].present = true;
				model[kidx].len = vlen;
				memcpy(model[kidx].v, v, vlen);
			}
		} else if (op == 1) {
			assert_int_equal(get(t, k), model[kidx].present ? WIRE_KV_R_OK :
									  WIRE_KV_R_NOT_FOUND);
			if (model[kidx].present) {
				assert_int_equal(t->r.value_len, model[kidx].len);
				assert_memory_equal(t->r.value, model[kidx].v, model[kidx].len);
			}
		} else if (op == 2) {
			assert_int_equal(del(t, k), model[kidx].present ? WIRE_KV_R_OK :
									  WIRE_KV_R_NOT_FOUND);
			held -= model[kidx].present;
			model[kidx].present = false;
		} else {
			/* CAS expecting the model's value half of the time, absent otherwise. */
			bool expect_cur = (rng >> 50) & 1;
			const char *e = expect_cur && model[kidx].present ? model[kidx].v : NULL;
			uint32_t elen = e ? model[kidx].len : 0;

			n = wire_kv_encode_cas(t->cmd, sizeof(t->cmd), k, (uint8_t)strlen(k), v, vlen,
					     e, elen);
			kvt_run(t, t->cmd, n);
			if (e != NULL || !model[kidx].present) {
				if (!model[kidx].present && held == KEYS) {
					assert_int_equal(t->r.result, WIRE_KV_R_FULL);
					continue;
				}
				assert_int_equal(t->r.result, WIRE_KV_R_OK);
				held += !model[kidx].present;
				model[kidx].present = true;
				model[kidx].len = vlen;
				memcpy(model[kidx].v, v, vlen);
			} else {
				assert_int_equal(t->r.result, WIRE_KV_R_CAS_MISMATCH);
				assert_int_equal(t->r.value_len, model[kidx].len);
				assert_memory_equal(t->r.value, model[kidx].v, model[kidx].len);
			}
		}
		assert_int_equal(svc_kv_count(t->kv), held);
	}
	for (i = 0; i < SPACE; i++) {
		key_of(k, i);
		assert_int_equal(svc_kv_get_direct(t->kv, k, (uint8_t)strlen(k), NULL, NULL),
				 model[i].present);
	}
	kvt_free(t);
}

/* Raw keys (any bytes, zeros included) for the key-length tests. */
static uint8_t raw_put(struct kvt *t, const uint8_t *k, uint32_t klen, const uint8_t *v,
		       uint32_t vlen)
{
	uint32_t n = wire_kv_encode_put(t->cmd, sizeof(t->cmd), k, (uint8_t)klen, v, vlen);

	assert_true(n > 0);
	kvt_run(t, t->cmd, n);
	return t->r.result;
}

static uint8_t raw_get(struct kvt *t, const uint8_t *k, uint32_t klen)
{
	uint32_t n = wire_kv_encode_get(t->cmd, sizeof(t->cmd), k, (uint8_t)klen);

	assert_true(n > 0);
	kvt_run(t, t->cmd, n);
	return t->r.result;
}

static uint8_t raw_del(struct kvt *t, const uint8_t *k, uint32_t klen)
{
	uint32_t n = wire_kv_encode_del(t->cmd, sizeof(t->cmd), k, (uint8_t)klen);

	assert_true(n > 0);
	kvt_run(t, t->cmd, n);
	return t->r.result;
}

/*
 * Keys of every length from 0 to 40, across the short (<= 16 bytes, compared as words)
 * and long (compared bytewise) roads: keys that are prefixes of each other, that differ
 * only in trailing zero bytes, or only in their last byte are all distinct keys; a
 * deleted entry is reused by a key of the other kind; and the state hash does not
 * depend on which road or entry a key took.
 */
static void test_key_lengths(void **state)
{
	enum { MAXK = 40, KINDS = 3, N = (MAXK + 1) * KINDS };
	struct kvt *t = kvt_new(N, MAXK, 8), *u = kvt_new(N, MAXK, 8);
	uint8_t keys[N][MAXK], v[8];
	uint32_t lens[N], i, j, len;
	const uint8_t *p;

	(void)state;
	/* Kind 0: "abc..." of length len (each a prefix of the next); kind 1: all zeros
	 * (so only the length tells them apart); kind 2: kind 0 with its last byte +1. */
	for (len = 0; len <= MAXK; len++) {
		for (j = 0; j < KINDS; j++) {
			i = len * KINDS + j;
			lens[i] = len;
			for (uint32_t b = 0; b < len; b++)
				keys[i][b] = j == 1 ? 0 : (uint8_t)('a' + b % 26);
			if (j == 2 && len > 0)
				keys[i][len - 1]++;
		}
	}
	for (i = 0; i < N; i++) {
		if (lens[i] == 0 && i % KINDS != 0)
			continue;   /* the empty key is one key */
		memcpy(v, &i, sizeof(i));
		memset(v + 4, (int)i, 4);
		assert_int_equal(raw_put(t, keys[i], lens[i], v, 8), WIRE_KV_R_OK);
	}
	assert_int_equal(svc_kv_count(t->kv), N - (KINDS - 1));
	for (i = 0; i < N; i++) {
		uint32_t want = lens[i] == 0 ? 0 : i;

		assert_int_equal(raw_get(t, keys[i], lens[i]), WIRE_KV_R_OK);
		assert_int_equal(t->r.value_len, 8);
		assert_memory_equal(t->r.value, &want, 4);
		assert_true(svc_kv_get_direct(t->kv, keys[i], (uint8_t)lens[i], &p, &len));
		assert_int_equal(len, 8);
		assert_memory_equal(p, &want, 4);
	}

	/* Overwrite every other key with a value of another length, then delete the
	 * short keys of kind 1 and let long keys of a new kind take their entries. */
	for (i = 1; i < N; i += 2) {
		if (lens[i] == 0)
			continue;   /* the empty key keeps kind 0's value */
		assert_int_equal(raw_put(t, keys[i], lens[i], (const uint8_t *)"xyz", 3),
				 WIRE_KV_R_OK);
	}
	for (len = 1; len <= 16; len++)
		assert_int_equal(raw_del(t, keys[len * KINDS + 1], len), WIRE_KV_R_OK);
	assert_int_equal(raw_get(t, keys[5 * KINDS + 1], 5), WIRE_KV_R_NOT_FOUND);
	for (len = 17; len <= 32; len++) {
		uint8_t k[MAXK];

		memset(k, 0xff, len);
		assert_int_equal(raw_put(t, k, len, (const uint8_t *)"new", 3), WIRE_KV_R_OK);
	}
	for (len = 17; len <= MAXK; len++) {
		/* The all-zero long keys survived the deletes of their short namesakes. */
		assert_int_equal(raw_get(t, keys[len * KINDS + 1], len), WIRE_KV_R_OK);
	}

	/* The same contents built in another order, with no deletes: the same hash. */
	for (i = N; i-- > 0;) {
		if (lens[i] == 0 && i % KINDS != 0)
			continue;
		if (i % KINDS == 1 && lens[i] >= 1 && lens[i] <= 16)
			continue;
		if (i % 2 == 1) {
			assert_int_equal(raw_put(u, keys[i], lens[i], (const uint8_t *)"xyz", 3),
					 WIRE_KV_R_OK);
		} else {
			memcpy(v, &i, sizeof(i));
			memset(v + 4, (int)i, 4);
			assert_int_equal(raw_put(u, keys[i], lens[i], v, 8), WIRE_KV_R_OK);
		}
	}
	for (len = 32; len >= 17; len--) {
		uint8_t k[MAXK];

		memset(k, 0xff, len);
		assert_int_equal(raw_put(u, k, len, (const uint8_t *)"new", 3), WIRE_KV_R_OK);
	}
	assert_int_equal(svc_kv_count(u->kv), svc_kv_count(t->kv));
	assert_int_equal(svc_kv_hash(u->kv), svc_kv_hash(t->kv));
	kvt_free(t);
	kvt_free(u);
}

/* A store whose keys are all short (max_key_bytes < 16) keeps them apart too. */
static void test_small_max_key(void **state)
{
	struct kvt *t = kvt_new(8, 5, 4);
	const uint8_t z[6] = { 0 };

	(void)state;
	assert_int_equal(raw_put(t, z, 0, (const uint8_t *)"0", 1), WIRE_KV_R_OK);
	assert_int_equal(raw_put(t, z, 1, (const uint8_t *)"1", 1), WIRE_KV_R_OK);
	assert_int_equal(raw_put(t, z, 5, (const uint8_t *)"5", 1), WIRE_KV_R_OK);
	assert_int_equal(raw_put(t, (const uint8_t *)"abcde", 5, (const uint8_t *)"e", 1),
			 WIRE_KV_R_OK);
	assert_int_equal(svc_kv_count(t->kv), 4);
	assert_int_equal(raw_get(t, z, 1), WIRE_KV_R_OK);
	assert_memory_equal(t->r.value, "1", 1);
	assert_int_equal(raw_get(t, z, 5), WIRE_KV_R_OK);
	assert_memory_equal(t->r.value, "5", 1);
	assert_int_equal(raw_get(t, z, 2), WIRE_KV_R_NOT_FOUND);
	assert_int_equal(raw_get(t, (const uint8_t *)"abcd", 4), WIRE_KV_R_NOT_FOUND);
	/* One byte over this store's key limit: rejected, nothing changes. */
	assert_int_equal(raw_put(t, z, 6, (const uint8_t *)"6", 1), WIRE_KV_R_BAD);
	assert_int_equal(t->status, PX_BAD_COMMAND);
	assert_int_equal(svc_kv_count(t->kv), 4);
	kvt_free(t);
}

/* Two replicas: applier + kv each, fed the same slots, agree on state and chain. */
static void test_through_applier(void **state)
{
	struct px_apply_out *out = malloc(sizeof(*out));
	struct kvt *s[2] = { kvt_new(32, 16, 32), kvt_new(32, 16, 32) };
	struct px_applier *a[2];
	void *arena[2];
	struct px_service svc;
	uint8_t batch[PX_SLOT_BYTES_MAX], cmd[64];
	uint32_t blen, n, r, seq = 0;
	struct px_cmd_ref c;
	struct wire_kv_reply rep;
	char k[16];

	(void)state;
	assert_non_null(out);
	for (r = 0; r < 2; r++) {
		arena[r] = malloc(px_applier_arena_bytes(8));
		svc_kv_service(s[r]->kv, &svc);
		a[r] = px_applier_init(8, &svc, arena[r], px_applier_arena_bytes(8));
		assert_non_null(a[r]);
	}
	/* Slot 1: four clients register; client i's session is px_session_id(1, i). */
	blen = px_batch_begin(batch, sizeof(batch));
	for (uint32_t i = 0; i < 4; i++) {
		c = (struct px_cmd_ref){ .client_id = 100 + i };
		blen = px_batch_add(batch, blen, sizeof(batch), &c);
	}
	for (r = 0; r < 2; r++) {
		px_apply_slot(a[r], 1, batch, blen, out);
		assert_int_equal(out->n, 4);
	}
	for (uint64_t slot = 2; slot <= 51; slot++) {
		blen = px_batch_begin(batch, sizeof(batch));
		seq++;
		for (uint32_t i = 0; i < 4; i++) {
			key_of(k, (uint32_t)(slot * 3 + i) % 40);
			n = i == 3 ? wire_kv_encode_get(cmd, sizeof(cmd), k, (uint8_t)strlen(k)) :
				     wire_kv_encode_put(cmd, sizeof(cmd), k, (uint8_t)strlen(k), k, 5);
			c = (struct px_cmd_ref){ .client_id = px_session_id(1, i), .seq = seq,
						 .len = n, .body = cmd };
			blen = px_batch_add(batch, blen, sizeof(batch), &c);
			assert_true(blen > 0);
		}
		for (r = 0; r < 2; r++) {
			px_apply_slot(a[r], slot, batch, blen, out);
			assert_int_equal(out->n, 4);
			for (uint32_t i = 0; i < 4; i++) {
				assert_int_equal(out->replies[i].status, PX_OK);
				assert_int_equal(wire_kv_decode_reply(out->replies[i].data,
								    out->replies[i].len, &rep), 0);
			}
		}
	}
	assert_int_equal(svc_kv_hash(s[0]->kv), svc_kv_hash(s[1]->kv));
	assert_int_equal(px_applier_chain(a[0]), px_applier_chain(a[1]));
	/* 32 keys fit, 40 were written: the table filled, and both saw FULL the same way. */
	assert_int_equal(svc_kv_count(s[0]->kv), 32);
	assert_int_equal(svc_kv_count(s[1]->kv), 32);
	for (r = 0; r < 2; r++) {
		free(arena[r]);
		kvt_free(s[r]);
	}
	free(out);
}

/* ---------------------------------------------------------------------------------- */
/* Snapshots                                                                           */

/** A snapshot of t in a buffer of exactly its length (so ASan sees any read past it). */
static uint8_t *snap_take(struct kvt *t, size_t *len)
{
	size_t max = svc_kv_snapshot_max(t->kv);
	uint8_t *big = malloc(max), *buf;

	assert_non_null(big);
	*len = svc_kv_snapshot(t->kv, big, max);
	assert_true(*len >= 24);
	assert_true(*len <= max);
	buf = malloc(*len);
	assert_non_null(buf);
	memcpy(buf, big, *len);
	free(big);
	return buf;
}

/** restore() of the first len bytes of buf, from a buffer of exactly len bytes. */
static int snap_restore_exact(struct kvt *t, const uint8_t *buf, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, buf, len);
	rc = svc_kv_restore(t->kv, len ? copy : NULL, len);
	free(copy);
	return rc;
}

/** The empty store, as svc_kv_init leaves it. */
static void assert_kv_empty(struct kvt *t, uint64_t empty_hash)
{
	assert_int_equal(svc_kv_count(t->kv), 0);
	assert_int_equal(svc_kv_hash(t->kv), empty_hash);
	assert_int_equal(get(t, "key-1"), WIRE_KV_R_NOT_FOUND);
}

/** One random command over keys 0..space-1 (a few long ones), values up to vmax bytes
 *  from a small alphabet, so that CAS expectations sometimes hold. */
static uint32_t rand_cmd(uint64_t *rng, uint8_t *cmd, uint32_t cap, uint32_t space,
			 uint32_t kmax, uint32_t vmax)
{
	uint8_t k[64], v[256], e[256];
	uint32_t klen, vlen, elen, op, i, n;

	*rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
	i = (uint32_t)(*rng >> 33) % space;
	op = (uint32_t)(*rng >> 20) % 5;
	klen = (uint32_t)snprintf((char *)k, sizeof(k), "key-%u", i);
	if (i % 7 == 0 && kmax >= 24) {   /* a long key: compared bytewise */
		memset(k + klen, 'L', 24 - klen);
		klen = 24;
	}
	vlen = (uint32_t)(*rng >> 40) % (vmax + 1) % 4;   /* short values repeat: CAS hits */
	elen = (uint32_t)(*rng >> 44) % (vmax + 1) % 4;
	memset(v, 'a' + (int)((*rng >> 50) % 2), vlen);
	memset(e, 'a' + (int)((*rng >> 52) % 2), elen);
	switch (op) {
	case 0:
	case 1:
		n = wire_kv_encode_put(cmd, cap, k, (uint8_t)klen, v, vlen);
		break;
	case 2:
		n = wire_kv_encode_get(cmd, cap, k, (uint8_t)klen);
		break;
	case 3:
		n = wire_kv_encode_del(cmd, cap, k, (uint8_t)klen);
		break;
	default:
		n = wire_kv_encode_cas(cmd, cap, k, (uint8_t)klen, v, vlen,
				     (*rng >> 56) & 1 ? e : NULL, elen);
		break;
	}
	assert_true(n > 0);
	return n;
}

/** The same commands to a and b: the same replies, statuses and hashes at every step.
 *  @return how many were answered FULL. */
static uint32_t assert_same_future(struct kvt *a, struct kvt *b, uint64_t seed, uint32_t steps,
			       uint32_t space)
{
	uint8_t cmd[PX_CMD_BYTES_MAX];
	uint32_t n, la, lb, full = 0;
	uint8_t ra[PX_REPLY_BYTES_MAX], rb[PX_REPLY_BYTES_MAX], sa, sb;

	for (uint32_t i = 0; i < steps; i++) {
		n = rand_cmd(&seed, cmd, sizeof(cmd), space, 24, 64);
		la = svc_kv_apply(a->kv, cmd, n, ra, sizeof(ra), &sa);
		lb = svc_kv_apply(b->kv, cmd, n, rb, sizeof(rb), &sb);
		assert_int_equal(la, lb);
		assert_int_equal(sa, sb);
		assert_memory_equal(ra, rb, la);
		full += ra[0] == WIRE_KV_R_FULL;
		assert_int_equal(svc_kv_count(a->kv), svc_kv_count(b->kv));
		assert_int_equal(svc_kv_hash(a->kv), svc_kv_hash(b->kv));
	}
	return full;
}

/* Empty, small and full stores survive a round trip: same contents, same hash, and
 * the same replies to every later command (FULL included). */
static void test_snapshot_round_trip(void **state)
{
	struct kvt *a = kvt_new(32, 24, 64), *b = kvt_new(32, 24, 64);
	uint64_t empty = svc_kv_hash(a->kv);
	uint8_t *buf;
	size_t len;
	char k[16];

	(void)state;
	assert_int_equal(svc_kv_snapshot_max(a->kv), 24 + 32 * (5 + 24 + 64));
	/* Empty: the header alone. */
	buf = snap_take(a, &len);
	assert_int_equal(len, 24);
	assert_memory_equal(buf, "PWKVSNP1", 8);
	assert_int_equal(put(b, "junk", "x"), WIRE_KV_R_OK);   /* restore replaces */
	assert_int_equal(svc_kv_restore(b->kv, buf, len), 0);
	assert_kv_empty(b, empty);
	free(buf);

	/* Small: the empty key, an empty value, a long key, a maximal value. */
	char kmax[25], vmax[65];
	memset(kmax, 'K', 24);
	kmax[24] = 0;
	memset(vmax, 'V', 64);
	vmax[64] = 0;
	assert_int_equal(put(a, "", "empty key"), WIRE_KV_R_OK);
	assert_int_equal(put(a, "e", ""), WIRE_KV_R_OK);
	assert_int_equal(put(a, kmax, vmax), WIRE_KV_R_OK);
	assert_int_equal(put(a, "k", "v"), WIRE_KV_R_OK);
	buf = snap_take(a, &len);
	assert_int_equal(len, 24 + (5 + 0 + 9) + (5 + 1 + 0) + (5 + 24 + 64) + (5 + 1 + 1));
	assert_int_equal(svc_kv_restore(b->kv, buf, len), 0);
	assert_int_equal(svc_kv_count(b->kv), 4);
	assert_int_equal(svc_kv_hash(b->kv), svc_kv_hash(a->kv));
	assert_value(b, "", "empty key");
	assert_value(b, "e", "");
	assert_value(b, kmax, vmax);
	assert_value(b, "k", "v");
	/* Snapshotting changed nothing; a snapshot of the copy restores to the same. */
	free(buf);
	buf = snap_take(b, &len);
	assert_int_equal(svc_kv_restore(a->kv, buf, len), 0);
	assert_int_equal(svc_kv_hash(a->kv), svc_kv_hash(b->kv));
	free(buf);

	/* Full: every later command answers the same, FULL first of all. */
	for (uint32_t i = 0; svc_kv_count(a->kv) < 32; i++) {
		key_of(k, i);
		assert_int_equal(put(a, k, k), WIRE_KV_R_OK);
	}
	buf = snap_take(a, &len);
	assert_int_equal(svc_kv_restore(b->kv, buf, len), 0);
	assert_int_equal(svc_kv_count(b->kv), 32);
	assert_int_equal(put(b, "one more", "x"), WIRE_KV_R_FULL);
	assert_int_equal(cas(b, "one more", "x", NULL), WIRE_KV_R_FULL);
	assert_int_equal(svc_kv_hash(b->kv), svc_kv_hash(a->kv));
	assert_true(assert_same_future(a, b, 7, 2000, 48) > 0);
	free(buf);
	kvt_free(a);
	kvt_free(b);
}

/* A store with a history of deletes (a free list, keys moved by backward shifts)
 * restores into a fresh one that answers 20,000 random commands exactly as it does,
 * and restores over a store that held something else. */
static void test_snapshot_after_deletes(void **state)
{
	enum { KEYS = 64, SPACE = 96 };
	struct kvt *a = kvt_new(KEYS, 24, 64), *b = kvt_new(KEYS, 24, 64);
	uint8_t cmd[PX_CMD_BYTES_MAX];
	uint64_t rng = 99;
	uint8_t *buf;
	size_t len;
	char k[16];

	(void)state;
	for (uint32_t i = 0; i < 5000; i++)
		kvt_run(a, cmd, rand_cmd(&rng, cmd, sizeof(cmd), SPACE, 24, 64));
	for (uint32_t i = 0; i < SPACE; i += 2) {   /* leave deleted entries behind */
		key_of(k, i);
		del(a, k);
	}
	assert_true(svc_kv_count(a->kv) > 0);
	assert_true(svc_kv_count(a->kv) < KEYS);
	for (uint32_t i = 0; i < 40; i++) {   /* b holds other things */
		key_of(k, 1000 + i);
		assert_int_equal(put(b, k, "old"), WIRE_KV_R_OK);
	}
	buf = snap_take(a, &len);
	assert_int_equal(svc_kv_restore(b->kv, buf, len), 0);
	assert_int_equal(svc_kv_count(b->kv), svc_kv_count(a->kv));
	assert_int_equal(svc_kv_hash(b->kv), svc_kv_hash(a->kv));
	key_of(k, 1000);
	assert_int_equal(get(b, k), WIRE_KV_R_NOT_FOUND);
	assert_true(assert_same_future(a, b, 12345, 20000, SPACE) > 0);
	free(buf);
	kvt_free(a);
	kvt_free(b);
}

/* restore(NULL, 0) is the state after init, from any state, and never fails. */
static void test_snapshot_restore_empty(void **state)
{
	struct kvt *a = kvt_new(4, 8, 8), *fresh = kvt_new(4, 8, 8);
	uint64_t empty = svc_kv_hash(fresh->kv);

	(void)state;
	assert_int_equal(put(a, "k1", "1"), WIRE_KV_R_OK);
	assert_int_equal(put(a, "k2", "2"), WIRE_KV_R_OK);
	assert_int_equal(put(a, "k3", "3"), WIRE_KV_R_OK);
	assert_int_equal(put(a, "k4", "4"), WIRE_KV_R_OK);
	assert_int_equal(del(a, "k2"), WIRE_KV_R_OK);
	assert_int_equal(svc_kv_restore(a->kv, NULL, 0), 0);
	assert_kv_empty(a, empty);
	assert_int_equal(svc_kv_restore(a->kv, (const uint8_t *)"x", 0), 0);
	assert_kv_empty(a, empty);
	/* As after init: four new keys fit, the fifth is FULL, as in a fresh store. */
	assert_true(assert_same_future(a, fresh, 3, 500, 12) > 0);
	kvt_free(a);
	kvt_free(fresh);
}

/* Every proper prefix of a valid snapshot is refused (and leaves the empty store), and
 * so is one byte more; ASan checks that nothing is read past the end. */
static void test_snapshot_truncated(void **state)
{
	struct kvt *a = kvt_new(8, 24, 16), *b = kvt_new(8, 24, 16);
	uint64_t empty = svc_kv_hash(b->kv);
	uint8_t *buf, *longer;
	size_t len;

	(void)state;
	assert_int_equal(put(a, "", "0"), WIRE_KV_R_OK);
	assert_int_equal(put(a, "short", ""), WIRE_KV_R_OK);
	assert_int_equal(put(a, "a long key of 20 b..", "sixteen bytes!!!"), WIRE_KV_R_OK);
	buf = snap_take(a, &len);
	for (size_t l = 1; l < len; l++) {
		assert_int_equal(put(b, "junk", "j"), WIRE_KV_R_OK);
		if (snap_restore_exact(b, buf, l) != -EINVAL)
			fail_msg("a snapshot cut to %zu of %zu bytes was taken", l, len);
		assert_kv_empty(b, empty);
	}
	longer = malloc(len + 1);
	assert_non_null(longer);
	memcpy(longer, buf, len);
	longer[len] = 0;
	assert_int_equal(svc_kv_restore(b->kv, longer, len + 1), -EINVAL);
	assert_kv_empty(b, empty);
	assert_int_equal(snap_restore_exact(b, buf, len), 0);
	assert_int_equal(svc_kv_hash(b->kv), svc_kv_hash(a->kv));
	free(longer);
	free(buf);
	kvt_free(a);
	kvt_free(b);
}

/* Hand-made snapshots: a header and entries written field by field. */
static size_t snap_hdr(uint8_t *p, uint32_t max_keys, uint32_t kb, uint32_t vb, uint32_t n)
{
	memcpy(p, "PWKVSNP1", 8);
	wire_st32(p + 8, max_keys);
	wire_st32(p + 12, kb);
	wire_st32(p + 16, vb);
	wire_st32(p + 20, n);
	return 24;
}

static size_t snap_entry(uint8_t *p, const char *k, const char *v)
{
	uint32_t kl = (uint32_t)strlen(k), vl = (uint32_t)strlen(v);

	p[0] = (uint8_t)kl;
	wire_st32(p + 1, vl);
	memcpy(p + 5, k, kl);
	memcpy(p + 5 + kl, v, vl);
	return 5 + kl + vl;
}

/* Malformed fields are refused: magic, counts, lengths, a duplicate key, a header
 * whose limits its own contents break; and no single flipped byte crashes restore. */
static void test_snapshot_corrupt(void **state)
{
	struct kvt *a = kvt_new(8, 16, 16), *b = kvt_new(8, 16, 16);
	uint64_t empty = svc_kv_hash(b->kv);
	uint8_t s[512], *buf;
	size_t n, len;

	(void)state;
	/* A valid hand-made one first, so that each case below breaks one thing. */
	n = snap_hdr(s, 8, 16, 16, 2);
	n += snap_entry(s + n, "k1", "v1");
	n += snap_entry(s + n, "k2", "v2");
	assert_int_equal(snap_restore_exact(b, s, n), 0);
	assert_int_equal(svc_kv_count(b->kv), 2);
	assert_value(b, "k2", "v2");

	struct {
		const char *what;
		size_t at;      /* byte offset to change */
		uint32_t u32;   /* stored little-endian at `at` */
		bool byte;      /* only the low byte */
	} cases[] = {
		{ "magic", 0, 'X', true },
		{ "version in magic", 7, '2', true },
		{ "n_keys + 1", 20, 3, false },
		{ "n_keys - 1 (trailing bytes)", 20, 1, false },
		{ "n_keys huge", 20, 0xffffffffu, false },
		{ "header max_keys 0", 8, 0, false },
		{ "header max_keys < n_keys", 8, 1, false },
		{ "header key bytes 0", 12, 0, false },
		{ "header key bytes 256", 12, 256, false },
		{ "header key bytes < a key", 12, 1, false },
		{ "header value bytes < a value", 16, 1, false },
		{ "header value bytes huge", 16, 0xffffffffu, false },
		{ "key_len past the end", 24, 200, true },
		{ "value_len past the end", 25, 100, false },
		{ "value_len huge", 25, 0xffffffffu, false },
		{ "second key_len past the end", 24 + 9, 9, true },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t c[512];

		memcpy(c, s, n);
		if (cases[i].byte)
			c[cases[i].at] = (uint8_t)cases[i].u32;
		else
			wire_st32(c + cases[i].at, cases[i].u32);
		assert_int_equal(put(b, "junk", "j"), WIRE_KV_R_OK);
		if (snap_restore_exact(b, c, n) != -EINVAL)
			fail_msg("%s: taken", cases[i].what);
		assert_kv_empty(b, empty);
	}

	/* The same key twice, short and long. */
	n = snap_hdr(s, 8, 16, 16, 3);
	n += snap_entry(s + n, "k1", "v1");
	n += snap_entry(s + n, "k2", "v2");
	n += snap_entry(s + n, "k1", "v3");
	assert_int_equal(snap_restore_exact(b, s, n), -EINVAL);
	assert_kv_empty(b, empty);
	n = snap_hdr(s, 8, 16, 16, 2);
	n += snap_entry(s + n, "sixteen-byte-key", "v1");
	n += snap_entry(s + n, "sixteen-byte-key", "v1");
	assert_int_equal(snap_restore_exact(b, s, n), -EINVAL);
	assert_kv_empty(b, empty);

	/* Every byte of a real snapshot flipped in turn: taken or refused, never a crash,
	 * and the store consistent either way (its hash equals a rebuild from its own
	 * snapshot). */
	for (uint32_t i = 0; i < 6; i++) {
		char k[16];
		key_of(k, i);
		assert_int_equal(put(a, k, i % 2 ? "odd" : ""), WIRE_KV_R_OK);
	}
	buf = snap_take(a, &len);
	for (size_t i = 0; i < len; i++) {
		for (uint32_t bit = 0; bit < 8; bit += 3) {
			uint8_t *c = malloc(len);
			uint8_t *again;
			size_t alen;
			int rc;

			assert_non_null(c);
			memcpy(c, buf, len);
			c[i] ^= (uint8_t)(1u << bit);
			rc = svc_kv_restore(b->kv, c, len);
			assert_true(rc == 0 || rc == -EINVAL);
			if (rc == -EINVAL)
				assert_kv_empty(b, empty);
			again = snap_take(b, &alen);
			assert_int_equal(svc_kv_restore(a->kv, again, alen), 0);
			assert_int_equal(svc_kv_hash(a->kv), svc_kv_hash(b->kv));
			free(again);
			free(c);
		}
	}
	free(buf);
	kvt_free(a);
	kvt_free(b);
}

/* A snapshot of a store with larger limits restores into a smaller one when its
 * contents fit, and is refused when they do not (keys, key or value length); one of a
 * smaller store restores into a larger one. */
static void test_snapshot_limits(void **state)
{
	struct kvt *big = kvt_new(64, 32, 64), *small = kvt_new(16, 8, 16);
	uint64_t empty = svc_kv_hash(small->kv);
	uint8_t *buf;
	size_t len;
	char k[16];

	(void)state;
	for (uint32_t i = 0; i < 16; i++) {
		key_of(k, i);
		assert_int_equal(put(big, k, "sixteen bytes..."), WIRE_KV_R_OK);
	}
	buf = snap_take(big, &len);
	assert_int_equal(svc_kv_restore(small->kv, buf, len), 0);
	assert_int_equal(svc_kv_hash(small->kv), svc_kv_hash(big->kv));
	assert_int_equal(put(small, "new", "x"), WIRE_KV_R_FULL);
	free(buf);

	/* 17 keys: more than 16. */
	key_of(k, 16);
	assert_int_equal(put(big, k, "v"), WIRE_KV_R_OK);
	buf = snap_take(big, &len);
	assert_int_equal(svc_kv_restore(small->kv, buf, len), -EINVAL);
	assert_kv_empty(small, empty);
	free(buf);
	assert_int_equal(del(big, k), WIRE_KV_R_OK);

	/* A 9-byte key, then a 17-byte value. */
	assert_int_equal(put(big, "nine-byte", "v"), WIRE_KV_R_OK);
	assert_int_equal(del(big, "key-0"), WIRE_KV_R_OK);
	buf = snap_take(big, &len);
	assert_int_equal(svc_kv_restore(small->kv, buf, len), -EINVAL);
	assert_kv_empty(small, empty);
	free(buf);
	assert_int_equal(del(big, "nine-byte"), WIRE_KV_R_OK);
	assert_int_equal(put(big, "key-1", "seventeen bytes.."), WIRE_KV_R_OK);
	buf = snap_take(big, &len);
	assert_int_equal(svc_kv_restore(small->kv, buf, len), -EINVAL);
	assert_kv_empty(small, empty);
	free(buf);

	/* Smaller into larger. */
	assert_int_equal(put(small, "s", "small"), WIRE_KV_R_OK);
	buf = snap_take(small, &len);
	assert_int_equal(svc_kv_restore(big->kv, buf, len), 0);
	assert_int_equal(svc_kv_count(big->kv), 1);
	assert_value(big, "s", "small");
	free(buf);
	kvt_free(big);
	kvt_free(small);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_errors),
		cmocka_unit_test(test_put_get_del),
		cmocka_unit_test(test_cas),
		cmocka_unit_test(test_full_table),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_codec),
		cmocka_unit_test(test_hash_ignores_order),
		cmocka_unit_test(test_matches_model),
		cmocka_unit_test(test_key_lengths),
		cmocka_unit_test(test_small_max_key),
		cmocka_unit_test(test_through_applier),
		cmocka_unit_test(test_snapshot_round_trip),
		cmocka_unit_test(test_snapshot_after_deletes),
		cmocka_unit_test(test_snapshot_restore_empty),
		cmocka_unit_test(test_snapshot_truncated),
		cmocka_unit_test(test_snapshot_corrupt),
		cmocka_unit_test(test_snapshot_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
