/*
 * bench/parse: SIP message parsing, sipr against libosip2 and sofia-sip.
 *
 * The three parsers parse the same corpus in the same run, in interleaved
 * rounds (docs/ARCHITECTURE.md, Benchmarks): figures are ratios measured
 * side by side, never absolute times compared across runs.
 *
 * Corpus: four typical messages written here (INVITE with SDP, REGISTER,
 * 200 OK with four Vias and Record-Routes, MESSAGE) and the valid messages
 * of RFC 4475 §3.1.1 read from SIPR_SHARED_DIR/torture/rfc4475 (argv[1]
 * overrides the folder). A torture file that some parser rejects is left
 * out of the corpus for all of them, and the drop is printed.
 *
 * Depth: each parser parses every header it understands into fields.
 *   sipr       sipr_msg_parse + sipr_msg_check (every typed header) +
 *              sipr_msg_ruri, in one arena over static storage, reset per
 *              message.
 *   libosip2   osip_message_init + osip_message_parse + osip_message_free.
 *   sofia-sip  msg_make (extracts and parses every header its default
 *              mclass knows) + msg_destroy.
 * Each parser's Call-ID and CSeq number are checked against values read
 * once from the raw text; a difference ends the run with status 1.
 *
 * Output: ns/message (median over the rounds) and heap allocations/message
 * per parser; the last line is
 *   parse: sipr X ns/msg, osip2 Y ns/msg, sofia-sip Z ns/msg, speedup vs
 *   fastest peer R.Rx
 * (on one line) with R = min(Y, Z) / X.
 *
 * Allocations are counted by defining malloc, calloc and realloc in this
 * program: the executable's definitions take precedence over libc's for
 * every shared object (libosip2, sofia-sip, libc itself), and forward to
 * glibc's __libc_* entry points.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sipr/base.h"
#include "sipr/msg.h"

#include <osipparser2/osip_message.h>
#include <osipparser2/osip_parser.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>

#ifndef SIPR_SHARED_DIR
#define SIPR_SHARED_DIR "../shared"
#endif

#define ROUNDS 15
#define ROUND_TARGET_NS 40000000.0 /* time each parser ~40 ms per round */
#define ALLOC_PASSES 20
#define MAX_MSGS 32
#define CALLID_MAX 512

/* ---- allocation counting ------------------------------------------------
 * Not under AddressSanitizer, which has its own malloc: there the counts
 * are reported as unknown (-1). */
#if defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCS 0
static volatile int g_counting;
static unsigned long g_allocs;
#else
#define COUNT_ALLOCS 1
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);

static volatile int g_counting;
static unsigned long g_allocs;

void *malloc(size_t size) {
  if (g_counting)
    g_allocs++;
  return __libc_malloc(size);
}

void *calloc(size_t n, size_t size) {
  if (g_counting)
    g_allocs++;
  return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size) {
  if (g_counting)
    g_allocs++;
  return __libc_realloc(p, size);
}

void free(void *p) { __libc_free(p); }
#endif

/* ---- corpus ------------------------------------------------------------- */
#define CRLF "\r\n"

static const char invite_sdp[] =
    "INVITE sip:bob@biloxi.example.com SIP/2.0" CRLF
    "Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport" CRLF
    "Max-Forwards: 70" CRLF
    "To: \"Bob\" <sip:bob@biloxi.example.com>" CRLF
    "From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774" CRLF
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com" CRLF
    "CSeq: 314159 INVITE" CRLF
    "Contact: <sip:alice@pc33.atlanta.example.com;transport=udp>" CRLF
    "Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, UPDATE" CRLF
    "Supported: replaces, timer, 100rel" CRLF
    "User-Agent: ExamplePhone/4.2.1" CRLF
    "Content-Type: application/sdp" CRLF
    "Content-Length: 230" CRLF
    CRLF
    "v=0" CRLF
    "o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com" CRLF
    "s=Session" CRLF
    "c=IN IP4 192.0.2.101" CRLF
    "t=0 0" CRLF
    "m=audio 49172 RTP/AVP 0 8 101" CRLF
    "a=rtpmap:0 PCMU/8000" CRLF
    "a=rtpmap:8 PCMA/8000" CRLF
    "a=rtpmap:101 telephone-event/8000" CRLF
    "a=sendrecv" CRLF;

static const char register_msg[] =
    "REGISTER sip:registrar.biloxi.example.com SIP/2.0" CRLF
    "Via: SIP/2.0/UDP bobspc.biloxi.example.com:5060;branch=z9hG4bKnashds7;rport" CRLF
    "Max-Forwards: 70" CRLF
    "To: Bob <sip:bob@biloxi.example.com>" CRLF
    "From: Bob <sip:bob@biloxi.example.com>;tag=456248" CRLF
    "Call-ID: 843817637684230@998sdasdh09" CRLF
    "CSeq: 1826 REGISTER" CRLF
    "Contact: <sip:bob@192.0.2.4:5060;transport=udp>;expires=3600;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"" CRLF
    "Authorization: Digest username=\"bob\", realm=\"biloxi.example.com\", "
    "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"sip:registrar.biloxi.example.com\", "
    "response=\"245f23415f11432b3434341c022\", algorithm=MD5, qop=auth, nc=00000001, "
    "cnonce=\"0a4f113b\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"" CRLF
    "Expires: 3600" CRLF
    "Supported: path, outbound, gruu" CRLF
    "User-Agent: ExamplePhone/4.2.1" CRLF
    "Content-Length: 0" CRLF
    CRLF;

static const char ok_vias[] =
    "SIP/2.0 200 OK" CRLF
    "Via: SIP/2.0/UDP proxy3.example.org:5060;branch=z9hG4bK.p3.4f0a1;received=198.51.100.33" CRLF
    "Via: SIP/2.0/TCP proxy2.example.net:5060;branch=z9hG4bK.p2.77a9c;received=198.51.100.22;rport=5060" CRLF
    "Via: SIP/2.0/UDP proxy1.example.com;branch=z9hG4bK.p1.9b3e1;received=203.0.113.11" CRLF
    "Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;received=192.0.2.101;rport=5062" CRLF
    "Record-Route: <sip:proxy3.example.org;lr;ftag=1928301774>" CRLF
    "Record-Route: <sip:proxy2.example.net;transport=tcp;lr>" CRLF
    "Record-Route: <sip:proxy1.example.com;lr;did=a1b.2f3>" CRLF
    "To: \"Bob\" <sip:bob@biloxi.example.com>;tag=a6c85cf" CRLF
    "From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774" CRLF
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com" CRLF
    "CSeq: 314159 INVITE" CRLF
    "Contact: <sip:bob@192.0.2.4:5060>" CRLF
    "Allow: INVITE, ACK, CANCEL, OPTIONS, BYE" CRLF
    "Supported: replaces, timer" CRLF
    "Server: ExampleSoftswitch/2.0" CRLF
    "Content-Type: application/sdp" CRLF
    "Content-Length: 135" CRLF
    CRLF
    "v=0" CRLF
    "o=bob 2808844564 2808844564 IN IP4 192.0.2.4" CRLF
    "s=Session" CRLF
    "c=IN IP4 192.0.2.4" CRLF
    "t=0 0" CRLF
    "m=audio 3456 RTP/AVP 0" CRLF
    "a=rtpmap:0 PCMU/8000" CRLF;

static const char message_msg[] =
    "MESSAGE sip:user2@domain.example.com SIP/2.0" CRLF
    "Via: SIP/2.0/TCP user1pc.domain.example.com;branch=z9hG4bK776sgdkse" CRLF
    "Max-Forwards: 70" CRLF
    "Route: <sip:proxy.domain.example.com;lr>" CRLF
    "From: sip:user1@domain.example.com;tag=49583" CRLF
    "To: sip:user2@domain.example.com" CRLF
    "Call-ID: asd88asd77a@1.2.3.4" CRLF
    "CSeq: 1 MESSAGE" CRLF
    "Content-Type: text/plain" CRLF
    "Content-Length: 18" CRLF
    CRLF
    "Watson, come here." ;

static const struct {
  const char *name;
  const char *text;
  size_t len;
} builtin[] = {
    {"invite-sdp", invite_sdp, sizeof(invite_sdp) - 1},
    {"register", register_msg, sizeof(register_msg) - 1},
    {"200-4via-rr", ok_vias, sizeof(ok_vias) - 1},
    {"message", message_msg, sizeof(message_msg) - 1},
};

static const char *const rfc4475_valid[] = {
    "wsinv", "intmeth", "esc01", "escnull", "esc02", "lwsdisp", "longreq",
    "dblreq", "semiuri", "transports", "mpart01", "unreason", "noreason",
};

typedef struct bmsg {
  char name[32];
  char *buf;  /* NUL-terminated copy */
  size_t len;
  /* expected, read from the raw text */
  char callid[CALLID_MAX];
  unsigned long cseq;
} bmsg_t;

static bmsg_t corpus[MAX_MSGS];
static size_t ncorpus;

/* What one parser read, for the correctness check. */
typedef struct seen {
  char callid[CALLID_MAX];
  unsigned long cseq;
} seen_t;

static void die(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "parse: ");
  fprintf(stderr, fmt, a, b);
  fputc('\n', stderr);
  exit(1);
}

/* ---- expected values, read from the raw header section ------------------ */

static int is_lws(char c) { return c == ' ' || c == '\t'; }

/* Finds the value of the first header named long_name (or its compact
 * form) in the header section of m: folding is joined with one space,
 * leading and trailing white space removed. Returns 0 or -1. */
static int raw_header(const bmsg_t *m, const char *long_name, char compact,
                      char *out, size_t outsz) {
  const char *p = m->buf, *end = m->buf + m->len;
  /* skip the start line */
  while (p < end && *p != '\n')
    p++;
  p++;
  while (p < end) {
    const char *line = p;
    if (*line == '\r' || *line == '\n')
      return -1; /* end of headers */
    const char *colon = line;
    while (colon < end && *colon != ':' && *colon != '\n')
      colon++;
    if (colon >= end || *colon != ':')
      return -1;
    const char *ne = colon;
    while (ne > line && is_lws(ne[-1]))
      ne--;
    size_t nlen = (size_t)(ne - line);
    int match = (nlen == strlen(long_name) &&
                 strncasecmp(line, long_name, nlen) == 0) ||
                (nlen == 1 && (line[0] | 0x20) == compact);
    /* the field ends at a CRLF not followed by white space */
    const char *v = colon + 1;
    size_t o = 0;
    int pending_space = 0;
    for (p = v; p < end; p++) {
      if (*p == '\r')
        continue;
      if (*p == '\n') {
        if (p + 1 < end && is_lws(p[1])) {
          pending_space = 1;
          continue;
        }
        p++;
        break;
      }
      if (!match)
        continue;
      if (is_lws(*p)) {
        pending_space = 1;
        continue;
      }
      if (pending_space && o > 0 && o + 1 < outsz)
        out[o++] = ' ';
      pending_space = 0;
      if (o + 1 < outsz)
        out[o++] = *p;
    }
    if (match) {
      out[o] = '\0';
      return 0;
    }
  }
  return -1;
}

static void read_expected(bmsg_t *m) {
  char cseq[128];
  if (raw_header(m, "call-id", 'i', m->callid, sizeof(m->callid)) != 0)
    die("%s: no Call-ID%s", m->name, "");
  if (raw_header(m, "cseq", 0, cseq, sizeof(cseq)) != 0)
    die("%s: no CSeq%s", m->name, "");
  char *e;
  errno = 0;
  m->cseq = strtoul(cseq, &e, 10);
  if (e == cseq || errno)
    die("%s: bad CSeq '%s'", m->name, cseq);
}

static void add_msg(const char *name, const char *text, size_t len) {
  if (ncorpus == MAX_MSGS)
    die("corpus too large%s%s", "", "");
  bmsg_t *m = &corpus[ncorpus++];
  snprintf(m->name, sizeof(m->name), "%s", name);
  m->buf = malloc(len + 1);
  if (!m->buf)
    die("out of memory%s%s", "", "");
  memcpy(m->buf, text, len);
  m->buf[len] = '\0';
  m->len = len;
  read_expected(m);
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 8192, n = 0, r;
  char *b = malloc(cap);
  while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
    n += r;
    if (n == cap) {
      char *nb = realloc(b, cap *= 2);
      if (!nb)
        free(b);
      b = nb;
    }
  }
  fclose(f);
  *len = n;
  return b;
}

/* ---- the parsers -------------------------------------------------------- */
/* Each returns 0 when the message parsed (and, when s is not NULL, fills
 * what it read), -1 when it was rejected. */

static _Alignas(max_align_t) char sipr_storage[64 * 1024];
static sipr_arena_t sipr_arena;
static size_t sipr_arena_peak; /* most arena bytes one message took */

static int parse_sipr(const bmsg_t *bm, seen_t *s) {
  sipr_msg_t *m;
  sipr_perr_t err;
  sipr_arena_reset(&sipr_arena);
  if (sipr_msg_parse(&sipr_arena, bm->buf, bm->len, SIPR_PARSE_DATAGRAM, &m,
                     &err) != 0)
    return -1;
  if (sipr_msg_check(m, &err) != 0)
    return -1;
  if (m->is_request && !sipr_msg_ruri(m))
    return -1;
  if (s) {
    sipr_str_t cid = sipr_msg_call_id(m);
    sipr_cseq_t *cs = sipr_msg_cseq(m);
    if (sipr_str_is_null(cid) || !cs)
      return -1;
    snprintf(s->callid, sizeof(s->callid), SIPR_STR_FMT, SIPR_STR_ARG(cid));
    s->cseq = cs->seq;
    if (sipr_arena.total > sipr_arena_peak)
      sipr_arena_peak = sipr_arena.total;
  }
  return 0;
}

static void osip_quiet(const char *fi, int li, osip_trace_level_t level,
                       const char *chfr, va_list ap) {
  (void)fi, (void)li, (void)level, (void)chfr, (void)ap;
}

static int parse_osip(const bmsg_t *bm, seen_t *s) {
  osip_message_t *m;
  int rc = -1;
  if (osip_message_init(&m) != 0)
    return -1;
  if (osip_message_parse(m, bm->buf, bm->len) != 0)
    goto out;
  osip_call_id_t *cid = osip_message_get_call_id(m);
  if (!cid || !cid->number || !m->cseq || !m->cseq->number)
    goto out;
  if (s) {
    if (cid->host)
      snprintf(s->callid, sizeof(s->callid), "%s@%s", cid->number, cid->host);
    else
      snprintf(s->callid, sizeof(s->callid), "%s", cid->number);
    s->cseq = strtoul(m->cseq->number, NULL, 10);
  }
  rc = 0;
out:
  osip_message_free(m);
  return rc;
}

static int parse_sofia(const bmsg_t *bm, seen_t *s) {
  msg_t *msg = msg_make(sip_default_mclass(), 0, bm->buf, (ssize_t)bm->len);
  int rc = -1;
  if (!msg)
    return -1;
  sip_t *sip = sip_object(msg);
  if (!sip || sip->sip_error || !sip->sip_call_id || !sip->sip_cseq)
    goto out;
  if (s) {
    snprintf(s->callid, sizeof(s->callid), "%s", sip->sip_call_id->i_id);
    s->cseq = sip->sip_cseq->cs_seq;
  }
  rc = 0;
out:
  msg_destroy(msg);
  return rc;
}

typedef struct parser {
  const char *name;
  int (*parse)(const bmsg_t *, seen_t *);
  long iters;         /* corpus passes per timed run */
  double ns[ROUNDS];  /* ns/message of each round */
  double median;
  double allocs;      /* heap allocations per message */
} parser_t;

static parser_t parsers[] = {
    {"sipr", parse_sipr, 0, {0}, 0, 0},
    {"osip2", parse_osip, 0, {0}, 0, 0},
    {"sofia-sip", parse_sofia, 0, {0}, 0, 0},
};
#define NPARSERS (sizeof(parsers) / sizeof(parsers[0]))

/* ---- corpus assembly and checks ----------------------------------------- */

static void load_corpus(const char *shared) {
  for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
    add_msg(builtin[i].name, builtin[i].text, builtin[i].len);
    /* keep the written Content-Length honest */
    char cl[32];
    const char *body = strstr(builtin[i].text, CRLF CRLF);
    if (raw_header(&corpus[ncorpus - 1], "content-length", 'l', cl,
                   sizeof(cl)) != 0 ||
        !body || strtoul(cl, NULL, 10) != strlen(body + 4))
      die("built-in %s: Content-Length differs from the body%s",
          builtin[i].name, "");
  }
  for (size_t i = 0; i < sizeof(rfc4475_valid) / sizeof(rfc4475_valid[0]);
       i++) {
    char path[4096];
    size_t len;
    snprintf(path, sizeof(path), "%s/torture/rfc4475/%s.dat", shared,
             rfc4475_valid[i]);
    char *text = read_file(path, &len);
    if (!text)
      die("cannot read %s: %s", path, strerror(errno));
    add_msg(rfc4475_valid[i], text, len);
    free(text);
  }
}

/* Drops the torture files some parser rejects; a built-in message that a
 * parser rejects, or any Call-ID/CSeq that a parser reads differently from
 * the text, ends the run. */
static void check_corpus(size_t nbuiltin) {
  size_t kept = 0;
  for (size_t i = 0; i < ncorpus; i++) {
    bmsg_t *m = &corpus[i];
    char rejected[128] = "";
    for (size_t p = 0; p < NPARSERS; p++) {
      seen_t s;
      memset(&s, 0, sizeof(s));
      if (parsers[p].parse(m, &s) != 0) {
        if (i < nbuiltin)
          die("%s rejects built-in message %s", parsers[p].name, m->name);
        strcat(rejected, rejected[0] ? ", " : "");
        strcat(rejected, parsers[p].name);
        continue;
      }
      if (strcmp(s.callid, m->callid) != 0 || s.cseq != m->cseq) {
        fprintf(stderr,
                "parse: %s read %s wrong: Call-ID '%s' CSeq %lu, expected "
                "Call-ID '%s' CSeq %lu\n",
                parsers[p].name, m->name, s.callid, s.cseq, m->callid,
                m->cseq);
        exit(1);
      }
    }
    if (rejected[0]) {
      printf("dropped %-10s rejected by %s\n", m->name, rejected);
      free(m->buf);
      continue;
    }
    corpus[kept++] = *m;
  }
  ncorpus = kept;
}

/* ---- timing ------------------------------------------------------------- */

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Parses the corpus iters times; returns ns per message. */
static double run(parser_t *p, long iters) {
  long failed = 0;
  double t0 = now_ns();
  for (long it = 0; it < iters; it++)
    for (size_t i = 0; i < ncorpus; i++)
      failed += p->parse(&corpus[i], NULL) != 0;
  double t1 = now_ns();
  if (failed)
    die("%s failed on a message it parsed before%s", p->name, "");
  return (t1 - t0) / ((double)iters * (double)ncorpus);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  const char *shared = argc > 1 ? argv[1] : SIPR_SHARED_DIR;
  size_t nbuiltin = sizeof(builtin) / sizeof(builtin[0]);

  sipr_arena_init(&sipr_arena, sipr_storage, sizeof(sipr_storage), 0);
  if (parser_init() != 0)
    die("osip parser_init failed%s%s", "", "");
  /* osip logs rejected messages to stderr; the drop report says it */
  osip_trace_initialize_func(TRACE_LEVEL0, osip_quiet);
  for (int l = 0; l < END_TRACE_LEVEL; l++)
    osip_trace_disable_level((osip_trace_level_t)l);

  load_corpus(shared);
  check_corpus(nbuiltin);
  size_t total_bytes = 0;
  for (size_t i = 0; i < ncorpus; i++)
    total_bytes += corpus[i].len;
  printf("corpus: %zu messages, %zu bytes (from %s)\n", ncorpus, total_bytes,
         shared);

  /* Warm-up and calibration: iterations for ~ROUND_TARGET_NS per run. */
  for (size_t p = 0; p < NPARSERS; p++) {
    double ns = run(&parsers[p], 20);
    ns = run(&parsers[p], 20);
    long it = (long)(ROUND_TARGET_NS / (ns * (double)ncorpus));
    parsers[p].iters = it < 1 ? 1 : it;
  }

  /* Allocations per message, after warm-up. */
  for (size_t p = 0; p < NPARSERS; p++) {
    g_allocs = 0;
    g_counting = 1;
    for (int it = 0; it < ALLOC_PASSES; it++)
      for (size_t i = 0; i < ncorpus; i++)
        (void)parsers[p].parse(&corpus[i], NULL);
    g_counting = 0;
    parsers[p].allocs =
        COUNT_ALLOCS
            ? (double)g_allocs / ((double)ALLOC_PASSES * (double)ncorpus)
            : -1;
  }

  /* Interleaved rounds; the order rotates so no parser always goes first. */
  for (int r = 0; r < ROUNDS; r++)
    for (size_t k = 0; k < NPARSERS; k++) {
      parser_t *p = &parsers[(k + (size_t)r) % NPARSERS];
      p->ns[r] = run(p, p->iters);
    }

  /* The correctness check once more, after the timed runs. */
  for (size_t i = 0; i < ncorpus; i++)
    for (size_t p = 0; p < NPARSERS; p++) {
      seen_t s;
      memset(&s, 0, sizeof(s));
      if (parsers[p].parse(&corpus[i], &s) != 0 ||
          strcmp(s.callid, corpus[i].callid) != 0 || s.cseq != corpus[i].cseq)
        die("%s: %s read a wrong Call-ID/CSeq", parsers[p].name,
            corpus[i].name);
    }

  printf("%-10s %12s %10s %10s %12s\n", "parser", "ns/msg(med)", "min",
         "max", "allocs/msg");
  for (size_t p = 0; p < NPARSERS; p++) {
    parser_t *ps = &parsers[p];
    double sorted[ROUNDS];
    memcpy(sorted, ps->ns, sizeof(sorted));
    qsort(sorted, ROUNDS, sizeof(double), cmp_double);
    ps->median = sorted[ROUNDS / 2];
    char allocs[32] = "n/a (ASan)";
    if (ps->allocs >= 0)
      snprintf(allocs, sizeof(allocs), "%.2f", ps->allocs);
    printf("%-10s %12.0f %10.0f %10.0f %12s\n", ps->name, ps->median,
           sorted[0], sorted[ROUNDS - 1], allocs);
  }
  printf("sipr arena: at most %zu bytes per message, %zu KiB static "
         "storage, %zu heap blocks since start\n",
         sipr_arena_peak, sizeof(sipr_storage) / 1024,
         sipr_arena.heap_blocks);
  if (parsers[0].allocs > 0)
    printf("note: sipr allocated from the heap after warm-up (%.2f/msg)\n",
           parsers[0].allocs);

  double x = parsers[0].median, y = parsers[1].median, z = parsers[2].median;
  double peer = y < z ? y : z;
  printf("parse: sipr %.0f ns/msg, osip2 %.0f ns/msg, sofia-sip %.0f ns/msg, "
         "speedup vs fastest peer %.1fx\n",
         x, y, z, peer / x);
  return 0;
}
