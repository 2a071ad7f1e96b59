/* SPDX-License-Identifier: Apache-2.0
 * The cluster configuration file (one INI file per cluster), shared by paxwired, the
 * client library's tools and the tests. Parsed with inih (Debian's libinih); every
 * error names the file, the line and the fix.
 *
 *   [cluster]
 *   id = 1                  ; cluster id (u32, > 0); messages of other clusters are dropped
 *   replicas = 3            ; 3, 5, 7 or 9 (1: unreplicated baseline)
 *   transport = udp         ; udp (kernel sockets) | dpdk
 *   durability = memory     ; memory | durable (an on-disk journal: paxwired --data-dir)
 *   heartbeat_ms = 5        ; or heartbeat_us = 5000 (one of the two)
 *   election_ms = 50        ; >= 2 x the heartbeat; or election_us = 50000
 *   tick_us = 1000          ; one consensus tick (1..1000000); timeouts are converted
 *                           ; to ticks (deploy/local-3-dedicated.ini: 10 us ticks,
 *                           ; 50 us heartbeats, on dedicated cores)
 *   window_slots = 1024
 *   pipeline_slots = 256
 *   batch_cmds_max = 64
 *   slot_bytes = 8192
 *   sessions = 4096         ; client sessions kept by each replica
 *   kv_keys = 65536         ; key-value store capacity
 *   idle = adaptive         ; poll | adaptive
 *   service = kv            ; the replicated state machine: kv, stream (built in), or
 *                           ; the name of a plugin's service (with service_lib)
 *   service_lib = /usr/lib/paxwire/libpwcounter.so
 *                           ; a plugin: the absolute path of its shared object, which
 *                           ; exports paxwire_service() (services/paxwire_service.h)
 *   kv_key_bytes = 64       ; kv: longest key (1..255)
 *   kv_value_bytes = 1024   ; kv: longest value (0..3829)
 *   stream_records = 65536  ; stream: records held (power of two)
 *   stream_bytes = 16777216 ; stream: payload bytes held
 *   clients = dpdk          ; dpdk transport: dpdk (clients reach the DPDK ports) |
 *                           ; udp (a kernel UDP socket at each member's ip:port serves
 *                           ; clients; peers still talk over the DPDK ports)
 *   stages = 1              ; one lcore runs everything (2 was removed: no gain)
 *   transfer_chunks_per_tick = 16 ; state transfer: 8 KiB chunks asked per tick
 *                           ; (1..1024; the rate limit, 128 MB/s at 1 ms ticks)
 *   key_file = cluster.key  ; the cluster key (pwctl keygen FILE; mode 0600), relative
 *                           ; to this file's directory; required unless auth = off
 *   auth = on               ; on | off: off takes every datagram as it comes (a lab
 *                           ; on a trusted network only; paxwired warns at start)
 *   auth_clients = 1024     ; client lives each replica keeps authenticated (power of
 *                           ; two, 8..65536; each has its replay window)
 *   log_transport = message ; message (ACCEPTs as datagrams) | shm (the leader writes
 *                           ; them into followers' memory: one-sided writes through
 *                           ; shared memory, every replica on this host) | rdma (one-
 *                           ; sided RDMA writes, RC over RoCE v2: docs/rdma.md; NOT
 *                           ; TESTED ON HARDWARE). shm and rdma need durability = memory
 *   rm_ring = 64            ; shm, rdma: records in each follower's log region (power
 *                           ; of two, 8..1024; one record per ACCEPT)
 *   rm_device = mlx5_0      ; rdma only: the device (default: the first one found)
 *   rm_port = 1             ; rdma only: its port
 *   rm_gid_index = 0        ; rdma only: the RoCE v2 GID index (show_gids names it)
 *   snapshot_every = 0      ; take a snapshot every N applied slots (durable: saved
 *                           ; to the data dir, the journal compacted below it);
 *                           ; 0: memory mode only when a peer asks for one, durable
 *                           ; mode every 65536 slots
 *
 *   [service.counter]       ; optional: parameters of the service named by service =
 *   counters = 1024         ; key = value lines kept as strings and handed to the
 *                           ; service, which refuses the keys it does not know
 *                           ; (CFG_SERVICE_PARAMS_MAX keys, bounded lengths; no
 *                           ; [cluster] key may appear here)
 *
 *   [replica.0]             ; one section per member, ids 0 .. replicas-1 (the initial
 *                           ; voters); a section for a higher id (up to 8) lists a
 *                           ; member added at run time (pwctl add-member, paxwired
 *                           ; --join): cfg_cluster.listed
 *   ip = 127.0.0.1
 *   port = 7100             ; UDP port for peers and clients
 *   mac = 02:00:00:00:00:01 ; dpdk transport only
 *   port_index = 0          ; dpdk transport only: the ethdev port for clients, and for
 *                           ; peers without a link.M line
 *   link.1 = 0              ; dpdk transport only: the ethdev port that leads to replica 1
 *                           ; (a mesh of point-to-point links such as memif: one per peer)
 *
 * [cluster] must set id and replicas; every other key has the default shown above
 * (cfg_defaults). transport = dpdk needs mac in every [replica.N]. Keys must not
 * be indented: inih reads an indented line as the continuation of the previous value,
 * so the loader refuses indented lines.
 *
 * The loader does not know which services exist (services/svc_registry.h does, and
 * paxwired asks it): it checks that `service` is a well-formed name, keeps the
 * [service.NAME] lines, and refuses a [service.X] section for another service than
 * the one `service` names. For kv and stream it adds their typed [cluster] keys
 * (kv_keys, kv_key_bytes, kv_value_bytes; stream_records, stream_bytes) to the
 * service's parameters, with their values or defaults.
 */
#ifndef CFG_H
#define CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "px_limits.h"

enum cfg_transport { CFG_TRANSPORT_UDP = 1, CFG_TRANSPORT_DPDK = 2 };
enum cfg_idle { CFG_IDLE_POLL = 1, CFG_IDLE_ADAPTIVE = 2 };
/** The built-in services the loader knows by their typed keys; CFG_SERVICE_OTHER: any
 *  other name (service_name), which paxwired resolves: the registry, or service_lib. */
enum cfg_service { CFG_SERVICE_KV = 1, CFG_SERVICE_STREAM = 2, CFG_SERVICE_OTHER = 3 };
/** Where a dpdk replica hears its clients: on its DPDK ports (clients are DPDK processes,
 *  or kernel clients behind a NIC/bridge), or on a kernel UDP socket at its ip:port
 *  (kernel clients on the same host, while peers talk over memif links). */
enum cfg_clients { CFG_CLIENTS_DPDK = 1, CFG_CLIENTS_UDP = 2 };
/** How a leader's ACCEPTs reach followers (docs/rdma.md): datagrams, or one-sided writes
 *  into their log regions (shared memory on one host, or RDMA). Control traffic
 *  (elections, recovery, catch-up, state transfer, clients) stays on `transport`. */
enum cfg_log_transport { CFG_LOG_MESSAGE = 1, CFG_LOG_SHM = 2, CFG_LOG_RDMA = 3 };

struct cfg_member {
	uint8_t id;
	char ip[64];          /**< as written */
	uint32_t ip_be;       /**< IPv4, network order */
	uint16_t port;        /**< host order */
	uint8_t mac[6];
	bool has_mac;
	uint16_t port_index;
	/** dpdk: link[j] is the ethdev port this member reaches member j on (a memif link
	 *  per peer); port_index unless [replica.N] sets link.j. */
	uint16_t link[PX_REPLICAS_MAX];
};

/* Bounds of the service keys; the service ABI (services/paxwire_service.h) repeats
 * them, and paxwired asserts at compile time that they agree. */
#define CFG_SERVICE_NAME_BYTES 32u     /**< with the NUL */
#define CFG_SERVICE_LIB_BYTES 256u     /**< with the NUL */
#define CFG_SERVICE_PARAMS_MAX 32u
#define CFG_SERVICE_KEY_BYTES 32u      /**< with the NUL */
#define CFG_SERVICE_VALUE_BYTES 128u   /**< with the NUL */

/** One parameter of the service, as written (or a typed key's default). */
struct cfg_service_param {
	char key[CFG_SERVICE_KEY_BYTES];
	char value[CFG_SERVICE_VALUE_BYTES];
	/** true: a typed [cluster] key of kv or stream; false: from [service.NAME]. */
	bool in_cluster;
	/** Line in the file, 1-based; 0 for a typed key left at its default. */
	uint32_t line;
};

struct cfg_cluster {
	char path[256];
	uint32_t cluster_id;
	uint8_t n_replicas;
	enum cfg_transport transport;
	int durability;       /**< enum px_durability */
	uint32_t heartbeat_ms, election_ms, tick_us;
	uint32_t window_slots, pipeline_slots, batch_cmds_max, slot_bytes;
	uint32_t sessions, kv_keys;
	enum cfg_idle idle;
	struct cfg_member members[PX_REPLICAS_MAX];
	/* Added after the first version of this header (appended, so existing users keep
	 * their layout assumptions). */
	enum cfg_service service;
	uint32_t kv_key_bytes, kv_value_bytes;     /**< kv: bounds of one key and value */
	uint32_t stream_records, stream_bytes;     /**< stream: ring capacity */
	enum cfg_clients clients;                   /**< dpdk: where clients are heard */
	uint32_t stages;                           /**< 1 (run to completion); the key is
	                                                kept so old files load */
	/** service = NAME as written; `service` is its enum (CFG_SERVICE_OTHER if neither
	 *  kv nor stream). */
	char service_name[CFG_SERVICE_NAME_BYTES];
	/** service_lib: an absolute path, or "" (a built-in service). */
	char service_lib[CFG_SERVICE_LIB_BYTES];
	/** State transfer's rate limit (node_conf.transfer_chunks_per_tick). */
	uint32_t transfer_chunks_per_tick;
	/** Take a snapshot every this many applied slots (0: when a peer asks). */
	uint32_t snapshot_every;
	/** Line of [service.NAME], 0 if none. */
	uint32_t service_section_line;
	/** The service's parameters: [service.NAME] in file order, then (kv, stream) the
	 *  typed [cluster] keys. Invariant: n_service_params <= CFG_SERVICE_PARAMS_MAX,
	 *  keys distinct. */
	uint32_t n_service_params;
	struct cfg_service_param service_params[CFG_SERVICE_PARAMS_MAX];
	/** Authentication (docs/security.md): the cluster key file (key_file, resolved
	 *  against the cluster file's directory; "" when auth = off), auth = off, and the
	 *  client lives each replica keeps (auth_clients). */
	char key_file[256];
	bool auth_off;
	uint32_t auth_clients;
	/** Bit i: the file has a [replica.i] section. Ids 0..n_replicas-1 (the initial
	 *  voters) always; a higher id is a member added at run time (pwctl add-member,
	 *  paxwired --join on its host): its address for this file's readers (docs/
	 *  operations.md, "Membership changes"). */
	uint16_t listed;
	/** The timers in microseconds, whichever keys set them (heartbeat_us or
	 *  heartbeat_ms x 1000; election_us or election_ms x 1000): what cfg_to_px uses.
	 *  heartbeat_ms and election_ms above are then these / 1000, rounded down (0 for
	 *  a sub-millisecond timer). */
	uint32_t heartbeat_us, election_us;
	/** log_transport and its keys (docs/rdma.md). rm_device "": the first device. */
	enum cfg_log_transport log_transport;
	uint32_t rm_ring;
	char rm_device[64];
	uint32_t rm_port, rm_gid_index;
};

/* Bounds the loader checks. The service bounds repeat services/svc_kv.h and
 * services/svc_stream.h (the config library does not depend on services/); paxwired
 * asserts at compile time that they agree. */
#define CFG_HEARTBEAT_MS_MAX 60000u
#define CFG_ELECTION_MS_MAX 600000u
#define CFG_HEARTBEAT_US_MAX (CFG_HEARTBEAT_MS_MAX * 1000u)
#define CFG_ELECTION_US_MAX (CFG_ELECTION_MS_MAX * 1000u)
/** A tick may be as short as 1 us: on dedicated cores (idle = poll) the loop reads the
 *  clock every iteration and runs the ticks due, without a system call. */
#define CFG_TICK_US_MIN 1u
#define CFG_TICK_US_MAX 1000000u
#define CFG_KV_KEYS_MAX (1u << 24)
#define CFG_KV_KEY_BYTES_MAX 255u
#define CFG_KV_VALUE_BYTES_MAX 3829u
#define CFG_STREAM_RECORDS_MAX (1u << 24)
#define CFG_STREAM_BYTES_MIN 4076u
#define CFG_STREAM_BYTES_MAX (1u << 30)
#define CFG_PORT_INDEX_MAX 1023u

struct px_config;

/** Defaults for everything but the members. */
void cfg_defaults(struct cfg_cluster *cfg);

/**
 * Loads and checks a cluster file. @return 0, or -EINVAL with err holding one line:
 * "FILE:LINE: what is wrong; fix: what to write instead" (LINE 0 when the problem is a
 * missing key or section).
 */
int cfg_load(const char *path, struct cfg_cluster *cfg, char *err, size_t errlen);

/**
 * Fills the core's configuration for replica `self` of a loaded cluster: timeouts in
 * ticks (heartbeat_us / tick_us, rounded down; the loader guarantees >= 1 and
 * election >= 2 x heartbeat), memory durability, restarted = false. The caller sets
 * seed, restarted and boot_nonce.
 */
void cfg_to_px(const struct cfg_cluster *cfg, uint8_t self, struct px_config *px);

/**
 * Line of `key` in `[section]` of the file at path, 1-based; 0 if the file cannot be
 * read or the key is not there. For messages about a loaded value ("FILE:LINE: ...").
 */
uint32_t cfg_key_line(const char *path, const char *section, const char *key);

/** Static names for logs and telemetry ("udp", "adaptive", "kv"; "other" for
 *  CFG_SERVICE_OTHER: its name is cfg->service_name). */
const char *cfg_transport_name(enum cfg_transport t);
const char *cfg_idle_name(enum cfg_idle i);
const char *cfg_service_name(enum cfg_service s);
const char *cfg_clients_name(enum cfg_clients c);
const char *cfg_log_transport_name(enum cfg_log_transport t);

#endif /* CFG_H */
