/* SPDX-License-Identifier: Apache-2.0
 * nic dispatch: checks the conf, picks the backend, forwards the burst calls.
 * One indirect call per burst (per datagram for tx_buf/tx_commit), which keeps every
 * backend behind one interface at a cost of a few nanoseconds.
 */
#include "nic.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "nic_pvt.h"

static bool conf_ok(const struct nic_conf *c, char *err, size_t errlen)
{
	const char *why = NULL;
	if (c->backend != NIC_BACKEND_UDP && c->backend != NIC_BACKEND_DPDK)
		why = "unknown backend";
#ifndef PW_HAVE_DPDK
	else if (c->backend == NIC_BACKEND_DPDK)
		why = "the dpdk backend is not built (meson did not find libdpdk)";
#endif
	else if (c->burst < 1 || c->burst > NIC_BURST_MAX)
		why = "burst must be in [1, NIC_BURST_MAX]";
	else if (c->buf_bytes < 1 || c->buf_bytes > NIC_BUF_BYTES_MAX)
		why = "buf_bytes must be in [1, NIC_BUF_BYTES_MAX]";
	else if (c->tx_bufs < c->burst || c->tx_bufs > NIC_TX_BUFS_MAX)
		why = "tx_bufs must be in [burst, NIC_TX_BUFS_MAX]";
	if (why != NULL && err != NULL && errlen > 0)
		snprintf(err, errlen, "nic_open: %s", why);
	return why == NULL;
}

struct nic_port *nic_open(const struct nic_conf *conf, char *err, size_t errlen)
{
	if (err == NULL)
		errlen = 0;  /* snprintf(NULL, 0, ...) writes nothing */
	else if (errlen > 0)
		err[0] = '\0';
	if (conf == NULL || !conf_ok(conf, err, errlen)) {
		errno = EINVAL;
		return NULL;
	}
#ifdef PW_HAVE_DPDK
	if (conf->backend == NIC_BACKEND_DPDK)
		return nic_dpdk_open(conf, err, errlen);
#endif
	return nic_udp_open(conf, err, errlen);
}

#ifndef PW_HAVE_DPDK
uint64_t nic_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool nic_dpdk_built(void)
{
	return false;
}

int nic_eal_init(int argc, char **argv, char *err, size_t errlen)
{
	(void)argc;
	(void)argv;
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "this build has no DPDK (meson did not find libdpdk)");
	return -ENOTSUP;
}

void nic_eal_cleanup(void)
{
}

uint16_t nic_eth_port_count(void)
{
	return 0;
}

int nic_worker_launch(int (*fn)(void *), void *arg, char *err, size_t errlen)
{
	(void)fn;
	(void)arg;
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "this build has no DPDK (meson did not find libdpdk)");
	return -ENOTSUP;
}

int nic_worker_wait(void)
{
	return -ENOTSUP;
}
#endif

void nic_close(struct nic_port *p)
{
	if (p != NULL)
		p->ops->close(p);
}

struct nic_addr nic_local_addr(const struct nic_port *p)
{
	return p->local;
}

uint16_t nic_rx_burst(struct nic_port *p, struct nic_pkt *pkts, uint16_t n)
{
	assert(n <= p->conf.burst);
	return p->ops->rx_burst(p, pkts, n);
}

void nic_rx_done(struct nic_port *p)
{
	p->ops->rx_done(p);
}

uint8_t *nic_tx_buf(struct nic_port *p, uint32_t *cap)
{
	if (p->tx_pending == p->conf.tx_bufs)
		nic_tx_flush(p);
	uint8_t *b = p->ops->tx_buf(p);
	if (b == NULL) {
		p->stats.drops[NIC_DROP_TX_NOBUF]++;
		*cap = 0;
		return NULL;
	}
	*cap = p->conf.buf_bytes;
	return b;
}

void nic_tx_commit(struct nic_port *p, uint32_t len, const struct nic_addr *dst)
{
	assert(len >= 1 && len <= p->conf.buf_bytes);
	assert(p->tx_pending < p->conf.tx_bufs);
	p->ops->tx_commit(p, len, dst);
	p->tx_pending++;
}

uint32_t nic_tx_pending(const struct nic_port *p)
{
	return p->tx_pending;
}

uint32_t nic_tx_flush(struct nic_port *p)
{
	if (p->tx_pending == 0) {
		if (p->conf.tx_elsewhere)
			(void)p->ops->tx_flush(p);   /* control replies handed over by rx */
		return 0;
	}
	uint32_t sent = p->ops->tx_flush(p);
	p->tx_pending = 0;
	p->stats.tx_flushes++;
	return sent;
}

int nic_wait_rx(struct nic_port *p, uint64_t timeout_ns)
{
	p->stats.waits++;
	int r = p->ops->wait_rx(p, timeout_ns);
	if (r > 0)
		p->stats.wakeups++;
	return r;
}

void nic_housekeep(struct nic_port *p, uint64_t now_ns)
{
	if (p->ops->housekeep != NULL)
		p->ops->housekeep(p, now_ns);
}

const struct nic_stats *nic_stats(const struct nic_port *p)
{
	return &p->stats;
}

const char *nic_drop_name(enum nic_drop d)
{
	switch (d) {
	case NIC_DROP_RX_TRUNC:
		return "rx_trunc";
	case NIC_DROP_RX_ADDR:
		return "rx_addr";
	case NIC_DROP_RX_ERROR:
		return "rx_error";
	case NIC_DROP_TX_NOBUF:
		return "tx_nobuf";
	case NIC_DROP_TX_FULL:
		return "tx_full";
	case NIC_DROP_TX_ERROR:
		return "tx_error";
	case NIC_DROP_RX_NOT_IPV4:
		return "rx_not_ipv4";
	case NIC_DROP_RX_BAD_HDR:
		return "rx_bad_hdr";
	case NIC_DROP_RX_NOT_FOR_US:
		return "rx_not_for_us";
	case NIC_DROP_RX_NOT_UDP:
		return "rx_not_udp";
	case NIC_DROP_RX_FRAG:
		return "rx_frag";
	case NIC_DROP_RX_SHORT:
		return "rx_short";
	case NIC_DROP_MAX:
		break;
	}
	return "?";
}

void nic_addr_format(const struct nic_addr *a, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN];
	struct in_addr in = { .s_addr = a->ip_be };
	if (inet_ntop(AF_INET, &in, ip, sizeof(ip)) == NULL)
		snprintf(ip, sizeof(ip), "?");
	snprintf(buf, len, "%s:%u", ip, (unsigned)ntohs(a->port_be));
}

struct nic_addr nic_addr_make(uint32_t ip_be, uint16_t port)
{
	struct nic_addr a = { .ip_be = ip_be, .port_be = htons(port) };
	return a;
}
