/* Internals of the TU layer shared by uas.c and registrar/registrar.c. */
#ifndef SIPR_TU_INTERNAL_H
#define SIPR_TU_INTERNAL_H

#include <stdatomic.h>

#include "sipr/print.h"
#include "sipr/registrar.h"

#define SIPR__TU_TAG_LEN 16
#define SIPR__TU_MAX_DOMAINS 64

typedef struct sipr__tu_domain {
  char *host; /* as configured; IPv6 with brackets */
  size_t host_len;
  int port;   /* -1: any */
} sipr__tu_domain_t;

struct sipr_registrar {
  sipr_registrar_cfg_t cfg; /* domains/realm pointers cleared: copies below */
  sipr__tu_domain_t domains[SIPR__TU_MAX_DOMAINS];
  unsigned ndomains;
  char *realm;
  sipr_store_t *store;
  sipr_auth_server_t *auth;
  _Atomic uint64_t stats_requests;
  _Atomic uint64_t stats_by_class[7];
  _Atomic uint64_t stats_registers_ok;
  _Atomic uint64_t stats_pending;
};

/* What a 200 to OPTIONS carries (§11.2): Allow, Accept, Accept-Encoding,
 * Accept-Language, Supported. */
#define SIPR__TU_ALLOW_LINE "Allow: " SIPR_REGISTRAR_ALLOW "\r\n"
#define SIPR__TU_OPTIONS_LINES                                               \
  SIPR__TU_ALLOW_LINE                                                        \
  "Accept: application/sdp\r\n"                                              \
  "Accept-Encoding: identity\r\n"                                            \
  "Accept-Language: en\r\n"                                                  \
  "Supported: " SIPR_REGISTRAR_SUPPORTED "\r\n"

/* A random token for To tags, NUL-terminated. */
void sipr__tu_new_tag(char out[SIPR__TU_TAG_LEN + 1]);
/* Builds the response to req (§8.2.6, To tag added) with extra header
 * lines and sends it on st. */
int sipr__tu_respond(sipr_registrar_t *r, sipr_txn_t *st, sipr_msg_t *req,
                     unsigned status, const char *reason, sipr_str_t extra);
int sipr__tu_respond_simple(sipr_registrar_t *r, sipr_txn_t *st,
                            sipr_msg_t *req, unsigned status,
                            const char *reason, const char *extra);
void sipr__tu_count_status(sipr_registrar_t *r, unsigned status);
/* 1 when the SIP/SIPS URI u names one of our domains (or the address the
 * request came in on, src may be NULL); the port counts only when
 * check_port is set and the domain was configured with one. */
int sipr__tu_domain_is_ours(const sipr_registrar_t *r, const sipr_uri_t *u,
                            int check_port, const sipr_tp_src_t *src);

/* registrar/registrar.c: REGISTER after the UAS checks (method, domain,
 * Require). */
void sipr__reg_register(sipr_registrar_t *r, sipr_txn_t *st, sipr_msg_t *req,
                        const sipr_tp_src_t *src);

#endif
