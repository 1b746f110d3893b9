/*
 * stress_tcp: TCP robustness of the transport layer (include/sipr/
 * transport.h; docs/ARCHITECTURE.md, Memory: "caps on everything that
 * input controls ... a cap that is hit gets a counted, logged refusal").
 *
 * One program, one subcommand per ctest test. The transport runs in this
 * process on a loop with the real clock, driven with sipr_loop_run_once().
 * The clients of `conns` and `slow` are non-blocking sockets of the same
 * process, served between rounds of the loop; the attackers of `flood` are
 * child processes that write as fast as the kernel lets them. Memory is
 * this process's resident set (/proc/self/statm): the clients hold no user
 * memory beyond what is allocated and touched before the first measure, so
 * what grows is the transport's (socket buffers are kernel memory and are
 * not counted).
 *
 *   conns  2,000 concurrent connections from 127.0.0.1: every one accepted
 *          (conns_open == 2000), every one answers a CRLFCRLF ping with a
 *          CRLF pong and an OPTIONS with a 200 from a minimal TU over
 *          sipr_tp_send_response(); prints the resident memory per
 *          connection, asserts a generous bound (< 64 KiB: a leak, not a
 *          budget); then a second wave of 2,000 must reuse the memory the
 *          first freed (under 1 MiB of growth).
 *   slow   partial_timeout_ms = idle_timeout_ms = 1500: a client that
 *          sends one byte of a never-ending header line every 400 ms, one
 *          that sends a whole header block then its body a byte every
 *          400 ms, and one that sends a bare LF every 400 ms (no keep-
 *          alive: the start of a message for the framer) are cut between
 *          1.5 s and 2.5 s after their first byte (conns_killed); a silent
 *          one is closed as idle (conns_idle); a client that sends a
 *          CRLFCRLF ping every 400 ms stays.
 *   flood  10 MB streams against max_stream_msg = 65535: random bytes
 *          without CRLFCRLF, one endless header line, a valid header block
 *          with Content-Length: 10000000; 8 attacks of each kind. Each is
 *          cut at the cap (the writer gets ECONNRESET/EPIPE long before
 *          10 MB: under 2 MiB), counted (conns_killed, rx_bad), and the
 *          resident memory is back within 2 MiB of where it was (and never
 *          4 MiB above it meanwhile).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sipr/print.h"
#include "sipr/transport.h"

static const char *g_test = "stress_tcp";

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: FAIL: ", g_test);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond))                                                               \
      fail(__VA_ARGS__);                                                       \
  } while (0)

typedef unsigned long long ull;

/* ---- resident memory ------------------------------------------------------ */

static long rss_kib(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long size = 0, res = -1;
  if (f) {
    if (fscanf(f, "%ld %ld", &size, &res) != 2)
      res = -1;
    fclose(f);
  }
  CHECK(res >= 0, "cannot read the resident set size from /proc/self/statm");
  return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- the server: a transport and a minimal TU ------------------------------ */

typedef struct srv {
  sipr_loop_t *loop;
  sipr_tp_t *tp;
  int port;
  sipr_buf_t tx;       /* responses, reused */
  ull nrecv;           /* messages handed up */
  ull nanswered;       /* 200s sent */
  ull nclosed;         /* conn_closed callbacks */
} srv_t;

/* Answers every request but ACK with 200 over sipr_tp_send_response(). */
static void on_recv(void *user, sipr_tp_t *tp, sipr_msg_t *msg,
                    const sipr_tp_src_t *src) {
  srv_t *s = user;
  s->nrecv++;
  if (!msg->is_request || msg->method_id == SIPR_METHOD_ACK)
    return;
  s->tx.len = 0;
  s->tx.failed = 0;
  if (sipr_print_response(&s->tx, msg, 200, NULL, SIPR_STR("stress"),
                          SIPR_STR_NULL) == 0 &&
      sipr_tp_send_response(tp, src, sipr_msg_via(msg), s->tx.p, s->tx.len) == 0)
    s->nanswered++;
}

static void on_closed(void *user, sipr_tp_t *tp, uint64_t id) {
  srv_t *s = user;
  (void)tp;
  (void)id;
  s->nclosed++;
}

static void srv_start(srv_t *s, const sipr_tp_cfg_t *cfg) {
  static const sipr_tp_user_ops_t ops = {on_recv, on_closed, NULL};
  memset(s, 0, sizeof(*s));
  sipr_buf_init(&s->tx);
  s->loop = sipr_loop_new(NULL); /* the real monotonic clock */
  CHECK(s->loop, "sipr_loop_new failed");
  s->tp = sipr_tp_new(s->loop, cfg, &ops, s);
  CHECK(s->tp, "sipr_tp_new failed");
  sipr_tp_addr_t a;
  CHECK(sipr_tp_addr_parse("tcp:127.0.0.1:0", &a) == 0, "address parse");
  int rc = sipr_tp_listen(s->tp, &a);
  CHECK(rc == 0, "cannot listen on tcp:127.0.0.1:0: %s", sipr_strerror(rc));
  s->port = sipr_tp_addr_port(sipr_tp_local(s->tp, 0));
  CHECK(s->port > 0, "no port bound");
}

static void srv_stop(srv_t *s) {
  sipr_tp_free(s->tp);
  sipr_loop_free(s->loop);
  sipr_buf_free(&s->tx);
}

static sipr_tp_stats_t stats(const srv_t *s) {
  sipr_tp_stats_t st;
  sipr_tp_get_stats(s->tp, &st);
  return st;
}

static uint64_t now_ms(const srv_t *s) { return sipr_loop_now(s->loop); }

/* One round of the loop, waiting up to wait_ms for sockets. */
static void pump(srv_t *s, int wait_ms) {
  CHECK(sipr_loop_run_once(s->loop, wait_ms) >= 0, "sipr_loop_run_once failed");
}

/* Pumps until the transport holds no connection and every close was
 * reported, at most ms. */
static void pump_until_no_conns(srv_t *s, ull closed_want, uint64_t ms) {
  uint64_t end = now_ms(s) + ms;
  while ((stats(s).conns_open || s->nclosed < closed_want) && now_ms(s) < end)
    pump(s, 5);
  sipr_tp_stats_t st = stats(s);
  CHECK(st.conns_open == 0 && s->nclosed == closed_want,
        "connections not closed after %llu ms: conns_open %llu, conn_closed "
        "callbacks %llu of %llu",
        (ull)ms, (ull)st.conns_open, s->nclosed, closed_want);
}

/* ---- clients ---------------------------------------------------------------- */

/* A non-blocking TCP socket connecting to 127.0.0.1:port; -errno on failure. */
static int client_open(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) && errno != EINPROGRESS) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

static int local_port(int fd) {
  struct sockaddr_in sa;
  socklen_t sl = sizeof(sa);
  if (getsockname(fd, (struct sockaddr *)&sa, &sl))
    return -1;
  return ntohs(sa.sin_port);
}

/* Writes all of p on a non-blocking socket, pumping while it would block. */
static void send_all(srv_t *s, int fd, const char *p, size_t len) {
  uint64_t end = now_ms(s) + 5000;
  while (len) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      p += n;
      len -= (size_t)n;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      CHECK(now_ms(s) < end, "a send stayed blocked for 5 s");
      pump(s, 1);
    } else {
      fail("send failed: %s", strerror(errno));
    }
  }
}

#define CLI_BUF 1024

typedef struct cli {
  int fd;
  int done;
  size_t len;
  char buf[CLI_BUF];
} cli_t;

/* Reads what c->fd has into c->buf. 0: nothing more for now; -1: the peer
 * closed or reset the connection (or the buffer is full). */
static int cli_read(cli_t *c) {
  for (;;) {
    if (c->len >= CLI_BUF - 1)
      return -1;
    ssize_t n = recv(c->fd, c->buf + c->len, CLI_BUF - 1 - c->len, MSG_DONTWAIT);
    if (n > 0) {
      c->len += (size_t)n;
      c->buf[c->len] = '\0';
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
      return 0;
    return -1;
  }
}

/* Every client sends a CRLFCRLF ping; each must get exactly the CRLF pong
 * (RFC 5626 §3.5.1). */
static void clients_ping(srv_t *s, cli_t *c, size_t n) {
  for (size_t i = 0; i < n; i++) {
    c[i].done = 0;
    c[i].len = 0;
    c[i].buf[0] = '\0';
    send_all(s, c[i].fd, "\r\n\r\n", 4);
  }
  size_t left = n;
  uint64_t end = now_ms(s) + 15000;
  while (left) {
    CHECK(now_ms(s) < end, "%zu of %zu connections got no pong in 15 s", left, n);
    pump(s, 1);
    for (size_t i = 0; i < n; i++) {
      if (c[i].done)
        continue;
      CHECK(cli_read(&c[i]) == 0, "connection %zu closed while waiting for a pong", i);
      if (c[i].len >= 2) {
        CHECK(c[i].len == 2 && memcmp(c[i].buf, "\r\n", 2) == 0,
              "connection %zu: the ping was answered with %zu bytes, not CRLF", i,
              c[i].len);
        c[i].done = 1;
        left--;
      }
    }
  }
}

/* Every client sends an OPTIONS (Call-ID naming the client); each must get
 * a whole 200 with its own Call-ID back on its own connection. */
static void clients_options(srv_t *s, cli_t *c, size_t n, const char *tag) {
  char req[600];
  for (size_t i = 0; i < n; i++) {
    c[i].done = 0;
    c[i].len = 0;
    c[i].buf[0] = '\0';
    int len = snprintf(req, sizeof(req),
                       "OPTIONS sip:stress@127.0.0.1:%d SIP/2.0\r\n"
                       "Via: SIP/2.0/TCP 127.0.0.1:%d;branch=z9hG4bK%s%zu;rport\r\n"
                       "Max-Forwards: 70\r\n"
                       "From: <sip:load@127.0.0.1>;tag=f%zu\r\n"
                       "To: <sip:stress@127.0.0.1>\r\n"
                       "Call-ID: %s-%zu@127.0.0.1\r\n"
                       "CSeq: 1 OPTIONS\r\n"
                       "Content-Length: 0\r\n\r\n",
                       s->port, local_port(c[i].fd), tag, i, i, tag, i);
    send_all(s, c[i].fd, req, (size_t)len);
  }
  size_t left = n;
  uint64_t end = now_ms(s) + 15000;
  char want[64];
  while (left) {
    CHECK(now_ms(s) < end, "%zu of %zu OPTIONS got no answer in 15 s", left, n);
    pump(s, 1);
    for (size_t i = 0; i < n; i++) {
      if (c[i].done)
        continue;
      CHECK(cli_read(&c[i]) == 0, "connection %zu closed while waiting for a 200", i);
      if (!strstr(c[i].buf, "\r\n\r\n"))
        continue;
      snprintf(want, sizeof(want), "\r\nCall-ID: %s-%zu@127.0.0.1\r\n", tag, i);
      CHECK(strncmp(c[i].buf, "SIP/2.0 200 ", 12) == 0 && strstr(c[i].buf, want),
            "connection %zu: unexpected answer:\n%s", i, c[i].buf);
      c[i].done = 1;
      left--;
    }
  }
}

/* ---- conns ---------------------------------------------------------------------- */

#define NCONN 2000
#define NOFILE_NEED (2 * NCONN + 100) /* both ends of each, and a few more */

/* Raises the soft RLIMIT_NOFILE to the hard limit (or at least to need). */
static void raise_nofile(rlim_t need) {
  struct rlimit rl;
  CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0, "getrlimit: %s", strerror(errno));
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
    fail("RLIMIT_NOFILE: the hard limit is %llu descriptors; this test needs "
         "%llu (both ends of %d connections in one process). Raise the hard "
         "limit (ulimit -Hn, limits.conf, systemd LimitNOFILE=) and run again",
         (ull)rl.rlim_max, (ull)need, NCONN);
  struct rlimit want = rl;
  want.rlim_cur = rl.rlim_max;
  if (rl.rlim_cur != rl.rlim_max && setrlimit(RLIMIT_NOFILE, &want) &&
      rl.rlim_cur < need) {
    want.rlim_cur = need; /* an infinite hard limit may be above nr_open */
    if (setrlimit(RLIMIT_NOFILE, &want))
      fail("RLIMIT_NOFILE: cannot raise the soft limit from %llu to %llu (hard "
           "limit %llu): %s",
           (ull)rl.rlim_cur, (ull)need, (ull)rl.rlim_max, strerror(errno));
  }
  CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= need,
        "RLIMIT_NOFILE: the soft limit stayed below %llu", (ull)need);
}

typedef struct wave {
  long rss_open, rss_used, rss_closed; /* KiB */
  uint64_t ms_open, ms_ping, ms_opt, ms_close;
} wave_t;

/* NCONN clients connect and stay; every one is accepted, then carries a
 * ping and an OPTIONS; then they all leave. The resident set is measured
 * once all are open, after the exchanges, and after the closes. */
static void conns_wave(srv_t *s, cli_t *c, wave_t *w) {
  sipr_tp_stats_t st0 = stats(s);
  ull closed0 = s->nclosed, answered0 = s->nanswered;
  uint64_t t0 = now_ms(s);

  /* Connect in waves of at most 100 not yet accepted, so that the listen
   * backlog (somaxconn: 128 on older kernels) never overflows: a dropped
   * SYN costs a 1 s retransmission. */
  size_t opened = 0;
  uint64_t end = t0 + 30000;
  for (;;) {
    sipr_tp_stats_t st = stats(s);
    size_t accepted = (size_t)(st.conns_accepted - st0.conns_accepted);
    CHECK(st.conns_refused == 0, "%llu connections refused (after %zu accepted)",
          (ull)st.conns_refused, accepted);
    if (accepted == NCONN)
      break;
    CHECK(now_ms(s) < end, "only %zu of %d connections accepted in 30 s", accepted,
          NCONN);
    while (opened < NCONN && opened - accepted < 100) {
      int fd = client_open(s->port);
      CHECK(fd >= 0, "connect #%zu: %s", opened, strerror(-fd));
      c[opened++].fd = fd;
    }
    pump(s, 1);
  }
  uint64_t t_open = now_ms(s);
  /* Every client sees its connection established. */
  for (size_t i = 0; i < NCONN; i++) {
    int err = 0;
    socklen_t el = sizeof(err);
    struct sockaddr_in peer;
    socklen_t pl = sizeof(peer);
    CHECK(getsockopt(c[i].fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0 &&
              getpeername(c[i].fd, (struct sockaddr *)&peer, &pl) == 0,
          "client %zu not connected: %s", i, strerror(err ? err : errno));
  }
  sipr_tp_stats_t st = stats(s);
  CHECK(st.conns_open == NCONN, "conns_open is %llu, want %d", (ull)st.conns_open,
        NCONN);
  CHECK(st.conns_killed == st0.conns_killed && st.conns_idle == st0.conns_idle,
        "connections killed (%llu) or closed idle (%llu) while opening",
        (ull)(st.conns_killed - st0.conns_killed), (ull)(st.conns_idle - st0.conns_idle));
  w->rss_open = rss_kib();

  /* Each one still answered: a ping, then an OPTIONS, on all of them. */
  clients_ping(s, c, NCONN);
  uint64_t t_ping = now_ms(s);
  clients_options(s, c, NCONN, "stress");
  uint64_t t_opt = now_ms(s);
  st = stats(s);
  CHECK(st.keepalives - st0.keepalives == NCONN, "keepalives +%llu, want %d",
        (ull)(st.keepalives - st0.keepalives), NCONN);
  CHECK(st.rx_msgs - st0.rx_msgs == NCONN && s->nanswered - answered0 == NCONN,
        "rx_msgs +%llu, answered +%llu, want %d", (ull)(st.rx_msgs - st0.rx_msgs),
        s->nanswered - answered0, NCONN);
  CHECK(st.conns_open == NCONN && st.conns_killed == st0.conns_killed &&
            st.rx_bad == st0.rx_bad && st.tx_errors == st0.tx_errors,
        "after the exchanges: conns_open %llu, killed +%llu, rx_bad +%llu, "
        "tx_errors +%llu",
        (ull)st.conns_open, (ull)(st.conns_killed - st0.conns_killed),
        (ull)(st.rx_bad - st0.rx_bad), (ull)(st.tx_errors - st0.tx_errors));
  w->rss_used = rss_kib();

  /* Every client leaves; the transport sees every close. */
  for (size_t i = 0; i < NCONN; i++) {
    close(c[i].fd);
    c[i].fd = -1;
  }
  pump_until_no_conns(s, closed0 + NCONN, 15000);
  w->rss_closed = rss_kib();
  w->ms_open = t_open - t0;
  w->ms_ping = t_ping - t_open;
  w->ms_opt = t_opt - t_ping;
  w->ms_close = now_ms(s) - t_opt;
}

static int test_conns(void) {
  raise_nofile(NOFILE_NEED);
  sipr_tp_cfg_t cfg;
  sipr_tp_cfg_default(&cfg);
  cfg.max_conns = 4096;
  cfg.max_conns_per_ip = 4096; /* every client comes from 127.0.0.1 */
  srv_t s;
  srv_start(&s, &cfg);

  /* Client state, allocated and touched before the first measure. */
  cli_t *c = malloc(sizeof(cli_t) * NCONN);
  CHECK(c, "out of memory");
  memset(c, 0x5a, sizeof(cli_t) * NCONN);
  for (size_t i = 0; i < NCONN; i++) {
    c[i].fd = -1;
    c[i].len = 0;
    c[i].buf[0] = '\0';
  }

  /* Warm-up: one connection carries a ping and an OPTIONS, so that what
   * the transport allocates once (receive arena, Via copy) is counted
   * before the first measure. */
  cli_t warm;
  warm.fd = client_open(s.port);
  CHECK(warm.fd >= 0, "connect: %s", strerror(-warm.fd));
  clients_ping(&s, &warm, 1);
  clients_options(&s, &warm, 1, "warm");
  close(warm.fd);
  pump_until_no_conns(&s, 1, 5000);

  long rss0 = rss_kib();
  wave_t w1, w2;
  conns_wave(&s, c, &w1);
  double per_open = (double)(w1.rss_open - rss0) / NCONN;
  double per_used = (double)(w1.rss_used - rss0) / NCONN;
  printf("tcp: %d connections, %.2f KiB per connection\n", NCONN, per_open);
  printf("tcp: %d connections after a ping and an OPTIONS each, %.2f KiB per "
         "connection\n",
         NCONN, per_used);
  printf("tcp: RSS %ld KiB before, %ld KiB all open, %ld KiB after the exchanges, "
         "%ld KiB all closed; opened in %llu ms, %d pings in %llu ms, %d OPTIONS "
         "in %llu ms, closed in %llu ms\n",
         rss0, w1.rss_open, w1.rss_used, w1.rss_closed, (ull)w1.ms_open, NCONN,
         (ull)w1.ms_ping, NCONN, (ull)w1.ms_opt, (ull)w1.ms_close);
  CHECK(per_open < 64.0 && per_used < 64.0,
        "memory per connection over 64 KiB (%.2f open, %.2f after traffic): a leak?",
        per_open, per_used);

  /* A second wave reuses what the first one freed: the resident set after
   * it may not grow by more than 1 MiB (0.5 KiB per connection). */
  conns_wave(&s, c, &w2);
  printf("tcp: second wave of %d: RSS %ld KiB all open, %ld KiB all closed "
         "(%+ld KiB against the first wave)\n",
         NCONN, w2.rss_open, w2.rss_closed, w2.rss_closed - w1.rss_closed);
  CHECK(w2.rss_closed - w1.rss_closed < 1024,
        "RSS grew by %ld KiB over a second wave of %d connections: a leak?",
        w2.rss_closed - w1.rss_closed, NCONN);
  sipr_tp_stats_t st = stats(&s);
  CHECK(st.conns_accepted == 2 * NCONN + 1 && st.conns_refused == 0 &&
            st.conns_killed == 0,
        "accepted %llu (want %d), refused %llu, killed %llu", (ull)st.conns_accepted,
        2 * NCONN + 1, (ull)st.conns_refused, (ull)st.conns_killed);
  free(c);
  srv_stop(&s);
  return 0;
}

/* ---- slow -------------------------------------------------------------------- */

#define SLOW_TIMEOUT 1500 /* partial_timeout_ms and idle_timeout_ms */
#define SLOW_STEP 400     /* ms between two writes of a slow client */
#define SLOW_RUN 4000     /* how long the test watches */

enum { S_HEADER, S_BODY, S_LF, S_SILENT, S_PINGER, S_N };
static const char *const slow_name[S_N] = {"header", "body", "lf", "silent",
                                           "pinger"};

typedef struct slow_cli {
  int fd;
  uint64_t start;    /* when its first byte left (silent: its connect) */
  uint64_t closed;   /* when it saw the close, 0 while open */
  size_t off;        /* header: bytes of the script sent */
  unsigned pings, pongs;
} slow_cli_t;

/* The header client's bytes: a start line, then one header line that
 * never ends. */
static char slow_header_byte(size_t off) {
  static const char start[] = "OPTIONS sip:slow@127.0.0.1 SIP/2.0\r\nSubject: ";
  return off < sizeof(start) - 1 ? start[off] : 'a';
}

static int test_slow(void) {
  sipr_tp_cfg_t cfg;
  sipr_tp_cfg_default(&cfg);
  cfg.partial_timeout_ms = SLOW_TIMEOUT;
  cfg.idle_timeout_ms = SLOW_TIMEOUT;
  srv_t s;
  srv_start(&s, &cfg);

  slow_cli_t c[S_N];
  memset(c, 0, sizeof(c));
  for (int i = 0; i < S_N; i++) {
    c[i].fd = client_open(s.port);
    CHECK(c[i].fd >= 0, "connect: %s", strerror(-c[i].fd));
    c[i].start = now_ms(&s);
  }
  uint64_t end = now_ms(&s) + 5000;
  while (stats(&s).conns_accepted < S_N) {
    CHECK(now_ms(&s) < end, "connections not accepted");
    pump(&s, 1);
  }

  /* First bytes. The body client sends its whole header block at once
   * (the message is then begun: the partial timer runs). */
  static const char body_hdr[] = "MESSAGE sip:slow@127.0.0.1 SIP/2.0\r\n"
                                 "Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKslow\r\n"
                                 "Max-Forwards: 70\r\n"
                                 "From: <sip:a@127.0.0.1>;tag=1\r\n"
                                 "To: <sip:slow@127.0.0.1>\r\n"
                                 "Call-ID: slow@127.0.0.1\r\n"
                                 "CSeq: 1 MESSAGE\r\n"
                                 "Content-Type: text/plain\r\n"
                                 "Content-Length: 1000\r\n\r\n";
  uint64_t last_write = now_ms(&s);
  char b = slow_header_byte(c[S_HEADER].off++);
  c[S_HEADER].start = now_ms(&s);
  send_all(&s, c[S_HEADER].fd, &b, 1);
  c[S_BODY].start = now_ms(&s);
  send_all(&s, c[S_BODY].fd, body_hdr, sizeof(body_hdr) - 1);
  c[S_LF].start = now_ms(&s);
  send_all(&s, c[S_LF].fd, "\n", 1);
  c[S_PINGER].start = now_ms(&s);
  send_all(&s, c[S_PINGER].fd, "\r\n\r\n", 4);
  c[S_PINGER].pings++;

  uint64_t t0 = now_ms(&s);
  while (now_ms(&s) < t0 + SLOW_RUN) {
    pump(&s, 10);
    uint64_t now = now_ms(&s);
    /* Who saw the transport close its connection (EOF or reset)? */
    for (int i = 0; i < S_N; i++) {
      if (c[i].closed)
        continue;
      char buf[256];
      ssize_t n;
      while ((n = recv(c[i].fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
        for (ssize_t k = 0; k + 1 < n; k++)
          if (buf[k] == '\r' && buf[k + 1] == '\n')
            c[i].pongs++;
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        c[i].closed = now;
    }
    if (now < last_write + SLOW_STEP)
      continue;
    last_write = now;
    /* One more byte each (a write to a closed connection only fails). */
    if (!c[S_HEADER].closed) {
      b = slow_header_byte(c[S_HEADER].off++);
      (void)send(c[S_HEADER].fd, &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    if (!c[S_BODY].closed)
      (void)send(c[S_BODY].fd, "b", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (!c[S_LF].closed)
      (void)send(c[S_LF].fd, "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (!c[S_PINGER].closed &&
        send(c[S_PINGER].fd, "\r\n\r\n", 4, MSG_NOSIGNAL | MSG_DONTWAIT) == 4)
      c[S_PINGER].pings++;
  }

  for (int i = 0; i < S_N; i++) {
    if (c[i].closed)
      printf("slow: %-6s client cut after %llu ms\n", slow_name[i],
             (ull)(c[i].closed - c[i].start));
    else
      printf("slow: %-6s client still open after %llu ms (%u pings, %u pongs)\n",
             slow_name[i], (ull)(now_ms(&s) - c[i].start), c[i].pings, c[i].pongs);
  }
  /* The stalled and the silent ones: between the timeout and 1 s later. */
  for (int i = S_HEADER; i <= S_SILENT; i++) {
    CHECK(c[i].closed, "the %s client was not cut within %d ms (timeout %d ms)",
          slow_name[i], SLOW_RUN, SLOW_TIMEOUT);
    uint64_t d = c[i].closed - c[i].start;
    CHECK(d >= SLOW_TIMEOUT && d <= SLOW_TIMEOUT + 1000,
          "the %s client was cut after %llu ms, want %d..%d ms", slow_name[i], (ull)d,
          SLOW_TIMEOUT, SLOW_TIMEOUT + 1000);
  }
  CHECK(!c[S_PINGER].closed, "the pinging client was disconnected after %llu ms",
        (ull)(c[S_PINGER].closed - c[S_PINGER].start));
  CHECK(c[S_PINGER].pongs + 1 >= c[S_PINGER].pings && c[S_PINGER].pongs >= 5,
        "the pinging client got %u pongs for %u pings", c[S_PINGER].pongs,
        c[S_PINGER].pings);
  sipr_tp_stats_t st = stats(&s);
  printf("slow: conns_killed %llu, conns_idle %llu, conns_open %llu, rx_bad %llu, "
         "keepalives %llu\n",
         (ull)st.conns_killed, (ull)st.conns_idle, (ull)st.conns_open,
         (ull)st.rx_bad, (ull)st.keepalives);
  CHECK(st.conns_killed == 3, "conns_killed %llu, want 3 (header, body, lf)",
        (ull)st.conns_killed);
  CHECK(st.conns_idle == 1, "conns_idle %llu, want 1 (silent)", (ull)st.conns_idle);
  CHECK(st.conns_open == 1 && s.nclosed == 4,
        "conns_open %llu (want 1: the pinger), conn_closed callbacks %llu (want 4)",
        (ull)st.conns_open, s.nclosed);
  CHECK(st.rx_msgs == 0, "rx_msgs %llu: a stalled message was handed up",
        (ull)st.rx_msgs);
  for (int i = 0; i < S_N; i++)
    close(c[i].fd);
  pump_until_no_conns(&s, S_N, 5000);
  srv_stop(&s);
  return 0;
}

/* ---- flood ---------------------------------------------------------------------- */

#define FLOOD_TOTAL (10u * 1000u * 1000u) /* bytes each attacker tries to send */
#define FLOOD_CHUNK 65536
#define FLOOD_CAP 65535                   /* max_stream_msg */
#define FLOOD_ROUNDS 8                    /* attacks per kind */
#define FLOOD_SNDBUF (128 * 1024)         /* the attacker's SO_SNDBUF */
/* What the attacker may get into the kernel before the reset: the cap,
 * a read chunk, both socket buffers; measured: under 400 KiB. */
#define FLOOD_BOUND (2u << 20)

enum { F_GARBAGE, F_HEADER, F_CLEN, F_N };
static const char *const flood_name[F_N] = {"random bytes", "endless header",
                                            "Content-Length: 10000000"};

static uint64_t g_rnd = 0x9e3779b97f4a7c15ull;

static uint64_t rnd64(void) {
  g_rnd ^= g_rnd << 13;
  g_rnd ^= g_rnd >> 7;
  g_rnd ^= g_rnd << 17;
  return g_rnd;
}

/* The next chunk of an attack of kind k, at stream offset off. */
static size_t flood_chunk(int k, size_t off, char *buf) {
  static const char hdr_start[] = "OPTIONS sip:flood@127.0.0.1 SIP/2.0\r\n"
                                  "Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKflood\r\n"
                                  "Subject: ";
  static const char clen[] = "OPTIONS sip:flood@127.0.0.1 SIP/2.0\r\n"
                             "Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKflood\r\n"
                             "Max-Forwards: 70\r\n"
                             "From: <sip:a@127.0.0.1>;tag=1\r\n"
                             "To: <sip:flood@127.0.0.1>\r\n"
                             "Call-ID: flood@127.0.0.1\r\n"
                             "CSeq: 1 OPTIONS\r\n"
                             "Content-Type: application/octet-stream\r\n"
                             "Content-Length: 10000000\r\n\r\n";
  size_t n = 0;
  if (k == F_GARBAGE) {
    /* Random bytes without CR: no CRLFCRLF ever, no keep-alive either. */
    for (; n + 8 <= FLOOD_CHUNK; n += 8) {
      uint64_t r = rnd64();
      memcpy(buf + n, &r, 8);
    }
    for (size_t i = 0; i < n; i++)
      if (buf[i] == '\r')
        buf[i] = 'r';
    return n;
  }
  const char *pre = k == F_HEADER ? hdr_start : clen;
  size_t plen = k == F_HEADER ? sizeof(hdr_start) - 1 : sizeof(clen) - 1;
  if (off < plen) {
    memcpy(buf, pre + off, plen - off);
    n = plen - off;
  }
  memset(buf + n, k == F_HEADER ? 'a' : 'b', FLOOD_CHUNK - n);
  return FLOOD_CHUNK;
}

typedef struct flood_res {
  uint64_t sent; /* bytes the kernel took from the attacker */
  int err;       /* the error that stopped it (0: none) */
  long peak_kib; /* highest RSS of the transport's process meanwhile */
  uint64_t ms;
} flood_res_t;

/* The attacker, in a child process: a blocking socket written as fast as
 * the kernel takes it until the connection fails or 10 MB went. Reports
 * (sent, errno) on the pipe wfd. */
static void flood_child(int port, int k, char *buf, int wfd) {
  uint64_t res[2] = {0, 0};
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  /* A fixed send buffer (the kernel doubles it): what the attacker gets
   * away with is then the transport's doing, not the send buffer's
   * autotuning (up to net.ipv4.tcp_wmem[2], 4 MiB by default). */
  int sndbuf = FLOOD_SNDBUF;
  if (fd >= 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
    res[1] = (uint64_t)errno | 0x10000; /* failed before sending */
  } else {
    size_t have = 0, at = 0;
    while (res[0] < FLOOD_TOTAL) {
      if (at == have) {
        have = flood_chunk(k, (size_t)res[0], buf);
        at = 0;
      }
      size_t want = have - at;
      if (want > FLOOD_TOTAL - res[0])
        want = (size_t)(FLOOD_TOTAL - res[0]);
      ssize_t n = send(fd, buf + at, want, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        res[1] = (uint64_t)errno;
        break;
      }
      res[0] += (uint64_t)n;
      at += (size_t)n;
    }
  }
  if (write(wfd, res, sizeof(res)) != (ssize_t)sizeof(res))
    _exit(3);
  _exit(0);
}

/* One attack of kind k; the transport's loop runs here meanwhile. */
static flood_res_t flood_one(srv_t *s, int k, char *buf) {
  flood_res_t r;
  memset(&r, 0, sizeof(r));
  int p[2];
  CHECK(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0, "pipe: %s", strerror(errno));
  uint64_t t0 = now_ms(s), end = t0 + 20000;
  pid_t pid = fork();
  CHECK(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    close(p[0]);
    flood_child(s->port, k, buf, p[1]);
  }
  close(p[1]);
  uint64_t res[2];
  size_t got = 0;
  for (;;) {
    pump(s, 2);
    long rss = rss_kib();
    if (rss > r.peak_kib)
      r.peak_kib = rss;
    ssize_t n = read(p[0], (char *)res + got, sizeof(res) - got);
    if (n > 0)
      got += (size_t)n;
    if (got == sizeof(res) || n == 0)
      break;
    if (now_ms(s) >= end) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      fail("%s: the attacker still writes after 20 s", flood_name[k]);
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  close(p[0]);
  CHECK(got == sizeof(res) && WIFEXITED(status) && WEXITSTATUS(status) == 0,
        "%s: the attacker process failed", flood_name[k]);
  CHECK(!(res[1] & 0x10000), "%s: the attacker could not connect: %s",
        flood_name[k], strerror((int)(res[1] & 0xffff)));
  r.sent = res[0];
  r.err = (int)res[1];
  r.ms = now_ms(s) - t0;
  return r;
}

static int test_flood(void) {
  sipr_tp_cfg_t cfg;
  sipr_tp_cfg_default(&cfg);
  cfg.max_stream_msg = FLOOD_CAP;
  srv_t s;
  srv_start(&s, &cfg);
  char *buf = malloc(FLOOD_CHUNK);
  CHECK(buf, "out of memory");
  memset(buf, 0x5a, FLOOD_CHUNK);

  /* Warm-up: a normal exchange, so one-time allocations come before. */
  cli_t warm;
  warm.fd = client_open(s.port);
  CHECK(warm.fd >= 0, "connect: %s", strerror(-warm.fd));
  clients_options(&s, &warm, 1, "warm");
  close(warm.fd);
  pump_until_no_conns(&s, 1, 5000);

  long rss0 = rss_kib(), peak = rss0;
  ull closed = 1;
  for (int k = 0; k < F_N; k++) {
    uint64_t max_sent = 0;
    uint64_t max_ms = 0;
    for (int round = 0; round < FLOOD_ROUNDS; round++) {
      sipr_tp_stats_t before = stats(&s);
      flood_res_t r = flood_one(&s, k, buf);
      closed++;
      pump_until_no_conns(&s, closed, 5000);
      sipr_tp_stats_t after = stats(&s);
      CHECK(r.err == ECONNRESET || r.err == EPIPE,
            "%s: the attacker was not cut: %llu bytes sent, last error %s",
            flood_name[k], (ull)r.sent, r.err ? strerror(r.err) : "none");
      /* Far below 10 MB: the cap plus what the socket buffers held. */
      CHECK(r.sent < FLOOD_BOUND,
            "%s: %llu bytes went before the connection was cut (cap %d)",
            flood_name[k], (ull)r.sent, FLOOD_CAP);
      CHECK(after.conns_killed == before.conns_killed + 1 &&
                after.rx_bad == before.rx_bad + 1,
            "%s: conns_killed %llu -> %llu, rx_bad %llu -> %llu (want +1 each)",
            flood_name[k], (ull)before.conns_killed, (ull)after.conns_killed,
            (ull)before.rx_bad, (ull)after.rx_bad);
      CHECK(after.rx_msgs == before.rx_msgs, "%s: a message was handed up",
            flood_name[k]);
      if (r.sent > max_sent)
        max_sent = r.sent;
      if (r.ms > max_ms)
        max_ms = r.ms;
      if (r.peak_kib > peak)
        peak = r.peak_kib;
    }
    printf("flood: %s: %d attacks, each cut after at most %llu bytes sent (%.1f KiB; "
           "cap %d) and %llu ms\n",
           flood_name[k], FLOOD_ROUNDS, (ull)max_sent, (double)max_sent / 1024.0, FLOOD_CAP,
           (ull)max_ms);
  }
  long rss1 = rss_kib();
  sipr_tp_stats_t st = stats(&s);
  printf("flood: RSS %ld KiB before, peak %ld KiB (+%ld), %ld KiB after (%+ld); "
         "conns_killed %llu, rx_bad %llu\n",
         rss0, peak, peak - rss0, rss1, rss1 - rss0, (ull)st.conns_killed,
         (ull)st.rx_bad);
  CHECK(st.conns_killed == F_N * FLOOD_ROUNDS && st.rx_bad == F_N * FLOOD_ROUNDS,
        "conns_killed %llu, rx_bad %llu, want %d", (ull)st.conns_killed,
        (ull)st.rx_bad, F_N * FLOOD_ROUNDS);
  CHECK(peak - rss0 < 4096, "RSS grew by %ld KiB during the attacks", peak - rss0);
  CHECK(rss1 - rss0 < 2048, "RSS grew by %ld KiB after the attacks", rss1 - rss0);

  /* The transport still serves. */
  warm.fd = client_open(s.port);
  CHECK(warm.fd >= 0, "connect: %s", strerror(-warm.fd));
  clients_options(&s, &warm, 1, "after");
  close(warm.fd);
  pump_until_no_conns(&s, closed + 1, 5000);
  free(buf);
  srv_stop(&s);
  return 0;
}

int main(int argc, char **argv) {
  static const struct {
    const char *name;
    int (*fn)(void);
  } tests[] = {{"conns", test_conns}, {"slow", test_slow}, {"flood", test_flood}};
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (size_t i = 0; argc == 2 && i < sizeof(tests) / sizeof(tests[0]); i++)
    if (strcmp(argv[1], tests[i].name) == 0) {
      static char name[64];
      snprintf(name, sizeof(name), "stress_tcp %s", tests[i].name);
      g_test = name;
      int rc = tests[i].fn();
      if (rc == 0)
        printf("%s: ok\n", g_test);
      return rc;
    }
  fprintf(stderr, "usage: stress_tcp conns|slow|flood\n");
  return 2;
}
