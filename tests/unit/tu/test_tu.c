/* TU layer tests: the registrar (RFC 3261 §10.3, RFC 3327) and the UAS
 * core (§8.2, §11) driven through the real transaction layer with a fake
 * transport, a fake clock (loop and wall clock) and the memory store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sipr/auth.h"
#include "sipr/print.h"
#include "sipr/registrar.h"
#include "sipr/store.h"
#include "sipr/txn.h"

#define WALL0 1700000000 /* 2023-11-14T22:13:20Z */
#define MAX_SENT 16

typedef struct fx {
  sipr_fake_clock_t fc;
  sipr_loop_t *loop;
  sipr_txn_layer_t *l;
  sipr_store_t *store;
  sipr_auth_server_t *auth;
  sipr_registrar_t *reg;
  sipr_registrar_cfg_t cfg;
  int64_t wall;
  char *sent[MAX_SENT];
  unsigned nsent;
  /* the last response, parsed */
  sipr_arena_t a;
  sipr_msg_t *resp;
  unsigned branch;
  sipr_txn_t *st; /* the last server transaction */
} fx_t;

static fx_t fx;

/* ---- fakes ------------------------------------------------------------ */
static int64_t fake_wall(void *ctx) {
  (void)ctx;
  return fx.wall;
}

static int tp_send_request(void *ctx, const sipr_tp_addr_t *dest,
                           const char *buf, size_t len, uint64_t *conn_id) {
  (void)ctx, (void)dest, (void)buf, (void)len, (void)conn_id;
  return 0;
}

static int tp_send_response(void *ctx, const sipr_tp_src_t *src,
                            const sipr_via_t *via, const char *buf,
                            size_t len) {
  (void)ctx, (void)src, (void)via;
  assert_true(fx.nsent < MAX_SENT);
  char *c = malloc(len + 1);
  assert_non_null(c);
  memcpy(c, buf, len);
  c[len] = '\0';
  fx.sent[fx.nsent++] = c;
  return 0;
}

static const sipr_txn_tp_ops_t tp_ops = {tp_send_request, tp_send_response};

static void tu_request(void *user, sipr_txn_t *st, sipr_msg_t *req,
                       const sipr_tp_src_t *src) {
  (void)user;
  fx.st = st;
  sipr_registrar_on_request(fx.reg, st, req, src);
}
static void tu_terminated(void *user, sipr_txn_t *t) {
  (void)user;
  sipr_registrar_txn_terminated(fx.reg, t);
}
static void tu_stray_ack(void *user, sipr_msg_t *ack,
                         const sipr_tp_src_t *src) {
  (void)user;
  sipr_registrar_on_request(fx.reg, NULL, ack, src);
}

static const sipr_txn_user_ops_t user_ops = {
    tu_request, NULL, NULL, NULL, tu_terminated, tu_stray_ack, NULL};

/* ---- fixture ---------------------------------------------------------- */
static void fx_clear_sent(void) {
  for (unsigned i = 0; i < fx.nsent; i++)
    free(fx.sent[i]);
  fx.nsent = 0;
}

static int fx_start(int auth) {
  if (auth) {
    const char *realms[] = {"example.com"};
    sipr_auth_config_t ac;
    memset(&ac, 0, sizeof(ac));
    ac.realms = realms;
    ac.nrealms = 1;
    assert_int_equal(sipr_auth_server_new(&ac, &fx.auth), 0);
    fx.cfg.auth = 1;
    fx.cfg.realm = "example.com";
  }
  fx.reg = sipr_registrar_new(&fx.cfg, fx.store, fx.auth);
  assert_non_null(fx.reg);
  return 0;
}

static int setup_common(void) {
  memset(&fx, 0, sizeof(fx));
  sipr_fake_clock_init(&fx.fc, 100000);
  fx.loop = sipr_loop_new(&fx.fc.clock);
  assert_non_null(fx.loop);
  sipr_txn_cfg_t tc;
  sipr_txn_cfg_default(&tc);
  fx.l = sipr_txn_layer_new(fx.loop, &tc, &tp_ops, NULL, &user_ops, NULL);
  assert_non_null(fx.l);
  char err[128];
  fx.store = sipr_store_open("memory", NULL, err, sizeof(err));
  assert_non_null(fx.store);
  fx.wall = WALL0;
  sipr_registrar_cfg_default(&fx.cfg);
  static const char *const domains[] = {"example.com", "192.0.2.5:5060"};
  fx.cfg.domains = domains;
  fx.cfg.ndomains = 2;
  fx.cfg.wall_now = fake_wall;
  fx.cfg.clock = &fx.fc.clock;
  sipr_registrar_attach_loop(fx.loop);
  sipr_arena_init(&fx.a, NULL, 0, 0);
  return 0;
}

static int setup(void **state) {
  (void)state;
  setup_common();
  return fx_start(0);
}

/* The same with an SQLite store in a fresh folder: its completions always
 * come later, through the loop (the memory store may answer inline). */
static char sql_dir[64];

static int setup_sqlite(void **state) {
  (void)state;
  setup_common();
  sipr_store_close(fx.store);
  snprintf(sql_dir, sizeof(sql_dir), "/tmp/sipr-tu-XXXXXX");
  assert_non_null(mkdtemp(sql_dir));
  char spec[128], err[128];
  snprintf(spec, sizeof(spec), "sqlite:%s/t.db", sql_dir);
  fx.store = sipr_store_open(spec, NULL, err, sizeof(err));
  assert_non_null(fx.store);
  return fx_start(0);
}

static int teardown(void **state);

static int teardown_sqlite(void **state) {
  teardown(state);
  static const char *const files[] = {"t.db", "t.db-wal", "t.db-shm"};
  char p[128];
  for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
    snprintf(p, sizeof(p), "%s/%s", sql_dir, files[i]);
    unlink(p);
  }
  rmdir(sql_dir);
  return 0;
}

static int setup_auth(void **state) {
  (void)state;
  setup_common();
  return fx_start(1);
}

static int teardown(void **state) {
  (void)state;
  sipr_store_flush(fx.store);
  sipr_loop_run_once(fx.loop, 0);
  sipr_txn_layer_free(fx.l);
  sipr_registrar_free(fx.reg);
  sipr_auth_server_free(fx.auth);
  sipr_store_close(fx.store);
  sipr_loop_free(fx.loop);
  sipr_registrar_attach_loop(NULL);
  fx_clear_sent();
  sipr_arena_free(&fx.a);
  return 0;
}

/* Feeds text as received over UDP from 192.0.2.99:5060 on 192.0.2.5:5060,
 * runs the loop so deferred answers go out, and parses the one response
 * sent (NULL when none was). */
static sipr_msg_t *feed(const char *text) {
  fx_clear_sent();
  sipr_arena_reset(&fx.a);
  fx.resp = NULL;
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
  assert_int_equal(sipr_tp_addr_parse("udp:192.0.2.99:5060", &src.remote), 0);
  assert_int_equal(sipr_tp_addr_parse("udp:192.0.2.5:5060", &src.local), 0);
  sipr_txn_layer_recv(fx.l, m, &src);
  /* The transport's buffer and arena are gone after the call. */
  memset(copy, 'x', len);
  free(copy);
  sipr_arena_free(&a);
  sipr_store_flush(fx.store);
  for (int i = 0; i < 4; i++)
    sipr_loop_run_once(fx.loop, 0);
  if (!fx.nsent)
    return NULL;
  assert_int_equal(fx.nsent, 1);
  assert_int_equal(sipr_msg_parse(&fx.a, fx.sent[0], strlen(fx.sent[0]),
                                  SIPR_PARSE_DATAGRAM, &fx.resp, &err),
                   0);
  assert_int_equal(sipr_msg_check(fx.resp, &err), 0);
  return fx.resp;
}

/* A REGISTER for sip:alice@example.com with a fresh branch. */
static const char *mkreg(const char *call_id, unsigned cseq,
                         const char *extra) {
  static char buf[4096];
  snprintf(buf, sizeof(buf),
           "REGISTER sip:example.com SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKreg%u\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:alice@example.com>;tag=a1\r\n"
           "To: <sip:alice@example.com>\r\n"
           "Call-ID: %s\r\n"
           "CSeq: %u REGISTER\r\n"
           "%s"
           "Content-Length: 0\r\n\r\n",
           ++fx.branch, call_id, cseq, extra ? extra : "");
  return buf;
}

static unsigned status(const sipr_msg_t *m) {
  assert_non_null(m);
  return m->status;
}

/* The raw text of the n-th value of header type t (NULL: none). */
static const char *hdr_text(sipr_msg_t *m, sipr_hdr_type_t t, unsigned n) {
  static char out[1024];
  unsigned i = 0;
  for (sipr_hdr_t *h = m->first[t]; h; h = h->next_same) {
    if (t == SIPR_HDR_CONTACT) {
      sipr_perr_t err;
      assert_int_equal(sipr_hdr_parse(m, h, &err), 0);
      for (sipr_addr_t *ad = h->parsed; ad; ad = ad->next)
        if (i++ == n) {
          snprintf(out, sizeof(out), "%.*s", SIPR_STR_ARG(ad->raw));
          return out;
        }
    } else if (i++ == n) {
      snprintf(out, sizeof(out), "%.*s", SIPR_STR_ARG(h->value));
      return out;
    }
  }
  return NULL;
}

static unsigned count_contacts(sipr_msg_t *m) {
  unsigned n = 0;
  while (hdr_text(m, SIPR_HDR_CONTACT, n))
    n++;
  return n;
}

static size_t bindings(const char *aor) {
  sipr_binding_list_t l;
  assert_int_equal(sipr_store_lookup(fx.store, aor, fx.wall, &l), 0);
  size_t n = l.n;
  sipr_binding_list_free(&l);
  return n;
}

#define AOR "sip:alice@example.com"

/* ---- registrar -------------------------------------------------------- */
static void test_add_refresh_remove(void **state) {
  (void)state;
  sipr_msg_t *m = feed(mkreg("c1", 1, "Contact: <sip:alice@192.0.2.99:5060>\r\n"
                                      "Expires: 600\r\n"));
  assert_int_equal(status(m), 200);
  assert_string_equal(hdr_text(m, SIPR_HDR_CONTACT, 0),
                      "<sip:alice@192.0.2.99:5060>;expires=600");
  assert_int_equal(count_contacts(m), 1);
  /* §10.3 step 8: Date (fake wall clock). */
  assert_string_equal(hdr_text(m, SIPR_HDR_DATE, 0),
                      "Tue, 14 Nov 2023 22:13:20 GMT");
  /* A To tag was added (§8.2.6.2). */
  assert_non_null(sipr_msg_to(m)->tag.p);
  assert_int_equal(bindings(AOR), 1);

  /* 100 s later: the remaining time is listed. */
  fx.wall += 100;
  m = feed(mkreg("c1", 2, NULL));
  assert_int_equal(status(m), 200);
  assert_string_equal(hdr_text(m, SIPR_HDR_CONTACT, 0),
                      "<sip:alice@192.0.2.99:5060>;expires=500");

  /* Refresh with an expires parameter over the Expires header; the
   * equivalent URI (§19.1.4: host case) updates the same binding. */
  m = feed(mkreg("c1", 3,
                 "Contact: <sip:alice@192.0.2.99:5060>;expires=1200\r\n"
                 "Expires: 300\r\n"));
  assert_int_equal(status(m), 200);
  assert_int_equal(count_contacts(m), 1);
  assert_string_equal(hdr_text(m, SIPR_HDR_CONTACT, 0),
                      "<sip:alice@192.0.2.99:5060>;expires=1200");

  /* No expiry at all: the default (3600). */
  m = feed(mkreg("c1", 4, "Contact: <sip:alice@192.0.2.99:5060>\r\n"));
  assert_string_equal(hdr_text(m, SIPR_HDR_CONTACT, 0),
                      "<sip:alice@192.0.2.99:5060>;expires=3600");

  /* Removal with expires=0. */
  m = feed(mkreg("c1", 5, "Contact: <sip:alice@192.0.2.99:5060>;expires=0\r\n"));
  assert_int_equal(status(m), 200);
  assert_int_equal(count_contacts(m), 0);
  assert_int_equal(bindings(AOR), 0);
}

static void test_star(void **state) {
  (void)state;
  sipr_msg_t *m = feed(mkreg("c1", 1,
                             "Contact: <sip:a@192.0.2.1>, <sip:b@192.0.2.2>\r\n"));
  assert_int_equal(status(m), 200);
  assert_int_equal(count_contacts(m), 2);
  /* "*" without Expires: 0, or with another Contact: 400, nothing changes. */
  m = feed(mkreg("c1", 2, "Contact: *\r\n"));
  assert_int_equal(status(m), 400);
  m = feed(mkreg("c1", 3, "Contact: *\r\nExpires: 5\r\n"));
  assert_int_equal(status(m), 400);
  m = feed(mkreg("c1", 4, "Contact: *\r\nContact: <sip:c@192.0.2.3>\r\n"
                          "Expires: 0\r\n"));
  assert_int_equal(status(m), 400);
  assert_int_equal(bindings(AOR), 2);
  m = feed(mkreg("c2", 1, "Contact: *\r\nExpires: 0\r\n"));
  assert_int_equal(status(m), 200);
  assert_int_equal(count_contacts(m), 0);
  assert_int_equal(bindings(AOR), 0);
}

static void test_star_ordering(void **state) {
  (void)state;
  sipr_msg_t *m = feed(mkreg("c1", 5, "Contact: <sip:a@192.0.2.1>\r\n"));
  assert_int_equal(status(m), 200);
  m = feed(mkreg("c2", 1, "Contact: <sip:b@192.0.2.2>\r\n"));
  assert_int_equal(status(m), 200);
  /* §10.3 step 6: "*" from Call-ID c1 with a CSeq not higher than the
   * binding's: "the update MUST be aborted and the request fails", and
   * the binding of the other Call-ID is not removed either. */
  m = feed(mkreg("c1", 5, "Contact: *\r\nExpires: 0\r\n"));
  assert_int_equal(status(m), 500);
  assert_int_equal(bindings(AOR), 2);
  m = feed(mkreg("c1", 4, "Contact: *\r\nExpires: 0\r\n"));
  assert_int_equal(status(m), 500);
  assert_int_equal(bindings(AOR), 2);
  /* A higher CSeq removes both. */
  m = feed(mkreg("c1", 6, "Contact: *\r\nExpires: 0\r\n"));
  assert_int_equal(status(m), 200);
  assert_int_equal(count_contacts(m), 0);
  assert_int_equal(bindings(AOR), 0);
}

static void test_min_max_expires(void **state) {
  (void)state;
  sipr_msg_t *m = feed(mkreg("c1", 1,
                             "Contact: <sip:a@192.0.2.1>;expires=10\r\n"));
  assert_int_equal(status(m), 423);
  assert_string_equal(hdr_text(m, SIPR_HDR_MIN_EXPIRES, 0), "60");
  assert_int_equal(bindings(AOR), 0);
  /* One brief Contact among good ones: the whole request fails. */
  m = feed(mkreg("c1", 2, "Contact: <sip:a@192.0.2.1>, <sip:b@192.0.2.2>\r\n"
                          "Expires: 30\r\n"));
  assert_int_equal(status(m), 423);
  assert_int_equal(bindings(AOR), 0);
  /* Longer than the maximum: clamped. */
  m = feed(mkreg("c1", 3, "Contact: <sip:a@192.0.2.1>;expires=999999\r\n"));
  assert_int_equal(status(m), 200);
  assert_string_equal(hdr_text(m, SIPR_HDR_CONTACT, 0),
                      "<sip:a@192.0.2.1>;expires=86400");
}

static void test_bad_contact_changes_nothing(void **state) {
  (void)state;
  sipr_msg_t *m = feed(mkreg("c1", 1, "Contact: <sip:a@192.0.2.1>\r\n"));
  assert_int_equal(status(m), 200);
  /* A good update, a good addition and a bad Contact: 400, nothing. */
  m = feed(mkreg("c1", 2, "Contact: <sip:a@192.0.2.1>;expires=0\r\n"
                          "Contact: <sip:b@192.0.2.2>, <name:John_Smith>\r\n"));
  assert_int_equal(status(m), 400);
  assert_int_equal(bindings(AOR), 1);
  m = feed(mkreg("c1", 3, "Contact: <sip:b@192.0.2.2>;reg-id=0\r\n"));
  assert_int_equal(status(m), 400);
  assert_int_equal(bindings(AOR), 1);
}

static void test_ordering(void **state) {
  (void)state;
  sipr_msg_t *m = feed(mkreg("c1", 5, "Contact: <sip:a@192.0.2.1>\r\n"
                                      "Expires: 600\r\n"));
  assert_int_equal(status(m), 200);
  /* §10.3 step 7: same Call-ID, CSeq not higher: the request fails and
   * nothing changes. */
  m = feed(mkreg("c1", 5, "Contact: <sip:a@192.0.2.1>;expires=0\r\n"));
  assert_int_equal(status(m), 500);
  m = feed(mkreg("c1", 4, "Contact: <sip:a@192.0.2.1>;expires=0\r\n"
                          "Contact: <sip:new@192.0.2.7>\r\n"));
  assert_int_equal(status(m), 500);
  assert_int_equal(bindings(AOR), 1);
  m = feed(mkreg("c1", 6, NULL));
  assert_string_equal(hdr_text(m, SIPR_HDR_CONTACT, 0),
                      "<sip:a@192.0.2.1>;expires=600");
  /* Another Call-ID (a rebooted UA) updates whatever its CSeq. */
  m = feed(mkreg("c2", 1, "Contact: <sip:a@192.0.2.1>;expires=900\r\n"));
  assert_int_equal(status(m), 200);
  assert_string_equal(hdr_text(m, SIPR_HDR_CONTACT, 0),
                      "<sip:a@192.0.2.1>;expires=900");
  /* A fetch (no Contact) with an old CSeq is fine. */
  m = feed(mkreg("c2", 1, NULL));
  assert_int_equal(status(m), 200);
}

static void test_q_order(void **state) {
  (void)state;
  sipr_msg_t *m = feed(mkreg("c1", 1,
                             "Contact: <sip:low@192.0.2.1>;q=0.1\r\n"
                             "Contact: <sip:high@192.0.2.2>;q=0.9, "
                             "<sip:none@192.0.2.3>\r\n"
                             "Contact: <sip:half@192.0.2.4>;q=0.500\r\n"));
  assert_int_equal(status(m), 200);
  assert_int_equal(count_contacts(m), 4);
  assert_string_equal(hdr_text(m, SIPR_HDR_CONTACT, 0),
                      "<sip:none@192.0.2.3>;expires=3600");
  assert_string_equal(hdr_text(m, SIPR_HDR_CONTACT, 1),
                      "<sip:high@192.0.2.2>;q=0.9;expires=3600");
  assert_string_equal(hdr_text(m, SIPR_HDR_CONTACT, 2),
                      "<sip:half@192.0.2.4>;q=0.5;expires=3600");
  assert_string_equal(hdr_text(m, SIPR_HDR_CONTACT, 3),
                      "<sip:low@192.0.2.1>;q=0.1;expires=3600");
}

static void test_instance_and_path(void **state) {
  (void)state;
  /* Path without Supported: path: 420 (RFC 3327 §5.3). */
  sipr_msg_t *m = feed(mkreg("c1", 1, "Path: <sip:edge.example.net;lr>\r\n"
                                      "Contact: <sip:a@192.0.2.1>\r\n"));
  assert_int_equal(status(m), 420);
  assert_string_equal(hdr_text(m, SIPR_HDR_UNSUPPORTED, 0), "path");
  m = feed(mkreg("c1", 2,
                 "Supported: path, outbound\r\n"
                 "Path: <sip:edge.example.net;lr>\r\n"
                 "Contact: <sip:a@192.0.2.1;transport=tcp>"
                 ";+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-"
                 "AABBCCDDEEFF>\";reg-id=1\r\n"));
  assert_int_equal(status(m), 200);
  assert_string_equal(hdr_text(m, SIPR_HDR_PATH, 0),
                      "<sip:edge.example.net;lr>");
  assert_string_equal(
      hdr_text(m, SIPR_HDR_CONTACT, 0),
      "<sip:a@192.0.2.1;transport=tcp>;+sip.instance=\"<urn:uuid:00000000-"
      "0000-1000-8000-AABBCCDDEEFF>\";reg-id=1;expires=3600");
  sipr_binding_list_t l;
  assert_int_equal(sipr_store_lookup(fx.store, AOR, fx.wall, &l), 0);
  assert_int_equal(l.n, 1);
  assert_string_equal(l.v[0].path, "<sip:edge.example.net;lr>");
  assert_string_equal(l.v[0].instance,
                      "\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\"");
  assert_int_equal(l.v[0].reg_id, 1);
  assert_int_equal(l.v[0].cseq, 2);
  assert_string_equal(l.v[0].call_id, "c1");
  assert_string_equal(l.v[0].received, "udp:192.0.2.99:5060");
  sipr_binding_list_free(&l);
}

static void test_domains(void **state) {
  (void)state;
  /* Not ours: 404 (no proxying yet). */
  sipr_msg_t *m = feed(
      "REGISTER sip:other.org SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 192.0.2.99;branch=z9hG4bKd1\r\n"
      "From: <sip:alice@other.org>;tag=1\r\nTo: <sip:alice@other.org>\r\n"
      "Call-ID: d1\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n"
      "Contact: <sip:a@192.0.2.1>\r\nContent-Length: 0\r\n\r\n");
  assert_int_equal(status(m), 404);
  /* The address the request arrived on is ours (and listed here with a
   * port); another port is not. */
  m = feed("REGISTER sip:192.0.2.5 SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 192.0.2.99;branch=z9hG4bKd2\r\n"
           "From: <sip:bob@192.0.2.5>;tag=1\r\nTo: <sip:bob@192.0.2.5>\r\n"
           "Call-ID: d2\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n"
           "Contact: <sip:b@192.0.2.1>\r\nContent-Length: 0\r\n\r\n");
  assert_int_equal(status(m), 200);
  assert_int_equal(bindings("sip:bob@192.0.2.5"), 1);
  m = feed("REGISTER sip:192.0.2.5:5070 SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 192.0.2.99;branch=z9hG4bKd3\r\n"
           "From: <sip:bob@192.0.2.5>;tag=1\r\nTo: <sip:bob@192.0.2.5>\r\n"
           "Call-ID: d3\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n"
           "Contact: <sip:b@192.0.2.1>\r\nContent-Length: 0\r\n\r\n");
  assert_int_equal(status(m), 404);
}

/* ---- RFC 4475 --------------------------------------------------------- */
static char *torture(const char *name) {
  char path[512];
  snprintf(path, sizeof(path), "%s/rfc4475/%s.dat", SIPR_TORTURE_DIR, name);
  FILE *f = fopen(path, "rb");
  if (!f)
    fail_msg("missing torture message %s", path);
  static char buf[8192];
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  return buf;
}

static void test_cparam01(void **state) {
  (void)state;
  sipr_msg_t *m = feed(torture("cparam01"));
  assert_int_equal(status(m), 200);
  /* unknownparam is a contact-param: never inside the URI. */
  assert_string_equal(hdr_text(m, SIPR_HDR_CONTACT, 0),
                      "<sip:+19725552222@gw1.example.net>;unknownparam;"
                      "expires=3600");
  sipr_binding_list_t l;
  assert_int_equal(
      sipr_store_lookup(fx.store, "sip:watson@example.com", fx.wall, &l), 0);
  assert_int_equal(l.n, 1);
  assert_string_equal(l.v[0].contact, "sip:+19725552222@gw1.example.net");
  assert_string_equal(l.v[0].params, ";unknownparam");
  sipr_binding_list_free(&l);
}

static void test_cparam02(void **state) {
  (void)state;
  sipr_msg_t *m = feed(torture("cparam02"));
  assert_int_equal(status(m), 200);
  assert_string_equal(hdr_text(m, SIPR_HDR_CONTACT, 0),
                      "<sip:+19725552222@gw1.example.net;unknownparam>;"
                      "expires=3600");
  sipr_binding_list_t l;
  assert_int_equal(
      sipr_store_lookup(fx.store, "sip:watson@example.com", fx.wall, &l), 0);
  assert_int_equal(l.n, 1);
  assert_string_equal(l.v[0].contact,
                      "sip:+19725552222@gw1.example.net;unknownparam");
  assert_string_equal(l.v[0].params, "");
  sipr_binding_list_free(&l);
}

static void test_regescrt(void **state) {
  (void)state;
  sipr_msg_t *m = feed(torture("regescrt"));
  assert_int_equal(status(m), 200);
  assert_string_equal(hdr_text(m, SIPR_HDR_CONTACT, 0),
                      "<sip:user@example.com?Route=%3Csip:sip.example.com%3E>;"
                      "expires=3600");
  sipr_binding_list_t l;
  assert_int_equal(
      sipr_store_lookup(fx.store, "sip:user@example.com", fx.wall, &l), 0);
  assert_int_equal(l.n, 1);
  assert_string_equal(l.v[0].contact,
                      "sip:user@example.com?Route=%3Csip:sip.example.com%3E");
  sipr_binding_list_free(&l);
}

static void test_unksm2(void **state) {
  (void)state;
  assert_int_equal(status(feed(torture("unksm2"))), 400);
}

static void test_regaut01_no_auth(void **state) {
  (void)state;
  /* Auth off: an Authorization in an unknown scheme is ignored. */
  assert_int_equal(status(feed(torture("regaut01"))), 200);
}

/* ---- authentication --------------------------------------------------- */
static void add_user(const char *user, const char *password) {
  char ha1[SIPR_AUTH_HEX_MAX];
  assert_int_equal(
      sipr_auth_ha1(SIPR_AUTH_SHA256, user, "example.com", password, ha1), 0);
  assert_int_equal(
      sipr_store_cred_put(fx.store, user, "example.com", "SHA-256", ha1), 0);
  assert_int_equal(
      sipr_auth_ha1(SIPR_AUTH_MD5, user, "example.com", password, ha1), 0);
  assert_int_equal(
      sipr_store_cred_put(fx.store, user, "example.com", "MD5", ha1), 0);
}

/* "Authorization: ...\r\n" answering the 401 in fx.resp. */
static const char *answer(const char *user, const char *password,
                          uint32_t nc) {
  static char line[2048];
  const sipr_auth_t *ch =
      sipr_auth_client_pick(fx.resp, SIPR_HDR_WWW_AUTHENTICATE);
  assert_non_null(ch);
  sipr_buf_t b;
  sipr_buf_init(&b);
  assert_int_equal(sipr_auth_client_answer(ch, SIPR_STR("REGISTER"),
                                           SIPR_STR("sip:example.com"), user,
                                           password, NULL, nc, NULL, &b),
                   0);
  snprintf(line, sizeof(line), "Authorization: %.*s\r\n", (int)b.len, b.p);
  sipr_buf_free(&b);
  return line;
}

static void test_auth_ok(void **state) {
  (void)state;
  add_user("alice", "secret");
  sipr_msg_t *m = feed(mkreg("c1", 1, "Contact: <sip:a@192.0.2.1>\r\n"));
  assert_int_equal(status(m), 401);
  assert_non_null(hdr_text(m, SIPR_HDR_WWW_AUTHENTICATE, 0));
  assert_int_equal(bindings(AOR), 0);
  char extra[2300];
  snprintf(extra, sizeof(extra), "%sContact: <sip:a@192.0.2.1>\r\n",
           answer("alice", "secret", 1));
  m = feed(mkreg("c1", 2, extra));
  assert_int_equal(status(m), 200);
  assert_int_equal(bindings(AOR), 1);
}

static void test_auth_wrong_password(void **state) {
  (void)state;
  add_user("alice", "secret");
  feed(mkreg("c1", 1, "Contact: <sip:a@192.0.2.1>\r\n"));
  char extra[2300];
  snprintf(extra, sizeof(extra), "%sContact: <sip:a@192.0.2.1>\r\n",
           answer("alice", "wrong", 1));
  sipr_msg_t *m = feed(mkreg("c1", 2, extra));
  assert_int_equal(status(m), 401);
  assert_int_equal(bindings(AOR), 0);
}

static void test_auth_other_aor(void **state) {
  (void)state;
  add_user("alice", "secret");
  add_user("mallory", "hers");
  feed(mkreg("c1", 1, "Contact: <sip:m@192.0.2.66>\r\n"));
  char extra[2300];
  snprintf(extra, sizeof(extra), "%sContact: <sip:m@192.0.2.66>\r\n",
           answer("mallory", "hers", 1));
  /* Mallory authenticates fine, but the To AOR is Alice's: 403. */
  sipr_msg_t *m = feed(mkreg("c1", 2, extra));
  assert_int_equal(status(m), 403);
  assert_int_equal(bindings(AOR), 0);
}

static void test_auth_unknown_user(void **state) {
  (void)state;
  sipr_msg_t *m = feed(mkreg("c1", 1, "Contact: <sip:a@192.0.2.1>\r\n"));
  assert_int_equal(status(m), 404);
  /* regaut01: a scheme nobody knows is answered with a Digest challenge. */
  add_user("j.user", "pw");
  m = feed(torture("regaut01"));
  assert_int_equal(status(m), 401);
}

/* ---- UAS core --------------------------------------------------------- */
static const char *mkreq(const char *method, const char *ruri,
                         const char *extra) {
  static char buf[2048];
  unsigned br = ++fx.branch;
  snprintf(buf, sizeof(buf),
           "%s %s SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKu%u\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:caller@example.net>;tag=f1\r\n"
           "To: <%s>\r\n"
           "Call-ID: u%u\r\n"
           "CSeq: 1 %s\r\n"
           "%s"
           "Content-Length: 0\r\n\r\n",
           method, ruri, br, ruri, br, method,
           extra ? extra : "");
  return buf;
}

static void test_options(void **state) {
  (void)state;
  sipr_msg_t *m = feed(mkreq("OPTIONS", "sip:example.com", NULL));
  assert_int_equal(status(m), 200);
  assert_string_equal(hdr_text(m, SIPR_HDR_ALLOW, 0), SIPR_REGISTRAR_ALLOW);
  assert_string_equal(hdr_text(m, SIPR_HDR_ACCEPT, 0), "application/sdp");
  assert_string_equal(hdr_text(m, SIPR_HDR_SUPPORTED, 0),
                      SIPR_REGISTRAR_SUPPORTED);
  /* zeromf: Max-Forwards 0 addressed to us is still processed. */
  assert_int_equal(status(feed(torture("zeromf"))), 200);
  /* Not ours, Max-Forwards above 0: 404. */
  assert_int_equal(status(feed(mkreq("OPTIONS", "sip:x@other.org", NULL))),
                   404);
}

static void test_405_501(void **state) {
  (void)state;
  sipr_msg_t *m = feed(mkreq("MESSAGE", "sip:bob@example.com", NULL));
  assert_int_equal(status(m), 405);
  assert_string_equal(hdr_text(m, SIPR_HDR_ALLOW, 0), SIPR_REGISTRAR_ALLOW);
  m = feed(mkreq("INVITE", "sip:bob@example.com", NULL));
  assert_int_equal(status(m), 405);
  m = feed(mkreq("FROBNICATE", "sip:bob@example.com", NULL));
  assert_int_equal(status(m), 501);
  assert_string_equal(hdr_text(m, SIPR_HDR_ALLOW, 0), SIPR_REGISTRAR_ALLOW);
  /* CANCEL for nothing pending: 481. */
  assert_int_equal(status(feed(mkreq("CANCEL", "sip:bob@example.com", NULL))),
                   481);
  /* A stray ACK is absorbed. */
  assert_null(feed(mkreq("ACK", "sip:bob@example.com", NULL)));
}

static void test_require(void **state) {
  (void)state;
  /* bext01: 420 naming every unknown option of Require (not
   * Proxy-Require: we are the UAS). */
  sipr_msg_t *m = feed(torture("bext01"));
  assert_int_equal(status(m), 420);
  assert_string_equal(hdr_text(m, SIPR_HDR_UNSUPPORTED, 0),
                      "nothingSupportsThis, nothingSupportsThisEither");
  /* REGISTER with Require: path is fine (with Supported: path). */
  m = feed(mkreg("c1", 1, "Require: path\r\nSupported: path\r\n"
                          "Contact: <sip:a@192.0.2.1>\r\n"));
  assert_int_equal(status(m), 200);
  m = feed(mkreg("c1", 2, "Require: gruu\r\nContact: <sip:a@192.0.2.1>\r\n"));
  assert_int_equal(status(m), 420);
  assert_string_equal(hdr_text(m, SIPR_HDR_UNSUPPORTED, 0), "gruu");
}

static void test_txn_gone(void **state) {
  (void)state;
  /* The transaction ends while the store (SQLite) has the REGISTER (the
   * server's terminated callback calls sipr_registrar_txn_terminated()):
   * the answer is dropped, nothing dangles (ASan checks). */
  sipr_registrar_attach_loop(fx.loop);
  const char *text = mkreg("c1", 1, "Contact: <sip:a@192.0.2.1>\r\n");
  size_t len = strlen(text);
  sipr_arena_t a;
  sipr_arena_init(&a, NULL, 0, 1 << 20);
  sipr_msg_t *m = NULL;
  sipr_perr_t err;
  char *copy = strdup(text);
  assert_int_equal(sipr_msg_parse(&a, copy, len, SIPR_PARSE_DATAGRAM, &m, &err),
                   0);
  assert_int_equal(sipr_msg_check(m, &err), 0);
  sipr_tp_src_t src;
  memset(&src, 0, sizeof(src));
  sipr_tp_addr_parse("udp:192.0.2.99:5060", &src.remote);
  sipr_tp_addr_parse("udp:192.0.2.5:5060", &src.local);
  fx_clear_sent();
  sipr_txn_layer_recv(fx.l, m, &src);
  free(copy);
  sipr_arena_free(&a);
  /* The completion is posted to the loop and has not run yet. */
  assert_int_equal(fx.nsent, 0);
  assert_non_null(fx.st);
  sipr_registrar_txn_terminated(fx.reg, fx.st);
  sipr_store_flush(fx.store);
  sipr_loop_run_once(fx.loop, 0);
  assert_int_equal(fx.nsent, 0);
  sipr_registrar_stats_t s;
  sipr_registrar_get_stats(fx.reg, &s);
  assert_int_equal(s.pending, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_add_refresh_remove, setup, teardown),
      cmocka_unit_test_setup_teardown(test_star, setup, teardown),
      cmocka_unit_test_setup_teardown(test_star_ordering, setup, teardown),
      cmocka_unit_test_setup_teardown(test_min_max_expires, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_contact_changes_nothing, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_ordering, setup, teardown),
      cmocka_unit_test_setup_teardown(test_q_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_instance_and_path, setup, teardown),
      cmocka_unit_test_setup_teardown(test_domains, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cparam01, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cparam02, setup, teardown),
      cmocka_unit_test_setup_teardown(test_regescrt, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unksm2, setup, teardown),
      cmocka_unit_test_setup_teardown(test_regaut01_no_auth, setup, teardown),
      cmocka_unit_test_setup_teardown(test_auth_ok, setup_auth, teardown),
      cmocka_unit_test_setup_teardown(test_auth_wrong_password, setup_auth,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_auth_other_aor, setup_auth,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_auth_unknown_user, setup_auth,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_options, setup, teardown),
      cmocka_unit_test_setup_teardown(test_405_501, setup, teardown),
      cmocka_unit_test_setup_teardown(test_require, setup, teardown),
      cmocka_unit_test_setup_teardown(test_txn_gone, setup_sqlite,
                                      teardown_sqlite),
  };
  return cmocka_run_group_tests_name("tu", tests, NULL, NULL);
}
