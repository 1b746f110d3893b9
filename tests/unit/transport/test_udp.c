/* UDP: receiving (§18.2.1 received, RFC 3581 rport), answering (§18.2.2),
 * bad requests (400 and friends), §18.1.2 foreign responses, batches. */
#include "tests.h"

#include "sipr/msg.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int nothing_on(fx_t *fx, int fd) {
  char b[256];
  fx_pump(fx, 5);
  return recv(fd, b, sizeof(b), MSG_DONTWAIT) < 0;
}

/* RFC 3581 §4: rport without value gets the source port, and received is
 * added even though it equals the sent-by host; the answer goes to the
 * source port, not to the sent-by port. */
static void test_rport(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx, NULL);
  fx.answer = 1;
  int pa, pb;
  int a = udp_socket(0, &pa), b = udp_socket(0, &pb);
  assert_true(a >= 0 && b >= 0);
  char via[128], req[2048], want[256], buf[4096];
  snprintf(via, sizeof(via), "SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKr1;rport", pb);
  make_req(req, sizeof(req), "OPTIONS", via, NULL, NULL, 1);
  assert_true(udp_send_to(a, 0, fx.port, req) > 0);
  assert_true(fx_pump_until(&fx, &fx.nrecv, 1));
  snprintf(want, sizeof(want),
           "SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKr1;rport=%d;received=127.0.0.1",
           pb, pa);
  assert_string_equal(fx.via, want);
  assert_non_null(strstr(fx.last, want)); /* the bytes handed up carry it */
  assert_int_equal(fx.src.conn_id, 0);
  assert_int_equal(fx.src.remote.proto, SIPR_TP_UDP);
  assert_int_equal(sipr_tp_addr_port(&fx.src.remote), pa);
  assert_int_equal(sipr_tp_addr_port(&fx.src.local), fx.port);

  struct sockaddr_in from;
  socklen_t fl = sizeof(from);
  ssize_t n = -1;
  for (int i = 0; i < 400 && n < 0; i++) {
    n = recvfrom(a, buf, sizeof(buf) - 1, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
    if (n < 0)
      fx_pump(&fx, 1);
  }
  assert_true(n > 0);
  buf[n] = '\0';
  assert_int_equal(ntohs(from.sin_port), fx.port);
  assert_true(strncmp(buf, "SIP/2.0 200 OK\r\n", 16) == 0);
  assert_non_null(strstr(buf, want));
  assert_true(nothing_on(&fx, b));
  sipr_tp_stats_t st = fx_stats(&fx);
  assert_int_equal(st.rx_msgs, 1);
  assert_int_equal(st.tx_msgs, 1);
  close(a);
  close(b);
  fx_free(&fx);
}

/* §18.2.1: a sent-by that is a name gets received; §18.2.2 bullet 3: the
 * answer goes to received at the sent-by port. */
static void test_received_name(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx, NULL);
  fx.answer = 1;
  int pa, pb;
  int a = udp_socket(0, &pa), b = udp_socket(0, &pb);
  char via[128], req[2048], want[256], buf[4096];
  snprintf(via, sizeof(via), "SIP/2.0/UDP client.example.com:%d;branch=z9hG4bKr2", pb);
  make_req(req, sizeof(req), "OPTIONS", via, NULL, NULL, 1);
  assert_true(udp_send_to(a, 0, fx.port, req) > 0);
  assert_true(fx_pump_until(&fx, &fx.nrecv, 1));
  snprintf(want, sizeof(want), "%s;received=127.0.0.1", via);
  assert_string_equal(fx.via, want);
  assert_true(fx_recv(&fx, b, buf, sizeof(buf)) > 0);
  assert_non_null(strstr(buf, want));
  assert_true(nothing_on(&fx, a));
  close(a);
  close(b);
  fx_free(&fx);
}

/* A sent-by equal to the source needs nothing; the answer goes to the
 * sent-by (§18.2.2 bullet 4). */
static void test_no_rewrite(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx, NULL);
  fx.answer = 1;
  int pa, pb;
  int a = udp_socket(0, &pa), b = udp_socket(0, &pb);
  char via[128], req[2048], buf[4096];
  snprintf(via, sizeof(via), "SIP/2.0/UDP 127.0.0.1:%d ;branch=z9hG4bKr3", pb);
  make_req(req, sizeof(req), "OPTIONS", via, NULL, NULL, 1);
  assert_true(udp_send_to(a, 0, fx.port, req) > 0);
  assert_true(fx_pump_until(&fx, &fx.nrecv, 1));
  assert_string_equal(fx.via, via);
  assert_true(fx_recv(&fx, b, buf, sizeof(buf)) > 0);
  assert_true(nothing_on(&fx, a));
  close(a);
  close(b);
  fx_free(&fx);
}

/* A received the sender wrote that names another address is corrected;
 * a second Via value in the same field is left alone. */
static void test_received_replaced(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx, NULL);
  int pa;
  int a = udp_socket(0, &pa);
  char req[2048];
  make_req(req, sizeof(req), "OPTIONS",
           "SIP/2.0/UDP 192.0.2.1;received=10.1.1.1;branch=z9hG4bKr4, "
           "SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKr0",
           NULL, NULL, 1);
  assert_true(udp_send_to(a, 0, fx.port, req) > 0);
  assert_true(fx_pump_until(&fx, &fx.nrecv, 1));
  assert_string_equal(fx.via,
                      "SIP/2.0/UDP 192.0.2.1;received=127.0.0.1;branch=z9hG4bKr4");
  assert_non_null(strstr(fx.last, ", SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKr0\r\n"));
  /* Stale even though the sent-by is the source: corrected all the same. */
  make_req(req, sizeof(req), "OPTIONS",
           "SIP/2.0/UDP 127.0.0.1:5999;received=10.9.9.9;branch=z9hG4bKr5", NULL,
           NULL, 1);
  assert_true(udp_send_to(a, 0, fx.port, req) > 0);
  assert_true(fx_pump_until(&fx, &fx.nrecv, 2));
  assert_string_equal(fx.via,
                      "SIP/2.0/UDP 127.0.0.1:5999;received=127.0.0.1;branch=z9hG4bKr5");
  /* Right already (brackets or not): left as written. */
  make_req(req, sizeof(req), "OPTIONS",
           "SIP/2.0/UDP 192.0.2.3;received=127.0.0.1;branch=z9hG4bKr6", NULL, NULL, 1);
  assert_true(udp_send_to(a, 0, fx.port, req) > 0);
  assert_true(fx_pump_until(&fx, &fx.nrecv, 3));
  assert_string_equal(fx.via, "SIP/2.0/UDP 192.0.2.3;received=127.0.0.1;branch=z9hG4bKr6");
  close(a);
  fx_free(&fx);
}

/* A request that fails the checks is answered with the status the syntax
 * layer names and a reason phrase that says why, with a To tag; an ACK
 * never is; bytes that are no SIP are dropped. All counted. */
static void test_bad_request(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx, NULL);
  int pa;
  int a = udp_socket(0, &pa);
  char req[2048], buf[4096];
  snprintf(req, sizeof(req),
           "OPTIONS sip:bob@example.com SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKb1\r\n"
           "From: <sip:alice@example.com>;tag=a1\r\n"
           "To: <sip:bob@example.com>\r\n"
           "Call-ID: bad1@example.com\r\n"
           "Content-Length: 0\r\n\r\n",
           pa);
  assert_true(udp_send_to(a, 0, fx.port, req) > 0);
  assert_true(fx_recv(&fx, a, buf, sizeof(buf)) > 0);
  assert_true(strncmp(buf, "SIP/2.0 400 ", 12) == 0);
  assert_non_null(strstr(buf, "SIP/2.0 400 missing CSeq\r\n"));
  assert_non_null(strstr(buf, "Call-ID: bad1@example.com\r\n"));
  assert_non_null(strstr(buf, "To: <sip:bob@example.com>;tag="));
  assert_int_equal(fx.nrecv, 0);
  sipr_tp_stats_t st = fx_stats(&fx);
  assert_int_equal(st.rx_bad, 1);
  assert_int_equal(st.answered_400, 1);

  /* Another status: an unsupported version gets 505. The Via asks for
   * rport and names a port nobody listens on: the source port wins. */
  snprintf(req, sizeof(req),
           "OPTIONS sip:bob@example.com SIP/7.0\r\n"
           "Via: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bKb2\r\n"
           "From: <sip:alice@example.com>;tag=a1\r\n"
           "To: <sip:bob@example.com>\r\n"
           "Call-ID: bad2@example.com\r\n"
           "CSeq: 1 OPTIONS\r\n"
           "Content-Length: 0\r\n\r\n");
  assert_true(udp_send_to(a, 0, fx.port, req) > 0);
  assert_true(fx_recv(&fx, a, buf, sizeof(buf)) > 0);
  assert_true(strncmp(buf, "SIP/2.0 505 ", 12) == 0);

  /* A broken ACK is never answered (§17.1.1.3: ACK gets no response). */
  snprintf(req, sizeof(req),
           "ACK sip:bob@example.com SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKb3\r\n"
           "From: <sip:alice@example.com>;tag=a1\r\n"
           "To: <sip:bob@example.com>\r\n"
           "Call-ID: bad3@example.com\r\n"
           "Content-Length: 0\r\n\r\n",
           pa);
  assert_true(udp_send_to(a, 0, fx.port, req) > 0);
  /* Garbage, and a CRLF keep-alive (ignored, not counted). */
  assert_true(udp_send_to(a, 0, fx.port, "hello, world\r\n") > 0);
  assert_true(udp_send_to(a, 0, fx.port, "\r\n\r\n") > 0);
  fx_pump(&fx, 10);
  assert_true(nothing_on(&fx, a));
  st = fx_stats(&fx);
  assert_int_equal(st.rx_bad, 4);
  assert_int_equal(st.rx_dropped, 2);
  assert_int_equal(st.answered_400, 2);
  assert_int_equal(fx.nrecv, 0);
  close(a);
  fx_free(&fx);
}

static void send_response(int fd, int port, const char *via) {
  char resp[1024];
  snprintf(resp, sizeof(resp),
           "SIP/2.0 200 OK\r\n"
           "Via: %s\r\n"
           "From: <sip:alice@example.com>;tag=a1\r\n"
           "To: <sip:bob@example.com>;tag=b1\r\n"
           "Call-ID: r1@example.com\r\n"
           "CSeq: 1 OPTIONS\r\n"
           "Content-Length: 0\r\n\r\n",
           via);
  assert_true(udp_send_to(fd, 0, port, resp) > 0);
}

/* §18.1.2: responses whose top Via sent-by is not ours are discarded. */
static void test_foreign_response(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx, NULL);
  int pa;
  int a = udp_socket(0, &pa);
  char via[128];
  send_response(a, fx.port, "SIP/2.0/UDP 192.0.2.55:5060;branch=z9hG4bKf1");
  snprintf(via, sizeof(via), "SIP/2.0/UDP 127.0.0.2:%d;branch=z9hG4bKf2", fx.port);
  send_response(a, fx.port, via);
  send_response(a, fx.port, "SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKf3"); /* 5060 */
  send_response(a, fx.port, "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKf4");
  fx_pump(&fx, 20);
  assert_int_equal(fx.nrecv, 0);
  sipr_tp_stats_t st = fx_stats(&fx);
  assert_int_equal(st.rx_foreign_via, 4);
  assert_int_equal(st.rx_dropped, 4);

  /* Ours: a listening address, and an alias. */
  snprintf(via, sizeof(via), "SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKf5", fx.port);
  send_response(a, fx.port, via);
  assert_true(fx_pump_until(&fx, &fx.nrecv, 1));
  assert_false(fx.is_request);
  assert_string_equal(fx.via, via);
  assert_int_equal(sipr_tp_add_alias(fx.tp, SIPR_STR("Proxy.Example.COM"), -1), 0);
  send_response(a, fx.port, "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKf6");
  assert_true(fx_pump_until(&fx, &fx.nrecv, 2));
  assert_int_equal(sipr_tp_add_alias(fx.tp, SIPR_STR("bad host"), -1), SIPR_EINVAL);
  close(a);
  fx_free(&fx);
}

/* Requests out over UDP; more datagrams than one recvmmsg() batch. */
static void test_send_and_batch(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx, NULL);
  int pa;
  int a = udp_socket(0, &pa);
  char req[2048], buf[4096], via[128];
  sipr_tp_addr_t dest;
  assert_int_equal(sipr_tp_addr_set(&dest, SIPR_TP_UDP, SIPR_STR("127.0.0.1"), pa), 0);
  uint64_t id = 99;
  snprintf(via, sizeof(via), "SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKs1", fx.port);
  make_req(req, sizeof(req), "OPTIONS", via, NULL, NULL, 1);
  assert_int_equal(sipr_tp_send_request(fx.tp, &dest, req, strlen(req), &id), 0);
  assert_int_equal(id, 0);
  assert_true(fx_recv(&fx, a, buf, sizeof(buf)) > 0);
  assert_string_equal(buf, req);

  for (int i = 0; i < 40; i++) {
    snprintf(via, sizeof(via), "SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKm%d", pa, i);
    make_req(req, sizeof(req), "MESSAGE", via, "Content-Type: text/plain\r\n",
             "hi", i % 2); /* half without Content-Length (§18.3) */
    assert_true(udp_send_to(a, 0, fx.port, req) > 0);
  }
  if (!fx_pump_until(&fx, &fx.nrecv, 40)) {
    sipr_tp_stats_t st = fx_stats(&fx);
    fail_msg("got %d of 40 (bad %llu dropped %llu)", fx.nrecv,
             (unsigned long long)st.rx_bad, (unsigned long long)st.rx_dropped);
  }
  assert_int_equal(fx_stats(&fx).rx_bad, 0);
  close(a);
  fx_free(&fx);
}

/* A burst of requests answered in the recv callback: the answers made
 * while a recvmmsg() batch is handed up leave together with sendmmsg()
 * once the batch is done, every one of them; with two answers per request
 * the queue fills up mid-batch and is sent then too. A send outside a
 * batch still leaves at once. */
static void test_answer_burst(void **state) {
  (void)state;
  enum { N = 40 };
  for (int per = 1; per <= 2; per++) {
    fx_t fx;
    fx_init(&fx, NULL);
    fx.answer = per;
    int pa;
    int a = udp_socket(0, &pa);
    assert_true(a >= 0);
    char via[128], req[2048], buf[4096], want[64];
    for (int i = 0; i < N; i++) {
      snprintf(via, sizeof(via), "SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bKab%d", i);
      make_req(req, sizeof(req), "OPTIONS", via, NULL, NULL, 1);
      assert_true(udp_send_to(a, 0, fx.port, req) > 0);
    }
    int got[N] = {0}, total = 0;
    while (total < N * per) {
      ssize_t n = fx_recv(&fx, a, buf, sizeof(buf));
      if (n <= 0)
        fail_msg("got %d of %d answers", total, N * per);
      assert_true(strncmp(buf, "SIP/2.0 200 OK\r\n", 16) == 0);
      int i = -1;
      const char *br = strstr(buf, "branch=z9hG4bKab");
      assert_non_null(br);
      assert_int_equal(sscanf(br + 16, "%d", &i), 1);
      assert_true(i >= 0 && i < N);
      snprintf(want, sizeof(want), "z9hG4bKab%d;", i); /* the request's own */
      assert_non_null(strstr(buf, want));
      got[i]++;
      total++;
    }
    for (int i = 0; i < N; i++)
      assert_int_equal(got[i], per);
    assert_true(nothing_on(&fx, a));
    sipr_tp_stats_t st = fx_stats(&fx);
    assert_int_equal(fx.nrecv, N);
    assert_int_equal(st.tx_msgs, N * per);
    assert_int_equal(st.tx_errors, 0);
    /* At least one sendmmsg() per recvmmsg() batch and per full queue
     * (TP_UDP_BATCH datagrams), far fewer than one per answer. */
    assert_true(st.tx_batches >= (uint64_t)per);
    assert_true(st.tx_batches < (uint64_t)(N * per) / 4);

    /* Outside a batch: sendto() at once, no sendmmsg(). */
    sipr_tp_addr_t dest;
    assert_int_equal(sipr_tp_addr_set(&dest, SIPR_TP_UDP, SIPR_STR("127.0.0.1"), pa), 0);
    assert_int_equal(sipr_tp_send(fx.tp, &dest, 0, "ping", 4), 0);
    assert_int_equal(recv(a, buf, sizeof(buf), MSG_DONTWAIT), 4);
    assert_int_equal(fx_stats(&fx).tx_batches, st.tx_batches);
    assert_int_equal(fx_stats(&fx).tx_msgs, N * per + 1);

    /* Held (a run of posted jobs): queued, then one sendmmsg() at the
     * release. */
    sipr_tp_hold(fx.tp);
    for (int i = 0; i < 3; i++)
      assert_int_equal(sipr_tp_send(fx.tp, &dest, 0, "held", 4), 0);
    assert_int_equal(recv(a, buf, sizeof(buf), MSG_DONTWAIT), -1);
    sipr_tp_release(fx.tp);
    for (int i = 0; i < 3; i++)
      assert_int_equal(recv(a, buf, sizeof(buf), MSG_DONTWAIT), 4);
    assert_int_equal(fx_stats(&fx).tx_batches, st.tx_batches + 1);
    assert_int_equal(fx_stats(&fx).tx_msgs, N * per + 4);
    close(a);
    fx_free(&fx);
  }
}

/* IPv6: received without brackets (RFC 5118 §4.5), rport filled. */
static void test_ipv6(void **state) {
  (void)state;
  int pa;
  int a = udp_socket(1, &pa);
  if (a < 0) /* a host without ::1 fails this test rather than skip it */
    fail_msg("cannot open a UDP socket on [::1]: IPv6 loopback is required");
  fx_t fx;
  fx_init(&fx, NULL);
  fx.answer = 1;
  sipr_tp_addr_t l;
  assert_int_equal(sipr_tp_addr_parse("udp:[::1]:0", &l), 0);
  assert_int_equal(sipr_tp_listen(fx.tp, &l), 0);
  int p6 = sipr_tp_addr_port(sipr_tp_local(fx.tp, 2));
  char via[128], req[2048], want[256], buf[4096], s[64];
  snprintf(want, sizeof(want), "udp:[::1]:%d", p6);
  assert_string_equal(sipr_tp_addr_str(sipr_tp_local(fx.tp, 2), s, sizeof(s)), want);
  snprintf(via, sizeof(via), "SIP/2.0/UDP [::1]:%d;rport;branch=z9hG4bK6", pa + 1);
  make_req(req, sizeof(req), "OPTIONS", via, NULL, NULL, 1);
  assert_true(udp_send_to(a, 1, p6, req) > 0);
  assert_true(fx_pump_until(&fx, &fx.nrecv, 1));
  snprintf(want, sizeof(want),
           "SIP/2.0/UDP [::1]:%d;rport=%d;branch=z9hG4bK6;received=::1", pa + 1, pa);
  assert_string_equal(fx.via, want);
  assert_int_equal(fx.src.local.sa.ss_family, AF_INET6);
  assert_true(fx_recv(&fx, a, buf, sizeof(buf)) > 0);
  assert_non_null(strstr(buf, want));
  close(a);
  fx_free(&fx);
}

/* §18.2.2 from the Via alone (src NULL: a response forwarded statelessly):
 * received + rport (RFC 3581 §4), maddr (bullet 2), received at the
 * sent-by port (bullet 3), sent-by (bullet 4); a hostname cannot be
 * reached until the resolver exists. */
static void test_route_by_via(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx, NULL);
  int pa;
  int a = udp_socket(0, &pa);
  sipr_arena_t ar;
  sipr_arena_init(&ar, NULL, 0, 0);
  char txt[4][160], buf[512];
  snprintf(txt[0], sizeof(txt[0]),
           "SIP/2.0/UDP 192.0.2.9:5060;received=127.0.0.1;rport=%d;branch=z9hG4bKv0", pa);
  snprintf(txt[1], sizeof(txt[1]),
           "SIP/2.0/UDP 192.0.2.9:%d;maddr=127.0.0.1;branch=z9hG4bKv1", pa);
  snprintf(txt[2], sizeof(txt[2]),
           "SIP/2.0/UDP 192.0.2.9:%d;received=[::ffff:127.0.0.1];branch=z9hG4bKv2", pa);
  snprintf(txt[3], sizeof(txt[3]), "SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKv3", pa);
  for (int i = 0; i < 4; i++) {
    sipr_via_t *v;
    assert_int_equal(sipr_parse_via(&ar, txt[i], strlen(txt[i]), &v, NULL), 0);
    char resp[64];
    snprintf(resp, sizeof(resp), "SIP/2.0 200 OK %d\r\n\r\n", i);
    int rc = sipr_tp_send_response(fx.tp, NULL, v, resp, strlen(resp));
    if (i == 2) { /* an IPv4-mapped received cannot leave an IPv4 socket */
      assert_int_equal(rc, SIPR_EIO);
      continue;
    }
    assert_int_equal(rc, 0);
    assert_true(fx_recv(&fx, a, buf, sizeof(buf)) > 0);
    assert_string_equal(buf, resp);
  }
  sipr_via_t *v;
  const char *name = "SIP/2.0/UDP client.example.com;branch=z9hG4bKv4";
  assert_int_equal(sipr_parse_via(&ar, name, strlen(name), &v, NULL), 0);
  assert_int_equal(sipr_tp_send_response(fx.tp, NULL, v, "x", 1), SIPR_EINVAL);
  const char *sctp = "SIP/2.0/SCTP 127.0.0.1;branch=z9hG4bKv5";
  assert_int_equal(sipr_parse_via(&ar, sctp, strlen(sctp), &v, NULL), 0);
  assert_int_equal(sipr_tp_send_response(fx.tp, NULL, v, "x", 1), SIPR_EINVAL);
  assert_int_equal(fx_stats(&fx).tx_errors, 3);
  sipr_arena_free(&ar);
  close(a);
  fx_free(&fx);
}

int sipr_test_udp(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rport),          cmocka_unit_test(test_received_name),
      cmocka_unit_test(test_no_rewrite),     cmocka_unit_test(test_received_replaced),
      cmocka_unit_test(test_bad_request),    cmocka_unit_test(test_foreign_response),
      cmocka_unit_test(test_send_and_batch), cmocka_unit_test(test_answer_burst),
      cmocka_unit_test(test_ipv6),           cmocka_unit_test(test_route_by_via),
  };
  return cmocka_run_group_tests_name("transport/udp", tests, NULL, NULL);
}
