/* SPDX-License-Identifier: Apache-2.0
 * Batch encoding (px_batch.h): building, iterating and validating slot values, at and
 * around every bound, plus seeded corruption that must never get past px_batch_valid
 * in a form px_batch_next cannot walk.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "px_batch.h"
#include "wire_le.h"

/* A slot holding the most bytes a slot may hold: 4 commands of this size fill it. */
#define FULL_SLOT_CMDS 4u
#define FULL_SLOT_BODY ((PX_SLOT_BYTES_MAX - PX_BATCH_HDR_BYTES) / FULL_SLOT_CMDS - PX_CMD_HDR_BYTES)
_Static_assert(PX_BATCH_HDR_BYTES + FULL_SLOT_CMDS * (PX_CMD_HDR_BYTES + FULL_SLOT_BODY) ==
		       PX_SLOT_BYTES_MAX,
	       "four commands fill a slot exactly");

/* Big enough for a batch of PX_BATCH_CMDS_MAX commands of 16 bytes, or a full slot. */
#define BUF_BYTES (PX_BATCH_HDR_BYTES + PX_BATCH_CMDS_MAX * (PX_CMD_HDR_BYTES + 64u) + 64u)
_Static_assert(BUF_BYTES >= PX_SLOT_BYTES_MAX + 64u, "buffer holds a full slot");

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* splitmix64: seeded and reproducible. */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void fill_body(uint8_t *b, uint32_t len, uint64_t salt)
{
	for (uint32_t i = 0; i < len; i++)
		b[i] = (uint8_t)(salt * 31u + i * 7u);
}

/* Builds a batch of n commands of body_len bytes; returns its length. */
static uint32_t build(uint8_t *buf, uint32_t cap, uint32_t n, uint32_t body_len)
{
	static uint8_t body[PX_CMD_BYTES_MAX];
	uint32_t len = px_batch_begin(buf, cap);

	assert_int_equal(len, PX_BATCH_HDR_BYTES);
	for (uint32_t i = 0; i < n; i++) {
		struct px_cmd_ref c = {
			.client_id = 1000 + i, .seq = i + 1, .len = body_len, .body = body,
		};

		fill_body(body, body_len, i);
		len = px_batch_add(buf, len, cap, &c);
		assert_int_not_equal(len, 0);
	}
	return len;
}

/* Walks a valid batch and checks each command against what build() wrote. */
static void check_walk(const uint8_t *buf, uint32_t len, uint32_t n, uint32_t body_len)
{
	uint8_t want[PX_CMD_BYTES_MAX];
	struct px_cmd_ref c;
	uint32_t off = 0, i = 0;

	assert_true(px_batch_valid(buf, len));
	assert_int_equal(px_batch_count(buf), n);
	while (px_batch_next(buf, len, &off, &c)) {
		assert_true(i < n);
		assert_int_equal(c.client_id, 1000 + i);
		assert_int_equal(c.seq, i + 1);
		assert_int_equal(c.len, body_len);
		fill_body(want, body_len, i);
		assert_memory_equal(c.body, want, body_len);
		assert_true(c.body >= buf && c.body + c.len <= buf + len);
		i++;
	}
	assert_int_equal(i, n);
	assert_int_equal(off, len);
	/* The end is sticky. */
	assert_false(px_batch_next(buf, len, &off, &c));
}

static void test_noop_and_begin(void **state)
{
	uint8_t buf[8];
	struct px_cmd_ref c;
	uint32_t off = 0;

	(void)state;
	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(px_batch_noop(buf), PX_BATCH_HDR_BYTES);
	assert_true(px_batch_valid(buf, PX_BATCH_HDR_BYTES));
	assert_int_equal(px_batch_count(buf), 0);
	assert_false(px_batch_next(buf, PX_BATCH_HDR_BYTES, &off, &c));
	/* Trailing bytes after a no-op are not a no-op. */
	assert_false(px_batch_valid(buf, PX_BATCH_HDR_BYTES + 1));

	memset(buf, 0xaa, sizeof(buf));
	for (uint32_t cap = 0; cap < PX_BATCH_HDR_BYTES; cap++) {
		assert_int_equal(px_batch_begin(buf, cap), 0);
		assert_int_equal(buf[0], 0xaa);
	}
	assert_int_equal(px_batch_begin(buf, PX_BATCH_HDR_BYTES), PX_BATCH_HDR_BYTES);
	assert_int_equal(px_batch_count(buf), 0);
	assert_true(px_batch_valid(buf, PX_BATCH_HDR_BYTES));
}

static void test_roundtrip_32x16(void **state)
{
	static uint8_t buf[BUF_BYTES];
	uint32_t len;

	(void)state;
	len = build(buf, sizeof(buf), 32, 16);
	assert_int_equal(len, PX_BATCH_HDR_BYTES + 32 * (PX_CMD_HDR_BYTES + 16));
	check_walk(buf, len, 32, 16);
}

/* px_batch_fill (the leader's one-call path) writes the same bytes as begin + add, stops
 * at the command bound and at the capacity, and copies bodies of every small length. */
static void test_fill_matches_add(void **state)
{
	static uint8_t a[BUF_BYTES], b[BUF_BYTES];
	static uint8_t bodies[40][40];
	struct px_cmd_ref cmds[40];
	uint32_t la, lb, k;

	(void)state;
	for (uint32_t i = 0; i < 40; i++) {
		for (uint32_t j = 0; j < 40; j++)
			bodies[i][j] = (uint8_t)(i * 7 + j);
		cmds[i] = (struct px_cmd_ref){.client_id = 100 + i, .seq = i + 1, .len = i,
					      .body = bodies[i]};
	}
	/* All fit. */
	k = px_batch_fill(a, sizeof(a), cmds, 40, 256, &la);
	assert_int_equal(k, 40);
	lb = px_batch_begin(b, sizeof(b));
	for (uint32_t i = 0; i < 40; i++)
		lb = px_batch_add(b, lb, sizeof(b), &cmds[i]);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	assert_true(px_batch_valid(a, la));
	/* The command bound. */
	k = px_batch_fill(a, sizeof(a), cmds, 40, 7, &la);
	assert_int_equal(k, 7);
	assert_int_equal(px_batch_count(a), 7);
	assert_true(px_batch_valid(a, la));
	/* The capacity: room for exactly the first three commands (bodies 0, 1, 2). */
	uint32_t cap = PX_BATCH_HDR_BYTES + 3 * PX_CMD_HDR_BYTES + 0 + 1 + 2;
	k = px_batch_fill(a, cap, cmds, 40, 256, &la);
	assert_int_equal(k, 3);
	assert_int_equal(la, cap);
	assert_true(px_batch_valid(a, la));
	/* Nothing fits: an empty (no-op shaped) batch and 0 taken. */
	k = px_batch_fill(a, PX_BATCH_HDR_BYTES + 4, &cmds[10], 1, 256, &la);
	assert_int_equal(k, 0);
	assert_int_equal(la, PX_BATCH_HDR_BYTES);
}

static void test_layout_bytes(void **state)
{
	/* The documented layout, byte by byte: u32 n, u64 client, u64 seq, u32 len, body. */
	static const uint8_t want[] = {
		1, 0, 0, 0,
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
		0x02, 0, 0, 0, 0, 0, 0, 0,
		3, 0, 0, 0,
		'a', 'b', 'c',
	};
	uint8_t buf[64];
	struct px_cmd_ref c = {
		.client_id = 0x0102030405060708ull, .seq = 2, .len = 3,
		.body = (const uint8_t *)"abc",
	};
	uint32_t len;

	(void)state;
	len = px_batch_begin(buf, sizeof(buf));
	len = px_batch_add(buf, len, sizeof(buf), &c);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
}

static void test_full_batch(void **state)
{
	static uint8_t buf[BUF_BYTES];
	static uint8_t copy[BUF_BYTES];
	struct px_cmd_ref c = { .client_id = 1, .seq = 1, .len = 0, .body = NULL };
	uint32_t len;

	(void)state;
	len = build(buf, sizeof(buf), PX_BATCH_CMDS_MAX, 16);
	check_walk(buf, len, PX_BATCH_CMDS_MAX, 16);
	/* The count bound refuses even an empty command, and writes nothing. */
	memcpy(copy, buf, sizeof(buf));
	assert_int_equal(px_batch_add(buf, len, sizeof(buf), &c), 0);
	assert_memory_equal(buf, copy, sizeof(buf));

	/* Commands with empty bodies: a full batch of headers only. */
	len = build(buf, sizeof(buf), PX_BATCH_CMDS_MAX, 0);
	assert_int_equal(len, PX_BATCH_HDR_BYTES + PX_BATCH_CMDS_MAX * PX_CMD_HDR_BYTES);
	check_walk(buf, len, PX_BATCH_CMDS_MAX, 0);
}

static void test_cap_boundaries(void **state)
{
	static uint8_t body[PX_CMD_BYTES_MAX];
	uint8_t buf[PX_BATCH_HDR_BYTES + 2 * PX_CMD_HDR_BYTES + 2 * 100 + 16];
	struct px_cmd_ref c = { .client_id = 5, .seq = 9, .len = 100, .body = body };
	uint32_t len, need = PX_BATCH_HDR_BYTES + PX_CMD_HDR_BYTES + 100;

	(void)state;
	fill_body(body, sizeof(body), 3);
	/* Every cap short of the need is refused without touching the buffer. */
	for (uint32_t cap = PX_BATCH_HDR_BYTES; cap < need; cap++) {
		memset(buf, 0xaa, sizeof(buf));
		len = px_batch_begin(buf, cap);
		assert_int_equal(px_batch_add(buf, len, cap, &c), 0);
		assert_int_equal(px_batch_count(buf), 0);
		for (uint32_t i = PX_BATCH_HDR_BYTES; i < sizeof(buf); i++)
			assert_int_equal(buf[i], 0xaa);
	}
	/* Exactly enough. */
	len = px_batch_begin(buf, need);
	assert_int_equal(px_batch_add(buf, len, need, &c), need);
	assert_true(px_batch_valid(buf, need));

	/* A second command with one byte too few, then exactly enough. */
	assert_int_equal(px_batch_add(buf, need, 2 * need - PX_BATCH_HDR_BYTES - 1, &c), 0);
	assert_int_equal(px_batch_count(buf), 1);
	len = px_batch_add(buf, need, 2 * need - PX_BATCH_HDR_BYTES, &c);
	assert_int_equal(len, 2 * need - PX_BATCH_HDR_BYTES);
	assert_int_equal(px_batch_count(buf), 2);
	assert_true(px_batch_valid(buf, len));
}

static void test_full_slot(void **state)
{
	static uint8_t buf[BUF_BYTES];
	uint32_t len;

	(void)state;
	len = build(buf, PX_SLOT_BYTES_MAX, FULL_SLOT_CMDS, FULL_SLOT_BODY);
	assert_int_equal(len, PX_SLOT_BYTES_MAX);
	check_walk(buf, len, FULL_SLOT_CMDS, FULL_SLOT_BODY);

	/* One command of the largest body. */
	len = build(buf, sizeof(buf), 1, PX_CMD_BYTES_MAX);
	check_walk(buf, len, 1, PX_CMD_BYTES_MAX);
}

static void test_valid_rejects(void **state)
{
	static uint8_t buf[BUF_BYTES];
	uint32_t len, off;

	(void)state;
	assert_false(px_batch_valid(NULL, 0));
	assert_false(px_batch_valid(NULL, 100));

	len = build(buf, sizeof(buf), 5, 33);
	assert_true(px_batch_valid(buf, len));
	/* Every prefix and one extra byte. */
	for (uint32_t l = 0; l < len; l++) {
		uint8_t *exact = malloc(l ? l : 1);

		/* An exact-size copy lets ASan catch any read past the end. */
		memcpy(exact, buf, l);
		assert_false(px_batch_valid(exact, l));
		free(exact);
	}
	assert_false(px_batch_valid(buf, len + 1));

	/* Count above the bound, even with the bytes to back it. */
	len = build(buf, sizeof(buf), PX_BATCH_CMDS_MAX, 0);
	assert_true(px_batch_valid(buf, len));
	wire_st32(buf, PX_BATCH_CMDS_MAX + 1);
	assert_false(px_batch_valid(buf, len + PX_CMD_HDR_BYTES));
	wire_st32(buf, UINT32_MAX);
	assert_false(px_batch_valid(buf, len));

	/* Count disagrees with the bytes: fewer commands than bytes, and more. */
	len = build(buf, sizeof(buf), 3, 8);
	wire_st32(buf, 2);
	assert_false(px_batch_valid(buf, len));
	wire_st32(buf, 4);
	assert_false(px_batch_valid(buf, len));
	wire_st32(buf, 3);
	assert_true(px_batch_valid(buf, len));

	/* Command lengths: over the bound, wrapping, overrunning, and one short. */
	off = PX_BATCH_HDR_BYTES + 16;  /* first command's len field */
	wire_st32(buf + off, PX_CMD_BYTES_MAX + 1);
	assert_false(px_batch_valid(buf, len));
	wire_st32(buf + off, UINT32_MAX);
	assert_false(px_batch_valid(buf, len));
	wire_st32(buf + off, UINT32_MAX - PX_CMD_HDR_BYTES + 1);
	assert_false(px_batch_valid(buf, len));
	wire_st32(buf + off, 7);
	assert_false(px_batch_valid(buf, len));
	wire_st32(buf + off, 9);
	assert_false(px_batch_valid(buf, len));
	wire_st32(buf + off, 8);
	assert_true(px_batch_valid(buf, len));

	/* A command of PX_CMD_BYTES_MAX + 1 bytes that is otherwise well formed. */
	len = build(buf, sizeof(buf), 1, PX_CMD_BYTES_MAX);
	wire_st32(buf + PX_BATCH_HDR_BYTES + 16, PX_CMD_BYTES_MAX + 1);
	assert_false(px_batch_valid(buf, len + 1));
}

static void test_random_corruption(void **state)
{
	static uint8_t buf[BUF_BYTES];
	static uint8_t orig[BUF_BYTES];
	uint32_t len, valid = 0, invalid = 0;

	(void)state;
	rng_state = 0x5eed0001;
	len = build(orig, sizeof(orig), 7, 5);
	for (int iter = 0; iter < 5000; iter++) {
		uint32_t l = len, flips = 1 + (uint32_t)(rng() % 3);
		struct px_cmd_ref c;
		uint32_t off = 0, n = 0;
		uint8_t *exact;

		memcpy(buf, orig, len);
		for (uint32_t f = 0; f < flips; f++)
			buf[rng() % len] ^= (uint8_t)(1u << (rng() % 8));
		if (rng() % 4 == 0)
			l = (uint32_t)(rng() % (len + 1));
		exact = malloc(l ? l : 1);
		memcpy(exact, buf, l);
		if (px_batch_valid(exact, l)) {
			valid++;
			while (px_batch_next(exact, l, &off, &c))
				n++;
			assert_int_equal(n, px_batch_count(exact));
			assert_int_equal(off, l);
		} else {
			invalid++;
		}
		free(exact);
	}
	/* Both outcomes happen, or the test proves nothing. */
	assert_true(valid > 0);
	assert_true(invalid > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_noop_and_begin),
		cmocka_unit_test(test_roundtrip_32x16),
		cmocka_unit_test(test_fill_matches_add),
		cmocka_unit_test(test_layout_bytes),
		cmocka_unit_test(test_full_batch),
		cmocka_unit_test(test_cap_boundaries),
		cmocka_unit_test(test_full_slot),
		cmocka_unit_test(test_valid_rejects),
		cmocka_unit_test(test_random_corruption),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
