#!/bin/bash
# The UA commands against baresip 1.0, a real softphone: `sipr call` to
# baresip answering automatically (SDP offer/answer with G.711, ACK, BYE),
# and baresip dialling `sipr answer` (our 180/200 with SDP, its ACK, our
# BYE when sipr answer is stopped).
# baresip is stopped with SIGKILL: SIGTERM can take 30 s.
# usage: baresip.sh SIPR
SIPR=$1
LIMIT=90
. "$(dirname "$0")/lib.sh"
need baresip baresip-core
[ -f /usr/lib/baresip/modules/g711.so ] || {
  echo "FAIL: baresip modules missing in /usr/lib/baresip/modules; run scripts/deps.sh" >&2
  exit 1
}

# baresip also takes its SIP port + 1 (TLS): both must be free.
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
echo "<sip:bob@127.0.0.1:$BP;transport=udp>;regint=0;answermode=auto" >"$BDIR/accounts"
APORT=$(free_port)

echo "== sipr call to baresip (auto-answer)"
baresip -f "$BDIR" -s </dev/null >"$WORK/baresip.out" 2>&1 &
BPID=$!
PIDS+=("$BPID")
for _ in $(seq 100); do port_bound udp "$BP" && break; sleep 0.05; done
sleep 0.3
"$SIPR" call "sip:bob@127.0.0.1:$BP" --from sip:alice@127.0.0.1 --duration 1 \
  --timeout 10 >"$WORK/call.out" 2>&1
eq "sipr call to baresip exits 0" "$?" 0
check "baresip answered with a G.711 stream on 127.0.0.1" \
  grep -qE 'media audio 127\.0\.0\.1:[0-9]+ RTP/AVP 0' "$WORK/call.out"
check "our BYE was answered" grep -q '200 OK (BYE answered)' "$WORK/call.out"
check "baresip saw the call established and closed" bash -c \
  "sed 's/\x1b\[[0-9;]*m//g' '$WORK/baresip.out' | grep -qi 'established' && sed 's/\x1b\[[0-9;]*m//g' '$WORK/baresip.out' | grep -qiE 'closed|terminated'"
{ kill -9 "$BPID"; wait "$BPID"; } 2>/dev/null

echo "== baresip dials sipr answer"
"$SIPR" answer --local "127.0.0.1:$APORT" --ring 0.2 >"$WORK/ans.out" 2>&1 &
AP=$!
PIDS+=("$AP")
for _ in $(seq 100); do grep -q listening "$WORK/ans.out" && break; sleep 0.05; done
baresip -f "$BDIR" -e "/dial sip:carol@127.0.0.1:$APORT" </dev/null \
  >"$WORK/baresip2.out" 2>&1 &
BPID=$!
PIDS+=("$BPID")
for _ in $(seq 200); do grep -q 'ACK received' "$WORK/ans.out" && break; sleep 0.05; done
check "sipr answer got baresip's INVITE" grep -q 'INVITE from sip:bob@127.0.0.1' "$WORK/ans.out"
check "and baresip's ACK for our 200" grep -q 'ACK received' "$WORK/ans.out"
sleep 0.5
kill -TERM "$AP"
wait_pid "$AP" 10
eq "sipr answer exits 0 on SIGTERM (BYE sent)" "$?" 0
check "our BYE was answered" grep -q 'our BYE answered' "$WORK/ans.out"
sleep 0.3
check "baresip saw the call established and closed by us" bash -c \
  "sed 's/\x1b\[[0-9;]*m//g' '$WORK/baresip2.out' | grep -qi 'established' && sed 's/\x1b\[[0-9;]*m//g' '$WORK/baresip2.out' | grep -qiE 'closed|terminated'"
{ kill -9 "$BPID"; wait "$BPID"; } 2>/dev/null
if [ "$FAILS" -ne 0 ]; then
  show "$WORK/call.out"; show "$WORK/ans.out"
  sed 's/\x1b\[[0-9;]*m//g' "$WORK/baresip.out" | tail -30
  sed 's/\x1b\[[0-9;]*m//g' "$WORK/baresip2.out" | tail -30
fi
finish
