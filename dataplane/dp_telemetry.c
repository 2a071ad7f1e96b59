/* SPDX-License-Identifier: Apache-2.0
 * DPDK builds, transport = dpdk: paxwired's counters as DPDK telemetry commands
 * (dpdk-telemetry.py, Telegraf's dpdk input, ...) on the EAL's telemetry socket
 * (/var/run/dpdk/<file-prefix>/dpdk_telemetry.v2):
 *   /paxwire/stats           every group of the metrics schema (docs/metrics.md), the
 *                            same names and shapes as the stats line and pwctl stats
 *                            (dp_metrics_walk renders all three);
 *   /paxwire/role            the identity and state fields only;
 *   /paxwire/commit_latency  those and the commit latency group.
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

/* The metrics walk (dp_metrics_walk) rendered as telemetry data: scalars into the top
 * dict, or into the nested dict being built; arrays into the top dict. */
struct tw {
	struct rte_tel_data *top;
	struct rte_tel_data *cur;      /**< the nested dict being built, or NULL */
	const char *cur_name;
	bool cur_failed;               /**< its allocation failed: its members are left out */
};

static struct rte_tel_data *tw_to(struct tw *w)
{
	return w->cur != NULL ? w->cur : (w->cur_failed ? NULL : w->top);
}

static void tw_u64(void *arg, const char *name, uint64_t v)
{
	struct rte_tel_data *d = tw_to(arg);
	if (d != NULL)
		rte_tel_data_add_dict_u64(d, name, v);
}

static void tw_i64(void *arg, const char *name, int64_t v)
{
	struct rte_tel_data *d = tw_to(arg);
	if (d != NULL)
		rte_tel_data_add_dict_int(d, name, (int)v);   /* the leader: -1 .. 8 */
}

static void tw_str(void *arg, const char *name, const char *v)
{
	struct rte_tel_data *d = tw_to(arg);
	if (d != NULL)
		rte_tel_data_add_dict_string(d, name, v);
}

static void tw_begin(void *arg, const char *dict)
{
	struct tw *w = arg;
	w->cur = rte_tel_data_alloc();
	w->cur_name = dict;
	w->cur_failed = w->cur == NULL;
	if (w->cur != NULL)
		rte_tel_data_start_dict(w->cur);
}

static void tw_end(void *arg)
{
	struct tw *w = arg;
	/* t owns the dict from here (keep = 0: freed with t). */
	if (w->cur != NULL && rte_tel_data_add_dict_container(w->top, w->cur_name, w->cur, 0) != 0)
		rte_tel_data_free(w->cur);
	w->cur = NULL;
	w->cur_failed = false;
}

static void tw_array(void *arg, const char *name, const uint64_t *v, uint32_t n)
{
	struct tw *w = arg;
	struct rte_tel_data *a = rte_tel_data_alloc();
	if (a == NULL)
		return;
	rte_tel_data_start_array(a, RTE_TEL_U64_VAL);
	for (uint32_t i = 0; i < n; i++)
		rte_tel_data_add_array_u64(a, v[i]);
	if (rte_tel_data_add_dict_container(w->top, name, a, 0) != 0)
		rte_tel_data_free(a);
}

/** Every command: a fresh snapshot, rendered as one dict of the groups in mask. */
static int answer(struct rte_tel_data *t, uint32_t groups)
{
	struct dp_snap s;
	int r = snap_get(&s);
	if (r != 0)
		return r;
	rte_tel_data_start_dict(t);
	struct tw w = { .top = t };
	const struct dp_emit e = {
		.arg = &w, .u64 = tw_u64, .i64 = tw_i64, .str = tw_str,
		.begin = tw_begin, .end = tw_end, .array = tw_array,
	};
	dp_metrics_walk(&s, groups, &e);
	return 0;
}

static int cb_role(const char *cmd, const char *params, struct rte_tel_data *t)
{
	(void)cmd;
	(void)params;
	return answer(t, 0);
}

static int cb_stats(const char *cmd, const char *params, struct rte_tel_data *t)
{
	(void)cmd;
	(void)params;
	return answer(t, DP_MG_ALL);
}

static int cb_latency(const char *cmd, const char *params, struct rte_tel_data *t)
{
	(void)cmd;
	(void)params;
	return answer(t, 1u << DP_MG_LATENCY);
}

int dp_telemetry_register(struct dp_pub *p)
{
	g_pub = p;
	int r = rte_telemetry_register_cmd("/paxwire/stats", cb_stats,
		"paxwired's metrics, every group of docs/metrics.md (the stats line's). No parameters");
	if (r != 0)
		return r;
	r = rte_telemetry_register_cmd("/paxwire/role", cb_role,
		"paxwired's identity and state fields (docs/metrics.md). No parameters");
	if (r != 0)
		return r;
	return rte_telemetry_register_cmd("/paxwire/commit_latency", cb_latency,
		"the leader's commit latency: count, sum, quantiles, cumulative buckets (docs/metrics.md). No parameters");
}
