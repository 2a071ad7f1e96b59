/* SPDX-License-Identifier: Apache-2.0
 * pw-bench-etcd: a closed-loop put load against etcd's HTTP/JSON gRPC-gateway, the
 * fastest etcd client path on a machine where Debian ships no `benchmark` tool and
 * `etcdctl` per request would measure process start-up, not etcd.
 *
 *   pw-bench-etcd --endpoint HOST:PORT [--endpoint ...] [--clients 1] [--seconds 5]
 *                 [--keys 16] [--value-bytes 8] [--rate OPS_PER_S]
 *
 * Each client is a thread with one kept-alive HTTP/1.1 connection (TCP_NODELAY) to one
 * endpoint (clients are spread round-robin over the endpoints given; give only the
 * leader to send every put straight to it, as a paxwire client does). A client sends
 * POST /v3/kv/put {"key":b64,"value":b64} and waits for the whole response before the
 * next one: one put outstanding per client, like pw-bench's closed loop. Keys and
 * values have the shape pw-bench's puts use ("k<n>", "c<client>-<count>" padded with
 * 'x' to --value-bytes).
 *
 * --rate R: open loop instead. Each client sends on its own Poisson schedule of R /
 * clients puts per second; a put whose intended send time has passed while the
 * connection was busy goes out at once, and its latency counts from the intended time,
 * as pw-bench's open loop does (coordinated omission cannot hide a stall).
 *
 * Prints one JSON line with pw-bench's field names (ops_per_s,
 * lat_us_p50/p90/p99/p999/max).
 * Exit 0 when at least one put succeeded and none failed; 1 otherwise; 2 for usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "env.h"
#include "pw_version.h"

#define CLIENTS_MAX 256u
#define ENDPOINTS_MAX 8u
#define SAMPLES_MAX (1u << 20)
#define VALUE_BYTES_MAX 1024u
#define RX_BYTES 16384u
#define TX_BYTES 4096u

_Static_assert(TX_BYTES > 256u + 2u * ((VALUE_BYTES_MAX + 2u) / 3u * 4u),
	       "a request with the largest value fits the send buffer");

struct opts {
	struct sockaddr_in ep[ENDPOINTS_MAX];
	uint32_t n_ep;
	uint32_t clients;
	double seconds;
	uint32_t keys;
	uint32_t value_bytes;
	double rate;        /**< open loop: offered puts/s in all (0: closed loop) */
};

struct worker {
	const struct opts *o;
	uint32_t idx;
	pthread_t th;
	uint64_t seed;
	uint64_t ok, failed;
	uint64_t *lat_ns;
	uint32_t n_samples;
	char err[160];
};

static _Atomic bool stop_flag;

static uint64_t now_ns(void)
{
	return env_mono_ns();
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/** Base64 (RFC 4648, padded) of src[0..n) into dst; returns the length written. */
static size_t b64(char *dst, const uint8_t *src, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)src[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)src[i + 1] << 8;
		if (i + 2 < n)
			v |= src[i + 2];
		dst[o++] = tab[(v >> 18) & 63];
		dst[o++] = tab[(v >> 12) & 63];
		dst[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		dst[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	return o;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/**
 * Reads one HTTP/1.1 response (Content-Length or chunked body) from fd.
 * @return the status code, or -errno / -EPROTO.
 */
static int read_response(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	char *body = NULL;
	for (;;) {
		if (len + 1 >= cap)
			return -EPROTO;
		ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
		if (r == 0)
			return -ECONNRESET;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		len += (size_t)r;
		buf[len] = '\0';
		if (body == NULL) {
			char *e = strstr(buf, "\r\n\r\n");
			if (e == NULL)
				continue;
			body = e + 4;
		}
		size_t hdr_len = (size_t)(body - buf);
		int status = 0;
		if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
			return -EPROTO;
		char *cl = strcasestr(buf, "\r\ncontent-length:");
		if (cl != NULL && cl < body) {
			size_t want = strtoul(cl + 17, NULL, 10);
			if (len - hdr_len >= want)
				return status;
			continue;
		}
		char *te = strcasestr(buf, "\r\ntransfer-encoding: chunked");
		if (te != NULL && te < body) {
			/* Complete when the terminating zero-length chunk has arrived. */
			if (len - hdr_len >= 5 && memcmp(buf + len - 5, "0\r\n\r\n", 5) == 0)
				return status;
			continue;
		}
		return -EPROTO;
	}
}

static int connect_ep(const struct sockaddr_in *a)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)a, sizeof(*a)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	const struct opts *o = w->o;
	const struct sockaddr_in *ep = &o->ep[w->idx % o->n_ep];
	char host[32];
	snprintf(host, sizeof(host), "%s:%u", inet_ntoa(ep->sin_addr), ntohs(ep->sin_port));
	int fd = connect_ep(ep);
	if (fd < 0) {
		snprintf(w->err, sizeof(w->err), "connect %s: %s", host, strerror(-fd));
		w->failed++;
		return NULL;
	}
	static _Thread_local char tx[TX_BYTES], body[TX_BYTES], rx[RX_BYTES];
	char key[32], val[VALUE_BYTES_MAX + 32], kb[64], vb[(VALUE_BYTES_MAX + 32) / 3 * 4 + 8];
	double per_ns = o->rate / (double)o->clients / 1e9;   /* open loop: this client's rate */
	uint64_t intended = now_ns();
	while (!atomic_load_explicit(&stop_flag, memory_order_acquire)) {
		if (per_ns > 0) {
			/* Exponential gap: -ln(U) / rate, U in (0, 1]. */
			double u = ((double)(rnd(&w->seed) >> 11) + 1.0) / 9007199254740992.0;
			intended += (uint64_t)(-log(u) / per_ns);
			uint64_t now = now_ns();
			if (intended > now) {
				uint64_t d = intended - now;
				struct timespec ts = { .tv_sec = (time_t)(d / 1000000000u),
						       .tv_nsec = (long)(d % 1000000000u) };
				nanosleep(&ts, NULL);
				if (atomic_load_explicit(&stop_flag, memory_order_acquire))
					break;
			}
		}
		uint32_t k = (uint32_t)(rnd(&w->seed) % o->keys);
		int kl = snprintf(key, sizeof(key), "k%u", k);
		int vl = snprintf(val, sizeof(val), "c%u-%" PRIu64, w->idx, w->ok);
		while ((uint32_t)vl < o->value_bytes && vl < (int)sizeof(val) - 1)
			val[vl++] = 'x';
		size_t kbl = b64(kb, (const uint8_t *)key, (size_t)kl);
		size_t vbl = b64(vb, (const uint8_t *)val, (size_t)vl);
		int bl = snprintf(body, sizeof(body), "{\"key\":\"%.*s\",\"value\":\"%.*s\"}",
				  (int)kbl, kb, (int)vbl, vb);
		int tl = snprintf(tx, sizeof(tx),
				  "POST /v3/kv/put HTTP/1.1\r\nHost: %s\r\n"
				  "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
				  host, bl, body);
		uint64_t t0 = per_ns > 0 ? intended : now_ns();
		int rc = send_all(fd, tx, (size_t)tl);
		if (rc == 0)
			rc = read_response(fd, rx, sizeof(rx));
		uint64_t t1 = now_ns();
		if (rc == 200) {
			w->ok++;
			if (w->n_samples < SAMPLES_MAX)
				w->lat_ns[w->n_samples++] = t1 - t0;
			continue;
		}
		w->failed++;
		if (rc < 0)
			snprintf(w->err, sizeof(w->err), "%s: %s", host, strerror(-rc));
		else
			snprintf(w->err, sizeof(w->err), "%s: HTTP %d", host, rc);
		break; /* a broken connection or an error status ends this client */
	}
	close(fd);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static void usage_to(FILE *f, int code)
{
	fprintf(f, "usage: pw-bench-etcd --endpoint HOST:PORT [--endpoint ...] [--clients N]\n"
			"                     [--seconds S] [--keys K] [--value-bytes B] [--rate R]\n");
	exit(code);
}

static void usage(void)
{
	usage_to(stderr, 2);
}

static int parse_ep(struct sockaddr_in *a, const char *s)
{
	char h[64];
	const char *c = strrchr(s, ':');
	if (c == NULL || (size_t)(c - s) >= sizeof(h))
		return -EINVAL;
	memcpy(h, s, (size_t)(c - s));
	h[c - s] = '\0';
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)atoi(c + 1));
	if (inet_pton(AF_INET, h, &a->sin_addr) != 1)
		return -EINVAL;
	return 0;
}

int main(int argc, char **argv)
{
	if (pw_version_arg(argc, argv, "pw-bench-etcd"))
		return 0;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			usage_to(stdout, 0);
	struct opts o = {.clients = 1, .seconds = 5, .keys = 16, .value_bytes = 8};
	static const struct option lo[] = {
		{"endpoint", required_argument, NULL, 'e'},
		{"clients", required_argument, NULL, 'c'},
		{"seconds", required_argument, NULL, 's'},
		{"keys", required_argument, NULL, 'k'},
		{"value-bytes", required_argument, NULL, 'v'},
		{"rate", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "e:c:s:k:v:r:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'e':
			if (o.n_ep == ENDPOINTS_MAX || parse_ep(&o.ep[o.n_ep], optarg) != 0)
				usage();
			o.n_ep++;
			break;
		case 'c': o.clients = (uint32_t)atoi(optarg); break;
		case 's': o.seconds = atof(optarg); break;
		case 'k': o.keys = (uint32_t)atoi(optarg); break;
		case 'v': o.value_bytes = (uint32_t)atoi(optarg); break;
		case 'r': o.rate = atof(optarg); break;
		default: usage();
		}
	}
	if (o.n_ep == 0 || o.clients == 0 || o.clients > CLIENTS_MAX || o.seconds <= 0 ||
	    o.keys == 0 || o.value_bytes > VALUE_BYTES_MAX || o.rate < 0)
		usage();

	struct worker *ws = calloc(o.clients, sizeof(*ws));
	if (ws == NULL) {
		fprintf(stderr, "pw-bench-etcd: out of memory\n");
		return 1;
	}
	for (uint32_t i = 0; i < o.clients; i++) {
		ws[i].o = &o;
		ws[i].idx = i;
		ws[i].seed = 0x5eed0000u + i;
		ws[i].lat_ns = malloc(SAMPLES_MAX * sizeof(uint64_t));
		if (ws[i].lat_ns == NULL) {
			fprintf(stderr, "pw-bench-etcd: out of memory\n");
			return 1;
		}
	}
	uint64_t t_start = now_ns();
	for (uint32_t i = 0; i < o.clients; i++)
		pthread_create(&ws[i].th, NULL, worker_main, &ws[i]);
	struct timespec nap = {.tv_sec = (time_t)o.seconds,
			       .tv_nsec = (long)((o.seconds - (double)(time_t)o.seconds) * 1e9)};
	nanosleep(&nap, NULL);
	atomic_store_explicit(&stop_flag, true, memory_order_release);
	uint64_t ok = 0, failed = 0, n = 0;
	for (uint32_t i = 0; i < o.clients; i++) {
		pthread_join(ws[i].th, NULL);
		ok += ws[i].ok;
		failed += ws[i].failed;
		n += ws[i].n_samples;
		if (ws[i].err[0] != '\0')
			fprintf(stderr, "pw-bench-etcd: client %u: %s\n", i, ws[i].err);
	}
	uint64_t t_end = now_ns();
	uint64_t *lat = malloc((n + 1) * sizeof(uint64_t));
	if (lat == NULL) {
		fprintf(stderr, "pw-bench-etcd: out of memory\n");
		return 1;
	}
	uint64_t j = 0;
	for (uint32_t i = 0; i < o.clients; i++) {
		memcpy(lat + j, ws[i].lat_ns, ws[i].n_samples * sizeof(uint64_t));
		j += ws[i].n_samples;
		free(ws[i].lat_ns);
	}
	qsort(lat, n, sizeof(uint64_t), cmp_u64);
#define PCT(p) (n ? (double)lat[(uint64_t)((double)(n - 1) * (p))] : 0.0)
	double secs = (double)(t_end - t_start) / 1e9;
	printf("{\"load\":\"etcd-put-http\",\"mode\":\"%s\",\"rate_offered\":%.0f,"
	       "\"clients\":%u,\"seconds\":%.2f,\"ok\":%" PRIu64
	       ",\"failed\":%" PRIu64 ",\"ops_per_s\":%.0f,\"lat_us_p50\":%.1f,"
	       "\"lat_us_p90\":%.1f,\"lat_us_p99\":%.1f,\"lat_us_p999\":%.1f,"
	       "\"lat_us_max\":%.1f}\n",
	       o.rate > 0 ? "open" : "closed", o.rate, o.clients, secs, ok, failed, (double)ok / secs, PCT(0.5) / 1e3, PCT(0.9) / 1e3,
	       PCT(0.99) / 1e3, PCT(0.999) / 1e3, n ? (double)lat[n - 1] / 1e3 : 0.0);
	fflush(stdout);
	free(lat);
	free(ws);
	return ok > 0 && failed == 0 ? 0 : 1;
}
