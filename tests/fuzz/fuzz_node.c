/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer harness for node/ with authentication on (docs/security.md): what a
 * replica does with datagrams that pass the trailer check, and with those that do not.
 * Seed corpus: tests/fuzz/corpus/fuzz_node/.
 *
 * A 3-replica harness cluster (tests/harness, pxh_opts.auth) elects a leader; then the
 * input is a sequence of ops, each fed straight to one replica's node_recv:
 *   'P' a peer datagram: message bytes from the input, sealed as replica `from` would
 *       seal them for this receiver (the cluster key, a life of the harness's own above
 *       the real one's, its own counter): authentic garbage from a peer
 *   'C' a client datagram: message bytes from the input, sealed with a client or admin
 *       key (id and role from the input), as a challenge or bound to the receiver's life
 *   'R' raw bytes (no trailer made by a key holder)
 *   'T' a tick of every replica
 * Outgoing datagrams are dropped (the fuzzer is the network). Whatever the input:
 *   - nothing crashes, trips an assertion, or leaks (ASan/UBSan);
 *   - the core's invariants hold on every replica after every op (px_check_invariants);
 *   - a raw datagram is never decoded: no msgs_in counter moves (it may be counted by
 *     an auth reason only), and it never reaches the core (steps unchanged).
 * A violation aborts.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "px.h"
#include "px_codec.h"
#include "pxh.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OPS_MAX 64u

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_node: %s\n", what);
		abort();
	}
}

static uint64_t msgs_in_total(const struct node_counters *c)
{
	uint64_t t = 0;
	for (int i = 0; i < PX_MSG_TYPE_MAX; i++)
		t += c->msgs_in[i];
	return t;
}

static void check_all(struct pxh_cluster *c)
{
	for (uint8_t i = 0; i < 3; i++) {
		const char *why = px_check_invariants(node_replica(pxh_node(c, i)));
		if (why != NULL) {
			fprintf(stderr, "fuzz_node: replica %u: %s\n", i, why);
			abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[PX_DGRAM_BYTES_MAX];
	static struct auth_client ac;
	static bool unavailable;

	if (unavailable || !auth_available()) {
		if (!unavailable)
			fprintf(stderr, "fuzz_node: no AES-NI: nothing tested\n");
		unavailable = true;
		return 0;
	}
	struct pxh_opts o;
	pxh_opts_default(&o, 3);
	o.seed = 7;
	o.auth = true;
	struct pxh_cluster *c = pxh_new(&o);
	check(c != NULL, "pxh_new");
	uint8_t l = pxh_elect(c, 2000);
	check(l != PX_NODE_NONE, "no leader");
	pxh_drop(c, PX_NODE_NONE, PX_NODE_NONE);
	const struct auth_keys *keys = pxh_auth_keys(c);
	struct auth_tx peer[3];
	bool peer_init[3] = { false, false, false };
	uint8_t peer_to[3] = { 0, 0, 0 };

	size_t p = 0;
	for (unsigned op = 0; op < OPS_MAX && p + 3 <= size; op++) {
		uint8_t kind = data[p], a = data[p + 1], blen_hi = data[p + 2];
		p += 3;
		uint8_t to = (uint8_t)(a % 3u);
		struct node *nd = pxh_node(c, to);
		if (kind == 'T' || kind % 5u == 0) {
			pxh_tick(c, PX_NODE_NONE);
			pxh_drop(c, PX_NODE_NONE, PX_NODE_NONE);
			check_all(c);
			continue;
		}
		size_t mlen = (size_t)blen_hi * 8u;
		if (mlen > size - p)
			mlen = size - p;
		if (mlen > PX_MSG_BYTES_MAX)
			mlen = PX_MSG_BYTES_MAX;
		memcpy(buf, data + p, mlen);
		p += mlen;
		struct node_addr src;
		memset(&src, 0, sizeof(src));
		src.b[0] = (uint8_t)(10u + (a >> 4));
		size_t len = mlen;
		const struct node_counters *nc = node_counters(nd);
		uint64_t in0 = msgs_in_total(nc), steps0 = nc->steps;
		bool raw = false;
		switch (kind % 3u) {
		case 0: {   /* a peer's authentic garbage */
			uint8_t from = (uint8_t)((to + 1u + ((a >> 2) & 1u)) % 3u);
			if (!peer_init[from] || peer_to[from] != to) {
				uint8_t key[AUTH_KEY_BYTES];
				uint64_t life = node_auth_life(pxh_node(c, from)) + 1000u + op;
				auth_peer_life_key(keys->key[0], 1, from, to, life, key);
				auth_tx_init(&peer[from], key, from, keys->gen[0], AUTH_ROLE_PEER,
					     life);
				peer_init[from] = true;
				peer_to[from] = to;
			}
			if (mlen > PX_WIRE_OFF_FROM)
				buf[PX_WIRE_OFF_FROM] = from;   /* the trailer names it too */
			len = auth_seal(&peer[from], buf, mlen, sizeof(buf));
			break;
		}
		case 1: {   /* a client's (or an admin's) authentic garbage */
			struct auth_keys k;
			enum auth_role role = (a & 0x40u) ? AUTH_ROLE_ADMIN : AUTH_ROLE_CLIENT;
			check(auth_keys_derive_client(keys, role, 1u + (a & 3u), &k) == 0, "derive");
			check(auth_client_init_life(&ac, &k, 1, 3, 0x5eed0000u + op) == 0, "init");
			if (a & 0x80u)   /* bound to the receiver's life, else a challenge */
				ac.rx[to].life = node_auth_life(nd);
			len = auth_client_seal(&ac, to, buf, mlen, sizeof(buf));
			break;
		}
		default:    /* raw bytes */
			raw = true;
			break;
		}
		if (len == 0 || len > sizeof(buf))
			continue;
		node_recv(nd, buf, (uint32_t)len, &src);
		node_flush(nd);
		if (raw) {
			check(msgs_in_total(nc) == in0, "a raw datagram was decoded");
			check(nc->steps == steps0, "a raw datagram reached the core");
		}
		pxh_drop(c, PX_NODE_NONE, PX_NODE_NONE);
		check_all(c);
	}
	pxh_free(c);
	return 0;
}
