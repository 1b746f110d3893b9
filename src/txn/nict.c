/*
 * Non-INVITE client transaction: RFC 3261 §17.1.2.
 *
 *   Trying     --1xx-->        Proceeding  (E keeps running, then every T2)
 *   Trying     --200-699-->    Completed   (Timer K)
 *   Proceeding --200-699-->    Completed
 *   Trying / Proceeding --Timer F--> Terminated (timeout to the TU)
 *   Completed  --Timer K-->    Terminated
 *   any send failure --> Terminated (transport_error to the TU, §17.1.4)
 */
#include "txn_internal.h"

static void nict_timer_e(sipr_loop_t *loop, void *arg);
static void nict_timer_f(sipr_loop_t *loop, void *arg);
static void nict_timer_k(sipr_loop_t *loop, void *arg);

void sipr__nict_init(sipr_txn_t *t) {
  sipr_nict_timers_t *x = &t->u.nict;
  sipr_timer_init(&x->timer_e, nict_timer_e, t);
  sipr_timer_init(&x->timer_f, nict_timer_f, t);
  sipr_timer_init(&x->timer_k, nict_timer_k, t);
}

void sipr__nict_stop_timers(sipr_txn_t *t) {
  sipr_nict_timers_t *x = &t->u.nict;
  sipr__txn_disarm(t, &x->timer_e);
  sipr__txn_disarm(t, &x->timer_f);
  sipr__txn_disarm(t, &x->timer_k);
}

int sipr__nict_start(sipr_txn_t *t) {
  /* §17.1.2.2: "Trying" is entered with the request from the TU; the
   * request is passed to the transport. */
  t->state = SIPR_NICT_TRYING;
  int rc = sipr__txn_send_request(t, t->req, t->req_len);
  if (rc < 0)
    return rc; /* §17.1.4: the caller reports it; nothing is kept */
  /* §17.1.2.2: Timer F = 64*T1; Timer E = T1 on unreliable transports. */
  sipr__txn_arm(t, &t->u.nict.timer_f, 64 * sipr__txn_t1(t));
  if (!t->reliable) {
    t->u.nict.e_interval = sipr__txn_t1(t);
    sipr__txn_arm(t, &t->u.nict.timer_e, t->u.nict.e_interval);
  }
  return 0;
}

static void nict_timer_e(sipr_loop_t *loop, void *arg) {
  sipr_txn_t *t = arg;
  sipr_nict_timers_t *x = &t->u.nict;
  uint64_t next;
  if (t->state == SIPR_NICT_TRYING) {
    /* §17.1.2.2: Timer E fires in Trying: retransmit, reset it with
     * MIN(2 * its value, T2). */
    next = x->e_interval * 2;
    if (next > sipr__txn_t2(t))
      next = sipr__txn_t2(t);
  } else if (t->state == SIPR_NICT_PROCEEDING) {
    /* §17.1.2.2: Timer E fires in Proceeding: retransmit, reset it with
     * T2. */
    next = sipr__txn_t2(t);
  } else {
    return;
  }
  t->layer->stats.retransmissions++;
  if (sipr__txn_send_request(t, t->req, t->req_len) < 0) {
    /* §17.1.4: inform the TU, terminate. */
    sipr__txn_transport_error(t);
    sipr__txn_terminate(t);
    return;
  }
  x->e_interval = next;
  sipr__txn_arm(t, &x->timer_e, next);
}

static void nict_timer_f(sipr_loop_t *loop, void *arg) {
  sipr_txn_t *t = arg;
  if (t->state != SIPR_NICT_TRYING && t->state != SIPR_NICT_PROCEEDING)
    return;
  /* §17.1.2.2: Timer F fires in Trying or Proceeding: inform the TU of
   * the timeout, terminate. */
  sipr__txn_timeout(t);
  sipr__txn_terminate(t);
}

static void nict_timer_k(sipr_loop_t *loop, void *arg) {
  sipr_txn_t *t = arg;
  /* §17.1.2.2: Timer K fires in Completed: Terminated. */
  if (t->state == SIPR_NICT_COMPLETED)
    sipr__txn_terminate(t);
}

void sipr__nict_recv_response(sipr_txn_t *t, sipr_msg_t *resp) {
  sipr_txn_layer_t *l = t->layer;
  sipr_nict_timers_t *x = &t->u.nict;
  if (t->state != SIPR_NICT_TRYING && t->state != SIPR_NICT_PROCEEDING)
    return; /* §17.1.2.2: Completed buffers retransmitted responses */
  if (resp->status < 200) {
    /* §17.1.2.2: a provisional in Trying: to the TU, then Proceeding;
     * in Proceeding: to the TU. Timer E keeps its schedule and is reset
     * with T2 from its next firing on. */
    t->state = SIPR_NICT_PROCEEDING;
  } else {
    /* §17.1.2.2: a final response (200-699) in Trying or Proceeding:
     * Completed, Timer K = T4 (unreliable) or 0 (reliable). */
    sipr__txn_disarm(t, &x->timer_e);
    sipr__txn_disarm(t, &x->timer_f);
    t->state = SIPR_NICT_COMPLETED;
    sipr__txn_arm(t, &x->timer_k, t->reliable ? 0 : sipr__txn_t4(t));
  }
  if (l->user.response)
    l->user.response(l->user_ctx, t, resp);
}
