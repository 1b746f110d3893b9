/*
 * Registration client (RFC 3261 §10.2): REGISTER with our Contact, the
 * same Call-ID and a growing CSeq for every refresh (§10.2.4), refreshed
 * before the binding expires, 423 answered with Min-Expires (§10.2.8),
 * removal with Expires: 0 (§10.2.2).
 */
#include "ua_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_extra(sipr_ua_reg_t *g, unsigned expires) {
  sipr_ua_t *ua = g->ua;
  sipr_buf_t b;
  sipr_buf_init(&b);
  ua_contact_line(ua, &b);
  sipr_buf_printf(&b, "Expires: %u\r\n", expires);
  free(g->req->extra);
  g->req->extra = b.failed ? NULL : ua_strndup(b.p, b.len);
  sipr_buf_free(&b);
}

static int reg_send(sipr_ua_reg_t *g, unsigned expires) {
  set_extra(g, expires);
  g->req->cseq++; /* §10.2.4: CSeq grows, Call-ID stays */
  g->req->auth_tries = 0;
  int rc = ua_creq_send(g->req);
  g->in_flight = rc == 0;
  return rc;
}

static void refresh_cb(sipr_loop_t *loop, void *arg) {
  (void)loop;
  sipr_ua_reg_t *g = arg;
  if (g->removing || g->in_flight)
    return;
  if (reg_send(g, g->expires) != 0) {
    sipr_ua_ev_t ev = {.type = SIPR_UA_EV_REG,
                       .status = 503,
                       .reason = "transport error on refresh",
                       .reg = g,
                       .arg = g->arg};
    ua_emit(g->ua, &ev);
  }
}

int sipr_ua_register(sipr_ua_t *ua, const char *aor, const char *registrar,
                     unsigned expires, int refresh, void *arg,
                     sipr_ua_reg_t **out, char *err, size_t cap) {
  if (!aor) {
    if (err && cap)
      snprintf(err, cap, "no AOR");
    return SIPR_EINVAL;
  }
  char ruri[512];
  if (!registrar) {
    /* §10.2: the Request-URI names the domain of the registrar: the
     * host part of the AOR, no user. */
    const char *p = strncmp(aor, "sip:", 4) == 0 ? aor + 4 : aor;
    const char *at = strchr(p, '@');
    p = at ? at + 1 : p;
    size_t n = strcspn(p, ";>?");
    if (n == 0 || n >= sizeof(ruri) - 5) {
      if (err && cap)
        snprintf(err, cap, "bad AOR '%s'", aor);
      return SIPR_EINVAL;
    }
    snprintf(ruri, sizeof(ruri), "sip:%.*s", (int)n, p);
    registrar = ruri;
  }
  sipr_ua_reg_t *g = calloc(1, sizeof(*g));
  if (!g)
    return SIPR_ENOMEM;
  g->ua = ua;
  g->arg = arg;
  g->expires = expires;
  g->refresh = refresh;
  sipr_timer_init(&g->t_refresh, refresh_cb, g);
  g->next = ua->regs;
  ua->regs = g;
  g->req = ua_creq_new(ua, CREQ_REG, "REGISTER");
  int rc = g->req ? 0 : SIPR_ENOMEM;
  if (rc == 0) {
    g->req->owner = g;
    g->req->arg = arg;
    /* §10.2: To is the AOR registered; From is ours (the same for a
     * first-party registration). */
    rc = ua_creq_prepare(g->req, registrar, aor, err, cap);
  }
  if (rc == 0) {
    g->req->cseq--; /* reg_send() adds one */
    rc = reg_send(g, expires);
    if (rc && err && cap)
      snprintf(err, cap, "cannot send REGISTER (%s)", sipr_strerror(rc));
  }
  if (rc) {
    sipr_ua_reg_free(g);
    return rc;
  }
  if (out)
    *out = g;
  return 0;
}

/* The expiry granted to our Contact (§10.2.4): its expires parameter in
 * the 2xx, else the Expires header, else what we asked. */
static unsigned granted(sipr_ua_reg_t *g, sipr_msg_t *resp) {
  sipr_ua_t *ua = g->ua;
  sipr_uri_t mine;
  sipr_perr_t perr;
  sipr_arena_t a;
  sipr_arena_init(&a, NULL, 0, 1 << 16);
  int have =
      sipr_uri_parse(&a, ua->contact, strlen(ua->contact), &mine, &perr) == 0;
  long exp = -1;
  for (sipr_hdr_t *h = resp->first[SIPR_HDR_CONTACT]; h && exp < 0;
       h = h->next_same) {
    if (sipr_hdr_parse(resp, h, NULL) || !h->parsed)
      continue;
    for (sipr_addr_t *c = h->parsed; c; c = c->next)
      if (have && !c->star && sipr_uri_equal(&c->uri, &mine) &&
          c->expires >= 0) {
        exp = (long)c->expires;
        break;
      }
  }
  sipr_arena_free(&a);
  if (exp < 0) {
    sipr_uint_t *e = sipr_msg_get(resp, SIPR_HDR_EXPIRES);
    exp = e ? (long)e->value : (long)g->expires;
  }
  return (unsigned)exp;
}

void ua_reg_response(ua_creq_t *r, unsigned status, sipr_msg_t *resp,
                     const char *why) {
  sipr_ua_reg_t *g = r->owner;
  r->done = 1;
  g->in_flight = 0;
  if (status == 423 && resp && !g->retried_423 && !g->removing) {
    /* §10.2.8: retry with at least Min-Expires. */
    sipr_uint_t *me = sipr_msg_get(resp, SIPR_HDR_MIN_EXPIRES);
    if (me && me->value > g->expires) {
      g->retried_423 = 1;
      g->expires = me->value;
      if (reg_send(g, g->expires) == 0)
        return;
    }
  }
  if (status >= 200 && status < 300 && resp) {
    g->granted = g->removing ? 0 : granted(g, resp);
    if (g->refresh && !g->removing && g->granted) {
      /* Refresh at half the granted time, but at most 30 s early. */
      uint64_t t = g->granted > 60 ? g->granted - 30 : g->granted / 2;
      if (t == 0)
        t = 1;
      sipr_timer_start(g->ua->loop, &g->t_refresh, t * 1000);
    }
  }
  sipr_ua_ev_t ev = {.type = SIPR_UA_EV_REG,
                     .status = status,
                     .reason = why,
                     .msg = resp,
                     .reg = g,
                     .arg = g->arg};
  ua_emit(g->ua, &ev);
}

int sipr_ua_reg_remove(sipr_ua_reg_t *g) {
  sipr_timer_stop(g->ua->loop, &g->t_refresh);
  g->removing = 1;
  return reg_send(g, 0);
}

unsigned sipr_ua_reg_expires(const sipr_ua_reg_t *g) {
  return g->granted;
}

void sipr_ua_reg_free(sipr_ua_reg_t *g) {
  if (!g)
    return;
  sipr_ua_t *ua = g->ua;
  sipr_timer_stop(ua->loop, &g->t_refresh);
  for (sipr_ua_reg_t **pp = &ua->regs; *pp; pp = &(*pp)->next)
    if (*pp == g) {
      *pp = g->next;
      break;
    }
  ua_creq_free(g->req);
  free(g);
}
