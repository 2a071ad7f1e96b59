/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer harness for the cluster-file loader (config/cfg.h): the input is the file.
 * Seed corpus: tests/fuzz/corpus/fuzz_config/ (the files in deploy/ and variants).
 *
 * cfg_load takes a path, so the input is written to a memfd (created once per process,
 * rewritten per input) and loaded as /proc/self/fd/N: nothing to clean up, and two
 * harness processes never share a file.
 *
 * Properties checked for every input:
 *   - cfg_load and cfg_key_line never crash, read out of bounds or trip UBSan;
 *   - on error: cfg_load returns -EINVAL and the message is one non-empty line that
 *     starts with "PATH:" and fits the buffer (NUL-terminated);
 *   - on success the result is what cfg.h promises: a cluster id, 1, 3, 5, 7 or 9
 *     replicas each with its own ip:port, a key file unless auth = off (and none
 *     then), auth_clients a power of two in 8..65536, a service name, at most
 *     CFG_SERVICE_PARAMS_MAX service parameters with distinct keys, strings
 *     terminated; and cfg_to_px gives every member a configuration the core accepts
 *     (px_config_check), so paxwired cannot load a file and then fail at init;
 *   - cfg_key_line names a line that exists (or 0).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cfg.h"
#include "px.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static void check_str(const char *s, size_t cap)
{
	check(memchr(s, '\0', cap) != NULL);
}

static void check_loaded(const struct cfg_cluster *c)
{
	struct px_config px;
	const char *why = NULL;
	uint8_t n = c->n_replicas;

	check(c->cluster_id != 0);
	check(n == 1 || n == 3 || n == 5 || n == 7 || n == 9);
	check(c->transport == CFG_TRANSPORT_UDP || c->transport == CFG_TRANSPORT_DPDK);
	check(c->durability == PX_MEMORY || c->durability == PX_DURABLE);
	check(c->service >= CFG_SERVICE_KV && c->service <= CFG_SERVICE_OTHER);
	check(c->clients == CFG_CLIENTS_DPDK || c->clients == CFG_CLIENTS_UDP);
	check(c->stages == 1);
	check_str(c->path, sizeof(c->path));
	check_str(c->service_name, sizeof(c->service_name));
	check(c->service_name[0] != '\0');
	check_str(c->service_lib, sizeof(c->service_lib));
	/* Authentication: a key file unless auth = off, and then none. */
	check_str(c->key_file, sizeof(c->key_file));
	check(c->auth_off == (c->key_file[0] == '\0'));
	check(c->auth_clients >= 8 && c->auth_clients <= 65536);
	check((c->auth_clients & (c->auth_clients - 1)) == 0);
	check(c->n_service_params <= CFG_SERVICE_PARAMS_MAX);
	for (uint32_t i = 0; i < c->n_service_params; i++) {
		const struct cfg_service_param *p = &c->service_params[i];

		check_str(p->key, sizeof(p->key));
		check_str(p->value, sizeof(p->value));
		for (uint32_t j = 0; j < i; j++)
			check(strcmp(p->key, c->service_params[j].key) != 0);
	}
	for (uint8_t i = 0; i < n; i++) {
		const struct cfg_member *m = &c->members[i];

		check(m->id == i);
		check_str(m->ip, sizeof(m->ip));
		if (c->transport == CFG_TRANSPORT_DPDK)
			check(m->has_mac);
		for (uint8_t j = 0; j < i; j++)
			check(m->ip_be != c->members[j].ip_be || m->port != c->members[j].port);
	}
	/* What paxwired does next with each member's view: it must pass the core's check. */
	for (uint8_t self = 0; self < n; self++) {
		cfg_to_px(c, self, &px);
		px.seed = 1;
		check(px_config_check(&px, &why) == 0);
		check(px.heartbeat_ticks >= 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	static struct cfg_cluster c;
	char err[512];
	size_t lines = 1, len;
	int rc;

	if (fd < 0) {
		fd = memfd_create("pw-fuzz-config", MFD_CLOEXEC);
		if (fd < 0) {
			perror("fuzz_config: memfd_create");
			abort();
		}
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || (size != 0 && pwrite(fd, data, size, 0) != (ssize_t)size)) {
		perror("fuzz_config: writing the memfd");
		abort();
	}
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';

	memset(err, 0x5a, sizeof(err));
	rc = cfg_load(path, &c, err, sizeof(err));
	if (rc != 0) {
		check(rc == -EINVAL);
		len = strnlen(err, sizeof(err));
		check(len < sizeof(err));
		check(len > strlen(path) + 1);
		check(strncmp(err, path, strlen(path)) == 0 && err[strlen(path)] == ':');
		check(memchr(err, '\n', len) == NULL);
	} else {
		check_loaded(&c);
	}

	/* The line lookups paxwired makes for its messages about loaded values. */
	check(cfg_key_line(path, "cluster", "id") <= lines);
	check(cfg_key_line(path, "cluster", "service") <= lines);
	check(cfg_key_line(path, "replica.0", "port") <= lines);
	return 0;
}
