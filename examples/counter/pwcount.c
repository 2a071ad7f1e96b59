/* SPDX-License-Identifier: Apache-2.0
 * pwcount: the counter service's command-line client. One command per run, sent with
 * libpaxwire-client's pw_execute (client/paxwire.h) in counter.h's encoding; the
 * client library registers a session and retries, so an ADD is applied once however
 * often it is re-sent.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counter.h"
#include "paxwire.h"
#if __has_include("pw_version.h")   /* built in paxwire's tree: --version */
#include "pw_version.h"
#else
#define pw_version_arg(argc, argv, name) false
#endif

#define EXIT_DONE 0      /* done */
#define EXIT_NO 1        /* a definite no: not found, full, overflow, bad command */
#define EXIT_UNKNOWN 2   /* outcome unknown (the ADD may or may not have been applied) */
#define EXIT_USAGE 3     /* usage, configuration or system error */

static const char usage_text[] =
	"usage: pwcount --config FILE [--timeout MS] add NAME [DELTA]\n"
	"       pwcount --config FILE [--timeout MS] get NAME\n"
	"\n"
	"  add NAME [DELTA]  add DELTA (a signed 64-bit integer, default 1) to counter NAME\n"
	"                    (created at 0 the first time); print the new value\n"
	"  get NAME          print the value of counter NAME (linearizable read)\n"
	"  --config FILE     the cluster file (service = counter)\n"
	"  --timeout MS      total time for the command, retries included (default 3000)\n"
	"\n"
	"exit status: 0 done; 1 a definite no, nothing changed (not found, full, overflow,\n"
	"bad command); 2 outcome unknown (timeout, no leader: the add may or may not have\n"
	"been applied); 3 usage, configuration or system error\n";

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "pwcount: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", usage_text);
	return EXIT_USAGE;
}

static const char *const result_names[] = {
	[CTR_R_OK] = "ok",
	[CTR_R_NOT_FOUND] = "not found: no counter of that name",
	[CTR_R_FULL] = "full: the service holds as many counters as its `counters` allows",
	[CTR_R_OVERFLOW] = "overflow: the sum leaves the signed 64-bit range; nothing changed",
	[CTR_R_BAD] = "bad command (a name longer than the service's name_bytes?)",
};

int main(int argc, char **argv)
{
	if (pw_version_arg(argc, argv, "pwcount"))
		return 0;
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	unsigned long timeout_ms = 3000;
	int o;
	/* "+": options stop at the command, so that "add NAME -5" is a delta, not an option. */
	while ((o = getopt_long(argc, argv, "+c:t:h", opts, NULL)) != -1) {
		char *end = NULL;
		switch (o) {
		case 'c':
			config = optarg;
			break;
		case 't':
			errno = 0;
			timeout_ms = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || timeout_ms == 0 || timeout_ms > 3600000ul)
				return usage_error("--timeout %s: not a number of milliseconds", optarg);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_DONE;
		default:
			return usage_error("%s", "unknown option");
		}
	}
	if (config == NULL)
		return usage_error("%s", "--config FILE is required");
	int left = argc - optind;
	if (left < 2)
		return usage_error("%s", "a command (add NAME [DELTA] or get NAME) is required");
	const char *cmd = argv[optind], *name = argv[optind + 1];
	enum ctr_op op;
	int64_t arg = 0;
	if (strcmp(cmd, "add") == 0 && (left == 2 || left == 3)) {
		op = CTR_ADD;
		arg = 1;
		if (left == 3) {
			char *end = NULL;
			errno = 0;
			long long v = strtoll(argv[optind + 2], &end, 10);
			if (errno != 0 || end == argv[optind + 2] || *end != '\0')
				return usage_error("DELTA %s: not a signed 64-bit integer",
						   argv[optind + 2]);
			arg = v;
		}
	} else if (strcmp(cmd, "get") == 0 && left == 2) {
		op = CTR_GET;
	} else {
		return usage_error("'%s': not add NAME [DELTA] or get NAME", cmd);
	}
	uint8_t buf[CTR_CMD_HDR_BYTES + CTR_NAME_BYTES_MAX];
	uint32_t len = ctr_encode(buf, sizeof(buf), op, name, (uint32_t)strlen(name), arg);
	if (len == 0)
		return usage_error("NAME '%s': empty or longer than 128 bytes", name);

	struct pw_client_opts co;
	pw_client_opts_default(&co);
	co.config_path = config;
	co.deadline_ms = (uint32_t)timeout_ms;
	if (co.attempt_timeout_ms > co.deadline_ms)
		co.attempt_timeout_ms = co.deadline_ms;
	char err[512];
	struct pw_client *c = pw_client_open(&co, err, sizeof(err));
	if (c == NULL) {
		fprintf(stderr, "pwcount: %s\n", err);
		return EXIT_USAGE;
	}
	uint8_t reply[64];
	size_t reply_len = 0;
	int rc = pw_execute(c, buf, len, reply, sizeof(reply), &reply_len);
	pw_client_close(c);
	if (rc != PW_OK && rc != PW_E_BAD_COMMAND) {
		fprintf(stderr, "pwcount: %s\n", pw_strerror(rc));
		return pw_err_outcome_unknown(rc) ? EXIT_UNKNOWN : EXIT_USAGE;
	}
	uint8_t result;
	int64_t value;
	if (ctr_decode_reply(reply, reply_len, &result, &value) != 0) {
		/* Applied by something that is not the counter service. */
		fprintf(stderr, "pwcount: a reply of %zu bytes is no counter reply: does the cluster run service = counter? The outcome is unknown\n",
			reply_len);
		return EXIT_UNKNOWN;
	}
	if (result != CTR_R_OK) {
		fprintf(stderr, "pwcount: %s\n", result_names[result]);
		if (result == CTR_R_OVERFLOW)
			printf("%" PRId64 "\n", value);
		return EXIT_NO;
	}
	printf("%" PRId64 "\n", value);
	return EXIT_DONE;
}
