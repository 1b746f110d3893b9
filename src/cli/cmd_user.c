/*
 * sipr user add AOR [--password-stdin] [--realm R] [--store SPEC]
 * sipr user del AOR [--realm R] [--store SPEC]
 * sipr user list [--store SPEC]
 *
 * Credentials live in the store's credentials table as HA1 values, one
 * for MD5 and one for SHA-256 (RFC 7616/8760), never as passwords. The
 * digest username is the AOR's user part; the realm defaults to the AOR's
 * domain, which is the server's default realm when that domain is the
 * server's first --domain.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sipr/auth.h"
#include "sipr/store.h"

#define CMD "user"
#define DEFAULT_STORE "sqlite:./var/sipr.db"
#define MAX_PASSWORD 1024

static void help(void) {
  printf(
      "usage: sipr user add AOR --password-stdin [--realm R] [--store SPEC]\n"
      "       sipr user del AOR [--realm R] [--store SPEC]\n"
      "       sipr user list [--store SPEC]\n"
      "\n"
      "Manages the digest credentials `sipr serve` checks (RFC 3261 §22,\n"
      "RFC 7616/8760). AOR is user@domain (a leading sip: is accepted); the\n"
      "digest username is its user part. Only HA1 = H(user:realm:password)\n"
      "is stored, for MD5 and for SHA-256; never the password.\n"
      "\n"
      "  --password-stdin  read the password from the first line of standard\n"
      "                    input (required by add)\n"
      "  --realm R         digest realm (default: the AOR's domain, which is\n"
      "                    the server's realm when that domain is its first\n"
      "                    --domain; else give the server's realm here)\n"
      "  --store SPEC      sqlite:PATH or memory (default %s)\n"
      "\n"
      "list prints one line per user and realm: USER REALM ALGORITHMS.\n"
      "\n"
      "Exit status: 0 success; 1 store failure, or del of a user that does\n"
      "not exist; 2 usage.\n",
      DEFAULT_STORE);
}

/* Splits "sip:alice@example.com" / "alice@example.com:5060" into user and
 * domain (without port, brackets kept for IPv6). 0, or -1 when it is not
 * user@domain. */
static int split_aor(const char *aor, char *user, size_t ucap, char *domain,
                     size_t dcap) {
  if (strncmp(aor, "sip:", 4) == 0)
    aor += 4;
  else if (strncmp(aor, "sips:", 5) == 0)
    aor += 5;
  const char *at = strchr(aor, '@');
  if (!at || at == aor || !at[1] || strchr(at + 1, '@'))
    return -1;
  size_t ulen = (size_t)(at - aor);
  if (ulen >= ucap)
    return -1;
  memcpy(user, aor, ulen);
  user[ulen] = 0;
  for (const char *p = user; *p; p++)
    if (*p == ':' || *p == ';' || *p == ' ' || *p == '"' || *p == '\\' ||
        (unsigned char)*p < 0x20)
      return -1;
  const char *d = at + 1;
  size_t dlen;
  if (d[0] == '[') {
    const char *end = strchr(d, ']');
    if (!end)
      return -1;
    dlen = (size_t)(end - d) + 1;
  } else {
    dlen = strcspn(d, ":;>");
  }
  if (dlen == 0 || dlen >= dcap)
    return -1;
  memcpy(domain, d, dlen);
  domain[dlen] = 0;
  for (const char *p = domain; *p; p++)
    if (*p == ' ' || *p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
      return -1;
  return 0;
}

/* The first line of standard input, without its line end. */
static int read_password(char *buf, size_t cap) {
  if (!fgets(buf, (int)cap, stdin))
    return -1;
  size_t n = strlen(buf);
  if (n == cap - 1 && buf[n - 1] != '\n')
    return -2; /* longer than we take */
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
    buf[--n] = 0;
  return n ? 0 : -1;
}

static sipr_store_t *open_store(const char *spec) {
  char why[512] = "";
  sipr_store_t *st = sipr_store_open(spec, NULL, why, sizeof why);
  if (!st)
    fprintf(stderr, "sipr user: store %s: %s\n", spec,
            why[0] ? why : "cannot be opened");
  return st;
}

static int do_add(sipr_store_t *st, const char *user, const char *realm,
                  const char *password) {
  static const sipr_auth_alg_t algs[] = {SIPR_AUTH_MD5, SIPR_AUTH_SHA256};
  for (size_t i = 0; i < 2; i++) {
    char ha1[SIPR_AUTH_HEX_MAX];
    int rc = sipr_auth_ha1(algs[i], user, realm, password, ha1);
    if (rc == 0)
      rc = sipr_store_cred_put(st, user, realm, sipr_auth_alg_name(algs[i]),
                               ha1);
    memset(ha1, 0, sizeof ha1);
    if (rc) {
      fprintf(stderr, "sipr user add: %s (%s): %s\n", user,
              sipr_auth_alg_name(algs[i]), sipr_strerror(rc));
      return SIPR_EXIT_FAIL;
    }
  }
  return SIPR_EXIT_OK;
}

static int do_list(sipr_store_t *st) {
  sipr_cred_list_t l;
  memset(&l, 0, sizeof l);
  int rc = sipr_store_cred_list(st, &l);
  if (rc) {
    fprintf(stderr, "sipr user list: %s\n", sipr_strerror(rc));
    return SIPR_EXIT_FAIL;
  }
  /* Ordered by realm, user, algorithm: one line per user and realm. */
  for (size_t i = 0; i < l.n;) {
    size_t j = i;
    printf("%s\t%s\t", l.v[i].user, l.v[i].realm);
    for (; j < l.n && strcmp(l.v[j].user, l.v[i].user) == 0 &&
           strcmp(l.v[j].realm, l.v[i].realm) == 0;
         j++)
      printf("%s%s", j > i ? "," : "", l.v[j].algorithm);
    printf("\n");
    i = j;
  }
  sipr_cred_list_free(&l);
  return SIPR_EXIT_OK;
}

int sipr__cli_user(int argc, char **argv) {
  const char *sub = NULL, *aor = NULL, *realm = NULL;
  const char *spec = DEFAULT_STORE;
  int pw_stdin = 0;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      help();
      return SIPR_EXIT_OK;
    }
    if (strcmp(a, "--password-stdin") == 0) {
      pw_stdin = 1;
    } else if (strcmp(a, "--realm") == 0 || strcmp(a, "--store") == 0) {
      if (i + 1 >= argc)
        return sipr__cli_usage_error(CMD, "%s needs a value", a);
      if (a[2] == 'r')
        realm = argv[++i];
      else
        spec = argv[++i];
    } else if (strncmp(a, "--realm=", 8) == 0) {
      realm = a + 8;
    } else if (strncmp(a, "--store=", 8) == 0) {
      spec = a + 8;
    } else if (a[0] == '-') {
      return sipr__cli_usage_error(CMD, "unknown option '%s'", a);
    } else if (!sub) {
      sub = a;
    } else if (!aor) {
      aor = a;
    } else {
      return sipr__cli_usage_error(CMD, "unexpected argument '%s'", a);
    }
  }
  if (!sub)
    return sipr__cli_usage_error(CMD, "add, del or list?");
  int add = strcmp(sub, "add") == 0, del = strcmp(sub, "del") == 0,
      list = strcmp(sub, "list") == 0;
  if (!add && !del && !list)
    return sipr__cli_usage_error(CMD, "unknown subcommand '%s' (add, del, "
                                      "list)",
                                 sub);
  if (list && (aor || pw_stdin || realm))
    return sipr__cli_usage_error(CMD, "list takes only --store");
  if (!list && !aor)
    return sipr__cli_usage_error(CMD, "%s needs an AOR (user@domain)", sub);
  if (del && pw_stdin)
    return sipr__cli_usage_error(CMD, "del takes no password");
  if (add && !pw_stdin)
    return sipr__cli_usage_error(CMD, "add needs --password-stdin (the "
                                      "password on standard input)");
  if (strcmp(spec, "memory") == 0)
    fprintf(stderr, "sipr user: note: the memory store keeps nothing after "
                    "this command\n");

  char user[256], domain[256];
  if (!list && split_aor(aor, user, sizeof user, domain, sizeof domain))
    return sipr__cli_usage_error(CMD, "bad AOR '%s' (want user@domain)", aor);
  if (!list && !realm)
    realm = domain;
  if (realm && (!*realm || strpbrk(realm, "\"\\\r\n")))
    return sipr__cli_usage_error(CMD, "bad realm '%s'", realm);

  char password[MAX_PASSWORD];
  if (add) {
    int r = read_password(password, sizeof password);
    if (r == -2)
      return sipr__cli_usage_error(CMD, "password longer than %d bytes",
                                   MAX_PASSWORD - 2);
    if (r)
      return sipr__cli_usage_error(CMD, "no password on standard input");
  }

  sipr_store_t *st = open_store(spec);
  if (!st) {
    if (add)
      memset(password, 0, sizeof password);
    return SIPR_EXIT_FAIL;
  }
  int rc;
  if (add) {
    rc = do_add(st, user, realm, password);
    memset(password, 0, sizeof password);
    if (rc == SIPR_EXIT_OK)
      printf("%s@%s: credentials stored (realm \"%s\", MD5 and SHA-256)\n",
             user, domain, realm);
  } else if (del) {
    int r = sipr_store_cred_del(st, user, realm);
    if (r == SIPR_ENOENT) {
      fprintf(stderr, "sipr user del: no user %s in realm \"%s\"\n", user,
              realm);
      rc = SIPR_EXIT_FAIL;
    } else if (r) {
      fprintf(stderr, "sipr user del: %s\n", sipr_strerror(r));
      rc = SIPR_EXIT_FAIL;
    } else {
      rc = SIPR_EXIT_OK;
    }
  } else {
    rc = do_list(st);
  }
  sipr_store_close(st);
  return rc;
}
