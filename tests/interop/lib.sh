# Shared by the txn_*.sh interop scripts (bash). Source it after setting
# PEER (the txn_peer binary) and LIMIT (the script's own time limit, in
# seconds). It provides: a work folder removed on exit, processes started
# here and stopped by PID on exit, a watchdog, SIPp start-up on a free port,
# parsers for txn_peer's log and SIPp's -trace_msg file, and ok/bad
# accounting (finish exits 1 when any check failed).

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sipr-interop.XXXXXX")
. "$HERE/../lib/harness.sh"

need_sipp() {
  need sipp sip-tester
}

free_port() {
  "$PEER" --free-port
}

# port_bound udp|tcp PORT: is something bound (UDP) or listening (TCP) there?
port_bound() {
  local hex
  hex=$(printf '%04X' "$2")
  if [ "$1" = udp ]; then
    grep -qE "^ *[0-9]+: [0-9A-F]+:$hex [0-9A-F]+:[0-9A-F]+ 07 " /proc/net/udp /proc/net/udp6 2>/dev/null
  else
    grep -qE "^ *[0-9]+: [0-9A-F]+:$hex [0-9A-F]+:[0-9A-F]+ 0A " /proc/net/tcp /proc/net/tcp6 2>/dev/null
  fi
}

# wait_pid PID SECONDS: waits for PID to end; kills it past SECONDS.
# Returns its exit status (124 when it had to be killed).
wait_pid() {
  local pid=$1 limit=$2 n=0
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$n" -ge $((limit * 20)) ]; then
      kill "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
      return 124
    fi
    sleep 0.05
    n=$((n + 1))
  done
  wait "$pid"
}

# start_sipp_server NAME PROTO(udp|tcp) SCENARIO [ARGS...]: starts SIPp as
# a server on a free port of 127.0.0.1 with a message trace; sets SIPP_PID
# and SIPP_PORT, traces to $WORK/NAME.msg, output to $WORK/NAME.sipp.
start_sipp_server() {
  local name=$1 proto=$2 scen=$3 t n _
  shift 3
  [ "$proto" = udp ] && t=u1 || t=t1
  for _ in 1 2 3 4 5; do
    SIPP_PORT=$(free_port)
    rm -f "$WORK/$name.msg"
    sipp -sf "$HERE/$scen" -t "$t" -i 127.0.0.1 -p "$SIPP_PORT" -m 1 -nostdin \
      -timeout 30s -timeout_error -trace_msg -message_file "$WORK/$name.msg" \
      -trace_err -error_file "$WORK/$name.err" "$@" >"$WORK/$name.sipp" 2>&1 &
    SIPP_PID=$!
    PIDS+=("$SIPP_PID")
    n=0
    while [ $n -lt 100 ] && kill -0 "$SIPP_PID" 2>/dev/null; do
      port_bound "$proto" "$SIPP_PORT" && return 0
      sleep 0.05
      n=$((n + 1))
    done
    kill "$SIPP_PID" 2>/dev/null
    wait "$SIPP_PID" 2>/dev/null
  done
  echo "  FAIL: SIPp did not start ($scen)"
  tail -n 20 "$WORK/$name.sipp"
  return 1
}

# start_peer NAME ARGS...: starts txn_peer in the background; sets PEER_PID
# and PEER_PORT once it printed "PORT n"; log in $WORK/NAME.log.
start_peer() {
  local name=$1 n=0
  shift
  "$PEER" "$@" >"$WORK/$name.log" 2>"$WORK/$name.err" &
  PEER_PID=$!
  PIDS+=("$PEER_PID")
  while [ $n -lt 100 ]; do
    PEER_PORT=$(awk '$1 == "PORT" { print $2; exit }' "$WORK/$name.log")
    [ -n "$PEER_PORT" ] && return 0
    kill -0 "$PEER_PID" 2>/dev/null || break
    sleep 0.05
    n=$((n + 1))
  done
  echo "  FAIL: txn_peer did not start: $*"
  cat "$WORK/$name.err"
  return 1
}

# stop_peer: SIGTERM to txn_peer (it prints its SUMMARY and exits 0).
stop_peer() {
  kill -TERM "$PEER_PID" 2>/dev/null
  wait_pid "$PEER_PID" 5
}

# sipp_msgs FILE received|sent: one line per message of SIPp's -trace_msg
# file, "<ms of the day> <first line>", in order.
sipp_msgs() {
  awk -v want="$2" '
    /^-+ [0-9]+-[0-9]+-[0-9]+ [0-9]+:[0-9]+:[0-9.]+$/ {
      split($3, hms, ":")
      t = (hms[1] * 3600 + hms[2] * 60 + hms[3]) * 1000
      state = 1; next
    }
    state == 1 {
      state = ($0 ~ ("message " want)) ? 2 : 0; next
    }
    state == 2 && /[^\r]/ {
      sub(/\r$/, ""); printf "%.1f %s\n", t, $0; state = 0
    }' "$1"
}

# sipp_headers FILE received|sent HEADER: the values of HEADER in each such
# message, one per line.
sipp_headers() {
  awk -v want="$2" -v hdr="$3" '
    /^-+ [0-9]+-[0-9]+-[0-9]+ [0-9]+:[0-9]+:[0-9.]+$/ { state = 1; next }
    state == 1 { state = ($0 ~ ("message " want)) ? 2 : 0; next }
    state == 2 {
      sub(/\r$/, "")
      if (tolower(substr($0, 1, length(hdr) + 1)) == tolower(hdr ":")) {
        v = substr($0, length(hdr) + 2); sub(/^[ \t]+/, "", v); print v
      }
    }' "$1"
}

# peer_lines LOG KIND [PATTERN]: the lines of txn_peer's LOG of KIND (TX,
# WIRE, RX, ...) whose text after the time matches PATTERN (awk regexp).
peer_lines() {
  awk -v k="$2" -v pat="${3:-.}" '$1 == k { rest = $0; sub(/^[^ ]+ [^ ]+ /, "", rest); if (rest ~ pat) print }' "$1"
}

# summary_field LOG NAME: a field of txn_peer's SUMMARY line.
summary_field() {
  awk -v f="$2" '$1 == "SUMMARY" { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) print kv[2] } }' "$1"
}

# tol_abs / tol_iv: the timing tolerance (ms) for a time E ms after the
# first transmission (max(30 ms, 5%): timers re-armed one after the other
# may each fire a little late) and for an interval of E ms between two
# transmissions (max(30 ms, 25%)).
TOL_ABS='function tol_abs(e) { return e / 20 > 30 ? e / 20 : 30 }'
TOL_IV='function tol_iv(e) { return e / 4 > 30 ? e / 4 : 30 }'

# schedule_check WHO KIND T1 < TIMES: compares the times (ms, one a line)
# at which a request left (or arrived) with the RFC 3261 retransmission
# schedule over UDP: KIND ict, Timer A (intervals T1, 2*T1, 4*T1, ...);
# KIND nict, Timer E (doubling, capped at T2 = 8*T1); transmissions stop
# at 64*T1 (Timer B / F). Prints one ok/FAIL line per check; returns the
# number of failures.
schedule_check() {
  local out rc=0 line
  out=$(awk -v who="$1" -v kind="$2" -v t1="$3" "$TOL_ABS $TOL_IV"'
    { t[n++] = $1 }
    END {
      t2 = 8 * t1; iv = t1; off = 0; m = 0; e[m++] = 0
      while (1) {
        off += iv
        if (off >= 64 * t1) break
        e[m++] = off
        iv = kind == "ict" ? iv * 2 : (iv * 2 > t2 ? t2 : iv * 2)
      }
      if (n == m) printf "ok %s: %d transmissions, as the schedule has\n", who, n
      else printf "FAIL %s: %d transmissions, the schedule has %d\n", who, n, m
      for (i = 1; i < n && i < m; i++) {
        a = t[i] - t[0]; d = t[i] - t[i - 1]; ed = e[i] - e[i - 1]
        good = (a - e[i] <= tol_abs(e[i]) && e[i] - a <= tol_abs(e[i]) &&
                d - ed <= tol_iv(ed) && ed - d <= tol_iv(ed))
        printf "%s %s: copy %d at +%.0f ms (expected +%d +-%d), %.0f ms after the previous (expected %d +-%d)\n",
               good ? "ok" : "FAIL", who, i, a, e[i], tol_abs(e[i]), d, ed, tol_iv(ed)
      }
    }')
  while IFS= read -r line; do
    case $line in
    ok\ *) ok "${line#ok }" ;;
    *) bad "${line#FAIL }"; rc=$((rc + 1)) ;;
    esac
  done <<<"$out"
  return $rc
}

# near WHO ACTUAL EXPECTED: ACTUAL within tol_abs(EXPECTED) of EXPECTED.
near() {
  if awk -v a="$2" -v e="$3" "$TOL_ABS"' BEGIN { exit !(a - e <= tol_abs(e) && e - a <= tol_abs(e)) }'; then
    ok "$1 at +$2 ms (expected +$3)"
  else
    bad "$1 at +$2 ms, expected +$3 +-$(awk -v e="$3" "$TOL_ABS"' BEGIN { print tol_abs(e) }')"
  fi
}
