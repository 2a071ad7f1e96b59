/* SPDX-License-Identifier: Apache-2.0
 * DPDK builds, transport = dpdk: paxwired's counters as DPDK telemetry commands
 * (dpdk-telemetry.py, Telegraf's dpdk input, ...) on the EAL's telemetry socket
 * (/var/run/dpdk/<file-prefix>/dpdk_telemetry.v2):
 *   /paxwire/stats  every field of the JSON stats line (dp_stats_print), one dict;
 *                   nested groups one level deep (DPDK 22.11 telemetry nests no deeper),
 *                   so nic.drops and px.drops are the dicts nic_drops and px_drops;
 *                   durable mode adds the dict journal.
 *   /paxwire/role   id, role, leader, ballot.
 * The callbacks run on DPDK's telemetry thread: they never touch the loop's state, only
 * the snapshot the loop publishes through the seqlock of struct dp_pub (dp_stats.c).
 */
#include <errno.h>
#include <stdatomic.h>
#include <time.h>

#include <rte_telemetry.h>

#include "dp_pvt.h"

/* The snapshot the loop publishes; set once by dp_telemetry_register, before the
 * loop starts, and never freed (the EAL's thread may call us until the process exits). */
static struct dp_pub *g_pub;

/** A fresh snapshot waits at most this long (the loop sleeps at most one tick, and
 *  publishes every DP_PUB_INTERVAL_NS regardless); after that the last one is used. */
#define DP_TEL_WAIT_STEPS 200u
#define DP_TEL_WAIT_STEP_NS 1000000L

/** Asks the loop for a fresh snapshot, waits for it (bounded), and reads it. */
static int snap_get(struct dp_snap *s)
{
	struct dp_pub *p = g_pub;
	if (p == NULL)
		return -ENODEV;
	/* relaxed: only compared with later values of seq below; the snapshot's
	 * ordering comes from dp_pub_read's own acquire pairs. */
	uint_fast64_t q0 = atomic_load_explicit(&p->seq, memory_order_relaxed);
	atomic_store_explicit(&p->want, true, memory_order_relaxed);
	for (unsigned i = 0; i < DP_TEL_WAIT_STEPS; i++) {
		uint_fast64_t q = atomic_load_explicit(&p->seq, memory_order_relaxed);
		if (q != q0 && !(q & 1u))
			break;
		struct timespec ts = { .tv_sec = 0, .tv_nsec = DP_TEL_WAIT_STEP_NS };
		nanosleep(&ts, NULL);
	}
	return dp_pub_read(p, s) ? 0 : -EAGAIN;
}

#define ADD_U64(t, s, f) rte_tel_data_add_dict_u64((t), #f, (s)->f)

static void add_head(struct rte_tel_data *t, const struct dp_snap *s)
{
	rte_tel_data_add_dict_u64(t, "id", s->self);
	rte_tel_data_add_dict_u64(t, "cluster", s->cluster);
	rte_tel_data_add_dict_u64(t, "t_ms", s->t_ms);
	rte_tel_data_add_dict_string(t, "role", px_role_name((enum px_role)s->role));
	/* -1: no leader known (the JSON line's null) */
	rte_tel_data_add_dict_int(t, "leader", s->leader == PX_NODE_NONE ? -1 : (int)s->leader);
	rte_tel_data_add_dict_u64(t, "ballot", (s->ballot_round << 8) | s->ballot_node);
	ADD_U64(t, s, ballot_round);
	ADD_U64(t, s, ballot_node);
}

/** Every command's start: a fresh snapshot, a dict, and the identity fields. */
static int begin_dict(struct rte_tel_data *t, struct dp_snap *s)
{
	int r = snap_get(s);
	if (r != 0)
		return r;
	rte_tel_data_start_dict(t);
	add_head(t, s);
	return 0;
}

static int cb_role(const char *cmd, const char *params, struct rte_tel_data *t)
{
	(void)cmd;
	(void)params;
	struct dp_snap s;
	int r = begin_dict(t, &s);
	if (r != 0)
		return r;
	return 0;
}

/** A nested dict, or NULL (then the group is left out). */
static struct rte_tel_data *dict_new(void)
{
	struct rte_tel_data *c = rte_tel_data_alloc();
	if (c != NULL)
		rte_tel_data_start_dict(c);
	return c;
}

/** Adds c to t as name; t owns it from here (keep = 0: freed with t). */
static void dict_put(struct rte_tel_data *t, const char *name, struct rte_tel_data *c)
{
	if (c != NULL && rte_tel_data_add_dict_container(t, name, c, 0) != 0)
		rte_tel_data_free(c);
}

static int cb_stats(const char *cmd, const char *params, struct rte_tel_data *t)
{
	(void)cmd;
	(void)params;
	struct dp_snap s;
	int r = begin_dict(t, &s);
	if (r != 0)
		return r;
	ADD_U64(t, &s, commit);
	ADD_U64(t, &s, applied);
	ADD_U64(t, &s, last_slot);
	rte_tel_data_add_dict_int(t, "state_transfer_needed", s.state_transfer_needed != 0);

	struct rte_tel_data *c;
#define F(field) rte_tel_data_add_dict_u64(c, #field, grp->field);
	c = dict_new();
	if (c != NULL) {
		const struct nic_stats *grp = &s.nic;
		DP_NIC_FIELDS(F)
	}
	dict_put(t, "nic", c);
	c = dict_new();
	for (int i = 0; c != NULL && i < NIC_DROP_MAX; i++)
		rte_tel_data_add_dict_u64(c, nic_drop_name((enum nic_drop)i), s.nic.drops[i]);
	dict_put(t, "nic_drops", c);

	c = dict_new();
	for (int i = 1; c != NULL && i < PX_WIRE_E_MAX; i++)
		rte_tel_data_add_dict_u64(c, px_wire_err_name((enum px_wire_err)i),
					  s.node.decode_drops[i]);
	dict_put(t, "decode_drops", c);

	c = dict_new();
	for (int i = 1; c != NULL && i < PX_MSG_TYPE_MAX; i++)
		if (*px_msg_type_name((uint8_t)i) != '?')
			rte_tel_data_add_dict_u64(c, px_msg_type_name((uint8_t)i), s.node.msgs_in[i]);
	dict_put(t, "msgs_in", c);

	c = dict_new();
	if (c != NULL) {
		const struct dp_counters *grp = &s.dp;
		DP_LOOP_FIELDS(F)
	}
	if (c != NULL) {
		const struct node_counters *grp = &s.node;
		DP_NODE_FIELDS(F)
	}
	dict_put(t, "dp", c);

	c = dict_new();
	if (c != NULL) {
		const struct px_counters *grp = &s.px;
		DP_PX_FIELDS(F)
	}
	dict_put(t, "px", c);
	c = dict_new();
	for (int i = 0; c != NULL && i < PX_DROP_MAX; i++)
		rte_tel_data_add_dict_u64(c, dp_px_drop_name((enum px_drop)i), s.px.drops[i]);
	dict_put(t, "px_drops", c);

	c = dict_new();
	if (c != NULL) {
		const struct px_apply_counters *grp = &s.apply;
		DP_APPLY_FIELDS(F)
		rte_tel_data_add_dict_u64(c, "sessions", s.sessions);
	}
	dict_put(t, "apply", c);
	c = dict_new();
	if (c != NULL) {
		const struct node_counters *grp = &s.node;
		DP_TRANSFER_FIELDS(F)
	}
	dict_put(t, "transfer", c);
	if (s.durable) {
		c = dict_new();
		if (c != NULL) {
			const struct journal_counters *grp = &s.journal;
			DP_JOURNAL_FIELDS(F)
			rte_tel_data_add_dict_u64(c, "sync_seq", s.sync_seq);
			rte_tel_data_add_dict_u64(c, "persisted_seq", s.persisted_seq);
		}
		dict_put(t, "journal", c);
	}
#undef F
	return 0;
}

/** /paxwire/commit_latency: the leader's propose-to-commit histogram, log2 buckets. */
static int cb_latency(const char *cmd, const char *params, struct rte_tel_data *t)
{
	(void)cmd;
	(void)params;
	struct dp_snap s;
	int r = begin_dict(t, &s);
	if (r != 0)
		return r;
	rte_tel_data_add_dict_string(t, "buckets", "count of commits in [2^b, 2^(b+1)) ns, b = 0..31");
	struct rte_tel_data *a = rte_tel_data_alloc();
	if (a == NULL)
		return -ENOMEM;
	rte_tel_data_start_array(a, RTE_TEL_U64_VAL);
	for (uint32_t b = 0; b < NODE_LAT_BUCKETS; b++)
		rte_tel_data_add_array_u64(a, s.node.commit_lat[b]);
	if (rte_tel_data_add_dict_container(t, "commit_latency_log2_ns", a, 0) != 0) {
		rte_tel_data_free(a);
		return -ENOMEM;
	}
	return 0;
}

int dp_telemetry_register(struct dp_pub *p)
{
	g_pub = p;
	int r = rte_telemetry_register_cmd("/paxwire/stats", cb_stats,
		"paxwired's counters (the JSON stats line's fields). No parameters");
	if (r != 0)
		return r;
	r = rte_telemetry_register_cmd("/paxwire/role", cb_role,
		"paxwired's id, role, leader and ballot. No parameters");
	if (r != 0)
		return r;
	return rte_telemetry_register_cmd("/paxwire/commit_latency", cb_latency,
		"the leader's propose-to-commit latency histogram, log2 ns buckets. No parameters");
}
