/* SPDX-License-Identifier: Apache-2.0
 * pw-bench-snap: how long the built-in services take to write and to restore a
 * snapshot of a large state (struct px_service snapshot() and restore(), the work of a
 * state transfer apart from the network and the applier's sessions).
 *
 * kv: a store of --keys keys of 16 bytes with --value-bytes values, filled through
 * apply() (PUTs); about 100 MB of live state by default (100,000 x 1,000 bytes).
 * stream: a ring of --keys x --value-bytes data bytes, filled through apply() (APPENDs
 * of --value-bytes records) until it has wrapped, so it holds about as much.
 *
 * Each figure is the median of --reps runs after one untimed run (which faults in the
 * snapshot buffer and the target's arena), timed with CLOCK_MONOTONIC (env_mono_ns).
 * snapshot() writes into one buffer of snapshot_max() bytes; restore() rebuilds a
 * second instance of the same configuration, whose hash() must then equal the
 * original's (else exit 1). state_bytes counts the live keys and values (records); the
 * _per_100mb figures scale the times to 10^8 bytes of it. One JSON line per service:
 *   {"bench":"snap","service":"kv","keys":...,"state_bytes":...,"snapshot_bytes":...,
 *    "snapshot_ms":...,"restore_ms":...,"snapshot_ms_per_100mb":...,"restore_ms_per_100mb":...}
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "svc_kv.h"
#include "svc_stream.h"
#include "pw_version.h"

#define KEY_BYTES 16u
#define REPS_MAX 99u

struct figures {
	uint64_t count;          /**< keys or records held */
	uint64_t state_bytes;
	size_t snapshot_bytes;
	double snapshot_ms;
	double restore_ms;
};

static void *arena_new(size_t n)
{
	size_t len = (n + 63u) & ~(size_t)63u;
	void *p = aligned_alloc(64, len);

	if (p == NULL) {
		fprintf(stderr, "pw-bench-snap: cannot allocate %zu bytes; fix: fewer --keys or --value-bytes\n",
			len);
		exit(2);
	}
	memset(p, 0, len);   /* zeroed, as paxwired gives it */
	return p;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, uint32_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double ms_since(uint64_t t0)
{
	return (double)(env_mono_ns() - t0) / 1e6;
}

/**
 * Times snapshot() of src and restore() into dst: one untimed run of each, then reps
 * timed ones. Exits 1 if dst's hash differs from src's after a restore.
 */
static void measure(const struct px_service *src, const struct px_service *dst, uint32_t reps,
		    const char *what, struct figures *f)
{
	size_t max = src->snapshot_max(src->ctx), len = 0;
	uint8_t *buf = arena_new(max);
	double snap[REPS_MAX], rest[REPS_MAX];
	uint64_t t0;

	for (uint32_t r = 0; r <= reps; r++) {
		t0 = env_mono_ns();
		len = src->snapshot(src->ctx, buf, max);
		if (r > 0)
			snap[r - 1] = ms_since(t0);
	}
	for (uint32_t r = 0; r <= reps; r++) {
		t0 = env_mono_ns();
		int rc = dst->restore(dst->ctx, buf, len);
		if (r > 0)
			rest[r - 1] = ms_since(t0);
		if (rc != 0 || dst->hash(dst->ctx) != src->hash(src->ctx)) {
			fprintf(stderr, "pw-bench-snap: %s: restore gave another state (rc %d)\n", what,
				rc);
			exit(1);
		}
	}
	f->snapshot_bytes = len;
	f->snapshot_ms = median(snap, reps);
	f->restore_ms = median(rest, reps);
	free(buf);
}

static void bench_kv(uint32_t keys, uint32_t value_bytes, uint32_t reps, struct figures *f)
{
	size_t n = svc_kv_arena_bytes(keys, KEY_BYTES, value_bytes);
	void *arena[2] = { arena_new(n), arena_new(n) };
	struct svc_kv *kv[2];
	struct px_service svc[2];
	static uint8_t cmd[PX_CMD_BYTES_MAX], reply[PX_REPLY_BYTES_MAX], value[PX_CMD_BYTES_MAX];
	char key[KEY_BYTES + 1];
	uint8_t status;

	for (int i = 0; i < 2; i++) {
		kv[i] = svc_kv_init(keys, KEY_BYTES, value_bytes, arena[i], n);
		if (kv[i] == NULL) {
			fprintf(stderr, "pw-bench-snap: svc_kv_init: %s\n", strerror(errno));
			exit(2);
		}
		svc_kv_service(kv[i], &svc[i]);
	}
	f->state_bytes = 0;
	for (uint32_t k = 0; k < keys; k++) {
		snprintf(key, sizeof(key), "key-%012u", k);
		memset(value, (int)(k * 131u), value_bytes);
		memcpy(value, &k, sizeof(k));   /* value_bytes >= 4: every value differs */
		uint32_t len = wire_kv_encode_put(cmd, sizeof(cmd), key, KEY_BYTES, value, value_bytes);
		svc_kv_apply(kv[0], cmd, len, reply, sizeof(reply), &status);
		if (status != PX_OK || reply[0] != WIRE_KV_R_OK) {
			fprintf(stderr, "pw-bench-snap: kv: PUT %u refused\n", k);
			exit(1);
		}
		f->state_bytes += KEY_BYTES + value_bytes;
	}
	f->count = svc_kv_count(kv[0]);
	measure(&svc[0], &svc[1], reps, "kv", f);
	free(arena[0]);
	free(arena[1]);
}

static void bench_stream(uint32_t keys, uint32_t value_bytes, uint32_t reps, struct figures *f)
{
	uint64_t data = (uint64_t)keys * value_bytes;
	uint32_t records = 1;
	static uint8_t cmd[PX_CMD_BYTES_MAX], reply[PX_REPLY_BYTES_MAX], payload[PX_CMD_BYTES_MAX];
	struct svc_stream *s[2];
	struct px_service svc[2];
	uint8_t status;

	if (data < WIRE_STREAM_PAYLOAD_MAX)
		data = WIRE_STREAM_PAYLOAD_MAX;
	if (data > SVC_STREAM_DATA_BYTES_MAX)
		data = SVC_STREAM_DATA_BYTES_MAX;
	/* Enough records that the bytes, not the count, bound the ring. */
	while (records < 2 * keys && records < SVC_STREAM_RECORDS_MAX)
		records <<= 1;
	size_t n = svc_stream_arena_bytes(records, (uint32_t)data);
	void *arena[2] = { arena_new(n), arena_new(n) };
	for (int i = 0; i < 2; i++) {
		s[i] = svc_stream_init(records, (uint32_t)data, arena[i], n);
		if (s[i] == NULL) {
			fprintf(stderr, "pw-bench-snap: svc_stream_init: %s\n", strerror(errno));
			exit(2);
		}
		svc_stream_service(s[i], &svc[i]);
	}
	/* A quarter more than fits: the ring has wrapped, the oldest is mid-ring. */
	uint64_t appends = (uint64_t)keys + keys / 4 + 1;
	for (uint64_t k = 0; k < appends; k++) {
		memset(payload, (int)(k * 131u), value_bytes);
		uint32_t len = wire_stream_encode_append(cmd, sizeof(cmd), payload, value_bytes);
		svc_stream_apply(s[0], cmd, len, reply, sizeof(reply), &status);
		if (status != PX_OK || reply[0] != WIRE_STREAM_R_OK) {
			fprintf(stderr, "pw-bench-snap: stream: APPEND %llu refused\n",
				(unsigned long long)k);
			exit(1);
		}
	}
	f->count = svc_stream_next_offset(s[0]) - svc_stream_oldest(s[0]);
	f->state_bytes = f->count * value_bytes;
	measure(&svc[0], &svc[1], reps, "stream", f);
	free(arena[0]);
	free(arena[1]);
}

static void print(const char *service, const char *count_name, const struct figures *f)
{
	double scale = 1e8 / (double)(f->state_bytes ? f->state_bytes : 1);

	printf("{\"bench\":\"snap\",\"service\":\"%s\",\"%s\":%llu,\"state_bytes\":%llu,"
	       "\"snapshot_bytes\":%zu,\"snapshot_ms\":%.3f,\"restore_ms\":%.3f,"
	       "\"snapshot_ms_per_100mb\":%.3f,\"restore_ms_per_100mb\":%.3f}\n",
	       service, count_name, (unsigned long long)f->count,
	       (unsigned long long)f->state_bytes, f->snapshot_bytes, f->snapshot_ms, f->restore_ms,
	       f->snapshot_ms * scale, f->restore_ms * scale);
	fflush(stdout);
}

static void usage_to(FILE *f)
{
	fprintf(f,
		"usage: pw-bench-snap [--keys 100000] [--value-bytes 1000] [--reps 5]\n"
		"Prints one JSON line for kv and one for stream: snapshot() and restore() times\n"
		"(median of --reps) of about keys x value-bytes of live state.\n");
}

static void usage(void)
{
	usage_to(stderr);
}

int main(int argc, char **argv)
{
	if (pw_version_arg(argc, argv, "pw-bench-snap"))
		return 0;
	uint32_t keys = 100000, value_bytes = 1000, reps = 5;
	static const struct option opts[] = {
		{ "keys", required_argument, NULL, 'k' },
		{ "value-bytes", required_argument, NULL, 'v' },
		{ "reps", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "k:v:n:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'k': keys = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'v': value_bytes = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'n': reps = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'h': usage_to(stdout); return 0;
		default: usage(); return 2;
		}
	}
	if (keys < 1 || keys > SVC_KV_KEYS_MAX || value_bytes < 4 ||
	    value_bytes > WIRE_KV_VALUE_BYTES_MAX || reps < 1 || reps > REPS_MAX) {
		fprintf(stderr, "pw-bench-snap: --keys must be in [1, %u], --value-bytes in [4, %u], "
				"--reps in [1, %u]\n",
			SVC_KV_KEYS_MAX, WIRE_KV_VALUE_BYTES_MAX, REPS_MAX);
		return 2;
	}
	struct figures f;
	bench_kv(keys, value_bytes, reps, &f);
	print("kv", "keys", &f);
	bench_stream(keys, value_bytes, reps, &f);
	print("stream", "records", &f);
	return 0;
}
