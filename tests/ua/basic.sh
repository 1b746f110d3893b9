#!/bin/bash
# sipr ping, register and message on loopback: against `sipr serve` with
# digest authentication (SHA-256 first, RFC 8760), against SIPp scenarios
# (a registrar granting 2 s, to see the refresh and the removal, RFC 3261
# §10.2.4, §10.2.2; MESSAGE answered 200 and 404, RFC 3428), and the
# command-line contract (exit codes, --help, --json).
# usage: basic.sh SIPR
SIPR=$1
LIMIT=120
. "$(dirname "$0")/lib.sh"

printf 'secret\n' | "$SIPR" user add alice@127.0.0.1 --password-stdin \
  --store "sqlite:$DB" >/dev/null 2>&1
eq "sipr user add alice@127.0.0.1" "$?" 0
start_server srv --auth on || finish
SRV=sip:127.0.0.1:$PORT

echo "== ping"
"$SIPR" ping "$SRV" >"$WORK/ping.out" 2>&1
eq "sipr ping exits 0 on 200" "$?" 0
check "prints status, reason, rtt and Allow" \
  grep -qE '^sip:127\.0\.0\.1:[0-9]+: 200 OK  rtt [0-9.]+ ms.*allow "[A-Z, ]*OPTIONS' "$WORK/ping.out"
"$SIPR" ping "$SRV" --count 3 --interval 0.1 >"$WORK/ping3.out" 2>&1
eq "--count 3 exits 0" "$?" 0
eq "three answers printed" "$(grep -c '200 OK' "$WORK/ping3.out")" 3
"$SIPR" ping "$SRV" --transport tcp >"$WORK/pingtcp.out" 2>&1
eq "ping over TCP exits 0" "$?" 0
"$SIPR" ping "$SRV" --json >"$WORK/ping.json" 2>&1
eq "ping --json exits 0" "$?" 0
check "--json: one object with status, rtt_ms, allow" python3 - "$WORK/ping.json" <<'PY'
import json, sys
o = [json.loads(l) for l in open(sys.argv[1])]
sys.exit(0 if len(o) == 1 and o[0]["status"] == 200 and o[0]["rtt_ms"] >= 0
         and "OPTIONS" in o[0]["allow"] else 1)
PY
dead=$(free_port)
"$SIPR" ping "sip:127.0.0.1:$dead" --timeout 1 >"$WORK/dead.out" 2>&1
eq "ping to a port nobody answers exits 1" "$?" 1
check "and says it timed out" grep -q 'timeout' "$WORK/dead.out"
"$SIPR" ping "sip:127.0.0.1:$PORT;transport=sctp" >"$WORK/sctp.out" 2>&1
eq "an unsupported transport exits 1" "$?" 1
"$SIPR" ping "http://example.com" >"$WORK/http.out" 2>&1
eq "a non-SIP URI exits 1" "$?" 1
check "and names the URI" grep -q "http://example.com" "$WORK/http.out"
"$SIPR" ping "sip:bob@no-such-host.invalid" --timeout 2 >"$WORK/dns.out" 2>&1
eq "an unresolvable host exits 1" "$?" 1
check "and says DNS" grep -q "DNS" "$WORK/dns.out"
# Errors name what failed, on standard error and, with --json, as an
# "error" event; every UA command exits 1.
tcpdead=$(free_port)
errcheck() { # NAME KIND STDERR-PATTERN COMMAND...
  local name=$1 kind=$2 pat=$3
  shift 3
  "$SIPR" "$@" --json >"$WORK/$name.json" 2>"$WORK/$name.err"
  eq "$name exits 1" "$?" 1
  check "$name: stderr names the $kind failure" grep -qE "$pat" "$WORK/$name.err"
  check "$name: the last JSON event is error/$kind" python3 - "$WORK/$name.json" "$kind" <<'PY'
import json, sys
o = [json.loads(l) for l in open(sys.argv[1])]
sys.exit(0 if o and o[-1]["event"] == "error" and o[-1]["error"] == sys.argv[2].lower()
         and o[-1]["message"] else 1)
PY
}
errcheck ping_timeout timeout 'timeout' ping "sip:127.0.0.1:$dead" --timeout 1
errcheck ping_dns DNS 'DNS: cannot resolve no-such-host' ping "sip:bob@no-such-host.invalid"
errcheck ping_tcp transport 'transport error' ping "sip:127.0.0.1:$tcpdead" --transport tcp
errcheck message_tcp transport 'transport error' message "sip:bob@127.0.0.1:$tcpdead" hi --transport tcp
errcheck message_dns DNS 'DNS: ' message "sip:bob@no-such-host.invalid" hi
errcheck call_tcp transport 'transport error' call "sip:bob@127.0.0.1:$tcpdead" --transport tcp
errcheck call_dns DNS 'DNS: ' call "sip:bob@no-such-host.invalid"
errcheck call_timeout timeout 'timeout' call "sip:bob@127.0.0.1:$dead" --timeout 1
errcheck register_tcp transport 'transport error' register --aor bob@127.0.0.1 \
  --registrar "sip:127.0.0.1:$tcpdead" --transport tcp
errcheck register_dns DNS 'DNS: ' register --aor bob@no-such-host.invalid
errcheck answer_tcp transport 'transport error' answer --aor bob@127.0.0.1 \
  --registrar "sip:127.0.0.1:$tcpdead" --transport tcp
errcheck message_status status ': [3-6][0-9][0-9] [A-Z]' message "sip:bob@127.0.0.1:$PORT" hi
"$SIPR" ping >/dev/null 2>&1
eq "ping without a URI is a usage error" "$?" 2
"$SIPR" ping "$SRV" --count 0 >/dev/null 2>&1
eq "--count 0 is a usage error" "$?" 2
"$SIPR" ping "$SRV" --transport sctp >/dev/null 2>&1
eq "--transport sctp is a usage error" "$?" 2
for c in ping register message call answer; do
  "$SIPR" $c --help >"$WORK/help_$c.out" 2>&1
  eq "sipr $c --help exits 0" "$?" 0
  check "sipr $c --help lists --json" grep -q -- '--json' "$WORK/help_$c.out"
done

echo "== register against sipr serve (digest)"
printf 'secret\n' | "$SIPR" register --aor alice@127.0.0.1 --registrar "$SRV" \
  --user alice --password-stdin --expires 300 >"$WORK/reg.out" 2>&1
eq "sipr register with the right password exits 0" "$?" 0
check "prints the binding with its expiry" \
  grep -qE '^  binding sip:alice@127\.0\.0\.1:[0-9]+ expires (300|29[0-9])$' "$WORK/reg.out"
printf 'wrong\n' | "$SIPR" register --aor alice@127.0.0.1 --registrar "$SRV" \
  --user alice --password-stdin >"$WORK/regbad.out" 2>&1
eq "a wrong password exits 1" "$?" 1
check "and says 401" grep -q '401' "$WORK/regbad.out"
"$SIPR" register --aor alice@127.0.0.1 --registrar "$SRV" >"$WORK/regnone.out" 2>&1
eq "no credentials exits 1" "$?" 1
printf 'secret\n' | "$SIPR" register --aor alice@127.0.0.1 --registrar "$SRV" \
  --user alice --password-stdin --json --transport tcp >"$WORK/reg.json" 2>&1
eq "register --json over TCP exits 0" "$?" 0
check "--json lists both bindings (UDP and TCP contacts)" python3 - "$WORK/reg.json" <<'PY'
import json, sys
o = [json.loads(l) for l in open(sys.argv[1])]
b = o[-1]["bindings"]
sys.exit(0 if o[-1]["event"] == "registered" and len(b) == 2
         and any("transport=tcp" in x["contact"] for x in b) else 1)
PY
"$SIPR" register >/dev/null 2>&1
eq "register without --aor is a usage error" "$?" 2

echo "== register --refresh against sipr serve, removed on SIGTERM"
printf 'secret\n' | "$SIPR" register --aor alice@127.0.0.1 --registrar "$SRV" \
  --user alice --password-stdin --refresh --expires 120 \
  --local 127.0.0.1:0 >"$WORK/refresh.out" 2>&1 &
RP=$!
PIDS+=("$RP")
for _ in $(seq 100); do grep -q 'registered 200' "$WORK/refresh.out" && break; sleep 0.05; done
check "registered" grep -q 'registered 200' "$WORK/refresh.out"
kill -TERM "$RP"
wait_pid "$RP" 10
eq "exits 0 after removing its binding" "$?" 0
check "the removal was answered" grep -q 'unregistered 200' "$WORK/refresh.out"

echo "== register --refresh against a SIPp registrar granting 2 s"
sport=$(free_port)
sipp_uas refresh uas_register.xml "$sport"
"$SIPR" register --aor alice@127.0.0.1 --registrar "sip:127.0.0.1:$sport" \
  --refresh --expires 2 >"$WORK/refresh2.out" 2>&1 &
RP=$!
PIDS+=("$RP")
# the refresh is due at 1 s (half the 2 s granted)
for _ in $(seq 36); do
  [ "$(grep -c 'registered 200' "$WORK/refresh2.out")" -ge 2 ] && break
  sleep 0.05
done
check "refreshed before the 2 s ran out" \
  test "$(grep -c 'registered 200' "$WORK/refresh2.out")" -ge 2
kill -TERM "$RP"
wait_pid "$RP" 10
eq "sipr register exits 0" "$?" 0
sipp_wait refresh
eq "SIPp saw REGISTER, the refresh (same Call-ID, CSeq + 1) and Expires: 0" "$?" 0
python3 - "$WORK/refresh.msg" <<'PY' >"$WORK/cseq.txt"
import re, sys
t = open(sys.argv[1], encoding="latin-1").read()
# the trace holds the requests and the responses echoing their CSeq
print(" ".join(sorted(set(re.findall(r"^CSeq: (\d+) REGISTER", t, re.M)), key=int)))
print(len(set(re.findall(r"^Call-ID: (\S+)", t, re.M))))
PY
check "CSeq grows by one per REGISTER" python3 -c "
import sys
c = open('$WORK/cseq.txt').read().split()
sys.exit(0 if len(c) == 4 and int(c[1]) == int(c[0]) + 1 and int(c[2]) == int(c[1]) + 1 and c[3] == '1' else 1)"

echo "== message"
mport=$(free_port)
sipp_uas msg uas_message.xml "$mport"
"$SIPR" message "sip:bob@127.0.0.1:$mport" "hello sipr" >"$WORK/msg.out" 2>&1
eq "sipr message exits 0 on 200" "$?" 0
sipp_wait msg
eq "SIPp got the text/plain body" "$?" 0
mport=$(free_port)
sipp_uas msg404 uas_message_404.xml "$mport"
"$SIPR" message "sip:bob@127.0.0.1:$mport" "hello" >"$WORK/msg404.out" 2>&1
eq "sipr message exits 1 on 404" "$?" 1
check "and says 404" grep -q '404 Not Found' "$WORK/msg404.out"
sipp_wait msg404 >/dev/null
"$SIPR" message "sip:bob@127.0.0.1:$mport" >/dev/null 2>&1
eq "message without TEXT is a usage error" "$?" 2

stop_server
finish
