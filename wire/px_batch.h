/* SPDX-License-Identifier: Apache-2.0
 * A slot's value is one batch of client commands:
 *   u32 n_cmds, then n_cmds x { u64 client_id, u64 seq, u32 len, u8 body[len] }
 * little-endian, no padding. n_cmds == 0 is a no-op (used to fill holes).
 * client_id is a session id, or, in a registration (seq 0, len 0), the client's nonce
 * (px_apply.h).
 */
#ifndef PX_BATCH_H
#define PX_BATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "px_limits.h"

/** One client command, by reference. */
struct px_cmd_ref {
	uint64_t client_id;  /**< session id; a registration's nonce when seq == 0 */
	uint64_t seq;      /**< per-session sequence, >= 1, one outstanding per session;
	                        0: a registration (px_apply.h) */
	uint32_t len;
	const uint8_t *body;
};

/** Bytes a batch of these commands takes. */
static inline uint32_t px_batch_cmd_bytes(uint32_t body_len)
{
	return PX_CMD_HDR_BYTES + body_len;
}

/** Writes the empty batch (no-op). Returns its length. */
uint32_t px_batch_noop(uint8_t *buf);

/** Starts a batch in buf (cap bytes). Returns the header length, or 0 if cap is too small. */
uint32_t px_batch_begin(uint8_t *buf, uint32_t cap);

/** Appends one command; returns the new length or 0 if it does not fit (nothing written). */
uint32_t px_batch_add(uint8_t *buf, uint32_t len, uint32_t cap, const struct px_cmd_ref *c);

/**
 * Writes a whole batch into buf (cap bytes): as many of cmds[0..n) as fit, at most
 * max_cmds, in order. The leader's hot path: one call per slot.
 * @return commands taken (0 if even the first does not fit); *len is the batch length.
 */
uint32_t px_batch_fill(uint8_t *buf, uint32_t cap, const struct px_cmd_ref *cmds, uint32_t n,
		       uint32_t max_cmds, uint32_t *len);

/** Checks a batch's structure: counts and lengths agree with len, bounds respected.
 *  Returns true if every command can be iterated safely. */
bool px_batch_valid(const uint8_t *buf, uint32_t len);

/** Number of commands in a valid batch. */
uint32_t px_batch_count(const uint8_t *buf);

/** Iteration over a valid batch: *off starts at 0; returns false at the end. */
bool px_batch_next(const uint8_t *buf, uint32_t len, uint32_t *off, struct px_cmd_ref *c);

#endif /* PX_BATCH_H */
