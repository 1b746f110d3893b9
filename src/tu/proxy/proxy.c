/*
 * Stateful forking proxy (RFC 3261 §16) and redirect server (§8.3); see
 * include/sipr/proxy.h for what a request goes through.
 *
 * One request = one response context (px_req_t) owned by the worker
 * thread of its server transaction: the server transaction's owner is the
 * context, each client transaction's owner is its branch (px_branch_t).
 * The context lives until the server transaction and every client
 * transaction (INVITEs and the CANCELs we sent) have terminated.
 *
 * The received request is preprocessed once (§16.4: strict-router
 * Request-URI, our Route values removed, our Proxy-Authorization
 * consumed) into a copy the context keeps; each branch re-parses that
 * copy and records its own edits (§16.6), so a sequential group can start
 * long after the transport's buffer is gone.
 */
#include "../tu_internal.h"
#include "proxy_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PX_REQ_MAGIC 0x50585251u /* "PXRQ" */
#define PX_BR_MAGIC 0x50584252u  /* "PXBR" */
#define PX_MAX_BRANCHES 16
/* Stack storage for the arena of a passing parse (a request or response
 * of ordinary size fits; a larger one goes on to the heap). */
#define PX_SCRATCH 8192
#define PX_MAX_LOCALS 16
#define PX_MAX_ROUTES 32
#define PX_HOST_LEN 64

typedef struct px_domain {
  char *host;
  size_t host_len;
  int port; /* -1: any */
} px_domain_t;

struct sipr_proxy {
  sipr_proxy_cfg_t cfg; /* strings cleared: copies below */
  px_domain_t *domains;
  size_t ndomains;
  sipr_tp_addr_t locals[PX_MAX_LOCALS];
  size_t nlocals;
  char *advertise;
  char *realm;
  sipr_store_t *store;
  sipr_auth_server_t *auth;
  px_rule_t *rules;
  size_t nrules;
  char *edge;         /* RFC 3327 edge: the registrar's URI, or NULL */
  pthread_mutex_t mu; /* the list of contexts (freed at the end), acks */
  struct px_ack_wait *acks; /* ACKs waiting for their next hop's name */
  struct px_req *live;
  _Atomic uint64_t st_requests, st_forwarded, st_stateless, st_active;
  _Atomic uint64_t st_by_class[7];
};

struct px_req;

/* An ACK for a 2xx (forwarded statelessly, §16.11) whose next hop is a
 * host name being looked up: a copy of it until the answer comes. */
typedef struct px_ack_wait {
  struct px_ack_wait *prev, *next;
  sipr_proxy_t *p;
  sipr_tp_src_t src;
  int has_src;
  size_t len;
  char buf[];
} px_ack_wait_t;

typedef struct px_branch {
  uint32_t magic;
  struct px_req *rq;
  unsigned group;
  char *uri;           /* the target (Request-URI of this branch) */
  char *path;          /* Route values from the binding's Path, or NULL */
  char *hop;           /* a rule's next hop (forward), or NULL */
  int set_ruri;        /* uri replaces the Request-URI (§16.6 step 2) */
  int started, done;
  unsigned status;     /* final status of the branch (received or as-if) */
  sipr_txn_t *ct;      /* the forwarded request's client transaction */
  sipr_txn_t *cancel_ct;
  sipr_tp_addr_t dest;
  int provisional, cancel_pending, cancel_sent;
  sipr_timer_t timer_c; /* §16.8 */
  /* A next hop named by a host name (RFC 3263 §4.2, A/AAAA): the lookup
   * in progress (it counts in rq->live), then its addresses. */
  sipr_res_query_t *lookup;
  int resolving;
  size_t nres;
  sipr_tp_addr_t *res; /* nres addresses (malloc), NULL for numeric hops */
} px_branch_t;

typedef struct px_req {
  uint32_t magic;
  sipr_proxy_t *p;
  struct px_req *prev, *next;
  sipr_txn_t *st;      /* NULL once terminated */
  sipr_txn_layer_t *layer;
  sipr_loop_t *loop;
  char *req;           /* preprocessed request */
  size_t req_len;
  sipr_tp_src_t src;
  int invite, record_route;
  int add_path;        /* RFC 3327 §5.2: our Path on the REGISTER relayed */
  int require_path;    /* and Require: path */
  sipr_proxy_fork_t fork;
  char loop_hash[9];
  unsigned nbr, next_group, ngroups;
  unsigned cap;        /* room in br[] (fixed at creation: br[i] is an owner
                        * pointer of timers and transactions, never moved) */
  int final_sent, cancelled, got_6xx;
  unsigned live;       /* client transactions alive */
  char *best;          /* bytes of the best final response so far */
  size_t best_len;
  unsigned best_status;
  const char *best_reason; /* for an as-if response (no bytes) */
  sipr_buf_t chal;     /* WWW-/Proxy-Authenticate lines of 401/407s */
  sipr_timer_t fork_timer;
  /* The branches: as many as the targets known at creation, or
   * max_branches when 3xx recursion may add some. A context lives until
   * its server transaction ends (64*T1 after a final answer), so a
   * context sized for the most branches for every request held
   * ~20 KiB per call for 32 s. */
  px_branch_t br[];
} px_req_t;

/* ---- small helpers ------------------------------------------------------ */

static uint64_t ms_now(const sipr_proxy_t *p) {
  return p->cfg.clock->now_ms(p->cfg.clock->ctx);
}

static int64_t wall_default(void *ctx) {
  (void)ctx;
  return (int64_t)time(NULL);
}

static void count_status(sipr_proxy_t *p, unsigned status) {
  if (status >= 100 && status < 700)
    atomic_fetch_add_explicit(&p->st_by_class[status / 100], 1,
                              memory_order_relaxed);
}

static void append_field(sipr_buf_t *b, sipr_str_t raw) {
  sipr_buf_append_str(b, raw);
  if (!raw.len || raw.p[raw.len - 1] != '\n')
    sipr_buf_append(b, "\r\n", 2);
}

/* §8.2.6: a response of our own to req (To tag added past 100). */
static int respond(sipr_proxy_t *p, sipr_txn_t *st, sipr_msg_t *req,
                   unsigned status, const char *reason, const char *extra) {
  if (!st)
    return SIPR_EINVAL;
  char tag[SIPR__TU_TAG_LEN + 1];
  sipr__tu_new_tag(tag);
  sipr_buf_t b;
  sipr_buf_init(&b);
  int rc = sipr_print_response(&b, req, status, reason,
                               status > 100 ? sipr_str_cstr(tag)
                                            : SIPR_STR_NULL,
                               extra ? sipr_str_cstr(extra) : SIPR_STR_NULL);
  if (rc == 0 && !b.failed)
    rc = sipr_txn_respond(st, b.p, b.len);
  sipr_buf_free(&b);
  if (status >= 200)
    count_status(p, status);
  return rc;
}

/* FNV-1a over the fields that make the §16.6 step 8 loop hash. */
static uint32_t fnv(uint32_t h, sipr_str_t s) {
  for (size_t i = 0; i < s.len; i++) {
    h ^= (unsigned char)s.p[i];
    h *= 16777619u;
  }
  h ^= 0xff; /* separator */
  h *= 16777619u;
  return h;
}

/* ---- addresses ---------------------------------------------------------- */

static int is_wildcard(const sipr_tp_addr_t *a) {
  if (a->sa.ss_family == AF_INET)
    return ((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr ==
           htonl(INADDR_ANY);
  if (a->sa.ss_family == AF_INET6)
    return IN6_IS_ADDR_UNSPECIFIED(
        &((const struct sockaddr_in6 *)&a->sa)->sin6_addr);
  return 0;
}

/* Same IP address and port (whatever the protocol). */
static int ip_port_eq(const sipr_tp_addr_t *a, const sipr_tp_addr_t *b) {
  if (a->sa.ss_family != b->sa.ss_family ||
      sipr_tp_addr_port(a) != sipr_tp_addr_port(b))
    return 0;
  if (a->sa.ss_family == AF_INET)
    return ((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr ==
           ((const struct sockaddr_in *)&b->sa)->sin_addr.s_addr;
  if (a->sa.ss_family == AF_INET6)
    return memcmp(&((const struct sockaddr_in6 *)&a->sa)->sin6_addr,
                  &((const struct sockaddr_in6 *)&b->sa)->sin6_addr,
                  16) == 0;
  return 0;
}

/* "192.0.2.1" or "[2001:db8::1]" of a (the advertised host for a
 * wildcard, else the fallback address's). */
static void host_text(const sipr_proxy_t *p, const sipr_tp_addr_t *a,
                      const sipr_tp_addr_t *fallback, char *out, size_t cap) {
  if (is_wildcard(a)) {
    if (p->advertise) {
      snprintf(out, cap, "%s", p->advertise);
      return;
    }
    if (fallback && !is_wildcard(fallback))
      a = fallback;
  }
  char t[INET6_ADDRSTRLEN] = "";
  if (a->sa.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&a->sa)->sin6_addr, t,
              sizeof t);
    snprintf(out, cap, "[%s]", t);
  } else {
    inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->sa)->sin_addr, t,
              sizeof t);
    snprintf(out, cap, "%s", t);
  }
}

/* A host text with its port (-1: the default of proto) as an address. */
static int host_addr(sipr_str_t host, int port, sipr_tp_proto_t proto,
                     sipr_tp_addr_t *out) {
  return sipr_tp_addr_set(out, proto, host, port);
}

static int domain_match(const sipr_proxy_t *p, sipr_str_t host, int port,
                        int check_port) {
  for (size_t i = 0; i < p->ndomains; i++) {
    const px_domain_t *d = &p->domains[i];
    if (!sipr_str_caseeq(host, sipr_str_make(d->host, d->host_len)))
      continue;
    if (!check_port || d->port < 0 || d->port == port)
      return 1;
  }
  return 0;
}

/* §16.4: host:port names this proxy (one of our listening addresses, or
 * one of our domains at one of our ports). */
static int hostport_is_me(const sipr_proxy_t *p, sipr_str_t host, int port,
                          sipr_tp_proto_t proto) {
  int eport = port >= 0 ? port : sipr_tp_default_port(proto);
  sipr_tp_addr_t a;
  if (host_addr(host, eport, SIPR_TP_UDP, &a) == 0) {
    for (size_t i = 0; i < p->nlocals; i++)
      if (!is_wildcard(&p->locals[i]) && ip_port_eq(&a, &p->locals[i]))
        return 1;
  }
  if (domain_match(p, host, eport, 1))
    for (size_t i = 0; i < p->nlocals; i++)
      if (sipr_tp_addr_port(&p->locals[i]) == eport)
        return 1;
  return 0;
}

static sipr_tp_proto_t uri_proto(const sipr_uri_t *u) {
  if (u->scheme == SIPR_URI_SIPS)
    return SIPR_TP_TLS;
  if (u->transport.p) {
    sipr_tp_proto_t t = sipr_tp_proto_from_str(u->transport);
    return t == SIPR_TP_NONE ? SIPR_TP_UDP : t;
  }
  return SIPR_TP_UDP;
}

static int uri_is_me(const sipr_proxy_t *p, const sipr_uri_t *u) {
  if (!u || (u->scheme != SIPR_URI_SIP && u->scheme != SIPR_URI_SIPS))
    return 0;
  return hostport_is_me(p, u->host, u->port, uri_proto(u));
}

/* A Request-URI of one of our domains (§16.5): a configured domain, or a
 * listening address. */
static int uri_domain_ours(const sipr_proxy_t *p, const sipr_uri_t *u) {
  if (!u || (u->scheme != SIPR_URI_SIP && u->scheme != SIPR_URI_SIPS))
    return 0;
  int port = u->port >= 0 ? u->port : (u->scheme == SIPR_URI_SIPS ? 5061 : 5060);
  if (domain_match(p, u->host, port, 1))
    return 1;
  sipr_tp_addr_t a;
  if (host_addr(u->host, port, SIPR_TP_UDP, &a) == 0)
    for (size_t i = 0; i < p->nlocals; i++)
      if (!is_wildcard(&p->locals[i]) && ip_port_eq(&a, &p->locals[i]))
        return 1;
  return 0;
}

/* §16.6 step 7: the address of a next-hop URI (maddr, transport, port).
 * SIPR_ENOENT: a host name, to be resolved (branch_resolve());
 * SIPR_EINVAL: a transport we cannot use. */
static int uri_dest(const sipr_uri_t *u, sipr_tp_addr_t *out) {
  if (u->scheme != SIPR_URI_SIP && u->scheme != SIPR_URI_SIPS)
    return SIPR_EINVAL;
  sipr_tp_proto_t proto = uri_proto(u);
  if (proto != SIPR_TP_UDP && proto != SIPR_TP_TCP)
    return SIPR_EINVAL;
  sipr_str_t host = u->maddr.p ? u->maddr : u->host;
  int rc = sipr_tp_addr_set(out, proto, host, u->port);
  if (rc == 0)
    return 0;
  return SIPR_ENOENT;
}

/* The local address a request to dest leaves from: the arrival address
 * when it fits, else the first of that protocol and family. */
static const sipr_tp_addr_t *pick_local(const sipr_proxy_t *p,
                                        const sipr_tp_addr_t *dest,
                                        const sipr_tp_addr_t *arrival) {
  if (arrival && arrival->proto == dest->proto &&
      arrival->sa.ss_family == dest->sa.ss_family)
    for (size_t i = 0; i < p->nlocals; i++)
      if (p->locals[i].proto == dest->proto &&
          ip_port_eq(&p->locals[i], arrival))
        return &p->locals[i];
  for (size_t i = 0; i < p->nlocals; i++)
    if (p->locals[i].proto == dest->proto &&
        p->locals[i].sa.ss_family == dest->sa.ss_family)
      return &p->locals[i];
  return NULL;
}

/* ---- the proxy object --------------------------------------------------- */

void sipr_proxy_cfg_default(sipr_proxy_cfg_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->fork = SIPR_FORK_PARALLEL;
  cfg->timer_c_ms = 185000; /* §16.8: greater than 3 minutes */
  cfg->fork_timeout_ms = 20000;
  cfg->max_branches = 12;
}

int sipr_proxy_edge_check(const char *uri, char *err, size_t errlen) {
  const char *why = NULL;
  char scratch[PX_SCRATCH];
  sipr_arena_t a;
  sipr_arena_init(&a, scratch, sizeof scratch, 1 << 16);
  sipr_uri_t u;
  sipr_perr_t perr;
  if (!uri || sipr_uri_parse(&a, uri, strlen(uri), &u, &perr))
    why = "not a URI";
  else if (u.scheme != SIPR_URI_SIP && u.scheme != SIPR_URI_SIPS)
    why = "not a sip: or sips: URI";
  else if (uri_proto(&u) != SIPR_TP_UDP && uri_proto(&u) != SIPR_TP_TCP)
    why = "a transport other than udp or tcp";
  sipr_arena_free(&a);
  if (!why)
    return 0;
  if (err && errlen)
    snprintf(err, errlen, "edge registrar '%s': %s", uri ? uri : "", why);
  return SIPR_EINVAL;
}

static int add_domain(sipr_proxy_t *p, const char *text) {
  if (!text || !text[0])
    return SIPR_EINVAL;
  size_t len = strlen(text), hl = len;
  int port = -1;
  const char *colon = NULL;
  if (text[0] == '[') {
    const char *rb = strchr(text, ']');
    if (!rb)
      return SIPR_EINVAL;
    hl = (size_t)(rb - text) + 1;
    if (rb[1] == ':')
      colon = rb + 1;
    else if (rb[1])
      return SIPR_EINVAL;
  } else {
    colon = strchr(text, ':');
    if (colon)
      hl = (size_t)(colon - text);
  }
  if (colon) {
    uint64_t v;
    if (sipr_str_to_u64(sipr_str_cstr(colon + 1), 65535, &v) || v == 0)
      return SIPR_EINVAL;
    port = (int)v;
  }
  if (hl == 0)
    return SIPR_EINVAL;
  char *h = malloc(hl + 1);
  if (!h)
    return SIPR_ENOMEM;
  memcpy(h, text, hl);
  h[hl] = '\0';
  p->domains[p->ndomains].host = h;
  p->domains[p->ndomains].host_len = hl;
  p->domains[p->ndomains].port = port;
  p->ndomains++;
  return 0;
}

sipr_proxy_t *sipr_proxy_new(const sipr_proxy_cfg_t *cfg, sipr_store_t *store,
                             sipr_auth_server_t *auth) {
  if (!cfg || !store || !cfg->ops.layer || !cfg->ops.loop ||
      (cfg->auth && !auth))
    return NULL;
  sipr_proxy_t *p = calloc(1, sizeof(*p));
  if (!p)
    return NULL;
  p->cfg = *cfg;
  pthread_mutex_init(&p->mu, NULL);
  if (!p->cfg.wall_now) {
    p->cfg.wall_now = wall_default;
    p->cfg.wall_ctx = NULL;
  }
  if (!p->cfg.clock)
    p->cfg.clock = sipr_clock_monotonic();
  if (p->cfg.timer_c_ms == 0)
    p->cfg.timer_c_ms = 185000;
  if (p->cfg.fork_timeout_ms == 0)
    p->cfg.fork_timeout_ms = 20000;
  if (p->cfg.max_branches == 0)
    p->cfg.max_branches = 12;
  if (p->cfg.max_branches > PX_MAX_BRANCHES)
    p->cfg.max_branches = PX_MAX_BRANCHES;
  p->store = store;
  p->auth = auth;
  p->realm = strdup(cfg->realm ? cfg->realm : "sipr");
  p->advertise = cfg->advertise ? strdup(cfg->advertise) : NULL;
  p->cfg.domains = NULL;
  p->cfg.ndomains = 0;
  p->cfg.locals = NULL;
  p->cfg.nlocals = 0;
  p->cfg.realm = NULL;
  p->cfg.advertise = NULL;
  if (!p->realm || (cfg->advertise && !p->advertise))
    goto fail;
  if (cfg->ndomains) {
    p->domains = calloc(cfg->ndomains, sizeof(*p->domains));
    if (!p->domains)
      goto fail;
  }
  for (size_t i = 0; i < cfg->ndomains; i++)
    if (add_domain(p, cfg->domains[i]))
      goto fail;
  for (size_t i = 0; i < cfg->nlocals && i < PX_MAX_LOCALS; i++)
    p->locals[p->nlocals++] = cfg->locals[i];
  p->cfg.edge = NULL;
  if (cfg->edge && (sipr_proxy_edge_check(cfg->edge, NULL, 0) ||
                    !(p->edge = strdup(cfg->edge))))
    goto fail;
  p->cfg.rules = NULL;
  p->cfg.nrules = 0;
  if (cfg->nrules) {
    p->rules = calloc(cfg->nrules, sizeof(*p->rules));
    if (!p->rules)
      goto fail;
    for (size_t i = 0; i < cfg->nrules; i++) {
      if (sipr__px_rule_parse(cfg->rules[i], &p->rules[i], NULL, 0))
        goto fail;
      p->nrules++;
    }
  }
  return p;
fail:
  sipr_proxy_free(p);
  return NULL;
}

static void rq_free(px_req_t *rq);

void sipr_proxy_free(sipr_proxy_t *p) {
  if (!p)
    return;
  while (p->live) {
    px_req_t *rq = p->live;
    p->live = rq->next;
    rq->prev = rq->next = NULL;
    rq->p = NULL; /* not in the list any more */
    for (unsigned i = 0; i < rq->nbr; i++) {
      free(rq->br[i].uri);
      free(rq->br[i].path);
      free(rq->br[i].hop);
      free(rq->br[i].res);
    }
    free(rq->req);
    free(rq->best);
    sipr_buf_free(&rq->chal);
    free(rq);
  }
  for (size_t i = 0; i < p->ndomains; i++)
    free(p->domains[i].host);
  free(p->domains);
  for (size_t i = 0; i < p->nrules; i++)
    sipr__px_rule_free(&p->rules[i]);
  free(p->rules);
  while (p->acks) { /* their resolvers are gone: no answer will come */
    px_ack_wait_t *w = p->acks;
    p->acks = w->next;
    free(w);
  }
  free(p->realm);
  free(p->advertise);
  free(p->edge);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

void sipr_proxy_get_stats(const sipr_proxy_t *p, sipr_proxy_stats_t *out) {
  memset(out, 0, sizeof(*out));
  sipr_proxy_t *m = (sipr_proxy_t *)p;
  out->requests = atomic_load(&m->st_requests);
  out->forwarded = atomic_load(&m->st_forwarded);
  out->relayed_stateless = atomic_load(&m->st_stateless);
  out->active = atomic_load(&m->st_active);
  for (int i = 0; i < 7; i++)
    out->responses[i] = atomic_load(&m->st_by_class[i]);
}

/* ---- dispatch ----------------------------------------------------------- */

/* The Route values of m in order (each a parsed name-addr). Returns the
 * count, or -1 when a Route does not parse or there are too many. */
static int route_list(sipr_msg_t *m, sipr_addr_t **out, sipr_hdr_t **hdr_of) {
  int n = 0;
  for (sipr_hdr_t *h = m->first[SIPR_HDR_ROUTE]; h; h = h->next_same) {
    sipr_perr_t err;
    if (sipr_hdr_parse(m, h, &err) < 0 || !h->parsed)
      return -1;
    for (sipr_addr_t *ad = h->parsed; ad; ad = ad->next) {
      if (n >= PX_MAX_ROUTES)
        return -1;
      if (hdr_of)
        hdr_of[n] = h;
      out[n++] = ad;
    }
  }
  return n;
}

int sipr_proxy_for_us(const sipr_proxy_t *p, sipr_msg_t *req,
                      const sipr_tp_src_t *src) {
  (void)src;
  if (!p || !req || !req->is_request)
    return 0;
  sipr_uri_t *u = sipr_msg_ruri(req);
  if (!u)
    return 1; /* the UAS core answers 400 */
  if (u->scheme != SIPR_URI_SIP && u->scheme != SIPR_URI_SIPS)
    return 0;  /* §16.3 step 2: the proxy answers 416 */
  sipr_addr_t *routes[PX_MAX_ROUTES];
  int nr = route_list(req, routes, NULL);
  if (nr < 0)
    return 1;
  for (int i = 0; i < nr; i++)
    if (!uri_is_me(p, &routes[i]->uri))
      return 0; /* someone else's Route: proxy it (§16.4) */
  /* §10.3 step 1: REGISTER is the registrar's, which answers 404 for a
   * domain it does not serve; an edge proxy (RFC 3327) relays those to
   * its registrar instead. */
  if (req->method_id == SIPR_METHOD_REGISTER)
    return !p->edge || uri_domain_ours(p, u) || uri_is_me(p, u);
  int ours = uri_domain_ours(p, u) || uri_is_me(p, u);
  return ours && (!u->user.p || u->user.len == 0);
}

/* ---- response contexts -------------------------------------------------- */

static px_req_t *req_of(sipr_proxy_t *p, void *owner) {
  px_req_t *rq = owner;
  if (!rq || *(const uint32_t *)owner != PX_REQ_MAGIC || rq->p != p)
    return NULL;
  return rq;
}

static px_branch_t *branch_of(sipr_proxy_t *p, void *owner) {
  px_branch_t *b = owner;
  if (!b || *(const uint32_t *)owner != PX_BR_MAGIC || b->rq->p != p)
    return NULL;
  return b;
}

static void rq_free(px_req_t *rq) {
  sipr_proxy_t *p = rq->p;
  sipr_timer_stop(rq->loop, &rq->fork_timer);
  for (unsigned i = 0; i < rq->nbr; i++) {
    sipr_timer_stop(rq->loop, &rq->br[i].timer_c);
    free(rq->br[i].uri);
    free(rq->br[i].path);
    free(rq->br[i].hop);
    free(rq->br[i].res);
    rq->br[i].magic = 0;
  }
  pthread_mutex_lock(&p->mu);
  if (rq->prev)
    rq->prev->next = rq->next;
  else
    p->live = rq->next;
  if (rq->next)
    rq->next->prev = rq->prev;
  pthread_mutex_unlock(&p->mu);
  atomic_fetch_sub_explicit(&p->st_active, 1, memory_order_relaxed);
  rq->magic = 0;
  free(rq->req);
  free(rq->best);
  sipr_buf_free(&rq->chal);
  free(rq);
}

static void rq_maybe_free(px_req_t *rq) {
  if (!rq->st && rq->live == 0)
    rq_free(rq);
}

/* Parses the context's request copy into a (arena owned by the caller). */
static sipr_msg_t *rq_parse(px_req_t *rq, sipr_arena_t *a) {
  sipr_msg_t *m = NULL;
  sipr_perr_t err;
  if (sipr_msg_parse(a, rq->req, rq->req_len, SIPR_PARSE_DATAGRAM, &m, &err) ||
      sipr_msg_check(m, &err))
    return NULL;
  return m;
}

/* An answer of our own to the context's request. */
static void rq_respond(px_req_t *rq, unsigned status, const char *reason,
                       const char *extra) {
  char scratch[PX_SCRATCH];
  sipr_arena_t a;
  sipr_arena_init(&a, scratch, sizeof scratch, 1 << 20);
  sipr_msg_t *m = rq_parse(rq, &a);
  if (m)
    respond(rq->p, rq->st, m, status, reason, extra);
  sipr_arena_free(&a);
}

/* ---- response forwarding (§16.7) ----------------------------------------- */

/* resp without its top Via value (§16.7 step 3), with status replaced
 * when status is not 0, and when chal is given, its WWW-Authenticate and
 * Proxy-Authenticate fields replaced by chal (§16.7 step 7). *next_via
 * (may be NULL) receives the Via the response goes to next. */
static int strip_via(sipr_msg_t *resp, unsigned status, const sipr_buf_t *chal,
                     sipr_buf_t *out, const sipr_via_t **next_via) {
  int first_done = 0;
  const sipr_via_t *nv = NULL;
  if (status)
    sipr_print_status_line(out, status, SIPR_STR_NULL);
  else {
    sipr_buf_append_str(out, resp->start_line);
    sipr_buf_append(out, "\r\n", 2);
  }
  for (sipr_hdr_t *h = resp->hdrs; h; h = h->next) {
    if (h->type == SIPR_HDR_VIA) {
      sipr_perr_t err;
      if (sipr_hdr_parse(resp, h, &err) < 0 || !h->parsed)
        return SIPR_EPARSE;
      const sipr_via_t *v = h->parsed;
      if (!first_done) {
        first_done = 1;
        if (v->next) {
          const char *s = v->next->raw.p;
          const char *e = h->value.p + h->value.len;
          sipr_buf_append_str(out, h->name);
          sipr_buf_append(out, ": ", 2);
          sipr_buf_append(out, s, (size_t)(e - s));
          sipr_buf_append(out, "\r\n", 2);
          nv = v->next;
        }
        continue;
      }
      if (!nv)
        nv = v;
    }
    if (chal && (h->type == SIPR_HDR_WWW_AUTHENTICATE ||
                 h->type == SIPR_HDR_PROXY_AUTHENTICATE))
      continue;
    append_field(out, h->raw);
  }
  if (chal && chal->len)
    sipr_buf_append(out, chal->p, chal->len);
  sipr_buf_append(out, "\r\n", 2);
  sipr_buf_append_str(out, resp->body);
  if (next_via)
    *next_via = nv;
  return out->failed ? SIPR_ENOMEM : 0;
}

/* Statelessly to the next Via (§16.11, §18.2.2). */
static void forward_stateless(sipr_proxy_t *p, sipr_msg_t *resp) {
  sipr_buf_t b;
  sipr_buf_init(&b);
  const sipr_via_t *nv = NULL;
  if (strip_via(resp, 0, NULL, &b, &nv) == 0 && nv && p->cfg.ops.send_response &&
      p->cfg.ops.send_response(p->cfg.ops_ctx, nv, b.p, b.len) == 0)
    atomic_fetch_add_explicit(&p->st_stateless, 1, memory_order_relaxed);
  sipr_buf_free(&b);
}

/* Forwards resp on the server transaction (stateless when it is gone or
 * refuses, for a 2xx: §16.7 step 9, every 2xx goes upstream). */
static void forward_resp(px_req_t *rq, sipr_msg_t *resp, unsigned status,
                         const sipr_buf_t *chal) {
  sipr_buf_t b;
  sipr_buf_init(&b);
  int rc = strip_via(resp, status, chal, &b, NULL);
  unsigned st = status ? status : resp->status;
  if (rc == 0) {
    rc = rq->st ? sipr_txn_respond(rq->st, b.p, b.len) : SIPR_EINVAL;
    if (rc == SIPR_EINVAL && rq->invite && st >= 200 && st < 300)
      forward_stateless(rq->p, resp);
    if (st >= 200 && rc == 0)
      count_status(rq->p, st);
  }
  sipr_buf_free(&b);
}

/* ---- branches (§16.6) ----------------------------------------------------- */

static void branch_done(px_branch_t *b, unsigned status, sipr_msg_t *resp,
                        const char *reason);
static void rq_maybe_finish(px_req_t *rq);
static void branch_cancel(px_branch_t *b);

static void timer_c_fired(sipr_loop_t *loop, void *arg) {
  (void)loop;
  px_branch_t *b = arg;
  if (b->done)
    return;
  /* §16.8: a provisional was received: CANCEL, and reset the timer (64*T1)
   * in case the CANCEL brings no final response either; else (or then)
   * behave as if the branch had received 408. */
  if (b->ct && b->provisional && !b->cancel_sent) {
    branch_cancel(b);
    sipr_timer_start(b->rq->loop, &b->timer_c, 32000);
    return;
  }
  /* §9.1: no final response 64*T1 after our CANCEL: the INVITE client
   * transaction is given up too, not left waiting forever. */
  if (b->ct && b->cancel_sent)
    sipr_txn_abandon(b->ct);
  branch_done(b, 408, NULL, NULL);
  rq_maybe_finish(b->rq);
}

static int branch_start(px_req_t *rq, px_branch_t *b);

/* Of the addresses a lookup gave, the first we have a local address for
 * (a next hop of the other IP family is of no use to a proxy listening on
 * one only). 0, or SIPR_EAGAIN when none fits. */
static int branch_pick(px_req_t *rq, px_branch_t *b) {
  for (size_t i = 0; i < b->nres; i++)
    if (pick_local(rq->p, &b->res[i], &rq->src.local)) {
      b->dest = b->res[i];
      return 0;
    }
  return SIPR_EAGAIN;
}

/* Keeps a lookup's addresses (at most SIPR_RES_MAX_ADDRS) with the branch.
 * 0, or SIPR_ENOMEM. */
static int branch_keep_addrs(px_branch_t *b, const sipr_tp_addr_t *addrs,
                             size_t n) {
  if (n > SIPR_RES_MAX_ADDRS)
    n = SIPR_RES_MAX_ADDRS;
  if (!n)
    return 0;
  sipr_tp_addr_t *r = malloc(n * sizeof *r);
  if (!r)
    return SIPR_ENOMEM;
  memcpy(r, addrs, n * sizeof *r);
  free(b->res);
  b->res = r;
  b->nres = n;
  return 0;
}

/* The answer to a branch's lookup, on the worker that owns the request
 * (the lookup was made on its loop). */
static void on_resolved(void *arg, int err, const sipr_tp_addr_t *addrs,
                        size_t n) {
  px_branch_t *b = arg;
  px_req_t *rq = b->rq;
  b->lookup = NULL;
  b->resolving = 0;
  rq->live--;
  if (rq->final_sent || rq->cancelled || rq->got_6xx) {
    /* the search ended while we waited: this branch never starts */
    branch_done(b, 487, NULL, "Request Terminated");
  } else if (err) {
    /* §16.9: as if the next hop had answered 503 */
    branch_done(b, 503, NULL,
                err == SIPR_ENOENT ? "Next Hop Not Found In DNS"
                                   : "Next Hop DNS Lookup Failed");
  } else {
    if (branch_keep_addrs(b, addrs, n))
      branch_done(b, 500, NULL, NULL);
    else
      branch_start(rq, b); /* as for a numeric host now */
  }
  rq_maybe_finish(rq);
  rq_maybe_free(rq);
}

/* RFC 3263 §4.2 (its last step, A/AAAA only for now): the addresses of a
 * next hop whose host is a name, with the URI's transport and port (the
 * transport's default when absent). 0: b->dest set; 1: the lookup is in
 * progress (on_resolved() goes on); SIPR_ENOENT: the name does not
 * resolve; SIPR_EAGAIN: no address of a family we listen on; another
 * negative code: no resolver or the lookup failed. */
static int branch_resolve(px_req_t *rq, px_branch_t *b, const sipr_uri_t *hop) {
  sipr_proxy_t *p = rq->p;
  if (b->nres) /* answered earlier (this is the answer's branch_start()) */
    return branch_pick(rq, b);
  sipr_res_t *res =
      p->cfg.ops.resolver ? p->cfg.ops.resolver(p->cfg.ops_ctx) : NULL;
  if (!res)
    return SIPR_EIO;
  sipr_str_t host = hop->maddr.p ? hop->maddr : hop->host;
  size_t n = 0;
  sipr_tp_addr_t addrs[SIPR_RES_MAX_ADDRS];
  int rc = sipr_res_lookup(res, host, uri_proto(hop), hop->port, addrs, &n,
                           on_resolved, b, &b->lookup);
  if (rc == 1) {
    b->resolving = 1;
    b->started = 1; /* pending: the response context waits for it */
    rq->live++;     /* the context outlives the lookup */
    return 1;
  }
  if (rc)
    return rc;
  if (branch_keep_addrs(b, addrs, n))
    return SIPR_ENOMEM;
  return branch_pick(rq, b);
}

/* Next-hop URI text: the first Route of m (path added for this branch
 * first), else the Request-URI. */
static int branch_start(px_req_t *rq, px_branch_t *b) {
  sipr_proxy_t *p = rq->p;
  char scratch[PX_SCRATCH];
  sipr_arena_t a;
  sipr_arena_init(&a, scratch, sizeof scratch, 1 << 20);
  sipr_msg_t *m = rq_parse(rq, &a);
  int rc = SIPR_EPARSE;
  unsigned fail_status = 500;
  const char *fail_reason = NULL;
  sipr_buf_t out;
  sipr_buf_init(&out);
  if (!m)
    goto fail;

  sipr_edits_t ed;
  sipr_edits_init(&ed, m);
  sipr_str_t target = b->set_ruri ? sipr_str_cstr(b->uri) : m->ruri_str;

  /* §16.6 steps 6-7: next hop from the Route (the binding's Path first,
   * RFC 3327 §5.3), else the Request-URI. */
  sipr_uri_t hop;
  sipr_str_t hop_text = target;
  int strict = 0;
  char strict_route[1100];
  sipr_addr_t *routes[PX_MAX_ROUTES];
  if (b->hop) {
    hop_text = sipr_str_cstr(b->hop); /* a rule's next hop */
  } else if (b->path) {
    sipr_addr_t *pl = NULL;
    sipr_perr_t err;
    if (sipr_parse_addr(&a, b->path, strlen(b->path), 1, &pl, &err) || !pl)
      goto fail;
    hop_text = pl->uri.raw;
  } else {
    int nr = route_list(m, routes, NULL);
    if (nr < 0)
      goto fail;
    if (nr > 0) {
      hop_text = routes[0]->uri.raw;
      strict = !routes[0]->uri.lr;
    }
  }
  if (strict) {
    /* §16.6 step 6: a strict router next: the Request-URI goes last in
     * Route and the first Route value becomes the Request-URI. */
    if (target.len + 3 > sizeof strict_route)
      goto fail;
    snprintf(strict_route, sizeof strict_route, "<%.*s>",
             SIPR_STR_ARG(target));
    if (sipr_edit_remove_top_route(&ed) || sipr_edit_set_ruri(&ed, hop_text) ||
        sipr_edit_add_header(&ed, "Route", sipr_str_cstr(strict_route)))
      goto fail;
  } else if (b->set_ruri && sipr_edit_set_ruri(&ed, target)) {
    goto fail; /* §16.6 step 2: the target becomes the Request-URI */
  }
  /* §16.6 step 3: Max-Forwards (70 when absent). */
  if (sipr_edit_dec_max_forwards(&ed, 70))
    goto fail;
  /* §18.3: a datagram may come without Content-Length; the next hop may
   * be a stream, which needs one. */
  char clen[24];
  if (m->content_length < 0) {
    snprintf(clen, sizeof clen, "%zu", m->body.len);
    if (sipr_edit_add_header(&ed, "Content-Length", sipr_str_cstr(clen)))
      goto fail;
  }
  memset(&hop, 0, sizeof hop);
  sipr_perr_t uerr;
  if (sipr_uri_parse(&a, hop_text.p, hop_text.len, &hop, &uerr))
    goto fail;
  rc = uri_dest(&hop, &b->dest);
  if (rc == SIPR_ENOENT) {
    rc = branch_resolve(rq, b, &hop);
    if (rc == 1) { /* forwarded when the answer comes (on_resolved()) */
      sipr_buf_free(&out);
      sipr_arena_free(&a);
      return 0;
    }
    if (rc) {
      /* §16.9: a next hop that cannot be reached: as if it answered 503
       * (sent upstream as 500 when it is the best response, §16.7). */
      fail_status = 503;
      fail_reason = rc == SIPR_ENOENT ? "Next Hop Not Found In DNS"
                    : rc == SIPR_EAGAIN ? "No Local Address For Next Hop"
                                        : "Next Hop DNS Lookup Failed";
      goto fail;
    }
  }
  if (rc) {
    fail_status = 502;
    fail_reason = "Next Hop Transport Not Supported";
    goto fail;
  }
  /* §16.6 step 8: our Via; the branch's last 8 hex digits carry the loop
   * hash (the first 13 are the transaction layer's: bucket, worker). */
  char branch[48];
  size_t bl = sipr_txn_new_branch(rq->layer, branch, sizeof branch);
  if (bl != 27)
    goto fail;
  memcpy(branch + bl - 8, rq->loop_hash, 8);
  sipr_edits_t base = ed;
  char host[PX_HOST_LEN], rr1[160], rr2[160], via[200], pathv[1200];
  for (int pass = 0;; pass++) {
    ed = base;
    const sipr_tp_addr_t *out_local = pick_local(p, &b->dest, &rq->src.local);
    if (!out_local) {
      fail_status = 503;
      fail_reason = "No Local Address For Next Hop";
      rc = SIPR_EINVAL;
      goto fail;
    }
    host_text(p, out_local, &rq->src.local, host, sizeof host);
    int oport = sipr_tp_addr_port(out_local);

    /* §16.6 step 4: Record-Route (two when the transport or interface
     * changes: the one facing the next hop on top). */
    if (rq->record_route) {
      snprintf(rr1, sizeof rr1, "<sip:%s:%d%s;lr>", host, oport,
               out_local->proto == SIPR_TP_TCP ? ";transport=tcp" : "");
      if (sipr_edit_add_record_route(&ed, sipr_str_cstr(rr1)))
        goto fail;
      const sipr_tp_addr_t *in = &rq->src.local;
      if (!(in->proto == out_local->proto && ip_port_eq(in, out_local))) {
        char ih[PX_HOST_LEN];
        host_text(p, in, NULL, ih, sizeof ih);
        snprintf(rr2, sizeof rr2, "<sip:%s:%d%s;lr>", ih,
                 sipr_tp_addr_port(in),
                 in->proto == SIPR_TP_TCP ? ";transport=tcp" : "");
        if (sipr_edit_add_record_route(&ed, sipr_str_cstr(rr2)))
          goto fail;
      }
    }
    /* RFC 3327 §5.3: the binding's Path becomes the route. */
    if (b->path && sipr_edit_add_header(&ed, "Route", sipr_str_cstr(b->path)))
      goto fail;
    /* RFC 3327 §5.2: our URI as the topmost Path value, facing the
     * registrar (requests for the UA come back to it), with lr; the
     * Path values already there follow in their order, in one field. */
    if (rq->add_path) {
      int n = snprintf(pathv, sizeof pathv, "<sip:path@%s:%d%s;lr>", host,
                       oport,
                       out_local->proto == SIPR_TP_TCP ? ";transport=tcp" : "");
      for (sipr_hdr_t *h = m->first[SIPR_HDR_PATH]; h; h = h->next_same) {
        if (n < 0 || (size_t)n + h->value.len + 3 > sizeof pathv)
          goto fail;
        n += snprintf(pathv + n, sizeof pathv - (size_t)n, ", %.*s",
                      SIPR_STR_ARG(h->value));
        if (sipr_edit_remove_header(&ed, h))
          goto fail;
      }
      if (sipr_edit_add_header(&ed, "Path", sipr_str_cstr(pathv)) ||
          (rq->require_path &&
           sipr_edit_add_header(&ed, "Require", SIPR_STR("path"))))
        goto fail;
    }
    snprintf(via, sizeof via, "SIP/2.0/%s %s:%d;branch=%s",
             sipr_tp_proto_name(b->dest.proto), host, oport, branch);
    if (sipr_edit_prepend_via(&ed, sipr_str_cstr(via)))
      goto fail;
    out.len = 0;
    rc = sipr_edits_print(&ed, &out);
    if (rc || out.failed)
      goto fail;
    /* §18.1.1: over 1300 bytes, a request the URI does not pin to UDP goes
     * over TCP (congestion controlled); printed again with that Via. */
    if (pass == 0 && b->dest.proto == SIPR_TP_UDP && !hop.transport.p &&
        out.len > 1300) {
      b->dest.proto = SIPR_TP_TCP;
      continue;
    }
    break;
  }

  /* §16.6 step 10: a client transaction per branch. */
  rc = sipr_txn_client_new(rq->layer, out.p, out.len, &b->dest, b, &b->ct);
  if (rc) {
    fail_status = 503; /* §16.9 */
    fail_reason = "Next Hop Unreachable";
    goto fail;
  }
  b->started = 1;
  rq->live++;
  atomic_fetch_add_explicit(&p->st_forwarded, 1, memory_order_relaxed);
  if (rq->invite) /* §16.6 step 11 */
    sipr_timer_start(rq->loop, &b->timer_c, p->cfg.timer_c_ms);
  sipr_buf_free(&out);
  sipr_arena_free(&a);
  return 0;
fail:
  sipr_buf_free(&out);
  sipr_arena_free(&a);
  b->started = 1;
  branch_done(b, fail_status, NULL, fail_reason);
  return rc ? rc : SIPR_EINVAL;
}

static void fork_timer_fired(sipr_loop_t *loop, void *arg);

static void branch_init(px_req_t *rq, px_branch_t *b) {
  b->magic = PX_BR_MAGIC;
  b->rq = rq;
  sipr_timer_init(&b->timer_c, timer_c_fired, b);
}

/* §16.7 step 4: the Contacts of a 3xx become targets (§16.5: never one
 * already in the target set; the cap on branches holds). Returns how many
 * were added; parallel forking starts them at once, sequential forking
 * tries them as a group of their own after those already planned. */
static unsigned recurse(px_req_t *rq, sipr_msg_t *resp) {
  unsigned added = 0, group = rq->ngroups;
  for (sipr_hdr_t *h = resp->first[SIPR_HDR_CONTACT]; h; h = h->next_same) {
    sipr_perr_t err;
    if (sipr_hdr_parse(resp, h, &err) < 0 || !h->parsed)
      continue;
    for (const sipr_addr_t *ad = h->parsed; ad; ad = ad->next) {
      if (ad->star || (ad->uri.scheme != SIPR_URI_SIP &&
                       ad->uri.scheme != SIPR_URI_SIPS))
        continue;
      if (rq->nbr >= rq->cap)
        return added;
      int seen = 0;
      for (unsigned i = 0; i < rq->nbr && !seen; i++) {
        const char *u = rq->br[i].uri;
        char scratch[PX_SCRATCH];
        sipr_arena_t a;
        sipr_arena_init(&a, scratch, sizeof scratch, 1 << 16);
        sipr_uri_t tu;
        sipr_perr_t e2;
        if (u && sipr_uri_parse(&a, u, strlen(u), &tu, &e2) == 0)
          seen = sipr_uri_equal(&tu, &ad->uri);
        sipr_arena_free(&a);
      }
      if (seen)
        continue;
      px_branch_t *b = &rq->br[rq->nbr];
      memset(b, 0, sizeof *b);
      b->uri = malloc(ad->uri.raw.len + 1);
      if (!b->uri)
        return added;
      memcpy(b->uri, ad->uri.raw.p, ad->uri.raw.len);
      b->uri[ad->uri.raw.len] = '\0';
      b->set_ruri = 1;
      /* parallel: joins the group under way; sequential: a new group */
      b->group = rq->fork == SIPR_FORK_PARALLEL ? 0 : group;
      branch_init(rq, b);
      rq->nbr++;
      added++;
    }
  }
  if (!added)
    return 0;
  if (rq->fork == SIPR_FORK_PARALLEL) {
    for (unsigned i = 0; i < rq->nbr; i++)
      if (!rq->br[i].started)
        branch_start(rq, &rq->br[i]);
  } else {
    rq->ngroups++;
  }
  return added;
}

/* Starts the next group of targets (all of them when forking in
 * parallel). Returns how many started. */
static unsigned start_next_group(px_req_t *rq) {
  unsigned g = rq->next_group, n = 0;
  if (g >= rq->ngroups)
    return 0;
  rq->next_group++;
  for (unsigned i = 0; i < rq->nbr; i++)
    if (rq->br[i].group == g && !rq->br[i].started &&
        branch_start(rq, &rq->br[i]) == 0)
      n++;
  if (n && rq->next_group < rq->ngroups)
    sipr_timer_start(rq->loop, &rq->fork_timer, rq->p->cfg.fork_timeout_ms);
  return n;
}

/* §9.1: a CANCEL for one branch, once it has had a provisional. */
static void branch_cancel(px_branch_t *b) {
  px_req_t *rq = b->rq;
  if (b->resolving) {
    /* still looking its next hop up: it never starts (the caller then
     * checks whether the request is finished) */
    sipr_res_cancel(b->lookup);
    b->lookup = NULL;
    b->resolving = 0;
    rq->live--;
    branch_done(b, 487, NULL, "Request Terminated");
    return;
  }
  if (!rq->invite || b->done || !b->ct || b->cancel_sent)
    return;
  if (!sipr_txn_can_cancel(b->ct)) {
    b->cancel_pending = 1; /* sent when a provisional arrives */
    return;
  }
  sipr_str_t rt = sipr_txn_request(b->ct);
  char scratch[PX_SCRATCH];
  sipr_arena_t a;
  sipr_arena_init(&a, scratch, sizeof scratch, 1 << 20);
  sipr_msg_t *m = NULL;
  sipr_perr_t err;
  sipr_buf_t c;
  sipr_buf_init(&c);
  if (sipr_msg_parse(&a, rt.p, rt.len, SIPR_PARSE_DATAGRAM, &m, &err) == 0 &&
      sipr_msg_check(m, &err) == 0) {
    sipr_via_t *v = sipr_msg_via(m);
    sipr_cseq_t *cs = sipr_msg_cseq(m);
    /* §9.1: same Request-URI, Call-ID, To, From, CSeq number and top Via
     * (branch) as the request; its Route values too. */
    sipr_print_request_line(&c, SIPR_STR("CANCEL"), m->ruri_str);
    sipr_print_header(&c, "Via", v ? v->raw : SIPR_STR(""));
    for (sipr_hdr_t *h = m->first[SIPR_HDR_ROUTE]; h; h = h->next_same)
      append_field(&c, h->raw);
    sipr_print_header(&c, "Max-Forwards", SIPR_STR("70"));
    for (sipr_hdr_t *h = m->hdrs; h; h = h->next)
      if (h->type == SIPR_HDR_FROM || h->type == SIPR_HDR_TO ||
          h->type == SIPR_HDR_CALL_ID)
        append_field(&c, h->raw);
    sipr_print_header_fmt(&c, "CSeq", "%u CANCEL", cs ? cs->seq : 0);
    sipr_print_body(&c, SIPR_STR_NULL, SIPR_STR_NULL);
    if (!c.failed && v && cs &&
        sipr_txn_client_new(rq->layer, c.p, c.len, &b->dest, b,
                            &b->cancel_ct) == 0)
      rq->live++;
  }
  b->cancel_sent = 1;
  b->cancel_pending = 0;
  sipr_buf_free(&c);
  sipr_arena_free(&a);
}

static void cancel_pending(px_req_t *rq) {
  for (unsigned i = 0; i < rq->nbr; i++)
    if (rq->br[i].started && !rq->br[i].done)
      branch_cancel(&rq->br[i]);
}

static void fork_timer_fired(sipr_loop_t *loop, void *arg) {
  (void)loop;
  px_req_t *rq = arg;
  if (rq->final_sent || rq->cancelled || rq->got_6xx)
    return;
  /* Sequential forking: the group had its time; cancel it, try the next. */
  cancel_pending(rq);
  while (rq->next_group < rq->ngroups && !start_next_group(rq))
    ;
  rq_maybe_finish(rq);
}

/* §16.7 step 6: is a better than b? */
static int better(unsigned a, unsigned b) {
  if (!b)
    return 1;
  if (a >= 600 || b >= 600)
    return a >= 600 && b < 600; /* the first 6xx wins */
  if (a / 100 != b / 100)
    return a / 100 < b / 100;
  if (a / 100 == 4) {
    int pa = a == 401 || a == 407 || a == 415 || a == 420 || a == 484;
    int pb = b == 401 || b == 407 || b == 415 || b == 420 || b == 484;
    return pa && !pb;
  }
  return 0;
}

static void branch_done(px_branch_t *b, unsigned status, sipr_msg_t *resp,
                        const char *reason) {
  px_req_t *rq = b->rq;
  b->done = 1;
  b->status = status;
  sipr_timer_stop(rq->loop, &b->timer_c);
  if (rq->final_sent)
    return;
  /* §16.7 step 7: collect every challenge of 401/407 responses. */
  if (resp && (status == 401 || status == 407))
    for (sipr_hdr_t *h = resp->hdrs; h; h = h->next)
      if (h->type == SIPR_HDR_WWW_AUTHENTICATE ||
          h->type == SIPR_HDR_PROXY_AUTHENTICATE)
        append_field(&rq->chal, h->raw);
  if (!better(status, rq->best_status))
    return;
  free(rq->best);
  rq->best = NULL;
  rq->best_len = 0;
  rq->best_status = status;
  rq->best_reason = reason;
  if (resp) {
    rq->best = malloc(resp->len);
    if (rq->best) {
      memcpy(rq->best, resp->buf, resp->len);
      rq->best_len = resp->len;
    }
  }
}

/* Sends the best response once no branch is pending (§16.7 step 6). */
static void rq_maybe_finish(px_req_t *rq) {
  if (rq->final_sent)
    return;
  for (unsigned i = 0; i < rq->nbr; i++)
    if (rq->br[i].started && !rq->br[i].done)
      return;
  /* Sequential: the next group, unless a 6xx or CANCEL ended the search. */
  if (!rq->cancelled && !rq->got_6xx) {
    while (rq->next_group < rq->ngroups)
      if (start_next_group(rq))
        return;
  }
  sipr_timer_stop(rq->loop, &rq->fork_timer);
  rq->final_sent = 1;
  unsigned status = rq->best_status;
  /* Cancelled by the caller (§16.10) and no branch answered anything but
   * our own as-if 408: the caller is told 487, as a UAS would (§9.2). */
  if (!status || (rq->cancelled && status == 408 && !rq->best))
    status = rq->cancelled ? 487 : 408;
  if (rq->best && rq->best_len) {
    char scratch[PX_SCRATCH];
    sipr_arena_t a;
    sipr_arena_init(&a, scratch, sizeof scratch, 1 << 20);
    sipr_msg_t *m = NULL;
    sipr_perr_t err;
    if (sipr_msg_parse(&a, rq->best, rq->best_len, SIPR_PARSE_DATAGRAM, &m,
                       &err) == 0) {
      /* §16.7 step 6: 503 goes upstream as 500; step 7: merged challenges */
      forward_resp(rq, m, status == 503 ? 500 : 0,
                   (status == 401 || status == 407) ? &rq->chal : NULL);
    }
    sipr_arena_free(&a);
  } else if (status == 503) {
    rq_respond(rq, 500, rq->best_reason, NULL);
  } else {
    rq_respond(rq, status, rq->best_reason, NULL);
  }
  /* §16.7 step 10: nothing left to cancel (no branch pending). */
}

/* ---- §16.3 - §16.5 ---------------------------------------------------------- */

/* §16.6 step 8 loop hash over the request as received: Request-URI, From
 * tag, To tag, Call-ID, CSeq number, Proxy-Require, Proxy-Authorization.
 * The received top Via is left out: a request that comes back around a
 * loop carries another proxy's Via on top, and must hash the same. */
static void loop_hash_of(sipr_msg_t *m, int stateless, char out[9]) {
  uint32_t h = 2166136261u;
  h = fnv(h, m->ruri_str);
  sipr_addr_t *f = sipr_msg_from(m), *t = sipr_msg_to(m);
  h = fnv(h, f ? f->tag : SIPR_STR_NULL);
  /* §16.11: the INVITE, its CANCEL and the ACK of its non-2xx must get one
   * branch, so the stateless form leaves out what they do not share. */
  h = fnv(h, t && !stateless ? t->tag : SIPR_STR_NULL);
  h = fnv(h, sipr_msg_call_id(m));
  sipr_cseq_t *cs = sipr_msg_cseq(m);
  char n[16];
  snprintf(n, sizeof n, "%u", cs ? cs->seq : 0);
  h = fnv(h, sipr_str_cstr(n));
  for (sipr_hdr_t *x = m->first[SIPR_HDR_PROXY_REQUIRE]; x; x = x->next_same)
    h = fnv(h, x->value);
  for (sipr_hdr_t *x = m->first[SIPR_HDR_PROXY_AUTHORIZATION];
       x && !stateless; x = x->next_same)
    h = fnv(h, x->value);
  snprintf(out, 9, "%08x", h);
}

static void loop_hash(sipr_msg_t *m, char out[9]) { loop_hash_of(m, 0, out); }

/* §16.3 step 4: one of our Vias carries this request's hash. */
static int loop_detected(const sipr_proxy_t *p, sipr_msg_t *m,
                         const char hash[9]) {
  for (sipr_hdr_t *h = m->first[SIPR_HDR_VIA]; h; h = h->next_same) {
    sipr_perr_t err;
    if (sipr_hdr_parse(m, h, &err) < 0)
      continue;
    for (const sipr_via_t *v = h->parsed; v; v = v->next) {
      if (v->branch.len != 27 ||
          !hostport_is_me(p, v->host, v->port,
                          sipr_tp_proto_from_str(v->transport)))
        continue;
      if (sipr_mem_caseeq(v->branch.p + 19, hash, 8))
        return 1;
    }
  }
  return 0;
}

/* §16.3 step 5: Proxy-Require option tags (we support none). Appends the
 * Unsupported line; returns how many, -1 when one does not parse. */
static int proxy_require(sipr_msg_t *m, sipr_buf_t *extra) {
  int n = 0;
  for (sipr_hdr_t *h = m->first[SIPR_HDR_PROXY_REQUIRE]; h; h = h->next_same) {
    sipr_perr_t err;
    if (sipr_hdr_parse(m, h, &err) < 0)
      return -1;
    for (const sipr_token_t *t = h->parsed; t; t = t->next) {
      sipr_buf_append_str(extra, n ? SIPR_STR(", ") : SIPR_STR("Unsupported: "));
      sipr_buf_append_str(extra, t->value);
      n++;
    }
  }
  if (n)
    sipr_buf_append(extra, "\r\n", 2);
  return n;
}

static int has_cred(const sipr_proxy_t *p, const char *user) {
  char ha1[SIPR_AUTH_HEX_MAX];
  return sipr_store_cred_get(p->store, user, p->realm, "SHA-256", ha1,
                             sizeof ha1) == 0 ||
         sipr_store_cred_get(p->store, user, p->realm, "MD5", ha1,
                             sizeof ha1) == 0;
}

/* "user" of a SIP URI, unescaped, into out; 0 or -1. */
static int uri_user(const sipr_uri_t *u, char *out, size_t cap) {
  if (!u->user.p || !u->user.len || u->user.len >= cap)
    return -1;
  long n = sipr_unescape(u->user, out);
  if (n <= 0)
    return -1;
  out[n] = '\0';
  for (long i = 0; i < n; i++)
    if ((unsigned char)out[i] < 0x21 || out[i] == '@')
      return -1;
  return 0;
}

/* §10.3 step 5 canonical AOR of u: "sip:user@host" (host lower-cased). */
static int uri_aor(const sipr_uri_t *u, char *aor, size_t cap, char *user,
                   size_t ucap) {
  if (uri_user(u, user, ucap) || !u->host.len || u->host.len >= 256)
    return -1;
  char host[256];
  for (size_t i = 0; i < u->host.len; i++)
    host[i] = (char)sipr_lower((unsigned char)u->host.p[i]);
  host[u->host.len] = '\0';
  snprintf(aor, cap, "sip:%s@%s", user, host);
  return 0;
}

typedef enum { AUTH_NONE = 0, AUTH_OK, AUTH_ANSWERED } auth_res_t;

static void challenge(sipr_proxy_t *p, sipr_txn_t *st, sipr_msg_t *req,
                      int stale) {
  sipr_buf_t b;
  sipr_buf_init(&b);
  int rc = sipr_auth_challenge_lines(p->auth, "Proxy-Authenticate",
                                     sipr_str_cstr(p->realm), stale, ms_now(p),
                                     &b);
  if (rc == 0 && !b.failed) {
    sipr_buf_append(&b, "", 1); /* NUL for respond() */
    respond(p, st, req, 407, NULL, b.failed ? NULL : b.p);
  } else {
    respond(p, st, req, 500, "Authentication Unavailable", NULL);
  }
  sipr_buf_free(&b);
}

/* §16.3 step 6 / §22.3: the caller claims one of our domains in From:
 * Proxy-Authorization for our realm, verified; *used receives the header
 * consumed. AUTH_NONE: From is not ours (nothing to check). */
static auth_res_t proxy_auth(sipr_proxy_t *p, sipr_txn_t *st, sipr_msg_t *req,
                             sipr_hdr_t **used) {
  *used = NULL;
  sipr_addr_t *from = sipr_msg_from(req);
  if (!from || !uri_domain_ours(p, &from->uri))
    return AUTH_NONE;
  const sipr_auth_t *cred = NULL;
  sipr_str_t realm = sipr_str_cstr(p->realm);
  for (sipr_hdr_t *h = req->first[SIPR_HDR_PROXY_AUTHORIZATION]; h;
       h = h->next_same) {
    sipr_perr_t err;
    if (sipr_hdr_parse(req, h, &err) < 0 || !h->parsed)
      continue;
    const sipr_auth_t *c = h->parsed;
    char rb[256];
    int n = c->realm.p ? sipr_auth_unquote(c->realm, rb, sizeof rb) : -1;
    if (SIPR_STR_CASEEQ_LIT(c->scheme, "Digest") && n >= 0 &&
        sipr_str_eq(sipr_str_make(rb, (size_t)n), realm)) {
      cred = c;
      *used = h;
      break;
    }
  }
  if (!cred) {
    challenge(p, st, req, 0);
    return AUTH_ANSWERED;
  }
  char uname[256];
  int un = cred->username.p
               ? sipr_auth_unquote(cred->username, uname, sizeof uname)
               : -1;
  sipr_auth_alg_t alg = sipr_auth_alg_from_str(cred->algorithm);
  char ha1[SIPR_AUTH_HEX_MAX];
  const char *ha1p = NULL;
  if (un > 0 && alg != SIPR_AUTH_ALG_UNKNOWN &&
      sipr_store_cred_get(p->store, uname, p->realm,
                          sipr_auth_alg_name(sipr_auth_alg_base(alg)), ha1,
                          sizeof ha1) == 0)
    ha1p = ha1;
  switch (sipr_auth_verify(p->auth, cred, req->method, ha1p, ms_now(p),
                           req->body)) {
  case SIPR_AUTH_OK:
    break;
  case SIPR_AUTH_BAD_REQUEST:
    respond(p, st, req, 400, "Bad Proxy-Authorization", NULL);
    return AUTH_ANSWERED;
  case SIPR_AUTH_STALE:
    challenge(p, st, req, 1);
    return AUTH_ANSWERED;
  default:
    challenge(p, st, req, 0);
    return AUTH_ANSWERED;
  }
  /* The authenticated user must be the one From names. */
  char fuser[256], uah[600];
  if (uri_user(&from->uri, fuser, sizeof fuser)) {
    respond(p, st, req, 403, "Forbidden: From Is Not You", NULL);
    return AUTH_ANSWERED;
  }
  snprintf(uah, sizeof uah, "%s@%.*s", fuser, SIPR_STR_ARG(from->uri.host));
  if (strcmp(uname, fuser) != 0 && strcasecmp(uname, uah) != 0) {
    respond(p, st, req, 403, "Forbidden: From Is Not You", NULL);
    return AUTH_ANSWERED;
  }
  return AUTH_OK;
}

/* ---- redirect (§8.3) ------------------------------------------------------ */

static void print_q(sipr_buf_t *b, int q) {
  if (q < 0)
    return;
  if (q >= 1000)
    sipr_buf_printf(b, ";q=1");
  else if (q % 100 == 0)
    sipr_buf_printf(b, ";q=0.%d", q / 100);
  else if (q % 10 == 0)
    sipr_buf_printf(b, ";q=0.%02d", q / 10);
  else
    sipr_buf_printf(b, ";q=0.%03d", q);
}

static void redirect(sipr_proxy_t *p, sipr_txn_t *st, sipr_msg_t *req,
                     const sipr_binding_list_t *l, int64_t now) {
  sipr_buf_t b;
  sipr_buf_init(&b);
  unsigned n = 0;
  for (size_t i = 0; i < l->n && n < p->cfg.max_branches; i++) {
    int64_t left = l->v[i].expires - now;
    if (left <= 0)
      continue;
    sipr_buf_printf(&b, "Contact: <%s>", l->v[i].contact);
    print_q(&b, l->v[i].q);
    sipr_buf_printf(&b, ";expires=%lld\r\n", (long long)left);
    n++;
  }
  sipr_buf_append(&b, "", 1);
  if (b.failed)
    respond(p, st, req, 500, NULL, NULL);
  else
    respond(p, st, req, 302, NULL, b.p);
  sipr_buf_free(&b);
}

/* ---- routing rules --------------------------------------------------------- */

static const px_rule_t *first_rule(const sipr_proxy_t *p, sipr_msg_t *req,
                                   const sipr_uri_t *ruri,
                                   const sipr_tp_src_t *src) {
  for (size_t i = 0; i < p->nrules; i++)
    if (sipr__px_rule_match(&p->rules[i], req, ruri, src))
      return &p->rules[i];
  return NULL;
}

/* §16.11: forwards req without a transaction to hop, our Route values
 * (the first nroutes) removed. The branch comes from the request's
 * invariants (the received top Via's branch, Request-URI, From tag,
 * Call-ID, CSeq number: a CANCEL and the ACK of a non-2xx get the
 * INVITE's), then the loop hash as in §16.6 step 8. */
static int stateless_forward(sipr_proxy_t *p, sipr_msg_t *req,
                             const sipr_tp_src_t *src, int nroutes,
                             const char *hop, const char hash[9]) {
  sipr_edits_t ed;
  sipr_edits_init(&ed, req);
  for (int i = 0; i < nroutes; i++)
    if (sipr_edit_remove_top_route(&ed))
      return SIPR_EINVAL;
  if (sipr_edit_dec_max_forwards(&ed, 70))
    return SIPR_ERANGE;
  sipr_uri_t hu;
  sipr_perr_t err;
  sipr_tp_addr_t dest;
  if (sipr_uri_parse(req->arena, hop, strlen(hop), &hu, &err) ||
      uri_dest(&hu, &dest))
    return SIPR_EINVAL;
  const sipr_tp_addr_t *out_local = pick_local(p, &dest, src ? &src->local : NULL);
  if (!out_local)
    return SIPR_EINVAL;
  sipr_via_t *v = sipr_msg_via(req);
  sipr_addr_t *f = sipr_msg_from(req);
  sipr_cseq_t *cs = sipr_msg_cseq(req);
  char n[16];
  snprintf(n, sizeof n, "%u", cs ? cs->seq : 0);
  uint32_t h1 = 2166136261u, h2 = 0x811c9dc5u ^ 0x9e3779b9u;
  sipr_str_t parts[5] = {v ? v->branch : SIPR_STR_NULL, req->ruri_str,
                         f ? f->tag : SIPR_STR_NULL, sipr_msg_call_id(req),
                         sipr_str_cstr(n)};
  for (int i = 0; i < 5; i++) {
    h1 = fnv(h1, parts[i]);
    h2 = fnv(h2, parts[i]);
  }
  char host[PX_HOST_LEN], via[200];
  host_text(p, out_local, src ? &src->local : NULL, host, sizeof host);
  snprintf(via, sizeof via, "SIP/2.0/%s %s:%d;branch=z9hG4bK%08x%04x%.8s",
           sipr_tp_proto_name(dest.proto), host, sipr_tp_addr_port(out_local),
           h1, h2 & 0xffffu, hash);
  if (sipr_edit_prepend_via(&ed, sipr_str_cstr(via)))
    return SIPR_EINVAL;
  sipr_buf_t b;
  sipr_buf_init(&b);
  int rc = sipr_edits_print(&ed, &b);
  if (rc == 0 && b.failed)
    rc = SIPR_ENOMEM;
  if (rc == 0)
    rc = p->cfg.ops.send ? p->cfg.ops.send(p->cfg.ops_ctx, &dest, b.p, b.len)
                         : SIPR_EINVAL;
  if (rc == 0)
    atomic_fetch_add_explicit(&p->st_stateless, 1, memory_order_relaxed);
  sipr_buf_free(&b);
  return rc;
}

/* The stateless hook (§16.11): only what a stateless forward rule takes;
 * everything that answers or needs state is left to the stateful path. */
int sipr_proxy_stateless(sipr_proxy_t *p, sipr_msg_t *req,
                         const sipr_tp_src_t *src) {
  if (!p || !p->nrules || !req || !req->is_request || p->cfg.redirect ||
      req->method_id == SIPR_METHOD_ACK || req->method_id == SIPR_METHOD_CANCEL)
    return 0;
  sipr_uri_t *ruri = sipr_msg_ruri(req);
  if (!ruri || (ruri->scheme != SIPR_URI_SIP && ruri->scheme != SIPR_URI_SIPS))
    return 0;
  if (sipr_proxy_for_us(p, req, src))
    return 0;
  long mf = sipr_msg_max_forwards(req);
  if (mf == 0 || (req->first[SIPR_HDR_MAX_FORWARDS] && mf < 0) ||
      req->first[SIPR_HDR_PROXY_REQUIRE])
    return 0; /* 483 / 400 / 420 from the stateful path */
  sipr_addr_t *to = sipr_msg_to(req);
  if (!to || (to->tag.p && to->tag.len))
    return 0; /* in-dialog: follows Route statefully */
  char hash[9];
  loop_hash_of(req, 1, hash);
  if (loop_detected(p, req, hash))
    return 0; /* 482 */
  sipr_addr_t *routes[PX_MAX_ROUTES];
  int nr = route_list(req, routes, NULL);
  if (nr < 0 || (nr > 0 && uri_is_me(p, ruri)))
    return 0;
  int ri = 0;
  while (ri < nr && ri < 4 && uri_is_me(p, &routes[ri]->uri))
    ri++;
  if (ri < nr)
    return 0;
  if (p->cfg.auth) {
    sipr_addr_t *from = sipr_msg_from(req);
    if (from && uri_domain_ours(p, &from->uri))
      return 0; /* §16.3 step 6 needs the stateful path (407) */
  }
  const px_rule_t *rule = first_rule(p, req, ruri, src);
  if (!rule || rule->act != PX_ACT_FORWARD || !rule->stateless)
    return 0;
  return stateless_forward(p, req, src, ri, rule->uri, hash) == 0;
}

/* A CANCEL or an ACK (for a non-2xx) of a request a stateless rule
 * forwarded: forwarded the same way (§16.11). 1 when it was. */
static int stateless_follow(sipr_proxy_t *p, sipr_msg_t *req,
                            const sipr_tp_src_t *src) {
  if (!p->nrules || p->cfg.redirect)
    return 0;
  sipr_uri_t *ruri = sipr_msg_ruri(req);
  if (!ruri)
    return 0;
  sipr_addr_t *routes[PX_MAX_ROUTES];
  int nr = route_list(req, routes, NULL);
  if (nr < 0)
    return 0;
  int ri = 0;
  while (ri < nr && ri < 4 && uri_is_me(p, &routes[ri]->uri))
    ri++;
  if (ri < nr)
    return 0;
  /* match as the INVITE did: its method */
  sipr_method_t m = req->method_id;
  req->method_id = SIPR_METHOD_INVITE;
  const px_rule_t *rule = first_rule(p, req, ruri, src);
  req->method_id = m;
  if (!rule || rule->act != PX_ACT_FORWARD || !rule->stateless)
    return 0;
  char hash[9];
  loop_hash_of(req, 1, hash);
  return stateless_forward(p, req, src, ri, rule->uri, hash) == 0;
}

/* ---- CANCEL (§16.10) ------------------------------------------------------ */

static void on_cancel(sipr_proxy_t *p, sipr_txn_t *st, sipr_msg_t *req,
                      const sipr_tp_src_t *src) {
  sipr_txn_layer_t *l = p->cfg.ops.layer(p->cfg.ops_ctx);
  sipr_txn_t *ist = l ? sipr_txn_find_invite_for_cancel(l, req) : NULL;
  /* the context may belong to an earlier proxy of a reloaded server: it
   * is cancelled there (its own proxy's settings) */
  void *owner = ist ? sipr_txn_owner(ist) : NULL;
  px_req_t *rq = owner && *(const uint32_t *)owner == PX_REQ_MAGIC
                     ? (px_req_t *)owner
                     : NULL;
  if (!rq) {
    /* §16.10: a CANCEL without a response context is forwarded statelessly
     * when a stateless rule forwarded its INVITE (its 200 comes back as a
     * stray response; ours answers this transaction); otherwise the
     * targets are unknown here and it is answered as a UAS would (§9.2). */
    if (stateless_follow(p, req, src))
      respond(p, st, req, 200, NULL, NULL);
    else
      respond(p, st, req, 481, NULL, NULL);
    return;
  }
  respond(p, st, req, 200, NULL, NULL);
  if (rq->final_sent)
    return;
  rq->cancelled = 1;
  sipr_timer_stop(rq->loop, &rq->fork_timer);
  cancel_pending(rq);
  rq_maybe_finish(rq); /* 487 at once when no branch was pending */
}

/* ---- requests ------------------------------------------------------------- */

void sipr_proxy_on_request(sipr_proxy_t *p, sipr_txn_t *st, sipr_msg_t *req,
                           const sipr_tp_src_t *src) {
  if (!p || !req || !req->is_request)
    return;
  atomic_fetch_add_explicit(&p->st_requests, 1, memory_order_relaxed);
  if (!st || req->method_id == SIPR_METHOD_ACK) {
    sipr_proxy_on_stray_ack(p, req, src);
    return;
  }
  if (req->method_id == SIPR_METHOD_CANCEL) {
    on_cancel(p, st, req, src);
    return;
  }

  /* §16.3 step 2: Request-URI scheme. */
  sipr_uri_t *ruri = sipr_msg_ruri(req);
  if (!ruri) {
    respond(p, st, req, 400, "Bad Request-URI", NULL);
    return;
  }
  if (ruri->scheme != SIPR_URI_SIP && ruri->scheme != SIPR_URI_SIPS) {
    respond(p, st, req, 416, NULL, NULL);
    return;
  }
  /* §16.3 step 3: Max-Forwards. */
  long mf = sipr_msg_max_forwards(req);
  if (req->first[SIPR_HDR_MAX_FORWARDS] && mf < 0) {
    respond(p, st, req, 400, "Bad Max-Forwards", NULL);
    return;
  }
  if (mf == 0) {
    respond(p, st, req, 483, NULL, NULL);
    return;
  }
  /* §16.3 step 4: loop detection (spirals, with another Request-URI or
   * other invariants, hash differently and pass). */
  char hash[9];
  loop_hash(req, hash);
  if (loop_detected(p, req, hash)) {
    respond(p, st, req, 482, NULL, NULL);
    return;
  }
  /* §16.3 step 5: Proxy-Require. */
  {
    sipr_buf_t ex;
    sipr_buf_init(&ex);
    int n = proxy_require(req, &ex);
    if (n) {
      sipr_buf_append(&ex, "", 1);
      if (n < 0)
        respond(p, st, req, 400, "Bad Proxy-Require", NULL);
      else
        respond(p, st, req, 420, NULL, ex.failed ? NULL : ex.p);
    }
    sipr_buf_free(&ex);
    if (n)
      return;
  }

  sipr_addr_t *to = sipr_msg_to(req);
  int in_dialog = to && to->tag.p && to->tag.len;
  sipr_edits_t ed;
  sipr_edits_init(&ed, req);

  /* §16.4: a Request-URI we placed in Record-Route came from a strict
   * router: the last Route value is the real Request-URI. */
  sipr_addr_t *routes[PX_MAX_ROUTES];
  sipr_hdr_t *rhdr[PX_MAX_ROUTES];
  int nr = route_list(req, routes, rhdr);
  if (nr < 0) {
    respond(p, st, req, 400, "Bad Route", NULL);
    return;
  }
  const sipr_uri_t *target = ruri;
  int strict_in = 0;
  char rest[2048];
  if (nr > 0 && uri_is_me(p, ruri) && (!ruri->user.p || !ruri->user.len)) {
    sipr_addr_t *last = routes[nr - 1];
    sipr_hdr_t *lh = rhdr[nr - 1];
    if (sipr_edit_set_ruri(&ed, last->uri.raw) ||
        sipr_edit_remove_header(&ed, lh)) {
      respond(p, st, req, 500, NULL, NULL);
      return;
    }
    if (nr >= 2 && rhdr[nr - 2] == lh) {
      /* the field held other values: put them back (still last) */
      sipr_addr_t *first = lh->parsed;
      const char *s = first->raw.p;
      const char *e = routes[nr - 2]->raw.p + routes[nr - 2]->raw.len;
      if ((size_t)(e - s) >= sizeof rest) {
        respond(p, st, req, 400, "Route Too Long", NULL);
        return;
      }
      memcpy(rest, s, (size_t)(e - s));
      rest[e - s] = '\0';
      if (sipr_edit_add_header(&ed, "Route", sipr_str_cstr(rest))) {
        respond(p, st, req, 500, NULL, NULL);
        return;
      }
    }
    target = &last->uri;
    nr--;
    strict_in = 1; /* it followed a Record-Route of ours */
  }
  /* §16.4: our own Route values (two when we record-routed twice). */
  int ri = 0, our_route = strict_in, path_route = 0;
  while (ri < nr && ri < 4 && uri_is_me(p, &routes[ri]->uri)) {
    if (sipr_edit_remove_top_route(&ed)) {
      respond(p, st, req, 500, NULL, NULL);
      return;
    }
    /* RFC 3327 §5.4: the Path we put on a REGISTER, preloaded by the home
     * proxy on a request for the UA */
    if (routes[ri]->uri.user.len == 4 &&
        memcmp(routes[ri]->uri.user.p, "path", 4) == 0)
      path_route = 1;
    ri++;
    our_route = 1;
  }
  int route_left = ri < nr;

  /* §16.3 step 6: proxy authorization; in-dialog requests that follow our
   * Route were authorized when their dialog was made. */
  int local_user = 0;
  if (p->cfg.auth && !(in_dialog && our_route)) {
    sipr_hdr_t *used = NULL;
    auth_res_t ar = proxy_auth(p, st, req, &used);
    if (ar == AUTH_ANSWERED)
      return;
    if (ar == AUTH_OK) {
      local_user = 1;
      /* §22.3: the credentials for our realm are consumed here. */
      if (used && sipr_edit_remove_header(&ed, used)) {
        respond(p, st, req, 500, NULL, NULL);
        return;
      }
    }
  }

  /* Routing rules: the first that matches an out-of-dialog request. */
  const px_rule_t *rule =
      in_dialog || route_left ? NULL : first_rule(p, req, target, src);
  sipr_proxy_fork_t fork = p->cfg.fork;
  const char *hop = NULL;
  int force_location = 0;
  if (rule) {
    switch (rule->act) {
    case PX_ACT_REJECT:
      respond(p, st, req, rule->code, rule->reason, NULL);
      return;
    case PX_ACT_REDIRECT: {
      char c[1100];
      snprintf(c, sizeof c, "Contact: <%s>\r\n", rule->uri);
      respond(p, st, req, 302, NULL, c); /* §8.3 */
      return;
    }
    case PX_ACT_FORWARD:
      if (p->cfg.redirect) { /* a redirect server sends the caller there */
        char c[1100];
        snprintf(c, sizeof c, "Contact: <%s;lr>\r\n", rule->uri);
        respond(p, st, req, 305, NULL, c);
        return;
      }
      hop = rule->uri; /* a configured relay: allowed without auth */
      break;
    case PX_ACT_LOCATION:
      force_location = 1;
      if (rule->fork >= 0)
        fork = (sipr_proxy_fork_t)rule->fork;
      break;
    }
  }

  /* RFC 3327 §5.2: an edge proxy relays a REGISTER for a domain it does
   * not serve to its registrar (no rule took it), with its Path when the
   * UA supports the extension or the operator wants it anyway. */
  int add_path = 0, require_path = 0;
  if (!hop && p->edge && req->method_id == SIPR_METHOD_REGISTER &&
      !in_dialog && !route_left && !p->cfg.redirect &&
      !uri_domain_ours(p, target) && !uri_is_me(p, target)) {
    int supported = 0;
    for (sipr_hdr_t *h = req->first[SIPR_HDR_SUPPORTED]; h && !supported;
         h = h->next_same) {
      sipr_perr_t err;
      if (sipr_hdr_parse(req, h, &err) < 0)
        continue;
      for (const sipr_token_t *t = h->parsed; t; t = t->next)
        if (SIPR_STR_CASEEQ_LIT(t->value, "path"))
          supported = 1;
    }
    if (p->cfg.edge_path == SIPR_PATH_REQUIRED && !supported) {
      respond(p, st, req, 421, NULL, "Require: path\r\n");
      return;
    }
    add_path = supported || p->cfg.edge_path == SIPR_PATH_ALWAYS;
    require_path = supported && p->cfg.edge_path == SIPR_PATH_REQUIRED;
    hop = p->edge;
  }

  /* §16.5: targets. */
  int64_t now = p->cfg.wall_now(p->cfg.wall_ctx);
  sipr_binding_list_t bl;
  memset(&bl, 0, sizeof bl);
  int location = 0;
  if (hop) {
    /* one target: the Request-URI, through the rule's next hop */
  } else if (in_dialog || route_left) {
    /* In-dialog, or a preloaded route onward: only through our own Route
     * (a dialog we record-routed) or for our authenticated users. */
    if (!(in_dialog && our_route) && !local_user) {
      respond(p, st, req, 403, "Relaying Denied", NULL);
      return;
    }
    if (p->cfg.redirect) {
      respond(p, st, req, 404, "Domain Not Served", NULL);
      return;
    }
  } else if (force_location || uri_domain_ours(p, target)) {
    char aor[600], user[256];
    if (uri_aor(target, aor, sizeof aor, user, sizeof user)) {
      respond(p, st, req, 404, "Not Found", NULL);
      return;
    }
    if (sipr_store_lookup(p->store, aor, now, &bl) != 0) {
      respond(p, st, req, 500, NULL, "Retry-After: 5\r\n");
      return;
    }
    if (bl.n == 0) {
      char uah[600];
      snprintf(uah, sizeof uah, "%s@%.*s", user, SIPR_STR_ARG(target->host));
      /* 480: a user we know (credentials) with no binding now. */
      if (has_cred(p, user) || has_cred(p, uah))
        respond(p, st, req, 480, NULL, NULL);
      else
        respond(p, st, req, 404, "Not Found", NULL);
      return;
    }
    if (p->cfg.redirect) {
      redirect(p, st, req, &bl, now);
      sipr_binding_list_free(&bl);
      return;
    }
    location = 1;
  } else {
    /* Never an open relay: other domains for our own users only, or
     * (edge) requests for a UA that came back along our Path. */
    if (!local_user && !(p->edge && path_route && !route_left)) {
      respond(p, st, req, 403, "Relaying Denied", NULL);
      return;
    }
    if (p->cfg.redirect) {
      respond(p, st, req, 404, "Domain Not Served", NULL);
      return;
    }
  }

  sipr_txn_layer_t *layer = p->cfg.ops.layer(p->cfg.ops_ctx);
  sipr_loop_t *loop = p->cfg.ops.loop(p->cfg.ops_ctx);
  unsigned cap = 1; /* the Request-URI, §16.5 */
  if (location)
    cap = bl.n < p->cfg.max_branches ? (unsigned)bl.n : p->cfg.max_branches;
  if (p->cfg.recurse_3xx || cap < 1)
    cap = p->cfg.max_branches > cap ? p->cfg.max_branches : cap;
  px_req_t *rq = calloc(1, sizeof *rq + (size_t)cap * sizeof(px_branch_t));
  sipr_buf_t pre;
  sipr_buf_init(&pre);
  if (!layer || !loop || !rq || sipr_edits_print(&ed, &pre) || pre.failed) {
    free(rq);
    sipr_buf_free(&pre);
    sipr_binding_list_free(&bl);
    respond(p, st, req, 500, NULL, NULL);
    return;
  }
  rq->magic = PX_REQ_MAGIC;
  rq->cap = cap;
  rq->p = p;
  rq->st = st;
  rq->layer = layer;
  rq->loop = loop;
  rq->req = pre.p; /* owned now */
  rq->req_len = pre.len;
  if (src)
    rq->src = *src;
  rq->invite = req->method_id == SIPR_METHOD_INVITE;
  /* §16.6 step 4: record-route requests that may make a dialog. */
  rq->record_route = !in_dialog && (req->method_id == SIPR_METHOD_INVITE ||
                                    req->method_id == SIPR_METHOD_SUBSCRIBE ||
                                    req->method_id == SIPR_METHOD_REFER);
  rq->fork = fork;
  rq->add_path = add_path;
  rq->require_path = require_path;
  memcpy(rq->loop_hash, hash, 9);
  sipr_buf_init(&rq->chal);
  sipr_timer_init(&rq->fork_timer, fork_timer_fired, rq);
  int oom = 0;
  if (location) {
    int last_q = -2;
    for (size_t i = 0; i < bl.n && rq->nbr < p->cfg.max_branches; i++) {
      px_branch_t *b = &rq->br[rq->nbr];
      int q = bl.v[i].q < 0 ? 1000 : bl.v[i].q;
      if (fork == SIPR_FORK_SEQUENTIAL && q != last_q) {
        if (last_q != -2)
          rq->ngroups++;
        last_q = q;
      }
      b->group = rq->ngroups;
      b->uri = strdup(bl.v[i].contact);
      b->path = bl.v[i].path[0] ? strdup(bl.v[i].path) : NULL;
      b->set_ruri = 1;
      if (!b->uri || (bl.v[i].path[0] && !b->path))
        oom = 1;
      rq->nbr++;
    }
    rq->ngroups++;
  } else {
    rq->nbr = 1; /* the (preprocessed) Request-URI, §16.5 */
    rq->ngroups = 1;
    if (hop && !(rq->br[0].hop = strdup(hop)))
      oom = 1;
  }
  sipr_binding_list_free(&bl);
  for (unsigned i = 0; i < rq->nbr; i++)
    branch_init(rq, &rq->br[i]);
  pthread_mutex_lock(&p->mu);
  rq->next = p->live;
  if (p->live)
    p->live->prev = rq;
  p->live = rq;
  pthread_mutex_unlock(&p->mu);
  atomic_fetch_add_explicit(&p->st_active, 1, memory_order_relaxed);
  sipr_txn_set_owner(st, rq);
  if (oom) {
    rq->final_sent = 1;
    rq_respond(rq, 500, NULL, NULL);
    return;
  }
  while (rq->next_group < rq->ngroups && !start_next_group(rq))
    ;
  rq_maybe_finish(rq);
}

/* ---- client transaction events ------------------------------------------- */

void sipr_proxy_on_response(sipr_proxy_t *p, sipr_txn_t *ct, sipr_msg_t *resp) {
  px_branch_t *b = p && ct ? branch_of(p, sipr_txn_owner(ct)) : NULL;
  if (!b || !resp || resp->is_request)
    return;
  px_req_t *rq = b->rq;
  if (ct != b->ct)
    return; /* the answer to our CANCEL */
  unsigned status = resp->status;
  if (status < 200) {
    if (rq->invite && !b->done) {
      /* §16.8: a provisional resets Timer C. */
      b->provisional = 1;
      sipr_timer_start(rq->loop, &b->timer_c, rq->p->cfg.timer_c_ms);
      if (b->cancel_pending)
        branch_cancel(b); /* §9.1: now it may be cancelled */
    }
    /* §16.7 step 5: provisionals but 100 go upstream at once. */
    if (status > 100 && !b->done && !rq->final_sent)
      forward_resp(rq, resp, 0, NULL);
    return;
  }
  if (status < 300) {
    /* §16.7 step 5/9: every 2xx upstream at once, even late ones. */
    if (!b->done) {
      b->done = 1;
      b->status = status;
      sipr_timer_stop(rq->loop, &b->timer_c);
    }
    forward_resp(rq, resp, 0, NULL);
    if (!rq->final_sent) {
      rq->final_sent = 1;
      sipr_timer_stop(rq->loop, &rq->fork_timer);
      /* §16.7 step 10: a final response went upstream: cancel the rest. */
      cancel_pending(rq);
    }
    return;
  }
  if (b->done)
    return;
  if (status < 400 && rq->p->cfg.recurse_3xx && !rq->final_sent &&
      !rq->cancelled && !rq->got_6xx && recurse(rq, resp)) {
    /* §16.7 step 4: recursed on, the 3xx leaves the response context */
    b->done = 1;
    b->status = status;
    sipr_timer_stop(rq->loop, &b->timer_c);
    rq_maybe_finish(rq);
    return;
  }
  branch_done(b, status, resp, NULL);
  if (status >= 600 && !rq->final_sent) {
    /* §16.7 step 5: a 6xx ends the search and cancels the others. */
    rq->got_6xx = 1;
    cancel_pending(rq);
  }
  rq_maybe_finish(rq);
}

void sipr_proxy_on_timeout(sipr_proxy_t *p, sipr_txn_t *t) {
  px_branch_t *b = p && t ? branch_of(p, sipr_txn_owner(t)) : NULL;
  if (!b || t != b->ct || b->done)
    return;
  /* Timer B/F: the branch behaves as if it received 408 (§16.7 step 2). */
  branch_done(b, 408, NULL, NULL);
  rq_maybe_finish(b->rq);
}

void sipr_proxy_on_transport_error(sipr_proxy_t *p, sipr_txn_t *t) {
  px_branch_t *b = p && t ? branch_of(p, sipr_txn_owner(t)) : NULL;
  if (!b || t != b->ct || b->done)
    return;
  /* §16.9: as if the branch had received a 503 (sent upstream as 500). */
  branch_done(b, 503, NULL, "Next Hop Unreachable");
  rq_maybe_finish(b->rq);
}

void sipr_proxy_txn_terminated(sipr_proxy_t *p, sipr_txn_t *t) {
  if (!p || !t)
    return;
  void *owner = sipr_txn_owner(t);
  px_req_t *rq = req_of(p, owner);
  if (rq) {
    if (rq->st == t) {
      rq->st = NULL;
      sipr_txn_set_owner(t, NULL);
      rq_maybe_free(rq);
    }
    return;
  }
  px_branch_t *b = branch_of(p, owner);
  if (!b)
    return;
  rq = b->rq;
  if (t == b->ct) {
    if (!b->done) { /* ended without a final: as if 408 */
      branch_done(b, 408, NULL, NULL);
      b->ct = NULL;
      rq_maybe_finish(rq);
    }
    b->ct = NULL;
  } else if (t == b->cancel_ct) {
    b->cancel_ct = NULL;
  } else {
    return;
  }
  sipr_txn_set_owner(t, NULL);
  rq->live--;
  rq_maybe_free(rq);
}

/* ---- stateless parts (§16.11) --------------------------------------------- */

static void stray_ack(sipr_proxy_t *p, sipr_msg_t *ack,
                      const sipr_tp_src_t *src, const sipr_tp_addr_t *res,
                      size_t nres);

static void ack_unlink(px_ack_wait_t *w) {
  sipr_proxy_t *p = w->p;
  pthread_mutex_lock(&p->mu);
  if (w->prev)
    w->prev->next = w->next;
  else
    p->acks = w->next;
  if (w->next)
    w->next->prev = w->prev;
  pthread_mutex_unlock(&p->mu);
}

/* The answer for a waiting ACK (on the worker that received it). */
static void ack_resolved(void *arg, int err, const sipr_tp_addr_t *addrs,
                         size_t n) {
  px_ack_wait_t *w = arg;
  ack_unlink(w);
  if (!err && n) {
    char scratch[PX_SCRATCH];
    sipr_arena_t a;
    sipr_arena_init(&a, scratch, sizeof scratch, 1 << 20);
    sipr_msg_t *m = NULL;
    sipr_perr_t perr;
    if (sipr_msg_parse(&a, w->buf, w->len, SIPR_PARSE_DATAGRAM, &m, &perr) ==
            0 &&
        sipr_msg_check(m, &perr) == 0)
      stray_ack(w->p, m, w->has_src ? &w->src : NULL, addrs, n);
    sipr_arena_free(&a);
  }
  free(w); /* a name that does not resolve: the ACK is lost, as over a
              lossy network (the UAS retransmits its 2xx, §13.3.1.4) */
}

/* The next hop of a stateless ACK named by a host name: 0 with *dest set
 * (answered now), 1 when a copy waits for the answer, <0 to drop it. */
static int ack_resolve(sipr_proxy_t *p, sipr_msg_t *ack,
                       const sipr_tp_src_t *src, const sipr_uri_t *hop,
                       sipr_tp_addr_t *dest) {
  sipr_res_t *res =
      p->cfg.ops.resolver ? p->cfg.ops.resolver(p->cfg.ops_ctx) : NULL;
  if (!res)
    return SIPR_EIO;
  px_ack_wait_t *w = malloc(sizeof *w + ack->len);
  if (!w)
    return SIPR_ENOMEM;
  memset(w, 0, sizeof *w);
  w->p = p;
  if (src) {
    w->src = *src;
    w->has_src = 1;
  }
  w->len = ack->len;
  memcpy(w->buf, ack->buf, ack->len);
  sipr_tp_addr_t addrs[SIPR_RES_MAX_ADDRS];
  size_t n = 0;
  sipr_str_t host = hop->maddr.p ? hop->maddr : hop->host;
  pthread_mutex_lock(&p->mu);
  w->next = p->acks;
  if (w->next)
    w->next->prev = w;
  p->acks = w;
  pthread_mutex_unlock(&p->mu);
  int rc = sipr_res_lookup(res, host, uri_proto(hop), hop->port, addrs, &n,
                           ack_resolved, w, NULL);
  if (rc == 1)
    return 1;
  ack_unlink(w);
  free(w);
  if (rc)
    return rc;
  for (size_t i = 0; i < n; i++)
    if (pick_local(p, &addrs[i], src ? &src->local : NULL)) {
      *dest = addrs[i];
      return 0;
    }
  return SIPR_ENOENT;
}

void sipr_proxy_on_stray_ack(sipr_proxy_t *p, sipr_msg_t *ack,
                             const sipr_tp_src_t *src) {
  stray_ack(p, ack, src, NULL, 0);
}

/* res/nres: the addresses of a next hop named by a host name, once its
 * lookup has answered (NULL/0 the first time). */
static void stray_ack(sipr_proxy_t *p, sipr_msg_t *ack,
                      const sipr_tp_src_t *src, const sipr_tp_addr_t *res,
                      size_t nres) {
  if (!p || !ack || ack->method_id != SIPR_METHOD_ACK || !p->cfg.ops.send)
    return;
  if (sipr_msg_max_forwards(ack) == 0)
    return;
  sipr_addr_t *routes[PX_MAX_ROUTES];
  int nr = route_list(ack, routes, NULL);
  if (nr < 0)
    return;
  if (nr == 0) {
    stateless_follow(p, ack, src); /* see below */
    return;
  }
  sipr_edits_t ed;
  sipr_edits_init(&ed, ack);
  int ri = 0;
  while (ri < nr && ri < 4 && uri_is_me(p, &routes[ri]->uri)) {
    if (sipr_edit_remove_top_route(&ed))
      return;
    ri++;
  }
  if (ri == 0) {
    /* not through our Record-Route: the ACK of a non-2xx to a request a
     * stateless rule forwarded goes the same way (§16.11); else dropped */
    stateless_follow(p, ack, src);
    return;
  }
  if (sipr_edit_dec_max_forwards(&ed, 70))
    return;
  sipr_arena_t *a = ack->arena;
  sipr_str_t hop_text = ri < nr ? routes[ri]->uri.raw : ack->ruri_str;
  sipr_uri_t hop;
  sipr_perr_t err;
  sipr_tp_addr_t dest;
  if (sipr_uri_parse(a, hop_text.p, hop_text.len, &hop, &err))
    return;
  int rc = uri_dest(&hop, &dest);
  if (rc == SIPR_ENOENT && res) {
    for (size_t i = 0; i < nres && rc; i++)
      if (pick_local(p, &res[i], src ? &src->local : NULL)) {
        dest = res[i];
        rc = 0;
      }
  } else if (rc == SIPR_ENOENT) {
    rc = ack_resolve(p, ack, src, &hop, &dest); /* RFC 3263 §4.2 */
  }
  if (rc)
    return; /* 1: sent when the name resolves */
  const sipr_tp_addr_t *out_local = pick_local(p, &dest, src ? &src->local : NULL);
  if (!out_local)
    return;
  /* §16.11: a branch made from the request's invariants (the received
   * top Via's branch), so retransmissions map to the same value. */
  sipr_via_t *v = sipr_msg_via(ack);
  uint32_t h = fnv(2166136261u, v ? v->branch : SIPR_STR_NULL);
  h = fnv(h, ack->ruri_str);
  char host[PX_HOST_LEN], via[200];
  host_text(p, out_local, src ? &src->local : NULL, host, sizeof host);
  snprintf(via, sizeof via, "SIP/2.0/%s %s:%d;branch=z9hG4bKsl%08x",
           sipr_tp_proto_name(dest.proto), host,
           sipr_tp_addr_port(out_local), h);
  if (sipr_edit_prepend_via(&ed, sipr_str_cstr(via)))
    return;
  sipr_buf_t b;
  sipr_buf_init(&b);
  if (sipr_edits_print(&ed, &b) == 0 && !b.failed &&
      p->cfg.ops.send(p->cfg.ops_ctx, &dest, b.p, b.len) == 0)
    atomic_fetch_add_explicit(&p->st_stateless, 1, memory_order_relaxed);
  sipr_buf_free(&b);
}

void sipr_proxy_on_stray_response(sipr_proxy_t *p, sipr_msg_t *resp,
                                  const sipr_tp_src_t *src) {
  (void)src;
  if (!p || !resp || resp->is_request)
    return;
  /* §16.7 / §18.1.2: the transport checked that the top Via is ours. */
  forward_stateless(p, resp);
}
