/*
 * Stream framing for SIP over TCP/TLS/WS-less streams (§18.3, §7.5).
 * Resumable: bytes may arrive in any split; the framer remembers how far
 * it looked so no byte is scanned twice for the end of the headers.
 */
#define SIPR_HEADER_LAYER 1
#include "sipr/layer.h"

#ifndef SIPR_FRAMER_H
#define SIPR_FRAMER_H

#include "sipr/base.h"
#include "sipr/perr.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SIPR_FRAME_MSG 0       /* a whole message is ready */
#define SIPR_FRAME_PING 1      /* CRLFCRLF keep-alive: answer CRLF (RFC 5626 §3.5.1) */
#define SIPR_FRAME_PONG 2      /* a lone CRLF keep-alive answer */

typedef struct sipr_framer {
  char *buf;          /* owned: bytes not yet handed out */
  size_t len, cap;
  size_t max_msg;     /* cap on one message (headers + body) */
  size_t scan;        /* bytes already scanned for the end of headers */
  size_t hdr_end;     /* offset after CRLFCRLF once found, else 0 */
  size_t msg_len;     /* total length once Content-Length is known */
  size_t consumed;    /* bytes of the current frame handed out */
  sipr_perr_t err;    /* why the stream was refused */
  int failed;
} sipr_framer_t;

void sipr_framer_init(sipr_framer_t *f, size_t max_msg);
void sipr_framer_free(sipr_framer_t *f);

/* Appends len bytes from the connection. Returns 0, SIPR_ETOOBIG when the
 * bytes buffered would exceed the cap, SIPR_ENOMEM. */
int sipr_framer_feed(sipr_framer_t *f, const char *p, size_t len);

/* Looks for the next frame in the buffered bytes. Returns SIPR_FRAME_MSG
 * with *msg/*len set to a whole message (valid until the next call to
 * sipr_framer_next() or sipr_framer_feed()), SIPR_FRAME_PING or
 * SIPR_FRAME_PONG for keep-alives, SIPR_EAGAIN when more bytes are needed,
 * or SIPR_EPARSE / SIPR_ETOOBIG (missing or invalid Content-Length, a
 * message over the cap): the connection should be closed; f->err says why.
 * Each returned frame is consumed by the next call. */
int sipr_framer_next(sipr_framer_t *f, const char **msg, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
