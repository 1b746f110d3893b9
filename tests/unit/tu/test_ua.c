/* UA core tests (include/sipr/ua.h): requests, digest answers,
 * registration refresh, dialogs (RFC 3261 §12), INVITE on both sides
 * (§13), CANCEL (§9), BYE (§15), re-INVITE glare (§14), forked 2xx, SDP,
 * the UAS's Request-URI and To checks (§8.2.2.1), merged requests
 * (§8.2.2.2), responses with two Via values (§8.1.3.3).
 * The real transaction layer runs on a fake clock; the transport is a fake
 * that keeps every message sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipr/auth.h"
#include "sipr/print.h"
#include "sipr/ua.h"

#define MAX_SENT 128
#define MAX_EV 64

typedef struct sent {
  char *text;
  sipr_tp_addr_t dest; /* requests */
  int is_response;
} sent_t;

typedef struct ev_rec {
  sipr_ua_ev_type_t type;
  unsigned status;
  sipr_call_t *call;
} ev_rec_t;

static struct fx {
  sipr_fake_clock_t fc;
  sipr_loop_t *loop;
  sipr_ua_t *ua;
  sent_t sent[MAX_SENT];
  unsigned nsent, total_sent;
  ev_rec_t ev[MAX_EV];
  unsigned nev;
  sipr_arena_t a;
  sipr_call_t *incoming;
  int auto_answer;
} fx;

/* ---- fakes --------------------------------------------------------------- */
static void keep(const char *buf, size_t len, const sipr_tp_addr_t *dest,
                 int resp) {
  assert_true(fx.nsent < MAX_SENT);
  sent_t *s = &fx.sent[fx.nsent++];
  fx.total_sent++;
  s->text = malloc(len + 1);
  assert_non_null(s->text);
  memcpy(s->text, buf, len);
  s->text[len] = '\0';
  if (dest)
    s->dest = *dest;
  s->is_response = resp;
}

static int tp_send_request(void *ctx, const sipr_tp_addr_t *dest,
                           const char *buf, size_t len, uint64_t *conn_id) {
  (void)ctx;
  if (conn_id)
    *conn_id = 0;
  keep(buf, len, dest, 0);
  return 0;
}

static int tp_send_response(void *ctx, const sipr_tp_src_t *src,
                            const sipr_via_t *via, const char *buf,
                            size_t len) {
  (void)ctx, (void)src, (void)via;
  keep(buf, len, NULL, 1);
  return 0;
}

static const sipr_txn_tp_ops_t tp_ops = {tp_send_request, tp_send_response};

static void on_event(void *user, const sipr_ua_ev_t *ev) {
  (void)user;
  assert_true(fx.nev < MAX_EV);
  assert_non_null(ev->reason);
  fx.ev[fx.nev].type = ev->type;
  fx.ev[fx.nev].status = ev->status;
  fx.ev[fx.nev].call = ev->call;
  fx.nev++;
  if (ev->type == SIPR_UA_EV_INCOMING) {
    fx.incoming = ev->call;
    if (fx.auto_answer)
      assert_int_equal(sipr_call_answer(ev->call, NULL), 0);
  }
  if (ev->type == SIPR_UA_EV_GONE && ev->call == fx.incoming)
    fx.incoming = NULL;
}

static int setup(void **state) {
  (void)state;
  memset(&fx, 0, sizeof(fx));
  sipr_fake_clock_init(&fx.fc, 1000000);
  fx.loop = sipr_loop_new(&fx.fc.clock);
  assert_non_null(fx.loop);
  sipr_ua_cfg_t cfg;
  sipr_ua_cfg_default(&cfg);
  cfg.from = "sip:alice@example.com";
  cfg.host = "192.0.2.10";
  cfg.port = 5060;
  cfg.user = "alice";
  cfg.password = "secret";
  char err[128];
  fx.ua = sipr_ua_new(fx.loop, &cfg, &tp_ops, NULL, on_event, NULL, err,
                      sizeof(err));
  assert_non_null(fx.ua);
  sipr_arena_init(&fx.a, NULL, 0, 0);
  return 0;
}

static void clear_sent(void) {
  for (unsigned i = 0; i < fx.nsent; i++)
    free(fx.sent[i].text);
  fx.nsent = 0;
}

static int teardown(void **state) {
  (void)state;
  sipr_ua_free(fx.ua);
  sipr_loop_free(fx.loop);
  clear_sent();
  sipr_arena_free(&fx.a);
  return 0;
}

/* ---- helpers ------------------------------------------------------------- */
static sipr_msg_t *parse(const char *text) {
  sipr_msg_t *m = NULL;
  sipr_perr_t err;
  assert_int_equal(
      sipr_msg_parse(&fx.a, text, strlen(text), SIPR_PARSE_DATAGRAM, &m, &err),
      0);
  assert_int_equal(sipr_msg_check(m, &err), 0);
  return m;
}

/* The i-th message sent (negative: from the end), parsed. */
static sipr_msg_t *sent(int i) {
  int idx = i < 0 ? (int)fx.nsent + i : i;
  assert_true(idx >= 0 && idx < (int)fx.nsent);
  return parse(fx.sent[idx].text);
}

static const char *hdr(sipr_msg_t *m, sipr_hdr_type_t t) {
  static char out[2048];
  if (!m->first[t])
    return NULL;
  snprintf(out, sizeof(out), "%.*s", SIPR_STR_ARG(m->first[t]->value));
  return out;
}

/* Feeds text as received over UDP from 192.0.2.20:5060. */
static void feed(const char *text) {
  size_t len = strlen(text);
  char *copy = malloc(len + 1);
  assert_non_null(copy);
  memcpy(copy, text, len + 1);
  sipr_arena_t a;
  sipr_arena_init(&a, NULL, 0, 1 << 20);
  sipr_msg_t *m = NULL;
  sipr_perr_t err;
  assert_int_equal(sipr_msg_parse(&a, copy, len, SIPR_PARSE_DATAGRAM, &m, &err),
                   0);
  assert_int_equal(sipr_msg_check(m, &err), 0);
  sipr_tp_src_t src;
  memset(&src, 0, sizeof(src));
  assert_int_equal(sipr_tp_addr_parse("udp:192.0.2.20:5060", &src.remote), 0);
  assert_int_equal(sipr_tp_addr_parse("udp:192.0.2.10:5060", &src.local), 0);
  sipr_ua_recv(fx.ua, m, &src);
  memset(copy, 'x', len);
  free(copy);
  sipr_arena_free(&a);
  sipr_loop_run_once(fx.loop, 0);
}

/* A response to the request text req: status, To tag (NULL: none added),
 * extra header lines. */
static const char *reply(const char *req, unsigned status, const char *tag,
                         const char *extra) {
  static char out[8192];
  sipr_arena_t a;
  sipr_arena_init(&a, NULL, 0, 0);
  sipr_msg_t *m = NULL;
  sipr_perr_t err;
  assert_int_equal(
      sipr_msg_parse(&a, req, strlen(req), SIPR_PARSE_DATAGRAM, &m, &err), 0);
  sipr_buf_t b;
  sipr_buf_init(&b);
  assert_int_equal(
      sipr_print_response(&b, m, status, NULL,
                          tag ? sipr_str_cstr(tag) : SIPR_STR_NULL,
                          extra ? sipr_str_cstr(extra) : SIPR_STR_NULL),
      0);
  snprintf(out, sizeof(out), "%.*s", (int)b.len, b.p);
  sipr_buf_free(&b);
  sipr_arena_free(&a);
  return out;
}

static unsigned count_ev(sipr_ua_ev_type_t t) {
  unsigned n = 0;
  for (unsigned i = 0; i < fx.nev; i++)
    n += fx.ev[i].type == t;
  return n;
}

static const ev_rec_t *last_ev(sipr_ua_ev_type_t t) {
  for (unsigned i = fx.nev; i-- > 0;)
    if (fx.ev[i].type == t)
      return &fx.ev[i];
  return NULL;
}

static unsigned count_sent(const char *start) {
  unsigned n = 0;
  for (unsigned i = 0; i < fx.nsent; i++)
    n += strncmp(fx.sent[i].text, start, strlen(start)) == 0;
  return n;
}

static const char *last_sent(const char *start) {
  for (unsigned i = fx.nsent; i-- > 0;)
    if (strncmp(fx.sent[i].text, start, strlen(start)) == 0)
      return fx.sent[i].text;
  return NULL;
}

static void advance(uint64_t ms) {
  sipr_loop_advance(fx.loop, &fx.fc, ms);
}

/* ---- §8.1: requests outside a dialog ---------------------------------------
 */
static void test_request_fields(void **state) {
  (void)state;
  sipr_ua_req_opts_t o = {.method = "OPTIONS", .ruri = "sip:bob@192.0.2.20"};
  char err[128];
  assert_int_equal(sipr_ua_request(fx.ua, &o, NULL, NULL, err, sizeof(err)), 0);
  assert_int_equal(fx.nsent, 1);
  sipr_msg_t *m = sent(0);
  assert_true(m->is_request);
  assert_int_equal(m->method_id, SIPR_METHOD_OPTIONS);
  /* §8.1.1: Request-URI, To without tag, From with tag, Call-ID, CSeq,
   * Max-Forwards 70, Via with the magic cookie. */
  assert_true(sipr_str_eq(m->ruri_str, SIPR_STR("sip:bob@192.0.2.20")));
  assert_null(sipr_msg_to(m)->tag.p);
  assert_non_null(sipr_msg_from(m)->tag.p);
  assert_true(sipr_msg_call_id(m).len > 0);
  assert_int_equal(sipr_msg_cseq(m)->method_id, SIPR_METHOD_OPTIONS);
  assert_int_equal(sipr_msg_max_forwards(m), 70);
  sipr_via_t *via = sipr_msg_via(m);
  assert_true(via->branch.len > 7 && memcmp(via->branch.p, "z9hG4bK", 7) == 0);
  assert_true(sipr_str_eq(via->host, SIPR_STR("192.0.2.10")));
  assert_non_null(hdr(m, SIPR_HDR_SUPPORTED));
  assert_string_equal(hdr(m, SIPR_HDR_USER_AGENT), "sipr");
  /* Sent to the Request-URI's host on the default port (§8.1.2). */
  char a[64];
  assert_string_equal(sipr_tp_addr_str(&fx.sent[0].dest, a, sizeof(a)),
                      "udp:192.0.2.20:5060");
  feed(reply(fx.sent[0].text, 200, "t1", NULL));
  assert_int_equal(count_ev(SIPR_UA_EV_RESPONSE), 1);
  assert_int_equal(last_ev(SIPR_UA_EV_RESPONSE)->status, 200);
  assert_int_equal(sipr_ua_busy(fx.ua), 0);
}

static void test_bad_uri_and_timeout(void **state) {
  (void)state;
  sipr_ua_req_opts_t o = {.method = "OPTIONS", .ruri = "sip:bob@@"};
  char err[128] = "";
  assert_int_equal(sipr_ua_request(fx.ua, &o, NULL, NULL, err, sizeof(err)),
                   SIPR_EINVAL);
  assert_non_null(strstr(err, "bad"));
  assert_int_equal(fx.nev, 0);
  o.ruri = "sip:bob@192.0.2.20";
  assert_int_equal(sipr_ua_request(fx.ua, &o, NULL, NULL, err, sizeof(err)), 0);
  /* §8.1.3.1: Timer F (64*T1) counts as 408, with no message. */
  advance(31000);
  assert_int_equal(count_ev(SIPR_UA_EV_RESPONSE), 0);
  advance(2000);
  assert_int_equal(count_ev(SIPR_UA_EV_RESPONSE), 1);
  assert_int_equal(last_ev(SIPR_UA_EV_RESPONSE)->status, 408);
}

static void test_outbound_proxy(void **state) {
  (void)state;
  sipr_ua_free(fx.ua);
  sipr_ua_cfg_t cfg;
  sipr_ua_cfg_default(&cfg);
  cfg.from = "sip:alice@example.com";
  cfg.host = "192.0.2.10";
  cfg.port = 5060;
  cfg.proxy = "sip:192.0.2.30:5070";
  fx.ua = sipr_ua_new(fx.loop, &cfg, &tp_ops, NULL, on_event, NULL, NULL, 0);
  assert_non_null(fx.ua);
  sipr_ua_req_opts_t o = {.method = "MESSAGE",
                          .ruri = "sip:bob@example.org",
                          .ctype = "text/plain",
                          .body = "hi",
                          .body_len = 2};
  assert_int_equal(sipr_ua_request(fx.ua, &o, NULL, NULL, NULL, 0), 0);
  /* §8.1.2: to the proxy whatever the Request-URI, with a loose Route. */
  char a[64];
  assert_string_equal(sipr_tp_addr_str(&fx.sent[0].dest, a, sizeof(a)),
                      "udp:192.0.2.30:5070");
  sipr_msg_t *m = sent(0);
  assert_true(sipr_str_eq(m->ruri_str, SIPR_STR("sip:bob@example.org")));
  assert_string_equal(hdr(m, SIPR_HDR_ROUTE), "<sip:192.0.2.30:5070;lr>");
  assert_true(sipr_str_eq(m->body, SIPR_STR("hi")));
}

/* §8.1.3.4: 3xx recursion only when asked, to the Contacts by q. */
static void test_redirect(void **state) {
  (void)state;
  sipr_ua_req_opts_t o = {.method = "OPTIONS", .ruri = "sip:bob@192.0.2.20"};
  assert_int_equal(sipr_ua_request(fx.ua, &o, NULL, NULL, NULL, 0), 0);
  feed(reply(fx.sent[0].text, 302, "t1", "Contact: <sip:bob@192.0.2.51>\r\n"));
  assert_int_equal(fx.nsent, 1); /* not asked: the 302 is the answer */
  assert_int_equal(last_ev(SIPR_UA_EV_RESPONSE)->status, 302);
  o.follow_redirects = 1;
  assert_int_equal(sipr_ua_request(fx.ua, &o, NULL, NULL, NULL, 0), 0);
  feed(reply(
      fx.sent[1].text, 302, "t2",
      "Contact: <sip:bob@192.0.2.51>;q=0.2, <sip:bob@192.0.2.52>;q=0.9\r\n"));
  assert_int_equal(fx.nsent, 3);
  sipr_msg_t *m = sent(2);
  assert_true(sipr_str_eq(m->ruri_str, SIPR_STR("sip:bob@192.0.2.52")));
  assert_int_equal(sipr_msg_cseq(m)->seq, sipr_msg_cseq(sent(1))->seq + 1);
  char a[64];
  assert_string_equal(sipr_tp_addr_str(&fx.sent[2].dest, a, sizeof(a)),
                      "udp:192.0.2.52:5060");
  feed(reply(fx.sent[2].text, 200, "t3", NULL));
  assert_int_equal(last_ev(SIPR_UA_EV_RESPONSE)->status, 200);
}

/* ---- §22: digest ------------------------------------------------------------
 */
static void challenge(sipr_auth_server_t *srv, const char *hname, char *out,
                      size_t cap) {
  sipr_buf_t b;
  sipr_buf_init(&b);
  assert_int_equal(sipr_auth_challenge_lines(
                       srv, hname, SIPR_STR("example.com"), 0, 1000, &b),
                   0);
  snprintf(out, cap, "%.*s", (int)b.len, b.p);
  sipr_buf_free(&b);
}

static void verify(sipr_auth_server_t *srv, sipr_msg_t *m, sipr_hdr_type_t t) {
  sipr_auth_t *cred = sipr_msg_get(m, t);
  assert_non_null(cred);
  char ha1[SIPR_AUTH_HEX_MAX];
  assert_int_equal(sipr_auth_ha1(sipr_auth_alg_from_str(cred->algorithm),
                                 "alice", "example.com", "secret", ha1),
                   0);
  assert_int_equal(
      sipr_auth_verify(srv, cred, m->method, ha1, 1000, SIPR_STR_NULL),
      SIPR_AUTH_OK);
}

static void test_digest_401_407(void **state) {
  (void)state;
  sipr_auth_server_t *srv = NULL;
  assert_int_equal(sipr_auth_server_new(NULL, &srv), 0);
  sipr_ua_req_opts_t o = {.method = "OPTIONS", .ruri = "sip:bob@192.0.2.20"};
  assert_int_equal(sipr_ua_request(fx.ua, &o, NULL, NULL, NULL, 0), 0);
  uint32_t cseq0 = sipr_msg_cseq(sent(0))->seq;
  char ch[4096];
  challenge(srv, "WWW-Authenticate", ch, sizeof(ch));
  feed(reply(fx.sent[0].text, 401, "t1", ch));
  /* Answered once (§22.2): a new request, CSeq + 1, SHA-256 preferred. */
  assert_int_equal(fx.nsent, 2);
  sipr_msg_t *m = sent(1);
  assert_int_equal(sipr_msg_cseq(m)->seq, cseq0 + 1);
  verify(srv, m, SIPR_HDR_AUTHORIZATION);
  assert_non_null(strstr(hdr(m, SIPR_HDR_AUTHORIZATION), "SHA-256"));
  assert_non_null(strstr(hdr(m, SIPR_HDR_AUTHORIZATION), "nc=00000001"));
  assert_int_equal(count_ev(SIPR_UA_EV_RESPONSE), 0);
  /* A proxy challenges next (407): answered too, both credentials kept,
   * the 401's nonce-count advanced. */
  char pch[4096];
  challenge(srv, "Proxy-Authenticate", pch, sizeof(pch));
  feed(reply(fx.sent[1].text, 407, "t2", pch));
  assert_int_equal(fx.nsent, 3);
  m = sent(2);
  verify(srv, m, SIPR_HDR_PROXY_AUTHORIZATION);
  assert_non_null(strstr(hdr(m, SIPR_HDR_AUTHORIZATION), "nc=00000002"));
  /* The same challenge again means wrong credentials: no loop, the 407
   * is the answer. */
  feed(reply(fx.sent[2].text, 407, "t3", pch));
  assert_int_equal(fx.nsent, 3);
  assert_int_equal(last_ev(SIPR_UA_EV_RESPONSE)->status, 407);
  sipr_auth_server_free(srv);
}

/* ---- §10.2: registration
 * ------------------------------------------------------ */
static void test_register_refresh_remove(void **state) {
  (void)state;
  sipr_ua_reg_t *g = NULL;
  assert_int_equal(sipr_ua_register(fx.ua, "sip:alice@example.com",
                                    "sip:192.0.2.20", 120, 1, NULL, &g, NULL,
                                    0),
                   0);
  sipr_msg_t *m = sent(0);
  assert_int_equal(m->method_id, SIPR_METHOD_REGISTER);
  assert_true(sipr_str_eq(m->ruri_str, SIPR_STR("sip:192.0.2.20")));
  assert_string_equal(hdr(m, SIPR_HDR_TO), "<sip:alice@example.com>");
  assert_string_equal(hdr(m, SIPR_HDR_CONTACT), "<sip:alice@192.0.2.10:5060>");
  assert_string_equal(hdr(m, SIPR_HDR_EXPIRES), "120");
  sipr_str_t cid = sipr_msg_call_id(m);
  char call_id[128];
  snprintf(call_id, sizeof(call_id), "%.*s", SIPR_STR_ARG(cid));
  uint32_t cseq = sipr_msg_cseq(m)->seq;
  /* The registrar grants 80 s on our Contact. */
  feed(reply(fx.sent[0].text, 200, "r1",
             "Contact: <sip:alice@192.0.2.10:5060>;expires=80\r\n"));
  assert_int_equal(last_ev(SIPR_UA_EV_REG)->status, 200);
  assert_int_equal(sipr_ua_reg_expires(g), 80);
  /* Refreshed 30 s before it ends (§10.2.4): same Call-ID, CSeq + 1. */
  advance(49000);
  assert_int_equal(fx.nsent, 1);
  advance(1200); /* before Timer E re-sends it */
  assert_int_equal(fx.nsent, 2);
  m = sent(1);
  assert_true(sipr_str_eq(sipr_msg_call_id(m), sipr_str_cstr(call_id)));
  assert_int_equal(sipr_msg_cseq(m)->seq, cseq + 1);
  feed(reply(fx.sent[1].text, 200, "r1",
             "Contact: <sip:alice@192.0.2.10:5060>;expires=120\r\n"));
  /* Removal: Expires 0 (§10.2.2). */
  assert_int_equal(sipr_ua_reg_remove(g), 0);
  m = sent(2);
  assert_string_equal(hdr(m, SIPR_HDR_EXPIRES), "0");
  assert_int_equal(sipr_msg_cseq(m)->seq, cseq + 2);
  feed(reply(fx.sent[2].text, 200, "r1", NULL));
  assert_int_equal(count_ev(SIPR_UA_EV_REG), 3);
  advance(200000);
  assert_int_equal(fx.nsent, 3); /* no refresh after removal */
}

static void test_register_423(void **state) {
  (void)state;
  assert_int_equal(sipr_ua_register(fx.ua, "sip:alice@example.com",
                                    "sip:192.0.2.20", 30, 0, NULL, NULL, NULL,
                                    0),
                   0);
  feed(reply(fx.sent[0].text, 423, "r1", "Min-Expires: 60\r\n"));
  /* §10.2.8: retried with Min-Expires. */
  assert_int_equal(fx.nsent, 2);
  assert_string_equal(hdr(sent(1), SIPR_HDR_EXPIRES), "60");
  assert_int_equal(count_ev(SIPR_UA_EV_REG), 0);
}

/* ---- §12, §13: the UAC side
 * -------------------------------------------------- */
#define RR2                                                                    \
  "Record-Route: <sip:192.0.2.41;lr>\r\nRecord-Route: <sip:192.0.2.42;lr>\r\n"

static sipr_call_t *uac_call(void) {
  sipr_call_t *c = NULL;
  assert_int_equal(
      sipr_ua_call(fx.ua, "sip:bob@192.0.2.20", "v=0\r\n", NULL, &c, NULL, 0),
      0);
  assert_non_null(c);
  return c;
}

static void test_uac_dialog_route_set(void **state) {
  (void)state;
  sipr_call_t *c = uac_call();
  char inv[4096];
  snprintf(inv, sizeof(inv), "%s", fx.sent[0].text);
  sipr_msg_t *m = sent(0);
  assert_int_equal(m->method_id, SIPR_METHOD_INVITE);
  assert_string_equal(hdr(m, SIPR_HDR_CONTACT), "<sip:alice@192.0.2.10:5060>");
  assert_non_null(hdr(m, SIPR_HDR_CONTENT_TYPE));
  /* §12.1.2: a 1xx with a To tag makes an early dialog. */
  feed(reply(inv, 180, "bt1", RR2 "Contact: <sip:bob@192.0.2.21>\r\n"));
  assert_int_equal(last_ev(SIPR_UA_EV_PROGRESS)->status, 180);
  sipr_dlg_t *d = sipr_call_dialog(c);
  assert_non_null(d);
  assert_true(sipr_dlg_early(d));
  /* The 2xx: confirmed, route set reversed, remote target from Contact. */
  feed(reply(inv, 200, "bt1", RR2 "Contact: <sip:bob@192.0.2.22:5062>\r\n"));
  assert_int_equal(count_ev(SIPR_UA_EV_ANSWERED), 1);
  d = sipr_call_dialog(c);
  assert_false(sipr_dlg_early(d));
  assert_int_equal(sipr_dlg_route_count(d), 2);
  assert_string_equal(sipr_dlg_route(d, 0), "<sip:192.0.2.42;lr>");
  assert_string_equal(sipr_dlg_route(d, 1), "<sip:192.0.2.41;lr>");
  assert_string_equal(sipr_dlg_remote_target(d), "sip:bob@192.0.2.22:5062");
  assert_string_equal(sipr_dlg_remote_tag(d), "bt1");
  /* §13.2.2.4: the ACK, to the first route, R-URI the remote target,
   * Route in order, the INVITE's CSeq number. */
  const char *ack = last_sent("ACK ");
  assert_non_null(ack);
  m = parse(ack);
  assert_true(sipr_str_eq(m->ruri_str, SIPR_STR("sip:bob@192.0.2.22:5062")));
  assert_string_equal(hdr(m, SIPR_HDR_ROUTE), "<sip:192.0.2.42;lr>");
  assert_int_equal(sipr_msg_cseq(m)->seq, sipr_msg_cseq(parse(inv))->seq);
  assert_int_equal(sipr_msg_cseq(m)->method_id, SIPR_METHOD_ACK);
  char a[64];
  assert_string_equal(
      sipr_tp_addr_str(&fx.sent[fx.nsent - 1].dest, a, sizeof(a)),
      "udp:192.0.2.42:5060");
  /* A retransmitted 2xx gets the same ACK again. */
  unsigned acks = count_sent("ACK ");
  feed(reply(inv, 200, "bt1", RR2 "Contact: <sip:bob@192.0.2.22:5062>\r\n"));
  assert_int_equal(count_sent("ACK "), acks + 1);
  assert_string_equal(last_sent("ACK "), ack);
  assert_int_equal(count_ev(SIPR_UA_EV_ANSWERED), 1);
  /* BYE (§15.1.1) in the dialog: CSeq above the INVITE's. */
  assert_int_equal(sipr_call_hangup(c), 0);
  m = parse(last_sent("BYE "));
  assert_int_equal(sipr_msg_cseq(m)->seq, sipr_msg_cseq(parse(inv))->seq + 1);
  assert_non_null(strstr(hdr(m, SIPR_HDR_TO), "tag=bt1"));
  feed(reply(last_sent("BYE "), 200, NULL, NULL));
  assert_int_equal(last_ev(SIPR_UA_EV_ENDED)->status, 200);
  advance(1);
  assert_int_equal(count_ev(SIPR_UA_EV_GONE), 1);
}

/* §8.1.3.2: unknown codes count as the x00 of their class. */
static void test_unknown_codes(void **state) {
  (void)state;
  uac_call();
  char inv[4096];
  snprintf(inv, sizeof(inv), "%s", fx.sent[0].text);
  feed(reply(inv, 183, NULL, NULL));
  feed(reply(inv, 199, "x", NULL));
  assert_int_equal(count_ev(SIPR_UA_EV_PROGRESS), 2);
  feed(reply(inv, 299, "x", "Contact: <sip:bob@192.0.2.20>\r\n"));
  assert_int_equal(count_ev(SIPR_UA_EV_ANSWERED), 1);
  assert_int_equal(count_sent("ACK "), 1);
  /* A non-INVITE request answered 499: a failure like 400. */
  sipr_ua_req_opts_t o = {.method = "OPTIONS", .ruri = "sip:bob@192.0.2.20"};
  assert_int_equal(sipr_ua_request(fx.ua, &o, NULL, NULL, NULL, 0), 0);
  feed(reply(last_sent("OPTIONS "), 499, "y", NULL));
  assert_int_equal(last_ev(SIPR_UA_EV_RESPONSE)->status, 499);
  assert_int_equal(sipr_ua_busy(fx.ua), 1); /* the call only */
}

static void test_invite_redirect(void **state) {
  (void)state;
  sipr_ua_free(fx.ua);
  sipr_ua_cfg_t cfg;
  sipr_ua_cfg_default(&cfg);
  cfg.from = "sip:alice@example.com";
  cfg.host = "192.0.2.10";
  cfg.port = 5060;
  cfg.follow_redirects = 1;
  fx.ua = sipr_ua_new(fx.loop, &cfg, &tp_ops, NULL, on_event, NULL, NULL, 0);
  assert_non_null(fx.ua);
  sipr_call_t *c = uac_call();
  char inv[4096];
  snprintf(inv, sizeof(inv), "%s", fx.sent[0].text);
  feed(reply(inv, 180, "e1", NULL));
  assert_non_null(sipr_call_dialog(c));
  feed(reply(inv, 302, "e1", "Contact: <sip:bob@192.0.2.60:5080>\r\n"));
  /* §8.1.3.4: a new INVITE to the Contact; the early dialog is gone; the
   * 302 got its ACK from the transaction. */
  assert_int_equal(count_sent("INVITE "), 2);
  sipr_msg_t *m = parse(last_sent("INVITE "));
  assert_true(sipr_str_eq(m->ruri_str, SIPR_STR("sip:bob@192.0.2.60:5080")));
  assert_int_equal(sipr_msg_cseq(m)->seq, sipr_msg_cseq(parse(inv))->seq + 1);
  assert_null(sipr_call_dialog(c));
  assert_int_equal(count_ev(SIPR_UA_EV_FAILED), 0);
  feed(reply(last_sent("INVITE "), 200, "e2",
             "Contact: <sip:bob@192.0.2.60:5080>\r\n"));
  assert_int_equal(count_ev(SIPR_UA_EV_ANSWERED), 1);
  assert_string_equal(sipr_dlg_remote_tag(sipr_call_dialog(c)), "e2");
}

/* §12.2.1.1: a strict router first in the route set becomes the
 * Request-URI; the remote target goes last in Route. */
static void test_strict_route(void **state) {
  (void)state;
  sipr_call_t *c = uac_call();
  char inv[4096];
  snprintf(inv, sizeof(inv), "%s", fx.sent[0].text);
  feed(reply(inv, 200, "s1",
             "Record-Route: <sip:192.0.2.42;lr>, <sip:192.0.2.41>\r\n"
             "Contact: <sip:bob@192.0.2.22>\r\n"));
  sipr_dlg_t *d = sipr_call_dialog(c);
  assert_int_equal(sipr_dlg_route_count(d), 2);
  assert_string_equal(sipr_dlg_route(d, 0), "<sip:192.0.2.41>");
  assert_int_equal(sipr_call_hangup(c), 0);
  sipr_msg_t *m = parse(last_sent("BYE "));
  assert_true(sipr_str_eq(m->ruri_str, SIPR_STR("sip:192.0.2.41")));
  const char *route = hdr(m, SIPR_HDR_ROUTE);
  assert_string_equal(route, "<sip:192.0.2.42;lr>");
  assert_non_null(m->first[SIPR_HDR_ROUTE]->next_same);
  assert_true(sipr_str_eq(m->first[SIPR_HDR_ROUTE]->next_same->value,
                          SIPR_STR("<sip:bob@192.0.2.22>")));
  char a[64];
  assert_string_equal(
      sipr_tp_addr_str(&fx.sent[fx.nsent - 1].dest, a, sizeof(a)),
      "udp:192.0.2.41:5060");
}

static void test_forked_2xx(void **state) {
  (void)state;
  uac_call();
  char inv[4096];
  snprintf(inv, sizeof(inv), "%s", fx.sent[0].text);
  feed(reply(inv, 200, "A", "Contact: <sip:bob@192.0.2.21>\r\n"));
  feed(reply(inv, 200, "B", "Contact: <sip:bob@192.0.2.22>\r\n"));
  /* §13.2.2.4: each 2xx is ACKed; the second dialog gets a BYE. */
  assert_int_equal(count_sent("ACK "), 2);
  assert_int_equal(count_ev(SIPR_UA_EV_ANSWERED), 1);
  assert_int_equal(count_ev(SIPR_UA_EV_FORK_BYE), 1);
  assert_int_equal(count_sent("BYE "), 1);
  sipr_msg_t *bye = parse(last_sent("BYE "));
  assert_non_null(strstr(hdr(bye, SIPR_HDR_TO), "tag=B"));
  assert_true(sipr_str_eq(bye->ruri_str, SIPR_STR("sip:bob@192.0.2.22")));
  /* B's 2xx again: the same ACK again, no second BYE. */
  feed(reply(inv, 200, "B", "Contact: <sip:bob@192.0.2.22>\r\n"));
  assert_int_equal(count_sent("ACK "), 3);
  assert_int_equal(count_sent("BYE "), 1);
  feed(reply(last_sent("BYE "), 200, NULL, NULL));
  assert_int_equal(count_ev(SIPR_UA_EV_ENDED), 0);
}

/* §12.1.2, §13.2.2.4: a forking proxy relays 180s of two branches (two
 * To tags): two early dialogs; the branch that answers confirms its own,
 * the other is left to end without a BYE. */
static void test_forked_1xx(void **state) {
  (void)state;
  sipr_call_t *c = uac_call();
  char inv[4096];
  snprintf(inv, sizeof(inv), "%s", fx.sent[0].text);
  feed(reply(inv, 180, "A", "Contact: <sip:bob@192.0.2.21>\r\n"));
  feed(reply(inv, 180, "B", "Contact: <sip:bob@192.0.2.22>\r\n"));
  assert_int_equal(count_ev(SIPR_UA_EV_PROGRESS), 2);
  sipr_dlg_t *d = sipr_call_dialog(c);
  assert_true(sipr_dlg_early(d));
  assert_string_equal(sipr_dlg_remote_tag(d), "A");
  /* A's 180 again (a retransmission or an update): no third dialog. */
  feed(reply(inv, 180, "A", "Contact: <sip:bob@192.0.2.21>\r\n"));
  feed(reply(inv, 200, "B", "Contact: <sip:bob@192.0.2.22>\r\n"));
  assert_int_equal(count_ev(SIPR_UA_EV_ANSWERED), 1);
  d = sipr_call_dialog(c);
  assert_false(sipr_dlg_early(d));
  assert_string_equal(sipr_dlg_remote_tag(d), "B");
  assert_string_equal(sipr_dlg_remote_target(d), "sip:bob@192.0.2.22");
  assert_int_equal(count_sent("ACK "), 1);
  sipr_msg_t *ack = parse(last_sent("ACK "));
  assert_true(ack->ruri_str.len &&
              sipr_str_eq(ack->ruri_str, SIPR_STR("sip:bob@192.0.2.22")));
  assert_non_null(strstr(hdr(ack, SIPR_HDR_TO), "tag=B"));
  assert_int_equal(count_sent("BYE "), 0);
  assert_int_equal(count_ev(SIPR_UA_EV_FORK_BYE), 0);
}

static void test_uac_cancel(void **state) {
  (void)state;
  sipr_call_t *c = uac_call();
  char inv[4096];
  snprintf(inv, sizeof(inv), "%s", fx.sent[0].text);
  /* §9.1: not before a provisional. */
  assert_int_equal(sipr_call_cancel(c), 0);
  assert_int_equal(count_sent("CANCEL "), 0);
  feed(reply(inv, 180, "bt", NULL));
  assert_int_equal(count_sent("CANCEL "), 1);
  sipr_msg_t *cm = parse(last_sent("CANCEL "));
  sipr_msg_t *im = parse(inv);
  assert_true(sipr_str_eq(sipr_msg_via(cm)->branch, sipr_msg_via(im)->branch));
  assert_int_equal(sipr_msg_cseq(cm)->seq, sipr_msg_cseq(im)->seq);
  assert_null(sipr_msg_to(cm)->tag.p);
  feed(reply(last_sent("CANCEL "), 200, "bt", NULL));
  feed(reply(inv, 487, "bt", NULL));
  assert_int_equal(last_ev(SIPR_UA_EV_FAILED)->status, 487);
  /* The ACK for the 487 comes from the transaction (§17.1.1.3). */
  assert_int_equal(count_sent("ACK "), 1);
}

/* ---- §12, §13: the UAS side -------------------------------------------------
 */
static char *mkinvite(const char *branch, unsigned cseq, const char *to_tag,
                      const char *extra) {
  static char buf[4096];
  snprintf(buf, sizeof(buf),
           "INVITE sip:alice@192.0.2.10:5060 SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK%s\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:bob@example.net>;tag=b1\r\n"
           "To: <sip:alice@example.com>%s%s\r\n"
           "Call-ID: call-1@192.0.2.20\r\n"
           "CSeq: %u INVITE\r\n"
           "Contact: <sip:bob@192.0.2.20:5060>\r\n"
           "%s"
           "Content-Length: 0\r\n\r\n",
           branch, to_tag ? ";tag=" : "", to_tag ? to_tag : "", cseq,
           extra ? extra : "");
  return buf;
}

static char *mkindlg(const char *method, const char *branch, unsigned cseq,
                     const char *to_tag) {
  static char buf[2048];
  snprintf(buf, sizeof(buf),
           "%s sip:alice@192.0.2.10:5060 SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK%s\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:bob@example.net>;tag=b1\r\n"
           "To: <sip:alice@example.com>;tag=%s\r\n"
           "Call-ID: call-1@192.0.2.20\r\n"
           "CSeq: %u %s\r\n"
           "Content-Length: 0\r\n\r\n",
           method, branch, to_tag, cseq, method);
  return buf;
}

/* An answered incoming call; returns our To tag. */
static const char *uas_answered(const char *extra) {
  feed(mkinvite("i1", 10, NULL, extra));
  assert_int_equal(count_ev(SIPR_UA_EV_INCOMING), 1);
  assert_non_null(fx.incoming);
  assert_int_equal(sipr_call_ring(fx.incoming), 0);
  assert_int_equal(sipr_call_answer(fx.incoming, "v=0\r\n"), 0);
  sipr_msg_t *ok = parse(last_sent("SIP/2.0 200"));
  static char tag[64];
  snprintf(tag, sizeof(tag), "%.*s", SIPR_STR_ARG(sipr_msg_to(ok)->tag));
  /* §12.1.1: Record-Route copied, Contact ours, the 180's tag. */
  sipr_msg_t *ring = parse(last_sent("SIP/2.0 180"));
  assert_true(sipr_str_eq(sipr_msg_to(ring)->tag, sipr_str_cstr(tag)));
  assert_string_equal(hdr(ok, SIPR_HDR_CONTACT), "<sip:alice@192.0.2.10:5060>");
  return tag;
}

static void test_uas_2xx_until_ack(void **state) {
  (void)state;
  const char *tag = uas_answered(RR2);
  sipr_msg_t *ok = parse(last_sent("SIP/2.0 200"));
  assert_string_equal(hdr(ok, SIPR_HDR_RECORD_ROUTE), "<sip:192.0.2.41;lr>");
  sipr_dlg_t *d = sipr_call_dialog(fx.incoming);
  /* §12.1.1: the UAS's route set in the request's order. */
  assert_int_equal(sipr_dlg_route_count(d), 2);
  assert_string_equal(sipr_dlg_route(d, 0), "<sip:192.0.2.41;lr>");
  assert_int_equal(sipr_dlg_remote_cseq(d), 10);
  /* §13.3.1.4: re-sent at T1, 2T1, 4T1, ... */
  unsigned n0 = count_sent("SIP/2.0 200");
  advance(500);
  assert_int_equal(count_sent("SIP/2.0 200"), n0 + 1);
  advance(1000);
  assert_int_equal(count_sent("SIP/2.0 200"), n0 + 2);
  advance(2000);
  assert_int_equal(count_sent("SIP/2.0 200"), n0 + 3);
  advance(4000);
  assert_int_equal(count_sent("SIP/2.0 200"), n0 + 4);
  advance(4000); /* capped at T2 */
  assert_int_equal(count_sent("SIP/2.0 200"), n0 + 5);
  char ack[2048];
  snprintf(ack, sizeof(ack), "%s", mkindlg("ACK", "a1", 10, tag));
  feed(ack);
  assert_int_equal(count_ev(SIPR_UA_EV_ANSWERED), 1);
  advance(20000);
  assert_int_equal(count_sent("SIP/2.0 200"), n0 + 5);
}

static void test_uas_no_ack_bye(void **state) {
  (void)state;
  uas_answered(NULL);
  /* §13.3.1.4: no ACK within 64*T1: BYE. */
  advance(31999);
  assert_int_equal(count_sent("BYE "), 0);
  advance(1);
  assert_int_equal(count_sent("BYE "), 1);
  sipr_msg_t *bye = parse(last_sent("BYE "));
  assert_true(sipr_str_eq(bye->ruri_str, SIPR_STR("sip:bob@192.0.2.20:5060")));
  feed(reply(last_sent("BYE "), 200, NULL, NULL));
  assert_int_equal(last_ev(SIPR_UA_EV_ENDED)->status, 408);
}

static void test_in_dialog_rules(void **state) {
  (void)state;
  const char *tag0 = uas_answered(NULL);
  char tag[64];
  snprintf(tag, sizeof(tag), "%s", tag0);
  feed(mkindlg("ACK", "a1", 10, tag));
  /* §12.2.2: unknown dialog: 481. */
  feed(mkindlg("BYE", "x1", 11, "nosuchtag"));
  assert_int_equal(parse(fx.sent[fx.nsent - 1].text)->status, 481);
  /* A lower CSeq than the remote sequence number: 500. */
  feed(mkindlg("INFO", "x2", 9, tag));
  assert_int_equal(parse(fx.sent[fx.nsent - 1].text)->status, 500);
  /* Target refresh by re-INVITE (§12.2.2): new Contact. */
  char reinv[4096];
  snprintf(reinv, sizeof(reinv), "%s", mkinvite("r1", 12, tag, NULL));
  char *c = strstr(reinv, "192.0.2.20:5060>");
  memcpy(c, "192.0.2.77:5060>", 16);
  feed(reinv);
  sipr_msg_t *ok = parse(fx.sent[fx.nsent - 1].text);
  assert_int_equal(ok->status, 200);
  assert_true(sipr_str_eq(sipr_msg_to(ok)->tag, sipr_str_cstr(tag)));
  sipr_dlg_t *d = sipr_call_dialog(fx.incoming);
  assert_string_equal(sipr_dlg_remote_target(d), "sip:bob@192.0.2.77:5060");
  assert_int_equal(sipr_dlg_remote_cseq(d), 12);
  feed(mkindlg("ACK", "a2", 12, tag));
  /* BYE: 200, the call ends. */
  feed(mkindlg("BYE", "x3", 13, tag));
  assert_int_equal(parse(fx.sent[fx.nsent - 1].text)->status, 200);
  assert_int_equal(count_ev(SIPR_UA_EV_ENDED), 1);
}

static void test_glare(void **state) {
  (void)state;
  /* We are the UAC of the dialog (the Call-ID's owner). */
  sipr_call_t *c = uac_call();
  char inv[4096];
  snprintf(inv, sizeof(inv), "%s", fx.sent[0].text);
  feed(reply(inv, 200, "bt", "Contact: <sip:bob@192.0.2.20>\r\n"));
  assert_int_equal(sipr_call_reinvite(c, "v=0\r\n"), 0);
  char re[4096];
  snprintf(re, sizeof(re), "%s", last_sent("INVITE "));
  /* The peer's re-INVITE crosses ours: 491 (§14.2). */
  sipr_msg_t *im = parse(inv);
  char peer[2048];
  snprintf(peer, sizeof(peer),
           "INVITE sip:alice@192.0.2.10:5060 SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKg1\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:bob@192.0.2.20>;tag=bt\r\n"
           "To: <sip:alice@example.com>;tag=%.*s\r\n"
           "Call-ID: %.*s\r\nCSeq: 1 INVITE\r\n"
           "Contact: <sip:bob@192.0.2.20>\r\nContent-Length: 0\r\n\r\n",
           SIPR_STR_ARG(sipr_msg_from(im)->tag),
           SIPR_STR_ARG(sipr_msg_call_id(im)));
  feed(peer);
  assert_int_equal(parse(fx.sent[fx.nsent - 1].text)->status, 491);
  /* Ours gets 491: retried after 2.1-4 s (owner of the Call-ID, §14.1),
   * with a higher CSeq. */
  unsigned n = count_sent("INVITE ");
  feed(reply(re, 491, "bt", NULL));
  assert_int_equal(last_ev(SIPR_UA_EV_REINVITE)->status, 491);
  advance(2099);
  assert_int_equal(count_sent("INVITE "), n);
  unsigned waited = 2099;
  while (count_sent("INVITE ") == n && waited <= 4000) {
    advance(10);
    waited += 10;
  }
  assert_int_equal(count_sent("INVITE "), n + 1);
  assert_in_range(waited, 2100, 4009);
  assert_int_equal(sipr_msg_cseq(parse(last_sent("INVITE ")))->seq,
                   sipr_msg_cseq(parse(re))->seq + 1);
  feed(reply(last_sent("INVITE "), 200, "bt",
             "Contact: <sip:bob@192.0.2.23>\r\n"));
  assert_int_equal(last_ev(SIPR_UA_EV_REINVITE)->status, 200);
  /* §12.2.1.2: the 2xx refreshed the target. */
  assert_string_equal(sipr_dlg_remote_target(sipr_call_dialog(c)),
                      "sip:bob@192.0.2.23");
}

static void test_uas_cancel_and_merged(void **state) {
  (void)state;
  char inv[4096];
  snprintf(inv, sizeof(inv), "%s", mkinvite("c1", 5, NULL, NULL));
  feed(inv);
  assert_non_null(fx.incoming);
  /* §8.2.2.2: the same request by another path: 482. */
  feed(mkinvite("c2", 5, NULL, NULL));
  assert_int_equal(parse(fx.sent[fx.nsent - 1].text)->status, 482);
  char cancel[2048];
  snprintf(cancel, sizeof(cancel),
           "CANCEL sip:alice@192.0.2.10:5060 SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKc1\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:bob@example.net>;tag=b1\r\n"
           "To: <sip:alice@example.com>\r\n"
           "Call-ID: call-1@192.0.2.20\r\nCSeq: 5 CANCEL\r\n"
           "Content-Length: 0\r\n\r\n");
  feed(cancel);
  /* §9.2: 200 to the CANCEL, 487 to the INVITE. */
  assert_int_equal(count_sent("SIP/2.0 200"), 1);
  assert_int_equal(count_sent("SIP/2.0 487"), 1);
  assert_int_equal(last_ev(SIPR_UA_EV_FAILED)->status, 487);
  /* A CANCEL for nothing: 481. */
  snprintf(cancel, sizeof(cancel),
           "CANCEL sip:alice@192.0.2.10:5060 SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKzz\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:bob@example.net>;tag=b1\r\n"
           "To: <sip:alice@example.com>\r\n"
           "Call-ID: other@192.0.2.20\r\nCSeq: 5 CANCEL\r\n"
           "Content-Length: 0\r\n\r\n");
  feed(cancel);
  assert_int_equal(parse(fx.sent[fx.nsent - 1].text)->status, 481);
}

static void test_uas_methods(void **state) {
  (void)state;
  /* RFC 3428: MESSAGE answered 200 and reported. */
  feed("MESSAGE sip:alice@192.0.2.10 SIP/2.0\r\n"
       "Via: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bKm1\r\n"
       "Max-Forwards: 70\r\nFrom: <sip:bob@example.net>;tag=x\r\n"
       "To: <sip:alice@example.com>\r\nCall-ID: m1\r\nCSeq: 1 MESSAGE\r\n"
       "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi");
  assert_int_equal(parse(fx.sent[fx.nsent - 1].text)->status, 200);
  assert_int_equal(count_ev(SIPR_UA_EV_MESSAGE), 1);
  /* §8.2.1: 405 with Allow; §8.2.2.3: 420 with Unsupported. */
  feed("SUBSCRIBE sip:alice@192.0.2.10 SIP/2.0\r\n"
       "Via: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bKm2\r\n"
       "Max-Forwards: 70\r\nFrom: <sip:bob@example.net>;tag=x\r\n"
       "To: <sip:alice@example.com>\r\nCall-ID: m2\r\nCSeq: 1 SUBSCRIBE\r\n"
       "Event: presence\r\nContent-Length: 0\r\n\r\n");
  sipr_msg_t *m = parse(fx.sent[fx.nsent - 1].text);
  assert_int_equal(m->status, 405);
  assert_non_null(strstr(hdr(m, SIPR_HDR_ALLOW), "INVITE"));
  feed(mkinvite("q1", 1, NULL, "Require: 100rel\r\n"));
  m = parse(fx.sent[fx.nsent - 1].text);
  assert_int_equal(m->status, 420);
  assert_string_equal(hdr(m, SIPR_HDR_UNSUPPORTED), "100rel");
  /* §8.2.3: a body type we do not take: 415. */
  char inv[4096];
  snprintf(inv, sizeof(inv), "%s", mkinvite("q2", 1, NULL, NULL));
  char *cl = strstr(inv, "Content-Length: 0\r\n\r\n");
  snprintf(cl, 200, "Content-Type: text/html\r\nContent-Length: 2\r\n\r\nhi");
  feed(inv);
  assert_int_equal(parse(fx.sent[fx.nsent - 1].text)->status, 415);
  /* §8.1.1.8: an INVITE without Contact makes no dialog: 400. */
  snprintf(inv, sizeof(inv), "%s", mkinvite("q3", 1, NULL, NULL));
  char *ct = strstr(inv, "Contact: <sip:bob@192.0.2.20:5060>\r\n");
  memmove(ct, ct + 36, strlen(ct + 36) + 1);
  feed(inv);
  assert_int_equal(parse(fx.sent[fx.nsent - 1].text)->status, 400);
  assert_int_equal(count_ev(SIPR_UA_EV_INCOMING), 0);
}

/* A MESSAGE to ruri with To to (outside a dialog). */
static const char *mkmessage(const char *ruri, const char *to,
                             const char *branch) {
  static char buf[2048];
  snprintf(buf, sizeof(buf),
           "MESSAGE %s SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bK%s\r\n"
           "Max-Forwards: 70\r\nFrom: <sip:bob@example.net>;tag=x\r\n"
           "To: <%s>\r\nCall-ID: %s\r\nCSeq: 1 MESSAGE\r\n"
           "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi",
           ruri, branch, to, branch);
  return buf;
}

/* The status of the last response sent. */
static unsigned last_status(void) {
  return parse(fx.sent[fx.nsent - 1].text)->status;
}

/* §8.2.2.1: the Request-URI must name us (404 otherwise); the To header
 * field need not. The UA is sip:alice@example.com with Contact
 * sip:alice@192.0.2.10:5060. */
static void test_uas_request_uri(void **state) {
  (void)state;
  static const struct {
    const char *ruri;
    unsigned status;
  } cases[] = {
      {"sip:alice@192.0.2.10", 200}, /* the Contact, default port */
      {"sip:alice@192.0.2.10:5060;transport=udp", 200},
      {"sip:%61lice@192.0.2.10:5060", 200}, /* compared unescaped */
      {"sip:192.0.2.10:5060", 200},         /* the device itself */
      {"sip:alice@example.com", 200},       /* the AOR, not retargeted */
      {"sip:alice@EXAMPLE.com:5060", 200},
      {"sip:carol@192.0.2.10", 404},      /* another user */
      {"sip:Alice@192.0.2.10", 404},      /* users are case-sensitive */
      {"sip:alice@192.0.2.10:5070", 404}, /* another port */
      {"sip:alice@192.0.2.99", 404},      /* another host */
      {"sip:alice@example.org", 404},     /* another domain */
      {"sip:carol@example.com", 404},
      {"tel:+12015550123", 416}, /* a scheme we do not serve */
  };
  unsigned msgs = 0;
  for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char branch[16];
    snprintf(branch, sizeof(branch), "ru%u", i);
    feed(mkmessage(cases[i].ruri, "sip:alice@example.com", branch));
    if (last_status() != cases[i].status)
      fail_msg("%s: answered %u, want %u", cases[i].ruri, last_status(),
               cases[i].status);
    msgs += cases[i].status == 200;
    assert_int_equal(count_ev(SIPR_UA_EV_MESSAGE), msgs);
  }
  /* A To that is not our identity (a forwarded request) is taken. */
  feed(mkmessage("sip:alice@192.0.2.10", "sip:someone@example.org", "to1"));
  assert_int_equal(last_status(), 200);
  assert_int_equal(count_ev(SIPR_UA_EV_MESSAGE), msgs + 1);
  /* An INVITE for another user: 404, no call. */
  char inv[4096];
  snprintf(inv, sizeof(inv), "%s", mkinvite("ru-i", 1, NULL, NULL));
  memcpy(inv + 11, "carol", 5); /* "INVITE sip:alice@" -> carol */
  feed(inv);
  assert_int_equal(last_status(), 404);
  assert_int_equal(count_ev(SIPR_UA_EV_INCOMING), 0);
  /* The Request-URI check comes after method inspection (§8.2.1). */
  feed("SUBSCRIBE sip:carol@192.0.2.10 SIP/2.0\r\n"
       "Via: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bKru-s\r\n"
       "Max-Forwards: 70\r\nFrom: <sip:bob@example.net>;tag=x\r\n"
       "To: <sip:carol@example.com>\r\nCall-ID: rs\r\nCSeq: 1 SUBSCRIBE\r\n"
       "Event: presence\r\nContent-Length: 0\r\n\r\n");
  assert_int_equal(last_status(), 405);

  /* cfg.any_user: any user at our address, still not another host. */
  sipr_ua_free(fx.ua);
  sipr_ua_cfg_t cfg;
  sipr_ua_cfg_default(&cfg);
  cfg.from = "sip:alice@example.com";
  cfg.host = "192.0.2.10";
  cfg.port = 5060;
  cfg.any_user = 1;
  fx.ua = sipr_ua_new(fx.loop, &cfg, &tp_ops, NULL, on_event, NULL, NULL, 0);
  assert_non_null(fx.ua);
  feed(mkmessage("sip:carol@192.0.2.10", "sip:carol@example.com", "au1"));
  assert_int_equal(last_status(), 200);
  feed(mkmessage("sip:carol@192.0.2.99", "sip:carol@example.com", "au2"));
  assert_int_equal(last_status(), 404);
}

/* §8.2.2.2: a MESSAGE that arrives twice by different paths (another
 * branch, same From tag, Call-ID and CSeq) while the first one's
 * transaction lives: 482, delivered once. */
static void test_uas_merged_message(void **state) {
  (void)state;
  char m1[2048], m2[2048];
  snprintf(m1, sizeof(m1), "%s",
           mkmessage("sip:alice@192.0.2.10", "sip:alice@example.com", "mg1"));
  snprintf(m2, sizeof(m2), "%s", m1);
  memcpy(strstr(m2, "branch=z9hG4bKmg1"), "branch=z9hG4bKmg2", 17);
  feed(m1);
  assert_int_equal(last_status(), 200);
  feed(m2);
  assert_int_equal(last_status(), 482);
  assert_int_equal(count_ev(SIPR_UA_EV_MESSAGE), 1);
  /* A retransmission of the first is the transaction's: 200 again. */
  feed(m1);
  assert_int_equal(last_status(), 200);
  assert_int_equal(count_ev(SIPR_UA_EV_MESSAGE), 1);
  /* Once Timer J has ended the first transaction (64*T1) the request is
   * no longer ongoing. */
  advance(33000);
  memcpy(strstr(m2, "branch=z9hG4bKmg2"), "branch=z9hG4bKmg3", 17);
  feed(m2);
  assert_int_equal(last_status(), 200);
  assert_int_equal(count_ev(SIPR_UA_EV_MESSAGE), 2);
}

/* §8.2.2.1 / §12.2.2: within a dialog the To tag must be ours (481
 * otherwise, and the call goes on); the To URI need not match. */
static void test_uas_to_tag(void **state) {
  (void)state;
  const char *tag0 = uas_answered(NULL);
  char tag[64], req[2048];
  snprintf(tag, sizeof(tag), "%s", tag0);
  feed(mkindlg("ACK", "t0", 10, tag));
  assert_int_equal(count_ev(SIPR_UA_EV_ANSWERED), 1);
  feed(mkindlg("BYE", "t1", 11, "0123456789abcdef"));
  assert_int_equal(last_status(), 481);
  assert_int_equal(count_ev(SIPR_UA_EV_ENDED), 0);
  /* Right tag, another To URI: taken. */
  snprintf(req, sizeof(req), "%s", mkindlg("INFO", "t2", 12, tag));
  char *to = strstr(req, "To: <sip:alice@example.com>");
  assert_non_null(to);
  memcpy(to + 9, "zelda", 5);
  feed(req);
  assert_int_equal(last_status(), 200);
  assert_true(sipr_str_eq(sipr_msg_to(parse(fx.sent[fx.nsent - 1].text))->tag,
                          sipr_str_cstr(tag)));
  feed(mkindlg("BYE", "t3", 13, tag));
  assert_int_equal(last_status(), 200);
  assert_int_equal(count_ev(SIPR_UA_EV_ENDED), 1);
}

/* §8.1.3.3: a response with more than one Via value is discarded. */
static void test_response_two_vias(void **state) {
  (void)state;
  sipr_ua_req_opts_t o = {.method = "OPTIONS", .ruri = "sip:bob@192.0.2.20"};
  assert_int_equal(sipr_ua_request(fx.ua, &o, NULL, NULL, NULL, 0), 0);
  char ok[8192], bad[8192];
  snprintf(ok, sizeof(ok), "%s", reply(fx.sent[0].text, 200, "t1", NULL));
  /* A second Via header field... */
  char *eol = strstr(strstr(ok, "\r\nVia: "), ";rport");
  assert_non_null(eol);
  eol = strstr(eol, "\r\n");
  size_t head = (size_t)(eol - ok) + 2;
  snprintf(bad, sizeof(bad),
           "%.*sVia: SIP/2.0/UDP 192.0.2.99;branch=z9hG4bKo\r\n%s", (int)head,
           ok, ok + head);
  feed(bad);
  assert_int_equal(count_ev(SIPR_UA_EV_RESPONSE), 0);
  /* ... or a second value in the same one. */
  snprintf(bad, sizeof(bad), "%.*s, SIP/2.0/UDP 192.0.2.99;branch=z9hG4bKo%s",
           (int)(head - 2), ok, ok + head - 2);
  feed(bad);
  assert_int_equal(count_ev(SIPR_UA_EV_RESPONSE), 0);
  feed(ok);
  assert_int_equal(count_ev(SIPR_UA_EV_RESPONSE), 1);
  assert_int_equal(last_ev(SIPR_UA_EV_RESPONSE)->status, 200);
}

/* Every RFC 4475 / RFC 5118 torture message that passes the checks the
 * transport makes is fed to a UA (as a request to it or a response to
 * it), then the UA is driven through its timers: it must answer or drop,
 * never crash or leak (ASan runs this too). */
static void feed_dir(const char *sub, int lf) {
  char dir[512];
  snprintf(dir, sizeof(dir), "%s/%s", SIPR_TORTURE_DIR, sub);
  DIR *d = opendir(dir);
  if (!d)
    fail_msg("missing torture folder %s", dir);
  struct dirent *e;
  unsigned fed = 0;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' || !strcmp(e->d_name, "INDEX.tsv") ||
        !strcmp(e->d_name, "SHA256SUMS") || !strcmp(e->d_name, "README.md"))
      continue;
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[70000];
    size_t len = fread(buf, 1, sizeof(buf) / 2 - 1, f);
    fclose(f);
    buf[len] = '\0';
    if (lf) {
      /* RFC 5118's files have bare LF line ends. */
      static char crlf[sizeof(buf)];
      size_t o = 0;
      for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r'))
          crlf[o++] = '\r';
        crlf[o++] = buf[i];
      }
      memcpy(buf, crlf, o);
      len = o;
      buf[len] = '\0';
    }
    sipr_arena_t a;
    sipr_arena_init(&a, NULL, 0, 1 << 20);
    sipr_msg_t *m = NULL;
    sipr_perr_t err;
    if (sipr_msg_parse(&a, buf, len, SIPR_PARSE_DATAGRAM, &m, &err) == 0 &&
        sipr_msg_check(m, &err) == 0) {
      sipr_tp_src_t src;
      memset(&src, 0, sizeof(src));
      assert_int_equal(sipr_tp_addr_parse("udp:192.0.2.20:5060", &src.remote),
                       0);
      assert_int_equal(sipr_tp_addr_parse("udp:192.0.2.10:5060", &src.local),
                       0);
      sipr_ua_recv(fx.ua, m, &src);
      fed++;
    }
    sipr_arena_free(&a);
    advance(1);
    clear_sent();
    fx.nev = 0;
  }
  closedir(d);
  assert_true(fed > 0);
}

static void test_torture(void **state) {
  (void)state;
  fx.auto_answer = 1;
  feed_dir("rfc4475", 0);
  feed_dir("rfc5118", 1);
  /* Whatever was answered is retransmitted until 64*T1, then given up. */
  for (int i = 0; i < 40; i++) {
    advance(1000);
    clear_sent();
    fx.nev = 0;
  }
  assert_true(fx.total_sent > 0);
}

/* ---- SDP
 * ----------------------------------------------------------------------- */
static void test_sdp(void **state) {
  (void)state;
  sipr_buf_t b;
  sipr_buf_init(&b);
  assert_int_equal(sipr_sdp_build(&b, "192.0.2.10", 4000, 1, 2), 0);
  sipr_sdp_t s;
  assert_int_equal(sipr_sdp_parse(sipr_str_make(b.p, b.len), &s), 0);
  assert_int_equal(s.nm, 1);
  assert_int_equal(s.m[0].port, 4000);
  assert_true(sipr_str_eq(s.m[0].conn, SIPR_STR("192.0.2.10")));
  assert_true(sipr_str_eq(s.m[0].formats, SIPR_STR("0 8 101")));
  sipr_buf_free(&b);
  /* A media-level c= wins; no c= at all is refused. */
  const char *two =
      "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
      "t=0 0\r\nm=audio 5000 RTP/AVP 0\r\nm=video 5002 RTP/AVP 96\r\n"
      "c=IN IP4 192.0.2.2/127\r\n";
  assert_int_equal(sipr_sdp_parse(sipr_str_cstr(two), &s), 0);
  assert_int_equal(s.nm, 2);
  assert_true(sipr_str_eq(s.m[0].conn, SIPR_STR("192.0.2.1")));
  assert_true(sipr_str_eq(s.m[1].conn, SIPR_STR("192.0.2.2")));
  assert_int_equal(
      sipr_sdp_parse(SIPR_STR("v=0\r\nm=audio 1 RTP/AVP 0\r\n"), &s),
      SIPR_EPARSE);
  assert_int_equal(sipr_sdp_parse(SIPR_STR("m=audio x RTP/AVP 0\r\n"), &s),
                   SIPR_EPARSE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_request_fields, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_uri_and_timeout, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_outbound_proxy, setup, teardown),
      cmocka_unit_test_setup_teardown(test_redirect, setup, teardown),
      cmocka_unit_test_setup_teardown(test_digest_401_407, setup, teardown),
      cmocka_unit_test_setup_teardown(test_register_refresh_remove, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_register_423, setup, teardown),
      cmocka_unit_test_setup_teardown(test_uac_dialog_route_set, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_unknown_codes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_invite_redirect, setup, teardown),
      cmocka_unit_test_setup_teardown(test_strict_route, setup, teardown),
      cmocka_unit_test_setup_teardown(test_forked_2xx, setup, teardown),
      cmocka_unit_test_setup_teardown(test_forked_1xx, setup, teardown),
      cmocka_unit_test_setup_teardown(test_uac_cancel, setup, teardown),
      cmocka_unit_test_setup_teardown(test_uas_2xx_until_ack, setup, teardown),
      cmocka_unit_test_setup_teardown(test_uas_no_ack_bye, setup, teardown),
      cmocka_unit_test_setup_teardown(test_in_dialog_rules, setup, teardown),
      cmocka_unit_test_setup_teardown(test_glare, setup, teardown),
      cmocka_unit_test_setup_teardown(test_uas_cancel_and_merged, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_uas_methods, setup, teardown),
      cmocka_unit_test_setup_teardown(test_uas_request_uri, setup, teardown),
      cmocka_unit_test_setup_teardown(test_uas_to_tag, setup, teardown),
      cmocka_unit_test_setup_teardown(test_uas_merged_message, setup, teardown),
      cmocka_unit_test_setup_teardown(test_response_two_vias, setup, teardown),
      cmocka_unit_test_setup_teardown(test_torture, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sdp, setup, teardown),
  };
  return cmocka_run_group_tests_name("ua", tests, NULL, NULL);
}
