/* SPDX-License-Identifier: Apache-2.0
 * pw-bench-core: the consensus core's throughput with no network.
 *
 * N real replicas live in this process, joined by in-memory queues (tests/harness).
 * Each message is encoded by its sender and decoded by its receiver with the real
 * codec, so the figure covers everything a replica does per command except the NIC:
 * batching at the leader, ACCEPT encode/decode, the acceptors' step, ACCEPTED, the
 * quorum count, commit, and applying every command through the session table and the
 * key-value service on every replica. All of it runs on one core, so ns_per_cmd is the
 * whole cluster's work for one command.
 *
 * One JSON object per line per configuration, e.g.
 *   {"bench":"core","replicas":3,"batch":32,"cmd_bytes":16,"cmds_per_s":...,...}
 * The figure is the median of --reps runs of --seconds each.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "env.h"
#include "svc_kv.h"
#include "px.h"
#include "px_apply.h"
#include "pxh.h"
#include "pw_version.h"

#define CLIENTS 1024u
#define CMDS_MAX 256u

struct workload {
	uint32_t cmd_bytes;
	uint32_t batch;
	struct px_cmd_ref refs[CMDS_MAX];
	uint64_t seq[CLIENTS];
	uint64_t session[CLIENTS];   /**< each client's session id (registered first) */
	uint64_t next_client;
};

static double now_s(void)
{
	return (double)env_mono_ns() * 1e-9;
}

/* Puts of exactly cmd_bytes bytes: 12-byte header, 4-byte key, the rest value. Keys
 * cycle over a set of 4096 so the store stays warm and bounded. The bodies are built
 * once: making commands is the clients' work, not the replicas', so the timed loop
 * only assigns each command its client's session and sequence number. */
#define BODIES 4096u

static void build_bodies(uint8_t (*bodies)[256], uint32_t cmd_bytes)
{
	for (uint32_t i = 0; i < BODIES; i++) {
		char key[4];
		memcpy(key, &i, 4);
		uint8_t val[256];
		uint32_t vlen = cmd_bytes - WIRE_KV_CMD_HDR_BYTES - 4;
		memset(val, (int)(i & 0xff), vlen);
		uint32_t len = wire_kv_encode_put(bodies[i], 256, key, 4, val, vlen);
		if (len != cmd_bytes) {
			fprintf(stderr, "pw-bench-core: cannot build a %u-byte command\n", cmd_bytes);
			exit(2);
		}
	}
}

static void fill(struct workload *w, uint8_t (*bodies)[256])
{
	for (uint32_t i = 0; i < w->batch; i++) {
		uint64_t k = w->next_client++;
		uint64_t c = k % CLIENTS;
		w->refs[i].client_id = w->session[c];
		w->refs[i].seq = ++w->seq[c];
		w->refs[i].len = w->cmd_bytes;
		w->refs[i].body = bodies[k % BODIES];
	}
}

struct result {
	double cmds_per_s;
	double ns_per_cmd;
	uint64_t cmds;
	uint64_t slots;
	double bytes_per_cmd;
};

/* --auth off|on: every datagram between the replicas authenticated (auth/). */
static bool g_auth;

static int run_once(uint8_t n, uint32_t batch, uint32_t cmd_bytes, uint32_t window,
		    double seconds, struct result *res)
{
	struct pxh_opts o;
	pxh_opts_default(&o, n);
	o.auth = g_auth;
	o.window_slots = window;
	o.pipeline_slots = window / 4;
	o.batch_cmds_max = batch;
	/* The store is sized for this workload, as a user would configure it: 4-byte keys,
	 * values of at most cmd_bytes. */
	o.kv_keys = 8192;
	o.kv_key_bytes = 16;
	o.kv_value_bytes = cmd_bytes;
	o.queue_msgs = 64;
	struct pxh_cluster *c = pxh_new(&o);
	uint8_t l = pxh_elect(c, 1000);
	if (l == PX_NODE_NONE) {
		fprintf(stderr, "pw-bench-core: no leader elected\n");
		pxh_free(c);
		return -1;
	}
	struct workload *w = calloc(1, sizeof(*w));
	w->cmd_bytes = cmd_bytes;
	w->batch = batch;
	static uint8_t bodies[BODIES][256];
	build_bodies(bodies, cmd_bytes);
	/* The clients register through the log before the clock starts. */
	static uint64_t nonces[CLIENTS];
	for (uint32_t i = 0; i < CLIENTS; i++)
		nonces[i] = i + 1;
	if (pxh_register(c, l, nonces, CLIENTS, w->session) != CLIENTS) {
		fprintf(stderr, "pw-bench-core: the clients' registrations did not commit\n");
		free(w);
		pxh_free(c);
		return -1;
	}
	/* Followers apply the registrations on the next heartbeats, before the count. */
	for (int t = 0; t < 3 * 2; t++) {
		pxh_tick(c, PX_NODE_NONE);
		pxh_deliver_all(c, 1000);
	}
	uint64_t applied0 = pxh_stats(c)->applied_cmds;
	uint64_t bytes0 = pxh_stats(c)->bytes;
	uint64_t proposed = 0, slots = 0;
	double t0 = now_s(), t1 = t0;
	for (uint64_t it = 1;; it++) {
		fill(w, bodies);
		uint32_t k = pxh_propose(c, l, w->refs, batch);
		if (k != batch) {
			fprintf(stderr, "pw-bench-core: leader took %u of %u commands\n", k, batch);
			free(w);
			pxh_free(c);
			return -1;
		}
		proposed += k;
		slots++;
		pxh_deliver_all(c, 1000);
		if ((it & 255) == 0) {
			/* Time moves too: heartbeats and the check-quorum timer run. */
			pxh_tick(c, PX_NODE_NONE);
			pxh_deliver_all(c, 1000);
			t1 = now_s();
			if (t1 - t0 >= seconds)
				break;
		}
	}
	/* Followers learn the last commit point from the next heartbeat. */
	for (int t = 0; t < 3 * 2; t++) {
		pxh_tick(c, PX_NODE_NONE);
		pxh_deliver_all(c, 1000);
	}
	uint64_t applied = pxh_stats(c)->applied_cmds - applied0;
	if (pxh_leader(c) != l || applied != proposed * n) {
		fprintf(stderr, "pw-bench-core: lost work: %llu applied of %llu x %u\n",
			(unsigned long long)applied, (unsigned long long)proposed, n);
		free(w);
		pxh_free(c);
		return -1;
	}
	/* Every command ran in its session (none refused as expired or unknown). */
	const struct px_apply_counters *ac = px_applier_counters(pxh_applier(c, l));
	if (ac->expired + ac->unissued + ac->stale != 0) {
		fprintf(stderr, "pw-bench-core: commands refused by the sessions\n");
		free(w);
		pxh_free(c);
		return -1;
	}
	/* Every replica ends with the same state. */
	for (uint8_t i = 1; i < n; i++) {
		if (pxh_kv_hash(c, i) != pxh_kv_hash(c, 0)) {
			fprintf(stderr, "pw-bench-core: replicas diverged\n");
			free(w);
			pxh_free(c);
			return -1;
		}
	}
	double dt = t1 - t0;
	res->cmds = proposed;
	res->slots = slots;
	res->cmds_per_s = (double)proposed / dt;
	res->ns_per_cmd = dt * 1e9 / (double)proposed;
	res->bytes_per_cmd = (double)(pxh_stats(c)->bytes - bytes0) / (double)proposed;
	free(w);
	pxh_free(c);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void usage_to(FILE *f)
{
	fprintf(f,
		"usage: pw-bench-core [--replicas 3,5] [--batch 1,8,32,128] [--cmd-bytes 16]\n"
		"                     [--seconds 1.0] [--reps 5] [--window 1024] [--auth off|on]\n"
		"Prints one JSON object per configuration (median of --reps runs).\n");
}

static void usage(void)
{
	usage_to(stderr);
}

static uint32_t parse_list(const char *s, uint32_t *out, uint32_t max)
{
	uint32_t n = 0;
	char *dup = strdup(s), *save = NULL;
	for (char *t = strtok_r(dup, ",", &save); t && n < max; t = strtok_r(NULL, ",", &save))
		out[n++] = (uint32_t)strtoul(t, NULL, 10);
	free(dup);
	return n;
}

int main(int argc, char **argv)
{
	if (pw_version_arg(argc, argv, "pw-bench-core"))
		return 0;
	uint32_t reps_list[8] = {3, 5}, n_rep = 2;
	uint32_t batches[8] = {1, 8, 32, 128}, n_batch = 4;
	uint32_t cmd_bytes = 16, reps = 5, window = 1024;
	double seconds = 1.0;
	static const struct option opts[] = {
		{"replicas", required_argument, NULL, 'r'},
		{"batch", required_argument, NULL, 'b'},
		{"cmd-bytes", required_argument, NULL, 'c'},
		{"seconds", required_argument, NULL, 's'},
		{"reps", required_argument, NULL, 'n'},
		{"window", required_argument, NULL, 'w'},
		{"auth", required_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "r:b:c:s:n:w:a:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'r': n_rep = parse_list(optarg, reps_list, 8); break;
		case 'b': n_batch = parse_list(optarg, batches, 8); break;
		case 'c': cmd_bytes = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 's': seconds = strtod(optarg, NULL); break;
		case 'n': reps = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'w': window = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'a':
			if (strcmp(optarg, "on") != 0 && strcmp(optarg, "off") != 0) {
				usage();
				return 2;
			}
			g_auth = strcmp(optarg, "on") == 0;
			break;
		case 'h': usage_to(stdout); return 0;
		default: usage(); return 2;
		}
	}
	if (cmd_bytes < WIRE_KV_CMD_HDR_BYTES + 4 || cmd_bytes > 256 || reps < 1 || reps > 99 ||
	    seconds <= 0 || window < 16 || window > PX_WINDOW_MAX || (window & (window - 1))) {
		fprintf(stderr, "pw-bench-core: --cmd-bytes must be in [16, 256], --reps in "
				"[1, 99], --seconds > 0, --window a power of two in [16, 4096]\n");
		return 2;
	}
	for (uint32_t ri = 0; ri < n_rep; ri++) {
		for (uint32_t bi = 0; bi < n_batch; bi++) {
			uint32_t b = batches[bi];
			if (b < 1 || b > CMDS_MAX || b > PX_BATCH_CMDS_MAX) {
				fprintf(stderr, "pw-bench-core: batch must be in [1, 256]\n");
				return 2;
			}
			double cps[99];
			struct result r = {0};
			for (uint32_t k = 0; k < reps; k++) {
				if (run_once((uint8_t)reps_list[ri], b, cmd_bytes, window, seconds, &r) != 0)
					return 1;
				cps[k] = r.cmds_per_s;
			}
			qsort(cps, reps, sizeof(double), cmp_double);
			double med = cps[reps / 2];
			printf("{\"bench\":\"core\",\"replicas\":%u,\"batch\":%u,\"cmd_bytes\":%u,"
			       "\"cmds_per_s\":%.0f,\"ns_per_cmd\":%.1f,\"min_cmds_per_s\":%.0f,"
			       "\"max_cmds_per_s\":%.0f,\"reps\":%u,\"seconds\":%.2f,"
			       "\"wire_bytes_per_cmd\":%.1f,\"cmds\":%llu,\"window\":%u,"
			       "\"auth\":%s}\n",
			       reps_list[ri], b, cmd_bytes, med, 1e9 / med, cps[0], cps[reps - 1],
			       reps, seconds, r.bytes_per_cmd, (unsigned long long)r.cmds, window,
			       g_auth ? "true" : "false");
			fflush(stdout);
		}
	}
	return 0;
}
