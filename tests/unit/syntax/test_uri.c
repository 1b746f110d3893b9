/* URI parse, compare and print (src/syntax/uri.c): RFC 3261 §19.1 and §25,
 * RFC 5118 (IPv6), RFC 3966 (tel), RFC 4475 URI torture cases. */
#include "tests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipr/uri.h"

static sipr_arena_t g_arena;
static int g_arena_ready;

static sipr_arena_t *arena(void) {
  if (!g_arena_ready) {
    sipr_arena_init(&g_arena, NULL, 0, 0);
    g_arena_ready = 1;
  }
  return &g_arena;
}

static int teardown(void **state) {
  (void)state;
  if (g_arena_ready)
    sipr_arena_free(&g_arena);
  g_arena_ready = 0;
  return 0;
}

static int parse(const char *s, sipr_uri_t *u, sipr_perr_t *e) {
  return sipr_uri_parse(arena(), s, strlen(s), u, e);
}

/* Parses s, failing the test with the reason when it does not parse. */
static sipr_uri_t ok(const char *s) {
  sipr_uri_t u;
  sipr_perr_t e = {0};
  int rc = parse(s, &u, &e);
  if (rc)
    fail_msg("'%s' rejected: %s at %zu", s, e.reason ? e.reason : "?", e.offset);
  return u;
}

/* Expects s to be rejected with SIPR_EPARSE, this reason and offset. */
static void bad(const char *s, const char *reason, size_t offset) {
  sipr_uri_t u;
  sipr_perr_t e = {0};
  int rc = parse(s, &u, &e);
  if (rc != SIPR_EPARSE)
    fail_msg("'%s' gave %d, expected SIPR_EPARSE", s, rc);
  assert_int_equal(e.code, SIPR_EPARSE);
  assert_int_equal(e.status, 400);
  assert_string_equal(e.where, "uri");
  if (strcmp(e.reason, reason) != 0 || e.offset != offset)
    fail_msg("'%s': got '%s' at %zu, expected '%s' at %zu", s, e.reason, e.offset,
             reason, offset);
}

static void rejected(const char *s) {
  sipr_uri_t u;
  sipr_perr_t e = {0};
  if (parse(s, &u, &e) != SIPR_EPARSE)
    fail_msg("'%s' accepted", s);
  assert_non_null(e.reason);
  assert_true(e.offset <= strlen(s));
}

static void assert_slice(sipr_str_t s, const char *want) {
  if (!want) {
    assert_null(s.p);
    return;
  }
  assert_non_null(s.p);
  if (s.len != strlen(want) || memcmp(s.p, want, s.len) != 0)
    fail_msg("got '%.*s', expected '%s'", (int)s.len, s.p, want);
}

static void expect_eq(const char *x, const char *y, int want) {
  sipr_uri_t a = ok(x), b = ok(y);
  if (sipr_uri_equal(&a, &b) != want || sipr_uri_equal(&b, &a) != want)
    fail_msg("'%s' vs '%s': expected %s", x, y, want ? "equal" : "not equal");
  assert_int_equal(sipr_uri_equal(&a, &a), 1);
  assert_int_equal(sipr_uri_equal(&b, &b), 1);
}
#define EQ(x, y) expect_eq(x, y, 1)
#define NE(x, y) expect_eq(x, y, 0)

static void expect_print(const char *in, const char *want) {
  sipr_uri_t u = ok(in);
  sipr_buf_t b;
  sipr_buf_init(&b);
  assert_int_equal(sipr_uri_print(&b, &u), 0);
  if (strcmp(b.p, want) != 0) {
    char got[512];
    snprintf(got, sizeof(got), "%s", b.p);
    sipr_buf_free(&b);
    fail_msg("print '%s': got '%s', expected '%s'", in, got, want);
  }
  sipr_buf_free(&b);
}

/* ---- parse: SIP ---------------------------------------------------------*/

static void t_basic(void **state) {
  (void)state;
  sipr_uri_t u = ok("sip:alice@atlanta.com");
  assert_int_equal(u.scheme, SIPR_URI_SIP);
  assert_slice(u.scheme_str, "sip");
  assert_slice(u.user, "alice");
  assert_slice(u.password, NULL);
  assert_slice(u.host, "atlanta.com");
  assert_int_equal(u.host_type, SIPR_HOST_NAME);
  assert_int_equal(u.port, -1);
  assert_null(u.params);
  assert_null(u.headers);
  assert_int_equal(u.lr, 0);
  assert_slice(u.raw, "sip:alice@atlanta.com");

  u = ok("SiPs:bob@Biloxi.COM.");
  assert_int_equal(u.scheme, SIPR_URI_SIPS);
  assert_slice(u.scheme_str, "SiPs");
  assert_slice(u.host, "Biloxi.COM.");

  u = ok("sip:example.com");
  assert_slice(u.user, NULL);
  assert_slice(u.host, "example.com");
  u = ok("sip:localhost:5060");
  assert_int_equal(u.port, 5060);
}

/* The examples of §19.1.3. */
static void t_rfc3261_examples(void **state) {
  (void)state;
  sipr_uri_t u = ok("sip:alice:secretword@atlanta.com;transport=tcp");
  assert_slice(u.user, "alice");
  assert_slice(u.password, "secretword");
  assert_slice(u.transport, "tcp");
  assert_slice(u.params->name, "transport");

  u = ok("sips:alice@atlanta.com?subject=project%20x&priority=urgent");
  assert_int_equal(u.scheme, SIPR_URI_SIPS);
  assert_non_null(u.headers);
  assert_slice(u.headers->name, "subject");
  assert_slice(u.headers->value, "project%20x");
  assert_slice(u.headers->next->name, "priority");
  assert_slice(u.headers->next->value, "urgent");
  assert_null(u.headers->next->next);

  u = ok("sip:+1-212-555-1212:1234@gateway.com;user=phone");
  assert_slice(u.user, "+1-212-555-1212");
  assert_slice(u.password, "1234");
  assert_slice(u.user_param, "phone");

  u = ok("sips:1212@gateway.com");
  assert_slice(u.user, "1212");

  u = ok("sip:alice@192.0.2.4");
  assert_int_equal(u.host_type, SIPR_HOST_IPV4);
  assert_slice(u.host, "192.0.2.4");

  u = ok("sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com");
  assert_slice(u.user, NULL);
  assert_slice(u.method, "REGISTER");
  assert_slice(u.headers->name, "to");
  assert_slice(u.headers->value, "alice%40atlanta.com");

  u = ok("sip:alice;day=tuesday@atlanta.com");
  assert_slice(u.user, "alice;day=tuesday");
  assert_null(u.params);
}

static void t_ipv4(void **state) {
  (void)state;
  sipr_uri_t u = ok("sip:192.0.2.4:5070;lr");
  assert_int_equal(u.host_type, SIPR_HOST_IPV4);
  assert_int_equal(u.port, 5070);
  assert_int_equal(u.lr, 1);
  ok("sip:0.0.0.0");
  ok("sip:255.255.255.255");
  ok("sip:u@001.002.003.004");
  bad("sip:u@192.0.2.256", "invalid IPv4 address", 6);
  bad("sip:1.2.3", "invalid IPv4 address", 4);
  bad("sip:1.2.3.4.5", "invalid IPv4 address", 4);
  bad("sip:1..2.3", "invalid IPv4 address", 4);
  bad("sip:1234.1.1.1", "invalid IPv4 address", 4);
}

/* RFC 5118 §4.1 - §4.4, §4.9, §4.10. */
static void t_ipv6(void **state) {
  (void)state;
  sipr_uri_t u = ok("sip:[2001:db8::10]");
  assert_int_equal(u.host_type, SIPR_HOST_IPV6);
  assert_slice(u.host, "[2001:db8::10]");
  assert_int_equal(u.port, -1);

  /* §4.4: port after the bracket */
  u = ok("sip:[2001:db8::10]:5070");
  assert_slice(u.host, "[2001:db8::10]");
  assert_int_equal(u.port, 5070);

  /* §4.3: no port is guessed from inside the brackets */
  u = ok("sip:user@[2001:db8::10:5070]");
  assert_slice(u.host, "[2001:db8::10:5070]");
  assert_int_equal(u.port, -1);

  /* §4.9: IPv4-mapped */
  u = ok("sip:ted@[::ffff:192.0.2.2]");
  assert_int_equal(u.host_type, SIPR_HOST_IPV6);
  ok("sip:[::ffff:192.0.2.10]:19823");

  /* §4.10: the correct form and the tolerated three-colon form */
  ok("sip:user@[2001:db8::192.0.2.1]");
  u = ok("sip:user@[2001:db8:::192.0.2.1]");
  assert_slice(u.host, "[2001:db8:::192.0.2.1]");
  ok("sip:[:::192.0.2.1]");

  ok("sip:[::]");
  ok("sip:[::1]");
  ok("sip:[1::]");
  ok("sip:[2001:DB8:0:0:8:800:200C:417A]");
  ok("sip:[1:2:3:4:5:6:7::]");
  ok("sip:[::2:3:4:5:6:7:8]");
  ok("sip:[1:2:3:4:5:6:1.2.3.4]");
  ok("sip:caller@[2001:db8::1];transport=tcp?h=v");

  /* §4.2: an IPv6 address must be in brackets */
  bad("sip:2001:db8::10", "IPv6 address without brackets", 4);
  bad("sip:user@2001:db8::10;lr", "IPv6 address without brackets", 9);
  bad("sip:::1", "IPv6 address without brackets", 4);
  bad("sip:h:5060:5060", "invalid character in port", 10);
  bad("sip:[2001:db8::10", "unterminated IPv6 reference", 4);
  bad("sip:[2001:db8::1::2]", "invalid IPv6 address", 4);
  bad("sip:[12345::1]", "invalid IPv6 address", 4);
  bad("sip:[1:2:3:4:5:6:7:8:9]", "invalid IPv6 address", 4);
  bad("sip:[1:2:3:4:5:6:7]", "invalid IPv6 address", 4);
  bad("sip:[1::2:3:4:5:6:7:8]", "invalid IPv6 address", 4);
  bad("sip:[:1::2]", "invalid IPv6 address", 4);
  bad("sip:[1::2:]", "invalid IPv6 address", 4);
  bad("sip:[g::1]", "invalid IPv6 address", 4);
  bad("sip:[]", "invalid IPv6 address", 4);
  bad("sip:[:::]", "invalid IPv6 address", 4);
  bad("sip:[1:::2]", "invalid IPv6 address", 4);
  bad("sip:[::1.2.3]", "invalid IPv6 address", 4);
  bad("sip:[::1.2.3.4:5]", "invalid IPv6 address", 4);
  bad("sip:[1:2:3:4:5:6:7:1.2.3.4]", "invalid IPv6 address", 4);
  bad("sip:[::1]x", "invalid character after IPv6 reference", 9);
  bad("sip:[::1]:", "missing port", 10);
  bad("sip:[fe80::1%25eth0]", "invalid IPv6 address", 4);
}

static void t_hostname(void **state) {
  (void)state;
  ok("sip:a");
  ok("sip:a-b.example.com");
  ok("sip:1a.example.com");
  ok("sip:x.y9");
  ok("sip:host-1.example.com.");
  bad("sip:", "missing host", 4);
  bad("sip:u@", "missing host", 6);
  bad("sip:u@:5060", "missing host", 6);
  bad("sip:-a.com", "invalid hostname", 4);
  bad("sip:a-.com", "invalid hostname", 4);
  bad("sip:a..com", "invalid hostname", 6);
  bad("sip:.com", "invalid hostname", 4);
  bad("sip:example.123", "invalid hostname", 12);
  bad("sip:1host", "invalid hostname", 4);
  bad("sip:exa_mple.com", "invalid character in host", 7);
  bad("sip:u@exa%41mple.com", "invalid character in host", 9);
  bad("sip:u@host name", "invalid character in host", 10);
  bad("sip:u@a..", "invalid hostname", 8);
}

static void t_port(void **state) {
  (void)state;
  assert_int_equal(ok("sip:h:0").port, 0);
  assert_int_equal(ok("sip:h:65535").port, 65535);
  assert_int_equal(ok("sip:h:005060").port, 5060);
  assert_int_equal(ok("sip:u@h:5060;transport=udp").port, 5060);
  assert_int_equal(ok("sip:u@h:5060?a=b").port, 5060);
  bad("sip:h:65536", "port out of range", 6);
  bad("sip:h:99999999999999999999999", "port out of range", 6);
  bad("sip:h:", "missing port", 6);
  bad("sip:h:;lr", "missing port", 6);
  bad("sip:h:5x", "invalid character in port", 7);
  bad("sip:h:+5", "invalid character in port", 6);
  bad("sip:h:-1", "invalid character in port", 6);
  bad("sip:h:50 60", "invalid character in port", 8);
}

/* Users and passwords (§25.1 user, user-unreserved, password, escaped). */
static void t_userinfo(void **state) {
  (void)state;
  sipr_uri_t u = ok("sip:%41lice@h");
  assert_slice(u.user, "%41lice");
  /* RFC 4475 §3.1.1.1 / §3.1.1.4 */
  u = ok("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com");
  assert_slice(u.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
  assert_slice(u.host, "example.com");
  assert_null(u.params);
  assert_slice(ok("sip:%00@host5.example.com").user, "%00");
  assert_slice(ok("sip:%00%00@host5.example.com").user, "%00%00");
  assert_slice(ok("sip:I%20have%20spaces@example.net").user, "I%20have%20spaces");
  assert_slice(ok("sip:sips%3Auser%40example.com@example.net").user,
               "sips%3Auser%40example.com");
  u = ok("sip:u:@h");
  assert_slice(u.password, "");
  u = ok("sip:u:p&=+$,%41-_.!~*'()@h");
  assert_slice(u.password, "p&=+$,%41-_.!~*'()");

  bad("sip:@h", "empty user", 4);
  bad("sip::pw@h", "empty user", 4);
  bad("sip:%4@h", "invalid escape in user", 4);
  bad("sip:a%zz@h", "invalid escape in user", 5);
  bad("sip:a%@h", "invalid escape in user", 5);
  bad("sip:a b@h", "invalid character in user", 5);
  bad("sip:a<b@h", "invalid character in user", 5);
  bad("sip:a>b@h", "invalid character in user", 5);
  bad("sip:\"a\"@h", "invalid character in user", 4);
  bad("sip:a[b@h", "invalid character in user", 5);
  bad("sip:u:p;x@h", "invalid character in password", 7);
  bad("sip:u:p:q@h", "invalid character in password", 7);
  bad("sip:u:p%2@h", "invalid escape in password", 7);
  /* '@' ends the userinfo wherever it is: "h;a=b" is a user here */
  assert_slice(ok("sip:h;a=b@c").user, "h;a=b");
  /* a second '@' lands in the host */
  bad("sip:a@b@c", "invalid character in host", 7);
}

/* RFC 4475 §3.1.1.9: a ';' before '@' belongs to the user. */
static void t_semiuri(void **state) {
  (void)state;
  sipr_uri_t u = ok("sip:user;par=u%40example.net@example.com");
  assert_slice(u.user, "user;par=u%40example.net");
  assert_slice(u.host, "example.com");
  assert_null(u.params);
  /* a '?' in the user too (user-unreserved) */
  u = ok("sip:a?b=c@example.com;p=1?h=2");
  assert_slice(u.user, "a?b=c");
  assert_slice(u.params->name, "p");
  assert_slice(u.headers->value, "2");
}

static void t_params(void **state) {
  (void)state;
  sipr_uri_t u = ok("sip:alice@atlanta.com;maddr=239.255.255.1;ttl=15;transport=udp;"
                    "user=ip;method=INVITE;lr;x=[a]/:&+$");
  assert_slice(u.maddr, "239.255.255.1");
  assert_slice(u.ttl, "15");
  assert_slice(u.transport, "udp");
  assert_slice(u.user_param, "ip");
  assert_slice(u.method, "INVITE");
  assert_int_equal(u.lr, 1);
  const sipr_param_t *p = sipr_param_find(u.params, "X");
  assert_non_null(p);
  assert_slice(p->value, "[a]/:&+$");
  p = sipr_param_find(u.params, "lr");
  assert_non_null(p);
  assert_null(p->value.p);
  assert_null(sipr_param_find(u.params, "nope"));
  assert_null(sipr_param_find(u.params, NULL));

  /* RFC 4475 §3.1.1.3: escaped parameter names; lr is recognised */
  u = ok("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31");
  assert_int_equal(u.lr, 1);
  assert_non_null(sipr_param_find(u.params, "lr"));
  p = sipr_param_find(u.params, "name");
  assert_non_null(p);
  assert_slice(p->value, "v%61lue%25%34%31");

  u = ok("sip:services.example.com;lr;unknownwith=value;unknown-no-value");
  assert_int_equal(u.lr, 1);
  assert_slice(u.params->next->next->name, "unknown-no-value");
  u = ok("sip:h;lr=on");
  assert_int_equal(u.lr, 1);
  u = ok("sip:h;TRANSPORT=TCP;MAddr=[::1]");
  assert_slice(u.transport, "TCP");
  assert_slice(u.maddr, "[::1]");
  u = ok("sip:h;transport"); /* a bare name is an other-param */
  assert_null(u.transport.p);
  assert_non_null(sipr_param_find(u.params, "transport"));
  ok("sip:h;ttl=0;maddr=example.com");
  ok("sip:h;ttl=255");

  bad("sip:h;", "empty parameter name", 6);
  bad("sip:h;;lr", "empty parameter name", 6);
  bad("sip:h;=v", "empty parameter name", 6);
  bad("sip:h;a=", "empty parameter value", 8);
  bad("sip:h;a=;b", "empty parameter value", 8);
  bad("sip:h;a=b=c", "invalid character in parameter", 9);
  bad("sip:h;a b", "invalid character in parameter", 7);
  bad("sip:h;a=b c", "invalid character in parameter", 9);
  bad("sip:h;a=<b>", "invalid character in parameter", 8);
  bad("sip:h;a=\"b\"", "invalid character in parameter", 8);
  bad("sip:h;a=%g0", "invalid character in parameter", 8);
  bad("sip:h;ttl=256", "invalid ttl parameter", 10);
  bad("sip:h;ttl=0001", "invalid ttl parameter", 10);
  bad("sip:h;ttl=x", "invalid ttl parameter", 10);
  bad("sip:h;maddr=exa_mple", "invalid maddr parameter", 15);
  bad("sip:h;maddr=1.2.3.999", "invalid maddr parameter", 12);
  bad("sip:h;lr;lr", "duplicate parameter", 9);
  bad("sip:h;Transport=udp;transport=tcp", "duplicate parameter", 20);
  bad("sip:h;lr;%6c%72", "duplicate parameter", 9);
}

static void t_headers(void **state) {
  (void)state;
  sipr_uri_t u = ok("sip:user@example.com?Route=%3Csip:example.com%3E");
  assert_slice(u.headers->name, "Route");
  assert_slice(u.headers->value, "%3Csip:example.com%3E");
  u = ok("sip:h?a=&b=[x]/?:+$&a=2");
  assert_slice(u.headers->name, "a");
  assert_slice(u.headers->value, "");
  assert_slice(u.headers->next->value, "[x]/?:+$");
  assert_slice(u.headers->next->next->value, "2");
  u = ok("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com");
  assert_slice(u.headers->value, "sip:bob%40biloxi.com");

  bad("sip:h?", "empty header name", 6);
  bad("sip:h?=v", "empty header name", 6);
  bad("sip:h?a", "missing '=' in header", 7);
  bad("sip:h?a=b&", "empty header name", 10);
  bad("sip:h?a=b&c", "missing '=' in header", 11);
  bad("sip:h?a=b c", "invalid character in header", 9);
  bad("sip:h?a=<b>", "invalid character in header", 8);
  bad("sip:h?a=b;c", "invalid character in header", 9);
  bad("sip:h?a=b=c", "invalid character in header", 9);
  bad("sip:h?a=%4", "invalid character in header", 8);
  bad("sip:h?a;b=c", "invalid character in header", 7);
}

static void t_bad_misc(void **state) {
  (void)state;
  bad("", "missing scheme", 0);
  bad("alice", "missing scheme", 5);
  bad(":x", "invalid scheme", 0);
  bad("1sip:x", "invalid scheme", 0);
  bad("si p:x", "invalid scheme", 2);
  bad("<sip:alice@h>", "invalid scheme", 0);
  bad(" sip:alice@h", "invalid scheme", 0);
  bad("sip:alice@h ", "invalid character in host", 11);
  bad("sip:alice@h\r\n", "invalid character in host", 11);
  bad("sip:user@example.com; lr", "invalid character in parameter", 21);
  static const char *const junk[] = {"sip", "sip:;", "sip:?", "sip:@", "sip:[", "sip:]",
                                     "sip:[[::1]]", "sip:h:5060:5060", "sip:h;;", "sip:h?&",
                                     "sips:u@h;maddr=", "tel:+1;phone-context=+;", "x:",
                                     "sip:%", "sip:u%@h", "sip:h\x80"};
  for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
    rejected(junk[i]);
  /* embedded NUL (the parser is length-bounded, not NUL-terminated) */
  sipr_uri_t u;
  sipr_perr_t e;
  assert_int_equal(sipr_uri_parse(arena(), "sip:a\0b@h", 9, &u, &e), SIPR_EPARSE);
  assert_int_equal(e.offset, 5);
  assert_int_equal(sipr_uri_parse(arena(), "sip:h", 5, &u, NULL), 0);
  assert_int_equal(sipr_uri_parse(arena(), "sip:", 4, &u, NULL), SIPR_EPARSE);
  assert_int_equal(sipr_uri_parse(arena(), NULL, 1, &u, NULL), SIPR_EINVAL);
  assert_int_equal(sipr_uri_parse(arena(), NULL, 0, &u, &e), SIPR_EPARSE);
  /* on failure out holds a partial result (parsed in place), still safe */
  assert_int_equal(parse("sip:h:x", &u, &e), SIPR_EPARSE);
  assert_int_equal(u.scheme, SIPR_URI_SIP);
}

static void t_caps(void **state) {
  (void)state;
  char *s = malloc(SIPR_URI_MAX_LEN + 2);
  sipr_uri_t u;
  sipr_perr_t e = {0};
  assert_non_null(s);
  memcpy(s, "sip:u@h;x=", 10);
  memset(s + 10, 'a', SIPR_URI_MAX_LEN + 1 - 10);
  s[SIPR_URI_MAX_LEN + 1] = '\0';
  assert_int_equal(sipr_uri_parse(arena(), s, SIPR_URI_MAX_LEN, &u, &e), 0);
  assert_int_equal(u.params->value.len, SIPR_URI_MAX_LEN - 10);
  assert_int_equal(sipr_uri_parse(arena(), s, SIPR_URI_MAX_LEN + 1, &u, &e), SIPR_ETOOBIG);
  assert_int_equal(e.code, SIPR_ETOOBIG);
  assert_int_equal(e.status, 414);
  assert_string_equal(e.reason, "URI too long");

  /* 64 parameters pass, 65 do not; same for headers */
  size_t n = (size_t)sprintf(s, "sip:h");
  for (int i = 0; i < SIPR_URI_MAX_PARAMS; i++)
    n += (size_t)sprintf(s + n, ";p%d", i);
  assert_int_equal(sipr_uri_parse(arena(), s, n, &u, &e), 0);
  size_t at = n + 1;
  n += (size_t)sprintf(s + n, ";p%d", SIPR_URI_MAX_PARAMS);
  assert_int_equal(sipr_uri_parse(arena(), s, n, &u, &e), SIPR_ETOOBIG);
  assert_string_equal(e.reason, "too many URI parameters");
  assert_int_equal(e.offset, at);

  n = (size_t)sprintf(s, "sip:h");
  for (int i = 0; i < SIPR_URI_MAX_PARAMS; i++)
    n += (size_t)sprintf(s + n, "%ch%d=", i ? '&' : '?', i);
  assert_int_equal(sipr_uri_parse(arena(), s, n, &u, &e), 0);
  n += (size_t)sprintf(s + n, "&x=y");
  assert_int_equal(sipr_uri_parse(arena(), s, n, &u, &e), SIPR_ETOOBIG);

  n = (size_t)sprintf(s, "tel:+1");
  for (int i = 0; i <= SIPR_URI_MAX_PARAMS; i++)
    n += (size_t)sprintf(s + n, ";p%d", i);
  assert_int_equal(sipr_uri_parse(arena(), s, n, &u, &e), SIPR_ETOOBIG);
  free(s);

  /* an arena whose cap is hit reports SIPR_ENOMEM */
  sipr_arena_t small;
  sipr_arena_init(&small, NULL, 0, 16);
  assert_int_equal(sipr_uri_parse(&small, "sip:h;a;b;c", 11, &u, &e), SIPR_ENOMEM);
  assert_int_equal(e.code, SIPR_ENOMEM);
  sipr_arena_free(&small);
}

/* ---- parse: tel (RFC 3966) and other schemes ----------------------------*/

static void t_tel(void **state) {
  (void)state;
  sipr_uri_t u = ok("tel:+1-201-555-0123");
  assert_int_equal(u.scheme, SIPR_URI_TEL);
  assert_slice(u.user, "+1-201-555-0123");
  assert_int_equal(u.host.len, 0);
  assert_int_equal(u.host_type, SIPR_HOST_NONE);
  assert_int_equal(u.port, -1);

  u = ok("tel:7042;phone-context=example.com");
  assert_slice(u.user, "7042");
  assert_slice(sipr_param_find(u.params, "phone-context")->value, "example.com");

  u = ok("TEL:863-1234;phone-context=+1-914-555");
  assert_slice(u.scheme_str, "TEL");
  assert_slice(u.user, "863-1234");

  u = ok("tel:+1-201-555-0123;ext=1234;isub=a/b?c@d;foo=bar%20;flag");
  assert_slice(sipr_param_find(u.params, "ext")->value, "1234");
  assert_slice(sipr_param_find(u.params, "isub")->value, "a/b?c@d");
  assert_null(sipr_param_find(u.params, "flag")->value.p);
  ok("tel:+(1)2.3");
  ok("tel:*21#;phone-context=+1");
  ok("tel:ABCdef;phone-context=a.example.");

  bad("tel:", "missing telephone number", 4);
  bad("tel:;ext=1", "missing telephone number", 4);
  bad("tel:+", "invalid telephone number", 4);
  bad("tel:+-.", "invalid telephone number", 4);
  bad("tel:+1 234", "invalid telephone number", 6);
  bad("tel:+12a", "invalid telephone number", 7);
  bad("tel:7042", "local number without phone-context", 4);
  bad("tel:70g2;phone-context=x.com", "invalid telephone number", 6);
  bad("tel:7042;phone-context=ex_ample", "invalid phone-context", 23);
  bad("tel:7042;phone-context", "invalid phone-context", 9);
  bad("tel:7042;phone-context=+", "invalid phone-context", 23);
  bad("tel:+1;ext=", "empty parameter value", 11);
  bad("tel:+1;ext", "invalid extension", 7);
  bad("tel:+1;ext=12a", "invalid extension", 13);
  bad("tel:+1;isub", "invalid isdn-subaddress", 7);
  bad("tel:+1;", "empty parameter name", 7);
  bad("tel:+1;a_b=1", "invalid character in parameter", 8);
  bad("tel:+1;a=b c", "invalid character in parameter", 10);
  bad("tel:+1;a=1;A=2", "duplicate parameter", 11);
  bad("tel:+1?a=b", "invalid telephone number", 6);
}

static void t_other(void **state) {
  (void)state;
  sipr_uri_t u = ok("urn:service:sos");
  assert_int_equal(u.scheme, SIPR_URI_OTHER);
  assert_slice(u.scheme_str, "urn");
  assert_slice(u.opaque, "service:sos");
  assert_int_equal(u.port, -1);
  u = ok("soap.beep://192.0.2.103:3002");
  assert_slice(u.scheme_str, "soap.beep");
  assert_slice(u.opaque, "//192.0.2.103:3002");
  ok("http://www.example.com");
  ok("http://[::1]:8080/a;b?c=d&e=%20");
  ok("mailto:alice@example.com?subject=hi%20there");
  ok("nobodyKnowsThisScheme:totallyopaquecontent");
  ok("name:John_Smith");
  ok("x+y-z.1:a");

  bad("urn:", "empty URI after scheme", 4);
  bad("urn:a b", "invalid character in URI", 5);
  bad("urn:a\tb", "invalid character in URI", 5);
  bad("urn:a<b", "invalid character in URI", 5);
  bad("urn:a\"b", "invalid character in URI", 5);
  bad("urn:a%2", "invalid escape", 5);
  bad("urn:a\x7f", "invalid character in URI", 5);
  bad("urn:\xc3\xa9", "invalid character in URI", 4);
  bad("ur_n:a", "invalid scheme", 2);
}

/* ---- unescape ------------------------------------------------------------*/

static void t_unescape(void **state) {
  (void)state;
  char out[32];
  long n = sipr_unescape(SIPR_STR("a%41%2541%00z"), out);
  assert_int_equal(n, 7);
  assert_memory_equal(out, "aA%41\0z", 7);
  assert_int_equal(sipr_unescape(SIPR_STR(""), out), 0);
  assert_int_equal(sipr_unescape(SIPR_STR("%4"), out), -1);
  assert_int_equal(sipr_unescape(SIPR_STR("ab%"), out), -1);
  assert_int_equal(sipr_unescape(SIPR_STR("%zz"), out), -1);
  assert_int_equal(sipr_unescape(SIPR_STR("%fF"), out), 1);
  assert_int_equal((unsigned char)out[0], 0xff);
}

/* ---- comparison: RFC 3261 §19.1.4 ----------------------------------------*/

/* The equal sets of §19.1.4. */
static void t_eq_rfc_equal(void **state) {
  (void)state;
  EQ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp");

  EQ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5");
  EQ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on");
  EQ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on");

  EQ("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
     "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com");

  EQ("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
     "sip:alice@atlanta.com?priority=urgent&subject=project%20x");
}

/* The not-equal sets of §19.1.4, and its note that equality is not
 * transitive. */
static void t_eq_rfc_not_equal(void **state) {
  (void)state;
  NE("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP");
  NE("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060");
  NE("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp");
  NE("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp");
  NE("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting");
  NE("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4");

  EQ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on");
  EQ("sip:carol@chicago.com", "sip:carol@chicago.com;security=off");
  NE("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off");
}

/* Each rule of §19.1.4 on its own. */
static void t_eq_rules(void **state) {
  (void)state;
  /* SIP and SIPS never equivalent */
  NE("sip:alice@atlanta.com", "sips:alice@atlanta.com");
  EQ("SIPS:alice@atlanta.com", "sips:alice@atlanta.com");

  /* userinfo is case-sensitive, incl. passwords and telephone-subscribers */
  NE("sip:alice@h", "sip:Alice@h");
  NE("sip:alice:pw@h", "sip:alice:PW@h");
  NE("sip:+1-212-555-1212@h;user=phone", "sip:+12125551212@h;user=phone");
  /* user / password absent vs present */
  NE("sip:h", "sip:alice@h");
  NE("sip:alice@h", "sip:alice:pw@h");
  NE("sip:alice@h", "sip:alice:@h");
  EQ("sip:alice:pw@h", "sip:alice:p%77@h");

  /* escapes: unreserved equal to their encoding, hex case irrelevant;
   * reserved escapes stay distinct; decoded once only */
  EQ("sip:%41@h", "sip:A@h");
  EQ("sip:%6c@h", "sip:%6C@h");
  NE("sip:%41@h", "sip:a@h");
  NE("sip:a%3Bb@h", "sip:a;b@h");
  EQ("sip:a%3bb@h", "sip:a%3Bb@h");
  NE("sip:%2541@h", "sip:%41@h");
  NE("sip:%2541@h", "sip:A@h");
  EQ("sip:%00@h", "sip:%00@h");
  NE("sip:%00@h", "sip:%00%00@h");

  /* host case-insensitive; IPs by value; IP never equals a name */
  EQ("sip:u@EXAMPLE.com", "sip:u@example.COM");
  NE("sip:u@example.com", "sip:u@example.com.");
  EQ("sip:u@[2001:db8::1]", "sip:u@[2001:DB8:0:0:0:0:0:1]");
  EQ("sip:u@[::ffff:192.0.2.1]", "sip:u@[::FFFF:c000:201]");
  EQ("sip:u@[2001:db8:::192.0.2.1]", "sip:u@[2001:db8::192.0.2.1]");
  NE("sip:u@[2001:db8::1]", "sip:u@[2001:db8::2]");
  NE("sip:u@[2001:db8::10:5070]", "sip:u@[2001:db8::10]:5070");
  EQ("sip:u@192.0.2.1", "sip:u@192.0.2.001");
  NE("sip:u@192.0.2.1", "sip:u@192.0.2.2");
  NE("sip:u@192.0.2.1", "sip:u@[::ffff:192.0.2.1]");

  /* port: absent never equals present, even the default */
  EQ("sip:u@h:5060", "sip:u@h:05060");
  NE("sip:u@h:5060", "sip:u@h:5061");
  NE("sips:u@h", "sips:u@h:5061");

  /* user, ttl, method, maddr, transport: in one URI only -> not equal */
  NE("sip:u@h", "sip:u@h;user=ip");
  NE("sip:u@h", "sip:u@h;ttl=1");
  NE("sip:u@h", "sip:u@h;method=INVITE");
  NE("sip:u@h", "sip:u@h;maddr=192.0.2.1");
  NE("sip:u@h", "sip:u@h;transport=udp");
  NE("sip:u@h;ttl=1", "sip:u@h;maddr=192.0.2.1");
  NE("sip:u@h", "sip:u@h;%74tl=1");
  EQ("sip:u@h;maddr=Example.COM", "sip:u@h;MADDR=example.com");
  NE("sip:u@h;maddr=a.com", "sip:u@h;maddr=b.com");
  EQ("sip:u@h;user=phone;ttl=5;method=invite", "sip:u@h;method=INVITE;ttl=5;user=PHONE");
  NE("sip:u@h;ttl=5", "sip:u@h;ttl=6");

  /* other params: ignored when in one only; matched when in both */
  EQ("sip:u@h;lr", "sip:u@h");
  EQ("sip:u@h;lr", "sip:u@h;%6C%72");
  NE("sip:u@h;lr", "sip:u@h;lr=on");
  EQ("sip:u@h;foo=BAR", "sip:u@h;FOO=bar");
  EQ("sip:u@h;foo=%42ar", "sip:u@h;foo=bar");
  NE("sip:u@h;foo=a%3Ab", "sip:u@h;foo=a:b");
  NE("sip:u@h;foo=1", "sip:u@h;foo=2");
  EQ("sip:u@h;a=1;b=2", "sip:u@h;b=2;c=3");

  /* headers: never ignored, order irrelevant, name case-insensitive,
   * value after unescaping */
  EQ("sip:u@h?Subject=hi&to=x", "sip:u@h?TO=x&subject=hi");
  EQ("sip:u@h?subject=%68i", "sip:u@h?subject=hi");
  NE("sip:u@h?subject=Hi", "sip:u@h?subject=hi");
  NE("sip:u@h?a=1", "sip:u@h?a=1&b=2");
  NE("sip:u@h?a=1&a=2", "sip:u@h?a=1&a=1");
  EQ("sip:u@h?a=1&a=2", "sip:u@h?a=2&a=1");
  NE("sip:u@h?a=", "sip:u@h");
  NE("sip:u@h?a=%3C", "sip:u@h?a=%3E");
}

/* RFC 3966 §4 and cross-scheme comparisons. */
static void t_eq_tel_other(void **state) {
  (void)state;
  EQ("tel:+1-201-555-0123", "tel:+12015550123");
  EQ("tel:+1-201-555-0123", "TEL:+1.201.(555).0123");
  NE("tel:+1-201-555-0123", "tel:+1-201-555-0124");
  NE("tel:+12015550123", "tel:+120155501234");
  NE("tel:+1234;phone-context=+1", "tel:1234;phone-context=+1");
  EQ("tel:7042;phone-context=EXAMPLE.com", "tel:70-42;phone-context=example.COM");
  EQ("tel:abc;phone-context=+1-914-555", "tel:ABC;phone-context=+1914555");
  NE("tel:7042;phone-context=+1", "tel:7042;phone-context=+2");
  NE("tel:7042;phone-context=+1", "tel:7042;phone-context=a.com");
  EQ("tel:+1;ext=12;foo=bar", "tel:+1;FOO=BAR;ext=1-2");
  NE("tel:+1;ext=12", "tel:+1");
  NE("tel:+1;foo", "tel:+1");
  NE("tel:+1;foo", "tel:+1;foo=1");
  NE("tel:+1;foo=1", "tel:+1;bar=1");
  EQ("tel:+1;foo=%41", "tel:+1;foo=a");

  NE("tel:+12015550123", "sip:+12015550123@h;user=phone");
  NE("urn:x", "sip:x");
  EQ("URN:service:sos", "urn:service:sos");
  NE("urn:service:sos", "urn:service:SOS");
  NE("urn:a", "urx:a");

  sipr_uri_t u = ok("sip:h");
  assert_int_equal(sipr_uri_equal(&u, NULL), 0);
}

/* ---- print ----------------------------------------------------------------*/

static void t_print(void **state) {
  (void)state;
  expect_print("SIP:alice@AtLanTa.CoM;Transport=tcp", "sip:alice@AtLanTa.CoM;Transport=tcp");
  expect_print("sips:alice:pw@[2001:db8::10]:5070;lr;maddr=x.com?a=b&c=%20",
               "sips:alice:pw@[2001:db8::10]:5070;lr;maddr=x.com?a=b&c=%20");
  expect_print("sip:u:@h:05060", "sip:u:@h:5060");
  expect_print("sip:user;par=u%40example.net@example.com",
               "sip:user;par=u%40example.net@example.com");
  expect_print("Tel:+1-201-555-0123;ext=1", "tel:+1-201-555-0123;ext=1");
  expect_print("SOAP.BEEP://192.0.2.103:3002", "soap.beep://192.0.2.103:3002");
  expect_print("sip:h?a=", "sip:h?a=");

  /* printing follows edits of the lists (e.g. a proxy dropping ?headers) */
  sipr_uri_t u = ok("sip:u@h;lr?Route=%3Csip:x%3E");
  u.headers = NULL;
  sipr_buf_t b;
  sipr_buf_init(&b);
  assert_int_equal(sipr_uri_print(&b, &u), 0);
  assert_string_equal(b.p, "sip:u@h;lr");
  sipr_buf_free(&b);

  /* a hand-built URI without scheme_str */
  sipr_uri_t v;
  memset(&v, 0, sizeof(v));
  v.scheme = SIPR_URI_SIPS;
  v.host = SIPR_STR("example.com");
  v.port = -1;
  sipr_buf_init(&b);
  assert_int_equal(sipr_uri_print(&b, &v), 0);
  assert_string_equal(b.p, "sips:example.com");
  v.scheme = SIPR_URI_NONE;
  assert_int_equal(sipr_uri_print(&b, &v), SIPR_EINVAL);
  sipr_buf_free(&b);
}

/* Everything that parses prints to text that parses to an equal URI. */
static void t_roundtrip(void **state) {
  (void)state;
  static const char *const uris[] = {
      "sip:alice@atlanta.com",
      "SIP:%61lice:pw@AtLanTa.CoM:5060;Transport=TCP;lr;maddr=[::1]?a=b&c=",
      "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com",
      "sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31",
      "sips:[2001:db8:::192.0.2.1]:5061",
      "tel:863-1234;phone-context=+1-914-555;isub=x",
      "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
  };
  for (size_t i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
    sipr_uri_t u = ok(uris[i]), v;
    sipr_buf_t b;
    sipr_perr_t e;
    sipr_buf_init(&b);
    assert_int_equal(sipr_uri_print(&b, &u), 0);
    assert_int_equal(sipr_uri_parse(arena(), b.p, b.len, &v, &e), 0);
    assert_int_equal(sipr_uri_equal(&u, &v), 1);
    sipr_buf_free(&b);
  }
}

int sipr_test_uri(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(t_basic, teardown),
      cmocka_unit_test_teardown(t_rfc3261_examples, teardown),
      cmocka_unit_test_teardown(t_ipv4, teardown),
      cmocka_unit_test_teardown(t_ipv6, teardown),
      cmocka_unit_test_teardown(t_hostname, teardown),
      cmocka_unit_test_teardown(t_port, teardown),
      cmocka_unit_test_teardown(t_userinfo, teardown),
      cmocka_unit_test_teardown(t_semiuri, teardown),
      cmocka_unit_test_teardown(t_params, teardown),
      cmocka_unit_test_teardown(t_headers, teardown),
      cmocka_unit_test_teardown(t_bad_misc, teardown),
      cmocka_unit_test_teardown(t_caps, teardown),
      cmocka_unit_test_teardown(t_tel, teardown),
      cmocka_unit_test_teardown(t_other, teardown),
      cmocka_unit_test_teardown(t_unescape, teardown),
      cmocka_unit_test_teardown(t_eq_rfc_equal, teardown),
      cmocka_unit_test_teardown(t_eq_rfc_not_equal, teardown),
      cmocka_unit_test_teardown(t_eq_rules, teardown),
      cmocka_unit_test_teardown(t_eq_tel_other, teardown),
      cmocka_unit_test_teardown(t_print, teardown),
      cmocka_unit_test_teardown(t_roundtrip, teardown),
  };
  return cmocka_run_group_tests_name("uri", tests, NULL, NULL);
}
