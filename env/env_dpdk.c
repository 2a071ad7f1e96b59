/* SPDX-License-Identifier: Apache-2.0
 * env with DPDK: the EAL, its lcores and the TSC clock.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>

#include "env.h"
#include "env_log.h"

/* Written once by env_eal_init on the main thread, before any port or lcore: read-only
 * afterwards, so any thread may read them. */
static bool g_eal_up;
static bool g_eal_keep;   /* env_eal_keep: no rte_eal_cleanup at exit */
/* env_now_ns: ns = base_ns + ((tsc - base_tsc) * mult) >> 32, mult = 2^32 * 1e9 / hz. */
static uint64_t g_tsc_base, g_tsc_base_ns, g_tsc_mult;
static unsigned g_worker = RTE_MAX_LCORE;

uint64_t env_now_ns(void)
{
	if (g_tsc_mult == 0)
		return env_mono_ns();
	uint64_t d = rte_get_tsc_cycles() - g_tsc_base;
	return g_tsc_base_ns + (uint64_t)(((unsigned __int128)d * g_tsc_mult) >> 32);
}

bool env_dpdk_built(void)
{
	return true;
}

/** The level of the DPDK log line being written (rte_log.h levels: 1 emerg .. 8 debug). */
static enum env_log_level rte_level(void)
{
	int l = rte_log_cur_msg_loglevel();
	const int err = (int)RTE_LOG_ERR, warn = (int)RTE_LOG_WARNING, dbg = (int)RTE_LOG_DEBUG;
	return l <= err ? ENV_LOG_ERROR : l == warn ? ENV_LOG_WARN :
	       l >= dbg ? ENV_LOG_DEBUG : ENV_LOG_INFO;
}

int env_eal_init(int argc, char **argv, char *err, size_t errlen)
{
	if (g_eal_up)
		return 0;
	/* DPDK's own lines through the process's log (timestamps, JSON), at their level. */
	if (env_log_is_setup()) {
		FILE *f = env_log_stream(rte_level);
		if (f != NULL)
			rte_openlog_stream(f);
	}
	int r = rte_eal_init(argc, argv);
	if (r < 0) {
		int e = rte_errno;
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "rte_eal_init: %s", rte_strerror(e));
		return e > 0 ? -e : -EINVAL;
	}
	g_eal_up = true;
	uint64_t hz = rte_get_tsc_hz();
	if (hz >= 1000000u) {   /* calibrated; else env_now_ns stays on CLOCK_MONOTONIC */
		g_tsc_base = rte_get_tsc_cycles();
		g_tsc_base_ns = env_mono_ns();
		g_tsc_mult = (1000000000ull << 32) / hz;
	}
	return 0;
}

bool env_eal_up(void)
{
	return g_eal_up;
}

uint16_t env_eth_port_count(void)
{
	return g_eal_up ? rte_eth_dev_count_avail() : 0;
}

int env_lcore_launch(int (*fn)(void *), void *arg, char *err, size_t errlen)
{
	if (!g_eal_up) {
		snprintf(err, errlen, "the EAL is not initialized (env_eal_init)");
		return -EINVAL;
	}
	if (g_worker < RTE_MAX_LCORE) {
		snprintf(err, errlen, "a worker already runs on lcore %u", g_worker);
		return -EBUSY;
	}
	unsigned lc = rte_get_next_lcore((unsigned)-1, 1, 0);
	if (lc >= RTE_MAX_LCORE) {
		snprintf(err, errlen, "the EAL has one lcore (%u) and a worker needs another; fix: give the EAL two lcores, e.g. -l 2,3 or --lcores=0@2,1@3",
			 rte_get_main_lcore());
		return -ENODEV;
	}
	int r = rte_eal_remote_launch(fn, arg, lc);
	if (r != 0) {
		snprintf(err, errlen, "rte_eal_remote_launch on lcore %u: %s", lc, rte_strerror(-r));
		return r;
	}
	g_worker = lc;
	return 0;
}

int env_lcore_wait(void)
{
	if (g_worker >= RTE_MAX_LCORE)
		return -EINVAL;
	int r = rte_eal_wait_lcore(g_worker);
	g_worker = RTE_MAX_LCORE;
	return r;
}

/** Removes the EAL's runtime dir of this process's --file-prefix (its telemetry socket,
 *  lock and config files): each process has a prefix of its own, and the dirs would
 *  otherwise pile up under /var/run/dpdk (or $RUNTIME_DIRECTORY/dpdk). Entries only,
 *  one level: the EAL makes no subdirectory. */
static void remove_runtime_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	struct dirent *e;
	char path[PATH_MAX];
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < sizeof(path))
			(void)unlink(path);
	}
	closedir(d);
	(void)rmdir(dir);
}

void env_runtime_dir_remove(void)
{
	if (g_eal_up && rte_eal_get_runtime_dir()[0] != '\0')
		remove_runtime_dir(rte_eal_get_runtime_dir());
}

void env_eal_keep(void)
{
	g_eal_keep = true;
}

void env_eal_cleanup(void)
{
	if (g_eal_up) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
		/* First: a process that dies inside rte_eal_cleanup (a memif peer gone at
		 * the same moment) leaves nothing behind either; no other process uses the
		 * files of this prefix, and the EAL's threads keep their open sockets. */
		if (dir[0] != '\0')
			remove_runtime_dir(dir);
		if (!g_eal_keep)
			(void)rte_eal_cleanup();
		if (dir[0] != '\0' && !g_eal_keep)
			remove_runtime_dir(dir);   /* anything the cleanup itself left */
	}
	g_eal_up = false;
	g_tsc_mult = 0;
}
