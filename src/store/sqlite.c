/*
 * SQLite backend: every binding is loaded at open into the in-memory table;
 * writes go through one writer thread that groups every queued apply into
 * one BEGIN IMMEDIATE..COMMIT (group commit) before installing the changes
 * in memory and completing the requests. An apply without changes (a
 * REGISTER query) writes nothing: it is answered from memory after the
 * batch, so a full or locked disk refuses changes (SIPR_EIO, nothing
 * changed anywhere) but not queries.
 *
 * Durability: journal_mode=WAL; synchronous=FULL by default, so a commit
 * is fsync'ed before any request of its batch completes (survives power
 * loss). synchronous=NORMAL (cfg.sqlite_sync_normal) skips that fsync: a
 * committed transaction is in the OS page cache, which survives a kill -9
 * of the process but not a power cut.
 *
 * The SQL is kept generic (types, ? placeholders, no UPSERT) so that a
 * PostgreSQL backend can share the schema.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store_internal.h"

#define SCHEMA_VERSION 1
#define MAX_BATCH 4096

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS sipr_version (version INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS location ("
    " aor VARCHAR(1024) NOT NULL,"
    " contact VARCHAR(8192) NOT NULL,"
    " params TEXT NOT NULL,"
    " q INTEGER NOT NULL,"
    " expires BIGINT NOT NULL,"
    " updated BIGINT NOT NULL,"
    " seq BIGINT NOT NULL,"
    " call_id VARCHAR(8192) NOT NULL,"
    " cseq BIGINT NOT NULL,"
    " path TEXT NOT NULL,"
    " instance TEXT NOT NULL,"
    " reg_id INTEGER NOT NULL,"
    " received TEXT NOT NULL,"
    " user_agent TEXT NOT NULL,"
    " PRIMARY KEY (aor, contact));"
    "CREATE INDEX IF NOT EXISTS location_expires ON location (expires);"
    "CREATE TABLE IF NOT EXISTS credentials ("
    " username VARCHAR(255) NOT NULL,"
    " realm VARCHAR(255) NOT NULL,"
    " algorithm VARCHAR(16) NOT NULL,"
    " ha1 VARCHAR(64) NOT NULL,"
    " PRIMARY KEY (username, realm, algorithm));";

#define LOC_COLS                                                               \
  "aor, contact, params, q, expires, updated, seq, call_id, cseq, path, "     \
  "instance, reg_id, received, user_agent"

typedef struct sq_be {
  sqlite3 *w; /* writer thread's connection */
  sqlite3_stmt *begin, *commit, *rollback, *del_aor, *ins, *purge;
  sqlite3 *r; /* credentials, under rmu */
  sqlite3_stmt *cred_get;
  pthread_mutex_t rmu;
  pthread_t thread;
  int thread_started;
  pthread_mutex_t qmu;
  pthread_cond_t qcv, fcv;
  sipr__req_t *head, *tail;
  uint64_t enqueued, completed;
  size_t qlen;       /* requests queued, not yet taken */
  uint64_t first_ns; /* when the oldest queued request came */
  uint64_t group_ns; /* commit window (cfg.sqlite_group_us) */
  int urgent;        /* a flush waits: commit without the window */
  int stopping;
  int64_t purge_upto; /* INT64_MIN: nothing to purge */
} sq_be_t;

static int step_done(sqlite3_stmt *s) {
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : SIPR_EIO;
}

static void bind_text(sqlite3_stmt *s, int i, const char *t) {
  sqlite3_bind_text(s, i, t ? t : "", -1, SQLITE_STATIC);
}

static const char *col_text(sqlite3_stmt *s, int i) {
  const unsigned char *t = sqlite3_column_text(s, i);
  return t ? (const char *)t : "";
}

/* ---- writer -------------------------------------------------------------*/

typedef struct persist_ctx {
  sq_be_t *q;
  int64_t purge_upto;
  int purged;
} persist_ctx_t;

/* An AOR's rows are its bindings: the old ones go, the current ones are
 * written. An AOR the store does not hold has no rows but expired ones
 * waiting for the purge (sipr_store_expire() drops it from memory first):
 * no DELETE then, and INSERT OR REPLACE takes the place of such a row
 * with the same contact. */
static int write_aor(sipr_store_t *st, sq_be_t *q, const sipr__loc_aor_t *e) {
  pthread_rwlock_rdlock(&st->lock);
  int held = sipr__loc_find(&st->loc, e->aor) != NULL;
  pthread_rwlock_unlock(&st->lock);
  if (held) {
    sqlite3_bind_text(q->del_aor, 1, e->aor, -1, SQLITE_STATIC);
    if (step_done(q->del_aor) != 0)
      return SIPR_EIO;
  }
  for (size_t i = 0; i < e->n; i++) {
    const sipr_binding_t *b = e->b[i];
    sqlite3_stmt *s = q->ins;
    bind_text(s, 1, e->aor);
    bind_text(s, 2, b->contact);
    bind_text(s, 3, b->params);
    sqlite3_bind_int(s, 4, b->q);
    sqlite3_bind_int64(s, 5, b->expires);
    sqlite3_bind_int64(s, 6, b->updated);
    sqlite3_bind_int64(s, 7, (sqlite3_int64)b->seq);
    bind_text(s, 8, b->call_id);
    sqlite3_bind_int64(s, 9, b->cseq);
    bind_text(s, 10, b->path);
    bind_text(s, 11, b->instance);
    sqlite3_bind_int64(s, 12, b->reg_id);
    bind_text(s, 13, b->received);
    bind_text(s, 14, b->user_agent);
    if (step_done(s) != 0)
      return SIPR_EIO;
  }
  return 0;
}

static int do_purge(persist_ctx_t *c) {
  if (c->purge_upto == INT64_MIN)
    return 0;
  sqlite3_bind_int64(c->q->purge, 1, c->purge_upto);
  c->purged = 1;
  return step_done(c->q->purge);
}

static int persist(sipr_store_t *st, sipr__loc_t *ov, void *arg) {
  persist_ctx_t *c = arg;
  sq_be_t *q = c->q;
  if (step_done(q->begin) != 0)
    return SIPR_EIO;
  int rc = do_purge(c);
  for (size_t i = 0; rc == 0 && i < ov->nbuckets; i++)
    for (sipr__loc_aor_t *e = ov->buckets[i]; rc == 0 && e; e = e->hnext)
      rc = write_aor(st, q, e);
  if (rc == 0)
    rc = step_done(q->commit);
  if (rc != 0) {
    step_done(q->rollback);
    c->purged = 0;
  }
  return rc;
}

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Group commit with a window: the writer takes what is queued once the
 * oldest request has waited group_ns (or MAX_BATCH are queued, or a flush
 * or the stop asks), so one COMMIT and one fsync serve every REGISTER of
 * the window instead of the one or two that came during the previous
 * fsync. Under qmu. */
static void wait_window(sq_be_t *q) {
  if (!q->group_ns)
    return;
  uint64_t deadline = q->first_ns + q->group_ns;
  struct timespec ts = {(time_t)(deadline / 1000000000u),
                        (long)(deadline % 1000000000u)};
  while (q->head && !q->stopping && !q->urgent && q->qlen < MAX_BATCH &&
         mono_ns() < deadline)
    if (pthread_cond_timedwait(&q->qcv, &q->qmu, &ts) == ETIMEDOUT)
      break;
}

static void *writer_main(void *arg) {
  sipr_store_t *st = arg;
  sq_be_t *q = st->be;
  sipr__req_t *one[1];
  size_t cap = MAX_BATCH;
  sipr__req_t **v = malloc(cap * sizeof(*v));
  if (!v) { /* no memory for batches: one request per transaction */
    v = one;
    cap = 1;
  }
  for (;;) {
    pthread_mutex_lock(&q->qmu);
    while (!q->head && q->purge_upto == INT64_MIN && !q->stopping)
      pthread_cond_wait(&q->qcv, &q->qmu);
    if (!q->head && q->purge_upto == INT64_MIN) {
      pthread_mutex_unlock(&q->qmu);
      break; /* stopping, queue drained */
    }
    wait_window(q);
    q->urgent = 0;
    size_t n = 0;
    while (q->head && n < cap) {
      v[n] = q->head;
      q->head = v[n]->next;
      v[n++]->next = NULL;
    }
    if (!q->head)
      q->tail = NULL;
    q->qlen -= n;
    if (q->head)
      q->first_ns = mono_ns(); /* the rest waits a window of its own */
    persist_ctx_t c = {q, q->purge_upto, 0};
    q->purge_upto = INT64_MIN;
    pthread_mutex_unlock(&q->qmu);

    if (n) {
      /* Applies without changes (REGISTER queries, §10.3 step 8) keep
       * their place in the queue but write nothing: they run after the
       * batch's commit, in memory only, so a disk that refuses writes
       * (full, locked) still lets them answer. The others are moved to
       * the front of v, keeping their order. */
      size_t nw = 0;
      for (size_t i = 0; i < n; i++)
        if (v[i]->n)
          nw++;
      sipr__req_t **qv = NULL, *qone[1];
      if (nw && nw < n)
        qv = n - nw == 1 ? qone : malloc((n - nw) * sizeof(*qv));
      if (nw && nw < n && !qv) {
        sipr__store_run_batch(st, v, n, persist, &c); /* no memory: as one */
      } else {
        size_t k = 0, m = 0;
        for (size_t i = 0; i < n; i++) {
          if (v[i]->n)
            v[k++] = v[i];
          else if (qv)
            qv[m++] = v[i];
        }
        if (nw)
          sipr__store_run_batch(st, v, nw, persist, &c);
        if (qv) {
          memcpy(v + nw, qv, m * sizeof(*qv));
          if (qv != qone)
            free(qv);
        }
        if (nw < n)
          sipr__store_run_batch(st, v + nw, n - nw, NULL, NULL);
      }
      for (size_t i = 0; i < n; i++)
        sipr__req_complete(st, v[i]);
    }
    if (!c.purged && c.purge_upto != INT64_MIN) {
      /* Nothing was written in this round: purge on its own. */
      if (step_done(q->begin) == 0) {
        if (do_purge(&c) == 0 && step_done(q->commit) == 0)
          atomic_fetch_add(&st->st_commits, 1);
        else
          step_done(q->rollback);
      }
    }
    pthread_mutex_lock(&q->qmu);
    q->completed += n;
    pthread_cond_broadcast(&q->fcv);
    pthread_mutex_unlock(&q->qmu);
  }
  if (v != one)
    free(v);
  return NULL;
}

static int sq_submit(sipr_store_t *st, sipr__req_t *req) {
  sq_be_t *q = st->be;
  pthread_mutex_lock(&q->qmu);
  if (q->stopping) {
    pthread_mutex_unlock(&q->qmu);
    return SIPR_EIO;
  }
  req->next = NULL;
  int was_empty = !q->head;
  if (q->tail)
    q->tail->next = req;
  else
    q->head = req;
  q->tail = req;
  q->enqueued++;
  q->qlen++;
  /* The writer needs waking when the queue starts (it then waits out the
   * window on its own) or fills; not for every request in between. A
   * synchronous apply (a caller that blocks on it) commits at once. */
  if (was_empty)
    q->first_ns = mono_ns();
  if (req->sync)
    q->urgent = 1;
  if (was_empty || req->sync || q->qlen >= MAX_BATCH || !q->group_ns)
    pthread_cond_signal(&q->qcv);
  pthread_mutex_unlock(&q->qmu);
  return 0;
}

static void sq_flush(sipr_store_t *st) {
  sq_be_t *q = st->be;
  pthread_mutex_lock(&q->qmu);
  uint64_t target = q->enqueued;
  q->urgent = 1;
  pthread_cond_signal(&q->qcv);
  while (q->completed < target)
    pthread_cond_wait(&q->fcv, &q->qmu);
  pthread_mutex_unlock(&q->qmu);
}

static void sq_expired(sipr_store_t *st, int64_t now) {
  sq_be_t *q = st->be;
  pthread_mutex_lock(&q->qmu);
  if (now > q->purge_upto)
    q->purge_upto = now;
  pthread_cond_signal(&q->qcv);
  pthread_mutex_unlock(&q->qmu);
}

/* ---- open / close ------------------------------------------------------*/

static void sq_free(sq_be_t *q) {
  sqlite3_finalize(q->begin);
  sqlite3_finalize(q->commit);
  sqlite3_finalize(q->rollback);
  sqlite3_finalize(q->del_aor);
  sqlite3_finalize(q->ins);
  sqlite3_finalize(q->purge);
  sqlite3_finalize(q->cred_get);
  sqlite3_close(q->w);
  sqlite3_close(q->r);
  pthread_mutex_destroy(&q->rmu);
  pthread_mutex_destroy(&q->qmu);
  pthread_cond_destroy(&q->qcv);
  pthread_cond_destroy(&q->fcv);
  free(q);
}

static void sq_close(sipr_store_t *st) {
  sq_be_t *q = st->be;
  if (!q)
    return;
  if (q->thread_started) {
    pthread_mutex_lock(&q->qmu);
    q->stopping = 1;
    pthread_cond_signal(&q->qcv);
    pthread_mutex_unlock(&q->qmu);
    pthread_join(q->thread, NULL);
  }
  sq_free(q);
  st->be = NULL;
}

static int open_conn(const char *path, sqlite3 **db, int sync_normal,
                     char *err, size_t errlen) {
  int rc = sqlite3_open_v2(path, db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                               SQLITE_OPEN_FULLMUTEX,
                           NULL);
  if (rc != SQLITE_OK) {
    sipr__store_err(err, errlen, "%s: %s", path,
                    *db ? sqlite3_errmsg(*db) : sqlite3_errstr(rc));
    return SIPR_EIO;
  }
  sqlite3_busy_timeout(*db, 5000);
  const char *pragmas = sync_normal
                            ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                            : "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;";
  if (sqlite3_exec(*db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
    sipr__store_err(err, errlen, "%s: %s", path, sqlite3_errmsg(*db));
    return SIPR_EIO;
  }
  return 0;
}

static int schema(sqlite3 *db, const char *path, char *err, size_t errlen) {
  sqlite3_stmt *s = NULL;
  int version = -1;
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
      sqlite3_exec(db, schema_sql, NULL, NULL, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db, "SELECT version FROM sipr_version", -1, &s,
                         NULL) != SQLITE_OK)
    goto fail;
  if (sqlite3_step(s) == SQLITE_ROW)
    version = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  s = NULL;
  if (version < 0) {
    char sql[80];
    snprintf(sql, sizeof(sql), "INSERT INTO sipr_version (version) VALUES (%d)",
             SCHEMA_VERSION);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
      goto fail;
  } else if (version != SCHEMA_VERSION) {
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sipr__store_err(err, errlen, "%s: schema version %d, expected %d", path,
                    version, SCHEMA_VERSION);
    return SIPR_EIO;
  }
  if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
    goto fail;
  return 0;
fail:
  sipr__store_err(err, errlen, "%s: schema: %s", path, sqlite3_errmsg(db));
  sqlite3_finalize(s);
  sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  return SIPR_EIO;
}

/* Flushes the bindings gathered for one AOR into the table. */
static int load_flush(sipr_store_t *st, const char *aor, sipr_binding_t **v,
                      size_t *n) {
  int rc = *n ? sipr__loc_set(&st->loc, aor, v, *n) : 0;
  *n = 0;
  return rc;
}

static int load(sipr_store_t *st, sqlite3 *db) {
  sqlite3_stmt *s = NULL;
  if (sqlite3_prepare_v2(db, "SELECT " LOC_COLS " FROM location ORDER BY aor",
                         -1, &s, NULL) != SQLITE_OK)
    return SIPR_EIO;
  size_t cap = 64, n = 0;
  sipr_binding_t **v = malloc(cap * sizeof(*v));
  char *aor = NULL;
  int rc = v ? 0 : SIPR_ENOMEM, step;
  while (rc == 0 && (step = sqlite3_step(s)) == SQLITE_ROW) {
    const char *a = col_text(s, 0);
    if (aor && strcmp(aor, a) != 0) {
      rc = load_flush(st, aor, v, &n);
      free(aor);
      aor = NULL;
    }
    if (!aor && rc == 0 && !(aor = strdup(a)))
      rc = SIPR_ENOMEM;
    if (rc == 0 && n == cap) {
      sipr_binding_t **nv = realloc(v, 2 * cap * sizeof(*v));
      if (nv) {
        v = nv;
        cap *= 2;
      } else {
        rc = SIPR_ENOMEM;
      }
    }
    if (rc != 0)
      break;
    sipr_binding_t b = {
        .contact = col_text(s, 1),
        .params = col_text(s, 2),
        .q = sqlite3_column_int(s, 3),
        .expires = sqlite3_column_int64(s, 4),
        .updated = sqlite3_column_int64(s, 5),
        .seq = (uint64_t)sqlite3_column_int64(s, 6),
        .call_id = col_text(s, 7),
        .cseq = (uint32_t)sqlite3_column_int64(s, 8),
        .path = col_text(s, 9),
        .instance = col_text(s, 10),
        .reg_id = (uint32_t)sqlite3_column_int64(s, 11),
        .received = col_text(s, 12),
        .user_agent = col_text(s, 13),
    };
    if (!(v[n] = sipr__binding_dup(&b, aor)))
      rc = SIPR_ENOMEM;
    else
      n++;
    if (b.seq >= st->seq_next)
      st->seq_next = b.seq + 1;
  }
  if (rc == 0 && step != SQLITE_DONE)
    rc = SIPR_EIO;
  if (rc == 0 && aor)
    rc = load_flush(st, aor, v, &n);
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
  free(aor);
  sqlite3_finalize(s);
  return rc;
}

static void make_parent(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash || slash == path || (size_t)(slash - path) >= 4096)
    return;
  char dir[4096];
  memcpy(dir, path, (size_t)(slash - path));
  dir[slash - path] = '\0';
  struct stat sb;
  if (stat(dir, &sb) != 0 && errno == ENOENT)
    mkdir(dir, 0755); /* one level; sqlite reports any other failure */
}

int sipr__sqlite_open(sipr_store_t *st, const char *path, char *err,
                      size_t errlen) {
  sq_be_t *q = calloc(1, sizeof(*q));
  if (!q) {
    sipr__store_err(err, errlen, "out of memory");
    return SIPR_ENOMEM;
  }
  pthread_mutex_init(&q->rmu, NULL);
  pthread_mutex_init(&q->qmu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the window's clock */
  pthread_cond_init(&q->qcv, &ca);
  pthread_condattr_destroy(&ca);
  q->group_ns = (uint64_t)st->cfg.sqlite_group_us * 1000u;
  pthread_cond_init(&q->fcv, NULL);
  q->purge_upto = INT64_MIN;
  make_parent(path);
  int sn = st->cfg.sqlite_sync_normal;
  if (open_conn(path, &q->w, sn, err, errlen) != 0 ||
      schema(q->w, path, err, errlen) != 0 ||
      open_conn(path, &q->r, sn, err, errlen) != 0)
    goto fail;
  int rc = load(st, q->w);
  if (rc != 0) {
    sipr__store_err(err, errlen, "%s: loading bindings: %s", path,
                    rc == SIPR_ENOMEM ? "out of memory" : sqlite3_errmsg(q->w));
    goto fail;
  }
  struct {
    sqlite3_stmt **s;
    const char *sql;
  } stm[] = {
      {&q->begin, "BEGIN IMMEDIATE"},
      {&q->commit, "COMMIT"},
      {&q->rollback, "ROLLBACK"},
      {&q->del_aor, "DELETE FROM location WHERE aor = ?"},
      {&q->ins, "INSERT OR REPLACE INTO location (" LOC_COLS ") VALUES "
                "(?,?,?,?,?,?,?,?,?,?,?,?,?,?)"},
      {&q->purge, "DELETE FROM location WHERE expires <= ?"},
  };
  for (size_t i = 0; i < sizeof(stm) / sizeof(stm[0]); i++)
    if (sqlite3_prepare_v2(q->w, stm[i].sql, -1, stm[i].s, NULL) !=
        SQLITE_OK) {
      sipr__store_err(err, errlen, "%s: %s", path, sqlite3_errmsg(q->w));
      goto fail;
    }
  st->be = q;
  if (pthread_create(&q->thread, NULL, writer_main, st) != 0) {
    sipr__store_err(err, errlen, "cannot start the writer thread");
    st->be = NULL;
    goto fail;
  }
  q->thread_started = 1;
  return 0;
fail:
  sq_free(q);
  sipr__loc_free(&st->loc); /* what load() put there */
  sipr__loc_init(&st->loc, 0);
  return SIPR_EIO;
}

/* ---- credentials ---------------------------------------------------------*/

/* Runs sql with up to 4 text parameters on the credentials connection
 * (rmu held); changes (may be NULL) receives the rows changed. */
static int cred_exec(sq_be_t *q, const char *sql, const char *const *p,
                     int np, int *changes) {
  sqlite3_stmt *s = NULL;
  int rc = SIPR_EIO;
  if (sqlite3_prepare_v2(q->r, sql, -1, &s, NULL) == SQLITE_OK) {
    for (int i = 0; i < np; i++)
      sqlite3_bind_text(s, i + 1, p[i], -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_DONE) {
      rc = 0;
      if (changes)
        *changes = sqlite3_changes(q->r);
    }
  }
  sqlite3_finalize(s);
  return rc;
}

static int sq_cred_put(sipr_store_t *st, const char *user, const char *realm,
                       const char *alg, const char *ha1) {
  sq_be_t *q = st->be;
  const char *p[4] = {user, realm, alg, ha1};
  /* Generic SQL: delete then insert, in one transaction. */
  pthread_mutex_lock(&q->rmu);
  int rc = cred_exec(q, "BEGIN IMMEDIATE", NULL, 0, NULL);
  if (rc != 0) {
    pthread_mutex_unlock(&q->rmu);
    return rc;
  }
  rc = cred_exec(q,
                 "DELETE FROM credentials WHERE username = ? AND realm = ? "
                 "AND algorithm = ?",
                 p, 3, NULL);
  if (rc == 0)
    rc = cred_exec(q,
                   "INSERT INTO credentials (username, realm, algorithm, ha1)"
                   " VALUES (?, ?, ?, ?)",
                   p, 4, NULL);
  if (rc == 0)
    rc = cred_exec(q, "COMMIT", NULL, 0, NULL);
  if (rc != 0)
    cred_exec(q, "ROLLBACK", NULL, 0, NULL);
  pthread_mutex_unlock(&q->rmu);
  return rc;
}

static int sq_cred_get(sipr_store_t *st, const char *user, const char *realm,
                       const char *alg, char *ha1, size_t size) {
  sq_be_t *q = st->be;
  int rc = SIPR_EIO;
  pthread_mutex_lock(&q->rmu);
  sqlite3_stmt *s = q->cred_get;
  if (s || sqlite3_prepare_v2(q->r,
                              "SELECT ha1 FROM credentials WHERE username = ?"
                              " AND realm = ? AND algorithm = ?",
                              -1, &q->cred_get, NULL) == SQLITE_OK) {
    s = q->cred_get;
    sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, realm, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, alg, -1, SQLITE_STATIC);
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
      snprintf(ha1, size, "%s", col_text(s, 0));
      rc = 0;
    } else if (step == SQLITE_DONE) {
      rc = SIPR_ENOENT;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }
  pthread_mutex_unlock(&q->rmu);
  return rc;
}

static int sq_cred_del(sipr_store_t *st, const char *user, const char *realm) {
  sq_be_t *q = st->be;
  const char *p[2] = {user, realm};
  int changes = 0;
  pthread_mutex_lock(&q->rmu);
  int rc = cred_exec(q,
                     realm ? "DELETE FROM credentials WHERE username = ? AND "
                             "realm = ?"
                           : "DELETE FROM credentials WHERE username = ?",
                     p, realm ? 2 : 1, &changes);
  pthread_mutex_unlock(&q->rmu);
  if (rc == 0 && changes == 0)
    rc = SIPR_ENOENT;
  return rc;
}

static int sq_cred_list(sipr_store_t *st, sipr_cred_list_t *out) {
  sq_be_t *q = st->be;
  sqlite3_stmt *s = NULL;
  int rc = SIPR_EIO;
  size_t n = 0, cap = 0;
  char **a = NULL;
  pthread_mutex_lock(&q->rmu);
  if (sqlite3_prepare_v2(q->r,
                         "SELECT username, realm, algorithm, ha1 FROM "
                         "credentials ORDER BY realm, username, algorithm",
                         -1, &s, NULL) != SQLITE_OK)
    goto out;
  int step;
  rc = 0;
  while ((step = sqlite3_step(s)) == SQLITE_ROW) {
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 16;
      char **na = realloc(a, 4 * nc * sizeof(*a));
      if (!na) {
        rc = SIPR_ENOMEM;
        break;
      }
      a = na;
      cap = nc;
    }
    for (int i = 0; i < 4; i++)
      a[4 * n + (size_t)i] = strdup(col_text(s, i));
    n++;
    for (int i = 0; i < 4; i++)
      if (!a[4 * (n - 1) + (size_t)i])
        rc = SIPR_ENOMEM;
    if (rc)
      break;
  }
  if (rc == 0 && step != SQLITE_DONE)
    rc = SIPR_EIO;
out:
  sqlite3_finalize(s);
  pthread_mutex_unlock(&q->rmu);
  if (rc == 0 && n) {
    const char **u = malloc(4 * n * sizeof(*u));
    if (!u) {
      rc = SIPR_ENOMEM;
    } else {
      for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < 4; k++)
          u[k * n + i] = a[4 * i + k];
      rc = sipr__cred_list_build(out, u, u + n, u + 2 * n, u + 3 * n, n);
      free(u);
    }
  }
  for (size_t i = 0; i < 4 * n; i++)
    free(a[i]);
  free(a);
  return rc;
}

const sipr__store_ops_t sipr__sqlite_ops = {
    .name = "sqlite",
    .submit = sq_submit,
    .flush = sq_flush,
    .expired = sq_expired,
    .close = sq_close,
    .cred_put = sq_cred_put,
    .cred_get = sq_cred_get,
    .cred_del = sq_cred_del,
    .cred_list = sq_cred_list,
};
