/* SPDX-License-Identifier: Apache-2.0
 * nic: burst datagram I/O behind one interface (prefix nic_).
 *
 * A port is one local address (IPv4 + UDP port) that receives and sends datagrams in
 * bursts. The caller sees UDP payloads only: a backend hides how they travel.
 *   - kernel UDP (nic_udp.c): one socket, recvmmsg/sendmmsg, nonblocking. Always built.
 *   - DPDK ethdev (nic_dpdk.c, only when built with libdpdk): any ethdev port (memif,
 *     af_packet, ring, PCI PMDs) with Eth/IPv4/UDP framing done in the backend, ARP
 *     requests and ICMP echo requests for the local IP answered there; rx views point
 *     into mbufs, which nic_rx_done releases, and tx buffers are mbuf data areas past
 *     the headers. That is why the interface has an explicit rx_done, hands out tx
 *     buffers rather than taking caller memory, and carries a MAC in struct nic_addr.
 *     The process starts DPDK's EAL (env/env.h: env_eal_init) before opening such a port.
 *
 * Receive:  n = nic_rx_burst(p, pkts, max): up to max views {payload, len, source}.
 *           The views stay valid until the next nic_rx_burst or nic_rx_done on p,
 *           except those the caller holds: h = nic_rx_hold(p, i) keeps pkts[i] valid
 *           until nic_rx_release(p, h), across any number of bursts (a decoded command
 *           can wait in a batch that spans bursts and ports). At most conf.rx_hold_max
 *           at once: the port has that many spare buffers (UDP) or mbufs (ethdev).
 * Transmit: buf = nic_tx_buf(p, &cap); write up to cap bytes; nic_tx_commit(p, len, dst)
 *           queues it (not calling commit abandons the buffer, nothing is queued).
 *           nic_tx_flush(p) hands everything queued to the kernel/NIC in one burst.
 *           nic_tx_buf flushes by itself when every buffer is queued.
 * Idle:     nic_wait_rx(p, ns) sleeps until a datagram is readable or ns have passed.
 *
 * Memory: everything is allocated by nic_open (buffers sized by the conf); the burst
 * functions allocate nothing, and their only system calls are the I/O itself (UDP: one
 * recvmmsg per rx burst, one sendmmsg per flush, except after a send error).
 * Thread affinity: a port is used by one thread (_st), or by two when conf.tx_elsewhere:
 * one receives (nic_rx_burst, nic_rx_done, nic_wait_rx), the other transmits; their
 * counters are distinct fields. Ports share nothing.
 * Input from the network is never asserted: malformed or oversized datagrams are counted
 * by reason (enum nic_drop) and dropped.
 */
#ifndef NIC_H
#define NIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Views one rx burst returns at most; datagrams one flush sends at most. */
#define NIC_BURST_MAX 64u
/** Transmit buffers of one port at most (UIO_MAXIOV bounds one sendmmsg). */
#define NIC_TX_BUFS_MAX 1024u
/** Datagrams one port holds past their burst at most (nic_rx_hold). */
#define NIC_HOLD_MAX 1024u
/** nic_rx_hold's answer when the port holds conf.rx_hold_max datagrams already. */
#define NIC_HOLD_NONE UINT32_MAX
/** Largest UDP payload over IPv4. */
#define NIC_BUF_BYTES_MAX 65507u

_Static_assert(NIC_BURST_MAX <= NIC_TX_BUFS_MAX, "a flush holds at least one burst");
_Static_assert(NIC_TX_BUFS_MAX <= 1024u, "one sendmmsg takes at most UIO_MAXIOV messages");

enum nic_backend {
	NIC_BACKEND_UDP = 1,     /**< kernel UDP socket */
	NIC_BACKEND_DPDK = 2,    /**< DPDK ethdev port (nic_dpdk_built() tells if built) */
};

/** A datagram endpoint: a replica or a client. */
struct nic_addr {
	uint32_t ip_be;          /**< IPv4, network order */
	uint16_t port_be;        /**< UDP port, network order */
	/** Ethernet next hop for ethdev backends (learnt from the frame a client sent, or
	 *  a member's configured MAC); the UDP backend ignores it and leaves it zero. */
	uint8_t mac[6];
};

static inline bool nic_addr_eq(const struct nic_addr *a, const struct nic_addr *b)
{
	return a->ip_be == b->ip_be && a->port_be == b->port_be;
}

/** One received datagram (a view: see nic_rx_burst for how long it lives). */
struct nic_pkt {
	const uint8_t *data;     /**< UDP payload */
	uint32_t len;            /**< payload bytes, <= conf.buf_bytes */
	struct nic_addr src;     /**< where it came from: reply here */
};

struct nic_conf {
	enum nic_backend backend;
	/** Address to receive on (and send from). port 0: the kernel picks one
	 *  (nic_local_addr tells which); ip 0: every local address (clients, tools). */
	struct nic_addr local;
	uint16_t burst;          /**< rx burst size, 1..NIC_BURST_MAX */
	uint32_t buf_bytes;      /**< largest payload, rx and tx, 1..NIC_BUF_BYTES_MAX */
	uint32_t tx_bufs;        /**< transmit buffers, burst..NIC_TX_BUFS_MAX */
	/** Received datagrams held past their burst at most (nic_rx_hold), 0..NIC_HOLD_MAX:
	 *  UDP allocates that many more receive buffers, ethdev that many more mbufs. */
	uint32_t rx_hold_max;
	/** UDP: SO_RCVBUF/SO_SNDBUF to ask for (the kernel caps it at net.core.rmem_max /
	 *  wmem_max); 0 keeps the kernel's default. */
	uint32_t sock_buf_bytes;
	/** DPDK: the ethdev port id (EAL order of --vdev / PCI devices). */
	uint16_t eth_port;
	/** DPDK: set local.mac as the port's MAC; false keeps the port's own (then
	 *  nic_local_addr reports it). */
	bool eth_mac_set;
	/** Another thread transmits on this port (nic_tx_buf/commit/flush) while this one
	 *  receives: the ARP and ICMP echo replies the receive side makes are then handed
	 *  to the transmit side through a lock-free single-producer/single-consumer ring
	 *  and sent by its next nic_tx_flush (which then runs even with nothing queued). */
	bool tx_elsewhere;
};

/** Why a datagram was dropped inside the port. */
enum nic_drop {
	NIC_DROP_RX_TRUNC,       /**< longer than buf_bytes: truncated by the kernel */
	NIC_DROP_RX_ADDR,        /**< source not IPv4 */
	NIC_DROP_RX_ERROR,       /**< receive error other than "nothing to read" */
	NIC_DROP_TX_NOBUF,       /**< no transmit buffer (ethdev: mempool empty) */
	NIC_DROP_TX_FULL,        /**< kernel send buffer full (EAGAIN, ENOBUFS) */
	NIC_DROP_TX_ERROR,       /**< other send errors (unreachable, message too long) */
	/* DPDK ethdev framing (the UDP backend never counts these). */
	NIC_DROP_RX_NOT_IPV4,    /**< not IPv4 (and not an ARP request for us) */
	NIC_DROP_RX_BAD_HDR,     /**< IPv4/UDP header invalid: version, IHL, checksum, lengths */
	NIC_DROP_RX_NOT_FOR_US,  /**< IPv4 dst is not ours, or UDP dst port is not ours */
	NIC_DROP_RX_NOT_UDP,     /**< IPv4 but neither UDP nor an ICMP echo request */
	NIC_DROP_RX_FRAG,        /**< IPv4 fragment (not reassembled) */
	NIC_DROP_RX_SHORT,       /**< frame shorter than its headers say (truncated) */
	NIC_DROP_MAX,
};

/** Counters, all monotonic. */
struct nic_stats {
	/* Receive side (and the backend's control replies, made while receiving). */
	uint64_t rx_pkts, rx_bytes;
	uint64_t rx_polls;       /**< nic_rx_burst calls */
	uint64_t rx_bursts;      /**< nic_rx_burst calls that returned datagrams */
	uint64_t rx_holds;       /**< datagrams held past their burst (nic_rx_hold) */
	uint64_t rx_hold_full;   /**< nic_rx_hold refused: rx_hold_max held already */
	uint64_t waits;          /**< nic_wait_rx calls */
	uint64_t wakeups;        /**< ... that found something readable */
	/* DPDK ethdev only: control traffic answered inside the backend. */
	uint64_t arp_replies;    /**< ARP requests for our IP answered */
	uint64_t icmp_replies;   /**< ICMP echo requests to our IP answered */
	uint64_t ctl_tx_drops;   /**< those replies the NIC refused (freed) */
	uint64_t link_restarts;  /**< memif: port restarted to reconnect a lost link */
	/** By reason; rx reasons are counted by the receiving thread, tx reasons by the
	 *  transmitting one (distinct elements; both rare). */
	uint64_t drops[NIC_DROP_MAX];
	/* Transmit side, on its own cache line: with conf.tx_elsewhere another thread
	 * writes these for every datagram, and sharing a line with rx_pkts would make
	 * the two threads bounce it (false sharing). */
	_Alignas(64) uint64_t tx_pkts;
	uint64_t tx_bytes;
	uint64_t tx_flushes;     /**< flushes that had something to send */
};

struct nic_port;

/**
 * Opens a port: binds, allocates every buffer. @return the port, or NULL with errno set
 * and err holding one line naming the cause ("bind 127.0.0.1:7100: Address already in
 * use"); the caller adds the fix it knows (which config, which process).
 */
struct nic_port *nic_open(const struct nic_conf *conf, char *err, size_t errlen);

/** Flushes nothing: queued datagrams are discarded. Frees everything. NULL is fine. */
void nic_close(struct nic_port *p);

/** The bound address (the kernel's choice when conf.local.port_be was 0). */
struct nic_addr nic_local_addr(const struct nic_port *p);

/**
 * Receives up to n datagrams (n <= conf.burst) without blocking.
 * @return datagrams in pkts[0..ret); their data stays valid until the next
 *         nic_rx_burst or nic_rx_done on p.
 */
uint16_t nic_rx_burst(struct nic_port *p, struct nic_pkt *pkts, uint16_t n);

/** The views of the last burst are no longer used (ethdev: frees the mbufs), except
 *  the held ones. */
void nic_rx_done(struct nic_port *p);

/**
 * Keeps pkts[i] of the last nic_rx_burst (i < what it returned, before nic_rx_done)
 * valid past that burst, until nic_rx_release(p, ret). No copy: the port swaps a spare
 * buffer in (UDP) or keeps the mbuf (ethdev). @return the hold's handle, or
 * NIC_HOLD_NONE when conf.rx_hold_max datagrams are held already (counted
 * rx_hold_full; the view then ends with its burst as usual).
 */
uint32_t nic_rx_hold(struct nic_port *p, uint16_t i);

/** Ends the hold h (a handle nic_rx_hold returned, released once). */
void nic_rx_release(struct nic_port *p, uint32_t h);

/** Datagrams held now. */
uint32_t nic_rx_held(const struct nic_port *p);

/**
 * The next transmit buffer, *cap bytes (conf.buf_bytes). Flushes first if every buffer
 * is queued. The buffer is queued only by nic_tx_commit; until then, the next call
 * returns the same buffer. @return NULL when none can be had (counted NIC_DROP_TX_NOBUF).
 */
uint8_t *nic_tx_buf(struct nic_port *p, uint32_t *cap);

/** Queues the buffer nic_tx_buf returned last: len bytes (1..cap) to dst. */
void nic_tx_commit(struct nic_port *p, uint32_t len, const struct nic_addr *dst);

/** Datagrams queued and not yet flushed. */
uint32_t nic_tx_pending(const struct nic_port *p);

/**
 * Sends everything queued, in one burst. Datagrams the kernel refuses are counted by
 * reason and dropped (paxwire's protocol tolerates loss); the queue is empty afterwards.
 * @return datagrams handed to the kernel/NIC.
 */
uint32_t nic_tx_flush(struct nic_port *p);

/**
 * Waits until a datagram is readable or timeout_ns have passed (0: just checks).
 * A signal ends the wait early. @return 1 readable, 0 timed out or interrupted by a
 * signal, -errno on failure.
 */
int nic_wait_rx(struct nic_port *p, uint64_t timeout_ns);

const struct nic_stats *nic_stats(const struct nic_port *p);

/**
 * Slow-path care of the port, to call often (every loop iteration is fine: it returns
 * at once until its next check is due, every few hundred ms). DPDK memif: a link that
 * has been down for a second is restarted (stop + start), which makes a memif client
 * reconnect to a server process that restarted; memif does not do that by itself. The
 * restart is counted (link_restarts). No-op for the other backends.
 */
void nic_housekeep(struct nic_port *p, uint64_t now_ns);

/** Whether this build has the DPDK ethdev backend (meson found libdpdk). */
bool nic_dpdk_built(void);

/** Static counter name of a drop reason ("rx_trunc", ...). */
const char *nic_drop_name(enum nic_drop d);

/** Writes "a.b.c.d:port" into buf (at least 22 bytes for the whole of it). */
void nic_addr_format(const struct nic_addr *a, char *buf, size_t len);

/** Builds an address from an IPv4 in network order and a port in host order. */
struct nic_addr nic_addr_make(uint32_t ip_be, uint16_t port);

#endif /* NIC_H */
