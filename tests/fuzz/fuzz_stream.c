/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer harness for the stream service's command and reply codecs
 * (wire/wire_stream.h): commands come from clients and replies from the network.
 * Seed corpus: tests/fuzz/corpus/fuzz_stream/.
 *
 * The first input byte picks the decoder (even: command, odd: reply); the rest is the
 * buffer, copied to a heap block of exactly its size so that ASan sees a read past it.
 * Properties checked for every input:
 *   - neither decoder, nor wire_stream_reply_next over an accepted reply, reads out of
 *     bounds, trips UBSan or fires an assertion;
 *   - an accepted command is canonical: wire_stream_encode_append or _read, given the
 *     decoded fields and a buffer of exactly the input's size, writes the input back,
 *     and given one byte less writes nothing;
 *   - an accepted reply is canonical: its header (wire_stream_encode_reply_hdr) gives
 *     back the input's first 16 bytes, and walking it yields exactly n_records records
 *     that tile the rest of the input, in order, with nothing left over.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire_stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static void fuzz_cmd(const uint8_t *buf, uint32_t len)
{
	static uint8_t out[PX_MSG_BYTES_MAX * 2];
	struct wire_stream_cmd c;
	uint32_t n;

	if (wire_stream_decode_cmd(buf, len, &c) != 0)
		return;
	if (len > sizeof(out))
		return;   /* capped by -max_len (scripts/fuzz) */
	switch (c.op) {
	case WIRE_STREAM_APPEND:
		check(c.arg <= WIRE_STREAM_PAYLOAD_MAX);
		check(c.payload == buf + WIRE_STREAM_CMD_HDR_BYTES);
		check(WIRE_STREAM_CMD_HDR_BYTES + c.arg == len);
		check(wire_stream_encode_append(out, len - 1, c.payload, c.arg) == 0);
		n = wire_stream_encode_append(out, len, c.payload, c.arg);
		check(n == len);
		break;
	case WIRE_STREAM_READ:
		check(len == WIRE_STREAM_READ_CMD_BYTES);
		check(c.payload == NULL);
		check(wire_stream_encode_read(out, len - 1, c.from, c.arg) == 0);
		n = wire_stream_encode_read(out, len, c.from, c.arg);
		check(n == len);
		break;
	default:
		abort();   /* the decoder accepted an op no encoder writes */
	}
	check(memcmp(out, buf, len) == 0);
}

static void fuzz_reply(const uint8_t *buf, uint32_t len)
{
	struct wire_stream_reply r;
	uint8_t hdr[WIRE_STREAM_REPLY_HDR_BYTES];
	const uint8_t *rec;
	uint32_t off = 0, rlen, n = 0, at = 0;

	if (wire_stream_decode_reply(buf, len, &r) != 0)
		return;
	check(r.result <= WIRE_STREAM_R_BAD);
	check(r.records == buf + WIRE_STREAM_REPLY_HDR_BYTES);
	check(WIRE_STREAM_REPLY_HDR_BYTES + r.records_len == len);
	check(wire_stream_encode_reply_hdr(hdr, r.result, r.n_records, r.offset) == sizeof(hdr));
	check(memcmp(hdr, buf, sizeof(hdr)) == 0);
	while (wire_stream_reply_next(&r, &off, &rec, &rlen)) {
		/* Each record starts where the last one ended, after its 4-byte length. */
		check(rec == r.records + at + WIRE_STREAM_REC_HDR_BYTES);
		check(wire_ld32(r.records + at) == rlen);
		at += WIRE_STREAM_REC_HDR_BYTES + rlen;
		check(off == at);
		check(++n <= r.n_records);
	}
	check(n == r.n_records);
	check(off == r.records_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf;
	uint32_t len;

	if (size < 1 || size - 1 > UINT32_MAX)
		return 0;
	len = (uint32_t)(size - 1);
	buf = malloc(len != 0 ? len : 1);   /* exactly len bytes: ASan sees past them */
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
