#!/bin/bash
# Interop (RFC 3581, RFC 3261 §18.2.1/§18.2.2): a SIPp UAC sends OPTIONS
# to txn_peer --uas with "Via: SIP/2.0/UDP 127.0.0.1:9;...;rport", a port
# SIPp does not listen on. The 200 must reach SIPp at the port the request
# came from, and its Via must keep the sent-by and carry
# received=127.0.0.1 and rport=<that port>. Over TCP the same Via (TCP) is
# answered on the connection, with the same parameters.
# Usage: txn_rport.sh PATH/TO/txn_peer
set -u
PEER=$1
LIMIT=60
. "$(dirname "$0")/lib.sh"
need_sipp

run_case() {
  local proto=$1 name="rport-$1" t sport src via
  [ "$proto" = udp ] && t=u1 || t=t1
  echo "== OPTIONS over $proto with Via 127.0.0.1:9;rport"
  start_peer "$name" --listen udp:127.0.0.1:0 --listen tcp:127.0.0.1:0 --t1 100 --uas ||
    { bad "txn_peer did not start"; return; }
  sport=$(free_port)
  sipp "127.0.0.1:$PEER_PORT" -sf "$HERE/uac_rport.xml" -t "$t" -i 127.0.0.1 \
    -p "$sport" -m 1 -nostdin -timeout 10s -timeout_error -trace_msg \
    -message_file "$WORK/$name.msg" -trace_logs -log_file "$WORK/$name.sipplog" \
    >"$WORK/$name.sipp" 2>&1 &
  local spid=$!
  PIDS+=("$spid")
  wait_pid "$spid" 15
  eq "SIPp received the 200 and found received= and rport= in its Via (exit status)" "$?" 0
  stop_peer
  local log=$WORK/$name.log msg=$WORK/$name.msg
  src=$(awk '$1 == "WIRE" && $4 == "OPTIONS" { print $3; exit }' "$log")
  src=${src##*:}
  [ "$proto" = udp ] &&
    eq "the request came from SIPp's port" "$src" "$sport"
  eq "the TU saw the OPTIONS once" "$(peer_lines "$log" TU OPTIONS | wc -l | tr -d ' ')" 1
  via=$(sipp_headers "$msg" received Via | head -n 1)
  echo "  (the 200's Via: $via)"
  local T
  T=$(tr '[:lower:]' '[:upper:]' <<<"$proto")
  check "the Via keeps its sent-by 127.0.0.1:9" grep -q "^SIP/2.0/$T 127.0.0.1:9;" <<<"$via"
  check "the Via has received=127.0.0.1" grep -qE "(^|;)received=127\.0\.0\.1(;|$)" <<<"$via"
  check "the Via has rport=$src (the request's source port)" grep -qE "(^|;)rport=$src(;|$)" <<<"$via"
  check "the Via keeps the branch" grep -qE ";branch=z9hG4bK-rport-" <<<"$via"
  eq "SIPp received exactly one 200" "$(sipp_msgs "$msg" received | grep -c ' SIP/2.0 200 ')" 1
  eq "txn_peer had no send error" "$(summary_field "$log" tx_errors)" 0
  if [ "$FAILS" -ne 0 ]; then
    echo "---- txn_peer log"; cat "$log"
    echo "---- SIPp"; tail -n 20 "$WORK/$name.sipp"; cat "$WORK/$name.sipplog" 2>/dev/null
  fi
}

run_case udp
run_case tcp
finish
