/* SPDX-License-Identifier: Apache-2.0
 * pw-load: a closed-loop key-value workload against a running cluster, through
 * libpaxwire-client. Used by the cluster tests and the demo.
 *
 *   pw-load --config FILE [--clients 4] [--seconds 5] [--keys 16] [--value-bytes 8]
 *           [--mix put,get,cas,del percentages, default 40,40,15,5]
 *           [--history FILE] [--final-reads] [--attempt-ms 100] [--deadline-ms 3000]
 *           [--think-us 0] [--max-ops N]
 *
 * Each client is a thread with its own pw_client (one command outstanding), doing
 * random operations on --keys keys. With --history every operation is recorded in the
 * pw-lincheck format (one file, merged at the end). With --final-reads, after the run
 * one client reads every key once more (so a lost acknowledged write shows up in the
 * history as a read that no linearization explains).
 *
 * Prints one JSON summary line: operations by outcome, throughput, latency percentiles
 * of successful operations, and the longest stall (the longest interval in which no
 * operation completed successfully: a failover shows up there). Exit 0 when the run
 * ended and at least one operation succeeded; 1 otherwise; 2 for usage errors.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "paxwire.h"

#define CLIENTS_MAX 64u
#define SAMPLES_MAX (1u << 20)

struct opts {
	const char *config;
	uint32_t clients;
	double seconds;
	uint32_t keys;
	uint32_t value_bytes;
	uint32_t mix[4]; /* put, get, cas, del */
	const char *history;
	bool final_reads;
	uint32_t attempt_ms, deadline_ms;
	uint32_t think_us;      /* pause between a client's operations */
	uint64_t max_ops;       /* stop after this many operations in all (0: no limit) */
};

struct worker {
	const struct opts *o;
	uint32_t idx;
	pthread_t th;
	FILE *hist;
	char *hist_buf;
	size_t hist_len;
	uint64_t seed;
	uint64_t ok, definite, unknown, failed_open;
	uint64_t *lat_ns;      /* successful ops' latencies */
	uint64_t *done_ns;     /* successful ops' completion times */
	uint32_t n_samples;
	char err[256];
};

static _Atomic bool stop_flag;
static _Atomic uint64_t ops_done;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static struct pw_client *open_client(const struct opts *o, uint32_t idx, char *err,
				     size_t errlen)
{
	struct pw_client_opts co;
	pw_client_opts_default(&co);
	co.config_path = o->config;
	co.attempt_timeout_ms = o->attempt_ms;
	co.deadline_ms = o->deadline_ms;
	co.history_client = idx + 1;
	return pw_client_open(&co, err, errlen);
}

static void record(struct worker *w, uint64_t t0, int rc)
{
	uint64_t t1 = now_ns();
	if (rc == PW_OK) {
		w->ok++;
		if (w->n_samples < SAMPLES_MAX) {
			w->lat_ns[w->n_samples] = t1 - t0;
			w->done_ns[w->n_samples] = t1;
			w->n_samples++;
		}
	} else if (pw_err_outcome_unknown(rc)) {
		w->unknown++;
	} else {
		w->definite++;
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	const struct opts *o = w->o;
	struct pw_client *c = open_client(o, w->idx, w->err, sizeof(w->err));
	if (c == NULL) {
		w->failed_open = 1;
		return NULL;
	}
	if (w->hist != NULL)
		pw_client_set_history(c, w->hist);
	uint32_t total = o->mix[0] + o->mix[1] + o->mix[2] + o->mix[3];
	char key[32], val[256], exp[256], buf[4096];
	while (!atomic_load_explicit(&stop_flag, memory_order_acquire)) {
		uint32_t k = (uint32_t)(rnd(&w->seed) % o->keys);
		int kl = snprintf(key, sizeof(key), "k%u", k);
		uint32_t pick = (uint32_t)(rnd(&w->seed) % total);
		uint64_t t0 = now_ns();
		int rc;
		if (pick < o->mix[0]) {
			int vl = snprintf(val, sizeof(val), "c%u-%" PRIu64, w->idx, w->ok + w->unknown);
			while ((uint32_t)vl < o->value_bytes && vl < (int)sizeof(val) - 1)
				val[vl++] = 'x';
			rc = pw_put(c, key, (size_t)kl, val, (size_t)vl);
		} else if (pick < o->mix[0] + o->mix[1]) {
			size_t len = 0;
			rc = pw_get(c, key, (size_t)kl, buf, sizeof(buf), &len);
		} else if (pick < o->mix[0] + o->mix[1] + o->mix[2]) {
			/* cas from what we last read, so that some succeed */
			size_t len = 0;
			int g = pw_get(c, key, (size_t)kl, buf, sizeof(buf), &len);
			record(w, t0, g == PW_E_NOT_FOUND ? PW_OK : g);
			t0 = now_ns();
			int vl = snprintf(val, sizeof(val), "c%u-cas%" PRIu64, w->idx, w->ok);
			if (g == PW_OK) {
				memcpy(exp, buf, len);
				rc = pw_cas(c, key, (size_t)kl, exp, len, val, (size_t)vl);
			} else {
				rc = pw_cas(c, key, (size_t)kl, NULL, 0, val, (size_t)vl);
			}
			if (rc == PW_E_CAS_MISMATCH || rc == PW_E_NOT_FOUND)
				rc = PW_OK; /* a definite answer: the operation worked */
		} else {
			rc = pw_del(c, key, (size_t)kl);
			if (rc == PW_E_NOT_FOUND)
				rc = PW_OK;
		}
		if (rc == PW_E_NOT_FOUND)
			rc = PW_OK; /* a get of an absent key is an answer */
		record(w, t0, rc);
		/* Pairs with the acquire load at the top of the loop (any thread's). */
		if (o->max_ops != 0 &&
		    atomic_fetch_add_explicit(&ops_done, 1, memory_order_relaxed) + 1 >= o->max_ops)
			atomic_store_explicit(&stop_flag, true, memory_order_release);
		if (o->think_us > 0) {
			struct timespec ts = {.tv_sec = o->think_us / 1000000u,
					      .tv_nsec = (long)(o->think_us % 1000000u) * 1000};
			nanosleep(&ts, NULL);
		}
	}
	pw_client_close(c);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static void usage(void)
{
	fprintf(stderr, "usage: pw-load --config FILE [--clients N] [--seconds S] [--keys K]\n"
			"               [--value-bytes B] [--mix P,G,C,D] [--history FILE]\n"
			"               [--final-reads] [--attempt-ms MS] [--deadline-ms MS]\n"
			"               [--think-us US] [--max-ops N]\n");
}

int main(int argc, char **argv)
{
	struct opts o = {.clients = 4, .seconds = 5, .keys = 16, .value_bytes = 8,
			 .mix = {40, 40, 15, 5}, .attempt_ms = 100, .deadline_ms = 3000};
	static const struct option lo[] = {
		{"config", required_argument, NULL, 'c'}, {"clients", required_argument, NULL, 'n'},
		{"seconds", required_argument, NULL, 's'}, {"keys", required_argument, NULL, 'k'},
		{"value-bytes", required_argument, NULL, 'v'}, {"mix", required_argument, NULL, 'm'},
		{"history", required_argument, NULL, 'H'}, {"final-reads", no_argument, NULL, 'f'},
		{"attempt-ms", required_argument, NULL, 'a'},
		{"deadline-ms", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'},
		{"think-us", required_argument, NULL, 't'},
		{"max-ops", required_argument, NULL, 'M'},
		{NULL, 0, NULL, 0}};
	int ch;
	while ((ch = getopt_long(argc, argv, "c:n:s:k:v:m:H:fa:d:t:M:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'c': o.config = optarg; break;
		case 'n': o.clients = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 's': o.seconds = strtod(optarg, NULL); break;
		case 'k': o.keys = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'v': o.value_bytes = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'm':
			if (sscanf(optarg, "%u,%u,%u,%u", &o.mix[0], &o.mix[1], &o.mix[2],
				   &o.mix[3]) != 4) {
				usage();
				return 2;
			}
			break;
		case 'H': o.history = optarg; break;
		case 'f': o.final_reads = true; break;
		case 'a': o.attempt_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'd': o.deadline_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 't': o.think_us = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'M': o.max_ops = strtoull(optarg, NULL, 10); break;
		case 'h': usage(); return 0;
		default: usage(); return 2;
		}
	}
	if (o.config == NULL || o.clients < 1 || o.clients > CLIENTS_MAX || o.keys < 1 ||
	    o.seconds <= 0 || o.value_bytes > 200 ||
	    o.mix[0] + o.mix[1] + o.mix[2] + o.mix[3] == 0) {
		usage();
		return 2;
	}
	static struct worker ws[CLIENTS_MAX];
	uint64_t seed = now_ns();
	for (uint32_t i = 0; i < o.clients; i++) {
		struct worker *w = &ws[i];
		w->o = &o;
		w->idx = i;
		w->seed = seed + i * 7919u;
		w->lat_ns = calloc(SAMPLES_MAX, sizeof(uint64_t));
		w->done_ns = calloc(SAMPLES_MAX, sizeof(uint64_t));
		if (w->lat_ns == NULL || w->done_ns == NULL) {
			fprintf(stderr, "pw-load: out of memory\n");
			return 1;
		}
		if (o.history != NULL) {
			w->hist = open_memstream(&w->hist_buf, &w->hist_len);
			if (w->hist == NULL) {
				fprintf(stderr, "pw-load: open_memstream: %s\n", strerror(errno));
				return 1;
			}
		}
	}
	uint64_t t_start = now_ns();
	for (uint32_t i = 0; i < o.clients; i++)
		pthread_create(&ws[i].th, NULL, worker_main, &ws[i]);
	/* Until the time is up or --max-ops operations are done. */
	uint64_t t_stop = t_start + (uint64_t)(o.seconds * 1e9);
	while (now_ns() < t_stop && !atomic_load_explicit(&stop_flag, memory_order_acquire)) {
		struct timespec nap = {.tv_sec = 0, .tv_nsec = 5000000};
		nanosleep(&nap, NULL);
	}
	atomic_store_explicit(&stop_flag, true, memory_order_release);
	for (uint32_t i = 0; i < o.clients; i++)
		pthread_join(ws[i].th, NULL);
	uint64_t t_end = now_ns();

	/* Final reads: every key once more, recorded like any operation. */
	uint64_t final_ok = 0, final_fail = 0;
	FILE *fh = NULL;
	char *fh_buf = NULL;
	size_t fh_len = 0;
	if (o.final_reads) {
		char err[256];
		struct pw_client *c = open_client(&o, o.clients, err, sizeof(err));
		if (c == NULL) {
			fprintf(stderr, "pw-load: final reads: %s\n", err);
			return 1;
		}
		if (o.history != NULL) {
			fh = open_memstream(&fh_buf, &fh_len);
			pw_client_set_history(c, fh);
		}
		for (uint32_t k = 0; k < o.keys; k++) {
			char key[32], buf[4096];
			size_t len;
			int kl = snprintf(key, sizeof(key), "k%u", k);
			int rc = pw_get(c, key, (size_t)kl, buf, sizeof(buf), &len);
			if (rc == PW_OK || rc == PW_E_NOT_FOUND)
				final_ok++;
			else
				final_fail++;
		}
		pw_client_close(c);
	}

	/* Merge the histories. */
	if (o.history != NULL) {
		FILE *out = fopen(o.history, "w");
		if (out == NULL) {
			fprintf(stderr, "pw-load: %s: %s\n", o.history, strerror(errno));
			return 1;
		}
		for (uint32_t i = 0; i < o.clients; i++) {
			fclose(ws[i].hist);
			fwrite(ws[i].hist_buf, 1, ws[i].hist_len, out);
			free(ws[i].hist_buf);
		}
		if (fh != NULL) {
			fclose(fh);
			fwrite(fh_buf, 1, fh_len, out);
			free(fh_buf);
		}
		if (fclose(out) != 0) {
			fprintf(stderr, "pw-load: writing %s failed\n", o.history);
			return 1;
		}
	}

	/* Summary. */
	uint64_t ok = 0, definite = 0, unknown = 0, n = 0, opened_fail = 0;
	for (uint32_t i = 0; i < o.clients; i++) {
		ok += ws[i].ok;
		definite += ws[i].definite;
		unknown += ws[i].unknown;
		n += ws[i].n_samples;
		if (ws[i].failed_open) {
			opened_fail++;
			fprintf(stderr, "pw-load: client %u: %s\n", i, ws[i].err);
		}
	}
	uint64_t *lat = calloc(n + 1, sizeof(uint64_t));
	uint64_t *done = calloc(n + 2, sizeof(uint64_t));
	uint64_t m = 0;
	for (uint32_t i = 0; i < o.clients; i++) {
		memcpy(lat + m, ws[i].lat_ns, ws[i].n_samples * sizeof(uint64_t));
		memcpy(done + m, ws[i].done_ns, ws[i].n_samples * sizeof(uint64_t));
		m += ws[i].n_samples;
	}
	qsort(lat, n, sizeof(uint64_t), cmp_u64);
	done[n] = t_start;
	done[n + 1] = t_end;
	qsort(done, n + 2, sizeof(uint64_t), cmp_u64);
	uint64_t stall = 0;
	for (uint64_t i = 1; i < n + 2; i++)
		if (done[i] - done[i - 1] > stall)
			stall = done[i] - done[i - 1];
#define PCT(p) (n ? lat[(uint64_t)((double)(n - 1) * (p))] : 0)
	double secs = (double)(t_end - t_start) / 1e9;
	printf("{\"load\":\"kv\",\"clients\":%u,\"seconds\":%.2f,\"ok\":%" PRIu64
	       ",\"definite_errors\":%" PRIu64 ",\"unknown\":%" PRIu64 ",\"ops_per_s\":%.0f,"
	       "\"lat_us_p50\":%.1f,\"lat_us_p90\":%.1f,\"lat_us_p99\":%.1f,\"lat_us_p999\":%.1f,"
	       "\"lat_us_max\":%.1f,\"longest_stall_ms\":%.1f,\"final_reads_ok\":%" PRIu64
	       ",\"final_reads_failed\":%" PRIu64 "}\n",
	       o.clients, secs, ok, definite, unknown, (double)ok / secs, PCT(0.5) / 1e3,
	       PCT(0.9) / 1e3, PCT(0.99) / 1e3, PCT(0.999) / 1e3, n ? lat[n - 1] / 1e3 : 0.0,
	       (double)stall / 1e6, final_ok, final_fail);
	fflush(stdout);
	free(lat);
	free(done);
	for (uint32_t i = 0; i < o.clients; i++) {
		free(ws[i].lat_ns);
		free(ws[i].done_ns);
	}
	return (ok > 0 && opened_fail == 0 && final_fail == 0) ? 0 : 1;
}
