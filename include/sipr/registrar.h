/*
 * Registrar (RFC 3261 §10.3, RFC 3327 Path, RFC 5626 instance/reg-id kept)
 * and the UAS core for requests addressed to the server itself (§8.2,
 * OPTIONS §11, 405/501, 420, stray ACK, CANCEL).
 *
 * The server wires it as its transaction user: for each request that
 * creates a server transaction it calls sipr_registrar_on_request(), which
 * answers through sipr_txn_respond(), at once or (REGISTER that changes
 * or reads bindings) later, from the store's completion: the 200 OK goes
 * out only once the change is durable (§10.3 step 7: committed if and only
 * if every update succeeds; a failed commit answers 500 and changes
 * nothing).
 *
 * What a REGISTER goes through, in the RFC's order:
 *   §8.2.1  method (REGISTER, OPTIONS, CANCEL handled; ACK absorbed;
 *           other known methods 405 + Allow; unknown ones 501 + Allow)
 *   step 1  Request-URI domain: a configured domain or the address the
 *           request arrived on; else 404 (no proxying yet)
 *   step 2  Require: 420 + Unsupported for anything but "path"
 *   RFC 3327 Path without "Supported: path": 420 + Unsupported: path
 *   step 5' To must be a sip/sips URI (400, RFC 4475 unksm2) in one of
 *           our domains (404)
 *   step 3  auth on: unknown user 404; no/invalid credentials 401 with
 *           fresh challenges (stale=true for an expired nonce)
 *   step 4  the authenticated user must be the To AOR's user: 403
 *   step 6  Contact "*": alone, with Expires: 0 (else 400); a binding
 *           with the same Call-ID and a CSeq not lower fails it (500,
 *           nothing removed)
 *   step 7  every Contact validated first (400 and nothing changes); 423
 *           with Min-Expires for 0 < expires < min (and < 3600); expires
 *           above max are clamped; Call-ID/CSeq ordering per binding: an
 *           update with the same Call-ID and a CSeq not higher than the
 *           binding's fails the whole request with 500 ("Out of Order")
 *           and changes nothing
 *   step 8  200 with every current binding as Contact;expires=remaining
 *           (q, +sip.instance, reg-id kept), Date, and Path when given.
 *
 * Threads: one registrar serves every worker. sipr_registrar_on_request()
 * may be called concurrently from any worker thread; a deferred answer is
 * sent on the thread that called it (the store's completion is brought
 * back to that thread's loop, see sipr_registrar_attach_loop()).
 */
#define SIPR_HEADER_LAYER 8
#include "sipr/layer.h"

#ifndef SIPR_REGISTRAR_H
#define SIPR_REGISTRAR_H

#include "sipr/auth.h"
#include "sipr/base.h"
#include "sipr/event.h"
#include "sipr/msg.h"
#include "sipr/store.h"
#include "sipr/transport.h"
#include "sipr/txn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What Allow and Supported list in our responses. */
#define SIPR_REGISTRAR_ALLOW "REGISTER, OPTIONS, ACK, CANCEL"
#define SIPR_REGISTRAR_SUPPORTED "path"

typedef struct sipr_registrar sipr_registrar_t;

/* Bindings are stored under the AOR "sip:user@host" (sips To URIs too):
 * the user part with its escapes decoded, the host lower-cased, no port
 * and no parameters (§10.3 step 5). Credentials are looked up with
 * sipr_store_cred_get(username, realm, algorithm), username as the client
 * wrote it in its Authorization; it must be the To URI's user, or
 * "user@host". */
typedef struct sipr_registrar_cfg {
  /* Domains served (copied): "example.com", "127.0.0.1:5060",
   * "[::1]:5060". A domain written with a port matches only that port.
   * The address a request arrived on (its sipr_tp_src_t local address)
   * counts as ours too, so the server's listen addresses need not be
   * listed; a wildcard listen address (0.0.0.0) should be listed with the
   * host's addresses by the caller. */
  const char *const *domains;
  size_t ndomains;
  uint32_t min_expires;     /* 423 below this (0: none); default 60 */
  uint32_t default_expires; /* neither expires param nor Expires; 3600 */
  uint32_t max_expires;     /* longer requests are clamped; 86400; 0: none */
  unsigned max_contacts;    /* Contacts in one REGISTER / bindings per AOR
                               (cap, 403 past it); default 32 */
  int auth;                 /* 1: REGISTER must authenticate (needs auth) */
  const char *realm;        /* challenge realm (copied); NULL: "sipr" */
  /* Wall clock in seconds for Date and absolute expiry times. NULL: time().
   * Tests give a fake one. */
  int64_t (*wall_now)(void *ctx);
  void *wall_ctx;
  /* Millisecond clock for nonces (sipr_auth_*). NULL: CLOCK_MONOTONIC. */
  const sipr_clock_t *clock;
  /* The loop of the calling worker thread, where deferred answers are
   * posted (e.g. with a stack: sipr_stack_loop(s, sipr_stack_current(s))).
   * NULL: the loop given to sipr_registrar_attach_loop() on this thread. */
  sipr_loop_t *(*current_loop)(void *ctx);
  void *loop_ctx;
} sipr_registrar_cfg_t;

/* Defaults as listed above (no domains, auth off). */
void sipr_registrar_cfg_default(sipr_registrar_cfg_t *cfg);

/* Creates a registrar. cfg is copied. store is borrowed and must outlive
 * the registrar (bindings and, when cfg->auth is on, credentials). auth is
 * borrowed; it may be NULL only when cfg->auth is 0. NULL on failure
 * (out of memory, a domain that does not parse, auth on without a server).
 */
sipr_registrar_t *sipr_registrar_new(const sipr_registrar_cfg_t *cfg,
                                     sipr_store_t *store,
                                     sipr_auth_server_t *auth);

/* Frees the registrar. Every REGISTER still waiting for the store must
 * have completed first (flush the store, then run the loops once), and no
 * worker may be inside sipr_registrar_on_request(). */
void sipr_registrar_free(sipr_registrar_t *r);

/* Tells the registrar which loop runs on the calling thread (when
 * cfg.current_loop is NULL): deferred answers (the store's completion) are
 * posted to it. Call it once on each worker thread, before its first
 * request. A thread with no loop known waits for the store's commit inside
 * sipr_registrar_on_request() (sipr_store_apply_sync(): right, but it
 * blocks that worker; with the memory store it costs nothing). */
void sipr_registrar_attach_loop(sipr_loop_t *loop);

/* Handles one request that created server transaction st (the TU's
 * request callback): every request addressed to the server (REGISTER,
 * OPTIONS, ...). req and src are borrowed for the call; whatever a
 * deferred answer needs is copied. The answer goes out through
 * sipr_txn_respond() on st, now or later on this thread's loop.
 * Until then st's owner (sipr_txn_set_owner()) is the pending request:
 * the server must call sipr_registrar_txn_terminated() from its
 * terminated callback. An ACK (st NULL or method ACK) is absorbed. */
void sipr_registrar_on_request(sipr_registrar_t *r, sipr_txn_t *st,
                               sipr_msg_t *req, const sipr_tp_src_t *src);

/* The stack's stateless hook (sipr_txn_user_ops_t.stateless, §8.2.7):
 * an OPTIONS addressed to the server itself (no user part, our domain or
 * Max-Forwards 0, no To tag, no Require) is answered 200 at once with a
 * To tag derived from the request, through sipr_txn_send_stateless(), and
 * returns 1: no transaction is made. Anything else returns 0. */
int sipr_registrar_stateless(sipr_registrar_t *r, sipr_txn_layer_t *l,
                             sipr_msg_t *req, const sipr_tp_src_t *src);

/* The server's terminated callback for a server transaction: when a
 * REGISTER is still pending on st, its answer is dropped instead of
 * touching a freed st. Safe for any transaction (a no-op for those that
 * are not ours). Call it on st's thread. Note: sipr_txn_layer_free() calls
 * no callbacks, so at shutdown flush the store (sipr_store_flush()) and run
 * each loop once before freeing the transaction layers. */
void sipr_registrar_txn_terminated(sipr_registrar_t *r, sipr_txn_t *st);

/* Counters, safe to read from any thread. */
typedef struct sipr_registrar_stats {
  uint64_t requests;         /* requests handled (ACK included) */
  uint64_t responses[7];     /* by class: [2] 2xx ... [6] 6xx */
  uint64_t registers_ok;     /* REGISTER answered 200 */
  uint64_t pending;          /* REGISTERs waiting for the store now */
} sipr_registrar_stats_t;
void sipr_registrar_get_stats(const sipr_registrar_t *r,
                              sipr_registrar_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
