#!/bin/bash
# Interop (RFC 3261 §17.2.1, §17.2.2, §17.2.3): our server transactions
# against SIPp UACs that retransmit. txn_peer --uas answers INVITE with 180
# at once and 486 after 300 ms, OPTIONS with 200 after 300 ms (T1 = 100 ms).
#   - by hand (SIPp -nr, the same message sent again, same branch), over
#     UDP and TCP: the INVITE again in Proceeding gets the 180 again, in
#     Completed the 486 again; the ACK (same branch) is absorbed and ends
#     the transaction by Timer I, not H; the OPTIONS again in Trying gets
#     nothing, in Completed (UDP) the 200 again;
#   - by SIPp's own retransmission timers (UDP, 40 ms), with the TU silent
#     for 300 ms: the copies are absorbed, the INVITE server transaction
#     sends 100 (Trying) itself after 200 ms.
# Each time the TU must see the request exactly once.
# Usage: txn_uas_retrans.sh PATH/TO/txn_peer
set -u
PEER=$1
LIMIT=100
. "$(dirname "$0")/lib.sh"
need_sipp
T1=100

# wait_line LOG AWK-CONDITION SECONDS: waits until a line of LOG matches.
wait_line() {
  local n=0
  while [ $n -lt $(($3 * 20)) ]; do
    awk "$2 { f = 1 } END { exit !f }" "$1" && return 0
    sleep 0.05
    n=$((n + 1))
  done
  return 1
}

# run_uas NAME PROTO SCENARIO "SIPP ARGS" PEER ARGS...: starts txn_peer
# --uas and a SIPp UAC on it, waits for SIPp; sets LOG, MSG, SIPP_RC.
run_uas() {
  local name=$1 proto=$2 scen=$3 sargs=$4 t
  shift 4
  [ "$proto" = udp ] && t=u1 || t=t1
  LOG=$WORK/$name.log
  MSG=$WORK/$name.msg
  start_peer "$name" --listen "udp:127.0.0.1:0" --listen "tcp:127.0.0.1:0" \
    --t1 "$T1" --uas "$@" || { SIPP_RC=99; return 1; }
  # shellcheck disable=SC2086
  sipp "127.0.0.1:$PEER_PORT" -sf "$HERE/$scen" -t "$t" -i 127.0.0.1 \
    -p "$(free_port)" -m 1 -nostdin -timeout 20s -timeout_error \
    -trace_msg -message_file "$MSG" $sargs >"$WORK/$name.sipp" 2>&1 &
  local spid=$!
  PIDS+=("$spid")
  wait_pid "$spid" 25
  SIPP_RC=$?
}

show_logs() {
  if [ "$FAILS" -ne 0 ]; then
    echo "---- txn_peer log"; cat "$LOG"
    echo "---- SIPp"; tail -n 25 "$WORK/$1.sipp"
  fi
}

count() { wc -l | tr -d ' '; }

# ---- INVITE, retransmitted by hand ----
invite_by_hand() {
  local proto=$1 name="inv-hand-$1"
  echo "== INVITE over $proto, sent again by SIPp in Proceeding and in Completed"
  run_uas "$name" "$proto" uac_invite_retrans.xml "-nr" --delay 300
  eq "SIPp got 180, 180 again, 486, 486 again (exit status)" "$SIPP_RC" 0
  check "the IST ended by Timer I after the ACK" \
    wait_line "$LOG" '$1 == "TERMINATED" && $3 == "ist"' 5
  stop_peer
  eq "INVITE copies that reached the transaction layer" "$(peer_lines "$LOG" WIRE ' INVITE ' | count)" 3
  eq "the TU saw the INVITE once" "$(peer_lines "$LOG" TU INVITE | count)" 1
  eq "tu_requests" "$(summary_field "$LOG" tu_requests)" 1
  eq "retransmissions absorbed by the IST" "$(summary_field "$LOG" absorbed)" 2
  eq "180 sent twice (the copy in Proceeding got the last provisional)" \
    "$(peer_lines "$LOG" TX '^SIP/2.0 180 ' | count)" 2
  local n486
  n486=$(peer_lines "$LOG" TX '^SIP/2.0 486 ' | count)
  if [ "$proto" = udp ]; then
    check "486 sent at least twice (the copy in Completed got it again; $n486)" [ "$n486" -ge 2 ]
  else
    eq "486 sent twice, no Timer G over TCP" "$n486" 2
  fi
  eq "SIPp received the 180 twice" "$(sipp_msgs "$MSG" received | grep -c ' SIP/2.0 180 ')" 2
  check "SIPp received the 486 at least twice" \
    [ "$(sipp_msgs "$MSG" received | grep -c ' SIP/2.0 486 ')" -ge 2 ]
  eq "every response carries the same To tag" "$(sipp_headers "$MSG" received To | sort -u | count)" 1
  eq "the ACK was absorbed by the IST (none passed up)" "$(summary_field "$LOG" acks_2xx)" 0
  eq "no Timer H timeout" "$(summary_field "$LOG" timeouts)" 0
  local t_ack t_end
  t_ack=$(awk '$1 == "WIRE" && $4 == "ACK" { print $2; exit }' "$LOG")
  t_end=$(awk '$1 == "TERMINATED" && $3 == "ist" { print $2; exit }' "$LOG")
  if [ -n "$t_ack" ] && [ -n "$t_end" ]; then
    if [ "$proto" = udp ]; then
      near "Timer I (T4 = 10*T1 over UDP) after the ACK" "$((t_end - t_ack))" $((10 * T1))
    else
      near "Timer I (0 over TCP) after the ACK" "$((t_end - t_ack))" 0
    fi
  else
    bad "no ACK received or the IST did not terminate"
  fi
  show_logs "$name"
}

# ---- OPTIONS, retransmitted by hand ----
options_by_hand() {
  local proto=$1 name="opt-hand-$1" scen t_tu t_tx
  if [ "$proto" = udp ]; then
    echo "== OPTIONS over udp, sent again by SIPp in Trying and twice in Completed"
    scen=uac_options_retrans.xml
  else
    echo "== OPTIONS over tcp, sent again by SIPp in Trying"
    scen=uac_options_trying.xml
  fi
  run_uas "$name" "$proto" "$scen" "-nr" --delay 300
  eq "SIPp got every 200 it waited for (exit status)" "$SIPP_RC" 0
  [ "$proto" = tcp ] && check "the NIST ended at once (Timer J = 0 over TCP)" \
    wait_line "$LOG" '$1 == "TERMINATED" && $3 == "nist"' 5
  stop_peer
  local copies=4 finals=3
  [ "$proto" = tcp ] && copies=2 finals=1
  eq "OPTIONS copies that reached the transaction layer" "$(peer_lines "$LOG" WIRE ' OPTIONS ' | count)" "$copies"
  eq "the TU saw the OPTIONS once" "$(peer_lines "$LOG" TU OPTIONS | count)" 1
  eq "retransmissions absorbed by the NIST" "$(summary_field "$LOG" absorbed)" $((copies - 1))
  eq "200 sent once, then once per copy in Completed" "$(peer_lines "$LOG" TX '^SIP/2.0 200 ' | count)" "$finals"
  eq "nothing else sent (Trying absorbs silently)" "$(peer_lines "$LOG" TX | count)" "$finals"
  t_tu=$(awk '$1 == "TU" { print $2; exit }' "$LOG")
  t_tx=$(awk '$1 == "TX" { print $2; exit }' "$LOG")
  check "the first 200 left when the TU answered, $((t_tx - t_tu)) ms after the request (--delay 300)" \
    [ $((t_tx - t_tu)) -ge 270 ]
  eq "SIPp received the 200 $finals time(s)" "$(sipp_msgs "$MSG" received | grep -c ' SIP/2.0 200 ')" "$finals"
  show_logs "$name"
}

# ---- SIPp's own retransmissions (UDP) ----
invite_sipp_timers() {
  local name=inv-sipp-udp sent t_tu t_100 after
  echo "== INVITE over udp retransmitted by SIPp's timers (40 ms) while the TU is silent"
  run_uas "$name" udp uac_invite_sipp_retrans.xml "" --delay 300 --ring -1
  eq "SIPp got 100 and 486 and sent the ACK (exit status)" "$SIPP_RC" 0
  check "the IST ended by Timer I after the ACK" \
    wait_line "$LOG" '$1 == "TERMINATED" && $3 == "ist"' 5
  stop_peer
  sent=$(sipp_msgs "$MSG" sent | grep -c ' INVITE ')
  check "SIPp sent the INVITE more than once ($sent)" [ "$sent" -ge 2 ]
  eq "every copy reached the transaction layer" "$(peer_lines "$LOG" WIRE ' INVITE ' | count)" "$sent"
  eq "the TU saw the INVITE once" "$(peer_lines "$LOG" TU INVITE | count)" 1
  eq "retransmissions absorbed by the IST" "$(summary_field "$LOG" absorbed)" $((sent - 1))
  t_tu=$(awk '$1 == "TU" { print $2; exit }' "$LOG")
  t_100=$(awk '$1 == "TX" && $4 == "100" { print $2; exit }' "$LOG")
  if [ -n "$t_100" ]; then
    near "100 (Trying) from the IST, the TU being silent (§17.2.1: 200 ms)" "$((t_100 - t_tu))" 200
    after=$(awk -v t="$t_100" '$1 == "WIRE" && $2 >= t && $4 == "INVITE"' "$LOG" | count)
    eq "100 re-sent once per copy arriving after it" \
      "$(peer_lines "$LOG" TX '^SIP/2.0 100 ' | count)" $((1 + after))
  else
    bad "no 100 (Trying) sent"
  fi
  eq "nothing but 100 and 486 sent" "$(peer_lines "$LOG" TX | grep -vc -e ' SIP/2.0 100 ' -e ' SIP/2.0 486 ')" 0
  eq "no Timer H timeout" "$(summary_field "$LOG" timeouts)" 0
  show_logs "$name"
}

options_sipp_timers() {
  local name=opt-sipp-udp sent t_tu t_tx
  echo "== OPTIONS over udp retransmitted by SIPp's timers (40 ms) while the TU waits 300 ms"
  run_uas "$name" udp uac_options_sipp_retrans.xml "" --delay 300
  eq "SIPp got the 200 (exit status)" "$SIPP_RC" 0
  stop_peer
  sent=$(sipp_msgs "$MSG" sent | grep -c ' OPTIONS ')
  check "SIPp sent the OPTIONS more than once ($sent)" [ "$sent" -ge 2 ]
  eq "every copy reached the transaction layer" "$(peer_lines "$LOG" WIRE ' OPTIONS ' | count)" "$sent"
  eq "the TU saw the OPTIONS once" "$(peer_lines "$LOG" TU OPTIONS | count)" 1
  eq "retransmissions absorbed by the NIST" "$(summary_field "$LOG" absorbed)" $((sent - 1))
  t_tu=$(awk '$1 == "TU" { print $2; exit }' "$LOG")
  t_tx=$(awk '$1 == "TX" { print $2; exit }' "$LOG")
  check "nothing sent before the TU answered ($((t_tx - t_tu)) ms, --delay 300)" [ $((t_tx - t_tu)) -ge 270 ]
  show_logs "$name"
}

invite_by_hand udp
invite_by_hand tcp
options_by_hand udp
options_by_hand tcp
invite_sipp_timers
options_sipp_timers
finish
