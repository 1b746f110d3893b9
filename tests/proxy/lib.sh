# Shared by the proxy_*.sh interop scripts (bash): `sipr serve` instances
# on free loopback ports (each with its own store and domains) and
# SIPp callers, callees and REGISTERs through them. Source it after
# setting SIPR and LIMIT. Builds on tests/server/lib.sh (work folder,
# harness, free_port, port_bound, wait_pid). A missing peer is a failure.

PROXY_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$PROXY_HERE/../server/lib.sh"
HERE=$PROXY_HERE
need sipp sip-tester

# start_proxy NAME PORT [ARGS...]: `sipr serve` on udp+tcp 127.0.0.1:PORT
# with the memory store (ARGS may name another: a first SQLite commit on a
# busy disk can outlast SIPp's retransmissions), 2 workers and ARGS; its
# stderr in
# $WORK/NAME.log; its PID in PID_NAME. Returns 1 when it did not come up.
start_proxy() {
  local name=$1 port=$2 n=0 pid
  shift 2
  "$SIPR" serve --listen "udp:127.0.0.1:$port" --listen "tcp:127.0.0.1:$port" \
    --store memory --workers 2 "$@" \
    >"$WORK/$name.out" 2>"$WORK/$name.log" &
  pid=$!
  PIDS+=("$pid")
  printf -v "PID_$name" '%s' "$pid"
  while [ $n -lt 200 ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "  FAIL: sipr serve ($name) exited at start:"
      sed 's/^/    /' "$WORK/$name.log"
      return 1
    fi
    if grep -q 'workers:' "$WORK/$name.log" && port_bound udp "$port" &&
      port_bound tcp "$port"; then
      return 0
    fi
    sleep 0.05
    n=$((n + 1))
  done
  echo "  FAIL: sipr serve ($name) did not come up within 10 s"
  return 1
}

# stop_proxy NAME: SIGTERM; checks it exits 0 within 5 s.
stop_proxy() {
  local v="PID_$1"
  kill -TERM "${!v}" 2>/dev/null
  wait_pid "${!v}" 5
  eq "sipr serve ($1) exits 0 on SIGTERM" "$?" 0
}

# scen TEMPLATE KEY=VALUE...: a copy of TEMPLATE in $WORK with @KEY@
# replaced; prints its path.
scen() {
  local src=$1 out
  shift
  out="$WORK/$(basename "$src" .xml)"
  local args=()
  for kv in "$@"; do
    out="$out-${kv#*=}"
    args+=(-e "s|@${kv%%=*}@|${kv#*=}|g")
  done
  out="${out// /_}.xml"
  sed "${args[@]}" "$HERE/$src" >"$out"
  echo "$out"
}

# uas NAME SCENARIO PORT [ARGS...]: a SIPp callee in the background on
# 127.0.0.1:PORT for one call (trace in $WORK/NAME.msg); PID in UAS_NAME.
uas() {
  local name=$1 sf=$2 port=$3 n=0 pid
  shift 3
  case $sf in /*) ;; *) sf="$HERE/$sf" ;; esac
  sipp -sf "$sf" -i 127.0.0.1 -p "$port" -m 1 -nostdin -timeout 60s \
    -trace_msg -message_file "$WORK/$name.msg" -trace_err \
    -error_file "$WORK/$name.err" "$@" >"$WORK/$name.sipp" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  printf -v "UAS_$name" '%s' "$pid"
  while [ $n -lt 100 ] && ! port_bound udp "$port"; do
    sleep 0.05
    n=$((n + 1))
  done
}

# uas_wait NAME [SECONDS]: the callee's exit status (124: still running,
# killed).
uas_wait() {
  local v="UAS_$1"
  wait_pid "${!v}" "${2:-20}"
}

# uac NAME SCENARIO PROXY_PORT [ARGS...]: a SIPp caller in the foreground
# from a free port, one call, to the proxy; returns SIPp's status.
uac() {
  local name=$1 sf=$2 pport=$3 lport
  shift 3
  case $sf in /*) ;; *) sf="$HERE/$sf" ;; esac
  lport=$(free_port)
  sipp "127.0.0.1:$pport" -sf "$sf" -i 127.0.0.1 -p "$lport" -m 1 -nostdin \
    -timeout 60s -trace_msg -message_file "$WORK/$name.msg" -trace_err \
    -error_file "$WORK/$name.err" "$@" >"$WORK/$name.sipp" 2>&1
}

# register USER CONTACT_PORT PROXY_PORT [Q [DOMAIN]]: binds
# sip:USER@DOMAIN (default 127.0.0.1) to sip:USER@127.0.0.1:CONTACT_PORT
# (q=Q, default 1.0) at the proxy.
register() {
  uac "reg-$1-$2" reg.xml "$3" -key user "$1" -key cport "$2" \
    -key q "${4:-1.0}" -key domain "${5:-127.0.0.1}"
}

# received NAME METHOD-OR-STATUS: the messages of that first line SIPp
# NAME received, one after another (separated by "====").
received() {
  sipp_received_msgs "$WORK/$1.msg" | awk -v want="$2" '
    BEGIN { first = 1 }
    /^====$/ { if (keep) print "===="; keep = 0; first = 1; next }
    first && $0 == "" { next }
    first { keep = (index($0, want " ") == 1 || $2 == want); first = 0 }
    keep { print }'
}

# dump_logs NAME...: the server logs and SIPp errors, when a check failed.
dump_logs() {
  [ "$FAILS" -ne 0 ] || return 0
  local n
  for n in "$@"; do
    [ -f "$WORK/$n.log" ] && { echo "--- $n.log"; tail -n 30 "$WORK/$n.log"; }
    [ -s "$WORK/$n.err" ] && { echo "--- $n.err"; tail -n 30 "$WORK/$n.err"; }
    [ -f "$WORK/$n.sipp" ] && { echo "--- $n.sipp"; tail -n 5 "$WORK/$n.sipp"; }
  done
  return 0
}
