/* SPDX-License-Identifier: Apache-2.0
 * pw-bench-auth: what authenticating one datagram costs, per candidate primitive in
 * libsodium, at a few datagram sizes. The primitive paxwire uses (auth/) was picked
 * from this table (docs/security.md, "The primitive"; docs/benchmarks.md).
 *
 * Each candidate computes a 16- or 32-byte tag over the whole datagram with a key set
 * up once (what a replica does: its keys are derived at start):
 *   hmac-sha512256     crypto_auth (HMAC-SHA-512 truncated to 256 bits)
 *   aes256gcm          crypto_aead_aes256gcm with the datagram as associated data and
 *                      no message (GMAC), key expanded once (beforenm); needs AES-NI
 *   chacha20poly1305   crypto_aead_chacha20poly1305_ietf, the datagram as associated data
 *   siphashx24         crypto_shorthash_siphashx24 (128-bit SipHash-2-4)
 *   blake2b-128        crypto_generichash keyed, 16-byte output
 * The nonce of the AEADs is a counter, as in paxwire's trailer.
 *
 * One JSON object per line: {"bench":"auth","prim":...,"bytes":...,"ns":...} with the
 * median of --reps runs of --iters tags each.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "env.h"
#include "pw_version.h"

#define SIZES_MAX 8u
#define REPS_MAX 31u

static uint8_t g_buf[2048];
static uint8_t g_tag[64];
static uint8_t g_key[32];
static crypto_aead_aes256gcm_state g_gcm;
static volatile uint8_t g_sink;
static uint8_t g_none[1];   /* the empty ciphertext: no message, only data */

static void t_hmac(uint64_t i, size_t len)
{
	(void)i;
	crypto_auth_hmacsha512256(g_tag, g_buf, len, g_key);
}

static void t_gcm(uint64_t i, size_t len)
{
	uint8_t npub[crypto_aead_aes256gcm_NPUBBYTES] = { 0 };
	unsigned long long maclen;
	memcpy(npub, &i, sizeof(i));
	crypto_aead_aes256gcm_encrypt_detached_afternm(g_none, g_tag, &maclen, NULL, 0, g_buf,
						       len, NULL, npub, &g_gcm);
}

static void t_chacha(uint64_t i, size_t len)
{
	uint8_t npub[crypto_aead_chacha20poly1305_ietf_NPUBBYTES] = { 0 };
	unsigned long long maclen;
	memcpy(npub, &i, sizeof(i));
	crypto_aead_chacha20poly1305_ietf_encrypt_detached(g_none, g_tag, &maclen, NULL, 0,
							   g_buf, len, NULL, npub, g_key);
}

static void t_sip(uint64_t i, size_t len)
{
	(void)i;
	crypto_shorthash_siphashx24(g_tag, g_buf, len, g_key);
}

static void t_blake(uint64_t i, size_t len)
{
	(void)i;
	crypto_generichash(g_tag, 16, g_buf, len, g_key, 32);
}

struct prim {
	const char *name;
	void (*fn)(uint64_t, size_t);
	unsigned tag_bytes;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (pw_version_arg(argc, argv, "pw-bench-auth"))
		return 0;
	size_t sizes[SIZES_MAX] = { 64, 512, 1400 };
	unsigned n_sizes = 3, reps = 5;
	uint64_t iters = 200000;
	static const struct option opts[] = {
		{ "iters", required_argument, NULL, 'i' },
		{ "reps", required_argument, NULL, 'r' },
		{ "sizes", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			iters = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			reps = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 's': {
			n_sizes = 0;
			for (char *s = strtok(optarg, ","); s && n_sizes < SIZES_MAX;
			     s = strtok(NULL, ","))
				sizes[n_sizes++] = strtoul(s, NULL, 10);
			break;
		}
		case 'h':
			printf("usage: pw-bench-auth [--iters N] [--reps R] [--sizes 64,512,1400]\n");
			return 0;
		default:
			return 2;
		}
	}
	if (iters == 0 || reps == 0 || reps > REPS_MAX || n_sizes == 0) {
		fprintf(stderr, "pw-bench-auth: --iters > 0, 1 <= --reps <= %u, --sizes\n",
			REPS_MAX);
		return 2;
	}
	for (unsigned k = 0; k < n_sizes; k++)
		if (sizes[k] == 0 || sizes[k] > sizeof(g_buf)) {
			fprintf(stderr, "pw-bench-auth: sizes are 1..%zu bytes\n", sizeof(g_buf));
			return 2;
		}
	if (sodium_init() < 0) {
		fprintf(stderr, "pw-bench-auth: sodium_init failed\n");
		return 1;
	}
	randombytes_buf(g_key, sizeof(g_key));
	randombytes_buf(g_buf, sizeof(g_buf));
	bool aesni = crypto_aead_aes256gcm_is_available();
	if (aesni)
		crypto_aead_aes256gcm_beforenm(&g_gcm, g_key);
	const struct prim prims[] = {
		{ "hmac-sha512256", t_hmac, 32 },
		{ "aes256gcm", t_gcm, 16 },
		{ "chacha20poly1305", t_chacha, 16 },
		{ "siphashx24", t_sip, 16 },
		{ "blake2b-128", t_blake, 16 },
	};
	for (unsigned p = 0; p < sizeof(prims) / sizeof(prims[0]); p++) {
		if (prims[p].fn == t_gcm && !aesni) {
			printf("{\"bench\":\"auth\",\"prim\":\"aes256gcm\",\"available\":false}\n");
			continue;
		}
		for (unsigned k = 0; k < n_sizes; k++) {
			double ns[REPS_MAX];
			for (unsigned r = 0; r < reps; r++) {
				uint64_t t0 = env_mono_ns();
				for (uint64_t i = 0; i < iters; i++) {
					prims[p].fn(i, sizes[k]);
					g_buf[0] ^= g_tag[0];   /* a dependency: no overlap */
				}
				ns[r] = (double)(env_mono_ns() - t0) / (double)iters;
			}
			qsort(ns, reps, sizeof(ns[0]), cmp_double);
			printf("{\"bench\":\"auth\",\"prim\":\"%s\",\"tag_bytes\":%u,\"bytes\":%zu,"
			       "\"ns\":%.1f,\"ns_min\":%.1f,\"ns_max\":%.1f,\"ns_per_byte\":%.3f}\n",
			       prims[p].name, prims[p].tag_bytes, sizes[k], ns[reps / 2], ns[0],
			       ns[reps - 1], ns[reps / 2] / (double)sizes[k]);
		}
	}
	g_sink = g_tag[0];
	return 0;
}
