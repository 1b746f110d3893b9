/*
 * SIP messages (RFC 3261 §7, §20, §25): parse, typed header access,
 * validation. A parsed message borrows its input buffer and allocates
 * everything else from one arena; sipr_arena_reset() frees it all.
 *
 * Header values are split and named in one pass at parse time; the typed
 * form of a header is built the first time it is asked for
 * (sipr_hdr_parse() or the sipr_msg_*() accessors) and kept in the header.
 */
#define SIPR_HEADER_LAYER 1
#include "sipr/layer.h"

#ifndef SIPR_MSG_H
#define SIPR_MSG_H

#include "sipr/base.h"
#include "sipr/perr.h"
#include "sipr/uri.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- methods ---------------------------------------------------------- */
typedef enum sipr_method {
  SIPR_METHOD_UNKNOWN = 0,
  SIPR_METHOD_INVITE,
  SIPR_METHOD_ACK,
  SIPR_METHOD_BYE,
  SIPR_METHOD_CANCEL,
  SIPR_METHOD_OPTIONS,
  SIPR_METHOD_REGISTER,
  SIPR_METHOD_PRACK,     /* RFC 3262 */
  SIPR_METHOD_SUBSCRIBE, /* RFC 6665 */
  SIPR_METHOD_NOTIFY,
  SIPR_METHOD_PUBLISH,   /* RFC 3903 */
  SIPR_METHOD_INFO,      /* RFC 6086 */
  SIPR_METHOD_REFER,     /* RFC 3515 */
  SIPR_METHOD_MESSAGE,   /* RFC 3428 */
  SIPR_METHOD_UPDATE,    /* RFC 3311 */
  SIPR_METHOD__COUNT
} sipr_method_t;

/* Method names are case-sensitive (§7.1). */
sipr_method_t sipr_method_from_str(sipr_str_t s);
const char *sipr_method_name(sipr_method_t m); /* NULL for UNKNOWN */

/* ---- header table ----------------------------------------------------- */
typedef enum sipr_hdr_type {
  SIPR_HDR_OTHER = 0, /* unknown: kept raw */
  /* typed (parsed on demand) */
  SIPR_HDR_VIA,
  SIPR_HDR_FROM,
  SIPR_HDR_TO,
  SIPR_HDR_CALL_ID,
  SIPR_HDR_CSEQ,
  SIPR_HDR_MAX_FORWARDS,
  SIPR_HDR_CONTACT,
  SIPR_HDR_ROUTE,
  SIPR_HDR_RECORD_ROUTE,
  SIPR_HDR_PATH,
  SIPR_HDR_CONTENT_LENGTH,
  SIPR_HDR_CONTENT_TYPE,
  SIPR_HDR_EXPIRES,
  SIPR_HDR_MIN_EXPIRES,
  SIPR_HDR_REQUIRE,
  SIPR_HDR_PROXY_REQUIRE,
  SIPR_HDR_SUPPORTED,
  SIPR_HDR_UNSUPPORTED,
  SIPR_HDR_ALLOW,
  SIPR_HDR_WWW_AUTHENTICATE,
  SIPR_HDR_PROXY_AUTHENTICATE,
  SIPR_HDR_AUTHORIZATION,
  SIPR_HDR_PROXY_AUTHORIZATION,
  /* known by name, kept raw */
  SIPR_HDR_ACCEPT,
  SIPR_HDR_ACCEPT_ENCODING,
  SIPR_HDR_ACCEPT_LANGUAGE,
  SIPR_HDR_ALERT_INFO,
  SIPR_HDR_ALLOW_EVENTS,
  SIPR_HDR_AUTHENTICATION_INFO,
  SIPR_HDR_CALL_INFO,
  SIPR_HDR_CONTENT_DISPOSITION,
  SIPR_HDR_CONTENT_ENCODING,
  SIPR_HDR_CONTENT_LANGUAGE,
  SIPR_HDR_DATE,
  SIPR_HDR_ERROR_INFO,
  SIPR_HDR_EVENT,
  SIPR_HDR_IN_REPLY_TO,
  SIPR_HDR_MIME_VERSION,
  SIPR_HDR_ORGANIZATION,
  SIPR_HDR_PRIORITY,
  SIPR_HDR_REFER_TO,
  SIPR_HDR_REFERRED_BY,
  SIPR_HDR_REPLY_TO,
  SIPR_HDR_RETRY_AFTER,
  SIPR_HDR_SERVER,
  SIPR_HDR_SESSION_EXPIRES,
  SIPR_HDR_SUBJECT,
  SIPR_HDR_SUBSCRIPTION_STATE,
  SIPR_HDR_TIMESTAMP,
  SIPR_HDR_USER_AGENT,
  SIPR_HDR_WARNING,
  SIPR_HDR_RSEQ,
  SIPR_HDR_RACK,
  SIPR_HDR_REASON,
  SIPR_HDR_MIN_SE,
  SIPR_HDR_ACCEPT_CONTACT,
  SIPR_HDR_REJECT_CONTACT,
  SIPR_HDR_REQUEST_DISPOSITION,
  SIPR_HDR_IDENTITY,
  SIPR_HDR__COUNT
} sipr_hdr_type_t;

/* What the typed form of a header is (sipr_hdr_t.parsed points to it). */
typedef enum sipr_hdr_kind {
  SIPR_KIND_RAW = 0,  /* no typed form */
  SIPR_KIND_VIA,      /* sipr_via_t list */
  SIPR_KIND_ADDR,     /* sipr_addr_t (one value: From, To) */
  SIPR_KIND_ADDR_LIST,/* sipr_addr_t list (Contact, Route, Record-Route, Path) */
  SIPR_KIND_CALLID,   /* sipr_str_t (the word) */
  SIPR_KIND_CSEQ,     /* sipr_cseq_t */
  SIPR_KIND_UINT,     /* sipr_uint_t */
  SIPR_KIND_TOKENS,   /* sipr_token_t list */
  SIPR_KIND_CTYPE,    /* sipr_ctype_t */
  SIPR_KIND_AUTH      /* sipr_auth_t (one challenge or credentials) */
} sipr_hdr_kind_t;

typedef struct sipr_hdr_info {
  sipr_hdr_type_t type;
  const char *name;   /* canonical long name */
  char compact;       /* compact form, 0 if none */
  sipr_hdr_kind_t kind;
  unsigned single:1;  /* at most one value per message (§20, RFC 4475 multi01) */
} sipr_hdr_info_t;

/* The table entry of a header type (never NULL). */
const sipr_hdr_info_t *sipr_hdr_info(sipr_hdr_type_t t);
/* Looks a header name up (case-insensitive; compact forms too). */
sipr_hdr_type_t sipr_hdr_lookup(const char *name, size_t len);

/* ---- typed values ----------------------------------------------------- */
typedef struct sipr_via {
  sipr_str_t protocol;   /* "SIP" */
  sipr_str_t version;    /* "2.0" */
  sipr_str_t transport;  /* "UDP", "TCP", ... as written */
  sipr_str_t host;       /* IPv6 with brackets */
  sipr_host_type_t host_type;
  int port;              /* -1 when absent */
  sipr_param_t *params;  /* every via-param in order */
  sipr_str_t branch, received, maddr, ttl; /* NULL slices when absent */
  int rport;             /* -1 absent, 0 present without value, else value */
  sipr_str_t raw;        /* this via-parm's text */
  struct sipr_via *next; /* next value in the same header field */
} sipr_via_t;

/* name-addr / addr-spec with header parameters: From, To, Contact,
 * Route, Record-Route, Path. */
typedef struct sipr_addr {
  int star;              /* Contact: * */
  int angle;             /* the URI was written inside < > */
  sipr_str_t display;    /* as written, with quotes if quoted; NULL if none */
  sipr_uri_t uri;
  sipr_param_t *params;  /* header parameters (not URI parameters) */
  sipr_str_t tag;        /* From/To ;tag= */
  int q;                 /* Contact q in thousandths, -1 absent */
  int64_t expires;       /* Contact ;expires=, -1 absent */
  sipr_str_t raw;        /* this value's text */
  struct sipr_addr *next;
} sipr_addr_t;

typedef struct sipr_cseq {
  uint32_t seq;
  sipr_str_t method;
  sipr_method_t method_id;
} sipr_cseq_t;

typedef struct sipr_uint {
  uint32_t value;
} sipr_uint_t;

typedef struct sipr_token {
  sipr_str_t value;
  struct sipr_token *next;
} sipr_token_t;

typedef struct sipr_ctype {
  sipr_str_t type, subtype; /* "application", "sdp" */
  sipr_param_t *params;
} sipr_ctype_t;

/* Digest challenge or credentials (RFC 3261 §25 / RFC 7616). Quoted values
 * are given without their quotes (quoted-pairs left as written). */
typedef struct sipr_auth {
  sipr_str_t scheme;      /* "Digest" */
  sipr_param_t *params;   /* every auth-param in order, values unquoted */
  sipr_str_t realm, nonce, opaque, algorithm, qop, stale, domain;
  sipr_str_t username, uri, response, cnonce, nc;
} sipr_auth_t;

/* ---- headers and messages --------------------------------------------- */
typedef struct sipr_hdr {
  sipr_hdr_type_t type;
  sipr_str_t name;        /* as written */
  sipr_str_t value;       /* after ':' and LWS up to the last line's CRLF;
                             folding inside is kept as written */
  sipr_str_t raw;         /* the whole field, name to its final CRLF */
  void *parsed;           /* typed value (kind from sipr_hdr_info) */
  int parse_rc;           /* 0 not tried, 1 parsed, <0 SIPR_E* */
  const sipr_perr_t *error; /* why the typed parse failed (when it did) */
  struct sipr_hdr *next;      /* next header in the message */
  struct sipr_hdr *next_same; /* next header of the same type */
  struct sipr_hdr *last_same; /* on the first of a type: the last one */
} sipr_hdr_t;

typedef struct sipr_msg {
  sipr_arena_t *arena;
  const char *buf;        /* borrowed input */
  size_t len;             /* bytes of this message (start line to body end) */
  size_t trailing;        /* datagram octets after the body, ignored */
  int is_request;
  sipr_str_t start_line;  /* without CRLF */
  /* request */
  sipr_str_t method;
  sipr_method_t method_id;
  sipr_str_t ruri_str;
  sipr_uri_t *ruri;       /* parsed on demand: sipr_msg_ruri() */
  /* both */
  sipr_str_t version;     /* "SIP/2.0" */
  /* response */
  unsigned status;
  sipr_str_t reason;
  /* headers */
  sipr_hdr_t *hdrs;       /* in order */
  sipr_hdr_t *last;
  unsigned nhdrs;
  sipr_hdr_t *first[SIPR_HDR__COUNT]; /* first of each type */
  sipr_str_t body;
  size_t body_offset;     /* offset of the body (after the empty line) */
  long content_length;    /* -1 when absent */
} sipr_msg_t;

/* Parse flags. */
#define SIPR_PARSE_DATAGRAM 0x1 /* body may run to the datagram end when
                                   Content-Length is absent (§18.3) */
#define SIPR_PARSE_STREAM 0x2   /* Content-Length is mandatory (§18.3) */

/* Caps on what input controls. */
#define SIPR_MAX_HEADERS 256
#define SIPR_MAX_MSG_UDP 65535

/* Parses one message from buf[0..len): start line, header fields (names
 * looked up, values delimited, folding joined logically), Content-Length
 * and body. The message borrows buf; the message struct, its headers and
 * everything typed later come from arena a. Returns 0 and *out, or a
 * negative SIPR_E* with err filled (err->status tells 400/505/... or 0 to
 * drop). Typed header values are not checked here: see sipr_msg_check(). */
int sipr_msg_parse(sipr_arena_t *a, const char *buf, size_t len,
                   unsigned flags, sipr_msg_t **out, sipr_perr_t *err);

/* Moves m onto nbuf: a copy of m's bytes (and of what trailed them) in
 * which only the value of header field h was edited, growing it by delta
 * bytes (negative: shrinking). Every slice is moved to the copy (those
 * after the value shifted by delta), typed values already built are
 * dropped, to be built again from the copy on demand. The transport uses
 * it after writing received/rport into the top Via (§18.2.1) instead of
 * parsing the copy again. */
void sipr_msg_rebase(sipr_msg_t *m, sipr_hdr_t *h, const char *nbuf,
                     ptrdiff_t delta);

/* Builds the typed form of h (no-op when already built or raw). Returns 0,
 * or SIPR_EPARSE with err filled (where = the header's name). The result
 * is remembered: a second call returns the same verdict. */
int sipr_hdr_parse(sipr_msg_t *m, sipr_hdr_t *h, sipr_perr_t *err);

/* Parses every typed header and checks what any conforming element checks
 * before going on (§8.2, §16.3 step 1, RFC 4475): version (505), the
 * mandatory headers and their single values (400), CSeq method against the
 * request method (400; 501 for an unknown method), Request-URI syntax (400)
 * and scheme (416), Content-Length against the body. Responses that fail
 * are to be dropped (err->status 0). Returns 0 or SIPR_EPARSE. */
int sipr_msg_check(sipr_msg_t *m, sipr_perr_t *err);

/* Typed accessors: parse on demand; NULL when absent or malformed. */
sipr_uri_t *sipr_msg_ruri(sipr_msg_t *m);
sipr_via_t *sipr_msg_via(sipr_msg_t *m);   /* top Via value */
sipr_addr_t *sipr_msg_from(sipr_msg_t *m);
sipr_addr_t *sipr_msg_to(sipr_msg_t *m);
sipr_cseq_t *sipr_msg_cseq(sipr_msg_t *m);
sipr_str_t sipr_msg_call_id(sipr_msg_t *m); /* NULL slice when absent */
/* Max-Forwards value, or -1 when absent or malformed. */
long sipr_msg_max_forwards(sipr_msg_t *m);
/* Typed value of the first header of type t, NULL when absent/malformed. */
void *sipr_msg_get(sipr_msg_t *m, sipr_hdr_type_t t);

/* Lower-level parsers, usable on any text (e.g. a configured Route). They
 * allocate from a and borrow p. */
int sipr_parse_via(sipr_arena_t *a, const char *p, size_t len,
                   sipr_via_t **out, sipr_perr_t *err);
int sipr_parse_addr(sipr_arena_t *a, const char *p, size_t len, int list,
                    sipr_addr_t **out, sipr_perr_t *err);
int sipr_parse_auth(sipr_arena_t *a, const char *p, size_t len,
                    sipr_auth_t **out, sipr_perr_t *err);

#ifdef __cplusplus
}
#endif
#endif
