/*
 * Next-hop resolution on c-ares (include/sipr/resolve.h): A/AAAA lookups
 * of RFC 3263 §4.2's last step (a host name whose port is explicit or the
 * transport's default), with the loop watching c-ares' sockets and its
 * timeout.
 *
 * Integration: c-ares tells us which sockets to watch through its
 * socket-state callback (ARES_OPT_SOCK_STATE_CB); each becomes a loop fd
 * whose events go to ares_process_fd(). After every call into c-ares the
 * one loop timer is re-armed to ares_timeout(), and fires
 * ares_process_fd(BAD, BAD) so retries and timeouts run.
 *
 * A hosts-file answer may come back inside ares_getaddrinfo() itself: the
 * query notices it is still inside the call and hands the answer back as
 * an inline result instead of calling the user.
 */
#include "sipr/resolve.h"

#include <arpa/inet.h>
#include <ares.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define RES_NAME_MAX 255 /* RFC 1035 §2.3.4 */
#define RES_MAX_FDS 16

typedef struct res_entry {
  char name[RES_NAME_MAX + 1];
  int err;          /* 0, or the failure cached */
  uint64_t expires; /* loop ms */
  uint64_t used;    /* loop ms of the last hit (replacement) */
  size_t n;
  struct sockaddr_storage sa[SIPR_RES_MAX_ADDRS]; /* port 0 */
  socklen_t salen[SIPR_RES_MAX_ADDRS];
} res_entry_t;

struct sipr_res_query {
  sipr_res_t *r;
  struct sipr_res_query *prev, *next; /* the resolver's pending list */
  sipr_res_cb *cb;                    /* NULL once cancelled */
  void *arg;
  sipr_tp_proto_t proto;
  int port;
  int inline_call; /* 1 while inside ares_getaddrinfo() */
  int inline_done; /* the answer came inline */
  int err;
  size_t n;
  sipr_tp_addr_t addrs[SIPR_RES_MAX_ADDRS];
  char name[RES_NAME_MAX + 1];
};

struct sipr_res {
  sipr_loop_t *loop;
  ares_channel ch;
  sipr_res_cfg_t cfg;
  sipr_timer_t timer;
  int fds[RES_MAX_FDS];
  unsigned fd_ev[RES_MAX_FDS];
  unsigned nfds;
  res_entry_t *cache;
  sipr_res_query_t *pending;
  int freeing;
  sipr_res_stats_t st;
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static int lib_rc;
static void lib_init(void) {
  lib_rc = ares_library_init(ARES_LIB_INIT_ALL);
}

void sipr_res_cfg_default(sipr_res_cfg_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->lookups = "fb";
  cfg->timeout_ms = 2000;
  cfg->tries = 2;
  cfg->cache_entries = 256;
  cfg->max_ttl_s = 300;
  cfg->neg_ttl_s = 5;
}

/* ---- loop integration ---------------------------------------------------- */

static void rearm(sipr_res_t *r) {
  if (r->freeing)
    return;
  struct timeval tv, *t = ares_timeout(r->ch, NULL, &tv);
  if (!t) {
    sipr_timer_stop(r->loop, &r->timer);
    return;
  }
  uint64_t ms = (uint64_t)t->tv_sec * 1000u + (uint64_t)t->tv_usec / 1000u;
  sipr_timer_start(r->loop, &r->timer, ms ? ms : 1);
}

static void on_io(sipr_loop_t *loop, int fd, unsigned events, void *arg) {
  (void)loop;
  sipr_res_t *r = arg;
  ares_socket_t rd = ARES_SOCKET_BAD, wr = ARES_SOCKET_BAD;
  if (events & (SIPR_EV_READ | SIPR_EV_ERROR))
    rd = fd;
  if (events & SIPR_EV_WRITE)
    wr = fd;
  ares_process_fd(r->ch, rd, wr);
  rearm(r);
}

static void on_timer(sipr_loop_t *loop, void *arg) {
  (void)loop;
  sipr_res_t *r = arg;
  ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  rearm(r);
}

/* ARES_OPT_SOCK_STATE_CB: watch, change or forget one of c-ares' sockets. */
static void sock_state(void *data, ares_socket_t fd, int readable,
                       int writable) {
  sipr_res_t *r = data;
  unsigned i = 0;
  while (i < r->nfds && r->fds[i] != fd)
    i++;
  unsigned ev =
      (readable ? SIPR_EV_READ : 0u) | (writable ? SIPR_EV_WRITE : 0u);
  if (!ev) {
    if (i < r->nfds) {
      sipr_loop_del_fd(r->loop, fd);
      r->fds[i] = r->fds[r->nfds - 1];
      r->fd_ev[i] = r->fd_ev[r->nfds - 1];
      r->nfds--;
    }
    return;
  }
  if (i < r->nfds) {
    if (r->fd_ev[i] != ev && sipr_loop_mod_fd(r->loop, fd, ev) == 0)
      r->fd_ev[i] = ev;
    return;
  }
  /* A socket we cannot watch is left to the timer: c-ares times the
   * query out and tries the next server. */
  if (r->nfds < RES_MAX_FDS &&
      sipr_loop_add_fd(r->loop, fd, ev, on_io, r) == 0) {
    r->fds[r->nfds] = fd;
    r->fd_ev[r->nfds] = ev;
    r->nfds++;
  }
}

/* ---- lifetime --------------------------------------------------------------
 */

sipr_res_t *sipr_res_new(sipr_loop_t *loop, const sipr_res_cfg_t *cfg) {
  pthread_once(&lib_once, lib_init);
  if (lib_rc != ARES_SUCCESS || !loop)
    return NULL;
  sipr_res_t *r = calloc(1, sizeof *r);
  if (!r)
    return NULL;
  r->loop = loop;
  if (cfg)
    r->cfg = *cfg;
  else
    sipr_res_cfg_default(&r->cfg);
  if (!r->cfg.lookups || !r->cfg.lookups[0])
    r->cfg.lookups = "fb";
  if (r->cfg.cache_entries) {
    r->cache = calloc(r->cfg.cache_entries, sizeof *r->cache);
    if (!r->cache) {
      free(r);
      return NULL;
    }
  }
  sipr_timer_init(&r->timer, on_timer, r);

  struct ares_options o;
  memset(&o, 0, sizeof o);
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS | ARES_OPT_TIMEOUTMS |
             ARES_OPT_TRIES;
  o.sock_state_cb = sock_state;
  o.sock_state_cb_data = r;
  o.lookups = (char *)r->cfg.lookups; /* copied by ares_init_options() */
  o.timeout = (int)(r->cfg.timeout_ms ? r->cfg.timeout_ms : 2000);
  o.tries = (int)(r->cfg.tries ? r->cfg.tries : 2);
  if (r->cfg.resolv_conf) {
    o.resolvconf_path = (char *)r->cfg.resolv_conf;
    mask |= ARES_OPT_RESOLVCONF;
  }
  if (ares_init_options(&r->ch, &o, mask) != ARES_SUCCESS) {
    free(r->cache);
    free(r);
    return NULL;
  }
  if (r->cfg.servers &&
      ares_set_servers_ports_csv(r->ch, r->cfg.servers) != ARES_SUCCESS) {
    ares_destroy(r->ch);
    free(r->cache);
    free(r);
    return NULL;
  }
  /* not kept: c-ares copied what it needs */
  r->cfg.resolv_conf = r->cfg.servers = NULL;
  return r;
}

void sipr_res_free(sipr_res_t *r) {
  if (!r)
    return;
  r->freeing = 1;
  for (sipr_res_query_t *q = r->pending; q; q = q->next)
    q->cb = NULL; /* dropped, not called (resolve.h) */
  sipr_timer_stop(r->loop, &r->timer);
  /* Calls every pending query back with ARES_EDESTRUCTION (freed there)
   * and closes its sockets through sock_state(). */
  ares_destroy(r->ch);
  for (unsigned i = 0; i < r->nfds; i++)
    sipr_loop_del_fd(r->loop, r->fds[i]);
  free(r->cache);
  free(r);
}

void sipr_res_get_stats(const sipr_res_t *r, sipr_res_stats_t *out) {
  *out = r->st;
}

/* ---- cache ------------------------------------------------------------------
 */

static res_entry_t *cache_find(sipr_res_t *r, const char *name) {
  uint64_t now = sipr_loop_now(r->loop);
  for (unsigned i = 0; i < r->cfg.cache_entries; i++) {
    res_entry_t *e = &r->cache[i];
    if (e->name[0] && e->expires > now && strcasecmp(e->name, name) == 0) {
      e->used = now;
      return e;
    }
  }
  return NULL;
}

/* The slot for name: its own, else a free or expired one, else the least
 * recently used. */
static res_entry_t *cache_slot(sipr_res_t *r, const char *name) {
  if (!r->cfg.cache_entries)
    return NULL;
  uint64_t now = sipr_loop_now(r->loop);
  res_entry_t *lru = NULL, *spare = NULL;
  for (unsigned i = 0; i < r->cfg.cache_entries; i++) {
    res_entry_t *e = &r->cache[i];
    if (e->name[0] && strcasecmp(e->name, name) == 0)
      return e;
    if (!e->name[0] || e->expires <= now) {
      if (!spare)
        spare = e;
    } else if (!lru || e->used < lru->used) {
      lru = e;
    }
  }
  return spare ? spare : lru;
}

static void cache_put(sipr_res_t *r, const char *name, int err,
                      const sipr_tp_addr_t *a, size_t n, uint32_t ttl_s) {
  res_entry_t *e = cache_slot(r, name);
  if (!e)
    return;
  if (err)
    ttl_s = r->cfg.neg_ttl_s;
  else if (ttl_s > r->cfg.max_ttl_s)
    ttl_s = r->cfg.max_ttl_s;
  if (!ttl_s) {
    e->name[0] = '\0';
    return;
  }
  memset(e, 0, sizeof *e);
  strcpy(e->name, name);
  e->err = err;
  e->used = sipr_loop_now(r->loop);
  e->expires = e->used + (uint64_t)ttl_s * 1000u;
  e->n = n;
  for (size_t i = 0; i < n; i++) {
    e->sa[i] = a[i].sa;
    e->salen[i] = a[i].salen;
  }
}

/* addresses of e for proto and port into out */
static size_t with_port(const struct sockaddr_storage *sa,
                        const socklen_t *salen, size_t n, sipr_tp_proto_t proto,
                        int port, sipr_tp_addr_t *out) {
  for (size_t i = 0; i < n; i++) {
    memset(&out[i], 0, sizeof out[i]);
    out[i].proto = proto;
    out[i].sa = sa[i];
    out[i].salen = salen[i];
    if (sa[i].ss_family == AF_INET)
      ((struct sockaddr_in *)&out[i].sa)->sin_port = htons((uint16_t)port);
    else
      ((struct sockaddr_in6 *)&out[i].sa)->sin6_port = htons((uint16_t)port);
  }
  return n;
}

/* ---- lookups
 * ------------------------------------------------------------------ */

static void q_unlink(sipr_res_query_t *q) {
  sipr_res_t *r = q->r;
  if (q->prev)
    q->prev->next = q->next;
  else if (r->pending == q)
    r->pending = q->next;
  if (q->next)
    q->next->prev = q->prev;
  q->prev = q->next = NULL;
}

static void on_answer(void *arg, int status, int timeouts,
                      struct ares_addrinfo *res) {
  (void)timeouts;
  sipr_res_query_t *q = arg;
  sipr_res_t *r = q->r;
  struct sockaddr_storage sa[SIPR_RES_MAX_ADDRS];
  socklen_t salen[SIPR_RES_MAX_ADDRS];
  size_t n = 0;
  uint32_t ttl = UINT32_MAX;
  int err = 0;
  if (status == ARES_SUCCESS && res) {
    /* IPv4 first, then IPv6: one pass per family, duplicates skipped. */
    for (int pass = 0; pass < 2; pass++) {
      int fam = pass ? AF_INET6 : AF_INET;
      for (struct ares_addrinfo_node *nd = res->nodes;
           nd && n < SIPR_RES_MAX_ADDRS; nd = nd->ai_next) {
        if (nd->ai_family != fam || !nd->ai_addr ||
            nd->ai_addrlen > (ares_socklen_t)sizeof sa[0])
          continue;
        struct sockaddr_storage s;
        memset(&s, 0, sizeof s);
        memcpy(&s, nd->ai_addr, nd->ai_addrlen);
        int dup = 0;
        for (size_t i = 0; i < n && !dup; i++)
          dup = salen[i] == (socklen_t)nd->ai_addrlen &&
                memcmp(&sa[i], &s, nd->ai_addrlen) == 0;
        if (dup)
          continue;
        sa[n] = s;
        salen[n] = (socklen_t)nd->ai_addrlen;
        n++;
        if (nd->ai_ttl >= 0 && (uint32_t)nd->ai_ttl < ttl)
          ttl = (uint32_t)nd->ai_ttl;
      }
    }
    if (!n)
      err = SIPR_ENOENT;
  } else if (status == ARES_ENOTFOUND || status == ARES_ENODATA ||
             status == ARES_ENONAME || status == ARES_EBADNAME ||
             (!strchr(r->cfg.lookups, 'b') && status != ARES_EDESTRUCTION &&
              status != ARES_ECANCELLED && status != ARES_ENOMEM)) {
    /* With the hosts file as the only source, a name it does not hold
     * does not exist (c-ares 1.18 reports the end of its sources as
     * ECONNREFUSED). */
    err = SIPR_ENOENT;
  } else {
    err = SIPR_EIO; /* timeout, refused, server failure, destruction */
  }
  if (res)
    ares_freeaddrinfo(res);
  if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
    if (!q->inline_call) {
      q_unlink(q);
      if (r->st.pending)
        r->st.pending--;
      free(q);
    } else {
      q->err = SIPR_EIO;
      q->inline_done = 1;
    }
    return;
  }
  if (err)
    r->st.failures++;
  /* A hosts-file answer carries no TTL (c-ares gives 0), nor may a DNS
   * answer with TTL 0 be kept (RFC 1035 §3.2.1); both are kept for one
   * second, enough to serve a burst of requests to the same next hop. */
  if (!err && (ttl == UINT32_MAX || ttl == 0))
    ttl = 1;
  sipr_tp_addr_t tmp[SIPR_RES_MAX_ADDRS];
  with_port(sa, salen, n, SIPR_TP_UDP, 0, tmp);
  cache_put(r, q->name, err, tmp, n, err ? 0 : ttl);

  q->err = err;
  q->n = with_port(sa, salen, n, q->proto, q->port, q->addrs);
  if (q->inline_call) {
    q->inline_done = 1; /* sipr_res_lookup() hands it back */
    return;
  }
  q_unlink(q);
  if (r->st.pending)
    r->st.pending--;
  if (q->cb)
    q->cb(q->arg, q->err, q->n ? q->addrs : NULL, q->n);
  free(q);
}

int sipr_res_lookup(sipr_res_t *r, sipr_str_t host, sipr_tp_proto_t proto,
                    int port, sipr_tp_addr_t *out, size_t *n, sipr_res_cb *cb,
                    void *arg, sipr_res_query_t **qp) {
  if (qp)
    *qp = NULL;
  *n = 0;
  if (port < 0)
    port = sipr_tp_default_port(proto);
  if (!r || !host.p || !host.len || port <= 0 || port > 65535)
    return SIPR_EINVAL;
  /* A numeric host needs no lookup (RFC 3263 §4.2: "If TARGET is a
   * numeric IP address, the client uses that address"). */
  if (sipr_tp_addr_set(&out[0], proto, host, port) == 0) {
    r->st.numeric++;
    *n = 1;
    return 0;
  }
  if (host.len > RES_NAME_MAX || host.p[0] == '[')
    return SIPR_EINVAL;
  char name[RES_NAME_MAX + 1];
  memcpy(name, host.p, host.len);
  name[host.len] = '\0';
  if (strlen(name) != host.len)
    return SIPR_EINVAL; /* a NUL inside */
  r->st.lookups++;

  res_entry_t *e = r->cfg.cache_entries ? cache_find(r, name) : NULL;
  if (e) {
    r->st.cache_hits++;
    if (e->err)
      return e->err;
    *n = with_port(e->sa, e->salen, e->n, proto, port, out);
    return 0;
  }

  sipr_res_query_t *q = calloc(1, sizeof *q);
  if (!q)
    return SIPR_ENOMEM;
  q->r = r;
  q->cb = cb;
  q->arg = arg;
  q->proto = proto;
  q->port = port;
  memcpy(q->name, name, host.len + 1);
  r->st.queries++;

  struct ares_addrinfo_hints hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC; /* A and AAAA */
  hints.ai_flags = ARES_AI_NOSORT;
  q->inline_call = 1;
  ares_getaddrinfo(r->ch, name, NULL, &hints, on_answer, q);
  q->inline_call = 0;
  if (q->inline_done) {
    int err = q->err;
    if (!err) {
      memcpy(out, q->addrs, q->n * sizeof out[0]);
      *n = q->n;
    }
    free(q);
    rearm(r);
    return err;
  }
  q->next = r->pending;
  if (q->next)
    q->next->prev = q;
  r->pending = q;
  r->st.pending++;
  if (qp)
    *qp = q;
  rearm(r);
  return 1;
}

void sipr_res_cancel(sipr_res_query_t *q) {
  if (q)
    q->cb = NULL;
}
