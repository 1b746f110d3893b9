/*
 * Transaction layer internals: the layer and transaction structs shared by
 * txn.c (table, matching, memory) and the four state machines (ict.c,
 * nict.c, ist.c, nist.c). Not installed.
 */
#ifndef SIPR_TXN_INTERNAL_H
#define SIPR_TXN_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "sipr/txn.h"

#define SIPR_TXN_COOKIE "z9hG4bK"
#define SIPR_TXN_COOKIE_LEN 7

typedef struct sipr_txn_bucket {
  pthread_mutex_t mu;
  sipr_txn_t *head;
} sipr_txn_bucket_t;

/* mem.c: the layer's transaction memory (size-classed free lists). */
#define SIPR__TXN_MEM_CLASSES 16 /* 256-byte classes up to 4 KiB */
typedef struct sipr__txn_mem {
  void *free[SIPR__TXN_MEM_CLASSES];
  char *cur;     /* unused tail of the newest chunk */
  size_t left;
  void *chunks;  /* list of mapped chunks */
  size_t mapped; /* bytes mapped */
  size_t nchunks, empty; /* chunks mapped; of them, with no block in use */
} sipr__txn_mem_t;
void *sipr__txn_mem_get(sipr__txn_mem_t *m, size_t size);
void sipr__txn_mem_put(sipr__txn_mem_t *m, void *p);
void sipr__txn_mem_release(sipr__txn_mem_t *m);

struct sipr_txn_layer {
  sipr_loop_t *loop;
  sipr_txn_cfg_t cfg;
  sipr_txn_tp_ops_t tp;
  void *tp_ctx;
  sipr_txn_user_ops_t user;
  void *user_ctx;
  sipr__txn_mem_t mem;              /* loop thread only */
  sipr_txn_stateless_cb *stateless; /* optional, §8.2.7 */
  void *stateless_ctx;
  sipr_txn_bucket_t *buckets;
  unsigned mask;            /* buckets - 1 */
  atomic_uint count;        /* live transactions */
  atomic_uint_fast64_t rnd; /* branch generator state (splitmix64) */
  uint64_t hash_seed;       /* seeds the server-side bucket hash */
  sipr_txn_stats_t stats;
};

/* The timers of each machine, named as in RFC 3261 Table 4 / RFC 6026. */
typedef struct sipr_ict_timers {
  sipr_timer_t timer_a, timer_b, timer_d, timer_m;
  uint64_t a_interval; /* next Timer A value: T1, 2*T1, 4*T1, ... */
} sipr_ict_timers_t;

typedef struct sipr_nict_timers {
  sipr_timer_t timer_e, timer_f, timer_k;
  uint64_t e_interval; /* next Timer E value, capped at T2 */
} sipr_nict_timers_t;

typedef struct sipr_ist_timers {
  sipr_timer_t timer_g, timer_h, timer_i, timer_l;
  sipr_timer_t timer_trying; /* the 200 ms 100 (Trying) of §17.2.1 */
  uint64_t g_interval;       /* next Timer G value, capped at T2 */
} sipr_ist_timers_t;

typedef struct sipr_nist_timers {
  sipr_timer_t timer_j;
} sipr_nist_timers_t;

/* Matching keys. Every slice points into the transaction's own
 * allocation (never into a received message). */
typedef struct sipr_txn_keys {
  sipr_str_t branch;    /* top Via branch as written */
  int cookie;           /* branch starts with the magic cookie */
  sipr_method_t method; /* method of the request that created it */
  sipr_str_t method_str;
  uint32_t cseq; /* CSeq number */
  /* server side: sent-by of the top Via, and the RFC 2543 keys */
  sipr_str_t host, transport;
  int port; /* absent: the transport's default port */
  sipr_str_t call_id, from_tag, to_tag, ruri;
} sipr_txn_keys_t;

struct sipr_txn {
  sipr_txn_layer_t *layer;
  sipr_txn_t *next; /* bucket chain */
  unsigned bucket;
  unsigned linked : 1;    /* in the table */
  unsigned reliable : 1;  /* stream transport: no A/E/G, D/I/J/K = 0 */
  unsigned got_1xx : 1;   /* ICT: a provisional arrived (CANCEL allowed) */
  unsigned resp_sent : 1; /* IST: the TU (or we) sent a response */
  unsigned abandoned : 1; /* ICT: sipr_txn_abandon(), ends at Timer B */
  sipr_txn_kind_t kind;
  sipr_txn_state_t state;
  void *owner;
  sipr_txn_keys_t k;

  /* The request, as bytes (own copy, NUL-terminated). */
  char *req;
  size_t req_len;
  /* Client: where it goes. */
  sipr_tp_addr_t dest;
  uint64_t conn_id;
  /* Server: where it came from, and a deep copy of its top Via. */
  sipr_tp_src_t src;
  sipr_via_t *via;

  /* Last response sent (server) as bytes, own heap copy; its To tag (a
   * slice into it) for matching RFC 2543 ACKs. */
  char *resp;
  size_t resp_len;
  unsigned resp_status;
  sipr_str_t resp_to_tag;
  /* ICT: the ACK for the non-2xx final response (§17.1.1.3). */
  char *ack;
  size_t ack_len;

  union {
    sipr_ict_timers_t ict;
    sipr_nict_timers_t nict;
    sipr_ist_timers_t ist;
    sipr_nist_timers_t nist;
  } u;
};

static inline int sipr__txn_is_server(const sipr_txn_t *t) {
  return t->kind == SIPR_TXN_IST || t->kind == SIPR_TXN_NIST;
}

/* ---- matching (match.c) ---- */
/* What matching needs from a received request (slices into it). */
typedef struct sipr_txn_reqkey {
  sipr_via_t *via; /* top Via */
  int cookie;      /* its branch starts with the magic cookie */
  sipr_str_t branch;
  int port; /* sent-by port; absent: the transport's default */
  uint32_t cseq;
  sipr_str_t call_id, from_tag, to_tag;
} sipr_txn_reqkey_t;

uint64_t sipr__txn_mix64(uint64_t z);
/* Whether branch begins with "z9hG4bK" (case-insensitive). */
int sipr__txn_has_cookie(sipr_str_t branch);
/* The bucket written in one of our branches; -1 when it is not ours. */
long sipr__txn_branch_bucket(const sipr_txn_layer_t *l, sipr_str_t branch);
/* Whether a method (id + text) is the one of keys k. */
int sipr__txn_method_eq(const sipr_txn_keys_t *k, sipr_method_t id,
                        sipr_str_t text);
/* Fills k from request m; -1 when m lacks what matching needs. */
int sipr__txn_request_key(sipr_msg_t *m, sipr_txn_reqkey_t *k);
/* The bucket of a server transaction for k. */
unsigned sipr__txn_server_bucket(const sipr_txn_layer_t *l,
                                 const sipr_txn_reqkey_t *k);
/* §17.2.3: the server transaction of method in bucket that request m
 * (keys k) matches; ack: m is an ACK (RFC 2543 To-tag rule). The caller
 * holds the bucket's lock. */
sipr_txn_t *sipr__txn_server_find_locked(sipr_txn_layer_t *l, unsigned bucket,
                                         const sipr_txn_reqkey_t *k,
                                         sipr_msg_t *m, sipr_method_t method,
                                         sipr_str_t mtext, int ack);
/* §17.1.3: the client transaction of branch and CSeq method, or NULL. */
sipr_txn_t *sipr__txn_client_find(sipr_txn_layer_t *l, sipr_str_t branch,
                                  const sipr_cseq_t *cs);

/* ---- services of txn.c for the machines ---- */
/* Sends the request bytes (client) to t->dest. 0 or the tp's error. */
int sipr__txn_send_request(sipr_txn_t *t, const char *buf, size_t len);
/* Sends buf as a response on the server transaction's path. */
int sipr__txn_send_response(sipr_txn_t *t, const char *buf, size_t len);
/* Copies buf as the last response; status and To tag (parsed m, may be
 * NULL) kept. 0 or SIPR_ENOMEM. */
int sipr__txn_keep_response(sipr_txn_t *t, const char *buf, size_t len,
                            unsigned status, sipr_msg_t *m);
/* Informs the TU of a transport error (§17.1.4, §17.2.4). */
void sipr__txn_transport_error(sipr_txn_t *t);
/* Informs the TU of a timeout (Timer B, F, H). */
void sipr__txn_timeout(sipr_txn_t *t);
/* Enters the Terminated state: stops the timers, unlinks, calls the
 * terminated callback, frees. t is gone when this returns. */
void sipr__txn_terminate(sipr_txn_t *t);
/* Parses the transaction's own request copy into a (scratch arena). */
sipr_msg_t *sipr__txn_parse_request(sipr_txn_t *t, sipr_arena_t *a);

static inline uint64_t sipr__txn_t1(const sipr_txn_t *t) {
  return t->layer->cfg.t1;
}
static inline uint64_t sipr__txn_t2(const sipr_txn_t *t) {
  return t->layer->cfg.t2;
}
static inline uint64_t sipr__txn_t4(const sipr_txn_t *t) {
  return t->layer->cfg.t4;
}
static inline sipr_loop_t *sipr__txn_loop(const sipr_txn_t *t) {
  return t->layer->loop;
}
/* Arms timer tm of t for ms. */
static inline void sipr__txn_arm(sipr_txn_t *t, sipr_timer_t *tm, uint64_t ms) {
  sipr_timer_start(t->layer->loop, tm, ms);
}
static inline void sipr__txn_disarm(sipr_txn_t *t, sipr_timer_t *tm) {
  sipr_timer_stop(t->layer->loop, tm);
}

/* ---- the machines ---- */
/* ICT (ict.c), §17.1.1 + RFC 6026 §8.4. */
void sipr__ict_init(sipr_txn_t *t);
int sipr__ict_start(sipr_txn_t *t);
void sipr__ict_recv_response(sipr_txn_t *t, sipr_msg_t *resp);
void sipr__ict_stop_timers(sipr_txn_t *t);

/* NICT (nict.c), §17.1.2. */
void sipr__nict_init(sipr_txn_t *t);
int sipr__nict_start(sipr_txn_t *t);
void sipr__nict_recv_response(sipr_txn_t *t, sipr_msg_t *resp);
void sipr__nict_stop_timers(sipr_txn_t *t);

/* IST (ist.c), §17.2.1 + RFC 6026 §8.5-8.7. */
void sipr__ist_init(sipr_txn_t *t);
void sipr__ist_start(sipr_txn_t *t, sipr_msg_t *req, const sipr_tp_src_t *src);
void sipr__ist_recv_request(sipr_txn_t *t, sipr_msg_t *req,
                            const sipr_tp_src_t *src);
int sipr__ist_respond(sipr_txn_t *t, const char *buf, size_t len,
                      sipr_msg_t *resp);
void sipr__ist_stop_timers(sipr_txn_t *t);

/* NIST (nist.c), §17.2.2. */
void sipr__nist_init(sipr_txn_t *t);
void sipr__nist_start(sipr_txn_t *t, sipr_msg_t *req, const sipr_tp_src_t *src);
void sipr__nist_recv_request(sipr_txn_t *t, sipr_msg_t *req,
                             const sipr_tp_src_t *src);
int sipr__nist_respond(sipr_txn_t *t, const char *buf, size_t len,
                       sipr_msg_t *resp);
void sipr__nist_stop_timers(sipr_txn_t *t);

#endif
