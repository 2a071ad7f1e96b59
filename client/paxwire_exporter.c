/* SPDX-License-Identifier: Apache-2.0
 * paxwire-exporter: serves every member's metrics in the Prometheus text format over
 * HTTP (GET /metrics), the same text as `pwctl metrics` (client/pw_metrics.c). Each
 * scrape asks every member for every page of its metrics (an admin query, like pwctl
 * stats: nothing is written to the log).
 *
 * A program of its own rather than a thread in paxwired: the HTTP server, its sockets,
 * its allocations and its parsing stay out of the replica's process and off its cores
 * (docs/metrics.md, "Scrape endpoint"). libmicrohttpd runs one internal thread, which
 * is the only one using the client.
 *
 *   paxwire-exporter --config FILE --listen [ADDR:]PORT [--key FILE] [--timeout MS]
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <microhttpd.h>

#include "paxwire.h"
#include "pw_metrics.h"
#include "pw_version.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

static void usage(FILE *f)
{
	fputs(
"usage: paxwire-exporter --config FILE --listen [ADDR:]PORT [--key FILE] [--timeout MS]\n"
"\n"
"Serves the metrics of every member of the cluster in FILE in the Prometheus text\n"
"format at http://ADDR:PORT/metrics (the same text as `pwctl metrics`; docs/metrics.md).\n"
"\n"
"  --config FILE     the cluster file (members, cluster id, authentication)\n"
"  --listen ADDR:PORT  where to serve (ADDR: an IPv4 address, default 127.0.0.1)\n"
"  --key FILE        an admin key (default: $PAXWIRE_KEY_FILE; docs/security.md)\n"
"  --timeout MS      how long to wait for one member's answer (default 1000)\n"
"  --help            this text\n"
"  --version         the version (from git when built) and exit\n", f);
}

static struct pw_client *g_client;
static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void log_line(const char *what)
{
	struct timespec ts;
	struct tm tm;
	char when[40];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%06ldZ paxwire-exporter: %s\n", when, ts.tv_nsec / 1000, what);
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **con_cls)
{
	(void)cls;
	(void)version;
	(void)upload;
	(void)upload_len;
	(void)con_cls;
	struct MHD_Response *r;
	unsigned status;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		static const char msg[] = "only GET /metrics\n";
		r = MHD_create_response_from_buffer(sizeof(msg) - 1u, (void *)msg, MHD_RESPMEM_PERSISTENT);
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
	} else if (strcmp(url, "/metrics") == 0) {
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);
		struct pwm_set *m = pwm_new();
		if (f == NULL || m == NULL) {
			if (f != NULL)
				fclose(f);
			free(text);
			pwm_free(m);
			return MHD_NO;
		}
		pwm_collect(m, g_client, stderr);
		pwm_write(m, f);
		pwm_free(m);
		fclose(f);
		r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
		if (r == NULL)
			free(text);
		status = MHD_HTTP_OK;
	} else {
		static const char msg[] =
			"paxwire-exporter: the metrics are at /metrics (docs/metrics.md)\n";
		r = MHD_create_response_from_buffer(sizeof(msg) - 1u, (void *)msg, MHD_RESPMEM_PERSISTENT);
		status = strcmp(url, "/") == 0 ? MHD_HTTP_OK : MHD_HTTP_NOT_FOUND;
	}
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				status == MHD_HTTP_OK && strcmp(url, "/metrics") == 0
					? CONTENT_TYPE : "text/plain; charset=utf-8");
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/** [ADDR:]PORT into sa; false if it is not one. */
static bool parse_listen(const char *s, struct sockaddr_in *sa)
{
	char host[64] = "127.0.0.1";
	const char *colon = strrchr(s, ':');
	const char *port = s;
	if (colon != NULL) {
		size_t n = (size_t)(colon - s);
		if (n == 0 || n >= sizeof(host))
			return false;
		memcpy(host, s, n);
		host[n] = '\0';
		port = colon + 1;
	}
	char *end = NULL;
	errno = 0;
	unsigned long p = strtoul(port, &end, 10);
	if (port[0] < '0' || port[0] > '9' || *end != '\0' || errno != 0 || p == 0 || p > 65535)
		return false;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)p);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "key", required_argument, NULL, 'k' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct pw_client_opts o;
	const char *listen = NULL;
	struct sockaddr_in sa;
	char err[512];
	int ch;

	pw_client_opts_default(&o);
	o.deadline_ms = 1000;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': o.config_path = optarg; break;
		case 'l': listen = optarg; break;
		case 'k': o.key_file = optarg; break;
		case 't': {
			char *end = NULL;
			unsigned long ms = strtoul(optarg, &end, 10);
			if (optarg[0] < '0' || optarg[0] > '9' || *end != '\0' || ms == 0 || ms > 60000) {
				fprintf(stderr, "paxwire-exporter: --timeout %s: give 1..60000 ms\n", optarg);
				return 2;
			}
			o.deadline_ms = (uint32_t)ms;
			break;
		}
		case 'h': usage(stdout); return 0;
		case 'V': printf("paxwire-exporter (paxwire) %s\n", PW_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || o.config_path == NULL || listen == NULL) {
		fprintf(stderr, "paxwire-exporter: %s (paxwire-exporter --help)\n",
			optind != argc ? "unexpected arguments" :
			o.config_path == NULL ? "--config FILE is required" : "--listen [ADDR:]PORT is required");
		return 2;
	}
	if (!parse_listen(listen, &sa)) {
		fprintf(stderr, "paxwire-exporter: --listen %s: give [IPv4-ADDR:]PORT, e.g. 127.0.0.1:9464\n",
			listen);
		return 2;
	}
	if (o.attempt_timeout_ms > o.deadline_ms)
		o.attempt_timeout_ms = o.deadline_ms;
	g_client = pw_client_open(&o, err, sizeof(err));
	if (g_client == NULL) {
		fprintf(stderr, "paxwire-exporter: %s\n", err);
		return 2;
	}
	/* One internal thread: the only user of the client. */
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
		0, NULL, NULL, answer, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
		MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "paxwire-exporter: cannot serve on %s (in use, or not an address of "
			"this host?): pick another --listen\n", listen);
		pw_client_close(g_client);
		return 2;
	}
	struct sigaction sig;
	memset(&sig, 0, sizeof(sig));
	sig.sa_handler = on_signal;
	sigaction(SIGINT, &sig, NULL);
	sigaction(SIGTERM, &sig, NULL);
	snprintf(err, sizeof(err), "serving http://%s/metrics for %u members of %s", listen,
		 (unsigned)pw_client_members(g_client), o.config_path);
	log_line(err);
	while (!g_stop)
		pause();
	log_line("stopping");
	MHD_stop_daemon(d);
	pw_client_close(g_client);
	return 0;
}
