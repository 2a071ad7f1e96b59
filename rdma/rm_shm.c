/* SPDX-License-Identifier: Apache-2.0
 * rm_shm: the remote-memory transport between processes on one host (rm.h).
 *
 * Objects, per cluster and node (POSIX shared memory, /dev/shm):
 *   /paxwire-CLUSTER-nID-ctl   the node's control page (struct shm_ctl)
 *   /paxwire-CLUSTER-nID-rK    the node's region K
 * The owner creates them (O_EXCL) and unlinks them in rm_close; rm_shm_unlink_node
 * removes what a crashed owner left. Both first revoke every writer on the control
 * page (ctl_fence_all): a peer that still maps the old objects gets
 * RM_WC_REM_ACCESS_ERR, as a NIC answers writes to a dead process's queue pair with an
 * error, rather than landing writes nobody will read.
 *
 * The writer plays the NIC: rm_post_write only queues; rm_poll, on the writer's CPU,
 * checks the target's permission word for this writer and copies into the target's
 * mapping. The target's CPU takes no part (a target that never calls anything still
 * receives the bytes).
 *
 * Fencing. Each target's control page holds, per writer p, a permission word perm and a
 * counter inflight of p's copies in progress. The writer does
 *     inflight += 1 (seq_cst); if perm (seq_cst) { copy; } inflight -= 1 (release)
 * and rm_revoke does
 *     perm = 0 (seq_cst); wait until inflight (seq_cst/acquire) == 0.
 * In the single total order of seq_cst operations either the writer's load of perm
 * comes after the revoker's store (the writer sees 0 and copies nothing), or the
 * writer's increment comes before the revoker's load of inflight (the revoker waits for
 * the decrement, which releases the copy). So once rm_revoke returns 0 no copy of that
 * writer is in progress or will start, and every byte it did copy is visible to the
 * target: what a QP's move to error, flushing outstanding work, gives on a NIC.
 * A writer that died in the middle of a copy leaves inflight raised: the slot records
 * the writer's pid, and rm_revoke counts a dead pid's copies as finished (kill(pid, 0)
 * answering ESRCH; pid reuse within a revoke's wait is not guarded against). A writer
 * stopped (SIGSTOP) in the middle of a copy keeps rm_revoke waiting: after
 * conf.revoke_wait_us it returns -ETIMEDOUT and the peer is not fenced.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rm_pvt.h"

#define SHM_MAGIC 0x7078726d63746c31ull /* "pxrmctl1" */

struct shm_slot {
	_Alignas(64) _Atomic uint32_t perm;   /**< 1: this writer may write */
	_Atomic uint32_t inflight;            /**< its copies between check and end */
	_Atomic int32_t pid;                  /**< the writer process, 0 if none yet */
	/** Bumped by the owner's rm_connect to this writer: the owner's end of the
	 *  connection was reset, so whatever the writer queued before it connects again
	 *  is dead (a NIC's QP reset, with a fresh PSN, drops the old packets). */
	_Atomic uint32_t conn_gen;
};

struct shm_region_info {
	uint64_t len;
	uint32_t rkey;
};

struct shm_ctl {
	/** Stored last (release) by the owner; a peer reads it first (acquire). */
	_Atomic uint64_t magic;
	uint32_t node;
	/** Regions published: region[0..n_regions) are written before the release store
	 *  that raises it; peers read it with acquire. */
	_Atomic uint32_t n_regions;
	struct shm_region_info region[RM_REGIONS_MAX];
	struct shm_slot slot[RM_PEERS_MAX];   /**< indexed by the writer's node id */
};

enum fate { FATE_OK = 0, FATE_DROP, FATE_TORN, FATE_STALL };

struct shm_wr {
	uint64_t wr_id;
	uint64_t off;
	uint8_t *local;          /**< source (write) or destination (read) */
	uint32_t len;
	uint32_t index, rkey;
	uint32_t delay_polls;
	uint8_t op, signaled, fate, inlined;
};

struct shm_conn {
	struct shm_ctl *ctl;                  /**< the peer's control page, mapped */
	uint64_t ctl_map;                     /**< bytes mapped */
	uint8_t *region[RM_REGIONS_MAX];      /**< the peer's regions, mapped */
	/** Mapped bytes and key of each, read once at connect: the peer's control page
	 *  is its to write, so bounds are never taken from it afterwards. */
	uint64_t region_len[RM_REGIONS_MAX];
	uint32_t region_rkey[RM_REGIONS_MAX];
	uint64_t region_map[RM_REGIONS_MAX];  /**< bytes mapped (the object's size) */
	uint32_t n_regions;
	struct shm_wr *sq;                    /**< sq_depth entries */
	uint8_t *inline_buf;                  /**< sq_depth * max_inline bytes */
	uint32_t head, tail;                  /**< free-running; tail - head queued */
	uint32_t unsignaled_run;
	uint32_t conn_gen;                    /**< the peer's slot's conn_gen at connect */
};

struct shm_ctx {
	struct rm_ctx base;
	struct shm_ctl *ctl;                  /**< ours */
	struct rm_region region[RM_REGIONS_MAX];
	uint32_t n_regions;
	struct shm_conn conn[RM_PEERS_MAX];
	struct rm_wc *cq;                     /**< cq_depth entries */
	uint32_t cq_head, cq_tail;
	uint32_t rr;                          /**< next peer poll starts at */
	uint64_t rng;
	struct rm_faults faults;
};

static const struct rm_ops shm_ops;

static void obj_name(char *buf, size_t n, const char *cluster, uint32_t node, int region)
{
	if (region < 0)
		snprintf(buf, n, "/paxwire-%s-n%u-ctl", cluster, node);
	else
		snprintf(buf, n, "/paxwire-%s-n%u-r%d", cluster, node, region);
}

static size_t page_round(size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	return (len + pg - 1) / pg * pg;
}

/* Takes write access from every writer of a control page and marks it closed: the
 * node is gone (closed, or dead and about to be replaced), and what a NIC gives when a
 * process's queue pairs are destroyed with it, a writer's next write failing, its
 * mapping of the old objects must not go on succeeding into memory nobody reads. */
static void ctl_fence_all(struct shm_ctl *ctl)
{
	for (uint32_t p = 0; p < RM_PEERS_MAX; p++)
		atomic_store_explicit(&ctl->slot[p].perm, 0, memory_order_seq_cst);
	atomic_store_explicit(&ctl->magic, 0, memory_order_release);
}

static void *obj_map(const char *name, uint64_t *len);

int rm_shm_unlink_node(const char *cluster, uint32_t node)
{
	char name[96];
	int n = 0;
	uint64_t len = 0;
	obj_name(name, sizeof(name), cluster, node, -1);
	/* A crashed owner's writers are fenced before its objects go: they may still
	 * have them mapped. */
	struct shm_ctl *ctl = obj_map(name, &len);
	if (ctl != NULL) {
		if (len >= sizeof(struct shm_ctl))
			ctl_fence_all(ctl);
		munmap(ctl, (size_t)len);
	}
	if (shm_unlink(name) == 0)
		n++;
	for (int k = 0; k < (int)RM_REGIONS_MAX; k++) {
		obj_name(name, sizeof(name), cluster, node, k);
		if (shm_unlink(name) == 0)
			n++;
	}
	return n;
}

/* Creates (O_EXCL) and maps a shared object of len bytes. */
static void *obj_create(const char *name, size_t len, char *err, size_t errlen)
{
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0) {
		int e = errno;
		if (e == EEXIST)
			snprintf(err, errlen, "rm shm: %s exists: another process runs this node, "
				 "or one crashed (remove it: rm /dev/shm%s)", name, name);
		else
			snprintf(err, errlen, "rm shm: shm_open %s: %s (is /dev/shm mounted?)", name,
				 strerror(e));
		errno = e;
		return NULL;
	}
	if (ftruncate(fd, (off_t)len) != 0) {
		int e = errno;
		snprintf(err, errlen, "rm shm: ftruncate %s to %zu bytes: %s (/dev/shm full?)",
			 name, len, strerror(e));
		close(fd);
		shm_unlink(name);
		errno = e;
		return NULL;
	}
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	int e = errno;
	close(fd);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "rm shm: mmap %s: %s", name, strerror(e));
		shm_unlink(name);
		errno = e;
		return NULL;
	}
	return p;
}

/* Maps an existing object; *len receives its size. */
static void *obj_map(const char *name, uint64_t *len)
{
	int fd = shm_open(name, O_RDWR, 0);
	if (fd < 0)
		return NULL;
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_size <= 0) {
		close(fd);
		errno = ENOENT;
		return NULL;
	}
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return NULL;
	*len = (uint64_t)st.st_size;
	return p;
}

static void conn_unmap(struct shm_conn *c)
{
	for (uint32_t k = 0; k < c->n_regions; k++)
		if (c->region[k])
			munmap(c->region[k], (size_t)c->region_map[k]);
	if (c->ctl)
		munmap(c->ctl, (size_t)c->ctl_map);
	c->ctl = NULL;
	c->n_regions = 0;
	memset(c->region, 0, sizeof(c->region));
}

static void shm_close(struct rm_ctx *b)
{
	struct shm_ctx *x = (struct shm_ctx *)b;
	char name[96];
	for (uint32_t p = 0; p < RM_PEERS_MAX; p++) {
		conn_unmap(&x->conn[p]);
		free(x->conn[p].sq);
		free(x->conn[p].inline_buf);
	}
	for (uint32_t k = 0; k < x->n_regions; k++) {
		munmap(x->region[k].base, x->region[k].len);
		obj_name(name, sizeof(name), b->cluster, b->conf.self, (int)k);
		shm_unlink(name);
	}
	if (x->ctl) {
		ctl_fence_all(x->ctl);
		munmap(x->ctl, page_round(sizeof(struct shm_ctl)));
		obj_name(name, sizeof(name), b->cluster, b->conf.self, -1);
		shm_unlink(name);
	}
	free(x->cq);
	free(x);
}

struct rm_ctx *rm_shm_open(const struct rm_conf *conf, char *err, size_t errlen)
{
	struct shm_ctx *x = calloc(1, sizeof(*x));
	if (!x) {
		snprintf(err, errlen, "rm shm: out of memory");
		errno = ENOMEM;
		return NULL;
	}
	x->base.ops = &shm_ops;
	x->base.conf = *conf;
	snprintf(x->base.cluster, sizeof(x->base.cluster), "%s", conf->cluster);
	x->base.conf.cluster = x->base.cluster;
	x->base.conf.device = NULL;
	if (x->base.conf.revoke_wait_us == 0)
		x->base.conf.revoke_wait_us = 100000;
	x->faults = conf->faults;
	x->rng = conf->faults.seed;
	x->cq = calloc(conf->cq_depth, sizeof(*x->cq));
	bool ok = x->cq != NULL;
	for (uint32_t p = 0; ok && p < RM_PEERS_MAX; p++) {
		if (p == conf->self)
			continue;
		x->conn[p].sq = calloc(conf->sq_depth, sizeof(struct shm_wr));
		x->conn[p].inline_buf = calloc(conf->sq_depth, conf->max_inline ? conf->max_inline : 1);
		ok = x->conn[p].sq && x->conn[p].inline_buf;
	}
	if (!ok) {
		snprintf(err, errlen, "rm shm: out of memory for queues (sq_depth %u, cq_depth %u)",
			 conf->sq_depth, conf->cq_depth);
		shm_close(&x->base);
		errno = ENOMEM;
		return NULL;
	}
	char name[96];
	obj_name(name, sizeof(name), x->base.cluster, conf->self, -1);
	x->ctl = obj_create(name, page_round(sizeof(struct shm_ctl)), err, errlen);
	if (!x->ctl) {
		int e = errno;
		shm_close(&x->base);
		errno = e;
		return NULL;
	}
	x->ctl->node = conf->self;
	/* Pairs with the acquire load in shm_connect: the page is initialised. */
	atomic_store_explicit(&x->ctl->magic, SHM_MAGIC, memory_order_release);
	return &x->base;
}

static int shm_region_reg(struct rm_ctx *b, size_t len, struct rm_region *out)
{
	struct shm_ctx *x = (struct shm_ctx *)b;
	char name[96], err[256];
	if (x->n_regions == RM_REGIONS_MAX)
		return -ENOSPC;
	uint32_t k = x->n_regions;
	len = page_round(len);
	obj_name(name, sizeof(name), b->cluster, b->conf.self, (int)k);
	void *p = obj_create(name, len, err, sizeof(err));
	if (!p)
		return -errno;
	/* A key a stale descriptor will not match: this region's, of this incarnation. */
	uint64_t s = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^ (uint64_t)time(NULL) ^
		     ((uint64_t)k << 32) ^ (uint64_t)(uintptr_t)p;
	uint32_t rkey = (uint32_t)rm_rand(&s) | 1u;
	x->region[k] = (struct rm_region){ .base = p, .len = len,
		.desc = { .addr = 0, .len = len, .rkey = rkey, .owner = b->conf.self, .index = k } };
	x->ctl->region[k] = (struct shm_region_info){ .len = len, .rkey = rkey };
	x->n_regions = k + 1;
	/* Pairs with the acquire load in shm_connect: region[k] is written. */
	atomic_store_explicit(&x->ctl->n_regions, k + 1, memory_order_release);
	*out = x->region[k];
	return 0;
}

static int shm_endpoint_get(struct rm_ctx *b, uint32_t peer, struct rm_endpoint *out)
{
	(void)peer;
	memset(out, 0, sizeof(*out));
	out->node = b->conf.self;
	return 0;
}

static bool pid_dead(int32_t pid)
{
	return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH;
}

static bool flush_queue(struct shm_ctx *x, uint32_t peer);

static int shm_connect(struct rm_ctx *b, uint32_t peer, const struct rm_endpoint *remote)
{
	(void)remote;
	struct shm_ctx *x = (struct shm_ctx *)b;
	struct shm_conn *c = &x->conn[peer];
	char name[96];
	/* Reconnect: whatever was queued completes as flushed first; if the CQ has no room
	 * for it, the caller polls and connects again. */
	if (!flush_queue(x, peer))
		return -EBUSY;
	conn_unmap(c);
	b->state[peer] = RM_PEER_IDLE;
	uint64_t len;
	obj_name(name, sizeof(name), b->cluster, peer, -1);
	struct shm_ctl *ctl = obj_map(name, &len);
	if (!ctl)
		return -ENOENT;
	c->ctl = ctl;
	c->ctl_map = len;
	if (len < sizeof(struct shm_ctl) ||
	    atomic_load_explicit(&ctl->magic, memory_order_acquire) != SHM_MAGIC ||
	    ctl->node != peer) {
		conn_unmap(c);
		return -EPROTO;
	}
	/* Claim our writer slot on the peer: the counter of a dead predecessor is reset;
	 * another live process with our node id is refused. */
	struct shm_slot *sl = &ctl->slot[b->conf.self];
	int32_t me = (int32_t)getpid();
	int32_t prev = atomic_load_explicit(&sl->pid, memory_order_acquire);
	if (prev != me) {
		if (prev > 0 && !pid_dead(prev)) {
			conn_unmap(c);
			return -EBUSY;
		}
		atomic_store_explicit(&sl->inflight, 0, memory_order_seq_cst);
		atomic_store_explicit(&sl->pid, me, memory_order_release);
	}
	/* Our end of the connection is reset: what the peer had queued for us before it
	 * connects again must not land (seq_cst: ordered before a later rm_grant). */
	atomic_fetch_add_explicit(&x->ctl->slot[peer].conn_gen, 1, memory_order_seq_cst);
	c->conn_gen = atomic_load_explicit(&sl->conn_gen, memory_order_seq_cst);
	/* Pairs with the release store in shm_region_reg. */
	uint32_t n = atomic_load_explicit(&ctl->n_regions, memory_order_acquire);
	if (n > RM_REGIONS_MAX)
		n = RM_REGIONS_MAX;
	for (uint32_t k = 0; k < n; k++) {
		obj_name(name, sizeof(name), b->cluster, peer, (int)k);
		c->region[k] = obj_map(name, &c->region_map[k]);
		c->n_regions = k + 1;
		if (!c->region[k] || c->region_map[k] < ctl->region[k].len) {
			conn_unmap(c);
			return -ENOENT;
		}
		c->region_len[k] = ctl->region[k].len;
		c->region_rkey[k] = ctl->region[k].rkey;
	}
	c->head = c->tail = 0;
	c->unsignaled_run = 0;
	b->state[peer] = RM_PEER_CONNECTED;
	return 0;
}

static int shm_grant(struct rm_ctx *b, uint32_t peer)
{
	struct shm_ctx *x = (struct shm_ctx *)b;
	/* Pairs with the writer's seq_cst load of perm in exec_write. */
	atomic_store_explicit(&x->ctl->slot[peer].perm, 1, memory_order_seq_cst);
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int shm_revoke(struct rm_ctx *b, uint32_t peer)
{
	struct shm_ctx *x = (struct shm_ctx *)b;
	struct shm_slot *sl = &x->ctl->slot[peer];
	/* The Dekker pair of the file comment: this store, then the load of inflight. */
	atomic_store_explicit(&sl->perm, 0, memory_order_seq_cst);
	uint64_t deadline = now_ns() + (uint64_t)b->conf.revoke_wait_us * 1000ull;
	/* Pairs with the writer's release decrement: its copy is visible after this. */
	while (atomic_load_explicit(&sl->inflight, memory_order_seq_cst) != 0) {
		if (pid_dead(atomic_load_explicit(&sl->pid, memory_order_acquire)))
			break;
		if (now_ns() > deadline)
			return -ETIMEDOUT;
		sched_yield();
	}
	return 0;
}

static int shm_post(struct rm_ctx *b, uint32_t peer, enum rm_op op, uint64_t wr_id,
		    void *local, uint32_t len, const struct rm_region_desc *remote,
		    uint64_t off, unsigned flags)
{
	struct shm_ctx *x = (struct shm_ctx *)b;
	struct shm_conn *c = &x->conn[peer];
	uint32_t sq = b->conf.sq_depth;
	if (c->tail - c->head >= sq)
		return -ENOBUFS;
	bool inl = op == RM_OP_WRITE && (flags & RM_WR_INLINE);
	if (!inl) {
		/* Like an lkey check: the local side must be registered memory. */
		bool found = false;
		for (uint32_t k = 0; k < x->n_regions && !found; k++) {
			uint8_t *base = x->region[k].base;
			uint8_t *l = local;
			found = l >= base && len <= x->region[k].len &&
				(size_t)(l - base) <= x->region[k].len - len;
		}
		if (!found)
			return -EINVAL;
	}
	uint32_t slot = c->tail % sq;
	struct shm_wr *w = &c->sq[slot];
	*w = (struct shm_wr){ .wr_id = wr_id, .off = off, .local = local, .len = len,
		.index = remote->index, .rkey = remote->rkey, .op = (uint8_t)op,
		.signaled = (flags & RM_WR_SIGNALED) != 0, .inlined = inl };
	if (inl) {
		w->local = c->inline_buf + (size_t)slot * b->conf.max_inline;
		memcpy(w->local, local, len);
	}
	if (!w->signaled && ++c->unsignaled_run >= sq / 2) {
		w->signaled = 1;
		b->stats.signaled_forced++;
	}
	if (w->signaled)
		c->unsignaled_run = 0;
	/* Faults are drawn at post time, so one seed and one sequence of posts give one
	 * sequence of faults whatever the polling. */
	if (x->faults.delay_ppm && rm_rand(&x->rng) % 1000000u < x->faults.delay_ppm) {
		uint32_t m = x->faults.delay_polls_max ? x->faults.delay_polls_max : 1;
		w->delay_polls = 1 + (uint32_t)(rm_rand(&x->rng) % m);
		b->stats.faults_delayed++;
	}
	if (x->faults.drop_ppm && rm_rand(&x->rng) % 1000000u < x->faults.drop_ppm)
		w->fate = FATE_DROP;
	else if (op == RM_OP_WRITE && x->faults.torn_ppm &&
		 rm_rand(&x->rng) % 1000000u < x->faults.torn_ppm)
		w->fate = FATE_TORN;
	else if (op == RM_OP_WRITE && x->faults.stall_ppm &&
		 rm_rand(&x->rng) % 1000000u < x->faults.stall_ppm)
		w->fate = FATE_STALL;
	c->tail++;
	return 0;
}

static void cq_push(struct shm_ctx *x, uint32_t peer, const struct shm_wr *w,
		    enum rm_status st)
{
	rm_count_wc(&x->base.stats, st);
	if (st == RM_WC_SUCCESS && !w->signaled)
		return;
	struct rm_wc *e = &x->cq[x->cq_tail % x->base.conf.cq_depth];
	*e = (struct rm_wc){ .wr_id = w->wr_id, .peer = peer, .len = w->len,
		.op = (enum rm_op)w->op, .status = st };
	x->cq_tail++;
}

static uint32_t cq_room(const struct shm_ctx *x)
{
	return x->base.conf.cq_depth - (x->cq_tail - x->cq_head);
}

/* Completes what is queued on peer as flushed, as far as the CQ has room (the rest
 * waits for the next poll). Returns true if nothing is left. */
static bool flush_queue(struct shm_ctx *x, uint32_t peer)
{
	struct shm_conn *c = &x->conn[peer];
	while (c->head != c->tail && cq_room(x) > 0) {
		cq_push(x, peer, &c->sq[c->head % x->base.conf.sq_depth], RM_WC_FLUSH_ERR);
		c->head++;
	}
	return c->head == c->tail;
}

/* Executes one operation against the peer's mapped memory (the NIC's part). */
static enum rm_status exec(struct shm_ctx *x, uint32_t peer, struct shm_wr *w)
{
	struct shm_conn *c = &x->conn[peer];
	struct rm_ctx *b = &x->base;
	if (w->fate == FATE_DROP) {
		b->stats.faults_dropped++;
		return RM_WC_RETRY_EXC_ERR;
	}
	if (w->index >= c->n_regions || w->rkey != c->region_rkey[w->index] ||
	    w->off > c->region_len[w->index] || w->len > c->region_len[w->index] - w->off)
		return RM_WC_REM_ACCESS_ERR;
	uint8_t *remote = c->region[w->index] + w->off;
	struct shm_slot *sl = &c->ctl->slot[b->conf.self];
	/* The target reset its end since we connected: nothing of ours lands there. */
	if (atomic_load_explicit(&sl->conn_gen, memory_order_seq_cst) != c->conn_gen)
		return RM_WC_RETRY_EXC_ERR;
	if (w->op == RM_OP_READ) {
		memcpy(w->local, remote, w->len);
		return RM_WC_SUCCESS;
	}
	/* The Dekker pair of the file comment: this increment, then the load of perm. */
	atomic_fetch_add_explicit(&sl->inflight, 1, memory_order_seq_cst);
	if (!atomic_load_explicit(&sl->perm, memory_order_seq_cst) ||
	    atomic_load_explicit(&sl->conn_gen, memory_order_seq_cst) != c->conn_gen) {
		atomic_fetch_sub_explicit(&sl->inflight, 1, memory_order_release);
		return RM_WC_REM_ACCESS_ERR;
	}
	enum rm_status st = RM_WC_SUCCESS;
	uint32_t n = w->len;
	if (w->fate == FATE_TORN) {
		n = (uint32_t)(rm_rand(&x->rng) % w->len); /* a strict prefix */
		b->stats.faults_torn++;
		st = RM_WC_RETRY_EXC_ERR;
	}
	if (w->fate == FATE_STALL) {
		/* Half, a pause with the permission check behind us, the rest. */
		uint32_t h = n / 2;
		memcpy(remote, w->local, h);
		b->stats.faults_stalled++;
		uint64_t until = now_ns() + (uint64_t)x->faults.stall_us * 1000ull;
		while (now_ns() < until)
			;
		memcpy(remote + h, w->local + h, n - h);
	} else {
		memcpy(remote, w->local, n);
	}
	/* Pairs with shm_revoke's load: the copy happens before the revoke returns. */
	atomic_fetch_sub_explicit(&sl->inflight, 1, memory_order_release);
	return st;
}

static unsigned shm_poll(struct rm_ctx *b, struct rm_wc *wc, unsigned max)
{
	struct shm_ctx *x = (struct shm_ctx *)b;
	uint32_t sq = b->conf.sq_depth;
	unsigned budget = RM_POLL_MAX;   /* operations executed per poll at most */
	for (uint32_t i = 0; i < RM_PEERS_MAX && budget > 0; i++) {
		uint32_t p = (x->rr + i) % RM_PEERS_MAX;
		struct shm_conn *c = &x->conn[p];
		if (p == b->conf.self || c->head == c->tail)
			continue;
		if (b->state[p] != RM_PEER_CONNECTED) {
			flush_queue(x, p);
			continue;
		}
		while (c->head != c->tail && budget > 0 && cq_room(x) > 0) {
			struct shm_wr *w = &c->sq[c->head % sq];
			if (w->delay_polls > 0) {
				w->delay_polls--;   /* in order: the queue behind it waits too */
				break;
			}
			enum rm_status st = exec(x, p, w);
			budget--;
			cq_push(x, p, w, st);
			c->head++;
			if (st != RM_WC_SUCCESS) {
				b->state[p] = RM_PEER_ERROR;
				flush_queue(x, p);
				break;
			}
		}
	}
	x->rr = (x->rr + 1) % RM_PEERS_MAX;
	unsigned n = 0;
	while (n < max && x->cq_head != x->cq_tail) {
		wc[n++] = x->cq[x->cq_head % b->conf.cq_depth];
		x->cq_head++;
	}
	return n;
}

static int shm_faults_set(struct rm_ctx *b, const struct rm_faults *f)
{
	struct shm_ctx *x = (struct shm_ctx *)b;
	x->faults = *f;
	x->rng = f->seed;
	return 0;
}

static const struct rm_ops shm_ops = {
	.close = shm_close,
	.region_reg = shm_region_reg,
	.endpoint_get = shm_endpoint_get,
	.connect = shm_connect,
	.grant = shm_grant,
	.revoke = shm_revoke,
	.post = shm_post,
	.poll = shm_poll,
	.faults_set = shm_faults_set,
};
