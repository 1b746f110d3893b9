/*
 * Parse errors of the syntax layer. Parsers never log: they fill one of
 * these and return SIPR_EPARSE (or SIPR_ERANGE, SIPR_ETOOBIG).
 */
#define SIPR_HEADER_LAYER 1
#include "sipr/layer.h"

#ifndef SIPR_PERR_H
#define SIPR_PERR_H

#include "sipr/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sipr_perr {
  int code;           /* SIPR_E* */
  /* What a conforming element does with the message: the status to answer
   * (400, 416, 501, 505, ...) or 0 to drop it silently (a response, a
   * message with no usable Via, bytes that are no SIP message at all). */
  int status;
  const char *where;  /* header name as known ("Via"), "start-line", "body",
                         "uri", "message"; static storage */
  size_t offset;      /* byte offset in the input where the fault was seen */
  const char *reason; /* short reason phrase, static storage */
} sipr_perr_t;

/* Fills err (when not NULL) and returns code. */
int sipr_perr_set(sipr_perr_t *err, int code, int status, const char *where,
                  size_t offset, const char *reason);

#ifdef __cplusplus
}
#endif
#endif
