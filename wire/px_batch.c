/* SPDX-License-Identifier: Apache-2.0
 * Batch encoding of a slot's value (layout in px_batch.h and docs/protocol.md).
 *
 * px_batch_add and px_batch_next run once per client command on every replica, so they
 * do a fixed amount of work per command: one bounds check, three header loads or stores
 * and one memcpy of the body. px_batch_valid is the only function that trusts nothing;
 * the others assume a batch that it accepted (or that px_batch_add built).
 */
#include <assert.h>
#include <string.h>

#include "px_batch.h"
#include "wire_le.h"

/* Commands are mostly small (tens of bytes): copy those inline with overlapping
 * word moves instead of a library call, never touching a byte outside [0, len). */
static inline void copy_body(uint8_t *dst, const uint8_t *src, uint32_t len)
{
	uint64_t a, b;

	if (len >= 8 && len <= 16) {
		memcpy(&a, src, 8);
		memcpy(&b, src + len - 8, 8);
		memcpy(dst, &a, 8);
		memcpy(dst + len - 8, &b, 8);
	} else if (len != 0) {
		memcpy(dst, src, len);
	}
}

/* Offsets inside one command header. */
#define CMD_OFF_CLIENT 0u
#define CMD_OFF_SEQ 8u
#define CMD_OFF_LEN 16u

_Static_assert(CMD_OFF_LEN + 4u == PX_CMD_HDR_BYTES, "command header layout");
_Static_assert(PX_BATCH_HDR_BYTES == 4u, "batch header is one u32");
_Static_assert((uint64_t)PX_BATCH_CMDS_MAX * (PX_CMD_HDR_BYTES + PX_CMD_BYTES_MAX) +
		       PX_BATCH_HDR_BYTES < UINT32_MAX,
	       "a maximal batch's length fits the u32 arithmetic of px_batch_valid");

uint32_t px_batch_noop(uint8_t *buf)
{
	assert(buf != NULL);
	wire_st32(buf, 0);
	return PX_BATCH_HDR_BYTES;
}

uint32_t px_batch_begin(uint8_t *buf, uint32_t cap)
{
	assert(buf != NULL);
	if (cap < PX_BATCH_HDR_BYTES)
		return 0;
	wire_st32(buf, 0);
	return PX_BATCH_HDR_BYTES;
}

uint32_t px_batch_add(uint8_t *buf, uint32_t len, uint32_t cap, const struct px_cmd_ref *c)
{
	uint32_t n;
	uint8_t *p;

	assert(buf != NULL);
	assert(c != NULL);
	assert(len >= PX_BATCH_HDR_BYTES);
	assert(len <= cap);
	/* An oversized command is the caller's bug: REQUEST decoding already rejects one. */
	assert(c->len <= PX_CMD_BYTES_MAX);
	assert(c->len == 0 || c->body != NULL);

	n = wire_ld32(buf);
	if (n >= PX_BATCH_CMDS_MAX)
		return 0;
	/* Subtraction, not len + need > cap: cannot wrap since len <= cap. */
	if (cap - len < PX_CMD_HDR_BYTES || cap - len - PX_CMD_HDR_BYTES < c->len)
		return 0;

	p = buf + len;
	wire_st64(p + CMD_OFF_CLIENT, c->client_id);
	wire_st64(p + CMD_OFF_SEQ, c->seq);
	wire_st32(p + CMD_OFF_LEN, c->len);
	copy_body(p + PX_CMD_HDR_BYTES, c->body, c->len);
	wire_st32(buf, n + 1);
	return len + PX_CMD_HDR_BYTES + c->len;
}

bool px_batch_valid(const uint8_t *buf, uint32_t len)
{
	uint32_t n, i, off, left, clen;

	if (buf == NULL || len < PX_BATCH_HDR_BYTES)
		return false;
	n = wire_ld32(buf);
	if (n > PX_BATCH_CMDS_MAX)
		return false;
	off = PX_BATCH_HDR_BYTES;
	/* Bounded by n <= PX_BATCH_CMDS_MAX; every comparison is against what is left,
	 * so no sum can overflow whatever the length fields say. */
	for (i = 0; i < n; i++) {
		left = len - off;
		if (left < PX_CMD_HDR_BYTES)
			return false;
		clen = wire_ld32(buf + off + CMD_OFF_LEN);
		if (clen > PX_CMD_BYTES_MAX || clen > left - PX_CMD_HDR_BYTES)
			return false;
		off += PX_CMD_HDR_BYTES + clen;
	}
	/* Exact: trailing bytes would make two encodings of one batch. */
	return off == len;
}

uint32_t px_batch_count(const uint8_t *buf)
{
	assert(buf != NULL);
	return wire_ld32(buf);
}

bool px_batch_next(const uint8_t *buf, uint32_t len, uint32_t *off, struct px_cmd_ref *c)
{
	const uint8_t *p;
	uint32_t o;

	assert(buf != NULL);
	assert(off != NULL);
	assert(c != NULL);
	assert(len >= PX_BATCH_HDR_BYTES);

	o = *off == 0 ? PX_BATCH_HDR_BYTES : *off;
	if (o >= len) {
		*off = len;
		return false;
	}
	/* The batch was validated: these hold unless the caller broke the contract. */
	assert(len - o >= PX_CMD_HDR_BYTES);
	p = buf + o;
	c->client_id = wire_ld64(p + CMD_OFF_CLIENT);
	c->seq = wire_ld64(p + CMD_OFF_SEQ);
	c->len = wire_ld32(p + CMD_OFF_LEN);
	c->body = p + PX_CMD_HDR_BYTES;
	assert(c->len <= len - o - PX_CMD_HDR_BYTES);
	*off = o + PX_CMD_HDR_BYTES + c->len;
	return true;
}

uint32_t px_batch_fill(uint8_t *buf, uint32_t cap, const struct px_cmd_ref *cmds, uint32_t n,
		       uint32_t max_cmds, uint32_t *len)
{
	uint32_t used = PX_BATCH_HDR_BYTES, k;

	assert(buf != NULL);
	assert(cap >= PX_BATCH_HDR_BYTES);
	if (max_cmds > PX_BATCH_CMDS_MAX)
		max_cmds = PX_BATCH_CMDS_MAX;
	if (n > max_cmds)
		n = max_cmds;
	for (k = 0; k < n; k++) {
		const struct px_cmd_ref *c = &cmds[k];
		uint8_t *p = buf + used;

		assert(c->len <= PX_CMD_BYTES_MAX);
		if (cap - used < PX_CMD_HDR_BYTES + c->len)
			break;
		wire_st64(p + CMD_OFF_CLIENT, c->client_id);
		wire_st64(p + CMD_OFF_SEQ, c->seq);
		wire_st32(p + CMD_OFF_LEN, c->len);
		copy_body(p + PX_CMD_HDR_BYTES, c->body, c->len);
		used += PX_CMD_HDR_BYTES + c->len;
	}
	wire_st32(buf, k);
	*len = used;
	return k;
}
