/* SPDX-License-Identifier: Apache-2.0
 * The stream service's commands and replies (services/svc_stream.h runs them), shared by
 * the stream and its clients. Each APPEND gets the next offset (0, 1, 2, ...: one per
 * record); readers page through by offset. Binary, little-endian, no padding:
 *
 *   command: u8 op, u8 reserved[3] (0), u32 arg, then
 *     APPEND (1): arg = payload length (0..WIRE_STREAM_PAYLOAD_MAX), payload[arg].
 *     READ   (2): arg = max_bytes, u64 from_offset. Exactly 16 bytes.
 *
 *   reply:   u8 result, u8 reserved[3] (0), u32 n_records, u64 offset,
 *            then n_records x { u32 len, bytes[len] }
 *     APPEND: OK, n_records 0, offset = the offset assigned to the record.
 *     READ:   OK: the records from from_offset on, as many as fit max_bytes (counting
 *               4 + len per record) and the reply cap, but always at least one if any
 *               is there, so a reader makes progress whatever max_bytes it sends;
 *               offset = the offset to read next (from_offset + n_records). n_records
 *               0 with offset == from_offset: the reader is caught up.
 *             TRUNCATED: from_offset was overwritten; n_records 0, offset = the oldest
 *               offset held.
 *             BEYOND: from_offset is past the end; n_records 0, offset = the next
 *               offset to be assigned.
 *     A malformed command: BAD, n_records 0, offset 0 (services/svc_stream.h).
 *
 * Commands come from clients and replies from the network: the decoders check every
 * length and assert nothing on their input.
 */
#ifndef WIRE_STREAM_H
#define WIRE_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "px_limits.h"
#include "wire_le.h"

enum wire_stream_op {
	WIRE_STREAM_APPEND = 1,
	WIRE_STREAM_READ = 2,
};

enum wire_stream_result {
	WIRE_STREAM_R_OK = 0,
	WIRE_STREAM_R_TRUNCATED = 1,
	WIRE_STREAM_R_BEYOND = 2,
	WIRE_STREAM_R_BAD = 3,
};

#define WIRE_STREAM_CMD_HDR_BYTES 8u
#define WIRE_STREAM_READ_CMD_BYTES 16u
#define WIRE_STREAM_REPLY_HDR_BYTES 16u
#define WIRE_STREAM_REC_HDR_BYTES 4u
/** The largest record: one of them always fits a reply (so every record is readable). */
#define WIRE_STREAM_PAYLOAD_MAX \
	(PX_REPLY_BYTES_MAX - WIRE_STREAM_REPLY_HDR_BYTES - WIRE_STREAM_REC_HDR_BYTES)

_Static_assert(WIRE_STREAM_CMD_HDR_BYTES + WIRE_STREAM_PAYLOAD_MAX <= PX_CMD_BYTES_MAX,
	       "an APPEND of a maximal record fits one command");

/** A decoded command; payload points into the command buffer. */
struct wire_stream_cmd {
	uint8_t op;              /**< enum wire_stream_op */
	uint32_t arg;            /**< APPEND: payload length; READ: max_bytes */
	uint64_t from;           /**< READ: first offset wanted */
	const uint8_t *payload;  /**< APPEND */
};

/** A decoded reply; walk its records with wire_stream_reply_next. */
struct wire_stream_reply {
	uint8_t result;          /**< enum wire_stream_result */
	uint32_t n_records;
	uint64_t offset;
	const uint8_t *records;  /**< n_records x { u32 len, bytes } */
	uint32_t records_len;
};

/** Parses a command. @return 0, or -EINVAL if malformed. */
int wire_stream_decode_cmd(const uint8_t *cmd, uint32_t len, struct wire_stream_cmd *c);

/**
 * Encoders: return the command's length, or 0 if it does not fit cap or the payload
 * exceeds WIRE_STREAM_PAYLOAD_MAX (nothing is written then).
 */
uint32_t wire_stream_encode_append(uint8_t *buf, uint32_t cap, const void *payload,
				 uint32_t len);
uint32_t wire_stream_encode_read(uint8_t *buf, uint32_t cap, uint64_t from, uint32_t max_bytes);

/**
 * Writes a reply's header; a READ's n_records records ({ u32 len, bytes }) follow it,
 * written by the caller. Inline: the stream answers every command with it.
 * @param buf at least WIRE_STREAM_REPLY_HDR_BYTES bytes.
 * @return WIRE_STREAM_REPLY_HDR_BYTES.
 */
static inline uint32_t wire_stream_encode_reply_hdr(uint8_t *buf, uint8_t result,
						  uint32_t n_records, uint64_t offset)
{
	buf[0] = result;
	buf[1] = 0;
	buf[2] = 0;
	buf[3] = 0;
	wire_st32(buf + 4, n_records);
	wire_st64(buf + 8, offset);
	return WIRE_STREAM_REPLY_HDR_BYTES;
}

/**
 * Parses a reply and checks that its records fill it exactly.
 * @return 0, or -EINVAL if malformed.
 */
int wire_stream_decode_reply(const uint8_t *buf, uint32_t len, struct wire_stream_reply *r);

/** Walks a decoded reply's records: *off starts at 0; false after the last one. */
bool wire_stream_reply_next(const struct wire_stream_reply *r, uint32_t *off,
			  const uint8_t **data, uint32_t *len);

#endif /* WIRE_STREAM_H */
