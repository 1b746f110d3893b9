/*
 * auth layer internals shared by digest.c and server.c (and the unit
 * tests): hashing of ':'-joined parts and the response computation.
 */
#ifndef SIPR_AUTH_INTERNAL_H
#define SIPR_AUTH_INTERNAL_H

#include "sipr/auth.h"

/* Caps on credential fields we hash (input controls them). */
#define SIPR__AUTH_FIELD_MAX 1024

/* hex = H(parts[0] ":" parts[1] ":" ...), lower-case, NUL-terminated.
 * 0 or SIPR_EINVAL (unknown algorithm) / SIPR_ENOMEM. */
int sipr__auth_hash(sipr_auth_alg_t alg, const sipr_str_t *parts, size_t n,
                    char hex[SIPR_AUTH_HEX_MAX]);

/* The request-digest (RFC 7616 §3.4.1, RFC 2617 §3.2.2.1). ha1 is the
 * stored HA1 of the base algorithm (lower-case hex); for -sess it is
 * turned into H(HA1:nonce:cnonce) here. qop may be a NULL slice (RFC 2069
 * form); "auth-int" hashes body into HA2. nonce, cnonce and uri are the
 * unquoted values. */
int sipr__auth_response(sipr_auth_alg_t alg, sipr_str_t ha1, sipr_str_t nonce,
                        sipr_str_t nc, sipr_str_t cnonce, sipr_str_t qop,
                        sipr_str_t method, sipr_str_t uri, sipr_str_t body,
                        char out[SIPR_AUTH_HEX_MAX]);

/* Appends a quoted-string "..." escaping '"' and '\'. SIPR_EINVAL for CR,
 * LF or NUL (sets b->failed like the other printers). */
int sipr__auth_print_quoted(sipr_buf_t *b, sipr_str_t s);

/* Lower-cases a hex string of exactly len hex digits into out (len + 1
 * bytes). 0, or -1 when s is not len hex digits. */
int sipr__auth_hex_lower(sipr_str_t s, size_t len, char *out);

#endif
