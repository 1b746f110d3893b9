#!/bin/bash
# sipr answer as a scripted callee: registered as bob at `sipr serve`
# (digest), it takes a MESSAGE (RFC 3428), a call from SIPp (SDP answer,
# 2xx until the ACK, the caller's BYE) and a call from `sipr call`, then
# exits after --calls 2 and removes its registration. A second one
# rejects calls with --reply 486.
# usage: answer.sh SIPR
SIPR=$1
LIMIT=120
. "$(dirname "$0")/lib.sh"

printf 'bobpw\n' | "$SIPR" user add bob@127.0.0.1 --password-stdin \
  --store "sqlite:$DB" >/dev/null 2>&1
eq "sipr user add bob@127.0.0.1" "$?" 0
start_server srv --auth on || finish
SRV=sip:127.0.0.1:$PORT

echo "== sipr answer registered as bob"
APORT=$(free_port)
printf 'bobpw\n' | "$SIPR" answer --aor bob@127.0.0.1 --registrar "$SRV" \
  --user bob --password-stdin --local "127.0.0.1:$APORT" --ring 0.2 \
  --calls 2 >"$WORK/ans.out" 2>"$WORK/ans.err" &
AP=$!
PIDS+=("$AP")
for _ in $(seq 100); do grep -q 'registered' "$WORK/ans.out" && break; sleep 0.05; done
check "registered at sipr serve with digest credentials" grep -q 'sip:bob@127.0.0.1 registered' "$WORK/ans.out"

"$SIPR" message "sip:bob@127.0.0.1:$APORT" "hello bob" --from sip:alice@127.0.0.1 \
  >"$WORK/msg.out" 2>&1
eq "sipr message to sipr answer exits 0" "$?" 0
for _ in $(seq 40); do grep -q 'MESSAGE from' "$WORK/ans.out" && break; sleep 0.05; done
check "sipr answer prints the MESSAGE and its sender" \
  grep -q 'MESSAGE from sip:alice@127.0.0.1: hello bob' "$WORK/ans.out"

sipp_uac sippcall uac_call.xml "127.0.0.1:$APORT"
sipp_wait sippcall
eq "a SIPp caller gets 180, a 200 with SDP and Contact, and its BYE answered" "$?" 0

"$SIPR" call "sip:bob@127.0.0.1:$APORT" --from sip:alice@127.0.0.1 \
  --duration 0.3 --timeout 10 >"$WORK/call.out" 2>&1
eq "sipr call to sipr answer exits 0" "$?" 0
check "the caller saw 180 then 200" bash -c "grep -q '180 Ringing' '$WORK/call.out' && grep -q '200 OK (ACK sent)' '$WORK/call.out'"
check "the answer's media names 127.0.0.1" grep -qE 'media audio 127\.0\.0\.1:[0-9]+ RTP/AVP 0 8 101' "$WORK/call.out"

wait_pid "$AP" 10
eq "sipr answer exits 0 after --calls 2" "$?" 0
eq "it confirmed two calls (ACK received)" "$(grep -c 'ACK received' "$WORK/ans.out")" 2
eq "and saw two BYEs" "$(grep -c 'BYE received' "$WORK/ans.out")" 2
check "and removed its registration" grep -q 'unregistered' "$WORK/ans.out"
[ "$FAILS" -ne 0 ] && show "$WORK/ans.out" && show "$WORK/ans.err"

echo "== sipr answer --reply 486 (no registrar)"
BPORT=$(free_port)
"$SIPR" answer --local "127.0.0.1:$BPORT" --reply 486 --calls 2 >"$WORK/busy.out" 2>&1 &
BP=$!
PIDS+=("$BP")
for _ in $(seq 100); do grep -q 'listening' "$WORK/busy.out" && break; sleep 0.05; done
"$SIPR" call "sip:bob@127.0.0.1:$BPORT" --timeout 10 >"$WORK/busycall.out" 2>&1
eq "sipr call to a busy callee exits 1" "$?" 1
check "with the status on stderr" grep -q '486 Busy Here' "$WORK/busycall.out"
sipp_uac sippbusy uac_busy.xml "127.0.0.1:$BPORT"
sipp_wait sippbusy
eq "a SIPp caller gets 486" "$?" 0
wait_pid "$BP" 10
eq "sipr answer exits 0 after --calls 2" "$?" 0

echo "== both ends on wildcard addresses (--local 0.0.0.0)"
WPORT=$(free_port)
"$SIPR" answer --local "0.0.0.0:$WPORT" --calls 1 >"$WORK/wild.out" 2>&1 &
WP=$!
PIDS+=("$WP")
for _ in $(seq 100); do grep -q 'listening' "$WORK/wild.out" && break; sleep 0.05; done
"$SIPR" call "sip:bob@127.0.0.1:$WPORT" --local 0.0.0.0:0 --duration 0.2 \
  --timeout 10 >"$WORK/wildcall.out" 2>&1
eq "sipr call exits 0" "$?" 0
check "the callee's Contact names 127.0.0.1, not 0.0.0.0" \
  grep -qE "remote target sip:[^@]*@127\.0\.0\.1:$WPORT\$" "$WORK/wildcall.out"
check "so does its SDP" grep -qE 'media audio 127\.0\.0\.1:' "$WORK/wildcall.out"
wait_pid "$WP" 10
eq "sipr answer exits 0" "$?" 0

echo "== usage"
"$SIPR" answer --registrar "$SRV" >/dev/null 2>&1
eq "--registrar without --aor is a usage error" "$?" 2
"$SIPR" answer --reply 150 >/dev/null 2>&1
eq "--reply 150 is a usage error" "$?" 2

stop_server
finish
