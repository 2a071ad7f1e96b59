/* SPDX-License-Identifier: Apache-2.0
 * counter: named signed 64-bit counters, replicated by paxwire. The encoding of its
 * commands and replies, shared by the service (counter.c) and its clients (pwcount.c);
 * README.md has the whole story.
 *
 * All little-endian, no padding:
 *
 *   command: u8 op | u8 name_len | u16 reserved (0) | i64 arg | name[name_len]
 *     ADD (1): adds arg to the counter `name`, which starts at 0 the first time.
 *     GET (2): arg 0; reads the counter.
 *     A command is exactly 12 + name_len bytes, name_len >= 1; names are bytes.
 *
 *   reply:   u8 result | i64 value                                     (9 bytes)
 *     OK (0):        ADD: value = the new value. GET: value = the value.
 *     NOT_FOUND (1): GET of a counter never added to; value 0.
 *     FULL (2):      ADD that would create a counter beyond `counters`; nothing
 *                    changed, value 0.
 *     OVERFLOW (3):  ADD whose sum leaves the int64 range; nothing changed, value =
 *                    the counter's value.
 *     BAD (4):       malformed (short, trailing bytes, unknown op, reserved bits set,
 *                    GET with arg != 0, name empty or longer than `name_bytes`);
 *                    status PX_BAD_COMMAND, value 0, nothing changed.
 */
#ifndef COUNTER_H
#define COUNTER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum ctr_op { CTR_ADD = 1, CTR_GET = 2 };

enum ctr_result {
	CTR_R_OK = 0,
	CTR_R_NOT_FOUND = 1,
	CTR_R_FULL = 2,
	CTR_R_OVERFLOW = 3,
	CTR_R_BAD = 4,
};

#define CTR_CMD_HDR_BYTES 12u
#define CTR_REPLY_BYTES 9u
/** The longest name the service can be configured for (name_bytes). */
#define CTR_NAME_BYTES_MAX 128u
/** The most counters it can be configured for (counters). */
#define CTR_COUNTERS_MAX (1u << 20)

static inline void ctr_st64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t ctr_ld64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/**
 * Writes one command to buf.
 * @return its length, or 0 (nothing written) if name_len is 0 or above
 *         CTR_NAME_BYTES_MAX, or the command does not fit cap.
 */
static inline uint32_t ctr_encode(uint8_t *buf, uint32_t cap, enum ctr_op op, const void *name,
				  uint32_t name_len, int64_t arg)
{
	if (name_len == 0 || name_len > CTR_NAME_BYTES_MAX || cap < CTR_CMD_HDR_BYTES + name_len)
		return 0;
	buf[0] = (uint8_t)op;
	buf[1] = (uint8_t)name_len;
	buf[2] = 0;
	buf[3] = 0;
	ctr_st64(buf + 4, (uint64_t)arg);
	memcpy(buf + CTR_CMD_HDR_BYTES, name, name_len);
	return CTR_CMD_HDR_BYTES + name_len;
}

/**
 * Parses a reply.
 * @return 0, or -1 if it is not 9 bytes or names an unknown result.
 */
static inline int ctr_decode_reply(const uint8_t *buf, size_t len, uint8_t *result,
				   int64_t *value)
{
	if (len != CTR_REPLY_BYTES || buf[0] > CTR_R_BAD)
		return -1;
	*result = buf[0];
	*value = (int64_t)ctr_ld64(buf + 1);
	return 0;
}

#endif /* COUNTER_H */
