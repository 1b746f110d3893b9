/* Proxy tests (RFC 3261 §16, §8.3): the stateful proxy driven through the
 * real transaction layer with a fake transport (every request and response
 * sent is captured), a fake clock and the memory store. Downstream
 * answers are built from the captured forwarded requests and fed back as
 * if received from the next hop. */
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

#include "sipr/auth.h"
#include "sipr/print.h"
#include "sipr/proxy.h"
#include "sipr/resolve.h"
#include "sipr/store.h"
#include "sipr/txn.h"

#include "../resolve/fake_dns.h"

#define WALL0 1700000000
#define MAX_CAP 256

typedef struct cap {
  char *text;
  size_t len;          /* a response may carry a NUL in a quoted string */
  sipr_tp_addr_t dest; /* requests: where they went */
  int stateless;       /* sent by the proxy's own send / send_response */
} cap_t;

typedef struct fx {
  sipr_fake_clock_t fc;
  sipr_loop_t *loop;
  sipr_txn_layer_t *l;
  sipr_store_t *store;
  sipr_auth_server_t *auth;
  sipr_proxy_t *px;
  sipr_res_t *res; /* the resolver ops.resolver hands out (NULL: none) */
  int silent_fd;   /* a name server that never answers, or -1 */
  sipr_proxy_cfg_t cfg;
  sipr_tp_addr_t locals[2];
  int64_t wall;
  cap_t req[MAX_CAP];
  unsigned nreq;
  cap_t resp[MAX_CAP];
  unsigned nresp;
  sipr_arena_t a; /* parsed captures */
  unsigned seq;
} fx_t;

static fx_t fx;

/* ---- fakes ------------------------------------------------------------ */
static char *dup_text(const char *buf, size_t len) {
  char *c = malloc(len + 1);
  assert_non_null(c);
  memcpy(c, buf, len);
  c[len] = '\0';
  return c;
}

static int tp_send_request(void *ctx, const sipr_tp_addr_t *dest,
                           const char *buf, size_t len, uint64_t *conn_id) {
  (void)ctx, (void)conn_id;
  assert_true(fx.nreq < MAX_CAP);
  fx.req[fx.nreq].text = dup_text(buf, len);
  fx.req[fx.nreq].dest = *dest;
  fx.req[fx.nreq].stateless = 0;
  fx.nreq++;
  return 0;
}

static int tp_send_response(void *ctx, const sipr_tp_src_t *src,
                            const sipr_via_t *via, const char *buf,
                            size_t len) {
  (void)ctx, (void)src, (void)via;
  assert_true(fx.nresp < MAX_CAP);
  fx.resp[fx.nresp].text = dup_text(buf, len);
  fx.resp[fx.nresp].len = len;
  fx.resp[fx.nresp].stateless = 0;
  fx.nresp++;
  return 0;
}

static const sipr_txn_tp_ops_t tp_ops = {tp_send_request, tp_send_response};

static sipr_txn_layer_t *op_layer(void *ctx) {
  (void)ctx;
  return fx.l;
}
static sipr_loop_t *op_loop(void *ctx) {
  (void)ctx;
  return fx.loop;
}
static sipr_res_t *op_resolver(void *ctx) {
  (void)ctx;
  return fx.res;
}
static int op_send(void *ctx, const sipr_tp_addr_t *dest, const char *buf,
                   size_t len) {
  (void)ctx;
  assert_true(fx.nreq < MAX_CAP);
  fx.req[fx.nreq].text = dup_text(buf, len);
  fx.req[fx.nreq].dest = *dest;
  fx.req[fx.nreq].stateless = 1;
  fx.nreq++;
  return 0;
}
static int op_send_response(void *ctx, const sipr_via_t *via, const char *buf,
                            size_t len) {
  (void)ctx, (void)via;
  assert_true(fx.nresp < MAX_CAP);
  fx.resp[fx.nresp].text = dup_text(buf, len);
  fx.resp[fx.nresp].len = len;
  fx.resp[fx.nresp].stateless = 1;
  fx.nresp++;
  return 0;
}

static void tu_request(void *user, sipr_txn_t *st, sipr_msg_t *req,
                       const sipr_tp_src_t *src) {
  (void)user;
  sipr_proxy_on_request(fx.px, st, req, src);
}
static void tu_response(void *user, sipr_txn_t *ct, sipr_msg_t *resp) {
  (void)user;
  sipr_proxy_on_response(fx.px, ct, resp);
}
static void tu_timeout(void *user, sipr_txn_t *t) {
  (void)user;
  sipr_proxy_on_timeout(fx.px, t);
}
static void tu_tperr(void *user, sipr_txn_t *t) {
  (void)user;
  sipr_proxy_on_transport_error(fx.px, t);
}
static void tu_terminated(void *user, sipr_txn_t *t) {
  (void)user;
  sipr_proxy_txn_terminated(fx.px, t);
}
static void tu_stray_ack(void *user, sipr_msg_t *ack, const sipr_tp_src_t *src) {
  (void)user;
  sipr_proxy_on_stray_ack(fx.px, ack, src);
}
static void tu_stray_resp(void *user, sipr_msg_t *r, const sipr_tp_src_t *src) {
  (void)user;
  sipr_proxy_on_stray_response(fx.px, r, src);
}

static int tu_stateless(void *ctx, sipr_txn_layer_t *l, sipr_msg_t *req,
                        const sipr_tp_src_t *src) {
  (void)ctx, (void)l;
  return sipr_proxy_stateless(fx.px, req, src);
}

static const sipr_txn_user_ops_t user_ops = {
    tu_request,    tu_response,  tu_timeout,   tu_tperr,
    tu_terminated, tu_stray_ack, tu_stray_resp};

static int64_t fake_wall(void *ctx) {
  (void)ctx;
  return fx.wall;
}

/* ---- fixture ---------------------------------------------------------- */
static void clear_caps(void) {
  for (unsigned i = 0; i < fx.nreq; i++)
    free(fx.req[i].text);
  for (unsigned i = 0; i < fx.nresp; i++)
    free(fx.resp[i].text);
  fx.nreq = fx.nresp = 0;
  sipr_arena_reset(&fx.a);
}

static void fx_proxy(void) {
  fx.px = sipr_proxy_new(&fx.cfg, fx.store, fx.auth);
  assert_non_null(fx.px);
}

static int setup_base(void **state) {
  (void)state;
  memset(&fx, 0, sizeof(fx));
  sipr_fake_clock_init(&fx.fc, 100000);
  fx.loop = sipr_loop_new(&fx.fc.clock);
  assert_non_null(fx.loop);
  sipr_txn_cfg_t tc;
  sipr_txn_cfg_default(&tc);
  fx.l = sipr_txn_layer_new(fx.loop, &tc, &tp_ops, NULL, &user_ops, NULL);
  assert_non_null(fx.l);
  sipr_txn_layer_set_stateless(fx.l, tu_stateless, NULL);
  char err[128];
  fx.store = sipr_store_open("memory", NULL, err, sizeof(err));
  assert_non_null(fx.store);
  fx.wall = WALL0;
  assert_int_equal(sipr_tp_addr_parse("udp:192.0.2.5:5060", &fx.locals[0]), 0);
  assert_int_equal(sipr_tp_addr_parse("tcp:192.0.2.5:5060", &fx.locals[1]), 0);
  sipr_proxy_cfg_default(&fx.cfg);
  static const char *const domains[] = {"example.com"};
  fx.cfg.domains = domains;
  fx.cfg.ndomains = 1;
  fx.cfg.locals = fx.locals;
  fx.cfg.nlocals = 2;
  fx.cfg.realm = "example.com";
  fx.cfg.wall_now = fake_wall;
  fx.cfg.clock = &fx.fc.clock;
  fx.cfg.ops.layer = op_layer;
  fx.cfg.ops.loop = op_loop;
  fx.cfg.ops.send = op_send;
  fx.cfg.ops.send_response = op_send_response;
  fx.cfg.ops.resolver = op_resolver;
  fx.silent_fd = -1;
  sipr_arena_init(&fx.a, NULL, 0, 0);
  return 0;
}

static int setup(void **state) {
  setup_base(state);
  fx_proxy();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  sipr_res_free(fx.res);
  if (fx.silent_fd >= 0)
    close(fx.silent_fd);
  sipr_txn_layer_free(fx.l);
  sipr_loop_free(fx.loop);
  sipr_proxy_free(fx.px);
  sipr_auth_server_free(fx.auth);
  sipr_store_close(fx.store);
  clear_caps();
  sipr_arena_free(&fx.a);
  return 0;
}

/* ---- driving ---------------------------------------------------------- */
/* Feeds text as received from remote ("udp:192.0.2.99:5060") on local. */
static void feed_from(const char *text, const char *remote, const char *local) {
  size_t len = strlen(text);
  char *copy = dup_text(text, len);
  sipr_arena_t a;
  sipr_arena_init(&a, NULL, 0, 1 << 20);
  sipr_msg_t *m = NULL;
  sipr_perr_t err;
  assert_int_equal(sipr_msg_parse(&a, copy, len, SIPR_PARSE_DATAGRAM, &m, &err),
                   0);
  assert_int_equal(sipr_msg_check(m, &err), 0);
  sipr_tp_src_t src;
  memset(&src, 0, sizeof(src));
  assert_int_equal(sipr_tp_addr_parse(remote, &src.remote), 0);
  assert_int_equal(sipr_tp_addr_parse(local, &src.local), 0);
  sipr_txn_layer_recv(fx.l, m, &src);
  memset(copy, 'x', len);
  free(copy);
  sipr_arena_free(&a);
  sipr_loop_run_once(fx.loop, 0);
}

static void feed(const char *text) {
  feed_from(text, "udp:192.0.2.99:5060", "udp:192.0.2.5:5060");
}

static sipr_msg_t *parse_cap_len(const char *text, size_t len) {
  sipr_msg_t *m = NULL;
  sipr_perr_t err;
  assert_int_equal(sipr_msg_parse(&fx.a, text, len, SIPR_PARSE_DATAGRAM, &m,
                                  &err),
                   0);
  assert_int_equal(sipr_msg_check(m, &err), 0);
  return m;
}

static sipr_msg_t *parse_cap(const char *text) {
  sipr_msg_t *m = NULL;
  sipr_perr_t err;
  assert_int_equal(sipr_msg_parse(&fx.a, text, strlen(text),
                                  SIPR_PARSE_DATAGRAM, &m, &err),
                   0);
  assert_int_equal(sipr_msg_check(m, &err), 0);
  return m;
}

/* The last response sent upstream with this status (NULL: none). */
static sipr_msg_t *resp_with(unsigned status) {
  for (unsigned i = fx.nresp; i-- > 0;) {
    sipr_msg_t *m = parse_cap(fx.resp[i].text);
    if (m->status == status)
      return m;
  }
  return NULL;
}

/* The number of final (>= 200) responses sent upstream. */
static unsigned finals(void) {
  unsigned n = 0;
  for (unsigned i = 0; i < fx.nresp; i++)
    if (strncmp(fx.resp[i].text, "SIP/2.0 1", 9) != 0)
      n++;
  return n;
}

/* The index of the first request sent with method to port (-1: none). */
static int req_idx(const char *method, int port) {
  size_t ml = strlen(method);
  for (unsigned i = 0; i < fx.nreq; i++)
    if (strncmp(fx.req[i].text, method, ml) == 0 &&
        fx.req[i].text[ml] == ' ' &&
        (port < 0 || sipr_tp_addr_port(&fx.req[i].dest) == port))
      return (int)i;
  return -1;
}

static unsigned count_reqs(const char *method) {
  unsigned n = 0;
  size_t ml = strlen(method);
  for (unsigned i = 0; i < fx.nreq; i++)
    if (strncmp(fx.req[i].text, method, ml) == 0 && fx.req[i].text[ml] == ' ')
      n++;
  return n;
}

/* Builds the downstream answer to captured request i and feeds it as
 * received from its destination. */
static void answer(int i, unsigned status, const char *extra) {
  assert_true(i >= 0);
  sipr_msg_t *m = parse_cap(fx.req[i].text);
  sipr_buf_t b;
  sipr_buf_init(&b);
  char tag[32];
  snprintf(tag, sizeof tag, "uas%d", i);
  assert_int_equal(sipr_print_response(&b, m, status, NULL,
                                       status > 100 ? sipr_str_cstr(tag)
                                                    : SIPR_STR_NULL,
                                       extra ? sipr_str_cstr(extra)
                                             : SIPR_STR_NULL),
                   0);
  char remote[80];
  char *t = dup_text(b.p, b.len);
  sipr_buf_free(&b);
  sipr_tp_addr_str(&fx.req[i].dest, remote, sizeof remote);
  feed_from(t, remote, "udp:192.0.2.5:5060");
  free(t);
}

static void add_binding(const char *aor, const char *contact, int q) {
  sipr_loc_change_t ch;
  memset(&ch, 0, sizeof ch);
  ch.op = SIPR_LOC_SET;
  ch.b.aor = aor;
  ch.b.contact = contact;
  ch.b.call_id = contact; /* one REGISTER dialog per contact */
  ch.b.cseq = 1;
  ch.b.expires = fx.wall + 3600;
  ch.b.q = q;
  assert_int_equal(sipr_store_apply_sync(fx.store, aor, &ch, 1, fx.wall, 0,
                                         NULL),
                   0);
}

static const char *mkreq(const char *method, const char *ruri,
                         const char *extra) {
  static char buf[4096];
  fx.seq++;
  snprintf(buf, sizeof buf,
           "%s %s SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKuac%u\r\n"
           "%s"
           "From: <sip:carol@192.0.2.99>;tag=c%u\r\n"
           "To: <%s>\r\n"
           "Call-ID: call%u@192.0.2.99\r\n"
           "CSeq: 1 %s\r\n"
           "Contact: <sip:carol@192.0.2.99:5060>\r\n"
           "Content-Length: 0\r\n\r\n",
           method, ruri, fx.seq, extra ? extra : "Max-Forwards: 70\r\n",
           fx.seq, ruri, fx.seq, method);
  return buf;
}

static char *hdr(sipr_msg_t *m, sipr_hdr_type_t t, unsigned n) {
  static char out[1024];
  unsigned i = 0;
  for (sipr_hdr_t *h = m->first[t]; h; h = h->next_same)
    if (i++ == n) {
      snprintf(out, sizeof out, "%.*s", SIPR_STR_ARG(h->value));
      return out;
    }
  return NULL;
}

#define ALICE "sip:alice@example.com"

/* ---- §16.3 validation ---------------------------------------------------- */
static void test_validation(void **state) {
  (void)state;
  add_binding(ALICE, "sip:alice@192.0.2.20:5070", -1);
  feed(mkreq("INVITE", "tel:+15551234", NULL));
  assert_non_null(resp_with(416)); /* §16.3 step 2 */
  clear_caps();
  feed(mkreq("INVITE", ALICE, "Max-Forwards: 0\r\n"));
  assert_non_null(resp_with(483)); /* §16.3 step 3 */
  clear_caps();
  feed(mkreq("INVITE", ALICE, "Max-Forwards: 70\r\nProxy-Require: foo, bar\r\n"));
  sipr_msg_t *m = resp_with(420); /* §16.3 step 5 */
  assert_non_null(m);
  assert_string_equal(hdr(m, SIPR_HDR_UNSUPPORTED, 0), "foo, bar");
  assert_non_null(sipr_msg_to(m)->tag.p);
  clear_caps();
  feed(mkreq("INVITE", "sip:nobody@example.com", NULL));
  assert_non_null(resp_with(404)); /* §16.5: no such user */
  clear_caps();
  /* Never an open relay: another domain, no authenticated user. */
  feed(mkreq("INVITE", "sip:bob@192.0.2.77:5060", NULL));
  m = resp_with(403);
  assert_non_null(m);
  assert_true(SIPR_STR_CASEEQ_LIT(m->reason, "Relaying Denied"));
  assert_int_equal(count_reqs("INVITE"), 0);
  clear_caps();
}

/* §16.3 step 4: a spiral (new Request-URI) passes, a loop gets 482. */
static void test_loop(void **state) {
  (void)state;
  add_binding("sip:alice@192.0.2.5", "sip:alice@192.0.2.5:5060", -1);
  feed(mkreq("OPTIONS", "sip:alice@192.0.2.5", NULL));
  assert_int_equal(count_reqs("OPTIONS"), 1);
  char *f1 = dup_text(fx.req[0].text, strlen(fx.req[0].text));
  clear_caps();
  /* It comes back to us with another Request-URI: a spiral. */
  feed_from(f1, "udp:192.0.2.5:5060", "udp:192.0.2.5:5060");
  assert_int_equal(count_reqs("OPTIONS"), 1);
  char *f2 = dup_text(fx.req[0].text, strlen(fx.req[0].text));
  clear_caps();
  /* Again with the same Request-URI as last time: a loop. */
  feed_from(f2, "udp:192.0.2.5:5060", "udp:192.0.2.5:5060");
  assert_int_equal(count_reqs("OPTIONS"), 0);
  assert_non_null(resp_with(482));
  free(f1);
  free(f2);
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();
}

/* §16.6: what the forwarded INVITE carries; §16.7: 180 and 200 upstream;
 * the ACK for the 2xx passes end to end without our Route. */
static void test_forward_call(void **state) {
  (void)state;
  add_binding(ALICE, "sip:alice@192.0.2.20:5070", -1);
  feed(mkreq("INVITE", ALICE, ""));
  int i = req_idx("INVITE", 5070);
  assert_true(i >= 0);
  sipr_msg_t *f = parse_cap(fx.req[i].text);
  assert_true(SIPR_STR_CASEEQ_LIT(f->ruri_str, "sip:alice@192.0.2.20:5070"));
  assert_string_equal(hdr(f, SIPR_HDR_MAX_FORWARDS, 0), "70"); /* added */
  assert_string_equal(hdr(f, SIPR_HDR_RECORD_ROUTE, 0),
                      "<sip:192.0.2.5:5060;lr>");
  assert_null(hdr(f, SIPR_HDR_RECORD_ROUTE, 1));
  sipr_via_t *v = sipr_msg_via(f);
  assert_true(SIPR_STR_CASEEQ_LIT(v->host, "192.0.2.5"));
  assert_int_equal(v->port, 5060);
  assert_int_equal(v->branch.len, 27);
  assert_non_null(strstr(hdr(f, SIPR_HDR_VIA, 1), "branch=z9hG4bKuac"));

  answer(i, 100, NULL);
  answer(i, 180, NULL);
  sipr_msg_t *r = resp_with(180);
  assert_non_null(r);
  /* our Via is gone: the UAC's is on top */
  assert_non_null(strstr(hdr(r, SIPR_HDR_VIA, 0), "branch=z9hG4bKuac"));
  assert_null(hdr(r, SIPR_HDR_VIA, 1));
  answer(i, 200, "Record-Route: <sip:192.0.2.5:5060;lr>\r\n"
                 "Contact: <sip:alice@192.0.2.20:5070>\r\n");
  r = resp_with(200);
  assert_non_null(r);
  assert_true(SIPR_STR_CASEEQ_LIT(sipr_msg_to(r)->tag, "uas0"));

  /* ACK for the 2xx: a stray ACK, relayed by Route / Request-URI. */
  unsigned before = fx.nreq;
  feed("ACK sip:alice@192.0.2.20:5070 SIP/2.0\r\n"
       "Via: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKack1\r\n"
       "Route: <sip:192.0.2.5:5060;lr>\r\n"
       "Max-Forwards: 70\r\n"
       "From: <sip:carol@192.0.2.99>;tag=c1\r\n"
       "To: <sip:alice@example.com>;tag=uas0\r\n"
       "Call-ID: call1@192.0.2.99\r\n"
       "CSeq: 1 ACK\r\n"
       "Content-Length: 0\r\n\r\n");
  assert_int_equal(fx.nreq, before + 1);
  assert_true(fx.req[before].stateless);
  assert_int_equal(sipr_tp_addr_port(&fx.req[before].dest), 5070);
  sipr_msg_t *ack = parse_cap(fx.req[before].text);
  assert_null(ack->first[SIPR_HDR_ROUTE]);
  assert_string_equal(hdr(ack, SIPR_HDR_MAX_FORWARDS, 0), "69");
  assert_true(SIPR_STR_CASEEQ_LIT(sipr_msg_via(ack)->host, "192.0.2.5"));

  /* A BYE in the dialog follows the Route, no location lookup. */
  feed("BYE sip:alice@192.0.2.20:5070 SIP/2.0\r\n"
       "Via: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKbye1\r\n"
       "Route: <sip:192.0.2.5:5060;lr>\r\n"
       "Max-Forwards: 70\r\n"
       "From: <sip:carol@192.0.2.99>;tag=c1\r\n"
       "To: <sip:alice@example.com>;tag=uas0\r\n"
       "Call-ID: call1@192.0.2.99\r\n"
       "CSeq: 2 BYE\r\n"
       "Content-Length: 0\r\n\r\n");
  i = req_idx("BYE", 5070);
  assert_true(i >= 0);
  f = parse_cap(fx.req[i].text);
  assert_null(f->first[SIPR_HDR_ROUTE]);
  assert_null(f->first[SIPR_HDR_RECORD_ROUTE]);
  assert_string_equal(hdr(f, SIPR_HDR_MAX_FORWARDS, 0), "69");
  answer(i, 200, NULL);
  r = resp_with(200);
  assert_non_null(r);
  assert_non_null(strstr(hdr(r, SIPR_HDR_VIA, 0), "z9hG4bKbye1"));
  /* A 2xx retransmitted after everything ended goes statelessly. */
  char *ok = NULL;
  {
    int k = req_idx("INVITE", 5070);
    sipr_msg_t *inv = parse_cap(fx.req[k].text);
    sipr_buf_t b;
    sipr_buf_init(&b);
    sipr_print_response(&b, inv, 200, NULL, SIPR_STR("uas0"), SIPR_STR_NULL);
    ok = dup_text(b.p, b.len);
    sipr_buf_free(&b);
  }
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();
  feed_from(ok, "udp:192.0.2.20:5070", "udp:192.0.2.5:5060");
  free(ok);
  assert_int_equal(fx.nresp, 1);
  assert_true(fx.resp[0].stateless);
  clear_caps();
}

/* §16.6 step 4: TCP in, UDP out: two Record-Route values. */
static void test_double_rr(void **state) {
  (void)state;
  add_binding(ALICE, "sip:alice@192.0.2.20:5070", -1);
  const char *t = mkreq("INVITE", ALICE, "Max-Forwards: 10\r\n");
  char *tt = dup_text(t, strlen(t));
  /* the Via says TCP as it came over TCP */
  char *u = strstr(tt, "SIP/2.0/UDP");
  memcpy(u, "SIP/2.0/TCP", 11);
  feed_from(tt, "tcp:192.0.2.99:40000", "tcp:192.0.2.5:5060");
  free(tt);
  int i = req_idx("INVITE", 5070);
  assert_true(i >= 0);
  sipr_msg_t *f = parse_cap(fx.req[i].text);
  assert_string_equal(hdr(f, SIPR_HDR_RECORD_ROUTE, 0),
                      "<sip:192.0.2.5:5060;lr>");
  assert_string_equal(hdr(f, SIPR_HDR_RECORD_ROUTE, 1),
                      "<sip:192.0.2.5:5060;transport=tcp;lr>");
  assert_string_equal(hdr(f, SIPR_HDR_MAX_FORWARDS, 0), "9");
  answer(i, 486, NULL);
  assert_non_null(resp_with(486));
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();
}

/* §18.1.1: a forwarded request over 1300 bytes leaves over TCP (Via and
 * Record-Route say so) unless the target URI pins the transport. */
static void test_large_to_tcp(void **state) {
  (void)state;
  add_binding(ALICE, "sip:alice@192.0.2.20:5070", -1);
  add_binding("sip:udp@example.com", "sip:udp@192.0.2.21:5071;transport=udp", -1);
  char body[1500];
  memset(body, 'a', sizeof body - 3);
  memcpy(body + sizeof body - 3, "\r\n", 3);
  for (int k = 0; k < 2; k++) {
    char big[4096];
    fx.seq++;
    snprintf(big, sizeof big,
             "MESSAGE %s SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKbig%u\r\n"
             "Max-Forwards: 70\r\n"
             "From: <sip:carol@192.0.2.99>;tag=b%u\r\n"
             "To: <%s>\r\n"
             "Call-ID: big%u@192.0.2.99\r\n"
             "CSeq: 1 MESSAGE\r\n"
             "Content-Type: text/plain\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             k ? "sip:udp@example.com" : ALICE, fx.seq, fx.seq,
             k ? "sip:udp@example.com" : ALICE, fx.seq, strlen(body), body);
    feed(big);
    assert_int_equal(fx.nreq, 1);
    sipr_msg_t *f = parse_cap(fx.req[0].text);
    if (k == 0) {
      assert_int_equal(fx.req[0].dest.proto, SIPR_TP_TCP);
      assert_true(SIPR_STR_CASEEQ_LIT(sipr_msg_via(f)->transport, "TCP"));
    } else {
      assert_int_equal(fx.req[0].dest.proto, SIPR_TP_UDP);
    }
    answer(0, 200, NULL);
    assert_non_null(resp_with(200));
    sipr_loop_advance(fx.loop, &fx.fc, 64000);
    clear_caps();
  }
}

/* §16.7 step 6: best response; 503 goes upstream as 500. */
static void test_best_response(void **state) {
  (void)state;
  add_binding(ALICE, "sip:alice@192.0.2.21:5071", -1);
  add_binding(ALICE, "sip:alice@192.0.2.22:5072", -1);
  add_binding(ALICE, "sip:alice@192.0.2.23:5073", -1);
  feed(mkreq("INVITE", ALICE, NULL));
  assert_int_equal(count_reqs("INVITE"), 3);
  answer(req_idx("INVITE", 5072), 503, NULL);
  assert_int_equal(finals(), 0);
  answer(req_idx("INVITE", 5071), 486, NULL);
  assert_int_equal(finals(), 0);
  answer(req_idx("INVITE", 5073), 404, NULL);
  assert_int_equal(finals(), 1);
  assert_non_null(resp_with(486)); /* lowest class, first received */
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();

  feed(mkreq("MESSAGE", ALICE, NULL));
  assert_int_equal(count_reqs("MESSAGE"), 3);
  answer(req_idx("MESSAGE", 5071), 503, NULL);
  answer(req_idx("MESSAGE", 5072), 503, NULL);
  answer(req_idx("MESSAGE", 5073), 503, NULL);
  assert_int_equal(finals(), 1);
  assert_non_null(resp_with(500));
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();
}

/* §16.7 step 5/10: a 6xx cancels the other branches and wins. */
static void test_6xx_cancels(void **state) {
  (void)state;
  add_binding(ALICE, "sip:alice@192.0.2.21:5071", -1);
  add_binding(ALICE, "sip:alice@192.0.2.22:5072", -1);
  add_binding(ALICE, "sip:alice@192.0.2.23:5073", -1);
  feed(mkreq("INVITE", ALICE, NULL));
  int a = req_idx("INVITE", 5071), b = req_idx("INVITE", 5072),
      c = req_idx("INVITE", 5073);
  answer(a, 180, NULL);
  answer(b, 180, NULL);
  answer(c, 180, NULL);
  answer(b, 486, NULL);
  answer(c, 603, NULL);
  assert_int_equal(finals(), 0);
  /* CANCEL to the pending branch only (§9.1: same branch, Request-URI). */
  assert_int_equal(count_reqs("CANCEL"), 1);
  int k = req_idx("CANCEL", 5071);
  assert_true(k >= 0);
  sipr_msg_t *cn = parse_cap(fx.req[k].text);
  sipr_msg_t *inv = parse_cap(fx.req[a].text);
  assert_true(sipr_str_eq(sipr_msg_via(cn)->branch, sipr_msg_via(inv)->branch));
  assert_true(sipr_str_eq(cn->ruri_str, inv->ruri_str));
  assert_int_equal(sipr_msg_cseq(cn)->seq, sipr_msg_cseq(inv)->seq);
  answer(k, 200, NULL);
  answer(a, 487, NULL);
  assert_int_equal(finals(), 1);
  assert_non_null(resp_with(603));
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();
}

/* §16.10: CANCEL answered 200, sent on every pending branch; 487 back. */
static void test_cancel(void **state) {
  (void)state;
  add_binding(ALICE, "sip:alice@192.0.2.21:5071", -1);
  add_binding(ALICE, "sip:alice@192.0.2.22:5072", -1);
  const char *t = mkreq("INVITE", ALICE, NULL);
  char inv[4096];
  snprintf(inv, sizeof inv, "%s", t);
  feed(inv);
  int a = req_idx("INVITE", 5071), b = req_idx("INVITE", 5072);
  answer(a, 180, NULL);
  /* b has had no provisional: its CANCEL waits for one (§9.1) */
  char cancel[4096];
  snprintf(cancel, sizeof cancel,
           "CANCEL %s SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKuac%u\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:carol@192.0.2.99>;tag=c%u\r\n"
           "To: <%s>\r\n"
           "Call-ID: call%u@192.0.2.99\r\n"
           "CSeq: 1 CANCEL\r\n"
           "Content-Length: 0\r\n\r\n",
           ALICE, fx.seq, fx.seq, ALICE, fx.seq);
  feed(cancel);
  sipr_msg_t *ok = resp_with(200);
  assert_non_null(ok);
  assert_true(SIPR_STR_CASEEQ_LIT(sipr_msg_cseq(ok)->method, "CANCEL"));
  assert_true(req_idx("CANCEL", 5071) >= 0);
  assert_int_equal(req_idx("CANCEL", 5072), -1);
  answer(b, 180, NULL);
  assert_true(req_idx("CANCEL", 5072) >= 0);
  answer(req_idx("CANCEL", 5071), 200, NULL);
  answer(req_idx("CANCEL", 5072), 200, NULL);
  answer(a, 487, NULL);
  assert_int_equal(finals(), 1); /* the CANCEL's 200 */
  answer(b, 487, NULL);
  assert_int_equal(finals(), 2);
  assert_non_null(resp_with(487));
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();

  /* Cancelled while the branches stay silent: their Timer B ends them,
   * and the caller is told 487, not 408. */
  feed(mkreq("INVITE", ALICE, NULL));
  snprintf(cancel, sizeof cancel,
           "CANCEL %s SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKuac%u\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:carol@192.0.2.99>;tag=c%u\r\n"
           "To: <%s>\r\n"
           "Call-ID: call%u@192.0.2.99\r\n"
           "CSeq: 1 CANCEL\r\n"
           "Content-Length: 0\r\n\r\n",
           ALICE, fx.seq, fx.seq, ALICE, fx.seq);
  feed(cancel);
  assert_int_equal(count_reqs("CANCEL"), 0); /* §9.1: no provisional yet */
  sipr_loop_advance(fx.loop, &fx.fc, 33000);
  assert_non_null(resp_with(487));
  assert_null(resp_with(408));
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();
}

/* §16.8: Timer C fires after a provisional: CANCEL, then 487 upstream.
 * Without any answer, Timer B makes the branch a 408. */
static void test_timer_c(void **state) {
  (void)state;
  add_binding(ALICE, "sip:alice@192.0.2.21:5071", -1);
  feed(mkreq("INVITE", ALICE, NULL));
  int a = req_idx("INVITE", 5071);
  answer(a, 180, NULL);
  sipr_loop_advance(fx.loop, &fx.fc, 180000);
  assert_int_equal(req_idx("CANCEL", 5071), -1); /* > 3 minutes */
  sipr_loop_advance(fx.loop, &fx.fc, 6000);
  int k = req_idx("CANCEL", 5071);
  assert_true(k >= 0);
  answer(k, 200, NULL);
  answer(a, 487, NULL);
  assert_non_null(resp_with(487));
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();

  feed(mkreq("INVITE", ALICE, NULL));
  sipr_loop_advance(fx.loop, &fx.fc, 33000); /* Timer B: 64*T1 */
  assert_non_null(resp_with(408));
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();

  /* A callee that ignores the CANCEL too: 408 once Timer C fires again. */
  feed(mkreq("INVITE", ALICE, NULL));
  a = req_idx("INVITE", 5071);
  answer(a, 180, NULL);
  sipr_loop_advance(fx.loop, &fx.fc, 186000);
  k = req_idx("CANCEL", 5071);
  assert_true(k >= 0);
  answer(k, 200, NULL);
  assert_int_equal(finals(), 0);
  sipr_loop_advance(fx.loop, &fx.fc, 33000);
  assert_non_null(resp_with(408));
  /* ... and its INVITE client transaction is given up (§9.1), not kept:
   * only the server side waits out its own timers. */
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  assert_int_equal(sipr_txn_count(fx.l), 0);
  clear_caps();
}

/* §16.7 step 7: the challenges of every 401/407 in one response. */
static void test_auth_merge(void **state) {
  (void)state;
  add_binding(ALICE, "sip:alice@192.0.2.21:5071", -1);
  add_binding(ALICE, "sip:alice@192.0.2.22:5072", -1);
  feed(mkreq("INVITE", ALICE, NULL));
  answer(req_idx("INVITE", 5071), 401,
         "WWW-Authenticate: Digest realm=\"a.example\", nonce=\"n1\"\r\n");
  answer(req_idx("INVITE", 5072), 407,
         "Proxy-Authenticate: Digest realm=\"b.example\", nonce=\"n2\"\r\n");
  sipr_msg_t *m = resp_with(401);
  assert_non_null(m);
  assert_non_null(strstr(hdr(m, SIPR_HDR_WWW_AUTHENTICATE, 0), "a.example"));
  assert_non_null(strstr(hdr(m, SIPR_HDR_PROXY_AUTHENTICATE, 0), "b.example"));
  assert_null(hdr(m, SIPR_HDR_WWW_AUTHENTICATE, 1));
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();
}

/* Sequential forking by q: the next group after a failure. */
static void test_sequential(void **state) {
  (void)state;
  sipr_proxy_free(fx.px);
  fx.cfg.fork = SIPR_FORK_SEQUENTIAL;
  fx.cfg.fork_timeout_ms = 10000;
  fx_proxy();
  add_binding(ALICE, "sip:alice@192.0.2.21:5071", 500);
  add_binding(ALICE, "sip:alice@192.0.2.22:5072", 1000);
  add_binding(ALICE, "sip:alice@192.0.2.23:5073", 100);
  feed(mkreq("INVITE", ALICE, NULL));
  assert_int_equal(count_reqs("INVITE"), 1);
  assert_true(req_idx("INVITE", 5072) >= 0);
  answer(req_idx("INVITE", 5072), 486, NULL);
  assert_int_equal(count_reqs("INVITE"), 2);
  int b = req_idx("INVITE", 5071);
  assert_true(b >= 0);
  answer(b, 180, NULL);
  /* no answer in time: cancelled, the last group starts */
  sipr_loop_advance(fx.loop, &fx.fc, 10000);
  assert_true(req_idx("CANCEL", 5071) >= 0);
  int c = req_idx("INVITE", 5073);
  assert_true(c >= 0);
  answer(req_idx("CANCEL", 5071), 200, NULL);
  answer(b, 487, NULL);
  assert_int_equal(finals(), 0);
  answer(c, 200, NULL);
  assert_int_equal(finals(), 1);
  assert_non_null(resp_with(200));
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();
}

/* §16.7 step 4 with recursion on: a 3xx's Contacts become new targets
 * (never one already tried); off (the default), the 3xx goes upstream. */
static void test_recurse_3xx(void **state) {
  (void)state;
  add_binding(ALICE, "sip:alice@192.0.2.20:5070", -1);
  feed(mkreq("INVITE", ALICE, NULL));
  answer(req_idx("INVITE", 5070), 302,
         "Contact: <sip:alice@192.0.2.30:5080>\r\n");
  assert_non_null(resp_with(302)); /* default: not recursed */
  assert_int_equal(req_idx("INVITE", 5080), -1);
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();

  sipr_proxy_free(fx.px);
  fx.cfg.recurse_3xx = 1;
  fx_proxy();
  feed(mkreq("INVITE", ALICE, NULL));
  answer(req_idx("INVITE", 5070), 302,
         "Contact: <sip:alice@192.0.2.30:5080>, <sip:alice@192.0.2.20:5070>\r\n");
  assert_int_equal(finals(), 0);
  int i = req_idx("INVITE", 5080);
  assert_true(i >= 0);
  assert_int_equal(count_reqs("INVITE"), 2); /* 5070 not tried twice */
  sipr_msg_t *f = parse_cap(fx.req[i].text);
  assert_true(SIPR_STR_CASEEQ_LIT(f->ruri_str, "sip:alice@192.0.2.30:5080"));
  answer(i, 200, NULL);
  assert_int_equal(finals(), 1);
  assert_non_null(resp_with(200));
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();
  fx.cfg.recurse_3xx = 0;
}

/* §8.3 redirect mode: 302 with the bindings, 404, 480. */
static void test_redirect(void **state) {
  (void)state;
  sipr_proxy_free(fx.px);
  fx.cfg.redirect = 1;
  fx_proxy();
  add_binding(ALICE, "sip:alice@192.0.2.21:5071", 500);
  add_binding(ALICE, "sip:alice@192.0.2.22:5072", -1);
  feed(mkreq("INVITE", ALICE, NULL));
  sipr_msg_t *m = resp_with(302);
  assert_non_null(m);
  assert_string_equal(hdr(m, SIPR_HDR_CONTACT, 0),
                      "<sip:alice@192.0.2.22:5072>;expires=3600");
  assert_string_equal(hdr(m, SIPR_HDR_CONTACT, 1),
                      "<sip:alice@192.0.2.21:5071>;q=0.5;expires=3600");
  assert_int_equal(count_reqs("INVITE"), 0);
  clear_caps();
  feed(mkreq("INVITE", "sip:nobody@example.com", NULL));
  assert_non_null(resp_with(404));
  clear_caps();
  char ha1[SIPR_AUTH_HEX_MAX];
  assert_int_equal(sipr_auth_ha1(SIPR_AUTH_MD5, "bob", "example.com", "pw", ha1), 0);
  assert_int_equal(sipr_store_cred_put(fx.store, "bob", "example.com", "MD5", ha1), 0);
  feed(mkreq("INVITE", "sip:bob@example.com", NULL));
  assert_non_null(resp_with(480));
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();
}

/* §16.3 step 6: a caller claiming our domain must authenticate (407);
 * with good credentials it may call out of our domains. */
static void test_proxy_auth(void **state) {
  (void)state;
  const char *realms[] = {"example.com"};
  sipr_auth_config_t ac;
  memset(&ac, 0, sizeof ac);
  ac.realms = realms;
  ac.nrealms = 1;
  sipr_auth_alg_t algs[] = {SIPR_AUTH_MD5};
  ac.algs = algs;
  ac.nalgs = 1;
  assert_int_equal(sipr_auth_server_new(&ac, &fx.auth), 0);
  sipr_proxy_free(fx.px);
  fx.cfg.auth = 1;
  fx_proxy();
  char ha1[SIPR_AUTH_HEX_MAX];
  assert_int_equal(sipr_auth_ha1(SIPR_AUTH_MD5, "carol", "example.com", "pw", ha1), 0);
  assert_int_equal(sipr_store_cred_put(fx.store, "carol", "example.com", "MD5", ha1), 0);

  const char *fmt = "INVITE sip:bob@192.0.2.77:5080 SIP/2.0\r\n"
                    "Via: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKau%d\r\n"
                    "Max-Forwards: 70\r\n"
                    "From: <sip:carol@example.com>;tag=au\r\n"
                    "To: <sip:bob@192.0.2.77:5080>\r\n"
                    "Call-ID: auth1@192.0.2.99\r\n"
                    "CSeq: %d INVITE\r\n"
                    "%s"
                    "Content-Length: 0\r\n\r\n";
  char buf[4096];
  snprintf(buf, sizeof buf, fmt, 1, 1, "");
  feed(buf);
  sipr_msg_t *m = resp_with(407);
  assert_non_null(m);
  const sipr_auth_t *ch = sipr_auth_client_pick(m, SIPR_HDR_PROXY_AUTHENTICATE);
  assert_non_null(ch);
  sipr_buf_t cred;
  sipr_buf_init(&cred);
  assert_int_equal(sipr_auth_client_answer(ch, SIPR_STR("INVITE"),
                                           SIPR_STR("sip:bob@192.0.2.77:5080"),
                                           "carol", "pw", NULL, 1, NULL, &cred),
                   0);
  char line[2048];
  snprintf(line, sizeof line, "Proxy-Authorization: %.*s\r\n", (int)cred.len,
           cred.p);
  sipr_buf_free(&cred);
  clear_caps();
  snprintf(buf, sizeof buf, fmt, 2, 2, line);
  feed(buf);
  int i = req_idx("INVITE", 5080);
  assert_true(i >= 0);
  sipr_msg_t *f = parse_cap(fx.req[i].text);
  /* §22.3: our credentials are consumed. */
  assert_null(f->first[SIPR_HDR_PROXY_AUTHORIZATION]);
  assert_true(SIPR_STR_CASEEQ_LIT(f->ruri_str, "sip:bob@192.0.2.77:5080"));
  answer(i, 200, NULL);
  assert_non_null(resp_with(200));
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();
}

/* §16.4: a strict router sent us our Record-Route URI as Request-URI. */
static void test_strict_route(void **state) {
  (void)state;
  feed("BYE sip:192.0.2.5:5060;lr SIP/2.0\r\n"
       "Via: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKsr1\r\n"
       "Route: <sip:alice@192.0.2.20:5070>\r\n"
       "Max-Forwards: 70\r\n"
       "From: <sip:carol@192.0.2.99>;tag=c1\r\n"
       "To: <sip:alice@example.com>;tag=x\r\n"
       "Call-ID: strict@192.0.2.99\r\n"
       "CSeq: 2 BYE\r\n"
       "Content-Length: 0\r\n\r\n");
  int i = req_idx("BYE", 5070);
  assert_true(i >= 0);
  sipr_msg_t *f = parse_cap(fx.req[i].text);
  assert_true(SIPR_STR_CASEEQ_LIT(f->ruri_str, "sip:alice@192.0.2.20:5070"));
  assert_null(f->first[SIPR_HDR_ROUTE]);
  answer(i, 200, NULL);
  assert_non_null(resp_with(200));
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();
}

/* RFC 3327 §5.3: a binding registered through an edge proxy (Path) is
 * reached through it: the Path becomes the Route, the edge the next hop.
 * A CANCEL matching no request of ours gets 481 (§9.2). */
static void test_path_and_stray_cancel(void **state) {
  (void)state;
  sipr_loc_change_t ch;
  memset(&ch, 0, sizeof ch);
  ch.op = SIPR_LOC_SET;
  ch.b.aor = ALICE;
  ch.b.contact = "sip:alice@10.0.0.9:5060";
  ch.b.path = "<sip:192.0.2.60:5066;lr>";
  ch.b.call_id = "pathreg";
  ch.b.cseq = 1;
  ch.b.expires = fx.wall + 3600;
  ch.b.q = -1;
  assert_int_equal(sipr_store_apply_sync(fx.store, ALICE, &ch, 1, fx.wall, 0,
                                         NULL),
                   0);
  feed(mkreq("MESSAGE", ALICE, NULL));
  int i = req_idx("MESSAGE", 5066);
  assert_true(i >= 0);
  sipr_msg_t *f = parse_cap(fx.req[i].text);
  assert_true(SIPR_STR_CASEEQ_LIT(f->ruri_str, "sip:alice@10.0.0.9:5060"));
  assert_string_equal(hdr(f, SIPR_HDR_ROUTE, 0), "<sip:192.0.2.60:5066;lr>");
  answer(i, 200, NULL);
  assert_non_null(resp_with(200));
  clear_caps();

  feed("CANCEL sip:alice@example.com SIP/2.0\r\n"
       "Via: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKnone\r\n"
       "Max-Forwards: 70\r\n"
       "From: <sip:carol@192.0.2.99>;tag=n\r\n"
       "To: <sip:alice@example.com>\r\n"
       "Call-ID: none@192.0.2.99\r\n"
       "CSeq: 1 CANCEL\r\n"
       "Content-Length: 0\r\n\r\n");
  assert_non_null(resp_with(481));
  assert_int_equal(count_reqs("CANCEL"), 0);
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();
}

/* A resolver on the test's loop reading the hosts file only (localhost),
 * so nothing leaves loopback. */
static void files_resolver(void) {
  sipr_res_cfg_t rc;
  sipr_res_cfg_default(&rc);
  rc.lookups = "f";
  fx.res = sipr_res_new(fx.loop, &rc);
  assert_non_null(fx.res);
}

/* A resolver asking a name server on loopback that never answers (100 ms,
 * one try): its lookups stay in progress until c-ares gives up. */
static void silent_resolver(void) {
  fx.silent_fd = socket(AF_INET, SOCK_DGRAM, 0);
  assert_true(fx.silent_fd >= 0);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fx.silent_fd, (struct sockaddr *)&sa, sizeof sa), 0);
  socklen_t sl = sizeof sa;
  assert_int_equal(getsockname(fx.silent_fd, (struct sockaddr *)&sa, &sl), 0);
  char spec[64];
  snprintf(spec, sizeof spec, "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
  sipr_res_cfg_t rc;
  sipr_res_cfg_default(&rc);
  rc.lookups = "b";
  rc.servers = spec;
  rc.timeout_ms = 100;
  rc.tries = 1;
  fx.res = sipr_res_new(fx.loop, &rc);
  assert_non_null(fx.res);
}

/* Lets c-ares' real-time timeout pass and the fake-clock loop run its
 * timer, until the resolver has nothing in progress. */
static void wait_lookups(void) {
  sipr_res_stats_t st;
  for (int i = 0; i < 100; i++) {
    sipr_res_get_stats(fx.res, &st);
    if (!st.pending)
      return;
    usleep(20000);
    sipr_loop_advance(fx.loop, &fx.fc, 20);
    sipr_loop_run_once(fx.loop, 0);
  }
  fail_msg("a lookup is still in progress");
}

static int has_reason(sipr_msg_t *m, const char *reason) {
  return m && m->reason.len == strlen(reason) &&
         memcmp(m->reason.p, reason, m->reason.len) == 0;
}

/* An ACK for a 2xx following our Record-Route to ruri (§16.11: relayed
 * statelessly by its Request-URI). */
static void feed_ack_to(const char *ruri, unsigned n) {
  char ack[1024];
  snprintf(ack, sizeof ack,
           "ACK %s SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKack%u\r\n"
           "Max-Forwards: 70\r\n"
           "Route: <sip:192.0.2.5:5060;lr>\r\n"
           "From: <sip:carol@192.0.2.99>;tag=ack%u\r\n"
           "To: <sip:alice@example.com>;tag=uas%u\r\n"
           "Call-ID: ack%u@192.0.2.99\r\n"
           "CSeq: 1 ACK\r\n"
           "Content-Length: 0\r\n\r\n",
           ruri, n, n, n, n);
  feed(ack);
}

/* RFC 3263 §4.2 (A/AAAA): a target whose host is a name goes where the
 * name resolves, as a numeric host would; the Request-URI keeps the name. */
static void test_hostname_target(void **state) {
  (void)state;
  files_resolver();
  add_binding(ALICE, "sip:alice@localhost:5070", -1);
  feed(mkreq("INVITE", ALICE, NULL));
  int i = req_idx("INVITE", 5070);
  assert_true(i >= 0);
  char buf[64];
  assert_string_equal(sipr_tp_addr_str(&fx.req[i].dest, buf, sizeof buf),
                      "udp:127.0.0.1:5070");
  sipr_msg_t *fwd = parse_cap(fx.req[i].text);
  assert_true(SIPR_STR_CASEEQ_LIT(fwd->ruri_str, "sip:alice@localhost:5070"));
  answer(i, 180, NULL);
  answer(i, 200, NULL);
  assert_non_null(resp_with(200));
  /* its ACK, relayed statelessly, goes to the name's address too */
  unsigned before = fx.nreq;
  feed_ack_to("sip:alice@localhost:5070", 1);
  assert_int_equal(fx.nreq, before + 1);
  assert_true(fx.req[before].stateless);
  assert_string_equal(sipr_tp_addr_str(&fx.req[before].dest, buf, sizeof buf),
                      "udp:127.0.0.1:5070");
  assert_true(strncmp(fx.req[before].text, "ACK sip:alice@localhost:5070 ",
                      29) == 0);
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();

  /* transport=tcp and no port: TCP to the default port */
  sipr_proxy_free(fx.px);
  fx_proxy();
  add_binding("sip:bob@example.com", "sip:bob@LOCALHOST;transport=tcp", -1);
  feed(mkreq("MESSAGE", "sip:bob@example.com", NULL));
  i = req_idx("MESSAGE", 5060);
  assert_true(i >= 0);
  assert_string_equal(sipr_tp_addr_str(&fx.req[i].dest, buf, sizeof buf),
                      "tcp:127.0.0.1:5060");
  answer(i, 200, NULL);
  assert_non_null(resp_with(200));
  sipr_res_stats_t st;
  sipr_res_get_stats(fx.res, &st);
  assert_int_equal(st.lookups, 3);
  /* the ACK's came from the cache; the hosts file's answer was kept for
   * a second, not for the 64 s the fake clock moved since: asked again */
  assert_int_equal(st.cache_hits, 1);
  assert_int_equal(st.queries, 2);
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();
}

/* Runs the loop and the test's name server until the resolver has nothing
 * in progress. */
static void serve_lookups(fake_dns_t *d) {
  sipr_res_stats_t st;
  for (int i = 0; i < 300; i++) {
    sipr_res_get_stats(fx.res, &st);
    if (!st.pending)
      return;
    fake_dns_serve(d);
    sipr_loop_run_once(fx.loop, 10);
  }
  fail_msg("a lookup is still in progress");
}

/* A name answered by a name server (on loopback): the branch waits for
 * the answer, then is forwarded as for a numeric host; the ACK for its
 * 2xx, relayed statelessly, uses the cached answer, or waits for a new
 * one once the record's TTL has passed. */
static void test_hostname_dns(void **state) {
  (void)state;
  fake_dns_t d;
  assert_int_equal(fake_dns_start(&d, "phone.sipr.test", 0x7f000009u, 30), 0);
  sipr_res_cfg_t rc;
  sipr_res_cfg_default(&rc);
  rc.lookups = "b";
  rc.servers = d.spec;
  fx.res = sipr_res_new(fx.loop, &rc);
  assert_non_null(fx.res);
  add_binding(ALICE, "sip:alice@phone.sipr.test:5070", -1);
  feed(mkreq("INVITE", ALICE, NULL));
  assert_int_equal(count_reqs("INVITE"), 0); /* waiting for the answer */
  assert_int_equal(finals(), 0);
  serve_lookups(&d);
  int i = req_idx("INVITE", 5070);
  assert_true(i >= 0);
  char buf[64];
  assert_string_equal(sipr_tp_addr_str(&fx.req[i].dest, buf, sizeof buf),
                      "udp:127.0.0.9:5070");
  assert_int_equal(d.answered, 1);
  answer(i, 200, NULL);
  assert_non_null(resp_with(200));

  unsigned n0 = fx.nreq;
  feed_ack_to("sip:alice@phone.sipr.test:5070", 11);
  assert_int_equal(fx.nreq, n0 + 1); /* from the cache, at once */
  assert_string_equal(sipr_tp_addr_str(&fx.req[n0].dest, buf, sizeof buf),
                      "udp:127.0.0.9:5070");
  sipr_loop_advance(fx.loop, &fx.fc, 31000); /* past the TTL */
  feed_ack_to("sip:alice@phone.sipr.test:5070", 12);
  assert_int_equal(fx.nreq, n0 + 1); /* waits for the name */
  serve_lookups(&d);
  assert_int_equal(fx.nreq, n0 + 2);
  assert_true(fx.req[n0 + 1].stateless);
  assert_string_equal(sipr_tp_addr_str(&fx.req[n0 + 1].dest, buf, sizeof buf),
                      "udp:127.0.0.9:5070");
  assert_true(strstr(fx.req[n0 + 1].text, "branch=z9hG4bKack12") != NULL);
  assert_int_equal(d.answered, 2);

  /* NXDOMAIN: that branch is a 503, "Not Found In DNS" */
  add_binding("sip:bob@example.com", "sip:bob@gone.sipr.test", -1);
  feed(mkreq("MESSAGE", "sip:bob@example.com", NULL));
  assert_int_equal(finals(), 1); /* the INVITE's 200 only */
  serve_lookups(&d);
  assert_true(has_reason(resp_with(500), "Next Hop Not Found In DNS"));
  assert_int_equal(count_reqs("MESSAGE"), 0);
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();
  fake_dns_stop(&d);
}

/* A name that does not resolve: that branch counts as a 503 (§16.9), sent
 * upstream as 500 (§16.7 step 6) with a reason saying why; another branch
 * of the same request is not held up by it. */
static void test_hostname_unknown(void **state) {
  (void)state;
  files_resolver();
  add_binding(ALICE, "sip:alice@nosuch.sipr.invalid:5070", -1);
  feed(mkreq("INVITE", ALICE, NULL));
  assert_int_equal(count_reqs("INVITE"), 0);
  sipr_msg_t *m = resp_with(500);
  assert_non_null(m);
  assert_true(has_reason(m, "Next Hop Not Found In DNS"));
  assert_int_equal(finals(), 1);
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();

  add_binding(ALICE, "sip:alice@192.0.2.20:5071", -1);
  feed(mkreq("INVITE", ALICE, NULL));
  int i = req_idx("INVITE", 5071);
  assert_true(i >= 0);
  assert_int_equal(count_reqs("INVITE"), 1);
  answer(i, 486, NULL);
  assert_non_null(resp_with(486)); /* 486 is better than the as-if 503 */
  assert_int_equal(finals(), 1);
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();

  /* no resolver at all: the same 503 for that branch */
  sipr_res_free(fx.res);
  fx.res = NULL;
  sipr_proxy_free(fx.px);
  fx_proxy();
  add_binding("sip:bob@example.com", "sip:bob@localhost:5072", -1);
  feed(mkreq("INVITE", "sip:bob@example.com", NULL));
  assert_int_equal(count_reqs("INVITE"), 0);
  assert_true(has_reason(resp_with(500), "Next Hop DNS Lookup Failed"));
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();
}

/* The answer comes later: the branch waits, its sibling
 * goes on, and a lookup that fails ends the branch as a 503. */
static void test_hostname_async(void **state) {
  (void)state;
  silent_resolver();
  add_binding(ALICE, "sip:alice@quiet.sipr.test:5070", -1);
  add_binding(ALICE, "sip:alice@192.0.2.20:5071", -1);
  feed(mkreq("INVITE", ALICE, NULL));
  assert_int_equal(count_reqs("INVITE"), 1); /* the numeric one */
  int i = req_idx("INVITE", 5071);
  assert_true(i >= 0);
  assert_int_equal(finals(), 0);
  sipr_res_stats_t st;
  sipr_res_get_stats(fx.res, &st);
  assert_int_equal(st.pending, 1);
  sipr_proxy_stats_t ps;
  sipr_proxy_get_stats(fx.px, &ps);
  assert_int_equal(ps.active, 1);
  answer(i, 404, NULL);
  assert_int_equal(finals(), 0); /* still waiting for the name */
  wait_lookups();
  assert_int_equal(count_reqs("INVITE"), 1);
  /* 404 beats the as-if 503 of the branch whose name did not resolve */
  assert_non_null(resp_with(404));
  assert_int_equal(finals(), 1);
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();
  sipr_proxy_get_stats(fx.px, &ps);
  assert_int_equal(ps.active, 0);

  /* an ACK waits for its name too; no answer, no ACK */
  feed_ack_to("sip:alice@quiet.sipr.test:5070", 2);
  assert_int_equal(fx.nreq, 0);
  wait_lookups();
  assert_int_equal(fx.nreq, 0);
  /* the failure is remembered for a while (5 s): at once now */
  add_binding("sip:bob@example.com", "sip:bob@quiet.sipr.test", -1);
  feed(mkreq("MESSAGE", "sip:bob@example.com", NULL));
  assert_true(has_reason(resp_with(500), "Next Hop DNS Lookup Failed"));
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();

  /* only the name, asked again: the lookup fails, 500 "Next Hop DNS
   * Lookup Failed" */
  feed(mkreq("MESSAGE", "sip:bob@example.com", NULL));
  assert_int_equal(finals(), 0);
  wait_lookups();
  assert_true(has_reason(resp_with(500), "Next Hop DNS Lookup Failed"));
  assert_int_equal(count_reqs("MESSAGE"), 0);
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();

  /* freed while a request and an ACK wait for names: nothing leaks (the
   * resolver goes first, then the proxy frees what waited) */
  feed(mkreq("MESSAGE", "sip:bob@example.com", NULL));
  feed_ack_to("sip:alice@quiet.sipr.test:5070", 3);
  sipr_res_stats_t st2;
  sipr_res_get_stats(fx.res, &st2);
  assert_int_equal(st2.pending, 2);
}

/* §16.10: a CANCEL while a branch waits for its name ends the wait: 487
 * at once, nothing is forwarded when the answer would have come. */
static void test_hostname_cancel(void **state) {
  (void)state;
  silent_resolver();
  add_binding(ALICE, "sip:alice@quiet.sipr.test:5070", -1);
  feed(mkreq("INVITE", ALICE, NULL));
  assert_int_equal(count_reqs("INVITE"), 0);
  char cancel[4096];
  snprintf(cancel, sizeof cancel,
           "CANCEL %s SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKuac%u\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:carol@192.0.2.99>;tag=c%u\r\n"
           "To: <%s>\r\n"
           "Call-ID: call%u@192.0.2.99\r\n"
           "CSeq: 1 CANCEL\r\n"
           "Content-Length: 0\r\n\r\n",
           ALICE, fx.seq, fx.seq, ALICE, fx.seq);
  feed(cancel);
  assert_non_null(resp_with(200));
  assert_non_null(resp_with(487));
  assert_int_equal(finals(), 2);
  wait_lookups(); /* the cancelled lookup ends; no callback into the proxy */
  assert_int_equal(count_reqs("INVITE"), 0);
  assert_int_equal(count_reqs("CANCEL"), 0);
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  sipr_proxy_stats_t ps;
  sipr_proxy_get_stats(fx.px, &ps);
  assert_int_equal(ps.active, 0);
  clear_caps();

  /* a 2xx on one branch ends another's wait too */
  add_binding("sip:bob@example.com", "sip:bob@quiet.sipr.test:5070", -1);
  add_binding("sip:bob@example.com", "sip:bob@192.0.2.20:5071", -1);
  feed(mkreq("INVITE", "sip:bob@example.com", NULL));
  int i = req_idx("INVITE", 5071);
  assert_true(i >= 0);
  answer(i, 200, NULL);
  assert_non_null(resp_with(200));
  assert_int_equal(finals(), 1);
  wait_lookups();
  assert_int_equal(count_reqs("INVITE"), 1);
  assert_int_equal(finals(), 1);
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();
}

/* A forward rule may name its next hop by host name (stateful only). */
static void test_hostname_rule(void **state) {
  (void)state;
  files_resolver();
  sipr_proxy_free(fx.px);
  static const char *const rules[] = {
      "domain=b.example -> forward sip:localhost:5090"};
  fx.cfg.rules = rules;
  fx.cfg.nrules = 1;
  fx_proxy();
  feed(mkreq("INVITE", "sip:bob@b.example", NULL));
  int i = req_idx("INVITE", 5090);
  assert_true(i >= 0);
  char buf[64];
  assert_string_equal(sipr_tp_addr_str(&fx.req[i].dest, buf, sizeof buf),
                      "udp:127.0.0.1:5090");
  sipr_msg_t *fwd = parse_cap(fx.req[i].text);
  assert_true(SIPR_STR_CASEEQ_LIT(fwd->ruri_str, "sip:bob@b.example"));
  answer(i, 486, NULL);
  assert_non_null(resp_with(486));
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();
}

/* RFC 3327 edge proxy: REGISTERs for other domains relayed to the
 * configured registrar with our Path (§5.2), the 200 with the registrar's
 * Path back unaltered, and requests for the UA coming back along it. */
static void edge_proxy(sipr_proxy_path_t mode) {
  sipr_proxy_free(fx.px);
  fx.cfg.edge = "sip:192.0.2.50:5070";
  fx.cfg.edge_path = mode;
  fx_proxy();
}

/* The REGISTER relayed last, parsed (asserts it went to the registrar). */
static sipr_msg_t *relayed_register(void) {
  int i = -1;
  for (unsigned k = 0; k < fx.nreq; k++)
    if (strncmp(fx.req[k].text, "REGISTER ", 9) == 0)
      i = (int)k;
  assert_true(i >= 0);
  char buf[64];
  assert_string_equal(sipr_tp_addr_str(&fx.req[i].dest, buf, sizeof buf),
                      "udp:192.0.2.50:5070");
  return parse_cap(fx.req[i].text);
}

static int last_register_idx(void) {
  int i = -1;
  for (unsigned k = 0; k < fx.nreq; k++)
    if (strncmp(fx.req[k].text, "REGISTER ", 9) == 0)
      i = (int)k;
  return i;
}

static void test_edge_register(void **state) {
  (void)state;
  edge_proxy(SIPR_PATH_SUPPORTED);
  /* which REGISTERs are the registrar's here: ours only */
  sipr_msg_t *r = parse_cap(mkreq("REGISTER", "sip:example.com", NULL));
  assert_int_equal(sipr_proxy_for_us(fx.px, r, NULL), 1);
  r = parse_cap(mkreq("REGISTER", "sip:192.0.2.5:5060", NULL));
  assert_int_equal(sipr_proxy_for_us(fx.px, r, NULL), 1);
  r = parse_cap(mkreq("REGISTER", "sip:reg.example", NULL));
  assert_int_equal(sipr_proxy_for_us(fx.px, r, NULL), 0);

  /* Supported: path: relayed with our Path on top, Request-URI kept, no
   * Record-Route (§10: meaningless on REGISTER) */
  feed(mkreq("REGISTER", "sip:reg.example",
             "Max-Forwards: 70\r\nSupported: path, outbound\r\n"));
  sipr_msg_t *m = relayed_register();
  assert_true(SIPR_STR_CASEEQ_LIT(m->ruri_str, "sip:reg.example"));
  assert_string_equal(hdr(m, SIPR_HDR_PATH, 0), "<sip:path@192.0.2.5:5060;lr>");
  assert_null(hdr(m, SIPR_HDR_PATH, 1));
  assert_null(hdr(m, SIPR_HDR_RECORD_ROUTE, 0));
  assert_null(hdr(m, SIPR_HDR_REQUIRE, 0));
  assert_string_equal(hdr(m, SIPR_HDR_MAX_FORWARDS, 0), "69");
  /* §5.2: the registrar's 200 comes back with its Path untouched */
  answer(last_register_idx(), 200,
         "Path: <sip:path@192.0.2.5:5060;lr>\r\n"
         "Contact: <sip:carol@192.0.2.99:5060>;expires=3600\r\n");
  sipr_msg_t *ok = resp_with(200);
  assert_non_null(ok);
  assert_string_equal(hdr(ok, SIPR_HDR_PATH, 0), "<sip:path@192.0.2.5:5060;lr>");
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();

  /* a Path from a proxy before us: ours first, then the others in order */
  feed(mkreq("REGISTER", "sip:reg.example",
             "Max-Forwards: 70\r\nPath: <sip:p1@192.0.2.77;lr>\r\n"
             "Supported: path\r\nPath: <sip:p0@192.0.2.78;lr>\r\n"));
  m = relayed_register();
  assert_string_equal(hdr(m, SIPR_HDR_PATH, 0),
                      "<sip:path@192.0.2.5:5060;lr>, <sip:p1@192.0.2.77;lr>, "
                      "<sip:p0@192.0.2.78;lr>");
  assert_null(hdr(m, SIPR_HDR_PATH, 1));
  answer(last_register_idx(), 200, NULL);
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();

  /* §5.2: no Supported: path, no Path (the registrar still gets it) */
  feed(mkreq("REGISTER", "sip:reg.example", NULL));
  m = relayed_register();
  assert_null(hdr(m, SIPR_HDR_PATH, 0));
  answer(last_register_idx(), 200, NULL);
  assert_non_null(resp_with(200));
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();

  /* always: Path even without support */
  edge_proxy(SIPR_PATH_ALWAYS);
  feed(mkreq("REGISTER", "sip:reg.example", NULL));
  m = relayed_register();
  assert_string_equal(hdr(m, SIPR_HDR_PATH, 0), "<sip:path@192.0.2.5:5060;lr>");
  assert_null(hdr(m, SIPR_HDR_REQUIRE, 0));
  answer(last_register_idx(), 200, NULL);
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();

  /* required: 421 to a UA without support; Require: path with it */
  edge_proxy(SIPR_PATH_REQUIRED);
  feed(mkreq("REGISTER", "sip:reg.example", NULL));
  sipr_msg_t *e = resp_with(421);
  assert_non_null(e);
  assert_string_equal(hdr(e, SIPR_HDR_REQUIRE, 0), "path");
  assert_int_equal(last_register_idx(), -1);
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();
  feed(mkreq("REGISTER", "sip:reg.example",
             "Max-Forwards: 70\r\nSupported: path\r\n"));
  m = relayed_register();
  assert_string_equal(hdr(m, SIPR_HDR_PATH, 0), "<sip:path@192.0.2.5:5060;lr>");
  assert_string_equal(hdr(m, SIPR_HDR_REQUIRE, 0), "path");
  answer(last_register_idx(), 200, NULL);
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();

  /* a rule still comes first */
  sipr_proxy_free(fx.px);
  static const char *const rules[] = {
      "method=REGISTER domain=reg.example -> reject 403 No Registrations"};
  fx.cfg.rules = rules;
  fx.cfg.nrules = 1;
  fx_proxy();
  feed(mkreq("REGISTER", "sip:reg.example",
             "Max-Forwards: 70\r\nSupported: path\r\n"));
  assert_non_null(resp_with(403));
  assert_int_equal(last_register_idx(), -1);
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();
  fx.cfg.rules = NULL;
  fx.cfg.nrules = 0;

  /* a bad edge URI makes no proxy */
  char err[128];
  assert_int_equal(sipr_proxy_edge_check("sip:192.0.2.50:5070", err, sizeof err), 0);
  assert_int_equal(sipr_proxy_edge_check("sip:reg.example;transport=tcp", err,
                                         sizeof err),
                   0);
  assert_int_equal(sipr_proxy_edge_check("http://192.0.2.50", err, sizeof err),
                   SIPR_EINVAL);
  assert_true(strstr(err, "http://192.0.2.50") != NULL);
  assert_int_equal(sipr_proxy_edge_check("sip:r.example;transport=tls", err,
                                         sizeof err),
                   SIPR_EINVAL);
  sipr_proxy_cfg_t c = fx.cfg;
  c.edge = "tel:+1555";
  assert_null(sipr_proxy_new(&c, fx.store, NULL));
}

/* RFC 3327 §5.4: the home proxy preloads our Path as Route; at the edge
 * that request goes on to its Request-URI (the UA's contact), which is no
 * domain of ours; without our Path (or without edge) that is relaying,
 * refused. */
static void test_edge_path_route(void **state) {
  (void)state;
  const char *via_path = "Max-Forwards: 70\r\n"
                         "Route: <sip:path@192.0.2.5:5060;lr>\r\n";
  /* not an edge: 403 */
  feed(mkreq("INVITE", "sip:carol@192.0.2.30:5075", via_path));
  assert_non_null(resp_with(403));
  assert_int_equal(count_reqs("INVITE"), 0);
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();

  edge_proxy(SIPR_PATH_SUPPORTED);
  feed(mkreq("INVITE", "sip:carol@192.0.2.30:5075", via_path));
  int i = req_idx("INVITE", 5075);
  assert_true(i >= 0);
  sipr_msg_t *m = parse_cap(fx.req[i].text);
  assert_true(SIPR_STR_CASEEQ_LIT(m->ruri_str, "sip:carol@192.0.2.30:5075"));
  assert_null(hdr(m, SIPR_HDR_ROUTE, 0)); /* our Route consumed (§16.4) */
  assert_string_equal(hdr(m, SIPR_HDR_RECORD_ROUTE, 0),
                      "<sip:192.0.2.5:5060;lr>");
  answer(i, 200, NULL);
  assert_non_null(resp_with(200));
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();

  /* our Route, but not our Path: still relaying */
  feed(mkreq("INVITE", "sip:carol@192.0.2.30:5075",
             "Max-Forwards: 70\r\nRoute: <sip:192.0.2.5:5060;lr>\r\n"));
  assert_non_null(resp_with(403));
  assert_int_equal(count_reqs("INVITE"), 0);
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();
}

/* Routing rules: text checked at start. */
static void test_rule_check(void **state) {
  (void)state;
  char err[256];
  const char *good[] = {
      "-> location",
      "domain=example.com user=+1 -> location fork=sequential",
      "domain=*.b.example method=INVITE,MESSAGE -> forward sip:192.0.2.40:5090",
      "from=a.example source=192.0.2.0/24 -> forward sip:[2001:db8::1]:5060 stateless",
      "domain=r.example -> redirect sip:elsewhere@example.net",
      "domain=n.example -> forward sip:proxy.example.net:5070",
      "user=9 -> reject 403 Barred Number",
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    assert_int_equal(sipr_proxy_rule_check(good[i], err, sizeof err), 0);
  const char *bad[] = {
      "domain=example.com",                       /* no action */
      "domain=example.com -> teleport",           /* unknown action */
      "color=red -> location",                    /* unknown condition */
      "method=FOO -> location",                   /* unknown method */
      "source=300.1.1.1 -> location",             /* bad network */
      "-> forward sip:proxy.example.net stateless", /* needs a numeric host */
      "-> forward http://192.0.2.1",              /* not SIP */
      "-> forward sip:192.0.2.1 fast",            /* unknown option */
      "-> reject 200 OK",                         /* not a failure */
      "-> reject",                                /* no code */
      "-> location fork=random",
      "domain=a domain=b -> location",
      "-> reject 403 Bad\r\nX-Injected: 1",     /* a line break */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    assert_int_equal(sipr_proxy_rule_check(bad[i], err, sizeof err),
                     SIPR_EINVAL);
    assert_true(err[0] != '\0');
  }
  /* a proxy with a bad rule is not made */
  sipr_proxy_cfg_t c = fx.cfg;
  const char *rules[] = {"-> teleport"};
  c.rules = rules;
  c.nrules = 1;
  assert_null(sipr_proxy_new(&c, fx.store, NULL));
}

static void test_rules(void **state) {
  (void)state;
  sipr_proxy_free(fx.px);
  static const char *const rules[] = {
      "user=9 -> reject 403 Barred Number",
      "domain=*.b.example -> forward sip:192.0.2.40:5090",
      "domain=c.example method=MESSAGE -> forward sip:192.0.2.41:5091 stateless",
      "domain=r.example -> redirect sip:elsewhere@192.0.2.42",
      "domain=example.com user=seq -> location fork=sequential",
  };
  fx.cfg.rules = rules;
  fx.cfg.nrules = sizeof rules / sizeof rules[0];
  fx_proxy();

  feed(mkreq("INVITE", "sip:9123@example.com", NULL));
  sipr_msg_t *m = resp_with(403);
  assert_non_null(m);
  assert_true(SIPR_STR_CASEEQ_LIT(m->reason, "Barred Number"));
  clear_caps();

  /* A forward rule relays another domain without authentication, the
   * Request-URI kept, to the configured next hop. */
  feed(mkreq("INVITE", "sip:bob@x.b.example", NULL));
  int i = req_idx("INVITE", 5090);
  assert_true(i >= 0);
  sipr_msg_t *f = parse_cap(fx.req[i].text);
  assert_true(SIPR_STR_CASEEQ_LIT(f->ruri_str, "sip:bob@x.b.example"));
  assert_non_null(f->first[SIPR_HDR_RECORD_ROUTE]);
  answer(i, 200, NULL);
  assert_non_null(resp_with(200));
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();

  /* Stateless (§16.11): no transaction; a retransmission gets the same
   * branch; the answer goes back by the Via. */
  const char *msg = mkreq("MESSAGE", "sip:bob@c.example", NULL);
  char copy[4096];
  snprintf(copy, sizeof copy, "%s", msg);
  unsigned before = sipr_txn_count(fx.l);
  feed(copy);
  feed(copy);
  assert_int_equal(sipr_txn_count(fx.l), before);
  assert_int_equal(fx.nreq, 2);
  assert_true(fx.req[0].stateless && fx.req[1].stateless);
  assert_int_equal(sipr_tp_addr_port(&fx.req[0].dest), 5091);
  assert_string_equal(fx.req[0].text, fx.req[1].text);
  f = parse_cap(fx.req[0].text);
  assert_int_equal(sipr_msg_via(f)->branch.len, 27);
  assert_string_equal(hdr(f, SIPR_HDR_MAX_FORWARDS, 0), "69");
  assert_null(f->first[SIPR_HDR_RECORD_ROUTE]);
  answer(0, 200, NULL);
  assert_int_equal(fx.nresp, 1);
  assert_true(fx.resp[0].stateless);
  m = parse_cap(fx.resp[0].text);
  assert_non_null(strstr(hdr(m, SIPR_HDR_VIA, 0), "z9hG4bKuac"));
  clear_caps();

  feed(mkreq("INVITE", "sip:x@r.example", NULL));
  m = resp_with(302);
  assert_non_null(m);
  assert_string_equal(hdr(m, SIPR_HDR_CONTACT, 0), "<sip:elsewhere@192.0.2.42>");
  clear_caps();

  add_binding("sip:seq@example.com", "sip:seq@192.0.2.21:5071", 1000);
  add_binding("sip:seq@example.com", "sip:seq@192.0.2.22:5072", 500);
  feed(mkreq("INVITE", "sip:seq@example.com", NULL));
  assert_int_equal(count_reqs("INVITE"), 1); /* sequential by the rule */
  answer(req_idx("INVITE", 5071), 486, NULL);
  assert_int_equal(count_reqs("INVITE"), 2);
  answer(req_idx("INVITE", 5072), 486, NULL);
  assert_non_null(resp_with(486));
  sipr_loop_advance(fx.loop, &fx.fc, 64000);
  clear_caps();
  fx.cfg.rules = NULL;
  fx.cfg.nrules = 0;
}

static void test_for_us(void **state) {
  (void)state;
  sipr_arena_t a;
  sipr_arena_init(&a, NULL, 0, 0);
  struct {
    const char *text;
    int for_us;
  } cases[] = {
      {"REGISTER sip:example.com SIP/2.0\r\n", 1},
      {"REGISTER sip:other.net SIP/2.0\r\n", 1},
      {"REGISTER sip:other.net SIP/2.0\r\nRoute: <sip:192.0.2.77;lr>\r\n", 0},
      {"OPTIONS sip:192.0.2.5:5060 SIP/2.0\r\n", 1},
      {"OPTIONS sip:alice@example.com SIP/2.0\r\n", 0},
      {"INVITE sip:alice@example.com SIP/2.0\r\n", 0},
      {"OPTIONS sip:example.com SIP/2.0\r\nRoute: <sip:192.0.2.77;lr>\r\n", 0},
      {"OPTIONS sip:example.com SIP/2.0\r\nRoute: <sip:192.0.2.5;lr>\r\n", 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char buf[1024];
    snprintf(buf, sizeof buf,
             "%sVia: SIP/2.0/UDP 192.0.2.99;branch=z9hG4bK1\r\n"
             "From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\n"
             "CSeq: 1 %.*s\r\nContent-Length: 0\r\n\r\n",
             cases[i].text, (int)strcspn(cases[i].text, " "), cases[i].text);
    sipr_msg_t *m = NULL;
    sipr_perr_t err;
    assert_int_equal(sipr_msg_parse(&a, buf, strlen(buf), 0, &m, &err), 0);
    assert_int_equal(sipr_proxy_for_us(fx.px, m, NULL), cases[i].for_us);
    sipr_arena_reset(&a);
  }
  sipr_arena_free(&a);
}

/* Bad input never crashes the proxy: every RFC 4475 / RFC 5118 request
 * that passes the transport's checks is fed to it (domains of the
 * torture set served, a binding for a user they call), with auth off and
 * on; whatever is answered is a well-formed response. */
static unsigned torture_dir(const char *dir) {
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "ls %s/*.dat 2>/dev/null", dir);
  FILE *ls = popen(cmd, "r");
  assert_non_null(ls);
  char path[1024];
  unsigned fed = 0;
  while (fgets(path, sizeof path, ls)) {
    path[strcspn(path, "\n")] = '\0';
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    sipr_arena_t a;
    sipr_arena_init(&a, NULL, 0, 1 << 20);
    sipr_msg_t *m = NULL;
    sipr_perr_t err;
    int ok = sipr_msg_parse(&a, buf, n, SIPR_PARSE_DATAGRAM, &m, &err) == 0 &&
             sipr_msg_check(m, &err) == 0 && m->is_request &&
             sipr_msg_via(m) != NULL;
    if (ok) {
      sipr_tp_src_t src;
      memset(&src, 0, sizeof src);
      assert_int_equal(sipr_tp_addr_parse("udp:192.0.2.99:5060", &src.remote), 0);
      assert_int_equal(sipr_tp_addr_parse("udp:192.0.2.5:5060", &src.local), 0);
      sipr_txn_layer_recv(fx.l, m, &src);
      fed++;
    }
    sipr_arena_free(&a);
    sipr_loop_advance(fx.loop, &fx.fc, 40000);
    for (unsigned i = 0; i < fx.nresp; i++) {
      if (getenv("PX_DEBUG"))
        fprintf(stderr, "%s:\n%s\n", path, fx.resp[i].text);
      sipr_msg_t *r = parse_cap_len(fx.resp[i].text, fx.resp[i].len);
      assert_false(r->is_request);
      assert_true(r->status >= 100 && r->status < 700);
    }
    sipr_loop_advance(fx.loop, &fx.fc, 64000);
    clear_caps();
  }
  pclose(ls);
  return fed;
}

static void test_torture(void **state) {
  (void)state;
  static const char *const domains[] = {"example.com", "example.net",
                                        "chair-dnrc.example.com",
                                        "biloxi.example.com"};
  const char *realms[] = {"example.com"};
  sipr_auth_config_t ac;
  memset(&ac, 0, sizeof ac);
  ac.realms = realms;
  ac.nrealms = 1;
  assert_int_equal(sipr_auth_server_new(&ac, &fx.auth), 0);
  for (int auth = 0; auth < 2; auth++) {
    sipr_proxy_free(fx.px);
    fx.cfg.domains = domains;
    fx.cfg.ndomains = 4;
    fx.cfg.auth = auth;
    fx_proxy();
    add_binding("sip:vivekg@chair-dnrc.example.com", "sip:v@192.0.2.20:5070", -1);
    add_binding("sip:j.user@example.com", "sip:j@192.0.2.21:5071", -1);
    unsigned fed = torture_dir(SIPR_TORTURE_DIR "/rfc4475") +
                   torture_dir(SIPR_TORTURE_DIR "/rfc5118");
    assert_true(fed > 10);
  }
  fx.cfg.auth = 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_loop, setup, teardown),
      cmocka_unit_test_setup_teardown(test_forward_call, setup, teardown),
      cmocka_unit_test_setup_teardown(test_double_rr, setup, teardown),
      cmocka_unit_test_setup_teardown(test_large_to_tcp, setup, teardown),
      cmocka_unit_test_setup_teardown(test_best_response, setup, teardown),
      cmocka_unit_test_setup_teardown(test_6xx_cancels, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
      cmocka_unit_test_setup_teardown(test_timer_c, setup, teardown),
      cmocka_unit_test_setup_teardown(test_auth_merge, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sequential, setup, teardown),
      cmocka_unit_test_setup_teardown(test_recurse_3xx, setup, teardown),
      cmocka_unit_test_setup_teardown(test_redirect, setup, teardown),
      cmocka_unit_test_setup_teardown(test_proxy_auth, setup, teardown),
      cmocka_unit_test_setup_teardown(test_strict_route, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hostname_target, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hostname_unknown, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hostname_async, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hostname_dns, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hostname_cancel, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hostname_rule, setup, teardown),
      cmocka_unit_test_setup_teardown(test_edge_register, setup, teardown),
      cmocka_unit_test_setup_teardown(test_edge_path_route, setup, teardown),
      cmocka_unit_test_setup_teardown(test_path_and_stray_cancel, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_for_us, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rule_check, setup, teardown),
      cmocka_unit_test_setup_teardown(test_torture, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rules, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
