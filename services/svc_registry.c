/* SPDX-License-Identifier: Apache-2.0
 * svc_registry (svc_registry.h): the built-in table, lookup by name, the plugin loader.
 */
#include "svc_registry.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* The built-in services. Adding one: its descriptor in its own file, one line here. */
static const struct svc_desc *const builtins[] = {
	&svc_kv_desc,
	&svc_stream_desc,
};

#define N_BUILTINS (sizeof(builtins) / sizeof(builtins[0]))

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen,
							  const char *fmt, ...)
{
	if (err == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

uint32_t svc_builtin_count(void)
{
	return (uint32_t)N_BUILTINS;
}

const struct svc_desc *svc_builtin_at(uint32_t i)
{
	return i < N_BUILTINS ? builtins[i] : NULL;
}

void svc_builtin_names(char *buf, size_t cap)
{
	if (cap == 0)
		return;
	buf[0] = '\0';
	size_t used = 0;
	for (size_t i = 0; i < N_BUILTINS && used < cap; i++) {
		int w = snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", builtins[i]->name);
		if (w < 0)
			return;
		used += (size_t)w;
	}
}

bool svc_name_ok(const char *name)
{
	if (name == NULL || name[0] < 'a' || name[0] > 'z')
		return false;
	size_t n = 0;
	for (const char *s = name; *s; s++, n++) {
		bool ok = (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_';
		if (!ok || n + 1 >= SVC_NAME_BYTES)
			return false;
	}
	return true;
}

const struct svc_desc *svc_lookup(const char *name)
{
	if (name != NULL)
		for (size_t i = 0; i < N_BUILTINS; i++)
			if (strcmp(builtins[i]->name, name) == 0)
				return builtins[i];
	errno = ENOENT;
	return NULL;
}

/** What changed in the service ABI after version v (v < SVC_ABI_VERSION), for the
 *  refusal of an older plugin. One line per bump of SVC_ABI_VERSION. */
static const char *abi_change_since(uint32_t v)
{
	_Static_assert(SVC_ABI_VERSION == 2u, "a bump of SVC_ABI_VERSION says here what it changed");
	(void)v;   /* every version below 2 is 1 (0 was never released) */
	return "version 2 added snapshot_max, snapshot and restore to struct px_service";
}

int svc_desc_check(const struct svc_desc *d, const char *want, char *err, size_t errlen)
{
	if (d->abi_version < SVC_ABI_VERSION) {
		/* An older plugin: say what changed since, so its author knows what to add. */
		set_err(err, errlen, "built for service ABI version %u, this paxwired runs version %u (%s); fix: rebuild the plugin against this paxwire's services/paxwire_service.h (SVC_ABI_VERSION %u)",
			d->abi_version, SVC_ABI_VERSION, abi_change_since(d->abi_version),
			SVC_ABI_VERSION);
		return -EPROTO;
	}
	if (d->abi_version > SVC_ABI_VERSION) {
		set_err(err, errlen, "built for service ABI version %u, this paxwired runs version %u (the plugin is newer); fix: rebuild the plugin against this paxwire's services/paxwire_service.h (SVC_ABI_VERSION %u), or run a paxwired of service ABI version %u",
			d->abi_version, SVC_ABI_VERSION, SVC_ABI_VERSION, d->abi_version);
		return -EPROTO;
	}
	if (!svc_name_ok(d->name)) {
		set_err(err, errlen, "its descriptor has no valid name (1..%u characters of a-z, 0-9 and _, a letter first); fix: set .name in the plugin's struct svc_desc",
			SVC_NAME_BYTES - 1u);
		return -EINVAL;
	}
	if (d->check == NULL || d->init == NULL) {
		set_err(err, errlen, "the descriptor of service %s has no %s function; fix: set .check and .init in the plugin's struct svc_desc",
			d->name, d->check == NULL ? "check" : "init");
		return -EINVAL;
	}
	if (want != NULL && strcmp(d->name, want) != 0) {
		set_err(err, errlen, "holds service '%s', not '%s'; fix: service = %s, or service_lib = the library of service %s",
			d->name, want, d->name, want);
		return -EINVAL;
	}
	return 0;
}

const struct svc_desc *svc_plugin_load(const char *path, const char *want, void **handle,
				       char *err, size_t errlen)
{
	*handle = NULL;
	if (want != NULL && svc_lookup(want) != NULL) {
		set_err(err, errlen, "service %s is built in, and a plugin does not replace it; fix: remove service_lib, or give the plugin's service another name",
			want);
		errno = EINVAL;
		return NULL;
	}
	struct stat st;
	if (stat(path, &st) != 0) {
		int e = errno;
		set_err(err, errlen, "cannot read it: %s; fix: build the plugin, or correct service_lib to its absolute path",
			strerror(e));
		errno = e == ENOENT ? ENOENT : ELIBBAD;
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		set_err(err, errlen, "not a regular file; fix: service_lib = the plugin's .so file");
		errno = ELIBBAD;
		return NULL;
	}
	/* RTLD_NOW: an unresolved symbol fails here, at start-up, not on the apply path.
	 * RTLD_LOCAL: the plugin's symbols do not leak into paxwired's namespace. */
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		const char *why = dlerror();
		set_err(err, errlen, "cannot load it as a shared object: %s; fix: build it as one for this host (meson shared_module, or cc -shared -fPIC) and check its dependencies with ldd",
			why ? why : "?");
		errno = ELIBBAD;
		return NULL;
	}
	(void)dlerror();
	/* POSIX: a function pointer converts from dlsym's void * (through this union, so
	 * that -Wpedantic has nothing to say). */
	union {
		void *obj;
		const struct svc_desc *(*fn)(void);
	} entry = { .obj = dlsym(h, SVC_ENTRY_SYMBOL) };
	if (entry.obj == NULL) {
		set_err(err, errlen, "no symbol %s in it; fix: define const struct svc_desc *%s(void) in the plugin, exported (default visibility; services/paxwire_service.h)",
			SVC_ENTRY_SYMBOL, SVC_ENTRY_SYMBOL);
		dlclose(h);
		errno = ENOEXEC;
		return NULL;
	}
	const struct svc_desc *d = entry.fn();
	if (d == NULL) {
		set_err(err, errlen, "%s() returned NULL; fix: return the address of the plugin's static struct svc_desc",
			SVC_ENTRY_SYMBOL);
		dlclose(h);
		errno = ENOEXEC;
		return NULL;
	}
	int rc = svc_desc_check(d, want, err, errlen);
	if (rc != 0) {
		dlclose(h);
		errno = -rc;
		return NULL;
	}
	*handle = h;
	return d;
}

void svc_plugin_close(void *handle)
{
	if (handle != NULL)
		dlclose(handle);
}

int svc_check(const struct svc_desc *d, const struct svc_params *p, size_t *arena_bytes,
	      char *err, size_t errlen)
{
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	*arena_bytes = 0;
	int rc = d->check(p, arena_bytes, err, errlen);
	if (rc == 0)
		return 0;
	if (err != NULL && errlen > 0 && err[0] == '\0')
		set_err(err, errlen, "%s:%u: service %s refuses its parameters (%s) without saying why; fix: check [service.%s] against the service's documentation",
			p->path, p->section_line, d->name, strerror(rc < 0 ? -rc : EINVAL), d->name);
	return rc < 0 ? rc : -EINVAL;
}

int svc_init(const struct svc_desc *d, const struct svc_params *p, void *arena, size_t len,
	     struct px_service *svc, char *err, size_t errlen)
{
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	memset(svc, 0, sizeof(*svc));
	int rc = d->init(p, arena, len, svc, err, errlen);
	if (rc != 0) {
		if (err != NULL && errlen > 0 && err[0] == '\0')
			set_err(err, errlen, "%s:%u: service %s failed to start: %s; fix: check [service.%s] against the service's documentation",
				p->path, p->section_line, d->name, strerror(rc < 0 ? -rc : EINVAL),
				d->name);
		return rc < 0 ? rc : -EINVAL;
	}
	if (svc->apply == NULL || svc->hash == NULL) {
		set_err(err, errlen, "service %s's init() left %s unset in struct px_service; fix: the service must set apply and hash (a bug in the service)",
			d->name, svc->apply == NULL ? "apply" : "hash");
		return -EINVAL;
	}
	/* consensus/px_apply.h: snapshot_max, snapshot and restore come together. */
	int n_snap = (svc->snapshot_max != NULL) + (svc->snapshot != NULL) + (svc->restore != NULL);
	if (n_snap != 0 && n_snap != 3) {
		const char *unset = svc->snapshot_max == NULL ? "snapshot_max" :
				    svc->snapshot == NULL ? "snapshot" : "restore";
		set_err(err, errlen, "service %s's init() set only some of snapshot_max, snapshot and restore in struct px_service (%s unset); fix: the service must set all three or none (a bug in the service)",
			d->name, unset);
		return -EINVAL;
	}
	return 0;
}
