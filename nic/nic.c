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
#include <stdlib.h>
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
	else if (c->rx_hold_max > NIC_HOLD_MAX)
		why = "rx_hold_max must be in [0, NIC_HOLD_MAX]";
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
	struct nic_port *p;
#ifdef PW_HAVE_DPDK
	if (conf->backend == NIC_BACKEND_DPDK)
		p = nic_dpdk_open(conf, err, errlen);
	else
#endif
		p = nic_udp_open(conf, err, errlen);
	if (p == NULL)
		return NULL;
	uint32_t h = conf->rx_hold_max;
	p->hold_free = calloc(h ? h : 1u, sizeof(*p->hold_free));
	p->hold_used = calloc(h ? h : 1u, sizeof(*p->hold_used));
	if (p->hold_free == NULL || p->hold_used == NULL) {
		snprintf(err, errlen, "nic_open: out of memory for %u holds", h);
		nic_close(p);
		errno = ENOMEM;
		return NULL;
	}
	/* Handed out from the top: slot 0 first. */
	for (uint32_t i = 0; i < h; i++)
		p->hold_free[i] = h - 1u - i;
	p->hold_free_n = h;
	return p;
}

#ifndef PW_HAVE_DPDK
bool nic_dpdk_built(void)
{
	return false;
}
#endif

void nic_close(struct nic_port *p)
{
	if (p != NULL) {
		/* The backend frees what is still held with everything else. */
		free(p->hold_free);
		free(p->hold_used);
		p->hold_free = NULL;
		p->hold_used = NULL;
	}
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
	uint16_t k = p->ops->rx_burst(p, pkts, n);
	p->rx_views = k;
	return k;
}

void nic_rx_done(struct nic_port *p)
{
	p->ops->rx_done(p);
	p->rx_views = 0;
}

uint32_t nic_rx_hold(struct nic_port *p, uint16_t i)
{
	assert(i < p->rx_views);   /* a view of the last burst, not done yet */
	if (p->hold_free_n == 0) {
		p->stats.rx_hold_full++;
		return NIC_HOLD_NONE;
	}
	uint32_t h = p->hold_free[--p->hold_free_n];
	assert(!p->hold_used[h]);
	p->hold_used[h] = true;
	p->ops->rx_hold(p, i, h);
	p->stats.rx_holds++;
	return h;
}

void nic_rx_release(struct nic_port *p, uint32_t h)
{
	assert(h < p->conf.rx_hold_max && p->hold_used[h]);   /* released once */
	p->ops->rx_release(p, h);
	p->hold_used[h] = false;
	p->hold_free[p->hold_free_n++] = h;
}

uint32_t nic_rx_held(const struct nic_port *p)
{
	return p->conf.rx_hold_max - p->hold_free_n;
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
