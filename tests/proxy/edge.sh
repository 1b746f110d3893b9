#!/bin/bash
# RFC 3327 Path through an edge proxy, with two `sipr serve` instances:
#   the edge E (edge: sip:127.0.0.1:PR) relays a REGISTER for reg.test
#       from a SIPp UA (Supported: path) to the registrar R, adding
#       Path: <sip:path@127.0.0.1:PE;lr> (§5.2); R stores the Path and
#       returns it in the 200 (§5.3), which comes back through E
#   a later INVITE to the AOR sent to R: R routes it along the stored
#       Path (§5.4), E relays it to the UA; ACK and BYE follow the
#       Record-Route of both
#   edge_path: required: a UA without Supported: path gets 421 from E
# usage: edge.sh SIPR
SIPR=$1
LIMIT=90
. "$(dirname "$0")/lib.sh"

PE=$(free_port)
PR=$(free_port)
printf 'edge: "sip:127.0.0.1:%s"\n' "$PR" >"$WORK/e.yaml"
start_proxy r "$PR" --auth off --domain reg.test || finish
start_proxy e "$PE" --auth off -c "$WORK/e.yaml" || finish
check "E's banner names its registrar" grep -q "edge: REGISTERs for other domains go to sip:127.0.0.1:$PR" "$WORK/e.log"

echo "== REGISTER through the edge"
U=$(free_port)
uas ua uas_answer.xml "$U"
uac reg "$(scen reg_edge.xml "PATH=sip:path@127\\\\.0\\\\.0\\\\.1:$PE;lr>")" "$PE" \
  -key user ua -key cport "$U" -key domain reg.test
eq "200 through E with Contact and E's Path (sipp status)" "$?" 0
req=$(awk '/^REGISTER /{p=1} p{print} /^$/{if(p)exit}' "$WORK/reg.msg")
ok=$(received reg 200)
check "the 200 carries E's Path" grep -q "^Path: <sip:path@127.0.0.1:$PE;lr>" <<<"$ok"
check "the 200 came back through E (one Via left)" test "$(grep -c '^Via:' <<<"$ok")" -eq 1
check "the UA sent no Path of its own" bash -c '! grep -q "^Path:" <<<"$1"' _ "$req"

echo "== an INVITE for the AOR, sent to the registrar, reaches the UA through E"
uac call uac_call.xml "$PR" -key ruri "sip:ua@reg.test" -key from_domain other.test
eq "call through R and E (sipp status)" "$?" 0
uas_wait ua
eq "the UA got INVITE, ACK, BYE (sipp status)" "$?" 0
inv=$(received ua INVITE)
check "Request-URI: the UA's contact" grep -q "^INVITE sip:ua@127.0.0.1:$U SIP/2.0" <<<"$inv"
vias=$(grep '^Via:' <<<"$inv")
check "E's Via on top" grep -q "^Via: SIP/2.0/UDP 127.0.0.1:$PE;" <<<"$(head -1 <<<"$vias")"
check "R's Via next" grep -q "^Via: SIP/2.0/UDP 127.0.0.1:$PR;" <<<"$(sed -n 2p <<<"$vias")"
check "no Route left (E consumed its Path)" bash -c '! grep -q "^Route:" <<<"$1"' _ "$inv"
eq "both record-routed" "$(grep -c '^Record-Route:' <<<"$inv")" 2
bye=$(received ua BYE)
check "the BYE came through E" grep -q "^Via: SIP/2.0/UDP 127.0.0.1:$PE;" <<<"$bye"

echo "== edge_path: required"
PQ=$(free_port)
printf 'edge: "sip:127.0.0.1:%s"\nedge_path: required\n' "$PR" >"$WORK/q.yaml"
start_proxy q "$PQ" --auth off -c "$WORK/q.yaml" || finish
uac r421 "$(scen reg_code.xml CODE=421)" "$PQ" -key user ua2 -key cport 5999 -key domain reg.test
eq "no Supported: path: 421 from the edge (sipp status)" "$?" 0
check "with Require: path" grep -q '^Require: path' <<<"$(received r421 421)"
uac reg2 "$(scen reg_edge.xml "PATH=sip:path@127\\\\.0\\\\.0\\\\.1:$PQ;lr>")" "$PQ" \
  -key user ua2 -key cport 5999 -key domain reg.test
eq "with it: relayed, 200 with the edge's Path (sipp status)" "$?" 0
stop_proxy q

stop_proxy e
stop_proxy r
dump_logs e r q reg call ua r421 reg2
finish
