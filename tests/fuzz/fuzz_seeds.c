/* SPDX-License-Identifier: Apache-2.0
 * Writes the hand-made seeds of the fuzz corpora: fuzz_seeds DIR creates
 * DIR/<harness>/seed-* for every harness but fuzz_config (whose seeds are the files in
 * deploy/, plus a few variants this program writes too). Built with -Dfuzz=true; not a
 * fuzzer. The committed corpora (tests/fuzz/corpus/) started from these seeds and were
 * grown and minimised by libFuzzer (scripts/fuzz --merge): rerun this only to add seed
 * kinds, then merge.
 *
 * Seeds are real encodings: every message comes from px_encode, every command and
 * reply from the wire/ encoders, so each one passes its decoder and the fuzzer starts
 * from inputs that reach the code past the decoders' first checks.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "px.h"
#include "px_apply.h"
#include "px_batch.h"
#include "px_codec.h"
#include "wire_kv.h"
#include "wire_le.h"
#include "wire_stream.h"

/* The harnesses' cluster id (fuzz_wire.c, fuzz_reply.c, fuzz_core.c). */
#define FUZZ_CLUSTER 0xc1a55e01u

static const char *root;
static uint8_t buf[PX_MSG_BYTES_MAX * 2];
static struct px_msg m;

static void die(const char *what)
{
	fprintf(stderr, "fuzz_seeds: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void mkdir_p(const char *dir)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", root, dir);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		die(path);
}

/** Writes DIR/<harness>/seed-<name>: one prefix byte (0 = none) and the bytes. */
__attribute__((format(printf, 5, 6))) static void put(const char *harness, int prefix,
						      const void *bytes, size_t len,
						      const char *fmt, ...)
{
	char name[128], path[512];
	va_list ap;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s/seed-%s", root, harness, name);
	f = fopen(path, "wb");
	if (f == NULL)
		die(path);
	if (prefix >= 0 && fputc(prefix, f) == EOF)
		die(path);
	if (len != 0 && fwrite(bytes, 1, len, f) != len)
		die(path);
	if (fclose(f) != 0)
		die(path);
}

/* ---- Protocol messages ----------------------------------------------------------- */

static uint8_t values[4][256];

/** A message header from node `from` of an n-replica cluster (crash vector all 1). */
static void msg_begin(uint8_t type, uint8_t from, uint8_t to, uint8_t n)
{
	memset(&m, 0, offsetof(struct px_msg, entries));
	m.type = type;
	m.from = from;
	m.to = to;
	m.cluster_id = FUZZ_CLUSTER;
	m.config_epoch = 1;
	m.ballot = px_ballot_make(2, from < n ? from : 0);
	m.n_inc = (type == PX_MSG_REQUEST || type == PX_MSG_REPLY) ? 0 : n;
	for (uint8_t i = 0; i < m.n_inc; i++)
		m.incarnation[i] = 1;
}

/** Gives m k entries from slot 1: a no-op, then batches of one and two commands. */
static void msg_entries(uint32_t k)
{
	for (uint32_t i = 0; i < k; i++) {
		struct px_cmd_ref c[2] = {
			{ .client_id = 7, .seq = i + 1, .len = 5, .body = (const uint8_t *)"hello" },
			{ .client_id = 9, .seq = i + 1, .len = 0, .body = NULL },
		};
		uint32_t len = 0;

		if (i == 0)
			len = px_batch_noop(values[i]);
		else
			px_batch_fill(values[i], sizeof(values[i]), c, i == 1 ? 1 : 2, 8, &len);
		m.entries[i] = (struct px_entry){ .slot = i + 1, .vballot = m.ballot,
						  .len = len, .value = values[i],
						  .flags = i == 0 ? PX_EF_CHOSEN : 0 };
	}
	m.n_entries = k;
}

static size_t msg_encode(void)
{
	size_t len = px_encode(&m, buf, sizeof(buf));

	if (len == 0) {
		fprintf(stderr, "fuzz_seeds: a seed message does not encode\n");
		exit(1);
	}
	return len;
}

/** One message of every type, for a cluster of n. */
static void wire_seeds(uint8_t n, uint8_t prefix)
{
	static const uint8_t body[] = { 1, 3, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 'k', 'e', 'y', 'v', 'v' };
	uint8_t peer = n > 1 ? 1 : 0;
	size_t len;

	for (uint8_t t = PX_MSG_PREVOTE; t <= PX_MSG_REFUSE; t++) {
		msg_begin(t, 0, t % 2 ? peer : PX_NODE_NONE, n);
		m.slot_lo = 1;
		m.slot_hi = 3;
		m.commit = 1;
		m.nonce = 0x1234;
		switch (t) {
		case PX_MSG_PREVOTE_REPLY: m.flags = PX_MF_GRANT; break;
		case PX_MSG_PREPARE: m.flags = PX_MF_FORCE; break;
		case PX_MSG_PROMISE: m.flags = PX_MF_LAST; msg_entries(3); break;
		case PX_MSG_ACCEPT: m.read_round = 2; msg_entries(4); break;
		case PX_MSG_ACCEPTED: m.read_round = 2; break;
		case PX_MSG_RECOVER: m.flags = PX_MF_ANNOUNCE; break;
		case PX_MSG_RECOVER_REPLY:
			m.flags = PX_MF_LAST | PX_MF_NORMAL | PX_MF_ANNOUNCE;
			msg_entries(2);
			break;
		case PX_MSG_SNAP_REQ:
			m.snap_off = 8192;
			break;
		case PX_MSG_SNAP_CHUNK:
			m.snap_total = 20000;
			m.snap_off = 8192;
			m.body = values[0];
			m.body_len = sizeof(values[0]);
			break;
		default: break;
		}
		len = msg_encode();
		put("fuzz_wire", prefix, buf, len, "n%u-%s", n, px_msg_type_name(t));
	}
	msg_begin(PX_MSG_REQUEST, PX_NODE_NONE, 0, n);
	m.client_id = 5;
	m.seq = 3;
	m.body = body;
	m.body_len = sizeof(body);
	len = msg_encode();
	put("fuzz_wire", prefix, buf, len, "n%u-REQUEST", n);
	msg_begin(PX_MSG_REQUEST, PX_NODE_NONE, 0, n);
	m.flags = PX_MF_REGISTER;
	m.client_id = 0x1122334455667788ull;
	len = msg_encode();
	put("fuzz_wire", prefix, buf, len, "n%u-REQUEST-register", n);
	msg_begin(PX_MSG_REPLY, 0, PX_NODE_NONE, n);
	m.client_id = 5;
	m.seq = 3;
	m.status = PX_NOT_LEADER;
	m.leader_hint = peer;
	len = msg_encode();
	put("fuzz_wire", prefix, buf, len, "n%u-REPLY", n);
}

/* ---- Client replies ---------------------------------------------------------------- */

/** Writes a fuzz_reply seed twice: authentication off, and on with the message sealed
 *  by replica 1 and received from member 1 (fuzz_reply.c, byte 1). */
static void reply_put(int prefix, const uint8_t *msg, size_t len, const char *name)
{
	static uint8_t with_mode[sizeof(buf) + 1];

	with_mode[0] = 0x00;
	memcpy(with_mode + 1, msg, len);
	put("fuzz_reply", prefix, with_mode, len + 1, "%s", name);
	with_mode[0] = 0x03 | 1u << 2 | 1u << 5;
	put("fuzz_reply", prefix, with_mode, len + 1, "%s-sealed", name);
}

/** A REPLY datagram with this body (fuzz_reply: n = 3, op in the high nibble). */
static void reply_seed(unsigned op, uint8_t status, const uint8_t *body, uint32_t len,
		       const char *name)
{
	size_t n;

	msg_begin(PX_MSG_REPLY, 1, PX_NODE_NONE, 3);
	m.client_id = 42;
	m.seq = 7;
	m.status = status;
	m.leader_hint = status == PX_NOT_LEADER ? 2 : PX_NODE_NONE;
	m.body = body;
	m.body_len = len;
	n = msg_encode();
	reply_put((int)(op << 4 | 1), buf, n, name);
}

static void reply_seeds(void)
{
	uint8_t b[256], id[PX_SESSION_ID_BYTES];
	uint32_t n;
	size_t len;

	wire_st64(id, 0x42);
	reply_seed(0, PX_OK, id, sizeof(id), "register");
	n = wire_kv_encode_reply_hdr(b, WIRE_KV_R_OK, 3);
	memcpy(b + n, "val", 3);
	reply_seed(1, PX_OK, b, n + 3, "kv-get");
	n = wire_kv_encode_reply_hdr(b, WIRE_KV_R_CAS_MISMATCH, 2);
	memcpy(b + n, "xy", 2);
	reply_seed(1, PX_OK, b, n + 2, "kv-cas-mismatch");
	reply_seed(1, PX_NOT_LEADER, NULL, 0, "not-leader");
	reply_seed(1, PX_BUSY, NULL, 0, "busy");
	reply_seed(1, PX_SESSION_EXPIRED, NULL, 0, "expired");
	n = wire_stream_encode_reply_hdr(b, WIRE_STREAM_R_OK, 2, 12);
	wire_st32(b + n, 3);
	memcpy(b + n + 4, "abc", 3);
	wire_st32(b + n + 7, 0);
	reply_seed(2, PX_OK, b, n + 11, "stream-read");
	n = wire_stream_encode_reply_hdr(b, WIRE_STREAM_R_TRUNCATED, 0, 4);
	reply_seed(2, PX_OK, b, n, "stream-truncated");
	reply_seed(3, PX_BAD_COMMAND, (const uint8_t *)"no", 2, "execute-bad");
	reply_seed(4, PX_OK, (const uint8_t *)"{\"role\":\"leader\"}", 17, "stats");

	msg_begin(PX_MSG_SNAP_CHUNK, 2, PX_NODE_NONE, 3);
	m.slot_hi = 100;
	m.nonce = 0xabcdef;
	m.snap_total = 300;
	m.body = values[0];
	m.body_len = 256;
	len = msg_encode();
	reply_put(1, buf, len, "snap-chunk");
	msg_begin(PX_MSG_SNAP_CHUNK, 2, PX_NODE_NONE, 3);
	m.flags = PX_MF_SNAP_NONE;
	len = msg_encode();
	reply_put(1, buf, len, "snap-none");
}

/* ---- kv and stream ------------------------------------------------------------------- */

static void kv_seeds(void)
{
	uint8_t b[512];
	uint32_t n;

	n = wire_kv_encode_put(b, sizeof(b), "key", 3, "value", 5);
	put("fuzz_kv", 0, b, n, "put");
	n = wire_kv_encode_put(b, sizeof(b), "", 0, "", 0);
	put("fuzz_kv", 0, b, n, "put-empty");
	n = wire_kv_encode_get(b, sizeof(b), "key", 3);
	put("fuzz_kv", 0, b, n, "get");
	n = wire_kv_encode_del(b, sizeof(b), "key", 3);
	put("fuzz_kv", 0, b, n, "del");
	n = wire_kv_encode_cas(b, sizeof(b), "key", 3, "new", 3, "old", 3);
	put("fuzz_kv", 0, b, n, "cas");
	n = wire_kv_encode_cas(b, sizeof(b), "key", 3, "new", 3, NULL, 0);
	put("fuzz_kv", 0, b, n, "cas-absent");
	n = wire_kv_encode_cas(b, sizeof(b), "key", 3, "", 0, "", 0);
	put("fuzz_kv", 0, b, n, "cas-empty-expect");
	for (uint8_t r = WIRE_KV_R_OK; r <= WIRE_KV_R_BAD; r++) {
		n = wire_kv_encode_reply_hdr(b, r, r == WIRE_KV_R_OK ? 4 : 0);
		if (r == WIRE_KV_R_OK)
			memcpy(b + n, "data", 4), n += 4;
		put("fuzz_kv", 1, b, n, "reply-%u", r);
	}
}

static void stream_seeds(void)
{
	uint8_t b[512];
	uint32_t n;

	n = wire_stream_encode_append(b, sizeof(b), "record", 6);
	put("fuzz_stream", 0, b, n, "append");
	n = wire_stream_encode_append(b, sizeof(b), NULL, 0);
	put("fuzz_stream", 0, b, n, "append-empty");
	n = wire_stream_encode_read(b, sizeof(b), 17, 4096);
	put("fuzz_stream", 0, b, n, "read");
	n = wire_stream_encode_reply_hdr(b, WIRE_STREAM_R_OK, 3, 10);
	for (uint32_t i = 0; i < 3; i++) {
		wire_st32(b + n, i);
		n += 4;
		memset(b + n, 'a' + (int)i, i);
		n += i;
	}
	put("fuzz_stream", 1, b, n, "reply-records");
	n = wire_stream_encode_reply_hdr(b, WIRE_STREAM_R_OK, 0, 5);
	put("fuzz_stream", 1, b, n, "reply-caught-up");
	n = wire_stream_encode_reply_hdr(b, WIRE_STREAM_R_BEYOND, 0, 99);
	put("fuzz_stream", 1, b, n, "reply-beyond");
	n = wire_stream_encode_reply_hdr(b, WIRE_STREAM_R_BAD, 0, 0);
	put("fuzz_stream", 1, b, n, "reply-bad");
}

/* ---- Cluster files ------------------------------------------------------------------- */

static void config_seeds(void)
{
	static const char *const files[][2] = {
		{ "stream",
		  "[cluster]\nid = 7\nreplicas = 1\nauth = off\nservice = stream\nstream_records = 1024\n"
		  "stream_bytes = 65536\n[replica.0]\nip = 10.0.0.1\nport = 9000\n" },
		{ "plugin",
		  "[cluster]\nid = 8\nreplicas = 3\nkey_file = cluster.key\nservice = counter\n"
		  "service_lib = /usr/lib/paxwire/libpwcounter.so\n[service.counter]\n"
		  "counters = 1024\n[replica.0]\nip = 127.0.0.1\nport = 7100\n"
		  "[replica.1]\nip = 127.0.0.1\nport = 7101\n[replica.2]\nip = 127.0.0.1\n"
		  "port = 7102\n" },
		{ "dpdk-links",
		  "[cluster]\nid = 9\nreplicas = 3\ntransport = dpdk\nclients = udp\n"
		  "key_file = /etc/paxwire/cluster.key\nauth_clients = 64\n"
		  "durability = durable\nheartbeat_ms = 2\nelection_ms = 4\ntick_us = 100\n"
		  "window_slots = 16\npipeline_slots = 8\nsnapshot_every = 64\n"
		  "transfer_chunks_per_tick = 4\nidle = poll\n"
		  "[replica.0]\nip = 10.0.0.1\nport = 7100\nmac = 02:00:00:00:00:01\nlink.1 = 0\n"
		  "link.2 = 1\n[replica.1]\nip = 10.0.0.2\nport = 7100\nmac = 02:00:00:00:00:02\n"
		  "port_index = 1\n[replica.2]\nip = 10.0.0.3\nport = 7100\n"
		  "mac = 02:00:00:00:00:03\n" },
		{ "errors",
		  "\xef\xbb\xbf; comment\n[cluster]\nid = 0x10\n  replicas = 3\n[replica.9]\n" },
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		put("fuzz_config", -1, files[i][1], strlen(files[i][1]), "%s.ini", files[i][0]);
}

/* ---- Core schedules ---------------------------------------------------------------- */

/* fuzz_core.c's ops (enum op there): low nibble the op, high nibble its argument. */
#define C_DELIVER 0x00
#define C_ISOLATE 0x04
#define C_DROP 0x05
#define C_TICK 0x07
#define C_RUN 0x08
#define C_PROPOSE 0x09
#define C_PERSIST 0x0a
#define C_READ 0x0b
#define C_TRANSFER 0x0c
#define C_CRASH 0x0d
#define C_INSTALL 0x0e
#define C_FORGE 0x0f
#define ARG(op, a) ((uint8_t)((op) | (a) << 4))

struct sched {
	uint8_t b[8192];
	size_t n;
};

static void s_add(struct sched *s, uint8_t byte)
{
	if (s->n < sizeof(s->b))
		s->b[s->n++] = byte;
}

static void s_run(struct sched *s, unsigned k)
{
	while (k-- > 0)
		s_add(s, C_RUN);
}

/** Proposes one command of `len` bytes at every node (only the leader takes it). */
static void s_propose_all(struct sched *s, uint8_t n, uint8_t len)
{
	for (uint8_t i = 0; i < n; i++) {
		s_add(s, ARG(C_PROPOSE, i));
		s_add(s, 0);      /* one command */
		s_add(s, len);
		for (uint8_t j = 0; j < len; j++)
			s_add(s, (uint8_t)('a' + j));
	}
}

static void s_put(struct sched *s, const char *name)
{
	put("fuzz_core", -1, s->b, s->n, "%s", name);
}

static void core_seeds(void)
{
	static const uint8_t confs[][2] = {
		{ 0x10, 3 },  /* 3 replicas, memory, window 16, pipeline 2 */
		{ 0x34, 5 },  /* 3 replicas, durable, window 16, pipeline 4 */
		{ 0x2a, 9 },  /* 5 replicas, memory, window 32, pipeline 3 */
		{ 0x03, 1 },  /* 1 replica */
	};
	static const char *const names[] = { "elect-write-3-memory", "elect-write-3-durable",
					     "elect-write-5-memory", "elect-write-1" };
	struct sched s;
	char name[64];

	for (size_t c = 0; c < sizeof(confs) / sizeof(confs[0]); c++) {
		uint8_t conf = confs[c][0], n = (uint8_t[]){ 3, 3, 5, 1 }[conf & 3];

		/* Elect, write, read, transfer, crash one, write on. */
		s.n = 0;
		s_add(&s, conf);
		s_add(&s, confs[c][1]);
		s_run(&s, 12);
		for (int k = 0; k < 6; k++) {
			s_propose_all(&s, n, (uint8_t)(3 + k));
			s_run(&s, 2);
		}
		for (uint8_t i = 0; i < n; i++)
			s_add(&s, ARG(C_READ, i));
		s_run(&s, 2);
		for (uint8_t i = 0; i < n; i++) {
			s_add(&s, ARG(C_TRANSFER, i));
			s_add(&s, (uint8_t)((i + 1) % n));
		}
		s_run(&s, 6);
		s_add(&s, ARG(C_CRASH, 1));
		s_run(&s, 10);
		s_propose_all(&s, n, 4);
		s_run(&s, 4);
		s_put(&s, names[c]);
	}

	/* A long log on a small window while node 1 (a follower: with this seed node 2
	 * leads) is cut off: it falls behind the window, needs a state transfer once
	 * healed, and installs one. Some datagrams are lost on the way. */
	s.n = 0;
	s_add(&s, 0x10);
	s_add(&s, 11);
	s_run(&s, 12);
	s_add(&s, ARG(C_ISOLATE, 1));
	for (int k = 0; k < 40; k++) {
		s_propose_all(&s, 3, 2);
		for (int d = 0; d < 12; d++) {
			s_add(&s, ARG(C_TICK, d % 3));
			s_add(&s, ARG(C_DELIVER, 0));
			s_add(&s, ARG(C_DELIVER, 0));
			s_add(&s, ARG(C_DELIVER, 0));
			if (d == 5)
				s_add(&s, ARG(C_DROP, 0));
		}
	}
	s_run(&s, 4);
	s_add(&s, ARG(C_ISOLATE, 1));
	s_run(&s, 6);
	for (uint8_t i = 0; i < 3; i++)
		s_add(&s, ARG(C_INSTALL, i));
	s_run(&s, 10);
	s_put(&s, "long-log-state-transfer");

	/* Forged datagrams after an election: an ACCEPT and a PROMISE in a leader's
	 * name, with the header the harness would patch anyway. */
	for (uint8_t t = PX_MSG_PREVOTE; t <= PX_MSG_RECOVER_REPLY; t++) {
		size_t len;

		s.n = 0;
		s_add(&s, 0x10);
		s_add(&s, 3);
		s_run(&s, 12);
		s_propose_all(&s, 3, 4);
		s_run(&s, 2);
		msg_begin(t, 1, 0, 3);
		m.ballot = px_ballot_make(9, 1);
		m.slot_lo = 1;
		m.slot_hi = 2;
		m.commit = 1;
		if (t == PX_MSG_PROMISE || t == PX_MSG_ACCEPT || t == PX_MSG_RECOVER_REPLY)
			msg_entries(2);
		len = msg_encode();
		s_add(&s, ARG(C_FORGE, 0));
		s_add(&s, (uint8_t)len);
		s_add(&s, (uint8_t)(len >> 8));
		for (size_t k = 0; k < len; k++)
			s_add(&s, buf[k]);
		s_run(&s, 4);
		snprintf(name, sizeof(name), "forge-%s", px_msg_type_name(t));
		s_put(&s, name);
	}
}

/* ---- Authentication ------------------------------------------------------------- */

/* fuzz_auth.c's ops (enum op there): op = byte % 8, its argument byte / 8. */
#define A_SEAL 0
#define A_DELIVER 1
#define A_SKIP 2
#define A_LIFE 3
#define A_ROTATE 4
#define A_STRANGER 5
#define A_MUTATE 6
#define A_FORGE 7
#define AOP(op, a) ((uint8_t)((op) + 8 * (a)))

static void s_seal(struct sched *s, uint8_t len)
{
	s_add(s, A_SEAL);
	s_add(s, len);   /* 56 + len bytes of message */
	for (int i = 0; i < 56 + len; i++)
		s_add(s, (uint8_t)(i * 13));
}

static void auth_seeds(void)
{
	struct sched s;

	/* In order, then every one again (replays), then out of order. */
	s.n = 0;
	s_add(&s, 7);   /* the sender's first life: 1000 + 7 */
	for (int i = 0; i < 5; i++)
		s_seal(&s, (uint8_t)(i * 10));
	for (uint8_t i = 0; i < 5; i++)
		s_add(&s, AOP(A_DELIVER, (uint8_t)(4 - i)));
	for (uint8_t i = 0; i < 5; i++)
		s_add(&s, AOP(A_DELIVER, i));
	put("fuzz_auth", -1, s.b, s.n, "reorder-replay");

	/* A jump past the window: the older counter is then stale. */
	s.n = 0;
	s_add(&s, 1);
	s_seal(&s, 0);
	s_add(&s, AOP(A_SKIP, 0));
	s_add(&s, 0x6c);
	s_add(&s, 0x07);   /* 1900 ahead: the first stays within the window */
	s_seal(&s, 0);
	s_add(&s, AOP(A_SKIP, 0));
	s_add(&s, 0x00);
	s_add(&s, 0x10);   /* 4096 ahead: past it */
	s_seal(&s, 0);
	s_add(&s, AOP(A_DELIVER, 1));
	s_add(&s, AOP(A_DELIVER, 0));
	s_add(&s, AOP(A_DELIVER, 2));
	s_add(&s, AOP(A_DELIVER, 1));
	s_add(&s, AOP(A_DELIVER, 0));
	put("fuzz_auth", -1, s.b, s.n, "window-edges");

	/* Lives: a newer one, then the old one's datagram; a rotation in the new life; an
	 * older life sealed afresh; a key the receiver lacks. */
	s.n = 0;
	s_add(&s, 3);
	s_seal(&s, 5);
	s_add(&s, AOP(A_LIFE, 2));
	s_seal(&s, 5);
	s_add(&s, AOP(A_DELIVER, 1));
	s_add(&s, AOP(A_DELIVER, 0));
	s_add(&s, AOP(A_ROTATE, 0));
	s_seal(&s, 9);
	s_add(&s, AOP(A_DELIVER, 2));
	s_add(&s, AOP(A_LIFE, 5));
	s_seal(&s, 1);
	s_add(&s, AOP(A_DELIVER, 3));
	s_add(&s, AOP(A_STRANGER, 0));
	s_add(&s, AOP(A_LIFE, 8));
	s_seal(&s, 1);
	s_add(&s, AOP(A_DELIVER, 4));
	put("fuzz_auth", -1, s.b, s.n, "lives-rotation-stranger");

	/* Tampering: one byte flipped in the message, the trailer, the tag; a made-up
	 * datagram. */
	s.n = 0;
	s_add(&s, 9);
	s_seal(&s, 20);
	for (uint8_t pos = 0; pos < 3; pos++) {
		s_add(&s, AOP(A_MUTATE, 0));
		s_add(&s, (uint8_t)(pos == 0 ? 10 : pos == 1 ? 76 + 16 : 76 + 30));
		s_add(&s, 0);
		s_add(&s, 0x20);
	}
	s_add(&s, AOP(A_DELIVER, 0));
	s_add(&s, AOP(A_FORGE, 0));
	s_add(&s, 120);
	s_add(&s, 0);
	for (int i = 0; i < 120; i++)
		s_add(&s, (uint8_t)(i == 80 + 4 ? 1 : i == 80 + 5 ? 1 : i == 80 + 8 ? 5 : i * 3));
	put("fuzz_auth", -1, s.b, s.n, "tamper-forge");
}

int main(int argc, char **argv)
{
	static const char *const dirs[] = { "fuzz_wire", "fuzz_reply", "fuzz_kv", "fuzz_stream",
					     "fuzz_config", "fuzz_core", "fuzz_auth" };

	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_seeds DIR\n");
		return 2;
	}
	root = argv[1];
	if (mkdir(root, 0755) != 0 && errno != EEXIST)
		die(root);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		mkdir_p(dirs[i]);
	wire_seeds(3, 1);   /* fuzz_wire: n = 1 + 2 * (prefix % 5) */
	wire_seeds(5, 2);
	wire_seeds(1, 0);
	reply_seeds();
	kv_seeds();
	stream_seeds();
	config_seeds();
	core_seeds();
	auth_seeds();
	return 0;
}
