/* What the server's own files share; not part of the public API. */
#ifndef SIPR_SERVER_INTERNAL_H
#define SIPR_SERVER_INTERNAL_H

#include "sipr/server.h"

/* One line at level, written whatever the configured level (the start
 * banner, the stop line: facts an operator always needs). */
void sipr__log_force(sipr_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
