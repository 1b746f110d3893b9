/* Shared helpers of the syntax layer's sources (not public). */
#ifndef SIPR_SYNTAX_INTERNAL_H
#define SIPR_SYNTAX_INTERNAL_H

#include "sipr/msg.h"

/* Character classes of RFC 3261 §25.1. */
#define SIPR_C_TOKEN 0x01  /* token */
#define SIPR_C_WORD 0x02   /* word (Call-ID) */
#define SIPR_C_ALNUM 0x04
#define SIPR_C_HOST 0x08   /* hostname/IPv4/IPv6 characters, no brackets */
#define SIPR_C_WS 0x10     /* SP / HTAB */
#define SIPR_C_HOSTX 0x20  /* ':' '[' ']': host values beside token chars */
#define SIPR_C_LWS 0x40    /* SP / HTAB / CR / LF (inside a folded value) */
extern const unsigned char sipr__ctype[256];

static inline int sipr__is(unsigned char c, unsigned cls) {
  return (sipr__ctype[c] & cls) != 0;
}

/* The lexer walks [p, end) of one header value. Offsets in errors are
 * relative to base (the start of the message), so they name a byte of
 * the input. */
typedef struct sipr_lex {
  const char *p, *end, *base;
  const char *where;
  sipr_perr_t *err;
} sipr_lex_t;

/* The header table (msg.c), indexed by sipr_hdr_type_t. */
extern const sipr_hdr_info_t sipr__hdr_table[SIPR_HDR__COUNT];

/* Whether a request's top Via is good enough to send a response to: its
 * sent-protocol and sent-by parse, even if its parameters do not. */
int sipr__via_answerable(sipr_msg_t *m);

#endif
