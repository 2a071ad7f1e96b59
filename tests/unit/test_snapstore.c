/* SPDX-License-Identifier: Apache-2.0
 * Snapshots on disk (storage/snapstore.h, docs/storage.md "Snapshots on disk"): what
 * lands on disk, what start-up loads, what it skips and why, pruning, the writer's
 * refusals and failures. Each test runs in a fresh mkdtemp dir under /tmp, removed by
 * its teardown, and damages files by hand where it needs a torn or corrupt snapshot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "crc32c_pvt.h"
#include "snapstore.h"
#include "wire_le.h"

/* ---- helpers ---- */

struct tdir {
	char path[64];
};

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	struct tdir *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -1;
	snprintf(t->path, sizeof(t->path), "/tmp/pw-snap-XXXXXX");
	if (mkdtemp(t->path) == NULL) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tdir *t = *state;
	int rc = nftw(t->path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(t);
	return rc;
}

/** The data dir of a test: a subdir of its temp dir (snapstore_open creates it). */
static const char *data_dir(void **state)
{
	static char buf[96];
	struct tdir *t = *state;
	snprintf(buf, sizeof(buf), "%s/data", t->path);
	return buf;
}

static struct snapstore_conf conf_of(const char *dir)
{
	struct snapstore_conf c = {.dir = dir, .keep = 0, .chunk_bytes = 0,
				   .rate_bytes_per_s = 0, .sync = SNAPSTORE_SYNC_FDATASYNC};
	return c;
}

static struct snapstore *open_ok(const struct snapstore_conf *c)
{
	char err[SNAPSTORE_ERR_BYTES];
	struct snapstore *ss = NULL;
	int rc = snapstore_open(c, &ss, err, sizeof(err));
	if (rc != 0)
		print_error("snapstore_open: %d: %s\n", rc, err);
	assert_int_equal(rc, 0);
	assert_non_null(ss);
	return ss;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/** Waits (20 s at most) for the save in flight to end; returns how. */
static struct snapstore_done wait_done(struct snapstore *ss)
{
	struct snapstore_done d;
	for (int i = 0; i < 20000; i++) {
		if (snapstore_poll(ss, &d))
			return d;
		sleep_ms(1);
	}
	fail_msg("the save did not end within 20 s");
	return d;
}

/** A test's snapshot bytes: a pattern of (seed, position). */
static uint8_t *pattern(uint64_t len, uint64_t seed)
{
	uint8_t *b = malloc(len > 0 ? len : 1);
	assert_non_null(b);
	for (uint64_t i = 0; i < len; i++)
		b[i] = (uint8_t)(seed * 131u + i * 7u + (i >> 12));
	return b;
}

/** Saves and waits: the save must be durable. */
static void save_ok(struct snapstore *ss, uint64_t slot, uint64_t id, const uint8_t *buf,
		    uint64_t len)
{
	assert_int_equal(snapstore_save(ss, slot, id, buf, len), 0);
	struct snapstore_done d = wait_done(ss);
	if (d.err != 0)
		print_error("save: %d: %s\n", d.err, d.why);
	assert_int_equal(d.err, 0);
	assert_int_equal(d.slot, slot);
	assert_int_equal(d.id, id);
}

/** One snapshot at slot of len pattern(len, slot) bytes, saved with its own store. */
static void write_snap(const struct snapstore_conf *c, uint64_t slot, uint64_t len)
{
	struct snapstore *ss = open_ok(c);
	uint8_t *b = pattern(len, slot);
	save_ok(ss, slot, slot * 1000u, b, len);
	snapstore_close(ss);
	free(b);
}

/** Loads the newest into a buffer of cap bytes; expects rc. */
static int load(const char *dir, uint64_t cap, uint8_t **buf, struct snapstore_loaded *out)
{
	char err[SNAPSTORE_ERR_BYTES];
	*buf = malloc(cap > 0 ? cap : 1);
	assert_non_null(*buf);
	int rc = snapstore_load_newest(dir, *buf, cap, out, err, sizeof(err));
	if (rc != 0 && rc != -ENOENT && rc != -ENOBUFS)
		print_error("load: %d: %s\n", rc, err);
	return rc;
}

/** Asserts the newest valid snapshot is slot, with the bytes write_snap gave it. */
static void load_is(const char *dir, uint64_t slot, uint64_t len,
		    struct snapstore_loaded *out)
{
	uint8_t *buf;
	assert_int_equal(load(dir, len, &buf, out), 0);
	assert_int_equal(out->slot, slot);
	assert_int_equal(out->id, slot * 1000u);
	assert_int_equal(out->len, len);
	uint8_t *want = pattern(len, slot);
	assert_memory_equal(buf, want, len);
	free(want);
	free(buf);
}

static void snap_path(char *buf, size_t len, const char *dir, uint64_t slot, bool tmp)
{
	snprintf(buf, len, "%s/snap-%016" PRIx64 "%s", dir, slot, tmp ? ".tmp" : "");
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static off_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static void file_read(const char *path, off_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static void file_write(const char *path, off_t off, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static void flip(const char *path, off_t off)
{
	uint8_t b;
	file_read(path, off, &b, 1);
	b ^= 0x40;
	file_write(path, off, &b, 1);
}

/** The whole file (malloc'd), to put it back after damaging it. */
static uint8_t *file_slurp(const char *path, off_t *size)
{
	*size = file_size(path);
	uint8_t *b = malloc((size_t)*size);
	assert_non_null(b);
	file_read(path, 0, b, (size_t)*size);
	return b;
}

static void file_put(const char *path, const uint8_t *b, off_t size)
{
	assert_int_equal(unlink(path), 0);
	file_write(path, 0, b, (size_t)size);
}

/** The snapshot files in dir (".tmp" included). */
static int snap_count(const char *dir)
{
	int n = 0;
	DIR *d = opendir(dir);
	assert_non_null(d);
	for (struct dirent *e = readdir(d); e != NULL; e = readdir(d))
		if (strncmp(e->d_name, "snap-", 5) == 0)
			n++;
	closedir(d);
	return n;
}

/** Entries of a /proc/self dir (threads: "task", open fds: "fd"). */
static int proc_count(const char *what)
{
	char path[64];
	int n = 0;
	snprintf(path, sizeof(path), "/proc/self/%s", what);
	DIR *d = opendir(path);
	assert_non_null(d);
	for (struct dirent *e = readdir(d); e != NULL; e = readdir(d))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/** A load that must skip the newest (reason, text) and fall back to slot older. */
static void skips_to(const char *dir, int reason, const char *why, uint64_t older,
		     uint64_t len)
{
	struct snapstore_loaded out;
	load_is(dir, older, len, &out);
	if (out.skipped != 1 || out.skipped_by[reason] != 1 || strstr(out.why[0], why) == NULL)
		print_error("skipped %u (reason %d: %u): \"%s\" (want \"%s\")\n", out.skipped,
			    reason, out.skipped_by[reason], out.why[0], why);
	assert_int_equal(out.skipped, 1);
	assert_int_equal(out.skipped_by[reason], 1);
	assert_non_null(strstr(out.why[0], why));
}

#define CHUNK SNAPSTORE_CHUNK_BYTES_DEFAULT

/* ---- format and round trip ---- */

/* The bytes on disk are the table in docs/storage.md. */
static void test_format(void **state)
{
	const char *dir = data_dir(state);
	struct snapstore_conf c = conf_of(dir);
	c.chunk_bytes = 4096;
	struct snapstore *ss = open_ok(&c);
	uint8_t *b = pattern(10000, 7), h[SNAPSTORE_HDR_BYTES], crc[4];
	char path[128];

	save_ok(ss, 0x1234, 0xfeedbeef01020304ull, b, 10000);
	snapstore_close(ss);
	snap_path(path, sizeof(path), dir, 0x1234, false);
	assert_int_equal(file_size(path), 64 + 10000 + 3 * 4);
	assert_int_equal(file_size(path), SNAPSTORE_FILE_BYTES(10000, 4096));
	file_read(path, 0, h, sizeof(h));
	assert_memory_equal(h, "PXWS", 4);                     /* magic */
	assert_int_equal(wire_ld16(h + 4), SNAPSTORE_VERSION);
	assert_int_equal(wire_ld16(h + 6), 0);                 /* reserved */
	assert_int_equal(wire_ld64(h + 8), 0x1234);            /* slot */
	assert_int_equal(wire_ld64(h + 16), 10000);            /* length */
	assert_int_equal(wire_ld32(h + 24), 4096);             /* chunk bytes */
	assert_int_equal(wire_ld32(h + 28), 0);                /* reserved */
	assert_int_equal(wire_ld64(h + 32), 3);                /* chunks */
	assert_int_equal(wire_ld64(h + 40), 0xfeedbeef01020304ull);  /* id */
	for (int i = 48; i < 60; i++)
		assert_int_equal(h[i], 0);                     /* reserved */
	assert_int_equal(wire_ld32(h + 60), storage_crc32c(h, 60));
	/* Each chunk, then the CRC32C of (slot u64, index u64, its bytes). */
	uint64_t off = 64;
	for (uint64_t i = 0; i < 3; i++) {
		uint64_t n = i < 2 ? 4096 : 10000 - 2 * 4096;
		uint8_t where[16], data[4096];
		file_read(path, (off_t)off, data, n);
		assert_memory_equal(data, b + i * 4096, n);
		file_read(path, (off_t)(off + n), crc, 4);
		wire_st64(where, 0x1234);
		wire_st64(where + 8, i);
		uint32_t want = storage_crc32c_add(STORAGE_CRC32C_INIT, where, 16);
		want = storage_crc32c_end(storage_crc32c_add(want, data, n));
		assert_int_equal(wire_ld32(crc), want);
		off += n + 4;
	}
	free(b);
}

/* Save then load, at the sizes around a chunk's edges and a few MB. */
static void test_round_trip_sizes(void **state)
{
	const char *dir = data_dir(state);
	struct snapstore_conf c = conf_of(dir);
	const uint64_t sizes[] = {0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 3};
	struct snapstore *ss = open_ok(&c);
	struct snapstore_loaded out;
	char path[128];

	for (uint64_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t slot = 100 + i, len = sizes[i], s = 0, l = 0;
		uint8_t *b = pattern(len, slot);
		assert_int_equal(snapstore_save(ss, slot, slot * 1000u, b, len), 0);
		struct snapstore_done d = wait_done(ss);
		assert_int_equal(d.err, 0);
		assert_int_equal(d.bytes, SNAPSTORE_FILE_BYTES(len, CHUNK));
		snap_path(path, sizeof(path), dir, slot, false);
		assert_int_equal(file_size(path), SNAPSTORE_FILE_BYTES(len, CHUNK));
		assert_int_equal(snapstore_newest_info(dir, &s, &l), 0);
		assert_int_equal(s, slot);
		assert_int_equal(l, len);
		load_is(dir, slot, len, &out);
		assert_int_equal(out.skipped, 0);
		free(b);
	}
	struct snapstore_counters k;
	snapstore_counters(ss, &k);
	assert_int_equal(k.saves, 6);
	assert_int_equal(k.saves_failed, 0);
	snapstore_close(ss);
}

/* ---- start-up: what is skipped ---- */

/* A file cut anywhere (a copy that stopped, a disk that lost its end) is skipped. */
static void test_torn_skipped(void **state)
{
	const char *dir = data_dir(state);
	struct snapstore_conf c = conf_of(dir);
	c.chunk_bytes = 4096;
	char path[128];
	off_t size;

	write_snap(&c, 1, 3 * 4096 + 5);
	write_snap(&c, 2, 3 * 4096 + 5);
	load_is(dir, 2, 3 * 4096 + 5, &(struct snapstore_loaded){0});
	snap_path(path, sizeof(path), dir, 2, false);
	uint8_t *orig = file_slurp(path, &size);
	const off_t cuts[] = {0, 10, 63, 64, 64 + 100, 64 + 4096 + 2, size - 4, size - 1};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		assert_int_equal(truncate(path, cuts[i]), 0);
		skips_to(dir, SNAPSTORE_SKIP_SIZE, cuts[i] < 64 ? "snap-0000000000000002: short "
			 "header" : "snap-0000000000000002: torn", 1, 3 * 4096 + 5);
		file_put(path, orig, size);
	}
	/* Longer than its header says. */
	file_write(path, size, "x", 1);
	skips_to(dir, SNAPSTORE_SKIP_SIZE, "snap-0000000000000002: too long", 1, 3 * 4096 + 5);
	file_put(path, orig, size);
	load_is(dir, 2, 3 * 4096 + 5, &(struct snapstore_loaded){0});
	free(orig);
}

/* One flipped byte anywhere (header, data, a chunk's checksum) is skipped. */
static void test_flipped_byte_skipped(void **state)
{
	const char *dir = data_dir(state);
	struct snapstore_conf c = conf_of(dir);
	c.chunk_bytes = 4096;
	const uint64_t len = 3 * 4096 + 5;
	char path[128], want[160];
	off_t size;

	write_snap(&c, 1, len);
	write_snap(&c, 2, len);
	snap_path(path, sizeof(path), dir, 2, false);
	uint8_t *orig = file_slurp(path, &size);
	struct {
		off_t at;
		int reason;
		const char *why;
	} cases[] = {
		{0, SNAPSTORE_SKIP_HEADER, "bad magic"},
		{8, SNAPSTORE_SKIP_HEADER, "header checksum mismatch"},     /* slot */
		{16, SNAPSTORE_SKIP_HEADER, "header checksum mismatch"},    /* length */
		{40, SNAPSTORE_SKIP_HEADER, "header checksum mismatch"},    /* id */
		{61, SNAPSTORE_SKIP_HEADER, "header checksum mismatch"},    /* its CRC */
		{64, SNAPSTORE_SKIP_CHUNK, "chunk 0 at offset 64: checksum mismatch"},
		{64 + 4095, SNAPSTORE_SKIP_CHUNK, "chunk 0 at offset 64: checksum mismatch"},
		{64 + 4096 + 1, SNAPSTORE_SKIP_CHUNK, "chunk 0 at offset 64: checksum"}, /* CRC */
		{64 + 2 * 4100 + 100, SNAPSTORE_SKIP_CHUNK, "chunk 2 at offset 8264: checksum"},
		{size - 1, SNAPSTORE_SKIP_CHUNK, "chunk 3 at offset 12364: checksum mismatch"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		flip(path, cases[i].at);
		snprintf(want, sizeof(want), "/snap-0000000000000002: %s", cases[i].why);
		skips_to(dir, cases[i].reason, want, 1, len);
		file_put(path, orig, size);
	}
	/* A valid file under another slot's name (renamed or copied): misplaced. */
	char other[128];
	snap_path(other, sizeof(other), dir, 3, false);
	file_write(other, 0, orig, (size_t)size);
	skips_to(dir, SNAPSTORE_SKIP_MISPLACED, "snap-0000000000000003: misplaced: a valid "
		 "header for slot 2", 2, len);
	free(orig);
}

/* Every file bad: -ENOENT, naming what was skipped; so too an empty or missing dir. */
static void test_none_valid(void **state)
{
	const char *dir = data_dir(state);
	struct snapstore_conf c = conf_of(dir);
	struct snapstore_loaded out;
	char path[128], err[SNAPSTORE_ERR_BYTES];
	uint64_t slot, len;
	uint8_t buf[64];

	assert_int_equal(snapstore_load_newest(dir, buf, sizeof(buf), &out, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "does not exist"));
	assert_int_equal(snapstore_newest_info(dir, &slot, &len), -ENOENT);
	snapstore_close(open_ok(&c));   /* creates the dir */
	assert_int_equal(snapstore_load_newest(dir, buf, sizeof(buf), &out, err, sizeof(err)),
			 -ENOENT);
	assert_int_equal(out.files, 0);
	assert_non_null(strstr(err, "no valid snapshot in"));

	write_snap(&c, 1, 40);
	write_snap(&c, 2, 40);
	snap_path(path, sizeof(path), dir, 1, false);
	flip(path, 70);
	snap_path(path, sizeof(path), dir, 2, false);
	assert_int_equal(truncate(path, 30), 0);
	assert_int_equal(snapstore_load_newest(dir, buf, sizeof(buf), &out, err, sizeof(err)),
			 -ENOENT);
	assert_int_equal(out.files, 2);
	assert_int_equal(out.skipped, 2);
	assert_int_equal(out.skipped_by[SNAPSTORE_SKIP_SIZE], 1);
	assert_int_equal(out.skipped_by[SNAPSTORE_SKIP_CHUNK], 1);
	assert_non_null(strstr(out.why[0], "snap-0000000000000002: short header"));
	assert_non_null(strstr(out.why[1], "snap-0000000000000001: chunk 0"));
	assert_non_null(strstr(err, "2 files, 2 skipped: "));
	/* newest_info reads headers only: slot 1's header is fine. */
	assert_int_equal(snapstore_newest_info(dir, &slot, &len), 0);
	assert_int_equal(slot, 1);
}

/* A buffer too small: -ENOBUFS with the size needed, never a silent older snapshot. */
static void test_buffer_too_small(void **state)
{
	const char *dir = data_dir(state);
	struct snapstore_conf c = conf_of(dir);
	c.chunk_bytes = 4096;
	struct snapstore_loaded out;
	uint8_t *buf;
	uint64_t slot, len;
	char path[128];

	write_snap(&c, 1, 20000);
	write_snap(&c, 2, 100);
	assert_int_equal(load(dir, 99, &buf, &out), -ENOBUFS);
	assert_int_equal(out.slot, 2);
	assert_int_equal(out.len, 100);
	free(buf);
	/* The newest is corrupt, the older is bigger than what newest_info said. */
	snap_path(path, sizeof(path), dir, 2, false);
	flip(path, 64);
	assert_int_equal(snapstore_newest_info(dir, &slot, &len), 0);
	assert_int_equal(slot, 2);
	assert_int_equal(len, 100);
	assert_int_equal(load(dir, len, &buf, &out), -ENOBUFS);
	assert_int_equal(out.slot, 1);
	assert_int_equal(out.len, 20000);
	assert_int_equal(out.skipped, 1);
	free(buf);
	load_is(dir, 1, 20000, &out);
	assert_int_equal(out.skipped, 1);
}

/* ---- the writer ---- */

/* A .tmp left by a crash is removed at open; strays are left alone and counted. */
static void test_leftover_tmp_removed(void **state)
{
	const char *dir = data_dir(state);
	struct snapstore_conf c = conf_of(dir);
	struct snapstore_counters k;
	struct snapstore_loaded out;
	char tmp[128], stray[128];

	write_snap(&c, 4, 100);
	snap_path(tmp, sizeof(tmp), dir, 5, true);
	file_write(tmp, 0, "half a snapshot", 15);
	snprintf(stray, sizeof(stray), "%s/snap-notes", dir);
	file_write(stray, 0, "x", 1);
	load_is(dir, 4, 100, &out);          /* load ignores the .tmp */
	assert_int_equal(out.files, 1);
	assert_int_equal(out.strays, 1);

	struct snapstore *ss = open_ok(&c);
	snapstore_counters(ss, &k);
	assert_int_equal(k.tmp_removed, 1);
	assert_false(exists(tmp));
	assert_true(exists(stray));
	snapstore_close(ss);
}

/* After each save the newest `keep` stay; a snapshot newer than the save is never
 * deleted. */
static void test_prune_keeps_k(void **state)
{
	const char *dir = data_dir(state);
	struct snapstore_conf c = conf_of(dir);
	struct snapstore *ss = open_ok(&c);
	uint8_t b[100] = {1};
	char path[128];

	for (uint64_t s = 10; s <= 50; s += 10)
		save_ok(ss, s, s, b, sizeof(b));
	assert_int_equal(snap_count(dir), 2);
	snap_path(path, sizeof(path), dir, 40, false);
	assert_true(exists(path));
	snap_path(path, sizeof(path), dir, 50, false);
	assert_true(exists(path));
	struct snapstore_counters k;
	snapstore_counters(ss, &k);
	assert_int_equal(k.pruned, 3);
	snapstore_close(ss);

	c.keep = 3;
	ss = open_ok(&c);
	for (uint64_t s = 60; s <= 90; s += 10)
		save_ok(ss, s, s, b, sizeof(b));
	assert_int_equal(snap_count(dir), 3);
	for (uint64_t s = 70; s <= 90; s += 10) {
		snap_path(path, sizeof(path), dir, s, false);
		assert_true(exists(path));
	}
	/* Saves below the newest (75, 76, 77): 80 and 90 stay, and each save keeps the
	 * keep - 1 = 2 newest below it. */
	assert_int_equal(snapstore_save(ss, 75, 75, b, sizeof(b)), 0);
	struct snapstore_done d = wait_done(ss);
	assert_int_equal(d.err, 0);
	assert_int_equal(d.pruned, 0);
	assert_int_equal(snap_count(dir), 4);     /* 70, 75, 80, 90 */
	save_ok(ss, 76, 76, b, sizeof(b));
	assert_int_equal(snap_count(dir), 5);     /* 70, 75, 76, 80, 90 */
	assert_int_equal(snapstore_save(ss, 77, 77, b, sizeof(b)), 0);
	d = wait_done(ss);
	assert_int_equal(d.pruned, 1);
	assert_int_equal(snap_count(dir), 5);     /* 75, 76, 77, 80, 90 */
	snap_path(path, sizeof(path), dir, 70, false);
	assert_false(exists(path));
	snap_path(path, sizeof(path), dir, 90, false);
	assert_true(exists(path));
	/* The same slot again: replaced in place. */
	b[0] = 9;
	save_ok(ss, 90, 91, b, sizeof(b));
	struct snapstore_loaded out;
	uint8_t *buf;
	assert_int_equal(load(dir, sizeof(b), &buf, &out), 0);
	assert_int_equal(out.slot, 90);
	assert_int_equal(out.id, 91);
	assert_int_equal(buf[0], 9);
	free(buf);
	snapstore_close(ss);
}

/* A second save while one runs, or before its end was polled: -EBUSY. The rate limit
 * holds the writer to about its bytes per second. */
static void test_busy_and_rate(void **state)
{
	const char *dir = data_dir(state);
	struct snapstore_conf c = conf_of(dir);
	c.rate_bytes_per_s = 16u << 20;
	const uint64_t len = 4u << 20;
	uint8_t *b = pattern(len, 3);
	struct snapstore *ss = open_ok(&c);
	struct snapstore_done d, d2;
	struct snapstore_counters k;

	uint64_t t0 = now_ms();
	assert_int_equal(snapstore_save(ss, 1, 1, b, len), 0);
	assert_int_equal(snapstore_save(ss, 2, 2, b, len), -EBUSY);
	assert_false(snapstore_poll(ss, &d));
	/* Bounded: 20 s. */
	for (int i = 0; i < 20000; i++) {
		snapstore_counters(ss, &k);
		if (k.saves == 1)
			break;
		sleep_ms(1);
	}
	uint64_t ms = now_ms() - t0;
	assert_int_equal(k.saves, 1);
	assert_int_equal(snapstore_save(ss, 2, 2, b, len), -EBUSY);   /* not polled yet */
	assert_true(snapstore_poll(ss, &d));
	assert_false(snapstore_poll(ss, &d2));    /* one end, reported once */
	assert_int_equal(d.err, 0);
	assert_int_equal(d.slot, 1);
	assert_true(d.throttle_ns > 0);
	/* 4 MiB at 16 MiB/s: at least 250 ms, less a chunk's worth of slack. */
	assert_true(ms >= 180);
	assert_true(d.ns >= 180000000ull);
	snapstore_counters(ss, &k);
	assert_int_equal(k.busy, 2);
	assert_true(k.throttle_ns > 0);
	save_ok(ss, 2, 2, b, len);
	snapstore_close(ss);
	free(b);
}

/* A write fails (the file size limit, as a full disk would): poll names the file and
 * the cause, the .tmp is gone, the previous snapshot is still the newest, and the next
 * save works (a failed save is not fatal). */
static void test_write_error(void **state)
{
	const char *dir = data_dir(state);
	struct snapstore_conf c = conf_of(dir);
	struct snapstore_loaded out;
	struct snapstore_counters k;
	struct rlimit old, lim;
	char tmp[128];
	const uint64_t len = 3u << 20;
	uint8_t *b = pattern(len, 2);

	write_snap(&c, 1, 5000);
	struct snapstore *ss = open_ok(&c);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 1u << 20;
	void (*sig)(int) = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_equal(snapstore_save(ss, 2, 2000, b, len), 0);
	struct snapstore_done d = wait_done(ss);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, sig);

	assert_int_equal(d.err, -EFBIG);
	assert_int_equal(d.slot, 2);
	assert_non_null(strstr(d.why, "snapstore: write "));
	assert_non_null(strstr(d.why, "/snap-0000000000000002.tmp at offset "));
	assert_non_null(strstr(d.why, "File too large"));
	assert_non_null(strstr(d.why, "the previous snapshot stays the newest"));
	snap_path(tmp, sizeof(tmp), dir, 2, true);
	assert_false(exists(tmp));
	snapstore_counters(ss, &k);
	assert_int_equal(k.saves_failed, 1);
	load_is(dir, 1, 5000, &out);

	save_ok(ss, 2, 2000, b, len);
	snapstore_close(ss);
	uint8_t *buf;
	assert_int_equal(load(dir, len, &buf, &out), 0);
	assert_int_equal(out.slot, 2);
	assert_memory_equal(buf, b, len);
	free(buf);
	free(b);
}

/* Close while a save runs: abandoned at once, its .tmp removed, nothing left running. */
static void test_close_abandons_save(void **state)
{
	const char *dir = data_dir(state);
	struct snapstore_conf c = conf_of(dir);
	c.rate_bytes_per_s = 1u << 20;     /* 8 MiB would take 8 s */
	const uint64_t len = 8u << 20;
	uint8_t *b = pattern(len, 4);
	struct snapstore_loaded out;
	char path[128];

	write_snap(&c, 1, 100);
	int threads = proc_count("task"), fds = proc_count("fd");
	struct snapstore *ss = open_ok(&c);
	assert_int_equal(snapstore_save(ss, 2, 2, b, len), 0);
	sleep_ms(100);
	uint64_t t0 = now_ms();
	snapstore_close(ss);
	assert_true(now_ms() - t0 < 1000);
	assert_int_equal(proc_count("task"), threads);
	assert_int_equal(proc_count("fd"), fds);
	snap_path(path, sizeof(path), dir, 2, true);
	assert_false(exists(path));
	snap_path(path, sizeof(path), dir, 2, false);
	assert_false(exists(path));
	load_is(dir, 1, 100, &out);
	free(b);
}

/* Bad configurations and dirs: a clear error, nothing left open or running. */
static void test_open_failures(void **state)
{
	struct tdir *t = *state;
	char file[128], below[256], err[SNAPSTORE_ERR_BYTES];
	struct snapstore *ss;
	struct snapstore_conf c = conf_of(data_dir(state));
	int threads = proc_count("task"), fds = proc_count("fd");
	struct {
		uint32_t keep, chunk;
		const char *dir, *want;
		int rc;
	} cases[] = {
		{17, 0, NULL, "keep 17 is above 16", -EINVAL},
		{0, 1000, NULL, "chunk_bytes 1000 is not in [4096, 67108864]", -EINVAL},
		{0, 0, "", "no data dir", -EINVAL},
		{0, 0, file, "data dir", -ENOTDIR},
		{0, 0, below, "cannot create data dir", -ENOTDIR},
	};

	snprintf(file, sizeof(file), "%s/a-file", t->path);
	file_write(file, 0, "x", 1);
	snprintf(below, sizeof(below), "%s/sub", file);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c.keep = cases[i].keep;
		c.chunk_bytes = cases[i].chunk;
		c.dir = cases[i].dir != NULL ? cases[i].dir : data_dir(state);
		ss = (struct snapstore *)&err;
		int rc = snapstore_open(&c, &ss, err, sizeof(err));
		if (rc != cases[i].rc || strstr(err, cases[i].want) == NULL)
			print_error("open: %d: %s (want %d, \"%s\")\n", rc, err, cases[i].rc,
				    cases[i].want);
		assert_int_equal(rc, cases[i].rc);
		assert_null(ss);
		assert_non_null(strstr(err, cases[i].want));
		assert_int_equal(proc_count("task"), threads);
		assert_int_equal(proc_count("fd"), fds);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_format),
		T(test_round_trip_sizes),
		T(test_torn_skipped),
		T(test_flipped_byte_skipped),
		T(test_none_valid),
		T(test_buffer_too_small),
		T(test_leftover_tmp_removed),
		T(test_prune_keeps_k),
		T(test_busy_and_rate),
		T(test_write_error),
		T(test_close_abandons_save),
		T(test_open_failures),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
