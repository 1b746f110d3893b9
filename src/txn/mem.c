/*
 * Transaction memory: every transaction block and kept response comes from
 * its layer's free lists, one per 256-byte size class up to 4 KiB, carved
 * from 256 KiB chunks mapped with MAP_POPULATE; larger blocks go to
 * malloc(). Blocks are recycled, never returned to the system before the
 * layer is freed, so the footprint follows the peak number of live
 * transactions, which max_txns caps.
 *
 * Why not malloc(): a non-INVITE server transaction lives 64*T1 (Timer J)
 * after its answer, so under a steady request rate the live set grows for
 * 32 s before the first block comes back. glibc grows a worker thread's
 * arena page by page (an mprotect() and a page fault every few
 * transactions); taking memory in populated chunks costs one system call
 * per 256 KiB instead.
 *
 * Threads: a layer's memory is used on its loop's thread only (like the
 * rest of the transaction; sipr_txn_layer_free() runs after the loop has
 * stopped).
 *
 * Under AddressSanitizer a block on a free list is poisoned, so a use
 * after termination is still reported.
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

typedef struct chunk {
  struct chunk *next;
} chunk_t;

typedef struct freeblk {
  struct freeblk *next;
} freeblk_t;

static unsigned class_of(size_t total) {
  return (unsigned)((total + CLASS_SIZE - 1) / CLASS_SIZE) - 1;
}

static void *carve(sipr__txn_mem_t *m, size_t bytes) {
  if (m->left < bytes) {
    size_t len = CHUNK_SIZE;
    void *c = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (c == MAP_FAILED)
      return NULL;
    ((chunk_t *)c)->next = m->chunks;
    m->chunks = c;
    m->cur = (char *)c + HDR; /* the chunk link, then blocks */
    m->left = len - HDR;
    m->mapped += len;
    POISON(m->cur, m->left);
  }
  void *p = m->cur;
  m->cur += bytes;
  m->left -= bytes;
  return p;
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
