/* Message parsing, the header table and typed header values. */
#include "tests.h"

#include <stdio.h>
#include <string.h>

#include "sipr/msg.h"

typedef struct fx {
  char storage[16384];
  sipr_arena_t a;
  sipr_msg_t *m;
  sipr_perr_t err;
} fx_t;

static fx_t fx;

static int parse_flags(const char *text, unsigned flags) {
  memset(&fx.err, 0, sizeof(fx.err));
  sipr_arena_free(&fx.a);
  sipr_arena_init(&fx.a, fx.storage, sizeof(fx.storage), 1 << 20);
  int rc = sipr_msg_parse(&fx.a, text, strlen(text), flags, &fx.m, &fx.err);
  if (rc == 0)
    rc = sipr_msg_check(fx.m, &fx.err);
  return rc;
}

static int parse(const char *text) {
  return parse_flags(text, SIPR_PARSE_DATAGRAM);
}

static int teardown(void **state) {
  sipr_arena_free(&fx.a);
  return 0;
}

static int eq(sipr_str_t s, const char *z) { return sipr_str_eq(s, sipr_str_cstr(z)); }

#define REQ_HEAD                                                               \
  "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n"              \
  "Max-Forwards: 70\r\n"                                                       \
  "To: Bob <sip:bob@example.com>\r\n"                                          \
  "From: Alice <sip:alice@example.com>;tag=1928301774\r\n"                     \
  "Call-ID: a84b4c76e66710@pc33.example.com\r\n"

static const char invite[] =
    "INVITE sip:bob@example.com SIP/2.0\r\n" REQ_HEAD
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:alice@pc33.example.com>\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 4\r\n"
    "\r\n"
    "v=0\n";

static void test_request_basic(void **state) {
  assert_int_equal(parse(invite), 0);
  sipr_msg_t *m = fx.m;
  assert_true(m->is_request);
  assert_int_equal(m->method_id, SIPR_METHOD_INVITE);
  assert_true(eq(m->ruri_str, "sip:bob@example.com"));
  assert_true(eq(m->version, "SIP/2.0"));
  assert_int_equal(m->nhdrs, 9);
  assert_true(eq(sipr_msg_call_id(m), "a84b4c76e66710@pc33.example.com"));
  assert_int_equal(sipr_msg_cseq(m)->seq, 314159);
  assert_true(eq(sipr_msg_from(m)->tag, "1928301774"));
  assert_true(eq(sipr_msg_from(m)->display, "Alice"));
  assert_true(sipr_str_is_null(sipr_msg_to(m)->tag));
  assert_int_equal(sipr_msg_via(m)->port, 5060);
  assert_true(eq(m->body, "v=0\n"));
  sipr_ctype_t *ct = sipr_msg_get(m, SIPR_HDR_CONTENT_TYPE);
  assert_true(eq(ct->type, "application") && eq(ct->subtype, "sdp"));
  assert_true(eq(sipr_msg_ruri(m)->user, "bob"));
}

static void test_response(void **state) {
  assert_int_equal(parse("SIP/2.0 180 Ringing\r\n" REQ_HEAD
                         "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"),
                   0);
  assert_false(fx.m->is_request);
  assert_int_equal(fx.m->status, 180);
  assert_true(eq(fx.m->reason, "Ringing"));
  /* empty reason phrase */
  assert_int_equal(parse("SIP/2.0 100 \r\n" REQ_HEAD
                         "CSeq: 1 INVITE\r\nl: 0\r\n\r\n"),
                   0);
  assert_int_equal(fx.m->reason.len, 0);
  /* a bad response is dropped, never answered */
  assert_int_not_equal(parse("SIP/2.0 99 Weird\r\n" REQ_HEAD
                             "CSeq: 1 INVITE\r\n\r\n"),
                       0);
  assert_int_equal(fx.err.status, 0);
  assert_int_not_equal(parse("SIP/2.0 200 OK\r\n" REQ_HEAD
                             "CSeq: 99999999999 INVITE\r\n\r\n"),
                       0);
  assert_int_equal(fx.err.status, 0);
}

static void test_compact_and_case(void **state) {
  assert_int_equal(parse("OPTIONS sip:x@example.com SIP/2.0\r\n"
                         "v: SIP/2.0/TCP h.example.com;branch=z9hG4bKa\r\n"
                         "t: sip:x@example.com\r\n"
                         "F: <sip:y@example.com>;tag=1\r\n"
                         "i: abc\r\n"
                         "cSeQ: 2 OPTIONS\r\n"
                         "k: path, gruu\r\n"
                         "L: 0\r\n\r\n"),
                   0);
  assert_non_null(fx.m->first[SIPR_HDR_VIA]);
  assert_non_null(fx.m->first[SIPR_HDR_TO]);
  assert_true(eq(fx.m->first[SIPR_HDR_FROM]->name, "F"));
  sipr_token_t *k = sipr_msg_get(fx.m, SIPR_HDR_SUPPORTED);
  assert_true(eq(k->value, "path") && eq(k->next->value, "gruu"));
  assert_int_equal(sipr_hdr_lookup("WWW-AUTHENTICATE", 16), SIPR_HDR_WWW_AUTHENTICATE);
  assert_int_equal(sipr_hdr_lookup("record-route", 12), SIPR_HDR_RECORD_ROUTE);
  assert_int_equal(sipr_hdr_lookup("X-Foo", 5), SIPR_HDR_OTHER);
  assert_int_equal(sipr_hdr_lookup("m", 1), SIPR_HDR_CONTACT);
  assert_int_equal(sipr_hdr_lookup("q", 1), SIPR_HDR_OTHER);
  /* every table name finds itself */
  for (int t = 1; t < SIPR_HDR__COUNT; t++) {
    const sipr_hdr_info_t *i = sipr_hdr_info((sipr_hdr_type_t)t);
    assert_int_equal(sipr_hdr_lookup(i->name, strlen(i->name)), t);
    if (i->compact)
      assert_int_equal(sipr_hdr_lookup(&i->compact, 1), t);
  }
}

static void test_folding(void **state) {
  assert_int_equal(parse("OPTIONS sip:x@example.com SIP/2.0\r\n"
                         "Via: SIP/2.0/UDP h.example.com\r\n"
                         "  ;branch=z9hG4bKb\r\n"
                         "To:\r\n sip:x@example.com\r\n"
                         "From: <sip:y@example.com>\r\n\t;tag=1\r\n"
                         "Call-ID: abc\r\nCSeq: 2\r\n OPTIONS\r\n"
                         "Subject: a\r\n b\r\n"
                         "Content-Length: 0\r\n\r\n"),
                   0);
  assert_true(eq(sipr_msg_via(fx.m)->branch, "z9hG4bKb"));
  assert_true(eq(sipr_msg_from(fx.m)->tag, "1"));
  assert_true(eq(fx.m->first[SIPR_HDR_SUBJECT]->value, "a\r\n b"));
}

static void test_via_fields(void **state) {
  sipr_via_t *v;
  sipr_perr_t err;
  char st[4096];
  sipr_arena_t a;
  sipr_arena_init(&a, st, sizeof(st), 0);
  const char *t = "SIP/2.0/UDP [2001:db8::1]:5070;rport;received=2001:db8::9;"
                  "branch=z9hG4bKx;ttl=16;maddr=239.1.1.1;x-y=\"q\", "
                  "SIP / 2.0 / TCP 10.0.0.1 ; rport = 5061";
  assert_int_equal(sipr_parse_via(&a, t, strlen(t), &v, &err), 0);
  assert_int_equal(v->host_type, SIPR_HOST_IPV6);
  assert_true(eq(v->host, "[2001:db8::1]"));
  assert_int_equal(v->port, 5070);
  assert_int_equal(v->rport, 0);
  assert_true(eq(v->received, "2001:db8::9"));
  assert_true(eq(v->ttl, "16"));
  assert_true(eq(v->maddr, "239.1.1.1"));
  assert_non_null(sipr_param_find(v->params, "X-Y"));
  assert_non_null(v->next);
  assert_int_equal(v->next->host_type, SIPR_HOST_IPV4);
  assert_int_equal(v->next->rport, 5061);
  assert_true(eq(v->next->transport, "TCP"));
  /* errors */
  const char *bad[] = {"SIP/2.0/UDP", "SIP/2.0 h", "SIP/2.0/UDP h;;branch=1",
                       "SIP/2.0/UDP h,,SIP/2.0/UDP k", "SIP/2.0/UDP h:99999",
                       "SIP/2.0/UDP h;ttl=300", "SIP/2.0/UDP 300.1.1.1",
                       "SIP/2.0/UDP h;rport=x", "SIP/2.0/UDP h x"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    memset(&err, 0, sizeof(err));
    assert_int_equal(sipr_parse_via(&a, bad[i], strlen(bad[i]), &v, &err),
                     SIPR_EPARSE);
    assert_non_null(err.reason);
    assert_int_equal(err.status, 400);
  }
  sipr_arena_free(&a);
}

static void test_addr_forms(void **state) {
  sipr_addr_t *ad;
  sipr_perr_t err;
  sipr_arena_t a;
  sipr_arena_init(&a, NULL, 0, 0);
  const char *t = "\"A \\\"B\\\"\" <sip:a@x.com;transport=tcp>;q=0.5;expires=60, "
                  "sip:b@y.com;q=1, Carol Smith<sip:c@z.com>";
  assert_int_equal(sipr_parse_addr(&a, t, strlen(t), 1, &ad, &err), 0);
  assert_true(eq(ad->display, "\"A \\\"B\\\"\""));
  assert_int_equal(ad->q, 500);
  assert_int_equal(ad->expires, 60);
  assert_true(ad->angle);
  assert_true(eq(ad->uri.transport, "tcp"));
  assert_false(ad->next->angle);
  assert_int_equal(ad->next->q, 1000);
  assert_true(eq(ad->next->uri.host, "y.com"));
  assert_true(eq(ad->next->next->display, "Carol Smith"));
  const char *bad[] = {"<sip:a@x.com", "\"open <sip:a@x.com>",
                       "sip:a@x.com?Route=x", "< sip:a@x.com>",
                       "<sip:a@x.com>;q=2", "<sip:a@x.com>;q=0.1234",
                       "Bell, Alexander <sip:a@x.com>", "<sip:a@x.com>;tag",
                       "<>", ""};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    memset(&err, 0, sizeof(err));
    assert_int_equal(sipr_parse_addr(&a, bad[i], strlen(bad[i]), 0, &ad, &err),
                     SIPR_EPARSE);
    assert_non_null(err.reason);
  }
  sipr_arena_free(&a);
}

static void test_contact_star(void **state) {
  assert_int_equal(parse("REGISTER sip:example.com SIP/2.0\r\n" REQ_HEAD
                         "CSeq: 3 REGISTER\r\nContact: *\r\nExpires: 0\r\n"
                         "Content-Length: 0\r\n\r\n"),
                   0);
  sipr_addr_t *c = sipr_msg_get(fx.m, SIPR_HDR_CONTACT);
  assert_true(c->star);
  assert_int_not_equal(parse("REGISTER sip:example.com SIP/2.0\r\n" REQ_HEAD
                             "CSeq: 3 REGISTER\r\nContact: *, <sip:a@b>\r\n"
                             "Content-Length: 0\r\n\r\n"),
                       0);
  assert_int_equal(fx.err.status, 400);
  assert_string_equal(fx.err.where, "Contact");
}

static void test_auth(void **state) {
  sipr_auth_t *au;
  sipr_perr_t err;
  sipr_arena_t a;
  sipr_arena_init(&a, NULL, 0, 0);
  const char *t = "Digest realm=\"example.com\", nonce=\"abc\\\"def\", "
                  "algorithm=SHA-256,qop=\"auth,auth-int\", opaque=\"x\", stale=TRUE";
  assert_int_equal(sipr_parse_auth(&a, t, strlen(t), &au, &err), 0);
  assert_true(eq(au->scheme, "Digest"));
  assert_true(eq(au->realm, "example.com"));
  assert_true(eq(au->nonce, "abc\\\"def"));
  assert_true(eq(au->algorithm, "SHA-256"));
  assert_true(eq(au->qop, "auth,auth-int"));
  assert_true(eq(au->stale, "TRUE"));
  t = "Digest username=\"alice\", realm=\"example.com\", nonce=\"n\", "
      "uri=\"sip:example.com\", response=\"0123abcd\", cnonce=\"c\", nc=00000001, qop=auth";
  assert_int_equal(sipr_parse_auth(&a, t, strlen(t), &au, &err), 0);
  assert_true(eq(au->username, "alice"));
  assert_true(eq(au->uri, "sip:example.com"));
  assert_true(eq(au->nc, "00000001"));
  assert_true(eq(au->qop, "auth"));
  t = "NoOneKnowsThisScheme opaque-data=here";
  assert_int_equal(sipr_parse_auth(&a, t, strlen(t), &au, &err), 0);
  assert_null(au->realm.p);
  const char *bad[] = {"Digest realm", "Digest realm=\"open", "Digest ,",
                       "Digest realm=a,,nonce=b", ""};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(sipr_parse_auth(&a, bad[i], strlen(bad[i]), &au, &err),
                     SIPR_EPARSE);
  sipr_arena_free(&a);
}

static void test_errors(void **state) {
  /* CSeq method mismatch: 400, named, with offset */
  assert_int_not_equal(parse("INVITE sip:bob@example.com SIP/2.0\r\n" REQ_HEAD
                             "CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"),
                       0);
  assert_int_equal(fx.err.status, 400);
  assert_string_equal(fx.err.reason, "CSeq method mismatch");
  assert_int_equal(fx.err.offset, (size_t)(strstr(fx.m->buf, "1 ACK") - fx.m->buf));
  /* missing header */
  assert_int_not_equal(parse("INVITE sip:bob@example.com SIP/2.0\r\n"
                             "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                             "CSeq: 1 INVITE\r\n\r\n"),
                       0);
  assert_int_equal(fx.err.status, 400);
  /* no usable Via: drop */
  assert_int_not_equal(parse("INVITE sip:bob@example.com SIP/2.0\r\n"
                             "Via: garbage\r\nCSeq: 1 INVITE\r\n\r\n"),
                       0);
  assert_int_equal(fx.err.status, 0);
  /* version */
  assert_int_not_equal(parse("INVITE sip:bob@example.com SIP/3.0\r\n" REQ_HEAD
                             "CSeq: 1 INVITE\r\n\r\n"),
                       0);
  assert_int_equal(fx.err.status, 505);
  /* 416 */
  assert_int_not_equal(parse("INVITE http://example.com/ SIP/2.0\r\n" REQ_HEAD
                             "CSeq: 1 INVITE\r\n\r\n"),
                       0);
  assert_int_equal(fx.err.status, 416);
  /* stream needs Content-Length */
  assert_int_not_equal(parse_flags("OPTIONS sip:bob@example.com SIP/2.0\r\n" REQ_HEAD
                                   "CSeq: 1 OPTIONS\r\n\r\n",
                                   SIPR_PARSE_STREAM),
                       0);
  assert_string_equal(fx.err.where, "Content-Length");
  /* bare LF, no empty line, no colon */
  assert_int_not_equal(parse("OPTIONS sip:a@b SIP/2.0\n\n"), 0);
  assert_int_not_equal(parse("OPTIONS sip:a@b SIP/2.0\r\n" REQ_HEAD), 0);
  assert_int_not_equal(parse("OPTIONS sip:a@b SIP/2.0\r\n" REQ_HEAD "Bogus\r\n\r\n"), 0);
  assert_int_equal(fx.err.status, 400);
  assert_int_not_equal(parse(""), 0);
  assert_int_not_equal(parse("\r\n\r\n"), 0);
}

static void test_limits(void **state) {
  /* more header fields than the cap: refused, not truncated */
  static char big[SIPR_MAX_HEADERS * 16 + 512];
  size_t n = (size_t)sprintf(big, "OPTIONS sip:a@b SIP/2.0\r\n" REQ_HEAD "CSeq: 1 OPTIONS\r\n");
  for (int i = 0; i < SIPR_MAX_HEADERS; i++)
    n += (size_t)sprintf(big + n, "X-%d: y\r\n", i);
  sprintf(big + n, "\r\n");
  assert_int_not_equal(parse(big), 0);
  assert_int_equal(fx.err.code, SIPR_ETOOBIG);
  /* arena cap: parse fails cleanly */
  sipr_arena_t tiny;
  sipr_msg_t *m;
  sipr_perr_t err;
  sipr_arena_init(&tiny, NULL, 0, 256);
  int rc = sipr_msg_parse(&tiny, invite, strlen(invite), 0, &m, &err);
  if (rc == 0)
    rc = sipr_msg_check(m, &err);
  assert_int_equal(rc, SIPR_ENOMEM);
  sipr_arena_free(&tiny);
}

static void test_methods(void **state) {
  assert_int_equal(sipr_method_from_str(SIPR_STR("REGISTER")), SIPR_METHOD_REGISTER);
  assert_int_equal(sipr_method_from_str(SIPR_STR("register")), SIPR_METHOD_UNKNOWN);
  for (int m = 1; m < SIPR_METHOD__COUNT; m++)
    assert_int_equal(sipr_method_from_str(sipr_str_cstr(sipr_method_name((sipr_method_t)m))), m);
  assert_null(sipr_method_name(SIPR_METHOD_UNKNOWN));
}

/* sipr_msg_rebase(): a message moved onto a copy whose top Via value was
 * edited (rport filled, received inserted, as the transport does) has every
 * slice where a fresh parse of the copy has it, and types again from it. */
static void test_rebase(void **state) {
  static const char orig[] =
      "INVITE sip:bob@example.com SIP/2.0\r\n"
      "Via: SIP/2.0/UDP pc.example.com;rport;branch=z9hG4bKa1, "
      "SIP/2.0/TCP 10.0.0.1;branch=z9hG4bKb2\r\n"
      "Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKc3\r\n"
      "Max-Forwards: 70\r\n"
      "To: <sip:bob@example.com>\r\n"
      "From: <sip:alice@example.com>;tag=1928\r\n"
      "Subject: folded\r\n  across lines\r\n"
      "Call-ID: a84b4c76e66710\r\n"
      "CSeq: 314159 INVITE\r\n"
      "Content-Type: text/plain\r\n"
      "Content-Length: 5\r\n"
      "\r\nhello";
  static const char copy[] =
      "INVITE sip:bob@example.com SIP/2.0\r\n"
      "Via: SIP/2.0/UDP pc.example.com;rport=5070;branch=z9hG4bKa1"
      ";received=192.0.2.9, SIP/2.0/TCP 10.0.0.1;branch=z9hG4bKb2\r\n"
      "Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKc3\r\n"
      "Max-Forwards: 70\r\n"
      "To: <sip:bob@example.com>\r\n"
      "From: <sip:alice@example.com>;tag=1928\r\n"
      "Subject: folded\r\n  across lines\r\n"
      "Call-ID: a84b4c76e66710\r\n"
      "CSeq: 314159 INVITE\r\n"
      "Content-Type: text/plain\r\n"
      "Content-Length: 5\r\n"
      "\r\nhello";
  (void)state;
  sipr_arena_t ra;
  sipr_msg_t *ref;
  sipr_perr_t err;
  sipr_arena_init(&ra, NULL, 0, 1 << 20);
  assert_int_equal(sipr_msg_parse(&ra, copy, sizeof copy - 1,
                                  SIPR_PARSE_DATAGRAM, &ref, &err), 0);
  assert_int_equal(parse(orig), 0);
  sipr_msg_t *m = fx.m;
  sipr_via_t *v = sipr_msg_via(m); /* typed before the move */
  assert_non_null(v);
  assert_int_equal(v->rport, 0);
  sipr_msg_rebase(m, m->first[SIPR_HDR_VIA], copy,
                  (ptrdiff_t)(sizeof copy) - (ptrdiff_t)(sizeof orig));

  assert_ptr_equal(m->buf, copy);
  assert_int_equal(m->len, ref->len);
  assert_ptr_equal(m->start_line.p, ref->start_line.p);
  assert_int_equal(m->start_line.len, ref->start_line.len);
  assert_ptr_equal(m->method.p, ref->method.p);
  assert_ptr_equal(m->ruri_str.p, ref->ruri_str.p);
  assert_ptr_equal(m->version.p, ref->version.p);
  assert_ptr_equal(m->body.p, ref->body.p);
  assert_int_equal(m->body.len, 5);
  assert_int_equal(m->body_offset, ref->body_offset);
  assert_int_equal(m->nhdrs, ref->nhdrs);
  for (sipr_hdr_t *a = m->hdrs, *b = ref->hdrs; a || b; a = a->next, b = b->next) {
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->type, b->type);
    assert_ptr_equal(a->name.p, b->name.p);
    assert_int_equal(a->name.len, b->name.len);
    assert_ptr_equal(a->value.p, b->value.p);
    assert_int_equal(a->value.len, b->value.len);
    assert_ptr_equal(a->raw.p, b->raw.p);
    assert_int_equal(a->raw.len, b->raw.len);
  }
  /* typed again, from the copy */
  assert_int_equal(sipr_msg_check(m, &err), 0);
  v = sipr_msg_via(m);
  assert_non_null(v);
  assert_int_equal(v->rport, 5070);
  assert_true(eq(v->received, "192.0.2.9"));
  assert_true(eq(v->branch, "z9hG4bKa1"));
  assert_non_null(v->next);
  assert_true(eq(v->next->host, "10.0.0.1"));
  assert_true(v->received.p >= copy && v->received.p < copy + sizeof copy);
  const sipr_uri_t *u = sipr_msg_ruri(m);
  assert_non_null(u);
  assert_ptr_equal(u->user.p, copy + 11);
  sipr_arena_free(&ra);
}

int sipr_test_msg(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_request_basic),  cmocka_unit_test(test_response),
      cmocka_unit_test(test_compact_and_case), cmocka_unit_test(test_folding),
      cmocka_unit_test(test_via_fields),     cmocka_unit_test(test_addr_forms),
      cmocka_unit_test(test_contact_star),   cmocka_unit_test(test_auth),
      cmocka_unit_test(test_errors),         cmocka_unit_test(test_limits),
      cmocka_unit_test(test_methods),        cmocka_unit_test(test_rebase),
  };
  return cmocka_run_group_tests_name("msg", tests, NULL, teardown);
}
