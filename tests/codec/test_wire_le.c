/* SPDX-License-Identifier: Apache-2.0
 * wire/wire_le.h: the little-endian loads and stores every codec uses. Checked against
 * literal bytes written out by hand (the codec tests use the helpers themselves to
 * craft and read messages, so this is where their byte order is pinned down), at every
 * alignment, without touching a byte outside the field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wire_le.h"

static const uint8_t bytes[8] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef };

static void test_loads(void **state)
{
	uint8_t buf[8 + 16];

	(void)state;
	/* Every offset, so that every load is also an unaligned one (UBSan would say). */
	for (size_t off = 0; off < 16; off++) {
		memset(buf, 0xee, sizeof(buf));
		memcpy(buf + off, bytes, sizeof(bytes));
		assert_int_equal(wire_ld16(buf + off), 0x2301u);
		assert_int_equal(wire_ld32(buf + off), 0x67452301u);
		assert_true(wire_ld64(buf + off) == 0xefcdab8967452301ull);
	}
}

static void test_stores(void **state)
{
	uint8_t buf[8 + 16 + 8];

	(void)state;
	for (size_t off = 8; off < 24; off++) {
		memset(buf, 0xee, sizeof(buf));
		wire_st16(buf + off, 0x2301u);
		assert_memory_equal(buf + off, bytes, 2);
		assert_int_equal(buf[off - 1], 0xee);
		assert_int_equal(buf[off + 2], 0xee);

		memset(buf, 0xee, sizeof(buf));
		wire_st32(buf + off, 0x67452301u);
		assert_memory_equal(buf + off, bytes, 4);
		assert_int_equal(buf[off - 1], 0xee);
		assert_int_equal(buf[off + 4], 0xee);

		memset(buf, 0xee, sizeof(buf));
		wire_st64(buf + off, 0xefcdab8967452301ull);
		assert_memory_equal(buf + off, bytes, 8);
		assert_int_equal(buf[off - 1], 0xee);
		assert_int_equal(buf[off + 8], 0xee);
	}
}

static void test_roundtrip_extremes(void **state)
{
	static const uint64_t v[] = { 0, 1, 0x80, 0xff, 0x100, 0x7fffffffull, 0x80000000ull,
				      0xffffffffull, 0x100000000ull, UINT64_MAX - 1, UINT64_MAX };
	uint8_t buf[9];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		wire_st16(buf + 1, (uint16_t)v[i]);
		assert_int_equal(wire_ld16(buf + 1), (uint16_t)v[i]);
		wire_st32(buf + 1, (uint32_t)v[i]);
		assert_int_equal(wire_ld32(buf + 1), (uint32_t)v[i]);
		wire_st64(buf + 1, v[i]);
		assert_true(wire_ld64(buf + 1) == v[i]);
		/* The least significant byte first. */
		assert_int_equal(buf[1], (uint8_t)v[i]);
		assert_int_equal(buf[8], (uint8_t)(v[i] >> 56));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loads),
		cmocka_unit_test(test_stores),
		cmocka_unit_test(test_roundtrip_extremes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
