/*
 * Event layer: one epoll loop per worker thread, a timer wheel per loop
 * with millisecond resolution and an injectable clock, and a queue through
 * which other threads hand work to a loop (eventfd-signalled).
 *
 * Ownership: a loop, its timers and its fds belong to the thread that runs
 * the loop. Only sipr_loop_post() and sipr_loop_stop() may be called from
 * other threads.
 */
#define SIPR_HEADER_LAYER 2
#include "sipr/layer.h"

#ifndef SIPR_EVENT_H
#define SIPR_EVENT_H

#include "sipr/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- clock ---------------------------------------------------------------
 * Milliseconds from an arbitrary origin, monotonic. Tests inject a fake
 * clock and move it with sipr_fake_clock_advance(). */
typedef struct sipr_clock {
  uint64_t (*now_ms)(void *ctx);
  void *ctx;
} sipr_clock_t;

/* The real monotonic clock (CLOCK_MONOTONIC). */
const sipr_clock_t *sipr_clock_monotonic(void);

typedef struct sipr_fake_clock {
  sipr_clock_t clock; /* pass &fc.clock to sipr_loop_new() */
  uint64_t now;
} sipr_fake_clock_t;

void sipr_fake_clock_init(sipr_fake_clock_t *fc, uint64_t start_ms);
/* Moves the fake clock forward by ms; fires nothing by itself (the next
 * sipr_loop_run_once() runs what became due). */
void sipr_fake_clock_advance(sipr_fake_clock_t *fc, uint64_t ms);

/* ---- loop ---------------------------------------------------------------- */
typedef struct sipr_loop sipr_loop_t;

#define SIPR_EV_READ 0x1
#define SIPR_EV_WRITE 0x2
#define SIPR_EV_ERROR 0x4 /* EPOLLERR / EPOLLHUP, always reported */

typedef void sipr_io_cb(sipr_loop_t *loop, int fd, unsigned events, void *arg);

/* Creates a loop on clock (NULL: the monotonic clock). NULL on failure. */
sipr_loop_t *sipr_loop_new(const sipr_clock_t *clock);
/* Frees the loop. Timers still armed are forgotten (their owners must not
 * touch them afterwards); registered fds are not closed. */
void sipr_loop_free(sipr_loop_t *loop);
uint64_t sipr_loop_now(const sipr_loop_t *loop);

/* Watches fd for events (SIPR_EV_*). The callback runs on the loop's
 * thread. Returns 0 or SIPR_EIO / SIPR_ENOMEM. */
int sipr_loop_add_fd(sipr_loop_t *loop, int fd, unsigned events,
                     sipr_io_cb *cb, void *arg);
int sipr_loop_mod_fd(sipr_loop_t *loop, int fd, unsigned events);
/* Stops watching fd; safe to call from within its own callback. */
int sipr_loop_del_fd(sipr_loop_t *loop, int fd);

/* Waits up to max_wait_ms (-1: until the next timer or event, 0: poll)
 * for events, dispatches them, then runs every timer that is due and every
 * posted job. Returns the number of callbacks run, or SIPR_EIO. */
int sipr_loop_run_once(sipr_loop_t *loop, int max_wait_ms);
/* Runs until sipr_loop_stop(). */
int sipr_loop_run(sipr_loop_t *loop);
/* Thread-safe: makes sipr_loop_run() return after its current round. */
void sipr_loop_stop(sipr_loop_t *loop);

/* Thread-safe: runs fn(arg) on the loop's thread at its next round.
 * Returns 0, or SIPR_ENOMEM (fn will then never run). */
typedef void sipr_job_fn(void *arg);
int sipr_loop_post(sipr_loop_t *loop, sipr_job_fn *fn, void *arg);

/* Hooks around each run of posted jobs (loop thread): before() when there
 * are jobs to run, after() once they have run. The transport uses them to
 * send the answers jobs produce in one batch (sipr_tp_hold()). NULL: none.
 * Set before the loop runs. */
typedef void sipr_loop_hook_fn(void *ctx);
void sipr_loop_set_job_hooks(sipr_loop_t *loop, sipr_loop_hook_fn *before,
                             sipr_loop_hook_fn *after, void *ctx);

/* ---- timers ----------------------------------------------------------------
 * Intrusive: the owner embeds a sipr_timer_t and keeps it alive while it
 * is armed. A hierarchical wheel gives O(1) start and stop. */
typedef void sipr_timer_cb(sipr_loop_t *loop, void *arg);

typedef struct sipr_timer {
  struct sipr_timer *next, *prev; /* wheel slot list */
  uint64_t due;                   /* absolute ms */
  sipr_timer_cb *cb;
  void *arg;
  int armed;
} sipr_timer_t;

void sipr_timer_init(sipr_timer_t *t, sipr_timer_cb *cb, void *arg);
/* (Re)arms t to fire once, delay_ms from now. */
void sipr_timer_start(sipr_loop_t *loop, sipr_timer_t *t, uint64_t delay_ms);
/* Disarms t; no-op when not armed. Safe from any callback of the loop. */
void sipr_timer_stop(sipr_loop_t *loop, sipr_timer_t *t);
static inline int sipr_timer_armed(const sipr_timer_t *t) { return t->armed; }

/* Fake-clock driving for tests: moves the clock forward by ms, firing due
 * timers in order of their due time, each with the clock set to its due
 * time (so a timer that re-arms itself sees exact intervals). Returns the
 * number of timers fired. */
int sipr_loop_advance(sipr_loop_t *loop, sipr_fake_clock_t *fc, uint64_t ms);

/* Milliseconds until the next armed timer, or -1 when none. */
long sipr_loop_next_timeout(sipr_loop_t *loop);

/* ---- workers ----------------------------------------------------------------
 * N threads, each with its own loop. */
typedef struct sipr_workers sipr_workers_t;

/* Called on each worker's thread before its loop runs (open sockets,
 * register fds). A non-zero return stops the start. */
typedef int sipr_worker_init_cb(sipr_loop_t *loop, unsigned index, void *arg);

/* Starts n workers (0: number of online CPUs). Returns NULL on failure. */
sipr_workers_t *sipr_workers_start(unsigned n, const sipr_clock_t *clock,
                                   sipr_worker_init_cb *init, void *arg);
unsigned sipr_workers_count(const sipr_workers_t *w);
sipr_loop_t *sipr_workers_loop(sipr_workers_t *w, unsigned index);
/* Stops every loop and joins the threads, then frees. */
void sipr_workers_stop(sipr_workers_t *w);

#ifdef __cplusplus
}
#endif
#endif
