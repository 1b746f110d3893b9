/*
 * Registrar: RFC 3261 §10.3 steps 3-8 (steps 1-2, method and Require, are
 * the UAS core's, uas.c), RFC 3327 Path, RFC 5626 +sip.instance / reg-id
 * kept with the binding.
 *
 * A REGISTER is all or nothing: every Contact is validated and every
 * binding decision made before anything is handed to the store; the
 * store applies the whole change as one durable transaction and calls
 * back; only then is the 200 (or the 500 of a failed commit) sent, on
 * the thread of the transaction.
 */
#include "../tu_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- registrar object ------------------------------------------------- */
static _Thread_local sipr_loop_t *tl_loop;

void sipr_registrar_attach_loop(sipr_loop_t *loop) { tl_loop = loop; }

static sipr_loop_t *current_loop(const sipr_registrar_t *r) {
  if (r->cfg.current_loop)
    return r->cfg.current_loop(r->cfg.loop_ctx);
  return tl_loop;
}

void sipr_registrar_cfg_default(sipr_registrar_cfg_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->min_expires = 60;
  cfg->default_expires = 3600;
  cfg->max_expires = 86400;
  cfg->max_contacts = 32;
}

static int64_t wall_default(void *ctx) {
  (void)ctx;
  return (int64_t)time(NULL);
}

static int64_t wall_now(const sipr_registrar_t *r) {
  return r->cfg.wall_now(r->cfg.wall_ctx);
}

static uint64_t ms_now(const sipr_registrar_t *r) {
  return r->cfg.clock->now_ms(r->cfg.clock->ctx);
}

/* "host", "host:port", "[v6]:port"; host copied. */
static int add_domain(sipr_registrar_t *r, const char *text) {
  if (r->ndomains >= SIPR__TU_MAX_DOMAINS || !text)
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
  r->domains[r->ndomains].host = h;
  r->domains[r->ndomains].host_len = hl;
  r->domains[r->ndomains].port = port;
  r->ndomains++;
  return 0;
}

sipr_registrar_t *sipr_registrar_new(const sipr_registrar_cfg_t *cfg,
                                     sipr_store_t *store,
                                     sipr_auth_server_t *auth) {
  if (!store)
    return NULL;
  sipr_registrar_t *r = calloc(1, sizeof(*r));
  if (!r)
    return NULL;
  if (cfg)
    r->cfg = *cfg;
  else
    sipr_registrar_cfg_default(&r->cfg);
  if (!r->cfg.default_expires)
    r->cfg.default_expires = 3600;
  if (r->cfg.max_expires && r->cfg.default_expires > r->cfg.max_expires)
    r->cfg.default_expires = r->cfg.max_expires;
  if (!r->cfg.max_contacts)
    r->cfg.max_contacts = 32;
  if (!r->cfg.wall_now) {
    r->cfg.wall_now = wall_default;
    r->cfg.wall_ctx = NULL;
  }
  if (!r->cfg.clock)
    r->cfg.clock = sipr_clock_monotonic();
  r->store = store;
  r->auth = auth;
  r->cfg.domains = NULL;
  r->cfg.ndomains = 0;
  const char *realm = (cfg && cfg->realm) ? cfg->realm : "sipr";
  r->realm = strdup(realm);
  r->cfg.realm = NULL;
  if (!r->realm || (r->cfg.auth && !auth))
    goto fail;
  for (size_t i = 0; cfg && i < cfg->ndomains; i++)
    if (add_domain(r, cfg->domains[i]))
      goto fail;
  return r;
fail:
  sipr_registrar_free(r);
  return NULL;
}

void sipr_registrar_free(sipr_registrar_t *r) {
  if (!r)
    return;
  for (unsigned i = 0; i < r->ndomains; i++)
    free(r->domains[i].host);
  free(r->realm);
  free(r);
}

void sipr_registrar_get_stats(const sipr_registrar_t *r,
                              sipr_registrar_stats_t *out) {
  memset(out, 0, sizeof(*out));
  sipr_registrar_t *m = (sipr_registrar_t *)r;
  out->requests = atomic_load(&m->stats_requests);
  for (int i = 0; i < 7; i++)
    out->responses[i] = atomic_load(&m->stats_by_class[i]);
  out->registers_ok = atomic_load(&m->stats_registers_ok);
  out->pending = atomic_load(&m->stats_pending);
}

/* ---- one REGISTER ------------------------------------------------------ */
#define MAX_URI_TEXT 1024
#define MAX_PARAM_TEXT 1024
#define MAX_TEXT 1024

typedef struct rc_contact {
  sipr_addr_t *ad;       /* in the request's arena */
  char *uri;             /* the URI text, NUL-terminated (arena) */
  char *params;          /* contact-params but q and expires (arena) */
  char *instance;        /* +sip.instance value as written, or NULL */
  uint32_t reg_id;       /* 0: none */
  uint32_t expires;      /* granted; 0: remove */
  int drop;              /* superseded by a later equivalent Contact */
} rc_contact_t;

typedef struct reg_req {
  sipr_registrar_t *r;
  sipr_txn_t *st;
  sipr_msg_t *req;
  const sipr_tp_src_t *src;
  sipr_arena_t *a;
  char aor[600];         /* "sip:user@host" */
  char user[256];        /* unescaped To user, NUL-terminated */
  char user_at_host[600];
  char *call_id;
  uint32_t cseq;
  int star;
  rc_contact_t *c;
  unsigned nc;
  char *path;            /* Path values joined by ", ", or NULL */
} reg_req_t;

static void reject(reg_req_t *q, unsigned status, const char *reason,
                   const char *extra) {
  sipr__tu_respond_simple(q->r, q->st, q->req, status, reason, extra);
}

static char *adup(sipr_arena_t *a, sipr_str_t s) {
  return sipr_arena_strdup(a, s.p ? s.p : "", s.p ? s.len : 0);
}

/* §10.3 step 5: the canonical AOR. */
static int make_aor(reg_req_t *q, const sipr_uri_t *u) {
  size_t ul = 0;
  if (u->user.p && u->user.len) {
    if (u->user.len >= sizeof(q->user))
      return SIPR_ETOOBIG;
    long n = sipr_unescape(u->user, q->user);
    if (n <= 0)
      return SIPR_EPARSE;
    for (long i = 0; i < n; i++) {
      unsigned char ch = (unsigned char)q->user[i];
      if (ch == '@' || ch < 0x21 || ch == 0x7f)
        return SIPR_EPARSE;
    }
    ul = (size_t)n;
  }
  q->user[ul] = '\0';
  char host[256];
  if (!u->host.len || u->host.len >= sizeof(host))
    return SIPR_ETOOBIG;
  for (size_t i = 0; i < u->host.len; i++)
    host[i] = (char)sipr_lower((unsigned char)u->host.p[i]);
  host[u->host.len] = '\0';
  snprintf(q->user_at_host, sizeof(q->user_at_host), "%s@%s", q->user, host);
  if (ul)
    snprintf(q->aor, sizeof(q->aor), "sip:%s@%s", q->user, host);
  else
    snprintf(q->aor, sizeof(q->aor), "sip:%s", host);
  return 0;
}

/* The contact-params of ad but q and expires, ";name[=value]"... */
static int contact_params(reg_req_t *q, rc_contact_t *c) {
  sipr_buf_t b;
  sipr_buf_init(&b);
  for (const sipr_param_t *p = c->ad->params; p; p = p->next) {
    if (SIPR_STR_CASEEQ_LIT(p->name, "q") ||
        SIPR_STR_CASEEQ_LIT(p->name, "expires"))
      continue;
    if (SIPR_STR_CASEEQ_LIT(p->name, "+sip.instance") && p->value.p)
      c->instance = adup(q->a, p->value);
    if (SIPR_STR_CASEEQ_LIT(p->name, "reg-id")) {
      uint64_t v;
      if (!p->value.p || sipr_str_to_u64(p->value, 0xffffffffu, &v) || !v) {
        sipr_buf_free(&b);
        return SIPR_EPARSE; /* RFC 5626 §4.2: reg-id is 1*DIGIT, not 0 */
      }
      c->reg_id = (uint32_t)v;
    }
    sipr_buf_append(&b, ";", 1);
    sipr_buf_append_str(&b, p->name);
    if (p->value.p) {
      sipr_buf_append(&b, "=", 1);
      sipr_buf_append_str(&b, p->value);
    }
  }
  int rc = b.failed ? SIPR_ENOMEM : b.len > MAX_PARAM_TEXT ? SIPR_ETOOBIG : 0;
  if (!rc)
    c->params = adup(q->a, sipr_str_make(b.p ? b.p : "", b.len));
  sipr_buf_free(&b);
  return rc;
}

/* "q=0.5" from thousandths. */
static void print_q(sipr_buf_t *b, int q) {
  if (q >= 1000) {
    sipr_buf_append(b, ";q=1", 4);
    return;
  }
  char d[4] = {(char)('0' + q / 100), (char)('0' + q / 10 % 10),
               (char)('0' + q % 10), 0};
  int n = 3;
  while (n > 1 && d[n - 1] == '0')
    n--;
  sipr_buf_append(b, ";q=0.", 5);
  sipr_buf_append(b, d, (size_t)n);
}

/* RFC 1123 date (§20.17), always GMT, independent of the locale. */
static void print_date(sipr_buf_t *b, int64_t now) {
  static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed",
                                   "Thu", "Fri", "Sat"};
  static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  /* One formatting per second and thread: every 200 within the same
   * second carries the same line. */
  static _Thread_local int64_t tl_sec = INT64_MIN;
  static _Thread_local char tl_line[64];
  static _Thread_local int tl_len;
  if (now != tl_sec) {
    time_t t = (time_t)now;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
      return;
    int n = snprintf(tl_line, sizeof tl_line,
                     "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n",
                     wd[tm.tm_wday], tm.tm_mday, mo[tm.tm_mon],
                     tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (n <= 0 || (size_t)n >= sizeof tl_line)
      return;
    tl_len = n;
    tl_sec = now;
  }
  sipr_buf_append(b, tl_line, (size_t)tl_len);
}

/* ---- deferred answer -------------------------------------------------- */
#define PENDING_MAGIC 0x52454750u /* "REGP" */

typedef struct reg_pending {
  uint32_t magic;
  sipr_registrar_t *r;
  sipr_txn_t *st;        /* NULL once the transaction is gone */
  int64_t now;
  char *head;            /* response fields after the status line, up to
                            (not including) Content-Length */
  size_t head_len;
  char *path;            /* Path value to return, or NULL */
} reg_pending_t;

static void pending_free(reg_pending_t *p) {
  atomic_fetch_sub_explicit(&p->r->stats_pending, 1, memory_order_relaxed);
  p->magic = 0;
  free(p->head);
  free(p->path);
  free(p);
}

static unsigned status_of_rc(int rc, const char **reason, const char **extra) {
  *extra = NULL;
  switch (rc) {
  case 0:
    *reason = NULL;
    return 200;
  case SIPR_ERANGE: /* §10.3 steps 6-7: out of order, the request fails */
    *reason = "Out of Order";
    return 500;
  case SIPR_ETOOBIG:
    *reason = "Too Many Bindings";
    return 403;
  case SIPR_EINVAL:
    *reason = "Invalid Binding";
    return 400;
  case SIPR_EIO: /* §10.3 step 7: the commit failed (disk full, database
                    locked); nothing changed, worth a retry (§21.5.1) */
    *reason = "Store Unavailable";
    *extra = "Retry-After: 5\r\n";
    return 500;
  default: /* §10.3 step 7: a failed commit is a 500; nothing changed */
    *reason = NULL;
    *extra = "Retry-After: 5\r\n";
    return 500;
  }
}

/* Sends the final answer of a REGISTER: 200 with every live binding, or
 * the failure. */
static void pending_answer(reg_pending_t *p, int rc,
                           const sipr_binding_list_t *res) {
  if (!p->st)
    return;
  const char *reason, *extra;
  unsigned status = status_of_rc(rc, &reason, &extra);
  sipr_buf_t b;
  sipr_buf_init(&b);
  sipr_print_status_line(&b, status,
                         reason ? sipr_str_cstr(reason) : SIPR_STR_NULL);
  sipr_buf_append(&b, p->head, p->head_len);
  if (status == 200) {
    /* §10.3 step 8: every current binding with its remaining time. */
    for (size_t i = 0; res && i < res->n; i++) {
      const sipr_binding_t *bd = &res->v[i];
      int64_t left = bd->expires - p->now;
      if (left <= 0)
        continue;
      sipr_buf_append(&b, "Contact: <", 10);
      sipr_buf_append_cstr(&b, bd->contact);
      sipr_buf_append(&b, ">", 1);
      sipr_buf_append_cstr(&b, bd->params);
      if (bd->q >= 0)
        print_q(&b, bd->q);
      sipr_buf_append(&b, ";expires=", 9);
      sipr_buf_append_i64(&b, left);
      sipr_buf_append(&b, "\r\n", 2);
    }
    if (p->path) { /* RFC 3327 §5.3 */
      sipr_buf_append(&b, "Path: ", 6);
      sipr_buf_append_cstr(&b, p->path);
      sipr_buf_append(&b, "\r\n", 2);
    }
    print_date(&b, p->now);
  } else if (extra) {
    sipr_buf_append(&b, extra, strlen(extra));
  }
  sipr_buf_append(&b, "Content-Length: 0\r\n\r\n", 21);
  if (!b.failed) {
    sipr_txn_set_owner(p->st, NULL);
    sipr_txn_respond(p->st, b.p, b.len);
    sipr__tu_count_status(p->r, status);
    if (status == 200)
      atomic_fetch_add_explicit(&p->r->stats_registers_ok, 1,
                                memory_order_relaxed);
  }
  sipr_buf_free(&b);
}

static void pending_done(void *arg, int rc, const sipr_binding_list_t *res) {
  reg_pending_t *p = arg;
  pending_answer(p, rc, res);
  pending_free(p);
}

void sipr_registrar_txn_terminated(sipr_registrar_t *r, sipr_txn_t *st) {
  if (!st)
    return;
  reg_pending_t *p = sipr_txn_owner(st);
  if (p && p->magic == PENDING_MAGIC && p->r == r && p->st == st) {
    p->st = NULL;
    sipr_txn_set_owner(st, NULL);
  }
}

/* The response head of req (status line and Content-Length cut off). */
static int make_head(reg_req_t *q, reg_pending_t *p) {
  char tag[SIPR__TU_TAG_LEN + 1];
  sipr__tu_new_tag(tag);
  sipr_buf_t b;
  sipr_buf_init(&b);
  int rc = sipr_print_response(&b, q->req, 200, NULL, sipr_str_cstr(tag),
                               SIPR_STR_NULL);
  const char *eol = (rc == 0) ? memchr(b.p, '\n', b.len) : NULL;
  if (!eol || b.len < 21 + (size_t)(eol + 1 - b.p)) {
    sipr_buf_free(&b);
    return rc ? rc : SIPR_EINVAL;
  }
  size_t off = (size_t)(eol + 1 - b.p);
  p->head_len = b.len - off - 21; /* "Content-Length: 0\r\n\r\n" */
  p->head = malloc(p->head_len + 1);
  if (p->head)
    memcpy(p->head, b.p + off, p->head_len);
  sipr_buf_free(&b);
  return p->head ? 0 : SIPR_ENOMEM;
}

/* ---- steps ------------------------------------------------------------ */
/* The To URI must be sip/sips (RFC 4475 unksm2) and name one of our
 * domains (§10.3 step 5). Answers and returns -1 on failure. */
static int step_to(reg_req_t *q) {
  sipr_addr_t *to = sipr_msg_to(q->req);
  if (!to) {
    reject(q, 400, "Bad To", NULL);
    return -1;
  }
  const sipr_uri_t *u = &to->uri;
  if (u->scheme != SIPR_URI_SIP && u->scheme != SIPR_URI_SIPS) {
    reject(q, 400, "To Must Be A sip Or sips URI", NULL);
    return -1;
  }
  sipr_uri_t *ruri = sipr_msg_ruri(q->req);
  if (!sipr__tu_domain_is_ours(q->r, u, 0, q->src) &&
      !(ruri && sipr_str_caseeq(ruri->host, u->host))) {
    reject(q, 404, "Domain Not Served", NULL);
    return -1;
  }
  if (make_aor(q, u)) {
    reject(q, 400, "Bad To URI", NULL);
    return -1;
  }
  return 0;
}

static int has_cred(reg_req_t *q, const char *user) {
  char ha1[SIPR_AUTH_HEX_MAX];
  return sipr_store_cred_get(q->r->store, user, q->r->realm, "SHA-256", ha1,
                             sizeof(ha1)) == 0 ||
         sipr_store_cred_get(q->r->store, user, q->r->realm, "MD5", ha1,
                             sizeof(ha1)) == 0;
}

static void challenge(reg_req_t *q, int stale) {
  sipr_buf_t b;
  sipr_buf_init(&b);
  int rc = sipr_auth_challenge_lines(q->r->auth, "WWW-Authenticate",
                                     sipr_str_cstr(q->r->realm), stale,
                                     ms_now(q->r), &b);
  if (rc == 0 && !b.failed)
    sipr__tu_respond(q->r, q->st, q->req, 401, NULL,
                     sipr_str_make(b.p, b.len));
  else
    reject(q, 500, "Authentication Unavailable", NULL);
  sipr_buf_free(&b);
}

/* §10.3 steps 3-4 (§22). Answers and returns -1 unless authorized. */
static int step_auth(reg_req_t *q) {
  sipr_registrar_t *r = q->r;
  if (!r->cfg.auth)
    return 0;
  /* Unknown users: 404 (the AOR is not valid here, step 5). */
  if (!q->user[0] || (!has_cred(q, q->user) && !has_cred(q, q->user_at_host))) {
    reject(q, 404, "Not Found", NULL);
    return -1;
  }
  /* The credentials for our realm (§22.4: one per realm). */
  const sipr_auth_t *cred = NULL;
  sipr_str_t realm = sipr_str_cstr(r->realm);
  for (sipr_hdr_t *h = q->req->first[SIPR_HDR_AUTHORIZATION]; h;
       h = h->next_same) {
    sipr_perr_t err;
    if (sipr_hdr_parse(q->req, h, &err) < 0 || !h->parsed)
      continue;
    const sipr_auth_t *c = h->parsed;
    char rb[256];
    int n = c->realm.p ? sipr_auth_unquote(c->realm, rb, sizeof(rb)) : -1;
    if (SIPR_STR_CASEEQ_LIT(c->scheme, "Digest") && n >= 0 &&
        sipr_str_eq(sipr_str_make(rb, (size_t)n), realm)) {
      cred = c;
      break;
    }
  }
  if (!cred) {
    challenge(q, 0);
    return -1;
  }
  char uname[256];
  int un = cred->username.p
               ? sipr_auth_unquote(cred->username, uname, sizeof(uname))
               : -1;
  sipr_auth_alg_t alg = sipr_auth_alg_from_str(cred->algorithm);
  char ha1[SIPR_AUTH_HEX_MAX];
  const char *ha1p = NULL;
  if (un > 0 && alg != SIPR_AUTH_ALG_UNKNOWN &&
      sipr_store_cred_get(r->store, uname, r->realm,
                          sipr_auth_alg_name(sipr_auth_alg_base(alg)), ha1,
                          sizeof(ha1)) == 0)
    ha1p = ha1;
  sipr_auth_result_t res = sipr_auth_verify(r->auth, cred, q->req->method,
                                            ha1p, ms_now(r), q->req->body);
  switch (res) {
  case SIPR_AUTH_OK:
    break;
  case SIPR_AUTH_BAD_REQUEST:
    reject(q, 400, "Bad Authorization", NULL);
    return -1;
  case SIPR_AUTH_STALE:
    challenge(q, 1);
    return -1;
  default: /* wrong password, forged or replayed nonce, unknown user... */
    challenge(q, 0);
    return -1;
  }
  /* Step 4: the authenticated user may change this AOR's bindings only. */
  if (strcmp(uname, q->user) != 0 && strcmp(uname, q->user_at_host) != 0) {
    reject(q, 403, "Forbidden: Not Your AOR", NULL);
    return -1;
  }
  return 0;
}

/* RFC 3327 §5.3: the Path values, with 420 when the UA did not say it
 * supports Path. */
static int step_path(reg_req_t *q) {
  sipr_msg_t *m = q->req;
  if (!m->first[SIPR_HDR_PATH])
    return 0;
  int supported = 0;
  for (sipr_hdr_t *h = m->first[SIPR_HDR_SUPPORTED]; h && !supported;
       h = h->next_same) {
    sipr_perr_t err;
    if (sipr_hdr_parse(m, h, &err) < 0)
      continue;
    for (const sipr_token_t *t = h->parsed; t; t = t->next)
      if (SIPR_STR_CASEEQ_LIT(t->value, "path"))
        supported = 1;
  }
  if (!supported) {
    reject(q, 420, NULL, "Unsupported: path\r\n");
    return -1;
  }
  sipr_buf_t b;
  sipr_buf_init(&b);
  for (sipr_hdr_t *h = m->first[SIPR_HDR_PATH]; h; h = h->next_same) {
    sipr_perr_t err;
    if (sipr_hdr_parse(m, h, &err) < 0) {
      sipr_buf_free(&b);
      reject(q, 400, "Bad Path", NULL);
      return -1;
    }
    for (const sipr_addr_t *ad = h->parsed; ad; ad = ad->next) {
      if (b.len)
        sipr_buf_append(&b, ", ", 2);
      sipr_buf_append_str(&b, ad->raw);
    }
  }
  if (b.failed || b.len > 4 * MAX_TEXT) {
    sipr_buf_free(&b);
    reject(q, b.failed ? 500 : 400, b.failed ? NULL : "Path Too Long", NULL);
    return -1;
  }
  q->path = adup(q->a, sipr_str_make(b.p ? b.p : "", b.len));
  sipr_buf_free(&b);
  return q->path ? 0 : (reject(q, 500, NULL, NULL), -1);
}

/* §10.3 steps 6-7, first half: every Contact validated and its expiry
 * chosen before anything changes. Answers and returns -1 on failure. */
static int step_contacts(reg_req_t *q) {
  sipr_registrar_t *r = q->r;
  sipr_msg_t *m = q->req;
  int64_t hexp = -1;
  sipr_hdr_t *eh = m->first[SIPR_HDR_EXPIRES];
  if (eh) {
    sipr_perr_t err;
    if (sipr_hdr_parse(m, eh, &err) < 0 || !eh->parsed) {
      reject(q, 400, "Bad Expires", NULL);
      return -1;
    }
    hexp = ((sipr_uint_t *)eh->parsed)->value;
  }
  unsigned n = 0;
  for (sipr_hdr_t *h = m->first[SIPR_HDR_CONTACT]; h; h = h->next_same) {
    sipr_perr_t err;
    if (sipr_hdr_parse(m, h, &err) < 0 || !h->parsed) {
      reject(q, 400, "Bad Contact", NULL);
      return -1;
    }
    for (sipr_addr_t *ad = h->parsed; ad; ad = ad->next) {
      if (ad->star)
        q->star = 1;
      n++;
    }
  }
  if (q->star) {
    /* Step 6: "*" alone and with Expires: 0. */
    if (n != 1 || hexp != 0) {
      reject(q, 400, "Contact * Needs Expires: 0 And No Other Contact", NULL);
      return -1;
    }
    return 0;
  }
  if (n > r->cfg.max_contacts) {
    reject(q, 403, "Too Many Contacts", NULL);
    return -1;
  }
  q->c = n ? sipr_arena_zalloc(q->a, n * sizeof(*q->c)) : NULL;
  if (n && !q->c) {
    reject(q, 500, NULL, NULL);
    return -1;
  }
  unsigned i = 0;
  uint32_t too_brief = 0;
  for (sipr_hdr_t *h = m->first[SIPR_HDR_CONTACT]; h; h = h->next_same) {
    for (sipr_addr_t *ad = h->parsed; ad; ad = ad->next) {
      rc_contact_t *c = &q->c[i++];
      c->ad = ad;
      const sipr_uri_t *u = &ad->uri;
      if (u->scheme != SIPR_URI_SIP && u->scheme != SIPR_URI_SIPS &&
          u->scheme != SIPR_URI_TEL) {
        reject(q, 400, "Unsupported Contact URI Scheme", NULL);
        return -1;
      }
      if (u->raw.len > MAX_URI_TEXT) {
        reject(q, 400, "Contact URI Too Long", NULL);
        return -1;
      }
      int prc = contact_params(q, c);
      if (prc) {
        reject(q, prc == SIPR_ENOMEM ? 500 : 400,
               prc == SIPR_EPARSE    ? "Bad reg-id In Contact"
               : prc == SIPR_ETOOBIG ? "Contact Parameters Too Long"
                                     : NULL,
               NULL);
        return -1;
      }
      c->uri = adup(q->a, u->raw);
      if (!c->uri || !c->params) {
        reject(q, 500, NULL, NULL);
        return -1;
      }
      /* Step 7: expires param, else Expires, else the default. */
      int64_t want = ad->expires >= 0 ? ad->expires
                     : hexp >= 0      ? hexp
                                      : (int64_t)r->cfg.default_expires;
      if (want > 0 && want < 3600 && want < (int64_t)r->cfg.min_expires)
        too_brief = r->cfg.min_expires;
      if (r->cfg.max_expires && want > (int64_t)r->cfg.max_expires)
        want = r->cfg.max_expires;
      c->expires = (uint32_t)want;
    }
  }
  q->nc = i;
  if (too_brief) {
    char mx[48];
    snprintf(mx, sizeof(mx), "Min-Expires: %u\r\n", too_brief);
    reject(q, 423, NULL, mx);
    return -1;
  }
  /* The same contact twice: the later value wins (processed in turn). */
  for (unsigned a = 0; a < q->nc; a++)
    for (unsigned b = a + 1; b < q->nc && !q->c[a].drop; b++)
      if (sipr_uri_equal(&q->c[a].ad->uri, &q->c[b].ad->uri))
        q->c[a].drop = 1;
  return 0;
}

/* The stored contact text a request Contact is equivalent to (§19.1.4),
 * or NULL. */
static const char *match_of(reg_req_t *q, const sipr_uri_t *u,
                            const sipr_binding_list_t *cur,
                            sipr_uri_t *curi) {
  for (size_t i = 0; i < cur->n; i++)
    if (curi[i].scheme != SIPR_URI_NONE && sipr_uri_equal(u, &curi[i]))
      return cur->v[i].contact;
  return NULL;
}

void sipr__reg_register(sipr_registrar_t *r, sipr_txn_t *st, sipr_msg_t *req,
                        const sipr_tp_src_t *src) {
  reg_req_t q;
  memset(&q, 0, sizeof(q));
  q.r = r;
  q.st = st;
  q.req = req;
  q.src = src;
  q.a = req->arena;
  sipr_cseq_t *cs = sipr_msg_cseq(req);
  sipr_str_t cid = sipr_msg_call_id(req);
  if (!cs || !cid.p) {
    reject(&q, 400, "Missing Call-ID Or CSeq", NULL);
    return;
  }
  q.cseq = cs->seq;
  q.call_id = adup(q.a, cid);
  if (!q.call_id) {
    reject(&q, 500, NULL, NULL);
    return;
  }
  /* §10.3: Record-Route is ignored (and never copied into the answer: the
   * printer copies Via, From, To, Call-ID and CSeq only). */
  if (step_to(&q) || step_auth(&q) || step_path(&q) || step_contacts(&q))
    return;

  int64_t now = wall_now(r);
  char received[80] = "";
  if (src)
    sipr_tp_addr_str(&src->remote, received, sizeof(received));
  char *ua = NULL;
  sipr_hdr_t *uah = req->first[SIPR_HDR_USER_AGENT];
  if (uah)
    ua = adup(q.a, sipr_str_make(uah->value.p,
                                 uah->value.len > 256 ? 256 : uah->value.len));

  /* Step 7, second half: which stored binding each Contact updates. */
  sipr_binding_list_t cur;
  memset(&cur, 0, sizeof(cur));
  sipr_uri_t *curi = NULL;
  if (q.nc || q.star) {
    if (sipr_store_lookup(r->store, q.aor, now, &cur) != 0) {
      reject(&q, 500, NULL, "Retry-After: 5\r\n");
      return;
    }
    if (cur.n) {
      curi = sipr_arena_zalloc(q.a, cur.n * sizeof(*curi));
      if (!curi) {
        sipr_binding_list_free(&cur);
        reject(&q, 500, NULL, NULL);
        return;
      }
      for (size_t i = 0; i < cur.n; i++) {
        sipr_perr_t err;
        if (sipr_uri_parse(q.a, cur.v[i].contact, strlen(cur.v[i].contact),
                           &curi[i], &err))
          curi[i].scheme = SIPR_URI_NONE;
      }
    }
  }
  sipr_loc_change_t *ch = NULL;
  size_t nch = 0;
  if (q.star || q.nc) {
    ch = sipr_arena_zalloc(q.a, (q.star ? cur.n + 1 : q.nc) * sizeof(*ch));
    if (!ch) {
      sipr_binding_list_free(&cur);
      reject(&q, 500, NULL, NULL);
      return;
    }
  }
  if (q.star) {
    /* §10.3 step 6: each binding with another Call-ID is removed; one with
     * the same Call-ID only when the request's CSeq is higher, "otherwise,
     * the update MUST be aborted and the request fails". One REMOVE per
     * binding seen, checked by the store atomically with the write (the
     * whole request fails with nothing removed), then a REMOVE_ALL for any
     * binding added since the lookup. */
    for (size_t i = 0; i < cur.n; i++) {
      sipr_loc_change_t *x = &ch[nch++];
      x->op = SIPR_LOC_REMOVE;
      x->b.aor = q.aor;
      x->b.contact = cur.v[i].contact;
      x->b.call_id = q.call_id;
      x->b.cseq = q.cseq;
    }
    sipr_loc_change_t *x = &ch[nch++];
    x->op = SIPR_LOC_REMOVE_ALL;
    x->b.aor = q.aor;
    x->b.call_id = q.call_id;
    x->b.cseq = q.cseq;
  }
  for (unsigned i = 0; i < q.nc; i++) {
    rc_contact_t *c = &q.c[i];
    if (c->drop)
      continue;
    sipr_loc_change_t *x = &ch[nch++];
    x->op = c->expires ? SIPR_LOC_SET : SIPR_LOC_REMOVE;
    x->match = match_of(&q, &c->ad->uri, &cur, curi);
    x->b.aor = q.aor;
    x->b.contact = c->uri;
    x->b.params = c->params;
    x->b.call_id = q.call_id;
    x->b.cseq = q.cseq;
    x->b.path = q.path;
    x->b.instance = c->instance;
    x->b.reg_id = c->reg_id;
    x->b.received = received;
    x->b.user_agent = ua;
    x->b.expires = now + (int64_t)c->expires;
    x->b.q = c->ad->q;
  }

  reg_pending_t *p = calloc(1, sizeof(*p));
  if (!p || make_head(&q, p) ||
      (q.path && !(p->path = strdup(q.path)))) {
    if (p) {
      free(p->head);
      free(p);
    }
    sipr_binding_list_free(&cur);
    reject(&q, 500, NULL, NULL);
    return;
  }
  p->magic = PENDING_MAGIC;
  p->r = r;
  p->st = st;
  p->now = now;
  atomic_fetch_add_explicit(&r->stats_pending, 1, memory_order_relaxed);
  sipr_loop_t *loop = current_loop(r);
  int rc;
  if (loop) {
    sipr_txn_set_owner(st, p);
    /* The memory store answers inside the call: no loop wake-up. */
    rc = sipr_store_apply(r->store, q.aor, ch, nch, now,
                          SIPR_STORE_CHECK_CSEQ | SIPR_STORE_DONE_INLINE, loop,
                          pending_done, p);
    if (rc) {
      sipr_txn_set_owner(st, NULL);
      pending_answer(p, rc, NULL);
      pending_free(p);
    }
  } else {
    /* No loop to come back to: wait for the commit here. */
    sipr_binding_list_t res;
    memset(&res, 0, sizeof(res));
    rc = sipr_store_apply_sync(r->store, q.aor, ch, nch, now,
                               SIPR_STORE_CHECK_CSEQ, &res);
    pending_answer(p, rc, rc ? NULL : &res);
    sipr_binding_list_free(&res);
    pending_free(p);
  }
  sipr_binding_list_free(&cur);
}
