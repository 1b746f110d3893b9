/* Transport addresses, protocol names, §18.1.1 protocol choice. */
#include "tests.h"

#include <arpa/inet.h>
#include <string.h>

static void test_parse_ipv4(void **state) {
  (void)state;
  sipr_tp_addr_t a;
  char s[64];
  assert_int_equal(sipr_tp_addr_parse("udp:127.0.0.1:5060", &a), 0);
  assert_int_equal(a.proto, SIPR_TP_UDP);
  assert_int_equal(a.sa.ss_family, AF_INET);
  assert_int_equal(a.salen, sizeof(struct sockaddr_in));
  assert_int_equal(sipr_tp_addr_port(&a), 5060);
  assert_string_equal(sipr_tp_addr_str(&a, s, sizeof(s)), "udp:127.0.0.1:5060");

  /* Protocol case-insensitive; the port may be left out. */
  assert_int_equal(sipr_tp_addr_parse("TCP:192.0.2.7", &a), 0);
  assert_int_equal(a.proto, SIPR_TP_TCP);
  assert_int_equal(sipr_tp_addr_port(&a), 5060);
  assert_string_equal(sipr_tp_addr_str(&a, s, sizeof(s)), "tcp:192.0.2.7:5060");
  assert_int_equal(sipr_tp_addr_parse("tls:192.0.2.7", &a), 0);
  assert_int_equal(sipr_tp_addr_port(&a), 5061);
  assert_int_equal(sipr_tp_addr_parse("udp:0.0.0.0:0", &a), 0);
  assert_int_equal(sipr_tp_addr_port(&a), 0);
}

static void test_parse_ipv6(void **state) {
  (void)state;
  sipr_tp_addr_t a;
  char s[64];
  assert_int_equal(sipr_tp_addr_parse("tcp:[::1]:5070", &a), 0);
  assert_int_equal(a.proto, SIPR_TP_TCP);
  assert_int_equal(a.sa.ss_family, AF_INET6);
  assert_int_equal(sipr_tp_addr_port(&a), 5070);
  assert_string_equal(sipr_tp_addr_str(&a, s, sizeof(s)), "tcp:[::1]:5070");
  assert_int_equal(sipr_tp_addr_parse("udp:[2001:DB8::10]", &a), 0);
  assert_int_equal(sipr_tp_addr_port(&a), 5060);
  assert_string_equal(sipr_tp_addr_str(&a, s, sizeof(s)),
                      "udp:[2001:db8::10]:5060");
  /* An IPv4-embedded IPv6 address (RFC 5118 §4.4 style). */
  assert_int_equal(sipr_tp_addr_parse("udp:[::ffff:192.0.2.1]:5062", &a), 0);
  assert_int_equal(sipr_tp_addr_port(&a), 5062);
  /* Truncation keeps a NUL. */
  assert_string_equal(sipr_tp_addr_str(&a, s, 5), "udp:");
}

static void test_parse_bad(void **state) {
  (void)state;
  static const char *const bad[] = {
      "127.0.0.1:5060",          /* no protocol */
      "sctp:127.0.0.1:5060",     /* unknown protocol */
      "udp:",                    /* no host */
      "udp:host.example.com:5060", /* names wait for the resolver */
      "udp:::1:5060",            /* IPv6 without brackets */
      "udp:[::1",                /* unclosed bracket */
      "udp:[::1]5060",           /* junk after the bracket */
      "udp:[]:5060",
      "udp:127.0.0.1:",          /* empty port */
      "udp:127.0.0.1:65536",     /* port range */
      "udp:127.0.0.1:-1",
      "udp:127.0.0.1:50x",
      "udp:256.0.0.1:5060",
      "udp:[1.2.3.4]:5060",      /* brackets hold IPv6 only */
  };
  sipr_tp_addr_t a;
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    memset(&a, 0x5a, sizeof(a));
    if (sipr_tp_addr_parse(bad[i], &a) != SIPR_EPARSE)
      fail_msg("accepted: %s", bad[i]);
  }
  assert_int_equal(sipr_tp_addr_parse(NULL, &a), SIPR_EPARSE);
}

static void test_set_eq(void **state) {
  (void)state;
  sipr_tp_addr_t a, b;
  assert_int_equal(sipr_tp_addr_set(&a, SIPR_TP_UDP, SIPR_STR("[::1]"), 5060), 0);
  assert_int_equal(sipr_tp_addr_set(&b, SIPR_TP_UDP, SIPR_STR("::1"), -1), 0);
  assert_true(sipr_tp_addr_eq(&a, &b));
  b.proto = SIPR_TP_TCP;
  assert_false(sipr_tp_addr_eq(&a, &b));
  assert_int_equal(sipr_tp_addr_set(&b, SIPR_TP_UDP, SIPR_STR("::1"), 5061), 0);
  assert_false(sipr_tp_addr_eq(&a, &b));
  assert_int_equal(sipr_tp_addr_set(&b, SIPR_TP_UDP, SIPR_STR("127.0.0.1"), 5060), 0);
  assert_false(sipr_tp_addr_eq(&a, &b));
  assert_int_equal(sipr_tp_addr_set(&b, SIPR_TP_UDP, SIPR_STR("example.com"), 5060),
                   SIPR_EINVAL);
  assert_int_equal(sipr_tp_addr_set(&b, SIPR_TP_UDP, SIPR_STR("127.0.0.1"), 65536),
                   SIPR_EINVAL);
  /* The slice need not be NUL-terminated. */
  assert_int_equal(
      sipr_tp_addr_set(&b, SIPR_TP_TCP, sipr_str_make("10.0.0.1xyz", 8), 7), 0);
  char s[64];
  assert_string_equal(sipr_tp_addr_str(&b, s, sizeof(s)), "tcp:10.0.0.1:7");
}

static void test_proto(void **state) {
  (void)state;
  assert_string_equal(sipr_tp_proto_name(SIPR_TP_UDP), "UDP");
  assert_string_equal(sipr_tp_proto_name(SIPR_TP_WSS), "WSS");
  assert_string_equal(sipr_tp_proto_name(SIPR_TP_NONE), "");
  assert_int_equal(sipr_tp_proto_from_str(SIPR_STR("tcp")), SIPR_TP_TCP);
  assert_int_equal(sipr_tp_proto_from_str(SIPR_STR("Tls")), SIPR_TP_TLS);
  assert_int_equal(sipr_tp_proto_from_str(SIPR_STR("SCTP")), SIPR_TP_NONE);
  assert_false(sipr_tp_reliable(SIPR_TP_UDP));
  assert_true(sipr_tp_reliable(SIPR_TP_TCP));
  assert_true(sipr_tp_reliable(SIPR_TP_WS));
  assert_int_equal(sipr_tp_default_port(SIPR_TP_UDP), 5060);
  assert_int_equal(sipr_tp_default_port(SIPR_TP_TLS), 5061);
  assert_int_equal(sipr_tp_conn_worker(((uint64_t)3 << 56) | 77), 3);
}

/* §18.1.1: over 1300 bytes, UDP gives way to TCP. */
static void test_pick_proto(void **state) {
  (void)state;
  fx_t fx;
  fx_init(&fx, NULL);
  assert_int_equal(sipr_tp_pick_proto(fx.tp, SIPR_TP_UDP, 1300), SIPR_TP_UDP);
  assert_int_equal(sipr_tp_pick_proto(fx.tp, SIPR_TP_UDP, 1301), SIPR_TP_TCP);
  assert_int_equal(sipr_tp_pick_proto(fx.tp, SIPR_TP_TCP, 10), SIPR_TP_TCP);
  assert_int_equal(sipr_tp_pick_proto(fx.tp, SIPR_TP_TLS, 9000), SIPR_TP_TLS);
  /* Listening on what is not built yet is refused, not half-done. */
  sipr_tp_addr_t a;
  assert_int_equal(sipr_tp_addr_parse("tls:127.0.0.1:0", &a), 0);
  assert_int_equal(sipr_tp_listen(fx.tp, &a), SIPR_EINVAL);
  assert_null(sipr_tp_local(fx.tp, 2));
  fx_free(&fx);
}

int sipr_test_addr(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_ipv4), cmocka_unit_test(test_parse_ipv6),
      cmocka_unit_test(test_parse_bad),  cmocka_unit_test(test_set_eq),
      cmocka_unit_test(test_proto),      cmocka_unit_test(test_pick_proto),
  };
  return cmocka_run_group_tests_name("transport/addr", tests, NULL, NULL);
}
