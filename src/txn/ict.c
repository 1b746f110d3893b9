/*
 * INVITE client transaction: RFC 3261 §17.1.1, with the Accepted state and
 * Timer M of RFC 6026 §7.2 / §8.4.
 *
 *   Calling    --1xx-->      Proceeding   (A and B stopped)
 *   Calling    --2xx-->      Accepted     (Timer M = 64*T1)
 *   Calling    --300-699-->  Completed    (ACK sent, Timer D)
 *   Calling    --Timer B-->  Terminated   (timeout to the TU)
 *   Proceeding --2xx / 300-699--> Accepted / Completed
 *   Completed  --Timer D-->  Terminated;  Accepted --Timer M--> Terminated
 *   any send failure --> Terminated (transport_error to the TU, §17.1.4)
 */
#include <stdio.h>
#include <stdlib.h>

#include "sipr/print.h"
#include "txn_internal.h"

static void ict_timer_a(sipr_loop_t *loop, void *arg);
static void ict_timer_b(sipr_loop_t *loop, void *arg);
static void ict_timer_d(sipr_loop_t *loop, void *arg);
static void ict_timer_m(sipr_loop_t *loop, void *arg);

void sipr__ict_init(sipr_txn_t *t) {
  sipr_ict_timers_t *x = &t->u.ict;
  sipr_timer_init(&x->timer_a, ict_timer_a, t);
  sipr_timer_init(&x->timer_b, ict_timer_b, t);
  sipr_timer_init(&x->timer_d, ict_timer_d, t);
  sipr_timer_init(&x->timer_m, ict_timer_m, t);
}

void sipr__ict_stop_timers(sipr_txn_t *t) {
  sipr_ict_timers_t *x = &t->u.ict;
  sipr__txn_disarm(t, &x->timer_a);
  sipr__txn_disarm(t, &x->timer_b);
  sipr__txn_disarm(t, &x->timer_d);
  sipr__txn_disarm(t, &x->timer_m);
}

/* A send failed: §17.1.4, inform the TU and terminate. */
static void ict_transport_error(sipr_txn_t *t) {
  sipr__txn_transport_error(t);
  sipr__txn_terminate(t);
}

int sipr__ict_start(sipr_txn_t *t) {
  /* §17.1.1.2: "Calling" is entered with the INVITE from the TU; the
   * request is passed to the transport. */
  t->state = SIPR_ICT_CALLING;
  int rc = sipr__txn_send_request(t, t->req, t->req_len);
  if (rc < 0)
    return rc; /* §17.1.4: the caller reports it; nothing is kept */
  /* §17.1.1.2: Timer A = T1 on unreliable transports only; Timer B =
   * 64*T1 on every transport. */
  if (!t->reliable) {
    t->u.ict.a_interval = sipr__txn_t1(t);
    sipr__txn_arm(t, &t->u.ict.timer_a, t->u.ict.a_interval);
  }
  sipr__txn_arm(t, &t->u.ict.timer_b, 64 * sipr__txn_t1(t));
  return 0;
}

static void ict_timer_a(sipr_loop_t *loop, void *arg) {
  sipr_txn_t *t = arg;
  if (t->state != SIPR_ICT_CALLING)
    return;
  /* §17.1.1.2: Timer A fires in Calling: retransmit, and reset it with
   * twice its value (T1, 2*T1, 4*T1, ...; no cap). */
  t->layer->stats.retransmissions++;
  if (sipr__txn_send_request(t, t->req, t->req_len) < 0) {
    ict_transport_error(t); /* §17.1.4 */
    return;
  }
  t->u.ict.a_interval *= 2;
  sipr__txn_arm(t, &t->u.ict.timer_a, t->u.ict.a_interval);
}

static void ict_timer_b(sipr_loop_t *loop, void *arg) {
  sipr_txn_t *t = arg;
  if (t->abandoned) { /* sipr_txn_abandon(): given up, no timeout */
    sipr__txn_terminate(t);
    return;
  }
  if (t->state != SIPR_ICT_CALLING)
    return;
  /* §17.1.1.2: Timer B fires in Calling: inform the TU of the timeout
   * (no ACK is generated) and terminate. */
  sipr__txn_timeout(t);
  sipr__txn_terminate(t);
}

int sipr_txn_abandon(sipr_txn_t *t) {
  if (!t || t->kind != SIPR_TXN_ICT ||
      (t->state != SIPR_ICT_CALLING && t->state != SIPR_ICT_PROCEEDING))
    return SIPR_EINVAL;
  sipr_ict_timers_t *x = &t->u.ict;
  t->abandoned = 1;
  sipr__txn_disarm(t, &x->timer_a);
  sipr__txn_arm(t, &x->timer_b, 0);
  return 0;
}

static void ict_timer_d(sipr_loop_t *loop, void *arg) {
  sipr_txn_t *t = arg;
  /* §17.1.1.2: Timer D fires in Completed: Terminated. */
  if (t->state == SIPR_ICT_COMPLETED)
    sipr__txn_terminate(t);
}

static void ict_timer_m(sipr_loop_t *loop, void *arg) {
  sipr_txn_t *t = arg;
  /* RFC 6026 §8.4: Timer M fires in Accepted: Terminated. */
  if (t->state == SIPR_ICT_ACCEPTED)
    sipr__txn_terminate(t);
}

/* "Name: value\r\n", with the CR and LF of a folded value turned into SP
 * (folding is LWS, §7.3.1), so a copied value never breaks the ACK. */
static void put_field(sipr_buf_t *b, const char *name, sipr_str_t v) {
  sipr_buf_append(b, name, strlen(name));
  sipr_buf_append(b, ": ", 2);
  size_t i = 0;
  while (i < v.len) {
    size_t j = i;
    while (j < v.len && v.p[j] != '\r' && v.p[j] != '\n')
      j++;
    sipr_buf_append(b, v.p + i, j - i);
    if (j < v.len)
      sipr_buf_append(b, " ", 1);
    i = j + 1;
  }
  sipr_buf_append(b, "\r\n", 2);
}

/* §17.1.1.3: the ACK for a non-2xx final response. Request-URI, Call-ID,
 * From and the CSeq number of the original request; To of the response;
 * a single Via equal to the original's top Via; the original's Route
 * header fields; method ACK. Max-Forwards 70 and no body. */
static int ict_build_ack(sipr_txn_t *t, sipr_msg_t *resp) {
  char scratch[8192];
  sipr_arena_t a;
  sipr_arena_init(&a, scratch, sizeof(scratch), 1 << 20);
  sipr_msg_t *req = sipr__txn_parse_request(t, &a);
  sipr_via_t *via = req ? sipr_msg_via(req) : NULL;
  sipr_cseq_t *cseq = req ? sipr_msg_cseq(req) : NULL;
  const sipr_hdr_t *from = req ? req->first[SIPR_HDR_FROM] : NULL;
  const sipr_hdr_t *call_id = req ? req->first[SIPR_HDR_CALL_ID] : NULL;
  const sipr_hdr_t *to = resp->first[SIPR_HDR_TO];
  if (!via || !cseq || !from || !call_id || !to) {
    sipr_arena_free(&a);
    return SIPR_EPARSE;
  }
  sipr_buf_t b;
  sipr_buf_init(&b);
  sipr_print_request_line(&b, SIPR_STR("ACK"), req->ruri_str);
  put_field(&b, "Via", via->raw);
  put_field(&b, "Max-Forwards", SIPR_STR("70"));
  for (const sipr_hdr_t *h = req->first[SIPR_HDR_ROUTE]; h; h = h->next_same)
    put_field(&b, "Route", h->value);
  put_field(&b, "From", from->value);
  put_field(&b, "To", to->value);
  put_field(&b, "Call-ID", call_id->value);
  char cs[32];
  int n = snprintf(cs, sizeof(cs), "%lu ACK", (unsigned long)cseq->seq);
  put_field(&b, "CSeq", sipr_str_make(cs, (size_t)n));
  sipr_buf_append(&b, "Content-Length: 0\r\n\r\n", 21);
  sipr_arena_free(&a);
  if (b.failed) {
    sipr_buf_free(&b);
    return SIPR_ENOMEM;
  }
  free(t->ack);
  t->ack = b.p;
  t->ack_len = b.len;
  return 0;
}

/* Sends (or re-sends) the ACK; builds it first when needed. Returns 0, or
 * the send's error. An ACK that cannot be built is not sent (a final
 * response without To): its retransmission will try again. */
static int ict_send_ack(sipr_txn_t *t, sipr_msg_t *resp) {
  if (!t->ack && ict_build_ack(t, resp) < 0)
    return 0;
  /* §17.1.1.2: the ACK goes to the same address, port and transport as
   * the original request. */
  return sipr__txn_send_request(t, t->ack, t->ack_len);
}

static void ict_to_tu(sipr_txn_t *t, sipr_msg_t *resp) {
  sipr_txn_layer_t *l = t->layer;
  if (l->user.response)
    l->user.response(l->user_ctx, t, resp);
}

void sipr__ict_recv_response(sipr_txn_t *t, sipr_msg_t *resp) {
  unsigned status = resp->status;
  sipr_ict_timers_t *x = &t->u.ict;
  switch (t->state) {
  case SIPR_ICT_CALLING:
  case SIPR_ICT_PROCEEDING:
    if (status < 200) {
      if (t->state == SIPR_ICT_CALLING) {
        /* §17.1.1.2: a provisional in Calling: Proceeding; no more
         * retransmissions, and Timer B only acts in Calling. */
        sipr__txn_disarm(t, &x->timer_a);
        sipr__txn_disarm(t, &x->timer_b);
        t->state = SIPR_ICT_PROCEEDING;
      }
      /* §17.1.1.2: every provisional is passed to the TU. */
      t->got_1xx = 1;
      ict_to_tu(t, resp);
      return;
    }
    sipr__txn_disarm(t, &x->timer_a);
    sipr__txn_disarm(t, &x->timer_b);
    if (status < 300) {
      /* RFC 6026 §8.4: a 2xx in Calling or Proceeding: Accepted, Timer M
       * = 64*T1, the 2xx to the TU; no ACK from the transaction. */
      t->state = SIPR_ICT_ACCEPTED;
      sipr__txn_arm(t, &x->timer_m, 64 * sipr__txn_t1(t));
      ict_to_tu(t, resp);
      return;
    }
    /* §17.1.1.2 (RFC 6026 §8.4): 300-699 in Calling or Proceeding:
     * Completed, ACK sent (even on reliable transports), Timer D (at least
     * 32 s unreliable, 0 reliable), the response to the TU. */
    t->state = SIPR_ICT_COMPLETED;
    sipr__txn_arm(t, &x->timer_d, t->reliable ? 0 : t->layer->cfg.timer_d);
    int rc = ict_send_ack(t, resp);
    ict_to_tu(t, resp);
    if (rc < 0)
      ict_transport_error(t); /* §17.1.4 */
    return;
  case SIPR_ICT_COMPLETED:
    /* §17.1.1.2: a retransmitted final response in Completed: the ACK is
     * passed to the transport again; the response is not passed up. */
    if (status >= 300 && ict_send_ack(t, resp) < 0)
      ict_transport_error(t); /* §17.1.4 */
    return;
  case SIPR_ICT_ACCEPTED:
    /* RFC 6026 §8.4: any 2xx in Accepted goes to the TU (retransmissions
     * and 2xx from other forks); no ACK. Others are dropped. */
    if (status >= 200 && status < 300)
      ict_to_tu(t, resp);
    return;
  default:
    return;
  }
}
