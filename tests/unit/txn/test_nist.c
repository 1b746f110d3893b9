/* Non-INVITE server transaction: RFC 3261 §17.2.2, §17.2.4; RFC 6026 §8.8. */
#include "tests.h"

#define BR "z9hG4bKnist-1"

static const char *bye(void) {
  rq_t r = {.method = "BYE", .branch = BR, .to_tag = "callee"};
  return mkreq(&r);
}

static sipr_txn_t *recv_bye(sipr_tp_proto_t proto) {
  fx_feed(bye(), proto);
  assert_int_equal(fx_count_ev(EV_REQUEST), 1);
  sipr_txn_t *st = fx.st;
  assert_non_null(st);
  assert_int_equal(sipr_txn_kind(st), SIPR_TXN_NIST);
  assert_int_equal(fx_last_ev(EV_REQUEST)->method, SIPR_METHOD_BYE);
  return st;
}

/* §17.2.2: a new NIST is in Trying and passes the request to the TU;
 * retransmissions in Trying are discarded (nothing sent, not passed up);
 * no 100 is sent on its own. */
static void test_nist_17_2_2_trying_absorbs(void **state) {
  sipr_txn_t *st = recv_bye(SIPR_TP_UDP);
  assert_int_equal(sipr_txn_state(st), SIPR_NIST_TRYING);
  fx_advance_to(500);
  fx_feed(bye(), SIPR_TP_UDP);
  fx_feed(bye(), SIPR_TP_UDP);
  assert_int_equal(fx.nsent, 0);
  assert_int_equal(fx_count_ev(EV_REQUEST), 1);
  assert_int_equal(sipr_txn_state(st), SIPR_NIST_TRYING);
  fx_advance_to(100000);
  assert_int_equal(fx.nsent, 0);
}

/* §17.2.2: 1xx from the TU in Trying: Proceeding, sent; a retransmission
 * re-sends the last provisional; a final response: Completed; a
 * retransmission re-sends it; other finals are discarded; Timer J =
 * 64*T1 on UDP. */
static void test_nist_17_2_2_trying_proceeding_completed_timer_j(void **state) {
  sipr_txn_t *st = recv_bye(SIPR_TP_UDP);
  fx_advance_to(100);
  assert_int_equal(fx_respond(st, 100), 0);
  assert_int_equal(sipr_txn_state(st), SIPR_NIST_PROCEEDING);
  assert_int_equal(fx_respond(st, 182), 0);
  assert_int_equal(sipr_txn_state(st), SIPR_NIST_PROCEEDING);
  fx_feed(bye(), SIPR_TP_UDP);
  assert_int_equal(fx.nsent, 3);
  assert_int_equal(fx.sent[2].status, 182);
  fx_advance_to(1000);
  assert_int_equal(fx_respond(st, 200), 0);
  assert_int_equal(sipr_txn_state(st), SIPR_NIST_COMPLETED);
  assert_int_equal(fx.nsent, 4);
  fx_feed(bye(), SIPR_TP_UDP);
  assert_int_equal(fx.nsent, 5);
  assert_int_equal(fx.sent[4].status, 200);
  assert_int_equal(fx_respond(st, 500), SIPR_EINVAL);
  assert_int_equal(fx_respond(st, 180), SIPR_EINVAL);
  assert_int_equal(fx.nsent, 5);
  assert_int_equal(fx_count_ev(EV_REQUEST), 1);
  /* No retransmission on its own. */
  fx_advance_to(32999);
  assert_int_equal(fx.nsent, 5);
  assert_int_equal(fx_count_ev(EV_TERMINATED), 0);
  fx_advance(1);
  assert_int_equal(fx_last_ev(EV_TERMINATED)->at, 33000);
  assert_int_equal(fx_count_ev(EV_TIMEOUT), 0);
  assert_int_equal(sipr_txn_count(fx.l), 0);
}

/* §17.2.2: a final response in Trying: Completed directly. */
static void test_nist_17_2_2_trying_to_completed(void **state) {
  fx.answer = 481;
  sipr_txn_t *st = recv_bye(SIPR_TP_UDP);
  assert_int_equal(sipr_txn_state(st), SIPR_NIST_COMPLETED);
  assert_int_equal(fx.nsent, 1);
  assert_int_equal(fx.sent[0].status, 481);
  fx_advance_to(31999);
  assert_int_equal(fx_count_ev(EV_TERMINATED), 0);
  fx_advance(1);
  assert_int_equal(fx_last_ev(EV_TERMINATED)->at, 32000);
}

/* §17.2.2: Timer J = 0 on reliable transports. The transaction outlives
 * the TU's call (it ends at the next loop tick, not inside respond). */
static void test_nist_17_2_2_reliable_timer_j_zero(void **state) {
  sipr_txn_t *st = recv_bye(SIPR_TP_TCP);
  fx_advance_to(40);
  assert_int_equal(fx_respond(st, 200), 0);
  assert_int_equal(sipr_txn_state(st), SIPR_NIST_COMPLETED);
  assert_int_equal(fx_count_ev(EV_TERMINATED), 0);
  fx_advance(1);
  assert_int_equal(fx_last_ev(EV_TERMINATED)->at, 41);
  assert_int_equal(sipr_txn_count(fx.l), 0);
}

/* §17.2.4 with RFC 6026 §8.8: a failed send informs the TU; the state
 * moves as it would and stays; Timer J ends it. */
static void test_nist_17_2_4_transport_error(void **state) {
  sipr_txn_t *st = recv_bye(SIPR_TP_UDP);
  fx.fail_sends = 1;
  assert_int_equal(fx_respond(st, 100), SIPR_EIO);
  assert_int_equal(fx_last_ev(EV_TPERR)->t, st);
  assert_int_equal(sipr_txn_state(st), SIPR_NIST_PROCEEDING);
  fx.fail_sends = 1;
  assert_int_equal(fx_respond(st, 200), SIPR_EIO);
  assert_int_equal(fx_count_ev(EV_TPERR), 2);
  assert_int_equal(sipr_txn_state(st), SIPR_NIST_COMPLETED);
  fx_feed(bye(), SIPR_TP_UDP);
  assert_int_equal(fx.sent[fx.nsent - 1].status, 200);
  assert_int_equal(fx_count_ev(EV_REQUEST), 1);
  fx_advance_to(32000);
  assert_int_equal(fx_count_ev(EV_TERMINATED), 1);
}

/* §8.2.7: the stateless hook. What it takes creates no transaction (a
 * retransmission is offered again and answered again, nothing is
 * absorbed); what it declines goes on to a NIST; ACK and CANCEL are never
 * offered. */
static unsigned hook_calls;
static int hook_take_options(void *ctx, sipr_txn_layer_t *l, sipr_msg_t *req,
                             const sipr_tp_src_t *src) {
  (void)ctx;
  hook_calls++;
  if (req->method_id != SIPR_METHOD_OPTIONS)
    return 0;
  const char *resp = mkresp(200, "z9hG4bKopt-1", "OPTIONS", "stl");
  assert_int_equal(sipr_txn_send_stateless(l, src, sipr_msg_via(req), resp,
                                           strlen(resp)),
                   0);
  return 1;
}

static void test_nist_8_2_7_stateless_hook(void **state) {
  sipr_txn_layer_set_stateless(fx.l, hook_take_options, NULL);
  rq_t o = {.method = "OPTIONS", .branch = "z9hG4bKopt-1"};
  fx_feed(mkreq(&o), SIPR_TP_UDP);
  fx_feed(mkreq(&o), SIPR_TP_UDP);
  assert_int_equal(hook_calls, 2);
  assert_int_equal(fx.nsent, 2);
  assert_int_equal(fx.sent[1].status, 200);
  assert_int_equal(fx_count_ev(EV_REQUEST), 0);
  assert_int_equal(sipr_txn_count(fx.l), 0);
  sipr_txn_stats_t stats;
  sipr_txn_get_stats(fx.l, &stats);
  assert_int_equal(stats.stateless, 2);
  assert_int_equal(stats.created_server, 0);

  rq_t ack = {.method = "ACK", .branch = "z9hG4bKack-1"};
  rq_t cancel = {.method = "CANCEL", .branch = "z9hG4bKcan-1"};
  fx_feed(mkreq(&ack), SIPR_TP_UDP);
  fx_feed(mkreq(&cancel), SIPR_TP_UDP);
  assert_int_equal(hook_calls, 2);
  assert_int_equal(fx_count_ev(EV_REQUEST), 1); /* the CANCEL's NIST */

  fx_feed(bye(), SIPR_TP_UDP); /* declined: a NIST as usual */
  assert_int_equal(hook_calls, 3);
  assert_int_equal(fx_count_ev(EV_REQUEST), 2);
  assert_int_equal(sipr_txn_kind(fx.st), SIPR_TXN_NIST);
  assert_int_equal(sipr_txn_state(fx.st), SIPR_NIST_TRYING);
  hook_calls = 0;
}

int test_nist(void) {
  const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
      T(test_nist_17_2_2_trying_absorbs),
      T(test_nist_17_2_2_trying_proceeding_completed_timer_j),
      T(test_nist_17_2_2_trying_to_completed),
      T(test_nist_17_2_2_reliable_timer_j_zero),
      T(test_nist_17_2_4_transport_error),
      T(test_nist_8_2_7_stateless_hook),
#undef T
  };
  return cmocka_run_group_tests_name("nist", tests, NULL, NULL);
}
