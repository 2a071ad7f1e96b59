/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer harness for the kv service's command and reply codecs (wire/wire_kv.h):
 * commands come from clients and replies from the network, so neither decoder may trust
 * a byte. Seed corpus: tests/fuzz/corpus/fuzz_kv/.
 *
 * The first input byte picks the decoder (even: command, odd: reply); the rest is the
 * buffer, copied to a heap block of exactly its size so that ASan sees a read past it.
 * Properties checked for every input:
 *   - neither decoder reads out of bounds or trips UBSan;
 *   - an accepted command is canonical: its encoder (wire_kv_encode_put/get/del/cas),
 *     given the decoded fields and a buffer of exactly the input's size, writes the
 *     input back byte for byte, and given one byte less writes nothing;
 *   - the decoded key, value and expect lie inside the input, one after the other;
 *   - an accepted reply is canonical: its header (wire_kv_encode_reply_hdr) and value
 *     give back the input, and its result is a known one.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire_kv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

/** Encodes c into out (cap bytes) with the encoder of its op. */
static uint32_t encode_cmd(const struct wire_kv_cmd *c, uint8_t *out, uint32_t cap)
{
	switch (c->op) {
	case WIRE_KV_PUT:
		return wire_kv_encode_put(out, cap, c->key, c->key_len, c->value, c->value_len);
	case WIRE_KV_GET:
		return wire_kv_encode_get(out, cap, c->key, c->key_len);
	case WIRE_KV_DEL:
		return wire_kv_encode_del(out, cap, c->key, c->key_len);
	case WIRE_KV_CAS:
		return wire_kv_encode_cas(out, cap, c->key, c->key_len, c->value, c->value_len,
					  c->expect, c->expect_len);
	default:
		abort();   /* the decoder accepted an op no encoder writes */
	}
}

static void fuzz_cmd(const uint8_t *buf, uint32_t len)
{
	static uint8_t out[PX_MSG_BYTES_MAX * 2];
	struct wire_kv_cmd c;

	if (wire_kv_decode_cmd(buf, len, &c) != 0)
		return;
	check(c.op >= WIRE_KV_PUT && c.op <= WIRE_KV_CAS);
	check(c.key == buf + WIRE_KV_CMD_HDR_BYTES);
	check(c.value == c.key + c.key_len);
	if (c.expect == NULL) {
		check(c.op == WIRE_KV_CAS && c.expect_len == WIRE_KV_EXPECT_ABSENT);
		check((uint64_t)WIRE_KV_CMD_HDR_BYTES + c.key_len + c.value_len == len);
	} else {
		check(c.expect == c.value + c.value_len);
		check((uint64_t)WIRE_KV_CMD_HDR_BYTES + c.key_len + c.value_len + c.expect_len ==
		      len);
	}
	if (c.op != WIRE_KV_PUT && c.op != WIRE_KV_CAS)
		check(c.value_len == 0);
	if (c.op != WIRE_KV_CAS)
		check(c.expect_len == 0);

	/* Inputs are capped by libFuzzer's -max_len (scripts/fuzz), far below out. */
	if (len > sizeof(out))
		return;
	check(encode_cmd(&c, out, len - 1) == 0);
	check(encode_cmd(&c, out, len) == len);
	check(memcmp(out, buf, len) == 0);
}

static void fuzz_reply(const uint8_t *buf, uint32_t len)
{
	struct wire_kv_reply r;
	uint8_t hdr[WIRE_KV_REPLY_HDR_BYTES];

	if (wire_kv_decode_reply(buf, len, &r) != 0)
		return;
	check(r.result <= WIRE_KV_R_BAD);
	check(r.value == buf + WIRE_KV_REPLY_HDR_BYTES);
	check((uint64_t)WIRE_KV_REPLY_HDR_BYTES + r.value_len == len);
	check(wire_kv_encode_reply_hdr(hdr, r.result, r.value_len) == sizeof(hdr));
	check(memcmp(hdr, buf, sizeof(hdr)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf;
	uint32_t len;

	if (size < 1 || size - 1 > UINT32_MAX)
		return 0;
	len = (uint32_t)(size - 1);
	/* A block of exactly len bytes (one byte for len 0: malloc(0) may return NULL,
	 * which the decoders refuse before they read): ASan catches a read past it. */
	buf = malloc(len != 0 ? len : 1);
	check(buf != NULL);
	if (len != 0)
		memcpy(buf, data + 1, len);
	if (data[0] & 1)
		fuzz_reply(buf, len);
	else
		fuzz_cmd(buf, len);
	free(buf);
	return 0;
}
