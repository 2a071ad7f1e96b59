/* SPDX-License-Identifier: Apache-2.0
 * svc_stream: an ordered, append-only stream of records (telemetry, a sequencer), one
 * struct px_service. Each APPEND gets the next offset (0, 1, 2, ...: one per record, as
 * in Kafka); readers page through by offset.
 *
 * The stream is a bounded ring in the arena: at most max_records records and
 * data_bytes bytes of payload. When either is exhausted, the oldest records are
 * overwritten; reading an overwritten offset answers TRUNCATED with the oldest offset
 * still held, so a reader learns exactly where it lost data.
 *
 * Commands and replies, and their codec, are in wire/wire_stream.h (included here):
 * a client needs the codec, not the stream.
 *
 * A malformed command (short, trailing bytes, unknown op, reserved bytes set, payload
 * above WIRE_STREAM_PAYLOAD_MAX) is answered with status PX_BAD_COMMAND and the reply
 * {WIRE_STREAM_R_BAD, 0, 0}; nothing changes.
 */
#ifndef SVC_STREAM_H
#define SVC_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire_stream.h"
#include "px_apply.h"
#include "px_limits.h"

/** The reply cap apply() needs: one maximal record and the header. */
#define SVC_STREAM_REPLY_CAP_MIN PX_REPLY_BYTES_MAX

/** Bounds of a stream's configuration. */
#define SVC_STREAM_RECORDS_MAX (1u << 24)
#define SVC_STREAM_DATA_BYTES_MAX (1u << 30)

_Static_assert(WIRE_STREAM_REPLY_HDR_BYTES + WIRE_STREAM_REC_HDR_BYTES + WIRE_STREAM_PAYLOAD_MAX <=
		       SVC_STREAM_REPLY_CAP_MIN,
	       "a READ reply always has room for one record");

struct svc_stream;

/** Bytes of arena for this configuration; 0 if out of range (see svc_stream_init). */
size_t svc_stream_arena_bytes(uint32_t max_records, uint32_t data_bytes);

/**
 * Builds an empty stream in arena. NULL + errno: EINVAL (max_records not a power of two
 * in 1..SVC_STREAM_RECORDS_MAX, data_bytes outside
 * WIRE_STREAM_PAYLOAD_MAX..SVC_STREAM_DATA_BYTES_MAX, NULL arena), ENOSPC (len too small).
 */
struct svc_stream *svc_stream_init(uint32_t max_records, uint32_t data_bytes, void *arena,
				 size_t len);

/** Fills svc so the applier drives this stream. */
void svc_stream_service(struct svc_stream *s, struct px_service *svc);

/** struct px_service apply(). cap must be >= SVC_STREAM_REPLY_CAP_MIN. */
uint32_t svc_stream_apply(void *ctx, const uint8_t *cmd, uint32_t len, uint8_t *reply,
			 uint32_t cap, uint8_t *status);

/**
 * struct px_service is_read(): true for a well-formed READ (it changes nothing, so a
 * leader may serve it by read index, outside the log). Depends on the bytes alone.
 */
bool svc_stream_is_read(void *ctx, const uint8_t *cmd, uint32_t len);

/** struct px_service hash(): the held offsets and records, in order. O(bytes held). */
uint64_t svc_stream_hash(const void *ctx);

/** The oldest offset held (== svc_stream_next_offset when empty). */
uint64_t svc_stream_oldest(const struct svc_stream *s);
/** The offset the next APPEND gets. */
uint64_t svc_stream_next_offset(const struct svc_stream *s);
/** Records overwritten so far. */
uint64_t svc_stream_overwritten(const struct svc_stream *s);

/** Reads one record without going through the log (tests, tools). false if not held. */
bool svc_stream_get_direct(const struct svc_stream *s, uint64_t offset, const uint8_t **data,
			  uint32_t *len);

#endif /* SVC_STREAM_H */
