/*
 * Transaction layer (RFC 3261 §17, RFC 6026): the INVITE client (ICT),
 * non-INVITE client (NICT), INVITE server (IST) and non-INVITE server
 * (NIST) state machines with timers A-K, L, M; matching of responses to
 * client transactions (§17.1.3) and of requests to server transactions
 * (§17.2.3, with the RFC 2543 fallback); ACK for non-2xx generated inside
 * the ICT (§17.1.1.3).
 *
 * The layer sends through a small ops table (sipr_txn_tp_ops_t) so unit
 * tests run it on a fake clock with no sockets; in the server that table
 * is the transport layer's.
 *
 * Memory: a transaction copies what it keeps (its request bytes, the last
 * response bytes, the matching keys); it never holds slices into a
 * received message. It is freed when it terminates, after the TU's
 * terminated callback.
 *
 * Branches we create are "z9hG4bK" + 4 hex digits of the table bucket +
 * 2 hex digits of the worker + random; a response finds its client transaction in that bucket only.
 * Server transactions live in the bucket of a seeded hash of the request's
 * branch (or, for RFC 2543 requests without the magic cookie, of its
 * Call-ID and CSeq number), so ACK and CANCEL land where their INVITE is.
 *
 * Threads: the table has one mutex per bucket, so lookups and inserts may
 * come from several threads; but a transaction's state, timers and
 * callbacks belong to the layer's loop, and every call below except
 * sipr_txn_new_branch() and sipr_txn_count() must be made on that loop's
 * thread. Run one layer per loop; the branch names the layer's worker
 * (cfg.worker), and the stack (include/sipr/stack.h) hands a response
 * that reached another worker to the layer that owns its transaction.
 *
 * Reentrancy: callbacks may call sipr_txn_respond(), sipr_txn_client_new()
 * and the accessors. A transaction is never freed while the TU is inside
 * one of those calls: terminations that follow a TU call (Timer J/K/D/I
 * of zero on reliable transports) run from the loop's timers.
 */
#define SIPR_HEADER_LAYER 5
#include "sipr/layer.h"

#ifndef SIPR_TXN_H
#define SIPR_TXN_H

#include "sipr/base.h"
#include "sipr/event.h"
#include "sipr/msg.h"
#include "sipr/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sipr_txn_kind {
  SIPR_TXN_ICT = 1, /* INVITE client, §17.1.1 */
  SIPR_TXN_NICT,    /* non-INVITE client, §17.1.2 */
  SIPR_TXN_IST,     /* INVITE server, §17.2.1 */
  SIPR_TXN_NIST     /* non-INVITE server, §17.2.2 */
} sipr_txn_kind_t;

typedef enum sipr_txn_state {
  SIPR_TXN_INIT = 0,
  SIPR_ICT_CALLING,
  SIPR_ICT_PROCEEDING,
  SIPR_ICT_COMPLETED,
  SIPR_ICT_ACCEPTED,   /* RFC 6026 §8.4 */
  SIPR_ICT_TERMINATED,
  SIPR_NICT_TRYING,
  SIPR_NICT_PROCEEDING,
  SIPR_NICT_COMPLETED,
  SIPR_NICT_TERMINATED,
  SIPR_IST_PROCEEDING,
  SIPR_IST_COMPLETED,
  SIPR_IST_CONFIRMED,
  SIPR_IST_ACCEPTED,   /* RFC 6026 §8.7 */
  SIPR_IST_TERMINATED,
  SIPR_NIST_TRYING,
  SIPR_NIST_PROCEEDING,
  SIPR_NIST_COMPLETED,
  SIPR_NIST_TERMINATED
} sipr_txn_state_t;

const char *sipr_txn_state_name(sipr_txn_state_t s);

typedef struct sipr_txn sipr_txn_t;
typedef struct sipr_txn_layer sipr_txn_layer_t;

/* Timer values in ms (§17.1.1.1, Table 4). */
typedef struct sipr_txn_cfg {
  uint32_t t1;  /* default 500 */
  uint32_t t2;  /* default 4000 */
  uint32_t t4;  /* default 5000 */
  uint32_t timer_d; /* default 32000 (>= 32 s on unreliable transports) */
  unsigned max_txns; /* cap on live transactions, default 100000 */
  unsigned buckets;  /* hash buckets, power of two (rounded up), at most
                        65536 (the 4 hex digits of the branch), default 16384: about
                        6 live transactions per bucket at max_txns */
  /* §17.2.1: the IST sends 100 (Trying) when the TU has not answered
   * within trying_delay ms (0: at once). Default on, 200 ms. */
  int send_100;
  uint32_t trying_delay;
  /* A new request over max_txns: 1 (default) answers it statelessly with
   * 503 (Service Unavailable) so the client fails over at once (§21.5.4)
   * instead of retransmitting for 32 s into a full table; 0 drops it. An
   * ACK is never answered. Either way it is counted (sipr_txn_stats_t). */
  int overload_503;
  /* The worker (0..255) whose loop runs this layer, written in the branches
   * it creates (sipr_txn_branch_worker()) so that a response reaching
   * another worker is handed to this one (include/sipr/stack.h). Default 0. */
  unsigned worker;
} sipr_txn_cfg_t;

void sipr_txn_cfg_default(sipr_txn_cfg_t *cfg);

/* How the layer sends. dest and conn_id come from the transaction: for
 * client transactions the destination the TU chose; for server ones the
 * request's source (responses are routed by the transport, §18.2.2). */
typedef struct sipr_txn_tp_ops {
  int (*send_request)(void *ctx, const sipr_tp_addr_t *dest, const char *buf,
                      size_t len, uint64_t *conn_id);
  int (*send_response)(void *ctx, const sipr_tp_src_t *src,
                       const sipr_via_t *via, const char *buf, size_t len);
} sipr_txn_tp_ops_t;

/* What the transaction user (UA core, proxy, registrar) receives. */
typedef struct sipr_txn_user_ops {
  /* A request that created a new server transaction. */
  void (*request)(void *user, sipr_txn_t *st, sipr_msg_t *req,
                  const sipr_tp_src_t *src);
  /* A response for a client transaction (1xx-6xx; retransmitted 2xx in
   * ICT Accepted too, RFC 6026 §8.4). */
  void (*response)(void *user, sipr_txn_t *ct, sipr_msg_t *resp);
  /* Timer B/F fired, or Timer H (no ACK) in the IST. */
  void (*timeout)(void *user, sipr_txn_t *t);
  /* The transport failed (§17.1.4, §17.2.4). A client transaction then
   * terminates. A server transaction stays in its state (RFC 6026 §8.8:
   * it MUST NOT discard its state on a transport error, so retransmitted
   * requests are still absorbed); its timers end it, or for a NIST in
   * Trying/Proceeding, the TU's final response. */
  void (*transport_error)(void *user, sipr_txn_t *t);
  /* The transaction is gone after this call returns. */
  void (*terminated)(void *user, sipr_txn_t *t);
  /* A request that matches no transaction and creates none: an ACK for a
   * 2xx (§17.2.3 last paragraph), to be passed to the TU/core; also an
   * ACK that matches an IST in Accepted (RFC 6026 §8.7: passed to the TU,
   * not absorbed). */
  void (*stray_ack)(void *user, sipr_msg_t *ack, const sipr_tp_src_t *src);
  /* A response that matches no client transaction (§17.1.3): a proxy
   * forwards it statelessly (§16.7 / §18.1.2), a UA drops it. */
  void (*stray_response)(void *user, sipr_msg_t *resp, const sipr_tp_src_t *src);
} sipr_txn_user_ops_t;

sipr_txn_layer_t *sipr_txn_layer_new(sipr_loop_t *loop, const sipr_txn_cfg_t *cfg,
                                     const sipr_txn_tp_ops_t *tp, void *tp_ctx,
                                     const sipr_txn_user_ops_t *user,
                                     void *user_ctx);
/* Terminates every transaction (no callbacks) and frees the layer. Call
 * it before sipr_loop_free() of its loop, and not from a callback. */
void sipr_txn_layer_free(sipr_txn_layer_t *l);

/* Feeds a message received by the transport (its recv callback). Requests
 * are matched to server transactions (retransmissions absorbed, the last
 * response re-sent) or create new ones, which the request callback
 * announces; an ACK never creates one (stray_ack); a new request over
 * max_txns is answered 503 or dropped (cfg.overload_503). Responses go to
 * their client transaction, or to stray_response. A message without a top
 * Via (with sent-by) and a CSeq, or an RFC 2543 request without Call-ID
 * and From, is dropped (counted). msg is borrowed for the call. */
void sipr_txn_layer_recv(sipr_txn_layer_t *l, sipr_msg_t *msg,
                         const sipr_tp_src_t *src);

/* Tells the layer that stream connection conn_id closed or failed (the
 * transport's conn_closed callback). Client transactions still waiting on
 * it (ICT Calling/Proceeding, NICT Trying/Proceeding) get transport_error
 * and terminate at once (§17.1.4) instead of waiting for Timer B/F. Server
 * transactions keep their state (RFC 6026 §8.8): their response routing
 * falls back per §18.2.2. Walks the table (connection closes are rare).
 * Call on the layer's loop thread. Returns how many transactions failed. */
unsigned sipr_txn_layer_conn_closed(sipr_txn_layer_t *l, uint64_t conn_id);

/* Writes a new branch for a client transaction into buf (at least 40
 * bytes): "z9hG4bK" + 4 hex digits of the bucket + 2 hex digits of the
 * worker (cfg.worker) + 14 hex digits of random, NUL-terminated. Returns
 * its length (27), or 0 when cap is too small. Thread-safe. The TU puts it
 * in the Via it builds, then calls sipr_txn_client_new(). */
size_t sipr_txn_new_branch(sipr_txn_layer_t *l, char *buf, size_t cap);

/* The worker written in a branch of the sipr_txn_new_branch() form, or -1
 * when branch does not have that form (no magic cookie, not 27 characters,
 * or the digits are not hex). A branch someone else made may happen to
 * have the form: the worker named then finds no transaction, as any
 * worker would. Thread-safe. */
int sipr_txn_branch_worker(sipr_str_t branch);

/* Starts a client transaction for the request text req (which carries our
 * top Via with a branch from sipr_txn_new_branch()), sent to dest. The
 * request is parsed and copied. Kind (ICT/NICT) follows the method; ACK is
 * refused (SIPR_EINVAL: ACK for 2xx is sent by the TU without a
 * transaction). A CANCEL (§9.1) carries the branch of the INVITE it
 * cancels: it is its own NICT, told apart by its method. Returns 0 and
 * *out, or a SIPR_E* code (no callback fires): SIPR_EPARSE (req does not
 * parse or check), SIPR_EINVAL (a response, ACK, a branch that is not
 * ours, or a live client transaction with the same branch and method),
 * SIPR_ETOOBIG (max_txns reached), SIPR_ENOMEM, or the send's error
 * (SIPR_EIO: the first send failed, §17.1.4; nothing is kept). */
int sipr_txn_client_new(sipr_txn_layer_t *l, const char *req, size_t len,
                        const sipr_tp_addr_t *dest, void *owner,
                        sipr_txn_t **out);

/* Optional stateless hook: offered every request except ACK and CANCEL
 * before it is matched or creates a server transaction. It returns 1 when
 * it has answered the request statelessly (§8.2.7: a request whose answer
 * is always the same for identical requests, e.g. OPTIONS to the server
 * itself, so a retransmission is simply answered again) with
 * sipr_txn_send_stateless(); no transaction is then created. 0: go on as
 * usual. Set it before the layer receives anything (NULL: none). */
typedef int sipr_txn_stateless_cb(void *ctx, sipr_txn_layer_t *l,
                                  sipr_msg_t *req, const sipr_tp_src_t *src);
void sipr_txn_layer_set_stateless(sipr_txn_layer_t *l,
                                  sipr_txn_stateless_cb *cb, void *ctx);

/* Sends a response with no transaction (§8.2.7 stateless UAS, §16.11):
 * routed from src and the request's top Via like a transaction's
 * (§18.2.2). resp is borrowed. Returns the send's result. Counted in
 * stats.stateless. On the layer's loop thread. */
int sipr_txn_send_stateless(sipr_txn_layer_t *l, const sipr_tp_src_t *src,
                            const sipr_via_t *via, const char *resp,
                            size_t len);

/* Sends a response on a server transaction (the TU's only way to answer).
 * resp is the complete response text; it is copied for retransmission.
 * Returns 0; SIPR_EPARSE when resp does not parse as a response (status
 * 100-699); SIPR_EINVAL when the state takes no such response (any
 * response once Completed/Confirmed, a non-2xx in IST Accepted: the RFC
 * says discard) or st is a client transaction; or the send's error
 * (SIPR_EIO; transport_error has then been called, the state stays). In
 * IST Accepted only 2xx retransmissions from the TU are sent (RFC 6026). */
int sipr_txn_respond(sipr_txn_t *st, const char *resp, size_t len);

/* §9.2: the INVITE server transaction a received CANCEL targets (same
 * branch and sent-by with method INVITE; for an RFC 2543 CANCEL, same
 * Request-URI, To tag, From tag, Call-ID, CSeq number and top Via), or
 * NULL. The CANCEL itself is a NIST of its own, given to the TU by the
 * request callback; the TU answers it and, when the INVITE is still in
 * Proceeding, answers the INVITE with 487. The pointer is borrowed: valid
 * on the loop's thread until that transaction's terminated callback. */
sipr_txn_t *sipr_txn_find_invite_for_cancel(sipr_txn_layer_t *l,
                                            sipr_msg_t *cancel);

/* Gives up an INVITE client transaction still in Calling or Proceeding:
 * no more retransmissions, and it terminates from the loop's timers (the
 * terminated callback comes then, not inside this call; no timeout
 * callback). For a TU that has sent a CANCEL and received no final
 * response for 64*T1 (§9.1: the transaction is then considered ended;
 * §16.8 for a proxy's Timer C). Returns 0, or SIPR_EINVAL (not an ICT, or
 * already past Proceeding). */
int sipr_txn_abandon(sipr_txn_t *ct);

/* Cancels nothing: CANCEL is a new NICT the TU builds (§9.1). This only
 * tells whether an ICT may be cancelled (a provisional was received). */
int sipr_txn_can_cancel(const sipr_txn_t *ct);

sipr_txn_kind_t sipr_txn_kind(const sipr_txn_t *t);
sipr_txn_state_t sipr_txn_state(const sipr_txn_t *t);
/* The TU's pointer, set at creation (client) or by sipr_txn_set_owner(). */
void *sipr_txn_owner(const sipr_txn_t *t);
void sipr_txn_set_owner(sipr_txn_t *t, void *owner);
/* The branch of the transaction's top Via (copied). */
sipr_str_t sipr_txn_branch(const sipr_txn_t *t);
/* The request the transaction was created for, as bytes. */
sipr_str_t sipr_txn_request(const sipr_txn_t *t);
unsigned sipr_txn_count(const sipr_txn_layer_t *l);

/* Counters (for logs, `sipr ctl stats` and tests). */
typedef struct sipr_txn_stats {
  uint64_t created_client, created_server, terminated;
  uint64_t retransmissions;  /* requests (A/E) and responses (G) re-sent by timers */
  uint64_t absorbed;         /* retransmitted requests absorbed by server txns */
  uint64_t timeouts, transport_errors;
  uint64_t refused_cap;      /* over max_txns (client_new and server) */
  uint64_t answered_503;     /* over max_txns, answered statelessly */
  uint64_t stray_responses, stray_acks;
  uint64_t dropped;          /* messages without what matching needs */
  uint64_t stateless;        /* requests answered by the TU statelessly */
} sipr_txn_stats_t;
void sipr_txn_get_stats(const sipr_txn_layer_t *l, sipr_txn_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
