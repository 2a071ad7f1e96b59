/* SPDX-License-Identifier: Apache-2.0
 * paxwire_service.h: how a state machine plugs into paxwired (the service ABI).
 *
 * A service is a struct svc_desc: a name, a one-line summary, check() (its parameters,
 * and the arena they need) and init() (the instance, built in that arena, and the
 * struct px_service the applier drives, consensus/px_apply.h). paxwired finds it by
 * the cluster file's `service = NAME`:
 *   - built in (services/svc_registry.h: kv, stream), or
 *   - in a plugin, `service_lib = /path/to/libNAME.so`: paxwired dlopen()s the library
 *     at start-up and calls its one exported function, paxwire_service(), for the
 *     descriptor. It refuses a descriptor whose abi_version is not SVC_ABI_VERSION or
 *     whose name is not NAME. Nothing in paxwired changes to add a service.
 *
 * Parameters: the key = value lines of the cluster file's [service.NAME] section reach
 * check() and init() as strings (struct svc_params; at most SVC_PARAMS_MAX keys of
 * SVC_PARAM_KEY_BYTES - 1 characters, values of SVC_PARAM_VALUE_BYTES - 1). config/
 * knows nothing of them: the service refuses what it does not know (svc_params_only),
 * with the loader's message style, "FILE:LINE: what is wrong; fix: what to write".
 * The built-in kv and stream also get their typed [cluster] keys this way (kv_keys, ...).
 *
 * Trust and determinism (docs/operations.md, "Plugin services"):
 *   - A plugin runs inside paxwired, with its privileges, on its apply path: it is
 *     trusted as much as paxwired itself. Load only libraries you would build into it.
 *   - apply() must be deterministic: every replica applies the same log, and must reach
 *     the same state and send the same replies. No clocks, randomness, I/O, addresses
 *     or uninitialised bytes in state or replies; no allocation (state lives in the
 *     arena). Validate commands (they come from clients) and answer a malformed one
 *     with status PX_BAD_COMMAND; never crash on one.
 *   - The applier's hash chain proves that replicas applied the same log; only hash()
 *     can show that they reached the same state. Hash all of it, in a way that does not
 *     depend on addresses (paxwired's final counters line carries it: service_hash).
 *
 * Lifetime: paxwired calls check() once, allocates a zeroed, 64-byte aligned arena of
 * at least the bytes check() asked for, calls init() once, then only the struct
 * px_service functions, from one thread. The params and their strings live only during
 * check() and init(): keep values, never pointers to them. The arena is freed at exit
 * and the library is never unloaded while the service runs; there is no fini().
 *
 * Helpers below are static inline, so a plugin needs no symbol from paxwired.
 */
#ifndef PAXWIRE_SERVICE_H
#define PAXWIRE_SERVICE_H

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "px_apply.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The version of this ABI: struct svc_desc, struct svc_params, struct px_service, the
 * reply statuses and the command and reply bounds asserted below. paxwired refuses a
 * plugin built for another version. Bump it with any change to one of them.
 */
#define SVC_ABI_VERSION 2u   /* 2: struct px_service gained snapshot_max, snapshot, restore */

/** The function a plugin exports (dlsym name). */
#define SVC_ENTRY_SYMBOL "paxwire_service"

/** A service name: 1..SVC_NAME_BYTES - 1 characters of [a-z0-9_], a letter first. */
#define SVC_NAME_BYTES 32u
/** Parameters one service may get, and the length bounds of each (with the NUL). */
#define SVC_PARAMS_MAX 32u
#define SVC_PARAM_KEY_BYTES 32u
#define SVC_PARAM_VALUE_BYTES 128u

/* What ABI version 2 fixed: change one and SVC_ABI_VERSION must change with it (then
 * update these asserts). */
_Static_assert(sizeof(struct px_service) == 7 * sizeof(void *),
	       "struct px_service is part of the service ABI");
_Static_assert(offsetof(struct px_service, apply) == 0 &&
		       offsetof(struct px_service, ctx) == 2 * sizeof(void *),
	       "struct px_service's layout is part of the service ABI");
_Static_assert(PX_OK == 0 && PX_BAD_COMMAND == 4, "reply statuses are part of the service ABI");
_Static_assert(PX_CMD_BYTES_MAX == 4096u && PX_REPLY_BYTES_MAX == 4096u,
	       "command and reply bounds are part of the service ABI");

/** One parameter. */
struct svc_param {
	const char *key;
	const char *value;
	/** The section it was read from, without brackets ("service.counter", or
	 *  "cluster" for the built-ins' typed keys). */
	const char *section;
	/** Its line in the file, 1-based; 0 when it is a default (not in the file). */
	uint32_t line;
};

/** A service's parameters. Invariant: n <= SVC_PARAMS_MAX, keys distinct. */
struct svc_params {
	const char *path;        /**< the cluster file, for messages */
	const char *service;     /**< the service's name (its section is [service.NAME]) */
	uint32_t section_line;   /**< line of [service.NAME]; 0 if the file has none */
	uint32_t n;
	const struct svc_param *v;
};

/**
 * A service. abi_version is first in every version of this struct, so that paxwired
 * can read it from a plugin of any version.
 */
struct svc_desc {
	uint32_t abi_version;    /**< SVC_ABI_VERSION */
	const char *name;        /**< as `service = NAME` names it (SVC_NAME_BYTES) */
	const char *summary;     /**< one line for logs and listings */
	/**
	 * Checks the parameters; sets *arena_bytes to the bytes init() needs.
	 * @return 0, or -EINVAL with err holding one line "FILE:LINE: ...; fix: ..."
	 *         (svc_fail and the svc_param_* helpers write it).
	 */
	int (*check)(const struct svc_params *p, size_t *arena_bytes, char *err, size_t errlen);
	/**
	 * Builds an empty instance in arena (zeroed, 64-byte aligned, len >= what check()
	 * asked for, with the same parameters) and fills svc (apply and hash required,
	 * is_read optional, snapshot_max, snapshot and restore optional but all three or
	 * none: without them a replica that falls behind cannot heal). Allocates nothing.
	 * @return 0, or -errno with err holding one line.
	 */
	int (*init)(const struct svc_params *p, void *arena, size_t len, struct px_service *svc,
		    char *err, size_t errlen);
};

/**
 * A plugin defines this (default visibility) and returns its descriptor, a static
 * object of the library.
 */
const struct svc_desc *paxwire_service(void);

/* ---------------------------------------------------------------------------------- */
/* Helpers for check() and init()                                                      */

/**
 * Writes "FILE:LINE: <fmt...>" to err (LINE 0: not at one line). fmt should end with
 * "; fix: ...".
 * @return -EINVAL.
 */
__attribute__((format(printf, 5, 6))) static inline int
svc_fail(const struct svc_params *p, uint32_t line, char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0)
		return -EINVAL;
	int n = snprintf(err, errlen, "%s:%" PRIu32 ": ", p->path ? p->path : "?", line);
	if (n >= 0 && (size_t)n < errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/** The parameter named key, or NULL. */
static inline const struct svc_param *svc_param_find(const struct svc_params *p, const char *key)
{
	for (uint32_t i = 0; i < p->n; i++)
		if (strcmp(p->v[i].key, key) == 0)
			return &p->v[i];
	return NULL;
}

/**
 * Refuses any parameter not in known[0 .. n_known): "FILE:LINE: unknown key 'K' in
 * [SECTION] (service NAME); fix: use k1, k2, ... or remove the line".
 * @return 0 or -EINVAL.
 */
static inline int svc_params_only(const struct svc_params *p, const char *const *known,
				  uint32_t n_known, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < p->n; i++) {
		uint32_t k = 0;
		while (k < n_known && strcmp(known[k], p->v[i].key) != 0)
			k++;
		if (k < n_known)
			continue;
		char list[256] = "";
		size_t used = 0;
		for (k = 0; k < n_known && used < sizeof(list); k++) {
			int w = snprintf(list + used, sizeof(list) - used, "%s%s", k ? ", " : "",
					 known[k]);
			if (w < 0)
				break;
			used += (size_t)w;
		}
		if (n_known == 0)
			return svc_fail(p, p->v[i].line, err, errlen,
					"unknown key '%s' in [%s]: service %s takes no parameters; fix: remove the line",
					p->v[i].key, p->v[i].section, p->service);
		return svc_fail(p, p->v[i].line, err, errlen,
				"unknown key '%s' in [%s] (service %s); fix: use %s%s, or remove the line",
				p->v[i].key, p->v[i].section, p->service, n_known > 1 ? "one of " : "",
				list);
	}
	return 0;
}

/**
 * A whole number parameter in [lo, hi] (decimal digits only), def if absent. Its
 * error: "FILE:LINE: key = value: not a whole number in [lo, hi]; fix: key = <lo..hi>,
 * e.g. key = def".
 * @return 0 or -EINVAL.
 */
static inline int svc_param_u32(const struct svc_params *p, const char *key, uint32_t lo,
				uint32_t hi, uint32_t def, uint32_t *out, char *err, size_t errlen)
{
	const struct svc_param *q = svc_param_find(p, key);
	if (q == NULL) {
		*out = def;
		return 0;
	}
	const char *s = q->value;
	uint64_t x = 0;
	bool ok = *s != '\0' && strlen(s) <= 10;
	for (; ok && *s; s++) {
		if (*s < '0' || *s > '9')
			ok = false;
		else
			x = x * 10u + (uint64_t)(*s - '0');
	}
	if (!ok || x < lo || x > hi)
		return svc_fail(p, q->line, err, errlen,
				"%s = %s: not a whole number in [%" PRIu32 ", %" PRIu32 "] (service %s); fix: %s = <%" PRIu32 "..%" PRIu32 ">, e.g. %s = %" PRIu32,
				key, q->value, lo, hi, p->service, key, lo, hi, key, def);
	*out = (uint32_t)x;
	return 0;
}

#ifdef __cplusplus
}
#endif

#endif /* PAXWIRE_SERVICE_H */
