/*
 * Transport addresses (include/sipr/transport.h): protocol names, parsing
 * "proto:host:port" (IPv6 in brackets, RFC 3261 §19.1.1 / RFC 5118),
 * printing, comparison, hashing. Numeric hosts only: names wait for the
 * resolver layer.
 */
#include <arpa/inet.h>
#include <stdio.h>

#include "tp_internal.h"

static const char *const proto_names[] = {"", "UDP", "TCP", "TLS", "WS", "WSS"};

const char *sipr_tp_proto_name(sipr_tp_proto_t p) {
  if ((unsigned)p >= sizeof(proto_names) / sizeof(proto_names[0]))
    return "";
  return proto_names[p];
}

sipr_tp_proto_t sipr_tp_proto_from_str(sipr_str_t s) {
  for (unsigned i = 1; i < sizeof(proto_names) / sizeof(proto_names[0]); i++)
    if (sipr_str_caseeq_z(s, proto_names[i]))
      return (sipr_tp_proto_t)i;
  return SIPR_TP_NONE;
}

int sipr_tp_reliable(sipr_tp_proto_t p) {
  return p == SIPR_TP_TCP || p == SIPR_TP_TLS || p == SIPR_TP_WS ||
         p == SIPR_TP_WSS;
}

int sipr_tp_default_port(sipr_tp_proto_t p) {
  switch (p) {
  case SIPR_TP_TLS: return 5061; /* §18.1.1, §19.1.2 */
  case SIPR_TP_WS: return 80;    /* RFC 7118 §5: the HTTP ports */
  case SIPR_TP_WSS: return 443;
  default: return 5060;
  }
}

int sipr__tp_sa_set(struct sockaddr_storage *sa, socklen_t *salen,
                    sipr_str_t host, int port) {
  char tmp[INET6_ADDRSTRLEN + 1];
  if (!host.p || port < 0 || port > 65535)
    return SIPR_EINVAL;
  int bracket = host.len >= 2 && host.p[0] == '[' && host.p[host.len - 1] == ']';
  if (bracket) { /* an IPv6reference (§25.1) */
    host.p++;
    host.len -= 2;
  }
  if (host.len == 0 || host.len >= sizeof(tmp))
    return SIPR_EINVAL;
  memcpy(tmp, host.p, host.len);
  tmp[host.len] = '\0';
  memset(sa, 0, sizeof(*sa));
  struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
  if (!bracket && inet_pton(AF_INET, tmp, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    *salen = sizeof(*s4);
    return 0;
  }
  if (inet_pton(AF_INET6, tmp, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    *salen = sizeof(*s6);
    return 0;
  }
  return SIPR_EINVAL;
}

int sipr_tp_addr_set(sipr_tp_addr_t *a, sipr_tp_proto_t proto, sipr_str_t host,
                     int port) {
  sipr_tp_addr_t t;
  memset(&t, 0, sizeof(t));
  t.proto = proto;
  if (port < 0)
    port = sipr_tp_default_port(proto);
  int rc = sipr__tp_sa_set(&t.sa, &t.salen, host, port);
  if (rc)
    return rc;
  *a = t;
  return 0;
}

int sipr_tp_addr_parse(const char *spec, sipr_tp_addr_t *out) {
  if (!spec || !out)
    return SIPR_EPARSE;
  const char *colon = strchr(spec, ':');
  if (!colon)
    return SIPR_EPARSE;
  sipr_tp_proto_t proto =
      sipr_tp_proto_from_str(sipr_str_make(spec, (size_t)(colon - spec)));
  if (proto == SIPR_TP_NONE)
    return SIPR_EPARSE;
  const char *h = colon + 1, *end = h + strlen(h), *hend, *port_s = NULL;
  if (*h == '[') {
    const char *rb = strchr(h, ']');
    if (!rb)
      return SIPR_EPARSE;
    hend = rb + 1;
    if (*hend == ':')
      port_s = hend + 1;
    else if (*hend)
      return SIPR_EPARSE;
  } else {
    const char *c = strchr(h, ':');
    if (c && strchr(c + 1, ':'))
      return SIPR_EPARSE; /* IPv6 without brackets: host and port are ambiguous */
    hend = c ? c : end;
    port_s = c ? c + 1 : NULL;
  }
  int port = -1;
  if (port_s) {
    uint64_t v;
    if (sipr_str_to_u64(sipr_str_make(port_s, (size_t)(end - port_s)), 65535,
                        &v))
      return SIPR_EPARSE;
    port = (int)v;
  }
  if (sipr_tp_addr_set(out, proto, sipr_str_make(h, (size_t)(hend - h)), port))
    return SIPR_EPARSE;
  return 0;
}

size_t sipr__tp_ip_str(const struct sockaddr_storage *sa, char *buf,
                       size_t len) {
  const void *ip;
  if (sa->ss_family == AF_INET && len >= INET_ADDRSTRLEN) {
    /* Dotted quad by hand: inet_ntop() goes through sprintf(). */
    const unsigned char *o =
        (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
      if (i)
        buf[n++] = '.';
      n += sipr_u64_to_dec(o[i], buf + n);
    }
    buf[n] = '\0';
    return n;
  }
  if (sa->ss_family == AF_INET)
    ip = &((const struct sockaddr_in *)sa)->sin_addr;
  else if (sa->ss_family == AF_INET6)
    ip = &((const struct sockaddr_in6 *)sa)->sin6_addr;
  else
    return 0;
  if (!inet_ntop(sa->ss_family, ip, buf, (socklen_t)len))
    return 0;
  return strlen(buf);
}

int sipr_tp_addr_port(const sipr_tp_addr_t *a) {
  if (a->sa.ss_family == AF_INET)
    return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
  if (a->sa.ss_family == AF_INET6)
    return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
  return -1;
}

const char *sipr_tp_addr_str(const sipr_tp_addr_t *a, char *buf, size_t len) {
  char ip[INET6_ADDRSTRLEN];
  char name[8];
  if (!len)
    return buf;
  const char *pn = sipr_tp_proto_name(a->proto);
  size_t i = 0;
  for (; pn[i] && i + 1 < sizeof(name); i++)
    name[i] = (char)sipr_lower((unsigned char)pn[i]);
  name[i] = '\0';
  if (!sipr__tp_ip_str(&a->sa, ip, sizeof(ip))) {
    snprintf(buf, len, "%s:?", name);
    return buf;
  }
  /* name ":" [ "[" ] ip [ "]" ] ":" port, cut to len */
  char t[8 + INET6_ADDRSTRLEN + 4 + SIPR_U64_DIGITS];
  size_t n = 0, k = strlen(name), m = strlen(ip);
  memcpy(t, name, k);
  n = k;
  t[n++] = ':';
  int v6 = a->sa.ss_family == AF_INET6;
  if (v6)
    t[n++] = '[';
  memcpy(t + n, ip, m);
  n += m;
  if (v6)
    t[n++] = ']';
  t[n++] = ':';
  n += sipr_u64_to_dec((uint64_t)sipr_tp_addr_port(a), t + n);
  if (n >= len)
    n = len - 1;
  memcpy(buf, t, n);
  buf[n] = '\0';
  return buf;
}

int sipr__tp_ip_eq(const struct sockaddr_storage *a,
                   const struct sockaddr_storage *b) {
  if (a->ss_family != b->ss_family)
    return 0;
  if (a->ss_family == AF_INET)
    return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
           ((const struct sockaddr_in *)b)->sin_addr.s_addr;
  if (a->ss_family == AF_INET6)
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
  return 0;
}

int sipr__tp_ip_any(const struct sockaddr_storage *sa) {
  if (sa->ss_family == AF_INET)
    return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == INADDR_ANY;
  if (sa->ss_family == AF_INET6)
    return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
  return 0;
}

int sipr_tp_addr_eq(const sipr_tp_addr_t *a, const sipr_tp_addr_t *b) {
  return a->proto == b->proto && sipr__tp_ip_eq(&a->sa, &b->sa) &&
         sipr_tp_addr_port(a) == sipr_tp_addr_port(b);
}

/* FNV-1a over the address bytes (and port). */
uint32_t sipr__tp_sa_hash(const struct sockaddr_storage *sa, int with_port) {
  const unsigned char *p;
  size_t n;
  uint16_t port;
  if (sa->ss_family == AF_INET) {
    const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
    p = (const unsigned char *)&s->sin_addr;
    n = 4;
    port = s->sin_port;
  } else if (sa->ss_family == AF_INET6) {
    const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
    p = (const unsigned char *)&s->sin6_addr;
    n = 16;
    port = s->sin6_port;
  } else {
    return 0;
  }
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 16777619u;
  if (with_port) {
    h = (h ^ (port & 0xff)) * 16777619u;
    h = (h ^ (port >> 8)) * 16777619u;
  }
  return h ^ (h >> 15);
}
