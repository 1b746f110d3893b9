/*
 * RFC 4475 (SIP torture tests) and RFC 5118 (IPv6 torture tests): every
 * message of ../shared/torture is a test with the outcome its INDEX.tsv
 * describes. Outcomes: VALID (a conforming element goes on to process the
 * message), DROP (discard silently), or the status a server answers.
 * Where the RFC allows a liberal or a strict answer, the choice is named.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipr/msg.h"

#define VALID 0
#define DROP (-1)

typedef struct torture {
  const char *file;
  int expect;
  const char *why; /* the choice made, where the RFC leaves one */
} torture_t;

static const torture_t rfc4475[] = {
    {"wsinv.dat", VALID, NULL},
    {"intmeth.dat", VALID, NULL},
    {"esc01.dat", VALID, NULL},
    {"escnull.dat", VALID, NULL},
    {"esc02.dat", VALID, NULL},
    {"lwsdisp.dat", VALID, "liberal: the RFC 3261 ABNF bug is tolerated"},
    {"longreq.dat", VALID, NULL},
    {"dblreq.dat", VALID, "trailing octets ignored"},
    {"semiuri.dat", VALID, NULL},
    {"transports.dat", VALID, NULL},
    {"mpart01.dat", VALID, NULL},
    {"unreason.dat", VALID, NULL},
    {"noreason.dat", VALID, NULL},
    {"badinv01.dat", 400, NULL},
    {"clerr.dat", 400, "datagram"},
    {"ncl.dat", 400, NULL},
    {"scalar02.dat", 400, NULL},
    {"scalarlg.dat", DROP, NULL},
    {"quotbal.dat", 400, "strict: no closing quote is inferred"},
    {"ltgtruri.dat", 400, "strict: <> are not stripped"},
    {"lwsruri.dat", 400, NULL},
    {"lwsstart.dat", 400, "strict: extra SP refused"},
    {"trws.dat", 400, "strict: trailing SP refused"},
    {"escruri.dat", 400, "strict: headers in the Request-URI refused"},
    {"baddate.dat", VALID, "Date does not matter to processing: ignored"},
    {"regbadct.dat", 400, "strict: brackets not inferred"},
    {"badaspec.dat", 400, "strict: spaces in addr-spec refused"},
    {"baddn.dat", 400, NULL},
    {"badvers.dat", 505, NULL},
    {"mismatch01.dat", 400, NULL},
    {"mismatch02.dat", 501, "501 preferred for an unknown method"},
    {"bigcode.dat", DROP, NULL},
    {"badbranch.dat", VALID,
     "RFC 2543 matching for the bare cookie (transaction layer)"},
    {"insuf.dat", 400, NULL},
    {"unkscm.dat", 416, NULL},
    {"novelsc.dat", 416, "soap.beep is never usable as a Request-URI"},
    {"unksm2.dat", VALID, "registrar-level 400 comes later (To not sip)"},
    {"bext01.dat", VALID, "420 is the element's decision, not syntax"},
    {"invut.dat", VALID, "415 is the UAS's decision"},
    {"regaut01.dat", VALID, NULL},
    {"multi01.dat", 400, NULL},
    {"mcl01.dat", 400, NULL},
    {"bcast.dat", VALID, "the endpoint/proxy discards it by policy"},
    {"zeromf.dat", VALID, "483 is the proxy's decision"},
    {"cparam01.dat", VALID, NULL},
    {"cparam02.dat", VALID, NULL},
    {"regescrt.dat", VALID, NULL},
    {"sdp01.dat", VALID, "406 is the UAS's decision"},
    {"inv2543.dat", VALID, NULL},
    {"test.dat", DROP, "it has no Via, so no reply is possible"},
};

static const torture_t rfc5118[] = {
    {"ipv6-good", VALID, NULL},
    {"ipv6-bad", 400, NULL},
    {"port-ambiguous", VALID, NULL},
    {"port-unambiguous", VALID, NULL},
    {"via-received-param-with-delim", VALID, NULL},
    {"via-received-param-no-delim", VALID, NULL},
    {"ipv6-in-sdp", VALID, NULL},
    {"mult-ip-in-header", VALID, NULL},
    {"mult-ip-in-sdp", VALID, NULL},
    {"ipv4-mapped-ipv6", VALID, NULL},
    {"ipv6-bug-abnf-3-colons", VALID, "tolerated as RFC 5118 §4.10 asks"},
    {"ipv6-correct-abnf-2-colons", VALID, NULL},
};

static char *read_file(const char *dir, const char *name, size_t *len) {
  char path[1024];
  snprintf(path, sizeof(path), "%s/%s/%s", SIPR_TORTURE_DIR, dir, name);
  FILE *f = fopen(path, "rb");
  if (!f)
    fail_msg("cannot open %s: the shared torture folder is required", path);
  char *buf = malloc(1 << 16);
  assert_non_null(buf);
  *len = fread(buf, 1, 1 << 16, f);
  fclose(f);
  return buf;
}

/* RFC 5118 files have bare LF line ends and some Content-Lengths that do
 * not match: convert to CRLF, close the header section, recompute. */
static char *fix_5118(const char *in, size_t len, size_t *out_len) {
  char *crlf = malloc(len * 2 + 64);
  assert_non_null(crlf);
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
      crlf[n++] = '\r';
    crlf[n++] = in[i];
  }
  crlf[n] = '\0';
  char *sep = strstr(crlf, "\r\n\r\n");
  if (!sep) {
    memcpy(crlf + n, "\r\n", 3);
    n += 2;
    sep = crlf + n - 4;
  }
  size_t hdr_len = (size_t)(sep - crlf) + 4, body = n - hdr_len;
  char *out = malloc(n + 64);
  assert_non_null(out);
  size_t o = 0;
  const char *p = crlf;
  while (p < crlf + hdr_len) {
    const char *e = strstr(p, "\r\n") + 2;
    if (strncasecmp(p, "Content-Length:", 15) == 0)
      o += (size_t)sprintf(out + o, "Content-Length: %zu\r\n", body);
    else {
      memcpy(out + o, p, (size_t)(e - p));
      o += (size_t)(e - p);
    }
    p = e;
  }
  memcpy(out + o, crlf + hdr_len, body);
  o += body;
  free(crlf);
  *out_len = o;
  return out;
}

typedef struct parsed {
  sipr_arena_t arena;
  char *buf;
  sipr_msg_t *msg;
  sipr_perr_t err;
  int rc;
} parsed_t;

static void parse(parsed_t *p, const char *dir, const char *file) {
  size_t len;
  memset(p, 0, sizeof(*p));
  p->buf = read_file(dir, file, &len);
  if (strcmp(dir, "rfc5118") == 0) {
    size_t fixed_len;
    char *fixed = fix_5118(p->buf, len, &fixed_len);
    free(p->buf);
    p->buf = fixed;
    len = fixed_len;
  }
  sipr_arena_init(&p->arena, NULL, 0, 1 << 20);
  p->rc = sipr_msg_parse(&p->arena, p->buf, len, SIPR_PARSE_DATAGRAM, &p->msg,
                         &p->err);
  if (p->rc == 0)
    p->rc = sipr_msg_check(p->msg, &p->err);
}

static void release(parsed_t *p) {
  sipr_arena_free(&p->arena);
  free(p->buf);
}

/* Returns 1 when the outcome is the expected one; prints why not. */
static int run_case(const char *dir, const torture_t *t) {
  parsed_t p;
  parse(&p, dir, t->file);
  int got = p.rc == 0 ? VALID : (p.err.status ? p.err.status : DROP);
  int ok = got == t->expect && (p.rc == 0 || p.err.reason);
  if (!ok)
    print_error("%s/%s: expected %d, got %d (%s: %s at byte %zu)%s%s\n", dir,
                t->file, t->expect, got, p.err.where ? p.err.where : "-",
                p.err.reason ? p.err.reason : "-", p.err.offset,
                t->why ? "; choice: " : "", t->why ? t->why : "");
  release(&p);
  return ok;
}

static void test_rfc4475_all(void **state) {
  size_t bad = 0;
  for (size_t i = 0; i < sizeof(rfc4475) / sizeof(rfc4475[0]); i++)
    bad += !run_case("rfc4475", &rfc4475[i]);
  assert_int_equal(bad, 0);
}

static void test_rfc5118_all(void **state) {
  size_t bad = 0;
  for (size_t i = 0; i < sizeof(rfc5118) / sizeof(rfc5118[0]); i++)
    bad += !run_case("rfc5118", &rfc5118[i]);
  assert_int_equal(bad, 0);
}

/* ---- what the valid messages must parse to ---------------------------- */
static sipr_hdr_t *nth(sipr_msg_t *m, sipr_hdr_type_t t, int n) {
  sipr_hdr_t *h = m->first[t];
  while (h && n--)
    h = h->next_same;
  return h;
}

static int str_is(sipr_str_t s, const char *z) {
  return sipr_str_eq(s, sipr_str_cstr(z));
}

static void test_wsinv(void **state) {
  parsed_t p;
  parse(&p, "rfc4475", "wsinv.dat");
  assert_int_equal(p.rc, 0);
  sipr_msg_t *m = p.msg;
  assert_true(str_is(sipr_msg_to(m)->tag, "1918181833n"));
  assert_true(str_is(sipr_msg_from(m)->tag, "98asjd8"));
  assert_true(str_is(sipr_msg_from(m)->display, "\"J Rosenberg \\\\\\\"\""));
  assert_int_equal(sipr_msg_max_forwards(m), 68);
  assert_int_equal(sipr_msg_cseq(m)->seq, 9);
  assert_int_equal(sipr_msg_cseq(m)->method_id, SIPR_METHOD_INVITE);
  sipr_via_t *v = sipr_msg_via(m);
  assert_true(str_is(v->transport, "UDP"));
  assert_true(str_is(v->host, "192.0.2.2"));
  assert_true(str_is(v->branch, "390skdjuw"));
  /* second Via field: two values */
  sipr_hdr_t *v2 = nth(m, SIPR_HDR_VIA, 1);
  assert_non_null(v2);
  assert_int_equal(sipr_hdr_parse(m, v2, NULL), 0);
  sipr_via_t *vv = v2->parsed;
  assert_true(str_is(vv->transport, "TCP"));
  assert_true(str_is(vv->branch, "z9hG4bK9ikj8"));
  assert_non_null(vv->next);
  assert_true(str_is(vv->next->host, "192.168.255.111"));
  assert_true(str_is(vv->next->branch, "z9hG4bK30239"));
  sipr_addr_t *c = sipr_msg_get(m, SIPR_HDR_CONTACT);
  assert_int_equal(c->q, 330);
  assert_true(str_is(c->display, "\"Quoted string \\\"\\\"\""));
  assert_int_equal(m->body.len, 150);
  /* unknown headers are kept, in order, as written */
  sipr_hdr_t *h = m->hdrs;
  int found = 0;
  for (; h; h = h->next)
    if (str_is(h->name, "NewFangledHeader")) {
      found = 1;
      assert_true(str_is(h->value, "newfangled value\r\n continued newfangled value"));
    }
  assert_true(found);
  release(&p);
}

static void test_intmeth(void **state) {
  parsed_t p;
  parse(&p, "rfc4475", "intmeth.dat");
  assert_int_equal(p.rc, 0);
  assert_int_equal(p.msg->method_id, SIPR_METHOD_UNKNOWN);
  assert_true(str_is(p.msg->method, "!interesting-Method0123456789_*+`.%indeed'~"));
  sipr_uri_t *u = sipr_msg_ruri(p.msg);
  assert_non_null(u);
  assert_true(str_is(u->host, "example.com"));
  assert_true(str_is(sipr_msg_call_id(p.msg), "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"));
  assert_true(str_is(sipr_msg_from(p.msg)->display, "token1~` token2'+_ token3*%!.-"));
  assert_true(str_is(sipr_msg_from(p.msg)->tag, "_token~1'+`*%!-."));
  assert_non_null(sipr_param_find(sipr_msg_from(p.msg)->params, "fromParam''~+*_!.-%"));
  release(&p);
}

static void test_escnull(void **state) {
  parsed_t p;
  parse(&p, "rfc4475", "escnull.dat");
  assert_int_equal(p.rc, 0);
  /* %00 does not truncate: two distinct contacts */
  int n = 0;
  sipr_addr_t *first = NULL;
  for (sipr_hdr_t *h = p.msg->first[SIPR_HDR_CONTACT]; h; h = h->next_same) {
    assert_int_equal(sipr_hdr_parse(p.msg, h, NULL), 0);
    for (sipr_addr_t *a = h->parsed; a; a = a->next) {
      if (!first)
        first = a;
      else
        assert_false(sipr_uri_equal(&first->uri, &a->uri));
      n++;
    }
  }
  assert_int_equal(n, 2);
  release(&p);
}

static void test_esc02(void **state) {
  parsed_t p;
  parse(&p, "rfc4475", "esc02.dat");
  assert_int_equal(p.rc, 0);
  assert_int_equal(p.msg->method_id, SIPR_METHOD_UNKNOWN);
  /* C%6Fntact is an unknown header, not a Contact */
  int contacts = 0;
  for (sipr_hdr_t *h = p.msg->first[SIPR_HDR_CONTACT]; h; h = h->next_same)
    contacts++;
  assert_int_equal(contacts, 2);
  release(&p);
}

static void test_semiuri(void **state) {
  parsed_t p;
  parse(&p, "rfc4475", "semiuri.dat");
  assert_int_equal(p.rc, 0);
  sipr_uri_t *u = sipr_msg_ruri(p.msg);
  assert_true(str_is(u->user, "user;par=u%40example.net"));
  assert_true(str_is(u->host, "example.com"));
  release(&p);
}

static void test_dblreq_mpart(void **state) {
  parsed_t p;
  parse(&p, "rfc4475", "dblreq.dat");
  assert_int_equal(p.rc, 0);
  assert_int_equal(p.msg->method_id, SIPR_METHOD_REGISTER);
  assert_int_equal(p.msg->body.len, 0);
  assert_true(p.msg->trailing > 0); /* the INVITE-looking octets */
  release(&p);
  parse(&p, "rfc4475", "mpart01.dat");
  assert_int_equal(p.rc, 0);
  assert_int_equal(p.msg->body.len, 553);
  release(&p);
}

static void test_transports_longreq(void **state) {
  parsed_t p;
  parse(&p, "rfc4475", "transports.dat");
  assert_int_equal(p.rc, 0);
  const char *want[] = {"UDP", "SCTP", "TLS", "UNKNOWN", "TCP"};
  int i = 0;
  for (sipr_hdr_t *h = p.msg->first[SIPR_HDR_VIA]; h; h = h->next_same)
    for (sipr_via_t *v = h->parsed; v; v = v->next) {
      assert_true(i < 5);
      assert_true(str_is(v->transport, want[i]));
      i++;
    }
  assert_int_equal(i, 5);
  release(&p);
  parse(&p, "rfc4475", "longreq.dat");
  assert_int_equal(p.rc, 0);
  assert_true(sipr_msg_to(p.msg)->display.len > 80);
  assert_true(sipr_msg_from(p.msg)->tag.len > 150);
  assert_true(sipr_msg_from(p.msg)->uri.user.len > 100);
  release(&p);
}

static void test_contact_params(void **state) {
  parsed_t p;
  /* cparam01: unknownparam is a contact-param, not a URI param */
  parse(&p, "rfc4475", "cparam01.dat");
  assert_int_equal(p.rc, 0);
  sipr_addr_t *c = sipr_msg_get(p.msg, SIPR_HDR_CONTACT);
  assert_non_null(sipr_param_find(c->params, "unknownparam"));
  assert_null(sipr_param_find(c->uri.params, "unknownparam"));
  release(&p);
  /* cparam02: inside <> it is a URI param */
  parse(&p, "rfc4475", "cparam02.dat");
  assert_int_equal(p.rc, 0);
  c = sipr_msg_get(p.msg, SIPR_HDR_CONTACT);
  assert_non_null(sipr_param_find(c->uri.params, "unknownparam"));
  assert_null(sipr_param_find(c->params, "unknownparam"));
  release(&p);
  /* regescrt: the escaped Route header stays inside the contact URI */
  parse(&p, "rfc4475", "regescrt.dat");
  assert_int_equal(p.rc, 0);
  c = sipr_msg_get(p.msg, SIPR_HDR_CONTACT);
  assert_non_null(c->uri.headers);
  assert_true(sipr_str_caseeq_z(c->uri.headers->name, "Route"));
  release(&p);
}

static void test_inv2543_zeromf(void **state) {
  parsed_t p;
  parse(&p, "rfc4475", "inv2543.dat");
  assert_int_equal(p.rc, 0);
  assert_true(sipr_str_is_null(sipr_msg_via(p.msg)->branch));
  assert_true(sipr_str_is_null(sipr_msg_from(p.msg)->tag));
  assert_int_equal(sipr_msg_max_forwards(p.msg), -1);
  assert_int_equal(p.msg->content_length, -1);
  assert_true(p.msg->body.len > 0);
  release(&p);
  parse(&p, "rfc4475", "zeromf.dat");
  assert_int_equal(p.rc, 0);
  assert_int_equal(sipr_msg_max_forwards(p.msg), 0);
  release(&p);
}

static void test_rfc5118_fields(void **state) {
  parsed_t p;
  parse(&p, "rfc5118", "port-ambiguous");
  assert_int_equal(p.rc, 0);
  sipr_uri_t *u = sipr_msg_ruri(p.msg);
  assert_int_equal(u->host_type, SIPR_HOST_IPV6);
  assert_int_equal(u->port, -1);
  release(&p);
  parse(&p, "rfc5118", "port-unambiguous");
  assert_int_equal(p.rc, 0);
  u = sipr_msg_ruri(p.msg);
  assert_true(str_is(u->host, "[2001:db8::10]"));
  assert_int_equal(u->port, 5070);
  release(&p);
  parse(&p, "rfc5118", "via-received-param-no-delim");
  assert_int_equal(p.rc, 0);
  assert_true(str_is(sipr_msg_via(p.msg)->received, "2001:db8::9:255"));
  assert_false(sipr_str_is_null(sipr_msg_via(p.msg)->branch));
  release(&p);
  parse(&p, "rfc5118", "via-received-param-with-delim");
  assert_int_equal(p.rc, 0);
  assert_true(str_is(sipr_msg_via(p.msg)->received, "[2001:db8::9:255]"));
  release(&p);
  parse(&p, "rfc5118", "mult-ip-in-header");
  assert_int_equal(p.rc, 0);
  int vias = 0;
  for (sipr_hdr_t *h = p.msg->first[SIPR_HDR_VIA]; h; h = h->next_same)
    for (sipr_via_t *v = h->parsed; v; v = v->next)
      vias++;
  assert_int_equal(vias, 3);
  release(&p);
}

static void test_errors_name_header(void **state) {
  parsed_t p;
  parse(&p, "rfc4475", "mismatch01.dat");
  assert_int_equal(p.err.status, 400);
  assert_string_equal(p.err.where, "CSeq");
  assert_string_equal(p.err.reason, "CSeq method mismatch");
  assert_true(p.err.offset > 0);
  release(&p);
  parse(&p, "rfc4475", "scalar02.dat");
  assert_string_equal(p.err.where, "CSeq");
  release(&p);
  parse(&p, "rfc4475", "badvers.dat");
  assert_string_equal(p.err.where, "start-line");
  release(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc4475_all),
      cmocka_unit_test(test_rfc5118_all),
      cmocka_unit_test(test_wsinv),
      cmocka_unit_test(test_intmeth),
      cmocka_unit_test(test_escnull),
      cmocka_unit_test(test_esc02),
      cmocka_unit_test(test_semiuri),
      cmocka_unit_test(test_dblreq_mpart),
      cmocka_unit_test(test_transports_longreq),
      cmocka_unit_test(test_contact_params),
      cmocka_unit_test(test_inv2543_zeromf),
      cmocka_unit_test(test_rfc5118_fields),
      cmocka_unit_test(test_errors_name_header),
  };
  return cmocka_run_group_tests_name("torture", tests, NULL, NULL);
}
