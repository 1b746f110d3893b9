/*
 * TCP (RFC 3261 §18): listeners, accepted and outgoing connections.
 *
 * Connections are indexed by id and by remote address (§18: "indexed by
 * the tuple formed from the address, port, and transport protocol at the
 * far end"), so a request to a peer reuses an open connection (§18.1.1)
 * and a response finds the connection its request came on (§18.2.2).
 * Each connection frames its byte stream with a sipr_framer (§18.3, §7.5),
 * answers CRLFCRLF pings with CRLF (RFC 5626 §3.5.1), and queues what it
 * cannot write at once.
 *
 * Caps (docs/ARCHITECTURE.md, Memory): total connections, accepted
 * connections per source IP, the framer's bound (2 * max_stream_msg) and
 * the write queue (max_conn_buffer). A peer that sends what is no SIP
 * stream, an oversize message, stalls inside a message for
 * partial_timeout_ms or does not read what we write is disconnected and
 * counted (conns_killed); a connection with no traffic for
 * idle_timeout_ms is closed (conns_idle).
 *
 * A connection is freed only from its own I/O callback, its timer, or
 * sipr_tp_free(): anything else (a send that fails, a callback) marks it
 * doomed and arms its timer at 0, so user callbacks never see a
 * connection vanish under them.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tp_internal.h"

#define TCP_READ_CHUNK 16384
#define TCP_READS_PER_EVENT 64   /* fairness between connections */
#define TCP_ACCEPTS_PER_EVENT 64
#define TCP_WQ_KEEP 65536        /* a drained write queue larger than this is freed */

enum { C_CONNECTING = 1, C_OPEN };
/* Why a connection closes (what is counted). */
enum { CL_NORMAL = 1, CL_KILLED, CL_IDLE, CL_FAILED };

struct tp_conn {
  sipr_tp_t *tp;
  uint64_t id;
  int fd;
  int state;
  int outgoing;
  int doomed;               /* CL_* once it must close */
  unsigned ev;              /* SIPR_EV_* registered */
  sipr_tp_addr_t remote, local;
  sipr_framer_t fr;
  sipr_buf_t wq;            /* write queue: wq.p[wq_off..wq.len) */
  size_t wq_off;
  sipr_timer_t timer;
  uint64_t created, last, partial_since;
  /* Byte I/O: plain TCP today; TLS later. Like recv()/send(). */
  ssize_t (*rd)(tp_conn_t *c, char *buf, size_t len);
  ssize_t (*wr)(tp_conn_t *c, const char *buf, size_t len);
  tp_conn_t *id_next, *addr_next, *all_next, *all_prev;
};

struct tp_ipcount {
  struct sockaddr_storage ip;
  unsigned n;
  tp_ipcount_t *next;
};

static ssize_t tcp_rd(tp_conn_t *c, char *buf, size_t len) {
  return recv(c->fd, buf, len, MSG_DONTWAIT);
}

static ssize_t tcp_wr(tp_conn_t *c, const char *buf, size_t len) {
  return send(c->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* ---- tables --------------------------------------------------------------- */

static size_t id_bucket(const sipr_tp_t *tp, uint64_t id) {
  return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 40) & (tp->nbuckets - 1);
}

static size_t addr_bucket(const sipr_tp_t *tp, const sipr_tp_addr_t *a) {
  return sipr__tp_sa_hash(&a->sa, 1) & (tp->nbuckets - 1);
}

static size_t ip_bucket(const sipr_tp_t *tp, const struct sockaddr_storage *sa) {
  return sipr__tp_sa_hash(sa, 0) & (tp->nbuckets - 1);
}

int sipr__tcp_init(sipr_tp_t *tp) {
  tp->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  size_t n = 64;
  while (n < tp->cfg.max_conns && n < 65536)
    n <<= 1;
  tp->nbuckets = n;
  tp->by_id = calloc(n, sizeof(*tp->by_id));
  tp->by_addr = calloc(n, sizeof(*tp->by_addr));
  tp->by_ip = calloc(n, sizeof(*tp->by_ip));
  if (!tp->by_id || !tp->by_addr || !tp->by_ip) {
    free(tp->by_id);
    free(tp->by_addr);
    free(tp->by_ip);
    if (tp->spare_fd >= 0)
      close(tp->spare_fd);
    return SIPR_ENOMEM;
  }
  return 0;
}

static tp_conn_t *find_id(sipr_tp_t *tp, uint64_t id) {
  for (tp_conn_t *c = tp->by_id[id_bucket(tp, id)]; c; c = c->id_next)
    if (c->id == id)
      return c;
  return NULL;
}

/* An open or connecting connection to dest that is not closing. */
static tp_conn_t *find_addr(sipr_tp_t *tp, const sipr_tp_addr_t *dest) {
  for (tp_conn_t *c = tp->by_addr[addr_bucket(tp, dest)]; c; c = c->addr_next)
    if (!c->doomed && sipr_tp_addr_eq(&c->remote, dest))
      return c;
  return NULL;
}

static tp_ipcount_t **ip_slot(sipr_tp_t *tp, const struct sockaddr_storage *sa) {
  tp_ipcount_t **pp = &tp->by_ip[ip_bucket(tp, sa)];
  while (*pp && !sipr__tp_ip_eq(&(*pp)->ip, sa))
    pp = &(*pp)->next;
  return pp;
}

static unsigned ip_count(sipr_tp_t *tp, const struct sockaddr_storage *sa) {
  tp_ipcount_t *e = *ip_slot(tp, sa);
  return e ? e->n : 0;
}

static int ip_inc(sipr_tp_t *tp, const struct sockaddr_storage *sa) {
  tp_ipcount_t **pp = ip_slot(tp, sa);
  if (!*pp) {
    tp_ipcount_t *e = calloc(1, sizeof(*e));
    if (!e)
      return SIPR_ENOMEM;
    e->ip = *sa;
    *pp = e;
  }
  (*pp)->n++;
  return 0;
}

static void ip_dec(sipr_tp_t *tp, const struct sockaddr_storage *sa) {
  tp_ipcount_t **pp = ip_slot(tp, sa);
  tp_ipcount_t *e = *pp;
  if (e && --e->n == 0) {
    *pp = e->next;
    free(e);
  }
}

static void unlink_conn(sipr_tp_t *tp, tp_conn_t *c) {
  tp_conn_t **pp = &tp->by_id[id_bucket(tp, c->id)];
  while (*pp && *pp != c)
    pp = &(*pp)->id_next;
  if (*pp)
    *pp = c->id_next;
  pp = &tp->by_addr[addr_bucket(tp, &c->remote)];
  while (*pp && *pp != c)
    pp = &(*pp)->addr_next;
  if (*pp)
    *pp = c->addr_next;
  if (c->all_prev)
    c->all_prev->all_next = c->all_next;
  else
    tp->conns = c->all_next;
  if (c->all_next)
    c->all_next->all_prev = c->all_prev;
}

/* ---- timers ----------------------------------------------------------------- */

static uint64_t conn_deadline(const tp_conn_t *c) {
  const sipr_tp_cfg_t *cfg = &c->tp->cfg;
  uint64_t d = c->last + cfg->idle_timeout_ms;
  if (c->state == C_CONNECTING && c->created + cfg->connect_timeout_ms < d)
    d = c->created + cfg->connect_timeout_ms;
  if (c->partial_since && c->partial_since + cfg->partial_timeout_ms < d)
    d = c->partial_since + cfg->partial_timeout_ms;
  return d;
}

static void conn_arm(tp_conn_t *c) {
  uint64_t now = sipr_loop_now(c->tp->loop), d = conn_deadline(c);
  sipr_timer_start(c->tp->loop, &c->timer, d > now ? d - now : 0);
}

/* Marks c to close; it closes at the end of its I/O callback or at its
 * timer, which fires at once. */
static void doom(tp_conn_t *c, int why) {
  if (c->doomed)
    return;
  c->doomed = why;
  sipr_timer_start(c->tp->loop, &c->timer, 0);
}

static void conn_close(tp_conn_t *c) {
  sipr_tp_t *tp = c->tp;
  int why = c->doomed ? c->doomed : CL_NORMAL;
  if (why == CL_KILLED)
    tp->st.conns_killed++;
  else if (why == CL_IDLE)
    tp->st.conns_idle++;
  unlink_conn(tp, c);
  if (!c->outgoing)
    ip_dec(tp, &c->remote.sa);
  sipr_timer_stop(tp->loop, &c->timer);
  sipr_loop_del_fd(tp->loop, c->fd);
  close(c->fd);
  sipr_framer_free(&c->fr);
  sipr_buf_free(&c->wq);
  tp->st.conns_open--;
  uint64_t id = c->id;
  free(c);
  /* §18.4 / §17.1.4: the layer above learns that the connection is gone. */
  if (!tp->freeing && tp->ops.conn_closed)
    tp->ops.conn_closed(tp->user, tp, id);
}

static void conn_timer(sipr_loop_t *loop, void *arg) {
  tp_conn_t *c = arg;
  const sipr_tp_cfg_t *cfg = &c->tp->cfg;
  uint64_t now = sipr_loop_now(loop);
  if (!c->doomed) {
    if (c->state == C_CONNECTING && now >= c->created + cfg->connect_timeout_ms) {
      c->tp->st.tx_errors++;
      c->doomed = CL_FAILED;
    } else if (c->partial_since &&
               now >= c->partial_since + cfg->partial_timeout_ms) {
      c->doomed = CL_KILLED; /* stalled inside a message */
    } else if (now >= c->last + cfg->idle_timeout_ms) {
      c->doomed = CL_IDLE;
    }
  }
  if (c->doomed)
    conn_close(c);
  else
    conn_arm(c); /* activity moved the deadline: lazy re-arm */
}

/* ---- writing -------------------------------------------------------------------- */

static void set_events(tp_conn_t *c, unsigned ev) {
  if (c->ev != ev && sipr_loop_mod_fd(c->tp->loop, c->fd, ev) == 0)
    c->ev = ev;
}

static size_t wq_pending(const tp_conn_t *c) { return c->wq.len - c->wq_off; }

/* Writes what the queue holds until the socket would block. */
static void conn_flush(tp_conn_t *c) {
  while (wq_pending(c)) {
    ssize_t n = c->wr(c, c->wq.p + c->wq_off, wq_pending(c));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        doom(c, CL_NORMAL);
      return;
    }
    c->wq_off += (size_t)n;
  }
  c->wq.len = c->wq_off = 0;
  if (c->wq.cap > TCP_WQ_KEEP)
    sipr_buf_free(&c->wq);
  set_events(c, SIPR_EV_READ);
}

/* Writes buf now, or queues what does not fit in the socket. 0, or
 * SIPR_EIO when the connection failed or the queue would pass
 * max_conn_buffer (the connection is then closed). */
static int conn_write(tp_conn_t *c, const char *buf, size_t len) {
  sipr_tp_t *tp = c->tp;
  if (c->doomed)
    return SIPR_EIO;
  if (wq_pending(c) + len > tp->cfg.max_conn_buffer) {
    doom(c, CL_KILLED); /* the peer does not read what we send */
    return SIPR_EIO;
  }
  if (c->state == C_OPEN && !wq_pending(c)) {
    ssize_t n;
    do
      n = c->wr(c, buf, len);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        doom(c, CL_NORMAL);
        return SIPR_EIO;
      }
      n = 0;
    }
    buf += n;
    len -= (size_t)n;
  }
  if (len) {
    if (c->wq_off && c->wq_off >= c->wq.len / 2) {
      memmove(c->wq.p, c->wq.p + c->wq_off, wq_pending(c));
      c->wq.len -= c->wq_off;
      c->wq_off = 0;
    }
    if (sipr_buf_append(&c->wq, buf, len)) {
      doom(c, CL_NORMAL);
      return SIPR_EIO;
    }
    set_events(c, SIPR_EV_READ | SIPR_EV_WRITE);
  }
  c->last = sipr_loop_now(tp->loop);
  return 0;
}

/* ---- reading -------------------------------------------------------------------- */

/* 1 when p[0..n) is the start of a CRLFCRLF ping ("\r", "\r\n",
 * "\r\n\r"): all the framer may hold back between messages while a
 * keep-alive is still arriving. Any other pending bytes, CRs and LFs
 * included ("\n\n\n...", "\r\r..."), are a message in progress for the
 * framer, which buffers them until max_stream_msg. */
static int ping_prefix(const char *p, size_t n) {
  return n < 4 && memcmp(p, "\r\n\r\n", n) == 0;
}

/* Hands every whole frame up. Returns 0, or -1 when the stream is broken. */
static int conn_drain(tp_conn_t *c) {
  sipr_tp_t *tp = c->tp;
  const char *p;
  size_t len;
  int rc = 0; /* set by the loop; GCC -O2 + ASan sees a maybe-uninitialized */
  while (!c->doomed && (rc = sipr_framer_next(&c->fr, &p, &len)) >= 0) {
    if (rc == SIPR_FRAME_MSG) {
      c->partial_since = 0; /* progress */
      sipr_tp_src_t src;
      src.remote = c->remote;
      src.local = c->local;
      src.conn_id = c->id;
      sipr__tp_dispatch(tp, p, len, SIPR_PARSE_STREAM, &src);
    } else if (rc == SIPR_FRAME_PING) {
      /* RFC 5626 §3.5.1: a CRLFCRLF ping is answered with a CRLF pong. */
      tp->st.keepalives++;
      conn_write(c, "\r\n", 2);
    } /* SIPR_FRAME_PONG: the peer answered a ping; nothing to do */
  }
  if (c->doomed || rc == SIPR_EAGAIN)
    return 0;
  /* Missing or invalid Content-Length, a message over the cap: no way to
   * find the next message, so the connection goes (§18.3). */
  tp->st.rx_bad++;
  sipr__tp_refused(tp, &c->remote, SIPR_STR_NULL, 0,
                   c->fr.err.reason ? c->fr.err.reason : "stream framing error");
  return -1;
}

static void conn_read(tp_conn_t *c) {
  sipr_tp_t *tp = c->tp;
  char tmp[TCP_READ_CHUNK];
  size_t cap = tp->cfg.max_stream_msg < sizeof(tmp) ? tp->cfg.max_stream_msg
                                                    : sizeof(tmp);
  for (int r = 0; r < TCP_READS_PER_EVENT && !c->doomed; r++) {
    ssize_t n = c->rd(c, tmp, cap);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        doom(c, CL_NORMAL);
      break;
    }
    if (n == 0) { /* the peer closed its side */
      doom(c, CL_NORMAL);
      break;
    }
    c->last = sipr_loop_now(tp->loop);
    if (sipr_framer_feed(&c->fr, tmp, (size_t)n)) {
      tp->st.rx_bad++; /* over the framer's bound, or out of memory */
      sipr__tp_refused(tp, &c->remote, SIPR_STR_NULL, 0,
                       "stream buffer over its cap");
      doom(c, CL_KILLED);
      break;
    }
    if (conn_drain(c)) {
      doom(c, CL_KILLED);
      break;
    }
    if ((size_t)n < cap)
      break; /* the socket is drained */
  }
  if (c->doomed)
    return;
  /* A message begun but not finished starts the partial timer; the start
   * of a keep-alive between messages does not. */
  size_t pend = c->fr.len - c->fr.start;
  if (pend && !ping_prefix(c->fr.buf + c->fr.start, pend)) {
    if (!c->partial_since) {
      c->partial_since = c->last;
      if (!sipr_timer_armed(&c->timer) || c->timer.due > conn_deadline(c))
        conn_arm(c);
    }
  } else {
    c->partial_since = 0;
  }
}

static void conn_io(sipr_loop_t *loop, int fd, unsigned events, void *arg) {
  tp_conn_t *c = arg;
  (void)loop;
  (void)fd;
  if (c->doomed) {
    conn_close(c);
    return;
  }
  if (c->state == C_CONNECTING) {
    int err = 0;
    socklen_t el = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) || err) {
      c->tp->st.tx_errors++;
      c->doomed = CL_FAILED; /* §18.4: the user learns via conn_closed */
      conn_close(c);
      return;
    }
    if (!(events & (SIPR_EV_WRITE | SIPR_EV_READ)))
      return;
    c->state = C_OPEN;
  }
  if (events & (SIPR_EV_READ | SIPR_EV_ERROR))
    conn_read(c);
  if (!c->doomed && (events & SIPR_EV_WRITE))
    conn_flush(c);
  if (c->doomed)
    conn_close(c);
}

/* ---- connections ------------------------------------------------------------------ */

static tp_conn_t *conn_new(sipr_tp_t *tp, int fd, const sipr_tp_addr_t *remote,
                           const sipr_tp_addr_t *local, int outgoing, int state) {
  tp_conn_t *c = calloc(1, sizeof(*c));
  if (!c)
    return NULL;
  c->tp = tp;
  c->fd = fd;
  c->state = state;
  c->outgoing = outgoing;
  c->remote = *remote;
  c->remote.proto = SIPR_TP_TCP;
  c->local = *local;
  c->local.proto = SIPR_TP_TCP;
  c->rd = tcp_rd;
  c->wr = tcp_wr;
  c->id = ((uint64_t)tp->cfg.worker << 56) | (++tp->next_conn & 0x00ffffffffffffffull);
  sipr_framer_init(&c->fr, tp->cfg.max_stream_msg);
  sipr_buf_init(&c->wq);
  sipr_timer_init(&c->timer, conn_timer, c);
  c->ev = SIPR_EV_READ | (state == C_CONNECTING ? SIPR_EV_WRITE : 0);
  if (!outgoing && ip_inc(tp, &remote->sa)) {
    free(c);
    return NULL;
  }
  if (sipr_loop_add_fd(tp->loop, fd, c->ev, conn_io, c)) {
    if (!outgoing)
      ip_dec(tp, &remote->sa);
    free(c);
    return NULL;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  size_t b = id_bucket(tp, c->id);
  c->id_next = tp->by_id[b];
  tp->by_id[b] = c;
  b = addr_bucket(tp, &c->remote);
  c->addr_next = tp->by_addr[b];
  tp->by_addr[b] = c;
  c->all_next = tp->conns;
  if (tp->conns)
    tp->conns->all_prev = c;
  tp->conns = c;
  c->created = c->last = sipr_loop_now(tp->loop);
  tp->st.conns_open++;
  conn_arm(c);
  return c;
}

static void accept_io(sipr_loop_t *loop, int fd, unsigned events, void *arg) {
  tp_listener_t *l = arg;
  sipr_tp_t *tp = l->tp;
  (void)loop;
  (void)events;
  for (int k = 0; k < TCP_ACCEPTS_PER_EVENT; k++) {
    sipr_tp_addr_t remote;
    memset(&remote, 0, sizeof(remote));
    remote.proto = SIPR_TP_TCP;
    socklen_t sl = sizeof(remote.sa);
    int cfd = accept4(fd, (struct sockaddr *)&remote.sa, &sl,
                      SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if ((errno == EMFILE || errno == ENFILE) && tp->spare_fd >= 0) {
        /* Out of descriptors: the pending connection would keep the
         * (level-triggered) listener ready forever. Give up the spare
         * descriptor to accept and drop it, then take the spare again. */
        close(tp->spare_fd);
        cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd >= 0)
          close(cfd);
        tp->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        tp->st.conns_refused++;
        continue;
      }
      break; /* EAGAIN */
    }
    remote.salen = sl;
    /* Caps: every connection, and those from one source IP. */
    /* The local address: the listener's, or on a wildcard listener the
     * address the peer actually reached. */
    sipr_tp_addr_t local = l->addr;
    socklen_t ll = sizeof(local.sa);
    if (l->wildcard && getsockname(cfd, (struct sockaddr *)&local.sa, &ll) == 0)
      local.salen = ll;
    if (tp->st.conns_open >= tp->cfg.max_conns ||
        ip_count(tp, &remote.sa) >= tp->cfg.max_conns_per_ip ||
        !conn_new(tp, cfd, &remote, &local, 0, C_OPEN)) {
      close(cfd);
      tp->st.conns_refused++;
      continue;
    }
    tp->st.conns_accepted++;
  }
}

int sipr__tcp_listen(sipr_tp_t *tp, tp_listener_t *l) {
  int fam = l->addr.sa.ss_family;
  int fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return SIPR_EIO;
  int one = 1;
  socklen_t sl = sizeof(l->addr.sa);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
      (fam == AF_INET6 &&
       setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
      bind(fd, (const struct sockaddr *)&l->addr.sa, l->addr.salen) ||
      listen(fd, SOMAXCONN) ||
      getsockname(fd, (struct sockaddr *)&l->addr.sa, &sl))
    goto fail;
  l->addr.salen = sl;
  l->fd = fd;
  if (sipr_loop_add_fd(tp->loop, fd, SIPR_EV_READ, accept_io, l))
    goto fail;
  return 0;
fail:
  close(fd);
  l->fd = -1;
  return SIPR_EIO;
}

/* A new outgoing connection (non-blocking connect). */
static tp_conn_t *conn_connect(sipr_tp_t *tp, const sipr_tp_addr_t *dest) {
  if (tp->st.conns_open >= tp->cfg.max_conns) {
    tp->st.conns_refused++;
    return NULL;
  }
  int fd = socket(dest->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return NULL;
  int state = C_OPEN;
  if (connect(fd, (const struct sockaddr *)&dest->sa, dest->salen)) {
    if (errno != EINPROGRESS) {
      close(fd);
      return NULL;
    }
    state = C_CONNECTING;
  }
  sipr_tp_addr_t local;
  memset(&local, 0, sizeof(local));
  socklen_t sl = sizeof(local.sa);
  if (getsockname(fd, (struct sockaddr *)&local.sa, &sl) == 0)
    local.salen = sl;
  tp_conn_t *c = conn_new(tp, fd, dest, &local, 1, state);
  if (!c) {
    close(fd);
    return NULL;
  }
  tp->st.conns_connected++;
  return c;
}

int sipr__tcp_send_conn(sipr_tp_t *tp, uint64_t id, const char *buf,
                        size_t len) {
  tp_conn_t *c = find_id(tp, id);
  if (!c || c->doomed)
    return SIPR_ENOENT;
  int rc = conn_write(c, buf, len);
  if (rc)
    tp->st.tx_errors++;
  else
    tp->st.tx_msgs++;
  return rc;
}

int sipr__tcp_send_to(sipr_tp_t *tp, const sipr_tp_addr_t *dest,
                      const char *buf, size_t len, uint64_t *id) {
  sipr_tp_addr_t d = *dest;
  d.proto = SIPR_TP_TCP;
  tp_conn_t *c = find_addr(tp, &d);
  if (!c)
    c = conn_connect(tp, &d);
  if (!c || conn_write(c, buf, len)) {
    tp->st.tx_errors++;
    return SIPR_EIO;
  }
  tp->st.tx_msgs++;
  if (id)
    *id = c->id;
  return 0;
}

void sipr__tcp_free(sipr_tp_t *tp) {
  while (tp->conns) {
    tp_conn_t *c = tp->conns;
    c->doomed = CL_NORMAL;
    conn_close(c); /* tp->freeing: no callback */
  }
  free(tp->by_id);
  free(tp->by_addr);
  free(tp->by_ip);
  tp->by_id = tp->by_addr = NULL;
  tp->by_ip = NULL;
  if (tp->spare_fd >= 0)
    close(tp->spare_fd);
  tp->spare_fd = -1;
}
