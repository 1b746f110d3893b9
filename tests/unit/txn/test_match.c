/* Matching (RFC 3261 §17.1.3, §17.2.3, §9.2), branches, caps, memory. */
#include "tests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipr/print.h"

#define BR "z9hG4bKmatch-1"

/* Parses text into a (for the CANCEL lookup); the message borrows text. */
static sipr_msg_t *parse(sipr_arena_t *a, const char *text) {
  sipr_msg_t *m = NULL;
  sipr_perr_t err;
  assert_int_equal(
      sipr_msg_parse(a, text, strlen(text), SIPR_PARSE_DATAGRAM, &m, &err), 0);
  return m;
}

/* Feeds text without sipr_msg_check() (a transport would refuse it; the
 * layer must cope anyway). */
static void feed_unchecked(const char *text) {
  char storage[8192];
  sipr_arena_t a;
  sipr_arena_init(&a, storage, sizeof(storage), 1 << 20);
  sipr_msg_t *m = parse(&a, text);
  sipr_tp_src_t src;
  memset(&src, 0, sizeof(src));
  src.remote.proto = SIPR_TP_UDP;
  sipr_txn_layer_recv(fx.l, m, &src);
  sipr_arena_free(&a);
}

/* §17.2.3: a request matches on branch + sent-by + method; a different
 * sent-by or method makes a new transaction. */
static void test_match_17_2_3_branch_sentby_method(void **state) {
  fx.cfg.send_100 = 0;
  fx_start();
  rq_t r = {.via = "SIP/2.0/UDP 192.0.2.10:5060;branch=" BR};
  fx_feed(mkreq(&r), SIPR_TP_UDP);
  sipr_txn_t *ist = fx.st;
  assert_int_equal(fx_count_ev(EV_REQUEST), 1);
  /* Same branch and sent-by (port 5060 written or implied), extra Via
   * parameters: a retransmission. */
  r.via = "SIP/2.0/UDP 192.0.2.10;branch=" BR ";rport=5060;received=192.0.2.1";
  fx_feed(mkreq(&r), SIPR_TP_UDP);
  assert_int_equal(fx_count_ev(EV_REQUEST), 1);
  /* Another sent-by (host or port): another transaction. */
  r.via = "SIP/2.0/UDP 192.0.2.11:5060;branch=" BR;
  fx_feed(mkreq(&r), SIPR_TP_UDP);
  assert_int_equal(fx_count_ev(EV_REQUEST), 2);
  r.via = "SIP/2.0/UDP 192.0.2.10:5070;branch=" BR;
  fx_feed(mkreq(&r), SIPR_TP_UDP);
  assert_int_equal(fx_count_ev(EV_REQUEST), 3);
  /* Another method with the same branch: another (non-INVITE) one. */
  rq_t o = {.method = "OPTIONS",
            .via = "SIP/2.0/UDP 192.0.2.10:5060;branch=" BR};
  fx_feed(mkreq(&o), SIPR_TP_UDP);
  assert_int_equal(fx_count_ev(EV_REQUEST), 4);
  assert_int_equal(sipr_txn_kind(fx.st), SIPR_TXN_NIST);
  fx_feed(mkreq(&o), SIPR_TP_UDP);
  assert_int_equal(fx_count_ev(EV_REQUEST), 4);
  /* Another branch: another transaction. */
  r.via = "SIP/2.0/UDP 192.0.2.10:5060;branch=" BR "x";
  fx_feed(mkreq(&r), SIPR_TP_UDP);
  assert_int_equal(fx_count_ev(EV_REQUEST), 5);
  assert_int_equal(sipr_txn_count(fx.l), 5);
  assert_int_equal(sipr_txn_state(ist), SIPR_IST_PROCEEDING);
}

/* §17.2.3: the ACK for a non-2xx matches the INVITE's transaction (method
 * INVITE, same branch and sent-by); an ACK from another sent-by does not
 * (it is passed up as an ACK for 2xx would be). */
static void test_match_17_2_3_ack_matches_invite(void **state) {
  fx.answer = 404;
  rq_t r = {.branch = BR};
  fx_feed(mkreq(&r), SIPR_TP_UDP);
  sipr_txn_t *st = fx.st;
  rq_t a = {.method = "ACK",
            .via = "SIP/2.0/UDP 192.0.2.12:5060;branch=" BR,
            .to_tag = "uas-tag"};
  fx_feed(mkreq(&a), SIPR_TP_UDP);
  assert_int_equal(fx_count_ev(EV_STRAY_ACK), 1);
  assert_int_equal(sipr_txn_state(st), SIPR_IST_COMPLETED);
  rq_t b = {.method = "ACK", .branch = BR, .to_tag = "uas-tag"};
  fx_feed(mkreq(&b), SIPR_TP_UDP);
  assert_int_equal(fx_count_ev(EV_STRAY_ACK), 1);
  assert_int_equal(sipr_txn_state(st), SIPR_IST_CONFIRMED);
  /* An ACK never creates a transaction. */
  assert_int_equal(fx_count_ev(EV_REQUEST), 1);
}

/* §9.2, §17.2.3: a CANCEL does not match the INVITE's transaction (its
 * method differs): it is a NIST of its own, passed to the TU, which finds
 * the INVITE with sipr_txn_find_invite_for_cancel(). */
static void test_match_9_2_cancel(void **state) {
  rq_t inv = {.branch = BR};
  fx_feed(mkreq(&inv), SIPR_TP_UDP);
  sipr_txn_t *ist = fx.st;
  fx_advance_to(300); /* the 100 at 200 */
  rq_t c = {.method = "CANCEL", .branch = BR};
  char cancel[4096];
  snprintf(cancel, sizeof(cancel), "%s", mkreq(&c));
  fx_feed(cancel, SIPR_TP_UDP);
  assert_int_equal(fx_count_ev(EV_REQUEST), 2);
  assert_int_equal(fx_last_ev(EV_REQUEST)->method, SIPR_METHOD_CANCEL);
  sipr_txn_t *nist = fx.st;
  assert_ptr_not_equal(nist, ist);
  assert_int_equal(sipr_txn_kind(nist), SIPR_TXN_NIST);
  assert_int_equal(fx.nsent, 1); /* nothing re-sent for the INVITE */
  char storage[8192];
  sipr_arena_t a;
  sipr_arena_init(&a, storage, sizeof(storage), 1 << 20);
  assert_ptr_equal(sipr_txn_find_invite_for_cancel(fx.l, parse(&a, cancel)),
                   ist);
  /* A CANCEL for an unknown branch or from another sent-by: none. */
  rq_t c2 = {.method = "CANCEL", .branch = "z9hG4bKother"};
  assert_null(sipr_txn_find_invite_for_cancel(fx.l, parse(&a, mkreq(&c2))));
  rq_t c3 = {.method = "CANCEL", .via = "SIP/2.0/UDP 192.0.2.77;branch=" BR};
  assert_null(sipr_txn_find_invite_for_cancel(fx.l, parse(&a, mkreq(&c3))));
  sipr_arena_free(&a);
  /* The TU answers both. */
  assert_int_equal(fx_respond(nist, 200), 0);
  assert_int_equal(fx_respond(ist, 487), 0);
  assert_int_equal(sipr_txn_state(ist), SIPR_IST_COMPLETED);
  /* A retransmitted CANCEL gets the 200 again, the INVITE the 487. */
  fx_feed(cancel, SIPR_TP_UDP);
  assert_int_equal(fx.sent[fx.nsent - 1].status, 200);
  fx_feed(mkreq(&inv), SIPR_TP_UDP);
  assert_int_equal(fx.sent[fx.nsent - 1].status, 487);
  assert_int_equal(fx_count_ev(EV_REQUEST), 2);
}

/* §17.2.3: RFC 2543 requests (no magic cookie) match on Request-URI (by
 * §19.1.4), To tag, From tag, Call-ID, CSeq and top Via; their ACK on the
 * To tag of the response sent; a CANCEL finds its INVITE the same way. */
static void test_match_17_2_3_rfc2543(void **state) {
  fx.cfg.send_100 = 0;
  fx_start();
  rq_t r = {.via = "SIP/2.0/UDP 192.0.2.30:5060"};
  char inv[4096];
  snprintf(inv, sizeof(inv), "%s", mkreq(&r));
  fx_feed(inv, SIPR_TP_UDP);
  sipr_txn_t *ist = fx.st;
  assert_non_null(ist);
  assert_int_equal(sipr_txn_kind(ist), SIPR_TXN_IST);
  fx_feed(inv, SIPR_TP_UDP);
  assert_int_equal(fx_count_ev(EV_REQUEST), 1);
  /* An equivalent Request-URI (host case, §19.1.4) still matches. */
  rq_t eq = r;
  eq.ruri = "sip:bob@EXAMPLE.com";
  fx_feed(mkreq(&eq), SIPR_TP_UDP);
  assert_int_equal(fx_count_ev(EV_REQUEST), 1);
  /* Each key that differs makes a new transaction. */
  rq_t d = r;
  d.ruri = "sip:carol@example.com";
  fx_feed(mkreq(&d), SIPR_TP_UDP);
  d = r;
  d.from_tag = "other";
  fx_feed(mkreq(&d), SIPR_TP_UDP);
  d = r;
  d.call_id = "other-call";
  fx_feed(mkreq(&d), SIPR_TP_UDP);
  d = r;
  d.cseq = 2;
  fx_feed(mkreq(&d), SIPR_TP_UDP);
  d = r;
  d.to_tag = "tt";
  fx_feed(mkreq(&d), SIPR_TP_UDP);
  d = r;
  d.via = "SIP/2.0/UDP 192.0.2.31:5060";
  fx_feed(mkreq(&d), SIPR_TP_UDP);
  d = r;
  d.via = "SIP/2.0/TCP 192.0.2.30:5060";
  fx_feed(mkreq(&d), SIPR_TP_UDP);
  assert_int_equal(fx_count_ev(EV_REQUEST), 8);

  /* CANCEL: its own NIST; the lookup finds the INVITE. */
  rq_t c = r;
  c.method = "CANCEL";
  char cancel[4096];
  snprintf(cancel, sizeof(cancel), "%s", mkreq(&c));
  fx_feed(cancel, SIPR_TP_UDP);
  assert_int_equal(fx_count_ev(EV_REQUEST), 9);
  assert_int_equal(sipr_txn_kind(fx.st), SIPR_TXN_NIST);
  char storage[8192];
  sipr_arena_t a;
  sipr_arena_init(&a, storage, sizeof(storage), 1 << 20);
  assert_ptr_equal(sipr_txn_find_invite_for_cancel(fx.l, parse(&a, cancel)),
                   ist);
  sipr_arena_free(&a);

  /* ACK: matches on the To tag of the response sent ("uas-tag"). */
  assert_int_equal(fx_respond(ist, 486), 0);
  rq_t bad = r;
  bad.method = "ACK";
  bad.to_tag = "not-ours";
  fx_feed(mkreq(&bad), SIPR_TP_UDP);
  assert_int_equal(fx_count_ev(EV_STRAY_ACK), 1);
  assert_int_equal(sipr_txn_state(ist), SIPR_IST_COMPLETED);
  rq_t ack = r;
  ack.method = "ACK";
  ack.to_tag = "uas-tag";
  fx_feed(mkreq(&ack), SIPR_TP_UDP);
  assert_int_equal(fx_count_ev(EV_STRAY_ACK), 1);
  assert_int_equal(sipr_txn_state(ist), SIPR_IST_CONFIRMED);
}

/* §17.1.3: a response matches on the branch of its top Via and the
 * method of its CSeq; anything else is stray (passed to the TU). */
static void test_match_17_1_3_response(void **state) {
  char br[64];
  assert_int_equal(sipr_txn_new_branch(fx.l, br, sizeof(br)), 27);
  rq_t r = {.branch = br};
  sipr_txn_t *ict = fx_client(mkreq(&r), SIPR_TP_UDP);
  /* Same branch, CSeq method CANCEL: not the INVITE's. */
  fx_feed(mkresp(200, br, "CANCEL", "x"), SIPR_TP_UDP);
  assert_int_equal(fx_count_ev(EV_STRAY_RESPONSE), 1);
  /* Branch with a suffix, or with another bucket. */
  char other[80];
  snprintf(other, sizeof(other), "%sx", br);
  fx_feed(mkresp(180, other, "INVITE", "x"), SIPR_TP_UDP);
  snprintf(other, sizeof(other), "%s", br);
  other[10] = other[10] == '0' ? '1' : '0';
  fx_feed(mkresp(180, other, "INVITE", "x"), SIPR_TP_UDP);
  assert_int_equal(fx_count_ev(EV_STRAY_RESPONSE), 3);
  assert_int_equal(sipr_txn_state(ict), SIPR_ICT_CALLING);
  /* The right one. */
  fx_feed(mkresp(180, br, "INVITE", "x"), SIPR_TP_UDP);
  assert_int_equal(fx_last_ev(EV_RESPONSE)->t, ict);
  assert_int_equal(sipr_txn_state(ict), SIPR_ICT_PROCEEDING);
}

/* §17.1.3: branches that are not ours never crash the lookup: garbage
 * bucket digits, a bare cookie, no cookie, a huge branch. */
static void test_match_17_1_3_garbage_branches(void **state) {
  static const char *const bad[] = {
      "z9hG4bKzzzz0123456789abcdef",
      "z9hG4bK",
      "z9hG4bK1",
      "z9hG4bK12",
      "z9hG4bK-1-2",
      "abcdef0123",
      "z9hG4bKffff",
      "z9hG4bKFFFF00",
  };
  for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    fx_feed(mkresp(200, bad[i], "INVITE", "x"), SIPR_TP_UDP);
  char big[3000];
  memset(big, 'f', sizeof(big) - 1);
  memcpy(big, "z9hG4bK", 7);
  big[sizeof(big) - 1] = '\0';
  fx_feed(mkresp(200, big, "INVITE", "x"), SIPR_TP_UDP);
  assert_int_equal(fx_count_ev(EV_STRAY_RESPONSE), 9);
  /* Messages without what matching needs are dropped, not passed up. */
  feed_unchecked(
      "SIP/2.0 200 OK\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
  feed_unchecked("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK0000a\r\n"
                 "Content-Length: 0\r\n\r\n");
  feed_unchecked("OPTIONS sip:a@b SIP/2.0\r\nCSeq: 1 OPTIONS\r\n"
                 "Content-Length: 0\r\n\r\n");
  feed_unchecked(
      "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n"
      "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"); /* 2543, no Call-ID */
  assert_int_equal(fx_count_ev(EV_STRAY_RESPONSE), 9);
  assert_int_equal(fx_count_ev(EV_REQUEST), 0);
  sipr_txn_stats_t s;
  sipr_txn_get_stats(fx.l, &s);
  assert_int_equal(s.dropped, 4);
  assert_int_equal(s.stray_responses, 9);
}

/* The worker index is written in the branch and read back; branches of
 * other forms name no worker. */
static void test_match_branch_worker(void **state) {
  (void)state;
  fx.cfg.worker = 0xa7;
  fx_start();
  char b[64];
  for (unsigned i = 0; i < 100; i++) {
    assert_int_equal(sipr_txn_new_branch(fx.l, b, sizeof(b)), 27);
    assert_memory_equal(b + 11, "a7", 2);
    assert_int_equal(sipr_txn_branch_worker(sipr_str_make(b, 27)), 0xa7);
  }
  assert_int_equal(sipr_txn_branch_worker(SIPR_STR("z9hG4bK0001FF0123456789abcd")), 255);
  assert_int_equal(sipr_txn_branch_worker(SIPR_STR("Z9HG4BK00010a0123456789abcd")), 10);
  assert_int_equal(sipr_txn_branch_worker(SIPR_STR("z9hG4bK00010a0123456789abc")), -1);
  assert_int_equal(sipr_txn_branch_worker(SIPR_STR("z9hG4bK00010a0123456789abcde")), -1);
  assert_int_equal(sipr_txn_branch_worker(SIPR_STR("z9hG4bK00010g0123456789abcd")), -1);
  assert_int_equal(sipr_txn_branch_worker(SIPR_STR("x9hG4bK00010a0123456789abcd")), -1);
  assert_int_equal(sipr_txn_branch_worker(SIPR_STR("")), -1);
}

/* Branches: "z9hG4bK" + 4 hex digits of a bucket below the table size +
 * 2 hex digits of the worker (default 0) + 14 hex digits; unique. */
static void test_match_new_branch(void **state) {
  fx.cfg.buckets = 10; /* rounded up to 16 */
  fx_start();
  char b[64], prev[64] = "";
  assert_int_equal(sipr_txn_new_branch(fx.l, b, 27), 0);
  static char seen[2000][28];
  for (unsigned i = 0; i < 2000; i++) {
    assert_int_equal(sipr_txn_new_branch(fx.l, b, 28), 27);
    assert_int_equal(strlen(b), 27);
    assert_memory_equal(b, "z9hG4bK", 7);
    for (unsigned j = 7; j < 27; j++)
      assert_non_null(strchr("0123456789abcdef", b[j]));
    char d[5] = {b[7], b[8], b[9], b[10], 0};
    assert_true(strtoul(d, NULL, 16) < 16);
    assert_memory_equal(b + 11, "00", 2);
    assert_int_equal(sipr_txn_branch_worker(sipr_str_make(b, 27)), 0);
    assert_string_not_equal(b, prev);
    memcpy(seen[i], b, 28);
    memcpy(prev, b, 28);
  }
  for (unsigned i = 0; i < 2000; i++)
    for (unsigned j = i + 1; j < 2000; j++)
      assert_true(memcmp(seen[i], seen[j], 27) != 0);
  /* Each bucket holds its own transactions; they are all found. */
  sipr_txn_t *t[40];
  char br[40][64];
  for (unsigned i = 0; i < 40; i++) {
    sipr_txn_new_branch(fx.l, br[i], sizeof(br[i]));
    rq_t r = {.method = "OPTIONS", .branch = br[i]};
    t[i] = fx_client(mkreq(&r), SIPR_TP_UDP);
  }
  for (unsigned i = 0; i < 40; i++) {
    fx_feed(mkresp(200, br[i], "OPTIONS", "x"), SIPR_TP_UDP);
    assert_ptr_equal(fx_last_ev(EV_RESPONSE)->t, t[i]);
  }
}

/* sipr_txn_client_new() refusals. */
static void test_match_client_new_errors(void **state) {
  char br[64];
  sipr_txn_new_branch(fx.l, br, sizeof(br));
  sipr_txn_t *t = NULL;
  rq_t ack = {.method = "ACK", .branch = br};
  assert_int_equal(fx_client_rc(mkreq(&ack), SIPR_TP_UDP, &t), SIPR_EINVAL);
  rq_t notours = {.branch = "z9hG4bKxyz0123"};
  assert_int_equal(fx_client_rc(mkreq(&notours), SIPR_TP_UDP, &t), SIPR_EINVAL);
  rq_t nocookie = {.branch = "1234abcd"};
  assert_int_equal(fx_client_rc(mkreq(&nocookie), SIPR_TP_UDP, &t),
                   SIPR_EINVAL);
  assert_int_equal(fx_client_rc("garbage\r\n\r\n", SIPR_TP_UDP, &t),
                   SIPR_EPARSE);
  assert_int_equal(
      fx_client_rc(mkresp(200, br, "INVITE", "x"), SIPR_TP_UDP, &t),
      SIPR_EINVAL);
  rq_t ok = {.branch = br};
  assert_non_null(fx_client(mkreq(&ok), SIPR_TP_UDP));
  assert_int_equal(fx_client_rc(mkreq(&ok), SIPR_TP_UDP, &t), SIPR_EINVAL);
  assert_null(t);
  assert_int_equal(sipr_txn_count(fx.l), 1);
  assert_int_equal(fx.nev, 0);
}

/* Caps: client_new over max_txns returns SIPR_ETOOBIG. */
static void test_match_cap_client(void **state) {
  fx.cfg.max_txns = 2;
  fx_start();
  char br[64];
  for (unsigned i = 0; i < 2; i++) {
    sipr_txn_new_branch(fx.l, br, sizeof(br));
    rq_t r = {.method = "MESSAGE", .branch = br};
    fx_client(mkreq(&r), SIPR_TP_UDP);
  }
  sipr_txn_new_branch(fx.l, br, sizeof(br));
  rq_t r = {.method = "MESSAGE", .branch = br};
  sipr_txn_t *t = NULL;
  assert_int_equal(fx_client_rc(mkreq(&r), SIPR_TP_UDP, &t), SIPR_ETOOBIG);
  assert_null(t);
  sipr_txn_stats_t s;
  sipr_txn_get_stats(fx.l, &s);
  assert_int_equal(s.refused_cap, 1);
  assert_int_equal(s.created_client, 2);
  assert_int_equal(fx.nsent, 2);
}

/* Caps: a new server request over max_txns is answered 503 statelessly
 * (with a To tag), not passed to the TU; retransmissions of existing
 * transactions still match; an ACK is never answered. With overload_503
 * off, it is dropped. */
static void test_match_cap_server_503(void **state) {
  fx.cfg.max_txns = 1;
  fx.cfg.send_100 = 0;
  fx_start();
  rq_t r = {.branch = BR};
  fx_feed(mkreq(&r), SIPR_TP_UDP);
  rq_t r2 = {.method = "OPTIONS", .branch = "z9hG4bKover"};
  fx_feed(mkreq(&r2), SIPR_TP_UDP);
  assert_int_equal(fx_count_ev(EV_REQUEST), 1);
  assert_int_equal(fx.nsent, 1);
  assert_int_equal(fx.sent[0].status, 503);
  assert_non_null(strstr(fx.sent[0].buf, "To: Bob <sip:bob@example.com>;tag="));
  assert_non_null(strstr(fx.sent[0].buf, "CSeq: 314159 OPTIONS\r\n"));
  fx_feed(mkreq(&r), SIPR_TP_UDP); /* a retransmission: absorbed */
  assert_int_equal(fx.nsent, 1);
  rq_t a = {.method = "ACK", .branch = "z9hG4bKover2"};
  fx_feed(mkreq(&a), SIPR_TP_UDP);
  assert_int_equal(fx.nsent, 1);
  assert_int_equal(fx_count_ev(EV_STRAY_ACK), 1);
  sipr_txn_stats_t s;
  sipr_txn_get_stats(fx.l, &s);
  assert_int_equal(s.answered_503, 1);
  assert_int_equal(s.refused_cap, 1);

  fx.cfg.overload_503 = 0;
  fx_start();
  fx_feed(mkreq(&r), SIPR_TP_UDP);
  fx_feed(mkreq(&r2), SIPR_TP_UDP);
  assert_int_equal(fx.nsent, 1);
  sipr_txn_get_stats(fx.l, &s);
  assert_int_equal(s.refused_cap, 1);
  assert_int_equal(s.answered_503, 0);
}

/* Memory: transactions of every kind in every state are freed by
 * sipr_txn_layer_free() (the ASan build checks for leaks), and each one
 * owns its bytes: the received buffer is scribbled over after recv. */
static void test_match_memory(void **state) {
  char br[64];
  sipr_txn_new_branch(fx.l, br, sizeof(br));
  rq_t inv = {.branch = br};
  fx_client(mkreq(&inv), SIPR_TP_UDP);
  fx_feed(mkresp(486, br, "INVITE", "q"), SIPR_TP_UDP); /* Completed + ACK */
  sipr_txn_new_branch(fx.l, br, sizeof(br));
  rq_t opt = {.method = "OPTIONS", .branch = br};
  fx_client(mkreq(&opt), SIPR_TP_UDP);
  rq_t sinv = {.branch = "z9hG4bKmem1"};
  fx_feed(mkreq(&sinv), SIPR_TP_UDP);
  sipr_txn_t *ist = fx.st;
  fx_advance_to(300); /* 100 sent and kept */
  rq_t sbye = {.method = "BYE", .branch = "z9hG4bKmem2", .to_tag = "t"};
  fx_feed(mkreq(&sbye), SIPR_TP_UDP);
  assert_int_equal(fx_respond(fx.st, 200), 0);
  assert_int_equal(sipr_txn_count(fx.l), 4);
  /* The IST kept its own copy of the INVITE and of its Via. */
  sipr_str_t req = sipr_txn_request(ist);
  assert_int_equal(strncmp(req.p, "INVITE sip:bob@example.com SIP/2.0\r\n", 36),
                   0);
  assert_true(sipr_str_eq(sipr_txn_branch(ist), SIPR_STR("z9hG4bKmem1")));
  fx_feed(mkreq(&sinv), SIPR_TP_UDP);
  assert_int_equal(fx.sent[fx.nsent - 1].status, 100);
  /* Terminations free as they go. */
  fx_advance_to(40000);
  assert_int_equal(sipr_txn_count(fx.l), 1); /* the IST waits for its TU */
  sipr_txn_stats_t s;
  sipr_txn_get_stats(fx.l, &s);
  assert_int_equal(s.terminated, 3);
  assert_int_equal(s.created_client, 2);
  assert_int_equal(s.created_server, 2);
  /* The teardown frees the layer with the IST still alive. */
}

int test_match(void) {
  const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
      T(test_match_17_2_3_branch_sentby_method),
      T(test_match_17_2_3_ack_matches_invite),
      T(test_match_9_2_cancel),
      T(test_match_17_2_3_rfc2543),
      T(test_match_17_1_3_response),
      T(test_match_17_1_3_garbage_branches),
      T(test_match_new_branch),
      T(test_match_branch_worker),
      T(test_match_client_new_errors),
      T(test_match_cap_client),
      T(test_match_cap_server_503),
      T(test_match_memory),
#undef T
  };
  return cmocka_run_group_tests_name("match", tests, NULL, NULL);
}
