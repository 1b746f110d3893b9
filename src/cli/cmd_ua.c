/*
 * The user-agent commands: sipr ping, register, message here, call and
 * answer in cmd_ua_call.c (docs/ARCHITECTURE.md, "The command"). Each runs one
 * UA (include/ sipr/ua.h) on one loop with its own transport bound to --local,
 * prints what happens for people, or one JSON object per event with --json, and
 * exits 0 on success, 1 on a protocol or input failure (what failed on
 * standard error), 2 on a usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cmd_ua.h"

#ifndef SIPR_VERSION
#define SIPR_VERSION "0.1.0"
#endif

/* ---- options every UA command takes ----------------------------------- */
int uacli_parse_args(int argc, char **argv, uacli_opts_t *o,
                     const uacli_opt_t *spec, int maxpos, uacli_args_t *p,
                     void (*help)(void)) {
  memset(p, 0, sizeof(*p));
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      help();
      return -1;
    }
    if (a[0] != '-' || a[1] == '\0') {
      if (p->npos >= maxpos)
        return sipr__cli_usage_error(o->cmd, "unexpected argument '%s'", a);
      p->pos[p->npos++] = a;
      continue;
    }
    if (strcmp(a, "--") == 0) {
      for (i++; i < argc; i++) {
        if (p->npos >= maxpos)
          return sipr__cli_usage_error(o->cmd, "unexpected argument '%s'",
                                       argv[i]);
        p->pos[p->npos++] = argv[i];
      }
      break;
    }
    if (strcmp(a, "--password-stdin") == 0) {
      o->pw_stdin = 1;
      continue;
    }
    if (strcmp(a, "--json") == 0) {
      o->json = 1;
      continue;
    }
    if (strcmp(a, "--follow-redirects") == 0) {
      o->follow = 1;
      continue;
    }
    /* --name VALUE or --name=VALUE */
    const char *eq = strchr(a, '=');
    size_t nl = eq ? (size_t)(eq - a) : strlen(a);
    const char *v = eq ? eq + 1 : NULL;
    static const char *const common[] = {"--from",      "--proxy", "--user",
                                         "--transport", "--local", "--timeout"};
    int ci = -1, si = -1;
    for (int k = 0; k < 6; k++)
      if (strlen(common[k]) == nl && strncmp(a, common[k], nl) == 0)
        ci = k;
    for (int k = 0; spec && spec[k].name && ci < 0; k++)
      if (strlen(spec[k].name) == nl && strncmp(a, spec[k].name, nl) == 0)
        si = k;
    if (ci < 0 && si < 0)
      return sipr__cli_usage_error(o->cmd, "unknown option '%.*s'", (int)nl, a);
    if (si >= 0 && !spec[si].has_value) {
      if (v)
        return sipr__cli_usage_error(o->cmd, "%s takes no value",
                                     spec[si].name);
      p->set[si] = 1;
      continue;
    }
    if (!v) {
      if (i + 1 >= argc)
        return sipr__cli_usage_error(o->cmd, "%.*s needs a value", (int)nl, a);
      v = argv[++i];
    }
    if (si >= 0) {
      p->set[si] = 1;
      p->val[si] = v;
      continue;
    }
    switch (ci) {
    case 0:
      o->from = v;
      break;
    case 1:
      o->proxy = v;
      break;
    case 2:
      o->user = v;
      break;
    case 3:
      if (strcmp(v, "udp") == 0)
        o->proto = SIPR_TP_UDP;
      else if (strcmp(v, "tcp") == 0)
        o->proto = SIPR_TP_TCP;
      else
        return sipr__cli_usage_error(o->cmd,
                                     "--transport: udp or tcp, not '%s'", v);
      break;
    case 4:
      o->local = v;
      break;
    case 5: {
      char *end;
      errno = 0;
      double t = strtod(v, &end);
      if (errno || *end || !(t > 0) || t > 86400)
        return sipr__cli_usage_error(o->cmd,
                                     "--timeout: seconds (0-86400], not "
                                     "'%s'",
                                     v);
      o->timeout = t;
      break;
    }
    }
  }
  if (o->pw_stdin && !o->user)
    return sipr__cli_usage_error(o->cmd, "--password-stdin needs --user");
  if (o->user && !o->pw_stdin)
    return sipr__cli_usage_error(o->cmd, "--user needs --password-stdin");
  return 0;
}

/* A number option in [lo, hi]; 0 or a usage error. */
int uacli_num_opt(const uacli_opts_t *o, const char *name, const char *v,
                  double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double d = strtod(v, &end);
  if (errno || *end || !v[0] || isnan(d) || d < lo || d > hi)
    return sipr__cli_usage_error(o->cmd, "%s: a number in [%g, %g], not '%s'",
                                 name, lo, hi, v);
  *out = d;
  return 0;
}

int uacli_read_password(uacli_opts_t *o) {
  if (!o->pw_stdin)
    return 0;
  if (!fgets(o->password, sizeof(o->password), stdin)) {
    fprintf(stderr, "sipr %s: no password on standard input\n", o->cmd);
    return SIPR_EXIT_FAIL;
  }
  size_t n = strlen(o->password);
  while (n && (o->password[n - 1] == '\n' || o->password[n - 1] == '\r'))
    o->password[--n] = '\0';
  if (!n) {
    fprintf(stderr, "sipr %s: empty password on standard input\n", o->cmd);
    return SIPR_EXIT_FAIL;
  }
  o->have_password = 1;
  return 0;
}

/* ---- signals ------------------------------------------------------------- */
volatile sig_atomic_t uacli_g_signal;

static void on_signal(int sig) {
  uacli_g_signal = sig;
}

void uacli_catch_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
}

/* ---- the UA ----------------------------------------------------------------
 */

double uacli_elapsed(const uacli_run_t *r) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)(t.tv_sec - r->t0.tv_sec) +
         (double)(t.tv_nsec - r->t0.tv_nsec) / 1e9;
}

/* The host of a SIP URI text ("sip:u@h:p;x", "<sip:h>"), numeric only. */
static int uri_host(const char *uri, char *host, size_t cap) {
  const char *p = strchr(uri, '<');
  p = p ? p + 1 : uri;
  if (strncmp(p, "sip:", 4) == 0)
    p += 4;
  else if (strncmp(p, "sips:", 5) == 0)
    p += 5;
  const char *at = strchr(p, '@');
  const char *end = p + strcspn(p, ";>?");
  if (at && at < end)
    p = at + 1;
  size_t n;
  if (*p == '[') {
    const char *rb = strchr(p, ']');
    if (!rb)
      return -1;
    p++;
    n = (size_t)(rb - p);
  } else {
    n = strcspn(p, ":;>?");
  }
  if (n == 0 || n >= cap)
    return -1;
  memcpy(host, p, n);
  host[n] = '\0';
  return 0;
}

/* The local address that routes to target's host (a connected UDP
 * socket's name), so Via and Contact name an address the peer can reach;
 * 127.0.0.1 when that cannot be told. */
void uacli_route_source(const char *target, char *out, size_t cap) {
  snprintf(out, cap, "127.0.0.1");
  char host[256];
  if (!target || uri_host(target, host, sizeof(host)))
    return;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  socklen_t sl;
  int fam;
  if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
    fam = AF_INET;
    ((struct sockaddr_in *)&ss)->sin_family = AF_INET;
    ((struct sockaddr_in *)&ss)->sin_port = htons(5060);
    sl = sizeof(struct sockaddr_in);
  } else if (inet_pton(AF_INET6, host,
                       &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
    fam = AF_INET6;
    ((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
    ((struct sockaddr_in6 *)&ss)->sin6_port = htons(5060);
    sl = sizeof(struct sockaddr_in6);
  } else {
    return;
  }
  int fd = socket(fam, SOCK_DGRAM, 0);
  if (fd < 0)
    return;
  struct sockaddr_storage me;
  socklen_t ml = sizeof(me);
  if (connect(fd, (struct sockaddr *)&ss, sl) == 0 &&
      getsockname(fd, (struct sockaddr *)&me, &ml) == 0) {
    char a[INET6_ADDRSTRLEN];
    const void *ap =
        fam == AF_INET ? (const void *)&((struct sockaddr_in *)&me)->sin_addr
                       : (const void *)&((struct sockaddr_in6 *)&me)->sin6_addr;
    if (inet_ntop(fam, ap, a, sizeof(a)))
      snprintf(out, cap, fam == AF_INET6 ? "[%s]" : "%s", a);
  }
  close(fd);
}

/* The host of "HOST", "HOST:PORT", "[V6]:PORT" or "[V6]", without
 * brackets (for SDP). */
void uacli_addr_host(const char *hp, char *out, size_t cap) {
  if (hp[0] == '[') {
    const char *rb = strchr(hp, ']');
    size_t n = rb ? (size_t)(rb - hp - 1) : strlen(hp + 1);
    snprintf(out, cap, "%.*s", (int)n, hp + 1);
    return;
  }
  const char *c = strchr(hp, ':');
  if (c && c == strrchr(hp, ':'))
    snprintf(out, cap, "%.*s", (int)(c - hp), hp);
  else
    snprintf(out, cap, "%s", hp);
}

/* Default --from: sip:USER@HOSTNAME (§8.1.1.3). */
static void default_from(char *out, size_t cap) {
  const char *user = getenv("USER");
  struct passwd *pw = user ? NULL : getpwuid(getuid());
  if (!user)
    user = pw ? pw->pw_name : "sipr";
  char host[256];
  if (gethostname(host, sizeof(host)) != 0 || !host[0])
    snprintf(host, sizeof(host), "localhost");
  host[sizeof(host) - 1] = '\0';
  snprintf(out, cap, "sip:%s@%s", user, host);
}

/* Opens the UA for a command whose first hop is target. Returns 0 or
 * SIPR_EXIT_FAIL (reason printed). */
int uacli_ua_start(uacli_run_t *r, const char *target, const char *from_default,
                   sipr_ua_event_cb *cb, void *ctx) {
  uacli_opts_t *o = r->o;
  clock_gettime(CLOCK_MONOTONIC, &r->t0);
  r->loop = sipr_loop_new(NULL);
  if (!r->loop) {
    uacli_error(r, "input", "cannot create the event loop");
    return SIPR_EXIT_FAIL;
  }
  char spec[300], src[80];
  if (o->local) {
    snprintf(spec, sizeof(spec), "udp:%s", o->local);
  } else {
    uacli_route_source(o->proxy ? o->proxy : target, src, sizeof(src));
    snprintf(spec, sizeof(spec), "udp:%s:0", src);
  }
  sipr_tp_addr_t local;
  if (sipr_tp_addr_parse(spec, &local) != 0) {
    uacli_error(r, "input", "bad --local '%s' (want HOST:PORT, numeric)",
                o->local ? o->local : spec);
    return SIPR_EXIT_FAIL;
  }
  char from[512];
  if (o->from)
    snprintf(from, sizeof(from), "%s", o->from);
  else if (from_default)
    snprintf(from, sizeof(from), "%s", from_default);
  else
    default_from(from, sizeof(from));
  if (strncmp(from, "sip:", 4) && strncmp(from, "sips:", 5) &&
      !strchr(from, '<')) {
    memmove(from + 4, from, sizeof(from) - 5);
    from[sizeof(from) - 1] = '\0';
    memcpy(from, "sip:", 4);
  }
  sipr_ua_cfg_t cfg;
  sipr_ua_cfg_default(&cfg);
  cfg.from = from;
  cfg.proxy = o->proxy;
  cfg.contact = o->contact;
  cfg.proto = o->proto;
  cfg.user = o->user;
  cfg.password = o->have_password ? o->password : NULL;
  cfg.user_agent = "sipr/" SIPR_VERSION;
  cfg.follow_redirects = o->follow;
  cfg.any_user = o->any_user;
  /* --local on a wildcard address: Via and Contact name the address that
   * routes to the first hop. */
  char via_host[80];
  uacli_route_source(o->proxy ? o->proxy : target, src, sizeof(src));
  uacli_addr_host(src, via_host, sizeof(via_host));
  cfg.host = via_host;
  char err[256] = "";
  r->ua = sipr_ua_open(r->loop, &cfg, &local, cb, ctx, err, sizeof(err));
  if (!r->ua) {
    uacli_error(r, NULL, "%s", err[0] ? err : "cannot start");
    return SIPR_EXIT_FAIL;
  }
  return 0;
}

void uacli_ua_stop(uacli_run_t *r) {
  sipr_ua_free(r->ua);
  r->ua = NULL;
  if (r->loop)
    sipr_loop_free(r->loop);
  r->loop = NULL;
  memset(r->o->password, 0, sizeof(r->o->password));
}

/* Runs the loop until r->done, a signal (on_sig is called once; NULL:
 * stop at once with status 1), or deadline seconds (0: none; on_timeout
 * is called, NULL: done with status 1). */
void uacli_run_loop(uacli_run_t *r, double deadline,
                    void (*on_sig)(uacli_run_t *),
                    void (*on_timeout)(uacli_run_t *)) {
  int to_seen = 0;
  double sig_at = -1;
  while (!r->done) {
    sipr_loop_run_once(r->loop, 50);
    if (uacli_g_signal && sig_at < 0) {
      sig_at = uacli_elapsed(r);
      if (on_sig) {
        on_sig(r);
      } else {
        uacli_error(r, "interrupted", "interrupted");
        r->rc = SIPR_EXIT_FAIL;
        r->done = 1;
      }
    } else if (sig_at >= 0 && !r->done && uacli_elapsed(r) - sig_at > 5) {
      /* What the signal started (BYE, CANCEL) got no answer in 5 s. */
      uacli_error(r, "timeout", "interrupted; timeout: no answer within 5 s");
      r->rc = SIPR_EXIT_FAIL;
      r->done = 1;
    }
    if (deadline > 0 && !to_seen && !r->done && uacli_elapsed(r) >= deadline) {
      to_seen = 1;
      if (on_timeout) {
        on_timeout(r);
      } else {
        uacli_error(r, "timeout", "timeout: no final response within %g s",
                    deadline);
        r->rc = SIPR_EXIT_FAIL;
        r->done = 1;
      }
    }
  }
}

/* ---- output ----------------------------------------------------------------
 */
void uacli_json_out(json_t *obj) {
  if (!obj)
    return;
  char *s = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(10));
  if (s) {
    printf("%s\n", s);
    free(s);
  }
  json_decref(obj);
  fflush(stdout);
}

void uacli_error(const uacli_run_t *r, const char *kind, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  fprintf(stderr, "sipr %s: %s\n", r->o->cmd, msg);
  if (!r->o->json)
    return;
  if (!kind) {
    if (strstr(msg, "DNS"))
      kind = "dns";
    else if (strstr(msg, "timeout"))
      kind = "timeout";
    else if (strstr(msg, "transport"))
      kind = "transport";
    else if (strstr(msg, "interrupted"))
      kind = "interrupted";
    else
      kind = "input";
  }
  json_t *o = uacli_ev_json(r, "error", NULL);
  json_object_set_new(o, "error", json_string(kind));
  json_object_set_new(o, "message", json_string(msg));
  uacli_json_out(o);
}

json_t *uacli_jstrn(sipr_str_t s) {
  return s.p ? json_stringn(s.p, s.len) : json_null();
}

/* The value of the first header named type in m, as a slice. */
static sipr_str_t hval(sipr_msg_t *m, sipr_hdr_type_t type) {
  return m && m->first[type] ? m->first[type]->value : SIPR_STR_NULL;
}

json_t *uacli_ev_json(const uacli_run_t *r, const char *event,
                      const sipr_ua_ev_t *ev) {
  json_t *o = json_object();
  json_object_set_new(o, "event", json_string(event));
  json_object_set_new(o, "time",
                      json_real(round(uacli_elapsed(r) * 1000) / 1000));
  if (ev) {
    if (ev->status)
      json_object_set_new(o, "status", json_integer(ev->status));
    if (ev->reason)
      json_object_set_new(o, "reason", json_string(ev->reason));
    if (ev->call && sipr_call_id(ev->call))
      json_object_set_new(o, "call_id", json_string(sipr_call_id(ev->call)));
    else if (ev->msg)
      json_object_set_new(o, "call_id", uacli_jstrn(sipr_msg_call_id(ev->msg)));
  }
  return o;
}

/* ---- ping -------------------------------------------------------------------
 */
typedef struct ping_ctx {
  uacli_run_t run;
  const char *uri;
  long count, sent, ok;
  double interval, t_sent;
  int waiting;
  sipr_timer_t next;
} ping_ctx_t;

static void ping_help(void) {
  printf("usage: sipr ping URI [--count N] [--interval S] [common options]\n"
         "\n"
         "Sends OPTIONS (RFC 3261 §11) to URI and prints the status, reason,\n"
         "round-trip time and the peer's User-Agent/Server and Allow.\n"
         "\n"
         "  --count N      requests to send, one after another (default 1)\n"
         "  --interval S   seconds between them (default 1)\n"
         "\n" UACLI_COMMON_HELP "ping exits 0 when every request got a 2xx.\n");
}

static void ping_send(ping_ctx_t *p) {
  uacli_run_t *r = &p->run;
  sipr_ua_req_opts_t ro = {.method = "OPTIONS",
                           .ruri = p->uri,
                           .extra = "Accept: application/sdp\r\n"};
  char err[256] = "";
  p->t_sent = uacli_elapsed(r);
  p->sent++;
  if (sipr_ua_request(r->ua, &ro, p, NULL, err, sizeof(err)) != 0) {
    uacli_error(r, NULL, "%s", err[0] ? err : "cannot send");
    r->rc = SIPR_EXIT_FAIL;
    r->done = 1;
    return;
  }
  p->waiting = 1;
}

static void ping_next(sipr_loop_t *loop, void *arg) {
  (void)loop;
  ping_send(arg);
}

static void ping_event(void *user, const sipr_ua_ev_t *ev) {
  ping_ctx_t *p = user;
  uacli_run_t *r = &p->run;
  if (ev->type != SIPR_UA_EV_RESPONSE)
    return;
  if (ev->status < 200) {
    if (r->o->json) {
      json_t *o = uacli_ev_json(r, "provisional", ev);
      json_object_set_new(o, "uri", json_string(p->uri));
      json_object_set_new(o, "seq", json_integer(p->sent));
      uacli_json_out(o);
    } else {
      printf("%s: %u %s\n", p->uri, ev->status, ev->reason);
      fflush(stdout);
    }
    return;
  }
  double rtt = (uacli_elapsed(r) - p->t_sent) * 1000;
  p->waiting = 0;
  sipr_str_t ua = hval(ev->msg, SIPR_HDR_USER_AGENT);
  if (!ua.p)
    ua = hval(ev->msg, SIPR_HDR_SERVER);
  sipr_str_t allow = hval(ev->msg, SIPR_HDR_ALLOW);
  if (r->o->json) {
    json_t *o = uacli_ev_json(r, "response", ev);
    json_object_set_new(o, "uri", json_string(p->uri));
    json_object_set_new(o, "seq", json_integer(p->sent));
    json_object_set_new(o, "rtt_ms", json_real(round(rtt * 1000) / 1000));
    json_object_set_new(o, "local", json_boolean(ev->msg == NULL));
    json_object_set_new(o, "user_agent", uacli_jstrn(ua));
    json_object_set_new(o, "allow", uacli_jstrn(allow));
    uacli_json_out(o);
  } else if (ev->msg) {
    printf("%s: %u %s  rtt %.3f ms", p->uri, ev->status, ev->reason, rtt);
    if (ua.p)
      printf("  user-agent \"%.*s\"", SIPR_STR_ARG(ua));
    if (allow.p)
      printf("  allow \"%.*s\"", SIPR_STR_ARG(allow));
    printf("\n");
    fflush(stdout);
  }
  if (!ev->msg)
    uacli_error(r, NULL, "%s: %u %s", p->uri, ev->status, ev->reason);
  else if (ev->status >= 300)
    uacli_error(r, "status", "%s answered %u %s", p->uri, ev->status,
                ev->reason);
  if (ev->status < 300)
    p->ok++;
  if (p->sent >= p->count) {
    r->rc = p->ok == p->count ? SIPR_EXIT_OK : SIPR_EXIT_FAIL;
    r->done = 1;
    return;
  }
  sipr_timer_start(r->loop, &p->next, (uint64_t)(p->interval * 1000));
}

static void ping_timeout(uacli_run_t *r) {
  uacli_error(r, "timeout", "timeout: no final response within %g s",
              r->o->timeout);
  r->rc = SIPR_EXIT_FAIL;
  r->done = 1;
}

int sipr__cli_ping(int argc, char **argv) {
  static const uacli_opt_t spec[] = {{"--count", 1}, {"--interval", 1}, {0, 0}};
  ping_ctx_t p;
  memset(&p, 0, sizeof(p));
  uacli_opts_t o = {.cmd = "ping", .proto = SIPR_TP_UDP, .timeout = 32};
  p.run.o = &o;
  uacli_args_t a;
  int rc = uacli_parse_args(argc, argv, &o, spec, 1, &a, ping_help);
  if (rc)
    return rc < 0 ? SIPR_EXIT_OK : rc;
  if (a.npos != 1)
    return sipr__cli_usage_error("ping", "which URI?");
  p.uri = a.pos[0];
  double d;
  p.count = 1;
  p.interval = 1;
  if (a.set[0]) {
    if ((rc = uacli_num_opt(&o, "--count", a.val[0], 1, 1000000, &d)))
      return rc;
    p.count = (long)d;
  }
  if (a.set[1]) {
    if ((rc = uacli_num_opt(&o, "--interval", a.val[1], 0, 3600, &d)))
      return rc;
    p.interval = d;
  }
  if ((rc = uacli_read_password(&o)))
    return rc;
  uacli_catch_signals();
  if ((rc = uacli_ua_start(&p.run, p.uri, NULL, ping_event, &p))) {
    uacli_ua_stop(&p.run);
    return rc;
  }
  sipr_timer_init(&p.next, ping_next, &p);
  ping_send(&p);
  /* The timeout is per request: the total allows each its share. */
  double limit =
      o.timeout * (double)p.count + p.interval * (double)(p.count - 1);
  uacli_run_loop(&p.run, limit, NULL, ping_timeout);
  sipr_timer_stop(p.run.loop, &p.next);
  rc = p.run.rc;
  uacli_ua_stop(&p.run);
  return rc;
}

/* ---- message ------------------------------------------------------------- */
typedef struct msg_ctx {
  uacli_run_t run;
  const char *uri;
} msg_ctx_t;

static void message_help(void) {
  printf("usage: sipr message URI TEXT [common options]\n"
         "\n"
         "Sends TEXT to URI in a MESSAGE request (RFC 3428, text/plain) and\n"
         "prints the final response. Exits 0 on a 2xx.\n"
         "\n" UACLI_COMMON_HELP);
}

static void message_event(void *user, const sipr_ua_ev_t *ev) {
  msg_ctx_t *m = user;
  uacli_run_t *r = &m->run;
  if (ev->type != SIPR_UA_EV_RESPONSE)
    return;
  if (r->o->json) {
    json_t *o =
        uacli_ev_json(r, ev->status < 200 ? "provisional" : "response", ev);
    json_object_set_new(o, "uri", json_string(m->uri));
    json_object_set_new(o, "local", json_boolean(ev->msg == NULL));
    uacli_json_out(o);
  } else if (ev->msg) {
    printf("%s: %u %s\n", m->uri, ev->status, ev->reason);
    fflush(stdout);
  }
  if (ev->status < 200)
    return;
  if (ev->status >= 300)
    uacli_error(r, ev->msg ? "status" : NULL, "%s: %u %s", m->uri, ev->status,
                ev->reason);
  r->rc = ev->status < 300 ? SIPR_EXIT_OK : SIPR_EXIT_FAIL;
  r->done = 1;
}

int sipr__cli_message(int argc, char **argv) {
  msg_ctx_t m;
  memset(&m, 0, sizeof(m));
  uacli_opts_t o = {.cmd = "message", .proto = SIPR_TP_UDP, .timeout = 32};
  m.run.o = &o;
  uacli_args_t a;
  int rc = uacli_parse_args(argc, argv, &o, NULL, 2, &a, message_help);
  if (rc)
    return rc < 0 ? SIPR_EXIT_OK : rc;
  if (a.npos != 2)
    return sipr__cli_usage_error("message", "want URI and TEXT");
  m.uri = a.pos[0];
  const char *text = a.pos[1];
  if ((rc = uacli_read_password(&o)))
    return rc;
  uacli_catch_signals();
  if ((rc = uacli_ua_start(&m.run, m.uri, NULL, message_event, &m))) {
    uacli_ua_stop(&m.run);
    return rc;
  }
  sipr_ua_req_opts_t ro = {.method = "MESSAGE",
                           .ruri = m.uri,
                           .ctype = "text/plain;charset=UTF-8",
                           .body = text,
                           .body_len = strlen(text)};
  char err[256] = "";
  if (sipr_ua_request(m.run.ua, &ro, &m, NULL, err, sizeof(err)) != 0) {
    uacli_error(&m.run, NULL, "%s", err[0] ? err : "cannot send");
    uacli_ua_stop(&m.run);
    return SIPR_EXIT_FAIL;
  }
  uacli_run_loop(&m.run, o.timeout, NULL, NULL);
  rc = m.run.rc;
  uacli_ua_stop(&m.run);
  return rc;
}

/* ---- register ----------------------------------------------------------- */
typedef struct reg_ctx {
  uacli_run_t run;
  const char *aor;
  int refresh, removing, registered;
  sipr_ua_reg_t *reg;
  double t_req;
} reg_ctx_t;

static void register_help(void) {
  printf("usage: sipr register --aor AOR [--registrar URI] [--contact URI]\n"
         "                     [--expires S] [--refresh] [common options]\n"
         "\n"
         "Registers a Contact for AOR (RFC 3261 §10.2) and prints the\n"
         "bindings the registrar returns. With --refresh the binding is\n"
         "refreshed before it expires until SIGINT or SIGTERM, then removed\n"
         "(Expires: 0).\n"
         "\n"
         "  --aor AOR        address-of-record, e.g. sip:alice@example.com\n"
         "  --registrar URI  registrar (default sip:DOMAIN of the AOR)\n"
         "  --contact URI    Contact to bind (default sip:USER@LOCAL:PORT)\n"
         "  --expires S      seconds asked (default 3600)\n"
         "  --refresh        keep the binding alive until interrupted\n"
         "  --remove         remove the Contact (Expires: 0) and exit\n"
         "\n" UACLI_COMMON_HELP);
}

static void print_bindings(uacli_run_t *r, reg_ctx_t *g,
                           const sipr_ua_ev_t *ev) {
  json_t *arr = r->o->json ? json_array() : NULL;
  sipr_msg_t *m = ev->msg;
  unsigned n = 0;
  for (sipr_hdr_t *h = m ? m->first[SIPR_HDR_CONTACT] : NULL; h;
       h = h->next_same) {
    if (sipr_hdr_parse(m, h, NULL) || !h->parsed)
      continue;
    for (sipr_addr_t *c = h->parsed; c; c = c->next) {
      n++;
      long exp = c->expires >= 0 ? (long)c->expires : -1;
      if (arr) {
        json_t *b = json_object();
        json_object_set_new(b, "contact", uacli_jstrn(c->uri.raw));
        json_object_set_new(b, "expires",
                            exp >= 0 ? json_integer(exp) : json_null());
        json_array_append_new(arr, b);
      } else {
        printf("  binding %.*s", SIPR_STR_ARG(c->uri.raw));
        if (exp >= 0)
          printf(" expires %ld", exp);
        printf("\n");
      }
    }
  }
  if (arr) {
    json_t *o =
        uacli_ev_json(r, g->removing ? "unregistered" : "registered", ev);
    json_object_set_new(o, "aor", json_string(g->aor));
    json_object_set_new(o, "expires",
                        json_integer(sipr_ua_reg_expires(g->reg)));
    json_object_set_new(o, "bindings", arr);
    uacli_json_out(o);
  } else if (!n) {
    printf("  no bindings\n");
  }
  fflush(stdout);
}

static void register_event(void *user, const sipr_ua_ev_t *ev) {
  reg_ctx_t *g = user;
  uacli_run_t *r = &g->run;
  if (ev->type != SIPR_UA_EV_REG)
    return;
  if (ev->status >= 200 && ev->status < 300) {
    if (!r->o->json)
      printf("%s: %s %u %s (%.0f ms)%s\n", g->aor,
             g->removing ? "unregistered" : "registered", ev->status,
             ev->reason, (uacli_elapsed(r) - g->t_req) * 1000,
             g->removing ? "" : "");
    if (!g->removing && !r->o->json)
      printf("  expires %u s\n", sipr_ua_reg_expires(g->reg));
    print_bindings(r, g, ev);
    g->registered = !g->removing;
    if (!g->refresh || g->removing) {
      r->rc = SIPR_EXIT_OK;
      r->done = 1;
    }
    g->t_req = uacli_elapsed(r);
    return;
  }
  if (r->o->json) {
    json_t *o = uacli_ev_json(r, "failed", ev);
    json_object_set_new(o, "aor", json_string(g->aor));
    json_object_set_new(o, "local", json_boolean(ev->msg == NULL));
    uacli_json_out(o);
  }
  uacli_error(r, ev->msg ? "status" : NULL, "%s: %s %u %s", g->aor,
              g->removing ? "removal failed:" : "registration failed:",
              ev->status, ev->reason);
  r->rc = SIPR_EXIT_FAIL;
  if (g->refresh && g->registered && !g->removing) {
    /* A failed refresh: the binding may linger; try to remove it. */
    g->removing = 1;
    if (sipr_ua_reg_remove(g->reg) == 0)
      return;
  }
  r->done = 1;
}

static void register_signal(uacli_run_t *r) {
  reg_ctx_t *g = (reg_ctx_t *)r;
  if (g->registered && !g->removing) {
    g->removing = 1;
    g->t_req = uacli_elapsed(r);
    if (sipr_ua_reg_remove(g->reg) == 0)
      return;
  }
  if (!g->registered)
    uacli_error(r, "interrupted", "interrupted before the registrar answered");
  r->rc = SIPR_EXIT_FAIL;
  r->done = 1;
}

static void register_timeout(uacli_run_t *r) {
  uacli_error(r, "timeout", "timeout: no final response within %g s",
              r->o->timeout);
  r->rc = SIPR_EXIT_FAIL;
  r->done = 1;
}

/* Without --refresh the command's limit is the timeout; with it the wait
 * is for a signal, then for the removal's response. */
static void register_wait(reg_ctx_t *g) {
  uacli_run_t *r = &g->run;
  if (!g->refresh) {
    uacli_run_loop(r, r->o->timeout, NULL, register_timeout);
    return;
  }
  while (!r->done) {
    sipr_loop_run_once(r->loop, 50);
    if (uacli_g_signal && !g->removing) {
      register_signal(r);
    } else if (!g->registered && !g->removing &&
               uacli_elapsed(r) - g->t_req > r->o->timeout) {
      register_timeout(r);
    } else if (g->removing && uacli_elapsed(r) - g->t_req > r->o->timeout) {
      register_timeout(r);
    }
  }
}

int sipr__cli_register(int argc, char **argv) {
  static const uacli_opt_t spec[] = {{"--aor", 1},
                                     {"--registrar", 1},
                                     {"--contact", 1},
                                     {"--expires", 1},
                                     {"--refresh", 0},
                                     {"--remove", 0},
                                     {0, 0}};
  reg_ctx_t g;
  memset(&g, 0, sizeof(g));
  uacli_opts_t o = {.cmd = "register", .proto = SIPR_TP_UDP, .timeout = 32};
  g.run.o = &o;
  uacli_args_t a;
  int rc = uacli_parse_args(argc, argv, &o, spec, 0, &a, register_help);
  if (rc)
    return rc < 0 ? SIPR_EXIT_OK : rc;
  if (!a.set[0])
    return sipr__cli_usage_error("register", "--aor is required");
  char aor[512];
  snprintf(aor, sizeof(aor), "%s%s",
           strncmp(a.val[0], "sip:", 4) && strncmp(a.val[0], "sips:", 5)
               ? "sip:"
               : "",
           a.val[0]);
  g.aor = aor;
  const char *registrar = a.set[1] ? a.val[1] : NULL;
  o.contact = a.set[2] ? a.val[2] : NULL;
  double exp = 3600;
  if (a.set[3] &&
      (rc = uacli_num_opt(&o, "--expires", a.val[3], 0, 4294967295.0, &exp)))
    return rc;
  g.refresh = a.set[4];
  if (a.set[5] && g.refresh)
    return sipr__cli_usage_error("register", "--remove and --refresh exclude "
                                             "each other");
  if (a.set[5])
    exp = 0;
  if ((rc = uacli_read_password(&o)))
    return rc;
  uacli_catch_signals();
  char target[600];
  if (!registrar) {
    const char *at = strchr(aor, '@');
    snprintf(target, sizeof(target), "sip:%s", at ? at + 1 : aor + 4);
  }
  if ((rc = uacli_ua_start(&g.run, registrar ? registrar : target, aor,
                           register_event, &g))) {
    uacli_ua_stop(&g.run);
    return rc;
  }
  char err[256] = "";
  g.t_req = uacli_elapsed(&g.run);
  g.removing = exp == 0;
  if (sipr_ua_register(g.run.ua, aor, registrar, (unsigned)exp, g.refresh, &g,
                       &g.reg, err, sizeof(err)) != 0) {
    uacli_error(&g.run, NULL, "%s", err[0] ? err : "cannot send");
    uacli_ua_stop(&g.run);
    return SIPR_EXIT_FAIL;
  }
  register_wait(&g);
  rc = g.run.rc;
  uacli_ua_stop(&g.run);
  return rc;
}
