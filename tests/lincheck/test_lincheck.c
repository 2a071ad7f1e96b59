/* SPDX-License-Identifier: Apache-2.0
 * Unit tests for lincheck: hand-made histories with known answers, the JSON Lines
 * loader, generated 10,000-operation histories (and the same with one corrupted read),
 * a hot key, the limits, and pw-lincheck's exit codes.
 *
 * usage: test_lincheck HISTORIES_DIR [PW_LINCHECK_EXE]
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "env.h"
#include "lincheck.h"

#define T_PATH_MAX 1024

static const char *hist_dir;
static const char *cli_path;

/* ------------------------------------------------------------------------------ */
/* Helpers                                                                          */

static double
now_s(void)
{
	return (double)env_mono_ns() * 1e-9;
}

/* Adds one operation; NULL strings mean absent. ok == -1: timed out. */
static void
add(struct lc_history *h, uint32_t client, enum lc_op op, const char *key,
		const char *value, const char *expect, const char *result,
		uint64_t call_ns, uint64_t return_ns, int ok)
{
	struct lc_event ev = {
		.client = client, .op = op, .key = key, .value = value, .expect = expect,
		.result = result, .call_ns = call_ns, .return_ns = return_ns, .ok = ok,
	};

	assert_int_equal(lc_history_add(h, &ev), 0);
}

static struct lc_history *
load(const char *name)
{
	char path[T_PATH_MAX], err[256];
	struct lc_history *h = lc_history_new();
	FILE *f;

	assert_non_null(h);
	snprintf(path, sizeof(path), "%s/%s", hist_dir, name);
	f = fopen(path, "r");
	if (f == NULL)
		fail_msg("cannot open %s: %s", path, strerror(errno));
	if (lc_history_load_jsonl(h, f, err, sizeof(err)) != 0)
		fail_msg("%s: %s", path, err);
	fclose(f);
	return h;
}

static enum lc_result
check_file(const char *name)
{
	struct lc_history *h = load(name);
	enum lc_result r = lc_check(h, 10.0, NULL);

	lc_history_free(h);
	return r;
}

/* Loads text through the JSON Lines loader; returns its rc, err filled. */
static int
load_text(struct lc_history *h, const char *text, char *err, size_t errlen)
{
	FILE *f = fmemopen((void *)(uintptr_t)text, strlen(text), "r");
	int rc;

	assert_non_null(f);
	rc = lc_history_load_jsonl(h, f, err, errlen);
	fclose(f);
	return rc;
}

/* Rebuilds the witness's operations as a history of their own. */
static struct lc_history *
witness_history(const struct lc_history *h, const struct lc_witness *w)
{
	struct lc_history *s = lc_history_new();

	assert_non_null(s);
	for (size_t i = 0; i < w->n_ops; i++) {
		struct lc_event ev;

		assert_int_equal(lc_history_event(h, w->ops[i], &ev), 0);
		assert_int_equal(lc_history_add(s, &ev), 0);
	}
	return s;
}

static bool
witness_has(const struct lc_witness *w, size_t idx)
{
	for (size_t i = 0; i < w->n_ops; i++)
		if (w->ops[i] == idx)
			return true;
	return false;
}

/* ------------------------------------------------------------------------------ */
/* Hand-made histories                                                              */

static void
test_empty(void **state)
{
	struct lc_history *h = lc_history_new();

	(void)state;
	assert_int_equal(lc_check(h, 1.0, NULL), LC_LINEARIZABLE);
	assert_int_equal(lc_history_size(h), 0);
	lc_history_free(h);
}

static void
test_stale_read(void **state)
{
	struct lc_history *h = load("stale_read.jsonl");
	struct lc_witness w;

	(void)state;
	assert_int_equal(lc_check(h, 10.0, &w), LC_NOT_LINEARIZABLE);
	assert_int_equal(w.key_len, 2);
	assert_memory_equal(w.key, "k1", 2);
	assert_int_equal(w.key_ops, 3);
	assert_int_equal(w.prefix_ops, 3);
	assert_true(w.reduced);
	/* Every operation is needed: without put v2 the read is fine, without put v1
	 * the read would read a value nobody wrote (not a real proof). */
	assert_int_equal(w.n_ops, 3);
	for (size_t i = 0; i < 3; i++) {
		struct lc_event ev;

		assert_int_equal(lc_history_event(h, w.ops[i], &ev), 0);
		assert_int_equal(ev.line, i + 1);
	}
	lc_witness_free(&w);
	assert_null(w.ops);
	lc_history_free(h);
}

static void
test_lost_write(void **state)
{
	struct lc_history *h = load("lost_write.jsonl");
	struct lc_witness w;

	(void)state;
	assert_int_equal(lc_check(h, 10.0, &w), LC_NOT_LINEARIZABLE);
	assert_int_equal(w.n_ops, 2);
	lc_witness_free(&w);
	lc_history_free(h);
}

static void
test_overlap(void **state)
{
	(void)state;
	assert_int_equal(check_file("overlap_ok.jsonl"), LC_LINEARIZABLE);
	assert_int_equal(check_file("overlap_bad.jsonl"), LC_NOT_LINEARIZABLE);
}

static void
test_overlap_order_in_memory(void **state)
{
	struct lc_history *h;

	(void)state;
	/* put v1 and put v2 overlap each other and both reads; the reads see v1 then v2,
	 * so only "put v1, get v1, put v2, get v2" works. */
	h = lc_history_new();
	add(h, 1, LC_PUT, "k", "v1", NULL, NULL, 0, 100, 1);
	add(h, 2, LC_PUT, "k", "v2", NULL, NULL, 5, 100, 1);
	add(h, 3, LC_GET, "k", NULL, NULL, "v1", 10, 40, 1);
	add(h, 4, LC_GET, "k", NULL, NULL, "v2", 50, 90, 1);
	assert_int_equal(lc_check(h, 10.0, NULL), LC_LINEARIZABLE);
	/* A read of v1 after v2 was seen cannot be ordered. */
	add(h, 3, LC_GET, "k", NULL, NULL, "v1", 95, 99, 1);
	assert_int_equal(lc_check(h, 10.0, NULL), LC_NOT_LINEARIZABLE);
	lc_history_free(h);

	/* Touching intervals count as concurrent: the get returning at 10 may follow the
	 * put called at 10. */
	h = lc_history_new();
	add(h, 1, LC_GET, "k", NULL, NULL, "v", 0, 10, 1);
	add(h, 2, LC_PUT, "k", "v", NULL, NULL, 10, 20, 1);
	assert_int_equal(lc_check(h, 10.0, NULL), LC_LINEARIZABLE);
	add(h, 3, LC_GET, "k", NULL, NULL, "v", 0, 9, 1);
	assert_int_equal(lc_check(h, 10.0, NULL), LC_NOT_LINEARIZABLE);
	lc_history_free(h);
}

static void
test_keys_independent(void **state)
{
	struct lc_history *h = lc_history_new();
	struct lc_witness w;

	(void)state;
	/* Each key alone is fine, so the whole is (the model has no cross-key ops). */
	add(h, 1, LC_PUT, "a", "1", NULL, NULL, 0, 10, 1);
	add(h, 1, LC_PUT, "b", "1", NULL, NULL, 20, 30, 1);
	add(h, 2, LC_GET, "a", NULL, NULL, "1", 40, 50, 1);
	add(h, 2, LC_GET, "b", NULL, NULL, "1", 40, 50, 1);
	add(h, 2, LC_GET, "c", NULL, NULL, NULL, 40, 50, 1);
	assert_int_equal(lc_check(h, 10.0, NULL), LC_LINEARIZABLE);
	assert_int_equal(lc_history_key_count(h), 3);
	/* The same value under another key does not satisfy a read. */
	add(h, 3, LC_GET, "c", NULL, NULL, "1", 60, 70, 1);
	assert_int_equal(lc_check(h, 10.0, &w), LC_NOT_LINEARIZABLE);
	assert_int_equal(w.key_len, 1);
	assert_memory_equal(w.key, "c", 1);
	assert_int_equal(w.n_ops, 1);
	assert_int_equal(w.ops[0], 5);
	lc_witness_free(&w);
	lc_history_free(h);
}

static void
test_del(void **state)
{
	struct lc_history *h = lc_history_new();

	(void)state;
	add(h, 1, LC_DEL, "k", NULL, NULL, NULL, 0, 5, 1);          /* absent: still ok */
	add(h, 1, LC_PUT, "k", "v", NULL, NULL, 10, 20, 1);
	add(h, 2, LC_DEL, "k", NULL, NULL, NULL, 30, 40, 1);
	add(h, 3, LC_GET, "k", NULL, NULL, NULL, 50, 60, 1);
	assert_int_equal(lc_check(h, 10.0, NULL), LC_LINEARIZABLE);
	add(h, 3, LC_GET, "k", NULL, NULL, "v", 70, 80, 1);
	assert_int_equal(lc_check(h, 10.0, NULL), LC_NOT_LINEARIZABLE);
	lc_history_free(h);
}

static void
test_cas(void **state)
{
	struct lc_history *h;

	(void)state;
	assert_int_equal(check_file("cas_ok.jsonl"), LC_LINEARIZABLE);
	assert_int_equal(check_file("cas_bad_swap.jsonl"), LC_NOT_LINEARIZABLE);
	assert_int_equal(check_file("cas_bad_fail.jsonl"), LC_NOT_LINEARIZABLE);

	/* Two concurrent cas from absent: only one may win. */
	h = lc_history_new();
	add(h, 1, LC_CAS, "k", "a", NULL, NULL, 0, 100, 1);
	add(h, 2, LC_CAS, "k", "b", NULL, NULL, 0, 100, 0);
	assert_int_equal(lc_check(h, 10.0, NULL), LC_LINEARIZABLE);
	add(h, 3, LC_CAS, "k", "c", NULL, NULL, 0, 100, 1);
	assert_int_equal(lc_check(h, 10.0, NULL), LC_NOT_LINEARIZABLE);
	lc_history_free(h);

	/* A failed cas is a read: it needs a value other than expect at some point in
	 * its interval. */
	h = lc_history_new();
	add(h, 1, LC_PUT, "k", "x", NULL, NULL, 0, 10, 1);
	add(h, 2, LC_CAS, "k", "z", "x", NULL, 5, 30, 0);    /* before the put: absent */
	assert_int_equal(lc_check(h, 10.0, NULL), LC_LINEARIZABLE);
	add(h, 2, LC_CAS, "k", "z", "x", NULL, 40, 50, 0);   /* after: must see x */
	assert_int_equal(lc_check(h, 10.0, NULL), LC_NOT_LINEARIZABLE);
	lc_history_free(h);

	/* A timed-out cas may have swapped, or not. */
	h = lc_history_new();
	add(h, 1, LC_PUT, "k", "x", NULL, NULL, 0, 10, 1);
	add(h, 2, LC_CAS, "k", "y", "x", NULL, 20, 0, -1);
	add(h, 3, LC_GET, "k", NULL, NULL, "x", 30, 40, 1);
	add(h, 3, LC_GET, "k", NULL, NULL, "y", 50, 60, 1);
	assert_int_equal(lc_check(h, 10.0, NULL), LC_LINEARIZABLE);
	add(h, 3, LC_GET, "k", NULL, NULL, "x", 70, 80, 1);   /* and it cannot undo */
	assert_int_equal(lc_check(h, 10.0, NULL), LC_NOT_LINEARIZABLE);
	lc_history_free(h);
}

static void
test_timeouts(void **state)
{
	struct lc_history *h;

	(void)state;
	assert_int_equal(check_file("timeout_applied.jsonl"), LC_LINEARIZABLE);
	assert_int_equal(check_file("timeout_lost.jsonl"), LC_LINEARIZABLE);
	assert_int_equal(check_file("timeout_bad.jsonl"), LC_NOT_LINEARIZABLE);
	assert_int_equal(check_file("timeout_early.jsonl"), LC_NOT_LINEARIZABLE);

	/* Failed (rejected) put, get and del are dropped: they did not take effect. */
	h = lc_history_new();
	add(h, 1, LC_PUT, "k", "v1", NULL, NULL, 0, 10, 1);
	add(h, 2, LC_PUT, "k", "v2", NULL, NULL, 20, 30, 0);
	add(h, 2, LC_DEL, "k", NULL, NULL, NULL, 20, 30, 0);
	add(h, 2, LC_GET, "k", NULL, NULL, "junk", 20, 30, 0);
	add(h, 2, LC_GET, "k", NULL, NULL, "junk", 20, 0, -1);
	add(h, 3, LC_GET, "k", NULL, NULL, "v1", 40, 50, 1);
	assert_int_equal(lc_check(h, 10.0, NULL), LC_LINEARIZABLE);
	add(h, 3, LC_GET, "k", NULL, NULL, "v2", 60, 70, 1);
	assert_int_equal(lc_check(h, 10.0, NULL), LC_NOT_LINEARIZABLE);
	lc_history_free(h);

	/* A timed-out del may have happened: the read of absent is then fine. */
	h = lc_history_new();
	add(h, 1, LC_PUT, "k", "v1", NULL, NULL, 0, 10, 1);
	add(h, 2, LC_DEL, "k", NULL, NULL, NULL, 20, 0, -1);
	add(h, 3, LC_GET, "k", NULL, NULL, "v1", 30, 40, 1);
	add(h, 3, LC_GET, "k", NULL, NULL, NULL, 50, 60, 1);
	assert_int_equal(lc_check(h, 10.0, NULL), LC_LINEARIZABLE);
	lc_history_free(h);

	/* Many timed-out puts whose values nobody reads must not blow the search up
	 * (they are pruned), while one whose value is read still counts. */
	h = lc_history_new();
	for (int i = 0; i < 200; i++) {
		char v[16];

		snprintf(v, sizeof(v), "t%d", i);
		add(h, (uint32_t)i, LC_PUT, "k", v, NULL, NULL, (uint64_t)i, 0, -1);
	}
	add(h, 1000, LC_PUT, "k", "a", NULL, NULL, 0, 1000, 1);
	add(h, 1001, LC_GET, "k", NULL, NULL, "t7", 2000, 2010, 1);
	add(h, 1001, LC_GET, "k", NULL, NULL, "t7", 2020, 2030, 1);
	assert_int_equal(lc_check(h, 10.0, NULL), LC_LINEARIZABLE);
	add(h, 1001, LC_GET, "k", NULL, NULL, "a", 2040, 2050, 1);
	assert_int_equal(lc_check(h, 10.0, NULL), LC_NOT_LINEARIZABLE);
	lc_history_free(h);
}

static void
test_add_rejects(void **state)
{
	struct lc_history *h = lc_history_new();
	char big[LC_STR_LEN_MAX + 2];
	struct lc_event ev = {
		.op = LC_PUT, .key = "k", .value = "v", .call_ns = 10, .return_ns = 5, .ok = 1,
	};

	(void)state;
	assert_int_equal(lc_history_add(h, &ev), -EINVAL);     /* returns before call */
	ev.ok = -1;
	assert_int_equal(lc_history_add(h, &ev), 0);           /* timed out: ignored */
	ev.ok = 2;
	assert_int_equal(lc_history_add(h, &ev), -EINVAL);
	ev.ok = 1;
	ev.return_ns = 20;
	ev.value = NULL;
	assert_int_equal(lc_history_add(h, &ev), -EINVAL);     /* put without value */
	ev.value = "v";
	ev.key = NULL;
	assert_int_equal(lc_history_add(h, &ev), -EINVAL);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ev.key = big;
	assert_int_equal(lc_history_add(h, &ev), -EINVAL);
	ev.key = "k";
	ev.op = (enum lc_op)9;
	assert_int_equal(lc_history_add(h, &ev), -EINVAL);
	/* Explicit lengths: binary values with a NUL inside are distinct values. */
	ev.op = LC_PUT;
	ev.value = "a\0b";
	ev.value_len = 3;
	assert_int_equal(lc_history_add(h, &ev), 0);
	assert_int_equal(lc_history_size(h), 2);
	{
		struct lc_event back;

		assert_int_equal(lc_history_event(h, 1, &back), 0);
		assert_int_equal(back.value_len, 3);
		assert_memory_equal(back.value, "a\0b", 3);
		assert_int_equal(lc_history_event(h, 2, &back), -ERANGE);
	}
	lc_history_free(h);

	/* The empty string is a value like any other, distinct from absent, and reads
	 * back as a NUL-terminated "" so that the event can be added again as is. */
	h = lc_history_new();
	add(h, 1, LC_PUT, "", "", NULL, NULL, 0, 10, 1);
	add(h, 2, LC_GET, "", NULL, NULL, "", 20, 30, 1);
	assert_int_equal(lc_check(h, 10.0, NULL), LC_LINEARIZABLE);
	{
		struct lc_history *h2 = lc_history_new();
		struct lc_event back;

		for (size_t i = 0; i < 2; i++) {
			assert_int_equal(lc_history_event(h, i, &back), 0);
			assert_int_equal(back.key_len, 0);
			assert_string_equal(back.key, "");
			assert_int_equal(lc_history_add(h2, &back), 0);
		}
		assert_int_equal(lc_check(h2, 10.0, NULL), LC_LINEARIZABLE);
		add(h2, 2, LC_GET, "", NULL, NULL, NULL, 40, 50, 1);
		assert_int_equal(lc_check(h2, 10.0, NULL), LC_NOT_LINEARIZABLE);
		lc_history_free(h2);
	}
	lc_history_free(h);
}

/* ------------------------------------------------------------------------------ */
/* JSON Lines loader                                                                */

static void
test_parse_ok(void **state)
{
	struct lc_history *h = lc_history_new();
	struct lc_event ev;
	char err[256];
	char buf[512];

	(void)state;
	assert_int_equal(load_text(h,
		"# comment\n"
		"\n"
		"  { \"op\" : \"put\", \"key\":\"k\\\"1\","
		" \"value\":\"a\\\\b\\n\\t\\u00e9\\ud83d\\ude00\","
		" \"call_ns\":1, \"return_ns\":2, \"ok\":true, \"extra\":{} }\r\n",
		err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "line 3"));
	assert_non_null(strstr(err, "nested"));
	lc_history_free(h);

	h = lc_history_new();
	assert_int_equal(load_text(h,
		"# comment\n"
		"\n"
		"  { \"op\" : \"put\", \"key\":\"k\\\"1\","
		" \"value\":\"a\\\\b\\n\\t\\u00e9\\ud83d\\ude00\","
		" \"call_ns\":1, \"return_ns\":2, \"ok\":true, \"extra\":[1] , \"x\":1}\r\n",
		err, sizeof(err)), -EINVAL);
	lc_history_free(h);

	h = lc_history_new();
	assert_int_equal(load_text(h,
		"# comment\n"
		"\n"
		"  { \"op\" : \"put\", \"key\":\"k\\\"1\","
		" \"value\":\"a\\\\b\\n\\t\\u00e9\\ud83d\\ude00\","
		" \"call_ns\":1, \"return_ns\":2, \"ok\":true, \"note\":\"x\", \"n\":-1.5e3 }\r\n"
		"{\"op\":\"get\",\"key\":7,\"result\":null,\"call_ns\":3,\"return_ns\":4.0}\n"
		"{\"op\":\"delete\",\"key\":\"k\",\"call_ns\":5}\n"
		"{\"client\":4,\"op\":\"cas\",\"key\":\"k\",\"expect\":null,\"value\":\"v\","
		"\"call_ns\":6,\"return_ns\":null,\"ok\":null}\n",
		err, sizeof(err)), 0);
	assert_int_equal(lc_history_size(h), 4);

	assert_int_equal(lc_history_event(h, 0, &ev), 0);
	assert_int_equal(ev.op, LC_PUT);
	assert_int_equal(ev.line, 3);
	assert_int_equal(ev.key_len, 3);
	assert_memory_equal(ev.key, "k\"1", 3);
	assert_int_equal(ev.value_len, 11);
	assert_memory_equal(ev.value, "a\\b\n\t\xc3\xa9\xf0\x9f\x98\x80", 11);
	assert_int_equal(ev.ok, 1);

	assert_int_equal(lc_history_event(h, 1, &ev), 0);
	assert_int_equal(ev.op, LC_GET);
	assert_memory_equal(ev.key, "7", 1);
	assert_null(ev.result);
	assert_int_equal(ev.ok, 1);                 /* missing ok, numeric return: ok */
	assert_int_equal(ev.return_ns, 4);

	assert_int_equal(lc_history_event(h, 2, &ev), 0);
	assert_int_equal(ev.op, LC_DEL);
	assert_int_equal(ev.ok, -1);                /* missing ok and return: timed out */
	assert_int_equal(ev.return_ns, UINT64_MAX);

	assert_int_equal(lc_history_event(h, 3, &ev), 0);
	assert_int_equal(ev.op, LC_CAS);
	assert_int_equal(ev.client, 4);
	assert_null(ev.expect);
	assert_int_equal(ev.ok, -1);

	assert_true(lc_history_format_op(h, 0, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "line 3: client 0 put \"k\\\"1\""));
	assert_true(lc_history_format_op(h, 3, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "expect absent"));
	assert_non_null(strstr(buf, "timed out"));
	assert_int_equal(lc_history_format_op(h, 4, buf, sizeof(buf)), -ERANGE);
	lc_history_free(h);
}

static void
test_parse_errors(void **state)
{
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
		{ "{\"op\":\"put\",\"key\":\"k\",\"value\":\"v\",\"call_ns\":1,\"return_ns\":2,}\n",
		  "line 1" },
		{ "\n{\"op\":\"put\",\"key\":\"k\",\"call_ns\":1,\"return_ns\":2}\n",
		  "line 2: put" },
		{ "{\"op\":\"get\",\"key\":\"k\",\"call_ns\":1,\"return_ns\":2,\"ok\":true}\n",
		  "result" },
		{ "{\"op\":\"cas\",\"key\":\"k\",\"value\":\"v\",\"call_ns\":1,\"return_ns\":2}\n",
		  "expect" },
		{ "{\"op\":\"nop\",\"key\":\"k\",\"call_ns\":1,\"return_ns\":2}\n", "op" },
		{ "{\"op\":\"del\",\"key\":\"k\",\"call_ns\":3,\"return_ns\":2}\n", "before" },
		{ "{\"op\":\"del\",\"key\":\"k\",\"call_ns\":-3,\"return_ns\":2}\n", "call_ns" },
		{ "{\"op\":\"del\",\"key\":\"k\",\"call_ns\":1,\"return_ns\":2} x\n", "trailing" },
		{ "{\"op\":\"del\",\"op\":\"del\",\"key\":\"k\",\"call_ns\":1}\n", "duplicate" },
		{ "{\"op\":\"del\",\"key\":\"k\\q\",\"call_ns\":1}\n", "escape" },
		{ "{\"op\":\"del\",\"key\":\"k,\"call_ns\":1}\n", "line 1" },
		{ "[1,2]\n", "'{'" },
		{ "{\"op\":\"del\",\"key\":\"k\",\"call_ns\":1,\"ok\":\"yes\"}\n", "ok" },
		{ "{\"op\":\"del\",\"call_ns\":1}\n", "key" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct lc_history *h = lc_history_new();
		char err[256];

		assert_int_equal(load_text(h, cases[i].text, err, sizeof(err)), -EINVAL);
		if (strstr(err, cases[i].want) == NULL)
			fail_msg("case %zu: error '%s' lacks '%s'", i, err, cases[i].want);
		lc_history_free(h);
	}
}

static void
test_parse_error_file(void **state)
{
	char path[T_PATH_MAX], err[256];
	struct lc_history *h = lc_history_new();
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/parse_error.jsonl", hist_dir);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(lc_history_load_jsonl(h, f, err, sizeof(err)), -EINVAL);
	fclose(f);
	assert_non_null(strstr(err, "line 3"));
	lc_history_free(h);
}

/* ------------------------------------------------------------------------------ */
/* Generated histories                                                              */

struct gen_op {
	struct lc_event ev;
	uint64_t point_ns;      /* true linearization point, inside [call, return] */
	int applied;            /* took effect (for timed-out ops: chosen at random) */
	char key[16];
	char value[16];
	char expect[16];
	char result[16];
};

static uint64_t gen_rng;

static uint64_t
gen_next(void)
{
	/* xorshift64*: deterministic across platforms. */
	gen_rng ^= gen_rng >> 12;
	gen_rng ^= gen_rng << 25;
	gen_rng ^= gen_rng >> 27;
	return gen_rng * 0x2545f4914f6cdd1dull;
}

static uint64_t
gen_below(uint64_t n)
{
	return gen_next() % n;
}

static int
gen_point_cmp(const void *pa, const void *pb)
{
	const struct gen_op *a = *(const struct gen_op *const *)pa;
	const struct gen_op *b = *(const struct gen_op *const *)pb;

	if (a->point_ns != b->point_ns)
		return a->point_ns < b->point_ns ? -1 : 1;
	return a < b ? -1 : a > b;
}

/*
 * A linearizable history: each client runs operations back to back, each with a true
 * linearization point drawn inside its interval; results are computed by running a
 * sequential register per key in point order. Values written are unique. About 1% of
 * operations time out (half of those take effect) and 1% of puts are rejected.
 */
static struct gen_op *
gen_history(uint64_t seed, size_t n_ops, uint32_t n_clients, uint32_t n_keys)
{
	struct gen_op *ops = calloc(n_ops, sizeof(*ops));
	struct gen_op **by_point = calloc(n_ops, sizeof(*by_point));
	char (*state)[16] = calloc(n_keys, sizeof(*state));  /* "" = absent */
	uint64_t *clock = calloc(n_clients, sizeof(*clock));
	uint32_t next_value = 0;

	assert_non_null(ops);
	assert_non_null(by_point);
	assert_non_null(state);
	assert_non_null(clock);
	gen_rng = seed * 0x9e3779b97f4a7c15ull + 1;
	for (uint32_t c = 0; c < n_clients; c++)
		clock[c] = gen_below(1000);
	for (size_t i = 0; i < n_ops; i++) {
		struct gen_op *o = &ops[i];
		uint32_t c = (uint32_t)(i % n_clients);
		uint64_t r = gen_below(100);

		o->ev.client = c;
		o->ev.call_ns = clock[c] + 1 + gen_below(100);
		o->point_ns = o->ev.call_ns + gen_below(500);
		o->ev.return_ns = o->point_ns + gen_below(500);
		clock[c] = o->ev.return_ns;
		snprintf(o->key, sizeof(o->key), "k%u", (unsigned)gen_below(n_keys));
		o->ev.key = o->key;
		o->ev.ok = 1;
		o->applied = 1;
		o->ev.op = r < 35 ? LC_PUT : r < 75 ? LC_GET : r < 82 ? LC_DEL : LC_CAS;
		if (o->ev.op == LC_PUT || o->ev.op == LC_CAS) {
			snprintf(o->value, sizeof(o->value), "v%u", next_value++);
			o->ev.value = o->value;
		}
		if (gen_below(100) == 0) {
			o->ev.ok = -1;
			o->applied = (int)gen_below(2);
		} else if (o->ev.op == LC_PUT && gen_below(100) == 0) {
			o->ev.ok = 0;
			o->applied = 0;
		}
		by_point[i] = o;
	}
	qsort(by_point, n_ops, sizeof(*by_point), gen_point_cmp);
	for (size_t i = 0; i < n_ops; i++) {
		struct gen_op *o = by_point[i];
		char *s = state[atoi(o->key + 1)];

		switch (o->ev.op) {
		case LC_PUT:
			if (o->applied)
				snprintf(s, 16, "%s", o->value);
			break;
		case LC_DEL:
			if (o->applied)
				s[0] = '\0';
			break;
		case LC_GET:
			if (s[0] != '\0') {
				snprintf(o->result, sizeof(o->result), "%s", s);
				o->ev.result = o->result;
			}
			break;
		case LC_CAS:
			/* Half the time expect the current value, so that some swap. */
			if (gen_below(2) == 0)
				snprintf(o->expect, sizeof(o->expect), "%s", s);
			else if (gen_below(2) == 0)
				snprintf(o->expect, sizeof(o->expect), "v%u",
						(unsigned)gen_below(next_value));
			else
				o->expect[0] = '\0';
			o->ev.expect = o->expect[0] != '\0' ? o->expect : NULL;
			if (o->applied && strcmp(s, o->expect) == 0)
				snprintf(s, 16, "%s", o->value);
			else if (o->ev.ok == 1)
				o->ev.ok = 0;   /* applied, comparison failed */
			break;
		}
	}
	free(by_point);
	free(state);
	free(clock);
	return ops;
}

static struct lc_history *
gen_to_history(const struct gen_op *ops, size_t n)
{
	struct lc_history *h = lc_history_new();

	assert_non_null(h);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(lc_history_add(h, &ops[i].ev), 0);
	return h;
}

/*
 * Makes one read stale: a get g that reads v(p1) where put p1 returned before put p2
 * was called and p2 returned before g was called. v(p1) is written only by p1, so no
 * order works. Returns g's index.
 */
static size_t
gen_corrupt(struct gen_op *ops, size_t n)
{
	for (size_t g = n / 2; g < n; g++) {
		if (ops[g].ev.op != LC_GET || ops[g].ev.ok != 1)
			continue;
		for (size_t p2 = 0; p2 < n; p2++) {
			if (ops[p2].ev.op != LC_PUT || ops[p2].ev.ok != 1 ||
					strcmp(ops[p2].key, ops[g].key) != 0 ||
					ops[p2].ev.return_ns >= ops[g].ev.call_ns)
				continue;
			for (size_t p1 = 0; p1 < n; p1++) {
				if (ops[p1].ev.op != LC_PUT || ops[p1].ev.ok != 1 ||
						strcmp(ops[p1].key, ops[g].key) != 0 ||
						ops[p1].ev.return_ns >= ops[p2].ev.call_ns)
					continue;
				snprintf(ops[g].result, sizeof(ops[g].result), "%s", ops[p1].value);
				ops[g].ev.result = ops[g].result;
				return g;
			}
		}
	}
	fail_msg("no read to corrupt");
	return 0;
}

static void
test_generated_10k(void **state)
{
	const size_t n = 10000;
	struct gen_op *ops;
	struct lc_history *h;
	struct lc_witness w;
	size_t g;
	double t0, dt;

	(void)state;
	for (uint64_t seed = 1; seed <= 2; seed++) {
		uint32_t n_keys = seed == 1 ? 100 : 500;
		uint32_t n_clients = seed == 1 ? 16 : 8;

		ops = gen_history(seed, n, n_clients, n_keys);
		h = gen_to_history(ops, n);
		t0 = now_s();
		assert_int_equal(lc_check(h, 60.0, NULL), LC_LINEARIZABLE);
		dt = now_s() - t0;
		print_message("10000 ops, %u keys, %u clients: linearizable in %.3f s\n",
				n_keys, n_clients, dt);
		assert_true(dt < 10.0);
		lc_history_free(h);

		g = gen_corrupt(ops, n);
		h = gen_to_history(ops, n);
		t0 = now_s();
		assert_int_equal(lc_check(h, 60.0, &w), LC_NOT_LINEARIZABLE);
		dt = now_s() - t0;
		print_message("same, one stale read: not linearizable in %.3f s "
				"(witness %zu ops of %zu on the key)\n", dt, w.n_ops, w.key_ops);
		assert_true(dt < 10.0);
		assert_int_equal(w.key_len, strlen(ops[g].key));
		assert_memory_equal(w.key, ops[g].key, w.key_len);
		assert_true(witness_has(&w, g));
		assert_true(w.n_ops >= 3);
		assert_true(w.n_ops <= w.key_ops);
		assert_true(w.reduced);
		/* The witness must fail on its own. */
		{
			struct lc_history *s = witness_history(h, &w);

			assert_int_equal(lc_check(s, 10.0, NULL), LC_NOT_LINEARIZABLE);
			lc_history_free(s);
		}
		lc_witness_free(&w);
		lc_history_free(h);
		free(ops);
	}
}

static void
test_hot_key(void **state)
{
	const size_t n = 2000;
	struct gen_op *ops = gen_history(7, n, 16, 1);
	struct lc_history *h = gen_to_history(ops, n);
	struct lc_limits lim = { .time_limit_s = 60.0, .cache_bytes_max = 64 << 10 };
	double t0 = now_s(), dt;

	(void)state;
	assert_int_equal(lc_check(h, 60.0, NULL), LC_LINEARIZABLE);
	dt = now_s() - t0;
	print_message("2000 ops, 1 key, 16 clients: linearizable in %.3f s\n", dt);
	assert_true(dt < 10.0);
	/* The memo needs more than 64 KiB here: the cap gives "unknown", not a guess. */
	assert_int_equal(lc_check_limits(h, &lim, NULL), LC_UNKNOWN);
	lc_history_free(h);
	free(ops);
}

static void
test_time_limit(void **state)
{
	struct lc_history *h = load("hard.jsonl");
	double t0 = now_s(), dt;

	(void)state;
	assert_int_equal(lc_check(h, 0.05, NULL), LC_UNKNOWN);
	dt = now_s() - t0;
	assert_true(dt < 2.0);
	lc_history_free(h);
}

/* ------------------------------------------------------------------------------ */
/* Differential test against a brute-force checker on small random histories        */

#define REF_OPS_MAX 8

/* One operation for the reference: values are 0 (absent) or 1..3. */
struct ref_op {
	enum lc_op op;
	int ok;
	int value;
	int expect;
	int result;
	uint64_t call_ns;
	uint64_t return_ns;     /* UINT64_MAX when timed out */
};

static const char *const ref_names[] = { NULL, "a", "b", "c" };

/* The model exactly as lincheck.h states it, by trying every order. */
static bool
ref_search(const struct ref_op *o, int n, unsigned done, int state)
{
	bool all = true;

	for (int i = 0; i < n; i++) {
		if ((done & (1u << i)) == 0 && o[i].return_ns != UINT64_MAX)
			all = false;
	}
	if (all)
		return true;
	for (int i = 0; i < n; i++) {
		bool minimal = true;
		int ns = state;

		if (done & (1u << i))
			continue;
		/* i may go next unless a pending op returned strictly before i's call. */
		for (int k = 0; k < n; k++)
			if (k != i && !(done & (1u << k)) && o[k].return_ns < o[i].call_ns)
				minimal = false;
		if (!minimal)
			continue;
		switch (o[i].op) {
		case LC_GET:
			if (state != o[i].result)
				continue;
			break;
		case LC_PUT:
			ns = o[i].value;
			break;
		case LC_DEL:
			ns = 0;
			break;
		case LC_CAS:
			if (o[i].ok == 1 && state != o[i].expect)
				continue;
			if (o[i].ok == 0 && state == o[i].expect)
				continue;
			if (state == o[i].expect)
				ns = o[i].value;
			break;
		}
		if (ref_search(o, n, done | (1u << i), ns))
			return true;
	}
	return false;
}

/* Applies the documented drops (failed put/get/del, timed-out get), then searches. */
static bool
ref_linearizable(const struct ref_op *in, int n)
{
	struct ref_op o[REF_OPS_MAX];
	int m = 0;

	for (int i = 0; i < n; i++) {
		if (in[i].op != LC_CAS && in[i].ok == 0)
			continue;
		if (in[i].op == LC_GET && in[i].ok == -1)
			continue;
		o[m++] = in[i];
	}
	return ref_search(o, m, 0, 0);
}

static void
ref_to_event(const struct ref_op *o, struct lc_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->op = o->op;
	ev->key = "k";
	ev->value = ref_names[o->value];
	ev->expect = ref_names[o->expect];
	ev->result = ref_names[o->result];
	ev->call_ns = o->call_ns;
	ev->return_ns = o->return_ns;
	ev->ok = o->ok;
}

static void
test_differential(void **state)
{
	unsigned counts[2] = { 0, 0 };

	(void)state;
	gen_rng = 12345;
	for (int iter = 0; iter < 30000; iter++) {
		struct ref_op o[REF_OPS_MAX];
		int n = 1 + (int)gen_below(REF_OPS_MAX);
		struct lc_history *h = lc_history_new();
		struct lc_witness w;
		enum lc_result got;
		bool want;

		for (int i = 0; i < n; i++) {
			uint64_t r = gen_below(100);

			o[i].op = (enum lc_op)gen_below(4);
			o[i].value = 1 + (int)gen_below(3);
			o[i].expect = (int)gen_below(4);
			o[i].result = (int)gen_below(4);
			o[i].call_ns = gen_below(20);
			o[i].return_ns = o[i].call_ns + gen_below(8);
			o[i].ok = r < 70 ? 1 : r < 85 ? -1 : 0;
			if (o[i].op == LC_CAS && o[i].ok == 0 && gen_below(2) == 0)
				o[i].ok = 1;
			if (o[i].ok == -1)
				o[i].return_ns = UINT64_MAX;
		}
		for (int i = 0; i < n; i++) {
			struct lc_event ev;

			ref_to_event(&o[i], &ev);
			assert_int_equal(lc_history_add(h, &ev), 0);
		}
		want = ref_linearizable(o, n);
		got = lc_check(h, 10.0, &w);
		if (got != (want ? LC_LINEARIZABLE : LC_NOT_LINEARIZABLE)) {
			char line[256];

			for (int i = 0; i < n; i++) {
				lc_history_format_op(h, (size_t)i, line, sizeof(line));
				print_message("  %s\n", line);
			}
			fail_msg("iteration %d: reference says %s, lincheck %s", iter,
					want ? "linearizable" : "not", lc_result_str(got));
		}
		counts[want]++;
		if (!want) {
			/* The witness alone must fail under the reference too. */
			struct ref_op sub[REF_OPS_MAX];

			assert_true(w.n_ops >= 1 && w.n_ops <= (size_t)n);
			for (size_t i = 0; i < w.n_ops; i++)
				sub[i] = o[w.ops[i]];
			if (ref_linearizable(sub, (int)w.n_ops))
				fail_msg("iteration %d: witness of %zu ops is linearizable", iter,
						w.n_ops);
			lc_witness_free(&w);
		}
		lc_history_free(h);
	}
	print_message("differential: %u linearizable, %u not\n", counts[1], counts[0]);
	/* Both outcomes must be well represented for the comparison to mean much. */
	assert_true(counts[0] > 3000);
	assert_true(counts[1] > 3000);
}

/* ------------------------------------------------------------------------------ */
/* pw-lincheck                                                                      */

/* Runs pw-lincheck with up to four arguments (the first NULL ends them), stdin from
 * stdin_file if not NULL, output discarded. Returns the exit status. */
static int
run_cli(const char *stdin_file, const char *a1, const char *a2, const char *a3,
		const char *a4)
{
	char *argv[6] = { (char *)(uintptr_t)cli_path, (char *)(uintptr_t)a1,
		(char *)(uintptr_t)a2, (char *)(uintptr_t)a3, (char *)(uintptr_t)a4, NULL };
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		dup2(null, 2);
		if (stdin_file != NULL) {
			int in = open(stdin_file, O_RDONLY);

			if (in < 0)
				_exit(127);
			dup2(in, 0);
		}
		execv(cli_path, argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void
test_cli(void **state)
{
	char good[T_PATH_MAX], bad[T_PATH_MAX], perr[T_PATH_MAX], hard[T_PATH_MAX];

	(void)state;
	if (cli_path == NULL)
		skip();
	snprintf(good, sizeof(good), "%s/overlap_ok.jsonl", hist_dir);
	snprintf(bad, sizeof(bad), "%s/stale_read.jsonl", hist_dir);
	snprintf(perr, sizeof(perr), "%s/parse_error.jsonl", hist_dir);
	snprintf(hard, sizeof(hard), "%s/hard.jsonl", hist_dir);
	assert_int_equal(run_cli(NULL, good, NULL, NULL, NULL), 0);
	assert_int_equal(run_cli(NULL, "--quiet", bad, NULL, NULL), 1);
	assert_int_equal(run_cli(NULL, bad, NULL, NULL, NULL), 1);
	assert_int_equal(run_cli(NULL, "--timeout", "0.05", hard, NULL), 2);
	assert_int_equal(run_cli(NULL, "--cache-mb", "1", hard, NULL), 2);
	assert_int_equal(run_cli(NULL, perr, NULL, NULL, NULL), 3);
	assert_int_equal(run_cli(NULL, "/nonexistent/history.jsonl", NULL, NULL, NULL), 3);
	assert_int_equal(run_cli(NULL, "--bogus", good, NULL, NULL), 3);
	assert_int_equal(run_cli(NULL, NULL, NULL, NULL, NULL), 3);
	assert_int_equal(run_cli(NULL, "--timeout", "x", good, NULL), 3);
	assert_int_equal(run_cli(good, "-", NULL, NULL, NULL), 0);
	assert_int_equal(run_cli(bad, "-", NULL, NULL, NULL), 1);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_stale_read),
		cmocka_unit_test(test_lost_write),
		cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_overlap_order_in_memory),
		cmocka_unit_test(test_keys_independent),
		cmocka_unit_test(test_del),
		cmocka_unit_test(test_cas),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_add_rejects),
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_error_file),
		cmocka_unit_test(test_generated_10k),
		cmocka_unit_test(test_hot_key),
		cmocka_unit_test(test_time_limit),
		cmocka_unit_test(test_differential),
		cmocka_unit_test(test_cli),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s HISTORIES_DIR [PW_LINCHECK_EXE]\n", argv[0]);
		return 2;
	}
	hist_dir = argv[1];
	cli_path = argc > 2 ? argv[2] : NULL;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
