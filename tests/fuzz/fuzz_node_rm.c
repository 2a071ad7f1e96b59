/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer harness for the remote-memory log transport in node/ (node/node_rm.c,
 * docs/rdma.md) with authentication on: what a replica does with RM setup messages that
 * pass the trailer check but are not what their sender would send, and with records in
 * its log region that are not its leader's. Seed corpus: tests/fuzz/corpus/fuzz_node_rm/.
 *
 * A 3-replica harness cluster on the shared-memory backend (tests/harness, pxh_opts.rm)
 * elects a leader and registers a few clients, so that both followers have granted it
 * and records carry the log; the RM messages of that setup (HELLOs, GRANTs) are kept.
 * Then the input is a sequence of ops (kind, a, n, then the op's bytes):
 *   kind % 5 == 0  a tick of every replica, then everything delivered and polled
 *   kind % 5 == 1  a kept RM message (a picks it), n edits (offset, xor) applied to its
 *                  bytes, sealed by its sender's node (its own key, life and next
 *                  counter), fed to its receiver: authentic garbage from a peer
 *   kind % 5 == 2  a record forged into replica a % 3's log region at the next seq (a's
 *                  top bit: noise or an authentic record replayed; 8 bytes of noise
 *                  seed), then that replica polls its transport
 *   kind % 5 == 3  replica a % 3 killed and restarted (its context closed: every
 *                  writer's access revoked), then everything delivered
 *   kind % 5 == 4  1 + a % 4 clients registered at the leader (more records)
 * Whatever the input:
 *   - nothing crashes, trips an assertion, or leaks (ASan/UBSan);
 *   - the core's invariants hold on every replica after every call (pxh's check);
 *   - a forged record is never taken: the poll after it counts it as a record drop,
 *     takes no record and steps nothing.
 * A violation aborts. FUZZ_NODE_RM_TRACE=1 prints each run's transport counters.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "node_rm.h"   /* node_pvt_seal: to seal as a replica itself would */
#include "px.h"
#include "px_codec.h"
#include "pxh.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OPS_MAX 32u
/* The latest RM message of each kind: sender, receiver, HELLO or GRANT. */
#define KEPT_MAX (3u * 3u * 2u)

struct kept {
	bool set;
	uint8_t b[PX_DGRAM_BYTES_MAX];
	uint32_t len;   /* the message's bytes, without the trailer */
	uint8_t from, to;
};

static struct kept kept[KEPT_MAX];
static uint32_t n_kept;

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_node_rm: %s\n", what);
		abort();
	}
}

/* Delivers everything, keeping the latest RM message of each kind (the ones whose
 * receivers took them: earlier HELLOs may have met a follower not yet bound to the
 * cluster uuid). */
static void deliver_keeping(struct pxh_cluster *c)
{
	for (uint32_t k = 0; k < 100000u; k++) {
		const struct pxh_msg *q = pxh_queued(c) > 0 ? pxh_peek(c, 0) : NULL;
		if (q != NULL && q->len > PX_TRAILER_BYTES &&
		    q->len - PX_TRAILER_BYTES > PX_WIRE_OFF_FLAGS &&
		    q->bytes[PX_WIRE_OFF_TYPE] == PX_MSG_RM && q->from < 3 && q->to < 3) {
			bool grant = (q->bytes[PX_WIRE_OFF_FLAGS] & PX_MF_RM_GRANT) != 0;
			struct kept *kp = &kept[(q->from * 3u + q->to) * 2u + grant];
			n_kept += !kp->set;
			kp->set = true;
			kp->len = q->len - PX_TRAILER_BYTES;
			memcpy(kp->b, q->bytes, kp->len);
			kp->from = q->from;
			kp->to = q->to;
		}
		if (!pxh_deliver_one(c))
			break;
	}
}

static struct pxh_cluster *setup(void)
{
	struct pxh_opts o;
	pxh_opts_default(&o, 3);
	o.seed = 7;
	o.auth = true;
	o.uuid = true;
	o.rm = true;
	o.rm_ring = 16;
	o.check_invariants = true;
	struct pxh_cluster *c = pxh_new(&o);
	check(c != NULL, "pxh_new");
	uint8_t l = pxh_elect(c, 2000);
	check(l != PX_NODE_NONE, "no leader");
	check(pxh_register_range(c, l, 11, 4) == 4, "registrations");
	n_kept = 0;
	memset(kept, 0, sizeof(kept));
	for (int t = 0; t < 40; t++) {
		pxh_tick(c, PX_NODE_NONE);
		deliver_keeping(c);
	}
	check(pxh_register_range(c, l, 21, 4) == 4, "registrations");
	for (uint8_t i = 0; i < 3; i++)
		if (i != l)
			check(node_rm_counters(pxh_node(c, i))->records > 0, "no records taken");
	check(n_kept >= 2, "no RM setup seen");
	return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[PX_DGRAM_BYTES_MAX];
	static bool unavailable;

	if (unavailable || !auth_available()) {
		if (!unavailable)
			fprintf(stderr, "fuzz_node_rm: no AES-NI: nothing tested\n");
		unavailable = true;
		return 0;
	}
	struct pxh_cluster *c = setup();

	size_t p = 0;
	for (unsigned op = 0; op < OPS_MAX && p + 3 <= size; op++) {
		uint8_t kind = data[p], a = data[p + 1], n = data[p + 2];
		p += 3;
		uint8_t to = (uint8_t)(a % 3u);
		switch (kind % 5u) {
		case 0:
			pxh_tick(c, PX_NODE_NONE);
			pxh_deliver_all(c, 100000);
			break;
		case 1: {
			const struct kept *kp = &kept[a % KEPT_MAX];
			for (unsigned k = 0; !kp->set && k < KEPT_MAX; k++)
				kp = &kept[(a + k) % KEPT_MAX];
			if (!pxh_is_up(c, kp->to))
				break;
			uint32_t len = kp->len;
			memcpy(buf, kp->b, len);
			for (unsigned e = 0; e < n % 16u && p + 2 <= size; e++, p += 2)
				buf[data[p] % len] ^= data[p + 1];
			buf[PX_WIRE_OFF_FROM] = kp->from;   /* the trailer names it too */
			if (!pxh_is_up(c, kp->from))
				break;
			/* Sealed by the sender's own node, its next counter of its life: the
			 * receiver takes the sender's later datagrams as before. */
			uint32_t sl = node_pvt_seal(pxh_node(c, kp->from), kp->to, buf, len,
						    sizeof(buf));
			struct node_addr src;
			memset(&src, 0, sizeof(src));
			src.b[0] = kp->from;
			node_recv(pxh_node(c, kp->to), buf, (uint32_t)sl, &src);
			node_flush(pxh_node(c, kp->to));
			pxh_deliver_all(c, 100000);
			break;
		}
		case 2: {
			uint64_t rnd = 0;
			for (unsigned k = 0; k < 8 && p < size; k++, p++)
				rnd = rnd << 8 | data[p];
			if (!pxh_is_up(c, to))
				break;
			struct node *nd = pxh_node(c, to);
			const struct node_rm_counters *rc = node_rm_counters(nd);
			uint64_t d0 = rc->record_drops, r0 = rc->records;
			uint64_t s0 = node_counters(nd)->steps;
			if (!node_rm_forge(nd, a >> 7, rnd))
				break;
			(void)node_rm_poll(nd);
			check(rc->record_drops == d0 + 1, "a forged record was not counted");
			check(rc->records == r0, "a forged record was taken");
			check(node_counters(nd)->steps == s0, "a forged record reached the core");
			pxh_deliver_all(c, 100000);
			break;
		}
		case 3:
			pxh_restart(c, to);
			pxh_deliver_all(c, 100000);
			break;
		default: {
			/* More of the log: 1 to 4 registrations at the leader, if there is one. */
			uint8_t l = pxh_leader(c);
			if (l != PX_NODE_NONE)
				(void)pxh_register_range(c, l, 1000u + op * 4u, 1u + a % 4u);
			break;
		}
		}
	}
	if (getenv("FUZZ_NODE_RM_TRACE") != NULL) {
		fprintf(stderr, "fuzz_node_rm: %u RM messages kept\n", n_kept);
		for (uint8_t i = 0; i < 3; i++) {
			const struct node_rm_counters *rc = node_rm_counters(pxh_node(c, i));
			fprintf(stderr, "  replica %u: writes %llu records %llu grants %llu "
				"setup_drops %llu record_drops %llu revokes %llu\n", i,
				(unsigned long long)rc->writes, (unsigned long long)rc->records,
				(unsigned long long)rc->grants, (unsigned long long)rc->setup_drops,
				(unsigned long long)rc->record_drops, (unsigned long long)rc->revokes);
		}
	}
	pxh_free(c);
	return 0;
}
