/* SPDX-License-Identifier: Apache-2.0
 * The kv service's command and reply codec (layout in wire_kv.h). The store
 * (services/svc_kv.c) parses with wire_kv_decode_cmd; clients encode with the encoders and
 * parse replies with wire_kv_decode_reply.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "wire_kv.h"

int wire_kv_decode_cmd(const uint8_t *cmd, uint32_t len, struct wire_kv_cmd *c)
{
	uint64_t expect_bytes, total;

	assert(c != NULL);
	if (cmd == NULL || len < WIRE_KV_CMD_HDR_BYTES)
		return -EINVAL;
	c->op = cmd[0];
	c->key_len = cmd[1];
	c->value_len = wire_ld32(cmd + 4);
	c->expect_len = wire_ld32(cmd + 8);
	if (wire_ld16(cmd + 2) != 0)
		return -EINVAL;
	switch (c->op) {
	case WIRE_KV_PUT:
		if (c->expect_len != 0)
			return -EINVAL;
		break;
	case WIRE_KV_GET:
	case WIRE_KV_DEL:
		if (c->value_len != 0 || c->expect_len != 0)
			return -EINVAL;
		break;
	case WIRE_KV_CAS:
		break;
	default:
		return -EINVAL;
	}
	expect_bytes = c->op == WIRE_KV_CAS && c->expect_len == WIRE_KV_EXPECT_ABSENT ?
			       0 : c->expect_len;
	/* u64: three u32 lengths cannot overflow it, whatever the client sent. */
	total = (uint64_t)WIRE_KV_CMD_HDR_BYTES + c->key_len + c->value_len + expect_bytes;
	if (total != len)
		return -EINVAL;
	c->key = cmd + WIRE_KV_CMD_HDR_BYTES;
	c->value = c->key + c->key_len;
	c->expect = c->expect_len == WIRE_KV_EXPECT_ABSENT ? NULL : c->value + c->value_len;
	return 0;
}

static uint32_t encode_cmd(uint8_t *buf, uint32_t cap, uint8_t op, const void *key,
			   uint8_t klen, const void *val, uint32_t vlen, const void *expect,
			   uint32_t elen)
{
	uint32_t expect_bytes = expect == NULL ? 0 : elen;
	uint64_t total = (uint64_t)WIRE_KV_CMD_HDR_BYTES + klen + vlen + expect_bytes;
	uint8_t *p;

	assert(buf != NULL || cap == 0);
	assert(key != NULL || klen == 0);
	assert(val != NULL || vlen == 0);
	if (total > cap)
		return 0;
	buf[0] = op;
	buf[1] = klen;
	wire_st16(buf + 2, 0);
	wire_st32(buf + 4, vlen);
	wire_st32(buf + 8, op == WIRE_KV_CAS && expect == NULL ? WIRE_KV_EXPECT_ABSENT : expect_bytes);
	p = buf + WIRE_KV_CMD_HDR_BYTES;
	if (klen != 0)
		memcpy(p, key, klen);
	p += klen;
	if (vlen != 0)
		memcpy(p, val, vlen);
	p += vlen;
	if (expect_bytes != 0)
		memcpy(p, expect, expect_bytes);
	return (uint32_t)total;
}

uint32_t wire_kv_encode_put(uint8_t *buf, uint32_t cap, const void *key, uint8_t klen,
			  const void *val, uint32_t vlen)
{
	return encode_cmd(buf, cap, WIRE_KV_PUT, key, klen, val, vlen, NULL, 0);
}

uint32_t wire_kv_encode_get(uint8_t *buf, uint32_t cap, const void *key, uint8_t klen)
{
	return encode_cmd(buf, cap, WIRE_KV_GET, key, klen, NULL, 0, NULL, 0);
}

uint32_t wire_kv_encode_del(uint8_t *buf, uint32_t cap, const void *key, uint8_t klen)
{
	return encode_cmd(buf, cap, WIRE_KV_DEL, key, klen, NULL, 0, NULL, 0);
}

uint32_t wire_kv_encode_cas(uint8_t *buf, uint32_t cap, const void *key, uint8_t klen,
			  const void *val, uint32_t vlen, const void *expect, uint32_t elen)
{
	/* An expect of length 0 is the empty value, which differs from "absent": it needs
	 * a non-NULL pointer, so WIRE_KV_EXPECT_ABSENT can never be sent as a real length. */
	if (expect != NULL && elen == WIRE_KV_EXPECT_ABSENT)
		return 0;
	return encode_cmd(buf, cap, WIRE_KV_CAS, key, klen, val, vlen, expect, elen);
}

int wire_kv_decode_reply(const uint8_t *buf, uint32_t len, struct wire_kv_reply *r)
{
	assert(r != NULL);
	if (buf == NULL || len < WIRE_KV_REPLY_HDR_BYTES)
		return -EINVAL;
	r->result = buf[0];
	r->value_len = wire_ld32(buf + 1);
	if (r->result > WIRE_KV_R_BAD)
		return -EINVAL;
	if ((uint64_t)WIRE_KV_REPLY_HDR_BYTES + r->value_len != len)
		return -EINVAL;
	r->value = buf + WIRE_KV_REPLY_HDR_BYTES;
	return 0;
}
