/*
 * Digest server side (RFC 3261 §22.4, RFC 7616 §3.3-3.5): stateless
 * nonces authenticated by an HMAC, verification, and a bounded
 * nonce-count table against replays.
 *
 * Nonce (64 lower-case hex digits) = hex(ts[8] salt[8] mac[16]):
 *   ts   issue time, ms, big-endian (the caller's clock)
 *   salt a per-server counter, so every challenge gets its own nonce and
 *        nonce-counts of two clients never share an entry
 *   mac  HMAC-SHA-256(key, "N" ts salt boot realm), first 16 bytes
 * opaque = hex(HMAC-SHA-256(key, "O" boot realm))[0..8 bytes].
 */
#include "auth_internal.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define NONCE_BIN 32
#define NONCE_HEX (2 * NONCE_BIN)
#define MAC_LEN 16
#define OPAQUE_BIN 8
#define KEY_MAX 64
#define BOOT_LEN 16
#define MAX_ALGS 4
#define WAYS 4
#define NLOCKS 64
#define DEFAULT_LIFETIME 300
#define DEFAULT_SLOTS 65536
#define REALM_MAX 512

typedef struct nc_entry {
  unsigned char id[MAC_LEN]; /* the nonce's mac: unique per nonce */
  uint64_t ts;               /* the nonce's issue time (ms) */
  uint32_t nc;               /* highest nonce-count accepted */
  uint32_t used;
} nc_entry_t;

typedef struct nc_set {
  nc_entry_t e[WAYS];
  /* Highest issue time of a live nonce evicted from this set: a nonce not
   * found here and issued no later may have been answered before. */
  uint64_t evicted_ts;
} nc_set_t;

struct sipr_auth_server {
  unsigned char key[KEY_MAX];
  size_t key_len;
  unsigned char boot[BOOT_LEN];
  char **realms;
  size_t nrealms, realms_cap;
  uint64_t lifetime_ms;
  sipr_auth_alg_t algs[MAX_ALGS];
  size_t nalgs;
  nc_set_t *sets;
  size_t nsets; /* power of two */
  pthread_mutex_t locks[NLOCKS];
  atomic_uint_fast64_t salt;
  atomic_size_t nc_used;
  atomic_uint_fast64_t evictions;
};

/* ---- setup --------------------------------------------------------------*/
static int realm_ok(const char *r) {
  size_t n = strlen(r);
  if (!n || n > REALM_MAX)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (r[i] == '\r' || r[i] == '\n')
      return 0;
  return 1;
}

int sipr_auth_server_add_realm(sipr_auth_server_t *srv, const char *realm) {
  if (!srv || !realm || !realm_ok(realm))
    return SIPR_EINVAL;
  if (sipr_auth_server_has_realm(srv, sipr_str_cstr(realm)))
    return 0;
  if (srv->nrealms == srv->realms_cap) {
    size_t cap = srv->realms_cap ? 2 * srv->realms_cap : 4;
    char **r = realloc(srv->realms, cap * sizeof(*r));
    if (!r)
      return SIPR_ENOMEM;
    srv->realms = r;
    srv->realms_cap = cap;
  }
  size_t n = strlen(realm);
  char *c = malloc(n + 1);
  if (!c)
    return SIPR_ENOMEM;
  memcpy(c, realm, n + 1);
  srv->realms[srv->nrealms++] = c;
  return 0;
}

int sipr_auth_server_has_realm(const sipr_auth_server_t *srv,
                               sipr_str_t realm) {
  if (!srv)
    return 0;
  for (size_t i = 0; i < srv->nrealms; i++)
    if (sipr_str_eq(realm, sipr_str_cstr(srv->realms[i])))
      return 1;
  return 0;
}

int sipr_auth_server_new(const sipr_auth_config_t *cfg,
                         sipr_auth_server_t **out) {
  static const sipr_auth_config_t defaults = {0};
  if (!out)
    return SIPR_EINVAL;
  *out = NULL;
  if (!cfg)
    cfg = &defaults;
  if (cfg->nalgs > MAX_ALGS || (cfg->algs && !cfg->nalgs) ||
      (cfg->key && (!cfg->key_len || cfg->key_len > KEY_MAX)) ||
      (cfg->nrealms && !cfg->realms))
    return SIPR_EINVAL;
  for (size_t i = 0; cfg->algs && i < cfg->nalgs; i++)
    if (!sipr_auth_alg_hex_len(cfg->algs[i]))
      return SIPR_EINVAL;

  sipr_auth_server_t *s = calloc(1, sizeof(*s));
  if (!s)
    return SIPR_ENOMEM;
  for (int i = 0; i < NLOCKS; i++)
    pthread_mutex_init(&s->locks[i], NULL);
  int rc = 0;
  if (cfg->key) {
    memcpy(s->key, cfg->key, cfg->key_len);
    s->key_len = cfg->key_len;
  } else {
    s->key_len = 32;
    if (RAND_bytes(s->key, (int)s->key_len) != 1)
      rc = SIPR_EIO;
  }
  if (!rc && RAND_bytes(s->boot, BOOT_LEN) != 1)
    rc = SIPR_EIO;
  s->lifetime_ms =
      1000ull * (cfg->nonce_lifetime ? cfg->nonce_lifetime : DEFAULT_LIFETIME);
  if (cfg->algs) {
    memcpy(s->algs, cfg->algs, cfg->nalgs * sizeof(cfg->algs[0]));
    s->nalgs = cfg->nalgs;
  } else {
    s->algs[0] = SIPR_AUTH_SHA256;
    s->algs[1] = SIPR_AUTH_MD5;
    s->nalgs = 2;
  }
  size_t slots = cfg->nc_slots ? cfg->nc_slots : DEFAULT_SLOTS;
  if (slots > ((size_t)1 << 26))
    rc = rc ? rc : SIPR_EINVAL;
  s->nsets = 1;
  while (s->nsets * WAYS < slots)
    s->nsets <<= 1;
  if (!rc) {
    s->sets = calloc(s->nsets, sizeof(*s->sets));
    if (!s->sets)
      rc = SIPR_ENOMEM;
  }
  for (size_t i = 0; !rc && i < cfg->nrealms; i++)
    rc = cfg->realms[i] ? sipr_auth_server_add_realm(s, cfg->realms[i])
                        : SIPR_EINVAL;
  atomic_init(&s->salt, 0);
  atomic_init(&s->nc_used, 0);
  atomic_init(&s->evictions, 0);
  if (rc) {
    sipr_auth_server_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

void sipr_auth_server_free(sipr_auth_server_t *srv) {
  if (!srv)
    return;
  for (size_t i = 0; i < srv->nrealms; i++)
    free(srv->realms[i]);
  free(srv->realms);
  free(srv->sets);
  for (int i = 0; i < NLOCKS; i++)
    pthread_mutex_destroy(&srv->locks[i]);
  OPENSSL_cleanse(srv->key, sizeof(srv->key));
  free(srv);
}

void sipr_auth_server_stats(sipr_auth_server_t *srv, sipr_auth_stats_t *st) {
  memset(st, 0, sizeof(*st));
  if (!srv)
    return;
  st->nc_slots = srv->nsets * WAYS;
  st->nc_used = atomic_load(&srv->nc_used);
  st->nc_evictions = atomic_load(&srv->evictions);
  st->nonces_issued = atomic_load(&srv->salt);
}

/* ---- nonces -------------------------------------------------------------*/
static const char hexdig[] = "0123456789abcdef";

static void to_hex(const unsigned char *b, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hexdig[b[i] >> 4];
    out[2 * i + 1] = hexdig[b[i] & 15];
  }
  out[2 * n] = '\0';
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = (char)sipr_lower((unsigned char)c);
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

static void put_be64(unsigned char *p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8)
    p[i] = (unsigned char)v;
}

static uint64_t get_be64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = (v << 8) | p[i];
  return v;
}

/* HMAC-SHA-256(key, tag boot [data] realm) truncated to outlen. */
static int mac(const sipr_auth_server_t *srv, char tag,
               const unsigned char *data, size_t dlen, sipr_str_t realm,
               unsigned char *outp, size_t outlen) {
  unsigned char in[1 + BOOT_LEN + 16 + REALM_MAX];
  if (dlen > 16 || realm.len > REALM_MAX)
    return -1;
  size_t n = 0;
  in[n++] = (unsigned char)tag;
  memcpy(in + n, srv->boot, BOOT_LEN);
  n += BOOT_LEN;
  if (dlen)
    memcpy(in + n, data, dlen);
  n += dlen;
  if (realm.len)
    memcpy(in + n, realm.p, realm.len);
  n += realm.len;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned mdlen = 0;
  if (!HMAC(EVP_sha256(), srv->key, (int)srv->key_len, in, n, md, &mdlen) ||
      mdlen < outlen)
    return -1;
  memcpy(outp, md, outlen);
  OPENSSL_cleanse(md, sizeof(md));
  return 0;
}

static int make_nonce(sipr_auth_server_t *srv, sipr_str_t realm,
                      uint64_t now_ms, char out[NONCE_HEX + 1]) {
  unsigned char b[NONCE_BIN];
  put_be64(b, now_ms);
  put_be64(b + 8, atomic_fetch_add(&srv->salt, 1) + 1);
  if (mac(srv, 'N', b, 16, realm, b + 16, MAC_LEN))
    return SIPR_EINVAL;
  to_hex(b, NONCE_BIN, out);
  return 0;
}

static int make_opaque(const sipr_auth_server_t *srv, sipr_str_t realm,
                       char out[2 * OPAQUE_BIN + 1]) {
  unsigned char b[OPAQUE_BIN];
  if (mac(srv, 'O', NULL, 0, realm, b, OPAQUE_BIN))
    return SIPR_EINVAL;
  to_hex(b, OPAQUE_BIN, out);
  return 0;
}

/* 0 and the decoded nonce when it is ours and for realm; -1 otherwise. */
static int check_nonce(const sipr_auth_server_t *srv, sipr_str_t nonce,
                       sipr_str_t realm, unsigned char b[NONCE_BIN]) {
  if (nonce.len != NONCE_HEX)
    return -1;
  for (size_t i = 0; i < NONCE_BIN; i++) {
    int hi = hexval(nonce.p[2 * i]), lo = hexval(nonce.p[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return -1;
    b[i] = (unsigned char)(hi << 4 | lo);
  }
  unsigned char m[MAC_LEN];
  if (mac(srv, 'N', b, 16, realm, m, MAC_LEN))
    return -1;
  return CRYPTO_memcmp(m, b + 16, MAC_LEN) ? -1 : 0;
}

/* ---- challenges ---------------------------------------------------------*/
static int alg_offered(const sipr_auth_server_t *srv, sipr_auth_alg_t a) {
  for (size_t i = 0; i < srv->nalgs; i++)
    if (srv->algs[i] == a)
      return 1;
  return 0;
}

static int realm_served(const sipr_auth_server_t *srv, sipr_str_t realm) {
  return !srv->nrealms || sipr_auth_server_has_realm(srv, realm);
}

static int print_challenge(sipr_auth_server_t *srv, sipr_str_t realm,
                           sipr_auth_alg_t alg, int stale, const char *nonce,
                           const char *opaque, sipr_buf_t *out) {
  int rc = sipr_buf_append_str(out, SIPR_STR("Digest realm="));
  if (!rc)
    rc = sipr__auth_print_quoted(out, realm);
  if (!rc)
    rc = sipr_buf_printf(out,
                         ", nonce=\"%s\", opaque=\"%s\", algorithm=%s, "
                         "qop=\"auth\"%s",
                         nonce, opaque, sipr_auth_alg_name(alg),
                         stale ? ", stale=true" : "");
  return rc;
}

static int challenge_check(sipr_auth_server_t *srv, sipr_str_t realm,
                           sipr_buf_t *out) {
  if (!srv || !out || !realm.p || !realm.len || realm.len > REALM_MAX)
    return SIPR_EINVAL;
  if (!realm_served(srv, realm))
    return SIPR_ENOENT;
  return 0;
}

int sipr_auth_challenge(sipr_auth_server_t *srv, sipr_str_t realm,
                        sipr_auth_alg_t alg, int stale, uint64_t now_ms,
                        sipr_buf_t *out) {
  int rc = challenge_check(srv, realm, out);
  if (rc)
    return rc;
  if (alg == SIPR_AUTH_ALG_UNKNOWN)
    alg = srv->algs[0];
  if (!alg_offered(srv, alg))
    return SIPR_EINVAL;
  char nonce[NONCE_HEX + 1], opaque[2 * OPAQUE_BIN + 1];
  if ((rc = make_nonce(srv, realm, now_ms, nonce)) ||
      (rc = make_opaque(srv, realm, opaque)))
    return rc;
  size_t mark = out->len;
  rc = print_challenge(srv, realm, alg, stale, nonce, opaque, out);
  if (rc)
    out->len = mark;
  return rc;
}

int sipr_auth_challenge_lines(sipr_auth_server_t *srv, const char *hname,
                              sipr_str_t realm, int stale, uint64_t now_ms,
                              sipr_buf_t *out) {
  int rc = challenge_check(srv, realm, out);
  if (rc)
    return rc;
  if (!hname || !*hname)
    return SIPR_EINVAL;
  for (const char *p = hname; *p; p++)
    if (*p == ':' || *p == ' ' || *p == '\r' || *p == '\n')
      return SIPR_EINVAL;
  char nonce[NONCE_HEX + 1], opaque[2 * OPAQUE_BIN + 1];
  if ((rc = make_nonce(srv, realm, now_ms, nonce)) ||
      (rc = make_opaque(srv, realm, opaque)))
    return rc;
  size_t mark = out->len;
  for (size_t i = 0; !rc && i < srv->nalgs; i++) {
    rc = sipr_buf_printf(out, "%s: ", hname);
    if (!rc)
      rc = print_challenge(srv, realm, srv->algs[i], stale, nonce, opaque,
                           out);
    if (!rc)
      rc = sipr_buf_append_str(out, SIPR_STR("\r\n"));
  }
  if (rc)
    out->len = mark;
  return rc;
}

/* ---- verification -------------------------------------------------------*/
const char *sipr_auth_result_name(sipr_auth_result_t r) {
  static const char *const names[] = {
      [SIPR_AUTH_OK] = "OK",
      [SIPR_AUTH_NO_CREDENTIALS] = "NO_CREDENTIALS",
      [SIPR_AUTH_BAD_REQUEST] = "BAD_REQUEST",
      [SIPR_AUTH_UNKNOWN_REALM] = "UNKNOWN_REALM",
      [SIPR_AUTH_BAD_NONCE] = "BAD_NONCE",
      [SIPR_AUTH_STALE] = "STALE",
      [SIPR_AUTH_REPLAY] = "REPLAY",
      [SIPR_AUTH_BAD_RESPONSE] = "BAD_RESPONSE",
      [SIPR_AUTH_UNSUPPORTED_ALGORITHM] = "UNSUPPORTED_ALGORITHM",
  };
  if ((unsigned)r >= sizeof(names) / sizeof(names[0]))
    return "?";
  return names[r];
}

/* nc = 8LHEX (RFC 7616 §3.4), not 0. */
static int parse_nc(sipr_str_t s, uint32_t *out) {
  if (s.len != 8)
    return -1;
  uint32_t v = 0;
  for (size_t i = 0; i < 8; i++) {
    int d = hexval(s.p[i]);
    if (d < 0)
      return -1;
    v = v << 4 | (uint32_t)d;
  }
  if (!v)
    return -1;
  *out = v;
  return 0;
}

/* Records nc for the nonce (b = decoded nonce). */
static sipr_auth_result_t nc_check(sipr_auth_server_t *srv,
                                   const unsigned char b[NONCE_BIN],
                                   uint32_t nc, uint64_t now_ms) {
  const unsigned char *id = b + 16;
  uint64_t ts = get_be64(b);
  uint64_t h = get_be64(id); /* mac bytes: uniform */
  size_t si = (size_t)(h & (srv->nsets - 1));
  nc_set_t *set = &srv->sets[si];
  pthread_mutex_t *lk = &srv->locks[si % NLOCKS];
  sipr_auth_result_t r = SIPR_AUTH_OK;

  pthread_mutex_lock(lk);
  nc_entry_t *hit = NULL, *victim = NULL;
  for (int w = 0; w < WAYS; w++) {
    nc_entry_t *e = &set->e[w];
    if (e->used && !memcmp(e->id, id, MAC_LEN)) {
      hit = e;
      break;
    }
  }
  if (hit) {
    if (nc <= hit->nc)
      r = SIPR_AUTH_REPLAY;
    else
      hit->nc = nc;
  } else if (ts <= set->evicted_ts) {
    /* It may have been answered before and forgotten: ask for a fresh
     * nonce rather than accept a possible replay. */
    r = SIPR_AUTH_STALE;
  } else {
    /* Free way, else an expired nonce (its requests are STALE by age
     * anyway: evicting it needs no watermark), else the oldest nonce. */
    for (int w = 0; w < WAYS && !victim; w++)
      if (!set->e[w].used)
        victim = &set->e[w];
    if (victim) {
      atomic_fetch_add(&srv->nc_used, 1);
    } else {
      for (int w = 0; w < WAYS; w++) {
        nc_entry_t *e = &set->e[w];
        if (now_ms > e->ts && now_ms - e->ts > srv->lifetime_ms) {
          victim = e;
          break;
        }
        if (!victim || e->ts < victim->ts)
          victim = e;
      }
      if (!(now_ms > victim->ts && now_ms - victim->ts > srv->lifetime_ms)) {
        if (victim->ts > set->evicted_ts)
          set->evicted_ts = victim->ts;
        atomic_fetch_add(&srv->evictions, 1);
      }
    }
    memcpy(victim->id, id, MAC_LEN);
    victim->ts = ts;
    victim->nc = nc;
    victim->used = 1;
  }
  pthread_mutex_unlock(lk);
  return r;
}

sipr_auth_result_t sipr_auth_verify(sipr_auth_server_t *srv,
                                    const sipr_auth_t *cred,
                                    sipr_str_t method, const char *ha1_hex,
                                    uint64_t now_ms, sipr_str_t body) {
  if (!cred || !SIPR_STR_CASEEQ_LIT(cred->scheme, "Digest"))
    return SIPR_AUTH_NO_CREDENTIALS;
  if (!srv || !method.len)
    return SIPR_AUTH_BAD_REQUEST;

  /* Required fields (§22.4, RFC 7616 §3.4). */
  if (!cred->username.p || !cred->realm.p || !cred->nonce.p ||
      !cred->uri.p || !cred->response.p || !cred->qop.p ||
      !cred->cnonce.p || !cred->nc.p)
    return SIPR_AUTH_BAD_REQUEST;
  if (!SIPR_STR_CASEEQ_LIT(cred->qop, "auth") &&
      !SIPR_STR_CASEEQ_LIT(cred->qop, "auth-int"))
    return SIPR_AUTH_BAD_REQUEST;
  uint32_t nc;
  if (parse_nc(cred->nc, &nc))
    return SIPR_AUTH_BAD_REQUEST;
  char realm[REALM_MAX + 1], nonce[NONCE_HEX + 2];
  char uri[SIPR__AUTH_FIELD_MAX], cnonce[SIPR__AUTH_FIELD_MAX];
  int rl = sipr_auth_unquote(cred->realm, realm, sizeof(realm));
  int nl = sipr_auth_unquote(cred->nonce, nonce, sizeof(nonce));
  int ul = sipr_auth_unquote(cred->uri, uri, sizeof(uri));
  int cl = sipr_auth_unquote(cred->cnonce, cnonce, sizeof(cnonce));
  if (ul <= 0 || cl <= 0 || rl < 0 || !cred->username.len)
    return SIPR_AUTH_BAD_REQUEST;
  sipr_str_t realm_s = sipr_str_make(realm, (size_t)(rl > 0 ? rl : 0));

  if (!rl || !realm_served(srv, realm_s))
    return SIPR_AUTH_UNKNOWN_REALM;

  sipr_auth_alg_t alg = sipr_auth_alg_from_str(cred->algorithm);
  if (alg == SIPR_AUTH_ALG_UNKNOWN || !alg_offered(srv, alg))
    return SIPR_AUTH_UNSUPPORTED_ALGORITHM;
  size_t hlen = sipr_auth_alg_hex_len(alg);
  char given[SIPR_AUTH_HEX_MAX];
  if (sipr__auth_hex_lower(cred->response, hlen, given))
    return SIPR_AUTH_BAD_REQUEST;

  /* Nonce ours, for this realm; opaque as issued. */
  unsigned char nb[NONCE_BIN];
  if (nl < 0 || check_nonce(srv, sipr_str_make(nonce, (size_t)nl), realm_s,
                            nb))
    return SIPR_AUTH_BAD_NONCE;
  if (cred->opaque.p) {
    char op[2 * OPAQUE_BIN + 1];
    if (make_opaque(srv, realm_s, op) ||
        !sipr_str_eq(cred->opaque, sipr_str_cstr(op)))
      return SIPR_AUTH_BAD_NONCE;
  }

  /* Response. A missing user is compared against a dummy HA1 so it costs
   * the same and reads as a wrong password. */
  char ha1[SIPR_AUTH_HEX_MAX];
  int have_user = ha1_hex &&
                  !sipr__auth_hex_lower(sipr_str_cstr(ha1_hex), hlen, ha1);
  if (!have_user) {
    memset(ha1, '0', hlen);
    ha1[hlen] = '\0';
  }
  char want[SIPR_AUTH_HEX_MAX];
  if (sipr__auth_response(alg, sipr_str_make(ha1, hlen),
                          sipr_str_make(nonce, (size_t)nl), cred->nc,
                          sipr_str_make(cnonce, (size_t)cl), cred->qop,
                          method, sipr_str_make(uri, (size_t)ul), body, want))
    return SIPR_AUTH_BAD_RESPONSE;
  int match = CRYPTO_memcmp(want, given, hlen) == 0;
  if (!match || !have_user)
    return SIPR_AUTH_BAD_RESPONSE;

  /* Age (RFC 7616 §3.3 stale). */
  uint64_t ts = get_be64(nb);
  if (now_ms > ts && now_ms - ts > srv->lifetime_ms)
    return SIPR_AUTH_STALE;

  /* Replays (RFC 7616 §3.4: nc). */
  return nc_check(srv, nb, nc, now_ms);
}
