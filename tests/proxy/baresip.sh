#!/bin/bash
# A call between two baresip 1.0 softphones registered to `sipr serve`
# (auth off): alice dials bob's address of record, the proxy finds bob's
# binding and forwards (Record-Route), bob answers automatically; both
# phones see the call established.
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

P=$(free_port)
start_proxy px "$P" --auth off --domain 127.0.0.1 || finish

# phone NAME PORT: a baresip folder for NAME on 127.0.0.1:PORT (and PORT+1)
phone() {
  local d="$WORK/$1"
  mkdir -p "$d"
  cat >"$d/config" <<CFG
poll_method		poll
sip_listen		127.0.0.1:$2
net_interface		127.0.0.1
audio_player		aubridge,nul
audio_source		aubridge,nul
audio_alert		aubridge,nul
rtp_ports		$(($2 + 2))-$(($2 + 40))
module_path		/usr/lib/baresip/modules
module			g711.so
module			aubridge.so
module_tmp		uuid.so
module_tmp		account.so
module_app		menu.so
CFG
  echo "<sip:$1@127.0.0.1:$P;transport=udp>;regint=60;answermode=auto" >"$d/accounts"
}
clean() { sed 's/\x1b\[[0-9;]*m//g' "$1"; }

BB=$(free_port 42)
phone bob "$BB"
baresip -f "$WORK/bob" -s </dev/null >"$WORK/bob.out" 2>&1 &
BOB=$!
PIDS+=("$BOB")
# registered: a 200 OK for its REGISTER in its SIP trace (-s)
registered() { clean "$1" | grep -A8 '^SIP/2.0 200 OK' | grep -q '^CSeq: [0-9]* REGISTER'; }
for _ in $(seq 200); do registered "$WORK/bob.out" && break; sleep 0.05; done
check "bob's baresip registered to sipr" registered "$WORK/bob.out"

BA=$(free_port 42)
phone alice "$BA"
baresip -f "$WORK/alice" -e "/dial sip:bob@127.0.0.1:$P" </dev/null \
  >"$WORK/alice.out" 2>&1 &
ALICE=$!
PIDS+=("$ALICE")
for _ in $(seq 200); do
  clean "$WORK/alice.out" | grep -qi 'established' &&
    clean "$WORK/bob.out" | grep -qi 'established' && break
  sleep 0.05
done
check "alice's call to bob@ (through the proxy) is established" \
  bash -c "sed 's/\x1b\[[0-9;]*m//g' '$WORK/alice.out' | grep -qi 'established'"
check "bob answered it" bash -c "sed 's/\x1b\[[0-9;]*m//g' '$WORK/bob.out' | grep -qi 'established'"
check "bob's phone saw alice as the caller" \
  bash -c "sed 's/\x1b\[[0-9;]*m//g' '$WORK/bob.out' | grep -qi 'alice'"
{ kill -9 "$ALICE" "$BOB"; wait "$ALICE" "$BOB"; } 2>/dev/null
check "server still running" kill -0 "$PID_px"
stop_proxy px
if [ "$FAILS" -ne 0 ]; then
  dump_logs px
  clean "$WORK/alice.out" | tail -30
  clean "$WORK/bob.out" | tail -30
fi
finish
