/*
 * Transport layer (RFC 3261 §18, RFC 3581): UDP and TCP today, TLS and
 * WebSocket later behind the same interface. Receives bytes, frames and
 * parses messages, applies the §18.2.1 received/rport rules, and hands
 * each message up through sipr_tp_user_ops; sends requests (§18.1.1) and
 * responses (§18.2.2).
 *
 * Threads: one sipr_tp_t per worker loop; every call below is made on that
 * loop's thread. UDP sockets are opened per worker with SO_REUSEPORT; a
 * TCP connection belongs to the worker that accepted or opened it, and
 * its id names that worker (sipr_tp_conn_worker()). A transport does not
 * see other workers' connections: a conn_id of another worker is treated
 * as closed (the routing fallbacks apply), so such a send must be posted
 * to the owner's loop.
 *
 * TLS and WS/WSS are to come behind this same interface: same address
 * syntax, same listen/send calls, same connection ids and callbacks; until
 * then listening on them is refused and sending over them fails.
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

/* Name for Via ("UDP", "TCP", ...) and back (case-insensitive; NONE for
 * an unknown name). sipr_tp_proto_name() returns "" for NONE. */
const char *sipr_tp_proto_name(sipr_tp_proto_t p);
sipr_tp_proto_t sipr_tp_proto_from_str(sipr_str_t s);
/* 1 for stream transports (no retransmission timers A/E/G, §17). */
int sipr_tp_reliable(sipr_tp_proto_t p);
/* The port a sent-by or URI without one means (§18.1.1, §19.1.2): 5060
 * for UDP and TCP, 5061 for TLS, 80 for WS, 443 for WSS. */
int sipr_tp_default_port(sipr_tp_proto_t p);

/* A transport address: protocol + socket address. */
typedef struct sipr_tp_addr {
  sipr_tp_proto_t proto;
  struct sockaddr_storage sa;
  socklen_t salen;
} sipr_tp_addr_t;

/* Parses "udp:HOST:PORT" / "tcp:[v6]:PORT" (protocol case-insensitive;
 * numeric hosts only: host names are the resolver layer's (resolve.h),
 * above this one; IPv6 must be in brackets; the port may be omitted: sipr_tp_default_port(); port 0
 * asks sipr_tp_listen() for a free port). Returns 0, or SIPR_EPARSE with
 * out untouched. */
int sipr_tp_addr_parse(const char *spec, sipr_tp_addr_t *out);
/* Builds an address from a numeric host text ("192.0.2.1", "[2001:db8::1]"
 * or "2001:db8::1") and port (-1: the protocol's default port). Returns 0
 * or SIPR_EINVAL (not a numeric host, port out of range). */
int sipr_tp_addr_set(sipr_tp_addr_t *a, sipr_tp_proto_t proto, sipr_str_t host,
                     int port);
/* "udp:127.0.0.1:5060" / "tcp:[::1]:5060" into buf (truncated to len,
 * always NUL-terminated when len > 0); returns buf. 64 bytes always fit. */
const char *sipr_tp_addr_str(const sipr_tp_addr_t *a, char *buf, size_t len);
/* 1 when protocol, IP address and port are equal. */
int sipr_tp_addr_eq(const sipr_tp_addr_t *a, const sipr_tp_addr_t *b);
/* The port of a, or -1 when it has no IPv4/IPv6 address. */
int sipr_tp_addr_port(const sipr_tp_addr_t *a);

/* Where a received message came from, and how to answer on the same path.
 * Requests handed up already carry the §18.2.1 / RFC 3581 §4 result in
 * their top Via (received= added, an empty rport filled in): the
 * transport rewrites a copy of the bytes before parsing what it hands up,
 * so the TU, a proxy forwarding the request, and sipr_tp_send_response()
 * all see the same Via. */
typedef struct sipr_tp_src {
  sipr_tp_addr_t remote;  /* source address and transport */
  sipr_tp_addr_t local;   /* the listening address it arrived on (for an
                             outgoing connection: its local address) */
  uint64_t conn_id;       /* stream connection id, 0 for UDP */
} sipr_tp_src_t;

typedef struct sipr_tp sipr_tp_t;

/* What the layer above (transactions) receives. The message and its arena
 * are the transport's: valid during the call only; copy what you keep.
 * Callbacks run on the loop's thread, from the transport's I/O and timer
 * callbacks, never from inside a sipr_tp_send*() call. They may send
 * (any sipr_tp_send*()), but must not free the transport. */
typedef struct sipr_tp_user_ops {
  /* A message that parsed and passed sipr_msg_check(): a request (top Via
   * already carrying received/rport), or a response whose top Via sent-by
   * is ours (§18.1.2). */
  void (*recv)(void *user, sipr_tp_t *tp, sipr_msg_t *msg,
               const sipr_tp_src_t *src);
  /* A connection failed or closed (any reason: peer closed, error, idle,
   * killed by a cap); bytes still queued on it are lost. May be NULL. */
  void (*conn_closed)(void *user, sipr_tp_t *tp, uint64_t conn_id);
  /* Optional: a message refused on receipt (it failed to parse or check,
   * its top Via is not ours, or a stream broke its framing). status is
   * what was answered (0: dropped silently), method the request's method
   * or NULL slice, reason the syntax layer's (static storage). For the
   * server's log of refusals; runs on the transport's thread. */
  void (*refused)(void *user, sipr_tp_t *tp, const sipr_tp_addr_t *remote,
                  sipr_str_t method, unsigned status, const char *reason);
} sipr_tp_user_ops_t;

typedef struct sipr_tp_cfg {
  size_t max_stream_msg;      /* one message on a stream, default 65535; the
                                 framer buffers at most twice this */
  unsigned max_conns;         /* open connections, both ways, default 4096 */
  unsigned max_conns_per_ip;  /* accepted connections per source IP, default 64 */
  size_t max_conn_buffer;     /* bytes queued for writing per connection,
                                 default 256 KiB; a peer that does not read
                                 and lets more pile up is disconnected */
  uint32_t idle_timeout_ms;   /* no byte either way, default 180000 (RFC 3261
                                 §18: at least 64*T1) */
  uint32_t partial_timeout_ms;/* a message started but not finished, default 32000 */
  uint32_t connect_timeout_ms;/* an outgoing connect, default 32000 */
  size_t udp_mtu_switch;      /* §18.1.1: 1300 */
  unsigned worker;            /* this worker's index (0..255), kept in the top
                                 bits of connection ids; see sipr_tp_conn_worker() */
} sipr_tp_cfg_t;

void sipr_tp_cfg_default(sipr_tp_cfg_t *cfg);

/* Creates the transport for one worker loop (borrowed; it must outlive the
 * transport). cfg (NULL: defaults) and ops are copied. NULL on failure. */
sipr_tp_t *sipr_tp_new(sipr_loop_t *loop, const sipr_tp_cfg_t *cfg,
                       const sipr_tp_user_ops_t *ops, void *user);
/* Closes every socket and connection (no callbacks) and frees tp. Call it
 * on the loop's thread, not from a transport callback, and before
 * sipr_loop_free(). */
void sipr_tp_free(sipr_tp_t *tp);

/* Between sipr_tp_hold() and sipr_tp_release() (loop thread), UDP sends
 * from the socket of the first one are queued and leave together with
 * sendmmsg() at the release, as the answers to one received batch do;
 * sends from other sockets go at once. Errors then show in the counters
 * (tx_errors), not as return values. Not nested; a no-op while a
 * received batch is being handed up. */
void sipr_tp_hold(sipr_tp_t *tp);
void sipr_tp_release(sipr_tp_t *tp);

/* Listens on addr: UDP and TCP today (TLS/WS/WSS: SIPR_EINVAL). Sockets
 * use SO_REUSEPORT so each worker opens its own on the same address; port
 * 0 picks a free port, see sipr_tp_local() (the other workers then listen
 * on the port the first one got). §18.2.1: listen on TCP wherever you
 * listen on UDP. Returns 0, SIPR_EIO, or SIPR_ETOOBIG past 16 addresses. */
int sipr_tp_listen(sipr_tp_t *tp, const sipr_tp_addr_t *addr);
/* The i-th listening address, with the port actually bound. NULL past
 * the end. */
const sipr_tp_addr_t *sipr_tp_local(const sipr_tp_t *tp, unsigned i);
/* §18.1.2: a response is handed up only when its top Via sent-by is one we
 * put in requests: a listening address (a wildcard address matches any
 * IP of its family), or an alias added here (a hostname or public address
 * written in our Via; port -1: the default port). Returns 0, SIPR_EINVAL,
 * or SIPR_ETOOBIG past 16 aliases. host is copied. */
int sipr_tp_add_alias(sipr_tp_t *tp, sipr_str_t host, int port);

/* §18.1.1: the protocol a request of len bytes goes out on to a
 * destination of protocol p: TCP instead of UDP when len is over
 * cfg.udp_mtu_switch (the caller then writes that transport in its Via). */
sipr_tp_proto_t sipr_tp_pick_proto(const sipr_tp_t *tp, sipr_tp_proto_t p,
                                   size_t len);

/* Sends a request to dest over dest->proto (§18.1.1: an open connection
 * to the same remote address is reused; a new one is opened when none
 * is, and the bytes wait in its queue until it connects). buf is copied
 * when it cannot leave at once. *conn_id (may be NULL) receives the
 * connection used, 0 for UDP. Returns 0, or SIPR_EIO when the send failed
 * at once (§17.1.4 transport error; also a connection cap). A connection
 * that fails later is reported through conn_closed. */
int sipr_tp_send_request(sipr_tp_t *tp, const sipr_tp_addr_t *dest,
                         const char *buf, size_t len, uint64_t *conn_id);

/* Sends a response (§18.2.2, RFC 3581 §4). via is the top Via of the
 * request (as handed up: with received/rport) or, when forwarding a
 * response statelessly, of the response; it decides the protocol.
 * First, whatever the protocol: over the connection src->conn_id if it
 * is still open. Reliable: else a connection to received (or sent-by) at
 * the sent-by port (an open one to that address is reused). Unreliable:
 * to maddr at the sent-by port; else to received at rport (when rport
 * has a value) or the sent-by port; else to sent-by; UDP leaves from the
 * socket src->local names (the one the request came in on). src may be
 * NULL. Limitation: this layer does not resolve names (§18.2.2's RFC 3263
 * §5 lookup is not done), so a sent-by or maddr that is a host name
 * cannot be reached (SIPR_EINVAL, counted in tx_errors).
 * Returns 0, SIPR_EINVAL, or SIPR_EIO. */
int sipr_tp_send_response(sipr_tp_t *tp, const sipr_tp_src_t *src,
                          const sipr_via_t *via, const char *buf, size_t len);

/* Raw send (retransmissions, stateless forwarding, ACK for 2xx): over
 * connection conn_id when it is non-zero and still open, else to dest over
 * dest->proto as sipr_tp_send_request() does (dest may be NULL only with
 * a conn_id). Returns 0 or SIPR_EIO. */
int sipr_tp_send(sipr_tp_t *tp, const sipr_tp_addr_t *dest, uint64_t conn_id,
                 const char *buf, size_t len);

/* UDP sends made while a batch of received datagrams is handed up (from
 * the recv callback, or anything it calls) and leaving from the socket
 * that batch came in on are queued: their bytes are copied, and the
 * queue leaves with one sendmmsg() once the datagrams of that batch have
 * been handed up, before the transport's I/O callback returns (nothing
 * waits past the batch; a full queue is sent at once and queuing goes
 * on). Such a send returns 0: a failure when the queue leaves (rare on
 * UDP: EAGAIN or ENOBUFS on a full socket buffer) is reported by
 * tx_errors, not by a return value, as a datagram lost on the way would
 * be (the transaction layer retransmits, §17). Sends from timers, over
 * other sockets, and over TCP leave at once, as documented above. */

/* The worker (cfg.worker) that owns connection conn_id: a message for a
 * connection of another worker is handed to that worker's loop
 * (sipr_loop_post()) and sent from there. */
static inline unsigned sipr_tp_conn_worker(uint64_t conn_id) {
  return (unsigned)(conn_id >> 56);
}

/* Counters (for logs, `sipr ctl stats` and tests). */
typedef struct sipr_tp_stats {
  uint64_t rx_msgs;      /* messages handed up */
  uint64_t tx_msgs;      /* messages sent or queued */
  uint64_t rx_bad;       /* failed parse/check, or broken stream framing */
  uint64_t rx_dropped;   /* refused without an answer: bad responses, bad
                            requests with no usable Via, ACKs, truncated
                            datagrams, responses with a foreign Via */
  uint64_t rx_foreign_via; /* of which §18.1.2 foreign-Via responses */
  uint64_t tx_errors;    /* sends that failed */
  uint64_t tx_batches;   /* sendmmsg() calls sending the UDP datagrams
                            queued during a receive batch (see the note
                            after sipr_tp_send()) */
  uint64_t conns_open;   /* connections open now (a gauge) */
  uint64_t conns_accepted, conns_connected; /* totals, each way */
  uint64_t conns_refused;/* accepts or connects refused by a cap */
  uint64_t conns_killed; /* peers disconnected for garbage, an oversize
                            message, a stalled message, a full write queue */
  uint64_t conns_idle;   /* connections closed after idle_timeout_ms */
  uint64_t keepalives;   /* CRLFCRLF pings answered (RFC 5626 §3.5.1) */
  uint64_t answered_400; /* bad requests answered (400 or err.status) */
} sipr_tp_stats_t;
void sipr_tp_get_stats(const sipr_tp_t *tp, sipr_tp_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
