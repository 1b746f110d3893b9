/*
 * UA core (include/sipr/ua.h): the object, building and sending client
 * requests (§8.1.1), the next hop (§8.1.2), responses (§8.1.3: digest
 * answers §22.2, redirects §8.1.3.4), and requests outside a dialog
 * (§8.2: method inspection, Require, MESSAGE per RFC 3428, OPTIONS §11.2).
 * Dialogs are in dialog.c, INVITE sessions in call.c, registrations in
 * reg.c, SDP in sdp.c.
 */
#include "ua_internal.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "sipr/auth.h"

#define UA_ALLOW "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE"
#define UA_MAX_AUTH_TRIES 3
#define UA_MAX_REDIRECTS 5

/* ---- small helpers ------------------------------------------------------ */
char *ua_strdup(const char *s) {
  return s ? ua_strndup(s, strlen(s)) : NULL;
}

char *ua_strndup(const char *p, size_t n) {
  char *c = malloc(n + 1);
  if (!c)
    return NULL;
  if (n)
    memcpy(c, p, n);
  c[n] = '\0';
  return c;
}

static void seterr(char *err, size_t cap, const char *fmt, const char *arg) {
  if (err && cap)
    snprintf(err, cap, fmt, arg ? arg : "");
}

uint64_t ua_random(void) {
  static _Thread_local uint64_t s;
  if (!s) {
    if (getrandom(&s, sizeof(s), 0) != (ssize_t)sizeof(s))
      s = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&s;
    if (!s)
      s = 0x9e3779b97f4a7c15ull;
  }
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

/* §19.3: tags and Call-IDs are random enough to be globally unique. */
void ua_new_tag(char out[UA_TAG_LEN + 1]) {
  static const char hex[] = "0123456789abcdef";
  uint64_t v = ua_random();
  for (int i = 0; i < UA_TAG_LEN; i++) {
    out[i] = hex[v & 15];
    v >>= 4;
  }
  out[UA_TAG_LEN] = '\0';
}

void ua_emit(sipr_ua_t *ua, sipr_ua_ev_t *ev) {
  if (!ev->reason)
    ev->reason =
        ev->msg && ev->msg->reason.p ? "" : sipr_reason_phrase(ev->status);
  char reason[128];
  if (ev->msg && !ev->msg->is_request && ev->msg->reason.p) {
    snprintf(reason, sizeof(reason), SIPR_STR_FMT,
             SIPR_STR_ARG(ev->msg->reason));
    ev->reason = reason;
  }
  if (ua->cb)
    ua->cb(ua->user, ev);
}

void ua_contact_line(sipr_ua_t *ua, sipr_buf_t *b) {
  sipr_buf_printf(b, "Contact: <%s>\r\n", ua->contact);
}

/* ---- next hop (§8.1.2, §18.1.1) ----------------------------------------- */
static int resolve_host(sipr_str_t host, int port, sipr_tp_proto_t proto,
                        sipr_tp_addr_t *dest, char *err, size_t cap) {
  if (sipr_tp_addr_set(dest, proto, host, port) == 0)
    return 0;
  /* Not a numeric host: the system resolver (A/AAAA only; RFC 3263 SRV
   * and NAPTR wait for the resolver layer). */
  char name[256];
  if (host.len == 0 || host.len >= sizeof(name)) {
    seterr(err, cap, "bad host%s", "");
    return SIPR_EINVAL;
  }
  memcpy(name, host.p, host.len);
  name[host.len] = '\0';
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = proto == SIPR_TP_TCP ? SOCK_STREAM : SOCK_DGRAM;
  if (getaddrinfo(name, NULL, &hints, &res) != 0 || !res) {
    seterr(err, cap, "DNS: cannot resolve %s", name);
    return SIPR_EINVAL;
  }
  char text[64];
  int rc = SIPR_EINVAL;
  for (struct addrinfo *ai = res; ai && rc; ai = ai->ai_next) {
    const void *ap =
        ai->ai_family == AF_INET
            ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
            : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
    if (inet_ntop(ai->ai_family, ap, text, sizeof(text)))
      rc = sipr_tp_addr_set(dest, proto, sipr_str_cstr(text), port);
  }
  freeaddrinfo(res);
  if (rc)
    seterr(err, cap, "DNS: no usable address for %s", name);
  return rc;
}

/* Strips <> and anything after '>' from a name-addr-ish text. */
static sipr_str_t uri_text(const char *s) {
  sipr_str_t t = sipr_str_trim(sipr_str_cstr(s));
  const char *lt = memchr(t.p, '<', t.len);
  if (lt) {
    const char *gt = memchr(lt, '>', t.len - (size_t)(lt - t.p));
    if (gt)
      return sipr_str_make(lt + 1, (size_t)(gt - lt - 1));
  }
  return t;
}

int ua_next_hop(sipr_ua_t *ua, const char *first_route, const char *ruri,
                sipr_tp_addr_t *dest, char *err, size_t cap) {
  sipr_str_t t = uri_text(first_route ? first_route : ruri);
  sipr_uri_t u;
  sipr_perr_t perr;
  sipr_arena_reset(&ua->scratch);
  if (sipr_uri_parse(&ua->scratch, t.p, t.len, &u, &perr) != 0) {
    if (err && cap)
      snprintf(err, cap, "bad URI '%.*s'", (int)t.len, t.p);
    return SIPR_EINVAL;
  }
  if (u.scheme != SIPR_URI_SIP) {
    if (err && cap)
      snprintf(err, cap, "unsupported URI scheme in '%.*s' (sip: only)",
               (int)t.len, t.p);
    return SIPR_EINVAL;
  }
  sipr_tp_proto_t proto = ua->proto;
  if (u.transport.p) {
    proto = sipr_tp_proto_from_str(u.transport);
    if (proto != SIPR_TP_UDP && proto != SIPR_TP_TCP) {
      if (err && cap)
        snprintf(err, cap, "unsupported transport '%.*s'",
                 SIPR_STR_ARG(u.transport));
      return SIPR_EINVAL;
    }
  }
  /* §19.1.1 maddr overrides the host. */
  sipr_str_t host = u.maddr.p ? u.maddr : u.host;
  return resolve_host(host, u.port >= 0 ? u.port : sipr_tp_default_port(proto),
                      proto, dest, err, cap);
}

/* ---- client requests ---------------------------------------------------- */
ua_creq_t *ua_creq_new(sipr_ua_t *ua, ua_creq_kind_t kind, const char *method) {
  ua_creq_t *r = calloc(1, sizeof(*r));
  if (!r)
    return NULL;
  r->ua = ua;
  r->kind = kind;
  snprintf(r->method, sizeof(r->method), "%s", method);
  r->next = ua->reqs;
  ua->reqs = r;
  return r;
}

static void auth_clear(ua_auth_t *a) {
  free(a->value);
  free(a->nonce);
  memset(a, 0, sizeof(*a));
}

void ua_creq_free(ua_creq_t *r) {
  if (!r)
    return;
  sipr_ua_t *ua = r->ua;
  for (ua_creq_t **pp = &ua->reqs; *pp; pp = &(*pp)->next)
    if (*pp == r) {
      *pp = r->next;
      break;
    }
  if (r->txn)
    sipr_txn_set_owner(r->txn, NULL);
  free(r->ruri);
  free(r->to);
  free(r->from);
  free(r->call_id);
  free(r->routes);
  free(r->extra);
  free(r->ctype);
  free(r->body);
  free(r->sent);
  free(r->auth_lines);
  auth_clear(&r->auth[0]);
  auth_clear(&r->auth[1]);
  free(r);
}

/* Appends the Authorization / Proxy-Authorization lines answering the
 * cached challenges, nonce-count advanced (RFC 7616 §3.4). */
static void build_auth(ua_creq_t *r, const char *method, sipr_buf_t *b) {
  sipr_ua_t *ua = r->ua;
  sipr_buf_t lines;
  sipr_buf_init(&lines);
  for (int i = 0; i < 2; i++) {
    ua_auth_t *a = &r->auth[i];
    if (!a->value || !ua->user_name || !ua->password)
      continue;
    sipr_arena_t ar;
    sipr_arena_init(&ar, NULL, 0, 1 << 16);
    sipr_auth_t *ch = NULL;
    sipr_perr_t perr;
    if (sipr_parse_auth(&ar, a->value, strlen(a->value), &ch, &perr) == 0) {
      sipr_buf_t v;
      sipr_buf_init(&v);
      a->nc++;
      if (sipr_auth_client_answer(ch, sipr_str_cstr(method),
                                  sipr_str_cstr(r->ruri), ua->user_name,
                                  ua->password, NULL, a->nc, NULL, &v) == 0)
        sipr_buf_printf(&lines, "%s: %.*s\r\n",
                        a->type == SIPR_HDR_PROXY_AUTHENTICATE
                            ? "Proxy-Authorization"
                            : "Authorization",
                        (int)v.len, v.p);
      sipr_buf_free(&v);
    }
    sipr_arena_free(&ar);
  }
  free(r->auth_lines);
  r->auth_lines = lines.len ? ua_strndup(lines.p, lines.len) : NULL;
  if (lines.len)
    sipr_buf_append(b, lines.p, lines.len);
  sipr_buf_free(&lines);
}

int ua_creq_build(ua_creq_t *r, const char *m, const char *branch,
                  sipr_buf_t *b) {
  sipr_ua_t *ua = r->ua;
  int is_ack = strcmp(m, "ACK") == 0, is_cancel = strcmp(m, "CANCEL") == 0;
  sipr_print_request_line(b, sipr_str_cstr(m), sipr_str_cstr(r->ruri));
  /* §8.1.1.7: our Via with the magic cookie branch; rport (RFC 3581). */
  char host[80];
  if (strchr(ua->host, ':') && ua->host[0] != '[')
    snprintf(host, sizeof(host), "[%s]", ua->host);
  else
    snprintf(host, sizeof(host), "%s", ua->host);
  sipr_buf_printf(b, "Via: SIP/2.0/%s %s:%d;branch=%s;rport\r\n",
                  sipr_tp_proto_name(r->dest.proto), host, ua->port, branch);
  sipr_buf_printf(b, "Max-Forwards: 70\r\n"); /* §8.1.1.6 */
  if (r->routes)
    sipr_buf_printf(b, "%s", r->routes);
  sipr_buf_printf(b, "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %u %s\r\n",
                  r->from, r->to, r->call_id, r->cseq, m);
  if (is_ack) {
    /* §13.2.2.4 / §22.1: the ACK for a 2xx carries the INVITE's
     * credentials. */
    if (r->auth_lines)
      sipr_buf_printf(b, "%s", r->auth_lines);
  } else if (!is_cancel) {
    /* §8.1.1.8: Contact in requests that can establish a dialog. */
    if (strcmp(m, "INVITE") == 0)
      ua_contact_line(ua, b);
    build_auth(r, m, b);
    /* §8.1.1.9, §20.5 */
    sipr_buf_printf(b, "Allow: %s\r\nSupported: \r\nUser-Agent: %s\r\n",
                    UA_ALLOW, ua->user_agent);
    if (r->extra)
      sipr_buf_printf(b, "%s", r->extra);
  }
  if (r->ctype && r->body && !is_cancel && !is_ack)
    sipr_print_body(b, sipr_str_cstr(r->ctype),
                    sipr_str_make(r->body, r->body_len));
  else
    sipr_print_body(b, SIPR_STR_NULL, SIPR_STR(""));
  return b->failed ? SIPR_ENOMEM : 0;
}

int ua_creq_send(ua_creq_t *r) {
  sipr_ua_t *ua = r->ua;
  if (!sipr_txn_new_branch(ua->txl, r->branch, sizeof(r->branch)))
    return SIPR_EINVAL;
  sipr_buf_t b;
  sipr_buf_init(&b);
  int rc = ua_creq_build(r, r->method, r->branch, &b);
  if (rc == 0) {
    if (r->txn)
      sipr_txn_set_owner(r->txn, NULL);
    r->txn = NULL;
    rc = sipr_txn_client_new(ua->txl, b.p, b.len, &r->dest, r, &r->txn);
  }
  if (rc == 0) {
    free(r->sent);
    r->sent = b.p;
    r->sent_len = b.len;
    r->done = 0;
  } else {
    sipr_buf_free(&b);
  }
  return rc;
}

/* §22.2 / §22.3: answer a 401/407 once per challenge. A challenge whose
 * nonce we already answered, unless it says stale=true, means the
 * credentials are wrong: no retry. */
int ua_creq_auth_retry(ua_creq_t *r, sipr_msg_t *resp) {
  sipr_ua_t *ua = r->ua;
  if (!ua->user_name || !ua->password || r->auth_tries >= UA_MAX_AUTH_TRIES)
    return 0;
  sipr_hdr_type_t type = resp->status == 407 ? SIPR_HDR_PROXY_AUTHENTICATE
                                             : SIPR_HDR_WWW_AUTHENTICATE;
  const sipr_auth_t *ch = sipr_auth_client_pick(resp, type);
  if (!ch)
    return 0;
  ua_auth_t *a = &r->auth[type == SIPR_HDR_PROXY_AUTHENTICATE];
  int stale = SIPR_STR_CASEEQ_LIT(ch->stale, "true");
  if (a->nonce && sipr_str_eq(sipr_str_cstr(a->nonce), ch->nonce) && !stale)
    return 0;
  sipr_hdr_t *h;
  for (h = resp->first[type]; h && h->parsed != ch; h = h->next_same)
    ;
  if (!h)
    return 0;
  auth_clear(a);
  a->value = ua_strndup(h->value.p, h->value.len);
  a->nonce = ua_strndup(ch->nonce.p, ch->nonce.len);
  a->type = type;
  a->nc = 0;
  if (!a->value || !a->nonce)
    return 0;
  r->auth_tries++;
  /* §8.1.3.5: a new request, same Call-ID, CSeq one higher. */
  r->cseq++;
  return ua_creq_send(r) == 0;
}

/* §8.1.3.4: the Contacts of a 3xx in q order (highest first; no q is 1). */
int ua_creq_redirect(ua_creq_t *r, sipr_msg_t *resp) {
  if (!r->follow_redirects || r->redirects >= UA_MAX_REDIRECTS)
    return 0;
  sipr_addr_t *best = NULL;
  int bestq = -1;
  for (sipr_hdr_t *h = resp->first[SIPR_HDR_CONTACT]; h; h = h->next_same) {
    if (sipr_hdr_parse(resp, h, NULL) || !h->parsed)
      continue;
    for (sipr_addr_t *a = h->parsed; a; a = a->next) {
      int q = a->q < 0 ? 1000 : a->q;
      if (!a->star && a->uri.scheme == SIPR_URI_SIP && q > bestq &&
          !sipr_str_eq(a->uri.raw, sipr_str_cstr(r->ruri))) {
        best = a;
        bestq = q;
      }
    }
  }
  if (!best)
    return 0;
  char *nr = ua_strndup(best->uri.raw.p, best->uri.raw.len);
  if (!nr)
    return 0;
  sipr_tp_addr_t dest;
  if (!r->ua->proxy && ua_next_hop(r->ua, NULL, nr, &dest, NULL, 0) != 0) {
    free(nr);
    return 0;
  }
  free(r->ruri);
  r->ruri = nr;
  if (!r->ua->proxy)
    r->dest = dest;
  r->redirects++;
  r->cseq++;
  return ua_creq_send(r) == 0;
}

static void plain_final(ua_creq_t *r, unsigned status, sipr_msg_t *resp,
                        const char *why) {
  sipr_ua_t *ua = r->ua;
  r->done = 1;
  sipr_ua_ev_t ev = {.type = SIPR_UA_EV_RESPONSE,
                     .status = status,
                     .reason = why,
                     .msg = resp,
                     .req = (sipr_ua_req_t *)r,
                     .arg = r->arg};
  ua_emit(ua, &ev);
  ua_creq_free(r);
}

/* A final local failure of client request r (§8.1.3.1: a timeout counts
 * as 408, a transport error as 503). */
static void creq_failed(ua_creq_t *r, unsigned status, const char *why) {
  switch (r->kind) {
  case CREQ_PLAIN:
    plain_final(r, status, NULL, why);
    break;
  case CREQ_REG:
    ua_reg_response(r, status, NULL, why);
    break;
  case CREQ_INVITE:
    ua_call_failed(r, status, why);
    break;
  case CREQ_DLG:
    ua_call_dlg_response(r, status, NULL);
    break;
  case CREQ_CANCEL:
    r->done = 1;
    break;
  }
}

/* ---- transaction callbacks ---------------------------------------------- */
static void on_response(void *user, sipr_txn_t *ct, sipr_msg_t *resp) {
  sipr_ua_t *ua = user;
  ua_creq_t *r = sipr_txn_owner(ct);
  if (!r) {
    /* A 2xx retransmission after the call let the INVITE go. */
    sipr_cseq_t *cs = sipr_msg_cseq(resp);
    if (cs && cs->method_id == SIPR_METHOD_INVITE && resp->status >= 200 &&
        resp->status < 300)
      ua_call_stray_2xx(ua, resp);
    return;
  }
  /* §8.1.3.2: an unknown code counts as the x00 of its class: every rule
   * below looks at the class, but for the codes it knows by number
   * (401, 407, 423, 491). */
  unsigned st = resp->status;
  if (r->kind == CREQ_INVITE) {
    if ((st == 401 || st == 407) && ua_creq_auth_retry(r, resp)) {
      /* A new INVITE transaction: §9.1 waits for its own provisional. */
      ((sipr_call_t *)r->owner)->provisional = 0;
      return;
    }
    ua_call_response(r, resp);
    return;
  }
  if (st < 200) {
    if (r->kind == CREQ_PLAIN) {
      sipr_ua_ev_t ev = {.type = SIPR_UA_EV_RESPONSE,
                         .status = st,
                         .msg = resp,
                         .req = (sipr_ua_req_t *)r,
                         .arg = r->arg};
      ua_emit(ua, &ev);
    }
    return;
  }
  if (r->done)
    return;
  if ((st == 401 || st == 407) && r->kind != CREQ_CANCEL &&
      ua_creq_auth_retry(r, resp))
    return;
  if (st >= 300 && st < 400 && r->kind == CREQ_PLAIN &&
      ua_creq_redirect(r, resp))
    return;
  switch (r->kind) {
  case CREQ_PLAIN:
    plain_final(r, st, resp, NULL);
    break;
  case CREQ_REG:
    ua_reg_response(r, st, resp, NULL);
    break;
  case CREQ_DLG:
    ua_call_dlg_response(r, st, resp);
    break;
  default:
    r->done = 1;
    break;
  }
}

static void on_timeout(void *user, sipr_txn_t *t) {
  (void)user;
  sipr_txn_kind_t k = sipr_txn_kind(t);
  if (k != SIPR_TXN_ICT && k != SIPR_TXN_NICT)
    return; /* Timer H: our non-2xx was not ACKed; nothing to do */
  ua_creq_t *r = sipr_txn_owner(t);
  if (r && !r->done)
    creq_failed(r, 408, "timeout: no response");
}

static void on_transport_error(void *user, sipr_txn_t *t) {
  (void)user;
  sipr_txn_kind_t k = sipr_txn_kind(t);
  if (k != SIPR_TXN_ICT && k != SIPR_TXN_NICT)
    return;
  ua_creq_t *r = sipr_txn_owner(t);
  if (r && !r->done)
    creq_failed(r, 503, "transport error");
}

static void srv_req_gone(sipr_ua_t *ua, sipr_txn_t *st);

static void on_terminated(void *user, sipr_txn_t *t) {
  sipr_ua_t *ua = user;
  sipr_txn_kind_t k = sipr_txn_kind(t);
  if (k == SIPR_TXN_IST || k == SIPR_TXN_NIST) {
    if (k == SIPR_TXN_NIST)
      srv_req_gone(ua, t);
    ua_call_txn_gone(ua, t);
    return;
  }
  ua_creq_t *r = sipr_txn_owner(t);
  if (!r || r->txn != t)
    return;
  r->txn = NULL;
  if (r->kind == CREQ_CANCEL)
    ua_creq_free(r);
}

/* ---- UAS: §8.2.2.2, merged requests -------------------------------- */
#define UA_MAX_SRV_REQS 4096

static void srv_req_free(ua_srv_req_t *q) {
  free(q->call_id);
  free(q->from_tag);
  free(q->method);
  free(q);
}

/* The server transaction st ended: its request is no longer ongoing. */
static void srv_req_gone(sipr_ua_t *ua, sipr_txn_t *st) {
  for (ua_srv_req_t **pp = &ua->srv_reqs; *pp; pp = &(*pp)->next)
    if ((*pp)->st == st) {
      ua_srv_req_t *q = *pp;
      *pp = q->next;
      srv_req_free(q);
      ua->nsrv_reqs--;
      return;
    }
}

/* §8.2.2.2: a request without a To tag whose From tag, Call-ID and CSeq
 * match an ongoing transaction's request, but which is not that
 * transaction's (it came by another path, e.g. a forking proxy): 1, and
 * the caller answers 482. Otherwise the request is recorded while its
 * transaction lives, and 0. */
static int merged_request(sipr_ua_t *ua, sipr_txn_t *st, sipr_msg_t *req) {
  sipr_addr_t *from = sipr_msg_from(req);
  sipr_cseq_t *cs = sipr_msg_cseq(req);
  sipr_str_t cid = sipr_msg_call_id(req);
  if (!from || !from->tag.p || !cs)
    return 0;
  for (ua_srv_req_t *q = ua->srv_reqs; q; q = q->next)
    if (q->st != st && q->cseq == cs->seq &&
        sipr_str_eq(sipr_str_cstr(q->call_id), cid) &&
        sipr_str_eq(sipr_str_cstr(q->from_tag), from->tag) &&
        sipr_str_eq(sipr_str_cstr(q->method), cs->method))
      return 1;
  if (ua->nsrv_reqs >= UA_MAX_SRV_REQS)
    return 0;
  ua_srv_req_t *q = calloc(1, sizeof(*q));
  if (!q)
    return 0;
  q->st = st;
  q->cseq = cs->seq;
  q->call_id = ua_strndup(cid.p, cid.len);
  q->from_tag = ua_strndup(from->tag.p, from->tag.len);
  q->method = ua_strndup(cs->method.p, cs->method.len);
  if (!q->call_id || !q->from_tag || !q->method) {
    srv_req_free(q);
    return 0;
  }
  q->next = ua->srv_reqs;
  ua->srv_reqs = q;
  ua->nsrv_reqs++;
  return 0;
}

static void on_stray_ack(void *user, sipr_msg_t *ack,
                         const sipr_tp_src_t *src) {
  (void)src;
  ua_call_ack(user, ack);
}

static void on_stray_response(void *user, sipr_msg_t *resp,
                              const sipr_tp_src_t *src) {
  (void)src;
  sipr_cseq_t *cs = sipr_msg_cseq(resp);
  /* §13.2.2.4: a 2xx retransmission after the ICT ended is ACKed again. */
  if (cs && cs->method_id == SIPR_METHOD_INVITE && resp->status >= 200 &&
      resp->status < 300)
    ua_call_stray_2xx(user, resp);
}

/* ---- UAS: responses ------------------------------------------------------ */
int ua_build_response(sipr_ua_t *ua, sipr_buf_t *b, sipr_msg_t *req,
                      unsigned status, const char *reason, const char *tag,
                      const char *extra, const char *ctype, const char *body) {
  sipr_buf_t x;
  sipr_buf_init(&x);
  sipr_buf_printf(&x, "Server: %s\r\n", ua->user_agent);
  if (extra)
    sipr_buf_printf(&x, "%s", extra);
  char tagbuf[UA_TAG_LEN + 1];
  if (!tag) {
    ua_new_tag(tagbuf);
    tag = tagbuf;
  }
  /* §8.2.6.2: a To tag on every response but 100. */
  int rc = sipr_print_response(
      b, req, status, reason, status > 100 ? sipr_str_cstr(tag) : SIPR_STR_NULL,
      sipr_str_make(x.p, x.len));
  sipr_buf_free(&x);
  if (rc == 0 && ctype && body) {
    /* sipr_print_response() ends with an empty body; put ours instead. */
    static const char tail[] = "Content-Length: 0\r\n\r\n";
    size_t tl = sizeof(tail) - 1;
    if (b->len >= tl && memcmp(b->p + b->len - tl, tail, tl) == 0) {
      b->len -= tl;
      rc = sipr_print_body(b, sipr_str_cstr(ctype), sipr_str_cstr(body));
    }
  }
  return rc ? rc : (b->failed ? SIPR_ENOMEM : 0);
}

int ua_respond(sipr_ua_t *ua, sipr_txn_t *st, sipr_msg_t *req, unsigned status,
               const char *reason, const char *tag, const char *extra,
               const char *ctype, const char *body) {
  sipr_buf_t b;
  sipr_buf_init(&b);
  int rc =
      ua_build_response(ua, &b, req, status, reason, tag, extra, ctype, body);
  if (rc == 0)
    rc = sipr_txn_respond(st, b.p, b.len);
  sipr_buf_free(&b);
  return rc;
}

/* §8.2.2.3: we implement no extension; every Require tag is unsupported.
 * Returns 1 when answered 420 (or 400 for a bad Require). */
static int check_require(sipr_ua_t *ua, sipr_txn_t *st, sipr_msg_t *req) {
  sipr_buf_t x;
  sipr_buf_init(&x);
  int n = 0, bad = 0;
  for (sipr_hdr_t *h = req->first[SIPR_HDR_REQUIRE]; h; h = h->next_same) {
    if (sipr_hdr_parse(req, h, NULL) < 0) {
      bad = 1;
      break;
    }
    for (const sipr_token_t *t = h->parsed; t; t = t->next)
      sipr_buf_printf(&x, "%s%.*s",
                      n++ ? ", " : "Unsupported: ", SIPR_STR_ARG(t->value));
  }
  if (bad)
    ua_respond(ua, st, req, 400, "Bad Require", NULL, NULL, NULL, NULL);
  else if (n) {
    sipr_buf_printf(&x, "\r\n");
    ua_respond(ua, st, req, 420, NULL, NULL, x.p, NULL, NULL);
  }
  sipr_buf_free(&x);
  return bad || n;
}

/* ---- UAS: §8.2.2.1, the Request-URI ------------------------------------- */
static int uri_port(const sipr_uri_t *u) {
  return u->port >= 0 ? u->port : (u->scheme == SIPR_URI_SIPS ? 5061 : 5060);
}

/* Hosts as written: the same address when both are numeric ("[::1]" and
 * "::1" alike), else equal ignoring case (§19.1.4). */
static int same_host(sipr_str_t a, sipr_str_t b) {
  sipr_tp_addr_t x, y;
  if (sipr_tp_addr_set(&x, SIPR_TP_UDP, a, 0) == 0 &&
      sipr_tp_addr_set(&y, SIPR_TP_UDP, b, 0) == 0)
    return sipr_tp_addr_eq(&x, &y);
  return sipr_str_caseeq(a, b);
}

/* User parts compared after unescaping, case-sensitively (§19.1.4). */
static int same_user(sipr_str_t a, sipr_str_t b) {
  char x[256], y[256];
  if (!a.p || !b.p || a.len >= sizeof(x) || b.len >= sizeof(y))
    return 0;
  long n = sipr_unescape(a, x), m = sipr_unescape(b, y);
  return n >= 0 && n == m && memcmp(x, y, (size_t)n) == 0;
}

/* §8.2.2.1: 1 when the Request-URI ru identifies an address we take
 * requests for. The user part must be none (the device itself), the
 * AOR's or the Contact's, or any with cfg.any_user; the host and port
 * must be our Contact's, our Via address, the address the request
 * arrived on (any address of this host when we listen on a wildcard),
 * or the AOR's (a request no proxy retargeted to our Contact). */
static int ruri_is_ours(sipr_ua_t *ua, const sipr_uri_t *ru,
                        const sipr_tp_src_t *src) {
  sipr_uri_t c, aor;
  sipr_perr_t perr;
  sipr_arena_reset(&ua->scratch);
  int have_c = sipr_uri_parse(&ua->scratch, ua->contact, strlen(ua->contact),
                              &c, &perr) == 0;
  int have_aor = sipr_uri_parse(&ua->scratch, ua->from_uri,
                                strlen(ua->from_uri), &aor, &perr) == 0;
  int aor_user = have_aor && same_user(ru->user, aor.user);
  if (!ua->any_user && ru->user.len && !aor_user &&
      !(have_c && same_user(ru->user, c.user)))
    return 0;
  int port = uri_port(ru);
  if (have_c && port == uri_port(&c) && same_host(ru->host, c.host))
    return 1;
  if (port == ua->port && same_host(ru->host, sipr_str_cstr(ua->host)))
    return 1;
  if (src && port == sipr_tp_addr_port(&src->local)) {
    sipr_tp_addr_t h;
    if (sipr_tp_addr_set(&h, src->local.proto, ru->host, port) == 0 &&
        (sipr_tp_addr_eq(&h, &src->local) ||
         (ua->local_any && ua_addr_is_local(&h))))
      return 1;
  }
  return have_aor && (aor_user || ua->any_user) && port == uri_port(&aor) &&
         same_host(ru->host, aor.host);
}

static void on_request(void *user, sipr_txn_t *st, sipr_msg_t *req,
                       const sipr_tp_src_t *src) {
  sipr_ua_t *ua = user;
  if (req->method_id == SIPR_METHOD_CANCEL) {
    ua_call_cancel_in(ua, st, req); /* §9.2 */
    return;
  }
  sipr_addr_t *to = sipr_msg_to(req);
  if (to && to->tag.p) {
    /* §12.2.2: a request within a dialog; its To tag (with the Call-ID
     * and the From tag) must name one of our dialogs, else 481. Its
     * Request-URI is the remote target the peer took from our Contact. */
    if (!ua_call_request(ua, st, req, src))
      ua_respond(ua, st, req, 481, NULL, NULL, NULL, NULL, NULL);
    return;
  }
  /* §8.2.1 method inspection. */
  switch (req->method_id) {
  case SIPR_METHOD_INVITE:
  case SIPR_METHOD_MESSAGE:
  case SIPR_METHOD_OPTIONS:
    break;
  case SIPR_METHOD_BYE:
    ua_respond(ua, st, req, 481, NULL, NULL, NULL, NULL, NULL);
    return;
  case SIPR_METHOD_UNKNOWN:
    ua_respond(ua, st, req, 501, NULL, NULL, "Allow: " UA_ALLOW "\r\n", NULL,
               NULL);
    return;
  default:
    ua_respond(ua, st, req, 405, NULL, NULL, "Allow: " UA_ALLOW "\r\n", NULL,
               NULL);
    return;
  }
  /* §8.2.2.1: a Request-URI scheme we do not handle: 416; one that does
   * not name us: 404. The To header field is not checked: a request
   * whose To is not our identity (a call forwarded to us) is taken. */
  sipr_uri_t *ru = sipr_msg_ruri(req);
  if (!ru || (ru->scheme != SIPR_URI_SIP && ru->scheme != SIPR_URI_SIPS)) {
    ua_respond(ua, st, req, 416, NULL, NULL, NULL, NULL, NULL);
    return;
  }
  if (!ruri_is_ours(ua, ru, src)) {
    ua_respond(ua, st, req, 404, NULL, NULL, NULL, NULL, NULL);
    return;
  }
  /* §8.2.2.2 (INVITEs: ua_call_new_invite()). */
  if (req->method_id != SIPR_METHOD_INVITE && merged_request(ua, st, req)) {
    ua_respond(ua, st, req, 482, "Loop Detected", NULL, NULL, NULL, NULL);
    return;
  }
  if (check_require(ua, st, req))
    return;
  switch (req->method_id) {
  case SIPR_METHOD_INVITE:
    ua_call_new_invite(ua, st, req, src);
    return;
  case SIPR_METHOD_OPTIONS:
    /* §11.2 */
    ua_respond(ua, st, req, 200, NULL, NULL,
               "Allow: " UA_ALLOW "\r\nAccept: application/sdp, text/plain\r\n"
               "Accept-Encoding: identity\r\nAccept-Language: en\r\n"
               "Supported: \r\n",
               NULL, NULL);
    return;
  case SIPR_METHOD_MESSAGE: {
    /* RFC 3428 §7: text/plain (and any other text type) accepted; else 415. */
    sipr_ctype_t *ct = sipr_msg_get(req, SIPR_HDR_CONTENT_TYPE);
    if (req->body.len && (!ct || !SIPR_STR_CASEEQ_LIT(ct->type, "text"))) {
      ua_respond(ua, st, req, 415, NULL, NULL, "Accept: text/plain\r\n", NULL,
                 NULL);
      return;
    }
    ua_respond(ua, st, req, 200, NULL, NULL, NULL, NULL, NULL);
    sipr_ua_ev_t ev = {.type = SIPR_UA_EV_MESSAGE,
                       .status = 200,
                       .msg = req,
                       .reason = "MESSAGE"};
    ua_emit(ua, &ev);
    return;
  }
  default:
    return;
  }
}

static const sipr_txn_user_ops_t txn_user_ops = {
    on_request,    on_response,  on_timeout,       on_transport_error,
    on_terminated, on_stray_ack, on_stray_response};

/* ---- lifecycle ----------------------------------------------------------- */
void sipr_ua_cfg_default(sipr_ua_cfg_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->proto = SIPR_TP_UDP;
  sipr_txn_cfg_default(&cfg->txn);
}

static int check_uri(sipr_ua_t *ua, const char *what, const char *text,
                     char *err, size_t cap) {
  sipr_str_t t = uri_text(text);
  sipr_uri_t u;
  sipr_perr_t perr;
  sipr_arena_reset(&ua->scratch);
  if (sipr_uri_parse(&ua->scratch, t.p, t.len, &u, &perr) != 0 ||
      (u.scheme != SIPR_URI_SIP && u.scheme != SIPR_URI_SIPS)) {
    if (err && cap)
      snprintf(err, cap, "bad %s URI '%s'", what, text);
    return SIPR_EINVAL;
  }
  return 0;
}

sipr_ua_t *sipr_ua_new(sipr_loop_t *loop, const sipr_ua_cfg_t *cfg,
                       const sipr_txn_tp_ops_t *tp, void *tp_ctx,
                       sipr_ua_event_cb *cb, void *user, char *err,
                       size_t cap) {
  if (!loop || !cfg || !tp || !cfg->from || !cfg->host) {
    seterr(err, cap, "missing from or host%s", "");
    return NULL;
  }
  sipr_ua_t *ua = calloc(1, sizeof(*ua));
  if (!ua)
    return NULL;
  sipr_arena_init(&ua->scratch, NULL, 0, 1 << 20);
  ua->loop = loop;
  ua->tp = *tp;
  ua->tp_ctx = tp_ctx;
  ua->cb = cb;
  ua->user = user;
  ua->proto = cfg->proto ? cfg->proto : SIPR_TP_UDP;
  ua->port = cfg->port;
  ua->t1 = cfg->txn.t1 ? cfg->txn.t1 : 500;
  ua->t2 = cfg->txn.t2 ? cfg->txn.t2 : 4000;
  ua->follow_redirects = cfg->follow_redirects;
  ua->any_user = cfg->any_user;
  if (check_uri(ua, "from", cfg->from, err, cap) ||
      (cfg->proxy && check_uri(ua, "proxy", cfg->proxy, err, cap)) ||
      (cfg->contact && check_uri(ua, "contact", cfg->contact, err, cap))) {
    sipr_arena_free(&ua->scratch);
    free(ua);
    return NULL;
  }
  sipr_str_t from = uri_text(cfg->from);
  ua->from_uri = ua_strndup(from.p, from.len);
  sipr_buf_t b;
  sipr_buf_init(&b);
  if (cfg->display && cfg->display[0])
    sipr_buf_printf(&b, "\"%s\" ", cfg->display);
  sipr_buf_printf(&b, "<%s>", ua->from_uri);
  ua->from_value = ua_strndup(b.p ? b.p : "", b.len);
  sipr_buf_free(&b);
  ua->host = ua_strdup(cfg->host);
  if (cfg->contact) {
    sipr_str_t c = uri_text(cfg->contact);
    ua->contact = ua_strndup(c.p, c.len);
  } else {
    /* sip:USER@host:port with the AOR's user part. */
    sipr_uri_t u;
    sipr_perr_t perr;
    sipr_arena_reset(&ua->scratch);
    sipr_buf_init(&b);
    sipr_buf_printf(&b, "sip:");
    if (sipr_uri_parse(&ua->scratch, ua->from_uri, strlen(ua->from_uri), &u,
                       &perr) == 0 &&
        u.user.len)
      sipr_buf_printf(&b, "%.*s@", SIPR_STR_ARG(u.user));
    if (strchr(ua->host, ':') && ua->host[0] != '[')
      sipr_buf_printf(&b, "[%s]:%d", ua->host, ua->port);
    else
      sipr_buf_printf(&b, "%s:%d", ua->host, ua->port);
    if (ua->proto == SIPR_TP_TCP)
      sipr_buf_printf(&b, ";transport=tcp");
    ua->contact = ua_strndup(b.p, b.len);
    sipr_buf_free(&b);
  }
  if (cfg->proxy) {
    sipr_str_t p = uri_text(cfg->proxy);
    ua->proxy = ua_strndup(p.p, p.len);
  }
  ua->user_name = ua_strdup(cfg->user);
  ua->password = ua_strdup(cfg->password);
  ua->user_agent = ua_strdup(cfg->user_agent ? cfg->user_agent : "sipr");
  ua->txl = sipr_txn_layer_new(loop, &cfg->txn, tp, tp_ctx, &txn_user_ops, ua);
  if (!ua->txl || !ua->from_uri || !ua->host || !ua->contact ||
      !ua->user_agent || !ua->from_value) {
    seterr(err, cap, "out of memory%s", "");
    sipr_ua_free(ua);
    return NULL;
  }
  return ua;
}

void sipr_ua_free(sipr_ua_t *ua) {
  if (!ua)
    return;
  while (ua->calls)
    ua_call_free(ua->calls);
  while (ua->regs)
    sipr_ua_reg_free(ua->regs);
  while (ua->reqs)
    ua_creq_free(ua->reqs);
  while (ua->srv_reqs) {
    ua_srv_req_t *q = ua->srv_reqs;
    ua->srv_reqs = q->next;
    srv_req_free(q);
  }
  if (ua->txl)
    sipr_txn_layer_free(ua->txl);
  if (ua->own_tp)
    sipr_tp_free(ua->own_tp);
  free(ua->own_net);
  free(ua->from_uri);
  free(ua->from_value);
  free(ua->host);
  free(ua->contact);
  free(ua->proxy);
  free(ua->user_name);
  if (ua->password) {
    memset(ua->password, 0, strlen(ua->password));
    free(ua->password);
  }
  free(ua->user_agent);
  sipr_arena_free(&ua->scratch);
  free(ua);
}

/* The number of Via values of m, counting comma-separated ones. */
static unsigned via_count(sipr_msg_t *m) {
  unsigned n = 0;
  for (sipr_hdr_t *h = m->first[SIPR_HDR_VIA]; h; h = h->next_same) {
    if (sipr_hdr_parse(m, h, NULL) < 0 || !h->parsed) {
      n++;
      continue;
    }
    for (const sipr_via_t *v = h->parsed; v; v = v->next)
      n++;
  }
  return n;
}

void sipr_ua_recv(sipr_ua_t *ua, sipr_msg_t *msg, const sipr_tp_src_t *src) {
  /* §8.1.3.3: a response with more than one Via value was meant for
   * someone else (a proxy forgot its Via, or it is misrouted): the UAC
   * discards it. */
  if (!msg->is_request && via_count(msg) > 1)
    return;
  sipr_txn_layer_recv(ua->txl, msg, src);
}

void sipr_ua_conn_closed(sipr_ua_t *ua, uint64_t conn_id) {
  sipr_txn_layer_conn_closed(ua->txl, conn_id);
}

sipr_txn_layer_t *sipr_ua_txn(sipr_ua_t *ua) {
  return ua->txl;
}
sipr_loop_t *sipr_ua_loop(sipr_ua_t *ua) {
  return ua->loop;
}

unsigned sipr_ua_busy(const sipr_ua_t *ua) {
  unsigned n = 0;
  for (const ua_creq_t *r = ua->reqs; r; r = r->next)
    if (r->kind == CREQ_PLAIN || (r->kind == CREQ_REG && !r->done))
      n++;
  for (const sipr_call_t *c = ua->calls; c; c = c->next)
    n++;
  return n;
}

/* ---- requests outside a dialog ------------------------------------------- */
/* Fills the fields every new request outside a dialog shares (§8.1.1):
 * From with a fresh tag, a new Call-ID, the Route of the outbound proxy
 * (loose routing, §8.1.2), the destination. */
int ua_creq_prepare(ua_creq_t *r, const char *ruri, const char *to, char *err,
                    size_t cap) {
  sipr_ua_t *ua = r->ua;
  sipr_str_t ru = uri_text(ruri);
  r->ruri = ua_strndup(ru.p, ru.len);
  if (!r->ruri || check_uri(ua, "request", r->ruri, err, cap))
    return SIPR_EINVAL;
  sipr_str_t tt = uri_text(to ? to : ruri);
  char tag[UA_TAG_LEN + 1];
  ua_new_tag(tag);
  sipr_buf_t b;
  sipr_buf_init(&b);
  sipr_buf_printf(&b, "<%.*s>", (int)tt.len, tt.p);
  r->to = ua_strndup(b.p, b.len);
  b.len = 0;
  sipr_buf_printf(&b, "%s;tag=%s", ua->from_value, tag);
  r->from = ua_strndup(b.p, b.len);
  b.len = 0;
  char cid[UA_TAG_LEN + 1];
  ua_new_tag(cid);
  sipr_buf_printf(&b, "%s%08x@%s", cid, (unsigned)(ua_random() & 0xffffffffu),
                  ua->host);
  r->call_id = ua_strndup(b.p, b.len);
  sipr_buf_free(&b);
  /* §8.1.1.5: any initial value below 2^31. */
  r->cseq = 1 + (uint32_t)(ua_random() % 10000);
  if (!r->to || !r->from || !r->call_id)
    return SIPR_ENOMEM;
  if (ua->proxy) {
    size_t n = strlen(ua->proxy) + 32;
    r->routes = malloc(n);
    if (!r->routes)
      return SIPR_ENOMEM;
    snprintf(r->routes, n, "Route: <%s%s>\r\n", ua->proxy,
             strstr(ua->proxy, ";lr") ? "" : ";lr");
    return ua_next_hop(ua, ua->proxy, r->ruri, &r->dest, err, cap);
  }
  return ua_next_hop(ua, NULL, r->ruri, &r->dest, err, cap);
}

int sipr_ua_request(sipr_ua_t *ua, const sipr_ua_req_opts_t *o, void *arg,
                    sipr_ua_req_t **out, char *err, size_t cap) {
  if (!o || !o->method || !o->ruri || strcmp(o->method, "INVITE") == 0 ||
      strcmp(o->method, "ACK") == 0 || strcmp(o->method, "CANCEL") == 0) {
    seterr(err, cap, "bad request method%s", "");
    return SIPR_EINVAL;
  }
  ua_creq_t *r = ua_creq_new(ua, CREQ_PLAIN, o->method);
  if (!r)
    return SIPR_ENOMEM;
  r->arg = arg;
  r->follow_redirects = o->follow_redirects || ua->follow_redirects;
  int rc = ua_creq_prepare(r, o->ruri, o->to, err, cap);
  if (rc == 0 && o->extra && !(r->extra = ua_strdup(o->extra)))
    rc = SIPR_ENOMEM;
  if (rc == 0 && o->ctype && o->body) {
    r->ctype = ua_strdup(o->ctype);
    r->body = ua_strndup(o->body, o->body_len);
    r->body_len = o->body_len;
    if (!r->ctype || !r->body)
      rc = SIPR_ENOMEM;
  }
  if (rc == 0) {
    rc = ua_creq_send(r);
    if (rc)
      seterr(err, cap, "cannot send the request (%s)", sipr_strerror(rc));
  }
  if (rc) {
    ua_creq_free(r);
    return rc;
  }
  if (out)
    *out = (sipr_ua_req_t *)r;
  return 0;
}

const char *sipr_ua_req_call_id(const sipr_ua_req_t *r) {
  return ((const ua_creq_t *)r)->call_id;
}
