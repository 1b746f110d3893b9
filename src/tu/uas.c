/*
 * UAS core for requests addressed to the server itself (RFC 3261 §8.2):
 * method inspection (§8.2.1: 405 with Allow, 501 for unknown methods),
 * Request-URI inspection (§8.2.2.1: 404 for a domain that is not ours),
 * Require (§8.2.2.3: 420 with Unsupported), OPTIONS (§11.2), stray ACKs
 * absorbed (§17.2.3), CANCEL (§9.2) and REGISTER handed to the registrar
 * (registrar/registrar.c).
 *
 * Max-Forwards is not looked at: a request addressed to us is processed
 * whatever its value (§16.3 step 3 is a proxy's rule; RFC 4475 zeromf).
 */
#include "tu_internal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* ---- To tags ---------------------------------------------------------- */
/* A per-thread xorshift generator seeded from the kernel once: tags only
 * need to be unique, not secret (§19.3: "globally unique and random"). */
static _Thread_local uint64_t tl_rng;

static uint64_t rng_next(void) {
  if (!tl_rng) {
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
      seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&seed;
    tl_rng = seed ? seed : 0x9e3779b97f4a7c15ull;
  }
  uint64_t x = tl_rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  tl_rng = x;
  return x;
}

void sipr__tu_new_tag(char out[SIPR__TU_TAG_LEN + 1]) {
  static const char hex[] = "0123456789abcdef";
  uint64_t v = rng_next();
  for (int i = 0; i < SIPR__TU_TAG_LEN; i++) {
    out[i] = hex[v & 15];
    v >>= 4;
  }
  out[SIPR__TU_TAG_LEN] = '\0';
}

/* ---- responses -------------------------------------------------------- */
int sipr__tu_respond(sipr_registrar_t *r, sipr_txn_t *st, sipr_msg_t *req,
                     unsigned status, const char *reason, sipr_str_t extra) {
  char tag[SIPR__TU_TAG_LEN + 1];
  sipr__tu_new_tag(tag);
  sipr_buf_t b;
  sipr_buf_init(&b);
  int rc = sipr_print_response(&b, req, status, reason,
                               status > 100 ? sipr_str_cstr(tag)
                                            : SIPR_STR_NULL,
                               extra);
  if (rc == 0)
    rc = sipr_txn_respond(st, b.p, b.len);
  sipr_buf_free(&b);
  sipr__tu_count_status(r, status);
  return rc;
}

void sipr__tu_count_status(sipr_registrar_t *r, unsigned status) {
  if (status >= 100 && status < 700)
    atomic_fetch_add_explicit(&r->stats_by_class[status / 100], 1,
                              memory_order_relaxed);
}

/* ---- domains ---------------------------------------------------------- */
/* The port a SIP URI means when it writes none (§19.1.2). */
static int uri_port(const sipr_uri_t *u) {
  if (u->port >= 0)
    return u->port;
  return u->scheme == SIPR_URI_SIPS ? 5061 : 5060;
}

/* The host of a (not necessarily bracketed) IPv6 text compared with an
 * address: both go through inet_pton. */
static int host_is_addr(sipr_str_t host, const sipr_tp_addr_t *a) {
  char text[64];
  if (host.len == 0 || host.len >= sizeof(text))
    return 0;
  sipr_str_t h = host;
  if (h.p[0] == '[' && h.len >= 2 && h.p[h.len - 1] == ']') {
    h.p++;
    h.len -= 2;
  }
  sipr_tp_addr_t tmp;
  if (sipr_tp_addr_set(&tmp, a->proto, h, sipr_tp_addr_port(a)) != 0)
    return 0;
  return sipr_tp_addr_eq(&tmp, a);
}

int sipr__tu_domain_is_ours(const sipr_registrar_t *r, const sipr_uri_t *u,
                            int check_port, const sipr_tp_src_t *src) {
  if (!u || (u->scheme != SIPR_URI_SIP && u->scheme != SIPR_URI_SIPS))
    return 0;
  for (unsigned i = 0; i < r->ndomains; i++) {
    const sipr__tu_domain_t *d = &r->domains[i];
    if (!sipr_str_caseeq(u->host, sipr_str_make(d->host, d->host_len)))
      continue;
    if (!check_port || d->port < 0 || d->port == uri_port(u))
      return 1;
  }
  /* The address the request arrived on is ours too (a REGISTER to
   * sip:127.0.0.1:5060 reaching that socket). */
  if (src && (u->host_type == SIPR_HOST_IPV4 || u->host_type == SIPR_HOST_IPV6)) {
    int lport = sipr_tp_addr_port(&src->local);
    if (lport > 0 && (!check_port || uri_port(u) == lport) &&
        host_is_addr(u->host, &src->local))
      return 1;
  }
  return 0;
}

/* ---- Require (§8.2.2.3) ------------------------------------------------ */
static int option_supported(sipr_str_t tag) {
  /* What the registrar implements: Path (RFC 3327). */
  return SIPR_STR_CASEEQ_LIT(tag, "path");
}

/* Appends "Unsupported: a, b\r\n" for each unknown option tag in Require;
 * returns the number of unknown tags (0: none, nothing appended), or -1
 * when a Require header does not parse. */
static int check_require(sipr_msg_t *req, sipr_buf_t *extra) {
  int n = 0;
  for (sipr_hdr_t *h = req->first[SIPR_HDR_REQUIRE]; h; h = h->next_same) {
    sipr_perr_t err;
    if (sipr_hdr_parse(req, h, &err) < 0)
      return -1;
    for (const sipr_token_t *t = h->parsed; t; t = t->next) {
      if (option_supported(t->value))
        continue;
      sipr_buf_append(extra, n ? ", " : "Unsupported: ", n ? 2 : 13);
      sipr_buf_append_str(extra, t->value);
      n++;
    }
  }
  if (n)
    sipr_buf_append(extra, "\r\n", 2);
  return n;
}

/* ---- the core --------------------------------------------------------- */
#define ALLOW_LINE SIPR__TU_ALLOW_LINE

int sipr__tu_respond_simple(sipr_registrar_t *r, sipr_txn_t *st,
                            sipr_msg_t *req, unsigned status,
                            const char *reason, const char *extra) {
  return sipr__tu_respond(r, st, req, status, reason,
                          extra ? sipr_str_cstr(extra) : SIPR_STR_NULL);
}

static void answer_options(sipr_registrar_t *r, sipr_txn_t *st,
                           sipr_msg_t *req) {
  /* §11.2 */
  sipr__tu_respond_simple(r, st, req, 200, NULL, SIPR__TU_OPTIONS_LINES);
}

void sipr_registrar_on_request(sipr_registrar_t *r, sipr_txn_t *st,
                               sipr_msg_t *req, const sipr_tp_src_t *src) {
  if (!r || !req || !req->is_request)
    return;
  atomic_fetch_add_explicit(&r->stats_requests, 1, memory_order_relaxed);
  /* §17.2.3: an ACK creates no transaction; one for a 2xx we never sent
   * (we send no 2xx to INVITE) is absorbed. */
  if (req->method_id == SIPR_METHOD_ACK || !st)
    return;

  /* §8.2.1 method inspection. */
  switch (req->method_id) {
  case SIPR_METHOD_REGISTER:
  case SIPR_METHOD_OPTIONS:
  case SIPR_METHOD_CANCEL:
    break;
  case SIPR_METHOD_UNKNOWN:
    sipr__tu_respond_simple(r, st, req, 501, NULL, ALLOW_LINE);
    return;
  default:
    sipr__tu_respond_simple(r, st, req, 405, NULL, ALLOW_LINE);
    return;
  }

  /* §8.2.2.1: a Request-URI that is not ours. §11: an OPTIONS with
   * Max-Forwards 0 may be answered whatever its Request-URI. A configured
   * domain without a port matches any port. */
  sipr_uri_t *ruri = sipr_msg_ruri(req);
  if (!ruri) {
    sipr__tu_respond_simple(r, st, req, 400, "Bad Request-URI", NULL);
    return;
  }
  if (ruri->scheme != SIPR_URI_SIP && ruri->scheme != SIPR_URI_SIPS) {
    sipr__tu_respond_simple(r, st, req, 416, NULL, NULL);
    return;
  }
  int mf0 = req->method_id == SIPR_METHOD_OPTIONS &&
            sipr_msg_max_forwards(req) == 0;
  if (!mf0 && !sipr__tu_domain_is_ours(r, ruri, 1, src)) {
    /* §10.3 step 1: no proxying yet, so a domain that is not ours is 404. */
    sipr__tu_respond_simple(r, st, req, 404, "Domain Not Served", NULL);
    return;
  }

  /* §8.2.2.3 Require. CANCEL: §8.2.2.3 says the UAS ignores Require for
   * CANCEL (and ACK). */
  if (req->method_id != SIPR_METHOD_CANCEL) {
    sipr_buf_t extra;
    sipr_buf_init(&extra);
    int n = check_require(req, &extra);
    if (n < 0) {
      sipr__tu_respond_simple(r, st, req, 400, "Bad Require", NULL);
    } else if (n > 0) {
      sipr__tu_respond(r, st, req, 420, NULL,
                       extra.failed ? SIPR_STR_NULL
                                    : sipr_str_make(extra.p, extra.len));
    }
    sipr_buf_free(&extra);
    if (n)
      return;
  }

  switch (req->method_id) {
  case SIPR_METHOD_OPTIONS:
    answer_options(r, st, req);
    return;
  case SIPR_METHOD_CANCEL:
    /* §9.2: the server answers no INVITE itself (405 at once), so there is
     * never a pending INVITE transaction to cancel. */
    sipr__tu_respond_simple(r, st, req, 481, NULL, NULL);
    return;
  case SIPR_METHOD_REGISTER:
    sipr__reg_register(r, st, req, src);
    return;
  default:
    return;
  }
}
