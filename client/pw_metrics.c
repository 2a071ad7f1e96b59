/* SPDX-License-Identifier: Apache-2.0
 * The members' metrics in the Prometheus text format (pw_metrics.h). A replica answers
 * PX_ADMIN_STATS with one JSON object per page (dataplane/dp_stats.c, dp_metrics_walk;
 * docs/metrics.md): identity fields (numbers and two strings), flat dicts of u64 by
 * group, and the latency histogram as a dict and an array. This file parses exactly that
 * shape and renders it; the table below gives every metric its type, unit and help.
 */
#include "pw_metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------- */
/* The schema: every JSON key a replica sends, its Prometheus type and meaning          */

/** One metric (or labeled family) of docs/metrics.md. key: "name" (identity field),
 *  "group.name", or "group" for a family labeled by reason/type. prom: the Prometheus
 *  name when it is not paxwire_<key> (dots as underscores; counters add _total).
 *  scale: the value is multiplied by it (ms and ns to seconds). */
struct pwm_def {
	const char *key;
	char type;             /**< 'c' counter, 'g' gauge */
	const char *prom;
	double scale;
	const char *help;
};

#define C(k, h) { k, 'c', NULL, 0, h },
#define G(k, h) { k, 'g', NULL, 0, h },
static const struct pwm_def defs[] = {
	/* Identity and state */
	{ "t_ms", 'g', "paxwire_uptime_seconds", 1e-3, "seconds since the replica's loop started" },
	G("leader", "the member this replica takes for the leader; -1: none known")
	G("ballot_round", "the round of the highest ballot promised")
	G("ballot_node", "the node of the highest ballot promised")
	G("commit", "the highest slot known chosen (the commit point)")
	G("applied", "the highest slot applied to the service")
	G("last_slot", "the highest slot held in the log")
	G("state_transfer_needed", "1 while this replica needs a snapshot from a peer to catch up")
	G("config_epoch", "the epoch of the membership in force")
	G("voters", "bit mask of the voting members (bit j: replica j)")
	G("learners", "bit mask of the learners (bit j: replica j)")
	G("auth_on", "1 if the cluster authenticates its datagrams")
	/* nic: the ports' counters, summed */
	C("nic.rx_pkts", "datagrams received")
	C("nic.rx_bytes", "bytes of datagrams received")
	C("nic.rx_polls", "receive polls")
	C("nic.rx_bursts", "receive polls that returned datagrams")
	C("nic.rx_holds", "datagrams held past their burst until their command was proposed")
	C("nic.rx_hold_full", "holds refused: the port held its most already")
	C("nic.tx_pkts", "datagrams sent")
	C("nic.tx_bytes", "bytes of datagrams sent")
	C("nic.tx_flushes", "transmit flushes that had something to send")
	C("nic.waits", "idle waits for a readable port")
	C("nic.wakeups", "idle waits that found something readable")
	C("nic.arp_replies", "DPDK: ARP requests for our address answered")
	C("nic.icmp_replies", "DPDK: ICMP echo requests answered")
	C("nic.ctl_tx_drops", "DPDK: those replies the NIC refused")
	C("nic.link_restarts", "memif: ports restarted to reconnect a lost link")
	C("nic_drops", "datagrams dropped by the port, by reason")
	C("decode_drops", "datagrams dropped by the decoder, by reason")
	C("auth_drops", "datagrams dropped by authentication, by reason")
	C("msgs_in", "messages decoded, by type")
	C("px_drops", "messages dropped by the consensus core, by reason")
	/* auth */
	C("auth.lives", "client lives taken into the authentication table")
	C("auth.evictions", "client lives evicted to make room")
	C("auth.reply_lost", "replies not sent: the client's life was evicted since")
	C("auth.challenges", "client datagrams answered with a challenge, not acted on")
	C("auth.owner_other", "requests of a session another key registered")
	/* dp: the loop and the node */
	C("dp.iterations", "poll loop iterations")
	C("dp.ticks_skipped", "ticks skipped after a stall of the loop")
	C("dp.idle_sleeps", "adaptive idle: sleeps in poll()")
	C("dp.steps", "messages given to the consensus core")
	C("dp.requests", "client requests decoded")
	C("dp.duplicates", "client requests already queued: dropped")
	C("dp.proposed", "commands proposed")
	C("dp.flushes", "flushes that proposed commands")
	G("dp.batch_max", "the most commands one flush proposed")
	C("dp.replies", "replies of applied commands sent")
	C("dp.not_leader", "requests answered NOT_LEADER")
	C("dp.busy", "requests answered BUSY (pipeline or queue full)")
	C("dp.reply_no_addr", "replies for a client whose address is unknown")
	C("dp.unexpected", "replies sent to a replica: dropped")
	C("dp.tx_no_buf", "datagrams not sent for want of a buffer or an address")
	C("dp.ticks", "ticks run")
	C("dp.role_changes", "changes of this replica's role")
	C("dp.reads_index", "reads served by read index (no log slot)")
	C("dp.reads_logged", "reads sent through the log")
	C("dp.reads_failed", "held reads answered NOT_LEADER (leadership lost)")
	C("dp.admin", "admin requests answered")
	C("dp.registers", "session registrations queued")
	C("dp.bad_requests", "requests that are no command, answered BAD_COMMAND")
	C("dp.persists", "persist requests handed to the journal")
	C("dp.client_evictions", "client addresses overwritten in the table")
	C("dp.uuid_other", "peer messages of another cluster's uuid: dropped")
	C("dp.fresh_refused", "fresh-marked messages of a known member: refused")
	C("dp.refuse_in", "REFUSE messages received")
	C("dp.binds_proposed", "uuid binds proposed as leader")
	C("dp.members_proposed", "member masks proposed as leader")
	C("dp.conf_proposed", "membership changes proposed here")
	C("dp.promotions", "learners this leader proposed to promote")
	/* px: the consensus core */
	C("px.elections_started", "elections started")
	C("px.prevotes_started", "pre-votes started")
	C("px.leaderships_won", "elections won")
	C("px.stepdowns_check_quorum", "leaderships given up for want of a quorum")
	C("px.proposals", "slots proposed")
	C("px.commands_proposed", "commands proposed")
	C("px.commits", "slots committed (chosen, known here)")
	C("px.catchup_entries_sent", "log entries re-sent to lagging followers")
	C("px.state_transfer_needed", "times this replica found it needs a state transfer")
	C("px.recoveries_completed", "recoveries completed after a restart")
	C("px.transfers", "leadership transfers started")
	C("px.read_tickets", "read tickets handed out")
	C("px.read_refused", "reads refused a ticket")
	C("px.read_rounds", "leadership confirmation rounds started")
	C("px.read_confirms", "rounds confirmed by a majority")
	C("px.incarnation_adopted", "newer incarnations of this replica adopted")
	C("px.incarnation_told", "NACKs telling a peer of its newer incarnation")
	C("px.conf_chosen", "configuration entries committed that took")
	C("px.conf_void", "configuration entries committed that were void")
	C("px.conf_switches", "configurations that took effect here")
	C("px.suspicions", "times the failure detector came to suspect the leader")
	/* apply: the applier */
	C("apply.slots", "slots applied (no-ops included)")
	C("apply.commands", "commands passed to the service")
	C("apply.duplicates", "retried commands answered from the session's cache")
	C("apply.stale", "commands behind their session's window: SESSION_EXPIRED")
	C("apply.expired", "commands of an evicted session: SESSION_EXPIRED")
	C("apply.evictions", "sessions evicted to make room")
	C("apply.noops", "slots with no command")
	C("apply.bad_seq", "commands with seq 0 and a body: BAD_COMMAND")
	C("apply.reads", "read commands run outside the log")
	C("apply.registrations", "sessions created")
	C("apply.unissued", "commands of a session id not issued yet: SESSION_EXPIRED")
	C("apply.binds", "binds applied that set the cluster uuid")
	C("apply.binds_late", "binds applied after the uuid was set")
	C("apply.members_grown", "member masks applied that added a member")
	C("apply.gaps_filled", "commands applied below their session's last seq")
	C("apply.replies_lost", "duplicates whose reply the cache no longer held")
	G("apply.sessions", "client sessions held")
	/* transfer: snapshots and state transfer */
	C("transfer.snapshots_taken", "snapshots taken")
	{ "transfer.snapshot_ns_last", 'g', "paxwire_transfer_snapshot_seconds_last", 1e-9,
	  "how long the last snapshot stopped the loop" },
	{ "transfer.snapshot_ns_max", 'g', "paxwire_transfer_snapshot_seconds_max", 1e-9,
	  "the longest such pause" },
	G("transfer.snapshot_bytes_last", "bytes of the last snapshot")
	C("transfer.snapshots_saved", "snapshots saved to disk")
	C("transfer.st_started", "state transfers begun")
	C("transfer.st_installed", "snapshots installed")
	C("transfer.st_chunks_in", "snapshot chunks received")
	C("transfer.st_bytes_in", "snapshot bytes received")
	C("transfer.st_chunks_out", "snapshot chunks served")
	C("transfer.st_bytes_out", "snapshot bytes served")
	C("transfer.st_requests_out", "snapshot chunk requests sent")
	C("transfer.st_refused", "snapshot requests answered SNAP_NONE")
	C("transfer.st_throttled", "snapshot requests not answered: this tick's budget spent")
	C("transfer.st_none_in", "SNAP_NONE answers received")
	C("transfer.st_bad_chunk", "chunks dropped: not of the snapshot fetched")
	C("transfer.st_late_chunks", "chunks dropped: no transfer under way")
	C("transfer.st_hash_mismatch", "whole snapshots whose hash disagreed")
	C("transfer.st_restore_failed", "snapshots the applier refused")
	C("transfer.st_stale", "snapshots too old to install when complete")
	C("transfer.st_source_switches", "times another replica was asked")
	C("transfer.st_misaddressed", "snapshot messages for another replica: dropped")
	/* journal: durable mode only */
	C("journal.records", "journal records written")
	C("journal.bytes", "journal bytes written")
	C("journal.syncs", "fdatasync calls")
	C("journal.drains", "journal drains (one write and one sync each)")
	C("journal.ring_full_waits", "times the loop waited for journal ring space")
	G("journal.max_drain_bytes", "the most bytes one drain wrote")
	G("journal.segments", "journal segment files")
	G("journal.sync_seq", "the last persist request handed to the journal")
	G("journal.persisted_seq", "the last persist request made durable")
};
#undef C
#undef G

#define LAT_HELP "the leader's propose-to-commit latency of its slots"

static const struct pwm_def *def_of(const char *key)
{
	for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
		if (strcmp(defs[i].key, key) == 0)
			return &defs[i];
	return NULL;
}

/** The families labeled by their dict's keys, and the label's name. */
static const char *label_of(const char *group)
{
	if (strcmp(group, "msgs_in") == 0)
		return "type";
	if (strcmp(group, "nic_drops") == 0 || strcmp(group, "decode_drops") == 0 ||
	    strcmp(group, "auth_drops") == 0 || strcmp(group, "px_drops") == 0)
		return "reason";
	return NULL;
}

/* ---------------------------------------------------------------------------------- */
/* Samples                                                                             */

#define KEY_BYTES 64u
#define STR_BYTES 48u

struct sample {
	unsigned member;
	char fam[2u * KEY_BYTES];  /**< "commit", "nic.rx_pkts", "nic_drops", ... */
	char label[KEY_BYTES];    /**< a labeled family's key; a histogram's field */
	int idx;                  /**< an array's index; -1 */
	bool is_str, neg;
	uint64_t v;
	char s[STR_BYTES];
};

struct pwm_set {
	struct sample *s;
	size_t n, cap;
	bool answered[PW_MEMBERS_MAX];
	bool asked[PW_MEMBERS_MAX];
};

struct pwm_set *pwm_new(void)
{
	return calloc(1, sizeof(struct pwm_set));
}

void pwm_free(struct pwm_set *m)
{
	if (m != NULL)
		free(m->s);
	free(m);
}

static struct sample *push(struct pwm_set *m)
{
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2u : 512u;
		struct sample *s = realloc(m->s, cap * sizeof(*s));
		if (s == NULL)
			return NULL;
		m->s = s;
		m->cap = cap;
	}
	struct sample *x = &m->s[m->n++];
	memset(x, 0, sizeof(*x));
	x->idx = -1;
	return x;
}

/* ---------------------------------------------------------------------------------- */
/* The JSON of a page: { "k": number | "string" | { "k": number, ... } | [ number, ... ] } */

struct jp {
	const char *p;
	char *err;
	size_t errlen;
	bool failed;
};

static void jp_fail(struct jp *j, const char *what)
{
	if (!j->failed)
		snprintf(j->err, j->errlen, "metrics JSON: %s at \"%.20s\"", what, j->p);
	j->failed = true;
}

static void ws(struct jp *j)
{
	while (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r')
		j->p++;
}

static bool lit(struct jp *j, char c)
{
	ws(j);
	if (*j->p != c)
		return false;
	j->p++;
	return true;
}

static bool str(struct jp *j, char *out, size_t cap)
{
	size_t n = 0;
	if (!lit(j, '"')) {
		jp_fail(j, "a string expected");
		return false;
	}
	while (*j->p != '"') {
		if (*j->p == '\0' || *j->p == '\\' || n + 1u >= cap) {
			jp_fail(j, "a short plain string expected");
			return false;
		}
		out[n++] = *j->p++;
	}
	out[n] = '\0';
	j->p++;
	return true;
}

static bool num(struct jp *j, bool *neg, uint64_t *v)
{
	ws(j);
	*neg = *j->p == '-';
	if (*neg)
		j->p++;
	if (*j->p < '0' || *j->p > '9') {
		jp_fail(j, "a number expected");
		return false;
	}
	errno = 0;
	char *end;
	*v = strtoull(j->p, &end, 10);
	if (errno != 0) {
		jp_fail(j, "a number out of range");
		return false;
	}
	j->p = end;
	return true;
}

/** Whether member already has a sample of family fam. */
static bool member_has(const struct pwm_set *m, unsigned member, const char *fam)
{
	for (size_t k = 0; k < m->n; k++)
		if (m->s[k].member == member && strcmp(m->s[k].fam, fam) == 0)
			return true;
	return false;
}

int pwm_add_json(struct pwm_set *m, unsigned member, const char *json, char *err,
		 size_t errlen)
{
	struct jp j = { .p = json, .err = err, .errlen = errlen };
	char key[KEY_BYTES], sub[KEY_BYTES];

	if (member >= PW_MEMBERS_MAX) {
		snprintf(err, errlen, "member %u out of range", member);
		return -1;
	}
	if (!lit(&j, '{')) {
		jp_fail(&j, "an object expected");
		return -1;
	}
	bool first = true;
	while (!j.failed && !lit(&j, '}')) {
		if (!first && !lit(&j, ',')) {
			jp_fail(&j, "',' expected");
			break;
		}
		first = false;
		if (!str(&j, key, sizeof(key)) || !lit(&j, ':')) {
			jp_fail(&j, "':' expected");
			break;
		}
		ws(&j);
		if (*j.p == '{') {              /* a group: a flat dict of numbers */
			j.p++;
			bool f2 = true;
			while (!j.failed && !lit(&j, '}')) {
				if (!f2 && !lit(&j, ',')) {
					jp_fail(&j, "',' expected");
					break;
				}
				f2 = false;
				struct sample *x = push(m);
				if (x == NULL) {
					jp_fail(&j, "out of memory");
					break;
				}
				if (!str(&j, sub, sizeof(sub)) || !lit(&j, ':') ||
				    !num(&j, &x->neg, &x->v)) {
					jp_fail(&j, "a number expected");
					break;
				}
				x->member = member;
				if (label_of(key) != NULL || strcmp(key, "commit_latency_ns") == 0) {
					snprintf(x->fam, sizeof(x->fam), "%s", key);
					snprintf(x->label, sizeof(x->label), "%s", sub);
				} else {
					snprintf(x->fam, sizeof(x->fam), "%s.%s", key, sub);
				}
			}
		} else if (*j.p == '[') {       /* an array of numbers */
			j.p++;
			int i = 0;
			while (!j.failed && !lit(&j, ']')) {
				if (i > 0 && !lit(&j, ',')) {
					jp_fail(&j, "',' expected");
					break;
				}
				struct sample *x = push(m);
				if (x == NULL || !num(&j, &x->neg, &x->v)) {
					jp_fail(&j, "a number expected");
					break;
				}
				x->member = member;
				x->idx = i++;
				snprintf(x->fam, sizeof(x->fam), "%s", key);
			}
		} else if (member_has(m, member, key)) {
			/* An identity field again (every page has them): the first one stands. */
			bool neg;
			uint64_t v;
			char s[STR_BYTES];
			if (*j.p == '"' ? !str(&j, s, sizeof(s)) : !num(&j, &neg, &v))
				break;
		} else if (*j.p == '"') {
			struct sample *x = push(m);
			if (x == NULL || !str(&j, x->s, sizeof(x->s)))
				break;
			x->member = member;
			x->is_str = true;
			snprintf(x->fam, sizeof(x->fam), "%s", key);
		} else {
			struct sample *x = push(m);
			if (x == NULL || !num(&j, &x->neg, &x->v))
				break;
			x->member = member;
			snprintf(x->fam, sizeof(x->fam), "%s", key);
			if (strcmp(key, "id") == 0 && (x->neg || x->v != member)) {
				snprintf(err, errlen, "member %u answered as id %s%" PRIu64, member,
					 x->neg ? "-" : "", x->v);
				return -1;
			}
		}
	}
	if (j.failed)
		return -1;
	m->answered[member] = true;
	return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Collecting                                                                          */

/** Pages a replica gives at most (it answers BAD_COMMAND past its last one). */
#define PWM_PAGES_MAX 16u

unsigned pwm_collect(struct pwm_set *m, struct pw_client *c, FILE *errf)
{
	unsigned ok = 0;
	for (uint8_t i = 0; i < pw_client_members(c) && i < PW_MEMBERS_MAX; i++) {
		if (pw_client_member_addr(c, i) == NULL)
			continue;
		m->asked[i] = true;
		size_t before = m->n;
		bool good = true;
		for (uint8_t page = 0; page < PWM_PAGES_MAX; page++) {
			char js[PW_REPLY_BYTES_MAX + 1], err[160];
			size_t jl = 0;
			int rc = pw_member_stats_page(c, i, page, js, sizeof(js), &jl);
			if (rc == PW_E_BAD_COMMAND && page > 0)
				break;   /* past its last page */
			if (rc != PW_OK) {
				if (errf != NULL)
					fprintf(errf, "member %u: %s\n", (unsigned)i, pw_strerror(rc));
				good = false;
				break;
			}
			if (pwm_add_json(m, i, js, err, sizeof(err)) != 0) {
				if (errf != NULL)
					fprintf(errf, "member %u: %s\n", (unsigned)i, err);
				good = false;
				break;
			}
		}
		if (!good) {          /* all of a member or nothing of it */
			m->n = before;
			m->answered[i] = false;
			continue;
		}
		ok++;
	}
	return ok;
}

/* ---------------------------------------------------------------------------------- */
/* Writing                                                                             */

/** The Prometheus name of a family key (no _total). */
static void prom_name(const char *fam, const struct pwm_def *d, char *out, size_t cap)
{
	if (d != NULL && d->prom != NULL) {
		snprintf(out, cap, "%s", d->prom);
		return;
	}
	size_t n = (size_t)snprintf(out, cap, "paxwire_%s", fam);
	for (size_t k = 0; k < n && k < cap; k++)
		if (out[k] == '.')
			out[k] = '_';
}

static void put_value(FILE *f, const struct sample *x, double scale)
{
	if (scale != 0)
		fprintf(f, "%.9g\n", (double)x->v * scale * (x->neg ? -1.0 : 1.0));
	else
		fprintf(f, "%s%" PRIu64 "\n", x->neg ? "-" : "", x->v);
}

/** The identity strings of member i as labels of paxwire_member_info. */
static void write_info(const struct pwm_set *m, FILE *f)
{
	fprintf(f, "# HELP paxwire_member_info a replica's identity: cluster, uuid and role (value 1)\n"
		   "# TYPE paxwire_member_info gauge\n");
	for (unsigned i = 0; i < PW_MEMBERS_MAX; i++) {
		if (!m->answered[i])
			continue;
		const char *role = "?", *uuid = "?";
		uint64_t cluster = 0;
		for (size_t k = 0; k < m->n; k++) {
			const struct sample *x = &m->s[k];
			if (x->member != i)
				continue;
			if (x->is_str && strcmp(x->fam, "role") == 0)
				role = x->s;
			else if (x->is_str && strcmp(x->fam, "cluster_uuid") == 0)
				uuid = x->s;
			else if (!x->is_str && strcmp(x->fam, "cluster") == 0)
				cluster = x->v;
		}
		fprintf(f, "paxwire_member_info{member=\"%u\",cluster=\"%" PRIu64
			"\",cluster_uuid=\"%s\",role=\"%s\"} 1\n", i, cluster, uuid, role);
	}
}

static void write_latency(const struct pwm_set *m, FILE *f)
{
	fprintf(f, "# HELP paxwire_commit_latency_seconds " LAT_HELP "\n"
		   "# TYPE paxwire_commit_latency_seconds histogram\n");
	for (unsigned i = 0; i < PW_MEMBERS_MAX; i++) {
		uint64_t count = 0, sum = 0;
		bool any = false;
		for (size_t k = 0; k < m->n; k++) {
			const struct sample *x = &m->s[k];
			if (x->member != i)
				continue;
			if (strcmp(x->fam, "commit_latency_ns_buckets") == 0) {
				any = true;
				/* Bucket b: commits of at most 2^(b+1) - 1 ns; the last one: all. */
				if (x->idx + 1 < 32)
					fprintf(f, "paxwire_commit_latency_seconds_bucket{member=\"%u\",le=\"%.9g\"} %" PRIu64 "\n",
						i, (double)((UINT64_C(1) << (x->idx + 1)) - 1u) * 1e-9, x->v);
			} else if (strcmp(x->fam, "commit_latency_ns") == 0) {
				if (strcmp(x->label, "count") == 0)
					count = x->v;
				else if (strcmp(x->label, "sum") == 0)
					sum = x->v;
			}
		}
		if (!any)
			continue;
		fprintf(f, "paxwire_commit_latency_seconds_bucket{member=\"%u\",le=\"+Inf\"} %" PRIu64 "\n"
			   "paxwire_commit_latency_seconds_sum{member=\"%u\"} %.9g\n"
			   "paxwire_commit_latency_seconds_count{member=\"%u\"} %" PRIu64 "\n",
			i, count, i, (double)sum * 1e-9, i, count);
	}
	fprintf(f, "# HELP paxwire_commit_latency_quantile_seconds " LAT_HELP
		   ", quantiles estimated from the histogram\n"
		   "# TYPE paxwire_commit_latency_quantile_seconds gauge\n");
	static const struct { const char *field, *q; } qs[] = {
		{ "p50", "0.5" }, { "p90", "0.9" }, { "p99", "0.99" }, { "p999", "0.999" },
	};
	for (unsigned i = 0; i < PW_MEMBERS_MAX; i++)
		for (size_t q = 0; q < sizeof(qs) / sizeof(qs[0]); q++)
			for (size_t k = 0; k < m->n; k++) {
				const struct sample *x = &m->s[k];
				if (x->member == i && strcmp(x->fam, "commit_latency_ns") == 0 &&
				    strcmp(x->label, qs[q].field) == 0)
					fprintf(f, "paxwire_commit_latency_quantile_seconds{member=\"%u\",q=\"%s\"} %.9g\n",
						i, qs[q].q, (double)x->v * 1e-9);
			}
}

void pwm_write(const struct pwm_set *m, FILE *f)
{
	char name[2u * KEY_BYTES + 16u];

	fprintf(f, "# HELP paxwire_member_up 1 if the member answered every page of its metrics\n"
		   "# TYPE paxwire_member_up gauge\n");
	for (unsigned i = 0; i < PW_MEMBERS_MAX; i++)
		if (m->asked[i] || m->answered[i])
			fprintf(f, "paxwire_member_up{member=\"%u\"} %d\n", i, m->answered[i] ? 1 : 0);
	write_info(m, f);
	bool latency_done = false;
	for (size_t k = 0; k < m->n; k++) {
		const struct sample *x = &m->s[k];
		/* Each family once: at its first sample. */
		bool seen = false;
		for (size_t e = 0; e < k && !seen; e++)
			seen = strcmp(m->s[e].fam, x->fam) == 0;
		if (seen || x->is_str || strcmp(x->fam, "id") == 0 || strcmp(x->fam, "cluster") == 0)
			continue;
		if (strncmp(x->fam, "commit_latency_ns", 17) == 0) {
			if (!latency_done)
				write_latency(m, f);
			latency_done = true;
			continue;
		}
		const struct pwm_def *d = def_of(x->fam);
		const char *label = label_of(x->fam);
		prom_name(x->fam, d, name, sizeof(name));
		const char *type = d == NULL ? "untyped" : d->type == 'c' ? "counter" : "gauge";
		const char *total = d != NULL && d->type == 'c' ? "_total" : "";
		fprintf(f, "# HELP %s%s %s\n# TYPE %s%s %s\n", name, total,
			d != NULL ? d->help : "not in pwctl's table (docs/metrics.md)", name, total, type);
		for (size_t e = k; e < m->n; e++) {
			const struct sample *y = &m->s[e];
			if (strcmp(y->fam, x->fam) != 0)
				continue;
			if (label != NULL)
				fprintf(f, "%s%s{member=\"%u\",%s=\"%s\"} ", name, total, y->member, label,
					y->label);
			else
				fprintf(f, "%s%s{member=\"%u\"} ", name, total, y->member);
			put_value(f, y, d != NULL ? d->scale : 0);
		}
	}
}
