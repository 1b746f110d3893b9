/*
 * Transport layer (RFC 3261 §18, RFC 3581): UDP and TCP today, TLS and
 * WebSocket later behind the same interface. Receives bytes, frames and
 * parses messages, applies the §18.2.1 received/rport rules, and hands
 * each message up through sipr_tp_user_ops; sends requests (§18.1.1) and
 * responses (§18.2.2).
 *
 * Threads: one sipr_tp_t per worker loop. UDP sockets are opened per worker
 * with SO_REUSEPORT; a TCP connection belongs to the worker that accepted
 * or opened it.
 */
#define SIPR_HEADER_LAYER 3
#include "sipr/layer.h"

#ifndef SIPR_TRANSPORT_H
#define SIPR_TRANSPORT_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "sipr/base.h"
#include "sipr/event.h"
#include "sipr/msg.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sipr_tp_proto {
  SIPR_TP_NONE = 0,
  SIPR_TP_UDP,
  SIPR_TP_TCP,
  SIPR_TP_TLS, /* later */
  SIPR_TP_WS,  /* later */
  SIPR_TP_WSS  /* later */
} sipr_tp_proto_t;

/* Name for Via ("UDP", "TCP", ...) and back (case-insensitive). */
const char *sipr_tp_proto_name(sipr_tp_proto_t p);
sipr_tp_proto_t sipr_tp_proto_from_str(sipr_str_t s);
/* 1 for stream transports (no retransmission timers A/E/G, §17). */
int sipr_tp_reliable(sipr_tp_proto_t p);

/* A transport address: protocol + socket address. */
typedef struct sipr_tp_addr {
  sipr_tp_proto_t proto;
  struct sockaddr_storage sa;
  socklen_t salen;
} sipr_tp_addr_t;

/* Parses "udp:HOST:PORT" / "tcp:[v6]:PORT" (numeric hosts). */
int sipr_tp_addr_parse(const char *spec, sipr_tp_addr_t *out);
/* Builds an address from a numeric host text and port. */
int sipr_tp_addr_set(sipr_tp_addr_t *a, sipr_tp_proto_t proto, sipr_str_t host,
                     int port);
/* "udp:127.0.0.1:5060" into buf; returns buf. */
const char *sipr_tp_addr_str(const sipr_tp_addr_t *a, char *buf, size_t len);
int sipr_tp_addr_eq(const sipr_tp_addr_t *a, const sipr_tp_addr_t *b);

/* Where a received message came from, and how to answer on the same path. */
typedef struct sipr_tp_src {
  sipr_tp_addr_t remote;  /* source address and transport */
  sipr_tp_addr_t local;   /* the listening address it arrived on */
  uint64_t conn_id;       /* stream connection id, 0 for UDP */
} sipr_tp_src_t;

typedef struct sipr_tp sipr_tp_t;

/* What the layer above (transactions) receives. The message and its arena
 * are the transport's: valid during the call only; copy what you keep. */
typedef struct sipr_tp_user_ops {
  void (*recv)(void *user, sipr_tp_t *tp, sipr_msg_t *msg,
               const sipr_tp_src_t *src);
  /* A connection failed or closed; pending sends over it failed. */
  void (*conn_closed)(void *user, sipr_tp_t *tp, uint64_t conn_id);
} sipr_tp_user_ops_t;

typedef struct sipr_tp_cfg {
  size_t max_stream_msg;      /* default 65535 */
  unsigned max_conns;         /* default 4096 */
  unsigned max_conns_per_ip;  /* default 64 */
  size_t max_conn_buffer;     /* bytes buffered per connection, default 256 KiB */
  uint32_t idle_timeout_ms;   /* default 180000 */
  uint32_t partial_timeout_ms;/* a message started but not finished, default 32000 */
  size_t udp_mtu_switch;      /* §18.1.1: 1300 */
} sipr_tp_cfg_t;

void sipr_tp_cfg_default(sipr_tp_cfg_t *cfg);

/* Creates the transport for one worker loop. */
sipr_tp_t *sipr_tp_new(sipr_loop_t *loop, const sipr_tp_cfg_t *cfg,
                       const sipr_tp_user_ops_t *ops, void *user);
void sipr_tp_free(sipr_tp_t *tp);

/* Listens on addr (UDP: SO_REUSEPORT so each worker has its own socket;
 * port 0 picks a free port, see sipr_tp_local()). Returns 0 or SIPR_EIO. */
int sipr_tp_listen(sipr_tp_t *tp, const sipr_tp_addr_t *addr);
/* The i-th listening address, with the port actually bound. NULL past
 * the end. */
const sipr_tp_addr_t *sipr_tp_local(const sipr_tp_t *tp, unsigned i);

/* §18.1.1: the protocol a request of len bytes goes out on to a
 * destination of protocol p: TCP instead of UDP when len is over
 * cfg.udp_mtu_switch (the caller then writes that transport in its Via). */
sipr_tp_proto_t sipr_tp_pick_proto(const sipr_tp_t *tp, sipr_tp_proto_t p,
                                   size_t len);

/* Sends a request to dest over dest->proto (connections to the same
 * remote are reused; a new one is opened when none is). *conn_id (may be
 * NULL) receives the connection used, 0 for UDP. Returns 0, or SIPR_EIO
 * when the send failed at once (§17.1.4 transport error). */
int sipr_tp_send_request(sipr_tp_t *tp, const sipr_tp_addr_t *dest,
                         const char *buf, size_t len, uint64_t *conn_id);

/* Sends a response (§18.2.2, RFC 3581 §4): over the connection the request
 * came on if it is still open, else to received/rport of the top Via, else
 * to its sent-by. resp is the response text; src is where the request came
 * from; via is the request's top Via. */
int sipr_tp_send_response(sipr_tp_t *tp, const sipr_tp_src_t *src,
                          const sipr_via_t *via, const char *buf, size_t len);

/* Raw send to an address over its protocol (used for retransmissions and
 * stateless forwarding). */
int sipr_tp_send(sipr_tp_t *tp, const sipr_tp_addr_t *dest, uint64_t conn_id,
                 const char *buf, size_t len);

/* Counters (for logs, `sipr ctl stats` and tests). */
typedef struct sipr_tp_stats {
  uint64_t rx_msgs, tx_msgs, rx_bad, rx_dropped, tx_errors;
  uint64_t conns_open, conns_refused, conns_killed, answered_400;
} sipr_tp_stats_t;
void sipr_tp_get_stats(const sipr_tp_t *tp, sipr_tp_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
