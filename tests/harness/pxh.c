/* SPDX-License-Identifier: Apache-2.0
 * In-process cluster harness; see pxh.h. Each replica is a node (node/node.h), the
 * embedder paxwired and pw-sim run too: this file is only its world (message queue,
 * journal, clock-free ticks) and what the tests look at.
 */
#include <errno.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "px_codec.h"
#include "rm.h"
#include "svc_kv.h"
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
	uint32_t inc[PX_REPLICAS_MAX];  /* the crash vector kept (n_inc entries) */
	uint32_t n_inc;
	uint64_t commit;
	uint64_t hi;         /* highest slot written */
	uint64_t cap;
	struct pxh_rec *recs; /* indexed by slot */
};

struct pxh_cluster;

struct pxh_node {
	struct pxh_cluster *c;
	uint8_t id;
	struct node_conf conf;
	void *arena;
	size_t arena_len;
	struct node *nd;
	void *kv_arena;
	size_t kv_len;
	struct svc_kv *kv;
	struct px_service svc;
	uint8_t *snap_buf;         /* opts.snapshots: the node's snapshot buffer */
	size_t snap_bytes;
	bool up;
	uint64_t persist_pending;  /* seq awaiting confirmation, 0 none */
	uint64_t boots;
	struct pxh_disk disk;
	bool repair;        /* this life repairs a damaged journal (pxh_repair) */
	uint64_t role_changes;     /* since creation (a node's own count restarts) */
	uint8_t tx[PX_DGRAM_BYTES_MAX];   /* one datagram being encoded */
	struct rm_ctx *rm;         /* opts.rm: this life's context, NULL while down */
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
	struct auth_keys keys;          /* o.auth: the cluster key */
	uint64_t lives;                 /* o.auth: the last life handed to a boot */
	struct pxh_session *sessions;   /* PXH_SESSIONS_MAX */
	uint32_t n_sessions;
	struct pxh_node nodes[PXH_NODES_MAX];
	bool cut[PXH_NODES_MAX][PXH_NODES_MAX];
	struct node_addr addr[PXH_NODES_MAX];   /* a node as a sender: b[0] is its id */
	/* Queue: ring of in-flight messages; each owns one buffer from the pool. */
	struct pxh_msg *q;
	uint32_t q_head, q_len;
	uint8_t **free_bufs;
	uint32_t n_free;
	uint8_t *pool;
	struct pxh_stats st;
	char rm_cluster[32];            /* opts.rm: names this cluster's shm objects */
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
	o->batch_cmds_max = PX_DEFAULT_BATCH_CMDS;
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
static void learn_replies(struct pxh_cluster *c, const struct px_apply_out *aout)
{
	for (uint32_t k = 0; k < aout->n; k++) {
		const struct px_reply *r = &aout->replies[k];
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

/* ---- The node's world: ops and observers ---- */

static void enqueue(struct pxh_cluster *c, uint8_t from, uint8_t to, const uint8_t *bytes,
		    uint32_t len);
static void disk_grow(struct pxh_disk *d, uint64_t s);

/** Where a node writes its next datagram: the pool buffer the next enqueue takes, so
 *  that enqueue copies nothing (the node calls tx_commit right after tx_buf, with no
 *  enqueue in between); nd->tx when the pool is empty (the datagram is dropped). */
static uint8_t *tx_area(const struct pxh_node *nd)
{
	const struct pxh_cluster *c = nd->c;
	return c->n_free > 0 ? c->free_bufs[c->n_free - 1] : (uint8_t *)nd->tx;
}

static uint8_t *op_tx_buf(void *ctx, const struct node_dst *dst, uint32_t *cap)
{
	struct pxh_node *nd = ctx;
	(void)dst;
	*cap = PX_DGRAM_BYTES_MAX;
	return tx_area(nd);
}

static void op_tx_commit(void *ctx, const struct node_dst *dst, uint32_t len)
{
	struct pxh_node *nd = ctx;
	nd->c->st.bytes += len;
	/* The harness has no client endpoints: tests propose directly (pxh_propose). */
	if (dst->peer == NODE_TO_CLIENT)
		return;
	enqueue(nd->c, nd->id, dst->peer, tx_area(nd), len);
}

static void op_journal_promise(void *ctx, uint64_t ballot)
{
	struct pxh_node *nd = ctx;
	nd->disk.promised = ballot;
}

static void op_journal_incarnation(void *ctx, const uint32_t *inc, uint32_t n)
{
	struct pxh_node *nd = ctx;
	memcpy(nd->disk.inc, inc, sizeof(uint32_t) * n);
	nd->disk.n_inc = n;
}

static void op_journal_slot(void *ctx, uint64_t s, uint64_t vballot, const uint8_t *v,
			    uint32_t len)
{
	struct pxh_node *nd = ctx;
	struct pxh_disk *d = &nd->disk;
	if (vballot == 0)
		return;
	disk_grow(d, s);
	struct pxh_rec *rec = &d->recs[s];
	if (rec->value == NULL)
		rec->value = xcalloc(1, nd->conf.px.slot_bytes);
	memcpy(rec->value, v, len);
	rec->len = len;
	rec->vballot = vballot;
	if (s > d->hi)
		d->hi = s;
}

static void op_journal_sync(void *ctx, uint64_t seq, uint64_t commit)
{
	struct pxh_node *nd = ctx;
	/* Written already (op_journal_*): durable as soon as the test confirms it
	 * (pxh_persist), or at once with auto_persist (after_call). */
	if (commit > nd->disk.commit)
		nd->disk.commit = commit;
	nd->persist_pending = seq;
}

static void obs_step(void *ctx, enum node_call call, const struct px_msg *in,
		     const struct px_out *out)
{
	struct pxh_node *nd = ctx;
	struct pxh_cluster *c = nd->c;
	if (c->o.check_invariants) {
		const char *why = px_check_invariants(node_replica(nd->nd));
		if (why != NULL) {
			fprintf(stderr, "pxh: node %u: invariant violated: %s\n", nd->id, why);
			abort();
		}
	}
	if (out->role_changed)
		nd->role_changes++;
	if (call == NODE_CALL_STEP && in != NULL && c->o.trace != NULL)
		c->o.trace(c->o.trace_ctx, in, nd->id);
}

static void obs_apply_end(void *ctx, uint64_t slot, const struct px_apply_out *aout)
{
	struct pxh_node *nd = ctx;
	struct pxh_cluster *c = nd->c;
	(void)slot;
	learn_replies(c, aout);
	c->st.applied_cmds += aout->n;
	if (c->o.on_reply != NULL && px_role(node_replica(nd->nd)) == PX_LEADER) {
		for (uint32_t k = 0; k < aout->n; k++)
			c->o.on_reply(c->o.reply_ctx, nd->id, &aout->replies[k]);
	}
}

static const struct node_ops pxh_ops = {
	.tx_buf = op_tx_buf,
	.tx_commit = op_tx_commit,
	.journal_promise = op_journal_promise,
	.journal_slot = op_journal_slot,
	.journal_sync = op_journal_sync,
	.journal_incarnation = op_journal_incarnation,
};

static bool journal_slot_read(void *jctx, uint64_t s, uint64_t *vballot, const uint8_t **v,
			      uint32_t *len)
{
	const struct pxh_disk *d = jctx;
	if (s >= d->cap || d->recs[s].value == NULL)
		return false;
	*vballot = d->recs[s].vballot;
	*v = d->recs[s].value;
	*len = d->recs[s].len;
	return true;
}

/** After every call into a node: with auto_persist, each sync completes at once. */
static void after_call(struct pxh_cluster *c, uint8_t i)
{
	struct pxh_node *nd = &c->nodes[i];
	/* Bounded: each confirmation can only ask for one more sync of what changed. */
	while (c->o.durability == PX_DURABLE && c->o.auto_persist && nd->up &&
	       nd->persist_pending != 0) {
		uint64_t seq = nd->persist_pending;
		nd->persist_pending = 0;
		node_persisted(nd->nd, seq);
	}
}

static void node_boot_as(struct pxh_cluster *c, uint8_t i, bool restarted, bool fresh);

static void node_boot(struct pxh_cluster *c, uint8_t i, bool restarted)
{
	node_boot_as(c, i, restarted, !restarted);
}

static void node_boot_as(struct pxh_cluster *c, uint8_t i, bool restarted, bool fresh)
{
	struct pxh_node *nd = &c->nodes[i];
	struct node_conf *conf = &nd->conf;
	struct px_config *cfg = &conf->px;
	const char *why = NULL;
	px_config_default(cfg, c->o.n, i);
	cfg->durability = c->o.durability;
	cfg->window_slots = c->o.window_slots;
	cfg->pipeline_slots = c->o.pipeline_slots;
	cfg->batch_cmds_max = c->o.batch_cmds_max;
	cfg->heartbeat_ticks = c->o.heartbeat_ticks;
	cfg->election_ticks = c->o.election_ticks;
	cfg->seed = c->o.seed * 1000003u + i;
	cfg->restarted = restarted && (c->o.durability == PX_MEMORY || nd->repair);
	cfg->boot_nonce = (c->o.seed << 20) ^ ((uint64_t)i << 8) ^ (++nd->boots);
	conf->sessions = 1024;
	conf->reads_max = 0;      /* the tests serve reads themselves (pxh_read_begin) */
	conf->queue_max = NODE_QUEUE_MAX;
	conf->fresh = c->o.uuid && fresh;
	conf->bind.lo = c->o.uuid ? ((c->o.seed << 16) ^ ((uint64_t)i << 8) ^ nd->boots) | 1u : 0;
	conf->bind.hi = c->o.uuid ? 0x7078687575696421ull : 0;   /* "pxhuuid!" */
	if (c->o.auth) {
		if (c->keys.n == 0) {
			c->keys.kind = AUTH_KIND_CLUSTER;
			c->keys.n = 1;
			c->keys.gen[0] = 1;
			for (unsigned b = 0; b < AUTH_KEY_BYTES; b++)
				c->keys.key[0][b] = (uint8_t)(c->o.seed * 131u + b);
		}
		conf->keys = &c->keys;
		conf->auth_life = ++c->lives;   /* every boot above every earlier one */
	}
	nd->c = c;
	nd->id = i;
	if (c->o.snapshots && nd->snap_buf == NULL) {
		nd->kv_len = svc_kv_arena_bytes(c->o.kv_keys, c->o.kv_key_bytes, c->o.kv_value_bytes);
		nd->kv_arena = xcalloc(1, nd->kv_len);
		struct svc_kv *kv = svc_kv_init(c->o.kv_keys, c->o.kv_key_bytes, c->o.kv_value_bytes,
						nd->kv_arena, nd->kv_len);
		if (kv == NULL)
			abort();
		nd->snap_bytes = px_snapshot_bytes_max(conf->sessions, svc_kv_snapshot_max(kv));
		nd->snap_buf = xcalloc(1, nd->snap_bytes);   /* lazily mapped */
	}
	if (c->o.rm) {
		if (nd->rm == NULL) {
			char err[256];
			struct rm_conf rc = {
				.backend = RM_BACKEND_SHM, .self = i, .sq_depth = 2u * NODE_RM_INFLIGHT,
				.cq_depth = 4u * NODE_RM_INFLIGHT, .max_inline = RM_INLINE_MAX,
				.revoke_wait_us = 100000, .cluster = c->rm_cluster,
			};
			nd->rm = rm_open(&rc, err, sizeof(err));
			if (nd->rm == NULL) {
				fprintf(stderr, "pxh: node %u: rm_open: %s\n", i, err);
				abort();
			}
		}
		conf->rm = nd->rm;
		conf->rm_ring = c->o.rm_ring;
	}
	conf->snapshot_buf = nd->snap_buf;
	conf->snapshot_bytes = nd->snap_bytes;
	if (nd->arena == NULL) {
		nd->arena_len = node_arena_bytes(conf);
		if (nd->arena_len == 0) {
			fprintf(stderr, "pxh: the node refuses the configuration\n");
			abort();
		}
		nd->arena = xcalloc(1, nd->arena_len);
		if (nd->kv_arena == NULL) {
			nd->kv_len = svc_kv_arena_bytes(c->o.kv_keys, c->o.kv_key_bytes,
							c->o.kv_value_bytes);
			nd->kv_arena = xcalloc(1, nd->kv_len);
		}
	}
	nd->kv = svc_kv_init(c->o.kv_keys, c->o.kv_key_bytes, c->o.kv_value_bytes, nd->kv_arena,
			    nd->kv_len);
	if (nd->kv == NULL)
		abort();
	svc_kv_service(nd->kv, &nd->svc);
	struct node_observer obs = {
		.step = obs_step, .apply_end = obs_apply_end, .ctx = nd,
	};
	nd->nd = node_init(conf, &nd->svc, &pxh_ops, nd, &obs, nd->arena, nd->arena_len, &why);
	if (nd->nd == NULL) {
		fprintf(stderr, "pxh: node_init: %s%s%s\n", strerror(errno), why ? ": " : "",
			why ? why : "");
		abort();
	}
	if (c->o.durability == PX_DURABLE && restarted && !nd->repair) {
		/* Rebuild from the journal: the node replays the chosen prefix, hands the
		 * replica its promise and votes, and the history below. */
		struct node_journal j = {
			.promised = nd->disk.promised, .commit = nd->disk.commit,
			.hi = nd->disk.hi, .slot = journal_slot_read, .jctx = &nd->disk,
			.incarnation = nd->disk.inc, .n_inc = nd->disk.n_inc,
		};
		struct node_restored r;
		if (node_restore(nd->nd, &j, &r) != 0 || r.rejected != 0) {
			fprintf(stderr, "pxh: node %u: restore failed (%llu slots rejected)\n", i,
				(unsigned long long)r.rejected);
			abort();
		}
	}
	nd->persist_pending = 0;
	nd->up = true;
}

struct pxh_cluster *pxh_new(const struct pxh_opts *o)
{
	struct pxh_cluster *c = xcalloc(1, sizeof(*c));
	c->o = *o;
	c->q = xcalloc(o->queue_msgs, sizeof(*c->q));
	c->free_bufs = xcalloc(o->queue_msgs, sizeof(uint8_t *));
	c->pool = xcalloc(o->queue_msgs, PX_DGRAM_BYTES_MAX);
	c->sessions = xcalloc(PXH_SESSIONS_MAX, sizeof(*c->sessions));
	for (uint32_t k = 0; k < o->queue_msgs; k++)
		c->free_bufs[c->n_free++] = c->pool + (size_t)k * PX_DGRAM_BYTES_MAX;
	for (uint8_t i = 0; i < PXH_NODES_MAX; i++)
		c->addr[i].b[0] = i;
	if (o->rm) {
		static unsigned made;
		snprintf(c->rm_cluster, sizeof(c->rm_cluster), "pxh-%ld-%u", (long)getpid(), made++);
	}
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
		rm_close(nd->rm);
		if (c->o.rm)
			(void)rm_shm_unlink_node(c->rm_cluster, i);
		free(nd->arena);
		free(nd->kv_arena);
		free(nd->snap_buf);
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

/* Tests may call the core on a node's replica directly (unit tests of the core): that
 * bypasses the node's handling of the effects, which such a test accepts. */
struct node *pxh_node(struct pxh_cluster *c, uint8_t i)
{
	return c->nodes[i].nd;
}

struct px_replica *pxh_replica(struct pxh_cluster *c, uint8_t i)
{
	return (struct px_replica *)node_replica(c->nodes[i].nd);
}
struct px_applier *pxh_applier(struct pxh_cluster *c, uint8_t i)
{
	return (struct px_applier *)node_applier(c->nodes[i].nd);
}
uint64_t pxh_kv_hash(struct pxh_cluster *c, uint8_t i) { return svc_kv_hash(c->nodes[i].kv); }
struct svc_kv *pxh_kv(struct pxh_cluster *c, uint8_t i) { return c->nodes[i].kv; }
bool pxh_is_up(const struct pxh_cluster *c, uint8_t i) { return c->nodes[i].up; }
const struct pxh_stats *pxh_stats(const struct pxh_cluster *c) { return &c->st; }
uint32_t pxh_queued(const struct pxh_cluster *c) { return c->q_len; }

static struct pxh_msg *q_at(const struct pxh_cluster *c, uint32_t k)
{
	/* q_head and k are below queue_msgs: one wrap at most, and no division (a divide
	 * costs tens of cycles, three times per message). */
	uint32_t i = c->q_head + k;
	return &c->q[i < c->o.queue_msgs ? i : i - c->o.queue_msgs];
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
	if (m->bytes != bytes)   /* else written in place (op_tx_buf) */
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
		c->q_head = c->q_head + 1 < c->o.queue_msgs ? c->q_head + 1 : 0;
	} else {
		for (uint32_t j = k; j + 1 < c->q_len; j++)
			*q_at(c, j) = *q_at(c, j + 1);
	}
	c->q_len--;
	return m;
}

static void disk_grow(struct pxh_disk *d, uint64_t s)
{
	if (s < d->cap)
		return;
	uint64_t ncap = d->cap ? d->cap : 1024;
	while (ncap <= s)
		ncap *= 2;
	d->recs = realloc(d->recs, ncap * sizeof(*d->recs));
	if (d->recs == NULL)
		abort();
	memset(d->recs + d->cap, 0, (ncap - d->cap) * sizeof(*d->recs));
	d->cap = ncap;
}

static uint8_t encbuf[PX_MSG_BYTES_MAX];

void pxh_persist(struct pxh_cluster *c, uint8_t i)
{
	struct pxh_node *nd = &c->nodes[i];
	if (!nd->up || nd->persist_pending == 0)
		return;
	uint64_t seq = nd->persist_pending;
	nd->persist_pending = 0;
	node_persisted(nd->nd, seq);
	after_call(c, i);
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
	node_tick(c->nodes[i].nd);
	after_call(c, i);
	if (c->nodes[i].rm != NULL) {
		(void)node_rm_poll(c->nodes[i].nd);
		after_call(c, i);
	}
}

unsigned pxh_rm_poll(struct pxh_cluster *c)
{
	unsigned done = 0;
	for (uint8_t i = 0; i < c->o.n; i++) {
		struct pxh_node *nd = &c->nodes[i];
		if (!nd->up || nd->rm == NULL)
			continue;
		done += node_rm_poll(nd->nd);
		after_call(c, i);
	}
	return done;
}

static void deliver(struct pxh_cluster *c, struct pxh_msg *m)
{
	struct pxh_node *nd = &c->nodes[m->to];
	if (!nd->up || c->cut[m->from][m->to]) {
		c->st.dropped++;
		return;
	}
	/* Every message here was encoded by a replica or a test: decodable. The node counts
	 * a message it decodes by its type (msgs_in), one it drops by the reason. */
	const uint64_t *msgs_in = node_counters(nd->nd)->msgs_in;
	uint8_t type = m->len > PX_WIRE_OFF_TYPE ? m->bytes[PX_WIRE_OFF_TYPE] : PX_MSG_TYPE_MAX;
	uint64_t in0 = type < PX_MSG_TYPE_MAX ? msgs_in[type] : 0;
	c->st.delivered++;
	node_recv(nd->nd, m->bytes, m->len, &c->addr[m->from]);
	if (type >= PX_MSG_TYPE_MAX || msgs_in[type] != in0 + 1) {
		c->st.decode_errors++;
		fprintf(stderr, "pxh: node %u could not decode a message from %u\n", m->to,
			m->from);
		abort();
	}
	after_call(c, m->to);
}

bool pxh_deliver_one(struct pxh_cluster *c)
{
	/* opts.rm: a dry queue may only mean writes wait for their writer's poll, and
	 * records for their reader's (a poll that handled something may have sent). */
	if (c->q_len == 0) {
		if (!c->o.rm)
			return false;
		unsigned did = pxh_rm_poll(c);
		if (c->q_len == 0)
			return did != 0;   /* progress (true) even with nothing sent */
	}
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

const struct auth_keys *pxh_auth_keys(const struct pxh_cluster *c)
{
	return &c->keys;
}

bool pxh_decode_at(struct pxh_cluster *c, uint32_t k, struct px_msg *m)
{
	if (k >= c->q_len)
		return false;
	const struct pxh_msg *q = q_at(c, k);
	uint32_t len = q->len;
	if (c->o.auth) {
		if (len < PX_TRAILER_BYTES)
			return false;
		len -= PX_TRAILER_BYTES;
	}
	return px_decode(q->bytes, len, c->nodes[q->to].conf.px.cluster_id, c->o.n, m) ==
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
	uint32_t k = node_propose(c->nodes[i].nd, cmds, n);
	after_call(c, i);
	return k;
}

void pxh_crash(struct pxh_cluster *c, uint8_t i)
{
	struct pxh_node *nd = &c->nodes[i];
	nd->up = false;
	nd->persist_pending = 0;
	/* Closing takes every writer's access to its regions with it, as a NIC answers
	 * writes to a dead process's queue pairs with errors. */
	rm_close(nd->rm);
	nd->rm = NULL;
	nd->conf.rm = NULL;
	/* Memory mode keeps no disk (nothing was ever written to it). */
}

void pxh_restart(struct pxh_cluster *c, uint8_t i)
{
	struct pxh_node *nd = &c->nodes[i];
	if (nd->up)
		pxh_crash(c, i);
	memset(nd->arena, 0, nd->arena_len);
	node_boot(c, i, true);
	after_call(c, i);
}

void pxh_restart_as_new(struct pxh_cluster *c, uint8_t i)
{
	struct pxh_node *nd = &c->nodes[i];
	if (nd->up)
		pxh_crash(c, i);
	memset(nd->arena, 0, nd->arena_len);
	node_boot_as(c, i, false, true);
	after_call(c, i);
}

void pxh_repair(struct pxh_cluster *c, uint8_t i)
{
	struct pxh_node *nd = &c->nodes[i];
	struct pxh_disk *d = &nd->disk;
	if (nd->up)
		pxh_crash(c, i);
	/* The journal is set aside: nothing of it is read back. */
	for (uint64_t s = 0; s < d->cap; s++) {
		free(d->recs[s].value);
		d->recs[s].value = NULL;
		d->recs[s].len = 0;
		d->recs[s].vballot = 0;
	}
	d->promised = 0;
	d->commit = 0;
	d->hi = 0;
	d->n_inc = 0;
	nd->repair = true;
	memset(nd->arena, 0, nd->arena_len);
	node_boot(c, i, true);
	nd->repair = false;
	after_call(c, i);
}

uint8_t pxh_leader(const struct pxh_cluster *c)
{
	for (uint8_t i = 0; i < c->o.n; i++)
		if (c->nodes[i].up && px_role(node_replica(c->nodes[i].nd)) == PX_LEADER)
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
	uint64_t t = node_read_begin(c->nodes[i].nd, read_index);
	after_call(c, i);
	return t;
}

uint64_t pxh_read_confirmed(const struct pxh_cluster *c, uint8_t i)
{
	return node_read_confirmed(c->nodes[i].nd);
}

int pxh_transfer(struct pxh_cluster *c, uint8_t i, uint8_t target)
{
	if (!c->nodes[i].up)
		return -EAGAIN;
	int rc = node_transfer(c->nodes[i].nd, target);
	after_call(c, i);
	return rc;
}

uint64_t pxh_role_changes(const struct pxh_cluster *c, uint8_t i)
{
	return c->nodes[i].role_changes;
}

uint32_t pxh_register_range(struct pxh_cluster *c, uint8_t i, uint64_t first, uint32_t n)
{
	uint64_t nonces[64], ids[64];
	if (n > 64)
		n = 64;
	for (uint32_t k = 0; k < n; k++)
		nonces[k] = first + k;
	return pxh_register(c, i, nonces, n, ids);
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
