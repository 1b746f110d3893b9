/*
 * Logging to stderr: text or JSON lines, one write(2) per line so lines
 * from several threads never interleave. Refusal lines (what peers send
 * us that we refuse) pass a token bucket so a flood of garbage cannot
 * fill a disk; what was suppressed is summed up in one line.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server_internal.h"

#define LINE_MAX_LEN 2048

static pthread_mutex_t lk = PTHREAD_MUTEX_INITIALIZER;
static sipr_log_level_t cur_level = SIPR_LOG_INFO;
static sipr_log_format_t cur_format = SIPR_LOG_TEXT;
static int out_fd = 2;

/* Token bucket, in milli-tokens so that refills are exact. */
static unsigned rate_per_s = 10, burst = 20;
static uint64_t tokens_milli = 20 * 1000;
static uint64_t last_refill_ms;
static uint64_t suppressed_pending, suppressed_total;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

const char *sipr_log_level_name(sipr_log_level_t l) {
  return (unsigned)l < 4 ? level_names[l] : "?";
}

int sipr_log_level_from_str(const char *s) {
  for (int i = 0; i < 4; i++)
    if (strcmp(s, level_names[i]) == 0)
      return i;
  return -1;
}

void sipr_log_setup(sipr_log_level_t level, sipr_log_format_t format) {
  pthread_mutex_lock(&lk);
  cur_level = level;
  cur_format = format;
  pthread_mutex_unlock(&lk);
}

void sipr_log_set_fd(int fd) {
  pthread_mutex_lock(&lk);
  out_fd = fd;
  pthread_mutex_unlock(&lk);
}

void sipr_log_set_rate(unsigned rate, unsigned b) {
  pthread_mutex_lock(&lk);
  rate_per_s = rate ? rate : 1;
  burst = b ? b : 1;
  tokens_milli = (uint64_t)burst * 1000;
  pthread_mutex_unlock(&lk);
}

int sipr_log_enabled(sipr_log_level_t level) {
  pthread_mutex_lock(&lk);
  int on = level <= cur_level;
  pthread_mutex_unlock(&lk);
  return on;
}

uint64_t sipr_log_suppressed_total(void) {
  pthread_mutex_lock(&lk);
  uint64_t n = suppressed_total;
  pthread_mutex_unlock(&lk);
  return n;
}

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- line building ------------------------------------------------------ */

typedef struct line {
  char p[LINE_MAX_LEN];
  size_t len;
} line_t;

static void put(line_t *l, const char *s, size_t n) {
  /* keep room for the newline */
  size_t room = sizeof l->p - 1 - l->len;
  if (n > room)
    n = room;
  memcpy(l->p + l->len, s, n);
  l->len += n;
}

static void puts_(line_t *l, const char *s) { put(l, s, strlen(s)); }

static void putf(line_t *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void putf(line_t *l, const char *fmt, ...) {
  char tmp[LINE_MAX_LEN];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n > 0)
    put(l, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Text lines: control bytes (a peer's reason text, a header value) are
 * shown as \xNN so one log line stays one line. JSON: escaped per RFC
 * 8259; bytes >= 0x80 pass as they are when the input is UTF-8, else they
 * are escaped as \u00NN (Latin-1) so the output stays valid JSON. */
static void put_text_safe(line_t *l, const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c < 0x20 || c == 0x7f)
      putf(l, "\\x%02x", c);
    else
      put(l, (const char *)&c, 1);
  }
}

static size_t utf8_seq(const unsigned char *p) {
  unsigned char c = p[0];
  size_t n;
  unsigned cp;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2, cp = c & 0x1f;
  else if (c >= 0xe0 && c <= 0xef)
    n = 3, cp = c & 0x0f;
  else if (c >= 0xf0 && c <= 0xf4)
    n = 4, cp = c & 0x07;
  else
    return 0;
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (p[i] & 0x3f);
  }
  if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
      (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
    return 0;
  return n;
}

static void put_json_str(line_t *l, const char *s) {
  put(l, "\"", 1);
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    unsigned char c = *p;
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      put(l, e, 2);
      p++;
    } else if (c < 0x20 || c == 0x7f) {
      putf(l, "\\u%04x", c);
      p++;
    } else if (c < 0x80) {
      put(l, (const char *)p, 1);
      p++;
    } else {
      size_t n = utf8_seq(p);
      if (n) {
        put(l, (const char *)p, n);
        p += n;
      } else {
        putf(l, "\\u%04x", c);
        p++;
      }
    }
  }
  put(l, "\"", 1);
}

static void put_ts(line_t *l) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  char b[40];
  size_t n = strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(b + n, sizeof b - n, ".%03ldZ", ts.tv_nsec / 1000000);
  puts_(l, b);
}

static void begin(line_t *l, sipr_log_level_t level, sipr_log_format_t fmt) {
  l->len = 0;
  if (fmt == SIPR_LOG_JSON) {
    puts_(l, "{\"ts\":\"");
    put_ts(l);
    puts_(l, "\",\"level\":\"");
    puts_(l, sipr_log_level_name(level));
    puts_(l, "\"");
  } else {
    put_ts(l);
    putf(l, " %-5s ", sipr_log_level_name(level));
  }
}

static void emit(line_t *l, sipr_log_format_t fmt) {
  if (fmt == SIPR_LOG_JSON)
    put(l, "}", 1);
  l->p[l->len++] = '\n'; /* put() always left room */
  const char *p = l->p;
  size_t left = l->len;
  while (left) {
    ssize_t n = write(out_fd, p, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return; /* nowhere to log to: nothing better to do */
    p += n;
    left -= (size_t)n;
  }
}

/* Under lk: the summary line for suppressed refusals. */
static void emit_suppressed(sipr_log_format_t fmt) {
  line_t l;
  begin(&l, SIPR_LOG_WARN, fmt);
  if (fmt == SIPR_LOG_JSON)
    putf(&l, ",\"event\":\"suppressed\",\"count\":%llu,\"msg\":\"%llu refusal "
             "lines suppressed\"",
         (unsigned long long)suppressed_pending,
         (unsigned long long)suppressed_pending);
  else
    putf(&l, "%llu refusal lines suppressed (rate limit %u/s)",
         (unsigned long long)suppressed_pending, rate_per_s);
  emit(&l, fmt);
  suppressed_pending = 0;
}

static void vlog(int force, sipr_log_level_t level, const char *fmt,
                 va_list ap) {
  char msg[LINE_MAX_LEN];
  vsnprintf(msg, sizeof msg, fmt, ap);
  pthread_mutex_lock(&lk);
  if (force || level <= cur_level) {
    line_t l;
    begin(&l, level, cur_format);
    if (cur_format == SIPR_LOG_JSON) {
      puts_(&l, ",\"msg\":");
      put_json_str(&l, msg);
    } else {
      put_text_safe(&l, msg);
    }
    emit(&l, cur_format);
  }
  pthread_mutex_unlock(&lk);
}

void sipr_log(sipr_log_level_t level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog(0, level, fmt, ap);
  va_end(ap);
}

void sipr__log_force(sipr_log_level_t level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog(1, level, fmt, ap);
  va_end(ap);
}

/* Under lk: refills the bucket; 1 when a token was taken. */
static int take_token(void) {
  uint64_t now = mono_ms();
  if (last_refill_ms == 0)
    last_refill_ms = now;
  uint64_t add = (now - last_refill_ms) * rate_per_s; /* milli-tokens */
  last_refill_ms = now;
  uint64_t cap = (uint64_t)burst * 1000;
  tokens_milli = tokens_milli + add > cap ? cap : tokens_milli + add;
  if (tokens_milli < 1000)
    return 0;
  tokens_milli -= 1000;
  return 1;
}

void sipr_log_refused(const sipr_tp_addr_t *src, const char *method,
                      unsigned status, const char *reason) {
  pthread_mutex_lock(&lk);
  if (SIPR_LOG_INFO > cur_level) {
    pthread_mutex_unlock(&lk);
    return;
  }
  if (!take_token()) {
    suppressed_pending++;
    suppressed_total++;
    pthread_mutex_unlock(&lk);
    return;
  }
  if (suppressed_pending)
    emit_suppressed(cur_format);
  char from[80] = "-";
  if (src)
    sipr_tp_addr_str(src, from, sizeof from);
  if (!method)
    method = "";
  if (!reason)
    reason = "";
  line_t l;
  begin(&l, SIPR_LOG_INFO, cur_format);
  if (cur_format == SIPR_LOG_JSON) {
    puts_(&l, ",\"event\":\"refused\",\"src\":");
    put_json_str(&l, from);
    if (*method) {
      puts_(&l, ",\"method\":");
      put_json_str(&l, method);
    }
    putf(&l, ",\"status\":%u,\"reason\":", status);
    put_json_str(&l, reason);
  } else {
    puts_(&l, "refused ");
    if (*method) {
      put_text_safe(&l, method);
      puts_(&l, " ");
    }
    puts_(&l, "from ");
    puts_(&l, from);
    if (status)
      putf(&l, ": %u ", status);
    else
      puts_(&l, ": dropped, ");
    put_text_safe(&l, reason);
  }
  emit(&l, cur_format);
  pthread_mutex_unlock(&lk);
}

void sipr_log_tick(void) {
  pthread_mutex_lock(&lk);
  if (suppressed_pending && take_token())
    emit_suppressed(cur_format);
  pthread_mutex_unlock(&lk);
}
