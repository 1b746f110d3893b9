/* Unit tests of the transaction layer: one binary, a group per machine
 * plus matching. */
#include "tests.h"

int main(void) {
  int failed = 0;
  failed += test_ict();
  failed += test_nict();
  failed += test_ist();
  failed += test_nist();
  failed += test_match();
  failed += test_mem();
  return failed ? 1 : 0;
}
