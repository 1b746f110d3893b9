/*
 * sipr base layer: error codes, string slices, arenas.
 * Nothing here knows about SIP.
 */
#define SIPR_HEADER_LAYER 0
#include "sipr/layer.h"

#ifndef SIPR_BASE_H
#define SIPR_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ------------------------------------------------------------
 * Functions return 0 or one of these negative codes. */
#define SIPR_OK 0
#define SIPR_EAGAIN (-1)   /* need more bytes (stream framing) */
#define SIPR_ENOMEM (-2)   /* allocation failed or arena cap reached */
#define SIPR_EINVAL (-3)   /* bad argument */
#define SIPR_EPARSE (-4)   /* malformed input */
#define SIPR_ETOOBIG (-5)  /* input over a configured cap */
#define SIPR_ERANGE (-6)   /* number out of range */
#define SIPR_ENOENT (-7)   /* not found / absent */
#define SIPR_EIO (-8)      /* I/O error */
#define SIPR_E__LAST (-8)

/* Returns a static description of a SIPR_E* code (never NULL). */
const char *sipr_strerror(int err);

/* ---- string slices -----------------------------------------------------
 * A slice borrows its bytes; it is never NUL-terminated. */
typedef struct sipr_str {
  const char *p;
  size_t len;
} sipr_str_t;

#define SIPR_STR(lit) ((sipr_str_t){(lit), sizeof(lit) - 1})
#define SIPR_STR_NULL ((sipr_str_t){NULL, 0})
#define SIPR_STR_FMT "%.*s"
#define SIPR_STR_ARG(s) (int)(s).len, (s).p

static inline sipr_str_t sipr_str_make(const char *p, size_t len) {
  sipr_str_t s = {p, len};
  return s;
}
static inline sipr_str_t sipr_str_cstr(const char *z) {
  sipr_str_t s = {z, z ? strlen(z) : 0};
  return s;
}
static inline int sipr_str_is_null(sipr_str_t s) { return s.p == NULL; }

/* ASCII lower-case of one byte. */
static inline unsigned char sipr_lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

/* Byte-wise equality. */
static inline int sipr_str_eq(sipr_str_t a, sipr_str_t b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}
/* ASCII case-insensitive comparison of n bytes. */
static inline int sipr_mem_caseeq(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (sipr_lower((unsigned char)a[i]) != sipr_lower((unsigned char)b[i]))
      return 0;
  return 1;
}
/* ASCII case-insensitive equality. */
static inline int sipr_str_caseeq(sipr_str_t a, sipr_str_t b) {
  return a.len == b.len && sipr_mem_caseeq(a.p, b.p, a.len);
}
/* Case-insensitive equality with a C string. */
int sipr_str_caseeq_z(sipr_str_t a, const char *z);
/* The same with a string literal: the length is known at compile time, so
 * most mismatches cost one comparison. */
#define SIPR_STR_CASEEQ_LIT(s, lit)                                            \
  ((s).len == sizeof(lit) - 1 && sipr_mem_caseeq((s).p, (lit), sizeof(lit) - 1))
/* Removes leading and trailing SP, HTAB, CR and LF. */
sipr_str_t sipr_str_trim(sipr_str_t s);
/* Parses a decimal number of at most max; 0 or SIPR_EPARSE/SIPR_ERANGE.
 * Leading zeros are allowed; no sign, no spaces. */
int sipr_str_to_u64(sipr_str_t s, uint64_t max, uint64_t *out);

/* Decimal text of v into out (at least SIPR_U64_DIGITS bytes), not
 * NUL-terminated; returns its length. For hot paths where snprintf()'s
 * format parsing costs more than the number. */
#define SIPR_U64_DIGITS 20
size_t sipr_u64_to_dec(uint64_t v, char *out);

/* ---- arena -------------------------------------------------------------
 * A bump allocator. The first block may be caller storage (e.g. on the
 * stack or inside a struct), so a parse that fits allocates nothing from
 * the heap; further blocks are malloc'ed and freed by sipr_arena_reset()
 * or sipr_arena_free(). A cap bounds the total bytes an arena may hand out,
 * so input cannot make it grow without limit.
 */
typedef struct sipr_arena_block sipr_arena_block_t;
typedef struct sipr_arena {
  char *first;          /* caller storage, or NULL */
  size_t first_size;
  char *cur;            /* current block's data */
  size_t cur_size, used;
  sipr_arena_block_t *blocks; /* heap blocks, newest first */
  size_t total;         /* bytes handed out since the last reset */
  size_t cap;           /* 0: no cap */
  size_t heap_blocks;   /* heap blocks allocated since init (statistics) */
} sipr_arena_t;

/* Initialises an arena over optional caller storage (buf may be NULL).
 * cap limits bytes handed out (0 = unlimited). */
void sipr_arena_init(sipr_arena_t *a, void *buf, size_t size, size_t cap);
/* Returns size bytes aligned for any scalar, or NULL when the cap is hit or
 * malloc fails. Memory lives until reset/free. The common case (room in the
 * current block, under the cap) is inline; the rest is sipr__arena_grow(). */
void *sipr__arena_grow(sipr_arena_t *a, size_t size);
static inline void *sipr_arena_alloc(sipr_arena_t *a, size_t size) {
  size_t need = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
  if (need >= size && a->cur && a->cur_size - a->used >= need &&
      (!a->cap || (need <= a->cap && a->total <= a->cap - need))) {
    void *r = a->cur + a->used;
    a->used += need;
    a->total += need;
    return r;
  }
  return sipr__arena_grow(a, size);
}
/* As sipr_arena_alloc, zero-filled. */
void *sipr_arena_zalloc(sipr_arena_t *a, size_t size);
/* Copies len bytes into the arena and NUL-terminates the copy. */
char *sipr_arena_strdup(sipr_arena_t *a, const char *p, size_t len);
/* Frees heap blocks but the newest (kept for reuse) and forgets every
 * allocation; caller storage is reused. */
void sipr_arena_reset(sipr_arena_t *a);
/* Frees every heap block. The arena may be initialised again. */
void sipr_arena_free(sipr_arena_t *a);

/* ---- growable buffer ---------------------------------------------------*/
typedef struct sipr_buf {
  char *p;
  size_t len, cap;
  int failed; /* set once an append could not allocate */
  int borrowed; /* p is the caller's storage (sipr_buf_init_storage) */
} sipr_buf_t;

void sipr_buf_init(sipr_buf_t *b);
/* Starts in the caller's storage (cap bytes, e.g. on the stack); moves to
 * the heap only when the text outgrows it. sipr_buf_free() then frees
 * only what was allocated. */
void sipr_buf_init_storage(sipr_buf_t *b, char *storage, size_t cap);
void sipr_buf_free(sipr_buf_t *b);
/* Appends bytes; on failure sets b->failed and returns SIPR_ENOMEM. */
int sipr_buf_append(sipr_buf_t *b, const void *p, size_t len);
int sipr_buf_append_str(sipr_buf_t *b, sipr_str_t s);
/* Appends the NUL-terminated s; the decimal text of v (a '-' first when
 * negative). Same failure rule as sipr_buf_append(). */
int sipr_buf_append_cstr(sipr_buf_t *b, const char *s);
int sipr_buf_append_i64(sipr_buf_t *b, int64_t v);
int sipr_buf_printf(sipr_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif
#endif
