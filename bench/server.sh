#!/usr/bin/env bash
# bench/server.sh SIPR: `sipr serve` against Kamailio 5.6 as a registrar, side
# by side in one run on 127.0.0.1 (docs/ARCHITECTURE.md, Benchmarks).
# `make bench` runs it after bench/parse and bench/txn.
#
# Servers: sipr --store memory --auth off --workers 1; the same with
# --store sqlite:TMP/sipr.db; Kamailio with a registrar config written here
# (children=2 UDP workers, usrloc db_mode 0: bindings in memory). Each on a
# free UDP port.
# Load (SIPp, same scenarios, same rate for every server):
#   REGISTER  REG_USERS unique AORs from an -inf CSV at REG_RATE/s
#             (bench/server_register_uac.xml);
#   OPTIONS   to the server itself, OPT_RATE/s for OPT_SECS s
#             (bench/server_options_uac.xml; sipr memory and Kamailio only).
# The three servers run side by side and are measured in ROUNDS (5)
# interleaved rounds (REG_USERS/ROUNDS fresh AORs and OPT_RATE*OPT_SECS/
# ROUNDS OPTIONS each, the order rotating), so a change in the machine's
# load during the run falls on all of them alike; the figures are the
# medians of the rounds.
# Server CPU per transaction = the growth of the first field of
# /proc/PID/task/*/schedstat (ns on CPU) summed over every thread (sipr) or
# every process and thread (Kamailio: the main PID and all its descendants),
# across the load, divided by SIPp's successful calls (-trace_stat).
# Memory per binding: sipr --store memory; MEM_USERS AORs registered once
# as a warm-up (transaction and buffer memory reaches its peak and is freed
# after Timer J), then RSS is read, MEM_USERS new AORs registered, Timer J
# waited out again, RSS read: (after - before) / MEM_USERS.
#
# Targets (the issue): REGISTER memory <= 1/3 of Kamailio's CPU, REGISTER
# sqlite <= 1/2, OPTIONS <= 1/3, memory < 512 bytes per binding. A missed
# target is printed, not an error. Exit 1 when sipr, sipp or kamailio is
# missing, a server does not start, or a SIPp run completes under 90% of its
# calls.
set -uo pipefail

SIPR=${1:-}
REG_USERS=${REG_USERS:-20000}
REG_RATE=${REG_RATE:-2000}
OPT_RATE=${OPT_RATE:-2000}
OPT_SECS=${OPT_SECS:-5}
MEM_USERS=${MEM_USERS:-100000}
MEM_RATE=${MEM_RATE:-5000}
TIMER_J=${TIMER_J:-34} # 64*T1 = 32 s, plus a margin
KAM_CHILDREN=${KAM_CHILDREN:-2}
ROUNDS=${ROUNDS:-5}
HERE=$(cd "$(dirname "$0")" && pwd)

BENCH=server
source "$HERE/lib.sh"

OPT_CALLS=$((OPT_RATE * OPT_SECS))
REG_CHUNK=$((REG_USERS / ROUNDS))
OPT_CHUNK=$((OPT_CALLS / ROUNDS))

echo "server: sipr serve vs Kamailio $("$KAM" -v 2>/dev/null | awk '/^version:/ {print $3; exit}') (children=$KAM_CHILDREN, usrloc db_mode 0) on 127.0.0.1 UDP; SIPp $REG_USERS REGISTER (unique AORs) at $REG_RATE/s, $OPT_CALLS OPTIONS at $OPT_RATE/s, in $ROUNDS interleaved rounds"

# All three servers run side by side; each round measures every one of
# them in turn (the order rotates), so a change in the machine's load
# touches all of them alike. Per-round figures, then medians and the
# ratios of the medians.
start_sipr mem memory
MPID=$SPID; MPORT=$SPORT
start_sipr sqlite "sqlite:$TMP/sipr.db"
QPID=$SPID; QPORT=$SPORT
start_kamailio
KN=$(tree "$KPID" | wc -l)

declare -A SAMPLES OKS FAILS
sample() { # key tag pid port scenario rate calls [csv]
  local key=$1
  shift
  measure "$@"
  SAMPLES[$key]+="$US "
  OKS[$key]=$(( ${OKS[$key]:-0} + OK ))
  FAILS[$key]=$(( ${FAILS[$key]:-0} + FAILED ))
}
TARGETS=(mem sql kam)
for r in $(seq 1 "$ROUNDS"); do
  users "r${r}u" "$REG_CHUNK" "$TMP/reg$r.csv"
  for i in 0 1 2; do
    t=${TARGETS[$(( (i + r) % 3 ))]}
    case $t in
    mem) sample reg_mem "sipr memory REGISTER r$r" "$MPID" "$MPORT" server_register_uac.xml "$REG_RATE" "$REG_CHUNK" "$TMP/reg$r.csv"
         sample opt_mem "sipr memory OPTIONS r$r" "$MPID" "$MPORT" server_options_uac.xml "$OPT_RATE" "$OPT_CHUNK" ;;
    sql) sample reg_sql "sipr sqlite REGISTER r$r" "$QPID" "$QPORT" server_register_uac.xml "$REG_RATE" "$REG_CHUNK" "$TMP/reg$r.csv" ;;
    kam) sample reg_kam "kamailio REGISTER r$r" "$KPID" "$KPORT" server_register_uac.xml "$REG_RATE" "$REG_CHUNK" "$TMP/reg$r.csv"
         sample opt_kam "kamailio OPTIONS r$r" "$KPID" "$KPORT" server_options_uac.xml "$OPT_RATE" "$OPT_CHUNK" ;;
    esac
  done
done
for p in "$MPID" "$QPID" "$KPID"; do kill "$p"; wait "$p" 2>/dev/null; done

printf '  %-26s %7s %7s %9s %10s   %s\n' "" completed failed rate "median us" "us/txn per round"
row() { # key label rate
  printf '  %-26s %7d %7d %7d/s %10s   %s\n' "$2" "${OKS[$1]}" "${FAILS[$1]}" "$3" "$(median "${SAMPLES[$1]}")" "${SAMPLES[$1]}"
}
row reg_mem "sipr memory REGISTER" "$REG_RATE"
row opt_mem "sipr memory OPTIONS" "$OPT_RATE"
row reg_sql "sipr sqlite REGISTER" "$REG_RATE"
row reg_kam "kamailio REGISTER" "$REG_RATE"
row opt_kam "kamailio OPTIONS" "$OPT_RATE"
echo "  (kamailio: $KN processes, all counted; sipr: all threads of its one process)"
US_REG_MEM=$(median "${SAMPLES[reg_mem]}")
US_OPT=$(median "${SAMPLES[opt_mem]}")
US_REG_SQL=$(median "${SAMPLES[reg_sql]}")
US_REG_KAM=$(median "${SAMPLES[reg_kam]}")
US_OPT_KAM=$(median "${SAMPLES[opt_kam]}")

start_sipr memrss memory
users warm "$MEM_USERS" "$TMP/warm.csv"
users mem "$MEM_USERS" "$TMP/mem.csv"
echo "server: memory: $MEM_USERS warm-up AORs at $MEM_RATE/s, ${TIMER_J}s for Timer J, RSS, $MEM_USERS new AORs, ${TIMER_J}s, RSS"
run_sipp "memory warm-up" "$SPORT" server_register_uac.xml "$MEM_RATE" "$MEM_USERS" "$TMP/warm.csv"
sleep "$TIMER_J"
R0=$(rss_kb "$SPID")
run_sipp "memory REGISTER" "$SPORT" server_register_uac.xml "$MEM_RATE" "$MEM_USERS" "$TMP/mem.csv"
MEM_OK=$OK
sleep "$TIMER_J"
R1=$(rss_kb "$SPID")
kill "$SPID"; wait "$SPID" 2>/dev/null
BPB=$(( (R1 - R0) * 1024 / MEM_OK ))
MEM_VERDICT=$([ "$BPB" -lt 512 ] && echo met || echo MISSED)
echo "  sipr memory VmRSS ${R0} kB -> ${R1} kB for $MEM_OK new bindings: $BPB bytes/binding (target < 512: $MEM_VERDICT)"

echo "  ratios sipr/kamailio CPU per transaction:" \
  "REGISTER memory $(ratio "$US_REG_MEM" "$US_REG_KAM" 1 3);" \
  "REGISTER sqlite $(ratio "$US_REG_SQL" "$US_REG_KAM" 1 2);" \
  "OPTIONS $(ratio "$US_OPT" "$US_OPT_KAM" 1 3)"
echo "server: REGISTER sipr $US_REG_MEM us vs kamailio $US_REG_KAM us ($(ratio "$US_REG_MEM" "$US_REG_KAM" 1 3))," \
  "sqlite $US_REG_SQL us ($(ratio "$US_REG_SQL" "$US_REG_KAM" 1 2))," \
  "OPTIONS $US_OPT us vs $US_OPT_KAM us ($(ratio "$US_OPT" "$US_OPT_KAM" 1 3))," \
  "memory $BPB bytes/binding"
exit 0
