/* Unit tests of the transport layer: real sockets on 127.0.0.1 (and ::1
 * when the host has it), a fake clock for the timeouts, the loop driven
 * with sipr_loop_run_once(). main.c runs every group. */
#ifndef SIPR_TEST_TRANSPORT_H
#define SIPR_TEST_TRANSPORT_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/types.h>

#include "sipr/transport.h"

int sipr_test_addr(void);
int sipr_test_udp(void);
int sipr_test_tcp(void);

/* ---- fixture (fixture.c) ---- */
#define FX_MAX_CLOSED 32

typedef struct fx {
  sipr_fake_clock_t fc;
  sipr_loop_t *loop;
  sipr_tp_t *tp;
  int port;               /* the port tp listens on (UDP and TCP) */
  int answer;             /* recv answers requests 200 via sipr_tp_send_response,
                             this many times */
  int nrecv;              /* messages handed up */
  char last[8192];        /* the last one, as handed up */
  size_t last_len;
  char via[512];          /* its top Via value (raw), NUL-terminated */
  int is_request;
  sipr_tp_src_t src;      /* where it came from */
  uint64_t closed[FX_MAX_CLOSED];
  int nclosed;
} fx_t;

/* Creates loop (fake clock) + tp with cfg (NULL: defaults), listening on
 * UDP and TCP on 127.0.0.1 at one free port. */
void fx_init(fx_t *fx, const sipr_tp_cfg_t *cfg);
void fx_free(fx_t *fx);
/* Runs rounds of the loop (each waits up to 5 ms for sockets). */
void fx_pump(fx_t *fx, int rounds);
/* Pumps until *counter reaches target (at most ~2 s). 1 when it did. */
int fx_pump_until(fx_t *fx, const int *counter, int target);
/* Pumps while waiting for bytes on fd (recv, MSG_DONTWAIT); returns what
 * recv returned last (0: EOF, -1: nothing in time or error). */
ssize_t fx_recv(fx_t *fx, int fd, char *buf, size_t cap);
/* Moves the fake clock on and runs the timers that became due. */
void fx_advance(fx_t *fx, uint64_t ms);
sipr_tp_stats_t fx_stats(const fx_t *fx);

/* A socket bound to 127.0.0.1 (or ::1 when v6) at a free port. */
int udp_socket(int v6, int *port);
/* A TCP client connected to 127.0.0.1:port (blocking connect). */
int tcp_client(int port);
/* A TCP listener on 127.0.0.1 at a free port (non-blocking). */
int tcp_listener(int *port);
int udp_send_to(int fd, int v6, int port, const char *msg);
void send_all(int fd, const char *p, size_t len);

/* A request: "METHOD sip:bob@example.com SIP/2.0" with the given Via
 * value, the mandatory headers, extra header lines, and Content-Length
 * (when with_cl) of body. Returns buf. */
char *make_req(char *buf, size_t cap, const char *method, const char *via,
               const char *extra, const char *body, int with_cl);
#endif
