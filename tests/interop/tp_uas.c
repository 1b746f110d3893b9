/*
 * tp_uas: a stateless UAS on the transport layer alone, for interop runs
 * against real SIP tools (SIPp, sipsak, ...). Listens on UDP and TCP at
 * 127.0.0.1:PORT (argument; 0 or none: a free port), prints the port on
 * stdout, answers every request but ACK with 200 OK through
 * sipr_tp_send_response() (so §18.2.2 / RFC 3581 routing is exercised),
 * and on SIGTERM/SIGINT prints the transport's counters on stderr.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "sipr/print.h"
#include "sipr/transport.h"

static sipr_loop_t *g_loop;

static void on_signal(int sig) {
  (void)sig;
  sipr_loop_stop(g_loop); /* an atomic store and a write(): signal-safe */
}

static void on_recv(void *user, sipr_tp_t *tp, sipr_msg_t *msg,
                    const sipr_tp_src_t *src) {
  (void)user;
  if (!msg->is_request || msg->method_id == SIPR_METHOD_ACK)
    return;
  sipr_buf_t b;
  sipr_buf_init(&b);
  if (sipr_print_response(&b, msg, 200, NULL, SIPR_STR("tpuas"), SIPR_STR_NULL) == 0)
    sipr_tp_send_response(tp, src, sipr_msg_via(msg), b.p, b.len);
  sipr_buf_free(&b);
}

int main(int argc, char **argv) {
  static const sipr_tp_user_ops_t ops = {on_recv, NULL, NULL};
  int port = argc > 1 ? atoi(argv[1]) : 0;
  char spec[64];
  sipr_tp_addr_t a;
  g_loop = sipr_loop_new(NULL);
  sipr_tp_t *tp = NULL;
  snprintf(spec, sizeof(spec), "udp:127.0.0.1:%d", port);
  /* With port 0, the UDP port the kernel picks may be taken for TCP (a
   * busy machine has many TCP ports in use): then start over. */
  for (int attempt = 0; attempt < 20; attempt++) {
    tp = g_loop ? sipr_tp_new(g_loop, NULL, &ops, NULL) : NULL;
    if (!tp || sipr_tp_addr_parse(spec, &a) || sipr_tp_listen(tp, &a)) {
      fprintf(stderr, "tp_uas: cannot listen on %s\n", spec);
      return 1;
    }
    a = *sipr_tp_local(tp, 0);
    a.proto = SIPR_TP_TCP;
    if (sipr_tp_listen(tp, &a) == 0)
      break;
    if (port != 0 || attempt == 19) {
      fprintf(stderr, "tp_uas: cannot listen on TCP port %d\n",
              sipr_tp_addr_port(&a));
      return 1;
    }
    sipr_tp_free(tp);
    tp = NULL;
  }
  printf("%d\n", sipr_tp_addr_port(&a));
  fflush(stdout);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  signal(SIGPIPE, SIG_IGN);
  sipr_loop_run(g_loop);
  sipr_tp_stats_t st;
  sipr_tp_get_stats(tp, &st);
  fprintf(stderr,
          "rx_msgs=%llu tx_msgs=%llu rx_bad=%llu rx_dropped=%llu tx_errors=%llu "
          "conns_accepted=%llu conns_killed=%llu\n",
          (unsigned long long)st.rx_msgs, (unsigned long long)st.tx_msgs,
          (unsigned long long)st.rx_bad, (unsigned long long)st.rx_dropped,
          (unsigned long long)st.tx_errors, (unsigned long long)st.conns_accepted,
          (unsigned long long)st.conns_killed);
  sipr_tp_free(tp);
  sipr_loop_free(g_loop);
  return 0;
}
