/*
 * libFuzzer target: one Digest challenge or credentials value (the text
 * after "WWW-Authenticate:", "Authorization:", ...), RFC 3261 §25 /
 * RFC 7616, through sipr_parse_auth().
 *
 * Parsed twice: without an arena cap, then with a small cap that depends
 * on the input size so that SIPR_ENOMEM is met at every allocation over a
 * run. Every value is read byte by byte and must lie inside the input (the
 * parser returns unquoted values as slices, quoted-pairs as written).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipr/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned sink;
static const char *in_p;
static size_t in_len;

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "fuzz_auth: invariant failed: %s (line %d)\n", #cond,  \
              __LINE__);                                                     \
      abort();                                                               \
    }                                                                        \
  } while (0)

/* Reads every byte of s and checks that it is a slice of the input. */
static void in_input(sipr_str_t s) {
  unsigned h = 0;
  CHECK(s.p != NULL || s.len == 0);
  if (!s.p)
    return;
  CHECK(s.p >= in_p && s.len <= in_len &&
        (size_t)(s.p - in_p) <= in_len - s.len);
  for (size_t i = 0; i < s.len; i++)
    h = h * 31 + (unsigned char)s.p[i];
  sink += h;
}

static void walk(const sipr_auth_t *au) {
  in_input(au->scheme);
  for (const sipr_param_t *p = au->params; p; p = p->next) {
    in_input(p->name);
    in_input(p->value);
  }
  in_input(au->realm);
  in_input(au->nonce);
  in_input(au->opaque);
  in_input(au->algorithm);
  in_input(au->qop);
  in_input(au->stale);
  in_input(au->domain);
  in_input(au->username);
  in_input(au->uri);
  in_input(au->response);
  in_input(au->cnonce);
  in_input(au->nc);
}

static void one(const uint8_t *data, size_t size, size_t cap) {
  char store[1024];
  sipr_arena_t a;
  sipr_auth_t *au = NULL;
  sipr_perr_t e = {0};
  sipr_arena_init(&a, store, sizeof store, cap);
  int rc = sipr_parse_auth(&a, (const char *)data, size, &au, &e);
  CHECK(rc <= 0 && rc >= SIPR_E__LAST);
  if (rc == 0) {
    CHECK(au != NULL);
    walk(au);
  } else {
    if (e.reason)
      sink += (unsigned)strlen(e.reason);
    if (e.where)
      sink += (unsigned)strlen(e.where);
  }
  sipr_arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  in_p = (const char *)data;
  in_len = size;
  one(data, size, 0);
  one(data, size, 128 + (size * 5) % 2048);
  return 0;
}
