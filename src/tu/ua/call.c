/*
 * INVITE sessions (RFC 3261 §13-§15, §9): the UAC (INVITE, early dialogs
 * from 1xx, ACK for each 2xx and again for its retransmissions, extra
 * 2xx of a fork ACKed then ended with BYE, CANCEL) and the UAS (ringing,
 * answering with 2xx retransmitted until the ACK, CANCEL with 487), BYE,
 * re-INVITE with 491 glare and the §14.1 retry timer.
 */
#include "ua_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTYPE_SDP "application/sdp"

static void call_emit(sipr_call_t *c, sipr_ua_ev_type_t type, unsigned status,
                      const char *reason, sipr_msg_t *msg) {
  sipr_ua_ev_t ev = {.type = type,
                     .status = status,
                     .reason = reason,
                     .msg = msg,
                     .call = c,
                     .arg = c->arg};
  ua_emit(c->ua, &ev);
}

static void gone_cb(sipr_loop_t *loop, void *arg) {
  (void)loop;
  sipr_call_t *c = arg;
  call_emit(c, SIPR_UA_EV_GONE, 0, "gone", NULL);
  ua_call_free(c);
}

/* The call is over: GONE and the free happen from the loop, after the
 * callback that ended it has returned. */
static void call_finish(sipr_call_t *c) {
  c->state = CALL_DONE;
  sipr_timer_stop(c->ua->loop, &c->t_2xx);
  sipr_timer_stop(c->ua->loop, &c->t_glare);
  if (!c->gone_pending) {
    c->gone_pending = 1;
    sipr_timer_start(c->ua->loop, &c->t_gone, 0);
  }
}

static sipr_dlg_t *find_dlg(sipr_call_t *c, sipr_str_t remote_tag) {
  for (unsigned i = 0; i < c->ndlg; i++)
    if (sipr_str_eq(sipr_str_cstr(c->dlg[i]->remote_tag), remote_tag))
      return c->dlg[i];
  return NULL;
}

sipr_dlg_t *sipr_call_dialog(const sipr_call_t *c) {
  if (c->confirmed_idx >= 0)
    return c->dlg[c->confirmed_idx];
  return c->ndlg ? c->dlg[0] : NULL;
}

static void set_remote_sdp(sipr_call_t *c, sipr_msg_t *m) {
  if (!m->body.len)
    return;
  free(c->remote_sdp);
  c->remote_sdp = ua_strndup(m->body.p, m->body.len);
}

/* ---- UAC ----------------------------------------------------------------- */
static void glare_cb(sipr_loop_t *loop, void *arg);
static void retrans_cb(sipr_loop_t *loop, void *arg);

static sipr_call_t *call_alloc(sipr_ua_t *ua, int uac, void *arg) {
  sipr_call_t *c = calloc(1, sizeof(*c));
  if (!c)
    return NULL;
  c->ua = ua;
  c->uac = uac;
  c->arg = arg;
  c->confirmed_idx = -1;
  c->sdp_version = 1;
  sipr_timer_init(&c->t_2xx, retrans_cb, c);
  sipr_timer_init(&c->t_glare, glare_cb, c);
  sipr_timer_init(&c->t_gone, gone_cb, c);
  sipr_arena_init(&c->inv_arena, NULL, 0, 1 << 20);
  c->next = ua->calls;
  ua->calls = c;
  return c;
}

int sipr_ua_call(sipr_ua_t *ua, const char *ruri, const char *sdp, void *arg,
                 sipr_call_t **out, char *err, size_t cap) {
  sipr_call_t *c = call_alloc(ua, 1, arg);
  if (!c)
    return SIPR_ENOMEM;
  c->state = CALL_CALLING;
  ua_creq_t *r = ua_creq_new(ua, CREQ_INVITE, "INVITE");
  int rc = r ? 0 : SIPR_ENOMEM;
  c->invite = r;
  if (rc == 0) {
    r->owner = c;
    r->follow_redirects = ua->follow_redirects;
    rc = ua_creq_prepare(r, ruri, NULL, err, cap);
  }
  if (rc == 0 && sdp) {
    r->ctype = ua_strdup(CTYPE_SDP);
    r->body = ua_strdup(sdp);
    r->body_len = strlen(sdp);
    c->local_sdp = ua_strdup(sdp);
    if (!r->ctype || !r->body || !c->local_sdp)
      rc = SIPR_ENOMEM;
  }
  if (rc == 0) {
    c->call_id = ua_strdup(r->call_id);
    rc = ua_creq_send(r);
    if (rc && err && cap)
      snprintf(err, cap, "cannot send the INVITE (%s)", sipr_strerror(rc));
  }
  if (rc) {
    ua_call_free(c);
    return rc;
  }
  if (out)
    *out = c;
  return 0;
}

/* §13.2.2.4: the ACK for a 2xx is built by the UA core: the dialog's
 * route set and remote target, the INVITE's CSeq number, a new branch,
 * the INVITE's credentials; sent straight to the transport, kept in the
 * dialog for the 2xx's retransmissions. */
static int send_ack(sipr_call_t *c, sipr_dlg_t *d, const ua_creq_t *inv,
                    uint32_t cseq) {
  sipr_ua_t *ua = c->ua;
  ua_creq_t *a = ua_dlg_request(ua, d, CREQ_DLG, "ACK", NULL, 0);
  if (!a)
    return SIPR_ENOMEM;
  a->cseq = cseq;
  if (inv && inv->auth_lines)
    a->auth_lines = ua_strdup(inv->auth_lines);
  char branch[48];
  sipr_buf_t b;
  sipr_buf_init(&b);
  int rc =
      sipr_txn_new_branch(ua->txl, branch, sizeof(branch)) ? 0 : SIPR_EINVAL;
  if (rc == 0)
    rc = ua_creq_build(a, "ACK", branch, &b);
  if (rc == 0) {
    free(d->ack);
    d->ack = b.p;
    d->ack_len = b.len;
    d->ack_cseq = cseq;
    d->ack_dest = a->dest;
    b.p = NULL;
    rc =
        ua->tp.send_request(ua->tp_ctx, &d->ack_dest, d->ack, d->ack_len, NULL);
  }
  sipr_buf_free(&b);
  ua_creq_free(a);
  return rc;
}

static int send_bye(sipr_call_t *c, sipr_dlg_t *d, int fork) {
  ua_creq_t *r = ua_dlg_request(c->ua, d, CREQ_DLG, "BYE", NULL, 0);
  if (!r)
    return SIPR_ENOMEM;
  r->owner = c;
  r->fork_bye = fork;
  int rc = ua_creq_send(r);
  if (rc) {
    ua_creq_free(r);
    return rc;
  }
  if (!fork) {
    if (c->bye)
      ua_creq_free(c->bye);
    c->bye = r;
    c->state = CALL_ENDING;
  }
  return 0;
}

static int send_cancel(sipr_call_t *c) {
  ua_creq_t *inv = c->invite;
  if (!inv || !inv->txn)
    return SIPR_EINVAL;
  /* §9.1: the INVITE's Request-URI, Call-ID, To, From, CSeq number, Route
   * and top Via (same branch); method CANCEL. */
  ua_creq_t *r = ua_creq_new(c->ua, CREQ_CANCEL, "CANCEL");
  if (!r)
    return SIPR_ENOMEM;
  r->ruri = ua_strdup(inv->ruri);
  r->to = ua_strdup(inv->to);
  r->from = ua_strdup(inv->from);
  r->call_id = ua_strdup(inv->call_id);
  r->routes = inv->routes ? ua_strdup(inv->routes) : NULL;
  r->cseq = inv->cseq;
  r->dest = inv->dest;
  snprintf(r->branch, sizeof(r->branch), "%s", inv->branch);
  sipr_buf_t b;
  sipr_buf_init(&b);
  int rc = (r->ruri && r->to && r->from && r->call_id) ? 0 : SIPR_ENOMEM;
  if (rc == 0)
    rc = ua_creq_build(r, "CANCEL", r->branch, &b);
  if (rc == 0)
    rc = sipr_txn_client_new(c->ua->txl, b.p, b.len, &r->dest, r, &r->txn);
  sipr_buf_free(&b);
  if (rc) {
    ua_creq_free(r);
    return rc;
  }
  c->cancelled = 1;
  return 0;
}

int sipr_call_cancel(sipr_call_t *c) {
  if (!c->uac || (c->state != CALL_CALLING && c->state != CALL_EARLY))
    return SIPR_EINVAL;
  /* §9.1: no CANCEL before a provisional response; it leaves when one
   * arrives. */
  if (!c->provisional) {
    c->cancel_wanted = 1;
    return 0;
  }
  if (c->cancelled)
    return 0;
  return send_cancel(c);
}

static void glare_cb(sipr_loop_t *loop, void *arg) {
  (void)loop;
  sipr_call_t *c = arg;
  if (c->state != CALL_CONFIRMED || !c->reinv_sdp)
    return;
  char *sdp = c->reinv_sdp;
  c->reinv_sdp = NULL;
  c->reinv_out = 0;
  if (sipr_call_reinvite(c, sdp) != 0)
    call_emit(c, SIPR_UA_EV_REINVITE, 500, "re-INVITE retry failed", NULL);
  free(sdp);
}

static void reinvite_response(sipr_call_t *c, ua_creq_t *r, sipr_msg_t *resp) {
  unsigned st = resp->status;
  if (st < 200)
    return;
  sipr_dlg_t *d = sipr_call_dialog(c);
  if (st < 300) {
    if (d) {
      /* §12.2.1.2: a 2xx to a re-INVITE refreshes the target. */
      ua_dlg_refresh_target(d, resp);
      send_ack(c, d, r, r->cseq);
    }
    set_remote_sdp(c, resp);
    c->reinv_out = 0;
    call_emit(c, SIPR_UA_EV_REINVITE, st, NULL, resp);
    return;
  }
  if (st == 491 && d) {
    /* §14.1: retry after T: 2.1-4 s when we own the Call-ID, else 0-2 s,
     * in units of 10 ms. */
    uint64_t t =
        d->owner ? 2100 + (ua_random() % 191) * 10 : (ua_random() % 201) * 10;
    c->reinv_sdp = r->body ? ua_strdup(r->body) : ua_strdup("");
    sipr_timer_start(c->ua->loop, &c->t_glare, t);
    call_emit(c, SIPR_UA_EV_REINVITE, st, NULL, resp);
    return;
  }
  c->reinv_out = 0;
  call_emit(c, SIPR_UA_EV_REINVITE, st, NULL, resp);
  /* §14.1: 481 or 408 to a re-INVITE ends the dialog. */
  if ((st == 481 || st == 408) && c->state == CALL_CONFIRMED && d) {
    if (send_bye(c, d, 0) != 0)
      call_finish(c);
  }
}

void ua_call_response(ua_creq_t *r, sipr_msg_t *resp) {
  sipr_call_t *c = r->owner;
  unsigned st = resp->status;
  sipr_addr_t *to = sipr_msg_to(resp);
  sipr_cseq_t *cs = sipr_msg_cseq(resp);
  /* Any 2xx: a retransmission of one we ACKed gets the same ACK again
   * (§13.2.2.4). */
  if (st >= 200 && st < 300 && to && to->tag.p && cs) {
    sipr_dlg_t *d = find_dlg(c, to->tag);
    if (d && d->ack && d->ack_cseq == cs->seq) {
      c->ua->tp.send_request(c->ua->tp_ctx, &d->ack_dest, d->ack, d->ack_len,
                             NULL);
      return;
    }
  }
  if (c->reinv_out) {
    reinvite_response(c, r, resp);
    return;
  }
  if (st < 200) {
    if (c->state == CALL_CALLING)
      c->state = CALL_EARLY;
    c->provisional = 1;
    /* §12.1.2: a 1xx with a To tag makes an early dialog (one per tag:
     * forking may make several). */
    if (st > 100 && to && to->tag.p) {
      sipr_dlg_t *d = find_dlg(c, to->tag);
      if (!d && c->ndlg < UA_MAX_DLGS && (d = ua_dlg_new_uac(resp, r)))
        c->dlg[c->ndlg++] = d;
      else if (d)
        ua_dlg_refresh_target(d, resp);
    }
    call_emit(c, SIPR_UA_EV_PROGRESS, st, NULL, resp);
    if (c->cancel_wanted && !c->cancelled && c->state == CALL_EARLY)
      send_cancel(c);
    return;
  }
  if (st >= 300) {
    if (c->state == CALL_CONFIRMED || c->state == CALL_ENDING ||
        c->state == CALL_DONE)
      return; /* a fork's late failure after another branch answered */
    if (st < 400 && !c->cancelled && !c->cancel_wanted &&
        ua_creq_redirect(r, resp)) {
      /* §8.1.3.4: a new INVITE to the next Contact; the early dialogs
       * of the old target are gone. */
      for (unsigned i = 0; i < c->ndlg; i++)
        ua_dlg_free(c->dlg[i]);
      c->ndlg = 0;
      c->provisional = 0;
      c->state = CALL_CALLING;
      call_emit(c, SIPR_UA_EV_PROGRESS, st, NULL, resp);
      return;
    }
    call_emit(c, SIPR_UA_EV_FAILED, st, NULL, resp);
    call_finish(c);
    return;
  }
  /* A new 2xx. */
  if (!to || !to->tag.p)
    return;
  sipr_dlg_t *d = find_dlg(c, to->tag);
  if (!d) {
    if (c->ndlg >= UA_MAX_DLGS || !(d = ua_dlg_new_uac(resp, r)))
      return;
    c->dlg[c->ndlg++] = d;
  }
  /* §12.1.2 / §13.2.2.4: the 2xx confirms the dialog; its Contact and
   * Record-Route are the ones that count. */
  d->early = 0;
  ua_dlg_refresh_target(d, resp);
  for (unsigned i = 0; i < d->nroute; i++)
    free(d->route[i]);
  d->nroute = 0;
  {
    sipr_dlg_t *fresh = ua_dlg_new_uac(resp, r);
    if (fresh) {
      for (unsigned i = 0; i < fresh->nroute; i++) {
        d->route[i] = fresh->route[i];
        fresh->route[i] = NULL;
      }
      d->nroute = fresh->nroute;
      fresh->nroute = 0;
      ua_dlg_free(fresh);
    }
  }
  send_ack(c, d, r, cs ? cs->seq : r->cseq);
  int idx = -1;
  for (unsigned i = 0; i < c->ndlg; i++)
    if (c->dlg[i] == d)
      idx = (int)i;
  if (c->confirmed_idx >= 0 && c->confirmed_idx != idx) {
    /* §13.2.2.4: another branch of a fork answered too: ACK it (done),
     * then end that dialog with BYE. */
    call_emit(c, SIPR_UA_EV_FORK_BYE, st, NULL, resp);
    send_bye(c, d, 1);
    return;
  }
  c->confirmed_idx = idx;
  set_remote_sdp(c, resp);
  if (c->cancelled || c->cancel_wanted) {
    /* §9.1: the CANCEL came too late; the call is ended with BYE. */
    c->state = CALL_CONFIRMED;
    call_emit(c, SIPR_UA_EV_ANSWERED, st, NULL, resp);
    if (c->state == CALL_CONFIRMED && send_bye(c, d, 0) != 0)
      call_finish(c);
    return;
  }
  c->state = CALL_CONFIRMED;
  call_emit(c, SIPR_UA_EV_ANSWERED, st, NULL, resp);
}

void ua_call_failed(ua_creq_t *r, unsigned status, const char *why) {
  sipr_call_t *c = r->owner;
  r->done = 1;
  if (c->reinv_out) {
    c->reinv_out = 0;
    call_emit(c, SIPR_UA_EV_REINVITE, status, why, NULL);
    return;
  }
  if (c->state == CALL_CALLING || c->state == CALL_EARLY) {
    call_emit(c, SIPR_UA_EV_FAILED, status, why, NULL);
    call_finish(c);
  }
}

void ua_call_dlg_response(ua_creq_t *r, unsigned status, sipr_msg_t *resp) {
  sipr_call_t *c = r->owner;
  r->done = 1;
  if (r->fork_bye || !c) {
    ua_creq_free(r);
    return;
  }
  if (r == c->bye) {
    /* §15.1.1: the session ended when the BYE was sent; its response
     * (or timeout) ends the call. */
    call_emit(c, SIPR_UA_EV_ENDED, c->no_ack ? 408 : status,
              c->no_ack ? "no ACK for our 2xx" : NULL, c->no_ack ? NULL : resp);
    call_finish(c);
  }
}

int sipr_call_reinvite(sipr_call_t *c, const char *sdp) {
  sipr_dlg_t *d = sipr_call_dialog(c);
  if (c->state != CALL_CONFIRMED || !d || c->reinv_out || c->reinv_in ||
      sipr_timer_armed(&c->t_glare))
    return SIPR_EINVAL;
  ua_creq_t *r = ua_dlg_request(c->ua, d, CREQ_INVITE, "INVITE", NULL, 0);
  if (!r)
    return SIPR_ENOMEM;
  r->owner = c;
  if (sdp && *sdp) {
    r->ctype = ua_strdup(CTYPE_SDP);
    r->body = ua_strdup(sdp);
    r->body_len = strlen(sdp);
  }
  int rc = ua_creq_send(r);
  if (rc) {
    ua_creq_free(r);
    return rc;
  }
  /* The previous INVITE's 2xx retransmissions are ACKed from its dialog
   * (ua_call_stray_2xx). */
  if (c->invite)
    ua_creq_free(c->invite);
  c->invite = r;
  c->reinv_out = 1;
  return 0;
}

/* ---- UAS ----------------------------------------------------------------- */
static int copy_invite(sipr_call_t *c, sipr_msg_t *req,
                       const sipr_tp_src_t *src) {
  char *buf = ua_strndup(req->buf, req->len);
  if (!buf)
    return SIPR_ENOMEM;
  sipr_arena_reset(&c->inv_arena);
  sipr_msg_t *m = NULL;
  sipr_perr_t perr;
  if (sipr_msg_parse(&c->inv_arena, buf, req->len, SIPR_PARSE_DATAGRAM, &m,
                     &perr) != 0 ||
      sipr_msg_check(m, &perr) != 0) {
    free(buf);
    return SIPR_EPARSE;
  }
  free(c->inv_buf);
  c->inv_buf = buf;
  c->inv = m;
  if (src)
    c->inv_src = *src;
  return 0;
}

/* Header lines of a dialog-making response (§12.1.1): Record-Route copied
 * from the request, our Contact, Allow. */
static void dialog_lines(sipr_call_t *c, sipr_msg_t *req, sipr_buf_t *x) {
  for (sipr_hdr_t *h = req->first[SIPR_HDR_RECORD_ROUTE]; h; h = h->next_same)
    sipr_buf_printf(x, "Record-Route: %.*s\r\n", SIPR_STR_ARG(h->value));
  ua_contact_line(c->ua, x);
  sipr_buf_printf(x, "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE\r\n"
                     "Supported: \r\n");
}

void ua_call_new_invite(sipr_ua_t *ua, sipr_txn_t *st, sipr_msg_t *req,
                        const sipr_tp_src_t *src) {
  sipr_addr_t *from = sipr_msg_from(req);
  sipr_cseq_t *cs = sipr_msg_cseq(req);
  sipr_str_t cid = sipr_msg_call_id(req);
  /* §8.2.2.2: merged request: same From tag, Call-ID and CSeq as a
   * request in progress, another transaction: 482. */
  for (sipr_call_t *o = ua->calls; o && from && cs; o = o->next) {
    if (o->uac || !o->inv || o->st == st || o->state == CALL_DONE)
      continue;
    sipr_addr_t *of = sipr_msg_from(o->inv);
    sipr_cseq_t *ocs = sipr_msg_cseq(o->inv);
    if (of && ocs && sipr_str_eq(sipr_msg_call_id(o->inv), cid) &&
        sipr_str_eq(of->tag, from->tag) && ocs->seq == cs->seq) {
      ua_respond(ua, st, req, 482, NULL, NULL, NULL, NULL, NULL);
      return;
    }
  }
  /* §8.1.1.8: an INVITE carries exactly the Contact the dialog needs. */
  sipr_addr_t *contact = sipr_msg_get(req, SIPR_HDR_CONTACT);
  if (!contact || contact->star || !from || !from->tag.p) {
    ua_respond(ua, st, req, 400,
               !contact ? "Missing Contact" : "Bad Contact or From", NULL, NULL,
               NULL, NULL);
    return;
  }
  /* §8.2.3: a body we do not understand: 415 with Accept. */
  if (req->body.len) {
    sipr_ctype_t *ct = sipr_msg_get(req, SIPR_HDR_CONTENT_TYPE);
    if (!ct || !SIPR_STR_CASEEQ_LIT(ct->type, "application") ||
        !SIPR_STR_CASEEQ_LIT(ct->subtype, "sdp")) {
      ua_respond(ua, st, req, 415, NULL, NULL, "Accept: application/sdp\r\n",
                 NULL, NULL);
      return;
    }
  }
  sipr_call_t *c = call_alloc(ua, 0, NULL);
  if (!c || copy_invite(c, req, src) != 0) {
    if (c)
      ua_call_free(c);
    ua_respond(ua, st, req, 500, NULL, NULL, NULL, NULL, NULL);
    return;
  }
  c->st = st;
  c->state = CALL_EARLY;
  c->call_id = ua_strndup(cid.p, cid.len);
  ua_new_tag(c->local_tag);
  set_remote_sdp(c, req);
  call_emit(c, SIPR_UA_EV_INCOMING, 0, "INVITE", req);
}

static int ensure_uas_dlg(sipr_call_t *c) {
  if (c->ndlg)
    return 0;
  sipr_dlg_t *d = ua_dlg_new_uas(c->inv, c->local_tag);
  if (!d)
    return SIPR_EINVAL;
  c->dlg[c->ndlg++] = d;
  return 0;
}

int sipr_call_ring(sipr_call_t *c) {
  if (c->uac || c->state != CALL_EARLY || !c->st)
    return SIPR_EINVAL;
  /* §12.1.1: a 1xx with a To tag makes an early dialog. */
  ensure_uas_dlg(c);
  sipr_buf_t x;
  sipr_buf_init(&x);
  dialog_lines(c, c->inv, &x);
  int rc = ua_respond(c->ua, c->st, c->inv, 180, NULL, c->local_tag, x.p, NULL,
                      NULL);
  sipr_buf_free(&x);
  return rc;
}

static int send_2xx(sipr_call_t *c) {
  sipr_via_t *via = sipr_msg_via(c->inv);
  if (!via)
    return SIPR_EINVAL;
  return c->ua->tp.send_response(c->ua->tp_ctx, &c->inv_src, via, c->ok,
                                 c->ok_len);
}

/* §13.3.1.4: the 2xx is re-sent at T1, 2*T1, ... capped at T2, until the
 * ACK; after 64*T1 without one the dialog is ended with BYE. */
static void retrans_cb(sipr_loop_t *loop, void *arg) {
  sipr_call_t *c = arg;
  uint64_t now = sipr_loop_now(loop);
  if (now - c->t_2xx_start >= 64ull * c->ua->t1) {
    c->reinv_in = 0;
    c->no_ack = 1;
    c->state = CALL_CONFIRMED;
    sipr_dlg_t *d = sipr_call_dialog(c);
    if (!d || send_bye(c, d, 0) != 0) {
      call_emit(c, SIPR_UA_EV_ENDED, 408, "no ACK for our 2xx", NULL);
      call_finish(c);
    }
    return;
  }
  if (!sipr_tp_reliable(c->inv_src.remote.proto))
    send_2xx(c);
  c->t_2xx_next = c->t_2xx_next * 2;
  if (c->t_2xx_next > c->ua->t2)
    c->t_2xx_next = c->ua->t2;
  /* The last wait ends at 64*T1 exactly. */
  uint64_t left = c->t_2xx_start + 64ull * c->ua->t1 - now;
  sipr_timer_start(loop, &c->t_2xx,
                   c->t_2xx_next < left ? c->t_2xx_next : left);
}

/* Builds our 2xx to c->inv with sdp, sends it (on the transaction when it
 * is still there) and starts its retransmission. */
static int answer_2xx(sipr_call_t *c, sipr_txn_t *st, const char *sdp) {
  sipr_buf_t x, b;
  sipr_buf_init(&x);
  sipr_buf_init(&b);
  dialog_lines(c, c->inv, &x);
  int rc = ua_build_response(c->ua, &b, c->inv, 200, NULL, c->local_tag, x.p,
                             sdp ? CTYPE_SDP : NULL, sdp);
  sipr_buf_free(&x);
  if (rc) {
    sipr_buf_free(&b);
    return rc;
  }
  free(c->ok);
  c->ok = b.p;
  c->ok_len = b.len;
  sipr_cseq_t *cs = sipr_msg_cseq(c->inv);
  c->ok_cseq = cs ? cs->seq : 0;
  rc = st ? sipr_txn_respond(st, c->ok, c->ok_len) : send_2xx(c);
  if (rc == 0 && !sipr_tp_reliable(c->inv_src.remote.proto)) {
    c->t_2xx_start = sipr_loop_now(c->ua->loop);
    c->t_2xx_next = c->ua->t1;
    sipr_timer_start(c->ua->loop, &c->t_2xx, c->t_2xx_next);
  } else if (rc == 0) {
    /* Reliable transport: no retransmission, but the ACK is still
     * awaited for 64*T1 (§13.3.1.4). */
    c->t_2xx_start = sipr_loop_now(c->ua->loop);
    c->t_2xx_next = 64ull * c->ua->t1;
    sipr_timer_start(c->ua->loop, &c->t_2xx, c->t_2xx_next);
  }
  return rc;
}

int sipr_call_answer(sipr_call_t *c, const char *sdp) {
  if (c->uac || c->state != CALL_EARLY || !c->st)
    return SIPR_EINVAL;
  if (ensure_uas_dlg(c) != 0)
    return SIPR_EINVAL;
  free(c->local_sdp);
  c->local_sdp = sdp ? ua_strdup(sdp) : NULL;
  int rc = answer_2xx(c, c->st, sdp);
  if (rc == 0) {
    c->dlg[0]->early = 0;
    c->confirmed_idx = 0;
    c->state = CALL_ANSWERED;
  }
  return rc;
}

int sipr_call_reject(sipr_call_t *c, unsigned status) {
  if (c->uac || c->state != CALL_EARLY || !c->st || status < 300 ||
      status > 699)
    return SIPR_EINVAL;
  int rc = ua_respond(c->ua, c->st, c->inv, status, NULL, c->local_tag, NULL,
                      NULL, NULL);
  call_finish(c);
  return rc;
}

int sipr_call_hangup(sipr_call_t *c) {
  switch (c->state) {
  case CALL_CALLING:
  case CALL_EARLY:
    if (c->uac)
      return sipr_call_cancel(c);
    return sipr_call_reject(c, 480);
  case CALL_ANSWERED:
    /* §15: the callee sends no BYE before the ACK (or its timeout). */
    c->bye_wanted = 1;
    return 0;
  case CALL_CONFIRMED: {
    sipr_dlg_t *d = sipr_call_dialog(c);
    sipr_timer_stop(c->ua->loop, &c->t_glare);
    if (!d)
      return SIPR_EINVAL;
    int rc = send_bye(c, d, 0);
    if (rc)
      call_finish(c);
    return rc;
  }
  default:
    return SIPR_EINVAL;
  }
}

/* Finds the call and dialog a request within a dialog belongs to:
 * Call-ID, our tag in To, theirs in From (§12.2.2). */
static sipr_call_t *find_call(sipr_ua_t *ua, sipr_msg_t *m, int we_are_to,
                              sipr_dlg_t **dout) {
  sipr_addr_t *to = sipr_msg_to(m), *from = sipr_msg_from(m);
  if (!to || !from)
    return NULL;
  sipr_str_t local = we_are_to ? to->tag : from->tag;
  sipr_str_t remote = we_are_to ? from->tag : to->tag;
  sipr_str_t cid = sipr_msg_call_id(m);
  for (sipr_call_t *c = ua->calls; c; c = c->next)
    for (unsigned i = 0; i < c->ndlg; i++)
      if (ua_dlg_match(c->dlg[i], cid, local, remote)) {
        *dout = c->dlg[i];
        return c;
      }
  return NULL;
}

int ua_call_request(sipr_ua_t *ua, sipr_txn_t *st, sipr_msg_t *req,
                    const sipr_tp_src_t *src) {
  sipr_dlg_t *d = NULL;
  sipr_call_t *c = find_call(ua, req, 1, &d);
  if (!c || c->state == CALL_DONE)
    return 0; /* §12.2.2: 481 */
  unsigned bad = ua_dlg_check_cseq(d, req);
  if (bad) {
    ua_respond(ua, st, req, bad, bad == 500 ? "CSeq Out of Order" : NULL,
               d->local_tag, NULL, NULL, NULL);
    return 1;
  }
  switch (req->method_id) {
  case SIPR_METHOD_BYE:
    /* §15.1.2 */
    ua_respond(ua, st, req, 200, NULL, d->local_tag, NULL, NULL, NULL);
    if (c->bye && c->state == CALL_ENDING)
      return 1; /* both sides said BYE; ours ends the call */
    if (!c->uac && c->st && c->state == CALL_EARLY)
      ua_respond(ua, c->st, c->inv, 487, NULL, c->local_tag, NULL, NULL, NULL);
    call_emit(c, SIPR_UA_EV_ENDED, 200, "BYE received", req);
    call_finish(c);
    return 1;
  case SIPR_METHOD_INVITE: {
    /* §14.2: a re-INVITE while ours is pending: 491; while the peer's
     * previous one is still being answered: 500 with Retry-After. */
    if (c->reinv_out) {
      ua_respond(ua, st, req, 491, NULL, d->local_tag, NULL, NULL, NULL);
      return 1;
    }
    if (c->reinv_in || c->state != CALL_CONFIRMED) {
      ua_respond(ua, st, req, 500, NULL, d->local_tag, "Retry-After: 1\r\n",
                 NULL, NULL);
      return 1;
    }
    if (copy_invite(c, req, src) != 0) {
      ua_respond(ua, st, req, 500, NULL, d->local_tag, NULL, NULL, NULL);
      return 1;
    }
    ua_dlg_refresh_target(d, req); /* §12.2.2 target refresh */
    set_remote_sdp(c, req);
    /* RFC 3264 §8: the same session, version one higher. */
    sipr_buf_t sdp;
    sipr_buf_init(&sdp);
    if (c->local_sdp) {
      sipr_sdp_t parsed;
      int port = 0;
      if (sipr_sdp_parse(sipr_str_cstr(c->local_sdp), &parsed) == 0 &&
          parsed.nm)
        port = parsed.m[0].port;
      sipr_sdp_build(&sdp, ua->host, port, (uint64_t)(uintptr_t)c & 0xffffff,
                     ++c->sdp_version);
    }
    c->reinv_in = 1;
    if (answer_2xx(c, st, sdp.len ? sdp.p : NULL) == 0 && sdp.len) {
      free(c->local_sdp);
      c->local_sdp = ua_strndup(sdp.p, sdp.len);
    }
    sipr_buf_free(&sdp);
    call_emit(c, SIPR_UA_EV_REINVITE, 200, "re-INVITE answered", req);
    return 1;
  }
  case SIPR_METHOD_MESSAGE: {
    ua_respond(ua, st, req, 200, NULL, d->local_tag, NULL, NULL, NULL);
    sipr_ua_ev_t ev = {.type = SIPR_UA_EV_MESSAGE,
                       .status = 200,
                       .msg = req,
                       .call = c,
                       .arg = c->arg,
                       .reason = "MESSAGE"};
    ua_emit(ua, &ev);
    return 1;
  }
  case SIPR_METHOD_OPTIONS:
  case SIPR_METHOD_INFO:
    ua_respond(ua, st, req, 200, NULL, d->local_tag, NULL, NULL, NULL);
    return 1;
  case SIPR_METHOD_UNKNOWN:
    ua_respond(ua, st, req, 501, NULL, d->local_tag,
               "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE\r\n", NULL,
               NULL);
    return 1;
  default:
    ua_respond(ua, st, req, 405, NULL, d->local_tag,
               "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE\r\n", NULL,
               NULL);
    return 1;
  }
}

void ua_call_ack(sipr_ua_t *ua, sipr_msg_t *ack) {
  if (ack->method_id != SIPR_METHOD_ACK)
    return;
  sipr_dlg_t *d = NULL;
  sipr_call_t *c = find_call(ua, ack, 1, &d);
  sipr_cseq_t *cs = sipr_msg_cseq(ack);
  if (!c || !cs || !sipr_timer_armed(&c->t_2xx) || cs->seq != c->ok_cseq)
    return; /* §17.2.3: an ACK for nothing we wait for is dropped */
  sipr_timer_stop(ua->loop, &c->t_2xx);
  if (ack->body.len)
    set_remote_sdp(c, ack);
  if (c->reinv_in) {
    c->reinv_in = 0;
    return;
  }
  c->state = CALL_CONFIRMED;
  call_emit(c, SIPR_UA_EV_ANSWERED, 200, "ACK received", ack);
  if (c->bye_wanted && c->state == CALL_CONFIRMED)
    sipr_call_hangup(c);
}

void ua_call_stray_2xx(sipr_ua_t *ua, sipr_msg_t *resp) {
  sipr_dlg_t *d = NULL;
  sipr_cseq_t *cs = sipr_msg_cseq(resp);
  if (!cs)
    return;
  if (find_call(ua, resp, 0, &d)) {
    if (d->ack && d->ack_cseq == cs->seq)
      ua->tp.send_request(ua->tp_ctx, &d->ack_dest, d->ack, d->ack_len, NULL);
    return;
  }
  /* §13.2.2.4: a 2xx from another branch of a fork after the INVITE
   * transaction ended: a dialog of its own, ACKed, then BYE. */
  sipr_addr_t *from = sipr_msg_from(resp), *to = sipr_msg_to(resp);
  if (!from || !to || !to->tag.p)
    return;
  sipr_str_t cid = sipr_msg_call_id(resp);
  for (sipr_call_t *c = ua->calls; c; c = c->next) {
    if (!c->uac || !c->invite || c->confirmed_idx < 0 ||
        c->ndlg >= UA_MAX_DLGS ||
        !sipr_str_eq(sipr_str_cstr(c->call_id), cid) ||
        !sipr_str_eq(sipr_str_cstr(c->dlg[c->confirmed_idx]->local_tag),
                     from->tag))
      continue;
    sipr_dlg_t *nd = ua_dlg_new_uac(resp, c->invite);
    if (!nd)
      return;
    nd->early = 0;
    c->dlg[c->ndlg++] = nd;
    send_ack(c, nd, c->invite, cs->seq);
    call_emit(c, SIPR_UA_EV_FORK_BYE, resp->status, NULL, resp);
    send_bye(c, nd, 1);
    return;
  }
}

void ua_call_txn_gone(sipr_ua_t *ua, sipr_txn_t *t) {
  for (sipr_call_t *c = ua->calls; c; c = c->next)
    if (c->st == t)
      c->st = NULL;
}

void ua_call_cancel_in(sipr_ua_t *ua, sipr_txn_t *st, sipr_msg_t *req) {
  sipr_txn_t *ist = sipr_txn_find_invite_for_cancel(ua->txl, req);
  sipr_call_t *c = NULL;
  for (sipr_call_t *o = ua->calls; o && ist; o = o->next)
    if (o->st == ist)
      c = o;
  if (!ist) {
    /* §9.2: no matching transaction: 481. */
    ua_respond(ua, st, req, 481, NULL, NULL, NULL, NULL, NULL);
    return;
  }
  if (!c) {
    /* §9.2: the INVITE (a re-INVITE, answered at once) is there but
     * already has its final response: 200, and nothing else happens. */
    ua_respond(ua, st, req, 200, NULL, NULL, NULL, NULL, NULL);
    return;
  }
  /* §9.2: 200 to the CANCEL (same To tag as the INVITE's responses); the
   * INVITE, still unanswered, gets 487. */
  ua_respond(ua, st, req, 200, NULL, c->local_tag, NULL, NULL, NULL);
  if (c->state == CALL_EARLY) {
    ua_respond(ua, ist, c->inv, 487, NULL, c->local_tag, NULL, NULL, NULL);
    call_emit(c, SIPR_UA_EV_FAILED, 487, "cancelled by the caller", req);
    call_finish(c);
  }
}

void ua_call_free(sipr_call_t *c) {
  sipr_ua_t *ua = c->ua;
  for (sipr_call_t **pp = &ua->calls; *pp; pp = &(*pp)->next)
    if (*pp == c) {
      *pp = c->next;
      break;
    }
  sipr_timer_stop(ua->loop, &c->t_2xx);
  sipr_timer_stop(ua->loop, &c->t_glare);
  sipr_timer_stop(ua->loop, &c->t_gone);
  if (c->invite)
    ua_creq_free(c->invite);
  if (c->bye)
    ua_creq_free(c->bye);
  /* Fork BYEs still in flight point at c. */
  for (ua_creq_t *r = ua->reqs; r; r = r->next)
    if (r->owner == c)
      r->owner = NULL;
  for (unsigned i = 0; i < c->ndlg; i++)
    ua_dlg_free(c->dlg[i]);
  free(c->call_id);
  free(c->local_sdp);
  free(c->remote_sdp);
  free(c->reinv_sdp);
  free(c->inv_buf);
  free(c->ok);
  sipr_arena_free(&c->inv_arena);
  free(c);
}

int sipr_call_is_uac(const sipr_call_t *c) {
  return c->uac;
}
const char *sipr_call_remote_sdp(const sipr_call_t *c) {
  return c->remote_sdp;
}
const char *sipr_call_id(const sipr_call_t *c) {
  return c->call_id;
}
