/*
 * Message-level validation (§8.2.1-8.2.2, §16.3 step 1, RFC 4475): what
 * every conforming element checks before it goes on with a message.
 */
#include "syntax_internal.h"

static int bad(sipr_msg_t *m, sipr_perr_t *err, int status, const char *where,
               const char *at, const char *reason) {
  size_t off = at ? (size_t)(at - m->buf) : 0;
  /* §18.1.2 / §18.2.1: a faulty response is discarded, never answered; a
   * request with no usable Via cannot be answered either. */
  if (!m->is_request || !sipr__via_answerable(m))
    status = 0;
  return sipr_perr_set(err, SIPR_EPARSE, status, where, off, reason);
}

int sipr_msg_check(sipr_msg_t *m, sipr_perr_t *err) {
  sipr_perr_t dummy;
  if (!err)
    err = &dummy;

  /* Every typed header must parse. */
  for (sipr_hdr_t *h = m->hdrs; h; h = h->next) {
    if (sipr_hdr_parse(m, h, err)) {
      if (err->code == SIPR_ENOMEM)
        return err->code;
      return bad(m, err, 400, err->where, m->buf + err->offset, err->reason);
    }
  }

  /* Mandatory fields (§8.1.1) and single-valued ones (RFC 4475 §3.3.8).
   * Max-Forwards is optional on input: RFC 2543 peers omit it (§16.6
   * step 3 adds it when forwarding). */
  static const sipr_hdr_type_t required[] = {SIPR_HDR_VIA, SIPR_HDR_FROM,
                                             SIPR_HDR_TO, SIPR_HDR_CALL_ID,
                                             SIPR_HDR_CSEQ};
  for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
    if (!m->first[required[i]]) {
      static const char *const missing[] = {
          "missing Via", "missing From", "missing To", "missing Call-ID",
          "missing CSeq"};
      return bad(m, err, 400, sipr_hdr_info(required[i])->name, NULL,
                 missing[i]);
    }
  /* Headers a message carries once (§20; the table's single flag). */
  static const sipr_hdr_type_t single[] = {
      SIPR_HDR_CALL_ID,      SIPR_HDR_FROM,           SIPR_HDR_TO,
      SIPR_HDR_CSEQ,         SIPR_HDR_MAX_FORWARDS,   SIPR_HDR_CONTENT_LENGTH,
      SIPR_HDR_CONTENT_TYPE, SIPR_HDR_EXPIRES,        SIPR_HDR_MIN_EXPIRES};
  for (size_t i = 0; i < sizeof(single) / sizeof(single[0]); i++) {
    sipr_hdr_t *h = m->first[single[i]];
    if (h && h->next_same) {
      static const char *const why[] = {
          "multiple Call-ID values", "multiple From values",
          "multiple To values",      "multiple CSeq values",
          "multiple Max-Forwards values", "multiple Content-Length values",
          "multiple Content-Type values", "multiple Expires values",
          "multiple Min-Expires values"};
      return bad(m, err, 400, sipr__hdr_table[single[i]].name,
                 h->next_same->raw.p, why[i]);
    }
  }

  if (!m->is_request)
    return 0;

  /* §8.2.1 via §16.3: the CSeq method must match the request method; an
   * unknown method is answered 501 (RFC 4475 §3.1.2.18). */
  sipr_cseq_t *cs = sipr_msg_cseq(m);
  if (!sipr_str_eq(cs->method, m->method))
    return bad(m, err, m->method_id == SIPR_METHOD_UNKNOWN ? 501 : 400, "CSeq",
               m->first[SIPR_HDR_CSEQ]->value.p, "CSeq method mismatch");

  /* Request-URI (§19.1.1): parses; no headers component; scheme we can
   * serve, else 416 (§8.2.2.1, RFC 4475 §3.3.2-3.3.3). */
  sipr_uri_t *ru = sipr_arena_zalloc(m->arena, sizeof(*ru));
  if (!ru)
    return sipr_perr_set(err, SIPR_ENOMEM, 0, "uri", 0, "out of memory");
  sipr_perr_t uerr;
  if (sipr_uri_parse(m->arena, m->ruri_str.p, m->ruri_str.len, ru, &uerr))
    return bad(m, err, uerr.status == 414 ? 414 : 400, "Request-URI",
               m->ruri_str.p + uerr.offset,
               uerr.reason ? uerr.reason : "invalid Request-URI");
  m->ruri = ru;
  if (ru->scheme != SIPR_URI_SIP && ru->scheme != SIPR_URI_SIPS &&
      ru->scheme != SIPR_URI_TEL)
    return bad(m, err, 416, "Request-URI", m->ruri_str.p,
               "Unsupported URI Scheme");
  if (ru->headers)
    return bad(m, err, 400, "Request-URI", m->ruri_str.p,
               "headers not allowed in Request-URI");
  return 0;
}
