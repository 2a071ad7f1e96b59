/* SPDX-License-Identifier: Apache-2.0
 * env: the clocks; in DPDK builds also the EAL (no root, no hugepages, no PCI) with two
 * lcores, a worker launched on the second, and the TSC clock against CLOCK_MONOTONIC.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "env.h"

static void nap_ms(long ms)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = ms * 1000000L };
	nanosleep(&ts, NULL);
}

/** Both clocks are monotonic, and the loop clock keeps pace with CLOCK_MONOTONIC
 *  (the TSC's calibration in DPDK builds with the EAL up). */
static void test_clocks(void **state)
{
	(void)state;
	uint64_t m0 = env_mono_ns(), t0 = env_now_ns();
	uint64_t pm = m0, pt = t0;
	for (int i = 0; i < 100000; i++) {
		uint64_t m = env_mono_ns(), t = env_now_ns();
		assert_true(m >= pm);
		assert_true(t >= pt);
		pm = m;
		pt = t;
	}
	nap_ms(50);
	uint64_t t1 = env_now_ns(), m1 = env_mono_ns();
	uint64_t mono = m1 - m0, loop = t1 - t0;
	assert_true(mono >= 50000000u);
	/* Within 2% (plus scheduling slack of the two reads around it). */
	assert_true(loop <= mono + 1000000u);
	assert_true(loop + mono / 50u + 1000000u >= mono);
	/* One time line: the loop clock started where CLOCK_MONOTONIC was, and this runs
	 * within a second of that (2% of it: 20 ms). */
	uint64_t a = env_mono_ns(), b = env_now_ns(), c = env_mono_ns();
	assert_true(b + 20000000u >= a && b <= c + 20000000u);
}

#ifdef PW_HAVE_DPDK
static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int worker(void *arg)
{
	int *v = arg;
	*v = 42;
	return 7;
}

static int slow_worker(void *arg)
{
	(void)arg;
	nap_ms(20);
	return 0;
}

/** A worker runs on the second lcore and its return value comes back; one at a time. */
static void test_lcore_launch(void **state)
{
	(void)state;
	char err[256];
	int v = 0;
	assert_int_equal(env_lcore_wait(), -EINVAL);   /* none running */
	assert_int_equal(env_lcore_launch(worker, &v, err, sizeof(err)), 0);
	assert_int_equal(env_lcore_wait(), 7);
	assert_int_equal(v, 42);
	assert_int_equal(env_lcore_launch(slow_worker, NULL, err, sizeof(err)), 0);
	assert_int_equal(env_lcore_launch(worker, &v, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "already runs"));
	assert_int_equal(env_lcore_wait(), 0);
}

static void test_eal_up(void **state)
{
	(void)state;
	char err[256];
	assert_true(env_dpdk_built());
	assert_true(env_eal_up());
	/* Twice is fine: the second call does nothing. */
	assert_int_equal(env_eal_init(1, (char *[]){ "test_env", NULL }, err, sizeof(err)), 0);
	assert_int_equal(env_eth_port_count(), 0);   /* --no-pci, no --vdev */
}
#else
/** Without DPDK: every EAL call says so in one line, nothing else happens. */
static void test_no_dpdk(void **state)
{
	(void)state;
	char err[256] = "";
	assert_false(env_dpdk_built());
	assert_int_equal(env_eal_init(1, (char *[]){ "test_env", NULL }, err, sizeof(err)),
			 -ENOTSUP);
	assert_non_null(strstr(err, "no DPDK"));
	assert_false(env_eal_up());
	assert_int_equal(env_eth_port_count(), 0);
	assert_int_equal(env_lcore_launch(NULL, NULL, err, sizeof(err)), -ENOTSUP);
	assert_int_equal(env_lcore_wait(), -ENOTSUP);
	env_eal_cleanup();
}
#endif

int main(int argc, char **argv)
{
	(void)argc;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clocks),
#ifdef PW_HAVE_DPDK
		cmocka_unit_test(test_eal_up),
		cmocka_unit_test(test_lcore_launch),
#else
		cmocka_unit_test(test_no_dpdk),
#endif
	};
#ifdef PW_HAVE_DPDK
	/* Two lcores, whatever this machine has (0 and 1 exist on any of ours); the
	 * runtime files in a directory of our own, removed at the end. */
	char rundir[] = "/tmp/pwenvtest.XXXXXX";
	if (mkdtemp(rundir) == NULL || setenv("RUNTIME_DIRECTORY", rundir, 1) != 0) {
		perror("test_env: mkdtemp");
		return 1;
	}
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "--file-prefix=pwenvtest%ld", (long)getpid());
	char *eal[] = { argv[0], "-l", "0,1", "--no-huge", "--no-pci", "--no-shconf",
			"--no-telemetry", prefix, "--log-level=lib.eal:error", "-m", "64", NULL };
	char err[256];
	int r = env_eal_init(11, eal, err, sizeof(err));
	if (r != 0)
		fprintf(stderr, "test_env: %s\n", err);
	else
		r = cmocka_run_group_tests(tests, NULL, NULL);
	env_eal_cleanup();
	(void)nftw(rundir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return r;
#else
	(void)argv;
	return cmocka_run_group_tests(tests, NULL, NULL);
#endif
}
