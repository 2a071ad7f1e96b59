/* SPDX-License-Identifier: Apache-2.0
 * The counter plugin, loaded the way paxwired loads it (svc_plugin_load, svc_check,
 * svc_init): its parameters, every reply of counter.h, and a hash that depends on the
 * contents only. argv[1]: the plugin's .so.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "counter.h"
#include "svc_registry.h"

static const char *plugin;
static const struct svc_desc *desc;
static void *handle;

struct inst {
	struct px_service svc;
	void *arena;
};

static struct svc_params params_of(const struct svc_param *v, uint32_t n)
{
	return (struct svc_params){ .path = "c.ini", .service = "counter", .section_line = 20,
				    .n = n, .v = v };
}

#define SP(k, v, l) { .key = k, .value = v, .section = "service.counter", .line = l }

static struct inst inst_new(const char *counters, const char *name_bytes)
{
	const struct svc_param v[] = { SP("counters", counters, 21), SP("name_bytes", name_bytes, 22) };
	struct svc_params p = params_of(v, 2);
	char err[512];
	size_t n = 0;
	if (svc_check(desc, &p, &n, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	struct inst in;
	in.arena = aligned_alloc(64, (n + 63u) & ~(size_t)63u);
	assert_non_null(in.arena);
	memset(in.arena, 0, n);
	if (svc_init(desc, &p, in.arena, n, &in.svc, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	return in;
}

/** Runs one command; returns the result, *value the reply's value. */
static uint8_t run(struct inst *in, enum ctr_op op, const char *name, int64_t arg, int64_t *value,
		   uint8_t *status)
{
	uint8_t cmd[CTR_CMD_HDR_BYTES + CTR_NAME_BYTES_MAX];
	uint32_t len = ctr_encode(cmd, sizeof(cmd), op, name, (uint32_t)strlen(name), arg);
	assert_int_not_equal(len, 0);
	uint8_t reply[PX_REPLY_BYTES_MAX];
	uint8_t st = 0xff;
	uint32_t rl = in->svc.apply(in->svc.ctx, cmd, len, reply, sizeof(reply), &st);
	uint8_t result = 0xff;
	assert_int_equal(ctr_decode_reply(reply, rl, &result, value), 0);
	if (status != NULL)
		*status = st;
	else
		assert_int_equal(st, PX_OK);
	return result;
}

static int64_t add(struct inst *in, const char *name, int64_t d)
{
	int64_t v;
	assert_int_equal(run(in, CTR_ADD, name, d, &v, NULL), CTR_R_OK);
	return v;
}

static int setup(void **state)
{
	(void)state;
	char err[512];
	desc = svc_plugin_load(plugin, "counter", &handle, err, sizeof(err));
	if (desc == NULL) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	svc_plugin_close(handle);
	return 0;
}

static void test_descriptor(void **state)
{
	(void)state;
	assert_string_equal(desc->name, "counter");
	assert_int_equal(desc->abi_version, SVC_ABI_VERSION);
	assert_non_null(strstr(desc->summary, "counters"));
}

static void test_add_get(void **state)
{
	(void)state;
	struct inst in = inst_new("8", "16");
	int64_t v;
	assert_int_equal(run(&in, CTR_GET, "x", 0, &v, NULL), CTR_R_NOT_FOUND);
	assert_int_equal(v, 0);
	assert_int_equal(add(&in, "x", 5), 5);
	assert_int_equal(add(&in, "x", -7), -2);
	assert_int_equal(add(&in, "y", 0), 0);   /* created at 0 */
	assert_int_equal(run(&in, CTR_GET, "x", 0, &v, NULL), CTR_R_OK);
	assert_int_equal(v, -2);
	assert_int_equal(run(&in, CTR_GET, "y", 0, &v, NULL), CTR_R_OK);
	assert_int_equal(v, 0);
	/* Names are bytes: "x" and "X" differ. */
	assert_int_equal(run(&in, CTR_GET, "X", 0, &v, NULL), CTR_R_NOT_FOUND);
	free(in.arena);
}

static void test_full_and_overflow(void **state)
{
	(void)state;
	struct inst in = inst_new("2", "16");
	int64_t v;
	add(&in, "a", 1);
	add(&in, "b", INT64_MAX);
	uint64_t h = in.svc.hash(in.svc.ctx);
	assert_int_equal(run(&in, CTR_ADD, "c", 1, &v, NULL), CTR_R_FULL);
	assert_int_equal(v, 0);
	assert_int_equal(run(&in, CTR_GET, "c", 0, &v, NULL), CTR_R_NOT_FOUND);
	assert_int_equal(add(&in, "a", 1), 2);   /* an existing counter still takes ADDs */
	assert_int_equal(add(&in, "a", -1), 1);
	assert_int_equal(in.svc.hash(in.svc.ctx), h);

	assert_int_equal(run(&in, CTR_ADD, "b", 1, &v, NULL), CTR_R_OVERFLOW);
	assert_int_equal(v, INT64_MAX);
	assert_int_equal(add(&in, "b", INT64_MIN), -1);
	assert_int_equal(run(&in, CTR_ADD, "b", INT64_MIN, &v, NULL), CTR_R_OVERFLOW);
	assert_int_equal(v, -1);
	assert_int_equal(add(&in, "b", INT64_MIN + 1), INT64_MIN);
	assert_int_equal(run(&in, CTR_ADD, "b", -1, &v, NULL), CTR_R_OVERFLOW);
	assert_int_equal(v, INT64_MIN);
	free(in.arena);
}

static void test_bad_commands(void **state)
{
	(void)state;
	struct inst in = inst_new("8", "4");
	add(&in, "k", 3);
	uint64_t h = in.svc.hash(in.svc.ctx);
	uint8_t good[CTR_CMD_HDR_BYTES + 1];
	assert_int_equal(ctr_encode(good, sizeof(good), CTR_ADD, "k", 1, 1), sizeof(good));
	struct {
		const char *what;
		uint32_t len;
		int byte;      /* -1: none */
		uint8_t set;
	} cases[] = {
		{ "empty", 0, -1, 0 },
		{ "short header", 11, -1, 0 },
		{ "name cut", CTR_CMD_HDR_BYTES, -1, 0 },
		{ "trailing byte", sizeof(good) + 1, -1, 0 },
		{ "unknown op", sizeof(good), 0, 3 },
		{ "op 0", sizeof(good), 0, 0 },
		{ "name_len 0", CTR_CMD_HDR_BYTES, 1, 0 },
		{ "reserved", sizeof(good), 2, 1 },
		{ "reserved high", sizeof(good), 3, 0x80 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t cmd[sizeof(good) + 1];
		memcpy(cmd, good, sizeof(good));
		cmd[sizeof(good)] = 'z';
		if (cases[i].byte >= 0)
			cmd[cases[i].byte] = cases[i].set;
		uint8_t reply[PX_REPLY_BYTES_MAX], st = 0xff, result = 0xff;
		int64_t v = 1;
		uint32_t rl = in.svc.apply(in.svc.ctx, cmd, cases[i].len, reply, sizeof(reply), &st);
		assert_int_equal(ctr_decode_reply(reply, rl, &result, &v), 0);
		if (st != PX_BAD_COMMAND || result != CTR_R_BAD || v != 0)
			fail_msg("%s: status %u result %u", cases[i].what, st, result);
		assert_false(in.svc.is_read(in.svc.ctx, cmd, cases[i].len));
	}
	/* GET with an argument, and a name over name_bytes = 4. */
	int64_t v;
	uint8_t st;
	assert_int_equal(run(&in, CTR_GET, "k", 1, &v, &st), CTR_R_BAD);
	assert_int_equal(st, PX_BAD_COMMAND);
	assert_int_equal(run(&in, CTR_ADD, "kkkkk", 1, &v, &st), CTR_R_BAD);
	assert_int_equal(st, PX_BAD_COMMAND);
	assert_int_equal(in.svc.hash(in.svc.ctx), h);
	assert_int_equal(run(&in, CTR_GET, "k", 0, &v, NULL), CTR_R_OK);
	assert_int_equal(v, 3);

	/* is_read: a well-formed GET only. */
	uint8_t get[CTR_CMD_HDR_BYTES + 1];
	ctr_encode(get, sizeof(get), CTR_GET, "k", 1, 0);
	assert_true(in.svc.is_read(in.svc.ctx, get, sizeof(get)));
	assert_false(in.svc.is_read(in.svc.ctx, good, sizeof(good)));
	free(in.arena);
}

/** Many counters (probing), and a hash of the contents, not of the order of creation. */
static void test_many_and_hash(void **state)
{
	(void)state;
	enum { N = 1000 };
	struct inst a = inst_new("1000", "16"), b = inst_new("1000", "16");
	char name[32];
	assert_int_equal(a.svc.hash(a.svc.ctx), b.svc.hash(b.svc.ctx));
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		add(&a, name, i);
		snprintf(name, sizeof(name), "c%d", N - 1 - i);
		add(&b, name, N - 1 - i);
	}
	assert_int_equal(a.svc.hash(a.svc.ctx), b.svc.hash(b.svc.ctx));
	int64_t v;
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		assert_int_equal(run(&a, CTR_GET, name, 0, &v, NULL), CTR_R_OK);
		assert_int_equal(v, i);
	}
	assert_int_equal(run(&a, CTR_ADD, "one more", 1, &v, NULL), CTR_R_FULL);
	/* One value differs: the hashes do. */
	add(&b, "c7", 1);
	assert_int_not_equal(a.svc.hash(a.svc.ctx), b.svc.hash(b.svc.ctx));
	add(&b, "c7", -1);
	assert_int_equal(a.svc.hash(a.svc.ctx), b.svc.hash(b.svc.ctx));
	free(a.arena);
	free(b.arena);
}

static void test_params(void **state)
{
	(void)state;
	char err[512];
	size_t n = 0, n2 = 0;
	struct svc_params p = params_of(NULL, 0);   /* defaults: 1024 counters of 32 bytes */
	assert_int_equal(svc_check(desc, &p, &n, err, sizeof(err)), 0);
	const struct svc_param more[] = { SP("counters", "2048", 21) };
	p = params_of(more, 1);
	assert_int_equal(svc_check(desc, &p, &n2, err, sizeof(err)), 0);
	assert_true(n2 > n);

	const struct svc_param zero[] = { SP("counters", "0", 21) };
	p = params_of(zero, 1);
	assert_int_equal(svc_check(desc, &p, &n, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "c.ini:21: counters = 0: not a whole number in [1, 1048576] (service counter); fix: counters = <1..1048576>, e.g. counters = 1024");
	const struct svc_param long_names[] = { SP("name_bytes", "129", 22) };
	p = params_of(long_names, 1);
	assert_int_equal(svc_check(desc, &p, &n, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "c.ini:22: name_bytes = 129: not a whole number in [1, 128]"));
	const struct svc_param unknown[] = { SP("counters", "4", 21), SP("max", "4", 23) };
	p = params_of(unknown, 2);
	assert_int_equal(svc_check(desc, &p, &n, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "c.ini:23: unknown key 'max' in [service.counter] (service counter); fix: use one of counters, name_bytes, or remove the line");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_counter PATH/libpwcounter.so\n");
		return 2;
	}
	plugin = argv[1];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_descriptor),
		cmocka_unit_test(test_add_get),
		cmocka_unit_test(test_full_and_overflow),
		cmocka_unit_test(test_bad_commands),
		cmocka_unit_test(test_many_and_hash),
		cmocka_unit_test(test_params),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
