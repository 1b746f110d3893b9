#!/bin/bash
# sipr and Kamailio 5.6 as the two proxies of the SIP trapezoid, in both
# directions, SIPp at the ends:
#   caller -> sipr (rule: domain=k.test -> forward to Kamailio) -> Kamailio
#             (location of k.test) -> callee registered at Kamailio
#   caller -> Kamailio (relays other domains) -> sipr (location) -> callee
#             registered at sipr
# Each callee sees both Record-Routes; ACK and BYE pass both proxies.
# usage: kamailio.sh SIPR
SIPR=$1
LIMIT=90
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../lib/kamailio.sh"
kamailio_find || { echo "FAIL: Kamailio is missing (above)" >&2; exit 1; }

PA=$(free_port)
PK=$(free_port)
mkdir -p "$WORK/kam"
kamailio_cfg "$WORK/kam/kamailio.cfg" "$PK" 2 '$rd == "k.test" || uri == myself'
"$KAM" -c -f "$WORK/kam/kamailio.cfg" >"$WORK/kam/check.log" 2>&1
eq "kamailio accepts the config" "$?" 0
"$KAM" -f "$WORK/kam/kamailio.cfg" -DD -E -m 64 -M 8 -Y "$WORK/kam" \
  -P "$WORK/kam/kamailio.pid" >"$WORK/kam/kamailio.log" 2>&1 &
KPID=$!
PIDS+=("$KPID")
for _ in $(seq 100); do port_bound udp "$PK" && break; sleep 0.05; done
sleep 0.5 # its children finish forking
check "kamailio is up on udp 127.0.0.1:$PK" port_bound udp "$PK"

printf 'rules:\n  - "domain=k.test -> forward sip:127.0.0.1:%s"\n' "$PK" >"$WORK/a.yaml"
start_proxy a "$PA" --auth off --domain a.test -c "$WORK/a.yaml" || finish

echo "== caller -> sipr -> Kamailio -> callee"
U=$(free_port)
uas bob uas_answer.xml "$U"
register bob "$U" "$PK" 1.0 k.test
eq "bob@k.test registered at Kamailio" "$?" 0
uac call1 uac_call.xml "$PA" -key ruri "sip:bob@k.test" -key from_domain a.test
eq "call through sipr then Kamailio (sipp status)" "$?" 0
uas_wait bob
eq "callee: INVITE, ACK, BYE (sipp status)" "$?" 0
rr=$(received bob INVITE | grep '^Record-Route:' | tr -d '\r')
check "Kamailio's Record-Route on top of sipr's" \
  bash -c 'grep -q "127.0.0.1:$2" <<<"$(sed -n 1p <<<"$1")" && grep -q "<sip:127.0.0.1:$3;lr>" <<<"$(sed -n 2p <<<"$1")"' _ "$rr" "$PK" "$PA"
for m in ACK BYE; do
  vias=$(received bob "$m" | grep '^Via:' | head -2 | tr -d '\r')
  check "$m passed Kamailio after sipr" \
    bash -c 'grep -q "127.0.0.1:$2" <<<"$(sed -n 1p <<<"$1")" && grep -q "127.0.0.1:$3;branch" <<<"$(sed -n 2p <<<"$1")"' _ "$vias" "$PK" "$PA"
done

echo "== caller -> Kamailio -> sipr -> callee"
U=$(free_port)
uas carl uas_answer.xml "$U"
register carl "$U" "$PA"
eq "carl registered at sipr" "$?" 0
uac call2 uac_call.xml "$PK" -key ruri "sip:carl@127.0.0.1:$PA" -key from_domain k.test
eq "call through Kamailio then sipr (sipp status)" "$?" 0
uas_wait carl
eq "callee: INVITE, ACK, BYE (sipp status)" "$?" 0
rr=$(received carl INVITE | grep '^Record-Route:' | tr -d '\r')
check "sipr's Record-Route on top of Kamailio's" \
  bash -c 'grep -q "<sip:127.0.0.1:$3;lr>" <<<"$(sed -n 1p <<<"$1")" && grep -q "127.0.0.1:$2" <<<"$(sed -n 2p <<<"$1")"' _ "$rr" "$PK" "$PA"
for m in ACK BYE; do
  vias=$(received carl "$m" | grep '^Via:' | head -2 | tr -d '\r')
  check "$m passed sipr after Kamailio" \
    bash -c 'grep -q "127.0.0.1:$3;branch" <<<"$(sed -n 1p <<<"$1")" && grep -q "127.0.0.1:$2" <<<"$(sed -n 2p <<<"$1")"' _ "$vias" "$PK" "$PA"
done
stop_proxy a
dump_logs a call1 bob call2 carl
[ "$FAILS" -ne 0 ] && tail -n 20 "$WORK/kam/kamailio.log"
finish
