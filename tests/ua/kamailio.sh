#!/bin/bash
# The UA commands against Kamailio 5.6 (usrloc in memory, registrar, rr,
# tm): `sipr register` (the bindings Kamailio returns, removal with
# --remove), then a call through it: `sipr answer` registered as bob,
# `sipr call` to bob at Kamailio, which record-routes the INVITE, so the
# ACK and the BYE must follow the route set (RFC 3261 §12.1.2, §12.2.1.1);
# then the same to baresip (auto-answer) registered at Kamailio.
# baresip is stopped with SIGKILL: SIGTERM can take 30 s.
# usage: kamailio.sh SIPR
SIPR=$1
LIMIT=90
. "$(dirname "$0")/lib.sh"
need baresip baresip-core
. "$(dirname "$0")/../lib/kamailio.sh"
kamailio_find || { echo "FAIL: Kamailio is missing (above)" >&2; exit 1; }

KPORT=$(free_port)
mkdir -p "$WORK/kam"
kamailio_cfg "$WORK/kam/kamailio.cfg" "$KPORT" 2
"$KAM" -c -f "$WORK/kam/kamailio.cfg" >"$WORK/kam/check.log" 2>&1
eq "kamailio accepts the config" "$?" 0
"$KAM" -f "$WORK/kam/kamailio.cfg" -DD -E -m 64 -M 8 -Y "$WORK/kam" \
  -P "$WORK/kam/kamailio.pid" >"$WORK/kam/kamailio.log" 2>&1 &
KPID=$!
PIDS+=("$KPID")
for _ in $(seq 100); do port_bound udp "$KPORT" && break; sleep 0.05; done
sleep 0.5 # its children finish forking
check "kamailio is up on udp 127.0.0.1:$KPORT" port_bound udp "$KPORT"
KAMURI=sip:127.0.0.1:$KPORT

echo "== sipr register against Kamailio's registrar"
"$SIPR" register --aor alice@127.0.0.1 --registrar "$KAMURI" --expires 120 \
  >"$WORK/reg.out" 2>&1
eq "sipr register exits 0" "$?" 0
check "prints the binding Kamailio returns, with its expiry" \
  grep -qE '^  binding sip:alice@127\.0\.0\.1:[0-9]+ expires 1[12][0-9]$' "$WORK/reg.out"
"$SIPR" register --aor alice@127.0.0.1 --registrar "$KAMURI" --json \
  --contact sip:alice@127.0.0.1:5999 --expires 60 >"$WORK/reg2.json" 2>&1
eq "a second contact for alice: exits 0" "$?" 0
check "Kamailio lists both bindings" python3 - "$WORK/reg2.json" <<'PY'
import json, sys
o = json.loads(open(sys.argv[1]).read().splitlines()[-1])
sys.exit(0 if len(o["bindings"]) == 2 else 1)
PY
"$SIPR" register --aor alice@127.0.0.1 --registrar "$KAMURI" \
  --contact sip:alice@127.0.0.1:5999 --remove >"$WORK/unreg.out" 2>&1
eq "sipr register --remove exits 0" "$?" 0
eq "one binding is left" "$(grep -c '^  binding' "$WORK/unreg.out")" 1

echo "== a call through Kamailio (Record-Route)"
"$SIPR" answer --aor bob@127.0.0.1 --registrar "$KAMURI" --ring 0.2 --calls 1 \
  >"$WORK/ans.out" 2>&1 &
AP=$!
PIDS+=("$AP")
for _ in $(seq 100); do grep -q 'registered' "$WORK/ans.out" && break; sleep 0.05; done
check "sipr answer registered bob at Kamailio" grep -q 'bob@127.0.0.1 registered' "$WORK/ans.out"
"$SIPR" call "sip:bob@127.0.0.1:$KPORT" --from sip:alice@127.0.0.1 \
  --duration 0.5 --timeout 10 >"$WORK/call.out" 2>&1
eq "sipr call through Kamailio exits 0" "$?" 0
check "the dialog's route set is Kamailio's Record-Route" \
  grep -qE "^  route <sip:127\.0\.0\.1:$KPORT;lr" "$WORK/call.out"
check "the callee was rung (180 through Kamailio)" grep -q '180 Ringing' "$WORK/call.out"
wait_pid "$AP" 10
eq "sipr answer exits 0 after the call" "$?" 0
check "the callee got the ACK (routed by Kamailio)" grep -q 'ACK received' "$WORK/ans.out"
check "and the BYE" grep -q 'BYE received' "$WORK/ans.out"
check "and removed its registration" grep -q 'unregistered' "$WORK/ans.out"

echo "== a call to baresip through Kamailio"
BP=$(free_port 2)
BDIR="$WORK/baresip"
mkdir -p "$BDIR"
cat >"$BDIR/config" <<CFG
poll_method		poll
sip_listen		127.0.0.1:$BP
net_interface		127.0.0.1
audio_player		aubridge,nul
audio_source		aubridge,nul
audio_alert		aubridge,nul
rtp_ports		$((BP + 2))-$((BP + 40))
module_path		/usr/lib/baresip/modules
module			g711.so
module			aubridge.so
module_tmp		uuid.so
module_tmp		account.so
module_app		menu.so
CFG
echo "<sip:carol@127.0.0.1:$KPORT;transport=udp>;regint=60;answermode=auto" >"$BDIR/accounts"
baresip -f "$BDIR" -s </dev/null >"$WORK/baresip.out" 2>&1 &
BPID=$!
PIDS+=("$BPID")
for _ in $(seq 100); do grep -q '200 OK' "$WORK/baresip.out" && break; sleep 0.05; done
check "baresip registered carol at Kamailio" grep -q '200 OK' "$WORK/baresip.out"
"$SIPR" call "sip:carol@127.0.0.1:$KPORT" --from sip:alice@127.0.0.1 \
  --duration 0.5 --timeout 10 >"$WORK/call2.out" 2>&1
eq "sipr call to baresip through Kamailio exits 0" "$?" 0
check "the route set is Kamailio's Record-Route" \
  grep -qE "^  route <sip:127\.0\.0\.1:$KPORT;lr" "$WORK/call2.out"
check "baresip's answer has a G.711 stream" grep -qE 'media audio 127\.0\.0\.1:[0-9]+ RTP/AVP 0' "$WORK/call2.out"
check "our BYE, routed by Kamailio, was answered" grep -q '200 OK (BYE answered)' "$WORK/call2.out"
{ kill -9 "$BPID"; wait "$BPID"; } 2>/dev/null

if [ "$FAILS" -ne 0 ]; then
  show "$WORK/call.out"
  show "$WORK/ans.out"
  show "$WORK/call2.out"
  sed 's/\x1b\[[0-9;]*m//g' "$WORK/baresip.out" | tail -30
  tail -20 "$WORK/kam/kamailio.log"
fi
finish
