/*
 * Message framing and header splitting (RFC 3261 §7, §25): the start line,
 * the header fields with their names looked up in one table, folding,
 * Content-Length and the body. Typed header values are built later, on
 * demand (hdr.c); message-level checks live in check.c.
 */
#include "syntax_internal.h"


/* ---- character classes (§25.1) --------------------------------------- */
const unsigned char sipr__ctype[256] = {
#define T SIPR_C_TOKEN
#define W SIPR_C_WORD
#define A SIPR_C_ALNUM
#define H SIPR_C_HOST
#define S SIPR_C_WS
#define X SIPR_C_HOSTX
#define L SIPR_C_LWS
    ['\t'] = S | L, [' '] = S | L, ['\r'] = L, ['\n'] = L,
    /* token: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" */
    ['-'] = T | W | H, ['.'] = T | W | H, ['!'] = T | W, ['%'] = T | W,
    ['*'] = T | W, ['_'] = T | W, ['+'] = T | W, ['`'] = T | W,
    ['\''] = T | W, ['~'] = T | W,
    /* word adds: ( ) < > : \ DQUOTE / [ ] ? { } */
    ['('] = W, [')'] = W, ['<'] = W, ['>'] = W, [':'] = W | H | X, ['\\'] = W,
    ['"'] = W, ['/'] = W, ['['] = W | X, [']'] = W | X, ['?'] = W, ['{'] = W,
    ['}'] = W,
#define D(c) [c] = T | W | A | H
    D('0'), D('1'), D('2'), D('3'), D('4'), D('5'), D('6'), D('7'), D('8'),
    D('9'), D('a'), D('b'), D('c'), D('d'), D('e'), D('f'), D('g'), D('h'),
    D('i'), D('j'), D('k'), D('l'), D('m'), D('n'), D('o'), D('p'), D('q'),
    D('r'), D('s'), D('t'), D('u'), D('v'), D('w'), D('x'), D('y'), D('z'),
    D('A'), D('B'), D('C'), D('D'), D('E'), D('F'), D('G'), D('H'), D('I'),
    D('J'), D('K'), D('L'), D('M'), D('N'), D('O'), D('P'), D('Q'), D('R'),
    D('S'), D('T'), D('U'), D('V'), D('W'), D('X'), D('Y'), D('Z'),
#undef D
#undef T
#undef W
#undef A
#undef H
#undef S
#undef X
#undef L
};

/* ---- methods ----------------------------------------------------------- */
static const char *const method_names[SIPR_METHOD__COUNT] = {
    [SIPR_METHOD_INVITE] = "INVITE",       [SIPR_METHOD_ACK] = "ACK",
    [SIPR_METHOD_BYE] = "BYE",             [SIPR_METHOD_CANCEL] = "CANCEL",
    [SIPR_METHOD_OPTIONS] = "OPTIONS",     [SIPR_METHOD_REGISTER] = "REGISTER",
    [SIPR_METHOD_PRACK] = "PRACK",         [SIPR_METHOD_SUBSCRIBE] = "SUBSCRIBE",
    [SIPR_METHOD_NOTIFY] = "NOTIFY",       [SIPR_METHOD_PUBLISH] = "PUBLISH",
    [SIPR_METHOD_INFO] = "INFO",           [SIPR_METHOD_REFER] = "REFER",
    [SIPR_METHOD_MESSAGE] = "MESSAGE",     [SIPR_METHOD_UPDATE] = "UPDATE",
};

sipr_method_t sipr_method_from_str(sipr_str_t s) {
  if (s.len < 3 || s.len > 9)
    return SIPR_METHOD_UNKNOWN;
  /* The length and first letter tell every method apart but two pairs
   * (INVITE/INFO differ in length; PRACK/PUBLISH too), so one compare. */
  sipr_method_t m = SIPR_METHOD_UNKNOWN;
  switch (s.p[0]) {
  case 'A': m = SIPR_METHOD_ACK; break;
  case 'B': m = SIPR_METHOD_BYE; break;
  case 'C': m = SIPR_METHOD_CANCEL; break;
  case 'I': m = s.len == 6 ? SIPR_METHOD_INVITE : SIPR_METHOD_INFO; break;
  case 'M': m = SIPR_METHOD_MESSAGE; break;
  case 'N': m = SIPR_METHOD_NOTIFY; break;
  case 'O': m = SIPR_METHOD_OPTIONS; break;
  case 'P': m = s.len == 5 ? SIPR_METHOD_PRACK : SIPR_METHOD_PUBLISH; break;
  case 'R': m = s.len == 8 ? SIPR_METHOD_REGISTER : SIPR_METHOD_REFER; break;
  case 'S': m = SIPR_METHOD_SUBSCRIBE; break;
  case 'U': m = SIPR_METHOD_UPDATE; break;
  default: return SIPR_METHOD_UNKNOWN;
  }
  const char *n = method_names[m];
  return strlen(n) == s.len && memcmp(n, s.p, s.len) == 0 ? m
                                                          : SIPR_METHOD_UNKNOWN;
}

const char *sipr_method_name(sipr_method_t m) {
  return (m > 0 && m < SIPR_METHOD__COUNT) ? method_names[m] : NULL;
}

/* ---- the header table --------------------------------------------------
 * One line per header: type, long name, compact form, typed kind, and
 * whether a message may carry it only once. */
const sipr_hdr_info_t sipr__hdr_table[SIPR_HDR__COUNT] = {
#define HDR(t, n, c, k, s) [SIPR_HDR_##t] = {SIPR_HDR_##t, n, c, SIPR_KIND_##k, s}
    HDR(OTHER, NULL, 0, RAW, 0),
    HDR(VIA, "Via", 'v', VIA, 0),
    HDR(FROM, "From", 'f', ADDR, 1),
    HDR(TO, "To", 't', ADDR, 1),
    HDR(CALL_ID, "Call-ID", 'i', CALLID, 1),
    HDR(CSEQ, "CSeq", 0, CSEQ, 1),
    HDR(MAX_FORWARDS, "Max-Forwards", 0, UINT, 1),
    HDR(CONTACT, "Contact", 'm', ADDR_LIST, 0),
    HDR(ROUTE, "Route", 0, ADDR_LIST, 0),
    HDR(RECORD_ROUTE, "Record-Route", 0, ADDR_LIST, 0),
    HDR(PATH, "Path", 0, ADDR_LIST, 0),
    HDR(CONTENT_LENGTH, "Content-Length", 'l', UINT, 1),
    HDR(CONTENT_TYPE, "Content-Type", 'c', CTYPE, 1),
    HDR(EXPIRES, "Expires", 0, UINT, 1),
    HDR(MIN_EXPIRES, "Min-Expires", 0, UINT, 1),
    HDR(REQUIRE, "Require", 0, TOKENS, 0),
    HDR(PROXY_REQUIRE, "Proxy-Require", 0, TOKENS, 0),
    HDR(SUPPORTED, "Supported", 'k', TOKENS, 0),
    HDR(UNSUPPORTED, "Unsupported", 0, TOKENS, 0),
    HDR(ALLOW, "Allow", 0, TOKENS, 0),
    HDR(WWW_AUTHENTICATE, "WWW-Authenticate", 0, AUTH, 0),
    HDR(PROXY_AUTHENTICATE, "Proxy-Authenticate", 0, AUTH, 0),
    HDR(AUTHORIZATION, "Authorization", 0, AUTH, 0),
    HDR(PROXY_AUTHORIZATION, "Proxy-Authorization", 0, AUTH, 0),
    HDR(ACCEPT, "Accept", 0, RAW, 0),
    HDR(ACCEPT_ENCODING, "Accept-Encoding", 0, RAW, 0),
    HDR(ACCEPT_LANGUAGE, "Accept-Language", 0, RAW, 0),
    HDR(ALERT_INFO, "Alert-Info", 0, RAW, 0),
    HDR(ALLOW_EVENTS, "Allow-Events", 'u', RAW, 0),
    HDR(AUTHENTICATION_INFO, "Authentication-Info", 0, RAW, 0),
    HDR(CALL_INFO, "Call-Info", 0, RAW, 0),
    HDR(CONTENT_DISPOSITION, "Content-Disposition", 0, RAW, 0),
    HDR(CONTENT_ENCODING, "Content-Encoding", 'e', RAW, 0),
    HDR(CONTENT_LANGUAGE, "Content-Language", 0, RAW, 0),
    HDR(DATE, "Date", 0, RAW, 0),
    HDR(ERROR_INFO, "Error-Info", 0, RAW, 0),
    HDR(EVENT, "Event", 'o', RAW, 0),
    HDR(IN_REPLY_TO, "In-Reply-To", 0, RAW, 0),
    HDR(MIME_VERSION, "MIME-Version", 0, RAW, 0),
    HDR(ORGANIZATION, "Organization", 0, RAW, 0),
    HDR(PRIORITY, "Priority", 0, RAW, 0),
    HDR(REFER_TO, "Refer-To", 'r', RAW, 0),
    HDR(REFERRED_BY, "Referred-By", 'b', RAW, 0),
    HDR(REPLY_TO, "Reply-To", 0, RAW, 0),
    HDR(RETRY_AFTER, "Retry-After", 0, RAW, 0),
    HDR(SERVER, "Server", 0, RAW, 0),
    HDR(SESSION_EXPIRES, "Session-Expires", 'x', RAW, 0),
    HDR(SUBJECT, "Subject", 's', RAW, 0),
    HDR(SUBSCRIPTION_STATE, "Subscription-State", 0, RAW, 0),
    HDR(TIMESTAMP, "Timestamp", 0, RAW, 0),
    HDR(USER_AGENT, "User-Agent", 0, RAW, 0),
    HDR(WARNING, "Warning", 0, RAW, 0),
    HDR(RSEQ, "RSeq", 0, RAW, 0),
    HDR(RACK, "RAck", 0, RAW, 0),
    HDR(REASON, "Reason", 0, RAW, 0),
    HDR(MIN_SE, "Min-SE", 0, RAW, 0),
    HDR(ACCEPT_CONTACT, "Accept-Contact", 'a', RAW, 0),
    HDR(REJECT_CONTACT, "Reject-Contact", 'j', RAW, 0),
    HDR(REQUEST_DISPOSITION, "Request-Disposition", 'd', RAW, 0),
    HDR(IDENTITY, "Identity", 'y', RAW, 0),
#undef HDR
};

const sipr_hdr_info_t *sipr_hdr_info(sipr_hdr_type_t t) {
  if ((unsigned)t >= SIPR_HDR__COUNT)
    t = SIPR_HDR_OTHER;
  return &sipr__hdr_table[t];
}

/* Name lookup: an open-addressing hash of the names, built once before
 * main() runs. The hash mixes the length with the first, second and last
 * bytes, which tells the table's names apart with few probes. */
#define LOOKUP_SIZE 256
static uint8_t lookup[LOOKUP_SIZE];     /* header type, 0 = empty */
static uint8_t lookup_len[SIPR_HDR__COUNT];
static char lookup_lower[SIPR_HDR__COUNT][24]; /* names, lower-cased */
static uint8_t compact_lookup[128];

static inline unsigned name_hash(const char *p, size_t len) {
  unsigned h = (unsigned)len * 131u + sipr_lower((unsigned char)p[0]) * 31u +
               sipr_lower((unsigned char)p[len - 1]) +
               sipr_lower((unsigned char)p[1]) * 7u;
  return h & (LOOKUP_SIZE - 1);
}

__attribute__((constructor)) static void lookup_build(void) {
  for (int t = 1; t < SIPR_HDR__COUNT; t++) {
    const char *n = sipr__hdr_table[t].name;
    size_t len = strlen(n);
    unsigned h = name_hash(n, len);
    while (lookup[h])
      h = (h + 1) & (LOOKUP_SIZE - 1);
    lookup[h] = (uint8_t)t;
    lookup_len[t] = (uint8_t)len;
    for (size_t i = 0; i < len && i < sizeof(lookup_lower[t]) - 1; i++)
      lookup_lower[t][i] = (char)sipr_lower((unsigned char)n[i]);
    if (sipr__hdr_table[t].compact)
      compact_lookup[(unsigned char)sipr__hdr_table[t].compact] = (uint8_t)t;
  }
}

/* Table names hold only letters and '-': OR-ing 0x20 lower-cases a letter,
 * keeps '-', and maps no other token character onto either, so a name
 * matches when (name | 0x20) equals the lower-cased table name. Words of
 * 8 (or 4) bytes at a time, the last one overlapping; never past len. */
static inline int name_eq_lower(const char *name, const char *ln, size_t len) {
  if (len >= 8) {
    uint64_t a, b;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
      memcpy(&a, name + i, 8);
      memcpy(&b, ln + i, 8);
      if ((a | 0x2020202020202020ull) != b)
        return 0;
    }
    if (i == len)
      return 1;
    memcpy(&a, name + len - 8, 8);
    memcpy(&b, ln + len - 8, 8);
    return (a | 0x2020202020202020ull) == b;
  }
  if (len >= 4) {
    uint32_t a, b, c, d;
    memcpy(&a, name, 4);
    memcpy(&b, ln, 4);
    memcpy(&c, name + len - 4, 4);
    memcpy(&d, ln + len - 4, 4);
    return (a | 0x20202020u) == b && (c | 0x20202020u) == d;
  }
  for (size_t i = 0; i < len; i++)
    if ((char)(name[i] | 0x20) != ln[i])
      return 0;
  return 1;
}

sipr_hdr_type_t sipr_hdr_lookup(const char *name, size_t len) {
  if (len <= 1) {
    unsigned char c = len ? sipr_lower((unsigned char)name[0]) : 0;
    return c < 128 ? (sipr_hdr_type_t)compact_lookup[c] : SIPR_HDR_OTHER;
  }
  unsigned h = name_hash(name, len);
  unsigned t;
  while ((t = lookup[h]) != 0) {
    if (lookup_len[t] == len && name_eq_lower(name, lookup_lower[t], len))
      return (sipr_hdr_type_t)t;
    h = (h + 1) & (LOOKUP_SIZE - 1);
  }
  return SIPR_HDR_OTHER;
}

/* ---- message parsing -------------------------------------------------- */
typedef struct parser {
  sipr_msg_t *m;
  const char *buf, *end;
  sipr_perr_t *err;
  int failed;
} parser_t;

/* Records the first error only: later ones are consequences. */
static int fail(parser_t *ps, int code, int status, const char *where,
                const char *at, const char *reason) {
  if (!ps->failed) {
    ps->failed = 1;
    sipr_perr_set(ps->err, code, status, where, (size_t)(at - ps->buf), reason);
  }
  return code;
}

/* Finds the CRLF that ends the line starting at p; returns its position or
 * NULL when the buffer ends first. A bare CR or LF inside is reported by
 * *bare (line ends are CRLF only, §7). */
static const char *line_end(const char *p, const char *end, const char **bare) {
  *bare = NULL;
  for (const char *q = p; q < end; q++) {
    q = memchr(q, '\n', (size_t)(end - q));
    if (!q)
      break;
    if (q > p && q[-1] == '\r')
      return q - 1;
    if (!*bare)
      *bare = q;
  }
  return NULL;
}

/* SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT (§25.1); returns 1 for a
 * well-formed version, 2 when it is also 2.0. */
static int check_version(sipr_str_t v) {
  if (v.len == 7 && memcmp(v.p, "SIP/2.0", 7) == 0)
    return 2; /* the form nearly every message has */
  if (v.len < 7 || !sipr_str_caseeq(sipr_str_make(v.p, 4), SIPR_STR("SIP/")))
    return 0;
  size_t i = 4, d1 = 0, d2 = 0;
  while (i < v.len && v.p[i] >= '0' && v.p[i] <= '9')
    i++, d1++;
  if (!d1 || i >= v.len || v.p[i] != '.')
    return 0;
  i++;
  while (i < v.len && v.p[i] >= '0' && v.p[i] <= '9')
    i++, d2++;
  if (!d2 || i != v.len)
    return 0;
  return sipr_str_eq(sipr_str_make(v.p + 4, v.len - 4), SIPR_STR("2.0")) ? 2 : 1;
}

static void parse_start_line(parser_t *ps, const char *p, const char *e) {
  sipr_msg_t *m = ps->m;
  m->start_line = sipr_str_make(p, (size_t)(e - p));
  if (e - p >= 5 && sipr_str_caseeq(sipr_str_make(p, 4), SIPR_STR("SIP/")) &&
      memchr(p, ' ', (size_t)(e - p))) {
    /* Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (§7.2) */
    const char *sp = memchr(p, ' ', (size_t)(e - p));
    m->is_request = 0;
    m->version = sipr_str_make(p, (size_t)(sp - p));
    int v = check_version(m->version);
    if (!v) {
      fail(ps, SIPR_EPARSE, 0, "start-line", p, "malformed SIP-Version");
      return;
    }
    const char *c = sp + 1, *ce = c;
    while (ce < e && *ce >= '0' && *ce <= '9')
      ce++;
    uint64_t code;
    if (ce == c || sipr_str_to_u64(sipr_str_make(c, (size_t)(ce - c)), 999,
                                   &code) != 0 ||
        ce - c != 3 || code < 100 || code > 699) {
      fail(ps, SIPR_EPARSE, 0, "start-line", c, "invalid Status-Code");
      return;
    }
    m->status = (unsigned)code;
    if (ce < e && *ce != ' ') {
      fail(ps, SIPR_EPARSE, 0, "start-line", ce, "invalid Status-Code");
      return;
    }
    /* The SP before an empty Reason-Phrase is tolerated when missing. */
    m->reason = ce < e ? sipr_str_make(ce + 1, (size_t)(e - ce - 1))
                       : sipr_str_make(e, 0);
    for (const char *q = m->reason.p; q < e; q++)
      if ((unsigned char)*q < 0x20 && *q != '\t') {
        fail(ps, SIPR_EPARSE, 0, "start-line", q,
             "control character in Reason-Phrase");
        return;
      }
    if (v != 2)
      fail(ps, SIPR_EPARSE, 0, "start-line", p, "unsupported SIP version");
    return;
  }
  /* Request-Line = Method SP Request-URI SP SIP-Version (§7.1). Exactly one
   * SP between elements: extra or trailing SP is refused (RFC 4475 §3.1.2.9,
   * §3.1.2.10, the strict choice). */
  m->is_request = 1;
  const char *q = p;
  while (q < e && sipr__is((unsigned char)*q, SIPR_C_TOKEN))
    q++;
  if (q == p || q >= e || *q != ' ') {
    fail(ps, SIPR_EPARSE, 400, "start-line", q, "malformed Method");
    return;
  }
  m->method = sipr_str_make(p, (size_t)(q - p));
  m->method_id = sipr_method_from_str(m->method);
  const char *u = q + 1;
  const char *ue = memchr(u, ' ', (size_t)(e - u));
  if (!ue || ue == u) {
    fail(ps, SIPR_EPARSE, 400, "start-line", ue ? ue : e,
         "malformed Request-Line");
    return;
  }
  m->ruri_str = sipr_str_make(u, (size_t)(ue - u));
  m->version = sipr_str_make(ue + 1, (size_t)(e - ue - 1));
  int v = check_version(m->version);
  if (!v) {
    fail(ps, SIPR_EPARSE, 400, "start-line", ue + 1,
         memchr(ue + 1, ' ', (size_t)(e - ue - 1))
             ? "extra SP in Request-Line"
             : "malformed SIP-Version");
    return;
  }
  if (v != 2)
    fail(ps, SIPR_EPARSE, 505, "start-line", ue + 1, "Version Not Supported");
}

static sipr_hdr_t *add_header(parser_t *ps, const char *ls, const char *name_end,
                              const char *vs, const char *ve,
                              const char *field_end) {
  sipr_msg_t *m = ps->m;
  if (m->nhdrs >= SIPR_MAX_HEADERS) {
    fail(ps, SIPR_ETOOBIG, 400, "message", ls, "too many header fields");
    return NULL;
  }
  sipr_hdr_t *h = sipr_arena_alloc(m->arena, sizeof(*h));
  if (!h) {
    fail(ps, SIPR_ENOMEM, 500, "message", ls, "out of memory");
    return NULL;
  }
  h->name = sipr_str_make(ls, (size_t)(name_end - ls));
  h->type = sipr_hdr_lookup(h->name.p, h->name.len);
  h->value = sipr_str_make(vs, (size_t)(ve - vs));
  h->raw = sipr_str_make(ls, (size_t)(field_end - ls));
  h->parsed = NULL;
  h->parse_rc = 0;
  h->error = NULL;
  h->next = NULL;
  h->next_same = NULL;
  h->last_same = NULL;
  if (m->last)
    m->last->next = h;
  else
    m->hdrs = h;
  m->last = h;
  m->nhdrs++;
  if (h->type != SIPR_HDR_OTHER) {
    sipr_hdr_t *f = m->first[h->type];
    if (!f) {
      m->first[h->type] = h;
      h->last_same = h;
    } else {
      f->last_same->next_same = h;
      f->last_same = h;
    }
  }
  return h;
}

/* Content-Length (§20.14): 1*DIGIT; required on streams (§18.3). Several
 * Content-Length fields are a framing error (RFC 4475 §3.3.9). */
static void parse_content_length(parser_t *ps, sipr_hdr_t *h) {
  sipr_msg_t *m = ps->m;
  if (m->content_length >= 0 || h != m->first[SIPR_HDR_CONTENT_LENGTH]) {
    fail(ps, SIPR_EPARSE, 400, "Content-Length", h->raw.p,
         "multiple Content-Length values");
    return;
  }
  uint64_t v;
  int rc = sipr_str_to_u64(h->value, 0x7fffffff, &v);
  if (rc) {
    fail(ps, SIPR_EPARSE, 400, "Content-Length", h->value.p,
         rc == SIPR_ERANGE ? "Content-Length too large"
                           : "invalid Content-Length");
    return;
  }
  m->content_length = (long)v;
}

int sipr_msg_parse(sipr_arena_t *a, const char *buf, size_t len,
                   unsigned flags, sipr_msg_t **out, sipr_perr_t *err) {
  sipr_perr_t dummy;
  parser_t ps = {NULL, buf, buf + len, err ? err : &dummy, 0};
  *out = NULL;
  if (!buf || len == 0)
    return sipr_perr_set(ps.err, SIPR_EPARSE, 0, "message", 0, "empty message");
  sipr_msg_t *m = sipr_arena_zalloc(a, sizeof(*m));
  if (!m)
    return sipr_perr_set(ps.err, SIPR_ENOMEM, 0, "message", 0, "out of memory");
  ps.m = m;
  m->arena = a;
  m->buf = buf;
  m->content_length = -1;
  m->is_request = 1;

  /* §7.5: CRLFs before the start line are ignored. */
  const char *p = buf, *end = buf + len, *bare;
  while (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
    p += 2;
  const char *e = line_end(p, end, &bare);
  if (!e || bare) {
    fail(&ps, SIPR_EPARSE, 400, "start-line", bare ? bare : end,
         bare ? "bare LF in start line" : "no CRLF after the start line");
    /* Nothing else can be trusted. */
    m->is_request = !(end - p >= 4 && memcmp(p, "SIP/", 4) == 0);
    goto done;
  }
  parse_start_line(&ps, p, e);
  p = e + 2;

  /* Header fields up to the empty line. A field's value runs over folded
   * lines (CRLF followed by SP/HTAB, §7.3.1). */
  for (;;) {
    if (p >= end) {
      fail(&ps, SIPR_EPARSE, 400, "message", p, "no empty line after headers");
      break;
    }
    e = line_end(p, end, &bare);
    if (bare || !e) {
      /* A message cut short: the last header has no CRLF, or no empty
       * line follows (RFC 4475 baddn has no empty line). */
      fail(&ps, SIPR_EPARSE, 400, "message", bare ? bare : end,
           bare ? "bare LF in header section" : "no empty line after headers");
      break;
    }
    if (e == p) { /* the empty line */
      p += 2;
      break;
    }
    if (*p == ' ' || *p == '\t') {
      fail(&ps, SIPR_EPARSE, 400, "message", p, "continuation line without header");
      break;
    }
    const char *ls = p, *q = p;
    while (q < e && sipr__is((unsigned char)*q, SIPR_C_TOKEN))
      q++;
    const char *name_end = q;
    while (q < e && (*q == ' ' || *q == '\t'))
      q++;
    if (name_end == ls || q >= e || *q != ':') {
      fail(&ps, SIPR_EPARSE, 400, "message", q,
           name_end == ls ? "invalid header name" : "header line without ':'");
      break;
    }
    q++;
    /* Value: skip leading LWS (and folds), then extend over folded lines. */
    const char *fe = e; /* CRLF of the field's last line */
    for (;;) {
      const char *nx = fe + 2;
      if (nx < end && (*nx == ' ' || *nx == '\t')) {
        const char *ne = line_end(nx, end, &bare);
        if (!ne || bare) {
          fail(&ps, SIPR_EPARSE, 400, "message", bare ? bare : end,
               "unterminated folded line");
          goto done;
        }
        fe = ne;
        continue;
      }
      break;
    }
    while (q < fe && sipr__is((unsigned char)*q, SIPR_C_LWS))
      q++;
    const char *ve = fe;
    while (ve > q && (ve[-1] == ' ' || ve[-1] == '\t' || ve[-1] == '\r' ||
                      ve[-1] == '\n'))
      ve--;
    sipr_hdr_t *h = add_header(&ps, ls, name_end, q, ve, fe + 2);
    if (!h)
      break;
    if (h->type == SIPR_HDR_CONTENT_LENGTH)
      parse_content_length(&ps, h);
    p = fe + 2;
  }

  if (!ps.failed) {
    /* Body (§7.4, §18.3). */
    size_t avail = (size_t)(end - p);
    m->body_offset = (size_t)(p - buf);
    if (m->content_length >= 0) {
      if ((size_t)m->content_length > avail) {
        fail(&ps, SIPR_EPARSE, 400, "Content-Length",
             m->first[SIPR_HDR_CONTENT_LENGTH]->value.p,
             "Content-Length larger than message");
      } else {
        m->body = sipr_str_make(p, (size_t)m->content_length);
        m->trailing = avail - (size_t)m->content_length;
      }
    } else if (flags & SIPR_PARSE_STREAM) {
      fail(&ps, SIPR_EPARSE, 400, "Content-Length", p,
           "Content-Length required on a stream");
    } else {
      m->body = sipr_str_make(p, avail);
    }
    m->len = m->body_offset + m->body.len;
  }

done:
  if (ps.failed) {
    if (!m->is_request)
      ps.err->status = 0; /* responses are never answered (§18.1.2) */
    else if (ps.err->status && !sipr__via_answerable(m))
      ps.err->status = 0; /* no usable Via: no way to answer */
    if (ps.err->code == SIPR_ENOMEM)
      ps.err->status = 0;
    *out = m; /* what was parsed stays readable for diagnostics */
    return ps.err->code;
  }
  *out = m;
  return 0;
}

/* Where p (a pointer into the old bytes) is in the copy. */
static const char *rebase_ptr(const char *p, const char *old, const char *nbuf,
                              const char *vend, ptrdiff_t delta) {
  if (!p)
    return p;
  return nbuf + (p - old) + (p >= vend ? delta : 0);
}

static sipr_str_t rebase_str(sipr_str_t s, const char *old, const char *nbuf,
                             const char *vend, ptrdiff_t delta) {
  s.p = rebase_ptr(s.p, old, nbuf, vend, delta);
  return s;
}

void sipr_msg_rebase(sipr_msg_t *m, sipr_hdr_t *h, const char *nbuf,
                     ptrdiff_t delta) {
  const char *old = m->buf, *vend = h->value.p + h->value.len;
#define RB(x) (x) = rebase_str((x), old, nbuf, vend, delta)
  RB(m->start_line);
  RB(m->method);
  RB(m->ruri_str);
  RB(m->version);
  RB(m->reason);
  RB(m->body);
  m->ruri = NULL;
  for (sipr_hdr_t *x = m->hdrs; x; x = x->next) {
    RB(x->name);
    if (x == h) {
      /* the edits are inside: the start stays, the end moves */
      x->value.p = nbuf + (x->value.p - old);
      x->value.len = (size_t)((ptrdiff_t)x->value.len + delta);
      x->raw.p = nbuf + (x->raw.p - old);
      x->raw.len = (size_t)((ptrdiff_t)x->raw.len + delta);
    } else {
      RB(x->value);
      RB(x->raw);
    }
    x->parsed = NULL;
    x->parse_rc = 0;
    x->error = NULL;
  }
#undef RB
  if (m->body_offset >= (size_t)(vend - old))
    m->body_offset = (size_t)((ptrdiff_t)m->body_offset + delta);
  m->len = (size_t)((ptrdiff_t)m->len + delta);
  m->buf = nbuf;
}
