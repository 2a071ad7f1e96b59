/* SPDX-License-Identifier: Apache-2.0
 * nic backend: one kernel UDP socket, nonblocking, recvmmsg/sendmmsg.
 *
 * Every buffer, iovec, mmsghdr and sockaddr is allocated at open and reused: an rx burst
 * is one recvmmsg into `burst` buffers (a held one is swapped for one of rx_hold_max
 * spares, no copy), a flush is one sendmmsg of the queued transmit buffers (more only
 * after a send error, to skip the datagram that failed).
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "nic_pvt.h"

/** EINTR retries of one sendmmsg before the rest of the flush is dropped. */
#define UDP_EINTR_RETRIES 4u

struct nic_udp {
	struct nic_port base;   /* first: the dispatch casts */
	int fd;
	/* rx: conf.burst of each, but buffers: conf.burst + conf.rx_hold_max of them. The
	 * iovec of message i points at buffer rx_slot_buf[i]; a hold moves that buffer to
	 * hold_buf[h] and gives message i a spare one from buf_free. Invariant: every buffer
	 * is in exactly one of rx_slot_buf, hold_buf (slots in use), buf_free. */
	struct mmsghdr *rx_msgs;
	struct iovec *rx_iov;
	struct sockaddr_in *rx_addr;
	uint8_t *rx_bufs;
	uint32_t *rx_slot_buf;
	uint16_t rx_view_msg[NIC_BURST_MAX];   /**< view k of the last burst is message [k] */
	uint32_t *hold_buf;
	uint32_t *buf_free;
	uint32_t buf_free_n;
	/* tx: conf.tx_bufs of each; entries [0, base.tx_pending) are queued */
	struct mmsghdr *tx_msgs;
	struct iovec *tx_iov;
	struct sockaddr_in *tx_addr;
	uint8_t *tx_bufs;
};

static struct nic_udp *udp_of(struct nic_port *p)
{
	return (struct nic_udp *)p;
}

static uint16_t udp_rx_burst(struct nic_port *p, struct nic_pkt *pkts, uint16_t n)
{
	struct nic_udp *u = udp_of(p);
	if (n > p->conf.burst)
		n = p->conf.burst;
	p->stats.rx_polls++;
	/* The kernel writes back msg_namelen; the iovecs stay as set at open. */
	for (uint16_t i = 0; i < n; i++) {
		u->rx_msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
		u->rx_msgs[i].msg_hdr.msg_flags = 0;
	}
	int r = recvmmsg(u->fd, u->rx_msgs, n, MSG_DONTWAIT, NULL);
	if (r <= 0) {
		if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			p->stats.drops[NIC_DROP_RX_ERROR]++;
		return 0;
	}
	uint16_t k = 0;
	for (int i = 0; i < r; i++) {
		const struct mmsghdr *m = &u->rx_msgs[i];
		const struct sockaddr_in *sa = &u->rx_addr[i];
		if (m->msg_hdr.msg_flags & MSG_TRUNC) {
			p->stats.drops[NIC_DROP_RX_TRUNC]++;
			continue;
		}
		if (m->msg_hdr.msg_namelen < sizeof(*sa) || sa->sin_family != AF_INET) {
			p->stats.drops[NIC_DROP_RX_ADDR]++;
			continue;
		}
		u->rx_view_msg[k] = (uint16_t)i;
		struct nic_pkt *pk = &pkts[k++];
		pk->data = u->rx_iov[i].iov_base;
		pk->len = m->msg_len;
		memset(&pk->src, 0, sizeof(pk->src));
		pk->src.ip_be = sa->sin_addr.s_addr;
		pk->src.port_be = sa->sin_port;
		p->stats.rx_bytes += m->msg_len;
	}
	p->stats.rx_pkts += k;
	if (k > 0)
		p->stats.rx_bursts++;
	return k;
}

static void udp_rx_done(struct nic_port *p)
{
	(void)p;  /* the buffers are simply reused by the next recvmmsg */
}

static uint8_t *buf_at(const struct nic_udp *u, uint32_t b)
{
	return u->rx_bufs + (size_t)b * u->base.conf.buf_bytes;
}

static void udp_rx_hold(struct nic_port *p, uint16_t k, uint32_t h)
{
	struct nic_udp *u = udp_of(p);
	uint16_t i = u->rx_view_msg[k];
	/* One spare per hold slot: there is one while a slot is free. */
	assert(u->buf_free_n > 0);
	u->hold_buf[h] = u->rx_slot_buf[i];
	uint32_t b = u->buf_free[--u->buf_free_n];
	u->rx_slot_buf[i] = b;
	u->rx_iov[i].iov_base = buf_at(u, b);
}

static void udp_rx_release(struct nic_port *p, uint32_t h)
{
	struct nic_udp *u = udp_of(p);
	u->buf_free[u->buf_free_n++] = u->hold_buf[h];
}

static uint8_t *udp_tx_buf(struct nic_port *p)
{
	struct nic_udp *u = udp_of(p);
	return u->tx_bufs + (size_t)p->tx_pending * p->conf.buf_bytes;
}

static void udp_tx_commit(struct nic_port *p, uint32_t len, const struct nic_addr *dst)
{
	struct nic_udp *u = udp_of(p);
	uint32_t i = p->tx_pending;
	u->tx_iov[i].iov_len = len;
	u->tx_addr[i].sin_addr.s_addr = dst->ip_be;
	u->tx_addr[i].sin_port = dst->port_be;
}

static uint32_t udp_tx_flush(struct nic_port *p)
{
	struct nic_udp *u = udp_of(p);
	uint32_t n = p->tx_pending, i = 0, sent = 0, eintr = 0;
	/* Bounded: each pass either sends >= 1 datagram, drops one, drops the rest, or
	 * counts one of UDP_EINTR_RETRIES retries. */
	while (i < n) {
		int r = sendmmsg(u->fd, u->tx_msgs + i, n - i, MSG_DONTWAIT);
		if (r > 0) {
			for (uint32_t k = i; k < i + (uint32_t)r; k++)
				p->stats.tx_bytes += u->tx_iov[k].iov_len;
			i += (uint32_t)r;
			sent += (uint32_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR && eintr < UDP_EINTR_RETRIES) {
			eintr++;
			continue;
		}
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS ||
			      errno == EINTR)) {
			/* The kernel's buffer is full: the rest would fail the same way now. */
			p->stats.drops[NIC_DROP_TX_FULL] += n - i;
			break;
		}
		/* This datagram cannot go (unreachable, too long, ...): skip it. */
		p->stats.drops[NIC_DROP_TX_ERROR]++;
		i++;
	}
	p->stats.tx_pkts += sent;
	return sent;
}

static int udp_wait_rx(struct nic_port *p, uint64_t timeout_ns)
{
	struct nic_udp *u = udp_of(p);
	struct pollfd pfd = { .fd = u->fd, .events = POLLIN };
	struct timespec ts = { .tv_sec = (time_t)(timeout_ns / 1000000000u),
			       .tv_nsec = (long)(timeout_ns % 1000000000u) };
	int r = ppoll(&pfd, 1, &ts, NULL);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	return r > 0 ? 1 : 0;
}

static void udp_close(struct nic_port *p)
{
	struct nic_udp *u = udp_of(p);
	if (u->fd >= 0)
		close(u->fd);
	free(u->rx_msgs);
	free(u->rx_iov);
	free(u->rx_addr);
	free(u->rx_bufs);
	free(u->rx_slot_buf);
	free(u->hold_buf);
	free(u->buf_free);
	free(u->tx_msgs);
	free(u->tx_iov);
	free(u->tx_addr);
	free(u->tx_bufs);
	free(u);
}

static const struct nic_ops udp_ops = {
	.rx_burst = udp_rx_burst,
	.rx_done = udp_rx_done,
	.rx_hold = udp_rx_hold,
	.rx_release = udp_rx_release,
	.tx_buf = udp_tx_buf,
	.tx_commit = udp_tx_commit,
	.tx_flush = udp_tx_flush,
	.wait_rx = udp_wait_rx,
	.close = udp_close,
};

static struct nic_port *open_fail(struct nic_udp *u, int e)
{
	udp_close(&u->base);
	errno = e;
	return NULL;
}

struct nic_port *nic_udp_open(const struct nic_conf *conf, char *err, size_t errlen)
{
	char where[32];
	nic_addr_format(&conf->local, where, sizeof(where));

	/* Cache-line aligned: struct nic_port keeps its transmit side on its own line. */
	struct nic_udp *u = aligned_alloc(64, (sizeof(*u) + 63u) & ~(size_t)63u);
	if (u != NULL)
		memset(u, 0, sizeof(*u));
	if (u == NULL) {
		snprintf(err, errlen, "nic %s: out of memory", where);
		errno = ENOMEM;
		return NULL;
	}
	u->fd = -1;
	u->base.ops = &udp_ops;
	u->base.conf = *conf;

	uint32_t b = conf->burst, t = conf->tx_bufs, hm = conf->rx_hold_max;
	u->rx_msgs = calloc(b, sizeof(*u->rx_msgs));
	u->rx_iov = calloc(b, sizeof(*u->rx_iov));
	u->rx_addr = calloc(b, sizeof(*u->rx_addr));
	u->rx_bufs = calloc(b + hm, conf->buf_bytes);
	u->rx_slot_buf = calloc(b, sizeof(*u->rx_slot_buf));
	u->hold_buf = calloc(hm ? hm : 1u, sizeof(*u->hold_buf));
	u->buf_free = calloc(hm ? hm : 1u, sizeof(*u->buf_free));
	u->tx_msgs = calloc(t, sizeof(*u->tx_msgs));
	u->tx_iov = calloc(t, sizeof(*u->tx_iov));
	u->tx_addr = calloc(t, sizeof(*u->tx_addr));
	u->tx_bufs = calloc(t, conf->buf_bytes);
	if (!u->rx_msgs || !u->rx_iov || !u->rx_addr || !u->rx_bufs || !u->rx_slot_buf ||
	    !u->hold_buf || !u->buf_free || !u->tx_msgs || !u->tx_iov || !u->tx_addr ||
	    !u->tx_bufs) {
		snprintf(err, errlen, "nic %s: out of memory for %u + %u + %u buffers of %u bytes",
			 where, b, hm, t, conf->buf_bytes);
		return open_fail(u, ENOMEM);
	}
	for (uint32_t i = 0; i < hm; i++)
		u->buf_free[i] = b + i;
	u->buf_free_n = hm;
	for (uint32_t i = 0; i < b; i++) {
		u->rx_slot_buf[i] = i;
		u->rx_iov[i].iov_base = buf_at(u, i);
		u->rx_iov[i].iov_len = conf->buf_bytes;
		u->rx_msgs[i].msg_hdr.msg_name = &u->rx_addr[i];
		u->rx_msgs[i].msg_hdr.msg_namelen = sizeof(u->rx_addr[i]);
		u->rx_msgs[i].msg_hdr.msg_iov = &u->rx_iov[i];
		u->rx_msgs[i].msg_hdr.msg_iovlen = 1;
	}
	for (uint32_t i = 0; i < t; i++) {
		u->tx_iov[i].iov_base = u->tx_bufs + (size_t)i * conf->buf_bytes;
		u->tx_addr[i].sin_family = AF_INET;
		u->tx_msgs[i].msg_hdr.msg_name = &u->tx_addr[i];
		u->tx_msgs[i].msg_hdr.msg_namelen = sizeof(u->tx_addr[i]);
		u->tx_msgs[i].msg_hdr.msg_iov = &u->tx_iov[i];
		u->tx_msgs[i].msg_hdr.msg_iovlen = 1;
	}

	u->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (u->fd < 0) {
		int e = errno;
		snprintf(err, errlen, "socket(AF_INET, SOCK_DGRAM): %s", strerror(e));
		return open_fail(u, e);
	}
	if (conf->sock_buf_bytes != 0) {
		/* Best effort: the kernel caps these at rmem_max/wmem_max. */
		int v = (int)conf->sock_buf_bytes;
		(void)setsockopt(u->fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
		(void)setsockopt(u->fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	}
	/* No SO_REUSEADDR: on Linux it would let a second process bind the same UDP port
	 * and steal half the datagrams; a clash must fail here instead. */
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = conf->local.ip_be,
				  .sin_port = conf->local.port_be };
	if (bind(u->fd, (const struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		snprintf(err, errlen, "bind %s: %s", where, strerror(e));
		return open_fail(u, e);
	}
	socklen_t sl = sizeof(sa);
	if (getsockname(u->fd, (struct sockaddr *)&sa, &sl) != 0) {
		int e = errno;
		snprintf(err, errlen, "getsockname %s: %s", where, strerror(e));
		return open_fail(u, e);
	}
	u->base.local = conf->local;
	u->base.local.ip_be = sa.sin_addr.s_addr;
	u->base.local.port_be = sa.sin_port;
	return &u->base;
}
