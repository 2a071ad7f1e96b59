/* SPDX-License-Identifier: Apache-2.0
 * svc_stream: offsets, paged reads, overwrite by record count and by bytes (with the
 * TRUNCATED answer), malformed commands, and a random run against a model that keeps
 * every record ever appended.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "svc_stream.h"

struct st {
	void *arena;
	struct svc_stream *s;
	uint8_t cmd[PX_CMD_BYTES_MAX];
	uint8_t reply[PX_REPLY_BYTES_MAX];
	uint8_t status;
	struct wire_stream_reply r;
};

static struct st *st_new(uint32_t max_records, uint32_t data_bytes)
{
	struct st *t = calloc(1, sizeof(*t));
	size_t len = svc_stream_arena_bytes(max_records, data_bytes);

	assert_non_null(t);
	assert_true(len > 0);
	t->arena = malloc(len);
	assert_non_null(t->arena);
	t->s = svc_stream_init(max_records, data_bytes, t->arena, len);
	assert_non_null(t->s);
	return t;
}

static void st_free(struct st *t)
{
	free(t->arena);
	free(t);
}

static void st_run(struct st *t, const uint8_t *cmd, uint32_t len)
{
	uint32_t n;

	memset(t->reply, 0xaa, sizeof(t->reply));
	n = svc_stream_apply(t->s, cmd, len, t->reply, sizeof(t->reply), &t->status);
	assert_true(n <= sizeof(t->reply));
	assert_int_equal(wire_stream_decode_reply(t->reply, n, &t->r), 0);
	assert_int_equal(t->status == PX_BAD_COMMAND, t->r.result == WIRE_STREAM_R_BAD);
}

static uint64_t append(struct st *t, const void *p, uint32_t len)
{
	uint32_t n = wire_stream_encode_append(t->cmd, sizeof(t->cmd), p, len);

	assert_true(n > 0);
	st_run(t, t->cmd, n);
	assert_int_equal(t->status, PX_OK);
	assert_int_equal(t->r.result, WIRE_STREAM_R_OK);
	assert_int_equal(t->r.n_records, 0);
	return t->r.offset;
}

static void read_from(struct st *t, uint64_t from, uint32_t max_bytes)
{
	uint32_t n = wire_stream_encode_read(t->cmd, sizeof(t->cmd), from, max_bytes);

	assert_int_equal(n, WIRE_STREAM_READ_CMD_BYTES);
	st_run(t, t->cmd, n);
	assert_int_equal(t->status, PX_OK);
}

/** Record o's payload in these tests: len bytes of (o * 31 + i). */
static void pattern(uint8_t *p, uint64_t o, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(o * 31 + i);
}

static void assert_pattern(const uint8_t *p, uint64_t o, uint32_t len)
{
	uint8_t want[WIRE_STREAM_PAYLOAD_MAX];

	pattern(want, o, len);
	assert_memory_equal(p, want, len);
}

/* ---------------------------------------------------------------------------------- */

static void test_init_errors(void **state)
{
	size_t len = svc_stream_arena_bytes(8, 8192);
	void *arena = malloc(len);

	(void)state;
	assert_int_equal(svc_stream_arena_bytes(0, 8192), 0);
	assert_int_equal(svc_stream_arena_bytes(6, 8192), 0);          /* not a power of two */
	assert_int_equal(svc_stream_arena_bytes(8, WIRE_STREAM_PAYLOAD_MAX - 1), 0);
	assert_int_equal(svc_stream_arena_bytes(SVC_STREAM_RECORDS_MAX * 2, 8192), 0);
	errno = 0;
	assert_null(svc_stream_init(6, 8192, arena, len));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(svc_stream_init(8, 8192, arena, len - 1));
	assert_int_equal(errno, ENOSPC);
	assert_non_null(svc_stream_init(8, 8192, arena, len));
	free(arena);
}

static void test_append_read(void **state)
{
	struct st *t = st_new(64, 8192);
	uint8_t p[100];
	const uint8_t *d;
	uint32_t off = 0, len, i;

	(void)state;
	/* Empty: caught up at 0, nothing beyond. */
	read_from(t, 0, 1000);
	assert_int_equal(t->r.result, WIRE_STREAM_R_OK);
	assert_int_equal(t->r.n_records, 0);
	assert_int_equal(t->r.offset, 0);
	read_from(t, 1, 1000);
	assert_int_equal(t->r.result, WIRE_STREAM_R_BEYOND);
	assert_int_equal(t->r.offset, 0);

	for (i = 0; i < 5; i++) {
		pattern(p, i, 10 + i);
		assert_int_equal(append(t, p, 10 + i), i);
	}
	assert_int_equal(append(t, NULL, 0), 5);   /* an empty record is a record */
	assert_int_equal(svc_stream_next_offset(t->s), 6);
	assert_int_equal(svc_stream_oldest(t->s), 0);

	read_from(t, 0, 10000);
	assert_int_equal(t->r.result, WIRE_STREAM_R_OK);
	assert_int_equal(t->r.n_records, 6);
	assert_int_equal(t->r.offset, 6);
	for (i = 0; wire_stream_reply_next(&t->r, &off, &d, &len); i++) {
		assert_int_equal(len, i < 5 ? 10 + i : 0);
		assert_pattern(d, i, len);
	}
	assert_int_equal(i, 6);

	read_from(t, 2, 10000);
	assert_int_equal(t->r.n_records, 4);
	off = 0;
	assert_true(wire_stream_reply_next(&t->r, &off, &d, &len));
	assert_int_equal(len, 12);
	assert_pattern(d, 2, 12);

	read_from(t, 6, 10000);
	assert_int_equal(t->r.result, WIRE_STREAM_R_OK);
	assert_int_equal(t->r.n_records, 0);
	assert_int_equal(t->r.offset, 6);
	read_from(t, 7, 10000);
	assert_int_equal(t->r.result, WIRE_STREAM_R_BEYOND);
	assert_int_equal(t->r.offset, 6);
	read_from(t, UINT64_MAX, 10000);
	assert_int_equal(t->r.result, WIRE_STREAM_R_BEYOND);

	assert_true(svc_stream_get_direct(t->s, 3, &d, &len));
	assert_int_equal(len, 13);
	assert_pattern(d, 3, 13);
	assert_false(svc_stream_get_direct(t->s, 6, &d, &len));
	st_free(t);
}

static void test_read_paging(void **state)
{
	struct st *t = st_new(64, 8192);
	uint8_t p[WIRE_STREAM_PAYLOAD_MAX];
	uint64_t o = 0;
	uint32_t pages = 0, i;

	(void)state;
	for (i = 0; i < 10; i++) {
		pattern(p, i, 10);
		append(t, p, 10);
	}
	/* 14 bytes per record: 30 allows two. */
	read_from(t, 0, 30);
	assert_int_equal(t->r.n_records, 2);
	assert_int_equal(t->r.offset, 2);
	read_from(t, 0, 28);
	assert_int_equal(t->r.n_records, 2);
	read_from(t, 0, 27);
	assert_int_equal(t->r.n_records, 1);
	/* Less than one record still returns one: a reader always moves on. */
	read_from(t, 0, 0);
	assert_int_equal(t->r.n_records, 1);
	assert_int_equal(t->r.offset, 1);

	/* Paging through with the returned offset sees every record once. */
	while (o < 10) {
		read_from(t, o, 40);
		assert_int_equal(t->r.result, WIRE_STREAM_R_OK);
		assert_true(t->r.n_records >= 1);
		o = t->r.offset;
		pages++;
	}
	assert_int_equal(pages, 5);   /* two 14-byte records per 40-byte page */

	/* The reply cap bounds a read whatever max_bytes says; a maximal record fits. */
	struct st *u = st_new(64, 3 * WIRE_STREAM_PAYLOAD_MAX);
	pattern(p, 0, WIRE_STREAM_PAYLOAD_MAX);
	append(u, p, WIRE_STREAM_PAYLOAD_MAX);
	pattern(p, 1, WIRE_STREAM_PAYLOAD_MAX);
	append(u, p, WIRE_STREAM_PAYLOAD_MAX);
	read_from(u, 0, UINT32_MAX);
	assert_int_equal(u->r.n_records, 1);
	assert_int_equal(u->r.offset, 1);
	assert_int_equal(u->r.records_len, WIRE_STREAM_REC_HDR_BYTES + WIRE_STREAM_PAYLOAD_MAX);
	assert_pattern(u->r.records + WIRE_STREAM_REC_HDR_BYTES, 0, WIRE_STREAM_PAYLOAD_MAX);
	st_free(u);
	st_free(t);
}

static void test_overwrite_by_count(void **state)
{
	struct st *t = st_new(4, 8192);
	uint8_t p[16];
	const uint8_t *d;
	uint32_t off = 0, len, i;

	(void)state;
	for (i = 0; i < 10; i++) {
		pattern(p, i, 16);
		assert_int_equal(append(t, p, 16), i);
	}
	assert_int_equal(svc_stream_oldest(t->s), 6);
	assert_int_equal(svc_stream_overwritten(t->s), 6);

	read_from(t, 0, 10000);
	assert_int_equal(t->r.result, WIRE_STREAM_R_TRUNCATED);
	assert_int_equal(t->r.n_records, 0);
	assert_int_equal(t->r.offset, 6);
	read_from(t, 5, 10000);
	assert_int_equal(t->r.result, WIRE_STREAM_R_TRUNCATED);

	read_from(t, 6, 10000);
	assert_int_equal(t->r.result, WIRE_STREAM_R_OK);
	assert_int_equal(t->r.n_records, 4);
	for (i = 6; wire_stream_reply_next(&t->r, &off, &d, &len); i++) {
		assert_int_equal(len, 16);
		assert_pattern(d, i, 16);
	}
	assert_int_equal(i, 10);
	st_free(t);
}

static void test_overwrite_by_bytes(void **state)
{
	/* 4076 data bytes take four 1000-byte records; the fifth wraps to the start and
	 * overwrites record 0 only (records are never split across the end). */
	struct st *t = st_new(64, WIRE_STREAM_PAYLOAD_MAX);
	uint8_t p[1000];
	const uint8_t *d;
	uint32_t len, i;

	(void)state;
	for (i = 0; i < 4; i++) {
		pattern(p, i, 1000);
		append(t, p, 1000);
	}
	assert_int_equal(svc_stream_oldest(t->s), 0);
	pattern(p, 4, 1000);
	append(t, p, 1000);
	assert_int_equal(svc_stream_oldest(t->s), 1);
	for (i = 1; i < 5; i++) {
		assert_true(svc_stream_get_direct(t->s, i, &d, &len));
		assert_int_equal(len, 1000);
		assert_pattern(d, i, 1000);
	}
	read_from(t, 0, 100);
	assert_int_equal(t->r.result, WIRE_STREAM_R_TRUNCATED);
	assert_int_equal(t->r.offset, 1);

	/* A maximal record takes the whole ring. */
	uint8_t big[WIRE_STREAM_PAYLOAD_MAX];
	pattern(big, 5, sizeof(big));
	append(t, big, sizeof(big));
	assert_int_equal(svc_stream_oldest(t->s), 5);
	assert_true(svc_stream_get_direct(t->s, 5, &d, &len));
	assert_int_equal(len, WIRE_STREAM_PAYLOAD_MAX);
	assert_pattern(d, 5, len);
	st_free(t);
}

static void test_malformed(void **state)
{
	struct st *t = st_new(8, 8192);
	uint8_t b[64] = { 0 };
	uint64_t h, next;
	struct {
		const char *what;
		uint8_t op, rsv;
		uint32_t arg, len;
	} cases[] = {
		{ "empty", WIRE_STREAM_APPEND, 0, 0, 0 },
		{ "short header", WIRE_STREAM_APPEND, 0, 0, 7 },
		{ "op 0", 0, 0, 0, 8 },
		{ "op 3", 3, 0, 0, 8 },
		{ "op 255", 255, 0, 0, 16 },
		{ "reserved set", WIRE_STREAM_APPEND, 1, 0, 8 },
		{ "append truncated", WIRE_STREAM_APPEND, 0, 10, 17 },
		{ "append trailing", WIRE_STREAM_APPEND, 0, 8, 17 },
		{ "append length overflows", WIRE_STREAM_APPEND, 0, UINT32_MAX, 16 },
		{ "append over payload max", WIRE_STREAM_APPEND, 0, WIRE_STREAM_PAYLOAD_MAX + 1,
		  WIRE_STREAM_CMD_HDR_BYTES + WIRE_STREAM_PAYLOAD_MAX + 1 },
		{ "read short", WIRE_STREAM_READ, 0, 100, 15 },
		{ "read trailing", WIRE_STREAM_READ, 0, 100, 17 },
		{ "read header only", WIRE_STREAM_READ, 0, 100, 8 },
	};
	uint8_t *big = calloc(1, PX_CMD_BYTES_MAX + 64);

	(void)state;
	append(t, "x", 1);
	h = svc_stream_hash(t->s);
	next = svc_stream_next_offset(t->s);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *buf = cases[i].len > sizeof(b) ? big : b;

		buf[0] = cases[i].op;
		buf[1] = 0;
		buf[2] = cases[i].rsv;
		buf[3] = 0;
		memcpy(buf + 4, &cases[i].arg, 4);
		st_run(t, buf, cases[i].len);
		if (t->status != PX_BAD_COMMAND)
			fail_msg("case '%s' was accepted", cases[i].what);
		assert_int_equal(t->r.result, WIRE_STREAM_R_BAD);
		assert_int_equal(svc_stream_hash(t->s), h);
		assert_int_equal(svc_stream_next_offset(t->s), next);
	}
	st_run(t, NULL, 0);
	assert_int_equal(t->status, PX_BAD_COMMAND);
	/* Encoders refuse what could never be applied. */
	assert_int_equal(wire_stream_encode_append(big, PX_CMD_BYTES_MAX + 64, big,
						 WIRE_STREAM_PAYLOAD_MAX + 1), 0);
	assert_int_equal(wire_stream_encode_append(b, 10, "abc", 3), 0);
	assert_int_equal(wire_stream_encode_read(b, 15, 0, 0), 0);
	free(big);
	st_free(t);
}

static void test_reply_decode(void **state)
{
	uint8_t b[64] = { 0 };
	struct wire_stream_reply r;
	uint32_t n2 = 2, l1 = 3, l2 = 0;

	(void)state;
	/* OK, 2 records: "abc" and "". */
	memcpy(b + 4, &n2, 4);
	memcpy(b + 16, &l1, 4);
	memcpy(b + 20, "abc", 3);
	memcpy(b + 23, &l2, 4);
	assert_int_equal(wire_stream_decode_reply(b, 27, &r), 0);
	assert_int_equal(r.n_records, 2);
	assert_int_equal(wire_stream_decode_reply(b, 26, &r), -EINVAL);   /* short record */
	assert_int_equal(wire_stream_decode_reply(b, 28, &r), -EINVAL);   /* trailing */
	assert_int_equal(wire_stream_decode_reply(b, 15, &r), -EINVAL);   /* short header */
	b[1] = 1;
	assert_int_equal(wire_stream_decode_reply(b, 27, &r), -EINVAL);   /* reserved */
	b[1] = 0;
	b[0] = WIRE_STREAM_R_BAD + 1;
	assert_int_equal(wire_stream_decode_reply(b, 27, &r), -EINVAL);   /* result */
	b[0] = 0;
	n2 = UINT32_MAX;
	memcpy(b + 4, &n2, 4);
	assert_int_equal(wire_stream_decode_reply(b, 27, &r), -EINVAL);   /* count */
	l1 = UINT32_MAX - 2;
	n2 = 1;
	memcpy(b + 4, &n2, 4);
	memcpy(b + 16, &l1, 4);
	assert_int_equal(wire_stream_decode_reply(b, 27, &r), -EINVAL);   /* length wraps */
}

/* Random sizes against a model holding every record: what the stream keeps is a
 * suffix of the appends, intact, within its bounds, and as long as those bounds allow. */
static void test_matches_model(void **state)
{
	enum { STEPS = 20000, RECS = 64, DATA = 3 * WIRE_STREAM_PAYLOAD_MAX };
	struct st *t = st_new(RECS, DATA);
	uint32_t *lens = calloc(STEPS, sizeof(*lens));
	uint8_t p[WIRE_STREAM_PAYLOAD_MAX];
	uint64_t rng = 5, o, oldest, held_bytes;
	const uint8_t *d;
	uint32_t len;

	(void)state;
	for (uint32_t i = 0; i < STEPS; i++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		/* Mostly small, sometimes large. */
		len = (rng >> 60) == 0 ? (uint32_t)(rng >> 20) % (WIRE_STREAM_PAYLOAD_MAX + 1) :
					 (uint32_t)(rng >> 33) % 200;
		lens[i] = len;
		pattern(p, i, len);
		assert_int_equal(append(t, p, len), i);

		oldest = svc_stream_oldest(t->s);
		assert_true(i + 1 - oldest <= RECS);
		held_bytes = 0;
		for (o = oldest; o <= i; o++) {
			assert_true(svc_stream_get_direct(t->s, o, &d, &len));
			assert_int_equal(len, lens[o]);
			held_bytes += len;
		}
		assert_true(held_bytes <= DATA);
		/* Not too eager: when fewer than RECS are held, the last record dropped went
		 * for want of bytes, so it, what is held and at most two lap-end gaps (each
		 * shorter than a maximal record) overran the ring. */
		if (oldest > 0 && i + 1 - oldest < RECS)
			assert_true(held_bytes + lens[oldest - 1] + 2 * WIRE_STREAM_PAYLOAD_MAX > DATA);
		/* Contents, spot-checked on the oldest and a random one. */
		assert_true(svc_stream_get_direct(t->s, oldest, &d, &len));
		assert_pattern(d, oldest, len);
		o = oldest + (rng >> 40) % (i + 1 - oldest);
		assert_true(svc_stream_get_direct(t->s, o, &d, &len));
		assert_pattern(d, o, len);
	}
	assert_true(svc_stream_overwritten(t->s) > STEPS / 2);
	free(lens);
	st_free(t);
}

static void test_hash(void **state)
{
	struct st *a = st_new(8, 8192), *b = st_new(8, 8192), *c = st_new(8, 8192);

	(void)state;
	assert_int_equal(svc_stream_hash(a->s), svc_stream_hash(b->s));
	append(a, "one", 3);
	append(a, "two", 3);
	append(b, "one", 3);
	append(b, "two", 3);
	append(c, "two", 3);
	append(c, "one", 3);
	assert_int_equal(svc_stream_hash(a->s), svc_stream_hash(b->s));
	assert_true(svc_stream_hash(a->s) != svc_stream_hash(c->s));   /* order matters */
	read_from(a, 0, 100);                                          /* reads change nothing */
	assert_int_equal(svc_stream_hash(a->s), svc_stream_hash(b->s));
	st_free(a);
	st_free(b);
	st_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_errors),
		cmocka_unit_test(test_append_read),
		cmocka_unit_test(test_read_paging),
		cmocka_unit_test(test_overwrite_by_count),
		cmocka_unit_test(test_overwrite_by_bytes),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_reply_decode),
		cmocka_unit_test(test_matches_model),
		cmocka_unit_test(test_hash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
