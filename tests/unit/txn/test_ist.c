/* INVITE server transaction: RFC 3261 §17.2.1, §17.2.4; RFC 6026 §8.5-8.8. */
#include "tests.h"

#include <string.h>

#define BR "z9hG4bK74bf9-ist"

static const char *invite(void) {
  rq_t r = {.branch = BR};
  return mkreq(&r);
}

static const char *ack(const char *to_tag) {
  rq_t r = {.method = "ACK", .branch = BR, .to_tag = to_tag};
  return mkreq(&r);
}

static sipr_txn_t *recv_invite(sipr_tp_proto_t proto) {
  fx_feed(invite(), proto);
  assert_int_equal(fx_count_ev(EV_REQUEST), 1);
  sipr_txn_t *st = fx.st;
  assert_non_null(st);
  assert_int_equal(sipr_txn_kind(st), SIPR_TXN_IST);
  if (!fx.answer)
    assert_int_equal(sipr_txn_state(st), SIPR_IST_PROCEEDING);
  return st;
}

/* §17.2.1: a new IST is in Proceeding and passes the INVITE to the TU; a
 * 100 (Trying) goes out at 200 ms when the TU has not answered; it has
 * no To tag and copies Via, From, To, Call-ID, CSeq. */
static void test_ist_17_2_1_proceeding_100_after_200ms(void **state) {
  recv_invite(SIPR_TP_UDP);
  assert_int_equal(fx_last_ev(EV_REQUEST)->method, SIPR_METHOD_INVITE);
  fx_advance_to(199);
  assert_int_equal(fx.nsent, 0);
  fx_advance(1);
  assert_int_equal(fx.nsent, 1);
  assert_int_equal(fx.sent[0].at, 200);
  assert_int_equal(fx.sent[0].status, 100);
  assert_string_equal(fx.sent[0].buf,
                      "SIP/2.0 100 Trying\r\n"
                      "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=" BR "\r\n"
                      "From: Alice <sip:alice@example.com>;tag=1928301774\r\n"
                      "To: Bob <sip:bob@example.com>\r\n"
                      "Call-ID: a84b4c76e66710@pc33.example.com\r\n"
                      "CSeq: 314159 INVITE\r\n"
                      "Content-Length: 0\r\n"
                      "\r\n");
  /* §17.2.1: a retransmitted INVITE re-sends the last provisional and is
   * not passed to the TU. */
  fx_advance_to(500);
  fx_feed(invite(), SIPR_TP_UDP);
  assert_int_equal(fx.nsent, 2);
  assert_string_equal(fx.sent[1].buf, fx.sent[0].buf);
  assert_int_equal(fx_count_ev(EV_REQUEST), 1);
  /* Nothing more on its own: provisionals are not retransmitted. */
  fx_advance_to(100000);
  assert_int_equal(fx.nsent, 2);
  assert_int_equal(sipr_txn_count(fx.l), 1);
}

/* §17.2.1: no 100 when the TU answers first; its provisional is sent
 * and re-sent on retransmissions; the state stays Proceeding. */
static void test_ist_17_2_1_tu_provisional(void **state) {
  sipr_txn_t *st = recv_invite(SIPR_TP_UDP);
  fx_advance_to(150);
  assert_int_equal(fx_respond(st, 180), 0);
  assert_int_equal(sipr_txn_state(st), SIPR_IST_PROCEEDING);
  assert_int_equal(fx_respond(st, 183), 0);
  fx_advance_to(1000);
  assert_int_equal(fx.nsent, 2);
  assert_int_equal(fx.sent[0].status, 180);
  assert_int_equal(fx.sent[1].status, 183);
  assert_int_equal(fx_count_sent(0, 100), 0);
  fx_feed(invite(), SIPR_TP_UDP);
  assert_int_equal(fx.nsent, 3);
  assert_int_equal(fx.sent[2].status, 183);
}

/* §17.2.1: the 100 can be switched off, or sent at once (delay 0). */
static void test_ist_17_2_1_trying_config(void **state) {
  fx.cfg.send_100 = 0;
  fx_start();
  recv_invite(SIPR_TP_UDP);
  fx_advance_to(5000);
  assert_int_equal(fx.nsent, 0);
  fx.cfg.send_100 = 1;
  fx.cfg.trying_delay = 0;
  fx_start();
  fx.nev = 0;
  fx_feed(invite(), SIPR_TP_UDP);
  assert_int_equal(fx.nsent, 1);
  assert_int_equal(fx.sent[0].status, 100);
  assert_int_equal(fx.sent[0].at, 5000);
  /* delay 0 with a TU that answers from the callback: no 100. */
  fx_start();
  fx.answer = 486;
  fx_feed(invite(), SIPR_TP_UDP);
  assert_int_equal(fx.nsent, 2);
  assert_int_equal(fx.sent[1].status, 486);
}

/* §17.2.1: 300-699 from the TU in Proceeding: Completed; Timer G
 * re-sends at T1, then doubling capped at T2; Timer H at 64*T1: timeout
 * to the TU, Terminated. */
static void test_ist_17_2_1_completed_timer_g_and_h(void **state) {
  fx.answer = 486; /* answered from the request callback: no 100 */
  sipr_txn_t *st = recv_invite(SIPR_TP_UDP);
  assert_int_equal(sipr_txn_state(st), SIPR_IST_COMPLETED);
  fx_advance_to(31999);
  static const uint64_t at[] = {0,     500,   1500,  3500,  7500, 11500,
                                15500, 19500, 23500, 27500, 31500};
  assert_int_equal(fx.nsent, 11);
  for (unsigned i = 0; i < 11; i++) {
    assert_false(fx.sent[i].is_request);
    assert_int_equal(fx.sent[i].status, 486);
    assert_int_equal(fx.sent[i].at, at[i]);
  }
  assert_int_equal(fx_count_ev(EV_TIMEOUT), 0);
  fx_advance(1);
  assert_int_equal(fx_last_ev(EV_TIMEOUT)->at, 32000);
  assert_int_equal(fx_last_ev(EV_TIMEOUT)->t, st);
  assert_int_equal(fx_last_ev(EV_TERMINATED)->at, 32000);
  assert_int_equal(sipr_txn_count(fx.l), 0);
}

/* §17.2.1: a retransmitted INVITE in Completed re-sends the final
 * response; responses from the TU are refused there. */
static void test_ist_17_2_1_completed_absorbs_invite(void **state) {
  sipr_txn_t *st = recv_invite(SIPR_TP_UDP);
  fx_advance_to(300); /* the 100 went out at 200 */
  assert_int_equal(fx_respond(st, 404), 0);
  fx_advance_to(400);
  fx_feed(invite(), SIPR_TP_UDP);
  assert_int_equal(fx.nsent, 3);
  assert_int_equal(fx.sent[2].status, 404);
  assert_int_equal(fx.sent[2].at, 400);
  assert_int_equal(fx_count_ev(EV_REQUEST), 1);
  assert_int_equal(fx_respond(st, 500), SIPR_EINVAL);
  assert_int_equal(fx_respond(st, 200), SIPR_EINVAL);
}

/* §17.2.1: ACK in Completed: Confirmed, Timer G stops; further ACKs and
 * INVITEs are absorbed; Timer I = T4 on UDP. */
static void test_ist_17_2_1_ack_confirmed_timer_i(void **state) {
  fx.answer = 603;
  sipr_txn_t *st = recv_invite(SIPR_TP_UDP);
  fx_advance_to(1000); /* G at 500 */
  fx_feed(ack("uas-tag"), SIPR_TP_UDP);
  assert_int_equal(sipr_txn_state(st), SIPR_IST_CONFIRMED);
  fx_feed(ack("uas-tag"), SIPR_TP_UDP);
  fx_feed(invite(), SIPR_TP_UDP);
  assert_int_equal(fx_count_ev(EV_STRAY_ACK), 0);
  assert_int_equal(fx_count_ev(EV_REQUEST), 1);
  fx_advance_to(5999);
  assert_int_equal(fx.nsent, 2); /* 0 and 500 */
  assert_int_equal(fx_count_ev(EV_TERMINATED), 0);
  fx_advance(1);
  assert_int_equal(fx_last_ev(EV_TERMINATED)->at, 6000);
  assert_int_equal(fx_count_ev(EV_TIMEOUT), 0);
}

/* §17.2.1 on TCP: no Timer G; H still 64*T1; ACK: Confirmed, I = 0. */
static void test_ist_17_2_1_reliable(void **state) {
  fx.answer = 480;
  sipr_txn_t *st = recv_invite(SIPR_TP_TCP);
  fx_advance_to(20000);
  assert_int_equal(fx.nsent, 1);
  assert_int_equal(fx.sent[0].proto, SIPR_TP_TCP);
  fx_feed(ack("uas-tag"), SIPR_TP_TCP);
  assert_int_equal(sipr_txn_state(st), SIPR_IST_CONFIRMED);
  fx_advance(1);
  assert_int_equal(fx_last_ev(EV_TERMINATED)->at, 20001);
}

static void test_ist_17_2_1_reliable_timer_h(void **state) {
  fx.answer = 480;
  recv_invite(SIPR_TP_TCP);
  fx_advance_to(31999);
  assert_int_equal(fx_count_ev(EV_TIMEOUT), 0);
  fx_advance(1);
  assert_int_equal(fx_last_ev(EV_TIMEOUT)->at, 32000);
  assert_int_equal(fx_count_ev(EV_TERMINATED), 1);
}

/* RFC 6026 §8.5, §8.7: 2xx from the TU in Proceeding: sent once,
 * Accepted; INVITE retransmissions absorbed silently; 2xx from the TU
 * sent; other responses refused; ACKs passed to the TU; Timer L at
 * 64*T1. */
static void test_ist_rfc6026_8_7_accepted_timer_l(void **state) {
  sipr_txn_t *st = recv_invite(SIPR_TP_UDP);
  fx_advance_to(100);
  assert_int_equal(fx_respond(st, 200), 0);
  assert_int_equal(sipr_txn_state(st), SIPR_IST_ACCEPTED);
  assert_int_equal(fx.nsent, 1);
  fx_advance_to(500);
  fx_feed(invite(), SIPR_TP_UDP);
  assert_int_equal(fx.nsent, 1); /* absorbed, nothing re-sent */
  assert_int_equal(fx_count_ev(EV_REQUEST), 1);
  assert_int_equal(fx_respond(st, 200), 0); /* the TU's retransmission */
  assert_int_equal(fx.nsent, 2);
  assert_int_equal(fx.sent[1].status, 200);
  assert_int_equal(fx_respond(st, 486), SIPR_EINVAL);
  assert_int_equal(fx_respond(st, 180), SIPR_EINVAL);
  assert_int_equal(fx.nsent, 2);
  /* An ACK that matches (same branch) goes to the TU. */
  fx_feed(ack("uas-tag"), SIPR_TP_UDP);
  assert_int_equal(fx_count_ev(EV_STRAY_ACK), 1);
  assert_int_equal(sipr_txn_state(st), SIPR_IST_ACCEPTED);
  /* An ACK for the 2xx on a new branch (§13.2.2.4) matches nothing and
   * goes to the TU as well. */
  rq_t r = {.method = "ACK", .branch = "z9hG4bKnewack", .to_tag = "uas-tag"};
  fx_feed(mkreq(&r), SIPR_TP_UDP);
  assert_int_equal(fx_count_ev(EV_STRAY_ACK), 2);
  /* No retransmission of the 2xx by the transaction. */
  fx_advance_to(32099);
  assert_int_equal(fx.nsent, 2);
  assert_int_equal(fx_count_ev(EV_TERMINATED), 0);
  fx_advance(1);
  assert_int_equal(fx_last_ev(EV_TERMINATED)->at, 32100);
  assert_int_equal(fx_count_ev(EV_TIMEOUT), 0);
}

/* RFC 6026 §8.7: Timer L is 64*T1 on reliable transports too. */
static void test_ist_rfc6026_8_7_accepted_reliable(void **state) {
  fx.answer = 200;
  sipr_txn_t *st = recv_invite(SIPR_TP_TCP);
  assert_int_equal(sipr_txn_state(st), SIPR_IST_ACCEPTED);
  fx_advance_to(31999);
  assert_int_equal(fx_count_ev(EV_TERMINATED), 0);
  fx_advance(1);
  assert_int_equal(fx_count_ev(EV_TERMINATED), 1);
}

/* §17.2.4 with RFC 6026 §8.8: a failed send informs the TU and keeps the
 * state; retransmitted INVITEs are still absorbed; the timers end it. */
static void test_ist_17_2_4_transport_error_keeps_state(void **state) {
  sipr_txn_t *st = recv_invite(SIPR_TP_UDP);
  fx.fail_sends = 1;
  fx_advance_to(200); /* the 100 fails */
  assert_int_equal(fx_count_ev(EV_TPERR), 1);
  assert_int_equal(sipr_txn_state(st), SIPR_IST_PROCEEDING);
  fx.fail_sends = 1;
  assert_int_equal(fx_respond(st, 500), SIPR_EIO);
  assert_int_equal(fx_count_ev(EV_TPERR), 2);
  assert_int_equal(sipr_txn_state(st), SIPR_IST_COMPLETED);
  fx_feed(invite(), SIPR_TP_UDP);
  assert_int_equal(fx_count_ev(EV_REQUEST), 1);
  assert_int_equal(fx.sent[fx.nsent - 1].status, 500);
  fx_advance_to(32200);
  assert_int_equal(fx_count_ev(EV_TIMEOUT), 1);
  assert_int_equal(fx_count_ev(EV_TERMINATED), 1);
}

/* RFC 6026 §8.7, §8.8: a 2xx from the TU that fails in Accepted informs
 * the TU; the state stays Accepted (INVITEs still absorbed) until L. */
static void test_ist_rfc6026_8_8_accepted_transport_error(void **state) {
  fx.answer = 200;
  sipr_txn_t *st = recv_invite(SIPR_TP_UDP);
  fx.fail_sends = 1;
  assert_int_equal(fx_respond(st, 200), SIPR_EIO);
  assert_int_equal(fx_last_ev(EV_TPERR)->t, st);
  assert_int_equal(sipr_txn_state(st), SIPR_IST_ACCEPTED);
  fx_feed(invite(), SIPR_TP_UDP);
  assert_int_equal(fx_count_ev(EV_REQUEST), 1);
  assert_int_equal(fx.nsent, 2);
  fx_advance_to(32000);
  assert_int_equal(fx_count_ev(EV_TERMINATED), 1);
  assert_int_equal(fx_count_ev(EV_TIMEOUT), 0);
}

/* §17.2.3: a TU response that is no response is refused; a client
 * transaction cannot respond. */
static void test_ist_respond_errors(void **state) {
  sipr_txn_t *st = recv_invite(SIPR_TP_UDP);
  assert_int_equal(sipr_txn_respond(st, "garbage", 7), SIPR_EPARSE);
  assert_int_equal(sipr_txn_respond(st, invite(), strlen(invite())),
                   SIPR_EPARSE);
  assert_int_equal(sipr_txn_respond(NULL, "x", 1), SIPR_EINVAL);
  assert_int_equal(sipr_txn_state(st), SIPR_IST_PROCEEDING);
}

int test_ist(void) {
  const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
      T(test_ist_17_2_1_proceeding_100_after_200ms),
      T(test_ist_17_2_1_tu_provisional),
      T(test_ist_17_2_1_trying_config),
      T(test_ist_17_2_1_completed_timer_g_and_h),
      T(test_ist_17_2_1_completed_absorbs_invite),
      T(test_ist_17_2_1_ack_confirmed_timer_i),
      T(test_ist_17_2_1_reliable),
      T(test_ist_17_2_1_reliable_timer_h),
      T(test_ist_rfc6026_8_7_accepted_timer_l),
      T(test_ist_rfc6026_8_7_accepted_reliable),
      T(test_ist_17_2_4_transport_error_keeps_state),
      T(test_ist_rfc6026_8_8_accepted_transport_error),
      T(test_ist_respond_errors),
#undef T
  };
  return cmocka_run_group_tests_name("ist", tests, NULL, NULL);
}
