/* TCP: framing over any split, pipelining, keep-alives (RFC 5626 §3.5.1),
 * broken streams, connection reuse (§18.1.1), responses over the request's
 * connection (§18.2.2), caps and timeouts. */
#include "tests.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sipr/msg.h"

static int count_of(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
    n++;
  return n;
}

/* Reads from fd (pumping the loop) until buf holds want copies of needle.
 * Returns the bytes read. */
static size_t read_until(fx_t *fx, int fd, char *buf, size_t cap,
                         const char *needle, int want) {
  size_t len = 0;
  buf[0] = '\0';
  for (int i = 0; i < 400 && count_of(buf, needle) < want; i++) {
    ssize_t n = recv(fd, buf + len, cap - 1 - len, MSG_DONTWAIT);
    if (n > 0) {
      len += (size_t)n;
      buf[len] = '\0';
    } else if (n == 0) {
      break;
    } else {
      fx_pump(fx, 1);
    }
  }
  return len;
}

/* 1 when the peer closed fd (EOF or reset) within the pumping time. */
static int closed_by_peer(fx_t *fx, int fd) {
  char b[4096];
  for (int i = 0; i < 400; i++) {
    ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
      return 1;
    fx_pump(fx, 1);
  }
  return 0;
}

static int accept_wait(fx_t *fx, int lfd) {
  for (int i = 0; i < 400; i++) {
    int s = accept(lfd, NULL, NULL);
    if (s >= 0)
      return s;
    fx_pump(fx, 1);
  }
  return -1;
}

static char *tcp_req(char *buf, size_t cap, const char *branch, const char *body) {
  char via[128];
  snprintf(via, sizeof(via), "SIP/2.0/TCP 127.0.0.1:9;branch=%s", branch);
  return make_req(buf, cap, "MESSAGE", via, "Content-Type: text/plain\r\n", body, 1);
}

/* §18.3: a message in many small writes is framed whole. */
static void test_split(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx, NULL);
  int c = tcp_client(fx.port);
  char req[2048];
  tcp_req(req, sizeof(req), "z9hG4bKt1", "hello, split world");
  size_t len = strlen(req);
  for (size_t off = 0; off < len; off += 7) {
    send_all(c, req + off, len - off < 7 ? len - off : 7);
    fx_pump(&fx, 1);
  }
  assert_true(fx_pump_until(&fx, &fx.nrecv, 1));
  assert_string_equal(fx.last, req);
  assert_int_equal(fx.src.remote.proto, SIPR_TP_TCP);
  assert_int_equal(sipr_tp_addr_port(&fx.src.local), fx.port);
  assert_true(fx.src.conn_id != 0);
  sipr_tp_stats_t st = fx_stats(&fx);
  assert_int_equal(st.conns_open, 1);
  assert_int_equal(st.conns_accepted, 1);
  assert_int_equal(st.rx_bad, 0);
  close(c);
  fx_free(&fx);
}

/* Several messages in one write; then CRLFCRLF pings get CRLF pongs. */
static void test_pipelined_ping(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx, NULL);
  int c = tcp_client(fx.port);
  char req[3][2048], all[8192], buf[64];
  tcp_req(req[0], sizeof(req[0]), "z9hG4bKp1", "one");
  tcp_req(req[1], sizeof(req[1]), "z9hG4bKp2", "");
  tcp_req(req[2], sizeof(req[2]), "z9hG4bKp3", "three");
  snprintf(all, sizeof(all), "%s%s%s", req[0], req[1], req[2]);
  send_all(c, all, strlen(all));
  assert_true(fx_pump_until(&fx, &fx.nrecv, 3));
  assert_string_equal(fx.last, req[2]);

  send_all(c, "\r\n\r\n", 4);
  ssize_t n = fx_recv(&fx, c, buf, sizeof(buf));
  assert_int_equal(n, 2);
  assert_memory_equal(buf, "\r\n", 2);
  assert_int_equal(fx_stats(&fx).keepalives, 1);
  /* The connection goes on after a ping. */
  send_all(c, req[0], strlen(req[0]));
  assert_true(fx_pump_until(&fx, &fx.nrecv, 4));
  assert_int_equal(fx_stats(&fx).conns_open, 1);
  close(c);
  fx_free(&fx);
}

/* §18.3: Content-Length is mandatory on a stream; without it there is no
 * next message to find: the connection is closed and counted. */
static void test_no_content_length(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx, NULL);
  int c = tcp_client(fx.port);
  char req[2048];
  make_req(req, sizeof(req), "OPTIONS", "SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKn1",
           NULL, NULL, 0);
  send_all(c, req, strlen(req));
  assert_true(closed_by_peer(&fx, c));
  sipr_tp_stats_t st = fx_stats(&fx);
  assert_int_equal(st.conns_killed, 1);
  assert_int_equal(st.rx_bad, 1);
  assert_int_equal(st.conns_open, 0);
  assert_int_equal(fx.nrecv, 0);
  assert_int_equal(fx.nclosed, 1);
  close(c);
  fx_free(&fx);
}

/* Messages over max_stream_msg: by Content-Length, or a header block that
 * never ends. */
static void test_oversize(void **state) {
  (void)state;
  sipr_tp_cfg_t cfg;
  sipr_tp_cfg_default(&cfg);
  cfg.max_stream_msg = 1024;
  fx_t fx;
  fx_init(&fx, &cfg);
  int c = tcp_client(fx.port);
  char req[2048];
  make_req(req, sizeof(req), "OPTIONS", "SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKo1",
           "Content-Length: 5000\r\n", NULL, 0);
  send_all(c, req, strlen(req));
  assert_true(closed_by_peer(&fx, c));
  close(c);

  c = tcp_client(fx.port);
  char pad[3000];
  memcpy(pad, "OPTIONS sip:bob@example.com SIP/2.0\r\n", 37);
  for (size_t i = 37; i + 2 < sizeof(pad); i += 16)
    memcpy(pad + i, "X-Pad: aaaaaa\r\n ", i + 16 < sizeof(pad) ? 16 : sizeof(pad) - i);
  send_all(c, pad, sizeof(pad));
  assert_true(closed_by_peer(&fx, c));
  close(c);
  sipr_tp_stats_t st = fx_stats(&fx);
  assert_int_equal(st.conns_killed, 2);
  assert_int_equal(st.conns_open, 0);
  assert_int_equal(fx.nrecv, 0);
  fx_free(&fx);
}

/* §18.1.1: requests to one peer share one connection; a response on it
 * comes back with that connection's id. */
static void test_reuse(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx, NULL);
  int pl;
  int lfd = tcp_listener(&pl);
  sipr_tp_addr_t dest;
  assert_int_equal(sipr_tp_addr_set(&dest, SIPR_TP_TCP, SIPR_STR("127.0.0.1"), pl), 0);
  char req[2048], via[128], buf[8192];
  snprintf(via, sizeof(via), "SIP/2.0/TCP 127.0.0.1:%d;branch=z9hG4bKu1", fx.port);
  make_req(req, sizeof(req), "OPTIONS", via, NULL, NULL, 1);
  uint64_t id1 = 0, id2 = 0;
  assert_int_equal(sipr_tp_send_request(fx.tp, &dest, req, strlen(req), &id1), 0);
  assert_true(id1 != 0);
  int s = accept_wait(&fx, lfd);
  assert_true(s >= 0);
  assert_int_equal(sipr_tp_send_request(fx.tp, &dest, req, strlen(req), &id2), 0);
  assert_int_equal(id1, id2);
  assert_int_equal(sipr_tp_send(fx.tp, NULL, id1, req, strlen(req)), 0);
  read_until(&fx, s, buf, sizeof(buf), "OPTIONS sip:", 3);
  assert_int_equal(count_of(buf, "OPTIONS sip:"), 3);
  assert_true(accept(lfd, NULL, NULL) < 0); /* no second connection */
  assert_int_equal(fx_stats(&fx).conns_connected, 1);

  char resp[1024];
  snprintf(resp, sizeof(resp),
           "SIP/2.0 200 OK\r\nVia: %s\r\nFrom: <sip:alice@example.com>;tag=a1\r\n"
           "To: <sip:bob@example.com>;tag=b\r\nCall-ID: c1@example.com\r\n"
           "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
           via);
  send_all(s, resp, strlen(resp));
  assert_true(fx_pump_until(&fx, &fx.nrecv, 1));
  assert_false(fx.is_request);
  assert_int_equal(fx.src.conn_id, id1);
  assert_true(sipr_tp_addr_eq(&fx.src.remote, &dest));

  /* The peer goes away: the layer above hears of it, and the next request
   * opens a new connection. */
  close(s);
  assert_true(fx_pump_until(&fx, &fx.nclosed, 1));
  assert_int_equal(fx.closed[0], id1);
  assert_int_equal(sipr_tp_send(fx.tp, NULL, id1, req, strlen(req)), SIPR_EIO);
  assert_int_equal(sipr_tp_send(fx.tp, &dest, id1, req, strlen(req)), 0);
  s = accept_wait(&fx, lfd);
  assert_true(s >= 0);
  read_until(&fx, s, buf, sizeof(buf), "OPTIONS sip:", 1);
  assert_int_equal(fx_stats(&fx).conns_connected, 2);
  close(s);
  close(lfd);
  fx_free(&fx);
}

/* §18.2.2: the answer goes back over the request's connection, even though
 * the sent-by names a port nobody listens on; received and rport are
 * added over TCP too (RFC 3581 §4: independent of the transport). */
static void test_response_same_conn(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx, NULL);
  fx.answer = 1;
  int c = tcp_client(fx.port);
  char req[2048], buf[4096];
  make_req(req, sizeof(req), "OPTIONS",
           "SIP/2.0/TCP client.invalid:9;rport;branch=z9hG4bKa1", NULL, NULL, 1);
  send_all(c, req, strlen(req));
  read_until(&fx, c, buf, sizeof(buf), "\r\n\r\n", 1);
  assert_true(strncmp(buf, "SIP/2.0 200 OK\r\n", 16) == 0);
  assert_non_null(strstr(buf, ";received=127.0.0.1"));
  assert_non_null(strstr(buf, "client.invalid:9;rport="));
  close(c);
  fx_free(&fx);
}

/* §18.2.2 bullet 1: when the request's connection is gone, a new one is
 * opened to received at the sent-by port. */
static void test_response_new_conn(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx, NULL);
  int pl;
  int lfd = tcp_listener(&pl);
  int c = tcp_client(fx.port);
  char req[2048], via[128], buf[4096];
  snprintf(via, sizeof(via), "SIP/2.0/TCP gone.invalid:%d;branch=z9hG4bKa2", pl);
  make_req(req, sizeof(req), "OPTIONS", via, NULL, NULL, 1);
  send_all(c, req, strlen(req));
  assert_true(fx_pump_until(&fx, &fx.nrecv, 1));
  sipr_tp_src_t src = fx.src;
  char vtxt[512];
  snprintf(vtxt, sizeof(vtxt), "%s", fx.via);
  close(c);
  assert_true(fx_pump_until(&fx, &fx.nclosed, 1));

  sipr_arena_t ar;
  sipr_arena_init(&ar, NULL, 0, 0);
  sipr_via_t *v;
  assert_int_equal(sipr_parse_via(&ar, vtxt, strlen(vtxt), &v, NULL), 0);
  assert_string_equal(v->received.p ? "yes" : "no", "yes");
  const char *resp = "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";
  assert_int_equal(sipr_tp_send_response(fx.tp, &src, v, resp, strlen(resp)), 0);
  int s = accept_wait(&fx, lfd);
  assert_true(s >= 0);
  read_until(&fx, s, buf, sizeof(buf), "\r\n\r\n", 1);
  assert_string_equal(buf, resp);
  sipr_arena_free(&ar);
  close(s);
  close(lfd);
  fx_free(&fx);
}

/* Caps: connections per source IP, and in all. */
static void test_conn_caps(void **state) {
  (void)state;
  sipr_tp_cfg_t cfg;
  sipr_tp_cfg_default(&cfg);
  cfg.max_conns_per_ip = 2;
  fx_t fx;
  fx_init(&fx, &cfg);
  int c[3];
  for (int i = 0; i < 3; i++)
    c[i] = tcp_client(fx.port);
  fx_pump(&fx, 10);
  sipr_tp_stats_t st = fx_stats(&fx);
  assert_int_equal(st.conns_accepted, 2);
  assert_int_equal(st.conns_refused, 1);
  assert_int_equal(st.conns_open, 2);
  assert_true(closed_by_peer(&fx, c[2]));
  close(c[2]);
  /* One goes: room for another. */
  close(c[0]);
  assert_true(fx_pump_until(&fx, &fx.nclosed, 1));
  c[0] = tcp_client(fx.port);
  fx_pump(&fx, 10);
  assert_int_equal(fx_stats(&fx).conns_accepted, 3);
  assert_int_equal(fx_stats(&fx).conns_open, 2);
  close(c[0]);
  close(c[1]);
  fx_free(&fx);

  cfg.max_conns = 1;
  cfg.max_conns_per_ip = 64;
  fx_init(&fx, &cfg);
  c[0] = tcp_client(fx.port);
  c[1] = tcp_client(fx.port);
  fx_pump(&fx, 10);
  assert_int_equal(fx_stats(&fx).conns_open, 1);
  assert_int_equal(fx_stats(&fx).conns_refused, 1);
  /* Outgoing connections count too. */
  sipr_tp_addr_t dest;
  assert_int_equal(sipr_tp_addr_set(&dest, SIPR_TP_TCP, SIPR_STR("127.0.0.1"), 9), 0);
  assert_int_equal(sipr_tp_send_request(fx.tp, &dest, "x", 1, NULL), SIPR_EIO);
  assert_int_equal(fx_stats(&fx).conns_refused, 2);
  close(c[0]);
  close(c[1]);
  fx_free(&fx);
}

/* Idle connections close after idle_timeout_ms without traffic; traffic
 * moves the deadline. */
static void test_idle_timeout(void **state) {
  (void)state;
  sipr_tp_cfg_t cfg;
  sipr_tp_cfg_default(&cfg);
  cfg.idle_timeout_ms = 200;
  fx_t fx;
  fx_init(&fx, &cfg);
  int c = tcp_client(fx.port);
  fx_pump(&fx, 5);
  assert_int_equal(fx_stats(&fx).conns_open, 1);
  fx_advance(&fx, 150);
  char buf[16];
  send_all(c, "\r\n\r\n", 4);
  assert_int_equal(fx_recv(&fx, c, buf, sizeof(buf)), 2);
  fx_advance(&fx, 150); /* 300 ms open, 150 ms idle */
  assert_int_equal(fx_stats(&fx).conns_open, 1);
  fx_advance(&fx, 60);
  sipr_tp_stats_t st = fx_stats(&fx);
  assert_int_equal(st.conns_open, 0);
  assert_int_equal(st.conns_idle, 1);
  assert_int_equal(st.conns_killed, 0);
  assert_int_equal(fx.nclosed, 1);
  assert_true(closed_by_peer(&fx, c));
  close(c);
  fx_free(&fx);
}

/* A peer that stops inside a message is disconnected after
 * partial_timeout_ms, and so is one that sent only LFs (no keep-alive: a
 * message start for the framer); one that sent the start of a CRLFCRLF
 * ping is not. */
static void test_partial_stall(void **state) {
  (void)state;
  sipr_tp_cfg_t cfg;
  sipr_tp_cfg_default(&cfg);
  cfg.partial_timeout_ms = 100;
  fx_t fx;
  fx_init(&fx, &cfg);
  int c = tcp_client(fx.port), k = tcp_client(fx.port), l = tcp_client(fx.port);
  char req[2048];
  tcp_req(req, sizeof(req), "z9hG4bKs1", "body");
  send_all(c, req, strlen(req) - 10);
  send_all(k, "\r\n", 2);
  send_all(l, "\n\n\n\n", 4);
  fx_pump(&fx, 5);
  assert_int_equal(fx_stats(&fx).conns_open, 3);
  fx_advance(&fx, 50);
  assert_int_equal(fx_stats(&fx).conns_open, 3);
  fx_advance(&fx, 60);
  sipr_tp_stats_t st = fx_stats(&fx);
  assert_int_equal(st.conns_killed, 2);
  assert_int_equal(st.conns_open, 1);
  assert_true(closed_by_peer(&fx, c));
  assert_true(closed_by_peer(&fx, l));
  assert_int_equal(fx.nrecv, 0);
  close(c);
  close(k);
  close(l);
  fx_free(&fx);
}

/* A connect that fails is reported through conn_closed (§18.4). */
static void test_connect_fails(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx, NULL);
  int port;
  int lfd = tcp_listener(&port);
  close(lfd); /* nobody listens there now */
  sipr_tp_addr_t dest;
  assert_int_equal(sipr_tp_addr_set(&dest, SIPR_TP_TCP, SIPR_STR("127.0.0.1"), port), 0);
  uint64_t id = 0;
  int rc = sipr_tp_send_request(fx.tp, &dest, "OPTIONS", 7, &id);
  if (rc == 0) {
    assert_true(id != 0);
    assert_true(fx_pump_until(&fx, &fx.nclosed, 1));
    assert_int_equal(fx.closed[0], id);
  } else {
    assert_int_equal(rc, SIPR_EIO);
  }
  assert_true(fx_stats(&fx).tx_errors >= 1);
  assert_int_equal(fx_stats(&fx).conns_open, 0);
  fx_free(&fx);
}

/* A peer that does not read: the write queue cap closes the connection. */
static void test_write_queue_cap(void **state) {
  (void)state;
  sipr_tp_cfg_t cfg;
  sipr_tp_cfg_default(&cfg);
  cfg.max_conn_buffer = 64 * 1024;
  fx_t fx;
  fx_init(&fx, &cfg);
  int pl;
  int lfd = tcp_listener(&pl);
  sipr_tp_addr_t dest;
  assert_int_equal(sipr_tp_addr_set(&dest, SIPR_TP_TCP, SIPR_STR("127.0.0.1"), pl), 0);
  size_t len = 32 * 1024;
  char *big = malloc(len);
  assert_non_null(big);
  memset(big, 'x', len);
  uint64_t id = 0;
  assert_int_equal(sipr_tp_send_request(fx.tp, &dest, big, len, &id), 0);
  int s = accept_wait(&fx, lfd);
  assert_true(s >= 0);
  int rc = 0, i;
  for (i = 0; i < 4096 && rc == 0; i++)
    rc = sipr_tp_send_request(fx.tp, &dest, big, len, NULL);
  assert_int_equal(rc, SIPR_EIO);
  assert_true(fx_pump_until(&fx, &fx.nclosed, 1));
  assert_int_equal(fx.closed[0], id);
  assert_int_equal(fx_stats(&fx).conns_killed, 1);
  free(big);
  close(s);
  close(lfd);
  fx_free(&fx);
}

/* A request that fails the checks over TCP is answered on its connection,
 * which stays open (the framing was sound). */
static void test_bad_request_tcp(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx, NULL);
  int c = tcp_client(fx.port);
  char req[2048], buf[4096];
  make_req(req, sizeof(req), "OPTIONS", "SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKbt",
           "Max-Forwards: 69\r\n", NULL, 1); /* a second Max-Forwards */
  send_all(c, req, strlen(req));
  read_until(&fx, c, buf, sizeof(buf), "\r\n\r\n", 1);
  assert_true(strncmp(buf, "SIP/2.0 400 multiple Max-Forwards values\r\n", 42) == 0);
  assert_int_equal(fx_stats(&fx).answered_400, 1);
  assert_int_equal(fx_stats(&fx).conns_open, 1);
  tcp_req(req, sizeof(req), "z9hG4bKbu", "ok");
  send_all(c, req, strlen(req));
  assert_true(fx_pump_until(&fx, &fx.nrecv, 1));
  close(c);
  fx_free(&fx);
}

int sipr_test_tcp(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_split),
      cmocka_unit_test(test_pipelined_ping),
      cmocka_unit_test(test_no_content_length),
      cmocka_unit_test(test_oversize),
      cmocka_unit_test(test_reuse),
      cmocka_unit_test(test_response_same_conn),
      cmocka_unit_test(test_response_new_conn),
      cmocka_unit_test(test_conn_caps),
      cmocka_unit_test(test_idle_timeout),
      cmocka_unit_test(test_partial_stall),
      cmocka_unit_test(test_connect_fails),
      cmocka_unit_test(test_write_queue_cap),
      cmocka_unit_test(test_bad_request_tcp),
  };
  return cmocka_run_group_tests_name("transport/tcp", tests, NULL, NULL);
}
