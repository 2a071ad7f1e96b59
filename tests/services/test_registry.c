/* SPDX-License-Identifier: Apache-2.0
 * The service registry (services/svc_registry.h): built-ins by name, their parameters
 * and the messages naming a bad one, the descriptor checks, and the plugin loader on
 * real shared objects (test_plugin.c built good, with a wrong ABI version, without the
 * entry symbol, and with an entry that returns NULL).
 *
 * argv: GOOD.so BAD_ABI.so NO_SYMBOL.so NULL.so
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg.h"
#include "svc_kv.h"
#include "svc_stream.h"
#include "svc_registry.h"

static const char *plugin_good, *plugin_bad_abi, *plugin_no_symbol, *plugin_null;

/* An arena as paxwired gives one: zeroed, 64-byte aligned. */
static void *arena_new(size_t n)
{
	void *p = aligned_alloc(64, (n + 63u) & ~(size_t)63u);
	assert_non_null(p);
	memset(p, 0, n);
	return p;
}

#define P(k, v, l) { .key = k, .value = v, .section = "cluster", .line = l }

static struct svc_params params(const struct svc_param *v, uint32_t n)
{
	return (struct svc_params){ .path = "c.ini", .service = "kv", .section_line = 0,
				    .n = n, .v = v };
}

/** err must start with want. */
static void assert_err(const char *err, const char *want)
{
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("got '%s'\nwant '%s...'", err, want);
}

static void test_lookup(void **state)
{
	(void)state;
	assert_int_equal(svc_builtin_count(), 2);
	assert_ptr_equal(svc_builtin_at(0), &svc_kv_desc);
	assert_ptr_equal(svc_builtin_at(1), &svc_stream_desc);
	assert_null(svc_builtin_at(2));
	assert_ptr_equal(svc_lookup("kv"), &svc_kv_desc);
	assert_ptr_equal(svc_lookup("stream"), &svc_stream_desc);
	assert_string_equal(svc_lookup("kv")->name, "kv");

	char names[64];
	svc_builtin_names(names, sizeof(names));
	assert_string_equal(names, "kv, stream");
	svc_builtin_names(names, 5);   /* truncated, still a string */
	assert_string_equal(names, "kv, ");

	for (uint32_t i = 0; i < svc_builtin_count(); i++) {
		const struct svc_desc *d = svc_builtin_at(i);
		char err[256];
		assert_int_equal(svc_desc_check(d, d->name, err, sizeof(err)), 0);
		assert_non_null(d->summary);
	}
}

static void test_bad_name(void **state)
{
	(void)state;
	errno = 0;
	assert_null(svc_lookup("sql"));
	assert_int_equal(errno, ENOENT);
	assert_null(svc_lookup("KV"));
	assert_null(svc_lookup("kv "));
	assert_null(svc_lookup(""));
	assert_null(svc_lookup(NULL));

	assert_true(svc_name_ok("kv"));
	assert_true(svc_name_ok("counter_2"));
	assert_true(svc_name_ok("a234567890123456789012345678901"));     /* 31 */
	assert_false(svc_name_ok("a2345678901234567890123456789012"));   /* 32 */
	assert_false(svc_name_ok(""));
	assert_false(svc_name_ok(NULL));
	assert_false(svc_name_ok("2kv"));
	assert_false(svc_name_ok("_kv"));
	assert_false(svc_name_ok("Kv"));
	assert_false(svc_name_ok("k-v"));
	assert_false(svc_name_ok("k v"));
}

/** kv through its descriptor: typed keys, defaults, bounds, unknown keys. */
static void test_kv_params(void **state)
{
	(void)state;
	const struct svc_desc *d = svc_lookup("kv");
	char err[512];
	size_t n = 0;

	/* No parameters: the defaults, config/'s (which paxwired always passes). */
	struct cfg_cluster def;
	cfg_defaults(&def);
	struct svc_params p = params(NULL, 0);
	assert_int_equal(svc_check(d, &p, &n, err, sizeof(err)), 0);
	assert_int_equal(n, svc_kv_arena_bytes(def.kv_keys, def.kv_key_bytes, def.kv_value_bytes));

	const struct svc_param ok[] = { P("kv_keys", "100", 5), P("kv_key_bytes", "8", 0),
					P("kv_value_bytes", "0", 7) };
	p = params(ok, 3);
	assert_int_equal(svc_check(d, &p, &n, err, sizeof(err)), 0);
	assert_int_equal(n, svc_kv_arena_bytes(100, 8, 0));
	void *arena = arena_new(n);
	struct px_service svc;
	assert_int_equal(svc_init(d, &p, arena, n, &svc, err, sizeof(err)), 0);
	assert_ptr_equal(svc.apply, svc_kv_apply);
	assert_ptr_equal(svc.is_read, svc_kv_is_read);
	assert_ptr_equal(svc.snapshot_max, svc_kv_snapshot_max);
	assert_ptr_equal(svc.snapshot, svc_kv_snapshot);
	assert_ptr_equal(svc.restore, svc_kv_restore);
	/* GET "a" on the new store: NOT_FOUND. */
	static const uint8_t get_a[] = { WIRE_KV_GET, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'a' };
	uint8_t reply[PX_REPLY_BYTES_MAX];
	uint8_t st = 0xff;
	uint32_t rl = svc.apply(svc.ctx, get_a, sizeof(get_a), reply, sizeof(reply), &st);
	assert_int_equal(st, PX_OK);
	assert_int_equal(rl, WIRE_KV_REPLY_HDR_BYTES);
	assert_int_equal(reply[0], WIRE_KV_R_NOT_FOUND);
	free(arena);

	/* A bad value: the key, the line and the fix. */
	const struct svc_param bad[] = { P("kv_keys", "10k", 5) };
	p = params(bad, 1);
	assert_int_equal(svc_check(d, &p, &n, err, sizeof(err)), -EINVAL);
	assert_err(err, "c.ini:5: kv_keys = 10k: not a whole number in [1, 16777216] (service kv); fix: kv_keys = <1..16777216>, e.g. kv_keys = 65536");
	const struct svc_param big[] = { P("kv_value_bytes", "3830", 9) };
	p = params(big, 1);
	assert_int_equal(svc_check(d, &p, &n, err, sizeof(err)), -EINVAL);
	assert_err(err, "c.ini:9: kv_value_bytes = 3830: not a whole number in [0, 3829]");

	/* A key kv does not take, from its section. */
	const struct svc_param unknown[] = {
		{ .key = "max_keys", .value = "5", .section = "service.kv", .line = 12 },
		P("kv_keys", "100", 5),
	};
	p = params(unknown, 2);
	assert_int_equal(svc_check(d, &p, &n, err, sizeof(err)), -EINVAL);
	assert_err(err, "c.ini:12: unknown key 'max_keys' in [service.kv] (service kv); fix: use one of kv_keys, kv_key_bytes, kv_value_bytes, or remove the line");
}

static void test_stream_params(void **state)
{
	(void)state;
	const struct svc_desc *d = svc_lookup("stream");
	char err[512];
	size_t n = 0;
	struct cfg_cluster def;
	cfg_defaults(&def);
	struct svc_params none = params(NULL, 0);
	assert_int_equal(svc_check(d, &none, &n, err, sizeof(err)), 0);
	assert_int_equal(n, svc_stream_arena_bytes(def.stream_records, def.stream_bytes));

	const struct svc_param ok[] = { P("stream_records", "128", 4),
					P("stream_bytes", "65536", 0) };
	struct svc_params p = params(ok, 2);
	p.service = "stream";
	assert_int_equal(svc_check(d, &p, &n, err, sizeof(err)), 0);
	assert_int_equal(n, svc_stream_arena_bytes(128, 65536));
	void *arena = arena_new(n);
	struct px_service svc;
	assert_int_equal(svc_init(d, &p, arena, n, &svc, err, sizeof(err)), 0);
	assert_ptr_equal(svc.apply, svc_stream_apply);
	assert_ptr_equal(svc.snapshot_max, svc_stream_snapshot_max);
	assert_ptr_equal(svc.snapshot, svc_stream_snapshot);
	assert_ptr_equal(svc.restore, svc_stream_restore);
	free(arena);

	const struct svc_param pow2[] = { P("stream_records", "100", 4) };
	p = params(pow2, 1);
	p.service = "stream";
	assert_int_equal(svc_check(d, &p, &n, err, sizeof(err)), -EINVAL);
	assert_err(err, "c.ini:4: stream_records = 100: not a power of two; fix: stream_records = 65536");
	const struct svc_param small[] = { P("stream_bytes", "4000", 6) };
	p = params(small, 1);
	p.service = "stream";
	assert_int_equal(svc_check(d, &p, &n, err, sizeof(err)), -EINVAL);
	assert_err(err, "c.ini:6: stream_bytes = 4000: not a whole number in [4076, 1073741824]");
}

/* Descriptors made here, to check what the registry checks before and after calls. */
static int ok_check(const struct svc_params *p, size_t *arena_bytes, char *err, size_t errlen)
{
	(void)p, (void)err, (void)errlen;
	*arena_bytes = 64;
	return 0;
}

static int mute_check(const struct svc_params *p, size_t *arena_bytes, char *err,
		      size_t errlen)
{
	(void)p, (void)arena_bytes, (void)err, (void)errlen;
	return -ERANGE;   /* and no message */
}

static int lazy_init(const struct svc_params *p, void *arena, size_t len, struct px_service *svc,
		     char *err, size_t errlen)
{
	(void)p, (void)arena, (void)len, (void)err, (void)errlen;
	svc->ctx = arena;   /* apply and hash left NULL */
	return 0;
}

static uint32_t nop_apply(void *ctx, const uint8_t *cmd, uint32_t len, uint8_t *reply,
			  uint32_t cap, uint8_t *status)
{
	(void)ctx, (void)cmd, (void)len, (void)reply, (void)cap;
	*status = PX_OK;
	return 0;
}

static uint64_t nop_hash(const void *ctx)
{
	(void)ctx;
	return 0;
}

static size_t nop_snapshot_max(const void *ctx)
{
	(void)ctx;
	return 1;
}

static size_t nop_snapshot(const void *ctx, uint8_t *buf, size_t cap)
{
	(void)ctx, (void)cap;
	buf[0] = 0;
	return 1;
}

static int partial_snap_init(const struct svc_params *p, void *arena, size_t len,
			     struct px_service *svc, char *err, size_t errlen)
{
	(void)p, (void)len, (void)err, (void)errlen;
	svc->apply = nop_apply;
	svc->hash = nop_hash;
	svc->ctx = arena;
	svc->snapshot_max = nop_snapshot_max;
	svc->snapshot = nop_snapshot;   /* restore left NULL */
	return 0;
}

static void test_desc_checks(void **state)
{
	(void)state;
	char err[512];
	struct svc_desc d = { .abi_version = SVC_ABI_VERSION, .name = "mine", .summary = "x",
			      .check = ok_check, .init = lazy_init };
	assert_int_equal(svc_desc_check(&d, "mine", err, sizeof(err)), 0);
	assert_int_equal(svc_desc_check(&d, NULL, err, sizeof(err)), 0);

	/* A newer plugin, and one of ABI version 1 (before snapshots): both versions, what
	 * changed, the fix. */
	char want[512];
	d.abi_version = SVC_ABI_VERSION + 1u;
	assert_int_equal(svc_desc_check(&d, "mine", err, sizeof(err)), -EPROTO);
	snprintf(want, sizeof(want), "built for service ABI version %u, this paxwired runs version %u (the plugin is newer); fix: rebuild the plugin against this paxwire's services/paxwire_service.h (SVC_ABI_VERSION %u), or run a paxwired of service ABI version %u",
		 SVC_ABI_VERSION + 1u, SVC_ABI_VERSION, SVC_ABI_VERSION, SVC_ABI_VERSION + 1u);
	assert_string_equal(err, want);
	d.abi_version = 1;
	assert_int_equal(svc_desc_check(&d, "mine", err, sizeof(err)), -EPROTO);
	assert_string_equal(err, "built for service ABI version 1, this paxwired runs version 2 (version 2 added snapshot_max, snapshot and restore to struct px_service); fix: rebuild the plugin against this paxwire's services/paxwire_service.h (SVC_ABI_VERSION 2)");
	d.abi_version = 0;
	assert_int_equal(svc_desc_check(&d, "mine", err, sizeof(err)), -EPROTO);
	d.abi_version = SVC_ABI_VERSION;

	assert_int_equal(svc_desc_check(&d, "yours", err, sizeof(err)), -EINVAL);
	assert_err(err, "holds service 'mine', not 'yours'; fix: service = mine, or service_lib = the library of service yours");
	d.name = "Mine!";
	assert_int_equal(svc_desc_check(&d, "Mine!", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no valid name"));
	d.name = NULL;
	assert_int_equal(svc_desc_check(&d, NULL, err, sizeof(err)), -EINVAL);
	d.name = "mine";
	d.init = NULL;
	assert_int_equal(svc_desc_check(&d, "mine", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "has no init function"));
	d.init = lazy_init;

	/* init() that leaves apply unset: refused after the call. */
	struct svc_params p = { .path = "c.ini", .service = "mine", .section_line = 3 };
	size_t n = 0;
	assert_int_equal(svc_check(&d, &p, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 64);
	void *arena = arena_new(n);
	struct px_service svc;
	assert_int_equal(svc_init(&d, &p, arena, n, &svc, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "init() left apply unset"));

	/* init() that sets some of the snapshot functions but not all three: refused. */
	d.init = partial_snap_init;
	assert_int_equal(svc_init(&d, &p, arena, n, &svc, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "service mine's init() set only some of snapshot_max, snapshot and restore in struct px_service (restore unset); fix: the service must set all three or none (a bug in the service)");
	d.init = lazy_init;
	free(arena);

	/* check() failing without a message: the registry writes one. */
	d.check = mute_check;
	assert_int_equal(svc_check(&d, &p, &n, err, sizeof(err)), -ERANGE);
	assert_err(err, "c.ini:3: service mine refuses its parameters");
}

static void test_plugin_good(void **state)
{
	(void)state;
	char err[512];
	void *h = NULL;
	const struct svc_desc *d = svc_plugin_load(plugin_good, "echo", &h, err, sizeof(err));
	if (d == NULL)
		fail_msg("%s", err);
	assert_non_null(h);
	assert_string_equal(d->name, "echo");
	assert_null(svc_lookup("echo"));   /* a plugin is not added to the built-ins */

	const struct svc_param pv[] = {
		{ .key = "max_len", .value = "4", .section = "service.echo", .line = 8 },
	};
	struct svc_params p = { .path = "c.ini", .service = "echo", .section_line = 7, .n = 1,
				.v = pv };
	size_t n = 0;
	assert_int_equal(svc_check(d, &p, &n, err, sizeof(err)), 0);
	void *arena = arena_new(n);
	struct px_service svc;
	assert_int_equal(svc_init(d, &p, arena, n, &svc, err, sizeof(err)), 0);
	uint8_t reply[PX_REPLY_BYTES_MAX], st = 0xff;
	uint64_t h0 = svc.hash(svc.ctx);
	assert_int_equal(svc.apply(svc.ctx, (const uint8_t *)"abcd", 4, reply, sizeof(reply), &st), 4);
	assert_int_equal(st, PX_OK);
	assert_memory_equal(reply, "abcd", 4);
	assert_int_not_equal(svc.hash(svc.ctx), h0);
	/* It has no snapshots: all three NULL is allowed (px_apply.h). */
	assert_null(svc.snapshot_max);
	assert_null(svc.snapshot);
	assert_null(svc.restore);
	svc.apply(svc.ctx, (const uint8_t *)"abcde", 5, reply, sizeof(reply), &st);
	assert_int_equal(st, PX_BAD_COMMAND);   /* over max_len = 4 */
	free(arena);

	/* Its own parameter errors name the key and the line. */
	const struct svc_param bad[] = {
		{ .key = "max_len", .value = "0", .section = "service.echo", .line = 8 },
		{ .key = "greeting", .value = "hi", .section = "service.echo", .line = 9 },
	};
	p.v = bad;
	p.n = 2;
	assert_int_equal(svc_check(d, &p, &n, err, sizeof(err)), -EINVAL);
	assert_err(err, "c.ini:9: unknown key 'greeting' in [service.echo] (service echo); fix: use max_len, or remove the line");
	p.n = 1;
	assert_int_equal(svc_check(d, &p, &n, err, sizeof(err)), -EINVAL);
	assert_err(err, "c.ini:8: max_len = 0: not a whole number in [1, 4096] (service echo)");
	svc_plugin_close(h);

	/* The same library under another service name. */
	errno = 0;
	assert_null(svc_plugin_load(plugin_good, "counter", &h, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	assert_null(h);
	assert_err(err, "holds service 'echo', not 'counter'; fix: service = echo");
	/* A plugin cannot stand in for a built-in. */
	assert_null(svc_plugin_load(plugin_good, "kv", &h, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	assert_err(err, "service kv is built in, and a plugin does not replace it; fix: remove service_lib");
}

static void test_plugin_refused(void **state)
{
	(void)state;
	char err[512];
	void *h = (void *)1;

	errno = 0;
	assert_null(svc_plugin_load(plugin_bad_abi, "echo", &h, err, sizeof(err)));
	assert_int_equal(errno, EPROTO);
	assert_null(h);
	char want[512];
	snprintf(want, sizeof(want), "built for service ABI version %u, this paxwired runs version %u (the plugin is newer); fix: rebuild the plugin against this paxwire's services/paxwire_service.h (SVC_ABI_VERSION %u)",
		 SVC_ABI_VERSION + 1u, SVC_ABI_VERSION, SVC_ABI_VERSION);
	assert_err(err, want);

	assert_null(svc_plugin_load(plugin_no_symbol, "echo", &h, err, sizeof(err)));
	assert_int_equal(errno, ENOEXEC);
	assert_err(err, "no symbol paxwire_service in it; fix: define const struct svc_desc *paxwire_service(void)");

	assert_null(svc_plugin_load(plugin_null, "echo", &h, err, sizeof(err)));
	assert_int_equal(errno, ENOEXEC);
	assert_err(err, "paxwire_service() returned NULL; fix:");

	assert_null(svc_plugin_load("/nonexistent/libpwnothing.so", "echo", &h, err, sizeof(err)));
	assert_int_equal(errno, ENOENT);
	assert_err(err, "cannot read it: No such file or directory; fix: build the plugin, or correct service_lib");

	/* A file that is no shared object. */
	char path[] = "/tmp/pw-test-registry-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not an ELF file\n", 16), 16);
	close(fd);
	assert_null(svc_plugin_load(path, "echo", &h, err, sizeof(err)));
	assert_int_equal(errno, ELIBBAD);
	assert_err(err, "cannot load it as a shared object: ");
	assert_non_null(strstr(err, "fix: build it as one for this host"));
	unlink(path);

	assert_null(svc_plugin_load("/tmp", "echo", &h, err, sizeof(err)));
	assert_int_equal(errno, ELIBBAD);
	assert_err(err, "not a regular file; fix:");
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: test_registry GOOD.so BAD_ABI.so NO_SYMBOL.so NULL.so\n");
		return 2;
	}
	plugin_good = argv[1];
	plugin_bad_abi = argv[2];
	plugin_no_symbol = argv[3];
	plugin_null = argv[4];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_bad_name),
		cmocka_unit_test(test_kv_params),
		cmocka_unit_test(test_stream_params),
		cmocka_unit_test(test_desc_checks),
		cmocka_unit_test(test_plugin_good),
		cmocka_unit_test(test_plugin_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
