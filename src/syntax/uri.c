/*
 * URIs (include/sipr/uri.h): SIP and SIPS (RFC 3261 §19.1, ABNF §25.1),
 * IPv6 references (RFC 5118), tel (RFC 3966) and any other scheme kept as
 * scheme + opaque text (§25.1 absoluteURI).
 *
 * The parser is a single forward pass over the caller's bytes: it never
 * reads outside [p, p+len), never writes into the input, and allocates only
 * parameter nodes from the arena. Every fault is reported through
 * sipr_perr_t with the byte offset where it was seen; nothing is logged.
 */
#include "sipr/uri.h"

/* ---- character classes (§25.1) ------------------------------------------
 * One byte of flags per octet, computed at compile time from the ABNF so the
 * table cannot drift from the grammar by a typo. */
enum {
  C_ALNUM = 0x01, /* ALPHA / DIGIT */
  C_MARK = 0x02,  /* mark: - _ . ! ~ * ' ( ) */
  C_USER = 0x04,  /* user-unreserved: & = + $ , ; ? / */
  C_PASS = 0x08,  /* password extras: & = + $ , */
  C_PARAM = 0x10, /* param-unreserved: [ ] / : & + $ */
  C_HNV = 0x20,   /* hnv-unreserved: [ ] / ? : + $ */
  C_RES = 0x40,   /* reserved: ; / ? : @ & = + $ , */
  C_BRACK = 0x80  /* [ ] (IPv6 literals in other schemes, RFC 2732) */
};
#define C_UNRES (C_ALNUM | C_MARK)

#define CH_ALNUM(c)                                                          \
  (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') ||               \
   ((c) >= '0' && (c) <= '9'))
#define CH_IN2(c, x, y) ((c) == (x) || (c) == (y))
#define CH_IN4(c, w, x, y, z) (CH_IN2(c, w, x) || CH_IN2(c, y, z))
#define CH_CLASS(c)                                                          \
  ((CH_ALNUM(c) ? C_ALNUM : 0) |                                             \
   ((CH_IN4(c, '-', '_', '.', '!') || CH_IN4(c, '~', '*', '\'', '(') ||     \
     (c) == ')') ? C_MARK : 0) |                                             \
   ((CH_IN4(c, '&', '=', '+', '$') || CH_IN4(c, ',', ';', '?', '/'))        \
        ? C_USER : 0) |                                                      \
   ((CH_IN4(c, '&', '=', '+', '$') || (c) == ',') ? C_PASS : 0) |            \
   ((CH_IN4(c, '[', ']', '/', ':') || CH_IN2(c, '&', '+') || (c) == '$')    \
        ? C_PARAM : 0) |                                                     \
   ((CH_IN4(c, '[', ']', '/', '?') || CH_IN2(c, ':', '+') || (c) == '$')    \
        ? C_HNV : 0) |                                                       \
   ((CH_IN4(c, ';', '/', '?', ':') || CH_IN4(c, '@', '&', '=', '+') ||      \
     CH_IN2(c, '$', ',')) ? C_RES : 0) |                                     \
   (CH_IN2(c, '[', ']') ? C_BRACK : 0))
#define CH_R4(b) CH_CLASS(b), CH_CLASS((b) + 1), CH_CLASS((b) + 2), CH_CLASS((b) + 3)
#define CH_R16(b) CH_R4(b), CH_R4((b) + 4), CH_R4((b) + 8), CH_R4((b) + 12)
#define CH_R64(b) CH_R16(b), CH_R16((b) + 16), CH_R16((b) + 32), CH_R16((b) + 48)

static const unsigned char cls[256] = {CH_R64(0), CH_R64(64), CH_R64(128),
                                       CH_R64(192)};

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_alpha(unsigned char c) { return sipr_lower(c) >= 'a' && sipr_lower(c) <= 'z'; }
static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = sipr_lower(c);
  return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}
/* RFC 3966 visual-separator. */
static int is_visual(unsigned char c) { return CH_IN4(c, '-', '.', '(', ')'); }

/* Returns the index of the first byte of s[0..n) that is neither in one of
 * the classes of mask nor (when esc) the start of a well-formed "%" HEX HEX;
 * n when every byte is acceptable. */
static size_t scan(const char *s, size_t n, unsigned mask, int esc) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = (unsigned char)s[i];
    if (cls[c] & mask) {
      i++;
    } else if (esc && c == '%' && i + 2 < n && hexval((unsigned char)s[i + 1]) >= 0 &&
               hexval((unsigned char)s[i + 2]) >= 0) {
      i += 3;
    } else {
      return i;
    }
  }
  return n;
}

/* ---- escape-aware comparison (§19.1.4) ----------------------------------
 * "Characters other than those in the reserved set are equivalent to their
 * %HH encoding": a unit is the decoded byte, tagged 0x100 when it came from
 * an escape of a reserved character (so "%3B" never equals ";"). Decoding is
 * done once: "%2541" yields '%' '4' '1', not 'A'. */
static size_t next_unit(const char *s, size_t n, size_t i, int *unit) {
  unsigned char c = (unsigned char)s[i];
  if (c == '%' && i + 2 < n) {
    int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
    if (h >= 0 && l >= 0) {
      int v = h * 16 + l;
      *unit = (cls[v] & C_RES) ? (0x100 | v) : v;
      return i + 3;
    }
  }
  *unit = c;
  return i + 1;
}

/* 1 when a and b are equal unit by unit; fold: ASCII case-insensitive. */
static int esc_eq(sipr_str_t a, sipr_str_t b, int fold) {
  size_t i = 0, j = 0;
  while (i < a.len && j < b.len) {
    int x, y;
    i = next_unit(a.p, a.len, i, &x);
    j = next_unit(b.p, b.len, j, &y);
    if (fold) {
      x = (x & 0x100) | sipr_lower((unsigned char)x);
      y = (y & 0x100) | sipr_lower((unsigned char)y);
    }
    if (x != y)
      return 0;
  }
  return i == a.len && j == b.len;
}

/* Is the (possibly escaped) parameter name this literal? ";%6C%72" is lr.
 * The plain spelling is checked first: an escaped one is always longer. */
#define name_is(name, lit)                                                     \
  (SIPR_STR_CASEEQ_LIT(name, lit) ||                                           \
   ((name).len > sizeof(lit) - 1 && memchr((name).p, '%', (name).len) &&       \
    esc_eq(name, SIPR_STR(lit), 1)))

/* esc_eq(a, b, 1) with a shortcut for names without escapes. */
static int name_eq(sipr_str_t a, sipr_str_t b) {
  if (a.len == b.len && sipr_mem_caseeq(a.p, b.p, a.len))
    return 1;
  if (!memchr(a.p, '%', a.len) && !memchr(b.p, '%', b.len))
    return 0;
  return esc_eq(a, b, 1);
}

long sipr_unescape(sipr_str_t s, char *dst) {
  size_t o = 0;
  for (size_t i = 0; i < s.len; i++) {
    unsigned char c = (unsigned char)s.p[i];
    if (c == '%') {
      if (i + 2 >= s.len)
        return -1;
      int h = hexval((unsigned char)s.p[i + 1]), l = hexval((unsigned char)s.p[i + 2]);
      if (h < 0 || l < 0)
        return -1;
      c = (unsigned char)(h * 16 + l);
      i += 2;
    }
    dst[o++] = (char)c;
  }
  return (long)o;
}

const sipr_param_t *sipr_param_find(const sipr_param_t *list, const char *name) {
  if (!name)
    return NULL;
  sipr_str_t n = sipr_str_cstr(name);
  for (; list; list = list->next)
    if (name_eq(list->name, n))
      return list;
  return NULL;
}

/* ---- hosts (§25.1 host, RFC 5118) -----------------------------------------*/

/* IPv4address = 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT, each part
 * at most 255 (the ABNF allows 999; no address has such a part). Fills out
 * (may be NULL). Returns 0 or -1. */
static int ipv4_parse(const char *s, size_t n, unsigned char *out) {
  size_t i = 0;
  for (int part = 0; part < 4; part++) {
    unsigned v = 0;
    size_t d = 0;
    if (part) {
      if (i >= n || s[i] != '.')
        return -1;
      i++;
    }
    while (i < n && is_digit((unsigned char)s[i]) && d < 4) {
      v = v * 10 + (unsigned)(s[i] - '0');
      i++;
      d++;
    }
    if (d == 0 || d > 3 || v > 255)
      return -1;
    if (out)
      out[part] = (unsigned char)v;
  }
  return i == n ? 0 : -1;
}

/* IPv6address (RFC 3261 §25.1, RFC 4291 §2.2) inside the brackets: hex
 * groups of 1-4 digits, "::" at most once, an optional trailing dotted IPv4.
 * With "::" at most 7 words are written; without it exactly 8.
 * RFC 5118 §4.10: the RFC 3261 ABNF admits "2001:db8:::192.0.2.1" (three
 * colons before the IPv4 part); we tolerate it and read it as "::".
 * Fills out[16] (may be NULL). Returns 0 or -1. */
static int ipv6_parse(const char *s, size_t n, unsigned char *out) {
  unsigned g[8];
  unsigned char v4[4];
  int ng = 0, dc = -1, has_v4 = 0, tol = 0;
  size_t i = 0;
  if (n >= 2 && s[0] == ':' && s[1] == ':') {
    dc = 0;
    i = 2;
    if (i < n && s[i] == ':') {
      tol = 1;
      i++;
    }
  } else if (n && s[0] == ':') {
    return -1;
  }
  while (i < n) {
    size_t j = i;
    unsigned v = 0;
    while (j < n && j - i < 5 && hexval((unsigned char)s[j]) >= 0)
      v = v * 16 + (unsigned)hexval((unsigned char)s[j++]);
    if (j < n && s[j] == '.') {
      if (ng > 6 || ipv4_parse(s + i, n - i, v4))
        return -1;
      has_v4 = 1;
      break;
    }
    if (tol || j == i || j - i > 4 || ng == 8)
      return -1; /* ":::" is tolerated only before an IPv4 part */
    g[ng++] = v;
    i = j;
    if (i == n)
      break;
    if (s[i] != ':' || ++i == n)
      return -1; /* a single trailing ':' */
    if (s[i] == ':') {
      if (dc >= 0)
        return -1;
      dc = ng;
      if (++i < n && s[i] == ':') {
        tol = 1;
        i++;
      }
    }
  }
  if (tol && !has_v4)
    return -1;
  int words = ng + (has_v4 ? 2 : 0);
  if (dc < 0 ? words != 8 : words > 7)
    return -1;
  if (out) {
    unsigned w[8] = {0};
    int tail = ng - (dc < 0 ? ng : dc), k;
    int head = dc < 0 ? ng : dc;
    for (k = 0; k < head; k++)
      w[k] = g[k];
    for (k = 0; k < tail; k++)
      w[8 - (has_v4 ? 2 : 0) - tail + k] = g[head + k];
    for (k = 0; k < 8; k++) {
      out[2 * k] = (unsigned char)(w[k] >> 8);
      out[2 * k + 1] = (unsigned char)w[k];
    }
    if (has_v4)
      memcpy(out + 12, v4, 4);
  }
  return 0;
}

/* hostname = *( domainlabel "." ) toplabel [ "." ]  (§25.1; RFC 3966
 * domainname is the same rule). Labels are alphanum with inner '-'; the
 * toplabel starts with ALPHA. Returns NULL or a reason; *bad = offset. */
static const char *hostname_check(const char *s, size_t n, size_t *bad) {
  size_t i = 0, last = 0;
  if (n && s[n - 1] == '.')
    n--; /* one trailing dot (fully qualified) */
  if (n == 0) {
    *bad = 0;
    return "invalid hostname";
  }
  while (i < n) {
    size_t start = i;
    while (i < n && s[i] != '.') {
      unsigned char c = (unsigned char)s[i];
      if (!(cls[c] & C_ALNUM) && c != '-') {
        *bad = i;
        return "invalid character in host";
      }
      i++;
    }
    if (i == start || s[start] == '-' || s[i - 1] == '-') {
      *bad = start;
      return "invalid hostname";
    }
    last = start;
    if (i < n)
      i++; /* '.' */
    if (i == n && s[n - 1] == '.') {
      *bad = i;
      return "invalid hostname"; /* "a..": empty label */
    }
  }
  if (!is_alpha((unsigned char)s[last])) {
    *bad = last;
    return "invalid hostname";
  }
  return NULL;
}

/* host = hostname / IPv4address / IPv6reference (§25.1). Classifies s[0..n)
 * into *type; bin (16 bytes, may be NULL) receives an IP address. Returns
 * NULL or a reason with *bad the offset of the fault. */
static const char *host_check(const char *s, size_t n, sipr_host_type_t *type,
                              unsigned char *bin, size_t *bad) {
  size_t i;
  *bad = 0;
  if (n == 0)
    return "missing host";
  if (s[0] == '[') {
    *type = SIPR_HOST_IPV6;
    if (n < 2 || s[n - 1] != ']')
      return "unterminated IPv6 reference";
    return ipv6_parse(s + 1, n - 2, bin) ? "invalid IPv6 address" : NULL;
  }
  for (i = 0; i < n && (is_digit((unsigned char)s[i]) || s[i] == '.'); i++)
    ;
  if (i == n) {
    *type = SIPR_HOST_IPV4;
    return ipv4_parse(s, n, bin) ? "invalid IPv4 address" : NULL;
  }
  *type = SIPR_HOST_NAME;
  return hostname_check(s, n, bad);
}

/* ---- parser ---------------------------------------------------------------*/

typedef struct pctx {
  sipr_arena_t *a;
  const char *base; /* start of the URI: offsets are relative to it */
  sipr_perr_t *err;
  sipr_uri_t *u;
  sipr_param_t **ptail, **htail;
  int nparams, nheaders;
} pctx_t;

static int fail(pctx_t *c, const char *at, const char *reason) {
  return sipr_perr_set(c->err, SIPR_EPARSE, 400, "uri", (size_t)(at - c->base), reason);
}

/* Appends a parameter node to *tail. Returns 0, SIPR_ENOMEM or SIPR_ETOOBIG
 * (more than SIPR_URI_MAX_PARAMS in one list), with err filled. */
static int add_param(pctx_t *c, sipr_param_t ***tail, int *count, const char *at,
                     sipr_str_t name, sipr_str_t value, sipr_param_t **out) {
  if (++*count > SIPR_URI_MAX_PARAMS)
    return sipr_perr_set(c->err, SIPR_ETOOBIG, 400, "uri", (size_t)(at - c->base),
                         "too many URI parameters");
  sipr_param_t *p = sipr_arena_alloc(c->a, sizeof(*p));
  if (!p)
    return sipr_perr_set(c->err, SIPR_ENOMEM, 500, "uri", (size_t)(at - c->base),
                         "out of memory");
  p->name = name;
  p->value = value;
  p->next = NULL;
  **tail = p;
  *tail = &p->next;
  *out = p;
  return 0;
}

/* "any given parameter-name MUST NOT appear more than once" (§19.1.1,
 * RFC 3966 §3); names compare case-insensitively after unescaping. */
static int is_dup(const sipr_param_t *list, const sipr_param_t *self) {
  for (; list && list != self; list = list->next)
    if (name_eq(list->name, self->name))
      return 1;
  return 0;
}

/* Records a well-known uri-parameter (§19.1.1) in its field; validates the
 * values the core acts on (ttl, maddr). Others are any paramchar run. */
static int sip_known_param(pctx_t *c, const sipr_param_t *p) {
  sipr_uri_t *u = c->u;
  sipr_host_type_t t;
  size_t bad;
  if (name_is(p->name, "lr")) {
    u->lr = 1; /* "lr=on" is common in the wild: accept any value */
    return 0;
  }
  if (!p->value.p)
    return 0; /* a bare name is an other-param (pname without value) */
  if (name_is(p->name, "transport")) {
    u->transport = p->value;
  } else if (name_is(p->name, "user")) {
    u->user_param = p->value;
  } else if (name_is(p->name, "method")) {
    u->method = p->value;
  } else if (name_is(p->name, "maddr")) {
    if (host_check(p->value.p, p->value.len, &t, NULL, &bad))
      return fail(c, p->value.p + bad, "invalid maddr parameter");
    u->maddr = p->value;
  } else if (name_is(p->name, "ttl")) {
    /* ttl = 1*3DIGIT ; 0 to 255 */
    uint64_t v;
    if (p->value.len > 3 || sipr_str_to_u64(p->value, 255, &v))
      return fail(c, p->value.p, "invalid ttl parameter");
    u->ttl = p->value;
  }
  return 0;
}

/* uri-parameters = *( ";" uri-parameter ), headers = "?" header *( "&"
 * header ) (§25.1). *qp points at ';' or '?'; on return, at the first byte
 * that is neither. */
static int sip_params_headers(pctx_t *c, const char **qp, const char *end) {
  const char *q = *qp;
  sipr_param_t *p;
  int rc;
  while (q < end && *q == ';') {
    /* One pass: '=', ';' and '?' are outside the paramchar classes, so
     * the scan stops at the delimiter or at the first invalid byte. */
    const char *ns = ++q, *vs = NULL;
    q = ns + scan(ns, (size_t)(end - ns), C_UNRES | C_PARAM, 1);
    if (q < end && *q != '=' && *q != ';' && *q != '?')
      return fail(c, q, "invalid character in parameter");
    if (q == ns)
      return fail(c, ns, "empty parameter name");
    sipr_str_t name = sipr_str_make(ns, (size_t)(q - ns)), value = SIPR_STR_NULL;
    if (q < end && *q == '=') {
      vs = ++q;
      q = vs + scan(vs, (size_t)(end - vs), C_UNRES | C_PARAM, 1);
      if (q < end && *q != ';' && *q != '?')
        return fail(c, q, "invalid character in parameter");
      if (q == vs)
        return fail(c, vs, "empty parameter value");
      value = sipr_str_make(vs, (size_t)(q - vs));
    }
    if ((rc = add_param(c, &c->ptail, &c->nparams, ns, name, value, &p)))
      return rc;
    if (is_dup(c->u->params, p))
      return fail(c, ns, "duplicate parameter");
    if ((rc = sip_known_param(c, p)))
      return rc;
  }
  if (q < end && *q == '?') {
    do {
      const char *ns = ++q, *vs;
      size_t bad;
      while (q < end && *q != '=' && *q != '&')
        q++;
      if (q == ns)
        return fail(c, ns, "empty header name");
      if ((bad = scan(ns, (size_t)(q - ns), C_UNRES | C_HNV, 1)) < (size_t)(q - ns))
        return fail(c, ns + bad, "invalid character in header");
      if (q == end || *q != '=')
        return fail(c, q, "missing '=' in header");
      vs = ++q;
      while (q < end && *q != '&')
        q++;
      if ((bad = scan(vs, (size_t)(q - vs), C_UNRES | C_HNV, 1)) < (size_t)(q - vs))
        return fail(c, vs + bad, "invalid character in header");
      if ((rc = add_param(c, &c->htail, &c->nheaders, ns, sipr_str_make(ns, (size_t)(vs - 1 - ns)),
                          sipr_str_make(vs, (size_t)(q - vs)), &p)))
        return rc;
    } while (q < end && *q == '&');
  }
  *qp = q;
  return 0;
}

/* SIP-URI / SIPS-URI after "sip:" (§25.1):
 *   [ userinfo ] hostport uri-parameters [ headers ]
 * '@' is in none of host, port, paramchar, hname, hvalue or password, so the
 * first '@' of the URI, when there is one, ends the userinfo. The user may
 * itself hold ';' and '?' (user-unreserved): in
 * "sip:user;par=u%40example.net@example.com" (RFC 4475 §3.1.1.9) the user is
 * "user;par=u%40example.net", which a search stopping at ';' or '?' would
 * miss. */
static int parse_sip(pctx_t *c, const char *s, const char *end) {
  sipr_uri_t *u = c->u;
  const char *q = s, *at = memchr(s, '@', (size_t)(end - s));
  size_t bad;
  if (at) {
    const char *colon = memchr(s, ':', (size_t)(at - s));
    const char *ue = colon ? colon : at;
    if (ue == s)
      return fail(c, s, "empty user"); /* §19.1.1: user MUST NOT be empty */
    if ((bad = scan(s, (size_t)(ue - s), C_UNRES | C_USER, 1)) < (size_t)(ue - s))
      return fail(c, s + bad, s[bad] == '%' ? "invalid escape in user"
                                            : "invalid character in user");
    u->user = sipr_str_make(s, (size_t)(ue - s));
    if (colon) {
      const char *ps = colon + 1;
      if ((bad = scan(ps, (size_t)(at - ps), C_UNRES | C_PASS, 1)) < (size_t)(at - ps))
        return fail(c, ps + bad, ps[bad] == '%' ? "invalid escape in password"
                                                : "invalid character in password");
      u->password = sipr_str_make(ps, (size_t)(at - ps));
    }
    q = at + 1;
  }
  /* hostport = host [ ":" port ] */
  const char *hs = q;
  int host_fast = 0;
  if (q < end && *q == '[') {
    /* RFC 5118 §4.3/4.4: a port is only ever after the ']'. */
    const char *rb = memchr(q, ']', (size_t)(end - q));
    if (!rb)
      return fail(c, q, "unterminated IPv6 reference");
    q = rb + 1;
    if (q < end && *q != ':' && *q != ';' && *q != '?')
      return fail(c, q, "invalid character after IPv6 reference");
  } else {
    /* Fast path for the common case, a plain hostname: one pass that
     * checks the §25.1 label rules as it finds the end of the host. Any
     * doubt (an IP, a trailing dot, a bad label, an odd byte) leaves
     * fast_ok at 0 and host_check() below decides, with its reasons. */
    const char *lab = q;
    int alpha = 0, fast_ok = 1;
    for (; q < end; q++) {
      unsigned char ch = (unsigned char)*q;
      if (cls[ch] & C_ALNUM) {
        alpha |= ch > '9';
      } else if (ch == '-') {
        fast_ok &= q != lab;
      } else if (ch == '.') {
        fast_ok &= q != lab && q[-1] != '-';
        lab = q + 1;
      } else {
        break;
      }
    }
    fast_ok &= alpha && q > hs && lab < q && q[-1] != '-' &&
               is_alpha((unsigned char)*lab) &&
               (q == end || *q == ':' || *q == ';' || *q == '?');
    if (!fast_ok) {
      q = hs;
      while (q < end && *q != ':' && *q != ';' && *q != '?')
        q++;
    }
    host_fast = fast_ok;
    if (q < end && *q == ':') {
      /* RFC 5118 §4.2: "sip:2001:db8::10" is not a host and a port. Said
       * only when what precedes the ':' could be an IPv6 group. */
      const char *r = hs;
      while (r < q && hexval((unsigned char)*r) >= 0)
        r++;
      if (r == q) {
        r = q + 1;
        while (r < end && *r != ';' && *r != '?' && *r != ':')
          r++;
        if (r < end && *r == ':')
          return fail(c, hs, "IPv6 address without brackets");
      }
    }
  }
  if (host_fast) {
    u->host_type = SIPR_HOST_NAME;
  } else {
    const char *why = host_check(hs, (size_t)(q - hs), &u->host_type, NULL, &bad);
    if (why)
      return fail(c, hs + bad, why);
  }
  u->host = sipr_str_make(hs, (size_t)(q - hs));
  if (q < end && *q == ':') {
    const char *ps = ++q;
    uint64_t v;
    while (q < end && is_digit((unsigned char)*q))
      q++;
    if (q < end && *q != ';' && *q != '?')
      return fail(c, q, "invalid character in port");
    if (q == ps)
      return fail(c, ps, "missing port");
    if (sipr_str_to_u64(sipr_str_make(ps, (size_t)(q - ps)), 65535, &v))
      return fail(c, ps, "port out of range");
    u->port = (int)v;
  }
  int rc = sip_params_headers(c, &q, end);
  if (rc)
    return rc;
  if (q != end)
    return fail(c, q, "invalid character in URI");
  return 0;
}

/* telephone-subscriber number part (RFC 3966 §3). global: "+" *phonedigit
 * DIGIT *phonedigit; local: *phonedigit-hex (HEXDIG / "*" / "#")
 * *phonedigit-hex. Returns the offset of a fault, or n. */
static size_t tel_number_check(const char *s, size_t n, int *global) {
  size_t i = 0, sig = 0;
  *global = n && s[0] == '+';
  if (*global)
    i = 1;
  for (; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (is_visual(c))
      continue;
    if (*global ? !is_digit(c) : (hexval(c) < 0 && c != '*' && c != '#'))
      return i;
    sig++;
  }
  return sig ? n : 0;
}

/* descriptor = domainname / global-number-digits (RFC 3966 §3). */
static int tel_context_ok(sipr_str_t v) {
  size_t bad;
  int global;
  if (v.len && v.p[0] == '+')
    return tel_number_check(v.p, v.len, &global) == v.len;
  return hostname_check(v.p, v.len, &bad) == NULL;
}

/* telephone-uri = "tel:" telephone-subscriber (RFC 3966 §3). The number
 * goes to u->user, every par to u->params; a local number needs its
 * phone-context. Parameter order is not enforced (be liberal). */
static int parse_tel(pctx_t *c, const char *s, const char *end) {
  sipr_uri_t *u = c->u;
  const char *q = s;
  int global, has_ctx = 0, rc;
  size_t bad;
  while (q < end && *q != ';')
    q++;
  if (q == s)
    return fail(c, s, "missing telephone number");
  if ((bad = tel_number_check(s, (size_t)(q - s), &global)) != (size_t)(q - s))
    return fail(c, s + bad, "invalid telephone number");
  u->user = sipr_str_make(s, (size_t)(q - s));
  while (q < end) { /* *q == ';' */
    const char *ns = ++q, *vs;
    sipr_param_t *p;
    while (q < end && *q != '=' && *q != ';')
      q++;
    /* pname = 1*( alphanum / "-" ) */
    if (q == ns)
      return fail(c, ns, "empty parameter name");
    for (const char *r = ns; r < q; r++)
      if (!(cls[(unsigned char)*r] & C_ALNUM) && *r != '-')
        return fail(c, r, "invalid character in parameter");
    sipr_str_t name = sipr_str_make(ns, (size_t)(q - ns)), value = SIPR_STR_NULL;
    if (q < end && *q == '=') {
      vs = ++q;
      while (q < end && *q != ';')
        q++;
      if (q == vs)
        return fail(c, vs, "empty parameter value");
      value = sipr_str_make(vs, (size_t)(q - vs));
      /* isdn-subaddress = ";isub=" 1*uric; the others: 1*paramchar */
      unsigned mask = name_is(name, "isub") ? C_UNRES | C_RES : C_UNRES | C_PARAM;
      if ((bad = scan(vs, value.len, mask, 1)) < value.len)
        return fail(c, vs + bad, "invalid character in parameter");
    }
    if ((rc = add_param(c, &c->ptail, &c->nparams, ns, name, value, &p)))
      return rc;
    if (is_dup(u->params, p))
      return fail(c, ns, "duplicate parameter");
    if (name_is(name, "phone-context")) {
      if (!value.p || !tel_context_ok(value))
        return fail(c, value.p ? value.p : ns, "invalid phone-context");
      has_ctx = 1;
    } else if (name_is(name, "ext")) {
      /* extension = ";ext=" 1*phonedigit */
      if (!value.p)
        return fail(c, ns, "invalid extension");
      for (size_t i = 0; i < value.len; i++)
        if (!is_digit((unsigned char)value.p[i]) && !is_visual((unsigned char)value.p[i]))
          return fail(c, value.p + i, "invalid extension");
    } else if (name_is(name, "isub") && !value.p) {
      return fail(c, ns, "invalid isdn-subaddress");
    }
  }
  if (!global && !has_ctx)
    return fail(c, s, "local number without phone-context");
  return 0;
}

/* absoluteURI (§25.1) of a scheme we do not know: kept as opaque text,
 * checked for the characters a URI can hold (uric, plus [ ] of RFC 2732),
 * so that no whitespace, control, '<', '>' or '"' slips through. */
static int parse_other(pctx_t *c, const char *s, const char *end) {
  size_t n = (size_t)(end - s), bad;
  if (n == 0)
    return fail(c, s, "empty URI after scheme");
  if ((bad = scan(s, n, C_UNRES | C_RES | C_BRACK, 1)) < n)
    return fail(c, s + bad, s[bad] == '%' ? "invalid escape" : "invalid character in URI");
  c->u->opaque = sipr_str_make(s, n);
  return 0;
}

/* Contract: see uri.h. out is written only on success. Caps are checked
 * before anything else: SIPR_ETOOBIG (status 414) beyond
 * SIPR_URI_MAX_LEN bytes, SIPR_ETOOBIG (400) beyond SIPR_URI_MAX_PARAMS
 * parameters or headers. */
int sipr_uri_parse(sipr_arena_t *a, const char *p, size_t len, sipr_uri_t *out,
                   sipr_perr_t *err) {
  pctx_t c;
  size_t i;
  int rc;
  if (!a || !out || (!p && len))
    return sipr_perr_set(err, SIPR_EINVAL, 500, "uri", 0, "invalid argument");
  if (len > SIPR_URI_MAX_LEN)
    return sipr_perr_set(err, SIPR_ETOOBIG, 414, "uri", SIPR_URI_MAX_LEN, "URI too long");
  /* Parsed in place: on failure *out holds a partial result, to discard. */
  memset(out, 0, sizeof(*out));
  out->port = -1;
  out->raw = sipr_str_make(p, len);
  c.a = a;
  c.base = p;
  c.err = err;
  c.u = out;
  c.ptail = &out->params;
  c.htail = &out->headers;
  c.nparams = c.nheaders = 0;
  /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
  if (len == 0 || !is_alpha((unsigned char)p[0]))
    return fail(&c, p, len ? "invalid scheme" : "missing scheme");
  for (i = 1; i < len && p[i] != ':'; i++) {
    unsigned char ch = (unsigned char)p[i];
    if (!(cls[ch] & C_ALNUM) && ch != '+' && ch != '-' && ch != '.')
      return fail(&c, p + i, "invalid scheme");
  }
  if (i == len)
    return fail(&c, p + i, "missing scheme");
  out->scheme_str = sipr_str_make(p, i);
  const char *rest = p + i + 1, *end = p + len;
  if (SIPR_STR_CASEEQ_LIT(out->scheme_str, "sip") || SIPR_STR_CASEEQ_LIT(out->scheme_str, "sips")) {
    out->scheme = i == 3 ? SIPR_URI_SIP : SIPR_URI_SIPS;
    rc = parse_sip(&c, rest, end);
  } else if (SIPR_STR_CASEEQ_LIT(out->scheme_str, "tel")) {
    out->scheme = SIPR_URI_TEL;
    rc = parse_tel(&c, rest, end);
  } else {
    out->scheme = SIPR_URI_OTHER;
    rc = parse_other(&c, rest, end);
  }
  return rc;
}

/* ---- comparison (§19.1.4, RFC 3966 §4) -----------------------------------*/

/* Both absent, or both present and equal (esc_eq with fold). */
static int opt_eq(sipr_str_t a, sipr_str_t b, int fold) {
  if (!a.p || !b.p)
    return !a.p && !b.p;
  return esc_eq(a, b, fold);
}

static const sipr_param_t *find_esc(const sipr_param_t *l, sipr_str_t name) {
  for (; l; l = l->next)
    if (esc_eq(l->name, name, 1))
      return l;
  return NULL;
}

/* §19.1.4: "A user, ttl, or method uri-parameter appearing in only one URI
 * never matches"; nor does maddr; and by the "component with a default
 * value" rule (and its example), neither does transport. */
static int sip_param_required(sipr_str_t name) {
  return name_is(name, "user") || name_is(name, "ttl") || name_is(name, "method") ||
         name_is(name, "maddr") || name_is(name, "transport");
}

/* uri-parameters: any parameter in both must match (case-insensitive after
 * unescaping); the required ones above must be in both; others appearing
 * in only one URI are ignored. */
static int sip_params_eq(const sipr_param_t *a, const sipr_param_t *b) {
  const sipr_param_t *p, *q;
  for (p = a; p; p = p->next) {
    if ((q = find_esc(b, p->name))) {
      if (!opt_eq(p->value, q->value, 1))
        return 0;
    } else if (sip_param_required(p->name)) {
      return 0;
    }
  }
  for (q = b; q; q = q->next)
    if (!find_esc(a, q->name) && sip_param_required(q->name))
      return 0;
  return 1;
}

/* "URI header components are never ignored": the two lists must match as
 * multisets (order irrelevant, a repeated header must repeat in both). Names
 * compare case-insensitively; values byte-wise after unescaping, since the
 * per-header rules of §20 are mostly case-sensitive for what URIs carry
 * (e.g. the userinfo inside "?to=sip:bob%40biloxi.com"). */
static int sip_headers_eq(const sipr_param_t *a, const sipr_param_t *b) {
  const sipr_param_t *p, *q;
  uint64_t used = 0; /* lists hold at most SIPR_URI_MAX_PARAMS <= 64 */
  int na = 0, nb = 0, k;
  for (p = a; p; p = p->next)
    na++;
  for (q = b; q; q = q->next)
    nb++;
  if (na != nb || na > 64)
    return 0; /* more than 64 only in a hand-built URI */
  for (p = a; p; p = p->next) {
    for (q = b, k = 0; q; q = q->next, k++)
      if (!(used >> k & 1) && esc_eq(p->name, q->name, 1) && esc_eq(p->value, q->value, 0))
        break;
    if (!q)
      return 0;
    used |= (uint64_t)1 << k;
  }
  return 1;
}

/* Hosts: names case-insensitive; IP addresses by value (so [::1] equals
 * [0:0:0:0:0:0:0:1]); an IP address never equals a name (§19.1.4). */
static int host_eq(const sipr_uri_t *a, const sipr_uri_t *b) {
  unsigned char x[16], y[16];
  sipr_host_type_t t;
  size_t bad;
  if (a->host_type != b->host_type)
    return 0;
  if (a->host_type == SIPR_HOST_IPV4 || a->host_type == SIPR_HOST_IPV6) {
    if (!host_check(a->host.p, a->host.len, &t, x, &bad) &&
        !host_check(b->host.p, b->host.len, &t, y, &bad))
      return memcmp(x, y, a->host_type == SIPR_HOST_IPV4 ? 4 : 16) == 0;
  }
  return sipr_str_caseeq(a->host, b->host);
}

/* Telephone digits equal after removing visual separators, ignoring case
 * (RFC 3966 §4). */
static int tel_digits_eq(sipr_str_t a, sipr_str_t b) {
  size_t i = 0, j = 0;
  for (;;) {
    while (i < a.len && is_visual((unsigned char)a.p[i]))
      i++;
    while (j < b.len && is_visual((unsigned char)b.p[j]))
      j++;
    if (i == a.len || j == b.len)
      return i == a.len && j == b.len;
    if (sipr_lower((unsigned char)a.p[i++]) != sipr_lower((unsigned char)b.p[j++]))
      return 0;
  }
}

static int starts_plus(sipr_str_t v) { return v.len && v.p[0] == '+'; }

/* RFC 3966 §4: both global or both local; numbers equal without visual
 * separators; the same set of parameter names with equal values
 * (phone-context as a host name or as digits, ext as digits, the rest
 * case-insensitively after unescaping). */
static int tel_eq(const sipr_uri_t *a, const sipr_uri_t *b) {
  const sipr_param_t *p, *q;
  int na = 0, nb = 0;
  if (starts_plus(a->user) != starts_plus(b->user) || !tel_digits_eq(a->user, b->user))
    return 0;
  for (p = a->params; p; p = p->next)
    na++;
  for (q = b->params; q; q = q->next)
    nb++;
  if (na != nb)
    return 0;
  for (p = a->params; p; p = p->next) {
    if (!(q = find_esc(b->params, p->name)))
      return 0;
    if (!p->value.p || !q->value.p) {
      if (p->value.p || q->value.p)
        return 0;
    } else if (name_is(p->name, "ext") ||
               (name_is(p->name, "phone-context") &&
                (starts_plus(p->value) || starts_plus(q->value)))) {
      if (starts_plus(p->value) != starts_plus(q->value) ||
          !tel_digits_eq(p->value, q->value))
        return 0;
    } else if (!esc_eq(p->value, q->value, 1)) {
      return 0;
    }
  }
  return 1;
}

int sipr_uri_equal(const sipr_uri_t *a, const sipr_uri_t *b) {
  if (!a || !b || a->scheme != b->scheme)
    return 0; /* §19.1.4: a SIP and a SIPS URI are never equivalent */
  switch (a->scheme) {
  case SIPR_URI_SIP:
  case SIPR_URI_SIPS:
    /* userinfo case-sensitive; absent != present (§19.1.4) */
    return opt_eq(a->user, b->user, 0) && opt_eq(a->password, b->password, 0) &&
           host_eq(a, b) && a->port == b->port && sip_params_eq(a->params, b->params) &&
           sip_headers_eq(a->headers, b->headers);
  case SIPR_URI_TEL:
    return tel_eq(a, b);
  case SIPR_URI_OTHER:
    return sipr_str_caseeq(a->scheme_str, b->scheme_str) && sipr_str_eq(a->opaque, b->opaque);
  default:
    return 0;
  }
}

/* ---- printing -------------------------------------------------------------*/

static void print_params(sipr_buf_t *b, const sipr_param_t *p, char first, char sep) {
  for (char c = first; p; p = p->next, c = sep) {
    sipr_buf_append(b, &c, 1);
    sipr_buf_append_str(b, p->name);
    if (p->value.p) {
      sipr_buf_append(b, "=", 1);
      sipr_buf_append_str(b, p->value);
    }
  }
}

/* Prints from the components (not from raw), so a caller that edited the
 * parameter or header lists gets what it built. The port is printed as a
 * number (leading zeros are dropped). */
int sipr_uri_print(sipr_buf_t *b, const sipr_uri_t *u) {
  static const char *const names[] = {"", "sip", "sips", "tel", ""};
  if (!b || !u || u->scheme == SIPR_URI_NONE || (unsigned)u->scheme > SIPR_URI_OTHER)
    return SIPR_EINVAL;
  sipr_str_t sch = u->scheme_str.p ? u->scheme_str : sipr_str_cstr(names[u->scheme]);
  if (sch.len == 0)
    return SIPR_EINVAL;
  for (size_t i = 0; i < sch.len; i++) {
    char ch = (char)sipr_lower((unsigned char)sch.p[i]);
    sipr_buf_append(b, &ch, 1);
  }
  sipr_buf_append(b, ":", 1);
  if (u->scheme == SIPR_URI_OTHER) {
    sipr_buf_append_str(b, u->opaque);
  } else if (u->scheme == SIPR_URI_TEL) {
    sipr_buf_append_str(b, u->user);
    print_params(b, u->params, ';', ';');
  } else {
    if (u->user.p) {
      sipr_buf_append_str(b, u->user);
      if (u->password.p) {
        sipr_buf_append(b, ":", 1);
        sipr_buf_append_str(b, u->password);
      }
      sipr_buf_append(b, "@", 1);
    }
    sipr_buf_append_str(b, u->host);
    if (u->port >= 0)
      sipr_buf_printf(b, ":%d", u->port);
    print_params(b, u->params, ';', ';');
    print_params(b, u->headers, '?', '&');
  }
  return b->failed ? SIPR_ENOMEM : 0;
}
