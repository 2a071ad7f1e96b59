/* SPDX-License-Identifier: Apache-2.0
 * Authentication through node/ (docs/security.md): the harness's replicas on
 * authenticated datagrams (pxh_opts.auth), and datagrams fed straight to node_recv as an
 * attacker on the link would: a replay, a mutation, a stripped trailer, a datagram
 * misrouted to another replica, one of a restarted replica's earlier life; and client
 * datagrams sealed with client keys: an admin request, a REGISTER under another key's
 * tag, a command in another key's session. Each must be dropped and counted by its
 * reason, before the core, and the cluster must go on agreeing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node.h"
#include "px.h"
#include "px_apply.h"
#include "px_codec.h"
#include "pxh.h"
#include "wire_kv.h"

static struct pxh_cluster *cluster(uint64_t seed, uint8_t *l)
{
	struct pxh_opts o;
	pxh_opts_default(&o, 3);
	o.seed = seed;
	o.auth = true;
	struct pxh_cluster *c = pxh_new(&o);
	assert_non_null(c);
	*l = pxh_elect(c, 2000);
	assert_int_not_equal(*l, PX_NODE_NONE);
	return c;
}

static uint64_t drops(struct pxh_cluster *c, uint8_t i, enum auth_err e)
{
	return node_counters(pxh_node(c, i))->auth_drops[e];
}

/* Feeds bytes to node i as if they came from endpoint `from`; the steps it took. */
static uint64_t feed(struct pxh_cluster *c, uint8_t i, uint8_t from, const uint8_t *b,
		     uint32_t len)
{
	struct node_addr a;
	memset(&a, 0, sizeof(a));
	a.b[0] = from;
	uint64_t steps = node_counters(pxh_node(c, i))->steps;
	node_recv(pxh_node(c, i), b, len, &a);
	return node_counters(pxh_node(c, i))->steps - steps;
}

/* The first queued peer message to `to` (copied into out), or 0. */
static uint32_t grab(struct pxh_cluster *c, uint8_t to, uint8_t *out, uint8_t *from)
{
	for (uint32_t k = 0; k < pxh_queued(c); k++) {
		const struct pxh_msg *m = pxh_peek(c, k);
		if (m->to == to && m->len <= PX_DGRAM_BYTES_MAX) {
			memcpy(out, m->bytes, m->len);
			*from = m->from;
			return m->len;
		}
	}
	return 0;
}

static void test_cluster_agrees(void **state)
{
	(void)state;
	uint8_t l;
	struct pxh_cluster *c = cluster(21, &l);
	uint64_t nonces[8], ids[8];
	for (int i = 0; i < 8; i++)
		nonces[i] = 1000u + (uint64_t)i;
	assert_int_equal(pxh_register(c, l, nonces, 8, ids), 8);
	pxh_run(c, 50);
	for (uint8_t i = 0; i < 3; i++) {
		assert_int_equal(px_applier_last_slot(pxh_applier(c, i)),
				 px_applier_last_slot(pxh_applier(c, l)));
		for (int e = 1; e < AUTH_E_MAX; e++)
			assert_int_equal(drops(c, i, (enum auth_err)e), 0);
	}
	pxh_free(c);
}

static void test_peer_attacks(void **state)
{
	(void)state;
	uint8_t l, from = 0;
	static uint8_t b[PX_DGRAM_BYTES_MAX], x[PX_DGRAM_BYTES_MAX];
	struct pxh_cluster *c = cluster(22, &l);
	uint8_t f = (uint8_t)((l + 1) % 3), g = (uint8_t)((l + 2) % 3);

	uint32_t len = 0;
	for (int t = 0; t < 10 && len == 0; t++) {
		pxh_tick(c, l);   /* a heartbeat to each follower, within a few ticks */
		len = grab(c, f, b, &from);
	}
	assert_true(len > PX_TRAILER_BYTES);
	pxh_deliver_all(c, 1000);

	/* A replay of what was just delivered. */
	uint64_t r0 = drops(c, f, AUTH_E_REPLAY);
	assert_int_equal(feed(c, f, from, b, len), 0);
	assert_int_equal(drops(c, f, AUTH_E_REPLAY), r0 + 1);

	/* Any one byte changed: dropped (the counter is fresh, so the tag decides). */
	uint64_t m0 = drops(c, f, AUTH_E_MAC);
	len = 0;
	for (int t = 0; t < 10 && len == 0; t++) {
		pxh_tick(c, l);
		len = grab(c, f, b, &from);
	}
	assert_true(len > 0);
	for (uint32_t k = 0; k < len; k += 7) {
		memcpy(x, b, len);
		x[k] ^= 0x20;
		assert_int_equal(feed(c, f, from, x, len), 0);
	}
	assert_true(drops(c, f, AUTH_E_MAC) > m0);

	/* The trailer stripped (a bare protocol message): never decoded. */
	uint64_t dec0 = node_counters(pxh_node(c, f))->msgs_in[b[PX_WIRE_OFF_TYPE]];
	assert_int_equal(feed(c, f, from, b, len - PX_TRAILER_BYTES), 0);
	assert_int_equal(node_counters(pxh_node(c, f))->msgs_in[b[PX_WIRE_OFF_TYPE]], dec0);

	/* Sealed for f, fed to g: the key is per direction. */
	uint64_t g0 = drops(c, g, AUTH_E_MAC);
	assert_int_equal(feed(c, g, from, b, len), 0);
	assert_int_equal(drops(c, g, AUTH_E_MAC), g0 + 1);

	/* The real one still goes through afterwards (nothing above moved the window). */
	assert_int_equal(feed(c, f, from, b, len), 1);
	pxh_drop(c, PX_NODE_NONE, PX_NODE_NONE);

	/* A follower restarts (memory mode: a new life); once its new life is heard, a
	 * capture of its old life is dropped as old_life. */
	uint32_t olen = 0;
	for (int t = 0; t < 20 && olen == 0; t++) {
		pxh_tick(c, l);   /* heartbeats, which g answers */
		pxh_deliver_all(c, 2);
		for (uint32_t k = 0; k < pxh_queued(c) && olen == 0; k++) {
			const struct pxh_msg *m = pxh_peek(c, k);
			if (m->from == g && m->to == l) {
				memcpy(x, m->bytes, m->len);
				olen = m->len;
			}
		}
	}
	assert_true(olen > 0);
	pxh_deliver_all(c, 1000);
	pxh_crash(c, g);
	pxh_restart(c, g);
	pxh_run(c, 100);
	uint64_t o0 = drops(c, l, AUTH_E_OLD_LIFE);
	assert_int_equal(feed(c, l, g, x, olen), 0);
	assert_int_equal(drops(c, l, AUTH_E_OLD_LIFE), o0 + 1);
	pxh_free(c);
}

/* A REQUEST sealed by ac for replica `to`. */
static uint32_t request(struct auth_client *ac, uint8_t to, uint8_t flags, uint64_t client_id,
			uint64_t seq, const uint8_t *body, uint32_t blen, uint8_t *out)
{
	static struct px_msg m;
	memset(&m, 0, sizeof(m));
	m.type = PX_MSG_REQUEST;
	m.flags = flags;
	m.from = PX_NODE_NONE;
	m.to = to;
	m.cluster_id = 1;   /* px_config_default's, the harness's */
	m.config_epoch = 1;
	m.client_id = client_id;
	m.seq = seq;
	m.body_len = blen;
	m.body = blen ? body : NULL;
	size_t len = px_encode(&m, out, PX_MSG_BYTES_MAX);
	assert_true(len > 0);
	len = auth_client_seal(ac, to, out, len, PX_DGRAM_BYTES_MAX);
	assert_true(len > 0);
	return (uint32_t)len;
}

static void test_client_keys(void **state)
{
	(void)state;
	uint8_t l;
	static uint8_t b[PX_DGRAM_BYTES_MAX];
	struct pxh_cluster *c = cluster(23, &l);
	struct auth_keys k5, k6;
	struct auth_client *a5 = malloc(sizeof(*a5)), *a6 = malloc(sizeof(*a6));
	uint32_t len;
	assert_non_null(a5);
	assert_non_null(a6);
	assert_int_equal(auth_keys_derive_client(pxh_auth_keys(c), AUTH_ROLE_CLIENT, 5, &k5), 0);
	assert_int_equal(auth_keys_derive_client(pxh_auth_keys(c), AUTH_ROLE_CLIENT, 6, &k6), 0);
	uint32_t cid = 1;   /* px_config_default's, the harness's */
	assert_int_equal(auth_client_init(a5, &k5, cid, 3), 0);
	assert_int_equal(auth_client_init(a6, &k6, cid, 3), 0);
	const struct node_counters *nc = node_counters(pxh_node(c, l));

	/* A client that knows no replica's life sends challenges: a REGISTER so sealed is
	 * answered (BUSY) and not acted on: it might be a capture replayed after a restart. */
	uint64_t ch0 = nc->auth_challenges, reg00 = nc->registers;
	uint64_t n0 = ((uint64_t)px_owner_tag(5, false) << PX_OWNER_SHIFT) | 9u;
	len = request(a5, l, PX_MF_REGISTER, n0, 0, NULL, 0, b);
	assert_int_equal(auth_client_bound(a5, l), false);
	feed(c, l, 200, b, len);
	assert_int_equal(nc->auth_challenges, ch0 + 1);
	assert_int_equal(nc->registers, reg00);
	/* The answer's trailer names the replica's life (the harness keeps no client
	 * endpoints: the test learns it as the library would). */
	a5->rx[l].life = node_auth_life(pxh_node(c, l));
	a6->rx[l].life = node_auth_life(pxh_node(c, l));

	/* An admin request with a client key: dropped before it is decoded. */
	uint8_t stats = PX_ADMIN_STATS;
	uint64_t admin0 = nc->admin, na0 = nc->auth_drops[AUTH_E_ADMIN];
	len = request(a5, l, PX_MF_ADMIN, 77, 0, &stats, 1, b);
	feed(c, l, 200, b, len);
	assert_int_equal(nc->auth_drops[AUTH_E_ADMIN], na0 + 1);
	assert_int_equal(nc->admin, admin0);
	assert_int_equal(nc->auth_lives, 1);   /* its life was authentic all the same */

	/* A REGISTER whose nonce carries another key's tag: refused, never logged. */
	uint64_t o0 = nc->auth_owner_other, reg0 = nc->registers;
	uint64_t wrong = ((uint64_t)px_owner_tag(6, false) << PX_OWNER_SHIFT) | 1u;
	len = request(a5, l, PX_MF_REGISTER, wrong, 0, NULL, 0, b);
	feed(c, l, 200, b, len);
	assert_int_equal(nc->auth_owner_other, o0 + 1);
	assert_int_equal(nc->registers, reg0);

	/* Key 5 registers properly (its tag); the session is its. */
	uint64_t nonce = ((uint64_t)px_owner_tag(5, false) << PX_OWNER_SHIFT) | 2u;
	len = request(a5, l, PX_MF_REGISTER, nonce, 0, NULL, 0, b);
	feed(c, l, 200, b, len);
	assert_int_equal(nc->registers, reg0 + 1);
	node_flush(pxh_node(c, l));
	pxh_run(c, 50);
	uint64_t sid = pxh_session(c, nonce);
	assert_true(sid != 0);
	uint32_t owner = 0;
	assert_true(px_applier_session_owner(pxh_applier(c, l), sid, &owner));
	assert_int_equal(owner, px_owner_tag(5, false));

	/* Key 6 writes into key 5's session: answered as if it were gone, never proposed. */
	uint8_t cmd[64];
	uint32_t clen = wire_kv_encode_put(cmd, sizeof(cmd), "k", 1, "v", 1);
	uint64_t prop0 = nc->proposed;
	o0 = nc->auth_owner_other;
	len = request(a6, l, 0, sid, 1, cmd, clen, b);
	feed(c, l, 201, b, len);
	node_flush(pxh_node(c, l));
	assert_int_equal(nc->auth_owner_other, o0 + 1);
	assert_int_equal(nc->proposed, prop0);
	/* Key 5 does, and it is proposed. */
	len = request(a5, l, 0, sid, 1, cmd, clen, b);
	feed(c, l, 200, b, len);
	node_flush(pxh_node(c, l));
	assert_int_equal(nc->proposed, prop0 + 1);
	/* Its replay is dropped by the window (not even a duplicate to the node). */
	uint64_t rp0 = nc->auth_drops[AUTH_E_REPLAY];
	feed(c, l, 200, b, len);
	assert_int_equal(nc->auth_drops[AUTH_E_REPLAY], rp0 + 1);
	pxh_run(c, 50);

	/* A request bound to a follower's life, captured; the follower restarts (a new
	 * life, empty windows): the capture no longer checks there. */
	uint8_t f = (uint8_t)((l + 1) % 3);
	a5->rx[f].life = node_auth_life(pxh_node(c, f));
	len = request(a5, f, 0, sid, 2, cmd, clen, b);
	pxh_crash(c, f);
	pxh_restart(c, f);
	pxh_run(c, 100);
	assert_true(node_auth_life(pxh_node(c, f)) != a5->rx[f].life);
	const struct node_counters *fc = node_counters(pxh_node(c, f));
	uint64_t fm0 = fc->auth_drops[AUTH_E_MAC], fr0 = fc->requests;
	feed(c, f, 200, b, len);
	assert_int_equal(fc->auth_drops[AUTH_E_MAC], fm0 + 1);
	assert_int_equal(fc->requests, fr0);
	free(a5);
	free(a6);
	pxh_free(c);
}

int main(void)
{
	if (!auth_available())
		return 77;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cluster_agrees),
		cmocka_unit_test(test_peer_attacks),
		cmocka_unit_test(test_client_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
