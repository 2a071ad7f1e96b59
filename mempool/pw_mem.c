/* SPDX-License-Identifier: Apache-2.0
 * mempool: start-up arenas from the EAL's hugepage heap or the C library (pw_mem.h).
 * Single-threaded use at start-up and exit only.
 */
#include "pw_mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef PW_HAVE_DPDK
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#endif

static enum pw_mem_source g_source = PW_MEM_LIBC;
static size_t g_bytes;

enum pw_mem_source pw_mem_init(bool use_eal)
{
	g_source = PW_MEM_LIBC;
#ifdef PW_HAVE_DPDK
	/* rte_eal_has_hugepages() is false with --no-huge, and before rte_eal_init. */
	if (use_eal && rte_eal_has_hugepages() != 0)
		g_source = PW_MEM_HUGEPAGES;
#else
	(void)use_eal;
#endif
	return g_source;
}

void *pw_mem_zalloc(size_t bytes, const char *what)
{
	if (bytes == 0)
		bytes = 1;
#ifdef PW_HAVE_DPDK
	if (g_source == PW_MEM_HUGEPAGES) {
		void *p = rte_zmalloc_socket(what, bytes, 64, (int)rte_socket_id());
		if (p != NULL)
			g_bytes += bytes;
		return p;
	}
#endif
	(void)what;
	void *p = NULL;
	if (posix_memalign(&p, 64, bytes) != 0)
		return NULL;
	memset(p, 0, bytes);
	g_bytes += bytes;
	return p;
}

void pw_mem_free(void *p)
{
	if (p == NULL)
		return;
#ifdef PW_HAVE_DPDK
	if (g_source == PW_MEM_HUGEPAGES) {
		rte_free(p);
		return;
	}
#endif
	free(p);
}

enum pw_mem_source pw_mem_source(void)
{
	return g_source;
}

size_t pw_mem_allocated(void)
{
	return g_bytes;
}

const char *pw_mem_source_name(enum pw_mem_source s)
{
	return s == PW_MEM_HUGEPAGES ? "hugepages" : "libc";
}
