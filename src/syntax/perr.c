/* Parse error reporting (include/sipr/perr.h). */
#include "sipr/perr.h"

int sipr_perr_set(sipr_perr_t *err, int code, int status, const char *where,
                  size_t offset, const char *reason) {
  if (err) {
    err->code = code;
    err->status = status;
    err->where = where;
    err->offset = offset;
    err->reason = reason;
  }
  return code;
}
