/* SPDX-License-Identifier: Apache-2.0
 * The on-disk journal (storage/journal.h, docs/storage.md): what lands on disk, what
 * replay gives back, and what it refuses. Each test runs in a fresh mkdtemp dir under
 * /tmp, removed by its teardown (which cmocka runs after a failed test too), and damages
 * files by hand where it needs a torn write or corruption.
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
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "journal.h"
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
	snprintf(t->path, sizeof(t->path), "/tmp/pw-journal-XXXXXX");
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

/** The data dir of a test: a subdir of its temp dir (journal_open creates it). */
static const char *data_dir(void **state)
{
	static char buf[96];
	struct tdir *t = *state;
	snprintf(buf, sizeof(buf), "%s/data", t->path);
	return buf;
}

static struct journal_conf conf_of(const char *dir)
{
	struct journal_conf c = {.dir = dir, .segment_bytes = 0, .ring_bytes = 0,
				 .value_bytes_max = 0, .sync = JOURNAL_SYNC_FDATASYNC};
	return c;
}

static struct journal *open_ok(const struct journal_conf *c, struct journal_replay *rp)
{
	char err[JOURNAL_ERR_BYTES];
	struct journal *j = NULL;
	int rc = journal_open(c, &j, rp, err, sizeof(err));
	if (rc != 0)
		print_error("journal_open: %d: %s\n", rc, err);
	assert_int_equal(rc, 0);
	assert_non_null(j);
	return j;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/** Waits (10 s at most) for journal_poll to reach seq; asserts it does, exactly. */
static void wait_seq(struct journal *j, uint64_t seq)
{
	for (int i = 0; i < 10000 && journal_poll(j) < seq; i++)
		sleep_ms(1);
	assert_int_equal(journal_poll(j), seq);
}

/** The value a test writes for (slot, vballot), len bytes. */
static void fill(uint8_t *buf, uint32_t len, uint64_t slot, uint64_t vballot)
{
	for (uint32_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(slot * 31u + vballot * 7u + i);
}

static void put_slot(struct journal *j, uint64_t slot, uint64_t vballot, uint32_t len)
{
	uint8_t buf[16384];
	assert_true(len <= sizeof(buf));
	fill(buf, len, slot, vballot);
	journal_slot(j, slot, vballot, buf, len);
}

/** Asserts the replayed value of slot is (vballot, the fill pattern of len bytes). */
static void check_slot(struct journal *j, uint64_t slot, uint64_t vballot, uint32_t len)
{
	struct node_journal nj;
	uint8_t want[16384];
	uint64_t vb = 0;
	const uint8_t *v = NULL;
	uint32_t l = 0;

	journal_as_node(j, &nj);
	assert_true(nj.slot(nj.jctx, slot, &vb, &v, &l));
	assert_int_equal(vb, vballot);
	assert_int_equal(l, len);
	fill(want, len, slot, vballot);
	assert_memory_equal(v, want, len);
}

static void seg_path(char *buf, size_t len, const char *dir, uint64_t num)
{
	snprintf(buf, len, "%s/journal-%016" PRIx64, dir, num);
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
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static void file_append(const char *path, const void *buf, size_t len)
{
	file_write(path, file_size(path), buf, len);
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

/** Opens, expecting failure rc with want in the message, and nothing left behind. */
static void open_fails(const struct journal_conf *c, int rc_want, const char *want)
{
	char err[JOURNAL_ERR_BYTES];
	struct journal *j = (struct journal *)&err;   /* must come back NULL */
	int threads = proc_count("task"), fds = proc_count("fd");

	int rc = journal_open(c, &j, NULL, err, sizeof(err));
	if (rc != rc_want || strstr(err, want) == NULL)
		print_error("journal_open: %d (want %d): %s (want \"%s\")\n", rc, rc_want, err,
			    want);
	assert_int_equal(rc, rc_want);
	assert_null(j);
	assert_non_null(strstr(err, want));
	assert_int_equal(proc_count("task"), threads);
	assert_int_equal(proc_count("fd"), fds);
}

#define PROMISE_REC (JOURNAL_HDR_BYTES + 8u)
#define SYNC_REC (JOURNAL_HDR_BYTES + 16u)
static uint32_t slot_rec(uint32_t len)
{
	return (uint32_t)JOURNAL_HDR_BYTES + ((JOURNAL_SLOT_FIXED_BYTES + len + 7u) & ~7u);
}

/* ---- the checksum and the format ---- */

/* The checksum is the standard CRC32C (the iSCSI check value). */
static void test_crc32c_check_value(void **state)
{
	(void)state;
	assert_int_equal(journal_crc32c("123456789", 9), 0xe3069283u);
	assert_int_equal(journal_crc32c("", 0), 0);
}

/* The bytes on disk are the table in docs/storage.md. */
static void test_format(void **state)
{
	const char *dir = data_dir(state);
	struct journal_conf c = conf_of(dir);
	struct journal *j = open_ok(&c, NULL);
	uint8_t r[PROMISE_REC + SYNC_REC], z[PROMISE_REC];
	char seg[128];

	journal_promise(j, 0x1122334455667788ull);
	journal_sync(j, 1, 9);
	wait_seq(j, 1);
	assert_int_equal(journal_close(j), 0);
	seg_path(seg, sizeof(seg), dir, 0);
	assert_int_equal(file_size(seg), sizeof(r));
	file_read(seg, 0, r, sizeof(r));

	assert_memory_equal(r, "PXWJ", 4);               /* magic */
	assert_int_equal(r[4], JOURNAL_REC_PROMISE);      /* type */
	assert_int_equal(r[5], JOURNAL_VERSION);
	assert_int_equal(r[6] | r[7], 0);                 /* reserved */
	assert_int_equal(wire_ld32(r + 8), 8);            /* payload length */
	assert_int_equal(wire_ld64(r + 16), 0);           /* segment */
	assert_int_equal(wire_ld64(r + 24), 0);           /* offset */
	assert_int_equal(wire_ld64(r + 32), 1);           /* drain */
	assert_int_equal(wire_ld64(r + 40), 0x1122334455667788ull);
	memcpy(z, r, sizeof(z));
	memset(z + 12, 0, 4);
	assert_int_equal(wire_ld32(r + 12), journal_crc32c(z, sizeof(z)));

	const uint8_t *s = r + PROMISE_REC;
	assert_int_equal(s[4], JOURNAL_REC_SYNC);
	assert_int_equal(wire_ld32(s + 8), 16);
	assert_int_equal(wire_ld64(s + 24), PROMISE_REC);  /* its offset */
	assert_int_equal(wire_ld64(s + 32), 1);           /* the same drain */
	assert_int_equal(wire_ld64(s + 40), 1);           /* seq */
	assert_int_equal(wire_ld64(s + 48), 9);           /* commit */
}

/* ---- the write path ---- */

/* Promise, slots (one overwritten at a higher vballot), syncs; reopen gives the newest. */
static void test_round_trip(void **state)
{
	struct journal_conf c = conf_of(data_dir(state));
	struct journal_replay rp;
	struct journal *j = open_ok(&c, &rp);
	struct node_journal nj;
	uint64_t vb;
	const uint8_t *v;
	uint32_t len;

	assert_int_equal(rp.records, 0);
	assert_int_equal(rp.segments, 1);
	journal_promise(j, 5);
	put_slot(j, 1, 5, 100);
	put_slot(j, 2, 5, 3000);
	journal_sync(j, 1, 0);
	wait_seq(j, 1);
	journal_promise(j, 7);
	put_slot(j, 1, 7, 40);          /* overwrites slot 1 */
	put_slot(j, 3, 7, 16384);
	journal_slot(j, 4, 7, NULL, 0); /* an empty value */
	journal_sync(j, 2, 2);
	wait_seq(j, 2);
	assert_null(journal_failed(j));
	assert_int_equal(journal_close(j), 0);

	j = open_ok(&c, &rp);
	assert_int_equal(rp.promised, 7);
	assert_int_equal(rp.commit, 2);
	assert_int_equal(rp.hi, 4);
	assert_int_equal(rp.last_seq, 2);
	assert_int_equal(rp.records, 9);
	assert_int_equal(rp.slot_records, 5);
	assert_int_equal(rp.slots, 4);
	assert_int_equal(rp.torn_bytes, 0);
	assert_int_equal(journal_poll(j), 0);   /* seqs are this open's */
	journal_as_node(j, &nj);
	assert_int_equal(nj.promised, 7);
	assert_int_equal(nj.commit, 2);
	assert_int_equal(nj.hi, 4);
	check_slot(j, 1, 7, 40);
	check_slot(j, 2, 5, 3000);
	check_slot(j, 3, 7, 16384);
	assert_true(nj.slot(nj.jctx, 4, &vb, &v, &len));
	assert_int_equal(len, 0);
	assert_false(nj.slot(nj.jctx, 5, &vb, &v, &len));
	assert_false(nj.slot(nj.jctx, 0, &vb, &v, &len));
	assert_int_equal(journal_close(j), 0);
}

/* journal_poll reaches the last seq queued, never goes back, never runs ahead. */
static void test_poll_reaches_last_seq(void **state)
{
	struct journal_conf c = conf_of(data_dir(state));
	struct journal *j = open_ok(&c, NULL);
	uint64_t seen = 0;

	for (uint64_t s = 1; s <= 300; s++) {
		put_slot(j, s, 1, 64);
		journal_sync(j, s, s - 1);
		uint64_t p = journal_poll(j);
		assert_true(p >= seen);
		assert_true(p <= s);
		seen = p;
	}
	wait_seq(j, 300);
	assert_int_equal(journal_close(j), 0);
}

/* What is queued when journal_close is called is written before it returns. */
static void test_close_drains(void **state)
{
	struct journal_conf c = conf_of(data_dir(state));
	struct journal_replay rp;
	struct journal *j = open_ok(&c, NULL);

	for (uint64_t s = 1; s <= 50; s++)
		put_slot(j, s, 2, 500);
	journal_sync(j, 1, 50);
	assert_int_equal(journal_close(j), 0);
	j = open_ok(&c, &rp);
	assert_int_equal(rp.slots, 50);
	assert_int_equal(rp.commit, 50);
	check_slot(j, 50, 2, 500);
	assert_int_equal(journal_close(j), 0);
}

/* Syncs queued while the writer is busy share one write and one fdatasync. */
static void test_group_commit(void **state)
{
	struct journal_conf c = conf_of(data_dir(state));
	struct journal *j = open_ok(&c, NULL);
	struct journal_counters k;

	journal_hold_writer(j, true);
	journal_promise(j, 3);
	for (uint64_t s = 1; s <= 100; s++) {
		put_slot(j, s, 3, 200);
		journal_sync(j, s, s - 1);
	}
	sleep_ms(20);
	journal_counters(j, &k);
	assert_int_equal(journal_poll(j), 0);
	assert_int_equal(k.drains, 0);
	journal_hold_writer(j, false);
	wait_seq(j, 100);
	journal_counters(j, &k);
	assert_int_equal(k.drains, 1);
	assert_int_equal(k.syncs, 1);      /* 100 journal_sync calls, one fdatasync */
	assert_int_equal(k.records, 201);
	assert_int_equal(k.bytes, PROMISE_REC + 100u * (slot_rec(200) + SYNC_REC));
	assert_int_equal(k.max_drain_bytes, k.bytes);
	assert_int_equal(journal_close(j), 0);
}

struct release_arg {
	struct journal *j;
	long after_ms;
};

static void *release_later(void *arg)
{
	struct release_arg *a = arg;
	sleep_ms(a->after_ms);
	journal_hold_writer(a->j, false);
	return NULL;
}

/* A ring far smaller than what is queued: the poll loop waits, and everything lands. */
static void test_ring_backpressure(void **state)
{
	struct journal_conf c = conf_of(data_dir(state));
	c.ring_bytes = 64u << 10;
	c.sync = JOURNAL_SYNC_NONE;
	struct journal_replay rp;
	struct journal *j = open_ok(&c, NULL);
	struct journal_counters k;
	struct release_arg a = {j, 50};
	pthread_t t;

	journal_hold_writer(j, true);   /* the ring fills before the writer takes anything */
	assert_int_equal(pthread_create(&t, NULL, release_later, &a), 0);
	for (uint64_t s = 1; s <= 200; s++) {
		put_slot(j, s, 4, 16000);
		journal_sync(j, s, s);
	}
	wait_seq(j, 200);
	assert_int_equal(pthread_join(t, NULL), 0);
	journal_counters(j, &k);
	assert_true(k.ring_full_waits > 0);
	assert_true(k.max_drain_bytes <= c.ring_bytes);
	assert_int_equal(k.records, 400);
	assert_int_equal(journal_close(j), 0);

	j = open_ok(&c, &rp);
	assert_int_equal(rp.slots, 200);
	assert_int_equal(rp.commit, 200);
	for (uint64_t s = 1; s <= 200; s++)
		check_slot(j, s, 4, 16000);
	assert_int_equal(journal_close(j), 0);
}

/* Small segments: records roll over to new files, none spans two, reopen sees all. */
static void test_segment_rollover(void **state)
{
	const char *dir = data_dir(state);
	struct journal_conf c = conf_of(dir);
	c.segment_bytes = 4096;
	c.value_bytes_max = 256;
	c.ring_bytes = 4096;
	struct journal_replay rp;
	struct journal *j = open_ok(&c, NULL);
	struct journal_counters k;
	char seg[128];

	for (uint64_t s = 1; s <= 500; s++) {
		put_slot(j, s, 6, (uint32_t)(s % 200u));
		if (s % 10u == 0) {
			journal_sync(j, s / 10u, s);
			if (s % 50u == 0)
				wait_seq(j, s / 10u);
		}
	}
	wait_seq(j, 50);
	journal_counters(j, &k);
	assert_int_equal(journal_close(j), 0);
	assert_true(k.segments >= 10);
	for (uint64_t n = 0; n < k.segments; n++) {
		seg_path(seg, sizeof(seg), dir, n);
		assert_true(file_size(seg) <= 4096);
		assert_true(file_size(seg) > 0);
	}
	seg_path(seg, sizeof(seg), dir, k.segments);
	assert_int_equal(access(seg, F_OK), -1);

	j = open_ok(&c, &rp);
	assert_int_equal(rp.segments, k.segments);
	assert_int_equal(rp.slots, 500);
	assert_int_equal(rp.hi, 500);
	assert_int_equal(rp.commit, 500);
	assert_int_equal(rp.torn_bytes, 0);
	for (uint64_t s = 1; s <= 500; s++)
		check_slot(j, s, 6, (uint32_t)(s % 200u));
	/* Appending goes on in the last segment. */
	put_slot(j, 501, 6, 10);
	journal_sync(j, 1, 501);
	wait_seq(j, 1);
	assert_int_equal(journal_close(j), 0);
	j = open_ok(&c, &rp);
	assert_int_equal(rp.hi, 501);
	check_slot(j, 501, 6, 10);
	assert_int_equal(journal_close(j), 0);
}

/* ---- replay: torn tails ---- */

/* Three drains: (promise, slot 1, sync 1), (slot 2, sync 2), (slot 3, sync 3). */
static void three_drains(const struct journal_conf *c)
{
	struct journal *j = open_ok(c, NULL);
	journal_promise(j, 9);
	put_slot(j, 1, 9, 100);
	journal_sync(j, 1, 0);
	wait_seq(j, 1);
	put_slot(j, 2, 9, 100);
	journal_sync(j, 2, 1);
	wait_seq(j, 2);
	put_slot(j, 3, 9, 100);
	journal_sync(j, 3, 2);
	wait_seq(j, 3);
	assert_int_equal(journal_close(j), 0);
}

/** After a torn tail was cut: appending works, and a second reopen sees it all. */
static void append_after_cut(const struct journal_conf *c, uint64_t hi)
{
	struct journal_replay rp;
	struct journal *j = open_ok(c, &rp);

	assert_int_equal(rp.torn_bytes, 0);
	put_slot(j, hi + 1u, 10, 77);
	journal_sync(j, 1, hi + 1u);
	wait_seq(j, 1);
	assert_int_equal(journal_close(j), 0);
	j = open_ok(c, &rp);
	assert_int_equal(rp.torn_bytes, 0);
	assert_int_equal(rp.hi, hi + 1u);
	assert_int_equal(rp.commit, hi + 1u);
	for (uint64_t s = 1; s <= hi; s++)
		check_slot(j, s, 9, 100);
	check_slot(j, hi + 1u, 10, 77);
	assert_int_equal(journal_close(j), 0);
}

/* The file ends inside the last record: cut there. */
static void test_torn_tail_truncated(void **state)
{
	const char *dir = data_dir(state);
	struct journal_conf c = conf_of(dir);
	struct journal_replay rp;
	char seg[128];

	three_drains(&c);
	seg_path(seg, sizeof(seg), dir, 0);
	off_t size = file_size(seg);
	assert_int_equal(truncate(seg, size - 20), 0);   /* into sync 3 */

	struct journal *j = open_ok(&c, &rp);
	assert_int_equal(rp.torn_bytes, SYNC_REC - 20u);
	assert_int_equal(rp.torn_offset, size - SYNC_REC);
	assert_non_null(strstr(rp.torn_why, "short"));
	assert_int_equal(rp.commit, 1);          /* sync 3 is gone, slot 3 is not */
	assert_int_equal(rp.hi, 3);
	check_slot(j, 3, 9, 100);
	assert_int_equal(file_size(seg), size - SYNC_REC);
	assert_int_equal(journal_close(j), 0);
	append_after_cut(&c, 3);
}

/* Zeroes after the last record (a file extended, its data never written): cut. */
static void test_torn_tail_zeroes(void **state)
{
	const char *dir = data_dir(state);
	struct journal_conf c = conf_of(dir);
	struct journal_replay rp;
	uint8_t zero[4096] = {0};
	char seg[128];

	three_drains(&c);
	seg_path(seg, sizeof(seg), dir, 0);
	off_t size = file_size(seg);
	file_append(seg, zero, sizeof(zero));

	struct journal *j = open_ok(&c, &rp);
	assert_int_equal(rp.torn_bytes, sizeof(zero));
	assert_int_equal(rp.torn_offset, size);
	assert_string_equal(rp.torn_why, "zeroes");
	assert_int_equal(rp.commit, 2);
	assert_int_equal(journal_close(j), 0);
	append_after_cut(&c, 3);
}

/* A record's first half then garbage (a torn write): cut at that record. */
static void test_torn_tail_garbage(void **state)
{
	const char *dir = data_dir(state);
	struct journal_conf c = conf_of(dir);
	struct journal_replay rp;
	uint8_t rec[SYNC_REC], junk[37];
	char seg[128];

	three_drains(&c);
	seg_path(seg, sizeof(seg), dir, 0);
	off_t size = file_size(seg);
	file_read(seg, size - SYNC_REC, rec, sizeof(rec));
	wire_st64(rec + 24, (uint64_t)size);   /* as if written here, then torn */
	memset(junk, 0xab, sizeof(junk));
	file_append(seg, rec, 30);
	file_append(seg, junk, sizeof(junk));

	struct journal *j = open_ok(&c, &rp);
	assert_int_equal(rp.torn_bytes, 30 + sizeof(junk));
	assert_int_equal(rp.torn_offset, size);
	assert_int_equal(rp.commit, 2);
	assert_int_equal(rp.records, 7);
	assert_int_equal(journal_close(j), 0);
	append_after_cut(&c, 3);
}

/* A hole in the last drain with records of that drain after it: the drain was in
 * flight (the disk wrote its pages out of order), so it is cut from the hole on. */
static void test_torn_hole_in_last_drain(void **state)
{
	const char *dir = data_dir(state);
	struct journal_conf c = conf_of(dir);
	struct journal_replay rp;
	uint8_t zero[256] = {0};
	char seg[128];

	struct journal *j = open_ok(&c, NULL);
	journal_promise(j, 9);
	put_slot(j, 1, 9, 100);
	journal_sync(j, 1, 0);
	wait_seq(j, 1);
	journal_hold_writer(j, true);   /* one drain: slots 2, 3, 4 and sync 2 */
	put_slot(j, 2, 9, 100);
	put_slot(j, 3, 9, 100);
	put_slot(j, 4, 9, 100);
	journal_sync(j, 2, 1);
	journal_hold_writer(j, false);
	wait_seq(j, 2);
	assert_int_equal(journal_close(j), 0);

	seg_path(seg, sizeof(seg), dir, 0);
	off_t size = file_size(seg);
	off_t hole = PROMISE_REC + slot_rec(100) + SYNC_REC + slot_rec(100);  /* slot 3 */
	file_write(seg, hole, zero, slot_rec(100));

	j = open_ok(&c, &rp);
	assert_int_equal(rp.torn_offset, hole);
	assert_int_equal(rp.torn_bytes, size - hole);
	assert_int_equal(rp.hi, 2);       /* slot 2 landed before the hole */
	assert_int_equal(rp.commit, 0);   /* sync 2 is cut with the rest of its drain */
	assert_int_equal(journal_close(j), 0);
	append_after_cut(&c, 2);
}

/* ---- replay: corruption ---- */

/* One byte flipped in an early record, valid records of later drains after it. */
static void test_corruption_in_middle(void **state)
{
	const char *dir = data_dir(state);
	struct journal_conf c = conf_of(dir);
	char seg[128], want[64];
	uint8_t b;

	three_drains(&c);
	seg_path(seg, sizeof(seg), dir, 0);
	off_t at = PROMISE_REC + JOURNAL_HDR_BYTES + JOURNAL_SLOT_FIXED_BYTES + 3;  /* slot 1 */
	file_read(seg, at, &b, 1);
	b ^= 0x10;
	file_write(seg, at, &b, 1);

	snprintf(want, sizeof(want), "journal-0000000000000000: bad record at offset %u ",
		 PROMISE_REC);
	open_fails(&c, -EBADMSG, want);
	open_fails(&c, -EBADMSG, "checksum mismatch");
	open_fails(&c, -EBADMSG, "rebuild this data dir from the other replicas");
	/* It is refused every time, and nothing was cut. */
	assert_int_equal(file_size(seg), PROMISE_REC + 3u * (slot_rec(100) + SYNC_REC));
}

/* A valid record copied to another offset, or to another segment, is caught. */
static void test_misdirected_record(void **state)
{
	const char *dir = data_dir(state);
	struct journal_conf c = conf_of(dir);
	uint8_t rec[512];
	char seg[128], want[96];

	three_drains(&c);   /* promise, slot 1 at 48, sync 1, slot 2, ... */
	seg_path(seg, sizeof(seg), dir, 0);
	uint32_t r = slot_rec(100);
	off_t slot1 = PROMISE_REC, slot2 = PROMISE_REC + r + SYNC_REC;
	file_read(seg, slot1, rec, r);
	file_write(seg, slot2, rec, r);   /* same size: the records after still line up */
	snprintf(want, sizeof(want), "bad record at offset %lld (misdirected: a valid record "
		 "for segment 0 offset %u)", (long long)slot2, PROMISE_REC);
	open_fails(&c, -EBADMSG, want);
}

static void test_misdirected_segment(void **state)
{
	const char *dir = data_dir(state);
	struct journal_conf c = conf_of(dir);
	c.segment_bytes = 1024;
	c.value_bytes_max = 256;
	c.ring_bytes = 4096;
	uint8_t rec[512];
	char seg0[128], seg1[128];

	struct journal *j = open_ok(&c, NULL);
	for (uint64_t s = 1; s <= 30; s++) {
		put_slot(j, s, 9, 100);
		journal_sync(j, s, s);
		wait_seq(j, s);
	}
	struct journal_counters k;
	journal_counters(j, &k);
	assert_int_equal(journal_close(j), 0);
	assert_true(k.segments >= 3);
	/* Segment 0's first record over segment 1's first: right bytes, wrong place. */
	seg_path(seg0, sizeof(seg0), dir, 0);
	seg_path(seg1, sizeof(seg1), dir, 1);
	file_read(seg0, 0, rec, slot_rec(100));
	file_write(seg1, 0, rec, slot_rec(100));
	open_fails(&c, -EBADMSG, "journal-0000000000000001: bad record at offset 0 "
		   "(misdirected: a valid record for segment 0 offset 0)");
}

/* Twenty synced slots over several 1 KiB segments, closed; c is their configuration. */
static struct journal_conf small_segments_written(const char *dir)
{
	struct journal_conf c = conf_of(dir);
	c.segment_bytes = 1024;
	c.value_bytes_max = 256;
	c.ring_bytes = 4096;
	struct journal *j = open_ok(&c, NULL);
	for (uint64_t s = 1; s <= 20; s++) {
		put_slot(j, s, 9, 100);
		journal_sync(j, s, s);
	}
	wait_seq(j, 20);
	assert_int_equal(journal_close(j), 0);
	return c;
}

/* A bad tail in a segment that is not the last is corruption, not a torn write. */
static void test_bad_tail_not_last_segment(void **state)
{
	const char *dir = data_dir(state);
	struct journal_conf c = small_segments_written(dir);
	char seg[128];

	seg_path(seg, sizeof(seg), dir, 0);
	off_t size = file_size(seg);
	assert_int_equal(truncate(seg, size - 8), 0);
	open_fails(&c, -EBADMSG, "in a segment that is not the last");
}

static void test_missing_segment(void **state)
{
	const char *dir = data_dir(state);
	struct journal_conf c = small_segments_written(dir);
	char seg[128];

	seg_path(seg, sizeof(seg), dir, 1);
	assert_int_equal(unlink(seg), 0);
	open_fails(&c, -EBADMSG, "journal-0000000000000001 is missing");
	/* The first one too. */
	seg_path(seg, sizeof(seg), dir, 0);
	assert_int_equal(unlink(seg), 0);
	open_fails(&c, -EBADMSG, "journal-0000000000000000 is missing");
}

/* ---- the data dir ---- */

/* Two opens of one data dir: the second fails while the first holds it. */
static void test_lock(void **state)
{
	const char *dir = data_dir(state);
	struct journal_conf c = conf_of(dir);
	char want[256];

	struct journal *j = open_ok(&c, NULL);
	snprintf(want, sizeof(want), "data dir %s is in use: another paxwired holds its LOCK",
		 dir);
	open_fails(&c, -EBUSY, want);
	assert_int_equal(journal_close(j), 0);
	j = open_ok(&c, NULL);
	assert_int_equal(journal_close(j), 0);
}

/* Bad dirs and bad configurations: a clear error, nothing left open or running. */
static void test_open_failures(void **state)
{
	struct tdir *t = *state;
	char file[128], below[256], want[320];
	struct journal_conf c;

	snprintf(file, sizeof(file), "%s/a-file", t->path);
	int fd = open(file, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	c = conf_of(file);
	snprintf(want, sizeof(want), "data dir %s: Not a directory", file);
	open_fails(&c, -ENOTDIR, want);

	snprintf(below, sizeof(below), "%s/sub", file);
	c = conf_of(below);
	snprintf(want, sizeof(want), "cannot create data dir %s: Not a directory", below);
	open_fails(&c, -ENOTDIR, want);

	c = conf_of(data_dir(state));
	c.ring_bytes = 100000;
	open_fails(&c, -EINVAL, "ring_bytes 100000 is not a power of two");
	c.ring_bytes = 8192;
	open_fails(&c, -EINVAL, "cannot hold two records");
	c.ring_bytes = 0;
	c.segment_bytes = 1000;
	open_fails(&c, -EINVAL, "segment_bytes 1000 is below the largest record");
	c.segment_bytes = 100;
	c.value_bytes_max = 1;
	open_fails(&c, -EINVAL, "segment_bytes 100 is below 184 bytes");
	c.segment_bytes = 0;
	c.value_bytes_max = 0;
	c.dir = "";
	open_fails(&c, -EINVAL, "no data dir");

	/* A stray journal-* file is not skipped. */
	c = conf_of(data_dir(state));
	struct journal *j = open_ok(&c, NULL);
	assert_int_equal(journal_close(j), 0);
	snprintf(file, sizeof(file), "%s/journal-old", data_dir(state));
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	open_fails(&c, -EBADMSG, "unexpected file");
}

/* A write fails (the file size limit, as a full disk would): the writer stops, poll
 * stays at the last good seq, the poll loop is not blocked, and the torn write is cut
 * at the next open. */
static void test_writer_failure(void **state)
{
	const char *dir = data_dir(state);
	struct journal_conf c = conf_of(dir);
	c.ring_bytes = 64u << 10;
	struct journal_replay rp;
	struct rlimit old, lim;
	char seg[128];

	struct journal *j = open_ok(&c, NULL);
	journal_promise(j, 2);
	put_slot(j, 1, 2, 1000);
	journal_sync(j, 1, 1);
	wait_seq(j, 1);
	seg_path(seg, sizeof(seg), dir, 0);
	off_t size = file_size(seg);

	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)size + 1000u;
	void (*sig)(int) = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	put_slot(j, 2, 2, 16000);
	journal_sync(j, 2, 2);
	for (int i = 0; i < 10000 && journal_failed(j) == NULL; i++)
		sleep_ms(1);
	/* The poll loop goes on (records dropped): far more than the ring holds. */
	for (uint64_t s = 3; s <= 40; s++) {
		put_slot(j, s, 2, 16000);
		journal_sync(j, s, s);
	}
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, sig);

	const char *why = journal_failed(j);
	assert_non_null(why);
	assert_non_null(strstr(why, "journal: write "));
	assert_non_null(strstr(why, "File too large"));
	assert_non_null(strstr(why, "must stop"));
	assert_int_equal(journal_poll(j), 1);
	assert_int_equal(journal_close(j), -EFBIG);

	j = open_ok(&c, &rp);
	assert_int_equal(rp.torn_bytes, 1000);
	assert_int_equal(rp.hi, 1);
	assert_int_equal(rp.commit, 1);
	check_slot(j, 1, 2, 1000);
	assert_int_equal(journal_close(j), 0);
}

/* ---- compaction ---- */

/** Waits (10 s at most) for the writer to have carried out n compactions. */
static void wait_compactions(struct journal *j, uint64_t n)
{
	struct journal_counters k;
	for (int i = 0; i < 10000; i++) {
		journal_counters(j, &k);
		if (k.compactions >= n)
			break;
		sleep_ms(1);
	}
	assert_int_equal(k.compactions, n);
}

static struct journal_conf small_conf(const char *dir)
{
	struct journal_conf c = conf_of(dir);
	c.segment_bytes = 1024;
	c.value_bytes_max = 256;
	c.ring_bytes = 4096;
	return c;
}

/** Asserts segments first..last exist, those below first do not, nor last + 1. */
static void segments_are(const char *dir, uint64_t first, uint64_t last)
{
	char seg[128];
	for (uint64_t n = 0; n <= last + 1u; n++) {
		seg_path(seg, sizeof(seg), dir, n);
		if ((access(seg, F_OK) == 0) != (n >= first && n <= last))
			print_error("segment %" PRIu64 ": %s (want %" PRIu64 "..%" PRIu64 ")\n",
				    n, access(seg, F_OK) == 0 ? "there" : "gone", first, last);
		assert_int_equal(access(seg, F_OK) == 0, n >= first && n <= last);
	}
}

/** Promise 9 first, then slots 1..n (100 bytes, vballot 9) each with a sync (seq s,
 *  commit s), over 1 KiB segments; left open. */
static struct journal *promise_then_slots(const struct journal_conf *c, uint64_t n)
{
	struct journal *j = open_ok(c, NULL);
	journal_promise(j, 9);
	for (uint64_t s = 1; s <= n; s++) {
		put_slot(j, s, 9, 100);
		journal_sync(j, s, s);
	}
	wait_seq(j, n);
	return j;
}

/* Compaction deletes the segments below the floor; the promise (only in segment 0) is
 * written again first; every slot above the floor is still there after a reopen, and
 * appending goes on. */
static void test_compact(void **state)
{
	const char *dir = data_dir(state);
	struct journal_conf c = small_conf(dir);
	struct journal_counters k;
	struct journal_replay rp;
	char path[128];

	struct journal *j = promise_then_slots(&c, 60);
	journal_counters(j, &k);
	uint64_t last = k.segments - 1u;
	assert_true(last >= 10);
	journal_compact(j, 30);
	wait_compactions(j, 1);
	journal_counters(j, &k);
	uint64_t deleted = k.segments_deleted;
	assert_true(deleted >= 5);
	assert_int_equal(k.compact_rewrites, 1);     /* the promise; sync 60 is in the last */
	segments_are(dir, deleted, last);
	snprintf(path, sizeof(path), "%s/compacted", dir);
	assert_int_equal(file_size(path), JOURNAL_COMPACTED_BYTES);
	for (uint64_t s = 61; s <= 70; s++) {
		put_slot(j, s, 9, 100);
		journal_sync(j, s, s);
	}
	wait_seq(j, 70);
	assert_int_equal(journal_close(j), 0);

	j = open_ok(&c, &rp);
	assert_int_equal(rp.promised, 9);
	assert_int_equal(rp.commit, 70);
	assert_int_equal(rp.hi, 70);
	assert_int_equal(rp.floor, 30);
	assert_int_equal(rp.first_segment, deleted);
	assert_int_equal(rp.leftover_segments, 0);
	assert_int_equal(rp.torn_bytes, 0);
	assert_true(rp.lo > 0 && rp.lo <= 31);
	assert_int_equal(rp.slots, 70 - rp.lo + 1u);
	for (uint64_t s = rp.lo; s <= 70; s++)
		check_slot(j, s, 9, 100);
	struct node_journal nj;
	uint64_t vb;
	const uint8_t *v;
	uint32_t len;
	journal_as_node(j, &nj);
	assert_false(nj.slot(nj.jctx, rp.lo - 1u, &vb, &v, &len));
	assert_int_equal(nj.promised, 9);
	assert_int_equal(nj.commit, 70);
	assert_int_equal(journal_close(j), 0);
}

/* The highest commit only in segments that go: it is written again first; so is the
 * promise. With every slot at or below the floor, hi falls to what is held (none). */
static void test_compact_rewrites_commit(void **state)
{
	const char *dir = data_dir(state);
	struct journal_conf c = small_conf(dir);
	struct journal_counters k;
	struct journal_replay rp;

	struct journal *j = promise_then_slots(&c, 40);
	for (uint64_t s = 41; s <= 80; s++)   /* syncs with no commit point: segments of */
		journal_sync(j, s, 0);          /* their own, the last one among them */
	wait_seq(j, 80);
	journal_counters(j, &k);
	uint64_t last = k.segments - 1u;
	journal_compact(j, 40);
	wait_compactions(j, 1);
	journal_counters(j, &k);
	assert_int_equal(k.segments_deleted, last);   /* all but the current one */
	assert_int_equal(k.compact_rewrites, 2);
	segments_are(dir, last, last);
	assert_int_equal(journal_close(j), 0);

	j = open_ok(&c, &rp);
	assert_int_equal(rp.promised, 9);
	assert_int_equal(rp.commit, 40);
	assert_int_equal(rp.last_seq, 80);
	assert_int_equal(rp.floor, 40);
	assert_int_equal(rp.slots, 0);
	assert_int_equal(rp.hi, 0);
	assert_int_equal(rp.lo, 0);
	assert_int_equal(journal_close(j), 0);
}

/* Nothing to delete (one segment: the current one is never deleted): counted, no
 * marker written. */
static void test_compact_nothing(void **state)
{
	const char *dir = data_dir(state);
	struct journal_conf c = conf_of(dir);
	struct journal_counters k;
	struct journal_replay rp;
	char path[128];

	struct journal *j = promise_then_slots(&c, 10);
	journal_compact(j, UINT64_MAX);
	wait_compactions(j, 1);
	journal_counters(j, &k);
	assert_int_equal(k.segments_deleted, 0);
	assert_int_equal(k.compact_rewrites, 0);
	assert_int_equal(journal_close(j), 0);
	snprintf(path, sizeof(path), "%s/compacted", dir);
	assert_int_equal(access(path, F_OK), -1);
	j = open_ok(&c, &rp);
	assert_int_equal(rp.slots, 10);
	assert_int_equal(rp.floor, 0);
	assert_int_equal(journal_close(j), 0);
}

/** A journal compacted below 30 over 1 KiB segments, closed: returns its first
 *  segment; *last is its last. */
static uint64_t compacted_written(const struct journal_conf *c, uint64_t *last)
{
	struct journal_counters k;
	struct journal *j = promise_then_slots(c, 60);
	journal_compact(j, 30);
	wait_compactions(j, 1);
	journal_counters(j, &k);
	assert_int_equal(journal_close(j), 0);
	*last = k.segments - 1u;
	assert_true(k.segments_deleted >= 2);
	assert_true(*last >= k.segments_deleted + 3u);
	return k.segments_deleted;
}

/* Only a prefix may be missing, and only the one the marker names: a hole in the
 * middle, the marker's first segment gone, or the marker gone, are all refused. */
static void test_compact_missing_refused(void **state)
{
	const char *dir = data_dir(state);
	struct journal_conf c = small_conf(dir);
	char seg[128], marker[128], want[160], tmp[160];
	uint64_t last, first = compacted_written(&c, &last);
	uint8_t m[JOURNAL_COMPACTED_BYTES];
	off_t size;

	/* A hole in the middle. */
	seg_path(seg, sizeof(seg), dir, first + 2u);
	size = file_size(seg);
	uint8_t *keep = malloc((size_t)size);
	assert_non_null(keep);
	file_read(seg, 0, keep, (size_t)size);
	assert_int_equal(unlink(seg), 0);
	snprintf(want, sizeof(want), "journal-%016" PRIx64 " is missing (the segments must be "
		 "numbered from %" PRIu64 ", the first segment compacted names", first + 2u,
		 first);
	open_fails(&c, -EBADMSG, want);
	int fd = open(seg, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	file_write(seg, 0, keep, (size_t)size);
	free(keep);

	/* The marker's first segment. */
	seg_path(seg, sizeof(seg), dir, first);
	snprintf(tmp, sizeof(tmp), "%s/../segment.away", dir);
	assert_int_equal(rename(seg, tmp), 0);
	snprintf(want, sizeof(want), "journal-%016" PRIx64 " is missing", first);
	open_fails(&c, -EBADMSG, want);
	assert_int_equal(rename(tmp, seg), 0);

	/* A corrupt marker. */
	snprintf(marker, sizeof(marker), "%s/compacted", dir);
	file_read(marker, 0, m, sizeof(m));
	m[9] ^= 1;
	file_write(marker, 0, m, sizeof(m));
	open_fails(&c, -EBADMSG, "compacted is corrupt (checksum mismatch");
	m[9] ^= 1;
	file_write(marker, 0, m, sizeof(m));

	/* No marker: the prefix is lost data, not a compacted journal. */
	snprintf(tmp, sizeof(tmp), "%s/../marker.away", dir);
	assert_int_equal(rename(marker, tmp), 0);
	open_fails(&c, -EBADMSG, "journal-0000000000000000 is missing (the segments must be "
		   "numbered from 0 without a gap, and no compacted file");
	assert_int_equal(rename(tmp, marker), 0);

	struct journal_replay rp;
	struct journal *j = open_ok(&c, &rp);
	assert_int_equal(rp.first_segment, first);
	assert_int_equal(rp.commit, 60);
	assert_int_equal(journal_close(j), 0);
}

/* A compaction cut by a crash after its marker, before it had deleted every segment
 * (and a marker .tmp left from another): open finishes the job. */
static void test_compact_interrupted(void **state)
{
	const char *dir = data_dir(state);
	struct journal_conf c = small_conf(dir);
	struct journal_replay rp;
	char seg[2][128], tmp[128];
	uint8_t *copy[2];
	off_t size[2];

	struct journal *j = promise_then_slots(&c, 60);
	for (int i = 0; i < 2; i++) {
		seg_path(seg[i], sizeof(seg[i]), dir, (uint64_t)i);
		size[i] = file_size(seg[i]);
		copy[i] = malloc((size_t)size[i]);
		assert_non_null(copy[i]);
		file_read(seg[i], 0, copy[i], (size_t)size[i]);
	}
	journal_compact(j, 30);
	wait_compactions(j, 1);
	struct journal_counters k;
	journal_counters(j, &k);
	assert_int_equal(journal_close(j), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(access(seg[i], F_OK), -1);
		int fd = open(seg[i], O_CREAT | O_WRONLY, 0600);
		assert_true(fd >= 0);
		close(fd);
		file_write(seg[i], 0, copy[i], (size_t)size[i]);
		free(copy[i]);
	}
	snprintf(tmp, sizeof(tmp), "%s/compacted.tmp", dir);
	int fd = open(tmp, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);

	j = open_ok(&c, &rp);
	assert_int_equal(rp.leftover_segments, 2);
	assert_int_equal(rp.first_segment, k.segments_deleted);
	assert_int_equal(rp.promised, 9);
	assert_int_equal(rp.commit, 60);
	for (uint64_t s = 31; s <= 60; s++)
		check_slot(j, s, 9, 100);
	assert_int_equal(access(seg[0], F_OK), -1);
	assert_int_equal(access(seg[1], F_OK), -1);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(journal_close(j), 0);
}

/** test_compact_while_writing's slots: every one above floor (up to hi) is held, with
 *  its newest value (slot s - 3 overwritten when s is a multiple of 7); those from lo
 *  up to the floor may be gone, but one that is held has its newest value too (only
 *  a prefix of the segments goes, so an older record never outlives a newer). */
static void newest_above(struct journal *j, uint64_t lo, uint64_t floor, uint64_t hi)
{
	struct node_journal nj;
	uint64_t vb;
	const uint8_t *v;
	uint32_t len;

	journal_as_node(j, &nj);
	for (uint64_t s = lo; s <= hi; s++) {
		bool over = (s + 3u) % 7u == 0 && s + 3u <= 600;
		if (s <= floor && !nj.slot(nj.jctx, s, &vb, &v, &len))
			continue;
		check_slot(j, s, over ? 10 : 9, over ? 60 : 100);
	}
}

/* Compactions queued among the writes, some in the middle of a held drain: the writes
 * never wait for them, and after reopening (and compacting again) every slot above the
 * floor is there with its newest value. */
static void test_compact_while_writing(void **state)
{
	const char *dir = data_dir(state);
	struct journal_conf c = small_conf(dir);
	struct journal_counters k;
	struct journal_replay rp;
	uint64_t compactions = 0;

	struct journal *j = open_ok(&c, NULL);
	journal_promise(j, 9);
	for (uint64_t s = 1; s <= 600; s++) {
		if (s % 100u == 50u) {
			/* A compaction inside one drain (the ring empty first: held, the
			 * writer frees nothing). */
			wait_seq(j, s - 1u);
			journal_hold_writer(j, true);
		}
		put_slot(j, s, 9, 100);
		if (s % 7u == 0)
			put_slot(j, s - 3u, 10, 60);   /* overwrites: the newest must win */
		journal_sync(j, s, s);
		if (s % 40u == 0) {
			journal_compact(j, s - 20u);
			compactions++;
		}
		if (s % 100u == 55u)
			journal_hold_writer(j, false);
	}
	wait_seq(j, 600);
	wait_compactions(j, compactions);
	journal_counters(j, &k);
	assert_null(journal_failed(j));
	assert_true(k.segments_deleted > 100);
	uint64_t deleted = k.segments_deleted;
	assert_int_equal(journal_close(j), 0);

	j = open_ok(&c, &rp);
	assert_int_equal(rp.floor, 580);
	assert_int_equal(rp.first_segment, deleted);
	assert_int_equal(rp.promised, 9);
	assert_int_equal(rp.commit, 600);
	assert_int_equal(rp.hi, 600);
	newest_above(j, rp.lo, rp.floor, 600);
	/* Compacting again in the next process, then a third open. */
	journal_compact(j, 595);
	wait_compactions(j, 1);
	put_slot(j, 601, 9, 100);
	journal_sync(j, 1, 601);
	wait_seq(j, 1);
	assert_int_equal(journal_close(j), 0);
	j = open_ok(&c, &rp);
	assert_int_equal(rp.floor, 595);
	assert_int_equal(rp.promised, 9);
	assert_int_equal(rp.commit, 601);
	assert_true(rp.lo <= 596);
	newest_above(j, rp.lo, rp.floor, 600);
	check_slot(j, 601, 9, 100);
	assert_int_equal(journal_close(j), 0);
}

/* ---- Repair (docs/storage.md, "Repair") ---- */

static bool exists(const char *dir, const char *name)
{
	char path[192];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

/** With repair: the damaged journal is moved, unchanged, into damaged-1, `repairing`
 *  says a repair is due until the journal holds a crash vector again, and what was
 *  damaged is reported (segment, offset, why). */
static void repaired(const char *dir, struct journal_conf *c, off_t at, const char *why,
		     const uint8_t *damaged, off_t damaged_size)
{
	struct journal_replay rp;
	char aside[192];
	uint8_t copy[4096];

	c->repair = true;
	struct journal *j = open_ok(c, &rp);
	assert_true(rp.repair);
	assert_true(rp.damaged);
	assert_int_equal(rp.damaged_segment, 0);
	assert_int_equal(rp.damaged_offset, at);
	if (strstr(rp.damage, why) == NULL || strstr(rp.damage, "journal-0000000000000000") == NULL)
		print_error("damage: %s (want \"%s\")\n", rp.damage, why);
	assert_non_null(strstr(rp.damage, why));
	assert_string_equal(rp.aside, "damaged-1");
	/* Nothing of it is replayed: no promise, no slot, no commit. */
	assert_int_equal(rp.records, 0);
	assert_int_equal(rp.promised, 0);
	assert_int_equal(rp.commit, 0);
	assert_int_equal(rp.hi, 0);
	assert_int_equal(rp.n_inc, 0);
	struct node_journal nj;
	uint64_t vb;
	const uint8_t *v;
	uint32_t l;
	journal_as_node(j, &nj);
	assert_false(nj.slot(nj.jctx, 1, &vb, &v, &l));
	assert_int_equal(journal_close(j), 0);
	/* The files are kept, byte for byte, for the operator. */
	snprintf(aside, sizeof(aside), "%s/damaged-1/journal-0000000000000000", dir);
	assert_int_equal(file_size(aside), damaged_size);
	assert_true(damaged_size <= (off_t)sizeof(copy));
	file_read(aside, 0, copy, (size_t)damaged_size);
	assert_memory_equal(copy, damaged, (size_t)damaged_size);
	assert_true(exists(dir, JOURNAL_REPAIRING_NAME));
	assert_true(exists(dir, "journal-0000000000000000"));

	/* A restart before the recovery completed: the repair is still due, nothing new
	 * is damaged. */
	j = open_ok(c, &rp);
	assert_true(rp.repair);
	assert_false(rp.damaged);
	/* The recovery completes: the core writes its crash vector with its first request. */
	uint32_t inc[3] = {0, 4, 0};
	journal_promise(j, 0x305);
	journal_incarnation(j, inc, 3);
	put_slot(j, 7, 0x305, 50);
	journal_sync(j, 1, 6);
	wait_seq(j, 1);
	/* Gone as soon as that is durable, before the sync is reported. */
	assert_false(exists(dir, JOURNAL_REPAIRING_NAME));
	assert_int_equal(journal_close(j), 0);
	j = open_ok(c, &rp);
	assert_false(rp.repair);
	assert_false(rp.damaged);
	assert_false(exists(dir, JOURNAL_REPAIRING_NAME));
	assert_int_equal(rp.promised, 0x305);
	assert_int_equal(rp.commit, 6);
	assert_int_equal(rp.n_inc, 3);
	assert_int_equal(rp.incarnation[1], 4);
	journal_as_node(j, &nj);
	assert_int_equal(nj.n_inc, 3);
	assert_int_equal(nj.incarnation[1], 4);
	check_slot(j, 7, 0x305, 50);
	assert_int_equal(journal_close(j), 0);
	/* The damaged copy is still there; the next damage goes to damaged-2. */
	assert_true(exists(dir, "damaged-1"));
}

/* A flipped byte in a record in the middle: set aside and repaired, never skipped. */
static void test_repair_corrupted_middle(void **state)
{
	const char *dir = data_dir(state);
	struct journal_conf c = conf_of(dir);
	char seg[128];
	uint8_t b, all[4096];

	three_drains(&c);
	seg_path(seg, sizeof(seg), dir, 0);
	off_t at = PROMISE_REC + JOURNAL_HDR_BYTES + JOURNAL_SLOT_FIXED_BYTES + 3;  /* slot 1 */
	file_read(seg, at, &b, 1);
	b ^= 0x10;
	file_write(seg, at, &b, 1);
	off_t size = file_size(seg);
	file_read(seg, 0, all, (size_t)size);
	/* Without repair: refused as before, and nothing moved. */
	open_fails(&c, -EBADMSG, "checksum mismatch");
	assert_false(exists(dir, "damaged-1"));
	assert_false(exists(dir, JOURNAL_REPAIRING_NAME));
	repaired(dir, &c, PROMISE_REC, "checksum mismatch", all, size);
}

/* A valid record written over another one (a misdirected write): the overwritten
 * record is lost, the copy reads as misdirected: repaired, never skipped. */
static void test_repair_misdirected_middle(void **state)
{
	const char *dir = data_dir(state);
	struct journal_conf c = conf_of(dir);
	uint8_t rec[512], all[4096];
	char seg[128];

	three_drains(&c);
	seg_path(seg, sizeof(seg), dir, 0);
	uint32_t r = slot_rec(100);
	off_t slot1 = PROMISE_REC, slot2 = PROMISE_REC + r + SYNC_REC;
	file_read(seg, slot1, rec, r);
	file_write(seg, slot2, rec, r);
	off_t size = file_size(seg);
	file_read(seg, 0, all, (size_t)size);
	repaired(dir, &c, slot2, "misdirected", all, size);
}

/* A missing segment is damage a repair heals too (every segment goes aside). */
static void test_repair_missing_segment(void **state)
{
	const char *dir = data_dir(state);
	struct journal_conf c = conf_of(dir);
	c.segment_bytes = 1024;
	c.value_bytes_max = 256;
	c.ring_bytes = 4096;
	char seg1[128], aside[192];
	struct journal_replay rp;

	struct journal *j = open_ok(&c, NULL);
	for (uint64_t s = 1; s <= 30; s++) {
		put_slot(j, s, 9, 100);
		journal_sync(j, s, s);
		wait_seq(j, s);
	}
	assert_int_equal(journal_close(j), 0);
	seg_path(seg1, sizeof(seg1), dir, 1);
	assert_int_equal(unlink(seg1), 0);
	c.repair = true;
	j = open_ok(&c, &rp);
	assert_true(rp.repair && rp.damaged);
	assert_int_equal(rp.damaged_segment, 1);
	assert_non_null(strstr(rp.damage, "is missing"));
	assert_int_equal(rp.records, 0);
	assert_int_equal(journal_close(j), 0);
	snprintf(aside, sizeof(aside), "%s/damaged-1/journal-0000000000000002", dir);
	assert_true(file_size(aside) > 0);
	assert_false(exists(dir, "journal-0000000000000002"));
}

/* A torn tail is still cut, not repaired: the last drain was never reported durable. */
static void test_repair_not_for_torn_tail(void **state)
{
	const char *dir = data_dir(state);
	struct journal_conf c = conf_of(dir);
	struct journal_replay rp;
	char seg[128];

	three_drains(&c);
	seg_path(seg, sizeof(seg), dir, 0);
	assert_int_equal(truncate(seg, file_size(seg) - 5), 0);
	c.repair = true;
	struct journal *j = open_ok(&c, &rp);
	assert_false(rp.repair);
	assert_false(rp.damaged);
	assert_true(rp.torn_bytes > 0);
	assert_int_equal(rp.promised, 9);
	assert_int_equal(journal_close(j), 0);
	assert_false(exists(dir, JOURNAL_REPAIRING_NAME));
}

/* The crash vector: the newest comes back, and compaction writes it again before
 * deleting its segment. */
static void test_incarnation_kept(void **state)
{
	const char *dir = data_dir(state);
	struct journal_conf c = conf_of(dir);
	c.segment_bytes = 1024;
	c.value_bytes_max = 256;
	c.ring_bytes = 4096;
	struct journal_replay rp;
	uint32_t v1[5] = {1, 0, 2, 0, 0}, v2[5] = {1, 3, 2, 0, 0};

	struct journal *j = open_ok(&c, NULL);
	journal_promise(j, 0x101);
	journal_incarnation(j, v1, 5);
	journal_incarnation(j, v2, 5);
	for (uint64_t s = 1; s <= 40; s++) {
		put_slot(j, s, 0x101, 100);
		journal_sync(j, s, s);
		wait_seq(j, s);
	}
	journal_compact(j, 30);
	journal_sync(j, 41, 40);
	wait_seq(j, 41);
	struct journal_counters k;
	journal_counters(j, &k);
	assert_true(k.segments_deleted > 0);
	assert_int_equal(journal_close(j), 0);
	j = open_ok(&c, &rp);
	assert_true(rp.first_segment > 0);
	assert_int_equal(rp.n_inc, 5);
	assert_memory_equal(rp.incarnation, v2, sizeof(v2));
	assert_int_equal(rp.promised, 0x101);
	assert_false(rp.repair);
	assert_int_equal(journal_close(j), 0);
}

/** Rewrites the record at off of path as version 1 (its checksum recomputed). */
static void make_v1(const char *path, off_t off, uint32_t size)
{
	uint8_t rec[512];
	assert_true(size <= sizeof(rec));
	file_read(path, off, rec, size);
	rec[5] = 1;
	wire_st32(rec + 12, 0);
	wire_st32(rec + 12, journal_crc32c(rec, size));
	file_write(path, off, rec, size);
}

/* A version-1 journal (before the crash vector) replays as it did; a version-1 record
 * of a type it did not have is refused. */
static void test_version1_replayed(void **state)
{
	const char *dir = data_dir(state);
	struct journal_conf c = conf_of(dir);
	struct journal_replay rp;
	char seg[128];
	uint32_t inc[3] = {0, 1, 0};

	three_drains(&c);
	seg_path(seg, sizeof(seg), dir, 0);
	uint32_t r = slot_rec(100);
	for (int d = 0; d < 3; d++) {
		off_t o = d == 0 ? 0 : PROMISE_REC + (off_t)d * (r + SYNC_REC);
		if (d == 0) {
			make_v1(seg, 0, PROMISE_REC);
			o = PROMISE_REC;
		}
		make_v1(seg, o, r);
		make_v1(seg, o + r, SYNC_REC);
	}
	struct journal *j = open_ok(&c, &rp);
	assert_int_equal(rp.records, 7);
	assert_int_equal(rp.promised, 9);
	assert_int_equal(rp.commit, 2);
	assert_int_equal(rp.n_inc, 0);
	check_slot(j, 3, 9, 100);
	/* New records are version 2, after the old ones. */
	journal_incarnation(j, inc, 3);
	journal_sync(j, 4, 3);
	wait_seq(j, 4);
	assert_int_equal(journal_close(j), 0);
	off_t at = file_size(seg) - (off_t)(SYNC_REC + JOURNAL_HDR_BYTES + 16u);
	uint8_t h[8];
	file_read(seg, at, h, sizeof(h));
	assert_int_equal(h[4], JOURNAL_REC_INCARNATION);
	assert_int_equal(h[5], 2);
	j = open_ok(&c, &rp);
	assert_int_equal(rp.n_inc, 3);
	assert_int_equal(rp.incarnation[1], 1);
	assert_int_equal(journal_close(j), 0);
	/* The INCARNATION record marked version 1: a type version 1 did not have. */
	make_v1(seg, at, JOURNAL_HDR_BYTES + 16u);
	struct journal *j2 = open_ok(&c, &rp);   /* the last drain: cut as torn */
	assert_int_equal(rp.n_inc, 0);
	assert_non_null(strstr(rp.torn_why, "bad header (type 4, version 1)"));
	assert_int_equal(journal_close(j2), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_check_value),
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_format),
		T(test_round_trip),
		T(test_poll_reaches_last_seq),
		T(test_close_drains),
		T(test_group_commit),
		T(test_ring_backpressure),
		T(test_segment_rollover),
		T(test_torn_tail_truncated),
		T(test_torn_tail_zeroes),
		T(test_torn_tail_garbage),
		T(test_torn_hole_in_last_drain),
		T(test_corruption_in_middle),
		T(test_misdirected_record),
		T(test_misdirected_segment),
		T(test_bad_tail_not_last_segment),
		T(test_missing_segment),
		T(test_lock),
		T(test_open_failures),
		T(test_writer_failure),
		T(test_compact),
		T(test_compact_rewrites_commit),
		T(test_compact_nothing),
		T(test_compact_missing_refused),
		T(test_compact_interrupted),
		T(test_compact_while_writing),
		T(test_repair_corrupted_middle),
		T(test_repair_misdirected_middle),
		T(test_repair_missing_segment),
		T(test_repair_not_for_torn_tail),
		T(test_incarnation_kept),
		T(test_version1_replayed),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
