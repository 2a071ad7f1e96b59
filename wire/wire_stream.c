/* SPDX-License-Identifier: Apache-2.0
 * The stream service's command and reply codec (layout in wire_stream.h). The
 * stream (services/svc_stream.c) parses with wire_stream_decode_cmd; clients encode with
 * the encoders and parse replies with wire_stream_decode_reply and wire_stream_reply_next.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "wire_stream.h"

int wire_stream_decode_cmd(const uint8_t *cmd, uint32_t len, struct wire_stream_cmd *c)
{
	assert(c != NULL);
	if (cmd == NULL || len < WIRE_STREAM_CMD_HDR_BYTES)
		return -EINVAL;
	if (cmd[1] != 0 || cmd[2] != 0 || cmd[3] != 0)
		return -EINVAL;
	c->op = cmd[0];
	c->arg = wire_ld32(cmd + 4);
	c->from = 0;
	c->payload = NULL;
	switch (c->op) {
	case WIRE_STREAM_APPEND:
		if (c->arg > WIRE_STREAM_PAYLOAD_MAX || len - WIRE_STREAM_CMD_HDR_BYTES != c->arg)
			return -EINVAL;
		c->payload = cmd + WIRE_STREAM_CMD_HDR_BYTES;
		return 0;
	case WIRE_STREAM_READ:
		if (len != WIRE_STREAM_READ_CMD_BYTES)
			return -EINVAL;
		c->from = wire_ld64(cmd + WIRE_STREAM_CMD_HDR_BYTES);
		return 0;
	default:
		return -EINVAL;
	}
}

uint32_t wire_stream_encode_append(uint8_t *buf, uint32_t cap, const void *payload,
				 uint32_t len)
{
	assert(buf != NULL || cap == 0);
	assert(payload != NULL || len == 0);
	if (len > WIRE_STREAM_PAYLOAD_MAX || cap < WIRE_STREAM_CMD_HDR_BYTES ||
	    cap - WIRE_STREAM_CMD_HDR_BYTES < len)
		return 0;
	buf[0] = WIRE_STREAM_APPEND;
	buf[1] = 0;
	buf[2] = 0;
	buf[3] = 0;
	wire_st32(buf + 4, len);
	if (len != 0)
		memcpy(buf + WIRE_STREAM_CMD_HDR_BYTES, payload, len);
	return WIRE_STREAM_CMD_HDR_BYTES + len;
}

uint32_t wire_stream_encode_read(uint8_t *buf, uint32_t cap, uint64_t from, uint32_t max_bytes)
{
	assert(buf != NULL || cap == 0);
	if (cap < WIRE_STREAM_READ_CMD_BYTES)
		return 0;
	buf[0] = WIRE_STREAM_READ;
	buf[1] = 0;
	buf[2] = 0;
	buf[3] = 0;
	wire_st32(buf + 4, max_bytes);
	wire_st64(buf + WIRE_STREAM_CMD_HDR_BYTES, from);
	return WIRE_STREAM_READ_CMD_BYTES;
}

int wire_stream_decode_reply(const uint8_t *buf, uint32_t len, struct wire_stream_reply *r)
{
	uint32_t i, off, rlen;

	assert(r != NULL);
	if (buf == NULL || len < WIRE_STREAM_REPLY_HDR_BYTES)
		return -EINVAL;
	if (buf[0] > WIRE_STREAM_R_BAD || buf[1] != 0 || buf[2] != 0 || buf[3] != 0)
		return -EINVAL;
	r->result = buf[0];
	r->n_records = wire_ld32(buf + 4);
	r->offset = wire_ld64(buf + 8);
	r->records = buf + WIRE_STREAM_REPLY_HDR_BYTES;
	r->records_len = len - WIRE_STREAM_REPLY_HDR_BYTES;
	if (r->n_records > r->records_len / WIRE_STREAM_REC_HDR_BYTES)
		return -EINVAL;
	/* Bounded by the check above; every comparison is against what is left. */
	off = 0;
	for (i = 0; i < r->n_records; i++) {
		if (r->records_len - off < WIRE_STREAM_REC_HDR_BYTES)
			return -EINVAL;
		rlen = wire_ld32(r->records + off);
		off += WIRE_STREAM_REC_HDR_BYTES;
		if (rlen > r->records_len - off)
			return -EINVAL;
		off += rlen;
	}
	return off == r->records_len ? 0 : -EINVAL;
}

bool wire_stream_reply_next(const struct wire_stream_reply *r, uint32_t *off,
			  const uint8_t **data, uint32_t *len)
{
	uint32_t rlen;

	assert(r != NULL);
	assert(off != NULL);
	if (*off >= r->records_len)
		return false;
	/* The reply was checked by wire_stream_decode_reply. */
	assert(r->records_len - *off >= WIRE_STREAM_REC_HDR_BYTES);
	rlen = wire_ld32(r->records + *off);
	assert(rlen <= r->records_len - *off - WIRE_STREAM_REC_HDR_BYTES);
	if (data != NULL)
		*data = r->records + *off + WIRE_STREAM_REC_HDR_BYTES;
	if (len != NULL)
		*len = rlen;
	*off += WIRE_STREAM_REC_HDR_BYTES + rlen;
	return true;
}
