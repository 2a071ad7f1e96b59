/* SPDX-License-Identifier: Apache-2.0
 * pw_stream: an ordered append-only stream (encodings in pw_stream.h).
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

#include "pw_stream.h"
#include "wire_le.h"

struct stream_rec {
	uint64_t vpos;
	uint32_t len;
	uint32_t pad;
};

struct pw_stream {
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
	return max_records != 0 && max_records <= PW_STREAM_RECORDS_MAX &&
	       (max_records & (max_records - 1)) == 0 && data_bytes >= PW_STREAM_PAYLOAD_MAX &&
	       data_bytes <= PW_STREAM_DATA_BYTES_MAX;
}

size_t pw_stream_arena_bytes(uint32_t max_records, uint32_t data_bytes)
{
	if (!config_ok(max_records, data_bytes))
		return 0;
	/* 63 bytes of slack: init aligns the arena's start to a cache line. */
	return 63u + align64(sizeof(struct pw_stream)) +
	       align64((size_t)max_records * sizeof(struct stream_rec)) + data_bytes;
}

struct pw_stream *pw_stream_init(uint32_t max_records, uint32_t data_bytes, void *arena,
				 size_t len)
{
	struct pw_stream *s;
	uint8_t *p;

	if (!config_ok(max_records, data_bytes) || arena == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if (len < pw_stream_arena_bytes(max_records, data_bytes)) {
		errno = ENOSPC;
		return NULL;
	}
	p = (uint8_t *)(((uintptr_t)arena + 63u) & ~(uintptr_t)63u);
	s = (struct pw_stream *)p;
	p += align64(sizeof(*s));
	s->recs = (struct stream_rec *)p;
	p += align64((size_t)max_records * sizeof(struct stream_rec));
	s->data = p;
	s->max_records = max_records;
	s->data_bytes = data_bytes;
	s->oldest = 0;
	s->next = 0;
	s->wpos = 0;
	s->overwritten = 0;
	return s;
}

static inline struct stream_rec *rec_at(const struct pw_stream *s, uint64_t offset)
{
	assert(offset >= s->oldest);
	assert(offset < s->next);
	return &s->recs[offset & (s->max_records - 1)];
}

static inline const uint8_t *rec_data(const struct pw_stream *s, const struct stream_rec *r)
{
	return s->data + r->vpos % s->data_bytes;
}

/* ---------------------------------------------------------------------------------- */
/* Commands                                                                            */

int pw_stream_decode_cmd(const uint8_t *cmd, uint32_t len, struct pw_stream_cmd *c)
{
	assert(c != NULL);
	if (cmd == NULL || len < PW_STREAM_CMD_HDR_BYTES)
		return -EINVAL;
	if (cmd[1] != 0 || cmd[2] != 0 || cmd[3] != 0)
		return -EINVAL;
	c->op = cmd[0];
	c->arg = wire_ld32(cmd + 4);
	c->from = 0;
	c->payload = NULL;
	switch (c->op) {
	case PW_STREAM_APPEND:
		if (c->arg > PW_STREAM_PAYLOAD_MAX || len - PW_STREAM_CMD_HDR_BYTES != c->arg)
			return -EINVAL;
		c->payload = cmd + PW_STREAM_CMD_HDR_BYTES;
		return 0;
	case PW_STREAM_READ:
		if (len != PW_STREAM_READ_CMD_BYTES)
			return -EINVAL;
		c->from = wire_ld64(cmd + PW_STREAM_CMD_HDR_BYTES);
		return 0;
	default:
		return -EINVAL;
	}
}

static void put_reply_hdr(uint8_t *reply, uint8_t result, uint32_t n, uint64_t offset)
{
	reply[0] = result;
	reply[1] = 0;
	reply[2] = 0;
	reply[3] = 0;
	wire_st32(reply + 4, n);
	wire_st64(reply + 8, offset);
}

/** Appends one record and returns its offset, overwriting the oldest as needed. */
static uint64_t stream_append(struct pw_stream *s, const uint8_t *payload, uint32_t len)
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

static uint32_t stream_read(const struct pw_stream *s, uint64_t from, uint32_t max_bytes,
			    uint8_t *reply, uint32_t cap)
{
	const struct stream_rec *r;
	uint32_t used = PW_STREAM_REPLY_HDR_BYTES, n = 0, need;
	uint64_t o;

	if (from < s->oldest) {
		put_reply_hdr(reply, PW_STREAM_R_TRUNCATED, 0, s->oldest);
		return used;
	}
	if (from > s->next) {
		put_reply_hdr(reply, PW_STREAM_R_BEYOND, 0, s->next);
		return used;
	}
	/* Bounded by the live records, and by cap / PW_STREAM_REC_HDR_BYTES. */
	for (o = from; o < s->next; o++) {
		r = rec_at(s, o);
		need = PW_STREAM_REC_HDR_BYTES + r->len;
		if (need > cap - used)
			break;
		/* max_bytes bounds the records after the first, so a reader asking for
		 * less than one record still moves on. */
		if (n != 0 && need > max_bytes - (used - PW_STREAM_REPLY_HDR_BYTES))
			break;
		wire_st32(reply + used, r->len);
		if (r->len != 0)
			memcpy(reply + used + PW_STREAM_REC_HDR_BYTES, rec_data(s, r), r->len);
		used += need;
		n++;
		if (used - PW_STREAM_REPLY_HDR_BYTES >= max_bytes)
			break;
	}
	put_reply_hdr(reply, PW_STREAM_R_OK, n, from + n);
	return used;
}

uint32_t pw_stream_apply(void *ctx, const uint8_t *cmd, uint32_t len, uint8_t *reply,
			 uint32_t cap, uint8_t *status)
{
	struct pw_stream *s = ctx;
	struct pw_stream_cmd c;

	assert(s != NULL);
	assert(reply != NULL);
	assert(status != NULL);
	/* The caller's contract (the applier passes PX_REPLY_BYTES_MAX), not input. */
	assert(cap >= PW_STREAM_REPLY_CAP_MIN);

	if (pw_stream_decode_cmd(cmd, len, &c) != 0) {
		*status = PX_BAD_COMMAND;
		put_reply_hdr(reply, PW_STREAM_R_BAD, 0, 0);
		return PW_STREAM_REPLY_HDR_BYTES;
	}
	*status = PX_OK;
	if (c.op == PW_STREAM_APPEND) {
		put_reply_hdr(reply, PW_STREAM_R_OK, 0, stream_append(s, c.payload, c.arg));
		return PW_STREAM_REPLY_HDR_BYTES;
	}
	assert(c.op == PW_STREAM_READ);
	return stream_read(s, c.from, c.arg, reply, cap);
}

uint64_t pw_stream_hash(const void *ctx)
{
	const struct pw_stream *s = ctx;
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

void pw_stream_service(struct pw_stream *s, struct px_service *svc)
{
	assert(s != NULL);
	assert(svc != NULL);
	svc->apply = pw_stream_apply;
	svc->hash = pw_stream_hash;
	svc->ctx = s;
	svc->is_read = pw_stream_is_read;
}

bool pw_stream_is_read(void *ctx, const uint8_t *cmd, uint32_t len)
{
	struct pw_stream_cmd c;

	(void)ctx;
	/* A malformed command is not a read: the log answers it (PX_BAD_COMMAND). */
	return pw_stream_decode_cmd(cmd, len, &c) == 0 && c.op == PW_STREAM_READ;
}

uint64_t pw_stream_oldest(const struct pw_stream *s)
{
	return s->oldest;
}

uint64_t pw_stream_next_offset(const struct pw_stream *s)
{
	return s->next;
}

uint64_t pw_stream_overwritten(const struct pw_stream *s)
{
	return s->overwritten;
}

bool pw_stream_get_direct(const struct pw_stream *s, uint64_t offset, const uint8_t **data,
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

/* ---------------------------------------------------------------------------------- */
/* Encoders and reply decoder                                                          */

uint32_t pw_stream_encode_append(uint8_t *buf, uint32_t cap, const void *payload,
				 uint32_t len)
{
	assert(buf != NULL || cap == 0);
	assert(payload != NULL || len == 0);
	if (len > PW_STREAM_PAYLOAD_MAX || cap < PW_STREAM_CMD_HDR_BYTES ||
	    cap - PW_STREAM_CMD_HDR_BYTES < len)
		return 0;
	buf[0] = PW_STREAM_APPEND;
	buf[1] = 0;
	buf[2] = 0;
	buf[3] = 0;
	wire_st32(buf + 4, len);
	if (len != 0)
		memcpy(buf + PW_STREAM_CMD_HDR_BYTES, payload, len);
	return PW_STREAM_CMD_HDR_BYTES + len;
}

uint32_t pw_stream_encode_read(uint8_t *buf, uint32_t cap, uint64_t from, uint32_t max_bytes)
{
	assert(buf != NULL || cap == 0);
	if (cap < PW_STREAM_READ_CMD_BYTES)
		return 0;
	buf[0] = PW_STREAM_READ;
	buf[1] = 0;
	buf[2] = 0;
	buf[3] = 0;
	wire_st32(buf + 4, max_bytes);
	wire_st64(buf + PW_STREAM_CMD_HDR_BYTES, from);
	return PW_STREAM_READ_CMD_BYTES;
}

int pw_stream_decode_reply(const uint8_t *buf, uint32_t len, struct pw_stream_reply *r)
{
	uint32_t i, off, rlen;

	assert(r != NULL);
	if (buf == NULL || len < PW_STREAM_REPLY_HDR_BYTES)
		return -EINVAL;
	if (buf[0] > PW_STREAM_R_BAD || buf[1] != 0 || buf[2] != 0 || buf[3] != 0)
		return -EINVAL;
	r->result = buf[0];
	r->n_records = wire_ld32(buf + 4);
	r->offset = wire_ld64(buf + 8);
	r->records = buf + PW_STREAM_REPLY_HDR_BYTES;
	r->records_len = len - PW_STREAM_REPLY_HDR_BYTES;
	if (r->n_records > r->records_len / PW_STREAM_REC_HDR_BYTES)
		return -EINVAL;
	/* Bounded by the check above; every comparison is against what is left. */
	off = 0;
	for (i = 0; i < r->n_records; i++) {
		if (r->records_len - off < PW_STREAM_REC_HDR_BYTES)
			return -EINVAL;
		rlen = wire_ld32(r->records + off);
		off += PW_STREAM_REC_HDR_BYTES;
		if (rlen > r->records_len - off)
			return -EINVAL;
		off += rlen;
	}
	return off == r->records_len ? 0 : -EINVAL;
}

bool pw_stream_reply_next(const struct pw_stream_reply *r, uint32_t *off,
			  const uint8_t **data, uint32_t *len)
{
	uint32_t rlen;

	assert(r != NULL);
	assert(off != NULL);
	if (*off >= r->records_len)
		return false;
	/* The reply was checked by pw_stream_decode_reply. */
	assert(r->records_len - *off >= PW_STREAM_REC_HDR_BYTES);
	rlen = wire_ld32(r->records + *off);
	assert(rlen <= r->records_len - *off - PW_STREAM_REC_HDR_BYTES);
	if (data != NULL)
		*data = r->records + *off + PW_STREAM_REC_HDR_BYTES;
	if (len != NULL)
		*len = rlen;
	*off += PW_STREAM_REC_HDR_BYTES + rlen;
	return true;
}
