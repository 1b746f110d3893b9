/*
 * Transaction memory: every transaction block and kept response comes from
 * its layer's free lists, one per 256-byte size class up to 4 KiB, carved
 * from 256 KiB chunks (aligned to their size, populated when mapped);
 * larger blocks go to malloc().
 *
 * Why not malloc(): a non-INVITE server transaction lives 64*T1 (Timer J)
 * after its answer, so under a steady request rate the live set grows for
 * 32 s before the first block comes back. glibc grows a worker thread's
 * arena page by page (an mprotect() and a page fault every few
 * transactions); taking memory in populated chunks costs one system call
 * per 256 KiB instead.
 *
 * Giving memory back: each chunk counts its blocks in use (a block finds
 * its chunk by aligning its address down). When TRIM_EMPTY chunks have
 * no block in use, sipr__txn_mem_put() takes their blocks off the free
 * lists and unmaps them (the chunk being carved stays), so the footprint
 * follows the live set back down after a burst instead of keeping its
 * peak.
 *
 * Threads: a layer's memory is used on its loop's thread only (like the
 * rest of the transaction; sipr_txn_layer_free() runs after the loop has
 * stopped).
 *
 * Under AddressSanitizer a block on a free list is poisoned (all but its
 * link), so a use after termination is still reported.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "txn_internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define SIPR_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIPR_ASAN 1
#endif
#endif
#ifdef SIPR_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define CLASS_SIZE 256u
#define CHUNK_SIZE (256u * 1024u)
#define HDR 16u /* keeps the block max-aligned; holds the class */
#define CLASS_MALLOC 0xffu
#define TRIM_EMPTY 16u /* empty chunks (4 MiB) that start a trim */

typedef struct chunk {
  struct chunk *next;
  uint32_t live; /* blocks handed out and not put back */
  uint32_t pad;
} chunk_t;

typedef struct freeblk {
  struct freeblk *next;
} freeblk_t;

static unsigned class_of(size_t total) {
  return (unsigned)((total + CLASS_SIZE - 1) / CLASS_SIZE) - 1;
}

static chunk_t *chunk_of(const void *b) {
  return (chunk_t *)((uintptr_t)b & ~(uintptr_t)(CHUNK_SIZE - 1));
}

/* A chunk aligned to CHUNK_SIZE: twice the size mapped, the ends given
 * back; then its pages are populated at once. NULL when out of memory. */
static chunk_t *map_chunk(void) {
  char *raw = mmap(NULL, 2 * (size_t)CHUNK_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED)
    return NULL;
  uintptr_t a = ((uintptr_t)raw + CHUNK_SIZE - 1) & ~(uintptr_t)(CHUNK_SIZE - 1);
  size_t head = (size_t)(a - (uintptr_t)raw);
  if (head)
    munmap(raw, head);
  munmap((char *)a + CHUNK_SIZE, CHUNK_SIZE - head);
#ifdef MADV_POPULATE_WRITE
  madvise((void *)a, CHUNK_SIZE, MADV_POPULATE_WRITE); /* best effort */
#endif
  return (chunk_t *)a;
}

static void *carve(sipr__txn_mem_t *m, size_t bytes) {
  if (m->left < bytes) {
    chunk_t *c = map_chunk();
    if (!c)
      return NULL;
    c->next = m->chunks;
    c->live = 0;
    m->chunks = c;
    m->nchunks++;
    m->empty++; /* until its first block is taken, just below */
    m->cur = (char *)c + HDR; /* the chunk header, then blocks */
    m->left = CHUNK_SIZE - HDR;
    m->mapped += CHUNK_SIZE;
    POISON(m->cur, m->left);
  }
  void *p = m->cur;
  m->cur += bytes;
  m->left -= bytes;
  return p;
}

/* Unmaps the chunks with no block in use, but the one being carved:
 * their blocks leave the free lists first. */
static void trim(sipr__txn_mem_t *m) {
  chunk_t *carving = m->chunks; /* the newest */
  for (unsigned c = 0; c < SIPR__TXN_MEM_CLASSES; c++) {
    freeblk_t **pp = (freeblk_t **)&m->free[c];
    while (*pp) {
      chunk_t *ch = chunk_of(*pp);
      if (ch->live == 0 && ch != carving)
        *pp = (*pp)->next;
      else
        pp = &(*pp)->next;
    }
  }
  chunk_t **cp = (chunk_t **)&m->chunks;
  while (*cp) {
    chunk_t *ch = *cp;
    if (ch->live == 0 && ch != carving) {
      *cp = ch->next;
      UNPOISON(ch, CHUNK_SIZE);
      munmap(ch, CHUNK_SIZE);
      m->mapped -= CHUNK_SIZE;
      m->nchunks--;
      m->empty--;
    } else {
      cp = &ch->next;
    }
  }
}

void *sipr__txn_mem_get(sipr__txn_mem_t *m, size_t size) {
  size_t total = size + HDR;
  unsigned char *b;
  if (total > SIPR__TXN_MEM_CLASSES * CLASS_SIZE) {
    b = malloc(total);
    if (!b)
      return NULL;
    b[0] = CLASS_MALLOC;
    return b + HDR;
  }
  unsigned c = class_of(total);
  freeblk_t *f = m->free[c];
  if (f) {
    UNPOISON(f, (c + 1) * CLASS_SIZE);
    m->free[c] = f->next;
    b = (unsigned char *)f;
  } else {
    b = carve(m, (size_t)(c + 1) * CLASS_SIZE);
    if (!b)
      return NULL;
    UNPOISON(b, (c + 1) * CLASS_SIZE);
  }
  if (chunk_of(b)->live++ == 0)
    m->empty--;
  b[0] = (unsigned char)c;
  return b + HDR;
}

void sipr__txn_mem_put(sipr__txn_mem_t *m, void *p) {
  if (!p)
    return;
  unsigned char *b = (unsigned char *)p - HDR;
  unsigned c = b[0];
  if (c == CLASS_MALLOC) {
    free(b);
    return;
  }
  freeblk_t *f = (freeblk_t *)b;
  f->next = m->free[c];
  m->free[c] = f;
  POISON((char *)b + sizeof(freeblk_t), (c + 1) * CLASS_SIZE - sizeof(freeblk_t));
  if (--chunk_of(b)->live == 0 && ++m->empty >= TRIM_EMPTY)
    trim(m);
}

void sipr__txn_mem_release(sipr__txn_mem_t *m) {
  chunk_t *c = m->chunks;
  while (c) {
    chunk_t *n = c->next;
    UNPOISON(c, CHUNK_SIZE);
    munmap(c, CHUNK_SIZE);
    c = n;
  }
  memset(m, 0, sizeof(*m));
}
