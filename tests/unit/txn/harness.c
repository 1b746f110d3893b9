/* The fixture of the transaction tests: fake clock, fake transport, TU. */
#include "tests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipr/print.h"

fx_t fx;

static uint64_t rel_now(void) {
  return fx.fc.now - T0;
}

/* ---- fake transport ---- */
static int record(int is_request, sipr_tp_proto_t proto, const char *buf,
                  size_t len) {
  assert_true(fx.nsent < MAX_SENT);
  unsigned i = fx.nsent;
  int fail =
      fx.fail_sends > 0 || (fx.fail_from && i + 1 >= (unsigned)fx.fail_from);
  if (fx.fail_sends > 0)
    fx.fail_sends--;
  sent_t *s = &fx.sent[fx.nsent++];
  s->is_request = is_request;
  s->at = rel_now();
  s->buf = malloc(len + 1);
  assert_non_null(s->buf);
  memcpy(s->buf, buf, len);
  s->buf[len] = '\0';
  s->len = len;
  s->proto = proto;
  s->status = 0;
  if (!is_request && len > 12 && !strncmp(buf, "SIP/2.0 ", 8))
    s->status = (unsigned)atoi(buf + 8);
  return fail ? SIPR_EIO : 0;
}

static int tp_send_request(void *ctx, const sipr_tp_addr_t *dest,
                           const char *buf, size_t len, uint64_t *conn_id) {
  if (conn_id)
    *conn_id = dest->proto == SIPR_TP_UDP ? 0 : 7;
  return record(1, dest->proto, buf, len);
}

static int tp_send_response(void *ctx, const sipr_tp_src_t *src,
                            const sipr_via_t *via, const char *buf,
                            size_t len) {
  /* The layer must hand over the request's top Via (its own copy). */
  assert_non_null(via);
  assert_true(via->host.len > 0);
  return record(0, src->remote.proto, buf, len);
}

static const sipr_txn_tp_ops_t tp_ops = {tp_send_request, tp_send_response};

/* ---- fake TU ---- */
static ev_t *add_ev(ev_type_t type, sipr_txn_t *t) {
  assert_true(fx.nev < MAX_EV);
  ev_t *e = &fx.ev[fx.nev++];
  memset(e, 0, sizeof(*e));
  e->type = type;
  e->t = t;
  e->at = rel_now();
  if (t)
    e->state = sipr_txn_state(t);
  return e;
}

static void tu_request(void *user, sipr_txn_t *st, sipr_msg_t *req,
                       const sipr_tp_src_t *src) {
  ev_t *e = add_ev(EV_REQUEST, st);
  e->method = req->method_id;
  fx.st = st;
  if (fx.answer)
    assert_int_equal(fx_respond(st, fx.answer), 0);
}

static void tu_response(void *user, sipr_txn_t *ct, sipr_msg_t *resp) {
  ev_t *e = add_ev(EV_RESPONSE, ct);
  e->status = resp->status;
  sipr_addr_t *to = sipr_msg_to(resp);
  if (to && to->tag.p && to->tag.len < sizeof(e->to_tag))
    memcpy(e->to_tag, to->tag.p, to->tag.len);
}

static void tu_timeout(void *user, sipr_txn_t *t) {
  add_ev(EV_TIMEOUT, t);
}
static void tu_tperr(void *user, sipr_txn_t *t) {
  add_ev(EV_TPERR, t);
}
static void tu_terminated(void *user, sipr_txn_t *t) {
  add_ev(EV_TERMINATED, t);
  if (fx.st == t)
    fx.st = NULL;
}
static void tu_stray_ack(void *user, sipr_msg_t *ack,
                         const sipr_tp_src_t *src) {
  add_ev(EV_STRAY_ACK, NULL)->method = ack->method_id;
}
static void tu_stray_response(void *user, sipr_msg_t *resp,
                              const sipr_tp_src_t *src) {
  add_ev(EV_STRAY_RESPONSE, NULL)->status = resp->status;
}

static const sipr_txn_user_ops_t user_ops = {
    tu_request,    tu_response,  tu_timeout,       tu_tperr,
    tu_terminated, tu_stray_ack, tu_stray_response};

/* ---- fixture ---- */
void fx_cfg_default(void) {
  sipr_txn_cfg_default(&fx.cfg);
}

int fx_start(void) {
  if (fx.l)
    sipr_txn_layer_free(fx.l);
  fx.l = sipr_txn_layer_new(fx.loop, &fx.cfg, &tp_ops, NULL, &user_ops, NULL);
  assert_non_null(fx.l);
  return 0;
}

int fx_setup(void **state) {
  memset(&fx, 0, sizeof(fx));
  sipr_fake_clock_init(&fx.fc, T0);
  fx.loop = sipr_loop_new(&fx.fc.clock);
  assert_non_null(fx.loop);
  fx_cfg_default();
  return fx_start();
}

int fx_teardown(void **state) {
  sipr_txn_layer_free(fx.l);
  fx.l = NULL;
  sipr_loop_free(fx.loop);
  fx.loop = NULL;
  for (unsigned i = 0; i < fx.nsent; i++)
    free(fx.sent[i].buf);
  fx.nsent = 0;
  return 0;
}

uint64_t fx_now(void) {
  return rel_now();
}
void fx_advance(uint64_t ms) {
  sipr_loop_advance(fx.loop, &fx.fc, ms);
}
void fx_advance_to(uint64_t at) {
  assert_true(T0 + at >= fx.fc.now);
  sipr_loop_advance(fx.loop, &fx.fc, T0 + at - fx.fc.now);
}

static void src_of(sipr_tp_src_t *src, sipr_tp_proto_t proto) {
  memset(src, 0, sizeof(*src));
  src->remote.proto = proto;
  src->local.proto = proto;
  src->conn_id = proto == SIPR_TP_UDP ? 0 : 9;
}

void fx_feed(const char *text, sipr_tp_proto_t proto) {
  static char storage[16384];
  sipr_arena_t a;
  sipr_arena_init(&a, storage, sizeof(storage), 1 << 20);
  sipr_msg_t *m = NULL;
  sipr_perr_t err;
  /* Received bytes live in a buffer of their own (as the transport's). */
  size_t len = strlen(text);
  char *copy = malloc(len + 1);
  assert_non_null(copy);
  memcpy(copy, text, len + 1);
  assert_int_equal(sipr_msg_parse(&a, copy, len, SIPR_PARSE_DATAGRAM, &m, &err),
                   0);
  assert_int_equal(sipr_msg_check(m, &err), 0);
  sipr_tp_src_t src;
  src_of(&src, proto);
  sipr_txn_layer_recv(fx.l, m, &src);
  /* The transport's buffer is gone after the call. */
  memset(copy, 'x', len);
  free(copy);
  sipr_arena_free(&a);
}

int fx_client_rc(const char *text, sipr_tp_proto_t proto, sipr_txn_t **out) {
  sipr_tp_addr_t dest;
  memset(&dest, 0, sizeof(dest));
  dest.proto = proto;
  return sipr_txn_client_new(fx.l, text, strlen(text), &dest, (void *)&fx, out);
}

sipr_txn_t *fx_client(const char *text, sipr_tp_proto_t proto) {
  sipr_txn_t *t = NULL;
  assert_int_equal(fx_client_rc(text, proto, &t), 0);
  assert_non_null(t);
  return t;
}

int fx_respond(sipr_txn_t *st, unsigned status) {
  static char storage[16384];
  sipr_arena_t a;
  sipr_arena_init(&a, storage, sizeof(storage), 1 << 20);
  sipr_str_t r = sipr_txn_request(st);
  sipr_msg_t *m = NULL;
  sipr_perr_t err;
  assert_int_equal(
      sipr_msg_parse(&a, r.p, r.len, SIPR_PARSE_DATAGRAM, &m, &err), 0);
  sipr_buf_t b;
  sipr_buf_init(&b);
  assert_int_equal(
      sipr_print_response(&b, m, status, NULL,
                          status == 100 ? SIPR_STR_NULL : SIPR_STR("uas-tag"),
                          SIPR_STR_NULL),
      0);
  sipr_arena_free(&a);
  int rc = sipr_txn_respond(st, b.p, b.len);
  sipr_buf_free(&b);
  return rc;
}

unsigned fx_count_ev(ev_type_t type) {
  unsigned n = 0;
  for (unsigned i = 0; i < fx.nev; i++)
    n += fx.ev[i].type == type;
  return n;
}

const ev_t *fx_last_ev(ev_type_t type) {
  for (unsigned i = fx.nev; i-- > 0;)
    if (fx.ev[i].type == type)
      return &fx.ev[i];
  return NULL;
}

unsigned fx_count_sent(int is_request, unsigned status) {
  unsigned n = 0;
  for (unsigned i = 0; i < fx.nsent; i++)
    if (fx.sent[i].is_request == is_request &&
        (!status || fx.sent[i].status == status))
      n++;
  return n;
}

/* ---- message builders ---- */
const char *mkreq(const rq_t *r) {
  static char buf[4096];
  char via[512];
  const char *method = r->method ? r->method : "INVITE";
  if (r->via)
    snprintf(via, sizeof(via), "%s", r->via);
  else if (r->branch)
    snprintf(via, sizeof(via), "SIP/2.0/UDP 192.0.2.10:5060;branch=%s",
             r->branch);
  else
    snprintf(via, sizeof(via), "SIP/2.0/UDP 192.0.2.10:5060");
  char to_tag[80] = "";
  if (r->to_tag)
    snprintf(to_tag, sizeof(to_tag), ";tag=%s", r->to_tag);
  snprintf(buf, sizeof(buf),
           "%s %s SIP/2.0\r\n"
           "Via: %s\r\n"
           "Max-Forwards: 70\r\n"
           "To: Bob <sip:bob@example.com>%s\r\n"
           "From: Alice <sip:alice@example.com>;tag=%s\r\n"
           "Call-ID: %s\r\n"
           "CSeq: %u %s\r\n"
           "%s"
           "Content-Length: 0\r\n"
           "\r\n",
           method, r->ruri ? r->ruri : "sip:bob@example.com", via, to_tag,
           r->from_tag ? r->from_tag : "1928301774",
           r->call_id ? r->call_id : "a84b4c76e66710@pc33.example.com",
           r->cseq ? r->cseq : 314159, r->cseq_method ? r->cseq_method : method,
           r->extra ? r->extra : "");
  return buf;
}

const char *mkresp(unsigned status, const char *branch, const char *method,
                   const char *to_tag) {
  static char buf[4096];
  char tag[80] = "";
  if (to_tag)
    snprintf(tag, sizeof(tag), ";tag=%s", to_tag);
  snprintf(buf, sizeof(buf),
           "SIP/2.0 %u %s\r\n"
           "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=%s\r\n"
           "To: Bob <sip:bob@example.com>%s\r\n"
           "From: Alice <sip:alice@example.com>;tag=1928301774\r\n"
           "Call-ID: a84b4c76e66710@pc33.example.com\r\n"
           "CSeq: 314159 %s\r\n"
           "Content-Length: 0\r\n"
           "\r\n",
           status, sipr_reason_phrase(status), branch, tag, method);
  return buf;
}
