/* SPDX-License-Identifier: Apache-2.0
 * paxwired's output: one JSON line of counters (periodic, on SIGUSR1, and at exit) to
 * stdout, and log lines to stderr; the metrics schema every output renders
 * (dp_metrics_walk, docs/metrics.md). Off the per-packet path.
 */
#include <assert.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dp_pvt.h"
#include "rm.h"

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


void dp_log(const struct dp_ctx *d, enum dp_log_level lvl, const char *fmt, ...)
{
	if (lvl > d->log_level)
		return;
	va_list ap;
	va_start(ap, fmt);
	env_vlogf((enum env_log_level)lvl, fmt, ap);   /* the line says paxwired[self] */
	va_end(ap);
}

/* ---------------------------------------------------------------------------------- */
/* The metrics schema: one walk (docs/metrics.md lists every name it emits)            */

uint64_t dp_lat_quantile(const uint64_t *c, uint32_t n, double q)
{
	uint64_t count = 0;
	for (uint32_t b = 0; b < n; b++)
		count += c[b];
	if (count == 0 || !(q > 0.0))
		return 0;
	/* The rank of the quantile (1-based), then the bucket that holds it. */
	double rank = q * (double)count;
	uint64_t below = 0;
	for (uint32_t b = 0; b < n; b++) {
		if (c[b] == 0 || (double)(below + c[b]) < rank) {
			below += c[b];
			continue;
		}
		double lo = (double)(1ull << b);
		if (b + 1u == n)
			return (uint64_t)lo;   /* the open-ended last bucket: its lower bound */
		/* Linear within [2^b, 2^(b+1)), as Prometheus' histogram_quantile. */
		double v = lo + lo * ((rank - (double)below) / (double)c[b]);
		return (uint64_t)v;
	}
	return 1ull << (n - 1u);
}

static const double lat_quantiles[DP_LAT_QUANTILES] = { 0.5, 0.9, 0.99, 0.999 };
static const char *const lat_quantile_names[DP_LAT_QUANTILES] = { "p50", "p90", "p99", "p999" };

void dp_metrics_walk(const struct dp_snap *s, uint32_t groups, const struct dp_emit *e)
{
	void *a = e->arg;
	char uuid[33];
	snprintf(uuid, sizeof(uuid), "%016" PRIx64 "%016" PRIx64, s->uuid_hi, s->uuid_lo);

	/* Identity and state: gauges (docs/metrics.md, "Identity and state"). */
	e->u64(a, "id", s->self);
	e->u64(a, "cluster", s->cluster);
	e->str(a, "cluster_uuid", uuid);
	e->u64(a, "t_ms", s->t_ms);
	e->str(a, "role", px_role_name((enum px_role)s->role));
	/* -1: no leader known (DPDK telemetry has no null) */
	e->i64(a, "leader", s->leader == PX_NODE_NONE ? -1 : (int64_t)s->leader);
	e->u64(a, "ballot_round", s->ballot_round);
	e->u64(a, "ballot_node", s->ballot_node);
	e->u64(a, "commit", s->commit);
	e->u64(a, "applied", s->applied);
	e->u64(a, "last_slot", s->last_slot);
	e->u64(a, "state_transfer_needed", s->state_transfer_needed);
	e->u64(a, "config_epoch", s->config_epoch);
	e->u64(a, "voters", s->voters);
	e->u64(a, "learners", s->learners);
	e->u64(a, "auth_on", s->auth_on);

#define F(field) e->u64(a, #field, grp->field);
#define ON(g) (groups & (1u << (g)))
	if (ON(DP_MG_NIC)) {
		const struct nic_stats *grp = &s->nic;
		e->begin(a, "nic");
		DP_NIC_FIELDS(F)
		e->end(a);
	}
	if (ON(DP_MG_NIC_DROPS)) {
		e->begin(a, "nic_drops");
		for (int i = 0; i < NIC_DROP_MAX; i++)
			e->u64(a, nic_drop_name((enum nic_drop)i), s->nic.drops[i]);
		e->end(a);
	}
	if (ON(DP_MG_DECODE_DROPS)) {
		e->begin(a, "decode_drops");
		for (int i = 1; i < PX_WIRE_E_MAX; i++)
			e->u64(a, px_wire_err_name((enum px_wire_err)i), s->node.decode_drops[i]);
		e->end(a);
	}
	if (ON(DP_MG_AUTH_DROPS)) {
		e->begin(a, "auth_drops");
		for (int i = 1; i < AUTH_E_MAX; i++)
			e->u64(a, auth_err_name((enum auth_err)i), s->node.auth_drops[i]);
		e->end(a);
	}
	if (ON(DP_MG_AUTH)) {
		e->begin(a, "auth");
		e->u64(a, "lives", s->node.auth_lives);
		e->u64(a, "evictions", s->node.auth_evictions);
		e->u64(a, "reply_lost", s->node.auth_reply_lost);
		e->u64(a, "challenges", s->node.auth_challenges);
		e->u64(a, "owner_other", s->node.auth_owner_other);
		e->end(a);
	}
	if (ON(DP_MG_MSGS_IN)) {
		e->begin(a, "msgs_in");
		for (int i = 1; i < PX_MSG_TYPE_MAX; i++)
			if (*px_msg_type_name((uint8_t)i) != '?')
				e->u64(a, px_msg_type_name((uint8_t)i), s->node.msgs_in[i]);
		e->end(a);
	}
	if (ON(DP_MG_DP)) {
		e->begin(a, "dp");
		{ const struct dp_counters *grp = &s->dp; DP_LOOP_FIELDS(F) }
		{ const struct node_counters *grp = &s->node; DP_NODE_FIELDS(F) }
		e->end(a);
	}
	if (ON(DP_MG_PX)) {
		const struct px_counters *grp = &s->px;
		e->begin(a, "px");
		DP_PX_FIELDS(F)
		e->end(a);
	}
	if (ON(DP_MG_PX_DROPS)) {
		e->begin(a, "px_drops");
		for (int i = 0; i < PX_DROP_MAX; i++)
			e->u64(a, px_drop_names[i], s->px.drops[i]);
		e->end(a);
	}
	if (ON(DP_MG_APPLY)) {
		const struct px_apply_counters *grp = &s->apply;
		e->begin(a, "apply");
		DP_APPLY_FIELDS(F)
		e->u64(a, "sessions", s->sessions);
		e->end(a);
	}
	if (ON(DP_MG_TRANSFER)) {
		const struct node_counters *grp = &s->node;
		e->begin(a, "transfer");
		DP_TRANSFER_FIELDS(F)
		e->end(a);
	}
	if (ON(DP_MG_JOURNAL) && s->durable) {
		const struct journal_counters *grp = &s->journal;
		e->begin(a, "journal");
		DP_JOURNAL_FIELDS(F)
		e->u64(a, "sync_seq", s->sync_seq);
		e->u64(a, "persisted_seq", s->persisted_seq);
		e->end(a);
	}
	if (ON(DP_MG_LATENCY)) {
		/* Cumulative buckets: b counts the commits of at most 2^(b+1) - 1 ns. */
		uint64_t cum[NODE_LAT_BUCKETS], run = 0;
		for (uint32_t b = 0; b < NODE_LAT_BUCKETS; b++) {
			run += s->node.commit_lat[b];
			cum[b] = run;
		}
		e->begin(a, "commit_latency_ns");
		e->u64(a, "count", run);
		e->u64(a, "sum", s->node.commit_lat_sum_ns);
		for (uint32_t k = 0; k < DP_LAT_QUANTILES; k++)
			e->u64(a, lat_quantile_names[k],
			       dp_lat_quantile(s->node.commit_lat, NODE_LAT_BUCKETS, lat_quantiles[k]));
		e->end(a);
		e->array(a, "commit_latency_ns_buckets", cum, NODE_LAT_BUCKETS);
	}
#undef ON
#undef F
}

/* JSON text into a buffer: at most cap bytes; n counts what would have been written. */
struct jw {
	char *buf;
	uint32_t cap, n;
	bool first;
};

__attribute__((format(printf, 2, 3))) static void jw_put(struct jw *w, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	uint32_t room = w->n < w->cap ? w->cap - w->n : 0;
	int k = vsnprintf(room ? w->buf + w->n : NULL, room, fmt, ap);
	va_end(ap);
	if (k > 0)
		w->n += (uint32_t)k;
}

static void jw_key(struct jw *w, const char *name)
{
	jw_put(w, "%s\"%s\":", w->first ? "" : ",", name);
	w->first = false;
}

static void jw_u64(void *arg, const char *name, uint64_t v)
{
	jw_key(arg, name);
	jw_put(arg, "%" PRIu64, v);
}

static void jw_i64(void *arg, const char *name, int64_t v)
{
	jw_key(arg, name);
	jw_put(arg, "%" PRId64, v);
}

static void jw_str(void *arg, const char *name, const char *v)
{
	jw_key(arg, name);   /* v: a role name or hex digits, nothing to escape */
	jw_put(arg, "\"%s\"", v);
}

static void jw_begin(void *arg, const char *dict)
{
	struct jw *w = arg;
	jw_key(w, dict);
	jw_put(w, "{");
	w->first = true;
}

static void jw_end(void *arg)
{
	struct jw *w = arg;
	jw_put(w, "}");
	w->first = false;
}

static void jw_array(void *arg, const char *name, const uint64_t *v, uint32_t n)
{
	struct jw *w = arg;
	jw_key(w, name);
	jw_put(w, "[");
	for (uint32_t i = 0; i < n; i++)
		jw_put(w, "%s%" PRIu64, i ? "," : "", v[i]);
	jw_put(w, "]");
}

uint32_t dp_metrics_json(const struct dp_snap *s, uint32_t groups, const char *head,
			 char *buf, uint32_t cap)
{
	struct jw w = { .buf = buf, .cap = cap, .n = 0, .first = true };
	const struct dp_emit e = {
		.arg = &w, .u64 = jw_u64, .i64 = jw_i64, .str = jw_str,
		.begin = jw_begin, .end = jw_end, .array = jw_array,
	};
	if (cap > 0)
		buf[0] = '\0';
	jw_put(&w, "{%s", head != NULL ? head : "");
	dp_metrics_walk(s, groups, &e);
	jw_put(&w, "}");
	return w.n;
}

const uint32_t dp_admin_pages[DP_ADMIN_PAGES] = {
	(1u << DP_MG_NIC) | (1u << DP_MG_NIC_DROPS) | (1u << DP_MG_PX) |
		(1u << DP_MG_PX_DROPS) | (1u << DP_MG_JOURNAL) | (1u << DP_MG_LATENCY),
	(1u << DP_MG_DECODE_DROPS) | (1u << DP_MG_AUTH_DROPS) | (1u << DP_MG_AUTH) |
		(1u << DP_MG_MSGS_IN) | (1u << DP_MG_DP),
	(1u << DP_MG_APPLY) | (1u << DP_MG_TRANSFER),
};

uint32_t dp_metrics_admin_len_max(void)
{
	static char buf[DP_STATS_LINE_BYTES];
	struct dp_snap s;
	uint32_t worst = 0;
	/* Every counter at its largest (20 digits), each role name, durable mode. */
	memset(&s, 0xff, sizeof(s));
	s.leader = PX_REPLICAS_MAX - 1u;
	uint32_t all = 0;
	for (uint32_t p = 0; p < DP_ADMIN_PAGES; p++)
		all |= dp_admin_pages[p];
	assert(all == DP_MG_ALL);   /* every group is on some page */
	for (uint32_t p = 0; p < DP_ADMIN_PAGES; p++)
		for (uint64_t role = PX_FOLLOWER; role <= PX_RECOVERING; role++) {
			s.role = role;
			uint32_t n = dp_metrics_json(&s, dp_admin_pages[p], NULL, buf, sizeof(buf));
			worst = n > worst ? n : worst;
		}
	return worst;
}

uint32_t dp_metrics_line_len_max(void)
{
	static char buf[2u * DP_STATS_LINE_BYTES];
	static const char head[] = "\"final\":true,\"apply_chain\":18446744073709551615,"
				   "\"service_hash\":18446744073709551615,";
	struct dp_snap s;
	uint32_t worst = 0;
	memset(&s, 0xff, sizeof(s));
	s.leader = PX_REPLICAS_MAX - 1u;
	for (uint64_t role = PX_FOLLOWER; role <= PX_RECOVERING; role++) {
		s.role = role;
		uint32_t n = dp_metrics_json(&s, DP_MG_ALL, head, buf, sizeof(buf));
		worst = n > worst ? n : worst;
	}
	return worst;
}

void dp_stats_print(struct dp_ctx *d, FILE *f, uint64_t now_ns, bool final)
{
	/* Holds the longest line (checked at start: dp_metrics_line_len_max). */
	static char buf[DP_STATS_LINE_BYTES];
	char head[128];
	struct dp_snap s;

	d->c.stats_lines++;
	dp_snap_fill(d, now_ns, &s);
	/* The last line says what state this replica stopped in, for comparing replicas:
	 * the applier's chain (the applied log) and the service's own hash (its state, as
	 * far as the service hashes it; O(state), so only here). */
	if (final)
		snprintf(head, sizeof(head),
			 "\"final\":true,\"apply_chain\":%" PRIu64 ",\"service_hash\":%" PRIu64 ",",
			 px_applier_chain(node_applier(d->nd)), d->svc.hash(d->svc.ctx));
	else
		snprintf(head, sizeof(head), "\"final\":false,");
	uint32_t n = dp_metrics_json(&s, DP_MG_ALL, head, buf, sizeof(buf));
	if (n >= sizeof(buf)) {
		dp_log(d, DP_LOG_ERROR, "the stats line needs %u bytes, over %zu: a bug", n,
		       sizeof(buf));
		return;
	}
	fprintf(f, "%s\n", buf);
	if (d->rm != NULL) {
		/* One-sided log writes (docs/rdma.md, "Counters"): a line of their own
		 * ("at_exit", not "final": tools take the one "final" line as the state). */
		const struct node_rm_counters *c = node_rm_counters(d->nd);
		const struct rm_stats *rs = rm_stats(d->rm);
		fprintf(f, "{\"rm\":{\"at_exit\":%s,\"writes\":%" PRIu64 ",\"write_bytes\":%" PRIu64
			",\"inline_writes\":%" PRIu64 ",\"completions\":%" PRIu64 ",\"counted\":%" PRIu64 ",\"write_errors\":%" PRIu64
			",\"fallback\":%" PRIu64 ",\"reads\":%" PRIu64 ",\"hellos\":%" PRIu64
			",\"grants_in\":%" PRIu64 ",\"grants\":%" PRIu64 ",\"revokes\":%" PRIu64
			",\"revoke_failed\":%" PRIu64 ",\"records\":%" PRIu64 ",\"record_bytes\":%" PRIu64
			",\"torn\":%" PRIu64 ",\"record_drops\":%" PRIu64 ",\"setup_drops\":%" PRIu64
			",\"errors\":%" PRIu64 ",\"quiet_acks\":%" PRIu64 ",\"wc_rem_access\":%" PRIu64 ",\"wc_retry_exc\":%" PRIu64
			",\"wc_flush\":%" PRIu64 "}}\n",
			final ? "true" : "false", c->writes, c->write_bytes, c->inline_writes, c->completions, c->counted,
			c->write_errors, c->fallback, c->reads, c->hellos, c->grants_in, c->grants,
			c->revokes, c->revoke_failed, c->records, c->record_bytes, c->torn,
			c->record_drops, c->setup_drops, c->errors, c->quiet_acks, rs->wc_rem_access, rs->wc_retry_exc,
			rs->wc_flush);
	}
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
	struct px_uuid u = node_uuid(d->nd);
	s->uuid_hi = u.hi;
	s->uuid_lo = u.lo;
	const struct px_membership *ms = px_membership(d->r);
	s->config_epoch = ms->cur.epoch;
	s->voters = ms->cur.voters;
	s->learners = ms->cur.learners;
	s->auth_on = d->cfg->auth_off ? 0u : 1u;
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
