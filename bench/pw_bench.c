/* SPDX-License-Identifier: Apache-2.0
 * pw-bench: latency and throughput of a running paxwire cluster, through
 * libpaxwire-client (kernel UDP).
 *
 *   pw-bench --config FILE [--clients 1] [--rate R] [--seconds 5] [--warmup 1]
 *            [--value-bytes 16] [--keys 1024] [--mix put,get,append (percent), 100,0,0]
 *            [--csv FILE] [--label TEXT] [--attempt-ms 100] [--deadline-ms 3000]
 *
 * Closed loop (no --rate): --clients threads, each with one client object and so one
 * command outstanding (the library's limit per client object); a thread sends its next
 * command when the previous one is answered. Throughput is what the cluster gives.
 *
 * Open loop (--rate R): R commands/s in all, Poisson arrivals (exponential gaps),
 * spread over --clients threads (R / clients each). Each command has an INTENDED send
 * time from the schedule; its latency is measured from that time, not from when it was
 * actually sent. When a thread falls behind (its previous command took longer than the
 * gap), the next command goes out at once and the time it waited in the queue counts in
 * its latency, so coordinated omission cannot hide a stall. Concurrency is bounded by
 * --clients (one outstanding per thread): give enough threads for the offered load.
 *
 * Commands: put of --value-bytes bytes to one of --keys keys, get of one of them, or
 * append of a --value-bytes record (service = stream; a cluster runs one service, so a
 * mix is either put/get or append). Commands whose intended start falls in the first
 * --warmup seconds are run but not counted.
 *
 * Latency: a log-linear histogram (128 linear sub-buckets per power of two: < 0.8 %
 * relative error, from 1 ns to 2^37 ns ~ 137 s, fixed 32 KiB per thread).
 * Prints one JSON line on stdout and a short table on stderr. --csv writes the whole
 * distribution: value_us,count,cumulative_fraction (one row per non-empty bucket, the
 * bucket's upper bound). Exit 0 when at least one command was answered; 1 otherwise;
 * 2 for usage errors.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "paxwire.h"

#define CLIENTS_MAX 256u
#define SUB_BITS 7u
#define SUB (1u << SUB_BITS)
#define EXP_MAX 37u /* values >= 2^37 ns are clamped into the last bucket */
#define BUCKETS ((EXP_MAX - SUB_BITS + 1u) * SUB)

struct hist {
	uint64_t n[BUCKETS];
	uint64_t count, max;
	double sum;
};

static uint32_t h_index(uint64_t v)
{
	if (v < SUB)
		return (uint32_t)v;
	uint32_t e = 63u - (uint32_t)__builtin_clzll(v);
	if (e >= EXP_MAX)
		return BUCKETS - 1u;
	uint32_t sub = (uint32_t)(v >> (e - SUB_BITS)) & (SUB - 1u);
	return (e - SUB_BITS + 1u) * SUB + sub;
}

/* The largest value that maps to bucket i. */
static uint64_t h_upper(uint32_t i)
{
	if (i < SUB)
		return i;
	uint32_t e = i / SUB + SUB_BITS - 1u, sub = i % SUB;
	uint64_t lo = ((uint64_t)SUB + sub) << (e - SUB_BITS);
	return lo + (1ull << (e - SUB_BITS)) - 1u;
}

static void h_add(struct hist *h, uint64_t v)
{
	h->n[h_index(v)]++;
	h->count++;
	h->sum += (double)v;
	if (v > h->max)
		h->max = v;
}

static void h_merge(struct hist *d, const struct hist *s)
{
	for (uint32_t i = 0; i < BUCKETS; i++)
		d->n[i] += s->n[i];
	d->count += s->count;
	d->sum += s->sum;
	if (s->max > d->max)
		d->max = s->max;
}

static double h_pct(const struct hist *h, double p)
{
	if (h->count == 0)
		return 0;
	uint64_t want = (uint64_t)ceil(p * (double)h->count), acc = 0;
	if (want < 1)
		want = 1;
	for (uint32_t i = 0; i < BUCKETS; i++) {
		acc += h->n[i];
		if (acc >= want) {
			uint64_t u = h_upper(i);
			return (double)(u < h->max ? u : h->max);
		}
	}
	return (double)h->max;
}

struct opts {
	const char *config, *csv, *label;
	uint32_t clients, keys, value_bytes, attempt_ms, deadline_ms;
	uint32_t mix[3]; /* put, get, append */
	double rate, seconds, warmup;
};

struct worker {
	const struct opts *o;
	uint32_t idx;
	pthread_t th;
	uint64_t seed;
	uint64_t t_start, t_measure, t_end;
	uint64_t ok, definite, unknown, late; /* late: sent after its intended time + 1 ms */
	int failed_open;
	struct hist h;
	char err[256];
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = {.tv_sec = (time_t)(t / 1000000000u),
			      .tv_nsec = (long)(t % 1000000000u)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
	}
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rnd01(uint64_t *s)
{
	return ((double)(rnd(s) >> 11) + 0.5) / 9007199254740992.0; /* (0, 1) */
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	const struct opts *o = w->o;
	struct pw_client_opts co;
	pw_client_opts_default(&co);
	co.config_path = o->config;
	co.attempt_timeout_ms = o->attempt_ms;
	co.deadline_ms = o->deadline_ms;
	struct pw_client *c = pw_client_open(&co, w->err, sizeof(w->err));
	if (c == NULL) {
		w->failed_open = 1;
		return NULL;
	}
	char val[PW_CMD_BYTES_MAX];
	char buf[PW_REPLY_BYTES_MAX], key[32];
	memset(val, 'v', sizeof(val));
	uint32_t total = o->mix[0] + o->mix[1] + o->mix[2];
	double gap_mean_ns = o->rate > 0 ? 1e9 * (double)o->clients / o->rate : 0;
	uint64_t intended = w->t_start;
	if (gap_mean_ns > 0) /* threads start at random phases */
		intended += (uint64_t)(-log(rnd01(&w->seed)) * gap_mean_ns);
	for (;;) {
		uint64_t t0;
		if (gap_mean_ns > 0) {
			if (intended >= w->t_end)
				break;
			uint64_t n = now_ns();
			if (n < intended)
				sleep_until(intended);
			else if (n > intended + 1000000u)
				w->late++;
			t0 = intended; /* latency from the intended send time */
		} else {
			t0 = now_ns();
			if (t0 >= w->t_end)
				break;
		}
		uint32_t pick = (uint32_t)(rnd(&w->seed) % total);
		int kl = snprintf(key, sizeof(key), "k%" PRIu64, rnd(&w->seed) % o->keys);
		int rc;
		if (pick < o->mix[0]) {
			rc = pw_put(c, key, (size_t)kl, val, o->value_bytes);
		} else if (pick < o->mix[0] + o->mix[1]) {
			size_t len = 0;
			rc = pw_get(c, key, (size_t)kl, buf, sizeof(buf), &len);
			if (rc == PW_E_NOT_FOUND)
				rc = PW_OK; /* an answer */
		} else {
			uint64_t off = 0;
			rc = pw_append(c, val, o->value_bytes, &off);
		}
		uint64_t t1 = now_ns();
		if (t0 >= w->t_measure) {
			if (rc == PW_OK) {
				w->ok++;
				h_add(&w->h, t1 - t0);
			} else if (pw_err_outcome_unknown(rc)) {
				w->unknown++;
			} else {
				w->definite++;
			}
		}
		if (gap_mean_ns > 0)
			intended += (uint64_t)(-log(rnd01(&w->seed)) * gap_mean_ns) + 1u;
	}
	pw_client_close(c);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: pw-bench --config FILE [--clients N] [--rate OPS_PER_S] [--seconds S]\n"
		"                [--warmup S] [--value-bytes 16..4076] [--keys K]\n"
		"                [--mix PUT,GET,APPEND] [--csv FILE] [--label TEXT]\n"
		"                [--attempt-ms MS] [--deadline-ms MS]\n");
}

static int parse_mix(const char *s, uint32_t mix[3])
{
	char *end;
	for (int i = 0; i < 3; i++) {
		unsigned long v = strtoul(s, &end, 10);
		if (end == s || v > 100)
			return -1;
		mix[i] = (uint32_t)v;
		if (*end == '\0') {
			for (int j = i + 1; j < 3; j++)
				mix[j] = 0;
			return 0;
		}
		if (*end != ',')
			return -1;
		s = end + 1;
	}
	return *end == '\0' ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct opts o = {.clients = 1, .keys = 1024, .value_bytes = 16, .attempt_ms = 100,
			 .deadline_ms = 3000, .mix = {100, 0, 0}, .seconds = 5, .warmup = 1,
			 .label = ""};
	static const struct option lo[] = {
		{"config", required_argument, NULL, 'c'}, {"clients", required_argument, NULL, 'n'},
		{"rate", required_argument, NULL, 'r'}, {"seconds", required_argument, NULL, 's'},
		{"warmup", required_argument, NULL, 'w'},
		{"value-bytes", required_argument, NULL, 'v'}, {"keys", required_argument, NULL, 'k'},
		{"mix", required_argument, NULL, 'm'}, {"csv", required_argument, NULL, 'C'},
		{"label", required_argument, NULL, 'l'},
		{"attempt-ms", required_argument, NULL, 'a'},
		{"deadline-ms", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	int ch;
	while ((ch = getopt_long(argc, argv, "c:n:r:s:w:v:k:m:C:l:a:d:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'c': o.config = optarg; break;
		case 'n': o.clients = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'r': o.rate = strtod(optarg, NULL); break;
		case 's': o.seconds = strtod(optarg, NULL); break;
		case 'w': o.warmup = strtod(optarg, NULL); break;
		case 'v': o.value_bytes = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'k': o.keys = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'm':
			if (parse_mix(optarg, o.mix) != 0) {
				usage();
				return 2;
			}
			break;
		case 'C': o.csv = optarg; break;
		case 'l': o.label = optarg; break;
		case 'a': o.attempt_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'd': o.deadline_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'h': usage(); return 0;
		default: usage(); return 2;
		}
	}
	uint32_t vmax = o.mix[2] > 0 ? PW_RECORD_BYTES_MAX : PW_KV_BYTES_MAX - 24;
	if (o.config == NULL || o.clients < 1 || o.clients > CLIENTS_MAX || o.seconds <= 0 ||
	    o.warmup < 0 || o.rate < 0 || o.keys < 1 || o.value_bytes < 1 ||
	    o.value_bytes > vmax || o.mix[0] + o.mix[1] + o.mix[2] == 0 || o.attempt_ms == 0 ||
	    o.deadline_ms == 0 || (o.mix[2] > 0 && o.mix[0] + o.mix[1] > 0) ||
	    strchr(o.label, '"') != NULL || strchr(o.label, '\\') != NULL) {
		fprintf(stderr, "pw-bench: --config is required; --clients in [1, %u]; "
				"--value-bytes in [1, %u]; append cannot be mixed with put/get; "
				"no quotes in --label\n", CLIENTS_MAX, vmax);
		usage();
		return 2;
	}
	struct worker *ws = calloc(o.clients, sizeof(*ws));
	if (ws == NULL) {
		fprintf(stderr, "pw-bench: out of memory\n");
		return 1;
	}
	uint64_t t_start = now_ns() + 20000000u; /* 20 ms for the threads to start */
	uint64_t t_measure = t_start + (uint64_t)(o.warmup * 1e9);
	uint64_t t_end = t_measure + (uint64_t)(o.seconds * 1e9);
	uint64_t seed0 = now_ns();
	for (uint32_t i = 0; i < o.clients; i++) {
		ws[i].o = &o;
		ws[i].idx = i;
		ws[i].seed = seed0 ^ (0x1234567ull * (i + 1));
		ws[i].t_start = t_start;
		ws[i].t_measure = t_measure;
		ws[i].t_end = t_end;
		int e = pthread_create(&ws[i].th, NULL, worker_main, &ws[i]);
		if (e != 0) {
			fprintf(stderr, "pw-bench: pthread_create: %s\n", strerror(e));
			return 1;
		}
	}
	struct hist *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return 1;
	uint64_t ok = 0, definite = 0, unknown = 0, late = 0;
	int failed = 0;
	uint64_t t_last = 0;
	for (uint32_t i = 0; i < o.clients; i++) {
		pthread_join(ws[i].th, NULL);
		if (ws[i].failed_open) {
			fprintf(stderr, "pw-bench: client %u: %s\n", i, ws[i].err);
			failed = 1;
		}
		h_merge(h, &ws[i].h);
		ok += ws[i].ok;
		definite += ws[i].definite;
		unknown += ws[i].unknown;
		late += ws[i].late;
	}
	t_last = now_ns();
	/* Throughput over the measured interval; in closed loop the last commands may end
	 * a little after t_end, so the interval runs to when the last thread finished. */
	double secs = (double)((t_last > t_end ? t_last : t_end) - t_measure) / 1e9;
	const char *mode = o.rate > 0 ? "open" : "closed";
	double p50 = h_pct(h, 0.5) / 1e3, p90 = h_pct(h, 0.9) / 1e3, p99 = h_pct(h, 0.99) / 1e3,
	       p999 = h_pct(h, 0.999) / 1e3, p9999 = h_pct(h, 0.9999) / 1e3,
	       mx = (double)h->max / 1e3, mean = h->count ? h->sum / (double)h->count / 1e3 : 0;
	printf("{\"bench\":\"pw-bench\",\"label\":\"%s\",\"mode\":\"%s\",\"clients\":%u,"
	       "\"rate_offered\":%.0f,\"value_bytes\":%u,\"keys\":%u,\"mix_put\":%u,"
	       "\"mix_get\":%u,\"mix_append\":%u,\"warmup_s\":%.2f,\"seconds\":%.2f,"
	       "\"ok\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"unknown\":%" PRIu64
	       ",\"late_sends\":%" PRIu64 ",\"ops_per_s\":%.0f,\"lat_us_mean\":%.1f,"
	       "\"lat_us_p50\":%.1f,\"lat_us_p90\":%.1f,\"lat_us_p99\":%.1f,"
	       "\"lat_us_p999\":%.1f,\"lat_us_p9999\":%.1f,\"lat_us_max\":%.1f}\n",
	       o.label, mode, o.clients, o.rate, o.value_bytes, o.keys, o.mix[0], o.mix[1],
	       o.mix[2], o.warmup, secs, ok, definite, unknown, late, (double)ok / secs, mean,
	       p50, p90, p99, p999, p9999, mx);
	fflush(stdout);
	fprintf(stderr, "pw-bench %s%s%s loop, %u clients", o.label, *o.label ? ": " : "",
		mode, o.clients);
	if (o.rate > 0)
		fprintf(stderr, ", offered %.0f ops/s (Poisson; latency from intended send)",
			o.rate);
	fprintf(stderr, ", %u B values, %.1f s (+%.1f s warm-up)\n", o.value_bytes, secs,
		o.warmup);
	fprintf(stderr, "  ops/s %10.0f   ok %" PRIu64 "  errors %" PRIu64 "  unknown %" PRIu64
			"  late %" PRIu64 "\n", (double)ok / secs, ok, definite, unknown, late);
	fprintf(stderr, "  latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  p99.99 %.1f"
			"  max %.1f\n", p50, p90, p99, p999, p9999, mx);
	if (o.csv != NULL) {
		FILE *f = fopen(o.csv, "w");
		if (f == NULL) {
			fprintf(stderr, "pw-bench: %s: %s\n", o.csv, strerror(errno));
			return 1;
		}
		fprintf(f, "value_us,count,cumulative_fraction\n");
		uint64_t acc = 0;
		for (uint32_t i = 0; i < BUCKETS; i++) {
			if (h->n[i] == 0)
				continue;
			acc += h->n[i];
			fprintf(f, "%.3f,%" PRIu64 ",%.9f\n", (double)h_upper(i) / 1e3, h->n[i],
				(double)acc / (double)h->count);
		}
		if (fclose(f) != 0) {
			fprintf(stderr, "pw-bench: %s: %s\n", o.csv, strerror(errno));
			return 1;
		}
	}
	free(h);
	free(ws);
	return (ok > 0 && !failed) ? 0 : 1;
}
