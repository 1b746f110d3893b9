/*
 * Dialogs (RFC 3261 §12): creation on either side, requests within a
 * dialog (route set, remote target, CSeq), target refresh, matching.
 */
#include "ua_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ua_dlg_free(sipr_dlg_t *d) {
  if (!d)
    return;
  free(d->call_id);
  free(d->local_tag);
  free(d->remote_tag);
  free(d->local_uri);
  free(d->remote_uri);
  free(d->remote_target);
  free(d->ack);
  for (unsigned i = 0; i < d->nroute; i++)
    free(d->route[i]);
  free(d);
}

/* "<uri>" of an address (display names dropped: the tag identifies). */
static char *addr_text(const sipr_addr_t *a) {
  char *s = malloc(a->uri.raw.len + 3);
  if (s)
    snprintf(s, a->uri.raw.len + 3, "<%.*s>", SIPR_STR_ARG(a->uri.raw));
  return s;
}

/* The Record-Route values of m in order, as "<uri;params>" with their
 * header parameters (§12.1.1 / §12.1.2 take them as written). */
static void collect_rr(sipr_dlg_t *d, sipr_msg_t *m, int reverse) {
  char *tmp[UA_MAX_ROUTES];
  unsigned n = 0;
  for (sipr_hdr_t *h = m->first[SIPR_HDR_RECORD_ROUTE]; h; h = h->next_same) {
    if (sipr_hdr_parse(m, h, NULL) || !h->parsed)
      continue;
    for (sipr_addr_t *a = h->parsed; a && n < UA_MAX_ROUTES; a = a->next) {
      sipr_str_t raw = sipr_str_trim(a->raw);
      tmp[n] = ua_strndup(raw.p, raw.len);
      if (tmp[n])
        n++;
    }
  }
  for (unsigned i = 0; i < n; i++)
    d->route[i] = reverse ? tmp[n - 1 - i] : tmp[i];
  d->nroute = n;
}

static char *contact_uri(sipr_msg_t *m) {
  sipr_addr_t *c = sipr_msg_get(m, SIPR_HDR_CONTACT);
  if (!c || c->star)
    return NULL;
  return ua_strndup(c->uri.raw.p, c->uri.raw.len);
}

void ua_dlg_refresh_target(sipr_dlg_t *d, sipr_msg_t *m) {
  char *t = contact_uri(m); /* §12.2.1.2, §12.2.2: target refresh */
  if (t) {
    free(d->remote_target);
    d->remote_target = t;
  }
}

/* §12.1.2: the UAC's dialog from a 2xx or a 1xx with a To tag. */
sipr_dlg_t *ua_dlg_new_uac(sipr_msg_t *resp, const ua_creq_t *inv) {
  sipr_addr_t *to = sipr_msg_to(resp);
  sipr_addr_t *from = sipr_msg_from(resp);
  if (!to || !to->tag.p || !from || !from->tag.p)
    return NULL;
  sipr_dlg_t *d = calloc(1, sizeof(*d));
  if (!d)
    return NULL;
  sipr_str_t cid = sipr_msg_call_id(resp);
  d->call_id = ua_strndup(cid.p, cid.len);
  d->local_tag = ua_strndup(from->tag.p, from->tag.len);
  d->remote_tag = ua_strndup(to->tag.p, to->tag.len);
  d->local_uri = addr_text(from);
  d->remote_uri = addr_text(to);
  /* The remote target is the Contact; a 1xx without one leaves the
   * Request-URI until a later response brings it. */
  d->remote_target = contact_uri(resp);
  if (!d->remote_target)
    d->remote_target = ua_strdup(inv->ruri);
  collect_rr(d, resp, 1); /* reversed for the UAC */
  d->local_cseq = inv->cseq;
  d->remote_cseq = 0; /* empty */
  d->early = resp->status < 200;
  d->owner = 1;
  if (!d->call_id || !d->local_tag || !d->remote_tag || !d->local_uri ||
      !d->remote_uri || !d->remote_target) {
    ua_dlg_free(d);
    return NULL;
  }
  return d;
}

/* §12.1.1: the UAS's dialog from the request it answers with a To tag. */
sipr_dlg_t *ua_dlg_new_uas(sipr_msg_t *req, const char *local_tag) {
  sipr_addr_t *to = sipr_msg_to(req);
  sipr_addr_t *from = sipr_msg_from(req);
  sipr_cseq_t *cs = sipr_msg_cseq(req);
  if (!to || !from || !from->tag.p || !cs)
    return NULL;
  sipr_dlg_t *d = calloc(1, sizeof(*d));
  if (!d)
    return NULL;
  sipr_str_t cid = sipr_msg_call_id(req);
  d->call_id = ua_strndup(cid.p, cid.len);
  d->local_tag = ua_strdup(local_tag);
  d->remote_tag = ua_strndup(from->tag.p, from->tag.len);
  d->local_uri = addr_text(to);
  d->remote_uri = addr_text(from);
  d->remote_target = contact_uri(req);
  collect_rr(d, req, 0); /* in order for the UAS */
  d->remote_cseq = cs->seq;
  /* The local sequence number starts empty; ours is any value below
   * 2^31 (§8.1.1.5), chosen now. */
  d->local_cseq = (uint32_t)(ua_random() % 10000);
  d->early = 1;
  d->owner = 0;
  if (!d->call_id || !d->local_tag || !d->remote_tag || !d->local_uri ||
      !d->remote_uri || !d->remote_target) {
    ua_dlg_free(d);
    return NULL;
  }
  return d;
}

int ua_dlg_match(const sipr_dlg_t *d, sipr_str_t call_id, sipr_str_t local,
                 sipr_str_t remote) {
  return sipr_str_eq(sipr_str_cstr(d->call_id), call_id) &&
         sipr_str_eq(sipr_str_cstr(d->local_tag), local) &&
         sipr_str_eq(sipr_str_cstr(d->remote_tag), remote);
}

unsigned ua_dlg_check_cseq(sipr_dlg_t *d, sipr_msg_t *req) {
  sipr_cseq_t *cs = sipr_msg_cseq(req);
  if (!cs)
    return 400;
  /* §12.2.2: lower than the remote sequence number: 500. */
  if (d->remote_cseq && cs->seq < d->remote_cseq)
    return 500;
  d->remote_cseq = cs->seq;
  return 0;
}

/* "<uri...>" has ;lr among its URI parameters. */
static int route_lr(const char *route) {
  const char *gt = strchr(route, '>');
  size_t n = gt ? (size_t)(gt - route) : strlen(route);
  for (size_t i = 0; i + 3 <= n; i++)
    if (route[i] == ';' && (route[i + 1] == 'l' || route[i + 1] == 'L') &&
        (route[i + 2] == 'r' || route[i + 2] == 'R') &&
        (i + 3 == n || route[i + 3] == ';' || route[i + 3] == '>'))
      return 1;
  return 0;
}

/* The URI inside "<...>" of a route. */
static char *route_uri(const char *route) {
  const char *lt = strchr(route, '<');
  const char *gt = lt ? strchr(lt, '>') : NULL;
  if (!lt || !gt)
    return ua_strdup(route);
  return ua_strndup(lt + 1, (size_t)(gt - lt - 1));
}

int ua_dlg_fill(sipr_ua_t *ua, sipr_dlg_t *d, ua_creq_t *r, char *err,
                size_t cap) {
  sipr_buf_t b;
  sipr_buf_init(&b);
  free(r->ruri);
  free(r->routes);
  r->routes = NULL;
  int rc;
  if (d->nroute == 0) {
    /* §12.2.1.1: no route set: the remote target, through the outbound
     * proxy when there is one (§8.1.2). */
    r->ruri = ua_strdup(d->remote_target);
    if (ua->proxy) {
      sipr_buf_printf(&b, "Route: <%s%s>\r\n", ua->proxy,
                      strstr(ua->proxy, ";lr") ? "" : ";lr");
      rc = ua_next_hop(ua, ua->proxy, r->ruri, &r->dest, err, cap);
    } else {
      rc = ua_next_hop(ua, NULL, r->ruri, &r->dest, err, cap);
    }
  } else if (route_lr(d->route[0])) {
    /* Loose routing: the remote target, every route in Route. */
    r->ruri = ua_strdup(d->remote_target);
    for (unsigned i = 0; i < d->nroute; i++)
      sipr_buf_printf(&b, "Route: %s\r\n", d->route[i]);
    rc = ua_next_hop(ua, d->route[0], r->ruri, &r->dest, err, cap);
  } else {
    /* Strict routing: the first route becomes the Request-URI, the
     * remote target goes last in Route. */
    r->ruri = route_uri(d->route[0]);
    for (unsigned i = 1; i < d->nroute; i++)
      sipr_buf_printf(&b, "Route: %s\r\n", d->route[i]);
    sipr_buf_printf(&b, "Route: <%s>\r\n", d->remote_target);
    rc = ua_next_hop(ua, d->route[0], r->ruri, &r->dest, err, cap);
  }
  if (b.len)
    r->routes = ua_strndup(b.p, b.len);
  sipr_buf_free(&b);
  if (!r->ruri)
    return SIPR_ENOMEM;
  return rc;
}

ua_creq_t *ua_dlg_request(sipr_ua_t *ua, sipr_dlg_t *d, ua_creq_kind_t kind,
                          const char *method, char *err, size_t cap) {
  ua_creq_t *r = ua_creq_new(ua, kind, method);
  if (!r)
    return NULL;
  size_t tl = strlen(d->remote_uri) + strlen(d->remote_tag) + 8;
  size_t fl = strlen(d->local_uri) + strlen(d->local_tag) + 8;
  r->to = malloc(tl);
  r->from = malloc(fl);
  r->call_id = ua_strdup(d->call_id);
  if (!r->to || !r->from || !r->call_id) {
    ua_creq_free(r);
    return NULL;
  }
  /* §12.2.1.1: To = remote URI + remote tag, From = local URI + tag. */
  snprintf(r->to, tl, "%s;tag=%s", d->remote_uri, d->remote_tag);
  snprintf(r->from, fl, "%s;tag=%s", d->local_uri, d->local_tag);
  /* §12.2.1.1: CSeq one above the local sequence number (ACK and CANCEL
   * take the INVITE's, set by the caller). */
  if (strcmp(method, "ACK") && strcmp(method, "CANCEL"))
    r->cseq = ++d->local_cseq;
  if (ua_dlg_fill(ua, d, r, err, cap) != 0) {
    ua_creq_free(r);
    return NULL;
  }
  return r;
}

/* ---- accessors ----------------------------------------------------------- */
const char *sipr_dlg_call_id(const sipr_dlg_t *d) {
  return d->call_id;
}
const char *sipr_dlg_local_tag(const sipr_dlg_t *d) {
  return d->local_tag;
}
const char *sipr_dlg_remote_tag(const sipr_dlg_t *d) {
  return d->remote_tag;
}
const char *sipr_dlg_remote_target(const sipr_dlg_t *d) {
  return d->remote_target;
}
unsigned sipr_dlg_route_count(const sipr_dlg_t *d) {
  return d->nroute;
}
const char *sipr_dlg_route(const sipr_dlg_t *d, unsigned i) {
  return i < d->nroute ? d->route[i] : NULL;
}
uint32_t sipr_dlg_local_cseq(const sipr_dlg_t *d) {
  return d->local_cseq;
}
uint32_t sipr_dlg_remote_cseq(const sipr_dlg_t *d) {
  return d->remote_cseq;
}
int sipr_dlg_early(const sipr_dlg_t *d) {
  return d->early;
}
