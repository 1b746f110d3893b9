#!/bin/bash
# Routing rules of the proxy (rules: in sipr.yaml), in order, first match:
#   "domain=b.test -> forward sip:127.0.0.1:PB"     another domain relayed to
#       proxy B without authentication (a configured rule), the
#       Request-URI kept; B finds the callee in its location service
#   "user=900 -> reject 403 Premium Numbers Barred"
#   "domain=c.test method=MESSAGE -> forward ... stateless"   §16.11: no
#       transaction, retransmissions and the 200 relayed by Via
#   a bad rule: the server refuses to start, naming FILE:LINE
#   SIGHUP: new rules and domains reach the proxy
# usage: rules.sh SIPR
SIPR=$1
LIMIT=90
. "$(dirname "$0")/lib.sh"

PA=$(free_port)
PB=$(free_port)
UM=$(free_port)
cat >"$WORK/a.yaml" <<YAML
rules:
  - "domain=b.test -> forward sip:127.0.0.1:$PB"
  - "user=900 -> reject 403 Premium Numbers Barred"
  - "domain=c.test method=MESSAGE -> forward sip:127.0.0.1:$UM stateless"
YAML
start_proxy a "$PA" --auth off --domain a.test -c "$WORK/a.yaml" || finish
check "the banner counts 3 rules" grep -q '3 rule(s)' "$WORK/a.log"
start_proxy b "$PB" --auth off --domain b.test || finish

echo "== forward rule: a.test -> b.test"
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

echo "== reject rule"
uac barred "$(scen uac_fail.xml CODE=403)" "$PA" -key ruri "sip:900123@a.test" -key from_domain a.test
eq "user=900: 403 (sipp status)" "$?" 0
check "with the configured reason" grep -q '^SIP/2.0 403 Premium Numbers Barred' "$WORK/barred.msg"

echo "== stateless forward rule (§16.11)"
uas sink uas_message.xml "$UM"
uac msg uac_message.xml "$PA" -key ruri "sip:carol@c.test" -key from_domain a.test
eq "MESSAGE relayed statelessly and its 200 back (sipp status)" "$?" 0
uas_wait sink
eq "the sink got the MESSAGE (sipp status)" "$?" 0
m=$(received sink MESSAGE)
check "A's Via on top, branch from the request's invariants" \
  grep -Eq "^Via: SIP/2.0/UDP 127.0.0.1:$PA;branch=z9hG4bK[0-9a-f]{20}" <<<"$m"
check "no Record-Route from a stateless relay" bash -c '! grep -q "^Record-Route:" <<<"$1"' _ "$m"
check "Request-URI kept" grep -q '^MESSAGE sip:carol@c.test SIP/2.0' <<<"$m"

echo "== a bad rule is refused at start"
printf 'rules:\n  - "domain=x.test -> teleport"\n' >"$WORK/bad.yaml"
BP=$(free_port)
"$SIPR" serve --listen "udp:127.0.0.1:$BP" --store memory -c "$WORK/bad.yaml" \
  >"$WORK/bad.out" 2>"$WORK/bad.log" &
bp=$!
PIDS+=("$bp")
wait_pid "$bp" 5
eq "sipr serve exits 1" "$?" 1
check "the error names bad.yaml:2 and the action" grep -q "bad.yaml:2: .*unknown action 'teleport'" "$WORK/bad.log"

echo "== SIGHUP: rules and domains reach the proxy"
PC=$(free_port)
printf 'domains: [c.test]\n' >"$WORK/c.yaml"
start_proxy c "$PC" --auth off -c "$WORK/c.yaml" || finish
uac before1 "$(scen uac_fail.xml CODE=403)" "$PC" -key ruri "sip:bob@new.test" -key from_domain c.test
eq "before: new.test is another domain (403)" "$?" 0
uac before2 "$(scen uac_fail.xml CODE=404)" "$PC" -key ruri "sip:900123@c.test" -key from_domain c.test
eq "before: no rule, unknown user (404)" "$?" 0
cat >"$WORK/c.yaml" <<'YAML'
domains: [c.test, new.test]
rules:
  - "user=900 -> reject 403 Premium Numbers Barred"
YAML
kill -HUP "$PID_c"
for _ in $(seq 100); do grep -q 'reloaded' "$WORK/c.log" && break; sleep 0.05; done
check "the server reloaded" grep -q 'reloaded' "$WORK/c.log"
uac after1 "$(scen uac_fail.xml CODE=404)" "$PC" -key ruri "sip:bob@new.test" -key from_domain c.test
eq "after: new.test is ours, no such user (404)" "$?" 0
uac after2 "$(scen uac_fail.xml CODE=403)" "$PC" -key ruri "sip:900123@c.test" -key from_domain c.test
eq "after: the new rule rejects (403)" "$?" 0
check "with the rule's reason" grep -q '^SIP/2.0 403 Premium Numbers Barred' "$WORK/after2.msg"
stop_proxy c

stop_proxy a
stop_proxy b
dump_logs a b c call bob barred msg sink bad before1 before2 after1 after2
finish
