/* SPDX-License-Identifier: Apache-2.0
 * Cluster file loader (cfg.h). inih does the tokenizing; this file does the
 * rest: line numbers, section bookkeeping, value checks and the checks between values.
 *
 * inih gives its handler no line number, so the loader feeds inih through its own
 * fgets-style reader (ini_parse_stream) and counts physical lines there: the handler for
 * a key runs while inih processes the line the reader returned last, so `line` in the
 * context is that key's line. The reader also sees every section header (inih calls no
 * handler for them) and refuses the lines inih would misread (indented continuation
 * lines, over-long lines) before inih sees them. After the first error the reader
 * returns NULL, which ends inih's loop, so the first error is the one reported.
 */
#include "cfg.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "px.h"

/* ---------------------------------------------------------------------------------- */
/* Keys                                                                                */

enum key_kind {
	K_U32,          /* a uint32_t field of struct cfg_cluster at `off` */
	K_REPLICAS,
	K_TRANSPORT,
	K_DURABILITY,
	K_IDLE,
	K_SERVICE,
	K_CLIENTS,
	K_SERVICE_LIB,
	K_KEY_FILE,
	K_AUTH,
	K_LOG_TRANSPORT,
	K_RM_DEVICE,
};

struct cluster_key {
	const char *name;
	enum key_kind kind;
	uint32_t min, max;
	bool pow2;
	size_t off;
};

#define U32(name, field, lo, hi, p2) \
	{ name, K_U32, lo, hi, p2, offsetof(struct cfg_cluster, field) }

/* The index into this table is also the index into struct ld's cluster_line. */
static const struct cluster_key cluster_keys[] = {
	U32("id", cluster_id, 1, UINT32_MAX, false),
	{ "replicas", K_REPLICAS, 1, PX_REPLICAS_MAX, false, 0 },
	{ "transport", K_TRANSPORT, 0, 0, false, 0 },
	{ "durability", K_DURABILITY, 0, 0, false, 0 },
	U32("heartbeat_ms", heartbeat_ms, 1, CFG_HEARTBEAT_MS_MAX, false),
	U32("election_ms", election_ms, 2, CFG_ELECTION_MS_MAX, false),
	U32("tick_us", tick_us, CFG_TICK_US_MIN, CFG_TICK_US_MAX, false),
	U32("window_slots", window_slots, PX_WINDOW_MIN, PX_WINDOW_MAX, true),
	U32("pipeline_slots", pipeline_slots, 1, PX_PIPELINE_MAX, false),
	U32("batch_cmds_max", batch_cmds_max, 1, PX_BATCH_CMDS_MAX, false),
	U32("slot_bytes", slot_bytes, PX_BATCH_HDR_BYTES + PX_CMD_HDR_BYTES + PX_CMD_BYTES_MAX,
	    PX_SLOT_BYTES_MAX, false),
	U32("sessions", sessions, 1, PX_SESSIONS_MAX, false),
	U32("kv_keys", kv_keys, 1, CFG_KV_KEYS_MAX, false),
	{ "idle", K_IDLE, 0, 0, false, 0 },
	{ "service", K_SERVICE, 0, 0, false, 0 },
	U32("kv_key_bytes", kv_key_bytes, 1, CFG_KV_KEY_BYTES_MAX, false),
	U32("kv_value_bytes", kv_value_bytes, 0, CFG_KV_VALUE_BYTES_MAX, false),
	U32("stream_records", stream_records, 1, CFG_STREAM_RECORDS_MAX, true),
	U32("stream_bytes", stream_bytes, CFG_STREAM_BYTES_MIN, CFG_STREAM_BYTES_MAX,
	    false),
	{ "clients", K_CLIENTS, 0, 0, false, 0 },
	U32("stages", stages, 1, 2, false),
	{ "service_lib", K_SERVICE_LIB, 0, 0, false, 0 },
	U32("transfer_chunks_per_tick", transfer_chunks_per_tick, 1, PX_TRANSFER_CHUNKS_MAX,
	    false),
	U32("snapshot_every", snapshot_every, 0, UINT32_MAX, false),
	{ "key_file", K_KEY_FILE, 0, 0, false, 0 },
	{ "auth", K_AUTH, 0, 0, false, 0 },
	U32("auth_clients", auth_clients, 8, 65536, true),
	U32("heartbeat_us", heartbeat_us, 1, CFG_HEARTBEAT_US_MAX, false),
	U32("election_us", election_us, 2, CFG_ELECTION_US_MAX, false),
	{ "log_transport", K_LOG_TRANSPORT, 0, 0, false, 0 },
	U32("rm_ring", rm_ring, 8, 1024, true),
	{ "rm_device", K_RM_DEVICE, 0, 0, false, 0 },
	U32("rm_port", rm_port, 1, 255, false),
	U32("rm_gid_index", rm_gid_index, 0, 255, false),
};
#undef U32

#define N_CLUSTER_KEYS (sizeof(cluster_keys) / sizeof(cluster_keys[0]))
_Static_assert(N_CLUSTER_KEYS == 34, "CK_RM_GID_INDEX below is the last key's index");

enum ck {  /* indices of the keys the cross-checks name */
	CK_ID = 0,
	CK_REPLICAS = 1,
	CK_TRANSPORT = 2,
	CK_HEARTBEAT = 4,
	CK_ELECTION = 5,
	CK_TICK = 6,
	CK_WINDOW = 7,
	CK_PIPELINE = 8,
	CK_KV_KEYS = 12,
	CK_SERVICE = 14,
	CK_KV_KEY_BYTES = 15,
	CK_KV_VALUE_BYTES = 16,
	CK_STREAM_RECORDS = 17,
	CK_STREAM_BYTES = 18,
	CK_CLIENTS = 19,
	CK_STAGES = 20,
	CK_SERVICE_LIB = 21,
	CK_TRANSFER_CHUNKS = 22,
	CK_SNAPSHOT_EVERY = 23,
	CK_KEY_FILE = 24,
	CK_AUTH = 25,
	CK_AUTH_CLIENTS = 26,
	CK_HEARTBEAT_US = 27,
	CK_ELECTION_US = 28,
	CK_LOG_TRANSPORT = 29,
	CK_RM_RING = 30,
	CK_RM_DEVICE = 31,
	CK_RM_PORT = 32,
	CK_RM_GID_INDEX = 33,
};

enum mk { MK_IP, MK_PORT, MK_MAC, MK_PORT_INDEX, MK_MAX };
static const char *const member_keys[MK_MAX] = { "ip", "port", "mac", "port_index" };

#define CLUSTER_KEY_LIST                                                                 \
	"id, replicas, transport, durability, heartbeat_ms, election_ms, tick_us, "        \
	"window_slots, pipeline_slots, batch_cmds_max, slot_bytes, sessions, kv_keys, "     \
	"idle, service, kv_key_bytes, kv_value_bytes, stream_records, stream_bytes, "  \
	"clients, stages, service_lib, transfer_chunks_per_tick, snapshot_every, "  \
	"key_file, auth, auth_clients, heartbeat_us, election_us, log_transport, rm_ring, "  \
	"rm_device, rm_port, rm_gid_index"

/* ---------------------------------------------------------------------------------- */
/* Loader context                                                                      */

enum sec { SEC_NONE, SEC_CLUSTER, SEC_MEMBER, SEC_SERVICE };

struct ld {
	struct cfg_cluster *cfg;
	const char *path;
	FILE *f;
	char *err;
	size_t errlen;
	bool failed;
	uint32_t line;       /**< physical line of the chunk the reader returned last */
	uint32_t next_line;  /**< line the next chunk starts on */
	bool key_since_sec;  /**< a key was read since the last section header (inih's
	                          prev_name: an indented line would continue it) */
	enum sec sec;        /**< section of the line being read */
	uint8_t member;      /**< SEC_MEMBER: its id */
	/* Where things were seen; 0 = not seen. */
	uint32_t cluster_sec_line;
	uint32_t cluster_line[N_CLUSTER_KEYS];
	uint32_t member_sec_line[PX_REPLICAS_MAX];
	uint32_t member_line[PX_REPLICAS_MAX][MK_MAX];
	uint32_t link_line[PX_REPLICAS_MAX][PX_REPLICAS_MAX];   /**< [member][peer] */
	/** The [service.NAME] section: its name ("service.NAME") and line (0: none). */
	char svc_sec[64];   /* check_line's section name buffer */
	uint32_t svc_sec_line;
};

__attribute__((format(printf, 3, 4))) static int fail(struct ld *l, uint32_t line,
						      const char *fmt, ...)
{
	if (l->failed)
		return 0;
	l->failed = true;
	if (l->err == NULL || l->errlen == 0)
		return 0;
	int n = snprintf(l->err, l->errlen, "%s:%" PRIu32 ": ", l->path, line);
	if (n >= 0 && (size_t)n < l->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(l->err + n, l->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return 0;  /* inih: a handler's 0 means "error" */
}

/* ---------------------------------------------------------------------------------- */
/* Value parsing                                                                       */

/** Strict decimal u32: digits only, no sign, no spaces, no trailing text. */
static bool parse_u32(const char *v, uint32_t *out)
{
	if (*v == '\0' || strlen(v) > 10)
		return false;
	uint64_t x = 0;
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		x = x * 10u + (uint64_t)(*p - '0');
	}
	if (x > UINT32_MAX)
		return false;
	*out = (uint32_t)x;
	return true;
}

static bool is_pow2(uint32_t x) { return x != 0 && (x & (x - 1)) == 0; }

/** A service name: 1..CFG_SERVICE_NAME_BYTES - 1 characters of [a-z0-9_], a
 *  letter first (services/svc_registry.c's svc_name_ok, which config/ cannot call). */
static bool service_name_ok(const char *v)
{
	size_t n = strlen(v);
	if (n == 0 || n >= CFG_SERVICE_NAME_BYTES || v[0] < 'a' || v[0] > 'z')
		return false;
	return strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static bool parse_mac(const char *v, uint8_t mac[6])
{
	if (strlen(v) != 17)
		return false;
	for (int i = 0; i < 6; i++) {
		const char *p = v + 3 * i;
		if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]))
			return false;
		if (i < 5 && p[2] != ':')
			return false;
		char hex[3] = { p[0], p[1], '\0' };
		mac[i] = (uint8_t)strtoul(hex, NULL, 16);
	}
	return true;
}

/** An example value of a u32 key for fix texts: its default, or its minimum for the
 *  keys without a default (id). */
static uint32_t key_example(const struct cluster_key *k)
{
	struct cfg_cluster d;
	cfg_defaults(&d);
	uint32_t v;
	memcpy(&v, (const uint8_t *)&d + k->off, sizeof(v));
	return v < k->min ? k->min : v;
}

/* ---------------------------------------------------------------------------------- */
/* Handler: one key = value                                                            */

static int on_cluster_key(struct ld *l, const char *name, const char *value)
{
	size_t i;
	for (i = 0; i < N_CLUSTER_KEYS; i++)
		if (strcmp(cluster_keys[i].name, name) == 0)
			break;
	if (i == N_CLUSTER_KEYS)
		return fail(l, l->line, "unknown key '%s' in [cluster]; fix: use one of " CLUSTER_KEY_LIST,
			    name);
	const struct cluster_key *k = &cluster_keys[i];
	if (l->cluster_line[i] != 0)
		return fail(l, l->line, "duplicate key '%s' (first on line %" PRIu32 "); fix: keep one '%s' line in [cluster]",
			    name, l->cluster_line[i], name);
	l->cluster_line[i] = l->line;
	struct cfg_cluster *c = l->cfg;
	uint32_t x = 0;

	switch (k->kind) {
	case K_U32:
		if (!parse_u32(value, &x) || x < k->min || x > k->max || (k->pow2 && !is_pow2(x)))
			return fail(l, l->line, "%s = %s: not a whole number %sin [%" PRIu32 ", %" PRIu32 "]; fix: %s = <%s%" PRIu32 "..%" PRIu32 ">, e.g. %s = %" PRIu32,
				    name, value, k->pow2 ? "that is a power of two " : "",
				    k->min, k->max, name, k->pow2 ? "power of two, " : "",
				    k->min, k->max, name, key_example(k));
		memcpy((uint8_t *)c + k->off, &x, sizeof(x));
		return 1;
	case K_REPLICAS:
		if (!parse_u32(value, &x) ||
		    !(x == 1 || x == 3 || x == 5 || x == 7 || x == 9))
			return fail(l, l->line, "replicas = %s: a cluster has 3, 5, 7 or 9 replicas (1 for the unreplicated baseline); fix: replicas = 3",
				    value);
		c->n_replicas = (uint8_t)x;
		return 1;
	case K_TRANSPORT:
		if (strcmp(value, "udp") == 0)
			c->transport = CFG_TRANSPORT_UDP;
		else if (strcmp(value, "dpdk") == 0)
			c->transport = CFG_TRANSPORT_DPDK;
		else
			return fail(l, l->line, "transport = %s: unknown transport; fix: transport = udp (kernel sockets) or transport = dpdk",
				    value);
		return 1;
	case K_DURABILITY:
		if (strcmp(value, "memory") == 0) {
			c->durability = PX_MEMORY;
			return 1;
		}
		if (strcmp(value, "durable") == 0) {
			c->durability = PX_DURABLE;
			return 1;
		}
		return fail(l, l->line, "durability = %s: unknown durability mode; fix: durability = memory (durability by replication) or durability = durable (an on-disk journal per replica: paxwired --data-dir)",
			    value);
	case K_IDLE:
		if (strcmp(value, "poll") == 0)
			c->idle = CFG_IDLE_POLL;
		else if (strcmp(value, "adaptive") == 0)
			c->idle = CFG_IDLE_ADAPTIVE;
		else
			return fail(l, l->line, "idle = %s: unknown idle policy; fix: idle = poll (busy-poll, lowest latency) or idle = adaptive (shares cores)",
				    value);
		return 1;
	case K_SERVICE:
		/* Which names exist is the registry's business (paxwired checks): here,
		 * only the form, and the enum of the built-ins with typed keys. */
		if (!service_name_ok(value))
			return fail(l, l->line, "service = %s: not a service name (1..%u characters of a-z, 0-9 and _, a letter first); fix: service = kv, service = stream, or a plugin's service name with service_lib = /path/to/lib.so",
				    value, CFG_SERVICE_NAME_BYTES - 1u);
		memcpy(c->service_name, value, strlen(value) + 1);
		if (strcmp(value, "kv") == 0)
			c->service = CFG_SERVICE_KV;
		else if (strcmp(value, "stream") == 0)
			c->service = CFG_SERVICE_STREAM;
		else
			c->service = CFG_SERVICE_OTHER;
		return 1;
	case K_SERVICE_LIB:
		if (value[0] != '/' || strlen(value) >= sizeof(c->service_lib))
			return fail(l, l->line, "service_lib = %s: not an absolute path of at most %zu characters; fix: service_lib = /full/path/to/libNAME.so",
				    value, sizeof(c->service_lib) - 1u);
		memcpy(c->service_lib, value, strlen(value) + 1);
		return 1;
	case K_KEY_FILE: {
		/* Relative to the cluster file's directory, so a file and its key travel
		 * together (deploy/, the tests' temporary dirs). */
		const char *slash = strrchr(l->path, '/');
		int dir = slash == NULL || value[0] == '/' ? 0 : (int)(slash - l->path) + 1;
		int w = snprintf(c->key_file, sizeof(c->key_file), "%.*s%s", dir, l->path, value);
		if (value[0] == 0 || w < 0 || (size_t)w >= sizeof(c->key_file))
			return fail(l, l->line, "key_file = %s: not a path of at most %zu characters; fix: key_file = cluster.key (made by pwctl keygen cluster.key; relative to this file's directory)",
				    value, sizeof(c->key_file) - 1u);
		return 1;
	}
	case K_AUTH:
		if (strcmp(value, "on") == 0)
			c->auth_off = false;
		else if (strcmp(value, "off") == 0)
			c->auth_off = true;
		else
			return fail(l, l->line, "auth = %s: auth is on or off; fix: auth = on (with key_file = FILE) or, for a lab only, auth = off",
				    value);
		return 1;
	case K_LOG_TRANSPORT:
		if (strcmp(value, "message") == 0)
			c->log_transport = CFG_LOG_MESSAGE;
		else if (strcmp(value, "shm") == 0)
			c->log_transport = CFG_LOG_SHM;
		else if (strcmp(value, "rdma") == 0)
			c->log_transport = CFG_LOG_RDMA;
		else
			return fail(l, l->line, "log_transport = %s: unknown log transport; fix: log_transport = message (ACCEPTs as datagrams), shm (one-sided writes through shared memory: every replica on this host) or rdma (one-sided RDMA writes: rm_device, rm_port, rm_gid_index)",
				    value);
		return 1;
	case K_RM_DEVICE:
		if (value[0] == 0 || strlen(value) >= sizeof(c->rm_device) ||
		    strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") !=
			    strlen(value))
			return fail(l, l->line, "rm_device = %s: not an RDMA device name (1..%zu of A-Z a-z 0-9 _ - .); fix: rm_device = mlx5_0 (ibv_devices lists them)",
				    value, sizeof(c->rm_device) - 1u);
		memcpy(c->rm_device, value, strlen(value) + 1);
		return 1;
	case K_CLIENTS:
		if (strcmp(value, "dpdk") == 0)
			c->clients = CFG_CLIENTS_DPDK;
		else if (strcmp(value, "udp") == 0)
			c->clients = CFG_CLIENTS_UDP;
		else
			return fail(l, l->line, "clients = %s: unknown client transport; fix: clients = dpdk (clients reach the DPDK ports) or clients = udp (a kernel socket at ip:port)",
				    value);
		return 1;
	}
	return fail(l, l->line, "internal error: key kind %d", (int)k->kind);
}

/** link.J = K: member id reaches member J on ethdev port K. */
static int on_link_key(struct ld *l, const char *name, const char *value)
{
	uint8_t id = l->member;
	uint32_t j = 0, x = 0;
	if (!parse_u32(name + 5, &j) || j >= PX_REPLICAS_MAX)
		return fail(l, l->line, "key '%s' in [replica.%u]: link.J needs a replica id J in 0..%u; fix: link.1 = <ethdev port index>",
			    name, id, PX_REPLICAS_MAX - 1u);
	if (j == id)
		return fail(l, l->line, "%s in [replica.%u]: a replica has no link to itself; fix: remove the line",
			    name, id);
	if (l->link_line[id][j] != 0)
		return fail(l, l->line, "duplicate key '%s' (first on line %" PRIu32 "); fix: keep one '%s' line in [replica.%u]",
			    name, l->link_line[id][j], name, id);
	if (!parse_u32(value, &x) || x > CFG_PORT_INDEX_MAX)
		return fail(l, l->line, "%s = %s: not an ethdev port in [0, %u]; fix: %s = <the port index of the link to replica %" PRIu32 ">",
			    name, value, CFG_PORT_INDEX_MAX, name, j);
	l->link_line[id][j] = l->line;
	l->cfg->members[id].link[j] = (uint16_t)x;
	return 1;
}

static int on_member_key(struct ld *l, const char *name, const char *value)
{
	uint8_t id = l->member;
	struct cfg_member *m = &l->cfg->members[id];
	if (strncmp(name, "link.", 5) == 0)
		return on_link_key(l, name, value);
	int i;
	for (i = 0; i < MK_MAX; i++)
		if (strcmp(member_keys[i], name) == 0)
			break;
	if (i == MK_MAX)
		return fail(l, l->line, "unknown key '%s' in [replica.%u]; fix: use ip, port, mac, port_index or link.J",
			    name, id);
	if (l->member_line[id][i] != 0)
		return fail(l, l->line, "duplicate key '%s' (first on line %" PRIu32 "); fix: keep one '%s' line in [replica.%u]",
			    name, l->member_line[id][i], name, id);
	l->member_line[id][i] = l->line;
	uint32_t x = 0;

	switch (i) {
	case MK_IP: {
		struct in_addr a;
		if (strlen(value) >= sizeof(m->ip) || inet_pton(AF_INET, value, &a) != 1)
			return fail(l, l->line, "ip = %s: not an IPv4 address; fix: ip = <dotted quad>, e.g. ip = 127.0.0.1",
				    value);
		uint32_t h = ntohl(a.s_addr);
		if (h == 0 || h == 0xffffffffu || (h >> 28) == 0xe)
			return fail(l, l->line, "ip = %s: not a unicast address a peer can send to; fix: ip = the address replica %u is reachable at, e.g. ip = 127.0.0.1",
				    value, id);
		memcpy(m->ip, value, strlen(value) + 1);
		m->ip_be = a.s_addr;
		return 1;
	}
	case MK_PORT:
		if (!parse_u32(value, &x) || x < 1 || x > 65535)
			return fail(l, l->line, "port = %s: not a UDP port in [1, 65535]; fix: port = <1..65535>, e.g. port = %u",
				    value, 7100u + id);
		m->port = (uint16_t)x;
		return 1;
	case MK_MAC:
		if (!parse_mac(value, m->mac))
			return fail(l, l->line, "mac = %s: not a MAC address; fix: mac = xx:xx:xx:xx:xx:xx, e.g. mac = 02:00:00:00:00:%02x",
				    value, id + 1u);
		if ((m->mac[0] & 1u) != 0 ||
		    (m->mac[0] | m->mac[1] | m->mac[2] | m->mac[3] | m->mac[4] | m->mac[5]) == 0)
			return fail(l, l->line, "mac = %s: not a unicast address (multicast bit set, or all zero); fix: a unicast MAC, e.g. mac = 02:00:00:00:00:%02x",
				    value, id + 1u);
		m->has_mac = true;
		return 1;
	case MK_PORT_INDEX:
		if (!parse_u32(value, &x) || x > CFG_PORT_INDEX_MAX)
			return fail(l, l->line, "port_index = %s: not an ethdev port in [0, %u]; fix: port_index = 0",
				    value, CFG_PORT_INDEX_MAX);
		m->port_index = (uint16_t)x;
		return 1;
	}
	return fail(l, l->line, "internal error: member key %d", i);
}

/** A key of [service.NAME]: kept as a string for the service, which judges it. */
static int on_service_key(struct ld *l, const char *name, const char *value)
{
	struct cfg_cluster *c = l->cfg;
	size_t klen = strlen(name), vlen = strlen(value);
	if (klen >= CFG_SERVICE_KEY_BYTES ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != klen)
		return fail(l, l->line, "key '%s' in [%s]: a service key is 1..%u characters of letters, digits, '_', '.' and '-'; fix: rename it as the service documents",
			    name, l->svc_sec, CFG_SERVICE_KEY_BYTES - 1u);
	for (size_t i = 0; i < N_CLUSTER_KEYS; i++)
		if (strcmp(cluster_keys[i].name, name) == 0)
			return fail(l, l->line, "%s is a [cluster] key, not a service parameter; fix: move the line to [cluster]",
				    name);
	if (vlen >= CFG_SERVICE_VALUE_BYTES)
		return fail(l, l->line, "%s: value longer than %u characters; fix: a shorter value (service parameters are at most %u characters)",
			    name, CFG_SERVICE_VALUE_BYTES - 1u, CFG_SERVICE_VALUE_BYTES - 1u);
	for (uint32_t i = 0; i < c->n_service_params; i++)
		if (strcmp(c->service_params[i].key, name) == 0)
			return fail(l, l->line, "duplicate key '%s' (first on line %" PRIu32 "); fix: keep one '%s' line in [%s]",
				    name, c->service_params[i].line, name, l->svc_sec);
	if (c->n_service_params >= CFG_SERVICE_PARAMS_MAX)
		return fail(l, l->line, "more than %u keys in [%s]; fix: at most %u service parameters",
			    CFG_SERVICE_PARAMS_MAX, l->svc_sec, CFG_SERVICE_PARAMS_MAX);
	struct cfg_service_param *sp = &c->service_params[c->n_service_params++];
	memcpy(sp->key, name, klen + 1);
	memcpy(sp->value, value, vlen + 1);
	sp->in_cluster = false;
	sp->line = l->line;
	return 1;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct ld *l = user;
	if (l->failed)
		return 0;
	/* The reader tracked the section (l->sec) with the line it started on; it must
	 * agree with inih's view, or the line numbers would be wrong. */
	char want[sizeof(l->svc_sec)] = "";
	if (l->sec == SEC_CLUSTER)
		snprintf(want, sizeof(want), "cluster");
	else if (l->sec == SEC_MEMBER)
		snprintf(want, sizeof(want), "replica.%u", l->member);
	else if (l->sec == SEC_SERVICE)
		snprintf(want, sizeof(want), "%s", l->svc_sec);
	if (strcmp(section, want) != 0)
		return fail(l, l->line, "internal error: section [%s] read as [%s]; fix: report this file to the paxwire developers",
			    section, want);
	l->key_since_sec = true;
	if (*name == '\0')
		return fail(l, l->line, "a line with '=' but no key name; fix: write key = value");
	if (*value == '\0')
		return fail(l, l->line, "%s has an empty value; fix: write %s = <value> or remove the line",
			    name, name);
	switch (l->sec) {
	case SEC_CLUSTER:
		return on_cluster_key(l, name, value);
	case SEC_MEMBER:
		return on_member_key(l, name, value);
	case SEC_SERVICE:
		return on_service_key(l, name, value);
	case SEC_NONE:
		break;
	}
	return fail(l, l->line, "key '%s' before any section; fix: put it under [cluster], [replica.N] or [service.NAME]",
		    name);
}

/* ---------------------------------------------------------------------------------- */
/* Reader: physical lines, section headers, lines inih would misread                   */

/** inih's find_chars_or_comment with inline ';' comments (Debian's build default). */
static const char *find_chars_or_comment(const char *s, const char *chars)
{
	bool was_space = false;
	while (*s && !strchr(chars, *s) && !(was_space && *s == ';')) {
		was_space = isspace((unsigned char)*s) != 0;
		s++;
	}
	return s;
}

static void on_section(struct ld *l, const char *name)
{
	if (strcmp(name, "cluster") == 0) {
		if (l->cluster_sec_line != 0) {
			fail(l, l->line, "duplicate section [cluster] (first on line %" PRIu32 "); fix: keep one [cluster] section",
			     l->cluster_sec_line);
			return;
		}
		l->cluster_sec_line = l->line;
		l->sec = SEC_CLUSTER;
		return;
	}
	if (strncmp(name, "replica.", 8) == 0) {
		const char *d = name + 8;
		uint32_t id;
		bool digits = *d != '\0' && strspn(d, "0123456789") == strlen(d) &&
			      !(d[0] == '0' && d[1] != '\0');
		if (!digits || !parse_u32(d, &id)) {
			fail(l, l->line, "section [%s]: the replica id must be a number; fix: [replica.N] with N in 0..%u",
			     name, PX_REPLICAS_MAX - 1);
			return;
		}
		if (id >= PX_REPLICAS_MAX) {
			fail(l, l->line, "section [%s]: replica ids are 0..%u (at most %u replicas); fix: [replica.N] with N in 0..%u",
			     name, PX_REPLICAS_MAX - 1, PX_REPLICAS_MAX, PX_REPLICAS_MAX - 1);
			return;
		}
		if (l->member_sec_line[id] != 0) {
			fail(l, l->line, "duplicate section [replica.%" PRIu32 "] (first on line %" PRIu32 "); fix: keep one section per replica id",
			     id, l->member_sec_line[id]);
			return;
		}
		l->member_sec_line[id] = l->line;
		l->cfg->members[id].id = (uint8_t)id;
		l->sec = SEC_MEMBER;
		l->member = (uint8_t)id;
		return;
	}
	if (strncmp(name, "service.", 8) == 0) {
		if (!service_name_ok(name + 8)) {
			fail(l, l->line, "section [%s]: not a service name after 'service.' (1..%u characters of a-z, 0-9 and _, a letter first); fix: [service.NAME] with NAME as in service = NAME",
			     name, CFG_SERVICE_NAME_BYTES - 1u);
			return;
		}
		if (l->svc_sec_line != 0) {
			fail(l, l->line, "a second service section [%s] ([%s] on line %" PRIu32 "); fix: keep one, [service.NAME] for the service that service = names",
			     name, l->svc_sec, l->svc_sec_line);
			return;
		}
		snprintf(l->svc_sec, sizeof(l->svc_sec), "%s", name);
		l->svc_sec_line = l->line;
		l->sec = SEC_SERVICE;
		return;
	}
	fail(l, l->line, "unknown section [%s]; fix: [cluster] or [replica.N] with N in 0..%u (or [service.NAME] for the parameters of service NAME)",
	     name, PX_REPLICAS_MAX - 1);
}

/** Looks at one physical line before inih parses it. */
static void check_line(struct ld *l, char *buf)
{
	const char *s = buf;
	if (l->line == 1 && (uint8_t)s[0] == 0xef && (uint8_t)s[1] == 0xbb &&
	    (uint8_t)s[2] == 0xbf)
		s += 3;  /* UTF-8 BOM, which inih skips too */
	const char *start = s;
	while (*start && isspace((unsigned char)*start))
		start++;
	if (*start == '\0' || *start == ';' || *start == '#')
		return;  /* blank or comment */
	if (start > s) {
		/* inih reads an indented line as the continuation of the previous key's
		 * value (or, right after a header, as a key): refuse it either way. */
		fail(l, l->line, "line starts with whitespace (inih would read it as the continuation of the previous value); fix: remove the indentation");
		return;
	}
	if (*start == '[') {
		const char *end = find_chars_or_comment(start + 1, "]");
		if (*end != ']') {
			fail(l, l->line, "section header without ']'; fix: write [cluster], [replica.N] or [service.NAME]");
			return;
		}
		char name[64];
		size_t n = (size_t)(end - (start + 1));
		if (n >= sizeof(name)) {
			fail(l, l->line, "section name too long; fix: write [cluster], [replica.N] or [service.NAME]");
			return;
		}
		memcpy(name, start + 1, n);
		name[n] = '\0';
		l->key_since_sec = false;
		on_section(l, name);
		return;
	}
	const char *eq = find_chars_or_comment(start, "=:");
	if (*eq != '=' && *eq != ':')
		fail(l, l->line, "not a 'key = value' line or a [section] header; fix: write key = value");
}

static char *reader(char *buf, int n, void *stream)
{
	struct ld *l = stream;
	if (l->failed)
		return NULL;  /* ends inih's loop: the first error is the one reported */
	if (fgets(buf, n, l->f) == NULL)
		return NULL;
	l->line = l->next_line;
	size_t len = strlen(buf);
	if (len > 0 && buf[len - 1] == '\n') {
		l->next_line++;
	} else {
		int c = getc(l->f);
		if (c != EOF) {
			fail(l, l->line, "line longer than %d characters; fix: shorten it (comments included)",
			     n - 2);
			return NULL;
		}
	}
	check_line(l, buf);
	return l->failed ? NULL : buf;
}

/* ---------------------------------------------------------------------------------- */
/* Checks between values                                                               */

/** Adds a typed [cluster] key of kv or stream to the service's parameters. */
static int add_typed_param(struct ld *l, enum ck k)
{
	struct cfg_cluster *c = l->cfg;
	const struct cluster_key *key = &cluster_keys[k];
	if (c->n_service_params >= CFG_SERVICE_PARAMS_MAX)
		return fail(l, l->svc_sec_line, "more than %u service parameters with the typed [cluster] keys of service %s; fix: remove lines from [%s]",
			    CFG_SERVICE_PARAMS_MAX, c->service_name, l->svc_sec);
	struct cfg_service_param *sp = &c->service_params[c->n_service_params++];
	uint32_t v;
	memcpy(&v, (const uint8_t *)c + key->off, sizeof(v));
	snprintf(sp->key, sizeof(sp->key), "%s", key->name);
	snprintf(sp->value, sizeof(sp->value), "%" PRIu32, v);
	sp->in_cluster = true;
	sp->line = l->cluster_line[k];
	return 1;
}

/** The service section belongs to the service; kv and stream get their typed keys. */
static int check_service(struct ld *l)
{
	struct cfg_cluster *c = l->cfg;
	if (l->svc_sec_line != 0 && strcmp(l->svc_sec + 8, c->service_name) != 0) {
		uint32_t sl = l->cluster_line[CK_SERVICE];
		if (sl == 0)
			return fail(l, l->svc_sec_line, "section [%s] but [cluster] has no service line, so the service is kv (the default); fix: add service = %s under [cluster], or remove the section",
				    l->svc_sec, l->svc_sec + 8);
		return fail(l, l->svc_sec_line, "section [%s] but service = %s (line %" PRIu32 "); fix: rename the section [service.%s], or remove it",
			    l->svc_sec, c->service_name, sl, c->service_name);
	}
	c->service_section_line = l->svc_sec_line;
	if (c->service == CFG_SERVICE_KV)
		return add_typed_param(l, CK_KV_KEYS) && add_typed_param(l, CK_KV_KEY_BYTES) &&
		       add_typed_param(l, CK_KV_VALUE_BYTES);
	if (c->service == CFG_SERVICE_STREAM)
		return add_typed_param(l, CK_STREAM_RECORDS) && add_typed_param(l, CK_STREAM_BYTES);
	return 1;
}

static int check_cluster(struct ld *l)
{
	struct cfg_cluster *c = l->cfg;
	const uint32_t *kl = l->cluster_line;

	if (l->cluster_sec_line == 0)
		return fail(l, 0, "no [cluster] section; fix: add [cluster] with id = <cluster id> and replicas = 3");
	if (kl[CK_ID] == 0)
		return fail(l, l->cluster_sec_line, "[cluster] has no id; fix: add id = <1..4294967295> under [cluster] (the same on every member and client)");
	if (kl[CK_REPLICAS] == 0)
		return fail(l, l->cluster_sec_line, "[cluster] has no replicas; fix: add replicas = 3 (or 5, 7, 9) under [cluster]");

	if (kl[CK_CLIENTS] != 0 && c->transport != CFG_TRANSPORT_DPDK)
		return fail(l, kl[CK_CLIENTS], "clients = %s: only transport = dpdk chooses where clients are heard (udp replicas always use their socket); fix: remove the line",
			    c->clients == CFG_CLIENTS_UDP ? "udp" : "dpdk");
	if (kl[CK_CLIENTS] == 0)
		c->clients = c->transport == CFG_TRANSPORT_DPDK ? CFG_CLIENTS_DPDK : CFG_CLIENTS_UDP;
	if (c->stages == 2)
		return fail(l, kl[CK_STAGES], "stages = 2 (the applier on a second lcore) was removed: it measured no gain (docs/benchmarks.md); fix: remove the line");
	if (!check_service(l))
		return 0;
	/* Authentication is on unless the file says otherwise (docs/security.md). */
	if (c->auth_off && kl[CK_KEY_FILE] != 0)
		return fail(l, kl[CK_AUTH], "auth = off but key_file = %s (line %" PRIu32 "); fix: remove one of the two lines",
			    c->key_file, kl[CK_KEY_FILE]);
	if (!c->auth_off && kl[CK_KEY_FILE] == 0)
		return fail(l, l->cluster_sec_line, "[cluster] has no key_file: authentication is on unless the file says auth = off; fix: run `pwctl keygen cluster.key` and add key_file = cluster.key under [cluster] (or, for a lab on a trusted network only, auth = off)");

	/* Timing, in microseconds: heartbeat_ms/election_ms (the shared-core profile's
	 * keys) or heartbeat_us/election_us (sub-millisecond timers: docs/operations.md,
	 * "Timers"), one of each pair. Every timeout must be at least one tick, the
	 * election timeout at least two heartbeats (a follower must miss two heartbeat
	 * intervals before it may suspect the leader). */
	if (kl[CK_HEARTBEAT] != 0 && kl[CK_HEARTBEAT_US] != 0)
		return fail(l, kl[CK_HEARTBEAT] > kl[CK_HEARTBEAT_US] ? kl[CK_HEARTBEAT] : kl[CK_HEARTBEAT_US],
			    "heartbeat_ms (line %" PRIu32 ") and heartbeat_us (line %" PRIu32 ") both set the heartbeat interval; fix: keep one of the two lines",
			    kl[CK_HEARTBEAT], kl[CK_HEARTBEAT_US]);
	if (kl[CK_ELECTION] != 0 && kl[CK_ELECTION_US] != 0)
		return fail(l, kl[CK_ELECTION] > kl[CK_ELECTION_US] ? kl[CK_ELECTION] : kl[CK_ELECTION_US],
			    "election_ms (line %" PRIu32 ") and election_us (line %" PRIu32 ") both set the election timeout; fix: keep one of the two lines",
			    kl[CK_ELECTION], kl[CK_ELECTION_US]);
	bool hb_us = kl[CK_HEARTBEAT_US] != 0, el_us = kl[CK_ELECTION_US] != 0;
	if (!hb_us)
		c->heartbeat_us = c->heartbeat_ms * 1000u;  /* <= 60,000,000: no overflow */
	if (!el_us)
		c->election_us = c->election_ms * 1000u;    /* <= 600,000,000 */
	c->heartbeat_ms = c->heartbeat_us / 1000u;
	c->election_ms = c->election_us / 1000u;
	uint32_t hb_line = hb_us ? kl[CK_HEARTBEAT_US] : kl[CK_HEARTBEAT];
	uint32_t el_line = el_us ? kl[CK_ELECTION_US] : kl[CK_ELECTION];
	if ((uint64_t)c->election_us < 2u * (uint64_t)c->heartbeat_us) {
		uint32_t line = el_line ? el_line : hb_line;
		if (!hb_us && !el_us)
			return fail(l, line, "election_ms = %" PRIu32 " is less than 2 x heartbeat_ms = %" PRIu32 "; fix: election_ms = %" PRIu32 " or more (or a smaller heartbeat_ms)",
				    c->election_ms, 2u * c->heartbeat_ms, 2u * c->heartbeat_ms);
		return fail(l, line, "election timeout %" PRIu32 " us is less than 2 x heartbeat interval = %" PRIu64 " us; fix: election_us = %" PRIu64 " or more (or a smaller heartbeat_us)",
			    c->election_us, 2u * (uint64_t)c->heartbeat_us, 2u * (uint64_t)c->heartbeat_us);
	}
	if (c->heartbeat_us < c->tick_us) {
		uint32_t line = kl[CK_TICK] ? kl[CK_TICK] : hb_line;
		if (!hb_us)
			return fail(l, line, "tick_us = %" PRIu32 " is longer than heartbeat_ms = %" PRIu32 " (a heartbeat must last at least one tick); fix: tick_us = %" PRIu32 " or less",
				    c->tick_us, c->heartbeat_ms, c->heartbeat_us);
		return fail(l, line, "tick_us = %" PRIu32 " is longer than heartbeat_us = %" PRIu32 " (a heartbeat must last at least one tick); fix: tick_us = %" PRIu32 " or less",
			    c->tick_us, c->heartbeat_us, c->heartbeat_us);
	}
	uint64_t election_ticks = (uint64_t)c->election_us / c->tick_us;
	if (election_ticks > PX_TICKS_MAX) {
		uint32_t line = kl[CK_TICK] ? kl[CK_TICK] : el_line;
		return fail(l, line, "an election timeout of %" PRIu32 " us is %" PRIu64 " ticks of tick_us = %" PRIu32 ", above the core's %u; fix: a larger tick_us (e.g. tick_us = 1000) or a shorter election timeout",
			    c->election_us, election_ticks, c->tick_us, PX_TICKS_MAX);
	}
	/* One-sided log writes (docs/rdma.md): a landed write is in a replica's memory,
	 * not on its disk, so the transport serves memory mode only. */
	if (c->log_transport != CFG_LOG_MESSAGE && c->durability != PX_MEMORY)
		return fail(l, kl[CK_LOG_TRANSPORT], "log_transport = %s with durability = durable: a one-sided write lands in a replica's memory, not on its disk; fix: durability = memory, or log_transport = message",
			    cfg_log_transport_name(c->log_transport));
	if (c->log_transport == CFG_LOG_MESSAGE && kl[CK_RM_RING] != 0)
		return fail(l, kl[CK_RM_RING], "rm_ring is set but log_transport = message; fix: log_transport = shm or rdma, or remove the line");
	for (uint32_t k = CK_RM_DEVICE; k <= CK_RM_GID_INDEX; k++)
		if (kl[k] != 0 && c->log_transport != CFG_LOG_RDMA)
			return fail(l, kl[k], "%s is set but log_transport = %s (the RDMA device keys go with log_transport = rdma); fix: log_transport = rdma, or remove the line",
				    cluster_keys[k].name, cfg_log_transport_name(c->log_transport));
	if (c->pipeline_slots > c->window_slots / 2u) {
		uint32_t line = kl[CK_PIPELINE] ? kl[CK_PIPELINE] : kl[CK_WINDOW];
		return fail(l, line, "pipeline_slots = %" PRIu32 " is more than window_slots / 2 = %" PRIu32 " (the window holds the pipeline twice: in flight plus history for catch-up); fix: pipeline_slots = %" PRIu32 " or less, or window_slots = %" PRIu32,
			    c->pipeline_slots, c->window_slots / 2u, c->window_slots / 2u,
			    2u * c->pipeline_slots <= PX_WINDOW_MAX && is_pow2(2u * c->pipeline_slots)
				    ? 2u * c->pipeline_slots
				    : PX_WINDOW_MAX);
	}
	return 1;
}

static int check_members(struct ld *l)
{
	struct cfg_cluster *c = l->cfg;
	uint8_t n = c->n_replicas;

	/* Ids 0..n-1 are the initial voters and must all be listed; a section for a higher
	 * id lists a member added at run time (pwctl add-member; paxwired --join on its
	 * host), checked the same way. */
	c->listed = 0;
	for (uint8_t i = 0; i < PX_REPLICAS_MAX; i++) {
		uint32_t sl = l->member_sec_line[i];
		if (sl == 0 && i < n)
			return fail(l, l->cluster_line[CK_REPLICAS], "replicas = %u but there is no [replica.%u]; fix: add a [replica.%u] section with ip and port, or lower replicas",
				    n, i, i);
		if (sl == 0)
			continue;
		c->listed = (uint16_t)(c->listed | (1u << i));
		if (l->member_line[i][MK_IP] == 0)
			return fail(l, sl, "[replica.%u] has no ip; fix: add ip = <IPv4 address> under [replica.%u]",
				    i, i);
		if (l->member_line[i][MK_PORT] == 0)
			return fail(l, sl, "[replica.%u] has no port; fix: add port = <UDP port> under [replica.%u], e.g. port = %u",
				    i, i, 7100u + i);
		if (c->transport == CFG_TRANSPORT_DPDK && !c->members[i].has_mac)
			return fail(l, sl, "[replica.%u] has no mac, which transport = dpdk needs; fix: add mac = xx:xx:xx:xx:xx:xx under [replica.%u]",
				    i, i);
		for (uint8_t j = 0; j < PX_REPLICAS_MAX; j++) {
			uint32_t ll = l->link_line[i][j];
			if (ll == 0) {
				c->members[i].link[j] = c->members[i].port_index;
				continue;
			}
			if (c->transport != CFG_TRANSPORT_DPDK)
				return fail(l, ll, "link.%u: links are ethdev ports, which only transport = dpdk has; fix: remove link.%u, or set transport = dpdk",
					    j, j);
			if (j >= n)
				return fail(l, ll, "link.%u but replicas = %u (ids are 0..%u); fix: remove link.%u",
					    j, n, n - 1u, j);
		}
	}
	for (uint8_t j = 1; j < PX_REPLICAS_MAX; j++) {
		const struct cfg_member *b = &c->members[j];
		if (!((c->listed >> j) & 1u))
			continue;
		for (uint8_t i = 0; i < j; i++) {
			const struct cfg_member *a = &c->members[i];
			if (!((c->listed >> i) & 1u))
				continue;
			if (a->ip_be == b->ip_be && a->port == b->port)
				return fail(l, l->member_line[j][MK_PORT], "[replica.%u] uses %s:%u like [replica.%u] (line %" PRIu32 "); fix: give each replica on one IP its own port",
					    j, b->ip, b->port, i, l->member_line[i][MK_PORT]);
			if (c->transport == CFG_TRANSPORT_DPDK &&
			    memcmp(a->mac, b->mac, sizeof(a->mac)) == 0)
				return fail(l, l->member_line[j][MK_MAC], "[replica.%u] has the same mac as [replica.%u] (line %" PRIu32 "); fix: give each replica its own MAC address",
					    j, i, l->member_line[i][MK_MAC]);
		}
	}
	return 1;
}

/* ---------------------------------------------------------------------------------- */
/* Public API                                                                          */

void cfg_defaults(struct cfg_cluster *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->cluster_id = 0;   /* required: no default */
	cfg->n_replicas = 0;   /* required: no default */
	cfg->transport = CFG_TRANSPORT_UDP;
	cfg->durability = PX_MEMORY;
	/* The sizes and timeouts come from the core's one table (px_limits.h); the
	 * timeouts are in ticks there, in ms here, at this default tick of 1 ms. */
	cfg->tick_us = 1000;
	cfg->heartbeat_ms = PX_DEFAULT_HEARTBEAT_TICKS;
	cfg->election_ms = PX_DEFAULT_ELECTION_TICKS;
	cfg->heartbeat_us = PX_DEFAULT_HEARTBEAT_TICKS * 1000u;
	cfg->election_us = PX_DEFAULT_ELECTION_TICKS * 1000u;
	cfg->window_slots = PX_DEFAULT_WINDOW_SLOTS;
	cfg->pipeline_slots = PX_DEFAULT_PIPELINE_SLOTS;
	cfg->batch_cmds_max = PX_DEFAULT_BATCH_CMDS;
	cfg->slot_bytes = PX_DEFAULT_SLOT_BYTES;
	cfg->sessions = 4096;
	cfg->kv_keys = 65536;
	cfg->idle = CFG_IDLE_ADAPTIVE;
	cfg->service = CFG_SERVICE_KV;
	memcpy(cfg->service_name, "kv", sizeof("kv"));
	cfg->kv_key_bytes = 64;
	cfg->kv_value_bytes = 1024;
	cfg->stream_records = 65536;
	cfg->stream_bytes = 16u << 20;
	cfg->stages = 1;
	cfg->transfer_chunks_per_tick = PX_TRANSFER_CHUNKS_DEFAULT;
	cfg->snapshot_every = 0;
	cfg->key_file[0] = 0;
	cfg->auth_off = false;
	cfg->auth_clients = 1024;
	cfg->log_transport = CFG_LOG_MESSAGE;
	cfg->rm_ring = 64;
	cfg->rm_device[0] = 0;
	cfg->rm_port = 1;
	cfg->rm_gid_index = 0;
	for (uint8_t i = 0; i < PX_REPLICAS_MAX; i++)
		cfg->members[i].id = i;
}

int cfg_load(const char *path, struct cfg_cluster *cfg, char *err, size_t errlen)
{
	struct ld ld;
	struct ld *l = &ld;

	memset(l, 0, sizeof(*l));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	cfg_defaults(cfg);
	l->cfg = cfg;
	l->path = path;
	l->err = err;
	l->errlen = errlen;
	l->next_line = 1;
	l->sec = SEC_NONE;

	if (strlen(path) >= sizeof(cfg->path)) {
		fail(l, 0, "path longer than %zu characters; fix: a shorter path to the cluster file",
		     sizeof(cfg->path) - 1);
		return -EINVAL;
	}
	memcpy(cfg->path, path, strlen(path) + 1);
	l->f = fopen(path, "r");
	if (l->f == NULL) {
		fail(l, 0, "cannot open: %s; fix: give the path of a readable cluster file (see deploy/)",
		     strerror(errno));
		return -EINVAL;
	}
	int r = ini_parse_stream(reader, l, on_key, l);
	if (!l->failed && ferror(l->f))
		fail(l, l->line, "read error; fix: check the file");
	if (!l->failed && r > 0)  /* a syntax error the reader did not foresee */
		fail(l, (uint32_t)r, "cannot parse this line; fix: write key = value or a [section] header");
	if (!l->failed && r < 0)
		fail(l, 0, "inih failed (%d); fix: check the file", r);
	fclose(l->f);
	if (l->failed || !check_cluster(l) || !check_members(l))
		return -EINVAL;
	return 0;
}

void cfg_to_px(const struct cfg_cluster *cfg, uint8_t self, struct px_config *px)
{
	memset(px, 0, sizeof(*px));
	px->cluster_id = cfg->cluster_id;
	px->config_epoch = 1;
	px->n_replicas = cfg->n_replicas;
	px->self = self;
	px->durability = (enum px_durability)cfg->durability;
	px->window_slots = cfg->window_slots;
	px->pipeline_slots = cfg->pipeline_slots;
	px->slot_bytes = cfg->slot_bytes;
	px->batch_cmds_max = cfg->batch_cmds_max;
	px->heartbeat_ticks = cfg->heartbeat_us / cfg->tick_us;
	px->election_ticks = cfg->election_us / cfg->tick_us;
	px->restarted = false;
}

/** Trims ASCII whitespace at both ends, in place. */
static char *trim(char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

uint32_t cfg_key_line(const char *path, const char *section, const char *key)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	char buf[512];
	char sec[64] = "";
	uint32_t line = 0, found = 0;
	bool at_line_start = true;
	while (found == 0 && fgets(buf, sizeof(buf), f) != NULL) {
		bool whole = strchr(buf, '\n') != NULL;
		bool starts = at_line_start;
		at_line_start = whole;
		if (!starts)
			continue;  /* the tail of a long line */
		line++;
		char *s = trim(buf);
		if (*s == '[') {
			char *end = strchr(s, ']');
			if (end != NULL) {
				*end = '\0';
				snprintf(sec, sizeof(sec), "%s", s + 1);
			}
			continue;
		}
		if (*s == ';' || *s == '#' || strcmp(sec, section) != 0)
			continue;
		char *eq = strpbrk(s, "=:");
		if (eq == NULL)
			continue;
		*eq = '\0';
		if (strcmp(trim(s), key) == 0)
			found = line;
	}
	fclose(f);
	return found;
}

const char *cfg_transport_name(enum cfg_transport t)
{
	switch (t) {
	case CFG_TRANSPORT_UDP:
		return "udp";
	case CFG_TRANSPORT_DPDK:
		return "dpdk";
	}
	return "?";
}

const char *cfg_idle_name(enum cfg_idle i)
{
	switch (i) {
	case CFG_IDLE_POLL:
		return "poll";
	case CFG_IDLE_ADAPTIVE:
		return "adaptive";
	}
	return "?";
}

const char *cfg_service_name(enum cfg_service s)
{
	switch (s) {
	case CFG_SERVICE_KV:
		return "kv";
	case CFG_SERVICE_STREAM:
		return "stream";
	case CFG_SERVICE_OTHER:
		return "other";
	}
	return "?";
}

const char *cfg_log_transport_name(enum cfg_log_transport t)
{
	switch (t) {
	case CFG_LOG_MESSAGE:
		return "message";
	case CFG_LOG_SHM:
		return "shm";
	case CFG_LOG_RDMA:
		return "rdma";
	}
	return "?";
}

const char *cfg_clients_name(enum cfg_clients c)
{
	switch (c) {
	case CFG_CLIENTS_DPDK:
		return "dpdk";
	case CFG_CLIENTS_UDP:
		return "udp";
	}
	return "?";
}
