/* Printing: building messages, reason phrases (§21), responses (§8.2.6),
 * and a proxy's one-pass edits of a parsed message (§16.6). */
#include "tests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipr/msg.h"
#include "sipr/print.h"

/* ---- helpers ------------------------------------------------------------ */

/* A parsed message with its own arena. */
typedef struct parsed {
  sipr_arena_t a;
  sipr_msg_t *m;
} parsed_t;

static void parse_ok(parsed_t *p, const char *s, size_t len) {
  sipr_perr_t err = {0};
  sipr_arena_init(&p->a, NULL, 0, 0);
  int rc = sipr_msg_parse(&p->a, s, len, SIPR_PARSE_STREAM, &p->m, &err);
  if (rc)
    fail_msg("parse: %s at %zu (%s)", err.reason, err.offset,
             err.where ? err.where : "?");
  rc = sipr_msg_check(p->m, &err);
  if (rc)
    fail_msg("check: %s at %zu (%s)", err.reason, err.offset,
             err.where ? err.where : "?");
}

static void parse_okz(parsed_t *p, const char *s) { parse_ok(p, s, strlen(s)); }

static void parsed_free(parsed_t *p) { sipr_arena_free(&p->a); }

static sipr_str_t S(const char *z) { return sipr_str_cstr(z); }

static void assert_str(sipr_str_t s, const char *z) {
  assert_non_null(s.p);
  if (s.len != strlen(z) || memcmp(s.p, z, s.len) != 0)
    fail_msg("\"%.*s\" != \"%s\"", (int)s.len, s.p, z);
}

/* The URI of the first Route value, or NULL slice. */
static sipr_str_t top_route(sipr_msg_t *m) {
  sipr_addr_t *r = sipr_msg_get(m, SIPR_HDR_ROUTE);
  return r ? r->uri.raw : SIPR_STR_NULL;
}

static unsigned count_values(sipr_msg_t *m, sipr_hdr_type_t t) {
  unsigned n = 0;
  for (sipr_hdr_t *h = m->first[t]; h; h = h->next_same) {
    assert_int_equal(sipr_hdr_parse(m, h, NULL), 0);
    if (t == SIPR_HDR_VIA) {
      for (sipr_via_t *v = h->parsed; v; v = v->next)
        n++;
    } else {
      for (sipr_addr_t *a = h->parsed; a; a = a->next)
        n++;
    }
  }
  return n;
}

/* ---- building ----------------------------------------------------------- */

static void test_reason_phrases(void **state) {
  (void)state;
  /* Every code of RFC 3261 §21. */
  static const unsigned rfc3261[] = {
      100, 180, 181, 182, 183, 200, 300, 301, 302, 305, 380, 400, 401,
      402, 403, 404, 405, 406, 407, 408, 410, 413, 414, 415, 416, 420,
      421, 423, 480, 481, 482, 483, 484, 485, 486, 487, 488, 491, 493,
      500, 501, 502, 503, 504, 505, 513, 600, 603, 604, 606};
  for (size_t i = 0; i < sizeof rfc3261 / sizeof rfc3261[0]; i++)
    assert_true(sipr_reason_phrase(rfc3261[i])[0] != '\0');
  /* Codes of later RFCs. */
  static const unsigned later[] = {199, 204, 412, 417, 429, 439,
                                   440, 469, 470, 489, 494, 580};
  for (size_t i = 0; i < sizeof later / sizeof later[0]; i++)
    assert_true(sipr_reason_phrase(later[i])[0] != '\0');
  assert_string_equal(sipr_reason_phrase(100), "Trying");
  assert_string_equal(sipr_reason_phrase(200), "OK");
  assert_string_equal(sipr_reason_phrase(302), "Moved Temporarily");
  assert_string_equal(sipr_reason_phrase(408), "Request Timeout");
  assert_string_equal(sipr_reason_phrase(481), "Call/Transaction Does Not Exist");
  assert_string_equal(sipr_reason_phrase(483), "Too Many Hops");
  assert_string_equal(sipr_reason_phrase(504), "Server Time-out");
  assert_string_equal(sipr_reason_phrase(604), "Does Not Exist Anywhere");
  assert_string_equal(sipr_reason_phrase(439), "First Hop Lacks Outbound Support");
  assert_string_equal(sipr_reason_phrase(199), "Early Dialog Terminated");
  assert_string_equal(sipr_reason_phrase(0), "");
  assert_string_equal(sipr_reason_phrase(299), "");
  assert_string_equal(sipr_reason_phrase(1000), "");
}

static void test_build(void **state) {
  (void)state;
  sipr_buf_t b;
  sipr_buf_init(&b);
  assert_int_equal(sipr_print_request_line(&b, S("OPTIONS"), S("sip:a@b")), 0);
  assert_int_equal(sipr_print_header(&b, "Via", S("SIP/2.0/UDP h;branch=z9hG4bK1")), 0);
  assert_int_equal(sipr_print_header_fmt(&b, "Max-Forwards", "%d", 70), 0);
  assert_int_equal(sipr_print_header_fmt(&b, "CSeq", "%u %s", 1u, "OPTIONS"), 0);
  assert_int_equal(sipr_print_body(&b, S("text/plain"), S("hi")), 0);
  assert_string_equal(b.p, "OPTIONS sip:a@b SIP/2.0\r\n"
                           "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                           "Max-Forwards: 70\r\n"
                           "CSeq: 1 OPTIONS\r\n"
                           "Content-Type: text/plain\r\n"
                           "Content-Length: 2\r\n"
                           "\r\n"
                           "hi");
  sipr_buf_free(&b);

  sipr_buf_init(&b);
  assert_int_equal(sipr_print_status_line(&b, 180, SIPR_STR_NULL), 0);
  assert_int_equal(sipr_print_status_line(&b, 299, SIPR_STR_NULL), 0);
  assert_int_equal(sipr_print_status_line(&b, 404, S("Nobody Here")), 0);
  assert_int_equal(sipr_print_body(&b, SIPR_STR_NULL, SIPR_STR("")), 0);
  assert_string_equal(b.p, "SIP/2.0 180 Ringing\r\n"
                           "SIP/2.0 299 \r\n"
                           "SIP/2.0 404 Nobody Here\r\n"
                           "Content-Length: 0\r\n\r\n");
  sipr_buf_free(&b);

  /* A long formatted value. */
  char big[1000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  sipr_buf_init(&b);
  assert_int_equal(sipr_print_header_fmt(&b, "X-Big", "<%s>", big), 0);
  assert_int_equal(b.len, strlen("X-Big: <>\r\n") + strlen(big));
  sipr_buf_free(&b);

  /* Text that would break the message is refused, and sticks. */
  static const struct {
    int which;
    const char *a, *b;
  } bad[] = {
      {0, "OPT IONS", "sip:a"}, {0, "", "sip:a"},   {0, "A", "sip:a b"},
      {0, "A", ""},             {1, "Via", "a\r\nX: y"}, {1, "Via:", "a"},
      {1, "", "a"},             {1, "V a", "a"},    {2, "OK\r\n", NULL},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    sipr_buf_init(&b);
    int rc = bad[i].which == 0 ? sipr_print_request_line(&b, S(bad[i].a), S(bad[i].b))
             : bad[i].which == 1 ? sipr_print_header(&b, bad[i].a, S(bad[i].b))
                                 : sipr_print_status_line(&b, 200, S(bad[i].a));
    assert_int_equal(rc, SIPR_EINVAL);
    assert_true(b.failed);
    assert_int_equal(sipr_print_header(&b, "To", S("<sip:a>")), SIPR_ENOMEM);
    sipr_buf_free(&b);
  }
  sipr_buf_init(&b);
  assert_int_equal(sipr_print_status_line(&b, 99, SIPR_STR_NULL), SIPR_EINVAL);
  sipr_buf_free(&b);
  sipr_buf_init(&b);
  assert_int_equal(sipr_print_status_line(&b, 700, SIPR_STR_NULL), SIPR_EINVAL);
  sipr_buf_free(&b);
  sipr_buf_init(&b);
  assert_int_equal(sipr_print_body(&b, S("a/b\r\n"), S("x")), SIPR_EINVAL);
  sipr_buf_free(&b);
}

/* ---- responses (§8.2.6) --------------------------------------------------- */

#define OPTIONS_REQ                                                            \
  "OPTIONS sip:carol@chicago.example.com SIP/2.0\r\n"                          \
  "v: SIP/2.0/TCP 192.0.2.10;branch=z9hG4bKa ,\r\n"                            \
  "  SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKb\r\n"                                \
  "Max-Forwards: 70\r\n"                                                       \
  "t: <sip:carol@chicago.example.com>\r\n"                                     \
  "f: \"Alice\" <sip:alice@atlanta.example.com>;tag=88\r\n"                    \
  "Via  :  SIP/2.0/UDP 192.0.2.8;branch=z9hG4bKc\r\n"                          \
  "i: opt1@192.0.2.8\r\n"                                                      \
  "CSeq: 7 OPTIONS\r\n"                                                        \
  "Timestamp: 54\r\n"                                                          \
  "Accept: application/sdp\r\n"                                                \
  "l: 0\r\n"                                                                   \
  "\r\n"

#define RESP_VIAS                                                              \
  "Via: SIP/2.0/TCP 192.0.2.10;branch=z9hG4bKa ,\r\n"                          \
  "  SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKb\r\n"                                \
  "Via: SIP/2.0/UDP 192.0.2.8;branch=z9hG4bKc\r\n"                             \
  "From: \"Alice\" <sip:alice@atlanta.example.com>;tag=88\r\n"

static void test_response(void **state) {
  (void)state;
  parsed_t req;
  parse_okz(&req, OPTIONS_REQ);
  sipr_buf_t b;

  sipr_buf_init(&b);
  assert_int_equal(sipr_print_response(&b, req.m, 200, NULL, S("srv1"),
                                       S("Allow: INVITE, ACK, OPTIONS\r\n")),
                   0);
  assert_string_equal(b.p, "SIP/2.0 200 OK\r\n" RESP_VIAS
                           "To: <sip:carol@chicago.example.com>;tag=srv1\r\n"
                           "Call-ID: opt1@192.0.2.8\r\n"
                           "CSeq: 7 OPTIONS\r\n"
                           "Allow: INVITE, ACK, OPTIONS\r\n"
                           "Content-Length: 0\r\n"
                           "\r\n");
  /* The response parses, passes the check, and matches the request. */
  parsed_t resp;
  parse_ok(&resp, b.p, b.len);
  assert_false(resp.m->is_request);
  assert_int_equal(resp.m->status, 200);
  assert_int_equal(count_values(resp.m, SIPR_HDR_VIA), 3);
  assert_str(sipr_msg_via(resp.m)->branch, "z9hG4bKa");
  assert_str(sipr_msg_to(resp.m)->tag, "srv1");
  assert_str(sipr_msg_from(resp.m)->tag, "88");
  assert_str(sipr_msg_call_id(resp.m), "opt1@192.0.2.8");
  assert_int_equal(sipr_msg_cseq(resp.m)->seq, 7);
  parsed_free(&resp);
  sipr_buf_free(&b);

  /* 100 (Trying): Timestamp copied (§8.2.6.1); no tag asked for. */
  sipr_buf_init(&b);
  assert_int_equal(
      sipr_print_response(&b, req.m, 100, NULL, SIPR_STR_NULL, SIPR_STR_NULL), 0);
  assert_string_equal(b.p, "SIP/2.0 100 Trying\r\n" RESP_VIAS
                           "To: <sip:carol@chicago.example.com>\r\n"
                           "Call-ID: opt1@192.0.2.8\r\n"
                           "CSeq: 7 OPTIONS\r\n"
                           "Timestamp: 54\r\n"
                           "Content-Length: 0\r\n"
                           "\r\n");
  sipr_buf_free(&b);

  /* A reason of our own. */
  sipr_buf_init(&b);
  assert_int_equal(sipr_print_response(&b, req.m, 486, "Busy Now", S("x"),
                                       SIPR_STR_NULL),
                   0);
  assert_true(strncmp(b.p, "SIP/2.0 486 Busy Now\r\n", 22) == 0);
  sipr_buf_free(&b);

  /* Bad arguments. */
  static const char *const bad_extra[] = {"Allow: A", "Allow: A\r\n\r\nX: y\r\n",
                                          " folded\r\n", "\r\n"};
  for (size_t i = 0; i < sizeof bad_extra / sizeof bad_extra[0]; i++) {
    sipr_buf_init(&b);
    assert_int_equal(sipr_print_response(&b, req.m, 200, NULL, S("t"),
                                         S(bad_extra[i])),
                     SIPR_EINVAL);
    sipr_buf_free(&b);
  }
  sipr_buf_init(&b);
  assert_int_equal(sipr_print_response(&b, req.m, 200, NULL, S("a b"),
                                       SIPR_STR_NULL),
                   SIPR_EINVAL);
  sipr_buf_free(&b);
  sipr_buf_init(&b);
  assert_int_equal(sipr_print_response(&b, req.m, 1000, NULL, S("a"),
                                       SIPR_STR_NULL),
                   SIPR_EINVAL);
  sipr_buf_free(&b);
  parsed_free(&req);

  /* A To that has a tag keeps it; a response is refused. */
  parse_okz(&req, "BYE sip:carol@chicago.example.com SIP/2.0\r\n"
                  "Via: SIP/2.0/UDP 192.0.2.8;branch=z9hG4bKd\r\n"
                  "To: <sip:carol@chicago.example.com>;tag=314\r\n"
                  "From: <sip:alice@atlanta.example.com>;tag=88\r\n"
                  "Call-ID: bye1\r\n"
                  "CSeq: 8 BYE\r\n"
                  "Content-Length: 0\r\n"
                  "\r\n");
  sipr_buf_init(&b);
  assert_int_equal(sipr_print_response(&b, req.m, 481, NULL, S("new"),
                                       SIPR_STR_NULL),
                   0);
  assert_string_equal(b.p, "SIP/2.0 481 Call/Transaction Does Not Exist\r\n"
                           "Via: SIP/2.0/UDP 192.0.2.8;branch=z9hG4bKd\r\n"
                           "From: <sip:alice@atlanta.example.com>;tag=88\r\n"
                           "To: <sip:carol@chicago.example.com>;tag=314\r\n"
                           "Call-ID: bye1\r\n"
                           "CSeq: 8 BYE\r\n"
                           "Content-Length: 0\r\n"
                           "\r\n");
  sipr_buf_free(&b);
  parsed_free(&req);

  parse_okz(&req, "SIP/2.0 200 OK\r\n"
                  "Via: SIP/2.0/UDP 192.0.2.8;branch=z9hG4bKd\r\n"
                  "To: <sip:carol@chicago.example.com>;tag=314\r\n"
                  "From: <sip:alice@atlanta.example.com>;tag=88\r\n"
                  "Call-ID: bye1\r\n"
                  "CSeq: 8 BYE\r\n"
                  "Content-Length: 0\r\n"
                  "\r\n");
  sipr_buf_init(&b);
  assert_int_equal(sipr_print_response(&b, req.m, 200, NULL, S("x"),
                                       SIPR_STR_NULL),
                   SIPR_EINVAL);
  sipr_buf_free(&b);
  parsed_free(&req);
}

/* A request that failed to parse is answered as far as it goes. */
static void test_response_partial(void **state) {
  (void)state;
  static const char req[] = "INVITE sip:x@example.com SIP/2.0\r\n"
                            "Via: SIP/2.0/UDP 192.0.2.8;branch=z9hG4bKe\r\n"
                            "From: <sip:a@example.com>;tag=1\r\n"
                            "To: <sip:x@example.com\r\n" /* no '>' */
                            "Call-ID: c1\r\n"
                            "CSeq: 1 INVITE\r\n"
                            "Content-Length: 0\r\n"
                            "\r\n";
  sipr_arena_t a;
  sipr_msg_t *m;
  sipr_perr_t err;
  sipr_arena_init(&a, NULL, 0, 0);
  assert_int_equal(sipr_msg_parse(&a, req, strlen(req), 0, &m, &err), 0);
  assert_int_not_equal(sipr_msg_check(m, &err), 0);
  assert_int_equal(err.status, 400);
  sipr_buf_t b;
  sipr_buf_init(&b);
  assert_int_equal(
      sipr_print_response(&b, m, err.status, NULL, S("t1"), SIPR_STR_NULL), 0);
  assert_string_equal(b.p, "SIP/2.0 400 Bad Request\r\n"
                           "Via: SIP/2.0/UDP 192.0.2.8;branch=z9hG4bKe\r\n"
                           "From: <sip:a@example.com>;tag=1\r\n"
                           "To: <sip:x@example.com\r\n"
                           "Call-ID: c1\r\n"
                           "CSeq: 1 INVITE\r\n"
                           "Content-Length: 0\r\n"
                           "\r\n");
  sipr_buf_free(&b);
  sipr_arena_free(&a);
}

/* ---- edits (§16.6) ------------------------------------------------------- */

#define INVITE_HEAD "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
#define INVITE_VIA                                                             \
  "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8\r\n"
#define INVITE_ROUTE                                                           \
  "Route: <sip:p1.example.com;lr>,\r\n"                                        \
  "  <sip:p2.example.com;lr>\r\n"                                              \
  "Route: <sip:p3.example.com;lr>\r\n"
#define INVITE_MID                                                             \
  "X-Folded: first part\r\n"                                                   \
  "\tsecond part\r\n"                                                          \
  "To: Bob <sip:bob@biloxi.example.com>\r\n"                                   \
  "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"             \
  "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"                       \
  "CSeq: 314159 INVITE\r\n"
#define INVITE_RR "Record-Route: <sip:p0.example.com;lr>\r\n"
#define INVITE_TAIL                                                            \
  "X-Unknown:   spaced   value  \r\n"                                          \
  "P-Odd : a,b,\r\n"                                                           \
  " c\r\n"                                                                     \
  "Contact: <sip:alice@pc33.atlanta.example.com>\r\n"                          \
  "Content-Type: application/sdp\r\n"                                          \
  "Content-Length: 14\r\n"                                                     \
  "\r\n"                                                                       \
  "v=0\r\n\r\nl: 99\r\n"

#define NEW_VIA "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1"
#define NEW_RR "<sip:proxy.example.com;lr>"

static void print_edits(sipr_edits_t *ed, sipr_buf_t *b) {
  sipr_buf_init(b);
  assert_int_equal(sipr_edits_print(ed, b), 0);
}

static void test_edit_proxy(void **state) {
  (void)state;
  static const char in[] = INVITE_HEAD INVITE_VIA "Max-Forwards: 70\r\n"
      INVITE_ROUTE INVITE_MID INVITE_RR INVITE_TAIL;
  parsed_t p;
  parse_okz(&p, in);

  /* No edits: the same bytes. */
  sipr_edits_t ed;
  sipr_edits_init(&ed, p.m);
  sipr_buf_t b;
  print_edits(&ed, &b);
  assert_int_equal(b.len, strlen(in));
  assert_memory_equal(b.p, in, b.len);
  sipr_buf_free(&b);

  /* What a proxy does: §16.4 Route, §16.6 steps 2, 3, 4, 8. Recorded out
   * of offset order on purpose. */
  assert_int_equal(sipr_edit_add_record_route(&ed, S(NEW_RR)), 0);
  assert_int_equal(sipr_edit_remove_top_route(&ed), 0);
  assert_int_equal(sipr_edit_dec_max_forwards(&ed, 70), 0);
  assert_int_equal(sipr_edit_prepend_via(&ed, S(NEW_VIA)), 0);
  assert_int_equal(sipr_edit_set_ruri(&ed, S("sip:bob@192.0.2.4")), 0);
  print_edits(&ed, &b);
  assert_string_equal(b.p,
                      "INVITE sip:bob@192.0.2.4 SIP/2.0\r\n"
                      "Via: " NEW_VIA "\r\n" INVITE_VIA "Max-Forwards: 69\r\n"
                      "Route: <sip:p2.example.com;lr>\r\n"
                      "Route: <sip:p3.example.com;lr>\r\n" INVITE_MID
                      "Record-Route: " NEW_RR "\r\n" INVITE_RR INVITE_TAIL);
  /* The original buffer is untouched. */
  assert_int_equal(sipr_msg_max_forwards(p.m), 70);

  /* Printed, then parsed again: what the next hop sees. */
  parsed_t q;
  parse_ok(&q, b.p, b.len);
  assert_str(q.m->ruri_str, "sip:bob@192.0.2.4");
  assert_str(sipr_msg_via(q.m)->branch, "z9hG4bKp1");
  assert_str(sipr_msg_via(q.m)->host, "proxy.example.com");
  assert_int_equal(count_values(q.m, SIPR_HDR_VIA), 2);
  assert_str(top_route(q.m), "sip:p2.example.com;lr");
  assert_int_equal(count_values(q.m, SIPR_HDR_ROUTE), 2);
  assert_int_equal(sipr_msg_max_forwards(q.m), 69);
  sipr_addr_t *rr = sipr_msg_get(q.m, SIPR_HDR_RECORD_ROUTE);
  assert_non_null(rr);
  assert_str(rr->uri.raw, "sip:proxy.example.com;lr");
  assert_int_equal(count_values(q.m, SIPR_HDR_RECORD_ROUTE), 2);
  assert_str(q.m->body, "v=0\r\n\r\nl: 99\r\n");
  /* Unknown headers as they were, folding included. */
  sipr_hdr_t *h = q.m->hdrs;
  while (h && !sipr_str_eq(h->name, SIPR_STR("X-Folded")))
    h = h->next;
  assert_non_null(h);
  assert_str(h->raw, "X-Folded: first part\r\n\tsecond part\r\n");
  parsed_free(&q);
  sipr_buf_free(&b);
  parsed_free(&p);
}

/* No Max-Forwards and no Record-Route: both go after the last Via, in the
 * order recorded. */
static void test_edit_absent(void **state) {
  (void)state;
  static const char in[] = "MESSAGE sip:bob@biloxi.example.com SIP/2.0\r\n"
                           "v: SIP/2.0/TCP a.example.com;branch=z9hG4bK1\r\n"
                           "To: <sip:bob@biloxi.example.com>\r\n"
                           "Via: SIP/2.0/TCP b.example.com;branch=z9hG4bK2\r\n"
                           "From: <sip:alice@atlanta.example.com>;tag=1\r\n"
                           "Call-ID: m1\r\n"
                           "CSeq: 1 MESSAGE\r\n"
                           "l: 2\r\n"
                           "\r\n"
                           "hi";
  parsed_t p;
  parse_okz(&p, in);
  sipr_edits_t ed;
  sipr_edits_init(&ed, p.m);
  assert_int_equal(sipr_edit_remove_top_route(&ed), SIPR_ENOENT);
  assert_int_equal(sipr_edit_dec_max_forwards(&ed, 70), 0);
  assert_int_equal(sipr_edit_add_record_route(&ed, S(NEW_RR)), 0);
  assert_int_equal(sipr_edit_prepend_via(&ed, S(NEW_VIA)), 0);
  assert_int_equal(sipr_edit_add_header(&ed, "X-Proxy", S("1")), 0);
  sipr_buf_t b;
  print_edits(&ed, &b);
  assert_string_equal(b.p, "MESSAGE sip:bob@biloxi.example.com SIP/2.0\r\n"
                           "Via: " NEW_VIA "\r\n"
                           "v: SIP/2.0/TCP a.example.com;branch=z9hG4bK1\r\n"
                           "To: <sip:bob@biloxi.example.com>\r\n"
                           "Via: SIP/2.0/TCP b.example.com;branch=z9hG4bK2\r\n"
                           "Max-Forwards: 70\r\n"
                           "Record-Route: " NEW_RR "\r\n"
                           "From: <sip:alice@atlanta.example.com>;tag=1\r\n"
                           "Call-ID: m1\r\n"
                           "CSeq: 1 MESSAGE\r\n"
                           "l: 2\r\n"
                           "X-Proxy: 1\r\n"
                           "\r\n"
                           "hi");
  parsed_t q;
  parse_ok(&q, b.p, b.len);
  assert_int_equal(sipr_msg_max_forwards(q.m), 70);
  assert_int_equal(count_values(q.m, SIPR_HDR_VIA), 3);
  assert_str(sipr_msg_via(q.m)->branch, "z9hG4bKp1");
  parsed_free(&q);
  sipr_buf_free(&b);

  /* Decrementing again goes on from the value added. */
  assert_int_equal(sipr_edit_dec_max_forwards(&ed, 70), 0);
  print_edits(&ed, &b);
  assert_non_null(strstr(b.p, "\r\nMax-Forwards: 69\r\n"));
  sipr_buf_free(&b);
  parsed_free(&p);
}

/* Route values removed one by one, across fields, with commas inside
 * quotes and <>; then nothing left. */
static void test_edit_routes(void **state) {
  (void)state;
  static const char in[] =
      "BYE sip:bob@192.0.2.4 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK9\r\n"
      "Max-Forwards: 1\r\n"
      "Route: \"A, the first\" <sip:a,b@p1.example.com;lr> ,\r\n"
      "\t<sip:p2.example.com;lr>;x=\"q,r\", <sip:p3.example.com;lr>\r\n"
      "To: <sip:bob@biloxi.example.com>;tag=2\r\n"
      "Route: <sip:p4.example.com;lr>\r\n"
      "From: <sip:alice@atlanta.example.com>;tag=1\r\n"
      "Call-ID: r1\r\n"
      "CSeq: 2 BYE\r\n"
      "Content-Length: 0\r\n"
      "\r\n";
  static const char *const tops[] = {
      "sip:p2.example.com;lr", "sip:p3.example.com;lr", "sip:p4.example.com;lr"};
  parsed_t p;
  parse_okz(&p, in);
  assert_int_equal(count_values(p.m, SIPR_HDR_ROUTE), 4);
  sipr_edits_t ed;
  sipr_edits_init(&ed, p.m);
  for (unsigned i = 0; i < 4; i++) {
    assert_int_equal(sipr_edit_remove_top_route(&ed), 0);
    sipr_buf_t b;
    print_edits(&ed, &b);
    parsed_t q;
    parse_ok(&q, b.p, b.len);
    assert_int_equal(count_values(q.m, SIPR_HDR_ROUTE), 3 - i);
    if (i < 3)
      assert_str(top_route(q.m), tops[i]);
    else
      assert_null(q.m->first[SIPR_HDR_ROUTE]);
    if (i == 0)
      assert_non_null(strstr(b.p, "\r\nRoute: <sip:p2.example.com;lr>;x=\"q,r\","
                                  " <sip:p3.example.com;lr>\r\nTo:"));
    if (i == 1)
      assert_non_null(strstr(b.p, "\r\nRoute: <sip:p3.example.com;lr>\r\nTo:"));
    if (i == 2)
      assert_non_null(strstr(b.p, "Max-Forwards: 1\r\nTo:"));
    parsed_free(&q);
    sipr_buf_free(&b);
  }
  assert_int_equal(sipr_edit_remove_top_route(&ed), SIPR_ENOENT);

  /* Max-Forwards 1 -> 0, then no further. */
  assert_int_equal(sipr_edit_dec_max_forwards(&ed, 70), 0);
  assert_int_equal(sipr_edit_dec_max_forwards(&ed, 70), SIPR_ERANGE);
  sipr_buf_t b;
  print_edits(&ed, &b);
  assert_string_equal(b.p, "BYE sip:bob@192.0.2.4 SIP/2.0\r\n"
                           "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK9\r\n"
                           "Max-Forwards: 0\r\n"
                           "To: <sip:bob@biloxi.example.com>;tag=2\r\n"
                           "From: <sip:alice@atlanta.example.com>;tag=1\r\n"
                           "Call-ID: r1\r\n"
                           "CSeq: 2 BYE\r\n"
                           "Content-Length: 0\r\n"
                           "\r\n");
  sipr_buf_free(&b);
  parsed_free(&p);
}

static void test_edit_misc(void **state) {
  (void)state;
  /* Leading CRLFs are not forwarded (§7.5); a response can be edited
   * (a header added) but has no Request-URI. */
  static const char resp[] = "\r\n\r\nSIP/2.0 180 Ringing\r\n"
                             "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK9\r\n"
                             "To: <sip:bob@biloxi.example.com>;tag=2\r\n"
                             "From: <sip:alice@atlanta.example.com>;tag=1\r\n"
                             "Call-ID: r1\r\n"
                             "CSeq: 2 INVITE\r\n"
                             "Max-Forwards: 0\r\n"
                             "Content-Length: 0\r\n"
                             "\r\n";
  parsed_t p;
  parse_okz(&p, resp);
  sipr_edits_t ed;
  sipr_edits_init(&ed, p.m);
  assert_int_equal(sipr_edit_set_ruri(&ed, S("sip:x")), SIPR_EINVAL);
  assert_int_equal(sipr_edit_dec_max_forwards(&ed, 70), SIPR_ERANGE);
  assert_int_equal(sipr_edit_remove_header(&ed, p.m->first[SIPR_HDR_MAX_FORWARDS]), 0);
  sipr_buf_t b;
  print_edits(&ed, &b);
  assert_string_equal(b.p, "SIP/2.0 180 Ringing\r\n"
                           "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK9\r\n"
                           "To: <sip:bob@biloxi.example.com>;tag=2\r\n"
                           "From: <sip:alice@atlanta.example.com>;tag=1\r\n"
                           "Call-ID: r1\r\n"
                           "CSeq: 2 INVITE\r\n"
                           "Content-Length: 0\r\n"
                           "\r\n");
  sipr_buf_free(&b);

  /* Bad texts. */
  assert_int_equal(sipr_edit_prepend_via(&ed, S("")), SIPR_EINVAL);
  assert_int_equal(sipr_edit_prepend_via(&ed, S("a\r\nX: y")), SIPR_EINVAL);
  assert_int_equal(sipr_edit_add_record_route(&ed, S(" <sip:x>")), SIPR_EINVAL);
  assert_int_equal(sipr_edit_add_header(&ed, "Bad Name", S("v")), SIPR_EINVAL);
  assert_int_equal(sipr_edit_add_header(&ed, "X", S("v\n")), SIPR_EINVAL);

  /* Overlapping edits are refused at print time. */
  assert_int_equal(sipr_edit_remove_header(&ed, p.m->first[SIPR_HDR_MAX_FORWARDS]), 0);
  sipr_buf_init(&b);
  assert_int_equal(sipr_edits_print(&ed, &b), SIPR_EINVAL);
  sipr_buf_free(&b);
  parsed_free(&p);

  /* The edit table is bounded. */
  parse_okz(&p, INVITE_HEAD INVITE_VIA INVITE_MID "Content-Length: 0\r\n\r\n");
  sipr_edits_init(&ed, p.m);
  for (unsigned i = 0; i < SIPR_EDITS_MAX; i++)
    assert_int_equal(sipr_edit_add_header(&ed, "X-N", S("v")), 0);
  assert_int_equal(sipr_edit_add_header(&ed, "X-N", S("v")), SIPR_ETOOBIG);
  /* Setting the Request-URI twice keeps one edit... */
  sipr_edits_init(&ed, p.m);
  assert_int_equal(sipr_edit_set_ruri(&ed, S("sip:first@x")), 0);
  assert_int_equal(sipr_edit_set_ruri(&ed, S("sip:second@x")), 0);
  assert_int_equal(ed.n, 1);
  assert_int_equal(sipr_edit_set_ruri(&ed, S("sip:bad uri")), SIPR_EINVAL);
  print_edits(&ed, &b);
  assert_true(strncmp(b.p, "INVITE sip:second@x SIP/2.0\r\n", 29) == 0);
  sipr_buf_free(&b);
  parsed_free(&p);
}

int sipr_test_print(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reason_phrases),
      cmocka_unit_test(test_build),
      cmocka_unit_test(test_response),
      cmocka_unit_test(test_response_partial),
      cmocka_unit_test(test_edit_proxy),
      cmocka_unit_test(test_edit_absent),
      cmocka_unit_test(test_edit_routes),
      cmocka_unit_test(test_edit_misc),
  };
  return cmocka_run_group_tests_name("print", tests, NULL, NULL);
}
