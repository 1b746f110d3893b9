/* Stream framing (include/sipr/framer.h): §18.3, §7.5, RFC 5626 §3.5.1. */
#include "tests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipr/framer.h"

/* ---- helpers ------------------------------------------------------------
 * Frames are logged as text so that every way of feeding a stream can be
 * compared with one expected log: "M<len>[bytes]" for a message, "P" for a
 * ping, "O" for a pong; the final return code ends the log as "=<rc>". */

typedef struct flog {
  char s[16384];
  size_t n;
} flog_t;

static void flog_add(flog_t *l, const char *p, size_t len) {
  assert_true(l->n + len < sizeof(l->s));
  memcpy(l->s + l->n, p, len);
  l->n += len;
  l->s[l->n] = '\0';
}

static void flog_addz(flog_t *l, const char *z) { flog_add(l, z, strlen(z)); }

/* Takes frames until the framer wants bytes or fails; returns the code. */
static int drain(sipr_framer_t *f, flog_t *l) {
  for (;;) {
    const char *p;
    size_t len;
    int rc = sipr_framer_next(f, &p, &len);
    if (rc == SIPR_FRAME_MSG) {
      char hdr[32];
      snprintf(hdr, sizeof hdr, "M%zu[", len);
      flog_addz(l, hdr);
      flog_add(l, p, len);
      flog_addz(l, "]");
      assert_true(len <= f->max_msg);
    } else if (rc == SIPR_FRAME_PING) {
      assert_int_equal(len, 4);
      assert_memory_equal(p, "\r\n\r\n", 4);
      flog_addz(l, "P");
    } else if (rc == SIPR_FRAME_PONG) {
      assert_int_equal(len, 2);
      assert_memory_equal(p, "\r\n", 2);
      flog_addz(l, "O");
    } else {
      assert_true(rc < 0);
      assert_null(p);
      return rc;
    }
  }
}

static void flog_end(flog_t *l, int rc) {
  char t[16];
  snprintf(t, sizeof t, "=%d", rc);
  flog_addz(l, t);
}

/* Feeds s in pieces of `step` bytes (0: all at once), draining after each;
 * returns the log. */
static void run_steps(const char *s, size_t n, size_t step, size_t max_msg,
                      flog_t *l) {
  sipr_framer_t f;
  sipr_framer_init(&f, max_msg);
  l->n = 0;
  l->s[0] = '\0';
  int rc = SIPR_EAGAIN;
  size_t off = 0;
  if (!step)
    step = n ? n : 1;
  while (off < n) {
    size_t k = n - off < step ? n - off : step;
    int frc = sipr_framer_feed(&f, s + off, k);
    off += k;
    if (frc) {
      rc = frc;
      break;
    }
    rc = drain(&f, l);
    if (rc != SIPR_EAGAIN)
      break;
  }
  if (rc != SIPR_EAGAIN) {
    /* A failed framer stays failed. */
    const char *p;
    size_t len;
    assert_int_equal(sipr_framer_next(&f, &p, &len), rc);
    assert_int_equal(sipr_framer_feed(&f, "x", 1), rc);
    assert_int_equal(f.err.code, rc);
  }
  assert_true(f.len - f.start <= 2 * f.max_msg);
  flog_end(l, rc);
  sipr_framer_free(&f);
}

/* Feeds s split at every point, then one byte at a time, and checks each
 * log equals the log of feeding it whole. */
static void check_all_splits(const char *s, size_t max_msg,
                             const char *expect) {
  size_t n = strlen(s);
  static flog_t whole, l;
  run_steps(s, n, 0, max_msg, &whole);
  if (expect)
    assert_string_equal(whole.s, expect);
  run_steps(s, n, 1, max_msg, &l);
  assert_string_equal(l.s, whole.s);
  for (size_t cut = 1; cut < n; cut++) {
    sipr_framer_t f;
    sipr_framer_init(&f, max_msg);
    l.n = 0;
    l.s[0] = '\0';
    int rc = sipr_framer_feed(&f, s, cut);
    if (!rc)
      rc = drain(&f, &l);
    if (rc == SIPR_EAGAIN) {
      rc = sipr_framer_feed(&f, s + cut, n - cut);
      if (!rc)
        rc = drain(&f, &l);
    }
    flog_end(&l, rc);
    assert_string_equal(l.s, whole.s);
    sipr_framer_free(&f);
  }
}

#define REQ1                                                                   \
  "OPTIONS sip:bob@example.com SIP/2.0\r\n"                                    \
  "Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK1\r\n"                        \
  "Max-Forwards: 70\r\n"                                                       \
  "From: <sip:alice@example.com>;tag=1\r\n"                                    \
  "To: <sip:bob@example.com>\r\n"                                              \
  "Call-ID: a1@192.0.2.1\r\n"                                                  \
  "CSeq: 1 OPTIONS\r\n"                                                        \
  "Content-Length: 0\r\n"                                                      \
  "\r\n"

#define REQ2_HDR                                                               \
  "MESSAGE sip:bob@example.com SIP/2.0\r\n"                                    \
  "v: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK2\r\n"                               \
  "f: <sip:alice@example.com>;tag=2\r\n"                                       \
  "t: <sip:bob@example.com>\r\n"                                               \
  "i: a2@192.0.2.1\r\n"                                                        \
  "CSeq: 2 MESSAGE\r\n"                                                        \
  "c: text/plain\r\n"                                                          \
  "L \t:\r\n  11\r\n"                                                          \
  "\r\n"
#define REQ2_BODY "hello world"

#define RESP3_HDR                                                              \
  "SIP/2.0 200 OK\r\n"                                                         \
  "Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK2\r\n"                             \
  "CONTENT-length  :  7 \r\n"                                                  \
  "Content-Type: text/x\r\n"                                                   \
  "\r\n"
/* A body holding what looks like an end of headers and a Content-Length. */
#define RESP3_BODY "a\r\n\r\nb\n"

#define M(len, s) "M" #len "[" s "]"

static const char req1[] = REQ1;

/* ---- tests ------------------------------------------------------------- */

static void test_single(void **state) {
  (void)state;
  sipr_framer_t f;
  sipr_framer_init(&f, 0);
  assert_int_equal(f.max_msg, SIPR_FRAMER_DEFAULT_MAX);
  const char *p;
  size_t len;
  assert_int_equal(sipr_framer_next(&f, &p, &len), SIPR_EAGAIN);
  assert_int_equal(sipr_framer_feed(&f, REQ1, strlen(REQ1)), 0);
  assert_int_equal(sipr_framer_next(&f, &p, &len), SIPR_FRAME_MSG);
  assert_int_equal(len, strlen(REQ1));
  assert_memory_equal(p, REQ1, len);
  assert_int_equal(sipr_framer_next(&f, &p, &len), SIPR_EAGAIN);
  assert_int_equal(f.len, 0); /* drained */
  /* A message in two pieces: the first piece is searched once. */
  assert_int_equal(sipr_framer_feed(&f, REQ1, 100), 0);
  assert_int_equal(sipr_framer_next(&f, &p, &len), SIPR_EAGAIN);
  assert_int_equal(f.scan, 100);
  assert_int_equal(sipr_framer_feed(&f, req1 + 100, strlen(REQ1) - 100), 0);
  assert_int_equal(sipr_framer_next(&f, &p, &len), SIPR_FRAME_MSG);
  assert_int_equal(len, strlen(REQ1));
  assert_memory_equal(p, REQ1, len);
  assert_int_equal(sipr_framer_next(&f, &p, &len), SIPR_EAGAIN);
  assert_int_equal(sipr_framer_feed(&f, NULL, 3), SIPR_EINVAL);
  assert_int_equal(sipr_framer_feed(&f, NULL, 0), 0);
  assert_int_equal(sipr_framer_next(&f, NULL, &len), SIPR_EINVAL);
  sipr_framer_free(&f);
}

static void test_pipelined(void **state) {
  (void)state;
  const char *s = REQ1 REQ2_HDR REQ2_BODY RESP3_HDR RESP3_BODY REQ1;
  sipr_framer_t f;
  sipr_framer_init(&f, 4096);
  assert_int_equal(sipr_framer_feed(&f, s, strlen(s)), 0);
  const char *p;
  size_t len;
  assert_int_equal(sipr_framer_next(&f, &p, &len), SIPR_FRAME_MSG);
  assert_int_equal(len, strlen(REQ1));
  assert_ptr_equal(p, f.buf); /* handed out in place */
  assert_int_equal(sipr_framer_next(&f, &p, &len), SIPR_FRAME_MSG);
  assert_int_equal(len, strlen(REQ2_HDR REQ2_BODY));
  assert_memory_equal(p, REQ2_HDR REQ2_BODY, len);
  assert_int_equal(sipr_framer_next(&f, &p, &len), SIPR_FRAME_MSG);
  assert_int_equal(len, strlen(RESP3_HDR RESP3_BODY));
  assert_memory_equal(p, RESP3_HDR RESP3_BODY, len);
  assert_int_equal(sipr_framer_next(&f, &p, &len), SIPR_FRAME_MSG);
  assert_memory_equal(p, REQ1, strlen(REQ1));
  assert_int_equal(sipr_framer_next(&f, &p, &len), SIPR_EAGAIN);
  sipr_framer_free(&f);
}

static void test_splits(void **state) {
  (void)state;
  /* Messages, keep-alives between them, a body with CRLFCRLF. */
  check_all_splits(REQ1 REQ2_HDR REQ2_BODY "\r\n\r\n" RESP3_HDR RESP3_BODY
                   "\r\n" REQ1 "\r\n\r\n\r\n\r\n",
                   4096,
                   M(229, REQ1) M(213, REQ2_HDR REQ2_BODY) "P"
                   M(114, RESP3_HDR RESP3_BODY) "O" M(229, REQ1) "PP=-1");
  /* A partial message at the end stays buffered. */
  check_all_splits(REQ1 "\r\n" REQ1 "INVITE sip:x SIP/2.0\r\nl: 3\r\n\r\nab",
                   4096, M(229, REQ1) "O" M(229, REQ1) "=-1");
  /* Failures are the same however the bytes arrive. */
  check_all_splits(REQ1 "BYE sip:x SIP/2.0\r\nl: 3\r\nl: 4\r\n\r\nabcd", 4096,
                   M(229, REQ1) "=-4");
  check_all_splits(REQ1 "BYE sip:x SIP/2.0\r\nX: y\r\n\r\n" REQ1, 4096,
                   M(229, REQ1) "=-4");
  check_all_splits(REQ1 "BYE sip:x SIP/2.0\r\nl: 300\r\n\r\n", 300,
                   M(229, REQ1) "=-5");
}

static void test_keepalive(void **state) {
  (void)state;
  sipr_framer_t f;
  sipr_framer_init(&f, 1024);
  const char *p;
  size_t len;
  /* §7.5, RFC 5626 §3.5.1: CRLFCRLF is a ping. */
  assert_int_equal(sipr_framer_feed(&f, "\r\n\r\n", 4), 0);
  assert_int_equal(sipr_framer_next(&f, &p, &len), SIPR_FRAME_PING);
  assert_int_equal(len, 4);
  assert_int_equal(sipr_framer_next(&f, &p, &len), SIPR_EAGAIN);
  /* A lone CRLF may be half a ping: wait for the next byte. */
  assert_int_equal(sipr_framer_feed(&f, "\r\n", 2), 0);
  assert_int_equal(sipr_framer_next(&f, &p, &len), SIPR_EAGAIN);
  assert_int_equal(sipr_framer_feed(&f, "\r", 1), 0);
  assert_int_equal(sipr_framer_next(&f, &p, &len), SIPR_EAGAIN);
  assert_int_equal(sipr_framer_feed(&f, "\n", 1), 0);
  assert_int_equal(sipr_framer_next(&f, &p, &len), SIPR_FRAME_PING);
  /* A CRLF followed by a message is a pong. */
  assert_int_equal(sipr_framer_feed(&f, "\r\nO", 3), 0);
  assert_int_equal(sipr_framer_next(&f, &p, &len), SIPR_FRAME_PONG);
  assert_int_equal(len, 2);
  assert_int_equal(sipr_framer_next(&f, &p, &len), SIPR_EAGAIN);
  assert_int_equal(sipr_framer_feed(&f, req1 + 1, strlen(REQ1) - 1), 0);
  assert_int_equal(sipr_framer_next(&f, &p, &len), SIPR_FRAME_MSG);
  assert_memory_equal(p, REQ1, strlen(REQ1));
  /* After sending a ping, a lone CRLF is the pong at once. */
  f.pong_wait = 1;
  assert_int_equal(sipr_framer_feed(&f, "\r\n", 2), 0);
  assert_int_equal(sipr_framer_next(&f, &p, &len), SIPR_FRAME_PONG);
  assert_int_equal(f.pong_wait, 0);
  assert_int_equal(sipr_framer_next(&f, &p, &len), SIPR_EAGAIN);
  /* "\r\n\r" then something else: a pong, then a (bad) message. */
  assert_int_equal(sipr_framer_feed(&f, "\r\n\rX\r\n\r\n", 8), 0);
  assert_int_equal(sipr_framer_next(&f, &p, &len), SIPR_FRAME_PONG);
  assert_int_equal(sipr_framer_next(&f, &p, &len), SIPR_EPARSE);
  assert_string_equal(f.err.where, "Content-Length");
  sipr_framer_free(&f);
}

static int frame_one(const char *s, size_t max_msg, sipr_framer_t *f) {
  const char *p;
  size_t len;
  sipr_framer_init(f, max_msg);
  int rc = sipr_framer_feed(f, s, strlen(s));
  if (rc)
    return rc;
  rc = sipr_framer_next(f, &p, &len);
  if (rc == SIPR_FRAME_MSG) {
    assert_int_equal(len, strlen(s));
    assert_memory_equal(p, s, len);
  }
  return rc;
}

static void test_content_length(void **state) {
  (void)state;
  static const char *const good[] = {
      "A sip:x SIP/2.0\r\nContent-Length: 2\r\n\r\nab",
      "A sip:x SIP/2.0\r\ncontent-length:2\r\n\r\nab",
      "A sip:x SIP/2.0\r\nl:2\r\n\r\nab",
      "A sip:x SIP/2.0\r\nL : 002 \r\n\r\nab",
      "A sip:x SIP/2.0\r\nl\r\n :\r\n\t2\r\n \r\n\r\nab",
      "A sip:x SIP/2.0\r\nl: 2\r\nX: y\r\nContent-Length: 2\r\n\r\nab",
      /* Names that only look like it. */
      ("A sip:x SIP/2.0\r\nl: 2\r\nX-Content-Length: 7\r\nContent-Lengthy: 9\r\n"
       "ll: 5\r\n\r\nab"),
      /* A start line that looks like a header. */
      "l: 9\r\nl: 2\r\n\r\nab",
      /* Folded continuation that holds the name. */
      "A sip:x SIP/2.0\r\nX: y\r\n l: 9\r\nl: 2\r\n\r\nab",
      /* A Content-Length in the body does not count. */
      "A sip:x SIP/2.0\r\nl: 19\r\n\r\nContent-Length: 500",
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    sipr_framer_t f;
    assert_int_equal(frame_one(good[i], 1024, &f), SIPR_FRAME_MSG);
    sipr_framer_free(&f);
  }
  static const char *const bad[] = {
      "A sip:x SIP/2.0\r\nX: 2\r\n\r\nab",           /* missing */
      "A sip:x SIP/2.0\r\n\r\n",                     /* no header at all */
      "A sip:x SIP/2.0\r\nContent-Length: -2\r\n\r\nab",
      "A sip:x SIP/2.0\r\nContent-Length: +2\r\n\r\nab",
      "A sip:x SIP/2.0\r\nContent-Length: two\r\n\r\nab",
      "A sip:x SIP/2.0\r\nContent-Length: 2x\r\n\r\nab",
      "A sip:x SIP/2.0\r\nContent-Length: 2 3\r\n\r\nab",
      "A sip:x SIP/2.0\r\nContent-Length:\r\n\r\nab",
      "A sip:x SIP/2.0\r\nContent-Length 2\r\n\r\nab",
      "A sip:x SIP/2.0\r\nContent-Length: 2\r\nl: 3\r\n\r\nab",
      "SIP/2.0 200 OK\r\nl: 2\r\nContent-Length: 1\r\n\r\nab",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    sipr_framer_t f;
    assert_int_equal(frame_one(bad[i], 1024, &f), SIPR_EPARSE);
    assert_int_equal(f.err.code, SIPR_EPARSE);
    assert_string_equal(f.err.where, "Content-Length");
    assert_non_null(f.err.reason);
    assert_true(f.err.offset <= strlen(bad[i]));
    /* Requests are answered 400 (§18.3), responses dropped. */
    assert_int_equal(f.err.status, bad[i][0] == 'S' ? 0 : 400);
    sipr_framer_free(&f);
  }
  sipr_framer_t f;
  assert_int_equal(frame_one(bad[0], 1024, &f), SIPR_EPARSE);
  assert_string_equal(f.err.reason, "missing Content-Length");
  sipr_framer_free(&f);
}

static void test_oversize(void **state) {
  (void)state;
  sipr_framer_t f;
  const char *p;
  size_t len;
  /* Exactly at the cap is fine. */
  const char *m = "A sip:x SIP/2.0\r\nl: 3\r\n\r\nabc"; /* 28 bytes */
  assert_int_equal(frame_one(m, 28, &f), SIPR_FRAME_MSG);
  sipr_framer_free(&f);
  /* One byte of body over. */
  assert_int_equal(frame_one(m, 27, &f), SIPR_ETOOBIG);
  assert_int_equal(f.err.code, SIPR_ETOOBIG);
  assert_int_equal(f.err.status, 513);
  sipr_framer_free(&f);
  /* A Content-Length past any integer. */
  assert_int_equal(
      frame_one("A sip:x SIP/2.0\r\nl: 99999999999999999999999\r\n\r\n", 1024,
                &f),
      SIPR_ETOOBIG);
  sipr_framer_free(&f);
  /* A header block over the cap is refused as soon as max_msg bytes are
   * there, without waiting for its end. */
  sipr_framer_init(&f, 64);
  char junk[64];
  memset(junk, 'a', sizeof junk);
  assert_int_equal(sipr_framer_feed(&f, junk, 63), 0);
  assert_int_equal(sipr_framer_next(&f, &p, &len), SIPR_EAGAIN);
  assert_int_equal(sipr_framer_feed(&f, junk, 1), 0);
  assert_int_equal(sipr_framer_next(&f, &p, &len), SIPR_ETOOBIG);
  assert_string_equal(f.err.where, "message");
  assert_int_equal(sipr_framer_feed(&f, junk, 1), SIPR_ETOOBIG);
  sipr_framer_free(&f);
  /* Feeding more than the buffer bound without draining. */
  sipr_framer_init(&f, 32);
  assert_int_equal(sipr_framer_feed(&f, junk, 32), 0);
  assert_int_equal(sipr_framer_feed(&f, junk, 32), 0);
  assert_int_equal(sipr_framer_feed(&f, junk, 1), SIPR_ETOOBIG);
  assert_int_equal(sipr_framer_next(&f, &p, &len), SIPR_ETOOBIG);
  sipr_framer_free(&f);
}

/* Many messages through one framer, one byte per feed: the buffer stays
 * small and is released once drained. */
static void test_bounded(void **state) {
  (void)state;
  sipr_framer_t f;
  sipr_framer_init(&f, 8192);
  const char *p;
  size_t len;
  size_t n = strlen(REQ1), frames = 0, maxcap = 0;
  for (int round = 0; round < 200; round++) {
    for (size_t i = 0; i < n; i++) {
      assert_int_equal(sipr_framer_feed(&f, req1 + i, 1), 0);
      int rc;
      while ((rc = sipr_framer_next(&f, &p, &len)) == SIPR_FRAME_MSG)
        frames++;
      assert_int_equal(rc, SIPR_EAGAIN);
      if (f.cap > maxcap)
        maxcap = f.cap;
    }
  }
  assert_int_equal(frames, 200);
  assert_true(maxcap <= 1024);
  assert_int_equal(f.len, 0);
  /* A large burst grows the buffer; draining it frees it. */
  static char burst[8192 * 2];
  size_t bl = 0;
  while (bl + n <= 8192) {
    memcpy(burst + bl, REQ1, n);
    bl += n;
  }
  assert_int_equal(sipr_framer_feed(&f, burst, bl), 0);
  frames = 0;
  while (sipr_framer_next(&f, &p, &len) == SIPR_FRAME_MSG)
    frames++;
  assert_int_equal(frames, bl / n);
  assert_int_equal(f.len, 0);
  assert_null(f.buf);
  sipr_framer_free(&f);
}

int sipr_test_framer(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_single),
      cmocka_unit_test(test_pipelined),
      cmocka_unit_test(test_splits),
      cmocka_unit_test(test_keepalive),
      cmocka_unit_test(test_content_length),
      cmocka_unit_test(test_oversize),
      cmocka_unit_test(test_bounded),
  };
  return cmocka_run_group_tests_name("framer", tests, NULL, NULL);
}
