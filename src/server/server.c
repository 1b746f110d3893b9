/*
 * The `sipr serve` process: configuration, store, digest server,
 * registrar, worker stack; signals on the main thread.
 *
 * Threads: the main thread builds everything with SIGHUP/SIGTERM/SIGINT
 * blocked (so every thread started afterwards, workers and the store's,
 * inherits the mask) and then waits for them with sigtimedwait(), waking
 * once a second to flush the log's "suppressed" summary.
 *
 * Live reload: the registrar copies its configuration, so a reload that
 * changes domains, expiry limits or auth on/off builds a new registrar on
 * the same store and auth server and swaps the pointer the workers read.
 * The registrar it replaces may still have REGISTERs waiting for the
 * store and a worker may be inside it, so it is kept (a "generation")
 * until the stop; terminated callbacks go to every generation (a no-op
 * for the ones a transaction is not pending on). Generations are capped
 * (MAX_GENS): past that a reload applies only what needs no new
 * registrar (log level and format) and says so. The proxy is renewed the
 * same way when its domains, auth, rules, forking, Timer C or 3xx
 * recursion change (its own generations: contexts in progress stay with
 * the proxy that made them).
 */
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "server_internal.h"
#include "sipr/auth.h"
#include "sipr/proxy.h"
#include "sipr/registrar.h"
#include "sipr/resolve.h"
#include "sipr/stack.h"
#include "sipr/store.h"

#ifndef SIPR_VERSION
#define SIPR_VERSION "0.1.0"
#endif

#define MAX_GENS 64
#define STOP_GRACE_MS 2000
#define MAX_HOST_ADDRS 32

typedef struct server {
  sipr_server_cfg_t cfg; /* running configuration (main thread) */
  const sipr_server_opts_t *opts;
  sipr_store_t *store;
  sipr_auth_server_t *auth;
  sipr_stack_t *stack;
  _Atomic(sipr_registrar_t *) reg; /* what workers use now */
  /* Requests not addressed to us (§16, §8.3). A reload that changes what
   * the proxy knows makes a new one, as for the registrar; the ones it
   * replaces keep serving their requests in progress (client transaction
   * events go to every generation: a no-op for the others), freed at the
   * stop. */
  _Atomic(sipr_proxy_t *) proxy;
  sipr_proxy_t *pgens[MAX_GENS];
  atomic_uint npgens;
  sipr_registrar_t *gens[MAX_GENS];
  atomic_uint ngens;
  /* One resolver per worker (its loop watches the resolver's sockets),
   * for next hops named by host names; gone (NULL to the proxy) once the
   * workers have stopped. */
  sipr_res_t *res[SIPR_STACK_MAX_WORKERS];
  atomic_int res_live;
  /* the host's addresses, served as domains when listening on 0.0.0.0/:: */
  char host_addrs[MAX_HOST_ADDRS][INET6_ADDRSTRLEN + 2];
  unsigned nhost_addrs;
} server_t;

/* ---- the transaction user: every worker calls these -------------------- */

static _Thread_local int loop_attached;

static void tu_request(void *user, sipr_txn_t *st, sipr_msg_t *req,
                       const sipr_tp_src_t *src) {
  server_t *s = user;
  if (!loop_attached) {
    int w = sipr_stack_current(s->stack);
    if (w >= 0)
      sipr_registrar_attach_loop(sipr_stack_loop(s->stack, (unsigned)w));
    loop_attached = 1;
  }
  /* Requests addressed to the server itself (REGISTER for our domains,
   * OPTIONS and the like to our address) go to the registrar / UAS core;
   * everything else is proxied (or redirected). */
  sipr_proxy_t *px = atomic_load(&s->proxy);
  if (px && !sipr_proxy_for_us(px, req, src))
    sipr_proxy_on_request(px, st, req, src);
  else
    sipr_registrar_on_request(atomic_load(&s->reg), st, req, src);
}

/* §8.2.7: OPTIONS to the server itself, answered with no transaction;
 * §16.11: requests a stateless forward rule takes, relayed with none. */
static int tu_stateless(void *user, sipr_txn_layer_t *l, sipr_msg_t *req,
                        const sipr_tp_src_t *src) {
  server_t *s = user;
  if (sipr_registrar_stateless(atomic_load(&s->reg), l, req, src))
    return 1;
  /* §16.11: requests a "forward ... stateless" rule takes */
  sipr_proxy_t *px = atomic_load(&s->proxy);
  return px && sipr_proxy_stateless(px, req, src);
}

static void tu_stray_ack(void *user, sipr_msg_t *ack, const sipr_tp_src_t *src) {
  server_t *s = user;
  /* §17.2.3: an ACK for a 2xx. One that follows our Record-Route goes end
   * to end through the proxy (§16.11); one addressed to us is absorbed. */
  sipr_proxy_t *px = atomic_load(&s->proxy);
  if (px && !sipr_proxy_for_us(px, ack, src))
    sipr_proxy_on_stray_ack(px, ack, src);
}

/* Client transactions are the proxy's only; each generation checks that
 * the transaction is its own. */
static void tu_response(void *user, sipr_txn_t *ct, sipr_msg_t *resp) {
  server_t *s = user;
  unsigned n = atomic_load(&s->npgens);
  for (unsigned i = 0; i < n; i++)
    sipr_proxy_on_response(s->pgens[i], ct, resp);
}

static void tu_timeout(void *user, sipr_txn_t *t) {
  server_t *s = user;
  unsigned n = atomic_load(&s->npgens);
  for (unsigned i = 0; i < n; i++)
    sipr_proxy_on_timeout(s->pgens[i], t);
}

static void tu_transport_error(void *user, sipr_txn_t *t) {
  server_t *s = user;
  unsigned n = atomic_load(&s->npgens);
  for (unsigned i = 0; i < n; i++)
    sipr_proxy_on_transport_error(s->pgens[i], t);
}

static void tu_stray_response(void *user, sipr_msg_t *resp,
                              const sipr_tp_src_t *src) {
  server_t *s = user; /* §16.7 / §18.1.2: forwarded by the next Via */
  sipr_proxy_on_stray_response(atomic_load(&s->proxy), resp, src);
}

static void tu_terminated(void *user, sipr_txn_t *t) {
  server_t *s = user;
  unsigned n = atomic_load(&s->ngens);
  for (unsigned i = 0; i < n; i++)
    sipr_registrar_txn_terminated(s->gens[i], t);
  n = atomic_load(&s->npgens);
  for (unsigned i = 0; i < n; i++)
    sipr_proxy_txn_terminated(s->pgens[i], t);
}

/* ---- building the parts ------------------------------------------------- */

static int is_wildcard(const sipr_tp_addr_t *a) {
  if (a->sa.ss_family == AF_INET)
    return ((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr == INADDR_ANY;
  if (a->sa.ss_family == AF_INET6)
    return IN6_IS_ADDR_UNSPECIFIED(
        &((const struct sockaddr_in6 *)&a->sa)->sin6_addr);
  return 0;
}

static int is_loopback(const sipr_tp_addr_t *a) {
  if (a->sa.ss_family == AF_INET)
    return (ntohl(((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr) >>
            24) == 127;
  if (a->sa.ss_family == AF_INET6)
    return IN6_IS_ADDR_LOOPBACK(
        &((const struct sockaddr_in6 *)&a->sa)->sin6_addr);
  return 0;
}

/* When a listen address is a wildcard, the registrar cannot tell our
 * addresses from the one a request arrived on: list the host's. */
static void collect_host_addrs(server_t *s) {
  int want4 = 0, want6 = 0;
  for (unsigned i = 0; i < s->cfg.nlisten; i++) {
    sipr_tp_addr_t a;
    if (sipr_tp_addr_parse(s->cfg.listen[i], &a) == 0 && is_wildcard(&a)) {
      if (a.sa.ss_family == AF_INET)
        want4 = 1;
      else
        want6 = 1;
    }
  }
  if (!want4 && !want6)
    return;
  struct ifaddrs *ifa = NULL;
  if (getifaddrs(&ifa) != 0)
    return;
  for (struct ifaddrs *p = ifa; p && s->nhost_addrs < MAX_HOST_ADDRS;
       p = p->ifa_next) {
    if (!p->ifa_addr || !(p->ifa_flags & IFF_UP))
      continue;
    char txt[INET6_ADDRSTRLEN];
    char *out = s->host_addrs[s->nhost_addrs];
    if (p->ifa_addr->sa_family == AF_INET && want4) {
      inet_ntop(AF_INET, &((struct sockaddr_in *)p->ifa_addr)->sin_addr, txt,
                sizeof txt);
      snprintf(out, sizeof s->host_addrs[0], "%s", txt);
    } else if (p->ifa_addr->sa_family == AF_INET6 && want6) {
      struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)p->ifa_addr;
      if (IN6_IS_ADDR_LINKLOCAL(&a6->sin6_addr))
        continue;
      inet_ntop(AF_INET6, &a6->sin6_addr, txt, sizeof txt);
      snprintf(out, sizeof s->host_addrs[0], "[%s]", txt);
    } else {
      continue;
    }
    s->nhost_addrs++;
  }
  freeifaddrs(ifa);
}

/* A registrar for cfg (domains, expiry, auth) with the running realm. */
static sipr_registrar_t *make_registrar(server_t *s,
                                        const sipr_server_cfg_t *cfg) {
  const char *domains[SIPR_SERVER_MAX_DOMAINS + MAX_HOST_ADDRS];
  size_t nd = 0;
  for (unsigned i = 0; i < cfg->ndomains; i++)
    domains[nd++] = cfg->domains[i];
  for (unsigned i = 0; i < s->nhost_addrs; i++)
    domains[nd++] = s->host_addrs[i];
  sipr_registrar_cfg_t rc;
  sipr_registrar_cfg_default(&rc);
  rc.domains = domains;
  rc.ndomains = nd;
  rc.min_expires = cfg->expires_min;
  rc.default_expires = cfg->expires_default;
  rc.max_expires = cfg->expires_max;
  rc.auth = cfg->auth;
  rc.realm = s->cfg.realm; /* the realm the auth server was made with */
  return sipr_registrar_new(&rc, s->store, s->auth);
}

/* Adds r as the current generation. 0, or -1 when MAX_GENS are in use. */
static int push_gen(server_t *s, sipr_registrar_t *r) {
  unsigned n = atomic_load(&s->ngens);
  if (n >= MAX_GENS)
    return -1;
  s->gens[n] = r;
  atomic_store(&s->ngens, n + 1); /* publish the slot before it is used */
  atomic_store(&s->reg, r);
  return 0;
}

static int open_store(server_t *s) {
  char why[512] = "";
  /* The sqlite backend creates the file and its directory (./var). */
  s->store = sipr_store_open(s->cfg.store, NULL, why, sizeof why);
  if (!s->store) {
    sipr_log(SIPR_LOG_ERROR, "store %s: %s", s->cfg.store,
             why[0] ? why : "cannot be opened");
    return -1;
  }
  return 0;
}


/* A message the transport refused: one log line (rate-limited in log.c),
 * with the source address, the method when known, what was answered and
 * why. */
static void on_refused(void *ctx, const sipr_tp_addr_t *remote,
                       sipr_str_t method, unsigned status, const char *reason) {
  (void)ctx;
  char m[32];
  size_t n = method.p ? (method.len < sizeof(m) - 1 ? method.len : sizeof(m) - 1) : 0;
  if (n)
    memcpy(m, method.p, n);
  m[n] = '\0';
  sipr_log_refused(remote, n ? m : NULL, status, reason);
}

/* ---- the proxy (§16) and redirect server (§8.3) ----------------------- */

/* The proxy runs on the worker that calls it: its transaction layer and
 * loop, its sends (handed to the owner of a TCP connection by the stack). */
static sipr_txn_layer_t *px_layer(void *ctx) {
  server_t *s = ctx;
  int w = sipr_stack_current(s->stack);
  return w >= 0 ? sipr_stack_txn(s->stack, (unsigned)w) : NULL;
}

static sipr_loop_t *px_loop(void *ctx) {
  server_t *s = ctx;
  int w = sipr_stack_current(s->stack);
  return w >= 0 ? sipr_stack_loop(s->stack, (unsigned)w) : NULL;
}

static sipr_res_t *px_resolver(void *ctx) {
  server_t *s = ctx;
  int w = sipr_stack_current(s->stack);
  return w >= 0 && atomic_load(&s->res_live) ? s->res[w] : NULL;
}

static int px_send(void *ctx, const sipr_tp_addr_t *dest, const char *buf,
                   size_t len) {
  server_t *s = ctx;
  int w = sipr_stack_current(s->stack);
  if (w < 0)
    return SIPR_EINVAL;
  return sipr_stack_send(s->stack, (unsigned)w, dest, 0, buf, len);
}

static int px_send_response(void *ctx, const sipr_via_t *via, const char *buf,
                            size_t len) {
  server_t *s = ctx;
  int w = sipr_stack_current(s->stack);
  if (w < 0)
    return SIPR_EINVAL;
  return sipr_stack_send_response(s->stack, (unsigned)w, NULL, via, buf, len);
}

/* A proxy for cfg (domains, auth, mode, forking, rules) with the running
 * realm, made after the stack listens (it needs the bound addresses). */
static sipr_proxy_t *make_proxy(server_t *s, const sipr_server_cfg_t *cfg) {
  const char *domains[SIPR_SERVER_MAX_DOMAINS + MAX_HOST_ADDRS];
  size_t nd = 0;
  for (unsigned i = 0; i < cfg->ndomains; i++)
    domains[nd++] = cfg->domains[i];
  for (unsigned i = 0; i < s->nhost_addrs; i++)
    domains[nd++] = s->host_addrs[i];
  sipr_tp_addr_t locals[SIPR_SERVER_MAX_LISTEN * 2];
  size_t nl = 0;
  sipr_tp_t *tp = sipr_stack_tp(s->stack, 0);
  for (unsigned i = 0; tp && nl < sizeof locals / sizeof locals[0]; i++) {
    const sipr_tp_addr_t *a = sipr_tp_local(tp, i);
    if (!a)
      break;
    locals[nl++] = *a;
  }
  sipr_proxy_cfg_t pc;
  sipr_proxy_cfg_default(&pc);
  pc.domains = domains;
  pc.ndomains = nd;
  pc.locals = locals;
  pc.nlocals = nl;
  pc.advertise = s->nhost_addrs ? s->host_addrs[0] : NULL;
  pc.auth = cfg->auth;
  pc.realm = s->cfg.realm; /* the realm the auth server was made with */
  pc.redirect = cfg->mode == SIPR_MODE_REDIRECT;
  pc.fork = cfg->fork_sequential ? SIPR_FORK_SEQUENTIAL : SIPR_FORK_PARALLEL;
  pc.fork_timeout_ms = cfg->fork_timeout * 1000u;
  pc.timer_c_ms = cfg->timer_c * 1000u;
  pc.recurse_3xx = cfg->recurse_3xx;
  pc.edge = cfg->edge[0] ? cfg->edge : NULL;
  pc.edge_path = (sipr_proxy_path_t)cfg->edge_path;
  pc.ops.layer = px_layer;
  pc.ops.loop = px_loop;
  pc.ops.send = px_send;
  pc.ops.send_response = px_send_response;
  pc.ops.resolver = px_resolver;
  pc.ops_ctx = s;
  const char *rules[SIPR_SERVER_MAX_RULES];
  for (unsigned i = 0; i < cfg->nrules; i++)
    rules[i] = cfg->rules[i];
  pc.rules = rules;
  pc.nrules = cfg->nrules;
  return sipr_proxy_new(&pc, s->store, s->auth);
}

/* Adds px as the current proxy. 0, or -1 when MAX_GENS are in use. */
static int push_proxy(server_t *s, sipr_proxy_t *px) {
  unsigned n = atomic_load(&s->npgens);
  if (n >= MAX_GENS)
    return -1;
  s->pgens[n] = px;
  atomic_store(&s->npgens, n + 1); /* publish the slot before it is used */
  atomic_store(&s->proxy, px);
  return 0;
}

static int start_proxy(server_t *s) {
  sipr_proxy_t *px = make_proxy(s, &s->cfg);
  if (!px) {
    sipr_log(SIPR_LOG_ERROR, "proxy: cannot be created (out of memory or a "
                             "domain that does not parse)");
    return -1;
  }
  push_proxy(s, px);
  return 0;
}

static int build(server_t *s) {
  if (open_store(s))
    return -1;

  const char *realms[1] = {s->cfg.realm};
  sipr_auth_config_t ac;
  memset(&ac, 0, sizeof ac);
  ac.realms = realms;
  ac.nrealms = 1;
  sipr_auth_alg_t algs[4];
  for (unsigned i = 0; i < s->cfg.nauth_algs && i < 4; i++)
    algs[i] = sipr_auth_alg_from_str(
        sipr_str_make(s->cfg.auth_algs[i], strlen(s->cfg.auth_algs[i])));
  ac.algs = algs;
  ac.nalgs = s->cfg.nauth_algs;
  int rc = sipr_auth_server_new(&ac, &s->auth);
  if (rc) {
    sipr_log(SIPR_LOG_ERROR, "digest authentication: %s", sipr_strerror(rc));
    return -1;
  }

  collect_host_addrs(s);
  sipr_registrar_t *r = make_registrar(s, &s->cfg);
  if (!r) {
    sipr_log(SIPR_LOG_ERROR, "registrar: cannot be created (out of memory "
                             "or a domain that does not parse)");
    return -1;
  }
  push_gen(s, r);

  sipr_txn_user_ops_t ops;
  memset(&ops, 0, sizeof ops);
  ops.request = tu_request;
  ops.stray_ack = tu_stray_ack;
  ops.terminated = tu_terminated;
  ops.response = tu_response;
  ops.timeout = tu_timeout;
  ops.transport_error = tu_transport_error;
  ops.stray_response = tu_stray_response;
  s->stack = sipr_stack_new(s->cfg.workers, NULL, NULL, &ops, s, NULL);
  if (!s->stack) {
    sipr_log(SIPR_LOG_ERROR, "cannot create %u workers", s->cfg.workers);
    return -1;
  }
  sipr_stack_set_refused(s->stack, on_refused, s);
  for (unsigned w = 0; w < sipr_stack_workers(s->stack); w++)
    sipr_txn_layer_set_stateless(sipr_stack_txn(s->stack, w), tu_stateless, s);
  /* Made before the workers run; each is used on its worker's thread
   * only (c-ares opens its sockets at the first lookup). */
  sipr_res_cfg_t resc;
  sipr_res_cfg_default(&resc);
  resc.servers = s->cfg.dns_servers[0] ? s->cfg.dns_servers : NULL;
  for (unsigned w = 0; w < sipr_stack_workers(s->stack); w++) {
    s->res[w] = sipr_res_new(sipr_stack_loop(s->stack, w), &resc);
    if (!s->res[w]) {
      sipr_log(SIPR_LOG_ERROR, "cannot create the DNS resolver (c-ares: "
                               "out of memory, no resolv.conf, or bad "
                               "dns_servers '%s')",
               s->cfg.dns_servers);
      return -1;
    }
  }
  atomic_store(&s->res_live, 1);
  for (unsigned i = 0; i < s->cfg.nlisten; i++) {
    sipr_tp_addr_t a;
    sipr_tp_addr_parse(s->cfg.listen[i], &a); /* checked with the config */
    rc = sipr_stack_listen(s->stack, &a);
    if (rc) {
      sipr_log(SIPR_LOG_ERROR, "cannot listen on %s: %s (%s)",
               s->cfg.listen[i], sipr_strerror(rc), strerror(errno));
      return -1;
    }
  }
  return start_proxy(s);
}

/* Order: the loops stopped (drain() already gave in-flight REGISTERs
 * their time), then the store closed (its writer completes what is
 * queued: committed data stays committed), then the stack freed (answers
 * posted to stopped loops are freed with the queues), then the
 * registrars and the auth server nobody uses any more. */
static void teardown(server_t *s) {
  if (s->stack)
    sipr_stack_stop(s->stack);
  /* The workers have stopped: the resolvers go before the loops they
   * watch (lookups in progress are dropped; jobs still queued see no
   * resolver and fail such branches). */
  atomic_store(&s->res_live, 0);
  for (unsigned w = 0; w < SIPR_STACK_MAX_WORKERS; w++) {
    sipr_res_free(s->res[w]);
    s->res[w] = NULL;
  }
  if (s->store)
    sipr_store_close(s->store);
  if (s->stack)
    sipr_stack_free(s->stack);
  /* after the stack: no transaction is left */
  for (unsigned i = 0; i < atomic_load(&s->npgens); i++)
    sipr_proxy_free(s->pgens[i]);
  unsigned n = atomic_load(&s->ngens);
  for (unsigned i = 0; i < n; i++)
    sipr_registrar_free(s->gens[i]);
  if (s->auth)
    sipr_auth_server_free(s->auth);
}

/* Bindings disappear at their expiry time: the store keeps the AORs in a
 * heap by earliest expiry, so this is one comparison per tick, not a scan. */
static void expire(server_t *s) {
  int64_t now = (int64_t)time(NULL);
  int64_t next = sipr_store_next_expiry(s->store);
  if (next >= 0 && next <= now) {
    size_t n = sipr_store_expire(s->store, now);
    if (n)
      sipr_log(SIPR_LOG_DEBUG, "%zu binding(s) expired", n);
  }
}

/* ---- banner ------------------------------------------------------------- */

static void banner(server_t *s) {
  sipr_server_cfg_t *c = &s->cfg;
  sipr__log_force(SIPR_LOG_INFO, "sipr %s serving (pid %ld)", SIPR_VERSION,
                  (long)getpid());
  int all_loopback = 1;
  sipr_tp_t *tp = sipr_stack_tp(s->stack, 0);
  for (unsigned i = 0;; i++) {
    const sipr_tp_addr_t *a = tp ? sipr_tp_local(tp, i) : NULL;
    if (!a)
      break;
    char b[80];
    sipr__log_force(SIPR_LOG_INFO, "listen: %s",
                    sipr_tp_addr_str(a, b, sizeof b));
    if (!is_loopback(a))
      all_loopback = 0;
  }
  char doms[2048];
  size_t off = 0;
  doms[0] = 0;
  for (unsigned i = 0; i < c->ndomains && off < sizeof doms; i++)
    off += (size_t)snprintf(doms + off, sizeof doms - off, "%s%s",
                            i ? ", " : "", c->domains[i]);
  sipr__log_force(SIPR_LOG_INFO, "domains: %s (and the listen addresses%s)",
                  c->ndomains ? doms : "none configured",
                  s->nhost_addrs ? " and this host's addresses" : "");
  sipr__log_force(SIPR_LOG_INFO, "store: %s", c->store);
  char algs[80] = "";
  for (unsigned i = 0, ao = 0; i < c->nauth_algs && ao < sizeof algs; i++)
    ao += (unsigned)snprintf(algs + ao, sizeof algs - ao, "%s%s",
                              i ? ", " : "", c->auth_algs[i]);
  if (c->auth)
    sipr__log_force(SIPR_LOG_INFO, "auth: on (digest %s; realm \"%s\")", algs,
                    c->realm);
  else if (all_loopback)
    sipr__log_force(SIPR_LOG_INFO,
                    "auth: off (loopback only: every listen address is a "
                    "loopback address)");
  else
    sipr__log_force(SIPR_LOG_WARN,
                    "auth: off on a non-loopback address: anyone who reaches "
                    "it can register any AOR");
  sipr__log_force(SIPR_LOG_INFO, "workers: %u",
                  sipr_stack_workers(s->stack));
  if (c->mode == SIPR_MODE_REDIRECT)
    sipr__log_force(SIPR_LOG_INFO, "mode: redirect (302 with the bindings of "
                                   "our users)");
  else
    sipr__log_force(SIPR_LOG_INFO, "mode: proxy (stateful, %s forking, "
                                   "timer C %u s; other domains only for "
                                   "authenticated users or rules; %u "
                                   "rule(s))",
                    c->fork_sequential ? "sequential" : "parallel",
                    c->timer_c, c->nrules);
  if (c->edge[0] && c->mode != SIPR_MODE_REDIRECT)
    sipr__log_force(SIPR_LOG_INFO, "edge: REGISTERs for other domains go to "
                                   "%s with our Path (RFC 3327; %s)",
                    c->edge,
                    c->edge_path == SIPR_PATH_ALWAYS     ? "always"
                    : c->edge_path == SIPR_PATH_REQUIRED ? "required"
                                                         : "when supported");
  sipr__log_force(SIPR_LOG_INFO, "expires: min %u, default %u, max %u",
                  c->expires_min, c->expires_default, c->expires_max);
  sipr__log_force(SIPR_LOG_INFO, "log: level %s, format %s",
                  sipr_log_level_name(c->log_level),
                  c->log_format == SIPR_LOG_JSON ? "json" : "text");
}

/* ---- reload ------------------------------------------------------------- */

static int same_list(const char (*a)[SIPR_SERVER_NAME_LEN], unsigned na,
                     const char (*b)[SIPR_SERVER_NAME_LEN], unsigned nb) {
  if (na != nb)
    return 0;
  for (unsigned i = 0; i < na; i++)
    if (strcmp(a[i], b[i]) != 0)
      return 0;
  return 1;
}

static void reload(server_t *s) {
  const sipr_server_opts_t *o = s->opts;
  if (!o->config_path) {
    sipr_log(SIPR_LOG_WARN, "SIGHUP: no configuration file (-c) to reload");
    return;
  }
  sipr_server_cfg_t n;
  char err[1024];
  if (sipr_server_cfg_build(&n, o->config_path, o->ov, o->nov, err,
                            sizeof err)) {
    sipr_log(SIPR_LOG_ERROR, "reload refused, running configuration kept: %s",
             err);
    return;
  }
  sipr_server_cfg_t *c = &s->cfg;

  /* What needs a restart: said, not applied. */
  int listen_same = n.nlisten == c->nlisten;
  for (unsigned i = 0; listen_same && i < n.nlisten; i++)
    listen_same = strcmp(n.listen[i], c->listen[i]) == 0;
  if (!listen_same)
    sipr_log(SIPR_LOG_WARN, "reload: listen addresses changed; they take "
                            "effect at the next start");
  if (strcmp(n.store, c->store) != 0)
    sipr_log(SIPR_LOG_WARN, "reload: store changed to %s; it takes effect at "
                            "the next start (still %s)",
             n.store, c->store);
  if (strcmp(n.dns_servers, c->dns_servers) != 0)
    sipr_log(SIPR_LOG_WARN, "reload: dns_servers changed; takes effect at "
                            "the next start");
  if (n.workers != c->workers)
    sipr_log(SIPR_LOG_WARN, "reload: workers changed; takes effect at the "
                            "next start");
  if (n.mode != c->mode)
    sipr_log(SIPR_LOG_WARN, "reload: mode changed; takes effect at the next "
                            "start");
  /* Live through a new proxy: domains, auth, rules, forking, Timer C,
   * 3xx recursion (the mode stays until the next start). */
  int rules_same = n.nrules == c->nrules;
  for (unsigned i = 0; rules_same && i < n.nrules; i++)
    rules_same = strcmp(n.rules[i], c->rules[i]) == 0;
  if (!rules_same || n.fork_sequential != c->fork_sequential ||
      n.fork_timeout != c->fork_timeout || n.timer_c != c->timer_c ||
      n.recurse_3xx != c->recurse_3xx || n.auth != c->auth ||
      strcmp(n.edge, c->edge) != 0 || n.edge_path != c->edge_path ||
      !same_list((const char (*)[SIPR_SERVER_NAME_LEN])n.domains, n.ndomains,
                 (const char (*)[SIPR_SERVER_NAME_LEN])c->domains,
                 c->ndomains)) {
    sipr_server_cfg_t t = n;
    t.mode = c->mode;
    sipr_proxy_t *px = atomic_load(&s->npgens) < MAX_GENS
                           ? make_proxy(s, &t)
                           : NULL;
    if (!px) {
      sipr_log(SIPR_LOG_WARN, "reload: the proxy could not be renewed (%d "
                              "reloads already, or out of memory); its "
                              "domains, auth and rules take effect at the "
                              "next start",
               MAX_GENS);
    } else {
      push_proxy(s, px);
      memcpy(c->rules, n.rules, sizeof c->rules);
      c->nrules = n.nrules;
      c->fork_sequential = n.fork_sequential;
      c->fork_timeout = n.fork_timeout;
      c->timer_c = n.timer_c;
      c->recurse_3xx = n.recurse_3xx;
      memcpy(c->edge, n.edge, sizeof c->edge);
      c->edge_path = n.edge_path;
    }
  }
  int algs_same = n.nauth_algs == c->nauth_algs;
  for (unsigned i = 0; algs_same && i < n.nauth_algs; i++)
    algs_same = strcmp(n.auth_algs[i], c->auth_algs[i]) == 0;
  if (!algs_same)
    sipr_log(SIPR_LOG_WARN, "reload: auth_algorithms changed; they take "
                            "effect at the next start");
  if (strcmp(n.realm, c->realm) != 0)
    sipr_log(SIPR_LOG_WARN, "reload: realm changed to \"%s\"; it takes effect "
                            "at the next start (still \"%s\")",
             n.realm, c->realm);

  /* Live: log level and format. */
  sipr_log_setup(n.log_level, n.log_format);
  c->log_level = n.log_level;
  c->log_format = n.log_format;

  /* Live through a new registrar: domains, expiry limits, auth. */
  int reg_same =
      same_list((const char (*)[SIPR_SERVER_NAME_LEN])n.domains, n.ndomains,
                (const char (*)[SIPR_SERVER_NAME_LEN])c->domains,
                c->ndomains) &&
      n.expires_min == c->expires_min &&
      n.expires_default == c->expires_default &&
      n.expires_max == c->expires_max && n.auth == c->auth;
  if (!reg_same) {
    if (atomic_load(&s->ngens) >= MAX_GENS) {
      sipr_log(SIPR_LOG_WARN,
               "reload: %d registrar reloads already; domains, expiry and "
               "auth changes take effect at the next start",
               MAX_GENS);
    } else {
      sipr_registrar_t *r = make_registrar(s, &n);
      if (!r) {
        sipr_log(SIPR_LOG_ERROR, "reload: the new registrar could not be "
                                 "created; domains, expiry and auth kept");
      } else {
        push_gen(s, r);
        memcpy(c->domains, n.domains, sizeof c->domains);
        c->ndomains = n.ndomains;
        c->expires_min = n.expires_min;
        c->expires_default = n.expires_default;
        c->expires_max = n.expires_max;
        c->auth = n.auth;
      }
    }
  }
  sipr_log(SIPR_LOG_INFO,
           "reloaded %s: auth %s, %u domain(s), expires %u/%u/%u, log %s %s",
           o->config_path, c->auth ? "on" : "off", c->ndomains,
           c->expires_min, c->expires_default, c->expires_max,
           sipr_log_level_name(c->log_level),
           c->log_format == SIPR_LOG_JSON ? "json" : "text");
}

/* ---- main --------------------------------------------------------------- */

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* In flight: REGISTERs waiting for the store, up to STOP_GRACE_MS. */
static void drain(server_t *s) {
  uint64_t end = mono_ms() + STOP_GRACE_MS;
  for (;;) {
    uint64_t pending = 0;
    unsigned n = atomic_load(&s->ngens);
    for (unsigned i = 0; i < n; i++) {
      sipr_registrar_stats_t st;
      sipr_registrar_get_stats(s->gens[i], &st);
      pending += st.pending;
    }
    if (pending == 0)
      return;
    if (mono_ms() >= end) {
      sipr_log(SIPR_LOG_WARN, "stopping with %llu REGISTER(s) unanswered",
               (unsigned long long)pending);
      return;
    }
    struct timespec ts = {0, 10 * 1000000};
    nanosleep(&ts, NULL);
  }
}

int sipr_server_main(const sipr_server_opts_t *opts) {
  static server_t srv; /* large (configuration arrays); one per process */
  server_t *s = &srv;
  memset(s, 0, sizeof *s);
  s->opts = opts;

  char err[1024];
  if (sipr_server_cfg_build(&s->cfg, opts->config_path, opts->ov, opts->nov,
                            err, sizeof err)) {
    fprintf(stderr, "sipr serve: %s\n", err);
    return 1;
  }
  sipr_log_setup(s->cfg.log_level, s->cfg.log_format);

  /* Signals belong to this thread: block them before any thread starts. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  int status = 1;
  if (build(s) != 0)
    goto out;
  int rc = sipr_stack_start(s->stack);
  if (rc) {
    sipr_log(SIPR_LOG_ERROR, "cannot start the workers: %s", sipr_strerror(rc));
    goto out;
  }
  expire(s); /* the store loaded expired rows too */
  banner(s);

  for (;;) {
    struct timespec tick = {1, 0};
    int sig = sigtimedwait(&set, NULL, &tick);
    sipr_log_tick();
    expire(s);
    if (sig == SIGHUP) {
      sipr_log(SIPR_LOG_INFO, "SIGHUP: reloading %s",
               opts->config_path ? opts->config_path : "(no file)");
      reload(s);
    } else if (sig == SIGTERM || sig == SIGINT) {
      sipr__log_force(SIPR_LOG_INFO, "%s: stopping",
                      sig == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
  }
  drain(s);
  status = 0;
out:
  teardown(s);
  if (status == 0)
    sipr__log_force(SIPR_LOG_INFO, "stopped");
  return status;
}
