/* Transaction memory (src/txn/mem.c): blocks by size class, recycled, and
 * chunks with no block in use given back to the system after a burst. */
#include "tests.h"

#include <string.h>

#include "txn_internal.h"

#define CHUNK (256u * 1024u)
#define N 20000

static void *blk[N];

/* Fills block i with a pattern of its index; checks it. */
static void fill(unsigned i, size_t size) { memset(blk[i], (int)(i & 0xff), size); }
static int intact(unsigned i, size_t size) {
  const unsigned char *p = blk[i];
  for (size_t k = 0; k < size; k++)
    if (p[k] != (unsigned char)(i & 0xff))
      return 0;
  return 1;
}

/* A burst: N blocks taken, then all put back. The chunks come back to the
 * system (all but fewer than the trim threshold); taking them again works. */
static void test_burst_returns_memory(void **state) {
  (void)state;
  sipr__txn_mem_t m;
  memset(&m, 0, sizeof m);
  for (unsigned i = 0; i < N; i++) {
    blk[i] = sipr__txn_mem_get(&m, 200);
    assert_non_null(blk[i]);
    fill(i, 200);
  }
  size_t peak = m.mapped;
  assert_true(peak >= (size_t)N * 256 && peak % CHUNK == 0);
  assert_int_equal(m.empty, 0);
  for (unsigned i = 0; i < N; i++) {
    assert_true(intact(i, 200));
    sipr__txn_mem_put(&m, blk[i]);
  }
  /* fewer than 16 empty chunks are kept, plus the one being carved */
  assert_true(m.mapped <= 16u * CHUNK);
  assert_true(m.mapped < peak);
  assert_int_equal(m.mapped, m.nchunks * CHUNK);
  for (unsigned i = 0; i < N; i++) {
    blk[i] = sipr__txn_mem_get(&m, 200);
    assert_non_null(blk[i]);
    fill(i, 200);
  }
  for (unsigned i = 0; i < N; i++) {
    assert_true(intact(i, 200));
    sipr__txn_mem_put(&m, blk[i]);
  }
  sipr__txn_mem_release(&m);
  assert_int_equal(m.mapped, 0);
}

/* Half the blocks stay in use, spread over every chunk, while the other
 * half is put back: nothing in use is unmapped or overwritten; chunks that
 * empty later are given back. Two size classes and a malloc()ed size. */
static void test_partial_keeps_live(void **state) {
  (void)state;
  sipr__txn_mem_t m;
  memset(&m, 0, sizeof m);
  for (unsigned i = 0; i < N; i++) {
    size_t size = (i % 3 == 0) ? 700 : (i % 3 == 1) ? 200 : 5000;
    blk[i] = sipr__txn_mem_get(&m, size);
    assert_non_null(blk[i]);
    fill(i, size);
  }
  size_t peak = m.mapped;
  for (unsigned i = 0; i < N; i += 2)
    sipr__txn_mem_put(&m, blk[i]);
  assert_int_equal(m.mapped, peak); /* every chunk still holds a block */
  for (unsigned i = 1; i < N; i += 2) {
    size_t size = (i % 3 == 0) ? 700 : (i % 3 == 1) ? 200 : 5000;
    assert_true(intact(i, size));
  }
  for (unsigned i = 1; i < N; i += 2)
    sipr__txn_mem_put(&m, blk[i]);
  assert_true(m.mapped <= 16u * CHUNK);
  sipr__txn_mem_release(&m);
}

int test_mem(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_burst_returns_memory),
      cmocka_unit_test(test_partial_keeps_live),
  };
  return cmocka_run_group_tests_name("txn memory", tests, NULL, NULL);
}
