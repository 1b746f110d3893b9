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
 * Append to a sipr_buf_t; each returns 0, SIPR_ENOMEM, or SIPR_EINVAL for
 * text that would break the message (CR or LF in a value, a header name
 * that is no token, a status outside 100..699). On any error the buffer's
 * failed flag is set and stays set, so a caller may check once at the end. */
/* "METHOD SP Request-URI SP SIP/2.0 CRLF" (§7.1). */
int sipr_print_request_line(sipr_buf_t *b, sipr_str_t method, sipr_str_t ruri);
/* "SIP/2.0 SP status SP reason CRLF" (§7.2); a NULL reason slice means
 * sipr_reason_phrase(status). */
int sipr_print_status_line(sipr_buf_t *b, unsigned status, sipr_str_t reason);
/* "Name: value\r\n". */
int sipr_print_header(sipr_buf_t *b, const char *name, sipr_str_t value);
int sipr_print_header_fmt(sipr_buf_t *b, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Content-Type (when ctype is not a NULL slice), Content-Length, the empty
 * line, then the body. */
int sipr_print_body(sipr_buf_t *b, sipr_str_t ctype, sipr_str_t body);

/* The reason phrase of a status code: RFC 3261 §21 and the codes later
 * RFCs registered ("" if none). Static storage. */
const char *sipr_reason_phrase(unsigned status);

/* Builds a response to the request req per §8.2.6: status line (reason
 * NULL: sipr_reason_phrase()), every Via in order, From, To (with
 * ";tag=to_tag" added when To has no tag and to_tag is not a NULL slice),
 * Call-ID, CSeq, Timestamp when status is 100 (§8.2.6.1), then the
 * caller's extra header lines (already "Name: v\r\n" text, may be a NULL
 * slice), Content-Length: 0 and the empty line. Values are copied as
 * written, header names in their long form. req is borrowed; it should have
 * passed sipr_msg_parse(), but a partly parsed request is answered as far
 * as it goes: absent headers are skipped rather than invented, and a To
 * whose typed form does not parse is copied without a tag. */
int sipr_print_response(sipr_buf_t *b, sipr_msg_t *req, unsigned status,
                        const char *reason, sipr_str_t to_tag,
                        sipr_str_t extra);

/* ---- editing a parsed message -----------------------------------------
 * Changes are recorded as replacements of byte ranges of the original
 * message, then printed in one pass: untouched bytes are copied as they
 * are, edits applied in offset order. At one offset, insertions come
 * before a replacement, and insertions print in the order recorded. The
 * message (and its buffer) and every text given must outlive printing.
 * The body and Content-Length are never touched. Each sipr_edit_* returns
 * 0, SIPR_EINVAL (bad text, or a response where a request is needed),
 * SIPR_ETOOBIG when SIPR_EDITS_MAX edits are recorded, or as noted. */
#define SIPR_EDITS_MAX 16

typedef struct sipr_edit {
  size_t off, len;     /* range of the original message to replace */
  const char *name;    /* not NULL: print "name: text\r\n" (a new field) */
  sipr_str_t text;     /* replacement (borrowed; must outlive printing) */
  unsigned seq;        /* order among edits at the same offset */
} sipr_edit_t;

typedef struct sipr_edits {
  sipr_msg_t *msg;
  sipr_edit_t e[SIPR_EDITS_MAX];
  unsigned n;
  unsigned routes_removed; /* Route values removed so far */
  char mf_buf[16];     /* storage for the new Max-Forwards value */
} sipr_edits_t;

/* Starts an empty edit list over m (borrowed). */
void sipr_edits_init(sipr_edits_t *ed, sipr_msg_t *m);
/* Adds a Via field above the first one (§16.6 step 8). via_value is the
 * field value ("SIP/2.0/UDP host:port;branch=z9hG4bK..."). */
int sipr_edit_prepend_via(sipr_edits_t *ed, sipr_str_t via_value);
/* Removes the first Route value (§16.4): the whole field when it holds one
 * value, else the value and the comma and LWS after it. Called again, it
 * removes the next value. SIPR_ENOENT when no Route value is left. */
int sipr_edit_remove_top_route(sipr_edits_t *ed);
/* Replaces the Request-URI (§16.6 step 2, §16.4; requests only). */
int sipr_edit_set_ruri(sipr_edits_t *ed, sipr_str_t uri);
/* Decrements Max-Forwards, or adds "Max-Forwards: absent_value" after the
 * last Via when absent (§16.6 step 3). SIPR_ERANGE when it is already 0
 * (the caller answers 483, §16.3 step 3), SIPR_EPARSE when the present
 * value does not parse. Called again, it decrements again. */
int sipr_edit_dec_max_forwards(sipr_edits_t *ed, unsigned absent_value);
/* Adds a Record-Route field above the existing ones, or after the last Via
 * when there are none (§16.6 step 4). rr_value is the field value
 * ("<sip:...;lr>"). */
int sipr_edit_add_record_route(sipr_edits_t *ed, sipr_str_t rr_value);
/* Adds a header field after the last one ("Name: value"). */
int sipr_edit_add_header(sipr_edits_t *ed, const char *name, sipr_str_t value);
/* Removes a whole header field h of the message. */
int sipr_edit_remove_header(sipr_edits_t *ed, sipr_hdr_t *h);
/* Prints the edited message into b (appending) in one pass, from its start
 * line to the end of its body. Returns 0, SIPR_ENOMEM, or SIPR_EINVAL when
 * recorded edits overlap. */
int sipr_edits_print(sipr_edits_t *ed, sipr_buf_t *b);

#ifdef __cplusplus
}
#endif
#endif
