/*
 * Event loop: epoll (level-triggered), the timer wheel (timer.c) and a job
 * queue other threads feed through sipr_loop_post(), signalled with an
 * eventfd (include/sipr/event.h).
 *
 * One round of sipr_loop_run_once(): wait in epoll_wait() (bounded by the
 * next timer, 0 when jobs wait), dispatch fd events, fire due timers, run
 * the jobs posted so far. Each epoll event carries the fd and a generation
 * number given at sipr_loop_add_fd(); an event whose fd was removed (or
 * removed and added again) earlier in the same batch is dropped, so a
 * callback may delete any fd, its own included.
 */
#include "event_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MAX_EVENTS 64
#define EVFD_TAG UINT64_MAX /* epoll data of the eventfd */

static uint64_t fd_tag(int fd, uint32_t gen) {
  return ((uint64_t)gen << 32) | (uint32_t)fd;
}

static uint32_t to_epoll(unsigned events) {
  uint32_t e = 0;
  if (events & SIPR_EV_READ)
    e |= EPOLLIN;
  if (events & SIPR_EV_WRITE)
    e |= EPOLLOUT;
  return e;
}

static unsigned from_epoll(uint32_t e) {
  unsigned ev = 0;
  if (e & EPOLLIN)
    ev |= SIPR_EV_READ;
  if (e & EPOLLOUT)
    ev |= SIPR_EV_WRITE;
  if (e & (EPOLLERR | EPOLLHUP))
    ev |= SIPR_EV_ERROR;
  return ev;
}

/* Creates a loop reading time from clock (NULL: sipr_clock_monotonic()),
 * which must outlive it. The loop belongs to the thread that runs it.
 * Returns NULL when memory or a descriptor (epoll, eventfd) is lacking. */
sipr_loop_t *sipr_loop_new(const sipr_clock_t *clock) {
  struct epoll_event ev;
  sipr_loop_t *loop = calloc(1, sizeof(*loop));
  if (!loop)
    return NULL;
  loop->clock = clock ? clock : sipr_clock_monotonic();
  loop->epfd = epoll_create1(EPOLL_CLOEXEC);
  loop->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (loop->epfd < 0 || loop->evfd < 0 ||
      pthread_mutex_init(&loop->mu, NULL) != 0)
    goto fail;
  memset(&ev, 0, sizeof(ev));
  ev.events = EPOLLIN;
  ev.data.u64 = EVFD_TAG;
  if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->evfd, &ev) < 0) {
    pthread_mutex_destroy(&loop->mu);
    goto fail;
  }
  atomic_init(&loop->wake_pending, 0);
  atomic_init(&loop->stop, 0);
  sipr__wheel_init(&loop->wheel, sipr_loop_now(loop));
  return loop;
fail:
  if (loop->epfd >= 0)
    close(loop->epfd);
  if (loop->evfd >= 0)
    close(loop->evfd);
  free(loop);
  return NULL;
}

/* Frees loop (NULL: no-op) from its own thread, or any thread once no
 * other thread can post to it. Jobs not yet run are dropped; armed timers
 * are forgotten without being touched; registered fds stay open. */
void sipr_loop_free(sipr_loop_t *loop) {
  sipr__job_t *j, *next;
  if (!loop)
    return;
  for (j = loop->jobs_head; j; j = next) {
    next = j->next;
    free(j);
  }
  pthread_mutex_destroy(&loop->mu);
  close(loop->epfd);
  close(loop->evfd);
  free(loop->fds);
  free(loop);
}

/* The loop clock's current time in ms. */
uint64_t sipr_loop_now(const sipr_loop_t *loop) {
  return loop->clock->now_ms(loop->clock->ctx);
}

static int fds_reserve(sipr_loop_t *loop, int fd) {
  size_t need = (size_t)fd + 1, n;
  sipr__fd_t *p;
  if (need <= loop->nfds)
    return 0;
  n = loop->nfds ? loop->nfds : 64;
  while (n < need)
    n *= 2;
  p = realloc(loop->fds, n * sizeof(*p));
  if (!p)
    return SIPR_ENOMEM;
  memset(p + loop->nfds, 0, (n - loop->nfds) * sizeof(*p));
  loop->fds = p;
  loop->nfds = n;
  return 0;
}

static int ctl_error(void) { return errno == ENOMEM ? SIPR_ENOMEM : SIPR_EIO; }

/* Watches fd for events (SIPR_EV_READ / SIPR_EV_WRITE; errors and hang-ups
 * are always reported as SIPR_EV_ERROR), level-triggered: cb(loop, fd,
 * what happened, arg) runs on the loop's thread in every round while the
 * condition holds. Call sipr_loop_del_fd() before closing fd. Returns 0,
 * SIPR_EINVAL (bad fd or cb, fd already watched), SIPR_ENOMEM or SIPR_EIO
 * (epoll refused it, e.g. a regular file). */
int sipr_loop_add_fd(sipr_loop_t *loop, int fd, unsigned events,
                     sipr_io_cb *cb, void *arg) {
  struct epoll_event ev;
  sipr__fd_t *f;
  int rc;
  if (fd < 0 || !cb)
    return SIPR_EINVAL;
  if ((rc = fds_reserve(loop, fd)) != 0)
    return rc;
  f = &loop->fds[fd];
  if (f->active)
    return SIPR_EINVAL;
  memset(&ev, 0, sizeof(ev));
  ev.events = to_epoll(events);
  if (++loop->gen == 0)
    ++loop->gen;
  ev.data.u64 = fd_tag(fd, loop->gen);
  if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
    return ctl_error();
  f->cb = cb;
  f->arg = arg;
  f->events = events;
  f->gen = loop->gen;
  f->active = 1;
  return 0;
}

/* Replaces the events watched on fd (callback and arg stay). Returns 0,
 * SIPR_ENOENT (fd not watched), SIPR_ENOMEM or SIPR_EIO. */
int sipr_loop_mod_fd(sipr_loop_t *loop, int fd, unsigned events) {
  struct epoll_event ev;
  sipr__fd_t *f;
  if (fd < 0 || (size_t)fd >= loop->nfds || !loop->fds[fd].active)
    return SIPR_ENOENT;
  f = &loop->fds[fd];
  memset(&ev, 0, sizeof(ev));
  ev.events = to_epoll(events);
  ev.data.u64 = fd_tag(fd, f->gen);
  if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
    return ctl_error();
  f->events = events;
  return 0;
}

/* Stops watching fd; no callback for it runs afterwards, not even for an
 * event already collected in the current round. Safe from any callback,
 * fd's own included. Returns 0 or SIPR_ENOENT (fd not watched). */
int sipr_loop_del_fd(sipr_loop_t *loop, int fd) {
  if (fd < 0 || (size_t)fd >= loop->nfds || !loop->fds[fd].active)
    return SIPR_ENOENT;
  /* Fails harmlessly (EBADF) if the caller closed fd already. */
  (void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
  memset(&loop->fds[fd], 0, sizeof(loop->fds[fd]));
  return 0;
}

static void wake(sipr_loop_t *loop) {
  if (atomic_exchange(&loop->wake_pending, 1) == 0) {
    uint64_t one = 1;
    ssize_t r;
    do
      r = write(loop->evfd, &one, sizeof(one));
    while (r < 0 && errno == EINTR);
    /* EAGAIN means the counter is full: the loop is awake anyway. */
  }
}

static void drain_evfd(sipr_loop_t *loop) {
  uint64_t v;
  ssize_t r;
  do
    r = read(loop->evfd, &v, sizeof(v));
  while (r < 0 && errno == EINTR);
}

static int jobs_waiting(sipr_loop_t *loop) {
  int any;
  pthread_mutex_lock(&loop->mu);
  any = loop->jobs_head != NULL;
  pthread_mutex_unlock(&loop->mu);
  return any;
}

static int run_jobs(sipr_loop_t *loop) {
  sipr__job_t *j, *next;
  int n = 0;
  /* Cleared before taking the list: a job posted after the take sees 0
   * and signals the eventfd again. */
  atomic_store(&loop->wake_pending, 0);
  pthread_mutex_lock(&loop->mu);
  j = loop->jobs_head;
  loop->jobs_head = loop->jobs_tail = NULL;
  pthread_mutex_unlock(&loop->mu);
  if (!j)
    return 0;
  if (loop->job_before)
    loop->job_before(loop->job_hook_ctx);
  for (; j; j = next) {
    next = j->next;
    j->fn(j->arg);
    free(j);
    n++;
  }
  if (loop->job_after)
    loop->job_after(loop->job_hook_ctx);
  return n;
}

void sipr_loop_set_job_hooks(sipr_loop_t *loop, sipr_loop_hook_fn *before,
                             sipr_loop_hook_fn *after, void *ctx) {
  loop->job_before = before;
  loop->job_after = after;
  loop->job_hook_ctx = ctx;
}

/* Thread-safe: queues fn(arg) to run on the loop's thread, after the
 * jobs posted before it, and wakes the loop. Returns 0, SIPR_EINVAL (no
 * fn) or SIPR_ENOMEM (fn will never run). */
int sipr_loop_post(sipr_loop_t *loop, sipr_job_fn *fn, void *arg) {
  sipr__job_t *j;
  if (!fn)
    return SIPR_EINVAL;
  j = malloc(sizeof(*j));
  if (!j)
    return SIPR_ENOMEM;
  j->fn = fn;
  j->arg = arg;
  j->next = NULL;
  pthread_mutex_lock(&loop->mu);
  if (loop->jobs_tail)
    loop->jobs_tail->next = j;
  else
    loop->jobs_head = j;
  loop->jobs_tail = j;
  pthread_mutex_unlock(&loop->mu);
  wake(loop);
  return 0;
}

static int wait_ms(sipr_loop_t *loop, int max_wait_ms) {
  long next;
  if (max_wait_ms == 0 || atomic_load(&loop->stop) || jobs_waiting(loop))
    return 0;
  next = sipr_loop_next_timeout(loop);
  if (next > INT_MAX)
    next = INT_MAX;
  if (max_wait_ms < 0)
    return (int)next;
  return next >= 0 && next < max_wait_ms ? (int)next : max_wait_ms;
}

/* One round on the loop's thread: waits up to max_wait_ms (-1: until the
 * next timer, fd event, post or stop; 0: no wait), runs the callbacks of
 * ready fds, the timers due by the clock, then the jobs posted so far.
 * Returns the number of callbacks and jobs run, or SIPR_EIO when epoll
 * fails (EINTR is an empty round). */
int sipr_loop_run_once(sipr_loop_t *loop, int max_wait_ms) {
  struct epoll_event evs[MAX_EVENTS];
  int n, i, ran = 0;
  n = epoll_wait(loop->epfd, evs, MAX_EVENTS, wait_ms(loop, max_wait_ms));
  if (n < 0) {
    if (errno != EINTR)
      return SIPR_EIO;
    n = 0;
  }
  for (i = 0; i < n; i++) {
    uint64_t tag = evs[i].data.u64;
    int fd = (int)(uint32_t)tag;
    sipr__fd_t *f;
    if (tag == EVFD_TAG) {
      drain_evfd(loop);
      continue;
    }
    /* Re-read each time: a callback may grow the table or drop fds. */
    if ((size_t)fd >= loop->nfds)
      continue;
    f = &loop->fds[fd];
    if (!f->active || f->gen != (uint32_t)(tag >> 32))
      continue;
    f->cb(loop, fd, from_epoll(evs[i].events), f->arg);
    ran++;
  }
  ran += sipr__timers_run(loop, sipr_loop_now(loop), NULL);
  ran += run_jobs(loop);
  return ran;
}

/* Runs rounds until sipr_loop_stop(), then clears the stop request.
 * Returns 0, or SIPR_EIO when epoll fails. Loop thread only. */
int sipr_loop_run(sipr_loop_t *loop) {
  int rc = 0;
  while (!atomic_load(&loop->stop)) {
    int r = sipr_loop_run_once(loop, -1);
    if (r < 0) {
      rc = r;
      break;
    }
  }
  atomic_store(&loop->stop, 0);
  return rc;
}

/* Thread-safe: asks sipr_loop_run() to return after its current round
 * (at once if it is blocked waiting). A stop asked before sipr_loop_run()
 * starts makes it return without running a round. */
void sipr_loop_stop(sipr_loop_t *loop) {
  atomic_store(&loop->stop, 1);
  wake(loop);
}
