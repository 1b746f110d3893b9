/*
 * Event layer internals shared by loop.c, timer.c and workers.c: the loop
 * structure and the timer wheel that lives inside it.
 */
#ifndef SIPR_EVENT_INTERNAL_H
#define SIPR_EVENT_INTERNAL_H

#include "sipr/event.h"

#include <pthread.h>
#include <stdatomic.h>

/* Wheel geometry: 4 levels of 256 slots at 1 ms cover 2^32 ms (~49.7
 * days) ahead; later timers wait on an overflow list (timer.c). */
#define SIPR__WHEEL_BITS 8
#define SIPR__WHEEL_SLOTS (1u << SIPR__WHEEL_BITS)
#define SIPR__WHEEL_MASK (SIPR__WHEEL_SLOTS - 1)
#define SIPR__WHEEL_LEVELS 4

typedef struct sipr__wheel {
  uint64_t base;  /* next tick (ms) not yet processed */
  size_t count;   /* armed timers, including those about to fire */
  /* Slot lists are circular with a sentinel head. */
  sipr_timer_t slot[SIPR__WHEEL_LEVELS][SIPR__WHEEL_SLOTS];
  uint64_t bits[SIPR__WHEEL_LEVELS][SIPR__WHEEL_SLOTS / 64]; /* non-empty */
  sipr_timer_t overflow; /* due 2^32 ms or more past base */
  sipr_timer_t pending;  /* the tick being fired, in firing order */
} sipr__wheel_t;

typedef struct sipr__fd {
  sipr_io_cb *cb;
  void *arg;
  unsigned events;
  uint32_t gen; /* tags epoll events, so stale ones are dropped */
  int active;
} sipr__fd_t;

typedef struct sipr__job {
  sipr_job_fn *fn;
  void *arg;
  struct sipr__job *next;
} sipr__job_t;

struct sipr_loop {
  const sipr_clock_t *clock;
  int epfd, evfd;
  sipr__fd_t *fds; /* indexed by fd */
  size_t nfds;
  uint32_t gen;
  pthread_mutex_t mu; /* guards the job list */
  sipr__job_t *jobs_head, *jobs_tail;
  atomic_int wake_pending; /* an eventfd write is on its way */
  atomic_int stop;
  sipr__wheel_t wheel;
  sipr_loop_hook_fn *job_before, *job_after; /* sipr_loop_set_job_hooks() */
  void *job_hook_ctx;
};

/* Empties the wheel and sets its first tick to now. */
void sipr__wheel_init(sipr__wheel_t *w, uint64_t now);
/* Fires, in order, every timer whose tick is at or before limit. With fc,
 * moves fc->now forward to each tick before firing it. Returns the number
 * fired. */
int sipr__timers_run(sipr_loop_t *loop, uint64_t limit, sipr_fake_clock_t *fc);

#endif
