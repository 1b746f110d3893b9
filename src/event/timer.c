/*
 * Hierarchical timer wheel, one per loop (include/sipr/event.h).
 *
 * Four levels of 256 slots at 1 ms. `base` is the next tick to process.
 * A timer whose tick `eff` = max(due, base) is d = eff - base ahead sits
 * at level k = the smallest with d < 2^(8(k+1)), in slot
 * (eff >> 8k) & 255; 2^32 ms or more ahead it waits on the overflow list.
 * Level 0 thus holds the ticks [base, base + 256); a level k > 0 entry has
 * (eff >> 8k) - (base >> 8k) in [1, 255], so its slot is cascaded (its
 * timers placed again, lower) when base reaches the start of its block.
 * Cascading is eager: it happens the moment base becomes a multiple of
 * 256, so level 0 always holds every timer of the current 256-ms block.
 * The overflow list is looked at whenever base crosses a 2^24 boundary.
 *
 * Start order within one tick. A timer placed at a higher level for tick X
 * was started earlier than any placed lower for X (base only grows, and
 * the level falls as X - base shrinks). Cascading walks a slot from tail
 * to head and inserts each timer at the head of its new slot, and the
 * levels are cascaded lowest first: the moved (older) timers end up in
 * front, in their own order, ahead of the (newer) ones already there. So
 * every slot list is in start order for each tick, and a tick fires its
 * timers in start order with no sequence number and no sort.
 *
 * Empty time is skipped: sipr__timers_run() jumps base straight to the
 * next non-empty level-0 tick or cascade, found through per-level bitmaps
 * of non-empty slots, so a 10-day step costs a handful of iterations.
 */
#include "event_internal.h"

#include <limits.h>

#define BITS SIPR__WHEEL_BITS
#define MASK SIPR__WHEEL_MASK
#define LEVELS SIPR__WHEEL_LEVELS
#define WORDS (SIPR__WHEEL_SLOTS / 64)
/* A slot list longer than this is not scanned for its earliest timer by
 * sipr_loop_next_timeout(); the start of its block is used instead. */
#define SCAN_CAP 64

static void list_init(sipr_timer_t *s) { s->next = s->prev = s; }
static int list_empty(const sipr_timer_t *s) { return s->next == s; }

static void link_tail(sipr_timer_t *s, sipr_timer_t *t) {
  t->prev = s->prev;
  t->next = s;
  s->prev->next = t;
  s->prev = t;
}

static void link_head(sipr_timer_t *s, sipr_timer_t *t) {
  t->next = s->next;
  t->prev = s;
  s->next->prev = t;
  s->next = t;
}

static void bit_set(sipr__wheel_t *w, unsigned lvl, unsigned slot) {
  w->bits[lvl][slot >> 6] |= (uint64_t)1 << (slot & 63);
}

static void bit_clear(sipr__wheel_t *w, unsigned lvl, unsigned slot) {
  w->bits[lvl][slot >> 6] &= ~((uint64_t)1 << (slot & 63));
}

/* Distance (0..255) from slot p to the first non-empty slot at or after p,
 * going round; -1 when the level is empty. */
static int bits_next(const uint64_t *bm, unsigned p) {
  unsigned first = p >> 6, i;
  for (i = 0; i <= WORDS; i++) {
    unsigned wi = (first + i) % WORDS;
    uint64_t word = bm[wi];
    if (i == 0)
      word &= ~(uint64_t)0 << (p & 63);
    else if (i == WORDS)
      word &= ((uint64_t)1 << (p & 63)) - 1;
    if (word) {
      unsigned bit = wi * 64 + (unsigned)__builtin_ctzll(word);
      return (int)((bit - p) & MASK);
    }
  }
  return -1;
}

/* Unlinks t from whatever list holds it, keeping the bitmaps exact. */
static void unlink_timer(sipr__wheel_t *w, sipr_timer_t *t) {
  sipr_timer_t *n = t->next, *p = t->prev;
  p->next = n;
  n->prev = p;
  t->next = t->prev = NULL;
  if (n == p) { /* t was alone: n is now an empty sentinel */
    uintptr_t a = (uintptr_t)n, lo = (uintptr_t)&w->slot[0][0],
              hi = (uintptr_t)&w->slot[LEVELS - 1][MASK];
    if (a >= lo && a <= hi) {
      size_t i = (size_t)(n - &w->slot[0][0]);
      bit_clear(w, (unsigned)(i >> BITS), (unsigned)(i & MASK));
    }
  }
}

/* Links t into the slot its due time calls for, at the tail (a new start)
 * or at the head (a cascade: older than everything already there). */
static void place(sipr__wheel_t *w, sipr_timer_t *t, int at_head) {
  uint64_t eff = t->due > w->base ? t->due : w->base;
  uint64_t d = eff - w->base;
  unsigned lvl, slot;
  sipr_timer_t *s;
  if (d >> (BITS * LEVELS)) {
    s = &w->overflow;
  } else {
    for (lvl = 0; d >> (BITS * (lvl + 1)); lvl++)
      ;
    slot = (unsigned)(eff >> (BITS * lvl)) & MASK;
    s = &w->slot[lvl][slot];
    bit_set(w, lvl, slot);
  }
  if (at_head)
    link_head(s, t);
  else
    link_tail(s, t);
}

/* Places every timer of s again, lower, keeping their order in front. */
static void cascade_list(sipr__wheel_t *w, sipr_timer_t *s, int overflow) {
  sipr_timer_t *t = s->prev;
  while (t != s) {
    sipr_timer_t *prev = t->prev;
    if (!overflow || ((t->due - w->base) >> (BITS * LEVELS)) == 0) {
      unlink_timer(w, t);
      place(w, t, 1);
    }
    t = prev;
  }
}

/* Moves base to nb (no timer is due in between) and cascades the slots
 * whose blocks start at nb, lowest level first (see the top comment). */
static void set_base(sipr__wheel_t *w, uint64_t nb) {
  unsigned lvl;
  w->base = nb;
  for (lvl = 1; lvl < LEVELS; lvl++) {
    if (nb & (((uint64_t)1 << (BITS * lvl)) - 1))
      return;
    cascade_list(w, &w->slot[lvl][(nb >> (BITS * lvl)) & MASK], 0);
  }
  if (!list_empty(&w->overflow))
    cascade_list(w, &w->overflow, 1);
}

/* The next tick at which something happens: a non-empty level-0 tick, a
 * non-empty slot's cascade, or an overflow check. UINT64_MAX: none. */
static uint64_t next_event(const sipr__wheel_t *w) {
  uint64_t e = UINT64_MAX;
  unsigned lvl;
  int d = bits_next(w->bits[0], (unsigned)(w->base & MASK));
  if (d >= 0)
    e = w->base + (uint64_t)d;
  for (lvl = 1; lvl < LEVELS; lvl++) {
    uint64_t blk = (w->base >> (BITS * lvl)) + 1;
    d = bits_next(w->bits[lvl], (unsigned)(blk & MASK));
    if (d >= 0) {
      uint64_t at = (blk + (uint64_t)d) << (BITS * lvl);
      if (at < e)
        e = at;
    }
  }
  if (!list_empty(&w->overflow)) {
    uint64_t at = ((w->base >> (BITS * (LEVELS - 1))) + 1)
                  << (BITS * (LEVELS - 1));
    if (at < e)
      e = at;
  }
  return e;
}

void sipr__wheel_init(sipr__wheel_t *w, uint64_t now) {
  unsigned lvl, i;
  memset(w, 0, sizeof(*w));
  for (lvl = 0; lvl < LEVELS; lvl++)
    for (i = 0; i < SIPR__WHEEL_SLOTS; i++)
      list_init(&w->slot[lvl][i]);
  list_init(&w->overflow);
  list_init(&w->pending);
  w->base = now;
}

int sipr__timers_run(sipr_loop_t *loop, uint64_t limit, sipr_fake_clock_t *fc) {
  sipr__wheel_t *w = &loop->wheel;
  int n = 0;
  while (w->base <= limit && w->count) {
    uint64_t tick = w->base;
    sipr_timer_t *s = &w->slot[0][tick & MASK];
    if (list_empty(s)) {
      uint64_t e = next_event(w);
      set_base(w, e > limit ? limit + 1 : e);
      continue;
    }
    /* Detach the tick's list: callbacks may stop or re-arm any of it. */
    w->pending.next = s->next;
    w->pending.prev = s->prev;
    s->next->prev = &w->pending;
    s->prev->next = &w->pending;
    list_init(s);
    bit_clear(w, 0, (unsigned)(tick & MASK));
    set_base(w, tick + 1);
    if (fc && fc->now < tick)
      fc->now = tick;
    while (!list_empty(&w->pending)) {
      sipr_timer_t *t = w->pending.next;
      unlink_timer(w, t);
      t->armed = 0;
      w->count--;
      t->cb(loop, t->arg);
      n++;
    }
  }
  if (!w->count && w->base <= limit)
    set_base(w, limit + 1); /* nothing armed: no cascade can matter */
  return n;
}

/* Prepares t (not armed) to call cb(loop, arg) when it fires. */
void sipr_timer_init(sipr_timer_t *t, sipr_timer_cb *cb, void *arg) {
  memset(t, 0, sizeof(*t));
  t->cb = cb;
  t->arg = arg;
}

/* Arms t to fire once, delay_ms after sipr_loop_now(loop); re-arming an
 * armed timer moves it (and it then fires after the timers already armed
 * for the same ms). A timer started with delay 0 from a callback fires at
 * the next tick, never in the round that started it. O(1). Loop thread
 * only; t must stay alive until it fires or is stopped. */
void sipr_timer_start(sipr_loop_t *loop, sipr_timer_t *t, uint64_t delay_ms) {
  sipr__wheel_t *w = &loop->wheel;
  uint64_t now = sipr_loop_now(loop);
  if (t->armed) {
    unlink_timer(w, t);
    w->count--;
  }
  t->due = delay_ms > UINT64_MAX - now ? UINT64_MAX : now + delay_ms;
  t->armed = 1;
  w->count++;
  place(w, t, 0);
}

/* Disarms t; no-op when it is not armed. Safe from any callback of the
 * loop, including t's own and those of timers due at the same ms. O(1). */
void sipr_timer_stop(sipr_loop_t *loop, sipr_timer_t *t) {
  if (!t->armed)
    return;
  unlink_timer(&loop->wheel, t);
  t->armed = 0;
  loop->wheel.count--;
}

/* Fires what falls due while moving fc forward by ms; the loop must run on
 * &fc->clock. Each tick fires with fc->now set to it. Posted jobs and fds
 * are not looked at. Loop thread only; not from a callback. */
int sipr_loop_advance(sipr_loop_t *loop, sipr_fake_clock_t *fc, uint64_t ms) {
  uint64_t target = ms > UINT64_MAX - fc->now ? UINT64_MAX - 1 : fc->now + ms;
  int n = sipr__timers_run(loop, target, fc);
  if (fc->now < target)
    fc->now = target;
  return n;
}

/* Earliest due time in list s, scanning at most SCAN_CAP timers; a longer
 * list answers floor (a lower bound for all of it). */
static uint64_t list_min_due(const sipr_timer_t *s, uint64_t floor) {
  const sipr_timer_t *t;
  uint64_t m = UINT64_MAX;
  unsigned k = 0;
  for (t = s->next; t != s; t = t->next) {
    if (++k > SCAN_CAP)
      return floor;
    if (t->due < m)
      m = t->due;
  }
  return m;
}

/* Milliseconds from now until the next armed timer fires (0 when one is
 * already due), -1 when none is armed. Exact, except that it may answer
 * early (never late) when the next timer shares a far slot with more than
 * SCAN_CAP others; waking early costs one empty round. */
long sipr_loop_next_timeout(sipr_loop_t *loop) {
  const sipr__wheel_t *w = &loop->wheel;
  uint64_t best = UINT64_MAX, now;
  unsigned lvl;
  int d;
  if (!w->count)
    return -1;
  if (!list_empty(&w->pending))
    return 0;
  d = bits_next(w->bits[0], (unsigned)(w->base & MASK));
  if (d >= 0)
    best = w->base + (uint64_t)d;
  /* Level k timers are all at or after the next level-k block, and those
   * blocks start later as k grows: stop once best is earlier. */
  for (lvl = 1; lvl < LEVELS; lvl++) {
    uint64_t blk = (w->base >> (BITS * lvl)) + 1;
    if (best <= blk << (BITS * lvl))
      break;
    d = bits_next(w->bits[lvl], (unsigned)(blk & MASK));
    if (d >= 0) {
      uint64_t b = blk + (uint64_t)d;
      uint64_t m = list_min_due(&w->slot[lvl][b & MASK], b << (BITS * lvl));
      if (m < best)
        best = m;
    }
  }
  if (!list_empty(&w->overflow)) {
    uint64_t at = ((w->base >> (BITS * (LEVELS - 1))) + 1)
                  << (BITS * (LEVELS - 1));
    if (best > at) {
      uint64_t m = list_min_due(&w->overflow, at);
      if (m < best)
        best = m;
    }
  }
  now = sipr_loop_now(loop);
  if (best <= now)
    return 0;
  return best - now > (uint64_t)LONG_MAX ? LONG_MAX : (long)(best - now);
}
