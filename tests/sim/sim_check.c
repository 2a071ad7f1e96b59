/* SPDX-License-Identifier: Apache-2.0
 * Cluster-wide safety checks, run after every step (delivery, tick, persist, propose,
 * apply). Each one states a property of Paxos or of the embedder contract that no fault
 * may break (Lamport, "Paxos Made Simple", section 2; Van Renesse and Altinbuken,
 * "Paxos Made Moderately Complex", section 3 for the replica invariants):
 *
 *   agreement   the first value seen at a slot (committed or applied, by any replica)
 *               is recorded; a replica holding a different value there fails the seed.
 *   validity    every chosen value is a no-op or a batch of commands that clients sent,
 *               byte for byte.
 *   prefix      applied logs are prefixes of one history: the applier's hash chain after
 *               slot s, and the kv hash, are the same on every replica.
 *   exactly-once  each (client, seq) reaches a state machine at most once (sim_node.c
 *               wraps the service), and every replica produces the same reply to it.
 *   monotonic   per replica: the promise never decreases (across durable restarts too),
 *               nor do the commit and apply points (a restart starts them over).
 *   invariants  px_check_invariants() returns NULL.
 *   state-transfer-role  a replica waiting for a state transfer applies nothing, so it
 *               must never lead or campaign (a leader in state transfer commits and
 *               never answers a client).
 *   chosen      the oracle: the first commit of a slot, anywhere, is backed by a
 *               majority the simulator saw accepting that value at one ballot (Paxos's
 *               definition of chosen), not only by what one replica believes.
 *   p2          Paxos's invariant P2 ("Paxos Made Simple", 2.2): once a value is chosen
 *               at ballot b, every value accepted at a higher ballot is that value. A
 *               broken phase 1 shows here as soon as the new leader re-proposes,
 *               before any replica commits the wrong value.
 *   incarnation-order  memory mode: each life of a replica that completes recovery has
 *               a higher incarnation than every earlier one that did (DISC 2017: its
 *               messages fence theirs).
 */
#include <inttypes.h>
#include <string.h>

#include "sim_pvt.h"

static void check_validity(struct sim *s, const struct sim_node *n, uint64_t slot,
			   const uint8_t *value, uint32_t len)
{
	const struct sim_cmd_rec *rec;
	struct px_cmd_ref c;
	uint32_t off = 0;

	if (!px_batch_valid(value, len))
		sim_fail(s, "validity", "node %u slot %" PRIu64 ": value is not a valid batch",
			 n->id, slot);
	/* Bounded by the batch's command count. */
	while (px_batch_next(value, len, &off, &c)) {
		if (c.client_id == 0 && c.seq == 0) {
			/* A bind, or a member mask: the uuid must be one a node was given to
			 * propose, and the mask name members only. */
			bool given = false;
			for (uint32_t i = 0; i < s->n_binds && !given; i++)
				given = (c.len == PX_UUID_BYTES || c.len == PX_MEMBERS_BYTES) &&
					wire_ld64(c.body) == s->binds[i].lo &&
					wire_ld64(c.body + 8) == s->binds[i].hi;
			if (given && c.len == PX_MEMBERS_BYTES &&
			    (wire_ld32(c.body + 16) >> s->o.n_nodes) != 0)
				given = false;
			/* A configuration entry: of replicas the simulation has, proposed by
			 * a leader (members_ops; promotions: node/). */
			uint32_t base;
			struct px_members cm;
			if (!given && c.len == PX_CONF_BYTES &&
			    px_conf_parse(value, len, &base, &cm, NULL) &&
			    ((cm.voters | cm.learners) >> s->o.n_nodes) == 0 && s->o.members_pm != 0)
				given = true;
			if (!given)
				sim_fail(s, "validity",
					 "node %u slot %" PRIu64 ": a bind or member mask (client "
					 "0, seq 0) of a uuid no node was given, or of non-members",
					 n->id, slot);
			continue;
		}
		rec = sim_cmd_lookup(s, c.client_id, c.seq);
		if (rec == NULL)
			sim_fail(s, "validity",
				 "node %u slot %" PRIu64 ": command (client %" PRIu64 ", seq %" PRIu64
				 ") was never sent by a client",
				 n->id, slot, c.client_id, c.seq);
		if (rec->len != c.len || memcmp(rec->body, c.body, c.len) != 0)
			sim_fail(s, "validity",
				 "node %u slot %" PRIu64 ": command (client %" PRIu64 ", seq %" PRIu64
				 ") differs from what the client sent",
				 n->id, slot, c.client_id, c.seq);
	}
}

void sim_check_chosen(struct sim *s, const struct sim_node *n, uint64_t slot,
		      const uint8_t *value, uint32_t len, const char *how)
{
	struct sim_slot_rec *rec;
	uint64_t h;

	if (slot == 0 || slot > SIM_SLOTS_MAX)
		sim_fail(s, "sim-limit", "node %u %s slot %" PRIu64 " (limit %u)", n->id, how, slot,
			 SIM_SLOTS_MAX);
	h = px_hash_bytes(PX_HASH_SEED, value, len);
	rec = &s->slots[slot];
	if (!rec->value_known) {
		/* First sighting: this is the value the cluster chose. Validity is checked
		 * once; every later sighting must be byte-identical (same hash and length). */
		check_validity(s, n, slot, value, len);
		rec->value_known = true;
		rec->value_hash = h;
		rec->len = len;
		rec->value_node = n->id;
		if (slot > s->slot_hi)
			s->slot_hi = slot;
		return;
	}
	if (rec->value_hash != h || rec->len != len)
		sim_fail(s, "agreement",
			 "slot %" PRIu64 ": node %u %s a value (%u bytes, %u cmds, hash %016" PRIx64
			 ") but node %u first showed one of %u bytes, hash %016" PRIx64,
			 slot, n->id, how, len,
			 px_batch_valid(value, len) ? px_batch_count(value) : 0, h,
			 rec->value_node, rec->len, rec->value_hash);
}

void sim_check_applied(struct sim *s, const struct sim_node *n, uint64_t slot,
		       uint64_t chain, uint64_t kv_hash)
{
	struct sim_slot_rec *rec = &s->slots[slot];

	if (!rec->chain_known) {
		rec->chain_known = true;
		rec->chain = chain;
		rec->kv_hash = kv_hash;
		memcpy(rec->last_seq, n->sm_last_seq, sizeof(rec->last_seq));
		return;
	}
	if (rec->chain != chain)
		sim_fail(s, "prefix",
			 "node %u applied slot %" PRIu64 " with chain %016" PRIx64
			 ", another replica had %016" PRIx64 ": the applied logs diverge",
			 n->id, slot, chain, rec->chain);
	if (rec->kv_hash != kv_hash)
		sim_fail(s, "state-machine",
			 "node %u kv hash %016" PRIx64 " after slot %" PRIu64
			 ", another replica had %016" PRIx64 " (same log, different state)",
			 n->id, kv_hash, slot, rec->kv_hash);
}

void sim_check_reply(struct sim *s, const struct sim_node *n, const struct px_reply *r)
{
	struct sim_cmd_rec *rec = sim_cmd_lookup(s, r->client_id, r->seq);
	uint64_t h;

	if (rec == NULL)
		sim_fail(s, "validity", "node %u replies to (client %" PRIu64 ", seq %" PRIu64
			 ") that no client sent", n->id, r->client_id, r->seq);
	if (r->status == PX_SESSION_EXPIRED)
		return;  /* a stale duplicate of an answered command: nothing applied */
	if (r->status != PX_OK)
		sim_fail(s, "service",
			 "node %u: client %" PRIu64 " seq %" PRIu64 " got status %u from the "
			 "applier (the workload only sends well-formed commands)",
			 n->id, r->client_id, r->seq, r->status);
	h = px_hash_bytes(PX_HASH_SEED, &r->status, 1);
	h = px_hash_bytes(h, r->data, r->len);
	if (!rec->reply_known) {
		rec->reply_known = true;
		rec->reply_status = r->status;
		rec->reply_hash = h;
		return;
	}
	if (rec->reply_hash != h)
		sim_fail(s, "exactly-once",
			 "node %u: reply to client %" PRIu64 " seq %" PRIu64
			 " differs from the one another replica (or an earlier apply) produced",
			 n->id, r->client_id, r->seq);
}

/* The new epoch of a configuration entry read from its bytes (px.h: a batch of one
 * command, client 0, seq 0, whose body is magic, base epoch, new epoch, ...), not by
 * the core's parser; 0 if the value is no such entry. */
static uint32_t conf_new_epoch(const uint8_t *v, uint32_t len)
{
	const uint32_t body = PX_BATCH_HDR_BYTES + PX_CMD_HDR_BYTES;

	if (len != body + PX_CONF_BYTES)
		return 0;
	if ((uint32_t)(v[body] | v[body + 1] << 8 | v[body + 2] << 16 |
		       (uint32_t)v[body + 3] << 24) != PX_CONF_MAGIC)
		return 0;
	return (uint32_t)(v[body + 8] | v[body + 9] << 8 | v[body + 10] << 16 |
			  (uint32_t)v[body + 11] << 24);
}

void sim_conf_proposed(struct sim *s, const struct sim_node *n, uint64_t slot)
{
	uint64_t vballot;
	bool chosen;
	const uint8_t *value;
	uint32_t len, epoch;

	if (s->n_conf_reqs >= SIM_CONFS_MAX ||
	    !px_slot_peek(n->r, slot, &vballot, &chosen, &value, &len))
		return;
	epoch = conf_new_epoch(value, len);
	if (epoch == 0)
		sim_fail(s, "members", "node %u: the change it took at slot %" PRIu64
			 " left no configuration entry there", n->id, slot);
	s->conf_req_slot[s->n_conf_reqs] = slot;
	s->conf_req_hash[s->n_conf_reqs] = px_hash_bytes(PX_HASH_SEED, value, len);
	s->conf_req_epoch[s->n_conf_reqs] = epoch;
	s->n_conf_reqs++;
}

/* The newest epoch m has chosen: in force, or pending until its alpha window ends. */
static uint32_t epoch_chosen(const struct px_membership *m)
{
	return m->next_eff != 0 && m->next.epoch > m->cur.epoch ? m->next.epoch : m->cur.epoch;
}

void sim_check_confs(struct sim *s)
{
	for (uint32_t k = 0; k < s->n_conf_reqs; k++) {
		uint64_t slot = s->conf_req_slot[k];
		const struct sim_slot_rec *rec;
		uint32_t want = s->conf_req_epoch[k];

		if (slot > SIM_SLOTS_MAX)
			continue;
		rec = &s->slots[slot];
		if (!rec->chosen_ok || rec->chosen_hash != s->conf_req_hash[k])
			continue;   /* not chosen: a new leader's phase 1 put something else there */
		if (epoch_chosen(&s->ms) < want)
			sim_fail(s, "members", "slot %" PRIu64 ": a change to epoch %u was chosen, "
				 "but the log's membership is at epoch %u", slot, want,
				 epoch_chosen(&s->ms));
		for (uint32_t i = 0; i < s->o.n_nodes; i++) {
			const struct sim_node *n = &s->nodes[i];

			if (!n->up || n->removed || px_commit(n->r) < slot)
				continue;
			if (epoch_chosen(px_membership(n->r)) < want)
				sim_fail(s, "members", "slot %" PRIu64 ": a change to epoch %u was "
					 "chosen and node %u committed it, but it is at epoch %u",
					 slot, want, i, epoch_chosen(px_membership(n->r)));
		}
	}
}

static void check_p2(struct sim *s, uint64_t slot);

/** Node n holds slot `slot` accepted (not known chosen): one more acceptor of that value
 *  at that ballot. */
static void add_vote(struct sim *s, const struct sim_node *n, uint64_t slot, uint64_t vballot,
		     uint64_t h);

static void observe_slot(struct sim *s, const struct sim_node *n, uint64_t slot)
{
	const uint8_t *value;
	uint64_t vballot, h;
	uint32_t len;
	bool chosen;

	/* Only a value held at the replica's promised ballot is a vote it cast (and acks):
	 * a value merged in recovery at a lower ballot is a report of someone else's vote,
	 * for the highest-ballot rule, not an acceptance at that ballot. */
	if (slot == 0 || slot > SIM_SLOTS_MAX ||
	    !px_slot_peek(n->r, slot, &vballot, &chosen, &value, &len) || chosen ||
	    vballot != px_promised(n->r))
		return;
	h = px_hash_bytes(PX_HASH_SEED, value, len);
	add_vote(s, n, slot, vballot, h);
}

/** Replica n holds value hash h for slot at ballot vballot, its promise: a vote. */
static void add_vote(struct sim *s, const struct sim_node *n, uint64_t slot, uint64_t vballot,
		     uint64_t h)
{
	struct sim_slot_rec *rec = &s->slots[slot];
	uint32_t i;

	for (i = 0; i < rec->n_groups; i++) {
		if (rec->groups[i].vballot == vballot && rec->groups[i].value_hash == h) {
			rec->groups[i].nodes |= 1u << n->id;
			rec->groups[i].ever |= 1u << n->id;
			check_p2(s, slot);
			return;
		}
	}
	if (rec->n_groups == SIM_ACCEPT_GROUPS) {
		if (!rec->groups_full)
			s->oracle_unjudged++;
		rec->groups_full = true;
		return;
	}
	rec->groups[rec->n_groups].vballot = vballot;
	rec->groups[rec->n_groups].value_hash = h;
	rec->groups[rec->n_groups].nodes = 1u << n->id;
	rec->groups[rec->n_groups].ever = 1u << n->id;
	rec->n_groups++;
	if (slot > s->oracle_slot_hi)
		s->oracle_slot_hi = slot;
	check_p2(s, slot);
}

/** P2: a value chosen at ballot b (a majority accepted it there) is the only value any
 *  acceptor accepts at a ballot above b. */
static void p2_against(struct sim *s, uint64_t slot, uint64_t vballot, uint64_t hash,
		       uint32_t by, const char *how)
{
	const struct sim_slot_rec *rec = &s->slots[slot];

	for (uint32_t j = 0; j < rec->n_groups; j++) {
		const struct sim_accept_group *x = &rec->groups[j];

		if (x->nodes != 0 && x->vballot > vballot && x->value_hash != hash)
			sim_fail(s, "p2",
				 "slot %" PRIu64 ": a value (hash %016" PRIx64 ") was chosen at ballot "
				 "0x%" PRIx64 " (%s, nodes %x), and nodes %x accepted another (hash %016"
				 PRIx64 ") at the higher ballot 0x%" PRIx64,
				 slot, hash, vballot, how, by, x->nodes, x->value_hash, x->vballot);
	}
}

/* ---- Membership: which voters decide each slot --------------------------------- */

/** The voters of the configuration in force at slot (the log's, as the replicas
  committed it: sim_members_track). */
uint32_t sim_voters_at(const struct sim *s, uint64_t slot)
{
	uint32_t v = s->conf_voters[0];
	for (uint32_t i = 1; i < s->n_confs && s->conf_from[i] <= slot; i++)
		v = s->conf_voters[i];
	return v;
}

/** Votes of a node set that count at slot: its voters' only. */
static uint32_t votes_at(const struct sim *s, uint64_t slot, uint32_t nodes)
{
	return (uint32_t)__builtin_popcount(nodes & sim_voters_at(s, slot));
}

static uint32_t quorum_at(const struct sim *s, uint64_t slot)
{
	return (uint32_t)__builtin_popcount(sim_voters_at(s, slot)) / 2u + 1u;
}

/** Slot `slot` was committed (first time, in order) with this value: the membership
 *  moves as the replicas' does (px_membership_chosen), the simulator's own copy. */
void sim_members_track(struct sim *s, uint64_t slot, const uint8_t *value, uint32_t len)
{
	if (slot != s->ms_slot + 1)
		return;
	s->ms_slot = slot;
	int took = px_membership_chosen(&s->ms, slot, value, len);
	if (took <= 0)
		return;
	if (s->n_confs >= SIM_CONFS_MAX)
		sim_fail(s, "sim", "more than %u membership changes in one seed", SIM_CONFS_MAX);
	s->conf_from[s->n_confs] = s->ms.next_eff != 0 ? s->ms.next_eff : slot + 1;
	s->conf_voters[s->n_confs] = s->ms.next_eff != 0 ? s->ms.next.voters : s->ms.cur.voters;
	s->n_confs++;
	sim_trace(s, "MEMBERS slot %" PRIu64 ": voters %03x from slot %" PRIu64, slot,
		  s->conf_voters[s->n_confs - 1], s->conf_from[s->n_confs - 1]);
}

static void check_p2(struct sim *s, uint64_t slot)
{
	const struct sim_slot_rec *rec = &s->slots[slot];
	uint32_t quorum = quorum_at(s, slot);

	if (rec->chosen_ok)
		p2_against(s, slot, rec->chosen_vballot, rec->chosen_hash, 0, "committed");
	for (uint32_t i = 0; i < rec->n_groups; i++)
		if (votes_at(s, slot, rec->groups[i].nodes) >= quorum)
			p2_against(s, slot, rec->groups[i].vballot, rec->groups[i].value_hash,
				   rec->groups[i].nodes, "a standing majority");
}

void sim_oracle_crash(struct sim *s, const struct sim_node *n)
{
	const uint32_t bit = 1u << n->id;

	/* Bounded: the slots the oracle recorded, once per crash. */
	for (uint64_t slot = 1; slot <= s->oracle_slot_hi; slot++) {
		struct sim_slot_rec *rec = &s->slots[slot];
		const struct sim_journal_slot *d = slot < SIM_SLOTS_MAX + 1 ? &n->journal[slot] :
									    NULL;
		/* A damaged journal is set aside at the next start: nothing of it stands. */
		bool kept_any = s->o.durability == PX_DURABLE && !n->disk_damaged && d != NULL &&
				d->len != 0;
		uint64_t h = kept_any ? px_hash_bytes(PX_HASH_SEED, n->journal_bytes + d->off,
						      d->len) : 0;

		for (uint32_t i = 0; i < rec->n_groups; i++) {
			struct sim_accept_group *g = &rec->groups[i];

			if (!(g->nodes & bit))
				continue;
			if (!kept_any || g->vballot != d->vballot || g->value_hash != h)
				g->nodes &= ~bit;
		}
	}
}

/**
 * --log-transport rdma: an ACCEPT that landed whole in follower n's log region under
 * its grant is n's vote from the moment it lands (docs/consistency.md): the leader
 * counts it from the write's completion, and n's core takes it before it may promise
 * anything else. Votes for the slots its core will take: not chosen there, inside its
 * window (the leader writes nothing past the horizon n published).
 */
static void landed_visit(void *ctx, const struct px_msg *m)
{
	const struct sim_node *n = ctx;
	struct sim *s = n->sim;

	if (getenv("DBGL")) fprintf(stderr, "t=%lu landed n%u role=%d b=%lx prom=%lx applied=%lu n=%u first=%lu inc_from=%u/%u inc_self=%u/%u\n", (unsigned long)s->now, n->id, px_role(n->r), (unsigned long)m->ballot, (unsigned long)px_promised(n->r), (unsigned long)px_applied_slot(n->r), m->n_entries, m->n_entries ? (unsigned long)m->entries[0].slot : 0ul, m->incarnation[m->from], px_incarnation(n->r, m->from), m->incarnation[n->id], px_incarnation(n->r, n->id));
	/* A pre-candidate has not left the promise: its core takes the record all the
	 * same (pxr_on_accept makes it a follower again). */
	if ((px_role(n->r) != PX_FOLLOWER && px_role(n->r) != PX_PRECANDIDATE) ||
	    m->ballot != px_promised(n->r))
		return;
	/* As px_step will judge it: a stale number of the leader is dropped, a newer
	 * number of this replica makes it re-announce first (no vote). */
	if (m->n_inc <= m->from || m->n_inc <= n->id ||
	    m->incarnation[m->from] < px_incarnation(n->r, m->from) ||
	    m->incarnation[n->id] > px_incarnation(n->r, n->id))
		return;
	for (uint32_t i = 0; i < m->n_entries; i++) {
		const struct px_entry *x = &m->entries[i];
		const uint8_t *value;
		uint64_t vb;
		uint32_t len;
		bool chosen;

		if (x->slot == 0 || x->slot > SIM_SLOTS_MAX ||
		    x->slot <= px_applied_slot(n->r) ||
		    x->slot > px_applied_slot(n->r) + s->o.window_slots)
			continue;
		if (px_slot_peek(n->r, x->slot, &vb, &chosen, &value, &len) && chosen)
			continue;
		add_vote(s, n, x->slot, m->ballot, px_hash_bytes(PX_HASH_SEED, x->value, x->len));
	}
}

void sim_observe_landed(struct sim *s, struct sim_node *n)
{
	(void)s;
	if (n->up && n->nd != NULL)
		(void)node_rm_landed(n->nd, landed_visit, n);
}

void sim_observe(struct sim *s, const struct sim_node *n, bool whole_log)
{
	const struct px_msg *m = s->obs_msg;
	uint64_t slot, hi;
	uint32_t i;

	/* A recovering replica's log is what it merged from others, not its votes (it
	 * casts none until it recovers; then the whole log is looked at once). */
	if (px_role(n->r) == PX_RECOVERING)
		return;

	if (m != NULL && m->type == PX_MSG_ACCEPT)
		for (i = 0; i < m->n_entries; i++)
			observe_slot(s, n, m->entries[i].slot);
	for (slot = s->obs_lo; slot <= s->obs_hi; slot++)
		observe_slot(s, n, slot);
	if (whole_log) {
		/* Bounded: the window holds at most window_slots slots. */
		hi = px_last_slot(n->r);
		for (slot = px_commit(n->r) + 1; slot <= hi; slot++)
			observe_slot(s, n, slot);
	}
}

/** The first commit of a slot: a majority accepted its value at one ballot. */
static void check_oracle(struct sim *s, const struct sim_node *n, uint64_t slot,
			 const uint8_t *value, uint32_t len)
{
	struct sim_slot_rec *rec = &s->slots[slot];
	uint64_t h;
	uint32_t i, quorum = quorum_at(s, slot);

	if (rec->chosen_ok || rec->groups_full)
		return;
	h = px_hash_bytes(PX_HASH_SEED, value, len);
	/* The ballot P2 is checked from: the lowest at which a majority holds the value
	 * now (a crash takes away what did not reach the disk), else the highest at which
	 * a majority ever did. Not the lowest of those: an acceptance a crash took back
	 * before it was durable never counted (the replica acked nothing), so a value
	 * re-proposed and committed at a later ballot was not chosen at the first one,
	 * and another value may legitimately have been accepted in between. */
	int pick = -1;
	bool standing = false;
	for (i = 0; i < rec->n_groups; i++) {
		const struct sim_accept_group *g = &rec->groups[i];
		bool now = votes_at(s, slot, g->nodes) >= quorum;
		bool once = votes_at(s, slot, g->ever) >= quorum;

		if (g->value_hash != h || !once)
			continue;
		if (pick < 0 || (now && !standing) ||
		    (now == standing && (now ? g->vballot < rec->groups[pick].vballot
					     : g->vballot > rec->groups[pick].vballot))) {
			pick = (int)i;
			standing = now;
		}
	}
	if (pick >= 0) {
		rec->chosen_ok = true;
		rec->chosen_vballot = rec->groups[pick].vballot;
		rec->chosen_hash = h;
		check_p2(s, slot);
		return;
	}
	sim_fail(s, "chosen",
		 "node %u committed slot %" PRIu64 " (%u bytes, hash %016" PRIx64 ") but no "
		 "majority of its voters (%03x) was seen accepting that value at one ballot "
		 "(%u pairs seen)", n->id, slot, len, h, sim_voters_at(s, slot), rec->n_groups);
}

void sim_check_recovered(struct sim *s, struct sim_node *n)
{
	uint32_t inc = px_incarnation(n->r, n->id);
	/* A life that lost its memory (every memory-mode restart, a durable repair) must
	 * complete above every earlier life. A durable replica that restarted from an
	 * intact journal is the same life: it may complete a re-announcement of the number
	 * it completed before, if the write that kept that number was lost in the crash. */
	bool same_life = s->o.durability == PX_DURABLE && !n->repairing;

	if (inc < n->inc_completed || (inc == n->inc_completed && !same_life))
		sim_fail(s, "incarnation-order",
			 "node %u completed a recovery at incarnation %u, but an earlier life "
			 "completed at %u: its messages do not fence that life's",
			 n->id, inc, n->inc_completed);
	n->inc_completed = inc;
}

/** Commit advanced from commit_seen to c: the values now committed must agree. */
static void check_committed(struct sim *s, struct sim_node *n, uint64_t c)
{
	const uint8_t *value;
	uint64_t slot, vballot, lo = n->commit_seen + 1;
	uint32_t len;
	bool chosen;

	/* Only the window can be held; below it there is nothing to peek. */
	if (c >= s->o.window_slots && lo < c - s->o.window_slots + 1)
		lo = c - s->o.window_slots + 1;
	for (slot = lo; slot <= c; slot++) {
		if (!px_slot_peek(n->r, slot, &vballot, &chosen, &value, &len))
			continue;
		if (value == NULL)
			continue;
		sim_check_chosen(s, n, slot, value, len, "committed");
		check_oracle(s, n, slot, value, len);
		sim_members_track(s, slot, value, len);
	}
}

void sim_check_node(struct sim *s, struct sim_node *n, const char *step)
{
	const char *why;
	uint64_t p, c, a;

	s->steps++;
	/* The replica may decide it needs a state transfer without saying so in an effect
	 * (at restore): from then on this node's state machine stops. */
	if (!n->st_needed && px_needs_state_transfer(n->r)) {
		n->st_needed = true;
		n->st_events++;
	}
	/* The simulator's own view first, then the core's invariants (which check some
	 * of the same from the inside). */
	if (n->st_needed && px_role(n->r) != PX_FOLLOWER && px_role(n->r) != PX_RECOVERING)
		sim_fail(s, "state-transfer-role",
			 "node %u after %s is %s while it needs a state transfer (it applies "
			 "nothing)", n->id, step, px_role_name(px_role(n->r)));
	why = px_check_invariants(n->r);
	if (why != NULL)
		sim_fail(s, "invariants", "node %u after %s: %s", n->id, step, why);

	p = px_promised(n->r);
	if (p < n->promised_seen)
		sim_fail(s, "promise-monotonic",
			 "node %u after %s: promised ballot went from 0x%" PRIx64 " to 0x%" PRIx64,
			 n->id, step, n->promised_seen, p);
	n->promised_seen = p;

	c = px_commit(n->r);
	if (c < n->commit_seen)
		sim_fail(s, "commit-monotonic",
			 "node %u after %s: commit went from %" PRIu64 " to %" PRIu64, n->id, step,
			 n->commit_seen, c);
	if (c > n->commit_seen) {
		sim_trace(s, "n%u commit %" PRIu64 " -> %" PRIu64, n->id, n->commit_seen, c);
		check_committed(s, n, c);
		n->commit_seen = c;
	}

	a = px_applied_slot(n->r);
	if (a < n->applied_seen)
		sim_fail(s, "apply-monotonic",
			 "node %u after %s: applied went from %" PRIu64 " to %" PRIu64, n->id, step,
			 n->applied_seen, a);
	n->applied_seen = a;
	if (a > c)
		sim_fail(s, "apply-monotonic",
			 "node %u after %s: applied %" PRIu64 " beyond commit %" PRIu64, n->id,
			 step, a, c);

	/* One cluster uuid: the log's first bind, the same wherever it is bound. */
	struct px_uuid u = node_uuid(n->nd);
	/* A mistaken first start (mistake_pm: every member up knew it) must be refused
	 * before it gets the log up to the bind: bound, it would vote as a member. */
	if (n->as_new && px_uuid_is_id(u))
		sim_fail(s, "bootstrap-guard",
			 "node %u after %s: a first start of a known member (--bootstrap by "
			 "mistake) bound the cluster uuid instead of being refused", n->id, step);
	if (px_uuid_is_id(u)) {
		if (!px_uuid_is_id(s->uuid))
			s->uuid = u;
		else if (!px_uuid_eq(u, s->uuid))
			sim_fail(s, "cluster-uuid",
				 "node %u after %s: bound uuid %016" PRIx64 "%016" PRIx64
				 ", another node bound %016" PRIx64 "%016" PRIx64, n->id, step,
				 u.hi, u.lo, s->uuid.hi, s->uuid.lo);
	}
}
