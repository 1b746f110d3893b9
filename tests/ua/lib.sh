# Shared by the tests/ua scripts (bash): the sipr UA commands against real
# peers on loopback. Reuses tests/server/lib.sh (work folder, PIDs stopped
# on exit, watchdog, ok/bad accounting, free_port, start_server for
# `sipr serve`), then adds SIPp helpers with this folder's scenarios.
# Source it after setting SIPR and LIMIT.
UA_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$UA_DIR/../server/lib.sh"
need sipp sip-tester

# sipp_uas NAME SCENARIO PORT [ARGS...]: SIPp in the background as a UAS
# on udp 127.0.0.1:PORT with a message trace ($WORK/NAME.msg); sets
# SIPP_PID. Waits until the port is bound.
sipp_uas() {
  local name=$1 scen=$2 port=$3 n=0
  shift 3
  sipp -sf "$UA_DIR/$scen" -i 127.0.0.1 -p "$port" -m 1 -nostdin \
    -timeout 30s -trace_msg -message_file "$WORK/$name.msg" \
    -trace_err -error_file "$WORK/$name.err" "$@" >"$WORK/$name.sipp" 2>&1 &
  SIPP_PID=$!
  PIDS+=("$SIPP_PID")
  while [ $n -lt 100 ] && ! port_bound udp "$port"; do
    sleep 0.05
    n=$((n + 1))
  done
}

# sipp_uac NAME SCENARIO TARGET [ARGS...]: SIPp as a UAC to TARGET
# (host:port) in the background; sets SIPP_PID.
sipp_uac() {
  local name=$1 scen=$2 target=$3
  shift 3
  sipp "$target" -sf "$UA_DIR/$scen" -i 127.0.0.1 -p "$(free_port)" -m 1 -nostdin \
    -timeout 30s -trace_msg -message_file "$WORK/$name.msg" \
    -trace_err -error_file "$WORK/$name.err" "$@" >"$WORK/$name.sipp" 2>&1 &
  SIPP_PID=$!
  PIDS+=("$SIPP_PID")
}

# sipp_wait NAME: SIPp's exit status (0: its scenario passed), after at
# most 30 s; prints its errors when it failed.
sipp_wait() {
  wait_pid "$SIPP_PID" 30
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "    (sipp $1 exited $rc)"
    tail -5 "$WORK/$1.err" 2>/dev/null | sed 's/^/    /'
  fi
  return $rc
}

# show FILE: prints a command's output indented (after a failure).
show() {
  sed 's/^/    | /' "$1"
}
