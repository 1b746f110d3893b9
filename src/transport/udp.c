/*
 * UDP (RFC 3261 §18): one non-blocking socket per worker per listening
 * address (SO_REUSEPORT: the kernel spreads datagrams over the workers'
 * sockets), read with recvmmsg() in batches of TP_UDP_BATCH into one
 * buffer per datagram; each datagram is one message (§18.3) handed to the
 * shared receive path. Sends leave from a listening socket, so responses
 * leave from the address requests came to (RFC 3581 §4): while a batch is
 * handed up, sends from its socket (the answers made in the callbacks) are
 * copied into one queue and leave together with sendmmsg() after the
 * batch; any other send is a single sendto().
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tp_internal.h"

/* Rounds of recvmmsg() per readiness event before other fds get a turn. */
#define UDP_ROUNDS 8
/* Socket receive buffer asked for (the kernel caps it at rmem_max): room
 * for bursts while the worker is busy. */
#define UDP_RCVBUF (1 << 20)

/* Datagrams queued while a batch is handed up: their bytes back to back
 * in buf, one mmsghdr each. */
struct udp_out {
  struct mmsghdr msgs[TP_UDP_BATCH];
  struct iovec iov[TP_UDP_BATCH];
  struct sockaddr_storage to[TP_UDP_BATCH];
  unsigned n;
  size_t used;
  char buf[TP_UDP_OUT];
};

/* Sends what is queued from tp->udp_batch; each datagram that fails is
 * counted in tx_errors and skipped, the rest still go. */
static void udp_flush(sipr_tp_t *tp) {
  udp_out_t *q = tp->udp_out;
  unsigned i = 0;
  while (i < q->n) {
    int k = sendmmsg(tp->udp_batch->fd, q->msgs + i, q->n - i,
                     MSG_DONTWAIT | MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR)
      continue;
    tp->st.tx_batches++;
    if (k <= 0) { /* datagram i failed (an error past the first is
                     reported by the next call) */
      tp->st.tx_errors++;
      i++;
      continue;
    }
    for (unsigned j = i; j < i + (unsigned)k; j++)
      if (q->msgs[j].msg_len == q->iov[j].iov_len)
        tp->st.tx_msgs++;
      else
        tp->st.tx_errors++;
    i += (unsigned)k;
  }
  q->n = 0;
  q->used = 0;
}

/* Hands the n datagrams of a batch up, sends from l queued meanwhile. */
static void udp_batch(sipr_tp_t *tp, tp_listener_t *l, int n) {
  struct mmsghdr *msgs = tp->udp_msgs;
  struct iovec *iov = tp->udp_iov;
  struct sockaddr_storage *from = tp->udp_from;
  tp->udp_batch = l;
  for (int i = 0; i < n; i++) {
    if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
      tp->st.rx_bad++;
      tp->st.rx_dropped++;
      continue;
    }
    sipr_tp_src_t src;
    memset(&src, 0, sizeof(src));
    src.remote.proto = SIPR_TP_UDP;
    src.remote.sa = from[i];
    src.remote.salen = msgs[i].msg_hdr.msg_namelen;
    src.local = l->addr;
    sipr__tp_dispatch(tp, iov[i].iov_base, msgs[i].msg_len,
                      SIPR_PARSE_DATAGRAM, &src);
  }
  udp_flush(tp);
  tp->udp_batch = NULL;
}

static void udp_io(sipr_loop_t *loop, int fd, unsigned events, void *arg) {
  tp_listener_t *l = arg;
  sipr_tp_t *tp = l->tp;
  struct mmsghdr *msgs = tp->udp_msgs;
  struct sockaddr_storage *from = tp->udp_from;
  (void)loop;
  (void)events;
  for (int round = 0; round < UDP_ROUNDS; round++) {
    /* Every header is ready (udp_buffers() and the reset below): a wake-up
     * for one datagram does not rewrite all TP_UDP_BATCH of them. */
    int n = recvmmsg(fd, msgs, TP_UDP_BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0)
      break; /* EAGAIN, or an error (ICMP reports surface here): wait */
    udp_batch(tp, l, n);
    for (int i = 0; i < n; i++) { /* what the kernel wrote */
      msgs[i].msg_len = 0;
      msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
      msgs[i].msg_hdr.msg_flags = 0;
    }
    if (n < TP_UDP_BATCH)
      break;
  }
}

static int udp_buffers(sipr_tp_t *tp) {
  if (tp->udp_buf)
    return 0;
  tp->udp_buf = malloc((size_t)TP_UDP_BATCH * TP_UDP_BUF);
  tp->udp_msgs = calloc(TP_UDP_BATCH, sizeof(struct mmsghdr));
  tp->udp_iov = calloc(TP_UDP_BATCH, sizeof(struct iovec));
  tp->udp_from = calloc(TP_UDP_BATCH, sizeof(struct sockaddr_storage));
  tp->udp_out = calloc(1, sizeof(udp_out_t));
  if (!tp->udp_buf || !tp->udp_msgs || !tp->udp_iov || !tp->udp_from ||
      !tp->udp_out) {
    sipr__udp_free(tp);
    return SIPR_ENOMEM;
  }
  struct mmsghdr *msgs = tp->udp_msgs;
  struct iovec *iov = tp->udp_iov;
  struct sockaddr_storage *from = tp->udp_from;
  for (unsigned i = 0; i < TP_UDP_BATCH; i++) {
    iov[i].iov_base = tp->udp_buf + (size_t)i * TP_UDP_BUF;
    iov[i].iov_len = TP_UDP_BUF;
    msgs[i].msg_hdr.msg_name = &from[i];
    msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  return 0;
}

int sipr__udp_listen(sipr_tp_t *tp, tp_listener_t *l) {
  int rc = udp_buffers(tp);
  if (rc)
    return rc;
  int fam = l->addr.sa.ss_family;
  int fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return SIPR_EIO;
  int one = 1, rcvbuf = UDP_RCVBUF;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)); /* best effort */
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
      (fam == AF_INET6 &&
       setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
      bind(fd, (const struct sockaddr *)&l->addr.sa, l->addr.salen))
    goto fail;
  socklen_t sl = sizeof(l->addr.sa);
  if (getsockname(fd, (struct sockaddr *)&l->addr.sa, &sl))
    goto fail;
  l->addr.salen = sl;
  l->fd = fd;
  if (sipr_loop_add_fd(tp->loop, fd, SIPR_EV_READ, udp_io, l))
    goto fail;
  return 0;
fail:
  close(fd);
  l->fd = -1;
  return SIPR_EIO;
}

int sipr__udp_send(sipr_tp_t *tp, tp_listener_t *l, const sipr_tp_addr_t *dest,
                   const char *buf, size_t len) {
  if (!l || l->addr.sa.ss_family != dest->sa.ss_family)
    l = sipr__tp_listener(tp, SIPR_TP_UDP, dest, 0);
  if (!l || len > SIPR_MAX_MSG_UDP) {
    tp->st.tx_errors++;
    return SIPR_EIO;
  }
  if (tp->udp_hold && !tp->udp_batch && tp->udp_out)
    tp->udp_batch = l; /* sipr_tp_hold(): queue from this socket */
  if (l == tp->udp_batch) {
    udp_out_t *q = tp->udp_out;
    if (q->n == TP_UDP_BATCH || q->used + len > TP_UDP_OUT)
      udp_flush(tp); /* full: send what is queued, keep queuing */
    struct mmsghdr *m = &q->msgs[q->n];
    memcpy(q->buf + q->used, buf, len);
    memcpy(&q->to[q->n], &dest->sa, dest->salen);
    q->iov[q->n] = (struct iovec){q->buf + q->used, len};
    memset(m, 0, sizeof(*m));
    m->msg_hdr.msg_name = &q->to[q->n];
    m->msg_hdr.msg_namelen = dest->salen;
    m->msg_hdr.msg_iov = &q->iov[q->n];
    m->msg_hdr.msg_iovlen = 1;
    q->used += len;
    q->n++;
    return 0;
  }
  ssize_t n;
  do
    n = sendto(l->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL,
               (const struct sockaddr *)&dest->sa, dest->salen);
  while (n < 0 && errno == EINTR);
  if (n < 0 || (size_t)n != len) {
    /* A full socket buffer too: the transaction retransmits (§17). */
    tp->st.tx_errors++;
    return SIPR_EIO;
  }
  tp->st.tx_msgs++;
  return 0;
}

void sipr_tp_hold(sipr_tp_t *tp) {
  if (tp && !tp->udp_batch)
    tp->udp_hold = 1;
}

void sipr_tp_release(sipr_tp_t *tp) {
  if (!tp || !tp->udp_hold)
    return;
  tp->udp_hold = 0;
  if (tp->udp_batch) {
    udp_flush(tp);
    tp->udp_batch = NULL;
  }
}

void sipr__udp_free(sipr_tp_t *tp) {
  free(tp->udp_buf);
  free(tp->udp_msgs);
  free(tp->udp_iov);
  free(tp->udp_from);
  free(tp->udp_out);
  tp->udp_out = NULL;
  tp->udp_buf = NULL;
  tp->udp_msgs = tp->udp_iov = tp->udp_from = NULL;
}
