/*
 * A name server for tests, on a loopback UDP port: it knows one name with
 * one IPv4 address (RFC 1035 §4.1: the question echoed, one A record in
 * the answer section), answers AAAA for that name with no records
 * (NOERROR, no data), and NXDOMAIN for every other name. Only what the
 * resolver tests need; header-only, shared by the resolver and proxy
 * tests. The test drives it: fake_dns_serve() answers what has arrived
 * (or register fake_dns.fd with a loop and call it from there).
 */
#ifndef SIPR_TEST_FAKE_DNS_H
#define SIPR_TEST_FAKE_DNS_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct fake_dns {
  int fd;
  char spec[64];     /* "127.0.0.1:PORT", for sipr_res_cfg_t.servers */
  char name[128];    /* the name it knows */
  uint32_t ip;       /* its address, host order */
  uint32_t ttl;      /* seconds */
  unsigned queries;  /* questions received */
  unsigned answered; /* A records sent */
} fake_dns_t;

/* 0, or -1 when the socket cannot be made. */
static inline int fake_dns_start(fake_dns_t *d, const char *name, uint32_t ip,
                                 uint32_t ttl) {
  memset(d, 0, sizeof *d);
  d->fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (d->fd < 0)
    return -1;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t sl = sizeof sa;
  if (bind(d->fd, (struct sockaddr *)&sa, sizeof sa) ||
      getsockname(d->fd, (struct sockaddr *)&sa, &sl)) {
    close(d->fd);
    d->fd = -1;
    return -1;
  }
  snprintf(d->spec, sizeof d->spec, "127.0.0.1:%u",
           (unsigned)ntohs(sa.sin_port));
  snprintf(d->name, sizeof d->name, "%s", name);
  d->ip = ip;
  d->ttl = ttl;
  return 0;
}

static inline void fake_dns_stop(fake_dns_t *d) {
  if (d->fd >= 0)
    close(d->fd);
  d->fd = -1;
}

/* Answers every query waiting on the socket; returns how many. */
static inline int fake_dns_serve(fake_dns_t *d) {
  int n = 0;
  for (;;) {
    unsigned char q[512], r[600];
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    ssize_t len = recvfrom(d->fd, q, sizeof q, MSG_DONTWAIT,
                           (struct sockaddr *)&from, &fl);
    if (len < 12)
      return n;
    d->queries++;
    n++;
    /* the question: labels up to the root, then QTYPE and QCLASS */
    char qname[256];
    size_t qn = 0, off = 12;
    while (off < (size_t)len && q[off] && q[off] < 64 &&
           off + 1 + q[off] < (size_t)len && qn + q[off] + 1 < sizeof qname) {
      if (qn)
        qname[qn++] = '.';
      memcpy(qname + qn, q + off + 1, q[off]);
      qn += q[off];
      off += 1u + q[off];
    }
    qname[qn] = '\0';
    if (off + 5 > (size_t)len || q[off] != 0)
      continue;
    size_t qend = off + 5; /* root label, QTYPE, QCLASS */
    unsigned qtype = (unsigned)(q[off + 1] << 8 | q[off + 2]);
    int known = strcasecmp(qname, d->name) == 0;
    memcpy(r, q, qend);
    r[2] = (unsigned char)(0x80 | (q[2] & 0x79)); /* QR, opcode, RD */
    r[3] = known ? 0x80 : 0x83;                   /* RA; NXDOMAIN */
    r[4] = 0, r[5] = 1;                           /* QDCOUNT */
    r[6] = 0, r[7] = 0;                           /* ANCOUNT */
    r[8] = r[9] = r[10] = r[11] = 0;
    size_t rl = qend;
    if (known && qtype == 1) {
      r[7] = 1;
      const unsigned char rr[] = {0xc0,
                                  0x0c,
                                  0,
                                  1,
                                  0,
                                  1, /* the question's name, A, IN */
                                  (unsigned char)(d->ttl >> 24),
                                  (unsigned char)(d->ttl >> 16),
                                  (unsigned char)(d->ttl >> 8),
                                  (unsigned char)d->ttl,
                                  0,
                                  4,
                                  (unsigned char)(d->ip >> 24),
                                  (unsigned char)(d->ip >> 16),
                                  (unsigned char)(d->ip >> 8),
                                  (unsigned char)d->ip};
      memcpy(r + rl, rr, sizeof rr);
      rl += sizeof rr;
      d->answered++;
    }
    sendto(d->fd, r, rl, 0, (struct sockaddr *)&from, fl);
  }
}

#endif
