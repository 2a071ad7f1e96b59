/* SPDX-License-Identifier: Apache-2.0
 * The simulated network. Every message is a real encoded wire message (px_encode on
 * send, px_decode on delivery), so the codec runs on every hop.
 *
 * Faults, each under the seed's rates: loss at send, duplication at send (each copy
 * with its own delay), reordering through random delivery delays, bounded per-link
 * queues that drop on overflow, and cut links (partitions) that drop at delivery.
 *
 * Memory is bounded and allocated once per process: a fixed pool of message records,
 * a min-heap on delivery time, and a byte arena carved into power-of-two size classes
 * with free lists, so nothing is allocated per message.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "sim_pvt.h"

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

static void enqueue(struct sim *s, uint8_t src, uint8_t dst, const uint8_t *buf, uint32_t len)
{
	struct sim_net *net = &s->net;
	struct sim_msg *m;
	uint32_t idx;
	uint8_t *p, cls;

	if (net->link_inflight[src][dst] >= net->link_queue_max) {
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
	m->deliver_at = s->now + sim_rng_range(&s->rng_net, net->delay_min, net->delay_max);
	m->order = net->order_next++;
	net->link_inflight[src][dst]++;
	heap_push(net, idx);
}

void sim_net_send(struct sim *s, uint8_t src, uint8_t dst, const uint8_t *buf, uint32_t len)
{
	struct sim_net *net = &s->net;

	assert(src < SIM_EP_MAX);
	assert(dst < SIM_EP_MAX);
	assert(src != dst);
	assert(len > 0 && len <= PX_MSG_BYTES_MAX);

	net->sent++;
	/* Both draws are made on every send, so a change of rate does not shift the
	 * stream: seeds with the same draws stay comparable. */
	bool lose = sim_rng_chance(&s->rng_net, net->loss_pm);
	bool dup = sim_rng_chance(&s->rng_net, net->dup_pm);

	if (lose) {
		net->lost++;
		return;
	}
	enqueue(s, src, dst, buf, len);
	if (dup) {
		net->duplicated++;
		enqueue(s, src, dst, buf, len);
	}
}

bool sim_net_next(struct sim *s, struct sim_msg **out)
{
	struct sim_net *net = &s->net;
	struct sim_msg *m;

	/* Bounded: each pass removes one message from the heap. */
	while (net->n_heap > 0 && net->msgs[net->heap[0]].deliver_at <= s->now) {
		m = &net->msgs[heap_pop(net)];
		assert(net->link_inflight[m->src][m->dst] > 0);
		net->link_inflight[m->src][m->dst]--;
		if (!net->link_up[m->src][m->dst]) {
			net->dropped_link++;
			sim_net_free(s, m);
			continue;
		}
		if (m->dst < s->o.n_replicas && !s->nodes[m->dst].up) {
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
