/*
 * Non-INVITE server transaction: RFC 3261 §17.2.2, with RFC 6026 §8.8
 * (a transport error informs the TU and keeps the state).
 *
 *   Trying     --1xx from TU-->     Proceeding
 *   Trying     --200-699 from TU--> Completed (Timer J)
 *   Proceeding --1xx from TU-->     Proceeding
 *   Proceeding --200-699 from TU--> Completed
 *   Completed  --Timer J-->         Terminated
 */
#include "txn_internal.h"

static void nist_timer_j(sipr_loop_t *loop, void *arg);

void sipr__nist_init(sipr_txn_t *t) {
  sipr_timer_init(&t->u.nist.timer_j, nist_timer_j, t);
}

void sipr__nist_stop_timers(sipr_txn_t *t) {
  sipr__txn_disarm(t, &t->u.nist.timer_j);
}

static int nist_send(sipr_txn_t *t) {
  int rc = sipr__txn_send_response(t, t->resp, t->resp_len);
  if (rc < 0)
    sipr__txn_transport_error(t); /* §17.2.4, RFC 6026 §8.8 */
  return rc;
}

void sipr__nist_start(sipr_txn_t *t, sipr_msg_t *req,
                      const sipr_tp_src_t *src) {
  sipr_txn_layer_t *l = t->layer;
  /* §17.2.2: a new NIST enters Trying; the request goes to the TU. */
  t->state = SIPR_NIST_TRYING;
  if (l->user.request)
    l->user.request(l->user_ctx, t, req, src);
}

void sipr__nist_recv_request(sipr_txn_t *t, sipr_msg_t *req,
                             const sipr_tp_src_t *src) {
  t->layer->stats.absorbed++;
  switch (t->state) {
  case SIPR_NIST_TRYING:
    /* §17.2.2: retransmissions in Trying are discarded. */
    return;
  case SIPR_NIST_PROCEEDING:
    /* §17.2.2: re-send the most recent provisional response. */
  case SIPR_NIST_COMPLETED:
    /* §17.2.2: re-send the final response. */
    nist_send(t);
    return;
  default:
    return;
  }
}

int sipr__nist_respond(sipr_txn_t *t, const char *buf, size_t len,
                       sipr_msg_t *resp) {
  unsigned status = resp->status;
  if (t->state != SIPR_NIST_TRYING && t->state != SIPR_NIST_PROCEEDING)
    return SIPR_EINVAL; /* §17.2.2: further finals in Completed: discarded */
  int rc = sipr__txn_keep_response(t, buf, len, status, resp);
  if (rc < 0)
    return rc;
  if (status < 200) {
    /* §17.2.2: a provisional from the TU in Trying or Proceeding:
     * Proceeding, the response is sent. */
    t->state = SIPR_NIST_PROCEEDING;
  } else {
    /* §17.2.2: a final response from the TU in Trying or Proceeding:
     * Completed, sent; Timer J = 64*T1 (unreliable) or 0 (reliable). */
    t->state = SIPR_NIST_COMPLETED;
    sipr__txn_arm(t, &t->u.nist.timer_j,
                  t->reliable ? 0 : 64 * sipr__txn_t1(t));
  }
  return nist_send(t);
}

static void nist_timer_j(sipr_loop_t *loop, void *arg) {
  sipr_txn_t *t = arg;
  /* §17.2.2: Timer J fires in Completed: Terminated. */
  if (t->state == SIPR_NIST_COMPLETED)
    sipr__txn_terminate(t);
}
