/* SPDX-License-Identifier: Apache-2.0
 * svc_kv: a replicated key-value store, one struct px_service.
 *
 * Fixed capacity from init; every byte lives in the arena given to svc_kv_init.
 * Commands and replies, and their codec, are in wire/wire_kv.h (included here): a
 * client needs the codec, not the store.
 *
 * A command that is malformed (short, trailing bytes, unknown op, reserved field set,
 * lengths that disagree with the op) or beyond this store's limits (key longer than
 * max_key_bytes, value or expect longer than max_value_bytes) is answered with status
 * PX_BAD_COMMAND and the reply {WIRE_KV_R_BAD, 0}; nothing changes. Commands come from
 * clients, so none of this is asserted.
 */
#ifndef SVC_KV_H
#define SVC_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire_kv.h"
#include "px_apply.h"
#include "px_limits.h"

/** The most keys a store may be configured to hold. */
#define SVC_KV_KEYS_MAX (1u << 24)

struct svc_kv;

/** Bytes of arena for this configuration; 0 if out of range (see svc_kv_init). */
size_t svc_kv_arena_bytes(uint32_t max_keys, uint32_t max_key_bytes,
			 uint32_t max_value_bytes);

/**
 * Builds an empty store in arena. NULL + errno: EINVAL (max_keys 0 or above
 * SVC_KV_KEYS_MAX, max_key_bytes 0 or above WIRE_KV_KEY_BYTES_MAX, max_value_bytes above
 * WIRE_KV_VALUE_BYTES_MAX, NULL arena), ENOSPC (len < svc_kv_arena_bytes).
 */
struct svc_kv *svc_kv_init(uint32_t max_keys, uint32_t max_key_bytes, uint32_t max_value_bytes,
			 void *arena, size_t len);

/** Fills svc so the applier drives this store (every function, snapshots included). */
void svc_kv_service(struct svc_kv *kv, struct px_service *svc);

/**
 * struct px_service apply(): runs one command. cap must be >= WIRE_KV_REPLY_HDR_BYTES +
 * max_value_bytes (the applier passes PX_REPLY_BYTES_MAX). Returns the reply length.
 */
uint32_t svc_kv_apply(void *ctx, const uint8_t *cmd, uint32_t len, uint8_t *reply,
		     uint32_t cap, uint8_t *status);

/**
 * struct px_service is_read(): true for a well-formed GET (it changes nothing, so a
 * leader may serve it by read index, outside the log). Depends on the bytes alone.
 */
bool svc_kv_is_read(void *ctx, const uint8_t *cmd, uint32_t len);

/**
 * struct px_service hash(): a hash of the contents that does not depend on the order
 * the keys were inserted in (a sum of per-entry hashes). O(keys held).
 */
uint64_t svc_kv_hash(const void *ctx);

/**
 * struct px_service snapshot_max(): the most bytes svc_kv_snapshot writes for this
 * store, 24 + max_keys * (5 + max_key_bytes + max_value_bytes). Fixed at init.
 */
size_t svc_kv_snapshot_max(const void *ctx);

/**
 * struct px_service snapshot(): writes the keys and values held (not the arena: the
 * size is proportional to the contents) into buf, cap >= svc_kv_snapshot_max. Changes
 * nothing. Format: docs/storage.md, "Service snapshots". O(index buckets + bytes held).
 * @return bytes written (>= 24, the header).
 */
size_t svc_kv_snapshot(const void *ctx, uint8_t *buf, size_t cap);

/**
 * struct px_service restore(): replaces the contents by a snapshot's, rebuilding the
 * index in place (no allocation). len == 0 (buf may be NULL): the empty store, as after
 * init. The bytes come from another replica: every length and count is checked, and
 * nothing outside buf is read. With the writer's limits equal to this store's, every
 * later apply() answers as the writer's would (same hash(), FULL at the same command).
 * @return 0, or -EINVAL (the store is then empty): bad magic, short, trailing bytes, a
 *         key twice, more keys than max_keys, a key or value longer than this store's
 *         (or than the writer's header says).
 */
int svc_kv_restore(void *ctx, const uint8_t *buf, size_t len);

/** Keys held now. */
uint32_t svc_kv_count(const struct svc_kv *kv);

/** Reads a key without going through the log (tests, tools). false if absent. */
bool svc_kv_get_direct(const struct svc_kv *kv, const void *key, uint8_t key_len,
		      const uint8_t **value, uint32_t *value_len);

#endif /* SVC_KV_H */
