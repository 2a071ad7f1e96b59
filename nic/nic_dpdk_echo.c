/* SPDX-License-Identifier: Apache-2.0
 * nic-dpdk-echo: two processes exchanging framed UDP datagrams through the nic API over
 * any DPDK port (made for memif, which links exactly two processes).
 *
 *   nic-dpdk-echo [EAL args] -- server IP PORT [poll]
 *   nic-dpdk-echo [EAL args] -- client IP PORT PEER_IP PEER_PORT PEER_MAC COUNT
 *
 * The server echoes every datagram back to its source (MAC learnt from the frame) until
 * SIGINT/SIGTERM or 30 s, then prints its counters; it sleeps in nic_wait_rx between
 * datagrams, or with `poll` busy-polls (the wire floor of poll-mode replicas). The client sends COUNT datagrams of
 * 64..1400 bytes (one per ms, to whichever MAC is given) and waits up to 5 s for the
 * echoes, checking each payload; exit 0 when all COUNT came back intact.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "env.h"
#include "nic.h"

static atomic_bool g_stop;

static void on_stop(int sig)
{
	(void)sig;
	atomic_store_explicit(&g_stop, true, memory_order_relaxed);  /* same thread reads */
}

static uint64_t now_ms(void)
{
	return env_mono_ns() / 1000000u;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

static void fill(uint8_t *b, uint32_t len, uint32_t seq)
{
	memcpy(b, &seq, sizeof(seq));
	for (uint32_t i = sizeof(seq); i < len; i++)
		b[i] = (uint8_t)(seq * 31u + i);
}

static void print_stats(const char *who, struct nic_port *p)
{
	const struct nic_stats *s = nic_stats(p);
	printf("%s: rx_pkts %llu tx_pkts %llu arp_replies %llu icmp_replies %llu drops:", who,
	       (unsigned long long)s->rx_pkts, (unsigned long long)s->tx_pkts,
	       (unsigned long long)s->arp_replies, (unsigned long long)s->icmp_replies);
	for (int d = 0; d < NIC_DROP_MAX; d++)
		if (s->drops[d] != 0)
			printf(" %s=%llu", nic_drop_name((enum nic_drop)d),
			       (unsigned long long)s->drops[d]);
	printf("\n");
}

int main(int argc, char **argv)
{
	int sep = 0;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			sep = i;
			break;
		}
	char err[256];
	if (sep == 0 || env_eal_init(sep, argv, err, sizeof(err)) != 0) {
		fprintf(stderr, "nic-dpdk-echo: %s; usage: see the top of nic/nic_dpdk_echo.c\n",
			sep == 0 ? "EAL args and \"--\" needed" : err);
		return 2;
	}
	int ac = argc - sep - 1;
	char **av = argv + sep + 1;
	bool poll_mode = ac == 4 && strcmp(av[3], "poll") == 0;
	bool server = (ac == 3 || poll_mode) && strcmp(av[0], "server") == 0;
	bool client = ac == 7 && strcmp(av[0], "client") == 0;
	struct in_addr ip, peer_ip;
	if ((!server && !client) || inet_pton(AF_INET, av[1], &ip) != 1) {
		fprintf(stderr, "nic-dpdk-echo: bad arguments; usage: see nic/nic_dpdk_echo.c\n");
		env_eal_cleanup();
		return 2;
	}
	struct nic_conf c = {
		.backend = NIC_BACKEND_DPDK,
		.local = nic_addr_make(ip.s_addr, (uint16_t)atoi(av[2])),
		.burst = 32,
		.buf_bytes = 2048,
		.tx_bufs = 64,
		.eth_port = 0,
	};
	struct nic_port *p = nic_open(&c, err, sizeof(err));
	if (p == NULL) {
		fprintf(stderr, "nic-dpdk-echo: %s\n", err);
		env_eal_cleanup();
		return 1;
	}
	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	struct nic_pkt pk[32];
	int rc = 0;
	if (server) {
		uint64_t end = now_ms() + 30000u;
		while (!atomic_load_explicit(&g_stop, memory_order_relaxed) && now_ms() < end) {
			if (!poll_mode && nic_wait_rx(p, 10000000u) <= 0)
				continue;
			uint16_t n = nic_rx_burst(p, pk, 32);
			for (uint16_t i = 0; i < n; i++) {
				uint32_t cap;
				uint8_t *b = nic_tx_buf(p, &cap);
				if (b == NULL)
					continue;
				memcpy(b, pk[i].data, pk[i].len);
				nic_tx_commit(p, pk[i].len, &pk[i].src);
			}
			nic_rx_done(p);
			nic_tx_flush(p);
		}
		print_stats("server", p);
	} else {
		struct nic_addr to;
		uint32_t count = (uint32_t)atoi(av[6]);
		if (inet_pton(AF_INET, av[3], &peer_ip) != 1 || parse_mac(av[5], to.mac) != 0 ||
		    count == 0 || count > 100000) {
			fprintf(stderr, "nic-dpdk-echo: bad peer arguments\n");
			nic_close(p);
			env_eal_cleanup();
			return 2;
		}
		struct nic_addr a = nic_addr_make(peer_ip.s_addr, (uint16_t)atoi(av[4]));
		memcpy(a.mac, to.mac, 6);
		/* Warm-up: the link (memif: the socket handshake) comes up after open; probe
		 * every 10 ms until one echo returns, at most 5 s. */
		uint32_t probes = 0;
		bool up = false;
		for (uint64_t end = now_ms() + 5000u; !up && now_ms() < end; probes++) {
			uint32_t cap;
			uint8_t *b = nic_tx_buf(p, &cap);
			if (b != NULL) {
				memset(b, 0xff, 8);
				nic_tx_commit(p, 8, &a);
				nic_tx_flush(p);
			}
			if (nic_wait_rx(p, 10000000u) > 0) {
				uint16_t n = nic_rx_burst(p, pk, 32);
				up = n > 0;
				nic_rx_done(p);
			}
		}
		if (!up) {
			fprintf(stderr, "nic-dpdk-echo: no echo to %u probes in 5 s\n", probes);
			print_stats("client", p);
			nic_close(p);
			env_eal_cleanup();
			return 1;
		}
		printf("client: link up after %u probes\n", probes);
		/* Late probe echoes may still arrive: they are 8 bytes of 0xff, skipped below. */
		uint32_t sent = 0, good = 0, bad = 0;
		uint8_t want[2048];
		uint64_t next = now_ms(), deadline = 0;
		while (!atomic_load_explicit(&g_stop, memory_order_relaxed) && good + bad < count) {
			if (sent < count && now_ms() >= next) {
				uint32_t cap;
				uint8_t *b = nic_tx_buf(p, &cap);
				if (b != NULL) {
					uint32_t len = 64u + (sent * 97u) % 1337u;
					fill(b, len, sent);
					nic_tx_commit(p, len, &a);
					nic_tx_flush(p);
					sent++;
				}
				next = now_ms() + 1u;
				if (sent == count)
					deadline = now_ms() + 5000u;
			}
			if (deadline != 0 && now_ms() > deadline)
				break;
			(void)nic_wait_rx(p, 200000u);
			uint16_t n = nic_rx_burst(p, pk, 32);
			for (uint16_t i = 0; i < n; i++) {
				uint32_t seq;
				if (pk[i].len == 8 && pk[i].data[0] == 0xff && pk[i].data[7] == 0xff)
					continue;   /* a warm-up probe's echo */
				if (pk[i].len < sizeof(seq)) {
					bad++;
					continue;
				}
				memcpy(&seq, pk[i].data, sizeof(seq));
				uint32_t len = 64u + (seq * 97u) % 1337u;
				fill(want, len, seq);
				if (pk[i].len == len && memcmp(pk[i].data, want, len) == 0 &&
				    nic_addr_eq(&pk[i].src, &a))
					good++;
				else
					bad++;
			}
			nic_rx_done(p);
		}
		printf("client: sent %u, echoed intact %u, bad %u\n", sent, good, bad);
		print_stats("client", p);
		rc = good == count ? 0 : 1;
	}
	nic_close(p);
	env_eal_cleanup();
	return rc;
}
