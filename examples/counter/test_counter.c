/* SPDX-License-Identifier: Apache-2.0
 * The counter plugin, loaded the way paxwired loads it (svc_plugin_load, svc_check,
 * svc_init): its parameters, every reply of counter.h, a hash that depends on the
 * contents only, and snapshots (round trip, the same replies afterwards, every malformed
 * snapshot refused). argv[1]: the plugin's .so.
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

/* ---------------------------------------------------------------------------------- */
/* Snapshots                                                                           */

/** A snapshot of in, in a buffer of exactly its length (ASan sees a read past it). */
static uint8_t *snap_take(struct inst *in, size_t *len)
{
	size_t max = in->svc.snapshot_max(in->svc.ctx);
	uint8_t *big = malloc(max);
	assert_non_null(big);
	*len = in->svc.snapshot(in->svc.ctx, big, max);
	assert_true(*len >= 20 && *len <= max);
	uint8_t *buf = malloc(*len);
	assert_non_null(buf);
	memcpy(buf, big, *len);
	free(big);
	return buf;
}

static int snap_restore_exact(struct inst *in, const uint8_t *buf, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, buf, len);
	int rc = in->svc.restore(in->svc.ctx, len ? copy : NULL, len);
	free(copy);
	return rc;
}

/** The same commands to a and b give the same replies and hashes; @return FULLs seen. */
static uint32_t assert_same_future(struct inst *a, struct inst *b, uint64_t rng, uint32_t steps,
				   uint32_t space)
{
	uint32_t full = 0;
	for (uint32_t i = 0; i < steps; i++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		char name[32];
		snprintf(name, sizeof(name), "c%u", (unsigned)((rng >> 33) % space));
		int64_t arg = (rng >> 62) == 0 ? INT64_MAX : (int64_t)((rng >> 20) % 100) - 50;
		enum ctr_op op = (rng >> 61) & 1 ? CTR_GET : CTR_ADD;
		int64_t va, vb;
		uint8_t sa, sb;
		uint8_t ra = run(a, op, name, op == CTR_GET ? 0 : arg, &va, &sa);
		uint8_t rb = run(b, op, name, op == CTR_GET ? 0 : arg, &vb, &sb);
		assert_int_equal(ra, rb);
		assert_int_equal(va, vb);
		assert_int_equal(sa, sb);
		assert_int_equal(a->svc.hash(a->svc.ctx), b->svc.hash(b->svc.ctx));
		full += ra == CTR_R_FULL;
	}
	return full;
}

static void test_snapshot(void **state)
{
	(void)state;
	struct inst a = inst_new("16", "8"), b = inst_new("16", "8"), fresh = inst_new("16", "8");
	uint64_t empty = fresh.svc.hash(fresh.svc.ctx);
	size_t len;
	int64_t v;
	assert_non_null(a.svc.snapshot_max);
	assert_non_null(a.svc.snapshot);
	assert_non_null(a.svc.restore);
	assert_int_equal(a.svc.snapshot_max(a.svc.ctx), 20 + 16 * (9 + 8));

	/* Empty: the header alone. */
	uint8_t *buf = snap_take(&a, &len);
	assert_int_equal(len, 20);
	add(&b, "junk", 1);
	assert_int_equal(b.svc.restore(b.svc.ctx, buf, len), 0);
	assert_int_equal(b.svc.hash(b.svc.ctx), empty);
	assert_int_equal(run(&b, CTR_GET, "junk", 0, &v, NULL), CTR_R_NOT_FOUND);
	free(buf);

	/* Small, then full: the copy answers every later command the same, FULL first. */
	add(&a, "x", -5);
	add(&a, "maxname8", INT64_MAX);
	buf = snap_take(&a, &len);
	assert_int_equal(len, 20 + (9 + 1) + (9 + 8));
	assert_int_equal(b.svc.restore(b.svc.ctx, buf, len), 0);
	assert_int_equal(b.svc.hash(b.svc.ctx), a.svc.hash(a.svc.ctx));
	assert_int_equal(run(&b, CTR_GET, "x", 0, &v, NULL), CTR_R_OK);
	assert_int_equal(v, -5);
	assert_int_equal(run(&b, CTR_ADD, "maxname8", 1, &v, NULL), CTR_R_OVERFLOW);
	free(buf);
	for (int i = 0; i < 14; i++) {
		char name[8];
		snprintf(name, sizeof(name), "c%d", i);
		add(&a, name, i);
	}
	buf = snap_take(&a, &len);
	assert_int_equal(b.svc.restore(b.svc.ctx, buf, len), 0);
	assert_int_equal(run(&b, CTR_ADD, "new", 1, &v, NULL), CTR_R_FULL);
	assert_true(assert_same_future(&a, &b, 3, 2000, 24) > 0);

	/* Every proper prefix, and one byte more, refused; b is then empty. */
	for (size_t l = 1; l < len; l++) {
		if (snap_restore_exact(&b, buf, l) != -EINVAL)
			fail_msg("a snapshot cut to %zu of %zu bytes was taken", l, len);
		assert_int_equal(b.svc.hash(b.svc.ctx), empty);
	}
	uint8_t *longer = malloc(len + 1);
	assert_non_null(longer);
	memcpy(longer, buf, len);
	longer[len] = 0;
	assert_int_equal(b.svc.restore(b.svc.ctx, longer, len + 1), -EINVAL);
	assert_int_equal(b.svc.hash(b.svc.ctx), empty);
	free(longer);

	/* restore(NULL, 0): as after init (16 new counters fit, then FULL). */
	assert_int_equal(snap_restore_exact(&b, buf, len), 0);
	assert_int_equal(b.svc.restore(b.svc.ctx, NULL, 0), 0);
	assert_int_equal(b.svc.hash(b.svc.ctx), empty);
	assert_true(assert_same_future(&b, &fresh, 9, 500, 40) > 0);
	free(buf);

	/* Broken fields: count, name lengths, a name twice, a larger store's snapshot that
	 * does not fit (more counters, a longer name) and one that does. */
	uint8_t s[256];
	size_t n = 0;
	memcpy(s, "PWCTRSN1", 8);
	s[8] = 16, s[9] = s[10] = s[11] = 0;   /* counters 16 */
	s[12] = 8, s[13] = s[14] = s[15] = 0;  /* name_bytes 8 */
	s[16] = 2, s[17] = s[18] = s[19] = 0;  /* n 2 */
	n = 20;
	s[n] = 1, ctr_st64(s + n + 1, 7), s[n + 9] = 'a', n += 10;
	s[n] = 1, ctr_st64(s + n + 1, 8), s[n + 9] = 'b', n += 10;
	assert_int_equal(snap_restore_exact(&b, s, n), 0);
	assert_int_equal(run(&b, CTR_GET, "b", 0, &v, NULL), CTR_R_OK);
	assert_int_equal(v, 8);
	const struct {
		const char *what;
		size_t at;
		uint8_t set;
	} cases[] = {
		{ "magic", 0, 'Q' }, { "n + 1", 16, 3 }, { "n - 1", 16, 1 }, { "n huge", 19, 0xff },
		{ "counters 0", 8, 0 }, { "counters < n", 8, 1 }, { "name_bytes 0", 12, 0 },
		{ "name_bytes 129", 12, 129 }, { "name_len 0", 20, 0 }, { "name_len 9", 20, 9 },
		{ "name_len past the end", 30, 200 }, { "the same name twice", 39, 'a' },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t c[256];
		memcpy(c, s, n);
		c[cases[i].at] = cases[i].set;
		add(&b, "junk", 1);
		if (snap_restore_exact(&b, c, n) != -EINVAL)
			fail_msg("%s: taken", cases[i].what);
		assert_int_equal(b.svc.hash(b.svc.ctx), empty);
	}
	struct inst big = inst_new("64", "32");
	add(&big, "a-name-longer-than-8", 1);
	buf = snap_take(&big, &len);
	assert_int_equal(b.svc.restore(b.svc.ctx, buf, len), -EINVAL);
	free(buf);
	struct inst big2 = inst_new("64", "32");
	for (int i = 0; i < 16; i++) {
		char name[8];
		snprintf(name, sizeof(name), "c%d", i);
		add(&big2, name, i);
	}
	buf = snap_take(&big2, &len);
	assert_int_equal(b.svc.restore(b.svc.ctx, buf, len), 0);   /* 16 fit */
	assert_int_equal(b.svc.hash(b.svc.ctx), big2.svc.hash(big2.svc.ctx));
	free(buf);
	add(&big2, "c16", 16);
	buf = snap_take(&big2, &len);
	assert_int_equal(b.svc.restore(b.svc.ctx, buf, len), -EINVAL);   /* 17 do not */
	assert_int_equal(b.svc.hash(b.svc.ctx), empty);
	free(buf);
	free(a.arena);
	free(b.arena);
	free(fresh.arena);
	free(big.arena);
	free(big2.arena);
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
		cmocka_unit_test(test_snapshot),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
