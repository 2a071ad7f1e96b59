/* SPDX-License-Identifier: Apache-2.0
 * storage: snapshots of a replica's applied state, in files of its data dir (prefix
 * snapstore_). docs/storage.md, "Snapshots on disk", has the format and what start-up
 * does.
 *
 * A snapshot is an opaque byte buffer (the node layer's serialised state machine at an
 * applied slot S, up to a few GB) with a 64-bit id the caller chooses (a content hash,
 * say). It lands in snap-<S as 16 hex digits>: a 64-byte header, then the bytes in
 * chunks (1 MiB by default), each followed by its CRC32C. It is written as
 * snap-<S>.tmp, fdatasynced, renamed, and the dir fsynced: a crash leaves the old set of
 * snapshots or the new one, never a half file under a snapshot's name.
 *
 * Two threads, as the journal's:
 *   - the poll loop calls snapstore_save, which hands the buffer to the writer and
 *     returns at once (no allocation, no lock, one FUTEX_WAKE), and snapstore_poll,
 *     which says when the save is durable or why it failed;
 *   - one writer thread, started by snapstore_open, writes, syncs, renames, and then
 *     deletes the oldest snapshots beyond the newest `keep`.
 * A failed save is not fatal (unlike a failed journal write): the previous snapshot
 * stays the newest, the journal still holds everything above it, and the caller may
 * try again later.
 *
 * Start-up (before snapstore_open, or without it): snapstore_newest_info to size a
 * buffer, snapstore_load_newest to read the newest snapshot that validates completely,
 * falling back to older ones.
 *
 * The data dir's LOCK is the journal's (journal_open): open the journal first, so that
 * no other process writes snapshots into the dir. snapstore_open removes leftover .tmp
 * files, which is only safe while this process owns the dir.
 */
#ifndef SNAPSTORE_H
#define SNAPSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------------------- */
/* Format and bounds (docs/storage.md, "Snapshots on disk")                            */

/** "PXWS" read as a little-endian u32: the first four bytes of a snapshot file. */
#define SNAPSTORE_MAGIC 0x53575850u
/** The format version in the header. */
#define SNAPSTORE_VERSION 1u
/** Bytes of the header; the first chunk follows it. */
#define SNAPSTORE_HDR_BYTES 64u
/** Bytes of the CRC32C after each chunk. */
#define SNAPSTORE_CHUNK_CRC_BYTES 4u

/** Chunk size (a 0 in struct snapstore_conf picks the default). Any size in the bounds
 *  loads: the header says which one a file uses. */
#define SNAPSTORE_CHUNK_BYTES_DEFAULT (1u << 20)
#define SNAPSTORE_CHUNK_BYTES_MIN 4096u
#define SNAPSTORE_CHUNK_BYTES_MAX (64u << 20)
/** Snapshots kept after a save (a 0 picks the default), at most SNAPSTORE_KEEP_MAX. */
#define SNAPSTORE_KEEP_DEFAULT 2u
#define SNAPSTORE_KEEP_MAX 16u
/** Bytes of the largest snapshot (1 TiB). */
#define SNAPSTORE_BYTES_MAX (1ull << 40)
/** Snapshot files a data dir may hold (load and the writer's pruning refuse more). */
#define SNAPSTORE_FILES_MAX 1024u
/** While syncing (SNAPSTORE_SYNC_FDATASYNC) the writer starts writeback every this
 *  many bytes and waits for the previous batch, so that no more than about twice this
 *  is dirty in the page cache at once (the final fdatasync, and the journal's meanwhile,
 *  do not wait behind gigabytes). */
#define SNAPSTORE_WRITEBACK_BYTES (8u << 20)
/** Bytes of an error text (open, load, a failed save). */
#define SNAPSTORE_ERR_BYTES 320u
/** Skipped files whose reason load_newest reports as text (all are counted). */
#define SNAPSTORE_SKIP_REPORT_MAX 4u

/** Bytes of a snapshot file holding len bytes in chunks of chunk_bytes. */
#define SNAPSTORE_FILE_BYTES(len, chunk_bytes)                                  \
	(SNAPSTORE_HDR_BYTES + (uint64_t)(len) +                                \
	 ((uint64_t)(len) + (chunk_bytes) - 1u) / (chunk_bytes) * SNAPSTORE_CHUNK_CRC_BYTES)

_Static_assert(SNAPSTORE_CHUNK_BYTES_MIN <= SNAPSTORE_CHUNK_BYTES_DEFAULT &&
	       SNAPSTORE_CHUNK_BYTES_DEFAULT <= SNAPSTORE_CHUNK_BYTES_MAX,
	       "the default chunk is within the bounds");
_Static_assert(SNAPSTORE_CHUNK_BYTES_MAX < (1u << 30),
	       "one chunk is one crc32_iscsi pass (an int length)");
_Static_assert(SNAPSTORE_KEEP_DEFAULT >= 1u && SNAPSTORE_KEEP_DEFAULT <= SNAPSTORE_KEEP_MAX,
	       "the default keep is within the bounds");
_Static_assert(SNAPSTORE_KEEP_MAX < SNAPSTORE_FILES_MAX, "a dir holds what is kept");
_Static_assert(SNAPSTORE_BYTES_MAX / SNAPSTORE_CHUNK_BYTES_MIN < (1ull << 32),
	       "chunk counts fit 32 bits");
_Static_assert(SNAPSTORE_WRITEBACK_BYTES >= SNAPSTORE_CHUNK_BYTES_DEFAULT,
	       "writeback batches hold whole default chunks");

/** What the writer calls before the rename (as the journal's enum journal_sync). */
enum snapstore_sync {
	SNAPSTORE_SYNC_FDATASYNC = 0,  /**< fdatasync of the file, fsync of the dir after
	                                    the rename: the only durable choice (default) */
	SNAPSTORE_SYNC_NONE = 1,       /**< nothing: UNSAFE, for tests on tmpfs */
};

/* ---------------------------------------------------------------------------------- */
/* Start-up: reading the newest snapshot (synchronous; allocates)                      */

/** Why load_newest passed a file over. */
enum snapstore_skip {
	SNAPSTORE_SKIP_SIZE = 0,   /**< shorter (torn) or longer than its header says, or
	                                shorter than a header */
	SNAPSTORE_SKIP_HEADER,     /**< bad magic, version, reserved bytes, field bounds or
	                                header checksum */
	SNAPSTORE_SKIP_MISPLACED,  /**< a valid header for another slot than its name's */
	SNAPSTORE_SKIP_CHUNK,      /**< a chunk's checksum does not match */
	SNAPSTORE_SKIP_IO,         /**< it could not be opened or read */
	SNAPSTORE_SKIP_REASONS
};

/** What snapstore_load_newest found. */
struct snapstore_loaded {
	uint64_t slot;     /**< the snapshot's slot (the applied slot it was taken at) */
	uint64_t id;       /**< the caller's id, as saved */
	uint64_t len;      /**< its bytes (with -ENOBUFS: the bytes buf must hold) */
	uint32_t files;    /**< snapshot files in the dir (.tmp excluded) */
	uint32_t skipped;  /**< newer files than the one loaded that did not validate */
	uint32_t skipped_by[SNAPSTORE_SKIP_REASONS]; /**< skipped, by reason */
	uint32_t strays;   /**< snap-* names that are no snapshot (ignored) */
	/** The first min(skipped, SNAPSTORE_SKIP_REPORT_MAX) skipped files, newest first:
	 *  the file and what was wrong ("D/snap-...: chunk 3 at offset O: checksum
	 *  mismatch"). */
	char why[SNAPSTORE_SKIP_REPORT_MAX][SNAPSTORE_ERR_BYTES];
};

/**
 * Reads the newest snapshot in dir that validates completely (the header, its checksum,
 * the file's size, every chunk's checksum) into buf. Newer files that do not are
 * skipped, counted and described in *out; the next older one is tried.
 * @param buf cap bytes (NULL if cap is 0).
 * @param out what was found and skipped (filled on every return).
 * @param err errlen bytes: on failure, a line naming the cause.
 * @return 0; -ENOENT (no snapshot validates, or dir is missing: start from the journal
 *         alone); -ENOBUFS (the newest candidate, whose header and size are valid, needs
 *         out->len bytes: allocate that many and call again; nothing older is tried,
 *         since that would silently load older state); -E2BIG (more than
 *         SNAPSTORE_FILES_MAX snapshot files); -ENOMEM; another -errno listing dir.
 *         buf's contents are undefined unless it returns 0.
 */
int snapstore_load_newest(const char *dir, void *buf, uint64_t cap,
			  struct snapstore_loaded *out, char *err, size_t errlen);

/**
 * The slot and size of the newest snapshot whose header and file size are valid (its
 * chunks are not read): to size the buffer for snapstore_load_newest. That one can
 * still fall back to an older, larger file (-ENOBUFS says so).
 * @return 0; -ENOENT (none); -E2BIG, -ENOMEM or another -errno listing dir.
 */
int snapstore_newest_info(const char *dir, uint64_t *slot, uint64_t *len);

/* ---------------------------------------------------------------------------------- */
/* The asynchronous writer                                                             */

struct snapstore_conf {
	const char *dir;             /**< the data dir; created (0700) if missing */
	uint32_t keep;               /**< snapshots kept after a save (0: 2), at most 16 */
	uint32_t chunk_bytes;        /**< 0: 1 MiB; within [4 KiB, 64 MiB] */
	/** Bytes per second the writer writes at most (0: no limit). A limit spreads a big
	 *  snapshot's writes out so that the disk keeps serving the journal's fdatasyncs;
	 *  docs/storage.md, "Snapshots on disk", says how to pick one. */
	uint64_t rate_bytes_per_s;
	enum snapstore_sync sync;
};

/** How a save ended (snapstore_poll). */
struct snapstore_done {
	uint64_t slot;            /**< the save's slot and id */
	uint64_t id;
	int err;                  /**< 0: durable (renamed and the dir synced); or -errno */
	uint64_t bytes;           /**< file bytes written */
	uint64_t ns;              /**< from the writer taking it to its end */
	uint64_t throttle_ns;     /**< of which slept for the rate limit */
	uint32_t pruned;          /**< older snapshot files deleted after it */
	uint32_t prune_failed;    /**< older files it failed to delete (not an error) */
	/** err != 0: the file, the offset and the cause; otherwise, if prune_failed > 0,
	 *  the first failed deletion; otherwise empty. */
	char why[SNAPSTORE_ERR_BYTES];
};

/** Counters (monotonic; a snapshot from snapstore_counters). */
struct snapstore_counters {
	uint64_t saves;           /**< saves made durable */
	uint64_t saves_failed;    /**< saves that failed */
	uint64_t busy;            /**< snapstore_save calls refused with -EBUSY */
	uint64_t bytes;           /**< file bytes written (failed saves included) */
	uint64_t throttle_ns;     /**< slept for the rate limit */
	uint64_t pruned;          /**< old snapshot files deleted */
	uint64_t prune_failed;    /**< deletions that failed */
	uint64_t tmp_removed;     /**< leftover .tmp files removed by snapstore_open */
};

struct snapstore;

/**
 * Opens the snapshot store of dir: creates dir if missing, removes leftover snap-*.tmp
 * files (a save cut by a crash), allocates what the writer needs and starts it.
 * @param c the configuration (c->dir is copied).
 * @param out the store, on success; NULL otherwise.
 * @param err errlen bytes: on failure, a line naming the cause and the fix.
 * @return 0; -EINVAL (a bad configuration); another -errno from the file system. On
 *         failure nothing is left open or running.
 */
int snapstore_open(const struct snapstore_conf *c, struct snapstore **out, char *err,
		   size_t errlen);

/**
 * Hands a snapshot to the writer and returns at once. buf must stay unchanged until
 * snapstore_poll reports this save (or snapstore_close returns). Slots need not
 * increase; after a durable save the writer deletes older snapshots (lower slots) beyond
 * the newest `keep`, and never one with a higher slot than the save's.
 * @param slot the applied slot the state was taken at; the file is snap-<slot>, and a
 *             snapshot already there under that slot is replaced atomically.
 * @param id the caller's 64-bit id (a content hash, say), kept in the header.
 * @param buf len bytes (NULL if len is 0).
 * @return 0; -EBUSY (a save is running, or its end has not been taken by
 *         snapstore_poll yet; counted); -EINVAL (len > SNAPSTORE_BYTES_MAX).
 */
int snapstore_save(struct snapstore *ss, uint64_t slot, uint64_t id, const void *buf,
		   uint64_t len);

/**
 * @param done filled when it returns true.
 * @return true when a save has ended since the last call (done says how; buf is the
 *         caller's again), false otherwise (none ran, or one still runs).
 */
bool snapstore_poll(struct snapstore *ss, struct snapstore_done *done);

/** A snapshot of the counters. */
void snapstore_counters(const struct snapstore *ss, struct snapstore_counters *out);

/**
 * Stops the writer and frees the store. A save still running is abandoned at its next
 * chunk (its .tmp removed): the newest durable snapshot stays the newest. NULL is a
 * no-op.
 */
void snapstore_close(struct snapstore *ss);

#endif /* SNAPSTORE_H */
