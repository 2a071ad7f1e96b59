/* SPDX-License-Identifier: Apache-2.0
 * LD_PRELOAD shim for the no-allocation check: counts calls to the allocator and
 * writes the totals to $PW_MALLOC_COUNT_FILE when the process exits. Built only
 * without sanitizers (they interpose the allocator themselves).
 */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Atomic unsigned long n_malloc, n_calloc, n_realloc, n_free;
static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);

/* dlsym may itself call calloc: serve that from a small static buffer. */
static char boot_buf[4096];
static size_t boot_used;

static int resolving; /* calloc during resolve() (from dlsym): the boot buffer */

static void resolve(void)
{
	if (real_malloc != NULL || resolving)
		return;
	resolving = 1;
	real_calloc = NULL;
	real_malloc = dlsym(RTLD_NEXT, "malloc");
	real_realloc = dlsym(RTLD_NEXT, "realloc");
	real_free = dlsym(RTLD_NEXT, "free");
	real_calloc = dlsym(RTLD_NEXT, "calloc");
	resolving = 0;
}

void *malloc(size_t n)
{
	resolve();
	atomic_fetch_add_explicit(&n_malloc, 1, memory_order_relaxed);
	return real_malloc(n);
}

void *calloc(size_t a, size_t b)
{
	resolve(); /* a process whose first allocator call is calloc (pw-bench) */
	if (real_calloc == NULL) {
		size_t n = a * b;
		if (boot_used + n > sizeof(boot_buf))
			return NULL;
		void *p = boot_buf + boot_used;
		boot_used += (n + 15) & ~(size_t)15;
		return p;
	}
	atomic_fetch_add_explicit(&n_calloc, 1, memory_order_relaxed);
	return real_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
	resolve();
	atomic_fetch_add_explicit(&n_realloc, 1, memory_order_relaxed);
	return real_realloc(p, n);
}

void free(void *p)
{
	if ((char *)p >= boot_buf && (char *)p < boot_buf + sizeof(boot_buf))
		return;
	resolve();
	atomic_fetch_add_explicit(&n_free, 1, memory_order_relaxed);
	real_free(p);
}

__attribute__((destructor)) static void report(void)
{
	const char *path = getenv("PW_MALLOC_COUNT_FILE");
	if (path == NULL)
		return;
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return;
	fprintf(f, "%lu %lu %lu %lu\n", (unsigned long)n_malloc, (unsigned long)n_calloc,
		(unsigned long)n_realloc, (unsigned long)n_free);
	fclose(f);
}
