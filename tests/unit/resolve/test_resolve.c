/*
 * Resolver layer (include/sipr/resolve.h) on a real loop: numeric hosts
 * answered without a lookup, localhost from the hosts file (c-ares 1.18
 * has no option naming another hosts file), names that do not exist, the
 * cache, a name server on loopback that answers (fake_dns.h: the lookup
 * goes through the loop and calls back), and a name server
 * that never answers (the loop's timer drives c-ares' timeout), with
 * cancel and free while a lookup is in progress.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sipr/resolve.h"

#include "fake_dns.h"

typedef struct got {
  int called, err;
  size_t n;
  sipr_tp_addr_t a[SIPR_RES_MAX_ADDRS];
} got_t;

static void on_got(void *arg, int err, const sipr_tp_addr_t *addrs, size_t n) {
  got_t *g = arg;
  g->called++;
  g->err = err;
  g->n = n;
  if (n)
    memcpy(g->a, addrs, n * sizeof addrs[0]);
}

/* A lookup to its end: inline, or by running the loop up to 5 s. */
static int lookup_wait(sipr_loop_t *loop, sipr_res_t *r, const char *host,
                       sipr_tp_proto_t proto, int port, got_t *g) {
  memset(g, 0, sizeof *g);
  size_t n = 0;
  int rc = sipr_res_lookup(r, sipr_str_cstr(host), proto, port, g->a, &n,
                           on_got, g, NULL);
  if (rc != 1) {
    g->err = rc;
    g->n = n;
    return rc;
  }
  for (int i = 0; i < 500 && !g->called; i++)
    sipr_loop_run_once(loop, 10);
  assert_int_equal(g->called, 1);
  return g->err;
}

static uint32_t ip4(const sipr_tp_addr_t *a) {
  assert_int_equal(a->sa.ss_family, AF_INET);
  return ntohl(((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr);
}

static void test_numeric(void **state) {
  (void)state;
  sipr_loop_t *loop = sipr_loop_new(NULL);
  sipr_res_t *r = sipr_res_new(loop, NULL);
  assert_non_null(r);
  sipr_tp_addr_t out[SIPR_RES_MAX_ADDRS];
  size_t n = 0;
  got_t g = {0};
  assert_int_equal(sipr_res_lookup(r, sipr_str_cstr("192.0.2.7"), SIPR_TP_UDP,
                                   5080, out, &n, on_got, &g, NULL),
                   0);
  assert_int_equal(n, 1);
  assert_int_equal(ip4(&out[0]), 0xc0000207u);
  assert_int_equal(sipr_tp_addr_port(&out[0]), 5080);
  assert_int_equal(out[0].proto, SIPR_TP_UDP);
  assert_int_equal(sipr_res_lookup(r, sipr_str_cstr("[2001:db8::1]"),
                                   SIPR_TP_TCP, -1, out, &n, on_got, &g, NULL),
                   0);
  assert_int_equal(n, 1);
  assert_int_equal(out[0].sa.ss_family, AF_INET6);
  assert_int_equal(sipr_tp_addr_port(&out[0]), 5060);
  assert_int_equal(out[0].proto, SIPR_TP_TCP);
  /* bad arguments */
  assert_int_equal(sipr_res_lookup(r, sipr_str_cstr(""), SIPR_TP_UDP, 5060, out,
                                   &n, on_got, &g, NULL),
                   SIPR_EINVAL);
  assert_int_equal(sipr_res_lookup(r, sipr_str_cstr("a.sipr.test"), SIPR_TP_UDP,
                                   70000, out, &n, on_got, &g, NULL),
                   SIPR_EINVAL);
  assert_int_equal(g.called, 0);
  sipr_res_stats_t st;
  sipr_res_get_stats(r, &st);
  assert_int_equal(st.numeric, 2);
  assert_int_equal(st.queries, 0);
  sipr_res_free(r);
  sipr_loop_free(loop);
}

static sipr_res_t *files_only(sipr_loop_t *loop) {
  sipr_res_cfg_t cfg;
  sipr_res_cfg_default(&cfg);
  cfg.lookups = "f"; /* the hosts file only: nothing leaves loopback */
  return sipr_res_new(loop, &cfg);
}

/* 1 when one of g's addresses is 127.0.0.1 at port */
static int has_loopback(const got_t *g, int port) {
  for (size_t i = 0; i < g->n; i++)
    if (g->a[i].sa.ss_family == AF_INET && ip4(&g->a[i]) == 0x7f000001u &&
        sipr_tp_addr_port(&g->a[i]) == port)
      return 1;
  return 0;
}

static void test_hosts_file(void **state) {
  (void)state;
  sipr_loop_t *loop = sipr_loop_new(NULL);
  sipr_res_t *r = files_only(loop);
  assert_non_null(r);
  got_t g;
  assert_int_equal(lookup_wait(loop, r, "localhost", SIPR_TP_UDP, 5070, &g), 0);
  assert_true(g.n >= 1);
  assert_true(has_loopback(&g, 5070));
  assert_int_equal(g.a[0].sa.ss_family, AF_INET); /* IPv4 first */
  assert_int_equal(g.a[0].proto, SIPR_TP_UDP);
  /* names compare case-insensitively; the second comes from the cache,
   * with the protocol and port of this lookup */
  assert_int_equal(lookup_wait(loop, r, "LocalHost", SIPR_TP_TCP, -1, &g), 0);
  assert_true(has_loopback(&g, 5060));
  assert_int_equal(g.a[0].proto, SIPR_TP_TCP);
  sipr_res_stats_t st;
  sipr_res_get_stats(r, &st);
  assert_int_equal(st.lookups, 2);
  assert_int_equal(st.cache_hits, 1);
  assert_int_equal(st.queries, 1);
  assert_int_equal(st.pending, 0);
  char buf[64];
  assert_string_equal(sipr_tp_addr_str(&g.a[0], buf, sizeof buf),
                      "tcp:127.0.0.1:5060");
  sipr_res_free(r);
  sipr_loop_free(loop);
}

static void test_not_found(void **state) {
  (void)state;
  sipr_loop_t *loop = sipr_loop_new(NULL);
  sipr_res_t *r = files_only(loop);
  assert_non_null(r);
  got_t g;
  assert_int_equal(
      lookup_wait(loop, r, "nosuch.sipr.test", SIPR_TP_UDP, 5060, &g),
      SIPR_ENOENT);
  assert_int_equal(g.n, 0);
  /* the failure is cached for the negative TTL */
  assert_int_equal(
      lookup_wait(loop, r, "nosuch.sipr.test", SIPR_TP_UDP, 5060, &g),
      SIPR_ENOENT);
  sipr_res_stats_t st;
  sipr_res_get_stats(r, &st);
  assert_int_equal(st.queries, 1);
  assert_int_equal(st.cache_hits, 1);
  assert_int_equal(st.failures, 1);
  sipr_res_free(r);
  sipr_loop_free(loop);
}

/* A UDP socket on loopback that reads nothing: a name server that never
 * answers. */
static int silent_server(char *spec, size_t len) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  socklen_t sl = sizeof sa;
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
  snprintf(spec, len, "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
  return fd;
}

static sipr_res_t *dns_only(sipr_loop_t *loop, const char *servers) {
  sipr_res_cfg_t cfg;
  sipr_res_cfg_default(&cfg);
  cfg.lookups = "b";
  cfg.servers = servers;
  cfg.timeout_ms = 100;
  cfg.tries = 1;
  return sipr_res_new(loop, &cfg);
}

static void test_timeout(void **state) {
  (void)state;
  char spec[64];
  int fd = silent_server(spec, sizeof spec);
  sipr_loop_t *loop = sipr_loop_new(NULL);
  sipr_res_t *r = dns_only(loop, spec);
  assert_non_null(r);
  got_t g;
  memset(&g, 0, sizeof g);
  size_t n = 0;
  uint64_t t0 = sipr_loop_now(loop);
  assert_int_equal(sipr_res_lookup(r, sipr_str_cstr("quiet.sipr.test"),
                                   SIPR_TP_UDP, 5060, g.a, &n, on_got, &g,
                                   NULL),
                   1);
  sipr_res_stats_t st;
  sipr_res_get_stats(r, &st);
  assert_int_equal(st.pending, 1);
  /* the query really left: the silent server has it */
  char buf[512];
  for (int i = 0; i < 100; i++) {
    sipr_loop_run_once(loop, 10);
    if (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
      break;
    assert_true(i < 99);
  }
  for (int i = 0; i < 500 && !g.called; i++)
    sipr_loop_run_once(loop, 10);
  assert_int_equal(g.called, 1);
  assert_int_equal(g.err, SIPR_EIO);
  assert_int_equal(g.n, 0);
  assert_true(sipr_loop_now(loop) - t0 >= 90); /* the timeout, not sooner */
  sipr_res_get_stats(r, &st);
  assert_int_equal(st.pending, 0);
  assert_int_equal(st.failures, 1);
  sipr_res_free(r);
  sipr_loop_free(loop);
  close(fd);
}

static void test_cancel_and_free(void **state) {
  (void)state;
  char spec[64];
  int fd = silent_server(spec, sizeof spec);
  sipr_loop_t *loop = sipr_loop_new(NULL);
  sipr_res_t *r = dns_only(loop, spec);
  assert_non_null(r);
  got_t g1, g2;
  memset(&g1, 0, sizeof g1);
  memset(&g2, 0, sizeof g2);
  size_t n = 0;
  sipr_res_query_t *q = NULL;
  assert_int_equal(sipr_res_lookup(r, sipr_str_cstr("one.sipr.test"),
                                   SIPR_TP_UDP, 5060, g1.a, &n, on_got, &g1,
                                   &q),
                   1);
  assert_non_null(q);
  sipr_res_cancel(q);
  sipr_res_stats_t st;
  for (int i = 0; i < 500; i++) {
    sipr_loop_run_once(loop, 10);
    sipr_res_get_stats(r, &st);
    if (!st.pending)
      break;
  }
  assert_int_equal(st.pending, 0);
  assert_int_equal(g1.called, 0); /* cancelled: never called */
  /* freed with a lookup in progress: not called either */
  assert_int_equal(sipr_res_lookup(r, sipr_str_cstr("two.sipr.test"),
                                   SIPR_TP_UDP, 5060, g2.a, &n, on_got, &g2,
                                   NULL),
                   1);
  sipr_loop_run_once(loop, 0);
  sipr_res_free(r);
  assert_int_equal(g2.called, 0);
  sipr_loop_free(loop);
  close(fd);
}

/* A real DNS answer: the lookup is in progress, the loop hands c-ares the
 * name server's datagram, the callback brings the address; the cache
 * keeps it for the record's TTL (by the loop's clock), then asks again. */
static void test_dns_answer(void **state) {
  (void)state;
  fake_dns_t d;
  assert_int_equal(fake_dns_start(&d, "proxy-a.sipr.test", 0x7f000009u, 30), 0);
  sipr_fake_clock_t fc;
  sipr_fake_clock_init(&fc, 1000);
  sipr_loop_t *loop = sipr_loop_new(&fc.clock);
  sipr_res_t *r = dns_only(loop, d.spec);
  assert_non_null(r);
  got_t g;
  memset(&g, 0, sizeof g);
  size_t n = 0;
  assert_int_equal(sipr_res_lookup(r, sipr_str_cstr("proxy-a.sipr.test"),
                                   SIPR_TP_UDP, 5070, g.a, &n, on_got, &g,
                                   NULL),
                   1);
  for (int i = 0; i < 300 && !g.called; i++) {
    fake_dns_serve(&d);
    sipr_loop_run_once(loop, 10);
  }
  assert_int_equal(g.called, 1);
  assert_int_equal(g.err, 0);
  assert_int_equal(g.n, 1);
  assert_int_equal(ip4(&g.a[0]), 0x7f000009u);
  assert_int_equal(sipr_tp_addr_port(&g.a[0]), 5070);
  assert_int_equal(d.answered, 1);
  unsigned asked = d.queries; /* A and AAAA */
  assert_true(asked >= 2);

  /* within the TTL: from the cache, at once */
  sipr_tp_addr_t out[SIPR_RES_MAX_ADDRS];
  assert_int_equal(sipr_res_lookup(r, sipr_str_cstr("proxy-a.sipr.test"),
                                   SIPR_TP_TCP, -1, out, &n, on_got, &g, NULL),
                   0);
  assert_int_equal(n, 1);
  assert_int_equal(ip4(&out[0]), 0x7f000009u);
  assert_int_equal(sipr_tp_addr_port(&out[0]), 5060);
  assert_int_equal(out[0].proto, SIPR_TP_TCP);
  sipr_fake_clock_advance(&fc, 29000);
  assert_int_equal(sipr_res_lookup(r, sipr_str_cstr("proxy-a.sipr.test"),
                                   SIPR_TP_UDP, 5060, out, &n, on_got, &g,
                                   NULL),
                   0);
  assert_int_equal(d.queries, asked);
  /* past it: asked again */
  sipr_fake_clock_advance(&fc, 2000);
  memset(&g, 0, sizeof g);
  assert_int_equal(sipr_res_lookup(r, sipr_str_cstr("proxy-a.sipr.test"),
                                   SIPR_TP_UDP, 5060, g.a, &n, on_got, &g,
                                   NULL),
                   1);
  for (int i = 0; i < 300 && !g.called; i++) {
    fake_dns_serve(&d);
    sipr_loop_run_once(loop, 10);
  }
  assert_int_equal(g.called, 1);
  assert_int_equal(g.err, 0);
  assert_true(d.queries > asked);

  /* a name the server does not know: NXDOMAIN, SIPR_ENOENT */
  memset(&g, 0, sizeof g);
  assert_int_equal(sipr_res_lookup(r, sipr_str_cstr("nosuch.sipr.test"),
                                   SIPR_TP_UDP, 5060, g.a, &n, on_got, &g,
                                   NULL),
                   1);
  for (int i = 0; i < 300 && !g.called; i++) {
    fake_dns_serve(&d);
    sipr_loop_run_once(loop, 10);
  }
  assert_int_equal(g.called, 1);
  assert_int_equal(g.err, SIPR_ENOENT);
  assert_int_equal(g.n, 0);
  sipr_res_stats_t st;
  sipr_res_get_stats(r, &st);
  assert_int_equal(st.pending, 0);
  assert_int_equal(st.failures, 1);
  sipr_res_free(r);
  sipr_loop_free(loop);
  fake_dns_stop(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_numeric),   cmocka_unit_test(test_hosts_file),
      cmocka_unit_test(test_not_found), cmocka_unit_test(test_dns_answer),
      cmocka_unit_test(test_timeout),   cmocka_unit_test(test_cancel_and_free),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
