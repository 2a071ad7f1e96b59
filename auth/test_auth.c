/* SPDX-License-Identifier: Apache-2.0
 * Unit tests of auth/: the trailer, the replay window, lives, key files, the client's
 * side against a replica's derivation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"

#define CLUSTER 0x5eed01u
#define MSG 120u

struct peer_ctx {
	const uint8_t *master;
	uint8_t from, to;
};

static void peer_derive(void *ctx, const struct auth_trailer *t, uint8_t key[AUTH_KEY_BYTES])
{
	const struct peer_ctx *p = ctx;
	auth_peer_life_key(p->master, CLUSTER, p->from, p->to, t->life, key);
}

static void fill(uint8_t *buf, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + i * 7u);
}

/* Seals one message from 1 to 2 under master, in life `life`. */
static size_t seal_peer(struct auth_tx *tx, const uint8_t *master, uint64_t life, uint8_t *buf,
			uint8_t seed, bool init)
{
	if (init) {
		uint8_t key[AUTH_KEY_BYTES];
		auth_peer_life_key(master, CLUSTER, 1, 2, life, key);
		auth_tx_init(tx, key, 1, 1, AUTH_ROLE_PEER, life);
	}
	fill(buf, MSG, seed);
	return auth_seal(tx, buf, MSG, MSG + AUTH_TRAILER_BYTES);
}

static enum auth_err open_peer(struct auth_rx *rx, const uint8_t *master, const uint8_t *buf,
			       size_t len)
{
	struct auth_trailer t;
	size_t msg_len = 0;
	enum auth_err e = auth_parse(buf, len, &t, &msg_len);
	if (e != AUTH_OK)
		return e;
	struct peer_ctx p = { master, 1, 2 };
	return auth_open(rx, &t, buf, msg_len, peer_derive, &p);
}

static void test_seal_open_and_tamper(void **state)
{
	(void)state;
	uint8_t master[AUTH_KEY_BYTES], other[AUTH_KEY_BYTES];
	uint8_t buf[MSG + AUTH_TRAILER_BYTES], copy[sizeof(buf)];
	struct auth_tx tx;
	struct auth_rx rx;

	randombytes_buf(master, sizeof(master));
	randombytes_buf(other, sizeof(other));
	auth_rx_init(&rx, true);
	size_t len = seal_peer(&tx, master, 1000, buf, 3, true);
	assert_int_equal(len, MSG + AUTH_TRAILER_BYTES);
	memcpy(copy, buf, len);

	/* Every single-bit flip, anywhere, is refused and leaves rx unchanged. */
	for (size_t i = 0; i < len; i++) {
		for (int b = 0; b < 8; b += 3) {
			copy[i] ^= (uint8_t)(1u << b);
			enum auth_err e = open_peer(&rx, master, copy, len);
			assert_int_not_equal(e, AUTH_OK);
			copy[i] ^= (uint8_t)(1u << b);
		}
	}
	assert_int_equal(rx.life, 0);
	/* Truncated or extended: refused. */
	for (size_t l = 0; l < len; l += 13)
		assert_int_not_equal(open_peer(&rx, master, copy, l), AUTH_OK);
	/* Another master: refused. */
	assert_int_equal(open_peer(&rx, other, copy, len), AUTH_E_MAC);
	/* The real one: accepted once, then a replay. */
	assert_int_equal(open_peer(&rx, master, copy, len), AUTH_OK);
	assert_int_equal(rx.life, 1000);
	assert_int_equal(open_peer(&rx, master, copy, len), AUTH_E_REPLAY);
	/* Too small a buffer: nothing sealed. */
	assert_int_equal(auth_seal(&tx, buf, MSG, MSG + AUTH_TRAILER_BYTES - 1), 0);
}

static void test_lives(void **state)
{
	(void)state;
	uint8_t master[AUTH_KEY_BYTES];
	uint8_t a[MSG + AUTH_TRAILER_BYTES], b[sizeof(a)], c[sizeof(a)];
	struct auth_tx tx;
	struct auth_rx rx;

	randombytes_buf(master, sizeof(master));
	auth_rx_init(&rx, true);
	size_t la = seal_peer(&tx, master, 5000, a, 1, true);   /* life 5000, ctr 1 */
	size_t lb = seal_peer(&tx, master, 9000, b, 2, true);   /* life 9000, ctr 1 */
	assert_int_equal(open_peer(&rx, master, a, la), AUTH_OK);
	assert_int_equal(open_peer(&rx, master, b, lb), AUTH_OK);   /* a restart */
	assert_int_equal(rx.life, 9000);
	/* The old life's captures are refused from now on. */
	assert_int_equal(open_peer(&rx, master, a, la), AUTH_E_OLD_LIFE);
	size_t lc = seal_peer(&tx, master, 9000, c, 3, false);  /* ctr 2 */
	assert_int_equal(open_peer(&rx, master, c, lc), AUTH_OK);
	assert_int_equal(open_peer(&rx, master, b, lb), AUTH_E_REPLAY);

	/* A receiver of fixed life (a client's entry) refuses any other life. */
	struct auth_rx fixed;
	auth_rx_init(&fixed, false);
	assert_int_equal(open_peer(&fixed, master, c, lc), AUTH_OK);
	assert_int_equal(open_peer(&fixed, master, a, la), AUTH_E_SENDER);
}

/* The window against a reference: a set of accepted counters. */
static void test_window(void **state)
{
	(void)state;
	static uint8_t seen[1u << 16];
	struct auth_window w;
	uint64_t top = 0;
	uint32_t rng = 12345;

	memset(&w, 0, sizeof(w));
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < 200000; i++) {
		rng = rng * 1103515245u + 12345u;
		uint64_t ctr;
		uint32_t r = (rng >> 8) % 100;
		if (r < 60)
			ctr = top + 1 + (rng >> 20) % 4;           /* ahead, small steps */
		else if (r < 62)
			ctr = top + 1 + (rng >> 12) % 5000;        /* a jump */
		else
			ctr = top > 3000 ? top - (rng >> 12) % 3000 : 1 + (rng >> 12) % 3000;
		if (ctr == 0 || ctr >= sizeof(seen))
			break;
		enum auth_err e = auth_window_check(&w, ctr);
		if (seen[ctr])
			assert_int_not_equal(e, AUTH_OK);   /* never twice */
		if (ctr > top)
			assert_int_equal(e, AUTH_OK);       /* ahead: always */
		else if (top - ctr < AUTH_WINDOW_BITS - 64u && !seen[ctr])
			assert_int_equal(e, AUTH_OK);       /* in the window, new: accepted */
		else if (!seen[ctr])
			assert_int_equal(e, AUTH_E_STALE);
		if (e == AUTH_OK) {
			auth_window_set(&w, ctr);
			seen[ctr] = 1;
			if (ctr > top)
				top = ctr;
		}
		assert_int_equal(w.top, top);
	}
	assert_true(top > 10000);
	assert_int_equal(auth_window_check(&w, 0), AUTH_E_STALE);
}

static char g_dir[] = "/tmp/pw-test-auth-XXXXXX";

static void path_in(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", g_dir, name);
}

static void write_text(const char *path, const char *text, mode_t mode)
{
	unlink(path);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void test_key_files(void **state)
{
	(void)state;
	char p[256], err[512];
	struct auth_keys k, back, cl;

	path_in(p, sizeof(p), "cluster.key");
	unlink(p);
	auth_keys_generate(&k, 3);
	assert_int_equal(auth_keys_write(p, &k, err, sizeof(err)), 0);
	struct stat sb;
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* Never overwritten. */
	assert_int_equal(auth_keys_write(p, &k, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "never overwritten"));
	assert_int_equal(auth_keys_load(p, &back, err, sizeof(err)), 0);
	assert_int_equal(back.kind, AUTH_KIND_CLUSTER);
	assert_int_equal(back.n, 1);
	assert_int_equal(back.gen[0], 3);
	assert_memory_equal(back.key[0], k.key[0], AUTH_KEY_BYTES);
	/* Readable by others: refused, with the fix. */
	chmod(p, 0644);
	assert_int_equal(auth_keys_load(p, &back, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "chmod 600"));
	chmod(p, 0600);

	/* A client file derived from it. */
	assert_int_equal(auth_keys_derive_client(&k, AUTH_ROLE_CLIENT, 0, &cl), -1);
	assert_int_equal(auth_keys_derive_client(&k, AUTH_ROLE_CLIENT, 42, &cl), 0);
	path_in(p, sizeof(p), "c42.key");
	unlink(p);
	assert_int_equal(auth_keys_write(p, &cl, err, sizeof(err)), 0);
	assert_int_equal(auth_keys_load(p, &back, err, sizeof(err)), 0);
	assert_int_equal(back.kind, AUTH_KIND_CLIENT);
	assert_int_equal(back.id, 42);
	uint8_t kc[AUTH_KEY_BYTES];
	auth_client_key(k.key[0], AUTH_ROLE_CLIENT, 42, kc);
	assert_memory_equal(back.key[0], kc, AUTH_KEY_BYTES);

	/* Two keys: send names one; without it, refused. */
	path_in(p, sizeof(p), "two.key");
	const char *two =
		"kind = cluster\n"
		"key = 1:0000000000000000000000000000000000000000000000000000000000000001\n"
		"key = 2:0000000000000000000000000000000000000000000000000000000000000002\n";
	write_text(p, two, 0600);
	assert_int_equal(auth_keys_load(p, &back, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "send"));
	char text[512];
	snprintf(text, sizeof(text), "%ssend = 2\n", two);
	write_text(p, text, 0600);
	assert_int_equal(auth_keys_load(p, &back, err, sizeof(err)), 0);
	assert_int_equal(back.n, 2);
	assert_int_equal(back.gen[back.send], 2);

	/* Malformed lines name the line. */
	const char *bad[] = {
		"kind = cluster\nkey = 1:00\n",
		"kind = cluster\nkey = 0:0000000000000000000000000000000000000000000000000000000000000001\n",
		"kind = client\nkey = 1:0000000000000000000000000000000000000000000000000000000000000001\n",
		"kind = cluster\nid = 4\nkey = 1:0000000000000000000000000000000000000000000000000000000000000001\n",
		"kind = nobody\n",
		"key = 1:0000000000000000000000000000000000000000000000000000000000000001\n",
		"kind = cluster\ncolour = blue\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_text(p, bad[i], 0600);
		err[0] = 0;
		assert_int_equal(auth_keys_load(p, &back, err, sizeof(err)), -1);
		assert_true(strlen(err) > 0);
	}
	path_in(p, sizeof(p), "missing.key");
	assert_int_equal(auth_keys_load(p, &back, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "pwctl keygen"));
}

/* A client against a replica's side, built from the master as node/ does. */
static void test_client_round_trip(void **state)
{
	(void)state;
	struct auth_keys k, cl;
	struct auth_client *ac = malloc(sizeof(*ac));
	uint8_t buf[MSG + AUTH_TRAILER_BYTES];
	struct auth_trailer t;
	size_t msg_len;

	assert_non_null(ac);
	auth_keys_generate(&k, 1);
	assert_int_equal(auth_keys_derive_client(&k, AUTH_ROLE_CLIENT, 7, &cl), 0);
	assert_int_equal(auth_client_init(ac, &cl, CLUSTER, 3), 0);
	assert_int_equal(ac->role, AUTH_ROLE_CLIENT);

	/* The client seals a request for replica 2; the replica derives K_c from the master
	 * and the request life key from the trailer. */
	fill(buf, MSG, 9);
	size_t len = auth_client_seal(ac, 2, buf, MSG, sizeof(buf));
	assert_int_equal(len, sizeof(buf));
	assert_int_equal(auth_parse(buf, len, &t, &msg_len), AUTH_OK);
	assert_int_equal(t.role, AUTH_ROLE_CLIENT);
	assert_int_equal(t.key_id, 7);
	uint8_t kc[AUTH_KEY_BYTES], key[AUTH_KEY_BYTES];
	auth_client_key(k.key[0], AUTH_ROLE_CLIENT, 7, kc);
	/* A new client knows no replica's life: its first datagram is a challenge. */
	assert_int_equal(t.flags, AUTH_TF_CHALLENGE);
	auth_req_life_key(kc, CLUSTER, 2, t.life, 0, key);
	crypto_aead_aes256gcm_state st;
	crypto_aead_aes256gcm_beforenm(&st, key);
	assert_int_equal(auth_verify(&st, &t, buf, msg_len), AUTH_OK);
	/* Sealed for replica 2, it does not verify as replica 1's. */
	auth_req_life_key(kc, CLUSTER, 1, t.life, 0, key);
	crypto_aead_aes256gcm_beforenm(&st, key);
	assert_int_equal(auth_verify(&st, &t, buf, msg_len), AUTH_E_MAC);

	/* The replica answers with the reply life key; the client opens it once. */
	struct auth_tx rtx;
	auth_reply_life_key(kc, CLUSTER, 2, 777, ac->life, key);
	auth_tx_init(&rtx, key, 2, 1, AUTH_ROLE_PEER, 777);
	fill(buf, MSG, 11);
	len = auth_seal(&rtx, buf, MSG, sizeof(buf));
	assert_int_equal(auth_client_open(ac, 1, buf, len, &msg_len), AUTH_E_SENDER);
	assert_int_equal(auth_client_open(ac, 2, buf, len, &msg_len), AUTH_OK);
	assert_int_equal(msg_len, MSG);
	assert_int_equal(auth_client_open(ac, 2, buf, len, &msg_len), AUTH_E_REPLAY);
	assert_int_equal(ac->drops[AUTH_E_REPLAY], 1);
	/* Replica 2's life is known now: the next request is bound to it, not a challenge,
	 * and checks only with that life's key. */
	assert_true(auth_client_bound(ac, 2));
	fill(buf, MSG, 12);
	len = auth_client_seal(ac, 2, buf, MSG, sizeof(buf));
	assert_int_equal(auth_parse(buf, len, &t, &msg_len), AUTH_OK);
	assert_int_equal(t.flags, 0);
	assert_int_equal(t.ctr, 2);   /* one counter sequence whatever the key */
	auth_req_life_key(kc, CLUSTER, 2, t.life, 777, key);
	crypto_aead_aes256gcm_beforenm(&st, key);
	assert_int_equal(auth_verify(&st, &t, buf, msg_len), AUTH_OK);
	auth_req_life_key(kc, CLUSTER, 2, t.life, 0, key);
	crypto_aead_aes256gcm_beforenm(&st, key);
	assert_int_equal(auth_verify(&st, &t, buf, msg_len), AUTH_E_MAC);
	/* Forgotten (silence: it may have restarted): challenges again. */
	auth_client_forget(ac, 2);
	assert_false(auth_client_bound(ac, 2));
	len = auth_client_seal(ac, 2, buf, MSG, sizeof(buf));
	assert_int_equal(auth_parse(buf, len, &t, &msg_len), AUTH_OK);
	assert_int_equal(t.flags, AUTH_TF_CHALLENGE);

	/* The cluster key itself makes an admin of key id 0. */
	assert_int_equal(auth_client_init(ac, &k, CLUSTER, 3), 0);
	assert_int_equal(ac->role, AUTH_ROLE_ADMIN);
	assert_int_equal(ac->id, 0);
	free(ac);
}

static void test_lives_of_replicas(void **state)
{
	(void)state;
	uint64_t a = auth_life_now();
	usleep(3000);
	uint64_t b = auth_life_now();
	assert_true(b > a);   /* 3 ms apart: above the 20 random bits (~1 ms) */
	assert_int_not_equal(auth_life_random(), 0);
}

int main(void)
{
	if (!auth_available()) {
		printf("auth: this CPU has no AES-NI/PCLMUL; libsodium's AES-256-GCM is absent\n");
		return 77;
	}
	if (mkdtemp(g_dir) == NULL)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seal_open_and_tamper),
		cmocka_unit_test(test_lives),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_key_files),
		cmocka_unit_test(test_client_round_trip),
		cmocka_unit_test(test_lives_of_replicas),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
	if (system(cmd) != 0)
		rc = rc != 0 ? rc : 1;
	return rc;
}
