/* SPDX-License-Identifier: Apache-2.0
 * Wire codec (px_codec.h): every message type round-trips with representative, minimal
 * and maximal contents; the header layout matches docs/protocol.md byte for byte; every
 * decode error reason comes out of a crafted buffer; every truncation and a few thousand
 * seeded corruptions fail cleanly or decode to a message that re-encodes to the same
 * bytes (the encoding is canonical).
 *
 * Decodes of corrupted input run on exact-size heap copies so that ASan (meson setup
 * -Db_sanitize=address,undefined) sees any read past the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "px_batch.h"
#include "px_codec.h"
#include "wire_le.h"

#define CLUSTER 0xc1a55e01u

/* The largest message the codec can be asked for: full crash vector, 64 full slots. */
#define BIG_BYTES (PX_WIRE_HDR_BYTES + 4u * PX_REPLICAS_MAX + 64u + \
		   PX_MSG_ENTRIES_MAX * (PX_WIRE_ENTRY_HDR_BYTES + PX_SLOT_BYTES_MAX))

static const uint8_t msg_types[] = {
	PX_MSG_PREVOTE, PX_MSG_PREVOTE_REPLY, PX_MSG_PREPARE, PX_MSG_PROMISE,
	PX_MSG_ACCEPT, PX_MSG_ACCEPTED, PX_MSG_NACK, PX_MSG_TIMEOUT_NOW,
	PX_MSG_STATE_NEEDED, PX_MSG_RECOVER, PX_MSG_RECOVER_REPLY, PX_MSG_REQUEST,
	PX_MSG_REPLY,
};
#define N_TYPES (sizeof(msg_types) / sizeof(msg_types[0]))

enum variant { V_MIN, V_REP, V_MAX };

/* Backing store for entry values and bodies of sample messages. */
static uint8_t values[PX_MSG_ENTRIES_MAX][PX_SLOT_BYTES_MAX];
static uint32_t value_lens[PX_MSG_ENTRIES_MAX];
static uint8_t body_store[PX_CMD_BYTES_MAX + PX_REPLY_BYTES_MAX];
static uint8_t big[BIG_BYTES];
static uint8_t big2[BIG_BYTES];

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* splitmix64: seeded and reproducible. */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A batch of n commands of body bytes each into values[i]; returns its length. */
static uint32_t make_value(uint32_t i, uint32_t n, uint32_t body, uint32_t cap)
{
	static uint8_t cmd[PX_CMD_BYTES_MAX];
	uint32_t len = px_batch_begin(values[i], cap);

	for (uint32_t k = 0; k < n; k++) {
		struct px_cmd_ref c = { .client_id = 77 + k, .seq = i + 1, .len = body, .body = cmd };

		for (uint32_t b = 0; b < body; b++)
			cmd[b] = (uint8_t)(i * 13u + k * 5u + b);
		len = px_batch_add(values[i], len, cap, &c);
		assert_int_not_equal(len, 0);
	}
	value_lens[i] = len;
	return len;
}

static void add_entry(struct px_msg *m, uint64_t slot, uint64_t vballot, uint8_t flags,
		      uint32_t vi)
{
	struct px_entry *e = &m->entries[m->n_entries++];

	e->slot = slot;
	e->vballot = vballot;
	e->flags = flags;
	e->len = value_lens[vi];
	e->value = values[vi];
}

static void fill_bytes(uint8_t *p, uint32_t n, uint8_t salt)
{
	for (uint32_t i = 0; i < n; i++)
		p[i] = (uint8_t)(salt + i * 3u);
}

/*
 * A sample message of a type. V_MIN: zeros and empty lists; V_REP: what a 3-replica
 * cluster sends in normal operation; V_MAX: every count and length at its bound, every
 * allowed flag, all-ones numbers (9 replicas).
 */
static void sample(uint8_t type, enum variant v, struct px_msg *m)
{
	uint8_t n_rep = v == V_MAX ? PX_REPLICAS_MAX : 3;
	uint64_t big_u64 = UINT64_MAX;

	memset(m, 0, sizeof(*m));
	m->type = type;
	m->cluster_id = CLUSTER;
	m->from = type == PX_MSG_REQUEST ? PX_NODE_NONE : (uint8_t)(n_rep - 1);
	m->to = PX_NODE_NONE;
	if (type != PX_MSG_REQUEST && type != PX_MSG_REPLY)
		m->n_inc = n_rep;
	else
		m->n_inc = v == V_MAX ? n_rep : 0;
	for (uint32_t i = 0; i < m->n_inc; i++)
		m->incarnation[i] = v == V_MAX ? UINT32_MAX - i : (v == V_REP ? i + 1 : 0);
	if (v == V_REP) {
		m->config_epoch = 3;
		m->ballot = px_ballot_make(7, m->from == PX_NODE_NONE ? 0 : m->from);
		m->to = 0;
		m->flags = px_wire_type_flags(type) & (PX_MF_LAST | PX_MF_GRANT | PX_MF_FORCE);
	} else if (v == V_MAX) {
		m->config_epoch = UINT32_MAX;
		m->ballot = big_u64;
		m->to = (uint8_t)(n_rep - 2);
		m->flags = px_wire_type_flags(type);
	}

	switch (type) {
	case PX_MSG_PREVOTE:
	case PX_MSG_PREVOTE_REPLY:
	case PX_MSG_PREPARE:
	case PX_MSG_STATE_NEEDED:
		m->slot_lo = v == V_MAX ? big_u64 : (v == V_REP ? 1001 : 0);
		m->commit = v == V_MAX ? big_u64 - 1 : (v == V_REP ? 1000 : 0);
		break;
	case PX_MSG_ACCEPTED:
		m->slot_hi = v == V_MAX ? big_u64 : (v == V_REP ? 1040 : 0);
		m->commit = v == V_MAX ? big_u64 - 1 : (v == V_REP ? 1000 : 0);
		break;
	case PX_MSG_RECOVER:
		m->slot_lo = v == V_MAX ? big_u64 : (v == V_REP ? 33 : 0);
		m->nonce = v == V_MAX ? big_u64 : (v == V_REP ? 0x1234567890abcdefull : 0);
		break;
	case PX_MSG_PROMISE:
	case PX_MSG_RECOVER_REPLY:
	case PX_MSG_ACCEPT:
		if (type != PX_MSG_ACCEPT) {
			m->slot_lo = v == V_MAX ? 1 : (v == V_REP ? 990 : 0);
			m->slot_hi = v == V_MAX ? big_u64 : (v == V_REP ? 1054 : 0);
		}
		if (type == PX_MSG_RECOVER_REPLY)
			m->nonce = v == V_MAX ? big_u64 : (v == V_REP ? 0xfeedull : 0);
		m->commit = v == V_MAX ? big_u64 : (v == V_REP ? 1000 : 0);
		if (v == V_REP) {
			/* One ACCEPT = one slot of 32 commands of 16 bytes (the bench's shape);
			 * a PROMISE page with a hole, a no-op and a chosen slot. */
			make_value(0, 32, 16, PX_SLOT_BYTES_MAX);
			add_entry(m, 1001, m->ballot, 0, 0);
			if (type != PX_MSG_ACCEPT) {
				make_value(1, 0, 0, PX_SLOT_BYTES_MAX);
				make_value(2, 3, 100, PX_SLOT_BYTES_MAX);
				add_entry(m, 1003, px_ballot_make(5, 1), PX_EF_CHOSEN, 1);
				add_entry(m, 1050, px_ballot_make(6, 2), 0, 2);
			}
		} else if (v == V_MAX) {
			/* 64 entries, each a full slot, the last slot at UINT64_MAX. */
			for (uint32_t i = 0; i < PX_MSG_ENTRIES_MAX; i++) {
				make_value(i, 4, (PX_SLOT_BYTES_MAX - 4) / 4 - PX_CMD_HDR_BYTES,
					   PX_SLOT_BYTES_MAX);
				assert_int_equal(value_lens[i], PX_SLOT_BYTES_MAX);
				add_entry(m, big_u64 - PX_MSG_ENTRIES_MAX + 1 + i, big_u64,
					  PX_EF_CHOSEN, i);
			}
		}
		break;
	case PX_MSG_REQUEST:
		m->client_id = v == V_MAX ? big_u64 : (v == V_REP ? 42 : 0);
		m->seq = v == V_MAX ? big_u64 : (v == V_REP ? 7 : 0);
		m->body_len = v == V_MAX ? PX_CMD_BYTES_MAX : (v == V_REP ? 16 : 0);
		fill_bytes(body_store, m->body_len, 9);
		m->body = m->body_len ? body_store : NULL;
		break;
	case PX_MSG_REPLY:
		m->client_id = v == V_MAX ? big_u64 : (v == V_REP ? 42 : 0);
		m->seq = v == V_MAX ? big_u64 : (v == V_REP ? 7 : 0);
		m->status = v == V_MAX ? PX_STATUS_MAX - 1 : (v == V_REP ? PX_NOT_LEADER : PX_OK);
		m->leader_hint = v == V_MAX ? PX_NODE_NONE : (v == V_REP ? 2 : 0);
		m->body_len = v == V_MAX ? PX_REPLY_BYTES_MAX : (v == V_REP ? 8 : 0);
		fill_bytes(body_store, m->body_len, 11);
		m->body = m->body_len ? body_store : NULL;
		break;
	default:
		break;
	}
}

static uint8_t n_replicas_of(const struct px_msg *m)
{
	/* Samples use 9 replicas when the crash vector or an id says so, else 3. */
	if (m->n_inc == PX_REPLICAS_MAX || (m->from != PX_NODE_NONE && m->from >= 3) ||
	    (m->to != PX_NODE_NONE && m->to >= 3))
		return PX_REPLICAS_MAX;
	return 3;
}

/* Field-by-field equality; values and bodies by content (pointers differ). Also checks
 * that the entries and crash vector slots past the counts are zero in b (decoded). */
static void assert_msg_equal(const struct px_msg *a, const struct px_msg *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->from, b->from);
	assert_int_equal(a->to, b->to);
	assert_int_equal(a->cluster_id, b->cluster_id);
	assert_int_equal(a->config_epoch, b->config_epoch);
	assert_int_equal(a->ballot, b->ballot);
	assert_int_equal(a->n_inc, b->n_inc);
	for (uint32_t i = 0; i < PX_REPLICAS_MAX; i++)
		assert_int_equal(i < a->n_inc ? a->incarnation[i] : 0, b->incarnation[i]);
	assert_int_equal(a->slot_lo, b->slot_lo);
	assert_int_equal(a->slot_hi, b->slot_hi);
	assert_int_equal(a->commit, b->commit);
	assert_int_equal(a->nonce, b->nonce);
	assert_int_equal(a->n_entries, b->n_entries);
	for (uint32_t i = 0; i < PX_MSG_ENTRIES_MAX; i++) {
		const struct px_entry *ea = &a->entries[i], *eb = &b->entries[i];

		if (i >= a->n_entries)
			break; /* entries past n_entries are undefined (never zeroed) */
		assert_int_equal(ea->slot, eb->slot);
		assert_int_equal(ea->vballot, eb->vballot);
		assert_int_equal(ea->flags, eb->flags);
		assert_int_equal(ea->len, eb->len);
		assert_memory_equal(ea->value, eb->value, ea->len);
	}
	assert_int_equal(a->client_id, b->client_id);
	assert_int_equal(a->seq, b->seq);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->leader_hint, b->leader_hint);
	assert_int_equal(a->body_len, b->body_len);
	if (a->body_len != 0)
		assert_memory_equal(a->body, b->body, a->body_len);
	else
		assert_null(b->body);
}

/* Decodes a copy of exactly len bytes, so ASan flags any over-read. */
static enum px_wire_err decode_exact(const uint8_t *buf, size_t len, uint8_t n_rep,
				     struct px_msg *m, uint8_t **keep)
{
	uint8_t *copy = malloc(len ? len : 1);
	enum px_wire_err e;

	assert_non_null(copy);
	memcpy(copy, buf, len);
	e = px_decode(copy, len, CLUSTER, n_rep, m);
	if (keep != NULL)
		*keep = copy;
	else
		free(copy);
	return e;
}

/* Sets total_len and body_len to agree with a buffer of len bytes. */
static void fix_lengths(uint8_t *buf, size_t len)
{
	uint32_t n_inc = buf[PX_WIRE_OFF_N_INC];

	wire_st32(buf + PX_WIRE_OFF_TOTAL_LEN, (uint32_t)len);
	wire_st32(buf + PX_WIRE_OFF_BODY_LEN, (uint32_t)(len - PX_WIRE_HDR_BYTES - 4 * n_inc));
}

static void roundtrip(const struct px_msg *m)
{
	static struct px_msg d;
	size_t len = px_encoded_len(m);
	uint8_t n_rep = n_replicas_of(m);

	assert_true(len <= sizeof(big));
	assert_int_equal(px_encode(m, big, sizeof(big)), len);
	assert_int_equal(wire_ld32(big + PX_WIRE_OFF_TOTAL_LEN), len);
	assert_int_equal(px_decode(big, len, CLUSTER, n_rep, &d), PX_WIRE_OK);
	assert_msg_equal(m, &d);
	/* Zero copy: values and bodies point into the buffer. */
	for (uint32_t i = 0; i < d.n_entries; i++)
		assert_true(d.entries[i].value > big && d.entries[i].value < big + len);
	if (d.body_len != 0)
		assert_true(d.body > big && d.body + d.body_len == big + len);
	/* Canonical: the decoded message encodes to the same bytes. */
	assert_int_equal(px_encode(&d, big2, sizeof(big2)), len);
	assert_memory_equal(big, big2, len);
}

static void test_roundtrip_all_types(void **state)
{
	static struct px_msg m;

	(void)state;
	for (uint32_t t = 0; t < N_TYPES; t++) {
		for (int v = V_MIN; v <= V_MAX; v++) {
			sample(msg_types[t], (enum variant)v, &m);
			roundtrip(&m);
		}
	}
}

static void expect_err(const uint8_t *buf, size_t len, uint32_t cluster, uint8_t n_rep,
		       enum px_wire_err want);

/* RM (15), node/'s setup of the remote-memory transport: header fields and an opaque
 * body of at most PX_RM_BODY_MAX bytes, both ways; a longer body is refused. */
static void test_rm_message(void **state)
{
	static struct px_msg m;
	static uint8_t body[PX_RM_BODY_MAX];

	(void)state;
	for (uint32_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 7u + 1u);
	memset(&m, 0, sizeof(m));
	m.type = PX_MSG_RM;
	m.from = 1;
	m.to = 2;
	m.cluster_id = CLUSTER;
	m.config_epoch = 1;
	m.ballot = 0x202;
	m.nonce = 77;
	m.slot_lo = 5;
	m.slot_hi = 1029;
	for (uint32_t len = 0; len <= PX_RM_BODY_MAX; len += 63u) {
		m.flags = len != 0 ? PX_MF_RM_GRANT : 0;
		m.body = len != 0 ? body : NULL;
		m.body_len = len;
		roundtrip(&m);
	}
	m.flags = PX_MF_RM_GRANT;
	m.body = body;
	m.body_len = PX_RM_BODY_MAX;
	size_t len = px_encode(&m, big, sizeof(big));
	assert_true(len > PX_RM_BODY_MAX);
	/* One byte more than the bound, the header's lengths agreeing. */
	big[len] = 0;
	wire_st32(big + len - PX_RM_BODY_MAX - 4u, PX_RM_BODY_MAX + 1u);
	wire_st32(big + PX_WIRE_OFF_TOTAL_LEN, (uint32_t)len + 1u);
	wire_st32(big + PX_WIRE_OFF_BODY_LEN, wire_ld32(big + PX_WIRE_OFF_BODY_LEN) + 1u);
	expect_err(big, len + 1u, CLUSTER, 3, PX_WIRE_E_CMD_LEN);
}

static void test_roundtrip_maximal_sizes(void **state)
{
	static struct px_msg m;

	(void)state;
	sample(PX_MSG_ACCEPT, V_MAX, &m);
	assert_int_equal(px_encoded_len(&m),
			 PX_WIRE_HDR_BYTES + 4 * PX_REPLICAS_MAX + 12 +
				 PX_MSG_ENTRIES_MAX * (PX_WIRE_ENTRY_HDR_BYTES + PX_SLOT_BYTES_MAX));
	sample(PX_MSG_REQUEST, V_MAX, &m);
	assert_int_equal(px_encoded_len(&m),
			 PX_WIRE_HDR_BYTES + 4 * PX_REPLICAS_MAX + 20 + PX_CMD_BYTES_MAX);
	sample(PX_MSG_REPLY, V_MAX, &m);
	assert_int_equal(px_encoded_len(&m),
			 PX_WIRE_HDR_BYTES + 4 * PX_REPLICAS_MAX + 22 + PX_REPLY_BYTES_MAX);
	assert_true(px_encoded_len(&m) <= PX_MSG_BYTES_MAX);
	/* The largest single-slot ACCEPT a leader sends fits one message. */
	sample(PX_MSG_ACCEPT, V_MAX, &m);
	m.n_entries = 1;
	assert_true(px_encoded_len(&m) <= PX_MSG_BYTES_MAX);
	roundtrip(&m);
}

static void test_header_layout(void **state)
{
	/* docs/protocol.md's header table, checked against the bytes. */
	static const uint8_t want[] = {
		0x50, 0x58,             /* magic "PX" */
		5,                      /* version */
		PX_MSG_PREPARE,         /* type */
		PX_MF_FORCE,            /* flags */
		2,                      /* from */
		PX_NODE_NONE,           /* to */
		3,                      /* n_inc */
		0x01, 0x5e, 0xa5, 0xc1, /* cluster_id */
		0x04, 0x03, 0x02, 0x01, /* config_epoch */
		0x02, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* ballot */
		84, 0, 0, 0,            /* total_len = 56 + 12 + 16 */
		16, 0, 0, 0,            /* body_len */
		0, 0, 0, 0, 0, 0, 0, 0, /* reserved */
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* uuid lo */
		0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11, /* uuid hi */
		1, 0, 0, 0, 2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, /* crash vector */
		0x11, 0, 0, 0, 0, 0, 0, 0,  /* slot_lo */
		0x10, 0, 0, 0, 0, 0, 0, 0,  /* commit */
	};
	struct px_msg m;
	uint8_t buf[128];

	(void)state;
	memset(&m, 0, sizeof(m));
	m.type = PX_MSG_PREPARE;
	m.flags = PX_MF_FORCE;
	m.from = 2;
	m.to = PX_NODE_NONE;
	m.cluster_id = CLUSTER;
	m.config_epoch = 0x01020304;
	m.uuid.lo = 0x0102030405060708ull;
	m.uuid.hi = 0x1112131415161718ull;
	m.ballot = px_ballot_make(0x01020304050607ull, 2);
	m.n_inc = 3;
	m.incarnation[0] = 1;
	m.incarnation[1] = 2;
	m.incarnation[2] = UINT32_MAX;
	m.slot_lo = 0x11;
	m.commit = 0x10;
	assert_int_equal(px_encoded_len(&m), sizeof(want));
	assert_int_equal(px_encode(&m, buf, sizeof(buf)), sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(px_ballot_round(m.ballot), 0x01020304050607ull);
	assert_int_equal(px_ballot_node(m.ballot), 2);
}

static void test_body_layouts(void **state)
{
	/* The byte offsets of docs/protocol.md's body tables, spot-checked per type. */
	static struct px_msg m;
	const uint8_t *b = big + PX_WIRE_HDR_BYTES + 12;  /* 3-entry crash vector */

	(void)state;
	sample(PX_MSG_RECOVER_REPLY, V_REP, &m);
	px_encode(&m, big, sizeof(big));
	assert_int_equal(wire_ld32(b + 0), 990);
	assert_int_equal(wire_ld32(b + 8), 1054);
	assert_int_equal(wire_ld32(b + 16), 1000);
	assert_int_equal(wire_ld32(b + 24), 0xfeed);
	assert_int_equal(wire_ld32(b + 32), 3);                 /* n_entries */
	assert_int_equal(wire_ld32(b + 36), 1001);              /* entry 0 slot */
	assert_int_equal(wire_ld32(b + 44), m.ballot);          /* entry 0 vballot (low word) */
	assert_int_equal(b[52], 0);                        /* entry 0 flags */
	assert_int_equal(wire_ld32(b + 53), value_lens[0]);     /* entry 0 len */
	assert_memory_equal(b + 57, values[0], value_lens[0]);

	sample(PX_MSG_ACCEPT, V_REP, &m);
	px_encode(&m, big, sizeof(big));
	assert_int_equal(wire_ld32(b + 0), 1000);               /* commit */
	assert_int_equal(wire_ld32(b + 8), 1);                  /* n_entries */
	assert_int_equal(wire_ld32(b + 12), 1001);              /* entry slot */

	sample(PX_MSG_ACCEPTED, V_REP, &m);
	px_encode(&m, big, sizeof(big));
	assert_int_equal(wire_ld32(b + 0), 1040);               /* slot_hi */
	assert_int_equal(wire_ld32(b + 8), 1000);               /* commit */

	sample(PX_MSG_RECOVER, V_REP, &m);
	assert_int_equal(px_encode(&m, big, sizeof(big)), PX_WIRE_HDR_BYTES + 12 + 16);
	assert_int_equal(wire_ld32(b + 0), 33);                 /* slot_lo */
	assert_int_equal(wire_ld32(b + 8), 0x90abcdef);         /* nonce (low word) */
	assert_int_equal(wire_ld32(b + 12), 0x12345678);        /* nonce (high word) */

	sample(PX_MSG_REPLY, V_REP, &m);
	px_encode(&m, big, sizeof(big));
	b = big + PX_WIRE_HDR_BYTES;                       /* no crash vector */
	assert_int_equal(wire_ld32(b + 0), 42);
	assert_int_equal(wire_ld32(b + 8), 7);
	assert_int_equal(b[16], PX_NOT_LEADER);
	assert_int_equal(b[17], 2);
	assert_int_equal(wire_ld32(b + 18), 8);
	assert_memory_equal(b + 22, body_store, 8);

	sample(PX_MSG_REQUEST, V_REP, &m);
	px_encode(&m, big, sizeof(big));
	assert_int_equal(wire_ld32(b + 0), 42);
	assert_int_equal(wire_ld32(b + 8), 7);
	assert_int_equal(wire_ld32(b + 16), 16);
	assert_memory_equal(b + 20, body_store, 16);
}

static void test_encode_cap(void **state)
{
	static struct px_msg m;
	uint8_t buf[4096];

	(void)state;
	for (uint32_t t = 0; t < N_TYPES; t++) {
		size_t len;

		sample(msg_types[t], V_REP, &m);
		len = px_encoded_len(&m);
		assert_true(len + 16 <= sizeof(buf));
		for (size_t cap = 0; cap < len; cap++) {
			memset(buf, 0xaa, sizeof(buf));
			assert_int_equal(px_encode(&m, buf, cap), 0);
			for (size_t i = 0; i < sizeof(buf); i++)
				assert_int_equal(buf[i], 0xaa);
		}
		memset(buf, 0xaa, sizeof(buf));
		assert_int_equal(px_encode(&m, buf, len), len);
		assert_int_equal(px_encode(&m, buf, len + 16), len);
		for (size_t i = len; i < len + 16; i++)
			assert_int_equal(buf[i], 0xaa);
	}
	sample(PX_MSG_NACK, V_MIN, &m);
	assert_int_equal(px_encode(&m, NULL, 0), 0);
}

static void test_deterministic(void **state)
{
	/* Fields a type does not carry never reach the wire. */
	static struct px_msg clean, dirty;
	uint8_t a[4096], b[4096];

	(void)state;
	for (uint32_t t = 0; t < N_TYPES; t++) {
		uint8_t type = msg_types[t];
		size_t la, lb;

		sample(type, V_REP, &clean);
		dirty = clean;
		for (uint32_t i = dirty.n_inc; i < PX_REPLICAS_MAX; i++)
			dirty.incarnation[i] = 0xdead;
		if (type != PX_MSG_PROMISE && type != PX_MSG_RECOVER_REPLY &&
		    type != PX_MSG_PREVOTE && type != PX_MSG_PREVOTE_REPLY &&
		    type != PX_MSG_PREPARE && type != PX_MSG_STATE_NEEDED &&
		    type != PX_MSG_RECOVER)
			dirty.slot_lo = 0xdead;
		if (type != PX_MSG_PROMISE && type != PX_MSG_RECOVER_REPLY &&
		    type != PX_MSG_ACCEPTED)
			dirty.slot_hi = 0xdead;
		if (type == PX_MSG_NACK || type == PX_MSG_TIMEOUT_NOW || type == PX_MSG_RECOVER ||
		    type == PX_MSG_REQUEST || type == PX_MSG_REPLY)
			dirty.commit = 0xdead;
		if (type != PX_MSG_RECOVER && type != PX_MSG_RECOVER_REPLY)
			dirty.nonce = 0xdead;
		if (type != PX_MSG_PROMISE && type != PX_MSG_RECOVER_REPLY &&
		    type != PX_MSG_ACCEPT) {
			dirty.n_entries = 9999;  /* not even in range */
			dirty.entries[0].len = 0xdeadbeef;
		} else {
			dirty.entries[dirty.n_entries].len = 0xdeadbeef;
		}
		if (type != PX_MSG_REQUEST && type != PX_MSG_REPLY) {
			dirty.client_id = 0xdead;
			dirty.seq = 0xdead;
			dirty.body_len = 0xdeadbeef;
		}
		if (type != PX_MSG_REPLY) {
			dirty.status = 0xee;
			dirty.leader_hint = 0xee;
		}
		la = px_encode(&clean, a, sizeof(a));
		lb = px_encode(&dirty, b, sizeof(b));
		assert_int_not_equal(la, 0);
		assert_int_equal(la, lb);
		assert_int_equal(px_encoded_len(&dirty), la);
		assert_memory_equal(a, b, la);
		/* And again: no hidden state. */
		assert_int_equal(px_encode(&clean, b, sizeof(b)), la);
		assert_memory_equal(a, b, la);
	}
}

/* ------------------------------------------------------------------------------ */
/* Error reasons                                                                    */

static bool seen[PX_WIRE_E_MAX];

static void expect_err(const uint8_t *buf, size_t len, uint32_t cluster, uint8_t n_rep,
		       enum px_wire_err want)
{
	static struct px_msg d;
	uint8_t *copy = malloc(len ? len : 1);
	enum px_wire_err got;

	assert_non_null(copy);
	memcpy(copy, buf, len);
	got = px_decode(copy, len, cluster, n_rep, &d);
	free(copy);
	if (got != want)
		fail_msg("decode gave %s, want %s", px_wire_err_name(got),
			 px_wire_err_name(want));
	seen[want] = true;
}

/* Encodes a sample into buf; returns its length. */
static size_t enc(uint8_t type, enum variant v, uint8_t *buf, size_t cap, struct px_msg *m)
{
	size_t len;

	sample(type, v, m);
	len = px_encode(m, buf, cap);
	assert_int_not_equal(len, 0);
	return len;
}

/* Appends one raw entry (no checks) to an encoded ACCEPT with n entries so far. */
static size_t append_entry(uint8_t *buf, size_t len, uint64_t slot, uint64_t vballot,
			   uint8_t flags, uint32_t vlen, const uint8_t *value, uint32_t copy_len)
{
	uint8_t *p = buf + len;
	uint8_t *n_entries = buf + PX_WIRE_HDR_BYTES + 4 * buf[PX_WIRE_OFF_N_INC] + 8;

	assert_int_equal(buf[PX_WIRE_OFF_TYPE], PX_MSG_ACCEPT);
	wire_st64(p, slot);
	wire_st64(p + 8, vballot);
	p[16] = flags;
	wire_st32(p + 17, vlen);
	memcpy(p + 21, value, copy_len);
	wire_st32(n_entries, wire_ld32(n_entries) + 1);
	len += 21 + copy_len;
	fix_lengths(buf, len);
	return len;
}

static void test_errors(void **state)
{
	static uint8_t buf[PX_SLOT_BYTES_MAX * 2 + 8192];
	static uint8_t val[PX_SLOT_BYTES_MAX + 64];
	static struct px_msg m;
	uint8_t noop[4] = { 0, 0, 0, 0 };
	size_t len, l2;

	(void)state;
	memset(seen, 0, sizeof(seen));

	/* SHORT */
	len = enc(PX_MSG_NACK, V_REP, buf, sizeof(buf), &m);
	expect_err(buf, 0, CLUSTER, 3, PX_WIRE_E_SHORT);
	expect_err(buf, PX_WIRE_HDR_BYTES - 1, CLUSTER, 3, PX_WIRE_E_SHORT);
	assert_int_equal(px_decode(NULL, 100, CLUSTER, 3, &m), PX_WIRE_E_SHORT);

	/* MAGIC, VERSION, TYPE */
	buf[0] ^= 1;
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_MAGIC);
	buf[0] ^= 1;
	buf[1] = 'x';
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_MAGIC);
	buf[1] = 'X';
	buf[PX_WIRE_OFF_VERSION] = 0;
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_VERSION);
	buf[PX_WIRE_OFF_VERSION] = 1;   /* before read_round */
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_VERSION);
	buf[PX_WIRE_OFF_VERSION] = PX_WIRE_VERSION + 1u;
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_VERSION);
	buf[PX_WIRE_OFF_VERSION] = PX_WIRE_VERSION;
	for (unsigned t = 0; t < 256; t++) {
		bool known = (t >= PX_MSG_PREVOTE && t <= PX_MSG_RM) ||
			     t == PX_MSG_REQUEST || t == PX_MSG_REPLY;

		if (known)
			continue;
		buf[PX_WIRE_OFF_TYPE] = (uint8_t)t;
		expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_TYPE);
	}
	buf[PX_WIRE_OFF_TYPE] = PX_MSG_NACK;
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_OK);

	/* CLUSTER */
	expect_err(buf, len, CLUSTER + 1, 3, PX_WIRE_E_CLUSTER);
	expect_err(buf, len, 0, 3, PX_WIRE_E_CLUSTER);

	/* SENDER: replica ids are < n; a REQUEST comes from no node; a REPLY from one. */
	buf[PX_WIRE_OFF_FROM] = 3;
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_SENDER);
	buf[PX_WIRE_OFF_FROM] = PX_NODE_NONE;
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_SENDER);
	buf[PX_WIRE_OFF_FROM] = 2;
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_OK);
	len = enc(PX_MSG_REQUEST, V_REP, buf, sizeof(buf), &m);
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_OK);
	buf[PX_WIRE_OFF_FROM] = 0;
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_SENDER);
	len = enc(PX_MSG_REPLY, V_REP, buf, sizeof(buf), &m);
	buf[PX_WIRE_OFF_FROM] = PX_NODE_NONE;
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_SENDER);

	/* FIELD: destination out of range. */
	len = enc(PX_MSG_PREPARE, V_REP, buf, sizeof(buf), &m);
	buf[PX_WIRE_OFF_TO] = 3;
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_FIELD);
	buf[PX_WIRE_OFF_TO] = 2;
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_OK);
	buf[PX_WIRE_OFF_TO] = PX_NODE_NONE;
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_OK);

	/* INC_COUNT: replicas send 1..n entries (one per id up to the highest they know;
	 * n: the receiver's id bound); clients 0..n. */
	len = enc(PX_MSG_PREPARE, V_REP, buf, sizeof(buf), &m);
	expect_err(buf, len, CLUSTER, 5, PX_WIRE_OK);
	expect_err(buf, len, CLUSTER, 2, PX_WIRE_E_SENDER);
	buf[PX_WIRE_OFF_N_INC] = 255;
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_INC_COUNT);
	m.n_inc = 0;
	len = px_encode(&m, buf, sizeof(buf));
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_INC_COUNT);
	m.n_inc = 2;
	len = px_encode(&m, buf, sizeof(buf));
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_OK);
	m.n_inc = 4;
	len = px_encode(&m, buf, sizeof(buf));
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_INC_COUNT);
	len = enc(PX_MSG_REQUEST, V_REP, buf, sizeof(buf), &m);
	m.n_inc = 4;
	len = px_encode(&m, buf, sizeof(buf));
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_INC_COUNT);
	m.n_inc = 3;
	len = px_encode(&m, buf, sizeof(buf));
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_OK);
	expect_err(buf, len, CLUSTER, 5, PX_WIRE_OK);
	m.n_inc = 0;
	len = px_encode(&m, buf, sizeof(buf));
	expect_err(buf, len, CLUSTER, 5, PX_WIRE_OK);

	/* LENGTH: total_len disagrees with the buffer, or with body_len. */
	len = enc(PX_MSG_PREPARE, V_REP, buf, sizeof(buf), &m);
	expect_err(buf, len + 1, CLUSTER, 3, PX_WIRE_E_LENGTH);
	expect_err(buf, len - 1, CLUSTER, 3, PX_WIRE_E_LENGTH);
	wire_st32(buf + PX_WIRE_OFF_TOTAL_LEN, (uint32_t)len + 1);
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_LENGTH);
	wire_st32(buf + PX_WIRE_OFF_TOTAL_LEN, (uint32_t)len);
	wire_st32(buf + PX_WIRE_OFF_BODY_LEN, 15);
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_LENGTH);
	wire_st32(buf + PX_WIRE_OFF_BODY_LEN, UINT32_MAX);
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_LENGTH);
	wire_st32(buf + PX_WIRE_OFF_BODY_LEN, 16);
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_OK);
	/* Header and crash vector longer than the message. */
	len = enc(PX_MSG_NACK, V_REP, buf, sizeof(buf), &m);
	fix_lengths(buf, len - 4);
	expect_err(buf, len - 4, CLUSTER, 3, PX_WIRE_E_LENGTH);

	/* FIELD: reserved bytes, flags a type does not carry. */
	len = enc(PX_MSG_PREPARE, V_REP, buf, sizeof(buf), &m);
	buf[PX_WIRE_OFF_RESERVED + 7] = 1;
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_FIELD);
	buf[PX_WIRE_OFF_RESERVED + 7] = 0;
	for (uint32_t t = 0; t < N_TYPES; t++) {
		uint8_t allowed;

		len = enc(msg_types[t], V_REP, buf, sizeof(buf), &m);
		allowed = px_wire_type_flags(msg_types[t]);
		for (unsigned bit = 0; bit < 8; bit++) {
			buf[PX_WIRE_OFF_FLAGS] = (uint8_t)(1u << bit);
			expect_err(buf, len, CLUSTER, 3,
				   (allowed & (1u << bit)) ? PX_WIRE_OK : PX_WIRE_E_FIELD);
		}
	}

	/* BODY: fixed part missing; an entry header cut; a request body overrunning. */
	len = enc(PX_MSG_PREPARE, V_REP, buf, sizeof(buf), &m);
	fix_lengths(buf, len - 1);
	expect_err(buf, len - 1, CLUSTER, 3, PX_WIRE_E_BODY);
	len = enc(PX_MSG_ACCEPT, V_MIN, buf, sizeof(buf), &m);
	fix_lengths(buf, len - 4);  /* no n_entries */
	expect_err(buf, len - 4, CLUSTER, 3, PX_WIRE_E_BODY);
	len = enc(PX_MSG_ACCEPT, V_REP, buf, sizeof(buf), &m);
	wire_st32(buf + PX_WIRE_HDR_BYTES + 12 + 8, 2);  /* claims two entries, holds one */
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_BODY);
	len = enc(PX_MSG_REQUEST, V_REP, buf, sizeof(buf), &m);
	wire_st32(buf + PX_WIRE_HDR_BYTES + 16, 17);
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_BODY);
	len = enc(PX_MSG_REPLY, V_REP, buf, sizeof(buf), &m);
	wire_st32(buf + PX_WIRE_HDR_BYTES + 18, 9);
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_BODY);

	/* ENTRIES */
	len = enc(PX_MSG_ACCEPT, V_MIN, buf, sizeof(buf), &m);
	wire_st32(buf + PX_WIRE_HDR_BYTES + 12 + 8, PX_MSG_ENTRIES_MAX + 1);
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_ENTRIES);
	wire_st32(buf + PX_WIRE_HDR_BYTES + 12 + 8, UINT32_MAX);
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_ENTRIES);
	len = enc(PX_MSG_PROMISE, V_MIN, buf, sizeof(buf), &m);
	wire_st32(buf + PX_WIRE_HDR_BYTES + 12 + 24, PX_MSG_ENTRIES_MAX + 1);
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_ENTRIES);
	len = enc(PX_MSG_RECOVER_REPLY, V_MIN, buf, sizeof(buf), &m);
	wire_st32(buf + PX_WIRE_HDR_BYTES + 12 + 32, PX_MSG_ENTRIES_MAX + 1);
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_ENTRIES);

	/* ENTRY_LEN: overruns the body; over PX_SLOT_BYTES_MAX with the bytes present. */
	len = enc(PX_MSG_ACCEPT, V_MIN, buf, sizeof(buf), &m);
	l2 = append_entry(buf, len, 1, 1, 0, 5, noop, 4);
	expect_err(buf, l2, CLUSTER, 3, PX_WIRE_E_ENTRY_LEN);
	wire_st32(buf + PX_WIRE_HDR_BYTES + 12 + 8, 0);
	l2 = append_entry(buf, len, 1, 1, 0, UINT32_MAX, noop, 4);
	expect_err(buf, l2, CLUSTER, 3, PX_WIRE_E_ENTRY_LEN);
	wire_st32(buf + PX_WIRE_HDR_BYTES + 12 + 8, 0);
	memset(val, 0, sizeof(val));
	/* A batch of one command padded to one byte past the slot bound: structurally a
	 * batch, but too big for a slot. */
	{
		uint32_t vlen = PX_SLOT_BYTES_MAX + 1;
		uint32_t clen = vlen - PX_BATCH_HDR_BYTES - 4 * PX_CMD_HDR_BYTES;

		val[0] = 4;
		for (uint32_t k = 0, off = 4; k < 4; k++) {
			uint32_t cl = k < 3 ? clen / 4 : clen - 3 * (clen / 4);

			wire_st32(val + off + 16, cl);
			off += PX_CMD_HDR_BYTES + cl;
		}
		assert_true(px_batch_valid(val, vlen));
		l2 = append_entry(buf, len, 1, 1, 0, vlen, val, vlen);
		expect_err(buf, l2, CLUSTER, 3, PX_WIRE_E_ENTRY_LEN);
	}

	/* BATCH: empty value; a count with no commands; trailing byte inside the value. */
	len = enc(PX_MSG_ACCEPT, V_MIN, buf, sizeof(buf), &m);
	l2 = append_entry(buf, len, 1, 1, 0, 0, noop, 0);
	expect_err(buf, l2, CLUSTER, 3, PX_WIRE_E_BATCH);
	wire_st32(buf + PX_WIRE_HDR_BYTES + 12 + 8, 0);
	val[0] = 1;
	val[1] = val[2] = val[3] = 0;
	l2 = append_entry(buf, len, 1, 1, 0, 4, val, 4);
	expect_err(buf, l2, CLUSTER, 3, PX_WIRE_E_BATCH);
	wire_st32(buf + PX_WIRE_HDR_BYTES + 12 + 8, 0);
	l2 = append_entry(buf, len, 1, 1, 0, 5, noop, 4);
	buf[l2] = 0;
	fix_lengths(buf, l2 + 1);
	expect_err(buf, l2 + 1, CLUSTER, 3, PX_WIRE_E_BATCH);
	wire_st32(buf + PX_WIRE_HDR_BYTES + 12 + 8, 0);
	l2 = append_entry(buf, len, 1, 1, 0, 4, noop, 4);
	expect_err(buf, l2, CLUSTER, 3, PX_WIRE_OK);

	/* FIELD: entry slot 0, slots not strictly increasing, unknown entry flags. */
	wire_st32(buf + PX_WIRE_HDR_BYTES + 12 + 8, 0);
	l2 = append_entry(buf, len, 0, 1, 0, 4, noop, 4);
	expect_err(buf, l2, CLUSTER, 3, PX_WIRE_E_FIELD);
	wire_st32(buf + PX_WIRE_HDR_BYTES + 12 + 8, 0);
	l2 = append_entry(buf, len, 5, 1, 0, 4, noop, 4);
	l2 = append_entry(buf, l2, 5, 1, 0, 4, noop, 4);
	expect_err(buf, l2, CLUSTER, 3, PX_WIRE_E_FIELD);
	wire_st32(buf + PX_WIRE_HDR_BYTES + 12 + 8, 0);
	l2 = append_entry(buf, len, 5, 1, 0, 4, noop, 4);
	l2 = append_entry(buf, l2, 4, 1, 0, 4, noop, 4);
	expect_err(buf, l2, CLUSTER, 3, PX_WIRE_E_FIELD);
	wire_st32(buf + PX_WIRE_HDR_BYTES + 12 + 8, 0);
	l2 = append_entry(buf, len, 5, 1, 0, 4, noop, 4);
	l2 = append_entry(buf, l2, 6, 1, PX_EF_CHOSEN, 4, noop, 4);
	expect_err(buf, l2, CLUSTER, 3, PX_WIRE_OK);
	wire_st32(buf + PX_WIRE_HDR_BYTES + 12 + 8, 0);
	l2 = append_entry(buf, len, 5, 1, 0x02, 4, noop, 4);
	expect_err(buf, l2, CLUSTER, 3, PX_WIRE_E_FIELD);
	wire_st32(buf + PX_WIRE_HDR_BYTES + 12 + 8, 0);
	l2 = append_entry(buf, len, 5, 1, 0x80, 4, noop, 4);
	expect_err(buf, l2, CLUSTER, 3, PX_WIRE_E_FIELD);

	/* FIELD: REPLY status and leader hint. */
	len = enc(PX_MSG_REPLY, V_REP, buf, sizeof(buf), &m);
	buf[PX_WIRE_HDR_BYTES + 16] = PX_STATUS_MAX;
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_FIELD);
	buf[PX_WIRE_HDR_BYTES + 16] = 0xff;
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_FIELD);
	buf[PX_WIRE_HDR_BYTES + 16] = PX_BAD_COMMAND;
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_OK);
	buf[PX_WIRE_HDR_BYTES + 17] = 3;
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_E_FIELD);
	buf[PX_WIRE_HDR_BYTES + 17] = PX_NODE_NONE;
	expect_err(buf, len, CLUSTER, 3, PX_WIRE_OK);

	/* CMD_LEN: request and reply bodies one byte over, with the bytes present. */
	sample(PX_MSG_REQUEST, V_MAX, &m);
	len = px_encode(&m, buf, sizeof(buf));
	buf[len] = 0;
	wire_st32(buf + PX_WIRE_HDR_BYTES + 36 + 16, PX_CMD_BYTES_MAX + 1);
	fix_lengths(buf, len + 1);
	expect_err(buf, len + 1, CLUSTER, 9, PX_WIRE_E_CMD_LEN);
	sample(PX_MSG_REPLY, V_MAX, &m);
	len = px_encode(&m, buf, sizeof(buf));
	buf[len] = 0;
	wire_st32(buf + PX_WIRE_HDR_BYTES + 36 + 18, PX_REPLY_BYTES_MAX + 1);
	fix_lengths(buf, len + 1);
	expect_err(buf, len + 1, CLUSTER, 9, PX_WIRE_E_CMD_LEN);

	/* TRAILING: a byte after every kind of body. */
	for (uint32_t t = 0; t < N_TYPES; t++) {
		len = enc(msg_types[t], V_REP, buf, sizeof(buf), &m);
		buf[len] = 0;
		fix_lengths(buf, len + 1);
		expect_err(buf, len + 1, CLUSTER, 3, PX_WIRE_E_TRAILING);
	}

	/* Every reason has been produced. */
	for (int e = PX_WIRE_E_SHORT; e < PX_WIRE_E_MAX; e++)
		if (!seen[e])
			fail_msg("no test produced %s", px_wire_err_name((enum px_wire_err)e));
}

static void test_err_names(void **state)
{
	(void)state;
	for (int a = 0; a < PX_WIRE_E_MAX; a++) {
		const char *na = px_wire_err_name((enum px_wire_err)a);

		assert_non_null(na);
		assert_string_not_equal(na, "unknown");
		for (int b = 0; b < a; b++)
			assert_string_not_equal(na, px_wire_err_name((enum px_wire_err)b));
	}
	assert_string_equal(px_wire_err_name(PX_WIRE_OK), "ok");
	assert_string_equal(px_wire_err_name(PX_WIRE_E_MAX), "unknown");
	assert_string_equal(px_wire_err_name((enum px_wire_err)-1), "unknown");
}

/* ------------------------------------------------------------------------------ */
/* Truncation and corruption                                                        */

static void test_truncation(void **state)
{
	static struct px_msg m, d;
	static uint8_t buf[8192];

	(void)state;
	for (uint32_t t = 0; t < N_TYPES; t++) {
		for (int v = V_MIN; v <= V_REP; v++) {
			size_t len;

			sample(msg_types[t], (enum variant)v, &m);
			len = px_encode(&m, buf, sizeof(buf));
			assert_int_not_equal(len, 0);
			for (size_t l = 0; l < len; l++) {
				static uint8_t cut[8192];
				enum px_wire_err e;

				/* As received: the header says more than arrived. */
				e = decode_exact(buf, l, n_replicas_of(&m), &d, NULL);
				assert_int_equal(e, l < PX_WIRE_HDR_BYTES ? PX_WIRE_E_SHORT
									   : PX_WIRE_E_LENGTH);
				/* Lengths patched to agree: the body parser sees the cut. */
				if (l < PX_WIRE_HDR_BYTES + 4u * m.n_inc)
					continue;
				memcpy(cut, buf, l);
				fix_lengths(cut, l);
				e = decode_exact(cut, l, n_replicas_of(&m), &d, NULL);
				assert_int_not_equal(e, PX_WIRE_OK);
			}
			assert_int_equal(decode_exact(buf, len, n_replicas_of(&m), &d, NULL),
					 PX_WIRE_OK);
		}
	}
}

static void test_truncation_maximal(void **state)
{
	/* Too big for every prefix: the boundaries of each entry and a stride between. */
	static struct px_msg m, d;
	size_t len;

	(void)state;
	sample(PX_MSG_ACCEPT, V_MAX, &m);
	len = px_encode(&m, big, sizeof(big));
	/* Only the header's lengths change between tries: copy the bytes once. */
	memcpy(big2, big, len);
	for (size_t l = PX_WIRE_HDR_BYTES + 4u * PX_REPLICAS_MAX; l < len; l += 997) {
		fix_lengths(big2, l);
		assert_int_not_equal(px_decode(big2, l, CLUSTER, 9, &d), PX_WIRE_OK);
	}
	for (uint32_t i = 0; i <= PX_MSG_ENTRIES_MAX; i++) {
		size_t at = PX_WIRE_HDR_BYTES + 4u * PX_REPLICAS_MAX + 12 +
			    i * (size_t)(PX_WIRE_ENTRY_HDR_BYTES + PX_SLOT_BYTES_MAX);

		for (size_t l = at - 1; l <= at + PX_WIRE_ENTRY_HDR_BYTES + 1 && l < len; l++) {
			fix_lengths(big2, l);
			assert_int_not_equal(px_decode(big2, l, CLUSTER, 9, &d), PX_WIRE_OK);
		}
	}
	assert_int_equal(px_decode(big, len, CLUSTER, 9, &d), PX_WIRE_OK);
}

static void test_random_flips(void **state)
{
	static struct px_msg m, d;
	static uint8_t orig[8192], mut[8192], re[8192];
	uint32_t ok = 0, bad = 0, reasons = 0;
	bool reason_seen[PX_WIRE_E_MAX] = { false };

	(void)state;
	rng_state = 0xc0dec5eedull;
	for (int iter = 0; iter < 6000; iter++) {
		uint8_t type = msg_types[rng() % N_TYPES];
		enum variant v = (enum variant)(rng() % 2 ? V_REP : V_MIN);
		uint32_t flips = 1 + (uint32_t)(rng() % 4);
		size_t len, l;
		uint8_t *keep;
		enum px_wire_err e;

		sample(type, v, &m);
		len = px_encode(&m, orig, sizeof(orig));
		memcpy(mut, orig, len);
		l = len;
		for (uint32_t f = 0; f < flips; f++) {
			/* Bias toward the header and body heads, where the structure is. */
			size_t at = rng() % 2 ? rng() % (len < 96 ? len : 96) : rng() % len;

			mut[at] ^= (uint8_t)(1 + rng() % 255);
		}
		switch (rng() % 8) {
		case 0:  /* cut, lengths patched */
			l = PX_WIRE_HDR_BYTES + rng() % (len - PX_WIRE_HDR_BYTES + 1);
			fix_lengths(mut, l);
			break;
		case 1:  /* grow, lengths patched */
			l = len + 1 + rng() % 8;
			memset(mut + len, (int)(rng() & 0xff), l - len);
			fix_lengths(mut, l);
			break;
		default:
			break;
		}
		e = decode_exact(mut, l, n_replicas_of(&m), &d, &keep);
		if (e == PX_WIRE_OK) {
			/* Canonical: the decoded message re-encodes to the very same bytes. */
			size_t rl = px_encode(&d, re, sizeof(re));

			assert_int_equal(rl, l);
			assert_memory_equal(re, mut, l);
			ok++;
		} else {
			assert_true(e > PX_WIRE_OK && e < PX_WIRE_E_MAX);
			if (!reason_seen[e])
				reasons++;
			reason_seen[e] = true;
			bad++;
		}
		free(keep);
	}
	/* Both outcomes and most reasons happen, or this proves nothing. */
	assert_true(ok > 100);
	assert_true(bad > 1000);
	assert_true(reasons >= 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_all_types),
		cmocka_unit_test(test_roundtrip_maximal_sizes),
		cmocka_unit_test(test_rm_message),
		cmocka_unit_test(test_header_layout),
		cmocka_unit_test(test_body_layouts),
		cmocka_unit_test(test_encode_cap),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_err_names),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_truncation_maximal),
		cmocka_unit_test(test_random_flips),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
