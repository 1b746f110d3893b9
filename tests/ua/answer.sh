#!/bin/bash
# sipr answer as a scripted callee: registered as bob at `sipr serve`
# (digest), it takes a MESSAGE (RFC 3428), a call from SIPp (SDP answer,
# 2xx until the ACK, the caller's BYE) and a call from `sipr call`, then
# exits after --calls 2 and removes its registration; a MESSAGE for
# another user is refused (404, RFC 3261 §8.2.2.1). A second one
# rejects calls with --reply 486. Then every event in --json over TCP,
# and a wildcard --local.
# usage: answer.sh SIPR
SIPR=$1
LIMIT=120
. "$(dirname "$0")/lib.sh"

printf 'bobpw\n' | "$SIPR" user add bob@127.0.0.1 --password-stdin \
  --store "sqlite:$DB" >/dev/null 2>&1
eq "sipr user add bob@127.0.0.1" "$?" 0
start_server srv --auth on || finish
SRV=sip:127.0.0.1:$PORT

echo "== sipr answer registered as bob"
APORT=$(free_port)
printf 'bobpw\n' | "$SIPR" answer --aor bob@127.0.0.1 --registrar "$SRV" \
  --user bob --password-stdin --local "127.0.0.1:$APORT" --ring 0.2 \
  --calls 2 >"$WORK/ans.out" 2>"$WORK/ans.err" &
AP=$!
PIDS+=("$AP")
for _ in $(seq 100); do grep -q 'registered' "$WORK/ans.out" && break; sleep 0.05; done
check "registered at sipr serve with digest credentials" grep -q 'sip:bob@127.0.0.1 registered' "$WORK/ans.out"

"$SIPR" message "sip:bob@127.0.0.1:$APORT" "hello bob" --from sip:alice@127.0.0.1 \
  >"$WORK/msg.out" 2>&1
eq "sipr message to sipr answer exits 0" "$?" 0
for _ in $(seq 40); do grep -q 'MESSAGE from' "$WORK/ans.out" && break; sleep 0.05; done
check "sipr answer prints the MESSAGE and its sender" \
  grep -q 'MESSAGE from sip:alice@127.0.0.1: hello bob' "$WORK/ans.out"

# RFC 3261 §8.2.2.1: a Request-URI that is not bob (nor the Contact) is
# refused with 404; a To header field naming someone else is not.
"$SIPR" message "sip:carol@127.0.0.1:$APORT" "hello carol" --from sip:alice@127.0.0.1 \
  >"$WORK/msgcarol.out" 2>&1
eq "a MESSAGE for carol at bob's Contact exits 1" "$?" 1
check "answered 404 Not Found" grep -q '404 Not Found' "$WORK/msgcarol.out"
check "and sipr answer did not print it" bash -c "! grep -q 'hello carol' '$WORK/ans.out'"

sipp_uac sippcall uac_call.xml "127.0.0.1:$APORT"
sipp_wait sippcall
eq "a SIPp caller gets 180, a 200 with SDP and Contact, and its BYE answered" "$?" 0

"$SIPR" call "sip:bob@127.0.0.1:$APORT" --from sip:alice@127.0.0.1 \
  --duration 0.3 --timeout 10 >"$WORK/call.out" 2>&1
eq "sipr call to sipr answer exits 0" "$?" 0
check "the caller saw 180 then 200" bash -c "grep -q '180 Ringing' '$WORK/call.out' && grep -q '200 OK (ACK sent)' '$WORK/call.out'"
check "the answer's media names 127.0.0.1" grep -qE 'media audio 127\.0\.0\.1:[0-9]+ RTP/AVP 0 8 101' "$WORK/call.out"

wait_pid "$AP" 10
eq "sipr answer exits 0 after --calls 2" "$?" 0
eq "it confirmed two calls (ACK received)" "$(grep -c 'ACK received' "$WORK/ans.out")" 2
eq "and saw two BYEs" "$(grep -c 'BYE received' "$WORK/ans.out")" 2
check "and removed its registration" grep -q 'unregistered' "$WORK/ans.out"
[ "$FAILS" -ne 0 ] && show "$WORK/ans.out" && show "$WORK/ans.err"

echo "== sipr answer --reply 486 (no registrar)"
BPORT=$(free_port)
"$SIPR" answer --local "127.0.0.1:$BPORT" --reply 486 --calls 2 >"$WORK/busy.out" 2>&1 &
BP=$!
PIDS+=("$BP")
for _ in $(seq 100); do grep -q 'listening' "$WORK/busy.out" && break; sleep 0.05; done
"$SIPR" call "sip:bob@127.0.0.1:$BPORT" --timeout 10 >"$WORK/busycall.out" 2>&1
eq "sipr call to a busy callee exits 1" "$?" 1
check "with the status on stderr" grep -q '486 Busy Here' "$WORK/busycall.out"
sipp_uac sippbusy uac_busy.xml "127.0.0.1:$BPORT"
sipp_wait sippbusy
eq "a SIPp caller gets 486" "$?" 0
wait_pid "$BP" 10
eq "sipr answer exits 0 after --calls 2" "$?" 0

echo "== both ends on wildcard addresses (--local 0.0.0.0)"
WPORT=$(free_port)
"$SIPR" answer --local "0.0.0.0:$WPORT" --calls 1 >"$WORK/wild.out" 2>&1 &
WP=$!
PIDS+=("$WP")
for _ in $(seq 100); do grep -q 'listening' "$WORK/wild.out" && break; sleep 0.05; done
"$SIPR" call "sip:bob@127.0.0.1:$WPORT" --local 0.0.0.0:0 --duration 0.2 \
  --timeout 10 >"$WORK/wildcall.out" 2>&1
eq "sipr call exits 0" "$?" 0
check "the callee's Contact names 127.0.0.1, not 0.0.0.0" \
  grep -qE "remote target sip:[^@]*@127\.0\.0\.1:$WPORT\$" "$WORK/wildcall.out"
check "so does its SDP" grep -qE 'media audio 127\.0\.0\.1:' "$WORK/wildcall.out"
wait_pid "$WP" 10
eq "sipr answer exits 0" "$?" 0

echo "== --json and --transport tcp: every event of answer, call and message"
JPORT=$(free_port)
"$SIPR" answer --aor bob@127.0.0.1 --local "127.0.0.1:$JPORT" --transport tcp \
  --ring 0.1 --calls 1 --json >"$WORK/jans.json" 2>"$WORK/jans.err" &
JP=$!
PIDS+=("$JP")
for _ in $(seq 100); do grep -q '"listening"' "$WORK/jans.json" && break; sleep 0.05; done
"$SIPR" message "sip:bob@127.0.0.1:$JPORT" "over tcp" --from sip:alice@127.0.0.1 \
  --transport tcp --json >"$WORK/jmsg.json" 2>&1
eq "sipr message --transport tcp --json exits 0" "$?" 0
"$SIPR" message "sip:carol@127.0.0.1:$JPORT" "nobody" --transport tcp --json \
  >"$WORK/jmsg404.json" 2>/dev/null
eq "a MESSAGE for carol exits 1" "$?" 1
# The Request-URI names another host; --proxy takes it to sipr answer.
"$SIPR" message "sip:bob@198.51.100.7:$JPORT" "elsewhere" --transport tcp \
  --proxy "sip:127.0.0.1:$JPORT" >"$WORK/jmsghost.out" 2>&1
eq "a MESSAGE for bob at another host exits 1" "$?" 1
check "answered 404" grep -q '404 Not Found' "$WORK/jmsghost.out"
"$SIPR" call "sip:bob@198.51.100.7:$JPORT" --transport tcp --timeout 10 \
  --proxy "sip:127.0.0.1:$JPORT" >"$WORK/jcallhost.out" 2>&1
eq "an INVITE for bob at another host (via --proxy) exits 1" "$?" 1
check "with 404 on stderr" grep -q 'sipr call: .*404 Not Found' "$WORK/jcallhost.out"
"$SIPR" call "sip:bob@127.0.0.1:$JPORT" --from sip:alice@127.0.0.1 --transport tcp \
  --duration 0.2 --timeout 10 --json >"$WORK/jcall.json" 2>"$WORK/jcall.err"
eq "sipr call --transport tcp --json exits 0" "$?" 0
wait_pid "$JP" 10
eq "sipr answer --json exits 0 after the call" "$?" 0
check "each output line is one JSON object; the events are complete" \
  python3 - "$WORK/jans.json" "$WORK/jcall.json" "$WORK/jmsg.json" "$WORK/jmsg404.json" <<'PY'
import json, sys
ans, call, msg, m404 = ([json.loads(l) for l in open(f)] for f in sys.argv[1:])
def names(o): return [x["event"] for x in o]
def need(cond, what):
    if not cond:
        print("    missing:", what); sys.exit(1)
for o in ans + call + msg + m404:
    need("event" in o and "time" in o, "event/time in %r" % o)
need(names(ans)[0] == "listening" and ans[0]["aor"] == "sip:bob@127.0.0.1", "listening")
need(any(o["event"] == "message" and o["text"] == "over tcp" for o in ans), "message")
need("nobody" not in json.dumps(ans) and "elsewhere" not in json.dumps(ans), "404s not delivered")
for e in ("incoming", "ringing", "answered", "confirmed", "ended"):
    need(e in names(ans), "answer event " + e)
cid = [o for o in ans if o["event"] == "incoming"][0]["call_id"]
need(all(o.get("call_id") == cid for o in ans
         if o["event"] in ("incoming", "ringing", "answered", "confirmed", "ended")), "answer call_id")
for e in ("invite", "provisional", "answered", "dialog", "media", "bye", "ended"):
    need(e in names(call), "call event " + e)
need(all(o.get("call_id") == cid for o in call), "call call_id")
d = [o for o in call if o["event"] == "dialog"][0]
need("transport=tcp" in d["remote_target"], "TCP Contact")
need(msg[-1]["event"] == "response" and msg[-1]["status"] == 200, "message 200")
need(m404[-2]["event"] == "response" and m404[-2]["status"] == 404, "message 404")
need(m404[-1]["event"] == "error" and m404[-1]["error"] == "status", "error event")
PY
[ "$FAILS" -ne 0 ] && show "$WORK/jans.json" && show "$WORK/jcall.json" && show "$WORK/jmsg404.json"

echo "== a wildcard --local takes requests for any address of this host"
XPORT=$(free_port)
"$SIPR" answer --aor bob@127.0.0.1 --local "0.0.0.0:$XPORT" >"$WORK/wild2.out" 2>&1 &
XP=$!
PIDS+=("$XP")
for _ in $(seq 100); do grep -q 'listening' "$WORK/wild2.out" && break; sleep 0.05; done
"$SIPR" message "sip:bob@127.0.0.2:$XPORT" "to 127.0.0.2" >"$WORK/wmsg.out" 2>&1
eq "a MESSAGE for bob at 127.0.0.2 exits 0" "$?" 0
kill -TERM "$XP"
wait_pid "$XP" 10
eq "sipr answer exits 0 on SIGTERM" "$?" 0
check "and printed it" grep -q 'to 127.0.0.2' "$WORK/wild2.out"

echo "== usage"
"$SIPR" answer --registrar "$SRV" >/dev/null 2>&1
eq "--registrar without --aor is a usage error" "$?" 2
"$SIPR" answer --reply 150 >/dev/null 2>&1
eq "--reply 150 is a usage error" "$?" 2

stop_server
finish
