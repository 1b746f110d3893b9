/*
 * Store front: opening by spec, the public API over the in-memory table,
 * request lifecycle and batches, and the memory backend.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store_internal.h"

void sipr__store_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || !errlen)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

void sipr_store_cfg_default(sipr_store_cfg_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->max_per_aor = 16;
  cfg->max_total = 1000000;
  cfg->sqlite_sync_normal = 0;
  cfg->sqlite_group_us = 5000;
}

/* ---- requests ---------------------------------------------------------------*/

static size_t zl(const char *s) { return s ? strlen(s) + 1 : 0; }

static const char *dup_into(char **pool, const char *s) {
  if (!s)
    return NULL;
  size_t n = strlen(s) + 1;
  char *d = *pool;
  memcpy(d, s, n);
  *pool += n;
  return d;
}

static sipr__req_t *req_new(const char *aor, const sipr_loc_change_t *ch,
                            size_t n) {
  size_t size = sizeof(sipr__req_t) + n * sizeof(sipr_loc_change_t) + zl(aor);
  for (size_t i = 0; i < n; i++) {
    const sipr_binding_t *b = &ch[i].b;
    size += zl(ch[i].match) + zl(b->contact) + zl(b->params) +
            zl(b->call_id) + zl(b->path) + zl(b->instance) +
            zl(b->received) + zl(b->user_agent);
  }
  sipr__req_t *r = calloc(1, size);
  if (!r)
    return NULL;
  r->changes = (sipr_loc_change_t *)(r + 1);
  char *pool = (char *)(r->changes + n);
  r->aor = (char *)dup_into(&pool, aor);
  for (size_t i = 0; i < n; i++) {
    sipr_loc_change_t *c = &r->changes[i];
    *c = ch[i];
    c->match = dup_into(&pool, ch[i].match);
    c->b.aor = NULL;
    c->b.contact = dup_into(&pool, ch[i].b.contact);
    c->b.params = dup_into(&pool, ch[i].b.params);
    c->b.call_id = dup_into(&pool, ch[i].b.call_id);
    c->b.path = dup_into(&pool, ch[i].b.path);
    c->b.instance = dup_into(&pool, ch[i].b.instance);
    c->b.received = dup_into(&pool, ch[i].b.received);
    c->b.user_agent = dup_into(&pool, ch[i].b.user_agent);
  }
  r->n = n;
  return r;
}

void sipr__req_free(sipr__req_t *req) {
  if (!req)
    return;
  sipr_binding_list_free(&req->result);
  free(req);
}

static void deliver_job(void *a) {
  sipr__req_t *req = a;
  if (req->done)
    req->done(req->arg, req->rc, req->rc == 0 ? &req->result : NULL);
  sipr__req_free(req);
}

void sipr__req_complete(sipr_store_t *st, sipr__req_t *req) {
  atomic_fetch_add(&st->st_applies, 1);
  if (req->rc != 0)
    atomic_fetch_add(&st->st_errors, 1);
  if (req->rc == SIPR_ETOOBIG)
    atomic_fetch_add(&st->st_refused, 1);
  if (req->sync) {
    pthread_mutex_lock(&st->sync_mu);
    req->finished = 1;
    pthread_cond_broadcast(&st->sync_cv);
    pthread_mutex_unlock(&st->sync_mu);
    return;
  }
  if (req->loop && sipr_loop_post(req->loop, deliver_job, req) == 0)
    return;
  deliver_job(req); /* no loop, or it could not take the job */
}

size_t sipr__store_run_batch(sipr_store_t *st, sipr__req_t **reqs, size_t n,
                             sipr__persist_fn *persist, void *arg) {
  sipr__loc_t ov;
  size_t ok = 0;
  long delta = 0;
  if (sipr__loc_init(&ov, 1) != 0) {
    for (size_t i = 0; i < n; i++)
      reqs[i]->rc = SIPR_ENOMEM;
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    sipr__req_t *r = reqs[i];
    sipr_binding_t **v = NULL;
    size_t nv = 0, old_n;
    pthread_rwlock_rdlock(&st->lock);
    sipr__loc_aor_t *e = sipr__loc_find(&ov, r->aor);
    if (!e)
      e = sipr__loc_find(&st->loc, r->aor);
    old_n = e ? e->n : 0;
    r->rc = sipr__loc_compute(
        &st->cfg, r->aor, e ? (const sipr_binding_t *const *)e->b : NULL,
        old_n, r->changes, r->n, r->now, r->flags,
        (size_t)((long)st->loc.total + delta), &st->seq_next, &v, &nv);
    pthread_rwlock_unlock(&st->lock);
    if (r->rc != 0)
      continue;
    r->rc = sipr__list_build(&r->result, (const sipr_binding_t *const *)v,
                             nv, 1);
    if (r->rc != 0) {
      for (size_t j = 0; j < nv; j++)
        free(v[j]);
    } else if ((r->rc = sipr__loc_set(&ov, r->aor, v, nv)) != 0) {
      sipr_binding_list_free(&r->result);
    } else {
      delta += (long)nv - (long)old_n;
      ok++;
    }
    free(v);
  }
  int prc = 0;
  if (ok && persist)
    prc = persist(st, &ov, arg);
  if (prc != 0) {
    for (size_t i = 0; i < n; i++)
      if (reqs[i]->rc == 0) {
        reqs[i]->rc = prc;
        sipr_binding_list_free(&reqs[i]->result);
      }
    ok = 0;
  } else if (ok) {
    pthread_rwlock_wrlock(&st->lock);
    for (size_t i = 0; i < ov.nbuckets; i++)
      for (sipr__loc_aor_t *e = ov.buckets[i]; e; e = e->hnext) {
        sipr__loc_set(&st->loc, e->aor, e->b, e->n); /* takes the blocks */
        free(e->b);
        e->b = NULL;
        ov.total -= e->n;
        e->n = 0;
      }
    pthread_rwlock_unlock(&st->lock);
    atomic_fetch_add(&st->st_commits, 1);
    uint64_t mb = atomic_load(&st->st_max_batch);
    while (ok > mb && !atomic_compare_exchange_weak(&st->st_max_batch, &mb, ok))
      ;
  }
  sipr__loc_free(&ov);
  return ok;
}

/* ---- public API ---------------------------------------------------------------*/

int sipr_store_apply(sipr_store_t *st, const char *aor,
                     const sipr_loc_change_t *changes, size_t n, int64_t now,
                     unsigned flags, sipr_loop_t *loop,
                     sipr_store_done_cb *done, void *arg) {
  if (!st || !aor || (n && !changes))
    return SIPR_EINVAL;
  sipr__req_t *r = req_new(aor, changes, n);
  if (!r)
    return SIPR_ENOMEM;
  r->now = now;
  r->flags = flags;
  r->loop = loop;
  r->done = done;
  r->arg = arg;
  int rc = st->ops->submit(st, r);
  if (rc != 0)
    sipr__req_free(r);
  return rc;
}

int sipr_store_apply_sync(sipr_store_t *st, const char *aor,
                          const sipr_loc_change_t *changes, size_t n,
                          int64_t now, unsigned flags,
                          sipr_binding_list_t *out) {
  if (out) {
    out->v = NULL;
    out->n = 0;
    out->mem_ = NULL;
  }
  if (!st || !aor || (n && !changes))
    return SIPR_EINVAL;
  sipr__req_t *r = req_new(aor, changes, n);
  if (!r)
    return SIPR_ENOMEM;
  r->now = now;
  r->flags = flags;
  r->sync = 1;
  int rc = st->ops->submit(st, r);
  if (rc != 0) {
    sipr__req_free(r);
    return rc;
  }
  pthread_mutex_lock(&st->sync_mu);
  while (!r->finished)
    pthread_cond_wait(&st->sync_cv, &st->sync_mu);
  pthread_mutex_unlock(&st->sync_mu);
  rc = r->rc;
  if (rc == 0 && out) {
    *out = r->result;
    r->result.v = NULL;
    r->result.mem_ = NULL;
    r->result.n = 0;
  }
  sipr__req_free(r);
  return rc;
}

int sipr_store_lookup(sipr_store_t *st, const char *aor, int64_t now,
                      sipr_binding_list_t *out) {
  out->v = NULL;
  out->n = 0;
  out->mem_ = NULL;
  if (!st || !aor)
    return SIPR_EINVAL;
  int rc = 0;
  pthread_rwlock_rdlock(&st->lock);
  sipr__loc_aor_t *e = sipr__loc_find(&st->loc, aor);
  if (e && e->n) {
    const sipr_binding_t *live[e->n];
    size_t k = 0;
    for (size_t i = 0; i < e->n; i++)
      if (e->b[i]->expires > now)
        live[k++] = e->b[i];
    rc = sipr__list_build(out, live, k, 1);
  }
  pthread_rwlock_unlock(&st->lock);
  return rc;
}

size_t sipr_store_expire(sipr_store_t *st, int64_t now) {
  pthread_rwlock_wrlock(&st->lock);
  size_t k = sipr__loc_expire(&st->loc, now);
  pthread_rwlock_unlock(&st->lock);
  atomic_fetch_add(&st->st_expired, k);
  if (k && st->ops->expired)
    st->ops->expired(st, now);
  return k;
}

int64_t sipr_store_next_expiry(sipr_store_t *st) {
  pthread_rwlock_rdlock(&st->lock);
  int64_t t = sipr__loc_next_expiry(&st->loc);
  pthread_rwlock_unlock(&st->lock);
  return t;
}

size_t sipr_store_count(sipr_store_t *st) {
  pthread_rwlock_rdlock(&st->lock);
  size_t n = st->loc.total;
  pthread_rwlock_unlock(&st->lock);
  return n;
}

typedef struct list_ctx {
  const char *prefix;
  size_t plen;
  int64_t now;
  const sipr_binding_t **v;
  size_t n, cap;
  int rc;
} list_ctx_t;

static void list_one(sipr__loc_aor_t *e, void *arg) {
  list_ctx_t *c = arg;
  if (c->rc || strncmp(e->aor, c->prefix, c->plen) != 0)
    return;
  for (size_t i = 0; i < e->n; i++) {
    if (e->b[i]->expires <= c->now)
      continue;
    if (c->n == c->cap) {
      size_t cap = c->cap ? c->cap * 2 : 64;
      const sipr_binding_t **v = realloc(c->v, cap * sizeof(*v));
      if (!v) {
        c->rc = SIPR_ENOMEM;
        return;
      }
      c->v = v;
      c->cap = cap;
    }
    c->v[c->n++] = e->b[i];
  }
}

static int list_cmp(const void *a, const void *b) {
  const sipr_binding_t *x = a, *y = b;
  int c = strcmp(x->aor, y->aor);
  return c ? c : sipr__binding_cmp(a, b);
}

int sipr_store_list(sipr_store_t *st, const char *prefix, int64_t now,
                    sipr_binding_list_t *out) {
  list_ctx_t c = {prefix ? prefix : "", prefix ? strlen(prefix) : 0, now,
                  NULL, 0, 0, 0};
  pthread_rwlock_rdlock(&st->lock);
  sipr__loc_foreach(&st->loc, list_one, &c);
  if (c.rc == 0)
    c.rc = sipr__list_build(out, c.v, c.n, 0);
  pthread_rwlock_unlock(&st->lock);
  free(c.v);
  if (c.rc == 0 && out->n)
    qsort(out->v, out->n, sizeof(*out->v), list_cmp);
  return c.rc;
}

void sipr_store_get_stats(sipr_store_t *st, sipr_store_stats_t *out) {
  out->applies = atomic_load(&st->st_applies);
  out->apply_errors = atomic_load(&st->st_errors);
  out->commits = atomic_load(&st->st_commits);
  out->max_batch = atomic_load(&st->st_max_batch);
  out->expired = atomic_load(&st->st_expired);
  out->refused_caps = atomic_load(&st->st_refused);
  out->bindings = sipr_store_count(st);
}

const char *sipr_store_backend(const sipr_store_t *st) {
  return st->ops->name;
}

void sipr_store_flush(sipr_store_t *st) {
  if (st && st->ops->flush)
    st->ops->flush(st);
}

/* ---- credentials ---------------------------------------------------------------*/

const char *sipr__cred_alg(const char *alg) {
  if (!alg)
    return NULL;
  if (strcasecmp(alg, "MD5") == 0)
    return "MD5";
  if (strcasecmp(alg, "SHA-256") == 0)
    return "SHA-256";
  return NULL;
}

int sipr__cred_check(const char *user, const char *realm, const char *alg,
                     const char *ha1) {
  const char *a = sipr__cred_alg(alg);
  if (!user || !*user || !realm || !*realm || !a || !ha1 ||
      strlen(user) > 255 || strlen(realm) > 255)
    return SIPR_EINVAL;
  size_t want = strcmp(a, "MD5") == 0 ? 32 : 64;
  if (strlen(ha1) != want)
    return SIPR_EINVAL;
  for (const char *p = ha1; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
          (*p >= 'A' && *p <= 'F')))
      return SIPR_EINVAL;
  return 0;
}

int sipr__cred_list_build(sipr_cred_list_t *out, const char *const *user,
                          const char *const *realm, const char *const *alg,
                          const char *const *ha1, size_t n) {
  out->v = NULL;
  out->n = 0;
  out->mem_ = NULL;
  if (!n)
    return 0;
  size_t size = 0;
  for (size_t i = 0; i < n; i++)
    size += zl(user[i]) + zl(realm[i]) + zl(alg[i]) + zl(ha1[i]);
  sipr_cred_t *v = malloc(n * sizeof(*v));
  char *pool = malloc(size);
  if (!v || !pool) {
    free(v);
    free(pool);
    return SIPR_ENOMEM;
  }
  out->mem_ = pool;
  for (size_t i = 0; i < n; i++) {
    v[i].user = dup_into(&pool, user[i]);
    v[i].realm = dup_into(&pool, realm[i]);
    v[i].algorithm = dup_into(&pool, alg[i]);
    v[i].ha1 = dup_into(&pool, ha1[i]);
  }
  out->v = v;
  out->n = n;
  return 0;
}

void sipr_cred_list_free(sipr_cred_list_t *l) {
  if (!l)
    return;
  free(l->v);
  free(l->mem_);
  l->v = NULL;
  l->mem_ = NULL;
  l->n = 0;
}

int sipr_store_cred_put(sipr_store_t *st, const char *user, const char *realm,
                        const char *algorithm, const char *ha1_hex) {
  int rc = sipr__cred_check(user, realm, algorithm, ha1_hex);
  if (rc != 0)
    return rc;
  char low[65];
  size_t i = 0;
  for (; ha1_hex[i]; i++)
    low[i] = (char)sipr_lower((unsigned char)ha1_hex[i]);
  low[i] = '\0';
  return st->ops->cred_put(st, user, realm, sipr__cred_alg(algorithm), low);
}

int sipr_store_cred_get(sipr_store_t *st, const char *user, const char *realm,
                        const char *algorithm, char *ha1, size_t ha1_size) {
  const char *a = sipr__cred_alg(algorithm);
  if (!user || !realm || !a || !ha1 || ha1_size < 65)
    return SIPR_EINVAL;
  return st->ops->cred_get(st, user, realm, a, ha1, ha1_size);
}

int sipr_store_cred_del(sipr_store_t *st, const char *user,
                        const char *realm) {
  if (!user)
    return SIPR_EINVAL;
  return st->ops->cred_del(st, user, realm);
}

int sipr_store_cred_list(sipr_store_t *st, sipr_cred_list_t *out) {
  out->v = NULL;
  out->n = 0;
  out->mem_ = NULL;
  return st->ops->cred_list(st, out);
}

/* ---- memory backend --------------------------------------------------------------*/

typedef struct mcred {
  char *user, *realm, *alg, *ha1;
} mcred_t;

typedef struct mem_be {
  pthread_mutex_t wmu; /* writer exclusion */
  pthread_mutex_t cmu; /* creds */
  mcred_t *creds;      /* sorted by realm, user, algorithm */
  size_t ncreds, cap;
} mem_be_t;

static int mem_submit(sipr_store_t *st, sipr__req_t *req) {
  mem_be_t *m = st->be;
  pthread_mutex_lock(&m->wmu);
  sipr__store_run_batch(st, &req, 1, NULL, NULL);
  pthread_mutex_unlock(&m->wmu);
  if (req->flags & SIPR_STORE_DONE_INLINE)
    req->loop = NULL; /* done runs here, before apply returns */
  sipr__req_complete(st, req);
  return 0;
}

static int cred_cmp(const mcred_t *c, const char *user, const char *realm,
                    const char *alg) {
  int r = strcmp(c->realm, realm);
  if (!r)
    r = strcmp(c->user, user);
  if (!r && alg)
    r = strcmp(c->alg, alg);
  return r;
}

/* Index of the first entry not below the key. */
static size_t cred_lower(mem_be_t *m, const char *user, const char *realm,
                         const char *alg) {
  size_t lo = 0, hi = m->ncreds;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (cred_cmp(&m->creds[mid], user, realm, alg) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static int mem_cred_put(sipr_store_t *st, const char *user, const char *realm,
                        const char *alg, const char *ha1) {
  mem_be_t *m = st->be;
  int rc = 0;
  pthread_mutex_lock(&m->cmu);
  size_t i = cred_lower(m, user, realm, alg);
  if (i < m->ncreds && cred_cmp(&m->creds[i], user, realm, alg) == 0) {
    memcpy(m->creds[i].ha1, ha1, strlen(ha1) + 1); /* same length */
    goto out;
  }
  if (m->ncreds == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 16;
    mcred_t *v = realloc(m->creds, cap * sizeof(*v));
    if (!v) {
      rc = SIPR_ENOMEM;
      goto out;
    }
    m->creds = v;
    m->cap = cap;
  }
  mcred_t c = {strdup(user), strdup(realm), strdup(alg), strdup(ha1)};
  if (!c.user || !c.realm || !c.alg || !c.ha1) {
    free(c.user);
    free(c.realm);
    free(c.alg);
    free(c.ha1);
    rc = SIPR_ENOMEM;
    goto out;
  }
  memmove(&m->creds[i + 1], &m->creds[i], (m->ncreds - i) * sizeof(c));
  m->creds[i] = c;
  m->ncreds++;
out:
  pthread_mutex_unlock(&m->cmu);
  return rc;
}

static int mem_cred_get(sipr_store_t *st, const char *user, const char *realm,
                        const char *alg, char *ha1, size_t size) {
  mem_be_t *m = st->be;
  int rc = SIPR_ENOENT;
  pthread_mutex_lock(&m->cmu);
  size_t i = cred_lower(m, user, realm, alg);
  if (i < m->ncreds && cred_cmp(&m->creds[i], user, realm, alg) == 0) {
    snprintf(ha1, size, "%s", m->creds[i].ha1);
    rc = 0;
  }
  pthread_mutex_unlock(&m->cmu);
  return rc;
}

static int mem_cred_del(sipr_store_t *st, const char *user,
                        const char *realm) {
  mem_be_t *m = st->be;
  size_t k = 0, removed = 0;
  pthread_mutex_lock(&m->cmu);
  for (size_t i = 0; i < m->ncreds; i++) {
    mcred_t *c = &m->creds[i];
    if (strcmp(c->user, user) == 0 && (!realm || strcmp(c->realm, realm) == 0)) {
      free(c->user);
      free(c->realm);
      free(c->alg);
      free(c->ha1);
      removed++;
    } else {
      m->creds[k++] = *c;
    }
  }
  m->ncreds = k;
  pthread_mutex_unlock(&m->cmu);
  return removed ? 0 : SIPR_ENOENT;
}

static int mem_cred_list(sipr_store_t *st, sipr_cred_list_t *out) {
  mem_be_t *m = st->be;
  pthread_mutex_lock(&m->cmu);
  size_t n = m->ncreds;
  const char **a = malloc((4 * n + 1) * sizeof(*a));
  int rc = SIPR_ENOMEM;
  if (a) {
    for (size_t i = 0; i < n; i++) {
      a[i] = m->creds[i].user;
      a[n + i] = m->creds[i].realm;
      a[2 * n + i] = m->creds[i].alg;
      a[3 * n + i] = m->creds[i].ha1;
    }
    rc = sipr__cred_list_build(out, a, a + n, a + 2 * n, a + 3 * n, n);
  }
  pthread_mutex_unlock(&m->cmu);
  free(a);
  return rc;
}

static void mem_close(sipr_store_t *st) {
  mem_be_t *m = st->be;
  if (!m)
    return;
  for (size_t i = 0; i < m->ncreds; i++) {
    free(m->creds[i].user);
    free(m->creds[i].realm);
    free(m->creds[i].alg);
    free(m->creds[i].ha1);
  }
  free(m->creds);
  pthread_mutex_destroy(&m->wmu);
  pthread_mutex_destroy(&m->cmu);
  free(m);
  st->be = NULL;
}

static const sipr__store_ops_t mem_ops = {
    .name = "memory",
    .submit = mem_submit,
    .flush = NULL, /* applies complete before submit returns */
    .expired = NULL,
    .close = mem_close,
    .cred_put = mem_cred_put,
    .cred_get = mem_cred_get,
    .cred_del = mem_cred_del,
    .cred_list = mem_cred_list,
};

/* ---- open / close -----------------------------------------------------------------*/

sipr_store_t *sipr_store_open(const char *spec, const sipr_store_cfg_t *cfg,
                              char *err, size_t errlen) {
  if (!spec) {
    sipr__store_err(err, errlen, "no store given");
    return NULL;
  }
  int is_mem = strcmp(spec, "memory") == 0;
  int is_sql = strncmp(spec, "sqlite:", 7) == 0 && spec[7];
  if (!is_mem && !is_sql) {
    sipr__store_err(err, errlen,
                    "unknown store \"%s\" (memory or sqlite:PATH)", spec);
    return NULL;
  }
  sipr_store_t *st = calloc(1, sizeof(*st));
  if (!st || sipr__loc_init(&st->loc, 0) != 0) {
    free(st);
    sipr__store_err(err, errlen, "out of memory");
    return NULL;
  }
  if (cfg)
    st->cfg = *cfg;
  else
    sipr_store_cfg_default(&st->cfg);
  if (!st->cfg.max_per_aor)
    st->cfg.max_per_aor = 16;
  if (!st->cfg.max_total)
    st->cfg.max_total = 1000000;
  st->seq_next = 1;
  pthread_rwlock_init(&st->lock, NULL);
  pthread_mutex_init(&st->sync_mu, NULL);
  pthread_cond_init(&st->sync_cv, NULL);
  if (is_mem) {
    mem_be_t *m = calloc(1, sizeof(*m));
    if (!m) {
      sipr__store_err(err, errlen, "out of memory");
      goto fail;
    }
    pthread_mutex_init(&m->wmu, NULL);
    pthread_mutex_init(&m->cmu, NULL);
    st->be = m;
    st->ops = &mem_ops;
    return st;
  }
  st->ops = &sipr__sqlite_ops;
  if (sipr__sqlite_open(st, spec + 7, err, errlen) == 0)
    return st;
fail:
  st->ops = NULL;
  sipr__loc_free(&st->loc);
  pthread_rwlock_destroy(&st->lock);
  pthread_mutex_destroy(&st->sync_mu);
  pthread_cond_destroy(&st->sync_cv);
  free(st);
  return NULL;
}

void sipr_store_close(sipr_store_t *st) {
  if (!st)
    return;
  st->ops->close(st);
  sipr__loc_free(&st->loc);
  pthread_rwlock_destroy(&st->lock);
  pthread_mutex_destroy(&st->sync_mu);
  pthread_cond_destroy(&st->sync_cv);
  free(st);
}
