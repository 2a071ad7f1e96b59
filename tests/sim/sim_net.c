/* SPDX-License-Identifier: Apache-2.0
 * The simulated network. Every message is a real encoded wire message (px_encode on
 * send, px_decode on delivery), so the codec runs on every hop.
 *
 * Faults, each under the seed's rates: loss at send, duplication at send (each copy
 * with its own delay), reordering through random delivery delays, bounded per-link
 * queues that drop on overflow, cut links (partitions) that drop at delivery, late
 * copies (stragglers, delivered many election timeouts later), and corruption: a
 * replica's message decoded, one field rewritten, encoded again, so that it still
 * decodes and reaches the replica (sim_corrupt in sim_pvt.h lists the rewrites).
 *
 * Memory is bounded and allocated once per process: a fixed pool of message records,
 * a min-heap on delivery time, and a byte arena carved into power-of-two size classes
 * with free lists, so nothing is allocated per message.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "sim_pvt.h"

/** The last stream this file draws from: corruption and stragglers. */
static struct sim_rng *hostile(struct sim *s);

static inline bool msg_before(const struct sim_msg *a, const struct sim_msg *b)
{
	if (a->deliver_at != b->deliver_at)
		return a->deliver_at < b->deliver_at;
	return a->order < b->order;
}

static void heap_push(struct sim_net *net, uint32_t idx)
{
	uint32_t i = net->n_heap++, parent;

	assert(net->n_heap <= SIM_MSGS_MAX);
	net->heap[i] = idx;
	while (i > 0) {
		parent = (i - 1) / 2;
		if (!msg_before(&net->msgs[net->heap[i]], &net->msgs[net->heap[parent]]))
			break;
		idx = net->heap[i];
		net->heap[i] = net->heap[parent];
		net->heap[parent] = idx;
		i = parent;
	}
}

static uint32_t heap_pop(struct sim_net *net)
{
	uint32_t top, i = 0, l, r, m, t;

	assert(net->n_heap > 0);
	top = net->heap[0];
	net->heap[0] = net->heap[--net->n_heap];
	for (;;) {
		l = 2 * i + 1;
		r = l + 1;
		m = i;
		if (l < net->n_heap &&
		    msg_before(&net->msgs[net->heap[l]], &net->msgs[net->heap[m]]))
			m = l;
		if (r < net->n_heap &&
		    msg_before(&net->msgs[net->heap[r]], &net->msgs[net->heap[m]]))
			m = r;
		if (m == i)
			break;
		t = net->heap[i];
		net->heap[i] = net->heap[m];
		net->heap[m] = t;
		i = m;
	}
	return top;
}

static uint8_t *bytes_alloc(struct sim_net *net, uint32_t len, uint8_t *cls)
{
	uint32_t k = 0;
	size_t size;
	uint8_t *p;

	while ((128u << k) < len)
		k++;
	assert(k < SIM_NET_CLASSES);
	*cls = (uint8_t)k;
	p = net->class_free[k];
	if (p != NULL) {
		memcpy(&net->class_free[k], p, sizeof(p));
		return p;
	}
	size = 128u << k;
	if (net->arena_used + size > SIM_NET_BYTES)
		return NULL;
	p = net->arena + net->arena_used;
	net->arena_used += size;
	return p;
}

static void bytes_free(struct sim_net *net, uint8_t *p, uint8_t cls)
{
	/* The free list threads through the first bytes of each free buffer. */
	memcpy(p, &net->class_free[cls], sizeof(p));
	net->class_free[cls] = p;
}

void sim_net_reset(struct sim *s)
{
	struct sim_net *net = &s->net;
	uint8_t *arena = net->arena;
	uint32_t i;

	if (arena == NULL) {
		/* Once per process: seeds reuse it. */
		arena = malloc(SIM_NET_BYTES);
		if (arena == NULL)
			abort();
	}
	memset(net, 0, sizeof(*net));
	net->arena = arena;
	for (i = 0; i < SIM_MSGS_MAX; i++)
		net->free_idx[i] = SIM_MSGS_MAX - 1 - i;
	net->n_free = SIM_MSGS_MAX;
	net->loss_pm = s->o.loss_pm;
	net->dup_pm = s->o.dup_pm;
	net->delay_min = s->o.delay_min;
	net->delay_max = s->o.delay_max;
	net->link_queue_max = s->o.link_queue_max;
	net->corrupt_pm = s->o.corrupt_pm;
	net->straggle_pm = s->o.straggle_pm;
	sim_net_heal(s);
}

void sim_net_heal(struct sim *s)
{
	uint32_t a, b;

	for (a = 0; a < SIM_EP_MAX; a++)
		for (b = 0; b < SIM_EP_MAX; b++)
			s->net.link_up[a][b] = true;
}

uint32_t sim_net_inflight(const struct sim *s)
{
	return s->net.n_heap;
}

/** Queues a copy of buf. late > 0: a straggler due `late` units from now, outside the
 *  link's queue bound (it stands for a packet stuck somewhere, not a queue). */
static void enqueue(struct sim *s, uint8_t src, uint8_t dst, const uint8_t *buf, uint32_t len,
		    uint8_t corrupt, uint32_t late)
{
	struct sim_net *net = &s->net;
	struct sim_msg *m;
	uint32_t idx;
	uint8_t *p, cls;

	if (late == 0 && net->link_inflight[src][dst] >= net->link_queue_max) {
		net->dropped_queue++;
		return;
	}
	if (net->n_free == 0) {
		net->dropped_pool++;
		return;
	}
	p = bytes_alloc(net, len, &cls);
	if (p == NULL) {
		net->dropped_pool++;
		return;
	}
	idx = net->free_idx[--net->n_free];
	m = &net->msgs[idx];
	memcpy(p, buf, len);
	m->buf = p;
	m->cls = cls;
	m->len = len;
	m->src = src;
	m->dst = dst;
	m->corrupt = corrupt;
	m->straggler = late > 0;
	m->deliver_at = late > 0 ? s->now + late :
		s->now + sim_rng_range(&s->rng_net, net->delay_min, net->delay_max);
	m->order = net->order_next++;
	if (late == 0)
		net->link_inflight[src][dst]++;
	heap_push(net, idx);
}

/* ---------------------------------------------------------------------------------- */
/* The corrupting network                                                              */

static struct sim_rng *hostile(struct sim *s)
{
	return &s->rng_hostile;
}

static bool has_commit(uint8_t t)
{
	return t == PX_MSG_PREVOTE || t == PX_MSG_PREVOTE_REPLY || t == PX_MSG_PREPARE ||
	       t == PX_MSG_STATE_NEEDED || t == PX_MSG_ACCEPTED || t == PX_MSG_PROMISE ||
	       t == PX_MSG_RECOVER_REPLY || t == PX_MSG_ACCEPT;
}

static bool has_slot_lo(uint8_t t)
{
	return t == PX_MSG_PREVOTE || t == PX_MSG_PREVOTE_REPLY || t == PX_MSG_PREPARE ||
	       t == PX_MSG_STATE_NEEDED || t == PX_MSG_PROMISE || t == PX_MSG_RECOVER_REPLY ||
	       t == PX_MSG_RECOVER;
}

static bool has_slot_hi(uint8_t t)
{
	return t == PX_MSG_ACCEPTED || t == PX_MSG_PROMISE || t == PX_MSG_RECOVER_REPLY;
}

/** A type with the same body layout and fields for m's, or 0. */
static uint8_t swapped_type(const struct px_msg *m)
{
	switch (m->type) {
	case PX_MSG_PREVOTE: return PX_MSG_PREPARE;
	case PX_MSG_PREPARE: return PX_MSG_STATE_NEEDED;
	case PX_MSG_STATE_NEEDED: return PX_MSG_PREPARE;
	case PX_MSG_NACK: return PX_MSG_TIMEOUT_NOW;
	case PX_MSG_TIMEOUT_NOW: return PX_MSG_NACK;
	default: return 0;
	}
}

/** A slot number beyond the ceiling. */
static uint64_t slot_over(struct sim_rng *r)
{
	return sim_rng_below(r, 4) == 0 ? UINT64_MAX : PX_SLOT_MAX + 1 + sim_rng_next(r) % 1000000;
}

/**
 * Rewrites one field of m as class cx says, if it applies to m. Returns false (m
 * unchanged) if it does not. dst is the endpoint the copy goes to.
 */
static bool rewrite(struct sim *s, struct px_msg *m, uint8_t cx, uint8_t dst)
{
	struct sim_rng *r = hostile(s);
	uint8_t n = s->o.n_nodes, t = m->type, node;
	uint32_t i, j = sim_rng_below(r, n);
	uint64_t *f;

	switch (cx) {
	case SIM_CX_ROUND:
		m->ballot = px_ballot_make(PX_ROUND_MAX + 1 + sim_rng_below(r, 1u << 20),
					   px_ballot_node(m->ballot));
		return true;
	case SIM_CX_BALLOT_NODE:
		/* No node id at all (members change: any id below the bound may lead). */
		node = (uint8_t)sim_rng_range(r, PX_REPLICAS_MAX, 255);
		m->ballot = px_ballot_make(px_ballot_round(m->ballot), node);
		return true;
	case SIM_CX_SENDER:
		if (t != PX_MSG_PREVOTE && t != PX_MSG_PREPARE && t != PX_MSG_ACCEPT &&
		    t != PX_MSG_TIMEOUT_NOW)
			return false;
		node = (uint8_t)((m->from + 1 + sim_rng_below(r, n - 1u)) % n);
		m->ballot = px_ballot_make(px_ballot_round(m->ballot), node);
		return true;
	case SIM_CX_SLOT:
		switch (sim_rng_below(r, 4)) {
		case 0: f = has_commit(t) ? &m->commit : NULL; break;
		case 1: f = has_slot_lo(t) ? &m->slot_lo : NULL; break;
		case 2: f = has_slot_hi(t) ? &m->slot_hi : NULL; break;
		default: f = m->n_entries > 0 ? &m->entries[m->n_entries - 1].slot : NULL; break;
		}
		if (f == NULL)
			return false;
		*f = slot_over(r);
		return true;
	case SIM_CX_WINDOW:
		if (t != PX_MSG_ACCEPT || m->n_entries == 0)
			return false;
		m->entries[m->n_entries - 1].slot = m->commit + s->o.window_slots + 1 +
						    sim_rng_below(r, 1000);
		return m->n_entries == 1 ||
		       m->entries[m->n_entries - 1].slot > m->entries[m->n_entries - 2].slot;
	case SIM_CX_VBALLOT:
		if (m->n_entries == 0)
			return false;
		i = sim_rng_below(r, m->n_entries);
		m->entries[i].vballot = sim_rng_below(r, 4) == 0 ? 0 :
			m->ballot + ((uint64_t)sim_rng_range(r, 1, 5) << 8);
		return true;
	case SIM_CX_INC_CEIL:
		m->incarnation[j] = sim_rng_below(r, 2) ? UINT32_MAX :
				    PX_INCARNATION_MAX + sim_rng_below(r, 1u << 20);
		return true;
	case SIM_CX_TO:
		if (dst >= n)
			return false;
		m->to = (uint8_t)((dst + 1 + sim_rng_below(r, n - 1u)) % n);
		return true;
	case SIM_CX_EPOCH:
		/* An epoch no configuration reaches: one above ours from a member is
		 * believed (the receiver may lag behind a change). */
		m->config_epoch = PX_EPOCH_MAX + 1u + sim_rng_below(r, 1000);
		return true;
	case SIM_CX_GRANT:
		if (t != PX_MSG_PREVOTE_REPLY)
			return false;
		m->flags ^= PX_MF_GRANT;
		return true;
	case SIM_CX_FORCE:
		if (t != PX_MSG_PREPARE)
			return false;
		m->flags |= PX_MF_FORCE;
		return true;
	case SIM_CX_CHOSEN: {
		bool any = false;

		if (t != PX_MSG_ACCEPT)
			return false;
		for (i = 0; i < m->n_entries; i++) {
			if (m->entries[i].slot > m->commit) {
				m->entries[i].flags |= PX_EF_CHOSEN;
				any = true;
			}
		}
		return any;
	}
	case SIM_CX_INC_RAISE: {
		/* Mostly a step or two (a restart the receiver missed), sometimes far. */
		uint32_t by = sim_rng_below(r, 4) ? sim_rng_range(r, 1, 3) :
						    sim_rng_range(r, 4, 1u << 20);
		if (m->incarnation[j] + (uint64_t)by >= PX_INCARNATION_MAX)
			return false;
		m->incarnation[j] += by;
		return true;
	}
	case SIM_CX_TYPE:
		if (swapped_type(m) == 0)
			return false;
		m->type = swapped_type(m);
		m->flags = 0;
		return true;
	case SIM_CX_READ_ROUND:
		if (t != PX_MSG_ACCEPT && t != PX_MSG_ACCEPTED)
			return false;
		m->read_round += (1ull << 40) + sim_rng_below(r, 1000);
		return true;
	default:
		return false;
	}
}

/**
 * Maybe rewrites a replica's message on its way from src to dst: decode, rewrite one
 * field, encode. Returns the class applied (SIM_CX_NONE: buf is to be sent as is) and
 * points *out at the bytes to send.
 */
static uint8_t corrupt(struct sim *s, uint8_t src, uint8_t dst, const uint8_t *buf,
		       uint32_t len, const uint8_t **out, uint32_t *out_len)
{
	struct sim_net *net = &s->net;
	struct sim_rng *r = hostile(s);
	struct px_msg *m = &net->cx_msg;
	uint8_t cx = (uint8_t)sim_rng_range(r, 1, SIM_CX_MAX - 1);
	bool hit = sim_rng_chance(r, net->corrupt_pm);
	size_t wl;

	*out = buf;
	*out_len = len;
	/* The core's messages only: SNAP_REQ, SNAP_CHUNK, REFUSE and RM never reach the core's
	 * checks (node/ validates them; tests/unit/test_transfer.c feeds it bad ones). */
	if (!hit || src >= s->o.n_nodes || dst >= s->o.n_nodes ||
	    buf[PX_WIRE_OFF_TYPE] == PX_MSG_SNAP_REQ || buf[PX_WIRE_OFF_TYPE] == PX_MSG_SNAP_CHUNK ||
	    buf[PX_WIRE_OFF_TYPE] == PX_MSG_REFUSE || buf[PX_WIRE_OFF_TYPE] == PX_MSG_RM)
		return SIM_CX_NONE;
	/* Bounded: a few tries for a rewrite that applies to this type, each on a fresh
	 * decode (a rewrite that does not apply may have touched m). */
	/* Authenticated: the trailer stays as the sender sealed it (the network holds no
	 * key), so the receiver must drop the rewrite by its tag. */
	uint32_t tl = s->o.auth ? PX_TRAILER_BYTES : 0;
	if (len < tl)
		sim_fail(s, "sim", "a %u-byte datagram without its trailer", len);
	for (int k = 0;; k++) {
		if (px_decode(buf, len - tl, SIM_CLUSTER_ID, s->o.n_nodes, m) != PX_WIRE_OK)
			sim_fail(s, "codec", "the network could not decode a replica's message");
		if (rewrite(s, m, cx, dst))
			break;
		if (k == 3)
			return SIM_CX_NONE;
		cx = (uint8_t)sim_rng_range(r, 1, SIM_CX_MAX - 1);
	}
	wl = px_encode(m, net->cx_wire, sizeof(net->cx_wire) - tl);
	if (wl == 0)
		sim_fail(s, "sim", "a rewritten message (class %u) does not encode", cx);
	/* A rewrite that changed nothing (a flag already set) is no corruption: the copy
	 * is the sender's own, authentic with its trailer. */
	if (wl == len - tl && memcmp(net->cx_wire, buf, wl) == 0)
		return SIM_CX_NONE;
	memcpy(net->cx_wire + wl, buf + len - tl, tl);
	wl += tl;
	net->corrupted[cx]++;
	*out = net->cx_wire;
	*out_len = (uint32_t)wl;
	return cx;
}

/** A recovery cut short (recover_cut_pm): its announcements reach only announce_mask;
 *  the first one schedules the replica's crash. true: drop this copy. */
static bool cut_announcement(struct sim *s, uint8_t src, uint8_t dst, const uint8_t *buf)
{
	struct sim_node *n;

	if (src >= s->o.n_nodes || dst >= s->o.n_nodes || s->liveness)
		return false;
	n = &s->nodes[src];
	if (!n->recover_cut || buf[PX_WIRE_OFF_TYPE] != PX_MSG_RECOVER ||
	    !(buf[PX_WIRE_OFF_FLAGS] & PX_MF_ANNOUNCE))
		return false;
	if (n->crash_at == 0)
		n->crash_at = s->now + sim_rng_range(&s->rng_fault, 1, 3);
	if (n->announce_mask & (1u << dst))
		return false;
	s->net.cut_announce++;
	return true;
}

void sim_net_send(struct sim *s, uint8_t src, uint8_t dst, const uint8_t *buf, uint32_t len)
{
	struct sim_net *net = &s->net;
	const uint8_t *bytes;
	uint32_t blen, late;
	uint8_t cx;

	assert(src < SIM_EP_MAX);
	assert(dst < SIM_EP_MAX);
	assert(src != dst);
	assert(len > 0 && len <= PX_DGRAM_BYTES_MAX);

	net->sent++;
	/* Every draw is made on every send, so a change of rate does not shift the
	 * stream: seeds with the same draws stay comparable. */
	bool lose = sim_rng_chance(&s->rng_net, net->loss_pm);
	bool dup = sim_rng_chance(&s->rng_net, net->dup_pm);
	bool straggle = sim_rng_chance(hostile(s), net->straggle_pm);

	late = sim_rng_range(hostile(s), 1, s->o.straggle_max);
	if (cut_announcement(s, src, dst, buf))
		return;
	cx = corrupt(s, src, dst, buf, len, &bytes, &blen);
	if (straggle) {
		/* The late copy is whatever went on the wire (the rewrite included). */
		net->straggled++;
		enqueue(s, src, dst, bytes, blen, cx, late);
	}
	if (lose) {
		net->lost++;
		return;
	}
	enqueue(s, src, dst, bytes, blen, cx, 0);
	if (dup) {
		net->duplicated++;
		enqueue(s, src, dst, bytes, blen, cx, 0);
	}
}

bool sim_net_next(struct sim *s, struct sim_msg **out)
{
	struct sim_net *net = &s->net;
	struct sim_msg *m;

	/* Bounded: each pass removes one message from the heap. */
	while (net->n_heap > 0 && net->msgs[net->heap[0]].deliver_at <= s->now) {
		m = &net->msgs[heap_pop(net)];
		if (!m->straggler) {
			assert(net->link_inflight[m->src][m->dst] > 0);
			net->link_inflight[m->src][m->dst]--;
		}
		if (!net->link_up[m->src][m->dst] ||
		    (m->src < s->o.n_nodes && s->nodes[m->src].quarantine_until > s->now) ||
		    (m->dst < s->o.n_nodes && s->nodes[m->dst].quarantine_until > s->now)) {
			net->dropped_link++;
			sim_net_free(s, m);
			continue;
		}
		if (m->dst < s->o.n_nodes && !s->nodes[m->dst].up) {
			net->dropped_down++;
			sim_net_free(s, m);
			continue;
		}
		net->delivered++;
		*out = m;
		return true;
	}
	return false;
}

void sim_net_free(struct sim *s, struct sim_msg *m)
{
	struct sim_net *net = &s->net;
	uint32_t idx = (uint32_t)(m - net->msgs);

	assert(idx < SIM_MSGS_MAX);
	bytes_free(net, m->buf, m->cls);
	m->buf = NULL;
	net->free_idx[net->n_free++] = idx;
	assert(net->n_free <= SIM_MSGS_MAX);
}
