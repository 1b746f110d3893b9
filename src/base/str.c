/* String slices (include/sipr/base.h). */
#include "sipr/base.h"

int sipr_str_caseeq_z(sipr_str_t a, const char *z) {
  return sipr_str_caseeq(a, sipr_str_cstr(z));
}

static int is_trim(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

sipr_str_t sipr_str_trim(sipr_str_t s) {
  while (s.len && is_trim(s.p[0])) {
    s.p++;
    s.len--;
  }
  while (s.len && is_trim(s.p[s.len - 1]))
    s.len--;
  return s;
}

int sipr_str_to_u64(sipr_str_t s, uint64_t max, uint64_t *out) {
  uint64_t v = 0;
  int over = 0;
  if (s.len == 0)
    return SIPR_EPARSE;
  /* Scan every digit even after overflow, so "99999999999x" is a parse
   * error rather than a range error. */
  /* One division per call, not per digit: v*10 + d <= max exactly when
   * v < max/10, or v == max/10 and d <= max%10. */
  const uint64_t q = max / 10, r = max % 10;
  for (size_t i = 0; i < s.len; i++) {
    unsigned d = (unsigned)((unsigned char)s.p[i] - '0');
    if (d > 9)
      return SIPR_EPARSE;
    if (!over && (v > q || (v == q && d > r)))
      over = 1;
    else if (!over)
      v = v * 10 + d;
  }
  if (over)
    return SIPR_ERANGE;
  *out = v;
  return 0;
}

size_t sipr_u64_to_dec(uint64_t v, char *out) {
  char tmp[SIPR_U64_DIGITS];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++)
    out[i] = tmp[n - 1 - i];
  return n;
}
