/* SPDX-License-Identifier: Apache-2.0
 * pw-attack: the attack suite's tool (docs/testing.md, "Attack suite"). It plays an
 * attacker on the same network as a cluster, who can capture, replay, forge and flood
 * datagrams but holds no cluster key (and, for the client attacks, at most a client
 * key that is not an admin's):
 *
 *   pw-attack [EAL args --] COMMAND [options]
 *
 *   capture --seconds S --ports P1,P2,... --out FILE [--max N] [--iface lo]
 *       sniffs UDP datagrams to or from the ports on an interface (AF_PACKET, root),
 *       keeps up to --max of them (and at least PER_TYPE_MIN of every message type seen
 *       beyond that), writes them to FILE (the format below).
 *   replay FILE        every captured datagram again, to its own destination and to
 *                      every other target (cross-replica replay).
 *   mutate FILE [--count N]
 *                      captured datagrams with one change each: a bit flipped, a
 *                      header field (PX_WIRE_OFF_*) or a body byte set, cut short,
 *                      extended, a trailer field changed, another datagram's trailer.
 *   forge [--capture FILE] [--client-key FILE]
 *                      peer messages built with the real codec (px_encode) by someone
 *                      without the key: PREPARE/ACCEPT at the highest ballot, ACCEPTs of
 *                      a value no client wrote, ACCEPTED for a slot never sent, old
 *                      ballots, crash vectors of all ones, every type with every flag
 *                      it allows; sealed with a random (wrong) key, with no trailer, with
 *                      a trailer copied from the capture, an unknown key generation, a
 *                      client's role, a life in the future. Client attacks: REQUESTs
 *                      under a wrong client key; admin requests (transfer-leader, stats)
 *                      and a tool's SNAP_REQ under a wrong admin key, with no trailer,
 *                      and under the real client (not admin) key of --client-key.
 *   random [--count N] random bytes, 0..2000 of them; also behind a paxwire header
 *                      prefix, or with a well-formed trailer.
 *   all [--capture FILE] [--count N] [--client-key FILE]
 *                      replay and mutate (with a capture), forge, random, in one
 *                      process (a DPDK start takes seconds); one line each.
 *
 * Common options: --config FILE (targets: every member's ip:port; the cluster id and
 * size), --target IP:PORT (more targets, repeatable), --rate N (datagrams per second at
 * most, default 20000), --seed N, --only KIND (only the datagrams of one kind named in
 * the summary's "kinds": to reproduce a finding).
 *
 * Targets are reached over kernel UDP, or, with EAL arguments before "--" (a DPDK
 * build), over ethdev ports: port j leads to member j of --config (memif client ports of
 * a cluster with clients = dpdk), as pw-bench-dpdk's.
 *
 * Each command prints one JSON line on stdout: what it sent, by kind, by message type
 * (byte PX_WIRE_OFF_TYPE of the payload), the CLOCK_MONOTONIC window it sent in
 * (start_ns, end_ns: the clock of pw-bench's --history), and the seed.
 *
 * Capture file: "PWCAP001" then records: u32 src ip (network order), u32 dst ip
 * (network order), u16 src port, u16 dst port, u32 payload bytes (little-endian), the
 * payload.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "cfg.h"
#include "px.h"
#include "px_apply.h"
#include "px_batch.h"
#include "px_codec.h"
#include "wire_kv.h"
#include "wire_le.h"

#ifdef PW_ATTACK_DPDK
#include "env.h"
#include "nic.h"
#include "pw_version.h"
#endif

#define TARGETS_MAX 64u
#define KINDS_MAX 96u
/** Largest datagram handled (a whole message, a trailer and room to extend it). */
#define DGRAM_MAX (PX_MSG_BYTES_MAX + AUTH_TRAILER_BYTES + 256u)
/** capture: kept beyond --max while a type has fewer than this many. */
#define PER_TYPE_MIN 16u
#define RANDOM_LEN_MAX 2000u
/** The type index of a datagram that is not a paxwire message. */
#define TYPE_OTHER 0u

static const char CAP_MAGIC[8] = { 'P', 'W', 'C', 'A', 'P', '0', '0', '1' };

struct target {
	uint32_t ip_be;
	uint16_t port;   /**< host order */
};

/** One captured datagram. */
struct rec {
	uint32_t src_ip, dst_ip;   /**< network order */
	uint16_t sport, dport;
	uint32_t len;
	uint8_t *data;
};

struct counter {
	const char *name;
	uint64_t n;
};

/** What a capture tells about the cluster, for forging plausible messages. */
struct learnt {
	bool any;
	struct px_uuid uuid;
	uint32_t epoch;
	uint64_t ballot;           /**< the highest ACCEPT ballot seen (the leader's) */
	uint64_t slot;             /**< the highest slot seen in an entry or an ack */
	uint64_t commit;
	uint32_t inc[PX_REPLICAS_MAX];
	bool have_inc;
	uint8_t gen;               /**< a trailer's key generation (0: no trailer seen) */
	/** trailer[i][j]: the last trailer seen from replica i to replica j. */
	bool have_tr[PX_REPLICAS_MAX][PX_REPLICAS_MAX];
	uint8_t tr[PX_REPLICAS_MAX][PX_REPLICAS_MAX][AUTH_TRAILER_BYTES];
	bool have_req_tr;          /**< a client REQUEST's trailer */
	uint8_t req_tr[AUTH_TRAILER_BYTES];
};

struct atk {
	const char *cmd;
	/* targets and the cluster */
	struct cfg_cluster cfg;
	bool have_cfg;
	uint32_t cluster_id;
	uint8_t n;                 /**< replicas (0: unknown) */
	struct target tg[TARGETS_MAX];
	uint32_t n_tg;
	/* sending */
	bool dpdk;
	int fd;
#ifdef PW_ATTACK_DPDK
	struct nic_port *port[PX_REPLICAS_MAX];
	struct nic_addr member[PX_REPLICAS_MAX];
#endif
	double rate;
	uint64_t start_ns, end_ns;
	uint64_t sent, unroutable, tx_errors;
	uint64_t tx_dropped0;      /**< tx_dropped() when this command began */
	uint64_t seed, rng;
	struct counter kinds[KINDS_MAX];
	uint32_t n_kinds;
	struct counter seals[KINDS_MAX];
	uint32_t n_seals;
	uint64_t by_type[256];
	uint64_t by_target[TARGETS_MAX];   /**< sent to each target (--config order) */
	/* options */
	const char *file;          /**< replay, mutate: the capture; forge: --capture */
	const char *out;
	const char *client_key;
	const char *iface;
	const char *only;          /**< send only datagrams of this kind (a reproduction) */
	double seconds;
	uint32_t count, max;
	uint16_t ports[TARGETS_MAX];
	uint32_t n_ports;
	uint32_t linger_ms;
	/* loaded capture */
	struct rec *recs;
	uint32_t n_recs;
	struct learnt l;
	/* forge: replies heard */
	uint64_t replies, admin_ok, replies_authentic;
	uint64_t admin_id;
};

static uint8_t g_buf[DGRAM_MAX];
static uint8_t g_buf2[DGRAM_MAX];
static struct px_msg g_msg;

/* ---------------------------------------------------------------------------------- */
/* Small helpers                                                                       */

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd(struct atk *a)
{
	/* xorshift64* */
	uint64_t x = a->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	a->rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

static uint32_t rnd_below(struct atk *a, uint32_t n) { return n == 0 ? 0 : (uint32_t)(rnd(a) % n); }

static void rnd_bytes(struct atk *a, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd(a);
}

static void count_in(struct counter *t, uint32_t *n, const char *name, uint64_t by)
{
	for (uint32_t i = 0; i < *n; i++) {
		if (strcmp(t[i].name, name) == 0) {
			t[i].n += by;
			return;
		}
	}
	if (*n < KINDS_MAX)
		t[(*n)++] = (struct counter){ .name = name, .n = by };
}

/** The protocol's name of a message type (px_msg_type_name), NULL if none. */
static const char *type_name(uint8_t type)
{
	const char *n = px_msg_type_name(type);
	return n[0] == '?' ? NULL : n;
}

/** The message type of a datagram (byte PX_WIRE_OFF_TYPE), TYPE_OTHER if it is not a
 *  paxwire message of a known type. */
static uint8_t dgram_type(const uint8_t *p, uint32_t len)
{
	if (len < PX_WIRE_HDR_BYTES || wire_ld16(p + PX_WIRE_OFF_MAGIC) != PX_WIRE_MAGIC ||
	    type_name(p[PX_WIRE_OFF_TYPE]) == NULL)
		return TYPE_OTHER;
	return p[PX_WIRE_OFF_TYPE];
}

static void print_types(const char *key, const uint64_t *by_type, bool comma)
{
	bool first = true;
	printf("%s\"%s\":{", comma ? "," : "", key);
	for (uint32_t t = 0; t < 256; t++) {
		if (by_type[t] == 0)
			continue;
		const char *nm = t == TYPE_OTHER ? "other" : type_name((uint8_t)t);
		printf("%s\"%s\":%" PRIu64, first ? "" : ",", nm != NULL ? nm : "other", by_type[t]);
		first = false;
	}
	printf("}");
}

static void print_counters(const char *key, const struct counter *t, uint32_t n)
{
	printf(",\"%s\":{", key);
	for (uint32_t i = 0; i < n; i++)
		printf("%s\"%s\":%" PRIu64, i ? "," : "", t[i].name, t[i].n);
	printf("}");
}

static void flush_all(struct atk *a);

/** Datagrams the ethdev ports dropped on transmit (0 over kernel UDP: sendto failures
 *  are tx_errors). */
static uint64_t tx_dropped(const struct atk *a)
{
	uint64_t n = 0;
#ifdef PW_ATTACK_DPDK
	if (a->dpdk)
		for (uint32_t j = 0; j < a->n_tg; j++) {
			const struct nic_stats *st = nic_stats(a->port[j]);
			n += st->drops[NIC_DROP_TX_NOBUF] + st->drops[NIC_DROP_TX_FULL] +
			     st->drops[NIC_DROP_TX_ERROR];
		}
#else
	(void)a;
#endif
	return n;
}

static void print_summary(struct atk *a, const char *extra)
{
	flush_all(a);
	printf("{\"cmd\":\"%s\",\"transport\":\"%s\",\"targets\":%u,\"sent\":%" PRIu64
	       ",\"unroutable\":%" PRIu64 ",\"tx_errors\":%" PRIu64 ",\"tx_dropped\":%" PRIu64
	       ",\"seed\":%" PRIu64
	       ",\"start_ns\":%" PRIu64 ",\"end_ns\":%" PRIu64,
	       a->cmd, a->dpdk ? "dpdk" : "udp", a->n_tg, a->sent, a->unroutable, a->tx_errors,
	       tx_dropped(a) - a->tx_dropped0, a->seed, a->start_ns, a->end_ns);
	print_counters("kinds", a->kinds, a->n_kinds);
	if (a->n_seals > 0)
		print_counters("seals", a->seals, a->n_seals);
	print_types("types", a->by_type, true);
	printf(",\"by_target\":[");
	for (uint32_t t = 0; t < a->n_tg; t++)
		printf("%s%" PRIu64, t ? "," : "", a->by_target[t]);
	printf("]%s}\n", extra != NULL ? extra : "");
	fflush(stdout);
}

/* ---------------------------------------------------------------------------------- */
/* Sending                                                                             */

static int target_of(const struct atk *a, uint32_t ip_be, uint16_t port)
{
	for (uint32_t i = 0; i < a->n_tg; i++)
		if (a->tg[i].ip_be == ip_be && a->tg[i].port == port)
			return (int)i;
	return -1;
}

static void flush_all(struct atk *a)
{
#ifdef PW_ATTACK_DPDK
	if (a->dpdk)
		for (uint32_t j = 0; j < a->n_tg; j++)
			nic_tx_flush(a->port[j]);
#else
	(void)a;
#endif
}

/** Keeps the send rate at --rate at most. */
static void pace(struct atk *a)
{
	if (a->rate <= 0)
		return;
	uint64_t due = a->start_ns + (uint64_t)((double)a->sent * 1e9 / a->rate);
	uint64_t now = mono_ns();
	if (due > now + 1000000ull) {
		flush_all(a);
		struct timespec ts = { .tv_sec = (time_t)((due - now) / 1000000000ull),
				       .tv_nsec = (long)((due - now) % 1000000000ull) };
		nanosleep(&ts, NULL);
	}
}

/** Sends one datagram to ip:port; counts it under kind (and seal, if any). */
static void send_to(struct atk *a, uint32_t ip_be, uint16_t port, const uint8_t *buf,
		    uint32_t len, const char *kind, const char *seal)
{
	if (a->only != NULL && strcmp(a->only, kind) != 0)
		return;
	pace(a);
#ifdef PW_ATTACK_DPDK
	if (a->dpdk) {
		int j = target_of(a, ip_be, port);
		if (j < 0 || len == 0) {   /* only members are reached; no empty frame */
			a->unroutable++;
			return;
		}
		uint32_t cap = 0;
		uint8_t *b = nic_tx_buf(a->port[j], &cap);
		if (b == NULL || len > cap) {
			a->tx_errors++;
			return;
		}
		memcpy(b, buf, len);
		nic_tx_commit(a->port[j], len, &a->member[j]);
		if (nic_tx_pending(a->port[j]) >= 32)
			nic_tx_flush(a->port[j]);
		goto counted;
	}
#endif
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = ip_be };
	if (sendto(a->fd, buf, len, 0, (const struct sockaddr *)&sa, sizeof(sa)) < 0) {
		a->tx_errors++;
		return;
	}
#ifdef PW_ATTACK_DPDK
counted:
#endif
	a->sent++;
	a->by_type[dgram_type(buf, len)]++;
	int tj = target_of(a, ip_be, port);
	if (tj >= 0)
		a->by_target[tj]++;
	count_in(a->kinds, &a->n_kinds, kind, 1);
	if (seal != NULL)
		count_in(a->seals, &a->n_seals, seal, 1);
}

static void send_tg(struct atk *a, uint32_t t, const uint8_t *buf, uint32_t len, const char *kind,
		    const char *seal)
{
	send_to(a, a->tg[t].ip_be, a->tg[t].port, buf, len, kind, seal);
}

static int sink_open(struct atk *a)
{
	if (!a->dpdk) {
		a->fd = socket(AF_INET, SOCK_DGRAM, 0);
		if (a->fd < 0) {
			perror("pw-attack: socket");
			return -1;
		}
		int sz = 4 << 20;
		(void)setsockopt(a->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		return 0;
	}
#ifdef PW_ATTACK_DPDK
	char err[256];
	for (uint32_t j = 0; j < a->n_tg; j++) {
		a->member[j] = nic_addr_make(a->tg[j].ip_be, a->tg[j].port);
		memcpy(a->member[j].mac, a->cfg.members[j].mac, 6);
		struct nic_conf nc = {
			.backend = NIC_BACKEND_DPDK,
			.eth_port = (uint16_t)j,
			.eth_mac_set = true,
			.local = nic_addr_make(htonl(0x7f0000fdu), 9998),
			.burst = 32,
			.buf_bytes = DGRAM_MAX,
			.tx_bufs = 256,
		};
		static const uint8_t mac[6] = { 0x02, 0x77, 0x00, 0x00, 0x00, 0xfd };
		memcpy(nc.local.mac, mac, 6);
		a->port[j] = nic_open(&nc, err, sizeof(err));
		if (a->port[j] == NULL) {
			fprintf(stderr, "pw-attack: %s; fix: one --vdev per member, port j leading to member j\n", err);
			return -1;
		}
	}
	/* memif links come up once the peer's server has answered: give them a moment. */
	struct nic_pkt pk[32];
	uint64_t until = mono_ns() + 1500000000ull;
	while (mono_ns() < until) {
		for (uint32_t j = 0; j < a->n_tg; j++) {
			(void)nic_rx_burst(a->port[j], pk, 32);
			nic_rx_done(a->port[j]);
			nic_housekeep(a->port[j], mono_ns());
		}
		usleep(1000);
	}
	return 0;
#else
	fprintf(stderr, "pw-attack: EAL arguments given, but this build has no DPDK\n");
	return -1;
#endif
}

static void sink_close(struct atk *a)
{
	flush_all(a);
#ifdef PW_ATTACK_DPDK
	if (a->dpdk) {
		/* A memif link's ring lives in this process's memory: closing the port while a
		 * busy member has not read the last datagrams yet loses them. Stay a moment. */
		struct nic_pkt pk[32];
		uint64_t until = mono_ns() + 500000000ull;
		while (mono_ns() < until) {
			for (uint32_t j = 0; j < a->n_tg; j++) {
				(void)nic_rx_burst(a->port[j], pk, 32);
				nic_rx_done(a->port[j]);
			}
			usleep(1000);
		}
		for (uint32_t j = 0; j < a->n_tg; j++)
			nic_close(a->port[j]);
		env_eal_cleanup();
		return;
	}
#endif
	if (a->fd >= 0)
		close(a->fd);
}

/* ---------------------------------------------------------------------------------- */
/* Capture files                                                                       */

static int cap_load(struct atk *a, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "pw-attack: %s: %s\n", path, strerror(errno));
		return -1;
	}
	char magic[8];
	if (fread(magic, 1, 8, f) != 8 || memcmp(magic, CAP_MAGIC, 8) != 0) {
		fprintf(stderr, "pw-attack: %s: not a pw-attack capture\n", path);
		fclose(f);
		return -1;
	}
	uint32_t cap = 1024;
	a->recs = calloc(cap, sizeof(*a->recs));
	for (;;) {
		uint8_t h[16];
		size_t got = fread(h, 1, sizeof(h), f);
		if (got == 0)
			break;
		if (got != sizeof(h)) {
			fprintf(stderr, "pw-attack: %s: cut short\n", path);
			fclose(f);
			return -1;
		}
		struct rec r;
		memcpy(&r.src_ip, h, 4);
		memcpy(&r.dst_ip, h + 4, 4);
		r.sport = wire_ld16(h + 8);
		r.dport = wire_ld16(h + 10);
		r.len = wire_ld32(h + 12);
		if (r.len > DGRAM_MAX - 256u) {
			fprintf(stderr, "pw-attack: %s: a %u-byte record\n", path, r.len);
			fclose(f);
			return -1;
		}
		r.data = malloc(r.len + 1u);
		if (r.data == NULL || fread(r.data, 1, r.len, f) != r.len) {
			fprintf(stderr, "pw-attack: %s: cut short\n", path);
			fclose(f);
			return -1;
		}
		if (a->n_recs == cap) {
			cap *= 2;
			a->recs = realloc(a->recs, cap * sizeof(*a->recs));
		}
		if (a->recs == NULL) {
			fprintf(stderr, "pw-attack: out of memory\n");
			fclose(f);
			return -1;
		}
		a->recs[a->n_recs++] = r;
	}
	fclose(f);
	if (a->n_recs == 0) {
		fprintf(stderr, "pw-attack: %s holds no datagram\n", path);
		return -1;
	}
	return 0;
}

/** The message part of a captured datagram: total_len bytes when the header says a
 *  length that fits (what follows is the trailer), else all of it. */
static uint32_t msg_part(const struct rec *r)
{
	if (dgram_type(r->data, r->len) == TYPE_OTHER)
		return r->len;
	uint32_t tl = wire_ld32(r->data + PX_WIRE_OFF_TOTAL_LEN);
	return tl >= PX_WIRE_HDR_BYTES && tl <= r->len ? tl : r->len;
}

/** Learns the cluster's uuid, epoch, ballot, slots and trailers from the capture. */
static void learn(struct atk *a)
{
	struct learnt *l = &a->l;
	struct px_msg *m = &g_msg;

	memset(l, 0, sizeof(*l));
	for (uint32_t i = 0; i < a->n_recs; i++) {
		const struct rec *r = &a->recs[i];
		uint32_t ml = msg_part(r);
		if (a->n == 0 || dgram_type(r->data, r->len) == TYPE_OTHER)
			continue;
		if (px_decode(r->data, ml, a->cluster_id, a->n, m) != PX_WIRE_OK)
			continue;
		if (r->len >= ml + AUTH_TRAILER_BYTES) {
			const uint8_t *t = r->data + ml;
			l->gen = t[AUTH_OFF_GEN];
			if (m->from < a->n && m->to < a->n) {
				memcpy(l->tr[m->from][m->to], t, AUTH_TRAILER_BYTES);
				l->have_tr[m->from][m->to] = true;
			}
			if (m->type == PX_MSG_REQUEST) {
				memcpy(l->req_tr, t, AUTH_TRAILER_BYTES);
				l->have_req_tr = true;
			}
		}
		if (m->from >= a->n)
			continue;
		l->any = true;
		if (px_uuid_is_id(m->uuid))
			l->uuid = m->uuid;
		l->epoch = m->config_epoch;
		if (m->n_inc == a->n) {
			memcpy(l->inc, m->incarnation, sizeof(uint32_t) * a->n);
			l->have_inc = true;
		}
		if (m->type == PX_MSG_ACCEPT && m->ballot > l->ballot)
			l->ballot = m->ballot;
		if (m->commit > l->commit)
			l->commit = m->commit;
		if (m->type == PX_MSG_ACCEPTED && m->slot_hi > l->slot)
			l->slot = m->slot_hi;
		for (uint32_t k = 0; k < m->n_entries; k++)
			if (m->entries[k].slot > l->slot)
				l->slot = m->entries[k].slot;
	}
}

/* ---------------------------------------------------------------------------------- */
/* capture                                                                             */

static bool port_wanted(const struct atk *a, uint16_t p)
{
	for (uint32_t i = 0; i < a->n_ports; i++)
		if (a->ports[i] == p)
			return true;
	return false;
}

static int cmd_capture(struct atk *a)
{
	if (a->out == NULL || a->n_ports == 0 || !(a->seconds > 0)) {
		fprintf(stderr, "pw-attack capture: --seconds S --ports P1,P2,... --out FILE are required\n");
		return 2;
	}
	int s = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_ALL));
	if (s < 0) {
		fprintf(stderr, "pw-attack capture: AF_PACKET socket: %s; fix: run as root (CAP_NET_RAW)\n",
			strerror(errno));
		return 1;
	}
	unsigned ifx = if_nametoindex(a->iface);
	if (ifx == 0) {
		fprintf(stderr, "pw-attack capture: no interface %s\n", a->iface);
		close(s);
		return 1;
	}
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = (int)ifx };
	if (bind(s, (struct sockaddr *)&sll, sizeof(sll)) != 0) {
		fprintf(stderr, "pw-attack capture: bind %s: %s\n", a->iface, strerror(errno));
		close(s);
		return 1;
	}
	int sz = 32 << 20;
	if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) != 0)
		(void)setsockopt(s, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	FILE *f = fopen(a->out, "wb");
	if (f == NULL || fwrite(CAP_MAGIC, 1, 8, f) != 8) {
		fprintf(stderr, "pw-attack capture: %s: %s\n", a->out, strerror(errno));
		close(s);
		return 1;
	}
	static uint8_t pkt[65536 + 64];
	uint64_t seen[256] = { 0 }, kept_t[256] = { 0 };
	uint64_t seen_all = 0, kept = 0, outgoing = 0, bytes = 0;
	a->start_ns = mono_ns();
	uint64_t until = a->start_ns + (uint64_t)(a->seconds * 1e9);
	for (;;) {
		uint64_t now = mono_ns();
		if (now >= until)
			break;
		struct pollfd pf = { .fd = s, .events = POLLIN };
		int ms = (int)((until - now) / 1000000ull) + 1;
		if (poll(&pf, 1, ms > 100 ? 100 : ms) <= 0)
			continue;
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(s, pkt, sizeof(pkt), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n <= 0)
			continue;
		/* On loopback every datagram is seen leaving and arriving: keep one copy. */
		if (from.sll_pkttype == PACKET_OUTGOING) {
			outgoing++;
			continue;
		}
		if (from.sll_protocol != htons(ETH_P_IP) || n < 20 || (pkt[0] >> 4) != 4)
			continue;
		uint32_t ihl = (pkt[0] & 15u) * 4u;
		uint16_t frag = (uint16_t)(pkt[6] << 8 | pkt[7]);
		if (pkt[9] != 17 || (frag & 0x3fffu) != 0 || (size_t)n < ihl + 8u)
			continue;
		const uint8_t *u = pkt + ihl;
		uint16_t sport = (uint16_t)(u[0] << 8 | u[1]), dport = (uint16_t)(u[2] << 8 | u[3]);
		uint32_t ulen = (uint32_t)(u[4] << 8 | u[5]);
		if (!port_wanted(a, sport) && !port_wanted(a, dport))
			continue;
		if (ulen < 8u || ulen > (size_t)n - ihl)
			continue;
		uint32_t plen = ulen - 8u;
		const uint8_t *pl = u + 8;
		uint8_t t = dgram_type(pl, plen);
		seen[t]++;
		seen_all++;
		if (plen > DGRAM_MAX - 256u)
			continue;
		if (kept >= a->max && kept_t[t] >= PER_TYPE_MIN)
			continue;
		uint8_t h[16];
		memcpy(h, pkt + 12, 4);
		memcpy(h + 4, pkt + 16, 4);
		wire_st16(h + 8, sport);
		wire_st16(h + 10, dport);
		wire_st32(h + 12, plen);
		if (fwrite(h, 1, 16, f) != 16 || fwrite(pl, 1, plen, f) != plen) {
			fprintf(stderr, "pw-attack capture: %s: %s\n", a->out, strerror(errno));
			fclose(f);
			close(s);
			return 1;
		}
		kept_t[t]++;
		kept++;
		bytes += plen;
	}
	a->end_ns = mono_ns();
	close(s);
	if (fclose(f) != 0) {
		fprintf(stderr, "pw-attack capture: %s: %s\n", a->out, strerror(errno));
		return 1;
	}
	printf("{\"cmd\":\"capture\",\"seconds\":%.3f,\"seen\":%" PRIu64 ",\"kept\":%" PRIu64
	       ",\"bytes\":%" PRIu64 ",\"start_ns\":%" PRIu64 ",\"end_ns\":%" PRIu64,
	       a->seconds, seen_all, kept, bytes, a->start_ns, a->end_ns);
	print_types("types_seen", seen, true);
	print_types("types_kept", kept_t, true);
	printf("}\n");
	/* Every type the traffic had is in the file (PER_TYPE_MIN kept past --max). */
	for (uint32_t t = 0; t < 256; t++) {
		if (seen[t] > 0 && kept_t[t] == 0) {
			fprintf(stderr, "pw-attack capture: type %u seen but not kept\n", t);
			return 1;
		}
	}
	return kept > 0 ? 0 : 1;
}

/* ---------------------------------------------------------------------------------- */
/* replay                                                                              */

static int cmd_replay(struct atk *a)
{
	uint64_t in_file[256] = { 0 };
	a->start_ns = mono_ns();
	for (uint32_t i = 0; i < a->n_recs; i++) {
		const struct rec *r = &a->recs[i];
		in_file[dgram_type(r->data, r->len)]++;
		int own = target_of(a, r->dst_ip, r->dport);
		/* Its own destination: a member, or a client (a replayed REPLY). */
		send_to(a, r->dst_ip, r->dport, r->data, r->len, own >= 0 ? "own" : "own_client",
			NULL);
		for (uint32_t t = 0; t < a->n_tg; t++)
			if ((int)t != own)
				send_tg(a, t, r->data, r->len, "cross", NULL);
	}
	flush_all(a);
	a->end_ns = mono_ns();
	char extra[4096];
	size_t o = (size_t)snprintf(extra, sizeof(extra), ",\"records\":%u,\"types_in_file\":[", a->n_recs);
	bool first = true;
	for (uint32_t t = 0; t < 256 && o < sizeof(extra) - 64; t++) {
		if (in_file[t] == 0)
			continue;
		const char *nm = t == TYPE_OTHER ? "other" : type_name((uint8_t)t);
		o += (size_t)snprintf(extra + o, sizeof(extra) - o, "%s\"%s\"", first ? "" : ",",
				      nm != NULL ? nm : "other");
		first = false;
	}
	snprintf(extra + o, sizeof(extra) - o, "]");
	print_summary(a, extra);
	return 0;
}

/* ---------------------------------------------------------------------------------- */
/* mutate                                                                              */

struct field {
	uint32_t off, width;
};

static const struct field HDR_FIELDS[] = {
	{ PX_WIRE_OFF_MAGIC, 2 }, { PX_WIRE_OFF_VERSION, 1 }, { PX_WIRE_OFF_TYPE, 1 },
	{ PX_WIRE_OFF_FLAGS, 1 }, { PX_WIRE_OFF_FROM, 1 }, { PX_WIRE_OFF_TO, 1 },
	{ PX_WIRE_OFF_N_INC, 1 }, { PX_WIRE_OFF_CLUSTER, 4 }, { PX_WIRE_OFF_EPOCH, 4 },
	{ PX_WIRE_OFF_BALLOT, 8 }, { PX_WIRE_OFF_TOTAL_LEN, 4 }, { PX_WIRE_OFF_BODY_LEN, 4 },
	{ PX_WIRE_OFF_READ_ROUND, 8 }, { PX_WIRE_OFF_UUID, 8 }, { PX_WIRE_OFF_UUID + 8u, 8 },
};
static const struct field TR_FIELDS[] = {
	{ AUTH_OFF_KEY_ID, 4 }, { AUTH_OFF_GEN, 1 }, { AUTH_OFF_ROLE, 1 }, { AUTH_OFF_FLAGS, 2 },
	{ AUTH_OFF_LIFE, 8 }, { AUTH_OFF_CTR, 8 }, { AUTH_OFF_TAG, 16 },
};

/** Sets a little-endian field of width bytes to a value chosen to hurt: random, 0, all
 *  ones, one more, one less. */
static void set_field(struct atk *a, uint8_t *p, uint32_t width)
{
	uint64_t v = 0;
	for (uint32_t i = 0; i < width && i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	switch (rnd_below(a, 5)) {
	case 0: v = rnd(a); break;
	case 1: v = 0; break;
	case 2: v = UINT64_MAX; break;
	case 3: v++; break;
	default: v--; break;
	}
	if (width > 8) {   /* the tag: random bytes */
		rnd_bytes(a, p, width);
		return;
	}
	for (uint32_t i = 0; i < width; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static const char *const MUTATIONS[] = {
	"bitflip", "header", "body", "truncate", "extend", "trailer", "other_trailer",
};
#define N_MUTATIONS (sizeof(MUTATIONS) / sizeof(MUTATIONS[0]))

/** One mutated copy of r in g_buf. @return its length; *kind names the mutation. */
static uint32_t mutate_one(struct atk *a, const struct rec *r, uint32_t m, const char **kind)
{
	uint32_t len = r->len, ml = msg_part(r);
	bool has_tr = dgram_type(r->data, r->len) != TYPE_OTHER && len >= ml + AUTH_TRAILER_BYTES;
	memcpy(g_buf, r->data, len);
	/* Where a mutation does not apply to this datagram, flip a bit instead. */
	if ((m == 1 && len < PX_WIRE_HDR_BYTES) || (m == 2 && ml <= PX_WIRE_HDR_BYTES) ||
	    (m == 3 && len == 0) || ((m == 5 || m == 6) && !has_tr && len < AUTH_TRAILER_BYTES))
		m = 0;
	*kind = MUTATIONS[m];
	switch (m) {
	case 0:
		if (len == 0)
			return 0;
		g_buf[rnd_below(a, len)] ^= (uint8_t)(1u << rnd_below(a, 8));
		return len;
	case 1: {
		const struct field *f = &HDR_FIELDS[rnd_below(a, sizeof(HDR_FIELDS) / sizeof(HDR_FIELDS[0]))];
		set_field(a, g_buf + f->off, f->width);
		return len;
	}
	case 2: {
		uint32_t at = PX_WIRE_HDR_BYTES + rnd_below(a, ml - PX_WIRE_HDR_BYTES);
		uint8_t old = g_buf[at];
		do
			g_buf[at] = (uint8_t)rnd(a);
		while (g_buf[at] == old);
		return len;
	}
	case 3:
		/* Cut anywhere: into the header, the body, the trailer, or one byte short. */
		return rnd_below(a, 2) ? len - 1u : rnd_below(a, len);
	case 4: {
		uint32_t more = 1u + rnd_below(a, 64);
		rnd_bytes(a, g_buf + len, more);
		return len + more;
	}
	case 5: {
		uint32_t at = has_tr ? ml : len - AUTH_TRAILER_BYTES;
		const struct field *f = &TR_FIELDS[rnd_below(a, sizeof(TR_FIELDS) / sizeof(TR_FIELDS[0]))];
		set_field(a, g_buf + at + f->off, f->width);
		return len;
	}
	default: {
		/* Another captured datagram's trailer in place of this one's. */
		const struct rec *o = &a->recs[rnd_below(a, a->n_recs)];
		if (o->len < AUTH_TRAILER_BYTES)
			o = r;
		uint32_t at = has_tr ? ml : len - AUTH_TRAILER_BYTES;
		memcpy(g_buf + at, o->data + o->len - AUTH_TRAILER_BYTES, AUTH_TRAILER_BYTES);
		return at + AUTH_TRAILER_BYTES;
	}
	}
}

static int cmd_mutate(struct atk *a)
{
	a->start_ns = mono_ns();
	/* Round-robin over the types in the file, so that rare ones are mutated too. */
	uint32_t *by_type[256] = { NULL };
	uint32_t n_of[256] = { 0 }, types[256], n_types = 0;
	for (uint32_t i = 0; i < a->n_recs; i++)
		n_of[dgram_type(a->recs[i].data, a->recs[i].len)]++;
	for (uint32_t t = 0; t < 256; t++) {
		if (n_of[t] == 0)
			continue;
		by_type[t] = malloc(n_of[t] * sizeof(uint32_t));
		if (by_type[t] == NULL)
			return 1;
		types[n_types++] = t;
		n_of[t] = 0;
	}
	for (uint32_t i = 0; i < a->n_recs; i++) {
		uint32_t t = dgram_type(a->recs[i].data, a->recs[i].len);
		by_type[t][n_of[t]++] = i;
	}
	for (uint32_t k = 0; k < a->count; k++) {
		uint32_t t = types[k % n_types];
		const struct rec *r = &a->recs[by_type[t][rnd_below(a, n_of[t])]];
		const char *kind;
		uint32_t len = mutate_one(a, r, (k / n_types) % (uint32_t)N_MUTATIONS, &kind);
		int own = target_of(a, r->dst_ip, r->dport);
		/* To its own destination when that is a member, and to one other member. */
		uint32_t dst = own >= 0 ? (uint32_t)own : rnd_below(a, a->n_tg);
		send_tg(a, dst, g_buf, len, kind, NULL);
		if (a->n_tg > 1)
			send_tg(a, (dst + 1u + rnd_below(a, a->n_tg - 1u)) % a->n_tg, g_buf, len, kind,
				NULL);
	}
	flush_all(a);
	a->end_ns = mono_ns();
	for (uint32_t t = 0; t < 256; t++)
		free(by_type[t]);
	char extra[64];
	snprintf(extra, sizeof(extra), ",\"records\":%u", a->n_recs);
	print_summary(a, extra);
	return 0;
}

/* ---------------------------------------------------------------------------------- */
/* random                                                                              */

static int cmd_random(struct atk *a)
{
	a->start_ns = mono_ns();
	for (uint32_t k = 0; k < a->count; k++) {
		uint32_t len = rnd_below(a, RANDOM_LEN_MAX + 1u);
		rnd_bytes(a, g_buf, len);
		const char *kind = "raw";
		switch (k % 3) {
		case 1:
			/* Past the first checks: magic, version, a type, the cluster id. */
			if (len >= PX_WIRE_HDR_BYTES) {
				wire_st16(g_buf + PX_WIRE_OFF_MAGIC, PX_WIRE_MAGIC);
				g_buf[PX_WIRE_OFF_VERSION] = PX_WIRE_VERSION;
				g_buf[PX_WIRE_OFF_TYPE] = (uint8_t)(1u + rnd_below(a, PX_MSG_TYPE_MAX - 1u));
				wire_st32(g_buf + PX_WIRE_OFF_CLUSTER, a->cluster_id);
				kind = "px_header";
			}
			break;
		case 2:
			/* A trailer whose fields parse (role, generation, life, counter). */
			if (len >= PX_WIRE_HDR_BYTES + AUTH_TRAILER_BYTES) {
				uint8_t *t = g_buf + len - AUTH_TRAILER_BYTES;
				wire_st32(t + AUTH_OFF_KEY_ID, rnd_below(a, a->n > 0 ? a->n : 3));
				t[AUTH_OFF_GEN] = a->l.gen != 0 ? a->l.gen : 1;
				t[AUTH_OFF_ROLE] = (uint8_t)(AUTH_ROLE_PEER + rnd_below(a, 3));
				wire_st16(t + AUTH_OFF_FLAGS, 0);
				wire_st64(t + AUTH_OFF_LIFE, rnd(a) | 1u);
				wire_st64(t + AUTH_OFF_CTR, 1u + rnd_below(a, 1u << 20));
				kind = "trailer";
			}
			break;
		default:
			break;
		}
		send_tg(a, k % a->n_tg, g_buf, len, kind, NULL);
	}
	flush_all(a);
	a->end_ns = mono_ns();
	print_summary(a, NULL);
	return 0;
}

/* ---------------------------------------------------------------------------------- */
/* forge                                                                               */

/** The forger's keys: random ones (the wrong key), per claimed sender. */
struct forger {
	struct auth_tx peer[PX_REPLICAS_MAX];         /**< role peer, the wrong key */
	struct auth_tx peer_future[PX_REPLICAS_MAX];  /**< a life far in the future */
	struct auth_tx peer_badgen[PX_REPLICAS_MAX];  /**< a generation nobody holds */
	struct auth_tx as_client[PX_REPLICAS_MAX];    /**< a client's role on a peer message */
	struct auth_client wrong_client;              /**< a client key nobody issued */
	struct auth_client wrong_admin;               /**< an admin key nobody issued */
	struct auth_client real_client;               /**< --client-key (not admin) */
	bool have_real;
};

static struct forger g_f;

/** Datagrams sealed with the real client key, kept for replay_real. */
#define REAL_KEPT_MAX 256u
static struct rec real[REAL_KEPT_MAX];
static uint32_t real_n;

static void forger_init(struct atk *a, struct forger *f)
{
	uint8_t gen = a->l.gen != 0 ? a->l.gen : 1;
	for (uint8_t i = 0; i < PX_REPLICAS_MAX; i++) {
		uint8_t key[AUTH_KEY_BYTES];
		randombytes_buf(key, sizeof(key));
		auth_tx_init(&f->peer[i], key, i, gen, AUTH_ROLE_PEER, auth_life_now());
		auth_tx_init(&f->peer_future[i], key, i, gen, AUTH_ROLE_PEER, UINT64_MAX - 1u);
		auth_tx_init(&f->peer_badgen[i], key, i, (uint8_t)(gen + 100u), AUTH_ROLE_PEER,
			     auth_life_now());
		auth_tx_init(&f->as_client[i], key, i + 1u, gen, AUTH_ROLE_CLIENT, auth_life_now());
	}
	struct auth_keys k;
	memset(&k, 0, sizeof(k));
	k.kind = AUTH_KIND_CLIENT;
	k.n = 1;
	k.id = 1;
	k.gen[0] = gen;
	randombytes_buf(k.key[0], AUTH_KEY_BYTES);
	(void)auth_client_init(&f->wrong_client, &k, a->cluster_id, a->n);
	k.kind = AUTH_KIND_ADMIN;
	k.id = 2;
	randombytes_buf(k.key[0], AUTH_KEY_BYTES);
	(void)auth_client_init(&f->wrong_admin, &k, a->cluster_id, a->n);
}

/** A message of type from `from` to `to` with the learnt uuid, epoch and crash vector. */
static struct px_msg *msg_base(struct atk *a, uint8_t type, uint8_t from, uint8_t to,
			       uint64_t ballot)
{
	struct px_msg *m = &g_msg;
	memset(m, 0, offsetof(struct px_msg, entries));
	m->type = type;
	m->from = from;
	m->to = to;
	m->cluster_id = a->cluster_id;
	m->config_epoch = a->l.any ? a->l.epoch : 1u;
	m->uuid = a->l.uuid;
	m->ballot = ballot;
	m->n_inc = a->n;
	for (uint8_t i = 0; i < a->n; i++)
		m->incarnation[i] = a->l.have_inc ? a->l.inc[i] : 1u;
	return m;
}

/** A batch for slot `slot` that registers a session and writes key=FORGED with it: a
 *  value no client wrote. */
static uint32_t forged_batch(uint8_t *buf, uint32_t cap, uint64_t slot, uint64_t nonce)
{
	static uint8_t body[64];
	static const char key[] = "k0", val[] = "FORGED";
	uint32_t bl = wire_kv_encode_put(body, sizeof(body), key, 2, val, 6);
	struct px_cmd_ref c[2] = {
		{ .client_id = nonce, .seq = 0, .len = 0, .body = NULL },
		{ .client_id = px_session_id(slot, 0), .seq = 1, .len = bl, .body = body },
	};
	uint32_t len = 0;
	if (px_batch_fill(buf, cap, c, 2, 2, &len) != 2)
		return 0;
	return len;
}

static const char *const SEALS_PEER[] = {
	"none", "wrong_key", "future_life", "bad_gen", "client_role", "copied",
};
#define N_SEALS_PEER (sizeof(SEALS_PEER) / sizeof(SEALS_PEER[0]))

/** Encodes m and sends it to target t once per seal (peer messages). */
static void forge_peer(struct atk *a, const struct px_msg *m, uint32_t t, const char *kind)
{
	size_t len = px_encode(m, g_buf, sizeof(g_buf) - AUTH_TRAILER_BYTES);
	if (len == 0) {
		fprintf(stderr, "pw-attack: a forged %s does not fit\n", type_name(m->type));
		exit(1);
	}
	uint8_t from = m->from < PX_REPLICAS_MAX ? m->from : 0;
	uint8_t to = m->to < PX_REPLICAS_MAX ? m->to : (uint8_t)(t % PX_REPLICAS_MAX);
	for (uint32_t s = 0; s < N_SEALS_PEER; s++) {
		memcpy(g_buf2, g_buf, len);
		size_t out = len;
		switch (s) {
		case 0: break;
		case 1: out = auth_seal(&g_f.peer[from], g_buf2, len, sizeof(g_buf2)); break;
		case 2: out = auth_seal(&g_f.peer_future[from], g_buf2, len, sizeof(g_buf2)); break;
		case 3: out = auth_seal(&g_f.peer_badgen[from], g_buf2, len, sizeof(g_buf2)); break;
		case 4: out = auth_seal(&g_f.as_client[from], g_buf2, len, sizeof(g_buf2)); break;
		default:
			/* A real trailer of this pair (or of any pair) from the capture. */
			if (a->l.have_tr[from][to]) {
				memcpy(g_buf2 + len, a->l.tr[from][to], AUTH_TRAILER_BYTES);
			} else {
				bool got = false;
				for (uint32_t i = 0; i < PX_REPLICAS_MAX * PX_REPLICAS_MAX && !got; i++) {
					if (a->l.have_tr[i / PX_REPLICAS_MAX][i % PX_REPLICAS_MAX]) {
						memcpy(g_buf2 + len,
						       a->l.tr[i / PX_REPLICAS_MAX][i % PX_REPLICAS_MAX],
						       AUTH_TRAILER_BYTES);
						got = true;
					}
				}
				if (!got)
					continue;   /* no trailer in the capture (no auth) */
			}
			out = len + AUTH_TRAILER_BYTES;
			break;
		}
		send_tg(a, t, g_buf2, (uint32_t)out, kind, SEALS_PEER[s]);
	}
}

/** Every subset of the flags a type allows, in turn: calls fn per subset. */
static uint32_t flag_subsets(uint8_t type, uint8_t out[256])
{
	uint8_t allowed = px_wire_type_flags(type);
	uint32_t n = 0;
	/* Enumerate the submasks of allowed (0 included). */
	uint8_t s = allowed;
	for (;;) {
		out[n++] = s;
		if (s == 0)
			break;
		s = (uint8_t)((s - 1u) & allowed);
	}
	return n;
}

/** The peer attacks on target t (member `to`), each from every other member. */
static void forge_peers_at(struct atk *a, uint32_t t, uint8_t to)
{
	static uint8_t val[PX_SLOT_BYTES_MAX];
	const struct learnt *l = &a->l;
	uint64_t slot = l->slot + 1u;                 /* the next slot, or 1 */
	uint64_t cur = l->ballot;                     /* the leader's ballot, or 0 */
	uint8_t flags[256];

	/* Messages that claim to come from the receiver itself, or from no member; with the
	 * cluster's uuid, none, and the fresh mark (a "first start" of the receiver). */
	const uint8_t self_types[] = { PX_MSG_PREVOTE, PX_MSG_PREPARE, PX_MSG_ACCEPT,
				       PX_MSG_ACCEPTED, PX_MSG_RECOVER, PX_MSG_SNAP_REQ,
				       PX_MSG_REFUSE };
	for (uint32_t k = 0; k < sizeof(self_types); k++) {
		for (uint32_t u = 0; u < 3; u++) {
			for (uint32_t who = 0; who < 2; who++) {
				uint8_t from = who == 0 ? to : a->n;
				struct px_msg *m = msg_base(a, self_types[k], from, to,
							    px_ballot_make(px_ballot_round(cur) + 1u, from));
				if (u == 1)
					m->uuid = (struct px_uuid){ 0, 0 };
				if (u == 2)
					m->uuid = (struct px_uuid){ .lo = PX_UUID_FRESH_WORD,
								    .hi = rnd(a) | 1u };
				m->slot_lo = slot;
				m->slot_hi = slot;
				m->commit = l->commit;
				m->nonce = rnd(a);
				if (self_types[k] == PX_MSG_SNAP_REQ || self_types[k] == PX_MSG_REFUSE)
					m->n_inc = 0;
				forge_peer(a, m, t, who == 0 ? "from_self" : "from_no_member");
			}
		}
	}
	/* Ids the cluster file does not list (a->n .. PX_REPLICAS_MAX-1) at a configuration
	 * epoch above the cluster's: a member the log may add later would look like this,
	 * so the core hears it, and the receiver answers an id it may have no address for
	 * (it must refuse the send, not crash: dataplane dst_port). */
	const uint8_t stranger_types[] = { PX_MSG_PREVOTE, PX_MSG_PREPARE, PX_MSG_ACCEPT };
	for (uint8_t from = a->n; from < PX_REPLICAS_MAX; from++) {
		for (uint32_t k = 0; k < sizeof(stranger_types); k++) {
			for (uint32_t e = 0; e < 2; e++) {
				struct px_msg *m = msg_base(a, stranger_types[k], from, to,
							    px_ballot_make(px_ballot_round(cur) + 1u,
									   from));
				m->config_epoch = e == 0 ? m->config_epoch + 1u : PX_EPOCH_MAX;
				/* A crash vector long enough to name the sender (px_step). */
				for (uint8_t i = m->n_inc; i <= from; i++)
					m->incarnation[i] = 1u;
				m->n_inc = (uint8_t)(from + 1u);
				m->slot_lo = l->commit + 1u;
				m->commit = l->commit;
				forge_peer(a, m, t, "stranger_newer_epoch");
			}
		}
	}
	for (uint8_t from = 0; from < a->n; from++) {
		if (from == to)
			continue;
		uint64_t max_b = px_ballot_make(PX_ROUND_MAX, from);
		uint64_t next_b = px_ballot_make(px_ballot_round(cur) + 1u, from);
		uint64_t old_b = px_ballot_make(1, from);
		uint64_t leader_b = cur != 0 && px_ballot_node(cur) == from ? cur : next_b;
		struct px_msg *m;

		/* PREPARE at the highest ballot, and one round up, with and without FORCE. */
		for (uint32_t f = 0; f < 2; f++) {
			m = msg_base(a, PX_MSG_PREPARE, from, to, max_b);
			m->flags = f ? PX_MF_FORCE : 0;
			m->slot_lo = l->commit + 1u;
			m->commit = l->commit;
			forge_peer(a, m, t, "prepare_max_ballot");
			m->ballot = next_b;
			forge_peer(a, m, t, "prepare_next_ballot");
			m->ballot = UINT64_MAX;
			forge_peer(a, m, t, "prepare_ballot_ones");
		}
		/* ACCEPT of a value no client wrote: at the highest ballot, one round up, at the
		 * leader's own ballot from the leader's id; committed at once and flagged
		 * chosen too. */
		uint32_t vl = forged_batch(val, sizeof(val), slot, 0x4141414141414141ull + from);
		const uint64_t ballots[3] = { max_b, next_b, leader_b };
		const char *const names[3] = { "accept_max_ballot", "accept_next_ballot",
					       "accept_leader_ballot" };
		for (uint32_t b = 0; b < 3; b++) {
			for (uint32_t chosen = 0; chosen < 2; chosen++) {
				m = msg_base(a, PX_MSG_ACCEPT, from, to, ballots[b]);
				m->commit = chosen ? slot : l->commit;
				m->n_entries = 1;
				m->entries[0] = (struct px_entry){ .slot = slot, .vballot = ballots[b],
								   .len = vl, .value = val,
								   .flags = chosen ? PX_EF_CHOSEN : 0 };
				forge_peer(a, m, t, names[b]);
			}
		}
		/* ACCEPT at a slot far ahead (out of the window), and a heartbeat that claims a
		 * commit point never reached. */
		m = msg_base(a, PX_MSG_ACCEPT, from, to, leader_b);
		m->commit = slot + 1000000u;
		forge_peer(a, m, t, "accept_commit_ahead");
		m->n_entries = 1;
		m->entries[0] = (struct px_entry){ .slot = slot + 1000000u, .vballot = leader_b,
						   .len = vl, .value = val };
		forge_peer(a, m, t, "accept_far_slot");
		/* ACCEPTED for slots never sent, at the leader's ballot and the highest. */
		m = msg_base(a, PX_MSG_ACCEPTED, from, to, cur != 0 ? cur : next_b);
		m->slot_hi = slot + 100u;
		m->commit = l->commit;
		forge_peer(a, m, t, "accepted_never_sent");
		m->slot_hi = PX_SLOT_MAX;
		forge_peer(a, m, t, "accepted_never_sent");
		m->ballot = max_b;
		m->slot_hi = slot + 5u;
		forge_peer(a, m, t, "accepted_never_sent");
		/* Old ballots. */
		m = msg_base(a, PX_MSG_PREPARE, from, to, old_b);
		m->slot_lo = 1;
		forge_peer(a, m, t, "old_ballot");
		m = msg_base(a, PX_MSG_ACCEPT, from, to, old_b);
		m->commit = l->commit;
		m->n_entries = 1;
		m->entries[0] = (struct px_entry){ .slot = l->commit > 0 ? l->commit : 1u,
						   .vballot = old_b, .len = vl, .value = val };
		forge_peer(a, m, t, "old_ballot");
		m = msg_base(a, PX_MSG_ACCEPTED, from, to, old_b);
		m->slot_hi = slot;
		forge_peer(a, m, t, "old_ballot");
		/* A crash vector of all ones, on the types that carry one to the core. */
		const uint8_t cv_types[] = { PX_MSG_PREVOTE, PX_MSG_PREPARE, PX_MSG_ACCEPT,
					     PX_MSG_ACCEPTED, PX_MSG_NACK, PX_MSG_RECOVER };
		for (uint32_t k = 0; k < sizeof(cv_types); k++) {
			m = msg_base(a, cv_types[k], from, to,
				     cv_types[k] == PX_MSG_ACCEPTED || cv_types[k] == PX_MSG_NACK
					     ? max_b : next_b);
			for (uint8_t i = 0; i < a->n; i++)
				m->incarnation[i] = 0xffffffffu;
			m->slot_lo = slot;
			m->nonce = rnd(a);
			m->commit = l->commit;
			forge_peer(a, m, t, "crash_vector_ones");
		}
		/* Every type a replica sends, with every flag it allows. */
		const uint8_t types[] = { PX_MSG_PREVOTE, PX_MSG_PREVOTE_REPLY, PX_MSG_PROMISE,
					  PX_MSG_NACK, PX_MSG_TIMEOUT_NOW, PX_MSG_STATE_NEEDED,
					  PX_MSG_RECOVER, PX_MSG_RECOVER_REPLY, PX_MSG_SNAP_REQ,
					  PX_MSG_SNAP_CHUNK, PX_MSG_REFUSE, PX_MSG_REPLY };
		for (uint32_t k = 0; k < sizeof(types); k++) {
			uint32_t nf = flag_subsets(types[k], flags);
			for (uint32_t fi = 0; fi < nf; fi++) {
				m = msg_base(a, types[k], from, to, max_b);
				m->flags = flags[fi];
				m->slot_lo = 1;
				m->slot_hi = slot + 10u;
				m->commit = slot + 10u;
				m->nonce = rnd(a);
				if (types[k] == PX_MSG_PROMISE || types[k] == PX_MSG_RECOVER_REPLY) {
					m->n_entries = 1;
					m->entries[0] = (struct px_entry){ .slot = slot, .vballot = max_b,
									   .len = vl, .value = val,
									   .flags = PX_EF_CHOSEN };
				}
				if (types[k] == PX_MSG_SNAP_CHUNK) {
					m->snap_total = 1u << 20;
					m->snap_off = 0;
					m->body = val;
					m->body_len = vl;
				}
				if (types[k] == PX_MSG_REPLY) {
					m->from = from;
					m->to = PX_NODE_NONE;
					m->status = PX_OK;
					m->leader_hint = from;
					m->client_id = rnd(a);
					m->seq = 1;
				}
				if (types[k] == PX_MSG_REFUSE || types[k] == PX_MSG_SNAP_REQ ||
				    types[k] == PX_MSG_SNAP_CHUNK || types[k] == PX_MSG_REPLY)
					m->n_inc = 0;   /* as node/ sends them */
				forge_peer(a, m, t, "every_type_flag");
			}
		}
		/* TIMEOUT_NOW from the leader's id at its ballot: "start phase 1 at once". */
		m = msg_base(a, PX_MSG_TIMEOUT_NOW, from, to, leader_b);
		forge_peer(a, m, t, "timeout_now");
		/* REFUSE with the fresh mark and with the cluster's uuid. */
		m = msg_base(a, PX_MSG_REFUSE, from, to, 0);
		m->n_inc = 0;
		forge_peer(a, m, t, "refuse");
		m->uuid = (struct px_uuid){ .lo = PX_UUID_FRESH_WORD, .hi = rnd(a) | 1u };
		forge_peer(a, m, t, "refuse");
	}
}

/** A REQUEST from a client. */
static uint32_t client_request(struct atk *a, uint8_t to, uint8_t flags, uint64_t client_id,
			       uint64_t seq, const uint8_t *body, uint32_t body_len)
{
	struct px_msg *m = msg_base(a, PX_MSG_REQUEST, PX_NODE_NONE, to, 0);
	m->n_inc = 0;
	m->config_epoch = 0;
	m->uuid = (struct px_uuid){ 0, 0 };
	m->flags = flags;
	m->client_id = client_id;
	m->seq = seq;
	m->body = body;
	m->body_len = body_len;
	return (uint32_t)px_encode(m, g_buf, sizeof(g_buf) - AUTH_TRAILER_BYTES);
}

/** Sends the message in g_buf (len bytes) to t sealed as `seal` says. */
static void send_client(struct atk *a, uint32_t t, uint8_t replica, uint32_t len,
			const char *kind, const char *seal)
{
	memcpy(g_buf2, g_buf, len);
	size_t out = len;
	if (strcmp(seal, "wrong_client_key") == 0)
		out = auth_client_seal(&g_f.wrong_client, replica, g_buf2, len, sizeof(g_buf2));
	else if (strcmp(seal, "wrong_admin_key") == 0)
		out = auth_client_seal(&g_f.wrong_admin, replica, g_buf2, len, sizeof(g_buf2));
	else if (strcmp(seal, "real_client_key") == 0)
		out = auth_client_seal(&g_f.real_client, replica, g_buf2, len, sizeof(g_buf2));
	else if (strcmp(seal, "copied") == 0) {
		if (!a->l.have_req_tr)
			return;
		memcpy(g_buf2 + len, a->l.req_tr, AUTH_TRAILER_BYTES);
		out = len + AUTH_TRAILER_BYTES;
	}
	if (out == 0)
		return;
	send_tg(a, t, g_buf2, (uint32_t)out, kind, seal);
	if (real_n < REAL_KEPT_MAX && strcmp(seal, "real_client_key") == 0) {
		struct rec *r = &real[real_n];
		r->data = malloc(out);
		if (r->data == NULL)
			return;
		memcpy(r->data, g_buf2, out);
		r->len = (uint32_t)out;
		r->dst_ip = a->tg[t].ip_be;
		r->dport = a->tg[t].port;
		real_n++;
	}
}

/** The authentic datagrams sent under the real client key, replayed (to their own
 *  target and every other: other life keys) and mutated: what an attacker who sees a
 *  client's link can do with them, on any transport (memif client ports have no
 *  capture of their own). */
static void replay_real(struct atk *a)
{
	struct rec *saved = a->recs;
	uint32_t saved_n = a->n_recs;
	a->recs = real;      /* mutate_one's other_trailer picks among these */
	a->n_recs = real_n;
	for (uint32_t i = 0; i < real_n; i++) {
		const struct rec *r = &real[i];
		for (uint32_t t = 0; t < a->n_tg; t++)
			send_tg(a, t, r->data, r->len,
				(int)t == target_of(a, r->dst_ip, r->dport) ? "real_replayed" : "real_replayed_cross",
				NULL);
		for (uint32_t m = 0; m < N_MUTATIONS; m++) {
			const char *kind;
			uint32_t len = mutate_one(a, r, m, &kind);
			int own = target_of(a, r->dst_ip, r->dport);
			(void)kind;
			send_tg(a, own >= 0 ? (uint32_t)own : 0, g_buf, len, "real_mutated", NULL);
		}
	}
	a->recs = saved;
	a->n_recs = saved_n;
}

static void forge_clients_at(struct atk *a, uint32_t t, uint8_t to)
{
	static const char *const seals[] = { "none", "wrong_client_key", "wrong_admin_key",
					     "copied", "real_client_key" };
	uint8_t body[64];
	uint32_t bl = wire_kv_encode_put(body, sizeof(body), "k1", 2, "FORGED", 6);
	uint64_t nonce = rnd(a) | 1u;

	for (uint32_t s = 0; s < sizeof(seals) / sizeof(seals[0]); s++) {
		bool real = s == 4;
		if (real && !g_f.have_real)
			continue;
		uint32_t len;
		if (!real) {
			/* Commands: a registration, and a put under a guessed session id. */
			len = client_request(a, to, PX_MF_REGISTER, nonce, 0, NULL, 0);
			send_client(a, t, to, len, "client_register", seals[s]);
			len = client_request(a, to, 0, px_session_id(a->l.slot > 0 ? a->l.slot : 1, 0), 1,
					     body, bl);
			send_client(a, t, to, len, "client_put", seals[s]);
		}
		/* Admin: transfer leadership to each member, and stats. */
		for (uint8_t target = 0; target < a->n; target++) {
			const uint8_t tb[2] = { PX_ADMIN_TRANSFER, target };
			len = client_request(a, to, PX_MF_ADMIN, a->admin_id, 0, tb, 2);
			send_client(a, t, to, len, "admin_transfer", seals[s]);
		}
		const uint8_t sb[1] = { PX_ADMIN_STATS };
		len = client_request(a, to, PX_MF_ADMIN, a->admin_id, 0, sb, 1);
		send_client(a, t, to, len, "admin_stats", seals[s]);
		/* A tool's SNAP_REQ (pwctl snapshot save): reads the whole state. */
		struct px_msg *m = msg_base(a, PX_MSG_SNAP_REQ, PX_NODE_NONE, to, 0);
		m->n_inc = 0;
		m->config_epoch = 0;
		m->uuid = (struct px_uuid){ 0, 0 };
		m->slot_lo = 1;
		len = (uint32_t)px_encode(m, g_buf, sizeof(g_buf) - AUTH_TRAILER_BYTES);
		send_client(a, t, to, len, "snap_req_tool", seals[s]);
	}
}

/** A datagram that came back to the forger from target j (-1: not a target). */
static void heard(struct atk *a, int j, const uint8_t *p, uint32_t len)
{
	struct px_msg *m = &g_msg;
	a->replies++;
	if (dgram_type(p, len) != PX_MSG_REPLY)
		return;
	uint32_t ml = wire_ld32(p + PX_WIRE_OFF_TOTAL_LEN);
	if (ml > len)
		return;
	size_t mlen = 0;
	if (g_f.have_real && j >= 0 &&
	    auth_client_open(&g_f.real_client, (uint8_t)j, p, len, &mlen) == AUTH_OK)
		a->replies_authentic++;
	if (px_decode(p, ml, a->cluster_id, a->n, m) == PX_WIRE_OK && m->client_id == a->admin_id &&
	    m->status == PX_OK)
		a->admin_ok++;
}

/** Listens for answers to the forged requests: none should come under authentication. */
static void forge_listen(struct atk *a)
{
	uint64_t until = mono_ns() + (uint64_t)a->linger_ms * 1000000ull;
	while (mono_ns() < until) {
#ifdef PW_ATTACK_DPDK
		if (a->dpdk) {
			struct nic_pkt pk[32];
			for (uint32_t j = 0; j < a->n_tg; j++) {
				uint16_t got = nic_rx_burst(a->port[j], pk, 32);
				for (uint16_t i = 0; i < got; i++)
					heard(a, (int)j, pk[i].data, pk[i].len);
				nic_rx_done(a->port[j]);
				nic_housekeep(a->port[j], mono_ns());
			}
			usleep(200);
			continue;
		}
#endif
		struct pollfd pf = { .fd = a->fd, .events = POLLIN };
		if (poll(&pf, 1, 20) <= 0)
			continue;
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(a->fd, g_buf, sizeof(g_buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n < 0)
			continue;
		heard(a, target_of(a, from.sin_addr.s_addr, ntohs(from.sin_port)), g_buf, (uint32_t)n);
	}
}

static int cmd_forge(struct atk *a)
{
	if (a->n == 0) {
		fprintf(stderr, "pw-attack forge: needs --config (the cluster id and size)\n");
		return 2;
	}
	if (a->file != NULL && a->recs == NULL) {
		if (cap_load(a, a->file) != 0)
			return 1;
		learn(a);
	}
	forger_init(a, &g_f);
	if (a->client_key != NULL) {
		struct auth_keys k;
		char err[512];
		if (auth_keys_load(a->client_key, &k, err, sizeof(err)) != 0) {
			fprintf(stderr, "pw-attack: %s\n", err);
			return 1;
		}
		if (auth_client_init(&g_f.real_client, &k, a->cluster_id, a->n) != 0) {
			fprintf(stderr, "pw-attack: %s: not a usable client key\n", a->client_key);
			return 1;
		}
		g_f.have_real = true;
	}
	a->admin_id = rnd(a) | 1u;
	a->start_ns = mono_ns();
	for (uint32_t t = 0; t < a->n_tg; t++) {
		/* The member at this target (a --target outside the cluster: member 0). */
		uint8_t to = 0;
		for (uint8_t j = 0; a->have_cfg && j < a->cfg.n_replicas; j++)
			if (a->cfg.members[j].ip_be == a->tg[t].ip_be &&
			    a->cfg.members[j].port == a->tg[t].port)
				to = j;
		forge_peers_at(a, t, to);
		forge_clients_at(a, t, to);
	}
	replay_real(a);
	flush_all(a);
	a->end_ns = mono_ns();
	forge_listen(a);
	char extra[512];
	snprintf(extra, sizeof(extra),
		 ",\"learnt\":{\"from_capture\":%s,\"ballot\":%" PRIu64 ",\"slot\":%" PRIu64
		 ",\"commit\":%" PRIu64 ",\"gen\":%u,\"trailers\":%s},\"client_key\":%s"
		 ",\"replies\":%" PRIu64 ",\"replies_authentic\":%" PRIu64 ",\"admin_ok\":%" PRIu64,
		 a->l.any ? "true" : "false", a->l.ballot, a->l.slot, a->l.commit, a->l.gen,
		 a->l.have_req_tr ? "true" : "false", g_f.have_real ? "true" : "false", a->replies,
		 a->replies_authentic, a->admin_ok);
	print_summary(a, extra);
	return 0;
}

/** Clears the counters for the next command of `all`. @return a */
static struct atk *reset(struct atk *a, const char *cmd)
{
	a->cmd = cmd;
	a->sent = a->unroutable = a->tx_errors = 0;
	a->n_kinds = a->n_seals = 0;
	memset(a->by_type, 0, sizeof(a->by_type));
	memset(a->by_target, 0, sizeof(a->by_target));
	a->tx_dropped0 = tx_dropped(a);
	return a;
}

/* ---------------------------------------------------------------------------------- */
/* main                                                                                */

static void usage(FILE *f)
{
	fputs("usage: pw-attack [EAL args --] COMMAND [options]\n"
	      "  capture --seconds S --ports P1,P2,... --out FILE [--max N] [--iface lo]\n"
	      "  replay FILE\n"
	      "  mutate FILE [--count N]\n"
	      "  forge [--capture FILE] [--client-key FILE] [--linger-ms MS]\n"
	      "  random [--count N]\n"
	      "  all [--capture FILE] [--count N] [--client-key FILE]: replay and mutate (with a\n"
	      "      capture), forge, random, in one process (one line each)\n"
	      "options: --config FILE | --target IP:PORT..., --rate PPS (default 20000), --seed N,\n"
	      "         --only KIND (send only that kind of the summary's \"kinds\": a reproduction)\n"
	      "(the top of tests/attack/pw_attack.c says what each sends)\n",
	      f);
}

static int add_target(struct atk *a, uint32_t ip_be, uint16_t port)
{
	if (target_of(a, ip_be, port) >= 0)
		return 0;
	if (a->n_tg == TARGETS_MAX)
		return -1;
	a->tg[a->n_tg++] = (struct target){ .ip_be = ip_be, .port = port };
	return 0;
}

static int parse_target(struct atk *a, const char *s)
{
	char host[64];
	const char *c = strrchr(s, ':');
	if (c == NULL || (size_t)(c - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(c - s));
	host[c - s] = 0;
	struct in_addr in;
	char *end;
	unsigned long p = strtoul(c + 1, &end, 10);
	if (inet_pton(AF_INET, host, &in) != 1 || *end != 0 || p == 0 || p > 65535)
		return -1;
	return add_target(a, in.s_addr, (uint16_t)p);
}

static int parse_ports(struct atk *a, const char *s)
{
	char buf[1024];
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		unsigned long p = strtoul(tok, NULL, 10);
		if (p == 0 || p > 65535 || a->n_ports == TARGETS_MAX)
			return -1;
		a->ports[a->n_ports++] = (uint16_t)p;
	}
	return a->n_ports > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (pw_version_arg(argc, argv, "pw-attack"))
		return 0;
	static struct atk at;
	struct atk *a = &at;
	char err[512];

	a->fd = -1;
	a->rate = 20000;
	a->count = 1000;
	a->max = 4000;
	a->iface = "lo";
	a->linger_ms = 300;
	/* "[EAL args] -- COMMAND ...": the ethdev ports (a DPDK build). */
	int dd = 1;
	while (dd < argc && strcmp(argv[dd], "--") != 0)
		dd++;
	if (dd < argc) {
#ifdef PW_ATTACK_DPDK
		if (env_eal_init(dd, argv, err, sizeof(err)) != 0) {
			fprintf(stderr, "pw-attack: %s\n", err);
			return 1;
		}
		a->dpdk = true;
		argv[dd] = argv[0];
		argc -= dd;
		argv += dd;
#else
		fprintf(stderr, "pw-attack: EAL arguments, but this build has no DPDK\n");
		return 2;
#endif
	}
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	a->cmd = argv[1];
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "target", required_argument, NULL, 't' },
		{ "rate", required_argument, NULL, 'r' }, { "seed", required_argument, NULL, 'S' },
		{ "seconds", required_argument, NULL, 's' }, { "ports", required_argument, NULL, 'p' },
		{ "out", required_argument, NULL, 'o' }, { "max", required_argument, NULL, 'm' },
		{ "iface", required_argument, NULL, 'i' }, { "count", required_argument, NULL, 'n' },
		{ "capture", required_argument, NULL, 'C' },
		{ "client-key", required_argument, NULL, 'k' },
		{ "key", required_argument, NULL, 'k' },
		{ "linger-ms", required_argument, NULL, 'l' },
		{ "only", required_argument, NULL, 'O' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	bool seeded = false;
	int o;
	optind = 2;
	while ((o = getopt_long(argc, argv, "c:t:r:S:s:p:o:m:i:n:C:k:l:O:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c': config = optarg; break;
		case 't':
			if (parse_target(a, optarg) != 0) {
				fprintf(stderr, "pw-attack: --target %s; fix: IPv4:PORT\n", optarg);
				return 2;
			}
			break;
		case 'r': a->rate = strtod(optarg, NULL); break;
		case 'S': a->seed = strtoull(optarg, NULL, 0); seeded = true; break;
		case 's': a->seconds = strtod(optarg, NULL); break;
		case 'p':
			if (parse_ports(a, optarg) != 0) {
				fprintf(stderr, "pw-attack: --ports %s; fix: P1,P2,...\n", optarg);
				return 2;
			}
			break;
		case 'o': a->out = optarg; break;
		case 'm': a->max = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'i': a->iface = optarg; break;
		case 'n': a->count = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'C': a->file = optarg; break;
		case 'k': a->client_key = optarg; break;
		case 'l': a->linger_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'O': a->only = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if ((strcmp(a->cmd, "replay") == 0 || strcmp(a->cmd, "mutate") == 0) && optind < argc)
		a->file = argv[optind++];
	if (optind != argc) {
		fprintf(stderr, "pw-attack: unexpected argument %s\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!seeded && getrandom(&a->seed, sizeof(a->seed), 0) != (ssize_t)sizeof(a->seed))
		a->seed = mono_ns();
	a->rng = a->seed != 0 ? a->seed : 0x9e3779b97f4a7c15ull;
	if (auth_init() != 0) {
		fprintf(stderr, "pw-attack: libsodium failed to start\n");
		return 1;
	}
	if (strcmp(a->cmd, "capture") == 0)
		return cmd_capture(a);

	if (config != NULL) {
		if (cfg_load(config, &a->cfg, err, sizeof(err)) != 0) {
			fprintf(stderr, "pw-attack: %s\n", err);
			return 1;
		}
		a->have_cfg = true;
		a->cluster_id = a->cfg.cluster_id;
		a->n = a->cfg.n_replicas;
		for (uint8_t j = 0; j < a->cfg.n_replicas; j++)
			(void)add_target(a, a->cfg.members[j].ip_be, a->cfg.members[j].port);
	}
	if (a->n_tg == 0) {
		fprintf(stderr, "pw-attack: no target; fix: --config FILE or --target IP:PORT\n");
		return 2;
	}
	if (a->dpdk && (!a->have_cfg || a->n_tg != a->cfg.n_replicas)) {
		fprintf(stderr, "pw-attack: over ethdev ports the targets are --config's members only\n");
		return 2;
	}
	int rc;
	bool all = strcmp(a->cmd, "all") == 0;
	if (all && a->file != NULL) {
		if (cap_load(a, a->file) != 0)
			return 1;
		learn(a);
	} else if (strcmp(a->cmd, "replay") == 0 || strcmp(a->cmd, "mutate") == 0) {
		if (a->file == NULL) {
			fprintf(stderr, "pw-attack %s: the capture FILE is required\n", a->cmd);
			return 2;
		}
		if (cap_load(a, a->file) != 0)
			return 1;
		learn(a);
	} else if (!all && strcmp(a->cmd, "forge") != 0 && strcmp(a->cmd, "random") != 0) {
		fprintf(stderr, "pw-attack: unknown command %s\n", a->cmd);
		usage(stderr);
		return 2;
	}
	if (sink_open(a) != 0)
		return 1;
	if (all) {
		/* One process for every attack (a DPDK start costs seconds): one line each. */
		rc = 0;
		if (a->file != NULL) {
			rc |= cmd_replay(reset(a, "replay"));
			rc |= cmd_mutate(reset(a, "mutate"));
		}
		rc |= cmd_forge(reset(a, "forge"));
		rc |= cmd_random(reset(a, "random"));
	} else if (strcmp(a->cmd, "replay") == 0)
		rc = cmd_replay(a);
	else if (strcmp(a->cmd, "mutate") == 0)
		rc = cmd_mutate(a);
	else if (strcmp(a->cmd, "forge") == 0)
		rc = cmd_forge(a);
	else
		rc = cmd_random(a);
	sink_close(a);
	return rc;
}
