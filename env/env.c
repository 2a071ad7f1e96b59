/* SPDX-License-Identifier: Apache-2.0
 * env without DPDK: the loop clock is CLOCK_MONOTONIC and there is no EAL.
 */
#include <errno.h>
#include <stdio.h>

#include "env.h"

uint64_t env_now_ns(void)
{
	return env_mono_ns();
}

bool env_dpdk_built(void)
{
	return false;
}

static void no_dpdk(char *err, size_t errlen)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "this build has no DPDK (meson did not find libdpdk)");
}

int env_eal_init(int argc, char **argv, char *err, size_t errlen)
{
	(void)argc;
	(void)argv;
	no_dpdk(err, errlen);
	return -ENOTSUP;
}

bool env_eal_up(void)
{
	return false;
}

uint16_t env_eth_port_count(void)
{
	return 0;
}

int env_lcore_launch(int (*fn)(void *), void *arg, char *err, size_t errlen)
{
	(void)fn;
	(void)arg;
	no_dpdk(err, errlen);
	return -ENOTSUP;
}

int env_lcore_wait(void)
{
	return -ENOTSUP;
}

void env_eal_keep(void)
{
}

void env_eal_cleanup(void)
{
}

void env_runtime_dir_remove(void)
{
}
