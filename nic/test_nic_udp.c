/* SPDX-License-Identifier: Apache-2.0
 * Unit tests of the kernel UDP backend over loopback: bursts both ways with the right
 * payloads and sources, the automatic flush when every tx buffer is queued, truncation
 * counted as a drop, wait timeouts, and the bind-clash message.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "nic.h"

static struct nic_port *open_hold(uint16_t port, uint32_t buf_bytes, uint32_t tx_bufs,
				  uint32_t holds)
{
	struct nic_conf c = {
		.rx_hold_max = holds,
		.backend = NIC_BACKEND_UDP,
		.local = nic_addr_make(htonl(INADDR_LOOPBACK), port),
		.burst = 16,
		.buf_bytes = buf_bytes,
		.tx_bufs = tx_bufs,
		.sock_buf_bytes = 1u << 20,
	};
	char err[256];
	struct nic_port *p = nic_open(&c, err, sizeof(err));
	if (p == NULL)
		fail_msg("nic_open: %s", err);
	return p;
}

static struct nic_port *open_port(uint16_t port, uint32_t buf_bytes, uint32_t tx_bufs)
{
	return open_hold(port, buf_bytes, tx_bufs, 0);
}

static void send_n(struct nic_port *a, const struct nic_addr *to, uint32_t n, uint32_t len)
{
	for (uint32_t i = 0; i < n; i++) {
		uint32_t cap = 0;
		uint8_t *b = nic_tx_buf(a, &cap);
		assert_non_null(b);
		assert_true(cap >= len);
		memset(b, (int)(i & 0xff), len);
		nic_tx_commit(a, len, to);
	}
}

/** Receives until n datagrams came or 2 s passed. */
static uint32_t recv_all(struct nic_port *b, struct nic_pkt *got, uint32_t n,
			 uint8_t *copy, uint32_t copy_stride)
{
	uint32_t have = 0;
	for (int tries = 0; have < n && tries < 200; tries++) {
		struct nic_pkt pk[16];
		uint16_t k = nic_rx_burst(b, pk, 16);
		for (uint16_t i = 0; i < k && have < n; i++, have++) {
			got[have] = pk[i];
			memcpy(copy + (size_t)have * copy_stride, pk[i].data,
			       pk[i].len < copy_stride ? pk[i].len : copy_stride);
		}
		nic_rx_done(b);
		if (k == 0)
			nic_wait_rx(b, 10 * 1000 * 1000);
	}
	return have;
}

static void test_burst_roundtrip(void **state)
{
	(void)state;
	struct nic_port *a = open_port(0, 2048, 64);
	struct nic_port *b = open_port(0, 2048, 64);
	struct nic_addr la = nic_local_addr(a), lb = nic_local_addr(b);
	assert_int_not_equal(la.port_be, 0);
	assert_int_not_equal(lb.port_be, 0);

	send_n(a, &lb, 40, 100);
	assert_int_equal(nic_tx_pending(a), 40);
	assert_int_equal(nic_tx_flush(a), 40);
	assert_int_equal(nic_tx_pending(a), 0);

	static struct nic_pkt got[64];
	static uint8_t copy[64 * 128];
	assert_int_equal(recv_all(b, got, 40, copy, 128), 40);
	for (uint32_t i = 0; i < 40; i++) {
		assert_int_equal(got[i].len, 100);
		assert_true(nic_addr_eq(&got[i].src, &la));
		assert_int_equal(copy[i * 128], i & 0xff);   /* loopback keeps order */
		assert_int_equal(copy[i * 128 + 99], i & 0xff);
	}
	const struct nic_stats *sa = nic_stats(a), *sb = nic_stats(b);
	assert_int_equal(sa->tx_pkts, 40);
	assert_int_equal(sa->tx_bytes, 4000);
	assert_int_equal(sa->tx_flushes, 1);
	assert_int_equal(sb->rx_pkts, 40);
	assert_int_equal(sb->rx_bytes, 4000);
	for (int d = 0; d < NIC_DROP_MAX; d++) {
		assert_int_equal(sa->drops[d], 0);
		assert_int_equal(sb->drops[d], 0);
	}

	/* And back, to the address the datagram came from. */
	send_n(b, &got[0].src, 3, 10);
	assert_int_equal(nic_tx_flush(b), 3);
	assert_int_equal(recv_all(a, got, 3, copy, 128), 3);
	assert_true(nic_addr_eq(&got[0].src, &lb));
	nic_close(a);
	nic_close(b);
}

static void test_auto_flush_when_full(void **state)
{
	(void)state;
	struct nic_port *a = open_port(0, 256, 16);
	struct nic_port *b = open_port(0, 256, 16);
	struct nic_addr lb = nic_local_addr(b);
	send_n(a, &lb, 40, 20);   /* 16 + 16 flushed by nic_tx_buf, 8 pending */
	assert_int_equal(nic_tx_pending(a), 8);
	assert_int_equal(nic_stats(a)->tx_pkts, 32);
	nic_tx_flush(a);
	static struct nic_pkt got[64];
	static uint8_t copy[64 * 32];
	assert_int_equal(recv_all(b, got, 40, copy, 32), 40);
	nic_close(a);
	nic_close(b);
}

static void test_truncated_is_dropped(void **state)
{
	(void)state;
	struct nic_port *a = open_port(0, 4096, 16);
	struct nic_port *b = open_port(0, 512, 16);
	struct nic_addr lb = nic_local_addr(b);
	send_n(a, &lb, 1, 1000);   /* longer than b's buffers */
	send_n(a, &lb, 1, 512);    /* exactly fits */
	nic_tx_flush(a);
	static struct nic_pkt got[4];
	static uint8_t copy[4 * 16];
	assert_int_equal(recv_all(b, got, 1, copy, 16), 1);
	assert_int_equal(got[0].len, 512);
	assert_int_equal(nic_stats(b)->drops[NIC_DROP_RX_TRUNC], 1);
	nic_close(a);
	nic_close(b);
}

static void test_wait_times_out(void **state)
{
	(void)state;
	struct nic_port *a = open_port(0, 256, 16);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(nic_wait_rx(a, 30 * 1000 * 1000), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	int64_t ns = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec);
	assert_true(ns >= 25 * 1000 * 1000);
	assert_int_equal(nic_wait_rx(a, 0), 0);
	struct nic_pkt pk[4];
	assert_int_equal(nic_rx_burst(a, pk, 4), 0);
	assert_int_equal(nic_stats(a)->rx_polls, 1);
	assert_int_equal(nic_stats(a)->rx_bursts, 0);
	nic_close(a);
}

/** A held datagram outlives its burst, byte for byte, while later bursts reuse the
 *  other buffers; holds are bounded by rx_hold_max (refusals counted), and a release
 *  makes room again. The first datagram of a burst is dropped (truncated), so view k is
 *  not message k: the hold must take the view's buffer. */
static void test_hold_outlives_burst(void **state)
{
	(void)state;
	struct nic_port *a = open_port(0, 2048, 64);
	struct nic_port *b = open_hold(0, 256, 16, 3);
	struct nic_addr lb = nic_local_addr(b);
	send_n(a, &lb, 1, 1000);   /* truncated at b: dropped, but it took message slot 0 */
	for (uint32_t i = 1; i <= 10; i++) {
		uint32_t cap;
		uint8_t *buf = nic_tx_buf(a, &cap);
		memset(buf, (int)(0x40 + i), 200);
		nic_tx_commit(a, 200, &lb);
	}
	nic_tx_flush(a);

	const uint8_t *held_data[3];
	uint32_t held_h[3], n_held = 0, seen = 0;
	for (int tries = 0; seen < 10 && tries < 200; tries++) {
		struct nic_pkt pk[4];
		uint16_t k = nic_rx_burst(b, pk, 4);   /* several bursts */
		for (uint16_t i = 0; i < k; i++, seen++) {
			assert_int_equal(pk[i].data[0], 0x40 + seen + 1);
			if (seen % 3 != 0)
				continue;
			uint32_t h = nic_rx_hold(b, i);
			if (n_held == 3) {   /* seen 9: full */
				assert_int_equal(h, NIC_HOLD_NONE);
				continue;
			}
			assert_int_not_equal(h, NIC_HOLD_NONE);
			held_h[n_held] = h;
			held_data[n_held++] = pk[i].data;
		}
		nic_rx_done(b);
		if (k == 0)
			nic_wait_rx(b, 10 * 1000 * 1000);
	}
	assert_int_equal(seen, 10);
	assert_int_equal(nic_rx_held(b), 3);
	assert_int_equal(nic_stats(b)->rx_holds, 3);
	assert_int_equal(nic_stats(b)->rx_hold_full, 1);
	assert_int_equal(nic_stats(b)->drops[NIC_DROP_RX_TRUNC], 1);
	/* Seen 0, 3, 6 (datagrams 1, 4, 7): intact after every later burst. */
	for (uint32_t j = 0; j < 3; j++)
		for (uint32_t x = 0; x < 200; x++)
			assert_int_equal(held_data[j][x], 0x40 + 3 * j + 1);

	/* A release makes room; the freed buffer serves later bursts. */
	nic_rx_release(b, held_h[1]);
	assert_int_equal(nic_rx_held(b), 2);
	send_n(a, &lb, 8, 100);
	nic_tx_flush(a);
	static struct nic_pkt got[8];
	static uint8_t copy[8 * 16];
	assert_int_equal(recv_all(b, got, 8, copy, 16), 8);
	for (uint32_t x = 0; x < 200; x++) {
		assert_int_equal(held_data[0][x], 0x41);
		assert_int_equal(held_data[2][x], 0x47);
	}
	send_n(a, &lb, 1, 50);
	nic_tx_flush(a);
	struct nic_pkt pk[1];
	for (int tries = 0; tries < 200 && nic_rx_burst(b, pk, 1) == 0; tries++)
		nic_wait_rx(b, 10 * 1000 * 1000);
	assert_int_not_equal(nic_rx_hold(b, 0), NIC_HOLD_NONE);
	assert_int_equal(nic_rx_held(b), 3);
	nic_rx_done(b);
	/* Closing with holds out frees them (ASan's leak check). */
	nic_close(a);
	nic_close(b);

	/* rx_hold_max is bounded. */
	struct nic_conf c = { .backend = NIC_BACKEND_UDP, .burst = 16, .buf_bytes = 256,
			      .tx_bufs = 16, .rx_hold_max = NIC_HOLD_MAX + 1 };
	char err[128];
	assert_null(nic_open(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "rx_hold_max"));
}

static void test_bind_clash(void **state)
{
	(void)state;
	struct nic_port *a = open_port(0, 256, 16);
	struct nic_addr la = nic_local_addr(a);
	struct nic_conf c = { .backend = NIC_BACKEND_UDP, .local = la, .burst = 16,
			      .buf_bytes = 256, .tx_bufs = 16 };
	char err[256], want[128], where[32];
	errno = 0;
	assert_null(nic_open(&c, err, sizeof(err)));
	assert_int_equal(errno, EADDRINUSE);
	nic_addr_format(&la, where, sizeof(where));
	snprintf(want, sizeof(want), "bind %s: Address already in use", where);
	assert_string_equal(err, want);

	c.burst = 0;   /* a bad conf is refused before anything is opened */
	assert_null(nic_open(&c, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	nic_close(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_roundtrip),
		cmocka_unit_test(test_auto_flush_when_full),
		cmocka_unit_test(test_truncated_is_dropped),
		cmocka_unit_test(test_wait_times_out),
		cmocka_unit_test(test_hold_outlives_burst),
		cmocka_unit_test(test_bind_clash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
