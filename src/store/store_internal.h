/* Internals of the store layer shared by store.c, loc.c and sqlite.c. */
#ifndef SIPR_STORE_INTERNAL_H
#define SIPR_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "sipr/store.h"

/* Caps on the text of one binding (input controls them). */
#define SIPR__LOC_MAX_AOR 1024
#define SIPR__LOC_MAX_FIELD 8192

/* ---- in-memory location table (loc.c) -----------------------------------
 * A hash table of AORs, each with its bindings (owned blocks: struct and
 * strings in one malloc), and a min-heap of AORs by earliest expiry. Not
 * locked: the store holds its lock around every call. */
typedef struct sipr__loc_aor {
  struct sipr__loc_aor *hnext;
  char *aor;
  uint64_t hash;
  sipr_binding_t **b; /* owned */
  size_t n;
  size_t heap_idx;    /* SIZE_MAX when not in the heap (no bindings) */
  int64_t min_exp;
} sipr__loc_aor_t;

typedef struct sipr__loc {
  sipr__loc_aor_t **buckets;
  size_t nbuckets, naors;
  sipr__loc_aor_t **heap;
  size_t nheap, heap_cap;
  size_t total;        /* bindings */
  int keep_empty;      /* keep AORs with no binding (batch overlays) */
} sipr__loc_t;

int sipr__loc_init(sipr__loc_t *t, int keep_empty);
void sipr__loc_free(sipr__loc_t *t);
sipr__loc_aor_t *sipr__loc_find(const sipr__loc_t *t, const char *aor);
/* Replaces aor's bindings by b[0..n) (takes ownership of the blocks and
 * of nothing else; b itself is copied). 0 or SIPR_ENOMEM (b freed). */
int sipr__loc_set(sipr__loc_t *t, const char *aor, sipr_binding_t **b,
                  size_t n);
/* Removes the bindings due by now; returns how many. */
size_t sipr__loc_expire(sipr__loc_t *t, int64_t now);
int64_t sipr__loc_next_expiry(const sipr__loc_t *t);
/* Visits every AOR entry. */
void sipr__loc_foreach(const sipr__loc_t *t,
                       void (*fn)(sipr__loc_aor_t *e, void *arg), void *arg);

/* One owned block: struct and strings; aor overrides s->aor. NULL on
 * ENOMEM. Free with free(). */
sipr_binding_t *sipr__binding_dup(const sipr_binding_t *s, const char *aor);
/* Copies bindings into a result list, sorted (q desc, seq desc) when sort
 * is set. 0 or SIPR_ENOMEM. */
int sipr__list_build(sipr_binding_list_t *out,
                     const sipr_binding_t *const *src, size_t n, int sort);
/* Sort comparator for lookups: q (missing = 1000) desc, seq desc. */
int sipr__binding_cmp(const void *a, const void *b);

/* Computes the AOR's new bindings from cur[0..ncur) (borrowed) and the
 * changes: fresh owned blocks into *outv / *outn (malloc'ed array).
 * seq_next is advanced for each changed binding. delta_total receives the
 * change in the number of bindings. The cap checks use cfg and
 * total_now (bindings in the store before this apply). */
int sipr__loc_compute(const sipr_store_cfg_t *cfg, const char *aor,
                      const sipr_binding_t *const *cur, size_t ncur,
                      const sipr_loc_change_t *ch, size_t nch, int64_t now,
                      unsigned flags, size_t total_now, uint64_t *seq_next,
                      sipr_binding_t ***outv, size_t *outn);

/* ---- requests -----------------------------------------------------------*/
typedef struct sipr__req {
  struct sipr__req *next;
  char *aor;
  sipr_loc_change_t *changes; /* text copied into mem */
  size_t n;
  int64_t now;
  unsigned flags;
  sipr_loop_t *loop;
  sipr_store_done_cb *done;
  void *arg;
  int sync, finished;
  int rc;
  sipr_binding_list_t result;
  sipr_store_t *st; /* for delivery statistics only while open */
} sipr__req_t;

/* ---- backend ops --------------------------------------------------------*/
typedef struct sipr__store_ops {
  const char *name;
  /* Takes req: processes it now (memory) or queues it (sqlite); the
   * completion goes through sipr__req_complete(). 0 or an error (req not
   * taken). */
  int (*submit)(sipr_store_t *st, sipr__req_t *req);
  void (*flush)(sipr_store_t *st);
  /* Bindings due by now were dropped from memory (rows may go too). */
  void (*expired)(sipr_store_t *st, int64_t now);
  void (*close)(sipr_store_t *st);
  int (*cred_put)(sipr_store_t *st, const char *user, const char *realm,
                  const char *alg, const char *ha1);
  int (*cred_get)(sipr_store_t *st, const char *user, const char *realm,
                  const char *alg, char *ha1, size_t size);
  int (*cred_del)(sipr_store_t *st, const char *user, const char *realm);
  int (*cred_list)(sipr_store_t *st, sipr_cred_list_t *out);
} sipr__store_ops_t;

struct sipr_store {
  const sipr__store_ops_t *ops;
  void *be; /* backend state */
  sipr_store_cfg_t cfg;
  pthread_rwlock_t lock; /* loc */
  sipr__loc_t loc;
  uint64_t seq_next;     /* under the writer's exclusion */
  pthread_mutex_t sync_mu; /* sync applies wait on sync_cv */
  pthread_cond_t sync_cv;
  _Atomic uint64_t st_applies, st_errors, st_commits, st_max_batch,
      st_expired, st_refused;
};

/* Processes a batch of requests against the table: computes each one in
 * order over an overlay, calls persist(st, overlay, arg) (may be NULL)
 * and, when it returns 0, installs the overlay. Sets each request's rc and
 * result; the caller completes them (sipr__req_complete) and provides the
 * writer exclusion. Returns how many requests succeeded. */
typedef int sipr__persist_fn(sipr_store_t *st, sipr__loc_t *overlay,
                             void *arg);
size_t sipr__store_run_batch(sipr_store_t *st, sipr__req_t **reqs, size_t n,
                           sipr__persist_fn *persist, void *arg);
/* Delivers req's completion (inline, posted, or to a sync waiter through
 * wake(st)); frees req unless sync. */
void sipr__req_complete(sipr_store_t *st, sipr__req_t *req);
void sipr__req_free(sipr__req_t *req);

/* Credentials helpers (store.c). */
/* "MD5" / "SHA-256" canonical spelling, or NULL. */
const char *sipr__cred_alg(const char *alg);
/* 0 when ha1 is valid hex of the algorithm's length. */
int sipr__cred_check(const char *user, const char *realm, const char *alg,
                     const char *ha1);
/* Builds a list from parallel arrays of n strings (copied). */
int sipr__cred_list_build(sipr_cred_list_t *out, const char *const *user,
                          const char *const *realm, const char *const *alg,
                          const char *const *ha1, size_t n);

/* sqlite.c */
int sipr__sqlite_open(sipr_store_t *st, const char *path, char *err,
                      size_t errlen);
extern const sipr__store_ops_t sipr__sqlite_ops;

void sipr__store_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
