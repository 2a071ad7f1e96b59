/* SPDX-License-Identifier: Apache-2.0
 * rm-probe: opens the verbs backend of rm (rm.h) on this host's real libibverbs, as a
 * replica would, and says what it found: the device's endpoint (QP number, GID, MTU)
 * or the error that names what is missing. Exit 0 if a context opened, 2 if none.
 *
 *   rm-probe [--device NAME] [--port N] [--gid-index N]   (defaults: first, 1, 1: on
 *            mlx5 index 1 is the RoCE v2 entry of the link-local address)
 *   rm-probe --expect-ok-or-nodev   (the test: either outcome, but a whole one)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rm.h"

int main(int argc, char **argv)
{
	struct rm_conf cf = { .backend = RM_BACKEND_VERBS, .self = 0, .sq_depth = 64,
		.cq_depth = 256, .max_inline = 0, .port = 1, .gid_index = 1 };
	int test = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--device") && i + 1 < argc)
			cf.device = argv[++i];
		else if (!strcmp(argv[i], "--port") && i + 1 < argc)
			cf.port = (uint8_t)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--gid-index") && i + 1 < argc)
			cf.gid_index = (uint8_t)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--expect-ok-or-nodev"))
			test = 1;
		else {
			fprintf(stderr, "usage: rm-probe [--device NAME] [--port N] [--gid-index N]\n");
			return 64;
		}
	}
	if (!rm_verbs_built()) {
		fprintf(stderr, "rm-probe: built without libibverbs\n");
		return 2;
	}
	char err[512];
	struct rm_ctx *c = rm_open(&cf, err, sizeof(err));
	if (!c) {
		int e = errno;
		printf("rm-probe: %s\n", err);
		if (test)   /* no device here is fine; any other failure is not */
			return e == ENODEV && strstr(err, "no RDMA device found") ? 0 : 1;
		return 2;
	}
	struct rm_region r;
	struct rm_endpoint ep;
	int rc = rm_region_reg(c, 4096, &r);
	if (rc == 0)
		rc = rm_endpoint_get(c, 1, &ep);
	if (rc != 0) {
		printf("rm-probe: device opened, but registering a region failed: %s "
		       "(locked memory limit? ulimit -l)\n", strerror(-rc));
		rm_close(c);
		return 1;
	}
	printf("rm-probe: ok: qpn 0x%x psn 0x%x mtu %u lid %u gid ", ep.qpn, ep.psn, ep.mtu,
	       ep.lid);
	for (int i = 0; i < 16; i++)
		printf("%02x%s", ep.gid[i], (i & 1) && i < 15 ? ":" : "");
	printf("\n");
	rm_close(c);
	return 0;
}
