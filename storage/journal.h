/* SPDX-License-Identifier: Apache-2.0
 * storage: the on-disk journal of a durable replica (prefix journal_), behind node's
 * storage seam (node.h: journal_promise, journal_slot, journal_sync in struct node_ops;
 * struct node_journal and node_restore; node_persisted). docs/storage.md has the format,
 * the write path and what replay does.
 *
 * Two threads:
 *   - the poll loop (the producer) calls journal_promise, journal_slot and journal_sync,
 *     which copy the record into a preallocated single-producer/single-consumer ring: no
 *     allocation, no lock, and no system call except one FUTEX_WAKE when the writer has
 *     gone idle; it calls journal_poll for the newest sync made durable and hands it to
 *     node_persisted, and journal_failed to learn that storage has failed;
 *   - one writer thread, started by journal_open, drains everything the ring holds with
 *     one pwritev and one fdatasync per drain (group commit), then publishes the seq of
 *     the last sync it made durable.
 * When the ring is full the producer waits for the writer (backpressure: the disk sets
 * the pace), counted in ring_full_waits.
 *
 * A storage error (a failed write or fdatasync, ENOSPC) stops the writer for good:
 * journal_poll keeps returning the last good seq and journal_failed names the error.
 * The embedder must then stop the process: a replica that cannot keep its promises
 * must not vote.
 *
 * journal_open replays the journal: it validates every record, cuts a torn tail off the
 * last segment, and keeps the values in memory (mapped) until journal_close, for
 * node_restore (journal_as_node). A journal corrupt anywhere else is refused, or, with
 * journal_conf.repair, set aside (its files moved, never deleted) for a repair from the
 * peers: the journal then opens empty and says so (journal_replay.repair).
 *
 * journal_compact (the poll loop, once a snapshot at or above the slot is durable)
 * queues a compaction through the ring: the writer deletes the oldest segments that
 * hold no slot above it, after writing the newest PROMISE and SYNC again if they would
 * go with them, and records the new first segment in the data dir's `compacted` file
 * (docs/storage.md, "Compaction").
 */
#ifndef JOURNAL_H
#define JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node.h"
#include "px_limits.h"

/* ---------------------------------------------------------------------------------- */
/* Format and bounds (docs/storage.md, "On disk")                                      */

/** "PXWJ" read as a little-endian u32: the first four bytes of every record. */
#define JOURNAL_MAGIC 0x4a575850u
/** The format version in every record header this journal writes. Version 2 added
 *  the INCARNATION record; replay reads version 1 records too (a journal written
 *  before it holds no crash vector: every incarnation 0, as durable mode had then). */
#define JOURNAL_VERSION 2u
#define JOURNAL_VERSION_MIN 1u
/** Bytes of a record header; records start and end on 8-byte boundaries. */
#define JOURNAL_HDR_BYTES 40u
#define JOURNAL_ALIGN 8u
/** Payload bytes of a PROMISE {ballot}, a SYNC {seq, commit}, and the fixed part of a
 *  SLOT {slot, vballot, len} (its value follows). */
#define JOURNAL_PROMISE_BYTES 8u
#define JOURNAL_SYNC_BYTES 16u
#define JOURNAL_SLOT_FIXED_BYTES 20u
/** Payload bytes of an INCARNATION {n u32, inc[n] u32} for n replicas. */
#define JOURNAL_INC_BYTES(n) (4u + 4u * (uint32_t)(n))
#define JOURNAL_INC_BYTES_MAX JOURNAL_INC_BYTES(PX_REPLICAS_MAX)

/** Defaults (a 0 in struct journal_conf picks them). */
#define JOURNAL_SEGMENT_BYTES_DEFAULT (64ull << 20)
#define JOURNAL_RING_BYTES_DEFAULT (8u << 20)
#define JOURNAL_VALUE_BYTES_DEFAULT PX_SLOT_BYTES_MAX
/** Smallest and largest ring (a power of two in between). */
#define JOURNAL_RING_BYTES_MIN 4096u
#define JOURNAL_RING_BYTES_MAX (1u << 30)
/** Segments one journal may have (4 TiB at the default segment size). */
#define JOURNAL_SEGMENTS_MAX 65536u
/** Bytes of an error text (journal_open's err, journal_failed). */
#define JOURNAL_ERR_BYTES 320u
/** Bytes of the text saying what a bad record looked like. */
#define JOURNAL_WHY_BYTES 96u

/** The compaction marker: the file `compacted` in the data dir, 64 bytes, "PXWC" read
 *  as a little-endian u32 first (docs/storage.md, "Compaction"). */
#define JOURNAL_COMPACTED_MAGIC 0x43575850u
#define JOURNAL_COMPACTED_VERSION 1u
#define JOURNAL_COMPACTED_BYTES 64u
/** Bytes compaction may append at once: a PROMISE, a SYNC and an INCARNATION written
 *  again. A segment holds at least this much. */
#define JOURNAL_REWRITE_BYTES \
	(3u * JOURNAL_HDR_BYTES + JOURNAL_PROMISE_BYTES + JOURNAL_SYNC_BYTES + \
	 ((JOURNAL_INC_BYTES_MAX + 7u) & ~7u))
/** The file that says a repair from peers has begun and not completed (docs/storage.md,
 *  "Repair"), and the prefix of the dirs damaged journals are set aside in. */
#define JOURNAL_REPAIRING_NAME "repairing"
#define JOURNAL_DAMAGED_PREFIX "damaged-"
/** Bytes of the name of a dir a damaged journal was set aside in. */
#define JOURNAL_ASIDE_BYTES 32u

/** Bytes of the largest record for values of at most v bytes. */
#define JOURNAL_REC_BYTES_MAX(v) \
	(JOURNAL_HDR_BYTES + (((uint64_t)JOURNAL_SLOT_FIXED_BYTES + (v) + 7u) & ~7ull))

_Static_assert(JOURNAL_HDR_BYTES % JOURNAL_ALIGN == 0, "records stay 8-byte aligned");
_Static_assert((JOURNAL_RING_BYTES_DEFAULT & (JOURNAL_RING_BYTES_DEFAULT - 1u)) == 0,
	       "the default ring is a power of two");
_Static_assert(JOURNAL_REC_BYTES_MAX(JOURNAL_VALUE_BYTES_DEFAULT) * 2u <=
	       JOURNAL_RING_BYTES_DEFAULT, "the default ring holds two largest records");
_Static_assert(JOURNAL_REC_BYTES_MAX(JOURNAL_VALUE_BYTES_DEFAULT) <=
	       JOURNAL_SEGMENT_BYTES_DEFAULT, "a default segment holds the largest record");
_Static_assert(JOURNAL_REWRITE_BYTES <= JOURNAL_SEGMENT_BYTES_DEFAULT,
	       "a default segment holds what compaction writes again");
_Static_assert(JOURNAL_VALUE_BYTES_DEFAULT >= PX_SLOT_BYTES_MAX,
	       "the default takes every slot value the core makes");

/** Record types (the header's type byte). */
enum journal_rec {
	JOURNAL_REC_PROMISE = 1,  /**< {ballot u64} */
	JOURNAL_REC_SLOT = 2,     /**< {slot u64, vballot u64, len u32, value[len]} */
	JOURNAL_REC_SYNC = 3,     /**< {seq u64, commit u64} */
	JOURNAL_REC_INCARNATION = 4, /**< {n u32, inc[n] u32}: the crash vector (version 2) */
};

/** What the writer calls after each drain's write. */
enum journal_sync {
	JOURNAL_SYNC_FDATASYNC = 0,  /**< fdatasync, and fsync of the directory after a new
	                                  segment: the only durable choice (default) */
	JOURNAL_SYNC_NONE = 1,       /**< nothing: UNSAFE, a power loss loses what the page
	                                  cache held (tests on tmpfs, benchmarks) */
};

/* ---------------------------------------------------------------------------------- */
/* Configuration, replay, counters                                                     */

struct journal_conf {
	const char *dir;           /**< the data dir; created (0700) if missing */
	/** Bytes a segment file reaches at most (0: 64 MiB); at least the largest record
	 *  and JOURNAL_REWRITE_BYTES. */
	uint64_t segment_bytes;
	/** Bytes of the ring between the poll loop and the writer (0: 8 MiB): a power of two
	 *  in [JOURNAL_RING_BYTES_MIN, JOURNAL_RING_BYTES_MAX], at least two largest
	 *  records. */
	uint32_t ring_bytes;
	/** Bytes of the largest value journal_slot is given (0: PX_SLOT_BYTES_MAX). */
	uint32_t value_bytes_max;
	enum journal_sync sync;
	/** A journal damaged in the middle (a record that fails its checks with valid
	 *  records after it, a missing segment, a corrupt `compacted`) is set aside for a
	 *  repair from the peers instead of refused: its files are moved into a new dir
	 *  damaged-N of the data dir, `repairing` is created, and the journal opens empty
	 *  with journal_replay.repair set (docs/storage.md, "Repair"). false: refused with
	 *  -EBADMSG, nothing moved. */
	bool repair;
	/** The replica ran before and its data dir was lost (paxwired --rejoin): the dir
	 *  must hold no journal (else -EEXIST, nothing changed); `repairing` is created and
	 *  the journal opens empty with journal_replay.repair set, as after a damaged one
	 *  was set aside. */
	bool rejoin;
};

/** What journal_open found. Invariant: commit and promised are maxima over the records
 *  kept, and compaction keeps them (it writes them again before deleting their
 *  segment); hi is the highest slot with a SLOT record kept (0: none) and lo the lowest;
 *  every slot above floor that was ever written is held. */
struct journal_replay {
	uint64_t promised;      /**< highest PROMISE ballot */
	uint64_t commit;        /**< highest SYNC commit point */
	uint64_t hi;            /**< highest slot with a value (unchanged by compaction
	                             unless no slot above the floor was ever written) */
	uint64_t lo;            /**< lowest slot with a value (0: none) */
	uint64_t floor;         /**< the compaction floor (0: never compacted): slots at or
	                             below it may be gone; a snapshot must cover them */
	uint64_t first_segment; /**< the number of the first segment held (0 until
	                             compacted) */
	uint64_t leftover_segments; /**< segments below first_segment that an interrupted
	                                 compaction left, deleted by this open */
	uint64_t last_seq;      /**< seq of the last SYNC record (informational: the seqs of
	                             the next process start again from its core's) */
	uint64_t records;       /**< valid records read */
	uint64_t slot_records;  /**< SLOT records read (overwrites of a slot included) */
	uint64_t slots;         /**< distinct slots held */
	uint64_t segments;      /**< segment files */
	uint64_t bytes;         /**< bytes of valid records */
	uint64_t torn_bytes;    /**< bytes cut off the end of the last segment (0: none) */
	uint64_t torn_segment;  /**< where the cut was, when torn_bytes > 0 */
	uint64_t torn_offset;
	char torn_why[JOURNAL_WHY_BYTES]; /**< what the first bad record there looked like */
	/** The newest crash vector held (INCARNATION record; n_inc 0: none, all 0). */
	uint32_t n_inc;
	uint32_t incarnation[PX_REPLICAS_MAX];
	/** A repair from the peers is due: this open set a damaged journal aside
	 *  (damaged), or an earlier one did and the replica has not completed its recovery
	 *  since (`repairing` exists and no INCARNATION record was written after it). The
	 *  replica must then recover before it votes (px_config.restarted) and must not
	 *  be restored from what the journal holds. */
	bool repair;
	/** This open found the journal damaged and set it aside (implies repair): where
	 *  (damaged_segment, damaged_offset), what (damage, the full line, naming the
	 *  file, the offset, why and where a valid record follows) and where the files
	 *  went (aside, a dir name in the data dir). */
	bool damaged;
	uint64_t damaged_segment;
	uint64_t damaged_offset;
	char damage[JOURNAL_ERR_BYTES];
	char aside[JOURNAL_ASIDE_BYTES];
};

/** Counters (monotonic; a snapshot from journal_counters). */
struct journal_counters {
	uint64_t records;          /**< records written */
	uint64_t bytes;            /**< bytes written */
	uint64_t syncs;            /**< fdatasync calls (0 with JOURNAL_SYNC_NONE) */
	uint64_t drains;           /**< drains: one write (and one sync) each */
	uint64_t ring_full_waits;  /**< times the poll loop waited for ring space */
	uint64_t max_drain_bytes;  /**< most bytes one drain wrote */
	uint64_t segments;         /**< segment files (replayed and created) */
	uint64_t compactions;      /**< journal_compact requests carried out (whether or
	                                not they deleted anything) */
	uint64_t segments_deleted; /**< segment files deleted by compaction */
	uint64_t compact_rewrites; /**< PROMISE and SYNC records written again by it */
};

struct journal;

/* ---------------------------------------------------------------------------------- */
/* Life                                                                                */

/**
 * Opens (creating if needed) the journal in c->dir, locks the dir against any other
 * process, replays every segment, and starts the writer.
 * @param c the configuration (c->dir is copied).
 * @param out the journal, on success; NULL otherwise.
 * @param rp NULL, or what replay found.
 * @param err errlen bytes (JOURNAL_ERR_BYTES is enough): on failure, a line naming the
 *            cause (the file and offset of a bad record) and the fix.
 * @return 0; -EINVAL (a bad configuration), -EBUSY (another process holds the dir),
 *         -EBADMSG (a corrupt journal, without c->repair; or a stray journal-* file), or
 *         another -errno from the file system. On failure nothing is left open or
 *         running.
 */
int journal_open(const struct journal_conf *c, struct journal **out,
		 struct journal_replay *rp, char *err, size_t errlen);

/**
 * Stops the writer once it has written and synced everything queued, joins it, closes
 * the files and frees the journal (values from replay included).
 * @return 0, or the writer's -errno if storage failed (journal_failed).
 */
int journal_close(struct journal *j);

/* ---------------------------------------------------------------------------------- */
/* The poll loop (one thread: the producer)                                            */

/** Queues a PROMISE record. */
void journal_promise(struct journal *j, uint64_t ballot);
/** Queues a SLOT record: value is copied (len <= value_bytes_max, asserted). */
void journal_slot(struct journal *j, uint64_t slot, uint64_t vballot, const uint8_t *value,
		  uint32_t len);
/** Queues an INCARNATION record: the crash vector (n in 1..PX_REPLICAS_MAX entries);
 *  replay returns the newest (journal_replay.incarnation). */
void journal_incarnation(struct journal *j, const uint32_t *inc, uint32_t n);
/** Queues a SYNC record: once it is durable, journal_poll returns seq. Seqs increase
 *  (asserted); commit is the commit point to replay up to. */
void journal_sync(struct journal *j, uint64_t seq, uint64_t commit);

/**
 * @return the seq of the newest sync made durable since journal_open (0: none yet). It
 *         stops moving once storage has failed.
 */
uint64_t journal_poll(const struct journal *j);

/** @return NULL, or the text of the storage error that stopped the writer. */
const char *journal_failed(const struct journal *j);

/** A snapshot of the counters. */
void journal_counters(const struct journal *j, struct journal_counters *out);

/**
 * Queues a compaction: the writer, in order with the records queued before it, deletes
 * the oldest segment files that hold no SLOT record above below_slot (a prefix of the
 * segments; never the one being appended to). If the newest PROMISE or the highest SYNC
 * commit would go with them, it first writes them again into the current segment and
 * syncs it. Then it records the new first segment and the floor in `compacted`
 * (written to a .tmp, synced, renamed, the dir synced), then deletes. Counted in
 * compactions, segments_deleted and compact_rewrites once done.
 * Call it only once every slot <= below_slot is covered by a durable snapshot
 * (snapstore_poll said so): the records it deletes are gone for good. A storage error
 * during it stops the writer as any other (journal_failed).
 */
void journal_compact(struct journal *j, uint64_t below_slot);

/* ---------------------------------------------------------------------------------- */
/* Replay, for node_restore                                                            */

/** Fills nj from what journal_open replayed: node_restore(n, nj, ...) can take it. */
void journal_as_node(struct journal *j, struct node_journal *nj);

/**
 * The newest value replay found for slot (node_journal's slot callback; jctx is the
 * journal). *value stays valid until journal_close. @return false if none.
 */
bool journal_read_slot(void *jctx, uint64_t slot, uint64_t *vballot, const uint8_t **value,
		       uint32_t *len);

/** @return the CRC32C (Castagnoli, as iSCSI) of len bytes: the records' checksum. */
uint32_t journal_crc32c(const void *buf, size_t len);

/* ---------------------------------------------------------------------------------- */
/* Tests and benchmarks                                                                */

/** hold: the writer takes nothing from the ring until called again with false (what is
 *  queued meanwhile goes in one drain). Not for production: the ring fills. */
void journal_hold_writer(struct journal *j, bool hold);

#endif /* JOURNAL_H */
