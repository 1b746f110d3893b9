/* Unit tests of the base layer: slices, numbers, arenas, buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sipr/base.h"

static void test_str(void **state) {
  assert_true(sipr_str_eq(SIPR_STR("abc"), sipr_str_cstr("abc")));
  assert_false(sipr_str_eq(SIPR_STR("abc"), SIPR_STR("abd")));
  assert_true(sipr_str_caseeq(SIPR_STR("Via"), SIPR_STR("vIA")));
  assert_false(sipr_str_caseeq(SIPR_STR("Via"), SIPR_STR("Vi")));
  assert_true(sipr_str_caseeq_z(SIPR_STR("BRANCH"), "branch"));
  sipr_str_t t = sipr_str_trim(SIPR_STR(" \t x y \r\n"));
  assert_true(sipr_str_eq(t, SIPR_STR("x y")));
  assert_int_equal(sipr_str_trim(SIPR_STR("   ")).len, 0);
}

static void test_u64(void **state) {
  uint64_t v;
  assert_int_equal(sipr_str_to_u64(SIPR_STR("0068"), 255, &v), 0);
  assert_int_equal(v, 68);
  assert_int_equal(sipr_str_to_u64(SIPR_STR("4294967295"), 0xffffffffu, &v), 0);
  assert_int_equal(v, 4294967295u);
  assert_int_equal(sipr_str_to_u64(SIPR_STR("4294967296"), 0xffffffffu, &v),
                   SIPR_ERANGE);
  assert_int_equal(sipr_str_to_u64(SIPR_STR("99999999999999999999999"),
                                   UINT64_MAX, &v),
                   SIPR_ERANGE);
  assert_int_equal(sipr_str_to_u64(SIPR_STR("99999999999999999999x"),
                                   UINT64_MAX, &v),
                   SIPR_EPARSE);
  assert_int_equal(sipr_str_to_u64(SIPR_STR(""), 10, &v), SIPR_EPARSE);
  assert_int_equal(sipr_str_to_u64(SIPR_STR("-1"), 10, &v), SIPR_EPARSE);
  assert_int_equal(sipr_str_to_u64(SIPR_STR("18446744073709551615"),
                                   UINT64_MAX, &v), 0);
  assert_true(v == UINT64_MAX);
  assert_int_equal(sipr_str_to_u64(SIPR_STR("18446744073709551616"),
                                   UINT64_MAX, &v), SIPR_ERANGE);
  assert_int_equal(sipr_str_to_u64(SIPR_STR("255"), 255, &v), 0);
  assert_int_equal(v, 255);
  assert_int_equal(sipr_str_to_u64(SIPR_STR("256"), 255, &v), SIPR_ERANGE);
  assert_int_equal(sipr_str_to_u64(SIPR_STR("259"), 255, &v), SIPR_ERANGE);
  assert_int_equal(sipr_str_to_u64(SIPR_STR("9"), 9, &v), 0);
  assert_int_equal(sipr_str_to_u64(SIPR_STR("10"), 9, &v), SIPR_ERANGE);
}

static void test_arena_caller_storage(void **state) {
  char storage[1024];
  sipr_arena_t a;
  sipr_arena_init(&a, storage, sizeof(storage), 0);
  void *p = sipr_arena_alloc(&a, 100);
  assert_non_null(p);
  assert_true((char *)p >= storage && (char *)p < storage + sizeof(storage));
  assert_int_equal((uintptr_t)p % sizeof(max_align_t), 0);
  assert_int_equal(a.heap_blocks, 0);
  /* overflow to the heap, then reset keeps one block for reuse */
  for (int i = 0; i < 100; i++)
    assert_non_null(sipr_arena_alloc(&a, 100));
  assert_true(a.heap_blocks > 0);
  size_t blocks = a.heap_blocks;
  sipr_arena_reset(&a);
  for (int i = 0; i < 20; i++)
    assert_non_null(sipr_arena_alloc(&a, 100));
  assert_int_equal(a.heap_blocks, blocks); /* no new block */
  sipr_arena_free(&a);
}

static void test_arena_cap(void **state) {
  sipr_arena_t a;
  sipr_arena_init(&a, NULL, 0, 1000);
  assert_non_null(sipr_arena_alloc(&a, 500));
  assert_null(sipr_arena_alloc(&a, 600));
  assert_null(sipr_arena_alloc(&a, SIZE_MAX));
  char *s = sipr_arena_strdup(&a, "hello", 5);
  assert_string_equal(s, "hello");
  char *z = sipr_arena_zalloc(&a, 32);
  for (int i = 0; i < 32; i++)
    assert_int_equal(z[i], 0);
  sipr_arena_free(&a);
}

static void test_buf(void **state) {
  sipr_buf_t b;
  sipr_buf_init(&b);
  for (int i = 0; i < 1000; i++)
    assert_int_equal(sipr_buf_printf(&b, "%d,", i % 10), 0);
  assert_int_equal(b.len, 2000);
  assert_int_equal(sipr_buf_append_str(&b, SIPR_STR("end")), 0);
  assert_string_equal(b.p + 2000, "end");
  sipr_buf_free(&b);

  /* printf into the room left, and past it (grown, formatted again). */
  sipr_buf_init(&b);
  char big[600];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  assert_int_equal(sipr_buf_printf(&b, "a%sb", "1"), 0);
  assert_int_equal(sipr_buf_printf(&b, "<%s>", big), 0);
  assert_int_equal(b.len, 3 + 601);
  assert_int_equal(b.p[3], '<');
  assert_int_equal(b.p[b.len - 1], '>');
  assert_int_equal(b.p[b.len], '\0');
  assert_int_equal(sipr_buf_append_i64(&b, -9223372036854775807LL - 1), 0);
  assert_int_equal(sipr_buf_append_cstr(&b, ";"), 0);
  assert_int_equal(sipr_buf_append_i64(&b, 0), 0);
  assert_int_equal(sipr_buf_append_i64(&b, 3600), 0);
  assert_string_equal(b.p + 604, "-9223372036854775808;03600");
  sipr_buf_free(&b);

  /* Caller storage: used while the text fits, then moved to the heap. */
  char st[8];
  sipr_buf_init_storage(&b, st, sizeof st);
  assert_int_equal(sipr_buf_append_cstr(&b, "abcdefg"), 0);
  assert_ptr_equal(b.p, st);
  assert_string_equal(st, "abcdefg");
  assert_int_equal(sipr_buf_printf(&b, "%s", "hij"), 0);
  assert_true(b.p != st);
  assert_string_equal(b.p, "abcdefghij");
  sipr_buf_free(&b);
  sipr_buf_init_storage(&b, st, sizeof st);
  assert_int_equal(sipr_buf_printf(&b, "%d", 1234567), 0);
  assert_ptr_equal(b.p, st);
  assert_int_equal(sipr_buf_printf(&b, "%d", 89), 0);
  assert_string_equal(b.p, "123456789");
  sipr_buf_free(&b); /* frees the heap copy, never st */

  char d[SIPR_U64_DIGITS];
  assert_int_equal(sipr_u64_to_dec(18446744073709551615ull, d), 20);
  assert_memory_equal(d, "18446744073709551615", 20);
  assert_int_equal(sipr_u64_to_dec(7, d), 1);
  assert_int_equal(d[0], '7');
}

static void test_strerror(void **state) {
  for (int e = 0; e >= SIPR_E__LAST; e--)
    assert_string_not_equal(sipr_strerror(e), "unknown error");
  assert_string_equal(sipr_strerror(-1000), "unknown error");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_str),
      cmocka_unit_test(test_u64),
      cmocka_unit_test(test_arena_caller_storage),
      cmocka_unit_test(test_arena_cap),
      cmocka_unit_test(test_buf),
      cmocka_unit_test(test_strerror),
  };
  return cmocka_run_group_tests_name("base", tests, NULL, NULL);
}
