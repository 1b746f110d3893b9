/* INVITE client transaction: RFC 3261 §17.1.1, §17.1.4; RFC 6026 §8.4. */
#include "tests.h"

#include <stdio.h>
#include <string.h>

static char br[64];

/* An INVITE with a fresh branch, started over proto at the current time. */
static sipr_txn_t *start_invite(sipr_tp_proto_t proto, const char *extra) {
  assert_int_equal(sipr_txn_new_branch(fx.l, br, sizeof(br)), 27);
  rq_t r = {.branch = br, .extra = extra};
  sipr_txn_t *t = fx_client(mkreq(&r), proto);
  assert_int_equal(sipr_txn_kind(t), SIPR_TXN_ICT);
  assert_int_equal(sipr_txn_state(t), SIPR_ICT_CALLING);
  return t;
}

static void resp(unsigned status, const char *to_tag) {
  fx_feed(mkresp(status, br, "INVITE", to_tag), SIPR_TP_UDP);
}

/* §17.1.1.2: Timer A retransmits at T1, 2*T1, 4*T1, ... (no cap) while in
 * Calling; Timer B fires at exactly 64*T1 = 32 s: timeout, Terminated. */
static void test_ict_17_1_1_2_calling_timer_a_and_b(void **state) {
  sipr_txn_t *t = start_invite(SIPR_TP_UDP, NULL);
  assert_int_equal(sipr_txn_owner(t), (void *)&fx);
  fx_advance_to(31999);
  static const uint64_t at[] = {0, 500, 1500, 3500, 7500, 15500, 31500};
  assert_int_equal(fx.nsent, 7);
  for (unsigned i = 0; i < 7; i++) {
    assert_true(fx.sent[i].is_request);
    assert_int_equal(fx.sent[i].at, at[i]);
    assert_string_equal(fx.sent[i].buf, fx.sent[0].buf);
  }
  assert_int_equal(fx_count_ev(EV_TIMEOUT), 0);
  assert_int_equal(sipr_txn_state(t), SIPR_ICT_CALLING);
  fx_advance(1);
  assert_int_equal(fx_count_ev(EV_TIMEOUT), 1);
  assert_int_equal(fx_last_ev(EV_TIMEOUT)->at, 32000);
  assert_int_equal(fx_last_ev(EV_TIMEOUT)->t, t);
  assert_int_equal(fx_last_ev(EV_TERMINATED)->at, 32000);
  assert_int_equal(sipr_txn_count(fx.l), 0);
  /* §17.1.1.2: no ACK on timeout. */
  assert_int_equal(fx.nsent, 7);
}

/* §17.1.1.2: T1 is configurable; with T1 = 100 the schedule scales
 * (intervals 100, 200, 400, ...) and B fires at 6.4 s. */
static void test_ict_17_1_1_2_timer_a_follows_t1(void **state) {
  fx.cfg.t1 = 100;
  fx_start();
  start_invite(SIPR_TP_UDP, NULL);
  fx_advance_to(7000);
  static const uint64_t at[] = {0, 100, 300, 700, 1500, 3100, 6300};
  assert_int_equal(fx.nsent, 7);
  for (unsigned i = 0; i < 7; i++)
    assert_int_equal(fx.sent[i].at, at[i]);
  assert_int_equal(fx_last_ev(EV_TIMEOUT)->at, 6400);
}

/* §17.1.1.2: reliable transport: no Timer A; Timer B still 64*T1. */
static void test_ict_17_1_1_2_reliable_no_timer_a(void **state) {
  start_invite(SIPR_TP_TCP, NULL);
  fx_advance_to(31999);
  assert_int_equal(fx.nsent, 1);
  assert_int_equal(fx_count_ev(EV_TIMEOUT), 0);
  fx_advance(1);
  assert_int_equal(fx_last_ev(EV_TIMEOUT)->at, 32000);
  assert_int_equal(fx_count_ev(EV_TERMINATED), 1);
}

/* §17.1.1.2: a 1xx in Calling: Proceeding, passed to the TU; no more
 * retransmissions, and Timer B no longer ends it. Further 1xx go up. */
static void test_ict_17_1_1_2_calling_to_proceeding(void **state) {
  sipr_txn_t *t = start_invite(SIPR_TP_UDP, NULL);
  assert_false(sipr_txn_can_cancel(t)); /* §9.1: not before a 1xx */
  fx_advance_to(600);
  resp(100, NULL);
  assert_int_equal(sipr_txn_state(t), SIPR_ICT_PROCEEDING);
  assert_true(sipr_txn_can_cancel(t));
  resp(180, "b1");
  resp(183, "b1");
  assert_int_equal(fx_count_ev(EV_RESPONSE), 3);
  assert_int_equal(fx_last_ev(EV_RESPONSE)->status, 183);
  fx_advance_to(100000);
  assert_int_equal(fx.nsent, 2); /* 0 and 500 only */
  assert_int_equal(fx_count_ev(EV_TIMEOUT), 0);
  assert_int_equal(sipr_txn_state(t), SIPR_ICT_PROCEEDING);
  assert_int_equal(sipr_txn_count(fx.l), 1);
}

/* §17.1.1.3: the ACK for a non-2xx final response. */
static void test_ict_17_1_1_3_ack_content(void **state) {
  /* A forwarded INVITE: two Vias (ours on top), Route set, a body. */
  assert_int_equal(sipr_txn_new_branch(fx.l, br, sizeof(br)), 27);
  char inv[2048];
  snprintf(inv, sizeof(inv),
           "INVITE sip:bob@biloxi.com SIP/2.0\r\n"
           "Via: SIP/2.0/UDP pc33.atlanta.com;branch=%s, "
           "SIP/2.0/UDP 192.0.2.99;branch=z9hG4bKdown\r\n"
           "Via: SIP/2.0/TCP 192.0.2.98;branch=z9hG4bKdown2\r\n"
           "To: Bob <sip:bob@biloxi.com>\r\n"
           "From: Alice <sip:alice@atlanta.com>;tag=88sja8x\r\n"
           "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
           "Route: <sip:p3.example.com;lr>\r\n"
           "Max-Forwards: 69\r\n"
           "Call-ID: 987asjd97y7atg\r\n"
           "CSeq: 986759 INVITE\r\n"
           "Contact: <sip:alice@pc33.atlanta.com>\r\n"
           "Content-Type: application/sdp\r\n"
           "Content-Length: 4\r\n"
           "\r\n"
           "v=0\n",
           br);
  sipr_txn_t *t = fx_client(inv, SIPR_TP_UDP);
  char r[1024];
  snprintf(r, sizeof(r),
           "SIP/2.0 486 Busy Here\r\n"
           "Via: SIP/2.0/UDP pc33.atlanta.com;branch=%s\r\n"
           "Via: SIP/2.0/UDP 192.0.2.99;branch=z9hG4bKdown\r\n"
           "Via: SIP/2.0/TCP 192.0.2.98;branch=z9hG4bKdown2\r\n"
           "To: Bob <sip:bob@biloxi.com>;tag=99sa0xk\r\n"
           "From: Alice <sip:alice@atlanta.com>;tag=88sja8x\r\n"
           "Call-ID: 987asjd97y7atg\r\n"
           "CSeq: 986759 INVITE\r\n"
           "Content-Length: 0\r\n"
           "\r\n",
           br);
  fx_advance_to(100);
  fx_feed(r, SIPR_TP_UDP);
  assert_int_equal(sipr_txn_state(t), SIPR_ICT_COMPLETED);
  assert_int_equal(fx_last_ev(EV_RESPONSE)->status, 486);
  assert_int_equal(fx.nsent, 2);
  char want[1024];
  snprintf(want, sizeof(want),
           "ACK sip:bob@biloxi.com SIP/2.0\r\n"
           "Via: SIP/2.0/UDP pc33.atlanta.com;branch=%s\r\n"
           "Max-Forwards: 70\r\n"
           "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
           "Route: <sip:p3.example.com;lr>\r\n"
           "From: Alice <sip:alice@atlanta.com>;tag=88sja8x\r\n"
           "To: Bob <sip:bob@biloxi.com>;tag=99sa0xk\r\n"
           "Call-ID: 987asjd97y7atg\r\n"
           "CSeq: 986759 ACK\r\n"
           "Content-Length: 0\r\n"
           "\r\n",
           br);
  assert_true(fx.sent[1].is_request);
  assert_int_equal(fx.sent[1].at, 100);
  assert_int_equal(fx.sent[1].proto, SIPR_TP_UDP); /* same transport */
  assert_string_equal(fx.sent[1].buf, want);
  /* The ACK parses and checks as a request. */
  char storage[8192];
  sipr_arena_t a;
  sipr_arena_init(&a, storage, sizeof(storage), 1 << 20);
  sipr_msg_t *m;
  sipr_perr_t err;
  assert_int_equal(
      sipr_msg_parse(&a, fx.sent[1].buf, fx.sent[1].len, 0, &m, &err), 0);
  assert_int_equal(sipr_msg_check(m, &err), 0);
  assert_int_equal(m->method_id, SIPR_METHOD_ACK);
  sipr_arena_free(&a);
}

/* §17.1.1.2: 300-699 in Calling: Completed, ACK, response to the TU. A
 * retransmitted final response re-sends the ACK and is not passed up.
 * Timer D = 32 s on UDP. */
static void test_ict_17_1_1_2_calling_to_completed_timer_d_udp(void **state) {
  sipr_txn_t *t = start_invite(SIPR_TP_UDP, NULL);
  fx_advance_to(200);
  resp(404, "x1");
  assert_int_equal(sipr_txn_state(t), SIPR_ICT_COMPLETED);
  assert_int_equal(fx_count_ev(EV_RESPONSE), 1);
  assert_int_equal(fx.nsent, 2);
  assert_non_null(
      strstr(fx.sent[1].buf, "ACK sip:bob@example.com SIP/2.0\r\n"));
  assert_non_null(
      strstr(fx.sent[1].buf, "To: Bob <sip:bob@example.com>;tag=x1\r\n"));
  assert_non_null(strstr(fx.sent[1].buf, "CSeq: 314159 ACK\r\n"));
  /* No more INVITE retransmissions. */
  fx_advance_to(5000);
  assert_int_equal(fx.nsent, 2);
  resp(404, "x1");
  resp(404, "x1");
  assert_int_equal(fx.nsent, 4);
  assert_string_equal(fx.sent[2].buf, fx.sent[1].buf);
  assert_string_equal(fx.sent[3].buf, fx.sent[1].buf);
  assert_int_equal(fx_count_ev(EV_RESPONSE), 1);
  /* 1xx and 2xx in Completed are dropped. */
  resp(180, "x1");
  resp(200, "x1");
  assert_int_equal(fx_count_ev(EV_RESPONSE), 1);
  fx_advance_to(32199);
  assert_int_equal(fx_count_ev(EV_TERMINATED), 0);
  fx_advance(1);
  assert_int_equal(fx_last_ev(EV_TERMINATED)->at, 32200);
  assert_int_equal(fx_count_ev(EV_TIMEOUT), 0);
  assert_int_equal(sipr_txn_count(fx.l), 0);
}

/* §17.1.1.2: 300-699 in Proceeding: Completed; Timer D = 0 on TCP; the
 * ACK is still generated on a reliable transport. */
static void
test_ict_17_1_1_2_proceeding_to_completed_timer_d_tcp(void **state) {
  sipr_txn_t *t = start_invite(SIPR_TP_TCP, NULL);
  resp(180, "y");
  assert_int_equal(sipr_txn_state(t), SIPR_ICT_PROCEEDING);
  fx_advance_to(3000);
  resp(603, "y");
  assert_int_equal(sipr_txn_state(t), SIPR_ICT_COMPLETED);
  assert_int_equal(fx.nsent, 2);
  assert_int_equal(fx.sent[1].proto, SIPR_TP_TCP);
  assert_int_equal(strncmp(fx.sent[1].buf, "ACK ", 4), 0);
  fx_advance(1);
  assert_int_equal(fx_count_ev(EV_TERMINATED), 1);
  assert_int_equal(fx_last_ev(EV_TERMINATED)->at, 3001);
}

/* §17.1.1.2 with RFC 6026 §8.4: 2xx in Calling: Accepted, to the TU, no
 * ACK; retransmitted and forked 2xx go up too; Timer M = 64*T1. */
static void test_ict_rfc6026_8_4_calling_2xx_accepted_timer_m(void **state) {
  sipr_txn_t *t = start_invite(SIPR_TP_UDP, NULL);
  fx_advance_to(700);
  resp(200, "fork1");
  assert_int_equal(sipr_txn_state(t), SIPR_ICT_ACCEPTED);
  assert_int_equal(fx_count_ev(EV_RESPONSE), 1);
  resp(200, "fork1"); /* retransmission */
  resp(200, "fork2"); /* another branch of a fork */
  assert_int_equal(fx_count_ev(EV_RESPONSE), 3);
  assert_string_equal(fx_last_ev(EV_RESPONSE)->to_tag, "fork2");
  resp(486, "fork3"); /* non-2xx in Accepted: dropped */
  assert_int_equal(fx_count_ev(EV_RESPONSE), 3);
  /* No ACK, no retransmission after 2xx. */
  fx_advance_to(32699);
  assert_int_equal(fx.nsent, 2); /* 0 and 500 */
  assert_int_equal(fx_count_ev(EV_TERMINATED), 0);
  fx_advance(1);
  assert_int_equal(fx_last_ev(EV_TERMINATED)->at, 32700);
  assert_int_equal(fx_count_ev(EV_TIMEOUT), 0);
  /* After M, a 2xx is stray. */
  resp(200, "fork1");
  assert_int_equal(fx_count_ev(EV_STRAY_RESPONSE), 1);
}

/* RFC 6026 §8.4: 2xx in Proceeding: Accepted. */
static void test_ict_rfc6026_8_4_proceeding_2xx_accepted(void **state) {
  sipr_txn_t *t = start_invite(SIPR_TP_TCP, NULL);
  resp(183, "a");
  resp(200, "a");
  assert_int_equal(sipr_txn_state(t), SIPR_ICT_ACCEPTED);
  assert_int_equal(fx_count_ev(EV_RESPONSE), 2);
  /* Timer M is 64*T1 on reliable transports too. */
  fx_advance_to(31999);
  assert_int_equal(fx_count_ev(EV_TERMINATED), 0);
  fx_advance(1);
  assert_int_equal(fx_count_ev(EV_TERMINATED), 1);
}

/* §17.1.4: a retransmission (Timer A) that fails: transport_error, then
 * Terminated. */
static void test_ict_17_1_4_transport_error_on_timer_a(void **state) {
  sipr_txn_t *t = start_invite(SIPR_TP_UDP, NULL);
  fx.fail_sends = 1;
  fx_advance_to(500);
  assert_int_equal(fx_count_ev(EV_TPERR), 1);
  assert_int_equal(fx_last_ev(EV_TPERR)->t, t);
  assert_int_equal(fx_count_ev(EV_TERMINATED), 1);
  assert_int_equal(sipr_txn_count(fx.l), 0);
  fx_advance_to(40000);
  assert_int_equal(fx.nsent, 2);
  assert_int_equal(fx_count_ev(EV_TIMEOUT), 0);
}

/* §17.1.4: the first send fails: sipr_txn_client_new() returns the error,
 * no callback fires, nothing is kept. */
/* §17.1.4: the TCP connection an INVITE went out on fails before any
 * response: transport error and Terminated at once, not Timer B. A server
 * transaction is never failed this way (RFC 6026 §8.8). */
static void test_ict_17_1_4_connection_closed(void **state) {
  sipr_txn_t *t = start_invite(SIPR_TP_TCP, NULL);
  fx_advance(100);
  assert_int_equal(sipr_txn_layer_conn_closed(fx.l, 8), 0); /* not ours */
  assert_int_equal(sipr_txn_state(t), SIPR_ICT_CALLING);
  assert_int_equal(sipr_txn_layer_conn_closed(fx.l, 7), 1);
  assert_int_equal(fx_count_ev(EV_TPERR), 1);
  assert_int_equal(fx_last_ev(EV_TPERR)->t, t);
  assert_int_equal(fx_last_ev(EV_TERMINATED)->at, 100);
  assert_int_equal(sipr_txn_count(fx.l), 0);
  assert_int_equal(fx_count_ev(EV_TIMEOUT), 0);
  /* nothing left to fail */
  assert_int_equal(sipr_txn_layer_conn_closed(fx.l, 7), 0);
}

static void test_ict_17_1_4_first_send_fails(void **state) {
  assert_int_equal(sipr_txn_new_branch(fx.l, br, sizeof(br)), 27);
  rq_t r = {.branch = br};
  fx.fail_sends = 1;
  sipr_txn_t *t = (sipr_txn_t *)1;
  assert_int_equal(fx_client_rc(mkreq(&r), SIPR_TP_UDP, &t), SIPR_EIO);
  assert_null(t);
  assert_int_equal(fx.nev, 0);
  assert_int_equal(sipr_txn_count(fx.l), 0);
  fx_advance_to(40000);
  assert_int_equal(fx.nev, 0);
}

/* §17.1.4: the ACK send fails in Completed: the response still reaches
 * the TU, then transport_error and Terminated. */
static void test_ict_17_1_4_ack_send_fails(void **state) {
  start_invite(SIPR_TP_UDP, NULL);
  fx.fail_sends = 1;
  resp(500, "z");
  assert_int_equal(fx_count_ev(EV_RESPONSE), 1);
  assert_int_equal(fx_count_ev(EV_TPERR), 1);
  assert_int_equal(fx_count_ev(EV_TERMINATED), 1);
  assert_int_equal(sipr_txn_count(fx.l), 0);
  /* The events came in that order. */
  assert_int_equal(fx.ev[0].type, EV_RESPONSE);
  assert_int_equal(fx.ev[1].type, EV_TPERR);
  assert_int_equal(fx.ev[2].type, EV_TERMINATED);
}

/* §17.1.4: the ACK re-sent in Completed fails: transport_error,
 * Terminated. */
static void test_ict_17_1_4_ack_resend_fails(void **state) {
  start_invite(SIPR_TP_UDP, NULL);
  resp(500, "z");
  fx.fail_sends = 1;
  resp(500, "z");
  assert_int_equal(fx_count_ev(EV_TPERR), 1);
  assert_int_equal(fx_count_ev(EV_TERMINATED), 1);
}

/* §17.1.1.2: the request and TU-owned pointer are kept; the branch is
 * the one we wrote. */
static void test_ict_accessors(void **state) {
  sipr_txn_t *t = start_invite(SIPR_TP_UDP, NULL);
  assert_true(sipr_str_eq(sipr_txn_branch(t), sipr_str_cstr(br)));
  assert_int_equal(sipr_txn_request(t).len, fx.sent[0].len);
  assert_memory_equal(sipr_txn_request(t).p, fx.sent[0].buf, fx.sent[0].len);
  sipr_txn_set_owner(t, NULL);
  assert_null(sipr_txn_owner(t));
  assert_string_equal(sipr_txn_state_name(sipr_txn_state(t)), "ict-calling");
}

/* §9.1 / §16.8: an INVITE client transaction given up after its CANCEL
 * brought no final response: no more retransmissions, terminated from the
 * loop (not inside the call), no timeout reported; refused once past
 * Proceeding and for other kinds. */
static void test_ict_9_1_abandon(void **state) {
  sipr_txn_t *t = start_invite(SIPR_TP_UDP, NULL);
  fx_advance_to(100);
  resp(180, "callee");
  assert_int_equal(sipr_txn_state(t), SIPR_ICT_PROCEEDING);
  unsigned sent = fx.nsent;
  assert_int_equal(sipr_txn_abandon(t), 0);
  assert_int_equal(fx_count_ev(EV_TERMINATED), 0);
  fx_advance(1);
  assert_int_equal(fx_count_ev(EV_TERMINATED), 1);
  assert_int_equal(fx_count_ev(EV_TIMEOUT), 0);
  fx_advance_to(64000);
  assert_int_equal(fx.nsent, sent);
  assert_int_equal(sipr_txn_count(fx.l), 0);

  /* In Calling too: Timer A stops at once. */
  t = start_invite(SIPR_TP_UDP, NULL);
  sent = fx.nsent;
  assert_int_equal(sipr_txn_abandon(t), 0);
  fx_advance(2000);
  assert_int_equal(fx.nsent, sent);
  assert_int_equal(fx_count_ev(EV_TERMINATED), 2);

  /* Completed: refused (Timer D ends it). */
  t = start_invite(SIPR_TP_UDP, NULL);
  resp(486, "callee");
  assert_int_equal(sipr_txn_state(t), SIPR_ICT_COMPLETED);
  assert_int_equal(sipr_txn_abandon(t), SIPR_EINVAL);
  assert_int_equal(sipr_txn_abandon(NULL), SIPR_EINVAL);
}

int test_ict(void) {
  const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
      T(test_ict_17_1_1_2_calling_timer_a_and_b),
      T(test_ict_17_1_1_2_timer_a_follows_t1),
      T(test_ict_17_1_1_2_reliable_no_timer_a),
      T(test_ict_17_1_1_2_calling_to_proceeding),
      T(test_ict_17_1_1_3_ack_content),
      T(test_ict_17_1_1_2_calling_to_completed_timer_d_udp),
      T(test_ict_17_1_1_2_proceeding_to_completed_timer_d_tcp),
      T(test_ict_rfc6026_8_4_calling_2xx_accepted_timer_m),
      T(test_ict_rfc6026_8_4_proceeding_2xx_accepted),
      T(test_ict_17_1_4_transport_error_on_timer_a),
      T(test_ict_17_1_4_connection_closed),
      T(test_ict_17_1_4_first_send_fails),
      T(test_ict_17_1_4_ack_send_fails),
      T(test_ict_17_1_4_ack_resend_fails),
      T(test_ict_accessors),
      T(test_ict_9_1_abandon),
#undef T
  };
  return cmocka_run_group_tests_name("ict", tests, NULL, NULL);
}
