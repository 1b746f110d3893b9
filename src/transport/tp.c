/*
 * The transport object (include/sipr/transport.h): configuration, the
 * listen list and aliases, counters, the receive path every protocol
 * shares, and where responses and requests go (§18.1.1, §18.2.2,
 * RFC 3581 §4).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sipr/print.h"
#include "tp_internal.h"

void sipr_tp_cfg_default(sipr_tp_cfg_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->max_stream_msg = 65535;
  cfg->max_conns = 4096;
  cfg->max_conns_per_ip = 64;
  cfg->max_conn_buffer = 256 * 1024;
  cfg->idle_timeout_ms = 180000;
  cfg->partial_timeout_ms = 32000;
  cfg->connect_timeout_ms = 32000;
  cfg->udp_mtu_switch = 1300;
  cfg->worker = 0;
}

sipr_tp_t *sipr_tp_new(sipr_loop_t *loop, const sipr_tp_cfg_t *cfg,
                       const sipr_tp_user_ops_t *ops, void *user) {
  if (!loop || !ops || !ops->recv)
    return NULL;
  sipr_tp_t *tp = calloc(1, sizeof(*tp));
  if (!tp)
    return NULL;
  tp->loop = loop;
  sipr_tp_cfg_t def;
  sipr_tp_cfg_default(&def);
  tp->cfg = cfg ? *cfg : def;
  /* Zero fields take their defaults. */
  if (!tp->cfg.max_stream_msg)
    tp->cfg.max_stream_msg = def.max_stream_msg;
  if (!tp->cfg.max_conns)
    tp->cfg.max_conns = def.max_conns;
  if (!tp->cfg.max_conns_per_ip)
    tp->cfg.max_conns_per_ip = def.max_conns_per_ip;
  if (!tp->cfg.max_conn_buffer)
    tp->cfg.max_conn_buffer = def.max_conn_buffer;
  if (!tp->cfg.idle_timeout_ms)
    tp->cfg.idle_timeout_ms = def.idle_timeout_ms;
  if (!tp->cfg.partial_timeout_ms)
    tp->cfg.partial_timeout_ms = def.partial_timeout_ms;
  if (!tp->cfg.connect_timeout_ms)
    tp->cfg.connect_timeout_ms = def.connect_timeout_ms;
  if (!tp->cfg.udp_mtu_switch)
    tp->cfg.udp_mtu_switch = def.udp_mtu_switch;
  tp->cfg.worker &= 0xff;
  tp->ops = *ops;
  tp->user = user;
  tp->rnd = (uint64_t)(uintptr_t)tp ^ (sipr_loop_now(loop) * 0x9e3779b97f4a7c15ull) ^
            ((uint64_t)getpid() << 32) ^ 0x2545f4914f6cdd1dull;
  if (!tp->rnd)
    tp->rnd = 1;
  sipr_arena_init(&tp->arena, tp->arena_first, sizeof(tp->arena_first),
                  TP_ARENA_CAP);
  sipr_buf_init(&tp->rx_copy);
  sipr_buf_init(&tp->tx);
  if (sipr__tcp_init(tp)) {
    sipr_arena_free(&tp->arena);
    free(tp);
    return NULL;
  }
  return tp;
}

void sipr_tp_free(sipr_tp_t *tp) {
  if (!tp)
    return;
  tp->freeing = 1;
  sipr__tcp_free(tp);
  for (unsigned i = 0; i < tp->nlis; i++) {
    sipr_loop_del_fd(tp->loop, tp->lis[i].fd);
    close(tp->lis[i].fd);
  }
  sipr__udp_free(tp);
  sipr_arena_free(&tp->arena);
  sipr_buf_free(&tp->rx_copy);
  sipr_buf_free(&tp->tx);
  free(tp);
}

int sipr_tp_listen(sipr_tp_t *tp, const sipr_tp_addr_t *addr) {
  if (!tp || !addr)
    return SIPR_EINVAL;
  if (addr->proto != SIPR_TP_UDP && addr->proto != SIPR_TP_TCP)
    return SIPR_EINVAL; /* TLS, WS, WSS: later */
  if (tp->nlis == TP_MAX_LISTEN)
    return SIPR_ETOOBIG;
  tp_listener_t *l = &tp->lis[tp->nlis];
  memset(l, 0, sizeof(*l));
  l->tp = tp;
  l->addr = *addr;
  l->fd = -1;
  l->wildcard = sipr__tp_ip_any(&addr->sa);
  int rc = addr->proto == SIPR_TP_UDP ? sipr__udp_listen(tp, l)
                                      : sipr__tcp_listen(tp, l);
  if (rc)
    return rc;
  tp->nlis++;
  return 0;
}

const sipr_tp_addr_t *sipr_tp_local(const sipr_tp_t *tp, unsigned i) {
  return tp && i < tp->nlis ? &tp->lis[i].addr : NULL;
}

tp_listener_t *sipr__tp_listener(sipr_tp_t *tp, sipr_tp_proto_t proto,
                                 const sipr_tp_addr_t *like, int exact) {
  for (unsigned i = 0; i < tp->nlis; i++) {
    tp_listener_t *l = &tp->lis[i];
    if (l->addr.proto != proto || l->addr.sa.ss_family != like->sa.ss_family)
      continue;
    if (!exact || (sipr__tp_ip_eq(&l->addr.sa, &like->sa) &&
                   sipr_tp_addr_port(&l->addr) == sipr_tp_addr_port(like)))
      return l;
  }
  return NULL;
}

int sipr_tp_add_alias(sipr_tp_t *tp, sipr_str_t host, int port) {
  if (!tp || !host.p || !host.len || host.len >= TP_ALIAS_LEN || port > 65535)
    return SIPR_EINVAL;
  for (size_t i = 0; i < host.len; i++)
    if ((unsigned char)host.p[i] <= ' ' || host.p[i] == ';' || host.p[i] == ',')
      return SIPR_EINVAL;
  if (tp->nalias == TP_MAX_ALIAS)
    return SIPR_ETOOBIG;
  tp_alias_t *a = &tp->alias[tp->nalias++];
  memcpy(a->host, host.p, host.len);
  a->host[host.len] = '\0';
  a->len = host.len;
  a->port = port;
  return 0;
}

void sipr_tp_get_stats(const sipr_tp_t *tp, sipr_tp_stats_t *out) {
  *out = tp->st;
}

/* §18.1.1: over UDP, a request larger than 1300 bytes (path MTU unknown)
 * MUST go over a congestion-controlled transport: TCP. */
sipr_tp_proto_t sipr_tp_pick_proto(const sipr_tp_t *tp, sipr_tp_proto_t p,
                                   size_t len) {
  if (p == SIPR_TP_UDP && len > tp->cfg.udp_mtu_switch)
    return SIPR_TP_TCP;
  return p;
}

/* ---- receive path ------------------------------------------------------- */

/* The sent-by port: as written, else the transport's default (§18.1.1). */
static int via_port(const sipr_via_t *v) {
  if (v->port >= 0)
    return v->port;
  return sipr_tp_default_port(sipr_tp_proto_from_str(v->transport));
}

/* §18.1.2: is the top Via sent-by one we insert into requests? */
static int sent_by_ours(sipr_tp_t *tp, const sipr_via_t *v) {
  int port = via_port(v);
  struct sockaddr_storage sa;
  socklen_t salen;
  int numeric = (v->host_type == SIPR_HOST_IPV4 || v->host_type == SIPR_HOST_IPV6) &&
                sipr__tp_sa_set(&sa, &salen, v->host, 0) == 0;
  if (numeric)
    for (unsigned i = 0; i < tp->nlis; i++) {
      const tp_listener_t *l = &tp->lis[i];
      if (sipr_tp_addr_port(&l->addr) != port)
        continue;
      if (sipr__tp_ip_eq(&l->addr.sa, &sa) ||
          (l->wildcard && l->addr.sa.ss_family == sa.ss_family))
        return 1;
    }
  for (unsigned i = 0; i < tp->nalias; i++) {
    const tp_alias_t *a = &tp->alias[i];
    int aport = a->port >= 0 ? a->port
                             : sipr_tp_default_port(sipr_tp_proto_from_str(v->transport));
    if (aport != port)
      continue;
    struct sockaddr_storage as;
    socklen_t aslen;
    if (numeric && sipr__tp_sa_set(&as, &aslen, sipr_str_make(a->host, a->len), 0) == 0) {
      if (sipr__tp_ip_eq(&as, &sa))
        return 1;
    } else if (sipr_str_caseeq(v->host, sipr_str_make(a->host, a->len))) {
      return 1;
    }
  }
  return 0;
}

typedef struct via_edit {
  size_t off, del;
  const char *text;
  size_t len;
} via_edit_t;

/* §18.2.1 and RFC 3581 §4: writes into tp->rx_copy the bytes of buf with
 * the top Via of m given received= (when its sent-by host is a name or an
 * address other than the source, or when rport asks for it) and its empty
 * rport filled with the source port. Returns 1 when a copy was made, 0
 * when the Via needs nothing, SIPR_ENOMEM. */
static int rewrite_via(sipr_tp_t *tp, sipr_msg_t *m, const char *buf,
                       size_t len, const sipr_tp_src_t *src) {
  sipr_via_t *v = sipr_msg_via(m);
  char ip[64], rport[16], recv_txt[80];
  size_t iplen = sipr__tp_ip_str(&src->remote.sa, ip, sizeof(ip));
  if (!v || !iplen)
    return 0;
  via_edit_t ed[2];
  unsigned n = 0;

  /* RFC 3581 §4: an rport without value gets the source port, and then
   * received is inserted even when it equals the sent-by host. */
  sipr_param_t *rp = NULL, *rcv = NULL;
  for (sipr_param_t *pm = v->params; pm; pm = pm->next) {
    if (!rp && sipr_str_caseeq_z(pm->name, "rport"))
      rp = pm;
    else if (!rcv && sipr_str_caseeq_z(pm->name, "received"))
      rcv = pm;
  }
  int fill_rport = rp && !rp->value.p;
  if (fill_rport) {
    rport[0] = '=';
    int k = 1 + (int)sipr_u64_to_dec(
                    (uint64_t)sipr_tp_addr_port(&src->remote), rport + 1);
    ed[n++] = (via_edit_t){(size_t)(rp->name.p + rp->name.len - buf), 0, rport,
                           (size_t)k};
  }

  /* §18.2.1: received when the sent-by host is a domain name or an IP
   * address other than the packet's source. */
  struct sockaddr_storage sa;
  socklen_t salen;
  int need = fill_rport || v->host_type == SIPR_HOST_NAME ||
             sipr__tp_sa_set(&sa, &salen, v->host, 0) != 0 ||
             !sipr__tp_ip_eq(&sa, &src->remote.sa);
  if (rcv) {
    /* A received already there (the Via parser insists on a value; with
     * brackets or without, RFC 5118 §4.5) is corrected when it names
     * another address, needed or not: §18.2.2 would route by it. */
    if (sipr__tp_sa_set(&sa, &salen, rcv->value, 0) != 0 ||
        !sipr__tp_ip_eq(&sa, &src->remote.sa))
      ed[n++] = (via_edit_t){(size_t)(rcv->value.p - buf), rcv->value.len, ip,
                             iplen};
  } else if (need) {
    int k = 10 + (int)iplen; /* ";received=" ip, ip fits (checked above) */
    memcpy(recv_txt, ";received=", 10);
    memcpy(recv_txt + 10, ip, iplen);
    ed[n++] = (via_edit_t){(size_t)(v->raw.p + v->raw.len - buf), 0, recv_txt,
                           (size_t)k};
  }
  if (!n)
    return 0;
  if (n == 2 && ed[1].off < ed[0].off) {
    via_edit_t t = ed[0];
    ed[0] = ed[1];
    ed[1] = t;
  }
  sipr_buf_t *b = &tp->rx_copy;
  b->len = 0;
  b->failed = 0;
  size_t at = 0;
  for (unsigned i = 0; i < n; i++) {
    sipr_buf_append(b, buf + at, ed[i].off - at);
    sipr_buf_append(b, ed[i].text, ed[i].len);
    at = ed[i].off + ed[i].del;
  }
  sipr_buf_append(b, buf + at, len - at);
  return b->failed ? SIPR_ENOMEM : 1;
}

/* A random To tag for the answers the transport makes itself (§8.2.6.2,
 * §19.3): xorshift64*. */
static sipr_str_t make_tag(sipr_tp_t *tp, char *buf) {
  uint64_t x = tp->rnd;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  tp->rnd = x;
  x *= 0x2545f4914f6cdd1dull;
  snprintf(buf, 24, "tp%016llx", (unsigned long long)x);
  return sipr_str_make(buf, 18);
}

static int send_unreliable(sipr_tp_t *tp, const sipr_tp_src_t *src,
                           const sipr_via_t *via, int src_is_received,
                           const char *buf, size_t len);

/* A message that failed parse or check: a request with a status to answer
 * (not an ACK, §17.2.1) gets it (400, or 505, 416, 501, 513... as the
 * syntax layer says), with the reason phrase saying what was wrong; the
 * rest is dropped. Every one is counted. */
void sipr__tp_refused(sipr_tp_t *tp, const sipr_tp_addr_t *remote,
                      sipr_str_t method, unsigned status, const char *reason) {
  if (tp->ops.refused)
    tp->ops.refused(tp->user, tp, remote, method, status,
                    reason ? reason : "malformed message");
}

static void refuse(sipr_tp_t *tp, sipr_msg_t *m, const sipr_perr_t *err,
                   const sipr_tp_src_t *src) {
  tp->st.rx_bad++;
  sipr_str_t method = m && m->is_request ? m->method : SIPR_STR_NULL;
  if (!m || !m->is_request || err->status < 300 || err->status > 699 ||
      m->method_id == SIPR_METHOD_ACK || err->code == SIPR_ENOMEM) {
    tp->st.rx_dropped++;
    sipr__tp_refused(tp, &src->remote, method, 0, err->reason);
    return;
  }
  sipr__tp_refused(tp, &src->remote, method, (unsigned)err->status,
                   err->reason);
  char tagbuf[24];
  sipr_str_t tag = make_tag(tp, tagbuf);
  sipr_buf_t *b = &tp->tx;
  b->len = 0;
  b->failed = 0;
  int rc = sipr_print_response(b, m, (unsigned)err->status,
                               err->reason && *err->reason ? err->reason : NULL,
                               tag, SIPR_STR_NULL);
  if (rc == SIPR_EINVAL) { /* a reason the printer will not take */
    b->len = 0;
    b->failed = 0;
    rc = sipr_print_response(b, m, (unsigned)err->status, NULL, tag,
                             SIPR_STR_NULL);
  }
  if (rc) {
    tp->st.rx_dropped++;
    return;
  }
  /* Over the connection it came on; else by the Via, with the packet's
   * source standing in for the received= this request never got. */
  if (src->conn_id)
    rc = sipr__tcp_send_conn(tp, src->conn_id, b->p, b->len);
  else {
    sipr_via_t *via = sipr_msg_via(m);
    rc = via ? send_unreliable(tp, src, via, 1, b->p, b->len)
             : sipr__udp_send(tp, sipr__tp_listener(tp, SIPR_TP_UDP, &src->local, 1),
                              &src->remote, b->p, b->len);
  }
  if (rc == 0)
    tp->st.answered_400++;
}

static int is_keepalive(const char *buf, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (buf[i] != '\r' && buf[i] != '\n')
      return 0;
  return 1;
}

void sipr__tp_dispatch(sipr_tp_t *tp, const char *buf, size_t len,
                       unsigned flags, const sipr_tp_src_t *src) {
  sipr_msg_t *m = NULL;
  sipr_perr_t err;
  memset(&err, 0, sizeof(err));
  if (is_keepalive(buf, len)) /* CRLF keep-alives over UDP: nothing to do */
    return;
  sipr_arena_reset(&tp->arena);
  int rc = sipr_msg_parse(&tp->arena, buf, len, flags, &m, &err);
  if (rc) {
    refuse(tp, m, &err, src);
    return;
  }
  if (m->is_request) {
    /* §18.2.1 / RFC 3581 §4 first, then the checks, once, on the bytes
     * handed up: rewriting needs only the top Via, and a request refused
     * by the checks is answered with received/rport in place anyway. */
    rc = rewrite_via(tp, m, buf, len, src);
    if (rc < 0) {
      tp->st.rx_dropped++;
      return;
    }
    if (rc == 1) /* the edits are all inside the top Via's value */
      sipr_msg_rebase(m, m->first[SIPR_HDR_VIA], tp->rx_copy.p,
                      (ptrdiff_t)tp->rx_copy.len - (ptrdiff_t)len);
  }
  rc = sipr_msg_check(m, &err);
  if (rc) {
    refuse(tp, m, &err, src);
    return;
  }
  if (!m->is_request) {
    /* §18.1.2: a response whose top Via is not ours is silently discarded. */
    sipr_via_t *v = sipr_msg_via(m);
    if (!v || !sent_by_ours(tp, v)) {
      tp->st.rx_dropped++;
      tp->st.rx_foreign_via++;
      sipr__tp_refused(tp, &src->remote, SIPR_STR_NULL, 0,
                       "response whose top Via is not ours");
      return;
    }
  }
  tp->st.rx_msgs++;
  tp->ops.recv(tp->user, tp, m, src);
}

/* ---- sending ------------------------------------------------------------ */

static int numeric_dest(sipr_tp_addr_t *d, sipr_tp_proto_t proto, sipr_str_t host,
                        int port) {
  return sipr_tp_addr_set(d, proto, host, port);
}

/* §18.2.2 bullets 2-4 with RFC 3581 §4 between 2 and 3. src_is_received:
 * the Via was never rewritten, so the packet's source stands for its
 * received (and for rport when rport was asked for). */
static int send_unreliable(sipr_tp_t *tp, const sipr_tp_src_t *src,
                           const sipr_via_t *via, int src_is_received,
                           const char *buf, size_t len) {
  sipr_tp_addr_t dest;
  int sent_port = via->port >= 0 ? via->port : sipr_tp_default_port(SIPR_TP_UDP);
  int rc;
  if (via->maddr.p) {
    /* Bullet 2: maddr at the sent-by port or 5060 (multicast TTL: not
     * supported, the socket default is used). */
    rc = numeric_dest(&dest, SIPR_TP_UDP, via->maddr, sent_port);
  } else if (via->received.p) {
    /* RFC 3581 §4: received + rport when rport has a value; else bullet 3:
     * received at the sent-by port. */
    rc = numeric_dest(&dest, SIPR_TP_UDP, via->received,
                      via->rport > 0 ? via->rport : sent_port);
  } else if (src_is_received && src) {
    if (via->rport >= 0) { /* rport asked for: the source port */
      dest = src->remote;
      dest.proto = SIPR_TP_UDP;
      rc = 0;
    } else {
      char ip[64];
      size_t n = sipr__tp_ip_str(&src->remote.sa, ip, sizeof(ip));
      rc = numeric_dest(&dest, SIPR_TP_UDP, sipr_str_make(ip, n), sent_port);
    }
  } else {
    /* Bullet 4: sent-by; numeric only until the resolver exists. */
    rc = numeric_dest(&dest, SIPR_TP_UDP, via->host, sent_port);
  }
  if (rc) {
    tp->st.tx_errors++;
    return SIPR_EINVAL;
  }
  /* RFC 3581 §4: from the address and port the request came in on. */
  tp_listener_t *l = src ? sipr__tp_listener(tp, SIPR_TP_UDP, &src->local, 1) : NULL;
  return sipr__udp_send(tp, l, &dest, buf, len);
}

int sipr_tp_send_response(sipr_tp_t *tp, const sipr_tp_src_t *src,
                          const sipr_via_t *via, const char *buf, size_t len) {
  if (!tp || !via || !buf)
    return SIPR_EINVAL;
  sipr_tp_proto_t proto = sipr_tp_proto_from_str(via->transport);
  if (proto == SIPR_TP_NONE) {
    tp->st.tx_errors++;
    return SIPR_EINVAL;
  }
  /* §18.2.2 bullet 1: the connection the request came on, while open (also
   * when the Via names another transport: the peer listens on it). */
  if (src && src->conn_id) {
    int rc = sipr__tcp_send_conn(tp, src->conn_id, buf, len);
    if (rc != SIPR_ENOENT)
      return rc;
  }
  if (!sipr_tp_reliable(proto))
    return send_unreliable(tp, src, via, 0, buf, len);
  /* Bullet 1, continued: a new connection to received (else the sent-by
   * host) at the sent-by port or the transport's default. */
  if (proto != SIPR_TP_TCP) {
    tp->st.tx_errors++;
    return SIPR_EINVAL; /* TLS/WS: later */
  }
  sipr_tp_addr_t dest;
  int port = via->port >= 0 ? via->port : sipr_tp_default_port(proto);
  if (numeric_dest(&dest, proto, via->received.p ? via->received : via->host,
                   port)) {
    tp->st.tx_errors++;
    return SIPR_EINVAL;
  }
  return sipr__tcp_send_to(tp, &dest, buf, len, NULL);
}

int sipr_tp_send_request(sipr_tp_t *tp, const sipr_tp_addr_t *dest,
                         const char *buf, size_t len, uint64_t *conn_id) {
  if (conn_id)
    *conn_id = 0;
  if (!tp || !dest || !buf)
    return SIPR_EINVAL;
  switch (dest->proto) {
  case SIPR_TP_UDP:
    return sipr__udp_send(tp, NULL, dest, buf, len);
  case SIPR_TP_TCP:
    return sipr__tcp_send_to(tp, dest, buf, len, conn_id);
  default:
    tp->st.tx_errors++;
    return SIPR_EIO; /* TLS/WS: later */
  }
}

int sipr_tp_send(sipr_tp_t *tp, const sipr_tp_addr_t *dest, uint64_t conn_id,
                 const char *buf, size_t len) {
  if (!tp || !buf)
    return SIPR_EINVAL;
  if (conn_id) {
    int rc = sipr__tcp_send_conn(tp, conn_id, buf, len);
    if (rc != SIPR_ENOENT)
      return rc;
  }
  if (!dest) {
    tp->st.tx_errors++;
    return SIPR_EIO;
  }
  return sipr_tp_send_request(tp, dest, buf, len, NULL);
}
