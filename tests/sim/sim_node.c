/* SPDX-License-Identifier: Apache-2.0
 * One simulated replica: a node (node/node.h), the embedder paxwired runs too, in the
 * simulator's world. Everything between the core and the world is the node's: decoding,
 * client requests (queued at the leader and proposed at its next tick, or when a batch
 * is full), reads by read index, the effects of every call into the core, applying and
 * replying. This file is only the world and the watch:
 *   - the node's ops: transmit into the simulated network; a journal on a simulated disk
 *     that keeps what sync requests wrote, in request order, landing either when its
 *     completion fires or, at a crash, a random prefix of the writes still in flight (a
 *     write may reach the platter before its completion is seen); a restart gets back
 *     exactly what landed (node_restore replays it). The disk is faulty as the real
 *     journal's replay would see it (storage/journal.c): torn writes at a crash, a
 *     record corrupted in the middle (found at a restart), a record written to the
 *     wrong place (the intended one lost, an older one overwritten: found at the next
 *     restart), a failed sync (the node fail-stops as paxwired does, the failed write
 *     landed in full, in part or not at all). A journal damaged in the middle is
 *     repaired from the peers: the restart sets it aside and recovers as a memory-mode
 *     restart does (docs/storage.md, "Repair");
 *   - the node's observers, where the checks of sim_check.c run: after each call into
 *     the core, around each applied slot, for each read served by read index;
 *   - the kv service, wrapped so that exactly-once is checked where commands reach it.
 */
#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef PW_SIM_FAKE_VERBS
#include "fake_verbs.h"
#endif
#include "sim_pvt.h"
#include "rm.h"

/** kv store bounds: keys "k0".."k7", values "client.seq". */
#define SIM_KV_KEYS (2u * SIM_KEYS_MAX)
#define SIM_KV_KEY_BYTES 8u
#define SIM_KV_VALUE_BYTES 24u

static void *xcalloc(size_t count, size_t size)
{
	void *p = calloc(count, size);

	if (p == NULL) {
		fprintf(stderr, "pw-sim: out of memory (%zu x %zu bytes)\n", count, size);
		exit(2);
	}
	return p;
}

/* ---------------------------------------------------------------------------------- */
/* The kv service, wrapped: exactly-once is checked where commands reach the store.     */

/**
 * struct px_service apply() in front of svc_kv_apply. The applier passes each command's
 * body as a pointer into the slot value it is applying (px_batch_next does not copy),
 * so the command is found by its address in the batch, which names its (session, seq),
 * and the session its client (sim_client_of: learned when the registration was
 * applied). Then: a state machine applies each client command at most once and in seq
 * order (a client's seqs grow across its sessions, so an evicted session's command
 * applied again after a new registration would show here).
 */
static uint32_t sim_kv_apply(void *ctx, const uint8_t *cmd, uint32_t len, uint8_t *reply,
			     uint32_t cap, uint8_t *status)
{
	struct sim_node *n = ctx;
	struct sim *s = n->sim;
	struct px_cmd_ref c;
	uint32_t off = 0;
	bool found = false;
	int ci;

	if (n->cur_value == NULL) {
		/* Not applying a slot: px_apply_read, which must pass reads only. */
		if (!svc_kv_is_read(n->kv_svc.ctx, cmd, len))
			sim_fail(s, "read-contract",
				 "node %u: the service ran a command outside the log that is not "
				 "a read", n->id);
		return n->kv_svc.apply(n->kv_svc.ctx, cmd, len, reply, cap, status);
	}
	/* Bounded by the batch's command count. */
	while (px_batch_next(n->cur_value, n->cur_len, &off, &c)) {
		if (c.body == cmd && c.len == len) {
			found = true;
			break;
		}
	}
	if (!found)
		sim_fail(s, "applier-contract",
			 "node %u slot %" PRIu64 ": service called with a command that is "
			 "not in the slot being applied",
			 n->id, n->cur_slot);
	ci = sim_client_of(s, c.client_id, c.seq);
	if (ci < 0)
		sim_fail(s, "validity", "node %u slot %" PRIu64 ": unknown session %" PRIu64,
			 n->id, n->cur_slot, c.client_id);
	if (c.seq <= n->sm_last_seq[ci])
		sim_fail(s, "exactly-once",
			 "node %u slot %" PRIu64 ": client %" PRIu64 " seq %" PRIu64
			 " reaches the state machine after seq %" PRIu64
			 " (applied twice or out of order)",
			 n->id, n->cur_slot, c.client_id, c.seq, n->sm_last_seq[ci]);
	n->sm_last_seq[ci] = c.seq;
	return n->kv_svc.apply(n->kv_svc.ctx, cmd, len, reply, cap, status);
}

static uint64_t sim_kv_hash(const void *ctx)
{
	const struct sim_node *n = ctx;

	return n->kv_svc.hash(n->kv_svc.ctx);
}

static bool sim_kv_is_read(void *ctx, const uint8_t *cmd, uint32_t len)
{
	struct sim_node *n = ctx;

	return n->kv_svc.is_read(n->kv_svc.ctx, cmd, len);
}

static size_t sim_kv_snapshot_max(const void *ctx)
{
	const struct sim_node *n = ctx;

	return n->kv_svc.snapshot_max(n->kv_svc.ctx);
}

static size_t sim_kv_snapshot(const void *ctx, uint8_t *buf, size_t cap)
{
	const struct sim_node *n = ctx;

	return n->kv_svc.snapshot(n->kv_svc.ctx, buf, cap);
}

static int sim_kv_restore(void *ctx, const uint8_t *buf, size_t len)
{
	struct sim_node *n = ctx;

	return n->kv_svc.restore(n->kv_svc.ctx, buf, len);
}

/* ---------------------------------------------------------------------------------- */
/* Setup and lifecycle                                                                 */

/**
 * The sessions each applier of this seed holds: the same on every replica (eviction
 * must be a function of the log alone), drawn from the seed on a stream of its own.
 * Two seeds in three hold SIM_SESSIONS_MAX, twice the most clients, so that only
 * orphans of resent registrations ever get evicted. One in three holds fewer than its
 * clients (at least half of them), so registrations evict live sessions: clients get
 * SESSION_EXPIRED, register again, and the exactly-once and linearizability checks run
 * across evictions.
 */
static uint32_t seed_max_sessions(const struct sim *s)
{
	struct sim_rng r;
	uint32_t n = s->o.n_clients;

	sim_rng_seed(&r, s->o.seed, SIM_STREAM_SESSIONS);
	if (sim_rng_below(&r, 3) != 0 || n < 2)
		return SIM_SESSIONS_MAX;
	return sim_rng_range(&r, (n + 1) / 2, n - 1);
}


/* ---------------------------------------------------------------------------------- */
/* --log-transport rdma                                                                */

/** A life's remote-memory context: the shm backend, in this process, its faults seeded
 *  from the seed, the node and the life (deterministic). Faults only before healing. */
static void rm_life_open(struct sim *s, struct sim_node *n)
{
	char err[256];
	struct rm_conf rc = {
		.backend = RM_BACKEND_SHM, .self = n->id, .sq_depth = 2u * NODE_RM_INFLIGHT,
		.cq_depth = 4u * NODE_RM_INFLIGHT, .max_inline = RM_INLINE_MAX, .revoke_wait_us = 100000,
		.cluster = s->rm_cluster,
	};
	if (!s->liveness) {
		struct sim_rng r;
		sim_rng_seed(&r, s->o.seed ^ ((uint64_t)n->id << 48) ^ ((uint64_t)n->restarts << 32),
			     SIM_STREAM_RM_FAULTS);
		rc.faults.seed = sim_rng_next(&r);
		rc.faults.drop_ppm = s->o.rm_drop_ppm;
		rc.faults.torn_ppm = s->o.rm_torn_ppm;
		rc.faults.delay_ppm = s->o.rm_delay_ppm;
		rc.faults.delay_polls_max = s->o.rm_delay_polls;
	}
	if (s->o.rm_verbs) {
		/* The fake device (rdma/fake_verbs.c, linked in): port 1, GID index 3 is
		 * its RoCE v2 entry. Writes run when the writer polls. */
		rc.backend = RM_BACKEND_VERBS;
		rc.cluster = NULL;
		rc.port = 1;
		rc.gid_index = 3;
#ifdef PW_SIM_FAKE_VERBS
		/* The device is the process's: its faults follow the latest life opened
		 * (seeded as above, so deterministic), and healing clears them. */
		fake_faults_set(&(struct fake_faults){ .seed = rc.faults.seed,
			.drop_ppm = rc.faults.drop_ppm, .torn_ppm = rc.faults.torn_ppm,
			.delay_ppm = rc.faults.delay_ppm,
			.delay_polls_max = rc.faults.delay_polls_max,
			.revoke_fail_ppm = s->liveness ? 0u : s->o.rm_revoke_fail_ppm });
#endif
		memset(&rc.faults, 0, sizeof(rc.faults));
	} else {
		/* Objects a failed run of this process and seed left behind (none). */
		(void)rm_shm_unlink_node(s->rm_cluster, n->id);
	}
	n->rm = rm_open(&rc, err, sizeof(err));
	if (n->rm == NULL)
		sim_fail(s, "init", "node %u: rm_open: %s", n->id, err);
}

/** The life ends: closing takes every writer's access to its regions with it. */
static void rm_life_close(struct sim *s, struct sim_node *n)
{
	if (n->nd != NULL)
		sim_node_rm_account(s, n);
	rm_close(n->rm);
	n->rm = NULL;
	n->conf.rm = NULL;
}

void sim_node_rm_account(struct sim *s, const struct sim_node *n)
{
	const struct node_rm_counters *c = node_rm_counters(n->nd);
	struct node_rm_counters *t = &s->rm_tot;

	t->writes += c->writes;
	t->write_bytes += c->write_bytes;
	t->inline_writes += c->inline_writes;
	t->completions += c->completions;
	t->counted += c->counted;
	t->write_errors += c->write_errors;
	t->fallback += c->fallback;
	t->reads += c->reads;
	t->hellos += c->hellos;
	t->grants_in += c->grants_in;
	t->grants += c->grants;
	t->revokes += c->revokes;
	t->revoke_failed += c->revoke_failed;
	t->records += c->records;
	t->record_bytes += c->record_bytes;
	t->torn += c->torn;
	t->record_drops += c->record_drops;
	t->setup_drops += c->setup_drops;
	t->quiet_acks += c->quiet_acks;
	t->errors += c->errors;
}

void sim_node_rm_poll(struct sim *s, struct sim_node *n)
{
	(void)s;
	if (n->rm != NULL && n->nd != NULL)
		(void)node_rm_poll(n->nd);
}

void sim_node_rm_heal(struct sim *s, struct sim_node *n)
{
	static const struct rm_faults none;

#ifdef PW_SIM_FAKE_VERBS
	if (s->o.rm_verbs)
		fake_faults_set(&(struct fake_faults){ 0 });
#endif
	if (n->rm != NULL && !s->o.rm_verbs && rm_faults_set(n->rm, &none) != 0)
		sim_fail(s, "init", "node %u: rm_faults_set refused", n->id);
}

static void node_config(struct sim *s, struct sim_node *n, bool restart)
{
	struct px_config *cfg = &n->conf.px;
	const char *why = NULL;

	px_config_default(cfg, s->o.n_replicas, n->id);
	/* The spares (ids past the first voters) join a running cluster when added. */
	cfg->join = n->id >= s->o.n_replicas;
	cfg->cluster_id = SIM_CLUSTER_ID;
	cfg->config_epoch = SIM_CONFIG_EPOCH;
	cfg->durability = s->o.durability;
	cfg->window_slots = s->o.window_slots;
	cfg->pipeline_slots = s->o.pipeline_slots;
	cfg->slot_bytes = s->o.slot_bytes;
	cfg->batch_cmds_max = s->o.batch_cmds_max;
	cfg->heartbeat_ticks = s->o.heartbeat_ticks;
	cfg->election_ticks = s->o.election_ticks;
	cfg->seed = sim_rng_next(&s->rng_node);
	/* Memory mode loses everything at a crash; durable mode only what a damaged
	 * journal held (a repair start). */
	cfg->restarted = restart && (s->o.durability == PX_MEMORY || n->repairing);
	/* Never 0: a zero nonce could read as "none". */
	cfg->boot_nonce = sim_rng_next(&s->rng_node) | 1;
	cfg->bugs = s->o.planted ? s->o.bugs : 0;
	n->conf.sessions = n->max_sessions;
	n->conf.reads_max = s->o.log_reads ? 0 : SIM_READS_MAX;
	n->conf.queue_max = SIM_QUEUE_MAX;
	n->conf.snapshot_buf = n->snap_buf;
	n->conf.snapshot_bytes = n->snap_bytes;
	n->conf.transfer_chunks_per_tick = s->o.transfer_chunks;
	n->conf.snapshot_every = s->o.snapshot_every;
	/* The cluster uuid: the first start is a bootstrap (a restart is not: the bootstrap
	 * guard is for the operator's mistakes, which the simulator does not make). */
	n->conf.fresh = !restart;
	if (s->n_binds < SIM_BINDS_MAX) {
		/* An id: never zero, nor the fresh mark (lo all ones). */
		n->conf.bind.lo = (sim_rng_next(&s->rng_node) >> 1) | 1u;
		n->conf.bind.hi = sim_rng_next(&s->rng_node);
		s->binds[s->n_binds++] = n->conf.bind;
	} else {
		n->conf.bind = s->binds[sim_rng_below(&s->rng_node, SIM_BINDS_MAX)];
	}
	if (s->o.auth) {
		sim_auth_keys(s);
		/* A life above every earlier start's, as auth_life_now gives paxwired. */
		n->conf.keys = &s->keys;
		n->conf.auth_life = ++s->lives;
	}
	if (s->o.rm) {
		if (n->rm == NULL)
			rm_life_open(s, n);
		n->conf.rm = n->rm;
		n->conf.rm_ring = s->o.rm_ring;
	}
	if (px_config_check(cfg, &why) != 0)
		sim_fail(s, "config", "node %u: px_config_check rejects the derived config: %s",
			 n->id, why != NULL ? why : "?");
}

void sim_node_setup(struct sim *s, struct sim_node *n, uint8_t id)
{
	uint32_t i, w = s->o.window_slots;

	memset(n, 0, sizeof(*n));
	n->sim = s;
	n->id = id;
	n->max_sessions = seed_max_sessions(s);
	n->kv_len = svc_kv_arena_bytes(SIM_KV_KEYS, SIM_KV_KEY_BYTES, SIM_KV_VALUE_BYTES);
	if (n->kv_len == 0)
		sim_fail(s, "config", "svc_kv_arena_bytes rejects the simulator's bounds");
	n->kv_arena = xcalloc(1, n->kv_len);
	/* The snapshot buffer: sized once, from an empty store's bound. */
	n->kv = svc_kv_init(SIM_KV_KEYS, SIM_KV_KEY_BYTES, SIM_KV_VALUE_BYTES, n->kv_arena,
			   n->kv_len);
	if (n->kv == NULL)
		sim_fail(s, "init", "node %u: svc_kv_init: %s", n->id, strerror(errno));
	n->snap_bytes = px_snapshot_bytes_max(n->max_sessions, svc_kv_snapshot_max(n->kv));
	n->snap_buf = xcalloc(1, n->snap_bytes);
	n->disk_snap = xcalloc(1, n->snap_bytes);
	node_config(s, n, false);

	n->arena_len = node_arena_bytes(&n->conf);
	if (n->arena_len == 0)
		sim_fail(s, "config", "node %u: node_arena_bytes refuses the config", id);
	n->arena = xcalloc(1, n->arena_len);

	/* The journal is indexed by slot; its bytes grow by doubling (rarely: values are
	 * small). The staging ring holds two windows: a request never covers more than
	 * one (the core persists only what its window holds). */
	n->journal = xcalloc(SIM_SLOTS_MAX + 1, sizeof(*n->journal));
	n->journal_cap = 1u << 16;
	n->journal_bytes = xcalloc(1, n->journal_cap);
	n->staging_cap = 2 * w;
	n->staging = xcalloc(n->staging_cap, sizeof(*n->staging));
	/* One block: calloc maps it lazily, so only the pages written cost. */
	n->staging_values = xcalloc(n->staging_cap, s->o.slot_bytes);
	for (i = 0; i < n->staging_cap; i++)
		n->staging[i].value = n->staging_values + (size_t)i * s->o.slot_bytes;
	n->role = PX_FOLLOWER;
}

void sim_node_free(struct sim_node *n)
{
	rm_close(n->rm);
	free(n->journal);
	free(n->journal_bytes);
	free(n->staging_values);
	free(n->staging);
	free(n->arena);
	free(n->kv_arena);
	free(n->snap_buf);
	free(n->disk_snap);
	memset(n, 0, sizeof(*n));
}

/* ---------------------------------------------------------------------------------- */
/* Disk: the node's journal                                                            */

static void journal_write(struct sim *s, struct sim_node *n, const struct sim_disk_slot *src)
{
	struct sim_journal_slot *dst;
	uint8_t *p;

	if (src->slot > SIM_SLOTS_MAX)
		sim_fail(s, "sim-limit", "node %u persists slot %" PRIu64 " (limit %u)", n->id,
			 src->slot, SIM_SLOTS_MAX);
	while (n->journal_cap - n->journal_used < src->len) {
		p = realloc(n->journal_bytes, 2 * n->journal_cap);
		if (p == NULL) {
			fprintf(stderr, "pw-sim: out of memory for a journal\n");
			exit(2);
		}
		n->journal_bytes = p;
		n->journal_cap *= 2;
	}
	dst = &n->journal[src->slot];
	dst->vballot = src->vballot;
	dst->len = src->len;
	dst->off = (uint32_t)n->journal_used;
	memcpy(n->journal_bytes + n->journal_used, src->value, src->len);
	n->journal_used += src->len;
	if (src->slot > n->journal_hi)
		n->journal_hi = src->slot;
}

/** Journals that replay will find damaged (now or at their next start), or that are
 *  being repaired: at most f at once, or no majority of replicas in normal status could
 *  answer a repairing one's recovery (liveness). */
static uint32_t lost_nodes(const struct sim *s)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < s->o.n_nodes; i++)
		k += s->nodes[i].disk_damaged || s->nodes[i].repair_pending;
	return k;
}

/** May node n's journal be damaged now? During the fault phase, in durable mode, once
 *  it holds something, and while fewer than f journals are lost. */
static bool may_damage(const struct sim *s, const struct sim_node *n)
{
	return !s->liveness && s->o.durability == PX_DURABLE && !n->disk_damaged &&
	       !n->repair_pending && (n->disk_promised != 0 || n->journal_hi != 0) &&
	       lost_nodes(s) < (s->o.n_replicas - 1u) / 2u;
}

static void land_inc(struct sim_node *n, const struct sim_persist *p)
{
	if (p->n_inc == 0)
		return;
	memcpy(n->disk_inc, p->inc, sizeof(n->disk_inc));
	n->disk_n_inc = p->n_inc;
	/* The journal's `repairing` file with an INCARNATION record after it: done. */
	n->repair_pending = false;
}

static void land(struct sim *s, struct sim_node *n, struct sim_persist *p)
{
	uint32_t i, lost = UINT32_MAX;

	if (p->landed)
		return;
	p->landed = true;
	/* A misdirected write: one record of the request (the promise: index p->n) lands
	 * elsewhere, over an older record. The intended one is lost and the older one
	 * reads as misdirected (its segment and offset fields say so): the journal is
	 * damaged in the middle, and the next start repairs. Until then the node runs on
	 * what it remembers. */
	if (s->o.misdirect_pcm != 0 &&
	    sim_rng_below(&s->rng_disk, 100000) < s->o.misdirect_pcm && may_damage(s, n)) {
		lost = sim_rng_range(&s->rng_disk, 0, p->n);
		n->disk_damaged = true;
		s->misdirected++;
		sim_trace(s, "n%u DISK misdirects record %u of seq %" PRIu64, n->id, lost, p->seq);
	}
	if (lost != p->n)
		n->disk_promised = p->ballot;
	land_inc(n, p);
	if (p->commit > n->disk_commit)
		n->disk_commit = p->commit;
	for (i = 0; i < p->n; i++)
		if (i != lost)
			journal_write(s, n, &n->staging[(p->first + i) % n->staging_cap]);
}

/** A write that landed in part: the records before the first torn one (the promise,
 *  the crash vector, some of the slots), never the sync's commit point. */
static void tear(struct sim *s, struct sim_node *n, struct sim_persist *p)
{
	uint32_t i, k;

	if (p->landed)
		return;
	k = sim_rng_range(&s->rng_disk, 0, p->n);
	n->disk_promised = p->ballot;
	if (k > 0)
		land_inc(n, p);
	for (i = 0; i < k; i++)
		journal_write(s, n, &n->staging[(p->first + i) % n->staging_cap]);
	s->torn_writes++;
	sim_trace(s, "n%u DISK tears a write: promise and %u of %u slots", n->id, k, p->n);
}

/** Releases a landed request's staging copies: the oldest ones in the ring. */
static void release_staging(struct sim_node *n, struct sim_persist *p)
{
	assert(p->landed);
	if (p->n == 0)
		return;
	assert(p->first == n->staging_head);
	n->staging_head = (n->staging_head + p->n) % n->staging_cap;
	n->staging_n -= p->n;
	p->n = 0;
}

/** Makes room in the staging ring for one more copy: pending writes land early,
 *  oldest first (a fast disk may finish a write long before its completion is
 *  reaped), releasing their copies. The request being built is never one of them. */
static void staging_room(struct sim *s, struct sim_node *n)
{
	struct sim_persist *p;

	/* Bounded: each pass lands one earlier request. */
	for (uint32_t i = 0; i < n->persist_n && n->staging_n == n->staging_cap; i++) {
		p = &n->persist[(n->persist_head + i) % SIM_PERSIST_MAX];
		land(s, n, p);
		release_staging(n, p);
	}
	if (n->staging_n == n->staging_cap)
		sim_fail(s, "persist-contract", "node %u: one persist request holds more than %u "
			 "slots (two windows)", n->id, n->staging_cap);
}

/** The request being built: the slot after the queue's last (journal_promise opens it,
 *  journal_sync queues it). */
static struct sim_persist *building(struct sim_node *n)
{
	return &n->persist[(n->persist_head + n->persist_n) % SIM_PERSIST_MAX];
}

static void op_journal_promise(void *ctx, uint64_t ballot)
{
	struct sim_node *n = ctx;
	struct sim *s = n->sim;
	struct sim_persist *p;

	if (n->persist_n == SIM_PERSIST_MAX)
		sim_fail(s, "sim-limit", "node %u: more than %u persist requests in flight",
			 n->id, SIM_PERSIST_MAX);
	p = building(n);
	memset(p, 0, sizeof(*p));
	p->ballot = ballot;
	if (n->repairing && px_role(n->r) == PX_RECOVERING)
		sim_fail(s, "repair-persist", "node %u writes to its journal while it repairs "
			 "(before its recovery completed)", n->id);
	p->first = (n->staging_head + n->staging_n) % n->staging_cap;
}

static void op_journal_slot(void *ctx, uint64_t slot, uint64_t vballot, const uint8_t *value,
			    uint32_t len)
{
	struct sim_node *n = ctx;
	struct sim *s = n->sim;
	struct sim_persist *p = building(n);
	struct sim_disk_slot *st;

	if (vballot == 0)
		return;  /* nothing accepted there: nothing to write */
	if (len > s->o.slot_bytes)
		sim_fail(s, "persist-contract", "node %u: slot %" PRIu64 " value %u bytes > "
			 "slot_bytes %u", n->id, slot, len, s->o.slot_bytes);
	if (n->staging_n == n->staging_cap) {
		staging_room(s, n);
		/* Landing earlier requests released the oldest copies; this request's
		 * copies start where they were. */
		p->first = (n->staging_head + n->staging_n - p->n) % n->staging_cap;
	}
	st = &n->staging[(p->first + p->n) % n->staging_cap];
	st->slot = slot;
	st->vballot = vballot;
	st->len = len;
	memcpy(st->value, value, len);
	p->n++;
	n->staging_n++;
}

static void op_journal_incarnation(void *ctx, const uint32_t *inc, uint32_t n_inc)
{
	struct sim_node *n = ctx;
	struct sim *s = n->sim;
	struct sim_persist *p = building(n);

	if (n_inc == 0 || n_inc > PX_REPLICAS_MAX)
		sim_fail(s, "persist-contract", "node %u persists a crash vector of %u entries",
			 n->id, n_inc);
	memset(p->inc, 0, sizeof(p->inc));
	memcpy(p->inc, inc, sizeof(uint32_t) * n_inc);
	p->n_inc = (uint8_t)n_inc;
}

static void op_journal_sync(void *ctx, uint64_t seq, uint64_t commit)
{
	struct sim_node *n = ctx;
	struct sim *s = n->sim;
	struct sim_persist *p = building(n), *last;

	p->seq = seq;
	p->commit = commit;
	/* Completions come back in request order: a write never overtakes an earlier one. */
	p->due = s->now + sim_rng_range(&s->rng_disk, 0, s->o.persist_delay_max);
	if (n->persist_n > 0) {
		last = &n->persist[(n->persist_head + n->persist_n - 1) % SIM_PERSIST_MAX];
		if (p->due < last->due)
			p->due = last->due;
	}
	n->persist_n++;
	sim_trace(s, "n%u persist seq=%" PRIu64 " b=%" PRIx64 " slots=%u due=%" PRIu64, n->id,
		  p->seq, p->ballot, p->n, p->due);
}

/** A snapshot save (ops snapshot_save) reaches the disk: the journal below it may go. */
static void snapshot_land(struct sim *s, struct sim_node *n)
{
	memcpy(n->disk_snap, n->snap_buf, n->snap_save_len);
	n->disk_snap_len = n->snap_save_len;
	n->disk_snap_slot = n->snap_save_slot;
	n->snap_saving = false;
	/* Compaction: the journal keeps the slots above the snapshot only. */
	if (n->snap_save_slot + 1 > n->journal_lo)
		n->journal_lo = n->snap_save_slot + 1;
	sim_trace(s, "n%u snapshot saved slot=%" PRIu64 " len=%zu", n->id, n->snap_save_slot,
		  n->snap_save_len);
	node_snapshot_saved(n->nd, n->snap_save_slot, true);
}

void sim_node_disk_step(struct sim *s, struct sim_node *n)
{
	struct sim_persist *p;
	uint64_t seq;

	if (n->up && n->snap_saving && n->snap_save_due <= s->now)
		snapshot_land(s, n);

	/* Bounded: each pass removes one request. */
	while (n->up && n->persist_n > 0) {
		p = &n->persist[n->persist_head];
		if (p->due > s->now)
			break;
		if (s->o.sync_error_pcm != 0 && !s->liveness &&
		    sim_rng_below(&s->rng_disk, 100000) < s->o.sync_error_pcm) {
			/* fdatasync failed: the node must stop (paxwired exits: journal_failed).
			 * What the failed write covered landed in full, in part, or not at all;
			 * nothing after it is written (the journal's writer stopped). */
			uint32_t v = sim_rng_below(&s->rng_disk, 3);
			if (v == 0)
				land(s, n, p);
			else if (v == 1)
				tear(s, n, p);
			s->sync_errors++;
			sim_trace(s, "n%u DISK sync of seq %" PRIu64 " fails (%s): the node stops",
				  n->id, p->seq, v == 0 ? "landed" : v == 1 ? "torn" : "lost");
			n->persist_n = 0;
			sim_node_crash(s, n);
			n->down_until = s->now + sim_rng_range(&s->rng_disk, 1, s->o.down_max);
			s->crashes++;
			return;
		}
		land(s, n, p);
		seq = p->seq;
		release_staging(n, p);
		n->persist_head = (n->persist_head + 1) % SIM_PERSIST_MAX;
		n->persist_n--;
		sim_trace(s, "n%u persisted seq=%" PRIu64, n->id, seq);
		node_persisted(n->nd, seq);
	}
}

void sim_node_crash(struct sim *s, struct sim_node *n)
{
	uint32_t i, land_n;

	assert(n->up);
	/* Writes in flight: a random prefix reached the disk, the rest is lost. */
	land_n = sim_rng_range(&s->rng_disk, 0, n->persist_n);
	for (i = 0; i < land_n; i++)
		land(s, n, &n->persist[(n->persist_head + i) % SIM_PERSIST_MAX]);
	/* A torn write: the next request landed in part. The journal writes its records in
	 * order (the promise, the crash vector, the slots, the sync) and replay keeps every
	 * whole record before a torn one: never the sync's commit point
	 * (storage/journal.c). None of it was reported durable. */
	if (land_n < n->persist_n && sim_rng_below(&s->rng_disk, 2) == 0)
		tear(s, n, &n->persist[(n->persist_head + land_n) % SIM_PERSIST_MAX]);
	/* A corrupted sector: a record in the middle of the journal no longer reads back
	 * (its checksum fails, valid records follow): found at the next start. */
	if (s->o.sector_pm != 0 && sim_rng_below(&s->rng_disk, 1000) < s->o.sector_pm &&
	    may_damage(s, n)) {
		n->disk_damaged = true;
		s->corrupt_sectors++;
		sim_trace(s, "n%u DISK a sector of the journal is corrupted", n->id);
	}
	sim_oracle_crash(s, n);
	/* A snapshot being saved is lost (crash between write and sync). */
	n->snap_saving = false;
	n->persist_n = 0;
	n->staging_n = 0;
	n->n_held = 0;     /* requests queued at the node: the clients time out and resend */
	n->up = false;
	if (n->rm != NULL)
		rm_life_close(s, n);
	n->nd = NULL;
	n->r = NULL;
	n->applier = NULL;
	if (s->o.durability == PX_MEMORY) {
		/* Memory mode: the disk holds nothing a restart may use. */
		n->disk_promised = 0;
		n->disk_n_inc = 0;
		memset(n->journal, 0, (n->journal_hi + 1) * sizeof(*n->journal));
		n->journal_hi = 0;
		n->journal_lo = 0;
		n->journal_used = 0;
		n->disk_snap_len = 0;
	}
}

static bool journal_read(void *jctx, uint64_t slot, uint64_t *vballot, const uint8_t **value,
			 uint32_t *len)
{
	const struct sim_node *n = jctx;
	const struct sim_journal_slot *d;

	if (slot > SIM_SLOTS_MAX || slot > n->journal_hi || slot < n->journal_lo)
		return false;
	d = &n->journal[slot];
	if (d->len == 0)
		return false;
	*vballot = d->vballot;
	*value = n->journal_bytes + d->off;
	*len = d->len;
	return true;
}

/* ---------------------------------------------------------------------------------- */
/* Transmit                                                                            */

static uint8_t *op_tx_buf(void *ctx, const struct node_dst *dst, uint32_t *cap)
{
	struct sim_node *n = ctx;

	(void)dst;
	*cap = sizeof(n->sim->wire);
	return n->sim->wire;
}

static void op_tx_commit(void *ctx, const struct node_dst *dst, uint32_t len)
{
	struct sim_node *n = ctx;
	struct sim *s = n->sim;
	const uint8_t *w = s->wire;
	uint64_t ballot;

	if (w[PX_WIRE_OFF_FROM] != n->id)
		sim_fail(s, "effects", "node %u sends a message (type %u) from %u", n->id,
			 w[PX_WIRE_OFF_TYPE], w[PX_WIRE_OFF_FROM]);
	n->msgs_out++;
	if (dst->peer == NODE_TO_CLIENT) {
		/* The client's endpoint, as sim_node_deliver named it. */
		sim_net_send(s, n->id, dst->client->b[0], w, len);
		return;
	}
	if (dst->peer >= s->o.n_nodes || dst->peer == n->id)
		sim_fail(s, "effects", "node %u sends a message (type %u) to %u", n->id,
			 w[PX_WIRE_OFF_TYPE], dst->peer);
	/* A replica whose journal was damaged can no longer vouch for its promises and
	 * votes: it must not give any before its recovery completed. */
	if (n->repairing &&
	    (w[PX_WIRE_OFF_TYPE] == PX_MSG_PROMISE || w[PX_WIRE_OFF_TYPE] == PX_MSG_ACCEPTED))
		sim_fail(s, "repair-vote", "node %u sends a %s while it repairs a damaged "
			 "journal, before its recovery completed", n->id,
			 px_msg_type_name(w[PX_WIRE_OFF_TYPE]));
	/* Every PROMISE and ACCEPTED carries the promise, made durable first. */
	memcpy(&ballot, w + PX_WIRE_OFF_BALLOT, sizeof(ballot));
	ballot = le64toh(ballot);
	if ((w[PX_WIRE_OFF_TYPE] == PX_MSG_PROMISE || w[PX_WIRE_OFF_TYPE] == PX_MSG_ACCEPTED) &&
	    ballot > n->vouched_ballot)
		n->vouched_ballot = ballot;
	if (s->trace) {
		struct px_msg *m = &s->trace_msg;
		uint32_t ml = s->o.auth && len >= PX_TRAILER_BYTES ? len - PX_TRAILER_BYTES : len;
		if (px_decode(w, ml, SIM_CLUSTER_ID, s->o.n_nodes, m) == PX_WIRE_OK)
			sim_trace_msg(s, "send", n->id, m);
	}
	sim_net_send(s, n->id, dst->peer, w, len);
}

/** Durable mode: the node hands a snapshot to save; it lands after a disk delay. */
static void op_snapshot_save(void *ctx, uint64_t slot, uint64_t id, const uint8_t *buf,
			     size_t len)
{
	struct sim_node *n = ctx;
	struct sim *s = n->sim;

	(void)id;
	if (buf != n->snap_buf || len > n->snap_bytes || n->snap_saving)
		sim_fail(s, "snapshot", "node %u: snapshot_save of %zu bytes at slot %" PRIu64
			 " outside its buffer, or while one is being saved", n->id, len, slot);
	n->snap_saving = true;
	n->snap_save_slot = slot;
	n->snap_save_len = len;
	n->snap_save_due = s->now + sim_rng_range(&s->rng_disk, 0, s->o.persist_delay_max * 4u);
}

static const struct node_ops sim_ops = {
	.tx_buf = op_tx_buf,
	.tx_commit = op_tx_commit,
	.journal_promise = op_journal_promise,
	.journal_slot = op_journal_slot,
	.journal_sync = op_journal_sync,
	.journal_incarnation = op_journal_incarnation,
};

static const struct node_ops sim_ops_durable = {
	.tx_buf = op_tx_buf,
	.tx_commit = op_tx_commit,
	.journal_promise = op_journal_promise,
	.journal_slot = op_journal_slot,
	.journal_sync = op_journal_sync,
	.journal_incarnation = op_journal_incarnation,
	.snapshot_save = op_snapshot_save,
};

/* ---------------------------------------------------------------------------------- */
/* The watch: the node's observers                                                     */

void sim_session_learn(struct sim *s, const struct sim_node *n, uint64_t slot,
		       uint32_t index, const struct px_reply *r)
{
	uint64_t id;
	int ci;

	if (r->seq != 0 || r->status != PX_OK)
		return;   /* not a registration's answer */
	if (r->len != PX_SESSION_ID_BYTES)
		sim_fail(s, "session-id", "node %u slot %" PRIu64 ": a registration answered "
			 "with %u bytes", n->id, slot, r->len);
	memcpy(&id, r->data, sizeof(id));
	id = le64toh(id);
	/* The id is the registration's log position: the same on every replica. */
	if (id != px_session_id(slot, index))
		sim_fail(s, "session-id",
			 "node %u slot %" PRIu64 " command %u: registration got session %" PRIu64
			 ", not its position %" PRIu64, n->id, slot, index, id,
			 px_session_id(slot, index));
	ci = sim_client_of(s, r->client_id, 0);
	if (ci < 0)
		sim_fail(s, "validity", "node %u slot %" PRIu64 ": a registration no client sent",
			 n->id, slot);
	sim_session_put(s, id, (uint32_t)ci);
}

static const char *call_name(enum node_call call)
{
	switch (call) {
	case NODE_CALL_STEP: return "step";
	case NODE_CALL_RM: return "rm-step";
	case NODE_CALL_TICK: return "tick";
	case NODE_CALL_PROPOSE: return "propose";
	case NODE_CALL_PERSISTED: return "persisted";
	case NODE_CALL_READ: return "read";
	case NODE_CALL_TRANSFER: return "transfer";
	default: return "?";
	}
}

/** After each call into the core, effects handled, before the committed range is
 *  applied: the properties of sim_check.c, the chosen oracle's observations, and the
 *  refusal of what the corrupting network made impossible. */
static void obs_step(void *ctx, enum node_call call, const struct px_msg *in,
		     const struct px_out *out)
{
	struct sim_node *n = ctx;
	struct sim *s = n->sim;

	if (call == NODE_CALL_RM) {
		s->obs_msg = in;   /* a record's ACCEPT: its slots are looked at */
		if (s->trace)
			sim_trace_msg(s, "rm-step", n->id, in);
	}
	if (call == NODE_CALL_STEP) {
		n->step_seen = true;
		if (n->must_refuse && out->dropped == 0)
			sim_fail(s, "corruption-accepted",
				 "node %u took a %s from %u that the network rewrote (class %u) "
				 "to a value no correct replica sends, without refusing it",
				 n->id, px_msg_type_name(in->type), in->from, n->corrupt);
		if (n->must_refuse)
			s->net.refused++;
		s->obs_msg = in;
	}
	if (call == NODE_CALL_PROPOSE) {
		/* The slots it filled: the leader's own acceptances. */
		s->obs_lo = n->last_before + 1;
		s->obs_hi = px_last_slot(n->r);
	}
	if (px_role(n->r) == PX_LEADER && n->next_before != 0 &&
	    px_next_slot(n->r) > n->next_before) {
		/* Slots a leader proposed in any call: re-proposals of what its phase 1
		 * recovered past its bound, no-ops filling a configuration's alpha window. */
		if (s->obs_lo > s->obs_hi || n->next_before < s->obs_lo)
			s->obs_lo = n->next_before;
		if (px_next_slot(n->r) - 1 > s->obs_hi)
			s->obs_hi = px_next_slot(n->r) - 1;
	}
	/* A new leader re-proposed its log at its ballot; a replica out of recovery holds
	 * the values it merged as its own votes (it reports them in its promises, and its
	 * acks count those at its promise). */
	sim_observe(s, n, out->role_changed && (out->role == PX_LEADER ||
						n->role == PX_RECOVERING));
	s->obs_msg = NULL;
	s->obs_lo = 1;
	s->obs_hi = 0;
	n->last_before = px_last_slot(n->r);
	n->next_before = px_next_slot(n->r);
	if (px_membership(n->r)->cur.epoch != n->epoch_seen) {
		n->epoch_seen = px_membership(n->r)->cur.epoch;
		sim_trace(s, "n%u epoch %u voters %03x commit=%" PRIu64, n->id, n->epoch_seen,
			  px_membership(n->r)->cur.voters, px_commit(n->r));
	}
	if (out->role_changed) {
		sim_trace(s, "n%u role %s promised=%" PRIx64 " commit=%" PRIu64 " last=%" PRIu64,
			  n->id, px_role_name(out->role), px_promised(n->r), px_commit(n->r),
			  px_last_slot(n->r));
		if (out->role != px_role(n->r))
			sim_fail(s, "effects", "node %u: out.role %d but px_role %d", n->id,
				 out->role, px_role(n->r));
		if (n->role == PX_RECOVERING && out->role != PX_RECOVERING) {
			sim_check_recovered(s, n);
			n->repairing = false;
		}
		n->role = out->role;
	}
	if (out->read_confirmed > 0 && px_role(n->r) != PX_LEADER)
		sim_fail(s, "read", "node %u: read ticket %" PRIu64 " confirmed by a %s", n->id,
			 out->read_confirmed, px_role_name(px_role(n->r)));
	if (out->state_transfer_needed && !n->st_needed) {
		n->st_needed = true;
		n->st_events++;
	}
	sim_check_node(s, n, call_name(call));
}

static void obs_apply_begin(void *ctx, uint64_t slot, const uint8_t *value, uint32_t len)
{
	struct sim_node *n = ctx;
	struct sim *s = n->sim;

	sim_check_chosen(s, n, slot, value, len, n->replaying ? "replayed" : "applied");
	sim_members_track(s, slot, value, len);
	sim_trace(s, "n%u apply %" PRIu64 " (%u cmds)", n->id, slot, px_batch_count(value));
	n->cur_value = value;
	n->cur_len = len;
	n->cur_slot = slot;
}

static void obs_apply_end(void *ctx, uint64_t slot, const struct px_apply_out *out)
{
	struct sim_node *n = ctx;
	struct sim *s = n->sim;

	n->cur_value = NULL;
	for (uint32_t i = 0; i < out->n; i++) {
		const struct px_reply *rp = &out->replies[i];
		if (rp->client_id == 0 && rp->seq == 0)
			continue;   /* a bind (check_validity: a node's) has no client */
		sim_session_learn(s, n, slot, i, rp);
		sim_check_reply(s, n, rp);
		if (sim_client_of(s, rp->client_id, rp->seq) < 0)
			sim_fail(s, "validity", "node %u: reply to unknown client", n->id);
	}
	sim_check_applied(s, n, slot, px_applier_chain(n->applier),
			  n->kv_svc.hash(n->kv_svc.ctx));
	n->applied_slots++;
	if (!n->replaying)
		sim_check_node(s, n, "applied");
}

static void obs_read_begin(void *ctx, uint64_t ticket, uint64_t index)
{
	struct sim_node *n = ctx;
	struct sim *s = n->sim;
	struct sim_read *rd = &n->reads[n->read_next++ % SIM_READS_MAX];

	if (index != px_commit(n->r))
		sim_fail(s, "read", "node %u: read index %" PRIu64 " but commit %" PRIu64, n->id,
			 index, px_commit(n->r));
	rd->ticket = ticket;
	rd->committed_before = s->slot_hi;
	sim_trace(s, "n%u read ticket %" PRIu64 " index %" PRIu64, n->id, ticket, index);
}

/** A read the node served by read index: the read oracle, and the reply recorded for
 *  the client's check. */
static void obs_read_served(void *ctx, uint64_t ticket, uint64_t index, uint64_t applied,
			    uint64_t client_id, uint64_t seq, uint8_t status,
			    const uint8_t *reply, uint32_t len)
{
	struct sim_node *n = ctx;
	struct sim *s = n->sim;
	struct sim_cmd_rec *rec;
	uint64_t h, before = UINT64_MAX;

	/* Bounded: the node holds at most SIM_READS_MAX reads, the ring keeps as many. */
	for (uint32_t i = 0; i < SIM_READS_MAX; i++)
		if (n->reads[i].ticket == ticket)
			before = n->reads[i].committed_before;
	if (before == UINT64_MAX)
		sim_fail(s, "read", "node %u served read ticket %" PRIu64 " it never gave", n->id,
			 ticket);
	/* The read oracle: every slot committed anywhere before the ticket was given may
	 * hold a write that completed before the read began. A confirmed read index
	 * covers them all (docs/consistency.md, "Reads"), so the state served from must
	 * too: checked here, when it happens, rather than left to the history's
	 * linearizability search. */
	if (applied < before)
		sim_fail(s, "read-index",
			 "node %u served read ticket %" PRIu64 " from slot %" PRIu64 " (read index %"
			 PRIu64 "), but slot %" PRIu64 " was committed before the ticket was given",
			 n->id, ticket, applied, index, before);
	if (status != PX_OK)
		sim_fail(s, "service", "node %u: a GET served by read index got status %u", n->id,
			 status);
	rec = sim_cmd_lookup(s, client_id, seq);
	if (rec == NULL)
		sim_fail(s, "validity", "node %u serves a read no client sent", n->id);
	h = px_hash_bytes(PX_HASH_SEED, &status, 1);
	h = px_hash_bytes(h, reply, len);
	if (rec->n_read_serves < SIM_READ_SERVES_MAX)
		rec->read_hash[rec->n_read_serves++] = h;
	else
		rec->read_serves_lost = true;
	sim_trace(s, "n%u read ticket %" PRIu64 " index %" PRIu64 " served at %" PRIu64, n->id,
		  ticket, index, applied);
	n->reads_served++;
}

/** A snapshot was installed (state transfer, or a durable restart's): the state must
 *  be the one every replica had after that slot. */
/** --log-transport rdma: what landed in any follower's region is its vote from then. */
static void obs_rm_polled(void *ctx)
{
	struct sim_node *n = ctx;
	struct sim *s = n->sim;

	for (uint32_t i = 0; i < s->o.n_nodes; i++)
		sim_observe_landed(s, &s->nodes[i]);
}

static void obs_installed(void *ctx, uint64_t slot)
{
	struct sim_node *n = ctx;
	struct sim *s = n->sim;
	const struct sim_slot_rec *rec = slot <= SIM_SLOTS_MAX ? &s->slots[slot] : NULL;

	if (rec == NULL || !rec->chain_known)
		sim_fail(s, "snapshot", "node %u installed a snapshot of slot %" PRIu64
			 " that no replica applied", n->id, slot);
	sim_check_applied(s, n, slot, px_applier_chain(n->applier),
			  n->kv_svc.hash(n->kv_svc.ctx));
	memcpy(n->sm_last_seq, rec->last_seq, sizeof(n->sm_last_seq));
	sim_trace(s, "n%u installed snapshot slot=%" PRIu64, n->id, slot);
	if (!n->replaying) {
		n->st_needed = false;
		s->installs++;
	}
}

/* ---------------------------------------------------------------------------------- */
/* Life                                                                                */

void sim_node_start(struct sim *s, struct sim_node *n, bool restart)
{
	struct px_service svc = {0};
	const char *why = NULL;

	/* A journal that replay finds damaged in the middle (or a repair that has not
	 * completed) is set aside, as paxwired does: the node starts with nothing of it and
	 * recovers from its peers. The snapshots on the disk stay (a later start from an
	 * intact journal uses them), but a repair does not. */
	n->repairing = restart && s->o.durability == PX_DURABLE &&
		       (n->disk_damaged || n->repair_pending);
	if (n->repairing) {
		n->disk_promised = 0;
		n->disk_commit = 0;
		n->disk_n_inc = 0;
		memset(n->journal, 0, (n->journal_hi + 1) * sizeof(*n->journal));
		n->journal_hi = 0;
		n->journal_lo = 0;
		n->journal_used = 0;
		n->disk_damaged = false;
		n->repair_pending = true;
		s->repairs++;
	}
	node_config(s, n, restart);
	/* The state machine starts empty in both modes and is rebuilt from the log. */
	n->kv = svc_kv_init(SIM_KV_KEYS, SIM_KV_KEY_BYTES, SIM_KV_VALUE_BYTES, n->kv_arena,
			   n->kv_len);
	if (n->kv == NULL)
		sim_fail(s, "init", "node %u: svc_kv_init: %s", n->id, strerror(errno));
	svc_kv_service(n->kv, &n->kv_svc);
	svc.apply = sim_kv_apply;
	svc.hash = sim_kv_hash;
	svc.ctx = n;
	svc.is_read = sim_kv_is_read;
	svc.snapshot_max = sim_kv_snapshot_max;
	svc.snapshot = sim_kv_snapshot;
	svc.restore = sim_kv_restore;
	struct node_observer obs = {
		.step = obs_step, .apply_begin = obs_apply_begin, .apply_end = obs_apply_end,
		.installed = obs_installed, .read_begin = obs_read_begin,
		.read_served = obs_read_served, .rm_polled = obs_rm_polled, .ctx = n,
	};
	memset(n->arena, 0, n->arena_len);
	n->nd = node_init(&n->conf, &svc,
			  s->o.durability == PX_DURABLE ? &sim_ops_durable : &sim_ops, n, &obs,
			  n->arena, n->arena_len, &why);
	if (n->nd == NULL)
		sim_fail(s, "init", "node %u: node_init: %s%s%s", n->id, strerror(errno),
			 why ? ": " : "", why ? why : "");
	n->r = node_replica(n->nd);
	n->applier = node_applier(n->nd);
	memset(n->sm_last_seq, 0, sizeof(n->sm_last_seq));
	memset(n->reads, 0, sizeof(n->reads));
	n->read_next = 0;
	n->st_needed = false;
	n->commit_seen = 0;
	n->applied_seen = 0;
	n->persist_head = 0;
	n->persist_n = 0;
	n->staging_head = 0;
	n->staging_n = 0;
	n->n_held = 0;
	if (restart && s->o.durability == PX_DURABLE && !n->repairing) {
		/* The node replays the journal's chosen prefix (checked like any other
		 * application, through the observers), then takes its promise and votes. */
		struct node_journal j = {
			.promised = n->disk_promised, .commit = n->disk_commit,
			.hi = n->journal_hi, .slot = journal_read, .jctx = n,
			.incarnation = n->disk_inc, .n_inc = n->disk_n_inc,
		};
		if (n->disk_snap_len > 0) {
			/* Read back into the buffer: served from there until a newer one. */
			memcpy(n->snap_buf, n->disk_snap, n->disk_snap_len);
			j.snapshot = n->snap_buf;
			j.snapshot_len = n->disk_snap_len;
		}
		struct node_restored r;
		n->replaying = true;
		int rc = node_restore(n->nd, &j, &r);
		n->replaying = false;
		if (rc != 0)
			sim_fail(s, "restore", "node %u: node_restore = %d", n->id, rc);
		n->replayed_slots += r.replayed;
		/* A slot the replica cannot hold (beyond [1, window] after a restart): durable
		 * mode then forgets an accepted value; the agreement check tells whether that
		 * matters, so count it and go on. */
		n->restore_rejected += r.rejected;
		s->restore_rejected += r.rejected;
		/* What the replica told others before the crash, it must still hold: every
		 * PROMISE and ACCEPTED it sent carried its promise, made durable first. */
		if (px_promised(n->r) < n->vouched_ballot)
			sim_fail(s, "durable-promise",
				 "node %u restarted with promise 0x%" PRIx64 " but had sent PROMISE "
				 "or ACCEPTED at 0x%" PRIx64 " before it crashed",
				 n->id, px_promised(n->r), n->vouched_ballot);
	}

	/* Commit and apply points start over with the replica and the state machine.
	 * The promise does too in memory mode (that is what the mode loses); in durable
	 * mode it came back from the disk and the check holds it to the old value. */
	n->commit_seen = 0;
	n->applied_seen = 0;
	n->promised_seen = s->o.durability == PX_DURABLE && !n->repairing ? n->vouched_ballot : 0;
	if (s->o.durability == PX_MEMORY || n->repairing)
		n->vouched_ballot = 0;
	n->role = px_role(n->r);
	n->up = true;
	if (restart)
		n->restarts++;
	sim_trace(s, "n%u START restart=%d%s promised=%" PRIx64 " last=%" PRIu64 " %s st=%d "
		  "sessions=%u", n->id, restart, n->repairing ? " REPAIR" : "",
		  px_promised(n->r), px_last_slot(n->r),
		  px_role_name(px_role(n->r)), px_needs_state_transfer(n->r), n->max_sessions);
	sim_check_node(s, n, restart ? "restart" : "init");
}

/* ---------------------------------------------------------------------------------- */
/* Inputs                                                                              */

/** Proposes what the node queued (adaptive batching at each tick) and frees the
 *  request bytes the queue pointed into. */
static void flush(struct sim *s, struct sim_node *n)
{
	(void)s;
	n->last_before = px_last_slot(n->r);
	n->next_before = px_next_slot(n->r);
	node_flush(n->nd);
	n->n_held = 0;
}

void sim_node_deliver(struct sim *s, struct sim_node *n, const uint8_t *buf, uint32_t len,
		      uint8_t src_ep, uint8_t corrupt)
{
	struct node_addr from;
	const uint8_t *bytes = buf;

	assert(n->up);
	if (len < PX_WIRE_HDR_BYTES)
		sim_fail(s, "codec", "node %u: a %u-byte message from endpoint %u", n->id, len,
			 src_ep);
	n->msgs_in++;
	s->window_by_type[buf[PX_WIRE_OFF_TYPE] < PX_MSG_TYPE_MAX ? buf[PX_WIRE_OFF_TYPE] : 0]++;
	memset(&from, 0, sizeof(from));
	from.b[0] = src_ep;
	if (buf[PX_WIRE_OFF_TYPE] == PX_MSG_REQUEST) {
		/* A command the node queues points into these bytes until the next flush, and
		 * the network frees its message after delivery: keep a copy until then. */
		if (len > SIM_HELD_BYTES)
			sim_fail(s, "sim", "a %u-byte REQUEST (limit %u)", len, SIM_HELD_BYTES);
		if (n->n_held == SIM_HELD_MAX)
			flush(s, n);
		memcpy(n->held[n->n_held], buf, len);
		bytes = n->held[n->n_held++];
	} else if (buf[PX_WIRE_OFF_FROM] != src_ep) {
		sim_fail(s, "codec", "node %u: message type %u from %u arrived from endpoint %u",
			 n->id, buf[PX_WIRE_OFF_TYPE], buf[PX_WIRE_OFF_FROM], src_ep);
	}
	uint32_t mlen = s->o.auth && len >= PX_TRAILER_BYTES ? len - PX_TRAILER_BYTES : len;
	if (s->trace && buf[PX_WIRE_OFF_TYPE] != PX_MSG_REQUEST &&
	    px_decode(buf, mlen, SIM_CLUSTER_ID, s->o.n_nodes, &s->trace_msg) == PX_WIRE_OK)
		sim_trace_msg(s, "recv", n->id, &s->trace_msg);
	/* An impossible number must be refused and counted, whatever the replica's state
	 * (checked in obs_step). */
	n->corrupt = corrupt;
	/* Authenticated, the network's rewrite (it holds no key) never reaches the core:
	 * the tag check drops it (checked below). */
	n->must_refuse = !s->o.auth && corrupt != SIM_CX_NONE && corrupt < SIM_CX_REFUSED_END;
	n->step_seen = false;
	uint64_t decode_errs = 0;
	const struct node_counters *nc = node_counters(n->nd);
	for (int e = 1; e < PX_WIRE_E_MAX; e++)
		decode_errs += nc->decode_drops[e];
	n->last_before = px_last_slot(n->r);
	n->next_before = px_next_slot(n->r);
	uint64_t uuid_drops = nc->uuid_other + nc->fresh_refused;
	/* A message held back because a revoke failed (node_rm.c fence: no promise
	 * until the writer is fenced) does not reach the core either. */
	uint64_t fence_drops = node_rm_counters(n->nd)->revoke_failed;
	/* The rewrite's tag fails, unless the counter's window or the life drops it first
	 * (a rewritten duplicate): either way the trailer check drops it. */
	uint64_t adrops = 0;
	for (int e = 1; e < AUTH_E_MAX; e++)
		adrops += nc->auth_drops[e];
	node_recv(n->nd, bytes, len, &from);
	for (int e = 1; e < AUTH_E_MAX; e++)
		adrops -= nc->auth_drops[e];
	if (s->o.auth && corrupt != SIM_CX_NONE && adrops != (uint64_t)-1)
		sim_fail(s, "auth", "node %u: a message the network rewrote (class %u) was not "
			 "dropped by the trailer check", n->id, corrupt);
	uuid_drops = nc->uuid_other + nc->fresh_refused - uuid_drops;
	fence_drops = node_rm_counters(n->nd)->revoke_failed - fence_drops;
	for (int e = 1; e < PX_WIRE_E_MAX; e++)
		decode_errs -= nc->decode_drops[e];
	if (decode_errs != 0)
		sim_fail(s, "codec", "node %u could not decode a %u-byte message from endpoint %u",
			 n->id, len, src_ep);
	/* node/ may drop a message before the core by its cluster uuid (a straggler of a
	 * first start that a peer which restarted since cannot tell from a new one), and
	 * a refused start drops everything until it stops (at the end of this unit). */
	if (n->must_refuse && !n->step_seen && uuid_drops == 0 && fence_drops == 0 &&
	    node_refused(n->nd) == NULL)
		sim_fail(s, "corruption-accepted", "node %u: a rewritten message (class %u) never "
			 "reached the core's checks", n->id, corrupt);
	n->must_refuse = false;
	if (node_queued(n->nd) == 0)
		n->n_held = 0;
}

void sim_node_transfer(struct sim *s, struct sim_node *n, uint8_t target)
{
	assert(n->up);
	int rc = node_transfer(n->nd, target);
	sim_trace(s, "n%u TRANSFER to %u: %d", n->id, target, rc);
	if (rc != 0 && rc != -EAGAIN && rc != -EINVAL)
		sim_fail(s, "effects", "node %u: px_transfer_leadership = %d", n->id, rc);
}

void sim_node_tick(struct sim *s, struct sim_node *n)
{
	assert(n->up);
	n->ticks++;
	node_tick(n->nd);
	/* Adaptive batching: whatever arrived since the last tick goes in one proposal. */
	flush(s, n);
}
