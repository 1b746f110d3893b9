/*
 * Printing messages (include/sipr/print.h): building requests and
 * responses from parts (§7, §8.2.6), reason phrases (§21), and printing a
 * parsed message with recorded edits in one pass (§16.6).
 */
#include "sipr/print.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "syntax_internal.h"

/* ---- building ---------------------------------------------------------- */

static int buf_invalid(sipr_buf_t *b) {
  b->failed = 1;
  return SIPR_EINVAL;
}

static int buf_result(const sipr_buf_t *b) {
  return b->failed ? SIPR_ENOMEM : 0;
}

/* Text that may stand inside one header line: no CR, LF or NUL (a CR or
 * LF would end the field early and let text inject fields). */
static int line_safe(sipr_str_t s) {
  for (size_t i = 0; i < s.len; i++)
    if (s.p[i] == '\r' || s.p[i] == '\n' || s.p[i] == '\0')
      return 0;
  return 1;
}

static int is_token(sipr_str_t s) {
  if (!s.p || !s.len)
    return 0;
  for (size_t i = 0; i < s.len; i++)
    if (!sipr__is((unsigned char)s.p[i], SIPR_C_TOKEN))
      return 0;
  return 1;
}

/* No white space or control character: a Request-URI (§7.1) or a Via
 * value's first byte. */
static int is_visible(sipr_str_t s) {
  if (!s.p || !s.len)
    return 0;
  for (size_t i = 0; i < s.len; i++)
    if ((unsigned char)s.p[i] <= 0x20 || (unsigned char)s.p[i] == 0x7f)
      return 0;
  return 1;
}

int sipr_print_request_line(sipr_buf_t *b, sipr_str_t method, sipr_str_t ruri) {
  /* Request-Line = Method SP Request-URI SP SIP-Version CRLF (§7.1) */
  if (b->failed)
    return SIPR_ENOMEM;
  if (!is_token(method) || !is_visible(ruri))
    return buf_invalid(b);
  sipr_buf_append_str(b, method);
  sipr_buf_append(b, " ", 1);
  sipr_buf_append_str(b, ruri);
  sipr_buf_append(b, " SIP/2.0\r\n", 10);
  return buf_result(b);
}

int sipr_print_status_line(sipr_buf_t *b, unsigned status, sipr_str_t reason) {
  /* Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF (§7.2) */
  if (b->failed)
    return SIPR_ENOMEM;
  if (status < 100 || status > 699)
    return buf_invalid(b);
  if (!reason.p)
    reason = sipr_str_cstr(sipr_reason_phrase(status));
  for (size_t i = 0; i < reason.len; i++) {
    unsigned char c = (unsigned char)reason.p[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return buf_invalid(b);
  }
  char line[16] = "SIP/2.0 000 ";
  line[8] = (char)('0' + status / 100 % 10);
  line[9] = (char)('0' + status / 10 % 10);
  line[10] = (char)('0' + status % 10);
  sipr_buf_append(b, line, 12);
  sipr_buf_append_str(b, reason);
  sipr_buf_append(b, "\r\n", 2);
  return buf_result(b);
}

int sipr_print_header(sipr_buf_t *b, const char *name, sipr_str_t value) {
  if (b->failed)
    return SIPR_ENOMEM;
  sipr_str_t n = sipr_str_cstr(name);
  if (!is_token(n) || !line_safe(value))
    return buf_invalid(b);
  sipr_buf_append_str(b, n);
  sipr_buf_append(b, ": ", 2);
  sipr_buf_append_str(b, value);
  sipr_buf_append(b, "\r\n", 2);
  return buf_result(b);
}

int sipr_print_header_fmt(sipr_buf_t *b, const char *name, const char *fmt,
                          ...) {
  if (b->failed)
    return SIPR_ENOMEM;
  char small[256], *p = small;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0)
    return buf_invalid(b);
  if ((size_t)n >= sizeof small) {
    p = malloc((size_t)n + 1);
    if (!p) {
      b->failed = 1;
      return SIPR_ENOMEM;
    }
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
  }
  int rc = sipr_print_header(b, name, sipr_str_make(p, (size_t)n));
  if (p != small)
    free(p);
  return rc;
}

int sipr_print_body(sipr_buf_t *b, sipr_str_t ctype, sipr_str_t body) {
  if (b->failed)
    return SIPR_ENOMEM;
  if (ctype.p) {
    int rc = sipr_print_header(b, "Content-Type", ctype);
    if (rc)
      return rc;
  }
  /* §20.14: the size of the body in octets. */
  sipr_buf_printf(b, "Content-Length: %zu\r\n\r\n", body.len);
  sipr_buf_append(b, body.p, body.len);
  return buf_result(b);
}

const char *sipr_reason_phrase(unsigned status) {
  switch (status) {
  /* §21.1 Provisional 1xx */
  case 100: return "Trying";
  case 180: return "Ringing";
  case 181: return "Call Is Being Forwarded";
  case 182: return "Queued";
  case 183: return "Session Progress";
  case 199: return "Early Dialog Terminated"; /* RFC 6228 */
  /* §21.2 Successful 2xx */
  case 200: return "OK";
  case 202: return "Accepted";        /* RFC 3265 (deprecated by RFC 6665) */
  case 204: return "No Notification"; /* RFC 5839 */
  /* §21.3 Redirection 3xx */
  case 300: return "Multiple Choices";
  case 301: return "Moved Permanently";
  case 302: return "Moved Temporarily";
  case 305: return "Use Proxy";
  case 380: return "Alternative Service";
  /* §21.4 Request Failure 4xx */
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 402: return "Payment Required";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 406: return "Not Acceptable";
  case 407: return "Proxy Authentication Required";
  case 408: return "Request Timeout";
  case 410: return "Gone";
  case 412: return "Conditional Request Failed"; /* RFC 3903 */
  case 413: return "Request Entity Too Large";
  case 414: return "Request-URI Too Long";
  case 415: return "Unsupported Media Type";
  case 416: return "Unsupported URI Scheme";
  case 417: return "Unknown Resource-Priority"; /* RFC 4412 */
  case 420: return "Bad Extension";
  case 421: return "Extension Required";
  case 422: return "Session Interval Too Small"; /* RFC 4028 */
  case 423: return "Interval Too Brief";
  case 429: return "Provide Referrer Identity"; /* RFC 3892 */
  case 439: return "First Hop Lacks Outbound Support"; /* RFC 5626 */
  case 440: return "Max-Breadth Exceeded"; /* RFC 5393 */
  case 469: return "Bad Info Package";     /* RFC 6086 */
  case 470: return "Consent Needed";       /* RFC 5360 */
  case 480: return "Temporarily Unavailable";
  case 481: return "Call/Transaction Does Not Exist";
  case 482: return "Loop Detected";
  case 483: return "Too Many Hops";
  case 484: return "Address Incomplete";
  case 485: return "Ambiguous";
  case 486: return "Busy Here";
  case 487: return "Request Terminated";
  case 488: return "Not Acceptable Here";
  case 489: return "Bad Event"; /* RFC 6665 */
  case 491: return "Request Pending";
  case 493: return "Undecipherable";
  case 494: return "Security Agreement Required"; /* RFC 3329 */
  /* §21.5 Server Failure 5xx */
  case 500: return "Server Internal Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Server Time-out";
  case 505: return "Version Not Supported";
  case 513: return "Message Too Large";
  case 580: return "Precondition Failure"; /* RFC 3312 */
  /* §21.6 Global Failures 6xx */
  case 600: return "Busy Everywhere";
  case 603: return "Decline";
  case 604: return "Does Not Exist Anywhere";
  case 606: return "Not Acceptable";
  default: return "";
  }
}

/* "Name: value" of a parsed field, under its long name. */
static void copy_field(sipr_buf_t *b, const char *name, const sipr_hdr_t *h) {
  sipr_buf_append(b, name, strlen(name));
  sipr_buf_append(b, ": ", 2);
  sipr_buf_append_str(b, h->value);
}

static int ends_with_crlf(sipr_str_t s) {
  return s.len >= 2 && s.p[s.len - 2] == '\r' && s.p[s.len - 1] == '\n';
}

static int has_blank_line(sipr_str_t s) {
  for (size_t i = 0; i + 3 < s.len; i++)
    if (s.p[i] == '\r' && s.p[i + 1] == '\n' && s.p[i + 2] == '\r' &&
        s.p[i + 3] == '\n')
      return 1;
  return 0;
}

int sipr_print_response(sipr_buf_t *b, sipr_msg_t *req, unsigned status,
                        const char *reason, sipr_str_t to_tag,
                        sipr_str_t extra) {
  if (b->failed)
    return SIPR_ENOMEM;
  if (!req || !req->is_request)
    return buf_invalid(b);
  /* §19.3: a tag is a token. */
  if (to_tag.p && !is_token(to_tag))
    return buf_invalid(b);
  /* Extra lines must be whole fields and must not end the header block. */
  if (extra.p && extra.len &&
      (!ends_with_crlf(extra) || has_blank_line(extra) ||
       extra.p[0] == '\r' || extra.p[0] == ' ' || extra.p[0] == '\t'))
    return buf_invalid(b);
  int rc = sipr_print_status_line(
      b, status, reason ? sipr_str_cstr(reason) : SIPR_STR_NULL);
  if (rc)
    return rc;

  /* §8.2.6.2: Via values equal and in the same order; From, Call-ID and
   * CSeq equal. */
  for (const sipr_hdr_t *h = req->first[SIPR_HDR_VIA]; h; h = h->next_same) {
    copy_field(b, "Via", h);
    sipr_buf_append(b, "\r\n", 2);
  }
  const sipr_hdr_t *h;
  if ((h = req->first[SIPR_HDR_FROM])) {
    copy_field(b, "From", h);
    sipr_buf_append(b, "\r\n", 2);
  }
  /* §8.2.6.2: the UAS adds a To tag when the request has none. */
  if ((h = req->first[SIPR_HDR_TO])) {
    copy_field(b, "To", h);
    if (to_tag.p) {
      sipr_addr_t *to = sipr_msg_to(req);
      if (to && sipr_str_is_null(to->tag) &&
          !sipr_param_find(to->params, "tag")) {
        sipr_buf_append(b, ";tag=", 5);
        sipr_buf_append_str(b, to_tag);
      }
    }
    sipr_buf_append(b, "\r\n", 2);
  }
  if ((h = req->first[SIPR_HDR_CALL_ID])) {
    copy_field(b, "Call-ID", h);
    sipr_buf_append(b, "\r\n", 2);
  }
  if ((h = req->first[SIPR_HDR_CSEQ])) {
    copy_field(b, "CSeq", h);
    sipr_buf_append(b, "\r\n", 2);
  }
  /* §8.2.6.1: Timestamp is copied into 100 (Trying). */
  if (status == 100 && (h = req->first[SIPR_HDR_TIMESTAMP])) {
    copy_field(b, "Timestamp", h);
    sipr_buf_append(b, "\r\n", 2);
  }
  if (extra.p)
    sipr_buf_append_str(b, extra);
  sipr_buf_append(b, "Content-Length: 0\r\n\r\n", 21);
  return buf_result(b);
}

/* ---- editing ------------------------------------------------------------ */

void sipr_edits_init(sipr_edits_t *ed, sipr_msg_t *m) {
  memset(ed, 0, sizeof(*ed));
  ed->msg = m;
}

static size_t off_of(const sipr_msg_t *m, const char *p) {
  return (size_t)(p - m->buf);
}

static int edit_add(sipr_edits_t *ed, size_t off, size_t len, const char *name,
                    sipr_str_t text) {
  if (ed->n >= SIPR_EDITS_MAX)
    return SIPR_ETOOBIG;
  sipr_edit_t *e = &ed->e[ed->n];
  e->off = off;
  e->len = len;
  e->name = name;
  e->text = text;
  e->seq = ed->n;
  ed->n++;
  return 0;
}

/* The recorded removal or replacement starting at off, or NULL. */
static sipr_edit_t *edit_at(sipr_edits_t *ed, size_t off) {
  for (unsigned i = 0; i < ed->n; i++)
    if (ed->e[i].off == off && ed->e[i].len > 0)
      return &ed->e[i];
  return NULL;
}

/* Where a field may be inserted after the last one (before the empty
 * line): the end of the last field, or of the start line. */
static size_t end_of_fields(const sipr_msg_t *m) {
  if (m->last)
    return off_of(m, m->last->raw.p + m->last->raw.len);
  return off_of(m, m->start_line.p + m->start_line.len) + 2;
}

/* The end of the last Via field, or end_of_fields() without Via. */
static size_t after_last_via(const sipr_msg_t *m) {
  const sipr_hdr_t *v = m->first[SIPR_HDR_VIA];
  if (!v)
    return end_of_fields(m);
  while (v->next_same)
    v = v->next_same;
  return off_of(m, v->raw.p + v->raw.len);
}

/* A parsed message whose slices edits may point at. */
static int edits_ok(const sipr_edits_t *ed) {
  return ed && ed->msg && ed->msg->buf && ed->msg->start_line.p;
}

/* A field value we insert: one line, no leading white space, not empty. */
static int value_ok(sipr_str_t v) {
  return v.p && v.len && line_safe(v) && v.p[0] != ' ' && v.p[0] != '\t' &&
         v.p[v.len - 1] != ' ' && v.p[v.len - 1] != '\t';
}

int sipr_edit_prepend_via(sipr_edits_t *ed, sipr_str_t via_value) {
  if (!edits_ok(ed) || !value_ok(via_value))
    return SIPR_EINVAL;
  sipr_msg_t *m = ed->msg;
  /* §16.6 step 8: the new Via goes above every existing one. */
  const sipr_hdr_t *v = m->first[SIPR_HDR_VIA];
  size_t off = v ? off_of(m, v->raw.p)
                 : (m->hdrs ? off_of(m, m->hdrs->raw.p) : end_of_fields(m));
  return edit_add(ed, off, 0, "Via", via_value);
}

/* Splits a list-valued field value (§7.3.1: comma-separated) at commas
 * outside quoted strings and <>. Finds the start of value number idx and
 * of the value after it (NULL when idx is the last one). Returns the
 * number of values when idx is past the end, else 0 with *s set. */
static size_t list_value(sipr_str_t v, size_t idx, const char **s,
                         const char **next) {
  size_t count = 0, i = 0;
  *s = NULL;
  *next = NULL;
  if (v.len == 0)
    return 0;
  for (;;) {
    /* A value starts at i. */
    if (count == idx)
      *s = v.p + i;
    else if (count == idx + 1) {
      *next = v.p + i;
      return 0;
    }
    count++;
    int quoted = 0, angle = 0;
    while (i < v.len) {
      char c = v.p[i];
      if (angle) { /* a URI: no quoting inside (§20) */
        if (c == '>')
          angle = 0;
      } else if (quoted) {
        if (c == '\\' && i + 1 < v.len)
          i++; /* quoted-pair */
        else if (c == '"')
          quoted = 0;
      } else if (c == '"') {
        quoted = 1;
      } else if (c == '<') {
        angle = 1;
      } else if (c == ',') {
        break;
      }
      i++;
    }
    if (i >= v.len)
      return *s ? 0 : count;
    i++; /* the comma, then LWS (SP, HTAB, folds) */
    while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == '\r' ||
                         v.p[i] == '\n'))
      i++;
    if (i >= v.len) /* a trailing comma: no further value */
      return *s ? 0 : count;
  }
}

int sipr_edit_remove_top_route(sipr_edits_t *ed) {
  if (!edits_ok(ed))
    return SIPR_EINVAL;
  sipr_msg_t *m = ed->msg;
  /* Skip the values removed before: k is the index of the value to remove
   * inside field h. */
  size_t k = ed->routes_removed;
  const sipr_hdr_t *h;
  const char *s = NULL, *next = NULL;
  for (h = m->first[SIPR_HDR_ROUTE]; h; h = h->next_same) {
    size_t n = list_value(h->value, k, &s, &next);
    if (n == 0 && s)
      break;
    k -= n;
  }
  if (!h)
    return SIPR_ENOENT;
  const char *first = NULL, *dummy;
  list_value(h->value, 0, &first, &dummy);
  size_t v0 = off_of(m, first);
  int rc = 0;
  if (!next) {
    /* The last value of the field goes: remove the whole field. */
    size_t f0 = off_of(m, h->raw.p);
    sipr_edit_t *e = k ? edit_at(ed, v0) : NULL;
    if (e) {
      e->off = f0;
      e->len = h->raw.len;
    } else {
      rc = edit_add(ed, f0, h->raw.len, NULL, SIPR_STR(""));
    }
  } else {
    /* Remove the value and the comma and LWS after it. */
    size_t len = (size_t)(next - first);
    sipr_edit_t *e = k ? edit_at(ed, v0) : NULL;
    if (e)
      e->len = len;
    else
      rc = edit_add(ed, v0, len, NULL, SIPR_STR(""));
  }
  if (rc == 0)
    ed->routes_removed++;
  return rc;
}

int sipr_edit_set_ruri(sipr_edits_t *ed, sipr_str_t uri) {
  if (!edits_ok(ed) || !ed->msg->is_request || !ed->msg->ruri_str.p ||
      !is_visible(uri))
    return SIPR_EINVAL;
  sipr_msg_t *m = ed->msg;
  size_t off = off_of(m, m->ruri_str.p);
  sipr_edit_t *e = edit_at(ed, off);
  if (e) {
    e->text = uri;
    return 0;
  }
  return edit_add(ed, off, m->ruri_str.len, NULL, uri);
}

int sipr_edit_dec_max_forwards(sipr_edits_t *ed, unsigned absent_value) {
  if (!edits_ok(ed))
    return SIPR_EINVAL;
  sipr_msg_t *m = ed->msg;
  sipr_edit_t *e = NULL;
  for (unsigned i = 0; i < ed->n; i++)
    if (ed->e[i].text.p == ed->mf_buf)
      e = &ed->e[i];
  long cur;
  if (e) {
    /* Decremented or added before: go on from the value we wrote. */
    uint64_t v;
    if (sipr_str_to_u64(e->text, UINT32_MAX, &v))
      return SIPR_EINVAL;
    cur = (long)v;
  } else if (m->first[SIPR_HDR_MAX_FORWARDS]) {
    cur = sipr_msg_max_forwards(m);
    if (cur < 0)
      return SIPR_EPARSE;
  } else {
    /* §16.6 step 3: absent, the proxy adds one (70 recommended). */
    int n = snprintf(ed->mf_buf, sizeof ed->mf_buf, "%u", absent_value);
    return edit_add(ed, after_last_via(m), 0, "Max-Forwards",
                    sipr_str_make(ed->mf_buf, (size_t)n));
  }
  if (cur == 0) /* §16.3 step 3: the caller answers 483 */
    return SIPR_ERANGE;
  int n = snprintf(ed->mf_buf, sizeof ed->mf_buf, "%ld", cur - 1);
  sipr_str_t text = sipr_str_make(ed->mf_buf, (size_t)n);
  if (e) {
    e->text = text;
    return 0;
  }
  const sipr_hdr_t *h = m->first[SIPR_HDR_MAX_FORWARDS];
  return edit_add(ed, off_of(m, h->value.p), h->value.len, NULL, text);
}

int sipr_edit_add_record_route(sipr_edits_t *ed, sipr_str_t rr_value) {
  if (!edits_ok(ed) || !value_ok(rr_value))
    return SIPR_EINVAL;
  sipr_msg_t *m = ed->msg;
  /* §16.6 step 4: above the Record-Route values already there. */
  const sipr_hdr_t *rr = m->first[SIPR_HDR_RECORD_ROUTE];
  size_t off = rr ? off_of(m, rr->raw.p) : after_last_via(m);
  return edit_add(ed, off, 0, "Record-Route", rr_value);
}

int sipr_edit_add_header(sipr_edits_t *ed, const char *name, sipr_str_t value) {
  if (!edits_ok(ed) || !name || !is_token(sipr_str_cstr(name)) ||
      !value.p || !line_safe(value))
    return SIPR_EINVAL;
  return edit_add(ed, end_of_fields(ed->msg), 0, name, value);
}

int sipr_edit_remove_header(sipr_edits_t *ed, sipr_hdr_t *h) {
  if (!edits_ok(ed) || !h || !h->raw.p)
    return SIPR_EINVAL;
  sipr_msg_t *m = ed->msg;
  if (h->raw.p < m->buf || off_of(m, h->raw.p) > m->len ||
      h->raw.len > m->len - off_of(m, h->raw.p))
    return SIPR_EINVAL;
  return edit_add(ed, off_of(m, h->raw.p), h->raw.len, NULL, SIPR_STR(""));
}

/* Print order: by offset; at one offset insertions first, each group in
 * the order recorded. */
static int edit_before(const sipr_edit_t *a, const sipr_edit_t *b) {
  if (a->off != b->off)
    return a->off < b->off;
  if ((a->len > 0) != (b->len > 0))
    return a->len == 0;
  return a->seq < b->seq;
}

int sipr_edits_print(sipr_edits_t *ed, sipr_buf_t *b) {
  if (!edits_ok(ed) || ed->n > SIPR_EDITS_MAX)
    return SIPR_EINVAL;
  if (b->failed)
    return SIPR_ENOMEM;
  const sipr_msg_t *m = ed->msg;
  const sipr_edit_t *order[SIPR_EDITS_MAX];
  for (unsigned i = 0; i < ed->n; i++) {
    /* Insertion sort: n is small. */
    unsigned j = i;
    while (j > 0 && edit_before(&ed->e[i], order[j - 1])) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = &ed->e[i];
  }
  /* §7.5: CRLFs before the start line are not forwarded. */
  size_t cur = off_of(m, m->start_line.p), end = m->len;
  if (cur > end)
    return SIPR_EINVAL;
  for (unsigned i = 0; i < ed->n; i++) {
    const sipr_edit_t *e = order[i];
    size_t c = i ? order[i - 1]->off + order[i - 1]->len : cur;
    if (e->off < c || e->off > end || e->len > end - e->off)
      return SIPR_EINVAL; /* overlapping or outside the message */
  }
  for (unsigned i = 0; i < ed->n; i++) {
    const sipr_edit_t *e = order[i];
    sipr_buf_append(b, m->buf + cur, e->off - cur);
    if (e->name) {
      sipr_buf_append(b, e->name, strlen(e->name));
      sipr_buf_append(b, ": ", 2);
      sipr_buf_append_str(b, e->text);
      sipr_buf_append(b, "\r\n", 2);
    } else {
      sipr_buf_append_str(b, e->text);
    }
    cur = e->off + e->len;
  }
  sipr_buf_append(b, m->buf + cur, end - cur);
  return buf_result(b);
}
