/* SPDX-License-Identifier: Apache-2.0
 * pw-bench-wire: the wire floor over kernel UDP on loopback. A forked child echoes a
 * REPLY-sized datagram for every REQUEST-sized datagram it receives; the parent sends one
 * datagram at a time and times each round trip. Nothing is decoded or replicated: this
 * is the least any one client round trip over this transport can cost.
 *
 *   pw-bench-wire [--seconds 3] [--req-bytes 82] [--reply-bytes 67]
 *                 [--server-idle adaptive|block|busy] [--client-idle poll|busy]
 *
 * Defaults copy paxwire over kernel UDP: 82 and 67 bytes are what `pwctl put k3 c0-12345`
 * sends and receives (a put of pw-bench's kv shape); the server idles like paxwired's
 * `idle = adaptive` (spin DP_IDLE_SPIN_NS = 50 us after the last datagram, then sleep in
 * poll() until a datagram or the 1 ms tick); the client waits like libpaxwire-client
 * (a non-blocking recv, then ppoll()).
 *
 * Prints one JSON line: round trips, rtt_us_p50/p90/p99/p999/max.
 * Exit 0 on success; 1 on a socket error; 2 for usage errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "env.h"
#include "pw_version.h"

#define DGRAM_BYTES_MAX 8192u
#define SAMPLES_MAX (1u << 22)
#define SPIN_NS 50000u          /* as DP_IDLE_SPIN_NS in dataplane/dp_pvt.h */
#define TICK_MS 1               /* as tick_us = 1000 in deploy/local-3-udp.ini */

enum server_idle { SRV_ADAPTIVE, SRV_BLOCK, SRV_BUSY };
enum client_idle { CLI_POLL, CLI_BUSY };

static uint64_t now_ns(void)
{
	return env_mono_ns();
}

static int udp_bound(struct sockaddr_in *a)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return -errno;
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t l = sizeof(*a);
	if (bind(fd, (struct sockaddr *)a, sizeof(*a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)a, &l) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/** The echo side; runs until killed by the parent. */
static void serve(int fd, uint32_t reply_bytes, enum server_idle idle)
{
	static uint8_t rx[DGRAM_BYTES_MAX], tx[DGRAM_BYTES_MAX];
	memset(tx, 0xa5, sizeof(tx));
	uint64_t last_rx = now_ns();
	for (;;) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, rx, sizeof(rx), idle == SRV_BLOCK ? 0 : MSG_DONTWAIT,
				     (struct sockaddr *)&from, &fl);
		if (n >= 0) {
			sendto(fd, tx, reply_bytes, 0, (struct sockaddr *)&from, fl);
			last_rx = now_ns();
			continue;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			_exit(1);
		if (idle == SRV_ADAPTIVE && now_ns() - last_rx >= SPIN_NS) {
			struct pollfd p = {.fd = fd, .events = POLLIN};
			poll(&p, 1, TICK_MS);
		}
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static void usage_to(FILE *f, int code)
{
	fprintf(f, "usage: pw-bench-wire [--seconds S] [--req-bytes B] [--reply-bytes B]\n"
			"                     [--server-idle adaptive|block|busy]"
			" [--client-idle poll|busy]\n");
	exit(code);
}

static void usage(void)
{
	usage_to(stderr, 2);
}

int main(int argc, char **argv)
{
	if (pw_version_arg(argc, argv, "pw-bench-wire"))
		return 0;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			usage_to(stdout, 0);
	double seconds = 3;
	uint32_t req_bytes = 82, reply_bytes = 67;
	enum server_idle sidle = SRV_ADAPTIVE;
	enum client_idle cidle = CLI_POLL;
	const char *sname = "adaptive", *cname = "poll";
	static const struct option lo[] = {
		{"seconds", required_argument, NULL, 's'},
		{"req-bytes", required_argument, NULL, 'q'},
		{"reply-bytes", required_argument, NULL, 'r'},
		{"server-idle", required_argument, NULL, 'S'},
		{"client-idle", required_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "s:q:r:S:C:h", lo, NULL)) != -1) {
		switch (ch) {
		case 's': seconds = atof(optarg); break;
		case 'q': req_bytes = (uint32_t)atoi(optarg); break;
		case 'r': reply_bytes = (uint32_t)atoi(optarg); break;
		case 'S':
			sname = optarg;
			if (strcmp(optarg, "adaptive") == 0) sidle = SRV_ADAPTIVE;
			else if (strcmp(optarg, "block") == 0) sidle = SRV_BLOCK;
			else if (strcmp(optarg, "busy") == 0) sidle = SRV_BUSY;
			else usage();
			break;
		case 'C':
			cname = optarg;
			if (strcmp(optarg, "poll") == 0) cidle = CLI_POLL;
			else if (strcmp(optarg, "busy") == 0) cidle = CLI_BUSY;
			else usage();
			break;
		default: usage();
		}
	}
	if (seconds <= 0 || req_bytes == 0 || req_bytes > DGRAM_BYTES_MAX || reply_bytes == 0 ||
	    reply_bytes > DGRAM_BYTES_MAX)
		usage();

	struct sockaddr_in sa, ca;
	int sfd = udp_bound(&sa);
	int cfd = udp_bound(&ca);
	if (sfd < 0 || cfd < 0) {
		fprintf(stderr, "pw-bench-wire: socket: %s\n", strerror(sfd < 0 ? -sfd : -cfd));
		return 1;
	}
	pid_t child = fork();
	if (child < 0) {
		fprintf(stderr, "pw-bench-wire: fork: %s\n", strerror(errno));
		return 1;
	}
	if (child == 0) {
		close(cfd);
		serve(sfd, reply_bytes, sidle);
		_exit(0);
	}
	close(sfd);

	uint64_t *lat = malloc(SAMPLES_MAX * sizeof(uint64_t));
	static uint8_t tx[DGRAM_BYTES_MAX], rx[DGRAM_BYTES_MAX];
	if (lat == NULL) {
		fprintf(stderr, "pw-bench-wire: out of memory\n");
		kill(child, SIGKILL);
		return 1;
	}
	memset(tx, 0x5a, sizeof(tx));
	uint64_t n = 0, bad = 0;
	int rc = 0;
	uint64_t t_start = now_ns(), t_end = t_start + (uint64_t)(seconds * 1e9);
	/* 1,000 warm-up round trips (not timed) so that the child is running. */
	for (uint64_t i = 0; ; i++) {
		uint64_t t0 = now_ns();
		if (t0 >= t_end || n == SAMPLES_MAX)
			break;
		if (sendto(cfd, tx, req_bytes, 0, (struct sockaddr *)&sa, sizeof(sa)) !=
		    (ssize_t)req_bytes) {
			rc = errno;
			break;
		}
		ssize_t got;
		for (;;) {
			got = recv(cfd, rx, sizeof(rx), MSG_DONTWAIT);
			if (got >= 0 || (errno != EAGAIN && errno != EINTR))
				break;
			if (cidle == CLI_POLL) {
				struct pollfd p = {.fd = cfd, .events = POLLIN};
				struct timespec ts = {.tv_sec = 1};
				if (ppoll(&p, 1, &ts, NULL) == 0) {
					got = -1;
					errno = ETIMEDOUT;
					break;
				}
			}
		}
		if (got < 0) {
			rc = errno;
			break;
		}
		uint64_t t1 = now_ns();
		if ((uint32_t)got != reply_bytes)
			bad++;
		if (i >= 1000)
			lat[n++] = t1 - t0;
	}
	uint64_t t_done = now_ns();
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	close(cfd);
	if (rc != 0) {
		fprintf(stderr, "pw-bench-wire: %s\n", strerror(rc));
		free(lat);
		return 1;
	}
	qsort(lat, n, sizeof(uint64_t), cmp_u64);
#define PCT(p) (n ? (double)lat[(uint64_t)((double)(n - 1) * (p))] : 0.0)
	double secs = (double)(t_done - t_start) / 1e9;
	printf("{\"load\":\"udp-pingpong\",\"req_bytes\":%u,\"reply_bytes\":%u,"
	       "\"server_idle\":\"%s\",\"client_idle\":\"%s\",\"seconds\":%.2f,"
	       "\"round_trips\":%" PRIu64 ",\"bad_len\":%" PRIu64 ",\"rtt_per_s\":%.0f,"
	       "\"rtt_us_p50\":%.1f,\"rtt_us_p90\":%.1f,\"rtt_us_p99\":%.1f,"
	       "\"rtt_us_p999\":%.1f,\"rtt_us_max\":%.1f}\n",
	       req_bytes, reply_bytes, sname, cname, secs, n, bad, (double)n / secs,
	       PCT(0.5) / 1e3, PCT(0.9) / 1e3, PCT(0.99) / 1e3, PCT(0.999) / 1e3,
	       n ? (double)lat[n - 1] / 1e3 : 0.0);
	free(lat);
	return bad == 0 && n > 0 ? 0 : 1;
}
