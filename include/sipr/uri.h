/*
 * URIs: SIP and SIPS (RFC 3261 §19.1, RFC 5118 for IPv6), tel (RFC 3966),
 * and any other scheme kept as scheme + opaque text (absoluteURI).
 *
 * A parsed URI holds slices into the text it was parsed from; escapes are
 * not decoded in place. Decoding is done only where a comparison needs it,
 * and never recursively ("%2541" stays "%41" after one decode).
 */
#define SIPR_HEADER_LAYER 1
#include "sipr/layer.h"

#ifndef SIPR_URI_H
#define SIPR_URI_H

#include "sipr/base.h"
#include "sipr/perr.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Caps on what input controls (docs/ARCHITECTURE.md, Memory): a longer URI
 * is refused with SIPR_ETOOBIG, as is one with more uri-parameters (or more
 * ?headers) than SIPR_URI_MAX_PARAMS. */
#define SIPR_URI_MAX_LEN 8192
#define SIPR_URI_MAX_PARAMS 64

typedef enum sipr_uri_scheme {
  SIPR_URI_NONE = 0,
  SIPR_URI_SIP,
  SIPR_URI_SIPS,
  SIPR_URI_TEL,
  SIPR_URI_OTHER
} sipr_uri_scheme_t;

typedef enum sipr_host_type {
  SIPR_HOST_NONE = 0,
  SIPR_HOST_NAME, /* hostname (domain) */
  SIPR_HOST_IPV4,
  SIPR_HOST_IPV6  /* IPv6reference; host slice includes the [ ] */
} sipr_host_type_t;

/* A generic ;name=value (or ?name=value) parameter. value.p == NULL when
 * the parameter has no '=' (e.g. ";lr"). Slices are as written. */
typedef struct sipr_param {
  sipr_str_t name;
  sipr_str_t value;
  struct sipr_param *next;
} sipr_param_t;

typedef struct sipr_uri {
  sipr_uri_scheme_t scheme;
  sipr_str_t scheme_str;  /* as written ("SIP", "sips", "tel", "urn") */
  /* SIP/SIPS: userinfo and hostport. tel: user is the telephone-subscriber
   * number ("+1-201-555-0123" or "7042"), host is empty. */
  sipr_str_t user;        /* NULL slice when absent; may be empty "" */
  sipr_str_t password;    /* NULL slice when absent */
  sipr_str_t host;        /* as written; IPv6 with brackets */
  sipr_host_type_t host_type;
  int port;               /* -1 when absent */
  sipr_param_t *params;   /* uri-parameters in order (tel: its parameters) */
  sipr_param_t *headers;  /* ?hname=hvalue&... in order */
  /* Well-known uri-parameters, also present in params. */
  sipr_str_t transport, user_param, method, maddr, ttl;
  int lr;                 /* ;lr present */
  sipr_str_t opaque;      /* SIPR_URI_OTHER: everything after "scheme:" */
  sipr_str_t raw;         /* the whole URI text */
} sipr_uri_t;

/* Parses the URI text [p, p+len) into out, allocating parameter nodes from
 * the arena. out borrows p. Returns 0, or SIPR_EPARSE / SIPR_ENOMEM with err
 * filled (where = "uri", offset relative to p). Surrounding whitespace or
 * <> are not accepted: the caller strips what its grammar allows.
 * Also SIPR_ETOOBIG past SIPR_URI_MAX_LEN (err->status 414) or
 * SIPR_URI_MAX_PARAMS (400). On failure *out holds a partial result that
 * the caller discards. */
int sipr_uri_parse(sipr_arena_t *a, const char *p, size_t len,
                   sipr_uri_t *out, sipr_perr_t *err);

/* Compares two URIs by the rules of RFC 3261 §19.1.4 (SIP/SIPS) and
 * RFC 3966 §4 (tel); other schemes compare byte-wise after scheme case
 * folding. Returns 1 when equivalent, 0 otherwise. */
int sipr_uri_equal(const sipr_uri_t *a, const sipr_uri_t *b);

/* Finds a parameter by case-insensitive name; NULL when absent. Escaped
 * names match their decoded form (";%6C%72" is found as "lr"). */
const sipr_param_t *sipr_param_find(const sipr_param_t *list, const char *name);

/* Appends the URI to b, in its canonical text (scheme lower-cased,
 * everything else as written). Returns 0 or SIPR_ENOMEM. */
int sipr_uri_print(sipr_buf_t *b, const sipr_uri_t *u);

/* Decodes %HH escapes of s once into dst (capacity at least s.len);
 * returns the decoded length, or -1 on a malformed escape. */
long sipr_unescape(sipr_str_t s, char *dst);

#ifdef __cplusplus
}
#endif
#endif
