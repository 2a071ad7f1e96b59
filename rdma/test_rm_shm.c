/* SPDX-License-Identifier: Apache-2.0
 * The shared-memory backend of rm (rm.h): writes land without the target's CPU, reads,
 * grant and revoke, error completions and flushes, injected faults, object cleanup, and
 * two processes. Every test runs in a cluster name of its own and its teardown unlinks
 * every object of it, also when the test failed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

#include <cmocka.h>

#include "rm.h"
#include "test_alloc_count.h"

#define NODES 4u
#define REGION (256u * 1024u)

struct fx {
	char cluster[RM_NAME_MAX];
	struct rm_ctx *c[NODES];
	struct rm_region r[NODES];
};

static int test_seq;

static struct rm_conf conf_for(const struct fx *f, uint32_t self)
{
	return (struct rm_conf){ .backend = RM_BACKEND_SHM, .self = self, .sq_depth = 16,
		.cq_depth = 64, .max_inline = 64, .revoke_wait_us = 200000,
		.cluster = f->cluster };
}

static void unlink_all(const char *cluster)
{
	for (uint32_t n = 0; n < NODES; n++)
		rm_shm_unlink_node(cluster, n);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->cluster, sizeof(f->cluster), "t%d-%d", (int)getpid(), test_seq++);
	unlink_all(f->cluster);
	char err[256];
	for (uint32_t n = 0; n < NODES; n++) {
		struct rm_conf cf = conf_for(f, n);
		f->c[n] = rm_open(&cf, err, sizeof(err));
		if (!f->c[n]) {
			fprintf(stderr, "%s\n", err);
			return -1;
		}
		if (rm_region_reg(f->c[n], REGION, &f->r[n]) != 0)
			return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (!f)
		return 0;
	for (uint32_t n = 0; n < NODES; n++)
		rm_close(f->c[n]);
	unlink_all(f->cluster);
	free(f);
	return 0;
}

/* Connects a to b and b to a. */
static void link2(struct fx *f, uint32_t a, uint32_t b)
{
	struct rm_endpoint ea, eb;
	assert_int_equal(rm_endpoint_get(f->c[a], b, &ea), 0);
	assert_int_equal(rm_endpoint_get(f->c[b], a, &eb), 0);
	assert_int_equal(rm_connect(f->c[a], b, &eb), 0);
	assert_int_equal(rm_connect(f->c[b], a, &ea), 0);
}

#include "test_rm_contract.h"

static void test_write_lands(void **state)
{
	struct fx *f = *state;
	link2(f, 0, 1);
	assert_int_equal(rm_grant(f->c[0], 1), 0);
	const char msg[] = "entry one, ballot 7";
	uint8_t *src = stage(f, 1, msg, sizeof(msg));
	/* Unsignaled then signaled: one completion retires both. */
	assert_int_equal(rm_post_write(f->c[1], 0, 11, src, 6, &f->r[0].desc, 100, 0), 0);
	assert_int_equal(rm_post_write(f->c[1], 0, 12, src, sizeof(msg), &f->r[0].desc, 200,
				       RM_WR_SIGNALED), 0);
	/* The target calls nothing at all from here on. */
	struct rm_wc wc[4];
	assert_int_equal(poll_n(f->c[1], wc, 1), 1);
	assert_int_equal(wc[0].wr_id, 12);
	assert_int_equal(wc[0].status, RM_WC_SUCCESS);
	assert_int_equal(wc[0].op, RM_OP_WRITE);
	assert_int_equal(wc[0].peer, 0);
	assert_int_equal(rm_poll(f->c[1], wc, 4), 0);   /* no completion for wr 11 */
	assert_memory_equal((uint8_t *)f->r[0].base + 100, "entry ", 6);
	assert_memory_equal((uint8_t *)f->r[0].base + 200, msg, sizeof(msg));
	assert_int_equal(rm_stats(f->c[1])->wc_ok, 2);
}

/* A target that closes (or dies and has its objects removed) takes every writer's
 * access with it: a writer that still maps the old objects gets an error, not a
 * success into memory nobody will read (what a NIC answers for a dead QP). */
static void test_writes_to_closed_target_fail(void **state)
{
	struct fx *f = *state;
	link2(f, 0, 1);
	link2(f, 2, 1);
	assert_int_equal(rm_grant(f->c[0], 1), 0);
	assert_int_equal(rm_grant(f->c[2], 1), 0);
	uint8_t *src = stage(f, 1, "late", 4);
	struct rm_wc wc[1];
	assert_int_equal(rm_post_write(f->c[1], 0, 1, src, 4, &f->r[0].desc, 0,
				       RM_WR_SIGNALED), 0);
	assert_int_equal(poll_n(f->c[1], wc, 1), 1);
	assert_int_equal(wc[0].status, RM_WC_SUCCESS);
	rm_close(f->c[0]);
	f->c[0] = NULL;
	assert_int_equal(rm_post_write(f->c[1], 0, 2, src, 4, &f->r[0].desc, 0,
				       RM_WR_SIGNALED), 0);
	assert_int_equal(poll_n(f->c[1], wc, 1), 1);
	assert_int_equal(wc[0].status, RM_WC_REM_ACCESS_ERR);
	/* The crash case: the owner never closes; whoever cleans up fences first. */
	assert_int_equal(rm_shm_unlink_node(f->cluster, 2), 2);
	assert_int_equal(rm_post_write(f->c[1], 2, 3, src, 4, &f->r[2].desc, 0,
				       RM_WR_SIGNALED), 0);
	assert_int_equal(poll_n(f->c[1], wc, 1), 1);
	assert_int_equal(wc[0].status, RM_WC_REM_ACCESS_ERR);
}

/* A target's reconnect resets its end: a write the writer queued before it, executed
 * after it, lands nothing, even though the target granted the writer again; once the
 * writer connects again, its writes land. (What keeps a re-granted leader's stale
 * writes out of a follower's log: docs/rdma.md.) */
static void test_reconnect_kills_old_writes(void **state)
{
	struct fx *f = *state;
	link2(f, 0, 1);
	assert_int_equal(rm_grant(f->c[0], 1), 0);
	uint8_t *src = stage(f, 1, "stale", 5);
	struct rm_wc wc[2];
	assert_int_equal(rm_post_write(f->c[1], 0, 1, src, 5, &f->r[0].desc, 64,
				       RM_WR_SIGNALED), 0);
	/* The target revokes, reconnects to the writer and grants it again before the
	 * queued write runs (the writer's poll plays the NIC). */
	assert_int_equal(rm_revoke(f->c[0], 1), 0);
	struct rm_endpoint e1;
	assert_int_equal(rm_endpoint_get(f->c[1], 0, &e1), 0);
	assert_int_equal(rm_connect(f->c[0], 1, &e1), 0);
	assert_int_equal(rm_grant(f->c[0], 1), 0);
	assert_int_equal(poll_n(f->c[1], wc, 1), 1);
	assert_int_equal(wc[0].wr_id, 1);
	assert_int_equal(wc[0].status, RM_WC_RETRY_EXC_ERR);
	uint8_t zero[5] = {0};
	assert_memory_equal((uint8_t *)f->r[0].base + 64, zero, 5);
	/* Reads die the same way until the writer connects again. */
	assert_int_equal(rm_peer_state(f->c[1], 0), RM_PEER_ERROR);
	struct rm_endpoint e0;
	assert_int_equal(rm_endpoint_get(f->c[0], 1, &e0), 0);
	assert_int_equal(rm_connect(f->c[1], 0, &e0), 0);
	assert_int_equal(rm_post_write(f->c[1], 0, 2, src, 5, &f->r[0].desc, 64,
				       RM_WR_SIGNALED), 0);
	assert_int_equal(poll_n(f->c[1], wc, 1), 1);
	assert_int_equal(wc[0].status, RM_WC_SUCCESS);
	assert_memory_equal((uint8_t *)f->r[0].base + 64, "stale", 5);
}

static void test_read(void **state)
{
	struct fx *f = *state;
	link2(f, 0, 1);
	memcpy((uint8_t *)f->r[0].base + 4096, "follower log", 12);
	uint8_t *dst = (uint8_t *)f->r[1].base + 8192;
	/* Reads need no write grant. */
	assert_int_equal(rm_post_read(f->c[1], 0, 5, dst, 12, &f->r[0].desc, 4096), 0);
	struct rm_wc wc[1];
	assert_int_equal(poll_n(f->c[1], wc, 1), 1);
	assert_int_equal(wc[0].status, RM_WC_SUCCESS);
	assert_int_equal(wc[0].op, RM_OP_READ);
	assert_memory_equal(dst, "follower log", 12);
	/* A destination outside registered memory is refused at post. */
	uint8_t stack[16];
	assert_int_equal(rm_post_read(f->c[1], 0, 6, stack, 12, &f->r[0].desc, 0), -EINVAL);
}

static void test_revoke_gives_remote_access_error(void **state)
{
	struct fx *f = *state;
	link2(f, 0, 1);
	struct rm_wc wc[8];
	uint8_t *src = stage(f, 1, "AAAA", 4);
	/* Never granted: refused. */
	assert_int_equal(rm_post_write(f->c[1], 0, 1, src, 4, &f->r[0].desc, 0,
				       RM_WR_SIGNALED), 0);
	assert_int_equal(poll_n(f->c[1], wc, 1), 1);
	assert_int_equal(wc[0].status, RM_WC_REM_ACCESS_ERR);
	assert_int_equal(rm_peer_state(f->c[1], 0), RM_PEER_ERROR);
	assert_int_equal(rm_post_write(f->c[1], 0, 2, src, 4, &f->r[0].desc, 0, 0), -ENOTCONN);
	assert_memory_equal(f->r[0].base, "\0\0\0\0", 4);
	/* Granted and reconnected: lands. */
	assert_int_equal(rm_grant(f->c[0], 1), 0);
	assert_int_equal(rm_connect(f->c[1], 0, NULL), 0);
	assert_int_equal(rm_post_write(f->c[1], 0, 3, src, 4, &f->r[0].desc, 0,
				       RM_WR_SIGNALED), 0);
	assert_int_equal(poll_n(f->c[1], wc, 1), 1);
	assert_int_equal(wc[0].status, RM_WC_SUCCESS);
	assert_memory_equal(f->r[0].base, "AAAA", 4);
	/* Three writes queued, then revoked: the first fails, the rest are flushed (the
	 * unsignaled one too), and nothing of them lands. */
	memcpy(src, "BBBB", 4);
	assert_int_equal(rm_post_write(f->c[1], 0, 4, src, 4, &f->r[0].desc, 0, 0), 0);
	assert_int_equal(rm_post_write(f->c[1], 0, 5, src, 4, &f->r[0].desc, 8, 0), 0);
	assert_int_equal(rm_post_write(f->c[1], 0, 6, src, 4, &f->r[0].desc, 16,
				       RM_WR_SIGNALED), 0);
	assert_int_equal(rm_revoke(f->c[0], 1), 0);
	assert_int_equal(poll_n(f->c[1], wc, 3), 3);
	assert_int_equal(wc[0].wr_id, 4);
	assert_int_equal(wc[0].status, RM_WC_REM_ACCESS_ERR);
	assert_int_equal(wc[1].wr_id, 5);
	assert_int_equal(wc[1].status, RM_WC_FLUSH_ERR);
	assert_int_equal(wc[2].wr_id, 6);
	assert_int_equal(wc[2].status, RM_WC_FLUSH_ERR);
	assert_memory_equal(f->r[0].base, "AAAA", 4);
	assert_memory_equal((uint8_t *)f->r[0].base + 8, "\0\0\0\0", 4);
	assert_int_equal(rm_stats(f->c[1])->wc_rem_access, 2);
	assert_int_equal(rm_stats(f->c[1])->wc_flush, 2);
	/* A stale key (another incarnation's region) is refused as well. */
	assert_int_equal(rm_grant(f->c[0], 1), 0);
	assert_int_equal(rm_connect(f->c[1], 0, NULL), 0);
	struct rm_region_desc stale = f->r[0].desc;
	stale.rkey ^= 0x100;
	assert_int_equal(rm_post_write(f->c[1], 0, 7, src, 4, &stale, 0, RM_WR_SIGNALED), 0);
	assert_int_equal(poll_n(f->c[1], wc, 1), 1);
	assert_int_equal(wc[0].status, RM_WC_REM_ACCESS_ERR);
}

static void test_grant_to_another_peer(void **state)
{
	struct fx *f = *state;
	link2(f, 0, 1);
	link2(f, 0, 2);
	struct rm_wc wc[2];
	uint8_t *s1 = stage(f, 1, "old leader", 10);
	uint8_t *s2 = stage(f, 2, "new leader", 10);
	assert_int_equal(rm_grant(f->c[0], 1), 0);
	/* The leader changes: the follower revokes the old one, then grants the new. */
	assert_int_equal(rm_revoke(f->c[0], 1), 0);
	assert_int_equal(rm_grant(f->c[0], 2), 0);
	assert_int_equal(rm_post_write(f->c[1], 0, 1, s1, 10, &f->r[0].desc, 0,
				       RM_WR_SIGNALED), 0);
	assert_int_equal(rm_post_write(f->c[2], 0, 2, s2, 10, &f->r[0].desc, 0,
				       RM_WR_SIGNALED), 0);
	assert_int_equal(poll_n(f->c[1], wc, 1), 1);
	assert_int_equal(wc[0].status, RM_WC_REM_ACCESS_ERR);
	assert_int_equal(poll_n(f->c[2], wc + 1, 1), 1);
	assert_int_equal(wc[1].status, RM_WC_SUCCESS);
	assert_memory_equal(f->r[0].base, "new leader", 10);
}

/* An entry as a log would hold it: header with ballot, length and a checksum over
 * the header fields and the payload. */
struct entry_hdr {
	uint64_t ballot;
	uint32_t len;
	uint32_t pad;
	uint64_t sum;
};

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t entry_sum(const struct entry_hdr *h, const uint8_t *payload)
{
	uint64_t s = fnv1a(0xcbf29ce484222325ull, &h->ballot, sizeof(h->ballot));
	s = fnv1a(s, &h->len, sizeof(h->len));
	return fnv1a(s, payload, h->len);
}

static size_t entry_make(uint8_t *buf, uint64_t ballot, const char *payload)
{
	struct entry_hdr h = { .ballot = ballot, .len = (uint32_t)strlen(payload) };
	memcpy(buf + sizeof(h), payload, h.len);
	h.sum = entry_sum(&h, buf + sizeof(h));
	memcpy(buf, &h, sizeof(h));
	return sizeof(h) + h.len;
}

static bool entry_valid(const uint8_t *buf, size_t cap)
{
	struct entry_hdr h;
	memcpy(&h, buf, sizeof(h));
	if (h.len == 0 || h.len > cap - sizeof(h))
		return false;
	return entry_sum(&h, buf + sizeof(h)) == h.sum;
}

static void test_torn_write_detected_by_checksum(void **state)
{
	struct fx *f = *state;
	link2(f, 0, 1);
	assert_int_equal(rm_grant(f->c[0], 1), 0);
	uint8_t *src = (uint8_t *)f->r[1].base + 1024;
	size_t n = entry_make(src, 0x700000001ull,
			      "a payload long enough that a prefix of it is not all of it");
	struct rm_wc wc[1];
	/* Whole: valid. */
	assert_int_equal(rm_post_write(f->c[1], 0, 1, src, (uint32_t)n, &f->r[0].desc, 0,
				       RM_WR_SIGNALED), 0);
	assert_int_equal(poll_n(f->c[1], wc, 1), 1);
	assert_int_equal(wc[0].status, RM_WC_SUCCESS);
	assert_true(entry_valid(f->r[0].base, 4096));
	/* Torn, many seeds: an error completion, and the target's check refuses it. */
	for (uint64_t seed = 1; seed <= 50; seed++) {
		struct rm_faults fl = { .seed = seed, .torn_ppm = 1000000 };
		assert_int_equal(rm_faults_set(f->c[1], &fl), 0);
		assert_int_equal(rm_connect(f->c[1], 0, NULL), 0);
		uint8_t *dst = (uint8_t *)f->r[0].base + 4096 * seed;
		assert_false(entry_valid(dst, 4096));
		assert_int_equal(rm_post_write(f->c[1], 0, seed, src, (uint32_t)n, &f->r[0].desc,
					       4096 * seed, RM_WR_SIGNALED), 0);
		assert_int_equal(poll_n(f->c[1], wc, 1), 1);
		assert_int_equal(wc[0].status, RM_WC_RETRY_EXC_ERR);
		assert_int_equal(rm_peer_state(f->c[1], 0), RM_PEER_ERROR);
		assert_false(entry_valid(dst, 4096));
	}
	assert_int_equal(rm_stats(f->c[1])->faults_torn, 50);
}

static void test_drop_gives_retry_exceeded(void **state)
{
	struct fx *f = *state;
	link2(f, 0, 1);
	assert_int_equal(rm_grant(f->c[0], 1), 0);
	struct rm_faults fl = { .seed = 9, .drop_ppm = 1000000 };
	assert_int_equal(rm_faults_set(f->c[1], &fl), 0);
	uint8_t *src = stage(f, 1, "dropped", 7);
	assert_int_equal(rm_post_write(f->c[1], 0, 1, src, 7, &f->r[0].desc, 0, 0), 0);
	assert_int_equal(rm_post_write(f->c[1], 0, 2, src, 7, &f->r[0].desc, 64, 0), 0);
	struct rm_wc wc[2];
	/* The unsignaled failure is reported too, and the one behind it is flushed. */
	assert_int_equal(poll_n(f->c[1], wc, 2), 2);
	assert_int_equal(wc[0].wr_id, 1);
	assert_int_equal(wc[0].status, RM_WC_RETRY_EXC_ERR);
	assert_int_equal(wc[1].wr_id, 2);
	assert_int_equal(wc[1].status, RM_WC_FLUSH_ERR);
	assert_memory_equal(f->r[0].base, "\0\0\0\0\0\0\0", 7);
	assert_int_equal(rm_stats(f->c[1])->faults_dropped, 1);
	/* Faults off, reconnect: it works again. */
	struct rm_faults none = { .seed = 9 };
	assert_int_equal(rm_faults_set(f->c[1], &none), 0);
	assert_int_equal(rm_connect(f->c[1], 0, NULL), 0);
	assert_int_equal(rm_post_write(f->c[1], 0, 3, src, 7, &f->r[0].desc, 0,
				       RM_WR_SIGNALED), 0);
	assert_int_equal(poll_n(f->c[1], wc, 1), 1);
	assert_int_equal(wc[0].status, RM_WC_SUCCESS);
	assert_memory_equal(f->r[0].base, "dropped", 7);
}

/* One seed, one sequence of posts: one sequence of outcomes. */
static void run_faulty(struct fx *f, uint64_t seed, enum rm_status *out, unsigned n)
{
	struct rm_faults fl = { .seed = seed, .drop_ppm = 200000, .delay_ppm = 300000,
				.delay_polls_max = 3 };
	assert_int_equal(rm_faults_set(f->c[1], &fl), 0);
	uint8_t *src = stage(f, 1, "x", 1);
	for (unsigned i = 0; i < n; i++) {
		if (rm_peer_state(f->c[1], 0) != RM_PEER_CONNECTED)
			assert_int_equal(rm_connect(f->c[1], 0, NULL), 0);
		assert_int_equal(rm_post_write(f->c[1], 0, i, src, 1, &f->r[0].desc, i,
					       RM_WR_SIGNALED), 0);
		struct rm_wc wc[1];
		assert_int_equal(poll_n(f->c[1], wc, 1), 1);
		assert_int_equal(wc[0].wr_id, i);
		out[i] = wc[0].status;
	}
}

static void test_faults_deterministic_and_delays(void **state)
{
	struct fx *f = *state;
	link2(f, 0, 1);
	assert_int_equal(rm_grant(f->c[0], 1), 0);
	enum rm_status a[64], b[64];
	run_faulty(f, 42, a, 64);
	run_faulty(f, 42, b, 64);
	assert_memory_equal(a, b, sizeof(a));
	unsigned drops = 0;
	for (unsigned i = 0; i < 64; i++)
		drops += a[i] == RM_WC_RETRY_EXC_ERR;
	assert_true(drops > 0 && drops < 64);
	assert_true(rm_stats(f->c[1])->faults_delayed > 0);
	/* A delay holds the completion for some polls, and the queue keeps its order. */
	struct rm_faults fl = { .seed = 1, .delay_ppm = 1000000, .delay_polls_max = 3 };
	assert_int_equal(rm_faults_set(f->c[1], &fl), 0);
	if (rm_peer_state(f->c[1], 0) != RM_PEER_CONNECTED)
		assert_int_equal(rm_connect(f->c[1], 0, NULL), 0);
	uint8_t *src = stage(f, 1, "y", 1);
	assert_int_equal(rm_post_write(f->c[1], 0, 100, src, 1, &f->r[0].desc, 0,
				       RM_WR_SIGNALED), 0);
	assert_int_equal(rm_post_write(f->c[1], 0, 101, src, 1, &f->r[0].desc, 1,
				       RM_WR_SIGNALED), 0);
	struct rm_wc wc[2];
	assert_int_equal(rm_poll(f->c[1], wc, 2), 0);   /* delayed at least one poll */
	assert_int_equal(poll_n(f->c[1], wc, 2), 2);
	assert_int_equal(wc[0].wr_id, 100);
	assert_int_equal(wc[1].wr_id, 101);
}

static void test_inline_and_queue_bounds(void **state)
{
	struct fx *f = *state;
	link2(f, 0, 1);
	assert_int_equal(rm_grant(f->c[0], 1), 0);
	/* Inline: the source may be any memory and is reusable at once. */
	char buf[8] = "inline1";
	assert_int_equal(rm_post_write(f->c[1], 0, 1, buf, 8, &f->r[0].desc, 0,
				       RM_WR_SIGNALED | RM_WR_INLINE), 0);
	memcpy(buf, "changed", 8);
	/* Not inline and not registered: refused. Too long for inline: refused. */
	assert_int_equal(rm_post_write(f->c[1], 0, 2, buf, 8, &f->r[0].desc, 0, 0), -EINVAL);
	static char big[128];
	assert_int_equal(rm_post_write(f->c[1], 0, 2, big, 128, &f->r[0].desc, 0,
				       RM_WR_INLINE), -EINVAL);
	/* Out of the target region's bounds: refused at post. */
	assert_int_equal(rm_post_write(f->c[1], 0, 2, buf, 8, &f->r[0].desc, REGION - 4,
				       RM_WR_INLINE), -EINVAL);
	struct rm_wc wc[RM_POLL_MAX];
	assert_int_equal(poll_n(f->c[1], wc, 1), 1);
	assert_int_equal(wc[0].status, RM_WC_SUCCESS);
	assert_memory_equal(f->r[0].base, "inline1", 8);
	/* sq_depth 16: sixteen unsignaled posts fill the queue; the context signals one of
	 * every eight by itself so that they retire. */
	uint8_t *src = stage(f, 1, "z", 1);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(rm_post_write(f->c[1], 0, 200 + i, src, 1, &f->r[0].desc, i, 0),
				 0);
	assert_int_equal(rm_post_write(f->c[1], 0, 300, src, 1, &f->r[0].desc, 0, 0),
			 -ENOBUFS);
	assert_int_equal(poll_n(f->c[1], wc, 2), 2);
	assert_int_equal(wc[0].wr_id, 207);
	assert_int_equal(wc[1].wr_id, 215);
	assert_int_equal(rm_stats(f->c[1])->signaled_forced, 2);
	assert_int_equal(rm_post_write(f->c[1], 0, 300, src, 1, &f->r[0].desc, 0, 0), 0);
}

static bool shm_exists(const char *cluster, uint32_t node, int region)
{
	char name[128];
	if (region < 0)
		snprintf(name, sizeof(name), "/dev/shm/paxwire-%s-n%u-ctl", cluster, node);
	else
		snprintf(name, sizeof(name), "/dev/shm/paxwire-%s-n%u-r%d", cluster, node, region);
	return access(name, F_OK) == 0;
}

static void test_cleanup(void **state)
{
	struct fx *f = *state;
	assert_true(shm_exists(f->cluster, 0, -1));
	assert_true(shm_exists(f->cluster, 0, 0));
	rm_close(f->c[0]);
	f->c[0] = NULL;
	assert_false(shm_exists(f->cluster, 0, -1));
	assert_false(shm_exists(f->cluster, 0, 0));
	/* A node that crashes leaves its objects; opening it again names them and the fix;
	 * rm_shm_unlink_node removes them. */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rm_conf cf = conf_for(f, 0);
		struct rm_ctx *c = rm_open(&cf, NULL, 0);
		struct rm_region r;
		_exit(c && rm_region_reg(c, 4096, &r) == 0 ? 0 : 1);  /* no rm_close */
	}
	int ws;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	assert_true(shm_exists(f->cluster, 0, -1));
	struct rm_conf cf = conf_for(f, 0);
	char err[256];
	assert_null(rm_open(&cf, err, sizeof(err)));
	assert_int_equal(errno, EEXIST);
	assert_non_null(strstr(err, "exists"));
	assert_int_equal(rm_shm_unlink_node(f->cluster, 0), 2);
	assert_false(shm_exists(f->cluster, 0, -1));
	assert_false(shm_exists(f->cluster, 0, 0));
	f->c[0] = rm_open(&cf, err, sizeof(err));
	assert_non_null(f->c[0]);
	/* Bad names and sizes are refused with a message. */
	cf.cluster = "../etc";
	assert_null(rm_open(&cf, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "cluster name"));
	cf = conf_for(f, 0);
	cf.sq_depth = 1;
	assert_null(rm_open(&cf, err, sizeof(err)));
	assert_non_null(strstr(err, "sq_depth"));
	/* Connecting to a node that is not up. */
	rm_close(f->c[3]);
	f->c[3] = NULL;
	assert_int_equal(rm_connect(f->c[1], 3, NULL), -ENOENT);
}

/* Two processes: the parent owns the region and, once it granted, only waits in
 * waitpid (its CPU does nothing with the region); the child writes and polls. */
static int child_write(struct fx *f, uint32_t self, const char *data, enum rm_status want)
{
	char cl[RM_NAME_MAX];
	snprintf(cl, sizeof(cl), "%s", f->cluster);
	rm_shm_unlink_node(cl, self);
	struct rm_conf cf = { .backend = RM_BACKEND_SHM, .self = self, .sq_depth = 8,
		.cq_depth = 8, .max_inline = 64, .cluster = cl };
	struct rm_ctx *c = rm_open(&cf, NULL, 0);
	if (!c)
		return 10;
	int rc = 0;
	if (rm_connect(c, 0, NULL) != 0)
		rc = 11;
	/* The child's own copy of the descriptor: it travels by fork here, by the message
	 * path in a cluster. */
	if (!rc && rm_post_write(c, 0, 1, data, (uint32_t)strlen(data) + 1, &f->r[0].desc, 512,
				 RM_WR_SIGNALED | RM_WR_INLINE) != 0)
		rc = 12;
	struct rm_wc wc[1];
	unsigned got = 0;
	for (int i = 0; !rc && i < 100000 && got == 0; i++)
		got = rm_poll(c, wc, 1);
	if (!rc && got != 1)
		rc = 13;
	if (!rc && wc[0].status != want)
		rc = 14;
	rm_close(c);
	return rc;
}

static void test_two_processes(void **state)
{
	struct fx *f = *state;
	/* Nodes 1..3 of this process step aside: the children are node 1 and 2. */
	for (uint32_t n = 1; n < NODES; n++) {
		rm_close(f->c[n]);
		f->c[n] = NULL;
	}
	assert_int_equal(rm_grant(f->c[0], 1), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_write(f, 1, "written by another process", RM_WC_SUCCESS));
	int ws;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);
	assert_string_equal((char *)f->r[0].base + 512, "written by another process");
	/* Revoked: the next writer process gets a remote access error, nothing lands. */
	assert_int_equal(rm_revoke(f->c[0], 1), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_write(f, 1, "must not land", RM_WC_REM_ACCESS_ERR));
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);
	assert_string_equal((char *)f->r[0].base + 512, "written by another process");
	/* Granted to node 2 instead: its write lands. */
	assert_int_equal(rm_grant(f->c[0], 2), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_write(f, 2, "node two", RM_WC_SUCCESS));
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);
	assert_string_equal((char *)f->r[0].base + 512, "node two");
}

/* The race between a writer's permission check and its copy: a child writes without
 * pause while the parent revokes; from the moment rm_revoke returns the region must not
 * change, and the child must have seen remote access errors. */
static void test_revoke_races_writer(void **state)
{
	struct fx *f = *state;
	for (uint32_t n = 1; n < NODES; n++) {
		rm_close(f->c[n]);
		f->c[n] = NULL;
	}
	int stop[2], ready[2];
	assert_int_equal(pipe(stop), 0);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(rm_grant(f->c[0], 1), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(stop[1]);
		close(ready[0]);
		fcntl(stop[0], F_SETFL, O_NONBLOCK);
		char cl[RM_NAME_MAX];
		snprintf(cl, sizeof(cl), "%s", f->cluster);
		/* Every copy pauses 200 us between the permission check and its second
		 * half: a revoke nearly always finds one in progress. */
		struct rm_conf cf = { .backend = RM_BACKEND_SHM, .self = 1, .sq_depth = 64,
			.cq_depth = 64, .max_inline = 256, .cluster = cl,
			.faults = { .seed = 1, .stall_ppm = 1000000, .stall_us = 200 } };
		struct rm_ctx *c = rm_open(&cf, NULL, 0);
		if (!c || rm_connect(c, 0, NULL) != 0)
			_exit(20);
		uint64_t refused = 0, landed = 0;
		bool told = false;
		for (uint64_t i = 1;; i++) {
			char b;
			if (read(stop[0], &b, 1) == 1)
				break;
			if (rm_peer_state(c, 0) != RM_PEER_CONNECTED && rm_connect(c, 0, NULL) != 0)
				_exit(21);
			uint8_t small[256];
			memset(small, (int)(i % 255) + 1, sizeof(small));
			if (rm_post_write(c, 0, i, small, sizeof(small), &f->r[0].desc, 0,
					  RM_WR_SIGNALED | RM_WR_INLINE) != 0)
				_exit(22);
			struct rm_wc wc[1];
			unsigned got = 0;
			for (int k = 0; k < 1000 && !got; k++)
				got = rm_poll(c, wc, 1);
			if (got != 1)
				_exit(23);
			if (wc[0].status == RM_WC_SUCCESS)
				landed++;
			else if (wc[0].status == RM_WC_REM_ACCESS_ERR)
				refused++;
			else
				_exit(24);
			if (!told && landed >= 100) {
				told = true;
				if (write(ready[1], "r", 1) != 1)
					_exit(25);
			}
		}
		rm_close(c);
		_exit(refused > 0 && landed >= 100 ? 0 : 26);
	}
	close(stop[0]);
	close(ready[1]);
	char b;
	assert_int_equal(read(ready[0], &b, 1), 1);   /* the child's writes are landing */
	assert_int_equal(rm_revoke(f->c[0], 1), 0);
	uint8_t snap[256];
	memcpy(snap, f->r[0].base, sizeof(snap));
	for (int i = 0; i < 200; i++) {
		usleep(100);
		assert_memory_equal(f->r[0].base, snap, sizeof(snap));
	}
	assert_int_equal(write(stop[1], "s", 1), 1);
	int ws;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	close(stop[1]);
	close(ready[0]);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);
	assert_memory_equal(f->r[0].base, snap, sizeof(snap));
}

/* A child (node 1) that writes "stalled write" once, stalling stall_us in the middle
 * of the copy, after telling the parent through ready. Exit 0 if the write completed
 * with want. */
static int child_stalled(struct fx *f, int ready, uint32_t stall_us, enum rm_status want)
{
	char cl[RM_NAME_MAX];
	snprintf(cl, sizeof(cl), "%s", f->cluster);
	struct rm_conf cf = { .backend = RM_BACKEND_SHM, .self = 1, .sq_depth = 8,
		.cq_depth = 8, .max_inline = 64, .cluster = cl,
		.faults = { .seed = 3, .stall_ppm = 1000000, .stall_us = stall_us } };
	struct rm_ctx *c = rm_open(&cf, NULL, 0);
	if (!c || rm_connect(c, 0, NULL) != 0)
		return 30;
	if (rm_post_write(c, 0, 1, "stalled write", 14, &f->r[0].desc, 0,
			  RM_WR_SIGNALED | RM_WR_INLINE) != 0)
		return 31;
	if (write(ready, "r", 1) != 1)
		return 32;
	struct rm_wc wc[1];
	unsigned got = 0;
	for (int i = 0; i < 1000 && !got; i++)
		got = rm_poll(c, wc, 1);
	if (got != 1 || wc[0].status != want)
		return 33;
	rm_close(c);
	return 0;
}

static void close_others(struct fx *f)
{
	for (uint32_t n = 1; n < NODES; n++) {
		rm_close(f->c[n]);
		f->c[n] = NULL;
	}
}

/* A writer stopped in the middle of a copy: rm_revoke cannot establish the fence and
 * says so (-ETIMEDOUT) rather than returning as if it had. */
static void test_revoke_times_out_on_stalled_writer(void **state)
{
	struct fx *f = *state;
	close_others(f);
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(rm_grant(f->c[0], 1), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_stalled(f, ready[1], 1000000, RM_WC_SUCCESS));
	char b;
	assert_int_equal(read(ready[0], &b, 1), 1);
	usleep(50000);   /* the child is inside its 1 s stall */
	assert_int_equal(rm_revoke(f->c[0], 1), -ETIMEDOUT);   /* waited 200 ms */
	assert_int_equal(rm_stats(f->c[0])->revoke_timeouts, 1);
	int ws;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	close(ready[0]);
	close(ready[1]);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);
	/* The write that passed its check before the revoke finished; now it is fenced. */
	assert_string_equal(f->r[0].base, "stalled write");
	assert_int_equal(rm_revoke(f->c[0], 1), 0);
}

/* A writer killed -9 in the middle of a copy leaves its in-flight count raised; the
 * revoke sees the process is gone and returns at once, and the node's next process
 * takes the slot over. */
static void test_revoke_after_writer_killed(void **state)
{
	struct fx *f = *state;
	close_others(f);
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(rm_grant(f->c[0], 1), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_stalled(f, ready[1], 30000000, RM_WC_SUCCESS));
	char b;
	assert_int_equal(read(ready[0], &b, 1), 1);
	usleep(50000);
	assert_int_equal(kill(pid, SIGKILL), 0);
	int ws;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	close(ready[0]);
	close(ready[1]);
	assert_true(WIFSIGNALED(ws));
	/* Half of it landed: a torn entry, which a checksum would refuse. */
	assert_memory_equal(f->r[0].base, "stalled", 7);
	assert_memory_not_equal(f->r[0].base, "stalled write", 14);
	assert_int_equal(rm_revoke(f->c[0], 1), 0);
	assert_int_equal(rm_stats(f->c[0])->revoke_timeouts, 0);
	/* Node 1 restarted: it claims its slot again; granted, its write lands. */
	assert_int_equal(rm_grant(f->c[0], 1), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_write(f, 1, "after restart", RM_WC_SUCCESS));
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);
	assert_string_equal((char *)f->r[0].base + 512, "after restart");
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_lands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_path_allocates_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke_gives_remote_access_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grant_to_another_peer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_write_detected_by_checksum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_gives_retry_exceeded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_faults_deterministic_and_delays, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inline_and_queue_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cleanup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writes_to_closed_target_fail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_kills_old_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_processes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke_races_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke_times_out_on_stalled_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke_after_writer_killed, setup, teardown),
	};
	return cmocka_run_group_tests_name("rm_shm", tests, NULL, NULL);
}
