/*
 * sipr parse [FILE|-]: reads one SIP message as a datagram, parses and
 * checks it the way a server would on receipt, and prints it as JSON.
 *
 * Exit 0 when the message is valid; 1 when it cannot be read, is larger
 * than a UDP datagram, or fails sipr_msg_parse() / sipr_msg_check() (the
 * JSON is still printed when the parse itself succeeded, and one line on
 * stderr says why: "sipr parse: 400 CSeq method mismatch (CSeq at byte
 * 123)", or "sipr parse: drop: ..." when a server would drop it silently);
 * 2 on a bad command line.
 *
 * Bytes in JSON strings: SIP text may hold any octet (NUL, 8-bit). Valid
 * UTF-8 sequences are kept as they are, NUL and control bytes are escaped
 * by JSON (\u0000), and every byte >= 0x80 that is not part of a valid
 * UTF-8 sequence is mapped to the code point of the same value (Latin-1:
 * byte 0xE9 becomes U+00E9), so no byte is lost and the output is always
 * valid JSON.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "sipr/msg.h"

#define CMD "parse"

/* Arena for one message: the first block on the stack covers ordinary
 * messages; the cap bounds what a hostile 64 KiB datagram can make the
 * typed parsers allocate. */
#define ARENA_STACK (16 * 1024)
#define ARENA_CAP ((size_t)64 << 20)

static void help(void) {
  printf("usage: sipr parse [FILE|-]\n"
         "\n"
         "Reads one SIP message (RFC 3261) from FILE, or standard input when\n"
         "FILE is '-' or absent, as one datagram of at most %d bytes; parses\n"
         "and checks it as a server would on receipt, and prints it as JSON\n"
         "on standard output.\n"
         "\n"
         "Exit status: 0 valid; 1 unreadable, too large, or invalid (the\n"
         "reason on standard error, as '<status> <reason> (<where> at byte\n"
         "<offset>)', or 'drop: <reason> ...' for a message a server drops\n"
         "without answering; the JSON is still printed when the message\n"
         "could be split into start line, headers and body); 2 usage.\n"
         "\n"
         "JSON strings keep valid UTF-8; any other byte >= 0x80 is shown as\n"
         "the character of the same value (Latin-1), NUL as \\u0000.\n",
         SIPR_MAX_MSG_UDP);
}

/* ---- JSON building ------------------------------------------------------
 * jansson reports allocation failure by returning NULL or -1; the helpers
 * below remember it in `oom` so that a partial document is never printed
 * as if it were whole. */
static int oom;

static json_t *checked(json_t *v) {
  if (!v)
    oom = 1;
  return v;
}

static void set(json_t *obj, const char *key, json_t *v) {
  if (!obj || !v || json_object_set_new(obj, key, v) != 0)
    oom = 1;
}

static void push(json_t *arr, json_t *v) {
  if (!arr || !v || json_array_append_new(arr, v) != 0)
    oom = 1;
}

/* Length of the well-formed UTF-8 sequence (RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF) at p, or 0 when p[0] does not
 * start one. */
static size_t utf8_seq(const unsigned char *p, size_t n) {
  unsigned c = p[0];
  size_t need;
  uint32_t cp;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (n < need)
    return 0;
  for (size_t i = 1; i < need; i++) {
    if ((p[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (p[i] & 0x3Fu);
  }
  if (need == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
    return 0;
  if (need == 4 && (cp < 0x10000 || cp > 0x10FFFF))
    return 0;
  return need;
}

/* Makes bytes valid UTF-8 (see the top of the file). Returns p itself
 * when it already is, else a malloc'ed copy in *tofree; NULL on ENOMEM. */
static const char *utf8_fix(const char *p, size_t len, size_t *outlen,
                            char **tofree) {
  const unsigned char *s = (const unsigned char *)p;
  size_t i = 0;
  *tofree = NULL;
  while (i < len) {
    size_t k = utf8_seq(s + i, len - i);
    if (!k)
      break;
    i += k;
  }
  if (i == len) {
    *outlen = len;
    return p;
  }
  /* Each invalid byte grows to two; valid ones are copied. */
  char *out = malloc(len * 2);
  if (!out)
    return NULL;
  memcpy(out, p, i);
  size_t o = i;
  while (i < len) {
    size_t k = utf8_seq(s + i, len - i);
    if (k) {
      memcpy(out + o, s + i, k);
      o += k;
      i += k;
    } else {
      out[o++] = (char)(0xC0 | (s[i] >> 6));
      out[o++] = (char)(0x80 | (s[i] & 0x3F));
      i++;
    }
  }
  *tofree = out;
  *outlen = o;
  return out;
}

/* A slice as a JSON string; null for a NULL slice (absent). */
static json_t *jstr(sipr_str_t s) {
  if (sipr_str_is_null(s))
    return checked(json_null());
  size_t n;
  char *tofree;
  const char *p = utf8_fix(s.p, s.len, &n, &tofree);
  json_t *v = p ? json_stringn(p, n) : NULL;
  free(tofree);
  return checked(v);
}

static json_t *jstrz(const char *z) {
  return z ? checked(json_string(z)) : checked(json_null());
}

static json_t *jint(long long v) { return checked(json_integer(v)); }

/* -1 (the headers' "absent") as null. */
static json_t *jint_opt(long long v) {
  return v < 0 ? checked(json_null()) : jint(v);
}

/* Sets obj[key] = value unless key is there already (the first of
 * duplicate parameters wins). */
static void set_str_key(json_t *obj, sipr_str_t key, json_t *v) {
  size_t n;
  char *tofree;
  const char *k = utf8_fix(key.p ? key.p : "", key.len, &n, &tofree);
  if (!k || !v) {
    oom = 1;
    json_decref(v);
  } else if (json_object_getn(obj, k, n)) {
    json_decref(v);
  } else if (json_object_setn_new(obj, k, n, v) != 0) {
    oom = 1;
  }
  free(tofree);
}

/* ---- typed values ------------------------------------------------------ */

/* [{"name":..,"value":..}, ...]; value null for a parameter without '='. */
static json_t *j_params(const sipr_param_t *p) {
  json_t *arr = checked(json_array());
  for (; p; p = p->next) {
    json_t *o = checked(json_object());
    set(o, "name", jstr(p->name));
    set(o, "value", jstr(p->value));
    push(arr, o);
  }
  return arr;
}

static const char *host_type_name(sipr_host_type_t t) {
  switch (t) {
  case SIPR_HOST_NAME:
    return "name";
  case SIPR_HOST_IPV4:
    return "ipv4";
  case SIPR_HOST_IPV6:
    return "ipv6";
  default:
    return NULL;
  }
}

static json_t *j_uri(const sipr_uri_t *u) {
  json_t *o = checked(json_object());
  set(o, "scheme", jstr(u->scheme_str));
  if (u->scheme == SIPR_URI_OTHER) {
    set(o, "opaque", jstr(u->opaque));
    return o;
  }
  set(o, "user", jstr(u->user));
  set(o, "password", jstr(u->password));
  set(o, "host", jstr(u->host));
  set(o, "host_type", jstrz(host_type_name(u->host_type)));
  set(o, "port", jint_opt(u->port));
  set(o, "params", j_params(u->params));
  set(o, "headers", j_params(u->headers));
  return o;
}

static json_t *j_via(const sipr_via_t *v) {
  json_t *arr = checked(json_array());
  for (; v; v = v->next) {
    json_t *o = checked(json_object());
    set(o, "protocol", jstr(v->protocol));
    set(o, "version", jstr(v->version));
    set(o, "transport", jstr(v->transport));
    set(o, "host", jstr(v->host));
    set(o, "host_type", jstrz(host_type_name(v->host_type)));
    set(o, "port", jint_opt(v->port));
    set(o, "branch", jstr(v->branch));
    set(o, "received", jstr(v->received));
    /* null: absent; 0: ";rport" without a value; else its value. */
    set(o, "rport", jint_opt(v->rport));
    set(o, "maddr", jstr(v->maddr));
    set(o, "ttl", jstr(v->ttl));
    set(o, "params", j_params(v->params));
    push(arr, o);
  }
  return arr;
}

static json_t *j_addr(const sipr_addr_t *a) {
  json_t *o = checked(json_object());
  set(o, "star", checked(json_boolean(a->star)));
  set(o, "display", jstr(a->display));
  set(o, "uri", a->star ? checked(json_null()) : j_uri(&a->uri));
  set(o, "params", j_params(a->params));
  set(o, "tag", jstr(a->tag));
  /* q is kept in thousandths; printed as the decimal it was. */
  set(o, "q", a->q < 0 ? checked(json_null())
                       : checked(json_real((double)a->q / 1000.0)));
  set(o, "expires", jint_opt(a->expires));
  return o;
}

static json_t *j_addr_list(const sipr_addr_t *a) {
  json_t *arr = checked(json_array());
  for (; a; a = a->next)
    push(arr, j_addr(a));
  return arr;
}

static json_t *j_auth(const sipr_auth_t *au) {
  json_t *o = checked(json_object());
  json_t *params = checked(json_object());
  set(o, "scheme", jstr(au->scheme));
  for (const sipr_param_t *p = au->params; p && params; p = p->next)
    set_str_key(params, p->name, jstr(p->value));
  set(o, "params", params);
  return o;
}

/* The typed form of a header that parsed, by kind. */
static json_t *j_typed(sipr_hdr_kind_t kind, const void *parsed) {
  switch (kind) {
  case SIPR_KIND_VIA:
    return j_via(parsed);
  case SIPR_KIND_ADDR:
    return parsed ? j_addr(parsed) : checked(json_null());
  case SIPR_KIND_ADDR_LIST:
    return j_addr_list(parsed);
  case SIPR_KIND_CALLID:
    return parsed ? jstr(*(const sipr_str_t *)parsed) : checked(json_null());
  case SIPR_KIND_CSEQ: {
    const sipr_cseq_t *c = parsed;
    if (!c)
      return checked(json_null());
    json_t *o = checked(json_object());
    set(o, "seq", jint(c->seq));
    set(o, "method", jstr(c->method));
    return o;
  }
  case SIPR_KIND_UINT: {
    const sipr_uint_t *u = parsed;
    if (!u)
      return checked(json_null());
    json_t *o = checked(json_object());
    set(o, "value", jint(u->value));
    return o;
  }
  case SIPR_KIND_TOKENS: {
    json_t *arr = checked(json_array());
    for (const sipr_token_t *t = parsed; t; t = t->next)
      push(arr, jstr(t->value));
    return arr;
  }
  case SIPR_KIND_CTYPE: {
    const sipr_ctype_t *c = parsed;
    if (!c)
      return checked(json_null());
    json_t *o = checked(json_object());
    set(o, "type", jstr(c->type));
    set(o, "subtype", jstr(c->subtype));
    set(o, "params", j_params(c->params));
    return o;
  }
  case SIPR_KIND_AUTH:
    return parsed ? j_auth(parsed) : checked(json_null());
  case SIPR_KIND_RAW:
  default:
    return NULL;
  }
}

static const char *perr_reason(const sipr_perr_t *e, int rc) {
  return e->reason ? e->reason : sipr_strerror(rc);
}

static json_t *j_header(sipr_msg_t *m, sipr_hdr_t *h) {
  json_t *o = checked(json_object());
  const sipr_hdr_info_t *info = sipr_hdr_info(h->type);
  set(o, "name", jstr(h->name));
  set(o, "canonical",
      h->type != SIPR_HDR_OTHER ? jstrz(info->name) : checked(json_null()));
  set(o, "value", jstr(h->value));
  if (info->kind != SIPR_KIND_RAW) {
    sipr_perr_t e = {0};
    int rc = sipr_hdr_parse(m, h, &e);
    if (rc == 0) {
      json_t *t = j_typed(info->kind, h->parsed);
      if (t)
        set(o, "parsed", t);
    } else {
      set(o, "error", jstrz(perr_reason(&e, rc)));
    }
  }
  return o;
}

static json_t *j_message(sipr_msg_t *m) {
  json_t *o = checked(json_object());
  if (m->is_request) {
    set(o, "type", jstrz("request"));
    set(o, "method", jstr(m->method));
    set(o, "request_uri", jstr(m->ruri_str));
    sipr_uri_t *u = sipr_msg_ruri(m);
    if (u) {
      set(o, "request_uri_parsed", j_uri(u));
    } else {
      /* The accessor only says "malformed"; parse again for why. */
      sipr_uri_t tmp;
      sipr_perr_t e = {0};
      int rc = sipr_uri_parse(m->arena, m->ruri_str.p, m->ruri_str.len, &tmp,
                              &e);
      set(o, "request_uri_parsed", checked(json_null()));
      if (rc != 0)
        set(o, "request_uri_error", jstrz(perr_reason(&e, rc)));
    }
    set(o, "version", jstr(m->version));
  } else {
    set(o, "type", jstrz("response"));
    set(o, "version", jstr(m->version));
    set(o, "status", jint(m->status));
    set(o, "reason", jstr(m->reason));
  }
  json_t *hdrs = checked(json_array());
  for (sipr_hdr_t *h = m->hdrs; h; h = h->next)
    push(hdrs, j_header(m, h));
  set(o, "headers", hdrs);
  set(o, "body_length", jint((long long)m->body.len));
  set(o, "trailing_bytes", jint((long long)m->trailing));
  return o;
}

/* ---- input --------------------------------------------------------------*/

/* Reads all of path ("-": stdin) into a malloc'ed buffer of exactly the
 * input's size, so that a parser reading past the end is caught by the
 * sanitizers. Returns 0, or SIPR_EXIT_FAIL with the reason printed. */
static int read_input(const char *path, char **out, size_t *outlen) {
  int is_stdin = strcmp(path, "-") == 0;
  const char *label = is_stdin ? "standard input" : path;
  FILE *f = is_stdin ? stdin : fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "sipr parse: %s: %s\n", label, strerror(errno));
    return SIPR_EXIT_FAIL;
  }
  /* One byte more than the cap tells "too large" from "exactly full". */
  size_t cap = (size_t)SIPR_MAX_MSG_UDP + 1, len = 0;
  char *buf = malloc(cap);
  int rc = 0;
  if (!buf) {
    fprintf(stderr, "sipr parse: out of memory\n");
    rc = SIPR_EXIT_FAIL;
  }
  while (!rc && len < cap) {
    size_t n = fread(buf + len, 1, cap - len, f);
    len += n;
    if (n == 0) {
      if (ferror(f)) {
        fprintf(stderr, "sipr parse: %s: %s\n", label, strerror(errno));
        rc = SIPR_EXIT_FAIL;
      }
      break;
    }
  }
  if (!rc && len > SIPR_MAX_MSG_UDP) {
    fprintf(stderr, "sipr parse: message too large (more than %d bytes)\n",
            SIPR_MAX_MSG_UDP);
    rc = SIPR_EXIT_FAIL;
  }
  if (!is_stdin)
    fclose(f);
  if (rc) {
    free(buf);
    return rc;
  }
  char *exact = malloc(len ? len : 1);
  if (!exact) {
    free(buf);
    fprintf(stderr, "sipr parse: out of memory\n");
    return SIPR_EXIT_FAIL;
  }
  memcpy(exact, buf, len);
  free(buf);
  *out = exact;
  *outlen = len;
  return 0;
}

static void report(const sipr_perr_t *e, int rc) {
  const char *where = e->where ? e->where : "message";
  if (e->status)
    fprintf(stderr, "sipr parse: %d %s (%s at byte %zu)\n", e->status,
            perr_reason(e, rc), where, e->offset);
  else
    fprintf(stderr, "sipr parse: drop: %s (%s at byte %zu)\n",
            perr_reason(e, rc), where, e->offset);
}

int sipr__cli_parse(int argc, char **argv) {
  const char *path = NULL;
  int opts_done = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!opts_done && strcmp(a, "--") == 0) {
      opts_done = 1;
    } else if (!opts_done && (strcmp(a, "--help") == 0 ||
                              strcmp(a, "-h") == 0)) {
      help();
      return SIPR_EXIT_OK;
    } else if (!opts_done && a[0] == '-' && a[1] != '\0') {
      return sipr__cli_usage_error(CMD, "unknown option '%s'", a);
    } else if (path) {
      return sipr__cli_usage_error(CMD, "one FILE at most ('%s' and '%s')",
                                   path, a);
    } else {
      path = a;
    }
  }
  if (!path)
    path = "-";

  char *buf;
  size_t len;
  int rc = read_input(path, &buf, &len);
  if (rc)
    return rc;

  char store[ARENA_STACK];
  sipr_arena_t arena;
  sipr_arena_init(&arena, store, sizeof store, ARENA_CAP);
  sipr_msg_t *msg = NULL;
  sipr_perr_t err = {0};
  int prc = sipr_msg_parse(&arena, buf, len, SIPR_PARSE_DATAGRAM, &msg, &err);
  if (prc != 0 || !msg) {
    report(&err, prc ? prc : SIPR_EPARSE);
    rc = SIPR_EXIT_FAIL;
    goto out;
  }
  int crc = sipr_msg_check(msg, &err);

  oom = 0;
  json_t *doc = j_message(msg);
  if (oom || !doc) {
    fprintf(stderr, "sipr parse: out of memory while building the JSON\n");
    rc = SIPR_EXIT_FAIL;
  } else if (json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(4)) !=
                 0 ||
             fputc('\n', stdout) == EOF) {
    fprintf(stderr, "sipr parse: cannot write to standard output\n");
    rc = SIPR_EXIT_FAIL;
  }
  json_decref(doc);
  if (crc != 0) {
    report(&err, crc);
    rc = SIPR_EXIT_FAIL;
  }
out:
  sipr_arena_free(&arena);
  free(buf);
  return rc;
}
