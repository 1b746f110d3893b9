/*
 * Worker threads, each running its own loop (include/sipr/event.h).
 *
 * sipr_workers_start() creates every loop on the calling thread, then the
 * threads; each runs the init callback on its own loop and reports, and
 * the start returns only once all have reported. Worker threads block
 * every signal, so signals reach the threads of the caller.
 */
#include "event_internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct sipr__worker {
  pthread_t th;
  sipr_loop_t *loop;
  sipr_workers_t *w;
  unsigned index;
  int running; /* thread created and not yet joined */
} sipr__worker_t;

struct sipr_workers {
  unsigned n;
  sipr__worker_t *ws;
  sipr_worker_init_cb *init;
  void *arg;
  pthread_mutex_t mu; /* guards reported, failed */
  pthread_cond_t cv;
  unsigned reported;
  int failed;
};

static void *worker_main(void *p) {
  sipr__worker_t *wk = p;
  sipr_workers_t *w = wk->w;
  char name[16];
  int rc;
  snprintf(name, sizeof(name), "sipr-w%u", wk->index);
  pthread_setname_np(pthread_self(), name);
  rc = w->init ? w->init(wk->loop, wk->index, w->arg) : 0;
  pthread_mutex_lock(&w->mu);
  w->reported++;
  if (rc != 0)
    w->failed = 1;
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
  if (rc == 0)
    sipr_loop_run(wk->loop); /* until sipr_workers_stop() */
  return NULL;
}

/* Stops and joins the running threads, frees every loop and w. */
static void teardown(sipr_workers_t *w) {
  unsigned i;
  for (i = 0; i < w->n; i++)
    if (w->ws[i].running)
      sipr_loop_stop(w->ws[i].loop);
  for (i = 0; i < w->n; i++) {
    if (w->ws[i].running)
      pthread_join(w->ws[i].th, NULL);
    sipr_loop_free(w->ws[i].loop);
  }
  pthread_cond_destroy(&w->cv);
  pthread_mutex_destroy(&w->mu);
  free(w->ws);
  free(w);
}

/* Starts n workers (0: the number of online CPUs), each a thread running
 * its own loop on clock (NULL: monotonic; shared, so it must be safe to
 * read from every worker). init (may be NULL) runs first on each worker's
 * thread with its loop and index; once every init has returned this
 * returns, or, if one failed (non-zero) or a thread or loop could not be
 * made, stops everything and returns NULL. */
sipr_workers_t *sipr_workers_start(unsigned n, const sipr_clock_t *clock,
                                   sipr_worker_init_cb *init, void *arg) {
  sipr_workers_t *w;
  sigset_t all, old;
  unsigned i, started = 0;
  int failed;
  if (n == 0) {
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    n = c > 0 ? (unsigned)c : 1;
  }
  w = calloc(1, sizeof(*w));
  if (!w)
    return NULL;
  w->ws = calloc(n, sizeof(*w->ws));
  if (!w->ws || pthread_mutex_init(&w->mu, NULL) != 0) {
    free(w->ws);
    free(w);
    return NULL;
  }
  if (pthread_cond_init(&w->cv, NULL) != 0) {
    pthread_mutex_destroy(&w->mu);
    free(w->ws);
    free(w);
    return NULL;
  }
  w->n = n;
  w->init = init;
  w->arg = arg;
  failed = 0;
  for (i = 0; i < n; i++) {
    w->ws[i].w = w;
    w->ws[i].index = i;
    if (!(w->ws[i].loop = sipr_loop_new(clock)))
      failed = 1;
  }
  if (!failed) {
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (i = 0; i < n; i++) {
      if (pthread_create(&w->ws[i].th, NULL, worker_main, &w->ws[i]) != 0) {
        failed = 1;
        break;
      }
      w->ws[i].running = 1;
      started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
  }
  pthread_mutex_lock(&w->mu);
  while (w->reported < started)
    pthread_cond_wait(&w->cv, &w->mu);
  failed |= w->failed;
  pthread_mutex_unlock(&w->mu);
  if (failed) {
    teardown(w);
    return NULL;
  }
  return w;
}

/* The number of workers. */
unsigned sipr_workers_count(const sipr_workers_t *w) { return w->n; }

/* Worker index's loop (NULL when index is out of range). Other threads may
 * only post to it or stop it. */
sipr_loop_t *sipr_workers_loop(sipr_workers_t *w, unsigned index) {
  return index < w->n ? w->ws[index].loop : NULL;
}

/* Stops every loop, joins the threads (each finishes its current round;
 * jobs still queued are dropped), frees the loops and w. NULL: no-op. Not
 * from a worker thread. */
void sipr_workers_stop(sipr_workers_t *w) {
  if (w)
    teardown(w);
}
