/* SPDX-License-Identifier: Apache-2.0
 * pw-bench: load against a running paxwire cluster through libpaxwire-client (kernel
 * UDP): latency and throughput for the benchmarks, and the recorded key-value workload
 * of the cluster tests and the demo.
 *
 *   pw-bench --config FILE [--clients 1] [--rate R] [--seconds 5] [--warmup 1]
 *            [--value-bytes 16] [--keys 1024]
 *            [--mix put,get,append,cas,del (weights), 100,0,0,0,0]
 *            [--csv FILE] [--label TEXT] [--attempt-ms 100] [--deadline-ms 3000]
 *            [--think-us 0] [--max-ops 0] [--history FILE] [--final-reads]
 *            [--inflight 1]
 *
 * Closed loop (no --rate): --clients threads, each with one client object and so one
 * command outstanding (the synchronous API); a thread sends its next command when the
 * previous one is answered (and, with --think-us, after pausing that long). Throughput
 * is what the cluster gives. --inflight K (2..64): each thread keeps K commands in
 * flight through the asynchronous API (pw_put_async..., pw_poll), submitting one as
 * each completes; a command's latency runs from its submission to its completion. Not
 * with --rate, --think-us or cas.
 *
 * Open loop (--rate R): R commands/s in all, Poisson arrivals (exponential gaps),
 * spread over --clients threads (R / clients each). Each command has an INTENDED send
 * time from the schedule; its latency is measured from that time, not from when it was
 * actually sent. When a thread falls behind (its previous command took longer than the
 * gap), the next command goes out at once and the time it waited in the queue counts in
 * its latency, so coordinated omission cannot hide a stall. Concurrency is bounded by
 * --clients (one outstanding per thread): give enough threads for the offered load.
 *
 * Operations, picked at random by the --mix weights (missing trailing fields are 0; a
 * cluster runs one service, so append cannot be mixed with the key-value operations):
 *   put     a value to one of --keys keys ("k<n>"); the value is "c<client>-<n>"
 *           (unique per run) padded with 'x' to --value-bytes, or longer when the tag
 *           is longer than --value-bytes;
 *   get     one of the keys (absent is an answer);
 *   append  a --value-bytes record (service = stream);
 *   cas     a get of the key, then a cas from the value read (from absent when it was
 *           absent) to "c<client>-cas<n>" padded likewise; both count as operations,
 *           and a failed comparison is an answer;
 *   del     one of the keys (absent is an answer).
 * The run ends after --warmup + --seconds, or once --max-ops operations (a cas with its
 * get counts once) were done by all threads together. Operations whose intended start
 * falls in the first --warmup seconds are run but not counted.
 *
 * --history FILE records every key-value operation in the pw-lincheck format (client
 * i writes as client i + 1; each thread buffers its lines in memory sized at start-up
 * and spills them to an unlinked temporary file; merged into FILE at the end).
 * --final-reads: after the run, one more client (number clients + 1) reads every key
 * once, recorded like any operation, so a lost acknowledged write shows up in the
 * history as a read that no linearization explains.
 *
 * Latency: a log-linear histogram (128 linear sub-buckets per power of two: < 0.8 %
 * relative error, from 1 ns to 2^37 ns ~ 137 s, fixed 32 KiB per thread).
 * Longest stall: the longest interval of the measured time in which no operation
 * completed successfully (a failover shows up there); exact when it is 1 ms or longer
 * (completions are kept as the first and last per millisecond).
 * Prints one JSON line on stdout and a short table on stderr. --csv writes the whole
 * distribution: value_us,count,cumulative_fraction (one row per non-empty bucket, the
 * bucket's upper bound). Exit 0 when at least one operation was answered, every client
 * opened, every final read was answered and the history was written; 1 otherwise;
 * 2 for usage errors.
 *
 * Nothing is allocated after start-up on the path of an operation (clients, histograms,
 * history buffers and the stall table are sized and allocated before the run).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "env.h"
#include "paxwire.h"
#include "pw_history.h"
#include "pw_version.h"

#define CLIENTS_MAX 256u
#define SUB_BITS 7u
#define SUB (1u << SUB_BITS)
#define EXP_MAX 37u /* values >= 2^37 ns are clamped into the last bucket */
#define BUCKETS ((EXP_MAX - SUB_BITS + 1u) * SUB)
#define NS_PER_MS 1000000u
#define HIST_SPILL_BYTES (64u * 1024u)  /* a thread's history buffer */
#define HIST_STDIO_BYTES 4096u          /* the stdio buffer in front of it */
#define KEYS_MAX 100000000u             /* "k<n>" fits in 32 bytes with room to spare */

_Static_assert(HIST_SPILL_BYTES >= 2u * HIST_STDIO_BYTES, "a flush fits the spill buffer");

enum { MIX_PUT, MIX_GET, MIX_APPEND, MIX_CAS, MIX_DEL, MIX_N };

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
	const char *config, *csv, *label, *history;
	uint32_t clients, keys, value_bytes, attempt_ms, attempt_us, deadline_ms, think_us, inflight;
	uint32_t mix[MIX_N]; /* weights: put, get, append, cas, del */
	uint64_t max_ops;    /* 0: no limit */
	double rate, seconds, warmup;
	bool final_reads;
};

/* State shared by the threads of one run; written by main before they start, except the
 * atomics. */
struct run {
	uint64_t t_start, t_measure, t_end;
	/* Set by the thread that completes the --max-ops-th operation. */
	_Atomic bool stop;
	_Atomic uint64_t ops_done; /* loop iterations of every thread (--max-ops only) */
	/* Successful completions per millisecond since t_start: the earliest and the latest
	 * (UINT64_MAX and 0 when none); the last entry takes everything later. */
	uint64_t n_ms;
	_Atomic uint64_t *done_first, *done_last;
};

/* A thread's history: stdio writes into buf (the client flushes every line), whole
 * buffers are spilled to fd, an unlinked temporary file. */
struct hist_sink {
	int fd;
	int failed;   /* a spill failed (errno kept in err_no) */
	int err_no;
	size_t len;
	char *buf;    /* HIST_SPILL_BYTES */
};

struct worker {
	const struct opts *o;
	struct run *run;
	uint32_t idx;
	pthread_t th;
	uint64_t seed;
	uint64_t ok, definite, unknown, late; /* late: sent after its intended time + 1 ms */
	uint64_t tag_seq;                     /* makes every written value unique */
	int failed_open;
	/* Successful completions in the current millisecond, published to run->done_* when
	 * the millisecond changes (so the shared table is touched at most once per ms). */
	uint64_t ms_cur, ms_first, ms_last;
	FILE *hist_f;
	struct pw_history hist_rec; /* writes this worker's client's lines to hist_f */
	struct hist_sink sink;
	char *hist_stdio; /* HIST_STDIO_BYTES */
	struct hist h;
	char err[256];
};

static uint64_t now_ns(void)
{
	return env_mono_ns();
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

/* ---- history sink (fopencookie) ---------------------------------------------------- */

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int sink_spill(struct hist_sink *s)
{
	int rc = write_all(s->fd, s->buf, s->len);
	s->len = 0;
	if (rc != 0 && !s->failed) {
		s->failed = 1;
		s->err_no = -rc;
	}
	return rc;
}

static ssize_t sink_write(void *cookie, const char *p, size_t n)
{
	struct hist_sink *s = cookie;
	if (s->len + n > HIST_SPILL_BYTES && sink_spill(s) != 0)
		return -1;
	if (n > HIST_SPILL_BYTES) /* not with a HIST_STDIO_BYTES stdio buffer; for safety */
		return write_all(s->fd, p, n) == 0 ? (ssize_t)n : -1;
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	return (ssize_t)n;
}

static int sink_close(void *cookie)
{
	struct hist_sink *s = cookie;
	return s->len > 0 ? sink_spill(s) : 0;
}

/* Start-up: the history FILE of worker w. 0 or -errno. */
static int sink_open(struct worker *w)
{
	FILE *tmp = tmpfile();
	if (tmp == NULL)
		return -errno;
	w->sink.fd = dup(fileno(tmp));
	int e = errno;
	fclose(tmp); /* the file is unlinked; it lives on through the dup */
	if (w->sink.fd < 0)
		return -e;
	w->sink.buf = malloc(HIST_SPILL_BYTES);
	w->hist_stdio = malloc(HIST_STDIO_BYTES);
	if (w->sink.buf == NULL || w->hist_stdio == NULL)
		return -ENOMEM;
	cookie_io_functions_t io = {.write = sink_write, .close = sink_close};
	w->hist_f = fopencookie(&w->sink, "w", io);
	if (w->hist_f == NULL)
		return -errno;
	/* Our own buffer: glibc would otherwise allocate one at the first write. */
	if (setvbuf(w->hist_f, w->hist_stdio, _IOFBF, HIST_STDIO_BYTES) != 0)
		return -EINVAL;
	return 0;
}

/* After the run: closes w's history FILE and appends what it recorded to out. */
static int sink_drain(struct worker *w, FILE *out)
{
	if (fclose(w->hist_f) != 0 && !w->sink.failed) {
		w->sink.failed = 1;
		w->sink.err_no = EIO;
	}
	w->hist_f = NULL;
	if (w->sink.failed) {
		errno = w->sink.err_no;
		return -1;
	}
	if (lseek(w->sink.fd, 0, SEEK_SET) < 0)
		return -1;
	for (;;) {
		ssize_t n = read(w->sink.fd, w->sink.buf, HIST_SPILL_BYTES);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		if (fwrite(w->sink.buf, 1, (size_t)n, out) != (size_t)n)
			return -1;
	}
}

/* ---- longest stall ----------------------------------------------------------------- */

static uint64_t ms_of(const struct run *r, uint64_t t)
{
	uint64_t ms = t > r->t_start ? (t - r->t_start) / NS_PER_MS : 0;
	return ms < r->n_ms ? ms : r->n_ms - 1u;
}

static void atomic_min_u64(_Atomic uint64_t *p, uint64_t v)
{
	uint64_t cur = atomic_load_explicit(p, memory_order_relaxed);
	while (v < cur && !atomic_compare_exchange_weak_explicit(p, &cur, v, memory_order_relaxed,
								memory_order_relaxed)) {
	}
}

static void atomic_max_u64(_Atomic uint64_t *p, uint64_t v)
{
	uint64_t cur = atomic_load_explicit(p, memory_order_relaxed);
	while (v > cur && !atomic_compare_exchange_weak_explicit(p, &cur, v, memory_order_relaxed,
								memory_order_relaxed)) {
	}
}

/* Relaxed: main reads the table after pthread_join, which orders it. */
static void done_publish(struct worker *w)
{
	if (w->ms_last == 0)
		return;
	atomic_min_u64(&w->run->done_first[w->ms_cur], w->ms_first);
	atomic_max_u64(&w->run->done_last[w->ms_cur], w->ms_last);
	w->ms_last = 0;
}

static void done_note(struct worker *w, uint64_t t)
{
	uint64_t ms = ms_of(w->run, t);
	if (ms != w->ms_cur) {
		done_publish(w);
		w->ms_cur = ms;
	}
	if (w->ms_last == 0)
		w->ms_first = t;
	w->ms_last = t;
}

/* The longest interval of [from, to] with no successful completion, in ns. */
static uint64_t longest_stall(const struct run *r, uint64_t from, uint64_t to)
{
	uint64_t prev = from, stall = 0;
	for (uint64_t ms = ms_of(r, from); ms <= ms_of(r, to); ms++) {
		uint64_t f = atomic_load_explicit(&r->done_first[ms], memory_order_relaxed);
		uint64_t l = atomic_load_explicit(&r->done_last[ms], memory_order_relaxed);
		if (l == 0 || l < prev)
			continue; /* none, or all before the measured time */
		if (f > prev && f - prev > stall)
			stall = f - prev;
		prev = l;
	}
	if (to > prev && to - prev > stall)
		stall = to - prev;
	return stall;
}

/* ---- the run ------------------------------------------------------------------------ */

static struct pw_client *open_client(const struct opts *o, char *err, size_t errlen)
{
	struct pw_client_opts co;
	pw_client_opts_default(&co);
	co.config_path = o->config;
	co.attempt_timeout_ms = o->attempt_ms;
	co.attempt_timeout_us = o->attempt_us; /* 0: attempt_ms */
	co.deadline_ms = o->deadline_ms;
	co.max_inflight = o->inflight;
	return pw_client_open(&co, err, errlen);
}

/* Counts an operation that started (or was due) at t0 and ended at t1 with rc. */
static void record_at(struct worker *w, uint64_t t0, uint64_t t1, int rc)
{
	if (rc == PW_OK)
		done_note(w, t1);
	if (t0 < w->run->t_measure)
		return;
	if (rc == PW_OK) {
		w->ok++;
		h_add(&w->h, t1 - t0);
	} else if (pw_err_outcome_unknown(rc)) {
		w->unknown++;
	} else {
		w->definite++;
	}
}

/* Counts an operation that started (or was due) at t0 and ended now with rc. */
static void record(struct worker *w, uint64_t t0, int rc)
{
	record_at(w, t0, now_ns(), rc);
}

/* Writes "c<client>-<kind><n>" into val (pre-filled with 'x'); returns the value's
 * length: --value-bytes, or the tag's length when that is longer. */
static size_t tag_value(struct worker *w, char *val, size_t cap, const char *kind)
{
	int n = snprintf(val, cap, "c%u-%s%" PRIu64, w->idx, kind, w->tag_seq++);
	size_t vl = (size_t)n;
	val[vl] = 'x'; /* snprintf's NUL */
	return vl > w->o->value_bytes ? vl : w->o->value_bytes;
}

/* Puts the 'x's back over the tag that tag_value wrote. */
static void untag_value(char *val)
{
	for (size_t i = 0; val[i] != 'x'; i++)
		val[i] = 'x';
}

/* --inflight K: the closed loop of one thread with K commands in flight through the
 * asynchronous API; each one's latency runs from its submission to its completion. */
static void worker_async(struct worker *w, struct pw_client *c)
{
	const struct opts *o = w->o;
	struct run *run = w->run;
	char val[PW_CMD_BYTES_MAX + 1], key[32];
	struct pw_completion done[PW_INFLIGHT_MAX];
	uint32_t total = 0;

	memset(val, 'x', sizeof(val));
	for (int i = 0; i < MIX_N; i++)
		total += o->mix[i];
	const uint32_t c_get = o->mix[MIX_PUT] + o->mix[MIX_GET];
	const uint32_t c_app = c_get + o->mix[MIX_APPEND];
	sleep_until(run->t_start);
	/* Bounded by the run's end: then what is in flight is drained, each by its
	 * deadline at most. */
	for (;;) {
		bool submit = !atomic_load_explicit(&run->stop, memory_order_acquire) &&
			      now_ns() < run->t_end;
		while (submit && pw_client_outstanding(c) < o->inflight) {
			uint32_t pick = (uint32_t)(rnd(&w->seed) % total);
			int kl = snprintf(key, sizeof(key), "k%" PRIu64, rnd(&w->seed) % o->keys);
			int rc;
			if (pick < o->mix[MIX_PUT]) {
				size_t vl = tag_value(w, val, sizeof(val), "");
				rc = pw_put_async(c, key, (size_t)kl, val, vl, NULL, NULL);
				untag_value(val);
			} else if (pick < c_get) {
				rc = pw_get_async(c, key, (size_t)kl, NULL, NULL);
			} else if (pick < c_app) {
				rc = pw_append_async(c, val, o->value_bytes, NULL, NULL);
			} else {
				rc = pw_del_async(c, key, (size_t)kl, NULL, NULL);
			}
			if (rc != PW_OK) {
				record(w, now_ns(), rc);
				break;
			}
		}
		if (!submit && pw_client_outstanding(c) == 0)
			break;
		int n = pw_poll(c, done, PW_INFLIGHT_MAX, 100000);
		if (n < 0)
			break;
		uint64_t t1 = now_ns();
		for (int i = 0; i < n; i++) {
			int rc = done[i].rc;
			if (rc == PW_E_NOT_FOUND)
				rc = PW_OK; /* get, del: an answer */
			record_at(w, done[i].call_ns, t1, rc);
			if (o->max_ops != 0 &&
			    atomic_fetch_add_explicit(&run->ops_done, 1, memory_order_relaxed) + 1 >=
				    o->max_ops)
				atomic_store_explicit(&run->stop, true, memory_order_release);
		}
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	const struct opts *o = w->o;
	struct run *run = w->run;
	struct pw_client *c = open_client(o, w->err, sizeof(w->err));
	if (c == NULL) {
		w->failed_open = 1;
		return NULL;
	}
	if (w->hist_f != NULL)
		pw_history_attach(&w->hist_rec, c, w->hist_f, w->idx + 1);
	if (o->inflight > 1) {
		worker_async(w, c);
		done_publish(w);
		pw_client_close(c);
		return NULL;
	}
	/* val: 'x' throughout (tags come and go at its start), so that a NUL-free 'x' ends
	 * every tag; one more byte than any value for tag_value's snprintf NUL. */
	char val[PW_CMD_BYTES_MAX + 1];
	char buf[PW_REPLY_BYTES_MAX], key[32];
	memset(val, 'x', sizeof(val));
	const uint32_t *mix = o->mix;
	uint32_t total = 0;
	for (int i = 0; i < MIX_N; i++)
		total += mix[i];
	const uint32_t c_get = mix[MIX_PUT] + mix[MIX_GET], c_app = c_get + mix[MIX_APPEND],
		       c_cas = c_app + mix[MIX_CAS];
	double gap_mean_ns = o->rate > 0 ? 1e9 * (double)o->clients / o->rate : 0;
	uint64_t intended = run->t_start;
	if (gap_mean_ns > 0) /* threads start at random phases */
		intended += (uint64_t)(-log(rnd01(&w->seed)) * gap_mean_ns);
	else
		sleep_until(run->t_start); /* every closed-loop thread starts together */
	const struct timespec think = {.tv_sec = o->think_us / 1000000u,
				       .tv_nsec = (long)(o->think_us % 1000000u) * 1000};
	/* Acquire pairs with the release store of the thread that reached --max-ops. */
	while (!atomic_load_explicit(&run->stop, memory_order_acquire)) {
		uint64_t t0;
		if (gap_mean_ns > 0) {
			if (intended >= run->t_end)
				break;
			uint64_t n = now_ns();
			if (n < intended)
				sleep_until(intended);
			else if (n > intended + 1000000u)
				w->late++;
			t0 = intended; /* latency from the intended send time */
		} else {
			t0 = now_ns();
			if (t0 >= run->t_end)
				break;
		}
		uint32_t pick = (uint32_t)(rnd(&w->seed) % total);
		int kl = snprintf(key, sizeof(key), "k%" PRIu64, rnd(&w->seed) % o->keys);
		int rc;
		size_t len = 0;
		if (pick < mix[MIX_PUT]) {
			size_t vl = tag_value(w, val, sizeof(val), "");
			rc = pw_put(c, key, (size_t)kl, val, vl);
			untag_value(val);
		} else if (pick < c_get) {
			rc = pw_get(c, key, (size_t)kl, buf, sizeof(buf), &len);
			if (rc == PW_E_NOT_FOUND)
				rc = PW_OK; /* an answer */
		} else if (pick < c_app) {
			uint64_t off = 0;
			rc = pw_append(c, val, o->value_bytes, &off);
		} else if (pick < c_cas) {
			/* cas from what was just read, so that some succeed */
			int g = pw_get(c, key, (size_t)kl, buf, sizeof(buf), &len);
			record(w, t0, g == PW_E_NOT_FOUND ? PW_OK : g);
			t0 = now_ns();
			size_t vl = tag_value(w, val, sizeof(val), "cas");
			if (g == PW_OK)
				rc = pw_cas(c, key, (size_t)kl, buf, len, val, vl);
			else
				rc = pw_cas(c, key, (size_t)kl, NULL, 0, val, vl);
			untag_value(val);
			if (rc == PW_E_CAS_MISMATCH || rc == PW_E_NOT_FOUND)
				rc = PW_OK; /* a definite answer: the operation worked */
		} else {
			rc = pw_del(c, key, (size_t)kl);
			if (rc == PW_E_NOT_FOUND)
				rc = PW_OK;
		}
		record(w, t0, rc);
		if (o->max_ops != 0 &&
		    atomic_fetch_add_explicit(&run->ops_done, 1, memory_order_relaxed) + 1 >=
			    o->max_ops)
			/* Pairs with the acquire load at the top of every thread's loop. */
			atomic_store_explicit(&run->stop, true, memory_order_release);
		if (gap_mean_ns > 0)
			intended += (uint64_t)(-log(rnd01(&w->seed)) * gap_mean_ns) + 1u;
		else if (o->think_us > 0)
			nanosleep(&think, NULL);
	}
	done_publish(w);
	pw_client_close(c);
	return NULL;
}

/* After the run: one more client reads every key once. 0, or -1 if it cannot open. */
static int final_reads(const struct opts *o, FILE *history, uint64_t *ok, uint64_t *failed)
{
	char err[256];
	struct pw_client *c = open_client(o, err, sizeof(err));
	if (c == NULL) {
		fprintf(stderr, "pw-bench: final reads: %s\n", err);
		return -1;
	}
	struct pw_history hist_rec;
	if (history != NULL)
		pw_history_attach(&hist_rec, c, history, o->clients + 1);
	for (uint32_t k = 0; k < o->keys; k++) {
		char key[32], buf[PW_REPLY_BYTES_MAX];
		size_t len = 0;
		int kl = snprintf(key, sizeof(key), "k%u", k);
		int rc = pw_get(c, key, (size_t)kl, buf, sizeof(buf), &len);
		if (rc == PW_OK || rc == PW_E_NOT_FOUND)
			(*ok)++;
		else
			(*failed)++;
	}
	pw_client_close(c);
	return 0;
}

static void usage_to(FILE *f)
{
	fprintf(f,
		"usage: pw-bench --config FILE [--clients N] [--rate OPS_PER_S] [--seconds S]\n"
		"                [--warmup S] [--value-bytes B] [--keys K]\n"
		"                [--mix PUT,GET,APPEND,CAS,DEL] [--csv FILE] [--label TEXT]\n"
		"                [--attempt-ms MS | --attempt-us US] [--deadline-ms MS]\n"
		"                [--think-us US]\n"
		"                [--max-ops N] [--history FILE] [--final-reads]\n"
		"                [--inflight K]\n");
}

static void usage(void)
{
	usage_to(stderr);
}

static int parse_mix(const char *s, uint32_t mix[MIX_N])
{
	char *end;
	for (int i = 0; i < MIX_N; i++) {
		unsigned long v = strtoul(s, &end, 10);
		if (end == s || v > 100)
			return -1;
		mix[i] = (uint32_t)v;
		if (*end == '\0') {
			for (int j = i + 1; j < MIX_N; j++)
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
	if (pw_version_arg(argc, argv, "pw-bench"))
		return 0;
	struct opts o = {.clients = 1, .inflight = 1, .keys = 1024, .value_bytes = 16, .attempt_ms = 100,
			 .deadline_ms = 3000, .mix = {100, 0, 0, 0, 0}, .seconds = 5, .warmup = 1,
			 .label = ""};
	static const struct option lo[] = {
		{"config", required_argument, NULL, 'c'}, {"clients", required_argument, NULL, 'n'},
		{"rate", required_argument, NULL, 'r'}, {"seconds", required_argument, NULL, 's'},
		{"warmup", required_argument, NULL, 'w'},
		{"value-bytes", required_argument, NULL, 'v'}, {"keys", required_argument, NULL, 'k'},
		{"mix", required_argument, NULL, 'm'}, {"csv", required_argument, NULL, 'C'},
		{"label", required_argument, NULL, 'l'},
		{"attempt-ms", required_argument, NULL, 'a'},
		{"attempt-us", required_argument, NULL, 'U'},
		{"deadline-ms", required_argument, NULL, 'd'},
		{"think-us", required_argument, NULL, 't'},
		{"max-ops", required_argument, NULL, 'M'},
		{"history", required_argument, NULL, 'H'},
		{"final-reads", no_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'},
		{"inflight", required_argument, NULL, 'K'},
		{NULL, 0, NULL, 0}};
	int ch;
	while ((ch = getopt_long(argc, argv, "c:n:r:s:w:v:k:m:C:l:a:d:t:M:H:fhK:", lo, NULL)) !=
	       -1) {
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
		case 'U': o.attempt_us = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'd': o.deadline_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 't': o.think_us = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'M': o.max_ops = strtoull(optarg, NULL, 10); break;
		case 'H': o.history = optarg; break;
		case 'f': o.final_reads = true; break;
		case 'K': o.inflight = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'h': usage_to(stdout); return 0;
		default: usage(); return 2;
		}
	}
	uint32_t mix_total = 0;
	for (int i = 0; i < MIX_N; i++)
		mix_total += o.mix[i];
	bool append = o.mix[MIX_APPEND] > 0;
	bool kv = mix_total > o.mix[MIX_APPEND];
	/* A cas carries the expected value and the new one. */
	uint32_t vmax = append ? PW_RECORD_BYTES_MAX
			       : o.mix[MIX_CAS] > 0 ? (PW_KV_BYTES_MAX - 24) / 2
						    : PW_KV_BYTES_MAX - 24;
	if (o.config == NULL || optind != argc || o.clients < 1 || o.clients > CLIENTS_MAX ||
	    o.seconds <= 0 || o.warmup < 0 || o.rate < 0 || o.keys < 1 || o.keys > KEYS_MAX ||
	    o.value_bytes < 1 || o.value_bytes > vmax || mix_total == 0 || o.attempt_ms == 0 ||
	    o.deadline_ms == 0 || (append && kv) || (append && o.final_reads) ||
	    (o.rate > 0 && o.think_us > 0) || o.inflight < 1 || o.inflight > PW_INFLIGHT_MAX ||
	    (o.inflight > 1 && (o.rate > 0 || o.think_us > 0 || o.mix[MIX_CAS] > 0)) ||
	    strchr(o.label, '"') != NULL ||
	    strchr(o.label, '\\') != NULL) {
		fprintf(stderr, "pw-bench: --config is required; --clients in [1, %u]; "
				"--keys in [1, %u]; --value-bytes in [1, %u]; append cannot be "
				"mixed with put/get/cas/del nor with --final-reads; --think-us is "
				"for the closed loop (no --rate); --inflight in [1, 64], closed "
				"loop, no cas; no quotes in --label\n",
			CLIENTS_MAX, KEYS_MAX, vmax);
		usage();
		return 2;
	}

	/* Start-up: everything the run needs. */
	struct worker *ws = calloc(o.clients, sizeof(*ws));
	struct hist *h = calloc(1, sizeof(*h));
	struct run run = {0};
	run.n_ms = (uint64_t)((o.warmup + o.seconds) * 1e3) + o.deadline_ms + 1000u;
	run.done_first = calloc(run.n_ms, sizeof(*run.done_first));
	run.done_last = calloc(run.n_ms, sizeof(*run.done_last));
	if (ws == NULL || h == NULL || run.done_first == NULL || run.done_last == NULL) {
		fprintf(stderr, "pw-bench: out of memory\n");
		return 1;
	}
	for (uint64_t i = 0; i < run.n_ms; i++) {
		atomic_init(&run.done_first[i], UINT64_MAX);
		atomic_init(&run.done_last[i], 0);
	}
	atomic_init(&run.stop, false);
	atomic_init(&run.ops_done, 0);
	FILE *hist_out = NULL;
	if (o.history != NULL) {
		hist_out = fopen(o.history, "w");
		if (hist_out == NULL) {
			fprintf(stderr, "pw-bench: --history %s: %s\n", o.history, strerror(errno));
			return 1;
		}
	}
	uint64_t seed0 = now_ns();
	for (uint32_t i = 0; i < o.clients; i++) {
		ws[i].o = &o;
		ws[i].run = &run;
		ws[i].idx = i;
		ws[i].seed = seed0 ^ (0x1234567ull * (i + 1));
		ws[i].sink.fd = -1;
		if (o.history != NULL) {
			int e = sink_open(&ws[i]);
			if (e != 0) {
				fprintf(stderr, "pw-bench: history buffer: %s\n", strerror(-e));
				return 1;
			}
		}
	}
	run.t_start = now_ns() + 20000000u; /* 20 ms for the threads to start */
	run.t_measure = run.t_start + (uint64_t)(o.warmup * 1e9);
	run.t_end = run.t_measure + (uint64_t)(o.seconds * 1e9);
	for (uint32_t i = 0; i < o.clients; i++) {
		int e = pthread_create(&ws[i].th, NULL, worker_main, &ws[i]);
		if (e != 0) {
			fprintf(stderr, "pw-bench: pthread_create: %s\n", strerror(e));
			return 1;
		}
	}
	uint64_t ok = 0, definite = 0, unknown = 0, late = 0;
	int failed = 0;
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
	uint64_t t_last = now_ns();
	/* Throughput over the measured interval; in closed loop the last commands may end
	 * a little after t_end, so the interval runs to when the last thread finished (or
	 * only to then, when --max-ops ended the run early). */
	bool stopped = atomic_load_explicit(&run.stop, memory_order_acquire);
	uint64_t t_stop = stopped || t_last > run.t_end ? t_last : run.t_end;
	if (t_stop < run.t_measure + 1000u)
		t_stop = run.t_measure + 1000u; /* --max-ops reached within the warm-up */
	double secs = (double)(t_stop - run.t_measure) / 1e9;
	double stall_ms = (double)longest_stall(&run, run.t_measure, t_stop) / 1e6;

	uint64_t final_ok = 0, final_failed = 0;
	int hist_failed = 0;
	if (hist_out != NULL) {
		for (uint32_t i = 0; i < o.clients; i++) {
			if (sink_drain(&ws[i], hist_out) != 0) {
				fprintf(stderr, "pw-bench: history of client %u: %s\n", i,
					strerror(errno));
				hist_failed = 1;
			}
			close(ws[i].sink.fd);
			free(ws[i].sink.buf);
			free(ws[i].hist_stdio);
		}
	}
	if (o.final_reads && final_reads(&o, hist_out, &final_ok, &final_failed) != 0)
		failed = 1;
	if (hist_out != NULL && fclose(hist_out) != 0) {
		fprintf(stderr, "pw-bench: writing %s failed\n", o.history);
		hist_failed = 1;
	}

	const char *mode = o.rate > 0 ? "open" : "closed";
	double p50 = h_pct(h, 0.5) / 1e3, p90 = h_pct(h, 0.9) / 1e3, p99 = h_pct(h, 0.99) / 1e3,
	       p999 = h_pct(h, 0.999) / 1e3, p9999 = h_pct(h, 0.9999) / 1e3,
	       mx = (double)h->max / 1e3, mean = h->count ? h->sum / (double)h->count / 1e3 : 0;
	/* "errors" and "definite_errors" are the same count: the first for the benchmark
	 * scripts, the second for the cluster tests' name of it. */
	printf("{\"bench\":\"pw-bench\",\"label\":\"%s\",\"mode\":\"%s\",\"clients\":%u,"
	       "\"inflight\":%u,"
	       "\"rate_offered\":%.0f,\"value_bytes\":%u,\"keys\":%u,\"mix_put\":%u,"
	       "\"mix_get\":%u,\"mix_append\":%u,\"mix_cas\":%u,\"mix_del\":%u,"
	       "\"think_us\":%u,\"max_ops\":%" PRIu64 ",\"warmup_s\":%.2f,\"seconds\":%.2f,"
	       "\"ok\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"definite_errors\":%" PRIu64
	       ",\"unknown\":%" PRIu64 ",\"late_sends\":%" PRIu64 ",\"ops_per_s\":%.0f,"
	       "\"lat_us_mean\":%.1f,\"lat_us_p50\":%.1f,\"lat_us_p90\":%.1f,"
	       "\"lat_us_p99\":%.1f,\"lat_us_p999\":%.1f,\"lat_us_p9999\":%.1f,"
	       "\"lat_us_max\":%.1f,\"longest_stall_ms\":%.1f,\"final_reads_ok\":%" PRIu64
	       ",\"final_reads_failed\":%" PRIu64 "}\n",
	       o.label, mode, o.clients, o.inflight, o.rate, o.value_bytes, o.keys, o.mix[MIX_PUT],
	       o.mix[MIX_GET], o.mix[MIX_APPEND], o.mix[MIX_CAS], o.mix[MIX_DEL], o.think_us,
	       o.max_ops, o.warmup, secs, ok, definite, definite, unknown, late,
	       (double)ok / secs, mean, p50, p90, p99, p999, p9999, mx, stall_ms, final_ok,
	       final_failed);
	fflush(stdout);
	fprintf(stderr, "pw-bench %s%s%s loop, %u clients", o.label, *o.label ? ": " : "",
		mode, o.clients);
	if (o.rate > 0)
		fprintf(stderr, ", offered %.0f ops/s (Poisson; latency from intended send)",
			o.rate);
	fprintf(stderr, ", %u B values, %.1f s (+%.1f s warm-up)\n", o.value_bytes, secs,
		o.warmup);
	fprintf(stderr, "  ops/s %10.0f   ok %" PRIu64 "  errors %" PRIu64 "  unknown %" PRIu64
			"  late %" PRIu64 "  longest stall %.1f ms\n",
		(double)ok / secs, ok, definite, unknown, late, stall_ms);
	fprintf(stderr, "  latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  p99.99 %.1f"
			"  max %.1f\n", p50, p90, p99, p999, p9999, mx);
	if (o.final_reads)
		fprintf(stderr, "  final reads: %" PRIu64 " answered, %" PRIu64 " failed\n",
			final_ok, final_failed);
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
	free(run.done_first);
	free(run.done_last);
	free(h);
	free(ws);
	return (ok > 0 && !failed && final_failed == 0 && !hist_failed) ? 0 : 1;
}
