/* SPDX-License-Identifier: Apache-2.0
 * The embedder loop of one simulated replica: what the real dataplane does around the
 * consensus core, with the network, disk and clock replaced by the simulator's.
 *
 *   - every px_out is handled at once, in this order: the persist request is staged
 *     (its slot values copied: they live in the replica's log and change later), the
 *     messages are encoded with the real codec and handed to the network, and the
 *     committed range is applied through the real applier and kv service, the leader
 *     replying to clients, each slot followed by px_applied(). Effects point into the
 *     replica's memory, valid until the next call into it: the order keeps every read
 *     before the call (px_applied) that may release what it reads.
 *   - client REQUESTs (commands and session registrations) queue at the leader and are
 *     proposed at its next tick or when a batch is full (adaptive batching: whatever
 *     arrived); a non-leader answers NOT_LEADER with its hint. A read (kv GET; unless
 *     --log-reads) of a session the applier holds takes the read-index path instead
 *     (px.h, px_read_begin): the leader holds it until its ticket is
 *     confirmed and the state machine has applied up to its read index, then answers
 *     it from the current state (px_apply_read); a role change fails every held read
 *     with NOT_LEADER.
 *   - the disk (durable mode) keeps what persist requests wrote, in request order,
 *     landing either when its completion fires or, at a crash, a random prefix of the
 *     writes still in flight (a write may reach the platter before its completion is
 *     seen). A restart gets back exactly what landed.
 */
#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_pvt.h"

/** kv store bounds: keys "k0".."k7", values "client.seq". */
#define SIM_KV_KEYS (2u * SIM_KEYS_MAX)
#define SIM_KV_KEY_BYTES 8u
#define SIM_KV_VALUE_BYTES 24u

static void handle_out(struct sim *s, struct sim_node *n, const char *step);

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
 * struct px_service apply() in front of pw_kv_apply. The applier passes each command's
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
		if (!pw_kv_is_read(n->kv_svc.ctx, cmd, len))
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

static void node_config(struct sim *s, struct sim_node *n, bool restart)
{
	struct px_config *cfg = &n->cfg;
	const char *why = NULL;

	px_config_default(cfg, s->o.n_replicas, n->id);
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
	cfg->restarted = restart && s->o.durability == PX_MEMORY;
	/* Never 0: a zero nonce could read as "none". */
	cfg->boot_nonce = sim_rng_next(&s->rng_node) | 1;
	cfg->bugs = s->o.planted ? s->o.bugs : 0;
	if (px_config_check(cfg, &why) != 0)
		sim_fail(s, "config", "node %u: px_config_check rejects the derived config: %s",
			 n->id, why != NULL ? why : "?");
}

void sim_node_setup(struct sim *s, struct sim_node *n, uint8_t id)
{
	uint32_t i, w = s->o.window_slots;
	size_t need;

	memset(n, 0, sizeof(*n));
	n->sim = s;
	n->id = id;
	node_config(s, n, false);

	need = px_replica_arena_bytes(&n->cfg);
	if (need == 0)
		sim_fail(s, "config", "node %u: px_replica_arena_bytes is 0", id);
	n->arena = xcalloc(1, need);
	n->arena_len = need;

	n->max_sessions = seed_max_sessions(s);
	n->app_len = px_applier_arena_bytes(n->max_sessions);
	n->app_arena = xcalloc(1, n->app_len);
	n->kv_len = pw_kv_arena_bytes(SIM_KV_KEYS, SIM_KV_KEY_BYTES, SIM_KV_VALUE_BYTES);
	if (n->kv_len == 0)
		sim_fail(s, "config", "pw_kv_arena_bytes rejects the simulator's bounds");
	n->kv_arena = xcalloc(1, n->kv_len);

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
	free(n->journal);
	free(n->journal_bytes);
	free(n->staging_values);
	free(n->staging);
	free(n->arena);
	free(n->app_arena);
	free(n->kv_arena);
	memset(n, 0, sizeof(*n));
}

/** Restores the durable state from the disk into a fresh replica: the promise, then
 *  every slot of the journal, as a real embedder replays its journal. */
static void restore_from_disk(struct sim *s, struct sim_node *n)
{
	const struct sim_journal_slot *d;
	uint64_t slot;
	int rc;

	rc = px_restore_promise(n->r, n->disk_promised);
	if (rc != 0)
		sim_fail(s, "restore", "node %u: px_restore_promise(%" PRIu64 ") = %d", n->id,
			 n->disk_promised, rc);
	/* The state machine is rebuilt from the journal's chosen prefix (every slot up to
	 * the recorded commit point), checked like any other application. */
	uint64_t applied = 0;
	for (slot = 1; slot <= n->disk_commit && slot <= n->journal_hi; slot++) {
		d = &n->journal[slot];
		if (d->len == 0)
			break;
		const uint8_t *value = n->journal_bytes + d->off;
		sim_check_chosen(s, n, slot, value, d->len, "replayed");
		n->cur_value = value;
		n->cur_len = d->len;
		n->cur_slot = slot;
		px_apply_slot(n->applier, slot, value, d->len, &s->aout);
		n->cur_value = NULL;
		for (uint32_t i = 0; i < s->aout.n; i++) {
			sim_session_learn(s, n, slot, i, &s->aout.replies[i]);
			sim_check_reply(s, n, &s->aout.replies[i]);
		}
		sim_check_applied(s, n, slot, px_applier_chain(n->applier),
				  n->kv_svc.hash(n->kv_svc.ctx));
		applied = slot;
	}
	if (applied > 0) {
		rc = px_restore_applied(n->r, applied);
		if (rc != 0)
			sim_fail(s, "restore", "node %u: px_restore_applied(%" PRIu64 ") = %d",
				 n->id, applied, rc);
		n->replayed_slots += applied;
	}
	for (slot = applied + 1; slot <= n->journal_hi; slot++) {
		d = &n->journal[slot];
		if (d->len == 0)
			continue;
		rc = px_restore_slot(n->r, slot, d->vballot, n->journal_bytes + d->off, d->len);
		/* -EINVAL: the replica cannot hold the slot (beyond [1, window] after a
		 * restart). Durable mode then forgets an accepted value; the agreement
		 * check is what tells whether that matters, so count it and go on. */
		if (rc == -EINVAL) {
			n->restore_rejected++;
			s->restore_rejected++;
			continue;
		}
		if (rc != 0)
			sim_fail(s, "restore",
				 "node %u: px_restore_slot(slot %" PRIu64 ", vballot 0x%" PRIx64
				 ") = %d",
				 n->id, slot, d->vballot, rc);
	}
	/* History below the applied point, newest first, while the window holds it: the
	 * restarted replica can then serve catch-up for it (as a leader must). */
	for (slot = applied; slot >= 1 && n->journal[slot].len != 0; slot--) {
		d = &n->journal[slot];
		if (px_restore_slot(n->r, slot, d->vballot, n->journal_bytes + d->off, d->len) != 0)
			break;
	}
	/* What the replica told others before the crash, it must still hold: every
	 * PROMISE and ACCEPTED it sent carried its promise, made durable first. */
	if (px_promised(n->r) < n->vouched_ballot)
		sim_fail(s, "durable-promise",
			 "node %u restarted with promise 0x%" PRIx64 " but had sent PROMISE or "
			 "ACCEPTED at 0x%" PRIx64 " before it crashed",
			 n->id, px_promised(n->r), n->vouched_ballot);
}

void sim_node_start(struct sim *s, struct sim_node *n, bool restart)
{
	struct px_service svc;

	node_config(s, n, restart);
	n->r = px_replica_init(&n->cfg, n->arena, n->arena_len);
	if (n->r == NULL)
		sim_fail(s, "init", "node %u: px_replica_init: %s", n->id, strerror(errno));
	/* The state machine starts empty in both modes and is rebuilt from the log. */
	n->kv = pw_kv_init(SIM_KV_KEYS, SIM_KV_KEY_BYTES, SIM_KV_VALUE_BYTES, n->kv_arena,
			   n->kv_len);
	if (n->kv == NULL)
		sim_fail(s, "init", "node %u: pw_kv_init: %s", n->id, strerror(errno));
	pw_kv_service(n->kv, &n->kv_svc);
	svc.apply = sim_kv_apply;
	svc.hash = sim_kv_hash;
	svc.ctx = n;
	svc.is_read = sim_kv_is_read;
	n->applier = px_applier_init(n->max_sessions, &svc, n->app_arena, n->app_len);
	if (n->applier == NULL)
		sim_fail(s, "init", "node %u: px_applier_init: %s", n->id, strerror(errno));
	memset(n->sm_last_seq, 0, sizeof(n->sm_last_seq));
	n->st_needed = false;
	n->commit_seen = 0;
	n->applied_seen = 0;
	if (restart && s->o.durability == PX_DURABLE)
		restore_from_disk(s, n);

	/* Commit and apply points start over with the replica and the state machine.
	 * The promise does too in memory mode (that is what the mode loses); in durable
	 * mode it came back from the disk and the check holds it to the old value. */
	n->commit_seen = 0;
	n->applied_seen = 0;
	n->promised_seen = s->o.durability == PX_DURABLE ? n->vouched_ballot : 0;
	if (s->o.durability == PX_MEMORY)
		n->vouched_ballot = 0;
	n->role = px_role(n->r);
	n->n_queue = 0;
	n->n_reads = 0;
	n->read_confirmed = 0;
	n->persist_head = 0;
	n->persist_n = 0;
	n->staging_head = 0;
	n->staging_n = 0;
	n->up = true;
	if (restart)
		n->restarts++;
	sim_trace(s, "n%u START restart=%d promised=%" PRIx64 " last=%" PRIu64 " %s st=%d "
		  "sessions=%u", n->id, restart, px_promised(n->r), px_last_slot(n->r),
		  sim_role_name(px_role(n->r)), px_needs_state_transfer(n->r), n->max_sessions);
	sim_check_node(s, n, restart ? "restart" : "init");
}

/* ---------------------------------------------------------------------------------- */
/* Disk                                                                                */

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

static void land(struct sim *s, struct sim_node *n, struct sim_persist *p)
{
	uint32_t i;

	if (p->landed)
		return;
	p->landed = true;
	n->disk_promised = p->ballot;
	if (p->commit > n->disk_commit)
		n->disk_commit = p->commit;
	for (i = 0; i < p->n; i++)
		journal_write(s, n, &n->staging[(p->first + i) % n->staging_cap]);
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

static void stage(struct sim *s, struct sim_node *n)
{
	const struct px_out *out = &s->out;
	struct sim_persist *p, *last;
	struct sim_disk_slot *st;
	const uint8_t *value;
	uint64_t slot, vballot;
	uint32_t span, idx, i;
	bool chosen;

	if (out->persist_seq == 0)
		return;
	if (out->persist_lo <= out->persist_hi &&
	    out->persist_hi - out->persist_lo >= s->o.window_slots)
		sim_fail(s, "persist-contract",
			 "node %u: persist range [%" PRIu64 ", %" PRIu64 "] exceeds the window",
			 n->id, out->persist_lo, out->persist_hi);
	if (n->persist_n == SIM_PERSIST_MAX)
		sim_fail(s, "sim-limit", "node %u: more than %u persist requests in flight",
			 n->id, SIM_PERSIST_MAX);
	span = out->persist_lo <= out->persist_hi ?
		       (uint32_t)(out->persist_hi - out->persist_lo + 1) :
		       0;

	/* Make room: pending writes land early, oldest first (a fast disk may finish a
	 * write long before its completion is reaped), releasing their copies. */
	for (i = 0; i < n->persist_n && n->staging_cap - n->staging_n < span; i++) {
		p = &n->persist[(n->persist_head + i) % SIM_PERSIST_MAX];
		land(s, n, p);
		release_staging(n, p);
	}
	assert(n->staging_cap - n->staging_n >= span);

	idx = (n->persist_head + n->persist_n) % SIM_PERSIST_MAX;
	p = &n->persist[idx];
	memset(p, 0, sizeof(*p));
	p->seq = out->persist_seq;
	p->ballot = out->persist_ballot;
	p->lo = out->persist_lo;
	p->hi = out->persist_hi;
	p->commit = out->persist_commit;
	p->first = (n->staging_head + n->staging_n) % n->staging_cap;
	p->n = 0;
	/* Completions come back in request order: a write never overtakes an earlier one. */
	p->due = s->now + sim_rng_range(&s->rng_disk, 0, s->o.persist_delay_max);
	if (n->persist_n > 0) {
		last = &n->persist[(n->persist_head + n->persist_n - 1) % SIM_PERSIST_MAX];
		if (p->due < last->due)
			p->due = last->due;
	}
	for (slot = out->persist_lo; span != 0 && slot <= out->persist_hi; slot++) {
		uint32_t len;

		/* The dirty range may span slots that hold nothing (holes): skip them. */
		if (!px_slot_peek(n->r, slot, &vballot, &chosen, &value, &len))
			continue;
		if (value == NULL || vballot == 0)
			continue;  /* nothing accepted there: nothing to write */
		if (len > s->o.slot_bytes)
			sim_fail(s, "persist-contract",
				 "node %u: slot %" PRIu64 " value %u bytes > slot_bytes %u", n->id,
				 slot, len, s->o.slot_bytes);
		st = &n->staging[(p->first + p->n) % n->staging_cap];
		st->slot = slot;
		st->vballot = vballot;
		st->len = len;
		memcpy(st->value, value, len);
		p->n++;
	}
	n->staging_n += p->n;
	n->persist_n++;
	sim_trace(s, "n%u persist seq=%" PRIu64 " b=%" PRIx64 " [%" PRIu64 ",%" PRIu64 "] due=%" PRIu64,
		  n->id, p->seq, p->ballot, p->lo, p->hi, p->due);
	/* Memory mode persists nothing; the core may still ask, so complete at once. */
	if (s->o.durability == PX_MEMORY)
		p->due = s->now;
}

void sim_node_disk_step(struct sim *s, struct sim_node *n)
{
	struct sim_persist *p;
	uint64_t seq;

	/* Bounded: each pass removes one request. */
	while (n->up && n->persist_n > 0) {
		p = &n->persist[n->persist_head];
		if (p->due > s->now)
			break;
		land(s, n, p);
		seq = p->seq;
		release_staging(n, p);
		n->persist_head = (n->persist_head + 1) % SIM_PERSIST_MAX;
		n->persist_n--;
		px_out_reset(&s->out);
		sim_trace(s, "n%u persisted seq=%" PRIu64, n->id, seq);
		px_persisted(n->r, seq, &s->out);
		handle_out(s, n, "persisted");
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
	sim_oracle_crash(s, n);
	n->persist_n = 0;
	n->staging_n = 0;
	n->n_queue = 0;
	n->n_reads = 0;   /* the clients time out and resend */
	n->up = false;
	n->r = NULL;
	if (s->o.durability == PX_MEMORY) {
		/* Memory mode: the disk holds nothing a restart may use. */
		n->disk_promised = 0;
		memset(n->journal, 0, (n->journal_hi + 1) * sizeof(*n->journal));
		n->journal_hi = 0;
		n->journal_used = 0;
	}
}

/* ---------------------------------------------------------------------------------- */
/* Effects                                                                             */

static void send_msgs(struct sim *s, struct sim_node *n)
{
	const struct px_out *out = &s->out;
	const struct px_msg *m;
	size_t len;
	uint32_t i;
	uint8_t d;

	for (i = 0; i < out->n_msgs; i++) {
		m = &out->msgs[i];
		if (m->from != n->id)
			sim_fail(s, "effects", "node %u sends a message (type %u) from %u", n->id,
				 m->type, m->from);
		if (m->to != PX_NODE_NONE && (m->to >= s->o.n_replicas || m->to == n->id))
			sim_fail(s, "effects", "node %u sends a message (type %u) to %u", n->id,
				 m->type, m->to);
		len = px_encode(m, s->wire, sizeof(s->wire));
		if (len == 0 || len != px_encoded_len(m))
			sim_fail(s, "codec",
				 "node %u: px_encode of type %u (%u entries) failed or disagrees "
				 "with px_encoded_len",
				 n->id, m->type, m->n_entries);
		n->msgs_out++;
		sim_trace_msg(s, "send", n->id, m);
		if ((m->type == PX_MSG_PROMISE || m->type == PX_MSG_ACCEPTED) &&
		    m->ballot > n->vouched_ballot)
			n->vouched_ballot = m->ballot;
		if (m->to != PX_NODE_NONE) {
			sim_net_send(s, n->id, m->to, s->wire, (uint32_t)len);
			continue;
		}
		for (d = 0; d < s->o.n_replicas; d++)
			if (d != n->id)
				sim_net_send(s, n->id, d, s->wire, (uint32_t)len);
	}
}

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

void sim_node_reply(struct sim *s, struct sim_node *n, uint8_t client_ep, uint64_t client_id,
		    uint64_t seq, uint8_t status, const uint8_t *data, uint32_t len)
{
	/* Not s->msg: a REQUEST being delivered may still be read after we reply. */
	struct px_msg *m = &s->reply_msg;
	uint8_t buf[PX_WIRE_HDR_BYTES + 64 + SIM_KV_VALUE_BYTES + 64];
	size_t wl;

	memset(m, 0, offsetof(struct px_msg, entries));
	m->type = PX_MSG_REPLY;
	m->from = n->id;
	m->to = PX_NODE_NONE;
	m->cluster_id = SIM_CLUSTER_ID;
	m->config_epoch = SIM_CONFIG_EPOCH;
	m->ballot = px_promised(n->r);
	m->n_inc = 0;         /* client messages may carry no crash vector */
	m->n_entries = 0;
	m->client_id = client_id;
	m->seq = seq;
	m->status = status;
	m->leader_hint = px_leader_hint(n->r);
	m->body_len = len;
	m->body = data;
	if (m->leader_hint != PX_NODE_NONE && m->leader_hint >= s->o.n_replicas)
		sim_fail(s, "effects", "node %u: leader hint %u out of range", n->id,
			 m->leader_hint);
	wl = px_encode(m, buf, sizeof(buf));
	if (wl == 0)
		sim_fail(s, "codec", "node %u: REPLY of %u bytes does not encode", n->id, len);
	sim_net_send(s, n->id, client_ep, buf, (uint32_t)wl);
}

/** Applies [apply_lo, apply_hi], checking every slot; stops for state transfer. */
static void apply_range(struct sim *s, struct sim_node *n, uint64_t lo, uint64_t hi)
{
	const struct px_reply *rp;
	const uint8_t *value;
	uint64_t slot, last;
	uint32_t len, i;
	int ci;

	for (slot = lo; slot <= hi; slot++) {
		if (n->st_needed)
			return;
		last = px_applier_last_slot(n->applier);
		if (slot <= last)
			sim_fail(s, "apply-order",
				 "node %u: asked to apply slot %" PRIu64 " but slot %" PRIu64
				 " is already applied",
				 n->id, slot, last);
		if (slot != last + 1) {
			/* The replica skipped slots this state machine never saw. It must
			 * say so (state_transfer_needed); treat it as that either way, and
			 * count it so the report shows it. */
			n->st_needed = true;
			n->st_events++;
			return;
		}
		value = px_slot_value(n->r, slot, &len);
		if (value == NULL)
			sim_fail(s, "apply-contract",
				 "node %u: px_slot_value(%" PRIu64 ") is NULL inside the apply "
				 "range [%" PRIu64 ", %" PRIu64 "] (commit %" PRIu64 ")",
				 n->id, slot, lo, hi, px_commit(n->r));
		sim_check_chosen(s, n, slot, value, len, "applied");
		sim_trace(s, "n%u apply %" PRIu64 " (%u cmds)", n->id, slot, px_batch_count(value));

		n->cur_value = value;
		n->cur_len = len;
		n->cur_slot = slot;
		px_apply_slot(n->applier, slot, value, len, &s->aout);
		n->cur_value = NULL;
		for (i = 0; i < s->aout.n; i++) {
			rp = &s->aout.replies[i];
			sim_session_learn(s, n, slot, i, rp);
			sim_check_reply(s, n, rp);
			ci = sim_client_of(s, rp->client_id, rp->seq);
			if (ci < 0)
				sim_fail(s, "validity", "node %u: reply to unknown client", n->id);
			/* Only the leader answers: followers apply silently. */
			if (px_role(n->r) == PX_LEADER)
				sim_node_reply(s, n, sim_ep_client(s, (uint32_t)ci),
					       rp->client_id, rp->seq, rp->status, rp->data,
					       rp->len);
		}
		sim_check_applied(s, n, slot, px_applier_chain(n->applier),
				  n->kv_svc.hash(n->kv_svc.ctx));
		px_applied(n->r, slot);
		n->applied_slots++;
		sim_check_node(s, n, "applied");
	}
}

static void drop_queue(struct sim *s, struct sim_node *n)
{
	struct sim_req *q;
	uint32_t i;
	int ci;

	for (i = 0; i < n->n_queue; i++) {
		q = &n->queue[i];
		ci = sim_client_of(s, q->client_id, q->seq);
		assert(ci >= 0);
		sim_node_reply(s, n, sim_ep_client(s, (uint32_t)ci), q->client_id, q->seq,
			       PX_NOT_LEADER, NULL, 0);
	}
	n->n_queue = 0;
}

/** Fails every held read (NOT_LEADER): their tickets will never be confirmed. */
static void fail_reads(struct sim *s, struct sim_node *n)
{
	uint32_t i;

	for (i = 0; i < n->n_reads; i++) {
		sim_trace(s, "n%u read ticket %" PRIu64 " failed (role change)", n->id,
			  n->reads[i].ticket);
		sim_node_reply(s, n, n->reads[i].ep, n->reads[i].client_id, n->reads[i].seq,
			       PX_NOT_LEADER, NULL, 0);
	}
	n->reads_failed += n->n_reads;
	n->n_reads = 0;
}

/** Serves the held reads whose ticket is confirmed and whose read index is applied, in
 *  ticket order (read indexes never decrease along it). */
static void serve_reads(struct sim *s, struct sim_node *n)
{
	static uint8_t reply[PX_REPLY_BYTES_MAX];
	struct sim_cmd_rec *rec;
	struct sim_read *rd;
	uint32_t i, done = 0, rlen = 0;
	uint8_t status = 0;
	uint64_t h;

	if (n->n_reads == 0 || n->st_needed)
		return;
	for (i = 0; i < n->n_reads; i++) {
		rd = &n->reads[i];
		if (rd->ticket > n->read_confirmed ||
		    rd->index > px_applier_last_slot(n->applier))
			break;
		/* The read oracle: every slot committed anywhere before the ticket was given
		 * may hold a write that completed before the read began. A confirmed read
		 * index covers them all (docs/consistency.md, "Reads"), so the state served
		 * from must too: checked here, when it happens, rather than left to the
		 * history's linearizability search. */
		if (px_applier_last_slot(n->applier) < rd->committed_before)
			sim_fail(s, "read-index",
				 "node %u served read ticket %" PRIu64 " from slot %" PRIu64
				 " (read index %" PRIu64 "), but slot %" PRIu64 " was committed "
				 "before the ticket was given", n->id, rd->ticket,
				 px_applier_last_slot(n->applier), rd->index, rd->committed_before);
		if (px_apply_read(n->applier, rd->body, rd->len, reply, sizeof(reply), &rlen,
				  &status) != 0)
			sim_fail(s, "read-contract", "node %u: px_apply_read refused a GET", n->id);
		if (status != PX_OK)
			sim_fail(s, "service", "node %u: a GET served by read index got status %u",
				 n->id, status);
		rec = sim_cmd_lookup(s, rd->client_id, rd->seq);
		if (rec == NULL)
			sim_fail(s, "validity", "node %u serves a read no client sent", n->id);
		h = px_hash_bytes(PX_HASH_SEED, &status, 1);
		h = px_hash_bytes(h, reply, rlen);
		if (rec->n_read_serves < SIM_READ_SERVES_MAX)
			rec->read_hash[rec->n_read_serves++] = h;
		else
			rec->read_serves_lost = true;
		sim_trace(s, "n%u read ticket %" PRIu64 " index %" PRIu64 " served at %" PRIu64,
			  n->id, rd->ticket, rd->index, px_applier_last_slot(n->applier));
		sim_node_reply(s, n, rd->ep, rd->client_id, rd->seq, status, reply, rlen);
		n->reads_served++;
		done++;
	}
	if (done > 0) {
		memmove(&n->reads[0], &n->reads[done], (n->n_reads - done) * sizeof(n->reads[0]));
		n->n_reads -= done;
	}
}

static void handle_out(struct sim *s, struct sim_node *n, const char *step)
{
	struct px_out *out = &s->out;
	uint64_t lo = out->apply_lo, hi = out->apply_hi;

	stage(s, n);
	send_msgs(s, n);
	/* A new leader re-proposed its log at its ballot; a replica out of recovery holds
	 * the values it merged as its own votes (it reports them in its promises, and its
	 * acks count those at its promise). */
	sim_observe(s, n, out->role_changed && (out->role == PX_LEADER ||
						n->role == PX_RECOVERING));
	s->obs_msg = NULL;
	s->obs_lo = 1;
	s->obs_hi = 0;
	if (out->role_changed) {
		sim_trace(s, "n%u role %s promised=%" PRIx64 " commit=%" PRIu64 " last=%" PRIu64,
			  n->id, sim_role_name(out->role), px_promised(n->r), px_commit(n->r), px_last_slot(n->r));
		if (out->role != px_role(n->r))
			sim_fail(s, "effects", "node %u: out.role %d but px_role %d", n->id,
				 out->role, px_role(n->r));
		if (n->role == PX_RECOVERING && out->role != PX_RECOVERING)
			sim_check_recovered(s, n);
		n->role = out->role;
	}
	if (px_role(n->r) != PX_LEADER && n->n_queue > 0)
		drop_queue(s, n);
	if (out->role_changed || px_role(n->r) != PX_LEADER) {
		fail_reads(s, n);
		n->read_confirmed = 0;
	}
	if (out->read_confirmed > n->read_confirmed) {
		if (px_role(n->r) != PX_LEADER)
			sim_fail(s, "read", "node %u: read ticket %" PRIu64 " confirmed by a %s",
				 n->id, out->read_confirmed, sim_role_name(px_role(n->r)));
		n->read_confirmed = out->read_confirmed;
	}
	if (out->state_transfer_needed && !n->st_needed) {
		n->st_needed = true;
		n->st_events++;
	}
	/* The checks see the step's result before the apply loop runs more steps. */
	sim_check_node(s, n, step);
	if (lo <= hi)
		apply_range(s, n, lo, hi);
	serve_reads(s, n);
}

/* ---------------------------------------------------------------------------------- */
/* Inputs                                                                              */

static void propose(struct sim *s, struct sim_node *n)
{
	uint32_t i, taken;

	if (n->n_queue == 0 || px_role(n->r) != PX_LEADER)
		return;
	for (i = 0; i < n->n_queue; i++) {
		s->cmd_refs[i].client_id = n->queue[i].client_id;
		s->cmd_refs[i].seq = n->queue[i].seq;
		s->cmd_refs[i].len = n->queue[i].len;
		s->cmd_refs[i].body = n->queue[i].body;
	}
	px_out_reset(&s->out);
	s->obs_lo = px_last_slot(n->r) + 1;
	taken = px_propose(n->r, s->cmd_refs, n->n_queue, &s->out);
	s->obs_hi = px_last_slot(n->r);
	if (taken > n->n_queue)
		sim_fail(s, "effects", "node %u: px_propose took %u of %u commands", n->id, taken,
			 n->n_queue);
	/* px_propose copied the bodies into the log: the queue entries are free. */
	memmove(&n->queue[0], &n->queue[taken], (n->n_queue - taken) * sizeof(n->queue[0]));
	n->n_queue -= taken;
	handle_out(s, n, "propose");
}

/** A read at the leader: a ticket from the core, then held until it can be served. */
static void on_read(struct sim *s, struct sim_node *n, const struct px_msg *m, uint8_t src_ep)
{
	struct sim_read *rd;
	uint64_t t, idx = 0;
	uint32_t i;

	for (i = 0; i < n->n_reads; i++)
		if (n->reads[i].client_id == m->client_id && n->reads[i].seq == m->seq)
			return;  /* a resend of a read still held */
	if (n->n_reads == SIM_READS_MAX || m->body_len > SIM_CMD_BYTES_MAX) {
		sim_node_reply(s, n, src_ep, m->client_id, m->seq, PX_BUSY, NULL, 0);
		return;
	}
	px_out_reset(&s->out);
	t = px_read_begin(n->r, &s->out, &idx);
	if (t == 0) {
		/* A leader not ready yet (its phase-1 slots are not committed): retry. */
		if (px_read_ready(n->r))
			sim_fail(s, "read", "node %u: px_read_begin refused while ready", n->id);
		n->reads_refused++;
		handle_out(s, n, "read");
		sim_node_reply(s, n, src_ep, m->client_id, m->seq, PX_BUSY, NULL, 0);
		return;
	}
	if (idx != px_commit(n->r))
		sim_fail(s, "read", "node %u: read index %" PRIu64 " but commit %" PRIu64, n->id,
			 idx, px_commit(n->r));
	if (n->n_reads > 0 && t <= n->reads[n->n_reads - 1].ticket)
		sim_fail(s, "read", "node %u: read ticket %" PRIu64 " after %" PRIu64, n->id, t,
			 n->reads[n->n_reads - 1].ticket);
	rd = &n->reads[n->n_reads++];
	rd->ticket = t;
	rd->index = idx;
	rd->committed_before = s->slot_hi;
	rd->client_id = m->client_id;
	rd->seq = m->seq;
	rd->ep = src_ep;
	rd->len = m->body_len;
	memcpy(rd->body, m->body, m->body_len);
	sim_trace(s, "n%u read ticket %" PRIu64 " index %" PRIu64 " (client %" PRIu64
		  " seq %" PRIu64 ")", n->id, t, idx, m->client_id, m->seq);
	handle_out(s, n, "read");
}

static void on_request(struct sim *s, struct sim_node *n, const struct px_msg *m,
		       uint8_t src_ep)
{
	struct sim_req *q;
	uint32_t i;
	bool reg = (m->flags & PX_MF_REGISTER) != 0;
	int ci = sim_client_of(s, m->client_id, m->seq);

	/* Requests come from our clients, well formed: a registration (seq 0, no body, a
	 * nonce) or a command of a session (seq >= 1); anything else is a simulator bug.
	 * (paxwired answers a seq 0 that is no registration BAD_COMMAND, never logged.) */
	if (ci < 0 || sim_ep_client(s, (uint32_t)ci) != src_ep ||
	    reg != (m->seq == 0) || (reg && m->body_len != 0))
		sim_fail(s, "sim", "request from endpoint %u names id %" PRIu64 " seq %" PRIu64
			 " (register %d)", src_ep, m->client_id, m->seq, reg);
	if (px_role(n->r) != PX_LEADER) {
		sim_node_reply(s, n, src_ep, m->client_id, m->seq, PX_NOT_LEADER, NULL, 0);
		return;
	}
	/* A read by read index for a session this applier holds (from its registration
	 * on). Any other read goes through the log, which answers an evicted session
	 * SESSION_EXPIRED, so that its client registers again. */
	uint64_t last_seq;
	if (!reg && !s->o.log_reads && px_apply_is_read(n->applier, m->body, m->body_len) &&
	    px_applier_session_peek(n->applier, m->client_id, &last_seq)) {
		on_read(s, n, m, src_ep);
		return;
	}
	for (i = 0; i < n->n_queue; i++)
		if (n->queue[i].client_id == m->client_id && n->queue[i].seq == m->seq)
			return;  /* a resend of a request still queued */
	if (n->n_queue == SIM_QUEUE_MAX || m->body_len > SIM_CMD_BYTES_MAX) {
		sim_node_reply(s, n, src_ep, m->client_id, m->seq, PX_BUSY, NULL, 0);
		return;
	}
	q = &n->queue[n->n_queue++];
	q->client_id = m->client_id;
	q->seq = m->seq;
	q->len = m->body_len;
	if (m->body_len != 0)   /* a registration has no body (and body is NULL) */
		memcpy(q->body, m->body, m->body_len);
	if (n->n_queue >= s->o.batch_cmds_max)
		propose(s, n);
}

void sim_node_deliver(struct sim *s, struct sim_node *n, const uint8_t *buf, uint32_t len,
		      uint8_t src_ep, uint8_t corrupt)
{
	struct px_msg *m = &s->msg;
	enum px_wire_err err;

	assert(n->up);
	err = px_decode(buf, len, SIM_CLUSTER_ID, s->o.n_replicas, m);
	if (err != PX_WIRE_OK)
		sim_fail(s, "codec", "node %u: px_decode of a %u-byte message from endpoint %u: %s",
			 n->id, len, src_ep, px_wire_err_name(err));
	n->msgs_in++;
	s->window_by_type[m->type]++;
	if (m->type != PX_MSG_REQUEST)
		sim_trace_msg(s, "recv", n->id, m);
	if (m->type == PX_MSG_REQUEST) {
		on_request(s, n, m, src_ep);
		return;
	}
	if (m->type == PX_MSG_REPLY || m->from != src_ep)
		sim_fail(s, "codec", "node %u: message type %u from %u arrived from endpoint %u",
			 n->id, m->type, m->from, src_ep);
	/* An impossible number must be refused and counted, whatever the replica's state. */
	bool must_refuse = corrupt != SIM_CX_NONE && corrupt < SIM_CX_REFUSED_END;
	px_out_reset(&s->out);
	px_step(n->r, m, &s->out);
	s->obs_msg = m;
	if (must_refuse && s->out.dropped == 0)
		sim_fail(s, "corruption-accepted",
			 "node %u took a %s from %u that the network rewrote (class %u) to a "
			 "value no correct replica sends, without refusing it",
			 n->id, sim_msg_name(m->type), m->from, corrupt);
	if (must_refuse)
		s->net.refused++;
	handle_out(s, n, "step");
}

void sim_node_transfer(struct sim *s, struct sim_node *n, uint8_t target)
{
	assert(n->up);
	px_out_reset(&s->out);
	int rc = px_transfer_leadership(n->r, target, &s->out);
	sim_trace(s, "n%u TRANSFER to %u: %d", n->id, target, rc);
	if (rc != 0 && rc != -EAGAIN && rc != -EINVAL)
		sim_fail(s, "effects", "node %u: px_transfer_leadership = %d", n->id, rc);
	handle_out(s, n, "transfer");
}

void sim_node_tick(struct sim *s, struct sim_node *n)
{
	assert(n->up);
	n->ticks++;
	px_out_reset(&s->out);
	px_tick(n->r, &s->out);
	handle_out(s, n, "tick");
	/* Adaptive batching: whatever arrived since the last tick goes in one proposal. */
	propose(s, n);
}
