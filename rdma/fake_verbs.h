/* SPDX-License-Identifier: Apache-2.0
 * A fake RDMA device for the verbs backend's tests (fake_verbs.c). It defines the
 * libibverbs control-path functions the backend calls (the test links this object
 * instead of libibverbs: a link-time shim) and gives each context an ops table whose
 * post_send and poll_cq emulate RC one-sided writes and reads between the fake QPs of
 * this process: the inline ibv_post_send/ibv_poll_cq of <infiniband/verbs.h> dispatch
 * through it, so the backend's real data path runs against it.
 *
 * The model: posted work waits in the QP until its CQ is polled, then executes in order:
 * the destination QP (by dest_qp_num) must be in RTR or RTS and the link up, otherwise
 * IBV_WC_RETRY_EXC_ERR; its access flags must allow the operation and the rkey must
 * name a registered region covering the range with the right access, otherwise
 * IBV_WC_REM_ACCESS_ERR. An error moves the requester QP to IBV_QPS_ERR and flushes
 * the rest (IBV_WC_WR_FLUSH_ERR, signaled or not). ibv_modify_qp checks the state
 * machine (RESET->INIT->RTR->RTS, any->RESET/ERR, access flags alone in RTS) and the
 * attribute masks each transition needs, and records the attributes. */
#ifndef FAKE_VERBS_H
#define FAKE_VERBS_H

#include <infiniband/verbs.h>
#include <stdbool.h>

/** Devices ibv_get_device_list reports (0..2; named fake0, fake1). */
extern int fake_n_devices;
/** ibv_get_device_list fails (returns NULL with this errno) when nonzero. */
extern int fake_list_errno;
/** ibv_modify_qp refuses an access-flags-only change (the reset fallback's case). */
extern bool fake_refuse_access_modify;
/** ibv_modify_qp refuses a move to IBV_QPS_ERR too (the last fallback's case). */
extern bool fake_refuse_err;
/** ibv_create_qp refuses more inline bytes than this (at most 256, the default). */
extern uint32_t fake_max_inline;
/** Faults of the fabric (pw-sim): per million executed operations, drawn from one
 *  seed in execution order (deterministic for a deterministic caller). A dropped one
 *  lands nothing, a torn write lands a prefix; both complete IBV_WC_RETRY_EXC_ERR (the
 *  requester QP goes to the error state, as on a link that failed mid-write). The
 *  checks of the target (state, access flags, rkey) are made when the operation runs. */
struct fake_faults {
	uint64_t seed;
	uint32_t drop_ppm, torn_ppm;
	/** An operation (and, RC being in order, every later one of its QP) waits
	 *  1..delay_polls_max polls of its CQ before it runs; a QP destroyed meanwhile
	 *  runs none of them. */
	uint32_t delay_ppm, delay_polls_max;
	/** A revoke refused: the access-flags change that takes remote write away is
	 *  refused; of those, half also refuse the QP's next moves to the error state and
	 *  to RESET (the backend's fallbacks), so the revoke fails whole (-EIO). */
	uint32_t revoke_fail_ppm;
};
void fake_faults_set(const struct fake_faults *f);
/** The next move to IBV_QPS_RESET is refused. */
void fake_qp_refuse_reset_once(void);
/** No packet gets through: every executed operation times out. */
extern bool fake_link_down;

/** What ibv_modify_qp last accepted for a QP, per target state. */
struct fake_qp_log {
	struct ibv_qp_attr init, rtr, rts;
	int init_mask, rtr_mask, rts_mask;
	int access_changes;          /**< accepted access-flags-only changes */
	int resets;
	unsigned last_send_flags;    /**< of the last posted work request */
	int posted;
};

/** The fake QP with number qpn: its state, access flags and log. NULL if none. */
enum ibv_qp_state fake_qp_state(uint32_t qpn);
int fake_qp_access(uint32_t qpn);
const struct fake_qp_log *fake_qp_log(uint32_t qpn);
/** Objects the fake holds (devices opened, PDs, MRs, CQs, QPs): 0 after clean closes. */
int fake_live_objects(void);

#endif
