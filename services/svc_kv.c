/* SPDX-License-Identifier: Apache-2.0
 * svc_kv: a replicated key-value store (commands and replies: wire/wire_kv.h).
 *
 * Memory, all in the arena:
 *   - index[cap]: open-addressing buckets {32-bit key hash, entry}, linear probing,
 *     cap = next power of two >= 2 * max_keys (load <= 1/2, so there is always an empty
 *     bucket and every probe ends), backward-shift deletion. The hash's top bits pick
 *     the home bucket; all 32 rule out most non-matching keys without reading an entry;
 *   - entries[max_keys]: fixed-stride records holding the key and the value inline.
 * Entries are handed out 0, 1, 2, ... and then from a free list of deleted ones.
 * Where an entry lives is invisible from outside (replies and hash() depend only on
 * the contents), so replicas that placed entries differently still agree.
 *
 * Short keys (up to SHORT_KEY_BYTES, the common case) take a faster road: the key is
 * read as two little-endian words, zero-padded, with loads that stay inside the key;
 * the index hash is two multiplies of those words; and a stored short key is kept
 * zero-padded to 16 bytes, so matching one is two word compares, not a memcmp call.
 * PUT, by far the most frequent command, is recognised straight from its header and
 * runs without the general decoder. Neither changes what any command does.
 *
 * Every command is validated before anything changes; a rejected one changes nothing.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "svc_registry.h"   /* svc_kv_desc */
#include "svc_kv.h"
#include "wire_le.h"

#define ENTRY_NIL UINT32_MAX
#define HASH_MUL 0x9e3779b97f4a7c15ull
/* A second odd multiplier (xxhash's PRIME64_2) for the short-key hash's second word. */
#define HASH_MUL2 0xc2b2ae3d27d4eb4full

/** Keys of at most this many bytes are short: compared and hashed as two words. */
#define SHORT_KEY_BYTES 16u

/** One stored key and value; the key is at data[0], the value at data[key_room]. */
struct kv_entry {
	/** In use: the value's length. Free: the next free entry (ENTRY_NIL ends). */
	uint32_t value_len;
	uint32_t key_len;
	/** A short key is followed by zeros up to SHORT_KEY_BYTES (so it reads as two
	 *  whole words); a longer one fills key_len bytes. Then the value. 8-aligned. */
	uint8_t data[];
};

/** One index bucket. entry == ENTRY_NIL: empty. */
struct kv_bucket {
	uint32_t hash32;   /* the key's 32-bit hash: home bucket = hash32 >> home_shift */
	uint32_t entry;
};

struct svc_kv {
	uint32_t max_keys;
	uint32_t max_key_bytes;
	uint32_t max_value_bytes;
	uint32_t stride;       /**< bytes per entry, a multiple of 8 */
	uint32_t key_room;     /**< bytes before an entry's value: >= 16, a multiple of 8 */
	uint32_t short_key_max; /**< min(max_key_bytes, SHORT_KEY_BYTES) */
	uint32_t n_keys;       /**< Invariant: n_keys <= max_keys */
	uint32_t n_fresh;      /**< entries [n_fresh, max_keys) were never used */
	uint32_t free_head;    /**< deleted entries, linked through value_len */
	uint32_t index_mask;
	uint32_t home_shift;   /**< 32 - log2(index buckets) */
	struct kv_bucket *index;
	uint8_t *entries;
};

/* ---------------------------------------------------------------------------------- */
/* Short-key loads, copies and hashing (little-endian access: wire_le.h)               */

/**
 * The n <= 8 bytes at p as a little-endian word, zero-padded; reads only p[0, n).
 * Overlapping loads (the first and last 4 bytes, or the first, middle and last byte)
 * instead of a byte loop or a variable-length memcpy, which is a library call.
 */
static inline uint64_t ld_upto8(const uint8_t *p, uint32_t n)
{
	assert(n <= 8);
	if (n >= 4)
		return wire_ld32(p) | (uint64_t)wire_ld32(p + n - 4) << (8 * (n - 4));
	if (n == 0)
		return 0;
	return p[0] | (uint64_t)p[n / 2] << (8 * (n / 2)) | (uint64_t)p[n - 1] << (8 * (n - 1));
}

/** A short key (n <= 16) as two little-endian words, zero-padded; reads only p[0, n). */
static inline void short_key_words(const uint8_t *p, uint32_t n, uint64_t *w0, uint64_t *w1)
{
	assert(n <= SHORT_KEY_BYTES);
	if (n > 8) {
		*w0 = wire_ld64(p);
		/* The last 8 bytes, less the (16 - n) that belong to w0. */
		*w1 = wire_ld64(p + n - 8) >> (8 * (16 - n));
	} else {
		*w0 = ld_upto8(p, n);
		*w1 = 0;
	}
}

/** memcpy, with n <= 16 done inline by overlapping loads and stores. */
static inline void copy_bytes(uint8_t *dst, const uint8_t *src, uint32_t n)
{
	uint64_t x, y;
	uint32_t u, v;

	if (n == 0)
		return;
	if (n > 16) {
		memcpy(dst, src, n);
	} else if (n >= 8) {
		memcpy(&x, src, 8);
		memcpy(&y, src + n - 8, 8);
		memcpy(dst, &x, 8);
		memcpy(dst + n - 8, &y, 8);
	} else if (n >= 4) {
		memcpy(&u, src, 4);
		memcpy(&v, src + n - 4, 4);
		memcpy(dst, &u, 4);
		memcpy(dst + n - 4, &v, 4);
	} else {
		dst[0] = src[0];
		dst[n / 2] = src[n / 2];
		dst[n - 1] = src[n - 1];
	}
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
	uint32_t i;

	h = (h ^ len) * HASH_MUL;
	for (i = 0; i + 8 <= len; i += 8) {
		h = (h ^ wire_ld64(p + i)) * HASH_MUL;
		h ^= h >> 29;
	}
	if (i < len) {
		h = (h ^ ld_upto8(p + i, len - i)) * HASH_MUL;
		h ^= h >> 29;
	}
	return h;
}

/* The index hash of a short key: one multiply per word, the products XORed, and their
 * top 32 bits kept, which every bit of both words reaches (Fibonacci hashing, Knuth
 * 6.4); the home bucket is the top bits of those. Two multiplies rather than a full
 * finalizer (fmix64) because this runs on every command; it spreads counters, ASCII
 * and random keys. Not keyed, like every hash that replicas must share: clients that
 * choose colliding keys on purpose lengthen probe runs (bounded by the index size),
 * nothing more. */
static inline uint32_t short_key_hash32(uint64_t w0, uint64_t w1, uint32_t klen)
{
	return (uint32_t)((w0 * HASH_MUL ^ (w1 ^ klen) * HASH_MUL2) >> 32);
}

static inline uint32_t long_key_hash32(const uint8_t *key, uint32_t klen)
{
	return (uint32_t)(mix64(hash_words(0x6b76u, key, klen)) >> 32);
}

/* ---------------------------------------------------------------------------------- */
/* Layout                                                                              */

static inline size_t align64(size_t n)
{
	return (n + 63u) & ~(size_t)63u;
}

static uint32_t key_room(uint32_t max_key_bytes)
{
	uint32_t room = (max_key_bytes + 7u) & ~7u;

	return room < SHORT_KEY_BYTES ? SHORT_KEY_BYTES : room;
}

static uint32_t entry_stride(uint32_t max_key_bytes, uint32_t max_value_bytes)
{
	return (uint32_t)((sizeof(struct kv_entry) + key_room(max_key_bytes) +
			   max_value_bytes + 7u) & ~7u);
}

static uint32_t index_buckets(uint32_t max_keys)
{
	uint32_t cap = 1;

	/* Bounded: max_keys <= SVC_KV_KEYS_MAX, so at most 25 doublings. */
	while (cap < 2u * max_keys)
		cap <<= 1;
	return cap;
}

_Static_assert(SVC_KV_KEYS_MAX <= (UINT32_MAX >> 2), "index size fits a u32");
_Static_assert(sizeof(struct kv_entry) % 8 == 0, "entry data is 8-aligned");
_Static_assert(SHORT_KEY_BYTES == 16, "a short key is two words");

static bool config_ok(uint32_t max_keys, uint32_t max_key_bytes, uint32_t max_value_bytes)
{
	return max_keys != 0 && max_keys <= SVC_KV_KEYS_MAX && max_key_bytes != 0 &&
	       max_key_bytes <= WIRE_KV_KEY_BYTES_MAX && max_value_bytes <= WIRE_KV_VALUE_BYTES_MAX;
}

size_t svc_kv_arena_bytes(uint32_t max_keys, uint32_t max_key_bytes,
			 uint32_t max_value_bytes)
{
	if (!config_ok(max_keys, max_key_bytes, max_value_bytes))
		return 0;
	/* 63 bytes of slack: init aligns the arena's start to a cache line. */
	return 63u + align64(sizeof(struct svc_kv)) +
	       align64((size_t)index_buckets(max_keys) * sizeof(struct kv_bucket)) +
	       (size_t)max_keys * entry_stride(max_key_bytes, max_value_bytes);
}

/** The empty store: no key, every entry fresh, every bucket empty. O(index buckets). */
static void kv_reset(struct svc_kv *kv)
{
	uint32_t i;

	for (i = 0; i <= kv->index_mask; i++) {
		kv->index[i].hash32 = 0;
		kv->index[i].entry = ENTRY_NIL;
	}
	kv->n_keys = 0;
	kv->n_fresh = 0;
	kv->free_head = ENTRY_NIL;
}

struct svc_kv *svc_kv_init(uint32_t max_keys, uint32_t max_key_bytes, uint32_t max_value_bytes,
			 void *arena, size_t len)
{
	struct svc_kv *kv;
	uint8_t *p;
	uint32_t buckets;

	if (!config_ok(max_keys, max_key_bytes, max_value_bytes) || arena == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if (len < svc_kv_arena_bytes(max_keys, max_key_bytes, max_value_bytes)) {
		errno = ENOSPC;
		return NULL;
	}

	p = (uint8_t *)(((uintptr_t)arena + 63u) & ~(uintptr_t)63u);
	kv = (struct svc_kv *)p;
	p += align64(sizeof(*kv));
	buckets = index_buckets(max_keys);
	kv->index = (struct kv_bucket *)p;
	p += align64((size_t)buckets * sizeof(struct kv_bucket));
	kv->entries = p;

	kv->max_keys = max_keys;
	kv->max_key_bytes = max_key_bytes;
	kv->max_value_bytes = max_value_bytes;
	kv->stride = entry_stride(max_key_bytes, max_value_bytes);
	kv->key_room = key_room(max_key_bytes);
	kv->short_key_max = max_key_bytes < SHORT_KEY_BYTES ? max_key_bytes : SHORT_KEY_BYTES;
	kv->index_mask = buckets - 1;
	/* buckets is 2^k with 1 <= k <= 25 (max_keys >= 1 gives at least 2 buckets). */
	kv->home_shift = 32u - (uint32_t)__builtin_ctz(buckets);
	kv_reset(kv);
	return kv;
}

static inline struct kv_entry *entry_at(const struct svc_kv *kv, uint32_t e)
{
	assert(e < kv->max_keys);
	return (struct kv_entry *)(kv->entries + (size_t)e * kv->stride);
}

static inline uint8_t *entry_value(const struct svc_kv *kv, struct kv_entry *en)
{
	return en->data + kv->key_room;
}

/* ---------------------------------------------------------------------------------- */
/* Index                                                                               */

/** A key as the index sees it. Short keys (len <= short_key_max) carry their words. */
struct kv_key {
	const uint8_t *p;
	uint32_t len;
	uint32_t hash32;
	uint64_t w0, w1;      /* short keys only: the key, zero-padded to 16 bytes */
};

static inline void key_make_short(struct kv_key *k, const uint8_t *p, uint32_t len)
{
	k->p = p;
	k->len = len;
	short_key_words(p, len, &k->w0, &k->w1);
	k->hash32 = short_key_hash32(k->w0, k->w1, len);
}

static void key_make(const struct svc_kv *kv, struct kv_key *k, const uint8_t *p, uint32_t len)
{
	if (len <= kv->short_key_max) {
		key_make_short(k, p, len);
	} else {
		k->p = p;
		k->len = len;
		k->hash32 = long_key_hash32(p, len);
		k->w0 = 0;
		k->w1 = 0;
	}
}

/** The bucket holding the short key (w0, w1, klen) of hash h32, or the empty bucket
 *  where it would go. A stored key matches iff its length and both padded words do;
 *  for klen <= 8 (wide false) the second word is zero in both, so it is not read. */
static inline __attribute__((always_inline)) uint32_t
probe_short(const struct svc_kv *kv, uint32_t h32, uint64_t w0, uint64_t w1, uint32_t klen,
	    bool wide)
{
	const struct kv_bucket *index = kv->index;
	const struct kv_entry *en;
	uint32_t b = h32 >> kv->home_shift, e;

	/* klen <= short_key_max: the callers' condition for taking this road. */
	assert(wide || (klen <= 8 && w1 == 0));
	/* Ends: the load is at most 1/2, so an empty bucket exists. */
	for (;;) {
		e = index[b].entry;
		if (e == ENTRY_NIL)
			return b;
		if (index[b].hash32 == h32) {
			en = entry_at(kv, e);
			if (en->key_len == klen && wire_ld64(en->data) == w0 &&
			    (!wide || wire_ld64(en->data + 8) == w1))
				return b;
		}
		b = (b + 1) & kv->index_mask;
	}
}

/** The same for a key longer than short_key_max: the stored bytes are compared. */
static uint32_t probe_long(const struct svc_kv *kv, uint32_t h32, const uint8_t *key,
			   uint32_t klen)
{
	const struct kv_entry *en;
	uint32_t b = h32 >> kv->home_shift, e;

	assert(klen > kv->short_key_max);
	for (;;) {
		e = kv->index[b].entry;
		if (e == ENTRY_NIL)
			return b;
		if (kv->index[b].hash32 == h32) {
			en = entry_at(kv, e);
			if (en->key_len == klen && memcmp(en->data, key, klen) == 0)
				return b;
		}
		b = (b + 1) & kv->index_mask;
	}
}

/** The bucket holding key k, or the empty bucket where it would go. */
static uint32_t index_probe(const struct svc_kv *kv, const struct kv_key *k)
{
	if (k->len <= kv->short_key_max)
		return probe_short(kv, k->hash32, k->w0, k->w1, k->len, true);
	return probe_long(kv, k->hash32, k->p, k->len);
}

/** Empties bucket b and shifts later members of its cluster back (Knuth 6.4 R). */
static void index_remove(struct svc_kv *kv, uint32_t b)
{
	const uint32_t mask = kv->index_mask;
	uint32_t hole = b, i = (b + 1) & mask, home;

	while (kv->index[i].entry != ENTRY_NIL) {
		home = kv->index[i].hash32 >> kv->home_shift;
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

/** Stores key k with a value at empty bucket b. The caller checked n_keys < max_keys. */
static void kv_insert(struct svc_kv *kv, uint32_t b, const struct kv_key *k,
		      const uint8_t *value, uint32_t value_len)
{
	struct kv_entry *en;
	uint32_t e;

	assert(kv->n_keys < kv->max_keys);
	assert(kv->index[b].entry == ENTRY_NIL);
	assert(value_len <= kv->max_value_bytes);
	if (kv->free_head != ENTRY_NIL) {
		e = kv->free_head;
		kv->free_head = entry_at(kv, e)->value_len;
	} else {
		assert(kv->n_fresh < kv->max_keys);
		e = kv->n_fresh++;
	}
	en = entry_at(kv, e);
	en->key_len = k->len;
	en->value_len = value_len;
	if (k->len <= kv->short_key_max) {
		wire_st64(en->data, k->w0);
		wire_st64(en->data + 8, k->w1);
	} else {
		assert(k->len <= kv->key_room);
		memcpy(en->data, k->p, k->len);
	}
	copy_bytes(entry_value(kv, en), value, value_len);
	kv->index[b].hash32 = k->hash32;
	kv->index[b].entry = e;
	kv->n_keys++;
}

static void kv_delete(struct svc_kv *kv, uint32_t b)
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

/** A reply with no value: result, then value_len 0. */
static inline uint32_t put_reply_empty(uint8_t *reply, uint8_t result)
{
	return wire_kv_encode_reply_hdr(reply, result, 0);
}

static uint32_t put_reply(uint8_t *reply, uint8_t result, const uint8_t *value, uint32_t vlen)
{
	wire_kv_encode_reply_hdr(reply, result, vlen);
	copy_bytes(reply + WIRE_KV_REPLY_HDR_BYTES, value, vlen);
	return WIRE_KV_REPLY_HDR_BYTES + vlen;
}

static bool within_limits(const struct svc_kv *kv, const struct wire_kv_cmd *c)
{
	if (c->key_len > kv->max_key_bytes || c->value_len > kv->max_value_bytes)
		return false;
	return c->expect == NULL || c->expect_len <= kv->max_value_bytes;
}

/** PUT of key k (validated, within limits) found at bucket b (ENTRY_NIL: absent). */
static inline uint32_t kv_put(struct svc_kv *kv, uint32_t b, const struct kv_key *k,
			      const uint8_t *value, uint32_t vlen, uint8_t *reply)
{
	struct kv_entry *en;
	uint32_t e = kv->index[b].entry;

	if (e == ENTRY_NIL) {
		if (kv->n_keys == kv->max_keys)
			return put_reply_empty(reply, WIRE_KV_R_FULL);
		kv_insert(kv, b, k, value, vlen);
	} else {
		en = entry_at(kv, e);
		en->value_len = vlen;
		copy_bytes(entry_value(kv, en), value, vlen);
	}
	return put_reply_empty(reply, WIRE_KV_R_OK);
}

/** CAS on key k found at bucket b (ENTRY_NIL entry: absent). */
static uint32_t kv_cas(struct svc_kv *kv, uint32_t b, const struct kv_key *k,
		       const struct wire_kv_cmd *c, uint8_t *reply)
{
	struct kv_entry *en;
	uint8_t *val;

	if (kv->index[b].entry == ENTRY_NIL) {
		if (c->expect != NULL)
			return put_reply_empty(reply, WIRE_KV_R_NOT_FOUND);
		if (kv->n_keys == kv->max_keys)
			return put_reply_empty(reply, WIRE_KV_R_FULL);
		kv_insert(kv, b, k, c->value, c->value_len);
		return put_reply_empty(reply, WIRE_KV_R_OK);
	}
	en = entry_at(kv, kv->index[b].entry);
	val = entry_value(kv, en);
	if (c->expect == NULL || en->value_len != c->expect_len ||
	    memcmp(val, c->expect, c->expect_len) != 0)
		return put_reply(reply, WIRE_KV_R_CAS_MISMATCH, val, en->value_len);
	en->value_len = c->value_len;
	copy_bytes(val, c->value, c->value_len);
	return put_reply_empty(reply, WIRE_KV_R_OK);
}

/** Every command but a short-key PUT: the general decoder, then the op. */
static uint32_t kv_apply_general(struct svc_kv *kv, const uint8_t *cmd, uint32_t len,
				 uint8_t *reply, uint8_t *status)
{
	struct wire_kv_cmd c;
	struct kv_entry *en;
	struct kv_key k;
	uint32_t b;

	if (wire_kv_decode_cmd(cmd, len, &c) != 0 || !within_limits(kv, &c)) {
		*status = PX_BAD_COMMAND;
		return put_reply_empty(reply, WIRE_KV_R_BAD);
	}
	*status = PX_OK;
	key_make(kv, &k, c.key, c.key_len);
	b = index_probe(kv, &k);

	switch (c.op) {
	case WIRE_KV_PUT:
		return kv_put(kv, b, &k, c.value, c.value_len, reply);
	case WIRE_KV_GET:
		if (kv->index[b].entry == ENTRY_NIL)
			return put_reply_empty(reply, WIRE_KV_R_NOT_FOUND);
		en = entry_at(kv, kv->index[b].entry);
		return put_reply(reply, WIRE_KV_R_OK, entry_value(kv, en), en->value_len);
	case WIRE_KV_DEL:
		if (kv->index[b].entry == ENTRY_NIL)
			return put_reply_empty(reply, WIRE_KV_R_NOT_FOUND);
		kv_delete(kv, b);
		return put_reply_empty(reply, WIRE_KV_R_OK);
	case WIRE_KV_CAS:
		return kv_cas(kv, b, &k, &c, reply);
	default:
		/* wire_kv_decode_cmd accepted only the four ops above. */
		assert(!"unreachable op");
		return 0;
	}
}

/** A short-key PUT whose key is absent (bucket b is empty): kept out of the fast path.
 *  Status PX_OK is already set; the reply is OK, or FULL when the table is. */
static __attribute__((noinline)) uint32_t
put_new_short(struct svc_kv *kv, uint32_t b, const uint8_t *key, uint32_t klen,
	      uint32_t vlen, uint8_t *reply)
{
	struct kv_key k;

	key_make_short(&k, key, klen);
	assert(kv->index[b].entry == ENTRY_NIL);
	return kv_put(kv, b, &k, key + klen, vlen, reply);
}

static __attribute__((noinline)) uint32_t
apply_general(struct svc_kv *kv, const uint8_t *cmd, uint32_t len, uint8_t *reply,
	      uint8_t *status)
{
	return kv_apply_general(kv, cmd, len, reply, status);
}

/** The rest of a validated short-key PUT, whose reply is already written: wide false
 *  for keys of up to 8 bytes (one word), true for 9 to 16. */
static inline __attribute__((always_inline)) uint32_t
put_short(struct svc_kv *kv, const uint8_t *key, uint32_t klen, uint32_t vlen, uint8_t *reply,
	  bool wide)
{
	struct kv_entry *en;
	uint32_t h32, b, e;
	uint64_t w0, w1;

	short_key_words(key, klen, &w0, &w1);
	h32 = short_key_hash32(w0, w1, klen);
	b = probe_short(kv, h32, w0, w1, klen, wide);
	e = kv->index[b].entry;
	if (e == ENTRY_NIL)
		return put_new_short(kv, b, key, klen, vlen, reply);
	en = entry_at(kv, e);
	en->value_len = vlen;
	copy_bytes(entry_value(kv, en), key + klen, vlen);
	return WIRE_KV_REPLY_HDR_BYTES;
}

uint32_t svc_kv_apply(void *ctx, const uint8_t *cmd, uint32_t len, uint8_t *reply,
		     uint32_t cap, uint8_t *status)
{
	struct svc_kv *kv = ctx;
	(void)cap;   /* asserted below: the applier always passes PX_REPLY_BYTES_MAX */
	const uint8_t *key;
	uint32_t hdr, klen, vlen;

	/* Every path writes reply and status: a NULL one faults there, no assert needed. */
	assert(kv != NULL);
	/* The caller's contract (the applier passes PX_REPLY_BYTES_MAX), not input. */
	assert(cap >= WIRE_KV_REPLY_HDR_BYTES + kv->max_value_bytes);

	/* A well-formed PUT of a short key within this store's limits: op PUT, reserved 0,
	 * no expect, lengths that add up. The same checks wire_kv_decode_cmd and
	 * within_limits make for a PUT, on the header read as three words. */
	if (cmd == NULL || len < WIRE_KV_CMD_HDR_BYTES)
		return apply_general(kv, cmd, len, reply, status);
	hdr = wire_ld32(cmd);
	klen = (hdr >> 8) & 0xffu;
	vlen = wire_ld32(cmd + 4);
	if ((hdr & 0xffff00ffu) != WIRE_KV_PUT || wire_ld32(cmd + 8) != 0 ||
	    klen > kv->short_key_max || vlen > kv->max_value_bytes ||
	    WIRE_KV_CMD_HDR_BYTES + klen + vlen != len)
		return apply_general(kv, cmd, len, reply, status);

	/* A PUT answers OK unless its key is new and the table full, which put_new_short
	 * answers anew. Written first, so reply and status need no register below. */
	*status = PX_OK;
	put_reply_empty(reply, WIRE_KV_R_OK);

	key = cmd + WIRE_KV_CMD_HDR_BYTES;
	if (klen <= 8)
		return put_short(kv, key, klen, vlen, reply, false);
	return put_short(kv, key, klen, vlen, reply, true);
}

uint64_t svc_kv_hash(const void *ctx)
{
	const struct svc_kv *kv = ctx;
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

/* ---------------------------------------------------------------------------------- */
/* Snapshots (docs/storage.md, "Service snapshots")                                    */

/*
 * The contents, not the arena: the arena holds capacity (a snapshot is proportional to
 * the keys held) and entry numbers and bucket places differ between replicas anyway.
 * Little-endian, no padding:
 *   magic "PWKVSNP1" | u32 max_keys | u32 max_key_bytes | u32 max_value_bytes | u32 n_keys
 *   then n_keys times: u8 key_len | u32 value_len | key[key_len] | value[value_len]
 * The limits are the writer's. Restore takes any snapshot whose contents fit this
 * store's limits; with equal limits (a cluster's replicas) the restored store is the
 * writer's in every way apply() and hash() can tell: the same pairs, so the same
 * replies and hash, and the same key count, so FULL at the same command.
 */
#define KV_SNAP_MAGIC "PWKVSNP1"
#define KV_SNAP_MAGIC_BYTES 8u
#define KV_SNAP_HDR_BYTES 24u
#define KV_SNAP_ENTRY_HDR_BYTES 5u
/** How far ahead in the index snapshot() fetches entries. */
#define SNAP_PREFETCH_BUCKETS 16u

_Static_assert(sizeof(KV_SNAP_MAGIC) == KV_SNAP_MAGIC_BYTES + 1, "an 8-byte magic");
_Static_assert(KV_SNAP_HDR_BYTES == KV_SNAP_MAGIC_BYTES + 4 * 4, "the header's fields");
_Static_assert(WIRE_KV_KEY_BYTES_MAX <= UINT8_MAX, "key_len is one byte");
_Static_assert((uint64_t)KV_SNAP_HDR_BYTES + (uint64_t)SVC_KV_KEYS_MAX *
			   (KV_SNAP_ENTRY_HDR_BYTES + WIRE_KV_KEY_BYTES_MAX + WIRE_KV_VALUE_BYTES_MAX) <=
		   SIZE_MAX,
	       "the largest snapshot's size fits a size_t");

size_t svc_kv_snapshot_max(const void *ctx)
{
	const struct svc_kv *kv = ctx;

	assert(kv != NULL);
	return KV_SNAP_HDR_BYTES +
	       (size_t)kv->max_keys * (KV_SNAP_ENTRY_HDR_BYTES + kv->max_key_bytes + kv->max_value_bytes);
}

size_t svc_kv_snapshot(const void *ctx, uint8_t *buf, size_t cap)
{
	const struct svc_kv *kv = ctx;
	struct kv_entry *en;
	uint8_t *p = buf;
	uint32_t i, n = 0;

	assert(kv != NULL);
	assert(buf != NULL);
	/* The caller's contract (one buffer of snapshot_max bytes), not input. */
	assert(cap >= svc_kv_snapshot_max(kv));
	(void)cap;
	memcpy(p, KV_SNAP_MAGIC, KV_SNAP_MAGIC_BYTES);
	wire_st32(p + 8, kv->max_keys);
	wire_st32(p + 12, kv->max_key_bytes);
	wire_st32(p + 16, kv->max_value_bytes);
	wire_st32(p + 20, kv->n_keys);
	p += KV_SNAP_HDR_BYTES;
	/* In bucket order: the index finds every held entry (free ones are not marked).
	 * Entries are then read in no particular order: each is fetched a few buckets
	 * ahead, or the walk waits on a cache (and TLB) miss per entry. */
	for (i = 0; i <= kv->index_mask; i++) {
		uint32_t ahead = kv->index[(i + SNAP_PREFETCH_BUCKETS) & kv->index_mask].entry;

		if (ahead != ENTRY_NIL) {
			const uint8_t *pf = (const uint8_t *)entry_at(kv, ahead);
			__builtin_prefetch(pf);
			__builtin_prefetch(pf + 64);
		}
		if (kv->index[i].entry == ENTRY_NIL)
			continue;
		en = entry_at(kv, kv->index[i].entry);
		assert(en->key_len <= kv->max_key_bytes);
		assert(en->value_len <= kv->max_value_bytes);
		p[0] = (uint8_t)en->key_len;
		wire_st32(p + 1, en->value_len);
		p += KV_SNAP_ENTRY_HDR_BYTES;
		memcpy(p, en->data, en->key_len);
		p += en->key_len;
		memcpy(p, entry_value(kv, en), en->value_len);
		p += en->value_len;
		n++;
	}
	assert(n == kv->n_keys);
	assert((size_t)(p - buf) <= cap);
	return (size_t)(p - buf);
}

/** Fills the empty store kv with the snapshot's pairs. -EINVAL: malformed or too big. */
static int kv_restore_pairs(struct svc_kv *kv, const uint8_t *buf, size_t len)
{
	uint32_t max_keys, max_kb, max_vb, n, i, klen, vlen, b;
	struct kv_key k;
	size_t off;

	assert(kv->n_keys == 0);
	if (len < KV_SNAP_HDR_BYTES || memcmp(buf, KV_SNAP_MAGIC, KV_SNAP_MAGIC_BYTES) != 0)
		return -EINVAL;
	max_keys = wire_ld32(buf + 8);
	max_kb = wire_ld32(buf + 12);
	max_vb = wire_ld32(buf + 16);
	n = wire_ld32(buf + 20);
	/* A store that could exist and holds what it says, and whose keys fit here. */
	if (!config_ok(max_keys, max_kb, max_vb) || n > max_keys || n > kv->max_keys)
		return -EINVAL;
	off = KV_SNAP_HDR_BYTES;
	/* Bounded: n <= kv->max_keys; off only grows and never passes len. */
	for (i = 0; i < n; i++) {
		if (len - off < KV_SNAP_ENTRY_HDR_BYTES)
			return -EINVAL;
		klen = buf[off];
		vlen = wire_ld32(buf + off + 1);
		off += KV_SNAP_ENTRY_HDR_BYTES;
		if (klen > max_kb || vlen > max_vb || klen > kv->max_key_bytes ||
		    vlen > kv->max_value_bytes || len - off < (size_t)klen + vlen)
			return -EINVAL;
		key_make(kv, &k, buf + off, klen);
		b = index_probe(kv, &k);
		if (kv->index[b].entry != ENTRY_NIL)
			return -EINVAL;   /* the same key twice */
		kv_insert(kv, b, &k, buf + off + klen, vlen);
		off += (size_t)klen + vlen;
	}
	return off == len ? 0 : -EINVAL;   /* trailing bytes */
}

int svc_kv_restore(void *ctx, const uint8_t *buf, size_t len)
{
	struct svc_kv *kv = ctx;

	assert(kv != NULL);
	kv_reset(kv);
	if (len == 0)
		return 0;
	/* Rebuilt through the index, as apply() would: entries 0, 1, 2, ... in snapshot
	 * order. A refused snapshot leaves the empty store, not a part of it. */
	if (buf == NULL || kv_restore_pairs(kv, buf, len) != 0) {
		kv_reset(kv);
		return -EINVAL;
	}
	return 0;
}

void svc_kv_service(struct svc_kv *kv, struct px_service *svc)
{
	assert(kv != NULL);
	assert(svc != NULL);
	svc->apply = svc_kv_apply;
	svc->hash = svc_kv_hash;
	svc->ctx = kv;
	svc->is_read = svc_kv_is_read;
	svc->snapshot_max = svc_kv_snapshot_max;
	svc->snapshot = svc_kv_snapshot;
	svc->restore = svc_kv_restore;
}

/* The registry's descriptor (svc_registry.h): kv's parameters are the typed [cluster]
 * keys, which the loader passes on; the defaults are config/'s. */
static const char *const kv_param_keys[] = { "kv_keys", "kv_key_bytes", "kv_value_bytes" };

static int kv_params(const struct svc_params *p, uint32_t v[3], char *err, size_t errlen)
{
	int rc = svc_params_only(p, kv_param_keys, 3, err, errlen);
	if (rc == 0)
		rc = svc_param_u32(p, "kv_keys", 1, SVC_KV_KEYS_MAX, 65536, &v[0], err, errlen);
	if (rc == 0)
		rc = svc_param_u32(p, "kv_key_bytes", 1, WIRE_KV_KEY_BYTES_MAX, 64, &v[1], err, errlen);
	if (rc == 0)
		rc = svc_param_u32(p, "kv_value_bytes", 0, WIRE_KV_VALUE_BYTES_MAX, 1024, &v[2], err,
				   errlen);
	return rc;
}

static int kv_check(const struct svc_params *p, size_t *arena_bytes, char *err, size_t errlen)
{
	uint32_t v[3];
	int rc = kv_params(p, v, err, errlen);
	if (rc == 0)
		*arena_bytes = svc_kv_arena_bytes(v[0], v[1], v[2]);
	return rc;
}

static int kv_init(const struct svc_params *p, void *arena, size_t len, struct px_service *svc,
		   char *err, size_t errlen)
{
	uint32_t v[3];
	int rc = kv_params(p, v, err, errlen);
	if (rc != 0)
		return rc;
	struct svc_kv *kv = svc_kv_init(v[0], v[1], v[2], arena, len);
	if (kv == NULL)
		return svc_fail(p, p->section_line, err, errlen, "svc_kv_init: %s; fix: check kv_keys, kv_key_bytes, kv_value_bytes",
				strerror(errno));
	svc_kv_service(kv, svc);
	return 0;
}

const struct svc_desc svc_kv_desc = {
	.abi_version = SVC_ABI_VERSION,
	.name = "kv",
	.summary = "key-value store: PUT, GET, DEL, CAS (kv_keys, kv_key_bytes, kv_value_bytes)",
	.check = kv_check,
	.init = kv_init,
};

bool svc_kv_is_read(void *ctx, const uint8_t *cmd, uint32_t len)
{
	struct wire_kv_cmd c;

	(void)ctx;
	/* A malformed command is not a read: the log answers it (PX_BAD_COMMAND). */
	return wire_kv_decode_cmd(cmd, len, &c) == 0 && c.op == WIRE_KV_GET;
}

uint32_t svc_kv_count(const struct svc_kv *kv)
{
	return kv->n_keys;
}

bool svc_kv_get_direct(const struct svc_kv *kv, const void *key, uint8_t key_len,
		      const uint8_t **value, uint32_t *value_len)
{
	struct kv_entry *en;
	struct kv_key k;
	uint32_t b;

	assert(kv != NULL);
	assert(key != NULL || key_len == 0);
	key_make(kv, &k, key, key_len);
	b = index_probe(kv, &k);
	if (kv->index[b].entry == ENTRY_NIL)
		return false;
	en = entry_at(kv, kv->index[b].entry);
	if (value != NULL)
		*value = entry_value(kv, en);
	if (value_len != NULL)
		*value_len = en->value_len;
	return true;
}
