/*
 * txn_peer: the transaction layer on real sockets, for interop runs against
 * SIPp (tests/interop/txn_*.sh). Built on event + transport + txn only.
 *
 *   txn_peer --free-port
 *       prints a port free on 127.0.0.1 for both UDP and TCP, and exits.
 *   txn_peer --listen udp:127.0.0.1:0 [--listen tcp:...] [--t1 MS] MODE
 *       prints "PORT n" (the first listener's bound port) first, then one
 *       line per event, each with a time in ms since start:
 *         TX <ms> <first line>        every message we send (tp ops wrapped)
 *         WIRE <ms> <proto:ip:port> <first line>
 *                                     every message the transport hands up
 *                                     (and where it came from)
 *         RX <ms> <status>            a response given to the UAC's TU
 *         STRAY <ms> <status>         a response matching no transaction
 *         TIMEOUT / TPERROR / TERMINATED <ms> <ict|nict|ist|nist>
 *                                     the TU callbacks of those names
 *         TU <ms> <method>            a request given to the UAS's TU
 *         ACK2XX <ms>                 an ACK outside any transaction
 *         CLOSED <ms> <conn id>       a connection went away
 *       and at the end "RESULT ..." (UAC) and "SUMMARY name=value ..."
 *       (the TU's counts and the layers' counters).
 *
 *   MODE --uac METHOD --to udp:HOST:PORT --expect timeout|tperror|STATUS [--run MS]
 *       sends one request through sipr_txn_client_new() and exits when the
 *       client transaction terminates: 0 when the outcome was the expected
 *       one (a timeout, or that final status), 1 otherwise, 2 when it did
 *       not terminate within --run (default: twice what the timers allow).
 *       --linger MS: stay up (connections open) that long after it ends.
 *   MODE --uas [--delay MS] [--status CODE] [--ring MS] [--run MS]
 *       answers every new server transaction: an INVITE first with 180
 *       after --ring ms (default 0: at once; -1: never), then with the
 *       final --status (default 486 for INVITE, 200 otherwise) after
 *       --delay ms (default 0: from the request callback). Runs for --run
 *       ms (default: until SIGTERM/SIGINT), then prints
 *       "SUMMARY tu_requests=N ..." and exits 0.
 *
 * Timers: --t1 scales every timer by the RFC's ratios: T2 = 8*T1, T4 =
 * 10*T1, Timer D = 64*T1 (32 s for the default 500 ms).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sipr/event.h"
#include "sipr/print.h"
#include "sipr/transport.h"
#include "sipr/txn.h"

#define MAX_LISTEN 4

/* ---- state ---- */

typedef struct uas_txn {
  sipr_txn_t *st;
  char tag[20];
  int is_invite;
  unsigned final_status;
  sipr_timer_t ring_timer, final_timer;
  struct uas_txn *next, *prev;
} uas_txn_t;

static struct {
  sipr_loop_t *loop;
  sipr_tp_t *tp;
  sipr_txn_layer_t *txn;
  struct timespec t0;
  /* options */
  sipr_tp_addr_t listen[MAX_LISTEN];
  unsigned nlisten;
  uint32_t t1;
  int uac, uas;
  const char *method;
  sipr_tp_addr_t to;
  int have_to;
  int expect_timeout, expect_tperror;
  unsigned expect_status;
  long run_ms;
  long delay_ms, ring_ms, linger_ms;
  unsigned status;
  /* UAC outcome */
  sipr_txn_t *ct;
  int got_timeout, got_tperror, done;
  unsigned last_final;
  /* UAS */
  uas_txn_t *uas_list;
  unsigned tu_requests, tu_invites, tu_others, wire_requests, acks_2xx;
  sipr_timer_t run_timer;
} g;

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t ns = (int64_t)(ts.tv_sec - g.t0.tv_sec) * 1000000000 +
               (ts.tv_nsec - g.t0.tv_nsec);
  return (long)(ns / 1000000);
}

/* "TX <ms> <first line>" (tag "TX"), else "<tag> <first line>": the
 * first line without CRLF, at most 200 bytes. */
static void print_first_line(const char *tag, const char *buf, size_t len) {
  size_t n = 0;
  while (n < len && n < 200 && buf[n] != '\r' && buf[n] != '\n')
    n++;
  if (!strcmp(tag, "TX"))
    printf("TX %ld %.*s\n", now_ms(), (int)n, buf);
  else
    printf("%s %.*s\n", tag, (int)n, buf);
  fflush(stdout);
}

static void event_line(const char *what) {
  printf("%s %ld\n", what, now_ms());
  fflush(stdout);
}

static const char *kind_name(sipr_txn_kind_t k) {
  switch (k) {
  case SIPR_TXN_ICT:
    return "ict";
  case SIPR_TXN_NICT:
    return "nict";
  case SIPR_TXN_IST:
    return "ist";
  case SIPR_TXN_NIST:
    return "nist";
  }
  return "?";
}

static uint64_t rand64(void) {
  uint64_t r = 0;
  if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
    r = (uint64_t)now_ms() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
  return r;
}

/* "127.0.0.1" / "[::1]" of a socket address. */
static void host_str(const sipr_tp_addr_t *a, char *buf, size_t cap) {
  char ip[INET6_ADDRSTRLEN] = "";
  if (a->sa.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&a->sa)->sin6_addr, ip,
              sizeof(ip));
    snprintf(buf, cap, "[%s]", ip);
  } else {
    inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->sa)->sin_addr, ip,
              sizeof(ip));
    snprintf(buf, cap, "%s", ip);
  }
}

/* ---- transport glue: every send is logged ---- */

static int tx_request(void *ctx, const sipr_tp_addr_t *dest, const char *buf,
                      size_t len, uint64_t *conn_id) {
  print_first_line("TX", buf, len);
  return sipr_tp_send_request(ctx, dest, buf, len, conn_id);
}

static int tx_response(void *ctx, const sipr_tp_src_t *src,
                       const sipr_via_t *via, const char *buf, size_t len) {
  print_first_line("TX", buf, len);
  return sipr_tp_send_response(ctx, src, via, buf, len);
}

static void on_tp_recv(void *user, sipr_tp_t *tp, sipr_msg_t *msg,
                       const sipr_tp_src_t *src) {
  (void)user;
  (void)tp;
  char from[80], tag[96];
  snprintf(tag, sizeof(tag), "WIRE %ld %s", now_ms(),
           sipr_tp_addr_str(&src->remote, from, sizeof(from)));
  print_first_line(tag, msg->buf, msg->len);
  if (msg->is_request)
    g.wire_requests++;
  sipr_txn_layer_recv(g.txn, msg, src);
}

static void on_tp_closed(void *user, sipr_tp_t *tp, uint64_t conn_id) {
  (void)user;
  (void)tp;
  printf("CLOSED %ld %llu\n", now_ms(), (unsigned long long)conn_id);
  fflush(stdout);
  if (g.txn)
    sipr_txn_layer_conn_closed(g.txn, conn_id); /* §17.1.4 */
}

/* ---- UAC ---- */

/* ACK for a 2xx (§13.2.2.4): the TU's own request, new branch, sent
 * outside the transaction. It goes to --to, where the INVITE went, not to
 * the 2xx's Contact: enough for a peer on one address. */
static void uac_ack_2xx(sipr_txn_t *ct, sipr_msg_t *resp) {
  char scratch[8192];
  sipr_arena_t a;
  sipr_arena_init(&a, scratch, sizeof(scratch), 1 << 20);
  sipr_str_t reqs = sipr_txn_request(ct);
  sipr_msg_t *req = NULL;
  sipr_perr_t err;
  const sipr_hdr_t *to = resp->first[SIPR_HDR_TO];
  if (sipr_msg_parse(&a, reqs.p, reqs.len, SIPR_PARSE_DATAGRAM, &req, &err) ||
      !to || !sipr_msg_via(req) || !sipr_msg_cseq(req)) {
    sipr_arena_free(&a);
    return;
  }
  sipr_via_t *via = sipr_msg_via(req);
  char branch[48];
  sipr_txn_new_branch(g.txn, branch, sizeof(branch));
  sipr_buf_t b;
  sipr_buf_init(&b);
  sipr_print_request_line(&b, SIPR_STR("ACK"), req->ruri_str);
  char port[16] = "";
  if (via->port >= 0)
    snprintf(port, sizeof(port), ":%d", via->port);
  sipr_print_header_fmt(&b, "Via", "SIP/2.0/%.*s %.*s%s;branch=%s;rport",
                        SIPR_STR_ARG(via->transport), SIPR_STR_ARG(via->host),
                        port, branch);
  sipr_print_header(&b, "Max-Forwards", SIPR_STR("70"));
  sipr_print_header(&b, "From", req->first[SIPR_HDR_FROM]->value);
  sipr_print_header(&b, "To", to->value);
  sipr_print_header(&b, "Call-ID", req->first[SIPR_HDR_CALL_ID]->value);
  sipr_print_header_fmt(&b, "CSeq", "%lu ACK",
                        (unsigned long)sipr_msg_cseq(req)->seq);
  sipr_print_body(&b, SIPR_STR_NULL, SIPR_STR(""));
  if (!b.failed) {
    print_first_line("TX", b.p, b.len);
    sipr_tp_send(g.tp, &g.to, 0, b.p, b.len);
  }
  sipr_buf_free(&b);
  sipr_arena_free(&a);
}

static void on_response(void *user, sipr_txn_t *ct, sipr_msg_t *resp) {
  (void)user;
  printf("RX %ld %u\n", now_ms(), resp->status);
  fflush(stdout);
  if (resp->status >= 200)
    g.last_final = resp->status;
  if (sipr_txn_kind(ct) == SIPR_TXN_ICT && resp->status >= 200 &&
      resp->status < 300)
    uac_ack_2xx(ct, resp);
}

static int uac_start(void) {
  const sipr_tp_addr_t *local = NULL;
  for (unsigned i = 0; sipr_tp_local(g.tp, i); i++)
    if (sipr_tp_local(g.tp, i)->proto == g.to.proto) {
      local = sipr_tp_local(g.tp, i);
      break;
    }
  if (!local) {
    fprintf(stderr, "txn_peer: no --listen for the protocol of --to\n");
    return -1;
  }
  char lhost[64], rhost[64], branch[48];
  host_str(local, lhost, sizeof(lhost));
  host_str(&g.to, rhost, sizeof(rhost));
  int lport = sipr_tp_addr_port(local), rport = sipr_tp_addr_port(&g.to);
  const char *tpname = sipr_tp_proto_name(g.to.proto);
  if (!sipr_txn_new_branch(g.txn, branch, sizeof(branch)))
    return -1;
  unsigned long long r1 = (unsigned long long)rand64(),
                     r2 = (unsigned long long)rand64();
  sipr_buf_t b;
  sipr_buf_init(&b);
  sipr_buf_printf(&b, "sip:peer@%s:%d", rhost, rport);
  char ruri[128];
  snprintf(ruri, sizeof(ruri), "%.*s", (int)b.len, b.p);
  b.len = 0;
  sipr_print_request_line(&b, sipr_str_cstr(g.method), sipr_str_cstr(ruri));
  sipr_print_header_fmt(&b, "Via", "SIP/2.0/%s %s:%d;branch=%s;rport", tpname,
                        lhost, lport, branch);
  sipr_print_header(&b, "Max-Forwards", SIPR_STR("70"));
  sipr_print_header_fmt(&b, "From", "<sip:txnpeer@%s:%d>;tag=%016llx", lhost,
                        lport, r1);
  sipr_print_header_fmt(&b, "To", "<%s>", ruri);
  sipr_print_header_fmt(&b, "Call-ID", "%016llx@%s", r2, lhost);
  sipr_print_header_fmt(&b, "CSeq", "1 %s", g.method);
  sipr_print_header_fmt(&b, "Contact", "<sip:txnpeer@%s:%d;transport=%s>",
                        lhost, lport, tpname);
  sipr_print_body(&b, SIPR_STR_NULL, SIPR_STR(""));
  if (b.failed) {
    sipr_buf_free(&b);
    return -1;
  }
  int rc = sipr_txn_client_new(g.txn, b.p, b.len, &g.to, NULL, &g.ct);
  sipr_buf_free(&b);
  if (rc) {
    fprintf(stderr, "txn_peer: sipr_txn_client_new: %s\n", sipr_strerror(rc));
    return -1;
  }
  return 0;
}

/* ---- UAS ---- */

static void uas_respond(uas_txn_t *u, unsigned status) {
  if (!u->st)
    return;
  char scratch[8192];
  sipr_arena_t a;
  sipr_arena_init(&a, scratch, sizeof(scratch), 1 << 20);
  sipr_str_t reqs = sipr_txn_request(u->st);
  sipr_msg_t *req = NULL;
  sipr_perr_t err;
  if (sipr_msg_parse(&a, reqs.p, reqs.len, SIPR_PARSE_DATAGRAM, &req, &err)) {
    sipr_arena_free(&a);
    return;
  }
  sipr_buf_t b;
  sipr_buf_init(&b);
  if (sipr_print_response(&b, req, status, NULL, sipr_str_cstr(u->tag),
                          SIPR_STR_NULL) == 0) {
    int rc = sipr_txn_respond(u->st, b.p, b.len);
    if (rc)
      fprintf(stderr, "txn_peer: sipr_txn_respond(%u): %s\n", status,
              sipr_strerror(rc));
  }
  sipr_buf_free(&b);
  sipr_arena_free(&a);
}

static void uas_ring_timer(sipr_loop_t *loop, void *arg) {
  (void)loop;
  uas_respond(arg, 180);
}

static void uas_final_timer(sipr_loop_t *loop, void *arg) {
  (void)loop;
  uas_txn_t *u = arg;
  uas_respond(u, u->final_status);
}

static void on_request(void *user, sipr_txn_t *st, sipr_msg_t *req,
                       const sipr_tp_src_t *src) {
  (void)user;
  (void)src;
  printf("TU %ld %.*s\n", now_ms(), SIPR_STR_ARG(req->method));
  fflush(stdout);
  g.tu_requests++;
  uas_txn_t *u = calloc(1, sizeof(*u));
  if (!u)
    return;
  u->st = st;
  u->is_invite = req->method_id == SIPR_METHOD_INVITE;
  if (u->is_invite)
    g.tu_invites++;
  else
    g.tu_others++;
  snprintf(u->tag, sizeof(u->tag), "%016llx", (unsigned long long)rand64());
  u->final_status = g.status ? g.status : (u->is_invite ? 486 : 200);
  sipr_timer_init(&u->ring_timer, uas_ring_timer, u);
  sipr_timer_init(&u->final_timer, uas_final_timer, u);
  u->next = g.uas_list;
  if (g.uas_list)
    g.uas_list->prev = u;
  g.uas_list = u;
  sipr_txn_set_owner(st, u);
  if (u->is_invite && g.ring_ms == 0)
    uas_respond(u, 180);
  else if (u->is_invite && g.ring_ms > 0)
    sipr_timer_start(g.loop, &u->ring_timer, (uint64_t)g.ring_ms);
  if (g.delay_ms == 0)
    uas_respond(u, u->final_status);
  else
    sipr_timer_start(g.loop, &u->final_timer, (uint64_t)g.delay_ms);
}

static void uas_forget(uas_txn_t *u) {
  sipr_timer_stop(g.loop, &u->ring_timer);
  sipr_timer_stop(g.loop, &u->final_timer);
  if (u->prev)
    u->prev->next = u->next;
  else
    g.uas_list = u->next;
  if (u->next)
    u->next->prev = u->prev;
  free(u);
}

static void on_stray_ack(void *user, sipr_msg_t *ack, const sipr_tp_src_t *src) {
  (void)user;
  (void)ack;
  (void)src;
  g.acks_2xx++;
  event_line("ACK2XX");
}

/* ---- both ---- */

static void on_timeout(void *user, sipr_txn_t *t) {
  (void)user;
  if (t == g.ct)
    g.got_timeout = 1;
  printf("TIMEOUT %ld %s\n", now_ms(), kind_name(sipr_txn_kind(t)));
  fflush(stdout);
}

static void on_tperror(void *user, sipr_txn_t *t) {
  (void)user;
  if (t == g.ct)
    g.got_tperror = 1;
  printf("TPERROR %ld %s\n", now_ms(), kind_name(sipr_txn_kind(t)));
  fflush(stdout);
}

static void on_terminated(void *user, sipr_txn_t *t) {
  (void)user;
  printf("TERMINATED %ld %s\n", now_ms(), kind_name(sipr_txn_kind(t)));
  fflush(stdout);
  if (t == g.ct) {
    g.ct = NULL;
    g.done = 1;
    if (g.linger_ms > 0) /* keep connections up a while for the peer */
      sipr_timer_start(g.loop, &g.run_timer, (uint64_t)g.linger_ms);
    else
      sipr_loop_stop(g.loop);
    return;
  }
  uas_txn_t *u = sipr_txn_owner(t);
  if (u && sipr_txn_kind(t) != SIPR_TXN_ICT && sipr_txn_kind(t) != SIPR_TXN_NICT)
    uas_forget(u);
}

static void on_stray_response(void *user, sipr_msg_t *resp,
                              const sipr_tp_src_t *src) {
  (void)user;
  (void)src;
  printf("STRAY %ld %u\n", now_ms(), resp->status);
  fflush(stdout);
}

static void on_run_timer(sipr_loop_t *loop, void *arg) {
  (void)arg;
  sipr_loop_stop(loop);
}

static void on_signal(int sig) {
  (void)sig;
  sipr_loop_stop(g.loop); /* an atomic store and a write(): signal-safe */
}

/* ---- main ---- */

static int free_port(void) {
  for (int attempt = 0; attempt < 50; attempt++) {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int u = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0);
    socklen_t sl = sizeof(sa);
    int ok = u >= 0 && t >= 0 && !bind(u, (struct sockaddr *)&sa, sizeof(sa)) &&
             !getsockname(u, (struct sockaddr *)&sa, &sl) &&
             !bind(t, (struct sockaddr *)&sa, sizeof(sa));
    int port = ntohs(sa.sin_port);
    if (u >= 0)
      close(u);
    if (t >= 0)
      close(t);
    if (ok) {
      printf("%d\n", port);
      return 0;
    }
  }
  fprintf(stderr, "txn_peer: no free port\n");
  return 1;
}

static void usage(void) {
  fprintf(stderr,
          "usage: txn_peer --free-port\n"
          "       txn_peer --listen udp:127.0.0.1:0 [--listen ...] [--t1 MS]\n"
          "                --uac METHOD --to udp:HOST:PORT --expect "
          "timeout|STATUS [--run MS] [--linger MS]\n"
          "       txn_peer --listen ... [--t1 MS] --uas [--delay MS] "
          "[--status CODE] [--ring MS|-1] [--run MS]\n");
}

static int parse_long(const char *s, long min, long max, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < min || v > max)
    return -1;
  *out = v;
  return 0;
}

static int parse_args(int argc, char **argv) {
  long v;
  g.t1 = 500;
  g.ring_ms = 0;
  g.run_ms = -1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VAL()                                                             \
  do {                                                                         \
    if (!val) {                                                                \
      fprintf(stderr, "txn_peer: %s needs a value\n", a);                      \
      return -1;                                                               \
    }                                                                          \
    i++;                                                                       \
  } while (0)
    if (!strcmp(a, "--listen")) {
      NEED_VAL();
      if (g.nlisten == MAX_LISTEN || sipr_tp_addr_parse(val, &g.listen[g.nlisten])) {
        fprintf(stderr, "txn_peer: bad --listen %s\n", val);
        return -1;
      }
      g.nlisten++;
    } else if (!strcmp(a, "--t1")) {
      NEED_VAL();
      if (parse_long(val, 1, 100000, &v))
        return -1;
      g.t1 = (uint32_t)v;
    } else if (!strcmp(a, "--uac")) {
      NEED_VAL();
      g.uac = 1;
      g.method = val;
    } else if (!strcmp(a, "--uas")) {
      g.uas = 1;
    } else if (!strcmp(a, "--to")) {
      NEED_VAL();
      if (sipr_tp_addr_parse(val, &g.to)) {
        fprintf(stderr, "txn_peer: bad --to %s\n", val);
        return -1;
      }
      g.have_to = 1;
    } else if (!strcmp(a, "--expect")) {
      NEED_VAL();
      if (!strcmp(val, "timeout"))
        g.expect_timeout = 1;
      else if (!strcmp(val, "tperror"))
        g.expect_tperror = 1;
      else if (parse_long(val, 100, 699, &v) == 0)
        g.expect_status = (unsigned)v;
      else
        return -1;
    } else if (!strcmp(a, "--run")) {
      NEED_VAL();
      if (parse_long(val, 1, 3600000, &g.run_ms))
        return -1;
    } else if (!strcmp(a, "--linger")) {
      NEED_VAL();
      if (parse_long(val, 0, 3600000, &g.linger_ms))
        return -1;
    } else if (!strcmp(a, "--delay")) {
      NEED_VAL();
      if (parse_long(val, 0, 3600000, &g.delay_ms))
        return -1;
    } else if (!strcmp(a, "--ring")) {
      NEED_VAL();
      if (parse_long(val, -1, 3600000, &g.ring_ms))
        return -1;
    } else if (!strcmp(a, "--status")) {
      NEED_VAL();
      if (parse_long(val, 200, 699, &v))
        return -1;
      g.status = (unsigned)v;
    } else {
      fprintf(stderr, "txn_peer: unknown option %s\n", a);
      return -1;
    }
#undef NEED_VAL
  }
  if (g.uac == g.uas || !g.nlisten)
    return -1;
  if (g.uac && (!g.have_to || (!g.expect_timeout && !g.expect_tperror && !g.expect_status)))
    return -1;
  return 0;
}

/* Opens every --listen. A port 0 after the first means the first's port
 * (UDP and TCP on one number); when that one is taken for the second
 * protocol, everything is closed and tried again with a new port. */
static int listen_all(const sipr_tp_user_ops_t *ops) {
  for (int attempt = 0; attempt < 20; attempt++) {
    int retry = 0;
    g.tp = sipr_tp_new(g.loop, NULL, ops, NULL);
    if (!g.tp) {
      fprintf(stderr, "txn_peer: cannot create the transport\n");
      return -1;
    }
    for (unsigned i = 0; i < g.nlisten; i++) {
      sipr_tp_addr_t a = g.listen[i];
      int follow = i > 0 && sipr_tp_addr_port(&a) == 0 &&
                   sipr_tp_addr_port(&g.listen[0]) == 0;
      if (follow) {
        const sipr_tp_addr_t *first = sipr_tp_local(g.tp, 0);
        if (a.sa.ss_family == AF_INET && first->sa.ss_family == AF_INET)
          ((struct sockaddr_in *)&a.sa)->sin_port =
              ((const struct sockaddr_in *)&first->sa)->sin_port;
        else if (a.sa.ss_family == AF_INET6 && first->sa.ss_family == AF_INET6)
          ((struct sockaddr_in6 *)&a.sa)->sin6_port =
              ((const struct sockaddr_in6 *)&first->sa)->sin6_port;
      }
      int rc = sipr_tp_listen(g.tp, &a);
      if (rc && follow) {
        retry = 1;
        break;
      }
      if (rc) {
        char buf[64];
        fprintf(stderr, "txn_peer: cannot listen on %s: %s\n",
                sipr_tp_addr_str(&a, buf, sizeof(buf)), sipr_strerror(rc));
        return -1;
      }
    }
    if (!retry)
      return 0;
    sipr_tp_free(g.tp);
    g.tp = NULL;
  }
  fprintf(stderr, "txn_peer: found no port free for every --listen\n");
  return -1;
}

int main(int argc, char **argv) {
  if (argc == 2 && !strcmp(argv[1], "--free-port"))
    return free_port();
  clock_gettime(CLOCK_MONOTONIC, &g.t0);
  if (parse_args(argc, argv)) {
    usage();
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);

  static const sipr_tp_user_ops_t tp_user = {on_tp_recv, on_tp_closed, NULL};
  static const sipr_txn_tp_ops_t txn_tp = {tx_request, tx_response};
  static const sipr_txn_user_ops_t txn_user = {
      .request = on_request,
      .response = on_response,
      .timeout = on_timeout,
      .transport_error = on_tperror,
      .terminated = on_terminated,
      .stray_ack = on_stray_ack,
      .stray_response = on_stray_response,
  };
  g.loop = sipr_loop_new(NULL);
  if (!g.loop || listen_all(&tp_user) < 0)
    return 1;

  sipr_txn_cfg_t cfg;
  sipr_txn_cfg_default(&cfg);
  /* §17.1.1.1, Table 4: keep the RFC's ratios to T1. */
  cfg.t1 = g.t1;
  cfg.t2 = g.t1 * 8;
  cfg.t4 = g.t1 * 10;
  cfg.timer_d = g.t1 * 64;
  g.txn = sipr_txn_layer_new(g.loop, &cfg, &txn_tp, g.tp, &txn_user, NULL);
  if (!g.txn) {
    fprintf(stderr, "txn_peer: cannot create the transaction layer\n");
    return 1;
  }

  printf("PORT %d\n", sipr_tp_addr_port(sipr_tp_local(g.tp, 0)));
  fflush(stdout);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);

  if (g.uac && g.run_ms < 0) /* B/F, then D or K, twice over */
    g.run_ms = 2 * (64 * (long)g.t1 + 64 * (long)g.t1) + 2000;
  sipr_timer_init(&g.run_timer, on_run_timer, NULL);
  if (g.run_ms > 0)
    sipr_timer_start(g.loop, &g.run_timer, (uint64_t)g.run_ms);

  int status = 0;
  if (g.uac && uac_start() < 0) {
    status = 1;
  } else {
    sipr_loop_run(g.loop);
  }

  sipr_txn_stats_t ts;
  sipr_tp_stats_t ps;
  sipr_txn_get_stats(g.txn, &ts);
  sipr_tp_get_stats(g.tp, &ps);
  if (g.uac && status == 0) {
    if (!g.done) {
      printf("RESULT fail: the client transaction did not terminate in %ld ms\n",
             g.run_ms);
      status = 2;
    } else if (g.expect_tperror) {
      status = g.got_tperror && !g.got_timeout ? 0 : 1;
      printf("RESULT %s: expected transport error, got %s\n",
             status ? "fail" : "ok",
             g.got_tperror ? "transport error" : g.got_timeout ? "timeout"
                                                               : "a final response");
    } else if (g.expect_timeout) {
      status = g.got_timeout ? 0 : 1;
      printf("RESULT %s: expected timeout, got %s\n", status ? "fail" : "ok",
             g.got_timeout ? "timeout" : g.got_tperror ? "transport error"
                                                        : "a final response");
    } else {
      status = g.last_final == g.expect_status ? 0 : 1;
      printf("RESULT %s: expected %u, got %u%s\n", status ? "fail" : "ok",
             g.expect_status, g.last_final,
             g.got_timeout ? " (timeout)" : g.got_tperror ? " (transport error)" : "");
    }
  }
  printf("SUMMARY tu_requests=%u tu_invites=%u tu_others=%u wire_requests=%u "
         "absorbed=%llu retransmissions=%llu timeouts=%llu "
         "transport_errors=%llu acks_2xx=%u created_server=%llu "
         "created_client=%llu terminated=%llu tx_msgs=%llu rx_msgs=%llu "
         "tx_errors=%llu live=%u\n",
         g.tu_requests, g.tu_invites, g.tu_others, g.wire_requests,
         (unsigned long long)ts.absorbed, (unsigned long long)ts.retransmissions,
         (unsigned long long)ts.timeouts,
         (unsigned long long)ts.transport_errors, g.acks_2xx,
         (unsigned long long)ts.created_server,
         (unsigned long long)ts.created_client,
         (unsigned long long)ts.terminated, (unsigned long long)ps.tx_msgs,
         (unsigned long long)ps.rx_msgs, (unsigned long long)ps.tx_errors,
         sipr_txn_count(g.txn));
  fflush(stdout);

  sipr_txn_layer_free(g.txn); /* no callbacks */
  while (g.uas_list) {
    uas_txn_t *u = g.uas_list;
    g.uas_list = u->next;
    sipr_timer_stop(g.loop, &u->ring_timer);
    sipr_timer_stop(g.loop, &u->final_timer);
    free(u);
  }
  sipr_tp_free(g.tp);
  sipr_loop_free(g.loop);
  return status;
}
