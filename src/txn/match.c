/*
 * Matching (include/sipr/txn.h): responses to client transactions by the
 * branch of their top Via and their CSeq method (§17.1.3); requests to
 * server transactions by branch, sent-by and method (§17.2.3), or for RFC
 * 2543 requests without the magic cookie by Request-URI, To tag, From tag,
 * Call-ID, CSeq and top Via; the INVITE a CANCEL targets (§9.2); and the
 * bucket a key lives in.
 */
#include "txn_internal.h"

uint64_t sipr__txn_mix64(uint64_t z) { /* splitmix64 finaliser */
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* FNV-1a over s (lower-cased when fold), from h. */
static uint64_t hash_str(uint64_t h, sipr_str_t s, int fold) {
  for (size_t i = 0; i < s.len; i++) {
    unsigned char c = (unsigned char)s.p[i];
    h ^= fold ? sipr_lower(c) : c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = sipr_lower((unsigned char)c);
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

int sipr__txn_has_cookie(sipr_str_t branch) {
  return branch.len >= SIPR_TXN_COOKIE_LEN &&
         sipr_str_caseeq(sipr_str_make(branch.p, SIPR_TXN_COOKIE_LEN),
                         SIPR_STR(SIPR_TXN_COOKIE));
}

/* The bucket written in one of our branches; -1 when the branch is not
 * ours (no cookie, or the 4 digits are not hex). */
long sipr__txn_branch_bucket(const sipr_txn_layer_t *l, sipr_str_t branch) {
  if (!sipr__txn_has_cookie(branch) || branch.len < SIPR_TXN_COOKIE_LEN + 4)
    return -1;
  unsigned v = 0;
  for (size_t i = 0; i < 4; i++) {
    int d = hexval(branch.p[SIPR_TXN_COOKIE_LEN + i]);
    if (d < 0)
      return -1;
    v = (v << 4) | (unsigned)d;
  }
  return (long)(v & l->mask);
}

/* Whether a CSeq method (id + text) is the transaction's method. */
int sipr__txn_method_eq(const sipr_txn_keys_t *k, sipr_method_t id,
                        sipr_str_t text) {
  if (k->method != SIPR_METHOD_UNKNOWN || id != SIPR_METHOD_UNKNOWN)
    return k->method == id;
  return sipr_str_eq(k->method_str, text); /* §7.1: case-sensitive */
}

/* ---- keys of a received request ---- */

static int sent_by_port(const sipr_via_t *v) {
  if (v->port >= 0)
    return v->port;
  /* §18.1.1, §19.1.2 (RFC 7118 for WS): the transport's default port,
   * as sipr_tp_default_port(). */
  if (sipr_str_caseeq_z(v->transport, "TLS"))
    return 5061;
  if (sipr_str_caseeq_z(v->transport, "WS"))
    return 80;
  if (sipr_str_caseeq_z(v->transport, "WSS"))
    return 443;
  return 5060;
}

/* What matching needs from a request: a top Via with a sent-by and a CSeq;
 * for RFC 2543 requests also Call-ID and From. -1 when absent. */
int sipr__txn_request_key(sipr_msg_t *m, sipr_txn_reqkey_t *k) {
  memset(k, 0, sizeof(*k));
  k->via = sipr_msg_via(m);
  sipr_cseq_t *cs = sipr_msg_cseq(m);
  if (!k->via || !k->via->host.len || !cs)
    return -1;
  k->branch = k->via->branch;
  k->cookie = sipr__txn_has_cookie(k->branch);
  k->port = sent_by_port(k->via);
  k->cseq = cs->seq;
  k->call_id = sipr_msg_call_id(m);
  sipr_addr_t *from = sipr_msg_from(m), *to = sipr_msg_to(m);
  if (from)
    k->from_tag = from->tag;
  if (to)
    k->to_tag = to->tag;
  if (!k->cookie && (sipr_str_is_null(k->call_id) || !from))
    return -1;
  return 0;
}

unsigned sipr__txn_server_bucket(const sipr_txn_layer_t *l,
                                 const sipr_txn_reqkey_t *k) {
  uint64_t h = 0xcbf29ce484222325ULL ^ l->hash_seed;
  if (k->cookie) {
    h = hash_str(h, k->branch, 1);
  } else {
    /* RFC 2543: the INVITE, its ACK and its CANCEL share Call-ID and the
     * CSeq number. */
    h = hash_str(h, k->call_id, 0);
    h = sipr__txn_mix64(h ^ k->cseq);
  }
  return (unsigned)(sipr__txn_mix64(h) & l->mask);
}

static int tag_eq(sipr_str_t a, sipr_str_t b) {
  if (sipr_str_is_null(a) || sipr_str_is_null(b))
    return sipr_str_is_null(a) && sipr_str_is_null(b);
  return sipr_str_eq(a, b);
}

/* RFC 2543 matching of a request against server transaction t (§17.2.3):
 * Request-URI, From tag, Call-ID, CSeq number, top Via; the To tag of the
 * request (or, for ACK, of the response the transaction sent). The CSeq
 * method is the transaction's by construction (the caller picked the kind
 * and method to look for). */
static int match_2543(const sipr_txn_t *t, const sipr_txn_reqkey_t *k,
                      sipr_msg_t *m, int ack) {
  const sipr_txn_keys_t *tk = &t->k;
  if (tk->cookie || tk->cseq != k->cseq ||
      !sipr_str_eq(tk->call_id, k->call_id))
    return 0;
  if (!tag_eq(tk->from_tag, k->from_tag))
    return 0;
  if (ack ? !t->resp || !tag_eq(t->resp_to_tag, k->to_tag)
          : !tag_eq(tk->to_tag, k->to_tag))
    return 0;
  /* Top Via: transport, sent-by and branch (RFC 2543 branches, if any). */
  if (!sipr_str_caseeq(tk->transport, k->via->transport) ||
      !sipr_str_caseeq(tk->host, k->via->host) || tk->port != k->port ||
      !tag_eq(tk->branch, k->branch))
    return 0;
  /* Request-URI by §19.1.4. */
  sipr_uri_t *ru = sipr_msg_ruri(m);
  if (!ru)
    return 0;
  char scratch[2048];
  sipr_arena_t a;
  sipr_arena_init(&a, scratch, sizeof(scratch), 1 << 16);
  sipr_uri_t tu;
  int eq = sipr_uri_parse(&a, tk->ruri.p, tk->ruri.len, &tu, NULL) == 0 &&
           sipr_uri_equal(&tu, ru);
  sipr_arena_free(&a);
  return eq;
}

/* Finds the server transaction of kind (IST for INVITE/ACK/CANCEL-lookup,
 * else NIST) and method a request matches (§17.2.3); caller holds the
 * bucket lock. */
sipr_txn_t *sipr__txn_server_find_locked(sipr_txn_layer_t *l, unsigned bucket,
                                         const sipr_txn_reqkey_t *k,
                                         sipr_msg_t *m, sipr_method_t method,
                                         sipr_str_t mtext, int ack) {
  sipr_txn_kind_t kind =
      method == SIPR_METHOD_INVITE ? SIPR_TXN_IST : SIPR_TXN_NIST;
  for (sipr_txn_t *t = l->buckets[bucket].head; t; t = t->next) {
    if (t->kind != kind || !sipr__txn_method_eq(&t->k, method, mtext))
      continue;
    if (k->cookie) {
      /* §17.2.3: branch, sent-by, and method (INVITE for ACK). */
      if (t->k.cookie && sipr_str_caseeq(t->k.branch, k->branch) &&
          sipr_str_caseeq(t->k.host, k->via->host) && t->k.port == k->port)
        return t;
    } else if (match_2543(t, k, m, ack)) {
      return t;
    }
  }
  return NULL;
}

sipr_txn_t *sipr_txn_find_invite_for_cancel(sipr_txn_layer_t *l,
                                            sipr_msg_t *cancel) {
  sipr_txn_reqkey_t k;
  if (!l || !cancel || !cancel->is_request ||
      sipr__txn_request_key(cancel, &k) < 0)
    return NULL;
  unsigned b = sipr__txn_server_bucket(l, &k);
  pthread_mutex_lock(&l->buckets[b].mu);
  /* §9.2: the INVITE the CANCEL matches by §17.2.3, with method INVITE. */
  sipr_txn_t *t = sipr__txn_server_find_locked(
      l, b, &k, cancel, SIPR_METHOD_INVITE, SIPR_STR("INVITE"), 0);
  pthread_mutex_unlock(&l->buckets[b].mu);
  return t;
}

/* §17.1.3: a response matches the client transaction whose branch is the
 * one in its top Via and whose method is the one in its CSeq. The bucket
 * comes from the branch; a branch that is not ours matches nothing. */
sipr_txn_t *sipr__txn_client_find(sipr_txn_layer_t *l, sipr_str_t branch,
                                  const sipr_cseq_t *cs) {
  long bucket = sipr__txn_branch_bucket(l, branch);
  if (bucket < 0)
    return NULL;
  sipr_txn_bucket_t *b = &l->buckets[bucket];
  sipr_txn_t *found = NULL;
  pthread_mutex_lock(&b->mu);
  for (sipr_txn_t *t = b->head; t; t = t->next) {
    if (!sipr__txn_is_server(t) && sipr_str_caseeq(t->k.branch, branch) &&
        sipr__txn_method_eq(&t->k, cs->method_id, cs->method)) {
      found = t;
      break;
    }
  }
  pthread_mutex_unlock(&b->mu);
  return found;
}
