/* SPDX-License-Identifier: Apache-2.0
 * Tiny plugins for test_registry.c, one source built several ways (tests/services/
 * meson.build): PLUGIN_GOOD (service "echo": replies with the command, counts them),
 * PLUGIN_BAD_ABI (abi_version one too high), PLUGIN_NO_SYMBOL (no paxwire_service),
 * PLUGIN_NULL (paxwire_service returns NULL).
 */
#include "paxwire_service.h"

struct echo {
	uint64_t applied;
	uint32_t max_len;
};

static uint32_t echo_apply(void *ctx, const uint8_t *cmd, uint32_t len, uint8_t *reply,
			   uint32_t cap, uint8_t *status)
{
	struct echo *e = ctx;
	if (len > e->max_len || len > cap) {
		*status = PX_BAD_COMMAND;
		return 0;
	}
	e->applied++;
	memcpy(reply, cmd, len);
	*status = PX_OK;
	return len;
}

static uint64_t echo_hash(const void *ctx)
{
	const struct echo *e = ctx;
	return px_hash_bytes(PX_HASH_SEED, &e->applied, sizeof(e->applied));
}

static const char *const echo_keys[] = { "max_len" };

static int echo_check(const struct svc_params *p, size_t *arena_bytes, char *err, size_t errlen)
{
	uint32_t max_len;
	int rc = svc_params_only(p, echo_keys, 1, err, errlen);
	if (rc == 0)
		rc = svc_param_u32(p, "max_len", 1, PX_CMD_BYTES_MAX, 64, &max_len, err, errlen);
	if (rc == 0)
		*arena_bytes = sizeof(struct echo);
	return rc;
}

static int echo_init(const struct svc_params *p, void *arena, size_t len, struct px_service *svc,
		     char *err, size_t errlen)
{
	struct echo *e = arena;
	if (len < sizeof(*e))
		return svc_fail(p, 0, err, errlen, "arena too small; fix: call check() first");
	int rc = svc_param_u32(p, "max_len", 1, PX_CMD_BYTES_MAX, 64, &e->max_len, err, errlen);
	if (rc != 0)
		return rc;
	svc->apply = echo_apply;
	svc->hash = echo_hash;
	svc->ctx = e;
	return 0;
}

static const struct svc_desc echo_desc = {
#if defined(PLUGIN_BAD_ABI)
	.abi_version = SVC_ABI_VERSION + 1u,
#else
	.abi_version = SVC_ABI_VERSION,
#endif
	.name = "echo",
	.summary = "test service: replies with the command",
	.check = echo_check,
	.init = echo_init,
};

#if defined(PLUGIN_NO_SYMBOL)
/* Exported under another name: the loader must not find paxwire_service. */
const struct svc_desc *paxwire_service_v0(void);
const struct svc_desc *paxwire_service_v0(void)
{
	return &echo_desc;
}
#elif defined(PLUGIN_NULL)
const struct svc_desc *paxwire_service(void)
{
	(void)&echo_desc;
	return NULL;
}
#else
const struct svc_desc *paxwire_service(void)
{
	return &echo_desc;
}
#endif
