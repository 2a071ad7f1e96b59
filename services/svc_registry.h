/* SPDX-License-Identifier: Apache-2.0
 * svc_registry: the services paxwired can run, found by name. A table of the built-in
 * ones (kv, stream) and a loader for plugins (a shared object exporting
 * paxwire_service(), services/paxwire_service.h).
 *
 * Start-up code only: none of this runs on the apply path. Messages are one line,
 * "what is wrong; fix: what to do"; the caller puts the file and line in front
 * (paxwired: "FILE:LINE: service_lib = PATH: ...").
 *
 * Library pwsvcreg (svc_registry_dep): it links libdl, so the services library itself
 * (pwservices, linked by the simulator and the client) does not.
 */
#ifndef SVC_REGISTRY_H
#define SVC_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "paxwire_service.h"

/** The built-in descriptors (services/svc_kv.c, services/svc_stream.c). */
extern const struct svc_desc svc_kv_desc;
extern const struct svc_desc svc_stream_desc;

/** Built-in services, in table order (kv first: the default service). */
uint32_t svc_builtin_count(void);
/** @return the i-th built-in descriptor; NULL if i >= svc_builtin_count(). */
const struct svc_desc *svc_builtin_at(uint32_t i);

/** Writes "kv, stream" (the built-in names) to buf; always NUL-terminated. */
void svc_builtin_names(char *buf, size_t cap);

/** True if name is 1..SVC_NAME_BYTES - 1 characters of [a-z0-9_], a letter first. */
bool svc_name_ok(const char *name);

/** @return the built-in service called name, or NULL with errno = ENOENT. */
const struct svc_desc *svc_lookup(const char *name);

/**
 * Checks a descriptor before anything of it is called: abi_version == SVC_ABI_VERSION,
 * a well-formed name equal to want (if want is not NULL), check and init set.
 * @return 0, or -EINVAL (ABI version: -EPROTO) with err holding "what; fix: ...".
 */
int svc_desc_check(const struct svc_desc *d, const char *want, char *err, size_t errlen);

/**
 * Loads a plugin: dlopen(path, RTLD_NOW | RTLD_LOCAL), dlsym(SVC_ENTRY_SYMBOL), calls it
 * and checks the descriptor with svc_desc_check(d, want). A built-in name is refused
 * (a plugin does not replace kv or stream).
 * @param handle receives the dlopen handle (svc_plugin_close it after the service's
 *        last use).
 * @return the descriptor, or NULL with errno (ENOENT: no such file; ELIBBAD: not a
 *         loadable shared object; ENOEXEC: no paxwire_service symbol, or it returned
 *         NULL; EPROTO: another ABI version; EINVAL: a bad descriptor, another name, or
 *         a built-in name) and err holding "what; fix: ...".
 */
const struct svc_desc *svc_plugin_load(const char *path, const char *want, void **handle,
				       char *err, size_t errlen);

/** dlclose()s a handle from svc_plugin_load; NULL is fine. */
void svc_plugin_close(void *handle);

/**
 * d->check() with its contract enforced: 0, or -errno with err set (a service that
 * failed without a message gets a generic one).
 */
int svc_check(const struct svc_desc *d, const struct svc_params *p, size_t *arena_bytes,
	      char *err, size_t errlen);

/**
 * d->init() on a zeroed svc, then checks that apply and hash are set, and that
 * snapshot_max, snapshot and restore are all set or all NULL.
 * @return 0, or -errno with err set.
 */
int svc_init(const struct svc_desc *d, const struct svc_params *p, void *arena, size_t len,
	     struct px_service *svc, char *err, size_t errlen);

#endif /* SVC_REGISTRY_H */
