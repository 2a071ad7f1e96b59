/* SPDX-License-Identifier: Apache-2.0
 * stages = 2: the apply lcore, and the ring that feeds it.
 *
 * The consensus lcore (dp_loop.c) receives on every port, steps the replica, transmits
 * to peers on the link ports, and hands the rest to this lcore through one SPSC ring of
 * records, in order: ADDR (where a proposed command's client is, by its session id or,
 * for a registration, by its nonce: the id the reply names), SLOT (a committed
 * slot to apply: a pointer into the replica's log, which stays put until this lcore
 * reports the slot applied through applied_pub and the consensus lcore calls
 * px_applied), REPLY (a body-less NOT_LEADER / BUSY / BAD_COMMAND answer). This lcore owns the
 * applier, the client address table and the transmit side of the client ports: it
 * applies each slot, encodes the REPLYs, and flushes. Nothing is shared but the ring,
 * applied_pub and the published counters; the consensus lcore never touches the applier.
 *
 * Memory order: the producer writes records, then stores tail with release; the
 * consumer loads tail with acquire before reading them, and stores head with release
 * after it is done with them (the producer loads head with acquire before reusing the
 * room). applied_pub: release here after the slots are applied, acquire there before
 * px_applied lets the core reuse their log memory.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "dp_pvt.h"

/* ---------------------------------------------------------------------------------- */
/* Ring                                                                                */

#define RING_MASK (DP_RING_RECS - 1u)

bool dp_ring_room(struct dp_ring *r, uint32_t n)
{
	if (r->tail_local + n - r->head_cache <= DP_RING_RECS)
		return true;
	r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
	return r->tail_local + n - r->head_cache <= DP_RING_RECS;
}

bool dp_ring_push(struct dp_ring *r, const struct dp_rec *rec)
{
	if (!dp_ring_room(r, 1))
		return false;
	r->recs[r->tail_local & RING_MASK] = *rec;
	r->tail_local++;
	return true;
}

void dp_ring_publish(struct dp_ring *r)
{
	atomic_store_explicit(&r->tail, r->tail_local, memory_order_release);
}

/** Consumer: the next record, or NULL when none is published. */
static const struct dp_rec *ring_peek(struct dp_ring *r)
{
	if (r->head_local == r->tail_cache) {
		r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (r->head_local == r->tail_cache)
			return NULL;
	}
	return &r->recs[r->head_local & RING_MASK];
}

/* ---------------------------------------------------------------------------------- */
/* Counters                                                                            */

static void snap_publish(struct dp_stage *st)
{
	struct dp_apply_snap s;
	memset(&s, 0, sizeof(s));
	s.replies = st->replies;
	s.reply_no_addr = st->reply_no_addr;
	s.tx_no_buf = st->tx_no_buf;
	s.client_evictions = st->clients.evictions;
	s.sessions = px_applier_sessions(st->a);
	s.applied = st->applied;
	s.apply = *px_applier_counters(st->a);
	uint64_t w[DP_APPLY_SNAP_WORDS];
	memcpy(w, &s, sizeof(w));
	dp_seq_write(&st->snap_seq, st->snap_words, w, DP_APPLY_SNAP_WORDS);
}

bool dp_apply_snap_read(struct dp_stage *st, struct dp_apply_snap *s)
{
	uint64_t w[DP_APPLY_SNAP_WORDS];
	if (!dp_seq_read(&st->snap_seq, st->snap_words, w, DP_APPLY_SNAP_WORDS))
		return false;
	memcpy(s, w, sizeof(w));
	return true;
}

/* ---------------------------------------------------------------------------------- */
/* Apply and answer                                                                    */

static void reply(struct dp_stage *st, uint8_t port, const struct nic_addr *to,
		  uint64_t client_id, uint64_t seq, uint8_t status, uint8_t hint, uint64_t ballot,
		  const uint8_t *body, uint32_t len)
{
	/* The consensus lcore hands over clients of client ports only (dp_loop.c). */
	assert(!st->d->port_is_link[port]);
	if (!dp_tx_reply(st->d->ports[port], st->reply, to, ballot, hint, client_id, seq, status,
			 body, len))
		st->tx_no_buf++;
}

static void apply_slot(struct dp_stage *st, const struct dp_rec *rec)
{
	assert(rec->a == st->applied + 1u);   /* the core hands out slots in order */
	px_apply_slot(st->a, rec->a, rec->value, rec->len, st->aout);
	st->applied = rec->a;
	if (!rec->leader)
		return;   /* followers apply the same log silently */
	for (uint32_t k = 0; k < st->aout->n; k++) {
		const struct px_reply *rp = &st->aout->replies[k];
		const struct dp_client *to = dp_clients_get(&st->clients, rp->client_id);
		if (to == NULL) {
			st->reply_no_addr++;
			continue;
		}
		reply(st, to->port, &to->addr, rp->client_id, rp->seq, rp->status, rec->hint,
		      rec->ballot, rp->data, rp->len);
		st->replies++;
	}
}

int dp_apply_run(void *arg)
{
	struct dp_stage *st = arg;
	struct dp_ctx *d = st->d;
	struct dp_ring *r = &st->ring;
	bool adaptive = d->cfg->idle == PW_IDLE_ADAPTIVE;
	if (adaptive)
		(void)prctl(PR_SET_TIMERSLACK, 1000ul, 0, 0, 0);   /* per thread */
	uint64_t now = dp_now_ns();
	st->next_pub_ns = now;
	st->last_work_ns = now;
	for (;;) {
		/* Bounded: one ring's worth of records per round, then flush and look up. */
		uint32_t n = 0;
		const struct dp_rec *rec;
		while (n < DP_RING_RECS && (rec = ring_peek(r)) != NULL) {
			switch (rec->type) {
			case DP_REC_ADDR:
				dp_clients_put(&st->clients, rec->a, &rec->addr, rec->port);
				break;
			case DP_REC_SLOT:
				apply_slot(st, rec);
				break;
			case DP_REC_REPLY:
				reply(st, rec->port, &rec->addr, rec->a, rec->seq, rec->status, rec->hint,
				      rec->ballot, NULL, 0);
				break;
			default:
				assert(!"unknown ring record");   /* our bug: we wrote it */
			}
			r->head_local++;
			n++;
		}
		if (n > 0) {
			atomic_store_explicit(&r->head, r->head_local, memory_order_release);
			atomic_store_explicit(&st->applied_pub, st->applied, memory_order_release);
			for (uint8_t k = 0; k < d->n_ports; k++)
				if (!d->port_is_link[k])
					nic_tx_flush(d->ports[k]);
		}
		/* Every 64 rounds, or when idle: the clock, counters, the stop flag. */
		if (n == 0 || (r->head_local & 63u) == 0) {
			now = dp_now_ns();
			if (n > 0)
				st->last_work_ns = now;
			if (now >= st->next_pub_ns) {
				snap_publish(st);
				st->next_pub_ns = now + DP_APPLY_PUB_NS;
			}
			/* acquire: pairs with the signal handler's release (paxwired.c) */
			if (atomic_load_explicit(d->stop, memory_order_acquire) &&
			    ring_peek(r) == NULL)
				break;
			if (n == 0 && adaptive && now - st->last_work_ns > DP_IDLE_SPIN_NS) {
				struct timespec ts = { .tv_sec = 0, .tv_nsec = DP_IDLE_SLICE_NS };
				nanosleep(&ts, NULL);
			}
		}
	}
	for (uint8_t k = 0; k < d->n_ports; k++)
		if (!d->port_is_link[k])
			nic_tx_flush(d->ports[k]);
	snap_publish(st);
	return 0;
}
