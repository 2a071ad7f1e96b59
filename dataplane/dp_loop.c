/* SPDX-License-Identifier: Apache-2.0
 * The run-to-completion loop of one replica (STYLE 8, DPDK l2fwd's shape):
 *
 *   for each port: rx bursts (more while they come full) -> node_recv each datagram;
 *   a datagram a queued command points into is held at its port (nic_rx_hold) ->
 *   node_flush once every port was polled (adaptive batching: the batch is whatever
 *   came, up to batch_cmds_max, at which the node proposes by itself), then the held
 *   datagrams are released -> durable mode: the newest sync the journal made durable
 *   to node_persisted (one atomic load) -> ticks due by the clock (node_tick) -> one tx
 *   flush per port -> idle policy when nothing came.
 *
 * Everything between the core and the world is the node's (node/node.h): decoding,
 * requests, reads by read index, the effects of every call into the core, applying
 * and replying. This file is the node's world: the ops below put its datagrams on the
 * ports, give it the clock and the log, and answer its admin stats request.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dp_pvt.h"

uint64_t dp_now_ns(void)
{
	return env_now_ns();   /* the TSC in DPDK builds with the EAL up */
}

/* ---------------------------------------------------------------------------------- */
/* The node's ops                                                                      */

/**
 * The port and address a datagram for dst goes out on; NULL when this replica has no
 * address for that peer. The node may address any id below PX_REPLICAS_MAX: a member
 * the log added (its address arrives through ops.peer_addr once applied), or whoever
 * a datagram claimed to come from (with auth = off, anyone can claim any id). Such an
 * id is a peer we cannot reach, never a bug: tx_buf refuses it and the node counts
 * tx_no_buf.
 */
static struct nic_port *dst_port(struct dp_ctx *d, const struct node_dst *dst,
				 const struct nic_addr **to)
{
	if (dst->peer == NODE_TO_CLIENT) {
		struct dp_client_addr ca;
		/* A copy: the node's bytes have no alignment. */
		memcpy(&ca, dst->client->b, sizeof(ca));
		/* The node hands back what dp_run gave it: a port slot of ours. */
		assert(ca.port < d->n_ports);
		d->tx_to = ca.addr;
		*to = &d->tx_to;
		return d->ports[ca.port];
	}
	if (dst->peer >= PX_REPLICAS_MAX || dst->peer == d->self ||
	    !((d->peers_known >> dst->peer) & 1u))
		return NULL;
	assert(d->peer_port[dst->peer] < d->n_ports);
	*to = &d->peers[dst->peer];
	return d->ports[d->peer_port[dst->peer]];
}

static uint8_t *op_tx_buf(void *ctx, const struct node_dst *dst, uint32_t *cap)
{
	struct dp_ctx *d = ctx;
	const struct nic_addr *to;
	struct nic_port *p = dst_port(d, dst, &to);
	if (p == NULL)
		return NULL;   /* no address for that peer: counted tx_no_buf by the node */
	return nic_tx_buf(p, cap);
}

static void op_tx_commit(void *ctx, const struct node_dst *dst, uint32_t len)
{
	struct dp_ctx *d = ctx;
	const struct nic_addr *to;
	struct nic_port *p = dst_port(d, dst, &to);
	/* The node commits only the buffer tx_buf gave it, for the same dst. */
	assert(p != NULL);
	nic_tx_commit(p, len, to);
}

static uint64_t op_now_ns(void *ctx)
{
	(void)ctx;
	return dp_now_ns();
}

static void op_log(void *ctx, int level, const char *line)
{
	const struct dp_ctx *d = ctx;
	dp_log(d, (enum dp_log_level)level, "%s", line);
}

/** PX_ADMIN_STATS: page `page` of this replica's metrics (dp_admin_pages,
 *  docs/metrics.md) as one JSON object into buf (at most cap bytes).
 *  @return its length; 0: no such page. */
static uint32_t op_admin_stats(void *ctx, uint8_t page, char *buf, uint32_t cap)
{
	struct dp_ctx *d = ctx;
	struct dp_snap s;
	if (page >= DP_ADMIN_PAGES)
		return 0;
	dp_snap_fill(d, dp_now_ns(), &s);
	uint32_t n = dp_metrics_json(&s, dp_admin_pages[page], NULL, buf, cap);
	/* paxwired checked at start that the longest reply fits (dp_metrics_admin_len_max). */
	assert(n < cap);
	return n;
}

/* The journal (durable mode): each op copies its record into the journal's ring, with no
 * system call except a FUTEX_WAKE of an idle writer at a sync (storage/journal.h). */
static void op_journal_promise(void *ctx, uint64_t ballot)
{
	struct dp_ctx *d = ctx;
	journal_promise(d->j, ballot);
}

static void op_journal_slot(void *ctx, uint64_t slot, uint64_t vballot, const uint8_t *value,
			    uint32_t len)
{
	struct dp_ctx *d = ctx;
	journal_slot(d->j, slot, vballot, value, len);
}

static void op_journal_incarnation(void *ctx, const uint32_t *inc, uint32_t n)
{
	struct dp_ctx *d = ctx;
	journal_incarnation(d->j, inc, n);
}

static void op_journal_sync(void *ctx, uint64_t seq, uint64_t commit)
{
	struct dp_ctx *d = ctx;
	assert(seq > d->sync_seq);   /* the core's seqs increase; the journal asserts it too */
	d->sync_seq = seq;
	journal_sync(d->j, seq, commit);
}

/* Durable mode: a snapshot of the applied state goes to the data dir (the node keeps
 * the buffer unchanged until node_snapshot_saved). A save still running is not waited
 * for: this one is dropped (the node takes another later). */
static void op_snapshot_save(void *ctx, uint64_t slot, uint64_t id, const uint8_t *buf,
			     size_t len)
{
	struct dp_ctx *d = ctx;
	int rc = snapstore_save(d->ss, slot, id, buf, len);
	if (rc != 0) {
		dp_log(d, DP_LOG_WARN, "snapshot of slot %" PRIu64 " not saved: %s", slot,
		       strerror(-rc));
		node_snapshot_saved(d->nd, slot, false);
	}
}

/** "a.b.c.d:port" (the text pwctl add-member gave, as the log keeps it) into *a. */
static bool parse_addr(const char *text, struct nic_addr *a)
{
	const char *colon = strrchr(text, ':');
	char ip[16];
	struct in_addr in;
	unsigned long port = 0;

	if (colon == NULL || colon == text || (size_t)(colon - text) >= sizeof(ip) ||
	    colon[1] < '0' || colon[1] > '9')
		return false;
	memcpy(ip, text, (size_t)(colon - text));
	ip[colon - text] = '\0';
	char *end = NULL;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || port == 0 || port > 65535u ||
	    inet_pton(AF_INET, ip, &in) != 1 || in.s_addr == 0)
		return false;
	*a = nic_addr_make(in.s_addr, (uint16_t)port);
	return true;
}

/**
 * Membership: the applied log (or an installed snapshot) names member id's address.
 * Called for every configuration that takes; only a change is logged. A member the
 * cluster file lists keeps its file address until the log names one. A mesh of
 * point-to-point links reaches only the peers it has ports for (members_fixed: the
 * node refuses adds, so the log names no other).
 */
static void op_peer_addr(void *ctx, uint8_t id, const char *text)
{
	struct dp_ctx *d = ctx;
	struct nic_addr a;
	char was[32] = "", now[32];

	if (id >= PX_REPLICAS_MAX || id == d->self)
		return;
	uint16_t bit = (uint16_t)(1u << id);
	if (!parse_addr(text, &a)) {
		if (!(d->addr_bad & bit))
			dp_log(d, DP_LOG_WARN,
			       "membership: the log names replica %u at '%s', which is not IPv4:PORT: %s",
			       id, text, (d->peers_known & bit) ? "it is still sent to at its cluster-file address" :
			       "nothing is sent to it (tx_no_buf); fix: pwctl remove-member it, then add it again with IP:PORT");
		d->addr_bad = (uint16_t)(d->addr_bad | bit);
		return;
	}
	d->addr_bad = (uint16_t)(d->addr_bad & ~bit);
	bool had = (d->peers_known & bit) != 0;
	if (had && nic_addr_eq(&d->peers[id], &a))
		return;
	nic_addr_format(&a, now, sizeof(now));
	if (d->members_fixed) {
		dp_log(d, DP_LOG_WARN,
		       "membership: the log names replica %u at %s, but this replica's peers are fixed point-to-point links: %s",
		       id, now, had ? "it keeps its link" : "it is unreachable from here");
		return;
	}
	if (had)
		nic_addr_format(&d->peers[id], was, sizeof(was));
	if (d->cfg->transport == CFG_TRANSPORT_DPDK) {
		/* The file's MAC when it lists this member at this address; else broadcast
		 * until one of its datagrams shows the MAC (no ARP client here). */
		const struct cfg_member *m = &d->cfg->members[id];
		if (((d->cfg->listed >> id) & 1u) && m->has_mac && m->ip_be == a.ip_be &&
		    m->port == ntohs(a.port_be)) {
			memcpy(a.mac, m->mac, sizeof(a.mac));
			d->mac_learn = (uint16_t)(d->mac_learn & ~bit);
		} else {
			d->mac_learn = (uint16_t)(d->mac_learn | bit);
		}
	}
	d->peers[id] = a;
	d->peer_port[id] = d->peer_port_default;
	d->peers_known = (uint16_t)(d->peers_known | bit);
	dp_log(d, DP_LOG_INFO, "membership: replica %u is reached at %s (named by the log%s%s)",
	       id, now, had ? "; was " : "", was);
}

/** DPDK: a datagram from a peer whose MAC is not known yet (mac_learn) shows it. At most
 *  PX_REPLICAS_MAX comparisons, and only while some MAC is unknown. */
static void learn_mac(struct dp_ctx *d, const struct nic_addr *src)
{
	static const uint8_t zero[6] = { 0 };

	if (memcmp(src->mac, zero, sizeof(zero)) == 0)
		return;
	for (uint8_t j = 0; j < PX_REPLICAS_MAX; j++) {
		if (!((d->mac_learn >> j) & 1u) || !nic_addr_eq(&d->peers[j], src))
			continue;
		memcpy(d->peers[j].mac, src->mac, sizeof(src->mac));
		d->mac_learn = (uint16_t)(d->mac_learn & ~(1u << j));
		dp_log(d, DP_LOG_DEBUG, "membership: replica %u's MAC learnt from its datagram", j);
	}
}

/* Memory durability: no journal ops (the core asks for no persist in memory mode). */
/** A client's address for the log: ip:port, and the port slot it came in on. */
static void op_addr_name(void *ctx, const struct node_addr *a, char *buf, size_t cap)
{
	(void)ctx;
	struct dp_client_addr ca;
	memcpy(&ca, a->b, sizeof(ca));
	uint32_t ip = ntohl(ca.addr.ip_be);
	snprintf(buf, cap, "%u.%u.%u.%u:%u (port slot %u)", ip >> 24, (ip >> 16) & 0xffu,
		 (ip >> 8) & 0xffu, ip & 0xffu, ntohs(ca.addr.port_be), ca.port);
}

const struct node_ops dp_node_ops = {
	.tx_buf = op_tx_buf,
	.addr_name = op_addr_name,
	.tx_commit = op_tx_commit,
	.now_ns = op_now_ns,
	.log = op_log,
	.admin_stats = op_admin_stats,
	.peer_addr = op_peer_addr,
};

/* Durable mode: the same, and the journal. */
const struct node_ops dp_node_ops_durable = {
	.tx_buf = op_tx_buf,
	.addr_name = op_addr_name,
	.tx_commit = op_tx_commit,
	.journal_promise = op_journal_promise,
	.journal_slot = op_journal_slot,
	.journal_sync = op_journal_sync,
	.journal_incarnation = op_journal_incarnation,
	.snapshot_save = op_snapshot_save,
	.now_ns = op_now_ns,
	.log = op_log,
	.admin_stats = op_admin_stats,
	.peer_addr = op_peer_addr,
};

/* ---------------------------------------------------------------------------------- */
/* The journal's progress (durable mode)                                               */

/**
 * Hands the newest sync the journal made durable to the node (which may now release
 * PROMISEs and ACCEPTEDs), and notices a storage failure. Two atomic loads when nothing
 * changed: cheap enough for every loop iteration.
 * @return 0, or -EIO: storage failed (logged); the loop must stop.
 */
static int poll_journal(struct dp_ctx *d)
{
	const char *failed = journal_failed(d->j);
	if (failed != NULL) {
		dp_log(d, DP_LOG_ERROR, "%s", failed);
		dp_log(d, DP_LOG_ERROR,
		       "storage failed: stopping now, without voting again (a replica that cannot keep its promises must not vote); fix: free or repair the disk of %s, then restart this replica without --bootstrap (it replays what was made durable)",
		       d->data_dir);
		return -EIO;
	}
	uint64_t s = journal_poll(d->j);
	if (s > d->persisted_seq) {
		assert(s <= d->sync_seq);
		d->persisted_seq = s;
		node_persisted(d->nd, s);
	}
	struct snapstore_done done;
	if (d->ss != NULL && snapstore_poll(d->ss, &done)) {
		node_snapshot_saved(d->nd, done.slot, done.err == 0);
		if (done.err != 0) {
			dp_log(d, DP_LOG_WARN,
			       "snapshot of slot %" PRIu64 " not saved: %s; the journal keeps everything above the last saved one",
			       done.slot, done.why);
		} else {
			if (done.slot > d->snap_saved_slot) {
				d->snap_saved_slot = done.slot;
				/* The journal below it is no longer needed for a restart. */
				journal_compact(d->j, done.slot);
			}
			dp_log(d, DP_LOG_DEBUG,
			       "snapshot of slot %" PRIu64 " saved (%" PRIu64 " bytes, %" PRIu64 " ms); journal compacted below it",
			       done.slot, done.bytes, done.ns / 1000000u);
		}
	}
	return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Time                                                                                */

static void run_ticks(struct dp_ctx *d, uint64_t now)
{
	if (now < d->next_tick_ns)
		return;
	uint64_t due = (now - d->next_tick_ns) / d->tick_ns + 1;
	uint64_t run = due < DP_TICKS_CATCHUP_MAX ? due : DP_TICKS_CATCHUP_MAX;
	for (uint64_t i = 0; i < run; i++)
		node_tick(d->nd);
	d->c.ticks_skipped += due - run;
	d->next_tick_ns += due * d->tick_ns;
}

static void periodic(struct dp_ctx *d, uint64_t now)
{
	for (uint8_t k = 0; k < d->n_ports; k++)
		nic_housekeep(d->ports[k], now);
	/* Pairs with nothing: the handler's store and this exchange run on this thread;
	 * the atomic only makes the handler's write well defined. */
	if (atomic_exchange_explicit(d->stats_now, false, memory_order_relaxed))
		dp_stats_print(d, stdout, now, false);
	if (d->hup != NULL && atomic_exchange_explicit(d->hup, false, memory_order_relaxed))
		dp_log(d, DP_LOG_INFO, "SIGHUP: ignored (the cluster file is read only at start; logs go to stderr, nothing to reopen); to apply a new configuration, restart this replica (docs/operations.md)");
	if (d->stats_interval_ns != 0 && now >= d->next_stats_ns) {
		dp_stats_print(d, stdout, now, false);
		d->next_stats_ns = now + d->stats_interval_ns;
	}
	if (d->pub != NULL) {
		/* relaxed: want carries no data; a reader waits for seq to move, and the
		 * seqlock's acquire/release pairs (dp_pub_write) order the snapshot itself. */
		bool asked = atomic_load_explicit(&d->pub->want, memory_order_relaxed);
		if (asked || now >= d->next_pub_ns) {
			if (asked)
				atomic_store_explicit(&d->pub->want, false, memory_order_relaxed);
			struct dp_snap s;
			dp_snap_fill(d, now, &s);
			dp_pub_write(d->pub, &s);
			d->next_pub_ns = now + DP_PUB_INTERVAL_NS;
		}
	}
	if (!d->warned_recovering && px_role(d->r) == PX_RECOVERING &&
	    now - d->start_ns > 5000000000ull) {
		d->warned_recovering = true;
		dp_log(d, DP_LOG_WARN,
		       "still recovering after 5 s: recovery needs answers from f + 1 = %u of the %u other replicas, running normally. If this is the first start of a new cluster, start every replica with --bootstrap",
		       d->pxc.n_replicas / 2u + 1u, d->pxc.n_replicas - 1u);
	}
}

/** Adaptive idle: keep polling for DP_IDLE_SPIN_NS after the last datagram (traffic
 *  comes in trains), then sleep in poll() until a datagram arrives or the next tick (or
 *  stats line) is due. A wake-up for a tick alone goes straight back to sleep. */
static void idle(struct dp_ctx *d, uint64_t now)
{
	if (now - d->last_rx_ns < DP_IDLE_SPIN_NS)
		return;
	uint64_t until = d->next_tick_ns;
	if (d->stats_interval_ns != 0 && d->next_stats_ns < until)
		until = d->next_stats_ns;
	if (d->pub != NULL && d->next_pub_ns < until)
		until = d->next_pub_ns;
	if (until <= now)
		return;
	uint64_t wait = until - now;
	if (wait > DP_IDLE_SLEEP_NS_MAX)
		wait = DP_IDLE_SLEEP_NS_MAX;
	/* A persist in flight: its completion wakes nothing here (the writer publishes a
	 * seq, it does not write to our socket), so look again after a short nap. */
	if (d->persisted_seq != d->sync_seq && wait > DP_IDLE_PERSIST_NS)
		wait = DP_IDLE_PERSIST_NS;
	d->c.idle_sleeps++;
	if (d->n_ports == 1) {
		int r = nic_wait_rx(d->ports[0], wait);
		if (r < 0)
			dp_log(d, DP_LOG_WARN, "poll: %s", strerror(-r));
		return;
	}
	/* Several ports: look at the others, then sleep a slice on the sleep port (a kernel
	 * socket wakes at once on a client datagram); at most wait / slice + 1 rounds. */
	uint64_t slept = 0;
	for (;;) {
		for (uint8_t k = 0; k < d->n_ports; k++)
			if (k != d->sleep_port && nic_wait_rx(d->ports[k], 0) == 1)
				return;
		uint64_t slice = wait - slept < DP_IDLE_SLICE_NS ? wait - slept : DP_IDLE_SLICE_NS;
		int r = nic_wait_rx(d->ports[d->sleep_port], slice);
		if (r != 0) {
			if (r < 0)
				dp_log(d, DP_LOG_WARN, "poll: %s", strerror(-r));
			return;
		}
		slept += slice;
		if (slept >= wait || atomic_load_explicit(d->stop, memory_order_relaxed))
			return;
	}
}

/* ---------------------------------------------------------------------------------- */
/* Receive                                                                             */

/** The node's queue is empty: nothing points into the held datagrams any more. */
static void release_held(struct dp_ctx *d)
{
	for (uint32_t i = 0; i < d->n_held; i++)
		nic_rx_release(d->ports[d->held[i].port], d->held[i].h);
	d->n_held = 0;
}

static void propose(struct dp_ctx *d)
{
	node_flush(d->nd);
	release_held(d);
}

/** Bursts from port k until one comes short (at most DP_RX_ROUNDS_MAX), each datagram
 *  to the node. @return datagrams received. */
static uint32_t rx_port(struct dp_ctx *d, uint8_t k)
{
	struct nic_port *p = d->ports[k];
	struct node_addr src;
	struct dp_client_addr ca;
	uint32_t n = 0;

	memset(&src, 0, sizeof(src));
	memset(&ca, 0, sizeof(ca));
	ca.port = k;
	for (uint32_t round = 0; round < DP_RX_ROUNDS_MAX; round++) {
		uint16_t got = nic_rx_burst(p, d->pkts, DP_RX_BURST);
		for (uint16_t i = 0; i < got; i++) {
			/* Where it came from, as the node keeps it for the REPLY. */
			ca.addr = d->pkts[i].src;
			memcpy(src.b, &ca, sizeof(ca));
			if (d->mac_learn != 0)
				learn_mac(d, &d->pkts[i].src);
			if (!node_recv(d->nd, d->pkts[i].data, d->pkts[i].len, &src)) {
				/* The node may have proposed its queue within the call. */
				if (d->n_held > 0 && node_queued(d->nd) == 0)
					release_held(d);
				continue;
			}
			/* A queued command points into this datagram: keep it past the burst. */
			uint32_t h = nic_rx_hold(p, i);
			if (h == NIC_HOLD_NONE) {
				propose(d);   /* cannot keep it: propose before its view ends */
				continue;
			}
			assert(d->n_held < NODE_QUEUE_MAX);
			d->held[d->n_held++] = (struct dp_hold){ .port = k, .h = h };
		}
		assert(d->n_held == node_queued(d->nd));
		nic_rx_done(p);
		n += got;
		if (got < DP_RX_BURST)
			break;
	}
	return n;
}

static void flush_all(struct dp_ctx *d)
{
	for (uint8_t k = 0; k < d->n_ports; k++)
		nic_tx_flush(d->ports[k]);
}

int dp_run(struct dp_ctx *d)
{
	uint64_t now = dp_now_ns();
	int rc = 0;

	d->start_ns = now;
	d->next_tick_ns = now + d->tick_ns;
	d->next_stats_ns = now + d->stats_interval_ns;
	d->next_pub_ns = now;   /* publish on the first iteration */
	d->last_rx_ns = now;
	d->n_held = 0;

	/* The stop flag is set by a signal handler on this same thread; acquire pairs with
	 * the handler's release store (and costs nothing on x86). */
	while (!atomic_load_explicit(d->stop, memory_order_acquire)) {
		d->c.iterations++;
		uint32_t n = 0;
		for (uint8_t k = 0; k < d->n_ports; k++)
			n += rx_port(d, k);
		/* Whatever every port brought goes as one batch (or several, by size). */
		propose(d);
		/* One-sided log writes: the writes just posted execute (shm: on this CPU) and
		 * their completions count; records that landed here are taken. */
		n += node_rm_poll(d->nd);
		if (d->j != NULL && (rc = poll_journal(d)) != 0)
			break;
		now = dp_now_ns();
		if (n > 0)
			d->last_rx_ns = now;
		run_ticks(d, now);
		/* What the ticks posted (catch-up, HELLOs' answers) goes before any sleep. */
		n += node_rm_poll(d->nd);
		if (node_refused(d->nd) != NULL) {
			/* A peer refused this fresh start (logged by the node). */
			rc = -EPERM;
			break;
		}
		flush_all(d);
		periodic(d, now);
		if (n == 0 && d->cfg->idle == CFG_IDLE_ADAPTIVE)
			idle(d, now);
	}
	if (rc != 0) {
		/* Storage failed, or the cluster refused this replica: propose nothing and
		 * send nothing more. The node is not called again, so the datagrams its
		 * queue points into can go. */
		release_held(d);
		return rc;
	}
	propose(d);   /* nothing is left held when the ports close */
	flush_all(d);
	return 0;
}
