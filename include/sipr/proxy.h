/*
 * Stateful forking proxy (RFC 3261 §16) and redirect server (§8.3).
 *
 * The server's transaction user hands every request that is not addressed
 * to the server itself (sipr_proxy_for_us()) to sipr_proxy_on_request(),
 * and every client-transaction event (response, timeout, transport error,
 * terminated), stray ACK (ACK for 2xx) and stray response to the matching
 * sipr_proxy_on_*() function.
 *
 * What a request goes through, in the RFC's order:
 *   §16.3  Request-URI scheme (416), Max-Forwards 0 (483; 70 added when
 *          absent), loop detection (482; the §16.6 step 8 hash written in
 *          our branch, spirals allowed), Proxy-Require (420 + Unsupported),
 *          proxy authorization (407 when auth is on and From names one of
 *          our domains)
 *   §16.4  a Request-URI we placed in Record-Route (strict-router peer),
 *          our own Route values removed, loose routing
 *   §16.5  targets: our domains -> every binding of the location service
 *          (by q; 404 unknown user, 480 a known user with no binding);
 *          other domains -> the Request-URI, for authenticated local users
 *          only (403 "Relaying Denied" otherwise); in-dialog requests (To
 *          tag) that follow our Route -> the Route / Request-URI
 *   §16.6  one copy per target: Request-URI, Max-Forwards, Record-Route
 *          (lr; two when the transport changes), our Via, next hop from
 *          Route / Request-URI (a numeric host, or a host name resolved
 *          to A/AAAA records by the worker's resolver, RFC 3263 §4.2:
 *          the branch waits for the answer; a name that does not resolve
 *          counts as a 503 from that branch, §16.9), one client
 *          transaction each
 *   §16.7  best response, 1xx (not 100) and every 2xx forwarded at once,
 *          6xx cancels the other branches, 401/407 challenges merged, 503
 *          sent as 500, 3xx forwarded (or, with recurse_3xx, its
 *          Contacts tried as new targets, each target at most once)
 *   §16.8  Timer C per INVITE branch (CANCEL, or 408 without provisional)
 *   §16.9  a transport error counts as a 503 from that branch
 *   §16.10 CANCEL answered 200 and sent on every pending branch
 *   §16.11 ACK for 2xx and stray responses forwarded statelessly
 * Forking: parallel (default) or sequential by q-value groups (next group
 * on failure or after fork_timeout_ms); at most max_branches targets.
 * Routing rules (sipr_proxy_rule_check()) may reject, redirect, forward
 * (statefully, or statelessly per §16.11) or pick the forking mode.
 * Redirect mode (§8.3): 302 with the bindings as Contact (q, expires),
 * 404 unknown user, 480 known user without binding.
 *
 * Threads: one proxy serves every worker. Everything about one request
 * runs on the worker thread that owns its server transaction (the stack
 * hands responses to our client transactions to that worker), so the
 * state of a request needs no lock; ops.layer() and ops.loop() name that
 * worker's transaction layer and loop.
 */
#define SIPR_HEADER_LAYER 8
#include "sipr/layer.h"

#ifndef SIPR_PROXY_H
#define SIPR_PROXY_H

#include "sipr/auth.h"
#include "sipr/base.h"
#include "sipr/event.h"
#include "sipr/msg.h"
#include "sipr/resolve.h"
#include "sipr/store.h"
#include "sipr/transport.h"
#include "sipr/txn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sipr_proxy sipr_proxy_t;

/* How the proxy reaches the layers below, on the calling worker thread. */
typedef struct sipr_proxy_ops {
  /* The transaction layer and loop of the calling worker. */
  sipr_txn_layer_t *(*layer)(void *ctx);
  sipr_loop_t *(*loop)(void *ctx);
  /* Raw send of a request forwarded statelessly (ACK for 2xx). */
  int (*send)(void *ctx, const sipr_tp_addr_t *dest, const char *buf,
              size_t len);
  /* A response forwarded statelessly to via (§18.2.2). */
  int (*send_response)(void *ctx, const sipr_via_t *via, const char *buf,
                       size_t len);
  /* The calling worker's resolver (its answers come back on that
   * worker's loop). NULL, or returning NULL: a next hop named by a host
   * name fails that branch as a 503 (§16.9). */
  sipr_res_t *(*resolver)(void *ctx);
} sipr_proxy_ops_t;

typedef enum sipr_proxy_fork {
  SIPR_FORK_PARALLEL = 0,
  SIPR_FORK_SEQUENTIAL
} sipr_proxy_fork_t;

/* When an edge proxy adds its Path to a REGISTER it relays (RFC 3327
 * §5.2). */
typedef enum sipr_proxy_path {
  SIPR_PATH_SUPPORTED = 0, /* only when the UA said Supported: path */
  SIPR_PATH_ALWAYS,        /* always (the registrar may then answer 420
                              to a UA without support, §5.3) */
  SIPR_PATH_REQUIRED       /* §5.2: with Supported: path, Path and
                              Require: path; without, 421 to the UA */
} sipr_proxy_path_t;

typedef struct sipr_proxy_cfg {
  /* Domains served ("example.com", "host:port", "[v6]:port"; copied). */
  const char *const *domains;
  size_t ndomains;
  /* The listening addresses (ports bound; copied): our Via sent-by and
   * Record-Route, and what a Route / Via naming us looks like. */
  const sipr_tp_addr_t *locals;
  size_t nlocals;
  /* Host written in Via / Record-Route when a local address is a
   * wildcard (0.0.0.0, ::); NULL: the request's arrival address. */
  const char *advertise;
  int auth;                 /* 1: 407 for callers claiming our domains */
  const char *realm;        /* challenge realm (copied); NULL: "sipr" */
  int redirect;             /* 1: redirect server (§8.3) */
  sipr_proxy_fork_t fork;   /* default parallel */
  uint32_t timer_c_ms;      /* §16.8, > 3 min; default 185000 */
  uint32_t fork_timeout_ms; /* sequential: per group; default 20000 */
  unsigned max_branches;    /* targets per request; default 12 */
  int recurse_3xx;          /* 1: the Contacts of a 3xx become new targets
                               (§16.5, §16.7 step 4); default 0: the 3xx is
                               a response like any other */
  /* Edge proxy (RFC 3327): a REGISTER for a domain we do not serve is
   * relayed to this registrar ("sip:host[:port][;transport=tcp]", a
   * numeric host or a name; copied), the Request-URI kept, with our Path
   * per edge_path; and a request that comes back along that Path (our
   * Route carrying the user "path") is relayed to its Request-URI, as
   * an in-dialog request following our Record-Route is. NULL: REGISTER
   * always goes to the registrar of this server. */
  const char *edge;
  sipr_proxy_path_t edge_path;
  /* Routing rules in order (copied; see sipr_proxy_rule_check()). */
  const char *const *rules;
  size_t nrules;
  int64_t (*wall_now)(void *ctx); /* unix seconds; NULL: time() */
  void *wall_ctx;
  const sipr_clock_t *clock; /* ms clock for nonces; NULL: monotonic */
  sipr_proxy_ops_t ops;
  void *ops_ctx;
} sipr_proxy_cfg_t;

void sipr_proxy_cfg_default(sipr_proxy_cfg_t *cfg);

/* Routing rules: an ordered list; for an out-of-dialog request (after the
 * §16.3 checks and §16.4 route preprocessing) the first rule whose
 * conditions all hold decides; with none, our domains go to the location
 * service and other domains are relayed for authenticated users only.
 *
 *   [CONDITION ...] -> ACTION
 *   CONDITION  domain=HOST | domain=*.SUFFIX   Request-URI host
 *              user=PREFIX                     Request-URI user prefix
 *              from=HOST | from=*.SUFFIX       From URI host
 *              method=M[,M...]                 request method
 *              source=IP[/LEN]                 source network
 *   ACTION     location [fork=parallel|sequential]
 *              forward SIP-URI [stateless]     next hop (stateless: a
 *                                              numeric host);
 *                                              the Request-URI is kept
 *              redirect SIP-URI                302 with that Contact
 *              reject CODE [REASON...]         CODE 300-699
 *
 * e.g. "domain=b.example -> forward sip:192.0.2.7:5060",
 *      "user=+1900 -> reject 403 Premium Numbers Barred".
 * A forward rule is the "configured rule" that lets requests for other
 * domains through without authentication. A stateless forward (§16.11)
 * is applied by sipr_proxy_stateless() before any transaction exists
 * (from sipr_proxy_on_request() the rule forwards statefully). Returns 0,
 * or SIPR_EINVAL with the reason in err. */
int sipr_proxy_rule_check(const char *text, char *err, size_t errlen);

/* Checks an edge registrar URI (cfg.edge): 0, or SIPR_EINVAL with the
 * reason in err. */
int sipr_proxy_edge_check(const char *uri, char *err, size_t errlen);

/* Creates a proxy. cfg is copied; store (bindings, credentials) and auth
 * (may be NULL when cfg->auth is 0) are borrowed. NULL on failure (out of
 * memory, a domain that does not parse, auth on without a server, ops
 * missing). */
sipr_proxy_t *sipr_proxy_new(const sipr_proxy_cfg_t *cfg, sipr_store_t *store,
                             sipr_auth_server_t *auth);
/* Frees the proxy and the state of requests still in progress (their
 * transactions must be gone: call it after the transaction layers and
 * loops are freed). */
void sipr_proxy_free(sipr_proxy_t *p);

/* 1 when req is addressed to the server itself and belongs to the
 * registrar / UAS core: with no Route but our own, a REGISTER (the
 * registrar answers 404 for a domain it does not serve; with cfg.edge,
 * only a REGISTER for one of our domains or addresses), or a request
 * whose Request-URI has no user part and names us. src may be NULL. */
int sipr_proxy_for_us(const sipr_proxy_t *p, sipr_msg_t *req,
                      const sipr_tp_src_t *src);

/* The transaction layer's stateless hook (sipr_txn_layer_set_stateless):
 * a request that a "forward ... stateless" rule matches is forwarded
 * without a transaction (§16.11): our Via's branch is computed from the
 * request's invariants, so a retransmission is forwarded again with the
 * same branch; its responses come back as stray responses. Returns 1 when
 * forwarded, 0 to go on as usual (any check that answers an error is the
 * stateful path's). On the worker thread that received req. */
int sipr_proxy_stateless(sipr_proxy_t *p, sipr_msg_t *req,
                         const sipr_tp_src_t *src);

/* A request that created server transaction st (borrowed for the call). */
void sipr_proxy_on_request(sipr_proxy_t *p, sipr_txn_t *st, sipr_msg_t *req,
                           const sipr_tp_src_t *src);
/* Client-transaction events and server-transaction termination: each is a
 * no-op for transactions that are not the proxy's. */
void sipr_proxy_on_response(sipr_proxy_t *p, sipr_txn_t *ct, sipr_msg_t *resp);
void sipr_proxy_on_timeout(sipr_proxy_t *p, sipr_txn_t *t);
void sipr_proxy_on_transport_error(sipr_proxy_t *p, sipr_txn_t *t);
void sipr_proxy_txn_terminated(sipr_proxy_t *p, sipr_txn_t *t);
/* An ACK that matched no transaction (ACK for 2xx): forwarded end to end
 * by its Route / Request-URI when it follows our Route; else dropped. */
void sipr_proxy_on_stray_ack(sipr_proxy_t *p, sipr_msg_t *ack,
                             const sipr_tp_src_t *src);
/* A response that matched no client transaction (e.g. a 2xx retransmitted
 * after ours ended): forwarded statelessly by its next Via. */
void sipr_proxy_on_stray_response(sipr_proxy_t *p, sipr_msg_t *resp,
                                  const sipr_tp_src_t *src);

typedef struct sipr_proxy_stats {
  uint64_t requests;    /* requests handled (CANCEL included) */
  uint64_t forwarded;   /* client transactions started */
  uint64_t responses[7];/* final responses sent upstream, by class */
  uint64_t relayed_stateless; /* ACKs and responses forwarded statelessly */
  uint64_t active;      /* requests in progress now */
} sipr_proxy_stats_t;
void sipr_proxy_get_stats(const sipr_proxy_t *p, sipr_proxy_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
