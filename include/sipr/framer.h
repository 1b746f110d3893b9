/*
 * Stream framing for SIP over TCP/TLS (§18.3, §7.5) with CRLF keep-alives
 * (RFC 5626 §3.5.1). Resumable: bytes may arrive in any split; the framer
 * remembers how far it looked so no byte is scanned twice for the end of
 * the headers. Typical use by a connection:
 *
 *   n = read(fd, tmp, sizeof tmp);          (at most max_msg bytes)
 *   sipr_framer_feed(&f, tmp, n);
 *   while ((rc = sipr_framer_next(&f, &p, &len)) >= 0) { ...frame... }
 *   if (rc != SIPR_EAGAIN) close the connection (f.err says why)
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

/* max_msg given as 0 means this. */
#define SIPR_FRAMER_DEFAULT_MAX 65535

typedef struct sipr_framer {
  char *buf;          /* owned: buf[start..len) not yet handed out */
  size_t len, cap;
  size_t start;       /* offset of the current frame in buf */
  size_t max_msg;     /* cap on one message (headers + body) */
  size_t scan;        /* bytes after start already scanned for CRLFCRLF */
  size_t hdr_end;     /* header block length (incl. CRLFCRLF) once found, else 0 */
  size_t msg_len;     /* total length once Content-Length is known, else 0 */
  size_t consumed;    /* length of the frame handed out last; dropped by the
                         next call to sipr_framer_next() or _feed() */
  int pong_wait;      /* set by the owner after it sent a ping: a lone CRLF
                         is then reported as a pong without waiting for the
                         next byte (cleared when the pong is reported) */
  sipr_perr_t err;    /* why the stream was refused */
  int failed;         /* a failed framer stays failed */
} sipr_framer_t;

/* Initialises f (no allocation). max_msg caps one message, header block
 * plus body; 0 selects SIPR_FRAMER_DEFAULT_MAX. */
void sipr_framer_init(sipr_framer_t *f, size_t max_msg);
/* Frees the buffer. f may be initialised again. */
void sipr_framer_free(sipr_framer_t *f);

/* Copies len bytes from the connection. Between two feeds, drain the
 * framer with sipr_framer_next() until SIPR_EAGAIN; then at most max_msg
 * bytes may be fed at once (the buffer never holds more than 2 * max_msg).
 * Returns 0, SIPR_ETOOBIG when the bytes buffered would exceed that bound,
 * SIPR_ENOMEM, SIPR_EINVAL; after any failure, the same code again. */
int sipr_framer_feed(sipr_framer_t *f, const char *p, size_t len);

/* Looks for the next frame in the buffered bytes. Returns SIPR_FRAME_MSG
 * with *msg and *len set to a whole message (valid until the next call to
 * sipr_framer_next() or sipr_framer_feed()), SIPR_FRAME_PING or
 * SIPR_FRAME_PONG for keep-alives (*msg and *len then cover the CRLFs),
 * SIPR_EAGAIN when more bytes are needed, or SIPR_EPARSE / SIPR_ETOOBIG
 * (missing or invalid Content-Length, a header block or message over the
 * cap): the connection should be closed; f->err says why, with an offset
 * relative to the start of the refused message. A message is not parsed
 * here beyond finding its Content-Length. Each returned frame is consumed
 * by the next call. */
int sipr_framer_next(sipr_framer_t *f, const char **msg, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
