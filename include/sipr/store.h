/*
 * Store layer: the location service (RFC 3261 §10, bindings of an
 * address-of-record to contacts) and the credentials table (stored HA1,
 * RFC 7616/8760), behind one ops table with two backends:
 *
 *   "memory"       nothing persists (tests, benchmarks)
 *   "sqlite:PATH"  embedded, durable (the server's default ./var/sipr.db)
 *
 * Every binding lives in memory (a hash table by AOR plus a heap of AORs
 * ordered by their earliest expiry), so lookups never touch the disk; the
 * sqlite backend loads every row at open, so bindings survive a restart
 * with their remaining time (expiry times are absolute wall-clock seconds).
 *
 * Writes (sipr_store_apply) are atomic per call: every change of the call
 * is applied, or none is. With sqlite a writer thread groups every apply
 * queued while it was busy into one BEGIN IMMEDIATE..COMMIT (group commit)
 * and only then installs the changes in memory and reports completion, so
 * a caller that answers 200 from its completion answers only for committed
 * data. Durability: WAL journal; synchronous=FULL by default (a commit is
 * on disk before completion, survives power loss); cfg.sqlite_sync_normal
 * selects synchronous=NORMAL, which still survives a kill -9 of the process
 * (the WAL is in the OS page cache) but not a power loss.
 *
 * Threads: every function may be called from any thread. Completion
 * callbacks run where the caller asks (see sipr_store_apply()).
 *
 * The wall clock is always the caller's ("now", unix seconds), so tests
 * drive expiry with a fake clock.
 */
#define SIPR_HEADER_LAYER 6
#include "sipr/layer.h"

#ifndef SIPR_STORE_H
#define SIPR_STORE_H

#include "sipr/base.h"
#include "sipr/event.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sipr_store sipr_store_t;

/* ---- bindings ----------------------------------------------------------
 * Text fields are NUL-terminated. In results (a sipr_binding_list_t) they
 * are owned by the list and never NULL ("" when absent). In changes they
 * are borrowed for the call and may be NULL (= ""). */
typedef struct sipr_binding {
  const char *aor;        /* normalized AOR, "sip:alice@example.com" */
  const char *contact;    /* the Contact's URI, with its URI parameters */
  const char *params;     /* Contact header parameters apart from the URI,
                             without expires and q:
                             ";+sip.instance=\"<urn:uuid:..>\";reg-id=1" */
  const char *call_id;
  const char *path;       /* RFC 3327 Path values joined by "," */
  const char *instance;   /* RFC 5626 +sip.instance value, "<urn:...>" */
  const char *received;   /* where the REGISTER came from, e.g.
                             "udp:192.0.2.1:5060" (NAT handling later) */
  const char *user_agent;
  int64_t expires;        /* absolute expiry, unix seconds */
  int64_t updated;        /* wall time of the last change (results only) */
  uint64_t seq;           /* store-wide change order (results only) */
  uint32_t cseq;
  uint32_t reg_id;        /* RFC 5626 reg-id; 0: none */
  int q;                  /* 0..1000 (q=0.5 is 500); -1: no q parameter */
} sipr_binding_t;

/* A list of bindings, owned by whoever received it. */
typedef struct sipr_binding_list {
  sipr_binding_t *v;
  size_t n;
  void *mem_; /* private */
} sipr_binding_list_t;

/* Frees the list's memory and empties it; NULL or empty lists are fine. */
void sipr_binding_list_free(sipr_binding_list_t *l);

/* ---- changes of one REGISTER ---------------------------------------------*/
typedef enum sipr_loc_op {
  SIPR_LOC_SET = 1,    /* add the binding, or replace the one it matches */
  SIPR_LOC_REMOVE,     /* remove the binding it matches (absent: no-op) */
  SIPR_LOC_REMOVE_ALL  /* remove every binding of the AOR ("*") */
} sipr_loc_op_t;

typedef struct sipr_loc_change {
  sipr_loc_op_t op;
  /* Which existing binding the change concerns, by exact contact text:
   * NULL means b.contact. The caller decides equivalence (§19.1.4 URI
   * comparison, or RFC 5626 instance + reg-id) and passes the stored
   * binding's contact text here when it differs from the new one. */
  const char *match;
  /* SET: the new binding (b.aor, updated, seq ignored; b.contact required;
   * b.expires absolute: a SET with expires <= now is a REMOVE).
   * REMOVE: only b.contact (when match is NULL), b.call_id and b.cseq
   * (for SIPR_STORE_CHECK_CSEQ) matter.
   * REMOVE_ALL: b.call_id and b.cseq for SIPR_STORE_CHECK_CSEQ. */
  sipr_binding_t b;
} sipr_loc_change_t;

/* Flags of sipr_store_apply(). */
/* §10.3 steps 6 and 7, Call-ID/CSeq ordering, checked atomically with the
 * write: a SET or REMOVE whose matched binding has the same Call-ID and a
 * CSeq not lower than b.cseq fails the whole apply with SIPR_ERANGE (the
 * registrar answers 500); REMOVE_ALL removes only the bindings with
 * another Call-ID or a lower CSeq (step 6), never failing. */
#define SIPR_STORE_CHECK_CSEQ 0x1
/* With a loop given: when the backend completes at once (memory), run
 * done before sipr_store_apply() returns, on the caller's thread, instead
 * of posting it to the loop (the caller must be on that loop's thread and
 * ready for done to run inside the call). A backend that completes later
 * (sqlite) still posts. Saves the loop a wake-up per apply. */
#define SIPR_STORE_DONE_INLINE 0x2

/* Completion of an apply. rc: 0, SIPR_EINVAL (a change is invalid: no
 * contact, bad q, text too long, unknown op), SIPR_ERANGE (CSeq order,
 * see above), SIPR_ETOOBIG (the AOR would have more bindings than
 * max_per_aor, or the store more than max_total), SIPR_ENOMEM, SIPR_EIO
 * (the commit failed). On rc 0 result is the AOR's live bindings after the
 * change (ordered as sipr_store_lookup()); otherwise NULL and nothing
 * changed. result is borrowed for the call. */
typedef void sipr_store_done_cb(void *arg, int rc,
                                const sipr_binding_list_t *result);

/* ---- opening -------------------------------------------------------------*/
typedef struct sipr_store_cfg {
  unsigned max_per_aor;   /* bindings per AOR; default 16 */
  size_t max_total;       /* bindings in the store; default 1000000 */
  int sqlite_sync_normal; /* 1: synchronous=NORMAL (see above); default 0 */
  /* Group commit window in microseconds: the writer commits once the
   * oldest queued change has waited this long (or a flush, a synchronous
   * apply or a full batch asks sooner), so one COMMIT and fsync serve all
   * the changes of the window. Adds at most this much to an answer's
   * latency. 0: commit whatever is queued at once. Default 5000. */
  unsigned sqlite_group_us;
} sipr_store_cfg_t;

/* Fills cfg with the defaults above. */
void sipr_store_cfg_default(sipr_store_cfg_t *cfg);

/* Opens a store from spec: "memory" or "sqlite:PATH" (the file is created
 * with its schema when missing, and its parent directory when that is
 * missing; every stored binding is loaded, expired ones included, until
 * the caller's first sipr_store_expire()). cfg is copied; NULL: defaults.
 * Returns the store, or NULL with a reason in err (errlen bytes, may be
 * NULL/0): unknown backend, cannot open, schema version mismatch. */
sipr_store_t *sipr_store_open(const char *spec, const sipr_store_cfg_t *cfg,
                              char *err, size_t errlen);

/* Completes every queued apply (their callbacks run or are posted), stops
 * the writer thread and frees the store. NULL is fine. */
void sipr_store_close(sipr_store_t *st);

/* Blocks until every apply queued before the call has completed (its
 * callback has run or has been posted). */
void sipr_store_flush(sipr_store_t *st);

/* "memory" or "sqlite" (static). */
const char *sipr_store_backend(const sipr_store_t *st);

/* ---- location service ----------------------------------------------------*/

/* The live bindings of aor (expires > now) into out (the caller frees it
 * with sipr_binding_list_free()), ordered by q (highest first, a missing
 * q counting as 1.0), then most recently changed first. From memory,
 * never blocks on the disk. 0 (out->n may be 0), SIPR_EINVAL, SIPR_ENOMEM.
 */
int sipr_store_lookup(sipr_store_t *st, const char *aor, int64_t now,
                      sipr_binding_list_t *out);

/* Applies the changes of one REGISTER to aor atomically (see the flags and
 * sipr_store_done_cb for the rules and errors); n may be 0 (a query that
 * still goes through the commit order). changes and their text are copied
 * before the call returns.
 *
 * done (may be NULL) runs once:
 *   loop != NULL: posted to loop with sipr_loop_post(), always after
 *                 apply has returned, on loop's thread;
 *   loop == NULL: memory backend: before apply returns, on the caller's
 *                 thread; sqlite: on the store's writer thread.
 * done must not call sipr_store_apply_sync(), sipr_store_flush() or
 * sipr_store_close() when it runs on the writer thread (it would wait for
 * itself); sipr_store_apply() and lookups are fine.
 * Returns 0 when the apply was accepted (done will run), or an error
 * without calling done: SIPR_EINVAL (NULL aor, bad op), SIPR_ENOMEM, SIPR_EIO
 * (store closing). */
int sipr_store_apply(sipr_store_t *st, const char *aor,
                     const sipr_loc_change_t *changes, size_t n, int64_t now,
                     unsigned flags, sipr_loop_t *loop,
                     sipr_store_done_cb *done, void *arg);

/* The same, waiting for the commit (tools and tests). The result list goes
 * to out when out is not NULL (the caller frees it). Returns the rc the
 * callback would have had. */
int sipr_store_apply_sync(sipr_store_t *st, const char *aor,
                          const sipr_loc_change_t *changes, size_t n,
                          int64_t now, unsigned flags,
                          sipr_binding_list_t *out);

/* Removes every binding with expires <= now and returns how many were
 * removed (no table scan: the AORs are in a heap by earliest expiry).
 * With sqlite the rows are deleted by the writer thread in its next
 * transaction. */
size_t sipr_store_expire(sipr_store_t *st, int64_t now);

/* The earliest expiry time (unix seconds) among stored bindings, or -1
 * when there are none: the caller arms one timer for it and calls
 * sipr_store_expire() when it fires (then asks again). An apply can make
 * it earlier: ask again after each completed apply (the result's expiry
 * times tell), or cap the timer at a second or so. A binding whose expiry
 * passed but that expire() has not removed yet is already hidden from
 * lookups and lists. */
int64_t sipr_store_next_expiry(sipr_store_t *st);

/* Every live binding (expires > now) of the AORs starting with prefix
 * (NULL or "": all), ordered by AOR then as sipr_store_lookup(), into out.
 * A management operation: it walks the whole table. 0 or SIPR_ENOMEM. */
int sipr_store_list(sipr_store_t *st, const char *prefix, int64_t now,
                    sipr_binding_list_t *out);

/* Number of stored bindings (expired ones not yet removed included). */
size_t sipr_store_count(sipr_store_t *st);

/* Counters, safe to read from any thread. */
typedef struct sipr_store_stats {
  uint64_t applies;      /* apply requests completed */
  uint64_t apply_errors; /* of those, completed with rc != 0 */
  uint64_t commits;      /* transactions committed (sqlite) or applies
                            installed (memory) */
  uint64_t max_batch;    /* most applies in one transaction */
  uint64_t expired;      /* bindings removed by sipr_store_expire() */
  uint64_t refused_caps; /* applies refused by max_per_aor / max_total */
  uint64_t bindings;     /* bindings stored now */
} sipr_store_stats_t;
void sipr_store_get_stats(sipr_store_t *st, sipr_store_stats_t *out);

/* ---- credentials -----------------------------------------------------------
 * One HA1 (lower-case hex of H(user:realm:password)) per user, realm and
 * base algorithm ("MD5" or "SHA-256"); passwords are never stored. With
 * sqlite these read and write the database directly (synchronously), so a
 * `sipr user add` from another process is seen at once by a running
 * server. */

/* Stores (or replaces) ha1_hex for user, realm, algorithm. algorithm is
 * "MD5" (32 hex digits) or "SHA-256" (64), case-insensitive, stored in that
 * spelling. 0, SIPR_EINVAL (empty user/realm, wrong algorithm or HA1
 * length or non-hex), SIPR_ENOMEM, SIPR_EIO. */
int sipr_store_cred_put(sipr_store_t *st, const char *user, const char *realm,
                        const char *algorithm, const char *ha1_hex);

/* Copies the HA1 for user, realm, algorithm into ha1 (at least 65 bytes,
 * NUL-terminated). 0, SIPR_ENOENT (no such entry), SIPR_EINVAL, SIPR_EIO. */
int sipr_store_cred_get(sipr_store_t *st, const char *user, const char *realm,
                        const char *algorithm, char *ha1, size_t ha1_size);

/* Removes every HA1 of user in realm (realm NULL: in every realm).
 * 0, SIPR_ENOENT (there was none), SIPR_EIO. */
int sipr_store_cred_del(sipr_store_t *st, const char *user, const char *realm);

typedef struct sipr_cred {
  const char *user, *realm, *algorithm, *ha1;
} sipr_cred_t;
typedef struct sipr_cred_list {
  sipr_cred_t *v;
  size_t n;
  void *mem_; /* private */
} sipr_cred_list_t;

/* Every stored credential, ordered by realm, user, algorithm, into out
 * (free with sipr_cred_list_free()). 0, SIPR_ENOMEM, SIPR_EIO. */
int sipr_store_cred_list(sipr_store_t *st, sipr_cred_list_t *out);
void sipr_cred_list_free(sipr_cred_list_t *l);

#ifdef __cplusplus
}
#endif
#endif
