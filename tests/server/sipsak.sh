#!/bin/bash
# sipsak 0.9.8's usrloc test (-U: REGISTER, then check the 200) against
# `sipr serve`, with auth off and with digest auth on (-u/-a); a wrong
# password must fail; the bindings must land in the SQLite store.
# sipsak traps (see /work/shared/PEERS.md): it answers only the first
# WWW-Authenticate and knows only MD5, so the auth-on server lists MD5
# first (auth_algorithms, as auth.sh does for SIPp); without -u it takes
# "alice@" as the digest username; it cuts a 5-digit port in the
# Request-URI to 4 digits (it still sends to the right port).
# usage: sipsak.sh SIPR
SIPR=$1
LIMIT=90
. "$(dirname "$0")/lib.sh"
need sipsak sipsak
need sqlite3 sqlite3

# sipsak_run NAME ARGS...: sipsak with a 20 s cap; its status.
sipsak_run() {
  local name=$1
  shift
  timeout 20 sipsak -i -vv "$@" >"$WORK/$name.sipsak" 2>&1
}
# bound AOR: number of unexpired bindings of AOR in the store.
bound() {
  sqlite3 "$DB" "select count(*) from location where aor = 'sip:$1' and expires > strftime('%s','now')"
}

echo "== sipr serve --auth off"
start_server off --auth off || finish
sipsak_run off_udp -U -x 60 -s "sip:alice@127.0.0.1:$PORT"
eq "sipsak -U -x 60 (UDP), auth off: exit status" "$?" 0
check "sipsak reports the usrloc test successful" \
  grep -q 'All usrloc tests completed successful' "$WORK/off_udp.sipsak"
sipsak_run off_tcp -U -x 60 -E tcp -s "sip:bob@127.0.0.1:$PORT"
eq "sipsak -U -x 60 -E tcp, auth off: exit status" "$?" 0
stop_server
eq "alice has a binding in the store" "$(bound alice@127.0.0.1)" 1
eq "bob (TCP) has a binding in the store" "$(bound bob@127.0.0.1)" 1
exp=$(sqlite3 "$DB" "select expires - strftime('%s','now') from location where aor = 'sip:alice@127.0.0.1'")
check "alice's binding expires in about 60 s ($exp)" test "$exp" -gt 40 -a "$exp" -le 60

echo "== sipr serve --auth on (MD5 first)"
printf 'secret\n' | "$SIPR" user add alice@127.0.0.1 --password-stdin \
  --store "sqlite:$DB" >"$WORK/useradd.out" 2>&1
eq "sipr user add alice@127.0.0.1 exits 0" "$?" 0
sqlite3 "$DB" "delete from location"
printf 'auth: on\nauth_algorithms: [MD5, SHA-256]\n' >"$WORK/md5first.yaml"
start_server on -c "$WORK/md5first.yaml" || finish
sipsak_run on_good -U -x 60 -u alice -a secret -s "sip:alice@127.0.0.1:$PORT"
eq "sipsak -U -u alice -a secret: exit status" "$?" 0
check "sipsak had to authorize (it saw the 401)" \
  grep -q 'authorizing' "$WORK/on_good.sipsak"
check "sipsak reports the usrloc test successful" \
  grep -q 'All usrloc tests completed successful' "$WORK/on_good.sipsak"
sipsak_run on_bad -U -x 60 -u alice -a wrong -s "sip:alice@127.0.0.1:$PORT"
check "sipsak -U with a wrong password fails (status $?)" test "$?" -ne 0
check "no 200 for the wrong password" bash -c "! grep -q '^SIP/2.0 200' '$WORK/on_bad.sipsak'"
sipsak_run on_unknown -U -x 60 -u mallory -a secret -s "sip:mallory@127.0.0.1:$PORT"
check "sipsak -U for an unknown user fails" test "$?" -ne 0
stop_server
eq "alice has exactly one binding (from the authenticated REGISTER)" "$(bound alice@127.0.0.1)" 1
eq "mallory has no binding" "$(bound mallory@127.0.0.1)" 0

if [ "$FAILS" -ne 0 ]; then
  for f in "$WORK"/*.sipsak; do echo "--- $(basename "$f")"; tail -30 "$f"; done
  echo "--- server logs"; cat "$WORK/off.log" "$WORK/on.log"
fi
finish
