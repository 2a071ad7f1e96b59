/* SPDX-License-Identifier: Apache-2.0
 * rm-bench: figures for the shared-memory backend of rm (rm.h). Not a test.
 *
 *   rm-bench [--iters N]
 *
 * 1. post+poll: one process, a writer context and a target context; the cost of
 *    rm_post_write + rm_poll until its completion, for 64 B, 1 KiB and 4 KiB, every
 *    write signaled (latency) and one in 16 signaled (throughput).
 * 2. ping-pong: two processes; each writes a sequence number into the other's region
 *    with an inline write and spins on its own region until the answer lands (the
 *    target's CPU only reads memory). Half the round trip is the time from one
 *    process's post to the bytes being visible to another: p50, p99, max.
 * The shm backend's writer does the copy in rm_poll, so these are costs of the
 * emulation on this host's CPUs and caches, not of any NIC.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rm.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static struct rm_ctx *open_node(const char *cl, uint32_t self, struct rm_region *r)
{
	char err[256];
	rm_shm_unlink_node(cl, self);
	struct rm_conf cf = { .backend = RM_BACKEND_SHM, .self = self, .sq_depth = 256,
		.cq_depth = 256, .max_inline = 64, .cluster = cl };
	struct rm_ctx *c = rm_open(&cf, err, sizeof(err));
	if (!c) {
		fprintf(stderr, "rm-bench: %s\n", err);
		exit(1);
	}
	if (rm_region_reg(c, 1u << 20, r) != 0) {
		fprintf(stderr, "rm-bench: region registration failed\n");
		exit(1);
	}
	return c;
}

static void post_poll(const char *cl, unsigned iters)
{
	struct rm_region r0, r1;
	struct rm_ctx *t = open_node(cl, 0, &r0), *w = open_node(cl, 1, &r1);
	if (rm_connect(w, 0, NULL) || rm_connect(t, 1, NULL) || rm_grant(t, 1)) {
		fprintf(stderr, "rm-bench: connect/grant failed\n");
		exit(1);
	}
	static const uint32_t sizes[] = { 64, 1024, 4096 };
	struct rm_wc wc[RM_POLL_MAX];
	for (unsigned s = 0; s < 3; s++) {
		uint32_t len = sizes[s];
		for (int mode = 0; mode < 2; mode++) {
			unsigned every = mode == 0 ? 1 : 16;
			uint64_t t0 = now_ns();
			unsigned done = 0;
			for (unsigned i = 0; i < iters; i++) {
				unsigned fl = (i % every == every - 1) ? RM_WR_SIGNALED : 0;
				uint64_t off = (uint64_t)(i % 128) * 4096;
				while (rm_post_write(w, 0, i, r1.base, len, &r0.desc, off, fl) == -ENOBUFS)
					done += rm_poll(w, wc, RM_POLL_MAX);
				if (mode == 0)
					while (rm_poll(w, wc, 1) == 0)
						;
				else
					done += rm_poll(w, wc, RM_POLL_MAX);
			}
			while (rm_stats(w)->wc_ok < (uint64_t)iters * (s * 2 + mode + 1))
				rm_poll(w, wc, RM_POLL_MAX);
			uint64_t dt = now_ns() - t0;
			printf("post+poll %4u B, %s: %.0f ns per write, %.2f M writes/s, %.2f GB/s\n",
			       len, mode == 0 ? "every write signaled  " : "one in 16 signaled    ",
			       (double)dt / iters, iters * 1e3 / (double)dt,
			       (double)iters * len / (double)dt);
		}
	}
	rm_close(w);
	rm_close(t);
}

/* Spins until the 8 bytes at p hold want; false after ~2 s. */
static int wait_for(const volatile uint64_t *p, uint64_t want)
{
	uint64_t start = now_ns();
	for (uint32_t k = 0;; k++) {
		if (__atomic_load_n(p, __ATOMIC_ACQUIRE) == want)
			return 1;
		if ((k & 0xffff) == 0 && now_ns() - start > 2000000000ull)
			return 0;
	}
}

/* One side of the ping-pong. The descriptors travel over pipes (the message path's
 * job in a cluster). Node 0 starts; each round it writes i into node 1's word and waits
 * for i in its own; node 1 waits for i and writes it back. */
static int pingpong_side(struct rm_ctx *c, struct rm_region *r, uint32_t other,
			 const struct rm_region_desc *od, unsigned iters, uint64_t *lat)
{
	volatile uint64_t *mine = (volatile uint64_t *)r->base;
	struct rm_wc wc[4];
	for (unsigned i = 1; i <= iters; i++) {
		uint64_t v = i;
		uint64_t t0 = now_ns();
		if (lat && rm_post_write(c, other, i, &v, 8, od, 0, RM_WR_INLINE) != 0)
			return 10;
		if (lat)
			rm_poll(c, wc, 4);   /* executes the copy (the writer plays the NIC) */
		if (!wait_for(mine, v))
			return 11;
		if (lat) {
			lat[i - 1] = now_ns() - t0;
		} else {
			if (rm_post_write(c, other, i, &v, 8, od, 0, RM_WR_INLINE) != 0)
				return 12;
			rm_poll(c, wc, 4);
		}
	}
	return 0;
}

static void pingpong(const char *cl, unsigned iters)
{
	int to_parent[2];
	if (pipe(to_parent) != 0) {
		perror("pipe");
		exit(1);
	}
	struct rm_region r0;
	struct rm_ctx *c0 = open_node(cl, 0, &r0);
	rm_grant(c0, 1);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		struct rm_region r1;
		struct rm_ctx *c1 = open_node(cl, 1, &r1);
		rm_grant(c1, 0);
		if (rm_connect(c1, 0, NULL) != 0)
			_exit(20);
		if (write(to_parent[1], &r1.desc, sizeof(r1.desc)) != sizeof(r1.desc))
			_exit(21);
		int rc = pingpong_side(c1, &r1, 0, &r0.desc, iters, NULL);
		rm_close(c1);
		_exit(rc);
	}
	struct rm_region_desc d1;
	if (read(to_parent[0], &d1, sizeof(d1)) != sizeof(d1) || rm_connect(c0, 1, NULL) != 0) {
		fprintf(stderr, "rm-bench: the other process did not come up\n");
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		rm_close(c0);
		exit(1);
	}
	uint64_t *lat = calloc(iters, sizeof(*lat));
	int rc = lat ? pingpong_side(c0, &r0, 1, &d1, iters, lat) : 1;
	int ws = 0;
	if (rc)
		kill(pid, SIGKILL);
	waitpid(pid, &ws, 0);
	rm_close(c0);
	rm_shm_unlink_node(cl, 1);
	if (rc || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
		fprintf(stderr, "rm-bench: ping-pong failed (%d, child status %d)\n", rc, ws);
		exit(1);
	}
	qsort(lat, iters, sizeof(*lat), cmp_u64);
	printf("ping-pong between two processes, %u rounds: one way (half a round trip) "
	       "p50 %.0f ns, p99 %.0f ns, max %.0f ns\n", iters, lat[iters / 2] / 2.0,
	       lat[(size_t)iters * 99 / 100] / 2.0, lat[iters - 1] / 2.0);
	free(lat);
}

int main(int argc, char **argv)
{
	unsigned iters = 100000;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--iters") && i + 1 < argc)
			iters = (unsigned)strtoul(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "usage: rm-bench [--iters N]\n");
			return 64;
		}
	}
	if (iters == 0)
		iters = 1;
	char cl[RM_NAME_MAX];
	snprintf(cl, sizeof(cl), "bench%d", (int)getpid());
	post_poll(cl, iters);
	pingpong(cl, iters);
	rm_shm_unlink_node(cl, 0);
	rm_shm_unlink_node(cl, 1);
	return 0;
}
