/*
 * Routing rules of the proxy: an ordered list, the first rule whose
 * conditions all hold decides what happens to an out-of-dialog request
 * (after §16.3 validation and §16.4 route preprocessing). Text form:
 *
 *   [CONDITION ...] -> ACTION
 *
 *   CONDITION  domain=HOST | domain=*.SUFFIX   Request-URI host
 *              user=PREFIX                     Request-URI user prefix
 *              from=HOST | from=*.SUFFIX       From URI host
 *              method=M[,M...]                 request method
 *              source=IP[/LEN]                 source network
 *   ACTION     location [fork=parallel|sequential]
 *              forward SIP-URI [stateless]     (stateless: a numeric host)
 *              redirect SIP-URI
 *              reject CODE [REASON...]         (CODE 300-699)
 */
#include "proxy_internal.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKENS 24

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

void sipr__px_rule_free(px_rule_t *r) {
  if (!r)
    return;
  free(r->domain);
  free(r->user_prefix);
  free(r->from_domain);
  free(r->uri);
  free(r->reason);
  memset(r, 0, sizeof(*r));
}

/* A host pattern: a hostname/IP or "*.suffix"; no spaces, no '@'. */
static int host_pattern_ok(const char *v) {
  if (!v[0] || strpbrk(v, "@<>;\"'"))
    return 0;
  if (v[0] == '*')
    return v[1] == '.' && v[2];
  return 1;
}

static int parse_net(const char *v, px_rule_t *r) {
  char ip[64];
  const char *slash = strchr(v, '/');
  size_t n = slash ? (size_t)(slash - v) : strlen(v);
  if (n == 0 || n >= sizeof ip)
    return -1;
  memcpy(ip, v, n);
  ip[n] = '\0';
  unsigned max;
  if (inet_pton(AF_INET, ip, r->net) == 1) {
    r->family = AF_INET;
    max = 32;
  } else if (inet_pton(AF_INET6, ip, r->net) == 1) {
    r->family = AF_INET6;
    max = 128;
  } else {
    return -1;
  }
  r->prefix = max;
  if (slash) {
    uint64_t len;
    if (sipr_str_to_u64(sipr_str_cstr(slash + 1), max, &len))
      return -1;
    r->prefix = (unsigned)len;
  }
  return 0;
}

static int parse_methods(const char *v, px_rule_t *r) {
  const char *p = v;
  while (*p) {
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    sipr_method_t m = sipr_method_from_str(sipr_str_make(p, n));
    if (m == SIPR_METHOD_UNKNOWN)
      return -1;
    r->methods |= 1u << m;
    p += n;
    if (*p == ',')
      p++;
  }
  return r->methods ? 0 : -1;
}

/* A SIP URI with a numeric host (the next hop of a forward rule, or a
 * redirect's Contact, which may name a host). */
static int uri_ok(const char *v, int numeric, char *err, size_t errlen) {
  sipr_arena_t a;
  sipr_arena_init(&a, NULL, 0, 1 << 16);
  sipr_uri_t u;
  sipr_perr_t perr;
  int rc = sipr_uri_parse(&a, v, strlen(v), &u, &perr);
  int ok = rc == 0 && (u.scheme == SIPR_URI_SIP || u.scheme == SIPR_URI_SIPS);
  int num = ok && (u.host_type == SIPR_HOST_IPV4 || u.host_type == SIPR_HOST_IPV6 ||
                   (u.maddr.p && u.maddr.len));
  sipr_arena_free(&a);
  if (!ok)
    return fail(err, errlen, "'%s' is not a sip: or sips: URI", v);
  if (numeric && !num)
    return fail(err, errlen,
                "forward to '%s' stateless: the next hop needs a numeric "
                "host (a stateless forward resolves no names)",
                v);
  return 0;
}

int sipr__px_rule_parse(const char *text, px_rule_t *out, char *err,
                        size_t errlen) {
  memset(out, 0, sizeof(*out));
  out->fork = -1;
  if (!text)
    return fail(err, errlen, "empty rule");
  for (const char *c = text; *c; c++)
    if ((unsigned char)*c < 0x20 && *c != '\t')
      return fail(err, errlen, "rule has a control character (line break?)");
  size_t len = strlen(text);
  char *buf = malloc(len + 1);
  if (!buf)
    return SIPR_ENOMEM;
  memcpy(buf, text, len + 1);
  char *tok[MAX_TOKENS];
  int n = 0, rc = 0;
  char *save = NULL;
  for (char *s = strtok_r(buf, " \t", &save); s;
       s = strtok_r(NULL, " \t", &save)) {
    if (n == MAX_TOKENS) {
      rc = fail(err, errlen, "rule '%s': too many words", text);
      goto out;
    }
    tok[n++] = s;
  }
  int arrow = -1;
  for (int i = 0; i < n; i++)
    if (strcmp(tok[i], "->") == 0) {
      arrow = i;
      break;
    }
  if (arrow < 0 || arrow == n - 1) {
    rc = fail(err, errlen, "rule '%s': want 'CONDITIONS -> ACTION'", text);
    goto out;
  }
  for (int i = 0; i < arrow; i++) {
    char *eq = strchr(tok[i], '=');
    if (!eq || eq == tok[i] || !eq[1]) {
      rc = fail(err, errlen, "rule '%s': condition '%s' is not NAME=VALUE",
                text, tok[i]);
      goto out;
    }
    *eq = '\0';
    const char *k = tok[i], *v = eq + 1;
    char **slot = NULL;
    if (strcmp(k, "domain") == 0 || strcmp(k, "from") == 0) {
      if (!host_pattern_ok(v)) {
        rc = fail(err, errlen, "rule '%s': bad host pattern '%s'", text, v);
        goto out;
      }
      slot = k[0] == 'd' ? &out->domain : &out->from_domain;
    } else if (strcmp(k, "user") == 0) {
      slot = &out->user_prefix;
    } else if (strcmp(k, "method") == 0) {
      if (parse_methods(v, out)) {
        rc = fail(err, errlen, "rule '%s': unknown method in '%s'", text, v);
        goto out;
      }
    } else if (strcmp(k, "source") == 0) {
      if (parse_net(v, out)) {
        rc = fail(err, errlen, "rule '%s': bad source network '%s'", text, v);
        goto out;
      }
    } else {
      rc = fail(err, errlen,
                "rule '%s': unknown condition '%s' (domain, user, from, "
                "method, source)",
                text, k);
      goto out;
    }
    if (slot) {
      if (*slot) {
        rc = fail(err, errlen, "rule '%s': '%s' given twice", text, k);
        goto out;
      }
      *slot = strdup(v);
      if (!*slot) {
        rc = SIPR_ENOMEM;
        goto out;
      }
    }
  }
  const char *act = tok[arrow + 1];
  int na = n - arrow - 2; /* words after the action name */
  char **args = &tok[arrow + 2];
  if (strcmp(act, "location") == 0) {
    out->act = PX_ACT_LOCATION;
    for (int i = 0; i < na; i++) {
      if (strcmp(args[i], "fork=parallel") == 0)
        out->fork = SIPR_FORK_PARALLEL;
      else if (strcmp(args[i], "fork=sequential") == 0)
        out->fork = SIPR_FORK_SEQUENTIAL;
      else {
        rc = fail(err, errlen, "rule '%s': location takes only "
                  "fork=parallel|sequential, not '%s'", text, args[i]);
        goto out;
      }
    }
  } else if (strcmp(act, "forward") == 0 || strcmp(act, "redirect") == 0) {
    int fwd = act[0] == 'f';
    out->act = fwd ? PX_ACT_FORWARD : PX_ACT_REDIRECT;
    if (na < 1 || na > (fwd ? 2 : 1) ||
        (na == 2 && strcmp(args[1], "stateless") != 0)) {
      rc = fail(err, errlen, "rule '%s': want '%s SIP-URI%s'", text, act,
                fwd ? " [stateless]" : "");
      goto out;
    }
    /* a stateful forward resolves a host name on the way (RFC 3263
     * §4.2); the stateless one has no state to wait with */
    rc = uri_ok(args[0], fwd && na == 2, err, errlen);
    if (rc)
      goto out;
    out->stateless = na == 2;
    out->uri = strdup(args[0]);
    if (!out->uri)
      rc = SIPR_ENOMEM;
  } else if (strcmp(act, "reject") == 0) {
    out->act = PX_ACT_REJECT;
    uint64_t code;
    if (na < 1 || sipr_str_to_u64(sipr_str_cstr(args[0]), 699, &code) ||
        code < 300) {
      rc = fail(err, errlen, "rule '%s': want 'reject CODE [REASON]' with "
                "CODE 300-699", text);
      goto out;
    }
    out->code = (unsigned)code;
    if (na > 1) {
      size_t rl = 0;
      for (int i = 1; i < na; i++)
        rl += strlen(args[i]) + 1;
      out->reason = malloc(rl);
      if (!out->reason) {
        rc = SIPR_ENOMEM;
        goto out;
      }
      out->reason[0] = '\0';
      for (int i = 1; i < na; i++) {
        if (i > 1)
          strcat(out->reason, " ");
        strcat(out->reason, args[i]);
      }
    }
  } else {
    rc = fail(err, errlen,
              "rule '%s': unknown action '%s' (location, forward, redirect, "
              "reject)",
              text, act);
  }
out:
  free(buf);
  if (rc)
    sipr__px_rule_free(out);
  return rc;
}

int sipr_proxy_rule_check(const char *text, char *err, size_t errlen) {
  px_rule_t r;
  int rc = sipr__px_rule_parse(text, &r, err, errlen);
  if (rc == 0)
    sipr__px_rule_free(&r);
  return rc;
}

static int host_match(const char *pat, sipr_str_t host) {
  if (pat[0] == '*') { /* "*.x": any host ending in ".x" */
    size_t sl = strlen(pat + 1);
    return host.len > sl &&
           sipr_mem_caseeq(host.p + host.len - sl, pat + 1, sl);
  }
  return sipr_str_caseeq_z(host, pat);
}

static int net_match(const px_rule_t *r, const sipr_tp_addr_t *a) {
  const unsigned char *ip;
  if (a->sa.ss_family != r->family)
    return 0;
  if (r->family == AF_INET)
    ip = (const unsigned char *)&((const struct sockaddr_in *)&a->sa)->sin_addr;
  else
    ip = (const unsigned char *)&((const struct sockaddr_in6 *)&a->sa)->sin6_addr;
  unsigned full = r->prefix / 8, rest = r->prefix % 8;
  if (memcmp(ip, r->net, full) != 0)
    return 0;
  if (rest) {
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    if ((ip[full] & mask) != (r->net[full] & mask))
      return 0;
  }
  return 1;
}

int sipr__px_rule_match(const px_rule_t *r, sipr_msg_t *req,
                        const sipr_uri_t *ruri, const sipr_tp_src_t *src) {
  if (r->methods && (req->method_id == SIPR_METHOD_UNKNOWN ||
                     !(r->methods & (1u << req->method_id))))
    return 0;
  if (r->domain && (!ruri || !host_match(r->domain, ruri->host)))
    return 0;
  if (r->user_prefix) {
    size_t pl = strlen(r->user_prefix);
    if (!ruri || !ruri->user.p || ruri->user.len < pl ||
        memcmp(ruri->user.p, r->user_prefix, pl) != 0)
      return 0;
  }
  if (r->from_domain) {
    sipr_addr_t *f = sipr_msg_from(req);
    if (!f || !host_match(r->from_domain, f->uri.host))
      return 0;
  }
  if (r->family && (!src || !net_match(r, &src->remote)))
    return 0;
  return 1;
}
