/* SPDX-License-Identifier: Apache-2.0
 * paxwired's output: one JSON line of counters (periodic, on SIGUSR1, and at exit) to
 * stdout, and log lines to stderr. Off the per-packet path.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

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
