/* SPDX-License-Identifier: Apache-2.0
 * Counts allocator calls for the rdma tests (test_alloc_count.c): the test links with
 * -Wl,--wrap for malloc, calloc, realloc and aligned_alloc, so every call from the
 * objects of the test (the backends included) passes through a counter. */
#ifndef TEST_ALLOC_COUNT_H
#define TEST_ALLOC_COUNT_H

extern unsigned long test_allocs;

#endif
