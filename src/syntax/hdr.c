/*
 * Typed header values (RFC 3261 §20, §25.1), built on demand from a
 * header's value slice: Via, the name-addr family (From, To, Contact,
 * Route, Record-Route, Path), CSeq, Call-ID, numbers, option-tag lists,
 * Content-Type and the Digest challenge/credentials family.
 *
 * Every parser walks a slice with a bounds-checked lexer; LWS (including
 * folded lines, which the framing step already validated) may appear
 * wherever the grammar has LWS, SWS, HCOLON, SEMI, COMMA, EQUAL or SLASH.
 */
#include "syntax_internal.h"

/* ---- lexer ------------------------------------------------------------- */
static int lx_fail(sipr_lex_t *lx, const char *reason) {
  return sipr_perr_set(lx->err, SIPR_EPARSE, 400, lx->where,
                       (size_t)(lx->p - lx->base), reason);
}

static int lx_nomem(sipr_lex_t *lx) {
  return sipr_perr_set(lx->err, SIPR_ENOMEM, 500, lx->where,
                       (size_t)(lx->p - lx->base), "out of memory");
}

static inline int lx_eof(const sipr_lex_t *lx) { return lx->p >= lx->end; }
static inline int lx_peek(const sipr_lex_t *lx) {
  return lx->p < lx->end ? (unsigned char)*lx->p : -1;
}

/* Skips LWS / SWS; returns whether anything was skipped. CR and LF only
 * occur inside a value as part of a fold, so they count as white space. */
static int lx_ws(sipr_lex_t *lx) {
  /* Locals, not lx->p: stores through a char pointer would otherwise make
   * the compiler reload the cursor on every byte. */
  const char *s = lx->p, *p = s, *e = lx->end;
  while (p < e && sipr__is((unsigned char)*p, SIPR_C_LWS))
    p++;
  lx->p = p;
  return p != s;
}

/* Consumes SWS c SWS (SEMI, COMMA, EQUAL, SLASH, COLON); 1 if found. */
static int lx_sep(sipr_lex_t *lx, char c) {
  const char *s = lx->p;
  lx_ws(lx);
  if (lx_peek(lx) == (unsigned char)c) {
    lx->p++;
    lx_ws(lx);
    return 1;
  }
  lx->p = s;
  return 0;
}

static sipr_str_t lx_run(sipr_lex_t *lx, unsigned cls) {
  const char *s = lx->p, *p = s, *e = lx->end;
  while (p < e && sipr__is((unsigned char)*p, cls))
    p++;
  lx->p = p;
  return sipr_str_make(s, (size_t)(p - s));
}

/* quoted-string = SWS DQUOTE *(qdtext / quoted-pair) DQUOTE. On success
 * *out is the text with its quotes. */
static int lx_quoted(sipr_lex_t *lx, sipr_str_t *out) {
  const char *s = lx->p, *p = s, *e = lx->end;
  if (p >= e || *p != '"')
    return lx_fail(lx, "expected quoted string");
  p++;
  while (p < e) {
    unsigned char c = (unsigned char)*p;
    if (c == '"') {
      lx->p = p + 1;
      *out = sipr_str_make(s, (size_t)(lx->p - s));
      return 0;
    }
    if (c == '\\') {
      /* quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F) */
      if (p + 1 >= e)
        break;
      unsigned char n = (unsigned char)p[1];
      if (n == '\r' || n == '\n' || n > 0x7f) {
        lx->p = p;
        return lx_fail(lx, "invalid quoted-pair");
      }
      p += 2;
      continue;
    }
    if (c < 0x20 && c != '\t' && c != '\r' && c != '\n') {
      lx->p = p;
      return lx_fail(lx, "control character in quoted string");
    }
    p++;
  }
  return lx_fail(lx, "unterminated quoted string");
}

static sipr_str_t unquote(sipr_str_t s) {
  if (s.len >= 2 && s.p[0] == '"' && s.p[s.len - 1] == '"')
    return sipr_str_make(s.p + 1, s.len - 2);
  return s;
}

/* gen-value = token / host / quoted-string (§25.1). Host values add ':'
 * and '[' ']' to the token characters (IPv6 received=, maddr=). */
static int lx_gen_value(sipr_lex_t *lx, sipr_str_t *out) {
  if (lx_peek(lx) == '"')
    return lx_quoted(lx, out);
  sipr_str_t v = lx_run(lx, SIPR_C_TOKEN | SIPR_C_HOSTX);
  if (!v.len)
    return lx_fail(lx, "empty parameter value");
  *out = v;
  return 0;
}

/* *( SEMI generic-param ), appended to *tail. Stops before anything that
 * is not a ';'. */
static int lx_params(sipr_lex_t *lx, sipr_arena_t *a, sipr_param_t **head,
                     unsigned *count) {
  sipr_param_t **tail = head;
  while (*tail)
    tail = &(*tail)->next;
  while (lx_sep(lx, ';')) {
    sipr_str_t name = lx_run(lx, SIPR_C_TOKEN);
    if (!name.len)
      return lx_fail(lx, "empty parameter");
    if (++*count > 64)
      return lx_fail(lx, "too many parameters");
    sipr_param_t *pm = sipr_arena_alloc(a, sizeof(*pm));
    if (!pm)
      return lx_nomem(lx);
    pm->name = name;
    pm->value = SIPR_STR_NULL;
    pm->next = NULL;
    if (lx_sep(lx, '=')) {
      int rc = lx_gen_value(lx, &pm->value);
      if (rc)
        return rc;
    }
    *tail = pm;
    tail = &pm->next;
  }
  return 0;
}

/* host = hostname / IPv4address / IPv6reference (§25.1). Checks the
 * character set and classifies; the URI parser does the full check on
 * URIs, this one serves Via sent-by. */
static int lx_host(sipr_lex_t *lx, sipr_str_t *host, sipr_host_type_t *type) {
  const char *s = lx->p;
  if (lx_peek(lx) == '[') {
    lx->p++;
    unsigned colons = 0;
    while (lx->p < lx->end && *lx->p != ']') {
      unsigned char c = (unsigned char)*lx->p;
      int hex = (c >= '0' && c <= '9') || (sipr_lower(c) >= 'a' && sipr_lower(c) <= 'f');
      if (!hex && c != ':' && c != '.')
        return lx_fail(lx, "invalid IPv6 reference");
      colons += c == ':';
      lx->p++;
    }
    if (lx_eof(lx) || colons < 2)
      return lx_fail(lx, "invalid IPv6 reference");
    lx->p++;
    *host = sipr_str_make(s, (size_t)(lx->p - s));
    *type = SIPR_HOST_IPV6;
    return 0;
  }
  unsigned dots = 0, digits_only = 1;
  while (lx->p < lx->end) {
    unsigned char c = (unsigned char)*lx->p;
    if (!(sipr__is(c, SIPR_C_ALNUM) || c == '-' || c == '.'))
      break;
    if (c == '.')
      dots++;
    else if (!(c >= '0' && c <= '9'))
      digits_only = 0;
    lx->p++;
  }
  if (lx->p == s)
    return lx_fail(lx, "missing host");
  *host = sipr_str_make(s, (size_t)(lx->p - s));
  *type = (digits_only && dots == 3) ? SIPR_HOST_IPV4 : SIPR_HOST_NAME;
  if (*type == SIPR_HOST_IPV4) {
    /* Each of the four parts 0-255. */
    const char *q = s;
    for (int i = 0; i < 4; i++) {
      const char *ps = q;
      while (q < lx->p && *q != '.')
        q++;
      uint64_t v;
      if (sipr_str_to_u64(sipr_str_make(ps, (size_t)(q - ps)), 255, &v))
        return lx_fail(lx, "invalid IPv4 address");
      q++;
    }
  } else if (s[0] == '-' || s[0] == '.') {
    return lx_fail(lx, "invalid host name");
  }
  return 0;
}

static int lx_port(sipr_lex_t *lx, int *port) {
  sipr_str_t d = lx_run(lx, SIPR_C_ALNUM);
  uint64_t v;
  if (sipr_str_to_u64(d, 65535, &v))
    return lx_fail(lx, "invalid port");
  *port = (int)v;
  return 0;
}

static int lx_end_or_comma(sipr_lex_t *lx, int list, int *more) {
  lx_ws(lx);
  *more = 0;
  if (lx_eof(lx))
    return 0;
  if (list && *lx->p == ',') {
    lx->p++;
    lx_ws(lx);
    if (lx_eof(lx) || *lx->p == ',')
      return lx_fail(lx, "empty list element");
    *more = 1;
    return 0;
  }
  return lx_fail(lx, "unexpected character");
}

/* ---- Via (§20.42) ------------------------------------------------------- */
static int via_known_params(sipr_lex_t *lx, sipr_via_t *v) {
  for (sipr_param_t *pm = v->params; pm; pm = pm->next) {
    if (SIPR_STR_CASEEQ_LIT(pm->name, "branch")) {
      if (!pm->value.p || !pm->value.len)
        return lx_fail(lx, "empty branch");
      v->branch = pm->value;
    } else if (SIPR_STR_CASEEQ_LIT(pm->name, "received")) {
      if (!pm->value.p)
        return lx_fail(lx, "empty received");
      v->received = pm->value;
    } else if (SIPR_STR_CASEEQ_LIT(pm->name, "rport")) {
      /* response-port = "rport" [EQUAL 1*DIGIT] (RFC 3581 §3) */
      uint64_t port = 0;
      if (pm->value.p && sipr_str_to_u64(pm->value, 65535, &port))
        return lx_fail(lx, "invalid rport");
      v->rport = (int)port;
    } else if (SIPR_STR_CASEEQ_LIT(pm->name, "maddr")) {
      if (!pm->value.p)
        return lx_fail(lx, "empty maddr");
      v->maddr = pm->value;
    } else if (SIPR_STR_CASEEQ_LIT(pm->name, "ttl")) {
      uint64_t ttl;
      if (!pm->value.p || sipr_str_to_u64(pm->value, 255, &ttl))
        return lx_fail(lx, "invalid ttl");
      v->ttl = pm->value;
    }
  }
  return 0;
}

/* head_only: stop after the first sent-by (enough to answer a request
 * whose Via parameters are broken, RFC 4475 §3.1.2.1). */
static int parse_via_lx(sipr_lex_t *lx, sipr_arena_t *a, sipr_via_t **out,
                        int head_only) {
  sipr_via_t **tail = out;
  int more;
  *out = NULL;
  lx_ws(lx);
  if (lx_eof(lx))
    return lx_fail(lx, "empty Via");
  do {
    sipr_via_t *v = sipr_arena_zalloc(a, sizeof(*v));
    if (!v)
      return lx_nomem(lx);
    v->port = -1;
    v->rport = -1;
    const char *s = lx->p;
    /* sent-protocol = protocol-name SLASH protocol-version SLASH transport */
    v->protocol = lx_run(lx, SIPR_C_TOKEN);
    if (!v->protocol.len || !lx_sep(lx, '/'))
      return lx_fail(lx, "malformed sent-protocol");
    v->version = lx_run(lx, SIPR_C_TOKEN);
    if (!v->version.len || !lx_sep(lx, '/'))
      return lx_fail(lx, "malformed sent-protocol");
    v->transport = lx_run(lx, SIPR_C_TOKEN);
    if (!v->transport.len)
      return lx_fail(lx, "missing transport");
    if (!lx_ws(lx))
      return lx_fail(lx, "missing LWS before sent-by");
    int rc = lx_host(lx, &v->host, &v->host_type);
    if (rc)
      return rc;
    if (lx_sep(lx, ':') && (rc = lx_port(lx, &v->port)))
      return rc;
    if (head_only) {
      *out = v;
      return 0;
    }
    unsigned n = 0;
    if ((rc = lx_params(lx, a, &v->params, &n)) || (rc = via_known_params(lx, v)))
      return rc;
    const char *e = lx->p;
    v->raw = sipr_str_make(s, (size_t)(e - s));
    *tail = v;
    tail = &v->next;
    if ((rc = lx_end_or_comma(lx, 1, &more)))
      return rc;
  } while (more);
  return 0;
}

/* ---- name-addr / addr-spec (§20.10, §20.20, §20.39) --------------------- */

/* q = qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) */
static int parse_qvalue(sipr_str_t s, int *q) {
  if (s.len == 0 || s.len > 5 || (s.p[0] != '0' && s.p[0] != '1'))
    return -1;
  int v = (s.p[0] - '0') * 1000, scale = 100;
  if (s.len > 1) {
    if (s.p[1] != '.')
      return -1;
    for (size_t i = 2; i < s.len; i++) {
      if (s.p[i] < '0' || s.p[i] > '9')
        return -1;
      v += (s.p[i] - '0') * scale;
      scale /= 10;
    }
  }
  if (v > 1000)
    return -1;
  *q = v;
  return 0;
}

static int addr_known_params(sipr_lex_t *lx, sipr_addr_t *ad) {
  for (sipr_param_t *pm = ad->params; pm; pm = pm->next) {
    if (SIPR_STR_CASEEQ_LIT(pm->name, "tag")) {
      if (!pm->value.p || !pm->value.len || pm->value.p[0] == '"')
        return lx_fail(lx, "invalid tag");
      ad->tag = pm->value;
    } else if (SIPR_STR_CASEEQ_LIT(pm->name, "q")) {
      if (!pm->value.p || parse_qvalue(pm->value, &ad->q))
        return lx_fail(lx, "invalid q value");
    } else if (SIPR_STR_CASEEQ_LIT(pm->name, "expires")) {
      /* delta-seconds; values past 2^32-1 are taken as 2^32-1 */
      uint64_t e;
      int rc = pm->value.p ? sipr_str_to_u64(pm->value, 0xffffffffu, &e)
                           : SIPR_EPARSE;
      if (rc == SIPR_ERANGE)
        e = 0xffffffffu;
      else if (rc)
        return lx_fail(lx, "invalid expires");
      ad->expires = (int64_t)e;
    }
  }
  return 0;
}

static int parse_uri_at(sipr_lex_t *lx, sipr_arena_t *a, const char *s,
                        const char *e, sipr_uri_t *u) {
  sipr_perr_t uerr;
  int rc = sipr_uri_parse(a, s, (size_t)(e - s), u, &uerr);
  if (rc) {
    lx->p = s + (uerr.offset <= (size_t)(e - s) ? uerr.offset : 0);
    if (rc == SIPR_ENOMEM)
      return lx_nomem(lx);
    return lx_fail(lx, uerr.reason ? uerr.reason : "invalid URI");
  }
  return 0;
}

static int parse_one_addr(sipr_lex_t *lx, sipr_arena_t *a, sipr_addr_t *ad,
                          int list, int star_ok) {
  const char *s = lx->p;
  int rc;
  ad->q = -1;
  ad->expires = -1;
  if (star_ok && lx_peek(lx) == '*') {
    /* Contact: "*" stands alone (§20.10). */
    lx->p++;
    lx_ws(lx);
    if (!lx_eof(lx))
      return lx_fail(lx, "'*' must be the only Contact value");
    ad->star = 1;
    ad->raw = sipr_str_make(s, 1);
    return 0;
  }
  if (lx_peek(lx) == '"') {
    if ((rc = lx_quoted(lx, &ad->display)))
      return rc;
    lx_ws(lx);
    if (lx_peek(lx) != '<')
      return lx_fail(lx, "expected '<' after display name");
  } else if (lx_peek(lx) != '<') {
    /* Either display-name = *(token LWS) followed by '<', or an addr-spec. */
    const char *q = lx->p, *last = lx->p;
    for (;;) {
      sipr_str_t t = lx_run(lx, SIPR_C_TOKEN);
      if (!t.len)
        break;
      last = lx->p;
      lx_ws(lx);
    }
    if (lx_peek(lx) == '<' && last > q) {
      ad->display = sipr_str_make(q, (size_t)(last - q));
    } else {
      /* addr-spec: the URI runs to ';' (header params), ',' in lists, or
       * white space. A URI with ',', '?' or ';' must be in <> (§20). */
      const char *p = q, *e = lx->end;
      for (; p < e; p++) {
        char c = *p;
        if (c == ';' || (list && c == ',') || c == ' ' || c == '\t' ||
            c == '\r' || c == '\n')
          break;
        if (c == '?' || c == '<' || c == '>' || c == '"') {
          lx->p = p;
          return lx_fail(lx, c == '?' ? "URI with headers must be enclosed in <>"
                                      : "invalid character in addr-spec");
        }
      }
      lx->p = p;
      if (lx->p == q)
        return lx_fail(lx, "missing URI");
      if ((rc = parse_uri_at(lx, a, q, lx->p, &ad->uri)))
        return rc;
      goto params;
    }
  }
  /* LAQUOT addr-spec RAQUOT: nothing but the URI between the brackets. */
  {
    lx->p++;
    const char *us = lx->p;
    const char *gt = memchr(us, '>', (size_t)(lx->end - us));
    if (!gt) {
      lx->p = lx->end;
      return lx_fail(lx, "missing '>'");
    }
    lx->p = gt;
    if (lx->p == us)
      return lx_fail(lx, "empty URI in <>");
    if ((rc = parse_uri_at(lx, a, us, lx->p, &ad->uri)))
      return rc;
    lx->p++;
    ad->angle = 1;
  }
params:;
  unsigned n = 0;
  if ((rc = lx_params(lx, a, &ad->params, &n)) || (rc = addr_known_params(lx, ad)))
    return rc;
  ad->raw = sipr_str_make(s, (size_t)(lx->p - s));
  return 0;
}

static int parse_addr_lx(sipr_lex_t *lx, sipr_arena_t *a, int list, int star_ok,
                         sipr_addr_t **out) {
  sipr_addr_t **tail = out;
  int more, rc;
  unsigned count = 0;
  *out = NULL;
  lx_ws(lx);
  if (lx_eof(lx))
    return lx_fail(lx, "empty value");
  do {
    if (++count > 128)
      return lx_fail(lx, "too many values");
    sipr_addr_t *ad = sipr_arena_zalloc(a, sizeof(*ad));
    if (!ad)
      return lx_nomem(lx);
    if ((rc = parse_one_addr(lx, a, ad, list, star_ok && count == 1)))
      return rc;
    *tail = ad;
    tail = &ad->next;
    if ((rc = lx_end_or_comma(lx, list, &more)))
      return rc;
    if (more && (*out)->star)
      return lx_fail(lx, "'*' must be the only Contact value");
  } while (more);
  return 0;
}

/* ---- small kinds -------------------------------------------------------- */

/* CSeq = 1*DIGIT LWS Method (§20.16); the number fits in 32 bits. */
static int parse_cseq_lx(sipr_lex_t *lx, sipr_arena_t *a, sipr_cseq_t **out) {
  sipr_cseq_t *c = sipr_arena_zalloc(a, sizeof(*c));
  if (!c)
    return lx_nomem(lx);
  lx_ws(lx);
  sipr_str_t num = lx_run(lx, SIPR_C_ALNUM);
  uint64_t v;
  int rc = sipr_str_to_u64(num, 0xffffffffu, &v);
  if (rc)
    return lx_fail(lx, rc == SIPR_ERANGE ? "CSeq number out of range"
                                         : "invalid CSeq number");
  c->seq = (uint32_t)v;
  if (!lx_ws(lx))
    return lx_fail(lx, "missing LWS in CSeq");
  c->method = lx_run(lx, SIPR_C_TOKEN);
  if (!c->method.len)
    return lx_fail(lx, "missing CSeq method");
  c->method_id = sipr_method_from_str(c->method);
  lx_ws(lx);
  if (!lx_eof(lx))
    return lx_fail(lx, "unexpected character in CSeq");
  *out = c;
  return 0;
}

/* Call-ID = word [ "@" word ] (§20.8) */
static int parse_callid_lx(sipr_lex_t *lx, sipr_arena_t *a, sipr_str_t **out) {
  const char *s = lx->p;
  sipr_str_t w = lx_run(lx, SIPR_C_WORD);
  if (!w.len)
    return lx_fail(lx, "empty Call-ID");
  if (lx_peek(lx) == '@') {
    lx->p++;
    if (!lx_run(lx, SIPR_C_WORD).len)
      return lx_fail(lx, "empty Call-ID host part");
  }
  if (!lx_eof(lx))
    return lx_fail(lx, "invalid character in Call-ID");
  sipr_str_t *c = sipr_arena_alloc(a, sizeof(*c));
  if (!c)
    return lx_nomem(lx);
  *c = sipr_str_make(s, (size_t)(lx->p - s));
  *out = c;
  return 0;
}

static int parse_uint_lx(sipr_lex_t *lx, sipr_arena_t *a, sipr_hdr_type_t t,
                         sipr_uint_t **out) {
  lx_ws(lx);
  sipr_str_t d = lx_run(lx, SIPR_C_ALNUM);
  uint64_t v;
  int rc = sipr_str_to_u64(d, 0xffffffffu, &v);
  /* Expires values past 2^32-1 are taken as the largest (§20.19 gives
   * delta-seconds; RFC 4475 §3.1.2.4 allows this reading). */
  if (rc == SIPR_ERANGE && (t == SIPR_HDR_EXPIRES || t == SIPR_HDR_MIN_EXPIRES))
    v = 0xffffffffu, rc = 0;
  if (rc)
    return lx_fail(lx, rc == SIPR_ERANGE ? "number out of range" : "invalid number");
  lx_ws(lx);
  if (!lx_eof(lx))
    return lx_fail(lx, "unexpected character after number");
  sipr_uint_t *u = sipr_arena_alloc(a, sizeof(*u));
  if (!u)
    return lx_nomem(lx);
  u->value = (uint32_t)v;
  *out = u;
  return 0;
}

/* option-tag / Method lists: [ token *(COMMA token) ] */
static int parse_tokens_lx(sipr_lex_t *lx, sipr_arena_t *a, sipr_token_t **out) {
  sipr_token_t **tail = out;
  int more = 0;
  unsigned count = 0;
  *out = NULL;
  lx_ws(lx);
  if (lx_eof(lx))
    return 0; /* empty lists are allowed (Supported:, Allow:) */
  do {
    sipr_str_t t = lx_run(lx, SIPR_C_TOKEN);
    if (!t.len)
      return lx_fail(lx, "invalid token in list");
    if (++count > 128)
      return lx_fail(lx, "too many values");
    sipr_token_t *tk = sipr_arena_alloc(a, sizeof(*tk));
    if (!tk)
      return lx_nomem(lx);
    tk->value = t;
    tk->next = NULL;
    *tail = tk;
    tail = &tk->next;
    int rc = lx_end_or_comma(lx, 1, &more);
    if (rc)
      return rc;
  } while (more);
  return 0;
}

/* Content-Type = media-type = m-type SLASH m-subtype *(SEMI m-parameter) */
static int parse_ctype_lx(sipr_lex_t *lx, sipr_arena_t *a, sipr_ctype_t **out) {
  sipr_ctype_t *c = sipr_arena_zalloc(a, sizeof(*c));
  if (!c)
    return lx_nomem(lx);
  lx_ws(lx);
  c->type = lx_run(lx, SIPR_C_TOKEN);
  if (!c->type.len || !lx_sep(lx, '/'))
    return lx_fail(lx, "malformed media type");
  c->subtype = lx_run(lx, SIPR_C_TOKEN);
  if (!c->subtype.len)
    return lx_fail(lx, "malformed media subtype");
  unsigned n = 0;
  int rc = lx_params(lx, a, &c->params, &n);
  if (rc)
    return rc;
  lx_ws(lx);
  if (!lx_eof(lx))
    return lx_fail(lx, "unexpected character in Content-Type");
  *out = c;
  return 0;
}

/* challenge / credentials (§25.1, RFC 7616 §3.3-3.4):
 *   auth-scheme LWS auth-param *(COMMA auth-param)
 *   auth-param = token EQUAL ( token / quoted-string )
 * Other schemes than Digest may carry anything after the scheme (e.g. a
 * token68); their params are kept when they parse, else left empty. */
static void auth_field(sipr_auth_t *au, sipr_param_t *pm) {
  static const struct {
    const char *name;
    size_t off;
  } f[] = {
      {"realm", offsetof(sipr_auth_t, realm)},
      {"nonce", offsetof(sipr_auth_t, nonce)},
      {"opaque", offsetof(sipr_auth_t, opaque)},
      {"algorithm", offsetof(sipr_auth_t, algorithm)},
      {"qop", offsetof(sipr_auth_t, qop)},
      {"stale", offsetof(sipr_auth_t, stale)},
      {"domain", offsetof(sipr_auth_t, domain)},
      {"username", offsetof(sipr_auth_t, username)},
      {"uri", offsetof(sipr_auth_t, uri)},
      {"response", offsetof(sipr_auth_t, response)},
      {"cnonce", offsetof(sipr_auth_t, cnonce)},
      {"nc", offsetof(sipr_auth_t, nc)},
  };
  for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
    if (sipr_str_caseeq_z(pm->name, f[i].name)) {
      *(sipr_str_t *)((char *)au + f[i].off) = pm->value;
      return;
    }
}

static int parse_auth_lx(sipr_lex_t *lx, sipr_arena_t *a, sipr_auth_t **out) {
  sipr_auth_t *au = sipr_arena_zalloc(a, sizeof(*au));
  if (!au)
    return lx_nomem(lx);
  lx_ws(lx);
  au->scheme = lx_run(lx, SIPR_C_TOKEN);
  if (!au->scheme.len)
    return lx_fail(lx, "missing auth scheme");
  int digest = SIPR_STR_CASEEQ_LIT(au->scheme, "Digest");
  const char *after_scheme = lx->p;
  if (!lx_ws(lx) && !lx_eof(lx))
    return lx_fail(lx, "missing LWS after auth scheme");
  sipr_param_t **tail = &au->params;
  unsigned count = 0;
  int more = !lx_eof(lx), rc = 0;
  while (more) {
    sipr_param_t *pm = sipr_arena_zalloc(a, sizeof(*pm));
    if (!pm)
      return lx_nomem(lx);
    pm->name = lx_run(lx, SIPR_C_TOKEN);
    if (!pm->name.len || ++count > 64 || !lx_sep(lx, '=')) {
      rc = lx_fail(lx, "malformed auth-param");
      break;
    }
    if (lx_peek(lx) == '"') {
      if ((rc = lx_quoted(lx, &pm->value)))
        break;
      pm->value = unquote(pm->value);
    } else {
      pm->value = lx_run(lx, SIPR_C_TOKEN);
      if (!pm->value.len) {
        rc = lx_fail(lx, "empty auth-param value");
        break;
      }
    }
    if (digest)
      auth_field(au, pm);
    *tail = pm;
    tail = &pm->next;
    if ((rc = lx_end_or_comma(lx, 1, &more)))
      break;
  }
  if (rc) {
    if (digest || rc == SIPR_ENOMEM)
      return rc;
    /* Unknown scheme with opaque data: keep the scheme, skip the rest. */
    au->params = NULL;
    lx->p = after_scheme;
  }
  *out = au;
  return 0;
}

/* ---- public entry points ------------------------------------------------ */
static void lx_init(sipr_lex_t *lx, const char *p, size_t len, const char *base,
                    const char *where, sipr_perr_t *err) {
  lx->p = p;
  lx->end = p + len;
  lx->base = base;
  lx->where = where;
  lx->err = err;
}

int sipr_parse_via(sipr_arena_t *a, const char *p, size_t len, sipr_via_t **out,
                   sipr_perr_t *err) {
  sipr_lex_t lx;
  lx_init(&lx, p, len, p, "Via", err);
  return parse_via_lx(&lx, a, out, 0);
}

int sipr_parse_addr(sipr_arena_t *a, const char *p, size_t len, int list,
                    sipr_addr_t **out, sipr_perr_t *err) {
  sipr_lex_t lx;
  lx_init(&lx, p, len, p, "address", err);
  return parse_addr_lx(&lx, a, list, 0, out);
}

int sipr_parse_auth(sipr_arena_t *a, const char *p, size_t len,
                    sipr_auth_t **out, sipr_perr_t *err) {
  sipr_lex_t lx;
  lx_init(&lx, p, len, p, "Authorization", err);
  return parse_auth_lx(&lx, a, out);
}

int sipr_hdr_parse(sipr_msg_t *m, sipr_hdr_t *h, sipr_perr_t *err) {
  if (h->parse_rc > 0)
    return 0;
  if (h->parse_rc < 0) {
    /* The first verdict stands; its explanation was kept. */
    if (err && h->error)
      *err = *h->error;
    else if (err)
      sipr_perr_set(err, h->parse_rc, 400, sipr__hdr_table[h->type].name,
                    (size_t)(h->value.p - m->buf), "malformed header");
    return h->parse_rc;
  }
  const sipr_hdr_info_t *info = &sipr__hdr_table[h->type];
  if (info->kind == SIPR_KIND_RAW)
    return 0;
  sipr_perr_t dummy;
  sipr_lex_t lx;
  lx_init(&lx, h->value.p, h->value.len, m->buf, info->name, err ? err : &dummy);
  sipr_arena_t *a = m->arena;
  void *v = NULL;
  int rc;
  switch (info->kind) {
  case SIPR_KIND_VIA:
    rc = parse_via_lx(&lx, a, (sipr_via_t **)&v, 0);
    break;
  case SIPR_KIND_ADDR:
    rc = parse_addr_lx(&lx, a, 0, 0, (sipr_addr_t **)&v);
    break;
  case SIPR_KIND_ADDR_LIST:
    rc = parse_addr_lx(&lx, a, 1, h->type == SIPR_HDR_CONTACT, (sipr_addr_t **)&v);
    break;
  case SIPR_KIND_CALLID:
    rc = parse_callid_lx(&lx, a, (sipr_str_t **)&v);
    break;
  case SIPR_KIND_CSEQ:
    rc = parse_cseq_lx(&lx, a, (sipr_cseq_t **)&v);
    break;
  case SIPR_KIND_UINT:
    rc = parse_uint_lx(&lx, a, h->type, (sipr_uint_t **)&v);
    break;
  case SIPR_KIND_TOKENS:
    rc = parse_tokens_lx(&lx, a, (sipr_token_t **)&v);
    break;
  case SIPR_KIND_CTYPE:
    rc = parse_ctype_lx(&lx, a, (sipr_ctype_t **)&v);
    break;
  case SIPR_KIND_AUTH:
    rc = parse_auth_lx(&lx, a, (sipr_auth_t **)&v);
    break;
  default:
    rc = 0;
    break;
  }
  if (rc) {
    h->parse_rc = rc;
    sipr_perr_t *keep = sipr_arena_alloc(a, sizeof(*keep));
    if (keep) {
      *keep = *lx.err;
      h->error = keep;
    }
    return rc;
  }
  h->parsed = v;
  h->parse_rc = 1;
  return 0;
}

/* ---- accessors ----------------------------------------------------------- */
void *sipr_msg_get(sipr_msg_t *m, sipr_hdr_type_t t) {
  if (!m || (unsigned)t >= SIPR_HDR__COUNT || !m->first[t])
    return NULL;
  sipr_hdr_t *h = m->first[t];
  if (sipr_hdr_parse(m, h, NULL))
    return NULL;
  return h->parsed;
}

sipr_via_t *sipr_msg_via(sipr_msg_t *m) { return sipr_msg_get(m, SIPR_HDR_VIA); }

int sipr__via_answerable(sipr_msg_t *m) {
  if (sipr_msg_via(m))
    return 1;
  sipr_hdr_t *h = m->first[SIPR_HDR_VIA];
  if (!h)
    return 0;
  sipr_perr_t err;
  sipr_lex_t lx;
  sipr_via_t *v;
  lx_init(&lx, h->value.p, h->value.len, m->buf, "Via", &err);
  return parse_via_lx(&lx, m->arena, &v, 1) == 0;
}
sipr_addr_t *sipr_msg_from(sipr_msg_t *m) { return sipr_msg_get(m, SIPR_HDR_FROM); }
sipr_addr_t *sipr_msg_to(sipr_msg_t *m) { return sipr_msg_get(m, SIPR_HDR_TO); }
sipr_cseq_t *sipr_msg_cseq(sipr_msg_t *m) { return sipr_msg_get(m, SIPR_HDR_CSEQ); }

sipr_str_t sipr_msg_call_id(sipr_msg_t *m) {
  sipr_str_t *c = sipr_msg_get(m, SIPR_HDR_CALL_ID);
  return c ? *c : SIPR_STR_NULL;
}

long sipr_msg_max_forwards(sipr_msg_t *m) {
  sipr_uint_t *u = sipr_msg_get(m, SIPR_HDR_MAX_FORWARDS);
  return u ? (long)u->value : -1;
}

sipr_uri_t *sipr_msg_ruri(sipr_msg_t *m) {
  if (!m || !m->is_request || !m->ruri_str.len)
    return NULL;
  if (!m->ruri) {
    sipr_uri_t *u = sipr_arena_zalloc(m->arena, sizeof(*u));
    if (!u || sipr_uri_parse(m->arena, m->ruri_str.p, m->ruri_str.len, u, NULL))
      return NULL;
    m->ruri = u;
  }
  return m->ruri;
}
