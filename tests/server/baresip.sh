#!/bin/bash
# baresip 1.0 (a real softphone) registers with digest auth to `sipr serve`
# (auth on, alice added first): baresip reports "200 OK [1 binding]" and
# `reginfo` (ctrl_tcp) says OK; the store holds its binding (sqlite3, and a
# REGISTER query by SIPp after a restart with auth off).
# baresip trap: libre 1.0 knows only MD5 and gives up on ANY other
# challenge ("Register: Function not implemented"), whatever its order, so
# the server here offers MD5 only (auth_algorithms: [MD5]).
# baresip is stopped with SIGKILL: SIGTERM un-registers and can take 30 s.
# usage: baresip.sh SIPR
SIPR=$1
LIMIT=90
. "$(dirname "$0")/lib.sh"
need baresip baresip-core
need sipp sip-tester
need sqlite3 sqlite3
[ -f /usr/lib/baresip/modules/ctrl_tcp.so ] || {
  echo "FAIL: baresip modules missing in /usr/lib/baresip/modules; run scripts/deps.sh" >&2
  exit 1
}

# baresip also takes its SIP port + 1 (TLS): both must be free.
BP=$(free_port 2)
CP=$(free_port)

printf 'secret\n' | "$SIPR" user add alice@127.0.0.1 --password-stdin \
  --store "sqlite:$DB" >"$WORK/useradd.out" 2>&1
eq "sipr user add alice@127.0.0.1 exits 0" "$?" 0

echo "== sipr serve --auth on (MD5 only), baresip registers"
printf 'auth: on\nauth_algorithms: [MD5]\n' >"$WORK/md5.yaml"
start_server srv -c "$WORK/md5.yaml" || finish
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
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:$CP
CFG
echo "<sip:alice@127.0.0.1:$PORT;transport=udp>;auth_pass=secret;regint=60" >"$BDIR/accounts"
baresip -f "$BDIR" -s </dev/null >"$WORK/baresip.out" 2>&1 &
BPID=$!
PIDS+=("$BPID")
n=0
while [ $n -lt 200 ] && ! grep -q '200 OK.*binding' "$WORK/baresip.out"; do
  kill -0 "$BPID" 2>/dev/null || break
  sleep 0.05
  n=$((n + 1))
done
check "baresip reports 'alice@127.0.0.1: ... 200 OK ... [1 binding]'" \
  grep -qE 'alice@127\.0\.0\.1: .*200 OK.*\[1 binding\]' "$WORK/baresip.out"
check "baresip answered a 401 (digest auth was used)" \
  grep -q '^SIP/2.0 401' "$WORK/baresip.out"
check "baresip's authenticated REGISTER carries MD5 credentials for alice" \
  grep -qE '^Authorization: Digest .*username="alice".*' "$WORK/baresip.out"
check "no registration error from baresip" bash -c "! grep -q 'Register:' '$WORK/baresip.out'"

# reginfo over ctrl_tcp (JSON in netstrings).
python3 - "$CP" >"$WORK/reginfo.out" 2>&1 <<'PY'
import json, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
m = json.dumps({"command": "reginfo", "token": "1"}).encode()
s.sendall(b"%d:%s," % (len(m), m))
buf, end = b"", time.time() + 3
while time.time() < end:
    try:
        d = s.recv(65535)
    except socket.timeout:
        break
    if not d:
        break
    buf += d
    if b'"token":"1"' in buf:
        break
n, _, rest = buf.partition(b":")
r = json.loads(rest[: int(n)])
print(r.get("ok"), r.get("data", "").replace("\x1b", ""))
PY
check "ctrl_tcp reginfo answers ok" grep -q '^True ' "$WORK/reginfo.out"
check "ctrl_tcp reginfo: alice's UA is registered (OK)" \
  grep -qE "sip:alice@127\.0\.0\.1:$PORT +\[32mOK" "$WORK/reginfo.out"

{ kill -9 "$BPID"; wait "$BPID"; } 2>/dev/null
stop_server

echo "== the binding is in the store"
row=$(sqlite3 -separator '|' "$DB" "select contact, expires - strftime('%s','now'), user_agent from location where aor = 'sip:alice@127.0.0.1'")
echo "  row: $row"
check "alice is bound to baresip's contact 127.0.0.1:$BP" \
  grep -qE "^sip:alice[^@]*@127\.0\.0\.1:$BP\|" <<<"$row"
check "with baresip's User-Agent" grep -q '|baresip v' <<<"$row"
exp=$(cut -d'|' -f2 <<<"$row")
check "expiring in about 60 s ($exp)" test "${exp:-0}" -gt 40 -a "${exp:-0}" -le 60

echo "== restart (auth off), a REGISTER without Contact lists the binding"
start_server srv2 --auth off || finish
printf 'SEQUENTIAL\nalice;\n' >"$WORK/q.csv"
sipp_run query query.xml -t u1 -inf "$WORK/q.csv" -m 1
eq "query REGISTER: 200 with a binding (sipp status)" "$?" 0
check "the 200 lists baresip's contact" \
  grep -qE "^Contact: .*<sip:alice[^@]*@127\.0\.0\.1:$BP>" "$WORK/query.msg"
stop_server

if [ "$FAILS" -ne 0 ]; then
  echo "--- baresip output"; sed 's/\x1b\[[0-9;]*m//g' "$WORK/baresip.out" | tail -60
  echo "--- reginfo"; cat "$WORK/reginfo.out"
  echo "--- server logs"; cat "$WORK/srv.log" "$WORK/srv2.log"
fi
finish
