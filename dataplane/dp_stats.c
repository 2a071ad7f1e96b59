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
	[PX_DROP_BOUND] = "bound",
	[PX_DROP_SENDER] = "sender",
	[PX_DROP_NOT_FOR_US] = "not_for_us",
	[PX_DROP_EPOCH] = "epoch",
	[PX_DROP_LEADER_ALIVE] = "leader_alive",
	[PX_DROP_NOT_MEMBER] = "not_member",
};
_Static_assert(PX_DROP_MAX == 13, "name every px_drop above");
_Static_assert(sizeof(struct nic_stats) % sizeof(uint64_t) == 0,
	       "nic counters are whole words: dp_snap_fill sums them word by word");

const char *dp_px_drop_name(enum px_drop drop)
{
	return (unsigned)drop < PX_DROP_MAX ? px_drop_names[drop] : "?";
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

/* One JSON member: a comma before every member but the first of its object. */
static void json_u64(FILE *f, bool *first, const char *name, uint64_t v)
{
	fprintf(f, "%s\"%s\":%" PRIu64, *first ? "" : ",", name, v);
	*first = false;
}

void dp_stats_print(struct dp_ctx *d, FILE *f, uint64_t now_ns, bool final)
{
	struct dp_snap s;
	bool first;

	d->c.stats_lines++;
	dp_snap_fill(d, now_ns, &s);
	struct px_uuid u = node_uuid(d->nd);
	fprintf(f, "{\"paxwired\":{\"id\":%" PRIu64 ",\"cluster\":%" PRIu64
		",\"cluster_uuid\":\"%016" PRIx64 "%016" PRIx64 "\",\"t_ms\":%" PRIu64 ",\"final\":%s",
		s.self, s.cluster, u.hi, u.lo, s.t_ms, final ? "true" : "false");
	/* The last line says what state this replica stopped in, for comparing replicas:
	 * the applier's chain (the applied log) and the service's own hash (its state, as
	 * far as the service hashes it; O(state), so only here). */
	if (final)
		fprintf(f, ",\"apply_chain\":%" PRIu64 ",\"service_hash\":%" PRIu64,
			px_applier_chain(node_applier(d->nd)), d->svc.hash(d->svc.ctx));
	fprintf(f, "},");
	fprintf(f, "\"role\":\"%s\",", px_role_name((enum px_role)s.role));
	if (s.leader == PX_NODE_NONE)
		fprintf(f, "\"leader\":null,");
	else
		fprintf(f, "\"leader\":%" PRIu64 ",", s.leader);
	fprintf(f, "\"ballot_round\":%" PRIu64 ",\"ballot_node\":%" PRIu64 ",\"commit\":%" PRIu64
		",\"applied\":%" PRIu64 ",\"last_slot\":%" PRIu64 ",\"state_transfer_needed\":%s,",
		s.ballot_round, s.ballot_node, s.commit, s.applied, s.last_slot,
		s.state_transfer_needed ? "true" : "false");

#define F(field) json_u64(f, &first, #field, grp->field);
	fprintf(f, "\"nic\":{");
	first = true;
	{ const struct nic_stats *grp = &s.nic; DP_NIC_FIELDS(F) }
	fprintf(f, ",\"drops\":{");
	first = true;
	for (int i = 0; i < NIC_DROP_MAX; i++)
		json_u64(f, &first, nic_drop_name((enum nic_drop)i), s.nic.drops[i]);
	fprintf(f, "}},\"decode_drops\":{");
	first = true;
	for (int i = 1; i < PX_WIRE_E_MAX; i++)
		json_u64(f, &first, px_wire_err_name((enum px_wire_err)i), s.node.decode_drops[i]);
	fprintf(f, "},\"auth_drops\":{");
	first = true;
	for (int i = 1; i < AUTH_E_MAX; i++)
		json_u64(f, &first, auth_err_name((enum auth_err)i), s.node.auth_drops[i]);
	fprintf(f, "},\"auth\":{\"on\":%s", d->cfg->auth_off ? "false" : "true");
	first = false;
	json_u64(f, &first, "lives", s.node.auth_lives);
	json_u64(f, &first, "evictions", s.node.auth_evictions);
	json_u64(f, &first, "reply_lost", s.node.auth_reply_lost);
	json_u64(f, &first, "challenges", s.node.auth_challenges);
	json_u64(f, &first, "owner_other", s.node.auth_owner_other);
	fprintf(f, "},\"msgs_in\":{");
	first = true;
	for (int i = 1; i < PX_MSG_TYPE_MAX; i++)
		if (*px_msg_type_name((uint8_t)i) != '?')
			json_u64(f, &first, px_msg_type_name((uint8_t)i), s.node.msgs_in[i]);
	fprintf(f, "},\"dp\":{");
	first = true;
	{ const struct dp_counters *grp = &s.dp; DP_LOOP_FIELDS(F) }
	{ const struct node_counters *grp = &s.node; DP_NODE_FIELDS(F) }
	fprintf(f, "},\"px\":{\"drops\":{");
	first = true;
	for (int i = 0; i < PX_DROP_MAX; i++)
		json_u64(f, &first, px_drop_names[i], s.px.drops[i]);
	fprintf(f, "}");
	first = false;
	{ const struct px_counters *grp = &s.px; DP_PX_FIELDS(F) }
	fprintf(f, "},\"apply\":{");
	first = true;
	{ const struct px_apply_counters *grp = &s.apply; DP_APPLY_FIELDS(F) }
	json_u64(f, &first, "sessions", s.sessions);
	fprintf(f, "},\"transfer\":{");
	first = true;
	{ const struct node_counters *grp = &s.node; DP_TRANSFER_FIELDS(F) }
	if (s.durable) {
		/* Durable mode: the journal's counters and how far persistence got. */
		fprintf(f, "},\"journal\":{");
		first = true;
		{ const struct journal_counters *grp = &s.journal; DP_JOURNAL_FIELDS(F) }
		json_u64(f, &first, "sync_seq", s.sync_seq);
		json_u64(f, &first, "persisted_seq", s.persisted_seq);
	}
#undef F
	/* Trailing zero buckets left out: [count of [1,2) ns, [2,4) ns, ...]. */
	uint32_t nb = NODE_LAT_BUCKETS;
	while (nb > 0 && s.node.commit_lat[nb - 1u] == 0)
		nb--;
	fprintf(f, "},\"commit_latency_log2_ns\":[");
	for (uint32_t b = 0; b < nb; b++)
		fprintf(f, "%s%" PRIu64, b ? "," : "", s.node.commit_lat[b]);
	fprintf(f, "]}\n");
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
	/* Every port's counters, summed: one replica, one set of numbers. */
	memset(&s->nic, 0, sizeof(s->nic));
	for (uint8_t k = 0; k < d->n_ports; k++) {
		const uint64_t *src = (const uint64_t *)nic_stats(d->ports[k]);
		uint64_t *dst = (uint64_t *)&s->nic;
		for (size_t w = 0; w < sizeof(s->nic) / sizeof(uint64_t); w++)
			dst[w] += src[w];
	}
	s->dp = d->c;
	s->node = *node_counters(d->nd);
	s->px = *px_counters(d->r);
	s->apply = *px_applier_counters(node_applier(d->nd));
	s->sessions = px_applier_sessions(node_applier(d->nd));
	if (d->j != NULL) {
		s->durable = 1;
		s->sync_seq = d->sync_seq;
		s->persisted_seq = d->persisted_seq;
		journal_counters(d->j, &s->journal);
	}
}

void dp_seq_write(atomic_uint_fast64_t *seq, _Atomic uint64_t *words, const void *src,
		  size_t n)
{
	const uint64_t *w = src;
	/* Only this thread writes seq: a relaxed load sees its own last store. */
	uint_fast64_t q = atomic_load_explicit(seq, memory_order_relaxed);
	atomic_store_explicit(seq, q + 1u, memory_order_relaxed);   /* odd: writing */
	/* RELEASE fence (pairs with the reader's ACQUIRE fence in dp_seq_read): orders the
	 * odd seq before every word store below, so a reader that loads any new word and
	 * then re-reads seq sees it changed. */
	atomic_thread_fence(memory_order_release);
	for (size_t i = 0; i < n; i++)
		atomic_store_explicit(&words[i], w[i], memory_order_relaxed);
	/* RELEASE store (pairs with the reader's first ACQUIRE load of seq): a reader that
	 * sees this even seq sees every word stored above. */
	atomic_store_explicit(seq, q + 2u, memory_order_release);
}

/** Tries of dp_seq_read before it gives up (a write takes well under a microsecond). */
#define DP_SEQ_READ_TRIES 1000u

bool dp_seq_read(atomic_uint_fast64_t *seq, _Atomic uint64_t *words, void *dst, size_t n)
{
	uint64_t *w = dst;
	for (unsigned t = 0; t < DP_SEQ_READ_TRIES; t++) {
		/* ACQUIRE load (pairs with the writer's final RELEASE store of seq). */
		uint_fast64_t q1 = atomic_load_explicit(seq, memory_order_acquire);
		if (q1 & 1u) {
			sched_yield();   /* a write is in progress (the writer may be descheduled) */
			continue;
		}
		for (size_t i = 0; i < n; i++)
			w[i] = atomic_load_explicit(&words[i], memory_order_relaxed);
		/* ACQUIRE fence (pairs with the writer's RELEASE fence after its odd store):
		 * if any word load above saw a store of a newer write, the re-read of seq
		 * below sees that write's odd seq (or later). dst may hold a torn copy until
		 * then; it is only valid when this returns true. */
		atomic_thread_fence(memory_order_acquire);
		uint_fast64_t q2 = atomic_load_explicit(seq, memory_order_relaxed);
		if (q1 == q2)
			return q1 != 0;   /* 0: nothing published yet */
		sched_yield();
	}
	return false;
}

void dp_pub_write(struct dp_pub *p, const struct dp_snap *s)
{
	uint64_t w[DP_SNAP_WORDS];
	memcpy(w, s, sizeof(w));
	dp_seq_write(&p->seq, p->words, w, DP_SNAP_WORDS);
}

bool dp_pub_read(struct dp_pub *p, struct dp_snap *s)
{
	uint64_t w[DP_SNAP_WORDS];
	if (!dp_seq_read(&p->seq, p->words, w, DP_SNAP_WORDS))
		return false;
	memcpy(s, w, sizeof(w));
	return true;
}
