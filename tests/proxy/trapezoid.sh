#!/bin/bash
# Two sipr proxies (RFC 3665 §3.2, the SIP trapezoid) and a loop between
# two misconfigured proxies (§16.3 step 4):
#   A (auth on, domain a.test) challenges its caller (407), then relays to
#   B (auth off), where the callee is registered; the callee sees both
#   Record-Routes, and the ACK and BYE pass A and then B.
#   L1 and L2 each bind the same user to the other: the INVITE comes back
#   to L1 with the same Request-URI and ends in 482 (or 483), no storm.
# usage: trapezoid.sh SIPR
SIPR=$1
LIMIT=90
. "$(dirname "$0")/lib.sh"

echo "== trapezoid: caller -> A (407, then auth) -> B -> callee"
PA=$(free_port)
PB=$(free_port)
printf 'secret\n' | "$SIPR" user add alice@a.test --password-stdin \
  --store "sqlite:$WORK/a.db" >"$WORK/useradd.out" 2>&1
eq "sipr user add alice@a.test" "$?" 0
printf 'auth: on\nrealm: a.test\nauth_algorithms: [MD5]\n' >"$WORK/a.yaml"
start_proxy a "$PA" --domain a.test --store "sqlite:$WORK/a.db" -c "$WORK/a.yaml" || finish
start_proxy b "$PB" --auth off --domain b.test || finish
U=$(free_port)
uas bob uas_answer.xml "$U"
register bob "$U" "$PB"
eq "bob registered at B" "$?" 0
uac call uac_auth_call.xml "$PA" -key ruri "sip:bob@127.0.0.1:$PB" -key from_domain a.test
eq "caller: 407, INVITE with credentials, 200, ACK, BYE, 200 (sipp status)" "$?" 0
check "A challenged with Proxy-Authenticate for realm a.test" \
  grep -q '^Proxy-Authenticate: Digest realm="a.test"' "$WORK/call.msg"
uas_wait bob
eq "callee: INVITE, ACK and BYE through both proxies (sipp status)" "$?" 0
inv=$(received bob INVITE)
rr=$(grep '^Record-Route:' <<<"$inv" | tr -d '\r')
eq "the callee sees B's Record-Route on top, then A's" "$(echo $rr)" \
  "Record-Route: <sip:127.0.0.1:$PB;lr> Record-Route: <sip:127.0.0.1:$PA;lr>"
check "A consumed its credentials (no Proxy-Authorization at the callee)" \
  bash -c '! grep -qi "^Proxy-Authorization:" <<<"$1"' _ "$inv"
for m in ACK BYE; do
  vias=$(received bob "$m" | grep '^Via:' | head -2 | sed 's/;branch=.*//' | tr -d '\r')
  eq "$m passed B then A (top two Vias)" "$(echo $vias)" \
    "Via: SIP/2.0/UDP 127.0.0.1:$PB Via: SIP/2.0/UDP 127.0.0.1:$PA"
done
stop_proxy a
stop_proxy b

echo "== loop between two misconfigured proxies"
P1=$(free_port)
P2=$(free_port)
start_proxy l1 "$P1" --auth off --domain 127.0.0.1 || finish
start_proxy l2 "$P2" --auth off --domain 127.0.0.1 || finish
register loop "$P2" "$P1"
eq "L1 binds loop@ to L2" "$?" 0
register loop "$P1" "$P2"
eq "L2 binds loop@ to L1" "$?" 0
uac loopcall "$(scen uac_fail.xml CODE=482)" "$P1" -key ruri "sip:loop@127.0.0.1:$P1" -key from_domain 127.0.0.1
rc=$?
if [ "$rc" -ne 0 ]; then
  # a spiral that never repeats itself ends on Max-Forwards instead
  uac loopcall483 "$(scen uac_fail.xml CODE=483)" "$P1" -key ruri "sip:loop@127.0.0.1:$P1" -key from_domain 127.0.0.1
  rc=$?
fi
eq "the looping INVITE ends in 482 (or 483) (sipp status)" "$rc" 0
n=$(grep -c '^SIP/2.0 [1-6]' "$WORK/loopcall.msg")
check "the caller got a handful of responses, not a storm ($n)" test "$n" -le 6
check "L1 still running" kill -0 "$PID_l1"
check "L2 still running" kill -0 "$PID_l2"
stop_proxy l1
stop_proxy l2
dump_logs a b call bob l1 l2 loopcall
finish
