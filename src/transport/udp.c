/*
 * UDP (RFC 3261 §18): one non-blocking socket per worker per listening
 * address (SO_REUSEPORT: the kernel spreads datagrams over the workers'
 * sockets), read with recvmmsg() in batches of TP_UDP_BATCH into one
 * buffer per datagram; each datagram is one message (§18.3) handed to the
 * shared receive path. Sends are single sendto() calls from the listening
 * socket, so responses leave from the address requests came to
 * (RFC 3581 §4).
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

static void udp_io(sipr_loop_t *loop, int fd, unsigned events, void *arg) {
  tp_listener_t *l = arg;
  sipr_tp_t *tp = l->tp;
  struct mmsghdr *msgs = tp->udp_msgs;
  struct iovec *iov = tp->udp_iov;
  struct sockaddr_storage *from = tp->udp_from;
  (void)loop;
  (void)events;
  for (int round = 0; round < UDP_ROUNDS; round++) {
    for (unsigned i = 0; i < TP_UDP_BATCH; i++) {
      iov[i].iov_base = tp->udp_buf + (size_t)i * TP_UDP_BUF;
      iov[i].iov_len = TP_UDP_BUF;
      memset(&msgs[i], 0, sizeof(msgs[i]));
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(fd, msgs, TP_UDP_BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0)
      break; /* EAGAIN, or an error (ICMP reports surface here): wait */
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
  if (!tp->udp_buf || !tp->udp_msgs || !tp->udp_iov || !tp->udp_from) {
    sipr__udp_free(tp);
    return SIPR_ENOMEM;
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

void sipr__udp_free(sipr_tp_t *tp) {
  free(tp->udp_buf);
  free(tp->udp_msgs);
  free(tp->udp_iov);
  free(tp->udp_from);
  tp->udp_buf = NULL;
  tp->udp_msgs = tp->udp_iov = tp->udp_from = NULL;
}
