/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer harness for authenticated datagrams (auth/auth.h): the trailer parser, the
 * tag check and the replay window, as a replica's receiving side runs them for one
 * peer (auth_parse, then auth_open with a monotonic auth_rx). Seed corpus:
 * tests/fuzz/corpus/fuzz_auth/.
 *
 * The input is a sequence of ops for one sender and one receiver. The sender seals
 * messages with the real key (two master key generations, a counter it may skip ahead,
 * lives it may renew or go back to); the receiver is given sealed datagrams in any
 * order, any number of times, mutated, or made up entirely from input bytes. The
 * harness keeps its own record of everything sealed and accepted, and checks after
 * every datagram, whatever the input:
 *   - no forgery: auth_open accepts only bytes the sender sealed, byte for byte (a
 *     mutated or made-up datagram never passes, nor one sealed under a key the
 *     receiver does not derive);
 *   - no replay: a (life, counter) is accepted at most once, and never from a life
 *     older than one accepted (the receiver is monotonic: a replica's lives only grow);
 *   - no loss of fresh authentic datagrams: a sealed datagram of the receiver's life
 *     whose counter was not accepted yet and lies within the window (less than
 *     AUTH_WINDOW_BITS - 64 below the highest accepted: auth.c keeps one word of the
 *     ring for the top) is accepted, and so is one of a newer life;
 *   - the window stays consistent: its top is the highest counter accepted in the
 *     current life, and every counter accepted in it is refused if it comes again
 *     (auth_window_check says REPLAY or STALE);
 *   - a datagram that is refused changes nothing in the receiver.
 *
 * Needs AES-NI (libsodium's AES-256-GCM): without it the harness says so once and
 * tests nothing. FUZZ_AUTH_TRACE=1 prints what the receiver made of each datagram.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "fuzz_input.h"

#define FUZZ_CLUSTER 0xc1a55e01u
#define FROM 1u
#define TO 2u
#define MSG_MIN 56u          /* auth_parse: a message header at least */
#define MSG_MAX 256u
#define SEALED_MAX 64u       /* datagrams the sender sealed, kept for delivery */
#define ACCEPTED_MAX 1024u   /* accepted (life, counter) pairs the harness records */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct dgram {
	size_t len;
	uint64_t life, ctr;
	uint8_t gen;
	uint8_t bytes[MSG_MAX + AUTH_TRAILER_BYTES];
};

static struct {
	uint8_t master[3][AUTH_KEY_BYTES];   /* [gen]: 1 and 2 held, 0 unused */
	uint8_t stranger[AUTH_KEY_BYTES];    /* a key the receiver does not hold */
	struct auth_tx tx;
	uint64_t tx_life;
	uint8_t tx_gen;
	bool tx_stranger;
	struct auth_rx rx;
	struct dgram sealed[SEALED_MAX];
	uint32_t n_sealed;
	struct { uint64_t life, ctr; } accepted[ACCEPTED_MAX];
	uint32_t n_accepted;
	bool accepted_overflow;
	uint64_t rx_life;     /* the harness's view: the life the receiver follows */
	uint64_t rx_top;      /* the highest counter accepted in it */
	bool trace;
} s;

static uint8_t scratch[MSG_MAX + AUTH_TRAILER_BYTES + 256];

__attribute__((noreturn)) static void fail(const char *what)
{
	fprintf(stderr, "fuzz_auth: %s\n", what);
	abort();
}

/** The receiver's derivation: peer FROM -> TO, the trailer's life and generation. */
static void derive(void *ctx, const struct auth_trailer *t, uint8_t key[AUTH_KEY_BYTES])
{
	(void)ctx;
	if (t->gen != 1 && t->gen != 2)
		fail("auth_open derived a key for a generation the caller refused");
	auth_peer_life_key(s.master[t->gen], FUZZ_CLUSTER, FROM, TO, t->life, key);
}

/** The sender (re)starts with life, generation gen (or a key the receiver lacks).
 *  Its counter goes on across lives: a (life, counter) pair is never sealed twice, as
 *  with a real sender (a life key is used by one sender only, its nonces never repeat),
 *  even when the harness goes back to an older life. */
static void tx_start(uint64_t life, uint8_t gen, bool stranger)
{
	uint8_t key[AUTH_KEY_BYTES];
	uint64_t ctr = s.tx.ctr;

	auth_peer_life_key(stranger ? s.stranger : s.master[gen], FUZZ_CLUSTER, FROM, TO, life,
			   key);
	auth_tx_init(&s.tx, key, FROM, gen, AUTH_ROLE_PEER, life);
	s.tx.ctr = ctr;
	s.tx_life = life;
	s.tx_gen = gen;
	s.tx_stranger = stranger;
}

static bool was_accepted(uint64_t life, uint64_t ctr)
{
	for (uint32_t i = 0; i < s.n_accepted; i++)
		if (s.accepted[i].life == life && s.accepted[i].ctr == ctr)
			return true;
	return false;
}

/** The sealed datagram with exactly these bytes, or NULL. */
static const struct dgram *find_sealed(const uint8_t *bytes, size_t len)
{
	for (uint32_t i = 0; i < s.n_sealed; i++)
		if (s.sealed[i].len == len && memcmp(s.sealed[i].bytes, bytes, len) == 0)
			return &s.sealed[i];
	return NULL;
}

/** Checks the window against the harness's record of the current life. */
static void check_window(void)
{
	if (s.rx.life != s.rx_life)
		fail("the receiver follows another life than the one accepted last");
	if (s.rx_life == 0)
		return;
	if (s.rx.w.top != s.rx_top)
		fail("the window's top is not the highest counter accepted");
	for (uint32_t i = 0; i < s.n_accepted; i++) {
		if (s.accepted[i].life == s.rx_life &&
		    auth_window_check(&s.rx.w, s.accepted[i].ctr) == AUTH_OK)
			fail("the window would accept a counter it accepted before");
	}
}

/** The receiver gets these bytes: parse, generation check (the caller's), open. */
static void receive(const uint8_t *bytes, size_t len)
{
	static struct auth_rx before;
	const struct dgram *d = find_sealed(bytes, len);
	struct auth_trailer t;
	size_t msg_len = 0;
	enum auth_err e;

	before = s.rx;
	e = auth_parse(bytes, len, &t, &msg_len);
	if (e == AUTH_OK) {
		if (msg_len + AUTH_TRAILER_BYTES != len)
			fail("auth_parse split the datagram wrongly");
		if (t.gen != 1 && t.gen != 2)
			e = AUTH_E_GEN;   /* what node/ does before auth_open */
		else
			e = auth_open(&s.rx, &t, bytes, msg_len, derive, NULL);
	}
	if (s.trace)
		fprintf(stderr, "  %zu bytes%s: %s (life %llu ctr %llu)\n", len,
			d == NULL ? " (not sealed)" : d->gen == 0 ? " (stranger's key)" : "",
			auth_err_name(e), d != NULL ? (unsigned long long)d->life : 0ull,
			d != NULL ? (unsigned long long)d->ctr : 0ull);
	if (e != AUTH_OK) {
		if (memcmp(&before, &s.rx, sizeof(before)) != 0)
			fail("a refused datagram changed the receiver");
		/* Authentic and fresh, yet refused? */
		if (d != NULL && d->gen != 0 && !was_accepted(d->life, d->ctr)) {
			bool newer = d->life > s.rx_life;
			bool in_window = d->life == s.rx_life &&
					 (d->ctr > s.rx_top ||
					  s.rx_top - d->ctr < AUTH_WINDOW_BITS - 64u);
			if ((newer || in_window) && !s.accepted_overflow)
				fail("a fresh authentic datagram was refused");
		}
		check_window();
		return;
	}
	if (d == NULL || d->gen == 0)
		fail("a datagram the sender did not seal with a held key was accepted");
	if (d->life < s.rx_life)
		fail("a datagram of an older life was accepted");
	if (was_accepted(d->life, d->ctr))
		fail("a counter was accepted twice");
	if (s.n_accepted < ACCEPTED_MAX) {
		s.accepted[s.n_accepted].life = d->life;
		s.accepted[s.n_accepted].ctr = d->ctr;
		s.n_accepted++;
	} else {
		s.accepted_overflow = true;
	}
	if (d->life > s.rx_life) {
		s.rx_life = d->life;
		s.rx_top = 0;
	}
	if (d->ctr > s.rx_top)
		s.rx_top = d->ctr;
	check_window();
}

static void seal(struct input *in)
{
	struct dgram *d;
	size_t len = MSG_MIN + in_u8(in) % (MSG_MAX - MSG_MIN + 1);

	if (s.n_sealed == SEALED_MAX)
		return;
	d = &s.sealed[s.n_sealed];
	for (size_t i = 0; i < len; i++)
		d->bytes[i] = in_u8(in);
	d->len = auth_seal(&s.tx, d->bytes, len, sizeof(d->bytes));
	if (d->len != len + AUTH_TRAILER_BYTES)
		fail("auth_seal did not append a trailer");
	d->life = s.tx_life;
	d->ctr = s.tx.ctr;
	d->gen = s.tx_stranger ? 0 : s.tx_gen;   /* 0: not a key the receiver holds */
	s.n_sealed++;
}

enum op {
	OP_SEAL = 0,      /* seal a message (length, bytes) */
	OP_DELIVER = 1,   /* deliver sealed datagram k (again, maybe) */
	OP_SKIP = 2,      /* the sender's counter jumps ahead (u16) */
	OP_LIFE = 3,      /* the sender restarts: a newer life (or an older one: arg odd) */
	OP_ROTATE = 4,    /* the sender sends with the other generation, same life */
	OP_STRANGER = 5,  /* the sender uses a key the receiver does not hold (toggle) */
	OP_MUTATE = 6,    /* deliver sealed datagram k with one byte changed */
	OP_FORGE = 7,     /* deliver input bytes as a datagram */
	OP_MAX = 8,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready = -1;
	struct input in = { data, size };

	if (ready < 0) {
		ready = auth_init() == 0 && auth_available();
		if (!ready)
			fprintf(stderr, "fuzz_auth: no AES-256-GCM on this CPU: nothing tested\n");
		/* Fixed keys: an input must replay the same way in any process. */
		for (int g = 1; g <= 2; g++)
			memset(s.master[g], 0x11 * g, AUTH_KEY_BYTES);
		memset(s.stranger, 0x77, AUTH_KEY_BYTES);
	}
	if (!ready)
		return 0;
	s.trace = getenv("FUZZ_AUTH_TRACE") != NULL;
	s.n_sealed = 0;
	s.n_accepted = 0;
	s.accepted_overflow = false;
	s.rx_life = 0;
	s.rx_top = 0;
	s.tx_life = 0;
	memset(&s.tx, 0, sizeof(s.tx));
	auth_rx_init(&s.rx, true);
	tx_start(1000 + in_u8(&in), 1, false);

	while (in.left > 0) {
		uint8_t b = in_u8(&in), op = b % OP_MAX, arg = b / OP_MAX;

		switch (op) {
		case OP_SEAL:
			seal(&in);
			break;
		case OP_DELIVER:
			if (s.n_sealed > 0) {
				const struct dgram *d = &s.sealed[arg % s.n_sealed];
				memcpy(scratch, d->bytes, d->len);
				receive(scratch, d->len);
			}
			break;
		case OP_SKIP:
			s.tx.ctr += in_u16(&in);
			break;
		case OP_LIFE:
			if (arg & 1)
				tx_start(s.tx_life > 1u + arg ? s.tx_life - 1u - arg : 1, s.tx_gen,
					 s.tx_stranger);
			else
				tx_start(s.tx_life + 1 + arg, s.tx_gen, s.tx_stranger);
			break;
		case OP_ROTATE:
			tx_start(s.tx_life, (uint8_t)(3 - s.tx_gen), s.tx_stranger);
			break;
		case OP_STRANGER:
			tx_start(s.tx_life, s.tx_gen, !s.tx_stranger);
			break;
		case OP_MUTATE:
			if (s.n_sealed > 0) {
				const struct dgram *d = &s.sealed[arg % s.n_sealed];
				uint32_t pos = in_u16(&in);
				uint8_t x = in_u8(&in);

				if (x == 0)
					break;
				memcpy(scratch, d->bytes, d->len);
				scratch[pos % d->len] ^= x;
				receive(scratch, d->len);
			}
			break;
		case OP_FORGE: {
			size_t len = in_u16(&in) % sizeof(scratch);

			if (len > in.left)
				len = in.left;
			memcpy(scratch, in.p, len);
			in.p += len;
			in.left -= len;
			receive(scratch, len);
			break;
		}
		}
	}
	return 0;
}
