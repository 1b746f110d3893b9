/*
 * Server: the `sipr serve` daemon. Configuration (YAML file + command-line
 * overrides), logging to stderr (text or JSON lines, refusals rate-limited)
 * and the process itself (store, auth, registrar, worker stack, signals).
 *
 * Configuration keys (the YAML file is one mapping; the same names are
 * what sipr_server_cfg_set() takes, so the command line and the file share
 * one parser and one set of checks):
 *
 *   listen:          [udp:127.0.0.1:5060, tcp:127.0.0.1:5060]  (or one scalar)
 *   domains:         [example.com]                              (or one scalar)
 *   store:           memory | sqlite:PATH              default sqlite:./var/sipr.db
 *   auth:            on | off                          default on
 *   realm:           TEXT                              default first domain, else "sipr"
 *   auth_algorithms: [SHA-256, MD5]  (or one scalar)   digest algorithms offered,
 *                    in order (MD5, MD5-sess, SHA-256, SHA-256-sess); some
 *                    clients (SIPp 3.6) answer only the first challenge and
 *                    know only MD5: list MD5 first for them
 *   mode:            proxy | redirect                  default proxy
 *   fork:            parallel | sequential             default parallel (proxy
 *                    forking: all bindings at once, or by q-value groups)
 *   fork_timeout:    seconds a sequential group waits  default 20
 *   timer_c:         seconds (§16.8, > 180)            default 185
 *   recurse_3xx:     on | off                          default off (proxy:
 *                    try the Contacts of a 3xx instead of forwarding it)
 *   rules:           ["CONDITIONS -> ACTION", ...]     routing rules in order
 *                    (include/sipr/proxy.h, sipr_proxy_rule_check()); a
 *                    bad rule is refused at start with its FILE:LINE
 *   edge:            SIP-URI of a registrar            RFC 3327 edge proxy:
 *                    REGISTERs for domains not ours are relayed there
 *                    with our Path; requests coming back along it reach
 *                    the UA (default none: the registrar here answers)
 *   edge_path:       supported | always | required     default supported
 *                    (Path only when the UA says Supported: path; always;
 *                    or Require: path, and 421 to a UA without support)
 *   dns_servers:     "IP[:PORT],..." ([v6]:PORT)       name servers for next
 *                    hops named by host names (RFC 3263; A/AAAA today);
 *                    default resolv.conf's; /etc/hosts is read first
 *   workers:         N (0: number of cores)            default 0
 *   expires_min:     seconds                           default 60
 *   expires_default: seconds                           default 3600
 *   expires_max:     seconds                           default 86400
 *   log_level:       error | warn | info | debug       default info
 *   log_format:      text | json                       default text
 *
 * Expiry defaults: Kamailio's registrar uses min_expires 60 and
 * default_expires 3600, and leaves max_expires at 0 (no cap). sipr keeps
 * the first two and caps at one day (86400): an unbounded binding from a
 * phone that vanished is never what an operator wants.
 *
 * Threads: configuration functions are plain functions on caller memory.
 * The log functions are thread-safe (one mutex). sipr_server_main() runs
 * on the main thread and owns the signals (SIGHUP, SIGTERM, SIGINT).
 */
#define SIPR_HEADER_LAYER 9
#include "sipr/layer.h"

#ifndef SIPR_SERVER_H
#define SIPR_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "sipr/base.h"
#include "sipr/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- logging ------------------------------------------------------------ */

typedef enum sipr_log_level {
  SIPR_LOG_ERROR = 0,
  SIPR_LOG_WARN,
  SIPR_LOG_INFO,
  SIPR_LOG_DEBUG
} sipr_log_level_t;

typedef enum sipr_log_format { SIPR_LOG_TEXT = 0, SIPR_LOG_JSON } sipr_log_format_t;

/* "error", "warn", ... and back (case-sensitive; -1 when unknown). */
const char *sipr_log_level_name(sipr_log_level_t l);
int sipr_log_level_from_str(const char *s);

/* Sets the level and format (live: a reload calls it). Lines go to stderr
 * unless sipr_log_set_fd() named another descriptor (tests). */
void sipr_log_setup(sipr_log_level_t level, sipr_log_format_t format);
void sipr_log_set_fd(int fd);
/* The token bucket of refusal lines: rate lines per second, burst lines
 * at most at once (defaults 10 and 20). */
void sipr_log_set_rate(unsigned rate, unsigned burst);
int sipr_log_enabled(sipr_log_level_t level);

/* One line: text "2024-01-02T03:04:05.678Z info  message" or JSON
 * {"ts":"...","level":"info","msg":"message"}. Never rate-limited: for
 * the server's own events (start, reload, stop), not for what peers send. */
void sipr_log(sipr_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One line for a refused message (level info): its source, method (NULL
 * or "" for none), the status answered (0: dropped without answer) and
 * why. Rate-limited by the token bucket: when lines were suppressed, the
 * next line that passes (or sipr_log_tick()) first says
 * "N refusal lines suppressed". */
void sipr_log_refused(const sipr_tp_addr_t *src, const char *method,
                      unsigned status, const char *reason);
/* Flushes a pending "suppressed" summary once tokens are back; the server
 * calls it about once a second. */
void sipr_log_tick(void);
/* Refusal lines suppressed so far (tests, stats). */
uint64_t sipr_log_suppressed_total(void);

/* ---- configuration ------------------------------------------------------ */

#define SIPR_SERVER_MAX_LISTEN 16
#define SIPR_SERVER_MAX_DOMAINS 32
#define SIPR_SERVER_LISTEN_LEN 80
#define SIPR_SERVER_NAME_LEN 256
#define SIPR_SERVER_PATH_LEN 1024
#define SIPR_SERVER_MAX_RULES 32
#define SIPR_SERVER_RULE_LEN 256

typedef enum sipr_server_mode {
  SIPR_MODE_PROXY = 0,
  SIPR_MODE_REDIRECT
} sipr_server_mode_t;

/* Plain data, copyable by value (a reload builds one aside and swaps). */
typedef struct sipr_server_cfg {
  char listen[SIPR_SERVER_MAX_LISTEN][SIPR_SERVER_LISTEN_LEN];
  unsigned nlisten;
  char domains[SIPR_SERVER_MAX_DOMAINS][SIPR_SERVER_NAME_LEN];
  unsigned ndomains;
  char store[SIPR_SERVER_PATH_LEN];
  int auth;                      /* 1 on, 0 off */
  char realm[SIPR_SERVER_NAME_LEN]; /* "" until finished: first domain or "sipr" */
  char auth_algs[4][16];         /* names as sipr_auth_alg_name() spells them */
  unsigned nauth_algs;           /* 0 until finished: SHA-256, MD5 */
  sipr_server_mode_t mode;
  int fork_sequential;           /* 1: sequential forking by q */
  uint32_t fork_timeout;         /* seconds per sequential group */
  uint32_t timer_c;              /* seconds, §16.8 */
  int recurse_3xx;               /* 1: proxy recurses on 3xx Contacts */
  char rules[SIPR_SERVER_MAX_RULES][SIPR_SERVER_RULE_LEN];
  unsigned nrules;
  char dns_servers[SIPR_SERVER_PATH_LEN]; /* "" : resolv.conf's */
  char edge[SIPR_SERVER_PATH_LEN]; /* RFC 3327 edge: registrar URI, or "" */
  int edge_path;                 /* sipr_proxy_path_t */
  unsigned workers;              /* 0: number of online CPUs */
  uint32_t expires_min, expires_default, expires_max;
  sipr_log_level_t log_level;
  sipr_log_format_t log_format;
  /* Bookkeeping for list keys: a list given by a later source (the command
   * line) replaces the earlier one's (the file's) instead of appending. */
  unsigned set_by_flags;         /* SIPR_CFG_F_* bits */
} sipr_server_cfg_t;

#define SIPR_CFG_F_LISTEN 1u
#define SIPR_CFG_F_DOMAINS 2u
#define SIPR_CFG_F_ALGS 4u

/* Defaults: no listen address yet (sipr_server_cfg_finish() adds
 * udp:0.0.0.0:5060 and tcp:0.0.0.0:5060 when none was given), no
 * domains, the values listed at the top of this file. */
void sipr_server_cfg_default(sipr_server_cfg_t *cfg);

/* Sets one key from its text (the file's scalars and the command line
 * both come here). from_flags: 1 when the value comes from the command
 * line, whose first listen/domains value replaces the file's list.
 * Returns 0, or SIPR_EINVAL with the reason in err (no FILE:LINE: the
 * caller adds where it came from); SIPR_ENOENT for an unknown key. */
int sipr_server_cfg_set(sipr_server_cfg_t *cfg, const char *key,
                        const char *value, int from_flags, char *err,
                        size_t errlen);

/* Reads the YAML file into cfg (on top of what cfg holds). Unknown keys,
 * wrong node kinds and bad values are refused: returns SIPR_EINVAL (or
 * SIPR_EIO: unreadable) with "FILE:LINE: reason" in err. */
int sipr_server_cfg_load(sipr_server_cfg_t *cfg, const char *path, char *err,
                         size_t errlen);

/* Checks what only the whole can tell (expiry order, realm default,
 * listen default). Returns 0 or SIPR_EINVAL with the reason in err. */
int sipr_server_cfg_finish(sipr_server_cfg_t *cfg, char *err, size_t errlen);

/* A command-line override: key as in sipr_server_cfg_set(). */
typedef struct sipr_server_override {
  const char *key;
  const char *value;
} sipr_server_override_t;

/* Defaults, then the file (path may be NULL), then the overrides in
 * order, then sipr_server_cfg_finish(). What `sipr serve` does at start
 * and on SIGHUP. Returns 0, or an error with the reason in err. */
int sipr_server_cfg_build(sipr_server_cfg_t *cfg, const char *path,
                          const sipr_server_override_t *ov, size_t nov,
                          char *err, size_t errlen);

/* ---- the process -------------------------------------------------------- */

typedef struct sipr_server_opts {
  const char *config_path;             /* -c, may be NULL */
  const sipr_server_override_t *ov;    /* command-line flags, in order */
  size_t nov;
} sipr_server_opts_t;

/* Builds the configuration, opens the store, starts the workers and
 * serves until SIGTERM/SIGINT; SIGHUP reloads the configuration file.
 * The banner (stderr, one line per fact) names the listen addresses, the
 * store, auth (with "loopback only" when it is off and every listen
 * address is a loopback one, a warning when it is off on others) and the
 * workers. Returns the process exit status: 0 after a clean stop, 1 when
 * the configuration is refused or the server could not start (reason
 * logged). */
int sipr_server_main(const sipr_server_opts_t *opts);

#ifdef __cplusplus
}
#endif
#endif
