/* SPDX-License-Identifier: Apache-2.0
 * svc_stream: an ordered append-only stream (commands and replies:
 * wire/wire_stream.h).
 *
 * Memory, all in the arena:
 *   - recs[max_records]: ring of {virtual position, length}, record o at o & mask;
 *   - data[data_bytes]: the payload bytes.
 * Payload positions are virtual: a u64 that only grows, the physical place being
 * vpos % data_bytes. A record is never split: one that would run past the end of data
 * starts at the next lap instead (the gap is wasted). The live records then lie, in
 * offset order, in increasing disjoint virtual ranges, and a new record [v, v + len)
 * overwrites none of them iff the oldest starts at or after v + len - data_bytes. So
 * making room is "drop the oldest while that fails", with no physical case analysis.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "svc_registry.h"   /* svc_stream_desc */
#include "svc_stream.h"
#include "wire_le.h"

struct stream_rec {
	uint64_t vpos;
	uint32_t len;
	uint32_t pad;
};

struct svc_stream {
	uint32_t max_records;   /**< a power of two */
	uint32_t data_bytes;
	/** Live records are [oldest, next). Invariant: next - oldest <= max_records. */
	uint64_t oldest;
	uint64_t next;
	/** Virtual position where the next record may start. Invariant: every live record
	 *  lies in [wpos - data_bytes, wpos). */
	uint64_t wpos;
	uint64_t overwritten;
	struct stream_rec *recs;
	uint8_t *data;
};

static inline size_t align64(size_t n)
{
	return (n + 63u) & ~(size_t)63u;
}

static bool config_ok(uint32_t max_records, uint32_t data_bytes)
{
	return max_records != 0 && max_records <= SVC_STREAM_RECORDS_MAX &&
	       (max_records & (max_records - 1)) == 0 && data_bytes >= WIRE_STREAM_PAYLOAD_MAX &&
	       data_bytes <= SVC_STREAM_DATA_BYTES_MAX;
}

size_t svc_stream_arena_bytes(uint32_t max_records, uint32_t data_bytes)
{
	if (!config_ok(max_records, data_bytes))
		return 0;
	/* 63 bytes of slack: init aligns the arena's start to a cache line. */
	return 63u + align64(sizeof(struct svc_stream)) +
	       align64((size_t)max_records * sizeof(struct stream_rec)) + data_bytes;
}

/** The empty stream: no record, the next offset 0, payload from position 0. */
static void stream_reset(struct svc_stream *s)
{
	s->oldest = 0;
	s->next = 0;
	s->wpos = 0;
	s->overwritten = 0;
}

struct svc_stream *svc_stream_init(uint32_t max_records, uint32_t data_bytes, void *arena,
				 size_t len)
{
	struct svc_stream *s;
	uint8_t *p;

	if (!config_ok(max_records, data_bytes) || arena == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if (len < svc_stream_arena_bytes(max_records, data_bytes)) {
		errno = ENOSPC;
		return NULL;
	}
	p = (uint8_t *)(((uintptr_t)arena + 63u) & ~(uintptr_t)63u);
	s = (struct svc_stream *)p;
	p += align64(sizeof(*s));
	s->recs = (struct stream_rec *)p;
	p += align64((size_t)max_records * sizeof(struct stream_rec));
	s->data = p;
	s->max_records = max_records;
	s->data_bytes = data_bytes;
	stream_reset(s);
	return s;
}

static inline struct stream_rec *rec_at(const struct svc_stream *s, uint64_t offset)
{
	assert(offset >= s->oldest);
	assert(offset < s->next);
	return &s->recs[offset & (s->max_records - 1)];
}

static inline const uint8_t *rec_data(const struct svc_stream *s, const struct stream_rec *r)
{
	return s->data + r->vpos % s->data_bytes;
}

/* ---------------------------------------------------------------------------------- */
/* Commands                                                                            */

/** Appends one record and returns its offset, overwriting the oldest as needed. */
static uint64_t stream_append(struct svc_stream *s, const uint8_t *payload, uint32_t len)
{
	uint64_t v = s->wpos;
	uint32_t phys = (uint32_t)(v % s->data_bytes);

	assert(len <= s->data_bytes);
	if (len > s->data_bytes - phys)
		v += s->data_bytes - phys;
	/* Bounded by max_records: each turn drops one live record. */
	while (s->oldest < s->next && (s->next - s->oldest == s->max_records ||
				       rec_at(s, s->oldest)->vpos + s->data_bytes < v + len)) {
		s->oldest++;
		s->overwritten++;
	}
	s->recs[s->next & (s->max_records - 1)] = (struct stream_rec){ .vpos = v, .len = len };
	if (len != 0)
		memcpy(s->data + v % s->data_bytes, payload, len);
	s->wpos = v + len;
	return s->next++;
}

static uint32_t stream_read(const struct svc_stream *s, uint64_t from, uint32_t max_bytes,
			    uint8_t *reply, uint32_t cap)
{
	const struct stream_rec *r;
	uint32_t used = WIRE_STREAM_REPLY_HDR_BYTES, n = 0, need;
	uint64_t o;

	if (from < s->oldest) {
		wire_stream_encode_reply_hdr(reply, WIRE_STREAM_R_TRUNCATED, 0, s->oldest);
		return used;
	}
	if (from > s->next) {
		wire_stream_encode_reply_hdr(reply, WIRE_STREAM_R_BEYOND, 0, s->next);
		return used;
	}
	/* Bounded by the live records, and by cap / WIRE_STREAM_REC_HDR_BYTES. */
	for (o = from; o < s->next; o++) {
		r = rec_at(s, o);
		need = WIRE_STREAM_REC_HDR_BYTES + r->len;
		if (need > cap - used)
			break;
		/* max_bytes bounds the records after the first, so a reader asking for
		 * less than one record still moves on. */
		if (n != 0 && need > max_bytes - (used - WIRE_STREAM_REPLY_HDR_BYTES))
			break;
		wire_st32(reply + used, r->len);
		if (r->len != 0)
			memcpy(reply + used + WIRE_STREAM_REC_HDR_BYTES, rec_data(s, r), r->len);
		used += need;
		n++;
		if (used - WIRE_STREAM_REPLY_HDR_BYTES >= max_bytes)
			break;
	}
	wire_stream_encode_reply_hdr(reply, WIRE_STREAM_R_OK, n, from + n);
	return used;
}

uint32_t svc_stream_apply(void *ctx, const uint8_t *cmd, uint32_t len, uint8_t *reply,
			 uint32_t cap, uint8_t *status)
{
	struct svc_stream *s = ctx;
	struct wire_stream_cmd c;

	assert(s != NULL);
	assert(reply != NULL);
	assert(status != NULL);
	/* The caller's contract (the applier passes PX_REPLY_BYTES_MAX), not input. */
	assert(cap >= SVC_STREAM_REPLY_CAP_MIN);

	if (wire_stream_decode_cmd(cmd, len, &c) != 0) {
		*status = PX_BAD_COMMAND;
		return wire_stream_encode_reply_hdr(reply, WIRE_STREAM_R_BAD, 0, 0);
	}
	*status = PX_OK;
	if (c.op == WIRE_STREAM_APPEND) {
		return wire_stream_encode_reply_hdr(reply, WIRE_STREAM_R_OK, 0,
						  stream_append(s, c.payload, c.arg));
	}
	assert(c.op == WIRE_STREAM_READ);
	return stream_read(s, c.from, c.arg, reply, cap);
}

uint64_t svc_stream_hash(const void *ctx)
{
	const struct svc_stream *s = ctx;
	const struct stream_rec *r;
	uint64_t h = PX_HASH_SEED, o;
	uint8_t le[8];

	assert(s != NULL);
	wire_st64(le, s->oldest);
	h = px_hash_bytes(h, le, 8);
	wire_st64(le, s->next);
	h = px_hash_bytes(h, le, 8);
	for (o = s->oldest; o < s->next; o++) {
		r = rec_at(s, o);
		wire_st32(le, r->len);
		h = px_hash_bytes(h, le, 4);
		h = px_hash_bytes(h, rec_data(s, r), r->len);
	}
	return h;
}

/* ---------------------------------------------------------------------------------- */
/* Snapshots (docs/storage.md, "Service snapshots")                                    */

/*
 * The live records, not the arena. Little-endian, no padding:
 *   magic "PWSTSNP1" | u32 max_records | u32 data_bytes | u64 oldest | u64 next
 *   | u32 first_pos | then next - oldest times, oldest first: u32 len | payload[len]
 * first_pos is where the oldest record's payload starts in data (with no record: where
 * the next one would go, wpos % data_bytes). The limits are the writer's.
 *
 * Which records an APPEND overwrites depends on where the held ones lie in the ring,
 * not only on their lengths. Every record after the oldest sits where stream_append put
 * it: right after the one before, or at the next lap if it would have run past the end.
 * So first_pos and the lengths give back every position: restore replays that rule from
 * first_pos (positions a whole number of laps lower than the writer's, which nothing
 * can tell apart), and the stream overwrites exactly as the writer's would. A snapshot
 * of a stream with another data_bytes is laid out from position 0 instead; it is taken
 * if its records fit this stream (max_records, data_bytes), which then overwrites by its
 * own limits. oldest == overwritten in every stream (each drop moves both), so
 * overwritten is not written.
 */
#define ST_SNAP_MAGIC "PWSTSNP1"
#define ST_SNAP_MAGIC_BYTES 8u
#define ST_SNAP_HDR_BYTES 36u
/** Offsets beyond this are refused: a stream appending 10^9 records a second reaches
 *  it in 292 years, and a restored one near 2^64 would wrap. */
#define ST_OFFSET_MAX (UINT64_C(1) << 63)

_Static_assert(sizeof(ST_SNAP_MAGIC) == ST_SNAP_MAGIC_BYTES + 1, "an 8-byte magic");
_Static_assert(ST_SNAP_HDR_BYTES == ST_SNAP_MAGIC_BYTES + 4 + 4 + 8 + 8 + 4, "the header's fields");
_Static_assert((uint64_t)ST_SNAP_HDR_BYTES + (uint64_t)SVC_STREAM_RECORDS_MAX * WIRE_STREAM_REC_HDR_BYTES +
			   SVC_STREAM_DATA_BYTES_MAX <= SIZE_MAX,
	       "the largest snapshot's size fits a size_t");

size_t svc_stream_snapshot_max(const void *ctx)
{
	const struct svc_stream *s = ctx;

	assert(s != NULL);
	/* The live payload lies in [wpos - data_bytes, wpos): at most data_bytes. */
	return ST_SNAP_HDR_BYTES + (size_t)s->max_records * WIRE_STREAM_REC_HDR_BYTES + s->data_bytes;
}

size_t svc_stream_snapshot(const void *ctx, uint8_t *buf, size_t cap)
{
	const struct svc_stream *s = ctx;
	const struct stream_rec *r;
	uint8_t *p = buf;
	uint64_t o;

	assert(s != NULL);
	assert(buf != NULL);
	/* The caller's contract (one buffer of snapshot_max bytes), not input. */
	assert(cap >= svc_stream_snapshot_max(s));
	(void)cap;
	memcpy(p, ST_SNAP_MAGIC, ST_SNAP_MAGIC_BYTES);
	wire_st32(p + 8, s->max_records);
	wire_st32(p + 12, s->data_bytes);
	wire_st64(p + 16, s->oldest);
	wire_st64(p + 24, s->next);
	wire_st32(p + 32, (uint32_t)((s->oldest < s->next ? rec_at(s, s->oldest)->vpos : s->wpos) %
				     s->data_bytes));
	p += ST_SNAP_HDR_BYTES;
	/* Bounded by max_records. */
	for (o = s->oldest; o < s->next; o++) {
		r = rec_at(s, o);
		wire_st32(p, r->len);
		p += WIRE_STREAM_REC_HDR_BYTES;
		if (r->len != 0)
			memcpy(p, rec_data(s, r), r->len);
		p += r->len;
	}
	assert((size_t)(p - buf) <= cap);
	return (size_t)(p - buf);
}

/** Fills the empty stream s with the snapshot's records. -EINVAL: malformed or too big. */
static int stream_restore_records(struct svc_stream *s, const uint8_t *buf, size_t len)
{
	uint32_t max_records, data_bytes, first_pos, n, i, rlen, phys;
	uint64_t oldest, next, v, start;
	size_t off;

	assert(s->next == 0);
	if (len < ST_SNAP_HDR_BYTES || memcmp(buf, ST_SNAP_MAGIC, ST_SNAP_MAGIC_BYTES) != 0)
		return -EINVAL;
	max_records = wire_ld32(buf + 8);
	data_bytes = wire_ld32(buf + 12);
	oldest = wire_ld64(buf + 16);
	next = wire_ld64(buf + 24);
	first_pos = wire_ld32(buf + 32);
	/* A stream that could exist and holds what it says, whose records fit here. */
	if (!config_ok(max_records, data_bytes) || first_pos >= data_bytes || next < oldest ||
	    next > ST_OFFSET_MAX || next - oldest > max_records || next - oldest > s->max_records)
		return -EINVAL;
	n = (uint32_t)(next - oldest);
	start = data_bytes == s->data_bytes ? first_pos : 0;
	v = start;
	off = ST_SNAP_HDR_BYTES;
	/* Bounded: n <= s->max_records; off only grows and never passes len. */
	for (i = 0; i < n; i++) {
		if (len - off < WIRE_STREAM_REC_HDR_BYTES)
			return -EINVAL;
		rlen = wire_ld32(buf + off);
		off += WIRE_STREAM_REC_HDR_BYTES;
		if (rlen > WIRE_STREAM_PAYLOAD_MAX || len - off < rlen)
			return -EINVAL;
		/* stream_append's placement: never split; the oldest starts at first_pos. */
		phys = (uint32_t)(v % s->data_bytes);
		if (rlen > s->data_bytes - phys) {
			if (i == 0)
				return -EINVAL;
			v += s->data_bytes - phys;
		}
		/* All of them within data_bytes of the oldest's start, as in any stream. */
		if (v + rlen - start > s->data_bytes)
			return -EINVAL;
		s->recs[(oldest + i) & (s->max_records - 1)] =
			(struct stream_rec){ .vpos = v, .len = rlen };
		if (rlen != 0)
			memcpy(s->data + v % s->data_bytes, buf + off, rlen);
		v += rlen;
		off += rlen;
	}
	if (off != len)
		return -EINVAL;   /* trailing bytes */
	s->oldest = oldest;
	s->next = next;
	s->wpos = v;
	s->overwritten = oldest;
	return 0;
}

int svc_stream_restore(void *ctx, const uint8_t *buf, size_t len)
{
	struct svc_stream *s = ctx;

	assert(s != NULL);
	stream_reset(s);
	if (len == 0)
		return 0;
	/* The offsets are set last: a refused snapshot leaves the empty stream. */
	if (buf == NULL || stream_restore_records(s, buf, len) != 0) {
		stream_reset(s);
		return -EINVAL;
	}
	return 0;
}

void svc_stream_service(struct svc_stream *s, struct px_service *svc)
{
	assert(s != NULL);
	assert(svc != NULL);
	svc->apply = svc_stream_apply;
	svc->hash = svc_stream_hash;
	svc->ctx = s;
	svc->is_read = svc_stream_is_read;
	svc->snapshot_max = svc_stream_snapshot_max;
	svc->snapshot = svc_stream_snapshot;
	svc->restore = svc_stream_restore;
}

/* The registry's descriptor (svc_registry.h): the stream's parameters are the typed
 * [cluster] keys, which the loader passes on; the defaults are config/'s. */
static const char *const stream_param_keys[] = { "stream_records", "stream_bytes" };

static int stream_params(const struct svc_params *p, uint32_t v[2], char *err, size_t errlen)
{
	int rc = svc_params_only(p, stream_param_keys, 2, err, errlen);
	if (rc == 0)
		rc = svc_param_u32(p, "stream_records", 1, SVC_STREAM_RECORDS_MAX, 65536, &v[0], err,
				   errlen);
	if (rc == 0 && (v[0] & (v[0] - 1u)) != 0) {
		const struct svc_param *q = svc_param_find(p, "stream_records");
		return svc_fail(p, q ? q->line : 0, err, errlen, "stream_records = %u: not a power of two; fix: stream_records = 65536 (or another power of two)",
				v[0]);
	}
	if (rc == 0)
		rc = svc_param_u32(p, "stream_bytes", WIRE_STREAM_PAYLOAD_MAX, SVC_STREAM_DATA_BYTES_MAX,
				   16u << 20, &v[1], err, errlen);
	return rc;
}

static int stream_check(const struct svc_params *p, size_t *arena_bytes, char *err,
			size_t errlen)
{
	uint32_t v[2];
	int rc = stream_params(p, v, err, errlen);
	if (rc == 0)
		*arena_bytes = svc_stream_arena_bytes(v[0], v[1]);
	return rc;
}

static int stream_init(const struct svc_params *p, void *arena, size_t len,
		       struct px_service *svc, char *err, size_t errlen)
{
	uint32_t v[2];
	int rc = stream_params(p, v, err, errlen);
	if (rc != 0)
		return rc;
	struct svc_stream *s = svc_stream_init(v[0], v[1], arena, len);
	if (s == NULL)
		return svc_fail(p, p->section_line, err, errlen, "svc_stream_init: %s; fix: check stream_records, stream_bytes",
				strerror(errno));
	svc_stream_service(s, svc);
	return 0;
}

const struct svc_desc svc_stream_desc = {
	.abi_version = SVC_ABI_VERSION,
	.name = "stream",
	.summary = "ordered append-only stream: APPEND, READ (stream_records, stream_bytes)",
	.check = stream_check,
	.init = stream_init,
};

bool svc_stream_is_read(void *ctx, const uint8_t *cmd, uint32_t len)
{
	struct wire_stream_cmd c;

	(void)ctx;
	/* A malformed command is not a read: the log answers it (PX_BAD_COMMAND). */
	return wire_stream_decode_cmd(cmd, len, &c) == 0 && c.op == WIRE_STREAM_READ;
}

uint64_t svc_stream_oldest(const struct svc_stream *s)
{
	return s->oldest;
}

uint64_t svc_stream_next_offset(const struct svc_stream *s)
{
	return s->next;
}

uint64_t svc_stream_overwritten(const struct svc_stream *s)
{
	return s->overwritten;
}

bool svc_stream_get_direct(const struct svc_stream *s, uint64_t offset, const uint8_t **data,
			  uint32_t *len)
{
	const struct stream_rec *r;

	assert(s != NULL);
	if (offset < s->oldest || offset >= s->next)
		return false;
	r = rec_at(s, offset);
	if (data != NULL)
		*data = rec_data(s, r);
	if (len != NULL)
		*len = r->len;
	return true;
}
