#!/usr/bin/env bash
# bench/proxy.sh SIPR: proxied calls through `sipr serve` and through
# Kamailio 5.6 configured alike (tm, rr, registrar, usrloc in memory), side
# by side in one run on 127.0.0.1 (docs/ARCHITECTURE.md, Benchmarks).
# `make bench` runs it after bench/server.sh.
#
# Each proxy has the callee (a SIPp UAS on its own port, bench/proxy_uas.xml)
# registered as "callee" in its location service (bench/proxy_reg.xml); a
# SIPp UAC (bench/proxy_uac.xml) calls sip:callee@PROXY: INVITE, 100, 180,
# 200 (with Record-Route), ACK and BYE through the proxy, 200: three
# transactions and seven messages each way per call through the proxy.
# sipr: --store memory --auth off --workers 1; Kamailio: children=2 UDP
# workers, the config of bench/lib.sh (record_route() for INVITE,
# lookup("location"), t_relay(), loose_route() for in-dialog requests).
#
# 1. CPU per call: CALLS calls at CALL_RATE/s for each proxy, in ROUNDS
#    interleaved rounds; server CPU (all threads/processes, /proc) per
#    completed call, median of the rounds, and the ratio (target: sipr at
#    most 1/2 of Kamailio's, no failed calls).
# 2. Highest rate with under 0.1% failed calls: STEP_SECS at each rate of
#    STEPS, for each proxy, until a step fails or does not finish in time.
#    SIPp (one thread for the caller, one for the callee) is itself a
#    limit: a step that the SIPp processes cannot keep up with ends the
#    stepping for that proxy too, so the printed rate is a lower bound when
#    it is the last step reached by both.
set -uo pipefail

SIPR=${1:-}
CALL_RATE=${CALL_RATE:-500}
CALLS=${CALLS:-6000}
ROUNDS=${ROUNDS:-3}
STEPS=${STEPS:-"250 500 1000 1500 2000 3000 4000"}
STEP_SECS=${STEP_SECS:-5}
KAM_CHILDREN=${KAM_CHILDREN:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH=proxy
source "$HERE/lib.sh"

# start_callee TAG -> CPORT, registers nothing (see register_callee)
start_callee() {
  CPORT=$(free_port)
  mkdir -p "$TMP/uas-$1"
  (cd "$TMP/uas-$1" && exec "$SIPP" -sf "$HERE/proxy_uas.xml" -i 127.0.0.1 \
     -p "$CPORT" -nostdin -bg >/dev/null 2>&1)
  # -bg forks; find the callee by its port
  for _ in $(seq 50); do
    CPID=$(pgrep -f -- "-p $CPORT -nostdin" | head -1)
    [ -n "$CPID" ] && break
    sleep 0.1
  done
  [ -n "${CPID:-}" ] || die "the SIPp callee ($1) did not start"
  PIDS+=("$CPID")
}

register_callee() { # tag proxy_port callee_port
  SIPP_EXTRA=(-s callee -key cport "$3")
  run_sipp "register $1" "$2" proxy_reg.xml 10 1
  SIPP_EXTRA=()
}

echo "proxy: sipr serve vs Kamailio $("$KAM" -v 2>/dev/null | awk '/^version:/ {print $3; exit}') (children=$KAM_CHILDREN, tm + rr + usrloc in memory) on 127.0.0.1 UDP; SIPp calls INVITE/100/180/200/ACK/BYE/200 with Record-Route to a registered callee"

start_sipr proxy memory
MPID=$SPID; MPORT=$SPORT
start_kamailio
KN=$(tree "$KPID" | wc -l)
start_callee sipr; SIPR_CALLEE=$CPORT
start_callee kam; KAM_CALLEE=$CPORT
register_callee sipr "$MPORT" "$SIPR_CALLEE"
register_callee kam "$KPORT" "$KAM_CALLEE"

declare -A SAMPLES OKS FAILS
CHUNK=$((CALLS / ROUNDS))
# A proxy with several UDP workers may pass a 180 after the 200 (UDP keeps
# no order); the caller ignores such a late provisional instead of
# aborting the call (-abortunexp off).
CALL_ARGS=(-s callee -default_behaviors all,-abortunexp)
SIPP_EXTRA=("${CALL_ARGS[@]}")
for r in $(seq 1 "$ROUNDS"); do
  for i in 0 1; do
    case $(( (i + r) % 2 )) in
    0) measure "sipr call r$r" "$MPID" "$MPORT" proxy_uac.xml "$CALL_RATE" "$CHUNK"
       SAMPLES[sipr]+="$US "; OKS[sipr]=$(( ${OKS[sipr]:-0} + OK )); FAILS[sipr]=$(( ${FAILS[sipr]:-0} + FAILED )) ;;
    1) measure "kamailio call r$r" "$KPID" "$KPORT" proxy_uac.xml "$CALL_RATE" "$CHUNK"
       SAMPLES[kam]+="$US "; OKS[kam]=$(( ${OKS[kam]:-0} + OK )); FAILS[kam]=$(( ${FAILS[kam]:-0} + FAILED )) ;;
    esac
  done
done
printf '  %-20s %9s %7s %9s %11s   %s\n' "" completed failed rate "median us" "us/call per round"
printf '  %-20s %9d %7d %7d/s %11s   %s\n' "sipr proxy" "${OKS[sipr]}" "${FAILS[sipr]}" "$CALL_RATE" "$(median "${SAMPLES[sipr]}")" "${SAMPLES[sipr]}"
printf '  %-20s %9d %7d %7d/s %11s   %s\n' "kamailio proxy" "${OKS[kam]}" "${FAILS[kam]}" "$CALL_RATE" "$(median "${SAMPLES[kam]}")" "${SAMPLES[kam]}"
echo "  (kamailio: $KN processes, all counted; sipr: all threads of its one process)"
US_SIPR=$(median "${SAMPLES[sipr]}")
US_KAM=$(median "${SAMPLES[kam]}")
NOFAIL=$([ "${FAILS[sipr]}" -eq 0 ] && echo "no failed calls" || echo "${FAILS[sipr]} FAILED calls")

# Stepping: the highest rate with under 0.1% failures and every call done.
SIPP_TOLERATE=1
SIPP_EXTRA=("${CALL_ARGS[@]}")
step() { # tag port -> BEST
  BEST=0
  local rate n
  for rate in $STEPS; do
    n=$((rate * STEP_SECS))
    run_sipp "$1 step $rate" "$2" proxy_uac.xml "$rate" "$n"
    if [ $((OK + FAILED)) -lt "$n" ] || [ $((FAILED * 1000)) -ge "$n" ]; then
      echo "  $1: at $rate/s $OK of $n calls completed, $FAILED failed: stop" >&2
      break
    fi
    BEST=$rate
  done
}
step sipr "$MPORT"; BEST_SIPR=$BEST
step kamailio "$KPORT"; BEST_KAM=$BEST
SIPP_TOLERATE=0
echo "  highest rate with < 0.1% failed calls (${STEP_SECS}s steps of $STEPS /s; SIPp is one process per side): sipr $BEST_SIPR/s, kamailio $BEST_KAM/s"
echo "proxy: call sipr $US_SIPR us vs kamailio $US_KAM us per call ($(ratio "$US_SIPR" "$US_KAM" 1 2)), $NOFAIL; highest rate sipr $BEST_SIPR/s, kamailio $BEST_KAM/s"
exit 0
