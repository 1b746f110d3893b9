/* Unit tests of the event layer: timer wheel on a fake clock, loop fds,
 * cross-thread posts, workers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sipr/event.h"

/* ---- timer helpers --------------------------------------------------------- */

#define MAXREC 1024

typedef struct rec {
  int id[MAXREC];
  uint64_t at[MAXREC];
  int n;
  sipr_fake_clock_t *fc;
} rec_t;

typedef struct tt {
  sipr_timer_t t;
  int id;
  rec_t *rec;
  uint64_t rearm_ms;   /* re-arm with this delay while rearm_left > 0 */
  int rearm_left;
  int double_delay;    /* re-arm with twice the delay (Timer A style) */
  uint64_t cap_ms;     /* ... up to this */
  sipr_timer_t *stop_other;
  int stop_self;
} tt_t;

static void tt_cb(sipr_loop_t *loop, void *arg) {
  tt_t *x = arg;
  rec_t *r = x->rec;
  assert_false(sipr_timer_armed(&x->t));
  assert_true(r->n < MAXREC);
  r->id[r->n] = x->id;
  r->at[r->n] = r->fc->now;
  r->n++;
  if (x->stop_other)
    sipr_timer_stop(loop, x->stop_other);
  if (x->stop_self)
    sipr_timer_stop(loop, &x->t);
  if (x->rearm_left > 0) {
    x->rearm_left--;
    if (x->double_delay) {
      x->rearm_ms *= 2;
      if (x->rearm_ms > x->cap_ms)
        x->rearm_ms = x->cap_ms;
    }
    sipr_timer_start(loop, &x->t, x->rearm_ms);
  }
}

static void tt_init(tt_t *x, int id, rec_t *r) {
  memset(x, 0, sizeof(*x));
  sipr_timer_init(&x->t, tt_cb, x);
  x->id = id;
  x->rec = r;
}

/* ---- timers ------------------------------------------------------------------ */

static void test_timer_order(void **state) {
  sipr_fake_clock_t fc;
  rec_t r = {.n = 0, .fc = &fc};
  tt_t t[6];
  int i;
  sipr_fake_clock_init(&fc, 1000003);
  sipr_loop_t *loop = sipr_loop_new(&fc.clock);
  assert_non_null(loop);
  for (i = 0; i < 6; i++)
    tt_init(&t[i], i, &r);
  sipr_timer_start(loop, &t[0].t, 100);
  sipr_timer_start(loop, &t[1].t, 50);
  sipr_timer_start(loop, &t[2].t, 100);
  sipr_timer_start(loop, &t[3].t, 0);
  sipr_timer_start(loop, &t[4].t, 100);
  sipr_timer_start(loop, &t[5].t, 100);
  sipr_timer_start(loop, &t[0].t, 100); /* re-arm: now after 2, 4, 5 */
  assert_true(sipr_timer_armed(&t[0].t));
  assert_int_equal(sipr_loop_advance(loop, &fc, 99), 2);
  assert_int_equal(sipr_loop_advance(loop, &fc, 1), 4);
  assert_int_equal(sipr_loop_advance(loop, &fc, 1000), 0);
  int want[] = {3, 1, 2, 4, 5, 0};
  uint64_t at[] = {0, 50, 100, 100, 100, 100};
  assert_int_equal(r.n, 6);
  for (i = 0; i < 6; i++) {
    assert_int_equal(r.id[i], want[i]);
    assert_int_equal(r.at[i], 1000003 + at[i]);
  }
  assert_int_equal(fc.now, 1000003 + 1100);
  sipr_loop_free(loop);
}

/* Timers due at one ms but placed at every level of the wheel (and on the
 * overflow list) fire in start order. */
static void test_timer_order_across_levels(void **state) {
  sipr_fake_clock_t fc;
  rec_t r = {.n = 0, .fc = &fc};
  const uint64_t start = 77, due = start + (UINT64_C(1) << 32) + 123457;
  /* Start times, increasing; each timer gets delay due - start_time. */
  const uint64_t when[] = {0,
                           1,
                           (UINT64_C(1) << 31),
                           due - start - (UINT64_C(1) << 25),
                           due - start - (UINT64_C(1) << 20),
                           due - start - 70000,
                           due - start - 65536,
                           due - start - 40000,
                           due - start - 300,
                           due - start - 256,
                           due - start - 255,
                           due - start - 10,
                           due - start - 1};
  enum { N = sizeof(when) / sizeof(when[0]) };
  tt_t t[N];
  int i;
  sipr_fake_clock_init(&fc, start);
  sipr_loop_t *loop = sipr_loop_new(&fc.clock);
  for (i = 0; i < N; i++) {
    tt_init(&t[i], i, &r);
    assert_int_equal(sipr_loop_advance(loop, &fc, start + when[i] - fc.now), 0);
    sipr_timer_start(loop, &t[i].t, due - fc.now);
    assert_int_equal(t[i].t.due, due);
    assert_int_equal(sipr_loop_next_timeout(loop), (long)(due - fc.now));
  }
  assert_int_equal(sipr_loop_advance(loop, &fc, due - fc.now - 1), 0);
  assert_int_equal(sipr_loop_advance(loop, &fc, 5), N);
  for (i = 0; i < N; i++) {
    assert_int_equal(r.id[i], i);
    assert_int_equal(r.at[i], due);
  }
  sipr_loop_free(loop);
}

/* Large steps still fire each timer at its exact due time, and a timer
 * that re-arms itself sees exact intervals. */
static void test_timer_exact_large_steps(void **state) {
  sipr_fake_clock_t fc;
  rec_t r = {.n = 0, .fc = &fc};
  tt_t b, per, a;
  const uint64_t t0 = 12345, T1 = 500, T2 = 4000;
  int i;
  sipr_fake_clock_init(&fc, t0);
  sipr_loop_t *loop = sipr_loop_new(&fc.clock);
  tt_init(&b, 1, &r);
  tt_init(&per, 2, &r);
  tt_init(&a, 3, &r);
  per.rearm_ms = T1;
  per.rearm_left = 9;
  a.rearm_ms = T1;
  a.rearm_left = 7;
  a.double_delay = 1;
  a.cap_ms = T2;
  sipr_timer_start(loop, &b.t, 64 * T1);  /* Timer B */
  sipr_timer_start(loop, &per.t, T1);
  sipr_timer_start(loop, &a.t, T1);       /* Timer A: 500, 1000, 2000, ... */
  assert_int_equal(sipr_loop_advance(loop, &fc, 100000), 1 + 10 + 8);
  assert_false(sipr_timer_armed(&b.t));
  uint64_t a_at = t0, a_step = T1;
  int nper = 0, na = 0, nb = 0;
  for (i = 0; i < r.n; i++) {
    if (i > 0)
      assert_true(r.at[i] >= r.at[i - 1]);
    if (r.id[i] == 1) {
      assert_int_equal(r.at[i], t0 + 32000);
      nb++;
    } else if (r.id[i] == 2) {
      nper++;
      assert_int_equal(r.at[i], t0 + nper * T1);
    } else {
      a_at += a_step;
      assert_int_equal(r.at[i], a_at);
      a_step = a_step * 2 > T2 ? T2 : a_step * 2;
      na++;
    }
  }
  assert_int_equal(nb, 1);
  assert_int_equal(nper, 10);
  assert_int_equal(na, 8);
  assert_int_equal(sipr_loop_next_timeout(loop), -1);
  sipr_loop_free(loop);
}

static void test_timer_stop_from_callbacks(void **state) {
  sipr_fake_clock_t fc;
  rec_t r = {.n = 0, .fc = &fc};
  tt_t a, b, c, d, e, f;
  sipr_fake_clock_init(&fc, 0);
  sipr_loop_t *loop = sipr_loop_new(&fc.clock);
  tt_init(&a, 1, &r);
  tt_init(&b, 2, &r);
  tt_init(&c, 3, &r);
  tt_init(&d, 4, &r);
  tt_init(&e, 5, &r);
  tt_init(&f, 6, &r);
  /* a stops b, due at the same ms (already taken off the wheel). */
  a.stop_other = &b.t;
  sipr_timer_start(loop, &a.t, 10);
  sipr_timer_start(loop, &b.t, 10);
  /* c stops d, due later. */
  c.stop_other = &d.t;
  sipr_timer_start(loop, &c.t, 20);
  sipr_timer_start(loop, &d.t, 3000);
  /* e stops itself (no-op), then f re-arms and stops itself. */
  e.stop_self = 1;
  sipr_timer_start(loop, &e.t, 20);
  f.stop_self = 1;
  f.rearm_ms = 5;
  f.rearm_left = 1;
  sipr_timer_start(loop, &f.t, 20);
  assert_int_equal(sipr_loop_advance(loop, &fc, 10000), 5);
  assert_int_equal(r.n, 5);
  assert_int_equal(r.id[0], 1);
  assert_int_equal(r.id[1], 3);
  assert_int_equal(r.id[2], 5);
  assert_int_equal(r.id[3], 6);
  assert_int_equal(r.id[4], 6); /* re-armed after its stop */
  assert_int_equal(r.at[4], 25);
  assert_false(sipr_timer_armed(&b.t));
  assert_false(sipr_timer_armed(&d.t));
  sipr_timer_stop(loop, &d.t); /* no-op */
  assert_int_equal(sipr_loop_next_timeout(loop), -1);
  sipr_loop_free(loop);
}

/* A timer re-armed with delay 0 from its callback fires at the next ms,
 * not in the same round (no endless round). */
static void test_timer_zero_delay_rearm(void **state) {
  sipr_fake_clock_t fc;
  rec_t r = {.n = 0, .fc = &fc};
  tt_t a;
  sipr_fake_clock_init(&fc, 500);
  sipr_loop_t *loop = sipr_loop_new(&fc.clock);
  tt_init(&a, 1, &r);
  a.rearm_left = 3;
  sipr_timer_start(loop, &a.t, 0);
  assert_int_equal(sipr_loop_next_timeout(loop), 0);
  assert_int_equal(sipr_loop_run_once(loop, 0), 1);
  assert_int_equal(sipr_loop_next_timeout(loop), 1);
  assert_int_equal(sipr_loop_advance(loop, &fc, 10), 3);
  assert_int_equal(r.at[0], 500);
  assert_int_equal(r.at[1], 501);
  assert_int_equal(r.at[3], 503);
  sipr_loop_free(loop);
}

static void test_timer_far(void **state) {
  sipr_fake_clock_t fc;
  rec_t r = {.n = 0, .fc = &fc};
  tt_t a, b, c;
  const uint64_t day = 86400000, t0 = 999999999;
  sipr_fake_clock_init(&fc, t0);
  sipr_loop_t *loop = sipr_loop_new(&fc.clock);
  tt_init(&a, 1, &r);
  tt_init(&b, 2, &r);
  tt_init(&c, 3, &r);
  sipr_timer_start(loop, &a.t, 10 * day);
  sipr_timer_start(loop, &b.t, 60 * day); /* past 2^32 ms: overflow */
  sipr_timer_start(loop, &c.t, UINT64_MAX); /* never */
  assert_int_equal(sipr_loop_next_timeout(loop), (long)(10 * day));
  assert_int_equal(sipr_loop_advance(loop, &fc, 10 * day - 1), 0);
  assert_int_equal(sipr_loop_next_timeout(loop), 1);
  assert_int_equal(sipr_loop_advance(loop, &fc, 1), 1);
  assert_int_equal(r.at[0], t0 + 10 * day);
  assert_int_equal(sipr_loop_next_timeout(loop), (long)(50 * day));
  assert_int_equal(sipr_loop_advance(loop, &fc, 50 * day - 1), 0);
  assert_int_equal(sipr_loop_advance(loop, &fc, 100 * day), 1);
  assert_int_equal(r.id[1], 2);
  assert_int_equal(r.at[1], t0 + 60 * day);
  assert_true(sipr_timer_armed(&c.t));
  sipr_timer_stop(loop, &c.t);
  assert_int_equal(sipr_loop_next_timeout(loop), -1);
  sipr_loop_free(loop);
}

static void test_next_timeout(void **state) {
  sipr_fake_clock_t fc;
  rec_t r = {.n = 0, .fc = &fc};
  tt_t a, b, c;
  sipr_fake_clock_init(&fc, 3);
  sipr_loop_t *loop = sipr_loop_new(&fc.clock);
  tt_init(&a, 1, &r);
  tt_init(&b, 2, &r);
  tt_init(&c, 3, &r);
  assert_int_equal(sipr_loop_next_timeout(loop), -1);
  sipr_timer_start(loop, &a.t, 1000);
  assert_int_equal(sipr_loop_next_timeout(loop), 1000);
  assert_int_equal(sipr_loop_advance(loop, &fc, 400), 0);
  assert_int_equal(sipr_loop_next_timeout(loop), 600);
  sipr_timer_start(loop, &b.t, 5);
  assert_int_equal(sipr_loop_next_timeout(loop), 5);
  sipr_timer_stop(loop, &b.t);
  assert_int_equal(sipr_loop_next_timeout(loop), 600);
  sipr_timer_start(loop, &c.t, 70000);
  assert_int_equal(sipr_loop_next_timeout(loop), 600);
  sipr_timer_stop(loop, &a.t);
  assert_int_equal(sipr_loop_next_timeout(loop), 70000);
  /* The clock moved without the loop running: the timer is overdue. */
  sipr_fake_clock_advance(&fc, 80000);
  assert_int_equal(sipr_loop_next_timeout(loop), 0);
  assert_int_equal(sipr_loop_run_once(loop, 0), 1);
  assert_int_equal(r.at[0], 3 + 400 + 80000);
  assert_int_equal(sipr_loop_next_timeout(loop), -1);
  sipr_loop_free(loop);
}

/* ---- 100k timers against a reference model ---------------------------------- */

#define RN 100000

typedef struct rt {
  sipr_timer_t t;
  uint32_t id;
} rt_t;

static struct {
  sipr_fake_clock_t fc;
  uint32_t *fired;
  uint64_t *fired_at;
  size_t nfired;
  int armed[RN];
  uint64_t eff[RN], seq[RN], due[RN];
  uint32_t *want;
} M;

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 0x2545f4914f6cdd1du;
}

static void rt_cb(sipr_loop_t *loop, void *arg) {
  rt_t *x = arg;
  assert_true(M.nfired < RN);
  M.fired[M.nfired] = x->id;
  M.fired_at[M.nfired] = M.fc.now;
  M.nfired++;
}

static int want_cmp(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  if (M.eff[x] != M.eff[y])
    return M.eff[x] < M.eff[y] ? -1 : 1;
  return M.seq[x] < M.seq[y] ? -1 : M.seq[x] > M.seq[y];
}

static uint64_t pick_delay(void) {
  unsigned k = (unsigned)(rnd() % 100);
  if (k < 40)
    return rnd() % 300;
  if (k < 70)
    return rnd() % 70000;
  if (k < 90)
    return rnd() % 20000000;
  if (k < 98)
    return rnd() % (UINT64_C(1) << 32);
  return (UINT64_C(1) << 32) + rnd() % (UINT64_C(1) << 33);
}

static uint64_t pick_step(void) {
  unsigned k = (unsigned)(rnd() % 100);
  if (k < 50)
    return rnd() % 50;
  if (k < 80)
    return rnd() % 5000;
  if (k < 95)
    return rnd() % 1000000;
  return rnd() % (UINT64_C(1) << 31);
}

/* Advances loop and model by step and checks that exactly the model's due
 * timers fired, ordered by (tick, start order), each at its tick. */
static void model_advance(sipr_loop_t *loop, uint64_t step, uint64_t *base) {
  uint64_t target = M.fc.now + step, min_eff = UINT64_MAX;
  size_t nw = 0, i;
  long nt = sipr_loop_next_timeout(loop);
  for (i = 0; i < RN; i++) {
    if (!M.armed[i])
      continue;
    if (M.eff[i] < min_eff)
      min_eff = M.eff[i];
    if (M.eff[i] <= target) {
      M.want[nw++] = (uint32_t)i;
      M.armed[i] = 0;
    }
  }
  if (min_eff == UINT64_MAX)
    assert_int_equal(nt, -1);
  else
    /* Exact but for crowded far slots, where it may answer early. */
    assert_true(nt >= 0 && (uint64_t)nt <= min_eff - M.fc.now);
  qsort(M.want, nw, sizeof(M.want[0]), want_cmp);
  M.nfired = 0;
  assert_int_equal(sipr_loop_advance(loop, &M.fc, step), (int)nw);
  assert_int_equal(M.nfired, nw);
  for (i = 0; i < nw; i++) {
    assert_int_equal(M.fired[i], M.want[i]);
    assert_int_equal(M.fired_at[i], M.eff[M.want[i]]);
  }
  assert_int_equal(M.fc.now, target);
  *base = target + 1;
}

static void test_timer_random_model(void **state) {
  rt_t *t = calloc(RN, sizeof(*t));
  uint64_t seq = 0, base;
  size_t i, op;
  M.fired = calloc(RN, sizeof(*M.fired));
  M.fired_at = calloc(RN, sizeof(*M.fired_at));
  M.want = calloc(RN, sizeof(*M.want));
  assert_non_null(t);
  assert_non_null(M.fired);
  assert_non_null(M.fired_at);
  assert_non_null(M.want);
  memset(M.armed, 0, sizeof(M.armed));
  sipr_fake_clock_init(&M.fc, 1234567);
  base = M.fc.now;
  sipr_loop_t *loop = sipr_loop_new(&M.fc.clock);
  for (i = 0; i < RN; i++) {
    t[i].id = (uint32_t)i;
    sipr_timer_init(&t[i].t, rt_cb, &t[i]);
  }
  for (op = 0; op < 300000; op++) {
    unsigned k = (unsigned)(rnd() % 100);
    size_t x = (size_t)(rnd() % RN);
    if (k < 65) {
      uint64_t d = pick_delay();
      sipr_timer_start(loop, &t[x].t, d);
      M.armed[x] = 1;
      M.due[x] = M.fc.now + d;
      M.eff[x] = M.due[x] > base ? M.due[x] : base;
      M.seq[x] = ++seq;
      assert_int_equal(t[x].t.due, M.due[x]);
    } else if (k < 95) {
      sipr_timer_stop(loop, &t[x].t);
      M.armed[x] = 0;
    } else {
      assert_int_equal(sipr_timer_armed(&t[x].t), M.armed[x]);
    }
    if (op % 600 == 599)
      model_advance(loop, pick_step(), &base);
  }
  model_advance(loop, UINT64_C(1) << 34, &base);
  for (i = 0; i < RN; i++)
    assert_false(sipr_timer_armed(&t[i].t));
  assert_int_equal(sipr_loop_next_timeout(loop), -1);
  sipr_loop_free(loop);
  free(t);
  free(M.fired);
  free(M.fired_at);
  free(M.want);
}

/* ---- fds ----------------------------------------------------------------------- */

typedef struct io {
  int calls;
  unsigned last;
  int other_fd;    /* delete this fd too */
  int del_self;
  int close_self;
  char buf[16];
} io_t;

static void io_cb(sipr_loop_t *loop, int fd, unsigned events, void *arg) {
  io_t *io = arg;
  io->calls++;
  io->last = events;
  if (events & SIPR_EV_READ)
    assert_true(read(fd, io->buf, sizeof(io->buf)) >= 0);
  if (io->other_fd >= 0)
    assert_int_equal(sipr_loop_del_fd(loop, io->other_fd), 0);
  if (io->del_self)
    assert_int_equal(sipr_loop_del_fd(loop, fd), 0);
  if (io->close_self)
    close(fd);
}

static void test_fd_readiness(void **state) {
  int sv[2];
  io_t io = {.other_fd = -1};
  sipr_loop_t *loop = sipr_loop_new(NULL);
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  assert_int_equal(sipr_loop_add_fd(loop, sv[0], SIPR_EV_READ, io_cb, &io), 0);
  assert_int_equal(sipr_loop_add_fd(loop, sv[0], SIPR_EV_READ, io_cb, &io),
                   SIPR_EINVAL);
  assert_int_equal(sipr_loop_add_fd(loop, -1, SIPR_EV_READ, io_cb, &io),
                   SIPR_EINVAL);
  assert_int_equal(sipr_loop_run_once(loop, 0), 0);
  assert_int_equal(write(sv[1], "x", 1), 1);
  assert_int_equal(sipr_loop_run_once(loop, 1000), 1);
  assert_int_equal(io.calls, 1);
  assert_int_equal(io.last, SIPR_EV_READ);
  assert_int_equal(sipr_loop_run_once(loop, 0), 0); /* drained */
  assert_int_equal(sipr_loop_mod_fd(loop, sv[0], SIPR_EV_WRITE), 0);
  assert_int_equal(sipr_loop_run_once(loop, 1000), 1);
  assert_int_equal(io.last, SIPR_EV_WRITE);
  assert_int_equal(sipr_loop_mod_fd(loop, sv[0], SIPR_EV_READ), 0);
  close(sv[1]); /* peer gone: hang-up, readable for EOF */
  io.del_self = 1;
  assert_int_equal(sipr_loop_run_once(loop, 1000), 1);
  assert_true(io.last & SIPR_EV_READ);
  assert_int_equal(sipr_loop_run_once(loop, 0), 0); /* deleted in its cb */
  assert_int_equal(io.calls, 3);
  assert_int_equal(sipr_loop_del_fd(loop, sv[0]), SIPR_ENOENT);
  assert_int_equal(sipr_loop_mod_fd(loop, sv[0], SIPR_EV_READ), SIPR_ENOENT);
  close(sv[0]);
  sipr_loop_free(loop);
}

/* Two fds ready in one batch; whichever callback runs first deletes the
 * other: that one's collected event must be dropped. Then a callback that
 * deletes and closes its own fd. */
static void test_fd_del_in_callback(void **state) {
  int a[2], b[2];
  io_t ia = {0}, ib = {0};
  sipr_loop_t *loop = sipr_loop_new(NULL);
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
  ia.other_fd = b[0];
  ib.other_fd = a[0];
  ia.del_self = ib.del_self = 1;
  assert_int_equal(sipr_loop_add_fd(loop, a[0], SIPR_EV_READ, io_cb, &ia), 0);
  assert_int_equal(sipr_loop_add_fd(loop, b[0], SIPR_EV_READ, io_cb, &ib), 0);
  assert_int_equal(write(a[1], "x", 1), 1);
  assert_int_equal(write(b[1], "y", 1), 1);
  usleep(1000);
  assert_int_equal(sipr_loop_run_once(loop, 1000), 1);
  assert_int_equal(ia.calls + ib.calls, 1);
  assert_int_equal(sipr_loop_run_once(loop, 0), 0);

  /* Delete and close inside the callback, then reuse the fd number. */
  io_t ic = {.other_fd = -1, .del_self = 1, .close_self = 1};
  int c[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, c), 0);
  assert_int_equal(sipr_loop_add_fd(loop, c[0], SIPR_EV_READ, io_cb, &ic), 0);
  assert_int_equal(write(c[1], "z", 1), 1);
  assert_int_equal(sipr_loop_run_once(loop, 1000), 1);
  assert_int_equal(sipr_loop_run_once(loop, 0), 0);
  int d[2];
  io_t id = {.other_fd = -1};
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, d), 0);
  assert_int_equal(sipr_loop_add_fd(loop, d[0], SIPR_EV_READ, io_cb, &id), 0);
  assert_int_equal(write(d[1], "w", 1), 1);
  assert_int_equal(sipr_loop_run_once(loop, 1000), 1);
  assert_int_equal(id.calls, 1);
  assert_int_equal(ic.calls, 1);
  assert_int_equal(sipr_loop_del_fd(loop, d[0]), 0);
  close(a[0]);
  close(a[1]);
  close(b[0]);
  close(b[1]);
  close(c[1]);
  close(d[0]);
  close(d[1]);
  sipr_loop_free(loop);
}

/* ---- posts and stop from other threads ------------------------------------- */

static uint64_t mono_ms(void) {
  return sipr_clock_monotonic()->now_ms(sipr_clock_monotonic()->ctx);
}

typedef struct post_ctx {
  sipr_loop_t *loop;
  atomic_int ran;
  int count;   /* loop thread only */
  int target;
  pthread_t loop_thread;
  int wrong_thread;
} post_ctx_t;

static void job_mark(void *arg) {
  post_ctx_t *p = arg;
  if (!pthread_equal(pthread_self(), p->loop_thread))
    p->wrong_thread = 1;
  atomic_fetch_add(&p->ran, 1);
  if (++p->count == p->target)
    sipr_loop_stop(p->loop);
}

static void *late_poster(void *arg) {
  post_ctx_t *p = arg;
  usleep(30000);
  assert_int_equal(sipr_loop_post(p->loop, job_mark, p), 0);
  return NULL;
}

static void *many_poster(void *arg) {
  post_ctx_t *p = arg;
  int i;
  for (i = 0; i < 1000; i++)
    assert_int_equal(sipr_loop_post(p->loop, job_mark, p), 0);
  return NULL;
}

static void *late_stopper(void *arg) {
  usleep(20000);
  sipr_loop_stop(arg);
  return NULL;
}

static void test_post_wakes_blocked_loop(void **state) {
  post_ctx_t p = {.target = -1};
  pthread_t th;
  p.loop = sipr_loop_new(NULL);
  p.loop_thread = pthread_self();
  atomic_init(&p.ran, 0);
  assert_int_equal(sipr_loop_post(p.loop, NULL, NULL), SIPR_EINVAL);
  uint64_t t0 = mono_ms();
  assert_int_equal(pthread_create(&th, NULL, late_poster, &p), 0);
  /* No timer, no fd: blocks until the post arrives. */
  while (atomic_load(&p.ran) == 0)
    assert_true(sipr_loop_run_once(p.loop, -1) >= 0);
  assert_true(mono_ms() - t0 < 1000);
  pthread_join(th, NULL);
  assert_int_equal(atomic_load(&p.ran), 1);
  sipr_loop_free(p.loop);
}

static void test_post_many_threads_and_stop(void **state) {
  post_ctx_t p = {.target = 4000};
  pthread_t th[4];
  int i;
  p.loop = sipr_loop_new(NULL);
  p.loop_thread = pthread_self();
  atomic_init(&p.ran, 0);
  for (i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&th[i], NULL, many_poster, &p), 0);
  assert_int_equal(sipr_loop_run(p.loop), 0); /* the 4000th job stops it */
  for (i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  assert_int_equal(atomic_load(&p.ran), 4000);
  assert_false(p.wrong_thread);
  /* Stop from another thread while blocked. */
  assert_int_equal(pthread_create(&th[0], NULL, late_stopper, p.loop), 0);
  assert_int_equal(sipr_loop_run(p.loop), 0);
  pthread_join(th[0], NULL);
  /* Jobs left unrun are freed with the loop. */
  assert_int_equal(sipr_loop_post(p.loop, job_mark, &p), 0);
  sipr_loop_free(p.loop);
}

/* Job hooks: before() and after() bracket each run of posted jobs, and
 * are not called when there is no job. */
static char hook_log[16];
static size_t hook_n;
static void hook_mark(void *c) {
  if (hook_n < sizeof hook_log - 1)
    hook_log[hook_n++] = *(const char *)c;
}
static void hook_before(void *ctx) { (void)ctx; hook_mark("("); }
static void hook_after(void *ctx) { (void)ctx; hook_mark(")"); }
static void hook_job(void *arg) { (void)arg; hook_mark("j"); }

static void test_job_hooks(void **state) {
  sipr_loop_t *loop = sipr_loop_new(NULL);
  hook_n = 0;
  sipr_loop_set_job_hooks(loop, hook_before, hook_after, NULL);
  sipr_loop_run_once(loop, 0);
  assert_int_equal(hook_n, 0);
  assert_int_equal(sipr_loop_post(loop, hook_job, NULL), 0);
  assert_int_equal(sipr_loop_post(loop, hook_job, NULL), 0);
  assert_true(sipr_loop_run_once(loop, 0) >= 2);
  hook_log[hook_n] = '\0';
  assert_string_equal(hook_log, "(jj)");
  sipr_loop_free(loop);
}

static void real_timer_cb(sipr_loop_t *loop, void *arg) { *(int *)arg += 1; }

static void test_real_clock_timer(void **state) {
  sipr_loop_t *loop = sipr_loop_new(NULL);
  sipr_timer_t t;
  int fired = 0;
  sipr_timer_init(&t, real_timer_cb, &fired);
  uint64_t t0 = sipr_loop_now(loop);
  sipr_timer_start(loop, &t, 20);
  while (!fired)
    assert_true(sipr_loop_run_once(loop, -1) >= 0);
  assert_true(sipr_loop_now(loop) - t0 >= 20);
  assert_true(sipr_loop_now(loop) - t0 < 1000);
  sipr_loop_free(loop);
}

/* ---- workers ------------------------------------------------------------------- */

typedef struct wctx {
  atomic_uint init_mask;
  atomic_int jobs;
  unsigned fail_index; /* init fails for this index (UINT32_MAX: none) */
  pthread_t main_thread;
  atomic_int on_main;
} wctx_t;

static int w_init(sipr_loop_t *loop, unsigned index, void *arg) {
  wctx_t *c = arg;
  assert_non_null(loop);
  if (pthread_equal(pthread_self(), c->main_thread))
    atomic_fetch_add(&c->on_main, 1);
  atomic_fetch_or(&c->init_mask, 1u << (index % 32));
  return index == c->fail_index ? -1 : 0;
}

static void w_job(void *arg) {
  wctx_t *c = arg;
  if (pthread_equal(pthread_self(), c->main_thread))
    atomic_fetch_add(&c->on_main, 1);
  atomic_fetch_add(&c->jobs, 1);
}

static void wctx_init(wctx_t *c, unsigned fail_index) {
  atomic_init(&c->init_mask, 0);
  atomic_init(&c->jobs, 0);
  atomic_init(&c->on_main, 0);
  c->fail_index = fail_index;
  c->main_thread = pthread_self();
}

static void test_workers(void **state) {
  wctx_t c;
  unsigned i;
  wctx_init(&c, UINT32_MAX);
  sipr_workers_t *w = sipr_workers_start(3, NULL, w_init, &c);
  assert_non_null(w);
  assert_int_equal(sipr_workers_count(w), 3);
  assert_int_equal(atomic_load(&c.init_mask), 7); /* all ran before return */
  assert_null(sipr_workers_loop(w, 3));
  for (i = 0; i < 3; i++)
    assert_int_equal(sipr_loop_post(sipr_workers_loop(w, i), w_job, &c), 0);
  for (i = 0; i < 2000 && atomic_load(&c.jobs) < 3; i++)
    usleep(1000);
  assert_int_equal(atomic_load(&c.jobs), 3);
  assert_int_equal(atomic_load(&c.on_main), 0);
  sipr_workers_stop(w);
  sipr_workers_stop(NULL);

  /* One init fails: the start fails and every thread is joined. */
  wctx_init(&c, 1);
  assert_null(sipr_workers_start(4, NULL, w_init, &c));
  assert_int_equal(atomic_load(&c.init_mask), 15);

  /* Default count: the online CPUs. */
  wctx_init(&c, UINT32_MAX);
  w = sipr_workers_start(0, NULL, NULL, NULL);
  assert_non_null(w);
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  assert_int_equal(sipr_workers_count(w), ncpu > 0 ? (unsigned)ncpu : 1);
  sipr_workers_stop(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_timer_order),
      cmocka_unit_test(test_timer_order_across_levels),
      cmocka_unit_test(test_timer_exact_large_steps),
      cmocka_unit_test(test_timer_stop_from_callbacks),
      cmocka_unit_test(test_timer_zero_delay_rearm),
      cmocka_unit_test(test_timer_far),
      cmocka_unit_test(test_next_timeout),
      cmocka_unit_test(test_timer_random_model),
      cmocka_unit_test(test_fd_readiness),
      cmocka_unit_test(test_fd_del_in_callback),
      cmocka_unit_test(test_post_wakes_blocked_loop),
      cmocka_unit_test(test_post_many_threads_and_stop),
      cmocka_unit_test(test_job_hooks),
      cmocka_unit_test(test_real_clock_timer),
      cmocka_unit_test(test_workers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
