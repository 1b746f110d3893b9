/*
 * Printing messages: building new ones from parts, and re-printing a
 * parsed message with recorded edits in one pass (the way a proxy
 * forwards, §16.6): untouched bytes are copied, never re-serialised.
 */
#define SIPR_HEADER_LAYER 1
#include "sipr/layer.h"

#ifndef SIPR_PRINT_H
#define SIPR_PRINT_H

#include "sipr/base.h"
#include "sipr/msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- building ----------------------------------------------------------
 * Append to a sipr_buf_t; each returns 0 or SIPR_ENOMEM (the buffer's
 * failed flag stays set, so a caller may check once at the end). */
int sipr_print_request_line(sipr_buf_t *b, sipr_str_t method, sipr_str_t ruri);
int sipr_print_status_line(sipr_buf_t *b, unsigned status, sipr_str_t reason);
/* "Name: value\r\n". */
int sipr_print_header(sipr_buf_t *b, const char *name, sipr_str_t value);
int sipr_print_header_fmt(sipr_buf_t *b, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Content-Length (and Content-Type when ctype is not a NULL slice), the
 * empty line, then the body. */
int sipr_print_body(sipr_buf_t *b, sipr_str_t ctype, sipr_str_t body);

/* The reason phrase RFC 3261 §21 gives a status code ("" if none). */
const char *sipr_reason_phrase(unsigned status);

/* Builds a response to req per §8.2.6: status line, every Via, From, To
 * (with to_tag added when To has no tag and to_tag is not NULL), Call-ID,
 * CSeq, then the caller's extra header lines (already "Name: v\r\n" text,
 * may be a NULL slice), Content-Length: 0 and the empty line. The request
 * must have passed sipr_msg_parse(); headers that are absent or malformed
 * are skipped rather than invented. */
int sipr_print_response(sipr_buf_t *b, sipr_msg_t *req, unsigned status,
                        const char *reason, sipr_str_t to_tag,
                        sipr_str_t extra);

/* ---- editing a parsed message ----------------------------------------- */
#define SIPR_EDITS_MAX 16

typedef struct sipr_edit {
  size_t off, len;     /* range of the original message to replace */
  sipr_str_t text;     /* replacement (borrowed; must outlive printing) */
  unsigned seq;        /* order among edits at the same offset */
} sipr_edit_t;

typedef struct sipr_edits {
  sipr_msg_t *msg;
  sipr_edit_t e[SIPR_EDITS_MAX];
  unsigned n;
  char mf_buf[16];     /* storage for the new Max-Forwards value */
} sipr_edits_t;

void sipr_edits_init(sipr_edits_t *ed, sipr_msg_t *m);
/* Adds a Via field above the first one. via_value is the field value
 * ("SIP/2.0/UDP host:port;branch=z9hG4bK..."); the text is borrowed. */
int sipr_edit_prepend_via(sipr_edits_t *ed, sipr_str_t via_line);
/* Removes the first Route value (the whole field when it holds one value).
 * SIPR_ENOENT when there is no Route. */
int sipr_edit_remove_top_route(sipr_edits_t *ed);
/* Replaces the Request-URI (requests only). */
int sipr_edit_set_ruri(sipr_edits_t *ed, sipr_str_t uri);
/* Decrements Max-Forwards, or adds "Max-Forwards: absent_value" when
 * absent (§16.6 step 3). SIPR_ERANGE when it is already 0. */
int sipr_edit_dec_max_forwards(sipr_edits_t *ed, unsigned absent_value);
/* Adds a Record-Route field above the existing ones (or after the Vias
 * when there are none). rr_value is the field value ("<sip:...;lr>"). */
int sipr_edit_add_record_route(sipr_edits_t *ed, sipr_str_t rr_value);
/* Adds a header field before the empty line ("Name: value"). */
int sipr_edit_add_header(sipr_edits_t *ed, const char *name, sipr_str_t value);
/* Prints the edited message into b in one pass. The header texts given by
 * the sipr_edit_* calls must still be alive. */
int sipr_edits_print(sipr_edits_t *ed, sipr_buf_t *b);

#ifdef __cplusplus
}
#endif
#endif
