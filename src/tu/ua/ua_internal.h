/* Internals of the UA core (include/sipr/ua.h) shared by its files. */
#ifndef SIPR_UA_INTERNAL_H
#define SIPR_UA_INTERNAL_H

#include "sipr/print.h"
#include "sipr/ua.h"

#define UA_TAG_LEN 16
#define UA_MAX_ROUTES 16
#define UA_MAX_DLGS 8

/* Kinds of client request, by who owns it. */
typedef enum ua_creq_kind {
  CREQ_PLAIN = 1, /* sipr_ua_request() */
  CREQ_REG,       /* a registration's REGISTER */
  CREQ_INVITE,    /* a call's INVITE (initial or re-INVITE) */
  CREQ_DLG,       /* an in-dialog non-INVITE (BYE) */
  CREQ_CANCEL     /* a CANCEL (§9.1) */
} ua_creq_kind_t;

/* A cached challenge: the header value, re-parsed at each use, and the
 * nonce-count of the requests made with its nonce (RFC 7616 §3.4). */
typedef struct ua_auth {
  char *value;
  sipr_hdr_type_t type; /* WWW- or Proxy-Authenticate */
  uint32_t nc;
  char *nonce;
} ua_auth_t;

/* A client request: everything needed to send it again with a higher
 * CSeq (auth retry, refresh, 491 retry, redirect). */
typedef struct ua_creq {
  sipr_ua_t *ua;
  struct ua_creq *next;
  ua_creq_kind_t kind;
  char method[24];
  char *ruri; /* Request-URI */
  char *to;   /* whole To value (with tag in a dialog) */
  char *from; /* whole From value with tag */
  char *call_id;
  uint32_t cseq;
  char *routes; /* "Route: ...\r\n" lines, or NULL */
  char *extra;  /* extra header lines */
  char *ctype, *body;
  size_t body_len;
  sipr_tp_addr_t dest;
  char branch[48];
  sipr_txn_t *txn;
  char *sent; /* last request text sent */
  size_t sent_len;
  ua_auth_t auth[2];
  char *auth_lines; /* the credentials lines last sent */
  unsigned auth_tries;
  int follow_redirects;
  unsigned redirects;
  void *owner; /* reg or call for CREQ_REG/INVITE/DLG */
  void *arg;
  int done;     /* final response handled */
  int fork_bye; /* a BYE for an extra 2xx of a fork */
} ua_creq_t;

struct sipr_dlg {
  char *call_id, *local_tag, *remote_tag;
  char *local_uri, *remote_uri; /* From/To values without tags */
  char *remote_target;
  char *route[UA_MAX_ROUTES];
  unsigned nroute;
  uint32_t local_cseq, remote_cseq;
  int early, owner; /* owner: we made the Call-ID (§14.1) */
  /* UAC: the ACK sent for this dialog's 2xx, re-sent on retransmissions
   * of that 2xx (§13.2.2.4). */
  char *ack;
  size_t ack_len;
  uint32_t ack_cseq;
  sipr_tp_addr_t ack_dest;
};

typedef enum call_state {
  CALL_CALLING = 1, /* UAC: INVITE sent */
  CALL_EARLY,       /* UAC: 1xx; UAS: INVITE received */
  CALL_ANSWERED,    /* UAS: 2xx sent, waiting for ACK */
  CALL_CONFIRMED,
  CALL_ENDING, /* BYE sent */
  CALL_DONE
} call_state_t;

struct sipr_call {
  sipr_ua_t *ua;
  struct sipr_call *next;
  int uac;
  call_state_t state;
  void *arg;
  char *call_id;
  sipr_dlg_t *dlg[UA_MAX_DLGS]; /* dlg[0]: the confirmed one once any is */
  unsigned ndlg;
  int confirmed_idx; /* -1 until a 2xx */
  char *local_sdp, *remote_sdp;
  /* UAC */
  ua_creq_t *invite; /* the INVITE in progress (initial or re) */
  int cancel_wanted, cancelled, provisional;
  char *ack; /* ACK for the 2xx of the INVITE */
  size_t ack_len;
  sipr_tp_addr_t ack_dest;
  uint32_t invite_cseq;
  /* UAS */
  sipr_txn_t *st; /* the INVITE server transaction */
  char *inv_buf;  /* copy of the INVITE (initial or re) */
  sipr_arena_t inv_arena;
  sipr_msg_t *inv;
  sipr_tp_src_t inv_src;
  char local_tag[UA_TAG_LEN + 1];
  char *ok; /* our 2xx, retransmitted until ACK */
  size_t ok_len;
  uint32_t ok_cseq;
  sipr_timer_t t_2xx; /* §13.3.1.4 retransmission */
  uint64_t t_2xx_start, t_2xx_next;
  /* re-INVITE */
  int reinv_out; /* ours pending */
  int reinv_in;  /* the peer's pending (UAS side) */
  char *reinv_sdp;
  sipr_timer_t t_glare; /* §14.1 retry */
  ua_creq_t *bye;
  int bye_wanted; /* UAS: BYE once the ACK came */
  int no_ack;     /* UAS: 2xx never ACKed (§13.3.1.4) */
  uint64_t sdp_version;
  int gone_pending;
  sipr_timer_t t_gone;
};

struct sipr_ua_reg {
  sipr_ua_t *ua;
  struct sipr_ua_reg *next;
  ua_creq_t *req;   /* the REGISTER template (never freed until reg) */
  unsigned expires; /* asked */
  unsigned granted;
  int refresh, removing, in_flight, retried_423;
  sipr_timer_t t_refresh;
  void *arg;
};

/* §8.2.2.2: a non-INVITE request outside a dialog whose server
 * transaction is alive, for merged-request detection (INVITEs are
 * checked against the calls). */
typedef struct ua_srv_req {
  struct ua_srv_req *next;
  sipr_txn_t *st;
  char *call_id, *from_tag, *method;
  uint32_t cseq;
} ua_srv_req_t;

struct sipr_ua {
  sipr_loop_t *loop;
  sipr_txn_layer_t *txl;
  sipr_txn_tp_ops_t tp;
  void *tp_ctx;
  sipr_tp_t *own_tp;
  void *own_net; /* net.c's glue, freed with the UA */
  sipr_ua_event_cb *cb;
  void *user;
  char *from_uri;   /* AOR */
  char *from_value; /* "Display" <AOR> */
  char *host;       /* Via / Contact host */
  int port;
  sipr_tp_proto_t proto;
  char *contact; /* Contact URI */
  char *proxy;   /* outbound proxy URI */
  char *user_name, *password;
  char *user_agent;
  uint32_t t1, t2;
  int follow_redirects;
  int any_user;  /* cfg.any_user (§8.2.2.1) */
  int local_any; /* bound to a wildcard address (sipr_ua_open) */
  ua_creq_t *reqs;
  ua_srv_req_t *srv_reqs;
  unsigned nsrv_reqs;
  sipr_call_t *calls;
  sipr_ua_reg_t *regs;
  sipr_arena_t scratch;
};

/* ua.c */
char *ua_strdup(const char *s);
char *ua_strndup(const char *p, size_t n);
void ua_new_tag(char out[UA_TAG_LEN + 1]);
uint64_t ua_random(void);
void ua_emit(sipr_ua_t *ua, sipr_ua_ev_t *ev);
/* Resolves the next hop for ruri given routes (first route URI text or
 * NULL) into dest. 0 or SIPR_EINVAL with err. */
int ua_next_hop(sipr_ua_t *ua, const char *first_route, const char *ruri,
                sipr_tp_addr_t *dest, char *err, size_t cap);
ua_creq_t *ua_creq_new(sipr_ua_t *ua, ua_creq_kind_t kind, const char *method);
void ua_creq_free(ua_creq_t *r);
/* From, To, Call-ID, CSeq, proxy Route and dest of a new request outside
 * a dialog. 0 or SIPR_E* with err. */
int ua_creq_prepare(ua_creq_t *r, const char *ruri, const char *to, char *err,
                    size_t cap);
/* Builds and sends r (new branch, r->cseq as is) through a new client
 * transaction. 0 or SIPR_E*. */
int ua_creq_send(ua_creq_t *r);
/* Appends r's text with method m (also the CSeq method) and branch to b. */
int ua_creq_build(ua_creq_t *r, const char *m, const char *branch,
                  sipr_buf_t *b);
/* On a 3xx: resends r to the best Contact not tried (§8.1.3.4) when r
 * follows redirects; 1 when resent. */
int ua_creq_redirect(ua_creq_t *r, sipr_msg_t *resp);
/* On a 401/407: answers the challenge when it is new; 1 when resent. */
int ua_creq_auth_retry(ua_creq_t *r, sipr_msg_t *resp);
/* Answers req on st (§8.2.6): To tag tag (NULL: a fresh one), Server,
 * extra lines, an optional body. ua_build_response() only prints it. */
int ua_respond(sipr_ua_t *ua, sipr_txn_t *st, sipr_msg_t *req, unsigned status,
               const char *reason, const char *tag, const char *extra,
               const char *ctype, const char *body);
int ua_build_response(sipr_ua_t *ua, sipr_buf_t *b, sipr_msg_t *req,
                      unsigned status, const char *reason, const char *tag,
                      const char *extra, const char *ctype, const char *body);
/* "Contact: <uri>\r\n" of the UA. */
void ua_contact_line(sipr_ua_t *ua, sipr_buf_t *b);

/* net.c: 1 when the numeric address a (port ignored) is one of this
 * host's (a socket can be bound to it). */
int ua_addr_is_local(const sipr_tp_addr_t *a);

/* dialog.c */
sipr_dlg_t *ua_dlg_new_uac(sipr_msg_t *resp, const ua_creq_t *inv);
sipr_dlg_t *ua_dlg_new_uas(sipr_msg_t *req, const char *local_tag);
void ua_dlg_free(sipr_dlg_t *d);
/* §12.2.1.2 target refresh from a message's Contact. */
void ua_dlg_refresh_target(sipr_dlg_t *d, sipr_msg_t *m);
/* §12.2.2: 0 accept (remote CSeq updated), 500 when lower. */
unsigned ua_dlg_check_cseq(sipr_dlg_t *d, sipr_msg_t *req);
/* A client request within d (§12.2.1.1) for method, local CSeq bumped
 * (not for ACK/CANCEL). NULL on failure. */
ua_creq_t *ua_dlg_request(sipr_ua_t *ua, sipr_dlg_t *d, ua_creq_kind_t kind,
                          const char *method, char *err, size_t cap);
/* Fills the creq's R-URI, Route lines and dest from d. */
int ua_dlg_fill(sipr_ua_t *ua, sipr_dlg_t *d, ua_creq_t *r, char *err,
                size_t cap);
int ua_dlg_match(const sipr_dlg_t *d, sipr_str_t call_id, sipr_str_t local,
                 sipr_str_t remote);

/* call.c */
void ua_call_response(ua_creq_t *r, sipr_msg_t *resp);
void ua_call_failed(ua_creq_t *r, unsigned status, const char *why);
void ua_call_dlg_response(ua_creq_t *r, unsigned status, sipr_msg_t *resp);
/* Incoming: 1 when the request belonged to a call (answered). */
int ua_call_request(sipr_ua_t *ua, sipr_txn_t *st, sipr_msg_t *req,
                    const sipr_tp_src_t *src);
void ua_call_new_invite(sipr_ua_t *ua, sipr_txn_t *st, sipr_msg_t *req,
                        const sipr_tp_src_t *src);
void ua_call_ack(sipr_ua_t *ua, sipr_msg_t *ack);
void ua_call_stray_2xx(sipr_ua_t *ua, sipr_msg_t *resp);
void ua_call_txn_gone(sipr_ua_t *ua, sipr_txn_t *t);
void ua_call_cancel_in(sipr_ua_t *ua, sipr_txn_t *st, sipr_msg_t *req);
void ua_call_free(sipr_call_t *c);

/* reg.c */
void ua_reg_response(ua_creq_t *r, unsigned status, sipr_msg_t *resp,
                     const char *why);

#endif
