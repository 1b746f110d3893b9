/*
 * Resolver layer: next-hop host names to transport addresses, on c-ares,
 * driven by an event loop. Today A/AAAA only (RFC 3263 §4.2 last step:
 * a host name with an explicit or default port); NAPTR/SRV (RFC 3263
 * §4.1, §4.2) come later behind the same calls.
 *
 * One resolver per loop (worker). The loop watches c-ares' sockets and
 * its retry timer; a lookup that cannot be answered at once calls back on
 * the loop's thread. Answers are kept in a small per-resolver cache for
 * the TTL the records carried (capped), failures for a short negative
 * TTL.
 *
 * Threads: every call below is made on the loop's thread.
 */
#define SIPR_HEADER_LAYER 4
#include "sipr/layer.h"

#ifndef SIPR_RESOLVE_H
#define SIPR_RESOLVE_H

#include "sipr/base.h"
#include "sipr/event.h"
#include "sipr/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sipr_res sipr_res_t;
typedef struct sipr_res_query sipr_res_query_t;

#define SIPR_RES_MAX_ADDRS 8 /* addresses handed back per lookup */

typedef struct sipr_res_cfg {
  /* resolv.conf to read (NULL: the system's). */
  const char *resolv_conf;
  /* Name servers replacing resolv.conf's: "IP[:PORT],..." ([v6]:PORT);
   * NULL: resolv.conf's. */
  const char *servers;
  /* Sources in order: "fb" (hosts file, then DNS; the default), "f"
   * (hosts file only), "b" (DNS only). The hosts file is /etc/hosts. */
  const char *lookups;
  uint32_t timeout_ms;    /* first try per server, default 2000 */
  unsigned tries;         /* per server, default 2 */
  unsigned cache_entries; /* 0: no cache; default 256 */
  uint32_t max_ttl_s;     /* cap on a positive answer's life, default 300 */
  uint32_t neg_ttl_s;     /* a failure's life, default 5 */
} sipr_res_cfg_t;

void sipr_res_cfg_default(sipr_res_cfg_t *cfg);

/* Creates a resolver on loop (borrowed; it must outlive the resolver).
 * cfg (NULL: defaults) is copied. NULL on failure (out of memory, c-ares
 * cannot read its configuration). */
sipr_res_t *sipr_res_new(sipr_loop_t *loop, const sipr_res_cfg_t *cfg);
/* Frees the resolver: lookups in progress are dropped WITHOUT calling
 * their callbacks. Loop thread, not from a resolver callback; before
 * sipr_loop_free(). */
void sipr_res_free(sipr_res_t *r);

/* The answer to one lookup: err 0 and n addresses (1..SIPR_RES_MAX_ADDRS,
 * IPv4 ones first, each with the protocol and port asked for), or err
 * SIPR_ENOENT (the name does not exist or has no address) / SIPR_EIO (no
 * server answered, timeout, refused) and n 0. addrs is valid during the
 * call only. */
typedef void sipr_res_cb(void *arg, int err, const sipr_tp_addr_t *addrs,
                         size_t n);

/* Resolves host (a name, or a numeric IPv4 / [IPv6] / IPv6 text) for
 * proto and port (-1: sipr_tp_default_port(proto)).
 * Returns:
 *   0            answered now, without a callback: a numeric host, a
 *                cache hit, or a hosts-file answer c-ares gave inline;
 *                out[0..*n) hold the addresses (out must have room for
 *                SIPR_RES_MAX_ADDRS)
 *   1            in progress: cb(arg, ...) runs later on the loop's thread,
 *                unless sipr_res_cancel(*q) comes first (q may be NULL
 *                when the caller never cancels)
 *   SIPR_ENOENT  the name does not resolve (answered now, cached failure
 *                included)
 *   SIPR_EIO     no server answered (answered now)
 *   SIPR_EINVAL  an empty or over-long name, a port out of range
 *   SIPR_ENOMEM */
int sipr_res_lookup(sipr_res_t *r, sipr_str_t host, sipr_tp_proto_t proto,
                    int port, sipr_tp_addr_t *out, size_t *n, sipr_res_cb *cb,
                    void *arg, sipr_res_query_t **q);
/* Forgets the callback of a lookup in progress (its answer still fills
 * the cache). Loop thread. */
void sipr_res_cancel(sipr_res_query_t *q);

typedef struct sipr_res_stats {
  uint64_t lookups;    /* sipr_res_lookup() calls with a name */
  uint64_t numeric;    /* calls answered as numeric hosts */
  uint64_t cache_hits; /* names answered from the cache */
  uint64_t queries;    /* names handed to c-ares */
  uint64_t failures;   /* names that did not resolve (any reason) */
  uint64_t pending;    /* lookups in progress now */
} sipr_res_stats_t;
void sipr_res_get_stats(const sipr_res_t *r, sipr_res_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
