/* SPDX-License-Identifier: Apache-2.0
 * pw_kv: a replicated key-value store, one struct px_service.
 *
 * Fixed capacity from init; every byte lives in the arena given to pw_kv_init.
 * Commands and replies, and their codec, are in wire/pw_kv_wire.h (included here): a
 * client needs the codec, not the store.
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

#include "pw_kv_wire.h"
#include "px_apply.h"
#include "px_limits.h"

/** The most keys a store may be configured to hold. */
#define PW_KV_KEYS_MAX (1u << 24)

struct pw_kv;

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

#endif /* PW_KV_H */
