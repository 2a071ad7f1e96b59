/* SPDX-License-Identifier: Apache-2.0
 * Seed -> options. Swarm testing (Groce et al., ISSTA 2012): each seed switches every
 * kind of fault on or off and draws its own rates, so some seeds run a calm network with
 * a crash storm, others a lossy, reordering network and no crashes. A seed with every
 * fault at once tends to lose every message and test nothing.
 *
 * The draws below are made in a fixed order from the options stream only: adding an
 * option at the end keeps every earlier option of every seed unchanged.
 */
#include <inttypes.h>
#include <stdio.h>

#include "sim_pvt.h"

const struct sim_bug_name sim_bug_names[] = {
	{"skip-recovery", PX_BUG_SKIP_RECOVERY},
	{"minority-commit", PX_BUG_MINORITY_COMMIT},
	{"accept-lower", PX_BUG_ACCEPT_LOWER},
	{"forget-promises", PX_BUG_FORGET_PROMISES},
	{"commit-stale", PX_BUG_COMMIT_STALE},
	{"read-no-confirm", PX_BUG_READ_NO_CONFIRM},
	{"read-early", PX_BUG_READ_EARLY},
	{"recover-no-bump", PX_BUG_RECOVER_NO_BUMP},
	{"recover-minority", PX_BUG_RECOVER_MINORITY},
	{"merge-any", PX_BUG_MERGE_ANY},
	{"catchup-skip", PX_BUG_CATCHUP_SKIP},
	{"state-needed-any", PX_BUG_STATE_NEEDED_ANY},
	{"chosen-any", PX_BUG_CHOSEN_ANY},
	{"no-sender-check", PX_BUG_NO_SENDER_CHECK},
	{"install-ack-all", PX_BUG_INSTALL_ACK_ALL},
	{"repair-votes", PX_BUG_REPAIR_VOTES},
	{"learner-votes", PX_BUG_LEARNER_VOTES},
	{"conf-no-phase1", PX_BUG_CONF_NO_PHASE1},
	{"conf-no-alpha", PX_BUG_CONF_NO_ALPHA},
	/* Only with --log-transport rdma (node/node_rm.c honours them). */
	{"rm-no-revoke", PX_BUG_RM_NO_REVOKE},
	{"rm-count-posted", PX_BUG_RM_COUNT_POSTED},
};
const uint32_t sim_bug_count = sizeof(sim_bug_names) / sizeof(sim_bug_names[0]);

bool sim_log_reads;
bool sim_auth;
bool sim_rm;
bool sim_rm_verbs;
bool sim_no_bias;
bool sim_no_members;
bool sim_jumps = true;
bool sim_failover;
uint32_t sim_disk_off;

static uint32_t pick_max(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

static uint32_t pick_min(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

void sim_opts_derive(struct sim_opts *o)
{
	struct sim_rng rng;
	struct sim_rng *r = &rng;
	uint32_t v, i;

	sim_rng_seed(r, o->seed, SIM_STREAM_OPTS);
	o->log_reads = sim_log_reads;
	o->auth = sim_auth;

	/* Topology. Three replicas most often: the smallest cluster has the least slack,
	 * so quorum bugs show there first. */
	v = sim_rng_below(r, 100);
	o->n_replicas = v < 50 ? 3 : v < 85 ? 5 : 7;
	o->n_clients = (uint8_t)sim_rng_range(r, 1, SIM_CLIENTS_MAX);
	o->durability = sim_rng_below(r, 2) ? PX_MEMORY : PX_DURABLE;

	/* Timeouts: an election timeout of at least three heartbeats so a healthy leader
	 * is not deposed by one late heartbeat. */
	o->heartbeat_ticks = sim_rng_range(r, 1, 4);
	o->election_ticks = sim_rng_range(r, pick_max(3 * o->heartbeat_ticks, 5),
					  pick_max(10 * o->heartbeat_ticks, 12));

	/* Log geometry. A replica that restarts after the log has outgrown its window, or
	 * falls that far behind, heals by state transfer. Most seeds keep the log (about
	 * one slot per operation) within half a window, in a larger window; the long_log
	 * rest runs small windows long, through catch-up and state transfer. */
	o->long_log = sim_rng_below(r, 10) < 3;
	o->window_slots = o->long_log ? 64u << sim_rng_below(r, 4) :  /* 64..512 */
				    256u << sim_rng_below(r, 3);  /* 256..1024 */
	o->pipeline_slots = sim_rng_range(r, 1, pick_min(o->window_slots / 2, 32));
	o->batch_cmds_max = sim_rng_range(r, 1, 16);
	/* The core wants room for one maximal command in a slot; our commands are small,
	 * so batch_cmds_max (not bytes) bounds a batch. */
	o->slot_bytes = PX_BATCH_HDR_BYTES + PX_CMD_HDR_BYTES + PX_CMD_BYTES_MAX;

	o->fault_time = sim_rng_range(r, 1500, 5000);
	o->liveness_time = 0;  /* set below, once the slowest clock is known */

	/* Network. */
	o->loss_pm = sim_rng_below(r, 2) ? sim_rng_range(r, 1, 300) : 0;
	o->dup_pm = sim_rng_below(r, 10) < 3 ? sim_rng_range(r, 1, 500) : 0;
	o->delay_min = sim_rng_range(r, 1, 2);
	o->delay_max = sim_rng_below(r, 10) < 6 ?
			       o->delay_min + sim_rng_range(r, 1, o->election_ticks) :
			       o->delay_min;
	o->link_queue_max = sim_rng_below(r, 2) ? sim_rng_range(r, 4, 128) : 1024;

	/* Partitions: each kind enabled on its own. */
	o->part_kinds = 0;
	for (i = 0; i < 4; i++)
		if (sim_rng_below(r, 10) < 3)
			o->part_kinds |= 1u << i;
	o->part_gap_max = sim_rng_range(r, 20, 800);
	o->part_len_max = sim_rng_range(r, 10, 400);

	/* Crashes. */
	o->crash_pm = sim_rng_below(r, 2) ? sim_rng_range(r, 1, 20) : 0;
	o->down_max = sim_rng_range(r, 1, 400);
	o->leader_storm_pm = sim_rng_below(r, 10) < 3 ? sim_rng_range(r, 300, 1000) : 0;
	o->persist_delay_max = sim_rng_range(r, 0, 5);
	{
		/* Drawn apart, so the other options of a seed stay what they were. */
		struct sim_rng rs;
		sim_rng_seed(&rs, o->seed, SIM_STREAM_SNAP);
		o->transfer_chunks = sim_rng_range(&rs, 1, 16);
		o->snapshot_every = sim_rng_below(&rs, 2) ? 0 : sim_rng_range(&rs, 4, 128);
		o->mistake_pm = sim_rng_below(&rs, 10) < 3 ? sim_rng_range(&rs, 100, 600) : 0;
	}

	{
		/* The faulty disk: drawn apart too. Each kind on in three seeds of ten
		 * (durable mode only: memory mode has no disk). Liveness bounds them in
		 * sim_node.c: at most f replicas have lost their journal at once. */
		struct sim_rng rd;
		sim_rng_seed(&rd, o->seed, SIM_STREAM_DISK_OPTS);
		o->sector_pm = sim_rng_below(&rd, 10) < 3 ? sim_rng_range(&rd, 50, 400) : 0;
		o->misdirect_pcm = sim_rng_below(&rd, 10) < 3 ? sim_rng_range(&rd, 50, 1000) : 0;
		o->sync_error_pcm = sim_rng_below(&rd, 10) < 3 ? sim_rng_range(&rd, 20, 500) : 0;
		if (o->durability != PX_DURABLE || (sim_disk_off & SIM_DISK_SECTOR))
			o->sector_pm = 0;
		if (o->durability != PX_DURABLE || (sim_disk_off & SIM_DISK_MISDIRECT))
			o->misdirect_pcm = 0;
		if (o->durability != PX_DURABLE || (sim_disk_off & SIM_DISK_SYNC))
			o->sync_error_pcm = 0;
	}

	/* Pauses and clock skew. */
	o->pause_pm = sim_rng_below(r, 10) < 3 ? sim_rng_range(r, 1, 10) : 0;
	o->pause_len_max = sim_rng_range(r, 5, 200);
	v = sim_rng_below(r, 10) < 3;
	for (i = 0; i < SIM_NODES_MAX; i++)
		o->tick_every[i] = (uint8_t)(v && i < SIM_TICK_DRAWS ? sim_rng_range(r, 1, 3) : 1);

	/* Workload: a small key space so that operations conflict. */
	o->keys = sim_rng_range(r, 1, SIM_KEYS_MAX);
	o->think_max = sim_rng_range(r, 0, 20);
	o->client_timeout = sim_rng_range(r, 2 * o->election_ticks, 8 * o->election_ticks);
	o->mix_get = sim_rng_range(r, 0, 10);
	o->mix_put = sim_rng_range(r, 1, 10);   /* >= 1: something must be written */
	o->mix_del = sim_rng_range(r, 0, 4);
	o->mix_cas = sim_rng_range(r, 0, 10);

	o->ops_per_client = o->long_log ? SIM_OPS_PER_CLIENT_MAX :
			    pick_max(1, o->window_slots / 2 / o->n_clients);

	/* A hostile network and harder schedules, each on or off per seed. Corruption:
	 * replica messages rewritten on the wire (sim_net.c says how); stragglers: extra
	 * copies delivered many election timeouts late, across leader changes (late
	 * STATE_NEEDED, PROMISE, read echoes, ...); cut recoveries: memory-mode restarts
	 * whose announcement reaches few replicas before the replica crashes again;
	 * leadership transfers on request. */
	o->corrupt_pm = sim_rng_below(r, 10) < 3 ? sim_rng_range(r, 1, 30) : 0;
	o->straggle_pm = sim_rng_below(r, 10) < 3 ? sim_rng_range(r, 1, 30) : 0;
	o->straggle_max = sim_rng_range(r, 2, 40) * o->election_ticks;
	o->recover_cut_pm = sim_rng_below(r, 10) < 3 ? sim_rng_range(r, 300, 1000) : 0;
	o->transfer_pm = sim_rng_below(r, 10) < 3 ? sim_rng_range(r, 1, 10) : 0;

	/*
	 * A planted bug only shows under the faults that exercise its code path: a
	 * recovery bug needs leader changes, forget-promises needs memory-mode restarts.
	 * With --bug, make sure each seed has such faults. This only raises fault rates
	 * that the seed drew anyway (same draws as without --bug); the checks are the same.
	 */
	if (o->bugs != 0 && !sim_no_bias) {
		if (o->crash_pm == 0)
			o->crash_pm = 2 + (uint32_t)(o->seed % 8);
		if (o->part_kinds == 0)
			o->part_kinds = SIM_PART_ISOLATE | SIM_PART_SPLIT;
		if (o->loss_pm < 50)
			o->loss_pm += 50;
		if (o->leader_storm_pm < 500)
			o->leader_storm_pm = 500;
	}
	if ((o->bugs & PX_BUG_ACCEPT_LOWER) && !sim_no_bias) {
		/* The bug needs an ACCEPT from a deposed leader to arrive after a newer
		 * promise: long, reordering delays make such stragglers common. */
		o->delay_max = pick_max(o->delay_max, o->delay_min + 2 * o->election_ticks);
	}
	if ((o->bugs & PX_BUG_READ_NO_CONFIRM) && !sim_no_bias) {
		/* The bug serves a read at a leader that was deposed without knowing it: a
		 * paused leader (no ticks, so no check-quorum) that still receives requests,
		 * or one cut off with some clients, while the others elect and write. */
		o->mix_get = pick_max(o->mix_get, 4);
		o->pause_len_max = pick_max(o->pause_len_max, 8 * o->election_ticks);
		o->part_kinds |= SIM_PART_SPLIT;
		o->part_len_max = pick_max(o->part_len_max, 8 * o->election_ticks);
	}
	if ((o->bugs & PX_BUG_FORGET_PROMISES) && !sim_no_bias) {
		/* The bug lives in the memory-mode restart path. */
		o->durability = PX_MEMORY;
		o->crash_pm = pick_max(o->crash_pm, 8);
		o->down_max = pick_min(o->down_max, 50);
	}

	if ((o->bugs & PX_BUG_REPAIR_VOTES) && !sim_no_bias) {
		/* The bug lives in the repair of a damaged durable journal: restarts that
		 * find one. */
		o->durability = PX_DURABLE;
		o->crash_pm = pick_max(o->crash_pm, 8);
		o->down_max = pick_min(o->down_max, 50);
		if (!(sim_disk_off & SIM_DISK_SECTOR))
			o->sector_pm = pick_max(o->sector_pm, 500);
	}

	if ((o->bugs & PX_BUG_INSTALL_ACK_ALL) && !sim_no_bias) {
		/* The bug lives in installing a snapshot: replicas must fall a window behind
		 * (small windows, long logs, isolations) while leaders change. */
		o->long_log = true;
		o->window_slots = 64;
		o->pipeline_slots = pick_min(o->pipeline_slots, 32);
		o->ops_per_client = SIM_OPS_PER_CLIENT_MAX;
		o->part_kinds |= SIM_PART_ISOLATE;
		o->part_len_max = pick_max(o->part_len_max, 200);
	}

	{
		/* Membership changes (durable mode): spares that join, voters removed. Drawn
		 * apart; off in memory mode (px_propose_members refuses it) and with a disk
		 * that damages journals (a repair recovers from the cluster file's voters:
		 * docs/consistency.md, "Membership changes", limits). */
		struct sim_rng rm;
		sim_rng_seed(&rm, o->seed, SIM_STREAM_MEMBERS);
		bool on = sim_rng_below(&rm, 10) < 5;
		uint32_t spares = sim_rng_range(&rm, 1, 2);
		uint32_t pm = sim_rng_range(&rm, 2, 20);
		bool conf_bug = (o->bugs & (PX_BUG_LEARNER_VOTES | PX_BUG_CONF_NO_PHASE1 |
					    PX_BUG_CONF_NO_ALPHA)) != 0 && !sim_no_bias;
		if (conf_bug) {
			on = true;
			spares = 2;
			pm = pick_max(pm, 10);
			o->durability = PX_DURABLE;
			o->crash_pm = pick_max(o->crash_pm, 5);
			o->part_kinds |= SIM_PART_ISOLATE | SIM_PART_SPLIT;
		}
		o->n_nodes = o->n_replicas;
		o->members_pm = 0;
		if (on && o->durability == PX_DURABLE && !sim_no_members) {
			o->n_nodes = (uint8_t)pick_min(o->n_replicas + spares, SIM_NODES_MAX);
			o->members_pm = pm;
			o->sector_pm = 0;
			o->misdirect_pcm = 0;
		}
	}

	/* --log-transport rdma: the remote-memory transport serves memory mode only; its
	 * faults, swarm-style: a seed in four writes over a perfect transport, the others
	 * draw loss, tearing and delay (each completing with an error resets the path to
	 * the message path until the leader's next HELLO). */
	o->rm = sim_rm;
	if (o->rm) {
		sim_rng_seed(r, o->seed, SIM_STREAM_RM);
		o->durability = PX_MEMORY;
		/* Memory mode changes no membership (px_propose_members: -ENOTSUP). */
		o->n_nodes = o->n_replicas;
		o->members_pm = 0;
		o->rm_ring = 8u << sim_rng_below(r, 4);
		if (sim_rng_below(r, 4) != 0) {
			o->rm_drop_ppm = sim_rng_below(r, 2) ? sim_rng_below(r, 20000) : 0;
			o->rm_torn_ppm = sim_rng_below(r, 2) ? sim_rng_below(r, 20000) : 0;
			o->rm_delay_ppm = sim_rng_below(r, 2) ? sim_rng_below(r, 300000) : 0;
			o->rm_delay_polls = sim_rng_range(r, 1, 20);
		}
		/* Drawn in every rdma run (the stream stays the same), used with --auth:
		 * every such seed has a fabric that forges. */
		v = sim_rng_range(r, 1, 100);
		o->rm_forge_pm = o->auth ? v : 0;
		/* rdma-verbs: the fake device draws the same faults (rdma/fake_verbs.h). */
		o->rm_verbs = sim_rm_verbs;
		/* Its own draw, made only then: the shm seeds' options stay as they were. */
		if (o->rm_verbs && sim_rng_below(r, 2))
			o->rm_revoke_fail_ppm = sim_rng_below(r, 300000);
	}

	if (sim_failover) {
		/* --failover (sim_pvt.h): microsecond units, the dedicated-core profile,
		 * 5 us links, no faults but the measured crash and transfer (sim_run.c),
		 * clients that keep the leader busy. The seed still draws the topology, the
		 * durability, the log geometry and the workload mix. */
		o->n_nodes = o->n_replicas;
		o->members_pm = 0;
		o->heartbeat_ticks = SIM_FO_HEARTBEAT_US / SIM_FO_TICK_US;
		o->election_ticks = SIM_FO_ELECTION_US / SIM_FO_TICK_US;
		for (i = 0; i < SIM_NODES_MAX; i++)
			o->tick_every[i] = SIM_FO_TICK_US;
		o->delay_min = SIM_FO_LINK_US;
		o->delay_max = SIM_FO_LINK_US;
		o->link_queue_max = 1024;
		o->loss_pm = o->dup_pm = o->corrupt_pm = o->straggle_pm = 0;
		o->part_kinds = 0;
		o->crash_pm = 0;
		o->leader_storm_pm = 0;
		o->pause_pm = 0;
		o->recover_cut_pm = 0;
		o->transfer_pm = 0;
		o->mistake_pm = 0;
		o->sector_pm = o->misdirect_pcm = o->sync_error_pcm = 0;
		o->n_clients = (uint8_t)pick_min(o->n_clients, 8);
		o->think_max = pick_min(o->think_max, 2);
		/* Clients try another replica after 200 us of silence (a per-attempt
		 * timeout in microseconds, as the asynchronous client has): without a
		 * command to commit, a new leader whose phase 1 found nothing pending
		 * commits nothing, so the time includes the clients finding it. */
		o->client_timeout = SIM_FO_CLIENT_US;
		o->long_log = true;
		o->window_slots = 1024;
		o->pipeline_slots = pick_min(o->pipeline_slots, 32);
		o->ops_per_client = SIM_OPS_PER_CLIENT_MAX;
		o->fault_time = SIM_FO_CRASH_US + 1000 + SIM_FO_TRANSFER_US + 1000 +
				SIM_FO_TAIL_US;
	}

	/* The liveness bound: recovery, catch-up of a whole window at the slowest clock,
	 * and a few client timeouts. Generous, but bounded. */
	v = 1;
	for (i = 0; i < o->n_nodes; i++)
		v = pick_max(v, o->tick_every[i]);
	o->liveness_time = 2000 + v * (20 * o->election_ticks +
				       (o->window_slots / PX_CATCHUP_SLOTS_MAX + 4) *
					       o->heartbeat_ticks * 4) +
			   4 * o->client_timeout;
}

void sim_opts_print(const struct sim_opts *o, const char *p)
{
	uint32_t i;

	printf("%sseed=%" PRIu64 "\n", p, o->seed);
	printf("%sbugs=0x%x", p, o->bugs);
	for (i = 0; i < sim_bug_count; i++)
		if (o->bugs & sim_bug_names[i].bit)
			printf(" %s", sim_bug_names[i].name);
	printf("%s\n", o->bugs != 0 && !o->planted ? " (control run: not planted)" : "");
	printf("%sreplicas=%u clients=%u durability=%s\n", p, o->n_replicas, o->n_clients,
	       o->durability == PX_DURABLE ? "durable" : "memory");
	printf("%smembers: spares=%u members_pm=%u\n", p, o->n_nodes - o->n_replicas,
	       o->members_pm);
	printf("%sheartbeat_ticks=%u election_ticks=%u\n", p, o->heartbeat_ticks,
	       o->election_ticks);
	printf("%swindow_slots=%u pipeline_slots=%u batch_cmds_max=%u slot_bytes=%u\n", p,
	       o->window_slots, o->pipeline_slots, o->batch_cmds_max, o->slot_bytes);
	printf("%sfault_time=%u liveness_time=%u\n", p, o->fault_time, o->liveness_time);
	printf("%sloss_pm=%u dup_pm=%u delay=%u..%u link_queue_max=%u\n", p, o->loss_pm,
	       o->dup_pm, o->delay_min, o->delay_max, o->link_queue_max);
	printf("%spartitions=%s%s%s%s%s gap_max=%u len_max=%u\n", p,
	       o->part_kinds == 0 ? "none" : "",
	       o->part_kinds & SIM_PART_ISOLATE ? "isolate," : "",
	       o->part_kinds & SIM_PART_SPLIT ? "split," : "",
	       o->part_kinds & SIM_PART_ASYM ? "asym," : "",
	       o->part_kinds & SIM_PART_SWIZZLE ? "swizzle," : "", o->part_gap_max,
	       o->part_len_max);
	printf("%scrash_pm=%u down_max=%u leader_storm_pm=%u persist_delay_max=%u\n", p,
	       o->crash_pm, o->down_max, o->leader_storm_pm, o->persist_delay_max);
	printf("%stransfer_chunks=%u snapshot_every=%u\n", p, o->transfer_chunks,
	       o->snapshot_every);
	printf("%spause_pm=%u pause_len_max=%u tick_every=", p, o->pause_pm,
	       o->pause_len_max);
	for (i = 0; i < o->n_replicas; i++)
		printf("%s%u", i ? "," : "", o->tick_every[i]);
	printf("\n");
	printf("%skeys=%u think_max=%u client_timeout=%u mix(get,put,del,cas)=%u,%u,%u,%u\n",
	       p, o->keys, o->think_max, o->client_timeout, o->mix_get, o->mix_put,
	       o->mix_del, o->mix_cas);
	printf("%slong_log=%d ops_per_client=%u\n", p, o->long_log, o->ops_per_client);
	printf("%sreads=%s auth=%s\n", p, o->log_reads ? "log" : "read-index",
	       o->auth ? "on" : "off");
	printf("%scorrupt_pm=%u straggle_pm=%u straggle_max=%u recover_cut_pm=%u "
	       "transfer_pm=%u mistake_pm=%u\n", p, o->corrupt_pm, o->straggle_pm, o->straggle_max,
	       o->recover_cut_pm, o->transfer_pm, o->mistake_pm);
	printf("%sdisk: sector_pm=%u misdirect_pcm=%u sync_error_pcm=%u\n", p, o->sector_pm,
	       o->misdirect_pcm, o->sync_error_pcm);
	if (o->rm)
		printf("%slog_transport=rdma (%s) ring=%u drop_ppm=%u torn_ppm=%u delay_ppm=%u "
		       "delay_polls=%u forge_pm=%u revoke_fail_ppm=%u\n", p,
		       o->rm_verbs ? "verbs, fake device" : "shm", o->rm_ring, o->rm_drop_ppm, o->rm_torn_ppm,
		       o->rm_delay_ppm, o->rm_delay_polls, o->rm_forge_pm, o->rm_revoke_fail_ppm);
}
