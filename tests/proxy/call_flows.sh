#!/bin/bash
# RFC 3665 call flows through one sipr proxy (auth off, domain 127.0.0.1),
# SIPp as caller and callees, callees registered into the running server:
#   §3.1 successful call: INVITE/100/180/200/ACK/BYE/200 with Record-Route,
#        ACK and BYE pass the proxy
#   busy (486), no answer (CANCEL after 180 -> 487), 408 (callee silent),
#   404 (no such user), 403 (another domain: never an open relay)
# usage: call_flows.sh SIPR
SIPR=$1
LIMIT=150
. "$(dirname "$0")/lib.sh"

P=$(free_port)
start_proxy px "$P" --auth off --domain 127.0.0.1 || finish
RURI() { echo "sip:$1@127.0.0.1:$P"; }

echo "== §3.1 successful call"
U=$(free_port)
uas bob uas_answer.xml "$U"
register bob "$U" "$P"
eq "bob registered (sipp status)" "$?" 0
uac call uac_call.xml "$P" -key ruri "$(RURI bob)" -key from_domain 127.0.0.1
eq "caller: INVITE/180/200/ACK/BYE/200 (sipp status)" "$?" 0
uas_wait bob
eq "callee: INVITE, ACK and BYE received through the proxy (sipp status)" "$?" 0
inv=$(received bob INVITE)
check "the callee's INVITE carries the proxy's Record-Route with lr" \
  grep -q "^Record-Route: <sip:127.0.0.1:$P;lr>" <<<"$inv"
check "the callee's INVITE has the proxy's Via on top" \
  grep -m1 -q "^Via: SIP/2.0/UDP 127.0.0.1:$P;branch=z9hG4bK" <<<"$inv"
eq "Max-Forwards decremented" "$(grep -m1 '^Max-Forwards:' <<<"$inv" | tr -d ' \r' | cut -d: -f2)" 69
check "the callee's INVITE is for its registered contact" \
  grep -q "^INVITE sip:bob@127.0.0.1:$U SIP/2.0" <<<"$inv"
ack=$(received bob ACK)
check "the ACK for the 2xx came through the proxy (its Via on top)" \
  grep -m1 -q "^Via: SIP/2.0/UDP 127.0.0.1:$P;branch=" <<<"$ack"
check "the ACK lost the proxy's Route" bash -c '! grep -qi "^Route:" <<<"$1"' _ "$ack"
bye=$(received bob BYE)
check "the BYE came through the proxy (its Via on top)" \
  grep -m1 -q "^Via: SIP/2.0/UDP 127.0.0.1:$P;branch=" <<<"$bye"
ok200=$(received call 200)
check "the caller's 200 carries the Record-Route" \
  grep -q "^Record-Route: <sip:127.0.0.1:$P;lr>" <<<"$ok200"
check "the caller's responses carry only its own Via" \
  bash -c '[ "$(grep -c "^Via:" <<<"$1")" -ge 1 ] && ! grep -q "127.0.0.1:$2;branch" <<<"$1"' _ "$ok200" "$P"

echo "== caller over TCP, callee over UDP: two Record-Route values"
U=$(free_port)
uas tbob uas_answer.xml "$U"
register tbob "$U" "$P"
uac tcall uac_call.xml "$P" -t t1 -key ruri "$(RURI tbob)" -key from_domain 127.0.0.1
eq "caller over TCP: the whole call (sipp status)" "$?" 0
uas_wait tbob
eq "callee over UDP got INVITE, ACK and BYE (sipp status)" "$?" 0
rr=$(received tbob INVITE | grep '^Record-Route:' | tr -d '\r')
eq "§16.6 step 4: the UDP side on top, then the TCP side" "$(echo $rr)" \
  "Record-Route: <sip:127.0.0.1:$P;lr> Record-Route: <sip:127.0.0.1:$P;transport=tcp;lr>"
check "the caller's 200 came back over TCP with both values" \
  grep -q "transport=tcp;lr" "$WORK/tcall.msg"

echo "== busy: 486"
U=$(free_port)
uas carl "$(scen uas_reject.xml CODE=486 REASON='Busy Here' DELAY=200)" "$U"
register carl "$U" "$P"
uac busy "$(scen uac_fail.xml CODE=486)" "$P" -key ruri "$(RURI carl)" -key from_domain 127.0.0.1
eq "caller gets 180 then 486 and ACKs it (sipp status)" "$?" 0
uas_wait carl
eq "callee sent 486 and got the proxy's ACK (sipp status)" "$?" 0

echo "== no answer: CANCEL after 180"
U=$(free_port)
uas dave uas_ring.xml "$U"
register dave "$U" "$P"
uac cancel uac_cancel.xml "$P" -key ruri "$(RURI dave)" -key from_domain 127.0.0.1
eq "caller: 180, CANCEL, 200, 487, ACK (sipp status)" "$?" 0
uas_wait dave
eq "callee got the proxy's CANCEL, answered 200 + 487, got the ACK (sipp status)" "$?" 0

echo "== callee silent: 408"
U=$(free_port)
uas erin uas_silent.xml "$U"
register erin "$U" "$P"
t0=$(date +%s)
uac silent "$(scen uac_fail.xml CODE=408)" "$P" -key ruri "$(RURI erin)" -key from_domain 127.0.0.1
eq "caller gets 408 after the proxy's Timer B (sipp status)" "$?" 0
t1=$(date +%s)
check "the 408 took about 64*T1 (30-40 s, took $((t1 - t0)) s)" test $((t1 - t0)) -ge 30 -a $((t1 - t0)) -le 40
kill "$UAS_erin" 2>/dev/null

echo "== no such user: 404; another domain: 403"
uac nouser "$(scen uac_fail.xml CODE=404)" "$P" -key ruri "$(RURI nobody)" -key from_domain 127.0.0.1
eq "unknown user: 404 (sipp status)" "$?" 0
uac relay "$(scen uac_fail.xml CODE=403)" "$P" -key ruri "sip:bob@example.net" -key from_domain 127.0.0.1
eq "unauthenticated INVITE to another domain: 403 (sipp status)" "$?" 0
check "403 says Relaying Denied" grep -q "403 Relaying Denied" "$WORK/relay.msg"

check "server still running" kill -0 "$PID_px"
stop_proxy px
dump_logs px call bob tcall tbob busy carl cancel dave silent nouser relay
finish
