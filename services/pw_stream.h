/* SPDX-License-Identifier: Apache-2.0
 * pw_stream: an ordered, append-only stream of records (telemetry, a sequencer), one
 * struct px_service. Each APPEND gets the next offset (0, 1, 2, ...: one per record, as
 * in Kafka); readers page through by offset.
 *
 * The stream is a bounded ring in the arena: at most max_records records and
 * data_bytes bytes of payload. When either is exhausted, the oldest records are
 * overwritten; reading an overwritten offset answers TRUNCATED with the oldest offset
 * still held, so a reader learns exactly where it lost data.
 *
 * Commands and replies are binary, little-endian, no padding:
 *
 *   command: u8 op, u8 reserved[3] (0), u32 arg, then
 *     APPEND (1): arg = payload length (0..PW_STREAM_PAYLOAD_MAX), payload[arg].
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
 *
 * A malformed command (short, trailing bytes, unknown op, reserved bytes set, payload
 * above PW_STREAM_PAYLOAD_MAX) is answered with status PX_BAD_COMMAND and the reply
 * {PW_STREAM_R_BAD, 0, 0}; nothing changes.
 */
#ifndef PW_STREAM_H
#define PW_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "px_apply.h"
#include "px_limits.h"

enum pw_stream_op {
	PW_STREAM_APPEND = 1,
	PW_STREAM_READ = 2,
};

enum pw_stream_result {
	PW_STREAM_R_OK = 0,
	PW_STREAM_R_TRUNCATED = 1,
	PW_STREAM_R_BEYOND = 2,
	PW_STREAM_R_BAD = 3,
};

#define PW_STREAM_CMD_HDR_BYTES 8u
#define PW_STREAM_READ_CMD_BYTES 16u
#define PW_STREAM_REPLY_HDR_BYTES 16u
#define PW_STREAM_REC_HDR_BYTES 4u
/** The largest record: one of them always fits a reply (so every record is readable). */
#define PW_STREAM_PAYLOAD_MAX \
	(PX_REPLY_BYTES_MAX - PW_STREAM_REPLY_HDR_BYTES - PW_STREAM_REC_HDR_BYTES)
/** The reply cap apply() needs: one maximal record and the header. */
#define PW_STREAM_REPLY_CAP_MIN PX_REPLY_BYTES_MAX

/** Bounds of a stream's configuration. */
#define PW_STREAM_RECORDS_MAX (1u << 24)
#define PW_STREAM_DATA_BYTES_MAX (1u << 30)

_Static_assert(PW_STREAM_CMD_HDR_BYTES + PW_STREAM_PAYLOAD_MAX <= PX_CMD_BYTES_MAX,
	       "an APPEND of a maximal record fits one command");
_Static_assert(PW_STREAM_REPLY_HDR_BYTES + PW_STREAM_REC_HDR_BYTES + PW_STREAM_PAYLOAD_MAX <=
		       PW_STREAM_REPLY_CAP_MIN,
	       "a READ reply always has room for one record");

struct pw_stream;

/** A decoded command; payload points into the command buffer. */
struct pw_stream_cmd {
	uint8_t op;              /**< enum pw_stream_op */
	uint32_t arg;            /**< APPEND: payload length; READ: max_bytes */
	uint64_t from;           /**< READ: first offset wanted */
	const uint8_t *payload;  /**< APPEND */
};

/** A decoded reply; walk its records with pw_stream_reply_next. */
struct pw_stream_reply {
	uint8_t result;          /**< enum pw_stream_result */
	uint32_t n_records;
	uint64_t offset;
	const uint8_t *records;  /**< n_records x { u32 len, bytes } */
	uint32_t records_len;
};

/** Bytes of arena for this configuration; 0 if out of range (see pw_stream_init). */
size_t pw_stream_arena_bytes(uint32_t max_records, uint32_t data_bytes);

/**
 * Builds an empty stream in arena. NULL + errno: EINVAL (max_records not a power of two
 * in 1..PW_STREAM_RECORDS_MAX, data_bytes outside
 * PW_STREAM_PAYLOAD_MAX..PW_STREAM_DATA_BYTES_MAX, NULL arena), ENOSPC (len too small).
 */
struct pw_stream *pw_stream_init(uint32_t max_records, uint32_t data_bytes, void *arena,
				 size_t len);

/** Fills svc so the applier drives this stream. */
void pw_stream_service(struct pw_stream *s, struct px_service *svc);

/** struct px_service apply(). cap must be >= PW_STREAM_REPLY_CAP_MIN. */
uint32_t pw_stream_apply(void *ctx, const uint8_t *cmd, uint32_t len, uint8_t *reply,
			 uint32_t cap, uint8_t *status);

/**
 * struct px_service is_read(): true for a well-formed READ (it changes nothing, so a
 * leader may serve it by read index, outside the log). Depends on the bytes alone.
 */
bool pw_stream_is_read(void *ctx, const uint8_t *cmd, uint32_t len);

/** struct px_service hash(): the held offsets and records, in order. O(bytes held). */
uint64_t pw_stream_hash(const void *ctx);

/** The oldest offset held (== pw_stream_next_offset when empty). */
uint64_t pw_stream_oldest(const struct pw_stream *s);
/** The offset the next APPEND gets. */
uint64_t pw_stream_next_offset(const struct pw_stream *s);
/** Records overwritten so far. */
uint64_t pw_stream_overwritten(const struct pw_stream *s);

/** Reads one record without going through the log (tests, tools). false if not held. */
bool pw_stream_get_direct(const struct pw_stream *s, uint64_t offset, const uint8_t **data,
			  uint32_t *len);

/** Parses a command. @return 0, or -EINVAL if malformed. */
int pw_stream_decode_cmd(const uint8_t *cmd, uint32_t len, struct pw_stream_cmd *c);

/**
 * Encoders: return the command's length, or 0 if it does not fit cap or the payload
 * exceeds PW_STREAM_PAYLOAD_MAX (nothing is written then).
 */
uint32_t pw_stream_encode_append(uint8_t *buf, uint32_t cap, const void *payload,
				 uint32_t len);
uint32_t pw_stream_encode_read(uint8_t *buf, uint32_t cap, uint64_t from, uint32_t max_bytes);

/**
 * Parses a reply and checks that its records fill it exactly.
 * @return 0, or -EINVAL if malformed.
 */
int pw_stream_decode_reply(const uint8_t *buf, uint32_t len, struct pw_stream_reply *r);

/** Walks a decoded reply's records: *off starts at 0; false after the last one. */
bool pw_stream_reply_next(const struct pw_stream_reply *r, uint32_t *off,
			  const uint8_t **data, uint32_t *len);

#endif /* PW_STREAM_H */
