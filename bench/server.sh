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

die() { echo "server: $*" >&2; exit 1; }
[ -n "$SIPR" ] && [ -x "$SIPR" ] || die "usage: bench/server.sh PATH/TO/sipr (missing sipr)"
SIPP=$(command -v sipp) || die "sipp missing (scripts/deps.sh installs sip-tester)"
KAM=$(command -v kamailio || { [ -x /usr/sbin/kamailio ] && echo /usr/sbin/kamailio; }) ||
  die "kamailio missing (scripts/deps.sh installs kamailio)"
KAM_MODS=
for d in /usr/lib/x86_64-linux-gnu/kamailio/modules /usr/lib/kamailio/modules \
         /usr/lib64/kamailio/modules /usr/local/lib64/kamailio/modules; do
  [ -f "$d/registrar.so" ] && { KAM_MODS=$d; break; }
done
[ -n "$KAM_MODS" ] || die "kamailio's registrar module not found"
command -v python3 >/dev/null || die "python3 missing"

TMP=$(mktemp -d /tmp/sipr-bench-server.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_udp PORT PID: until something listens on 127.0.0.1:PORT (5 s).
wait_udp() {
  local hex
  hex=$(printf '0100007F:%04X' "$1")
  for _ in $(seq 100); do
    kill -0 "$2" 2>/dev/null || return 1
    grep -q " $hex " /proc/net/udp && return 0
    sleep 0.05
  done
  return 1
}

# tree PID: PID and all its descendants.
tree() {
  local c
  echo "$1"
  for c in $(pgrep -P "$1"); do tree "$c"; done
}

# cpu_ns PID...: ns on CPU of every thread of every process in the trees.
cpu_ns() {
  local p t sum=0 v
  for p in $(for r in "$@"; do tree "$r"; done); do
    for t in /proc/"$p"/task/*/schedstat; do
      read -r v _ <"$t" 2>/dev/null && sum=$((sum + v))
    done
  done
  echo "$sum"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' /proc/"$1"/status; }

# users PREFIX N FILE: a SEQUENTIAL -inf CSV of N AORs.
users() {
  { echo SEQUENTIAL; seq -f "$1%07g" 1 "$2"; } >"$3"
}

# start_sipr NAME STORE -> sets SPID SPORT
start_sipr() {
  SPORT=$(free_port)
  "$SIPR" serve --listen "udp:127.0.0.1:$SPORT" --domain 127.0.0.1 \
    --store "$2" --auth off --workers 1 --log-level warn \
    >"$TMP/$1.log" 2>&1 &
  SPID=$!
  PIDS+=("$SPID")
  wait_udp "$SPORT" "$SPID" || { cat "$TMP/$1.log" >&2; die "sipr ($1) did not start"; }
}

# start_kamailio -> sets KPID KPORT
start_kamailio() {
  KPORT=$(free_port)
  mkdir -p "$TMP/kam"
  cat >"$TMP/kam/kamailio.cfg" <<EOF
#!KAMAILIO
debug=1
log_stderror=yes
listen=udp:127.0.0.1:$KPORT
auto_aliases=no
children=$KAM_CHILDREN
disable_tcp=yes
mpath="$KAM_MODS/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "sanity.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("usrloc", "db_mode", 0)
modparam("registrar", "gruu_enabled", 0)

request_route {
  if (!mf_process_maxfwd_header("10")) {
    sl_send_reply("483", "Too Many Hops");
    exit;
  }
  if (!sanity_check()) {
    exit;
  }
  if (is_method("OPTIONS") && uri==myself && \$rU==\$null) {
    sl_send_reply("200", "OK");
    exit;
  }
  if (has_totag()) {
    if (loose_route()) {
      t_relay();
      exit;
    }
    sl_send_reply("404", "Not here");
    exit;
  }
  if (is_method("REGISTER")) {
    if (!save("location")) {
      sl_reply_error();
    }
    exit;
  }
  if (is_method("INVITE")) {
    record_route();
  }
  if (!lookup("location")) {
    sl_send_reply("404", "Not Found");
    exit;
  }
  t_relay();
}
EOF
  "$KAM" -c -f "$TMP/kam/kamailio.cfg" >"$TMP/kam/check.log" 2>&1 ||
    { cat "$TMP/kam/check.log" >&2; die "kamailio refused the config"; }
  "$KAM" -f "$TMP/kam/kamailio.cfg" -DD -E -m 256 -M 16 \
    -Y "$TMP/kam" -P "$TMP/kam/kamailio.pid" >"$TMP/kam/kamailio.log" 2>&1 &
  KPID=$!
  PIDS+=("$KPID")
  wait_udp "$KPORT" "$KPID" || { tail -20 "$TMP/kam/kamailio.log" >&2; die "kamailio did not start"; }
  sleep 0.5 # its children finish forking
}

# run_sipp TAG PORT SCEN RATE CALLS [INF] -> sets OK FAILED; exit 1 on failure
run_sipp() {
  local tag=$1 port=$2 scen=$3 rate=$4 calls=$5 inf=${6:-} lim rc
  local dir="$TMP/sipp-$tag"
  mkdir -p "$dir"
  lim=$((calls / rate + 30))
  local args=("127.0.0.1:$port" -sf "$HERE/$scen" -i 127.0.0.1 -p "$(free_port)"
              -m "$calls" -r "$rate" -l $((rate * 4)) -nostdin -timeout "${lim}s"
              -trace_stat -stf "$dir/stat.csv" -fd 1)
  [ -n "$inf" ] && args+=(-inf "$inf")
  (cd "$dir" && timeout $((lim + 10)) "$SIPP" "${args[@]}" >"$dir/sipp.out" 2>&1)
  rc=$?
  read -r OK FAILED < <(awk -F';' '
    NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "SuccessfulCall(C)") o = i; if ($i == "FailedCall(C)") f = i } next }
    /;/ { last = $0 }
    END { n = split(last, v, ";"); if (o && f) print v[o] + 0, v[f] + 0; else print 0, 0 }' "$dir/stat.csv" 2>/dev/null)
  OK=${OK:-0}; FAILED=${FAILED:-0}
  if [ "$rc" -gt 1 ] || [ $((OK * 10)) -lt $((calls * 9)) ]; then
    echo "server: $tag: sipp exit $rc, $OK of $calls calls completed, $FAILED failed; its output:" >&2
    tail -30 "$dir/sipp.out" >&2
    exit 1
  fi
}

# measure TAG PID PORT SCEN RATE CALLS [INF] -> prints a row, sets US
measure() {
  local tag=$1 pid=$2 port=$3 scen=$4 rate=$5 calls=$6 inf=${7:-} c0 c1
  c0=$(cpu_ns "$pid")
  run_sipp "$tag" "$port" "$scen" "$rate" "$calls" "$inf"
  c1=$(cpu_ns "$pid")
  US=$(awk -v d=$((c1 - c0)) -v n="$OK" 'BEGIN { printf "%.1f", n ? d / 1000 / n : 0 }')
}

# ratio A B TARGET_NUM TARGET_DEN -> "0.25x, target 1/3: met"
ratio() {
  awk -v a="$1" -v b="$2" -v tn="$3" -v td="$4" 'BEGIN {
    r = b > 0 ? a / b : 0
    printf "%.2fx, target %d/%d: %s", r, tn, td, (r > 0 && r <= tn / td) ? "met" : "MISSED" }'
}

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

median() { tr ' ' '\n' <<<"$1" | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
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
