/* SPDX-License-Identifier: Apache-2.0
 * mempool: start-up arenas from the EAL's hugepage heap or the C library (mempool.h).
 * Single-threaded use at start-up and exit only.
 */
#include "mempool.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef PW_HAVE_DPDK
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#endif

static enum mp_source g_source = MP_LIBC;
static size_t g_bytes;

enum mp_source mp_init(bool use_eal)
{
	g_source = MP_LIBC;
#ifdef PW_HAVE_DPDK
	/* rte_eal_has_hugepages() is false with --no-huge, and before rte_eal_init. */
	if (use_eal && rte_eal_has_hugepages() != 0)
		g_source = MP_HUGEPAGES;
#else
	(void)use_eal;
#endif
	return g_source;
}

void *mp_zalloc(size_t bytes, const char *what)
{
	if (bytes == 0)
		bytes = 1;
#ifdef PW_HAVE_DPDK
	if (g_source == MP_HUGEPAGES) {
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

void mp_free(void *p)
{
	if (p == NULL)
		return;
#ifdef PW_HAVE_DPDK
	if (g_source == MP_HUGEPAGES) {
		rte_free(p);
		return;
	}
#endif
	free(p);
}

enum mp_source mp_source(void)
{
	return g_source;
}

size_t mp_allocated(void)
{
	return g_bytes;
}

const char *mp_source_name(enum mp_source s)
{
	return s == MP_HUGEPAGES ? "hugepages" : "libc";
}
