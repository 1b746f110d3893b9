/*
 * The user-agent commands: sipr ping, register, message, call, answer
 * (docs/ARCHITECTURE.md, "The command"). Each runs one UA (include/
 * sipr/ua.h) on one loop with its own transport bound to --local, prints
 * what happens for people, or one JSON object per event with --json, and
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "sipr/ua.h"

#define MAX_PASSWORD 1024

#ifndef SIPR_VERSION
#define SIPR_VERSION "0.1.0"
#endif

/* ---- options every UA command takes ----------------------------------- */
typedef struct ua_opts {
  const char *cmd;
  const char *from, *proxy, *user, *local, *contact;
  int pw_stdin, json, follow;
  sipr_tp_proto_t proto;
  double timeout;
  char password[MAX_PASSWORD];
  int have_password;
} ua_opts_t;

#define COMMON_HELP                                                            \
  "common options:\n"                                                          \
  "  --from AOR          our identity (default sip:USER@HOSTNAME)\n"           \
  "  --proxy URI         outbound proxy: every request goes there first\n"     \
  "  --user U            digest username (with --password-stdin)\n"            \
  "  --password-stdin    read the digest password from standard input\n"       \
  "  --transport udp|tcp transport for URIs that name none (default udp)\n"    \
  "  --local HOST:PORT   local address (default 127.0.0.1, or the address\n"   \
  "                      that routes to the target; port 0: any)\n"            \
  "  --timeout S         seconds to wait for a final response (default 32)\n"  \
  "  --follow-redirects  on a 3xx, retry its Contacts by q (RFC 3261 §8.1.3.4)\n" \
  "  --json              one JSON object per event on standard output\n"       \
  "\n"                                                                         \
  "Exit status: 0 success; 1 a protocol or input failure (status, timeout,\n" \
  "transport, bad URI; what failed is said on standard error); 2 usage.\n"

/* A command-specific option: its name and whether it takes a value. */
typedef struct opt_spec {
  const char *name;
  int has_value;
} opt_spec_t;

typedef struct parsed {
  const char *pos[4];
  int npos;
  const char *val[16]; /* by index into the command's spec */
  int set[16];
} parsed_t;

/* Parses argv into common options o and command options p. Returns -1
 * after printing help (exit 0), 0, or SIPR_EXIT_USAGE. */
static int parse_args(int argc, char **argv, ua_opts_t *o, const opt_spec_t *spec,
                      int maxpos, parsed_t *p, void (*help)(void)) {
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
        return sipr__cli_usage_error(o->cmd, "%s takes no value", spec[si].name);
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
    case 0: o->from = v; break;
    case 1: o->proxy = v; break;
    case 2: o->user = v; break;
    case 3:
      if (strcmp(v, "udp") == 0)
        o->proto = SIPR_TP_UDP;
      else if (strcmp(v, "tcp") == 0)
        o->proto = SIPR_TP_TCP;
      else
        return sipr__cli_usage_error(o->cmd, "--transport: udp or tcp, not '%s'",
                                     v);
      break;
    case 4: o->local = v; break;
    case 5: {
      char *end;
      errno = 0;
      double t = strtod(v, &end);
      if (errno || *end || !(t > 0) || t > 86400)
        return sipr__cli_usage_error(o->cmd, "--timeout: seconds (0-86400], not "
                                     "'%s'", v);
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
static int num_opt(const ua_opts_t *o, const char *name, const char *v,
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

static int read_password(ua_opts_t *o) {
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
static volatile sig_atomic_t g_signal;

static void on_signal(int sig) { g_signal = sig; }

static void catch_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
}

/* ---- the UA ---------------------------------------------------------------- */
typedef struct run {
  ua_opts_t *o;
  sipr_loop_t *loop;
  sipr_ua_t *ua;
  struct timespec t0;
  int done;
  int rc;
} run_t;

static double elapsed(const run_t *r) {
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
static void route_source(const char *target, char *out, size_t cap) {
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
    const void *ap = fam == AF_INET
                         ? (const void *)&((struct sockaddr_in *)&me)->sin_addr
                         : (const void *)&((struct sockaddr_in6 *)&me)->sin6_addr;
    if (inet_ntop(fam, ap, a, sizeof(a)))
      snprintf(out, cap, fam == AF_INET6 ? "[%s]" : "%s", a);
  }
  close(fd);
}

/* The host of "HOST", "HOST:PORT", "[V6]:PORT" or "[V6]", without
 * brackets (for SDP). */
static void addr_host(const char *hp, char *out, size_t cap) {
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
static int ua_start(run_t *r, const char *target, const char *from_default,
                    sipr_ua_event_cb *cb, void *ctx) {
  ua_opts_t *o = r->o;
  clock_gettime(CLOCK_MONOTONIC, &r->t0);
  r->loop = sipr_loop_new(NULL);
  if (!r->loop) {
    fprintf(stderr, "sipr %s: cannot create the event loop\n", o->cmd);
    return SIPR_EXIT_FAIL;
  }
  char spec[300], src[80];
  if (o->local) {
    snprintf(spec, sizeof(spec), "udp:%s", o->local);
  } else {
    route_source(o->proxy ? o->proxy : target, src, sizeof(src));
    snprintf(spec, sizeof(spec), "udp:%s:0", src);
  }
  sipr_tp_addr_t local;
  if (sipr_tp_addr_parse(spec, &local) != 0) {
    fprintf(stderr, "sipr %s: bad --local '%s' (want HOST:PORT, numeric)\n",
            o->cmd, o->local ? o->local : spec);
    return SIPR_EXIT_FAIL;
  }
  char from[512];
  if (o->from)
    snprintf(from, sizeof(from), "%s", o->from);
  else if (from_default)
    snprintf(from, sizeof(from), "%s", from_default);
  else
    default_from(from, sizeof(from));
  if (strncmp(from, "sip:", 4) && strncmp(from, "sips:", 5) && !strchr(from, '<')) {
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
  char err[256] = "";
  r->ua = sipr_ua_open(r->loop, &cfg, &local, cb, ctx, err, sizeof(err));
  if (!r->ua) {
    fprintf(stderr, "sipr %s: %s\n", o->cmd, err[0] ? err : "cannot start");
    return SIPR_EXIT_FAIL;
  }
  return 0;
}

static void ua_stop(run_t *r) {
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
static void run_loop(run_t *r, double deadline, void (*on_sig)(run_t *),
                     void (*on_timeout)(run_t *)) {
  int to_seen = 0;
  double sig_at = -1;
  while (!r->done) {
    sipr_loop_run_once(r->loop, 50);
    if (g_signal && sig_at < 0) {
      sig_at = elapsed(r);
      if (on_sig) {
        on_sig(r);
      } else {
        fprintf(stderr, "sipr %s: interrupted\n", r->o->cmd);
        r->rc = SIPR_EXIT_FAIL;
        r->done = 1;
      }
    } else if (sig_at >= 0 && !r->done && elapsed(r) - sig_at > 5) {
      /* What the signal started (BYE, CANCEL) got no answer in 5 s. */
      fprintf(stderr, "sipr %s: interrupted; no answer within 5 s\n",
              r->o->cmd);
      r->rc = SIPR_EXIT_FAIL;
      r->done = 1;
    }
    if (deadline > 0 && !to_seen && !r->done && elapsed(r) >= deadline) {
      to_seen = 1;
      if (on_timeout) {
        on_timeout(r);
      } else {
        fprintf(stderr, "sipr %s: timeout: no final response within %g s\n",
                r->o->cmd, deadline);
        r->rc = SIPR_EXIT_FAIL;
        r->done = 1;
      }
    }
  }
}

/* ---- output ---------------------------------------------------------------- */
static void json_out(json_t *obj) {
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

static json_t *jstrn(sipr_str_t s) {
  return s.p ? json_stringn(s.p, s.len) : json_null();
}

/* The value of the first header named type in m, as a slice. */
static sipr_str_t hval(sipr_msg_t *m, sipr_hdr_type_t type) {
  return m && m->first[type] ? m->first[type]->value : SIPR_STR_NULL;
}

static json_t *ev_json(const run_t *r, const char *event, const sipr_ua_ev_t *ev) {
  json_t *o = json_object();
  json_object_set_new(o, "event", json_string(event));
  json_object_set_new(o, "time", json_real(round(elapsed(r) * 1000) / 1000));
  if (ev) {
    if (ev->status)
      json_object_set_new(o, "status", json_integer(ev->status));
    if (ev->reason)
      json_object_set_new(o, "reason", json_string(ev->reason));
    if (ev->msg)
      json_object_set_new(o, "call_id", jstrn(sipr_msg_call_id(ev->msg)));
  }
  return o;
}

/* ---- ping ------------------------------------------------------------------- */
typedef struct ping_ctx {
  run_t run;
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
         "\n" COMMON_HELP
         "ping exits 0 when every request got a 2xx.\n");
}

static void ping_send(ping_ctx_t *p) {
  run_t *r = &p->run;
  sipr_ua_req_opts_t ro = {.method = "OPTIONS", .ruri = p->uri,
                           .extra = "Accept: application/sdp\r\n"};
  char err[256] = "";
  p->t_sent = elapsed(r);
  p->sent++;
  if (sipr_ua_request(r->ua, &ro, p, NULL, err, sizeof(err)) != 0) {
    fprintf(stderr, "sipr ping: %s\n", err[0] ? err : "cannot send");
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
  run_t *r = &p->run;
  if (ev->type != SIPR_UA_EV_RESPONSE || ev->status < 200)
    return;
  double rtt = (elapsed(r) - p->t_sent) * 1000;
  p->waiting = 0;
  sipr_str_t ua = hval(ev->msg, SIPR_HDR_USER_AGENT);
  if (!ua.p)
    ua = hval(ev->msg, SIPR_HDR_SERVER);
  sipr_str_t allow = hval(ev->msg, SIPR_HDR_ALLOW);
  if (r->o->json) {
    json_t *o = ev_json(r, "response", ev);
    json_object_set_new(o, "uri", json_string(p->uri));
    json_object_set_new(o, "seq", json_integer(p->sent));
    json_object_set_new(o, "rtt_ms", json_real(round(rtt * 1000) / 1000));
    json_object_set_new(o, "local", json_boolean(ev->msg == NULL));
    json_object_set_new(o, "user_agent", jstrn(ua));
    json_object_set_new(o, "allow", jstrn(allow));
    json_out(o);
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
    fprintf(stderr, "sipr ping: %s: %u %s\n", p->uri, ev->status, ev->reason);
  else if (ev->status >= 300)
    fprintf(stderr, "sipr ping: %s answered %u %s\n", p->uri, ev->status,
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

static void ping_timeout(run_t *r) {
  fprintf(stderr, "sipr ping: timeout: no final response within %g s\n",
          r->o->timeout);
  r->rc = SIPR_EXIT_FAIL;
  r->done = 1;
}

int sipr__cli_ping(int argc, char **argv) {
  static const opt_spec_t spec[] = {{"--count", 1}, {"--interval", 1}, {0, 0}};
  ping_ctx_t p;
  memset(&p, 0, sizeof(p));
  ua_opts_t o = {.cmd = "ping", .proto = SIPR_TP_UDP, .timeout = 32};
  p.run.o = &o;
  parsed_t a;
  int rc = parse_args(argc, argv, &o, spec, 1, &a, ping_help);
  if (rc)
    return rc < 0 ? SIPR_EXIT_OK : rc;
  if (a.npos != 1)
    return sipr__cli_usage_error("ping", "which URI?");
  p.uri = a.pos[0];
  double d;
  p.count = 1;
  p.interval = 1;
  if (a.set[0]) {
    if ((rc = num_opt(&o, "--count", a.val[0], 1, 1000000, &d)))
      return rc;
    p.count = (long)d;
  }
  if (a.set[1]) {
    if ((rc = num_opt(&o, "--interval", a.val[1], 0, 3600, &d)))
      return rc;
    p.interval = d;
  }
  if ((rc = read_password(&o)))
    return rc;
  catch_signals();
  if ((rc = ua_start(&p.run, p.uri, NULL, ping_event, &p))) {
    ua_stop(&p.run);
    return rc;
  }
  sipr_timer_init(&p.next, ping_next, &p);
  ping_send(&p);
  /* The timeout is per request: the total allows each its share. */
  double limit = o.timeout * (double)p.count + p.interval * (double)(p.count - 1);
  run_loop(&p.run, limit, NULL, ping_timeout);
  sipr_timer_stop(p.run.loop, &p.next);
  rc = p.run.rc;
  ua_stop(&p.run);
  return rc;
}

/* ---- message ------------------------------------------------------------- */
typedef struct msg_ctx {
  run_t run;
  const char *uri;
} msg_ctx_t;

static void message_help(void) {
  printf("usage: sipr message URI TEXT [common options]\n"
         "\n"
         "Sends TEXT to URI in a MESSAGE request (RFC 3428, text/plain) and\n"
         "prints the final response. Exits 0 on a 2xx.\n"
         "\n" COMMON_HELP);
}

static void message_event(void *user, const sipr_ua_ev_t *ev) {
  msg_ctx_t *m = user;
  run_t *r = &m->run;
  if (ev->type != SIPR_UA_EV_RESPONSE)
    return;
  if (r->o->json) {
    json_t *o = ev_json(r, ev->status < 200 ? "provisional" : "response", ev);
    json_object_set_new(o, "uri", json_string(m->uri));
    json_object_set_new(o, "local", json_boolean(ev->msg == NULL));
    json_out(o);
  } else if (ev->msg) {
    printf("%s: %u %s\n", m->uri, ev->status, ev->reason);
    fflush(stdout);
  }
  if (ev->status < 200)
    return;
  if (ev->status >= 300)
    fprintf(stderr, "sipr message: %s: %u %s\n", m->uri, ev->status,
            ev->reason);
  r->rc = ev->status < 300 ? SIPR_EXIT_OK : SIPR_EXIT_FAIL;
  r->done = 1;
}

int sipr__cli_message(int argc, char **argv) {
  msg_ctx_t m;
  memset(&m, 0, sizeof(m));
  ua_opts_t o = {.cmd = "message", .proto = SIPR_TP_UDP, .timeout = 32};
  m.run.o = &o;
  parsed_t a;
  int rc = parse_args(argc, argv, &o, NULL, 2, &a, message_help);
  if (rc)
    return rc < 0 ? SIPR_EXIT_OK : rc;
  if (a.npos != 2)
    return sipr__cli_usage_error("message", "want URI and TEXT");
  m.uri = a.pos[0];
  const char *text = a.pos[1];
  if ((rc = read_password(&o)))
    return rc;
  catch_signals();
  if ((rc = ua_start(&m.run, m.uri, NULL, message_event, &m))) {
    ua_stop(&m.run);
    return rc;
  }
  sipr_ua_req_opts_t ro = {.method = "MESSAGE", .ruri = m.uri,
                           .ctype = "text/plain;charset=UTF-8", .body = text,
                           .body_len = strlen(text)};
  char err[256] = "";
  if (sipr_ua_request(m.run.ua, &ro, &m, NULL, err, sizeof(err)) != 0) {
    fprintf(stderr, "sipr message: %s\n", err[0] ? err : "cannot send");
    ua_stop(&m.run);
    return SIPR_EXIT_FAIL;
  }
  run_loop(&m.run, o.timeout, NULL, NULL);
  rc = m.run.rc;
  ua_stop(&m.run);
  return rc;
}

/* ---- register ----------------------------------------------------------- */
typedef struct reg_ctx {
  run_t run;
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
         "\n" COMMON_HELP);
}

static void print_bindings(run_t *r, reg_ctx_t *g, const sipr_ua_ev_t *ev) {
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
        json_object_set_new(b, "contact", jstrn(c->uri.raw));
        json_object_set_new(b, "expires", exp >= 0 ? json_integer(exp) : json_null());
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
    json_t *o = ev_json(r, g->removing ? "unregistered" : "registered", ev);
    json_object_set_new(o, "aor", json_string(g->aor));
    json_object_set_new(o, "expires", json_integer(sipr_ua_reg_expires(g->reg)));
    json_object_set_new(o, "bindings", arr);
    json_out(o);
  } else if (!n) {
    printf("  no bindings\n");
  }
  fflush(stdout);
}

static void register_event(void *user, const sipr_ua_ev_t *ev) {
  reg_ctx_t *g = user;
  run_t *r = &g->run;
  if (ev->type != SIPR_UA_EV_REG)
    return;
  if (ev->status >= 200 && ev->status < 300) {
    if (!r->o->json)
      printf("%s: %s %u %s (%.0f ms)%s\n", g->aor,
             g->removing ? "unregistered" : "registered", ev->status,
             ev->reason, (elapsed(r) - g->t_req) * 1000,
             g->removing ? "" : "");
    if (!g->removing && !r->o->json)
      printf("  expires %u s\n", sipr_ua_reg_expires(g->reg));
    print_bindings(r, g, ev);
    g->registered = !g->removing;
    if (!g->refresh || g->removing) {
      r->rc = SIPR_EXIT_OK;
      r->done = 1;
    }
    g->t_req = elapsed(r);
    return;
  }
  if (r->o->json) {
    json_t *o = ev_json(r, "failed", ev);
    json_object_set_new(o, "aor", json_string(g->aor));
    json_object_set_new(o, "local", json_boolean(ev->msg == NULL));
    json_out(o);
  }
  fprintf(stderr, "sipr register: %s: %s %u %s\n", g->aor,
          g->removing ? "removal failed:" : "registration failed:", ev->status,
          ev->reason);
  r->rc = SIPR_EXIT_FAIL;
  if (g->refresh && g->registered && !g->removing) {
    /* A failed refresh: the binding may linger; try to remove it. */
    g->removing = 1;
    if (sipr_ua_reg_remove(g->reg) == 0)
      return;
  }
  r->done = 1;
}

static void register_signal(run_t *r) {
  reg_ctx_t *g = (reg_ctx_t *)r;
  if (g->registered && !g->removing) {
    g->removing = 1;
    g->t_req = elapsed(r);
    if (sipr_ua_reg_remove(g->reg) == 0)
      return;
  }
  r->rc = g->removing ? SIPR_EXIT_FAIL : SIPR_EXIT_OK;
  r->done = 1;
}

static void register_timeout(run_t *r) {
  fprintf(stderr, "sipr register: timeout: no final response within %g s\n",
          r->o->timeout);
  r->rc = SIPR_EXIT_FAIL;
  r->done = 1;
}

/* Without --refresh the command's limit is the timeout; with it the wait
 * is for a signal, then for the removal's response. */
static void register_wait(reg_ctx_t *g) {
  run_t *r = &g->run;
  if (!g->refresh) {
    run_loop(r, r->o->timeout, NULL, register_timeout);
    return;
  }
  while (!r->done) {
    sipr_loop_run_once(r->loop, 50);
    if (g_signal && !g->removing) {
      register_signal(r);
    } else if (!g->registered && !g->removing &&
               elapsed(r) - g->t_req > r->o->timeout) {
      register_timeout(r);
    } else if (g->removing && elapsed(r) - g->t_req > r->o->timeout) {
      register_timeout(r);
    }
  }
}

int sipr__cli_register(int argc, char **argv) {
  static const opt_spec_t spec[] = {{"--aor", 1},     {"--registrar", 1},
                                    {"--contact", 1}, {"--expires", 1},
                                    {"--refresh", 0}, {"--remove", 0},
                                    {0, 0}};
  reg_ctx_t g;
  memset(&g, 0, sizeof(g));
  ua_opts_t o = {.cmd = "register", .proto = SIPR_TP_UDP, .timeout = 32};
  g.run.o = &o;
  parsed_t a;
  int rc = parse_args(argc, argv, &o, spec, 0, &a, register_help);
  if (rc)
    return rc < 0 ? SIPR_EXIT_OK : rc;
  if (!a.set[0])
    return sipr__cli_usage_error("register", "--aor is required");
  char aor[512];
  snprintf(aor, sizeof(aor), "%s%s",
           strncmp(a.val[0], "sip:", 4) && strncmp(a.val[0], "sips:", 5) ? "sip:" : "",
           a.val[0]);
  g.aor = aor;
  const char *registrar = a.set[1] ? a.val[1] : NULL;
  o.contact = a.set[2] ? a.val[2] : NULL;
  double exp = 3600;
  if (a.set[3] && (rc = num_opt(&o, "--expires", a.val[3], 0, 4294967295.0, &exp)))
    return rc;
  g.refresh = a.set[4];
  if (a.set[5] && g.refresh)
    return sipr__cli_usage_error("register", "--remove and --refresh exclude "
                                             "each other");
  if (a.set[5])
    exp = 0;
  if ((rc = read_password(&o)))
    return rc;
  catch_signals();
  char target[600];
  if (!registrar) {
    const char *at = strchr(aor, '@');
    snprintf(target, sizeof(target), "sip:%s", at ? at + 1 : aor + 4);
  }
  if ((rc = ua_start(&g.run, registrar ? registrar : target, aor,
                     register_event, &g))) {
    ua_stop(&g.run);
    return rc;
  }
  char err[256] = "";
  g.t_req = elapsed(&g.run);
  g.removing = exp == 0;
  if (sipr_ua_register(g.run.ua, aor, registrar, (unsigned)exp, g.refresh, &g,
                       &g.reg, err, sizeof(err)) != 0) {
    fprintf(stderr, "sipr register: %s\n", err[0] ? err : "cannot send");
    ua_stop(&g.run);
    return SIPR_EXIT_FAIL;
  }
  register_wait(&g);
  rc = g.run.rc;
  ua_stop(&g.run);
  return rc;
}

/* ---- call ------------------------------------------------------------------ */
typedef struct call_ctx {
  run_t run;
  const char *uri;
  double duration, cancel_after;
  int answered, ended, failed_status, have_cancel, provisional;
  sipr_call_t *call;
  sipr_timer_t t_hold, t_cancel, t_giveup;
} call_ctx_t;

static void call_help(void) {
  printf("usage: sipr call URI [--duration S] [--cancel-after S] [common options]\n"
         "\n"
         "Places a call (RFC 3261 §13): INVITE with an SDP offer, prints each\n"
         "provisional and final response with the time since the start, ACKs\n"
         "the answer, holds the call for --duration, then sends BYE.\n"
         "\n"
         "  --duration S      seconds to hold the answered call (default 5)\n"
         "  --cancel-after S  CANCEL the call if it is not answered within S\n"
         "                    seconds (§9.1)\n"
         "\n" COMMON_HELP
         "call exits 0 when the call was answered and ended cleanly, else 1\n"
         "with the final status on standard error.\n");
}

static void print_media(run_t *r, const char *sdp) {
  sipr_sdp_t s;
  if (!sdp || sipr_sdp_parse(sipr_str_cstr(sdp), &s) != 0) {
    if (!r->o->json)
      printf("  (no usable SDP answer)\n");
    return;
  }
  for (unsigned i = 0; i < s.nm; i++) {
    if (r->o->json) {
      json_t *o = ev_json(r, "media", NULL);
      json_object_set_new(o, "media", jstrn(s.m[i].media));
      json_object_set_new(o, "address", jstrn(s.m[i].conn));
      json_object_set_new(o, "port", json_integer(s.m[i].port));
      json_object_set_new(o, "proto", jstrn(s.m[i].proto));
      json_object_set_new(o, "formats", jstrn(s.m[i].formats));
      json_out(o);
    } else {
      printf("  media %.*s %.*s:%d %.*s %.*s\n", SIPR_STR_ARG(s.m[i].media),
             SIPR_STR_ARG(s.m[i].conn), s.m[i].port, SIPR_STR_ARG(s.m[i].proto),
             SIPR_STR_ARG(s.m[i].formats));
    }
  }
}

/* The dialog's remote target and route set (§12.1.2). */
static void print_dialog(run_t *r, const sipr_dlg_t *d) {
  if (!d)
    return;
  unsigned n = sipr_dlg_route_count(d);
  if (r->o->json) {
    json_t *o = ev_json(r, "dialog", NULL);
    json_object_set_new(o, "remote_target", json_string(sipr_dlg_remote_target(d)));
    json_t *a = json_array();
    for (unsigned i = 0; i < n; i++)
      json_array_append_new(a, json_string(sipr_dlg_route(d, i)));
    json_object_set_new(o, "route", a);
    json_out(o);
    return;
  }
  printf("  dialog: remote target %s\n", sipr_dlg_remote_target(d));
  for (unsigned i = 0; i < n; i++)
    printf("  route %s\n", sipr_dlg_route(d, i));
}

static void call_line(run_t *r, const char *event, const sipr_ua_ev_t *ev,
                      const char *what) {
  if (r->o->json) {
    json_t *o = ev_json(r, event, ev);
    json_out(o);
    return;
  }
  printf("[%8.3f] ", elapsed(r));
  if (ev && ev->status)
    printf("%u %s", ev->status, ev->reason);
  if (what)
    printf("%s%s", ev && ev->status ? " " : "", what);
  printf("\n");
  fflush(stdout);
}

static void hold_done(sipr_loop_t *loop, void *arg) {
  (void)loop;
  call_ctx_t *c = arg;
  if (c->call && !c->ended) {
    call_line(&c->run, "bye", NULL, "BYE sent");
    sipr_call_hangup(c->call);
  }
}

static void cancel_now(sipr_loop_t *loop, void *arg) {
  (void)loop;
  call_ctx_t *c = arg;
  if (c->call && !c->answered) {
    call_line(&c->run, "cancel", NULL, "CANCEL (no answer)");
    sipr_call_cancel(c->call);
  }
}

static void call_event(void *user, const sipr_ua_ev_t *ev) {
  call_ctx_t *c = user;
  run_t *r = &c->run;
  switch (ev->type) {
  case SIPR_UA_EV_PROGRESS:
    c->provisional = ev->status < 200;
    call_line(r, "provisional", ev, NULL);
    break;
  case SIPR_UA_EV_ANSWERED:
    c->answered = 1;
    sipr_timer_stop(r->loop, &c->t_cancel);
    call_line(r, "answered", ev, "(ACK sent)");
    print_dialog(r, sipr_call_dialog(ev->call));
    print_media(r, sipr_call_remote_sdp(ev->call));
    sipr_timer_start(r->loop, &c->t_hold, (uint64_t)(c->duration * 1000));
    break;
  case SIPR_UA_EV_FORK_BYE:
    call_line(r, "fork_answered", ev, "(another branch: ACK and BYE sent)");
    break;
  case SIPR_UA_EV_FAILED:
    c->failed_status = (int)ev->status;
    call_line(r, "failed", ev, NULL);
    fprintf(stderr, "sipr call: %s: %u %s\n", c->uri, ev->status, ev->reason);
    break;
  case SIPR_UA_EV_ENDED:
    c->ended = 1;
    call_line(r, "ended", ev, ev->msg && ev->msg->is_request
                                  ? "(BYE received)"
                                  : "(BYE answered)");
    if (ev->status >= 300 || !ev->status)
      fprintf(stderr, "sipr call: BYE: %u %s\n", ev->status, ev->reason);
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

static void call_signal(run_t *r) {
  call_ctx_t *c = (call_ctx_t *)r;
  if (c->call) {
    call_line(r, "interrupted", NULL, c->answered ? "BYE sent" : "CANCEL");
    c->failed_status = c->answered ? c->failed_status : 487;
    sipr_call_hangup(c->call);
  } else {
    r->done = 1;
  }
}

static void give_up(sipr_loop_t *loop, void *arg) {
  (void)loop;
  call_ctx_t *c = arg;
  fprintf(stderr, "sipr call: no answer to the CANCEL either; giving up\n");
  c->run.rc = SIPR_EXIT_FAIL;
  c->run.done = 1;
}

static void call_timeout(run_t *r) {
  call_ctx_t *c = (call_ctx_t *)r;
  if (c->answered)
    return;
  fprintf(stderr, "sipr call: timeout: %s within %g s\n",
          c->provisional ? "no answer" : "no response at all", r->o->timeout);
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
  static const opt_spec_t spec[] = {{"--duration", 1}, {"--cancel-after", 1},
                                    {0, 0}};
  call_ctx_t c;
  memset(&c, 0, sizeof(c));
  ua_opts_t o = {.cmd = "call", .proto = SIPR_TP_UDP, .timeout = 32};
  c.run.o = &o;
  parsed_t a;
  int rc = parse_args(argc, argv, &o, spec, 1, &a, call_help);
  if (rc)
    return rc < 0 ? SIPR_EXIT_OK : rc;
  if (a.npos != 1)
    return sipr__cli_usage_error("call", "which URI?");
  c.uri = a.pos[0];
  c.duration = 5;
  if (a.set[0] && (rc = num_opt(&o, "--duration", a.val[0], 0, 86400, &c.duration)))
    return rc;
  if (a.set[1]) {
    if ((rc = num_opt(&o, "--cancel-after", a.val[1], 0, 86400, &c.cancel_after)))
      return rc;
    c.have_cancel = 1;
  }
  if ((rc = read_password(&o)))
    return rc;
  catch_signals();
  if ((rc = ua_start(&c.run, c.uri, NULL, call_event, &c))) {
    ua_stop(&c.run);
    return rc;
  }
  sipr_timer_init(&c.t_hold, hold_done, &c);
  sipr_timer_init(&c.t_cancel, cancel_now, &c);
  sipr_timer_init(&c.t_giveup, give_up, &c);
  /* RFC 3264 §5: an audio offer for our address (no media flows). */
  char host[80], src[80];
  route_source(o.proxy ? o.proxy : c.uri, src, sizeof(src));
  addr_host(o.local ? o.local : src, host, sizeof(host));
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
    fprintf(stderr, "sipr call: %s\n", err[0] ? err : "cannot send");
    free(offer);
    ua_stop(&c.run);
    return SIPR_EXIT_FAIL;
  }
  free(offer);
  call_line(&c.run, "invite", NULL, "INVITE sent");
  if (c.have_cancel)
    sipr_timer_start(c.run.loop, &c.t_cancel, (uint64_t)(c.cancel_after * 1000));
  run_loop(&c.run, o.timeout, call_signal, call_timeout);
  if (c.failed_status && c.run.rc == SIPR_EXIT_OK)
    c.run.rc = SIPR_EXIT_FAIL;
  rc = c.run.rc;
  sipr_timer_stop(c.run.loop, &c.t_hold);
  sipr_timer_stop(c.run.loop, &c.t_cancel);
  sipr_timer_stop(c.run.loop, &c.t_giveup);
  ua_stop(&c.run);
  return rc;
}

/* ---- answer ----------------------------------------------------------------- */
typedef struct pending {
  struct pending *next;
  struct answer_ctx *ctx;
  sipr_call_t *call;
  sipr_timer_t t;
  int answered;
} pending_t;

typedef struct answer_ctx {
  run_t run;
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
         "\n" COMMON_HELP);
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
  run_t *r = &x->run;
  if (x->reply != 200) {
    if (!r->o->json)
      printf("[%8.3f] call %s rejected with %u\n", elapsed(r),
             sipr_call_id(p->call), x->reply);
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
  if (!ans || sipr_call_answer(p->call, ans) != 0)
    fprintf(stderr, "sipr answer: cannot answer call %s\n",
            sipr_call_id(p->call));
  else if (!r->o->json)
    printf("[%8.3f] call %s answered (200 OK sent)\n", elapsed(r),
           sipr_call_id(p->call));
  free(ans);
  fflush(stdout);
}

static void answer_event(void *user, const sipr_ua_ev_t *ev) {
  answer_ctx_t *x = user;
  run_t *r = &x->run;
  switch (ev->type) {
  case SIPR_UA_EV_REG:
    if (ev->status >= 200 && ev->status < 300) {
      if (x->removing) {
        if (!r->o->json)
          printf("[%8.3f] %s unregistered\n", elapsed(r), x->aor);
        x->reg_done = 1;
      } else {
        if (!x->registered && !r->o->json)
          printf("[%8.3f] %s registered (expires %u s)\n", elapsed(r), x->aor,
                 sipr_ua_reg_expires(x->reg));
        x->registered = 1;
      }
      if (r->o->json) {
        json_t *o = ev_json(r, x->removing ? "unregistered" : "registered", ev);
        json_object_set_new(o, "aor", json_string(x->aor));
        json_out(o);
      }
    } else {
      fprintf(stderr, "sipr answer: %s: registration %s %u %s\n", x->aor,
              x->removing ? "removal failed:" : "failed:", ev->status,
              ev->reason);
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
      json_t *o = ev_json(r, "message", ev);
      json_object_set_new(o, "from", jstrn(f));
      json_object_set_new(o, "text", jstrn(ev->msg->body));
      json_out(o);
    } else {
      printf("[%8.3f] MESSAGE from %.*s: %.*s\n", elapsed(r), SIPR_STR_ARG(f),
             SIPR_STR_ARG(ev->msg->body));
      fflush(stdout);
    }
    break;
  }
  case SIPR_UA_EV_INCOMING: {
    sipr_addr_t *from = sipr_msg_from(ev->msg);
    sipr_str_t f = from ? from->uri.raw : SIPR_STR("?");
    if (r->o->json) {
      json_t *o = ev_json(r, "incoming", ev);
      json_object_set_new(o, "from", jstrn(f));
      json_object_set_new(o, "request_uri", jstrn(ev->msg->ruri_str));
      json_out(o);
    } else {
      printf("[%8.3f] INVITE from %.*s (call %s)\n", elapsed(r),
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
      if (!r->o->json)
        printf("[%8.3f] call %s ringing (180 sent)\n", elapsed(r),
               sipr_call_id(ev->call));
    }
    sipr_timer_start(r->loop, &p->t, (uint64_t)(x->ring * 1000));
    break;
  }
  case SIPR_UA_EV_ANSWERED:
    call_line(r, "confirmed", NULL, "ACK received, call confirmed");
    break;
  case SIPR_UA_EV_FAILED:
    call_line(r, "failed", ev, "(call failed)");
    break;
  case SIPR_UA_EV_ENDED:
    if (ev->msg && ev->msg->is_request)
      call_line(r, "ended", NULL, "BYE received, call ended");
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
      g_signal = SIGTERM; /* as if told to stop: unregister and exit */
    break;
  }
  default:
    break;
  }
}

int sipr__cli_answer(int argc, char **argv) {
  static const opt_spec_t spec[] = {{"--aor", 1},  {"--registrar", 1},
                                    {"--ring", 1}, {"--reply", 1},
                                    {"--calls", 1}, {"--expires", 1},
                                    {0, 0}};
  answer_ctx_t x;
  memset(&x, 0, sizeof(x));
  ua_opts_t o = {.cmd = "answer", .proto = SIPR_TP_UDP, .timeout = 32};
  x.run.o = &o;
  parsed_t a;
  int rc = parse_args(argc, argv, &o, spec, 0, &a, answer_help);
  if (rc)
    return rc < 0 ? SIPR_EXIT_OK : rc;
  if (a.set[1] && !a.set[0])
    return sipr__cli_usage_error("answer", "--registrar needs --aor");
  char aor[512] = "";
  if (a.set[0])
    snprintf(aor, sizeof(aor), "%s%s",
             strncmp(a.val[0], "sip:", 4) && strncmp(a.val[0], "sips:", 5) ? "sip:"
                                                                          : "",
             a.val[0]);
  x.aor = aor;
  double d;
  x.reply = 200;
  if (a.set[2] && (rc = num_opt(&o, "--ring", a.val[2], 0, 3600, &x.ring)))
    return rc;
  if (a.set[3]) {
    if ((rc = num_opt(&o, "--reply", a.val[3], 200, 699, &d)))
      return rc;
    x.reply = (unsigned)d;
    if (x.reply != 200 && x.reply < 300)
      return sipr__cli_usage_error("answer", "--reply: 200 or 300-699");
  }
  if (a.set[4]) {
    if ((rc = num_opt(&o, "--calls", a.val[4], 1, 1e9, &d)))
      return rc;
    x.max_calls = (long)d;
  }
  double exp = 3600;
  if (a.set[5] && (rc = num_opt(&o, "--expires", a.val[5], 1, 4294967295.0, &exp)))
    return rc;
  if ((rc = read_password(&o)))
    return rc;
  catch_signals();
  const char *target = a.set[1] ? a.val[1] : NULL;
  if ((rc = ua_start(&x.run, target, aor[0] ? aor : NULL, answer_event, &x))) {
    ua_stop(&x.run);
    return rc;
  }
  {
    char src[80];
    route_source(o.proxy ? o.proxy : target, src, sizeof(src));
    addr_host(o.local ? o.local : src, x.host, sizeof(x.host));
  }
  char err[256] = "";
  if (a.set[1]) {
    x.t_req = elapsed(&x.run);
    if (sipr_ua_register(x.run.ua, aor, a.val[1], (unsigned)exp, 1, &x, &x.reg,
                         err, sizeof(err)) != 0) {
      fprintf(stderr, "sipr answer: %s\n", err[0] ? err : "cannot register");
      ua_stop(&x.run);
      return SIPR_EXIT_FAIL;
    }
  }
  if (!o.json)
    printf("[%8.3f] listening (%s)\n", elapsed(&x.run),
           aor[0] ? aor : "no registration");
  fflush(stdout);
  x.run.rc = SIPR_EXIT_OK;
  double stop_at = 0;
  while (!x.run.done) {
    sipr_loop_run_once(x.run.loop, 50);
    if (x.reg && !x.registered && !x.reg_failed &&
        elapsed(&x.run) - x.t_req > o.timeout) {
      fprintf(stderr, "sipr answer: timeout: registration got no answer "
                      "within %g s\n", o.timeout);
      x.run.rc = SIPR_EXIT_FAIL;
      break;
    }
    if (g_signal && !stop_at) {
      stop_at = elapsed(&x.run);
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
    if (stop_at && elapsed(&x.run) - stop_at > 5) {
      fprintf(stderr, "sipr answer: timeout: %s got no answer within 5 s\n",
              x.reg_done ? "the end of the calls" : "the registration removal");
      x.run.rc = SIPR_EXIT_FAIL;
      break;
    }
  }
  while (x.pending)
    pending_drop(&x, x.pending);
  rc = x.run.rc;
  ua_stop(&x.run);
  return rc;
}
