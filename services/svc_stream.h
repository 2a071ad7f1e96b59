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

/** Fills svc so the applier drives this stream (every function, snapshots included). */
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

/**
 * struct px_service snapshot_max(): the most bytes svc_stream_snapshot writes for this
 * stream, 36 + 4 * max_records + data_bytes. Fixed at init.
 */
size_t svc_stream_snapshot_max(const void *ctx);

/**
 * struct px_service snapshot(): writes the live records and offsets (not the arena:
 * the size is proportional to what is held) into buf, cap >= svc_stream_snapshot_max.
 * Changes nothing. Format: docs/storage.md, "Service snapshots". O(records + bytes held).
 * @return bytes written (>= 36, the header).
 */
size_t svc_stream_snapshot(const void *ctx, uint8_t *buf, size_t cap);

/**
 * struct px_service restore(): replaces the stream by a snapshot's, in place (no
 * allocation). len == 0 (buf may be NULL): the empty stream, as after init. The bytes
 * come from another replica: every length and count is checked, and nothing outside
 * buf is read. With the writer's data_bytes equal to this stream's, the records keep
 * their places in the ring, so every later apply() answers as the writer's would: same
 * offsets, same TRUNCATED, same records overwritten when the ring wraps, same hash().
 * @return 0, or -EINVAL (the stream is then empty): bad magic, short, trailing bytes,
 *         next < oldest, more records than max_records, a record over
 *         WIRE_STREAM_PAYLOAD_MAX, or records that do not fit this stream's data_bytes.
 */
int svc_stream_restore(void *ctx, const uint8_t *buf, size_t len);

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
