/* Test fixture of the transport tests: a loop on a fake clock, a
 * transport listening on UDP and TCP at one free port of 127.0.0.1, and
 * callbacks that record what the transport hands up. */
#include "tests.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sipr/print.h"

static void on_recv(void *user, sipr_tp_t *tp, sipr_msg_t *msg,
                    const sipr_tp_src_t *src) {
  fx_t *fx = user;
  fx->nrecv++;
  fx->is_request = msg->is_request;
  fx->last_len = msg->len < sizeof(fx->last) ? msg->len : sizeof(fx->last) - 1;
  memcpy(fx->last, msg->buf, fx->last_len);
  fx->last[fx->last_len] = '\0';
  fx->src = *src;
  sipr_via_t *v = sipr_msg_via(msg);
  fx->via[0] = '\0';
  if (v)
    snprintf(fx->via, sizeof(fx->via), SIPR_STR_FMT, SIPR_STR_ARG(v->raw));
  if (fx->answer && msg->is_request) {
    sipr_buf_t b;
    sipr_buf_init(&b);
    if (sipr_print_response(&b, msg, 200, NULL, SIPR_STR("t1"), SIPR_STR_NULL) ==
        0)
      for (int i = 0; i < fx->answer; i++)
        sipr_tp_send_response(tp, src, v, b.p, b.len);
    sipr_buf_free(&b);
  }
}

static void on_closed(void *user, sipr_tp_t *tp, uint64_t id) {
  fx_t *fx = user;
  (void)tp;
  if (fx->nclosed < FX_MAX_CLOSED)
    fx->closed[fx->nclosed] = id;
  fx->nclosed++;
}

void fx_init(fx_t *fx, const sipr_tp_cfg_t *cfg) {
  static const sipr_tp_user_ops_t ops = {on_recv, on_closed, NULL};
  memset(fx, 0, sizeof(*fx));
  sipr_fake_clock_init(&fx->fc, 1000);
  fx->loop = sipr_loop_new(&fx->fc.clock);
  assert_non_null(fx->loop);
  /* The free UDP port may be taken for TCP (an ephemeral port of some
   * connection): try again with another. */
  for (int attempt = 0; attempt < 50; attempt++) {
    fx->tp = sipr_tp_new(fx->loop, cfg, &ops, fx);
    assert_non_null(fx->tp);
    sipr_tp_addr_t a;
    assert_int_equal(sipr_tp_addr_parse("udp:127.0.0.1:0", &a), 0);
    assert_int_equal(sipr_tp_listen(fx->tp, &a), 0);
    fx->port = sipr_tp_addr_port(sipr_tp_local(fx->tp, 0));
    assert_true(fx->port > 0);
    /* §18.2.1: TCP on the same address and port as UDP. */
    a = *sipr_tp_local(fx->tp, 0);
    a.proto = SIPR_TP_TCP;
    if (sipr_tp_listen(fx->tp, &a) == 0) {
      assert_int_equal(sipr_tp_addr_port(sipr_tp_local(fx->tp, 1)), fx->port);
      return;
    }
    sipr_tp_free(fx->tp);
  }
  fail_msg("no free port for UDP and TCP");
}

void fx_free(fx_t *fx) {
  sipr_tp_free(fx->tp);
  sipr_loop_free(fx->loop);
}

void fx_pump(fx_t *fx, int rounds) {
  for (int i = 0; i < rounds; i++)
    assert_true(sipr_loop_run_once(fx->loop, 5) >= 0);
}

int fx_pump_until(fx_t *fx, const int *counter, int target) {
  for (int i = 0; i < 400 && *counter < target; i++)
    fx_pump(fx, 1);
  return *counter >= target;
}

ssize_t fx_recv(fx_t *fx, int fd, char *buf, size_t cap) {
  ssize_t n = -1;
  for (int i = 0; i < 400; i++) {
    n = recv(fd, buf, cap, MSG_DONTWAIT);
    if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
      break;
    fx_pump(fx, 1);
  }
  if (n >= 0 && (size_t)n < cap)
    buf[n] = '\0';
  return n;
}

void fx_advance(fx_t *fx, uint64_t ms) {
  sipr_fake_clock_advance(&fx->fc, ms);
  fx_pump(fx, 2);
}

sipr_tp_stats_t fx_stats(const fx_t *fx) {
  sipr_tp_stats_t st;
  sipr_tp_get_stats(fx->tp, &st);
  return st;
}

static void set_lo(struct sockaddr_storage *ss, socklen_t *sl, int v6, int port) {
  memset(ss, 0, sizeof(*ss));
  if (v6) {
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
    s->sin6_family = AF_INET6;
    s->sin6_addr = in6addr_loopback;
    s->sin6_port = htons((uint16_t)port);
    *sl = sizeof(*s);
  } else {
    struct sockaddr_in *s = (struct sockaddr_in *)ss;
    s->sin_family = AF_INET;
    s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->sin_port = htons((uint16_t)port);
    *sl = sizeof(*s);
  }
}

static int bound_port(int fd) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  if (getsockname(fd, (struct sockaddr *)&ss, &sl))
    return -1;
  if (ss.ss_family == AF_INET6)
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

int udp_socket(int v6, int *port) {
  struct sockaddr_storage ss;
  socklen_t sl;
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  set_lo(&ss, &sl, v6, 0);
  if (bind(fd, (struct sockaddr *)&ss, sl)) {
    close(fd);
    return -1;
  }
  *port = bound_port(fd);
  return fd;
}

int udp_send_to(int fd, int v6, int port, const char *msg) {
  struct sockaddr_storage ss;
  socklen_t sl;
  set_lo(&ss, &sl, v6, port);
  return (int)sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&ss, sl);
}

int tcp_client(int port) {
  struct sockaddr_storage ss;
  socklen_t sl;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  set_lo(&ss, &sl, 0, port);
  assert_int_equal(connect(fd, (struct sockaddr *)&ss, sl), 0);
  return fd;
}

int tcp_listener(int *port) {
  struct sockaddr_storage ss;
  socklen_t sl;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  set_lo(&ss, &sl, 0, 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&ss, sl), 0);
  assert_int_equal(listen(fd, 16), 0);
  *port = bound_port(fd);
  return fd;
}

void send_all(int fd, const char *p, size_t len) {
  while (len) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    assert_true(n > 0);
    p += n;
    len -= (size_t)n;
  }
}

char *make_req(char *buf, size_t cap, const char *method, const char *via,
               const char *extra, const char *body, int with_cl) {
  char cl[64] = "";
  if (!body)
    body = "";
  if (with_cl)
    snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", strlen(body));
  snprintf(buf, cap,
           "%s sip:bob@example.com SIP/2.0\r\n"
           "Via: %s\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:alice@example.com>;tag=a1\r\n"
           "To: <sip:bob@example.com>\r\n"
           "Call-ID: c1@example.com\r\n"
           "CSeq: 1 %s\r\n"
           "%s%s\r\n%s",
           method, via, method, extra ? extra : "", cl, body);
  return buf;
}
