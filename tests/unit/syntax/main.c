/* Unit tests of the syntax layer: one binary, a group per concern. */
#include "tests.h"

int main(void) {
  int failed = 0;
  failed += sipr_test_msg();
  failed += sipr_test_uri();
  failed += sipr_test_print();
  failed += sipr_test_framer();
  return failed ? 1 : 0;
}
