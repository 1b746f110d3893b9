#!/bin/bash
# Interop (RFC 3261 §17.1.4): a client transaction whose TCP connection
# fails is told at once (transport error, Terminated), not after Timer B/F
# (64*T1). Two real failures on 127.0.0.1: a connection refused (nothing
# listens), and a peer that reads the request and closes the connection.
# Usage: txn_tcp_fail.sh PATH/TO/txn_peer
set -u
PEER=$1
LIMIT=60
. "$(dirname "$0")/lib.sh"

# The client's T1 is the RFC default (500 ms): a timeout would take 32 s.
run_uac() {
  local name=$1 port=$2 method=$3
  "$PEER" --listen tcp:127.0.0.1:0 --uac "$method" --to "tcp:127.0.0.1:$port" \
    --expect tperror --run 10000 >"$WORK/$name.log" 2>"$WORK/$name.err" &
  local pid=$!
  PIDS+=("$pid")
  wait_pid "$pid" 15
  local rc=$?
  eq "$name: txn_peer saw the transport error (exit status)" "$rc" 0
  local at
  at=$(awk '$1 == "TPERROR" { print $2; exit }' "$WORK/$name.log")
  if [ -n "$at" ] && [ "$at" -lt 2000 ]; then
    ok "$name: transport error after ${at} ms, long before Timer B/F (32000 ms)"
  else
    bad "$name: no early transport error (TPERROR at '${at:-none}')"
    cat "$WORK/$name.log" "$WORK/$name.err"
  fi
}

echo "== connection refused"
closed=$(free_port)
run_uac refused-invite "$closed" INVITE
run_uac refused-options "$closed" OPTIONS

echo "== the peer reads the request and closes"
command -v python3 >/dev/null 2>&1 || { bad "python3 is required (scripts/deps.sh installs it)"; finish; }
port=$(free_port)
python3 - "$port" >"$WORK/closer.log" 2>&1 <<'PY' &
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(4)
s.settimeout(20)
for _ in range(2):
    c, _ = s.accept()
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = c.recv(4096)
        if not chunk:
            break
        data += chunk
    print(data.split(b"\r\n")[0].decode(), flush=True)
    c.close()
PY
PIDS+=($!)
n=0
until port_bound tcp "$port" || [ $n -ge 100 ]; do sleep 0.05; n=$((n + 1)); done
run_uac closed-invite "$port" INVITE
run_uac closed-options "$port" OPTIONS
eq "the peer read both requests" "$(grep -c 'SIP/2.0' "$WORK/closer.log")" 2
finish
