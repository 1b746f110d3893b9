/*
 * A UA with its own transport (sipr_ua_open()): UDP and TCP bound to one
 * local address, received messages fed to the UA's transaction layer.
 */
#include "ua_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct ua_net {
  sipr_ua_t *ua;
  sipr_tp_t *tp;
} ua_net_t;

static void net_recv(void *user, sipr_tp_t *tp, sipr_msg_t *msg,
                     const sipr_tp_src_t *src) {
  (void)tp;
  ua_net_t *n = user;
  if (n->ua)
    sipr_ua_recv(n->ua, msg, src);
}

static void net_closed(void *user, sipr_tp_t *tp, uint64_t conn_id) {
  (void)tp;
  ua_net_t *n = user;
  if (n->ua)
    sipr_ua_conn_closed(n->ua, conn_id);
}

static int net_send_request(void *ctx, const sipr_tp_addr_t *dest,
                            const char *buf, size_t len, uint64_t *conn_id) {
  ua_net_t *n = ctx;
  return sipr_tp_send_request(n->tp, dest, buf, len, conn_id);
}

static int net_send_response(void *ctx, const sipr_tp_src_t *src,
                             const sipr_via_t *via, const char *buf,
                             size_t len) {
  ua_net_t *n = ctx;
  return sipr_tp_send_response(n->tp, src, via, buf, len);
}

int ua_addr_is_local(const sipr_tp_addr_t *a) {
  int fam = a->sa.ss_family;
  if (fam != AF_INET && fam != AF_INET6)
    return 0;
  int fd = socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return 0;
  struct sockaddr_storage ss = a->sa;
  if (fam == AF_INET)
    ((struct sockaddr_in *)&ss)->sin_port = 0;
  else
    ((struct sockaddr_in6 *)&ss)->sin6_port = 0;
  /* EADDRNOTAVAIL: not an address of this host. */
  int ok = bind(fd, (struct sockaddr *)&ss, a->salen) == 0;
  close(fd);
  return ok;
}

static const sipr_tp_user_ops_t net_ops = {net_recv, net_closed, NULL};
static const sipr_txn_tp_ops_t net_tp_ops = {net_send_request,
                                             net_send_response};

sipr_ua_t *sipr_ua_open(sipr_loop_t *loop, sipr_ua_cfg_t *cfg,
                        const sipr_tp_addr_t *local, sipr_ua_event_cb *cb,
                        void *user, char *err, size_t cap) {
  ua_net_t *n = calloc(1, sizeof(*n));
  if (!n)
    return NULL;
  char as[64];
  const sipr_tp_addr_t *bound = NULL;
  /* With port 0 the kernel picks the UDP port, which may be taken for
   * TCP (another socket's connection): then again with another port. */
  int tries = sipr_tp_addr_port(local) == 0 ? 16 : 1;
  for (int t = 0; t < tries && !bound; t++) {
    if (n->tp)
      sipr_tp_free(n->tp);
    n->tp = sipr_tp_new(loop, NULL, &net_ops, n);
    if (!n->tp) {
      free(n);
      if (err && cap)
        snprintf(err, cap, "transport: cannot create the transport");
      return NULL;
    }
    sipr_tp_addr_t a = *local;
    a.proto = SIPR_TP_UDP;
    if (sipr_tp_listen(n->tp, &a) != 0 || !sipr_tp_local(n->tp, 0))
      continue;
    /* §18.2.1 / §18.1.1: TCP on the same port, for responses that come
     * back over TCP and for requests over TCP. */
    sipr_tp_addr_t tcp = *sipr_tp_local(n->tp, 0);
    tcp.proto = SIPR_TP_TCP;
    if (sipr_tp_listen(n->tp, &tcp) == 0)
      bound = sipr_tp_local(n->tp, 0);
  }
  if (!bound) {
    if (err && cap)
      snprintf(err, cap, "transport: cannot bind %s",
               sipr_tp_addr_str(local, as, sizeof(as)));
    sipr_tp_free(n->tp);
    free(n);
    return NULL;
  }
  /* Via and Contact name the bound address. */
  char host[64];
  sipr_tp_addr_str(bound, as, sizeof(as));
  const char *h = strchr(as, ':') + 1;
  const char *lc = strrchr(h, ':');
  snprintf(host, sizeof(host), "%.*s", (int)(lc - h), h);
  if (host[0] == '[') {
    memmove(host, host + 1, strlen(host));
    host[strlen(host) - 1] = '\0';
  }
  /* A wildcard address names no host a peer can reach: the caller's
   * cfg->host (an address of this machine) is written instead. */
  const char *given = cfg->host;
  int wildcard = !strcmp(host, "0.0.0.0") || !strcmp(host, "::");
  if (!given || !wildcard)
    cfg->host = host;
  cfg->port = sipr_tp_addr_port(bound);
  sipr_ua_t *ua = sipr_ua_new(loop, cfg, &net_tp_ops, n, cb, user, err, cap);
  cfg->host = given;
  if (!ua) {
    sipr_tp_free(n->tp);
    free(n);
    return NULL;
  }
  n->ua = ua;
  ua->local_any = wildcard;
  ua->own_tp = n->tp;
  ua->own_net = n;
  return ua;
}
