/* SPDX-License-Identifier: Apache-2.0
 * pw-lincheck: checks a JSON Lines history of key-value operations for
 * linearizability. See lincheck.h for the model and the file format.
 *
 * Exit status: 0 linearizable, 1 not linearizable (a witness is printed),
 * 2 undecided within the time limit or cache cap, 3 usage, input or parse error.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "env.h"
#include "lincheck.h"
#include "pw_version.h"

#define PW_LC_EXIT_USAGE 3
#define PW_LC_TIMEOUT_S_DEFAULT 60.0

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: pw-lincheck [--timeout SECONDS] [--cache-mb MB] [--quiet] FILE\n"
		"  Checks a JSON Lines history (FILE, or - for stdin) for linearizability\n"
		"  against a key-value store model.\n"
		"  --timeout SECONDS  give up (exit 2) after this long; 0 = never (default %g)\n"
		"  --cache-mb MB      cap on the search memo; exit 2 when hit (default %zu)\n"
		"  --quiet            print only the summary line\n"
		"exit: 0 linearizable, 1 not linearizable, 2 undecided, 3 usage or parse error\n",
		PW_LC_TIMEOUT_S_DEFAULT, LC_CACHE_BYTES_DEFAULT >> 20);
}

static double
now_s(void)
{
	return (double)env_mono_ns() * 1e-9;
}

static void
print_witness(const struct lc_history *h, const struct lc_witness *w)
{
	char line[2048];

	if (w->cut_ns != UINT64_MAX)
		printf("key \"%.*s\": its %zu operations called by t=%llu ns (of %zu) already "
				"cannot be linearized;\n", (int)w->key_len, w->key, w->prefix_ops,
				(unsigned long long)w->cut_ns, w->key_ops);
	else
		printf("key \"%.*s\": its %zu operations cannot be linearized;\n",
				(int)w->key_len, w->key, w->key_ops);
	printf("%s %zu operations that cannot be ordered (by call time):\n", w->reduced ?
			"a minimal set of" : "a set (not fully reduced: out of time) of", w->n_ops);
	for (size_t i = 0; i < w->n_ops; i++) {
		lc_history_format_op(h, w->ops[i], line, sizeof(line));
		printf("  %s\n", line);
	}
}

int
main(int argc, char **argv)
{
	if (pw_version_arg(argc, argv, "pw-lincheck"))
		return 0;
	struct lc_limits lim = { .time_limit_s = PW_LC_TIMEOUT_S_DEFAULT };
	struct lc_witness w;
	struct lc_history *h;
	const char *path = NULL;
	enum lc_result r;
	char err[256];
	bool quiet = false;
	double t0, t1;
	FILE *f;
	int rc;

	for (int i = 1; i < argc; i++) {
		char *end;

		if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			lim.time_limit_s = strtod(argv[++i], &end);
			if (*end != '\0' || end == argv[i] || !(lim.time_limit_s >= 0)) {
				fprintf(stderr, "pw-lincheck: bad --timeout '%s'\n", argv[i]);
				return PW_LC_EXIT_USAGE;
			}
		} else if (strcmp(argv[i], "--cache-mb") == 0 && i + 1 < argc) {
			unsigned long long mb = strtoull(argv[++i], &end, 10);

			if (*end != '\0' || end == argv[i] || mb == 0 || mb > (SIZE_MAX >> 20)) {
				fprintf(stderr, "pw-lincheck: bad --cache-mb '%s'\n", argv[i]);
				return PW_LC_EXIT_USAGE;
			}
			lim.cache_bytes_max = (size_t)mb << 20;
		} else if (strcmp(argv[i], "--quiet") == 0) {
			quiet = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			usage(stderr);
			return PW_LC_EXIT_USAGE;
		} else if (path == NULL) {
			path = argv[i];
		} else {
			usage(stderr);
			return PW_LC_EXIT_USAGE;
		}
	}
	if (path == NULL) {
		usage(stderr);
		return PW_LC_EXIT_USAGE;
	}

	if (strcmp(path, "-") == 0) {
		f = stdin;
	} else {
		f = fopen(path, "r");
		if (f == NULL) {
			fprintf(stderr, "pw-lincheck: %s: %s\n", path, strerror(errno));
			return PW_LC_EXIT_USAGE;
		}
	}
	h = lc_history_new();
	if (h == NULL) {
		fprintf(stderr, "pw-lincheck: out of memory\n");
		return PW_LC_EXIT_USAGE;
	}
	rc = lc_history_load_jsonl(h, f, err, sizeof(err));
	if (f != stdin)
		fclose(f);
	if (rc != 0) {
		fprintf(stderr, "pw-lincheck: %s: %s\n", path, err);
		lc_history_free(h);
		return PW_LC_EXIT_USAGE;
	}

	t0 = now_s();
	r = lc_check_limits(h, &lim, &w);
	t1 = now_s();
	if (r == LC_NOT_LINEARIZABLE && !quiet)
		print_witness(h, &w);
	printf("pw-lincheck: %s: %zu ops, %zu keys: %s (%.3f s)\n", path, lc_history_size(h),
			lc_history_key_count(h), lc_result_str(r), t1 - t0);
	lc_witness_free(&w);
	lc_history_free(h);
	return (int)r;
}
