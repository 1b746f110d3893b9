/*
 * Transaction layer (include/sipr/txn.h): the table, branch generation,
 * memory, the caps, and the dispatch of received messages and TU calls to
 * the four state machines (ict.c, nict.c, ist.c, nist.c). Matching
 * (§17.1.3, §17.2.3 with the RFC 2543 fallback, §9.2) is in match.c.
 *
 * Table: one array of buckets, each a singly linked chain with its own
 * mutex. A client transaction sits in the bucket written in its branch
 * ("z9hG4bK" + 4 hex digits + 2 of the worker + random); a server transaction in the bucket
 * of a seeded hash of its branch (RFC 2543: of Call-ID and CSeq number), so
 * the ACK and the CANCEL of an INVITE hash where the INVITE is. The locks
 * cover the chains only; a transaction's state belongs to the loop.
 *
 * Memory: one allocation per transaction holds the struct, the request
 * bytes, the matching keys and (server) a deep copy of the top Via; the
 * last response and the ACK are separate heap copies. All of it is freed
 * after the terminated callback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "sipr/print.h"
#include "txn_internal.h"

/* ---- configuration, names ---- */

void sipr_txn_cfg_default(sipr_txn_cfg_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->t1 = 500;
  cfg->t2 = 4000;
  cfg->t4 = 5000;
  cfg->timer_d = 32000;
  cfg->max_txns = 100000;
  cfg->buckets = 16384;
  cfg->send_100 = 1;
  cfg->trying_delay = 200;
  cfg->overload_503 = 1;
}

const char *sipr_txn_state_name(sipr_txn_state_t s) {
  static const char *const names[] = {
      [SIPR_TXN_INIT] = "init",
      [SIPR_ICT_CALLING] = "ict-calling",
      [SIPR_ICT_PROCEEDING] = "ict-proceeding",
      [SIPR_ICT_COMPLETED] = "ict-completed",
      [SIPR_ICT_ACCEPTED] = "ict-accepted",
      [SIPR_ICT_TERMINATED] = "ict-terminated",
      [SIPR_NICT_TRYING] = "nict-trying",
      [SIPR_NICT_PROCEEDING] = "nict-proceeding",
      [SIPR_NICT_COMPLETED] = "nict-completed",
      [SIPR_NICT_TERMINATED] = "nict-terminated",
      [SIPR_IST_PROCEEDING] = "ist-proceeding",
      [SIPR_IST_COMPLETED] = "ist-completed",
      [SIPR_IST_CONFIRMED] = "ist-confirmed",
      [SIPR_IST_ACCEPTED] = "ist-accepted",
      [SIPR_IST_TERMINATED] = "ist-terminated",
      [SIPR_NIST_TRYING] = "nist-trying",
      [SIPR_NIST_PROCEEDING] = "nist-proceeding",
      [SIPR_NIST_COMPLETED] = "nist-completed",
      [SIPR_NIST_TERMINATED] = "nist-terminated",
  };
  if ((unsigned)s < sizeof(names) / sizeof(names[0]) && names[s])
    return names[s];
  return "unknown";
}

/* Stream transports get no retransmission timers (§17.1.1.2, §17.1.2.2,
 * §17.2.1) and zero D, I, J, K. Same rule as sipr_tp_reliable(), kept here
 * so the state machines need nothing of the transport library (only the
 * stack, stack.c, calls into it). */
static int txn_reliable(sipr_tp_proto_t p) {
  return p == SIPR_TP_TCP || p == SIPR_TP_TLS || p == SIPR_TP_WS ||
         p == SIPR_TP_WSS;
}

/* ---- random, branches ---- */

static uint64_t layer_random(sipr_txn_layer_t *l) {
  return sipr__txn_mix64(atomic_fetch_add(&l->rnd, 0x9e3779b97f4a7c15ULL));
}

static uint64_t seed64(void) {
  uint64_t s = 0;
  if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s)) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
        ((uint64_t)getpid() << 16) ^ (uint64_t)(uintptr_t)&s;
  }
  return s;
}

size_t sipr_txn_new_branch(sipr_txn_layer_t *l, char *buf, size_t cap) {
  if (!l || !buf || cap < 28)
    return 0;
  uint64_t r = layer_random(l);
  unsigned bucket =
      (unsigned)(sipr__txn_mix64(r ^ l->hash_seed) >> 16) & l->mask;
  int n = snprintf(buf, cap, SIPR_TXN_COOKIE "%04x%02x%014llx", bucket,
                   l->cfg.worker & 0xffu,
                   (unsigned long long)(r & 0xffffffffffffffULL));
  return n > 0 ? (size_t)n : 0;
}

int sipr_txn_branch_worker(sipr_str_t branch) {
  if (branch.len != SIPR_TXN_COOKIE_LEN + 20 || !sipr__txn_has_cookie(branch))
    return -1;
  int w = 0;
  for (size_t i = 0; i < 20; i++) {
    char c = sipr_lower((unsigned char)branch.p[SIPR_TXN_COOKIE_LEN + i]);
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0)
      return -1;
    if (i == 4 || i == 5)
      w = (w << 4) | d;
  }
  return w;
}

/* ---- the layer ---- */

sipr_txn_layer_t *sipr_txn_layer_new(sipr_loop_t *loop,
                                     const sipr_txn_cfg_t *cfg,
                                     const sipr_txn_tp_ops_t *tp, void *tp_ctx,
                                     const sipr_txn_user_ops_t *user,
                                     void *user_ctx) {
  if (!loop || !tp || !tp->send_request || !tp->send_response)
    return NULL;
  sipr_txn_layer_t *l = calloc(1, sizeof(*l));
  if (!l)
    return NULL;
  if (cfg)
    l->cfg = *cfg;
  else
    sipr_txn_cfg_default(&l->cfg);
  if (!l->cfg.t1 || !l->cfg.t2 || l->cfg.t2 < l->cfg.t1 || l->cfg.worker > 255) {
    free(l);
    return NULL;
  }
  unsigned n = 1;
  while (n < l->cfg.buckets && n < 65536)
    n <<= 1;
  l->cfg.buckets = n;
  l->mask = n - 1;
  l->buckets = calloc(n, sizeof(*l->buckets));
  if (!l->buckets) {
    free(l);
    return NULL;
  }
  for (unsigned i = 0; i < n; i++)
    pthread_mutex_init(&l->buckets[i].mu, NULL);
  l->loop = loop;
  l->tp = *tp;
  l->tp_ctx = tp_ctx;
  if (user)
    l->user = *user;
  l->user_ctx = user_ctx;
  atomic_init(&l->count, 0);
  atomic_init(&l->rnd, seed64());
  l->hash_seed = seed64() | 1;
  return l;
}

static void txn_stop_timers(sipr_txn_t *t) {
  switch (t->kind) {
  case SIPR_TXN_ICT:
    sipr__ict_stop_timers(t);
    break;
  case SIPR_TXN_NICT:
    sipr__nict_stop_timers(t);
    break;
  case SIPR_TXN_IST:
    sipr__ist_stop_timers(t);
    break;
  case SIPR_TXN_NIST:
    sipr__nist_stop_timers(t);
    break;
  }
}

static void txn_free(sipr_txn_t *t) {
  sipr__txn_mem_t *m = &t->layer->mem;
  sipr__txn_mem_put(m, t->resp);
  free(t->ack);
  sipr__txn_mem_put(m, t);
}

void sipr_txn_layer_free(sipr_txn_layer_t *l) {
  if (!l)
    return;
  for (unsigned i = 0; i <= l->mask; i++) {
    sipr_txn_t *t = l->buckets[i].head;
    while (t) {
      sipr_txn_t *n = t->next;
      txn_stop_timers(t);
      txn_free(t);
      t = n;
    }
    pthread_mutex_destroy(&l->buckets[i].mu);
  }
  free(l->buckets);
  sipr__txn_mem_release(&l->mem);
  free(l);
}

unsigned sipr_txn_count(const sipr_txn_layer_t *l) {
  return l ? atomic_load(&((sipr_txn_layer_t *)l)->count) : 0;
}

void sipr_txn_get_stats(const sipr_txn_layer_t *l, sipr_txn_stats_t *out) {
  if (l && out)
    *out = l->stats;
}

/* ---- table ---- */

/* Links t into its bucket; the caller holds the bucket's lock. */
static void link_locked(sipr_txn_layer_t *l, sipr_txn_t *t) {
  sipr_txn_bucket_t *b = &l->buckets[t->bucket];
  t->next = b->head;
  b->head = t;
  t->linked = 1;
  atomic_fetch_add(&l->count, 1);
}

static void unlink_txn(sipr_txn_t *t) {
  sipr_txn_layer_t *l = t->layer;
  if (!t->linked)
    return;
  sipr_txn_bucket_t *b = &l->buckets[t->bucket];
  pthread_mutex_lock(&b->mu);
  for (sipr_txn_t **pp = &b->head; *pp; pp = &(*pp)->next) {
    if (*pp == t) {
      *pp = t->next;
      break;
    }
  }
  pthread_mutex_unlock(&b->mu);
  t->linked = 0;
  t->next = NULL;
  atomic_fetch_sub(&l->count, 1);
}

/* ---- allocation ---- */

/* A bump allocator over one block; with p == NULL it only measures. */
typedef struct blk {
  char *p;
  size_t used;
} blk_t;

static void *blk_take(blk_t *b, size_t n, size_t align) {
  size_t off = (b->used + align - 1) & ~(align - 1);
  b->used = off + n;
  return b->p ? b->p + off : NULL;
}

static sipr_str_t blk_str(blk_t *b, sipr_str_t s) {
  if (sipr_str_is_null(s))
    return SIPR_STR_NULL;
  char *d = blk_take(b, s.len + 1, 1);
  if (!d)
    return s;
  memcpy(d, s.p, s.len);
  d[s.len] = '\0';
  return sipr_str_make(d, s.len);
}

static sipr_via_t *blk_via(blk_t *b, const sipr_via_t *s) {
  sipr_via_t *v = blk_take(b, sizeof(*v), _Alignof(sipr_via_t));
  sipr_via_t c = *s;
  c.next = NULL;
  c.protocol = blk_str(b, s->protocol);
  c.version = blk_str(b, s->version);
  c.transport = blk_str(b, s->transport);
  c.host = blk_str(b, s->host);
  c.branch = blk_str(b, s->branch);
  c.received = blk_str(b, s->received);
  c.maddr = blk_str(b, s->maddr);
  c.ttl = blk_str(b, s->ttl);
  c.raw = blk_str(b, s->raw);
  sipr_param_t *head = NULL, **tail = &head;
  for (const sipr_param_t *p = s->params; p; p = p->next) {
    sipr_param_t *q = blk_take(b, sizeof(*q), _Alignof(sipr_param_t));
    sipr_str_t name = blk_str(b, p->name), value = blk_str(b, p->value);
    if (q) {
      q->name = name;
      q->value = value;
      q->next = NULL;
      *tail = q;
      tail = &q->next;
    }
  }
  c.params = head;
  if (v)
    *v = c;
  return v;
}

/* Lays a transaction out in b: struct, request bytes, keys and, for a
 * server transaction, its top Via. */
static sipr_txn_t *txn_layout(blk_t *b, const char *req, size_t len,
                              sipr_msg_t *m, const sipr_via_t *via,
                              const sipr_txn_reqkey_t *rk) {
  sipr_txn_t *t = blk_take(b, sizeof(*t), _Alignof(sipr_txn_t));
  char *copy = blk_take(b, len + 1, 1);
  sipr_txn_keys_t k;
  memset(&k, 0, sizeof(k));
  k.branch = blk_str(b, via->branch);
  k.cookie = sipr__txn_has_cookie(via->branch);
  k.method = m->method_id;
  k.method_str = blk_str(b, m->method);
  sipr_via_t *vcopy = NULL;
  if (rk) {
    k.cseq = rk->cseq;
    k.host = blk_str(b, via->host);
    k.transport = blk_str(b, via->transport);
    k.port = rk->port;
    k.call_id = blk_str(b, rk->call_id);
    k.from_tag = blk_str(b, rk->from_tag);
    k.to_tag = blk_str(b, rk->to_tag);
    k.ruri = blk_str(b, m->ruri_str);
    vcopy = blk_via(b, via);
  }
  if (t) {
    memcpy(copy, req, len);
    copy[len] = '\0';
    t->req = copy;
    t->req_len = len;
    t->k = k;
    t->via = vcopy;
  }
  return t;
}

static sipr_txn_t *txn_alloc(sipr_txn_layer_t *l, const char *req, size_t len,
                             sipr_msg_t *m, const sipr_via_t *via,
                             const sipr_txn_reqkey_t *rk) {
  blk_t b = {NULL, 0};
  txn_layout(&b, req, len, m, via, rk);
  b.p = sipr__txn_mem_get(&l->mem, b.used);
  if (!b.p)
    return NULL;
  memset(b.p, 0, b.used);
  b.used = 0;
  sipr_txn_t *t = txn_layout(&b, req, len, m, via, rk);
  t->layer = l;
  return t;
}

/* ---- services for the machines ---- */

int sipr__txn_send_request(sipr_txn_t *t, const char *buf, size_t len) {
  sipr_txn_layer_t *l = t->layer;
  return l->tp.send_request(l->tp_ctx, &t->dest, buf, len, &t->conn_id);
}

int sipr__txn_send_response(sipr_txn_t *t, const char *buf, size_t len) {
  sipr_txn_layer_t *l = t->layer;
  return l->tp.send_response(l->tp_ctx, &t->src, t->via, buf, len);
}

int sipr__txn_keep_response(sipr_txn_t *t, const char *buf, size_t len,
                            unsigned status, sipr_msg_t *m) {
  char *copy = sipr__txn_mem_get(&t->layer->mem, len + 1);
  if (!copy)
    return SIPR_ENOMEM;
  memcpy(copy, buf, len);
  copy[len] = '\0';
  sipr__txn_mem_put(&t->layer->mem, t->resp);
  t->resp = copy;
  t->resp_len = len;
  t->resp_status = status;
  t->resp_to_tag = SIPR_STR_NULL;
  /* The To tag, as a slice of our copy (for RFC 2543 ACK matching). */
  sipr_addr_t *to = m ? sipr_msg_to(m) : NULL;
  if (to && to->tag.p && m->buf == buf && to->tag.p >= buf &&
      to->tag.p + to->tag.len <= buf + len)
    t->resp_to_tag = sipr_str_make(copy + (to->tag.p - buf), to->tag.len);
  return 0;
}

void sipr__txn_transport_error(sipr_txn_t *t) {
  sipr_txn_layer_t *l = t->layer;
  l->stats.transport_errors++;
  if (l->user.transport_error)
    l->user.transport_error(l->user_ctx, t);
}

/* Whether a client transaction is still waiting for a response. */
static int client_pending(const sipr_txn_t *t) {
  return t->state == SIPR_ICT_CALLING || t->state == SIPR_ICT_PROCEEDING ||
         t->state == SIPR_NICT_TRYING || t->state == SIPR_NICT_PROCEEDING;
}

unsigned sipr_txn_layer_conn_closed(sipr_txn_layer_t *l, uint64_t conn_id) {
  unsigned failed = 0;
  if (!l || conn_id == 0)
    return 0;
  for (unsigned i = 0; i <= l->mask; i++) {
    sipr_txn_bucket_t *b = &l->buckets[i];
    for (;;) {
      /* Find one under the lock; fail it outside (terminating unlinks,
       * which takes the lock, and the TU callback may start others). */
      sipr_txn_t *hit = NULL;
      pthread_mutex_lock(&b->mu);
      for (sipr_txn_t *t = b->head; t; t = t->next)
        if (!sipr__txn_is_server(t) && t->conn_id == conn_id &&
            client_pending(t)) {
          hit = t;
          break;
        }
      pthread_mutex_unlock(&b->mu);
      if (!hit)
        break;
      sipr__txn_transport_error(hit); /* §17.1.4 */
      sipr__txn_terminate(hit);
      failed++;
    }
  }
  return failed;
}

void sipr__txn_timeout(sipr_txn_t *t) {
  sipr_txn_layer_t *l = t->layer;
  l->stats.timeouts++;
  if (l->user.timeout)
    l->user.timeout(l->user_ctx, t);
}

void sipr__txn_terminate(sipr_txn_t *t) {
  sipr_txn_layer_t *l = t->layer;
  static const sipr_txn_state_t term[] = {
      [SIPR_TXN_ICT] = SIPR_ICT_TERMINATED,
      [SIPR_TXN_NICT] = SIPR_NICT_TERMINATED,
      [SIPR_TXN_IST] = SIPR_IST_TERMINATED,
      [SIPR_TXN_NIST] = SIPR_NIST_TERMINATED,
  };
  t->state = term[t->kind];
  txn_stop_timers(t);
  unlink_txn(t);
  l->stats.terminated++;
  if (l->user.terminated)
    l->user.terminated(l->user_ctx, t);
  txn_free(t);
}

sipr_msg_t *sipr__txn_parse_request(sipr_txn_t *t, sipr_arena_t *a) {
  sipr_msg_t *m = NULL;
  sipr_perr_t err;
  if (sipr_msg_parse(a, t->req, t->req_len, SIPR_PARSE_DATAGRAM, &m, &err) < 0)
    return NULL;
  return m;
}

static void txn_init_machine(sipr_txn_t *t) {
  switch (t->kind) {
  case SIPR_TXN_ICT:
    sipr__ict_init(t);
    break;
  case SIPR_TXN_NICT:
    sipr__nict_init(t);
    break;
  case SIPR_TXN_IST:
    sipr__ist_init(t);
    break;
  case SIPR_TXN_NIST:
    sipr__nist_init(t);
    break;
  }
}

/* ---- client transactions ---- */

int sipr_txn_client_new(sipr_txn_layer_t *l, const char *req, size_t len,
                        const sipr_tp_addr_t *dest, void *owner,
                        sipr_txn_t **out) {
  if (out)
    *out = NULL;
  if (!l || !req || !dest || !out)
    return SIPR_EINVAL;
  char scratch[8192];
  sipr_arena_t a;
  sipr_arena_init(&a, scratch, sizeof(scratch), 1 << 20);
  sipr_msg_t *m = NULL;
  sipr_perr_t err;
  int rc = sipr_msg_parse(&a, req, len, SIPR_PARSE_DATAGRAM, &m, &err);
  if (rc == 0)
    rc = sipr_msg_check(m, &err);
  if (rc < 0) {
    sipr_arena_free(&a);
    return SIPR_EPARSE;
  }
  sipr_via_t *via = sipr_msg_via(m);
  long bucket = via ? sipr__txn_branch_bucket(l, via->branch) : -1;
  if (!m->is_request || m->method_id == SIPR_METHOD_ACK || bucket < 0) {
    sipr_arena_free(&a);
    return SIPR_EINVAL;
  }
  if (atomic_load(&l->count) >= l->cfg.max_txns) {
    l->stats.refused_cap++;
    sipr_arena_free(&a);
    return SIPR_ETOOBIG;
  }
  sipr_txn_t *t = txn_alloc(l, m->buf, m->len, m, via, NULL);
  sipr_arena_free(&a);
  if (!t)
    return SIPR_ENOMEM;
  t->kind = t->k.method == SIPR_METHOD_INVITE ? SIPR_TXN_ICT : SIPR_TXN_NICT;
  t->bucket = (unsigned)bucket;
  t->dest = *dest;
  t->reliable = txn_reliable(dest->proto) ? 1 : 0;
  t->owner = owner;
  txn_init_machine(t);

  /* One live client transaction per branch and method (§17.1.3). */
  sipr_txn_bucket_t *b = &l->buckets[t->bucket];
  pthread_mutex_lock(&b->mu);
  for (sipr_txn_t *o = b->head; o; o = o->next) {
    if (!sipr__txn_is_server(o) && sipr_str_caseeq(o->k.branch, t->k.branch) &&
        sipr__txn_method_eq(&o->k, t->k.method, t->k.method_str)) {
      pthread_mutex_unlock(&b->mu);
      txn_free(t);
      return SIPR_EINVAL;
    }
  }
  link_locked(l, t);
  pthread_mutex_unlock(&b->mu);

  rc = t->kind == SIPR_TXN_ICT ? sipr__ict_start(t) : sipr__nict_start(t);
  if (rc < 0) {
    /* §17.1.4 at the first send: reported by the return value; nothing
     * is kept and no callback fires. */
    l->stats.transport_errors++;
    txn_stop_timers(t);
    unlink_txn(t);
    txn_free(t);
    return rc;
  }
  l->stats.created_client++;
  *out = t;
  return 0;
}

static void recv_response(sipr_txn_layer_t *l, sipr_msg_t *msg,
                          const sipr_tp_src_t *src) {
  sipr_via_t *via = sipr_msg_via(msg);
  sipr_cseq_t *cs = sipr_msg_cseq(msg);
  if (!via || !cs || msg->status < 100 || msg->status > 699) {
    l->stats.dropped++;
    return;
  }
  sipr_txn_t *t = sipr__txn_client_find(l, via->branch, cs);
  if (!t) {
    /* §17.1.1.2 / RFC 6026 §8.9: no match: to the core (a proxy may
     * forward it statelessly, a UA drops it). */
    l->stats.stray_responses++;
    if (l->user.stray_response)
      l->user.stray_response(l->user_ctx, msg, src);
    return;
  }
  if (t->kind == SIPR_TXN_ICT)
    sipr__ict_recv_response(t, msg);
  else
    sipr__nict_recv_response(t, msg);
}

/* ---- server transactions ---- */

/* Over max_txns: 503 without state (§8.2.7 stateless UAS, §21.5.4), with
 * a To tag of our own when the request has none (§8.2.6.2). */
static void answer_503(sipr_txn_layer_t *l, sipr_msg_t *msg,
                       const sipr_tp_src_t *src, const sipr_txn_reqkey_t *k) {
  char tag[17];
  snprintf(tag, sizeof(tag), "%016llx", (unsigned long long)layer_random(l));
  sipr_buf_t b;
  sipr_buf_init(&b);
  if (sipr_print_response(&b, msg, 503, NULL, sipr_str_make(tag, 16),
                          SIPR_STR_NULL) == 0 &&
      l->tp.send_response(l->tp_ctx, src, k->via, b.p, b.len) == 0)
    l->stats.answered_503++;
  sipr_buf_free(&b);
}

static void recv_request(sipr_txn_layer_t *l, sipr_msg_t *msg,
                         const sipr_tp_src_t *src) {
  sipr_txn_reqkey_t k;
  if (!src || sipr__txn_request_key(msg, &k) < 0) {
    l->stats.dropped++;
    return;
  }
  int ack = msg->method_id == SIPR_METHOD_ACK;
  /* §8.2.7: what the TU answers statelessly creates no transaction. ACK
   * and CANCEL are never offered (a stateless UAS ignores them). */
  if (!ack && msg->method_id != SIPR_METHOD_CANCEL && l->stateless &&
      l->stateless(l->stateless_ctx, l, msg, src))
    return;
  /* §17.2.3: the method to match is the request's, except for ACK, which
   * matches the INVITE. CANCEL matches only a CANCEL transaction. */
  sipr_method_t method = ack ? SIPR_METHOD_INVITE : msg->method_id;
  sipr_str_t mtext = ack ? SIPR_STR("INVITE") : msg->method;
  unsigned bucket = sipr__txn_server_bucket(l, &k);
  sipr_txn_bucket_t *b = &l->buckets[bucket];
  int created = 0, over = 0;

  pthread_mutex_lock(&b->mu);
  sipr_txn_t *t =
      sipr__txn_server_find_locked(l, bucket, &k, msg, method, mtext, ack);
  if (!t && !ack) {
    if (atomic_load(&l->count) >= l->cfg.max_txns) {
      over = 1;
    } else if ((t = txn_alloc(l, msg->buf, msg->len, msg, k.via, &k))) {
      t->kind = method == SIPR_METHOD_INVITE ? SIPR_TXN_IST : SIPR_TXN_NIST;
      t->bucket = bucket;
      t->src = *src;
      t->reliable = txn_reliable(src->remote.proto) ? 1 : 0;
      txn_init_machine(t);
      link_locked(l, t);
      created = 1;
    }
  }
  pthread_mutex_unlock(&b->mu);

  if (over) {
    l->stats.refused_cap++;
    if (l->cfg.overload_503)
      answer_503(l, msg, src, &k);
    return;
  }
  if (!t) {
    if (!ack) {
      l->stats.dropped++; /* out of memory */
      return;
    }
    /* §17.2.3: an ACK that matches no transaction (ACK for 2xx) goes to
     * the core. */
    l->stats.stray_acks++;
    if (l->user.stray_ack)
      l->user.stray_ack(l->user_ctx, msg, src);
    return;
  }
  if (created) {
    l->stats.created_server++;
    if (t->kind == SIPR_TXN_IST)
      sipr__ist_start(t, msg, src);
    else
      sipr__nist_start(t, msg, src);
  } else if (t->kind == SIPR_TXN_IST) {
    sipr__ist_recv_request(t, msg, src);
  } else {
    sipr__nist_recv_request(t, msg, src);
  }
}

void sipr_txn_layer_recv(sipr_txn_layer_t *l, sipr_msg_t *msg,
                         const sipr_tp_src_t *src) {
  if (!l || !msg)
    return;
  if (msg->is_request)
    recv_request(l, msg, src);
  else
    recv_response(l, msg, src);
}

void sipr_txn_layer_set_stateless(sipr_txn_layer_t *l,
                                  sipr_txn_stateless_cb *cb, void *ctx) {
  l->stateless = cb;
  l->stateless_ctx = ctx;
}

int sipr_txn_send_stateless(sipr_txn_layer_t *l, const sipr_tp_src_t *src,
                            const sipr_via_t *via, const char *resp,
                            size_t len) {
  if (!l || !src || !via || !resp)
    return SIPR_EINVAL;
  l->stats.stateless++;
  return l->tp.send_response(l->tp_ctx, src, via, resp, len);
}

int sipr_txn_respond(sipr_txn_t *st, const char *resp, size_t len) {
  if (!st || !resp || !sipr__txn_is_server(st))
    return SIPR_EINVAL;
  char scratch[8192];
  sipr_arena_t a;
  sipr_arena_init(&a, scratch, sizeof(scratch), 1 << 20);
  sipr_msg_t *m = NULL;
  sipr_perr_t err;
  int rc = sipr_msg_parse(&a, resp, len, SIPR_PARSE_DATAGRAM, &m, &err);
  if (rc == 0 && (m->is_request || m->status < 100 || m->status > 699))
    rc = SIPR_EPARSE;
  if (rc == 0)
    rc = st->kind == SIPR_TXN_IST ? sipr__ist_respond(st, m->buf, m->len, m)
                                  : sipr__nist_respond(st, m->buf, m->len, m);
  else
    rc = SIPR_EPARSE;
  sipr_arena_free(&a);
  return rc;
}

/* ---- accessors ---- */

int sipr_txn_can_cancel(const sipr_txn_t *ct) {
  /* §9.1: not before a provisional response; not after a final one. */
  return ct && ct->kind == SIPR_TXN_ICT && ct->state == SIPR_ICT_PROCEEDING;
}

sipr_txn_kind_t sipr_txn_kind(const sipr_txn_t *t) {
  return t->kind;
}
sipr_txn_state_t sipr_txn_state(const sipr_txn_t *t) {
  return t->state;
}
void *sipr_txn_owner(const sipr_txn_t *t) {
  return t->owner;
}
void sipr_txn_set_owner(sipr_txn_t *t, void *owner) {
  t->owner = owner;
}
sipr_str_t sipr_txn_branch(const sipr_txn_t *t) {
  return t->k.branch;
}
sipr_str_t sipr_txn_request(const sipr_txn_t *t) {
  return sipr_str_make(t->req, t->req_len);
}
