/* SPDX-License-Identifier: Apache-2.0
 * client-dpdk-check: libpaxwire-client over its DPDK transport (opts.transport = "dpdk"),
 * for tests/cluster/client_memif.sh. Port j of this process leads to replica j's memif
 * client port.
 *
 *   client-dpdk-check --config FILE --eal "EAL ARGS" [--prefix P] [--rounds N]
 *   client-dpdk-check --config FILE --eal "EAL ARGS" --expect-open-error TEXT
 *
 * Runs synchronous puts, then a full window of asynchronous puts with synchronous
 * calls among them, then reads every key back (synchronously and asynchronously) and
 * checks each value; the second form checks that pw_client_open fails and that its
 * message holds TEXT. Prints one line; exit 0 only if every check held.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "paxwire.h"

#define NA 64

static int fails;

#define CHECK(cond, ...)                                                               \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);           \
			fprintf(stderr, __VA_ARGS__);                                  \
			fprintf(stderr, "\n");                                         \
			fails++;                                                       \
		}                                                                      \
	} while (0)

static int poll_all(struct pw_client *c, struct pw_completion *done, int n)
{
	int got = 0;
	for (long spins = 0; got < n && spins < 200000000L; spins++) {
		int k = pw_poll(c, done + got, n - got, 0);
		if (k < 0)
			return got;
		got += k;
	}
	return got;
}

int main(int argc, char **argv)
{
	const char *config = NULL, *eal = NULL, *expect_err = NULL, *prefix = "m";
	int rounds = 1;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--config") == 0)
			config = argv[i + 1];
		else if (strcmp(argv[i], "--eal") == 0)
			eal = argv[i + 1];
		else if (strcmp(argv[i], "--expect-open-error") == 0)
			expect_err = argv[i + 1];
		else if (strcmp(argv[i], "--prefix") == 0)
			prefix = argv[i + 1];
		else if (strcmp(argv[i], "--rounds") == 0)
			rounds = atoi(argv[i + 1]);
	}
	if (config == NULL || eal == NULL || rounds < 1) {
		fprintf(stderr, "usage: client-dpdk-check --config FILE --eal \"EAL ARGS\" [--prefix P] [--rounds N] [--expect-open-error TEXT]\n");
		return 2;
	}
	struct pw_client_opts o;
	pw_client_opts_default(&o);
	o.config_path = config;
	o.transport = "dpdk";
	o.eal_args = eal;
	o.attempt_timeout_ms = 50;
	o.deadline_ms = 5000;
	char err[1024] = "";
	struct pw_client *c = pw_client_open(&o, err, sizeof(err));
	if (expect_err != NULL) {
		if (c != NULL) {
			printf("FAIL: pw_client_open succeeded with EAL arguments \"%s\"\n", eal);
			return 1;
		}
		if (strstr(err, expect_err) == NULL) {
			printf("FAIL: open error \"%s\" lacks \"%s\"\n", err, expect_err);
			return 1;
		}
		printf("ok: open refused: %s\n", err);
		return 0;
	}
	if (c == NULL) {
		printf("FAIL: pw_client_open: %s\n", err);
		return 1;
	}
	CHECK(pw_client_fd(c) == -1, "pw_client_fd over dpdk");
	char key[32], val[32], buf[64];
	size_t len = 0;
	long sync_ok = 0, async_ok = 0, reads_ok = 0;
	static struct pw_completion done[NA];
	for (int r = 0; r < rounds; r++) {
		/* Synchronous puts. */
		for (int i = 0; i < 50; i++) {
			snprintf(key, sizeof(key), "%s-s%d", prefix, i);
			snprintf(val, sizeof(val), "v%d-%d", r, i);
			int rc = pw_put(c, key, strlen(key), val, strlen(val));
			CHECK(rc == PW_OK, "put %s: %s", key, pw_strerror(rc));
			sync_ok += rc == PW_OK;
		}
		/* A full window of asynchronous puts, synchronous calls among them. */
		for (int i = 0; i < NA; i++) {
			snprintf(key, sizeof(key), "%s-a%d", prefix, i);
			snprintf(val, sizeof(val), "a%d-%d", r, i);
			int rc = pw_put_async(c, key, strlen(key), val, strlen(val),
					      (void *)(long)i, NULL);
			CHECK(rc == PW_OK, "put_async %s: %s", key, pw_strerror(rc));
		}
		snprintf(val, sizeof(val), "mix%d", r);
		int rc = pw_put(c, "mix", 3, val, strlen(val));
		CHECK(rc == PW_OK, "put mix amid async: %s", pw_strerror(rc));
		sync_ok += rc == PW_OK;
		rc = pw_get(c, "mix", 3, buf, sizeof(buf), &len);
		CHECK(rc == PW_OK && len == strlen(val) && memcmp(buf, val, len) == 0,
		      "get mix amid async: %s", pw_strerror(rc));
		CHECK(pw_client_outstanding(c) == NA, "outstanding %u", pw_client_outstanding(c));
		int got = poll_all(c, done, NA);
		CHECK(got == NA, "%d of %d completions", got, NA);
		for (int i = 0; i < got; i++) {
			CHECK(done[i].rc == PW_OK, "async put %d: %s", i, pw_strerror(done[i].rc));
			CHECK((long)done[i].user == i, "completion %d out of order (%ld)", i,
			      (long)done[i].user);
			async_ok += done[i].rc == PW_OK;
		}
		/* Read back: synchronous gets of the synchronous puts ... */
		for (int i = 0; i < 50; i++) {
			snprintf(key, sizeof(key), "%s-s%d", prefix, i);
			snprintf(val, sizeof(val), "v%d-%d", r, i);
			rc = pw_get(c, key, strlen(key), buf, sizeof(buf), &len);
			CHECK(rc == PW_OK && len == strlen(val) && memcmp(buf, val, len) == 0,
			      "get %s: %s", key, pw_strerror(rc));
			reads_ok += rc == PW_OK;
		}
		/* ... and asynchronous gets of the asynchronous ones. */
		for (int i = 0; i < NA; i++) {
			snprintf(key, sizeof(key), "%s-a%d", prefix, i);
			rc = pw_get_async(c, key, strlen(key), (void *)(long)i, NULL);
			CHECK(rc == PW_OK, "get_async %s: %s", key, pw_strerror(rc));
		}
		got = poll_all(c, done, NA);
		CHECK(got == NA, "%d of %d get completions", got, NA);
		for (int i = 0; i < got; i++) {
			snprintf(val, sizeof(val), "a%d-%d", r, (int)(long)done[i].user);
			CHECK(done[i].rc == PW_OK && done[i].vlen == strlen(val) &&
				      memcmp(done[i].value, val, done[i].vlen) == 0,
			      "async get %ld: %s", (long)done[i].user, pw_strerror(done[i].rc));
			reads_ok += done[i].rc == PW_OK;
		}
	}
	struct pw_client_stats st;
	pw_client_stats(c, &st);
	printf("{\"transport\":\"dpdk\",\"sync_ok\":%ld,\"async_ok\":%ld,\"reads_ok\":%ld,"
	       "\"sends\":%llu,\"attempt_timeouts\":%llu,\"redirects\":%llu,\"fails\":%d}\n",
	       sync_ok, async_ok, reads_ok, (unsigned long long)st.sends,
	       (unsigned long long)st.attempt_timeouts, (unsigned long long)st.redirects, fails);
	pw_client_close(c);
	return fails == 0 ? 0 : 1;
}
