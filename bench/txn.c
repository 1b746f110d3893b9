/*
 * bench/txn: server CPU per transaction and throughput of an OPTIONS echo
 * server built on the event, transport and transaction layers, under the
 * bench's own load generator and under SIPp, side by side in one run
 * (docs/ARCHITECTURE.md, Benchmarks: ratios, never absolute times compared
 * across runs).
 *
 * Server: one worker (one sipr loop) in a child process, listening on UDP
 * 127.0.0.1 at a free port. Two modes:
 *   stateful   transport -> sipr_txn_layer_recv(); the TU answers every
 *              OPTIONS with 200 (sipr_print_response + sipr_txn_respond),
 *              anything else with 405. No dialog or proxy logic: what is
 *              measured is the transport + transaction path. Each request
 *              leaves a NIST in Completed for Timer J (64*T1: 32 s with the
 *              default T1), so the table grows for the whole run; its
 *              expiry falls outside the measured window unless --t1 makes
 *              J short (the window then waits for it, see measure_own()).
 *   stateless  the same response printed and sent straight from the
 *              transport's recv callback (sipr_tp_send_response), no
 *              transaction.
 * Server CPU is the sum of the first field of /proc/PID/task/ * /schedstat
 * (ns on CPU) over the child's threads, read before and after a load; per
 * transaction it is that delta over the transactions completed. Beside it:
 * the server's minor page faults and RSS growth per transaction (from
 * /proc/PID/stat and statm): the stateful table grows by ~2 KiB per
 * transaction for 32 s, and on this VM first-touch faults are a large
 * part of the stateful figure.
 *
 * Own load (this process): one connected UDP socket, requests sent in
 * batches with sendmmsg(), responses read with recvmmsg(); a window of
 * requests in flight (default 200), each with a unique branch
 * (z9hG4bK.sb<slot>.<seq>), Call-ID and CSeq; a response counts when it is
 * a 200 whose branch names a slot still waiting for that sequence number
 * and whose CSeq number is that request's. It sends for a fixed time, then
 * waits up to 1 s for the window to drain; a request unanswered for 1 s is
 * counted as failed and its slot reused. "msg/s" on the last line is
 * OPTIONS requests answered with their 200 per second (transactions per
 * second; the wire carries twice as many datagrams). The Via carries
 * ;rport like SIPp's (the transport then rewrites it and parses the
 * request a second time); --no-rport leaves it out.
 *
 * SIPp: `sipp -sf bench/options_uac.xml -m N -r RATE -l LIMIT -nostdin`
 * against a fresh server in each mode; completed count and rate from its
 * -trace_stat file (SuccessfulCall(C), FailedCall(C), start and current
 * time). A missing sipp is an error (exit 1), not a skip.
 *
 * The own-load runs are interleaved over rounds (stateful and stateless
 * alternating, order swapped each round), each with a fresh server; the
 * table gives the median of each column over the rounds. Last line:
 *   txn: own-load X msg/s at Y us/txn (stateful), Z msg/s at W us/txn
 *   (stateless); sipp: R calls/s completed P%, server Q us/txn
 * (on one line; the sipp figures are the stateful server's).
 *
 * Other modes, for profiling (perf record -p PID):
 *   txn --serve [--stateless] [--port P] [--t1 MS]   server alone; prints
 *       its port, runs until SIGTERM/SIGINT, then prints its counters
 *   txn --target PORT [--seconds S]   own load against 127.0.0.1:PORT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sipr/event.h"
#include "sipr/msg.h"
#include "sipr/print.h"
#include "sipr/transport.h"
#include "sipr/txn.h"

#ifndef SIPR_BENCH_DIR
#define SIPR_BENCH_DIR "bench"
#endif

#define MAX_ROUNDS 15
#define MAX_WINDOW 4096
#define MAX_BATCH 256
#define REQ_MAX 768
#define RESP_MAX 2048
#define SLOT_TIMEOUT_NS 1000000000ull /* unanswered this long: failed */
#define DRAIN_NS 1000000000ull        /* after the sending time */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) && errno == EINTR)
    ;
}

/* ==== server ============================================================= */

typedef struct srv_stats {
  uint64_t answered;  /* responses handed to the transaction or transport */
  uint64_t failed;    /* responses that could not be built or sent */
  uint64_t rx_msgs, tx_msgs, rx_bad, tx_errors;
  uint64_t txn_created, txn_503, txn_absorbed, txn_terminated;
  unsigned live; /* transactions in the table at the end */
} srv_stats_t;

typedef struct srv {
  sipr_loop_t *loop;
  sipr_tp_t *tp;
  sipr_txn_layer_t *txn; /* NULL: stateless */
  sipr_buf_t out;        /* the response being built, reused */
  uint64_t tag_rnd;
  srv_stats_t st;
} srv_t;

static srv_t g_srv;

static void srv_on_signal(int sig) {
  (void)sig;
  sipr_loop_stop(g_srv.loop); /* an atomic store and a write() */
}

/* A To tag per response (§8.2.6.2): xorshift64*, 16 hex digits. */
static sipr_str_t srv_tag(srv_t *s, char *buf) {
  static const char hex[] = "0123456789abcdef";
  uint64_t x = s->tag_rnd;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  s->tag_rnd = x;
  x *= 0x2545f4914f6cdd1dull;
  for (int i = 0; i < 16; i++, x >>= 4)
    buf[i] = hex[x & 15];
  return sipr_str_make(buf, 16);
}

/* 200 to OPTIONS, 405 to the rest; into s->out. */
static int srv_build(srv_t *s, sipr_msg_t *req) {
  char tag[16];
  s->out.len = 0;
  s->out.failed = 0;
  if (req->method_id == SIPR_METHOD_OPTIONS)
    return sipr_print_response(&s->out, req, 200, NULL, srv_tag(s, tag),
                               SIPR_STR_NULL);
  return sipr_print_response(&s->out, req, 405, NULL, srv_tag(s, tag),
                             SIPR_STR("Allow: OPTIONS\r\n"));
}

static void tu_request(void *user, sipr_txn_t *st, sipr_msg_t *req,
                       const sipr_tp_src_t *src) {
  srv_t *s = user;
  (void)src;
  if (srv_build(s, req) == 0 && sipr_txn_respond(st, s->out.p, s->out.len) == 0)
    s->st.answered++;
  else
    s->st.failed++;
}

static void srv_recv(void *user, sipr_tp_t *tp, sipr_msg_t *msg,
                     const sipr_tp_src_t *src) {
  srv_t *s = user;
  if (s->txn) {
    sipr_txn_layer_recv(s->txn, msg, src);
    return;
  }
  if (!msg->is_request || msg->method_id == SIPR_METHOD_ACK)
    return;
  if (srv_build(s, msg) == 0 &&
      sipr_tp_send_response(tp, src, sipr_msg_via(msg), s->out.p,
                            s->out.len) == 0)
    s->st.answered++;
  else
    s->st.failed++;
}

static int txn_send_request(void *ctx, const sipr_tp_addr_t *dest,
                            const char *buf, size_t len, uint64_t *conn_id) {
  return sipr_tp_send_request(ctx, dest, buf, len, conn_id);
}

static int txn_send_response(void *ctx, const sipr_tp_src_t *src,
                             const sipr_via_t *via, const char *buf,
                             size_t len) {
  return sipr_tp_send_response(ctx, src, via, buf, len);
}

static void srv_collect(srv_t *s) {
  sipr_tp_stats_t ts;
  sipr_tp_get_stats(s->tp, &ts);
  s->st.rx_msgs = ts.rx_msgs;
  s->st.tx_msgs = ts.tx_msgs;
  s->st.rx_bad = ts.rx_bad;
  s->st.tx_errors = ts.tx_errors;
  if (s->txn) {
    sipr_txn_stats_t xs;
    sipr_txn_get_stats(s->txn, &xs);
    s->st.txn_created = xs.created_server;
    s->st.txn_503 = xs.answered_503;
    s->st.txn_absorbed = xs.absorbed;
    s->st.txn_terminated = xs.terminated;
    s->st.live = sipr_txn_count(s->txn);
  }
}

/* Runs the server until SIGTERM/SIGINT. The bound port goes to report_fd
 * (an int) or, when report_fd < 0, to stdout; at the end the counters go
 * to report_fd (an srv_stats_t) or stderr. Returns an exit status. */
static int server_main(int stateless, int port, uint32_t t1, int report_fd) {
  static const sipr_tp_user_ops_t tp_ops = {srv_recv, NULL, NULL};
  static const sipr_txn_tp_ops_t txn_tp = {txn_send_request, txn_send_response};
  static const sipr_txn_user_ops_t tu = {tu_request, NULL, NULL, NULL,
                                         NULL,       NULL, NULL};
  srv_t *s = &g_srv;
  memset(s, 0, sizeof(*s));
  sipr_buf_init(&s->out);
  s->tag_rnd = 0x9e3779b97f4a7c15ull ^ ((uint64_t)getpid() << 20) ^ now_ns();
  if (!s->tag_rnd)
    s->tag_rnd = 1;
  char spec[64];
  sipr_tp_addr_t a;
  snprintf(spec, sizeof(spec), "udp:127.0.0.1:%d", port);
  s->loop = sipr_loop_new(NULL);
  s->tp = s->loop ? sipr_tp_new(s->loop, NULL, &tp_ops, s) : NULL;
  if (!s->tp || sipr_tp_addr_parse(spec, &a) || sipr_tp_listen(s->tp, &a)) {
    fprintf(stderr, "txn: server cannot listen on %s\n", spec);
    return 1;
  }
  if (!stateless) {
    sipr_txn_cfg_t cfg;
    sipr_txn_cfg_default(&cfg);
    cfg.t1 = t1;
    if (cfg.t2 < t1)
      cfg.t2 = t1;
    /* Timer J keeps every NIST 64*T1: at tens of thousands of requests a
     * second the default cap (100000) would be hit within seconds and the
     * rest answered 503. */
    cfg.max_txns = 8u << 20;
    cfg.buckets = 65536;
    s->txn = sipr_txn_layer_new(s->loop, &cfg, &txn_tp, s->tp, &tu, s);
    if (!s->txn) {
      fprintf(stderr, "txn: cannot create the transaction layer\n");
      return 1;
    }
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = srv_on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  int bound = sipr_tp_addr_port(sipr_tp_local(s->tp, 0));
  if (report_fd >= 0) {
    if (write(report_fd, &bound, sizeof(bound)) != (ssize_t)sizeof(bound))
      return 1;
  } else {
    printf("%d\n", bound);
    fflush(stdout);
  }
  sipr_loop_run(s->loop);
  srv_collect(s);
  if (report_fd >= 0) {
    if (write(report_fd, &s->st, sizeof(s->st)) != (ssize_t)sizeof(s->st))
      return 1;
  } else {
    fprintf(stderr,
            "answered=%llu failed=%llu rx_msgs=%llu tx_msgs=%llu rx_bad=%llu "
            "tx_errors=%llu txn_created=%llu txn_503=%llu absorbed=%llu "
            "terminated=%llu live=%u\n",
            (unsigned long long)s->st.answered, (unsigned long long)s->st.failed,
            (unsigned long long)s->st.rx_msgs, (unsigned long long)s->st.tx_msgs,
            (unsigned long long)s->st.rx_bad, (unsigned long long)s->st.tx_errors,
            (unsigned long long)s->st.txn_created,
            (unsigned long long)s->st.txn_503,
            (unsigned long long)s->st.txn_absorbed,
            (unsigned long long)s->st.txn_terminated, s->st.live);
  }
  /* The table and the loop are left to exit(): freeing a few hundred
   * thousand transactions would only slow the run down. */
  return 0;
}

/* A server in a child process. */
typedef struct child {
  pid_t pid;
  int fd; /* read end of the report pipe */
  int port;
  int stateless;
} child_t;

static int child_start(child_t *c, int stateless, uint32_t t1) {
  int p[2];
  memset(c, 0, sizeof(*c));
  c->pid = -1;
  c->fd = -1;
  c->stateless = stateless;
  if (pipe2(p, O_CLOEXEC))
    return -1;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    return -1;
  }
  if (pid == 0) {
    close(p[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the bench */
    _exit(server_main(stateless, 0, t1, p[1]));
  }
  close(p[1]);
  c->pid = pid;
  c->fd = p[0];
  struct pollfd pf = {c->fd, POLLIN, 0};
  if (poll(&pf, 1, 5000) == 1 &&
      read(c->fd, &c->port, sizeof(c->port)) == (ssize_t)sizeof(c->port))
    return 0;
  fprintf(stderr, "txn: the %s server did not start\n",
          stateless ? "stateless" : "stateful");
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  close(c->fd);
  c->pid = -1;
  return -1;
}

/* Stops the server; its counters into *st. Returns 0, or -1 when it did
 * not report (crashed, or hung and was killed). */
static int child_stop(child_t *c, srv_stats_t *st) {
  int rc = -1;
  memset(st, 0, sizeof(*st));
  if (c->pid <= 0)
    return -1;
  kill(c->pid, SIGTERM);
  struct pollfd pf = {c->fd, POLLIN, 0};
  if (poll(&pf, 1, 10000) == 1 &&
      read(c->fd, st, sizeof(*st)) == (ssize_t)sizeof(*st))
    rc = 0;
  else
    kill(c->pid, SIGKILL);
  int status = 0;
  waitpid(c->pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    rc = -1;
  close(c->fd);
  c->pid = -1;
  return rc;
}

/* ns the process has run on a CPU: the sum over its threads of the first
 * field of /proc/PID/task/TID/schedstat; when schedstat is missing,
 * utime + stime from /proc/PID/stat (clock-tick resolution). -1 when the
 * process is gone. */
static int64_t proc_cpu_ns(pid_t pid) {
  char path[96];
  snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
  DIR *d = opendir(path);
  int64_t sum = 0;
  int found = 0;
  if (d) {
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.')
        continue;
      char p2[160];
      snprintf(p2, sizeof(p2), "/proc/%d/task/%.20s/schedstat", (int)pid,
               e->d_name);
      FILE *f = fopen(p2, "r");
      unsigned long long ns;
      if (f && fscanf(f, "%llu", &ns) == 1) {
        sum += (int64_t)ns;
        found = 1;
      }
      if (f)
        fclose(f);
    }
    closedir(d);
  }
  if (found)
    return sum;
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  char buf[1024];
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')'); /* the command name may hold spaces */
  unsigned long long ut, stime;
  if (!p || sscanf(p + 2,
                   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                   &ut, &stime) != 2)
    return -1;
  return (int64_t)((ut + stime) * (1000000000ull / (unsigned long long)sysconf(_SC_CLK_TCK)));
}

/* Minor page faults of the process (all threads), -1 when gone. The
 * stateful server's table grows for the whole run (Timer J): first-touch
 * faults of that memory are a large share of its CPU. */
static int64_t proc_minflt(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  unsigned long long flt;
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %llu", &flt) != 1)
    return -1;
  return (int64_t)flt;
}

/* Resident bytes of the process, -1 when gone. */
static int64_t proc_rss(pid_t pid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
  FILE *f = fopen(path, "r");
  unsigned long long size, res;
  int ok = f && fscanf(f, "%llu %llu", &size, &res) == 2;
  if (f)
    fclose(f);
  return ok ? (int64_t)(res * (unsigned long long)sysconf(_SC_PAGESIZE)) : -1;
}

/* ==== own load =========================================================== */

typedef struct load_cfg {
  int port;          /* server port on 127.0.0.1 */
  double seconds;    /* sending time */
  unsigned window;   /* requests in flight */
  unsigned batch;    /* datagrams per sendmmsg/recvmmsg */
  int rport;         /* ;rport in the Via (as SIPp's scenario has it) */
} load_cfg_t;

typedef struct load_res {
  uint64_t sent, completed, failed, bad, unmatched;
  double secs;       /* first send to last response */
  double lat_us;     /* mean latency of completed requests */
  double client_us;  /* this process's CPU (user+sys) over the run */
} load_res_t;

typedef struct slot {
  uint64_t seq; /* 0: free */
  uint64_t t_ns;
} slot_t;

/* The request: the same header set as bench/options_uac.xml. */
static int build_request(char *buf, size_t cap, int lport, int rport,
                         int want_rport, unsigned slot, uint64_t seq) {
  static int pid;
  if (!pid)
    pid = (int)getpid();
  return snprintf(buf, cap,
                  "OPTIONS sip:bench@127.0.0.1:%d SIP/2.0\r\n"
                  "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK.sb%04x.%llx%s\r\n"
                  "Max-Forwards: 70\r\n"
                  "From: <sip:load@127.0.0.1:%d>;tag=%dx%llu\r\n"
                  "To: <sip:bench@127.0.0.1:%d>\r\n"
                  "Call-ID: %llu-%d@127.0.0.1\r\n"
                  "CSeq: %u OPTIONS\r\n"
                  "Contact: <sip:load@127.0.0.1:%d>\r\n"
                  "Content-Length: 0\r\n"
                  "\r\n",
                  rport, lport, slot, (unsigned long long)seq,
                  want_rport ? ";rport" : "", lport, pid,
                  (unsigned long long)seq, rport, (unsigned long long)seq, pid,
                  (unsigned)(seq & 0x7fffffff), lport);
}

static int hexdig(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* From a response: status, our slot and sequence number from the branch,
 * the CSeq number. 0, or -1 when something is missing. */
static int parse_response(const char *p, size_t len, unsigned *status,
                          unsigned *slot, uint64_t *seq, uint32_t *cseq) {
  static const char br[] = "branch=z9hG4bK.sb";
  static const char cs[] = "\r\nCSeq:";
  if (len < 12 || memcmp(p, "SIP/2.0 ", 8))
    return -1;
  *status = (unsigned)((p[8] - '0') * 100 + (p[9] - '0') * 10 + (p[10] - '0'));
  const char *e = p + len;
  const char *b = memmem(p, len, br, sizeof(br) - 1);
  if (!b)
    return -1;
  b += sizeof(br) - 1;
  unsigned s = 0;
  for (int i = 0; i < 4; i++, b++) {
    int d = b < e ? hexdig(*b) : -1;
    if (d < 0)
      return -1;
    s = s << 4 | (unsigned)d;
  }
  if (b >= e || *b++ != '.')
    return -1;
  uint64_t q = 0;
  int nd = 0;
  for (int d; b < e && (d = hexdig(*b)) >= 0; b++, nd++)
    q = q << 4 | (uint64_t)d;
  if (!nd)
    return -1;
  const char *c = memmem(p, len, cs, sizeof(cs) - 1);
  if (!c)
    return -1;
  c += sizeof(cs) - 1;
  while (c < e && (*c == ' ' || *c == '\t'))
    c++;
  uint32_t n = 0;
  if (c >= e || *c < '0' || *c > '9')
    return -1;
  for (; c < e && *c >= '0' && *c <= '9'; c++)
    n = n * 10 + (uint32_t)(*c - '0');
  *slot = s;
  *seq = q;
  *cseq = n;
  return 0;
}

static double cpu_self_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec +
         (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
}

static int run_load(const load_cfg_t *cfg, load_res_t *res) {
  static slot_t slots[MAX_WINDOW];
  static unsigned freelist[MAX_WINDOW];
  static char reqbuf[MAX_BATCH][REQ_MAX];
  static char respbuf[MAX_BATCH][RESP_MAX];
  static struct mmsghdr smsg[MAX_BATCH], rmsg[MAX_BATCH];
  static struct iovec siov[MAX_BATCH], riov[MAX_BATCH];
  static unsigned batch_slot[MAX_BATCH];
  memset(res, 0, sizeof(*res));
  unsigned window = cfg->window, batch = cfg->batch;

  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  int big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
  struct sockaddr_in me, srv;
  memset(&me, 0, sizeof(me));
  me.sin_family = AF_INET;
  me.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  srv = me;
  srv.sin_port = htons((uint16_t)cfg->port);
  socklen_t ml = sizeof(me);
  if (bind(fd, (struct sockaddr *)&me, sizeof(me)) ||
      getsockname(fd, (struct sockaddr *)&me, &ml) ||
      connect(fd, (struct sockaddr *)&srv, sizeof(srv))) {
    close(fd);
    return -1;
  }
  int lport = ntohs(me.sin_port);

  unsigned nfree = window, inflight = 0;
  for (unsigned i = 0; i < window; i++) {
    slots[i].seq = 0;
    freelist[i] = window - 1 - i;
  }
  for (unsigned i = 0; i < batch; i++) {
    riov[i].iov_base = respbuf[i];
    riov[i].iov_len = RESP_MAX;
  }
  uint64_t seq = 0, lat_sum = 0;
  double cpu0 = cpu_self_us();
  uint64_t t0 = now_ns(), t_end = t0 + (uint64_t)(cfg->seconds * 1e9);
  uint64_t t_last = t0, t_expire = t0;

  for (;;) {
    uint64_t now = now_ns();
    int sending = now < t_end;
    if (!sending && (inflight == 0 || now >= t_end + DRAIN_NS))
      break;
    /* Fill the window. */
    while (sending && nfree) {
      unsigned n = nfree < batch ? nfree : batch;
      for (unsigned i = 0; i < n; i++) {
        unsigned s = freelist[--nfree];
        slots[s].seq = ++seq;
        slots[s].t_ns = now;
        batch_slot[i] = s;
        int len = build_request(reqbuf[i], REQ_MAX, lport, cfg->port, cfg->rport, s,
                                seq);
        siov[i].iov_base = reqbuf[i];
        siov[i].iov_len = (size_t)len;
        memset(&smsg[i], 0, sizeof(smsg[i]));
        smsg[i].msg_hdr.msg_iov = &siov[i];
        smsg[i].msg_hdr.msg_iovlen = 1;
      }
      int k = sendmmsg(fd, smsg, n, MSG_DONTWAIT);
      if (k < 0)
        k = 0;
      for (unsigned i = (unsigned)k; i < n; i++) { /* not sent: free again */
        slots[batch_slot[i]].seq = 0;
        freelist[nfree++] = batch_slot[i];
      }
      res->sent += (unsigned)k;
      inflight += (unsigned)k;
      if ((unsigned)k < n)
        break; /* socket buffer full: wait for responses */
    }
    /* Wait for responses (no spinning: the server needs the other core). */
    struct pollfd pf = {fd, POLLIN, 0};
    if (poll(&pf, 1, 10) <= 0)
      goto expire;
    for (;;) {
      for (unsigned i = 0; i < batch; i++) {
        memset(&rmsg[i], 0, sizeof(rmsg[i]));
        rmsg[i].msg_hdr.msg_iov = &riov[i];
        rmsg[i].msg_hdr.msg_iovlen = 1;
      }
      int n = recvmmsg(fd, rmsg, batch, MSG_DONTWAIT, NULL);
      if (n <= 0)
        break;
      uint64_t tr = now_ns();
      for (int i = 0; i < n; i++) {
        unsigned status, s;
        uint64_t q;
        uint32_t cseq;
        if (parse_response(respbuf[i], rmsg[i].msg_len, &status, &s, &q,
                           &cseq) ||
            s >= window || slots[s].seq != q || q == 0 ||
            cseq != (uint32_t)(q & 0x7fffffff)) {
          res->unmatched++;
          continue;
        }
        if (status < 200)
          continue; /* provisional: wait for the final */
        if (status == 200) {
          res->completed++;
          lat_sum += tr - slots[s].t_ns;
          t_last = tr;
        } else {
          res->bad++;
        }
        slots[s].seq = 0;
        freelist[nfree++] = s;
        inflight--;
      }
      if ((unsigned)n < batch)
        break;
    }
  expire:
    now = now_ns();
    if (now - t_expire >= 50000000ull) {
      t_expire = now;
      for (unsigned s = 0; s < window; s++)
        if (slots[s].seq && now - slots[s].t_ns >= SLOT_TIMEOUT_NS) {
          slots[s].seq = 0;
          freelist[nfree++] = s;
          inflight--;
          res->failed++;
        }
    }
  }
  res->failed += inflight; /* still unanswered after the drain */
  res->client_us = cpu_self_us() - cpu0;
  res->secs = (double)(t_last - t0) / 1e9;
  res->lat_us = res->completed ? (double)lat_sum / (double)res->completed / 1e3 : 0;
  close(fd);
  return 0;
}

/* ==== SIPp =============================================================== */

typedef struct sipp_res {
  uint64_t created, ok, failed;
  double secs; /* SIPp's start to its last statistics */
  int rc;      /* SIPp's exit status */
} sipp_res_t;

static char *find_in_path(const char *cmd) {
  static char found[4096];
  if (strchr(cmd, '/'))
    return access(cmd, X_OK) == 0 ? strcpy(found, cmd) : NULL;
  const char *path = getenv("PATH");
  if (!path)
    path = "/usr/local/bin:/usr/bin:/bin";
  while (*path) {
    const char *c = strchr(path, ':');
    size_t n = c ? (size_t)(c - path) : strlen(path);
    if (n && n + strlen(cmd) + 2 < sizeof(found)) {
      memcpy(found, path, n);
      found[n] = '/';
      strcpy(found + n + 1, cmd);
      struct stat sb;
      if (stat(found, &sb) == 0 && S_ISREG(sb.st_mode) && access(found, X_OK) == 0)
        return found;
    }
    path += n + (c ? 1 : 0);
  }
  return NULL;
}

static int free_udp_port(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t l = sizeof(a);
  int port = -1;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &l) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0)
    close(fd);
  return port;
}

/* "date\ttime\tEPOCH.USEC" -> EPOCH.USEC */
static double stat_time(const char *field) {
  const char *t = strrchr(field, '\t');
  return strtod(t ? t + 1 : field, NULL);
}

/* Splits a ';'-separated line in place; returns the number of fields. */
static int split_fields(char *line, char **f, int max) {
  int n = 0;
  while (line && n < max) {
    f[n++] = line;
    char *c = strchr(line, ';');
    if (c)
      *c++ = '\0';
    line = c;
  }
  return n;
}

/* Reads SIPp's -trace_stat file: the last line's cumulative counters. */
static int read_sipp_stats(const char *file, sipp_res_t *r) {
  FILE *f = fopen(file, "r");
  if (!f)
    return -1;
  static char head[8192], line[8192], last[8192];
  char *hf[128], *lf[128];
  int ok = fgets(head, sizeof(head), f) != NULL;
  last[0] = '\0';
  while (ok && fgets(line, sizeof(line), f))
    if (strchr(line, ';'))
      strcpy(last, line);
  fclose(f);
  if (!ok || !last[0])
    return -1;
  int nh = split_fields(head, hf, 128), nl = split_fields(last, lf, 128);
  int i_start = -1, i_cur = -1, i_tot = -1, i_ok = -1, i_fail = -1;
  for (int i = 0; i < nh && i < nl; i++) {
    if (!strcmp(hf[i], "StartTime"))
      i_start = i;
    else if (!strcmp(hf[i], "CurrentTime"))
      i_cur = i;
    else if (!strcmp(hf[i], "TotalCallCreated"))
      i_tot = i;
    else if (!strcmp(hf[i], "SuccessfulCall(C)"))
      i_ok = i;
    else if (!strcmp(hf[i], "FailedCall(C)"))
      i_fail = i;
  }
  if (i_start < 0 || i_cur < 0 || i_tot < 0 || i_ok < 0 || i_fail < 0)
    return -1;
  r->created = strtoull(lf[i_tot], NULL, 10);
  r->ok = strtoull(lf[i_ok], NULL, 10);
  r->failed = strtoull(lf[i_fail], NULL, 10);
  r->secs = stat_time(lf[i_cur]) - stat_time(lf[i_start]);
  return 0;
}

static void remove_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    char p[4200];
    while ((e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
        continue;
      snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
      unlink(p);
    }
    closedir(d);
  }
  rmdir(dir);
}

/* Runs SIPp against the server on port; returns 0 with *r, or -1. */
static int run_sipp(const char *sipp, int port, unsigned rate, unsigned calls,
                    unsigned limit, sipp_res_t *r) {
  memset(r, 0, sizeof(*r));
  char dir[] = "/tmp/sipr-bench-txn.XXXXXX";
  if (!mkdtemp(dir))
    return -1;
  char target[64], scen[4096], stf[256], out[256], sm[32], sr[32], sl[32],
      sp[32], tmo[32];
  snprintf(target, sizeof(target), "127.0.0.1:%d", port);
  snprintf(scen, sizeof(scen), "%s/options_uac.xml", SIPR_BENCH_DIR);
  snprintf(stf, sizeof(stf), "%s/stat.csv", dir);
  snprintf(out, sizeof(out), "%s/sipp.out", dir);
  snprintf(sm, sizeof(sm), "%u", calls);
  snprintf(sr, sizeof(sr), "%u", rate);
  snprintf(sl, sizeof(sl), "%u", limit);
  snprintf(sp, sizeof(sp), "%d", free_udp_port());
  unsigned limit_s = calls / (rate ? rate : 1) + 30;
  snprintf(tmo, sizeof(tmo), "%us", limit_s);
  char *argv[] = {(char *)sipp, target, "-sf", scen, "-i", "127.0.0.1",
                  "-p", sp, "-m", sm, "-r", sr, "-l", sl, "-nostdin",
                  "-timeout", tmo, "-trace_stat", "-stf", stf, NULL};
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    remove_dir(dir);
    return -1;
  }
  if (pid == 0) {
    int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int in = open("/dev/null", O_RDONLY);
    if (o < 0 || in < 0 || chdir(dir))
      _exit(126);
    dup2(in, 0);
    dup2(o, 1);
    dup2(o, 2);
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* kept across execv() */
    execv(sipp, argv);
    _exit(127);
  }
  uint64_t deadline = now_ns() + (uint64_t)(limit_s + 10) * 1000000000ull;
  int status = 0;
  for (;;) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid)
      break;
    if (w < 0 && errno != EINTR)
      break;
    if (now_ns() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      fprintf(stderr, "txn: sipp did not finish in %u s, killed\n", limit_s + 10);
      break;
    }
    sleep_ms(10);
  }
  r->rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  int rc = read_sipp_stats(stf, r);
  if (rc || r->rc == 99 || r->rc < 0 || r->rc > 1) {
    fprintf(stderr, "txn: sipp failed (exit %d); its output:\n", r->rc);
    FILE *f = fopen(out, "r");
    char line[512];
    int n = 0;
    while (f && fgets(line, sizeof(line), f) && n++ < 40)
      fputs(line, stderr);
    if (f)
      fclose(f);
    rc = -1;
  }
  remove_dir(dir);
  return rc;
}

/* ==== driver ============================================================= */

typedef struct opts {
  double seconds;
  unsigned rounds, window, batch;
  uint32_t t1;
  int rport;
  unsigned sipp_rate, sipp_limit;
  double sipp_seconds;
  const char *sipp;
} opts_t;

/* One measured run (own load or SIPp). */
typedef struct row {
  double rate;      /* completed transactions (calls) per second */
  double share;     /* completed / sent, % */
  double us_txn;    /* server CPU per completed transaction */
  double flt_txn;   /* server minor page faults per completed transaction */
  double kib_txn;   /* server RSS growth per completed transaction */
  double client_us; /* own load: its CPU per transaction */
  double lat_us;    /* own load: mean latency */
  uint64_t sent, completed;
} row_t;

static const char *mode_name(int stateless) {
  return stateless ? "stateless" : "stateful";
}

static int check_srv(const srv_stats_t *st, int stateless) {
  if (st->failed || st->tx_errors || st->txn_503 || st->rx_bad) {
    fprintf(stderr,
            "txn: %s server: %llu responses failed, %llu send errors, %llu "
            "503 (table full), %llu bad messages\n",
            mode_name(stateless), (unsigned long long)st->failed,
            (unsigned long long)st->tx_errors, (unsigned long long)st->txn_503,
            (unsigned long long)st->rx_bad);
    return -1;
  }
  return 0;
}

/* Server readings around a load. */
typedef struct probe {
  int64_t cpu, flt, rss;
} probe_t;

static int probe(pid_t pid, probe_t *p) {
  p->cpu = proc_cpu_ns(pid);
  p->flt = proc_minflt(pid);
  p->rss = proc_rss(pid);
  return p->cpu < 0 || p->flt < 0 || p->rss < 0 ? -1 : 0;
}

static void row_server(row_t *row, const probe_t *a, const probe_t *b) {
  double n = (double)row->completed;
  if (!row->completed)
    return;
  row->us_txn = (double)(b->cpu - a->cpu) / 1e3 / n;
  row->flt_txn = (double)(b->flt - a->flt) / n;
  row->kib_txn = (double)(b->rss - a->rss) / 1024.0 / n;
}

/* One own-load run against a fresh server. */
static int measure_own(const opts_t *o, int stateless, row_t *row) {
  child_t c;
  if (child_start(&c, stateless, o->t1))
    return -1;
  load_cfg_t lc = {c.port, o->seconds, o->window, o->batch, o->rport};
  load_res_t lr;
  probe_t p0, p1;
  int prc = probe(c.pid, &p0);
  int rc = run_load(&lc, &lr);
  /* With a short T1, Timer J ends every transaction soon after the load:
   * wait for it so the termination is in the measured CPU too. With the
   * default T1 (J = 32 s) it is left out. */
  if (rc == 0 && !stateless && 64ull * o->t1 <= 5000)
    sleep_ms(64 * o->t1 + 100);
  prc |= probe(c.pid, &p1);
  srv_stats_t st;
  int src = child_stop(&c, &st);
  if (rc || src || prc) {
    fprintf(stderr, "txn: %s run failed\n", mode_name(stateless));
    return -1;
  }
  memset(row, 0, sizeof(*row));
  row->sent = lr.sent;
  row->completed = lr.completed;
  row->rate = lr.secs > 0 ? (double)lr.completed / lr.secs : 0;
  row->share = lr.sent ? 100.0 * (double)lr.completed / (double)lr.sent : 0;
  row_server(row, &p0, &p1);
  row->lat_us = lr.lat_us;
  row->client_us = lr.completed ? lr.client_us / (double)lr.completed : 0;
  printf("  own  %-9s sent %7llu completed %6.2f%% %7.0f txn/s  server "
         "%6.2f us/txn %5.2f faults/txn %5.2f KiB/txn  client %5.2f us/txn  "
         "latency %5.0f us  [server: answered %llu, live txns %u]\n",
         mode_name(stateless), (unsigned long long)lr.sent, row->share,
         row->rate, row->us_txn, row->flt_txn, row->kib_txn, row->client_us,
         row->lat_us, (unsigned long long)st.answered, st.live);
  /* A response that names no waiting request came after its request was
   * given up (1 s): reported, not fatal. A final response other than 200
   * means the server misbehaved (e.g. 503 from a full table): fatal. */
  if (lr.unmatched || lr.bad || lr.failed)
    fprintf(stderr,
            "txn: %s: %llu requests unanswered, %llu late or unmatched and "
            "%llu non-200 responses\n",
            mode_name(stateless), (unsigned long long)lr.failed,
            (unsigned long long)lr.unmatched, (unsigned long long)lr.bad);
  if (check_srv(&st, stateless) || lr.bad || !lr.completed)
    return -1;
  return 0;
}

/* One SIPp run against a fresh server. */
static int measure_sipp(const opts_t *o, int stateless, row_t *row) {
  child_t c;
  if (child_start(&c, stateless, o->t1))
    return -1;
  unsigned calls = (unsigned)(o->sipp_rate * o->sipp_seconds + 0.5);
  sipp_res_t r;
  probe_t p0, p1;
  int prc = probe(c.pid, &p0);
  int rc = run_sipp(o->sipp, c.port, o->sipp_rate, calls, o->sipp_limit, &r);
  prc |= probe(c.pid, &p1);
  srv_stats_t st;
  int src = child_stop(&c, &st);
  if (rc || src || prc) {
    fprintf(stderr, "txn: sipp against the %s server failed\n",
            mode_name(stateless));
    return -1;
  }
  memset(row, 0, sizeof(*row));
  row->sent = r.created;
  row->completed = r.ok;
  row->rate = r.secs > 0 ? (double)r.ok / r.secs : 0;
  row->share = r.created ? 100.0 * (double)r.ok / (double)r.created : 0;
  row_server(row, &p0, &p1);
  printf("  sipp %-9s calls %7llu completed %6.2f%% %7.0f calls/s server "
         "%6.2f us/txn %5.2f faults/txn %5.2f KiB/txn  [sipp exit %d, %llu "
         "failed; server: answered %llu, retransmissions absorbed %llu]\n",
         mode_name(stateless), (unsigned long long)r.created, row->share,
         row->rate, row->us_txn, row->flt_txn, row->kib_txn, r.rc,
         (unsigned long long)r.failed, (unsigned long long)st.answered,
         (unsigned long long)st.txn_absorbed);
  if (check_srv(&st, stateless) || !r.ok)
    return -1;
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, unsigned n) {
  qsort(v, n, sizeof(*v), cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The median of each column of rows[0..n) (each independently). */
static row_t row_median(const row_t *rows, unsigned n) {
  double v[7][MAX_ROUNDS];
  row_t m;
  memset(&m, 0, sizeof(m));
  for (unsigned i = 0; i < n; i++) {
    v[0][i] = rows[i].rate;
    v[1][i] = rows[i].share;
    v[2][i] = rows[i].us_txn;
    v[3][i] = rows[i].flt_txn;
    v[4][i] = rows[i].kib_txn;
    v[5][i] = rows[i].client_us;
    v[6][i] = rows[i].lat_us;
    m.sent += rows[i].sent;
    m.completed += rows[i].completed;
  }
  m.rate = median(v[0], n);
  m.share = median(v[1], n);
  m.us_txn = median(v[2], n);
  m.flt_txn = median(v[3], n);
  m.kib_txn = median(v[4], n);
  m.client_us = median(v[5], n);
  m.lat_us = median(v[6], n);
  return m;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: txn [--seconds S] [--rounds N] [--window W] [--batch B]\n"
          "           [--t1 MS] [--no-rport] [--sipp PATH] [--sipp-rate R]\n"
          "           [--sipp-seconds S] [--sipp-limit L]\n"
          "       txn --serve [--stateless] [--port P] [--t1 MS]\n"
          "       txn --target PORT [--seconds S] [--window W] [--batch B] "
          "[--no-rport]\n");
}

static int arg_num(int argc, char **argv, int *i, double lo, double hi,
                   double *out) {
  if (*i + 1 >= argc)
    return -1;
  char *end;
  double v = strtod(argv[++*i], &end);
  if (*end || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  opts_t o = {3.0, 3, 200, 64, 500, 1, 5000, 1000, 3.0, "sipp"};
  int serve = 0, stateless = 0, port = 0, target = 0;
  for (int i = 1; i < argc; i++) {
    double v = 0;
    const char *a = argv[i];
    int bad = 0;
    if (!strcmp(a, "--serve"))
      serve = 1;
    else if (!strcmp(a, "--stateless"))
      stateless = 1;
    else if (!strcmp(a, "--no-rport"))
      o.rport = 0;
    else if (!strcmp(a, "--port"))
      bad = arg_num(argc, argv, &i, 0, 65535, &v), port = (int)v;
    else if (!strcmp(a, "--target"))
      bad = arg_num(argc, argv, &i, 1, 65535, &v), target = (int)v;
    else if (!strcmp(a, "--seconds"))
      bad = arg_num(argc, argv, &i, 0.1, 3600, &o.seconds);
    else if (!strcmp(a, "--rounds"))
      bad = arg_num(argc, argv, &i, 1, MAX_ROUNDS, &v), o.rounds = (unsigned)v;
    else if (!strcmp(a, "--window"))
      bad = arg_num(argc, argv, &i, 1, MAX_WINDOW, &v), o.window = (unsigned)v;
    else if (!strcmp(a, "--batch"))
      bad = arg_num(argc, argv, &i, 1, MAX_BATCH, &v), o.batch = (unsigned)v;
    else if (!strcmp(a, "--t1"))
      bad = arg_num(argc, argv, &i, 1, 60000, &v), o.t1 = (uint32_t)v;
    else if (!strcmp(a, "--sipp-rate"))
      bad = arg_num(argc, argv, &i, 1, 1e6, &v), o.sipp_rate = (unsigned)v;
    else if (!strcmp(a, "--sipp-seconds"))
      bad = arg_num(argc, argv, &i, 0.1, 3600, &o.sipp_seconds);
    else if (!strcmp(a, "--sipp-limit"))
      bad = arg_num(argc, argv, &i, 1, 1e6, &v), o.sipp_limit = (unsigned)v;
    else if (!strcmp(a, "--sipp") && i + 1 < argc)
      o.sipp = argv[++i];
    else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else
      bad = 1;
    if (bad) {
      usage(stderr);
      return 2;
    }
  }
  if (serve)
    return server_main(stateless, port, o.t1, -1);
  signal(SIGPIPE, SIG_IGN);
  if (target) {
    load_cfg_t lc = {target, o.seconds, o.window, o.batch, o.rport};
    load_res_t lr;
    if (run_load(&lc, &lr))
      return 1;
    printf("sent %llu completed %llu failed %llu bad %llu unmatched %llu: "
           "%.0f txn/s, latency %.0f us, client %.2f us/txn\n",
           (unsigned long long)lr.sent, (unsigned long long)lr.completed,
           (unsigned long long)lr.failed, (unsigned long long)lr.bad,
           (unsigned long long)lr.unmatched,
           lr.secs > 0 ? (double)lr.completed / lr.secs : 0, lr.lat_us,
           lr.completed ? lr.client_us / (double)lr.completed : 0);
    return lr.completed ? 0 : 1;
  }

  const char *sipp = find_in_path(o.sipp);
  if (!sipp) {
    fprintf(stderr,
            "txn: SIPp not found ('%s' is not an executable in PATH): the "
            "benchmark runs SIPp against the server side by side with its own "
            "load. Install it (Debian package sip-tester; scripts/deps.sh) or "
            "name it with --sipp PATH.\n",
            o.sipp);
    return 1;
  }
  char sipp_path[4096];
  snprintf(sipp_path, sizeof(sipp_path), "%s", sipp);
  o.sipp = sipp_path;

  printf("txn: OPTIONS echo server on udp:127.0.0.1, one worker in its own "
         "process; T1 %u ms (Timer J %s the CPU window)\n",
         o.t1, 64ull * o.t1 <= 5000 ? "inside" : "outside");
  printf("     own load: window %u, batch %u, %s, %.1f s x %u rounds "
         "(median); SIPp: %u calls/s for %.1f s, limit %u\n",
         o.window, o.batch, o.rport ? "rport" : "no rport", o.seconds,
         o.rounds, o.sipp_rate, o.sipp_seconds, o.sipp_limit);
  row_t rows[2][MAX_ROUNDS];
  for (unsigned r = 0; r < o.rounds; r++) {
    for (int k = 0; k < 2; k++) {
      int sl = (r % 2) ? !k : k; /* ABBA: neither mode always goes first */
      if (measure_own(&o, sl, &rows[sl][r]))
        return 1;
    }
  }
  row_t sp[2];
  for (int sl = 0; sl < 2; sl++)
    if (measure_sipp(&o, sl, &sp[sl]))
      return 1;

  row_t own[2] = {row_median(rows[0], o.rounds), row_median(rows[1], o.rounds)};
  printf("\n%-5s %-10s %9s %10s %14s %11s %8s %13s %11s\n", "load", "server",
         "txn/s", "completed", "server us/txn", "faults/txn", "KiB/txn",
         "client us/txn", "latency us");
  for (int sl = 0; sl < 2; sl++)
    printf("%-5s %-10s %9.0f %9.2f%% %14.2f %11.2f %8.2f %13.2f %11.0f\n",
           "own", mode_name(sl), own[sl].rate, own[sl].share, own[sl].us_txn,
           own[sl].flt_txn, own[sl].kib_txn, own[sl].client_us,
           own[sl].lat_us);
  for (int sl = 0; sl < 2; sl++)
    printf("%-5s %-10s %9.0f %9.2f%% %14.2f %11.2f %8.2f %13s %11s\n", "sipp",
           mode_name(sl), sp[sl].rate, sp[sl].share, sp[sl].us_txn,
           sp[sl].flt_txn, sp[sl].kib_txn, "-", "-");
  printf("stateful / stateless server CPU per transaction: own load %.2fx, "
         "sipp %.2fx; server CPU per transaction at SIPp's rate / at the own "
         "load's (stateful) %.2fx\n",
         own[1].us_txn > 0 ? own[0].us_txn / own[1].us_txn : 0,
         sp[1].us_txn > 0 ? sp[0].us_txn / sp[1].us_txn : 0,
         own[0].us_txn > 0 ? sp[0].us_txn / own[0].us_txn : 0);
  printf("txn: own-load %.0f msg/s at %.2f us/txn (stateful), %.0f msg/s at "
         "%.2f us/txn (stateless); sipp: %.0f calls/s completed %.2f%%, "
         "server %.2f us/txn\n",
         own[0].rate, own[0].us_txn, own[1].rate, own[1].us_txn, sp[0].rate,
         sp[0].share, sp[0].us_txn);
  return 0;
}
