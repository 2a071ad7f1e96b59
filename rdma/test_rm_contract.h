/* SPDX-License-Identifier: Apache-2.0
 * One test body that both backends' tests run (test_rm_shm.c, test_rm_verbs.c): the
 * contract of rm.h, whatever the backend. Included after the including file has
 * defined its fixture: struct fx (c[], r[]), REGION, link2 and test_allocs; it gives
 * them poll_n and stage. */
#ifndef TEST_RM_CONTRACT_H
#define TEST_RM_CONTRACT_H

/* Polls c until n completions came (bounded). */
static unsigned poll_n(struct rm_ctx *c, struct rm_wc *wc, unsigned n)
{
	unsigned got = 0;
	for (int i = 0; i < 1000 && got < n; i++)
		got += rm_poll(c, wc + got, n - got);
	return got;
}

/* A staged source buffer inside the writer's registered region. */
static uint8_t *stage(struct fx *f, uint32_t node, const void *src, size_t len)
{
	uint8_t *p = (uint8_t *)f->r[node].base + REGION / 2;
	memcpy(p, src, len);
	return p;
}

/* The data path allocates nothing: posts (inline and staged, signaled and not),
 * polls, reads, and the error path (refused, flushed). */
static void test_data_path_allocates_nothing(void **state)
{
	struct fx *f = *state;
	link2(f, 0, 1);
	assert_int_equal(rm_grant(f->c[0], 1), 0);
	uint8_t *src = stage(f, 1, "entry", 6);
	uint8_t *dst = (uint8_t *)f->r[1].base + 4096;
	struct rm_wc wc[RM_POLL_MAX];
	unsigned long before = test_allocs;
	unsigned done = 0;
	for (unsigned i = 0; i < 2000; i++) {
		unsigned fl = (i % 3 == 0 ? RM_WR_SIGNALED : 0) | (i % 2 ? RM_WR_INLINE : 0);
		assert_int_equal(rm_post_write(f->c[1], 0, i, src, 6, &f->r[0].desc,
					       (i % 100) * 8, fl), 0);
		if (i % 50 == 0)
			assert_int_equal(rm_post_read(f->c[1], 0, 100000 + i, dst, 6,
						      &f->r[0].desc, 0), 0);
		done += rm_poll(f->c[1], wc, RM_POLL_MAX);
	}
	assert_int_equal(rm_revoke(f->c[0], 1), 0);
	assert_int_equal(rm_post_write(f->c[1], 0, 1, src, 6, &f->r[0].desc, 0, 0), 0);
	assert_int_equal(rm_post_write(f->c[1], 0, 2, src, 6, &f->r[0].desc, 0, 0), 0);
	unsigned err = poll_n(f->c[1], wc, 2);
	assert_int_equal(test_allocs, before);
	assert_true(done >= 667 + 40);
	assert_int_equal(err, 2);
	assert_int_equal(wc[0].status, RM_WC_REM_ACCESS_ERR);
	assert_int_equal(wc[1].status, RM_WC_FLUSH_ERR);
}

#endif
