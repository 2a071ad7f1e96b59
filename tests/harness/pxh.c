/* SPDX-License-Identifier: Apache-2.0
 * In-process cluster harness; see pxh.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "px_codec.h"
#include "pw_kv.h"
#include "pxh.h"

/* The journal of a durable-mode node: every accepted slot ever written (by slot, the
 * latest write wins), the promise, and the last recorded commit point. Grows as needed:
 * this is a test harness, not the data plane. */
struct pxh_rec {
	uint64_t vballot;
	uint32_t len;
	uint8_t *value;   /* NULL: never written */
};

struct pxh_disk {
	uint64_t promised;
	uint64_t commit;
	uint64_t hi;         /* highest slot written */
	uint64_t cap;
	struct pxh_rec *recs; /* indexed by slot */
};

struct pxh_node {
	struct px_config cfg;
	void *arena;
	size_t arena_len;
	struct px_replica *r;
	void *apply_arena;
	size_t apply_len;
	struct px_applier *a;
	void *kv_arena;
	size_t kv_len;
	struct pw_kv *kv;
	struct px_service svc;
	bool up;
	uint64_t persist_pending;  /* seq awaiting confirmation, 0 none */
	uint64_t boots;
	struct pxh_disk disk;
	/* Read index, as an embedder keeps it (px.h): the highest confirmed ticket since
	 * the last role change, and the role changes seen. */
	uint64_t read_confirmed;
	uint64_t role_changes;
};

/** Registrations seen (nonce -> session id), open addressing; bounded: a test that
 *  registers more clients than this is told so. */
#define PXH_SESSIONS_MAX 8192u
struct pxh_session {
	uint64_t nonce;   /* 0: empty */
	uint64_t id;
};

struct pxh_cluster {
	struct pxh_opts o;
	struct pxh_session *sessions;   /* PXH_SESSIONS_MAX */
	uint32_t n_sessions;
	struct pxh_node nodes[PXH_NODES_MAX];
	bool cut[PXH_NODES_MAX][PXH_NODES_MAX];
	/* Queue: ring of in-flight messages; each owns one buffer from the pool. */
	struct pxh_msg *q;
	uint32_t q_head, q_len;
	uint8_t **free_bufs;
	uint32_t n_free;
	uint8_t *pool;
	struct px_out out;
	struct px_apply_out aout;
	struct px_msg in;
	struct pxh_stats st;
};

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n, sz);
	if (p == NULL) {
		fprintf(stderr, "pxh: out of memory\n");
		abort();
	}
	return p;
}

void pxh_opts_default(struct pxh_opts *o, uint8_t n)
{
	memset(o, 0, sizeof(*o));
	o->n = n;
	o->durability = PX_MEMORY;
	o->window_slots = 256;
	o->pipeline_slots = 64;
	o->batch_cmds_max = 128;
	o->heartbeat_ticks = 2;
	o->election_ticks = 10;
	o->seed = 1;
	o->kv_keys = 4096;
	o->kv_key_bytes = 64;
	o->kv_value_bytes = 256;
	o->queue_msgs = 1024;
	o->auto_persist = true;
}

static uint32_t session_slot(const struct pxh_cluster *c, uint64_t nonce)
{
	uint32_t k = (uint32_t)((nonce * 0x9e3779b97f4a7c15ull) >> 51) & (PXH_SESSIONS_MAX - 1);

	/* Ends: learn_replies keeps the table below full. */
	while (c->sessions[k].nonce != 0 && c->sessions[k].nonce != nonce)
		k = (k + 1) & (PXH_SESSIONS_MAX - 1);
	return k;
}

uint64_t pxh_session(const struct pxh_cluster *c, uint64_t nonce)
{
	return nonce == 0 ? 0 : c->sessions[session_slot(c, nonce)].id;
}

/** Records the session ids of the registrations in c->aout (any replica's: they are
 *  the same everywhere; a replica replaying an old registration reports an older id,
 *  so the newest wins). */
static void learn_replies(struct pxh_cluster *c)
{
	for (uint32_t k = 0; k < c->aout.n; k++) {
		const struct px_reply *r = &c->aout.replies[k];
		uint64_t id;
		if (r->seq != 0 || r->status != PX_OK || r->len != PX_SESSION_ID_BYTES ||
		    r->client_id == 0)
			continue;
		memcpy(&id, r->data, sizeof(id));
		uint32_t j = session_slot(c, r->client_id);
		if (c->sessions[j].nonce == 0) {
			if (c->n_sessions + 1 >= PXH_SESSIONS_MAX) {
				fprintf(stderr, "pxh: more than %u registered clients\n",
					PXH_SESSIONS_MAX - 1);
				abort();
			}
			c->n_sessions++;
			c->sessions[j].nonce = r->client_id;
		}
		if (id > c->sessions[j].id)
			c->sessions[j].id = id;
	}
}

static void node_boot(struct pxh_cluster *c, uint8_t i, bool restarted)
{
	struct pxh_node *nd = &c->nodes[i];
	struct px_config *cfg = &nd->cfg;
	px_config_default(cfg, c->o.n, i);
	cfg->durability = c->o.durability;
	cfg->window_slots = c->o.window_slots;
	cfg->pipeline_slots = c->o.pipeline_slots;
	cfg->batch_cmds_max = c->o.batch_cmds_max;
	cfg->heartbeat_ticks = c->o.heartbeat_ticks;
	cfg->election_ticks = c->o.election_ticks;
	cfg->seed = c->o.seed * 1000003u + i;
	cfg->restarted = restarted && c->o.durability == PX_MEMORY;
	cfg->boot_nonce = (c->o.seed << 20) ^ ((uint64_t)i << 8) ^ (++nd->boots);
	if (nd->arena == NULL) {
		nd->arena_len = px_replica_arena_bytes(cfg);
		nd->arena = xcalloc(1, nd->arena_len);
		nd->kv_len = pw_kv_arena_bytes(c->o.kv_keys, c->o.kv_key_bytes, c->o.kv_value_bytes);
		nd->kv_arena = xcalloc(1, nd->kv_len);
		nd->apply_len = px_applier_arena_bytes(1024);
		nd->apply_arena = xcalloc(1, nd->apply_len);
	}
	nd->r = px_replica_init(cfg, nd->arena, nd->arena_len);
	if (nd->r == NULL) {
		fprintf(stderr, "pxh: px_replica_init: %s\n", strerror(errno));
		abort();
	}
	nd->kv = pw_kv_init(c->o.kv_keys, c->o.kv_key_bytes, c->o.kv_value_bytes, nd->kv_arena,
			    nd->kv_len);
	if (nd->kv == NULL)
		abort();
	pw_kv_service(nd->kv, &nd->svc);
	nd->a = px_applier_init(1024, &nd->svc, nd->apply_arena, nd->apply_len);
	if (nd->a == NULL)
		abort();
	if (c->o.durability == PX_DURABLE && restarted) {
		/* Rebuild the state machine from the journal's chosen prefix, then hand the
		 * replica its promise and the votes above it. */
		struct pxh_disk *d = &nd->disk;
		uint64_t applied = 0;
		for (uint64_t s = 1; s <= d->commit && s <= d->hi && d->recs[s].value; s++) {
			px_apply_slot(nd->a, s, d->recs[s].value, d->recs[s].len, &c->aout);
			learn_replies(c);
			applied = s;
		}
		px_restore_promise(nd->r, d->promised);
		if (applied > 0 && px_restore_applied(nd->r, applied) != 0)
			abort();
		for (uint64_t s = applied + 1; s <= d->hi; s++) {
			if (d->recs[s].value != NULL &&
			    px_restore_slot(nd->r, s, d->recs[s].vballot, d->recs[s].value,
					    d->recs[s].len) != 0)
				abort();
		}
		/* History below the applied point, newest first, while the window holds it:
		 * this replica can then serve catch-up for it. */
		for (uint64_t s = applied; s >= 1 && d->recs[s].value != NULL; s--) {
			if (px_restore_slot(nd->r, s, d->recs[s].vballot, d->recs[s].value,
					    d->recs[s].len) != 0)
				break;
		}
	}
	nd->persist_pending = 0;
	nd->read_confirmed = 0;  /* a restart loses every read in progress */
	nd->up = true;
}

struct pxh_cluster *pxh_new(const struct pxh_opts *o)
{
	struct pxh_cluster *c = xcalloc(1, sizeof(*c));
	c->o = *o;
	c->q = xcalloc(o->queue_msgs, sizeof(*c->q));
	c->free_bufs = xcalloc(o->queue_msgs, sizeof(uint8_t *));
	c->pool = xcalloc(o->queue_msgs, PX_MSG_BYTES_MAX);
	c->sessions = xcalloc(PXH_SESSIONS_MAX, sizeof(*c->sessions));
	for (uint32_t k = 0; k < o->queue_msgs; k++)
		c->free_bufs[c->n_free++] = c->pool + (size_t)k * PX_MSG_BYTES_MAX;
	for (uint8_t i = 0; i < o->n; i++)
		node_boot(c, i, false);
	return c;
}

void pxh_free(struct pxh_cluster *c)
{
	if (c == NULL)
		return;
	for (uint8_t i = 0; i < c->o.n; i++) {
		struct pxh_node *nd = &c->nodes[i];
		free(nd->arena);
		free(nd->kv_arena);
		free(nd->apply_arena);
		for (uint64_t k = 0; k < nd->disk.cap; k++)
			free(nd->disk.recs[k].value);
		free(nd->disk.recs);
	}
	free(c->q);
	free(c->free_bufs);
	free(c->pool);
	free(c->sessions);
	free(c);
}

struct px_replica *pxh_replica(struct pxh_cluster *c, uint8_t i) { return c->nodes[i].r; }
struct px_applier *pxh_applier(struct pxh_cluster *c, uint8_t i) { return c->nodes[i].a; }
uint64_t pxh_kv_hash(struct pxh_cluster *c, uint8_t i) { return pw_kv_hash(c->nodes[i].kv); }
struct pw_kv *pxh_kv(struct pxh_cluster *c, uint8_t i) { return c->nodes[i].kv; }
bool pxh_is_up(const struct pxh_cluster *c, uint8_t i) { return c->nodes[i].up; }
const struct pxh_stats *pxh_stats(const struct pxh_cluster *c) { return &c->st; }
uint32_t pxh_queued(const struct pxh_cluster *c) { return c->q_len; }

static struct pxh_msg *q_at(const struct pxh_cluster *c, uint32_t k)
{
	return &c->q[(c->q_head + k) % c->o.queue_msgs];
}

const struct pxh_msg *pxh_peek(const struct pxh_cluster *c, uint32_t k)
{
	return k < c->q_len ? q_at(c, k) : NULL;
}

static void enqueue(struct pxh_cluster *c, uint8_t from, uint8_t to, const uint8_t *bytes,
		    uint32_t len)
{
	if (c->cut[from][to] || c->n_free == 0 || c->q_len == c->o.queue_msgs) {
		c->st.dropped++;
		return;
	}
	struct pxh_msg *m = q_at(c, c->q_len++);
	m->from = from;
	m->to = to;
	m->len = len;
	m->bytes = c->free_bufs[--c->n_free];
	memcpy(m->bytes, bytes, len);
}

static void q_release(struct pxh_cluster *c, struct pxh_msg *m)
{
	c->free_bufs[c->n_free++] = m->bytes;
	m->bytes = NULL;
}

/** Removes entry k from the ring, keeping order; returns a copy. */
static struct pxh_msg q_take(struct pxh_cluster *c, uint32_t k)
{
	struct pxh_msg m = *q_at(c, k);
	if (k == 0) {
		c->q_head = (c->q_head + 1) % c->o.queue_msgs;
	} else {
		for (uint32_t j = k; j + 1 < c->q_len; j++)
			*q_at(c, j) = *q_at(c, j + 1);
	}
	c->q_len--;
	return m;
}

static void handle_out(struct pxh_cluster *c, uint8_t i, struct px_out *out);

static void apply_range(struct pxh_cluster *c, uint8_t i, uint64_t lo, uint64_t hi)
{
	struct pxh_node *nd = &c->nodes[i];
	for (uint64_t s = lo; s <= hi; s++) {
		uint32_t len = 0;
		const uint8_t *v = px_slot_value(nd->r, s, &len);
		if (v == NULL) {
			fprintf(stderr, "pxh: node %u: slot %llu to apply is not held\n", i,
				(unsigned long long)s);
			abort();
		}
		px_apply_slot(nd->a, s, v, len, &c->aout);
		learn_replies(c);
		c->st.applied_cmds += c->aout.n;
		if (c->o.on_reply != NULL && px_role(nd->r) == PX_LEADER) {
			for (uint32_t k = 0; k < c->aout.n; k++)
				c->o.on_reply(c->o.reply_ctx, i, &c->aout.replies[k]);
		}
		px_applied(nd->r, s);
	}
}

static void disk_write(struct pxh_cluster *c, uint8_t i, const struct px_out *out)
{
	struct pxh_node *nd = &c->nodes[i];
	struct pxh_disk *d = &nd->disk;
	d->promised = out->persist_ballot;
	if (out->persist_commit > d->commit)
		d->commit = out->persist_commit;
	for (uint64_t s = out->persist_lo; s <= out->persist_hi; s++) {
		uint64_t vb;
		bool chosen;
		const uint8_t *v;
		uint32_t len;
		if (!px_slot_peek(nd->r, s, &vb, &chosen, &v, &len) || vb == 0)
			continue;
		if (s >= d->cap) {
			uint64_t ncap = d->cap ? d->cap : 1024;
			while (ncap <= s)
				ncap *= 2;
			d->recs = realloc(d->recs, ncap * sizeof(*d->recs));
			if (d->recs == NULL)
				abort();
			memset(d->recs + d->cap, 0, (ncap - d->cap) * sizeof(*d->recs));
			d->cap = ncap;
		}
		struct pxh_rec *rec = &d->recs[s];
		if (rec->value == NULL)
			rec->value = xcalloc(1, nd->cfg.slot_bytes);
		memcpy(rec->value, v, len);
		rec->len = len;
		rec->vballot = vb;
		if (s > d->hi)
			d->hi = s;
	}
}

static uint8_t encbuf[PX_MSG_BYTES_MAX];

static void handle_out(struct pxh_cluster *c, uint8_t i, struct px_out *out)
{
	if (c->o.check_invariants) {
		const char *why = px_check_invariants(c->nodes[i].r);
		if (why != NULL) {
			fprintf(stderr, "pxh: node %u: invariant violated: %s\n", i, why);
			abort();
		}
	}
	/* Persist first: messages in this output may depend on it (the core holds back
	 * PROMISE/ACCEPTED itself, so order here is only for realism). */
	if (out->persist_seq != 0) {
		disk_write(c, i, out);
		c->nodes[i].persist_pending = out->persist_seq;
	}
	if (out->role_changed) {
		c->nodes[i].read_confirmed = 0;
		c->nodes[i].role_changes++;
	}
	if (out->read_confirmed > c->nodes[i].read_confirmed)
		c->nodes[i].read_confirmed = out->read_confirmed;
	for (uint32_t k = 0; k < out->n_msgs; k++) {
		const struct px_msg *m = &out->msgs[k];
		size_t len = px_encode(m, encbuf, sizeof(encbuf));
		if (len == 0) {
			fprintf(stderr, "pxh: encode failed (type %u)\n", m->type);
			abort();
		}
		c->st.bytes += len;
		if (m->to == PX_NODE_NONE) {
			for (uint8_t j = 0; j < c->o.n; j++)
				if (j != i)
					enqueue(c, i, j, encbuf, (uint32_t)len);
		} else {
			enqueue(c, i, m->to, encbuf, (uint32_t)len);
		}
	}
	if (out->apply_lo <= out->apply_hi)
		apply_range(c, i, out->apply_lo, out->apply_hi);
	if (c->o.durability == PX_DURABLE && c->o.auto_persist &&
	    c->nodes[i].persist_pending != 0) {
		uint64_t seq = c->nodes[i].persist_pending;
		c->nodes[i].persist_pending = 0;
		px_out_reset(out);
		px_persisted(c->nodes[i].r, seq, out);
		handle_out(c, i, out);
	}
}

void pxh_persist(struct pxh_cluster *c, uint8_t i)
{
	struct pxh_node *nd = &c->nodes[i];
	if (!nd->up || nd->persist_pending == 0)
		return;
	uint64_t seq = nd->persist_pending;
	nd->persist_pending = 0;
	px_out_reset(&c->out);
	px_persisted(nd->r, seq, &c->out);
	handle_out(c, i, &c->out);
}

void pxh_tick(struct pxh_cluster *c, uint8_t i)
{
	if (i == PX_NODE_NONE) {
		for (uint8_t j = 0; j < c->o.n; j++)
			pxh_tick(c, j);
		return;
	}
	if (!c->nodes[i].up)
		return;
	px_out_reset(&c->out);
	px_tick(c->nodes[i].r, &c->out);
	handle_out(c, i, &c->out);
}

static void deliver(struct pxh_cluster *c, struct pxh_msg *m)
{
	struct pxh_node *nd = &c->nodes[m->to];
	if (!nd->up || c->cut[m->from][m->to]) {
		c->st.dropped++;
		return;
	}
	enum px_wire_err e = px_decode(m->bytes, m->len, nd->cfg.cluster_id, c->o.n, &c->in);
	if (e != PX_WIRE_OK) {
		c->st.decode_errors++;
		fprintf(stderr, "pxh: decode failed: %s\n", px_wire_err_name(e));
		abort();
	}
	if (c->o.trace != NULL)
		c->o.trace(c->o.trace_ctx, &c->in, m->to);
	c->st.delivered++;
	px_out_reset(&c->out);
	px_step(nd->r, &c->in, &c->out);
	handle_out(c, m->to, &c->out);
}

bool pxh_deliver_one(struct pxh_cluster *c)
{
	if (c->q_len == 0)
		return false;
	struct pxh_msg m = q_take(c, 0);
	deliver(c, &m);
	q_release(c, &m);
	return true;
}

uint32_t pxh_deliver_all(struct pxh_cluster *c, uint32_t max)
{
	uint32_t n = 0;
	while (n < max && pxh_deliver_one(c))
		n++;
	return n;
}

void pxh_deliver_at(struct pxh_cluster *c, uint32_t k)
{
	if (k >= c->q_len)
		return;
	struct pxh_msg m = q_take(c, k);
	deliver(c, &m);
	q_release(c, &m);
}

void pxh_remove(struct pxh_cluster *c, uint32_t k)
{
	if (k >= c->q_len)
		return;
	struct pxh_msg m = q_take(c, k);
	q_release(c, &m);
	c->st.dropped++;
}

void pxh_duplicate(struct pxh_cluster *c, uint32_t k)
{
	if (k >= c->q_len)
		return;
	struct pxh_msg *m = q_at(c, k);
	enqueue(c, m->from, m->to, m->bytes, m->len);
}

bool pxh_inject(struct pxh_cluster *c, uint8_t to, const struct px_msg *m)
{
	size_t len = px_encode(m, encbuf, sizeof(encbuf));
	uint32_t before = c->q_len;
	if (len == 0 || m->from >= c->o.n || to >= c->o.n)
		return false;
	enqueue(c, m->from, to, encbuf, (uint32_t)len);
	return c->q_len == before + 1;
}

bool pxh_decode_at(struct pxh_cluster *c, uint32_t k, struct px_msg *m)
{
	if (k >= c->q_len)
		return false;
	const struct pxh_msg *q = q_at(c, k);
	return px_decode(q->bytes, q->len, c->nodes[q->to].cfg.cluster_id, c->o.n, m) ==
	       PX_WIRE_OK;
}

uint32_t pxh_drop(struct pxh_cluster *c, uint8_t from, uint8_t to)
{
	uint32_t n = 0;
	for (uint32_t k = 0; k < c->q_len;) {
		struct pxh_msg *m = q_at(c, k);
		if ((from == PX_NODE_NONE || m->from == from) &&
		    (to == PX_NODE_NONE || m->to == to)) {
			pxh_remove(c, k);
			n++;
		} else {
			k++;
		}
	}
	return n;
}

void pxh_cut(struct pxh_cluster *c, uint8_t from, uint8_t to, bool cut)
{
	c->cut[from][to] = cut;
}

void pxh_isolate(struct pxh_cluster *c, uint8_t i, bool cut)
{
	for (uint8_t j = 0; j < c->o.n; j++) {
		if (j == i)
			continue;
		c->cut[i][j] = cut;
		c->cut[j][i] = cut;
	}
}

uint32_t pxh_propose(struct pxh_cluster *c, uint8_t i, const struct px_cmd_ref *cmds,
		     uint32_t n)
{
	if (!c->nodes[i].up)
		return 0;
	px_out_reset(&c->out);
	uint32_t k = px_propose(c->nodes[i].r, cmds, n, &c->out);
	handle_out(c, i, &c->out);
	return k;
}

void pxh_crash(struct pxh_cluster *c, uint8_t i)
{
	struct pxh_node *nd = &c->nodes[i];
	nd->up = false;
	nd->persist_pending = 0;
	/* Memory mode keeps no disk (nothing was ever written to it). */
}

void pxh_restart(struct pxh_cluster *c, uint8_t i)
{
	struct pxh_node *nd = &c->nodes[i];
	if (nd->up)
		pxh_crash(c, i);
	memset(nd->arena, 0, nd->arena_len);
	node_boot(c, i, true);
}

uint8_t pxh_leader(const struct pxh_cluster *c)
{
	for (uint8_t i = 0; i < c->o.n; i++)
		if (c->nodes[i].up && px_role(c->nodes[i].r) == PX_LEADER)
			return i;
	return PX_NODE_NONE;
}

uint8_t pxh_elect(struct pxh_cluster *c, uint32_t max_ticks)
{
	for (uint32_t t = 0; t < max_ticks; t++) {
		pxh_deliver_all(c, 100000);
		uint8_t l = pxh_leader(c);
		if (l != PX_NODE_NONE)
			return l;
		pxh_tick(c, PX_NODE_NONE);
	}
	pxh_deliver_all(c, 100000);
	return pxh_leader(c);
}

void pxh_run(struct pxh_cluster *c, uint32_t ticks)
{
	for (uint32_t t = 0; t < ticks; t++) {
		pxh_tick(c, PX_NODE_NONE);
		pxh_deliver_all(c, 100000);
	}
}

uint64_t pxh_read_begin(struct pxh_cluster *c, uint8_t i, uint64_t *read_index)
{
	if (!c->nodes[i].up)
		return 0;
	px_out_reset(&c->out);
	uint64_t t = px_read_begin(c->nodes[i].r, &c->out, read_index);
	handle_out(c, i, &c->out);
	return t;
}

uint64_t pxh_read_confirmed(const struct pxh_cluster *c, uint8_t i)
{
	return c->nodes[i].read_confirmed;
}

uint64_t pxh_role_changes(const struct pxh_cluster *c, uint8_t i)
{
	return c->nodes[i].role_changes;
}

uint32_t pxh_register(struct pxh_cluster *c, uint8_t i, const uint64_t *nonces, uint32_t n,
		      uint64_t *ids)
{
	struct px_cmd_ref refs[PX_BATCH_CMDS_MAX];
	uint32_t sent = 0, done = 0;

	for (uint32_t k = 0; k < n; k++) {
		if (nonces[k] == 0 || pxh_session(c, nonces[k]) != 0) {
			fprintf(stderr, "pxh_register: nonce %llu is 0 or registered already\n",
				(unsigned long long)nonces[k]);
			abort();
		}
		ids[k] = 0;
	}
	/* Bounded: 200 rounds, each proposing what the pipeline takes and then one tick. */
	for (uint32_t round = 0; round < 200 && done < n; round++) {
		while (sent < n) {
			uint32_t m = n - sent < PX_BATCH_CMDS_MAX ? n - sent : PX_BATCH_CMDS_MAX;
			for (uint32_t k = 0; k < m; k++)
				refs[k] = (struct px_cmd_ref){ .client_id = nonces[sent + k] };
			uint32_t took = pxh_propose(c, i, refs, m);
			sent += took;
			if (took < m)
				break;
		}
		pxh_deliver_all(c, 100000);
		if (!c->o.auto_persist) {
			for (uint8_t j = 0; j < c->o.n; j++)
				pxh_persist(c, j);
			pxh_deliver_all(c, 100000);
		}
		done = 0;
		for (uint32_t k = 0; k < n; k++) {
			ids[k] = pxh_session(c, nonces[k]);
			done += ids[k] != 0;
		}
		if (done < n)
			pxh_run(c, 1);
	}
	return done;
}
