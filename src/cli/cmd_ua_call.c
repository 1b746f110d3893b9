/*
 * sipr call and sipr answer (RFC 3261 §13-§15, §9; RFC 3264 as far as
 * an audio offer/answer): the INVITE side of the user-agent commands.
 * Shared option parsing, loop and output are in cmd_ua.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cmd_ua.h"

/* ---- call ------------------------------------------------------------------
 */
typedef struct call_ctx {
  uacli_run_t run;
  const char *uri;
  double duration, cancel_after;
  int answered, ended, failed_status, have_cancel, provisional;
  sipr_call_t *call;
  sipr_timer_t t_hold, t_cancel, t_giveup;
} call_ctx_t;

static void call_help(void) {
  printf("usage: sipr call URI [--duration S] [--cancel-after S] [common "
         "options]\n"
         "\n"
         "Places a call (RFC 3261 §13): INVITE with an SDP offer, prints each\n"
         "provisional and final response with the time since the start, ACKs\n"
         "the answer, holds the call for --duration, then sends BYE.\n"
         "\n"
         "  --duration S      seconds to hold the answered call (default 5)\n"
         "  --cancel-after S  CANCEL the call if it is not answered within S\n"
         "                    seconds (§9.1)\n"
         "\n" UACLI_COMMON_HELP
         "call exits 0 when the call was answered and ended cleanly, else 1\n"
         "with the final status on standard error.\n");
}

static void print_media(uacli_run_t *r, sipr_call_t *c, const char *sdp) {
  sipr_sdp_t s;
  if (!sdp || sipr_sdp_parse(sipr_str_cstr(sdp), &s) != 0) {
    if (!r->o->json)
      printf("  (no usable SDP answer)\n");
    return;
  }
  for (unsigned i = 0; i < s.nm; i++) {
    if (r->o->json) {
      json_t *o = uacli_ev_json(r, "media", &(sipr_ua_ev_t){.call = c});
      json_object_set_new(o, "media", uacli_jstrn(s.m[i].media));
      json_object_set_new(o, "address", uacli_jstrn(s.m[i].conn));
      json_object_set_new(o, "port", json_integer(s.m[i].port));
      json_object_set_new(o, "proto", uacli_jstrn(s.m[i].proto));
      json_object_set_new(o, "formats", uacli_jstrn(s.m[i].formats));
      uacli_json_out(o);
    } else {
      printf("  media %.*s %.*s:%d %.*s %.*s\n", SIPR_STR_ARG(s.m[i].media),
             SIPR_STR_ARG(s.m[i].conn), s.m[i].port, SIPR_STR_ARG(s.m[i].proto),
             SIPR_STR_ARG(s.m[i].formats));
    }
  }
}

/* The dialog's remote target and route set (§12.1.2). */
static void print_dialog(uacli_run_t *r, sipr_call_t *c, const sipr_dlg_t *d) {
  if (!d)
    return;
  unsigned n = sipr_dlg_route_count(d);
  if (r->o->json) {
    json_t *o = uacli_ev_json(r, "dialog", &(sipr_ua_ev_t){.call = c});
    json_object_set_new(o, "remote_target",
                        json_string(sipr_dlg_remote_target(d)));
    json_t *a = json_array();
    for (unsigned i = 0; i < n; i++)
      json_array_append_new(a, json_string(sipr_dlg_route(d, i)));
    json_object_set_new(o, "route", a);
    uacli_json_out(o);
    return;
  }
  printf("  dialog: remote target %s\n", sipr_dlg_remote_target(d));
  for (unsigned i = 0; i < n; i++)
    printf("  route %s\n", sipr_dlg_route(d, i));
}

static void call_line(uacli_run_t *r, const char *event, const sipr_ua_ev_t *ev,
                      const char *what) {
  if (r->o->json) {
    json_t *o = uacli_ev_json(r, event, ev);
    uacli_json_out(o);
    return;
  }
  printf("[%8.3f] ", uacli_elapsed(r));
  if (ev && ev->status)
    printf("%u %s", ev->status, ev->reason);
  if (what)
    printf("%s%s", ev && ev->status ? " " : "", what);
  printf("\n");
  fflush(stdout);
}

/* A line for an event of call c that has no UA event of its own. */
static void call_note(uacli_run_t *r, const char *event, sipr_call_t *c,
                      const char *what) {
  sipr_ua_ev_t ev = {.call = c};
  call_line(r, event, c ? &ev : NULL, what);
}

static void hold_done(sipr_loop_t *loop, void *arg) {
  (void)loop;
  call_ctx_t *c = arg;
  if (c->call && !c->ended) {
    call_note(&c->run, "bye", c->call, "BYE sent");
    sipr_call_hangup(c->call);
  }
}

static void cancel_now(sipr_loop_t *loop, void *arg) {
  (void)loop;
  call_ctx_t *c = arg;
  if (c->call && !c->answered) {
    call_note(&c->run, "cancel", c->call, "CANCEL (no answer)");
    sipr_call_cancel(c->call);
  }
}

static void call_event(void *user, const sipr_ua_ev_t *ev) {
  call_ctx_t *c = user;
  uacli_run_t *r = &c->run;
  switch (ev->type) {
  case SIPR_UA_EV_PROGRESS:
    c->provisional = ev->status < 200;
    call_line(r, "provisional", ev, NULL);
    break;
  case SIPR_UA_EV_ANSWERED:
    c->answered = 1;
    sipr_timer_stop(r->loop, &c->t_cancel);
    call_line(r, "answered", ev, "(ACK sent)");
    print_dialog(r, ev->call, sipr_call_dialog(ev->call));
    print_media(r, ev->call, sipr_call_remote_sdp(ev->call));
    sipr_timer_start(r->loop, &c->t_hold, (uint64_t)(c->duration * 1000));
    break;
  case SIPR_UA_EV_FORK_BYE:
    call_line(r, "fork_answered", ev, "(another branch: ACK and BYE sent)");
    break;
  case SIPR_UA_EV_FAILED:
    c->failed_status = (int)ev->status;
    call_line(r, "failed", ev, NULL);
    uacli_error(r, ev->msg ? "status" : NULL, "%s: %u %s", c->uri, ev->status,
                ev->reason);
    break;
  case SIPR_UA_EV_ENDED:
    c->ended = 1;
    call_line(r, "ended", ev,
              ev->msg && ev->msg->is_request ? "(BYE received)"
                                             : "(BYE answered)");
    if (ev->status >= 300 || !ev->status)
      uacli_error(r, ev->msg ? "status" : NULL, "BYE: %u %s", ev->status,
                  ev->reason);
    else if (!c->failed_status)
      c->failed_status = 0;
    if (ev->status >= 300)
      c->failed_status = (int)ev->status;
    break;
  case SIPR_UA_EV_REINVITE:
    call_line(r, "reinvite", ev, "(re-INVITE)");
    break;
  case SIPR_UA_EV_GONE:
    c->call = NULL;
    r->rc = c->answered && c->ended && !c->failed_status ? SIPR_EXIT_OK
                                                         : SIPR_EXIT_FAIL;
    r->done = 1;
    break;
  default:
    break;
  }
}

static void call_signal(uacli_run_t *r) {
  call_ctx_t *c = (call_ctx_t *)r;
  if (c->call) {
    call_note(r, "interrupted", c->call, c->answered ? "BYE sent" : "CANCEL");
    c->failed_status = c->answered ? c->failed_status : 487;
    sipr_call_hangup(c->call);
  } else {
    r->done = 1;
  }
}

static void give_up(sipr_loop_t *loop, void *arg) {
  (void)loop;
  call_ctx_t *c = arg;
  uacli_error(&c->run, "timeout",
              "timeout: no answer to the CANCEL either; giving up");
  c->run.rc = SIPR_EXIT_FAIL;
  c->run.done = 1;
}

static void call_timeout(uacli_run_t *r) {
  call_ctx_t *c = (call_ctx_t *)r;
  if (c->answered)
    return;
  uacli_error(r, "timeout", "timeout: %s within %g s",
              c->provisional ? "no answer" : "no response at all",
              r->o->timeout);
  c->failed_status = 408;
  if (c->call && c->provisional) {
    /* §9.1: CANCEL the ringing call, and wait a little for its 487. */
    sipr_call_hangup(c->call);
    sipr_timer_start(r->loop, &c->t_giveup, 5000);
  } else {
    /* §9.1: no CANCEL without a provisional response: just stop. */
    r->done = 1;
  }
  r->rc = SIPR_EXIT_FAIL;
}

int sipr__cli_call(int argc, char **argv) {
  static const uacli_opt_t spec[] = {
      {"--duration", 1}, {"--cancel-after", 1}, {0, 0}};
  call_ctx_t c;
  memset(&c, 0, sizeof(c));
  uacli_opts_t o = {.cmd = "call", .proto = SIPR_TP_UDP, .timeout = 32};
  c.run.o = &o;
  uacli_args_t a;
  int rc = uacli_parse_args(argc, argv, &o, spec, 1, &a, call_help);
  if (rc)
    return rc < 0 ? SIPR_EXIT_OK : rc;
  if (a.npos != 1)
    return sipr__cli_usage_error("call", "which URI?");
  c.uri = a.pos[0];
  c.duration = 5;
  if (a.set[0] &&
      (rc = uacli_num_opt(&o, "--duration", a.val[0], 0, 86400, &c.duration)))
    return rc;
  if (a.set[1]) {
    if ((rc = uacli_num_opt(&o, "--cancel-after", a.val[1], 0, 86400,
                            &c.cancel_after)))
      return rc;
    c.have_cancel = 1;
  }
  if ((rc = uacli_read_password(&o)))
    return rc;
  uacli_catch_signals();
  if ((rc = uacli_ua_start(&c.run, c.uri, NULL, call_event, &c))) {
    uacli_ua_stop(&c.run);
    return rc;
  }
  sipr_timer_init(&c.t_hold, hold_done, &c);
  sipr_timer_init(&c.t_cancel, cancel_now, &c);
  sipr_timer_init(&c.t_giveup, give_up, &c);
  /* RFC 3264 §5: an audio offer for our address (no media flows). */
  char host[80], src[80];
  uacli_route_source(o.proxy ? o.proxy : c.uri, src, sizeof(src));
  uacli_addr_host(o.local ? o.local : src, host, sizeof(host));
  if (!strcmp(host, "0.0.0.0") || !strcmp(host, "::"))
    uacli_addr_host(src, host, sizeof(host)); /* a wildcard --local */
  sipr_buf_t sdp;
  sipr_buf_init(&sdp);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  sipr_sdp_build(&sdp, host, 40000 + 2 * (int)(getpid() % 10000),
                 (uint64_t)now.tv_sec, 1);
  char *offer = sdp.failed ? NULL : strndup(sdp.p, sdp.len);
  sipr_buf_free(&sdp);
  char err[256] = "";
  if (!offer || sipr_ua_call(c.run.ua, c.uri, offer, &c, &c.call, err,
                             sizeof(err)) != 0) {
    uacli_error(&c.run, NULL, "%s", err[0] ? err : "cannot send");
    free(offer);
    uacli_ua_stop(&c.run);
    return SIPR_EXIT_FAIL;
  }
  free(offer);
  call_note(&c.run, "invite", c.call, "INVITE sent");
  if (c.have_cancel)
    sipr_timer_start(c.run.loop, &c.t_cancel,
                     (uint64_t)(c.cancel_after * 1000));
  uacli_run_loop(&c.run, o.timeout, call_signal, call_timeout);
  if (c.failed_status && c.run.rc == SIPR_EXIT_OK)
    c.run.rc = SIPR_EXIT_FAIL;
  rc = c.run.rc;
  sipr_timer_stop(c.run.loop, &c.t_hold);
  sipr_timer_stop(c.run.loop, &c.t_cancel);
  sipr_timer_stop(c.run.loop, &c.t_giveup);
  uacli_ua_stop(&c.run);
  return rc;
}

/* ---- answer -----------------------------------------------------------------
 */
typedef struct pending {
  struct pending *next;
  struct answer_ctx *ctx;
  sipr_call_t *call;
  sipr_timer_t t;
  int answered;
} pending_t;

typedef struct answer_ctx {
  uacli_run_t run;
  const char *aor;
  double ring;
  unsigned reply;
  long max_calls, calls_done;
  sipr_ua_reg_t *reg;
  int registered, removing, reg_failed, reg_done;
  pending_t *pending;
  double t_req;
  char host[80];
} answer_ctx_t;

static void answer_help(void) {
  printf("usage: sipr answer [--aor AOR --registrar URI] [--ring S]\n"
         "                   [--reply CODE] [--calls N] [common options]\n"
         "\n"
         "A scripted callee: registers AOR at the registrar (refreshed), then\n"
         "answers every incoming call (RFC 3261 §13.3) with an SDP answer, or\n"
         "rejects it with CODE, and prints each call and each MESSAGE it\n"
         "receives (RFC 3428). Runs until SIGINT or SIGTERM (or N calls),\n"
         "then removes the registration.\n"
         "\n"
         "  --aor AOR        address-of-record to register (with --registrar)\n"
         "  --registrar URI  registrar; without it nothing is registered and\n"
         "                   calls are taken on --local\n"
         "  --expires S      registration time asked (default 3600)\n"
         "  --ring S         send 180 Ringing and wait S seconds first\n"
         "  --reply CODE     final status: 200 answers (default), 300-699\n"
         "                   rejects\n"
         "  --calls N        exit after N calls have ended\n"
         "\n"
         "With --aor, a request is taken when its Request-URI names the AOR,\n"
         "its Contact or our address with the AOR's user (RFC 3261 §8.2.2.1;\n"
         "404 otherwise); without it, any user at our address.\n"
         "\n" UACLI_COMMON_HELP);
}

static pending_t *pending_find(answer_ctx_t *x, sipr_call_t *c) {
  for (pending_t *p = x->pending; p; p = p->next)
    if (p->call == c)
      return p;
  return NULL;
}

static void pending_drop(answer_ctx_t *x, pending_t *p) {
  for (pending_t **pp = &x->pending; *pp; pp = &(*pp)->next)
    if (*pp == p) {
      *pp = p->next;
      break;
    }
  sipr_timer_stop(x->run.loop, &p->t);
  free(p);
}

static void answer_now(sipr_loop_t *loop, void *arg) {
  (void)loop;
  pending_t *p = arg;
  answer_ctx_t *x = p->ctx;
  uacli_run_t *r = &x->run;
  if (x->reply != 200) {
    if (r->o->json) {
      json_t *o =
          uacli_ev_json(r, "rejected", &(sipr_ua_ev_t){.call = p->call});
      json_object_set_new(o, "status", json_integer(x->reply));
      uacli_json_out(o);
    } else {
      printf("[%8.3f] call %s rejected with %u\n", uacli_elapsed(r),
             sipr_call_id(p->call), x->reply);
    }
    sipr_call_reject(p->call, x->reply);
    return;
  }
  sipr_buf_t sdp;
  sipr_buf_init(&sdp);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  sipr_sdp_build(&sdp, x->host, 42000 + 2 * (int)(x->calls_done % 1000),
                 (uint64_t)now.tv_sec, 1);
  char *ans = sdp.failed ? NULL : strndup(sdp.p, sdp.len);
  sipr_buf_free(&sdp);
  if (!ans || sipr_call_answer(p->call, ans) != 0) {
    uacli_error(r, "transport", "cannot answer call %s", sipr_call_id(p->call));
  } else if (r->o->json) {
    json_t *o = uacli_ev_json(r, "answered", &(sipr_ua_ev_t){.call = p->call});
    json_object_set_new(o, "status", json_integer(200));
    uacli_json_out(o);
  } else {
    printf("[%8.3f] call %s answered (200 OK sent)\n", uacli_elapsed(r),
           sipr_call_id(p->call));
  }
  free(ans);
  fflush(stdout);
}

static void answer_event(void *user, const sipr_ua_ev_t *ev) {
  answer_ctx_t *x = user;
  uacli_run_t *r = &x->run;
  switch (ev->type) {
  case SIPR_UA_EV_REG:
    if (ev->status >= 200 && ev->status < 300) {
      if (x->removing) {
        if (!r->o->json)
          printf("[%8.3f] %s unregistered\n", uacli_elapsed(r), x->aor);
        x->reg_done = 1;
      } else {
        if (!x->registered && !r->o->json)
          printf("[%8.3f] %s registered (expires %u s)\n", uacli_elapsed(r),
                 x->aor, sipr_ua_reg_expires(x->reg));
        x->registered = 1;
      }
      if (r->o->json) {
        json_t *o =
            uacli_ev_json(r, x->removing ? "unregistered" : "registered", ev);
        json_object_set_new(o, "aor", json_string(x->aor));
        uacli_json_out(o);
      }
    } else {
      uacli_error(
          r, ev->msg ? "status" : NULL, "%s: registration %s %u %s", x->aor,
          x->removing ? "removal failed:" : "failed:", ev->status, ev->reason);
      x->reg_failed = 1;
      r->rc = SIPR_EXIT_FAIL;
      if (x->removing)
        x->reg_done = 1;
      else
        r->done = 1;
    }
    fflush(stdout);
    break;
  case SIPR_UA_EV_MESSAGE: {
    sipr_addr_t *from = sipr_msg_from(ev->msg);
    sipr_str_t f = from ? from->uri.raw : SIPR_STR("?");
    if (r->o->json) {
      json_t *o = uacli_ev_json(r, "message", ev);
      json_object_set_new(o, "from", uacli_jstrn(f));
      json_object_set_new(o, "text", uacli_jstrn(ev->msg->body));
      uacli_json_out(o);
    } else {
      printf("[%8.3f] MESSAGE from %.*s: %.*s\n", uacli_elapsed(r),
             SIPR_STR_ARG(f), SIPR_STR_ARG(ev->msg->body));
      fflush(stdout);
    }
    break;
  }
  case SIPR_UA_EV_INCOMING: {
    sipr_addr_t *from = sipr_msg_from(ev->msg);
    sipr_str_t f = from ? from->uri.raw : SIPR_STR("?");
    if (r->o->json) {
      json_t *o = uacli_ev_json(r, "incoming", ev);
      json_object_set_new(o, "from", uacli_jstrn(f));
      json_object_set_new(o, "request_uri", uacli_jstrn(ev->msg->ruri_str));
      uacli_json_out(o);
    } else {
      printf("[%8.3f] INVITE from %.*s (call %s)\n", uacli_elapsed(r),
             SIPR_STR_ARG(f), sipr_call_id(ev->call));
      fflush(stdout);
    }
    pending_t *p = calloc(1, sizeof(*p));
    if (!p) {
      sipr_call_reject(ev->call, 500);
      break;
    }
    p->ctx = x;
    p->call = ev->call;
    p->next = x->pending;
    x->pending = p;
    sipr_timer_init(&p->t, answer_now, p);
    if (x->ring > 0) {
      sipr_call_ring(ev->call);
      if (r->o->json)
        uacli_json_out(
            uacli_ev_json(r, "ringing", &(sipr_ua_ev_t){.call = ev->call}));
      else
        printf("[%8.3f] call %s ringing (180 sent)\n", uacli_elapsed(r),
               sipr_call_id(ev->call));
    }
    sipr_timer_start(r->loop, &p->t, (uint64_t)(x->ring * 1000));
    break;
  }
  case SIPR_UA_EV_ANSWERED:
    call_note(r, "confirmed", ev->call, "ACK received, call confirmed");
    break;
  case SIPR_UA_EV_FAILED:
    call_line(r, "failed", ev, "(call failed)");
    break;
  case SIPR_UA_EV_ENDED:
    if (ev->msg && ev->msg->is_request)
      call_note(r, "ended", ev->call, "BYE received, call ended");
    else
      call_line(r, "ended", ev, "(our BYE answered, call ended)");
    break;
  case SIPR_UA_EV_REINVITE:
    call_line(r, "reinvite", ev, "(re-INVITE)");
    break;
  case SIPR_UA_EV_GONE: {
    pending_t *p = pending_find(x, ev->call);
    if (p)
      pending_drop(x, p);
    x->calls_done++;
    if (x->max_calls && x->calls_done >= x->max_calls)
      uacli_g_signal = SIGTERM; /* as if told to stop: unregister and exit */
    break;
  }
  default:
    break;
  }
}

int sipr__cli_answer(int argc, char **argv) {
  static const uacli_opt_t spec[] = {
      {"--aor", 1},   {"--registrar", 1}, {"--ring", 1}, {"--reply", 1},
      {"--calls", 1}, {"--expires", 1},   {0, 0}};
  answer_ctx_t x;
  memset(&x, 0, sizeof(x));
  uacli_opts_t o = {.cmd = "answer", .proto = SIPR_TP_UDP, .timeout = 32};
  x.run.o = &o;
  uacli_args_t a;
  int rc = uacli_parse_args(argc, argv, &o, spec, 0, &a, answer_help);
  if (rc)
    return rc < 0 ? SIPR_EXIT_OK : rc;
  if (a.set[1] && !a.set[0])
    return sipr__cli_usage_error("answer", "--registrar needs --aor");
  char aor[512] = "";
  if (a.set[0])
    snprintf(aor, sizeof(aor), "%s%s",
             strncmp(a.val[0], "sip:", 4) && strncmp(a.val[0], "sips:", 5)
                 ? "sip:"
                 : "",
             a.val[0]);
  x.aor = aor;
  /* §8.2.2.1: with an AOR, only requests for it (or its Contact) are
   * taken, 404 otherwise; without one, any user at our address. */
  o.any_user = !aor[0];
  double d;
  x.reply = 200;
  if (a.set[2] &&
      (rc = uacli_num_opt(&o, "--ring", a.val[2], 0, 3600, &x.ring)))
    return rc;
  if (a.set[3]) {
    if ((rc = uacli_num_opt(&o, "--reply", a.val[3], 200, 699, &d)))
      return rc;
    x.reply = (unsigned)d;
    if (x.reply != 200 && x.reply < 300)
      return sipr__cli_usage_error("answer", "--reply: 200 or 300-699");
  }
  if (a.set[4]) {
    if ((rc = uacli_num_opt(&o, "--calls", a.val[4], 1, 1e9, &d)))
      return rc;
    x.max_calls = (long)d;
  }
  double exp = 3600;
  if (a.set[5] &&
      (rc = uacli_num_opt(&o, "--expires", a.val[5], 1, 4294967295.0, &exp)))
    return rc;
  if ((rc = uacli_read_password(&o)))
    return rc;
  uacli_catch_signals();
  const char *target = a.set[1] ? a.val[1] : NULL;
  if ((rc = uacli_ua_start(&x.run, target, aor[0] ? aor : NULL, answer_event,
                           &x))) {
    uacli_ua_stop(&x.run);
    return rc;
  }
  {
    char src[80];
    uacli_route_source(o.proxy ? o.proxy : target, src, sizeof(src));
    uacli_addr_host(o.local ? o.local : src, x.host, sizeof(x.host));
    if (!strcmp(x.host, "0.0.0.0") || !strcmp(x.host, "::"))
      uacli_addr_host(src, x.host, sizeof(x.host)); /* a wildcard --local */
  }
  char err[256] = "";
  if (a.set[1]) {
    x.t_req = uacli_elapsed(&x.run);
    if (sipr_ua_register(x.run.ua, aor, a.val[1], (unsigned)exp, 1, &x, &x.reg,
                         err, sizeof(err)) != 0) {
      uacli_error(&x.run, NULL, "%s", err[0] ? err : "cannot register");
      uacli_ua_stop(&x.run);
      return SIPR_EXIT_FAIL;
    }
  }
  if (o.json) {
    json_t *j = uacli_ev_json(&x.run, "listening", NULL);
    json_object_set_new(j, "aor", aor[0] ? json_string(aor) : json_null());
    uacli_json_out(j);
  } else {
    printf("[%8.3f] listening (%s)\n", uacli_elapsed(&x.run),
           aor[0] ? aor : "no registration");
  }
  fflush(stdout);
  x.run.rc = SIPR_EXIT_OK;
  double stop_at = 0;
  while (!x.run.done) {
    sipr_loop_run_once(x.run.loop, 50);
    if (x.reg && !x.registered && !x.reg_failed &&
        uacli_elapsed(&x.run) - x.t_req > o.timeout) {
      uacli_error(&x.run, "timeout",
                  "timeout: registration got no answer within %g s", o.timeout);
      x.run.rc = SIPR_EXIT_FAIL;
      break;
    }
    if (uacli_g_signal && !stop_at) {
      stop_at = uacli_elapsed(&x.run);
      /* End the calls still up (BYE, or 480 before an answer) and remove
       * the registration; wait for both. */
      for (pending_t *p = x.pending; p; p = p->next)
        sipr_call_hangup(p->call);
      if (x.reg && x.registered) {
        x.removing = 1;
        if (sipr_ua_reg_remove(x.reg) != 0)
          x.reg_done = 1;
      } else {
        x.reg_done = 1;
      }
    }
    if (stop_at && x.reg_done && !x.pending)
      break;
    if (stop_at && uacli_elapsed(&x.run) - stop_at > 5) {
      uacli_error(&x.run, "timeout", "timeout: %s got no answer within 5 s",
                  x.reg_done ? "the end of the calls"
                             : "the registration removal");
      x.run.rc = SIPR_EXIT_FAIL;
      break;
    }
  }
  while (x.pending)
    pending_drop(&x, x.pending);
  rc = x.run.rc;
  uacli_ua_stop(&x.run);
  return rc;
}
