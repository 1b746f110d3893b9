/* Transaction layer tests: a fake clock, a fake transport that records
 * every send with its fake-clock time, and a TU that records every
 * callback. main.c runs every group. */
#ifndef SIPR_TEST_TXN_H
#define SIPR_TEST_TXN_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sipr/txn.h"

#define T0 100000 /* fake-clock start; times below are relative to it */
#define MAX_SENT 512
#define MAX_EV 256

typedef struct sent {
  int is_request; /* send_request (1) or send_response (0) */
  uint64_t at;    /* ms since T0 */
  char *buf;      /* NUL-terminated copy */
  size_t len;
  sipr_tp_proto_t proto; /* dest proto (request) or src proto (response) */
  unsigned status;       /* responses: the status code */
} sent_t;

typedef enum ev_type {
  EV_REQUEST = 1,
  EV_RESPONSE,
  EV_TIMEOUT,
  EV_TPERR,
  EV_TERMINATED,
  EV_STRAY_ACK,
  EV_STRAY_RESPONSE
} ev_type_t;

typedef struct ev {
  ev_type_t type;
  sipr_txn_t *t;        /* may be gone: compare, never dereference */
  unsigned status;      /* responses */
  sipr_method_t method; /* requests */
  uint64_t at;
  sipr_txn_state_t state; /* the transaction's state at the callback */
  char to_tag[64];        /* responses: the To tag */
} ev_t;

typedef struct fx {
  sipr_fake_clock_t fc;
  sipr_loop_t *loop;
  sipr_txn_layer_t *l;
  sipr_txn_cfg_t cfg;
  sent_t sent[MAX_SENT];
  unsigned nsent;
  int fail_sends; /* the next N sends fail with SIPR_EIO */
  int fail_from;  /* 0, or the send index from which sends fail */
  ev_t ev[MAX_EV];
  unsigned nev;
  sipr_txn_t *st;  /* last server transaction given to the TU */
  unsigned answer; /* status the TU answers with from the request
                      callback (0: none) */
} fx_t;

extern fx_t fx;

/* Fixture: fx_setup() with the default configuration; fx_setup_cfg()
 * after changing fx.cfg (call fx_cfg_default() first). */
int fx_setup(void **state);
void fx_cfg_default(void);
int fx_start(void);
int fx_teardown(void **state);

uint64_t fx_now(void);
void fx_advance(uint64_t ms);    /* by ms */
void fx_advance_to(uint64_t at); /* to T0 + at */

/* Feeds message text to the layer as received over proto. */
void fx_feed(const char *text, sipr_tp_proto_t proto);
/* Starts a client transaction for text sent over proto; asserts success. */
sipr_txn_t *fx_client(const char *text, sipr_tp_proto_t proto);
int fx_client_rc(const char *text, sipr_tp_proto_t proto, sipr_txn_t **out);
/* Answers server transaction st with status (built from its request by
 * sipr_print_response, To tag "uas-tag" unless status is 100). */
int fx_respond(sipr_txn_t *st, unsigned status);

/* Counting. */
unsigned fx_count_ev(ev_type_t type);
const ev_t *fx_last_ev(ev_type_t type);
unsigned fx_count_sent(int is_request, unsigned status);

/* Message text builders (static buffers; copy before building another of
 * the same kind). branch is the whole branch value; via NULL gives
 * "SIP/2.0/UDP 192.0.2.10:5060;branch=<branch>". */
typedef struct rq {
  const char *method;      /* "INVITE" */
  const char *ruri;        /* "sip:bob@example.com" */
  const char *via;         /* full Via value, overrides branch */
  const char *branch;      /* branch (NULL: none, for RFC 2543 requests) */
  const char *to_tag;      /* NULL: none */
  const char *from_tag;    /* "1928301774" */
  const char *call_id;     /* "a84b4c76e66710@pc33.example.com" */
  unsigned cseq;           /* 314159 */
  const char *cseq_method; /* method */
  const char *extra;       /* extra header lines ("Name: v\r\n") */
} rq_t;
const char *mkreq(const rq_t *r);
const char *mkresp(unsigned status, const char *branch, const char *method,
                   const char *to_tag);

/* Groups. */
int test_ict(void);
int test_nict(void);
int test_ist(void);
int test_nist(void);
int test_match(void);
int test_mem(void);

#endif
