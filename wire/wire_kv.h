/* SPDX-License-Identifier: Apache-2.0
 * The kv service's commands and replies (services/svc_kv.h runs them), shared by the
 * store and its clients. Binary, little-endian, no padding:
 *
 *   command: u8 op, u8 key_len, u16 reserved (0), u32 value_len, u32 expect_len,
 *            key[key_len], value[value_len], expect[expect_len]
 *     PUT  (1): key, value.             value_len >= 0, expect_len 0
 *     GET  (2): key.                    value_len 0, expect_len 0
 *     DEL  (3): key.                    value_len 0, expect_len 0
 *     CAS  (4): key, value, expect.     expect_len = WIRE_KV_EXPECT_ABSENT: no expect
 *               bytes follow, and the swap happens only if the key is absent.
 *   The command's length must be exactly 12 + key_len + value_len + expect bytes.
 *   key_len 0 is the empty key, a key like any other; value_len 0 is the empty value.
 *
 *   reply:   u8 result, u32 value_len, value[value_len]
 *     PUT: OK, or FULL (new key, table full: nothing changed).
 *     GET: OK + the value, or NOT_FOUND.
 *     DEL: OK (it was there), or NOT_FOUND.
 *     CAS: OK (value stored); CAS_MISMATCH + the current value (the key exists but
 *          holds something else, or exists while absence was expected), so a client can
 *          retry without a GET; NOT_FOUND (a value was expected, the key is absent);
 *          FULL (absence expected and true, but the table is full).
 *     A malformed command, or one beyond the store's limits: BAD (services/svc_kv.h).
 *
 * Commands come from clients and replies from the network: the decoders check every
 * length and assert nothing on their input.
 */
#ifndef WIRE_KV_H
#define WIRE_KV_H

#include <stdint.h>

#include "px_limits.h"
#include "wire_le.h"

enum wire_kv_op {
	WIRE_KV_PUT = 1,
	WIRE_KV_GET = 2,
	WIRE_KV_DEL = 3,
	WIRE_KV_CAS = 4,
};

enum wire_kv_result {
	WIRE_KV_R_OK = 0,
	WIRE_KV_R_NOT_FOUND = 1,
	WIRE_KV_R_CAS_MISMATCH = 2,
	WIRE_KV_R_FULL = 3,
	WIRE_KV_R_BAD = 4,
};

#define WIRE_KV_CMD_HDR_BYTES 12u
#define WIRE_KV_REPLY_HDR_BYTES 5u
/** CAS expect_len: the swap requires the key to be absent. */
#define WIRE_KV_EXPECT_ABSENT UINT32_MAX

/** The longest key: key_len is one byte. */
#define WIRE_KV_KEY_BYTES_MAX 255u
/** The largest value a PUT with a maximal key can carry in one command. */
#define WIRE_KV_VALUE_BYTES_MAX (PX_CMD_BYTES_MAX - WIRE_KV_CMD_HDR_BYTES - WIRE_KV_KEY_BYTES_MAX)
/** The longest reply: a GET of a maximal value. */
#define WIRE_KV_REPLY_BYTES_MAX (WIRE_KV_REPLY_HDR_BYTES + WIRE_KV_VALUE_BYTES_MAX)

_Static_assert(WIRE_KV_REPLY_BYTES_MAX <= PX_REPLY_BYTES_MAX,
	       "every reply fits the applier's reply cache");
_Static_assert(WIRE_KV_CMD_HDR_BYTES + WIRE_KV_KEY_BYTES_MAX + WIRE_KV_VALUE_BYTES_MAX <=
		       PX_CMD_BYTES_MAX,
	       "a PUT of a maximal key and value fits one command");

/** A decoded command; pointers refer into the command buffer. */
struct wire_kv_cmd {
	uint8_t op;             /**< enum wire_kv_op */
	uint8_t key_len;
	uint32_t value_len;
	uint32_t expect_len;    /**< WIRE_KV_EXPECT_ABSENT or the length of expect */
	const uint8_t *key;
	const uint8_t *value;
	const uint8_t *expect;  /**< NULL when expect_len == WIRE_KV_EXPECT_ABSENT */
};

/** A decoded reply; value points into the reply buffer. */
struct wire_kv_reply {
	uint8_t result;         /**< enum wire_kv_result */
	uint32_t value_len;
	const uint8_t *value;
};

/**
 * Parses a command (structure only, not a store's limits).
 * @return 0, or -EINVAL if malformed.
 */
int wire_kv_decode_cmd(const uint8_t *cmd, uint32_t len, struct wire_kv_cmd *c);

/**
 * Encoders: write one command into buf. Return its length, or 0 if it does not fit cap
 * (nothing is written then). key/val/expect may be NULL when their length is 0.
 * wire_kv_encode_cas with expect == NULL encodes "expect absent" (elen is ignored).
 */
uint32_t wire_kv_encode_put(uint8_t *buf, uint32_t cap, const void *key, uint8_t klen,
			  const void *val, uint32_t vlen);
uint32_t wire_kv_encode_get(uint8_t *buf, uint32_t cap, const void *key, uint8_t klen);
uint32_t wire_kv_encode_del(uint8_t *buf, uint32_t cap, const void *key, uint8_t klen);
uint32_t wire_kv_encode_cas(uint8_t *buf, uint32_t cap, const void *key, uint8_t klen,
			  const void *val, uint32_t vlen, const void *expect, uint32_t elen);

/**
 * Writes a reply's header; the caller writes its value_len bytes of value right after.
 * Inline: the store answers every command with it.
 * @param buf at least WIRE_KV_REPLY_HDR_BYTES bytes.
 * @return WIRE_KV_REPLY_HDR_BYTES.
 */
static inline uint32_t wire_kv_encode_reply_hdr(uint8_t *buf, uint8_t result,
					      uint32_t value_len)
{
	buf[0] = result;
	wire_st32(buf + 1, value_len);
	return WIRE_KV_REPLY_HDR_BYTES;
}

/**
 * Parses a reply. @return 0, or -EINVAL if it is short, has trailing bytes, or names
 * an unknown result.
 */
int wire_kv_decode_reply(const uint8_t *buf, uint32_t len, struct wire_kv_reply *r);

#endif /* WIRE_KV_H */
