/* Test groups of the syntax layer; main.c runs them all. */
#ifndef SIPR_TEST_SYNTAX_H
#define SIPR_TEST_SYNTAX_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

int sipr_test_msg(void);
int sipr_test_uri(void);
int sipr_test_print(void);
int sipr_test_framer(void);
#endif
