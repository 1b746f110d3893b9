/* Non-INVITE client transaction: RFC 3261 §17.1.2, §17.1.4. */
#include "tests.h"

#include <string.h>

static char br[64];

static sipr_txn_t *start_options(sipr_tp_proto_t proto) {
  assert_int_equal(sipr_txn_new_branch(fx.l, br, sizeof(br)), 27);
  rq_t r = {.method = "OPTIONS", .branch = br};
  sipr_txn_t *t = fx_client(mkreq(&r), proto);
  assert_int_equal(sipr_txn_kind(t), SIPR_TXN_NICT);
  assert_int_equal(sipr_txn_state(t), SIPR_NICT_TRYING);
  return t;
}

static void resp(unsigned status) {
  fx_feed(mkresp(status, br, "OPTIONS", "t"), SIPR_TP_UDP);
}

/* §17.1.2.2: Timer E in Trying: intervals T1, 2*T1, ... capped at T2
 * (500, 1000, 2000, 4000, 4000, ...); Timer F at exactly 64*T1: timeout,
 * Terminated. */
static void test_nict_17_1_2_2_trying_timer_e_and_f(void **state) {
  sipr_txn_t *t = start_options(SIPR_TP_UDP);
  fx_advance_to(31999);
  static const uint64_t at[] = {0,     500,   1500,  3500,  7500, 11500,
                                15500, 19500, 23500, 27500, 31500};
  assert_int_equal(fx.nsent, 11);
  for (unsigned i = 0; i < 11; i++) {
    assert_int_equal(fx.sent[i].at, at[i]);
    assert_string_equal(fx.sent[i].buf, fx.sent[0].buf);
  }
  assert_int_equal(fx_count_ev(EV_TIMEOUT), 0);
  fx_advance(1);
  assert_int_equal(fx_count_ev(EV_TIMEOUT), 1);
  assert_int_equal(fx_last_ev(EV_TIMEOUT)->at, 32000);
  assert_int_equal(fx_last_ev(EV_TIMEOUT)->t, t);
  assert_int_equal(fx_last_ev(EV_TERMINATED)->at, 32000);
  assert_int_equal(sipr_txn_count(fx.l), 0);
}

/* §17.1.2.2: T2 is configurable: with T2 = 1000 the cap is 1 s. */
static void test_nict_17_1_2_2_timer_e_cap_follows_t2(void **state) {
  fx.cfg.t2 = 1000;
  fx_start();
  start_options(SIPR_TP_UDP);
  fx_advance_to(4000);
  static const uint64_t at[] = {0, 500, 1500, 2500, 3500};
  assert_int_equal(fx.nsent, 5);
  for (unsigned i = 0; i < 5; i++)
    assert_int_equal(fx.sent[i].at, at[i]);
}

/* §17.1.2.2: a 1xx in Trying: to the TU, Proceeding; Timer E keeps its
 * schedule, then fires every T2; Timer F still ends it (timeout). */
static void test_nict_17_1_2_2_trying_to_proceeding_timer_e_t2(void **state) {
  sipr_txn_t *t = start_options(SIPR_TP_UDP);
  fx_advance_to(600);
  resp(100);
  assert_int_equal(sipr_txn_state(t), SIPR_NICT_PROCEEDING);
  assert_int_equal(fx_last_ev(EV_RESPONSE)->status, 100);
  resp(180); /* §17.1.2.2: further 1xx go up in Proceeding */
  assert_int_equal(fx_count_ev(EV_RESPONSE), 2);
  fx_advance_to(31999);
  static const uint64_t at[] = {0,     500,   1500,  5500,  9500,
                                13500, 17500, 21500, 25500, 29500};
  assert_int_equal(fx.nsent, 10);
  for (unsigned i = 0; i < 10; i++)
    assert_int_equal(fx.sent[i].at, at[i]);
  fx_advance(1);
  assert_int_equal(fx_last_ev(EV_TIMEOUT)->at, 32000);
  assert_int_equal(fx_last_ev(EV_TIMEOUT)->state, SIPR_NICT_PROCEEDING);
  assert_int_equal(fx_count_ev(EV_TERMINATED), 1);
}

/* §17.1.2.2: a final response in Trying: to the TU, Completed; response
 * retransmissions are absorbed; Timer K = T4 on UDP. */
static void test_nict_17_1_2_2_trying_to_completed_timer_k(void **state) {
  sipr_txn_t *t = start_options(SIPR_TP_UDP);
  fx_advance_to(100);
  resp(200);
  assert_int_equal(sipr_txn_state(t), SIPR_NICT_COMPLETED);
  assert_int_equal(fx_count_ev(EV_RESPONSE), 1);
  resp(200);
  resp(100);
  assert_int_equal(fx_count_ev(EV_RESPONSE), 1);
  fx_advance_to(5099);
  assert_int_equal(fx.nsent, 1); /* no retransmission once Completed */
  assert_int_equal(fx_count_ev(EV_TERMINATED), 0);
  fx_advance(1);
  assert_int_equal(fx_last_ev(EV_TERMINATED)->at, 5100);
  assert_int_equal(fx_count_ev(EV_TIMEOUT), 0);
}

/* §17.1.2.2: a final response in Proceeding: Completed; T4 configurable. */
static void test_nict_17_1_2_2_proceeding_to_completed(void **state) {
  fx.cfg.t4 = 2500;
  fx_start();
  sipr_txn_t *t = start_options(SIPR_TP_UDP);
  resp(100);
  fx_advance_to(2000);
  resp(404);
  assert_int_equal(sipr_txn_state(t), SIPR_NICT_COMPLETED);
  assert_int_equal(fx_last_ev(EV_RESPONSE)->status, 404);
  fx_advance_to(4499);
  assert_int_equal(fx_count_ev(EV_TERMINATED), 0);
  fx_advance(1);
  assert_int_equal(fx_last_ev(EV_TERMINATED)->at, 4500);
}

/* §17.1.2.2: reliable transport: no Timer E; Timer K = 0. */
static void test_nict_17_1_2_2_reliable(void **state) {
  sipr_txn_t *t = start_options(SIPR_TP_TCP);
  fx_advance_to(20000);
  assert_int_equal(fx.nsent, 1);
  resp(202);
  assert_int_equal(sipr_txn_state(t), SIPR_NICT_COMPLETED);
  fx_advance(1);
  assert_int_equal(fx_last_ev(EV_TERMINATED)->at, 20001);
}

/* §17.1.2.2: Timer F on a reliable transport too. */
static void test_nict_17_1_2_2_reliable_timer_f(void **state) {
  start_options(SIPR_TP_TCP);
  fx_advance_to(31999);
  assert_int_equal(fx_count_ev(EV_TIMEOUT), 0);
  fx_advance(1);
  assert_int_equal(fx_last_ev(EV_TIMEOUT)->at, 32000);
}

/* §17.1.4: a retransmission (Timer E) fails: transport_error,
 * Terminated. */
static void test_nict_17_1_4_transport_error(void **state) {
  sipr_txn_t *t = start_options(SIPR_TP_UDP);
  fx.fail_from = 3; /* the third send */
  fx_advance_to(5000);
  assert_int_equal(fx.nsent, 3);
  assert_int_equal(fx_last_ev(EV_TPERR)->t, t);
  assert_int_equal(fx_last_ev(EV_TPERR)->at, 1500);
  assert_int_equal(fx_last_ev(EV_TERMINATED)->at, 1500);
  assert_int_equal(sipr_txn_count(fx.l), 0);
}

/* §17.1.4: a retransmission in Proceeding (Timer E at T2) fails:
 * transport_error, Terminated. */
static void test_nict_17_1_4_transport_error_proceeding(void **state) {
  sipr_txn_t *t = start_options(SIPR_TP_UDP);
  resp(100);
  fx.fail_from = 2; /* the second send: Timer E at 500 */
  fx_advance_to(5000);
  assert_int_equal(fx_last_ev(EV_TPERR)->t, t);
  assert_int_equal(fx_last_ev(EV_TPERR)->state, SIPR_NICT_PROCEEDING);
  assert_int_equal(fx_last_ev(EV_TERMINATED)->at, 500);
  assert_int_equal(fx_count_ev(EV_TIMEOUT), 0);
}

/* §9.1: a CANCEL is its own NICT with the INVITE's branch; responses go
 * to it by CSeq method (§17.1.3). */
static void test_nict_9_1_cancel_shares_branch(void **state) {
  assert_int_equal(sipr_txn_new_branch(fx.l, br, sizeof(br)), 27);
  rq_t inv = {.branch = br};
  sipr_txn_t *ict = fx_client(mkreq(&inv), SIPR_TP_UDP);
  fx_feed(mkresp(180, br, "INVITE", "c"), SIPR_TP_UDP);
  assert_true(sipr_txn_can_cancel(ict));
  rq_t can = {.method = "CANCEL", .branch = br};
  sipr_txn_t *nict = fx_client(mkreq(&can), SIPR_TP_UDP);
  assert_int_equal(sipr_txn_kind(nict), SIPR_TXN_NICT);
  assert_false(sipr_txn_can_cancel(nict));
  /* A second CANCEL on the same branch is refused. */
  sipr_txn_t *dup = NULL;
  assert_int_equal(fx_client_rc(mkreq(&can), SIPR_TP_UDP, &dup), SIPR_EINVAL);
  assert_null(dup);
  fx_feed(mkresp(200, br, "CANCEL", "c"), SIPR_TP_UDP);
  assert_int_equal(fx_last_ev(EV_RESPONSE)->t, nict);
  assert_int_equal(sipr_txn_state(nict), SIPR_NICT_COMPLETED);
  assert_int_equal(sipr_txn_state(ict), SIPR_ICT_PROCEEDING);
  fx_feed(mkresp(487, br, "INVITE", "c"), SIPR_TP_UDP);
  assert_int_equal(fx_last_ev(EV_RESPONSE)->t, ict);
  assert_int_equal(sipr_txn_state(ict), SIPR_ICT_COMPLETED);
}

int test_nict(void) {
  const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
      T(test_nict_17_1_2_2_trying_timer_e_and_f),
      T(test_nict_17_1_2_2_timer_e_cap_follows_t2),
      T(test_nict_17_1_2_2_trying_to_proceeding_timer_e_t2),
      T(test_nict_17_1_2_2_trying_to_completed_timer_k),
      T(test_nict_17_1_2_2_proceeding_to_completed),
      T(test_nict_17_1_2_2_reliable),
      T(test_nict_17_1_2_2_reliable_timer_f),
      T(test_nict_17_1_4_transport_error),
      T(test_nict_17_1_4_transport_error_proceeding),
      T(test_nict_9_1_cancel_shares_branch),
#undef T
  };
  return cmocka_run_group_tests_name("nict", tests, NULL, NULL);
}
