/* SPDX-License-Identifier: Apache-2.0
 * Unit tests of the DPDK ethdev backend, in one process without root or hugepages:
 * EAL --no-huge --no-pci --no-shconf --vdev=net_ring0 gives a loopback port (what is
 * sent on it is received on it). The test injects hand-built frames with
 * rte_eth_tx_burst and reads what the backend sent with rte_eth_rx_burst, so it checks
 * the framing both ways: good datagrams, every drop reason, ARP and ICMP echo replies,
 * the transmit headers, and wait_rx.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <rte_arp.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include "env.h"
#include "nic.h"

#define OUR_PORT 7100u
static const uint8_t our_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t peer_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };

static struct nic_port *g_port;
static struct rte_mempool *g_pool;   /* frames the test injects */

static uint32_t our_ip(void)
{
	return htonl(0x0a000001u);   /* 10.0.0.1 */
}

static uint32_t peer_ip(void)
{
	return htonl(0x0a000002u);   /* 10.0.0.2 */
}

static int group_setup(void **state)
{
	(void)state;
	struct nic_conf c = {
		.backend = NIC_BACKEND_DPDK,
		.local = nic_addr_make(our_ip(), OUR_PORT),
		.burst = 32,
		.buf_bytes = 2048,
		.tx_bufs = 64,
		.rx_hold_max = 2,
		.eth_port = 0,
		.eth_mac_set = true,
	};
	memcpy(c.local.mac, our_mac, 6);
	char err[256];
	g_port = nic_open(&c, err, sizeof(err));
	if (g_port == NULL) {
		fprintf(stderr, "nic_open: %s\n", err);
		return -1;
	}
	g_pool = rte_pktmbuf_pool_create("test_inject", 255, 0, 0, 4096, (int)rte_socket_id());
	return g_pool == NULL ? -1 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	nic_close(g_port);
	rte_mempool_free(g_pool);
	return 0;
}

static void inject(const uint8_t *frame, uint32_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(g_pool);
	assert_non_null(m);
	uint8_t *d = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len);
	assert_non_null(d);
	memcpy(d, frame, len);
	assert_int_equal(rte_eth_tx_burst(0, 0, &m, 1), 1);
}

/** Frames the backend sent (read off the loopback ring). */
static uint16_t sent_frames(struct rte_mbuf **out, uint16_t n)
{
	return rte_eth_rx_burst(0, 0, out, n);
}

/** Builds Eth/IPv4/UDP around a payload; @return the frame length. */
static uint32_t build_udp(uint8_t *f, uint32_t dst_ip, uint16_t dst_port, uint8_t proto,
			  const uint8_t *pl, uint32_t plen)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)f;
	memcpy(eth->dst_addr.addr_bytes, our_mac, 6);
	memcpy(eth->src_addr.addr_bytes, peer_mac, 6);
	eth->ether_type = htons(RTE_ETHER_TYPE_IPV4);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = htons((uint16_t)(sizeof(*ip) + 8 + plen));
	ip->time_to_live = 64;
	ip->next_proto_id = proto;
	ip->src_addr = peer_ip();
	ip->dst_addr = dst_ip;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	struct rte_udp_hdr *u = (struct rte_udp_hdr *)(ip + 1);
	u->src_port = htons(5555);
	u->dst_port = htons(dst_port);
	u->dgram_len = htons((uint16_t)(8 + plen));
	u->dgram_cksum = 0;
	memcpy(u + 1, pl, plen);
	return (uint32_t)(14 + sizeof(*ip) + 8 + plen);
}

static void fix_ip_cksum(uint8_t *f)
{
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(f + 14);
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
}

static uint64_t drops(enum nic_drop d)
{
	return nic_stats(g_port)->drops[d];
}

static void test_good_datagram(void **state)
{
	(void)state;
	uint8_t f[256], pl[100];
	for (unsigned i = 0; i < sizeof(pl); i++)
		pl[i] = (uint8_t)(i * 7);
	uint32_t len = build_udp(f, our_ip(), OUR_PORT, IPPROTO_UDP, pl, sizeof(pl));
	inject(f, len);
	struct nic_pkt pk[32];
	uint16_t n = nic_rx_burst(g_port, pk, 32);
	assert_int_equal(n, 1);
	assert_int_equal(pk[0].len, sizeof(pl));
	assert_memory_equal(pk[0].data, pl, sizeof(pl));
	assert_int_equal(pk[0].src.ip_be, peer_ip());
	assert_int_equal(pk[0].src.port_be, htons(5555));
	assert_memory_equal(pk[0].src.mac, peer_mac, 6);
	nic_rx_done(g_port);
	/* Ethernet padding past the IP datagram is ignored. */
	uint32_t plen1 = build_udp(f, our_ip(), OUR_PORT, IPPROTO_UDP, pl, 4);
	memset(f + plen1, 0xee, 60 - plen1);
	inject(f, 60);
	n = nic_rx_burst(g_port, pk, 32);
	assert_int_equal(n, 1);
	assert_int_equal(pk[0].len, 4);
	nic_rx_done(g_port);
}

static void test_drops_by_reason(void **state)
{
	(void)state;
	uint8_t f[256], pl[16] = { 1, 2, 3 };
	struct nic_pkt pk[32];
	uint64_t before[NIC_DROP_MAX];
	for (int d = 0; d < NIC_DROP_MAX; d++)
		before[d] = drops((enum nic_drop)d);
	uint32_t len;

	len = build_udp(f, htonl(0x0a000009u), OUR_PORT, IPPROTO_UDP, pl, sizeof(pl));
	inject(f, len);                                   /* wrong dst IP */
	len = build_udp(f, our_ip(), OUR_PORT + 1, IPPROTO_UDP, pl, sizeof(pl));
	inject(f, len);                                   /* wrong dst port */
	len = build_udp(f, our_ip(), OUR_PORT, IPPROTO_TCP, pl, sizeof(pl));
	inject(f, len);                                   /* not UDP */
	len = build_udp(f, our_ip(), OUR_PORT, IPPROTO_UDP, pl, sizeof(pl));
	f[14 + 10] ^= 0x55;                               /* bad IPv4 checksum */
	inject(f, len);
	len = build_udp(f, our_ip(), OUR_PORT, IPPROTO_UDP, pl, sizeof(pl));
	inject(f, len - 5);                               /* truncated frame */
	len = build_udp(f, our_ip(), OUR_PORT, IPPROTO_UDP, pl, sizeof(pl));
	f[14 + 6] = 0x20;                                 /* MF: a fragment */
	fix_ip_cksum(f);
	inject(f, len);
	len = build_udp(f, our_ip(), OUR_PORT, IPPROTO_UDP, pl, sizeof(pl));
	f[12] = 0x86;                                     /* IPv6 ethertype */
	f[13] = 0xdd;
	inject(f, len);
	inject(f, 10);                                    /* shorter than Ethernet */
	len = build_udp(f, our_ip(), OUR_PORT, IPPROTO_UDP, pl, sizeof(pl));
	f[14] = 0x65;                                     /* version 6 in an IPv4 frame */
	fix_ip_cksum(f);
	inject(f, len);
	len = build_udp(f, our_ip(), OUR_PORT, IPPROTO_UDP, pl, sizeof(pl));
	f[14 + 20 + 4] = 0;                               /* UDP length 3 < 8 */
	f[14 + 20 + 5] = 3;
	inject(f, len);

	assert_int_equal(nic_rx_burst(g_port, pk, 32), 0);
	nic_rx_done(g_port);
	assert_int_equal(drops(NIC_DROP_RX_NOT_FOR_US) - before[NIC_DROP_RX_NOT_FOR_US], 2);
	assert_int_equal(drops(NIC_DROP_RX_NOT_UDP) - before[NIC_DROP_RX_NOT_UDP], 1);
	assert_int_equal(drops(NIC_DROP_RX_BAD_HDR) - before[NIC_DROP_RX_BAD_HDR], 3);
	assert_int_equal(drops(NIC_DROP_RX_SHORT) - before[NIC_DROP_RX_SHORT], 2);
	assert_int_equal(drops(NIC_DROP_RX_FRAG) - before[NIC_DROP_RX_FRAG], 1);
	assert_int_equal(drops(NIC_DROP_RX_NOT_IPV4) - before[NIC_DROP_RX_NOT_IPV4], 1);
	/* The backend sent nothing in answer. */
	struct rte_mbuf *out[8];
	assert_int_equal(sent_frames(out, 8), 0);
}

static uint32_t build_arp(uint8_t *f, uint32_t target_ip)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)f;
	memset(eth->dst_addr.addr_bytes, 0xff, 6);
	memcpy(eth->src_addr.addr_bytes, peer_mac, 6);
	eth->ether_type = htons(RTE_ETHER_TYPE_ARP);
	struct rte_arp_hdr *a = (struct rte_arp_hdr *)(eth + 1);
	a->arp_hardware = htons(RTE_ARP_HRD_ETHER);
	a->arp_protocol = htons(RTE_ETHER_TYPE_IPV4);
	a->arp_hlen = 6;
	a->arp_plen = 4;
	a->arp_opcode = htons(RTE_ARP_OP_REQUEST);
	memcpy(a->arp_data.arp_sha.addr_bytes, peer_mac, 6);
	a->arp_data.arp_sip = peer_ip();
	memset(a->arp_data.arp_tha.addr_bytes, 0, 6);
	a->arp_data.arp_tip = target_ip;
	return 14 + sizeof(*a);
}

static void test_arp(void **state)
{
	(void)state;
	uint8_t f[128];
	struct nic_pkt pk[32];
	uint64_t replies = nic_stats(g_port)->arp_replies;
	uint64_t not4 = drops(NIC_DROP_RX_NOT_IPV4);
	inject(f, build_arp(f, our_ip()));
	inject(f, build_arp(f, htonl(0x0a000009u)));   /* someone else's: ignored */
	assert_int_equal(nic_rx_burst(g_port, pk, 32), 0);
	nic_rx_done(g_port);
	assert_int_equal(nic_stats(g_port)->arp_replies, replies + 1);
	assert_int_equal(drops(NIC_DROP_RX_NOT_IPV4), not4 + 1);

	struct rte_mbuf *out[8];
	assert_int_equal(sent_frames(out, 8), 1);
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(out[0], struct rte_ether_hdr *);
	assert_memory_equal(eth->dst_addr.addr_bytes, peer_mac, 6);
	assert_memory_equal(eth->src_addr.addr_bytes, our_mac, 6);
	assert_int_equal(ntohs(eth->ether_type), RTE_ETHER_TYPE_ARP);
	struct rte_arp_hdr *a = (struct rte_arp_hdr *)(eth + 1);
	assert_int_equal(ntohs(a->arp_opcode), RTE_ARP_OP_REPLY);
	assert_memory_equal(a->arp_data.arp_sha.addr_bytes, our_mac, 6);
	assert_int_equal(a->arp_data.arp_sip, our_ip());
	assert_memory_equal(a->arp_data.arp_tha.addr_bytes, peer_mac, 6);
	assert_int_equal(a->arp_data.arp_tip, peer_ip());
	rte_pktmbuf_free(out[0]);
}

static void test_icmp_echo(void **state)
{
	(void)state;
	uint8_t f[256];
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)f;
	memcpy(eth->dst_addr.addr_bytes, our_mac, 6);
	memcpy(eth->src_addr.addr_bytes, peer_mac, 6);
	eth->ether_type = htons(RTE_ETHER_TYPE_IPV4);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = htons(20 + 8 + 32);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_ICMP;
	ip->src_addr = peer_ip();
	ip->dst_addr = our_ip();
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	struct rte_icmp_hdr *ic = (struct rte_icmp_hdr *)(ip + 1);
	ic->icmp_type = RTE_IP_ICMP_ECHO_REQUEST;
	ic->icmp_code = 0;
	ic->icmp_ident = htons(42);
	ic->icmp_seq_nb = htons(7);
	uint8_t *data = (uint8_t *)(ic + 1);
	for (int i = 0; i < 32; i++)
		data[i] = (uint8_t)i;
	ic->icmp_cksum = 0;
	ic->icmp_cksum = (uint16_t)~rte_raw_cksum(ic, 8 + 32);
	uint64_t replies = nic_stats(g_port)->icmp_replies;
	inject(f, 14 + 20 + 8 + 32);

	struct nic_pkt pk[32];
	assert_int_equal(nic_rx_burst(g_port, pk, 32), 0);
	nic_rx_done(g_port);
	assert_int_equal(nic_stats(g_port)->icmp_replies, replies + 1);
	struct rte_mbuf *out[8];
	assert_int_equal(sent_frames(out, 8), 1);
	assert_int_equal(rte_pktmbuf_pkt_len(out[0]), 14 + 20 + 8 + 32);
	struct rte_ether_hdr *re = rte_pktmbuf_mtod(out[0], struct rte_ether_hdr *);
	assert_memory_equal(re->dst_addr.addr_bytes, peer_mac, 6);
	assert_memory_equal(re->src_addr.addr_bytes, our_mac, 6);
	struct rte_ipv4_hdr *rip = (struct rte_ipv4_hdr *)(re + 1);
	assert_int_equal(rip->src_addr, our_ip());
	assert_int_equal(rip->dst_addr, peer_ip());
	assert_int_equal(rte_raw_cksum(rip, 20), 0xffff);
	struct rte_icmp_hdr *ric = (struct rte_icmp_hdr *)(rip + 1);
	assert_int_equal(ric->icmp_type, RTE_IP_ICMP_ECHO_REPLY);
	assert_int_equal(ntohs(ric->icmp_ident), 42);
	assert_int_equal(ntohs(ric->icmp_seq_nb), 7);
	assert_int_equal(rte_raw_cksum(ric, 8 + 32), 0xffff);
	assert_memory_equal(ric + 1, data, 32);
	rte_pktmbuf_free(out[0]);
}

static void test_tx_framing(void **state)
{
	(void)state;
	struct nic_addr dst = nic_addr_make(peer_ip(), 5555);
	memcpy(dst.mac, peer_mac, 6);
	struct nic_addr nomac = nic_addr_make(peer_ip(), 5556);
	for (uint32_t i = 0; i < 3; i++) {
		uint32_t cap = 0;
		uint8_t *b = nic_tx_buf(g_port, &cap);
		assert_non_null(b);
		assert_int_equal(cap, 2048);
		memset(b, (int)(0x10 + i), 50 + i);
		nic_tx_commit(g_port, 50 + i, i == 2 ? &nomac : &dst);
	}
	assert_int_equal(nic_tx_pending(g_port), 3);
	assert_int_equal(nic_tx_flush(g_port), 3);
	assert_int_equal(nic_tx_pending(g_port), 0);
	struct rte_mbuf *out[8];
	assert_int_equal(sent_frames(out, 8), 3);
	for (uint32_t i = 0; i < 3; i++) {
		struct rte_ether_hdr *eth = rte_pktmbuf_mtod(out[i], struct rte_ether_hdr *);
		assert_int_equal(rte_pktmbuf_pkt_len(out[i]), 42 + 50 + i);
		static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
		assert_memory_equal(eth->dst_addr.addr_bytes, i == 2 ? bcast : peer_mac, 6);
		assert_memory_equal(eth->src_addr.addr_bytes, our_mac, 6);
		assert_int_equal(ntohs(eth->ether_type), RTE_ETHER_TYPE_IPV4);
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
		assert_int_equal(rte_raw_cksum(ip, 20), 0xffff);
		assert_int_equal(ntohs(ip->total_length), 20 + 8 + 50 + i);
		assert_int_equal(ip->src_addr, our_ip());
		assert_int_equal(ip->dst_addr, peer_ip());
		assert_int_equal(ip->next_proto_id, IPPROTO_UDP);
		struct rte_udp_hdr *u = (struct rte_udp_hdr *)(ip + 1);
		assert_int_equal(ntohs(u->src_port), OUR_PORT);
		assert_int_equal(ntohs(u->dst_port), i == 2 ? 5556 : 5555);
		assert_int_equal(ntohs(u->dgram_len), 8 + 50 + i);
		const uint8_t *pl = (const uint8_t *)(u + 1);
		for (uint32_t k = 0; k < 50 + i; k++)
			assert_int_equal(pl[k], 0x10 + i);
		rte_pktmbuf_free(out[i]);
	}
	assert_int_equal(nic_stats(g_port)->tx_pkts, 3);
	assert_int_equal(nic_stats(g_port)->tx_bytes, 50 + 51 + 52);
}

/** What the backend sends to itself passes its own rx checks: framing round trip. */
static void test_loopback_roundtrip_and_wait(void **state)
{
	(void)state;
	struct nic_pkt pk[32];
	/* Nothing queued: a short wait times out. */
	assert_int_equal(nic_wait_rx(g_port, 1000000), 0);
	struct nic_addr self = nic_local_addr(g_port);
	assert_memory_equal(self.mac, our_mac, 6);
	for (uint32_t i = 0; i < 5; i++) {
		uint32_t cap;
		uint8_t *b = nic_tx_buf(g_port, &cap);
		assert_non_null(b);
		memset(b, (int)i, 1000);
		nic_tx_commit(g_port, 1000, &self);
	}
	/* An uncommitted buffer is abandoned: nothing extra goes out. */
	uint32_t cap;
	assert_non_null(nic_tx_buf(g_port, &cap));
	assert_int_equal(nic_tx_flush(g_port), 5);
	assert_int_equal(nic_wait_rx(g_port, 100000000), 1);
	uint16_t n = nic_rx_burst(g_port, pk, 32);
	assert_int_equal(n, 5);
	for (uint16_t i = 0; i < n; i++) {
		assert_int_equal(pk[i].len, 1000);
		assert_int_equal(pk[i].data[999], i);
		assert_true(nic_addr_eq(&pk[i].src, &self));
		assert_memory_equal(pk[i].src.mac, our_mac, 6);
	}
	nic_rx_done(g_port);
	assert_int_equal(nic_rx_burst(g_port, pk, 32), 0);
}

/** A held datagram's mbuf outlives its burst: later bursts free theirs, the held
 *  view keeps its bytes; holds are bounded (refusals counted) and a release frees the
 *  mbuf (the pool gets it back). A frame the backend drops comes first, so views and
 *  frames do not line up. */
static void test_hold(void **state)
{
	(void)state;
	struct nic_pkt pk[32];
	struct nic_addr self = nic_local_addr(g_port);
	uint8_t f[256], pl[100];
	memset(pl, 0x77, sizeof(pl));
	inject(f, build_udp(f, our_ip(), OUR_PORT + 1u, IPPROTO_UDP, pl, sizeof(pl)));  /* not ours */
	for (uint32_t i = 0; i < 4; i++) {
		uint32_t cap;
		uint8_t *b = nic_tx_buf(g_port, &cap);
		memset(b, (int)(0x20 + i), 300);
		nic_tx_commit(g_port, 300, &self);
	}
	assert_int_equal(nic_tx_flush(g_port), 4);
	uint16_t n = nic_rx_burst(g_port, pk, 32);
	assert_int_equal(n, 4);
	uint32_t h1 = nic_rx_hold(g_port, 1), h3 = nic_rx_hold(g_port, 3);
	assert_int_not_equal(h1, NIC_HOLD_NONE);
	assert_int_not_equal(h3, NIC_HOLD_NONE);
	assert_int_equal(nic_rx_hold(g_port, 2), NIC_HOLD_NONE);   /* rx_hold_max = 2 */
	assert_int_equal(nic_stats(g_port)->rx_hold_full, 1);
	const uint8_t *d1 = pk[1].data, *d3 = pk[3].data;
	nic_rx_done(g_port);
	/* Later bursts come and go. */
	for (uint32_t r = 0; r < 3; r++) {
		for (uint32_t i = 0; i < 8; i++) {
			uint32_t cap;
			uint8_t *b = nic_tx_buf(g_port, &cap);
			memset(b, 0x55, 300);
			nic_tx_commit(g_port, 300, &self);
		}
		nic_tx_flush(g_port);
		assert_int_equal(nic_rx_burst(g_port, pk, 32), 8);
		nic_rx_done(g_port);
	}
	for (uint32_t x = 0; x < 300; x++) {
		assert_int_equal(d1[x], 0x21);
		assert_int_equal(d3[x], 0x23);
	}
	assert_int_equal(nic_rx_held(g_port), 2);
	struct rte_mempool *mp = rte_mempool_lookup("nic_dpdk_0");   /* no per-lcore cache */
	assert_non_null(mp);
	unsigned out = rte_mempool_in_use_count(mp);
	nic_rx_release(g_port, h1);
	nic_rx_release(g_port, h3);
	assert_int_equal(nic_rx_held(g_port), 0);
	assert_int_equal(rte_mempool_in_use_count(mp), out - 2u);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tree(const char *dir)
{
	(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(int argc, char **argv)
{
	(void)argc;
	/* --no-shconf and a per-process prefix: parallel test runs do not share state
	 * (--in-memory would too, but DPDK refuses it with --no-huge). */
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "--file-prefix=pwnictest%ld", (long)getpid());
	char *eal[] = { argv[0], "--no-huge", "--no-pci", "--no-shconf", "--no-telemetry",
			prefix, "-m", "64", "--log-level=lib.eal:error", "--vdev=net_ring0", NULL };
	/* EAL's runtime files go to a private directory, removed at the end. */
	char rundir[] = "/tmp/pwnictest.XXXXXX";
	if (mkdtemp(rundir) == NULL || setenv("RUNTIME_DIRECTORY", rundir, 1) != 0) {
		perror("test_nic_dpdk: mkdtemp");
		return 1;
	}
	char err[256];
	if (env_eal_init(10, eal, err, sizeof(err)) != 0) {
		fprintf(stderr, "test_nic_dpdk: %s\n", err);
		rm_tree(rundir);
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_datagram),
		cmocka_unit_test(test_drops_by_reason),
		cmocka_unit_test(test_arp),
		cmocka_unit_test(test_icmp_echo),
		cmocka_unit_test(test_tx_framing),
		cmocka_unit_test(test_loopback_roundtrip_and_wait),
		cmocka_unit_test(test_hold),
	};
	int r = cmocka_run_group_tests(tests, group_setup, group_teardown);
	env_eal_cleanup();
	rm_tree(rundir);
	return r;
}
