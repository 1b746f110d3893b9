# bench/lib.sh: what bench/server.sh and bench/proxy.sh share: checks for
# the peers, a work folder and the PIDs stopped on exit, free ports, CPU
# time of a process tree from /proc, Kamailio with an equivalent
# configuration (registrar, usrloc in memory, tm + rr for proxying), SIPp
# runs with their completed/failed counts. Sourced after BENCH (the name
# printed in messages) and SIPR are set.
die() { echo "$BENCH: $*" >&2; exit 1; }
[ -n "$SIPR" ] && [ -x "$SIPR" ] || die "usage: bench/$BENCH.sh PATH/TO/sipr (missing sipr)"
SIPP=$(command -v sipp) || die "sipp missing (scripts/deps.sh installs sip-tester)"
source "$(dirname "${BASH_SOURCE[0]}")/../tests/lib/kamailio.sh"
kamailio_find || die "Kamailio missing (scripts/deps.sh installs kamailio)"
command -v python3 >/dev/null || die "python3 missing"

TMP=$(mktemp -d /tmp/sipr-bench-$BENCH.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  [ -n "${KEEP_TMP:-}" ] && echo "$BENCH: work folder kept: $TMP" >&2 || rm -rf "$TMP"
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
  kamailio_cfg "$TMP/kam/kamailio.cfg" "$KPORT" "$KAM_CHILDREN"
  "$KAM" -c -f "$TMP/kam/kamailio.cfg" >"$TMP/kam/check.log" 2>&1 ||
    { cat "$TMP/kam/check.log" >&2; die "kamailio refused the config"; }
  "$KAM" -f "$TMP/kam/kamailio.cfg" -DD -E -m 256 -M 16 \
    -Y "$TMP/kam" -P "$TMP/kam/kamailio.pid" >"$TMP/kam/kamailio.log" 2>&1 &
  KPID=$!
  PIDS+=("$KPID")
  wait_udp "$KPORT" "$KPID" || { tail -20 "$TMP/kam/kamailio.log" >&2; die "kamailio did not start"; }
  sleep 0.5 # its children finish forking
}

# Extra SIPp arguments for the next runs (e.g. -s SERVICE); SIPP_TOLERATE=1:
# a run that completes too few calls is reported in OK/FAILED, not fatal.
SIPP_EXTRA=()
SIPP_TOLERATE=0
# run_sipp TAG PORT SCEN RATE CALLS [INF] -> sets OK FAILED; exit 1 on failure
run_sipp() {
  local tag=$1 port=$2 scen=$3 rate=$4 calls=$5 inf=${6:-} lim rc
  local dir="$TMP/sipp-$tag"
  mkdir -p "$dir"
  lim=$((calls / rate + 30))
  local args=("127.0.0.1:$port" -sf "$HERE/$scen" -i 127.0.0.1 -p "$(free_port)"
              -m "$calls" -r "$rate" -l $((rate * 4)) -nostdin -timeout "${lim}s"
              -trace_stat -stf "$dir/stat.csv" -fd 1 -trace_err)
  [ -n "$inf" ] && args+=(-inf "$inf")
  args+=("${SIPP_EXTRA[@]}")
  (cd "$dir" && timeout $((lim + 10)) "$SIPP" "${args[@]}" >"$dir/sipp.out" 2>&1)
  rc=$?
  read -r OK FAILED < <(awk -F';' '
    NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "SuccessfulCall(C)") o = i; if ($i == "FailedCall(C)") f = i } next }
    /;/ { last = $0 }
    END { n = split(last, v, ";"); if (o && f) print v[o] + 0, v[f] + 0; else print 0, 0 }' "$dir/stat.csv" 2>/dev/null)
  OK=${OK:-0}; FAILED=${FAILED:-0}
  if [ "$SIPP_TOLERATE" = 0 ] && { [ "$rc" -gt 1 ] || [ $((OK * 10)) -lt $((calls * 9)) ]; }; then
    echo "$BENCH: $tag: sipp exit $rc, $OK of $calls calls completed, $FAILED failed; its output:" >&2
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


# median "v1 v2 ...": the median of the values.
median() { tr ' ' '\n' <<<"$1" | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
