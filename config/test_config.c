/* SPDX-License-Identifier: Apache-2.0
 * Unit tests of the cluster file loader: a good file loads with the right values, and
 * every kind of error names the right line, says what is wrong and how to fix it.
 * (Lives in config/ rather than tests/ because of folder ownership; suite 'unit'.)
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <arpa/inet.h>

#include "cfg.h"
#include "px.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/pw-test-config-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/c.ini", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	return 0;
}

/* 1 when write_file added a key_file line as line 2 (a file that starts with
 * [cluster] and says nothing of authentication, which is on by default): the lines
 * after it move down one, and the tests that expect a line number add it. */
static unsigned g_shift;

static void write_file(const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	g_shift = 0;
	if (strncmp(text, "[cluster]\n", 10) == 0 && strstr(text, "key_file") == NULL &&
	    strstr(text, "auth =") == NULL) {
		assert_int_equal(fputs("[cluster]\nkey_file = test.key\n", f) >= 0, 1);
		text += 10;
		g_shift = 1;
	}
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

#define MEMBERS3                                                                         \
	"[replica.0]\nip = 127.0.0.1\nport = 7100\n"                                         \
	"[replica.1]\nip = 127.0.0.1\nport = 7101\n"                                         \
	"[replica.2]\nip = 127.0.0.1\nport = 7102\n"

static void test_good_file(void **state)
{
	(void)state;
	write_file("; a comment\n"
		   "# another\n"
		   "\n"
		   "[cluster]\n"
		   "id = 42            ; inline comment\n"
		   "replicas = 3\n"
		   "transport = udp\n"
		   "durability = memory\n"
		   "heartbeat_ms = 10\n"
		   "election_ms = 100\n"
		   "tick_us = 500\n"
		   "window_slots = 512\n"
		   "pipeline_slots = 128\n"
		   "batch_cmds_max = 32\n"
		   "slot_bytes = 16384\n"
		   "sessions = 100\n"
		   "kv_keys = 1000\n"
		   "idle = poll\n"
		   "service = stream\n"
		   "kv_key_bytes = 32\n"
		   "kv_value_bytes = 0\n"
		   "stream_records = 1024\n"
		   "stream_bytes = 65536\n"
		   "key_file = keys/cluster.key\n"
		   "auth_clients = 64\n"
		   "[replica.1]\nip = 10.0.0.2\nport = 7100\nmac = 02:00:00:00:00:02\n"
		   "port_index = 1\n"
		   "[replica.0]\nip = 10.0.0.1\nport = 7100\n"
		   "[replica.2]\nip: 10.0.0.3\nport = 7100\n");
	struct cfg_cluster c;
	char err[512];
	int rc = cfg_load(path, &c, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_int_equal(c.cluster_id, 42);
	assert_int_equal(c.n_replicas, 3);
	/* key_file is relative to the cluster file's directory. */
	char want_key[200];
	snprintf(want_key, sizeof(want_key), "%s/keys/cluster.key", dir);
	assert_string_equal(c.key_file, want_key);
	assert_false(c.auth_off);
	assert_int_equal(c.auth_clients, 64);
	assert_int_equal(c.transport, CFG_TRANSPORT_UDP);
	assert_int_equal(c.durability, PX_MEMORY);
	assert_int_equal(c.heartbeat_ms, 10);
	assert_int_equal(c.election_ms, 100);
	assert_int_equal(c.tick_us, 500);
	assert_int_equal(c.window_slots, 512);
	assert_int_equal(c.pipeline_slots, 128);
	assert_int_equal(c.batch_cmds_max, 32);
	assert_int_equal(c.slot_bytes, 16384);
	assert_int_equal(c.sessions, 100);
	assert_int_equal(c.kv_keys, 1000);
	assert_int_equal(c.idle, CFG_IDLE_POLL);
	assert_int_equal(c.service, CFG_SERVICE_STREAM);
	assert_int_equal(c.kv_key_bytes, 32);
	assert_int_equal(c.kv_value_bytes, 0);
	assert_int_equal(c.stream_records, 1024);
	assert_int_equal(c.stream_bytes, 65536);
	assert_string_equal(c.path, path);
	for (uint8_t i = 0; i < 3; i++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "10.0.0.%u", i + 1u);
		assert_int_equal(c.members[i].id, i);
		assert_string_equal(c.members[i].ip, ip);
		assert_int_equal(c.members[i].ip_be, inet_addr(ip));
		assert_int_equal(c.members[i].port, 7100);
	}
	assert_true(c.members[1].has_mac);
	assert_false(c.members[0].has_mac);
	assert_int_equal(c.members[1].mac[5], 2);
	assert_int_equal(c.members[1].port_index, 1);

	struct px_config px;
	cfg_to_px(&c, 2, &px);
	assert_int_equal(px.cluster_id, 42);
	assert_int_equal(px.n_replicas, 3);
	assert_int_equal(px.self, 2);
	assert_int_equal(px.heartbeat_ticks, 20);   /* 10 ms / 500 us */
	assert_int_equal(px.election_ticks, 200);
	assert_int_equal(px.window_slots, 512);
	assert_int_equal(px.durability, PX_MEMORY);
	assert_false(px.restarted);

	assert_int_equal(cfg_key_line(path, "cluster", "tick_us"), 11);
	assert_int_equal(cfg_key_line(path, "replica.2", "ip"), 35);
	assert_int_equal(cfg_key_line(path, "replica.0", "mac"), 0);
	assert_string_equal(cfg_transport_name(c.transport), "udp");
	assert_string_equal(cfg_idle_name(c.idle), "poll");
	assert_string_equal(cfg_service_name(c.service), "stream");
}

/** service = NAME, service_lib and [service.NAME]: kept as strings for the service; kv
 *  and stream get their typed keys as parameters too. */
static void test_service_params(void **state)
{
	(void)state;
	write_file("[cluster]\nid = 7\nreplicas = 3\n"
		   "service = counter\n"
		   "service_lib = /opt/paxwire/libpwcounter.so\n"
		   "kv_keys = 10\n"                 /* line 6: not the counter's: not passed */
		   MEMBERS3
		   "[service.counter]\n"            /* line 16 */
		   "counters = 64  ; inline comment\n"
		   "name_bytes = 16\n"
		   "label = a b c\n");
	struct cfg_cluster c;
	char err[512];
	if (cfg_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.service, CFG_SERVICE_OTHER);
	assert_string_equal(cfg_service_name(c.service), "other");
	assert_string_equal(c.service_name, "counter");
	assert_string_equal(c.service_lib, "/opt/paxwire/libpwcounter.so");
	assert_int_equal(c.service_section_line, 16 + g_shift);
	assert_int_equal(c.n_service_params, 3);
	assert_string_equal(c.service_params[0].key, "counters");
	assert_string_equal(c.service_params[0].value, "64");
	assert_int_equal(c.service_params[0].line, 17 + g_shift);
	assert_false(c.service_params[0].in_cluster);
	assert_string_equal(c.service_params[1].key, "name_bytes");
	assert_string_equal(c.service_params[2].value, "a b c");
	assert_int_equal(c.service_params[2].line, 19 + g_shift);
	assert_int_equal(cfg_key_line(path, "service.counter", "name_bytes"), 18 + g_shift);

	/* kv: the typed keys, with their values (line) or defaults (line 0). */
	write_file("[cluster]\nid = 7\nreplicas = 3\nkv_key_bytes = 16\n" MEMBERS3);
	if (cfg_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.service, CFG_SERVICE_KV);
	assert_string_equal(c.service_name, "kv");
	assert_string_equal(c.service_lib, "");
	assert_int_equal(c.service_section_line, 0);
	assert_int_equal(c.n_service_params, 3);
	assert_string_equal(c.service_params[0].key, "kv_keys");
	assert_string_equal(c.service_params[0].value, "65536");
	assert_int_equal(c.service_params[0].line, 0);
	assert_true(c.service_params[0].in_cluster);
	assert_string_equal(c.service_params[1].key, "kv_key_bytes");
	assert_string_equal(c.service_params[1].value, "16");
	assert_int_equal(c.service_params[1].line, 4 + g_shift);
	assert_string_equal(c.service_params[2].key, "kv_value_bytes");

	/* stream: its two keys after its section's (which the stream service will refuse). */
	write_file("[cluster]\nid = 7\nreplicas = 3\nservice = stream\nstream_bytes = 8192\n"
		   MEMBERS3 "[service.stream]\nextra = 1\n");
	if (cfg_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.service, CFG_SERVICE_STREAM);
	assert_int_equal(c.n_service_params, 3);
	assert_string_equal(c.service_params[0].key, "extra");
	assert_string_equal(c.service_params[1].key, "stream_records");
	assert_string_equal(c.service_params[2].key, "stream_bytes");
	assert_string_equal(c.service_params[2].value, "8192");
	assert_int_equal(c.service_params[2].line, 5 + g_shift);

	/* At most CFG_SERVICE_PARAMS_MAX keys in the section. */
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "[cluster]\nid = 7\nreplicas = 3\nservice = counter\n" MEMBERS3
		"[service.counter]\n");
	for (uint32_t i = 0; i <= CFG_SERVICE_PARAMS_MAX; i++)
		fprintf(f, "k%u = %u\n", i, i);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(cfg_load(path, &c, err, sizeof(err)), -EINVAL);
	char want[320];
	snprintf(want, sizeof(want), "%s:%u: more than %u keys in [service.counter]", path,
		 14u + CFG_SERVICE_PARAMS_MAX + 1u, CFG_SERVICE_PARAMS_MAX);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("got '%s', want '%s'", err, want);
}

static void test_links(void **state)
{
	(void)state;
	write_file("[cluster]\nid = 7\nreplicas = 3\ntransport = dpdk\nclients = udp\n"
		   "[replica.0]\nip = 127.0.0.1\nport = 7100\nmac = 02:00:00:00:00:01\n"
		   "port_index = 2\nlink.1 = 0\n"
		   "[replica.1]\nip = 127.0.0.1\nport = 7101\nmac = 02:00:00:00:00:02\n"
		   "[replica.2]\nip = 127.0.0.1\nport = 7102\nmac = 02:00:00:00:00:03\n"
		   "link.0 = 1\nlink.1 = 3\n");
	struct cfg_cluster c;
	char err[512];
	if (cfg_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.clients, CFG_CLIENTS_UDP);
	assert_int_equal(c.members[0].link[1], 0);   /* set */
	assert_int_equal(c.members[0].link[2], 2);   /* port_index */
	assert_int_equal(c.members[1].link[0], 0);   /* port_index default 0 */
	assert_int_equal(c.members[2].link[0], 1);
	assert_int_equal(c.members[2].link[1], 3);
	/* dpdk without a clients line hears clients on its ports */
	write_file("[cluster]\nid = 7\nreplicas = 1\ntransport = dpdk\n"
		   "[replica.0]\nip = 127.0.0.1\nport = 7100\nmac = 02:00:00:00:00:01\n");
	if (cfg_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.clients, CFG_CLIENTS_DPDK);
}

static void test_defaults(void **state)
{
	(void)state;
	write_file("[cluster]\nid = 7\nreplicas = 3\n" MEMBERS3);
	struct cfg_cluster c, d;
	char err[512];
	int rc = cfg_load(path, &c, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	cfg_defaults(&d);
	assert_int_equal(c.heartbeat_ms, d.heartbeat_ms);
	assert_int_equal(c.election_ms, d.election_ms);
	assert_int_equal(c.tick_us, d.tick_us);
	assert_int_equal(c.window_slots, d.window_slots);
	assert_int_equal(c.idle, CFG_IDLE_ADAPTIVE);
	assert_int_equal(c.service, CFG_SERVICE_KV);
	assert_int_equal(c.transport, CFG_TRANSPORT_UDP);
	assert_int_equal(c.durability, PX_MEMORY);
	assert_int_equal(c.members[2].port, 7102);
	assert_int_equal(c.clients, CFG_CLIENTS_UDP);
	assert_int_equal(c.stages, 1);
}

static void test_durable(void **state)
{
	(void)state;
	/* durable mode (an on-disk journal, paxwired --data-dir) is accepted and reaches
	 * the core's configuration. */
	write_file("[cluster]\nid = 7\nreplicas = 3\ndurability = durable\n" MEMBERS3);
	struct cfg_cluster c;
	char err[512];
	if (cfg_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.durability, PX_DURABLE);
	struct px_config px;
	cfg_to_px(&c, 1, &px);
	assert_int_equal(px.durability, PX_DURABLE);
	assert_false(px.restarted);
}

static void test_log_transport(void **state)
{
	(void)state;
	struct cfg_cluster c;
	char err[512];
	/* The default: ACCEPTs as datagrams. */
	write_file("[cluster]\nid = 7\nreplicas = 3\n" MEMBERS3);
	if (cfg_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.log_transport, CFG_LOG_MESSAGE);
	assert_string_equal(cfg_log_transport_name(c.log_transport), "message");
	write_file("[cluster]\nid = 7\nreplicas = 3\nlog_transport = rdma\nrm_device = mlx5_1\n"
		   "rm_port = 2\nrm_gid_index = 3\nrm_ring = 256\n" MEMBERS3);
	if (cfg_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.log_transport, CFG_LOG_RDMA);
	assert_string_equal(c.rm_device, "mlx5_1");
	assert_int_equal(c.rm_port, 2);
	assert_int_equal(c.rm_gid_index, 3);
	assert_int_equal(c.rm_ring, 256);
	write_file("[cluster]\nid = 7\nreplicas = 3\nlog_transport = shm\n" MEMBERS3);
	if (cfg_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.log_transport, CFG_LOG_SHM);
	assert_int_equal(c.rm_ring, 64);
}

static void test_timers_us(void **state)
{
	(void)state;
	/* Microsecond timers (the dedicated-core profile): heartbeat_us and election_us
	 * reach the core as ticks of a 5 us tick; the ms fields are rounded down. */
	write_file("[cluster]\nid = 1\nreplicas = 3\n" "tick_us = 5\nheartbeat_us = 50\nelection_us = 500\n" MEMBERS3);
	struct cfg_cluster c;
	char err[512];
	if (cfg_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.tick_us, 5);
	assert_int_equal(c.heartbeat_us, 50);
	assert_int_equal(c.election_us, 500);
	assert_int_equal(c.heartbeat_ms, 0);
	assert_int_equal(c.election_ms, 0);
	struct px_config px;
	cfg_to_px(&c, 0, &px);
	assert_int_equal(px.heartbeat_ticks, 10);
	assert_int_equal(px.election_ticks, 100);   /* the core takes them: >= 2 x heartbeat */

	/* One of each pair in ms, the other in us. */
	write_file("[cluster]\nid = 1\nreplicas = 3\n" "tick_us = 100\nheartbeat_us = 500\nelection_ms = 3\n" MEMBERS3);
	if (cfg_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.heartbeat_us, 500);
	assert_int_equal(c.election_us, 3000);
	assert_int_equal(c.election_ms, 3);
	cfg_to_px(&c, 0, &px);
	assert_int_equal(px.heartbeat_ticks, 5);
	assert_int_equal(px.election_ticks, 30);

	/* The ms keys alone: as before. */
	write_file("[cluster]\nid = 1\nreplicas = 3\n" "heartbeat_ms = 2\nelection_ms = 20\ntick_us = 100\n" MEMBERS3);
	if (cfg_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.heartbeat_us, 2000);
	assert_int_equal(c.election_us, 20000);
	cfg_to_px(&c, 0, &px);
	assert_int_equal(px.heartbeat_ticks, 20);
	assert_int_equal(px.election_ticks, 200);
}

static void test_listed_beyond_replicas(void **state)
{
	(void)state;
	/* A section for an id above replicas - 1 lists a member added at run time (pwctl
	 * add-member, paxwired --join): accepted and kept; the initial voters stay 0..2. */
	write_file("[cluster]\nid = 7\nreplicas = 3\ndurability = durable\n" MEMBERS3
		   "[replica.5]\nip = 127.0.0.1\nport = 7105\n");
	struct cfg_cluster c;
	char err[512];
	if (cfg_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.n_replicas, 3);
	assert_int_equal(c.listed, 0x27);
	assert_int_equal(c.members[5].port, 7105);
	assert_int_equal(c.members[5].id, 5);
	write_file("[cluster]\nid = 7\nreplicas = 3\n" MEMBERS3);
	if (cfg_load(path, &c, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.listed, 0x7);
}

/** One bad file: the error must name this line and contain both fragments. */
struct bad {
	const char *name;
	const char *text;
	uint32_t line;
	const char *what;
	const char *fix;
};

#define CL "[cluster]\nid = 1\nreplicas = 3\n"  /* lines 1-3 */

static const struct bad bads[] = {
	{ "log transport unknown", CL "log_transport = carrier-pigeon\n" MEMBERS3, 4,
	  "unknown log transport", "fix: log_transport = message" },
	{ "one-sided writes are not durable", CL "durability = durable\nlog_transport = shm\n"
	  MEMBERS3, 5, "log_transport = shm with durability = durable", "fix: durability = memory" },
	{ "rm_ring without the transport", CL "rm_ring = 64\n" MEMBERS3, 4,
	  "rm_ring is set but log_transport = message", "fix: log_transport = shm or rdma" },
	{ "rm_ring not a power of two", CL "log_transport = shm\nrm_ring = 100\n" MEMBERS3, 5,
	  "power of two", "fix: rm_ring =" },
	{ "device keys without rdma", CL "log_transport = shm\nrm_gid_index = 3\n" MEMBERS3, 5,
	  "rm_gid_index is set but log_transport = shm", "fix: log_transport = rdma" },
	{ "bad device name", CL "log_transport = rdma\nrm_device = mlx5 0\n" MEMBERS3, 5,
	  "not an RDMA device name", "fix: rm_device = mlx5_0" },
	{ "unknown durability", CL "durability = sometimes\n" MEMBERS3, 4,
	  "unknown durability", "fix: durability = memory (durability by replication) or durability = durable" },
	{ "unknown key", CL "heartbeat = 5\n" MEMBERS3, 4, "unknown key 'heartbeat'",
	  "fix: use one of id, replicas" },
	{ "duplicate key", CL "tick_us = 100\ntick_us = 200\n" MEMBERS3, 5,
	  "duplicate key 'tick_us' (first on line 4)", "fix: keep one 'tick_us'" },
	{ "no key file", "[cluster]\nid = 1\nauth = on\nreplicas = 3\n" MEMBERS3, 1,
	  "[cluster] has no key_file", "fix: run `pwctl keygen cluster.key`" },
	{ "auth off with a key", "[cluster]\nid = 1\nauth = off\nkey_file = k\nreplicas = 3\n"
	  MEMBERS3, 3, "auth = off but key_file", "fix: remove one of the two lines" },
	{ "auth maybe", "[cluster]\nid = 1\nauth = maybe\nreplicas = 3\n" MEMBERS3, 3,
	  "auth = maybe: auth is on or off", "fix: auth = on" },
	{ "auth clients", "[cluster]\nid = 1\nauth = off\nauth_clients = 100\nreplicas = 3\n"
	  MEMBERS3, 4, "auth_clients = 100", "fix: auth_clients =" },
	{ "not a number", CL "heartbeat_ms = 5ms\n" MEMBERS3, 4, "heartbeat_ms = 5ms: not a whole number",
	  "fix: heartbeat_ms = <1..60000>, e.g. heartbeat_ms = 5" },
	{ "negative", CL "sessions = -1\n" MEMBERS3, 4, "not a whole number",
	  "fix: sessions = <1..65536>" },
	{ "out of range", CL "batch_cmds_max = 257\n" MEMBERS3, 4, "in [1, 256]",
	  "fix: batch_cmds_max = <1..256>" },
	{ "slot too small", CL "slot_bytes = 4000\n" MEMBERS3, 4, "in [4120, 16384]",
	  "e.g. slot_bytes = 8192" },
	{ "window not a power of two", CL "window_slots = 1000\n" MEMBERS3, 4,
	  "power of two", "fix: window_slots = <power of two, 16..4096>" },
	{ "id zero", "[cluster]\nid = 0\nreplicas = 3\n" MEMBERS3, 2, "id = 0",
	  "e.g. id = 1" },
	{ "replicas even", "[cluster]\nid = 1\nreplicas = 4\n" MEMBERS3, 3,
	  "3, 5, 7 or 9", "fix: replicas = 3" },
	{ "pipeline above half the window", CL "window_slots = 64\npipeline_slots = 33\n" MEMBERS3, 5,
	  "more than window_slots / 2 = 32", "fix: pipeline_slots = 32 or less" },
	{ "pipeline default above a small window", CL "window_slots = 256\n" MEMBERS3, 4,
	  "pipeline_slots = 256 is more than window_slots / 2 = 128",
	  "fix: pipeline_slots = 128 or less, or window_slots = 512" },
	{ "election below two heartbeats", CL "heartbeat_ms = 10\nelection_ms = 15\n" MEMBERS3, 5,
	  "less than 2 x heartbeat_ms = 20", "fix: election_ms = 20 or more" },
	{ "heartbeat raised above half the default election", CL "heartbeat_ms = 30\n" MEMBERS3, 4,
	  "election_ms = 50 is less than 2 x heartbeat_ms = 60", "fix: election_ms = 60 or more" },
	{ "tick longer than heartbeat", CL "heartbeat_ms = 1\nelection_ms = 2\ntick_us = 2000\n" MEMBERS3,
	  6, "a heartbeat must last at least one tick", "fix: tick_us = 1000 or less" },
	{ "too many ticks", CL "election_ms = 600000\ntick_us = 10\n" MEMBERS3, 5,
	  "60000000 ticks", "fix: a larger tick_us" },
	{ "heartbeat in ms and in us", CL "heartbeat_ms = 5\nheartbeat_us = 50\n" MEMBERS3, 5,
	  "heartbeat_ms (line 4) and heartbeat_us (line 5) both set", "fix: keep one of the two lines" },
	{ "election in us and in ms", CL "election_us = 500\nelection_ms = 50\n" MEMBERS3, 5,
	  "election_ms (line 5) and election_us (line 4) both set", "fix: keep one of the two lines" },
	{ "election_us below two heartbeats", CL "heartbeat_us = 50\nelection_us = 80\n" MEMBERS3, 5,
	  "less than 2 x heartbeat interval = 100 us", "fix: election_us = 100 or more" },
	{ "election_ms below two heartbeat_us", CL "heartbeat_us = 30000\n" MEMBERS3, 4,
	  "election timeout 50000 us is less than 2 x heartbeat interval = 60000 us",
	  "fix: election_us = 60000 or more" },
	{ "tick longer than heartbeat_us", CL "heartbeat_us = 40\nelection_us = 400\ntick_us = 50\n" MEMBERS3,
	  6, "tick_us = 50 is longer than heartbeat_us = 40", "fix: tick_us = 40 or less" },
	{ "tick zero", CL "tick_us = 0\n" MEMBERS3, 4, "not a whole number in [1, 1000000]",
	  "fix: tick_us = <1..1000000>" },
	{ "too many us ticks", CL "election_us = 200000000\ntick_us = 100\n" MEMBERS3, 5,
	  "2000000 ticks", "fix: a larger tick_us" },
	{ "unknown transport", CL "transport = tcp\n" MEMBERS3, 4, "unknown transport",
	  "fix: transport = udp" },
	{ "unknown idle", CL "idle = sleepy\n" MEMBERS3, 4, "unknown idle policy",
	  "fix: idle = poll" },
	{ "bad service name", CL "service = SQL\n" MEMBERS3, 4, "service = SQL: not a service name",
	  "fix: service = kv, service = stream, or a plugin's service name with service_lib" },
	{ "service_lib not absolute", CL "service = counter\nservice_lib = libpwcounter.so\n" MEMBERS3,
	  5, "service_lib = libpwcounter.so: not an absolute path",
	  "fix: service_lib = /full/path/to/libNAME.so" },
	{ "service section of another service", CL "service = counter\n[service.countr]\nn = 1\n" MEMBERS3,
	  5, "section [service.countr] but service = counter (line 4)",
	  "fix: rename the section [service.counter], or remove it" },
	{ "service section without a service line", CL "[service.counter]\nn = 1\n" MEMBERS3,
	  4, "[cluster] has no service line, so the service is kv (the default)",
	  "fix: add service = counter under [cluster]" },
	{ "service section name", CL "[service.Counter]\n" MEMBERS3, 4,
	  "section [service.Counter]: not a service name", "fix: [service.NAME]" },
	{ "second service section", CL "service = counter\n[service.counter]\n[service.counter]\n" MEMBERS3,
	  6, "a second service section [service.counter] ([service.counter] on line 5)",
	  "fix: keep one" },
	{ "cluster key in the service section", CL "[service.kv]\nkv_keys = 10\n" MEMBERS3, 5,
	  "kv_keys is a [cluster] key, not a service parameter", "fix: move the line to [cluster]" },
	{ "duplicate service key", CL "service = counter\n[service.counter]\nn = 1\nn = 2\n" MEMBERS3,
	  7, "duplicate key 'n' (first on line 6)", "fix: keep one 'n' line in [service.counter]" },
	{ "service key characters", CL "service = counter\n[service.counter]\nn/m = 1\n" MEMBERS3,
	  6, "key 'n/m' in [service.counter]", "fix: rename it" },
	{ "service value too long", CL "service = counter\n[service.counter]\nn = "
	  "0123456789012345678901234567890123456789012345678901234567890123"
	  "0123456789012345678901234567890123456789012345678901234567890123\n" MEMBERS3,
	  6, "n: value longer than 127 characters", "fix: a shorter value" },
	{ "stream records not a power of two", CL "stream_records = 1000\n" MEMBERS3, 4,
	  "power of two", "fix: stream_records = <power of two" },
	{ "kv value too long", CL "kv_value_bytes = 4000\n" MEMBERS3, 4, "in [0, 3829]",
	  "fix: kv_value_bytes = <0..3829>" },
	{ "empty value", CL "tick_us =\n" MEMBERS3, 4, "tick_us has an empty value",
	  "fix: write tick_us = <value>" },
	{ "no key name", CL "= 5\n" MEMBERS3, 4, "no key name", "fix: write key = value" },
	{ "not key = value", CL "tick_us 1000\n" MEMBERS3, 4, "not a 'key = value' line",
	  "fix: write key = value" },
	{ "indented", CL "tick_us = 1000\n  election_ms = 50\n" MEMBERS3, 5,
	  "starts with whitespace", "fix: remove the indentation" },
	{ "key before any section", "id = 1\n" CL MEMBERS3, 1, "before any section",
	  "fix: put it under [cluster]" },
	{ "unknown section", CL "[replicas.1]\nip = 1.2.3.4\n" MEMBERS3, 4,
	  "unknown section [replicas.1]", "fix: [cluster] or [replica.N]" },
	{ "section without bracket", CL "[replica.0\n" MEMBERS3, 4, "without ']'",
	  "fix: write [cluster]" },
	{ "replica id not a number", CL "[replica.x]\n" MEMBERS3, 4,
	  "replica id must be a number", "fix: [replica.N] with N in 0..8" },
	{ "replica id too big", CL "[replica.9]\n" MEMBERS3, 4, "ids are 0..8",
	  "fix: [replica.N] with N in 0..8" },
	{ "duplicate cluster section", CL MEMBERS3 "[cluster]\n", 13,
	  "duplicate section [cluster] (first on line 1)", "fix: keep one [cluster]" },
	{ "duplicate member section", CL MEMBERS3 "[replica.1]\n", 13,
	  "duplicate section [replica.1] (first on line 7)", "fix: keep one section per replica id" },
	{ "member key unknown", CL "[replica.0]\nip = 127.0.0.1\nport = 7100\nhost = x\n"
	  "[replica.1]\nip = 127.0.0.1\nport = 7101\n[replica.2]\nip = 127.0.0.1\nport = 7102\n",
	  7, "unknown key 'host' in [replica.0]", "fix: use ip, port, mac, port_index or link.J" },
	{ "member duplicate key", CL "[replica.0]\nip = 127.0.0.1\nport = 7100\nport = 7103\n"
	  "[replica.1]\nip = 127.0.0.1\nport = 7101\n[replica.2]\nip = 127.0.0.1\nport = 7102\n",
	  7, "duplicate key 'port' (first on line 6)", "fix: keep one 'port' line in [replica.0]" },
	{ "bad ip", CL "[replica.0]\nip = 127.0.0.256\nport = 7100\n"
	  "[replica.1]\nip = 127.0.0.1\nport = 7101\n[replica.2]\nip = 127.0.0.1\nport = 7102\n",
	  5, "not an IPv4 address", "fix: ip = <dotted quad>" },
	{ "ip any", CL "[replica.0]\nip = 0.0.0.0\nport = 7100\n"
	  "[replica.1]\nip = 127.0.0.1\nport = 7101\n[replica.2]\nip = 127.0.0.1\nport = 7102\n",
	  5, "not a unicast address", "fix: ip = the address replica 0 is reachable at" },
	{ "bad port", CL "[replica.0]\nip = 127.0.0.1\nport = 70000\n"
	  "[replica.1]\nip = 127.0.0.1\nport = 7101\n[replica.2]\nip = 127.0.0.1\nport = 7102\n",
	  6, "not a UDP port", "fix: port = <1..65535>" },
	{ "bad mac", CL "[replica.0]\nip = 127.0.0.1\nport = 7100\nmac = 02:00:00:00:00\n"
	  "[replica.1]\nip = 127.0.0.1\nport = 7101\n[replica.2]\nip = 127.0.0.1\nport = 7102\n",
	  7, "not a MAC address", "fix: mac = xx:xx:xx:xx:xx:xx" },
	{ "multicast mac", CL "[replica.0]\nip = 127.0.0.1\nport = 7100\nmac = 01:00:5e:00:00:01\n"
	  "[replica.1]\nip = 127.0.0.1\nport = 7101\n[replica.2]\nip = 127.0.0.1\nport = 7102\n",
	  7, "not a unicast address", "fix: a unicast MAC" },
	{ "port index", CL "[replica.0]\nip = 127.0.0.1\nport = 7100\nport_index = 5000\n"
	  "[replica.1]\nip = 127.0.0.1\nport = 7101\n[replica.2]\nip = 127.0.0.1\nport = 7102\n",
	  7, "not an ethdev port", "fix: port_index = 0" },
	{ "duplicate ip:port", CL "[replica.0]\nip = 127.0.0.1\nport = 7100\n"
	  "[replica.1]\nip = 127.0.0.1\nport = 7101\n[replica.2]\nip = 127.0.0.1\nport = 7100\n",
	  12, "[replica.2] uses 127.0.0.1:7100 like [replica.0] (line 6)",
	  "fix: give each replica on one IP its own port" },
	{ "member beyond replicas without port", CL MEMBERS3 "[replica.3]\nip = 127.0.0.1\n", 13,
	  "[replica.3] has no port", "fix: add port = <UDP port> under [replica.3], e.g. port = 7103" },
	{ "member beyond replicas on a taken port", CL MEMBERS3
	  "[replica.5]\nip = 127.0.0.1\nport = 7101\n", 15,
	  "[replica.5] uses 127.0.0.1:7101 like [replica.1]", "fix: give each replica on one IP its own port" },
	{ "member missing", CL "[replica.0]\nip = 127.0.0.1\nport = 7100\n"
	  "[replica.2]\nip = 127.0.0.1\nport = 7102\n", 3,
	  "replicas = 3 but there is no [replica.1]", "fix: add a [replica.1] section with ip and port" },
	{ "member without port", CL "[replica.0]\nip = 127.0.0.1\nport = 7100\n"
	  "[replica.1]\nip = 127.0.0.1\n[replica.2]\nip = 127.0.0.1\nport = 7102\n", 7,
	  "[replica.1] has no port", "fix: add port = <UDP port> under [replica.1], e.g. port = 7101" },
	{ "member without ip", CL "[replica.0]\nip = 127.0.0.1\nport = 7100\n"
	  "[replica.1]\nport = 7101\n[replica.2]\nip = 127.0.0.1\nport = 7102\n", 7,
	  "[replica.1] has no ip", "fix: add ip = <IPv4 address> under [replica.1]" },
	{ "dpdk without mac", CL "transport = dpdk\n" MEMBERS3, 5, "[replica.0] has no mac",
	  "fix: add mac = xx:xx:xx:xx:xx:xx under [replica.0]" },
	{ "clients with udp transport", CL "clients = udp\n" MEMBERS3, 4,
	  "only transport = dpdk chooses", "fix: remove the line" },
	{ "unknown clients", CL "transport = dpdk\nclients = tcp\n" MEMBERS3, 5,
	  "unknown client transport", "fix: clients = dpdk" },
	{ "stages = 2 removed", CL "stages = 2\n" MEMBERS3, 4,
	  "stages = 2 (the applier on a second lcore) was removed", "fix: remove the line" },
	{ "stages out of range", CL "stages = 3\n" MEMBERS3, 4, "in [1, 2]", "fix: stages = <1..2>" },
	{ "link with udp transport", CL "[replica.0]\nip = 127.0.0.1\nport = 7100\nlink.1 = 1\n"
	  "[replica.1]\nip = 127.0.0.1\nport = 7101\n[replica.2]\nip = 127.0.0.1\nport = 7102\n",
	  7, "only transport = dpdk has", "fix: remove link.1" },
	{ "link to self", CL "[replica.0]\nip = 127.0.0.1\nport = 7100\nlink.0 = 1\n"
	  "[replica.1]\nip = 127.0.0.1\nport = 7101\n[replica.2]\nip = 127.0.0.1\nport = 7102\n",
	  7, "no link to itself", "fix: remove the line" },
	{ "link not a replica id", CL "[replica.0]\nip = 127.0.0.1\nport = 7100\nlink.x = 1\n"
	  "[replica.1]\nip = 127.0.0.1\nport = 7101\n[replica.2]\nip = 127.0.0.1\nport = 7102\n",
	  7, "link.J needs a replica id", "fix: link.1 = <ethdev port index>" },
	{ "link bad port", CL "[replica.0]\nip = 127.0.0.1\nport = 7100\nlink.1 = 9999\n"
	  "[replica.1]\nip = 127.0.0.1\nport = 7101\n[replica.2]\nip = 127.0.0.1\nport = 7102\n",
	  7, "not an ethdev port", "fix: link.1 = <the port index of the link to replica 1>" },
	{ "no cluster section", MEMBERS3, 0, "no [cluster] section", "fix: add [cluster]" },
	{ "no id", "[cluster]\nreplicas = 3\n" MEMBERS3, 1, "[cluster] has no id",
	  "fix: add id = <1..4294967295> under [cluster]" },
	{ "no replicas", "[cluster]\nid = 3\n" MEMBERS3, 1, "[cluster] has no replicas",
	  "fix: add replicas = 3" },
};

/** The line numbers a message names ("line N", N > 1) move down with g_shift. */
static void shift_lines(const char *in, char *out, size_t cap)
{
	size_t w = 0;
	for (const char *q = in; *q != 0 && w + 12 < cap;) {
		if (g_shift && strncmp(q, "line ", 5) == 0 && q[5] >= '2' && q[5] <= '9') {
			char *end;
			unsigned long ln = strtoul(q + 5, &end, 10);
			w += (size_t)snprintf(out + w, cap - w, "line %lu", ln + g_shift);
			q = end;
		} else {
			out[w++] = *q++;
		}
	}
	out[w] = 0;
}

static void check_bad(const struct bad *b)
{
	write_file(b->text);
	struct cfg_cluster c;
	char err[512];
	int rc = cfg_load(path, &c, err, sizeof(err));
	if (rc != -EINVAL)
		fail_msg("%s: loaded (rc %d) but should fail", b->name, rc);
	char where[320];
	snprintf(where, sizeof(where), "%s:%u: ", path, b->line > 1 ? b->line + g_shift : b->line);
	if (strncmp(err, where, strlen(where)) != 0)
		fail_msg("%s: expected '%s...', got '%s'", b->name, where, err);
	char what[256], fix[256];
	shift_lines(b->what, what, sizeof(what));
	shift_lines(b->fix, fix, sizeof(fix));
	if (strstr(err, what) == NULL)
		fail_msg("%s: '%s' not in '%s'", b->name, what, err);
	if (strstr(err, "; fix: ") == NULL || strstr(err, fix) == NULL)
		fail_msg("%s: fix '%s' not in '%s'", b->name, fix, err);
	if (strchr(err, '\n') != NULL)
		fail_msg("%s: the message is not one line: '%s'", b->name, err);
}

static void test_each_error(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++)
		check_bad(&bads[i]);
}

static void test_long_line(void **state)
{
	(void)state;
	char text[1024];
	char pad[400];
	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	snprintf(text, sizeof(text), CL "; %s\n" MEMBERS3, pad);
	const struct bad b = { "long line", text, 4, "line longer than", "fix: shorten it" };
	check_bad(&b);
}

static void test_missing_file(void **state)
{
	(void)state;
	struct cfg_cluster c;
	char err[512];
	char p[160];
	snprintf(p, sizeof(p), "%s/nope.ini", dir);
	assert_int_equal(cfg_load(p, &c, err, sizeof(err)), -EINVAL);
	char where[320];
	snprintf(where, sizeof(where), "%s:0: cannot open: No such file or directory; fix:", p);
	if (strncmp(err, where, strlen(where)) != 0)
		fail_msg("got '%s'", err);
	assert_int_equal(cfg_key_line(p, "cluster", "id"), 0);
}

static void test_last_line_without_newline(void **state)
{
	(void)state;
	write_file(CL MEMBERS3 "[replica.3]");
	struct cfg_cluster c;
	char err[512];
	assert_int_equal(cfg_load(path, &c, err, sizeof(err)), -EINVAL);
	char where[320];
	snprintf(where, sizeof(where), "%s:%u: [replica.3] has no ip", path, 13 + g_shift);
	if (strncmp(err, where, strlen(where)) != 0)
		fail_msg("got '%s'", err);
}

static void test_deploy_files(void **state)
{
	(void)state;
	/* The example configs shipped in deploy/ must load. */
	static const char *const files[] = { "local-3-udp.ini", "local-5-udp.ini",
					     "local-3-memif.ini", "local-5-memif.ini",
					     "local-3-afpacket.ini", "nic-3.ini",
					     "local-3-durable.ini", "local-3-dedicated.ini",
					     "local-3-shm.ini", "rdma-3.ini" };
	static const uint8_t replicas[] = { 3, 5, 3, 5, 3, 3, 3, 3, 3, 3 };
	_Static_assert(sizeof(files) / sizeof(files[0]) == sizeof(replicas), "one count per file");
	const char *src = getenv("PW_DEPLOY_DIR");
	if (src == NULL)
		skip();
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char p[512];
		snprintf(p, sizeof(p), "%s/%s", src, files[i]);
		struct cfg_cluster c;
		char err[512];
		if (cfg_load(p, &c, err, sizeof(err)) != 0)
			fail_msg("%s", err);
		assert_int_equal(c.n_replicas, replicas[i]);
		/* Only the durable example keeps a journal. */
		assert_int_equal(c.durability, strstr(files[i], "durable") != NULL ? PX_DURABLE
										    : PX_MEMORY);
		assert_int_equal(c.log_transport, strstr(files[i], "shm") != NULL    ? CFG_LOG_SHM
						  : strstr(files[i], "rdma") != NULL ? CFG_LOG_RDMA
										     : CFG_LOG_MESSAGE);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_durable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timers_us, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_transport, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listed_beyond_replicas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_links, setup, teardown),
		cmocka_unit_test_setup_teardown(test_service_params, setup, teardown),
		cmocka_unit_test_setup_teardown(test_each_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_last_line_without_newline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deploy_files, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
