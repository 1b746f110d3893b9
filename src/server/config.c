/*
 * Configuration: defaults, the YAML file (libfyaml), command-line
 * overrides, and the checks. Every value goes through cfg_set(), so the
 * file and the flags accept exactly the same things.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>

#include "sipr/auth.h"
#include "sipr/proxy.h"
#include "sipr/server.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return SIPR_EINVAL;
}

void sipr_server_cfg_default(sipr_server_cfg_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  snprintf(cfg->store, sizeof cfg->store, "sqlite:./var/sipr.db");
  cfg->auth = 1;
  cfg->mode = SIPR_MODE_PROXY;
  cfg->fork_sequential = 0;
  cfg->fork_timeout = 20;
  cfg->timer_c = 185;
  cfg->workers = 0;
  cfg->expires_min = 60;
  cfg->expires_default = 3600;
  cfg->expires_max = 86400;
  cfg->log_level = SIPR_LOG_INFO;
  cfg->log_format = SIPR_LOG_TEXT;
}

/* ---- values ------------------------------------------------------------- */

static int parse_bool(const char *v, int *out) {
  static const char *const on[] = {"on", "true", "yes", "1"};
  static const char *const off[] = {"off", "false", "no", "0"};
  for (size_t i = 0; i < 4; i++) {
    if (strcmp(v, on[i]) == 0)
      return *out = 1, 0;
    if (strcmp(v, off[i]) == 0)
      return *out = 0, 0;
  }
  return -1;
}

static int parse_uint(const char *v, uint64_t max, uint64_t *out) {
  if (!*v)
    return -1;
  uint64_t n = 0;
  for (const char *p = v; *p; p++) {
    if (*p < '0' || *p > '9')
      return -1;
    n = n * 10 + (uint64_t)(*p - '0');
    if (n > max)
      return -1;
  }
  *out = n;
  return 0;
}

/* A host name or address we answer for: token characters of a hostname
 * or IP literal, no spaces, no scheme. */
static int valid_domain(const char *d) {
  size_t n = strlen(d);
  if (n == 0 || n >= SIPR_SERVER_NAME_LEN)
    return 0;
  for (const char *p = d; *p; p++) {
    char c = *p;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' ||
          c == ':' || c == '[' || c == ']'))
      return 0;
  }
  return 1;
}

static int check_listen(const char *v, char *err, size_t errlen) {
  sipr_tp_addr_t a;
  if (strlen(v) >= SIPR_SERVER_LISTEN_LEN)
    return fail(err, errlen, "listen address too long: '%s'", v);
  if (sipr_tp_addr_parse(v, &a) != 0)
    return fail(err, errlen,
                "bad listen address '%s' (want udp:HOST:PORT or "
                "tcp:HOST:PORT, numeric host, IPv6 in brackets)",
                v);
  if (a.proto != SIPR_TP_UDP && a.proto != SIPR_TP_TCP)
    return fail(err, errlen,
                "listen address '%s': only udp: and tcp: are supported yet", v);
  return 0;
}

static int check_store(const char *v, char *err, size_t errlen) {
  if (strlen(v) >= SIPR_SERVER_PATH_LEN)
    return fail(err, errlen, "store spec too long");
  if (strcmp(v, "memory") == 0)
    return 0;
  if (strncmp(v, "sqlite:", 7) == 0) {
    if (!v[7])
      return fail(err, errlen, "store 'sqlite:' needs a path (sqlite:PATH)");
    return 0;
  }
  if (strncmp(v, "postgresql:", 11) == 0)
    return fail(err, errlen, "store '%s': postgresql is not supported yet", v);
  return fail(err, errlen, "bad store '%s' (want memory or sqlite:PATH)", v);
}

int sipr_server_cfg_set(sipr_server_cfg_t *cfg, const char *key,
                        const char *v, int from_flags, char *err,
                        size_t errlen) {
  uint64_t n;
  int b;
  if (strcmp(key, "listen") == 0) {
    if (check_listen(v, err, errlen))
      return SIPR_EINVAL;
    if (from_flags && !(cfg->set_by_flags & SIPR_CFG_F_LISTEN)) {
      cfg->nlisten = 0;
      cfg->set_by_flags |= SIPR_CFG_F_LISTEN;
    }
    if (cfg->nlisten >= SIPR_SERVER_MAX_LISTEN)
      return fail(err, errlen, "more than %d listen addresses",
                  SIPR_SERVER_MAX_LISTEN);
    snprintf(cfg->listen[cfg->nlisten++], SIPR_SERVER_LISTEN_LEN, "%s", v);
    return 0;
  }
  if (strcmp(key, "domains") == 0 || strcmp(key, "domain") == 0) {
    if (!valid_domain(v))
      return fail(err, errlen, "bad domain '%s'", v);
    if (from_flags && !(cfg->set_by_flags & SIPR_CFG_F_DOMAINS)) {
      cfg->ndomains = 0;
      cfg->set_by_flags |= SIPR_CFG_F_DOMAINS;
    }
    if (cfg->ndomains >= SIPR_SERVER_MAX_DOMAINS)
      return fail(err, errlen, "more than %d domains", SIPR_SERVER_MAX_DOMAINS);
    snprintf(cfg->domains[cfg->ndomains++], SIPR_SERVER_NAME_LEN, "%s", v);
    return 0;
  }
  if (strcmp(key, "auth_algorithms") == 0) {
    sipr_auth_alg_t alg = sipr_auth_alg_from_str(sipr_str_make(v, strlen(v)));
    if (!*v || alg == SIPR_AUTH_ALG_UNKNOWN)
      return fail(err, errlen,
                  "bad auth_algorithms entry '%s' (want MD5, MD5-sess, "
                  "SHA-256 or SHA-256-sess)",
                  v);
    if (from_flags && !(cfg->set_by_flags & SIPR_CFG_F_ALGS)) {
      cfg->nauth_algs = 0;
      cfg->set_by_flags |= SIPR_CFG_F_ALGS;
    }
    for (unsigned i = 0; i < cfg->nauth_algs; i++)
      if (strcmp(cfg->auth_algs[i], sipr_auth_alg_name(alg)) == 0)
        return fail(err, errlen, "auth_algorithms lists '%s' twice", v);
    if (cfg->nauth_algs >= 4)
      return fail(err, errlen, "auth_algorithms: at most 4");
    snprintf(cfg->auth_algs[cfg->nauth_algs++], sizeof cfg->auth_algs[0], "%s",
             sipr_auth_alg_name(alg));
    return 0;
  }
  if (strcmp(key, "store") == 0) {
    if (check_store(v, err, errlen))
      return SIPR_EINVAL;
    snprintf(cfg->store, sizeof cfg->store, "%s", v);
    return 0;
  }
  if (strcmp(key, "auth") == 0) {
    if (parse_bool(v, &b))
      return fail(err, errlen, "bad auth '%s' (want on or off)", v);
    cfg->auth = b;
    return 0;
  }
  if (strcmp(key, "realm") == 0) {
    if (!*v || strlen(v) >= SIPR_SERVER_NAME_LEN || strpbrk(v, "\"\\\r\n"))
      return fail(err, errlen,
                  "bad realm '%s' (non-empty, no quotes, backslashes or line "
                  "breaks)",
                  v);
    snprintf(cfg->realm, sizeof cfg->realm, "%s", v);
    return 0;
  }
  if (strcmp(key, "mode") == 0) {
    if (strcmp(v, "proxy") == 0)
      cfg->mode = SIPR_MODE_PROXY;
    else if (strcmp(v, "redirect") == 0)
      cfg->mode = SIPR_MODE_REDIRECT;
    else
      return fail(err, errlen, "bad mode '%s' (want proxy or redirect)", v);
    return 0;
  }
  if (strcmp(key, "rules") == 0) {
    char why[256];
    if (cfg->nrules >= SIPR_SERVER_MAX_RULES)
      return fail(err, errlen, "too many rules (at most %d)",
                  SIPR_SERVER_MAX_RULES);
    if (strlen(v) >= SIPR_SERVER_RULE_LEN)
      return fail(err, errlen, "rule too long (at most %d characters)",
                  SIPR_SERVER_RULE_LEN - 1);
    if (sipr_proxy_rule_check(v, why, sizeof why))
      return fail(err, errlen, "%s", why);
    snprintf(cfg->rules[cfg->nrules++], SIPR_SERVER_RULE_LEN, "%s", v);
    return 0;
  }
  if (strcmp(key, "recurse_3xx") == 0) {
    if (parse_bool(v, &b))
      return fail(err, errlen, "bad recurse_3xx '%s' (want on or off)", v);
    cfg->recurse_3xx = b;
    return 0;
  }
  if (strcmp(key, "fork") == 0) {
    if (strcmp(v, "parallel") == 0)
      cfg->fork_sequential = 0;
    else if (strcmp(v, "sequential") == 0)
      cfg->fork_sequential = 1;
    else
      return fail(err, errlen, "bad fork '%s' (want parallel or sequential)",
                  v);
    return 0;
  }
  if (strcmp(key, "fork_timeout") == 0) {
    if (parse_uint(v, 3600, &n) || n == 0)
      return fail(err, errlen, "bad fork_timeout '%s' (want 1..3600 seconds)",
                  v);
    cfg->fork_timeout = (uint32_t)n;
    return 0;
  }
  if (strcmp(key, "timer_c") == 0) {
    /* §16.8: Timer C MUST be greater than 3 minutes. */
    if (parse_uint(v, 86400, &n) || n <= 180)
      return fail(err, errlen,
                  "bad timer_c '%s' (want 181..86400 seconds: RFC 3261 "
                  "§16.8 asks more than 3 minutes)",
                  v);
    cfg->timer_c = (uint32_t)n;
    return 0;
  }
  if (strcmp(key, "edge") == 0) {
    char why[256];
    if (strlen(v) >= sizeof cfg->edge)
      return fail(err, errlen, "edge URI too long");
    if (sipr_proxy_edge_check(v, why, sizeof why))
      return fail(err, errlen, "%s", why);
    snprintf(cfg->edge, sizeof cfg->edge, "%s", v);
    return 0;
  }
  if (strcmp(key, "edge_path") == 0) {
    if (strcmp(v, "supported") == 0)
      cfg->edge_path = SIPR_PATH_SUPPORTED;
    else if (strcmp(v, "always") == 0)
      cfg->edge_path = SIPR_PATH_ALWAYS;
    else if (strcmp(v, "required") == 0)
      cfg->edge_path = SIPR_PATH_REQUIRED;
    else
      return fail(err, errlen,
                  "bad edge_path '%s' (want supported, always or required)", v);
    return 0;
  }
  if (strcmp(key, "dns_servers") == 0) {
    size_t l = strlen(v);
    if (!l || l >= sizeof cfg->dns_servers ||
        strspn(v, "0123456789abcdefABCDEF.:,[] ") != l)
      return fail(err, errlen,
                  "bad dns_servers '%s' (want IP[:PORT],... with IPv6 in "
                  "brackets when a port follows)",
                  v);
    snprintf(cfg->dns_servers, sizeof cfg->dns_servers, "%s", v);
    return 0;
  }
  if (strcmp(key, "workers") == 0) {
    if (parse_uint(v, 256, &n))
      return fail(err, errlen,
                  "bad workers '%s' (want 0..256; 0: number of cores)", v);
    cfg->workers = (unsigned)n;
    return 0;
  }
  if (strcmp(key, "expires_min") == 0 || strcmp(key, "expires_default") == 0 ||
      strcmp(key, "expires_max") == 0) {
    if (parse_uint(v, 0xffffffffu, &n) || n == 0)
      return fail(err, errlen, "bad %s '%s' (want seconds, 1..4294967295)",
                  key, v);
    if (key[8] == 'm' && key[9] == 'i')
      cfg->expires_min = (uint32_t)n;
    else if (key[8] == 'd')
      cfg->expires_default = (uint32_t)n;
    else
      cfg->expires_max = (uint32_t)n;
    return 0;
  }
  if (strcmp(key, "log_level") == 0) {
    int l = sipr_log_level_from_str(v);
    if (l < 0)
      return fail(err, errlen,
                  "bad log_level '%s' (want error, warn, info or debug)", v);
    cfg->log_level = (sipr_log_level_t)l;
    return 0;
  }
  if (strcmp(key, "log_format") == 0) {
    if (strcmp(v, "text") == 0)
      cfg->log_format = SIPR_LOG_TEXT;
    else if (strcmp(v, "json") == 0)
      cfg->log_format = SIPR_LOG_JSON;
    else
      return fail(err, errlen, "bad log_format '%s' (want text or json)", v);
    return 0;
  }
  fail(err, errlen, "unknown key '%s'", key);
  return SIPR_ENOENT;
}

static int check_expiry(const sipr_server_cfg_t *cfg, char *err,
                        size_t errlen) {
  if (cfg->expires_min > cfg->expires_max)
    return fail(err, errlen, "expires_min (%u) is above expires_max (%u)",
                cfg->expires_min, cfg->expires_max);
  if (cfg->expires_default < cfg->expires_min ||
      cfg->expires_default > cfg->expires_max)
    return fail(err, errlen,
                "expires_default (%u) is outside expires_min..expires_max "
                "(%u..%u)",
                cfg->expires_default, cfg->expires_min, cfg->expires_max);
  return 0;
}

int sipr_server_cfg_finish(sipr_server_cfg_t *cfg, char *err, size_t errlen) {
  if (check_expiry(cfg, err, errlen))
    return SIPR_EINVAL;
  if (cfg->nlisten == 0) {
    snprintf(cfg->listen[0], SIPR_SERVER_LISTEN_LEN, "udp:0.0.0.0:5060");
    snprintf(cfg->listen[1], SIPR_SERVER_LISTEN_LEN, "tcp:0.0.0.0:5060");
    cfg->nlisten = 2;
  }
  if (!cfg->realm[0])
    snprintf(cfg->realm, sizeof cfg->realm, "%s",
             cfg->ndomains ? cfg->domains[0] : "sipr");
  if (cfg->nauth_algs == 0) { /* RFC 8760 §2: the strongest first */
    snprintf(cfg->auth_algs[0], sizeof cfg->auth_algs[0], "SHA-256");
    snprintf(cfg->auth_algs[1], sizeof cfg->auth_algs[1], "MD5");
    cfg->nauth_algs = 2;
  }
  return 0;
}

/* ---- the YAML file ------------------------------------------------------ */

/* The 1-based line where a node starts (0 when unknown). */
static int node_line(struct fy_node *n) {
  struct fy_token *t = NULL;
  if (!n)
    return 0;
  if (fy_node_is_scalar(n))
    t = fy_node_get_scalar_token(n);
  if (!t)
    return 0;
  const struct fy_mark *m = fy_token_start_mark(t);
  return m ? m->line + 1 : 0;
}

/* A scalar's text, NUL-terminated, into buf; NULL when n is not a plain
 * scalar or too long (or holds a NUL). */
static const char *scalar(struct fy_node *n, char *buf, size_t cap) {
  size_t len;
  if (!n || !fy_node_is_scalar(n) || fy_node_is_alias(n))
    return NULL;
  const char *p = fy_node_get_scalar(n, &len);
  if (!p || len >= cap || memchr(p, 0, len))
    return NULL;
  memcpy(buf, p, len);
  buf[len] = 0;
  return buf;
}

static const char *const known_keys[] = {
    "listen", "domains", "domain", "store", "auth", "auth_algorithms", "realm",
    "mode", "fork", "fork_timeout", "timer_c", "recurse_3xx", "rules",
    "edge", "edge_path", "dns_servers", "workers",
    "expires_min", "expires_default", "expires_max", "log_level", "log_format"};

static int known_key(const char *k) {
  for (size_t i = 0; i < sizeof known_keys / sizeof known_keys[0]; i++)
    if (strcmp(k, known_keys[i]) == 0)
      return 1;
  return 0;
}

static int is_list_key(const char *k) {
  return strcmp(k, "listen") == 0 || strcmp(k, "domains") == 0 ||
         strcmp(k, "auth_algorithms") == 0 || strcmp(k, "rules") == 0;
}

/* A list in the file replaces whatever came before it. */
static void clear_list(sipr_server_cfg_t *cfg, const char *k) {
  if (strcmp(k, "listen") == 0)
    cfg->nlisten = 0;
  else if (strcmp(k, "auth_algorithms") == 0)
    cfg->nauth_algs = 0;
  else if (strcmp(k, "rules") == 0)
    cfg->nrules = 0;
  else
    cfg->ndomains = 0;
}

/* Collects libfyaml's own parse errors (FILE:LINE comes from them). */
typedef struct diag_ctx {
  char msg[256];
  int line;
  int have;
} diag_ctx_t;

static void diag_out(struct fy_diag *d, void *user, const char *buf,
                     size_t len) {
  (void)d;
  (void)user;
  (void)buf;
  (void)len; /* errors are read back with fy_diag_errors_iterate() */
}

int sipr_server_cfg_load(sipr_server_cfg_t *cfg, const char *path, char *err,
                         size_t errlen) {
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return SIPR_EIO;
  }
  fclose(f);

  struct fy_diag_cfg dcfg;
  fy_diag_cfg_default(&dcfg);
  dcfg.fp = NULL;
  dcfg.output_fn = diag_out;
  dcfg.colorize = false;
  struct fy_diag *diag = fy_diag_create(&dcfg);
  if (!diag) {
    snprintf(err, errlen, "%s: out of memory", path);
    return SIPR_ENOMEM;
  }
  fy_diag_set_collect_errors(diag, true);
  struct fy_parse_cfg pcfg;
  memset(&pcfg, 0, sizeof pcfg);
  pcfg.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG | FYPCF_JSON_NONE;
  pcfg.diag = diag;

  struct fy_document *doc = fy_document_build_from_file(&pcfg, path);
  int rc = 0;
  if (!doc) {
    void *it = NULL;
    struct fy_diag_error *e;
    int line = 0, found = 0;
    char msg[256] = "not valid YAML";
    while ((e = fy_diag_errors_iterate(diag, &it)) != NULL) {
      if (e->type >= FYET_ERROR) {
        line = e->line; /* collected errors count lines from 1 */
        if (e->msg)
          snprintf(msg, sizeof msg, "%s", e->msg);
        found = 1;
        break;
      }
    }
    fy_diag_destroy(diag);
    if (!found) /* no document at all: an empty file (or only comments) */
      return 0;
    snprintf(err, errlen, "%s:%d: %s", path, line > 0 ? line : 1, msg);
    return SIPR_EINVAL;
  }

  struct fy_node *root = fy_document_root(doc);
  if (!root) /* an empty file: every default stands */
    goto out;
  if (!fy_node_is_mapping(root)) {
    rc = fail(err, errlen, "%s:%d: the file must be a mapping of keys (key: "
                           "value)",
              path, node_line(root) ? node_line(root) : 1);
    goto out;
  }
  void *it = NULL;
  struct fy_node_pair *pair;
  int expiry_line = 0; /* the last expires_* key of the file */
  while ((pair = fy_node_mapping_iterate(root, &it)) != NULL) {
    struct fy_node *kn = fy_node_pair_key(pair);
    struct fy_node *vn = fy_node_pair_value(pair);
    char key[64], val[SIPR_SERVER_PATH_LEN], why[512];
    int kline = node_line(kn);
    if (!scalar(kn, key, sizeof key)) {
      rc = fail(err, errlen, "%s:%d: keys must be plain names", path,
                kline ? kline : 1);
      goto out;
    }
    if (!known_key(key)) {
      rc = fail(err, errlen, "%s:%d: unknown key '%s'", path, kline, key);
      goto out;
    }
    if (!vn || (fy_node_is_scalar(vn) && fy_node_get_scalar_length(vn) == 0 &&
                !is_list_key(key))) {
      rc = fail(err, errlen, "%s:%d: '%s' has no value", path, kline, key);
      goto out;
    }
    if (fy_node_is_sequence(vn)) {
      if (!is_list_key(key)) {
        rc = fail(err, errlen, "%s:%d: '%s' takes one value, not a list",
                  path, kline, key);
        goto out;
      }
      clear_list(cfg, key);
      void *sit = NULL;
      struct fy_node *item;
      while ((item = fy_node_sequence_iterate(vn, &sit)) != NULL) {
        int iline = node_line(item);
        if (!scalar(item, val, sizeof val)) {
          rc = fail(err, errlen, "%s:%d: '%s' items must be plain values",
                    path, iline ? iline : kline, key);
          goto out;
        }
        int r = sipr_server_cfg_set(cfg, key, val, 0, why, sizeof why);
        if (r) {
          rc = fail(err, errlen, "%s:%d: %s", path, iline ? iline : kline, why);
          goto out;
        }
      }
      continue;
    }
    int vline = node_line(vn);
    if (!scalar(vn, val, sizeof val)) {
      rc = fail(err, errlen, "%s:%d: '%s' must be a plain value", path,
                vline ? vline : kline, key);
      goto out;
    }
    if (is_list_key(key)) {
      clear_list(cfg, key);
      if (!val[0])
        continue; /* "domains:" with nothing: an empty list */
    }
    int r = sipr_server_cfg_set(cfg, key, val, 0, why, sizeof why);
    if (r) {
      rc = fail(err, errlen, "%s:%d: %s", path, vline ? vline : kline, why);
      goto out;
    }
    if (strncmp(key, "expires_", 8) == 0 && kline > expiry_line)
      expiry_line = kline;
  }
  /* Checks across keys, while the lines are known (no flag sets these). */
  if (expiry_line) {
    char why[512];
    if (check_expiry(cfg, why, sizeof why)) {
      rc = fail(err, errlen, "%s:%d: %s", path, expiry_line, why);
      goto out;
    }
  }
out:
  fy_document_destroy(doc);
  fy_diag_destroy(diag);
  return rc;
}

int sipr_server_cfg_build(sipr_server_cfg_t *cfg, const char *path,
                          const sipr_server_override_t *ov, size_t nov,
                          char *err, size_t errlen) {
  char why[512];
  sipr_server_cfg_default(cfg);
  if (path) {
    int rc = sipr_server_cfg_load(cfg, path, err, errlen);
    if (rc)
      return rc;
  }
  for (size_t i = 0; i < nov; i++) {
    if (sipr_server_cfg_set(cfg, ov[i].key, ov[i].value, 1, why, sizeof why)) {
      char flag[64];
      snprintf(flag, sizeof flag, "%s", ov[i].key);
      for (char *p = flag; *p; p++)
        if (*p == '_')
          *p = '-';
      if (strcmp(flag, "domains") == 0)
        flag[6] = 0;
      snprintf(err, errlen, "--%s: %s", flag, why);
      return SIPR_EINVAL;
    }
  }
  if (sipr_server_cfg_finish(cfg, why, sizeof why)) {
    snprintf(err, errlen, "%s%s%s", path ? path : "", path ? ": " : "", why);
    return SIPR_EINVAL;
  }
  return 0;
}
