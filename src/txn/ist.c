/*
 * INVITE server transaction: RFC 3261 §17.2.1, with the Accepted state and
 * Timer L of RFC 6026 §7.1 / §8.5-8.7, and §8.8 (transport errors keep the
 * state).
 *
 *   Proceeding --1xx from TU-->     Proceeding (sent; kept for re-sending)
 *   Proceeding --2xx from TU-->     Accepted   (Timer L = 64*T1)
 *   Proceeding --300-699 from TU--> Completed  (Timer G, Timer H)
 *   Completed  --ACK-->             Confirmed  (Timer I)
 *   Completed  --Timer H-->         Terminated (timeout to the TU)
 *   Confirmed  --Timer I-->         Terminated
 *   Accepted   --Timer L-->         Terminated
 */
#include <stdlib.h>

#include "sipr/print.h"
#include "txn_internal.h"

static void ist_timer_g(sipr_loop_t *loop, void *arg);
static void ist_timer_h(sipr_loop_t *loop, void *arg);
static void ist_timer_i(sipr_loop_t *loop, void *arg);
static void ist_timer_l(sipr_loop_t *loop, void *arg);
static void ist_timer_trying(sipr_loop_t *loop, void *arg);

void sipr__ist_init(sipr_txn_t *t) {
  sipr_ist_timers_t *x = &t->u.ist;
  sipr_timer_init(&x->timer_g, ist_timer_g, t);
  sipr_timer_init(&x->timer_h, ist_timer_h, t);
  sipr_timer_init(&x->timer_i, ist_timer_i, t);
  sipr_timer_init(&x->timer_l, ist_timer_l, t);
  sipr_timer_init(&x->timer_trying, ist_timer_trying, t);
}

void sipr__ist_stop_timers(sipr_txn_t *t) {
  sipr_ist_timers_t *x = &t->u.ist;
  sipr__txn_disarm(t, &x->timer_g);
  sipr__txn_disarm(t, &x->timer_h);
  sipr__txn_disarm(t, &x->timer_i);
  sipr__txn_disarm(t, &x->timer_l);
  sipr__txn_disarm(t, &x->timer_trying);
}

/* Sends buf; on failure informs the TU and keeps the state (RFC 6026
 * §8.8). Returns the send's result. */
static int ist_send(sipr_txn_t *t, const char *buf, size_t len) {
  int rc = sipr__txn_send_response(t, buf, len);
  if (rc < 0)
    sipr__txn_transport_error(t);
  return rc;
}

/* §17.2.1: the 100 (Trying), built per §8.2.6 without a To tag (SHOULD
 * NOT add one), kept as the last provisional response. */
static void ist_send_trying(sipr_txn_t *t) {
  char scratch[8192];
  sipr_arena_t a;
  sipr_arena_init(&a, scratch, sizeof(scratch), 1 << 20);
  sipr_msg_t *req = sipr__txn_parse_request(t, &a);
  sipr_buf_t b;
  sipr_buf_init(&b);
  int rc = req ? sipr_print_response(&b, req, 100, NULL, SIPR_STR_NULL,
                                     SIPR_STR_NULL)
               : SIPR_EPARSE;
  sipr_arena_free(&a);
  if (rc == 0 && sipr__txn_keep_response(t, b.p, b.len, 100, NULL) == 0) {
    t->resp_sent = 1;
    ist_send(t, t->resp, t->resp_len);
  }
  sipr_buf_free(&b);
}

void sipr__ist_start(sipr_txn_t *t, sipr_msg_t *req, const sipr_tp_src_t *src) {
  sipr_txn_layer_t *l = t->layer;
  /* §17.2.1: a new IST enters Proceeding; the request goes to the TU. */
  t->state = SIPR_IST_PROCEEDING;
  if (l->cfg.send_100 && l->cfg.trying_delay)
    sipr__txn_arm(t, &t->u.ist.timer_trying, l->cfg.trying_delay);
  if (l->user.request)
    l->user.request(l->user_ctx, t, req, src);
  /* §17.2.1: 100 (Trying) unless the TU answers within 200 ms; with no
   * delay configured, at once unless it answered from the callback. */
  if (l->cfg.send_100 && !l->cfg.trying_delay && !t->resp_sent &&
      t->state == SIPR_IST_PROCEEDING)
    ist_send_trying(t);
}

static void ist_timer_trying(sipr_loop_t *loop, void *arg) {
  sipr_txn_t *t = arg;
  /* §17.2.1: the TU did not answer within 200 ms: send 100 (Trying). */
  if (t->state == SIPR_IST_PROCEEDING && !t->resp_sent)
    ist_send_trying(t);
}

void sipr__ist_recv_request(sipr_txn_t *t, sipr_msg_t *req,
                            const sipr_tp_src_t *src) {
  sipr_txn_layer_t *l = t->layer;
  sipr_ist_timers_t *x = &t->u.ist;
  if (req->method_id == SIPR_METHOD_ACK) {
    switch (t->state) {
    case SIPR_IST_COMPLETED:
      /* §17.2.1: ACK in Completed: Confirmed; G and H stop; Timer I = T4
       * (unreliable) or 0 (reliable). The ACK is absorbed. */
      sipr__txn_disarm(t, &x->timer_g);
      sipr__txn_disarm(t, &x->timer_h);
      t->state = SIPR_IST_CONFIRMED;
      sipr__txn_arm(t, &x->timer_i, t->reliable ? 0 : sipr__txn_t4(t));
      return;
    case SIPR_IST_ACCEPTED:
      /* RFC 6026 §8.7: an ACK in Accepted is passed to the TU. */
      l->stats.stray_acks++;
      if (l->user.stray_ack)
        l->user.stray_ack(l->user_ctx, req, src);
      return;
    default:
      /* §17.2.1: Confirmed absorbs further ACKs; in Proceeding there is
       * nothing to acknowledge yet. */
      return;
    }
  }
  /* A retransmission of the INVITE. */
  l->stats.absorbed++;
  switch (t->state) {
  case SIPR_IST_PROCEEDING:
    /* §17.2.1: re-send the most recent provisional response, if any. */
    if (t->resp && t->resp_status < 200)
      ist_send(t, t->resp, t->resp_len);
    return;
  case SIPR_IST_COMPLETED:
    /* §17.2.1: re-send the final response. */
    ist_send(t, t->resp, t->resp_len);
    return;
  default:
    /* §17.2.1 Confirmed; RFC 6026 §8.7 Accepted: absorbed, not passed to
     * the TU (the TU retransmits its 2xx itself). */
    return;
  }
}

int sipr__ist_respond(sipr_txn_t *t, const char *buf, size_t len,
                      sipr_msg_t *resp) {
  sipr_ist_timers_t *x = &t->u.ist;
  unsigned status = resp->status;
  int rc;
  if (t->state == SIPR_IST_ACCEPTED) {
    /* RFC 6026 §8.7: a 2xx from the TU in Accepted (its retransmission,
     * or a 2xx from another fork at a proxy) is sent; nothing else. */
    if (status < 200 || status >= 300)
      return SIPR_EINVAL;
    if ((rc = sipr__txn_keep_response(t, buf, len, status, resp)) < 0)
      return rc;
    return ist_send(t, t->resp, t->resp_len);
  }
  if (t->state != SIPR_IST_PROCEEDING)
    return SIPR_EINVAL; /* §17.2.1: Completed/Confirmed take no response */
  if ((rc = sipr__txn_keep_response(t, buf, len, status, resp)) < 0)
    return rc;
  t->resp_sent = 1;
  sipr__txn_disarm(t, &x->timer_trying);
  if (status < 200) {
    /* §17.2.1: a provisional from the TU in Proceeding is sent (not
     * reliably) and kept for re-sending; the state stays. */
  } else if (status < 300) {
    /* RFC 6026 §8.5, §8.7: a 2xx from the TU in Proceeding is sent, not
     * retransmitted by us; Accepted, Timer L = 64*T1. */
    t->state = SIPR_IST_ACCEPTED;
    sipr__txn_arm(t, &x->timer_l, 64 * sipr__txn_t1(t));
  } else {
    /* §17.2.1: 300-699 from the TU in Proceeding: sent; Completed; Timer
     * G = T1 on unreliable transports; Timer H = 64*T1 on all. */
    t->state = SIPR_IST_COMPLETED;
    if (!t->reliable) {
      x->g_interval = sipr__txn_t1(t);
      sipr__txn_arm(t, &x->timer_g, x->g_interval);
    }
    sipr__txn_arm(t, &x->timer_h, 64 * sipr__txn_t1(t));
  }
  /* RFC 6026 §8.8: a failed send informs the TU; the state is kept. */
  return ist_send(t, t->resp, t->resp_len);
}

static void ist_timer_g(sipr_loop_t *loop, void *arg) {
  sipr_txn_t *t = arg;
  sipr_ist_timers_t *x = &t->u.ist;
  if (t->state != SIPR_IST_COMPLETED)
    return;
  /* §17.2.1: Timer G fires in Completed: re-send the response; reset G
   * with MIN(2 * its value, T2). */
  t->layer->stats.retransmissions++;
  ist_send(t, t->resp, t->resp_len);
  x->g_interval *= 2;
  if (x->g_interval > sipr__txn_t2(t))
    x->g_interval = sipr__txn_t2(t);
  sipr__txn_arm(t, &x->timer_g, x->g_interval);
}

static void ist_timer_h(sipr_loop_t *loop, void *arg) {
  sipr_txn_t *t = arg;
  if (t->state != SIPR_IST_COMPLETED)
    return;
  /* §17.2.1: Timer H fires in Completed (no ACK): Terminated, and the TU
   * is told of the failure. */
  sipr__txn_timeout(t);
  sipr__txn_terminate(t);
}

static void ist_timer_i(sipr_loop_t *loop, void *arg) {
  sipr_txn_t *t = arg;
  /* §17.2.1: Timer I fires in Confirmed: Terminated. */
  if (t->state == SIPR_IST_CONFIRMED)
    sipr__txn_terminate(t);
}

static void ist_timer_l(sipr_loop_t *loop, void *arg) {
  sipr_txn_t *t = arg;
  /* RFC 6026 §8.7: Timer L fires in Accepted: Terminated. */
  if (t->state == SIPR_IST_ACCEPTED)
    sipr__txn_terminate(t);
}
