/*
 * Unit tests of the auth layer: RFC 7616 §3.9.1 and RFC 2617 §3.5
 * vectors, server challenge -> client answer -> verify, staleness,
 * tampering, replays, malformed credentials, the bounded nc table.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth_internal.h"
#include "sipr/auth.h"
#include "sipr/msg.h"

#define T0 1000000ull /* ms */

static sipr_arena_t arena;

static int setup(void **state) {
  (void)state;
  sipr_arena_init(&arena, NULL, 0, 0);
  return 0;
}
static int teardown(void **state) {
  (void)state;
  sipr_arena_free(&arena);
  return 0;
}

/* Parses a challenge or credentials value kept in the arena. */
static const sipr_auth_t *parse(const char *text, size_t len) {
  char *copy = sipr_arena_strdup(&arena, text, len);
  assert_non_null(copy);
  sipr_auth_t *au = NULL;
  sipr_perr_t err;
  memset(&err, 0, sizeof(err));
  int prc = sipr_parse_auth(&arena, copy, len, &au, &err);
  if (prc)
    print_error("cannot parse: %s\n", copy);
  assert_int_equal(prc, 0);
  assert_non_null(au);
  return au;
}
static const sipr_auth_t *parse_z(const char *text) {
  return parse(text, strlen(text));
}
static const sipr_auth_t *parse_buf(const sipr_buf_t *b) {
  return parse(b->p, b->len);
}

/* Returns a NUL-terminated copy of b's content in the arena. */
static const char *buf_z(const sipr_buf_t *b) {
  return sipr_arena_strdup(&arena, b->p, b->len);
}

static sipr_auth_server_t *server(const char *realm, size_t slots) {
  const char *realms[] = {realm};
  sipr_auth_config_t cfg = {0};
  cfg.realms = realms;
  cfg.nrealms = realm ? 1 : 0;
  cfg.nc_slots = slots;
  sipr_auth_server_t *s = NULL;
  assert_int_equal(sipr_auth_server_new(&cfg, &s), 0);
  assert_non_null(s);
  return s;
}

/* Challenge from srv, answered by the client; returns parsed credentials. */
static const sipr_auth_t *challenge_answer(sipr_auth_server_t *srv,
                                           const char *realm,
                                           sipr_auth_alg_t alg, uint64_t now,
                                           const char *user, const char *pass,
                                           uint32_t nc,
                                           const sipr_auth_t **chp) {
  sipr_buf_t b;
  sipr_buf_init(&b);
  assert_int_equal(
      sipr_auth_challenge(srv, sipr_str_cstr(realm), alg, 0, now, &b), 0);
  const sipr_auth_t *ch = parse_buf(&b);
  sipr_buf_free(&b);
  if (chp)
    *chp = ch;
  sipr_buf_init(&b);
  assert_int_equal(sipr_auth_client_answer(ch, SIPR_STR("REGISTER"),
                                           SIPR_STR("sip:example.com"), user,
                                           pass, NULL, nc, NULL, &b),
                   0);
  const sipr_auth_t *cr = parse_buf(&b);
  sipr_buf_free(&b);
  return cr;
}

static sipr_auth_result_t verify(sipr_auth_server_t *srv,
                                 const sipr_auth_t *cred, const char *user,
                                 const char *realm, const char *pass,
                                 uint64_t now) {
  char ha1[SIPR_AUTH_HEX_MAX];
  sipr_auth_alg_t alg =
      sipr_auth_alg_base(sipr_auth_alg_from_str(cred->algorithm));
  if (alg == SIPR_AUTH_ALG_UNKNOWN)
    alg = SIPR_AUTH_MD5;
  assert_int_equal(sipr_auth_ha1(alg, user, realm, pass, ha1), 0);
  return sipr_auth_verify(srv, cred, SIPR_STR("REGISTER"), ha1, now,
                          SIPR_STR_NULL);
}

/* ---- RFC vectors --------------------------------------------------------*/
static const char rfc7616_sha[] =
    "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", "
    "algorithm=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
    "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
static const char rfc7616_md5[] =
    "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", "
    "algorithm=MD5, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
    "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
#define RFC7616_CNONCE "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"

static void test_rfc7616(void **state) {
  (void)state;
  struct {
    const char *ch, *resp;
  } v[] = {
      {rfc7616_sha,
       "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
      {rfc7616_md5, "8ca523f5e9506fed4657c9700eebdbec"},
  };
  for (size_t i = 0; i < 2; i++) {
    const sipr_auth_t *ch = parse_z(v[i].ch);
    sipr_buf_t b;
    sipr_buf_init(&b);
    assert_int_equal(sipr_auth_client_answer(
                         ch, SIPR_STR("GET"), SIPR_STR("/dir/index.html"),
                         "Mufasa", "Circle of Life", NULL, 1, RFC7616_CNONCE,
                         &b),
                     0);
    const sipr_auth_t *cr = parse_buf(&b);
    assert_true(sipr_str_eq(cr->response, sipr_str_cstr(v[i].resp)));
    assert_true(sipr_str_eq(cr->nc, SIPR_STR("00000001")));
    assert_true(sipr_str_eq(cr->qop, SIPR_STR("auth")));
    assert_true(sipr_str_eq(cr->cnonce, SIPR_STR(RFC7616_CNONCE)));
    assert_true(sipr_str_eq(cr->opaque, ch->opaque));
    assert_true(sipr_str_eq(cr->nonce, ch->nonce));
    assert_true(sipr_str_eq(cr->username, SIPR_STR("Mufasa")));
    assert_true(sipr_str_eq(cr->uri, SIPR_STR("/dir/index.html")));
    assert_true(sipr_str_caseeq(cr->algorithm, ch->algorithm));
    sipr_buf_free(&b);

    /* Same with the stored HA1 instead of the password. */
    char ha1[SIPR_AUTH_HEX_MAX];
    sipr_auth_alg_t alg = sipr_auth_alg_from_str(ch->algorithm);
    assert_int_equal(sipr_auth_ha1(alg, "Mufasa", "http-auth@example.org",
                                   "Circle of Life", ha1),
                     0);
    assert_int_equal(strlen(ha1), sipr_auth_alg_hex_len(alg));
    sipr_buf_init(&b);
    assert_int_equal(sipr_auth_client_answer(
                         ch, SIPR_STR("GET"), SIPR_STR("/dir/index.html"),
                         "Mufasa", NULL, ha1, 1, RFC7616_CNONCE, &b),
                     0);
    assert_non_null(strstr(buf_z(&b), v[i].resp));
    sipr_buf_free(&b);

    /* And the internal computation directly. */
    char out[SIPR_AUTH_HEX_MAX];
    assert_int_equal(
        sipr__auth_response(alg, sipr_str_cstr(ha1), ch->nonce,
                            SIPR_STR("00000001"), SIPR_STR(RFC7616_CNONCE),
                            SIPR_STR("auth"), SIPR_STR("GET"),
                            SIPR_STR("/dir/index.html"), SIPR_STR_NULL, out),
        0);
    assert_string_equal(out, v[i].resp);
  }
}

static void test_rfc2617(void **state) {
  (void)state;
  const sipr_auth_t *ch = parse_z(
      "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", "
      "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
      "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"");
  sipr_buf_t b;
  sipr_buf_init(&b);
  assert_int_equal(sipr_auth_client_answer(ch, SIPR_STR("GET"),
                                           SIPR_STR("/dir/index.html"),
                                           "Mufasa", "Circle Of Life", NULL, 1,
                                           "0a4f113b", &b),
                   0);
  const sipr_auth_t *cr = parse_buf(&b);
  assert_true(
      sipr_str_eq(cr->response, SIPR_STR("6629fae49393a05397450978507c4ef1")));
  assert_true(
      sipr_str_eq(cr->opaque, SIPR_STR("5ccc069c403ebaf9f0171e9517f40e41")));
  assert_true(sipr_str_eq(cr->algorithm, SIPR_STR("MD5")));
  sipr_buf_free(&b);

  /* RFC 2069 form (no qop offered): no qop, nc, cnonce in the answer. */
  ch = parse_z("Digest realm=\"testrealm@host.com\", "
               "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\"");
  sipr_buf_init(&b);
  assert_int_equal(sipr_auth_client_answer(ch, SIPR_STR("GET"),
                                           SIPR_STR("/dir/index.html"),
                                           "Mufasa", "Circle Of Life", NULL, 1,
                                           NULL, &b),
                   0);
  cr = parse_buf(&b);
  assert_null(cr->qop.p);
  assert_null(cr->nc.p);
  assert_null(cr->cnonce.p);
  assert_null(cr->opaque.p);
  /* response = MD5(HA1:nonce:HA2) */
  char ha1[SIPR_AUTH_HEX_MAX], ha2[SIPR_AUTH_HEX_MAX], want[SIPR_AUTH_HEX_MAX];
  assert_int_equal(sipr_auth_ha1(SIPR_AUTH_MD5, "Mufasa", "testrealm@host.com",
                                 "Circle Of Life", ha1),
                   0);
  sipr_str_t p2[2] = {SIPR_STR("GET"), SIPR_STR("/dir/index.html")};
  assert_int_equal(sipr__auth_hash(SIPR_AUTH_MD5, p2, 2, ha2), 0);
  sipr_str_t p3[3] = {sipr_str_cstr(ha1),
                      SIPR_STR("dcd98b7102dd2f0e8b11d0f600bfb0c093"),
                      sipr_str_cstr(ha2)};
  assert_int_equal(sipr__auth_hash(SIPR_AUTH_MD5, p3, 3, want), 0);
  assert_true(sipr_str_eq(cr->response, sipr_str_cstr(want)));
  sipr_buf_free(&b);
}

static void test_alg_names(void **state) {
  (void)state;
  assert_int_equal(sipr_auth_alg_from_str(SIPR_STR_NULL), SIPR_AUTH_MD5);
  assert_int_equal(sipr_auth_alg_from_str(SIPR_STR("sha-256")),
                   SIPR_AUTH_SHA256);
  assert_int_equal(sipr_auth_alg_from_str(SIPR_STR("MD5-sess")),
                   SIPR_AUTH_MD5_SESS);
  assert_int_equal(sipr_auth_alg_from_str(SIPR_STR("SHA-512-256")),
                   SIPR_AUTH_ALG_UNKNOWN);
  assert_int_equal(sipr_auth_alg_base(SIPR_AUTH_SHA256_SESS), SIPR_AUTH_SHA256);
  assert_string_equal(sipr_auth_alg_name(SIPR_AUTH_SHA256), "SHA-256");
  assert_null(sipr_auth_alg_name(SIPR_AUTH_ALG_UNKNOWN));
  assert_string_equal(sipr_auth_result_name(SIPR_AUTH_REPLAY), "REPLAY");
  char out[8];
  assert_int_equal(sipr_auth_unquote(SIPR_STR("a\\\"b\\\\"), out, sizeof(out)),
                   4);
  assert_string_equal(out, "a\"b\\");
  assert_int_equal(sipr_auth_unquote(SIPR_STR("123456789"), out, sizeof(out)),
                   SIPR_ETOOBIG);
  char ha1[SIPR_AUTH_HEX_MAX];
  assert_int_equal(sipr_auth_ha1(SIPR_AUTH_ALG_UNKNOWN, "a", "b", "c", ha1),
                   SIPR_EINVAL);
}

/* ---- server round trips -------------------------------------------------*/
static void test_round_trip(void **state) {
  (void)state;
  sipr_auth_server_t *srv = server("example.com", 0);
  sipr_auth_alg_t algs[] = {SIPR_AUTH_SHA256, SIPR_AUTH_MD5};
  for (size_t i = 0; i < 2; i++) {
    const sipr_auth_t *ch;
    const sipr_auth_t *cr = challenge_answer(srv, "example.com", algs[i], T0,
                                             "alice", "secret", 1, &ch);
    assert_int_equal(sipr_auth_alg_from_str(ch->algorithm), algs[i]);
    assert_true(sipr_str_eq(ch->qop, SIPR_STR("auth")));
    assert_true(sipr_str_eq(ch->realm, SIPR_STR("example.com")));
    assert_non_null(ch->opaque.p);
    assert_null(ch->stale.p);
    assert_int_equal(verify(srv, cr, "alice", "example.com", "secret", T0 + 5),
                     SIPR_AUTH_OK);
    /* A different method changes HA2. */
    char ha1[SIPR_AUTH_HEX_MAX];
    assert_int_equal(sipr_auth_ha1(algs[i], "alice", "example.com", "secret",
                                   ha1),
                     0);
    assert_int_equal(sipr_auth_verify(srv, cr, SIPR_STR("INVITE"), ha1, T0,
                                      SIPR_STR_NULL),
                     SIPR_AUTH_BAD_RESPONSE);
  }
  sipr_auth_server_free(srv);
}

static void test_challenge_lines(void **state) {
  (void)state;
  sipr_auth_server_t *srv = server("example.com", 0);
  sipr_buf_t b;
  sipr_buf_init(&b);
  assert_int_equal(sipr_auth_challenge_lines(srv, "Proxy-Authenticate",
                                             SIPR_STR("example.com"), 1, T0,
                                             &b),
                   0);
  const char *z = buf_z(&b);
  const char *l1 = z, *e1 = strstr(l1, "\r\n");
  assert_non_null(e1);
  const char *l2 = e1 + 2, *e2 = strstr(l2, "\r\n");
  assert_non_null(e2);
  assert_string_equal(e2 + 2, "");
  assert_int_equal(strncmp(l1, "Proxy-Authenticate: ", 20), 0);
  assert_int_equal(strncmp(l2, "Proxy-Authenticate: ", 20), 0);
  const sipr_auth_t *c1 = parse(l1 + 20, (size_t)(e1 - l1 - 20));
  const sipr_auth_t *c2 = parse(l2 + 20, (size_t)(e2 - l2 - 20));
  assert_true(sipr_str_eq(c1->algorithm, SIPR_STR("SHA-256")));
  assert_true(sipr_str_eq(c2->algorithm, SIPR_STR("MD5")));
  assert_true(sipr_str_eq(c1->nonce, c2->nonce));
  assert_true(sipr_str_eq(c1->stale, SIPR_STR("true")));
  /* Either answer verifies. */
  sipr_buf_t a;
  sipr_buf_init(&a);
  assert_int_equal(sipr_auth_client_answer(c2, SIPR_STR("INVITE"),
                                           SIPR_STR("sip:bob@example.com"),
                                           "bob", "pw", NULL, 1, NULL, &a),
                   0);
  char ha1[SIPR_AUTH_HEX_MAX];
  assert_int_equal(
      sipr_auth_ha1(SIPR_AUTH_MD5, "bob", "example.com", "pw", ha1), 0);
  assert_int_equal(sipr_auth_verify(srv, parse_buf(&a), SIPR_STR("INVITE"),
                                    ha1, T0, SIPR_STR_NULL),
                   SIPR_AUTH_OK);
  sipr_buf_free(&a);

  /* Challenges for unserved realms and bad header names are refused. */
  size_t len = b.len;
  assert_int_equal(sipr_auth_challenge_lines(srv, "WWW-Authenticate",
                                             SIPR_STR("other.com"), 0, T0, &b),
                   SIPR_ENOENT);
  assert_int_equal(sipr_auth_challenge_lines(srv, "Bad: name",
                                             SIPR_STR("example.com"), 0, T0,
                                             &b),
                   SIPR_EINVAL);
  assert_int_equal(b.len, len);
  sipr_buf_free(&b);

  /* Each challenge gets its own nonce. */
  sipr_buf_init(&b);
  assert_int_equal(sipr_auth_challenge(srv, SIPR_STR("example.com"),
                                       SIPR_AUTH_ALG_UNKNOWN, 0, T0, &b),
                   0);
  const sipr_auth_t *x = parse_buf(&b);
  b.len = 0;
  assert_int_equal(sipr_auth_challenge(srv, SIPR_STR("example.com"),
                                       SIPR_AUTH_ALG_UNKNOWN, 0, T0, &b),
                   0);
  const sipr_auth_t *y = parse_buf(&b);
  assert_false(sipr_str_eq(x->nonce, y->nonce));
  assert_true(sipr_str_eq(x->algorithm, SIPR_STR("SHA-256")));
  sipr_buf_free(&b);
  sipr_auth_server_free(srv);
}

static void test_sess_and_escapes(void **state) {
  (void)state;
  sipr_auth_alg_t algs[] = {SIPR_AUTH_SHA256_SESS, SIPR_AUTH_MD5_SESS};
  const char *realms[] = {"we \"quote\" \\ here"};
  sipr_auth_config_t cfg = {.realms = realms, .nrealms = 1, .algs = algs,
                            .nalgs = 2, .nonce_lifetime = 60};
  sipr_auth_server_t *srv;
  assert_int_equal(sipr_auth_server_new(&cfg, &srv), 0);
  const char *user = "j\"o\\e";
  for (size_t i = 0; i < 2; i++) {
    const sipr_auth_t *cr = challenge_answer(srv, realms[0], algs[i], T0, user,
                                             "pw", 1, NULL);
    char u[64];
    assert_int_equal(sipr_auth_unquote(cr->username, u, sizeof(u)),
                     (int)strlen(user));
    assert_string_equal(u, user);
    assert_int_equal(verify(srv, cr, user, realms[0], "pw", T0), SIPR_AUTH_OK);
    /* Lifetime configured to 60 s. */
    cr = challenge_answer(srv, realms[0], algs[i], T0, user, "pw", 1, NULL);
    assert_int_equal(verify(srv, cr, user, realms[0], "pw", T0 + 61000),
                     SIPR_AUTH_STALE);
  }
  sipr_auth_server_free(srv);
}

static void test_auth_int(void **state) {
  (void)state;
  sipr_auth_server_t *srv = server("example.com", 0);
  const sipr_auth_t *ch;
  challenge_answer(srv, "example.com", SIPR_AUTH_SHA256, T0, "a", "b", 1, &ch);
  char ha1[SIPR_AUTH_HEX_MAX], resp[SIPR_AUTH_HEX_MAX];
  assert_int_equal(sipr_auth_ha1(SIPR_AUTH_SHA256, "a", "example.com", "b",
                                 ha1),
                   0);
  sipr_str_t body = SIPR_STR("v=0\r\n");
  assert_int_equal(sipr__auth_response(SIPR_AUTH_SHA256, sipr_str_cstr(ha1),
                                       ch->nonce, SIPR_STR("00000001"),
                                       SIPR_STR("xyz"), SIPR_STR("auth-int"),
                                       SIPR_STR("INVITE"), SIPR_STR("sip:x"),
                                       body, resp),
                   0);
  char text[512];
  snprintf(text, sizeof(text),
           "Digest username=\"a\", realm=\"example.com\", nonce=\"%.*s\", "
           "uri=\"sip:x\", response=\"%s\", algorithm=SHA-256, cnonce=\"xyz\", "
           "qop=auth-int, nc=00000001",
           SIPR_STR_ARG(ch->nonce), resp);
  const sipr_auth_t *cr = parse_z(text);
  assert_int_equal(sipr_auth_verify(srv, cr, SIPR_STR("INVITE"), ha1, T0,
                                    SIPR_STR("v=1\r\n")),
                   SIPR_AUTH_BAD_RESPONSE);
  assert_int_equal(
      sipr_auth_verify(srv, cr, SIPR_STR("INVITE"), ha1, T0, body),
      SIPR_AUTH_OK);
  sipr_auth_server_free(srv);
}

/* ---- failures -----------------------------------------------------------*/
static void test_stale(void **state) {
  (void)state;
  sipr_auth_server_t *srv = server("example.com", 0);
  const sipr_auth_t *cr = challenge_answer(srv, "example.com", SIPR_AUTH_MD5,
                                           T0, "alice", "pw", 1, NULL);
  /* 300 s is still fine, past it the nonce is stale. */
  assert_int_equal(verify(srv, cr, "alice", "example.com", "pw", T0 + 301000),
                   SIPR_AUTH_STALE);
  /* Stale is only said for a correct response. */
  assert_int_equal(
      verify(srv, cr, "alice", "example.com", "wrong", T0 + 301000),
      SIPR_AUTH_BAD_RESPONSE);
  assert_int_equal(verify(srv, cr, "alice", "example.com", "pw", T0 + 300000),
                   SIPR_AUTH_OK);
  sipr_auth_server_free(srv);
}

/* Answers a challenge text whose nonce/opaque were altered. */
static sipr_auth_result_t answer_text(sipr_auth_server_t *srv,
                                      const char *chtext, const char *realm) {
  const sipr_auth_t *ch = parse_z(chtext);
  sipr_buf_t b;
  sipr_buf_init(&b);
  assert_int_equal(sipr_auth_client_answer(ch, SIPR_STR("REGISTER"),
                                           SIPR_STR("sip:example.com"), "u",
                                           "p", NULL, 1, NULL, &b),
                   0);
  sipr_auth_result_t r =
      verify(srv, parse_buf(&b), "u", realm, "p", T0 + 1000);
  sipr_buf_free(&b);
  return r;
}

static void test_tampering(void **state) {
  (void)state;
  const char *realms[] = {"a.example", "b.example"};
  sipr_auth_config_t cfg = {.realms = realms, .nrealms = 2};
  sipr_auth_server_t *srv;
  assert_int_equal(sipr_auth_server_new(&cfg, &srv), 0);
  sipr_buf_t b;
  sipr_buf_init(&b);
  assert_int_equal(sipr_auth_challenge(srv, SIPR_STR("a.example"),
                                       SIPR_AUTH_MD5, 0, T0, &b),
                   0);
  char *orig = (char *)buf_z(&b);
  sipr_buf_free(&b);
  assert_int_equal(answer_text(srv, orig, "a.example"), SIPR_AUTH_OK);

  char *n = strstr(orig, "nonce=\"");
  assert_non_null(n);
  n += 7;
  assert_int_equal(strchr(n, '"') - n, 64);
  /* Alter one digit at a time: in the timestamp (pretend it is newer), in
   * the salt, in the mac. Each is rejected. */
  size_t spots[] = {0, 13, 15, 20, 40, 63};
  for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]); i++) {
    char *t = sipr_arena_strdup(&arena, orig, strlen(orig));
    char *d = strstr(t, "nonce=\"") + 7 + spots[i];
    *d = *d == '0' ? '1' : '0';
    assert_int_equal(answer_text(srv, t, "a.example"), SIPR_AUTH_BAD_NONCE);
  }
  /* Not hex, too short, too long. */
  char *t = sipr_arena_strdup(&arena, orig, strlen(orig));
  strstr(t, "nonce=\"")[7] = 'z';
  assert_int_equal(answer_text(srv, t, "a.example"), SIPR_AUTH_BAD_NONCE);
  t = sipr_arena_strdup(&arena, orig, strlen(orig));
  memmove(n - orig + t, n - orig + t + 1, strlen(n));
  assert_int_equal(answer_text(srv, t, "a.example"), SIPR_AUTH_BAD_NONCE);

  /* The nonce of realm a used in realm b. */
  t = sipr_arena_strdup(&arena, orig, strlen(orig));
  memcpy(strstr(t, "a.example"), "b", 1);
  assert_int_equal(answer_text(srv, t, "b.example"), SIPR_AUTH_BAD_NONCE);

  /* Altered opaque. */
  t = sipr_arena_strdup(&arena, orig, strlen(orig));
  char *o = strstr(t, "opaque=\"") + 8;
  *o = *o == '0' ? '1' : '0';
  assert_int_equal(answer_text(srv, t, "a.example"), SIPR_AUTH_BAD_NONCE);

  /* A nonce from another server (another key and boot id). */
  sipr_auth_server_t *other;
  assert_int_equal(sipr_auth_server_new(&cfg, &other), 0);
  assert_int_equal(answer_text(other, orig, "a.example"), SIPR_AUTH_BAD_NONCE);
  sipr_auth_server_free(other);
  sipr_auth_server_free(srv);
}

static void test_given_key(void **state) {
  (void)state;
  /* Same key, but a different boot id: nonces do not survive a restart. */
  static const unsigned char key[] = "0123456789abcdef0123456789abcdef";
  sipr_auth_config_t cfg = {.key = key, .key_len = 32};
  sipr_auth_server_t *s1, *s2;
  assert_int_equal(sipr_auth_server_new(&cfg, &s1), 0);
  assert_int_equal(sipr_auth_server_new(&cfg, &s2), 0);
  /* No realms configured: any realm. */
  const sipr_auth_t *cr = challenge_answer(s1, "any.example", SIPR_AUTH_SHA256,
                                           T0, "u", "p", 1, NULL);
  assert_int_equal(verify(s2, cr, "u", "any.example", "p", T0),
                   SIPR_AUTH_BAD_NONCE);
  assert_int_equal(verify(s1, cr, "u", "any.example", "p", T0), SIPR_AUTH_OK);
  assert_true(sipr_auth_server_has_realm(s1, SIPR_STR("any.example")) == 0);
  sipr_auth_server_free(s1);
  sipr_auth_server_free(s2);

  sipr_auth_config_t bad = {.key = key, .key_len = 0};
  sipr_auth_server_t *s3 = (sipr_auth_server_t *)1;
  assert_int_equal(sipr_auth_server_new(&bad, &s3), SIPR_EINVAL);
  assert_null(s3);
  sipr_auth_alg_t none[] = {SIPR_AUTH_ALG_UNKNOWN};
  sipr_auth_config_t bad2 = {.algs = none, .nalgs = 1};
  assert_int_equal(sipr_auth_server_new(&bad2, &s3), SIPR_EINVAL);
  const char *crlf[] = {"a\r\nb"};
  sipr_auth_config_t bad3 = {.realms = crlf, .nrealms = 1};
  assert_int_equal(sipr_auth_server_new(&bad3, &s3), SIPR_EINVAL);
}

static void test_replay(void **state) {
  (void)state;
  sipr_auth_server_t *srv = server("example.com", 0);
  const sipr_auth_t *ch;
  const sipr_auth_t *cr = challenge_answer(srv, "example.com", SIPR_AUTH_SHA256,
                                           T0, "alice", "pw", 1, &ch);
  assert_int_equal(verify(srv, cr, "alice", "example.com", "pw", T0),
                   SIPR_AUTH_OK);
  assert_int_equal(verify(srv, cr, "alice", "example.com", "pw", T0),
                   SIPR_AUTH_REPLAY);
  uint32_t seq[] = {2, 2, 5, 3, 5, 6};
  sipr_auth_result_t want[] = {SIPR_AUTH_OK,     SIPR_AUTH_REPLAY,
                               SIPR_AUTH_OK,     SIPR_AUTH_REPLAY,
                               SIPR_AUTH_REPLAY, SIPR_AUTH_OK};
  for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
    sipr_buf_t b;
    sipr_buf_init(&b);
    assert_int_equal(sipr_auth_client_answer(ch, SIPR_STR("REGISTER"),
                                             SIPR_STR("sip:example.com"),
                                             "alice", "pw", NULL, seq[i], NULL,
                                             &b),
                     0);
    assert_int_equal(verify(srv, parse_buf(&b), "alice", "example.com", "pw",
                            T0 + i),
                     want[i]);
    sipr_buf_free(&b);
  }
  /* A forged request with a high nc does not burn the client's counts. */
  sipr_buf_t b;
  sipr_buf_init(&b);
  assert_int_equal(sipr_auth_client_answer(ch, SIPR_STR("REGISTER"),
                                           SIPR_STR("sip:example.com"),
                                           "alice", "guess", NULL, 1000, NULL,
                                           &b),
                   0);
  assert_int_equal(
      verify(srv, parse_buf(&b), "alice", "example.com", "pw", T0),
      SIPR_AUTH_BAD_RESPONSE);
  b.len = 0;
  assert_int_equal(sipr_auth_client_answer(ch, SIPR_STR("REGISTER"),
                                           SIPR_STR("sip:example.com"),
                                           "alice", "pw", NULL, 7, NULL, &b),
                   0);
  assert_int_equal(
      verify(srv, parse_buf(&b), "alice", "example.com", "pw", T0),
      SIPR_AUTH_OK);
  sipr_buf_free(&b);
  sipr_auth_server_free(srv);
}

static void test_wrong_password(void **state) {
  (void)state;
  sipr_auth_server_t *srv = server("example.com", 0);
  const sipr_auth_t *cr = challenge_answer(srv, "example.com", SIPR_AUTH_SHA256,
                                           T0, "alice", "pw", 1, NULL);
  assert_int_equal(verify(srv, cr, "alice", "example.com", "pW", T0),
                   SIPR_AUTH_BAD_RESPONSE);
  /* Unknown user (no HA1) reads as a wrong password. */
  assert_int_equal(sipr_auth_verify(srv, cr, SIPR_STR("REGISTER"), NULL, T0,
                                    SIPR_STR_NULL),
                   SIPR_AUTH_BAD_RESPONSE);
  /* An HA1 of the wrong length (MD5 for a SHA-256 answer). */
  char md5[SIPR_AUTH_HEX_MAX];
  assert_int_equal(
      sipr_auth_ha1(SIPR_AUTH_MD5, "alice", "example.com", "pw", md5), 0);
  assert_int_equal(sipr_auth_verify(srv, cr, SIPR_STR("REGISTER"), md5, T0,
                                    SIPR_STR_NULL),
                   SIPR_AUTH_BAD_RESPONSE);
  /* Upper-case HA1 and response are accepted. */
  char up[SIPR_AUTH_HEX_MAX];
  assert_int_equal(
      sipr_auth_ha1(SIPR_AUTH_SHA256, "alice", "example.com", "pw", up), 0);
  for (char *p = up; *p; p++)
    if (*p >= 'a' && *p <= 'f')
      *p = (char)(*p - 32);
  assert_int_equal(sipr_auth_verify(srv, cr, SIPR_STR("REGISTER"), up, T0,
                                    SIPR_STR_NULL),
                   SIPR_AUTH_OK);
  sipr_auth_server_free(srv);
}

static void test_unknown_realm(void **state) {
  (void)state;
  sipr_auth_server_t *srv = server("example.com", 0);
  sipr_auth_server_t *other = server("other.com", 0);
  const sipr_auth_t *cr = challenge_answer(other, "other.com", SIPR_AUTH_MD5,
                                           T0, "alice", "pw", 1, NULL);
  assert_int_equal(verify(srv, cr, "alice", "other.com", "pw", T0),
                   SIPR_AUTH_UNKNOWN_REALM);
  sipr_buf_t b;
  sipr_buf_init(&b);
  assert_int_equal(sipr_auth_challenge(srv, SIPR_STR("other.com"),
                                       SIPR_AUTH_MD5, 0, T0, &b),
                   SIPR_ENOENT);
  /* Realms added later are served. */
  assert_int_equal(sipr_auth_server_add_realm(srv, "other.com"), 0);
  assert_true(sipr_auth_server_has_realm(srv, SIPR_STR("other.com")));
  assert_int_equal(sipr_auth_challenge(srv, SIPR_STR("other.com"),
                                       SIPR_AUTH_MD5, 0, T0, &b),
                   0);
  sipr_buf_free(&b);
  assert_int_equal(verify(srv, cr, "alice", "other.com", "pw", T0),
                   SIPR_AUTH_BAD_NONCE);
  sipr_auth_server_free(srv);
  sipr_auth_server_free(other);
}

/* Verifies credentials text built from a template with fields removed. */
static sipr_auth_result_t verify_text(sipr_auth_server_t *srv,
                                      const char *text) {
  char ha1[SIPR_AUTH_HEX_MAX];
  sipr_auth_ha1(SIPR_AUTH_MD5, "alice", "example.com", "pw", ha1);
  return sipr_auth_verify(srv, parse_z(text), SIPR_STR("REGISTER"), ha1, T0,
                          SIPR_STR_NULL);
}

static void test_malformed(void **state) {
  (void)state;
  sipr_auth_server_t *srv = server("example.com", 0);
  const sipr_auth_t *cr = challenge_answer(srv, "example.com", SIPR_AUTH_MD5,
                                           T0, "alice", "pw", 1, NULL);
  char nonce[80], resp[40];
  snprintf(nonce, sizeof(nonce), "%.*s", SIPR_STR_ARG(cr->nonce));
  snprintf(resp, sizeof(resp), "%.*s", SIPR_STR_ARG(cr->response));
  const char *fields[] = {
      "username=\"alice\"", "realm=\"example.com\"", NULL, "uri=\"sip:example.com\"",
      NULL, "algorithm=MD5", NULL, "qop=auth", "nc=00000001"};
  char nf[100], rf[60], cf[64];
  snprintf(nf, sizeof(nf), "nonce=\"%s\"", nonce);
  snprintf(rf, sizeof(rf), "response=\"%s\"", resp);
  snprintf(cf, sizeof(cf), "cnonce=\"%.*s\"", SIPR_STR_ARG(cr->cnonce));
  fields[2] = nf;
  fields[4] = rf;
  fields[6] = cf;
  size_t nfields = sizeof(fields) / sizeof(fields[0]);
  char text[1024];
  /* Each field but algorithm is required. */
  for (size_t skip = 0; skip <= nfields; skip++) {
    size_t n = (size_t)snprintf(text, sizeof(text), "Digest ");
    int first = 1;
    for (size_t i = 0; i < nfields; i++) {
      if (i == skip)
        continue;
      n += (size_t)snprintf(text + n, sizeof(text) - n, "%s%s",
                            first ? "" : ", ", fields[i]);
      first = 0;
    }
    sipr_auth_result_t r = verify_text(srv, text);
    if (skip == 5) /* algorithm: MD5 by default */
      assert_int_equal(r, SIPR_AUTH_OK);
    else if (skip == nfields) /* nothing skipped; nc 1 already used */
      assert_int_equal(r, SIPR_AUTH_REPLAY);
    else
      assert_int_equal(r, SIPR_AUTH_BAD_REQUEST);
  }
  /* Bad values. */
  const char *bad[] = {"nc=1", "nc=0000000g", "nc=00000000", "nc=000000001",
                       "qop=auth-conf", "username=\"\"", "uri=\"\"",
                       "cnonce=\"\""};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    snprintf(text, sizeof(text),
             "Digest username=\"alice\", realm=\"example.com\", %s, "
             "uri=\"sip:example.com\", %s, qop=auth, nc=00000002, %s, %s",
             nf, rf, cf, bad[i]);
    /* The last occurrence of a field is the one in sipr_auth_t. */
    assert_int_equal(verify_text(srv, text), SIPR_AUTH_BAD_REQUEST);
  }
  snprintf(text, sizeof(text),
           "Digest username=\"alice\", realm=\"example.com\", %s, "
           "uri=\"sip:example.com\", response=\"abc\", qop=auth, "
           "nc=00000002, %s",
           nf, cf);
  assert_int_equal(verify_text(srv, text), SIPR_AUTH_BAD_REQUEST);
  snprintf(text, sizeof(text),
           "Digest username=\"alice\", realm=\"example.com\", %s, "
           "uri=\"sip:example.com\", %s, qop=auth, nc=00000002, %s, "
           "algorithm=SHA-512-256",
           nf, rf, cf);
  assert_int_equal(verify_text(srv, text), SIPR_AUTH_UNSUPPORTED_ALGORITHM);
  snprintf(text, sizeof(text),
           "Digest username=\"alice\", realm=\"\", %s, "
           "uri=\"sip:example.com\", %s, qop=auth, nc=00000002, %s",
           nf, rf, cf);
  assert_int_equal(verify_text(srv, text), SIPR_AUTH_UNKNOWN_REALM);
  /* Scheme. */
  assert_int_equal(sipr_auth_verify(srv, NULL, SIPR_STR("REGISTER"), NULL, T0,
                                    SIPR_STR_NULL),
                   SIPR_AUTH_NO_CREDENTIALS);
  assert_int_equal(verify_text(srv, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
                   SIPR_AUTH_NO_CREDENTIALS);
  sipr_auth_server_free(srv);

  /* An algorithm the server does not offer. */
  sipr_auth_alg_t sha[] = {SIPR_AUTH_SHA256};
  const char *realms[] = {"example.com"};
  sipr_auth_config_t cfg = {.realms = realms, .nrealms = 1, .algs = sha,
                            .nalgs = 1};
  assert_int_equal(sipr_auth_server_new(&cfg, &srv), 0);
  sipr_auth_server_t *md5srv = server("example.com", 0);
  cr = challenge_answer(md5srv, "example.com", SIPR_AUTH_MD5, T0, "alice",
                        "pw", 1, NULL);
  assert_int_equal(verify(srv, cr, "alice", "example.com", "pw", T0),
                   SIPR_AUTH_UNSUPPORTED_ALGORITHM);
  sipr_buf_t b;
  sipr_buf_init(&b);
  assert_int_equal(sipr_auth_challenge(srv, SIPR_STR("example.com"),
                                       SIPR_AUTH_MD5, 0, T0, &b),
                   SIPR_EINVAL);
  sipr_buf_free(&b);
  sipr_auth_server_free(md5srv);
  sipr_auth_server_free(srv);
}

static void test_client_errors(void **state) {
  (void)state;
  sipr_buf_t b;
  sipr_buf_init(&b);
  const sipr_auth_t *ch = parse_z(rfc7616_sha);
  /* No secret, nc 0, bad HA1, CR/LF in user. */
  assert_int_equal(sipr_auth_client_answer(ch, SIPR_STR("GET"), SIPR_STR("/"),
                                           "u", NULL, NULL, 1, NULL, &b),
                   SIPR_EINVAL);
  assert_int_equal(sipr_auth_client_answer(ch, SIPR_STR("GET"), SIPR_STR("/"),
                                           "u", "p", NULL, 0, NULL, &b),
                   SIPR_EINVAL);
  assert_int_equal(sipr_auth_client_answer(ch, SIPR_STR("GET"), SIPR_STR("/"),
                                           "u", NULL, "abcd", 1, NULL, &b),
                   SIPR_EINVAL);
  assert_int_equal(b.len, 0);
  assert_int_equal(sipr_auth_client_answer(ch, SIPR_STR("GET"), SIPR_STR("/"),
                                           "u\r\nX: y", "p", NULL, 1, NULL,
                                           &b),
                   SIPR_EINVAL);
  assert_int_equal(b.len, 0);
  sipr_buf_free(&b);
  sipr_buf_init(&b);
  /* Unsupported algorithm or qop. */
  ch = parse_z("Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256");
  assert_int_equal(sipr_auth_client_answer(ch, SIPR_STR("GET"), SIPR_STR("/"),
                                           "u", "p", NULL, 1, NULL, &b),
                   SIPR_EINVAL);
  ch = parse_z("Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"");
  assert_int_equal(sipr_auth_client_answer(ch, SIPR_STR("GET"), SIPR_STR("/"),
                                           "u", "p", NULL, 1, NULL, &b),
                   SIPR_EINVAL);
  sipr_buf_free(&b);
}

static void test_client_pick(void **state) {
  (void)state;
  static const char msg[] =
      "SIP/2.0 401 Unauthorized\r\n"
      "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n"
      "From: <sip:a@example.com>;tag=1\r\n"
      "To: <sip:a@example.com>;tag=2\r\n"
      "Call-ID: c1\r\n"
      "CSeq: 1 REGISTER\r\n"
      "WWW-Authenticate: Digest realm=\"example.com\", nonce=\"n1\", "
      "algorithm=MD5, qop=\"auth\"\r\n"
      "WWW-Authenticate: Basic realm=\"example.com\"\r\n"
      "WWW-Authenticate: Digest realm=\"example.com\", nonce=\"n2\", "
      "algorithm=SHA-256, qop=\"auth\"\r\n"
      "WWW-Authenticate: Digest realm=\"example.com\", nonce=\"n3\", "
      "algorithm=SHA-512-256, qop=\"auth\"\r\n"
      "Proxy-Authenticate: Digest realm=\"p\", nonce=\"n4\", qop=\"auth-int\"\r\n"
      "Content-Length: 0\r\n\r\n";
  sipr_msg_t *m = NULL;
  sipr_perr_t err;
  assert_int_equal(
      sipr_msg_parse(&arena, msg, sizeof(msg) - 1, 0, &m, &err), 0);
  const sipr_auth_t *ch = sipr_auth_client_pick(m, SIPR_HDR_WWW_AUTHENTICATE);
  assert_non_null(ch);
  assert_true(sipr_str_eq(ch->nonce, SIPR_STR("n2")));
  assert_null(sipr_auth_client_pick(m, SIPR_HDR_PROXY_AUTHENTICATE));
  assert_null(sipr_auth_client_pick(m, SIPR_HDR_VIA));
}

static void test_nc_table_bounded(void **state) {
  (void)state;
  sipr_auth_server_t *srv = server("example.com", 16);
  sipr_auth_stats_t st;
  sipr_auth_server_stats(srv, &st);
  assert_int_equal(st.nc_slots, 16);
  assert_int_equal(st.nc_used, 0);
  const sipr_auth_t *first = NULL, *first_ch = NULL;
  enum { N = 3000 };
  for (unsigned i = 0; i < N; i++) {
    const sipr_auth_t *ch;
    const sipr_auth_t *cr = challenge_answer(
        srv, "example.com", SIPR_AUTH_MD5, T0 + i, "alice", "pw", 1, &ch);
    assert_int_equal(verify(srv, cr, "alice", "example.com", "pw", T0 + i),
                     SIPR_AUTH_OK);
    if (!first) {
      first = cr;
      first_ch = ch;
    }
    sipr_auth_server_stats(srv, &st);
    assert_true(st.nc_used <= 16);
    if (i % 256 == 255) {
      sipr_arena_reset(&arena);
      first = NULL;
      first_ch = NULL;
    }
  }
  sipr_auth_server_stats(srv, &st);
  assert_int_equal(st.nc_slots, 16);
  assert_int_equal(st.nc_used, 16);
  assert_true(st.nc_evictions > 0);
  assert_int_equal(st.nonces_issued, N);

  /* The oldest nonce still around (first of the last arena round) was
   * evicted long ago: replaying it is not accepted, nor is a later nc. */
  assert_non_null(first);
  assert_int_not_equal(
      verify(srv, first, "alice", "example.com", "pw", T0 + N),
      SIPR_AUTH_OK);
  sipr_buf_t b;
  sipr_buf_init(&b);
  assert_int_equal(sipr_auth_client_answer(first_ch, SIPR_STR("REGISTER"),
                                           SIPR_STR("sip:example.com"),
                                           "alice", "pw", NULL, 2, NULL, &b),
                   0);
  assert_int_equal(
      verify(srv, parse_buf(&b), "alice", "example.com", "pw", T0 + N),
      SIPR_AUTH_STALE);
  sipr_buf_free(&b);

  /* Expired entries are reused without raising the eviction watermark: a
   * fresh nonce long after still verifies. */
  const sipr_auth_t *cr = challenge_answer(srv, "example.com", SIPR_AUTH_MD5,
                                           T0 + 10000000, "alice", "pw", 1,
                                           NULL);
  assert_int_equal(
      verify(srv, cr, "alice", "example.com", "pw", T0 + 10000000),
      SIPR_AUTH_OK);
  sipr_auth_server_free(srv);
}

/* Several threads sharing one server: every answer verifies once. */
typedef struct worker {
  sipr_auth_server_t *srv;
  int ok;
} worker_t;

static void *worker_main(void *arg) {
  worker_t *w = arg;
  char ha1[SIPR_AUTH_HEX_MAX];
  sipr_auth_ha1(SIPR_AUTH_SHA256, "u", "example.com", "p", ha1);
  for (int i = 0; i < 300; i++) {
    sipr_arena_t a;
    sipr_arena_init(&a, NULL, 0, 0);
    sipr_buf_t b, c;
    sipr_buf_init(&b);
    sipr_buf_init(&c);
    sipr_auth_t *ch = NULL, *cr = NULL;
    sipr_perr_t err;
    if (!sipr_auth_challenge(w->srv, SIPR_STR("example.com"),
                             SIPR_AUTH_SHA256, 0, T0, &b) &&
        !sipr_parse_auth(&a, b.p, b.len, &ch, &err) &&
        !sipr_auth_client_answer(ch, SIPR_STR("REGISTER"), SIPR_STR("sip:x"),
                                 "u", "p", NULL, 1, NULL, &c) &&
        !sipr_parse_auth(&a, c.p, c.len, &cr, &err) &&
        sipr_auth_verify(w->srv, cr, SIPR_STR("REGISTER"), ha1, T0,
                         SIPR_STR_NULL) == SIPR_AUTH_OK &&
        sipr_auth_verify(w->srv, cr, SIPR_STR("REGISTER"), ha1, T0,
                         SIPR_STR_NULL) == SIPR_AUTH_REPLAY)
      w->ok++;
    sipr_buf_free(&b);
    sipr_buf_free(&c);
    sipr_arena_free(&a);
  }
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  sipr_auth_server_t *srv = server("example.com", 0);
  enum { NT = 4 };
  pthread_t th[NT];
  worker_t w[NT];
  for (int i = 0; i < NT; i++) {
    w[i].srv = srv;
    w[i].ok = 0;
    assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
  }
  for (int i = 0; i < NT; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(w[i].ok, 300);
  }
  sipr_auth_stats_t st;
  sipr_auth_server_stats(srv, &st);
  assert_int_equal(st.nonces_issued, NT * 300);
  assert_int_equal(st.nc_used, NT * 300);
  sipr_auth_server_free(srv);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_rfc7616, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rfc2617, setup, teardown),
      cmocka_unit_test_setup_teardown(test_alg_names, setup, teardown),
      cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_challenge_lines, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sess_and_escapes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_auth_int, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stale, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tampering, setup, teardown),
      cmocka_unit_test_setup_teardown(test_given_key, setup, teardown),
      cmocka_unit_test_setup_teardown(test_replay, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wrong_password, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unknown_realm, setup, teardown),
      cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_client_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_client_pick, setup, teardown),
      cmocka_unit_test_setup_teardown(test_nc_table_bounded, setup, teardown),
      cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
