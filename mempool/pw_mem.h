/* SPDX-License-Identifier: Apache-2.0
 * mempool: where paxwired's start-up arenas come from (prefix pw_mem_).
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
#ifndef PW_MEM_H
#define PW_MEM_H

#include <stdbool.h>
#include <stddef.h>

/** Where the next arenas come from. */
enum pw_mem_source { PW_MEM_LIBC = 1, PW_MEM_HUGEPAGES = 2 };

/**
 * Chooses the source: hugepages if `use_eal` and the EAL is up with hugepages, else the
 * C library. Call once, after env_eal_init when there is an EAL. @return the source.
 */
enum pw_mem_source pw_mem_init(bool use_eal);

/** Zeroed, 64-byte aligned; NULL when the source is out of memory. */
void *pw_mem_zalloc(size_t bytes, const char *what);

/** Frees what pw_mem_zalloc returned (NULL is fine). */
void pw_mem_free(void *p);

/** The source pw_mem_init chose (PW_MEM_LIBC before it). */
enum pw_mem_source pw_mem_source(void);

/** Bytes handed out so far (for the start-up log). */
size_t pw_mem_allocated(void);

/** "hugepages" or "libc". */
const char *pw_mem_source_name(enum pw_mem_source s);

#endif /* PW_MEM_H */
