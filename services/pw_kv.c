/* SPDX-License-Identifier: Apache-2.0
 * pw_kv: a replicated key-value store (encodings in pw_kv.h).
 *
 * Memory, all in the arena:
 *   - index[cap]: open-addressing buckets {low 32 bits of the key hash, entry}, linear
 *     probing, cap = next power of two >= 2 * max_keys (load <= 1/2, so there is
 *     always an empty bucket and every probe ends), backward-shift deletion;
 *   - entries[max_keys]: fixed-stride records holding the key and the value inline.
 * Entries are handed out 0, 1, 2, ... and then from a free list of deleted ones.
 * Where an entry lives is invisible from outside (replies and hash() depend only on
 * the contents), so replicas that placed entries differently still agree.
 *
 * Every command is validated before anything changes; a rejected one changes nothing.
 */
#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "pw_kv.h"

#define ENTRY_NIL UINT32_MAX
#define HASH_MUL 0x9e3779b97f4a7c15ull

/** One stored key and value; the key is at data[0], the value at data[max_key_bytes]. */
struct kv_entry {
	/** In use: the value's length. Free: the next free entry (ENTRY_NIL ends). */
	uint32_t value_len;
	uint32_t key_len;
	uint8_t data[];
};

/** One index bucket. entry == ENTRY_NIL: empty. */
struct kv_bucket {
	uint32_t hash32;   /* low 32 bits of the key hash: picks the home bucket, and
	                    * rules out most non-matching keys without reading the entry */
	uint32_t entry;
};

struct pw_kv {
	uint32_t max_keys;
	uint32_t max_key_bytes;
	uint32_t max_value_bytes;
	uint32_t stride;       /**< bytes per entry, a multiple of 8 */
	uint32_t n_keys;       /**< Invariant: n_keys <= max_keys */
	uint32_t n_fresh;      /**< entries [n_fresh, max_keys) were never used */
	uint32_t free_head;    /**< deleted entries, linked through value_len */
	uint32_t index_mask;
	struct kv_bucket *index;
	uint8_t *entries;
};

/* ---------------------------------------------------------------------------------- */
/* Little-endian access and hashing                                                    */

static inline uint16_t ld16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static inline uint32_t ld32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static inline void st16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}

static inline void st32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

/* murmur3's fmix64. */
static inline uint64_t mix64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ull;
	k ^= k >> 33;
	return k;
}

/** Continues h over (len, bytes), 8 bytes per step; deterministic on any host. */
static uint64_t hash_words(uint64_t h, const uint8_t *p, uint32_t len)
{
	uint64_t w;
	uint32_t i;

	h = (h ^ len) * HASH_MUL;
	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		h = (h ^ le64toh(w)) * HASH_MUL;
		h ^= h >> 29;
	}
	if (i < len) {
		w = 0;
		memcpy(&w, p + i, len - i);
		h = (h ^ le64toh(w)) * HASH_MUL;
		h ^= h >> 29;
	}
	return h;
}

static inline uint64_t key_hash(const uint8_t *key, uint32_t klen)
{
	return mix64(hash_words(0x6b76u, key, klen));
}

/* ---------------------------------------------------------------------------------- */
/* Layout                                                                              */

static inline size_t align64(size_t n)
{
	return (n + 63u) & ~(size_t)63u;
}

static uint32_t entry_stride(uint32_t max_key_bytes, uint32_t max_value_bytes)
{
	return (uint32_t)((sizeof(struct kv_entry) + max_key_bytes + max_value_bytes + 7u) &
			  ~7u);
}

static uint32_t index_buckets(uint32_t max_keys)
{
	uint32_t cap = 1;

	/* Bounded: max_keys <= PW_KV_KEYS_MAX, so at most 25 doublings. */
	while (cap < 2u * max_keys)
		cap <<= 1;
	return cap;
}

_Static_assert(PW_KV_KEYS_MAX <= (UINT32_MAX >> 2), "index size fits a u32");

static bool config_ok(uint32_t max_keys, uint32_t max_key_bytes, uint32_t max_value_bytes)
{
	return max_keys != 0 && max_keys <= PW_KV_KEYS_MAX && max_key_bytes != 0 &&
	       max_key_bytes <= PW_KV_KEY_BYTES_MAX && max_value_bytes <= PW_KV_VALUE_BYTES_MAX;
}

size_t pw_kv_arena_bytes(uint32_t max_keys, uint32_t max_key_bytes,
			 uint32_t max_value_bytes)
{
	if (!config_ok(max_keys, max_key_bytes, max_value_bytes))
		return 0;
	/* 63 bytes of slack: init aligns the arena's start to a cache line. */
	return 63u + align64(sizeof(struct pw_kv)) +
	       align64((size_t)index_buckets(max_keys) * sizeof(struct kv_bucket)) +
	       (size_t)max_keys * entry_stride(max_key_bytes, max_value_bytes);
}

struct pw_kv *pw_kv_init(uint32_t max_keys, uint32_t max_key_bytes, uint32_t max_value_bytes,
			 void *arena, size_t len)
{
	struct pw_kv *kv;
	uint8_t *p;
	uint32_t i, buckets;

	if (!config_ok(max_keys, max_key_bytes, max_value_bytes) || arena == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if (len < pw_kv_arena_bytes(max_keys, max_key_bytes, max_value_bytes)) {
		errno = ENOSPC;
		return NULL;
	}

	p = (uint8_t *)(((uintptr_t)arena + 63u) & ~(uintptr_t)63u);
	kv = (struct pw_kv *)p;
	p += align64(sizeof(*kv));
	buckets = index_buckets(max_keys);
	kv->index = (struct kv_bucket *)p;
	p += align64((size_t)buckets * sizeof(struct kv_bucket));
	kv->entries = p;

	kv->max_keys = max_keys;
	kv->max_key_bytes = max_key_bytes;
	kv->max_value_bytes = max_value_bytes;
	kv->stride = entry_stride(max_key_bytes, max_value_bytes);
	kv->n_keys = 0;
	kv->n_fresh = 0;
	kv->free_head = ENTRY_NIL;
	kv->index_mask = buckets - 1;
	for (i = 0; i < buckets; i++) {
		kv->index[i].hash32 = 0;
		kv->index[i].entry = ENTRY_NIL;
	}
	return kv;
}

static inline struct kv_entry *entry_at(const struct pw_kv *kv, uint32_t e)
{
	assert(e < kv->max_keys);
	return (struct kv_entry *)(kv->entries + (size_t)e * kv->stride);
}

static inline uint8_t *entry_value(const struct pw_kv *kv, struct kv_entry *en)
{
	return en->data + kv->max_key_bytes;
}

/* ---------------------------------------------------------------------------------- */
/* Index                                                                               */

/** The bucket holding key, or the empty bucket where it would go. */
static uint32_t index_probe(const struct pw_kv *kv, uint32_t h32, const uint8_t *key,
			    uint32_t klen)
{
	const struct kv_bucket *bk;
	const struct kv_entry *en;
	uint32_t b = h32 & kv->index_mask;

	/* Ends: the load is at most 1/2, so an empty bucket exists. */
	for (;;) {
		bk = &kv->index[b];
		if (bk->entry == ENTRY_NIL)
			return b;
		if (bk->hash32 == h32) {
			en = entry_at(kv, bk->entry);
			if (en->key_len == klen && memcmp(en->data, key, klen) == 0)
				return b;
		}
		b = (b + 1) & kv->index_mask;
	}
}

/** Empties bucket b and shifts later members of its cluster back (Knuth 6.4 R). */
static void index_remove(struct pw_kv *kv, uint32_t b)
{
	const uint32_t mask = kv->index_mask;
	uint32_t hole = b, i = (b + 1) & mask, home;

	while (kv->index[i].entry != ENTRY_NIL) {
		home = kv->index[i].hash32 & mask;
		/* i's entry may fill the hole iff the hole lies on its probe path [home, i]. */
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			kv->index[hole] = kv->index[i];
			hole = i;
		}
		i = (i + 1) & mask;
	}
	kv->index[hole].entry = ENTRY_NIL;
	kv->index[hole].hash32 = 0;
}

/** Stores a new key at empty bucket b. The caller checked n_keys < max_keys. */
static void kv_insert(struct pw_kv *kv, uint32_t b, uint32_t h32, const struct pw_kv_cmd *c)
{
	struct kv_entry *en;
	uint32_t e;

	assert(kv->n_keys < kv->max_keys);
	assert(kv->index[b].entry == ENTRY_NIL);
	if (kv->free_head != ENTRY_NIL) {
		e = kv->free_head;
		kv->free_head = entry_at(kv, e)->value_len;
	} else {
		assert(kv->n_fresh < kv->max_keys);
		e = kv->n_fresh++;
	}
	en = entry_at(kv, e);
	en->key_len = c->key_len;
	en->value_len = c->value_len;
	memcpy(en->data, c->key, c->key_len);
	if (c->value_len != 0)
		memcpy(entry_value(kv, en), c->value, c->value_len);
	kv->index[b].hash32 = h32;
	kv->index[b].entry = e;
	kv->n_keys++;
}

static void kv_delete(struct pw_kv *kv, uint32_t b)
{
	uint32_t e = kv->index[b].entry;

	assert(e != ENTRY_NIL);
	assert(kv->n_keys > 0);
	index_remove(kv, b);
	entry_at(kv, e)->value_len = kv->free_head;
	kv->free_head = e;
	kv->n_keys--;
}

/* ---------------------------------------------------------------------------------- */
/* Commands                                                                            */

int pw_kv_decode_cmd(const uint8_t *cmd, uint32_t len, struct pw_kv_cmd *c)
{
	uint64_t expect_bytes, total;

	assert(c != NULL);
	if (cmd == NULL || len < PW_KV_CMD_HDR_BYTES)
		return -EINVAL;
	c->op = cmd[0];
	c->key_len = cmd[1];
	c->value_len = ld32(cmd + 4);
	c->expect_len = ld32(cmd + 8);
	if (ld16(cmd + 2) != 0)
		return -EINVAL;
	switch (c->op) {
	case PW_KV_PUT:
		if (c->expect_len != 0)
			return -EINVAL;
		break;
	case PW_KV_GET:
	case PW_KV_DEL:
		if (c->value_len != 0 || c->expect_len != 0)
			return -EINVAL;
		break;
	case PW_KV_CAS:
		break;
	default:
		return -EINVAL;
	}
	expect_bytes = c->op == PW_KV_CAS && c->expect_len == PW_KV_EXPECT_ABSENT ?
			       0 : c->expect_len;
	/* u64: three u32 lengths cannot overflow it, whatever the client sent. */
	total = (uint64_t)PW_KV_CMD_HDR_BYTES + c->key_len + c->value_len + expect_bytes;
	if (total != len)
		return -EINVAL;
	c->key = cmd + PW_KV_CMD_HDR_BYTES;
	c->value = c->key + c->key_len;
	c->expect = c->expect_len == PW_KV_EXPECT_ABSENT ? NULL : c->value + c->value_len;
	return 0;
}

static uint32_t put_reply(uint8_t *reply, uint8_t result, const uint8_t *value, uint32_t vlen)
{
	reply[0] = result;
	st32(reply + 1, vlen);
	if (vlen != 0)
		memcpy(reply + PW_KV_REPLY_HDR_BYTES, value, vlen);
	return PW_KV_REPLY_HDR_BYTES + vlen;
}

static bool within_limits(const struct pw_kv *kv, const struct pw_kv_cmd *c)
{
	if (c->key_len > kv->max_key_bytes || c->value_len > kv->max_value_bytes)
		return false;
	return c->expect == NULL || c->expect_len <= kv->max_value_bytes;
}

/** CAS on a key found at bucket b (ENTRY_NIL entry: absent). */
static uint32_t kv_cas(struct pw_kv *kv, uint32_t b, uint32_t h32, const struct pw_kv_cmd *c,
		       uint8_t *reply)
{
	struct kv_entry *en;
	uint8_t *val;

	if (kv->index[b].entry == ENTRY_NIL) {
		if (c->expect != NULL)
			return put_reply(reply, PW_KV_R_NOT_FOUND, NULL, 0);
		if (kv->n_keys == kv->max_keys)
			return put_reply(reply, PW_KV_R_FULL, NULL, 0);
		kv_insert(kv, b, h32, c);
		return put_reply(reply, PW_KV_R_OK, NULL, 0);
	}
	en = entry_at(kv, kv->index[b].entry);
	val = entry_value(kv, en);
	if (c->expect == NULL || en->value_len != c->expect_len ||
	    memcmp(val, c->expect, c->expect_len) != 0)
		return put_reply(reply, PW_KV_R_CAS_MISMATCH, val, en->value_len);
	en->value_len = c->value_len;
	if (c->value_len != 0)
		memcpy(val, c->value, c->value_len);
	return put_reply(reply, PW_KV_R_OK, NULL, 0);
}

uint32_t pw_kv_apply(void *ctx, const uint8_t *cmd, uint32_t len, uint8_t *reply,
		     uint32_t cap, uint8_t *status)
{
	struct pw_kv *kv = ctx;
	struct pw_kv_cmd c;
	struct kv_entry *en;
	uint32_t h32, b;

	assert(kv != NULL);
	assert(reply != NULL);
	assert(status != NULL);
	/* The caller's contract (the applier passes PX_REPLY_BYTES_MAX), not input. */
	assert(cap >= PW_KV_REPLY_HDR_BYTES + kv->max_value_bytes);

	if (pw_kv_decode_cmd(cmd, len, &c) != 0 || !within_limits(kv, &c)) {
		*status = PX_BAD_COMMAND;
		return put_reply(reply, PW_KV_R_BAD, NULL, 0);
	}
	*status = PX_OK;
	h32 = (uint32_t)key_hash(c.key, c.key_len);
	b = index_probe(kv, h32, c.key, c.key_len);

	switch (c.op) {
	case PW_KV_PUT:
		if (kv->index[b].entry == ENTRY_NIL) {
			if (kv->n_keys == kv->max_keys)
				return put_reply(reply, PW_KV_R_FULL, NULL, 0);
			kv_insert(kv, b, h32, &c);
		} else {
			en = entry_at(kv, kv->index[b].entry);
			en->value_len = c.value_len;
			if (c.value_len != 0)
				memcpy(entry_value(kv, en), c.value, c.value_len);
		}
		return put_reply(reply, PW_KV_R_OK, NULL, 0);
	case PW_KV_GET:
		if (kv->index[b].entry == ENTRY_NIL)
			return put_reply(reply, PW_KV_R_NOT_FOUND, NULL, 0);
		en = entry_at(kv, kv->index[b].entry);
		return put_reply(reply, PW_KV_R_OK, entry_value(kv, en), en->value_len);
	case PW_KV_DEL:
		if (kv->index[b].entry == ENTRY_NIL)
			return put_reply(reply, PW_KV_R_NOT_FOUND, NULL, 0);
		kv_delete(kv, b);
		return put_reply(reply, PW_KV_R_OK, NULL, 0);
	case PW_KV_CAS:
		return kv_cas(kv, b, h32, &c, reply);
	default:
		/* pw_kv_decode_cmd accepted only the four ops above. */
		assert(!"unreachable op");
		return 0;
	}
}

uint64_t pw_kv_hash(const void *ctx)
{
	const struct pw_kv *kv = ctx;
	struct kv_entry *en;
	uint64_t sum = 0, h;
	uint32_t i;

	assert(kv != NULL);
	/* A sum of strong per-entry hashes: the same set of (key, value) pairs gives the
	 * same sum whatever the insertion order, bucket layout or entry placement. */
	for (i = 0; i <= kv->index_mask; i++) {
		if (kv->index[i].entry == ENTRY_NIL)
			continue;
		en = entry_at(kv, kv->index[i].entry);
		h = hash_words(0x6b76u, en->data, en->key_len);
		h = hash_words(h, entry_value(kv, en), en->value_len);
		sum += mix64(h);
	}
	return mix64(sum ^ ((uint64_t)kv->n_keys * HASH_MUL));
}

void pw_kv_service(struct pw_kv *kv, struct px_service *svc)
{
	assert(kv != NULL);
	assert(svc != NULL);
	svc->apply = pw_kv_apply;
	svc->hash = pw_kv_hash;
	svc->ctx = kv;
}

uint32_t pw_kv_count(const struct pw_kv *kv)
{
	return kv->n_keys;
}

bool pw_kv_get_direct(const struct pw_kv *kv, const void *key, uint8_t key_len,
		      const uint8_t **value, uint32_t *value_len)
{
	struct kv_entry *en;
	uint32_t h32, b;

	assert(kv != NULL);
	assert(key != NULL || key_len == 0);
	h32 = (uint32_t)key_hash(key, key_len);
	b = index_probe(kv, h32, key, key_len);
	if (kv->index[b].entry == ENTRY_NIL)
		return false;
	en = entry_at(kv, kv->index[b].entry);
	if (value != NULL)
		*value = entry_value(kv, en);
	if (value_len != NULL)
		*value_len = en->value_len;
	return true;
}

/* ---------------------------------------------------------------------------------- */
/* Encoders and reply decoder                                                          */

static uint32_t encode(uint8_t *buf, uint32_t cap, uint8_t op, const void *key, uint8_t klen,
		       const void *val, uint32_t vlen, const void *expect, uint32_t elen)
{
	uint32_t expect_bytes = expect == NULL ? 0 : elen;
	uint64_t total = (uint64_t)PW_KV_CMD_HDR_BYTES + klen + vlen + expect_bytes;
	uint8_t *p;

	assert(buf != NULL || cap == 0);
	assert(key != NULL || klen == 0);
	assert(val != NULL || vlen == 0);
	if (total > cap)
		return 0;
	buf[0] = op;
	buf[1] = klen;
	st16(buf + 2, 0);
	st32(buf + 4, vlen);
	st32(buf + 8, op == PW_KV_CAS && expect == NULL ? PW_KV_EXPECT_ABSENT : expect_bytes);
	p = buf + PW_KV_CMD_HDR_BYTES;
	if (klen != 0)
		memcpy(p, key, klen);
	p += klen;
	if (vlen != 0)
		memcpy(p, val, vlen);
	p += vlen;
	if (expect_bytes != 0)
		memcpy(p, expect, expect_bytes);
	return (uint32_t)total;
}

uint32_t pw_kv_encode_put(uint8_t *buf, uint32_t cap, const void *key, uint8_t klen,
			  const void *val, uint32_t vlen)
{
	return encode(buf, cap, PW_KV_PUT, key, klen, val, vlen, NULL, 0);
}

uint32_t pw_kv_encode_get(uint8_t *buf, uint32_t cap, const void *key, uint8_t klen)
{
	return encode(buf, cap, PW_KV_GET, key, klen, NULL, 0, NULL, 0);
}

uint32_t pw_kv_encode_del(uint8_t *buf, uint32_t cap, const void *key, uint8_t klen)
{
	return encode(buf, cap, PW_KV_DEL, key, klen, NULL, 0, NULL, 0);
}

uint32_t pw_kv_encode_cas(uint8_t *buf, uint32_t cap, const void *key, uint8_t klen,
			  const void *val, uint32_t vlen, const void *expect, uint32_t elen)
{
	/* An expect of length 0 is the empty value, which differs from "absent": it needs
	 * a non-NULL pointer, so PW_KV_EXPECT_ABSENT can never be sent as a real length. */
	if (expect != NULL && elen == PW_KV_EXPECT_ABSENT)
		return 0;
	return encode(buf, cap, PW_KV_CAS, key, klen, val, vlen, expect, elen);
}

int pw_kv_decode_reply(const uint8_t *buf, uint32_t len, struct pw_kv_reply *r)
{
	assert(r != NULL);
	if (buf == NULL || len < PW_KV_REPLY_HDR_BYTES)
		return -EINVAL;
	r->result = buf[0];
	r->value_len = ld32(buf + 1);
	if (r->result > PW_KV_R_BAD)
		return -EINVAL;
	if ((uint64_t)PW_KV_REPLY_HDR_BYTES + r->value_len != len)
		return -EINVAL;
	r->value = buf + PW_KV_REPLY_HDR_BYTES;
	return 0;
}
