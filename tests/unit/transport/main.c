/* Unit tests of the transport layer: one binary, a group per concern. */
#include "tests.h"

#include <signal.h>

int main(void) {
  int failed = 0;
  signal(SIGPIPE, SIG_IGN); /* test clients write to closed connections */
  failed += sipr_test_addr();
  failed += sipr_test_udp();
  failed += sipr_test_tcp();
  return failed ? 1 : 0;
}
