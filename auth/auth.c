/* SPDX-License-Identifier: Apache-2.0
 * Authenticated datagrams: keys, life keys, the trailer, the replay window (auth.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "wire_le.h"

const char *auth_err_name(enum auth_err e)
{
	static const char *const names[AUTH_E_MAX] = {
		[AUTH_OK] = "ok",
		[AUTH_E_SHORT] = "short",
		[AUTH_E_FIELD] = "field",
		[AUTH_E_SENDER] = "sender",
		[AUTH_E_GEN] = "key_gen",
		[AUTH_E_OLD_LIFE] = "old_life",
		[AUTH_E_REPLAY] = "replay",
		[AUTH_E_STALE] = "stale",
		[AUTH_E_MAC] = "mac",
		[AUTH_E_ADMIN] = "not_admin",
	};
	return (unsigned)e < AUTH_E_MAX ? names[e] : "?";
}

int auth_init(void)
{
	return sodium_init() < 0 ? -1 : 0;
}

bool auth_available(void)
{
	return auth_init() == 0 && crypto_aead_aes256gcm_is_available() != 0;
}

/* ---------------------------------------------------------------------------------- */
/* Derivation: keyed BLAKE2b-256 over a fixed 24-byte context                          */

static void kdf(const uint8_t key[AUTH_KEY_BYTES], const char label[8], const uint8_t *ctx,
		   size_t len, uint8_t out[AUTH_KEY_BYTES])
{
	uint8_t in[8 + 32];
	memcpy(in, label, 8);
	memcpy(in + 8, ctx, len);
	crypto_generichash(out, AUTH_KEY_BYTES, in, 8 + len, key, AUTH_KEY_BYTES);
	sodium_memzero(in, sizeof(in));
}

void auth_client_key(const uint8_t master[AUTH_KEY_BYTES], enum auth_role role, uint32_t id,
		     uint8_t out[AUTH_KEY_BYTES])
{
	uint8_t c[5];
	c[0] = (uint8_t)role;
	wire_st32(c + 1, id);
	kdf(master, "pwclient", c, sizeof(c), out);
}

void auth_peer_life_key(const uint8_t master[AUTH_KEY_BYTES], uint32_t cluster, uint8_t from,
			uint8_t to, uint64_t life, uint8_t out[AUTH_KEY_BYTES])
{
	uint8_t c[14];
	wire_st32(c, cluster);
	c[4] = from;
	c[5] = to;
	wire_st64(c + 6, life);
	kdf(master, "pwpeer\0\0", c, sizeof(c), out);
}

void auth_req_life_key(const uint8_t kc[AUTH_KEY_BYTES], uint32_t cluster, uint8_t replica,
		       uint64_t client_life, uint64_t replica_life, uint8_t out[AUTH_KEY_BYTES])
{
	uint8_t c[21];
	wire_st32(c, cluster);
	c[4] = replica;
	wire_st64(c + 5, client_life);
	wire_st64(c + 13, replica_life);
	kdf(kc, "pwreq\0\0\0", c, sizeof(c), out);
}

void auth_reply_life_key(const uint8_t kc[AUTH_KEY_BYTES], uint32_t cluster, uint8_t replica,
			 uint64_t replica_life, uint64_t client_life,
			 uint8_t out[AUTH_KEY_BYTES])
{
	uint8_t c[21];
	wire_st32(c, cluster);
	c[4] = replica;
	wire_st64(c + 5, replica_life);
	wire_st64(c + 13, client_life);
	kdf(kc, "pwreply\0", c, sizeof(c), out);
}

uint64_t auth_life_now(void)
{
	struct timespec ts;
	uint64_t r = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	randombytes_buf(&r, sizeof(r));
	uint64_t ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	uint64_t life = (ns & ~(uint64_t)0xfffff) | (r & 0xfffff);
	return life != 0 ? life : 1;
}

uint64_t auth_life_random(void)
{
	uint64_t r = 0;
	while (r == 0)
		randombytes_buf(&r, sizeof(r));
	return r;
}

/* ---------------------------------------------------------------------------------- */
/* Key files                                                                           */

void auth_keys_generate(struct auth_keys *k, uint8_t gen)
{
	memset(k, 0, sizeof(*k));
	k->kind = AUTH_KIND_CLUSTER;
	k->n = 1;
	k->gen[0] = gen != 0 ? gen : 1;
	randombytes_buf(k->key[0], AUTH_KEY_BYTES);
}

int auth_keys_derive_client(const struct auth_keys *cluster, enum auth_role role, uint32_t id,
			    struct auth_keys *out)
{
	if (cluster->kind != AUTH_KIND_CLUSTER || cluster->n == 0 || cluster->n > AUTH_KEYS_MAX ||
	    (role != AUTH_ROLE_CLIENT && role != AUTH_ROLE_ADMIN) || id == 0 ||
	    id > AUTH_CLIENT_ID_MAX)
		return -1;
	memset(out, 0, sizeof(*out));
	out->kind = role == AUTH_ROLE_ADMIN ? AUTH_KIND_ADMIN : AUTH_KIND_CLIENT;
	out->id = id;
	out->n = cluster->n;
	out->send = cluster->send;
	for (uint8_t i = 0; i < cluster->n; i++) {
		out->gen[i] = cluster->gen[i];
		auth_client_key(cluster->key[i], role, id, out->key[i]);
	}
	return 0;
}

static const char *kind_name(uint8_t kind)
{
	return kind == AUTH_KIND_CLUSTER ? "cluster" : kind == AUTH_KIND_ADMIN ? "admin" : "client";
}

int auth_keys_write(const char *path, const struct auth_keys *k, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s%s", path, strerror(errno),
			 errno == EEXIST ? "; fix: a key file is never overwritten: remove it "
					   "first, or write another file" : "");
		return -1;
	}
	char buf[1024];
	int len = snprintf(buf, sizeof(buf),
			   "# paxwire %s key file (docs/security.md). Keep it secret: mode 0600.\n"
			   "kind = %s\n", kind_name(k->kind), kind_name(k->kind));
	if (k->kind != AUTH_KIND_CLUSTER)
		len += snprintf(buf + len, sizeof(buf) - (size_t)len, "id = %u\n", k->id);
	for (uint8_t i = 0; i < k->n; i++) {
		char hex[2 * AUTH_KEY_BYTES + 1];
		sodium_bin2hex(hex, sizeof(hex), k->key[i], AUTH_KEY_BYTES);
		len += snprintf(buf + len, sizeof(buf) - (size_t)len, "key = %u:%s\n", k->gen[i],
				hex);
		sodium_memzero(hex, sizeof(hex));
	}
	if (k->n > 1)
		len += snprintf(buf + len, sizeof(buf) - (size_t)len, "send = %u\n",
				k->gen[k->send]);
	ssize_t w = write(fd, buf, (size_t)len);
	sodium_memzero(buf, sizeof(buf));
	if (w != len || fsync(fd) != 0) {
		snprintf(err, errlen, "%s: write: %s", path, w < 0 ? strerror(errno) : "short");
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' ||
			 s[n - 1] == '\r'))
		s[--n] = 0;
	return s;
}

static bool parse_u32(const char *s, uint32_t max, uint32_t *v)
{
	char *end;
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long x = strtoul(s, &end, 10);
	if (errno != 0 || *end != 0 || x > max)
		return false;
	*v = (uint32_t)x;
	return true;
}

#define KEYS_FAIL(...)                                                                     \
	do {                                                                               \
		snprintf(err, errlen, __VA_ARGS__);                                        \
		goto fail;                                                                 \
	} while (0)

int auth_keys_load(const char *path, struct auth_keys *k, char *err, size_t errlen)
{
	char line[512];
	unsigned lineno = 0;
	uint32_t send_gen = 0;
	bool have_kind = false, have_id = false;
	struct stat sb;

	memset(k, 0, sizeof(*k));
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s%s", path, strerror(errno),
			 errno == ENOENT ? "; fix: make one with `pwctl keygen FILE`" : "");
		return -1;
	}
	if (fstat(fileno(f), &sb) != 0)
		KEYS_FAIL("%s: %s", path, strerror(errno));
	if (!S_ISREG(sb.st_mode))
		KEYS_FAIL("%s: not a regular file", path);
	if ((sb.st_mode & 077) != 0)
		KEYS_FAIL("%s: others may read or write this key file (mode %04o); fix: chmod 600 "
			  "%s", path, (unsigned)(sb.st_mode & 07777), path);
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f))
			KEYS_FAIL("%s:%u: line too long", path, lineno);
		char *s = trim(line);
		if (*s == 0 || *s == '#' || *s == ';')
			continue;
		char *eq = strchr(s, '=');
		if (eq == NULL)
			KEYS_FAIL("%s:%u: expected `name = value`", path, lineno);
		*eq = 0;
		char *name = trim(s), *val = trim(eq + 1);
		if (strcmp(name, "kind") == 0) {
			if (strcmp(val, "cluster") == 0)
				k->kind = AUTH_KIND_CLUSTER;
			else if (strcmp(val, "client") == 0)
				k->kind = AUTH_KIND_CLIENT;
			else if (strcmp(val, "admin") == 0)
				k->kind = AUTH_KIND_ADMIN;
			else
				KEYS_FAIL("%s:%u: kind is cluster, client or admin", path, lineno);
			have_kind = true;
		} else if (strcmp(name, "id") == 0) {
			if (!parse_u32(val, AUTH_CLIENT_ID_MAX, &k->id) || k->id == 0)
				KEYS_FAIL("%s:%u: id is 1..%u", path, lineno, AUTH_CLIENT_ID_MAX);
			have_id = true;
		} else if (strcmp(name, "send") == 0) {
			if (!parse_u32(val, 255, &send_gen) || send_gen == 0)
				KEYS_FAIL("%s:%u: send is a generation 1..255", path, lineno);
		} else if (strcmp(name, "key") == 0) {
			char *colon = strchr(val, ':');
			uint32_t gen;
			size_t bin_len = 0;
			if (k->n == AUTH_KEYS_MAX)
				KEYS_FAIL("%s:%u: at most %u keys (the current one and, during a "
					  "rotation, one more)", path, lineno, AUTH_KEYS_MAX);
			if (colon == NULL)
				KEYS_FAIL("%s:%u: expected key = GEN:HEX", path, lineno);
			*colon = 0;
			if (!parse_u32(trim(val), 255, &gen) || gen == 0)
				KEYS_FAIL("%s:%u: a key's generation is 1..255", path, lineno);
			for (uint8_t i = 0; i < k->n; i++)
				if (k->gen[i] == gen)
					KEYS_FAIL("%s:%u: generation %u twice", path, lineno, gen);
			char *hex = trim(colon + 1);
			if (strlen(hex) != 2 * AUTH_KEY_BYTES ||
			    sodium_hex2bin(k->key[k->n], AUTH_KEY_BYTES, hex, strlen(hex), NULL,
					   &bin_len, NULL) != 0 ||
			    bin_len != AUTH_KEY_BYTES)
				KEYS_FAIL("%s:%u: a key is %u hex digits", path, lineno,
					  2 * AUTH_KEY_BYTES);
			k->gen[k->n++] = (uint8_t)gen;
		} else {
			KEYS_FAIL("%s:%u: unknown name `%s` (kind, id, key, send)", path, lineno,
				  name);
		}
	}
	if (ferror(f))
		KEYS_FAIL("%s: read error", path);
	if (!have_kind)
		KEYS_FAIL("%s: no `kind =` line: not a paxwire key file", path);
	if (k->n == 0)
		KEYS_FAIL("%s: no `key =` line", path);
	if (k->kind != AUTH_KIND_CLUSTER && !have_id)
		KEYS_FAIL("%s: a %s key file needs `id = N`", path, kind_name(k->kind));
	if (k->kind == AUTH_KIND_CLUSTER && have_id)
		KEYS_FAIL("%s: a cluster key file has no id", path);
	k->send = 0;
	if (send_gen != 0) {
		bool found = false;
		for (uint8_t i = 0; i < k->n; i++)
			if (k->gen[i] == send_gen) {
				k->send = i;
				found = true;
			}
		if (!found)
			KEYS_FAIL("%s: send = %u names no key of the file", path, send_gen);
	} else if (k->n > 1) {
		KEYS_FAIL("%s: two keys and no `send = GEN`: say which one this process sends "
			  "with", path);
	}
	sodium_memzero(line, sizeof(line));
	fclose(f);
	return 0;
fail:
	sodium_memzero(line, sizeof(line));
	sodium_memzero(k, sizeof(*k));
	fclose(f);
	return -1;
}

/* ---------------------------------------------------------------------------------- */
/* The trailer                                                                         */

void auth_tx_init(struct auth_tx *tx, const uint8_t key[AUTH_KEY_BYTES], uint32_t key_id,
		  uint8_t gen, enum auth_role role, uint64_t life)
{
	crypto_aead_aes256gcm_beforenm(&tx->st, key);
	tx->life = life;
	tx->ctr = 0;
	tx->key_id = key_id;
	tx->gen = gen;
	tx->role = (uint8_t)role;
	tx->flags = 0;
}

static void nonce_of(uint64_t ctr, uint8_t npub[crypto_aead_aes256gcm_NPUBBYTES])
{
	memset(npub, 0, crypto_aead_aes256gcm_NPUBBYTES);
	wire_st64(npub, ctr);
}

size_t auth_seal(struct auth_tx *tx, uint8_t *buf, size_t len, size_t cap)
{
	uint8_t npub[crypto_aead_aes256gcm_NPUBBYTES];
	unsigned long long maclen = 0;

	if (cap < AUTH_TRAILER_BYTES || len > cap - AUTH_TRAILER_BYTES)
		return 0;
	uint8_t *t = buf + len;
	tx->ctr++;
	wire_st32(t + AUTH_OFF_KEY_ID, tx->key_id);
	t[AUTH_OFF_GEN] = tx->gen;
	t[AUTH_OFF_ROLE] = tx->role;
	wire_st16(t + AUTH_OFF_FLAGS, tx->flags);
	wire_st64(t + AUTH_OFF_LIFE, tx->life);
	wire_st64(t + AUTH_OFF_CTR, tx->ctr);
	nonce_of(tx->ctr, npub);
	/* GMAC: no message, the whole datagram up to the tag as associated data. */
	uint8_t none[1];
	crypto_aead_aes256gcm_encrypt_detached_afternm(none, t + AUTH_OFF_TAG, &maclen, NULL, 0,
						       buf, len + AUTH_OFF_TAG, NULL, npub,
						       &tx->st);
	return len + AUTH_TRAILER_BYTES;
}

/* The smallest message: a protocol header (wire/px_codec.h: 56 bytes). Checked again
 * by the codec; here it only keeps a trailer from being all a datagram is. */
#define AUTH_MSG_MIN 56u

enum auth_err auth_parse(const uint8_t *buf, size_t len, struct auth_trailer *t,
			 size_t *msg_len)
{
	if (len < AUTH_MSG_MIN + AUTH_TRAILER_BYTES)
		return AUTH_E_SHORT;
	const uint8_t *p = buf + len - AUTH_TRAILER_BYTES;
	t->key_id = wire_ld32(p + AUTH_OFF_KEY_ID);
	t->gen = p[AUTH_OFF_GEN];
	t->role = p[AUTH_OFF_ROLE];
	t->flags = wire_ld16(p + AUTH_OFF_FLAGS);
	t->life = wire_ld64(p + AUTH_OFF_LIFE);
	t->ctr = wire_ld64(p + AUTH_OFF_CTR);
	t->tag = p + AUTH_OFF_TAG;
	if (t->role < AUTH_ROLE_PEER || t->role > AUTH_ROLE_ADMIN ||
	    (t->flags & ~AUTH_TF_CHALLENGE) != 0 ||
	    (t->role == AUTH_ROLE_PEER && t->flags != 0) || t->gen == 0 || t->life == 0 ||
	    t->ctr == 0 ||
	    t->ctr == UINT64_MAX || t->key_id > AUTH_CLIENT_ID_MAX ||
	    (t->role == AUTH_ROLE_PEER && t->key_id >= AUTH_REPLICAS_MAX))
		return AUTH_E_FIELD;
	*msg_len = len - AUTH_TRAILER_BYTES;
	return AUTH_OK;
}

enum auth_err auth_verify(const crypto_aead_aes256gcm_state *st, const struct auth_trailer *t,
			  const uint8_t *buf, size_t msg_len)
{
	uint8_t npub[crypto_aead_aes256gcm_NPUBBYTES];

	nonce_of(t->ctr, npub);
	/* The tag sits right after what it covers (buf[0, msg_len + AUTH_OFF_TAG)). */
	static const uint8_t none[1];
	if (crypto_aead_aes256gcm_decrypt_detached_afternm(NULL, NULL, none, 0, t->tag, buf,
							   msg_len + AUTH_OFF_TAG, npub,
							   st) != 0)
		return AUTH_E_MAC;
	return AUTH_OK;
}

/* ---------------------------------------------------------------------------------- */
/* The replay window (WireGuard's, RFC 6479): a ring of words below the top counter    */

#define WIN_WORDS (AUTH_WINDOW_BITS / 64u)

enum auth_err auth_window_check(const struct auth_window *w, uint64_t ctr)
{
	if (ctr == 0)
		return AUTH_E_STALE;
	if (ctr > w->top)
		return AUTH_OK;
	/* One word less than the ring: the top's word is partly ahead of it. */
	if (w->top - ctr >= AUTH_WINDOW_BITS - 64u)
		return AUTH_E_STALE;
	uint64_t word = (ctr / 64u) % WIN_WORDS;
	return (w->bits[word] >> (ctr % 64u)) & 1u ? AUTH_E_REPLAY : AUTH_OK;
}

void auth_window_set(struct auth_window *w, uint64_t ctr)
{
	if (ctr > w->top) {
		uint64_t cur = w->top / 64u, next = ctr / 64u;
		/* Clear the words passed over: at most the whole ring (bounded). */
		uint64_t diff = next - cur;
		if (diff > WIN_WORDS)
			diff = WIN_WORDS;
		for (uint64_t i = 1; i <= diff; i++)
			w->bits[(cur + i) % WIN_WORDS] = 0;
		w->top = ctr;
	}
	w->bits[(ctr / 64u) % WIN_WORDS] |= 1ull << (ctr % 64u);
}

void auth_rx_init(struct auth_rx *rx, bool monotonic)
{
	memset(rx, 0, sizeof(*rx));
	rx->monotonic = monotonic;
}

enum auth_err auth_open(struct auth_rx *rx, const struct auth_trailer *t, const uint8_t *buf,
			size_t msg_len, auth_derive_fn derive, void *ctx)
{
	if (rx->life != 0 && t->life == rx->life && t->gen == rx->gen) {
		enum auth_err e = auth_window_check(&rx->w, t->ctr);
		if (e != AUTH_OK)
			return e;
		e = auth_verify(&rx->st, t, buf, msg_len);
		if (e != AUTH_OK)
			return e;
		auth_window_set(&rx->w, t->ctr);
		return AUTH_OK;
	}
	if (rx->life != 0 && t->life < rx->life && rx->monotonic)
		return AUTH_E_OLD_LIFE;
	if ((rx->life != 0 && t->life != rx->life && !rx->monotonic) || derive == NULL)
		return AUTH_E_SENDER;
	/* A new life (or the same life under another generation: a rotation while it runs
	 * is not how a sender behaves, but the tag decides). Check with a key of its own
	 * before anything changes. */
	uint8_t key[AUTH_KEY_BYTES];
	crypto_aead_aes256gcm_state st;
	derive(ctx, t, key);
	crypto_aead_aes256gcm_beforenm(&st, key);
	sodium_memzero(key, sizeof(key));
	enum auth_err e = auth_verify(&st, t, buf, msg_len);
	if (e != AUTH_OK) {
		sodium_memzero(&st, sizeof(st));
		return e;
	}
	if (t->life == rx->life && t->gen != rx->gen) {
		/* Same life, other generation: keep the window (counters are the sender's). */
		if (auth_window_check(&rx->w, t->ctr) != AUTH_OK) {
			sodium_memzero(&st, sizeof(st));
			return AUTH_E_REPLAY;
		}
	} else {
		memset(&rx->w, 0, sizeof(rx->w));
	}
	rx->st = st;
	sodium_memzero(&st, sizeof(st));
	rx->life = t->life;
	rx->gen = t->gen;
	auth_window_set(&rx->w, t->ctr);
	return AUTH_OK;
}

/* ---------------------------------------------------------------------------------- */
/* A client's side                                                                     */

struct client_derive {
	const struct auth_client *ac;
	uint8_t replica;
};

static void client_derive_reply(void *ctx, const struct auth_trailer *t,
				uint8_t key[AUTH_KEY_BYTES])
{
	const struct client_derive *d = ctx;
	const struct auth_client *ac = d->ac;
	for (uint8_t i = 0; i < ac->n; i++)
		if (ac->gen[i] == t->gen) {
			auth_reply_life_key(ac->kc[i], ac->cluster_id, d->replica, t->life,
					    ac->life, key);
			return;
		}
	/* auth_client_open checked the generation: not reached. */
	memset(key, 0, AUTH_KEY_BYTES);
}

/** Binds the requests to replica j to its life (0: none known: challenges), keeping
 *  the counter (one sequence per client life and replica, whatever the key). */
static void bind_tx(struct auth_client *ac, uint8_t j, uint64_t life)
{
	uint8_t key[AUTH_KEY_BYTES];
	uint64_t ctr = ac->tx[j].ctr;
	auth_req_life_key(ac->kc[ac->send], ac->cluster_id, j, ac->life, life, key);
	auth_tx_init(&ac->tx[j], key, ac->id, ac->gen[ac->send], (enum auth_role)ac->role,
		     ac->life);
	sodium_memzero(key, sizeof(key));
	ac->tx[j].ctr = ctr;
	ac->tx[j].flags = life == 0 ? AUTH_TF_CHALLENGE : 0;
	ac->bound[j] = life;
}

int auth_client_init(struct auth_client *ac, const struct auth_keys *k, uint32_t cluster_id,
		     uint8_t n_replicas)
{
	if (auth_init() != 0)
		return -1;
	return auth_client_init_life(ac, k, cluster_id, n_replicas, auth_life_random());
}

int auth_client_init_life(struct auth_client *ac, const struct auth_keys *k,
			  uint32_t cluster_id, uint8_t n_replicas, uint64_t life)
{
	if (auth_init() != 0 || k->n == 0 || k->n > AUTH_KEYS_MAX || k->send >= k->n ||
	    n_replicas == 0 || n_replicas > AUTH_REPLICAS_MAX || life == 0)
		return -1;
	memset(ac, 0, sizeof(*ac));
	ac->cluster_id = cluster_id;
	ac->n_replicas = n_replicas;
	ac->life = life;
	ac->n = k->n;
	ac->send = k->send;
	if (k->kind == AUTH_KIND_CLUSTER) {
		ac->role = AUTH_ROLE_ADMIN;
		ac->id = 0;
		for (uint8_t i = 0; i < k->n; i++)
			auth_client_key(k->key[i], AUTH_ROLE_ADMIN, 0, ac->kc[i]);
	} else {
		ac->role = k->kind == AUTH_KIND_ADMIN ? AUTH_ROLE_ADMIN : AUTH_ROLE_CLIENT;
		ac->id = k->id;
		memcpy(ac->kc, k->key, sizeof(ac->kc));
	}
	memcpy(ac->gen, k->gen, sizeof(ac->gen));
	for (uint8_t j = 0; j < n_replicas; j++) {
		auth_rx_init(&ac->rx[j], true);
		bind_tx(ac, j, 0);
	}
	return 0;
}

size_t auth_client_seal(struct auth_client *ac, uint8_t replica, uint8_t *buf, size_t len,
			size_t cap)
{
	if (replica >= ac->n_replicas)
		return 0;
	uint64_t want = ac->forget[replica] ? 0 : ac->rx[replica].life;
	if (want != ac->bound[replica])
		bind_tx(ac, replica, want);
	return auth_seal(&ac->tx[replica], buf, len, cap);
}

enum auth_err auth_client_open(struct auth_client *ac, uint8_t replica, const uint8_t *buf,
			       size_t len, size_t *msg_len)
{
	struct auth_trailer t;
	enum auth_err e = auth_parse(buf, len, &t, msg_len);
	if (e == AUTH_OK && (replica >= ac->n_replicas || t.role != AUTH_ROLE_PEER ||
			     t.key_id != replica))
		e = AUTH_E_SENDER;
	if (e == AUTH_OK) {
		bool known = false;
		for (uint8_t i = 0; i < ac->n; i++)
			known |= ac->gen[i] == t.gen;
		if (!known)
			e = AUTH_E_GEN;
	}
	if (e == AUTH_OK) {
		struct client_derive d = { ac, replica };
		e = auth_open(&ac->rx[replica], &t, buf, *msg_len, client_derive_reply, &d);
	}
	if (e != AUTH_OK)
		ac->drops[e]++;
	else
		ac->forget[replica] = false;
	return e;
}

void auth_client_forget(struct auth_client *ac, uint8_t replica)
{
	if (replica < ac->n_replicas)
		ac->forget[replica] = true;
}

bool auth_client_bound(const struct auth_client *ac, uint8_t replica)
{
	return replica < ac->n_replicas && !ac->forget[replica] && ac->rx[replica].life != 0;
}
