#!/bin/bash
# Interop (RFC 3261 §17.1.1.2, §17.1.2.2): our client transactions against
# a SIPp UAS that receives the request and never answers, with T1 scaled
# down to 50 ms (T2 = 8*T1). Over UDP the INVITE must be retransmitted on
# Timer A (0, T1, 3T1, 7T1, ...) and the OPTIONS on Timer E (doubling,
# capped at T2), both checked from txn_peer's send log and from SIPp's
# message trace, until Timer B / F reports the timeout at 64*T1. Over TCP
# there must be exactly one transmission and the same timeout.
# Usage: txn_uac_timers.sh PATH/TO/txn_peer
set -u
PEER=$1
LIMIT=100
. "$(dirname "$0")/lib.sh"
need_sipp
T1=50

run_case() {
  local proto=$1 method=$2 kind=$3 name="uac-$1-$2" rc t0 t_to
  echo "== $method over $proto to a SIPp UAS that never answers (T1=$T1 ms)"
  start_sipp_server "$name" "$proto" uas_silent.xml || { bad "SIPp did not start"; return; }
  "$PEER" --listen "$proto:127.0.0.1:0" --t1 "$T1" --uac "$method" \
    --to "$proto:127.0.0.1:$SIPP_PORT" --expect timeout --linger 600 \
    >"$WORK/$name.log" 2>"$WORK/$name.err" &
  local pid=$!
  PIDS+=("$pid")
  wait_pid "$pid" 20
  rc=$?
  eq "txn_peer ended with the expected outcome (timeout)" "$rc" 0
  wait_pid "$SIPP_PID" 20
  eq "SIPp exit status" "$?" 0
  local log=$WORK/$name.log msg=$WORK/$name.msg
  local tx sipp_rx
  tx=$(peer_lines "$log" TX "^$method " | awk '{ print $2 }')
  sipp_rx=$(sipp_msgs "$msg" received | awk -v m="$method" '$2 == m { print $1 }')
  eq "txn_peer received no response" "$(peer_lines "$log" RX | wc -l)" 0
  eq "no transport error" "$(peer_lines "$log" TPERROR | wc -l)" 0
  if [ "$proto" = udp ]; then
    schedule_check "txn_peer sent $method" "$kind" "$T1" <<<"$tx"
    schedule_check "SIPp received $method" "$kind" "$T1" <<<"$sipp_rx"
    eq "every copy SIPp received is the same message (one size)" \
      "$(grep -c 'message received' "$msg" | tr -d ' ')/$(grep 'message received' "$msg" | sort -u | wc -l)" \
      "$(wc -l <<<"$sipp_rx" | tr -d ' ')/1"
    eq "every copy carries the same Via (branch)" \
      "$(sipp_headers "$msg" received Via | sort -u | wc -l)" 1
  else
    eq "txn_peer sent the $method once (no retransmission over TCP)" "$(wc -l <<<"$tx" | tr -d ' ')" 1
    eq "SIPp received it once" "$(wc -l <<<"$sipp_rx" | tr -d ' ')" 1
  fi
  t0=$(head -n 1 <<<"$tx")
  t_to=$(awk '$1 == "TIMEOUT" { print $2; exit }' "$log")
  if [ -n "$t_to" ] && [ -n "$t0" ]; then
    near "Timer $([ "$kind" = ict ] && echo B || echo F) timeout" "$((t_to - t0))" "$((64 * T1))"
  else
    bad "no TIMEOUT reported"
  fi
  check "the transaction terminated after the timeout" \
    awk '$1 == "TIMEOUT" { to = 1 } $1 == "TERMINATED" && to { t = 1 } END { exit !t }' "$log"
  if [ "$FAILS" -ne 0 ]; then
    echo "---- txn_peer log"; cat "$log" "$WORK/$name.err"
    echo "---- SIPp"; tail -n 15 "$WORK/$name.sipp"
  fi
}

run_case udp INVITE ict
run_case udp OPTIONS nict
run_case tcp INVITE ict
run_case tcp OPTIONS nict
finish
