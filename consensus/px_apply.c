/* SPDX-License-Identifier: Apache-2.0
 * The applier: chosen slots -> service, with registered client sessions for
 * exactly-once replies (contract in px_apply.h; Ongaro's dissertation section 6.3, VR's
 * client table).
 *
 * A session id is the log position of the registration that created it
 * (px_session_id: slot * PX_BATCH_CMDS_MAX + index in the batch). Positions are unique
 * and only grow, so ids are never reused, and whether an id the table does not hold
 * was evicted (a position the log has passed) or never issued (one it has not reached)
 * is a comparison, with no memory of evicted ids.
 *
 * Memory, all carved from the arena at init:
 *   - sessions[max + 1]: the hot per-session fields (id, last seq, floor, the window's
 *     applied bits, LRU links, the reply ring's write position), 64 bytes each, one to
 *     a cache line. sessions[0] is not a session but the LRU list's sentinel; sessions
 *     1..max are handed out. The list is circular through the sentinel, so moving a
 *     session to the front is a fixed sequence of loads and stores with no end cases;
 *   - index[cap]: open-addressing hash index session id -> session, linear probing,
 *     backward-shift deletion; cap = next power of two >= 2 * max: load <= 1/2, there
 *     is always an empty bucket and every probe loop ends;
 *   - cold[max + 1]: per session (slot 0, the sentinel's, unused) its window's entries
 *     (PX_SESSION_WINDOW x 8 bytes: where in the ring each applied seq's reply is, its
 *     length and status; entry seq % PX_SESSION_WINDOW) and its reply ring
 *     (PX_REPLY_BYTES_MAX bytes and a cache line of slack), kept apart from the hot
 *     fields so the lookup and LRU walk do not drag 4 KiB strides through the cache.
 * The reply ring: replies are laid one after the other at a write position that only
 * grows (u32, taken modulo the ring), a reply that would cross the ring's end starting
 * over at its beginning instead (a reply is never split). A reply written at stream
 * position `start` is intact while written - start <= PX_REPLY_BYTES_MAX: the ring holds
 * the last PX_REPLY_BYTES_MAX positions written. So the newest reply is always kept,
 * and small ones (a kv PUT's five bytes) for the whole window. The placement depends on
 * the session's applied commands only: the same on every replica, and in snapshots.
 * Sessions are named by their byte offset in sessions[] (a "ref", index * 64): the LRU
 * links and the index hold refs, so following one is a single addressing mode, no
 * shift. Ref 0 is the sentinel; in an index bucket it means "empty", so a zeroed index
 * is an empty one.
 * Sessions are handed out 1, 2, ... until the table is full; after that a registration
 * takes the slot of the LRU tail. So there is no free list, and which session is
 * evicted depends only on the sequence of applied commands: the same on every replica.
 *
 * Per command: one index probe, one LRU move-to-front, a few shifts on the window's
 * bits, one service call (which writes straight into out) and one copy of the reply
 * into the session's ring (a duplicate: one copy from the ring into out, a single
 * 16-byte move for a reply of up to 16 bytes, such as a kv PUT's five). out holds a
 * whole batch of the longest replies (PX_APPLY_OUT_BYTES), so a copy is never cut.
 * The batch is walked here rather than through px_batch_next: the walk is the loop
 * around everything else, and a call per command cost more than the walk itself.
 */
#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "px_apply.h"
#include "wire_le.h"

/* A session's reply ring: PX_REPLY_BYTES_MAX bytes (a power of two: positions are taken
 * modulo it with a mask), then REPLY_SHORT_BYTES of slack for emit()'s fixed-size reads. */
#define RING_BYTES PX_REPLY_BYTES_MAX
#define RING_MASK (RING_BYTES - 1u)
#define WIN PX_SESSION_WINDOW
#define WIN_MASK (PX_SESSION_WINDOW - 1u)
/* The window's bits of a session's `applied`. */
#define WIN_ALL (WIN == 64u ? ~0ull : (1ull << (WIN % 64u)) - 1u)

/* Replies of at most this many bytes are copied into out as one fixed-size move. */
#define REPLY_SHORT_BYTES 16u

/* A session's cold block: its window's entries, then its ring, padded to a cache line.
 * The stride is an odd number of cache lines: at a multiple of 4 KiB every block's
 * first line would fall in the same L1 set (4 KiB aliasing). */
#define COLD_ENTRIES_BYTES (WIN * 8u)
#define COLD_STRIDE (COLD_ENTRIES_BYTES + RING_BYTES + 64u)

/* 2^64 / golden ratio, odd: the multiplier of Fibonacci hashing and of the chain. */
#define PHI64 0x9e3779b97f4a7c15ull

/* The batch layout px_batch.h defines, read here in place (see the file comment). */
#define CMD_OFF_CLIENT 0u
#define CMD_OFF_SEQ 8u
#define CMD_OFF_LEN 16u

_Static_assert(CMD_OFF_LEN + 4u == PX_CMD_HDR_BYTES, "command header layout");
_Static_assert(PX_BATCH_HDR_BYTES == 4u, "batch header is one u32");
_Static_assert((RING_BYTES & RING_MASK) == 0, "the ring is a power of two");
_Static_assert(COLD_STRIDE - COLD_ENTRIES_BYTES - RING_BYTES >= REPLY_SHORT_BYTES,
	       "a short copy out of the ring stays inside the session's block");
_Static_assert((COLD_STRIDE / 64u) % 2u == 1u, "cold blocks: an odd number of lines");
_Static_assert(PX_REPLY_BYTES_MAX >= REPLY_SHORT_BYTES, "a short copy stays inside out");

/** One client session: the fields every command touches. */
struct apply_session {
	/** The session id: the log position of its registration. Invariant: != 0, and a
	 *  position the applier has applied. */
	uint64_t id;
	/** Highest seq applied in this session; 0 until its first command. */
	uint64_t last_seq;
	/** The highest floor a command named (seq - behind): the client awaits nothing
	 *  below it. Invariant: floor <= last_seq. */
	uint64_t floor;
	/** Bit i: seq last_seq - i was applied (i < PX_SESSION_WINDOW). Invariant: bit 0
	 *  set iff last_seq != 0. */
	uint64_t applied;
	/** LRU links (refs); the sentinel (ref 0) closes the circle: its next is the most
	 *  recent session (head), its prev the least recent (tail). */
	uint32_t prev;
	uint32_t next;
	/** Who registered it: px_session_owner of the registration's nonce (an
	 *  authenticated client's key; docs/security.md, "Sessions"). */
	uint32_t owner;
	/** The reply ring's write position (a stream position, modulo 2^32). */
	uint32_t written;
	uint64_t pad[2];
};

/** Where one applied seq's reply is: entry seq % PX_SESSION_WINDOW of its session. */
struct apply_entry {
	uint32_t start;         /**< its ring stream position; kept iff written - start <=
	                             RING_BYTES */
	uint16_t len;
	uint8_t status;
	uint8_t pad;
};

#define SESS_BYTES 64u
_Static_assert(sizeof(struct apply_session) == SESS_BYTES, "one session per cache line");
_Static_assert(sizeof(struct apply_entry) * WIN == COLD_ENTRIES_BYTES, "entries are 8 bytes");
_Static_assert(COLD_STRIDE % SESS_BYTES == 0, "a ref scales to its cold block");
_Static_assert(PX_REPLY_BYTES_MAX <= UINT16_MAX, "a reply's length fits an entry's len");
_Static_assert(((uint64_t)PX_SESSIONS_MAX + 1) * SESS_BYTES <= UINT32_MAX, "refs fit a u32");

/** One bucket of the hash index. ref == 0: empty. */
struct apply_bucket {
	uint64_t id;          /* copy of the key, so a probe reads no session */
	uint32_t ref;
	uint32_t pad;
};

struct px_applier {
	struct px_service svc;
	uint64_t last_slot;
	uint64_t chain;
	uint32_t max_sessions;
	uint32_t n_sessions;   /**< Invariant: n_sessions <= max_sessions; used = [1, n] */
	uint32_t index_mask;   /**< index buckets - 1 */
	uint32_t index_shift;  /**< 64 - log2(index buckets) */
	struct px_uuid uuid;   /**< bound by the first bind in the log; zero before */
	uint32_t members;      /**< members the log recorded as having run (px_members_body) */
	/** The membership in force after last_slot (px_members.c; epoch 0: not known, an
	 *  older snapshot's), and each id's address as the newest configuration entry that
	 *  took named it (NUL-terminated; empty: none). */
	struct px_membership ms;
	char addr[PX_REPLICAS_MAX][PX_CONF_ADDR_BYTES + 1];
	struct apply_session *sessions;
	struct apply_bucket *index;
	uint8_t *cold;         /**< (max_sessions + 1) x COLD_STRIDE bytes */
	struct px_apply_counters counters;
};

static inline size_t align64(size_t n)
{
	return (n + 63u) & ~(size_t)63u;
}

static uint32_t index_buckets(uint32_t max_sessions)
{
	uint32_t cap = 1;

	/* Bounded: max_sessions <= PX_SESSIONS_MAX, so at most 18 doublings. Load <= 1/2. */
	while (cap < 2u * max_sessions)
		cap <<= 1;
	return cap;
}

_Static_assert(PX_SESSIONS_MAX <= (UINT32_MAX >> 2), "index size fits a u32");

/* Fibonacci hashing (Knuth 6.4): one multiply, and the top bits, which every bit of
 * the id reaches, pick the bucket. Session ids are log positions, close together and
 * increasing: Fibonacci hashing spreads such runs evenly. One multiply rather than a
 * full finalizer (fmix64) because the bucket address is on the critical path of every
 * command. Clients cannot choose the ids the table holds (the log does), only the ids
 * they look up, which lengthens nothing. */
static inline uint32_t home_bucket(const struct px_applier *a, uint64_t id)
{
	return (uint32_t)((id * PHI64) >> a->index_shift);
}

static inline uint32_t ref_of(uint32_t s)
{
	return s * SESS_BYTES;
}

static inline struct apply_session *sess_at(struct apply_session *ss, uint32_t ref)
{
	return (struct apply_session *)((uint8_t *)ss + ref);
}

static inline uint8_t *cold_of(const struct px_applier *a, uint32_t ref)
{
	return a->cold + (size_t)ref * (COLD_STRIDE / SESS_BYTES);
}

/** A session's window entries (cold_of) and its ring. */
static inline struct apply_entry *entries_of(uint8_t *cold)
{
	return (struct apply_entry *)cold;
}
static inline uint8_t *ring_of(uint8_t *cold)
{
	return cold + COLD_ENTRIES_BYTES;
}

/** True if the ring still holds the reply of entry x (written: the session's). */
static inline bool entry_kept(const struct apply_entry *x, uint32_t written)
{
	return written - x->start <= RING_BYTES;
}

/** Where a reply of len bytes goes on the session's ring: the stream position it takes
 *  (the write position, or the next start of the ring if it would cross the end). */
static inline uint32_t ring_place(struct apply_session *e, uint32_t len)
{
	uint32_t pos = e->written & RING_MASK;

	if (pos + len > RING_BYTES)
		e->written += RING_BYTES - pos;
	uint32_t start = e->written;
	e->written += len;
	return start;
}

size_t px_applier_arena_bytes(uint32_t max_sessions)
{
	if (max_sessions == 0 || max_sessions > PX_SESSIONS_MAX)
		return 0;
	/* 63 bytes of slack: init aligns the arena's start to a cache line. */
	return 63u + align64(sizeof(struct px_applier)) +
	       align64(((size_t)max_sessions + 1) * sizeof(struct apply_session)) +
	       align64((size_t)index_buckets(max_sessions) * sizeof(struct apply_bucket)) +
	       ((size_t)max_sessions + 1) * COLD_STRIDE;
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
	p += align64(((size_t)max_sessions + 1) * sizeof(struct apply_session));
	a->index = (struct apply_bucket *)p;
	buckets = index_buckets(max_sessions);
	p += align64((size_t)buckets * sizeof(struct apply_bucket));
	a->cold = p;
	p += ((size_t)max_sessions + 1) * COLD_STRIDE;
	assert((size_t)(p - (uint8_t *)arena) <= len);

	a->svc = *svc;
	a->last_slot = 0;
	a->chain = PX_HASH_SEED;
	a->max_sessions = max_sessions;
	a->n_sessions = 0;
	a->index_mask = buckets - 1;
	a->index_shift = 64u - (uint32_t)__builtin_ctz(buckets);
	/* The sentinel alone: an empty circle. */
	memset(&a->sessions[0], 0, sizeof(a->sessions[0]));
	for (i = 0; i < buckets; i++) {
		a->index[i].id = 0;
		a->index[i].ref = 0;
		a->index[i].pad = 0;
	}
	/* The cold blocks are written before they are read; no need to touch 300 MiB. */
	return a;
}

/* ---------------------------------------------------------------------------------- */
/* Hash index                                                                          */

/** The bucket holding id, or the empty bucket where it would go. */
static inline uint32_t index_probe(const struct px_applier *a, uint64_t id)
{
	const struct apply_bucket *index = a->index;
	uint32_t b = home_bucket(a, id);

	/* Ends: the load is at most 1/2, so an empty bucket exists. */
	while (index[b].ref != 0 && index[b].id != id)
		b = (b + 1) & a->index_mask;
	return b;
}

/** Empties bucket b and shifts later members of its cluster back (Knuth 6.4 R). */
static void index_remove(struct px_applier *a, uint32_t b)
{
	const uint32_t mask = a->index_mask;
	uint32_t hole = b, i = (b + 1) & mask, home;

	assert(a->index[b].ref != 0);
	while (a->index[i].ref != 0) {
		home = home_bucket(a, a->index[i].id);
		/* i's entry may fill the hole iff the hole lies on its probe path [home, i]:
		 * its distance from home is at least the distance from the hole. */
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			a->index[hole] = a->index[i];
			hole = i;
		}
		i = (i + 1) & mask;
	}
	a->index[hole].ref = 0;
	a->index[hole].id = 0;
}

/* ---------------------------------------------------------------------------------- */
/* LRU list: circular through the sentinel, ref 0                                      */

static inline void lru_unlink(struct apply_session *ss, uint32_t ref)
{
	struct apply_session *e = sess_at(ss, ref);
	uint32_t p = e->prev, n = e->next;

	sess_at(ss, p)->next = n;
	sess_at(ss, n)->prev = p;
}

/** Links the unlinked session ref in at the head, right after the sentinel. */
static inline void lru_push_front(struct apply_session *ss, uint32_t ref)
{
	struct apply_session *e = sess_at(ss, ref);
	uint32_t first = ss[0].next;

	e->prev = 0;
	e->next = first;
	sess_at(ss, first)->prev = ref;
	ss[0].next = ref;
}

/** Makes the linked session ref the most recent. Also right when it already is:
 *  unlinking it first makes its successor the head it is pushed in front of. */
static inline void lru_touch(struct apply_session *ss, uint32_t ref)
{
	lru_unlink(ss, ref);
	lru_push_front(ss, ref);
}

/**
 * A new session with this id (a registration's log position, so not in the index).
 * Evicts the LRU session when the table is full: its id simply leaves the index, as
 * no later registration can take it again. The new session is at the LRU head with
 * last_seq 0 and an empty window.
 */
static void session_create(struct px_applier *a, uint64_t id, uint32_t owner)
{
	struct apply_session *e;
	uint32_t ref, b;

	if (a->n_sessions < a->max_sessions) {
		ref = ref_of(++a->n_sessions);
	} else {
		ref = a->sessions[0].prev;
		assert(ref != 0);
		lru_unlink(a->sessions, ref);
		uint32_t gb = index_probe(a, sess_at(a->sessions, ref)->id);
		assert(a->index[gb].ref == ref);
		index_remove(a, gb);
		a->counters.evictions++;
	}
	/* After the removal, which may have shifted the cluster id would probe. */
	b = index_probe(a, id);
	assert(a->index[b].ref == 0);   /* positions are unique: a new id */
	a->index[b].id = id;
	a->index[b].ref = ref;

	e = sess_at(a->sessions, ref);
	e->id = id;
	e->last_seq = 0;
	e->floor = 0;
	e->applied = 0;
	e->written = 0;
	e->owner = owner;
	lru_push_front(a->sessions, ref);
}

/* ---------------------------------------------------------------------------------- */
/* Applying                                                                            */

/** Where the replies of one slot go: the next free byte of out's buffer and its end. */
struct emit_buf {
	uint8_t *dst;
	uint8_t *end;
};

/** A reply with no bytes. */
static inline void emit_status(struct px_reply *r, uint8_t status, const struct emit_buf *o)
{
	r->status = status;
	r->len = 0;
	r->data = o->dst;
}

/**
 * Writes the reply (status, len bytes of data) whole at o->dst.
 * data must have REPLY_SHORT_BYTES readable bytes whatever len (a ring does).
 * A short reply is copied as REPLY_SHORT_BYTES whatever its length, one load and one
 * store and no branch on the length: the bytes past dst + len in out are free.
 * Room: each earlier reply of the slot took at most PX_REPLY_BYTES_MAX and out holds
 * PX_BATCH_CMDS_MAX of those, so PX_REPLY_BYTES_MAX bytes are always free here. Were
 * they not, a cut reply would go out as PX_OK: that is our bug, hence the assertion.
 */
static inline void emit(struct px_reply *r, uint8_t status, const uint8_t *data,
			uint32_t len, struct emit_buf *o)
{
	assert(o->end - o->dst >= (ptrdiff_t)PX_REPLY_BYTES_MAX);
	assert(len <= PX_REPLY_BYTES_MAX);
	r->status = status;
	r->len = len;
	r->data = o->dst;
	if (len > REPLY_SHORT_BYTES)
		memcpy(o->dst, data, len);
	else
		memcpy(o->dst, data, REPLY_SHORT_BYTES);
	o->dst += len;
}

/** The body of a PX_SESSION_EXPIRED reply to a held session's command (emit() reads
 *  REPLY_SHORT_BYTES from its source). */
static const uint8_t expired_seq[REPLY_SHORT_BYTES] = { PX_EXPIRED_SEQ };
static const uint8_t expired_reply[REPLY_SHORT_BYTES] = { PX_EXPIRED_REPLY };

/**
 * A registration (seq 0) at log position pos: a new session whose id is pos, answered
 * PX_OK with the id (u64 LE) as the reply body; r keeps the client's nonce as its
 * client_id and seq 0, so the embedder finds the client by the nonce. A registration
 * has no body: seq 0 with one is not a command of any kind (PX_BAD_COMMAND).
 */
static void apply_register(struct px_applier *a, struct px_reply *r, uint32_t len,
			   uint64_t pos, struct emit_buf *o)
{
	/* emit() reads REPLY_SHORT_BYTES from the source whatever the length. */
	uint8_t body[REPLY_SHORT_BYTES] = { 0 };

	if (len != 0) {
		a->counters.bad_seq++;
		emit_status(r, PX_BAD_COMMAND, o);
		return;
	}
	session_create(a, pos, px_session_owner(r->client_id));
	a->counters.registrations++;
	wire_st64(body, pos);
	emit(r, PX_OK, body, PX_SESSION_ID_BYTES, o);
}

void px_bind_body(struct px_uuid u, uint8_t body[PX_UUID_BYTES])
{
	assert(px_uuid_is_id(u));
	wire_st64(body, u.lo);
	wire_st64(body + 8, u.hi);
}

/** A bind (client 0, seq 0, a uuid): the first in the log sets the cluster uuid. */
static void apply_bind(struct px_applier *a, struct px_reply *r, const uint8_t *body,
		       struct emit_buf *o)
{
	struct px_uuid u = { .lo = wire_ld64(body), .hi = wire_ld64(body + 8) };

	if (!px_uuid_is_id(u)) {
		a->counters.bad_seq++;
		emit_status(r, PX_BAD_COMMAND, o);
		return;
	}
	if (px_uuid_zero(a->uuid)) {
		a->uuid = u;
		a->counters.binds++;
	} else {
		a->counters.binds_late++;
	}
	emit_status(r, PX_OK, o);
}

void px_members_body(struct px_uuid u, uint32_t mask, uint8_t body[PX_MEMBERS_BYTES])
{
	assert(px_uuid_is_id(u));
	wire_st64(body, u.lo);
	wire_st64(body + 8, u.hi);
	wire_st32(body + 16, mask);
}

/** A member mask (client 0, seq 0, uuid + mask): the members of this uuid grow. */
static void apply_members(struct px_applier *a, struct px_reply *r, const uint8_t *body,
			  struct emit_buf *o)
{
	struct px_uuid u = { .lo = wire_ld64(body), .hi = wire_ld64(body + 8) };
	uint32_t mask = wire_ld32(body + 16);

	if (px_uuid_is_id(a->uuid) && px_uuid_eq(u, a->uuid) && (mask & ~a->members) != 0) {
		a->members |= mask;
		a->counters.members_grown++;
	}
	emit_status(r, PX_OK, o);
}

/**
 * Applies the command r names (session id in client_id, and seq, already set) at log
 * position pos and fills in r.
 */
static inline void apply_cmd(struct px_applier *a, struct px_reply *r, const uint8_t *body,
			     uint32_t len, uint64_t pos, struct emit_buf *o)
{
	const uint64_t id = r->client_id, field = r->seq;
	struct apply_session *e;
	struct apply_entry *x;
	uint64_t seq, floor, lo;
	uint8_t *cold, status;
	uint32_t b, ref, rlen, behind;

	if (field == 0) {
		if (id == 0 && len == PX_UUID_BYTES)
			apply_bind(a, r, body, o);
		else if (id == 0 && len == PX_MEMBERS_BYTES)
			apply_members(a, r, body, o);
		else if (id == 0 && len == PX_CONF_BYTES)
			emit_status(r, PX_OK, o);  /* px_apply_slot took it (membership) */
		else
			apply_register(a, r, len, pos, o);
		return;
	}

	seq = px_seq_of(field);
	if (seq == 0) {
		/* behind without a seq: no command of any kind. */
		a->counters.bad_seq++;
		emit_status(r, PX_BAD_COMMAND, o);
		return;
	}

	b = index_probe(a, id);
	ref = a->index[b].ref;
	if (ref == 0) {
		/* No such session. If its registration lies at a position the log has passed,
		 * the session existed and was evicted: whether this command was applied
		 * before can no longer be told, so it is never applied, now or later (no
		 * registration can bring the id back). A position at or after this command's
		 * own (or in slot 0) was never registered: no honest client has such an id;
		 * refused the same way, so that a client holding an id from another log (a
		 * cluster rebuilt from nothing) registers again. */
		if (id >= pos || id < px_session_id(1, 0))
			a->counters.unissued++;
		else
			a->counters.expired++;
		emit_status(r, PX_SESSION_EXPIRED, o);
		return;
	}
	lru_touch(a->sessions, ref);

	e = sess_at(a->sessions, ref);
	cold = cold_of(a, ref);
	/* The client awaits nothing below seq - behind. */
	behind = px_seq_behind(field);
	floor = seq > behind ? seq - behind : 0;
	if (floor > e->floor)
		e->floor = floor;
	lo = e->last_seq >= WIN && e->last_seq - (WIN - 1u) > e->floor ? e->last_seq - (WIN - 1u)
								   : e->floor;
	if (seq < lo) {
		/* Behind the window: never applied from now on (whether it was before
		 * can no longer be told). */
		a->counters.stale++;
		emit(r, PX_SESSION_EXPIRED, expired_seq, 1, o);
		return;
	}
	x = &entries_of(cold)[seq & WIN_MASK];
	/* seq >= lo > last_seq - WIN: within the window if at or below last_seq. */
	if (seq <= e->last_seq && ((e->applied >> (e->last_seq - seq)) & 1u) != 0) {
		if (entry_kept(x, e->written)) {
			a->counters.duplicates++;
			emit(r, x->status, ring_of(cold) + (x->start & RING_MASK), x->len, o);
		} else {
			a->counters.replies_lost++;
			emit(r, PX_SESSION_EXPIRED, expired_reply, 1, o);
		}
		return;
	}

	/* Applied: the service writes its reply straight into out (which has room for a
	 * whole one), and the ring keeps a copy. */
	assert(o->end - o->dst >= (ptrdiff_t)PX_REPLY_BYTES_MAX);
	status = PX_OK;
	rlen = a->svc.apply(a->svc.ctx, body, len, o->dst, PX_REPLY_BYTES_MAX, &status);
	/* The service is our code (or the embedder's): breaking its contract is a bug. */
	assert(rlen <= PX_REPLY_BYTES_MAX);
	assert(status == PX_OK || status == PX_BAD_COMMAND);
	x->start = ring_place(e, rlen);
	x->len = (uint16_t)rlen;
	x->status = status;
	/* Exactly rlen bytes: a longer move would overwrite older replies further on. */
	memcpy(ring_of(cold) + (x->start & RING_MASK), o->dst, rlen);
	if (seq > e->last_seq) {
		uint64_t shift = seq - e->last_seq;
		e->applied = (shift >= 64u ? 0 : e->applied << shift) | 1u;
		e->last_seq = seq;
	} else {
		e->applied |= 1ull << (e->last_seq - seq);
		a->counters.gaps_filled++;
	}
	e->applied &= WIN_ALL;
	a->counters.commands++;
	r->status = status;
	r->len = rlen;
	r->data = o->dst;
	o->dst += rlen;
}

static inline uint64_t chain_word(uint64_t h, uint64_t w)
{
	return (h ^ w) * PHI64;
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

	/* Rounds of 32 bytes, two per iteration: the same result as one per iteration,
	 * with half the loop overhead (a slot of 16-byte commands is 36 bytes a command). */
	for (i = 0; i + 64 <= len; i += 64) {
		l0 = chain_word(l0, wire_ld64(v + i));
		l1 = chain_word(l1, wire_ld64(v + i + 8));
		l2 = chain_word(l2, wire_ld64(v + i + 16));
		l3 = chain_word(l3, wire_ld64(v + i + 24));
		l0 = chain_word(l0, wire_ld64(v + i + 32));
		l1 = chain_word(l1, wire_ld64(v + i + 40));
		l2 = chain_word(l2, wire_ld64(v + i + 48));
		l3 = chain_word(l3, wire_ld64(v + i + 56));
	}
	if (i + 32 <= len) {
		l0 = chain_word(l0, wire_ld64(v + i));
		l1 = chain_word(l1, wire_ld64(v + i + 8));
		l2 = chain_word(l2, wire_ld64(v + i + 16));
		l3 = chain_word(l3, wire_ld64(v + i + 24));
		i += 32;
	}
	for (; i + 8 <= len; i += 8)
		l0 = chain_word(l0, wire_ld64(v + i));
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
	const uint8_t *p, *end;
	struct emit_buf o;
	struct px_reply *r;
	uint32_t n, i, clen;
	uint64_t pos;

	assert(a != NULL);
	assert(out != NULL);
	assert(value != NULL);
	assert(slot == a->last_slot + 1);
	assert(len >= PX_BATCH_HDR_BYTES);
	assert(len <= PX_SLOT_BYTES_MAX);
	/* Session ids are positions: slot * PX_BATCH_CMDS_MAX + i must not wrap. The core
	 * hands out slots one by one; 2^56 of them is not a number it reaches. */
	assert(slot < UINT64_MAX / PX_BATCH_CMDS_MAX);

	a->chain = chain_slot(a->chain, slot, value, len);
	a->last_slot = slot;
	a->counters.slots++;
	if (px_membership_chosen(&a->ms, slot, value, len) > 0) {
		/* The addresses a configuration entry names (the embedder's text). */
		const uint8_t *body = NULL;
		uint32_t base;
		struct px_members m;
		(void)px_conf_parse(value, len, &base, &m, &body);
		for (uint32_t k = 0; k < PX_REPLICAS_MAX; k++) {
			const uint8_t *t = body + PX_CONF_HDR_BYTES + k * PX_CONF_ADDR_BYTES;
			if (!px_is_member(&m, (uint8_t)k) || t[0] == 0)
				continue;
			memcpy(a->addr[k], t, PX_CONF_ADDR_BYTES);
			a->addr[k][PX_CONF_ADDR_BYTES] = 0;
		}
		a->counters.conf++;
	}

	n = wire_ld32(value);
	assert(n <= PX_BATCH_CMDS_MAX);
	p = value + PX_BATCH_HDR_BYTES;
	end = value + len;
	r = out->replies;
	o.dst = out->buf;
	o.end = out->buf + PX_APPLY_OUT_BYTES;
	pos = px_session_id(slot, 0);
	/* Bounded: n <= PX_BATCH_CMDS_MAX. Trusting the codec's validation, but not
	 * blindly: every command must lie inside the value, and the walk must end exactly
	 * at len. */
	for (i = 0; i < n; i++, r++, pos++) {
		assert(end - p >= (ptrdiff_t)PX_CMD_HDR_BYTES);
		clen = wire_ld32(p + CMD_OFF_LEN);
		assert(clen <= (size_t)(end - p) - PX_CMD_HDR_BYTES);
		r->client_id = wire_ld64(p + CMD_OFF_CLIENT);
		r->seq = wire_ld64(p + CMD_OFF_SEQ);
		apply_cmd(a, r, p + PX_CMD_HDR_BYTES, clen, pos, &o);
		p += PX_CMD_HDR_BYTES + clen;
	}
	assert(p == end);
	(void)end;   /* only the assertions read it */
	assert(o.dst >= out->buf && o.dst <= o.end);
	out->n = n;
	out->used = (uint32_t)(o.dst - out->buf);
	if (n == 0)
		a->counters.noops++;
}

/* ---------------------------------------------------------------------------------- */
/* Queries                                                                             */

bool px_apply_is_read(const struct px_applier *a, const uint8_t *cmd, uint32_t len)
{
	assert(a != NULL);
	return a->svc.is_read != NULL && a->svc.is_read(a->svc.ctx, cmd, len);
}

int px_apply_read(struct px_applier *a, const uint8_t *cmd, uint32_t len, uint8_t *reply,
		  uint32_t cap, uint32_t *reply_len, uint8_t *status)
{
	uint32_t rlen;
	uint8_t st = PX_BAD_COMMAND;

	assert(a != NULL);
	assert(reply != NULL);
	assert(reply_len != NULL);
	assert(status != NULL);
	/* The service's contract: it may fill PX_REPLY_BYTES_MAX (a caller bug, not input). */
	assert(cap >= PX_REPLY_BYTES_MAX);
	if (!px_apply_is_read(a, cmd, len))
		return -EINVAL;
	rlen = a->svc.apply(a->svc.ctx, cmd, len, reply, cap, &st);
	assert(rlen <= cap);
	assert(st == PX_OK || st == PX_BAD_COMMAND);
	a->counters.reads++;
	*reply_len = rlen;
	*status = st;
	return 0;
}

uint64_t px_applier_last_slot(const struct px_applier *a)
{
	return a->last_slot;
}

struct px_uuid px_applier_uuid(const struct px_applier *a)
{
	return a->uuid;
}

void px_applier_set_membership(struct px_applier *a, const struct px_membership *ms)
{
	a->ms = *ms;
}

const struct px_membership *px_applier_membership(const struct px_applier *a)
{
	return &a->ms;
}

const char *px_applier_member_addr(const struct px_applier *a, uint8_t id)
{
	return id < PX_REPLICAS_MAX && a->addr[id][0] != 0 ? a->addr[id] : NULL;
}

uint32_t px_applier_members(const struct px_applier *a)
{
	return a->members;
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

bool px_applier_session_peek(const struct px_applier *a, uint64_t session_id,
			     uint64_t *last_seq)
{
	uint32_t ref = a->index[index_probe(a, session_id)].ref;

	if (ref == 0)
		return false;
	if (last_seq != NULL)
		*last_seq = sess_at(a->sessions, ref)->last_seq;
	return true;
}

bool px_applier_session_owner(const struct px_applier *a, uint64_t session_id,
			      uint32_t *owner)
{
	uint32_t ref = a->index[index_probe(a, session_id)].ref;

	if (ref == 0)
		return false;
	*owner = sess_at(a->sessions, ref)->owner;
	return true;
}

const char *px_applier_check_invariants(const struct px_applier *a)
{
	const struct apply_session *ss = a->sessions, *e;
	const uint32_t end = ref_of(a->n_sessions + 1);
	/* Every id is the position of a registration already applied. */
	const uint64_t next_pos = px_session_id(a->last_slot + 1, 0);
	uint32_t ref, prev, n, i, used = 0;

	if (a->n_sessions > a->max_sessions)
		return "n_sessions <= max_sessions";
	if (a->index_mask + 1 < 2u * a->max_sessions)
		return "index buckets >= 2 * max_sessions";

	/* The LRU circle holds the sentinel and every used session once, with consistent
	 * back links. */
	prev = 0;
	n = 0;
	for (ref = ss[0].next; ref != 0; ref = e->next) {
		if (ref % SESS_BYTES != 0 || ref >= end)
			return "LRU member is a used session";
		if (++n > a->n_sessions)
			return "LRU list has no cycle";
		e = &ss[ref / SESS_BYTES];
		if (e->prev != prev)
			return "LRU prev link mirrors next";
		if (e->id < px_session_id(1, 0) || e->id >= next_pos)
			return "session id is the position of an applied registration";
		if (e->floor > e->last_seq)
			return "floor <= last_seq";
		if ((e->applied & ~WIN_ALL) != 0 || ((e->applied & 1u) != 0) != (e->last_seq != 0))
			return "the window's bit 0 is last_seq, applied iff a command was";
		for (uint32_t k = 0; k < WIN && k < e->last_seq; k++) {
			if (((e->applied >> k) & 1u) == 0)
				continue;
			const struct apply_entry *x =
				&entries_of(cold_of(a, ref))[(e->last_seq - k) & WIN_MASK];
			if (x->len > PX_REPLY_BYTES_MAX)
				return "cached reply fits PX_REPLY_BYTES_MAX";
			if (entry_kept(x, e->written) &&
			    ((x->start & RING_MASK) + x->len > RING_BYTES ||
			     e->written - x->start < x->len))
				return "a kept reply lies whole in the ring, before the write position";
		}
		prev = ref;
	}
	if (n != a->n_sessions)
		return "LRU list holds every session";
	if (ss[0].prev != prev)
		return "LRU tail is the last member";

	/* The index maps exactly the used sessions, each reachable from its home. */
	for (i = 0; i <= a->index_mask; i++) {
		ref = a->index[i].ref;
		if (ref == 0)
			continue;
		if (ref % SESS_BYTES != 0 || ref >= end)
			return "index names a used session";
		if (ss[ref / SESS_BYTES].id != a->index[i].id)
			return "index key matches its session";
		if (index_probe(a, a->index[i].id) != i)
			return "index entry reachable from its home bucket";
		used++;
	}
	if (used != a->n_sessions)
		return "index holds every session once";
	return NULL;
}

/* ---------------------------------------------------------------------------------- */
/* Snapshots (format in px_apply.h and docs/storage.md)                                */

#define SNAP_MAGIC "PXSNAP05"
#define SNAP_MAGIC_V4 "PXSNAP04"  /* one reply per session: read as a window of one */
#define SNAP_MAGIC_V3 "PXSNAP03"  /* before membership: read as membership unknown */
#define SNAP_MAGIC_V2 "PXSNAP02"  /* before session owners: read as owner 0 */
#define SNAP_MAGIC_V1 "PXSNAP01"  /* before the cluster uuid: read as uuid zero */
#define SNAP_HDR_BYTES 56u        /* magic, slot, chain, max_sessions, n_sessions, uuid,
                                     members, zero */
#define SNAP_HDR_V1_BYTES 32u
/* Version 4's membership block after the header: cur (epoch u32, voters u16, learners
 * u16), next (the same), next_eff u64, alpha u32, zero u32, then PX_REPLICAS_MAX
 * addresses of PX_CONF_ADDR_BYTES. */
#define SNAP_MS_BYTES (32u + PX_REPLICAS_MAX * PX_CONF_ADDR_BYTES)
#define SNAP_HDR_V4_BYTES (SNAP_HDR_BYTES + SNAP_MS_BYTES)
#define SNAP_SESS_HDR_BYTES 40u   /* id, last_seq, floor, applied, owner, ring */
#define SNAP_ENTRY_BYTES 8u       /* status, kept, len, start; then the reply if kept */
#define SNAP_SESS_HDR_V3_BYTES 25u   /* id, last_seq, status, reply_len, owner */
#define SNAP_SESS_HDR_V2_BYTES 21u   /* id, last_seq, status, reply_len */
#define SNAP_SVC_LEN_BYTES 8u

static bool has_snapshots(const struct px_applier *a)
{
	return a->svc.snapshot_max != NULL && a->svc.snapshot != NULL && a->svc.restore != NULL;
}

size_t px_snapshot_bytes_max(uint32_t max_sessions, size_t service_max)
{
	/* A session's kept replies lie apart in its ring: RING_BYTES of them at most. */
	return SNAP_HDR_V4_BYTES +
	       (size_t)max_sessions * (SNAP_SESS_HDR_BYTES + WIN * SNAP_ENTRY_BYTES + RING_BYTES) +
	       SNAP_SVC_LEN_BYTES + service_max;
}

size_t px_applier_snapshot_max(const struct px_applier *a)
{
	if (!has_snapshots(a))
		return 0;
	return px_snapshot_bytes_max(a->max_sessions, a->svc.snapshot_max(a->svc.ctx));
}

size_t px_applier_snapshot(const struct px_applier *a, uint8_t *buf, size_t cap)
{
	const struct apply_session *ss = a->sessions;
	uint8_t *p = buf;

	if (!has_snapshots(a) || cap < px_applier_snapshot_max(a))
		return 0;
	memcpy(p, SNAP_MAGIC, 8);
	wire_st64(p + 8, a->last_slot);
	wire_st64(p + 16, a->chain);
	wire_st32(p + 24, a->max_sessions);
	wire_st32(p + 28, a->n_sessions);
	wire_st64(p + 32, a->uuid.lo);
	wire_st64(p + 40, a->uuid.hi);
	wire_st32(p + 48, a->members);
	wire_st32(p + 52, 0);
	p += SNAP_HDR_BYTES;
	wire_st32(p, a->ms.cur.epoch);
	wire_st16(p + 4, a->ms.cur.voters);
	wire_st16(p + 6, a->ms.cur.learners);
	wire_st32(p + 8, a->ms.next.epoch);
	wire_st16(p + 12, a->ms.next.voters);
	wire_st16(p + 14, a->ms.next.learners);
	wire_st64(p + 16, a->ms.next_eff);
	wire_st32(p + 24, a->ms.alpha);
	wire_st32(p + 28, 0);
	for (uint32_t i = 0; i < PX_REPLICAS_MAX; i++)
		memcpy(p + 32 + i * PX_CONF_ADDR_BYTES, a->addr[i], PX_CONF_ADDR_BYTES);
	p += SNAP_MS_BYTES;
	/* Least recently used first: restore pushes each to the front in turn. Bounded by
	 * n_sessions (the list is a circle through the sentinel). */
	for (uint32_t ref = ss[0].prev; ref != 0; ref = sess_at((struct apply_session *)ss, ref)->prev) {
		const struct apply_session *e = sess_at((struct apply_session *)ss, ref);
		uint8_t *cold = cold_of(a, ref);
		wire_st64(p, e->id);
		wire_st64(p + 8, e->last_seq);
		wire_st64(p + 16, e->floor);
		wire_st64(p + 24, e->applied);
		wire_st32(p + 32, e->owner);
		wire_st32(p + 36, e->written);
		p += SNAP_SESS_HDR_BYTES;
		/* Bounded: WIN bits. */
		for (uint32_t k = 0; k < WIN; k++) {
			if (((e->applied >> k) & 1u) == 0)
				continue;
			const struct apply_entry *x = &entries_of(cold)[(e->last_seq - k) & WIN_MASK];
			bool kept = entry_kept(x, e->written);
			p[0] = x->status;
			p[1] = kept ? 1u : 0u;
			wire_st16(p + 2, x->len);
			/* Not kept: where it was no longer matters (restore puts it behind). */
			wire_st32(p + 4, kept ? x->start : 0);
			p += SNAP_ENTRY_BYTES;
			if (kept) {
				memcpy(p, ring_of(cold) + (x->start & RING_MASK), x->len);
				p += x->len;
			}
		}
	}
	size_t room = cap - (size_t)(p - buf) - SNAP_SVC_LEN_BYTES;
	size_t n = a->svc.snapshot(a->svc.ctx, p + SNAP_SVC_LEN_BYTES, room);
	assert(n > 0 && n <= room);
	wire_st64(p, n);
	p += SNAP_SVC_LEN_BYTES + n;
	return (size_t)(p - buf);
}

/** The header's length if buf starts with a snapshot header of a version we read. */
static size_t snap_hdr_len(const uint8_t *buf, size_t len)
{
	if (buf != NULL && len >= SNAP_HDR_V4_BYTES &&
	    (memcmp(buf, SNAP_MAGIC, 8) == 0 || memcmp(buf, SNAP_MAGIC_V4, 8) == 0))
		return SNAP_HDR_V4_BYTES;
	if (buf != NULL && len >= SNAP_HDR_BYTES &&
	    (memcmp(buf, SNAP_MAGIC_V3, 8) == 0 || memcmp(buf, SNAP_MAGIC_V2, 8) == 0))
		return SNAP_HDR_BYTES;
	if (buf != NULL && len >= SNAP_HDR_V1_BYTES && memcmp(buf, SNAP_MAGIC_V1, 8) == 0)
		return SNAP_HDR_V1_BYTES;
	return 0;
}

bool px_snapshot_peek(const uint8_t *buf, size_t len, uint64_t *slot, uint64_t *chain)
{
	if (snap_hdr_len(buf, len) == 0)
		return false;
	*slot = wire_ld64(buf + 8);
	*chain = wire_ld64(buf + 16);
	return true;
}

int px_snapshot_rebase(uint8_t *buf, size_t len, uint64_t slot)
{
	uint64_t old = 0, chain = 0;

	if (!px_snapshot_peek(buf, len, &old, &chain) || slot <= old || slot > PX_SLOT_MAX)
		return -EINVAL;
	wire_st64(buf + 8, slot);
	/* A new cluster: its first leader binds a new uuid. */
	if (snap_hdr_len(buf, len) >= SNAP_HDR_BYTES) {
		wire_st64(buf + 32, 0);
		wire_st64(buf + 40, 0);
		wire_st32(buf + 48, 0);
	}
	return 0;
}

/** Empties the applier and the service (a failed restore leaves this). */
static void applier_reset(struct px_applier *a)
{
	a->last_slot = 0;
	a->chain = PX_HASH_SEED;
	a->n_sessions = 0;
	a->uuid = (struct px_uuid){ 0, 0 };
	a->members = 0;
	memset(&a->ms, 0, sizeof(a->ms));
	memset(a->addr, 0, sizeof(a->addr));
	memset(&a->sessions[0], 0, sizeof(a->sessions[0]));
	memset(a->index, 0, ((size_t)a->index_mask + 1) * sizeof(a->index[0]));
	if (has_snapshots(a))
		(void)a->svc.restore(a->svc.ctx, NULL, 0);
}

int px_applier_restore(struct px_applier *a, const uint8_t *buf, size_t len)
{
	const uint8_t *p = buf, *end = buf + len;

	applier_reset(a);
	size_t hdr = snap_hdr_len(buf, len);
	if (!has_snapshots(a) || hdr == 0)
		return -EINVAL;
	uint64_t slot = wire_ld64(p + 8);
	uint64_t chain = wire_ld64(p + 16);
	uint32_t max = wire_ld32(p + 24);
	uint32_t n = wire_ld32(p + 28);
	struct px_uuid uuid = { 0, 0 };
	uint32_t members = 0;
	struct px_membership ms;
	memset(&ms, 0, sizeof(ms));
	if (hdr >= SNAP_HDR_BYTES) {
		uuid.lo = wire_ld64(p + 32);
		uuid.hi = wire_ld64(p + 40);
		members = wire_ld32(p + 48);
		if (wire_ld32(p + 52) != 0 || (members != 0 && !px_uuid_is_id(uuid)))
			goto bad;
	}
	if (hdr == SNAP_HDR_V4_BYTES) {
		const uint8_t *q = p + SNAP_HDR_BYTES;
		ms.cur.epoch = wire_ld32(q);
		ms.cur.voters = wire_ld16(q + 4);
		ms.cur.learners = wire_ld16(q + 6);
		ms.next.epoch = wire_ld32(q + 8);
		ms.next.voters = wire_ld16(q + 12);
		ms.next.learners = wire_ld16(q + 14);
		ms.next_eff = wire_ld64(q + 16);
		ms.alpha = wire_ld32(q + 24);
		/* Unknown (epoch 0: written by an applier that knew none), or whole. */
		bool known = ms.cur.epoch != 0;
		if (wire_ld32(q + 28) != 0 ||
		    (known && (!px_members_valid(&ms.cur) || ms.alpha == 0 ||
			       ms.alpha > PX_PIPELINE_MAX || ms.cur.epoch > PX_EPOCH_MAX ||
			       (ms.next_eff != 0 &&
				(!px_members_valid(&ms.next) || ms.next_eff <= slot + 1 ||
				 ms.next_eff > slot + ms.alpha ||
				 ms.next.epoch != ms.cur.epoch + 1)))))
			goto bad;
		for (uint32_t i = 0; i < PX_REPLICAS_MAX; i++) {
			memcpy(a->addr[i], q + 32 + i * PX_CONF_ADDR_BYTES, PX_CONF_ADDR_BYTES);
			a->addr[i][PX_CONF_ADDR_BYTES] = 0;
		}
	}
	/* Another table size would evict other sessions at other times: the replicas of
	 * one cluster share it (the cluster file). */
	if (max != a->max_sessions || n > a->max_sessions || slot > PX_SLOT_MAX ||
	    px_uuid_fresh(uuid))
		goto bad;
	/* Version 5 keeps each session's window; 3 and 4 one reply per session, and each
	 * session's owner; older ones are read as owner 0 (no key's: an authenticated
	 * client of such a session registers again). */
	bool v5 = memcmp(buf, SNAP_MAGIC, 8) == 0;
	size_t sess_hdr = v5 ? SNAP_SESS_HDR_BYTES
		     : memcmp(buf, SNAP_MAGIC_V4, 8) == 0 || memcmp(buf, SNAP_MAGIC_V3, 8) == 0
			       ? SNAP_SESS_HDR_V3_BYTES : SNAP_SESS_HDR_V2_BYTES;
	p += hdr;
	uint64_t next_pos = px_session_id(slot + 1, 0);
	for (uint32_t i = 0; i < n; i++) {
		if ((size_t)(end - p) < sess_hdr)
			goto bad;
		uint64_t id = wire_ld64(p);
		uint64_t last_seq = wire_ld64(p + 8);
		if (id < px_session_id(1, 0) || id >= next_pos || last_seq > PX_SEQ_MASK)
			goto bad;
		uint32_t b = index_probe(a, id);
		if (a->index[b].ref != 0)
			goto bad;   /* the same session twice */
		uint32_t ref = ref_of(++a->n_sessions);
		a->index[b].id = id;
		a->index[b].ref = ref;
		struct apply_session *e = sess_at(a->sessions, ref);
		uint8_t *cold = cold_of(a, ref);
		e->id = id;
		e->last_seq = last_seq;
		if (v5) {
			e->floor = wire_ld64(p + 16);
			e->applied = wire_ld64(p + 24);
			e->owner = wire_ld32(p + 32);
			e->written = wire_ld32(p + 36);
			p += sess_hdr;
			/* Bits only for seqs 1..last_seq, bit 0 iff last_seq. */
			uint64_t valid = last_seq >= WIN ? WIN_ALL : (1ull << last_seq) - 1u;
			if (e->floor > last_seq || (e->applied & ~valid) != 0 ||
			    ((e->applied & 1u) != 0) != (last_seq != 0))
				goto bad;
			for (uint32_t k = 0; k < WIN; k++) {
				if (((e->applied >> k) & 1u) == 0)
					continue;
				if ((size_t)(end - p) < SNAP_ENTRY_BYTES)
					goto bad;
				struct apply_entry *x = &entries_of(cold)[(last_seq - k) & WIN_MASK];
				uint8_t status = p[0], kept = p[1];
				uint32_t rlen = wire_ld16(p + 2), start = wire_ld32(p + 4);
				p += SNAP_ENTRY_BYTES;
				if ((status != PX_OK && status != PX_BAD_COMMAND) || kept > 1 ||
				    rlen > PX_REPLY_BYTES_MAX)
					goto bad;
				x->status = status;
				x->len = (uint16_t)rlen;
				x->pad = 0;
				if (!kept) {
					/* Behind the ring, for good: the write position only grows. */
					x->start = e->written - RING_BYTES - 1u;
					continue;
				}
				if (e->written - start > RING_BYTES || e->written - start < rlen ||
				    (start & RING_MASK) + rlen > RING_BYTES || (size_t)(end - p) < rlen)
					goto bad;
				x->start = start;
				memcpy(ring_of(cold) + (start & RING_MASK), p, rlen);
				p += rlen;
			}
		} else {
			/* One reply, to last_seq: a window holding it alone, the floor at it
			 * (that applier answered anything lower stale). */
			uint8_t status = p[16];
			uint32_t rlen = wire_ld32(p + 17);
			e->owner = sess_hdr == SNAP_SESS_HDR_V3_BYTES ? wire_ld32(p + 21) : 0;
			p += sess_hdr;
			if (status >= PX_STATUS_MAX || rlen > PX_REPLY_BYTES_MAX ||
			    (size_t)(end - p) < rlen || (last_seq == 0 && rlen != 0))
				goto bad;
			e->floor = last_seq;
			e->applied = last_seq != 0 ? 1u : 0u;
			e->written = rlen;
			struct apply_entry *x = &entries_of(cold)[last_seq & WIN_MASK];
			x->start = 0;
			x->len = (uint16_t)rlen;
			x->status = status;
			x->pad = 0;
			memcpy(ring_of(cold), p, rlen);
			p += rlen;
		}
		lru_push_front(a->sessions, ref);
	}
	if ((size_t)(end - p) < SNAP_SVC_LEN_BYTES)
		goto bad;
	uint64_t svc_len = wire_ld64(p);
	p += SNAP_SVC_LEN_BYTES;
	if (svc_len == 0 || svc_len != (uint64_t)(end - p))
		goto bad;
	if (a->svc.restore(a->svc.ctx, p, (size_t)svc_len) != 0)
		goto bad;
	a->last_slot = slot;
	a->chain = chain;
	a->uuid = uuid;
	a->members = members;
	a->ms = ms;
	return 0;
bad:
	applier_reset(a);
	return -EINVAL;
}
