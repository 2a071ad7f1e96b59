/* SPDX-License-Identifier: Apache-2.0
 * paxwired: one paxwire replica (kernel UDP, or DPDK ethdev ports).
 *
 * Start-up: parse arguments, load the cluster file, (durable mode) open the journal in
 * --data-dir (storage/journal.h: its lock, replay, its writer thread), build the node's
 * config, find the service by name (services/svc_registry.h: built in, or a plugin from
 * service_lib), allocate its arena and the node's, build the node (node/node.h) and open
 * the ports, (durable mode) rebuild the node from the journal (node_restore); then
 * dp_run (dp_loop.c) until SIGINT/SIGTERM, print the final counters, close the journal
 * (everything queued written and synced), exit 0. Every start-up failure exits 1 (2: a
 * usage error) with one line naming the cause and the fix. A storage failure while
 * running stops the loop at once and exits 1.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dp_pvt.h"
#include "rm.h"
#include "pw_version.h"
#include "svc_kv.h"
#include "mempool.h"
#include "svc_stream.h"
#include "svc_registry.h"
#include "wire_backup.h"
#include "wire_hash.h"

/* The loader checks the service bounds without depending on services/: they must agree. */
_Static_assert(CFG_KV_KEYS_MAX == SVC_KV_KEYS_MAX, "kv_keys bound");
_Static_assert(CFG_KV_KEY_BYTES_MAX == WIRE_KV_KEY_BYTES_MAX, "kv_key_bytes bound");
_Static_assert(CFG_KV_VALUE_BYTES_MAX == WIRE_KV_VALUE_BYTES_MAX, "kv_value_bytes bound");
_Static_assert(CFG_STREAM_RECORDS_MAX == SVC_STREAM_RECORDS_MAX, "stream_records bound");
_Static_assert(CFG_STREAM_BYTES_MIN == WIRE_STREAM_PAYLOAD_MAX, "stream_bytes minimum");
_Static_assert(CFG_STREAM_BYTES_MAX == SVC_STREAM_DATA_BYTES_MAX, "stream_bytes bound");
/* ... and the service keys' bounds those of the service ABI. */
_Static_assert(CFG_SERVICE_NAME_BYTES == SVC_NAME_BYTES, "service name bound");
_Static_assert(CFG_SERVICE_PARAMS_MAX == SVC_PARAMS_MAX, "service parameters bound");
_Static_assert(CFG_SERVICE_KEY_BYTES == SVC_PARAM_KEY_BYTES, "service key bound");
_Static_assert(CFG_SERVICE_VALUE_BYTES == SVC_PARAM_VALUE_BYTES, "service value bound");

/* The only mutable globals: what the signal handlers set. Lock-free atomics are
 * async-signal-safe; the loop reads them (dp_run, periodic). */
static atomic_bool g_stop;
static atomic_bool g_stats_now;

static void on_stop_signal(int sig)
{
	(void)sig;
	/* release: pairs with the acquire load at the top of each loop iteration */
	atomic_store_explicit(&g_stop, true, memory_order_release);
}

static atomic_bool g_hup;

/** SIGHUP: logged and otherwise ignored (docs/operations.md, "Logs"): the cluster file
 *  is read only at start, and the logs go to stderr, which whoever started paxwired
 *  owns (nothing to reopen). The loop logs the line (dp_loop.c), not this handler. */
static void on_hup_signal(int sig)
{
	(void)sig;
	/* relaxed: read by an exchange on the loop's thread, like stats_now */
	atomic_store_explicit(&g_hup, true, memory_order_relaxed);
}

static void on_stats_signal(int sig)
{
	(void)sig;
	/* relaxed: read by an exchange on this same thread (dp_loop.c, periodic) */
	atomic_store_explicit(&g_stats_now, true, memory_order_relaxed);
}

static const char usage_text[] =
	"usage: paxwired [[EAL args] --] --config FILE --id N [--bootstrap [--restore BACKUP]]\n"
	"                [--data-dir DIR [--rejoin | --join]] [--stats-interval-ms MS]\n"
	"                [--log-level error|warn|info|debug] [--log-format text|json]\n"
	"\n"
	"Runs replica N of the paxwire cluster described in FILE. transport = udp: one kernel\n"
	"UDP socket at the ip:port of [replica.N] for peers and clients. transport = dpdk:\n"
	"one ethdev port per peer link (link.J, else port_index), clients on the other\n"
	"ethdev ports (clients = dpdk) or on a kernel socket at ip:port (clients = udp);\n"
	"docs/operations.md has the whole picture.\n"
	"\n"
	"      --config FILE           cluster file (INI; examples in deploy/)\n"
	"      --id N                  this replica's id: 0 .. replicas-1 (the initial\n"
	"                              voters), or a [replica.N] section of FILE above them\n"
	"                              (a member added at run time: --join)\n"
	"      --bootstrap             this is the first start of a NEW cluster (see below)\n"
	"      --restore BACKUP        with --bootstrap: the new cluster starts from a backup\n"
	"                              (pwctl snapshot save BACKUP), the state and client\n"
	"                              sessions after its slot; give every replica the same\n"
	"                              file (docs/operations.md, \"Backup and restore\")\n"
	"      --data-dir DIR          durability = durable: the dir of this replica's journal\n"
	"                              (created if missing; one per replica, never shared, on\n"
	"                              a local file system); required in durable mode, refused\n"
	"                              in memory mode\n"
	"      --rejoin                durable: this replica ran before and its data dir was\n"
	"                              lost (a new disk): it starts from an empty dir and\n"
	"                              repairs from its peers, as memory mode recovers\n"
	"                              (docs/operations.md, \"Replace a lost data dir\")\n"
	"      --join                  durable: the first start of a NEW replica joining a\n"
	"                              running cluster. Its id is one no replica ever ran\n"
	"                              with (not an initial voter), FILE has a [replica.N]\n"
	"                              section with its address, its data dir is empty. It\n"
	"                              is no voter of the file's configuration, so it never\n"
	"                              campaigns; the leader adds it (pwctl add-member N\n"
	"                              IP:PORT), it fetches the state; then it is a learner,\n"
	"                              promoted to voter once caught up. Later restarts go\n"
	"                              without --join (docs/operations.md, \"Membership\n"
	"                              changes\")\n"
	"      --stats-interval-ms MS  print one JSON line of counters to stdout every MS ms\n"
	"                              (default 0: never; SIGUSR1 prints one at any time)\n"
	"      --log-level LEVEL       error, warn, info (default) or debug; logs go to stderr\n"
	"      --log-format text|json  log lines as text (default: UTC time to the microsecond,\n"
	"                              paxwired[ID], level, message) or one JSON object each\n"
	"                              (ts, prog, id, level, msg); docs/operations.md, Logs\n"
	"  -h, --help                  this text\n"
	"      --version               the version (from git when built) and exit\n"
	"Long options only (and -h): paxwired's arguments share the command line with the\n"
	"EAL's, whose short options (-l lcores, -c, -b, -d, -m, -n, -r, -s...) mean other\n"
	"things.\n"
	"\n"
	"Bootstrap rule (durability = memory: nothing is kept on disk):\n"
	"  - Start every replica of a new cluster with --bootstrap.\n"
	"  - Restart a replica that stopped or crashed WITHOUT --bootstrap. It has lost its\n"
	"    promises and votes, so it runs the recovery protocol before it votes again; that\n"
	"    needs f + 1 of the other replicas running normally (3 replicas: both others;\n"
	"    5 replicas: 3 of the 4 others).\n"
	"  - Never give --bootstrap to a replica joining a running cluster: it would forget\n"
	"    promises it made, and two different values could be chosen for one slot. The\n"
	"    members that know it refuse it (the cluster uuid), and it exits with status 1.\n"
	"  - If a majority stopped at once, the replicated state is gone: start a new cluster\n"
	"    (every replica with --bootstrap); clients start over.\n"
	"\n"
	"Bootstrap rule (durability = durable: the journal in --data-dir keeps promises, votes\n"
	"and the commit point, each synced before the replica tells anyone):\n"
	"  - Start every replica of a new cluster with --bootstrap and an empty data dir.\n"
	"  - Restart a replica WITHOUT --bootstrap: it replays its journal and votes again at\n"
	"    once (no recovery round). Any number of replicas may restart, all at once too.\n"
	"  - --bootstrap is refused when the data dir holds a journal (the replica ran before),\n"
	"    and a start without it when the dir holds none: a replica that lost its data dir\n"
	"    has forgotten its promises. Start such a replica with --rejoin (an empty dir):\n"
	"    it recovers from f + 1 others running normally before it votes, then fetches\n"
	"    the state. A journal damaged in the middle is set aside and repaired the same way.\n"
	"  - A NEW replica of a running cluster (membership changes) starts once with --join\n"
	"    and an empty data dir, never with --bootstrap; --join is refused on a dir that\n"
	"    holds a journal (restart it without --join: it replays its journal).\n"
	"\n"
	"Restoring a backup (either mode): start every replica of a NEW cluster with\n"
	"--bootstrap --restore BACKUP, the same file for each (durable: empty data dirs).\n"
	"The cluster holds what was applied up to the backup's slot, client sessions\n"
	"included, and goes on from the next slot; writes after the backup are not in it.\n"
	"Later restarts go without either flag, as above.\n"
	"\n"
	"SIGINT or SIGTERM stops it cleanly (final counters on stdout, the journal synced and\n"
	"closed, exit 0). Durable mode: a storage error (a failed write or fdatasync, a full\n"
	"disk) stops it at once with exit 1: it must not vote any more.\n"
	"transport = dpdk: paxwired [EAL args] -- [app args]; the EAL args (before the first\n"
	"\"--\") go to rte_eal_init, e.g. --no-huge --no-pci --vdev=net_memif0,... (see\n"
	"nic/README.md). transport = udp takes no EAL args; a leading \"--\" is ignored.\n";

struct args {
	const char *config;
	long id;
	bool bootstrap;
	bool rejoin;            /**< --rejoin: durable, the data dir was lost: repair */
	bool join;              /**< --join: durable, a new replica joins a running cluster */
	const char *restore;    /**< --restore: a backup file to start from; NULL if none */
	const char *data_dir;   /**< durable mode: the journal's dir; NULL if not given */
	uint32_t stats_interval_ms;
	enum dp_log_level log_level;
	enum env_log_format log_format;
};

static bool parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	if (s == NULL || *s < '0' || *s > '9')
		return false;
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return false;
	*out = v;
	return true;
}

/** @return 0, or the exit code (2: usage error, -1: --help printed). */
static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "id", required_argument, NULL, 'i' },
		{ "bootstrap", no_argument, NULL, 'b' },
		{ "rejoin", no_argument, NULL, 'j' },
		{ "join", no_argument, NULL, 'J' },
		{ "restore", required_argument, NULL, 'r' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "stats-interval-ms", required_argument, NULL, 's' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "log-format", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	a->config = NULL;
	a->id = -1;
	a->bootstrap = false;
	a->rejoin = false;
	a->join = false;
	a->restore = NULL;
	a->data_dir = NULL;
	a->stats_interval_ms = 0;
	a->log_level = DP_LOG_INFO;
	a->log_format = ENV_LOG_TEXT;
	int o;
	unsigned long v;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			a->config = optarg;
			break;
		case 'i':
			if (!parse_ulong(optarg, 255, &v)) {
				env_logf(ENV_LOG_ERROR, "--id %s: not a replica id; fix: --id N with N in 0..replicas-1\n",
					optarg);
				return 2;
			}
			a->id = (long)v;
			break;
		case 'b':
			a->bootstrap = true;
			break;
		case 'j':
			a->rejoin = true;
			break;
		case 'J':
			a->join = true;
			break;
		case 'r':
			if (*optarg == '\0') {
				env_logf(ENV_LOG_ERROR, "--restore: an empty path; fix: --restore BACKUP, a file pwctl snapshot save wrote\n");
				return 2;
			}
			a->restore = optarg;
			break;
		case 'd':
			if (*optarg == '\0') {
				env_logf(ENV_LOG_ERROR, "--data-dir: an empty path; fix: --data-dir DIR, e.g. /var/lib/paxwire/replica-N\n");
				return 2;
			}
			a->data_dir = optarg;
			break;
		case 's':
			if (!parse_ulong(optarg, 86400000ul, &v)) {
				env_logf(ENV_LOG_ERROR, "--stats-interval-ms %s: not a number of milliseconds; fix: --stats-interval-ms 1000 (0: off)\n",
					optarg);
				return 2;
			}
			a->stats_interval_ms = (uint32_t)v;
			break;
		case 'l':
			if (strcmp(optarg, "error") == 0)
				a->log_level = DP_LOG_ERROR;
			else if (strcmp(optarg, "warn") == 0)
				a->log_level = DP_LOG_WARN;
			else if (strcmp(optarg, "info") == 0)
				a->log_level = DP_LOG_INFO;
			else if (strcmp(optarg, "debug") == 0)
				a->log_level = DP_LOG_DEBUG;
			else {
				env_logf(ENV_LOG_ERROR, "--log-level %s: unknown level; fix: --log-level error, warn, info or debug\n",
					optarg);
				return 2;
			}
			break;
		case 'F': {
			int f = env_log_format_parse(optarg);
			if (f < 0) {
				env_logf(ENV_LOG_ERROR, "--log-format %s: unknown format; fix: --log-format text or json\n",
					 optarg);
				return 2;
			}
			a->log_format = (enum env_log_format)f;
			break;
		}
		case 'h':
			fputs(usage_text, stdout);
			return -1;
		case 'V':
			printf("paxwired (paxwire) %s\n", PW_VERSION);
			return -1;
		default:
			if (optopt > 0 && optopt < 128 && isalpha(optopt))
				env_logf(ENV_LOG_ERROR, "-%c: paxwired takes long options only; EAL options (-l for lcores...) go before \"--\" (paxwired [EAL args] -- --config FILE ...); the log level is --log-level LEVEL\n",
					 optopt);
			env_logf(ENV_LOG_ERROR, "see paxwired --help\n");
			return 2;
		}
	}
	if (optind < argc) {
		env_logf(ENV_LOG_ERROR, "unexpected argument '%s'; fix: see paxwired --help\n",
			argv[optind]);
		return 2;
	}
	if (a->restore != NULL && !a->bootstrap) {
		env_logf(ENV_LOG_ERROR, "--restore %s without --bootstrap: a backup seeds a NEW cluster, whose every replica starts with both; fix: paxwired --config FILE --id N --bootstrap --restore %s (the same file for every replica); a replica of a running cluster restarts without either\n",
			a->restore, a->restore);
		return 2;
	}
	if (a->rejoin && a->bootstrap) {
		env_logf(ENV_LOG_ERROR, "--rejoin with --bootstrap: --rejoin brings back a replica of a running cluster whose data dir was lost, --bootstrap starts a new cluster; fix: give one of them\n");
		return 2;
	}
	if (a->join && (a->bootstrap || a->rejoin)) {
		env_logf(ENV_LOG_ERROR, "--join with --%s: --join is the first start of a NEW replica joining a running cluster, --%s %s; fix: give one of them\n",
			a->bootstrap ? "bootstrap" : "rejoin", a->bootstrap ? "bootstrap" : "rejoin",
			a->bootstrap ? "starts a new cluster"
				     : "brings back a replica whose data dir was lost");
		return 2;
	}
	if (a->join && a->data_dir == NULL) {
		env_logf(ENV_LOG_ERROR, "--join without --data-dir: membership changes need durable mode, whose replica keeps its journal in a data dir; fix: paxwired --config FILE --id N --data-dir DIR --join (an empty DIR), with durability = durable in FILE\n");
		return 2;
	}
	if (a->rejoin && a->data_dir == NULL) {
		env_logf(ENV_LOG_ERROR, "--rejoin without --data-dir: a rejoin is for durable mode, whose replica starts from an empty data dir; fix: paxwired --config FILE --id N --data-dir DIR --rejoin (memory mode: a restart without --bootstrap already recovers from its peers)\n");
		return 2;
	}
	if (a->config == NULL || a->id < 0) {
		env_logf(ENV_LOG_ERROR, "%s is required; fix: paxwired --config FILE --id N [--bootstrap] (see --help)\n",
			a->config == NULL ? "--config FILE" : "--id N");
		return 2;
	}
	return 0;
}

static uint64_t random_u64(void)
{
	uint64_t v = 0;
	ssize_t r = getrandom(&v, sizeof(v), 0);
	if (r != (ssize_t)sizeof(v)) {
		env_logf(ENV_LOG_ERROR, "getrandom: %s; fix: a Linux kernel >= 3.17 with a seeded entropy pool\n",
			r < 0 ? strerror(errno) : "short read");
		exit(1);
	}
	return v;
}

/** A zeroed start-up arena (mempool/: hugepages when the EAL has them), or exit with a
 *  message naming what and how much. */
static void *alloc_or_die(size_t n, const char *what)
{
	void *p = mp_zalloc(n, what);
	if (p == NULL) {
		env_logf(ENV_LOG_ERROR, "cannot allocate %zu bytes for %s (from %s); fix: %s, or lower the sizes in the cluster file (window_slots, slot_bytes, sessions, kv_keys, ...)\n",
			n, what, mp_source_name(mp_source()),
			mp_source() == MP_HUGEPAGES
				? "reserve more hugepages (/sys/kernel/mm/hugepages/*/nr_hugepages) or give the EAL more (--socket-mem)"
				: "free memory");
		exit(1);
	}
	return p;
}

/** The remote-memory context of log_transport = shm | rdma. shm names its objects
 *  /dev/shm/paxwire-c<cluster id>-n<id>-*: a previous life's (kill -9) are removed
 *  first, which revokes the access of every writer that still maps them. Exits with a
 *  message naming the cause and the fix. */
static struct rm_ctx *open_rm(const struct cfg_cluster *cfg, uint8_t id)
{
	char err[256], name[RM_NAME_MAX];
	struct rm_conf rc = {
		.self = id,
		.sq_depth = 2u * NODE_RM_INFLIGHT,
		.cq_depth = 4u * NODE_RM_INFLIGHT,
		.revoke_wait_us = 100000,   /* a writer stalled mid-copy: no promise until then */
		.max_inline = RM_INLINE_MAX, /* small records inline; verbs takes what the
		                                device gives (rm_max_inline) */
	};
	if (cfg->log_transport == CFG_LOG_SHM) {
		snprintf(name, sizeof(name), "c%" PRIu32, cfg->cluster_id);
		rc.backend = RM_BACKEND_SHM;
		rc.cluster = name;
		int gone = rm_shm_unlink_node(name, id);
		if (gone > 0)
			env_logf(ENV_LOG_INFO, "log_transport = shm: removed %d objects of an earlier run of replica %u (/dev/shm/paxwire-%s-n%u-*), its writers fenced\n",
				gone, id, name, id);
	} else {
		if (!rm_verbs_built()) {
			env_logf(ENV_LOG_ERROR, "%s:%" PRIu32 ": log_transport = rdma, but this paxwired was built without libibverbs; fix: install libibverbs-dev (rdma-core) and rebuild, or log_transport = message\n",
				cfg->path, cfg_key_line(cfg->path, "cluster", "log_transport"));
			exit(1);
		}
		rc.backend = RM_BACKEND_VERBS;
		rc.device = cfg->rm_device[0] != 0 ? cfg->rm_device : NULL;
		rc.port = (uint8_t)cfg->rm_port;
		rc.gid_index = (uint8_t)cfg->rm_gid_index;
	}
	struct rm_ctx *ctx = rm_open(&rc, err, sizeof(err));
	if (ctx == NULL) {
		env_logf(ENV_LOG_ERROR, "%s:%" PRIu32 ": log_transport = %s: %s\n", cfg->path,
			cfg_key_line(cfg->path, "cluster", "log_transport"),
			cfg_log_transport_name(cfg->log_transport), err);
		exit(1);
	}
	if (rm_max_inline(ctx) < RM_INLINE_MAX)
		env_logf(ENV_LOG_INFO, "log_transport = %s: records up to %u bytes go inline (the device took no more)\n",
			 cfg_log_transport_name(cfg->log_transport), rm_max_inline(ctx));
	return ctx;
}

/** Why a memif mesh refuses pwctl add-member (node_conf.members_fixed; PX_ADMIN_ADD's
 *  answer, under PX_REPLY_BYTES_MAX). */
#define MEMBERS_FIXED_MESH                                                                  \
	"this cluster's replicas talk over a mesh of point-to-point DPDK links (link.J in "     \
	"the cluster file: one port per peer, opened at start), which cannot reach a member "    \
	"added at run time; to change membership online run the cluster with transport = udp " \
	"(or DPDK with one port per replica behind a switch: port_index, no link.J); a mesh's " \
	"membership is fixed: to grow it, start a new cluster that lists every member from a "  \
	"backup (docs/operations.md, Backup and restore)"

/** Durable mode's snapshot_every when the cluster file gives none. */
#define PW_DURABLE_SNAPSHOT_EVERY 65536u

struct arenas {
	void *node, *service;
	/** The snapshot buffer (node_conf.snapshot_buf): mapped, not zeroed, so that only
	 *  the pages a snapshot writes cost memory. */
	void *snap;
	size_t snap_len;
	void *service_lib;   /**< dlopen handle of a plugin service; NULL: built in */
};

static void die_open(const struct cfg_cluster *cfg, uint8_t id, int e, const char *err)
{
	const char *path = cfg->path;
	char sec[32];
	snprintf(sec, sizeof(sec), "replica.%u", id);
	uint32_t port_line = cfg_key_line(path, sec, "port");
	uint32_t ip_line = cfg_key_line(path, sec, "ip");
	switch (e) {
	case EADDRINUSE:
		env_logf(ENV_LOG_ERROR, "%s; is another paxwired running with this --id? fix: stop it, or give [replica.%u] another port (%s:%" PRIu32 ")\n",
			err, id, path, port_line);
		break;
	case EADDRNOTAVAIL:
		env_logf(ENV_LOG_ERROR, "%s; %s is not an address of this host; fix: run --id %u on the host that owns it, or correct ip (%s:%" PRIu32 ")\n",
			err, cfg->members[id].ip, id, path, ip_line);
		break;
	case EACCES:
		env_logf(ENV_LOG_ERROR, "%s; fix: use a port >= 1024 (%s:%" PRIu32 ") or grant CAP_NET_BIND_SERVICE\n",
			err, path, port_line);
		break;
	default:
		env_logf(ENV_LOG_ERROR, "%s; fix: check [replica.%u] in %s and the host's network setup\n",
			err, id, path);
		break;
	}
	exit(1);
}

static void die_open_eth(const struct cfg_cluster *cfg, uint8_t id, uint16_t eth,
			 const char *err)
{
	env_logf(ENV_LOG_ERROR, "%s; [replica.%u] in %s uses ethdev port %u (port_index or a link.J line); fix: give the EAL one device per port, in port order (e.g. --vdev=net_memif0,... --vdev=net_memif1,...), or correct port_index / link.J\n",
		err, id, cfg->path, eth);
	exit(1);
}

/** Opens the next port of d (a slot in d->ports). Exits with a message on failure. */
static void open_port(struct dp_ctx *d, const struct cfg_cluster *cfg, uint8_t id,
		      enum nic_backend backend, uint16_t eth_port)
{
	assert(d->n_ports < DP_PORTS_MAX);
	bool eth = backend == NIC_BACKEND_DPDK;
	struct nic_conf nc = {
		.backend = backend,
		.eth_port = eth_port,
		.eth_mac_set = eth && cfg->members[id].has_mac,
		.local = d->peers[id],
		.burst = DP_RX_BURST,
		.buf_bytes = PX_DGRAM_BYTES_MAX,
		.tx_bufs = DP_TX_BUFS,
		/* A batch of commands waits in its datagrams (dp_loop.c): as many as one
		 * batch, whichever ports they came in on. */
		.rx_hold_max = cfg->batch_cmds_max,
		.sock_buf_bytes = DP_SOCK_BUF_BYTES,
	};
	if (!eth)
		memset(nc.local.mac, 0, sizeof(nc.local.mac));
	char err[256];
	struct nic_port *p = nic_open(&nc, err, sizeof(err));
	if (p == NULL) {
		if (eth)
			die_open_eth(cfg, id, eth_port, err);
		die_open(cfg, id, errno, err);
	}
	d->ports[d->n_ports++] = p;
}

/**
 * Finds the service that `service = NAME` names (the registry's built-ins, or the
 * plugin at service_lib), hands it its parameters, allocates its arena and builds it
 * into d->svc. Exits with a message naming the file, the line and the fix on failure.
 */
static void init_service(struct dp_ctx *d, const struct cfg_cluster *cfg, struct arenas *ar)
{
	const char *path = cfg->path;
	const char *name = cfg->service_name;
	uint32_t name_line = cfg_key_line(path, "cluster", "service");
	const struct svc_desc *sd;
	char err[512];

	if (cfg->service_lib[0] != '\0') {
		sd = svc_plugin_load(cfg->service_lib, name, &ar->service_lib, err, sizeof(err));
		if (sd == NULL) {
			env_logf(ENV_LOG_ERROR, "%s:%" PRIu32 ": service_lib = %s: %s\n", path,
				cfg_key_line(path, "cluster", "service_lib"), cfg->service_lib,
				err);
			exit(1);
		}
	} else {
		sd = svc_lookup(name);
		if (sd == NULL) {
			char names[128];
			svc_builtin_names(names, sizeof(names));
			env_logf(ENV_LOG_ERROR, "%s:%" PRIu32 ": service = %s: no built-in service of that name (built in: %s); fix: service = one of those, or add service_lib = /path/to/the plugin's .so\n",
				path, name_line, name, names);
			exit(1);
		}
	}
	/* Its parameters: [service.NAME] and, for kv and stream, their typed keys. The
	 * strings live in cfg, which outlives the calls. */
	char section[16 + CFG_SERVICE_NAME_BYTES];
	snprintf(section, sizeof(section), "service.%s", name);
	struct svc_param pv[CFG_SERVICE_PARAMS_MAX];
	for (uint32_t i = 0; i < cfg->n_service_params; i++) {
		const struct cfg_service_param *q = &cfg->service_params[i];
		pv[i] = (struct svc_param){ .key = q->key, .value = q->value,
					    .section = q->in_cluster ? "cluster" : section,
					    .line = q->line };
	}
	struct svc_params sp = { .path = path, .service = name,
				 .section_line = cfg->service_section_line,
				 .n = cfg->n_service_params, .v = pv };
	size_t len = 0;
	if (svc_check(sd, &sp, &len, err, sizeof(err)) != 0) {
		env_logf(ENV_LOG_ERROR, "%s\n", err);
		exit(1);
	}
	char what[64];
	snprintf(what, sizeof(what), "the service (%s)", name);
	/* At least a cache line, so that a stateless service gets an arena too. */
	ar->service = alloc_or_die(len > 64 ? len : 64, what);
	if (svc_init(sd, &sp, ar->service, len > 64 ? len : 64, &d->svc, err, sizeof(err)) != 0) {
		env_logf(ENV_LOG_ERROR, "%s\n", err);
		exit(1);
	}
}

/** "N" for a message (a static buffer: one use per message). */
static const char *argv_id(long id)
{
	static char b[24];
	snprintf(b, sizeof(b), "%ld", id);
	return b;
}

/** transport = dpdk with a link.J line that names another port than port_index: a
 *  mesh of point-to-point links (memif), one port per peer opened at start, so no
 *  member added at run time can be reached (node_conf.members_fixed). */
static bool cfg_mesh(const struct cfg_cluster *cfg)
{
	if (cfg->transport != CFG_TRANSPORT_DPDK)
		return false;
	for (uint8_t i = 0; i < PX_REPLICAS_MAX; i++)
		for (uint8_t j = 0; j < PX_REPLICAS_MAX && ((cfg->listed >> i) & 1u); j++)
			if (j != i && ((cfg->listed >> j) & 1u) &&
			    cfg->members[i].link[j] != cfg->members[i].port_index)
				return true;
	return false;
}

/** This replica is not one of the cluster file's initial voters (ids 0..replicas-1):
 *  it was added at run time, and starts (--join) or restarts knowing no membership
 *  until its journal, its saved snapshot or a state transfer gives it one
 *  (px_config.join). */
static bool joined(const struct cfg_cluster *cfg, const struct args *a)
{
	return a->join || a->id >= cfg->n_replicas;
}

/**
 * Durable mode: opens the journal in --data-dir (its lock, the replay of every segment,
 * the writer thread) and holds what replay found to the bootstrap rule. Exits with the
 * journal's own line (it names the cause) and the fix on failure.
 */
static struct journal *open_journal(const struct cfg_cluster *cfg, const struct args *a,
				    struct journal_replay *rp)
{
	const char *dir = a->data_dir;
	struct journal_conf jc = {
		.dir = dir,
		.value_bytes_max = cfg->slot_bytes,   /* the largest value the core persists */
		.sync = JOURNAL_SYNC_FDATASYNC,       /* the only durable choice */
		/* A journal damaged in the middle is set aside and repaired from the peers
		 * (docs/storage.md, "Repair"): not by a bootstrap (a first start finds no
		 * journal), and not without peers. */
		.repair = !a->bootstrap && cfg->n_replicas > 1 && !joined(cfg, a),
		.rejoin = a->rejoin,
	};
	struct journal *j = NULL;
	char err[JOURNAL_ERR_BYTES];
	int rc = journal_open(&jc, &j, rp, err, sizeof(err));
	if (rc != 0) {
		env_logf(ENV_LOG_ERROR, "%s\n", err);
		if (rc == -EBUSY)
			env_logf(ENV_LOG_ERROR, "fix: another paxwired runs with --data-dir %s (two replicas must never share one); stop it, or give this replica its own dir\n",
				dir);
		else if (rc == -EBADMSG && strstr(err, "rebuild") != NULL && a->bootstrap)
			env_logf(ENV_LOG_ERROR, "fix: this replica ran before (its dir holds a journal): start it without --bootstrap, which sets the damaged journal aside and repairs the replica from its peers (docs/operations.md, \"Durable mode\")\n");
		else if (rc == -EBADMSG && strstr(err, "rebuild") != NULL && joined(cfg, a))
			env_logf(ENV_LOG_ERROR, "a repair from peers is impossible for replica %ld: it joined the cluster at run time (--join), and a repair recovers from a majority of a membership this replica cannot know before it has its state; fix: remove it (pwctl remove-member %ld), then add a NEW replica with a new id and an empty data dir (docs/operations.md, \"Replace a dead box\")\n",
				a->id, a->id);
		else if (rc == -EBADMSG && strstr(err, "rebuild") != NULL)
			env_logf(ENV_LOG_ERROR, "a repair from peers is impossible: the cluster has one replica (replicas = 1), so nothing else holds what the journal lost; fix: keep the dir as it is, and start a new cluster from a backup (--bootstrap --restore FILE) in an empty data dir (docs/operations.md, \"Backup and restore\")\n");
		else if (rc == -EEXIST && a->rejoin)
			env_logf(ENV_LOG_ERROR, "fix: this replica's data dir is not lost: restart it without --rejoin (it replays its journal)\n");
		else if (rc == -ENOENT)
			env_logf(ENV_LOG_ERROR, "fix: create the parent of %s first (mkdir -p): paxwired creates only the data dir itself\n",
				dir);
		else if (rc != -EBADMSG)
			env_logf(ENV_LOG_ERROR, "fix: --data-dir must name a directory this user can create and write, on a local file system with free space\n");
		exit(1);
	}
	if (a->bootstrap && rp->repair) {
		env_logf(ENV_LOG_ERROR, "--bootstrap, but data dir %s is being repaired from the peers (it holds a '" JOURNAL_REPAIRING_NAME "' file: a damaged journal was set aside): this replica has run before; fix: restart it without --bootstrap (the repair starts over)\n",
			dir);
		journal_close(j);
		exit(1);
	}
	if (a->join && (rp->records > 0 || rp->repair)) {
		env_logf(ENV_LOG_ERROR, "--join, but data dir %s holds a journal (%" PRIu64 " records, commit %" PRIu64 "%s): this replica has joined (or run) before; fix: restart it without --join (it replays its journal); a NEW replica joins with an empty data dir\n",
			dir, rp->records, rp->commit, rp->repair ? ", a repair under way" : "");
		journal_close(j);
		exit(1);
	}
	if (a->bootstrap && rp->records > 0) {
		env_logf(ENV_LOG_ERROR, "--bootstrap, but data dir %s holds a journal (%" PRIu64 " records, commit %" PRIu64 "): this replica has run before; fix: restart it without --bootstrap (it replays its journal), or, to start a NEW cluster, empty every replica's data dir first\n",
			dir, rp->records, rp->commit);
		journal_close(j);
		exit(1);
	}
	if (!a->bootstrap && !a->join && rp->records == 0 && !rp->repair && joined(cfg, a)) {
		env_logf(ENV_LOG_ERROR, "data dir %s holds no journal, and replica %ld is not one of the cluster's initial voters (replicas = %u in %s: ids 0..%u): a replica added at run time starts the first time with --join; fix: paxwired --config %s --id %ld --data-dir %s --join (docs/operations.md, \"Membership changes\")\n",
			dir, a->id, cfg->n_replicas, cfg->path, cfg->n_replicas - 1u, cfg->path, a->id,
			dir);
		journal_close(j);
		exit(1);
	}
	if (!a->bootstrap && !a->join && rp->records == 0 && !rp->repair) {
		env_logf(ENV_LOG_ERROR, "data dir %s holds no journal, and a start without --bootstrap is a restart: from an empty dir this replica would forget the promises and votes of its last run; fix: add --bootstrap if this is the first start of a new cluster; if this replica ran before and its data dir was lost, add --rejoin (it repairs from its peers: docs/operations.md, \"Replace a lost data dir\")\n",
			dir);
		journal_close(j);
		exit(1);
	}
	return j;
}

/** Logs what the journal's replay found, in one line (a warning when it cut a torn
 *  tail: where, how many bytes, what the first bad record looked like). */
static void log_replay(const struct dp_ctx *d, const struct journal_replay *rp)
{
	char torn[128 + JOURNAL_WHY_BYTES];
	if (rp->torn_bytes > 0)
		snprintf(torn, sizeof(torn),
			 "torn tail cut: %" PRIu64 " bytes at journal-%016" PRIx64 " offset %" PRIu64 " (%s)",
			 rp->torn_bytes, rp->torn_segment, rp->torn_offset, rp->torn_why);
	else
		snprintf(torn, sizeof(torn), "no torn tail");
	dp_log(d, rp->torn_bytes > 0 ? DP_LOG_WARN : DP_LOG_INFO,
	       "journal %s: replay read %" PRIu64 " records (%" PRIu64 " slot records, %" PRIu64 " slots, %" PRIu64 " bytes, %" PRIu64 " segment%s): promised ballot %" PRIu64 ".%u, commit %" PRIu64 ", highest slot %" PRIu64 "; %s%s",
	       d->data_dir, rp->records, rp->slot_records, rp->slots, rp->bytes, rp->segments,
	       rp->segments == 1 ? "" : "s", px_ballot_round(rp->promised),
	       px_ballot_node(rp->promised), rp->commit, rp->hi, torn,
	       rp->torn_bytes > 0 ? " (the last write before a crash, never reported durable)" : "");
}

/** A repair start: says loudly what was damaged, where its files went, and what happens
 *  now (the replica recovers from its peers before it votes). */
static void log_repair(const struct dp_ctx *d, const struct journal_replay *rp)
{
	if (rp->damaged) {
		dp_log(d, DP_LOG_ERROR, "journal %s is DAMAGED in the middle: %s", d->data_dir,
		       rp->damage);
		dp_log(d, DP_LOG_ERROR,
		       "journal %s: the damage is at journal-%016" PRIx64 " offset %" PRIu64 "; every journal file was moved, unchanged, into %s/%s for inspection (nothing deleted; remove it once no longer needed)",
		       d->data_dir, rp->damaged_segment, rp->damaged_offset, d->data_dir, rp->aside);
	} else {
		dp_log(d, DP_LOG_WARN,
		       "journal %s: a repair from the peers begun at an earlier start has not completed (the '" JOURNAL_REPAIRING_NAME "' file): it starts over",
		       d->data_dir);
	}
	dp_log(d, DP_LOG_WARN,
	       "REPAIR: this replica can no longer vouch for the promises and votes its journal held: it starts with an empty journal and state, recovers from %u peers (crash vectors: docs/consistency.md, \"Repair of a damaged journal\") before it votes again, then catches up (or fetches a snapshot) like any lagging replica; it needs a majority of the others running",
	       (unsigned)(d->pxc.n_replicas / 2u + 1u));
}

/** Durable restart: the node rebuilt from the journal (node_restore), before the first
 *  node_recv or node_tick. Exits with a message on failure. */
static void restore_node(struct dp_ctx *d, const struct journal_replay *rp,
			 const struct arenas *ar)
{
	struct node_journal nj = { 0 };
	struct node_restored r;
	journal_as_node(d->j, &nj);
	/* The newest snapshot that validates, if any: the state is restored from it and the
	 * journal replayed above it (the journal below it may be compacted away). */
	if (ar->snap != NULL) {
		struct snapstore_loaded ld;
		char err[SNAPSTORE_ERR_BYTES];
		int src = snapstore_load_newest(d->data_dir, ar->snap, ar->snap_len, &ld, err,
						sizeof(err));
		for (uint32_t k = 0; k < ld.skipped && k < SNAPSTORE_SKIP_REPORT_MAX; k++)
			dp_log(d, DP_LOG_WARN, "snapshot skipped: %s", ld.why[k]);
		if (src == 0) {
			nj.snapshot = ar->snap;
			nj.snapshot_len = ld.len;
			dp_log(d, DP_LOG_INFO, "restoring from the snapshot of slot %" PRIu64 " (%" PRIu64 " bytes)",
			       ld.slot, ld.len);
		} else if (src == -ENOBUFS) {
			dp_log(d, DP_LOG_ERROR,
			       "the newest snapshot in %s needs %" PRIu64 " bytes, this replica's buffer holds %zu: the service's sizes or sessions in the cluster file changed; fix: restore the sizes it was written with",
			       d->data_dir, ld.len, ar->snap_len);
			exit(1);
		} else if (src != -ENOENT) {
			dp_log(d, DP_LOG_ERROR, "%s; fix: check the data dir %s", err, d->data_dir);
			exit(1);
		}
		/* The journal holds every slot above the snapshot only if the snapshot is at
		 * or above the compaction floor (docs/storage.md, "Start-up with snapshots"). */
		uint64_t from = src == 0 ? ld.slot : 0;
		if (rp->floor > from)
			dp_log(d, DP_LOG_WARN,
			       "the journal was compacted below slot %" PRIu64 " but the newest valid snapshot is %s%" PRIu64 ": slots %" PRIu64 "..%" PRIu64 " are gone from this data dir; this replica applies what it holds and gets the rest from its peers (catch-up, or state transfer)",
			       rp->floor, src == 0 ? "of slot " : "none, slot ", from, from + 1,
			       rp->floor);
	}
	int rc = node_restore(d->nd, &nj, &r);
	if (rc != 0) {
		dp_log(d, DP_LOG_ERROR, "node_restore: %s; a bug: report it with the journal in %s",
		       strerror(-rc), d->data_dir);
		exit(1);
	}
	d->persisted_seq = d->sync_seq = 0;   /* seqs start again with each process */
	dp_log(d, DP_LOG_INFO,
	       "restored: applied %" PRIu64 " slots (the chosen prefix%s; the journal's commit is %" PRIu64 "), votes above them: %" PRIu64 ", slots of history kept for catch-up: %" PRIu64 "; promised ballot %" PRIu64 ".%u; incarnation %" PRIu32,
	       r.replayed, nj.snapshot != NULL ? ", above the snapshot" : "", rp->commit,
	       r.restored, r.history,
	       px_ballot_round(px_promised(d->r)), px_ballot_node(px_promised(d->r)),
	       px_incarnation(d->r, d->self));
	if (r.rejected > 0 || px_needs_state_transfer(d->r))
		dp_log(d, DP_LOG_WARN,
		       "restored: %" PRIu64 " slots beyond the window (window_slots = %" PRIu32 ") could not be held: this replica fetches a snapshot from a peer (state transfer) before it applies again",
		       r.rejected, d->pxc.window_slots);
}

/** Sleeps about a millisecond (start-up waits for the disk). */
/* Free hugepages of every size, from /proc/meminfo (HugePages_Free counts the default
 * size; hugepages-*kB/free_hugepages every size). -1: unknown. */
static long hugepages_free(void)
{
	static const char *const sizes[] = { "2048kB", "1048576kB" };
	long total = -1;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char path[96];
		FILE *f;
		long n;

		snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%s/free_hugepages",
			 sizes[i]);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fscanf(f, "%ld", &n) == 1)
			total = (total < 0 ? 0 : total) + n;
		fclose(f);
	}
	return total;
}

/* Why rte_eal_init failed, in the operator's terms (issue 15: DPDK's own text, e.g.
 * "Permission denied" when no hugepages are reserved, points the wrong way), and the fix.
 * Reads the EAL arguments and the host; prints one line per finding. */
static void eal_diagnose(int argc, char **argv)
{
	bool no_huge = false, found = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--no-huge") == 0)
			no_huge = true;
	}
	if (!no_huge && hugepages_free() == 0) {
		env_logf(ENV_LOG_ERROR, "no free hugepages on this host (free_hugepages is 0 for every size under /sys/kernel/mm/hugepages); fix: deploy/setup-host --hugepages 1024 --apply (or: echo 1024 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages), or, in a lab without a NIC, add --no-huge --no-pci before \"--\"\n");
		found = true;
	}
	for (int i = 1; i + 1 < argc; i++) {
		const char *addr;
		char dev[160], drv[256];
		ssize_t n;

		if (strcmp(argv[i], "-a") != 0 && strcmp(argv[i], "--allow") != 0)
			continue;
		addr = argv[i + 1];
		snprintf(dev, sizeof(dev), "/sys/bus/pci/devices/%.*s", 64, addr);
		if (access(dev, F_OK) != 0) {
			env_logf(ENV_LOG_ERROR, "-a %s: no such PCI device on this host (lspci -D lists them; the address has the form 0000:3b:00.0)\n",
				addr);
			found = true;
			continue;
		}
		snprintf(dev, sizeof(dev), "/sys/bus/pci/devices/%.*s/driver", 64, addr);
		n = readlink(dev, drv, sizeof(drv) - 1);
		drv[n > 0 ? n : 0] = '\0';
		const char *name = strrchr(drv, '/') ? strrchr(drv, '/') + 1 : drv;
		if (n <= 0 || (strcmp(name, "vfio-pci") != 0 && strcmp(name, "uio_pci_generic") != 0 &&
			       strcmp(name, "igb_uio") != 0 && strcmp(name, "mlx5_core") != 0)) {
			env_logf(ENV_LOG_ERROR, "-a %s: the port is bound to %s, not vfio-pci; fix: deploy/setup-host --pci %s --apply (or: modprobe vfio-pci; dpdk-devbind.py --bind=vfio-pci %s)\n",
				addr, n > 0 ? name : "no driver", addr, addr);
			found = true;
		}
	}
	if (!found)
		env_logf(ENV_LOG_ERROR, "fix: correct the EAL arguments before \"--\" (DPDK's EAL parameters: https://doc.dpdk.org/guides-22.11/linux_gsg/linux_eal_parameters.html); deploy/setup-host checks the host (hugepages, binding, cores)\n");
}

static void nap_1ms(void)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = 1000000 };
	nanosleep(&ts, NULL);
}

/** Reads n bytes at off, or exits naming the backup and the cause. */
static void read_backup_or_die(int fd, const char *path, uint8_t *p, uint64_t n, uint64_t off)
{
	while (n > 0) {
		size_t want = n > (1u << 30) ? (1u << 30) : (size_t)n;
		ssize_t r = pread(fd, p, want, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			env_logf(ENV_LOG_ERROR, "--restore %s: read at offset %" PRIu64 ": %s; fix: the path of a whole backup file (pwctl snapshot save FILE)\n",
				path, off, r < 0 ? strerror(errno) : "unexpected end of file");
			exit(1);
		}
		p += r;
		n -= (uint64_t)r;
		off += (uint64_t)r;
	}
}

/**
 * --restore FILE, first look (before the journal and the ports): the file opens, its
 * header checks (wire/wire_backup.h: the magic, the version, the header's hash, the
 * bounds) and its size is the header's. Exits with a message naming the cause and the
 * fix otherwise. @return the open file (restore_backup reads the rest).
 */
static int open_backup(const char *path, struct wire_backup_hdr *h)
{
	uint8_t hdr[WIRE_BACKUP_HDR_BYTES];
	const char *why = NULL;
	struct stat sb;

	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) != 0) {
		env_logf(ENV_LOG_ERROR, "--restore %s: %s; fix: the path of a backup file (pwctl snapshot save FILE), readable by this user\n",
			path, strerror(errno));
		exit(1);
	}
	if ((uint64_t)sb.st_size < sizeof(hdr)) {
		env_logf(ENV_LOG_ERROR, "--restore %s: %" PRIu64 " bytes, shorter than a backup's header (%u): not a backup file; fix: the path of a backup file (pwctl snapshot save FILE)\n",
			path, (uint64_t)sb.st_size, WIRE_BACKUP_HDR_BYTES);
		exit(1);
	}
	read_backup_or_die(fd, path, hdr, sizeof(hdr), 0);
	int rc = wire_backup_decode(hdr, sizeof(hdr), h, &why);
	if (rc != 0) {
		env_logf(ENV_LOG_ERROR, "--restore %s: %s; fix: %s\n", path, why,
			rc == -ENOTSUP ? "restore it with the paxwired version that wrote it"
				       : "restore another copy of the backup, or take one again");
		exit(1);
	}
	if ((uint64_t)sb.st_size != sizeof(hdr) + h->len) {
		env_logf(ENV_LOG_ERROR, "--restore %s: the file is %" PRIu64 " bytes, its header says %" PRIu64 " (a %" PRIu64 "-byte snapshot after it): cut short or extended; fix: restore another copy of the backup, or take one again\n",
			path, (uint64_t)sb.st_size, (uint64_t)sizeof(hdr) + h->len, h->len);
		exit(1);
	}
	return fd;
}

/**
 * --bootstrap --restore FILE: this replica of a NEW cluster starts from a backup (pwctl
 * snapshot save; docs/operations.md, "Backup and restore"), before the loop runs. The
 * snapshot (fd, whose header open_backup checked) is read into the snapshot buffer and
 * checked (its size against the buffer, its content hash, its own slot). Durable mode:
 * it is saved to the data dir first and waited for, so that a restart starts from it.
 * Then the node starts from it (node_start_from: every slot up to the backup's applied
 * and chosen, the sessions back), and in durable mode the journal's first record (the
 * commit point) is waited for, so that a restart without --bootstrap finds a journal.
 * Closes fd. Exits with a message naming the cause and the fix on any failure.
 */
static void restore_backup(struct dp_ctx *d, const char *path, int fd,
			   const struct wire_backup_hdr *h, const struct arenas *ar)
{
	const struct cfg_cluster *cfg = d->cfg;
	const char *why = NULL;
	int rc;

	if (ar->snap == NULL) {
		env_logf(ENV_LOG_ERROR, "--restore %s: service %s has no snapshots, so no replica of it can start from one; fix: start the new cluster with the service the backup was taken of (kv, stream, or a plugin with snapshots)\n",
			path, cfg->service_name);
		exit(1);
	}
	if (h->len > ar->snap_len) {
		env_logf(ENV_LOG_ERROR, "--restore %s: its snapshot is %" PRIu64 " bytes, this replica's snapshot buffer holds %zu (the bound of service %s's sizes and of sessions = %" PRIu32 " in %s); fix: give the new cluster sizes at least those of the cluster the backup was taken of (kv_keys, kv_key_bytes, kv_value_bytes or stream_records, stream_bytes; sessions)\n",
			path, h->len, ar->snap_len, cfg->service_name, cfg->sessions, cfg->path);
		exit(1);
	}
	read_backup_or_die(fd, path, ar->snap, h->len, WIRE_BACKUP_HDR_BYTES);
	close(fd);
	uint64_t slot = 0, chain = 0;
	if (wire_backup_check(h, ar->snap, h->len, &why) != 0 ||
	    !px_snapshot_peek(ar->snap, h->len, &slot, &chain) || slot != h->slot) {
		env_logf(ENV_LOG_ERROR, "--restore %s: %s; fix: restore another copy of the backup, or take one again\n",
			path, why != NULL ? why : "the snapshot inside is not one of the header's slot");
		exit(1);
	}
	/* The new cluster's log resumes PX_RESTORE_SLOT_GAP slots later: no log position
	 * after the backup is issued again, so a session a client registered there in the
	 * old cluster is never another client's here (px_snapshot_rebase). Every replica
	 * does the same with the same file. */
	uint64_t backup_slot = slot;
	if (slot > PX_SLOT_MAX - PX_RESTORE_SLOT_GAP ||
	    px_snapshot_rebase(ar->snap, h->len, slot + PX_RESTORE_SLOT_GAP) != 0) {
		env_logf(ENV_LOG_ERROR, "--restore %s: slot %" PRIu64 " leaves no room for the new cluster's log; fix: none (a log this long cannot be restored)\n",
			path, slot);
		exit(1);
	}
	slot += PX_RESTORE_SLOT_GAP;
	uint64_t snap_id = wire_snap_hash(ar->snap, h->len);
	if (d->j != NULL) {
		/* A snapshot of a higher slot from an earlier run would be the one a restart
		 * loads (the newest): refused. One of the same slot is replaced. */
		uint64_t old_slot = 0, old_len = 0;
		if (snapstore_newest_info(d->data_dir, &old_slot, &old_len) == 0 && old_slot > slot) {
			env_logf(ENV_LOG_ERROR, "--restore %s: data dir %s holds a snapshot of slot %" PRIu64 " from an earlier run, above the backup's %" PRIu64 "; fix: empty every replica's data dir before starting a new cluster\n",
				path, d->data_dir, old_slot, slot);
			exit(1);
		}
		/* Saved first, and waited for: the journal must not say where the log starts
		 * before the snapshot that starts it is durable. */
		struct snapstore_done done;
		rc = snapstore_save(d->ss, slot, snap_id, ar->snap, h->len);
		if (rc != 0) {
			env_logf(ENV_LOG_ERROR, "--restore %s: saving the snapshot to %s: %s\n", path,
				d->data_dir, strerror(-rc));
			exit(1);
		}
		/* Bounded by the disk: the writer ends every save, well or not. */
		while (!snapstore_poll(d->ss, &done))
			nap_1ms();
		if (done.err != 0) {
			env_logf(ENV_LOG_ERROR, "--restore %s: saving the snapshot: %s; fix: check the disk of %s (free space, permissions), empty the data dir, start again\n",
				path, done.why, d->data_dir);
			exit(1);
		}
		d->snap_saved_slot = slot;
	}
	rc = node_start_from(d->nd, ar->snap, h->len);
	if (rc == -EBADMSG) {
		env_logf(ENV_LOG_ERROR, "--restore %s: service %s refused the snapshot (more sessions or a larger state than this cluster's sizes hold, or a snapshot of another service); fix: start the new cluster with the service and sizes (and sessions) of the cluster the backup was taken of\n",
			path, cfg->service_name);
		exit(1);
	}
	if (rc != 0) {
		env_logf(ENV_LOG_ERROR, "node_start_from: %s; a bug: report it\n", strerror(-rc));
		exit(1);
	}
	if (d->j != NULL) {
		/* The core's first persist request records the commit point: wait until the
		 * journal holds it, so that a restart without --bootstrap is a restart. Bounded
		 * by the disk (a failure stops the writer, journal_failed says so). */
		uint64_t s;
		while ((s = journal_poll(d->j)) < d->sync_seq) {
			if (journal_failed(d->j) != NULL) {
				env_logf(ENV_LOG_ERROR, "--restore %s: %s; fix: check the disk of %s, empty the data dir, start again\n",
					path, journal_failed(d->j), d->data_dir);
				exit(1);
			}
			nap_1ms();
		}
		if (s > d->persisted_seq) {
			d->persisted_seq = s;
			node_persisted(d->nd, s);
		}
	}
	dp_log(d, DP_LOG_INFO,
	       "restored from backup %s: the state after slot %" PRIu64 " (%" PRIu64 " bytes, id %016" PRIx64 ", taken of cluster %" PRIu32 "%s)%s; the log resumes 2^32 slots later (no session id reused): the next slot is %" PRIu64,
	       path, backup_slot, h->len, h->id, h->cluster_id,
	       h->cluster_id == cfg->cluster_id ? ", this cluster's id" : "",
	       d->j != NULL ? ", saved to the data dir" : "", slot + 1u);
}

/**
 * This start's life (docs/security.md, "Lives"): the clock's (auth_life_now), and in
 * durable mode at least one above the last start's, kept in DATA_DIR/auth-life (written
 * and synced before any datagram goes out): a clock that stepped back across the
 * restart cannot make the peers take this start for an older one.
 */
static uint64_t start_life(const struct dp_ctx *d)
{
	uint64_t life = auth_life_now(), last = 0;
	char path[4096], buf[32];

	if (d->data_dir == NULL)
		return life;
	snprintf(path, sizeof(path), "%s/auth-life", d->data_dir);
	FILE *f = fopen(path, "re");
	if (f != NULL) {
		if (fgets(buf, sizeof(buf), f) != NULL)
			last = strtoull(buf, NULL, 10);
		fclose(f);
	}
	if (life <= last) {
		dp_log(d, DP_LOG_WARN, "the clock is behind this replica's last start (%" PRIu64
		       " <= %" PRIu64 "): its life follows the last one instead", life, last);
		life = last + 1u;
	}
	char tmp[4100];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int n = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", life);
	if (fd < 0 || write(fd, buf, (size_t)n) != n || fsync(fd) != 0 || close(fd) != 0 ||
	    rename(tmp, path) != 0) {
		env_logf(ENV_LOG_ERROR, "%s: %s; fix: check the data dir (free space, permissions)\n",
			path, strerror(errno));
		exit(1);
	}
	return life;
}

/** Authentication (docs/security.md): the cluster key file the cluster file names, or
 *  auth = off said loudly. @return 0, or 1 with a message (the exit code). */
static int load_keys(const struct cfg_cluster *cfg, struct auth_keys *k)
{
	char err[512];

	if (cfg->auth_off) {
		env_logf(ENV_LOG_WARN, "WARNING: %s:%" PRIu32 ": auth = off: this replica takes every datagram as it comes; anyone who can send to its ports can forge votes, commands and admin requests (a lab on a trusted network only; docs/security.md)\n",
			cfg->path, cfg_key_line(cfg->path, "cluster", "auth"));
		return 0;
	}
	if (auth_init() != 0) {
		env_logf(ENV_LOG_ERROR, "libsodium failed to initialise; fix: check the libsodium23 package\n");
		return 1;
	}
	if (!auth_available()) {
		env_logf(ENV_LOG_ERROR, "authentication uses AES-256-GCM, which libsodium runs only on a CPU with AES-NI and PCLMUL, and this one lacks them; fix: run the replicas on x86-64 CPUs that have both (any since 2010), or, for a lab only, auth = off in %s\n",
			cfg->path);
		return 1;
	}
	if (auth_keys_load(cfg->key_file, k, err, sizeof(err)) != 0) {
		env_logf(ENV_LOG_ERROR, "key_file (%s:%" PRIu32 "): %s\n", cfg->path,
			cfg_key_line(cfg->path, "cluster", "key_file"), err);
		return 1;
	}
	if (k->kind != AUTH_KIND_CLUSTER) {
		env_logf(ENV_LOG_ERROR, "key_file %s is a %s key file (id %u), not the cluster key; fix: key_file = the file `pwctl keygen FILE` made (client keys are for clients)\n",
			cfg->key_file, k->kind == AUTH_KIND_ADMIN ? "admin" : "client", k->id);
		return 1;
	}
	return 0;
}

/** Builds everything dp_run needs. Exits with a message on any failure. */
static void dp_init(struct dp_ctx *d, const struct cfg_cluster *cfg, const struct args *a,
		    struct arenas *ar)
{
	uint8_t id = (uint8_t)a->id;
	d->cfg = cfg;
	d->self = id;
	d->log_level = a->log_level;
	d->tick_ns = (uint64_t)cfg->tick_us * 1000u;
	d->stats_interval_ns = (uint64_t)a->stats_interval_ms * 1000000u;
	d->stop = &g_stop;
	d->stats_now = &g_stats_now;
	d->hup = &g_hup;

	/* The core's configuration */
	cfg_to_px(cfg, id, &d->pxc);
	d->pxc.seed = random_u64();
	/* Not an initial voter (--join, or a restart of a replica that joined): it knows no
	 * membership until its journal, its saved snapshot or a state transfer gives it
	 * one, and never campaigns before (px_config.join). */
	d->pxc.join = joined(cfg, a);
	/* Memory mode: a start without --bootstrap is a restart, which recovers before it
	 * votes. Durable mode replays its journal instead, unless the journal was damaged:
	 * then it recovers as a memory-mode restart does (docs/storage.md, "Repair"). */
	bool recover = (d->pxc.durability == PX_MEMORY && !a->bootstrap) || d->repair;
	d->pxc.restarted = recover;
	d->pxc.boot_nonce = recover ? (random_u64() | 1u) : 0;
	const char *why = NULL;
	if (px_config_check(&d->pxc, &why) != 0) {
		env_logf(ENV_LOG_ERROR, "%s: the core refuses this configuration: %s; fix: correct it in the file\n",
			cfg->path, why);
		exit(1);
	}

	/* The service, by name: built in, or a plugin (service_lib). */
	init_service(d, cfg, ar);
	/* The node: the replica, its applier and client sessions, the read-index queue,
	 * the client address table, scratch; one arena. */
	struct node_conf nc = {
		.px = d->pxc,
		.sessions = cfg->sessions,
		.reads_max = NODE_READS_MAX,
		.queue_max = cfg->batch_cmds_max,
		.transfer_chunks_per_tick = cfg->transfer_chunks_per_tick,
		/* Durable mode compacts its journal below saved snapshots: one every 65536
		 * applied slots unless the file says otherwise. */
		.snapshot_every = cfg->snapshot_every != 0 ? cfg->snapshot_every
			: cfg->durability == PX_DURABLE ? PW_DURABLE_SNAPSHOT_EVERY : 0,
		/* --bootstrap: the first start of a new cluster (the bootstrap guard). */
		.fresh = a->bootstrap,
		/* 127 random bits: lo's top bit clear, never the fresh mark (px.h). */
		.bind = { .lo = random_u64() & (UINT64_MAX >> 1), .hi = random_u64() },
		/* Authentication: the cluster key (checked at start: load_keys), this start's
		 * life (above the last start's while the clock does not step back). */
		.keys = cfg->auth_off ? NULL : d->keys,
		.auth_life = cfg->auth_off ? 0 : start_life(d),
		.auth_clients = cfg->auth_clients,
		/* A mesh of point-to-point links cannot reach a member added at run time. */
		.members_fixed = cfg_mesh(cfg) ? MEMBERS_FIXED_MESH : NULL,
	};
	/* Snapshots (state transfer, backups): one buffer as large as the service's and
	 * the session table's bound. A service without snapshots gets none: a replica
	 * that falls behind the window then cannot heal (it says so). */
	if (d->svc.snapshot_max != NULL && d->svc.snapshot != NULL && d->svc.restore != NULL) {
		ar->snap_len = px_snapshot_bytes_max(cfg->sessions, d->svc.snapshot_max(d->svc.ctx));
		ar->snap = mmap(NULL, ar->snap_len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (ar->snap == MAP_FAILED) {
			env_logf(ENV_LOG_ERROR, "cannot map %zu bytes for the snapshot buffer: %s; fix: lower kv_keys or sessions, or allow more virtual memory (ulimit -v)\n",
				ar->snap_len, strerror(errno));
			exit(1);
		}
		nc.snapshot_buf = ar->snap;
		nc.snapshot_bytes = ar->snap_len;
	} else {
		dp_log(d, DP_LOG_WARN,
		       "service %s has no snapshots: a replica that falls behind the log window cannot heal by state transfer",
		       cfg->service_name);
	}
	/* One-sided log writes (docs/rdma.md): the remote-memory context the node registers
	 * its log region in. Control traffic stays on the ports below. */
	if (cfg->log_transport != CFG_LOG_MESSAGE) {
		d->rm = open_rm(cfg, id);
		nc.rm = d->rm;
		nc.rm_ring = cfg->rm_ring;
	}
	size_t nlen = node_arena_bytes(&nc);
	if (nlen == 0) {
		env_logf(ENV_LOG_ERROR, "%s: the node refuses this configuration; fix: check sessions and the [cluster] sizes\n",
			cfg->path);
		exit(1);
	}
	ar->node = alloc_or_die(nlen, "the replica, its log window and client sessions");
	d->nd = node_init(&nc, &d->svc, d->j != NULL ? &dp_node_ops_durable : &dp_node_ops, d,
			  NULL, ar->node, nlen, &why);
	if (d->nd == NULL) {
		env_logf(ENV_LOG_ERROR, "node_init: %s%s%s; fix: check the [cluster] sizes\n",
			strerror(errno), why ? ": " : "", why ? why : "");
		exit(1);
	}
	d->r = node_replica(d->nd);

	/* The ports. Every member the file lists has its address here; ids beyond the
	 * initial voters (members added at run time) are reached over the port peers share
	 * (peer_port_default), except in a mesh, whose ports are one per initial voter. */
	bool dpdk = cfg->transport == CFG_TRANSPORT_DPDK;
	d->members_fixed = cfg_mesh(cfg);
	for (uint8_t j = 0; j < PX_REPLICAS_MAX; j++) {
		if (!((cfg->listed >> j) & 1u))
			continue;
		d->peers[j] = nic_addr_make(cfg->members[j].ip_be, cfg->members[j].port);
		/* dpdk: frames to a member go to its configured MAC (no ARP client here). */
		if (dpdk && cfg->members[j].has_mac)
			memcpy(d->peers[j].mac, cfg->members[j].mac, sizeof(d->peers[j].mac));
		if (j != id && (j < cfg->n_replicas || !d->members_fixed))
			d->peers_known = (uint16_t)(d->peers_known | (1u << j));
	}
	if (!dpdk) {
		/* One kernel socket for peers and clients. */
		open_port(d, cfg, id, NIC_BACKEND_UDP, 0);
		return;
	}
	/* dpdk: one ethdev port per distinct link (a memif mesh has one per peer; a NIC
	 * behind a switch has port_index for everything). clients = dpdk: every other ethdev
	 * port of the process serves clients too (port_index, and e.g. one memif link per
	 * client process); clients = udp: a kernel socket at ip:port instead. */
	const struct cfg_member *me = &cfg->members[id];
	uint16_t eth_of_slot[DP_PORTS_MAX] = { 0 };
	uint16_t n_eth = env_eth_port_count();
	uint32_t want = cfg->n_replicas;   /* peers, then port_index, then the rest */
	if (cfg->clients == CFG_CLIENTS_DPDK)
		want += 1u + n_eth;
	for (uint32_t w = 0; w < want; w++) {
		uint16_t eth;
		if (w < cfg->n_replicas) {
			if (w == id)
				continue;
			eth = me->link[w];
		} else {
			eth = w == cfg->n_replicas ? me->port_index
						   : (uint16_t)(w - cfg->n_replicas - 1u);
		}
		uint8_t slot = 0;
		while (slot < d->n_ports && eth_of_slot[slot] != eth)
			slot++;
		if (slot == d->n_ports) {
			if (d->n_ports >= DP_PORTS_MAX - 1u) {   /* one slot kept for a socket */
				env_logf(ENV_LOG_ERROR, "more than %u ports (the EAL made %u ethdev ports); fix: give replica %u at most %u --vdev/PCI devices\n",
					DP_PORTS_MAX, n_eth, id, DP_PORTS_MAX);
				exit(1);
			}
			eth_of_slot[slot] = eth;
			open_port(d, cfg, id, NIC_BACKEND_DPDK, eth);
		}
		if (w < cfg->n_replicas)
			d->peer_port[w] = slot;
	}
	/* Not a mesh: every link is port_index (opened above as some peer's link), the
	 * port a member added at run time is reached on too. */
	for (uint8_t k = 0; k < d->n_ports && !d->members_fixed; k++)
		if (eth_of_slot[k] == me->port_index)
			d->peer_port_default = k;
	for (uint8_t j = cfg->n_replicas; j < PX_REPLICAS_MAX; j++)
		d->peer_port[j] = d->peer_port_default;
	d->sleep_port = 0;
	if (cfg->clients == CFG_CLIENTS_UDP) {
		d->sleep_port = d->n_ports;
		open_port(d, cfg, id, NIC_BACKEND_UDP, 0);
	}
}

int main(int argc, char **argv)
{
	/* "paxwired [EAL args] -- [app args]": the EAL args (before the first "--") are
	 * kept for rte_eal_init, used only when transport = dpdk. Without any "--", every
	 * argument is an app argument (the udp command line as before). */
	int eal_argc = 0;
	char **eal_argv = argv;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			eal_argc = i;          /* argv[0 .. i): program name + EAL args */
			argv[i] = argv[0];
			argv += i;
			argc -= i;
			break;
		}
	}
	struct args a;
	int rc = parse_args(argc, argv, &a);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	env_log_setup("paxwired", (int)a.id, a.log_format, (enum env_log_level)a.log_level);

	static struct cfg_cluster cfg;
	char err[512];
	if (cfg_load(a.config, &cfg, err, sizeof(err)) != 0) {
		env_logf(ENV_LOG_ERROR, "%s\n", err);
		return 1;
	}
	if (cfg.transport == CFG_TRANSPORT_DPDK && !nic_dpdk_built()) {
		env_logf(ENV_LOG_ERROR, "%s:%" PRIu32 ": transport = dpdk: this paxwired was built without DPDK (meson did not find libdpdk); fix: install DPDK (pkg-config libdpdk) and rebuild, or transport = udp\n",
			cfg.path, cfg_key_line(cfg.path, "cluster", "transport"));
		return 1;
	}
	if (cfg.transport == CFG_TRANSPORT_UDP && eal_argc > 1) {
		env_logf(ENV_LOG_ERROR, "EAL arguments given ('%s' ...) but %s has transport = udp; fix: drop everything before \"--\", or set transport = dpdk\n",
			eal_argv[1], cfg.path);
		return 2;
	}
	if (a.id >= PX_REPLICAS_MAX || !((cfg.listed >> a.id) & 1u)) {
		env_logf(ENV_LOG_ERROR, "--id %ld: %s has no [replica.%ld] (replicas = %u: the initial voters are 0..%u; ids go up to %u); fix: --id N with N in 0..%u, or, for a replica added at run time, add a [replica.N] section with its ip and port to the file and start it with --join\n",
			a.id, cfg.path, a.id, cfg.n_replicas, cfg.n_replicas - 1u,
			PX_REPLICAS_MAX - 1u, cfg.n_replicas - 1u);
		return 1;
	}
	if (a.join && a.id < cfg.n_replicas) {
		env_logf(ENV_LOG_ERROR, "--join --id %ld: replica %ld is one of the cluster's initial voters (replicas = %u in %s), so a replica ran with that id, and a joining replica must take an id no replica ever ran with (the old one's votes would count for the new one); fix: a NEW id above %u with its own [replica.N] section; if this replica's data dir was lost, start it with --rejoin instead\n",
			a.id, a.id, cfg.n_replicas, cfg.path, cfg.n_replicas - 1u);
		return 2;
	}
	bool late = a.id >= cfg.n_replicas;   /* added at run time (--join, then restarts) */
	if ((a.join || late) && cfg.durability != PX_DURABLE) {
		env_logf(ENV_LOG_ERROR, "%s%s: %s:%" PRIu32 ": durability = memory; membership changes (a replica added at run time) need durability = durable (a memory-mode restart recovers from a majority of a membership it may no longer know: docs/consistency.md); fix: run the cluster with durability = durable, or list this replica among the initial voters of a new cluster\n",
			a.join ? "--join" : "--id ", a.join ? "" : argv_id(a.id), cfg.path,
			cfg_key_line(cfg.path, "cluster", "durability"));
		return 2;
	}
	if (late && a.bootstrap) {
		env_logf(ENV_LOG_ERROR, "--bootstrap --id %ld: a new cluster's replicas are its initial voters, ids 0..%u (replicas = %u in %s); fix: start the new cluster with those; a replica added later starts once with --join\n",
			a.id, cfg.n_replicas - 1u, cfg.n_replicas, cfg.path);
		return 2;
	}
	if (late && a.rejoin) {
		env_logf(ENV_LOG_ERROR, "--rejoin --id %ld: replica %ld was added at run time, and a repair from the peers needs a membership this replica cannot know before it has its state; fix: remove it (pwctl remove-member %ld), then add a NEW replica with a new id and an empty data dir (docs/operations.md, \"Replace a dead box\")\n",
			a.id, a.id, a.id);
		return 2;
	}
	if ((a.join || late) && cfg_mesh(&cfg)) {
		env_logf(ENV_LOG_ERROR, "--id %ld%s: %s is a mesh of point-to-point DPDK links (link.J lines: one port per peer, fixed at start), which cannot reach a member added at run time; fix: run the cluster with transport = udp (or DPDK with one port per replica behind a switch: port_index, no link.J) to change its membership online; a memif mesh's membership is fixed: to grow it, start a new cluster that lists every member from a backup (docs/operations.md, \"Backup and restore\")\n",
			a.id, a.join ? " --join" : "", cfg.path);
		return 2;
	}
	if (cfg.durability == PX_DURABLE && a.data_dir == NULL) {
		env_logf(ENV_LOG_ERROR, "%s:%" PRIu32 ": durability = durable keeps a journal on disk, and no --data-dir was given; fix: paxwired --config %s --id %ld --data-dir DIR (one dir per replica, on a local disk, e.g. /var/lib/paxwire/replica-%ld)\n",
			cfg.path, cfg_key_line(cfg.path, "cluster", "durability"), cfg.path, a.id,
			a.id);
		return 2;
	}
	if (cfg.durability == PX_MEMORY && a.data_dir != NULL) {
		env_logf(ENV_LOG_ERROR, "--data-dir %s: %s has durability = memory, which keeps nothing on disk; fix: drop --data-dir, or set durability = durable in [cluster] (every replica alike)\n",
			a.data_dir, cfg.path);
		return 2;
	}
	if (cfg.transport == CFG_TRANSPORT_DPDK) {
		if (eal_argc < 2) {
			env_logf(ENV_LOG_ERROR, "transport = dpdk needs EAL arguments before \"--\"; fix: paxwired --no-huge --no-pci --vdev=net_memif0,role=server,bsize=18432,socket=/tmp/pw.sock -- --config %s --id %ld ...\n",
				cfg.path, a.id);
			return 2;
		}
		if (env_eal_init(eal_argc, eal_argv, err, sizeof(err)) != 0) {
			env_logf(ENV_LOG_ERROR, "the DPDK environment did not start: %s\n", err);
			eal_diagnose(eal_argc, eal_argv);
			return 1;
		}
	}

	/* The cluster key, before anything is opened. */
	static struct auth_keys keys;
	if (load_keys(&cfg, &keys) != 0)
		return 1;

	/* --restore: the file and its header are checked before anything is opened. */
	struct wire_backup_hdr backup = { 0 };
	int backup_fd = a.restore != NULL ? open_backup(a.restore, &backup) : -1;

	(void)mp_init(cfg.transport == CFG_TRANSPORT_DPDK);
	struct dp_ctx *d = alloc_or_die(sizeof(*d), "the loop's context");
	struct arenas ar = { 0 };
	d->keys = &keys;
	/* Durable mode: the journal first. Its lock says at once whether another paxwired
	 * has this replica's data dir, and replay decides whether this start is a restart. */
	struct journal_replay rp;
	memset(&rp, 0, sizeof(rp));
	if (cfg.durability == PX_DURABLE) {
		d->j = open_journal(&cfg, &a, &rp);
		d->data_dir = a.data_dir;
		d->repair = rp.repair;
	}
	dp_init(d, &cfg, &a, &ar);
	/* The start line: what runs, and how it was started; the first line of a start whose
	 * configuration and service were accepted (a refusal before this point is one error
	 * line; with transport = dpdk the EAL's own lines come before it). The config
	 * summary follows once the ports are up. */
	env_logf(ENV_LOG_INFO, "paxwired %s starting (pid %ld): --config %s --id %ld%s%s%s%s%s, log level %s, format %s",
		 PW_VERSION, (long)getpid(), a.config, a.id, a.bootstrap ? " --bootstrap" : "",
		 a.rejoin ? " --rejoin" : "", a.join ? " --join" : "", a.restore != NULL ? " --restore " : "",
		 a.restore != NULL ? a.restore : "",
		 a.log_level == DP_LOG_ERROR ? "error" : a.log_level == DP_LOG_WARN ? "warn" :
		 a.log_level == DP_LOG_INFO ? "info" : "debug",
		 a.log_format == ENV_LOG_JSON ? "json" : "text");
	dp_log(d, DP_LOG_INFO, "arenas: %zu MiB allocated at start-up from %s", mp_allocated() >> 20,
	       mp_source_name(mp_source()));
	if (d->j != NULL && ar.snap != NULL) {
		struct snapstore_conf sc = { .dir = d->data_dir, .keep = 2,
					     .sync = SNAPSTORE_SYNC_FDATASYNC };
		char serr[SNAPSTORE_ERR_BYTES];
		int src = snapstore_open(&sc, &d->ss, serr, sizeof(serr));
		if (src != 0) {
			env_logf(ENV_LOG_ERROR, "%s\n", serr);
			exit(1);
		}
	}
	if (d->j != NULL) {
		log_replay(d, &rp);
		if (rp.repair)
			log_repair(d, &rp);
		else if (!a.bootstrap && !a.join)
			restore_node(d, &rp, &ar);   /* --join: an empty dir, nothing to restore */
	}
	if (a.restore != NULL)
		restore_backup(d, a.restore, backup_fd, &backup, &ar);
	/* The admin stats reply (pwctl stats / metrics) is one REPLY: its longest form must
	 * fit, whatever the counters hold (a programmer error if not: shrink DP_MG_ADMIN). */
	if (dp_metrics_admin_len_max() >= PX_REPLY_BYTES_MAX) {
		env_logf(ENV_LOG_ERROR, "bug: the admin stats reply can reach %u bytes, over "
			"PX_REPLY_BYTES_MAX (%u)\n", dp_metrics_admin_len_max(), PX_REPLY_BYTES_MAX);
		abort();
	}
	if (dp_metrics_line_len_max() >= DP_STATS_LINE_BYTES) {
		env_logf(ENV_LOG_ERROR, "bug: the stats line can reach %u bytes, over "
			"DP_STATS_LINE_BYTES (%u)\n", dp_metrics_line_len_max(), DP_STATS_LINE_BYTES);
		abort();
	}
#if defined(PW_HAVE_DPDK)
	if (cfg.transport == CFG_TRANSPORT_DPDK) {
		/* Static: DPDK's telemetry thread may read it until the process exits. */
		static struct dp_pub pub;
		int tr = dp_telemetry_register(&pub);
		if (tr != 0)
			dp_log(d, DP_LOG_WARN, "DPDK telemetry: /paxwire/* not registered (%s); counters still go to stdout",
			       strerror(-tr));
		else
			d->pub = &pub;
	}
#endif

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop_signal;  /* no SA_RESTART: poll() returns on a signal */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_stats_signal;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_hup_signal;
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* A file-size limit (RLIMIT_FSIZE) then fails the journal's write with EFBIG, a
	 * storage error the loop reports and stops on, rather than killing the process. */
	signal(SIGXFSZ, SIG_IGN);
	/* Adaptive idle sleeps in slices of tens of microseconds; the kernel's default
	 * timer slack (50 us) would stretch each one. 1 us: wake when asked. */
	if (cfg.idle == CFG_IDLE_ADAPTIVE && prctl(PR_SET_TIMERSLACK, 1000ul, 0, 0, 0) != 0)
		dp_log(d, DP_LOG_WARN, "prctl(PR_SET_TIMERSLACK): %s; idle sleeps may run up to 50 us long",
		       strerror(errno));

	/* Microsecond timers (the dedicated-core profile) want a core that polls: with
	 * idle = adaptive the loop would sleep and wake for every tick, a system call each,
	 * and the OS's wake-up latency would stretch the heartbeats it sends. */
	if (cfg.idle == CFG_IDLE_ADAPTIVE && cfg.tick_us < 100)
		dp_log(d, DP_LOG_WARN,
		       "tick_us = %" PRIu32 " with idle = adaptive: the loop sleeps between ticks, a system call per tick, and its heartbeats slip by the OS's wake-up latency; use idle = poll on a dedicated core with microsecond timers (deploy/local-3-dedicated.ini), or tick_us = 100 or more",
		       cfg.tick_us);

	char where[32];
	nic_addr_format(&d->peers[d->self], where, sizeof(where));
	dp_log(d, DP_LOG_INFO,
	       "config: replica %u %s %u, cluster %" PRIu32 ", %s %s (%u port%s, clients over %s), service %s%s%s%s, idle %s, tick %" PRIu32 " us (heartbeat %" PRIu32 ", election %" PRIu32 " ticks), %s",
	       d->self, d->self < cfg.n_replicas ? "of" : "(added at run time) beside initial voters:",
	       cfg.n_replicas, cfg.cluster_id, cfg_transport_name(cfg.transport), where,
	       d->n_ports, d->n_ports == 1 ? "" : "s", cfg_clients_name(cfg.clients),
	       cfg.service_name, cfg.service_lib[0] ? " (plugin " : "", cfg.service_lib,
	       cfg.service_lib[0] ? ")" : "",
	       cfg_idle_name(cfg.idle), cfg.tick_us, d->pxc.heartbeat_ticks, d->pxc.election_ticks,
	       a.bootstrap ? (a.restore != NULL
				  ? (d->j != NULL ? "durable, bootstrap: first start of a new cluster, from a backup"
						  : "bootstrap: first start of a new cluster, from a backup")
				  : d->j != NULL ? "durable, bootstrap: first start of a new cluster"
						 : "bootstrap: first start of a new cluster")
			   : a.join ? "durable, join: a NEW replica of a running cluster; it waits until the leader adds it, then fetches the state"
			   : (d->j != NULL ? "durable, restart: rebuilt from the journal, voting at once"
					   : "restart: recovering from the other replicas before voting"));
	if (a.join)
		dp_log(d, DP_LOG_INFO,
		       "join: waiting to be added; on any host with an admin key: pwctl --config FILE add-member %u %s (it joins as a learner, fetches a snapshot, and the leader promotes it to voter once caught up)",
		       d->self, where);

	int run_rc = dp_run(d);

	dp_stats_print(d, stdout, dp_now_ns(), true);
	if (cfg.transport == CFG_TRANSPORT_DPDK)
		env_runtime_dir_remove();   /* telemetry ends here: nothing left to read */
	int exit_code = run_rc == 0 ? 0 : 1;
	/* A snapshot save still running is abandoned (the previous one stays the newest). */
	snapstore_close(d->ss);
	d->ss = NULL;
	if (d->j != NULL) {
		/* Everything queued is written and synced first. */
		int jrc = journal_close(d->j);
		d->j = NULL;
		if (jrc != 0) {
			if (run_rc == 0)
				dp_log(d, DP_LOG_ERROR,
				       "journal %s: closing: %s: what was queued last may not be durable; fix: check the disk, then restart without --bootstrap (replay keeps what was made durable)",
				       d->data_dir, strerror(-jrc));
			exit_code = 1;
		}
	}
	dp_log(d, exit_code == 0 ? DP_LOG_INFO : DP_LOG_ERROR, "%s",
	       exit_code == 0 ? "stopped"
	       : run_rc == -EPERM ? "stopped: refused by the cluster (see above)"
				  : "stopped: storage failed");
	for (uint8_t k = 0; k < d->n_ports; k++)
		nic_close(d->ports[k]);
	/* shm: its objects go, and every writer's access with them. */
	rm_close(d->rm);
	d->rm = NULL;
	mp_free(ar.node);
	mp_free(ar.service);
	if (ar.snap != NULL)
		munmap(ar.snap, ar.snap_len);
	mp_free(d);
	svc_plugin_close(ar.service_lib);   /* after the service's last use */
	if (cfg.transport == CFG_TRANSPORT_DPDK)
		env_eal_cleanup();
	return exit_code;
}
