/*
 * Requests the server answers as a stateless UAS (RFC 3261 §8.2.7): an
 * OPTIONS addressed to the server itself (§11) always gets the same 200,
 * so it needs no transaction: a retransmission is answered again, just as
 * the first copy was. That spares a server transaction (held 64*T1 on UDP
 * for Timer J) per keep-alive OPTIONS, the most frequent request a
 * registrar sees after REGISTER.
 *
 * §8.2.6.2: every response to one request carries the same To tag; with
 * no state kept, the tag is derived from what identifies the request
 * (Call-ID, From tag, CSeq number and top Via branch), so a retransmission
 * gets the tag the first answer had.
 *
 * Anything the stateful path would treat differently is left to it:
 * a Request-URI with a user part (a proxy target), a To tag (in-dialog),
 * a Route header (the proxy decides whose it is), a Require header (420
 * comes from uas.c), or a Request-URI not ours.
 */
#include "tu_internal.h"

#include <stdio.h>
#include <string.h>

static uint64_t fnv1a(uint64_t h, sipr_str_t s) {
  for (size_t i = 0; i < s.len; i++) {
    h ^= (unsigned char)s.p[i];
    h *= 0x100000001b3ull;
  }
  return h ^ 0xff; /* separates consecutive fields */
}

static void derived_tag(sipr_msg_t *req, const sipr_via_t *via,
                        char out[SIPR__TU_TAG_LEN + 1]) {
  static const char hex[] = "0123456789abcdef";
  sipr_addr_t *from = sipr_msg_from(req);
  sipr_cseq_t *cseq = sipr_msg_cseq(req);
  uint64_t h = 0xcbf29ce484222325ull;
  h = fnv1a(h, sipr_msg_call_id(req));
  h = fnv1a(h, from ? from->tag : SIPR_STR_NULL);
  h = fnv1a(h, via->branch);
  h ^= cseq ? cseq->seq : 0;
  h *= 0x100000001b3ull;
  for (int i = 0; i < SIPR__TU_TAG_LEN; i++) {
    out[i] = hex[h & 15];
    h >>= 4;
  }
  out[SIPR__TU_TAG_LEN] = '\0';
}

int sipr_registrar_stateless(sipr_registrar_t *r, sipr_txn_layer_t *l,
                             sipr_msg_t *req, const sipr_tp_src_t *src) {
  if (!r || !l || !req || !req->is_request ||
      req->method_id != SIPR_METHOD_OPTIONS)
    return 0;
  /* A Route set (§16.4: a request passing through) and Require (420 from
   * uas.c) take the stateful path. */
  if (req->first[SIPR_HDR_REQUIRE] || req->first[SIPR_HDR_ROUTE])
    return 0;
  sipr_uri_t *ruri = sipr_msg_ruri(req);
  sipr_addr_t *to = sipr_msg_to(req);
  sipr_via_t *via = sipr_msg_via(req);
  if (!ruri || !to || !via || to->tag.p || ruri->user.p)
    return 0;
  /* §11: as in uas.c, Max-Forwards 0 is answered whatever the URI. */
  if (sipr_msg_max_forwards(req) != 0 &&
      !sipr__tu_domain_is_ours(r, ruri, 1, src))
    return 0;

  char tag[SIPR__TU_TAG_LEN + 1];
  derived_tag(req, via, tag);
  char storage[1536]; /* the 200 of a usual OPTIONS fits */
  sipr_buf_t b;
  sipr_buf_init_storage(&b, storage, sizeof storage);
  int rc = sipr_print_response(&b, req, 200, NULL, sipr_str_cstr(tag),
                               sipr_str_cstr(SIPR__TU_OPTIONS_LINES));
  if (rc == 0 && !b.failed) {
    atomic_fetch_add_explicit(&r->stats_requests, 1, memory_order_relaxed);
    sipr__tu_count_status(r, 200);
    sipr_txn_send_stateless(l, src, via, b.p, b.len);
  }
  sipr_buf_free(&b);
  /* Answered, or so large it cannot be: either way no transaction. A
   * request whose answer could not be printed was not answered by the
   * stateful path either (the same printer). */
  return 1;
}
