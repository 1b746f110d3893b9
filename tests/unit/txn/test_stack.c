/* The stack (include/sipr/stack.h): two worker threads on the real clock,
 * real sockets on 127.0.0.1. A response reaching the worker that does not
 * own its client transaction is handed to the owner; a response for a TCP
 * connection of another worker leaves over that connection.
 *
 * Threads: cmocka asserts run on the main thread only. What the worker
 * threads record (in jobs and TU callbacks) is read by the main thread
 * after sipr_stack_stop() (joined) or behind an atomic flag. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sipr/stack.h"

#define NTXN 50
#define NPEER 5
#define WAIT_MS 4000

/* ---- shared state ---- */

typedef struct rec {
  /* written by the creating job, on its worker */
  unsigned want_worker;
  int created_on;
  pthread_t created_th;
  int rc;
  char branch[64];
  atomic_int created;
  /* written by the TU callback */
  int got_on;
  pthread_t got_th;
  unsigned status;
  atomic_int got;
  sipr_tp_addr_t dest;
} rec_t;

static sipr_stack_t *g_stack;
static int g_port;      /* the stack's UDP port */
static rec_t g_rec[NTXN];
static atomic_int g_done, g_timeouts, g_tperr;

/* TCP test: the request as the TU saw it */
static sipr_tp_src_t g_src;
static int g_req_on;
static atomic_int g_req;

static void ms_sleep(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Waits until *flag reaches n (or WAIT_MS); returns whether it did. */
static int wait_for(atomic_int *flag, int n) {
  for (int i = 0; i < WAIT_MS; i++) {
    if (atomic_load(flag) >= n)
      return 1;
    ms_sleep(1);
  }
  return atomic_load(flag) >= n;
}

/* ---- the TU ---- */

static void tu_response(void *user, sipr_txn_t *ct, sipr_msg_t *resp) {
  (void)user;
  rec_t *r = sipr_txn_owner(ct);
  if (!r || resp->status < 200 || atomic_load(&r->got))
    return;
  r->got_on = sipr_stack_current(g_stack);
  r->got_th = pthread_self();
  r->status = resp->status;
  atomic_store(&r->got, 1);
  atomic_fetch_add(&g_done, 1);
}

static void tu_timeout(void *user, sipr_txn_t *t) {
  (void)user;
  (void)t;
  atomic_fetch_add(&g_timeouts, 1);
}

static void tu_tperr(void *user, sipr_txn_t *t) {
  (void)user;
  (void)t;
  atomic_fetch_add(&g_tperr, 1);
}

static void tu_request(void *user, sipr_txn_t *st, sipr_msg_t *req,
                       const sipr_tp_src_t *src) {
  (void)user;
  (void)st;
  (void)req;
  if (atomic_load(&g_req))
    return;
  g_src = *src;
  g_req_on = sipr_stack_current(g_stack);
  atomic_store(&g_req, 1);
}

static const sipr_txn_user_ops_t tu_ops = {
    .request = tu_request,
    .response = tu_response,
    .timeout = tu_timeout,
    .transport_error = tu_tperr,
};

/* ---- fixture ---- */

static int setup(void **state) {
  (void)state;
  memset(g_rec, 0, sizeof(g_rec));
  atomic_store(&g_done, 0);
  atomic_store(&g_timeouts, 0);
  atomic_store(&g_tperr, 0);
  atomic_store(&g_req, 0);
  g_stack = sipr_stack_new(2, NULL, NULL, &tu_ops, NULL, NULL);
  if (!g_stack)
    return -1;
  sipr_tp_addr_t a;
  if (sipr_tp_addr_parse("udp:127.0.0.1:0", &a) ||
      sipr_stack_listen(g_stack, &a))
    return -1;
  g_port = sipr_tp_addr_port(sipr_tp_local(sipr_stack_tp(g_stack, 0), 0));
  if (g_port <= 0 ||
      sipr_tp_addr_port(sipr_tp_local(sipr_stack_tp(g_stack, 1), 0)) != g_port)
    return -1;
  return sipr_stack_start(g_stack) ? -1 : 0;
}

static int teardown(void **state) {
  (void)state;
  sipr_stack_free(g_stack);
  g_stack = NULL;
  return 0;
}

static sipr_tp_addr_t udp_addr(int port) {
  sipr_tp_addr_t a;
  char spec[64];
  snprintf(spec, sizeof(spec), "udp:127.0.0.1:%d", port);
  assert_int_equal(sipr_tp_addr_parse(spec, &a), 0);
  return a;
}

/* ---- jobs run on a worker ---- */

/* Creates the client transaction of g_rec[i] on the worker running it. */
static void job_client_new(void *arg) {
  rec_t *r = arg;
  unsigned i = (unsigned)(r - g_rec);
  r->created_on = sipr_stack_current(g_stack);
  r->created_th = pthread_self();
  sipr_txn_layer_t *l = sipr_stack_txn(g_stack, r->want_worker);
  char req[1024];
  if (!sipr_txn_new_branch(l, r->branch, sizeof(r->branch))) {
    r->rc = -100;
  } else {
    int n = snprintf(req, sizeof(req),
                     "OPTIONS sip:peer@127.0.0.1 SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s\r\n"
                     "Max-Forwards: 70\r\n"
                     "From: <sip:a@127.0.0.1>;tag=f%u\r\n"
                     "To: <sip:peer@127.0.0.1>\r\n"
                     "Call-ID: stack-%u@127.0.0.1\r\n"
                     "CSeq: 1 OPTIONS\r\n"
                     "Content-Length: 0\r\n\r\n",
                     g_port, r->branch, i, i);
    sipr_txn_t *t = NULL;
    r->rc = sipr_txn_client_new(l, req, (size_t)n, &r->dest, r, &t);
  }
  atomic_store(&r->created, 1);
}

/* Feeds a response to worker `inject_on`'s receive path, as if its
 * socket had received it. */
typedef struct inject {
  unsigned on;
  char text[1024];
  sipr_tp_src_t src;
  int ran_on;
  int rc;
  atomic_int done;
} inject_t;

static void job_inject(void *arg) {
  inject_t *in = arg;
  in->ran_on = sipr_stack_current(g_stack);
  sipr_arena_t a;
  sipr_arena_init(&a, NULL, 0, 1u << 20);
  sipr_msg_t *m = NULL;
  sipr_perr_t err;
  in->rc = sipr_msg_parse(&a, in->text, strlen(in->text), SIPR_PARSE_DATAGRAM,
                          &m, &err);
  if (in->rc == 0)
    in->rc = sipr_msg_check(m, &err);
  if (in->rc == 0)
    sipr_stack_recv(g_stack, in->on, m, &in->src);
  sipr_arena_free(&a);
  atomic_store(&in->done, 1);
}

static void create_on(unsigned i, unsigned worker, const sipr_tp_addr_t *dest) {
  g_rec[i].want_worker = worker;
  g_rec[i].dest = *dest;
  assert_int_equal(
      sipr_loop_post(sipr_stack_loop(g_stack, worker), job_client_new, &g_rec[i]),
      0);
}

/* ---- (1a) the hand-off itself ---- */

static void test_stack_branch_worker(void **state) {
  (void)state;
  char b[64];
  assert_int_equal(sipr_txn_new_branch(sipr_stack_txn(g_stack, 1), b, sizeof(b)), 27);
  assert_int_equal(sipr_stack_worker_of_branch(g_stack, sipr_str_make(b, 27)), 1);
  assert_int_equal(sipr_txn_new_branch(sipr_stack_txn(g_stack, 0), b, sizeof(b)), 27);
  assert_int_equal(sipr_stack_worker_of_branch(g_stack, sipr_str_make(b, 27)), 0);
  /* worker 2 does not exist in a stack of 2 */
  assert_int_equal(
      sipr_stack_worker_of_branch(g_stack, SIPR_STR("z9hG4bK0000020123456789abcd")), -1);
  assert_int_equal(sipr_stack_worker_of_branch(g_stack, SIPR_STR("z9hG4bKfoo")), -1);
  assert_int_equal(sipr_stack_current(g_stack), -1);
  assert_int_equal(sipr_stack_workers(g_stack), 2);
}

static void inject_response(inject_t *in, unsigned on, const rec_t *r,
                            unsigned i, const sipr_tp_addr_t *from) {
  memset(in, 0, sizeof(*in));
  in->on = on;
  snprintf(in->text, sizeof(in->text),
           "SIP/2.0 200 OK\r\n"
           "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s\r\n"
           "From: <sip:a@127.0.0.1>;tag=f%u\r\n"
           "To: <sip:peer@127.0.0.1>;tag=p\r\n"
           "Call-ID: stack-%u@127.0.0.1\r\n"
           "CSeq: 1 OPTIONS\r\n"
           "Content-Length: 0\r\n\r\n",
           g_port, r->branch, i, i);
  in->src.remote = *from;
  in->src.local = *sipr_tp_local(sipr_stack_tp(g_stack, on), 0);
  assert_int_equal(sipr_loop_post(sipr_stack_loop(g_stack, on), job_inject, in), 0);
}

static void test_stack_handoff_direct(void **state) {
  (void)state;
  /* A peer that never answers: the responses are injected. */
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in sin = {.sin_family = AF_INET};
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
  socklen_t sl = sizeof(sin);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
  sipr_tp_addr_t peer = udp_addr(ntohs(sin.sin_port));

  create_on(0, 0, &peer); /* owned by worker 0 */
  create_on(1, 1, &peer); /* owned by worker 1 */
  assert_true(wait_for(&g_rec[0].created, 1));
  assert_true(wait_for(&g_rec[1].created, 1));
  assert_int_equal(g_rec[0].rc, 0);
  assert_int_equal(g_rec[1].rc, 0);

  static inject_t in[2];
  inject_response(&in[0], 1, &g_rec[0], 0, &peer); /* worker 1 gets 0's */
  inject_response(&in[1], 1, &g_rec[1], 1, &peer); /* worker 1 gets its own */
  assert_true(wait_for(&in[0].done, 1));
  assert_true(wait_for(&in[1].done, 1));
  assert_true(wait_for(&g_done, 2));
  sipr_stack_stop(g_stack);

  assert_int_equal(in[0].rc, 0);
  assert_int_equal(in[0].ran_on, 1);
  for (unsigned i = 0; i < 2; i++) {
    assert_int_equal(g_rec[i].created_on, (int)i);
    assert_int_equal(g_rec[i].got_on, (int)i);
    assert_true(pthread_equal(g_rec[i].got_th, g_rec[i].created_th));
    assert_int_equal(g_rec[i].status, 200);
  }
  sipr_stack_stats_t s0, s1;
  sipr_stack_get_stats(g_stack, 0, &s0);
  sipr_stack_get_stats(g_stack, 1, &s1);
  assert_int_equal(s1.rx_posted, 1);
  assert_int_equal(s0.rx_taken, 1);
  assert_int_equal(s0.rx_posted, 0);
  assert_int_equal(s1.rx_taken, 0);
  assert_int_equal(s0.dropped + s1.dropped, 0);
  close(fd);
}

/* ---- (1b) end to end over UDP ---- */

typedef struct peer {
  int fd[NPEER];
  int port[NPEER];
  atomic_int stop;
  atomic_int answered;
} peer_t;

/* Copies the header line starting with name (at a line start) into out. */
static size_t copy_hdr(const char *msg, const char *name, char *out, size_t cap) {
  size_t nl = strlen(name);
  for (const char *p = msg; p && *p; p = strstr(p, "\r\n") ? strstr(p, "\r\n") + 2 : NULL) {
    if (!strncmp(p, name, nl)) {
      const char *e = strstr(p, "\r\n");
      size_t n = e ? (size_t)(e - p) : strlen(p);
      if (n + 2 >= cap)
        return 0;
      memcpy(out, p, n);
      memcpy(out + n, "\r\n", 3);
      return n + 2;
    }
  }
  return 0;
}

/* Answers every request 200, from the socket it came to, to its source. */
static void *peer_main(void *arg) {
  peer_t *p = arg;
  struct pollfd pf[NPEER];
  for (int i = 0; i < NPEER; i++)
    pf[i] = (struct pollfd){.fd = p->fd[i], .events = POLLIN};
  while (!atomic_load(&p->stop)) {
    if (poll(pf, NPEER, 20) <= 0)
      continue;
    for (int i = 0; i < NPEER; i++) {
      if (!(pf[i].revents & POLLIN))
        continue;
      char buf[4096];
      struct sockaddr_storage from;
      socklen_t fl = sizeof(from);
      ssize_t n = recvfrom(p->fd[i], buf, sizeof(buf) - 1, 0,
                           (struct sockaddr *)&from, &fl);
      if (n <= 0)
        continue;
      buf[n] = '\0';
      if (!strncmp(buf, "SIP/2.0 ", 8))
        continue;
      char via[512], fr[256], to[256], cid[256], cseq[128], out[2048];
      if (!copy_hdr(buf, "Via:", via, sizeof(via)) ||
          !copy_hdr(buf, "From:", fr, sizeof(fr)) ||
          !copy_hdr(buf, "To:", to, sizeof(to)) ||
          !copy_hdr(buf, "Call-ID:", cid, sizeof(cid)) ||
          !copy_hdr(buf, "CSeq:", cseq, sizeof(cseq)))
        continue;
      to[strlen(to) - 2] = '\0'; /* drop CRLF to add the tag */
      int len = snprintf(out, sizeof(out),
                         "SIP/2.0 200 OK\r\n%s%s%s;tag=peer\r\n%s%s"
                         "Content-Length: 0\r\n\r\n",
                         via, fr, to, cid, cseq);
      if (sendto(p->fd[i], out, (size_t)len, 0, (struct sockaddr *)&from, fl) ==
          len)
        atomic_fetch_add(&p->answered, 1);
    }
  }
  return NULL;
}

static void test_stack_udp_end_to_end(void **state) {
  (void)state;
  static peer_t peer;
  memset(&peer, 0, sizeof(peer));
  for (int i = 0; i < NPEER; i++) {
    peer.fd[i] = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(peer.fd[i] >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(peer.fd[i], (struct sockaddr *)&sin, sizeof(sin)), 0);
    socklen_t sl = sizeof(sin);
    assert_int_equal(getsockname(peer.fd[i], (struct sockaddr *)&sin, &sl), 0);
    peer.port[i] = ntohs(sin.sin_port);
  }
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, peer_main, &peer), 0);

  /* Transaction i lives on worker i % 2 and goes to peer port i % NPEER:
   * every peer port serves transactions of both workers, and the kernel
   * sends all of a port's responses to one worker's socket, so about half
   * of them reach the wrong worker. */
  for (unsigned i = 0; i < NTXN; i++) {
    sipr_tp_addr_t d = udp_addr(peer.port[i % NPEER]);
    create_on(i, i % 2, &d);
  }
  int all = wait_for(&g_done, NTXN);
  sipr_stack_stop(g_stack);
  atomic_store(&peer.stop, 1);
  pthread_join(th, NULL);
  for (int i = 0; i < NPEER; i++)
    close(peer.fd[i]);

  assert_true(all);
  assert_int_equal(atomic_load(&g_timeouts), 0);
  assert_int_equal(atomic_load(&g_tperr), 0);
  for (unsigned i = 0; i < NTXN; i++) {
    assert_int_equal(g_rec[i].rc, 0);
    assert_int_equal(g_rec[i].created_on, (int)(i % 2));
    assert_int_equal(atomic_load(&g_rec[i].got), 1);
    assert_int_equal(g_rec[i].status, 200);
    assert_int_equal(g_rec[i].got_on, (int)(i % 2));
    assert_true(pthread_equal(g_rec[i].got_th, g_rec[i].created_th));
  }
  sipr_stack_stats_t s0, s1;
  sipr_stack_get_stats(g_stack, 0, &s0);
  sipr_stack_get_stats(g_stack, 1, &s1);
  /* Every hand-off posted was taken; some happened. */
  assert_true(s0.rx_posted + s1.rx_posted > 0);
  assert_int_equal(s0.rx_posted, s1.rx_taken);
  assert_int_equal(s1.rx_posted, s0.rx_taken);
  assert_int_equal(s0.dropped + s1.dropped, 0);
}

/* ---- (2) a TCP connection of one worker, a response from the other ---- */

typedef struct txjob {
  unsigned from;
  int raw;
  char text[512];
  int rc;
  int ran_on;
  atomic_int done;
} txjob_t;

static void job_send(void *arg) {
  txjob_t *j = arg;
  j->ran_on = sipr_stack_current(g_stack);
  if (j->raw)
    j->rc = sipr_stack_send(g_stack, j->from, NULL, g_src.conn_id, j->text,
                            strlen(j->text));
  else
    j->rc = sipr_stack_send_response(g_stack, j->from, &g_src, NULL, j->text,
                                     strlen(j->text));
  atomic_store(&j->done, 1);
}

/* Reads from fd until buf holds needle (or WAIT_MS). */
static int read_until(int fd, char *buf, size_t cap, size_t *have,
                      const char *needle) {
  for (int i = 0; i < WAIT_MS / 10; i++) {
    buf[*have] = '\0';
    if (strstr(buf, needle))
      return 1;
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (poll(&pf, 1, 10) == 1) {
      ssize_t n = recv(fd, buf + *have, cap - 1 - *have, 0);
      if (n <= 0)
        return 0;
      *have += (size_t)n;
    }
  }
  buf[*have] = '\0';
  return strstr(buf, needle) != NULL;
}

static void test_stack_tcp_other_worker(void **state) {
  (void)state;
  /* A stack of its own: TCP listeners are added before the start. */
  sipr_stack_free(g_stack);
  g_stack = sipr_stack_new(2, NULL, NULL, &tu_ops, NULL, NULL);
  assert_non_null(g_stack);
  sipr_tp_addr_t a;
  assert_int_equal(sipr_tp_addr_parse("tcp:127.0.0.1:0", &a), 0);
  assert_int_equal(sipr_stack_listen(g_stack, &a), 0);
  int port = sipr_tp_addr_port(sipr_tp_local(sipr_stack_tp(g_stack, 0), 0));
  assert_true(port > 0);
  assert_int_equal(sipr_stack_start(g_stack), 0);
  assert_int_equal(sipr_stack_listen(g_stack, &a), SIPR_EINVAL);

  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
  struct sockaddr_in me;
  socklen_t ml = sizeof(me);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&me, &ml), 0);
  char req[1024];
  int n = snprintf(req, sizeof(req),
                   "OPTIONS sip:stack@127.0.0.1 SIP/2.0\r\n"
                   "Via: SIP/2.0/TCP 127.0.0.1:%d;branch=z9hG4bKtcpclient1\r\n"
                   "Max-Forwards: 70\r\n"
                   "From: <sip:c@127.0.0.1>;tag=c1\r\n"
                   "To: <sip:stack@127.0.0.1>\r\n"
                   "Call-ID: tcp-1@127.0.0.1\r\n"
                   "CSeq: 7 OPTIONS\r\n"
                   "Content-Length: 0\r\n\r\n",
                   ntohs(me.sin_port));
  assert_int_equal(send(fd, req, (size_t)n, 0), n);
  assert_true(wait_for(&g_req, 1));

  /* The worker that accepted owns the connection; the other answers. */
  unsigned owner = sipr_tp_conn_worker(g_src.conn_id);
  assert_true(owner < 2);
  assert_int_equal(g_req_on, (int)owner);
  unsigned other = 1 - owner;
  static txjob_t j[2];
  memset(j, 0, sizeof(j));
  j[0].from = other;
  snprintf(j[0].text, sizeof(j[0].text),
           "SIP/2.0 200 OK\r\n"
           "Via: SIP/2.0/TCP 127.0.0.1:%d;branch=z9hG4bKtcpclient1;received=127.0.0.1\r\n"
           "From: <sip:c@127.0.0.1>;tag=c1\r\n"
           "To: <sip:stack@127.0.0.1>;tag=s1\r\n"
           "Call-ID: tcp-1@127.0.0.1\r\n"
           "CSeq: 7 OPTIONS\r\n"
           "Content-Length: 0\r\n\r\n",
           ntohs(me.sin_port));
  j[1].from = other;
  j[1].raw = 1;
  snprintf(j[1].text, sizeof(j[1].text), "SIP/2.0 202 Accepted%s",
           strstr(j[0].text, "\r\n"));

  char buf[4096];
  size_t have = 0;
  assert_int_equal(sipr_loop_post(sipr_stack_loop(g_stack, other), job_send, &j[0]), 0);
  assert_true(wait_for(&j[0].done, 1));
  assert_true(read_until(fd, buf, sizeof(buf), &have, "SIP/2.0 200 OK\r\n"));
  assert_true(read_until(fd, buf, sizeof(buf), &have, "Content-Length: 0\r\n\r\n"));
  assert_int_equal(sipr_loop_post(sipr_stack_loop(g_stack, other), job_send, &j[1]), 0);
  assert_true(wait_for(&j[1].done, 1));
  assert_true(read_until(fd, buf, sizeof(buf), &have, "SIP/2.0 202 Accepted\r\n"));
  sipr_stack_stop(g_stack);
  close(fd);

  for (unsigned i = 0; i < 2; i++) {
    assert_int_equal(j[i].rc, 0);
    assert_int_equal(j[i].ran_on, (int)other);
  }
  sipr_stack_stats_t so, sx;
  sipr_stack_get_stats(g_stack, owner, &so);
  sipr_stack_get_stats(g_stack, other, &sx);
  assert_int_equal(sx.tx_posted, 2);
  assert_int_equal(so.tx_taken, 2);
  assert_int_equal(so.tx_posted, 0);
  assert_int_equal(so.dropped + sx.dropped, 0);
}

/* ---- stop and free with hand-offs still queued ---- */

#define NDRAIN 10
static atomic_int g_posted, g_blocking;
static inject_t g_drain[NDRAIN];

/* On worker 0: waits until worker 1 has queued its hand-offs here, then
 * stops this loop, so they are still queued when the stack stops. */
static void job_block(void *arg) {
  (void)arg;
  atomic_store(&g_blocking, 1); /* this round's job list is taken */
  wait_for(&g_posted, 1);
  sipr_loop_stop(sipr_stack_loop(g_stack, 0));
}

/* On worker 1: hands NDRAIN responses for worker 0's branches over. */
static void job_flood(void *arg) {
  (void)arg;
  for (unsigned i = 0; i < NDRAIN; i++)
    job_inject(&g_drain[i]);
  atomic_store(&g_posted, 1);
}

static void test_stack_free_drains(void **state) {
  (void)state;
  atomic_store(&g_posted, 0);
  atomic_store(&g_blocking, 0);
  sipr_tp_addr_t peer = udp_addr(9);
  for (unsigned i = 0; i < NDRAIN; i++) {
    char b[64];
    assert_int_equal(sipr_txn_new_branch(sipr_stack_txn(g_stack, 0), b, sizeof(b)), 27);
    inject_t *in = &g_drain[i];
    memset(in, 0, sizeof(*in));
    in->on = 1;
    snprintf(in->text, sizeof(in->text),
             "SIP/2.0 200 OK\r\n"
             "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s\r\n"
             "From: <sip:a@127.0.0.1>;tag=x\r\n"
             "To: <sip:peer@127.0.0.1>;tag=p\r\n"
             "Call-ID: drain-%u@127.0.0.1\r\n"
             "CSeq: 1 OPTIONS\r\n"
             "Content-Length: 0\r\n\r\n",
             g_port, b, i);
    in->src.remote = peer;
    in->src.local = *sipr_tp_local(sipr_stack_tp(g_stack, 1), 0);
  }
  assert_int_equal(sipr_loop_post(sipr_stack_loop(g_stack, 0), job_block, NULL), 0);
  assert_true(wait_for(&g_blocking, 1));
  assert_int_equal(sipr_loop_post(sipr_stack_loop(g_stack, 1), job_flood, NULL), 0);
  assert_true(wait_for(&g_posted, 1));
  sipr_stack_stop(g_stack);
  sipr_stack_stats_t s0, s1;
  sipr_stack_get_stats(g_stack, 0, &s0);
  sipr_stack_get_stats(g_stack, 1, &s1);
  assert_int_equal(s1.rx_posted, NDRAIN);
  assert_int_equal(s0.rx_taken, 0); /* still queued: teardown frees them */
  for (unsigned i = 0; i < NDRAIN; i++)
    assert_int_equal(g_drain[i].rc, 0);
  /* After the stop, a hand-off is refused and counted. */
  g_drain[0].done = 0;
  job_inject(&g_drain[0]);
  sipr_stack_get_stats(g_stack, 1, &s1);
  assert_int_equal(s1.rx_posted, NDRAIN);
  assert_int_equal(s1.dropped, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_stack_branch_worker, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stack_handoff_direct, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stack_udp_end_to_end, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stack_tcp_other_worker, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stack_free_drains, setup, teardown),
  };
  return cmocka_run_group_tests_name("stack", tests, NULL, NULL);
}
