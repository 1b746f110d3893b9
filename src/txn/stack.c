/*
 * Stack (include/sipr/stack.h): N workers, each a thread running its own
 * loop, transport and transaction layer, and the hand-off between them.
 *
 * A hand-off is one heap job holding a copy of the bytes, the source or
 * destination and the target worker; it is posted to the target's loop
 * (sipr_loop_post()) and freed by the job itself once it has run. After
 * sipr_stack_stop() sets `stopping`, nothing more is posted, and the jobs
 * still queued are run once more by sipr_stack_free() on the controlling
 * thread, where they see `stopping` and only free themselves.
 */
#include "sipr/stack.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STK_ARENA_CAP (4u << 20) /* what one re-parsed message may allocate */

typedef struct stk_worker {
  sipr_stack_t *s;
  unsigned index;
  sipr_loop_t *loop;
  sipr_tp_t *tp;
  sipr_txn_layer_t *txn;
  sipr_arena_t arena; /* re-parsing of handed-off messages */
  pthread_t th;
  int running;
  _Atomic uint64_t rx_posted, rx_taken, tx_posted, tx_taken, dropped;
} stk_worker_t;

struct sipr_stack {
  unsigned n;
  stk_worker_t *wk;
  sipr_txn_user_ops_t user;
  void *user_ctx;
  int started; /* controlling thread only */
  sipr_stack_refused_cb *refused; /* set before start, read-only after */
  void *refused_ctx;
  atomic_int stopping;
};

enum { JOB_RX = 1, JOB_TX_RESPONSE, JOB_TX_RAW };

typedef struct stk_job {
  stk_worker_t *to;
  stk_worker_t *from;
  int kind;
  sipr_tp_src_t src;   /* JOB_RX, JOB_TX_RESPONSE */
  sipr_tp_addr_t dest; /* JOB_TX_RAW when has_dest */
  int has_dest;
  uint64_t conn_id;    /* JOB_TX_RAW */
  size_t len;
  char buf[];
} stk_job_t;

static _Thread_local const stk_worker_t *stk_self;

static void count(_Atomic uint64_t *c) {
  atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static uint64_t read_count(const _Atomic uint64_t *c) {
  return atomic_load_explicit((_Atomic uint64_t *)c, memory_order_relaxed);
}

/* ---- the jobs ------------------------------------------------------------ */

/* Parses a copy of a message on the target worker; NULL when it does not
 * (counted). The message lives in the worker's arena until the next one. */
static sipr_msg_t *job_parse(stk_job_t *j, unsigned flags, int check) {
  sipr_msg_t *m = NULL;
  sipr_perr_t err;
  memset(&err, 0, sizeof(err));
  sipr_arena_reset(&j->to->arena);
  int rc = sipr_msg_parse(&j->to->arena, j->buf, j->len, flags, &m, &err);
  if (rc == 0 && check)
    rc = sipr_msg_check(m, &err);
  if (rc) {
    count(&j->to->dropped);
    return NULL;
  }
  return m;
}

static void job_run(void *arg) {
  stk_job_t *j = arg;
  stk_worker_t *w = j->to;
  if (atomic_load(&w->s->stopping)) {
    count(&w->dropped);
    free(j);
    return;
  }
  switch (j->kind) {
  case JOB_RX: {
    unsigned flags = sipr_tp_reliable(j->src.remote.proto) ? SIPR_PARSE_STREAM
                                                             : SIPR_PARSE_DATAGRAM;
    sipr_msg_t *m = job_parse(j, flags, 1);
    if (m) {
      count(&w->rx_taken);
      sipr_txn_layer_recv(w->txn, m, &j->src);
    }
    break;
  }
  case JOB_TX_RESPONSE: {
    sipr_msg_t *m = job_parse(j, SIPR_PARSE_DATAGRAM, 0);
    sipr_via_t *via = m ? sipr_msg_via(m) : NULL;
    if (via) {
      count(&w->tx_taken);
      sipr_tp_send_response(w->tp, &j->src, via, j->buf, j->len);
    } else if (m) {
      count(&w->dropped);
    }
    break;
  }
  case JOB_TX_RAW:
    count(&w->tx_taken);
    sipr_tp_send(w->tp, j->has_dest ? &j->dest : NULL, j->conn_id, j->buf,
                 j->len);
    break;
  }
  free(j);
}

/* Copies buf into a new job for worker `to`. NULL when out of memory or
 * stopping (counted on `from`). */
static stk_job_t *job_new(stk_worker_t *from, stk_worker_t *to, int kind,
                          const char *buf, size_t len) {
  stk_job_t *j = NULL;
  if (!atomic_load(&from->s->stopping))
    j = malloc(sizeof(*j) + len);
  if (!j) {
    count(&from->dropped);
    return NULL;
  }
  memset(j, 0, sizeof(*j));
  j->to = to;
  j->from = from;
  j->kind = kind;
  j->len = len;
  memcpy(j->buf, buf, len);
  return j;
}

static int job_post(stk_job_t *j) {
  if (sipr_loop_post(j->to->loop, job_run, j) != 0) {
    count(&j->from->dropped);
    free(j);
    return SIPR_ENOMEM;
  }
  return 0;
}

/* ---- the paths ----------------------------------------------------------- */

int sipr_stack_worker_of_branch(const sipr_stack_t *s, sipr_str_t branch) {
  int w = sipr_txn_branch_worker(branch);
  return s && w >= 0 && (unsigned)w < s->n ? w : -1;
}

void sipr_stack_recv(sipr_stack_t *s, unsigned w, sipr_msg_t *msg,
                     const sipr_tp_src_t *src) {
  if (!s || w >= s->n || !msg || !src)
    return;
  stk_worker_t *me = &s->wk[w];
  if (!msg->is_request) {
    sipr_via_t *via = sipr_msg_via(msg);
    int o = via ? sipr_stack_worker_of_branch(s, via->branch) : -1;
    if (o >= 0 && (unsigned)o != w) {
      stk_job_t *j = job_new(me, &s->wk[o], JOB_RX, msg->buf, msg->len);
      if (j) {
        j->src = *src;
        if (job_post(j) == 0)
          count(&me->rx_posted);
      }
      return;
    }
  }
  sipr_txn_layer_recv(me->txn, msg, src);
}

/* The worker owning conn_id when it is another worker than w, else NULL. */
static stk_worker_t *other_owner(sipr_stack_t *s, unsigned w, uint64_t conn_id) {
  if (!conn_id)
    return NULL;
  unsigned o = sipr_tp_conn_worker(conn_id);
  return o != w && o < s->n ? &s->wk[o] : NULL;
}

int sipr_stack_send_response(sipr_stack_t *s, unsigned w,
                             const sipr_tp_src_t *src, const sipr_via_t *via,
                             const char *buf, size_t len) {
  if (!s || w >= s->n || !buf)
    return SIPR_EINVAL;
  stk_worker_t *to = src ? other_owner(s, w, src->conn_id) : NULL;
  if (!to)
    return sipr_tp_send_response(s->wk[w].tp, src, via, buf, len);
  stk_job_t *j = job_new(&s->wk[w], to, JOB_TX_RESPONSE, buf, len);
  if (!j)
    return SIPR_ENOMEM;
  j->src = *src;
  int rc = job_post(j);
  if (rc == 0)
    count(&s->wk[w].tx_posted);
  return rc;
}

int sipr_stack_send(sipr_stack_t *s, unsigned w, const sipr_tp_addr_t *dest,
                    uint64_t conn_id, const char *buf, size_t len) {
  if (!s || w >= s->n || !buf)
    return SIPR_EINVAL;
  stk_worker_t *to = other_owner(s, w, conn_id);
  if (!to)
    return sipr_tp_send(s->wk[w].tp, dest, conn_id, buf, len);
  stk_job_t *j = job_new(&s->wk[w], to, JOB_TX_RAW, buf, len);
  if (!j)
    return SIPR_ENOMEM;
  j->conn_id = conn_id;
  if (dest) {
    j->dest = *dest;
    j->has_dest = 1;
  }
  int rc = job_post(j);
  if (rc == 0)
    count(&s->wk[w].tx_posted);
  return rc;
}

/* ---- the ops tables ------------------------------------------------------ */

static void on_tp_recv(void *user, sipr_tp_t *tp, sipr_msg_t *msg,
                       const sipr_tp_src_t *src) {
  (void)tp;
  stk_worker_t *w = user;
  sipr_stack_recv(w->s, w->index, msg, src);
}

/* A connection of this worker closed: its client transactions fail now
 * (§17.1.4); requests go out on the sender's own transport, so the
 * connection and the transactions that used it share a worker. */
static void on_tp_closed(void *user, sipr_tp_t *tp, uint64_t conn_id) {
  (void)tp;
  stk_worker_t *w = user;
  if (w->txn)
    sipr_txn_layer_conn_closed(w->txn, conn_id);
}

static void on_tp_refused(void *user, sipr_tp_t *tp, const sipr_tp_addr_t *remote,
                          sipr_str_t method, unsigned status,
                          const char *reason) {
  (void)tp;
  stk_worker_t *w = user;
  if (w->s->refused)
    w->s->refused(w->s->refused_ctx, remote, method, status, reason);
}

void sipr_stack_set_refused(sipr_stack_t *s, sipr_stack_refused_cb *cb,
                            void *ctx) {
  if (!s || s->started)
    return;
  s->refused = cb;
  s->refused_ctx = ctx;
}

static int on_send_request(void *ctx, const sipr_tp_addr_t *dest,
                           const char *buf, size_t len, uint64_t *conn_id) {
  stk_worker_t *w = ctx;
  return sipr_tp_send_request(w->tp, dest, buf, len, conn_id);
}

static int on_send_response(void *ctx, const sipr_tp_src_t *src,
                            const sipr_via_t *via, const char *buf, size_t len) {
  stk_worker_t *w = ctx;
  return sipr_stack_send_response(w->s, w->index, src, via, buf, len);
}

/* ---- life cycle ---------------------------------------------------------- */

static void hold_tp(void *tp) { sipr_tp_hold(tp); }
static void release_tp(void *tp) { sipr_tp_release(tp); }

sipr_stack_t *sipr_stack_new(unsigned workers, const sipr_tp_cfg_t *tp_cfg,
                             const sipr_txn_cfg_t *txn_cfg,
                             const sipr_txn_user_ops_t *user, void *user_ctx,
                             const sipr_clock_t *clock) {
  if (workers == 0) {
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    workers = c > 0 ? (unsigned)c : 1;
  }
  if (workers > SIPR_STACK_MAX_WORKERS)
    workers = SIPR_STACK_MAX_WORKERS;
  sipr_stack_t *s = calloc(1, sizeof(*s));
  if (!s)
    return NULL;
  s->wk = calloc(workers, sizeof(*s->wk));
  if (!s->wk) {
    free(s);
    return NULL;
  }
  s->n = workers;
  if (user)
    s->user = *user;
  s->user_ctx = user_ctx;
  atomic_init(&s->stopping, 0);
  static const sipr_tp_user_ops_t tp_ops = {.recv = on_tp_recv,
                                            .conn_closed = on_tp_closed,
                                            .refused = on_tp_refused};
  static const sipr_txn_tp_ops_t txn_tp_ops = {.send_request = on_send_request,
                                               .send_response = on_send_response};
  for (unsigned i = 0; i < workers; i++) {
    s->wk[i].s = s;
    s->wk[i].index = i;
    sipr_arena_init(&s->wk[i].arena, NULL, 0, STK_ARENA_CAP);
  }
  for (unsigned i = 0; i < workers; i++) {
    stk_worker_t *w = &s->wk[i];
    sipr_tp_cfg_t tc;
    sipr_txn_cfg_t xc;
    if (tp_cfg)
      tc = *tp_cfg;
    else
      sipr_tp_cfg_default(&tc);
    if (txn_cfg)
      xc = *txn_cfg;
    else
      sipr_txn_cfg_default(&xc);
    tc.worker = i;
    xc.worker = i;
    if (!(w->loop = sipr_loop_new(clock)) ||
        !(w->tp = sipr_tp_new(w->loop, &tc, &tp_ops, w)) ||
        !(w->txn = sipr_txn_layer_new(w->loop, &xc, &txn_tp_ops, w, &s->user,
                                      s->user_ctx))) {
      sipr_stack_free(s);
      return NULL;
    }
    /* Answers made by posted jobs (hand-offs, a store's completions)
     * leave in one sendmmsg per run of jobs. */
    sipr_loop_set_job_hooks(w->loop, hold_tp, release_tp, w->tp);
  }
  return s;
}

int sipr_stack_listen(sipr_stack_t *s, const sipr_tp_addr_t *addr) {
  if (!s || !addr || s->started)
    return SIPR_EINVAL;
  unsigned before = 0;
  while (sipr_tp_local(s->wk[0].tp, before))
    before++;
  int rc = sipr_tp_listen(s->wk[0].tp, addr);
  if (rc)
    return rc;
  /* The others take the port the first one got (port 0). */
  sipr_tp_addr_t bound = *sipr_tp_local(s->wk[0].tp, before);
  for (unsigned i = 1; i < s->n; i++)
    if ((rc = sipr_tp_listen(s->wk[i].tp, &bound)) != 0)
      return rc;
  return 0;
}

int sipr_stack_add_alias(sipr_stack_t *s, sipr_str_t host, int port) {
  if (!s || s->started)
    return SIPR_EINVAL;
  for (unsigned i = 0; i < s->n; i++) {
    int rc = sipr_tp_add_alias(s->wk[i].tp, host, port);
    if (rc)
      return rc;
  }
  return 0;
}

static void *worker_main(void *arg) {
  stk_worker_t *w = arg;
  stk_self = w;
  sipr_loop_run(w->loop); /* until sipr_stack_stop() */
  stk_self = NULL;
  return NULL;
}

int sipr_stack_start(sipr_stack_t *s) {
  if (!s || s->started)
    return SIPR_EINVAL;
  s->started = 1;
  /* Worker threads block every signal: signals go to the caller's threads. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = 0;
  for (unsigned i = 0; i < s->n && rc == 0; i++) {
    if (pthread_create(&s->wk[i].th, NULL, worker_main, &s->wk[i]) != 0)
      rc = SIPR_EIO;
    else
      s->wk[i].running = 1;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc)
    sipr_stack_stop(s);
  return rc;
}

void sipr_stack_stop(sipr_stack_t *s) {
  if (!s)
    return;
  atomic_store(&s->stopping, 1);
  for (unsigned i = 0; i < s->n; i++)
    if (s->wk[i].running)
      sipr_loop_stop(s->wk[i].loop);
  for (unsigned i = 0; i < s->n; i++)
    if (s->wk[i].running) {
      pthread_join(s->wk[i].th, NULL);
      s->wk[i].running = 0;
    }
}

void sipr_stack_free(sipr_stack_t *s) {
  if (!s)
    return;
  sipr_stack_stop(s);
  /* Every thread is joined: this thread owns every loop now. */
  for (unsigned i = 0; i < s->n; i++) {
    stk_worker_t *w = &s->wk[i];
    if (w->loop) /* the jobs still queued run below, with no transport */
      sipr_loop_set_job_hooks(w->loop, NULL, NULL, NULL);
    sipr_txn_layer_free(w->txn);
    w->txn = NULL;
    sipr_tp_free(w->tp);
    w->tp = NULL;
  }
  for (unsigned i = 0; i < s->n; i++) {
    stk_worker_t *w = &s->wk[i];
    if (w->loop) {
      /* No fd and no timer is left; this runs the queued jobs, which
       * see `stopping` and free themselves. Nothing posts any more. */
      sipr_loop_run_once(w->loop, 0);
      sipr_loop_free(w->loop);
    }
    sipr_arena_free(&w->arena);
  }
  free(s->wk);
  free(s);
}

/* ---- accessors ----------------------------------------------------------- */

unsigned sipr_stack_workers(const sipr_stack_t *s) { return s ? s->n : 0; }

sipr_loop_t *sipr_stack_loop(sipr_stack_t *s, unsigned w) {
  return s && w < s->n ? s->wk[w].loop : NULL;
}

sipr_tp_t *sipr_stack_tp(sipr_stack_t *s, unsigned w) {
  return s && w < s->n ? s->wk[w].tp : NULL;
}

sipr_txn_layer_t *sipr_stack_txn(sipr_stack_t *s, unsigned w) {
  return s && w < s->n ? s->wk[w].txn : NULL;
}

int sipr_stack_current(const sipr_stack_t *s) {
  const stk_worker_t *w = stk_self;
  return s && w && w->s == s ? (int)w->index : -1;
}

void sipr_stack_get_stats(const sipr_stack_t *s, unsigned w,
                          sipr_stack_stats_t *out) {
  if (!out)
    return;
  memset(out, 0, sizeof(*out));
  if (!s || w >= s->n)
    return;
  const stk_worker_t *k = &s->wk[w];
  out->rx_posted = read_count(&k->rx_posted);
  out->rx_taken = read_count(&k->rx_taken);
  out->tx_posted = read_count(&k->tx_posted);
  out->tx_taken = read_count(&k->tx_taken);
  out->dropped = read_count(&k->dropped);
}
