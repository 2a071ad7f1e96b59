/* SPDX-License-Identifier: Apache-2.0
 * pw_kv: a replicated key-value store, one struct px_service.
 *
 * Fixed capacity from init; every byte lives in the arena given to pw_kv_init.
 * Commands and replies are binary, little-endian, no padding:
 *
 *   command: u8 op, u8 key_len, u16 reserved (0), u32 value_len, u32 expect_len,
 *            key[key_len], value[value_len], expect[expect_len]
 *     PUT  (1): key, value.             value_len >= 0, expect_len 0
 *     GET  (2): key.                    value_len 0, expect_len 0
 *     DEL  (3): key.                    value_len 0, expect_len 0
 *     CAS  (4): key, value, expect.     expect_len = PW_KV_EXPECT_ABSENT: no expect
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
 *
 * A command that is malformed (short, trailing bytes, unknown op, reserved field set,
 * lengths that disagree with the op) or beyond this store's limits (key longer than
 * max_key_bytes, value or expect longer than max_value_bytes) is answered with status
 * PX_BAD_COMMAND and the reply {PW_KV_R_BAD, 0}; nothing changes. Commands come from
 * clients, so none of this is asserted.
 */
#ifndef PW_KV_H
#define PW_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "px_apply.h"
#include "px_limits.h"

enum pw_kv_op {
	PW_KV_PUT = 1,
	PW_KV_GET = 2,
	PW_KV_DEL = 3,
	PW_KV_CAS = 4,
};

enum pw_kv_result {
	PW_KV_R_OK = 0,
	PW_KV_R_NOT_FOUND = 1,
	PW_KV_R_CAS_MISMATCH = 2,
	PW_KV_R_FULL = 3,
	PW_KV_R_BAD = 4,
};

#define PW_KV_CMD_HDR_BYTES 12u
#define PW_KV_REPLY_HDR_BYTES 5u
/** CAS expect_len: the swap requires the key to be absent. */
#define PW_KV_EXPECT_ABSENT UINT32_MAX

/** Bounds of a store's configuration. */
#define PW_KV_KEY_BYTES_MAX 255u
/** The largest value a PUT with a maximal key can carry in one command. */
#define PW_KV_VALUE_BYTES_MAX (PX_CMD_BYTES_MAX - PW_KV_CMD_HDR_BYTES - PW_KV_KEY_BYTES_MAX)
#define PW_KV_KEYS_MAX (1u << 24)
/** The longest reply: a GET of a maximal value. */
#define PW_KV_REPLY_BYTES_MAX (PW_KV_REPLY_HDR_BYTES + PW_KV_VALUE_BYTES_MAX)

_Static_assert(PW_KV_REPLY_BYTES_MAX <= PX_REPLY_BYTES_MAX,
	       "every reply fits the applier's reply cache");
_Static_assert(PW_KV_CMD_HDR_BYTES + PW_KV_KEY_BYTES_MAX + PW_KV_VALUE_BYTES_MAX <=
		       PX_CMD_BYTES_MAX,
	       "a PUT of a maximal key and value fits one command");

struct pw_kv;

/** A decoded command; pointers refer into the command buffer. */
struct pw_kv_cmd {
	uint8_t op;             /**< enum pw_kv_op */
	uint8_t key_len;
	uint32_t value_len;
	uint32_t expect_len;    /**< PW_KV_EXPECT_ABSENT or the length of expect */
	const uint8_t *key;
	const uint8_t *value;
	const uint8_t *expect;  /**< NULL when expect_len == PW_KV_EXPECT_ABSENT */
};

/** A decoded reply; value points into the reply buffer. */
struct pw_kv_reply {
	uint8_t result;         /**< enum pw_kv_result */
	uint32_t value_len;
	const uint8_t *value;
};

/** Bytes of arena for this configuration; 0 if out of range (see pw_kv_init). */
size_t pw_kv_arena_bytes(uint32_t max_keys, uint32_t max_key_bytes,
			 uint32_t max_value_bytes);

/**
 * Builds an empty store in arena. NULL + errno: EINVAL (max_keys 0 or above
 * PW_KV_KEYS_MAX, max_key_bytes 0 or above PW_KV_KEY_BYTES_MAX, max_value_bytes above
 * PW_KV_VALUE_BYTES_MAX, NULL arena), ENOSPC (len < pw_kv_arena_bytes).
 */
struct pw_kv *pw_kv_init(uint32_t max_keys, uint32_t max_key_bytes, uint32_t max_value_bytes,
			 void *arena, size_t len);

/** Fills svc so the applier drives this store. */
void pw_kv_service(struct pw_kv *kv, struct px_service *svc);

/**
 * struct px_service apply(): runs one command. cap must be >= PW_KV_REPLY_HDR_BYTES +
 * max_value_bytes (the applier passes PX_REPLY_BYTES_MAX). Returns the reply length.
 */
uint32_t pw_kv_apply(void *ctx, const uint8_t *cmd, uint32_t len, uint8_t *reply,
		     uint32_t cap, uint8_t *status);

/**
 * struct px_service is_read(): true for a well-formed GET (it changes nothing, so a
 * leader may serve it by read index, outside the log). Depends on the bytes alone.
 */
bool pw_kv_is_read(void *ctx, const uint8_t *cmd, uint32_t len);

/**
 * struct px_service hash(): a hash of the contents that does not depend on the order
 * the keys were inserted in (a sum of per-entry hashes). O(keys held).
 */
uint64_t pw_kv_hash(const void *ctx);

/** Keys held now. */
uint32_t pw_kv_count(const struct pw_kv *kv);

/** Reads a key without going through the log (tests, tools). false if absent. */
bool pw_kv_get_direct(const struct pw_kv *kv, const void *key, uint8_t key_len,
		      const uint8_t **value, uint32_t *value_len);

/**
 * Parses a command (structure only, not this store's limits).
 * @return 0, or -EINVAL if malformed.
 */
int pw_kv_decode_cmd(const uint8_t *cmd, uint32_t len, struct pw_kv_cmd *c);

/**
 * Encoders: write one command into buf. Return its length, or 0 if it does not fit cap
 * (nothing is written then). key/val/expect may be NULL when their length is 0.
 * pw_kv_encode_cas with expect == NULL encodes "expect absent" (elen is ignored).
 */
uint32_t pw_kv_encode_put(uint8_t *buf, uint32_t cap, const void *key, uint8_t klen,
			  const void *val, uint32_t vlen);
uint32_t pw_kv_encode_get(uint8_t *buf, uint32_t cap, const void *key, uint8_t klen);
uint32_t pw_kv_encode_del(uint8_t *buf, uint32_t cap, const void *key, uint8_t klen);
uint32_t pw_kv_encode_cas(uint8_t *buf, uint32_t cap, const void *key, uint8_t klen,
			  const void *val, uint32_t vlen, const void *expect, uint32_t elen);

/**
 * Parses a reply. @return 0, or -EINVAL if it is short, has trailing bytes, or names
 * an unknown result.
 */
int pw_kv_decode_reply(const uint8_t *buf, uint32_t len, struct pw_kv_reply *r);

#endif /* PW_KV_H */
