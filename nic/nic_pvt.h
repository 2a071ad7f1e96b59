/* SPDX-License-Identifier: Apache-2.0
 * nic internals shared by the dispatch (nic.c) and the backends (nic_*.c).
 * A backend embeds struct nic_port first in its own port and fills ops.
 */
#ifndef NIC_PVT_H
#define NIC_PVT_H

#include "nic.h"

struct nic_ops {
	uint16_t (*rx_burst)(struct nic_port *p, struct nic_pkt *pkts, uint16_t n);
	void (*rx_done)(struct nic_port *p);
	/** Moves view i of the last burst into hold slot h (free, < conf.rx_hold_max). */
	void (*rx_hold)(struct nic_port *p, uint16_t i, uint32_t h);
	/** Gives the buffer of hold slot h back. */
	void (*rx_release)(struct nic_port *p, uint32_t h);
	/** Returns the next free transmit buffer or NULL; the dispatch flushes first when
	 *  tx_pending == conf.tx_bufs. */
	uint8_t *(*tx_buf)(struct nic_port *p);
	void (*tx_commit)(struct nic_port *p, uint32_t len, const struct nic_addr *dst);
	uint32_t (*tx_flush)(struct nic_port *p);
	int (*wait_rx)(struct nic_port *p, uint64_t timeout_ns);
	/** Optional (NULL: nothing to do). */
	void (*housekeep)(struct nic_port *p, uint64_t now_ns);
	void (*close)(struct nic_port *p);
};

struct nic_port {
	const struct nic_ops *ops;
	struct nic_conf conf;
	struct nic_addr local;       /**< as bound */
	/* Holds (receive side): free slots [0, hold_free_n) of hold_free, and which are in
	 * use (to catch a double release: our bug). conf.rx_hold_max of each. */
	uint32_t *hold_free;
	uint32_t hold_free_n;
	bool *hold_used;
	uint16_t rx_views;           /**< views the last burst returned (a hold's bound) */
	/** Invariant: tx_pending <= conf.tx_bufs. Transmit side: its own cache line
	 *  (conf.tx_elsewhere). */
	_Alignas(64) uint32_t tx_pending;
	struct nic_stats stats;
};

/* Backend constructors: NULL + errno, err filled. */
struct nic_port *nic_udp_open(const struct nic_conf *conf, char *err, size_t errlen);
#ifdef PW_HAVE_DPDK
struct nic_port *nic_dpdk_open(const struct nic_conf *conf, char *err, size_t errlen);
#endif

#endif /* NIC_PVT_H */
