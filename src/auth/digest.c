/*
 * Digest computations (RFC 7616 §3.4, RFC 2617 §3.2.2, RFC 3261 §22.4)
 * and the client side: answering a challenge.
 */
#include "auth_internal.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>

/* ---- algorithms ---------------------------------------------------------*/
static const char *const alg_names[] = {
    [SIPR_AUTH_ALG_UNKNOWN] = NULL,
    [SIPR_AUTH_MD5] = "MD5",
    [SIPR_AUTH_MD5_SESS] = "MD5-sess",
    [SIPR_AUTH_SHA256] = "SHA-256",
    [SIPR_AUTH_SHA256_SESS] = "SHA-256-sess",
};

const char *sipr_auth_alg_name(sipr_auth_alg_t alg) {
  if ((unsigned)alg >= sizeof(alg_names) / sizeof(alg_names[0]))
    return NULL;
  return alg_names[alg];
}

sipr_auth_alg_t sipr_auth_alg_from_str(sipr_str_t s) {
  if (!s.p || !s.len)
    return SIPR_AUTH_MD5; /* RFC 7616 §3.3: absent means MD5 */
  for (unsigned a = SIPR_AUTH_MD5; a <= SIPR_AUTH_SHA256_SESS; a++)
    if (sipr_str_caseeq_z(s, alg_names[a]))
      return (sipr_auth_alg_t)a;
  return SIPR_AUTH_ALG_UNKNOWN;
}

sipr_auth_alg_t sipr_auth_alg_base(sipr_auth_alg_t alg) {
  switch (alg) {
  case SIPR_AUTH_MD5:
  case SIPR_AUTH_MD5_SESS:
    return SIPR_AUTH_MD5;
  case SIPR_AUTH_SHA256:
  case SIPR_AUTH_SHA256_SESS:
    return SIPR_AUTH_SHA256;
  default:
    return SIPR_AUTH_ALG_UNKNOWN;
  }
}

size_t sipr_auth_alg_hex_len(sipr_auth_alg_t alg) {
  switch (sipr_auth_alg_base(alg)) {
  case SIPR_AUTH_MD5:
    return 32;
  case SIPR_AUTH_SHA256:
    return 64;
  default:
    return 0;
  }
}

static int alg_is_sess(sipr_auth_alg_t alg) {
  return alg == SIPR_AUTH_MD5_SESS || alg == SIPR_AUTH_SHA256_SESS;
}

/* ---- hashing ------------------------------------------------------------*/
static const char hexdig[] = "0123456789abcdef";

int sipr__auth_hash(sipr_auth_alg_t alg, const sipr_str_t *parts, size_t n,
                    char hex[SIPR_AUTH_HEX_MAX]) {
  const EVP_MD *md;
  switch (sipr_auth_alg_base(alg)) {
  case SIPR_AUTH_MD5:
    md = EVP_md5();
    break;
  case SIPR_AUTH_SHA256:
    md = EVP_sha256();
    break;
  default:
    return SIPR_EINVAL;
  }
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  if (!c)
    return SIPR_ENOMEM;
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned dlen = 0;
  int ok = EVP_DigestInit_ex(c, md, NULL);
  for (size_t i = 0; ok && i < n; i++) {
    if (i)
      ok = EVP_DigestUpdate(c, ":", 1);
    if (ok && parts[i].len)
      ok = EVP_DigestUpdate(c, parts[i].p, parts[i].len);
  }
  if (ok)
    ok = EVP_DigestFinal_ex(c, d, &dlen);
  EVP_MD_CTX_free(c);
  if (!ok || dlen * 2 >= SIPR_AUTH_HEX_MAX)
    return SIPR_ENOMEM;
  for (unsigned i = 0; i < dlen; i++) {
    hex[2 * i] = hexdig[d[i] >> 4];
    hex[2 * i + 1] = hexdig[d[i] & 15];
  }
  hex[2 * dlen] = '\0';
  return 0;
}

int sipr__auth_response(sipr_auth_alg_t alg, sipr_str_t ha1, sipr_str_t nonce,
                        sipr_str_t nc, sipr_str_t cnonce, sipr_str_t qop,
                        sipr_str_t method, sipr_str_t uri, sipr_str_t body,
                        char out[SIPR_AUTH_HEX_MAX]) {
  char sess[SIPR_AUTH_HEX_MAX], ha2[SIPR_AUTH_HEX_MAX], hbody[SIPR_AUTH_HEX_MAX];
  int rc;
  if (alg_is_sess(alg)) {
    /* RFC 7616 §3.4.2: A1 = H(user:realm:pass):nonce:cnonce */
    sipr_str_t p[3] = {ha1, nonce, cnonce};
    if ((rc = sipr__auth_hash(alg, p, 3, sess)))
      return rc;
    ha1 = sipr_str_cstr(sess);
  }
  int auth_int = qop.p && SIPR_STR_CASEEQ_LIT(qop, "auth-int");
  if (auth_int) {
    /* RFC 7616 §3.4.3: A2 = method:uri:H(entity-body) */
    sipr_str_t b = body.p ? body : SIPR_STR("");
    if ((rc = sipr__auth_hash(alg, &b, 1, hbody)))
      return rc;
    sipr_str_t p[3] = {method, uri, sipr_str_cstr(hbody)};
    rc = sipr__auth_hash(alg, p, 3, ha2);
  } else {
    sipr_str_t p[2] = {method, uri};
    rc = sipr__auth_hash(alg, p, 2, ha2);
  }
  if (rc)
    return rc;
  if (qop.p && qop.len) {
    sipr_str_t p[6] = {ha1, nonce, nc, cnonce, qop, sipr_str_cstr(ha2)};
    return sipr__auth_hash(alg, p, 6, out);
  }
  /* RFC 2069 form (RFC 2617 §3.2.2.1, no qop). */
  sipr_str_t p[3] = {ha1, nonce, sipr_str_cstr(ha2)};
  return sipr__auth_hash(alg, p, 3, out);
}

int sipr_auth_ha1(sipr_auth_alg_t alg, const char *user, const char *realm,
                  const char *password, char out_hex[SIPR_AUTH_HEX_MAX]) {
  if (!user || !realm || !password || !out_hex ||
      !sipr_auth_alg_hex_len(alg))
    return SIPR_EINVAL;
  sipr_str_t p[3] = {sipr_str_cstr(user), sipr_str_cstr(realm),
                     sipr_str_cstr(password)};
  return sipr__auth_hash(alg, p, 3, out_hex);
}

int sipr__auth_hex_lower(sipr_str_t s, size_t len, char *out) {
  if (s.len != len || !s.p)
    return -1;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = sipr_lower((unsigned char)s.p[i]);
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return -1;
    out[i] = (char)c;
  }
  out[len] = '\0';
  return 0;
}

/* ---- quoting ------------------------------------------------------------*/
int sipr_auth_unquote(sipr_str_t in, char *out, size_t cap) {
  size_t n = 0;
  if (!out || !cap)
    return SIPR_EINVAL;
  for (size_t i = 0; i < in.len; i++) {
    char c = in.p[i];
    if (c == '\\' && i + 1 < in.len)
      c = in.p[++i];
    if (n + 1 >= cap) {
      out[0] = '\0';
      return SIPR_ETOOBIG;
    }
    out[n++] = c;
  }
  out[n] = '\0';
  return (int)n;
}

int sipr__auth_print_quoted(sipr_buf_t *b, sipr_str_t s) {
  for (size_t i = 0; i < s.len; i++)
    if (s.p[i] == '\r' || s.p[i] == '\n' || s.p[i] == '\0') {
      b->failed = 1;
      return SIPR_EINVAL;
    }
  if (sipr_buf_append(b, "\"", 1))
    return SIPR_ENOMEM;
  size_t start = 0;
  for (size_t i = 0; i < s.len; i++) {
    if (s.p[i] == '"' || s.p[i] == '\\') {
      if (sipr_buf_append(b, s.p + start, i - start) ||
          sipr_buf_append(b, "\\", 1))
        return SIPR_ENOMEM;
      start = i;
    }
  }
  if (sipr_buf_append(b, s.p + start, s.len - start) ||
      sipr_buf_append(b, "\"", 1))
    return SIPR_ENOMEM;
  return 0;
}

/* A value taken from a parsed challenge, echoed as written: quoted-pairs
 * are still escaped, so only the quotes are added. */
static int print_echo(sipr_buf_t *b, sipr_str_t s) {
  for (size_t i = 0; i < s.len; i++)
    if (s.p[i] == '\r' || s.p[i] == '\n' || s.p[i] == '\0') {
      b->failed = 1;
      return SIPR_EINVAL;
    }
  return sipr_buf_printf(b, "\"" SIPR_STR_FMT "\"", SIPR_STR_ARG(s));
}

/* ---- client -------------------------------------------------------------*/
/* 1 when the comma-separated qop-options list offers "auth". */
static int qop_offers_auth(sipr_str_t list) {
  size_t i = 0;
  while (i < list.len) {
    size_t j = i;
    while (j < list.len && list.p[j] != ',')
      j++;
    sipr_str_t t = sipr_str_trim(sipr_str_make(list.p + i, j - i));
    if (SIPR_STR_CASEEQ_LIT(t, "auth"))
      return 1;
    i = j + 1;
  }
  return 0;
}

/* Rank of a challenge for the client: 0 unusable, higher better. */
static int challenge_rank(const sipr_auth_t *ch) {
  if (!ch || !SIPR_STR_CASEEQ_LIT(ch->scheme, "Digest") || !ch->nonce.p ||
      !ch->realm.p)
    return 0;
  if (ch->qop.p && !qop_offers_auth(ch->qop))
    return 0;
  switch (sipr_auth_alg_from_str(ch->algorithm)) {
  case SIPR_AUTH_SHA256:
    return 4;
  case SIPR_AUTH_SHA256_SESS:
    return 3;
  case SIPR_AUTH_MD5:
    return 2;
  case SIPR_AUTH_MD5_SESS:
    return 1;
  default:
    return 0;
  }
}

const sipr_auth_t *sipr_auth_client_pick(sipr_msg_t *resp,
                                         sipr_hdr_type_t type) {
  if (!resp || (type != SIPR_HDR_WWW_AUTHENTICATE &&
                type != SIPR_HDR_PROXY_AUTHENTICATE))
    return NULL;
  const sipr_auth_t *best = NULL;
  int best_rank = 0;
  for (sipr_hdr_t *h = resp->first[type]; h; h = h->next_same) {
    if (sipr_hdr_parse(resp, h, NULL) || !h->parsed)
      continue;
    const sipr_auth_t *ch = h->parsed;
    int r = challenge_rank(ch);
    if (r > best_rank) {
      best = ch;
      best_rank = r;
    }
  }
  return best;
}

int sipr_auth_client_answer(const sipr_auth_t *ch, sipr_str_t method,
                            sipr_str_t uri, const char *user,
                            const char *password, const char *ha1_hex,
                            uint32_t nc, const char *cnonce,
                            sipr_buf_t *out) {
  if (!ch || !out || !user || (!password && !ha1_hex) || !method.len ||
      !uri.len || !SIPR_STR_CASEEQ_LIT(ch->scheme, "Digest") ||
      !ch->realm.p || !ch->nonce.p)
    return SIPR_EINVAL;
  sipr_auth_alg_t alg = sipr_auth_alg_from_str(ch->algorithm);
  size_t hlen = sipr_auth_alg_hex_len(alg);
  if (!hlen)
    return SIPR_EINVAL;
  int use_qop = ch->qop.p != NULL;
  if (use_qop && !qop_offers_auth(ch->qop))
    return SIPR_EINVAL; /* auth-int only: we do not send bodies here */
  if (use_qop && nc == 0)
    return SIPR_EINVAL;

  char realm[SIPR__AUTH_FIELD_MAX], nonce[SIPR__AUTH_FIELD_MAX];
  int rl = sipr_auth_unquote(ch->realm, realm, sizeof(realm));
  int nl = sipr_auth_unquote(ch->nonce, nonce, sizeof(nonce));
  if (rl < 0 || nl < 0)
    return SIPR_EINVAL;

  char ha1[SIPR_AUTH_HEX_MAX];
  int rc;
  if (password) {
    if ((rc = sipr_auth_ha1(alg, user, realm, password, ha1)))
      return rc;
  } else if (sipr__auth_hex_lower(sipr_str_cstr(ha1_hex), hlen, ha1)) {
    return SIPR_EINVAL;
  }

  char cn[33], ncs[9];
  if (use_qop && !cnonce) {
    unsigned char r[16];
    if (RAND_bytes(r, sizeof(r)) != 1)
      return SIPR_EIO;
    for (size_t i = 0; i < sizeof(r); i++) {
      cn[2 * i] = hexdig[r[i] >> 4];
      cn[2 * i + 1] = hexdig[r[i] & 15];
    }
    cn[32] = '\0';
    cnonce = cn;
  }
  snprintf(ncs, sizeof(ncs), "%08x", (unsigned)nc);

  char resp[SIPR_AUTH_HEX_MAX];
  sipr_str_t qop = use_qop ? SIPR_STR("auth") : SIPR_STR_NULL;
  rc = sipr__auth_response(alg, sipr_str_cstr(ha1),
                           sipr_str_make(nonce, (size_t)nl),
                           sipr_str_cstr(ncs), sipr_str_cstr(cnonce), qop,
                           method, uri, SIPR_STR_NULL, resp);
  if (rc)
    return rc;

  size_t mark = out->len;
  rc = sipr_buf_append_str(out, SIPR_STR("Digest username="));
  if (!rc)
    rc = sipr__auth_print_quoted(out, sipr_str_cstr(user));
  if (!rc)
    rc = sipr_buf_append_str(out, SIPR_STR(", realm="));
  if (!rc)
    rc = print_echo(out, ch->realm);
  if (!rc)
    rc = sipr_buf_append_str(out, SIPR_STR(", nonce="));
  if (!rc)
    rc = print_echo(out, ch->nonce);
  if (!rc)
    rc = sipr_buf_append_str(out, SIPR_STR(", uri="));
  if (!rc)
    rc = sipr__auth_print_quoted(out, uri);
  if (!rc)
    rc = sipr_buf_printf(out, ", response=\"%s\", algorithm=%s", resp,
                         sipr_auth_alg_name(alg));
  if (!rc && use_qop) {
    rc = sipr_buf_append_str(out, SIPR_STR(", cnonce="));
    if (!rc)
      rc = sipr__auth_print_quoted(out, sipr_str_cstr(cnonce));
  }
  if (!rc && ch->opaque.p) {
    rc = sipr_buf_append_str(out, SIPR_STR(", opaque="));
    if (!rc)
      rc = print_echo(out, ch->opaque);
  }
  if (!rc && use_qop)
    rc = sipr_buf_printf(out, ", qop=auth, nc=%s", ncs);
  if (rc) {
    out->len = mark; /* nothing half-written; failed stays set */
    return rc;
  }
  return 0;
}
