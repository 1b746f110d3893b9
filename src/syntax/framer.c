/*
 * Stream framing (include/sipr/framer.h): RFC 3261 §18.3 and §7.5, CRLF
 * keep-alives of RFC 5626 §3.5.1.
 *
 * The buffer holds buf[start..len): the current frame and what follows it.
 * A frame handed out stays in place until the next call (so the caller may
 * parse it where it lies); it is then skipped by moving `start`, and bytes
 * are moved down only when new bytes are fed, so a burst of pipelined
 * messages costs no copying per message. `scan` counts the bytes of the
 * current message already searched for CRLFCRLF, so a message that
 * arrives one byte at a time is still searched once.
 */
#include "sipr/framer.h"

#include <stdlib.h>

#define FRAMER_MIN_CAP 1024
/* A drained buffer larger than this is freed: idle connections hold no
 * large buffer. */
#define FRAMER_KEEP_CAP 4096

void sipr_framer_init(sipr_framer_t *f, size_t max_msg) {
  memset(f, 0, sizeof(*f));
  f->max_msg = max_msg ? max_msg : SIPR_FRAMER_DEFAULT_MAX;
}

void sipr_framer_free(sipr_framer_t *f) {
  free(f->buf);
  memset(f, 0, sizeof(*f));
}

/* The most bytes the buffer may hold: a partial message (< max_msg) plus
 * one feed of at most max_msg. */
static size_t framer_limit(const sipr_framer_t *f) {
  return f->max_msg > SIZE_MAX / 2 ? SIZE_MAX : 2 * f->max_msg;
}

/* The status a conforming element would answer a refused message with:
 * requests get one (§18.3, §21.4.11), responses are dropped. */
static int refusal_status(const sipr_framer_t *f, int request_status) {
  const char *b = f->buf + f->start;
  size_t avail = f->len - f->start;
  if (avail >= 4 && memcmp(b, "SIP/", 4) == 0)
    return 0;
  return request_status;
}

static int framer_fail(sipr_framer_t *f, int code, int status,
                       const char *where, size_t offset, const char *reason) {
  f->failed = 1;
  return sipr_perr_set(&f->err, code, status, where, offset, reason);
}

/* Skips the frame handed out last. */
static void framer_drop(sipr_framer_t *f) {
  f->start += f->consumed;
  f->consumed = 0;
  if (f->start == f->len) {
    f->start = f->len = 0;
    if (f->cap > FRAMER_KEEP_CAP) {
      free(f->buf);
      f->buf = NULL;
      f->cap = 0;
    }
  }
}

int sipr_framer_feed(sipr_framer_t *f, const char *p, size_t len) {
  if (f->failed)
    return f->err.code;
  if (len == 0)
    return 0;
  if (!p)
    return SIPR_EINVAL;
  framer_drop(f);
  if (f->start) {
    memmove(f->buf, f->buf + f->start, f->len - f->start);
    f->len -= f->start;
    f->start = 0;
  }
  size_t limit = framer_limit(f);
  if (len > limit - f->len)
    return framer_fail(f, SIPR_ETOOBIG, 0, "message", f->len,
                       "bytes buffered over the cap");
  size_t need = f->len + len;
  if (need > f->cap) {
    size_t nc = f->cap ? f->cap : FRAMER_MIN_CAP;
    while (nc < need)
      nc = nc > SIZE_MAX / 2 ? need : nc * 2;
    if (nc > limit)
      nc = limit; /* still >= need */
    char *nb = realloc(f->buf, nc);
    if (!nb)
      return framer_fail(f, SIPR_ENOMEM, 0, "message", f->len,
                         "out of memory");
    f->buf = nb;
    f->cap = nc;
  }
  memcpy(f->buf + f->len, p, len);
  f->len += len;
  return 0;
}

static int is_wsp(char c) { return c == ' ' || c == '\t'; }
static int is_lws_byte(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Offset of the first CRLF at or after i in b[0..n), or n. */
static size_t find_crlf(const char *b, size_t i, size_t n) {
  while (i + 1 < n) {
    const char *nl = memchr(b + i + 1, '\n', n - i - 1);
    if (!nl)
      return n;
    size_t k = (size_t)(nl - b);
    if (b[k - 1] == '\r')
      return k - 1;
    i = k;
  }
  return n;
}

/* Finds the Content-Length of the header block b[0..n), which ends with
 * its first CRLFCRLF. Field names are matched case-insensitively, in the
 * long and the compact ('l') form (§7.3.3, §20.14); LWS, folding
 * included, is allowed around the colon (§7.3.1). */
static int framer_content_length(sipr_framer_t *f, const char *b, size_t n,
                                 uint64_t *out) {
  int found = 0, big = 0;
  uint64_t cl = 0;
  size_t i = find_crlf(b, 0, n) + 2; /* skip the start line */
  while (i + 2 < n) {
    /* One field: up to a CRLF not followed by SP/HTAB (folding). */
    size_t fs = i, fe = find_crlf(b, i, n);
    while (fe + 2 < n && is_wsp(b[fe + 2]))
      fe = find_crlf(b, fe + 2, n);
    i = fe + 2;
    size_t j = fs;
    while (j < fe && b[j] != ':' && !is_lws_byte(b[j]))
      j++;
    sipr_str_t name = sipr_str_make(b + fs, j - fs);
    if (!(name.len == 1 && sipr_lower((unsigned char)name.p[0]) == 'l') &&
        !(name.len == 14 && sipr_str_caseeq_z(name, "content-length")))
      continue;
    /* Inside a field every CRLF is followed by WSP, so skipping SP, HTAB,
     * CR and LF skips LWS exactly. */
    while (j < fe && is_lws_byte(b[j]))
      j++;
    if (j == fe || b[j] != ':')
      return framer_fail(f, SIPR_EPARSE, refusal_status(f, 400),
                         "Content-Length", j, "malformed Content-Length");
    j++;
    while (j < fe && is_lws_byte(b[j]))
      j++;
    size_t ds = j;
    uint64_t v = 0;
    int vbig = 0;
    while (j < fe && b[j] >= '0' && b[j] <= '9') {
      unsigned d = (unsigned)(b[j] - '0');
      if (v > (UINT64_MAX - d) / 10)
        vbig = 1;
      else
        v = v * 10 + d;
      j++;
    }
    size_t de = j;
    while (j < fe && is_lws_byte(b[j]))
      j++;
    if (de == ds || j != fe) /* §20.14: 1*DIGIT, no sign */
      return framer_fail(f, SIPR_EPARSE, refusal_status(f, 400),
                         "Content-Length", ds, "malformed Content-Length");
    if (found && (vbig != big || v != cl))
      return framer_fail(f, SIPR_EPARSE, refusal_status(f, 400),
                         "Content-Length", fs,
                         "differing Content-Length values");
    found = 1;
    big = vbig;
    cl = v;
  }
  if (!found) /* §18.3: mandatory on streams */
    return framer_fail(f, SIPR_EPARSE, refusal_status(f, 400),
                       "Content-Length", n, "missing Content-Length");
  *out = big ? UINT64_MAX : cl;
  return 0;
}

int sipr_framer_next(sipr_framer_t *f, const char **msg, size_t *len) {
  if (!msg || !len)
    return SIPR_EINVAL;
  *msg = NULL;
  *len = 0;
  if (f->failed)
    return f->err.code;
  framer_drop(f);
  size_t avail = f->len - f->start;
  if (avail == 0)
    return SIPR_EAGAIN; /* (buf may be NULL) */
  const char *b = f->buf + f->start;

  /* Between messages: CRLFs before a start line are keep-alives (§7.5,
   * RFC 5626 §3.5.1). A message never starts with CR. */
  if (f->scan == 0 && b[0] == '\r') {
    if (avail < 2)
      return SIPR_EAGAIN;
    if (b[1] == '\n') {
      if (avail >= 4 && b[2] == '\r' && b[3] == '\n') {
        f->consumed = 4;
        *msg = b;
        *len = 4;
        return SIPR_FRAME_PING;
      }
      /* "\r\n" or "\r\n\r" may still be the start of a ping. */
      if ((avail == 2 || (avail == 3 && b[2] == '\r')) && !f->pong_wait)
        return SIPR_EAGAIN;
      f->pong_wait = 0;
      f->consumed = 2;
      *msg = b;
      *len = 2;
      return SIPR_FRAME_PONG;
    }
    /* A stray CR: framed as a message; its parser will refuse it. */
  }

  if (!f->hdr_end) {
    /* Search for CRLFCRLF from where the last call stopped, never beyond
     * the cap. Looking back 3 bytes at a '\n' finds a CRLFCRLF split over
     * two feeds. */
    size_t lim = avail < f->max_msg ? avail : f->max_msg;
    size_t i = f->scan;
    while (i < lim) {
      const char *nl = memchr(b + i, '\n', lim - i);
      if (!nl) {
        i = lim;
        break;
      }
      size_t k = (size_t)(nl - b);
      i = k + 1;
      if (k >= 3 && b[k - 1] == '\r' && b[k - 2] == '\n' && b[k - 3] == '\r') {
        f->hdr_end = k + 1;
        break;
      }
    }
    f->scan = i;
    if (!f->hdr_end) {
      if (avail >= f->max_msg)
        return framer_fail(f, SIPR_ETOOBIG, refusal_status(f, 513), "message",
                           f->max_msg, "header block over the size cap");
      return SIPR_EAGAIN;
    }
    uint64_t cl = 0;
    int rc = framer_content_length(f, b, f->hdr_end, &cl);
    if (rc)
      return rc;
    if (cl > f->max_msg - f->hdr_end) /* hdr_end <= max_msg */
      return framer_fail(f, SIPR_ETOOBIG, refusal_status(f, 513),
                         "Content-Length", f->hdr_end,
                         "message over the size cap");
    f->msg_len = f->hdr_end + (size_t)cl;
  }
  if (avail < f->msg_len)
    return SIPR_EAGAIN;
  *msg = b;
  *len = f->msg_len;
  f->consumed = f->msg_len;
  f->scan = f->hdr_end = f->msg_len = 0;
  return SIPR_FRAME_MSG;
}
