#define SIPR_HEADER_LAYER 7
#include "sipr/layer.h"
/*
 * HTTP Digest authentication for SIP (RFC 3261 §22, RFC 7616, RFC 8760,
 * RFC 2617): MD5 and SHA-256 (and their -sess variants), qop=auth
 * (auth-int accepted when answered).
 *
 * Server side. A sipr_auth_server_t issues nonces that carry their own
 * issue time and a random salt, authenticated by an HMAC-SHA-256 over
 * (time, salt, realm, per-server boot id) with a secret key: validating a
 * nonce needs no table, so unanswered challenges cost no memory. Replays
 * are refused by remembering, for nonces that were answered correctly, the
 * highest nonce-count seen, in a fixed-size table (set-associative,
 * oldest nonce evicted). A nonce whose entry was evicted is answered STALE
 * instead of being accepted again, so eviction never opens a replay window;
 * under a flood, honest clients at worst re-challenge silently.
 *
 * The server never sees passwords: the caller looks up HA1 =
 * H(username:realm:password) for the credentials' username, realm and base
 * algorithm (sipr_auth_ha1() computes what to store).
 *
 * Client side: sipr_auth_client_answer() prints the Authorization /
 * Proxy-Authorization value answering a parsed challenge.
 *
 * Times: now_ms is any millisecond clock that does not go backwards
 * (sipr_loop_now(), CLOCK_MONOTONIC): nonces only need to be valid within
 * one server's lifetime (the boot id changes at every start anyway).
 *
 * Thread safety: one server may be shared by every worker; challenge and
 * verify may run concurrently (the nonce-count table has striped locks).
 */
#ifndef SIPR_AUTH_H
#define SIPR_AUTH_H

#include "sipr/base.h"
#include "sipr/msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- algorithms ---------------------------------------------------------*/
typedef enum sipr_auth_alg {
  SIPR_AUTH_ALG_UNKNOWN = 0,
  SIPR_AUTH_MD5,
  SIPR_AUTH_MD5_SESS,
  SIPR_AUTH_SHA256,
  SIPR_AUTH_SHA256_SESS,
} sipr_auth_alg_t;

/* Hex digest length + NUL of the largest algorithm (SHA-256). */
#define SIPR_AUTH_HEX_MAX 65

/* "MD5", "MD5-sess", "SHA-256", "SHA-256-sess"; NULL for UNKNOWN. */
const char *sipr_auth_alg_name(sipr_auth_alg_t alg);
/* Case-insensitive. An absent parameter (NULL or empty slice) means MD5
 * (RFC 7616 §3.3). Anything else unknown: SIPR_AUTH_ALG_UNKNOWN. */
sipr_auth_alg_t sipr_auth_alg_from_str(sipr_str_t s);
/* The algorithm whose HA1 is stored for alg: MD5 for MD5 and MD5-sess,
 * SHA-256 for SHA-256 and SHA-256-sess. */
sipr_auth_alg_t sipr_auth_alg_base(sipr_auth_alg_t alg);
/* Length of a hex digest of alg: 32 (MD5) or 64 (SHA-256); 0 if unknown. */
size_t sipr_auth_alg_hex_len(sipr_auth_alg_t alg);

/* HA1 = H(user ":" realm ":" password) in lower-case hex, NUL-terminated,
 * for the base algorithm of alg (what `sipr user add` stores, one per
 * algorithm). user and realm are the unquoted values. 0 or SIPR_EINVAL. */
int sipr_auth_ha1(sipr_auth_alg_t alg, const char *user, const char *realm,
                  const char *password, char out_hex[SIPR_AUTH_HEX_MAX]);

/* Copies a parsed quoted value (sipr_auth_t fields keep quoted-pairs as
 * written) into out with quoted-pairs resolved, NUL-terminated. Returns
 * the length, or SIPR_ETOOBIG when it does not fit in cap (incl. NUL).
 * Use it for the username to look HA1 up with. */
int sipr_auth_unquote(sipr_str_t in, char *out, size_t cap);

/* ---- server --------------------------------------------------------------*/
typedef struct sipr_auth_server sipr_auth_server_t;

typedef struct sipr_auth_config {
  /* Realms served (copied). None: any realm the caller challenges with is
   * accepted (the nonce is bound to its realm by the HMAC either way). */
  const char *const *realms;
  size_t nrealms;
  /* Secret key for nonce HMACs (copied). NULL: 32 bytes from RAND_bytes. */
  const unsigned char *key;
  size_t key_len;
  /* Nonce lifetime in seconds; 0: 300. */
  unsigned nonce_lifetime;
  /* Algorithms offered, in order of preference; NULL: SHA-256 then MD5.
   * Only these are accepted in credentials. At most 4. */
  const sipr_auth_alg_t *algs;
  size_t nalgs;
  /* Nonce-count table entries (rounded up to a power of two, at least 4);
   * 0: 65536. The table is allocated once and never grows. */
  size_t nc_slots;
} sipr_auth_config_t;

/* Creates a server (cfg NULL: every default). 0, SIPR_ENOMEM, SIPR_EINVAL
 * (bad algorithm list, realm with CR/LF/NUL), SIPR_EIO (no randomness). */
int sipr_auth_server_new(const sipr_auth_config_t *cfg,
                         sipr_auth_server_t **out);
void sipr_auth_server_free(sipr_auth_server_t *srv);
/* Adds a realm (copied) after creation. Not thread-safe against concurrent
 * challenge/verify. 0, SIPR_ENOMEM, SIPR_EINVAL. */
int sipr_auth_server_add_realm(sipr_auth_server_t *srv, const char *realm);
/* 1 when realm (unquoted, exact, case-sensitive) is served. */
int sipr_auth_server_has_realm(const sipr_auth_server_t *srv,
                               sipr_str_t realm);

typedef struct sipr_auth_stats {
  size_t nc_slots;      /* table capacity (fixed) */
  size_t nc_used;       /* entries holding a nonce */
  uint64_t nc_evictions;/* live entries overwritten */
  uint64_t nonces_issued;
} sipr_auth_stats_t;
void sipr_auth_server_stats(sipr_auth_server_t *srv, sipr_auth_stats_t *st);

/* Appends ONE challenge value for realm and algorithm alg (which must be
 * offered; SIPR_AUTH_ALG_UNKNOWN: the first offered):
 *   Digest realm="..", nonce="..", opaque="..", algorithm=SHA-256,
 *   qop="auth"[, stale=true]
 * The caller puts it in WWW-Authenticate (401) or Proxy-Authenticate
 * (407). 0, SIPR_ENOMEM, SIPR_ENOENT (realm not served), SIPR_EINVAL. */
int sipr_auth_challenge(sipr_auth_server_t *srv, sipr_str_t realm,
                        sipr_auth_alg_t alg, int stale, uint64_t now_ms,
                        sipr_buf_t *out);
/* Appends full header lines "hname: <challenge>\r\n", one per offered
 * algorithm in order of preference, all with one fresh nonce. hname is
 * "WWW-Authenticate" or "Proxy-Authenticate". The result can be passed as
 * `extra` to sipr_print_response(). Same returns as sipr_auth_challenge. */
int sipr_auth_challenge_lines(sipr_auth_server_t *srv, const char *hname,
                              sipr_str_t realm, int stale, uint64_t now_ms,
                              sipr_buf_t *out);

typedef enum sipr_auth_result {
  SIPR_AUTH_OK = 0,
  SIPR_AUTH_NO_CREDENTIALS,     /* NULL, or not the Digest scheme: challenge */
  SIPR_AUTH_BAD_REQUEST,        /* required field missing or malformed:
                                   400 (or challenge again) */
  SIPR_AUTH_UNKNOWN_REALM,      /* realm not served: challenge */
  SIPR_AUTH_BAD_NONCE,          /* nonce not issued by this server (forged,
                                   altered, from an earlier run) or opaque
                                   altered: challenge, stale=false */
  SIPR_AUTH_STALE,              /* response correct but the nonce expired or
                                   fell out of the nc table: challenge with
                                   stale=true */
  SIPR_AUTH_REPLAY,             /* nc not above the highest seen for this
                                   nonce: refuse (403 or challenge) */
  SIPR_AUTH_BAD_RESPONSE,       /* wrong password / unknown user: challenge
                                   (or 403 after too many) */
  SIPR_AUTH_UNSUPPORTED_ALGORITHM, /* algorithm not offered: challenge */
} sipr_auth_result_t;

/* Static name of a result ("OK", "STALE", ...). */
const char *sipr_auth_result_name(sipr_auth_result_t r);

/* Verifies credentials (cred: a parsed Authorization or
 * Proxy-Authorization value, borrowed) for a request with method (as in
 * the request line; for ACK/CANCEL too) and body (used only when the
 * client answered qop=auth-int; NULL slice = empty).
 *
 * ha1_hex: the stored HA1 (hex, either case) for the unquoted username
 * (sipr_auth_unquote(cred->username)), cred->realm and
 * sipr_auth_alg_base(sipr_auth_alg_from_str(cred->algorithm)); NULL when
 * there is no such user: every check still runs and the result is
 * BAD_RESPONSE, so unknown users look like wrong passwords.
 *
 * Checks in order: scheme Digest (NO_CREDENTIALS); username, realm, nonce,
 * uri, response present, qop auth/auth-int with cnonce and nc (8 hex
 * digits, not 0) (BAD_REQUEST); realm served (UNKNOWN_REALM); algorithm
 * offered (UNSUPPORTED_ALGORITHM); nonce authentic and for this realm,
 * opaque as issued when present (BAD_NONCE); response (BAD_RESPONSE,
 * compared in constant time); nonce age (STALE); nonce-count above the
 * highest seen for this nonce (REPLAY; an entry that was evicted gives
 * STALE). Only a correct response updates the nonce-count table, so forged
 * requests cannot burn a client's counts. Checking that cred->uri matches
 * the Request-URI is the caller's business (§22.4 leaves it to policy). */
sipr_auth_result_t sipr_auth_verify(sipr_auth_server_t *srv,
                                    const sipr_auth_t *cred,
                                    sipr_str_t method, const char *ha1_hex,
                                    uint64_t now_ms, sipr_str_t body);

/* ---- client --------------------------------------------------------------*/
/* Among the challenges of type type (SIPR_HDR_WWW_AUTHENTICATE or
 * SIPR_HDR_PROXY_AUTHENTICATE) in resp, the one to answer: Digest, a
 * supported algorithm, qop absent or offering auth; SHA-256 preferred over
 * MD5, plain over -sess, earlier over later. NULL when none fits. The
 * result lives in resp's arena. */
const sipr_auth_t *sipr_auth_client_pick(sipr_msg_t *resp,
                                         sipr_hdr_type_t type);

/* Appends the credentials value answering challenge (borrowed):
 *   Digest username="..", realm="..", nonce="..", uri="..",
 *   response="..", algorithm=X, cnonce="..", opaque="..", qop=auth,
 *   nc=0000000N
 * (opaque echoed when the challenge had one; qop/cnonce/nc omitted when the
 * challenge offered no qop, RFC 2069 style). The secret is password, or,
 * when password is NULL, ha1_hex (HA1 of the challenge's base algorithm).
 * nc counts the requests made with this nonce (1 first). cnonce NULL: a
 * random one. method is the request's method, uri its Request-URI.
 * 0, SIPR_ENOMEM, SIPR_EINVAL (unsupported algorithm or qop, no secret, a
 * value that cannot be quoted, nc 0), SIPR_EIO (no randomness). */
int sipr_auth_client_answer(const sipr_auth_t *challenge, sipr_str_t method,
                            sipr_str_t uri, const char *user,
                            const char *password, const char *ha1_hex,
                            uint32_t nc, const char *cnonce,
                            sipr_buf_t *out);

#ifdef __cplusplus
}
#endif
#endif
