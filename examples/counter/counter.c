/* SPDX-License-Identifier: Apache-2.0
 * counter: a paxwire service plugin (services/paxwire_service.h) holding named signed
 * 64-bit counters. Encoding in counter.h; README.md shows how to run it.
 *
 * Parameters ([service.counter] in the cluster file):
 *   counters = 1024     ; how many counters it holds, 1..CTR_COUNTERS_MAX
 *   name_bytes = 32     ; longest name, 1..CTR_NAME_BYTES_MAX
 *
 * Memory, all in the arena paxwired gives init(): a header, then an open-addressing
 * table of cap = next power of two >= 2 * counters slots (load <= 1/2: every probe
 * ends at an empty slot), linear probing on the name's FNV-1a hash. Counters are never
 * removed, so there is no deletion to handle.
 *
 * Determinism: a slot's place depends on the order of the ADDs that created counters,
 * which is the same on every replica (they apply one log); hash() does not even rely
 * on that: it is a sum of per-counter hashes, so any two tables with the same counters
 * and values agree. Nothing reads a clock, allocates, or does I/O.
 *
 * Snapshots (state transfer to a replica that fell behind): the counters held, written
 * and read by snapshot() and restore() below; restore() rebuilds the table in place.
 */
#include <assert.h>
#include <stdbool.h>

#include "counter.h"
#include "paxwire_service.h"

_Static_assert(CTR_CMD_HDR_BYTES + CTR_NAME_BYTES_MAX <= PX_CMD_BYTES_MAX,
	       "a command with the longest name fits one command");
_Static_assert(CTR_REPLY_BYTES <= PX_REPLY_BYTES_MAX, "a reply fits the reply cache");
_Static_assert(CTR_NAME_BYTES_MAX <= UINT8_MAX, "name_len is one byte");

/** One slot: used, then the name and the value. */
struct ctr_slot {
	int64_t value;
	uint8_t used;
	uint8_t name_len;
	uint8_t name[];   /**< name_bytes of room */
};

struct ctr {
	uint32_t counters_max;
	uint32_t name_bytes;
	uint32_t mask;      /**< cap - 1; cap a power of two >= 2 * counters_max */
	uint32_t stride;    /**< bytes per slot, a multiple of 8 */
	uint32_t n;         /**< counters held. Invariant: n <= counters_max */
	uint8_t *slots;
};

static size_t align64(size_t n) { return (n + 63u) & ~(size_t)63u; }

static uint32_t slot_stride(uint32_t name_bytes)
{
	return (uint32_t)((sizeof(struct ctr_slot) + name_bytes + 7u) & ~(size_t)7u);
}

static uint32_t table_cap(uint32_t counters)
{
	uint32_t cap = 2;
	while (cap < 2u * counters)
		cap <<= 1;
	return cap;
}

static inline struct ctr_slot *slot_at(const struct ctr *c, uint32_t i)
{
	return (struct ctr_slot *)(c->slots + (size_t)i * c->stride);
}

static uint64_t mix64(uint64_t k)   /* splitmix64's finaliser */
{
	k ^= k >> 30;
	k *= 0xbf58476d1ce4e5b9ull;
	k ^= k >> 27;
	k *= 0x94d049bb133111ebull;
	return k ^ (k >> 31);
}

/** The slot holding name, or the empty slot where it would go. */
static struct ctr_slot *find(const struct ctr *c, const uint8_t *name, uint32_t len)
{
	uint32_t i = (uint32_t)px_hash_bytes(PX_HASH_SEED, name, len) & c->mask;
	for (;;) {   /* ends: at most half the slots are used */
		struct ctr_slot *s = slot_at(c, i);
		if (!s->used || (s->name_len == len && memcmp(s->name, name, len) == 0))
			return s;
		i = (i + 1u) & c->mask;
	}
}

/* ---------------------------------------------------------------------------------- */
/* struct px_service                                                                   */

/** Structure only (the bytes alone, as is_read requires); limits are apply()'s. */
static bool well_formed(const uint8_t *cmd, uint32_t len)
{
	if (len < CTR_CMD_HDR_BYTES || cmd[2] != 0 || cmd[3] != 0 || cmd[1] == 0 ||
	    len != CTR_CMD_HDR_BYTES + cmd[1])
		return false;
	if (cmd[0] == CTR_GET)
		return ctr_ld64(cmd + 4) == 0;
	return cmd[0] == CTR_ADD;
}

static uint32_t reply_with(uint8_t *reply, uint8_t result, int64_t value)
{
	reply[0] = result;
	ctr_st64(reply + 1, (uint64_t)value);
	return CTR_REPLY_BYTES;
}

static uint32_t ctr_apply(void *ctx, const uint8_t *cmd, uint32_t len, uint8_t *reply,
			  uint32_t cap, uint8_t *status)
{
	struct ctr *c = ctx;
	assert(cap >= CTR_REPLY_BYTES);   /* the applier passes PX_REPLY_BYTES_MAX */
	*status = PX_OK;
	if (!well_formed(cmd, len) || cmd[1] > c->name_bytes) {
		*status = PX_BAD_COMMAND;
		return reply_with(reply, CTR_R_BAD, 0);
	}
	const uint8_t *name = cmd + CTR_CMD_HDR_BYTES;
	uint32_t name_len = cmd[1];
	struct ctr_slot *s = find(c, name, name_len);
	if (cmd[0] == CTR_GET)
		return s->used ? reply_with(reply, CTR_R_OK, s->value)
			       : reply_with(reply, CTR_R_NOT_FOUND, 0);
	int64_t arg = (int64_t)ctr_ld64(cmd + 4);
	if (!s->used) {
		if (c->n == c->counters_max)
			return reply_with(reply, CTR_R_FULL, 0);
		s->used = 1;
		s->name_len = (uint8_t)name_len;
		memcpy(s->name, name, name_len);
		s->value = 0;
		c->n++;
	}
	int64_t sum;
	if (__builtin_add_overflow(s->value, arg, &sum))
		return reply_with(reply, CTR_R_OVERFLOW, s->value);
	s->value = sum;
	return reply_with(reply, CTR_R_OK, sum);
}

static uint64_t ctr_hash(const void *ctx)
{
	const struct ctr *c = ctx;
	uint64_t sum = 0;
	for (uint32_t i = 0; i <= c->mask; i++) {
		const struct ctr_slot *s = slot_at(c, i);
		if (s->used)
			sum += mix64(px_hash_bytes(PX_HASH_SEED, s->name, s->name_len) ^
				     mix64((uint64_t)s->value));
	}
	return mix64(sum ^ ((uint64_t)c->n * 0x9e3779b97f4a7c15ull));
}

static bool ctr_is_read(void *ctx, const uint8_t *cmd, uint32_t len)
{
	(void)ctx;
	return well_formed(cmd, len) && cmd[0] == CTR_GET;
}

/* ---------------------------------------------------------------------------------- */
/* Snapshots: the counters held, not the table                                         */

/*
 * Little-endian, no padding:
 *   magic "PWCTRSN1" | u32 counters | u32 name_bytes | u32 n
 *   then n times: u8 name_len | i64 value | name[name_len]
 * counters and name_bytes are the writer's. restore() takes any snapshot whose counters
 * fit this instance; with the same parameters (a cluster's replicas) it answers every
 * later command as the writer would: the same values, and FULL at the same ADD (n is
 * the same). Where a counter sits in the table depends on the order it is re-added in,
 * which nothing outside can see.
 */
#define SNAP_MAGIC "PWCTRSN1"
#define SNAP_HDR_BYTES 20u
#define SNAP_ENTRY_HDR_BYTES 9u

static void st32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static size_t ctr_snapshot_max(const void *ctx)
{
	const struct ctr *c = ctx;
	return SNAP_HDR_BYTES + (size_t)c->counters_max * (SNAP_ENTRY_HDR_BYTES + c->name_bytes);
}

static size_t ctr_snapshot(const void *ctx, uint8_t *buf, size_t cap)
{
	const struct ctr *c = ctx;
	assert(cap >= ctr_snapshot_max(c));   /* the embedder's buffer: snapshot_max bytes */
	(void)cap;
	memcpy(buf, SNAP_MAGIC, 8);
	st32(buf + 8, c->counters_max);
	st32(buf + 12, c->name_bytes);
	st32(buf + 16, c->n);
	size_t off = SNAP_HDR_BYTES;
	for (uint32_t i = 0; i <= c->mask; i++) {
		const struct ctr_slot *s = slot_at(c, i);
		if (!s->used)
			continue;
		buf[off] = s->name_len;
		ctr_st64(buf + off + 1, (uint64_t)s->value);
		memcpy(buf + off + SNAP_ENTRY_HDR_BYTES, s->name, s->name_len);
		off += SNAP_ENTRY_HDR_BYTES + s->name_len;
	}
	return off;
}

/** Every slot unused, no counter: the state init() leaves. */
static void ctr_reset(struct ctr *c)
{
	for (uint32_t i = 0; i <= c->mask; i++)
		slot_at(c, i)->used = 0;
	c->n = 0;
}

/** Adds the snapshot's counters to the empty table. -EINVAL: malformed or too big. */
static int ctr_restore_counters(struct ctr *c, const uint8_t *buf, size_t len)
{
	if (len < SNAP_HDR_BYTES || memcmp(buf, SNAP_MAGIC, 8) != 0)
		return -EINVAL;
	uint32_t counters = ld32(buf + 8), name_bytes = ld32(buf + 12), n = ld32(buf + 16);
	if (counters == 0 || counters > CTR_COUNTERS_MAX || name_bytes == 0 ||
	    name_bytes > CTR_NAME_BYTES_MAX || n > counters || n > c->counters_max)
		return -EINVAL;
	size_t off = SNAP_HDR_BYTES;
	for (uint32_t i = 0; i < n; i++) {   /* bounded: n <= counters_max */
		if (len - off < SNAP_ENTRY_HDR_BYTES)
			return -EINVAL;
		uint32_t name_len = buf[off];
		int64_t value = (int64_t)ctr_ld64(buf + off + 1);
		off += SNAP_ENTRY_HDR_BYTES;
		if (name_len == 0 || name_len > name_bytes || name_len > c->name_bytes ||
		    len - off < name_len)
			return -EINVAL;
		struct ctr_slot *s = find(c, buf + off, name_len);
		if (s->used)
			return -EINVAL;   /* the same name twice */
		s->used = 1;
		s->name_len = (uint8_t)name_len;
		memcpy(s->name, buf + off, name_len);
		s->value = value;
		c->n++;
		off += name_len;
	}
	return off == len ? 0 : -EINVAL;   /* trailing bytes */
}

static int ctr_restore(void *ctx, const uint8_t *buf, size_t len)
{
	struct ctr *c = ctx;
	ctr_reset(c);
	if (len == 0)
		return 0;
	if (buf == NULL || ctr_restore_counters(c, buf, len) != 0) {
		ctr_reset(c);   /* refused: empty, not half restored */
		return -EINVAL;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------- */
/* The descriptor                                                                      */

static const char *const ctr_keys[] = { "counters", "name_bytes" };

static int ctr_params(const struct svc_params *p, uint32_t *counters, uint32_t *name_bytes,
		      char *err, size_t errlen)
{
	int rc = svc_params_only(p, ctr_keys, 2, err, errlen);
	if (rc == 0)
		rc = svc_param_u32(p, "counters", 1, CTR_COUNTERS_MAX, 1024, counters, err, errlen);
	if (rc == 0)
		rc = svc_param_u32(p, "name_bytes", 1, CTR_NAME_BYTES_MAX, 32, name_bytes, err,
				   errlen);
	return rc;
}

static size_t arena_bytes(uint32_t counters, uint32_t name_bytes)
{
	return align64(sizeof(struct ctr)) + (size_t)table_cap(counters) * slot_stride(name_bytes);
}

static int ctr_check(const struct svc_params *p, size_t *bytes, char *err, size_t errlen)
{
	uint32_t counters, name_bytes;
	int rc = ctr_params(p, &counters, &name_bytes, err, errlen);
	if (rc == 0)
		*bytes = arena_bytes(counters, name_bytes);
	return rc;
}

static int ctr_init(const struct svc_params *p, void *arena, size_t len, struct px_service *svc,
		    char *err, size_t errlen)
{
	uint32_t counters, name_bytes;
	int rc = ctr_params(p, &counters, &name_bytes, err, errlen);
	if (rc != 0)
		return rc;
	if (arena == NULL || len < arena_bytes(counters, name_bytes))
		return svc_fail(p, p->section_line, err, errlen, "counter: arena of %zu bytes, %zu needed; fix: give init() what check() asked for",
				len, arena_bytes(counters, name_bytes));
	/* The arena is zeroed: every slot starts unused. */
	struct ctr *c = arena;
	c->counters_max = counters;
	c->name_bytes = name_bytes;
	c->mask = table_cap(counters) - 1u;
	c->stride = slot_stride(name_bytes);
	c->n = 0;
	c->slots = (uint8_t *)arena + align64(sizeof(struct ctr));
	svc->apply = ctr_apply;
	svc->hash = ctr_hash;
	svc->ctx = c;
	svc->is_read = ctr_is_read;
	svc->snapshot_max = ctr_snapshot_max;
	svc->snapshot = ctr_snapshot;
	svc->restore = ctr_restore;
	return 0;
}

static const struct svc_desc counter_desc = {
	.abi_version = SVC_ABI_VERSION,
	.name = "counter",
	.summary = "named signed 64-bit counters: ADD, GET (counters, name_bytes)",
	.check = ctr_check,
	.init = ctr_init,
};

const struct svc_desc *paxwire_service(void)
{
	return &counter_desc;
}
