#!/bin/bash
# (e) malformed requests get a 400 whose reason says what is wrong, and the
# server keeps serving (OPTIONS from sipsak still 200 afterwards); a flood
# of garbage does not stop it either.
# usage: bad_input.sh SIPR
SIPR=$1
LIMIT=60
. "$(dirname "$0")/lib.sh"
need sipsak sipsak

start_server srv --auth off || finish

# CSeq method does not match the request line.
cat >"$WORK/cseq.sip" <<'SIP'
OPTIONS sip:127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:LPORT;branch=z9hG4bKbad1
Max-Forwards: 70
To: <sip:127.0.0.1>
From: <sip:t@127.0.0.1>;tag=1
Call-ID: bad1@test
CSeq: 1 INVITE
Content-Length: 0

SIP
# No Call-ID.
cat >"$WORK/nocallid.sip" <<'SIP'
REGISTER sip:127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:LPORT;branch=z9hG4bKbad2
Max-Forwards: 70
To: <sip:a@127.0.0.1>
From: <sip:a@127.0.0.1>;tag=1
CSeq: 1 REGISTER
Contact: <sip:a@127.0.0.1:LPORT>
Content-Length: 0

SIP
# A broken Contact among good ones: nothing changes, 400.
cat >"$WORK/contact.sip" <<'SIP'
REGISTER sip:127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:LPORT;branch=z9hG4bKbad3
Max-Forwards: 70
To: <sip:eve@127.0.0.1>
From: <sip:eve@127.0.0.1>;tag=1
Call-ID: bad3@test
CSeq: 1 REGISTER
Contact: <sip:eve@127.0.0.1:LPORT>, <sip:eve@[bad>
Content-Length: 0

SIP

for f in cseq nocallid contact; do
  line=$(sip_send udp "$WORK/$f.sip")
  case $line in
  "SIP/2.0 400 "?*) ok "$f (UDP): '$line'" ;;
  *) bad "$f (UDP): expected '400 <reason>', got '$line'" ;;
  esac
done
# All or nothing: eve's good Contact was not bound either.
cat >"$WORK/query.sip" <<'SIP'
REGISTER sip:127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:LPORT;branch=z9hG4bKq1
Max-Forwards: 70
To: <sip:eve@127.0.0.1>
From: <sip:eve@127.0.0.1>;tag=1
Call-ID: q1@test
CSeq: 1 REGISTER
Content-Length: 0

SIP
sip_send udp "$WORK/query.sip" full >"$WORK/query.out"
check "query for eve answered 200" grep -q '^SIP/2.0 200' "$WORK/query.out"
check "eve has no binding: the REGISTER with a broken Contact changed nothing" \
  bash -c "! grep -qi '^Contact:' '$WORK/query.out'"
line=$(sip_send tcp "$WORK/cseq.sip")
case $line in
"SIP/2.0 400 "?*) ok "cseq (TCP): '$line'" ;;
*) bad "cseq (TCP): expected '400 <reason>', got '$line'" ;;
esac

# Garbage: 2,000 datagrams of junk and half-messages.
python3 - "$PORT" <<'PY'
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(2000):
    if i % 3 == 0:
        d = os.urandom(200)
    elif i % 3 == 1:
        d = b"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK%d\r\n\r\n" % i
    else:
        d = b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nCSeq: x\r\n" * 10
    s.sendto(d, ("127.0.0.1", int(sys.argv[1])))
PY
sleep 0.5
check "server still running after malformed input" kill -0 "$SRV_PID"
sipsak -s "sip:127.0.0.1:$PORT" >"$WORK/sipsak.out" 2>&1
eq "OPTIONS still answered 200 (sipsak status)" "$?" 0
stop_server
# One log line per refused message, with source and reason; rate-limited so
# the 2,000 junk datagrams do not each get a line.
check "the CSeq mismatch was logged as refused with its source and reason" \
  grep -qE 'refused OPTIONS from udp:127\.0\.0\.1:[0-9]+: 400 CSeq method mismatch' "$WORK/srv.log"
nref=$(grep -c 'refused' "$WORK/srv.log")
if [ "$nref" -ge 3 ] && [ "$nref" -lt 500 ]; then
  ok "refusals logged but rate-limited ($nref lines for 2,000+ refused messages)"
else
  bad "refusal lines: $nref (expected some, far fewer than the 2,000 refused)"
fi
check "suppressed refusals are summarised" grep -q 'suppressed' "$WORK/srv.log"
[ "$FAILS" -ne 0 ] && { echo "--- server log"; tail -50 "$WORK/srv.log"; }
finish
