/* SPDX-License-Identifier: Apache-2.0
 * paxwired's output: one JSON line of counters (periodic, on SIGUSR1, and at exit) to
 * stdout, and log lines to stderr. Off the per-packet path.
 */
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dp_pvt.h"

/* Names of enum px_drop, for the JSON keys. */
static const char *const px_drop_names[PX_DROP_MAX] = {
	[PX_DROP_STALE_BALLOT] = "stale_ballot",
	[PX_DROP_STALE_INCARNATION] = "stale_incarnation",
	[PX_DROP_NOT_LEADER] = "not_leader",
	[PX_DROP_WRONG_ROLE] = "wrong_role",
	[PX_DROP_OUT_OF_WINDOW] = "out_of_window",
	[PX_DROP_BAD_FIELD] = "bad_field",
	[PX_DROP_RECOVERING] = "recovering",
};
_Static_assert(PX_DROP_MAX == 7, "name every px_drop above");

const char *dp_px_drop_name(enum px_drop drop)
{
	return (unsigned)drop < PX_DROP_MAX ? px_drop_names[drop] : "?";
}

const char *dp_role_name(enum px_role role)
{
	switch (role) {
	case PX_FOLLOWER:
		return "follower";
	case PX_PRECANDIDATE:
		return "precandidate";
	case PX_CANDIDATE:
		return "candidate";
	case PX_LEADER:
		return "leader";
	case PX_RECOVERING:
		return "recovering";
	}
	return "?";
}

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void dp_log(const struct dp_ctx *d, enum dp_log_level lvl, const char *fmt, ...)
{
	if (lvl > d->log_level)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "paxwired[%u] %s: ", d->self, level_names[lvl]);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

#define U64(name, v) fprintf(f, "\"%s\":%" PRIu64, name, (uint64_t)(v))

void dp_stats_print(struct dp_ctx *d, FILE *f, uint64_t now_ns, bool final)
{
	const struct dp_counters *c = &d->c;
	const struct nic_stats *ns = nic_stats(d->port);
	const struct px_counters *pc = px_counters(d->r);
	const struct px_apply_counters *ac = px_applier_counters(d->a);
	uint64_t b = px_promised(d->r);
	uint8_t hint = px_leader_hint(d->r);

	d->c.stats_lines++;
	fprintf(f, "{\"paxwired\":{\"id\":%u,\"cluster\":%" PRIu32 ",\"t_ms\":%" PRIu64 ",\"final\":%s},",
		d->self, d->pxc.cluster_id, (now_ns - d->start_ns) / 1000000u,
		final ? "true" : "false");
	fprintf(f, "\"role\":\"%s\",", dp_role_name(px_role(d->r)));
	if (hint == PX_NODE_NONE)
		fprintf(f, "\"leader\":null,");
	else
		fprintf(f, "\"leader\":%u,", hint);
	U64("ballot_round", px_ballot_round(b));
	fprintf(f, ",\"ballot_node\":%u,", px_ballot_node(b));
	U64("commit", px_commit(d->r));
	fputc(',', f);
	U64("applied", px_applied_slot(d->r));
	fputc(',', f);
	U64("last_slot", px_last_slot(d->r));
	fprintf(f, ",\"state_transfer_needed\":%s,",
		px_needs_state_transfer(d->r) ? "true" : "false");

	fprintf(f, "\"nic\":{");
	U64("rx_pkts", ns->rx_pkts); fputc(',', f);
	U64("rx_bytes", ns->rx_bytes); fputc(',', f);
	U64("rx_polls", ns->rx_polls); fputc(',', f);
	U64("rx_bursts", ns->rx_bursts); fputc(',', f);
	U64("tx_pkts", ns->tx_pkts); fputc(',', f);
	U64("tx_bytes", ns->tx_bytes); fputc(',', f);
	U64("tx_flushes", ns->tx_flushes); fputc(',', f);
	U64("waits", ns->waits); fputc(',', f);
	U64("wakeups", ns->wakeups);
	fprintf(f, ",\"drops\":{");
	for (int i = 0; i < NIC_DROP_MAX; i++) {
		if (i > 0)
			fputc(',', f);
		U64(nic_drop_name((enum nic_drop)i), ns->drops[i]);
	}
	fprintf(f, "}},");

	fprintf(f, "\"decode_drops\":{");
	for (int i = 1; i < PX_WIRE_E_MAX; i++) {
		if (i > 1)
			fputc(',', f);
		U64(px_wire_err_name((enum px_wire_err)i), c->decode_drops[i]);
	}
	fprintf(f, "},");

	fprintf(f, "\"dp\":{");
	U64("iterations", c->iterations); fputc(',', f);
	U64("steps", c->steps); fputc(',', f);
	U64("requests", c->requests); fputc(',', f);
	U64("proposed", c->proposed); fputc(',', f);
	U64("replies", c->replies); fputc(',', f);
	U64("not_leader", c->not_leader); fputc(',', f);
	U64("busy", c->busy); fputc(',', f);
	U64("reply_no_addr", c->reply_no_addr); fputc(',', f);
	U64("misaddressed", c->misaddressed); fputc(',', f);
	U64("unexpected", c->unexpected); fputc(',', f);
	U64("tx_no_buf", c->tx_no_buf); fputc(',', f);
	U64("ticks", c->ticks); fputc(',', f);
	U64("ticks_skipped", c->ticks_skipped); fputc(',', f);
	U64("idle_sleeps", c->idle_sleeps); fputc(',', f);
	U64("role_changes", c->role_changes); fputc(',', f);
	U64("client_evictions", d->clients.evictions);
	fprintf(f, "},");

	fprintf(f, "\"px\":{\"drops\":{");
	for (int i = 0; i < PX_DROP_MAX; i++) {
		if (i > 0)
			fputc(',', f);
		U64(px_drop_names[i], pc->drops[i]);
	}
	fprintf(f, "},");
	U64("elections_started", pc->elections_started); fputc(',', f);
	U64("prevotes_started", pc->prevotes_started); fputc(',', f);
	U64("leaderships_won", pc->leaderships_won); fputc(',', f);
	U64("stepdowns_check_quorum", pc->stepdowns_check_quorum); fputc(',', f);
	U64("proposals", pc->proposals); fputc(',', f);
	U64("commands_proposed", pc->commands_proposed); fputc(',', f);
	U64("commits", pc->commits); fputc(',', f);
	U64("catchup_entries_sent", pc->catchup_entries_sent); fputc(',', f);
	U64("state_transfer_needed", pc->state_transfer_needed); fputc(',', f);
	U64("recoveries_completed", pc->recoveries_completed); fputc(',', f);
	U64("transfers", pc->transfers);
	fprintf(f, "},");

	fprintf(f, "\"apply\":{");
	U64("slots", ac->slots); fputc(',', f);
	U64("commands", ac->commands); fputc(',', f);
	U64("duplicates", ac->duplicates); fputc(',', f);
	U64("stale", ac->stale); fputc(',', f);
	U64("expired", ac->expired); fputc(',', f);
	U64("evictions", ac->evictions); fputc(',', f);
	U64("noops", ac->noops); fputc(',', f);
	U64("bad_seq", ac->bad_seq); fputc(',', f);
	U64("replies_cut", ac->replies_cut); fputc(',', f);
	U64("sessions", px_applier_sessions(d->a));
	fprintf(f, "}}\n");
	fflush(f);
}

/* ---------------------------------------------------------------------------------- */
/* Snapshot for off-thread readers                                                     */

void dp_snap_fill(const struct dp_ctx *d, uint64_t now_ns, struct dp_snap *s)
{
	uint64_t b = px_promised(d->r);
	memset(s, 0, sizeof(*s));
	s->t_ms = (now_ns - d->start_ns) / 1000000u;
	s->self = d->self;
	s->cluster = d->pxc.cluster_id;
	s->role = (uint64_t)px_role(d->r);
	s->leader = px_leader_hint(d->r);
	s->ballot_round = px_ballot_round(b);
	s->ballot_node = px_ballot_node(b);
	s->commit = px_commit(d->r);
	s->applied = px_applied_slot(d->r);
	s->last_slot = px_last_slot(d->r);
	s->state_transfer_needed = px_needs_state_transfer(d->r) ? 1u : 0u;
	s->nic = *nic_stats(d->port);
	s->dp = d->c;
	s->client_evictions = d->clients.evictions;
	s->px = *px_counters(d->r);
	s->apply = *px_applier_counters(d->a);
	s->sessions = px_applier_sessions(d->a);
}

void dp_pub_write(struct dp_pub *p, const struct dp_snap *s)
{
	uint64_t w[DP_SNAP_WORDS];
	memcpy(w, s, sizeof(w));
	/* Only this thread writes seq: a relaxed load sees its own last store. */
	uint_fast64_t q = atomic_load_explicit(&p->seq, memory_order_relaxed);
	atomic_store_explicit(&p->seq, q + 1u, memory_order_relaxed);   /* odd: writing */
	/* RELEASE fence (pairs with the reader's ACQUIRE fence in dp_pub_read): orders the
	 * odd seq before every word store below, so a reader that loads any new word and
	 * then re-reads seq sees it changed. */
	atomic_thread_fence(memory_order_release);
	for (size_t i = 0; i < DP_SNAP_WORDS; i++)
		atomic_store_explicit(&p->words[i], w[i], memory_order_relaxed);
	/* RELEASE store (pairs with the reader's first ACQUIRE load of seq): a reader that
	 * sees this even seq sees every word stored above. */
	atomic_store_explicit(&p->seq, q + 2u, memory_order_release);
}

/** Tries of dp_pub_read before it gives up (a write takes well under a microsecond). */
#define DP_PUB_READ_TRIES 1000u

bool dp_pub_read(struct dp_pub *p, struct dp_snap *s)
{
	uint64_t w[DP_SNAP_WORDS];
	for (unsigned t = 0; t < DP_PUB_READ_TRIES; t++) {
		/* ACQUIRE load (pairs with the writer's final RELEASE store of seq). */
		uint_fast64_t q1 = atomic_load_explicit(&p->seq, memory_order_acquire);
		if (q1 & 1u) {
			sched_yield();   /* a write is in progress (the writer may be descheduled) */
			continue;
		}
		for (size_t i = 0; i < DP_SNAP_WORDS; i++)
			w[i] = atomic_load_explicit(&p->words[i], memory_order_relaxed);
		/* ACQUIRE fence (pairs with the writer's RELEASE fence after its odd store):
		 * if any word load above saw a store of a newer write, the re-read of seq
		 * below sees that write's odd seq (or later). */
		atomic_thread_fence(memory_order_acquire);
		uint_fast64_t q2 = atomic_load_explicit(&p->seq, memory_order_relaxed);
		if (q1 == q2) {
			memcpy(s, w, sizeof(w));
			return q1 != 0;   /* 0: nothing published yet */
		}
		sched_yield();
	}
	return false;
}
