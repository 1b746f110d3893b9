#!/bin/bash
# `sipr serve --mode redirect` (RFC 3261 §8.3, RFC 3665 §3.4-style): an
# INVITE for a registered user gets 302 with the bindings as Contact (q
# and the time left), then the caller reaches the contact directly; 404
# for an unknown user, 480 for a user with credentials but no binding;
# and a proxy with recurse_3xx: on that follows such a 302 itself
# (§16.7 step 4).
# usage: redirect.sh SIPR
SIPR=$1
LIMIT=90
. "$(dirname "$0")/lib.sh"

P=$(free_port)
printf 'ivypw\n' | "$SIPR" user add ivy@127.0.0.1 --password-stdin \
  --store "sqlite:$WORK/rd.db" >"$WORK/useradd.out" 2>&1
eq "sipr user add ivy@127.0.0.1" "$?" 0
start_proxy rd "$P" --auth off --domain 127.0.0.1 --mode redirect \
  --store "sqlite:$WORK/rd.db" || finish
check "the banner says redirect" grep -q 'mode: redirect' "$WORK/rd.log"

U=$(free_port)
U2=$(free_port)
register bob "$U" "$P" 0.7
eq "bob registered (q=0.7)" "$?" 0
register bob "$U2" "$P" 1.0
eq "bob registered a second contact (q=1.0)" "$?" 0
uac redir "$(scen uac_fail.xml CODE=302)" "$P" -key ruri "sip:bob@127.0.0.1:$P" -key from_domain 127.0.0.1
eq "caller gets 302 and ACKs it (sipp status)" "$?" 0
c=$(received redir 302 | grep '^Contact:' | tr -d '\r')
check "302 lists the q=1.0 contact first, with its time left" \
  grep -Eq "^Contact: <sip:bob@127.0.0.1:$U2>;q=1;expires=(3600|359[0-9])$" <<<"$(head -1 <<<"$c")"
check "302 lists the q=0.7 contact second" \
  grep -Eq "^Contact: <sip:bob@127.0.0.1:$U>;q=0.7;expires=(3600|359[0-9])$" <<<"$(sed -n 2p <<<"$c")"

echo "== the caller follows the redirection to the contact itself"
uas bob uas_answer.xml "$U2"
uac direct uac_call.xml "$U2" -key ruri "sip:bob@127.0.0.1:$U2" -key from_domain 127.0.0.1
eq "call to the contact from the 302 (sipp status)" "$?" 0
uas_wait bob
eq "callee answered it (sipp status)" "$?" 0

uac nouser "$(scen uac_fail.xml CODE=404)" "$P" -key ruri "sip:nobody@127.0.0.1:$P" -key from_domain 127.0.0.1
eq "unknown user: 404 (sipp status)" "$?" 0
uac ivy "$(scen uac_fail.xml CODE=480)" "$P" -key ruri "sip:ivy@127.0.0.1:$P" -key from_domain 127.0.0.1
eq "known user without binding: 480 (sipp status)" "$?" 0
echo "== a proxy with recurse_3xx: on follows the 302 itself"
PP=$(free_port)
printf 'recurse_3xx: on\n' >"$WORK/recurse.yaml"
start_proxy px "$PP" --auth off --domain 127.0.0.1 -c "$WORK/recurse.yaml" || finish
U3=$(free_port)
uas dan uas_answer.xml "$U3"
register dan "$U3" "$P"
eq "dan@ bound to the callee at the redirect server" "$?" 0
register dan "$P" "$PP"
eq "dan@ bound to the redirect server at the proxy" "$?" 0
uac rcall uac_call.xml "$PP" -key ruri "sip:dan@127.0.0.1:$PP" -key from_domain 127.0.0.1
eq "caller reaches dan through the proxy's recursion (sipp status)" "$?" 0
check "the caller never saw the 302" bash -c '! grep -q "^SIP/2.0 302" "$1"' _ "$WORK/rcall.msg"
uas_wait dan
eq "callee answered, got ACK and BYE (sipp status)" "$?" 0
stop_proxy px
stop_proxy rd
dump_logs rd px redir direct bob nouser ivy rcall dan
finish
