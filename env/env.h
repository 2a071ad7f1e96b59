/* SPDX-License-Identifier: Apache-2.0
 * env: the process's environment for a poll loop (prefix env_): its clocks, DPDK's
 * EAL and the EAL's lcores. nic/ has ports only; the daemon, the benchmarks and the
 * tests that need the EAL start it here, once per process, before opening a port.
 *
 * Clocks:
 *   env_mono_ns   CLOCK_MONOTONIC in nanoseconds, inline (the vDSO: no system call on
 *                 Linux). The one clock helper of every tool, test and library.
 *   env_now_ns    the poll loop's clock: the TSC once env_eal_init has run in a DPDK
 *                 build (a few cycles), else env_mono_ns.
 */
#ifndef ENV_H
#define ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/** Monotonic nanoseconds (CLOCK_MONOTONIC: shared by every process of one machine). */
static inline uint64_t env_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/**
 * Monotonic nanoseconds for a poll loop. DPDK builds after env_eal_init: from the TSC
 * (rte_get_tsc_cycles, scaled by the EAL's calibrated rate with a 32.32 fixed-point
 * multiplier: a few cycles, no system call, no vDSO), on the same time line as
 * env_mono_ns at the moment the EAL came up. Otherwise env_mono_ns. Assumes an
 * invariant TSC, synchronized across cores (every x86 CPU of the last decade); a loop
 * only needs it monotonic on its own core.
 */
uint64_t env_now_ns(void);

/** Whether this build has DPDK (meson found libdpdk). */
bool env_dpdk_built(void);

/**
 * DPDK builds: initializes the EAL once per process with argv[0..argc) ("prog",
 * EAL args...), and moves env_now_ns to the TSC. @return 0 (also when already up),
 * -ENOTSUP when built without DPDK, or -errno with err holding one line.
 */
int env_eal_init(int argc, char **argv, char *err, size_t errlen);

/** Whether env_eal_init succeeded (and env_eal_cleanup has not run since). */
bool env_eal_up(void);

/** How many ethdev ports the EAL made (--vdev, PCI); 0 without DPDK or before the EAL. */
uint16_t env_eth_port_count(void);

/**
 * DPDK builds: runs fn(arg) on the first worker lcore of the EAL (the second lcore of
 * -l / --lcores). One worker at a time. @return 0, or -ENOTSUP (no DPDK), -EINVAL (the
 * EAL is not up), -ENODEV with err naming the fix (the EAL has no worker lcore), or the
 * launch error.
 */
int env_lcore_launch(int (*fn)(void *), void *arg, char *err, size_t errlen);

/** Waits for the worker env_lcore_launch started; @return its fn's return value, or
 *  -EINVAL when none runs. */
int env_lcore_wait(void);

/** Releases the EAL (after every DPDK port is closed). No-op without DPDK or when the
 *  EAL is not up. */
void env_eal_cleanup(void);   /* also removes the EAL's runtime dir of this --file-prefix */
/** env_eal_cleanup then only removes the runtime dir: rte_eal_cleanup would unmap
 *  memory that an EAL thread still uses (a memif port left open: nic_dpdk.c). Memory
 *  goes back when the process exits; hugepage files of a --file-prefix (not with
 *  --in-memory or --huge-unlink) are reused at its next start. */
void env_eal_keep(void);
/** Removes the EAL's runtime dir of this --file-prefix (its telemetry socket, ...) now,
 *  before the ports close: a process that stops leaves none behind. */
void env_runtime_dir_remove(void);

#endif /* ENV_H */
