/* SPDX-License-Identifier: Apache-2.0
 * The DPDK transport of libpaxwire-client (pw_transport.h), built when meson finds
 * libdpdk: ethdev port j of this process leads to member j (a memif link, or a NIC
 * port), through nic/'s ethdev backend (Eth/IPv4/UDP framing, ARP and ICMP echo
 * answered there). Busy-polled: no descriptor, and wait returns at once after the
 * ports' housekeeping; the engine loops. No allocation after open.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "nic.h"
#include "px_limits.h"
#include "pw_transport.h"

#define TP_PORTS_MAX 16u
#define TP_BURST 32u
/** EAL arguments at most (words). */
#define TP_EAL_ARGS_MAX 64u

struct tp_dpdk {
	struct nic_port *port[TP_PORTS_MAX];
	struct nic_addr member[TP_PORTS_MAX];
	uint8_t n;
	uint8_t next;            /**< the port recv starts with (round robin) */
	struct nic_pkt pkts[TP_BURST];
};

static uint32_t tp_send(void *tp, const struct pw_tp_dgram *d, uint32_t n)
{
	struct tp_dpdk *t = tp;
	uint32_t sent = 0, dirty = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint8_t j = d[i].peer;
		uint32_t cap = 0;
		if (j >= t->n || t->port[j] == NULL)
			continue;   /* no port leads to it: lost */
		uint8_t *buf = nic_tx_buf(t->port[j], &cap);
		if (buf == NULL || cap < d[i].len)
			continue;
		memcpy(buf, d[i].buf, d[i].len);
		nic_tx_commit(t->port[j], d[i].len, &t->member[j]);
		dirty |= 1u << j;
		sent++;
	}
	for (uint8_t j = 0; j < t->n; j++)
		if ((dirty >> j) & 1u)
			(void)nic_tx_flush(t->port[j]);
	return sent;
}

static int tp_recv(void *tp, struct pw_tp_dgram *d, uint32_t n)
{
	struct tp_dpdk *t = tp;
	uint32_t got = 0;

	for (uint8_t k = 0; k < t->n && got < n; k++) {
		uint8_t j = (uint8_t)((t->next + k) % t->n);
		if (t->port[j] == NULL)
			continue;
		uint32_t want = n - got < TP_BURST ? n - got : TP_BURST;
		uint16_t m = nic_rx_burst(t->port[j], t->pkts, (uint16_t)want);
		for (uint16_t i = 0; i < m; i++) {
			struct pw_tp_dgram *x = &d[got++];
			x->trunc = t->pkts[i].len > x->cap;
			x->len = x->trunc ? x->cap : t->pkts[i].len;
			memcpy(x->buf, t->pkts[i].data, x->len);
			/* Port j leads to member j alone. */
			x->peer = nic_addr_eq(&t->pkts[i].src, &t->member[j]) ? j : PW_TP_PEER_NONE;
		}
		nic_rx_done(t->port[j]);
	}
	t->next = (uint8_t)((t->next + 1u) % t->n);
	return (int)got;
}

static int tp_wait(void *tp, uint64_t until_ns)
{
	struct tp_dpdk *t = tp;
	uint64_t now = env_mono_ns();

	(void)until_ns;   /* busy-polled: the caller loops */
	for (uint8_t j = 0; j < t->n; j++)
		if (t->port[j] != NULL)
			nic_housekeep(t->port[j], now);
	return 0;
}

static int tp_fd(void *tp)
{
	(void)tp;
	return -1;
}

static void tp_close(void *tp)
{
	struct tp_dpdk *t = tp;

	for (uint8_t j = 0; j < t->n; j++)
		nic_close(t->port[j]);
	free(t);
}

static const struct pw_tp_ops dpdk_ops = {
	.name = "dpdk", .send = tp_send, .recv = tp_recv, .wait = tp_wait, .fd = tp_fd,
	.close = tp_close,
};

int pw_tp_dpdk_open(const char *eal_args, const struct pw_tp_dpdk_member *m, uint8_t n,
		    const struct pw_tp_ops **ops, void **tpp, char *err, size_t errlen)
{
	static char argbuf[4096];
	char *argv[TP_EAL_ARGS_MAX + 2];
	int argc = 0;

	if (n == 0 || n > TP_PORTS_MAX) {
		snprintf(err, errlen, "transport dpdk: %u members; fix: 1..%u", n, TP_PORTS_MAX);
		return -EINVAL;
	}
	if (!env_eal_up()) {
		if (eal_args == NULL || strlen(eal_args) >= sizeof(argbuf)) {
			snprintf(err, errlen, "transport dpdk: %s; fix: opts.eal_args, e.g. \"--no-huge "
				 "-m 256 --no-pci --vdev=net_memif0,role=client,socket=...\" (one "
				 "ethdev port per member, port j to member j)",
				 eal_args == NULL ? "no EAL arguments" : "EAL arguments over 4095 bytes");
			return -EINVAL;
		}
		/* The EAL keeps pointers into argv: a buffer that lives as long as the process. */
		snprintf(argbuf, sizeof(argbuf), "%s", eal_args);
		argv[argc++] = (char *)"libpaxwire-client";
		for (char *save = NULL, *w = strtok_r(argbuf, " \t\n", &save); w != NULL;
		     w = strtok_r(NULL, " \t\n", &save)) {
			if (argc > (int)TP_EAL_ARGS_MAX) {
				snprintf(err, errlen, "transport dpdk: over %u EAL arguments",
					 TP_EAL_ARGS_MAX);
				return -E2BIG;
			}
			argv[argc++] = w;
		}
		argv[argc] = NULL;
		char why[256];
		int rc = env_eal_init(argc, argv, why, sizeof(why));
		if (rc != 0) {
			snprintf(err, errlen, "transport dpdk: DPDK's EAL did not start (%s); fix: "
				 "check opts.eal_args (\"%s\"): --no-huge -m 256 without hugepages, "
				 "a distinct --file-prefix per process, --vdev=net_memif... whose "
				 "socket the replica serves", why, eal_args);
			return rc;
		}
	}
	uint16_t avail = env_eth_port_count();
	struct tp_dpdk *t = calloc(1, sizeof(*t));
	if (t == NULL) {
		snprintf(err, errlen, "transport dpdk: out of memory");
		return -ENOMEM;
	}
	t->n = n;
	for (uint8_t j = 0; j < n; j++) {
		if (!m[j].present)
			continue;
		t->member[j] = nic_addr_make(m[j].ip_be, m[j].port);
		memcpy(t->member[j].mac, m[j].mac, 6);
		if (j >= avail) {
			snprintf(err, errlen, "transport dpdk: no ethdev port %u for member %u (the "
				 "EAL has %u); fix: one --vdev per member in opts.eal_args, port j "
				 "leading to member j", j, j, avail);
			tp_close(t);
			return -ENODEV;
		}
		struct nic_conf nc = {
			.backend = NIC_BACKEND_DPDK,
			.eth_port = j,
			.eth_mac_set = true,
			.local = nic_addr_make(htonl(PW_TP_DPDK_IP), PW_TP_DPDK_PORT),
			.burst = TP_BURST,
			.buf_bytes = PX_DGRAM_BYTES_MAX,
			.tx_bufs = 256,
		};
		static const uint8_t mac[6] = { 0x02, 0x77, 0x00, 0x00, 0x00, 0xfe };
		memcpy(nc.local.mac, mac, 6);
		char why[256];
		t->port[j] = nic_open(&nc, why, sizeof(why));
		if (t->port[j] == NULL) {
			snprintf(err, errlen, "transport dpdk: ethdev port %u (member %u): %s", j, j, why);
			tp_close(t);
			return -ENODEV;
		}
	}
	*ops = &dpdk_ops;
	*tpp = t;
	return 0;
}
