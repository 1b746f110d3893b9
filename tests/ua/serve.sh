#!/bin/bash
# The UA commands through `sipr serve` (registrar + proxy, digest on):
# `sipr answer` registered as bob with credentials, a MESSAGE from alice
# delivered through the proxy, a call from alice answered and ended with
# BYE (the proxy's 407 answered, its Record-Route followed), then bob on
# two devices: the proxy forks, the first answers, the other is
# cancelled (487 from our UAS, RFC 3261 §9.2); last, a call to baresip
# registered at sipr serve. The server offers MD5 only: baresip 1.0 gives
# up on any other challenge (SHA-256 is covered by basic.sh).
# baresip is stopped with SIGKILL: SIGTERM can take 30 s.
# usage: serve.sh SIPR
SIPR=$1
LIMIT=120
. "$(dirname "$0")/lib.sh"
need baresip baresip-core

for u in alice bob carol; do
  printf '%spw\n' "$u" | "$SIPR" user add "$u@127.0.0.1" --password-stdin \
    --store "sqlite:$DB" >/dev/null 2>&1
  eq "sipr user add $u@127.0.0.1" "$?" 0
done
printf 'auth: on\nauth_algorithms: [MD5]\n' >"$WORK/md5.yaml"
start_server srv -c "$WORK/md5.yaml" || finish
SRV=sip:127.0.0.1:$PORT

# answer_as NAME ARGS...: sipr answer registered as bob; sets AP.
answer_as() {
  local name=$1
  shift
  printf 'bobpw\n' | "$SIPR" answer --aor bob@127.0.0.1 --registrar "$SRV" \
    --user bob --password-stdin "$@" >"$WORK/$name.out" 2>&1 &
  AP=$!
  PIDS+=("$AP")
  for _ in $(seq 100); do grep -q 'registered' "$WORK/$name.out" && break; sleep 0.05; done
}

echo "== MESSAGE and a call through sipr serve"
answer_as bob1 --calls 1
A1=$AP
check "bob registered with digest credentials" grep -q 'bob@127.0.0.1 registered' "$WORK/bob1.out"
printf 'alicepw\n' | "$SIPR" message "sip:bob@127.0.0.1:$PORT" "hello through sipr" \
  --from sip:alice@127.0.0.1 --user alice --password-stdin >"$WORK/msg.out" 2>&1
eq "sipr message through the proxy exits 0" "$?" 0
for _ in $(seq 40); do grep -q 'MESSAGE from' "$WORK/bob1.out" && break; sleep 0.05; done
check "bob printed it" grep -q 'MESSAGE from sip:alice@127.0.0.1: hello through sipr' "$WORK/bob1.out"
printf 'alicepw\n' | "$SIPR" call "sip:bob@127.0.0.1:$PORT" --from sip:alice@127.0.0.1 \
  --user alice --password-stdin --duration 0.3 --timeout 10 >"$WORK/call.out" 2>&1
eq "sipr call through the proxy exits 0" "$?" 0
check "the route set is the proxy's Record-Route" \
  grep -qE "^  route <sip:127\.0\.0\.1:$PORT;.*lr" "$WORK/call.out"
wait_pid "$A1" 10
eq "bob's sipr answer exits 0 after the call" "$?" 0
check "bob got the ACK and the BYE" bash -c "grep -q 'ACK received' '$WORK/bob1.out' && grep -q 'BYE received' '$WORK/bob1.out'"
check "and removed its binding" grep -q 'unregistered' "$WORK/bob1.out"

echo "== bob on two devices: forked, one answers, the other is cancelled"
answer_as fast --calls 1 --ring 0.2
F=$AP
answer_as slow --calls 1 --ring 3
S=$AP
printf 'alicepw\n' | "$SIPR" call "sip:bob@127.0.0.1:$PORT" --from sip:alice@127.0.0.1 \
  --user alice --password-stdin --duration 0.3 --timeout 10 >"$WORK/fork.out" 2>&1
eq "sipr call exits 0" "$?" 0
wait_pid "$F" 10
eq "the device that answered exits 0" "$?" 0
wait_pid "$S" 10
eq "the other one exits 0" "$?" 0
check "the answering device got the ACK and the BYE" \
  bash -c "grep -q 'ACK received' '$WORK/fast.out' && grep -q 'BYE received' '$WORK/fast.out'"
check "the other one saw the CANCEL (487)" grep -q '487' "$WORK/slow.out"
echo "== a call to baresip registered at sipr serve"
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
echo "<sip:carol@127.0.0.1:$PORT;transport=udp>;auth_pass=carolpw;regint=60;answermode=auto" >"$BDIR/accounts"
baresip -f "$BDIR" -s </dev/null >"$WORK/baresip.out" 2>&1 &
BPID=$!
PIDS+=("$BPID")
for _ in $(seq 100); do grep -q '200 OK.*binding' "$WORK/baresip.out" && break; sleep 0.05; done
check "baresip registered carol" grep -q '200 OK.*binding' "$WORK/baresip.out"
printf 'alicepw\n' | "$SIPR" call "sip:carol@127.0.0.1:$PORT" --from sip:alice@127.0.0.1 \
  --user alice --password-stdin --duration 0.5 --timeout 10 >"$WORK/carol.out" 2>&1
eq "sipr call to baresip through sipr serve exits 0" "$?" 0
check "baresip's G.711 answer came back" grep -qE 'media audio 127\.0\.0\.1:[0-9]+ RTP/AVP 0' "$WORK/carol.out"
check "our BYE was answered" grep -q '200 OK (BYE answered)' "$WORK/carol.out"
{ kill -9 "$BPID"; wait "$BPID"; } 2>/dev/null

if [ "$FAILS" -ne 0 ]; then
  for f in bob1 call fast slow fork carol; do echo "--- $f"; show "$WORK/$f.out"; done
  tail -20 "$WORK/srv.log"
fi
stop_server
finish
