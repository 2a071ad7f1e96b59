/* SPDX-License-Identifier: Apache-2.0
 * pw-udp-probe: sends key-value commands to a paxwired cluster by hand and prints the
 * REPLY. A smoke-test tool (not installed); the client library and pwctl are the real
 * clients.
 *
 *   pw-udp-probe --config FILE [--to N] [--client-id ID] [--seq S] [--count K]
 *                [--timeout-ms MS] put KEY VALUE | get KEY | del KEY
 *
 * It sends REQUEST(client id, seq, command) to replica N (default 0); on NOT_LEADER it
 * follows leader_hint, on a timeout it tries the next replica, with the same seq (the
 * session makes retries exactly-once). --count K repeats the command K times with
 * seq, seq+1, ... and prints the mean round trip. Exit 0 when every command got OK.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "nic.h"
#include "pw_config.h"
#include "pw_kv.h"
#include "px.h"
#include "px_codec.h"

static const char *const status_names[PX_STATUS_MAX] = {
	"OK", "NOT_LEADER", "SESSION_EXPIRED", "BUSY", "BAD_COMMAND",
};
static const char *const kv_result_names[] = {
	"OK", "NOT_FOUND", "CAS_MISMATCH", "FULL", "BAD",
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: pw-udp-probe --config FILE [--to N] [--client-id ID] [--seq S] [--count K]\n"
		"                    [--timeout-ms MS] [--quiet] put KEY VALUE | get KEY | del KEY\n");
	exit(2);
}

static struct px_msg msg;   /* large; one of them */

/**
 * Sends one command until a replica answers with something other than NOT_LEADER
 * (or attempts run out). @return the final status, or -1 if nobody answered.
 */
static int roundtrip(struct nic_port *p, const struct pw_cluster_cfg *cfg, uint8_t *target,
		     uint64_t client_id, uint64_t seq, const uint8_t *cmd, uint32_t cmd_len,
		     uint32_t timeout_ms, bool quiet)
{
	for (int attempt = 0; attempt < 3 * cfg->n_replicas + 3; attempt++) {
		struct nic_addr to = nic_addr_make(cfg->members[*target].ip_be,
						   cfg->members[*target].port);
		memset(&msg, 0, offsetof(struct px_msg, entries));
		msg.type = PX_MSG_REQUEST;
		msg.from = PX_NODE_NONE;
		msg.to = *target;
		msg.cluster_id = cfg->cluster_id;
		msg.config_epoch = 1;
		msg.n_inc = 0;
		msg.client_id = client_id;
		msg.seq = seq;
		msg.body_len = cmd_len;
		msg.body = cmd_len ? cmd : NULL;
		uint32_t cap;
		uint8_t *buf = nic_tx_buf(p, &cap);
		size_t len = buf ? px_encode(&msg, buf, cap) : 0;
		if (len == 0) {
			fprintf(stderr, "pw-udp-probe: cannot encode the request\n");
			exit(1);
		}
		nic_tx_commit(p, (uint32_t)len, &to);
		nic_tx_flush(p);

		uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
		bool answered = false;
		while (!answered) {
			uint64_t now = now_ns();
			if (now >= deadline)
				break;
			nic_wait_rx(p, deadline - now);
			struct nic_pkt pk[8];
			uint16_t n = nic_rx_burst(p, pk, 8);
			for (uint16_t i = 0; i < n && !answered; i++) {
				enum px_wire_err e = px_decode(pk[i].data, pk[i].len, cfg->cluster_id,
							       cfg->n_replicas, &msg);
				if (e != PX_WIRE_OK) {
					fprintf(stderr, "pw-udp-probe: dropped a datagram: decode error %s\n",
						px_wire_err_name(e));
					continue;
				}
				if (msg.type != PX_MSG_REPLY || msg.client_id != client_id ||
				    msg.seq != seq)
					continue;  /* a late answer to an earlier attempt */
				answered = true;
				if (!quiet)
					printf("reply from replica %u: status %s, leader_hint %d",
					       msg.from, status_names[msg.status],
					       msg.leader_hint == PX_NODE_NONE ? -1 : msg.leader_hint);
				if (msg.status == PX_NOT_LEADER) {
					if (!quiet)
						printf("\n");
					*target = msg.leader_hint != PX_NODE_NONE
							  ? msg.leader_hint
							  : (uint8_t)((*target + 1u) % cfg->n_replicas);
					break;
				}
				struct pw_kv_reply r;
				if (!quiet) {
					if (msg.body_len > 0 &&
					    pw_kv_decode_reply(msg.body, msg.body_len, &r) == 0)
						printf(", kv %s, value '%.*s'\n",
						       kv_result_names[r.result], (int)r.value_len,
						       (const char *)r.value);
					else
						printf(", body %u bytes\n", msg.body_len);
				}
				if (msg.status == PX_BUSY)
					break;   /* retry the same replica */
				nic_rx_done(p);
				return msg.status;
			}
			nic_rx_done(p);
		}
		if (!answered) {
			if (!quiet)
				printf("no reply from replica %u within %u ms\n", *target, timeout_ms);
			*target = (uint8_t)((*target + 1u) % cfg->n_replicas);
		} else if (msg.status != PX_NOT_LEADER && msg.status != PX_BUSY) {
			return msg.status;
		}
	}
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "to", required_argument, NULL, 't' },
		{ "client-id", required_argument, NULL, 'C' },
		{ "seq", required_argument, NULL, 'S' },
		{ "count", required_argument, NULL, 'n' },
		{ "timeout-ms", required_argument, NULL, 'T' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	unsigned long to = 0, count = 1, timeout_ms = 500;
	uint64_t client_id = 0, seq = 1;
	bool quiet = false;
	int o;
	while ((o = getopt_long(argc, argv, "c:t:C:S:n:T:q", opts, NULL)) != -1) {
		switch (o) {
		case 'c': config = optarg; break;
		case 't': to = strtoul(optarg, NULL, 10); break;
		case 'C': client_id = strtoull(optarg, NULL, 10); break;
		case 'S': seq = strtoull(optarg, NULL, 10); break;
		case 'n': count = strtoul(optarg, NULL, 10); break;
		case 'T': timeout_ms = strtoul(optarg, NULL, 10); break;
		case 'q': quiet = true; break;
		default: usage();
		}
	}
	if (config == NULL || optind >= argc)
		usage();
	const char *op = argv[optind];
	int nargs = argc - optind - 1;
	char **av = argv + optind + 1;

	static struct pw_cluster_cfg cfg;
	char err[512];
	if (pw_config_load(config, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "pw-udp-probe: %s\n", err);
		return 1;
	}
	if (to >= cfg.n_replicas) {
		fprintf(stderr, "pw-udp-probe: --to %lu: the cluster has %u replicas\n", to,
			cfg.n_replicas);
		return 2;
	}
	if (client_id == 0 && getrandom(&client_id, sizeof(client_id), 0) != sizeof(client_id))
		client_id = (uint64_t)now_ns();

	static uint8_t cmd[PX_CMD_BYTES_MAX];
	uint32_t cmd_len = 0;
	if (strcmp(op, "put") == 0 && nargs == 2 && strlen(av[0]) <= 255)
		cmd_len = pw_kv_encode_put(cmd, sizeof(cmd), av[0], (uint8_t)strlen(av[0]), av[1],
					   (uint32_t)strlen(av[1]));
	else if (strcmp(op, "get") == 0 && nargs == 1 && strlen(av[0]) <= 255)
		cmd_len = pw_kv_encode_get(cmd, sizeof(cmd), av[0], (uint8_t)strlen(av[0]));
	else if (strcmp(op, "del") == 0 && nargs == 1 && strlen(av[0]) <= 255)
		cmd_len = pw_kv_encode_del(cmd, sizeof(cmd), av[0], (uint8_t)strlen(av[0]));
	else
		usage();
	if (cmd_len == 0) {
		fprintf(stderr, "pw-udp-probe: the command does not fit %u bytes\n", PX_CMD_BYTES_MAX);
		return 2;
	}

	struct nic_conf nc = { .backend = NIC_BACKEND_UDP, .local = nic_addr_make(0, 0),
			       .burst = 8, .buf_bytes = PX_MSG_BYTES_MAX, .tx_bufs = 8 };
	struct nic_port *p = nic_open(&nc, err, sizeof(err));
	if (p == NULL) {
		fprintf(stderr, "pw-udp-probe: %s\n", err);
		return 1;
	}
	if (!quiet)
		printf("client %" PRIu64 " -> cluster %" PRIu32 " replica %lu\n", client_id,
		       cfg.cluster_id, to);
	uint8_t target = (uint8_t)to;
	unsigned long ok = 0;
	uint64_t t0 = now_ns();
	for (unsigned long i = 0; i < count; i++) {
		int st = roundtrip(p, &cfg, &target, client_id, seq + i, cmd, cmd_len,
				   (uint32_t)timeout_ms, quiet);
		if (st == PX_OK)
			ok++;
		else if (st < 0)
			break;
	}
	uint64_t dt = now_ns() - t0;
	if (count > 1 || quiet)
		printf("%lu of %lu commands OK, mean round trip %.1f us\n", ok, count,
		       count ? (double)dt / 1000.0 / (double)count : 0.0);
	nic_close(p);
	return ok == count ? 0 : 1;
}
