#!/bin/bash
# (a) auth off: a SIPp REGISTER gets a 200 that lists its binding (over UDP
# and TCP); sipsak's OPTIONS gets 200 (UDP and TCP).
# usage: register_options.sh SIPR
SIPR=$1
LIMIT=90
. "$(dirname "$0")/lib.sh"
need sipp sip-tester
need sipsak sipsak

echo "== sipr serve --auth off"
start_server srv --auth off || finish

printf 'SEQUENTIAL\nalice;\nbob;\n' >"$WORK/users.csv"
sipp_run reg_udp register.xml -t u1 -inf "$WORK/users.csv" -m 2 -r 10
eq "SIPp REGISTER over UDP: 200 listing the binding (sipp status)" "$?" 0
sipp_run reg_tcp register.xml -t t1 -inf "$WORK/users.csv" -m 2 -r 10
eq "SIPp REGISTER over TCP: 200 listing the binding (sipp status)" "$?" 0
check "alice's 200 lists alice's contact" grep -q '^Contact: .*<sip:alice@127.0.0.1:[0-9]*>;.*expires=' "$WORK/reg_udp.msg"
check "bob's 200 lists bob's contact" grep -q '^Contact: .*<sip:bob@127.0.0.1:[0-9]*>;.*expires=' "$WORK/reg_udp.msg"
n=$(sipp_received_msgs "$WORK/reg_udp.msg" | grep -ci '^Date:')
eq "every 200 carries Date" "$n" 2

sipsak -vv -s "sip:127.0.0.1:$PORT" >"$WORK/sipsak_udp.out" 2>&1
rc=$?
eq "sipsak OPTIONS over UDP exits 0" "$rc" 0
check "sipsak OPTIONS over UDP: 200 received" grep -q 'SIP/2.0 200' "$WORK/sipsak_udp.out"
sipsak -vv -E tcp -s "sip:127.0.0.1:$PORT" >"$WORK/sipsak_tcp.out" 2>&1
rc=$?
eq "sipsak OPTIONS over TCP exits 0" "$rc" 0
check "OPTIONS 200 carries Allow" grep -qi '^Allow:.*REGISTER' "$WORK/sipsak_udp.out"

stop_server
[ "$FAILS" -ne 0 ] && { echo "--- server log"; cat "$WORK/srv.log"; }
finish
