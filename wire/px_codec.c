/* SPDX-License-Identifier: Apache-2.0
 * Wire codec (docs/protocol.md has the layout, field by field).
 *
 * Encoding is canonical: every field of the wire form maps to one field of struct px_msg
 * and back, reserved bytes are zero, lengths are exact. So decode accepts exactly the
 * images of encode, and encode(decode(b)) == b for every accepted b; the fuzz harness
 * and the byte-flip test check that property.
 *
 * Decoding treats the buffer as hostile: every read is preceded by a check of the bytes
 * left, counts are bounded before they drive a loop, and nothing is asserted on input.
 * Values and bodies are not copied: they point into the buffer.
 */
#include <assert.h>
#include <stddef.h>
#include <string.h>

#include "px_codec.h"
#include "wire_le.h"

_Static_assert(PX_WIRE_OFF_RESERVED + 8u == PX_WIRE_OFF_UUID, "header layout");
_Static_assert(PX_WIRE_OFF_UUID + 16u == PX_WIRE_HDR_BYTES, "header layout fills 56 bytes");
_Static_assert(PX_WIRE_OFF_BODY_LEN + 4u == PX_WIRE_OFF_RESERVED, "header layout");
_Static_assert(PX_WIRE_OFF_TOTAL_LEN + 4u == PX_WIRE_OFF_BODY_LEN, "header layout");
_Static_assert(PX_WIRE_OFF_BALLOT + 8u == PX_WIRE_OFF_TOTAL_LEN, "header layout");
/* The largest message px_encode can produce: full crash vector, the REPLY body or
 * PX_MSG_ENTRIES_MAX maximal entries, whichever is longer. It must fit the u32
 * total_len field; PX_MSG_BYTES_MAX is the transport's bound, enforced by the sender. */
_Static_assert((uint64_t)PX_WIRE_HDR_BYTES + 4u * PX_REPLICAS_MAX + 36u +
		       (uint64_t)PX_MSG_ENTRIES_MAX *
			       (PX_WIRE_ENTRY_HDR_BYTES + PX_SLOT_BYTES_MAX) < UINT32_MAX,
	       "total_len fits a u32");

/* Fixed body bytes per type, before entries or a variable body. */
#define BODY_SLOT_COMMIT 16u   /* PREVOTE, PREVOTE_REPLY, PREPARE, STATE_NEEDED, ACCEPTED */
#define BODY_PROMISE 28u       /* slot_lo, slot_hi, commit, n_entries */
#define BODY_RECOVER_REPLY 36u /* slot_lo, slot_hi, commit, nonce, n_entries */
#define BODY_ACCEPT 12u        /* commit, n_entries */
#define BODY_RECOVER 16u       /* slot_lo, nonce */
#define BODY_REQUEST 20u       /* client_id, seq, body_len */
#define BODY_REPLY 22u         /* client_id, seq, status, leader_hint, body_len */
#define BODY_SNAP_REQ 32u      /* need (slot_lo), slot (slot_hi), id (nonce), off */
#define BODY_SNAP_CHUNK 36u    /* slot, id, total, off, body_len; then the bytes */
#define BODY_RM 28u            /* hello id (nonce), next (slot_lo), horizon (slot_hi),
                                  body_len; then node/'s bytes */

uint8_t px_wire_type_flags(uint8_t type)
{
	switch (type) {
	case PX_MSG_PREVOTE_REPLY:
		return PX_MF_GRANT;
	case PX_MSG_PREPARE:
		return PX_MF_FORCE;
	case PX_MSG_PROMISE:
		return PX_MF_LAST;
	case PX_MSG_RECOVER:
		return PX_MF_ANNOUNCE;
	case PX_MSG_RECOVER_REPLY:
		/* ANNOUNCE marks a reply to round 2, whose pages carry the log. */
		return PX_MF_LAST | PX_MF_NORMAL | PX_MF_LEADER | PX_MF_ANNOUNCE;
	case PX_MSG_REQUEST:
		/* REGISTER: a session registration (seq 0, the nonce in client_id). */
		return PX_MF_ADMIN | PX_MF_REGISTER;
	case PX_MSG_SNAP_CHUNK:
		return PX_MF_SNAP_NONE;
	case PX_MSG_RM:
		return PX_MF_RM_GRANT;
	default:
		return 0;
	}
}

static bool type_known(uint8_t type)
{
	return (type >= PX_MSG_PREVOTE && type <= PX_MSG_RM) ||
	       type == PX_MSG_REQUEST || type == PX_MSG_REPLY;
}

/* node/'s messages, outside the core (state transfer, REFUSE): like a client's, they
 * may carry no crash vector; a tool may ask for a snapshot (SNAP_REQ from
 * PX_NODE_NONE). */
static bool type_is_node(uint8_t type)
{
	return type == PX_MSG_SNAP_REQ || type == PX_MSG_SNAP_CHUNK || type == PX_MSG_REFUSE ||
	       type == PX_MSG_RM;
}

/* Types with an opaque variable body (body_len, then the bytes). */
static bool type_has_body(uint8_t type)
{
	return type == PX_MSG_REQUEST || type == PX_MSG_REPLY || type == PX_MSG_SNAP_CHUNK ||
	       type == PX_MSG_RM;
}

static bool type_is_client(uint8_t type)
{
	return type == PX_MSG_REQUEST || type == PX_MSG_REPLY;
}

/* The header's u64 at offset 32 is the read round (docs/protocol.md 8.7) in these two
 * types, and must be zero in every other. */
static bool type_has_read_round(uint8_t type)
{
	return type == PX_MSG_ACCEPT || type == PX_MSG_ACCEPTED;
}

static bool type_has_entries(uint8_t type)
{
	return type == PX_MSG_PROMISE || type == PX_MSG_ACCEPT || type == PX_MSG_RECOVER_REPLY;
}

const char *px_wire_err_name(enum px_wire_err e)
{
	static const char *const names[PX_WIRE_E_MAX] = {
		[PX_WIRE_OK] = "ok",
		[PX_WIRE_E_SHORT] = "short",
		[PX_WIRE_E_MAGIC] = "magic",
		[PX_WIRE_E_VERSION] = "version",
		[PX_WIRE_E_TYPE] = "type",
		[PX_WIRE_E_CLUSTER] = "cluster",
		[PX_WIRE_E_SENDER] = "sender",
		[PX_WIRE_E_LENGTH] = "length",
		[PX_WIRE_E_INC_COUNT] = "inc_count",
		[PX_WIRE_E_BODY] = "body",
		[PX_WIRE_E_ENTRIES] = "entries",
		[PX_WIRE_E_ENTRY_LEN] = "entry_len",
		[PX_WIRE_E_BATCH] = "batch",
		[PX_WIRE_E_CMD_LEN] = "cmd_len",
		[PX_WIRE_E_TRAILING] = "trailing",
		[PX_WIRE_E_FIELD] = "field",
	};

	if ((unsigned)e >= PX_WIRE_E_MAX)
		return "unknown";
	return names[e];
}

/* Fixed part of the body; the variable part follows (entries, or a request/reply body). */
static uint32_t body_fixed_bytes(uint8_t type)
{
	switch (type) {
	case PX_MSG_PREVOTE:
	case PX_MSG_PREVOTE_REPLY:
	case PX_MSG_PREPARE:
	case PX_MSG_ACCEPTED:
	case PX_MSG_STATE_NEEDED:
		return BODY_SLOT_COMMIT;
	case PX_MSG_PROMISE:
		return BODY_PROMISE;
	case PX_MSG_RECOVER_REPLY:
		return BODY_RECOVER_REPLY;
	case PX_MSG_ACCEPT:
		return BODY_ACCEPT;
	case PX_MSG_RECOVER:
		return BODY_RECOVER;
	case PX_MSG_REQUEST:
		return BODY_REQUEST;
	case PX_MSG_REPLY:
		return BODY_REPLY;
	case PX_MSG_SNAP_REQ:
		return BODY_SNAP_REQ;
	case PX_MSG_SNAP_CHUNK:
		return BODY_SNAP_CHUNK;
	case PX_MSG_RM:
		return BODY_RM;
	case PX_MSG_NACK:
	case PX_MSG_TIMEOUT_NOW:
	case PX_MSG_REFUSE:
	default:
		return 0;
	}
}

/* Programmer errors only: m is built by the replica, the applier or a client library. */
static void check_encodable(const struct px_msg *m)
{
	uint64_t prev = 0;

	assert(type_known(m->type));
	assert((m->flags & (uint8_t)~px_wire_type_flags(m->type)) == 0);
	assert(m->n_inc <= PX_REPLICAS_MAX);
	if (type_has_entries(m->type)) {
		assert(m->n_entries <= PX_MSG_ENTRIES_MAX);
		for (uint32_t i = 0; i < m->n_entries; i++) {
			const struct px_entry *e = &m->entries[i];

			assert(e->slot > prev);
			assert(e->len <= PX_SLOT_BYTES_MAX);
			assert(e->value != NULL);
			assert((e->flags & (uint8_t)~PX_EF_CHOSEN) == 0);
#ifdef PX_INVARIANTS
			/* A linear walk of the batch: test builds only. */
			assert(px_batch_valid(e->value, e->len));
#endif
			prev = e->slot;
		}
	}
	if (m->type == PX_MSG_REQUEST) {
		assert(m->from == PX_NODE_NONE);
		assert(m->body_len <= PX_CMD_BYTES_MAX);
		assert(m->body_len == 0 || m->body != NULL);
	}
	if (m->type == PX_MSG_SNAP_CHUNK) {
		assert(m->body_len <= PX_SNAP_CHUNK_BYTES);
		assert(m->body_len == 0 || m->body != NULL);
		assert(m->snap_off <= m->snap_total && m->body_len <= m->snap_total - m->snap_off);
	}
	if (m->type == PX_MSG_RM) {
		assert(m->body_len <= PX_RM_BODY_MAX);
		assert(m->body_len == 0 || m->body != NULL);
	}
	if (m->type == PX_MSG_REPLY) {
		assert(m->status < PX_STATUS_MAX);
		assert(m->body_len <= PX_REPLY_BYTES_MAX);
		assert(m->body_len == 0 || m->body != NULL);
	}
	(void)prev;
}

static uint32_t body_bytes(const struct px_msg *m)
{
	uint32_t n = body_fixed_bytes(m->type);

	if (type_has_entries(m->type)) {
		for (uint32_t i = 0; i < m->n_entries; i++)
			n += PX_WIRE_ENTRY_HDR_BYTES + m->entries[i].len;
	} else if (type_has_body(m->type)) {
		n += m->body_len;
	}
	return n;
}

size_t px_encoded_len(const struct px_msg *m)
{
	assert(m != NULL);
	check_encodable(m);
	return PX_WIRE_HDR_BYTES + 4u * (size_t)m->n_inc + body_bytes(m);
}

static uint8_t *put_entries(uint8_t *p, const struct px_msg *m)
{
	wire_st32(p, m->n_entries);
	p += 4;
	for (uint32_t i = 0; i < m->n_entries; i++) {
		const struct px_entry *e = &m->entries[i];

		wire_st64(p, e->slot);
		wire_st64(p + 8, e->vballot);
		p[16] = e->flags;
		wire_st32(p + 17, e->len);
		p += PX_WIRE_ENTRY_HDR_BYTES;
		/* The one copy of a value on the send path. */
		memcpy(p, e->value, e->len);
		p += e->len;
	}
	return p;
}

size_t px_encode(const struct px_msg *m, uint8_t *buf, size_t cap)
{
	uint32_t body_len;
	size_t total;
	uint8_t *p;

	assert(m != NULL);
	assert(buf != NULL || cap == 0);
	check_encodable(m);
	body_len = body_bytes(m);
	total = PX_WIRE_HDR_BYTES + 4u * (size_t)m->n_inc + body_len;
	if (cap < total)
		return 0;

	wire_st16(buf + PX_WIRE_OFF_MAGIC, PX_WIRE_MAGIC);
	buf[PX_WIRE_OFF_VERSION] = PX_WIRE_VERSION;
	buf[PX_WIRE_OFF_TYPE] = m->type;
	buf[PX_WIRE_OFF_FLAGS] = m->flags;
	buf[PX_WIRE_OFF_FROM] = m->from;
	buf[PX_WIRE_OFF_TO] = m->to;
	buf[PX_WIRE_OFF_N_INC] = m->n_inc;
	wire_st32(buf + PX_WIRE_OFF_CLUSTER, m->cluster_id);
	wire_st32(buf + PX_WIRE_OFF_EPOCH, m->config_epoch);
	wire_st64(buf + PX_WIRE_OFF_BALLOT, m->ballot);
	wire_st32(buf + PX_WIRE_OFF_TOTAL_LEN, (uint32_t)total);
	wire_st32(buf + PX_WIRE_OFF_BODY_LEN, body_len);
	wire_st64(buf + PX_WIRE_OFF_READ_ROUND, type_has_read_round(m->type) ? m->read_round : 0);
	wire_st64(buf + PX_WIRE_OFF_UUID, m->uuid.lo);
	wire_st64(buf + PX_WIRE_OFF_UUID + 8u, m->uuid.hi);
	p = buf + PX_WIRE_HDR_BYTES;
	for (uint32_t i = 0; i < m->n_inc; i++, p += 4)
		wire_st32(p, m->incarnation[i]);

	switch (m->type) {
	case PX_MSG_PREVOTE:
	case PX_MSG_PREVOTE_REPLY:
	case PX_MSG_PREPARE:
	case PX_MSG_STATE_NEEDED:
		wire_st64(p, m->slot_lo);
		wire_st64(p + 8, m->commit);
		p += 16;
		break;
	case PX_MSG_ACCEPTED:
		wire_st64(p, m->slot_hi);
		wire_st64(p + 8, m->commit);
		p += 16;
		break;
	case PX_MSG_PROMISE:
		wire_st64(p, m->slot_lo);
		wire_st64(p + 8, m->slot_hi);
		wire_st64(p + 16, m->commit);
		p = put_entries(p + 24, m);
		break;
	case PX_MSG_RECOVER_REPLY:
		wire_st64(p, m->slot_lo);
		wire_st64(p + 8, m->slot_hi);
		wire_st64(p + 16, m->commit);
		wire_st64(p + 24, m->nonce);
		p = put_entries(p + 32, m);
		break;
	case PX_MSG_ACCEPT:
		wire_st64(p, m->commit);
		p = put_entries(p + 8, m);
		break;
	case PX_MSG_RECOVER:
		wire_st64(p, m->slot_lo);
		wire_st64(p + 8, m->nonce);
		p += 16;
		break;
	case PX_MSG_REQUEST:
		wire_st64(p, m->client_id);
		wire_st64(p + 8, m->seq);
		wire_st32(p + 16, m->body_len);
		p += BODY_REQUEST;
		if (m->body_len != 0)
			memcpy(p, m->body, m->body_len);
		p += m->body_len;
		break;
	case PX_MSG_SNAP_REQ:
		wire_st64(p, m->slot_lo);
		wire_st64(p + 8, m->slot_hi);
		wire_st64(p + 16, m->nonce);
		wire_st64(p + 24, m->snap_off);
		p += BODY_SNAP_REQ;
		break;
	case PX_MSG_SNAP_CHUNK:
		wire_st64(p, m->slot_hi);
		wire_st64(p + 8, m->nonce);
		wire_st64(p + 16, m->snap_total);
		wire_st64(p + 24, m->snap_off);
		wire_st32(p + 32, m->body_len);
		p += BODY_SNAP_CHUNK;
		if (m->body_len != 0)
			memcpy(p, m->body, m->body_len);
		p += m->body_len;
		break;
	case PX_MSG_RM:
		wire_st64(p, m->nonce);
		wire_st64(p + 8, m->slot_lo);
		wire_st64(p + 16, m->slot_hi);
		wire_st32(p + 24, m->body_len);
		p += BODY_RM;
		if (m->body_len != 0)
			memcpy(p, m->body, m->body_len);
		p += m->body_len;
		break;
	case PX_MSG_REPLY:
		wire_st64(p, m->client_id);
		wire_st64(p + 8, m->seq);
		p[16] = m->status;
		p[17] = m->leader_hint;
		wire_st32(p + 18, m->body_len);
		p += BODY_REPLY;
		if (m->body_len != 0)
			memcpy(p, m->body, m->body_len);
		p += m->body_len;
		break;
	case PX_MSG_NACK:
	case PX_MSG_TIMEOUT_NOW:
	case PX_MSG_REFUSE:
	default:
		break;
	}
	assert((size_t)(p - buf) == total);
	return total;
}

/* Reads n_entries and the entries from p[0..left). Entries must be in strictly
 * increasing slot order from slot 1 and each value must be a valid batch. */
static enum px_wire_err get_entries(const uint8_t *p, uint32_t left, struct px_msg *m,
				    uint32_t *used)
{
	uint32_t n, i, vlen, off;
	uint64_t prev = 0;

	/* The caller checked the fixed body, n_entries included. */
	assert(left >= 4);
	n = wire_ld32(p);
	if (n > PX_MSG_ENTRIES_MAX)
		return PX_WIRE_E_ENTRIES;
	off = 4;
	for (i = 0; i < n; i++) {
		struct px_entry *e = &m->entries[i];

		if (left - off < PX_WIRE_ENTRY_HDR_BYTES)
			return PX_WIRE_E_BODY;
		e->slot = wire_ld64(p + off);
		e->vballot = wire_ld64(p + off + 8);
		e->flags = p[off + 16];
		vlen = wire_ld32(p + off + 17);
		off += PX_WIRE_ENTRY_HDR_BYTES;
		if (vlen > PX_SLOT_BYTES_MAX || vlen > left - off)
			return PX_WIRE_E_ENTRY_LEN;
		if (e->slot == 0 || e->slot <= prev)
			return PX_WIRE_E_FIELD;
		if ((e->flags & (uint8_t)~PX_EF_CHOSEN) != 0)
			return PX_WIRE_E_FIELD;
		if (!px_batch_valid(p + off, vlen))
			return PX_WIRE_E_BATCH;
		e->len = vlen;
		e->value = p + off;
		off += vlen;
		prev = e->slot;
	}
	m->n_entries = n;
	*used = off;
	return PX_WIRE_OK;
}

/* Reads a REQUEST or REPLY body of at most max bytes from p[0..left). */
static enum px_wire_err get_client_body(const uint8_t *p, uint32_t left, uint32_t max,
					struct px_msg *m, uint32_t *used)
{
	if (m->body_len > max)
		return PX_WIRE_E_CMD_LEN;
	if (m->body_len > left)
		return PX_WIRE_E_BODY;
	/* NULL for an empty body, as a sender would set it: decode(encode(m)) == m. */
	m->body = m->body_len != 0 ? p : NULL;
	*used = m->body_len;
	return PX_WIRE_OK;
}

enum px_wire_err px_decode(const uint8_t *buf, size_t len, uint32_t cluster_id,
			   uint8_t n_replicas, struct px_msg *m)
{
	uint8_t type, from, to, n_inc, flags;
	uint32_t total, body_len, fixed, used = 0;
	enum px_wire_err err = PX_WIRE_OK;
	const uint8_t *p;

	assert(m != NULL);
	assert(n_replicas >= 1);
	assert(n_replicas <= PX_REPLICAS_MAX);

	if (buf == NULL || len < PX_WIRE_HDR_BYTES)
		return PX_WIRE_E_SHORT;
	if (wire_ld16(buf + PX_WIRE_OFF_MAGIC) != PX_WIRE_MAGIC)
		return PX_WIRE_E_MAGIC;
	if (buf[PX_WIRE_OFF_VERSION] != PX_WIRE_VERSION)
		return PX_WIRE_E_VERSION;
	type = buf[PX_WIRE_OFF_TYPE];
	if (!type_known(type))
		return PX_WIRE_E_TYPE;
	if (wire_ld32(buf + PX_WIRE_OFF_CLUSTER) != cluster_id)
		return PX_WIRE_E_CLUSTER;

	from = buf[PX_WIRE_OFF_FROM];
	if (type == PX_MSG_REQUEST ? from != PX_NODE_NONE
	    : type == PX_MSG_SNAP_REQ ? from != PX_NODE_NONE && from >= n_replicas
	    : from >= n_replicas)
		return PX_WIRE_E_SENDER;
	to = buf[PX_WIRE_OFF_TO];
	if (to != PX_NODE_NONE && to >= n_replicas)
		return PX_WIRE_E_FIELD;
	n_inc = buf[PX_WIRE_OFF_N_INC];
	/* Clients know nothing of incarnations and may send an empty vector; replicas
	 * send one entry per node id up to the highest they know (membership changes:
	 * at most n_replicas, the receiver's id bound; the core checks the sender's). */
	if (type_is_client(type) || type_is_node(type) ? n_inc > n_replicas
						       : n_inc == 0 || n_inc > n_replicas)
		return PX_WIRE_E_INC_COUNT;

	total = wire_ld32(buf + PX_WIRE_OFF_TOTAL_LEN);
	body_len = wire_ld32(buf + PX_WIRE_OFF_BODY_LEN);
	if ((size_t)total != len)
		return PX_WIRE_E_LENGTH;
	/* In u64: body_len is attacker-controlled and could wrap a u32 sum. */
	if ((uint64_t)PX_WIRE_HDR_BYTES + 4u * (uint64_t)n_inc + body_len != (uint64_t)total)
		return PX_WIRE_E_LENGTH;
	if (!type_has_read_round(type) && wire_ld64(buf + PX_WIRE_OFF_RESERVED) != 0)
		return PX_WIRE_E_FIELD;
	flags = buf[PX_WIRE_OFF_FLAGS];
	if ((flags & (uint8_t)~px_wire_type_flags(type)) != 0)
		return PX_WIRE_E_FIELD;
	fixed = body_fixed_bytes(type);
	if (body_len < fixed)
		return PX_WIRE_E_BODY;

	/* Whole struct, padding included: a decoded message is a function of the bytes. */
	/* Every field before the entries is zeroed, so a decoded message is deterministic;
	 * entries past n_entries are never read (zeroing all 64 would cost 2 KiB a message). */
	memset(m, 0, offsetof(struct px_msg, entries));
	m->type = type;
	m->flags = flags;
	m->from = from;
	m->to = to;
	m->cluster_id = cluster_id;
	m->config_epoch = wire_ld32(buf + PX_WIRE_OFF_EPOCH);
	m->ballot = wire_ld64(buf + PX_WIRE_OFF_BALLOT);
	m->n_inc = n_inc;
	if (type_has_read_round(type))
		m->read_round = wire_ld64(buf + PX_WIRE_OFF_READ_ROUND);
	/* Any value: which ones this replica accepts depends on its state (node/). */
	m->uuid.lo = wire_ld64(buf + PX_WIRE_OFF_UUID);
	m->uuid.hi = wire_ld64(buf + PX_WIRE_OFF_UUID + 8u);
	p = buf + PX_WIRE_HDR_BYTES;
	for (uint32_t i = 0; i < n_inc; i++, p += 4)
		m->incarnation[i] = wire_ld32(p);
	/* A sender that knows fewer ids than PX_REPLICAS_MAX (membership) knows no
	 * incarnation of the others: 0, never what an earlier message left here. */
	for (uint32_t i = n_inc; i < PX_REPLICAS_MAX; i++)
		m->incarnation[i] = 0;

	/* From here p[0..body_len) is the body and body_len >= fixed. */
	switch (type) {
	case PX_MSG_PREVOTE:
	case PX_MSG_PREVOTE_REPLY:
	case PX_MSG_PREPARE:
	case PX_MSG_STATE_NEEDED:
		m->slot_lo = wire_ld64(p);
		m->commit = wire_ld64(p + 8);
		break;
	case PX_MSG_ACCEPTED:
		m->slot_hi = wire_ld64(p);
		m->commit = wire_ld64(p + 8);
		break;
	case PX_MSG_PROMISE:
		m->slot_lo = wire_ld64(p);
		m->slot_hi = wire_ld64(p + 8);
		m->commit = wire_ld64(p + 16);
		err = get_entries(p + 24, body_len - 24, m, &used);
		used += 24;
		break;
	case PX_MSG_RECOVER_REPLY:
		m->slot_lo = wire_ld64(p);
		m->slot_hi = wire_ld64(p + 8);
		m->commit = wire_ld64(p + 16);
		m->nonce = wire_ld64(p + 24);
		err = get_entries(p + 32, body_len - 32, m, &used);
		used += 32;
		break;
	case PX_MSG_ACCEPT:
		m->commit = wire_ld64(p);
		err = get_entries(p + 8, body_len - 8, m, &used);
		used += 8;
		break;
	case PX_MSG_RECOVER:
		m->slot_lo = wire_ld64(p);
		m->nonce = wire_ld64(p + 8);
		break;
	case PX_MSG_REQUEST:
		m->client_id = wire_ld64(p);
		m->seq = wire_ld64(p + 8);
		m->body_len = wire_ld32(p + 16);
		err = get_client_body(p + fixed, body_len - fixed, PX_CMD_BYTES_MAX, m, &used);
		used += fixed;
		break;
	case PX_MSG_REPLY:
		m->client_id = wire_ld64(p);
		m->seq = wire_ld64(p + 8);
		m->status = p[16];
		m->leader_hint = p[17];
		m->body_len = wire_ld32(p + 18);
		if (m->status >= PX_STATUS_MAX)
			return PX_WIRE_E_FIELD;
		if (m->leader_hint != PX_NODE_NONE && m->leader_hint >= n_replicas)
			return PX_WIRE_E_FIELD;
		err = get_client_body(p + fixed, body_len - fixed, PX_REPLY_BYTES_MAX, m, &used);
		used += fixed;
		break;
	case PX_MSG_SNAP_REQ:
		m->slot_lo = wire_ld64(p);
		m->slot_hi = wire_ld64(p + 8);
		m->nonce = wire_ld64(p + 16);
		m->snap_off = wire_ld64(p + 24);
		break;
	case PX_MSG_SNAP_CHUNK:
		m->slot_hi = wire_ld64(p);
		m->nonce = wire_ld64(p + 8);
		m->snap_total = wire_ld64(p + 16);
		m->snap_off = wire_ld64(p + 24);
		m->body_len = wire_ld32(p + 32);
		if (m->snap_off > m->snap_total)
			return PX_WIRE_E_FIELD;
		err = get_client_body(p + fixed, body_len - fixed, PX_SNAP_CHUNK_BYTES, m, &used);
		used += fixed;
		if (err == PX_WIRE_OK && m->body_len > m->snap_total - m->snap_off)
			return PX_WIRE_E_FIELD;
		break;
	case PX_MSG_RM:
		m->nonce = wire_ld64(p);
		m->slot_lo = wire_ld64(p + 8);
		m->slot_hi = wire_ld64(p + 16);
		m->body_len = wire_ld32(p + 24);
		err = get_client_body(p + fixed, body_len - fixed, PX_RM_BODY_MAX, m, &used);
		used += fixed;
		break;
	case PX_MSG_NACK:
	case PX_MSG_TIMEOUT_NOW:
	case PX_MSG_REFUSE:
	default:
		break;
	}
	if (err != PX_WIRE_OK)
		return err;
	if (!type_has_entries(type) && !type_has_body(type))
		used = fixed;
	if (used != body_len)
		return PX_WIRE_E_TRAILING;
	return PX_WIRE_OK;
}
