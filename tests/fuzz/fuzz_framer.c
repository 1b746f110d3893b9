/*
 * libFuzzer target: a TCP byte stream through the framer (§18.3, §7.5,
 * RFC 5626 §3.5.1), each framed message through the parser.
 *
 * Input: byte 0 picks max_msg (32 .. 16352), byte 1 seeds the chunk
 * sizes, byte 2 holds flags (bit 0: the owner waits for a pong after every
 * frame); the rest is the stream. The stream is fed in chunks whose sizes
 * come from the stream's own bytes (never more than max_msg, as the
 * framer asks), draining the framer after each chunk. Checked:
 *   - every frame is the next bytes of the stream (nothing skipped, nothing
 *     read twice, nothing past what was fed); a ping is CRLFCRLF, a pong
 *     CRLF, a message at most max_msg bytes;
 *   - feeding never fails while the framer has not failed;
 *   - a failed framer stays failed with the same code;
 *   - without pong waiting, the frames and the final verdict are those of
 *     a second framer fed the same stream in max_msg-sized chunks (framing
 *     must not depend on how the bytes arrive);
 *   - each message, parsed with SIPR_PARSE_STREAM on a fresh arena, either
 *     fails or agrees with the framer on its length (framer and parser
 *     must never disagree on where a message ends);
 *   - a request that passes sipr_msg_check(), edited as a proxy forwards
 *     it (sipr_edit_*), prints to a message that passes again.
 * A broken invariant aborts (a finding).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipr/framer.h"
#include "sipr/msg.h"
#include "sipr/print.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "fuzz_framer: invariant failed: %s (line %d)\n",       \
              #cond, __LINE__);                                              \
      abort();                                                               \
    }                                                                        \
  } while (0)

typedef struct run {
  const char *s; /* the stream */
  size_t n;
  size_t off;    /* stream bytes handed out as frames */
  uint64_t hash; /* of the frame sequence */
  unsigned frames;
  int parse;     /* parse each message */
} run_t;

static void hash_add(run_t *r, uint64_t v) {
  r->hash = (r->hash ^ v) * 0x100000001b3ull;
}

/* What a proxy does with a valid request (§16.4, §16.6): the edited
 * message must parse and pass the check again, with our edits seen. */
static void forward(sipr_msg_t *m) {
  if (m->nhdrs + 3 > SIPR_MAX_HEADERS)
    return;
  long mf = sipr_msg_max_forwards(m);
  if (mf == 0)
    return;
  sipr_edits_t ed;
  sipr_edits_init(&ed, m);
  int had_route = m->first[SIPR_HDR_ROUTE] != NULL;
  int rrc = sipr_edit_remove_top_route(&ed);
  CHECK(rrc == 0 || (rrc == SIPR_ENOENT && !had_route));
  CHECK(sipr_edit_set_ruri(&ed, SIPR_STR("sip:next@192.0.2.99:5070")) == 0);
  CHECK(sipr_edit_dec_max_forwards(&ed, 70) == 0);
  CHECK(sipr_edit_add_record_route(&ed, SIPR_STR("<sip:fuzz.invalid;lr>")) == 0);
  CHECK(sipr_edit_prepend_via(
            &ed, SIPR_STR("SIP/2.0/TCP fuzz.invalid;branch=z9hG4bKfuzz")) == 0);
  sipr_buf_t b;
  sipr_buf_init(&b);
  CHECK(sipr_edits_print(&ed, &b) == 0);
  sipr_arena_t a;
  sipr_msg_t *o = NULL;
  sipr_perr_t err = {0};
  sipr_arena_init(&a, NULL, 0, 0);
  int rc = sipr_msg_parse(&a, b.p, b.len, SIPR_PARSE_STREAM, &o, &err);
  if (rc == SIPR_ENOMEM)
    goto out;
  CHECK(rc == 0);
  rc = sipr_msg_check(o, &err);
  if (rc == SIPR_ENOMEM)
    goto out;
  CHECK(rc == 0);
  CHECK(sipr_str_eq(o->ruri_str, SIPR_STR("sip:next@192.0.2.99:5070")));
  CHECK(sipr_msg_max_forwards(o) == (mf < 0 ? 70 : mf - 1));
  CHECK(sipr_str_eq(sipr_msg_via(o)->branch, SIPR_STR("z9hG4bKfuzz")));
  CHECK(sipr_str_eq(o->body, m->body));
out:
  sipr_arena_free(&a);
  sipr_buf_free(&b);
}

static void parse_frame(const char *p, size_t len) {
  char store[4096];
  sipr_arena_t a;
  sipr_msg_t *m = NULL;
  sipr_perr_t err = {0};
  sipr_arena_init(&a, store, sizeof store, (size_t)1 << 20);
  int rc = sipr_msg_parse(&a, p, len, SIPR_PARSE_STREAM, &m, &err);
  CHECK(rc <= 0 && rc >= SIPR_E__LAST);
  if (rc == 0) {
    /* The parser found the same end of message. */
    CHECK(m->len == len && m->trailing == 0);
    sipr_perr_t ce = {0};
    if (sipr_msg_check(m, &ce) == 0 && m->is_request)
      forward(m);
  } else if (rc == SIPR_EPARSE) {
    CHECK(err.offset <= len);
  }
  sipr_arena_free(&a);
}

/* Takes frames until the framer wants bytes or fails. */
static int drain(sipr_framer_t *f, run_t *r, int pong_wait) {
  for (;;) {
    const char *p;
    size_t len;
    int rc = sipr_framer_next(f, &p, &len);
    if (rc < 0) {
      CHECK(p == NULL && len == 0);
      if (rc != SIPR_EAGAIN) {
        CHECK(rc == SIPR_EPARSE || rc == SIPR_ETOOBIG || rc == SIPR_ENOMEM);
        CHECK(f->failed && f->err.code == rc && f->err.reason);
        CHECK(sipr_framer_next(f, &p, &len) == rc);
      }
      return rc;
    }
    CHECK(rc == SIPR_FRAME_MSG || rc == SIPR_FRAME_PING ||
          rc == SIPR_FRAME_PONG);
    CHECK(p != NULL && len > 0 && len <= r->n - r->off);
    CHECK(memcmp(p, r->s + r->off, len) == 0);
    if (rc == SIPR_FRAME_PING)
      CHECK(len == 4 && memcmp(p, "\r\n\r\n", 4) == 0);
    else if (rc == SIPR_FRAME_PONG)
      CHECK(len == 2 && memcmp(p, "\r\n", 2) == 0);
    else
      CHECK(len <= f->max_msg);
    r->off += len;
    r->frames++;
    hash_add(r, (uint64_t)rc);
    hash_add(r, (uint64_t)len);
    if (rc == SIPR_FRAME_MSG && r->parse)
      parse_frame(p, len);
    if (pong_wait)
      f->pong_wait = 1;
  }
}

/* Feeds the stream with chunk sizes from next_chunk(); returns the final
 * verdict (SIPR_EAGAIN when all was framed or waits for more). */
static int feed_all(sipr_framer_t *f, run_t *r, unsigned seed, int fixed,
                    int pong_wait) {
  size_t pos = 0;
  int rc = SIPR_EAGAIN;
  if (pong_wait)
    f->pong_wait = 1;
  while (pos < r->n) {
    size_t k;
    if (fixed) {
      k = f->max_msg;
    } else {
      unsigned c = (unsigned char)r->s[pos] ^ (seed & 0xff);
      k = 1 + (size_t)c * (1 + (seed >> 5));
    }
    if (k > f->max_msg)
      k = f->max_msg;
    if (k > r->n - pos)
      k = r->n - pos;
    int was_failed = f->failed;
    int frc = sipr_framer_feed(f, r->s + pos, k);
    pos += k;
    if (frc) {
      /* Fed at most max_msg after draining: only a failed framer (or
       * memory) refuses bytes. */
      CHECK(was_failed || frc == SIPR_ENOMEM);
      CHECK(frc == f->err.code);
      return frc;
    }
    rc = drain(f, r, pong_wait);
    if (rc != SIPR_EAGAIN)
      return rc;
  }
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3 || size > ((size_t)1 << 20))
    return 0;
  size_t max_msg = 32 + (size_t)data[0] * 64;
  unsigned seed = data[1];
  int pong_wait = data[2] & 1;
  run_t r = {(const char *)data + 3, size - 3, 0, 0xcbf29ce484222325ull, 0, 1};

  sipr_framer_t f;
  sipr_framer_init(&f, max_msg);
  int rc = feed_all(&f, &r, seed, 0, pong_wait);
  if (rc != SIPR_EAGAIN) {
    /* A failed framer stays failed. */
    const char *p;
    size_t len;
    CHECK(sipr_framer_next(&f, &p, &len) == rc);
    CHECK(sipr_framer_feed(&f, "x", 1) == rc);
  }
  CHECK(f.len - f.start <= 2 * f.max_msg);
  const char *reason = f.err.reason;
  sipr_framer_free(&f);

  if (!pong_wait) {
    run_t ref = {r.s, r.n, 0, 0xcbf29ce484222325ull, 0, 0};
    sipr_framer_init(&f, max_msg);
    int ref_rc = feed_all(&f, &ref, 0, 1, 0);
    if (rc != SIPR_ENOMEM && ref_rc != SIPR_ENOMEM) {
      CHECK(ref_rc == rc);
      CHECK(ref.frames == r.frames && ref.off == r.off && ref.hash == r.hash);
      CHECK(f.err.reason == reason);
    }
    sipr_framer_free(&f);
  }
  return 0;
}
