/* SPDX-License-Identifier: Apache-2.0
 * svc_stream: offsets, paged reads, overwrite by record count and by bytes (with the
 * TRUNCATED answer), malformed commands, a random run against a model that keeps
 * every record ever appended, and snapshots (round trips, the same replies and
 * overwrites afterwards, every malformed snapshot refused).
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

/* ---------------------------------------------------------------------------------- */
/* Snapshots                                                                           */

/** A snapshot of t in a buffer of exactly its length (so ASan sees any read past it). */
static uint8_t *snap_take(struct st *t, size_t *len)
{
	size_t max = svc_stream_snapshot_max(t->s);
	uint8_t *big = malloc(max), *buf;

	assert_non_null(big);
	*len = svc_stream_snapshot(t->s, big, max);
	assert_true(*len >= 36);
	assert_true(*len <= max);
	buf = malloc(*len);
	assert_non_null(buf);
	memcpy(buf, big, *len);
	free(big);
	return buf;
}

static int snap_restore_exact(struct st *t, const uint8_t *buf, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, buf, len);
	rc = svc_stream_restore(t->s, len ? copy : NULL, len);
	free(copy);
	return rc;
}

static void assert_stream_empty(struct st *t, uint64_t empty_hash)
{
	assert_int_equal(svc_stream_oldest(t->s), 0);
	assert_int_equal(svc_stream_next_offset(t->s), 0);
	assert_int_equal(svc_stream_overwritten(t->s), 0);
	assert_int_equal(svc_stream_hash(t->s), empty_hash);
	read_from(t, 0, 100);
	assert_int_equal(t->r.result, WIRE_STREAM_R_OK);
	assert_int_equal(t->r.n_records, 0);
}

/** n_records of the last reply. */
static uint32_t t_n_records(struct st *t)
{
	return t->r.n_records;
}

static void assert_same_state(struct st *a, struct st *b)
{
	assert_int_equal(svc_stream_oldest(a->s), svc_stream_oldest(b->s));
	assert_int_equal(svc_stream_next_offset(a->s), svc_stream_next_offset(b->s));
	assert_int_equal(svc_stream_overwritten(a->s), svc_stream_overwritten(b->s));
	assert_int_equal(svc_stream_hash(a->s), svc_stream_hash(b->s));
}

/** Random length: mostly small, sometimes near the maximum (to wrap by bytes). */
static uint32_t rand_len(uint64_t *rng)
{
	*rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
	if ((*rng >> 59) < 3)
		return WIRE_STREAM_PAYLOAD_MAX - (uint32_t)(*rng >> 20) % 1500;
	return (uint32_t)(*rng >> 33) % 700;
}

/** The same appends and reads to a and b: the same replies (offsets, TRUNCATED,
 *  BEYOND, records) and the same oldest, next and hash after every one.
 *  @return records overwritten during the run. */
static uint64_t assert_same_future(struct st *a, struct st *b, uint64_t seed, uint32_t steps)
{
	uint8_t ra[PX_REPLY_BYTES_MAX], rb[PX_REPLY_BYTES_MAX], sa, sb;
	uint8_t p[WIRE_STREAM_PAYLOAD_MAX], cmd[PX_CMD_BYTES_MAX];
	uint64_t over0 = svc_stream_overwritten(a->s), from;
	uint32_t n, la, lb, len;

	for (uint32_t i = 0; i < steps; i++) {
		len = rand_len(&seed);
		if (seed >> 62 == 0) {
			/* A read around the oldest (maybe TRUNCATED) or the end (maybe BEYOND). */
			from = (seed >> 61) & 1 ? svc_stream_oldest(a->s) : svc_stream_next_offset(a->s);
			from = from + (seed >> 20) % 5 - 2;
			n = wire_stream_encode_read(cmd, sizeof(cmd), from, len);
		} else {
			pattern(p, seed, len);
			n = wire_stream_encode_append(cmd, sizeof(cmd), p, len);
		}
		assert_true(n > 0);
		la = svc_stream_apply(a->s, cmd, n, ra, sizeof(ra), &sa);
		lb = svc_stream_apply(b->s, cmd, n, rb, sizeof(rb), &sb);
		assert_int_equal(la, lb);
		assert_int_equal(sa, sb);
		assert_memory_equal(ra, rb, la);
		assert_same_state(a, b);
	}
	return svc_stream_overwritten(a->s) - over0;
}

/* Empty, small and full streams survive a round trip, and answer every later command
 * as the original does. */
static void test_snapshot_round_trip(void **state)
{
	struct st *a = st_new(16, 8192), *b = st_new(16, 8192);
	uint64_t empty = svc_stream_hash(a->s);
	uint8_t p[600], *buf;
	size_t len;

	(void)state;
	assert_int_equal(svc_stream_snapshot_max(a->s), 36 + 16 * 4 + 8192);
	buf = snap_take(a, &len);
	assert_int_equal(len, 36);
	assert_memory_equal(buf, "PWSTSNP1", 8);
	append(b, "junk", 4);   /* restore replaces */
	assert_int_equal(svc_stream_restore(b->s, buf, len), 0);
	assert_stream_empty(b, empty);
	free(buf);

	/* Small: an empty record among others. */
	append(a, "one", 3);
	append(a, "", 0);
	append(a, "three", 5);
	buf = snap_take(a, &len);
	assert_int_equal(len, 36 + 4 + 3 + 4 + 0 + 4 + 5);
	assert_int_equal(svc_stream_restore(b->s, buf, len), 0);
	assert_same_state(a, b);
	read_from(b, 0, 1000);
	assert_int_equal(t_n_records(b), 3);
	free(buf);

	/* Full by count: 16 records held, the next append overwrites the oldest. */
	for (uint32_t i = 0; i < 13; i++) {
		pattern(p, i, 100 + i);
		append(a, p, 100 + i);
	}
	assert_int_equal(svc_stream_next_offset(a->s) - svc_stream_oldest(a->s), 16);
	buf = snap_take(a, &len);
	assert_int_equal(svc_stream_restore(b->s, buf, len), 0);
	assert_same_state(a, b);
	assert_true(assert_same_future(a, b, 11, 3000) > 0);
	free(buf);
	st_free(a);
	st_free(b);
}

/* A stream that wrapped by bytes (lap-end gaps, the oldest anywhere in the ring) and by
 * count restores to one that overwrites the same records in the same order, at every
 * phase of the ring. */
static void test_snapshot_wrapped(void **state)
{
	enum { RECS = 32, DATA = 3 * WIRE_STREAM_PAYLOAD_MAX + 100 };
	struct st *a = st_new(RECS, DATA), *b = st_new(RECS, DATA);
	uint8_t p[WIRE_STREAM_PAYLOAD_MAX], *buf;
	uint64_t rng = 77, over = 0;
	size_t len;

	(void)state;
	for (uint32_t round = 0; round < 40; round++) {
		for (uint32_t i = 0; i < 7; i++) {
			uint32_t l = rand_len(&rng);
			pattern(p, rng, l);
			append(a, p, l);
		}
		assert_true(svc_stream_overwritten(a->s) > 0 || round < 2);
		append(b, "junk", 4);
		buf = snap_take(a, &len);
		assert_int_equal(snap_restore_exact(b, buf, len), 0);
		assert_same_state(a, b);
		over += assert_same_future(a, b, rng + round, 50);
		free(buf);
	}
	assert_true(over > 100);

	/* One case by hand: 4076 bytes, five 1000-byte records; the fifth wrapped to the
	 * start (record 0 overwritten), the oldest is at 1000. The copy drops exactly what
	 * the original does on each of the next appends. */
	struct st *c = st_new(64, WIRE_STREAM_PAYLOAD_MAX), *d = st_new(64, WIRE_STREAM_PAYLOAD_MAX);
	for (uint32_t i = 0; i < 5; i++) {
		pattern(p, i, 1000);
		append(c, p, 1000);
	}
	assert_int_equal(svc_stream_oldest(c->s), 1);
	buf = snap_take(c, &len);
	assert_int_equal(wire_ld32(buf + 32), 1000);   /* first_pos: where record 1 lies */
	assert_int_equal(snap_restore_exact(d, buf, len), 0);
	free(buf);
	for (uint32_t i = 0; i < 12; i++) {
		uint32_t l = 500 + 700 * (i % 5);
		pattern(p, i, l);
		assert_int_equal(append(c, p, l), append(d, p, l));
		assert_same_state(c, d);
	}
	st_free(a);
	st_free(b);
	st_free(c);
	st_free(d);
}

/* restore(NULL, 0) is the state after init, from any state. */
static void test_snapshot_restore_empty(void **state)
{
	struct st *a = st_new(4, 8192), *fresh = st_new(4, 8192);
	uint64_t empty = svc_stream_hash(fresh->s);
	uint8_t p[3000];

	(void)state;
	for (uint32_t i = 0; i < 9; i++) {
		pattern(p, i, 3000);
		append(a, p, 3000);
	}
	assert_true(svc_stream_overwritten(a->s) > 0);
	assert_int_equal(svc_stream_restore(a->s, NULL, 0), 0);
	assert_stream_empty(a, empty);
	assert_int_equal(append(a, "x", 1), 0);   /* offsets start again at 0 */
	assert_int_equal(svc_stream_restore(a->s, NULL, 0), 0);
	assert_true(assert_same_future(a, fresh, 5, 500) > 0);
	st_free(a);
	st_free(fresh);
}

/* Every proper prefix of a valid snapshot is refused and leaves the empty stream; so is
 * one byte more. ASan checks that nothing is read past the end. */
static void test_snapshot_truncated(void **state)
{
	struct st *a = st_new(8, 8192), *b = st_new(8, 8192);
	uint64_t empty = svc_stream_hash(b->s);
	uint8_t p[300], *buf, *longer;
	size_t len;

	(void)state;
	for (uint32_t i = 0; i < 12; i++) {   /* wrapped by count: oldest 4 */
		pattern(p, i, 7 * i);
		append(a, p, 7 * i);
	}
	buf = snap_take(a, &len);
	for (size_t l = 1; l < len; l++) {
		append(b, "junk", 4);
		if (snap_restore_exact(b, buf, l) != -EINVAL)
			fail_msg("a snapshot cut to %zu of %zu bytes was taken", l, len);
		assert_stream_empty(b, empty);
	}
	longer = malloc(len + 1);
	assert_non_null(longer);
	memcpy(longer, buf, len);
	longer[len] = 0;
	assert_int_equal(svc_stream_restore(b->s, longer, len + 1), -EINVAL);
	assert_stream_empty(b, empty);
	assert_int_equal(snap_restore_exact(b, buf, len), 0);
	assert_same_state(a, b);
	free(longer);
	free(buf);
	st_free(a);
	st_free(b);
}

/* Hand-made snapshots, one field broken at a time; and no flipped byte crashes. */
static size_t snap_hdr(uint8_t *p, uint32_t recs, uint32_t data, uint64_t oldest, uint64_t next,
		       uint32_t first_pos)
{
	memcpy(p, "PWSTSNP1", 8);
	wire_st32(p + 8, recs);
	wire_st32(p + 12, data);
	wire_st64(p + 16, oldest);
	wire_st64(p + 24, next);
	wire_st32(p + 32, first_pos);
	return 36;
}

static size_t snap_rec(uint8_t *p, uint32_t len)
{
	wire_st32(p, len);
	memset(p + 4, 'r', len);
	return 4 + len;
}

static void test_snapshot_corrupt(void **state)
{
	struct st *a = st_new(8, 8192), *b = st_new(8, 8192);
	uint64_t empty = svc_stream_hash(b->s);
	static uint8_t s[3 * 8192];
	uint8_t *buf;
	size_t n, len;

	(void)state;
	n = snap_hdr(s, 8, 8192, 5, 7, 100);
	n += snap_rec(s + n, 10);
	n += snap_rec(s + n, 20);
	assert_int_equal(snap_restore_exact(b, s, n), 0);
	assert_int_equal(svc_stream_oldest(b->s), 5);
	assert_int_equal(svc_stream_next_offset(b->s), 7);
	assert_int_equal(svc_stream_overwritten(b->s), 5);

	struct {
		const char *what;
		size_t at;
		uint64_t v;
		uint32_t bytes;   /* 1, 4 or 8, little-endian at `at` */
	} cases[] = {
		{ "magic", 0, 'Q', 1 },
		{ "version in magic", 7, '2', 1 },
		{ "max_records 0", 8, 0, 4 },
		{ "max_records not a power of two", 8, 6, 4 },
		{ "max_records < records", 8, 1, 4 },
		{ "data_bytes below a record", 12, 100, 4 },
		{ "data_bytes huge", 12, 0xffffffffu, 4 },
		{ "next < oldest", 24, 4, 8 },
		{ "one record more", 24, 8, 8 },
		{ "one record less (trailing bytes)", 24, 6, 8 },
		{ "next huge", 24, UINT64_MAX, 8 },
		{ "oldest and next past 2^63", 16, (UINT64_C(1) << 63) + 5, 8 },
		{ "first_pos = data_bytes", 32, 8192, 4 },
		{ "first record runs past the end", 32, 8190, 4 },
		{ "record length past the end", 36, 11, 4 },
		{ "record length huge", 36, 0xffffffffu, 4 },
		{ "record length over the payload maximum", 36, WIRE_STREAM_PAYLOAD_MAX + 1, 4 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		static uint8_t c[sizeof(s)];

		memcpy(c, s, n);
		if (cases[i].bytes == 1)
			c[cases[i].at] = (uint8_t)cases[i].v;
		else if (cases[i].bytes == 4)
			wire_st32(c + cases[i].at, (uint32_t)cases[i].v);
		else
			wire_st64(c + cases[i].at, cases[i].v);
		if (strcmp(cases[i].what, "oldest and next past 2^63") == 0)
			wire_st64(c + 24, cases[i].v + 2);
		append(b, "junk", 4);
		if (snap_restore_exact(b, c, n) != -EINVAL)
			fail_msg("%s: taken", cases[i].what);
		assert_stream_empty(b, empty);
	}

	/* More payload than data_bytes holds: three maximal records in 8192 bytes. */
	n = snap_hdr(s, 8, 8192, 0, 3, 0);
	for (int i = 0; i < 3; i++)
		n += snap_rec(s + n, WIRE_STREAM_PAYLOAD_MAX);
	assert_int_equal(snap_restore_exact(b, s, n), -EINVAL);
	assert_stream_empty(b, empty);
	/* Two fit, but not from first_pos 200: the second wraps and would reach the first. */
	n = snap_hdr(s, 8, 8192, 0, 2, 200);
	for (int i = 0; i < 2; i++)
		n += snap_rec(s + n, WIRE_STREAM_PAYLOAD_MAX);
	assert_int_equal(snap_restore_exact(b, s, n), -EINVAL);
	wire_st32(s + 32, 0);
	assert_int_equal(snap_restore_exact(b, s, n), 0);

	/* Every byte of a real, wrapped snapshot flipped in turn: taken or refused, never a
	 * crash, and the stream consistent (a rebuild from its own snapshot agrees). */
	uint8_t p[200];
	for (uint32_t i = 0; i < 11; i++) {
		pattern(p, i, 10 * i);
		append(a, p, 10 * i);
	}
	buf = snap_take(a, &len);
	for (size_t i = 0; i < len; i++) {
		for (uint32_t bit = 0; bit < 8; bit += 3) {
			uint8_t *c = malloc(len), *again;
			size_t alen;
			int rc;

			assert_non_null(c);
			memcpy(c, buf, len);
			c[i] ^= (uint8_t)(1u << bit);
			rc = svc_stream_restore(b->s, c, len);
			assert_true(rc == 0 || rc == -EINVAL);
			if (rc == -EINVAL)
				assert_stream_empty(b, empty);
			again = snap_take(b, &alen);
			assert_int_equal(svc_stream_restore(a->s, again, alen), 0);
			assert_same_state(a, b);
			free(again);
			free(c);
		}
	}
	free(buf);
	st_free(a);
	st_free(b);
}

/* A snapshot of a larger stream restores into a smaller one when its records fit
 * (laid out anew, same offsets and contents), and is refused when they do not: too
 * many records, or too many bytes. A smaller one restores into a larger. */
static void test_snapshot_limits(void **state)
{
	struct st *big = st_new(64, 65536), *small = st_new(8, 8192);
	uint64_t empty = svc_stream_hash(small->s);
	uint8_t p[2000], *buf;
	size_t len;

	(void)state;
	for (uint32_t i = 0; i < 40; i++) {   /* the ring's middle, not its start */
		pattern(p, i, 1000);
		append(big, p, 1000);
	}
	assert_int_equal(svc_stream_restore(big->s, NULL, 0), 0);
	for (uint32_t i = 0; i < 20; i++)
		append(big, "", 0);
	for (uint32_t i = 0; i < 8; i++) {
		pattern(p, i, 1000);
		append(big, p, 1000);
	}
	/* 28 records: too many for 8. */
	buf = snap_take(big, &len);
	assert_int_equal(svc_stream_restore(small->s, buf, len), -EINVAL);
	assert_stream_empty(small, empty);
	free(buf);

	/* 8 records of 1000 bytes held from offset 20: they fit 8 x 8192. */
	struct st *mid = st_new(8, 65536);
	for (uint32_t i = 0; i < 28; i++) {
		pattern(p, i, i < 20 ? 0 : 1000);
		append(mid, p, i < 20 ? 0 : 1000);
	}
	assert_int_equal(svc_stream_oldest(mid->s), 20);
	buf = snap_take(mid, &len);
	assert_int_equal(svc_stream_restore(small->s, buf, len), 0);
	assert_same_state(mid, small);
	read_from(small, 19, 100);
	assert_int_equal(small->r.result, WIRE_STREAM_R_TRUNCATED);
	assert_int_equal(small->r.offset, 20);
	free(buf);

	/* 8 records of 1100 bytes: 8800 bytes, more than 8192. */
	for (uint32_t i = 0; i < 8; i++) {
		pattern(p, i, 1100);
		append(mid, p, 1100);
	}
	buf = snap_take(mid, &len);
	assert_int_equal(svc_stream_restore(small->s, buf, len), -EINVAL);
	assert_stream_empty(small, empty);
	free(buf);

	/* Smaller into larger. */
	append(small, "s", 1);
	buf = snap_take(small, &len);
	assert_int_equal(svc_stream_restore(big->s, buf, len), 0);
	assert_same_state(small, big);
	free(buf);
	st_free(big);
	st_free(small);
	st_free(mid);
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
		cmocka_unit_test(test_snapshot_round_trip),
		cmocka_unit_test(test_snapshot_wrapped),
		cmocka_unit_test(test_snapshot_restore_empty),
		cmocka_unit_test(test_snapshot_truncated),
		cmocka_unit_test(test_snapshot_corrupt),
		cmocka_unit_test(test_snapshot_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
