/* SPDX-License-Identifier: Apache-2.0
 * auth/: authenticated datagrams (prefix auth_). Every paxwire datagram, replica to
 * replica and client to replica and back, is a protocol message followed by a 40-byte
 * trailer whose tag (AES-256-GCM with the datagram as associated data: GMAC) is
 * checked before the message is decoded. docs/security.md gives the threat model and
 * the design; docs/protocol.md, "Authentication trailer", the bytes.
 *
 * Keys. A cluster key file holds one or two 32-byte master keys, each with a
 * generation (two during a rotation: both accepted, one sent with). Everything else is
 * derived from a master with keyed BLAKE2b:
 *   a client's key      K_c    = H(master; "pwclient", role, key id)   (its key file)
 *   replica i -> j      life key H(master; "pwpeer", cluster, i, j, life of i)
 *   client -> replica j life key H(K_c; "pwreq", cluster, j, life of the client, life
 *                                   of j as the client knows it: 0 before it does)
 *   replica j -> client life key H(K_c; "pwreply", cluster, j, life of j, life of the
 *                                   client)
 * A life is a sender's start: a replica's is its start time with random low bits
 * (auth_life_now: later starts have higher lives), a client's is random. A life key is
 * used by one sender only, with a counter from 1: so a GCM nonce (the counter) never
 * repeats under a key.
 *
 * Replay protection (WireGuard's): per sender life, the highest counter seen and a
 * window of AUTH_WINDOW_BITS below it; a counter seen or below the window is dropped.
 * A replica's older life is dropped (its lives only grow).
 *
 * Nothing here allocates; nothing here is on the per-packet path except auth_seal,
 * auth_parse and auth_open (no syscalls, no locks).
 */
#ifndef AUTH_H
#define AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#define AUTH_KEY_BYTES 32u
#define AUTH_TAG_BYTES 16u
#define AUTH_TRAILER_BYTES 40u
/** Master keys (generations) one key file may hold: the current and, during a
 *  rotation, one more. */
#define AUTH_KEYS_MAX 2u
/** Replay window per sender life: a ring of this many bits (a multiple of 64), of which
 *  one word is the top counter's own, so counters up to AUTH_WINDOW_BITS - 64 below
 *  the highest accepted are taken (RFC 6479; WireGuard's). */
#define AUTH_WINDOW_BITS 2048u
/** The largest client key id (ids are 1 .. this; 24 bits). */
#define AUTH_CLIENT_ID_MAX 0xffffffu

/* Trailer layout, offsets from its start (right after the message's total_len bytes). */
#define AUTH_OFF_KEY_ID 0u    /* u32: peer: the sender's replica id; else the key id */
#define AUTH_OFF_GEN 4u       /* u8: the master key's generation (1..255) */
#define AUTH_OFF_ROLE 5u      /* u8: enum auth_role */
#define AUTH_OFF_FLAGS 6u     /* u16: AUTH_TF_* (only those) */
#define AUTH_OFF_LIFE 8u      /* u64: the sender's life (non-zero) */
#define AUTH_OFF_CTR 16u      /* u64: the sender's counter in this life (>= 1) */
#define AUTH_OFF_TAG 24u      /* 16 bytes: GCM tag over message || trailer[0, 24) */

_Static_assert(AUTH_OFF_TAG + AUTH_TAG_BYTES == AUTH_TRAILER_BYTES, "trailer layout");
_Static_assert(AUTH_WINDOW_BITS % 64u == 0, "window in words");

/** Trailer flags. CHALLENGE: a client's datagram sealed without the receiving
 *  replica's life (the client does not know it yet, or lost it: the replica restarted),
 *  so a capture of it could be replayed to any later life of the replica. The replica
 *  takes it only as a question: it answers a probe as usual and anything else with BUSY
 *  (NOT_LEADER at a follower), acting on nothing; the answer's trailer names its life,
 *  and the client's next datagram is sealed for that life (docs/security.md,
 *  "Replays after a restart"). */
#define AUTH_TF_CHALLENGE 0x0001u

/** Who sealed a datagram. */
enum auth_role {
	AUTH_ROLE_PEER = 1,    /**< a replica (key id: its replica id) */
	AUTH_ROLE_CLIENT = 2,  /**< a client key: commands and reads */
	AUTH_ROLE_ADMIN = 3,   /**< an admin key: a client key that may also run admin
	                            requests (stats, transfer-leader, backups) */
};

/** What a key file holds. */
enum auth_kind {
	AUTH_KIND_CLUSTER = 1, /**< master keys: the replicas' (and root's) */
	AUTH_KIND_CLIENT = 2,  /**< one client key (derived), role client */
	AUTH_KIND_ADMIN = 3,   /**< one client key (derived), role admin */
};

/** Why a datagram was dropped. 0 is success; every other value is counted. */
enum auth_err {
	AUTH_OK = 0,
	AUTH_E_SHORT,     /**< shorter than a trailer plus a message header */
	AUTH_E_FIELD,     /**< a trailer field is impossible: role, zero bytes, life or
	                       counter 0, key id out of range */
	AUTH_E_SENDER,    /**< the role or key id does not fit the message: a peer's
	                       trailer on a client's message or the other way round, a
	                       peer id that is not the header's sender */
	AUTH_E_GEN,       /**< a key generation this receiver does not hold */
	AUTH_E_OLD_LIFE,  /**< a replica's life older than one already heard */
	AUTH_E_REPLAY,    /**< a counter already accepted in this life */
	AUTH_E_STALE,     /**< a counter below the replay window */
	AUTH_E_MAC,       /**< the tag is wrong: forged, mutated, or another key */
	AUTH_E_ADMIN,     /**< an admin request (or a tool's SNAP_REQ) with a client key */
	AUTH_E_MAX,
};

/** Static name of an auth_err ("mac", "replay", ...), for counters and logs. */
const char *auth_err_name(enum auth_err e);

/* ---------------------------------------------------------------------------------- */
/* Keys and key files                                                                  */

struct auth_keys {
	uint8_t kind;                /**< enum auth_kind */
	uint8_t n;                   /**< keys held: 1..AUTH_KEYS_MAX */
	uint8_t send;                /**< index of the key sent with */
	uint32_t id;                 /**< client and admin keys: the key id */
	uint8_t gen[AUTH_KEYS_MAX];  /**< each key's generation, distinct, 1..255 */
	uint8_t key[AUTH_KEYS_MAX][AUTH_KEY_BYTES];
};

/** Initialises libsodium (once per process; safe to call again). -1: it failed. */
int auth_init(void);

/** True when this CPU runs AES-256-GCM (libsodium needs AES-NI and PCLMUL). */
bool auth_available(void);

/**
 * Reads a key file (docs/security.md, "Key files"): `kind = cluster|client|admin`,
 * `id = N` (client and admin), one or two `key = GEN:64 hex digits`, optionally
 * `send = GEN`. Refuses a file that others may read or write (mode & 077), naming the
 * fix. @return 0, or -1 with err set ("FILE:LINE: what; fix: ...").
 */
int auth_keys_load(const char *path, struct auth_keys *k, char *err, size_t errlen);

/** Writes k to a new file path (mode 0600; an existing file is not overwritten).
 *  @return 0, or -1 with err set. */
int auth_keys_write(const char *path, const struct auth_keys *k, char *err, size_t errlen);

/** A new random cluster key of generation gen (1..255). */
void auth_keys_generate(struct auth_keys *k, uint8_t gen);

/** The client key file of (role, id) derived from a cluster key file (every generation
 *  it holds, sending with the same one). role: AUTH_ROLE_CLIENT or AUTH_ROLE_ADMIN;
 *  id 1..AUTH_CLIENT_ID_MAX. @return 0, or -1 (bad arguments). */
int auth_keys_derive_client(const struct auth_keys *cluster, enum auth_role role, uint32_t id,
			    struct auth_keys *out);

/** K_c of (role, id) under one master key. */
void auth_client_key(const uint8_t master[AUTH_KEY_BYTES], enum auth_role role, uint32_t id,
		     uint8_t out[AUTH_KEY_BYTES]);

/** Life keys (the file comment). */
void auth_peer_life_key(const uint8_t master[AUTH_KEY_BYTES], uint32_t cluster, uint8_t from,
			uint8_t to, uint64_t life, uint8_t out[AUTH_KEY_BYTES]);
void auth_req_life_key(const uint8_t kc[AUTH_KEY_BYTES], uint32_t cluster, uint8_t replica,
		       uint64_t client_life, uint64_t replica_life, uint8_t out[AUTH_KEY_BYTES]);
void auth_reply_life_key(const uint8_t kc[AUTH_KEY_BYTES], uint32_t cluster, uint8_t replica,
			 uint64_t replica_life, uint64_t client_life,
			 uint8_t out[AUTH_KEY_BYTES]);

/** A replica's life: CLOCK_REALTIME in ns with its low 20 bits random, never 0. A
 *  replica that restarts gets a higher one as long as its clock did not step back
 *  across the restart (docs/security.md, "Lives"). */
uint64_t auth_life_now(void);
/** A client's life: 64 random bits, never 0. */
uint64_t auth_life_random(void);

/* ---------------------------------------------------------------------------------- */
/* Sealing and opening                                                                 */

/** One sending direction: a life key, expanded, and its counter. */
struct auth_tx {
	crypto_aead_aes256gcm_state st;
	uint64_t life;
	uint64_t ctr;      /**< the last counter sent */
	uint32_t key_id;
	uint8_t gen;
	uint8_t role;
	uint16_t flags;    /**< AUTH_TF_* its trailers carry (0 after auth_tx_init) */
};

/** Sets tx up to send with life key `key`; its trailers name key_id, gen, role, life. */
void auth_tx_init(struct auth_tx *tx, const uint8_t key[AUTH_KEY_BYTES], uint32_t key_id,
		  uint8_t gen, enum auth_role role, uint64_t life);

/** Appends the trailer to the len-byte message in buf (cap bytes).
 *  @return len + AUTH_TRAILER_BYTES, or 0 if cap is too small (nothing written). */
size_t auth_seal(struct auth_tx *tx, uint8_t *buf, size_t len, size_t cap);

/** A trailer, parsed. */
struct auth_trailer {
	uint32_t key_id;
	uint8_t gen;
	uint8_t role;
	uint16_t flags;
	uint64_t life;
	uint64_t ctr;
	const uint8_t *tag;
};

/** Splits a datagram into its message (*msg_len bytes from buf) and its trailer, and
 *  checks the trailer's fields (AUTH_E_SHORT, AUTH_E_FIELD). No key is used. */
enum auth_err auth_parse(const uint8_t *buf, size_t len, struct auth_trailer *t,
			 size_t *msg_len);

/** The replay window of one sender life. */
struct auth_window {
	uint64_t top;      /**< the highest counter accepted; 0: none */
	uint64_t bits[AUTH_WINDOW_BITS / 64u];
};

/** Would ctr be accepted (AUTH_OK, AUTH_E_REPLAY, AUTH_E_STALE)? Changes nothing. */
enum auth_err auth_window_check(const struct auth_window *w, uint64_t ctr);
/** Records ctr as accepted (after its tag was checked: auth_window_check said OK). */
void auth_window_set(struct auth_window *w, uint64_t ctr);

/** One receiving direction: the sender's current life, its key expanded, its window. */
struct auth_rx {
	crypto_aead_aes256gcm_state st;
	uint64_t life;     /**< 0: no life heard yet */
	uint8_t gen;
	struct auth_window w;
	/** Lives only grow (a replica sends): an older one is AUTH_E_OLD_LIFE. false: the
	 *  life is fixed once set (a client's entry at a replica: another life is another
	 *  entry). */
	bool monotonic;
};

/** Forgets every life (a new receiver). */
void auth_rx_init(struct auth_rx *rx, bool monotonic);

/** The life key of a trailer's sender life and generation (the caller knows the
 *  master and the direction). Called only when the life or generation is new to rx. */
typedef void (*auth_derive_fn)(void *ctx, const struct auth_trailer *t,
			       uint8_t key[AUTH_KEY_BYTES]);

/**
 * Checks a parsed datagram against rx: its life (a new one needs derive; an older one
 * is refused when rx->monotonic), its counter against the window, then its tag over
 * buf[0, msg_len) and the trailer. Only an authentic datagram changes rx (its life,
 * when new, and the window). derive NULL: no new life or generation is taken
 * (AUTH_E_SENDER).
 */
enum auth_err auth_open(struct auth_rx *rx, const struct auth_trailer *t, const uint8_t *buf,
			size_t msg_len, auth_derive_fn derive, void *ctx);

/** Checks a tag with a key expanded by the caller; changes nothing. */
enum auth_err auth_verify(const crypto_aead_aes256gcm_state *st, const struct auth_trailer *t,
			  const uint8_t *buf, size_t msg_len);

/* ---------------------------------------------------------------------------------- */
/* A client's side: what libpaxwire-client, pw-bench-dpdk and the attack tool share    */

#define AUTH_REPLICAS_MAX 9u

struct auth_client {
	uint32_t cluster_id;
	uint8_t n_replicas;
	uint8_t role;
	uint32_t id;
	uint64_t life;
	uint8_t n;                                  /**< generations held */
	uint8_t gen[AUTH_KEYS_MAX];
	uint8_t kc[AUTH_KEYS_MAX][AUTH_KEY_BYTES];  /**< K_c per generation */
	uint8_t send;                               /**< index sent with */
	struct auth_tx tx[AUTH_REPLICAS_MAX];       /**< requests to each replica */
	struct auth_rx rx[AUTH_REPLICAS_MAX];       /**< replies from each replica */
	/** The replica life tx[j]'s key is bound to (0: none known: its datagrams are
	 *  challenges), and whether to forget the one rx[j] holds (auth_client_forget). */
	uint64_t bound[AUTH_REPLICAS_MAX];
	bool forget[AUTH_REPLICAS_MAX];
	uint64_t drops[AUTH_E_MAX];                 /**< replies dropped, by reason */
};

/**
 * Sets a client up from its key file (kind client or admin), or from the cluster key
 * file itself (then it is admin key id 0: whoever holds the cluster key may do
 * anything). A new random life. @return 0, or -1 (bad keys or sizes).
 */
int auth_client_init(struct auth_client *ac, const struct auth_keys *k, uint32_t cluster_id,
		     uint8_t n_replicas);
/** The same with a life the caller chose (non-zero; never twice for one key: the
 *  simulator's deterministic runs). */
int auth_client_init_life(struct auth_client *ac, const struct auth_keys *k,
			  uint32_t cluster_id, uint8_t n_replicas, uint64_t life);

/** Seals a message of len bytes for replica (auth_seal), for the replica's life the
 *  client last heard (a challenge, AUTH_TF_CHALLENGE, while it knows none). */
size_t auth_client_seal(struct auth_client *ac, uint8_t replica, uint8_t *buf, size_t len,
			size_t cap);

/** Opens a datagram that came from replica: AUTH_OK with *msg_len, else counted in
 *  ac->drops and returned. It learns the replica's life (the next seal is bound to it). */
enum auth_err auth_client_open(struct auth_client *ac, uint8_t replica, const uint8_t *buf,
			       size_t len, size_t *msg_len);

/** The replica did not answer: it may have restarted (a new life, which takes no datagram
 *  bound to the old one). The next datagrams to it are challenges until one it answers
 *  names its life. */
void auth_client_forget(struct auth_client *ac, uint8_t replica);

/** Whether the next datagram to replica is bound to its life (not a challenge). */
bool auth_client_bound(const struct auth_client *ac, uint8_t replica);

#endif /* AUTH_H */
