/* libFuzzer target for src/syntax/uri.c. Properties checked on every input:
 * - parsing never crashes nor reads outside the input (ASan/UBSan);
 * - a rejected input reports a reason and an offset inside the input;
 * - an accepted URI equals itself, prints, and its printed form parses to
 *   an equal URI that prints to the same text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sipr/uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sipr_arena_t a;
  sipr_uri_t u, v;
  sipr_perr_t err;
  sipr_buf_t b1, b2;

  sipr_arena_init(&a, NULL, 0, 1 << 20);
  memset(&err, 0, sizeof(err));
  int rc = sipr_uri_parse(&a, (const char *)data, size, &u, &err);
  if (rc != 0) {
    if (rc != SIPR_EPARSE && rc != SIPR_ETOOBIG && rc != SIPR_ENOMEM)
      abort();
    if (err.code != rc || !err.reason || !err.where)
      abort();
    if (rc == SIPR_EPARSE && err.offset > size)
      abort();
    sipr_arena_free(&a);
    return 0;
  }
  if (!sipr_uri_equal(&u, &u))
    abort();

  sipr_buf_init(&b1);
  sipr_buf_init(&b2);
  if (sipr_uri_print(&b1, &u) != 0)
    abort();
  if (b1.len > size) /* canonical form never grows */
    abort();
  if (sipr_uri_parse(&a, b1.p, b1.len, &v, &err) != 0)
    abort();
  if (!sipr_uri_equal(&u, &v) || !sipr_uri_equal(&v, &u))
    abort();
  if (sipr_uri_print(&b2, &v) != 0 || b2.len != b1.len || memcmp(b1.p, b2.p, b1.len) != 0)
    abort();

  sipr_buf_free(&b1);
  sipr_buf_free(&b2);
  sipr_arena_free(&a);
  return 0;
}
