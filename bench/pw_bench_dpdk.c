/* SPDX-License-Identifier: Apache-2.0
 * pw-bench-dpdk: the lowest-latency paxwire client, a DPDK process that busy-polls its
 * own ethdev ports (memif links to the replicas) and speaks the wire protocol directly,
 * with no kernel on the path. Closed loop: K sessions, each with one command
 * outstanding; latency from the first send of a command to its REPLY (retries
 * included). Also the wire floor: the same datagrams echoed by nic-dpdk-echo.
 *
 *   pw-bench-dpdk [EAL args] -- --config FILE [--mode paxwire|wire] [--outstanding K]
 *                 [--seconds S] [--warmup S] [--value-bytes V] [--label TEXT]
 *
 * paxwire mode: ethdev port j of this process leads to replica j (memif, this process
 * the client side); the cluster runs with clients = dpdk and each replica's port_index
 * is its link to this process. Each session first registers (a REQUEST flagged
 * REGISTER, seq 0, a nonce; the REPLY carries the session id), during the warmup; then
 * its commands are kv puts of a 7-byte key and V value bytes. NOT_LEADER follows the
 * hint; BUSY and 20 ms of silence resend the same (session id, seq), which applies
 * once. SESSION_EXPIRED (counted) registers the session again.
 * wire mode: ethdev port 0 leads to `nic-dpdk-echo server` at replica 0's address; the
 * datagrams are the same REQUESTs, echoed unchanged (no registration: the sessions
 * take made-up ids).
 *
 * Prints a human table on stderr and one JSON object on stdout. Every buffer is
 * allocated before the run; the loop allocates nothing and makes no system call but
 * clock_gettime (vDSO).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "auth.h"
#include "env.h"
#include "nic.h"
#include "cfg.h"
#include "wire_kv.h"
#include "px.h"
#include "px_apply.h"
#include "px_codec.h"
#include "wire_le.h"
#include "pw_version.h"

/** Sessions at most (each is one outstanding command). */
#define BD_SESSIONS_MAX 4096u
/** Session id -> session: open addressing, twice the sessions (load <= 1/2). */
#define BD_MAP_SLOTS (2u * BD_SESSIONS_MAX)
/** A nonce is client_base + (registrations of the session << BD_NONCE_SHIFT) + k. */
#define BD_NONCE_SHIFT 12u
_Static_assert((1u << BD_NONCE_SHIFT) >= BD_SESSIONS_MAX, "k fits below the shift");
/** Latency samples kept at most (4 bytes each); more are counted, not kept. */
#define BD_SAMPLES_MAX (48u << 20)
/** A command unanswered this long is sent again (same client id and seq). */
#define BD_RESEND_NS 20000000ull
/** Look for unanswered commands this often. */
#define BD_SCAN_NS 1000000ull
#define BD_BURST 32u

static atomic_bool g_stop;

static void on_stop(int sig)
{
	(void)sig;
	atomic_store_explicit(&g_stop, true, memory_order_relaxed);  /* read on this thread */
}

struct session {
	uint64_t id;         /**< session id; 0 while registering */
	uint64_t nonce;      /**< of the registration in progress or done last */
	uint32_t regs;       /**< registrations sent (new nonces) */
	uint64_t seq;
	uint64_t first_ns;   /**< first send of seq: latency starts here */
	uint64_t last_ns;    /**< last (re)send */
};

struct bench {
	struct cfg_cluster cfg;
	bool wire;
	uint32_t outstanding, value_bytes;
	double seconds, warmup;
	const char *label;
	uint8_t n_ports;
	struct nic_port *ports[PX_REPLICAS_MAX];
	struct nic_addr member[PX_REPLICAS_MAX];
	uint8_t leader;
	uint64_t client_base;
	struct session *s;
	/** Session id -> k + 1 (0: empty), for the replies, which name the session id. */
	struct { uint64_t id; uint32_t k1; } *map;
	uint8_t body[PX_CMD_BYTES_MAX];
	uint32_t body_len;
	struct px_msg *msg;   /**< REQUEST being encoded, REPLY being decoded */
	uint32_t *lat;        /**< ns */
	uint64_t n_lat, ok_total;
	uint64_t not_leader, busy, resends, errors, stale, decode_errors, no_buf;
	uint64_t registrations, expired;
	uint64_t measure_from_ns, end_ns;
	/* Authentication (docs/security.md): what libpaxwire-client does, per port. */
	const char *key_file;
	struct auth_client *ac;   /**< NULL: off (auth = off, or --mode wire) */
	uint64_t unauthentic;
};

static uint32_t map_home(uint64_t id)
{
	return (uint32_t)((id * 0x9e3779b97f4a7c15ull) >> 32) & (BD_MAP_SLOTS - 1u);
}

/** The session k with this id, or UINT32_MAX. Ends: the map is at most half full. */
static uint32_t map_get(const struct bench *b, uint64_t id)
{
	for (uint32_t i = map_home(id);; i = (i + 1u) & (BD_MAP_SLOTS - 1u)) {
		if (b->map[i].k1 == 0)
			return UINT32_MAX;
		if (b->map[i].id == id)
			return b->map[i].k1 - 1u;
	}
}

static void map_put(struct bench *b, uint64_t id, uint32_t k)
{
	uint32_t i = map_home(id);
	while (b->map[i].k1 != 0 && b->map[i].id != id)
		i = (i + 1u) & (BD_MAP_SLOTS - 1u);
	b->map[i].id = id;
	b->map[i].k1 = k + 1u;
}

/** Removes id (backward-shift deletion, Knuth 6.4 R). */
static void map_del(struct bench *b, uint64_t id)
{
	const uint32_t mask = BD_MAP_SLOTS - 1u;
	uint32_t hole = map_home(id);
	while (b->map[hole].k1 != 0 && b->map[hole].id != id)
		hole = (hole + 1u) & mask;
	if (b->map[hole].k1 == 0)
		return;
	for (uint32_t i = (hole + 1u) & mask; b->map[i].k1 != 0; i = (i + 1u) & mask) {
		uint32_t home = map_home(b->map[i].id);
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			b->map[hole] = b->map[i];
			hole = i;
		}
	}
	b->map[hole].k1 = 0;
}

static void send_req(struct bench *b, uint32_t k, uint64_t now)
{
	uint8_t to = b->wire ? 0 : b->leader;
	struct px_msg *m = b->msg;
	const struct session *se = &b->s[k];
	bool reg = se->id == 0;
	memset(m, 0, offsetof(struct px_msg, entries));
	m->type = PX_MSG_REQUEST;
	m->flags = reg ? PX_MF_REGISTER : 0;
	m->from = PX_NODE_NONE;
	m->to = to;
	m->cluster_id = b->cfg.cluster_id;
	m->client_id = reg ? se->nonce : se->id;
	m->seq = reg ? 0 : se->seq;
	m->body_len = reg ? 0 : b->body_len;
	m->body = reg ? NULL : b->body;
	uint32_t cap = 0;
	uint8_t *buf = nic_tx_buf(b->ports[to], &cap);
	if (buf == NULL) {
		b->no_buf++;   /* the resend scan sends it again */
		b->s[k].last_ns = now;
		return;
	}
	size_t len = px_encode(m, buf, cap);
	if (len != 0 && b->ac != NULL)
		len = auth_client_seal(b->ac, to, buf, len, cap);
	if (len == 0) {
		fprintf(stderr, "pw-bench-dpdk: a REQUEST does not fit a %u-byte buffer\n", cap);
		exit(1);
	}
	nic_tx_commit(b->ports[to], (uint32_t)len, &b->member[to]);
	b->s[k].last_ns = now;
}

/** Registers session k (again): a new nonce, seq 0, REGISTER. */
static void register_session(struct bench *b, uint32_t k, uint64_t now)
{
	struct session *se = &b->s[k];
	if (se->id != 0)
		map_del(b, se->id);
	se->id = 0;
	se->nonce = b->client_base + ((uint64_t)se->regs++ << BD_NONCE_SHIFT) + k;
	send_req(b, k, now);
}

static void next_cmd(struct bench *b, uint32_t k, uint64_t now)
{
	b->s[k].seq++;
	b->s[k].first_ns = now;
	send_req(b, k, now);
}

static void on_pkt(struct bench *b, const struct nic_pkt *pk, uint64_t now, uint8_t port)
{
	struct px_msg *m = b->msg;
	size_t len = pk->len;
	if (b->ac != NULL && auth_client_open(b->ac, port, pk->data, pk->len, &len) != AUTH_OK) {
		b->unauthentic++;
		return;
	}
	if (px_decode(pk->data, len, b->cfg.cluster_id, b->cfg.n_replicas, m) != PX_WIRE_OK) {
		b->decode_errors++;
		return;
	}
	bool expected_type = b->wire ? m->type == PX_MSG_REQUEST : m->type == PX_MSG_REPLY;
	uint32_t k;
	bool reg = !b->wire && m->seq == 0;
	if (reg) {
		/* A registration's answer names its nonce. */
		k = (uint32_t)((m->client_id - b->client_base) & ((1u << BD_NONCE_SHIFT) - 1u));
		if (!expected_type || k >= b->outstanding || b->s[k].id != 0 ||
		    b->s[k].nonce != m->client_id) {
			b->stale++;
			return;
		}
	} else {
		k = map_get(b, m->client_id);
		if (!expected_type || k == UINT32_MAX || m->seq != b->s[k].seq) {
			b->stale++;   /* an answer to a resend that was already answered */
			return;
		}
	}
	uint8_t status = b->wire ? PX_OK : m->status;
	switch (status) {
	case PX_OK:
		if (reg) {
			uint64_t id = 0;
			if (m->body_len == PX_SESSION_ID_BYTES)
				id = wire_ld64(m->body);
			if (id == 0 || map_get(b, id) != UINT32_MAX) {
				b->errors++;   /* not what a registration answers */
				register_session(b, k, now);
				return;
			}
			b->s[k].id = id;
			map_put(b, id, k);
			b->registrations++;
			if (now < b->end_ns)
				next_cmd(b, k, now);
			return;
		}
		break;
	case PX_NOT_LEADER:
		b->not_leader++;
		if (m->leader_hint < b->cfg.n_replicas && m->leader_hint != b->leader)
			b->leader = m->leader_hint;
		else if (m->leader_hint >= b->cfg.n_replicas)
			b->leader = (uint8_t)((b->leader + 1u) % b->cfg.n_replicas);
		send_req(b, k, now);
		return;
	case PX_BUSY:
		b->busy++;
		send_req(b, k, now);
		return;
	case PX_SESSION_EXPIRED:
		/* Evicted: this command's outcome is unknown (not counted as done). */
		b->expired++;
		register_session(b, k, now);
		return;
	default:
		b->errors++;
		break;
	}
	if (b->s[k].first_ns >= b->measure_from_ns) {
		b->ok_total++;
		if (b->n_lat < BD_SAMPLES_MAX) {
			uint64_t l = now - b->s[k].first_ns;
			b->lat[b->n_lat++] = l > UINT32_MAX ? UINT32_MAX : (uint32_t)l;
		}
	}
	if (now < b->end_ns)
		next_cmd(b, k, now);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(const uint32_t *v, uint64_t n, double p)
{
	if (n == 0)
		return 0;
	uint64_t i = (uint64_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return v[i] / 1000.0;
}

static void usage_to(FILE *f)
{
	fprintf(f,
		"usage: pw-bench-dpdk [EAL args] -- --config FILE [--mode paxwire|wire] [--outstanding K]\n"
		"                     [--seconds S] [--warmup S] [--value-bytes V] [--label TEXT]\n"
		"                     [--key FILE (default: $PAXWIRE_KEY_FILE)]\n"
		"(see the top of bench/pw_bench_dpdk.c and docs/benchmarks.md)\n");
}

static void usage(void)
{
	usage_to(stderr);
}

static int parse(struct bench *b, int argc, char **argv, const char **config)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "mode", required_argument, NULL, 'm' },
		{ "outstanding", required_argument, NULL, 'k' },
		{ "seconds", required_argument, NULL, 's' }, { "warmup", required_argument, NULL, 'w' },
		{ "value-bytes", required_argument, NULL, 'v' }, { "label", required_argument, NULL, 'L' },
		{ "key", required_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	b->outstanding = 1;
	b->seconds = 3;
	b->warmup = 1;
	b->value_bytes = 16;
	b->label = "";
	*config = NULL;
	int o;
	optind = 1;   /* rte_eal_init ran getopt over the EAL arguments */
	while ((o = getopt_long(argc, argv, "c:m:k:s:w:v:L:K:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c': *config = optarg; break;
		case 'm':
			if (strcmp(optarg, "wire") == 0)
				b->wire = true;
			else if (strcmp(optarg, "paxwire") != 0) {
				fprintf(stderr, "pw-bench-dpdk: --mode %s; fix: --mode paxwire or --mode wire\n", optarg);
				return 2;
			}
			break;
		case 'k': b->outstanding = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 's': b->seconds = strtod(optarg, NULL); break;
		case 'w': b->warmup = strtod(optarg, NULL); break;
		case 'v': b->value_bytes = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'L': b->label = optarg; break;
		case 'K': b->key_file = optarg; break;
		default: usage(); return 2;
		}
	}
	if (*config == NULL || b->outstanding < 1 || b->outstanding > BD_SESSIONS_MAX ||
	    !(b->seconds > 0 && b->seconds <= 3600) || !(b->warmup >= 0 && b->warmup <= 600) ||
	    b->value_bytes > 1024) {
		fprintf(stderr, "pw-bench-dpdk: --config is required; --outstanding 1..%u, --seconds (0, 3600], --warmup [0, 600], --value-bytes 0..1024\n",
			BD_SESSIONS_MAX);
		usage();
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (pw_version_arg(argc, argv, "pw-bench-dpdk"))
		return 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0) {   /* before the EAL takes it */
			usage_to(stdout);
			return 0;
		}
	}
	static struct bench bench;
	struct bench *b = &bench;
	char err[512];
	/* "[EAL args] -- [app args]": split before rte_eal_init, which permutes argv. */
	int i = 1;
	while (i < argc && strcmp(argv[i], "--") != 0)
		i++;
	if (i == argc) {
		usage();
		return 2;
	}
	if (env_eal_init(i, argv, err, sizeof(err)) != 0) {
		fprintf(stderr, "pw-bench-dpdk: %s; fix: pw-bench-dpdk [EAL args, e.g. --no-huge --no-pci --vdev=net_memif0,...] -- --config FILE\n", err);
		return 1;
	}
	argv[i] = argv[0];
	const char *config;
	int rc = parse(b, argc - i, argv + i, &config);
	if (rc != 0)
		return rc;
	if (cfg_load(config, &b->cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "pw-bench-dpdk: %s\n", err);
		return 1;
	}
	if (!b->wire && !b->cfg.auth_off) {
		const char *kf = b->key_file != NULL ? b->key_file : getenv("PAXWIRE_KEY_FILE");
		struct auth_keys k;
		b->ac = aligned_alloc(64, (sizeof(*b->ac) + 63u) & ~(size_t)63u);
		if (kf == NULL || b->ac == NULL) {
			fprintf(stderr, "pw-bench-dpdk: %s turns authentication on: this client needs a key; fix: --key FILE or PAXWIRE_KEY_FILE (pwctl keygen --client ID --from CLUSTER_KEY FILE)\n",
				config);
			return 1;
		}
		if (auth_keys_load(kf, &k, err, sizeof(err)) != 0 ||
		    auth_client_init(b->ac, &k, b->cfg.cluster_id, b->cfg.n_replicas) != 0) {
			fprintf(stderr, "pw-bench-dpdk: key file: %s\n", err);
			return 1;
		}
	}
	b->n_ports = b->wire ? 1 : b->cfg.n_replicas;
	for (uint8_t j = 0; j < b->cfg.n_replicas; j++) {
		b->member[j] = nic_addr_make(b->cfg.members[j].ip_be, b->cfg.members[j].port);
		memcpy(b->member[j].mac, b->cfg.members[j].mac, 6);
	}
	for (uint8_t j = 0; j < b->n_ports; j++) {
		struct nic_conf nc = {
			.backend = NIC_BACKEND_DPDK,
			.eth_port = j,
			.eth_mac_set = true,
			.local = nic_addr_make(htonl(0x7f0000feu), 9999),
			.burst = BD_BURST,
			.buf_bytes = PX_DGRAM_BYTES_MAX,
			.tx_bufs = 512,
		};
		static const uint8_t mac[6] = { 0x02, 0x77, 0x00, 0x00, 0x00, 0xfe };
		memcpy(nc.local.mac, mac, 6);
		b->ports[j] = nic_open(&nc, err, sizeof(err));
		if (b->ports[j] == NULL) {
			fprintf(stderr, "pw-bench-dpdk: %s; fix: one --vdev per replica, port j leading to replica j\n", err);
			return 1;
		}
	}
	b->s = calloc(b->outstanding, sizeof(*b->s));
	b->map = calloc(BD_MAP_SLOTS, sizeof(*b->map));
	b->msg = calloc(1, sizeof(*b->msg));
	b->lat = malloc((size_t)BD_SAMPLES_MAX * sizeof(uint32_t));
	if (b->s == NULL || b->map == NULL || b->msg == NULL || b->lat == NULL) {
		fprintf(stderr, "pw-bench-dpdk: out of memory\n");
		return 1;
	}
	uint8_t key[7] = { 'b', 'e', 'n', 'c', 'h', '0', '0' };
	uint8_t value[1024];
	memset(value, 'v', sizeof(value));
	b->body_len = wire_kv_encode_put(b->body, sizeof(b->body), key, sizeof(key), value,
				       b->value_bytes);
	if (b->body_len == 0) {
		fprintf(stderr, "pw-bench-dpdk: cannot encode a put of %u bytes\n", b->value_bytes);
		return 1;
	}
	uint64_t r = 0;
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = env_mono_ns();
	b->client_base = (r | 1u) & 0x7fffffffffff0000ull;  /* fresh nonces every run */
	if (b->ac != NULL)   /* the session is its key's: the tag in the top bits */
		b->client_base = (b->client_base & 0x0000003fffff0000ull) |
				 ((uint64_t)px_owner_tag(b->ac->id, b->ac->role == AUTH_ROLE_ADMIN)
				  << PX_OWNER_SHIFT);

	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	uint64_t t0 = env_mono_ns();
	b->measure_from_ns = t0 + (uint64_t)(b->warmup * 1e9);
	b->end_ns = b->measure_from_ns + (uint64_t)(b->seconds * 1e9);
	for (uint32_t k = 0; k < b->outstanding; k++) {
		if (b->wire) {
			/* No replica: the session ids are made up, never 0. */
			b->s[k].id = b->client_base + 1u + k;
			map_put(b, b->s[k].id, k);
			next_cmd(b, k, t0);
		} else {
			register_session(b, k, t0);
		}
	}
	struct nic_pkt pkts[BD_BURST];
	uint64_t next_scan = t0 + BD_SCAN_NS, now = t0;
	/* Runs until the end, then up to one resend period more to collect the last
	 * answers (no new commands after end_ns). */
	while (!atomic_load_explicit(&g_stop, memory_order_relaxed) &&
	       now < b->end_ns + BD_RESEND_NS) {
		for (uint8_t j = 0; j < b->n_ports; j++) {
			uint16_t n = nic_rx_burst(b->ports[j], pkts, BD_BURST);
			if (n > 0)
				now = env_mono_ns();
			for (uint16_t x = 0; x < n; x++)
				on_pkt(b, &pkts[x], now, j);
			nic_rx_done(b->ports[j]);
		}
		now = env_mono_ns();
		if (now >= next_scan && now < b->end_ns) {
			next_scan = now + BD_SCAN_NS;
			for (uint32_t k = 0; k < b->outstanding; k++) {
				if (now - b->s[k].last_ns >= BD_RESEND_NS) {
					b->resends++;
					/* Silence: a restarted replica takes nothing bound to
					 * its old life; learn the new one (a challenge). */
					if (b->ac != NULL)
						auth_client_forget(b->ac, b->leader);
					if (!b->wire && b->resends % 8u == 0)  /* silent leader: try another */
						b->leader = (uint8_t)((b->leader + 1u) % b->cfg.n_replicas);
					send_req(b, k, now);
				}
			}
		}
		for (uint8_t j = 0; j < b->n_ports; j++)
			nic_tx_flush(b->ports[j]);
		for (uint8_t j = 0; j < b->n_ports; j++)
			nic_housekeep(b->ports[j], now);
	}
	double secs = b->seconds;
	qsort(b->lat, b->n_lat, sizeof(uint32_t), cmp_u32);
	double ops = (double)b->ok_total / secs;
	fprintf(stderr,
		"pw-bench-dpdk %s%s%s: %u outstanding, %u-byte commands: %.0f ops/s; latency us p50 %.2f p90 %.2f p99 %.2f p99.9 %.2f p99.99 %.2f max %.2f (%" PRIu64 " samples); not_leader %" PRIu64 " busy %" PRIu64 " resends %" PRIu64 " errors %" PRIu64 " registrations %" PRIu64 " expired %" PRIu64 "\n",
		b->wire ? "wire" : "paxwire", b->label[0] ? " " : "", b->label, b->outstanding,
		b->body_len, ops, pct(b->lat, b->n_lat, 50), pct(b->lat, b->n_lat, 90),
		pct(b->lat, b->n_lat, 99), pct(b->lat, b->n_lat, 99.9), pct(b->lat, b->n_lat, 99.99),
		b->n_lat ? b->lat[b->n_lat - 1] / 1000.0 : 0.0, b->n_lat, b->not_leader, b->busy,
		b->resends, b->errors, b->registrations, b->expired);
	printf("{\"bench\":\"pw-bench-dpdk\",\"mode\":\"%s\",\"label\":\"%s\",\"replicas\":%u,\"outstanding\":%u,\"cmd_bytes\":%u,\"seconds\":%.3f,\"ok\":%" PRIu64 ",\"ops_per_s\":%.0f,\"lat_us_p50\":%.3f,\"lat_us_p90\":%.3f,\"lat_us_p99\":%.3f,\"lat_us_p999\":%.3f,\"lat_us_p9999\":%.3f,\"lat_us_max\":%.3f,\"not_leader\":%" PRIu64 ",\"busy\":%" PRIu64 ",\"resends\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"stale\":%" PRIu64 ",\"decode_errors\":%" PRIu64 ",\"tx_no_buf\":%" PRIu64 ",\"registrations\":%" PRIu64 ",\"expired\":%" PRIu64 ",\"auth\":%s,\"unauthentic\":%" PRIu64 "}\n",
	       b->wire ? "wire" : "paxwire", b->label, b->cfg.n_replicas, b->outstanding, b->body_len,
	       secs, b->ok_total, ops, pct(b->lat, b->n_lat, 50), pct(b->lat, b->n_lat, 90),
	       pct(b->lat, b->n_lat, 99), pct(b->lat, b->n_lat, 99.9), pct(b->lat, b->n_lat, 99.99),
	       b->n_lat ? b->lat[b->n_lat - 1] / 1000.0 : 0.0, b->not_leader, b->busy, b->resends,
	       b->errors, b->stale, b->decode_errors, b->no_buf, b->registrations, b->expired,
	       b->ac != NULL ? "true" : "false", b->unauthentic);
	for (uint8_t j = 0; j < b->n_ports; j++)
		nic_close(b->ports[j]);
	free(b->s);
	free(b->map);
	free(b->msg);
	free(b->lat);
	env_eal_cleanup();
	return b->ok_total > 0 ? 0 : 1;
}
