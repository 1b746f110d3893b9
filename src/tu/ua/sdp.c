/*
 * SDP (RFC 4566) as far as a call needs (RFC 3264): an audio offer or
 * answer, and the connection address and media lines of the peer's.
 */
#include "ua_internal.h"

#include <stdio.h>
#include <string.h>

int sipr_sdp_build(sipr_buf_t *b, const char *host, int port,
                   uint64_t session_id, uint64_t version) {
  const char *ipv = strchr(host, ':') ? "IP6" : "IP4";
  /* RFC 4566 §5: v, o, s, c, t, m in this order; RFC 3264 §5: one m= line
   * per stream, the formats we take in order of preference. */
  sipr_buf_printf(b,
                  "v=0\r\n"
                  "o=sipr %llu %llu IN %s %s\r\n"
                  "s=sipr\r\n"
                  "c=IN %s %s\r\n"
                  "t=0 0\r\n"
                  "m=audio %d RTP/AVP 0 8 101\r\n"
                  "a=rtpmap:0 PCMU/8000\r\n"
                  "a=rtpmap:8 PCMA/8000\r\n"
                  "a=rtpmap:101 telephone-event/8000\r\n"
                  "a=fmtp:101 0-15\r\n"
                  "a=sendrecv\r\n",
                  (unsigned long long)session_id, (unsigned long long)version,
                  ipv, host, ipv, host, port);
  return b->failed ? SIPR_ENOMEM : 0;
}

/* "IN IP4 192.0.2.1" -> the address. */
static int conn_addr(sipr_str_t v, sipr_str_t *out) {
  const char *p = v.p, *end = v.p + v.len;
  int field = 0;
  while (p < end) {
    while (p < end && *p == ' ')
      p++;
    const char *s = p;
    while (p < end && *p != ' ')
      p++;
    if (p == s)
      break;
    if (field == 2) {
      /* RFC 4566 §5.7: a multicast address may carry /ttl. */
      const char *sl = memchr(s, '/', (size_t)(p - s));
      *out = sipr_str_make(s, (size_t)((sl ? sl : p) - s));
      return 0;
    }
    field++;
  }
  return SIPR_EPARSE;
}

int sipr_sdp_parse(sipr_str_t body, sipr_sdp_t *out) {
  memset(out, 0, sizeof(*out));
  const char *p = body.p, *end = body.p + body.len;
  int have_v = 0;
  while (p && p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    sipr_str_t line = sipr_str_make(p, (size_t)(le - p));
    if (line.len && line.p[line.len - 1] == '\r')
      line.len--;
    p = nl ? nl + 1 : end;
    if (line.len < 2 || line.p[1] != '=')
      continue;
    sipr_str_t v = sipr_str_make(line.p + 2, line.len - 2);
    switch (line.p[0]) {
    case 'v':
      have_v = 1;
      break;
    case 'c': {
      sipr_str_t a;
      if (conn_addr(v, &a))
        return SIPR_EPARSE;
      if (out->nm)
        out->m[out->nm - 1].conn = a;
      else
        out->conn = a;
      break;
    }
    case 'm': {
      if (out->nm >= SIPR_SDP_MAX_MEDIA)
        break;
      sipr_sdp_media_t *m = &out->m[out->nm];
      const char *q = v.p, *e = v.p + v.len;
      const char *s = q;
      while (q < e && *q != ' ')
        q++;
      m->media = sipr_str_make(s, (size_t)(q - s));
      if (q < e)
        q++;
      int port = 0, digits = 0;
      while (q < e && *q >= '0' && *q <= '9' && port < 65536) {
        port = port * 10 + (*q++ - '0');
        digits++;
      }
      if (!digits || port > 65535 || !m->media.len)
        return SIPR_EPARSE;
      while (q < e && *q != ' ') /* "/2" port count */
        q++;
      if (q < e)
        q++;
      s = q;
      while (q < e && *q != ' ')
        q++;
      m->proto = sipr_str_make(s, (size_t)(q - s));
      if (q < e)
        q++;
      m->formats = sipr_str_make(q, (size_t)(e - q));
      m->port = port;
      out->nm++;
      break;
    }
    default:
      break;
    }
  }
  if (!have_v)
    return SIPR_EPARSE;
  for (unsigned i = 0; i < out->nm; i++) {
    if (!out->m[i].conn.p)
      out->m[i].conn = out->conn;
    if (!out->m[i].conn.p)
      return SIPR_EPARSE; /* RFC 4566 §5.7: c= in the session or media */
  }
  return 0;
}
