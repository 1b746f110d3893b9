/*
 * What the user-agent commands share (cmd_ua.c: options, the loop,
 * output, ping/message/register; cmd_ua_call.c: call and answer).
 */
#ifndef SIPR_CLI_CMD_UA_H
#define SIPR_CLI_CMD_UA_H

#include <jansson.h>
#include <signal.h>
#include <time.h>

#include "sipr/ua.h"

#define MAX_PASSWORD 1024

typedef struct uacli_opts {
  const char *cmd;
  const char *from, *proxy, *user, *local, *contact;
  int pw_stdin, json, follow;
  int any_user; /* take requests for any user at our address (§8.2.2.1) */
  sipr_tp_proto_t proto;
  double timeout;
  char password[MAX_PASSWORD];
  int have_password;
} uacli_opts_t;

#define UACLI_COMMON_HELP                                                      \
  "common options:\n"                                                          \
  "  --from AOR          our identity (default sip:USER@HOSTNAME)\n"           \
  "  --proxy URI         outbound proxy: every request goes there first\n"     \
  "  --user U            digest username (with --password-stdin)\n"            \
  "  --password-stdin    read the digest password from standard input\n"       \
  "  --transport udp|tcp transport for URIs that name none (default udp)\n"    \
  "  --local HOST:PORT   local address (default 127.0.0.1, or the address\n"   \
  "                      that routes to the target; port 0: any)\n"            \
  "  --timeout S         seconds to wait for a final response (default 32)\n"  \
  "  --follow-redirects  on a 3xx, retry its Contacts by q (RFC 3261 "         \
  "§8.1.3.4)\n"                                                               \
  "  --json              one JSON object per event on standard output\n"       \
  "\n"                                                                         \
  "Exit status: 0 success; 1 a protocol or input failure (status, timeout,\n"  \
  "transport, bad URI; what failed is said on standard error); 2 usage.\n"

/* A command-specific option: its name and whether it takes a value. */
typedef struct uacli_opt {
  const char *name;
  int has_value;
} uacli_opt_t;

typedef struct uacli_args {
  const char *pos[4];
  int npos;
  const char *val[16]; /* by index into the command's spec */
  int set[16];
} uacli_args_t;

typedef struct uacli_run {
  uacli_opts_t *o;
  sipr_loop_t *loop;
  sipr_ua_t *ua;
  struct timespec t0;
  int done;
  int rc;
} uacli_run_t;

/* The last SIGINT/SIGTERM seen (0: none), set by uacli_catch_signals(). */
extern volatile sig_atomic_t uacli_g_signal;

/* Parses argv into the common options o and the command's options a
 * (spec ends with a NULL name; at most maxpos positional arguments).
 * Returns 0, -1 after printing help (exit 0), or SIPR_EXIT_USAGE. */
int uacli_parse_args(int argc, char **argv, uacli_opts_t *o,
                     const uacli_opt_t *spec, int maxpos, uacli_args_t *a,
                     void (*help)(void));
/* A number option in [lo, hi]: 0, or a usage error printed and returned. */
int uacli_num_opt(const uacli_opts_t *o, const char *name, const char *v,
                  double lo, double hi, double *out);
/* --password-stdin: the first line of standard input. 0 or exit 1. */
int uacli_read_password(uacli_opts_t *o);
void uacli_catch_signals(void);
/* Seconds since uacli_ua_start(). */
double uacli_elapsed(const uacli_run_t *r);
/* The local address that routes to target's host (127.0.0.1 when it
 * cannot be told), bracketed for IPv6. */
void uacli_route_source(const char *target, char *out, size_t cap);
/* The host of "HOST[:PORT]" / "[V6][:PORT]" without brackets. */
void uacli_addr_host(const char *hp, char *out, size_t cap);
/* Opens the loop and the UA (bound to --local, or to the address routing
 * to target). 0 or SIPR_EXIT_FAIL with the reason printed. */
int uacli_ua_start(uacli_run_t *r, const char *target, const char *from_default,
                   sipr_ua_event_cb *cb, void *ctx);
void uacli_ua_stop(uacli_run_t *r);
/* Runs until r->done, a signal (on_sig once, then at most 5 s more), or
 * deadline seconds (on_timeout; 0: none). NULL hooks: stop, status 1. */
void uacli_run_loop(uacli_run_t *r, double deadline,
                    void (*on_sig)(uacli_run_t *),
                    void (*on_timeout)(uacli_run_t *));
/* Prints obj as one line and frees it. */
void uacli_json_out(json_t *obj);
json_t *uacli_jstrn(sipr_str_t s);
/* A failure of the command: "sipr CMD: MESSAGE" on standard error and,
 * with --json, {"event": "error", "error": KIND, "message": MESSAGE} on
 * standard output. kind: "dns", "transport", "timeout", "status",
 * "interrupted", "input"; NULL: told from the message ("DNS: ...",
 * "timeout: ...", "transport ..."; else "input"). */
void uacli_error(const uacli_run_t *r, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* {"event": event, "time": ..., "status", "reason", "call_id"}. */
json_t *uacli_ev_json(const uacli_run_t *r, const char *event,
                      const sipr_ua_ev_t *ev);

#endif
