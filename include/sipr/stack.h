/*
 * Stack: N worker threads, each with its own loop, transport and
 * transaction layer, wired so that a message reaching the wrong worker is
 * handed to the right one through that worker's queue (sipr_loop_post()).
 *
 * Why a message reaches the wrong worker:
 *  - UDP: every worker has its own socket on the listening address
 *    (SO_REUSEPORT) and the kernel picks the socket by a hash of the
 *    datagram's 4-tuple. A response comes from whatever address the next
 *    hop answers from, not necessarily the address the request went to,
 *    so it may land on another worker than the one whose client
 *    transaction sent the request. The branch names the worker
 *    (sipr_txn_new_branch(), cfg.worker): a response whose top Via branch
 *    names another worker is copied (bytes and source) and posted there,
 *    parsed again and fed to that worker's transaction layer.
 *    Requests are not handed off: the retransmissions of a request, its
 *    ACK and its CANCEL come from the same peer 4-tuple, which the kernel
 *    hashes to the same socket for as long as the set of sockets does not
 *    change, so they reach the worker holding the server transaction.
 *  - TCP: a connection belongs to the worker that accepted or opened it
 *    (its id names it, sipr_tp_conn_worker()); a request on it is handled
 *    by that worker. A response or raw send meant for a connection of
 *    another worker is copied and posted to the owner, which sends it
 *    (sipr_tp_send_response() / sipr_tp_send() there, so the §18.2.2
 *    fallbacks apply when the connection has closed meanwhile).
 *    Every worker listens on TCP too (SO_REUSEPORT): the kernel spreads
 *    accepted connections over the workers.
 *
 * Threads: sipr_stack_new/listen/add_alias/start/stop/free are called from
 * one controlling thread, not from a worker. Everything else about worker
 * w (its tp, its txn layer, sipr_stack_recv/send*) is called on w's thread
 * (a callback of its loop, or a job posted with sipr_loop_post()). The
 * transaction user's callbacks run on the worker that owns the
 * transaction; sipr_stack_current() tells which.
 *
 * Limitations: a posted send reports no error back (a failure is counted
 * in the owner's transport stats, not turned into a transport_error); a
 * request to a peer that has an open TCP connection owned by another
 * worker opens a connection of its own; the set of workers is fixed.
 */
#define SIPR_HEADER_LAYER 5
#include "sipr/layer.h"

#ifndef SIPR_STACK_H
#define SIPR_STACK_H

#include "sipr/base.h"
#include "sipr/event.h"
#include "sipr/msg.h"
#include "sipr/transport.h"
#include "sipr/txn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sipr_stack sipr_stack_t;

#define SIPR_STACK_MAX_WORKERS 256 /* the 2 hex digits of the branch, the
                                      8 top bits of a connection id */

/* Creates workers (0: the number of online CPUs, at most
 * SIPR_STACK_MAX_WORKERS) loops on clock (NULL: monotonic; shared by
 * every worker), each with a transport (tp_cfg, NULL: defaults; its
 * worker field is set per worker) and a transaction layer (txn_cfg,
 * NULL: defaults; worker set likewise) whose TU is user/user_ctx (copied;
 * the same for every worker). No thread runs yet. NULL on failure. */
sipr_stack_t *sipr_stack_new(unsigned workers, const sipr_tp_cfg_t *tp_cfg,
                             const sipr_txn_cfg_t *txn_cfg,
                             const sipr_txn_user_ops_t *user, void *user_ctx,
                             const sipr_clock_t *clock);

/* Every worker listens on addr (UDP and TCP, SO_REUSEPORT; port 0: the
 * first worker picks a free port and the others take the same one).
 * Before sipr_stack_start() only. Returns 0, SIPR_EINVAL (started), or
 * sipr_tp_listen()'s error. */
int sipr_stack_listen(sipr_stack_t *s, const sipr_tp_addr_t *addr);
/* sipr_tp_add_alias() on every worker. Before sipr_stack_start() only. */
int sipr_stack_add_alias(sipr_stack_t *s, sipr_str_t host, int port);

/* Messages every worker's transport refuses on receipt are reported to
 * cb (see sipr_tp_user_ops_t.refused), on the worker's thread. Before
 * sipr_stack_start() only. */
typedef void sipr_stack_refused_cb(void *ctx, const sipr_tp_addr_t *remote,
                                   sipr_str_t method, unsigned status,
                                   const char *reason);
void sipr_stack_set_refused(sipr_stack_t *s, sipr_stack_refused_cb *cb,
                            void *ctx);

/* Starts one thread per worker, each running its loop. Returns 0,
 * SIPR_EINVAL (already started or stopped), or SIPR_EIO (a thread could
 * not be made; those started are stopped again). */
int sipr_stack_start(sipr_stack_t *s);
/* Stops every loop and joins the threads. Hand-offs posted from then on
 * are dropped; those still queued are freed by sipr_stack_free(). The
 * stack cannot be started again. No-op when not running. */
void sipr_stack_stop(sipr_stack_t *s);
/* Stops, frees every transaction layer and transport, drains and frees
 * every queue and loop, then s. NULL: no-op. */
void sipr_stack_free(sipr_stack_t *s);

unsigned sipr_stack_workers(const sipr_stack_t *s);
/* Worker w's parts; NULL when w is out of range. */
sipr_loop_t *sipr_stack_loop(sipr_stack_t *s, unsigned w);
sipr_tp_t *sipr_stack_tp(sipr_stack_t *s, unsigned w);
sipr_txn_layer_t *sipr_stack_txn(sipr_stack_t *s, unsigned w);
/* The index of the worker whose thread calls, or -1 (not a worker of s). */
int sipr_stack_current(const sipr_stack_t *s);

/* The worker a branch of ours names (sipr_txn_branch_worker()), or -1
 * when the branch is not of that form or names no worker of s. */
int sipr_stack_worker_of_branch(const sipr_stack_t *s, sipr_str_t branch);

/* Worker w's receive path (its transport's recv callback): a response
 * whose branch names another worker is copied and posted there; any
 * other message goes to w's transaction layer. On w's thread. */
void sipr_stack_recv(sipr_stack_t *s, unsigned w, sipr_msg_t *msg,
                     const sipr_tp_src_t *src);

/* Worker w's send path for responses (its transaction layer's
 * send_response): when src->conn_id is a connection of another worker, a
 * copy of buf and src is posted to it and sent from there with the top
 * Via of buf (a response carries its request's top Via); the return is
 * then 0 or SIPR_ENOMEM. Otherwise sipr_tp_send_response() on w. */
int sipr_stack_send_response(sipr_stack_t *s, unsigned w,
                             const sipr_tp_src_t *src, const sipr_via_t *via,
                             const char *buf, size_t len);
/* sipr_tp_send() from worker w, posted to the owner of conn_id when that
 * is another worker (dest, may be NULL, is copied along). */
int sipr_stack_send(sipr_stack_t *s, unsigned w, const sipr_tp_addr_t *dest,
                    uint64_t conn_id, const char *buf, size_t len);

/* Hand-off counters of worker w; safe to read from any thread. */
typedef struct sipr_stack_stats {
  uint64_t rx_posted;   /* responses received here for another worker */
  uint64_t rx_taken;    /* responses posted here, fed to this layer */
  uint64_t tx_posted;   /* sends here for another worker's connection */
  uint64_t tx_taken;    /* sends posted here and made */
  uint64_t dropped;     /* hand-offs lost: no memory, stopping, no parse */
} sipr_stack_stats_t;
void sipr_stack_get_stats(const sipr_stack_t *s, unsigned w,
                          sipr_stack_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
