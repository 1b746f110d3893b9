/*
 * In-memory location table: AOR hash table, expiry heap, binding copies
 * and the computation of one REGISTER's changes (RFC 3261 §10.3 steps 6-7,
 * as far as the store applies them; the registrar decides the rest).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

/* ---- bindings -------------------------------------------------------------*/

static size_t zlen(const char *s) { return s ? strlen(s) : 0; }

static char *put(char **pool, const char *s) {
  char *d = *pool;
  size_t n = zlen(s);
  if (n)
    memcpy(d, s, n);
  d[n] = '\0';
  *pool += n + 1;
  return d;
}

static size_t strings_size(const sipr_binding_t *s, const char *aor) {
  return zlen(aor) + zlen(s->contact) + zlen(s->params) + zlen(s->call_id) +
         zlen(s->path) + zlen(s->instance) + zlen(s->received) +
         zlen(s->user_agent) + 8;
}

static void copy_into(sipr_binding_t *d, const sipr_binding_t *s,
                      const char *aor, char **pool) {
  *d = *s;
  d->aor = put(pool, aor);
  d->contact = put(pool, s->contact);
  d->params = put(pool, s->params);
  d->call_id = put(pool, s->call_id);
  d->path = put(pool, s->path);
  d->instance = put(pool, s->instance);
  d->received = put(pool, s->received);
  d->user_agent = put(pool, s->user_agent);
}

sipr_binding_t *sipr__binding_dup(const sipr_binding_t *s, const char *aor) {
  sipr_binding_t *d = malloc(sizeof(*d) + strings_size(s, aor));
  if (!d)
    return NULL;
  char *pool = (char *)(d + 1);
  copy_into(d, s, aor, &pool);
  return d;
}

int sipr__binding_cmp(const void *a, const void *b) {
  const sipr_binding_t *x = a, *y = b;
  int qx = x->q < 0 ? 1000 : x->q, qy = y->q < 0 ? 1000 : y->q;
  if (qx != qy)
    return qx > qy ? -1 : 1;
  if (x->seq != y->seq)
    return x->seq > y->seq ? -1 : 1;
  return 0;
}

int sipr__list_build(sipr_binding_list_t *out,
                     const sipr_binding_t *const *src, size_t n, int sort) {
  out->v = NULL;
  out->n = 0;
  out->mem_ = NULL;
  if (n == 0)
    return 0;
  size_t total = 0;
  for (size_t i = 0; i < n; i++)
    total += strings_size(src[i], src[i]->aor);
  sipr_binding_t *v = malloc(n * sizeof(*v));
  char *pool = malloc(total);
  if (!v || !pool) {
    free(v);
    free(pool);
    return SIPR_ENOMEM;
  }
  out->mem_ = pool;
  for (size_t i = 0; i < n; i++)
    copy_into(&v[i], src[i], src[i]->aor, &pool);
  if (sort)
    qsort(v, n, sizeof(*v), sipr__binding_cmp);
  out->v = v;
  out->n = n;
  return 0;
}

void sipr_binding_list_free(sipr_binding_list_t *l) {
  if (!l)
    return;
  free(l->v);
  free(l->mem_);
  l->v = NULL;
  l->mem_ = NULL;
  l->n = 0;
}

/* ---- heap of AORs by earliest expiry ------------------------------------*/

static void heap_swap(sipr__loc_t *t, size_t i, size_t j) {
  sipr__loc_aor_t *x = t->heap[i];
  t->heap[i] = t->heap[j];
  t->heap[j] = x;
  t->heap[i]->heap_idx = i;
  t->heap[j]->heap_idx = j;
}

static void heap_up(sipr__loc_t *t, size_t i) {
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (t->heap[p]->min_exp <= t->heap[i]->min_exp)
      break;
    heap_swap(t, i, p);
    i = p;
  }
}

static void heap_down(sipr__loc_t *t, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < t->nheap && t->heap[l]->min_exp < t->heap[m]->min_exp)
      m = l;
    if (r < t->nheap && t->heap[r]->min_exp < t->heap[m]->min_exp)
      m = r;
    if (m == i)
      return;
    heap_swap(t, i, m);
    i = m;
  }
}

static void heap_remove(sipr__loc_t *t, sipr__loc_aor_t *e) {
  size_t i = e->heap_idx;
  if (i == SIZE_MAX)
    return;
  t->nheap--;
  if (i != t->nheap) {
    t->heap[i] = t->heap[t->nheap];
    t->heap[i]->heap_idx = i;
    heap_up(t, i);
    heap_down(t, t->heap[i]->heap_idx);
  }
  e->heap_idx = SIZE_MAX;
}

/* Puts e in the heap at its min_exp (inserting or moving it). */
static int heap_update(sipr__loc_t *t, sipr__loc_aor_t *e) {
  if (e->heap_idx == SIZE_MAX) {
    if (t->nheap == t->heap_cap) {
      size_t cap = t->heap_cap ? t->heap_cap * 2 : 64;
      sipr__loc_aor_t **h = realloc(t->heap, cap * sizeof(*h));
      if (!h)
        return SIPR_ENOMEM;
      t->heap = h;
      t->heap_cap = cap;
    }
    e->heap_idx = t->nheap;
    t->heap[t->nheap++] = e;
  }
  heap_up(t, e->heap_idx);
  heap_down(t, e->heap_idx);
  return 0;
}

/* ---- hash table ---------------------------------------------------------*/

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

int sipr__loc_init(sipr__loc_t *t, int keep_empty) {
  memset(t, 0, sizeof(*t));
  t->keep_empty = keep_empty;
  t->nbuckets = 64;
  t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
  return t->buckets ? 0 : SIPR_ENOMEM;
}

static void aor_free(sipr__loc_aor_t *e) {
  for (size_t i = 0; i < e->n; i++)
    free(e->b[i]);
  free(e->b);
  free(e->aor);
  free(e);
}

void sipr__loc_free(sipr__loc_t *t) {
  for (size_t i = 0; i < t->nbuckets; i++) {
    sipr__loc_aor_t *e = t->buckets[i];
    while (e) {
      sipr__loc_aor_t *nx = e->hnext;
      aor_free(e);
      e = nx;
    }
  }
  free(t->buckets);
  free(t->heap);
  memset(t, 0, sizeof(*t));
}

sipr__loc_aor_t *sipr__loc_find(const sipr__loc_t *t, const char *aor) {
  uint64_t h = hash_str(aor);
  for (sipr__loc_aor_t *e = t->buckets[h & (t->nbuckets - 1)]; e;
       e = e->hnext)
    if (e->hash == h && strcmp(e->aor, aor) == 0)
      return e;
  return NULL;
}

static void grow(sipr__loc_t *t) {
  size_t nb = t->nbuckets * 2;
  sipr__loc_aor_t **b = calloc(nb, sizeof(*b));
  if (!b)
    return; /* keep the longer chains */
  for (size_t i = 0; i < t->nbuckets; i++) {
    sipr__loc_aor_t *e = t->buckets[i];
    while (e) {
      sipr__loc_aor_t *nx = e->hnext;
      e->hnext = b[e->hash & (nb - 1)];
      b[e->hash & (nb - 1)] = e;
      e = nx;
    }
  }
  free(t->buckets);
  t->buckets = b;
  t->nbuckets = nb;
}

static void unlink_aor(sipr__loc_t *t, sipr__loc_aor_t *e) {
  sipr__loc_aor_t **pp = &t->buckets[e->hash & (t->nbuckets - 1)];
  while (*pp != e)
    pp = &(*pp)->hnext;
  *pp = e->hnext;
  heap_remove(t, e);
  t->naors--;
  t->total -= e->n;
  aor_free(e);
}

static void refresh_min(sipr__loc_aor_t *e) {
  e->min_exp = INT64_MAX;
  for (size_t i = 0; i < e->n; i++)
    if (e->b[i]->expires < e->min_exp)
      e->min_exp = e->b[i]->expires;
}

int sipr__loc_set(sipr__loc_t *t, const char *aor, sipr_binding_t **b,
                  size_t n) {
  sipr_binding_t **copy = NULL;
  size_t m = n;
  if (n) {
    copy = malloc(n * sizeof(*copy));
    if (!copy)
      goto nomem;
    memcpy(copy, b, n * sizeof(*copy));
  }
  sipr__loc_aor_t *e = sipr__loc_find(t, aor);
  if (!e) {
    if (m == 0 && !t->keep_empty) {
      free(copy);
      return 0;
    }
    e = calloc(1, sizeof(*e));
    if (e)
      e->aor = strdup(aor);
    if (!e || !e->aor) {
      free(e);
      for (size_t i = 0; i < m; i++)
        free(copy[i]);
      free(copy);
      return SIPR_ENOMEM;
    }
    e->hash = hash_str(aor);
    e->heap_idx = SIZE_MAX;
    size_t bi = e->hash & (t->nbuckets - 1);
    e->hnext = t->buckets[bi];
    t->buckets[bi] = e;
    t->naors++;
    if (t->naors > t->nbuckets)
      grow(t);
  }
  for (size_t i = 0; i < e->n; i++)
    free(e->b[i]);
  free(e->b);
  t->total -= e->n;
  e->b = copy;
  e->n = m;
  t->total += m;
  if (m == 0) {
    heap_remove(t, e);
    if (!t->keep_empty)
      unlink_aor(t, e);
    return 0;
  }
  refresh_min(e);
  if (heap_update(t, e) != 0) {
    /* Cannot track its expiry: drop it rather than keep it forever. */
    unlink_aor(t, e);
    return SIPR_ENOMEM;
  }
  return 0;
nomem:
  for (size_t i = 0; i < n; i++)
    free(b[i]);
  return SIPR_ENOMEM;
}

size_t sipr__loc_expire(sipr__loc_t *t, int64_t now) {
  size_t removed = 0;
  while (t->nheap && t->heap[0]->min_exp <= now) {
    sipr__loc_aor_t *e = t->heap[0];
    size_t k = 0;
    for (size_t i = 0; i < e->n; i++) {
      if (e->b[i]->expires <= now) {
        free(e->b[i]);
        removed++;
      } else {
        e->b[k++] = e->b[i];
      }
    }
    t->total -= e->n - k;
    e->n = k;
    if (k == 0) {
      heap_remove(t, e);
      if (!t->keep_empty)
        unlink_aor(t, e);
    } else {
      refresh_min(e);
      heap_down(t, e->heap_idx);
    }
  }
  return removed;
}

int64_t sipr__loc_next_expiry(const sipr__loc_t *t) {
  return t->nheap ? t->heap[0]->min_exp : -1;
}

void sipr__loc_foreach(const sipr__loc_t *t,
                       void (*fn)(sipr__loc_aor_t *e, void *arg), void *arg) {
  for (size_t i = 0; i < t->nbuckets; i++)
    for (sipr__loc_aor_t *e = t->buckets[i]; e; e = e->hnext)
      fn(e, arg);
}

/* ---- one REGISTER's changes -----------------------------------------------*/

static int field_ok(const char *s) {
  return !s || strlen(s) <= SIPR__LOC_MAX_FIELD;
}

static int change_ok(const sipr_loc_change_t *c) {
  const sipr_binding_t *b = &c->b;
  if (c->op != SIPR_LOC_SET && c->op != SIPR_LOC_REMOVE &&
      c->op != SIPR_LOC_REMOVE_ALL)
    return 0;
  if (!field_ok(b->call_id) || !field_ok(c->match))
    return 0;
  if (c->op == SIPR_LOC_REMOVE_ALL)
    return 1;
  const char *key = c->match ? c->match : b->contact;
  if (!key || !*key)
    return 0;
  if (c->op == SIPR_LOC_REMOVE)
    return 1;
  return b->contact && *b->contact && field_ok(b->contact) &&
         field_ok(b->params) && field_ok(b->path) && field_ok(b->instance) &&
         field_ok(b->received) && field_ok(b->user_agent) && b->q >= -1 &&
         b->q <= 1000;
}

static int same_call(const sipr_binding_t *old, const sipr_binding_t *nb) {
  return strcmp(old->call_id, nb->call_id ? nb->call_id : "") == 0;
}

typedef struct work {
  const sipr_binding_t *b;
  int changed;
} work_t;

static long find_contact(const work_t *w, size_t n, const char *key) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(w[i].b->contact, key) == 0)
      return (long)i;
  return -1;
}

int sipr__loc_compute(const sipr_store_cfg_t *cfg, const char *aor,
                      const sipr_binding_t *const *cur, size_t ncur,
                      const sipr_loc_change_t *ch, size_t nch, int64_t now,
                      unsigned flags, size_t total_now, uint64_t *seq_next,
                      sipr_binding_t ***outv, size_t *outn) {
  int check = (flags & SIPR_STORE_CHECK_CSEQ) != 0;
  *outv = NULL;
  *outn = 0;
  if (!aor || !*aor || strlen(aor) > SIPR__LOC_MAX_AOR)
    return SIPR_EINVAL;
  for (size_t i = 0; i < nch; i++)
    if (!change_ok(&ch[i]))
      return SIPR_EINVAL;
  work_t *w = malloc((ncur + nch + 1) * sizeof(*w));
  if (!w)
    return SIPR_ENOMEM;
  size_t n = 0, nlive = 0;
  for (size_t i = 0; i < ncur; i++)
    if (cur[i]->expires > now)
      w[n++] = (work_t){cur[i], 0};
  nlive = n;
  int rc = 0;
  for (size_t i = 0; i < nch && rc == 0; i++) {
    const sipr_loc_change_t *c = &ch[i];
    if (c->op == SIPR_LOC_REMOVE_ALL) { /* §10.3 step 6 */
      size_t k = 0;
      for (size_t j = 0; j < n; j++)
        if (check && same_call(w[j].b, &c->b) && w[j].b->cseq >= c->b.cseq)
          w[k++] = w[j];
      n = k;
      continue;
    }
    long at = find_contact(w, n, c->match ? c->match : c->b.contact);
    if (at >= 0 && check && same_call(w[at].b, &c->b) &&
        w[at].b->cseq >= c->b.cseq) {
      rc = SIPR_ERANGE; /* §10.3 step 7: out of order */
      break;
    }
    if (c->op == SIPR_LOC_REMOVE || c->b.expires <= now) {
      if (at >= 0)
        w[at] = w[--n];
      continue;
    }
    if (at >= 0)
      w[at] = (work_t){&c->b, 1};
    else
      w[n++] = (work_t){&c->b, 1};
    /* A new contact text equal to another binding's replaces that too. */
    for (size_t j = 0; j < n; j++)
      if (w[j].b != &c->b && strcmp(w[j].b->contact, c->b.contact) == 0) {
        w[j] = w[--n];
        break;
      }
  }
  if (rc == 0 && n > nlive &&
      (n > cfg->max_per_aor || total_now + (n - nlive) > cfg->max_total))
    rc = SIPR_ETOOBIG;
  sipr_binding_t **v = NULL;
  if (rc == 0 && n) {
    v = calloc(n, sizeof(*v));
    if (!v)
      rc = SIPR_ENOMEM;
    for (size_t i = 0; v && i < n; i++) {
      v[i] = sipr__binding_dup(w[i].b, aor);
      if (!v[i]) {
        rc = SIPR_ENOMEM;
        break;
      }
      if (w[i].changed) {
        v[i]->updated = now;
        v[i]->seq = (*seq_next)++;
      }
    }
  }
  free(w);
  if (rc != 0) {
    for (size_t i = 0; v && i < n; i++)
      free(v[i]);
    free(v);
    return rc;
  }
  *outv = v;
  *outn = n;
  return 0;
}
