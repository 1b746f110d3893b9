/*
 * sipr serve [-c FILE] [--listen udp:HOST:PORT]... [--domain D]...
 *            [--store SPEC] [--auth on|off] [--mode proxy|redirect]
 *            [--workers N] [--log-level L] [--log-format text|json]
 *
 * Only the command line lives here: each flag becomes an override (the
 * key the YAML file uses), checked by the same code as the file's values
 * (src/server/config.c), and the server runs with them.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "sipr/server.h"

#define CMD "serve"
#define MAX_OVERRIDES 128

static void help(void) {
  printf(
      "usage: sipr serve [-c FILE] [--listen PROTO:HOST:PORT]... [--domain D]...\n"
      "                  [--store memory|sqlite:PATH] [--auth on|off]\n"
      "                  [--mode proxy|redirect] [--workers N]\n"
      "                  [--log-level error|warn|info|debug] [--log-format text|json]\n"
      "\n"
      "Runs the SIP server: registrar and location service (RFC 3261 §10),\n"
      "stateful forking proxy (§16) or redirect server (§8.3), digest\n"
      "authentication, OPTIONS. Logs go to standard error.\n"
      "\n"
      "  -c, --config FILE  YAML file with the same settings (keys: listen,\n"
      "                     domains, store, auth, realm, auth_algorithms,\n"
      "                     mode, workers, expires_min, expires_default,\n"
      "                     expires_max, fork (parallel|sequential),\n"
      "                     fork_timeout, timer_c, recurse_3xx, rules,\n"
      "                     edge, edge_path, dns_servers, log_level,\n"
      "                     log_format); flags override it\n"
      "  --listen ADDR      udp:HOST:PORT or tcp:HOST:PORT, IPv6 in brackets;\n"
      "                     repeatable (default udp: and tcp:0.0.0.0:5060)\n"
      "  --domain D         a domain we are the registrar for; repeatable (the\n"
      "                     listen addresses count as ours too)\n"
      "  --store SPEC       memory, or sqlite:PATH (default sqlite:./var/sipr.db)\n"
      "  --auth on|off      digest authentication (default on)\n"
      "  --realm R          digest realm (default the first domain, else sipr)\n"
      "  --mode M           proxy or redirect (default proxy)\n"
      "  --workers N        worker threads, 0 = number of cores (default 0)\n"
      "  --log-level L      error, warn, info or debug (default info)\n"
      "  --log-format F     text or json lines (default text)\n"
      "\n"
      "Signals: SIGHUP reloads FILE (log level and format, expiry limits,\n"
      "domains, auth on/off and the proxy's rules and forking take effect at\n"
      "once; a bad file keeps the running configuration); SIGTERM or SIGINT stop the server (exit 0).\n"
      "\n"
      "Exit status: 0 stopped by a signal; 1 configuration refused or the\n"
      "server could not start (reason on standard error); 2 usage.\n");
}

/* Flags that take a value, and the configuration key each one sets. */
static const struct {
  const char *flag;
  const char *key;
} flags[] = {
    {"--listen", "listen"},         {"--domain", "domains"},
    {"--store", "store"},           {"--auth", "auth"},
    {"--realm", "realm"},           {"--mode", "mode"},
    {"--workers", "workers"},       {"--log-level", "log_level"},
    {"--log-format", "log_format"},
};

int sipr__cli_serve(int argc, char **argv) {
  sipr_server_override_t ov[MAX_OVERRIDES];
  size_t nov = 0;
  const char *config = NULL;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      help();
      return SIPR_EXIT_OK;
    }
    /* --flag=value as well as --flag value */
    const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
    size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
    const char *val = NULL;
    if ((nlen == 2 && strncmp(a, "-c", 2) == 0) ||
        (nlen == 8 && strncmp(a, "--config", 8) == 0)) {
      if (eq)
        val = eq + 1;
      else if (i + 1 < argc)
        val = argv[++i];
      else
        return sipr__cli_usage_error(CMD, "%s needs a FILE", a);
      config = val;
      continue;
    }
    size_t k;
    for (k = 0; k < sizeof flags / sizeof flags[0]; k++)
      if (strlen(flags[k].flag) == nlen && strncmp(a, flags[k].flag, nlen) == 0)
        break;
    if (k == sizeof flags / sizeof flags[0]) {
      if (a[0] == '-')
        return sipr__cli_usage_error(CMD, "unknown option '%s'", a);
      return sipr__cli_usage_error(CMD, "unexpected argument '%s'", a);
    }
    if (eq)
      val = eq + 1;
    else if (i + 1 < argc)
      val = argv[++i];
    else
      return sipr__cli_usage_error(CMD, "%s needs a value", flags[k].flag);
    if (nov == MAX_OVERRIDES)
      return sipr__cli_usage_error(CMD, "too many options");
    /* Values are checked here too, so a typo is a usage error (exit 2)
     * rather than a refused configuration (exit 1). */
    sipr_server_cfg_t probe;
    char why[512];
    sipr_server_cfg_default(&probe);
    if (sipr_server_cfg_set(&probe, flags[k].key, val, 1, why, sizeof why))
      return sipr__cli_usage_error(CMD, "%s: %s", flags[k].flag, why);
    ov[nov].key = flags[k].key;
    ov[nov].value = val;
    nov++;
  }

  sipr_server_opts_t opts;
  memset(&opts, 0, sizeof opts);
  opts.config_path = config;
  opts.ov = ov;
  opts.nov = nov;
  return sipr_server_main(&opts);
}
