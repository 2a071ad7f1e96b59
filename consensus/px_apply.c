/* SPDX-License-Identifier: Apache-2.0
 * The applier: chosen slots -> service, with client sessions for exactly-once replies
 * (contract in px_apply.h; Raft dissertation section 6.3, VR's client table).
 *
 * Memory, all carved from the arena at init:
 *   - sessions[max]: the hot per-client fields (id, last seq, LRU links, reply status
 *     and length), 32 bytes each, two to a cache line;
 *   - index[cap]: open-addressing hash index client id -> session, linear probing,
 *     cap = next power of two >= 2 * max (load <= 1/2, so there is always an empty
 *     bucket and every probe loop ends), backward-shift deletion (no tombstones, so
 *     lookups never slow down however many evictions happened);
 *   - replies[max]: the cached reply bytes, kept apart from the hot fields so the
 *     lookup and LRU walk do not drag 4 KiB strides through the cache.
 * Sessions are handed out 0, 1, 2, ... until the table is full; after that a new client
 * takes the slot of the LRU tail. So there is no free list, and which session is
 * evicted depends only on the sequence of applied commands: the same on every replica.
 *
 * Per command: one index probe, one LRU move-to-front, one service call (which writes
 * straight into the session's reply cache) and one memcpy of the reply into out.
 */
#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "px_apply.h"

#define SESS_NIL UINT32_MAX

/* Reply caches are PX_REPLY_BYTES_MAX apart plus one cache line: at a plain 4 KiB
 * stride every cache's first line would fall in the same L1 set (4 KiB aliasing) and
 * only 8 of them could stay in L1 at once. */
#define REPLY_STRIDE (PX_REPLY_BYTES_MAX + 64u)

/* 2^64 / golden ratio, odd: the multiplier of Fibonacci hashing and of the chain. */
#define PHI64 0x9e3779b97f4a7c15ull

/** One client session: the fields every command touches. */
struct apply_session {
	uint64_t client_id;
	/** Highest seq applied for this client. Invariant: >= 1 once in the LRU list. */
	uint64_t last_seq;
	/** LRU links (session indexes), SESS_NIL at the ends. Head = most recent. */
	uint32_t prev;
	uint32_t next;
	/** The cached reply to last_seq: its length (<= PX_REPLY_BYTES_MAX) and status. */
	uint32_t reply_len;
	uint8_t reply_status;
};

_Static_assert(sizeof(struct apply_session) == 32, "two sessions per cache line");

/** One bucket of the hash index. sess == SESS_NIL: empty. */
struct apply_bucket {
	uint64_t client_id;   /* copy of the key, so a probe reads no session */
	uint32_t sess;
	uint32_t pad;
};

struct px_applier {
	struct px_service svc;
	uint64_t last_slot;
	uint64_t chain;
	uint32_t max_sessions;
	uint32_t n_sessions;   /**< Invariant: n_sessions <= max_sessions; used = [0, n) */
	uint32_t index_mask;   /**< index buckets - 1 */
	uint32_t index_shift;  /**< 64 - log2(index buckets) */
	uint32_t lru_head;     /**< most recently used, SESS_NIL when empty */
	uint32_t lru_tail;     /**< least recently used: the next to evict */
	struct apply_session *sessions;
	struct apply_bucket *index;
	uint8_t *replies;      /**< max_sessions x REPLY_STRIDE bytes */
	struct px_apply_counters counters;
};

static inline size_t align64(size_t n)
{
	return (n + 63u) & ~(size_t)63u;
}

static uint32_t index_buckets(uint32_t max_sessions)
{
	uint32_t cap = 1;

	/* Bounded: max_sessions <= PX_SESSIONS_MAX, so at most 17 doublings. */
	while (cap < 2u * max_sessions)
		cap <<= 1;
	return cap;
}

_Static_assert(PX_SESSIONS_MAX <= (UINT32_MAX >> 2), "index size fits a u32");

/* Fibonacci hashing (Knuth 6.4): one multiply, and the top bits, which every bit of
 * the id reaches, pick the bucket. Client ids are often counters or random u64s; both
 * spread well. One multiply rather than a full finalizer (fmix64) because the bucket
 * address is on the critical path of every command. Unkeyed, like any hash all
 * replicas must share without a secret: clients that pick colliding ids on purpose can
 * lengthen probe runs (bounded by the index size), not break anything. */
static inline uint32_t home_bucket(const struct px_applier *a, uint64_t client_id)
{
	return (uint32_t)((client_id * PHI64) >> a->index_shift);
}

static inline uint8_t *reply_cache(const struct px_applier *a, uint32_t s)
{
	return a->replies + (size_t)s * REPLY_STRIDE;
}

size_t px_applier_arena_bytes(uint32_t max_sessions)
{
	if (max_sessions == 0 || max_sessions > PX_SESSIONS_MAX)
		return 0;
	/* 63 bytes of slack: init aligns the arena's start to a cache line. */
	return 63u + align64(sizeof(struct px_applier)) +
	       align64((size_t)max_sessions * sizeof(struct apply_session)) +
	       align64((size_t)index_buckets(max_sessions) * sizeof(struct apply_bucket)) +
	       (size_t)max_sessions * REPLY_STRIDE;
}

struct px_applier *px_applier_init(uint32_t max_sessions, const struct px_service *svc,
				   void *arena, size_t len)
{
	struct px_applier *a;
	uintptr_t base;
	uint8_t *p;
	uint32_t i, buckets;

	if (max_sessions == 0 || max_sessions > PX_SESSIONS_MAX || svc == NULL ||
	    svc->apply == NULL || svc->hash == NULL || arena == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if (len < px_applier_arena_bytes(max_sessions)) {
		errno = ENOSPC;
		return NULL;
	}

	base = ((uintptr_t)arena + 63u) & ~(uintptr_t)63u;
	p = (uint8_t *)base;
	a = (struct px_applier *)p;
	memset(a, 0, sizeof(*a));
	p += align64(sizeof(*a));
	a->sessions = (struct apply_session *)p;
	p += align64((size_t)max_sessions * sizeof(struct apply_session));
	a->index = (struct apply_bucket *)p;
	buckets = index_buckets(max_sessions);
	p += align64((size_t)buckets * sizeof(struct apply_bucket));
	a->replies = p;
	p += (size_t)max_sessions * REPLY_STRIDE;
	assert((size_t)(p - (uint8_t *)arena) <= len);

	a->svc = *svc;
	a->last_slot = 0;
	a->chain = PX_HASH_SEED;
	a->max_sessions = max_sessions;
	a->n_sessions = 0;
	a->index_mask = buckets - 1;
	a->index_shift = 64u - (uint32_t)__builtin_ctz(buckets);
	a->lru_head = SESS_NIL;
	a->lru_tail = SESS_NIL;
	for (i = 0; i < buckets; i++) {
		a->index[i].client_id = 0;
		a->index[i].sess = SESS_NIL;
		a->index[i].pad = 0;
	}
	/* The reply caches are written before they are read; no need to touch 256 MiB. */
	return a;
}

/* ---------------------------------------------------------------------------------- */
/* Hash index                                                                          */

/** The bucket holding client_id, or the empty bucket where it would go. */
static inline uint32_t index_probe(const struct px_applier *a, uint64_t client_id)
{
	uint32_t b = home_bucket(a, client_id);

	/* Ends: the load is at most 1/2, so an empty bucket exists. */
	while (a->index[b].sess != SESS_NIL && a->index[b].client_id != client_id)
		b = (b + 1) & a->index_mask;
	return b;
}

/** Empties bucket b and shifts later members of its cluster back (Knuth 6.4 R). */
static void index_remove(struct px_applier *a, uint32_t b)
{
	const uint32_t mask = a->index_mask;
	uint32_t hole = b, i = (b + 1) & mask, home;

	assert(a->index[b].sess != SESS_NIL);
	while (a->index[i].sess != SESS_NIL) {
		home = home_bucket(a, a->index[i].client_id);
		/* i's entry may fill the hole iff the hole lies on its probe path [home, i]:
		 * its distance from home is at least the distance from the hole. */
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			a->index[hole] = a->index[i];
			hole = i;
		}
		i = (i + 1) & mask;
	}
	a->index[hole].sess = SESS_NIL;
	a->index[hole].client_id = 0;
}

/* ---------------------------------------------------------------------------------- */
/* LRU list                                                                            */

static inline void lru_unlink(struct px_applier *a, uint32_t s)
{
	struct apply_session *e = &a->sessions[s];

	if (e->prev != SESS_NIL)
		a->sessions[e->prev].next = e->next;
	else
		a->lru_head = e->next;
	if (e->next != SESS_NIL)
		a->sessions[e->next].prev = e->prev;
	else
		a->lru_tail = e->prev;
}

static inline void lru_push_front(struct px_applier *a, uint32_t s)
{
	struct apply_session *e = &a->sessions[s];

	e->prev = SESS_NIL;
	e->next = a->lru_head;
	if (a->lru_head != SESS_NIL)
		a->sessions[a->lru_head].prev = s;
	else
		a->lru_tail = s;
	a->lru_head = s;
}

static inline void lru_touch(struct px_applier *a, uint32_t s)
{
	if (a->lru_head == s)
		return;
	lru_unlink(a, s);
	lru_push_front(a, s);
}

/**
 * A new session for client_id, whose empty bucket is b. Evicts the LRU session when
 * the table is full. The new session is at the LRU head with last_seq 0.
 */
static uint32_t session_create(struct px_applier *a, uint64_t client_id, uint32_t b)
{
	struct apply_session *e;
	uint32_t s;

	if (a->n_sessions < a->max_sessions) {
		s = a->n_sessions++;
	} else {
		s = a->lru_tail;
		assert(s != SESS_NIL);
		lru_unlink(a, s);
		index_remove(a, index_probe(a, a->sessions[s].client_id));
		a->counters.evictions++;
		/* The removal may have shifted client_id's cluster: look again. */
		b = index_probe(a, client_id);
	}
	assert(a->index[b].sess == SESS_NIL);
	a->index[b].client_id = client_id;
	a->index[b].sess = s;

	e = &a->sessions[s];
	e->client_id = client_id;
	e->last_seq = 0;
	e->reply_len = 0;
	e->reply_status = PX_OK;
	lru_push_front(a, s);
	return s;
}

/* ---------------------------------------------------------------------------------- */
/* Applying                                                                            */

static void emit(struct px_applier *a, struct px_apply_out *out, const struct px_cmd_ref *c,
		 uint8_t status, const uint8_t *data, uint32_t len)
{
	struct px_reply *r;
	uint32_t room, n;

	/* A valid batch has at most PX_BATCH_CMDS_MAX commands, one reply each. */
	assert(out->n < PX_BATCH_CMDS_MAX);
	assert(out->used <= PX_APPLY_OUT_BYTES);
	room = PX_APPLY_OUT_BYTES - out->used;
	n = len < room ? len : room;
	if (n < len)
		a->counters.replies_cut++;

	r = &out->replies[out->n++];
	r->client_id = c->client_id;
	r->seq = c->seq;
	r->status = status;
	r->len = n;
	r->data = out->buf + out->used;
	if (n != 0)
		memcpy(out->buf + out->used, data, n);
	out->used += n;
}

static void apply_cmd(struct px_applier *a, const struct px_cmd_ref *c,
		      struct px_apply_out *out)
{
	struct apply_session *e;
	uint8_t *cache, status;
	uint32_t b, s, rlen;

	if (c->seq == 0) {
		a->counters.bad_seq++;
		emit(a, out, c, PX_BAD_COMMAND, NULL, 0);
		return;
	}

	b = index_probe(a, c->client_id);
	s = a->index[b].sess;
	if (s == SESS_NIL) {
		if (c->seq != 1) {
			/* Evicted (or never seen): whether an earlier seq was applied can no
			 * longer be told, so neither applying nor dropping this one is safe. */
			a->counters.expired++;
			emit(a, out, c, PX_SESSION_EXPIRED, NULL, 0);
			return;
		}
		s = session_create(a, c->client_id, b);
	} else {
		lru_touch(a, s);
	}

	e = &a->sessions[s];
	cache = reply_cache(a, s);
	if (c->seq == e->last_seq) {
		a->counters.duplicates++;
		emit(a, out, c, e->reply_status, cache, e->reply_len);
		return;
	}
	if (c->seq < e->last_seq) {
		a->counters.stale++;
		emit(a, out, c, PX_SESSION_EXPIRED, NULL, 0);
		return;
	}

	status = PX_OK;
	rlen = a->svc.apply(a->svc.ctx, c->body, c->len, cache, PX_REPLY_BYTES_MAX, &status);
	/* The service is our code (or the embedder's): breaking its contract is a bug. */
	assert(rlen <= PX_REPLY_BYTES_MAX);
	assert(status == PX_OK || status == PX_BAD_COMMAND);
	e->last_seq = c->seq;
	e->reply_len = rlen;
	e->reply_status = status;
	a->counters.commands++;
	emit(a, out, c, status, cache, rlen);
}

static inline uint64_t chain_word(uint64_t h, uint64_t w)
{
	return (h ^ w) * PHI64;
}

static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
	return le64toh(w);
}

/**
 * Mixes (slot, value) into the chain (see px_applier_chain). The value goes through four
 * independent lanes, 32 bytes per round, folded into the chain at the end: one lane
 * would be a chain of dependent multiplies, 4 cycles per 8 bytes, which measured as a
 * third of px_apply_slot's time on 16-byte commands.
 */
static uint64_t chain_slot(uint64_t h, uint64_t slot, const uint8_t *v, uint32_t len)
{
	uint64_t l0 = slot, l1 = len, l2 = ~slot, l3 = ~(uint64_t)len, w;
	uint32_t i;

	for (i = 0; i + 32 <= len; i += 32) {
		l0 = chain_word(l0, load_le64(v + i));
		l1 = chain_word(l1, load_le64(v + i + 8));
		l2 = chain_word(l2, load_le64(v + i + 16));
		l3 = chain_word(l3, load_le64(v + i + 24));
	}
	for (; i + 8 <= len; i += 8)
		l0 = chain_word(l0, load_le64(v + i));
	if (i < len) {
		w = 0;
		memcpy(&w, v + i, len - i);
		l1 = chain_word(l1, le64toh(w));
	}
	h = chain_word(h, slot);
	h = chain_word(h, l0);
	h = chain_word(h, l1);
	h = chain_word(h, l2);
	return chain_word(h, l3);
}

void px_apply_slot(struct px_applier *a, uint64_t slot, const uint8_t *value, uint32_t len,
		   struct px_apply_out *out)
{
	struct px_cmd_ref c;
	uint32_t off = 0, n = 0;

	assert(a != NULL);
	assert(out != NULL);
	assert(value != NULL);
	assert(slot == a->last_slot + 1);
	assert(len >= PX_BATCH_HDR_BYTES);
	assert(len <= PX_SLOT_BYTES_MAX);

	out->n = 0;
	out->used = 0;
	a->chain = chain_slot(a->chain, slot, value, len);
	a->last_slot = slot;
	a->counters.slots++;

	/* Bounded: each step consumes at least PX_CMD_HDR_BYTES of len. */
	while (px_batch_next(value, len, &off, &c)) {
		apply_cmd(a, &c, out);
		n++;
	}
	/* Trusting the codec's validation, but not blindly: the walk must have seen every
	 * command the header announced and ended exactly at len. */
	assert(n == px_batch_count(value));
	assert(off == len);
	if (n == 0)
		a->counters.noops++;
}

/* ---------------------------------------------------------------------------------- */
/* Queries                                                                             */

uint64_t px_applier_last_slot(const struct px_applier *a)
{
	return a->last_slot;
}

uint64_t px_applier_chain(const struct px_applier *a)
{
	return a->chain;
}

const struct px_apply_counters *px_applier_counters(const struct px_applier *a)
{
	return &a->counters;
}

uint32_t px_applier_sessions(const struct px_applier *a)
{
	return a->n_sessions;
}

bool px_applier_session_peek(const struct px_applier *a, uint64_t client_id,
			     uint64_t *last_seq)
{
	uint32_t s = a->index[index_probe(a, client_id)].sess;

	if (s == SESS_NIL)
		return false;
	if (last_seq != NULL)
		*last_seq = a->sessions[s].last_seq;
	return true;
}

const char *px_applier_check_invariants(const struct px_applier *a)
{
	uint32_t s, prev, n, i, used = 0;

	if (a->n_sessions > a->max_sessions)
		return "n_sessions <= max_sessions";
	if (a->index_mask + 1 < 2u * a->max_sessions)
		return "index buckets >= 2 * max_sessions";

	/* The LRU list holds every used session once, with consistent back links. */
	prev = SESS_NIL;
	n = 0;
	for (s = a->lru_head; s != SESS_NIL; s = a->sessions[s].next) {
		if (s >= a->n_sessions)
			return "LRU member is a used session";
		if (++n > a->n_sessions)
			return "LRU list has no cycle";
		if (a->sessions[s].prev != prev)
			return "LRU prev link mirrors next";
		if (a->sessions[s].last_seq == 0)
			return "session in LRU has applied a command";
		if (a->sessions[s].reply_len > PX_REPLY_BYTES_MAX)
			return "cached reply fits PX_REPLY_BYTES_MAX";
		prev = s;
	}
	if (n != a->n_sessions)
		return "LRU list holds every session";
	if (a->lru_tail != prev)
		return "LRU tail is the last member";

	/* The index maps exactly the used sessions, each reachable from its home. */
	for (i = 0; i <= a->index_mask; i++) {
		s = a->index[i].sess;
		if (s == SESS_NIL)
			continue;
		if (s >= a->n_sessions)
			return "index names a used session";
		if (a->sessions[s].client_id != a->index[i].client_id)
			return "index key matches its session";
		if (index_probe(a, a->index[i].client_id) != i)
			return "index entry reachable from its home bucket";
		used++;
	}
	if (used != a->n_sessions)
		return "index holds every session once";
	return NULL;
}
