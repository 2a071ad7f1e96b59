/* SPDX-License-Identifier: Apache-2.0
 * pw_transport.h: how libpaxwire-client moves datagrams (internal; not installed).
 *
 * The client's engine (pw_client.c) builds and reads whole datagrams (sealed when
 * authenticated) and names their peers by member id; a transport carries them. Four
 * operations: send a batch, receive a batch (never blocking), wait until something may
 * have arrived or a time passes, and the descriptor that becomes readable when a
 * datagram arrives (-1 for a transport that has none and is polled). Kernel UDP
 * (pw_client.c, the default) is one; the engine calls nothing else for its I/O.
 *
 * Rules: send and recv make no allocation; recv never blocks; a datagram a transport
 * cannot send counts as lost (the engine's attempt timeout resends it); recv reports a
 * datagram longer than the buffer as truncated (the engine counts and drops it).
 */
#ifndef PW_TRANSPORT_H
#define PW_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

/** One datagram. Send: buf/len to member `peer`. Receive: the caller gives buf and
 *  cap; the transport sets len, trunc, and peer (the member it came from, or
 *  PW_TP_PEER_NONE: an address that is no member's). */
struct pw_tp_dgram {
	uint8_t *buf;
	uint32_t cap;
	uint32_t len;
	uint8_t peer;
	bool trunc;
};

#define PW_TP_PEER_NONE 0xffu

struct pw_tp_ops {
	/** The transport's name (in messages): "udp". */
	const char *name;
	/** Sends d[0..n), each to d[i].peer. @return how many went out; the rest are lost. */
	uint32_t (*send)(void *tp, const struct pw_tp_dgram *d, uint32_t n);
	/** Receives up to n datagrams already arrived into d[i].buf (d[i].cap bytes).
	 *  @return how many (0: none waiting), or -errno. Never blocks. */
	int (*recv)(void *tp, struct pw_tp_dgram *d, uint32_t n);
	/** Blocks until a datagram may have arrived or CLOCK_MONOTONIC reaches `until_ns`.
	 *  @return 0, or -errno. */
	int (*wait)(void *tp, uint64_t until_ns);
	/** A descriptor that polls readable when a datagram arrived; -1: none. */
	int (*fd)(void *tp);
	/** Releases the transport. */
	void (*close)(void *tp);
};

/** A member as the DPDK transport reaches it: ethdev port j leads to member j. */
struct pw_tp_dpdk_member {
	bool present;
	uint32_t ip_be;       /**< its address, as the cluster file gives it */
	uint16_t port;        /**< host order */
	uint8_t mac[6];       /**< its MAC; all zero: broadcast */
};

/** The client side's own address on every port (a replica answers the source of the
 *  frame it got, MAC included). */
#define PW_TP_DPDK_IP 0x7f0000feu   /* 127.0.0.254 */
#define PW_TP_DPDK_PORT 9999u

/**
 * Opens the DPDK transport (pw_transport_dpdk.c; only in builds with DPDK): starts the
 * EAL with eal_args (space separated; once per process: a second client reuses it, and
 * its eal_args are ignored), then opens ethdev port j for each present member j.
 * @return 0 with *ops and *tp set, or -errno with err saying what failed and what to do.
 */
int pw_tp_dpdk_open(const char *eal_args, const struct pw_tp_dpdk_member *m, uint8_t n,
		    const struct pw_tp_ops **ops, void **tp, char *err, size_t errlen);

#endif
