/* Error strings for the SIPR_E* codes (include/sipr/base.h). */
#include "sipr/base.h"

const char *sipr_strerror(int err) {
  switch (err) {
  case SIPR_OK: return "success";
  case SIPR_EAGAIN: return "need more data";
  case SIPR_ENOMEM: return "out of memory";
  case SIPR_EINVAL: return "invalid argument";
  case SIPR_EPARSE: return "malformed input";
  case SIPR_ETOOBIG: return "input too large";
  case SIPR_ERANGE: return "value out of range";
  case SIPR_ENOENT: return "not found";
  case SIPR_EIO: return "input/output error";
  default: return "unknown error";
  }
}
