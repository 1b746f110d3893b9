#!/bin/bash
# Interop (RFC 3261 §17.1.1.2-3, §17.1.2.2): our client transactions
# against SIPp UASs that answer (T1 = 50 ms, T4 = 10*T1, Timer D = 64*T1).
#   - INVITE answered 180 then 486: the TU sees 180 and 486 once each; the
#     ACK goes out with the INVITE's branch, Request-URI, From, Call-ID and
#     CSeq number and the 486's To; over UDP SIPp sends the 486 again and
#     must get a second ACK, the copy not reaching the TU; the transaction
#     ends by Timer D (64*T1 over UDP, at once over TCP).
#   - OPTIONS answered 200 twice: the TU sees one 200; the transaction ends
#     by Timer K (T4 over UDP, at once over TCP).
# Usage: txn_uac_answered.sh PATH/TO/txn_peer
set -u
PEER=$1
LIMIT=60
. "$(dirname "$0")/lib.sh"
need_sipp
T1=50

count() { wc -l | tr -d ' '; }

run_case() {
  local proto=$1 method=$2 scen=$3 expect=$4 name="ans-$1-$2" rc
  echo "== $method over $proto to a SIPp UAS that answers $expect"
  start_sipp_server "$name" "$proto" "$scen" -nr || { bad "SIPp did not start"; return; }
  "$PEER" --listen "$proto:127.0.0.1:0" --t1 "$T1" --uac "$method" \
    --to "$proto:127.0.0.1:$SIPP_PORT" --expect "$expect" --linger 600 \
    >"$WORK/$name.log" 2>"$WORK/$name.err" &
  local pid=$!
  PIDS+=("$pid")
  wait_pid "$pid" 20
  rc=$?
  eq "txn_peer ended with the expected outcome ($expect)" "$rc" 0
  wait_pid "$SIPP_PID" 20
  eq "SIPp's scenario completed (exit status)" "$?" 0
  LOG=$WORK/$name.log
  MSG=$WORK/$name.msg
  eq "$method sent once" "$(peer_lines "$LOG" TX "^$method " | count)" 1
  eq "no transport error" "$(peer_lines "$LOG" TPERROR | count)" 0
}

# term_after LOG WHAT EXPECTED_MS: the time from the final response to the
# transaction's end.
term_after() {
  local t_rx t_end
  t_rx=$(awk '$1 == "RX" && $3 >= 200 { print $2; exit }' "$1")
  t_end=$(awk '$1 == "TERMINATED" { print $2; exit }' "$1")
  if [ -n "$t_rx" ] && [ -n "$t_end" ]; then
    near "$2" "$((t_end - t_rx))" "$3"
  else
    bad "$2: no final response or no termination"
  fi
}

invite_case() {
  local proto=$1 acks=2 scen=uas_invite_486.xml
  [ "$proto" = tcp ] && acks=1 scen=uas_invite_486_once.xml
  run_case "$proto" INVITE "$scen" 486
  eq "no stray response" "$(peer_lines "$LOG" STRAY | count)" 0
  eq "the TU got one 180" "$(peer_lines "$LOG" RX '^180$' | count)" 1
  eq "the TU got one 486" "$(peer_lines "$LOG" RX '^486$' | count)" 1
  eq "ACK sent once per 486 received" "$(peer_lines "$LOG" TX '^ACK ' | count)" "$acks"
  eq "SIPp received $acks ACK(s)" "$(sipp_msgs "$MSG" received | grep -c ' ACK ')" "$acks"
  local inv_ruri ack_ruri
  inv_ruri=$(sipp_msgs "$MSG" received | awk '$2 == "INVITE" { print $3; exit }')
  ack_ruri=$(sipp_msgs "$MSG" received | awk '$2 == "ACK" { print $3; exit }')
  eq "the ACK has the INVITE's Request-URI" "$ack_ruri" "$inv_ruri"
  eq "the ACK has the INVITE's Via (one Via value in all requests)" \
    "$(sipp_headers "$MSG" received Via | sort -u | count)" 1
  eq "the ACK has the INVITE's From and Call-ID" \
    "$(sipp_headers "$MSG" received From | sort -u | count)/$(sipp_headers "$MSG" received Call-ID | sort -u | count)" "1/1"
  eq "the ACK's CSeq" "$(sipp_headers "$MSG" received CSeq | sort -u | tr '\n' ',')" "1 ACK,1 INVITE,"
  check "the ACK's To carries the 486's tag" \
    grep -q 'tag=.*SIPpTag01' <<<"$(sipp_headers "$MSG" received To | tail -n 1)"
  if [ "$proto" = udp ]; then
    term_after "$LOG" "Timer D (64*T1 over UDP) ended the transaction" $((64 * T1))
  else
    term_after "$LOG" "Timer D (0 over TCP) ended the transaction" 0
  fi
  [ "$FAILS" -ne 0 ] && { cat "$LOG"; tail -n 15 "$WORK/ans-$proto-INVITE.sipp"; }
}

options_case() {
  local proto=$1
  run_case "$proto" OPTIONS uas_options_200.xml 200
  eq "the TU got one 200 (the copy absorbed)" "$(peer_lines "$LOG" RX '^200$' | count)" 1
  if [ "$proto" = udp ]; then
    eq "the copy reached the transaction layer" "$(peer_lines "$LOG" WIRE ' SIP/2.0 200 ' | count)" 2
    eq "no stray response (the copy matched the transaction)" "$(peer_lines "$LOG" STRAY | count)" 0
    term_after "$LOG" "Timer K (T4 over UDP) ended the transaction" $((10 * T1))
  else
    # Timer K is zero: the copy finds the transaction or, a moment later,
    # none (a stray response, dropped); either way the TU sees one 200.
    term_after "$LOG" "Timer K (0 over TCP) ended the transaction" 0
  fi
  [ "$FAILS" -ne 0 ] && { cat "$LOG"; tail -n 15 "$WORK/ans-$proto-OPTIONS.sipp"; }
}

invite_case udp
invite_case tcp
options_case udp
options_case tcp
finish
