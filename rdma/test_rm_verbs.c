/* SPDX-License-Identifier: Apache-2.0
 * The verbs backend of rm (rm_verbs.c) against a fake device (fake_verbs.h): the
 * backend's real code, its data path through the context's ops table, its control
 * path through the fake's definitions of the libibverbs functions (this test does not
 * link libibverbs). No RDMA hardware is involved. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_verbs.h"
#include "rm.h"
#include "test_alloc_count.h"

#define REGION 65536u

struct fx {
	struct rm_ctx *c[3];
	struct rm_region r[3];
	struct rm_endpoint ep[3][3];   /* ep[a][b]: a's end towards b */
};

static struct rm_conf conf_for(uint32_t self)
{
	return (struct rm_conf){ .backend = RM_BACKEND_VERBS, .self = self, .sq_depth = 16,
		.cq_depth = 64, .max_inline = 64, .port = 1, .gid_index = 3 };
}

static int setup(void **state)
{
	fake_n_devices = 1;
	fake_list_errno = 0;
	fake_refuse_access_modify = false;
	fake_link_down = false;
	fake_refuse_err = false;
	fake_max_inline = 256;
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	char err[256];
	for (uint32_t n = 0; n < 3; n++) {
		struct rm_conf cf = conf_for(n);
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
	if (f) {
		for (uint32_t n = 0; n < 3; n++)
			rm_close(f->c[n]);
		free(f);
	}
	return fake_live_objects() == 0 ? 0 : -1;
}

/* Both ends of a <-> b: endpoints exchanged (the message path's job), both connect. */
static void link2(struct fx *f, uint32_t a, uint32_t b)
{
	assert_int_equal(rm_endpoint_get(f->c[a], b, &f->ep[a][b]), 0);
	assert_int_equal(rm_endpoint_get(f->c[b], a, &f->ep[b][a]), 0);
	assert_int_equal(rm_connect(f->c[a], b, &f->ep[b][a]), 0);
	assert_int_equal(rm_connect(f->c[b], a, &f->ep[a][b]), 0);
}

#include "test_rm_contract.h"

static void test_no_device(void **state)
{
	(void)state;
	char err[512];
	struct rm_conf cf = conf_for(0);
	fake_n_devices = 0;
	assert_null(rm_open(&cf, err, sizeof(err)));
	assert_int_equal(errno, ENODEV);
	assert_non_null(strstr(err, "no RDMA device found (ibv_get_device_list returned none)"));
	assert_non_null(strstr(err, "shared-memory backend"));
	fake_n_devices = 1;
	fake_list_errno = ENOSYS;
	assert_null(rm_open(&cf, err, sizeof(err)));
	assert_int_equal(errno, ENODEV);
	assert_non_null(strstr(err, "no RDMA device found (ibv_get_device_list failed"));
	fake_list_errno = 0;
	fake_n_devices = 2;
	cf.device = "mlx5_0";
	assert_null(rm_open(&cf, err, sizeof(err)));
	assert_non_null(strstr(err, "'mlx5_0' not found; this host has: fake0 fake1"));
	cf.device = "fake1";
	struct rm_ctx *c = rm_open(&cf, err, sizeof(err));
	assert_non_null(c);
	rm_close(c);
	cf = conf_for(0);
	cf.gid_index = 5;   /* an empty slot of the fake's table */
	assert_null(rm_open(&cf, err, sizeof(err)));
	assert_non_null(strstr(err, "GID index 5 is empty or absent"));
	cf.gid_index = 2;   /* the fake's RoCE v1 entry of its third address */
	assert_null(rm_open(&cf, err, sizeof(err)));
	assert_non_null(strstr(err, "GID index 2 is RoCE v1, not v2"));
	cf = conf_for(0);
	cf.port = 2;
	assert_null(rm_open(&cf, err, sizeof(err)));
	assert_non_null(strstr(err, "no port 2"));
	cf = conf_for(0);
	cf.max_inline = 512;
	assert_null(rm_open(&cf, err, sizeof(err)));
	assert_non_null(strstr(err, "max_inline"));
	assert_int_equal(fake_live_objects(), 0);   /* every failure released what it made */
}

/* A device that takes less inline than asked: the context halves its ask until
 * ibv_create_qp takes it, says so (rm_max_inline, inline_lowered), and refuses longer
 * inline posts; with none at all it still runs, without inline. */
static void test_inline_lowered_to_what_the_device_takes(void **state)
{
	(void)state;
	char err[256];
	fake_max_inline = 100;
	struct rm_conf cf = conf_for(0);
	cf.max_inline = 256;
	struct rm_ctx *c = rm_open(&cf, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(rm_max_inline(c), 64);   /* 256, 128 refused */
	assert_true(rm_stats(c)->inline_lowered >= 2);
	struct rm_ctx *d = rm_open(&(struct rm_conf){ .backend = RM_BACKEND_VERBS, .self = 1,
		.sq_depth = 16, .cq_depth = 64, .max_inline = 64, .port = 1, .gid_index = 3 },
		err, sizeof(err));
	assert_non_null(d);
	assert_int_equal(rm_max_inline(d), 64);
	assert_int_equal(rm_stats(d)->inline_lowered, 0);
	struct rm_region rc, rd;
	struct rm_endpoint ec, ed;
	assert_int_equal(rm_region_reg(c, REGION, &rc), 0);
	assert_int_equal(rm_region_reg(d, REGION, &rd), 0);
	assert_int_equal(rm_endpoint_get(c, 1, &ec), 0);
	assert_int_equal(rm_endpoint_get(d, 0, &ed), 0);
	assert_int_equal(rm_connect(c, 1, &ed), 0);
	assert_int_equal(rm_connect(d, 0, &ec), 0);
	assert_int_equal(rm_grant(d, 0), 0);
	char big[100] = { 0 };
	assert_int_equal(rm_post_write(c, 1, 1, big, sizeof(big), &rd.desc, 0, RM_WR_INLINE |
				       RM_WR_SIGNALED), -EINVAL);
	char small[64] = "inline after lowering";
	assert_int_equal(rm_post_write(c, 1, 2, small, sizeof(small), &rd.desc, 0,
				       RM_WR_INLINE | RM_WR_SIGNALED), 0);
	memset(small, 0, sizeof(small));   /* copied at post */
	struct rm_wc wc[4];
	unsigned got = 0;
	for (int i = 0; i < 100 && got == 0; i++)
		got = rm_poll(c, wc, 4);
	assert_int_equal(got, 1);
	assert_int_equal(wc[0].wr_id, 2);
	assert_int_equal(wc[0].status, RM_WC_SUCCESS);
	assert_memory_equal(rd.base, "inline after lowering", 22);
	rm_close(c);
	rm_close(d);
	/* No inline at all: it opens, with none. */
	fake_max_inline = 0;
	c = rm_open(&cf, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(rm_max_inline(c), 0);
	rm_close(c);
	fake_max_inline = 256;
	assert_int_equal(fake_live_objects(), 0);
}

static void test_qp_transitions(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rm_endpoint_get(f->c[0], 1, &f->ep[0][1]), 0);
	assert_int_equal(rm_endpoint_get(f->c[1], 0, &f->ep[1][0]), 0);
	uint32_t q0 = f->ep[0][1].qpn, q1 = f->ep[1][0].qpn;
	assert_int_equal(fake_qp_state(q0), IBV_QPS_RESET);
	assert_int_equal(f->ep[0][1].mtu, IBV_MTU_1024);
	assert_int_equal(f->ep[0][1].gid[14], 3);            /* the GID at gid_index 3 */
	assert_true(f->ep[0][1].psn <= 0xffffff);
	assert_int_equal(rm_grant(f->c[0], 1), 0);            /* before connect: kept */
	assert_int_equal(rm_connect(f->c[0], 1, &f->ep[1][0]), 0);
	assert_int_equal(fake_qp_state(q0), IBV_QPS_RTS);
	assert_int_equal(rm_peer_state(f->c[0], 1), RM_PEER_CONNECTED);
	const struct fake_qp_log *l = fake_qp_log(q0);
	/* RESET -> INIT: port, pkey, and the access flags of the grant. */
	assert_int_equal(l->init.port_num, 1);
	assert_int_equal(l->init.pkey_index, 0);
	assert_int_equal(l->init.qp_access_flags, IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE);
	/* INIT -> RTR: the peer's QP number, PSN and GID; RoCE v2 through the GRH. */
	assert_int_equal(l->rtr.dest_qp_num, q1);
	assert_int_equal(l->rtr.rq_psn, f->ep[1][0].psn);
	assert_int_equal(l->rtr.path_mtu, IBV_MTU_1024);
	assert_int_equal(l->rtr.ah_attr.is_global, 1);
	assert_int_equal(l->rtr.ah_attr.grh.sgid_index, 3);
	assert_int_equal(l->rtr.ah_attr.port_num, 1);
	assert_memory_equal(l->rtr.ah_attr.grh.dgid.raw, f->ep[1][0].gid, 16);
	assert_int_equal(l->rtr.max_dest_rd_atomic, 1);
	/* RTR -> RTS: our PSN, the short timeouts (4.096 us * 2^8, 2 retries), no RNR. */
	assert_int_equal(l->rts.sq_psn, f->ep[0][1].psn);
	assert_int_equal(l->rts.timeout, 8);
	assert_int_equal(l->rts.retry_cnt, 2);
	assert_int_equal(l->rts.rnr_retry, 0);
	assert_int_equal(l->rts.max_rd_atomic, 1);
	/* The other end, never granted: read only. */
	assert_int_equal(rm_connect(f->c[1], 0, &f->ep[0][1]), 0);
	assert_int_equal(fake_qp_access(q1), IBV_ACCESS_REMOTE_READ);
	/* No endpoint: refused. Another node's endpoint: refused. */
	assert_int_equal(rm_connect(f->c[1], 0, NULL), -EINVAL);
	assert_int_equal(rm_connect(f->c[1], 0, &f->ep[0][1]), 0);   /* again: a reconnect */
	assert_int_equal(fake_qp_log(q1)->resets, 2);
	assert_int_equal(rm_connect(f->c[1], 2, &f->ep[0][1]), -EINVAL);
	/* Configured timeouts are used as given. */
	struct rm_conf cf = conf_for(2);
	cf.timeout = 14;
	cf.retry_cnt = 7;
	char err[256];
	rm_close(f->c[2]);
	f->c[2] = rm_open(&cf, err, sizeof(err));
	assert_non_null(f->c[2]);
	assert_int_equal(rm_region_reg(f->c[2], REGION, &f->r[2]), 0);
	link2(f, 0, 2);
	assert_int_equal(fake_qp_log(f->ep[2][0].qpn)->rts.timeout, 14);
	assert_int_equal(fake_qp_log(f->ep[2][0].qpn)->rts.retry_cnt, 7);
}

static void test_write_read_signalling_inline(void **state)
{
	struct fx *f = *state;
	link2(f, 0, 1);
	assert_int_equal(rm_grant(f->c[0], 1), 0);
	uint32_t q = f->ep[1][0].qpn;
	char small[16] = "inline entry";
	assert_int_equal(rm_post_write(f->c[1], 0, 1, small, 16, &f->r[0].desc, 0,
				       RM_WR_INLINE), 0);
	assert_int_equal(fake_qp_log(q)->last_send_flags, IBV_SEND_INLINE);
	memcpy(small, "overwritten!", 13);   /* inline: copied at post */
	uint8_t *src = stage(f, 1, "registered entry", 17);
	assert_int_equal(rm_post_write(f->c[1], 0, 2, src, 17, &f->r[0].desc, 100, 0), 0);
	assert_int_equal(fake_qp_log(q)->last_send_flags, 0);
	assert_int_equal(rm_post_write(f->c[1], 0, 3, src, 17, &f->r[0].desc, 200,
				       RM_WR_SIGNALED), 0);
	assert_int_equal(fake_qp_log(q)->last_send_flags, IBV_SEND_SIGNALED);
	struct rm_wc wc[4];
	assert_int_equal(poll_n(f->c[1], wc, 1), 1);
	assert_int_equal(wc[0].wr_id, 3);
	assert_int_equal(wc[0].status, RM_WC_SUCCESS);
	assert_int_equal(wc[0].peer, 0);
	assert_int_equal(wc[0].len, 17);
	assert_int_equal(rm_poll(f->c[1], wc, 4), 0);   /* 1 and 2 retired silently */
	assert_memory_equal(f->r[0].base, "inline entry", 13);
	assert_memory_equal((uint8_t *)f->r[0].base + 100, "registered entry", 17);
	assert_memory_equal((uint8_t *)f->r[0].base + 200, "registered entry", 17);
	/* Read back (no grant needed). */
	uint8_t *dst = (uint8_t *)f->r[1].base + 1024;
	assert_int_equal(rm_post_read(f->c[1], 0, 4, dst, 17, &f->r[0].desc, 100), 0);
	assert_int_equal(poll_n(f->c[1], wc, 1), 1);
	assert_int_equal(wc[0].op, RM_OP_READ);
	assert_int_equal(wc[0].status, RM_WC_SUCCESS);
	assert_memory_equal(dst, "registered entry", 17);
	/* Unregistered source, too long for inline: refused before the device. */
	char stack[128];
	memset(stack, 1, sizeof(stack));
	assert_int_equal(rm_post_write(f->c[1], 0, 5, stack, 8, &f->r[0].desc, 0, 0), -EINVAL);
	assert_int_equal(rm_post_write(f->c[1], 0, 5, stack, 128, &f->r[0].desc, 0,
				       RM_WR_INLINE), -EINVAL);
	/* Selective signalling: 16 unsignaled posts fill sq_depth 16; the backend signals
	 * every eighth so that they retire; the 17th waits for a poll. */
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(rm_post_write(f->c[1], 0, 100 + i, src, 1, &f->r[0].desc, i, 0), 0);
	assert_int_equal(rm_post_write(f->c[1], 0, 200, src, 1, &f->r[0].desc, 0, 0), -ENOBUFS);
	assert_int_equal(poll_n(f->c[1], wc, 2), 2);
	assert_int_equal(wc[0].wr_id, 107);
	assert_int_equal(wc[1].wr_id, 115);
	assert_int_equal(rm_stats(f->c[1])->signaled_forced, 2);
	assert_int_equal(rm_post_write(f->c[1], 0, 200, src, 1, &f->r[0].desc, 0, 0), 0);
}

static void test_revoke_gives_remote_access_error(void **state)
{
	struct fx *f = *state;
	link2(f, 0, 1);
	assert_int_equal(rm_grant(f->c[0], 1), 0);
	uint32_t q01 = f->ep[0][1].qpn;
	assert_int_equal(fake_qp_access(q01), IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE);
	uint8_t *src = stage(f, 1, "AAAA", 4);
	struct rm_wc wc[4];
	assert_int_equal(rm_post_write(f->c[1], 0, 1, src, 4, &f->r[0].desc, 0,
				       RM_WR_SIGNALED), 0);
	assert_int_equal(poll_n(f->c[1], wc, 1), 1);
	assert_int_equal(wc[0].status, RM_WC_SUCCESS);
	/* Revoke: the access flags of the follower's QP change (no reset). */
	assert_int_equal(rm_revoke(f->c[0], 1), 0);
	assert_int_equal(fake_qp_access(q01), IBV_ACCESS_REMOTE_READ);
	assert_int_equal(fake_qp_state(q01), IBV_QPS_RTS);
	assert_int_equal(fake_qp_log(q01)->access_changes, 2);
	assert_int_equal(rm_stats(f->c[0])->revoke_resets, 0);
	memcpy(src, "BBBB", 4);
	assert_int_equal(rm_post_write(f->c[1], 0, 2, src, 4, &f->r[0].desc, 0, 0), 0);
	assert_int_equal(rm_post_write(f->c[1], 0, 3, src, 4, &f->r[0].desc, 8, 0), 0);
	assert_int_equal(poll_n(f->c[1], wc, 2), 2);
	assert_int_equal(wc[0].wr_id, 2);
	assert_int_equal(wc[0].status, RM_WC_REM_ACCESS_ERR);   /* unsignaled, reported */
	assert_int_equal(wc[1].wr_id, 3);
	assert_int_equal(wc[1].status, RM_WC_FLUSH_ERR);
	assert_int_equal(fake_qp_state(f->ep[1][0].qpn), IBV_QPS_ERR);
	assert_int_equal(rm_peer_state(f->c[1], 0), RM_PEER_ERROR);
	assert_int_equal(rm_post_write(f->c[1], 0, 4, src, 4, &f->r[0].desc, 0, 0), -ENOTCONN);
	assert_memory_equal(f->r[0].base, "AAAA", 4);
	/* Reads still work after the reconnect; writes stay refused until a grant. */
	link2(f, 0, 1);
	uint8_t *dst = (uint8_t *)f->r[1].base + 4096;
	assert_int_equal(rm_post_read(f->c[1], 0, 5, dst, 4, &f->r[0].desc, 0), 0);
	assert_int_equal(poll_n(f->c[1], wc, 1), 1);
	assert_int_equal(wc[0].status, RM_WC_SUCCESS);
	assert_memory_equal(dst, "AAAA", 4);
	assert_int_equal(rm_grant(f->c[0], 1), 0);
	assert_int_equal(rm_post_write(f->c[1], 0, 6, src, 4, &f->r[0].desc, 0,
				       RM_WR_SIGNALED), 0);
	assert_int_equal(poll_n(f->c[1], wc, 1), 1);
	assert_int_equal(wc[0].status, RM_WC_SUCCESS);
	assert_memory_equal(f->r[0].base, "BBBB", 4);
}

static void test_leader_change_and_reset_fallback(void **state)
{
	struct fx *f = *state;
	link2(f, 0, 1);
	link2(f, 0, 2);
	assert_int_equal(rm_grant(f->c[0], 1), 0);
	/* The device refuses the access change: the revoke takes the QP out of service
	 * (the error state) instead. */
	fake_refuse_access_modify = true;
	assert_int_equal(rm_revoke(f->c[0], 1), 0);
	assert_int_equal(fake_qp_state(f->ep[0][1].qpn), IBV_QPS_ERR);
	assert_int_equal(rm_stats(f->c[0])->revoke_resets, 1);
	assert_int_equal(rm_peer_state(f->c[0], 1), RM_PEER_ERROR);
	fake_refuse_access_modify = false;
	assert_int_equal(rm_grant(f->c[0], 2), 0);
	uint8_t *s1 = stage(f, 1, "old", 4);
	uint8_t *s2 = stage(f, 2, "new", 4);
	struct rm_wc wc[2];
	assert_int_equal(rm_post_write(f->c[1], 0, 1, s1, 4, &f->r[0].desc, 0,
				       RM_WR_SIGNALED), 0);
	assert_int_equal(poll_n(f->c[1], wc, 1), 1);
	assert_int_equal(wc[0].status, RM_WC_RETRY_EXC_ERR);   /* nobody answers */
	assert_int_equal(rm_post_write(f->c[2], 0, 2, s2, 4, &f->r[0].desc, 0,
				       RM_WR_SIGNALED), 0);
	assert_int_equal(poll_n(f->c[2], wc + 1, 1), 1);
	assert_int_equal(wc[1].status, RM_WC_SUCCESS);
	assert_memory_equal(f->r[0].base, "new", 4);
	/* Old leader reconnects: its end is read-only on the follower. */
	link2(f, 0, 1);
	assert_int_equal(fake_qp_access(f->ep[0][1].qpn), IBV_ACCESS_REMOTE_READ);
	assert_int_equal(rm_post_write(f->c[1], 0, 3, s1, 4, &f->r[0].desc, 0,
				       RM_WR_SIGNALED), 0);
	assert_int_equal(poll_n(f->c[1], wc, 1), 1);
	assert_int_equal(wc[0].status, RM_WC_REM_ACCESS_ERR);
	assert_memory_equal(f->r[0].base, "new", 4);
}

static void test_retry_exceeded_and_reconnect(void **state)
{
	struct fx *f = *state;
	link2(f, 0, 1);
	assert_int_equal(rm_grant(f->c[0], 1), 0);
	uint8_t *src = stage(f, 1, "lost", 5);
	fake_link_down = true;
	assert_int_equal(rm_post_write(f->c[1], 0, 1, src, 5, &f->r[0].desc, 0, 0), 0);
	assert_int_equal(rm_post_write(f->c[1], 0, 2, src, 5, &f->r[0].desc, 64,
				       RM_WR_SIGNALED), 0);
	struct rm_wc wc[4];
	assert_int_equal(poll_n(f->c[1], wc, 2), 2);
	assert_int_equal(wc[0].wr_id, 1);
	assert_int_equal(wc[0].status, RM_WC_RETRY_EXC_ERR);
	assert_int_equal(wc[1].wr_id, 2);
	assert_int_equal(wc[1].status, RM_WC_FLUSH_ERR);
	assert_int_equal(fake_qp_state(f->ep[1][0].qpn), IBV_QPS_ERR);
	assert_int_equal(rm_peer_state(f->c[1], 0), RM_PEER_ERROR);
	assert_int_equal(rm_stats(f->c[1])->wc_retry_exc, 1);
	fake_link_down = false;
	/* Reconnect with fresh endpoints: RESET -> INIT -> RTR -> RTS again. */
	link2(f, 0, 1);
	assert_int_equal(fake_qp_state(f->ep[1][0].qpn), IBV_QPS_RTS);
	assert_int_equal(rm_post_write(f->c[1], 0, 3, src, 5, &f->r[0].desc, 0,
				       RM_WR_SIGNALED), 0);
	assert_int_equal(poll_n(f->c[1], wc, 1), 1);
	assert_int_equal(wc[0].wr_id, 3);
	assert_int_equal(wc[0].status, RM_WC_SUCCESS);
	assert_memory_equal(f->r[0].base, "lost", 5);
	/* Reconnecting with work outstanding: it is flushed to the caller, not lost. */
	assert_int_equal(rm_post_write(f->c[1], 0, 10, src, 5, &f->r[0].desc, 0, 0), 0);
	assert_int_equal(rm_post_write(f->c[1], 0, 11, src, 5, &f->r[0].desc, 8,
				       RM_WR_SIGNALED), 0);
	link2(f, 0, 1);
	assert_int_equal(poll_n(f->c[1], wc, 2), 2);
	assert_int_equal(wc[0].wr_id, 10);
	assert_int_equal(wc[0].status, RM_WC_FLUSH_ERR);
	assert_int_equal(wc[1].wr_id, 11);
	assert_int_equal(wc[1].status, RM_WC_FLUSH_ERR);
	/* The reconnect left the connection usable. */
	assert_int_equal(rm_peer_state(f->c[1], 0), RM_PEER_CONNECTED);
	assert_int_equal(rm_post_write(f->c[1], 0, 12, src, 5, &f->r[0].desc, 0,
				       RM_WR_SIGNALED), 0);
	assert_int_equal(poll_n(f->c[1], wc, 1), 1);
	assert_int_equal(wc[0].status, RM_WC_SUCCESS);
}

/* The last fallback: the device refuses both the access change and the error state;
 * the QP is reset, and the follower's own requests still queued on it come back as
 * retry exceeded (their fate unknown), one completion each. */
static void test_revoke_last_fallback_reset(void **state)
{
	struct fx *f = *state;
	link2(f, 0, 1);
	assert_int_equal(rm_grant(f->c[0], 1), 0);
	assert_int_equal(rm_grant(f->c[1], 0), 0);
	uint8_t *src = stage(f, 0, "from the follower", 18);
	assert_int_equal(rm_post_write(f->c[0], 1, 1, src, 18, &f->r[1].desc, 0, 0), 0);
	assert_int_equal(rm_post_write(f->c[0], 1, 2, src, 18, &f->r[1].desc, 64,
				       RM_WR_SIGNALED), 0);
	fake_refuse_access_modify = true;
	fake_refuse_err = true;
	assert_int_equal(rm_revoke(f->c[0], 1), 0);
	assert_int_equal(fake_qp_state(f->ep[0][1].qpn), IBV_QPS_RESET);
	assert_int_equal(rm_peer_state(f->c[0], 1), RM_PEER_ERROR);
	struct rm_wc wc[4];
	assert_int_equal(poll_n(f->c[0], wc, 2), 2);
	assert_int_equal(wc[0].wr_id, 1);
	assert_int_equal(wc[0].status, RM_WC_RETRY_EXC_ERR);
	assert_int_equal(wc[1].wr_id, 2);
	assert_int_equal(wc[1].status, RM_WC_RETRY_EXC_ERR);
	assert_int_equal(rm_poll(f->c[0], wc, 4), 0);
	/* The old leader's writes get no answer. */
	uint8_t *s1 = stage(f, 1, "old", 4);
	assert_int_equal(rm_post_write(f->c[1], 0, 3, s1, 4, &f->r[0].desc, 0,
				       RM_WR_SIGNALED), 0);
	assert_int_equal(poll_n(f->c[1], wc, 1), 1);
	assert_int_equal(wc[0].status, RM_WC_RETRY_EXC_ERR);
	/* Neither fallback: not fenced, and said so. */
	fake_refuse_err = false;
	link2(f, 0, 1);
	fake_refuse_err = true;
	fake_qp_refuse_reset_once();
	assert_int_equal(rm_revoke(f->c[0], 1), -EIO);
	fake_refuse_access_modify = false;
	fake_refuse_err = false;
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_device),
		cmocka_unit_test_setup_teardown(test_qp_transitions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_path_allocates_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_read_signalling_inline, setup, teardown),
		cmocka_unit_test(test_inline_lowered_to_what_the_device_takes),
		cmocka_unit_test_setup_teardown(test_revoke_gives_remote_access_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leader_change_and_reset_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_exceeded_and_reconnect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke_last_fallback_reset, setup, teardown),
	};
	return cmocka_run_group_tests_name("rm_verbs", tests, NULL, NULL);
}
