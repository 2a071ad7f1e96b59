/* SPDX-License-Identifier: Apache-2.0
 * The on-disk journal (journal.h; docs/storage.md). In this file:
 *   - the record format: building (the poll loop), stamping (the writer), checking
 *     (replay);
 *   - the ring and the poll loop's side (journal_promise, _slot, _sync, _poll);
 *   - the writer thread: drain, write, sync, roll to a new segment, compact, fail;
 *   - journal_open: the data dir, its lock, the compaction marker, the segments,
 *     replay, the index of slots;
 *   - journal_close.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "crc32c_pvt.h"
#include "fs_pvt.h"
#include "journal.h"
#include "wire_le.h"

/* Header fields (docs/storage.md, "Record header"). */
#define H_MAGIC 0u
#define H_TYPE 4u
#define H_VERSION 5u
#define H_RESERVED 6u
#define H_LEN 8u
#define H_CRC 12u
#define H_SEGMENT 16u
#define H_OFFSET 24u
#define H_DRAIN 32u
_Static_assert(H_DRAIN + 8u == JOURNAL_HDR_BYTES, "the header ends with the drain");

/** Ring only, never on disk: the rest of the ring up to its end is unused, the next
 *  record starts at byte 0 ("WRAP"). */
#define RING_WRAP 0x50415257u
_Static_assert(RING_WRAP != JOURNAL_MAGIC, "a wrap marker is no record");
/** Ring only, never on disk: a record of this type asks the writer to compact
 *  {below_slot u64} (journal_compact). */
#define RING_COMPACT 0xc0u
#define RING_COMPACT_BYTES 8u
_Static_assert(RING_COMPACT > JOURNAL_REC_INCARNATION, "a compaction request is no record type");

/* The compaction marker's fields (docs/storage.md, "Compaction"). */
#define C_MAGIC 0u
#define C_VERSION 4u
#define C_RESERVED 6u
#define C_FIRST 8u
#define C_FLOOR 16u
#define C_CRC 60u
_Static_assert(C_CRC + 4u == JOURNAL_COMPACTED_BYTES, "the marker ends with its checksum");
#define COMPACTED_NAME "compacted"
#define COMPACTED_TMP "compacted.tmp"

/** The idle writer's wait (a safety net: the poll loop wakes it when it queues a sync). */
#define IDLE_WAIT_NS 1000000000L
/** Room for a file name in the data dir. */
#define NAME_BYTES 32u

/* ---------------------------------------------------------------------------------- */
/* State                                                                               */

/** A segment file as journal_open found it. */
struct seg {
	uint64_t num;
	uint8_t *map;        /**< the file mapped read-only (NULL: empty) */
	size_t map_bytes;    /**< bytes mapped (the file's size at open) */
};

/** What a segment held holds, for compaction (the writer's, after replay). */
struct seginfo {
	uint64_t max_slot;      /**< highest slot of its SLOT records (0: none) */
	uint64_t max_promise;   /**< highest ballot of its PROMISE records (0: none) */
	uint64_t max_commit;    /**< highest commit of its SYNC records (0: none) */
};

/** A slot's newest value from replay. value points into a segment's mapping. */
struct entry {
	uint64_t slot;
	uint64_t vballot;
	uint64_t order;      /**< the record's position in the journal (newest: highest) */
	const uint8_t *value;
	uint32_t len;
};

struct journal {
	/* Set by journal_open, read-only afterwards (both threads read it). */
	char *dir;
	enum journal_sync sync;
	uint64_t segment_bytes;
	uint32_t ring_bytes;      /**< a power of two */
	uint32_t value_bytes_max;
	uint8_t *ring;
	int dir_fd;
	int lock_fd;              /**< holds flock(LOCK_EX) on dir/LOCK until closed */
	struct seg *segs;
	uint32_t nsegs;
	struct entry *idx;        /**< sorted by slot, one entry per slot */
	uint64_t nidx;
	struct journal_replay rp;
	pthread_t thread;
	bool thread_started;

	/* The producer's (the poll loop's). Invariant: p_cons <= cons <= prod == p_head
	 * outside journal_promise/_slot/_sync, and p_head - p_cons <= ring_bytes. */
	alignas(64) uint64_t p_head;   /**< ring bytes filled (published as prod) */
	uint64_t p_cons;               /**< cons as last read: a lower bound of it */
	uint64_t p_last_seq;           /**< the last seq given to journal_sync */
	_Atomic uint64_t ring_full_waits;

	/* Shared, each written by one side. */
	alignas(64) _Atomic uint64_t prod;     /**< ring bytes published (producer) */
	alignas(64) _Atomic uint64_t cons;     /**< ring bytes written out (writer) */
	alignas(64) _Atomic uint64_t durable;  /**< seq of the newest durable sync (writer) */
	_Atomic uint32_t sleeping;   /**< futex word: 1 while the writer waits for work */
	_Atomic bool stop;           /**< journal_close: drain, sync and end */
	_Atomic bool hold;           /**< journal_hold_writer */
	_Atomic int failed;          /**< 0, or the -errno that stopped the writer (why set) */

	/* The writer's (journal_open's before the thread starts). Invariant: the segments
	 * held are first..seg, seg - first < JOURNAL_SEGMENTS_MAX, and sinfo[n %
	 * JOURNAL_SEGMENTS_MAX] describes segment n among them. */
	alignas(64) int fd;       /**< the segment being appended to */
	uint64_t seg;             /**< its number */
	uint64_t seg_off;         /**< its length: where the next record goes */
	uint64_t drain;           /**< the last drain number used */
	uint64_t first;           /**< the first segment held */
	uint64_t floor;           /**< the compaction floor in `compacted` (0: none) */
	bool marker;              /**< `compacted` exists */
	struct seginfo *sinfo;    /**< JOURNAL_SEGMENTS_MAX entries */
	uint64_t w_promised;      /**< the highest PROMISE held (replayed or written) */
	uint64_t w_commit;        /**< the highest SYNC commit held */
	uint64_t w_last_seq;      /**< the seq of the last SYNC held */
	/** The newest INCARNATION held (w_n_inc 0: none) and its segment. */
	uint32_t w_n_inc;
	uint32_t w_inc[PX_REPLICAS_MAX];
	uint64_t w_inc_seg;
	/* journal_open's: replay found damage (bad_record, a missing segment, a corrupt
	 * `compacted`) that a repair from the peers can heal, and where. */
	bool damaged;
	uint64_t dmg_seg, dmg_off;
	bool repairing_file;      /**< `repairing` exists in the data dir */
	_Atomic uint64_t c_records, c_bytes, c_syncs, c_drains, c_max_drain, c_segments;
	_Atomic uint64_t c_compactions, c_seg_deleted, c_rewrites;
	char why[JOURNAL_ERR_BYTES];
};

/* ---------------------------------------------------------------------------------- */
/* Records                                                                             */

uint32_t journal_crc32c(const void *buf, size_t len)
{
	return storage_crc32c(buf, len);
}

static uint64_t pad8(uint64_t n)
{
	return (n + JOURNAL_ALIGN - 1u) & ~(uint64_t)(JOURNAL_ALIGN - 1u);
}

/** Bytes of a record whose payload has plen bytes. */
static uint32_t rec_bytes(uint32_t plen)
{
	return (uint32_t)(JOURNAL_HDR_BYTES + pad8(plen));
}

/** The record's checksum: CRC32C of the header, its checksum field read as zero, the
 *  payload and the padding. */
static uint32_t rec_crc(const uint8_t *p, uint64_t size)
{
	static const uint8_t zero[4];
	uint32_t c = storage_crc32c_add(STORAGE_CRC32C_INIT, p, H_CRC);

	c = storage_crc32c_add(c, zero, sizeof(zero));
	return storage_crc32c_end(storage_crc32c_add(c, p + H_SEGMENT, size - H_SEGMENT));
}

/** The poll loop's part of a header: what it knows. The writer stamps the rest. */
static void rec_put(uint8_t *p, uint8_t type, uint32_t plen)
{
	wire_st32(p + H_MAGIC, JOURNAL_MAGIC);
	p[H_TYPE] = type;
	p[H_VERSION] = JOURNAL_VERSION;
	wire_st16(p + H_RESERVED, 0);
	wire_st32(p + H_LEN, plen);
	memset(p + JOURNAL_HDR_BYTES + plen, 0, pad8(plen) - plen);
}

/** The writer's part: where the record lands, in which drain, and the checksum. */
static void rec_stamp(uint8_t *p, uint32_t size, uint64_t seg, uint64_t off, uint64_t drain)
{
	wire_st32(p + H_CRC, 0);
	wire_st64(p + H_SEGMENT, seg);
	wire_st64(p + H_OFFSET, off);
	wire_st64(p + H_DRAIN, drain);
	wire_st32(p + H_CRC, journal_crc32c(p, size));
}

static bool all_zero(const uint8_t *p, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/** The payload's shape for its type (its checksum already matched). */
static bool payload_ok(const uint8_t *p, uint8_t type, uint32_t plen)
{
	switch (type) {
	case JOURNAL_REC_PROMISE:
		return plen == JOURNAL_PROMISE_BYTES;
	case JOURNAL_REC_SYNC:
		return plen == JOURNAL_SYNC_BYTES;
	case JOURNAL_REC_SLOT:
		return plen >= JOURNAL_SLOT_FIXED_BYTES &&
		       wire_ld32(p + JOURNAL_HDR_BYTES + 16u) == plen - JOURNAL_SLOT_FIXED_BYTES;
	case JOURNAL_REC_INCARNATION: {
		if (plen < JOURNAL_INC_BYTES(1))
			return false;
		uint32_t n = wire_ld32(p + JOURNAL_HDR_BYTES);
		return n >= 1u && n <= PX_REPLICAS_MAX && plen == JOURNAL_INC_BYTES(n);
	}
	default:
		return false;
	}
}

/**
 * Checks the record at off of segment seg (n bytes at base).
 * @return its size in bytes, or 0 with why set to what is wrong.
 */
static uint64_t rec_check(const uint8_t *base, uint64_t n, uint64_t seg, uint64_t off,
			  char *why, size_t whylen)
{
	const uint8_t *p = base + off;

	if (n - off < JOURNAL_HDR_BYTES) {
		snprintf(why, whylen, "short header: %" PRIu64 " bytes", n - off);
		return 0;
	}
	if (all_zero(p, JOURNAL_HDR_BYTES)) {
		snprintf(why, whylen, "zeroes");
		return 0;
	}
	if (wire_ld32(p + H_MAGIC) != JOURNAL_MAGIC) {
		snprintf(why, whylen, "bad magic 0x%08" PRIx32, wire_ld32(p + H_MAGIC));
		return 0;
	}
	uint8_t type = p[H_TYPE];
	uint32_t plen = wire_ld32(p + H_LEN);
	/* Version 1 knew the first three types; version 2 added INCARNATION. */
	uint8_t type_max = p[H_VERSION] == 1u ? JOURNAL_REC_SYNC : JOURNAL_REC_INCARNATION;
	if (p[H_VERSION] < JOURNAL_VERSION_MIN || p[H_VERSION] > JOURNAL_VERSION ||
	    wire_ld16(p + H_RESERVED) != 0 || type < JOURNAL_REC_PROMISE || type > type_max) {
		snprintf(why, whylen, "bad header (type %u, version %u)", type, p[H_VERSION]);
		return 0;
	}
	uint64_t size = JOURNAL_HDR_BYTES + pad8(plen);
	if (size > n - off) {
		snprintf(why, whylen, "short payload: %" PRIu64 " of %" PRIu64 " bytes",
			 n - off, size);
		return 0;
	}
	if (wire_ld32(p + H_CRC) != rec_crc(p, size)) {
		snprintf(why, whylen, "checksum mismatch");
		return 0;
	}
	if (wire_ld64(p + H_SEGMENT) != seg || wire_ld64(p + H_OFFSET) != off) {
		snprintf(why, whylen, "misdirected: a valid record for segment %" PRIu64
			 " offset %" PRIu64, wire_ld64(p + H_SEGMENT), wire_ld64(p + H_OFFSET));
		return 0;
	}
	if (!payload_ok(p, type, plen)) {
		snprintf(why, whylen, "bad payload (type %u, %" PRIu32 " bytes)", type, plen);
		return 0;
	}
	return size;
}

/* ---------------------------------------------------------------------------------- */
/* The poll loop's side                                                                */

/** Wakes the writer if it waits for work. */
static void wake_writer(struct journal *j)
{
	/* Pairs with the fence in writer_idle (Dekker): either the writer, after setting
	 * sleeping, sees what was published before this fence (prod, stop, hold), or this
	 * sees sleeping == 1 and wakes it. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&j->sleeping, memory_order_relaxed) != 0 &&
	    atomic_exchange_explicit(&j->sleeping, 0, memory_order_relaxed) != 0)
		storage_futex(&j->sleeping, FUTEX_WAKE_PRIVATE, 1, NULL);
}

static bool has_room(struct journal *j, uint64_t need)
{
	return j->ring_bytes - (j->p_head - j->p_cons) >= need;
}

/**
 * Waits until need bytes of the ring are free: backpressure, the disk sets the pace.
 * @return false once storage has failed (the writer takes nothing more).
 */
static bool wait_room(struct journal *j, uint64_t need)
{
	/* Pairs with the writer's release store of cons: the ring bytes below it are
	 * written out and free to fill again. */
	j->p_cons = atomic_load_explicit(&j->cons, memory_order_acquire);
	if (has_room(j, need))
		return true;
	atomic_fetch_add_explicit(&j->ring_full_waits, 1, memory_order_relaxed);
	/* Bounded by the writer: it frees the ring drain by drain, or fails. */
	for (;;) {
		wake_writer(j);
		sched_yield();
		if (atomic_load_explicit(&j->failed, memory_order_relaxed) != 0)
			return false;
		/* Pairs with the writer's release store of cons (as above). */
		j->p_cons = atomic_load_explicit(&j->cons, memory_order_acquire);
		if (has_room(j, need))
			return true;
	}
}

/**
 * Room for a record of size bytes, contiguous in the ring (a wrap marker fills the
 * ring's end if the record does not fit there).
 * @return where to build it, or NULL once storage has failed (the record is dropped:
 *         the embedder is to stop the process).
 */
static uint8_t *reserve(struct journal *j, uint32_t size)
{
	uint64_t at = j->p_head & (j->ring_bytes - 1u);
	uint64_t tail = j->ring_bytes - at;
	uint64_t need = size + (tail < size ? tail : 0);

	if (atomic_load_explicit(&j->failed, memory_order_relaxed) != 0)
		return NULL;
	if (!has_room(j, need) && !wait_room(j, need))
		return NULL;
	if (tail < size) {
		wire_st32(j->ring + at, RING_WRAP);
		j->p_head += tail;
		at = 0;
	}
	return j->ring + at;
}

/** Hands the record just built (size bytes) to the writer. */
static void publish(struct journal *j, uint32_t size)
{
	j->p_head += size;
	/* Pairs with the writer's acquire load of prod: the record's bytes (and a wrap
	 * marker before it) are written. */
	atomic_store_explicit(&j->prod, j->p_head, memory_order_release);
}

void journal_promise(struct journal *j, uint64_t ballot)
{
	uint32_t size = rec_bytes(JOURNAL_PROMISE_BYTES);
	uint8_t *p = reserve(j, size);

	if (p == NULL)
		return;
	rec_put(p, JOURNAL_REC_PROMISE, JOURNAL_PROMISE_BYTES);
	wire_st64(p + JOURNAL_HDR_BYTES, ballot);
	publish(j, size);
}

void journal_slot(struct journal *j, uint64_t slot, uint64_t vballot, const uint8_t *value,
		  uint32_t len)
{
	assert(len <= j->value_bytes_max);
	assert(value != NULL || len == 0);
	uint32_t plen = JOURNAL_SLOT_FIXED_BYTES + len;
	uint32_t size = rec_bytes(plen);
	uint8_t *p = reserve(j, size);

	if (p == NULL)
		return;
	rec_put(p, JOURNAL_REC_SLOT, plen);
	wire_st64(p + JOURNAL_HDR_BYTES, slot);
	wire_st64(p + JOURNAL_HDR_BYTES + 8u, vballot);
	wire_st32(p + JOURNAL_HDR_BYTES + 16u, len);
	if (len > 0)
		memcpy(p + JOURNAL_HDR_BYTES + JOURNAL_SLOT_FIXED_BYTES, value, len);
	publish(j, size);
}

void journal_incarnation(struct journal *j, const uint32_t *inc, uint32_t n)
{
	assert(n >= 1u && n <= PX_REPLICAS_MAX);
	uint32_t plen = JOURNAL_INC_BYTES(n);
	uint32_t size = rec_bytes(plen);
	uint8_t *p = reserve(j, size);

	if (p == NULL)
		return;
	rec_put(p, JOURNAL_REC_INCARNATION, plen);
	wire_st32(p + JOURNAL_HDR_BYTES, n);
	for (uint32_t i = 0; i < n; i++)
		wire_st32(p + JOURNAL_HDR_BYTES + 4u + 4u * i, inc[i]);
	publish(j, size);
}

void journal_sync(struct journal *j, uint64_t seq, uint64_t commit)
{
	uint32_t size = rec_bytes(JOURNAL_SYNC_BYTES);

	assert(seq > j->p_last_seq);
	j->p_last_seq = seq;
	uint8_t *p = reserve(j, size);
	if (p == NULL)
		return;
	rec_put(p, JOURNAL_REC_SYNC, JOURNAL_SYNC_BYTES);
	wire_st64(p + JOURNAL_HDR_BYTES, seq);
	wire_st64(p + JOURNAL_HDR_BYTES + 8u, commit);
	publish(j, size);
	wake_writer(j);
}

uint64_t journal_poll(const struct journal *j)
{
	/* Pairs with the writer's release store after its fdatasync returned. */
	return atomic_load_explicit(&j->durable, memory_order_acquire);
}

const char *journal_failed(const struct journal *j)
{
	/* Pairs with fail()'s release store: why is written. */
	if (atomic_load_explicit(&j->failed, memory_order_acquire) == 0)
		return NULL;
	return j->why;
}

void journal_compact(struct journal *j, uint64_t below_slot)
{
	uint32_t size = rec_bytes(RING_COMPACT_BYTES);
	uint8_t *p = reserve(j, size);

	if (p == NULL)
		return;
	rec_put(p, RING_COMPACT, RING_COMPACT_BYTES);
	wire_st64(p + JOURNAL_HDR_BYTES, below_slot);
	publish(j, size);
	wake_writer(j);
}

void journal_counters(const struct journal *j, struct journal_counters *out)
{
	out->records = atomic_load_explicit(&j->c_records, memory_order_relaxed);
	out->bytes = atomic_load_explicit(&j->c_bytes, memory_order_relaxed);
	out->syncs = atomic_load_explicit(&j->c_syncs, memory_order_relaxed);
	out->drains = atomic_load_explicit(&j->c_drains, memory_order_relaxed);
	out->ring_full_waits = atomic_load_explicit(&j->ring_full_waits, memory_order_relaxed);
	out->max_drain_bytes = atomic_load_explicit(&j->c_max_drain, memory_order_relaxed);
	out->segments = atomic_load_explicit(&j->c_segments, memory_order_relaxed);
	out->compactions = atomic_load_explicit(&j->c_compactions, memory_order_relaxed);
	out->segments_deleted = atomic_load_explicit(&j->c_seg_deleted, memory_order_relaxed);
	out->compact_rewrites = atomic_load_explicit(&j->c_rewrites, memory_order_relaxed);
}

void journal_hold_writer(struct journal *j, bool hold)
{
	atomic_store_explicit(&j->hold, hold, memory_order_relaxed);
	if (!hold)
		wake_writer(j);
}

/* ---------------------------------------------------------------------------------- */
/* The writer                                                                          */

/** One drain: the records taken from the ring, as at most two runs of ring bytes. */
struct batch {
	struct iovec iov[2];
	uint32_t runs;
	uint64_t bytes;
	uint64_t records;
	uint64_t last_seq;   /**< the seq of its last SYNC record (0: none) */
	uint64_t end;        /**< the ring position after it */
	bool roll;           /**< the next record needs a new segment */
	bool compact;        /**< it is a compaction request (and holds no record) */
	uint64_t compact_below;
	bool inc;            /**< it holds an INCARNATION record */
};

static void seg_name(char *buf, uint64_t num)
{
	snprintf(buf, NAME_BYTES, "journal-%016" PRIx64, num);
}

/** Adds to a counter of the writer's (its only writer: no read-modify-write needed). */
static void bump(_Atomic uint64_t *c, uint64_t by)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
			      memory_order_relaxed);
}

/** Storage failed: records why and stops the writer for good (never retried: after a
 *  failed fdatasync the page cache may have dropped the data it could not write). */
static void fail_file(struct journal *j, int err, const char *what, const char *name,
		      uint64_t off)
{
	char msg[128];

	snprintf(j->why, sizeof(j->why),
		 "journal: %s %s/%s at offset %" PRIu64 " failed: %s; this replica must stop "
		 "(it cannot keep its promises)",
		 what, j->dir, name, off, strerror_r(-err, msg, sizeof(msg)));
	/* Pairs with journal_failed's acquire load: why is written. */
	atomic_store_explicit(&j->failed, err, memory_order_release);
}

static void fail(struct journal *j, int err, const char *what, uint64_t seg, uint64_t off)
{
	char name[NAME_BYTES];

	seg_name(name, seg);
	fail_file(j, err, what, name, off);
}

static struct seginfo *seginfo_of(struct journal *j, uint64_t num)
{
	return &j->sinfo[num % JOURNAL_SEGMENTS_MAX];
}

/** What a record kept (replayed, or stamped by the writer) adds to what its segment
 *  and the journal hold. */
static void note_rec(struct journal *j, struct seginfo *si, const uint8_t *p)
{
	const uint8_t *pl = p + JOURNAL_HDR_BYTES;
	uint64_t v = wire_ld64(pl);

	switch (p[H_TYPE]) {
	case JOURNAL_REC_PROMISE:
		si->max_promise = v > si->max_promise ? v : si->max_promise;
		j->w_promised = v > j->w_promised ? v : j->w_promised;
		break;
	case JOURNAL_REC_SYNC:
		v = wire_ld64(pl + 8u);
		si->max_commit = v > si->max_commit ? v : si->max_commit;
		j->w_commit = v > j->w_commit ? v : j->w_commit;
		j->w_last_seq = wire_ld64(pl);
		break;
	case JOURNAL_REC_INCARNATION:
		/* The newest wins (a vector only grows), wherever it is. */
		j->w_n_inc = wire_ld32(pl);
		for (uint32_t i = 0; i < j->w_n_inc; i++)
			j->w_inc[i] = wire_ld32(pl + 4u + 4u * i);
		j->w_inc_seg = wire_ld64(p + H_SEGMENT);
		break;
	default:
		si->max_slot = v > si->max_slot ? v : si->max_slot;
		break;
	}
}

static void add_run(struct batch *b, uint8_t *p, uint32_t size)
{
	if (b->runs > 0 &&
	    (uint8_t *)b->iov[b->runs - 1].iov_base + b->iov[b->runs - 1].iov_len == p) {
		b->iov[b->runs - 1].iov_len += size;
		return;
	}
	/* A drain takes at most ring_bytes, so it crosses the ring's end at most once. */
	assert(b->runs < 2);
	b->iov[b->runs].iov_base = p;
	b->iov[b->runs].iov_len = size;
	b->runs++;
}

/** Takes the records in ring bytes [cons, prod) that fit the current segment, stamping
 *  each with where it lands. */
static void collect(struct journal *j, uint64_t cons, uint64_t prod, struct batch *b)
{
	uint64_t pos = cons;

	memset(b, 0, sizeof(*b));
	/* Bounded: each pass moves pos forward (a record is >= 48 bytes, a wrap marker
	 * >= 8), and prod - cons <= ring_bytes. */
	while (pos < prod) {
		uint64_t at = pos & (j->ring_bytes - 1u);
		uint8_t *p = j->ring + at;
		if (wire_ld32(p + H_MAGIC) == RING_WRAP) {
			pos += j->ring_bytes - at;
			continue;
		}
		uint32_t size = rec_bytes(wire_ld32(p + H_LEN));
		if (p[H_TYPE] == RING_COMPACT) {
			/* A drain of its own, after what came before it is written. */
			if (b->records == 0) {
				b->compact = true;
				b->compact_below = wire_ld64(p + JOURNAL_HDR_BYTES);
				pos += size;
			}
			break;
		}
		uint64_t off = j->seg_off + b->bytes;
		if (off > 0 && off + size > j->segment_bytes) {
			b->roll = true;
			break;
		}
		if (b->records == 0)
			j->drain++;
		rec_stamp(p, size, j->seg, off, j->drain);
		note_rec(j, seginfo_of(j, j->seg), p);
		add_run(b, p, size);
		if (p[H_TYPE] == JOURNAL_REC_SYNC)
			b->last_seq = wire_ld64(p + JOURNAL_HDR_BYTES);
		if (p[H_TYPE] == JOURNAL_REC_INCARNATION)
			b->inc = true;
		b->bytes += size;
		b->records++;
		pos += size;
	}
	b->end = pos;
}

/** Writes the batch at the end of the segment: one pwritev (more only if it is short). */
static int write_batch(struct journal *j, struct batch *b)
{
	struct iovec iov[2] = {b->iov[0], b->iov[1]};
	uint32_t first = 0;
	uint64_t left = b->bytes;

	/* Bounded: each pass writes at least one byte, or fails (EINTR: a signal). */
	while (left > 0) {
		ssize_t w = pwritev(j->fd, iov + first, (int)(b->runs - first),
				    (off_t)j->seg_off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fail(j, w < 0 ? -errno : -EIO, "write", j->seg, j->seg_off);
			return -1;
		}
		j->seg_off += (uint64_t)w;
		left -= (uint64_t)w;
		/* Bounded: at most two runs. */
		while (first < b->runs && (uint64_t)w >= iov[first].iov_len) {
			w -= (ssize_t)iov[first].iov_len;
			first++;
		}
		if (first < b->runs) {
			iov[first].iov_base = (uint8_t *)iov[first].iov_base + w;
			iov[first].iov_len -= (size_t)w;
		}
	}
	return 0;
}

static int sync_segment(struct journal *j)
{
	if (j->sync == JOURNAL_SYNC_NONE)
		return 0;
	if (fdatasync(j->fd) != 0) {
		fail(j, -errno, "fdatasync", j->seg, j->seg_off);
		return -1;
	}
	bump(&j->c_syncs, 1);
	return 0;
}

/** Creates segment num (empty) and makes its name durable. @return its fd, or -errno. */
static int seg_create(int dir_fd, uint64_t num, enum journal_sync sync)
{
	char name[NAME_BYTES];

	seg_name(name, num);
	int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (sync != JOURNAL_SYNC_NONE && fsync(dir_fd) != 0) {
		int e = -errno;
		close(fd);
		unlinkat(dir_fd, name, 0);
		return e;
	}
	return fd;
}

/** The segment is full (and synced): appends go to the next one from now on. */
static int roll(struct journal *j)
{
	if (j->seg + 1u - j->first >= JOURNAL_SEGMENTS_MAX) {
		fail(j, -E2BIG, "create (more than JOURNAL_SEGMENTS_MAX segments held: compact "
		     "the journal)", j->seg + 1u, 0);
		return -1;
	}
	int fd = seg_create(j->dir_fd, j->seg + 1u, j->sync);

	if (fd < 0) {
		fail(j, fd, "create", j->seg + 1u, 0);
		return -1;
	}
	close(j->fd);
	j->fd = fd;
	j->seg++;
	j->seg_off = 0;
	*seginfo_of(j, j->seg) = (struct seginfo){0, 0, 0};
	bump(&j->c_segments, 1);
	return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Compaction (the writer's)                                                           */

/** Writes len bytes at off of fd, all of them. @return 0 or -errno. */
static int pwrite_all(int fd, const uint8_t *p, uint64_t len, uint64_t off)
{
	/* Bounded: each pass writes at least one byte, or fails (EINTR: a signal). */
	while (len > 0) {
		ssize_t w = pwrite(fd, p, len, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		off += (uint64_t)w;
		len -= (uint64_t)w;
	}
	return 0;
}

/** Writes the newest PROMISE, the highest SYNC commit and the newest INCARNATION again
 *  at the end of the current segment (a drain of their own, synced), so that they
 *  outlive the segments compaction deletes. */
static int rewrite(struct journal *j, bool promise, bool sync, bool inc)
{
	uint8_t buf[JOURNAL_REWRITE_BYTES];
	uint32_t size = 0, n = 0;

	if (promise) {
		rec_put(buf, JOURNAL_REC_PROMISE, JOURNAL_PROMISE_BYTES);
		wire_st64(buf + JOURNAL_HDR_BYTES, j->w_promised);
		size += rec_bytes(JOURNAL_PROMISE_BYTES);
		n++;
	}
	if (sync) {
		uint8_t *p = buf + size;
		rec_put(p, JOURNAL_REC_SYNC, JOURNAL_SYNC_BYTES);
		wire_st64(p + JOURNAL_HDR_BYTES, j->w_last_seq);
		wire_st64(p + JOURNAL_HDR_BYTES + 8u, j->w_commit);
		size += rec_bytes(JOURNAL_SYNC_BYTES);
		n++;
	}
	if (inc) {
		uint8_t *p = buf + size;
		uint32_t plen = JOURNAL_INC_BYTES(j->w_n_inc);
		rec_put(p, JOURNAL_REC_INCARNATION, plen);
		wire_st32(p + JOURNAL_HDR_BYTES, j->w_n_inc);
		for (uint32_t i = 0; i < j->w_n_inc; i++)
			wire_st32(p + JOURNAL_HDR_BYTES + 4u + 4u * i, j->w_inc[i]);
		size += rec_bytes(plen);
		n++;
	}
	if (j->seg_off > 0 && j->seg_off + size > j->segment_bytes && roll(j) != 0)
		return -1;
	j->drain++;
	/* Bounded: at most three records. */
	for (uint32_t off = 0; off < size;) {
		uint8_t *p = buf + off;
		uint32_t rs = rec_bytes(wire_ld32(p + H_LEN));
		rec_stamp(p, rs, j->seg, j->seg_off + off, j->drain);
		note_rec(j, seginfo_of(j, j->seg), p);
		off += rs;
	}
	int rc = pwrite_all(j->fd, buf, size, j->seg_off);
	if (rc != 0) {
		fail(j, rc, "write", j->seg, j->seg_off);
		return -1;
	}
	j->seg_off += size;
	if (sync_segment(j) != 0)
		return -1;
	bump(&j->c_records, n);
	bump(&j->c_bytes, size);
	bump(&j->c_drains, 1);
	bump(&j->c_rewrites, n);
	return 0;
}

/** Writes `compacted` (first segment held, floor) atomically: a .tmp, synced, renamed,
 *  the dir synced. */
static int marker_write(struct journal *j, uint64_t first, uint64_t floor)
{
	uint8_t m[JOURNAL_COMPACTED_BYTES];

	memset(m, 0, sizeof(m));
	wire_st32(m + C_MAGIC, JOURNAL_COMPACTED_MAGIC);
	wire_st16(m + C_VERSION, JOURNAL_COMPACTED_VERSION);
	wire_st64(m + C_FIRST, first);
	wire_st64(m + C_FLOOR, floor);
	wire_st32(m + C_CRC, journal_crc32c(m, C_CRC));
	int fd = openat(j->dir_fd, COMPACTED_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			0600);
	if (fd < 0) {
		fail_file(j, -errno, "create", COMPACTED_TMP, 0);
		return -1;
	}
	int rc = pwrite_all(fd, m, sizeof(m), 0);
	const char *what = "write";
	if (rc == 0 && j->sync != JOURNAL_SYNC_NONE && fdatasync(fd) != 0) {
		rc = -errno;
		what = "fdatasync";
	}
	if (close(fd) != 0 && rc == 0) {
		rc = -errno;
		what = "close";
	}
	if (rc == 0 && renameat(j->dir_fd, COMPACTED_TMP, j->dir_fd, COMPACTED_NAME) != 0) {
		rc = -errno;
		what = "rename to " COMPACTED_NAME " of";
	}
	if (rc == 0 && j->sync != JOURNAL_SYNC_NONE && fsync(j->dir_fd) != 0) {
		rc = -errno;
		what = "fsync of the dir after renaming";
	}
	if (rc != 0) {
		fail_file(j, rc, what, COMPACTED_TMP, 0);
		return -1;
	}
	j->marker = true;
	return 0;
}

/**
 * Deletes the oldest segments that hold no slot above below (never the current one):
 * first the newest PROMISE and SYNC commit are written again if only those segments
 * hold them, then `compacted` records the new first segment, then the files go, oldest
 * first. A crash anywhere in between leaves a journal that replays to the same
 * promise, commit and slots above the floor (docs/storage.md, "Compaction").
 */
static int compact(struct journal *j, uint64_t below)
{
	uint64_t n = j->first, max_p = 0, max_c = 0;
	char name[NAME_BYTES];

	/* Bounded: seg - first < JOURNAL_SEGMENTS_MAX. */
	while (n < j->seg && seginfo_of(j, n)->max_slot <= below)
		n++;
	if (n == j->first) {
		bump(&j->c_compactions, 1);
		return 0;
	}
	/* Bounded as above: what the segments that stay hold. */
	for (uint64_t k = n; k <= j->seg; k++) {
		const struct seginfo *si = seginfo_of(j, k);
		max_p = si->max_promise > max_p ? si->max_promise : max_p;
		max_c = si->max_commit > max_c ? si->max_commit : max_c;
	}
	bool promise = j->w_promised > max_p, sync = j->w_commit > max_c;
	bool inc = j->w_n_inc > 0 && j->w_inc_seg < n;
	if ((promise || sync || inc) && rewrite(j, promise, sync, inc) != 0)
		return -1;
	uint64_t floor = below > j->floor ? below : j->floor;
	if (marker_write(j, n, floor) != 0)
		return -1;
	j->floor = floor;
	/* Bounded as above. Oldest first: a crash leaves a prefix gone, never a hole. */
	for (uint64_t k = j->first; k < n; k++) {
		seg_name(name, k);
		if (unlinkat(j->dir_fd, name, 0) != 0 && errno != ENOENT) {
			fail(j, -errno, "unlink (compaction)", k, 0);
			return -1;
		}
		j->first = k + 1u;
		bump(&j->c_seg_deleted, 1);
	}
	/* Not needed for correctness (the marker says which segments are gone, and open
	 * deletes any that come back), only to make the space come back for good. */
	if (j->sync != JOURNAL_SYNC_NONE && fsync(j->dir_fd) != 0) {
		fail_file(j, -errno, "fsync after compaction of the dir", ".", 0);
		return -1;
	}
	bump(&j->c_compactions, 1);
	return 0;
}

/** One drain: everything in [cons, prod) that fits the segment, one write, one sync,
 *  then the newest seq it holds is durable. */
static int drain(struct journal *j, uint64_t cons, uint64_t prod)
{
	struct batch b;

	collect(j, cons, prod, &b);
	if (b.bytes > 0 && write_batch(j, &b) != 0)
		return -1;
	/* Pairs with wait_room's acquire load: pwritev has copied these ring bytes, the
	 * poll loop may fill them again while this thread syncs. */
	atomic_store_explicit(&j->cons, b.end, memory_order_release);
	if (b.bytes > 0) {
		if (sync_segment(j) != 0)
			return -1;
		/* A repair's first crash vector is durable: its recovery completed (the core
		 * writes nothing before), and `repairing` goes, before the sync is
		 * published. A crash before the unlink leaves it to journal_open. */
		if (b.inc && j->repairing_file) {
			if (unlinkat(j->dir_fd, JOURNAL_REPAIRING_NAME, 0) != 0 && errno != ENOENT) {
				fail_file(j, -errno, "unlink (the repair completed)",
					  JOURNAL_REPAIRING_NAME, 0);
				return -1;
			}
			if (j->sync != JOURNAL_SYNC_NONE && fsync(j->dir_fd) != 0) {
				fail_file(j, -errno, "fsync of the dir after removing",
					  JOURNAL_REPAIRING_NAME, 0);
				return -1;
			}
			j->repairing_file = false;
		}
		if (b.last_seq != 0)
			/* Pairs with journal_poll's acquire load. */
			atomic_store_explicit(&j->durable, b.last_seq, memory_order_release);
		bump(&j->c_records, b.records);
		bump(&j->c_bytes, b.bytes);
		bump(&j->c_drains, 1);
		if (b.bytes > atomic_load_explicit(&j->c_max_drain, memory_order_relaxed))
			atomic_store_explicit(&j->c_max_drain, b.bytes, memory_order_relaxed);
	}
	if (b.roll && roll(j) != 0)
		return -1;
	if (b.compact && compact(j, b.compact_below) != 0)
		return -1;
	return 0;
}

/** Is there work (or the order to end)? */
static bool writer_has_work(struct journal *j, bool *stop)
{
	/* Pairs with journal_close's release store: everything published before it is
	 * visible to the load of prod below. */
	*stop = atomic_load_explicit(&j->stop, memory_order_acquire);
	/* Pairs with publish's release store: the records below prod are written. */
	uint64_t prod = atomic_load_explicit(&j->prod, memory_order_acquire);
	uint64_t cons = atomic_load_explicit(&j->cons, memory_order_relaxed);
	bool hold = atomic_load_explicit(&j->hold, memory_order_relaxed) && !*stop;
	return prod != cons && !hold;
}

/** Waits for the poll loop to queue work (or to close). */
static void writer_idle(struct journal *j)
{
	const struct timespec wait = {IDLE_WAIT_NS / 1000000000L, IDLE_WAIT_NS % 1000000000L};
	bool stop;

	atomic_store_explicit(&j->sleeping, 1, memory_order_relaxed);
	/* Pairs with the fence in wake_writer (Dekker, as there). */
	atomic_thread_fence(memory_order_seq_cst);
	if (!writer_has_work(j, &stop) && !stop)
		storage_futex(&j->sleeping, FUTEX_WAIT_PRIVATE, 1, &wait);
	atomic_store_explicit(&j->sleeping, 0, memory_order_relaxed);
}

static void *writer_main(void *arg)
{
	struct journal *j = arg;
	bool stop;

	/* Ends at journal_close once the ring is empty, or at a storage error. */
	for (;;) {
		if (!writer_has_work(j, &stop)) {
			if (stop)
				break;
			writer_idle(j);
			continue;
		}
		uint64_t prod = atomic_load_explicit(&j->prod, memory_order_acquire);
		uint64_t cons = atomic_load_explicit(&j->cons, memory_order_relaxed);
		if (drain(j, cons, prod) != 0)
			break;
	}
	return NULL;
}

/* ---------------------------------------------------------------------------------- */
/* Opening: the dir, its lock, the segments                                            */

/** The open's error line: "journal: ..." into err. Returns rc. */
__attribute__((format(printf, 4, 5)))
static int open_err(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static int conf_check(const struct journal_conf *c, struct journal *j, char *err,
		      size_t errlen)
{
	j->segment_bytes = c->segment_bytes != 0 ? c->segment_bytes
						 : JOURNAL_SEGMENT_BYTES_DEFAULT;
	j->ring_bytes = c->ring_bytes != 0 ? c->ring_bytes : JOURNAL_RING_BYTES_DEFAULT;
	j->value_bytes_max = c->value_bytes_max != 0 ? c->value_bytes_max
						     : JOURNAL_VALUE_BYTES_DEFAULT;
	j->sync = c->sync;
	uint64_t rec_max = JOURNAL_REC_BYTES_MAX((uint64_t)j->value_bytes_max);

	if (c->dir == NULL || c->dir[0] == '\0')
		return open_err(-EINVAL, err, errlen, "journal: no data dir given");
	if (c->sync != JOURNAL_SYNC_FDATASYNC && c->sync != JOURNAL_SYNC_NONE)
		return open_err(-EINVAL, err, errlen, "journal: unknown sync mode %d",
				(int)c->sync);
	if (j->ring_bytes < JOURNAL_RING_BYTES_MIN || j->ring_bytes > JOURNAL_RING_BYTES_MAX ||
	    (j->ring_bytes & (j->ring_bytes - 1u)) != 0)
		return open_err(-EINVAL, err, errlen, "journal: ring_bytes %" PRIu32 " is not a "
				"power of two in [%u, %u]", j->ring_bytes,
				JOURNAL_RING_BYTES_MIN, JOURNAL_RING_BYTES_MAX);
	if (rec_max * 2u > j->ring_bytes)
		return open_err(-EINVAL, err, errlen, "journal: ring_bytes %" PRIu32 " cannot "
				"hold two records of %" PRIu64 " bytes (value_bytes_max %" PRIu32
				")", j->ring_bytes, rec_max, j->value_bytes_max);
	if (rec_max > j->segment_bytes)
		return open_err(-EINVAL, err, errlen, "journal: segment_bytes %" PRIu64 " is "
				"below the largest record (%" PRIu64 " bytes)", j->segment_bytes,
				rec_max);
	if (j->segment_bytes < JOURNAL_REWRITE_BYTES)
		return open_err(-EINVAL, err, errlen, "journal: segment_bytes %" PRIu64 " is "
				"below %u bytes (a PROMISE, a SYNC and an INCARNATION, which "
				"compaction may write again together)", j->segment_bytes, JOURNAL_REWRITE_BYTES);
	return 0;
}

/** Creates the data dir if missing, opens it and takes its lock. */
static int dir_open(struct journal *j, char *err, size_t errlen)
{
	char msg[128];

	const char *what = NULL;
	int rc = storage_mkdir(j->dir, j->sync != JOURNAL_SYNC_NONE, &what);
	if (rc != 0)
		return open_err(rc, err, errlen, "journal: cannot %s data dir %s: %s", what,
				j->dir, strerror_r(-rc, msg, sizeof(msg)));
	j->dir_fd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dir_fd < 0) {
		int e = errno;
		return open_err(-e, err, errlen, "journal: data dir %s: %s", j->dir,
				strerror_r(e, msg, sizeof(msg)));
	}
	j->lock_fd = openat(j->dir_fd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (j->lock_fd < 0) {
		int e = errno;
		return open_err(-e, err, errlen, "journal: cannot open %s/LOCK: %s", j->dir,
				strerror_r(e, msg, sizeof(msg)));
	}
	if (flock(j->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		if (e == EWOULDBLOCK)
			return open_err(-EBUSY, err, errlen, "journal: data dir %s is in use: "
					"another paxwired holds its LOCK (one process per data "
					"dir)", j->dir);
		return open_err(-e, err, errlen, "journal: cannot lock %s/LOCK: %s", j->dir,
				strerror_r(e, msg, sizeof(msg)));
	}
	return 0;
}

/** Parses "journal-" and 16 hex digits. @return 1 (a segment), 0 (not ours), -1 (a
 *  "journal-" name that is no segment). */
static int seg_parse(const char *name, uint64_t *num)
{
	uint64_t v = 0;

	if (strncmp(name, "journal-", 8) != 0)
		return 0;
	for (uint32_t i = 0; i < 16u; i++) {
		char ch = name[8 + i];
		if (ch >= '0' && ch <= '9')
			v = v << 4 | (uint64_t)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			v = v << 4 | (uint64_t)(ch - 'a' + 10);
		else
			return -1;
	}
	if (name[24] != '\0')
		return -1;
	*num = v;
	return 1;
}

static int cmp_seg(const void *a, const void *b)
{
	uint64_t x = ((const struct seg *)a)->num, y = ((const struct seg *)b)->num;
	return x < y ? -1 : x > y;
}

/** Adds segment num to the list (grown by doubling). */
static int seg_add(struct journal *j, uint32_t *cap, uint64_t num)
{
	if (j->nsegs == *cap) {
		uint32_t ncap = *cap == 0 ? 16u : *cap * 2u;
		struct seg *s = realloc(j->segs, ncap * sizeof(*s));
		if (s == NULL)
			return -ENOMEM;
		j->segs = s;
		*cap = ncap;
	}
	j->segs[j->nsegs++] = (struct seg){.num = num, .map = NULL, .map_bytes = 0};
	return 0;
}

/** Reads the dir's entries into the list of segments (unsorted). */
static int seg_scan(struct journal *j, DIR *d, char *err, size_t errlen)
{
	uint32_t cap = 0;
	struct dirent *e;

	/* Bounded by the dir's entries; segments by JOURNAL_SEGMENTS_MAX. */
	while ((e = readdir(d)) != NULL) {
		uint64_t num;
		int k = seg_parse(e->d_name, &num);
		if (k < 0)
			return open_err(-EBADMSG, err, errlen, "journal: unexpected file %s/%s "
					"(segments are journal-<16 hex digits>): move it out",
					j->dir, e->d_name);
		if (k == 0)
			continue;
		if (j->nsegs == JOURNAL_SEGMENTS_MAX)
			return open_err(-E2BIG, err, errlen, "journal: %s has more than %u "
					"segments", j->dir, JOURNAL_SEGMENTS_MAX);
		if (seg_add(j, &cap, num) != 0)
			return open_err(-ENOMEM, err, errlen, "journal: out of memory");
	}
	return 0;
}

/** Reads `compacted` if there is one (j->first, j->floor), and removes a leftover
 *  compacted.tmp (a compaction cut before its rename: the old marker, or none, holds). */
static int marker_read(struct journal *j, char *err, size_t errlen)
{
	uint8_t m[JOURNAL_COMPACTED_BYTES + 1u];
	char msg[128];

	if (unlinkat(j->dir_fd, COMPACTED_TMP, 0) != 0 && errno != ENOENT) {
		int e = errno;
		return open_err(-e, err, errlen, "journal: cannot remove %s/" COMPACTED_TMP
				": %s", j->dir, strerror_r(e, msg, sizeof(msg)));
	}
	int fd = openat(j->dir_fd, COMPACTED_NAME, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	ssize_t n = fd < 0 ? -1 : pread(fd, m, sizeof(m), 0);
	if (n < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return open_err(-e, err, errlen, "journal: cannot read %s/" COMPACTED_NAME ": %s",
				j->dir, strerror_r(e, msg, sizeof(msg)));
	}
	close(fd);
	const char *why = NULL;
	if (n != JOURNAL_COMPACTED_BYTES)
		why = "wrong size";
	else if (wire_ld32(m + C_MAGIC) != JOURNAL_COMPACTED_MAGIC)
		why = "bad magic";
	else if (wire_ld32(m + C_CRC) != journal_crc32c(m, C_CRC))
		why = "checksum mismatch";
	else if (wire_ld16(m + C_VERSION) != JOURNAL_COMPACTED_VERSION ||
		 wire_ld16(m + C_RESERVED) != 0)
		why = "bad version";
	if (why != NULL) {
		j->damaged = true;
		return open_err(-EBADMSG, err, errlen, "journal: %s/" COMPACTED_NAME " is "
				"corrupt (%s, %zd bytes): which segments compaction deleted is "
				"unknown; rebuild this data dir from the other replicas", j->dir,
				why, n);
	}
	j->marker = true;
	j->first = wire_ld64(m + C_FIRST);
	j->floor = wire_ld64(m + C_FLOOR);
	return 0;
}

/** Deletes the segments below the marker's first: a compaction wrote the marker and
 *  was cut before it had deleted them all. */
static int seg_leftovers(struct journal *j, char *err, size_t errlen)
{
	char name[NAME_BYTES], msg[128];
	uint32_t n = 0;

	/* Bounded: nsegs <= JOURNAL_SEGMENTS_MAX; the list is sorted. */
	while (n < j->nsegs && j->segs[n].num < j->first) {
		seg_name(name, j->segs[n].num);
		if (unlinkat(j->dir_fd, name, 0) != 0) {
			int e = errno;
			return open_err(-e, err, errlen, "journal: cannot delete %s/%s (below the "
					"first segment in " COMPACTED_NAME ", %" PRIu64 "): %s",
					j->dir, name, j->first, strerror_r(e, msg, sizeof(msg)));
		}
		n++;
	}
	if (n == 0)
		return 0;
	if (j->sync != JOURNAL_SYNC_NONE && fsync(j->dir_fd) != 0) {
		int e = errno;
		return open_err(-e, err, errlen, "journal: fsync of %s: %s", j->dir,
				strerror_r(e, msg, sizeof(msg)));
	}
	memmove(j->segs, j->segs + n, (j->nsegs - n) * sizeof(*j->segs));
	j->nsegs -= n;
	j->rp.leftover_segments = n;
	return 0;
}

/** Lists the segments, in order: they must be numbered first, first + 1, ... without a
 *  gap, where first is the marker's (0 without one). */
static int seg_list(struct journal *j, char *err, size_t errlen)
{
	char msg[128], name[NAME_BYTES];
	int fd = openat(j->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);

	if (d == NULL) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return open_err(-e, err, errlen, "journal: cannot list %s: %s", j->dir,
				strerror_r(e, msg, sizeof(msg)));
	}
	int rc = seg_scan(j, d, err, errlen);
	closedir(d);
	if (rc != 0)
		return rc;
	if (j->nsegs > 1)
		qsort(j->segs, j->nsegs, sizeof(*j->segs), cmp_seg);
	rc = seg_leftovers(j, err, errlen);
	if (rc != 0)
		return rc;
	/* With a marker its first segment must be there (the current one is never
	 * deleted); without one, no segment at all is a new journal. */
	uint32_t want = j->nsegs > 0 || !j->marker ? j->nsegs : 1u;
	for (uint32_t i = 0; i < want; i++) {
		if (i < j->nsegs && j->segs[i].num == j->first + i)
			continue;
		seg_name(name, j->first + i);
		j->damaged = true;
		j->dmg_seg = j->first + i;
		j->dmg_off = 0;
		if (j->marker)
			return open_err(-EBADMSG, err, errlen, "journal: %s/%s is missing (the "
					"segments must be numbered from %" PRIu64 ", the first "
					"segment " COMPACTED_NAME " names, without a gap): rebuild "
					"this data dir from the other replicas", j->dir, name,
					j->first);
		return open_err(-EBADMSG, err, errlen, "journal: %s/%s is missing (the segments "
				"must be numbered from 0 without a gap, and no " COMPACTED_NAME
				" file says that compaction deleted any): rebuild this data dir "
				"from the other replicas", j->dir, name);
	}
	return 0;
}

/** Maps segment i; the last one stays open for appending (j->fd). */
static int seg_map(struct journal *j, uint32_t i, bool last, char *err, size_t errlen)
{
	char name[NAME_BYTES], msg[128];
	struct stat st;
	struct seg *s = &j->segs[i];

	seg_name(name, s->num);
	int fd = openat(j->dir_fd, name, (last ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return open_err(-e, err, errlen, "journal: cannot open %s/%s: %s", j->dir, name,
				strerror_r(e, msg, sizeof(msg)));
	}
	if (st.st_size > 0) {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED) {
			int e = errno;
			close(fd);
			return open_err(-e, err, errlen, "journal: cannot map %s/%s: %s", j->dir,
					name, strerror_r(e, msg, sizeof(msg)));
		}
		s->map = m;
		s->map_bytes = (size_t)st.st_size;
	}
	if (last)
		j->fd = fd;
	else
		close(fd);
	return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Replay                                                                              */

/** Replay's running state. */
struct rstate {
	struct seginfo *cur;   /**< what the segment being replayed holds */
	uint64_t drain_prev;   /**< drain of the last record kept (0: none) */
	uint64_t drain_max;
	uint64_t idx_cap;
};

/** Valid records after a bad one (bad_record). */
struct after {
	uint64_t valid;        /**< how many */
	uint64_t first_off;    /**< where the first is */
	uint64_t drain_min, drain_max;
};

static int idx_add(struct journal *j, struct rstate *st, const uint8_t *p)
{
	const uint8_t *pl = p + JOURNAL_HDR_BYTES;

	if (j->nidx == st->idx_cap) {
		uint64_t ncap = st->idx_cap == 0 ? 1024u : st->idx_cap * 2u;
		struct entry *e = realloc(j->idx, ncap * sizeof(*e));
		if (e == NULL)
			return -ENOMEM;
		j->idx = e;
		st->idx_cap = ncap;
	}
	j->idx[j->nidx] = (struct entry){
		.slot = wire_ld64(pl), .vballot = wire_ld64(pl + 8u), .order = j->nidx,
		.value = pl + JOURNAL_SLOT_FIXED_BYTES, .len = wire_ld32(pl + 16u)};
	j->nidx++;
	return 0;
}

/** Applies a valid record to what replay has found. */
static int take(struct journal *j, struct rstate *st, const uint8_t *p, uint64_t size)
{
	const uint8_t *pl = p + JOURNAL_HDR_BYTES;
	struct journal_replay *r = &j->rp;

	switch (p[H_TYPE]) {
	case JOURNAL_REC_PROMISE:
		if (wire_ld64(pl) > r->promised)
			r->promised = wire_ld64(pl);
		break;
	case JOURNAL_REC_SYNC:
		r->last_seq = wire_ld64(pl);
		if (wire_ld64(pl + 8u) > r->commit)
			r->commit = wire_ld64(pl + 8u);
		break;
	case JOURNAL_REC_INCARNATION:
		r->n_inc = wire_ld32(pl);
		for (uint32_t k = 0; k < r->n_inc; k++)
			r->incarnation[k] = wire_ld32(pl + 4u + 4u * k);
		break;
	default:
		if (idx_add(j, st, p) != 0)
			return -ENOMEM;
		r->slot_records++;
		if (wire_ld64(pl) > r->hi)
			r->hi = wire_ld64(pl);
		break;
	}
	note_rec(j, st->cur, p);
	st->drain_prev = wire_ld64(p + H_DRAIN);
	if (st->drain_prev > st->drain_max)
		st->drain_max = st->drain_prev;
	r->records++;
	r->bytes += size;
	return 0;
}

/** Could a valid record start at off? (cheap: magic and place, before the checksum) */
static bool maybe_rec(const uint8_t *base, uint64_t n, uint64_t seg, uint64_t off)
{
	const uint8_t *p = base + off;

	return n - off >= JOURNAL_HDR_BYTES && wire_ld32(p + H_MAGIC) == JOURNAL_MAGIC &&
	       wire_ld64(p + H_SEGMENT) == seg && wire_ld64(p + H_OFFSET) == off;
}

/** Finds the valid records after a bad one at off, at 8-byte steps. */
static void scan_after(const struct seg *s, uint64_t off, struct after *a)
{
	char why[JOURNAL_WHY_BYTES];
	uint64_t n = s->map_bytes;

	memset(a, 0, sizeof(*a));
	a->drain_min = UINT64_MAX;
	/* Bounded: each pass moves q forward by >= 8 bytes, up to the file's end. */
	for (uint64_t q = off + JOURNAL_ALIGN; q < n;) {
		uint64_t size = maybe_rec(s->map, n, s->num, q)
				? rec_check(s->map, n, s->num, q, why, sizeof(why)) : 0;
		if (size == 0) {
			q += JOURNAL_ALIGN;
			continue;
		}
		uint64_t d = wire_ld64(s->map + q + H_DRAIN);
		if (a->valid++ == 0)
			a->first_off = q;
		a->drain_min = d < a->drain_min ? d : a->drain_min;
		a->drain_max = d > a->drain_max ? d : a->drain_max;
		q += size;
	}
}

/**
 * A torn write, or corruption? Torn: in the last segment, and whatever valid follows
 * belongs to one drain that may have been in flight at a crash: the drain of the last
 * record kept, or the next. Only the last drain can be torn: each drain is synced
 * before the next is written, and a drain never spans segments.
 */
static bool is_torn(const struct rstate *st, const struct after *a, bool last)
{
	if (!last)
		return false;
	if (a->valid == 0)
		return true;
	return a->drain_min == a->drain_max &&
	       (a->drain_max == st->drain_prev || a->drain_max == st->drain_prev + 1u);
}

/** Cuts the last segment at off: appends continue from there. */
static int cut(struct journal *j, const struct seg *s, uint64_t off, const char *why,
	       char *err, size_t errlen)
{
	char name[NAME_BYTES], msg[128];

	seg_name(name, s->num);
	if (ftruncate(j->fd, (off_t)off) != 0 ||
	    (j->sync != JOURNAL_SYNC_NONE && fsync(j->fd) != 0)) {
		int e = errno;
		return open_err(-e, err, errlen, "journal: cannot cut the torn tail of %s/%s "
				"at offset %" PRIu64 ": %s", j->dir, name, off,
				strerror_r(e, msg, sizeof(msg)));
	}
	j->rp.torn_bytes = s->map_bytes - off;
	j->rp.torn_segment = s->num;
	j->rp.torn_offset = off;
	snprintf(j->rp.torn_why, sizeof(j->rp.torn_why), "%s", why);
	return 0;
}

/** A bad record at off of segment i: a torn tail to cut, or corruption to refuse. */
static int bad_record(struct journal *j, const struct rstate *st, uint32_t i, uint64_t off,
		      const char *why, char *err, size_t errlen)
{
	const struct seg *s = &j->segs[i];
	bool last = i + 1u == j->nsegs;
	char name[NAME_BYTES];
	struct after a;

	scan_after(s, off, &a);
	if (is_torn(st, &a, last))
		return cut(j, s, off, why, err, errlen);
	seg_name(name, s->num);
	j->damaged = true;
	j->dmg_seg = s->num;
	j->dmg_off = off;
	if (a.valid > 0)
		return open_err(-EBADMSG, err, errlen, "journal: %s/%s: bad record at offset "
				"%" PRIu64 " (%s), and a valid record follows at offset %" PRIu64
				": the journal is corrupt in the middle; rebuild this data dir "
				"from the other replicas", j->dir, name, off, why, a.first_off);
	return open_err(-EBADMSG, err, errlen, "journal: %s/%s: bad record at offset %" PRIu64
			" (%s) in a segment that is not the last: the journal is corrupt in "
			"the middle; rebuild this data dir from the other replicas", j->dir,
			name, off, why);
}

static int replay_segment(struct journal *j, struct rstate *st, uint32_t i, char *err,
			  size_t errlen)
{
	const struct seg *s = &j->segs[i];
	uint64_t off = 0;
	char why[JOURNAL_WHY_BYTES];

	st->cur = seginfo_of(j, s->num);
	*st->cur = (struct seginfo){0, 0, 0};
	/* Bounded: each valid record moves off forward by >= 48 bytes. */
	while (off < s->map_bytes) {
		uint64_t size = rec_check(s->map, s->map_bytes, s->num, off, why, sizeof(why));
		if (size == 0)
			return bad_record(j, st, i, off, why, err, errlen);
		if (take(j, st, s->map + off, size) != 0)
			return open_err(-ENOMEM, err, errlen, "journal: out of memory");
		off += size;
	}
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/** Sorts the slots and keeps the newest record of each. */
static void idx_build(struct journal *j)
{
	uint64_t k = 0;

	if (j->nidx == 0)
		return;
	qsort(j->idx, j->nidx, sizeof(*j->idx), cmp_entry);
	for (uint64_t i = 0; i < j->nidx; i++) {
		if (k > 0 && j->idx[k - 1].slot == j->idx[i].slot)
			k--;
		j->idx[k++] = j->idx[i];
	}
	j->nidx = k;
}

/** Maps and replays every segment; the writer appends to the last (or a new first). */
static int replay(struct journal *j, char *err, size_t errlen)
{
	struct rstate st = {NULL, 0, 0, 0};
	int rc = marker_read(j, err, errlen);

	if (rc == 0)
		rc = seg_list(j, err, errlen);

	/* Bounded: nsegs <= JOURNAL_SEGMENTS_MAX. */
	for (uint32_t i = 0; rc == 0 && i < j->nsegs; i++) {
		rc = seg_map(j, i, i + 1u == j->nsegs, err, errlen);
		if (rc == 0)
			rc = replay_segment(j, &st, i, err, errlen);
	}
	if (rc != 0)
		return rc;
	idx_build(j);
	j->rp.slots = j->nidx;
	j->rp.lo = j->nidx > 0 ? j->idx[0].slot : 0;
	j->rp.floor = j->floor;
	j->rp.first_segment = j->first;
	j->drain = st.drain_max;
	if (j->nsegs > 0) {
		const struct seg *s = &j->segs[j->nsegs - 1u];
		j->seg = s->num;
		j->seg_off = s->map_bytes - j->rp.torn_bytes;
	} else {
		j->fd = seg_create(j->dir_fd, 0, j->sync);
		if (j->fd < 0) {
			char msg[128];
			return open_err(j->fd, err, errlen, "journal: cannot create the first "
					"segment in %s: %s", j->dir,
					strerror_r(-j->fd, msg, sizeof(msg)));
		}
		j->seg = 0;
		j->seg_off = 0;
		*seginfo_of(j, 0) = (struct seginfo){0, 0, 0};
	}
	j->rp.segments = j->nsegs > 0 ? j->nsegs : 1u;
	atomic_store_explicit(&j->c_segments, j->rp.segments, memory_order_relaxed);
	return 0;
}

bool journal_read_slot(void *jctx, uint64_t slot, uint64_t *vballot, const uint8_t **value,
		       uint32_t *len)
{
	const struct journal *j = jctx;
	uint64_t lo = 0, hi = j->nidx;

	/* Bounded: binary search, log2(nidx) passes. */
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2u;
		if (j->idx[mid].slot < slot)
			lo = mid + 1u;
		else
			hi = mid;
	}
	if (lo == j->nidx || j->idx[lo].slot != slot)
		return false;
	*vballot = j->idx[lo].vballot;
	*value = j->idx[lo].value;
	*len = j->idx[lo].len;
	return true;
}

void journal_as_node(struct journal *j, struct node_journal *nj)
{
	nj->promised = j->rp.promised;
	nj->commit = j->rp.commit;
	nj->hi = j->rp.hi;
	nj->incarnation = j->rp.incarnation;
	nj->n_inc = j->rp.n_inc;
	nj->slot = journal_read_slot;
	nj->jctx = j;
}

/* ---------------------------------------------------------------------------------- */
/* Life                                                                                */

/** Frees what journal_open built (the writer is not running). */
static void destroy(struct journal *j)
{
	for (uint32_t i = 0; i < j->nsegs; i++)
		if (j->segs[i].map != NULL)
			munmap(j->segs[i].map, j->segs[i].map_bytes);
	if (j->fd >= 0)
		close(j->fd);
	if (j->lock_fd >= 0)
		close(j->lock_fd);   /* releases the flock */
	if (j->dir_fd >= 0)
		close(j->dir_fd);
	free(j->segs);
	free(j->sinfo);
	free(j->idx);
	free(j->ring);
	free(j->dir);
	free(j);
}

/** The ring, touched now so that the poll loop takes no page fault on it later. */
static int ring_alloc(struct journal *j, char *err, size_t errlen)
{
	j->ring = aligned_alloc(4096, j->ring_bytes);
	if (j->ring == NULL)
		return open_err(-ENOMEM, err, errlen, "journal: cannot allocate a ring of %"
				PRIu32 " bytes", j->ring_bytes);
	memset(j->ring, 0, j->ring_bytes);
	return 0;
}

/** Starts the writer with every signal blocked (they are the process's to handle). */
static int writer_start(struct journal *j, char *err, size_t errlen)
{
	char msg[128];
	int rc = storage_thread_start(&j->thread, writer_main, j, "pw-journal");
	if (rc != 0)
		return open_err(rc, err, errlen, "journal: cannot start the writer thread: %s",
				strerror_r(-rc, msg, sizeof(msg)));
	j->thread_started = true;
	return 0;
}

static struct journal *journal_alloc(const char *dir)
{
	size_t bytes = (sizeof(struct journal) + 63u) & ~(size_t)63u;
	struct journal *j = aligned_alloc(64, bytes);

	if (j == NULL)
		return NULL;
	memset(j, 0, sizeof(*j));
	j->dir_fd = -1;
	j->lock_fd = -1;
	j->fd = -1;
	j->dir = strdup(dir);
	j->sinfo = calloc(JOURNAL_SEGMENTS_MAX, sizeof(*j->sinfo));
	if (j->dir == NULL || j->sinfo == NULL) {
		free(j->dir);
		free(j->sinfo);
		free(j);
		return NULL;
	}
	return j;
}

/* ---------------------------------------------------------------------------------- */
/* Repair: a damaged journal set aside (docs/storage.md, "Repair")                     */

/** Forgets what a failed replay built, so that the journal can be replayed again. */
static void replay_reset(struct journal *j)
{
	for (uint32_t i = 0; i < j->nsegs; i++)
		if (j->segs[i].map != NULL)
			munmap(j->segs[i].map, j->segs[i].map_bytes);
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	free(j->segs);
	free(j->idx);
	j->segs = NULL;
	j->nsegs = 0;
	j->idx = NULL;
	j->nidx = 0;
	j->first = 0;
	j->floor = 0;
	j->marker = false;
	j->drain = 0;
	j->w_promised = 0;
	j->w_commit = 0;
	j->w_last_seq = 0;
	j->w_n_inc = 0;
	j->w_inc_seg = 0;
	memset(&j->rp, 0, sizeof(j->rp));
}

/** Durably creates `repairing`. */
static int repairing_create(struct journal *j, char *err, size_t errlen)
{
	char msg[128];
	int fd = openat(j->dir_fd, JOURNAL_REPAIRING_NAME, O_WRONLY | O_CREAT | O_CLOEXEC,
			0600);

	if (fd < 0 || close(fd) != 0 ||
	    (j->sync != JOURNAL_SYNC_NONE && fsync(j->dir_fd) != 0)) {
		int e = errno;
		return open_err(-e, err, errlen, "journal: cannot create %s/" JOURNAL_REPAIRING_NAME
				": %s", j->dir, strerror_r(e, msg, sizeof(msg)));
	}
	j->repairing_file = true;
	return 0;
}

/** Moves every segment and `compacted` into a new dir damaged-N of the data dir (its
 *  name in aside): nothing is deleted. `repairing` is created first, so that a crash
 *  half way leaves a repair to resume, never a half journal taken as whole. */
static int set_aside(struct journal *j, char *aside, char *err, size_t errlen)
{
	char msg[128];
	uint64_t num;
	int rc = repairing_create(j, err, errlen);

	if (rc != 0)
		return rc;
	/* Bounded: 1000 names at most. */
	for (uint32_t k = 1; ; k++) {
		if (k == 1000u)
			return open_err(-EEXIST, err, errlen, "journal: %s holds %u " JOURNAL_DAMAGED_PREFIX
					"* dirs already: move them out", j->dir, k - 1u);
		snprintf(aside, JOURNAL_ASIDE_BYTES, JOURNAL_DAMAGED_PREFIX "%u", k);
		if (mkdirat(j->dir_fd, aside, 0700) == 0)
			break;
		if (errno != EEXIST) {
			int e = errno;
			return open_err(-e, err, errlen, "journal: cannot create %s/%s: %s", j->dir,
					aside, strerror_r(e, msg, sizeof(msg)));
		}
	}
	int afd = openat(j->dir_fd, aside, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int fd = openat(j->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (afd < 0 || d == NULL) {
		int e = errno;
		if (afd >= 0)
			close(afd);
		if (d == NULL && fd >= 0)
			close(fd);
		else if (d != NULL)
			closedir(d);
		return open_err(-e, err, errlen, "journal: cannot open %s/%s: %s", j->dir, aside,
				strerror_r(e, msg, sizeof(msg)));
	}
	/* Renaming while reading the dir may show an entry twice or not at all: passes
	 * until one moves nothing. Bounded by the dir's entries per pass, and each pass
	 * but the last moves at least one. */
	rc = 0;
	for (bool moved = true; moved && rc == 0;) {
		moved = false;
		rewinddir(d);
		struct dirent *e;
		while (rc == 0 && (e = readdir(d)) != NULL) {
			if (seg_parse(e->d_name, &num) != 1 && strcmp(e->d_name, COMPACTED_NAME) != 0)
				continue;
			if (renameat(j->dir_fd, e->d_name, afd, e->d_name) != 0) {
				int er = errno;
				if (er == ENOENT)
					continue;
				rc = open_err(-er, err, errlen, "journal: cannot move %s/%s into %s: %s",
					      j->dir, e->d_name, aside,
					      strerror_r(er, msg, sizeof(msg)));
			}
			moved = true;
		}
	}
	if (rc == 0 && j->sync != JOURNAL_SYNC_NONE &&
	    (fsync(afd) != 0 || fsync(j->dir_fd) != 0)) {
		int e = errno;
		rc = open_err(-e, err, errlen, "journal: fsync after moving the damaged journal "
			      "into %s/%s: %s", j->dir, aside, strerror_r(e, msg, sizeof(msg)));
	}
	closedir(d);
	close(afd);
	return rc;
}

/** After a replay that succeeded: is a repair begun earlier still due? It is done once
 *  the journal holds an INCARNATION record (the core writes nothing while it repairs,
 *  and a crash vector first when its recovery completes): `repairing` goes then. */
static int repair_check(struct journal *j, char *err, size_t errlen)
{
	char msg[128];

	if (!j->repairing_file)
		return 0;
	if (j->rp.n_inc == 0) {
		j->rp.repair = true;
		return 0;
	}
	if (unlinkat(j->dir_fd, JOURNAL_REPAIRING_NAME, 0) != 0 ||
	    (j->sync != JOURNAL_SYNC_NONE && fsync(j->dir_fd) != 0)) {
		int e = errno;
		return open_err(-e, err, errlen, "journal: cannot remove %s/" JOURNAL_REPAIRING_NAME
				" (the repair completed): %s", j->dir,
				strerror_r(e, msg, sizeof(msg)));
	}
	j->repairing_file = false;
	return 0;
}

/** Replays; with c->repair, a damaged journal is set aside and the (empty) journal
 *  replayed again; with c->rejoin, an empty one starts a repair. */
static int replay_or_repair(struct journal *j, bool repair, bool rejoin, char *err,
			    size_t errlen)
{
	j->repairing_file = faccessat(j->dir_fd, JOURNAL_REPAIRING_NAME, F_OK, 0) == 0;
	int rc = replay(j, err, errlen);
	if (rc == -EBADMSG && j->damaged && repair) {
		char damage[JOURNAL_ERR_BYTES], aside[JOURNAL_ASIDE_BYTES];
		uint64_t seg = j->dmg_seg, off = j->dmg_off;
		snprintf(damage, sizeof(damage), "%s", err != NULL ? err : "");
		/* The refusal's fix does not apply: this is the repair. */
		char *fix = strstr(damage, "; rebuild this data dir");
		if (fix != NULL)
			*fix = '\0';
		replay_reset(j);
		rc = set_aside(j, aside, err, errlen);
		if (rc == 0)
			rc = replay(j, err, errlen);
		if (rc == 0) {
			j->rp.damaged = true;
			j->rp.damaged_segment = seg;
			j->rp.damaged_offset = off;
			snprintf(j->rp.damage, sizeof(j->rp.damage), "%s", damage);
			snprintf(j->rp.aside, sizeof(j->rp.aside), "%s", aside);
		}
	}
	if (rc == 0 && rejoin && !j->repairing_file) {
		if (j->rp.records > 0)
			return open_err(-EEXIST, err, errlen,
					"journal: %s holds a journal (%" PRIu64 " records): a rejoin is "
					"for a replica whose data dir was lost", j->dir, j->rp.records);
		rc = repairing_create(j, err, errlen);
	}
	if (rc == 0)
		rc = repair_check(j, err, errlen);
	return rc;
}

int journal_open(const struct journal_conf *c, struct journal **out,
		 struct journal_replay *rp, char *err, size_t errlen)
{
	assert(c != NULL);
	assert(out != NULL);
	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	struct journal *j = journal_alloc(c->dir != NULL ? c->dir : "");
	if (j == NULL)
		return open_err(-ENOMEM, err, errlen, "journal: out of memory");
	int rc = conf_check(c, j, err, errlen);
	if (rc == 0)
		rc = dir_open(j, err, errlen);
	if (rc == 0)
		rc = replay_or_repair(j, c->repair, c->rejoin, err, errlen);
	if (rc == 0)
		rc = ring_alloc(j, err, errlen);
	if (rc == 0)
		rc = writer_start(j, err, errlen);
	if (rc != 0) {
		destroy(j);
		return rc;
	}
	if (rp != NULL)
		*rp = j->rp;
	*out = j;
	return 0;
}

int journal_close(struct journal *j)
{
	if (j == NULL)
		return 0;
	atomic_store_explicit(&j->hold, false, memory_order_relaxed);
	/* Pairs with writer_has_work's acquire load: every record published before this
	 * is seen, written and synced before the writer ends. */
	atomic_store_explicit(&j->stop, true, memory_order_release);
	wake_writer(j);
	pthread_join(j->thread, NULL);
	int rc = atomic_load_explicit(&j->failed, memory_order_relaxed);
	destroy(j);
	return rc;
}
