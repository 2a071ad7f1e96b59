/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer harness for what the client library does with a datagram it receives
 * (client/pw_client.c). Seed corpus: tests/fuzz/corpus/fuzz_reply/.
 *
 * Which code: the client's receive path is static functions woven into its socket
 * loop (recv_decoded, recv_match, exchange, run_cmd, kv_call, stream_call, read_result,
 * snap_pull), so this harness does not call them: it repeats their steps on the same
 * library functions, in the same order, with the same buffer sizes, and checks every
 * property the client relies on (several of them are assert()s there, so a violation
 * would crash a client from the network). Factoring those steps out of the client was
 * not worth the churn in a file others are changing; if the client's receive path
 * changes, change this file with it.
 *
 * Input: byte 0 picks the cluster size (1, 3, 5, 7 or 9: low bits) and the operation
 * the client has in flight (high bits: registration, kv, stream read, execute, member
 * stats); byte 1 the authentication (bit 0: on, as a cluster file with key_file makes
 * it; bit 1: the harness seals the rest with replica r's reply key for this client,
 * else the rest is the datagram as it came; bits 2-4: r; bits 5-7: the member m it
 * came from, modulo the size); the rest is the message. The datagram is treated as the
 * answer to whatever is in flight (as if client id and seq matched: the worst case for
 * the client).
 *
 * Properties, for every datagram:
 *   - over PX_DGRAM_BYTES_MAX it is dropped before anything reads it (recv_decoded);
 *   - with authentication on, auth_client_open accepts a datagram only if the harness
 *     sealed it, as replica m (a datagram sealed by r != m, or not sealed, is refused),
 *     and then it accepts it (a fresh reply of the member it came from); the message
 *     handed on is the datagram less its trailer;
 *   - px_decode reads only the message (a heap block of its exact size);
 *   - a decoded REPLY has from < PX_REPLICAS_MAX (the client decodes any replica id:
 *     a cluster may have members its file does not list; exchange() makes the sender
 *     the leader only if it has an address for it, is_known, and send_to asserts its
 *     target is one), status < PX_STATUS_MAX (exchange() asserts on any other),
 *     leader_hint < PX_REPLICAS_MAX or PX_NODE_NONE, and body_len <=
 *     PX_REPLY_BYTES_MAX (run_cmd asserts it fits c->reply) with the body inside the
 *     datagram;
 *   - the body copied into a reply buffer of the client's size, the operation's own
 *     decoder (wire_kv_decode_reply, wire_stream_decode_reply and the record walk of
 *     read_result, the session id of a registration, the stats text) reads only it;
 *   - a decoded SNAP_CHUNK has from < members, snap_off <= snap_total and a body of at
 *     most PX_SNAP_CHUNK_BYTES that ends within snap_total, so the copy snap_pull makes
 *     at snap_off into a buffer of snap_total bytes stays inside it.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "px.h"
#include "px_apply.h"
#include "px_codec.h"
#include "wire_kv.h"
#include "wire_le.h"
#include "wire_stream.h"

#define FUZZ_CLUSTER 0xc1a55e01u

/* What the client is waiting for when the datagram arrives. */
enum op {
	OP_REGISTER,   /* session_register */
	OP_KV,         /* kv_call: pw_put, pw_get, pw_del, pw_cas */
	OP_STREAM,     /* stream_call + read_result: pw_append, pw_read */
	OP_EXECUTE,    /* pw_execute: the raw reply */
	OP_STATS,      /* pw_member_stats: a text body */
	OP_MAX,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

/** What run_cmd and the operation's decoder do with a REPLY's body. */
static void on_reply(const struct px_msg *m, enum op op, uint8_t *reply)
{
	/* run_cmd: assert(m->body_len <= sizeof(c->reply)), then the copy. */
	check(m->body_len <= PX_REPLY_BYTES_MAX);
	if (m->body_len != 0)
		memcpy(reply, m->body, m->body_len);

	switch (op) {
	case OP_REGISTER:
		/* session_register: an 8-byte session id, non-zero. */
		if (m->status == PX_OK && m->body_len == PX_SESSION_ID_BYTES)
			(void)wire_ld64(reply);
		break;
	case OP_KV: {
		struct wire_kv_reply r;
		uint8_t *out;

		if (m->status != PX_OK || wire_kv_decode_reply(reply, m->body_len, &r) != 0)
			break;
		check(r.value == reply + WIRE_KV_REPLY_HDR_BYTES);
		check(WIRE_KV_REPLY_HDR_BYTES + (uint64_t)r.value_len == m->body_len);
		/* pw_get: the value into the caller's buffer when it fits. */
		out = malloc(r.value_len != 0 ? r.value_len : 1);
		check(out != NULL);
		if (r.value_len != 0)
			memcpy(out, r.value, r.value_len);
		free(out);
		break;
	}
	case OP_STREAM: {
		struct wire_stream_reply r;
		const uint8_t *rec;
		uint32_t off = 0, len, n = 0;
		uint64_t bytes = 0;

		if (m->status != PX_OK || wire_stream_decode_reply(reply, m->body_len, &r) != 0)
			break;
		/* read_result: every record through the caller's callback. */
		while (wire_stream_reply_next(&r, &off, &rec, &len)) {
			check(rec >= reply && rec + len <= reply + m->body_len);
			bytes += WIRE_STREAM_REC_HDR_BYTES + len;
			n++;
		}
		check(n == r.n_records);
		check(WIRE_STREAM_REPLY_HDR_BYTES + bytes == m->body_len);
		break;
	}
	case OP_EXECUTE:
		break;   /* pw_execute copies reply_len bytes if they fit the caller's cap */
	case OP_STATS: {
		/* pw_member_stats: the body and a NUL into the caller's buffer. */
		char text[PX_REPLY_BYTES_MAX + 1];

		if (m->status != PX_OK)
			break;
		memcpy(text, reply, m->body_len);
		text[m->body_len] = '\0';
		break;
	}
	default:
		abort();
	}
}

/** What pw_snapshot_fetch relies on in a SNAP_CHUNK (chunk_starts, snap_pull). */
static void on_chunk(const struct px_msg *m)
{
	check(m->snap_off <= m->snap_total);
	check(m->body_len <= PX_SNAP_CHUNK_BYTES);
	check(m->body_len <= m->snap_total - m->snap_off);
	if (m->body_len != 0)
		check(m->body != NULL);
	/* snap_pull copies body_len bytes to buf + snap_off, buf being snap_total bytes:
	 * in range by the two checks above. */
}

/**
 * The client's authentication of a datagram of len bytes from member `from`
 * (recv_decoded with auth on: auth_client_open), sealed beforehand by replica
 * `sealer` if `seal`. @return the message's length, or 0 if refused.
 */
static size_t authenticate(uint8_t *dgram, size_t len, size_t cap, uint8_t n_members,
			   bool seal, uint8_t sealer, uint8_t from)
{
	static struct auth_client ac;
	static int ready = -1;
	struct auth_keys k = { .kind = AUTH_KIND_CLIENT, .n = 1, .send = 0, .id = 7,
			       .gen = { 1 } };
	size_t msg_len = 0;
	enum auth_err e;

	if (ready < 0) {
		ready = auth_init() == 0 && auth_available();
		if (!ready)
			fprintf(stderr, "fuzz_reply: no AES-256-GCM on this CPU: authenticated "
					"datagrams untested\n");
	}
	if (!ready)
		return 0;
	memset(k.key[0], 0x5c, AUTH_KEY_BYTES);   /* fixed: inputs replay anywhere */
	check(auth_client_init(&ac, &k, FUZZ_CLUSTER, n_members) == 0);
	ac.life = 0x1111222233334444ull;           /* auth_client_init draws a random one */
	if (seal) {
		/* What replica `sealer` does for this client's life (node/): its reply key. */
		uint8_t key[AUTH_KEY_BYTES];
		struct auth_tx tx;

		auth_reply_life_key(k.key[0], FUZZ_CLUSTER, sealer, 0x55aa, ac.life, key);
		auth_tx_init(&tx, key, sealer, 1, AUTH_ROLE_PEER, 0x55aa);
		len = auth_seal(&tx, dgram, len, cap);
		check(len != 0);
	}
	if (len > PX_DGRAM_BYTES_MAX)
		return 0;
	e = auth_client_open(&ac, from, dgram, len, &msg_len);
	if (!seal || sealer != from) {
		check(e != AUTH_OK);   /* a forgery, or a member's reply from another */
		return 0;
	}
	if (len < PX_WIRE_HDR_BYTES + AUTH_TRAILER_BYTES) {
		check(e != AUTH_OK);   /* no room for a message header: auth_parse refuses */
		return 0;
	}
	check(e == AUTH_OK);       /* authentic and fresh */
	check(msg_len + AUTH_TRAILER_BYTES == len);
	return msg_len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct px_msg m;
	uint8_t n_members, mode, *dgram, *reply;
	enum op op;
	size_t len;

	if (size < 2)
		return 0;
	n_members = (uint8_t)(1 + 2 * ((data[0] & 0x0f) % 5));
	op = (enum op)((data[0] >> 4) % OP_MAX);
	mode = data[1];
	data += 2;
	len = size - 2;
	/* recv_decoded: a datagram longer than the receive buffer (MSG_TRUNC tells) is
	 * counted and dropped. */
	if (len > PX_DGRAM_BYTES_MAX)
		return 0;
	/* Exactly its size (ASan sees past it), or room for a trailer the harness adds. */
	dgram = malloc((len != 0 ? len : 1) + ((mode & 3) == 3 ? AUTH_TRAILER_BYTES : 0));
	check(dgram != NULL);
	if (len != 0)
		memcpy(dgram, data, len);
	if (mode & 1) {
		len = authenticate(dgram, len, len + AUTH_TRAILER_BYTES, n_members, (mode & 2) != 0,
				   (uint8_t)(((mode >> 2) & 7) % n_members),
				   (uint8_t)((mode >> 5) % n_members));
		if (len == 0) {
			free(dgram);
			return 0;
		}
		/* The message alone, in a block of its size: px_decode must stop there. */
		uint8_t *msg = malloc(len);
		check(msg != NULL);
		memcpy(msg, dgram, len);
		free(dgram);
		dgram = msg;
	}
	/* recv_decoded: any replica id (the sender checked against the sealing key above). */
	if (px_decode(dgram, len, FUZZ_CLUSTER, PX_REPLICAS_MAX, &m) != PX_WIRE_OK) {
		free(dgram);
		return 0;
	}
	check(m.type < PX_MSG_TYPE_MAX);
	if (m.type == PX_MSG_REPLY) {
		check(m.from < PX_REPLICAS_MAX);
		check(m.status < PX_STATUS_MAX);
		check(m.leader_hint == PX_NODE_NONE || m.leader_hint < PX_REPLICAS_MAX);
		check(m.body_len <= PX_REPLY_BYTES_MAX);
		check(m.body_len == 0 ||
		      (m.body >= dgram && m.body + m.body_len <= dgram + len));
		/* c->reply: PW_REPLY_BYTES_MAX bytes, on the heap so ASan sees its end. */
		reply = malloc(PX_REPLY_BYTES_MAX);
		check(reply != NULL);
		on_reply(&m, op, reply);
		free(reply);
	} else if (m.type == PX_MSG_SNAP_CHUNK) {
		check(m.from < PX_REPLICAS_MAX);
		check(m.body_len == 0 ||
		      (m.body >= dgram && m.body + m.body_len <= dgram + len));
		on_chunk(&m);
	}
	free(dgram);
	return 0;
}
