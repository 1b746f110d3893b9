#!/bin/bash
# Next hops named by host names (RFC 3263 §4.2, A/AAAA; the resolver
# reads /etc/hosts first, so `localhost` resolves on loopback alone):
#   a routing rule "domain=b.test -> forward sip:localhost:PB": proxy A
#       resolves localhost and relays the call to proxy B, which finds the
#       callee in its location service
#   a callee registered with a Contact naming localhost: A resolves it
#       and the call reaches the callee
#   a name that does not resolve (A asks a name server on loopback that
#       refuses): that branch counts as 503 (§16.9), the caller gets 500
#       with a reason that says so (§16.7 step 6)
# usage: resolve.sh SIPR
SIPR=$1
LIMIT=90
. "$(dirname "$0")/lib.sh"

PA=$(free_port)
PB=$(free_port)
DNS=$(free_port) # nothing listens there: every DNS query is refused
cat >"$WORK/a.yaml" <<YAML
dns_servers: "127.0.0.1:$DNS"
rules:
  - "domain=b.test -> forward sip:localhost:$PB"
  - "domain=x.test -> forward sip:nosuch.sipr.invalid:5060"
YAML
start_proxy a "$PA" --auth off --domain a.test -c "$WORK/a.yaml" || finish
start_proxy b "$PB" --auth off --domain b.test || finish

echo "== forward rule to sip:localhost:PB"
U=$(free_port)
uas bob uas_answer.xml "$U"
register bob "$U" "$PB" 1.0 b.test
eq "bob@b.test registered at B" "$?" 0
uac call uac_call.xml "$PA" -key ruri "sip:bob@b.test" -key from_domain a.test
eq "call from A's caller to bob@b.test (sipp status)" "$?" 0
uas_wait bob
eq "callee got INVITE, ACK, BYE through A and B (sipp status)" "$?" 0
inv=$(received bob INVITE)
check "B put bob's contact in the Request-URI" grep -q "^INVITE sip:bob@127.0.0.1:$U SIP/2.0" <<<"$inv"
eq "both proxies record-routed" "$(grep -c '^Record-Route:' <<<"$inv")" 2
check "A's Via (it forwarded to B)" grep -q "^Via: SIP/2.0/UDP 127.0.0.1:$PA;" <<<"$inv"

echo "== a binding whose Contact names localhost"
UC=$(free_port)
uas carol uas_answer.xml "$UC"
uac reg-carol reg_name.xml "$PA" -key user carol -key cport "$UC" -key domain a.test
eq "carol@a.test registered with Contact sip:carol@localhost:$UC" "$?" 0
uac call2 uac_call.xml "$PA" -key ruri "sip:carol@a.test" -key from_domain a.test
eq "call to carol@a.test (sipp status)" "$?" 0
uas_wait carol
eq "carol got INVITE, ACK, BYE (sipp status)" "$?" 0
check "the Request-URI keeps the name" grep -q "^INVITE sip:carol@localhost:$UC SIP/2.0" <<<"$(received carol INVITE)"

echo "== a next hop whose name does not resolve"
uac nxd "$(scen uac_fail.xml CODE=500)" "$PA" -key ruri "sip:dave@x.test" -key from_domain a.test
eq "500 to the caller (sipp status)" "$?" 0
check "with the reason" grep -q '^SIP/2.0 500 Next Hop DNS Lookup Failed' "$WORK/nxd.msg"

stop_proxy a
stop_proxy b
dump_logs a b call bob call2 carol reg-carol nxd
finish
