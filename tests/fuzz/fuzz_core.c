/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer harness for the consensus core (consensus/px.h): the input is a schedule
 * for a small in-process cluster of real replicas, and datagrams forged into it.
 * Seed corpus: tests/fuzz/corpus/fuzz_core/.
 *
 * The world is this file's, not tests/harness (pxh): pxh aborts on a message that does
 * not decode and allocates per cluster, and a fuzzer wants neither. The replicas talk
 * through one bounded queue of encoded datagrams (px_encode at the sender, px_decode
 * at the receiver, as on a wire). The input decides, op by op, what happens next:
 * deliver, drop or duplicate a queued datagram, isolate or heal a replica (a
 * partition: what it sends and what is sent to it is lost), tick a replica, run a round (tick all,
 * deliver all), propose commands, confirm persist requests, begin a read, transfer
 * leadership, crash and restart a replica (memory mode, within the fault model: at
 * most f recovering), install a state transfer, mutate a queued datagram (a byte, or
 * a field rewritten to any value px_encode takes), or forge one from input bytes. A forged datagram's header gets this cluster's magic, version,
 * id, lengths, crash-vector size and a member as sender, so that most decode and the
 * fuzzer spends its time on what the core reads.
 *
 * Input: byte 0 the configuration (cluster size 1, 3 or 5; durability; window;
 * pipeline), byte 1 the seed, then ops (fuzz_core.c: enum op). Set FUZZ_CORE_TRACE=1
 * to print the ops of a run to stderr (for reading a crash's reproducer).
 *
 * Properties checked after every call into a replica, whatever the input:
 *   - no assertion in consensus/ fires (the build has -Dinvariants=true, so the core
 *     also runs px_check_invariants after its steps and aborts on a violation), no
 *     ASan/UBSan report, and px_check_invariants() returns NULL here too;
 *   - the effects keep the embedder contract of px.h: every message encodes (px_encode
 *     asserts it is well formed) and decodes back; an apply range starts right after
 *     what was applied, every slot in it is readable with px_slot_value and is a valid
 *     batch; a confirmed read ticket is one handed out.
 * And while the schedule is honest (no forged or mutated datagram was delivered: the
 * network only lost, duplicated, reordered and delayed, and replicas crashed within the
 * fault model):
 *   - agreement: every replica applies the same value at each slot;
 *   - validity: every applied command is one the harness proposed, byte for byte.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "px.h"
#include "px_batch.h"
#include "px_codec.h"
#include "wire_le.h"
#include "fuzz_input.h"

#define FUZZ_CLUSTER 0xc1a55e01u
#define FUZZ_EPOCH 1u
#define NODES_MAX 5u
#define WINDOW_MAX 32u
/** Datagrams in flight at most; more are dropped at send, as a full link would. */
#define QUEUE_MAX 256u
/** Messages one "run" op delivers at most (a round of ticks and deliveries). */
#define RUN_DELIVERIES_MAX 1024u
/** Slots and proposals the honest-run checks track; beyond, they are not checked. */
#define TRACK_SLOTS 4096u
#define TRACK_CMDS 4096u
/** Commands one propose op sends at most, and bytes of each body. */
#define PROPOSE_MAX 4u
#define BODY_MAX 64u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct qmsg {
	uint8_t to;
	uint32_t len;
	uint8_t *bytes;   /* one of pool[] */
};

struct node {
	struct px_config cfg;
	struct px_replica *r;
	uint8_t *arena;           /* arena_len bytes, allocated once per process */
	uint64_t applied;         /* what this harness applied (px_applied), this life */
	uint64_t persist_pending; /* durable: the newest persist request, 0 none */
	uint64_t last_ticket;     /* newest read ticket handed out, this life */
	uint32_t boots;
	bool isolated;            /* every datagram from or to it is lost at send */
};

/** Bytes of each node's arena: enough for the largest configuration drawn. */
static size_t arena_len;

static struct world {
	uint8_t n;
	enum px_durability dur;
	uint32_t window, pipeline;
	uint64_t seed;
	struct node nodes[NODES_MAX];
	struct qmsg q[QUEUE_MAX];
	uint32_t q_len;
	uint8_t *free_bufs[QUEUE_MAX];
	uint32_t n_free;
	bool honest;
	/* Honest-run checks: the hash of the value first applied at each slot (0: none
	 * yet), and of each proposed command's body, by client id - 1. */
	uint64_t slot_hash[TRACK_SLOTS];
	uint64_t cmd_hash[TRACK_CMDS];
	uint32_t n_cmds;
	bool trace;
} w;

static uint8_t pool[QUEUE_MAX][PX_MSG_BYTES_MAX];
static uint8_t scratch[PX_MSG_BYTES_MAX];
static struct px_out out;
static struct px_msg msg;

/* ---- Input ---------------------------------------------------------------------- */


/* ---- Checks --------------------------------------------------------------------- */

__attribute__((noreturn)) static void fail(const char *what, uint8_t node)
{
	fprintf(stderr, "fuzz_core: node %u: %s\n", node, what);
	abort();
}

static uint64_t hash_bytes(const uint8_t *p, uint32_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;   /* FNV-1a */

	for (uint32_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h | 1;   /* never 0: 0 marks "none" */
}

/** Validity of one applied value while the run is honest: a no-op, or commands the
 *  harness proposed, byte for byte. */
static void check_valid(uint8_t i, const uint8_t *v, uint32_t len)
{
	struct px_cmd_ref c;
	uint32_t off = 0;

	while (px_batch_next(v, len, &off, &c)) {
		if (c.client_id == 0 || c.client_id > w.n_cmds) {
			if (c.client_id <= TRACK_CMDS)
				fail("validity: a command nobody proposed was applied", i);
			continue;
		}
		if (c.seq != 1 || hash_bytes(c.body, c.len) != w.cmd_hash[c.client_id - 1])
			fail("validity: an applied command differs from the one proposed", i);
	}
}

/* ---- Effects -------------------------------------------------------------------- */

static void enqueue(uint8_t to, const uint8_t *bytes, uint32_t len)
{
	struct qmsg *m;

	if (w.q_len == QUEUE_MAX || w.n_free == 0 || w.nodes[to].isolated)
		return;   /* a full link, or a partition, drops */
	m = &w.q[w.q_len++];
	m->to = to;
	m->len = len;
	m->bytes = w.free_bufs[--w.n_free];
	memcpy(m->bytes, bytes, len);
}

/** Sends one message of node i's effects: encoded once, to its peer or every peer. */
static void send_msg(uint8_t i, const struct px_msg *m)
{
	size_t len;

	if (m->to != PX_NODE_NONE && (m->to >= w.n || m->to == i))
		fail("the core sent a message to no peer", i);
	if (m->from != i)
		fail("the core sent a message in another node's name", i);
	len = px_encode(m, scratch, sizeof(scratch));
	if (len == 0)
		fail("a message of the core does not encode", i);
	/* The contract px_codec.h states: whatever px_encode wrote decodes. */
	if (px_decode(scratch, len, FUZZ_CLUSTER, w.n, &msg) != PX_WIRE_OK)
		fail("a message of the core does not decode", i);
	for (uint8_t j = 0; j < w.n; j++) {
		if (j != i && !w.nodes[i].isolated && (m->to == PX_NODE_NONE || m->to == j))
			enqueue(j, scratch, (uint32_t)len);
	}
}

/** Handles node i's effects after a call into it, and checks its invariants. */
static void after_call(uint8_t i)
{
	struct node *nd = &w.nodes[i];
	const char *why = px_check_invariants(nd->r);

	if (why != NULL)
		fail(why, i);
	/* out.msgs may point into the replica's log: sent (copied) before the apply below
	 * lets it reuse those slots. */
	for (uint32_t k = 0; k < out.n_msgs; k++)
		send_msg(i, &out.msgs[k]);
	if (out.persist_seq != 0) {
		if (nd->cfg.durability != PX_DURABLE)
			fail("a memory-mode replica asked for a persist", i);
		if (out.persist_seq < nd->persist_pending)
			fail("persist requests went backwards", i);
		nd->persist_pending = out.persist_seq;
	}
	if (out.read_confirmed > nd->last_ticket)
		fail("a read ticket was confirmed before it was handed out", i);
	if (out.apply_lo <= out.apply_hi) {
		if (out.apply_lo != nd->applied + 1)
			fail("the apply range does not start after the last slot applied", i);
		for (uint64_t s = out.apply_lo; s <= out.apply_hi; s++) {
			uint32_t len = 0;
			const uint8_t *v = px_slot_value(nd->r, s, &len);

			if (v == NULL)
				fail("a slot of the apply range is not readable", i);
			if (!px_batch_valid(v, len))
				fail("a slot to apply is not a valid batch", i);
			if (!w.honest || s >= TRACK_SLOTS)
				continue;
			uint64_t h = hash_bytes(v, len);
			if (w.slot_hash[s] == 0)
				w.slot_hash[s] = h;
			else if (w.slot_hash[s] != h)
				fail("agreement: two values applied at one slot", i);
			check_valid(i, v, len);
		}
		nd->applied = out.apply_hi;
		px_applied(nd->r, out.apply_hi);
		why = px_check_invariants(nd->r);
		if (why != NULL)
			fail(why, i);
	}
	px_out_reset(&out);
}

/* ---- The cluster ---------------------------------------------------------------- */

static void boot(uint8_t i, bool restarted)
{
	struct node *nd = &w.nodes[i];
	struct px_config *cfg = &nd->cfg;

	px_config_default(cfg, w.n, i);
	cfg->cluster_id = FUZZ_CLUSTER;
	cfg->config_epoch = FUZZ_EPOCH;
	cfg->durability = w.dur;
	cfg->window_slots = w.window;
	cfg->pipeline_slots = w.pipeline;
	cfg->slot_bytes = PX_BATCH_HDR_BYTES + PX_CMD_HDR_BYTES + PX_CMD_BYTES_MAX;
	cfg->batch_cmds_max = PROPOSE_MAX;
	cfg->heartbeat_ticks = 1;
	cfg->election_ticks = 3;
	cfg->seed = w.seed * 1000003u + i;
	cfg->restarted = restarted;
	cfg->boot_nonce = (w.seed << 20) ^ ((uint64_t)i << 8) ^ ++nd->boots;
	if (px_replica_arena_bytes(cfg) > arena_len)
		fail("the arena is too small for the configuration", i);
	/* Zeroed per input: a replica's behaviour must not depend on a previous input. */
	memset(nd->arena, 0, px_replica_arena_bytes(cfg));
	nd->r = px_replica_init(cfg, nd->arena, arena_len);
	if (nd->r == NULL)
		fail("px_replica_init refused the configuration", i);
	nd->applied = 0;
	nd->persist_pending = 0;
	nd->last_ticket = 0;
}

static void world_init(uint8_t conf, uint8_t seed)
{
	static const uint8_t sizes[4] = { 3, 3, 5, 1 };

	if (arena_len == 0) {
		/* Once per process (the fuzzer's steady state allocates nothing): the
		 * largest window drawn below, the largest cluster. */
		struct px_config big;

		px_config_default(&big, NODES_MAX, 0);
		big.window_slots = WINDOW_MAX;
		big.slot_bytes = PX_BATCH_HDR_BYTES + PX_CMD_HDR_BYTES + PX_CMD_BYTES_MAX;
		arena_len = px_replica_arena_bytes(&big);
		for (uint8_t i = 0; i < NODES_MAX; i++) {
			w.nodes[i].arena = malloc(arena_len);
			if (w.nodes[i].arena == NULL)
				fail("out of memory", i);
		}
	}

	w.n = sizes[conf & 3];
	w.dur = (conf & 4) ? PX_DURABLE : PX_MEMORY;
	w.window = (conf & 8) ? WINDOW_MAX : PX_WINDOW_MIN;
	w.pipeline = 1 + ((conf >> 4) & 7);
	if (w.pipeline > w.window / 2)
		w.pipeline = w.window / 2;
	w.seed = seed;
	w.q_len = 0;
	w.n_free = 0;
	for (uint32_t k = 0; k < QUEUE_MAX; k++)
		w.free_bufs[w.n_free++] = pool[k];
	w.honest = true;
	memset(w.slot_hash, 0, sizeof(w.slot_hash));
	w.n_cmds = 0;
	w.trace = getenv("FUZZ_CORE_TRACE") != NULL;
	px_out_reset(&out);
	for (uint8_t i = 0; i < w.n; i++) {
		w.nodes[i].boots = 0;
		w.nodes[i].isolated = false;
		boot(i, false);
	}
}

/** Removes queued message k, keeping the others' order; returns its buffer's owner. */
static struct qmsg q_take(uint32_t k)
{
	struct qmsg m = w.q[k];

	memmove(&w.q[k], &w.q[k + 1], (w.q_len - k - 1) * sizeof(w.q[0]));
	w.q_len--;
	return m;
}

static void q_release(struct qmsg *m)
{
	w.free_bufs[w.n_free++] = m->bytes;
	m->bytes = NULL;
}

/** Decodes a datagram for node `to` and steps it in. false if it does not decode.
 *  A forged one ends the honest part of the run before the replica sees it. */
static bool step_bytes(uint8_t to, const uint8_t *bytes, uint32_t len, bool forged)
{
	if (px_decode(bytes, len, FUZZ_CLUSTER, w.n, &msg) != PX_WIRE_OK)
		return false;
	if (forged)
		w.honest = false;
	if (w.trace)
		fprintf(stderr, "  -> %u: %s from %u ballot %llx\n", to,
			px_msg_type_name(msg.type), msg.from, (unsigned long long)msg.ballot);
	px_step(w.nodes[to].r, &msg, &out);
	after_call(to);
	return true;
}

static void deliver(uint32_t k)
{
	struct qmsg m;

	if (w.q_len == 0)
		return;
	m = q_take(k % w.q_len);
	/* Every queued datagram was encoded by a replica: it decodes (send_msg checked). */
	if (!step_bytes(m.to, m.bytes, m.len, false))
		fail("a queued message no longer decodes", m.to);
	q_release(&m);
}

static void tick(uint8_t i)
{
	px_tick(w.nodes[i].r, &out);
	after_call(i);
}

static void persist(uint8_t i)
{
	struct node *nd = &w.nodes[i];
	uint64_t seq = nd->persist_pending;

	if (seq == 0)
		return;
	nd->persist_pending = 0;
	px_persisted(nd->r, seq, &out);
	after_call(i);
}

/** One round: every replica's persist requests confirmed and a tick; then every
 *  queued datagram delivered, and those they cause, up to a bound. */
static void run_round(void)
{
	for (uint8_t i = 0; i < w.n; i++) {
		persist(i);
		tick(i);
	}
	for (uint32_t k = 0; k < RUN_DELIVERIES_MAX && w.q_len > 0; k++) {
		deliver(0);
		if (w.dur == PX_DURABLE)
			for (uint8_t i = 0; i < w.n; i++)
				persist(i);
	}
}

static void propose(uint8_t i, struct input *in)
{
	static uint8_t bodies[PROPOSE_MAX][BODY_MAX];
	struct px_cmd_ref cmds[PROPOSE_MAX];
	uint8_t b = in_u8(in);
	uint32_t n = 1 + (b & 3), taken;

	for (uint32_t k = 0; k < n; k++) {
		uint32_t len = in_u8(in) % BODY_MAX;

		for (uint32_t j = 0; j < len; j++)
			bodies[k][j] = in_u8(in);
		/* Client id: a running number, so each command is told apart (validity). */
		cmds[k] = (struct px_cmd_ref){ .client_id = w.n_cmds + k + 1, .seq = 1,
					       .len = len, .body = bodies[k] };
	}
	taken = px_propose(w.nodes[i].r, cmds, n, &out);
	if (taken > n)
		fail("px_propose took more commands than it was given", i);
	for (uint32_t k = 0; k < taken; k++) {
		if (w.n_cmds < TRACK_CMDS)
			w.cmd_hash[w.n_cmds] = hash_bytes(cmds[k].body, cmds[k].len);
		w.n_cmds++;
	}
	after_call(i);
}

static void read_begin(uint8_t i)
{
	struct node *nd = &w.nodes[i];
	uint64_t idx = 0, t = px_read_begin(nd->r, &out, &idx);

	if (t != 0) {
		if (t <= nd->last_ticket)
			fail("read tickets must increase", i);
		if (idx > px_commit(nd->r))
			fail("a read index beyond the commit point", i);
		nd->last_ticket = t;
	}
	after_call(i);
}

static void transfer(uint8_t i, uint8_t target)
{
	int rc = px_transfer_leadership(w.nodes[i].r, target % w.n, &out);

	if (rc != 0 && rc != -EINVAL && rc != -EAGAIN)
		fail("px_transfer_leadership returned an undocumented code", i);
	after_call(i);
}

/** Memory mode: crash node i and restart it at once (it recovers from its peers),
 *  while at most f replicas are recovering: the fault model of docs/consistency.md. */
static void crash_restart(uint8_t i)
{
	uint32_t recovering = 0;

	if (w.dur != PX_MEMORY || w.n == 1)
		return;
	for (uint8_t j = 0; j < w.n; j++)
		recovering += j != i && px_role(w.nodes[j].r) == PX_RECOVERING;
	if (recovering + 1 > (uint32_t)(w.n - 1) / 2)
		return;
	boot(i, true);
	after_call(i);
}

/** State transfer: node i, if it needs one, installs the applied state of a replica
 *  that applied far enough (the highest such slot). */
static void install(uint8_t i)
{
	struct node *nd = &w.nodes[i];
	uint64_t need = px_state_transfer_need(nd->r), best = 0;

	if (need == 0)
		return;
	for (uint8_t j = 0; j < w.n; j++) {
		if (j != i && w.nodes[j].applied >= need && w.nodes[j].applied > best)
			best = w.nodes[j].applied;
	}
	if (best == 0)
		return;
	if (px_state_installed(nd->r, best, &out) == 0) {
		nd->applied = best;
		if (w.trace)
			fprintf(stderr, "  node %u installed a state transfer at %llu\n", i,
				(unsigned long long)best);
	}
	after_call(i);
}

/** A forged datagram: its header made to pass the gatekeeping checks. */
static void forge(uint8_t arg, struct input *in)
{
	uint32_t len = in_u16(in) % (PX_MSG_BYTES_MAX + 1), inc_bytes = 4u * w.n;
	uint8_t to;

	if (len > in->left)
		len = (uint32_t)in->left;
	memcpy(scratch, in->p, len);
	in->p += len;
	in->left -= len;
	if (len >= PX_WIRE_HDR_BYTES) {
		wire_st16(scratch + PX_WIRE_OFF_MAGIC, PX_WIRE_MAGIC);
		scratch[PX_WIRE_OFF_VERSION] = PX_WIRE_VERSION;
		scratch[PX_WIRE_OFF_FROM] = (uint8_t)(scratch[PX_WIRE_OFF_FROM] % w.n);
		scratch[PX_WIRE_OFF_N_INC] = w.n;
		wire_st32(scratch + PX_WIRE_OFF_CLUSTER, FUZZ_CLUSTER);
		wire_st32(scratch + PX_WIRE_OFF_TOTAL_LEN, len);
		if (len >= PX_WIRE_HDR_BYTES + inc_bytes)
			wire_st32(scratch + PX_WIRE_OFF_BODY_LEN,
				  len - PX_WIRE_HDR_BYTES - inc_bytes);
	}
	to = len > PX_WIRE_OFF_TO && scratch[PX_WIRE_OFF_TO] < w.n ? scratch[PX_WIRE_OFF_TO]
								     : (uint8_t)(arg % w.n);
	(void)step_bytes(to, scratch, len, true);
}

/** A queued datagram with one byte changed, delivered (the original stays queued). */
static void mutate(struct input *in)
{
	uint32_t k = in_u8(in), pos = in_u16(in);
	uint8_t x = in_u8(in);
	const struct qmsg *m;

	if (w.q_len == 0 || x == 0)
		return;
	m = &w.q[k % w.q_len];
	memcpy(scratch, m->bytes, m->len);
	scratch[pos % m->len] ^= x;
	(void)step_bytes(m->to, scratch, m->len, true);
}

/** A queued datagram decoded, one field rewritten to a value from the input, encoded
 *  again and delivered (the original stays queued): the believable forgeries a byte
 *  flip rarely makes (a ballot, a slot, a commit point, an entry's ballot), within what
 *  px_encode accepts (entries in slot order, flags the type allows). */
static void rewrite(struct input *in)
{
	static struct px_msg m2;
	static uint8_t copy[PX_MSG_BYTES_MAX];
	uint32_t k = in_u8(in), field = in_u8(in);
	uint64_t v = in_u64(in);
	const struct qmsg *q;
	size_t len;

	if (w.q_len == 0)
		return;
	q = &w.q[k % w.q_len];
	/* m2's values point into copy, which stays put while m2 is encoded. */
	memcpy(copy, q->bytes, q->len);
	if (px_decode(copy, q->len, FUZZ_CLUSTER, w.n, &m2) != PX_WIRE_OK)
		fail("a queued message no longer decodes", q->to);
	switch (field % 16) {
	case 0: m2.ballot = v; break;
	case 1: m2.slot_lo = v; break;
	case 2: m2.slot_hi = v; break;
	case 3: m2.commit = v; break;
	case 4:
		if (m2.type == PX_MSG_ACCEPT || m2.type == PX_MSG_ACCEPTED)
			m2.read_round = v;
		break;
	case 5: m2.nonce = v; break;
	case 6:
		if (m2.n_inc > 0)
			m2.incarnation[v % m2.n_inc] = (uint32_t)(v >> 8);
		break;
	case 7: m2.flags = (uint8_t)(v & px_wire_type_flags(m2.type)); break;
	case 8:
		if (m2.n_entries > 0)
			m2.entries[v % m2.n_entries].vballot = v >> 8;
		break;
	case 9:
		if (m2.n_entries > 0)
			m2.entries[v % m2.n_entries].flags ^= PX_EF_CHOSEN;
		break;
	case 10: {
		/* Every entry's slot moved by the same amount: the order stays. */
		uint64_t last = m2.n_entries > 0 ? m2.entries[m2.n_entries - 1].slot : 0;

		if (last + (v >> 1) < last)
			break;
		for (uint32_t e = 0; e < m2.n_entries; e++)
			m2.entries[e].slot += v >> 1;
		break;
	}
	case 11: m2.n_entries = m2.n_entries > 0 ? (uint32_t)(v % (m2.n_entries + 1)) : 0; break;
	case 12: m2.from = (uint8_t)(v % w.n); break;
	case 13: m2.to = (v & 1) ? PX_NODE_NONE : (uint8_t)((v >> 1) % w.n); break;
	case 14: m2.config_epoch = (uint32_t)v; break;
	case 15:
		/* Swap the type for one with the same body layout. */
		if (m2.type == PX_MSG_PREVOTE || m2.type == PX_MSG_PREPARE ||
		    m2.type == PX_MSG_STATE_NEEDED || m2.type == PX_MSG_PREVOTE_REPLY) {
			static const uint8_t same[4] = { PX_MSG_PREVOTE, PX_MSG_PREPARE,
							 PX_MSG_STATE_NEEDED, PX_MSG_PREVOTE_REPLY };
			m2.type = same[v % 4];
			m2.flags &= px_wire_type_flags(m2.type);
		} else if (m2.type == PX_MSG_NACK || m2.type == PX_MSG_TIMEOUT_NOW) {
			m2.type = (v & 1) ? PX_MSG_NACK : PX_MSG_TIMEOUT_NOW;
		}
		break;
	}
	len = px_encode(&m2, scratch, sizeof(scratch));
	if (len == 0)
		return;
	(void)step_bytes(q->to, scratch, (uint32_t)len, true);
}

enum op {
	OP_DELIVER = 0,      /* 0..3: deliver queued message arg (0: the oldest) */
	OP_ISOLATE = 4,      /* cut node arg off from everyone, or heal it */
	OP_DROP = 5,
	OP_DUPLICATE = 6,
	OP_TICK = 7,
	OP_RUN = 8,
	OP_PROPOSE = 9,
	OP_PERSIST = 10,
	OP_READ = 11,
	OP_TRANSFER = 12,
	OP_CRASH = 13,
	OP_INSTALL = 14,
	OP_FORGE = 15,       /* arg & 3: 0 forge, 1 mutate a queued datagram's byte,
	                        2 and 3 rewrite one of its fields */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };

	if (size < 2)
		return 0;
	world_init(in_u8(&in), in_u8(&in));
	while (in.left > 0) {
		uint8_t b = in_u8(&in), op = b & 15, arg = b >> 4, i = (uint8_t)(arg % w.n);

		if (w.trace)
			fprintf(stderr, "op %u arg %u (queued %u, honest %d)\n", op, arg, w.q_len,
				w.honest);
		switch (op) {
		case 0: case 1: case 2: case 3:
			deliver(arg);
			break;
		case OP_ISOLATE:
			w.nodes[i].isolated = !w.nodes[i].isolated;
			break;
		case OP_DROP:
			if (w.q_len > 0) {
				struct qmsg m = q_take(arg % w.q_len);
				q_release(&m);
			}
			break;
		case OP_DUPLICATE:
			if (w.q_len > 0) {
				const struct qmsg *m = &w.q[arg % w.q_len];
				enqueue(m->to, m->bytes, m->len);
			}
			break;
		case OP_TICK: tick(i); break;
		case OP_RUN: run_round(); break;
		case OP_PROPOSE: propose(i, &in); break;
		case OP_PERSIST: persist(i); break;
		case OP_READ: read_begin(i); break;
		case OP_TRANSFER: transfer(i, in_u8(&in)); break;
		case OP_CRASH: crash_restart(i); break;
		case OP_INSTALL: install(i); break;
		case OP_FORGE:
			if ((arg & 3) == 0)
				forge(arg >> 2, &in);
			else if ((arg & 3) == 1)
				mutate(&in);
			else
				rewrite(&in);
			break;
		}
	}
	if (w.trace) {
		for (uint8_t i = 0; i < w.n; i++)
			fprintf(stderr, "node %u: %s, commit %llu, applied %llu%s\n", i,
				px_role_name(px_role(w.nodes[i].r)),
				(unsigned long long)px_commit(w.nodes[i].r),
				(unsigned long long)w.nodes[i].applied,
				px_needs_state_transfer(w.nodes[i].r) ? ", needs state" : "");
		fprintf(stderr, "commands proposed %u, honest %d\n", w.n_cmds, w.honest);
	}
	return 0;
}
