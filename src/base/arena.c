/* Bump arena and growable buffer (include/sipr/base.h). */
#include "sipr/base.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

struct sipr_arena_block {
  sipr_arena_block_t *next;
  size_t size;
  max_align_t data[];
};

#define ALIGN sizeof(max_align_t)
#define MIN_BLOCK 4096

void sipr_arena_init(sipr_arena_t *a, void *buf, size_t size, size_t cap) {
  memset(a, 0, sizeof(*a));
  a->cap = cap;
  if (buf && size >= ALIGN) {
    /* Align the caller's storage. */
    uintptr_t p = (uintptr_t)buf, q = (p + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
    a->first = (char *)q;
    a->first_size = size - (size_t)(q - p);
  }
  a->cur = a->first;
  a->cur_size = a->first_size;
}

void *sipr__arena_grow(sipr_arena_t *a, size_t size) {
  size_t need = (size + ALIGN - 1) & ~(ALIGN - 1);
  if (need < size)
    return NULL;
  if (a->cap && (need > a->cap || a->total > a->cap - need))
    return NULL;
  if (!a->cur || a->cur_size - a->used < need) {
    size_t bs = a->cur_size * 2;
    if (bs < MIN_BLOCK)
      bs = MIN_BLOCK;
    if (bs < need)
      bs = need;
    sipr_arena_block_t *b = malloc(sizeof(*b) + bs);
    if (!b)
      return NULL;
    b->size = bs;
    b->next = a->blocks;
    a->blocks = b;
    a->heap_blocks++;
    a->cur = (char *)b->data;
    a->cur_size = b->size;
    a->used = 0;
  }
  void *r = a->cur + a->used;
  a->used += need;
  a->total += need;
  return r;
}

void *sipr_arena_zalloc(sipr_arena_t *a, size_t size) {
  void *p = sipr_arena_alloc(a, size);
  if (p)
    memset(p, 0, size);
  return p;
}

char *sipr_arena_strdup(sipr_arena_t *a, const char *p, size_t len) {
  char *r = sipr_arena_alloc(a, len + 1);
  if (r) {
    if (len)
      memcpy(r, p, len);
    r[len] = '\0';
  }
  return r;
}

void sipr_arena_reset(sipr_arena_t *a) {
  /* Keep the newest (largest) heap block so a steady stream of messages of
   * similar size reaches a state where parsing allocates nothing. */
  sipr_arena_block_t *keep = a->blocks;
  if (keep) {
    sipr_arena_block_t *b = keep->next;
    while (b) {
      sipr_arena_block_t *n = b->next;
      free(b);
      b = n;
    }
    keep->next = NULL;
  }
  a->blocks = keep;
  a->total = 0;
  a->used = 0;
  if (keep && keep->size > a->first_size) {
    a->cur = (char *)keep->data;
    a->cur_size = keep->size;
  } else {
    a->cur = a->first;
    a->cur_size = a->first_size;
  }
}

void sipr_arena_free(sipr_arena_t *a) {
  sipr_arena_block_t *b = a->blocks;
  while (b) {
    sipr_arena_block_t *n = b->next;
    free(b);
    b = n;
  }
  a->blocks = NULL;
  a->cur = a->first;
  a->cur_size = a->first_size;
  a->used = a->total = 0;
}

void sipr_buf_init(sipr_buf_t *b) { memset(b, 0, sizeof(*b)); }

void sipr_buf_init_storage(sipr_buf_t *b, char *storage, size_t cap) {
  memset(b, 0, sizeof(*b));
  if (storage && cap) {
    b->p = storage;
    b->cap = cap;
    b->borrowed = 1;
    storage[0] = '\0';
  }
}

void sipr_buf_free(sipr_buf_t *b) {
  if (!b->borrowed)
    free(b->p);
  memset(b, 0, sizeof(*b));
}

static int buf_reserve(sipr_buf_t *b, size_t extra) {
  if (b->failed)
    return SIPR_ENOMEM;
  if (b->len + extra + 1 <= b->cap)
    return 0;
  size_t nc = b->cap ? b->cap : 256;
  while (nc < b->len + extra + 1) {
    if (nc > SIZE_MAX / 2) {
      b->failed = 1;
      return SIPR_ENOMEM;
    }
    nc *= 2;
  }
  char *np = b->borrowed ? malloc(nc) : realloc(b->p, nc);
  if (!np) {
    b->failed = 1;
    return SIPR_ENOMEM;
  }
  if (b->borrowed) {
    memcpy(np, b->p, b->len + 1);
    b->borrowed = 0;
  }
  b->p = np;
  b->cap = nc;
  return 0;
}

int sipr_buf_append(sipr_buf_t *b, const void *p, size_t len) {
  if (buf_reserve(b, len))
    return SIPR_ENOMEM;
  if (len)
    memcpy(b->p + b->len, p, len);
  b->len += len;
  b->p[b->len] = '\0';
  return 0;
}

int sipr_buf_append_str(sipr_buf_t *b, sipr_str_t s) {
  return sipr_buf_append(b, s.p, s.len);
}

int sipr_buf_append_cstr(sipr_buf_t *b, const char *s) {
  return sipr_buf_append(b, s, strlen(s));
}

int sipr_buf_append_i64(sipr_buf_t *b, int64_t v) {
  char d[SIPR_U64_DIGITS + 1];
  size_t n = 0;
  uint64_t u = (uint64_t)v;
  if (v < 0) {
    d[n++] = '-';
    u = 0 - u;
  }
  n += sipr_u64_to_dec(u, d + n);
  return sipr_buf_append(b, d, n);
}

int sipr_buf_printf(sipr_buf_t *b, const char *fmt, ...) {
  /* Formats into the room already there; only text longer than that is
   * formatted a second time, after growing. */
  if (b->failed)
    return SIPR_ENOMEM;
  size_t room = b->p ? b->cap - b->len : 0;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->failed = 1;
    return SIPR_ENOMEM;
  }
  if ((size_t)n >= room) {
    if (buf_reserve(b, (size_t)n))
      return SIPR_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
  }
  b->len += (size_t)n;
  return 0;
}
