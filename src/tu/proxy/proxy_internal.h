/* Internals of the proxy shared by proxy.c and rules.c. */
#ifndef SIPR_PROXY_INTERNAL_H
#define SIPR_PROXY_INTERNAL_H

#include "sipr/proxy.h"

typedef enum px_act {
  PX_ACT_LOCATION = 1, /* the location service's bindings (§16.5) */
  PX_ACT_FORWARD,      /* the Request-URI, sent to a configured next hop */
  PX_ACT_REDIRECT,     /* 302 with a configured Contact (§8.3) */
  PX_ACT_REJECT        /* a configured final response */
} px_act_t;

/* One routing rule (see sipr_proxy_rule_check() for the text form). */
typedef struct px_rule {
  /* conditions, all of which must hold (absent: any) */
  char *domain;        /* Request-URI host; "*.x" matches any host ending ".x" */
  char *user_prefix;   /* Request-URI user starts with this */
  char *from_domain;   /* From URI host, same forms as domain */
  uint32_t methods;    /* bit per sipr_method_t; 0: any */
  int family;          /* source network: AF_INET / AF_INET6, 0: any */
  unsigned char net[16];
  unsigned prefix;
  /* action */
  px_act_t act;
  char *uri;           /* forward: next hop; redirect: the Contact */
  int stateless;       /* forward without a transaction (§16.11) */
  int fork;            /* -1: the proxy's default; else sipr_proxy_fork_t */
  unsigned code;       /* reject */
  char *reason;        /* reject, may be NULL */
} px_rule_t;

int sipr__px_rule_parse(const char *text, px_rule_t *out, char *err,
                        size_t errlen);
void sipr__px_rule_free(px_rule_t *r);
/* 1 when req (its Request-URI ruri, after §16.4) from src meets every
 * condition of r. */
int sipr__px_rule_match(const px_rule_t *r, sipr_msg_t *req,
                        const sipr_uri_t *ruri, const sipr_tp_src_t *src);

#endif
