/* SPDX-License-Identifier: Apache-2.0
 * mempool: where paxwired's start-up arenas come from (prefix mp_).
 *
 * Every arena (the replica's log window, client sessions, the service's tables, the
 * loop's scratch) is allocated once at start-up and freed at exit; nothing here runs on
 * the per-packet path. In DPDK builds, once the EAL is up with hugepages
 * (rte_eal_has_hugepages), arenas come from the EAL's hugepage heap (rte_zmalloc on the
 * caller's NUMA socket): fewer TLB misses on the log and the tables the loop touches
 * for every command. Otherwise (kernel UDP, --no-huge, or a build without DPDK) they
 * come from the C library (zeroed, cache-line aligned). Packet buffers are not here:
 * each DPDK port has its own mbuf pool (nic/nic_dpdk.c), from the same EAL memory.
 */
#ifndef MEMPOOL_H
#define MEMPOOL_H

#include <stdbool.h>
#include <stddef.h>

/** Where the next arenas come from. */
enum mp_source { MP_LIBC = 1, MP_HUGEPAGES = 2 };

/**
 * Chooses the source: hugepages if `use_eal` and the EAL is up with hugepages, else the
 * C library. Call once, after env_eal_init when there is an EAL. @return the source.
 */
enum mp_source mp_init(bool use_eal);

/** Zeroed, 64-byte aligned; NULL when the source is out of memory. */
void *mp_zalloc(size_t bytes, const char *what);

/** Frees what mp_zalloc returned (NULL is fine). */
void mp_free(void *p);

/** The source mp_init chose (MP_LIBC before it). */
enum mp_source mp_source(void);

/** Bytes handed out so far (for the start-up log). */
size_t mp_allocated(void);

/** "hugepages" or "libc". */
const char *mp_source_name(enum mp_source s);

#endif /* MEMPOOL_H */
