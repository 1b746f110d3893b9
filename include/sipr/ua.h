/*
 * User-agent core (RFC 3261 §8, §9, §10.2, §12-§15; RFC 3428; RFC 3264 as
 * far as a call needs): the UAC and UAS halves of a SIP endpoint on one
 * loop, one transport and one transaction layer.
 *
 * A sipr_ua_t owns its transaction layer. It sends through a
 * sipr_txn_tp_ops_t table (the transport's in `sipr_ua_open()`, a fake in
 * unit tests) and is fed received messages with sipr_ua_recv(). What it
 * has to tell its user (responses, incoming calls and MESSAGEs, call state
 * changes, registration results) arrives through one event callback.
 *
 * Objects:
 *  - sipr_ua_req_t: a non-INVITE request outside a dialog (OPTIONS,
 *    MESSAGE, ...), with digest answers (§22.2, once per challenge) and,
 *    when asked, recursion on 3xx (§8.1.3.4). Freed by the UA after its
 *    final event.
 *  - sipr_ua_reg_t: a registration (§10.2), refreshed before it expires,
 *    removed (Expires: 0) by sipr_ua_reg_remove().
 *  - sipr_call_t: an INVITE session, UAC or UAS, with its dialogs
 *    (sipr_dlg_t, §12). Freed by the UA after SIPR_UA_EV_CALL_GONE.
 *
 * Requests outside a dialog are taken when their Request-URI names us
 * (§8.2.2.1): its host and port are our Contact's, the address the
 * request arrived on (any local address when bound to a wildcard), or
 * the AOR's; its user part is the AOR's, the Contact's, none, or any
 * with cfg.any_user. Anything else is answered 404 (416 for a scheme
 * other than sip/sips). The To header field is not checked (a UAS SHOULD
 * accept a request whose To is not its identity); within a dialog, the
 * To tag must name one of ours, else 481 (§12.2.2). A response with more
 * than one Via value is discarded (§8.1.3.3).
 *
 * Limits: numeric hosts are resolved at once; a hostname goes through
 * getaddrinfo() (blocking; the resolver layer will replace it). No PRACK
 * (RFC 3262), no session timers, no SIPS.
 *
 * Threads: everything runs on the loop's thread.
 */
#define SIPR_HEADER_LAYER 8
#include "sipr/layer.h"

#ifndef SIPR_UA_H
#define SIPR_UA_H

#include "sipr/base.h"
#include "sipr/event.h"
#include "sipr/msg.h"
#include "sipr/transport.h"
#include "sipr/txn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sipr_ua sipr_ua_t;
typedef struct sipr_ua_req sipr_ua_req_t;
typedef struct sipr_ua_reg sipr_ua_reg_t;
typedef struct sipr_call sipr_call_t;
typedef struct sipr_dlg sipr_dlg_t;

/* ---- configuration ------------------------------------------------------ */
typedef struct sipr_ua_cfg {
  const char *from;      /* our AOR, "sip:alice@example.com" (required) */
  const char *display;   /* display name for From, or NULL */
  const char *host;      /* address written in Via and Contact (required) */
  int port;              /* its port */
  sipr_tp_proto_t proto; /* default transport (UDP) */
  const char *contact;   /* Contact URI; NULL: sip:USER@host:port */
  const char *proxy;     /* outbound proxy URI or NULL (§8.1.2) */
  const char *user;      /* digest username; NULL: no credentials */
  const char *password;
  const char *user_agent; /* User-Agent / Server value, NULL: "sipr" */
  int follow_redirects;   /* §8.1.3.4: retry 3xx Contacts by q, for
                             INVITE and sipr_ua_request() alike */
  int any_user;           /* §8.2.2.1: take requests for any user part
                              at our address (a UA with no identity of
                              its own); else the Request-URI's user must
                              be the AOR's or the Contact's (or none) */
  sipr_txn_cfg_t txn;     /* timers (T1, T2, ...) for the layer */
} sipr_ua_cfg_t;

/* Fills txn with sipr_txn_cfg_default() and proto with UDP; the rest 0. */
void sipr_ua_cfg_default(sipr_ua_cfg_t *cfg);

/* ---- events ------------------------------------------------------------- */
typedef enum sipr_ua_ev_type {
  SIPR_UA_EV_RESPONSE = 1, /* req: a response (1xx..6xx); msg NULL for a
                              local failure: 408 timeout, 503 transport,
                              400 for a request that could not be built or
                              sent (reason says what) */
  SIPR_UA_EV_REG,          /* reg: a final response to a REGISTER (2xx:
                              msg lists the bindings); msg NULL as above */
  SIPR_UA_EV_MESSAGE,      /* a MESSAGE received (answered 200, RFC 3428) */
  SIPR_UA_EV_INCOMING,     /* call: a new INVITE (UAS); ring, answer or
                              reject it (now or later) */
  SIPR_UA_EV_PROGRESS,     /* call (UAC): a provisional response, or a
                              3xx being followed (follow_redirects) */
  SIPR_UA_EV_ANSWERED,     /* call: 2xx received and ACKed (UAC), or ACK
                              received for our 2xx (UAS) */
  SIPR_UA_EV_FAILED,       /* call: a final non-2xx (status), or 408/503
                              (msg NULL); for the UAS, cancelled (487) */
  SIPR_UA_EV_FORK_BYE,     /* call (UAC): an extra 2xx of a fork (other To
                              tag): ACKed, then BYE sent (§13.2.2.4) */
  SIPR_UA_EV_REINVITE,     /* call: a re-INVITE of ours got its final
                              response (status), or we answered the peer's */
  SIPR_UA_EV_ENDED,        /* call: BYE received, or our BYE answered (or
                              timed out); status: 200, or the BYE's status;
                              for an unacknowledged 2xx (§13.3.1.4): 408 */
  SIPR_UA_EV_GONE          /* call: freed after this event */
} sipr_ua_ev_type_t;

typedef struct sipr_ua_ev {
  sipr_ua_ev_type_t type;
  unsigned status;    /* the response's, or what stands for it */
  const char *reason; /* reason phrase or what failed; never NULL */
  sipr_msg_t *msg;    /* the message, borrowed for the call; or NULL */
  sipr_ua_req_t *req;
  sipr_ua_reg_t *reg;
  sipr_call_t *call;
  void *arg; /* the arg given when the object was made */
} sipr_ua_ev_t;

typedef void sipr_ua_event_cb(void *user, const sipr_ua_ev_t *ev);

/* ---- the UA ------------------------------------------------------------- */
/* Creates a UA on loop, sending through tp/tp_ctx (copied). Strings of cfg
 * are copied. NULL on failure (a bad from/proxy/contact URI, no memory);
 * err (may be NULL, cap bytes) then says why. */
sipr_ua_t *sipr_ua_new(sipr_loop_t *loop, const sipr_ua_cfg_t *cfg,
                       const sipr_txn_tp_ops_t *tp, void *tp_ctx,
                       sipr_ua_event_cb *cb, void *user, char *err, size_t cap);
/* Frees every request, call, registration (no events, nothing sent) and
 * the transaction layer. Not from a callback. */
void sipr_ua_free(sipr_ua_t *ua);

/* A UA with its own transport bound to local (port 0: ephemeral; UDP and
 * TCP on the same port). Via and Contact name the bound address and port
 * (cfg->port is set to it); when local is a wildcard (0.0.0.0, ::) they
 * name cfg->host instead, which must then be given. sipr_ua_free() closes
 * the transport too. */
sipr_ua_t *sipr_ua_open(sipr_loop_t *loop, sipr_ua_cfg_t *cfg,
                        const sipr_tp_addr_t *local, sipr_ua_event_cb *cb,
                        void *user, char *err, size_t cap);

/* A received message (the transport's recv callback). */
void sipr_ua_recv(sipr_ua_t *ua, sipr_msg_t *msg, const sipr_tp_src_t *src);
/* A stream connection closed (the transport's conn_closed callback). */
void sipr_ua_conn_closed(sipr_ua_t *ua, uint64_t conn_id);

sipr_txn_layer_t *sipr_ua_txn(sipr_ua_t *ua);
sipr_loop_t *sipr_ua_loop(sipr_ua_t *ua);
/* Live requests + calls + registrations with a request in flight. */
unsigned sipr_ua_busy(const sipr_ua_t *ua);

/* ---- requests outside a dialog (§8.1) ----------------------------------- */
typedef struct sipr_ua_req_opts {
  const char *method; /* "OPTIONS", "MESSAGE", ... (not INVITE/ACK) */
  const char *ruri;   /* Request-URI (required) */
  const char *to;     /* To URI; NULL: the Request-URI */
  const char *extra;  /* extra header lines "Name: v\r\n", or NULL */
  const char *ctype;  /* Content-Type of body, NULL: no body */
  const char *body;
  size_t body_len;
  int follow_redirects; /* §8.1.3.4: retry 3xx Contacts by q (also
                           when the UA's cfg asks for it) */
} sipr_ua_req_opts_t;

/* Sends a request; events SIPR_UA_EV_RESPONSE follow with arg. 0 and *out
 * (may be NULL), or SIPR_EINVAL (bad URI; err says which), SIPR_EIO (the
 * first send failed) and no event fires. */
int sipr_ua_request(sipr_ua_t *ua, const sipr_ua_req_opts_t *o, void *arg,
                    sipr_ua_req_t **out, char *err, size_t cap);
/* The Call-ID of a request (for logs). */
const char *sipr_ua_req_call_id(const sipr_ua_req_t *r);

/* ---- registration (§10.2) ----------------------------------------------- */
/* Registers cfg.contact (or the UA's Contact) for aor at registrar (NULL:
 * sip:DOMAIN of the AOR) for expires seconds. With refresh, the binding
 * is refreshed before it expires (§10.2.4: at half the granted time, at
 * most 30 s before it ends) until sipr_ua_reg_remove(). 423 is retried
 * once with Min-Expires (§10.2.8). Events SIPR_UA_EV_REG with arg. */
int sipr_ua_register(sipr_ua_t *ua, const char *aor, const char *registrar,
                     unsigned expires, int refresh, void *arg,
                     sipr_ua_reg_t **out, char *err, size_t cap);
/* Sends the same REGISTER with Expires: 0 (and stops refreshing); one
 * more SIPR_UA_EV_REG follows. Returns 0 or a SIPR_E* code. */
int sipr_ua_reg_remove(sipr_ua_reg_t *g);
/* The expiry the registrar granted us, in seconds (0 before a 2xx). */
unsigned sipr_ua_reg_expires(const sipr_ua_reg_t *g);
/* Frees a registration (no event, nothing sent). */
void sipr_ua_reg_free(sipr_ua_reg_t *g);

/* ---- calls (§13-§15, §9) ------------------------------------------------ */
/* Places a call: INVITE to ruri with sdp (NULL: none) as offer. Events
 * PROGRESS, ANSWERED or FAILED, then ENDED and GONE. 0 and *out, or an
 * error as sipr_ua_request(). */
int sipr_ua_call(sipr_ua_t *ua, const char *ruri, const char *sdp, void *arg,
                 sipr_call_t **out, char *err, size_t cap);
/* UAC: CANCEL (§9.1) now when a provisional came, else as soon as one
 * does; a 2xx that still arrives is ACKed and BYEd. */
int sipr_call_cancel(sipr_call_t *c);
/* Ends a call: BYE when confirmed (§15.1.1), CANCEL when early (UAC),
 * 480 before an answer (UAS). */
int sipr_call_hangup(sipr_call_t *c);
/* UAS: 180 Ringing with a To tag (an early dialog, §12.1.1). */
int sipr_call_ring(sipr_call_t *c);
/* UAS: 200 with sdp as answer and our Contact; retransmitted (T1 doubling
 * to T2) until the ACK (§13.3.1.4). */
int sipr_call_answer(sipr_call_t *c, const char *sdp);
/* UAS: a final non-2xx (300-699). */
int sipr_call_reject(sipr_call_t *c, unsigned status);
/* A re-INVITE (§14.1) with sdp in the confirmed dialog; 491 is retried
 * after the §14.1 random time. SIPR_EINVAL while one is pending. */
int sipr_call_reinvite(sipr_call_t *c, const char *sdp);
/* The call's confirmed (else first early) dialog, or NULL. */
sipr_dlg_t *sipr_call_dialog(const sipr_call_t *c);
int sipr_call_is_uac(const sipr_call_t *c);
/* The remote party's SDP (the answer, or the offer for a UAS), or NULL. */
const char *sipr_call_remote_sdp(const sipr_call_t *c);
const char *sipr_call_id(const sipr_call_t *c);

/* ---- dialogs (§12) ------------------------------------------------------ */
const char *sipr_dlg_call_id(const sipr_dlg_t *d);
const char *sipr_dlg_local_tag(const sipr_dlg_t *d);
const char *sipr_dlg_remote_tag(const sipr_dlg_t *d);
const char *sipr_dlg_remote_target(const sipr_dlg_t *d);
/* The route set, one "<uri>" per entry, in the order requests use it. */
unsigned sipr_dlg_route_count(const sipr_dlg_t *d);
const char *sipr_dlg_route(const sipr_dlg_t *d, unsigned i);
uint32_t sipr_dlg_local_cseq(const sipr_dlg_t *d);
uint32_t sipr_dlg_remote_cseq(const sipr_dlg_t *d); /* 0: empty */
int sipr_dlg_early(const sipr_dlg_t *d);

/* ---- SDP (RFC 4566, RFC 3264) -------------------------------------------- */
/* An audio offer/answer for host (IPv4 or IPv6 literal) and port: PCMU,
 * PCMA and telephone-event. Appends to b; 0 or SIPR_ENOMEM. */
int sipr_sdp_build(sipr_buf_t *b, const char *host, int port,
                   uint64_t session_id, uint64_t version);

typedef struct sipr_sdp_media {
  sipr_str_t media; /* "audio" */
  int port;
  sipr_str_t proto;   /* "RTP/AVP" */
  sipr_str_t formats; /* "0 8 101" */
  sipr_str_t conn;    /* the media-level c= address, or the session's */
} sipr_sdp_media_t;

#define SIPR_SDP_MAX_MEDIA 8
typedef struct sipr_sdp {
  sipr_str_t conn; /* session-level c= address (NULL slice: none) */
  sipr_sdp_media_t m[SIPR_SDP_MAX_MEDIA];
  unsigned nm;
} sipr_sdp_t;

/* Reads the c= and m= lines of body (slices into it). 0, or SIPR_EPARSE
 * when there is no v= line, a m= line does not parse, or a media stream
 * has no connection address. */
int sipr_sdp_parse(sipr_str_t body, sipr_sdp_t *out);

#ifdef __cplusplus
}
#endif
#endif
