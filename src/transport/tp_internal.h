/*
 * Transport layer internals (include/sipr/transport.h).
 *
 *   addr.c  addresses: parse/print/compare, numeric hosts, hashing
 *   tp.c    the object: config, listen list, aliases, stats, the receive
 *           path shared by every protocol (parse, check, §18.1.2 filter,
 *           §18.2.1 Via rewrite, error answers), send routing (§18.2.2)
 *   udp.c   UDP sockets: recvmmsg batches; sends from one socket queued
 *           while its batch is handed up, then one sendmmsg; else sendto
 *   tcp.c   TCP listeners and connections: connection table, framing,
 *           keep-alives, write queues, timers and caps
 *
 * A connection moves bytes through two function pointers (conn->rd,
 * conn->wr) so TLS can slot in below the framer later, and WebSocket
 * framing between the bytes and the framer, without touching the rest.
 */
#ifndef SIPR_TP_INTERNAL_H
#define SIPR_TP_INTERNAL_H

#include <sys/types.h>

#include "sipr/framer.h"
#include "sipr/transport.h"

#define TP_MAX_LISTEN 16
#define TP_MAX_ALIAS 16
#define TP_ALIAS_LEN 256
#define TP_UDP_BATCH 32      /* datagrams per recvmmsg() */
#define TP_UDP_BUF 65536     /* one datagram buffer (§18.1.1: up to 65,535) */
#define TP_UDP_OUT (256u << 10) /* bytes of UDP sends queued during a batch
                                   (TP_UDP_BATCH datagrams at most) */
#define TP_ARENA_FIRST 16384 /* arena storage inside the tp: most messages
                                parse without touching the heap */
#define TP_ARENA_CAP (4u << 20) /* what one message may allocate */

typedef struct tp_listener {
  sipr_tp_t *tp;
  sipr_tp_addr_t addr; /* with the bound port */
  int fd;
  int wildcard;        /* bound to 0.0.0.0 / :: */
} tp_listener_t;

typedef struct tp_alias {
  char host[TP_ALIAS_LEN];
  size_t len;
  int port;
} tp_alias_t;

typedef struct tp_conn tp_conn_t;
typedef struct tp_ipcount tp_ipcount_t;
typedef struct udp_out udp_out_t;

struct sipr_tp {
  sipr_loop_t *loop;
  sipr_tp_cfg_t cfg;
  sipr_tp_user_ops_t ops;
  void *user;
  tp_listener_t lis[TP_MAX_LISTEN];
  unsigned nlis;
  tp_alias_t alias[TP_MAX_ALIAS];
  unsigned nalias;
  sipr_tp_stats_t st;
  uint64_t rnd;          /* xorshift state for To tags of error answers */

  /* receive path: one message at a time */
  sipr_arena_t arena;
  sipr_buf_t rx_copy;    /* the request with its Via rewritten */
  sipr_buf_t tx;         /* error answers */

  /* UDP: TP_UDP_BATCH buffers, allocated with the first UDP listener */
  char *udp_buf;
  void *udp_msgs;        /* struct mmsghdr[TP_UDP_BATCH] */
  void *udp_iov;         /* struct iovec[TP_UDP_BATCH] */
  void *udp_from;        /* struct sockaddr_storage[TP_UDP_BATCH] */
  udp_out_t *udp_out;    /* sends queued while a batch is handed up */
  tp_listener_t *udp_batch; /* the socket whose batch is being handed up:
                             sends from it are queued; NULL: none */
  int udp_hold;             /* sipr_tp_hold(): the next send picks udp_batch */

  /* TCP connection table */
  tp_conn_t **by_id, **by_addr;
  tp_ipcount_t **by_ip;
  size_t nbuckets;       /* power of two */
  tp_conn_t *conns;      /* every connection (list via all_next) */
  uint64_t next_conn;
  int spare_fd;          /* /dev/null, given up to shed a connection when
                            out of descriptors */
  int freeing;           /* sipr_tp_free() runs: no callbacks */

  char arena_first[TP_ARENA_FIRST];
};

/* ---- addr.c ---- */
/* Numeric host text (IPv4, IPv6 with or without brackets) and port into a
 * socket address. 0 or SIPR_EINVAL. */
int sipr__tp_sa_set(struct sockaddr_storage *sa, socklen_t *salen,
                    sipr_str_t host, int port);
/* 1 when both hold the same IP address (ports ignored). */
int sipr__tp_ip_eq(const struct sockaddr_storage *a,
                   const struct sockaddr_storage *b);
/* 1 when sa is 0.0.0.0 or ::. */
int sipr__tp_ip_any(const struct sockaddr_storage *sa);
/* The IP address alone ("192.0.2.1", "2001:db8::1": no brackets, the form
 * of a Via received parameter). Returns the length written (buf NUL-
 * terminated), 0 when sa is no IP address. len >= 48 always fits. */
size_t sipr__tp_ip_str(const struct sockaddr_storage *sa, char *buf, size_t len);
/* Hash of the IP address, and of address + port when with_port. */
uint32_t sipr__tp_sa_hash(const struct sockaddr_storage *sa, int with_port);

/* ---- tp.c ---- */
/* The receive path shared by every protocol: parses buf[0..len) (flags
 * SIPR_PARSE_DATAGRAM or _STREAM), checks, answers or drops what fails,
 * filters responses (§18.1.2), rewrites the top Via of requests (§18.2.1,
 * RFC 3581 §4) and hands the message up. buf is borrowed for the call. */
void sipr__tp_dispatch(sipr_tp_t *tp, const char *buf, size_t len,
                       unsigned flags, const sipr_tp_src_t *src);
/* The listener of protocol proto and the family of like (and the same
 * address when exact), or NULL. */
tp_listener_t *sipr__tp_listener(sipr_tp_t *tp, sipr_tp_proto_t proto,
                                 const sipr_tp_addr_t *like, int exact);

/* ---- udp.c ---- */
int sipr__udp_listen(sipr_tp_t *tp, tp_listener_t *l);
/* Sends one datagram from the socket of l (NULL: the first UDP listener
 * of dest's family). 0 or SIPR_EIO. From the socket whose receive batch is
 * being handed up (tp->udp_batch), the datagram is queued instead and
 * leaves with the others in one sendmmsg() when the batch is done: 0,
 * and a failure then is only counted (tx_errors). */
int sipr__udp_send(sipr_tp_t *tp, tp_listener_t *l, const sipr_tp_addr_t *dest,
                   const char *buf, size_t len);
void sipr__udp_free(sipr_tp_t *tp);

/* ---- tcp.c ---- */
int sipr__tcp_init(sipr_tp_t *tp);
/* Closes every connection without callbacks and frees the table. */
void sipr__tcp_free(sipr_tp_t *tp);
int sipr__tcp_listen(sipr_tp_t *tp, tp_listener_t *l);
/* Queues buf on connection id. 0, SIPR_ENOENT (no such open connection),
 * or SIPR_EIO (the connection failed or its queue is full: it closes). */
int sipr__tcp_send_conn(sipr_tp_t *tp, uint64_t id, const char *buf,
                        size_t len);
/* Sends over an open connection to dest, or opens one. *id receives it. */
int sipr__tcp_send_to(sipr_tp_t *tp, const sipr_tp_addr_t *dest,
                      const char *buf, size_t len, uint64_t *id);

/* Reports a refusal to the user's refused callback, when there is one. */
void sipr__tp_refused(sipr_tp_t *tp, const sipr_tp_addr_t *remote,
                      sipr_str_t method, unsigned status, const char *reason);

#endif
