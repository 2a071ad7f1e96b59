/* SPDX-License-Identifier: Apache-2.0
 * Snapshots on disk (snapstore.h; docs/storage.md, "Snapshots on disk"). In this file:
 *   - the format: the header (build, check) and the chunks' checksums;
 *   - listing the dir without allocating (getdents64 into a buffer from open);
 *   - the writer thread: write, throttle, sync, rename, prune;
 *   - the poll loop's side: snapstore_save, _poll, _counters;
 *   - start-up: snapstore_load_newest, snapstore_newest_info;
 *   - snapstore_open and snapstore_close.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "crc32c_pvt.h"
#include "fs_pvt.h"
#include "snapstore.h"
#include "wire_le.h"

/* Header fields (docs/storage.md, "Snapshot header"). */
#define S_MAGIC 0u
#define S_VERSION 4u
#define S_RESERVED 6u
#define S_SLOT 8u
#define S_LEN 16u
#define S_CHUNK 24u
#define S_RESERVED2 28u
#define S_NCHUNKS 32u
#define S_ID 40u
#define S_RESERVED3 48u
#define S_CRC 60u
_Static_assert(S_CRC + 4u == SNAPSTORE_HDR_BYTES, "the header ends with its checksum");

/** "snap-" and 16 hex digits; ".tmp" after them for a file being written. */
#define PREFIX "snap-"
#define PREFIX_BYTES 5u
#define TMP_SUFFIX ".tmp"
#define NAME_BYTES 32u
/** The buffer one getdents64 call fills (the writer's, from open). */
#define DENTS_BYTES 32768u
/** Longest sleep of the rate limit at a time (the writer sees a close within it). */
#define THROTTLE_SLICE_NS 50000000L
/** The idle writer's wait (a safety net: save and close wake it). */
#define IDLE_WAIT_NS 1000000000L

/** The save's state. Each transition belongs to one side: IDLE -> QUEUED (save, the
 *  poll loop), QUEUED -> RUNNING -> DONE (the writer), DONE -> IDLE (poll). */
enum {
	ST_IDLE = 0,
	ST_QUEUED = 1,
	ST_RUNNING = 2,
	ST_DONE = 3,
};

struct snapstore {
	/* Set by snapstore_open, read-only afterwards. */
	char *dir;
	int dir_fd;
	uint32_t keep;
	uint32_t chunk_bytes;
	uint64_t rate;
	enum snapstore_sync sync;
	pthread_t thread;
	bool thread_started;

	/* The job: written by the poll loop in IDLE, read by the writer after QUEUED. */
	uint64_t job_slot;
	uint64_t job_id;
	const uint8_t *job_buf;
	uint64_t job_len;

	/* The end: written by the writer while RUNNING, read by poll after DONE. */
	struct snapstore_done done;

	_Atomic uint32_t state;
	_Atomic uint32_t wake;     /**< futex word: bumped by save and close */
	_Atomic bool stop;

	/* The writer's (and snapstore_open's before it starts). */
	int list_fd;               /**< the dir, for getdents64 */
	uint8_t *dents;            /**< DENTS_BYTES */
	uint64_t *older;           /**< SNAPSTORE_FILES_MAX slots: prune's list */
	_Atomic uint64_t c_saves, c_failed, c_busy, c_bytes, c_throttle, c_pruned,
		c_prune_failed, c_tmp_removed;
};

/* ---------------------------------------------------------------------------------- */
/* Format                                                                              */

static uint64_t nchunks_of(uint64_t len, uint32_t chunk)
{
	return (len + chunk - 1u) / chunk;
}

static void snap_name(char *buf, uint64_t slot, bool tmp)
{
	snprintf(buf, NAME_BYTES, PREFIX "%016" PRIx64 "%s", slot, tmp ? TMP_SUFFIX : "");
}

/** Parses "snap-" and 16 hex digits, then "" or ".tmp".
 *  @return 1 (a snapshot), 2 (a .tmp), 0 (not "snap-"), -1 (a "snap-" stray). */
static int snap_parse(const char *name, uint64_t *slot)
{
	uint64_t v = 0;

	if (strncmp(name, PREFIX, PREFIX_BYTES) != 0)
		return 0;
	for (uint32_t i = 0; i < 16u; i++) {
		char ch = name[PREFIX_BYTES + i];
		if (ch >= '0' && ch <= '9')
			v = v << 4 | (uint64_t)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			v = v << 4 | (uint64_t)(ch - 'a' + 10);
		else
			return -1;
	}
	*slot = v;
	if (name[PREFIX_BYTES + 16u] == '\0')
		return 1;
	if (strcmp(name + PREFIX_BYTES + 16u, TMP_SUFFIX) == 0)
		return 2;
	return -1;
}

static void hdr_put(uint8_t *h, uint64_t slot, uint64_t id, uint64_t len, uint32_t chunk)
{
	memset(h, 0, SNAPSTORE_HDR_BYTES);
	wire_st32(h + S_MAGIC, SNAPSTORE_MAGIC);
	wire_st16(h + S_VERSION, SNAPSTORE_VERSION);
	wire_st64(h + S_SLOT, slot);
	wire_st64(h + S_LEN, len);
	wire_st32(h + S_CHUNK, chunk);
	wire_st64(h + S_NCHUNKS, nchunks_of(len, chunk));
	wire_st64(h + S_ID, id);
	wire_st32(h + S_CRC, storage_crc32c(h, S_CRC));
}

/** A chunk's checksum: CRC32C of the snapshot's slot and the chunk's index (both u64
 *  little-endian), then its bytes. The slot and index make a chunk copied from another
 *  file or place fail, as the journal's segment and offset fields do. */
static uint32_t chunk_crc(uint64_t slot, uint64_t index, const uint8_t *p, uint64_t n)
{
	uint8_t where[16];

	wire_st64(where, slot);
	wire_st64(where + 8u, index);
	uint32_t c = storage_crc32c_add(STORAGE_CRC32C_INIT, where, sizeof(where));
	return storage_crc32c_end(storage_crc32c_add(c, p, n));
}

/** A header as read from a file. */
struct hdr {
	uint64_t slot, id, len, nchunks;
	uint32_t chunk;
};

/** Checks a header (not the file's size). @return 0, or a skip reason with why set. */
static int hdr_check(const uint8_t *h, uint64_t name_slot, struct hdr *out, char *why,
		     size_t whylen)
{
	if (wire_ld32(h + S_MAGIC) != SNAPSTORE_MAGIC) {
		snprintf(why, whylen, "bad magic 0x%08" PRIx32, wire_ld32(h + S_MAGIC));
		return SNAPSTORE_SKIP_HEADER;
	}
	if (wire_ld32(h + S_CRC) != storage_crc32c(h, S_CRC)) {
		snprintf(why, whylen, "header checksum mismatch");
		return SNAPSTORE_SKIP_HEADER;
	}
	out->slot = wire_ld64(h + S_SLOT);
	out->id = wire_ld64(h + S_ID);
	out->len = wire_ld64(h + S_LEN);
	out->chunk = wire_ld32(h + S_CHUNK);
	out->nchunks = wire_ld64(h + S_NCHUNKS);
	uint8_t zero[12] = {0};
	if (wire_ld16(h + S_VERSION) != SNAPSTORE_VERSION || wire_ld16(h + S_RESERVED) != 0 ||
	    wire_ld32(h + S_RESERVED2) != 0 || memcmp(h + S_RESERVED3, zero, sizeof(zero)) != 0) {
		snprintf(why, whylen, "bad header (version %u)", wire_ld16(h + S_VERSION));
		return SNAPSTORE_SKIP_HEADER;
	}
	if (out->chunk < SNAPSTORE_CHUNK_BYTES_MIN || out->chunk > SNAPSTORE_CHUNK_BYTES_MAX ||
	    out->len > SNAPSTORE_BYTES_MAX || out->nchunks != nchunks_of(out->len, out->chunk)) {
		snprintf(why, whylen, "bad header (length %" PRIu64 ", chunk %" PRIu32
			 " bytes, %" PRIu64 " chunks)", out->len, out->chunk, out->nchunks);
		return SNAPSTORE_SKIP_HEADER;
	}
	if (out->slot != name_slot) {
		snprintf(why, whylen, "misplaced: a valid header for slot %" PRIu64, out->slot);
		return SNAPSTORE_SKIP_MISPLACED;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Listing the dir (no allocation: the writer's buffer)                                */

/** What list_dir calls for each "snap-" name (kind as snap_parse). @return 0 to go on,
 *  or a -errno that ends the listing. */
typedef int (*list_fn)(struct snapstore *ss, void *ctx, const char *name, int kind,
		       uint64_t slot);

/**
 * Calls fn for every "snap-" name in the dir, reading it with getdents64 into the
 * buffer allocated at open. @return 0, fn's -errno, or getdents64's.
 */
static int list_dir(struct snapstore *ss, list_fn fn, void *ctx)
{
	if (lseek(ss->list_fd, 0, SEEK_SET) != 0)
		return -errno;
	/* Bounded by the dir's entries: each call returns more of them, 0 at the end. */
	for (;;) {
		long n = syscall(SYS_getdents64, ss->list_fd, ss->dents, DENTS_BYTES);
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		/* Bounded: each record moves pos forward by its d_reclen (> 0). */
		for (long pos = 0; pos < n;) {
			const struct dirent64 *d = (const void *)(ss->dents + pos);
			uint64_t slot = 0;
			int kind = snap_parse(d->d_name, &slot);
			pos += d->d_reclen;
			if (kind == 0)
				continue;
			int rc = fn(ss, ctx, d->d_name, kind, slot);
			if (rc != 0)
				return rc;
		}
	}
}

/* ---------------------------------------------------------------------------------- */
/* The writer                                                                          */

static void bump(_Atomic uint64_t *c, uint64_t by)
{
	atomic_fetch_add_explicit(c, by, memory_order_relaxed);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool stopping(const struct snapstore *ss)
{
	/* Pairs with snapstore_close's release store. */
	return atomic_load_explicit(&ss->stop, memory_order_acquire);
}

/** The save failed: done says where and why. @return err. */
static int save_fail(struct snapstore *ss, int err, const char *what, const char *name,
		     uint64_t off)
{
	char msg[128];

	if (err == -ECANCELED)
		snprintf(ss->done.why, sizeof(ss->done.why), "snapstore: save of %s/%s "
			 "abandoned at offset %" PRIu64 " (snapstore_close)", ss->dir, name, off);
	else
		snprintf(ss->done.why, sizeof(ss->done.why), "snapstore: %s %s/%s at offset %"
			 PRIu64 " failed: %s; the previous snapshot stays the newest", what,
			 ss->dir, name, off, strerror_r(-err, msg, sizeof(msg)));
	ss->done.err = err;
	return err;
}

/** Writes iov (n <= 2 runs) at off, all of it: more than one pwritev only if short. */
static int pwritev_all(int fd, struct iovec *iov, uint32_t n, uint64_t off)
{
	uint32_t first = 0;

	/* Bounded: each pass writes at least one byte, or fails (EINTR: a signal). */
	while (first < n) {
		ssize_t w = pwritev(fd, iov + first, (int)(n - first), (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		off += (uint64_t)w;
		/* Bounded: at most n runs. */
		while (first < n && (uint64_t)w >= iov[first].iov_len) {
			w -= (ssize_t)iov[first].iov_len;
			first++;
		}
		if (first < n) {
			iov[first].iov_base = (uint8_t *)iov[first].iov_base + w;
			iov[first].iov_len -= (size_t)w;
		}
	}
	return 0;
}

/** The rate limit: sleeps until written bytes are due, in slices (a close ends it). */
static void throttle(struct snapstore *ss, uint64_t t0, uint64_t written)
{
	if (ss->rate == 0)
		return;
	uint64_t due = t0 + (uint64_t)((double)written * 1e9 / (double)ss->rate);
	/* Bounded: each pass sleeps up to a slice until due, or the close. */
	for (uint64_t t = now_ns(); t < due && !stopping(ss); t = now_ns()) {
		uint64_t d = due - t < (uint64_t)THROTTLE_SLICE_NS ? due - t
								   : (uint64_t)THROTTLE_SLICE_NS;
		struct timespec ts = {0, (long)d};
		nanosleep(&ts, NULL);
		uint64_t slept = now_ns() - t;
		ss->done.throttle_ns += slept;
		bump(&ss->c_throttle, slept);
	}
}

/** Keeps the dirty pages bounded: starts writeback of [*wb, off) once it is large and
 *  waits for what was started before (docs/storage.md, "Snapshots on disk"). */
static int writeback(struct snapstore *ss, int fd, uint64_t *wb, uint64_t off, bool last)
{
	if (ss->sync == SNAPSTORE_SYNC_NONE || (!last && off - *wb < SNAPSTORE_WRITEBACK_BYTES))
		return 0;
	if (sync_file_range(fd, (off_t)*wb, (off_t)(off - *wb), SYNC_FILE_RANGE_WRITE) != 0)
		return -errno;
	/* What the previous call started: wait for it to reach the disk. */
	if (*wb > 0 && sync_file_range(fd, 0, (off_t)*wb, SYNC_FILE_RANGE_WAIT_BEFORE |
				       SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) != 0)
		return -errno;
	*wb = off;
	return 0;
}

/** Writes the header and the chunks to fd. */
static int write_file(struct snapstore *ss, int fd, const char *tmp)
{
	uint8_t h[SNAPSTORE_HDR_BYTES], crc[SNAPSTORE_CHUNK_CRC_BYTES];
	uint64_t len = ss->job_len, slot = ss->job_slot, t0 = now_ns(), wb = 0;
	uint64_t n = nchunks_of(len, ss->chunk_bytes), off = 0;

	hdr_put(h, slot, ss->job_id, len, ss->chunk_bytes);
	struct iovec iov[2] = {{h, sizeof(h)}, {NULL, 0}};
	int rc = pwritev_all(fd, iov, 1, 0);
	if (rc != 0)
		return save_fail(ss, rc, "write", tmp, 0);
	off = sizeof(h);
	/* Bounded: n <= SNAPSTORE_BYTES_MAX / SNAPSTORE_CHUNK_BYTES_MIN chunks. */
	for (uint64_t i = 0; i < n; i++) {
		if (stopping(ss))
			return save_fail(ss, -ECANCELED, NULL, tmp, off);
		uint64_t at = i * ss->chunk_bytes;
		uint64_t bytes = len - at < ss->chunk_bytes ? len - at : ss->chunk_bytes;
		const uint8_t *p = ss->job_buf + at;
		wire_st32(crc, chunk_crc(slot, i, p, bytes));
		iov[0] = (struct iovec){(void *)(uintptr_t)p, (size_t)bytes};
		iov[1] = (struct iovec){crc, sizeof(crc)};
		rc = pwritev_all(fd, iov, 2, off);
		if (rc != 0)
			return save_fail(ss, rc, "write", tmp, off);
		off += bytes + sizeof(crc);
		ss->done.bytes = off;
		bump(&ss->c_bytes, bytes + sizeof(crc));
		rc = writeback(ss, fd, &wb, off, i + 1u == n);
		if (rc != 0)
			return save_fail(ss, rc, "sync_file_range", tmp, wb);
		throttle(ss, t0, off);
	}
	if (n == 0)
		bump(&ss->c_bytes, sizeof(h));
	ss->done.bytes = off;
	return 0;
}

/** Prune's listing: the slots of the snapshots older than the one saved go to
 *  ss->older. */
struct prune_ctx {
	uint64_t saved;
	uint32_t n;
};

static int prune_collect(struct snapstore *ss, void *ctx, const char *name, int kind,
			 uint64_t slot)
{
	struct prune_ctx *p = ctx;

	(void)name;
	if (kind != 1 || slot >= p->saved)
		return 0;
	if (p->n == SNAPSTORE_FILES_MAX)
		return -E2BIG;
	ss->older[p->n++] = slot;
	return 0;
}

/** The lowest slot prune keeps among n older ones: the keep - 1 highest stay (0 when
 *  all of them do). */
static uint64_t keep_floor(const uint64_t *slots, uint32_t n, uint32_t keep_older)
{
	uint64_t top[SNAPSTORE_KEEP_MAX];
	uint32_t t = 0;

	if (keep_older == 0)
		return UINT64_MAX;
	if (n <= keep_older)
		return 0;
	/* Bounded: n <= SNAPSTORE_FILES_MAX, each insertion <= SNAPSTORE_KEEP_MAX moves.
	 * top holds the t highest seen so far, highest first. */
	for (uint32_t i = 0; i < n; i++) {
		uint64_t s = slots[i];
		if (t == keep_older && s <= top[t - 1u])
			continue;
		uint32_t k = t < keep_older ? t++ : t - 1u;
		while (k > 0 && top[k - 1u] < s) {
			top[k] = top[k - 1u];
			k--;
		}
		top[k] = s;
	}
	return top[keep_older - 1u];
}

/** After a durable save: deletes the older snapshots beyond the newest keep. */
static void prune(struct snapstore *ss, const char *saved_name)
{
	struct prune_ctx p = {.saved = ss->job_slot, .n = 0};
	char name[NAME_BYTES], msg[128];

	int rc = list_dir(ss, prune_collect, &p);
	if (rc != 0) {
		ss->done.prune_failed++;
		bump(&ss->c_prune_failed, 1);
		snprintf(ss->done.why, sizeof(ss->done.why), "snapstore: after %s/%s, cannot "
			 "list the older snapshots to delete: %s", ss->dir, saved_name,
			 rc == -E2BIG ? "more than SNAPSTORE_FILES_MAX snapshot files"
				      : strerror_r(-rc, msg, sizeof(msg)));
		return;
	}
	uint64_t floor = keep_floor(ss->older, p.n, ss->keep - 1u);
	/* Bounded: p.n <= SNAPSTORE_FILES_MAX. */
	for (uint32_t i = 0; i < p.n; i++) {
		if (ss->older[i] >= floor)
			continue;
		snap_name(name, ss->older[i], false);
		if (unlinkat(ss->dir_fd, name, 0) == 0 || errno == ENOENT) {
			ss->done.pruned++;
			bump(&ss->c_pruned, 1);
			continue;
		}
		if (ss->done.prune_failed++ == 0)
			snprintf(ss->done.why, sizeof(ss->done.why), "snapstore: cannot delete "
				 "the old snapshot %s/%s: %s", ss->dir, name,
				 strerror_r(errno, msg, sizeof(msg)));
		bump(&ss->c_prune_failed, 1);
	}
	/* Making the deletions durable is not needed for correctness (a file that comes
	 * back after a power loss is an older snapshot, pruned next time). */
}

/** Writes, syncs and closes the tmp file. @return 0, or the -errno in done. */
static int save_tmp(struct snapstore *ss, const char *tmp)
{
	int fd = openat(ss->dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		return save_fail(ss, -errno, "create", tmp, 0);
	int rc = write_file(ss, fd, tmp);
	if (rc == 0 && ss->sync != SNAPSTORE_SYNC_NONE && fdatasync(fd) != 0)
		rc = save_fail(ss, -errno, "fdatasync", tmp, ss->done.bytes);
	if (close(fd) != 0 && rc == 0)
		rc = save_fail(ss, -errno, "close", tmp, ss->done.bytes);
	if (rc != 0)
		unlinkat(ss->dir_fd, tmp, 0);   /* best effort: snapstore_open removes it too */
	return rc;
}

/** One save: the tmp file, rename, fsync of the dir, prune. */
static void save_run(struct snapstore *ss)
{
	char tmp[NAME_BYTES], name[NAME_BYTES];
	uint64_t t0 = now_ns();

	snap_name(tmp, ss->job_slot, true);
	snap_name(name, ss->job_slot, false);
	memset(&ss->done, 0, sizeof(ss->done));
	ss->done.slot = ss->job_slot;
	ss->done.id = ss->job_id;
	int rc = save_tmp(ss, tmp);
	if (rc == 0 && renameat(ss->dir_fd, tmp, ss->dir_fd, name) != 0) {
		rc = save_fail(ss, -errno, "rename to its name", tmp, 0);
		unlinkat(ss->dir_fd, tmp, 0);
	}
	/* Renamed but perhaps not durably: reported as failed, so that the caller neither
	 * relies on it nor compacts the journal below it. The file itself is complete and
	 * synced; the next save's fsync of the dir makes it durable too. */
	if (rc == 0 && ss->sync != SNAPSTORE_SYNC_NONE && fsync(ss->dir_fd) != 0)
		rc = save_fail(ss, -errno, "fsync of the dir after renaming", name, 0);
	if (rc == 0) {
		prune(ss, name);
		bump(&ss->c_saves, 1);
	} else {
		bump(&ss->c_failed, 1);
	}
	ss->done.ns = now_ns() - t0;
}

static void *writer_main(void *arg)
{
	struct snapstore *ss = arg;
	const struct timespec wait = {IDLE_WAIT_NS / 1000000000L, IDLE_WAIT_NS % 1000000000L};

	/* Ends at snapstore_close. */
	for (;;) {
		/* Pairs with the release increments in snapstore_save and snapstore_close:
		 * if this reads their value, the state and stop stores before them are
		 * seen below; if not, the futex wait returns at once (the word moved). */
		uint32_t w = atomic_load_explicit(&ss->wake, memory_order_acquire);
		if (stopping(ss))
			break;
		/* Pairs with snapstore_save's release store: the job is written. */
		if (atomic_load_explicit(&ss->state, memory_order_acquire) == ST_QUEUED) {
			atomic_store_explicit(&ss->state, ST_RUNNING, memory_order_relaxed);
			save_run(ss);
			/* Pairs with snapstore_poll's acquire load: done is written. */
			atomic_store_explicit(&ss->state, ST_DONE, memory_order_release);
			continue;
		}
		storage_futex(&ss->wake, FUTEX_WAIT_PRIVATE, w, &wait);
	}
	return NULL;
}

/* ---------------------------------------------------------------------------------- */
/* The poll loop's side                                                                */

static void wake_writer(struct snapstore *ss)
{
	atomic_fetch_add_explicit(&ss->wake, 1, memory_order_release);
	storage_futex(&ss->wake, FUTEX_WAKE_PRIVATE, 1, NULL);
}

int snapstore_save(struct snapstore *ss, uint64_t slot, uint64_t id, const void *buf,
		   uint64_t len)
{
	assert(ss != NULL);
	assert(buf != NULL || len == 0);
	if (len > SNAPSTORE_BYTES_MAX)
		return -EINVAL;
	/* Pairs with snapstore_poll's store of IDLE (the poll loop's own) and the
	 * writer's release store of DONE. */
	if (atomic_load_explicit(&ss->state, memory_order_acquire) != ST_IDLE) {
		bump(&ss->c_busy, 1);
		return -EBUSY;
	}
	ss->job_slot = slot;
	ss->job_id = id;
	ss->job_buf = buf;
	ss->job_len = len;
	/* Pairs with writer_main's acquire load: the job is written. */
	atomic_store_explicit(&ss->state, ST_QUEUED, memory_order_release);
	wake_writer(ss);
	return 0;
}

bool snapstore_poll(struct snapstore *ss, struct snapstore_done *done)
{
	assert(ss != NULL);
	assert(done != NULL);
	/* Pairs with writer_main's release store of DONE: done is written. */
	if (atomic_load_explicit(&ss->state, memory_order_acquire) != ST_DONE)
		return false;
	*done = ss->done;
	/* The writer reads state only after a save stores QUEUED (release there). */
	atomic_store_explicit(&ss->state, ST_IDLE, memory_order_relaxed);
	return true;
}

void snapstore_counters(const struct snapstore *ss, struct snapstore_counters *out)
{
	out->saves = atomic_load_explicit(&ss->c_saves, memory_order_relaxed);
	out->saves_failed = atomic_load_explicit(&ss->c_failed, memory_order_relaxed);
	out->busy = atomic_load_explicit(&ss->c_busy, memory_order_relaxed);
	out->bytes = atomic_load_explicit(&ss->c_bytes, memory_order_relaxed);
	out->throttle_ns = atomic_load_explicit(&ss->c_throttle, memory_order_relaxed);
	out->pruned = atomic_load_explicit(&ss->c_pruned, memory_order_relaxed);
	out->prune_failed = atomic_load_explicit(&ss->c_prune_failed, memory_order_relaxed);
	out->tmp_removed = atomic_load_explicit(&ss->c_tmp_removed, memory_order_relaxed);
}

/* ---------------------------------------------------------------------------------- */
/* Start-up: reading                                                                   */

__attribute__((format(printf, 4, 5)))
static int set_err(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/** The snapshot files of a dir, newest (highest slot) first. */
struct listing {
	uint64_t *slots;
	uint32_t n;
	uint32_t strays;
};

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x > y ? -1 : x < y;
}

static int listing_read(const char *dir, struct listing *ls, char *err, size_t errlen)
{
	char msg[128];
	uint32_t cap = 0;
	DIR *d = opendir(dir);

	memset(ls, 0, sizeof(*ls));
	if (d == NULL) {
		int e = errno;
		if (e == ENOENT)
			return set_err(-ENOENT, err, errlen, "snapstore: no snapshot: %s does "
				       "not exist", dir);
		return set_err(-e, err, errlen, "snapstore: cannot list %s: %s", dir,
			       strerror_r(e, msg, sizeof(msg)));
	}
	int rc = 0;
	struct dirent *e;
	/* Bounded by the dir's entries; snapshots by SNAPSTORE_FILES_MAX. */
	while (rc == 0 && (e = readdir(d)) != NULL) {
		uint64_t slot;
		int kind = snap_parse(e->d_name, &slot);
		if (kind < 0)
			ls->strays++;
		if (kind != 1)
			continue;
		if (ls->n == SNAPSTORE_FILES_MAX) {
			rc = set_err(-E2BIG, err, errlen, "snapstore: %s holds more than %u "
				     "snapshot files: move the oldest out", dir,
				     SNAPSTORE_FILES_MAX);
			break;
		}
		if (ls->n == cap) {
			uint32_t ncap = cap == 0 ? 16u : cap * 2u;
			uint64_t *s = realloc(ls->slots, ncap * sizeof(*s));
			if (s == NULL) {
				rc = set_err(-ENOMEM, err, errlen, "snapstore: out of memory");
				break;
			}
			ls->slots = s;
			cap = ncap;
		}
		ls->slots[ls->n++] = slot;
	}
	closedir(d);
	if (rc != 0) {
		free(ls->slots);
		ls->slots = NULL;
		return rc;
	}
	if (ls->n > 1)
		qsort(ls->slots, ls->n, sizeof(*ls->slots), cmp_desc);
	return 0;
}

/** Reads n bytes at off, all of them. @return 0, -EIO (short: the file shrank), -errno. */
static int preadv_all(int fd, struct iovec *iov, uint32_t n, uint64_t off)
{
	uint32_t first = 0;

	/* Bounded: each pass reads at least one byte, or ends. */
	while (first < n) {
		ssize_t r = preadv(fd, iov + first, (int)(n - first), (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		off += (uint64_t)r;
		/* Bounded: at most n runs. */
		while (first < n && (uint64_t)r >= iov[first].iov_len) {
			r -= (ssize_t)iov[first].iov_len;
			first++;
		}
		if (first < n) {
			iov[first].iov_base = (uint8_t *)iov[first].iov_base + r;
			iov[first].iov_len -= (size_t)r;
		}
	}
	return 0;
}

/** Reads and checks every chunk of fd into buf. @return 0, or a skip reason. */
static int chunks_read(int fd, const struct hdr *h, uint8_t *buf, char *why, size_t whylen)
{
	uint8_t crc[SNAPSTORE_CHUNK_CRC_BYTES];
	uint64_t off = SNAPSTORE_HDR_BYTES;
	char msg[128];

	/* Bounded: nchunks <= SNAPSTORE_BYTES_MAX / SNAPSTORE_CHUNK_BYTES_MIN. */
	for (uint64_t i = 0; i < h->nchunks; i++) {
		uint64_t at = i * h->chunk;
		uint64_t bytes = h->len - at < h->chunk ? h->len - at : h->chunk;
		struct iovec iov[2] = {{buf + at, (size_t)bytes}, {crc, sizeof(crc)}};
		int rc = preadv_all(fd, iov, 2, off);
		if (rc != 0) {
			snprintf(why, whylen, "chunk %" PRIu64 " at offset %" PRIu64 ": %s", i, off,
				 rc == -EIO ? "short read" : strerror_r(-rc, msg, sizeof(msg)));
			return SNAPSTORE_SKIP_IO;
		}
		if (wire_ld32(crc) != chunk_crc(h->slot, i, buf + at, bytes)) {
			snprintf(why, whylen, "chunk %" PRIu64 " at offset %" PRIu64 ": checksum "
				 "mismatch", i, off);
			return SNAPSTORE_SKIP_CHUNK;
		}
		off += bytes + sizeof(crc);
	}
	return 0;
}

/** What checking one file came to. */
enum verdict {
	V_OK = 0,        /**< valid (with buf: read into it) */
	V_SKIP = 1,      /**< not valid: reason and why say how */
	V_TOO_BIG = 2,   /**< valid header and size, more bytes than cap */
};

/**
 * Checks dir/snap-<slot>: the header and the file's size, then (buf != NULL) every
 * chunk, read into buf.
 */
static enum verdict snap_check(int dir_fd, uint64_t slot, uint8_t *buf, uint64_t cap,
			       struct hdr *h, int *reason, char *why, size_t whylen)
{
	char name[NAME_BYTES], msg[128];
	uint8_t hb[SNAPSTORE_HDR_BYTES];
	struct stat st;
	enum verdict v = V_SKIP;

	snap_name(name, slot, false);
	int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(why, whylen, "cannot open: %s", strerror_r(errno, msg, sizeof(msg)));
		*reason = SNAPSTORE_SKIP_IO;
		goto out;
	}
	if ((uint64_t)st.st_size < SNAPSTORE_HDR_BYTES) {
		snprintf(why, whylen, "short header: %lld bytes", (long long)st.st_size);
		*reason = SNAPSTORE_SKIP_SIZE;
		goto out;
	}
	struct iovec iov = {hb, sizeof(hb)};
	int rc = preadv_all(fd, &iov, 1, 0);
	if (rc != 0) {
		snprintf(why, whylen, "header: %s", rc == -EIO ? "short read"
					       : strerror_r(-rc, msg, sizeof(msg)));
		*reason = SNAPSTORE_SKIP_IO;
		goto out;
	}
	*reason = hdr_check(hb, slot, h, why, whylen);
	if (*reason != 0)
		goto out;
	uint64_t want = SNAPSTORE_FILE_BYTES(h->len, h->chunk);
	if ((uint64_t)st.st_size != want) {
		snprintf(why, whylen, "%s: %lld bytes, the header says %" PRIu64,
			 (uint64_t)st.st_size < want ? "torn" : "too long",
			 (long long)st.st_size, want);
		*reason = SNAPSTORE_SKIP_SIZE;
		goto out;
	}
	if (buf == NULL) {
		v = V_OK;
		goto out;
	}
	if (h->len > cap) {
		v = V_TOO_BIG;
		goto out;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	*reason = chunks_read(fd, h, buf, why, whylen);
	if (*reason == 0)
		v = V_OK;
out:
	if (fd >= 0)
		close(fd);
	return v;
}

/** Loads (buf != NULL) or looks at (buf == NULL) the newest valid snapshot. */
static int newest(const char *dir, uint8_t *buf, uint64_t cap, struct snapstore_loaded *out,
		  char *err, size_t errlen)
{
	struct listing ls;
	char why[SNAPSTORE_ERR_BYTES / 2], msg[128];
	struct hdr h;

	memset(out, 0, sizeof(*out));
	int rc = listing_read(dir, &ls, err, errlen);
	if (rc != 0)
		return rc;
	out->files = ls.n;
	out->strays = ls.strays;
	int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0) {
		int e = errno;
		free(ls.slots);
		return set_err(-e, err, errlen, "snapstore: cannot open %s: %s", dir,
			       strerror_r(e, msg, sizeof(msg)));
	}
	rc = -ENOENT;
	/* Bounded: ls.n <= SNAPSTORE_FILES_MAX files, newest first. */
	for (uint32_t i = 0; i < ls.n; i++) {
		int reason = 0;
		enum verdict v = snap_check(dir_fd, ls.slots[i], buf, cap, &h, &reason, why,
					    sizeof(why));
		if (v == V_SKIP) {
			if (out->skipped < SNAPSTORE_SKIP_REPORT_MAX)
				snprintf(out->why[out->skipped], sizeof(out->why[0]),
					 "%s/" PREFIX "%016" PRIx64 ": %s", dir, ls.slots[i], why);
			out->skipped++;
			out->skipped_by[reason]++;
			continue;
		}
		out->slot = h.slot;
		out->id = h.id;
		out->len = h.len;
		if (v == V_TOO_BIG) {
			rc = set_err(-ENOBUFS, err, errlen, "snapstore: %s/" PREFIX "%016" PRIx64
				     " holds %" PRIu64 " bytes, more than the %" PRIu64 " given",
				     dir, h.slot, h.len, cap);
			break;
		}
		rc = 0;
		break;
	}
	close(dir_fd);
	free(ls.slots);
	if (rc == -ENOENT)
		set_err(rc, err, errlen, "snapstore: no valid snapshot in %s (%" PRIu32 " files, %"
			PRIu32 " skipped%s%s)", dir, out->files, out->skipped,
			out->skipped > 0 ? ": " : "", out->skipped > 0 ? out->why[0] : "");
	return rc;
}

int snapstore_load_newest(const char *dir, void *buf, uint64_t cap,
			  struct snapstore_loaded *out, char *err, size_t errlen)
{
	static uint8_t none[1];

	assert(dir != NULL);
	assert(out != NULL);
	assert(buf != NULL || cap == 0);
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	/* A non-NULL buf, even for cap 0, tells snap_check to read the chunks. */
	return newest(dir, buf != NULL ? buf : none, cap, out, err, errlen);
}

int snapstore_newest_info(const char *dir, uint64_t *slot, uint64_t *len)
{
	struct snapstore_loaded out;

	assert(dir != NULL);
	int rc = newest(dir, NULL, 0, &out, NULL, 0);
	if (rc == 0) {
		*slot = out.slot;
		*len = out.len;
	}
	return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Life                                                                                */

static int conf_check(const struct snapstore_conf *c, struct snapstore *ss, char *err,
		      size_t errlen)
{
	ss->keep = c->keep != 0 ? c->keep : SNAPSTORE_KEEP_DEFAULT;
	ss->chunk_bytes = c->chunk_bytes != 0 ? c->chunk_bytes : SNAPSTORE_CHUNK_BYTES_DEFAULT;
	ss->rate = c->rate_bytes_per_s;
	ss->sync = c->sync;
	if (c->dir == NULL || c->dir[0] == '\0')
		return set_err(-EINVAL, err, errlen, "snapstore: no data dir given");
	if (c->sync != SNAPSTORE_SYNC_FDATASYNC && c->sync != SNAPSTORE_SYNC_NONE)
		return set_err(-EINVAL, err, errlen, "snapstore: unknown sync mode %d",
			       (int)c->sync);
	if (ss->keep > SNAPSTORE_KEEP_MAX)
		return set_err(-EINVAL, err, errlen, "snapstore: keep %" PRIu32 " is above %u",
			       ss->keep, SNAPSTORE_KEEP_MAX);
	if (ss->chunk_bytes < SNAPSTORE_CHUNK_BYTES_MIN ||
	    ss->chunk_bytes > SNAPSTORE_CHUNK_BYTES_MAX)
		return set_err(-EINVAL, err, errlen, "snapstore: chunk_bytes %" PRIu32 " is not "
			       "in [%u, %u]", ss->chunk_bytes, SNAPSTORE_CHUNK_BYTES_MIN,
			       SNAPSTORE_CHUNK_BYTES_MAX);
	return 0;
}

static int dir_open(struct snapstore *ss, char *err, size_t errlen)
{
	char msg[128];

	const char *what = NULL;
	int rc = storage_mkdir(ss->dir, ss->sync != SNAPSTORE_SYNC_NONE, &what);
	if (rc != 0)
		return set_err(rc, err, errlen, "snapstore: cannot %s data dir %s: %s", what,
			       ss->dir, strerror_r(-rc, msg, sizeof(msg)));
	ss->dir_fd = open(ss->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ss->dir_fd >= 0)
		ss->list_fd = open(ss->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ss->dir_fd < 0 || ss->list_fd < 0) {
		int e = errno;
		return set_err(-e, err, errlen, "snapstore: data dir %s: %s", ss->dir,
			       strerror_r(e, msg, sizeof(msg)));
	}
	return 0;
}

/** Open's listing: removes snap-*.tmp (a save cut by a crash or a close). */
static int tmp_remove(struct snapstore *ss, void *ctx, const char *name, int kind,
		      uint64_t slot)
{
	uint32_t *removed = ctx;

	(void)slot;
	if (kind != 2)
		return 0;
	if (unlinkat(ss->dir_fd, name, 0) != 0 && errno != ENOENT)
		return -errno;
	(*removed)++;
	return 0;
}

static int tmp_cleanup(struct snapstore *ss, char *err, size_t errlen)
{
	char msg[128];
	uint32_t removed = 0;
	int rc = list_dir(ss, tmp_remove, &removed);

	if (rc == 0 && removed > 0 && ss->sync != SNAPSTORE_SYNC_NONE && fsync(ss->dir_fd) != 0)
		rc = -errno;
	if (rc != 0)
		return set_err(rc, err, errlen, "snapstore: cannot remove the leftover "
			       PREFIX "*" TMP_SUFFIX " files in %s: %s", ss->dir,
			       strerror_r(-rc, msg, sizeof(msg)));
	atomic_store_explicit(&ss->c_tmp_removed, removed, memory_order_relaxed);
	return 0;
}

static int writer_start(struct snapstore *ss, char *err, size_t errlen)
{
	char msg[128];
	int rc = storage_thread_start(&ss->thread, writer_main, ss, "pw-snapstore");
	if (rc != 0)
		return set_err(rc, err, errlen, "snapstore: cannot start the writer thread: %s",
			       strerror_r(-rc, msg, sizeof(msg)));
	ss->thread_started = true;
	return 0;
}

static void destroy(struct snapstore *ss)
{
	if (ss->list_fd >= 0)
		close(ss->list_fd);
	if (ss->dir_fd >= 0)
		close(ss->dir_fd);
	free(ss->older);
	free(ss->dents);
	free(ss->dir);
	free(ss);
}

int snapstore_open(const struct snapstore_conf *c, struct snapstore **out, char *err,
		   size_t errlen)
{
	assert(c != NULL);
	assert(out != NULL);
	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	struct snapstore *ss = calloc(1, sizeof(*ss));
	if (ss == NULL)
		return set_err(-ENOMEM, err, errlen, "snapstore: out of memory");
	ss->dir_fd = -1;
	ss->list_fd = -1;
	ss->dir = strdup(c->dir != NULL ? c->dir : "");
	ss->dents = malloc(DENTS_BYTES);
	ss->older = malloc(SNAPSTORE_FILES_MAX * sizeof(*ss->older));
	int rc = ss->dir == NULL || ss->dents == NULL || ss->older == NULL
			 ? set_err(-ENOMEM, err, errlen, "snapstore: out of memory")
			 : conf_check(c, ss, err, errlen);
	if (rc == 0)
		rc = dir_open(ss, err, errlen);
	if (rc == 0)
		rc = tmp_cleanup(ss, err, errlen);
	if (rc == 0)
		rc = writer_start(ss, err, errlen);
	if (rc != 0) {
		destroy(ss);
		return rc;
	}
	*out = ss;
	return 0;
}

void snapstore_close(struct snapstore *ss)
{
	if (ss == NULL)
		return;
	/* Pairs with stopping()'s acquire load. */
	atomic_store_explicit(&ss->stop, true, memory_order_release);
	wake_writer(ss);
	pthread_join(ss->thread, NULL);
	destroy(ss);
}
