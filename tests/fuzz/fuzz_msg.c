/*
 * libFuzzer target: a whole SIP message, as a server meets it.
 *
 * Each input is parsed four times, each on a fresh arena:
 *   1. DATAGRAM, then sipr_msg_check(), then every header's typed form;
 *   2. STREAM, typed forms first and sipr_msg_check() last (the lazy
 *      parse must give the same verdicts in either order);
 *   3. DATAGRAM with a 1 MiB arena cap;
 *   4. DATAGRAM with a small cap that depends on the input size, so that
 *      SIPR_ENOMEM is met at every point of the parse over a run.
 * Every slice of every typed value is read byte by byte (ASan catches one
 * that runs out of its buffer), and the message-level invariants the
 * headers promise are checked; a broken one aborts (a finding).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipr/msg.h"
#include "sipr/print.h"
#include "sipr/uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned sink;
static const char *in_p;
static size_t in_len;

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "fuzz_msg: invariant failed: %s (line %d)\n", #cond,   \
              __LINE__);                                                     \
      abort();                                                               \
    }                                                                        \
  } while (0)

/* Reads every byte of s. */
static void touch(sipr_str_t s) {
  unsigned h = 0;
  CHECK(s.p != NULL || s.len == 0);
  for (size_t i = 0; i < s.len; i++)
    h = h * 31 + (unsigned char)s.p[i];
  sink += h;
}

static void touch_z(const char *z) {
  if (z)
    touch(sipr_str_cstr(z));
}

/* A slice that the parser promises to take from the input buffer. */
static void in_input(sipr_str_t s) {
  touch(s);
  if (s.p)
    CHECK(s.p >= in_p && s.len <= in_len &&
          (size_t)(s.p - in_p) <= in_len - s.len);
}

static void walk_params(const sipr_param_t *p) {
  for (; p; p = p->next) {
    touch(p->name);
    touch(p->value);
  }
}

static void walk_uri(const sipr_uri_t *u) {
  touch(u->scheme_str);
  touch(u->user);
  touch(u->password);
  touch(u->host);
  touch(u->transport);
  touch(u->user_param);
  touch(u->method);
  touch(u->maddr);
  touch(u->ttl);
  touch(u->opaque);
  touch(u->raw);
  CHECK(u->port >= -1 && u->port <= 65535);
  walk_params(u->params);
  walk_params(u->headers);
  sink += sipr_param_find(u->params, "transport") != NULL;
  CHECK(sipr_uri_equal(u, u) == 1);
  sipr_buf_t b;
  sipr_buf_init(&b);
  if (sipr_uri_print(&b, u) == 0)
    touch(sipr_str_make(b.p, b.len));
  sipr_buf_free(&b);
}

static void walk_via(const sipr_via_t *v) {
  for (; v; v = v->next) {
    touch(v->protocol);
    touch(v->version);
    touch(v->transport);
    touch(v->host);
    touch(v->branch);
    touch(v->received);
    touch(v->maddr);
    touch(v->ttl);
    touch(v->raw);
    CHECK(v->port >= -1 && v->port <= 65535);
    CHECK(v->rport >= -1 && v->rport <= 65535);
    walk_params(v->params);
  }
}

static void walk_addr(const sipr_addr_t *ad) {
  for (; ad; ad = ad->next) {
    touch(ad->display);
    touch(ad->tag);
    touch(ad->raw);
    if (!ad->star)
      walk_uri(&ad->uri);
    walk_params(ad->params);
    CHECK(ad->q >= -1 && ad->q <= 1000);
    CHECK(ad->expires >= -1);
  }
}

static void walk_auth(const sipr_auth_t *au) {
  touch(au->scheme);
  walk_params(au->params);
  touch(au->realm);
  touch(au->nonce);
  touch(au->opaque);
  touch(au->algorithm);
  touch(au->qop);
  touch(au->stale);
  touch(au->domain);
  touch(au->username);
  touch(au->uri);
  touch(au->response);
  touch(au->cnonce);
  touch(au->nc);
}

static void walk_typed(sipr_hdr_kind_t kind, const void *parsed) {
  if (!parsed)
    return;
  switch (kind) {
  case SIPR_KIND_VIA:
    walk_via(parsed);
    break;
  case SIPR_KIND_ADDR:
  case SIPR_KIND_ADDR_LIST:
    walk_addr(parsed);
    break;
  case SIPR_KIND_CALLID:
    touch(*(const sipr_str_t *)parsed);
    break;
  case SIPR_KIND_CSEQ: {
    const sipr_cseq_t *c = parsed;
    touch(c->method);
    CHECK(c->method_id >= SIPR_METHOD_UNKNOWN &&
          c->method_id < SIPR_METHOD__COUNT);
    sink += c->seq;
    break;
  }
  case SIPR_KIND_UINT:
    sink += ((const sipr_uint_t *)parsed)->value;
    break;
  case SIPR_KIND_TOKENS:
    for (const sipr_token_t *t = parsed; t; t = t->next)
      touch(t->value);
    break;
  case SIPR_KIND_CTYPE: {
    const sipr_ctype_t *c = parsed;
    touch(c->type);
    touch(c->subtype);
    walk_params(c->params);
    break;
  }
  case SIPR_KIND_AUTH:
    walk_auth(parsed);
    break;
  case SIPR_KIND_RAW:
  default:
    break;
  }
}

static void walk_err(const sipr_perr_t *e) {
  touch_z(e->where);
  touch_z(e->reason);
}

/* Every header's typed form, twice: the verdict is remembered. */
static void walk_headers(sipr_msg_t *m) {
  unsigned n = 0;
  for (sipr_hdr_t *h = m->hdrs; h; h = h->next) {
    n++;
    CHECK(n <= m->nhdrs);
    CHECK(h->type >= SIPR_HDR_OTHER && h->type < SIPR_HDR__COUNT);
    in_input(h->name);
    in_input(h->value);
    in_input(h->raw);
    CHECK(sipr_hdr_lookup(h->name.p, h->name.len) == h->type);
    const sipr_hdr_info_t *info = sipr_hdr_info(h->type);
    CHECK(info != NULL);
    touch_z(info->name);
    for (const sipr_hdr_t *s = h->next_same; s; s = s->next_same)
      CHECK(s->type == h->type);

    sipr_perr_t e1 = {0}, e2 = {0};
    int rc1 = sipr_hdr_parse(m, h, &e1);
    int rc2 = sipr_hdr_parse(m, h, &e2);
    CHECK(rc1 <= 0 && rc1 >= SIPR_E__LAST);
    /* The verdict is remembered, with its explanation. */
    CHECK(rc1 == rc2);
    if (rc1 && h->error)
      CHECK(e1.offset == e2.offset && e1.reason == e2.reason);
    if (rc1 == 0)
      walk_typed(info->kind, h->parsed);
    else
      walk_err(&e1);
  }
  CHECK(n == m->nhdrs);
  CHECK(m->last == NULL || m->last->next == NULL);
  for (int t = 0; t < SIPR_HDR__COUNT; t++)
    if (m->first[t])
      CHECK(m->first[t]->type == (sipr_hdr_type_t)t);
}

static void walk_accessors(sipr_msg_t *m) {
  sipr_uri_t *u = sipr_msg_ruri(m);
  if (u)
    walk_uri(u);
  walk_via(sipr_msg_via(m));
  sipr_addr_t *from = sipr_msg_from(m), *to = sipr_msg_to(m);
  if (from)
    walk_addr(from);
  if (to)
    walk_addr(to);
  sipr_cseq_t *c = sipr_msg_cseq(m);
  if (c)
    walk_typed(SIPR_KIND_CSEQ, c);
  touch(sipr_msg_call_id(m));
  CHECK(sipr_msg_max_forwards(m) >= -1);
  for (int t = 1; t < SIPR_HDR__COUNT; t++)
    walk_typed(sipr_hdr_info((sipr_hdr_type_t)t)->kind,
               sipr_msg_get(m, (sipr_hdr_type_t)t));
}

static void walk_msg(sipr_msg_t *m, size_t size) {
  CHECK(m->len <= size && m->trailing <= size - m->len);
  in_input(m->start_line);
  in_input(m->version);
  in_input(m->body);
  if (m->is_request) {
    in_input(m->method);
    in_input(m->ruri_str);
    CHECK(m->method_id >= SIPR_METHOD_UNKNOWN &&
          m->method_id < SIPR_METHOD__COUNT);
    touch_z(sipr_method_name(m->method_id));
  } else {
    in_input(m->reason);
  }
}

/* What a server does with a request: answer it (§8.2.6), with the status
 * the check asked for (or 200 when it passed). */
static void answer(sipr_msg_t *m, int verdict) {
  if (!m->is_request)
    return;
  unsigned status = verdict >= 300 && verdict <= 699 ? (unsigned)verdict : 200u;
  sipr_buf_t b;
  sipr_buf_init(&b);
  if (sipr_print_response(&b, m, status, sipr_reason_phrase(status),
                          SIPR_STR("fuzz-tag"), SIPR_STR_NULL) == 0)
    touch(sipr_str_make(b.p, b.len));
  sipr_buf_free(&b);
}

static void one(const uint8_t *data, size_t size, unsigned flags, size_t cap,
                int check_first) {
  char store[4096];
  sipr_arena_t a;
  sipr_msg_t *m = NULL;
  sipr_perr_t e = {0};
  sipr_arena_init(&a, store, sizeof store, cap);
  int rc = sipr_msg_parse(&a, (const char *)data, size, flags, &m, &e);
  CHECK(rc <= 0 && rc >= SIPR_E__LAST);
  if (rc != 0) {
    walk_err(&e);
    if (rc == SIPR_EPARSE)
      CHECK(e.offset <= size);
    sipr_arena_free(&a);
    return;
  }
  CHECK(m != NULL);
  walk_msg(m, size);
  if (check_first) {
    sipr_perr_t ce = {0};
    int crc = sipr_msg_check(m, &ce);
    walk_err(&ce);
    walk_headers(m);
    walk_accessors(m);
    answer(m, crc == 0 ? 200 : ce.status);
  } else {
    walk_headers(m);
    walk_accessors(m);
    sipr_perr_t ce = {0};
    (void)sipr_msg_check(m, &ce);
    walk_err(&ce);
  }
  sipr_arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > SIPR_MAX_MSG_UDP)
    return 0;
  in_p = (const char *)data;
  in_len = size;
  one(data, size, SIPR_PARSE_DATAGRAM, 0, 1);
  one(data, size, SIPR_PARSE_STREAM, 0, 0);
  one(data, size, SIPR_PARSE_DATAGRAM, (size_t)1 << 20, 1);
  one(data, size, SIPR_PARSE_DATAGRAM, 256 + (size * 7) % 8192, 1);
  return 0;
}
