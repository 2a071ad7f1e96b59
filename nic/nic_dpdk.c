/* SPDX-License-Identifier: Apache-2.0
 * nic backend: one DPDK ethdev port (memif, af_packet, ring, PCI PMDs), one rx and one
 * tx queue, Eth/IPv4/UDP framing in software.
 *
 * Memory: one mbuf pool per port, created at open and sized by a formula (see
 * pool_size): every descriptor of both rings, the mbufs held by one rx burst and one
 * wait_rx stash, every hold (nic_rx_hold keeps the mbuf), every transmit buffer plus
 * the spare one. The data room of each mbuf
 * holds the headers plus conf.buf_bytes, so a datagram is always one segment on tx.
 * The burst functions allocate nothing: rte_pktmbuf_alloc/free take from and give back
 * to that pool. No system call on the data path; wait_rx sleeps (nanosleep) only when
 * nothing arrived, which is the idle path.
 *
 * rx: frames are validated (lengths, IPv4 version/IHL/checksum unless the PMD checked
 * it, fragments, dst IP, dst port) and dropped by reason; ARP requests and ICMP echo
 * requests for our IP are answered in place (the received mbuf becomes the reply),
 * at most one burst of them per rx burst. The UDP checksum is not verified: kernel
 * senders on veth leave it partial (offloaded), and the paxwire codec has its own
 * checks. tx: the UDP checksum is 0 (allowed by RFC 768 over IPv4); the IPv4 header
 * checksum is computed in software.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_devargs.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_udp.h>

#include "env_log.h"
#include "env.h"
#include "nic_pvt.h"

/** Ring sizes asked of the PMD (it may adjust them). */
#define DPDK_RX_DESC 256u
#define DPDK_TX_DESC 256u
/** Header bytes in front of every payload. */
#define DPDK_HDR_BYTES (RTE_ETHER_HDR_LEN + sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_udp_hdr))
/** Default IPv4 TTL of what we send. */
#define DPDK_TTL 64u
/** Longest idle sleep of wait_rx between two polls of the rx queue. */
#define DPDK_WAIT_SLICE_NS 20000u
/** memif: look at the link this often, and restart a port whose link stayed down this
 *  long (the peer process restarted; a memif client does not reconnect by itself). */
#define DPDK_LINK_CHECK_NS 200000000u
#define DPDK_LINK_RESTART_NS 1000000000u
#define DPDK_LINK_RESTART_MAX_NS 4000000000ull
/** memif's buffer size when its vdev gives no bsize= (DPDK 22.11's default). */
#define DPDK_MEMIF_BSIZE_DEFAULT 2048u

_Static_assert(DPDK_HDR_BYTES == 42u, "Eth + IPv4 (no options) + UDP");

struct nic_dpdk {
	struct nic_port base;   /* first: the dispatch casts */
	uint16_t port_id;
	bool started;
	/** Started and not stopped since: false after a housekeeping restart whose start
	 *  failed (a memif client whose server is gone: its connect fails). No burst then:
	 *  ethdev's stand-in burst functions of a stopped port print a stack dump that
	 *  looks like a crash (issue 15). Written and read by the port's own thread. */
	bool running;
	bool mac_soft;          /**< the PMD could not take conf's MAC: used in software */
	bool driver_is_memif;
	bool is_memif_client;        /**< a memif client: housekeep restarts it when its link
	                             stays down */
	/** The link as housekeep last saw it (logged when it changes; issue 15): 0 not
	 *  looked at yet, 1 up, 2 down. */
	uint8_t link_seen;
	const char *driver;          /**< the PMD's name (static in the driver), for the log */
	uint64_t next_link_check_ns;
	uint64_t link_down_since_ns;   /**< 0: up (or not looked at yet) */
	/** How long the link stays down before the next restart: DPDK_LINK_RESTART_NS,
	 *  doubled after each restart that could not start the port (its peer is gone:
	 *  memif logs a failed connect each time), up to DPDK_LINK_RESTART_MAX_NS. */
	uint64_t restart_wait_ns;
	struct rte_mempool *pool;
	struct rte_ether_addr mac;
	/* rx: mbufs of the last burst (rx_held[k] carries view k), freed by rx_done except
	 * the ones a hold took (NULL there). Invariant: rx_held_n <= burst. */
	struct rte_mbuf *rx_held[NIC_BURST_MAX];
	uint16_t rx_held_n;
	/* Held past their burst: hold_m[h] for each hold slot in use, else NULL. */
	struct rte_mbuf *hold_m[NIC_HOLD_MAX];
	/* Frames wait_rx pulled off the queue; rx_burst takes them first. */
	struct rte_mbuf *rx_stash[NIC_BURST_MAX];
	uint16_t rx_stash_n, rx_stash_off;
	/* ARP/ICMP replies of one rx burst, sent at its end. */
	struct rte_mbuf *ctl[NIC_BURST_MAX];
	uint16_t ctl_n;
	/* conf.tx_elsewhere: control replies from the rx thread to the tx thread (SP/SC). */
	struct rte_ring *ctl_ring;
	/* tx: [0, base.tx_pending) queued; spare is the buffer tx_buf handed out last.
	 * Its own cache line: with conf.tx_elsewhere another thread owns it. */
	_Alignas(64) struct rte_mbuf *spare;
	struct rte_mbuf *txq[NIC_TX_BUFS_MAX];
};

static struct nic_dpdk *dpdk_of(struct nic_port *p)
{
	return (struct nic_dpdk *)p;
}

bool nic_dpdk_built(void)
{
	return true;
}

static void queue_ctl(struct nic_dpdk *u, struct rte_mbuf *m)
{
	/* Bounded by the burst: one reply per received frame at most. */
	RTE_ASSERT(u->ctl_n < NIC_BURST_MAX);
	u->ctl[u->ctl_n++] = m;
}

static void flush_ctl(struct nic_dpdk *u)
{
	if (u->ctl_n == 0)
		return;
	if (u->ctl_ring != NULL) {
		/* conf.tx_elsewhere: the transmitting thread sends them (dpdk_tx_flush). */
		unsigned q = rte_ring_sp_enqueue_burst(u->ctl_ring, (void **)u->ctl, u->ctl_n, NULL);
		for (uint16_t i = (uint16_t)q; i < u->ctl_n; i++)
			rte_pktmbuf_free(u->ctl[i]);
		u->base.stats.ctl_tx_drops += (uint64_t)(u->ctl_n - q);
		u->ctl_n = 0;
		return;
	}
	uint16_t sent = u->running ? rte_eth_tx_burst(u->port_id, 0, u->ctl, u->ctl_n) : 0;
	for (uint16_t i = sent; i < u->ctl_n; i++)
		rte_pktmbuf_free(u->ctl[i]);
	u->base.stats.ctl_tx_drops += (uint64_t)(u->ctl_n - sent);
	u->ctl_n = 0;
}

/** ARP request for our IP: turns m into the reply. @return true if m was consumed. */
static bool on_arp(struct nic_dpdk *u, struct rte_mbuf *m, struct rte_ether_hdr *eth,
		   uint32_t len)
{
	if (len < RTE_ETHER_HDR_LEN + sizeof(struct rte_arp_hdr))
		return false;
	struct rte_arp_hdr *a = (struct rte_arp_hdr *)(eth + 1);
	if (a->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    a->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    a->arp_hlen != RTE_ETHER_ADDR_LEN || a->arp_plen != 4 ||
	    a->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) ||
	    a->arp_data.arp_tip != u->base.local.ip_be)
		return false;
	struct rte_arp_ipv4 *d = &a->arp_data;
	d->arp_tha = d->arp_sha;
	d->arp_tip = d->arp_sip;
	d->arp_sha = u->mac;
	d->arp_sip = u->base.local.ip_be;
	a->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
	eth->dst_addr = d->arp_tha;
	eth->src_addr = u->mac;
	rte_pktmbuf_data_len(m) = (uint16_t)(RTE_ETHER_HDR_LEN + sizeof(*a));
	rte_pktmbuf_pkt_len(m) = rte_pktmbuf_data_len(m);
	m->ol_flags = 0;
	queue_ctl(u, m);
	u->base.stats.arp_replies++;
	return true;
}

/** ICMP echo request (IPv4 header already validated, for us): reply in place. */
static bool on_icmp(struct nic_dpdk *u, struct rte_mbuf *m, struct rte_ether_hdr *eth,
		    struct rte_ipv4_hdr *ip, uint32_t ihl, uint32_t ip_len)
{
	if (ip_len < ihl + sizeof(struct rte_icmp_hdr))
		return false;
	struct rte_icmp_hdr *ic = (struct rte_icmp_hdr *)((uint8_t *)ip + ihl);
	if (ic->icmp_type != RTE_IP_ICMP_ECHO_REQUEST || ic->icmp_code != 0)
		return false;
	ic->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	ic->icmp_cksum = 0;
	uint16_t ck = rte_raw_cksum(ic, ip_len - ihl);
	ic->icmp_cksum = (ck == 0xffff) ? ck : (uint16_t)~ck;
	ip->dst_addr = ip->src_addr;
	ip->src_addr = u->base.local.ip_be;
	ip->time_to_live = DPDK_TTL;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = (uint16_t)~rte_raw_cksum(ip, ihl);
	eth->dst_addr = eth->src_addr;
	eth->src_addr = u->mac;
	/* Drop Ethernet padding past the IP datagram. */
	rte_pktmbuf_data_len(m) = (uint16_t)(RTE_ETHER_HDR_LEN + ip_len);
	rte_pktmbuf_pkt_len(m) = rte_pktmbuf_data_len(m);
	m->ol_flags = 0;
	queue_ctl(u, m);
	u->base.stats.icmp_replies++;
	return true;
}

/**
 * Validates one frame. @return true with *pk filled when it carries a UDP datagram for
 * us (m must then be held until rx_done); false when it was dropped (counted) or
 * consumed as a control reply (*consumed set).
 */
static bool parse(struct nic_dpdk *u, struct rte_mbuf *m, struct nic_pkt *pk, bool *consumed)
{
	struct nic_port *p = &u->base;
	*consumed = false;
	if (!rte_pktmbuf_is_contiguous(m) && rte_pktmbuf_linearize(m) != 0) {
		p->stats.drops[NIC_DROP_RX_TRUNC]++;
		return false;
	}
	uint32_t len = rte_pktmbuf_data_len(m);
	if (len < RTE_ETHER_HDR_LEN) {
		p->stats.drops[NIC_DROP_RX_SHORT]++;
		return false;
	}
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	uint16_t et = eth->ether_type;
	if (et == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)) {
		*consumed = on_arp(u, m, eth, len);
		if (!*consumed)
			p->stats.drops[NIC_DROP_RX_NOT_IPV4]++;
		return false;
	}
	if (et != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) {
		p->stats.drops[NIC_DROP_RX_NOT_IPV4]++;
		return false;
	}
	uint32_t l3 = len - RTE_ETHER_HDR_LEN;
	if (l3 < sizeof(struct rte_ipv4_hdr)) {
		p->stats.drops[NIC_DROP_RX_SHORT]++;
		return false;
	}
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	uint32_t ihl = (uint32_t)(ip->version_ihl & 0x0f) * 4u;
	uint32_t ip_len = rte_be_to_cpu_16(ip->total_length);
	if ((ip->version_ihl >> 4) != 4 || ihl < sizeof(struct rte_ipv4_hdr) || ip_len < ihl) {
		p->stats.drops[NIC_DROP_RX_BAD_HDR]++;
		return false;
	}
	if (ihl > l3 || ip_len > l3) {
		p->stats.drops[NIC_DROP_RX_SHORT]++;
		return false;
	}
	uint64_t ck = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
	if (ck == RTE_MBUF_F_RX_IP_CKSUM_BAD ||
	    (ck != RTE_MBUF_F_RX_IP_CKSUM_GOOD && rte_raw_cksum(ip, ihl) != 0xffff)) {
		p->stats.drops[NIC_DROP_RX_BAD_HDR]++;
		return false;
	}
	if (ip->dst_addr != p->local.ip_be) {
		p->stats.drops[NIC_DROP_RX_NOT_FOR_US]++;
		return false;
	}
	if ((rte_be_to_cpu_16(ip->fragment_offset) &
	     (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0) {
		p->stats.drops[NIC_DROP_RX_FRAG]++;
		return false;
	}
	if (ip->next_proto_id == IPPROTO_ICMP) {
		*consumed = on_icmp(u, m, eth, ip, ihl, ip_len);
		if (!*consumed)
			p->stats.drops[NIC_DROP_RX_NOT_UDP]++;
		return false;
	}
	if (ip->next_proto_id != IPPROTO_UDP) {
		p->stats.drops[NIC_DROP_RX_NOT_UDP]++;
		return false;
	}
	if (ip_len - ihl < sizeof(struct rte_udp_hdr)) {
		p->stats.drops[NIC_DROP_RX_SHORT]++;
		return false;
	}
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)((uint8_t *)ip + ihl);
	uint32_t udp_len = rte_be_to_cpu_16(udp->dgram_len);
	if (udp_len < sizeof(*udp)) {
		p->stats.drops[NIC_DROP_RX_BAD_HDR]++;
		return false;
	}
	if (udp_len > ip_len - ihl) {
		p->stats.drops[NIC_DROP_RX_SHORT]++;
		return false;
	}
	if (udp->dst_port != p->local.port_be) {
		p->stats.drops[NIC_DROP_RX_NOT_FOR_US]++;
		return false;
	}
	uint32_t plen = udp_len - (uint32_t)sizeof(*udp);
	if (plen > p->conf.buf_bytes) {
		p->stats.drops[NIC_DROP_RX_TRUNC]++;
		return false;
	}
	pk->data = (const uint8_t *)(udp + 1);
	pk->len = plen;
	pk->src.ip_be = ip->src_addr;
	pk->src.port_be = udp->src_port;
	memcpy(pk->src.mac, eth->src_addr.addr_bytes, sizeof(pk->src.mac));
	return true;
}

static void dpdk_rx_done(struct nic_port *p)
{
	struct nic_dpdk *u = dpdk_of(p);
	if (u->rx_held_n > 0)
		rte_pktmbuf_free_bulk(u->rx_held, u->rx_held_n);
	u->rx_held_n = 0;
}

static void dpdk_rx_hold(struct nic_port *p, uint16_t k, uint32_t h)
{
	struct nic_dpdk *u = dpdk_of(p);
	RTE_ASSERT(k < u->rx_held_n && u->rx_held[k] != NULL && u->hold_m[h] == NULL);
	u->hold_m[h] = u->rx_held[k];
	u->rx_held[k] = NULL;   /* rte_pktmbuf_free_bulk skips it */
}

static void dpdk_rx_release(struct nic_port *p, uint32_t h)
{
	struct nic_dpdk *u = dpdk_of(p);
	rte_pktmbuf_free(u->hold_m[h]);
	u->hold_m[h] = NULL;
}

static uint16_t dpdk_rx_burst(struct nic_port *p, struct nic_pkt *pkts, uint16_t n)
{
	struct nic_dpdk *u = dpdk_of(p);
	dpdk_rx_done(p);   /* the previous views end here (nic.h) */
	if (n > p->conf.burst)
		n = p->conf.burst;
	p->stats.rx_polls++;
	struct rte_mbuf *in[NIC_BURST_MAX];
	uint16_t got;
	if (u->rx_stash_off < u->rx_stash_n) {
		got = (uint16_t)RTE_MIN((uint32_t)n, (uint32_t)(u->rx_stash_n - u->rx_stash_off));
		memcpy(in, u->rx_stash + u->rx_stash_off, got * sizeof(in[0]));
		u->rx_stash_off = (uint16_t)(u->rx_stash_off + got);
		if (u->rx_stash_off == u->rx_stash_n)
			u->rx_stash_off = u->rx_stash_n = 0;
	} else {
		got = u->running ? rte_eth_rx_burst(u->port_id, 0, in, n) : 0;
	}
	uint16_t k = 0;
	for (uint16_t i = 0; i < got; i++) {
		struct rte_mbuf *m = in[i];
		bool consumed;
		if (parse(u, m, &pkts[k], &consumed)) {
			u->rx_held[u->rx_held_n++] = m;
			p->stats.rx_bytes += pkts[k].len;
			k++;
		} else if (!consumed) {
			rte_pktmbuf_free(m);
		}
	}
	flush_ctl(u);
	p->stats.rx_pkts += k;
	if (k > 0)
		p->stats.rx_bursts++;
	return k;
}

static uint8_t *dpdk_tx_buf(struct nic_port *p)
{
	struct nic_dpdk *u = dpdk_of(p);
	if (u->spare == NULL)
		u->spare = rte_pktmbuf_alloc(u->pool);
	if (u->spare == NULL)
		return NULL;
	return rte_pktmbuf_mtod_offset(u->spare, uint8_t *, DPDK_HDR_BYTES);
}

static void dpdk_tx_commit(struct nic_port *p, uint32_t len, const struct nic_addr *dst)
{
	struct nic_dpdk *u = dpdk_of(p);
	struct rte_mbuf *m = u->spare;
	RTE_ASSERT(m != NULL);
	u->spare = NULL;
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	static const uint8_t zero[6];
	if (memcmp(dst->mac, zero, sizeof(zero)) == 0)
		memset(eth->dst_addr.addr_bytes, 0xff, RTE_ETHER_ADDR_LEN);  /* unknown: broadcast */
	else
		memcpy(eth->dst_addr.addr_bytes, dst->mac, RTE_ETHER_ADDR_LEN);
	eth->src_addr = u->mac;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->type_of_service = 0;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(len + sizeof(*ip) + sizeof(struct rte_udp_hdr)));
	ip->packet_id = 0;
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = DPDK_TTL;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = p->local.ip_be;
	ip->dst_addr = dst->ip_be;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = (uint16_t)~rte_raw_cksum(ip, sizeof(*ip));
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	udp->src_port = p->local.port_be;
	udp->dst_port = dst->port_be;
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(len + sizeof(*udp)));
	udp->dgram_cksum = 0;
	rte_pktmbuf_data_len(m) = (uint16_t)(len + DPDK_HDR_BYTES);
	rte_pktmbuf_pkt_len(m) = rte_pktmbuf_data_len(m);
	m->ol_flags = 0;
	u->txq[p->tx_pending] = m;
}

static uint32_t dpdk_tx_flush(struct nic_port *p)
{
	struct nic_dpdk *u = dpdk_of(p);
	if (u->ctl_ring != NULL) {
		struct rte_mbuf *c[NIC_BURST_MAX];
		unsigned k = rte_ring_sc_dequeue_burst(u->ctl_ring, (void **)c, NIC_BURST_MAX, NULL);
		uint16_t s = k > 0 && u->running ? rte_eth_tx_burst(u->port_id, 0, c, (uint16_t)k) : 0;
		for (unsigned i = s; i < k; i++)
			rte_pktmbuf_free(c[i]);
		p->stats.drops[NIC_DROP_TX_FULL] += k - s;   /* this thread's counter */
	}
	uint32_t n = p->tx_pending, sent = 0;
	if (!u->running) {   /* stopped (dpdk_housekeep): the link is down, nothing goes */
		for (uint32_t i = 0; i < n; i++)
			rte_pktmbuf_free(u->txq[i]);
		p->stats.drops[NIC_DROP_TX_ERROR] += n;
		return 0;
	}
	/* Bounded: one tx_burst per NIC_BURST_MAX queued, stopping at the first short one. */
	while (sent < n) {
		uint16_t want = (uint16_t)RTE_MIN(n - sent, NIC_BURST_MAX);
		uint16_t s = rte_eth_tx_burst(u->port_id, 0, u->txq + sent, want);
		for (uint16_t i = 0; i < s; i++)
			p->stats.tx_bytes += rte_pktmbuf_pkt_len(u->txq[sent + i]) - DPDK_HDR_BYTES;
		sent += s;
		if (s < want)
			break;
	}
	for (uint32_t i = sent; i < n; i++)
		rte_pktmbuf_free(u->txq[i]);
	p->stats.drops[NIC_DROP_TX_FULL] += n - sent;
	p->stats.tx_pkts += sent;
	return sent;
}

static int dpdk_wait_rx(struct nic_port *p, uint64_t timeout_ns)
{
	struct nic_dpdk *u = dpdk_of(p);
	if (u->rx_stash_off < u->rx_stash_n)
		return 1;
	/* No fd to sleep on (interrupt mode is PMD-specific): poll, sleeping in slices.
	 * What the poll finds is stashed for the next rx_burst. */
	uint64_t start = env_mono_ns();
	for (;;) {
		u->rx_stash_off = 0;
		u->rx_stash_n = u->running ? rte_eth_rx_burst(u->port_id, 0, u->rx_stash,
							      p->conf.burst) : 0;
		if (u->rx_stash_n > 0)
			return 1;
		uint64_t el = env_mono_ns() - start;
		if (el >= timeout_ns)
			return 0;
		uint64_t s = RTE_MIN(timeout_ns - el, (uint64_t)DPDK_WAIT_SLICE_NS);
		struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)s };
		if (nanosleep(&ts, NULL) != 0)
			return errno == EINTR ? 0 : -errno;
	}
}

static void dpdk_housekeep(struct nic_port *p, uint64_t now)
{
	struct nic_dpdk *u = dpdk_of(p);
	if (now < u->next_link_check_ns)
		return;
	u->next_link_check_ns = now + DPDK_LINK_CHECK_NS;
	struct rte_eth_link link;
	if (rte_eth_link_get_nowait(u->port_id, &link) != 0)
		return;
	/* The log says when a link goes down or comes back (a memif peer stopped or
	 * started, a cable, a switch port); a link down at start is said once. */
	uint8_t seen = link.link_status == RTE_ETH_LINK_UP ? 1 : 2;
	if (seen != u->link_seen) {
		if (seen == 2)
			env_logf(ENV_LOG_WARN, "dpdk port %u (%s): link down%s", u->port_id,
				 u->driver, u->link_seen == 0 ? " (at start: its peer may not run yet)"
				 : u->is_memif_client ? " (the memif peer stopped? reconnecting)" : "");
		else if (u->link_seen != 0)
			env_logf(ENV_LOG_INFO, "dpdk port %u (%s): link up", u->port_id, u->driver);
		u->link_seen = seen;
	}
	if (!u->is_memif_client)
		return;
	if (link.link_status == RTE_ETH_LINK_UP) {
		u->link_down_since_ns = 0;
		u->restart_wait_ns = DPDK_LINK_RESTART_NS;
		return;
	}
	if (u->link_down_since_ns == 0) {
		u->link_down_since_ns = now;
		return;
	}
	if (now - u->link_down_since_ns < u->restart_wait_ns)
		return;
	/* Down for a second (up to 4 s after failed restarts): a client-role port
	 * reconnects on start (server-role ports keep listening by themselves and are left
	 * alone). What was queued is lost, which the protocol tolerates. */
	if (u->running)
		(void)rte_eth_dev_stop(u->port_id);
	u->running = rte_eth_dev_start(u->port_id) == 0;
	if (!u->running && u->restart_wait_ns < DPDK_LINK_RESTART_MAX_NS)
		u->restart_wait_ns *= 2;
	p->stats.link_restarts++;
	u->link_down_since_ns = now;
}

static void dpdk_close(struct nic_port *p)
{
	struct nic_dpdk *u = dpdk_of(p);
	dpdk_rx_done(p);
	for (uint32_t h = 0; h < NIC_HOLD_MAX; h++)
		rte_pktmbuf_free(u->hold_m[h]);   /* NULL is fine */
	for (uint16_t i = u->rx_stash_off; i < u->rx_stash_n; i++)
		rte_pktmbuf_free(u->rx_stash[i]);
	for (uint32_t i = 0; i < p->tx_pending; i++)
		rte_pktmbuf_free(u->txq[i]);
	rte_pktmbuf_free(u->spare);
	/* memif (DPDK 22.11) handles its peer's disconnect on the EAL interrupt thread,
	 * and rte_eth_dev_stop runs the same disconnect on this thread: when a peer stops
	 * at the same moment, the two free the port's control channel and regions twice
	 * (a SIGSEGV in eal-intr-thread inside a memif callback, this thread inside
	 * dpdk_close: seen in a core dump, every replica of a mesh stopping at once). No
	 * teardown is safe while that thread runs, and DPDK 22.11 cannot stop it: a memif
	 * port is left as it is (its peers see the socket close when the process exits),
	 * and so is the EAL (env_eal_keep: no rte_eal_cleanup, which would unmap memory
	 * under that thread). Shutdown only. */
	if (u->driver_is_memif) {
		env_eal_keep();
		return;
	}
	if (u->started) {
		if (u->running)
			(void)rte_eth_dev_stop(u->port_id);
		(void)rte_eth_dev_close(u->port_id);
	}
	if (u->ctl_ring != NULL) {
		struct rte_mbuf *c;
		while (rte_ring_sc_dequeue(u->ctl_ring, (void **)&c) == 0)
			rte_pktmbuf_free(c);
		rte_ring_free(u->ctl_ring);
	}
	rte_mempool_free(u->pool);  /* after the port: the PMD held rx mbufs */
	rte_free(u);
}

static const struct nic_ops dpdk_ops = {
	.rx_burst = dpdk_rx_burst,
	.rx_done = dpdk_rx_done,
	.rx_hold = dpdk_rx_hold,
	.rx_release = dpdk_rx_release,
	.tx_buf = dpdk_tx_buf,
	.tx_commit = dpdk_tx_commit,
	.tx_flush = dpdk_tx_flush,
	.wait_rx = dpdk_wait_rx,
	.housekeep = dpdk_housekeep,
	.close = dpdk_close,
};

/** Mbufs one port can have out at once: both rings full, one rx burst held by the
 *  caller, one wait_rx stash, every hold, every tx buffer queued plus the spare. */
static uint32_t pool_size(const struct nic_conf *c, uint16_t nb_rxd, uint16_t nb_txd)
{
	return (uint32_t)nb_rxd + nb_txd + 2u * c->burst + c->rx_hold_max + c->tx_bufs + 1u;
}

static struct nic_port *open_fail(struct nic_dpdk *u, int e)
{
	dpdk_close(&u->base);
	errno = e;
	return NULL;
}

struct nic_port *nic_dpdk_open(const struct nic_conf *conf, char *err, size_t errlen)
{
	uint16_t pid = conf->eth_port;
	if (RTE_PKTMBUF_HEADROOM + DPDK_HDR_BYTES + conf->buf_bytes > UINT16_MAX) {
		/* An mbuf data room is a u16 and a datagram is one segment. */
		snprintf(err, errlen, "dpdk port %u: buf_bytes %u too large (at most %u)", pid,
			 conf->buf_bytes,
			 (unsigned)(UINT16_MAX - RTE_PKTMBUF_HEADROOM - DPDK_HDR_BYTES));
		errno = EINVAL;
		return NULL;
	}
	if (!env_eal_up()) {
		snprintf(err, errlen, "dpdk port %u: the EAL is not initialized (env_eal_init)", pid);
		errno = EINVAL;
		return NULL;
	}
	if (conf->local.ip_be == 0 || conf->local.port_be == 0) {
		snprintf(err, errlen, "dpdk port %u: needs a local IPv4 and UDP port (no wildcard)", pid);
		errno = EINVAL;
		return NULL;
	}
	if (!rte_eth_dev_is_valid_port(pid)) {
		snprintf(err, errlen, "dpdk port %u: no such ethdev (%u ports; give it with --vdev or a PCI address)",
			 pid, rte_eth_dev_count_avail());
		errno = ENODEV;
		return NULL;
	}
	struct nic_dpdk *u = rte_zmalloc("nic_dpdk", sizeof(*u), RTE_CACHE_LINE_SIZE);
	if (u == NULL) {
		snprintf(err, errlen, "dpdk port %u: out of DPDK memory for the port (-m, --socket-mem)", pid);
		errno = ENOMEM;
		return NULL;
	}
	u->base.ops = &dpdk_ops;
	u->base.conf = *conf;
	u->base.local = conf->local;
	u->port_id = pid;

	struct rte_eth_dev_info info;
	int r = rte_eth_dev_info_get(pid, &info);
	if (r != 0) {
		snprintf(err, errlen, "dpdk port %u: rte_eth_dev_info_get: %s", pid, rte_strerror(-r));
		return open_fail(u, -r);
	}
	u->driver_is_memif = strcmp(info.driver_name, "net_memif") == 0;
	u->driver = info.driver_name;
	if (u->driver_is_memif && info.device != NULL) {
		const struct rte_devargs *da = rte_dev_devargs(info.device);
		const char *args = da != NULL && da->args != NULL ? da->args : "";
		/* Only a memif client reconnects on start; a server keeps listening by itself. */
		u->is_memif_client = strstr(args, "role=client") != NULL;
		/* DPDK 22.11's memif receive path mishandles a frame chained over several
		 * descriptors when the chain meets the end of what is available: under load it
		 * hands up garbage and the same frames again and again (measured: a follower
		 * received 26 to 320 copies of each ACCEPT). One descriptor per frame avoids
		 * it: the buffer size must hold the largest frame this port carries. */
		const char *bs = strstr(args, "bsize=");
		unsigned long bsize = bs != NULL ? strtoul(bs + 6, NULL, 0) : DPDK_MEMIF_BSIZE_DEFAULT;
		uint32_t frame = DPDK_HDR_BYTES + conf->buf_bytes;
		if (bsize < frame) {
			uint32_t fix = (frame + 1023u) & ~1023u;
			snprintf(err, errlen, "dpdk port %u: memif buffers of %lu bytes are smaller than this port's largest frame (%u bytes), and DPDK 22.11's memif repeats and garbles frames chained over several buffers; fix: add bsize=%u to its --vdev (on both ends of the link)",
				 pid, bsize, frame, fix);
			return open_fail(u, EINVAL);
		}
	}
	struct rte_eth_conf ec;
	memset(&ec, 0, sizeof(ec));
	/* MTU: what the largest datagram needs, clamped to the PMD's limits (larger
	 * datagrams then do not pass: the PMD's limit, see nic/README.md). */
	uint32_t want = conf->buf_bytes + (uint32_t)(sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_udp_hdr));
	uint32_t mtu = want;
	if (info.max_mtu != 0 && mtu > info.max_mtu)
		mtu = info.max_mtu;
	if (info.max_rx_pktlen > RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN &&
	    mtu > info.max_rx_pktlen - RTE_ETHER_HDR_LEN - RTE_ETHER_CRC_LEN)
		mtu = info.max_rx_pktlen - RTE_ETHER_HDR_LEN - RTE_ETHER_CRC_LEN;
	if (mtu < RTE_ETHER_MIN_MTU)
		mtu = RTE_ETHER_MIN_MTU;
	ec.rxmode.mtu = mtu;
	if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM)
		ec.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
	r = rte_eth_dev_configure(pid, 1, 1, &ec);
	if (r != 0) {
		snprintf(err, errlen, "dpdk port %u (%s): rte_eth_dev_configure: %s", pid,
			 info.driver_name, rte_strerror(-r));
		return open_fail(u, -r);
	}
	uint16_t nb_rxd = DPDK_RX_DESC, nb_txd = DPDK_TX_DESC;
	(void)rte_eth_dev_adjust_nb_rx_tx_desc(pid, &nb_rxd, &nb_txd);

	char name[RTE_MEMPOOL_NAMESIZE];
	snprintf(name, sizeof(name), "nic_dpdk_%u", pid);
	uint32_t nmb = pool_size(conf, nb_rxd, nb_txd);
	uint32_t room = RTE_PKTMBUF_HEADROOM + DPDK_HDR_BYTES + conf->buf_bytes;
	int sock = rte_eth_dev_socket_id(pid);
	u->pool = rte_pktmbuf_pool_create(name, nmb, 0, 0, (uint16_t)room,
					  sock < 0 ? (int)rte_socket_id() : sock);
	if (u->pool == NULL) {
		int e = rte_errno;
		snprintf(err, errlen, "dpdk port %u: mbuf pool of %u x %u bytes: %s (raise -m)",
			 pid, nmb, room, rte_strerror(e));
		return open_fail(u, e != 0 ? e : ENOMEM);
	}
	if (conf->tx_elsewhere) {
		char rn[RTE_RING_NAMESIZE];
		snprintf(rn, sizeof(rn), "nic_ctl_%u", pid);
		u->ctl_ring = rte_ring_create(rn, 2u * NIC_BURST_MAX, sock < 0 ? (int)rte_socket_id() : sock,
					      RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (u->ctl_ring == NULL) {
			int e = rte_errno;
			snprintf(err, errlen, "dpdk port %u: control reply ring: %s", pid, rte_strerror(e));
			return open_fail(u, e != 0 ? e : ENOMEM);
		}
	}
	r = rte_eth_rx_queue_setup(pid, 0, nb_rxd, (unsigned)(sock < 0 ? SOCKET_ID_ANY : sock),
				   NULL, u->pool);
	if (r == 0)
		r = rte_eth_tx_queue_setup(pid, 0, nb_txd, (unsigned)(sock < 0 ? SOCKET_ID_ANY : sock), NULL);
	if (r != 0) {
		snprintf(err, errlen, "dpdk port %u (%s): queue setup: %s", pid, info.driver_name,
			 rte_strerror(-r));
		return open_fail(u, -r);
	}
	if (conf->eth_mac_set) {
		struct rte_ether_addr a;
		memcpy(a.addr_bytes, conf->local.mac, sizeof(a.addr_bytes));
		r = rte_eth_dev_default_mac_addr_set(pid, &a);
		/* PMDs without a MAC filter (ring, some vdevs) cannot set one: then the MAC is
		 * ours in software only (source of what we send, ARP answers). */
		if (r == -ENOTSUP)
			u->mac_soft = true;
		else if (r != 0) {
			snprintf(err, errlen, "dpdk port %u (%s): cannot set MAC: %s", pid,
				 info.driver_name, rte_strerror(-r));
			return open_fail(u, -r);
		}
	}
	r = rte_eth_dev_start(pid);
	if (r != 0) {
		snprintf(err, errlen, "dpdk port %u (%s): rte_eth_dev_start: %s", pid,
			 info.driver_name, rte_strerror(-r));
		return open_fail(u, -r);
	}
	u->started = true;
	u->running = true;
	u->restart_wait_ns = DPDK_LINK_RESTART_NS;
	(void)rte_eth_promiscuous_disable(pid);   /* not every PMD supports it */
	r = 0;
	if (u->mac_soft)
		memcpy(u->mac.addr_bytes, conf->local.mac, sizeof(u->mac.addr_bytes));
	else
		r = rte_eth_macaddr_get(pid, &u->mac);
	if (r != 0) {
		snprintf(err, errlen, "dpdk port %u: rte_eth_macaddr_get: %s", pid, rte_strerror(-r));
		return open_fail(u, -r);
	}
	memcpy(u->base.local.mac, u->mac.addr_bytes, sizeof(u->base.local.mac));
	return &u->base;
}
