/* Clocks: the monotonic clock and the fake clock tests drive
 * (include/sipr/event.h). */
#include "sipr/event.h"

#include <time.h>

static uint64_t mono_now(void *ctx) {
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const sipr_clock_t mono_clock = {mono_now, NULL};

/* Returns the process-wide monotonic clock (CLOCK_MONOTONIC, in ms). It is
 * static and thread-safe; never NULL. */
const sipr_clock_t *sipr_clock_monotonic(void) { return &mono_clock; }

static uint64_t fake_now(void *ctx) {
  return ((const sipr_fake_clock_t *)ctx)->now;
}

/* Initialises fc at start_ms. fc->clock reads fc->now; fc must outlive
 * every loop created on it. */
void sipr_fake_clock_init(sipr_fake_clock_t *fc, uint64_t start_ms) {
  fc->clock.now_ms = fake_now;
  fc->clock.ctx = fc;
  fc->now = start_ms;
}

/* Moves fc forward by ms without firing anything; the next
 * sipr_loop_run_once() fires what became due (all at the new time). Use
 * sipr_loop_advance() to fire each timer at its own due time. */
void sipr_fake_clock_advance(sipr_fake_clock_t *fc, uint64_t ms) {
  fc->now += ms;
}
