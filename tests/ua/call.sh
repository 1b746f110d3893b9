#!/bin/bash
# `sipr call` against SIPp UAS scenarios on loopback: an answered call
# (INVITE/180/200/ACK/BYE, RFC 3261 §13, §15), busy (486), no answer
# ended with --cancel-after (CANCEL/487, §9.1), 401 and 407 challenges
# answered with digest credentials (§22.2), and a forked answer (two 2xx:
# each ACKed, the extra dialog ended with BYE, §13.2.2.4).
# usage: call.sh SIPR
SIPR=$1
LIMIT=150
. "$(dirname "$0")/lib.sh"

# run_call NAME SCENARIO [SIPR-CALL-ARGS...]: SIPp UAS on a free port,
# `sipr call` to it; sets RC (sipr's status) and SRC (SIPp's).
run_call() {
  local name=$1 scen=$2 port
  shift 2
  port=$(free_port)
  sipp_uas "$name" "$scen" "$port"
  "$SIPR" call "sip:bob@127.0.0.1:$port" --from sip:alice@127.0.0.1 \
    --timeout 10 "$@" >"$WORK/$name.out" 2>"$WORK/$name.errout"
  RC=$?
  sipp_wait "$name"
  SRC=$?
}

echo "== answered call"
run_call answer uas_answer.xml --duration 0.5
eq "sipr call exits 0 for an answered, cleanly ended call" "$RC" 0
eq "the SIPp UAS saw INVITE (with SDP), ACK and BYE" "$SRC" 0
check "the 180 is printed with a timestamp" grep -qE '^\[ *[0-9]+\.[0-9]{3}\] 180 Ringing' "$WORK/answer.out"
check "the 200 is printed, ACK sent" grep -q '200 OK (ACK sent)' "$WORK/answer.out"
check "the answer's media line is printed" grep -qE 'media audio 127\.0\.0\.1:[0-9]+ RTP/AVP 0' "$WORK/answer.out"
check "the BYE is answered" grep -q '200 OK (BYE answered)' "$WORK/answer.out"
[ "$RC" -ne 0 ] && show "$WORK/answer.out" && show "$WORK/answer.errout"

echo "== answered call, --json"
run_call answer_json uas_answer.xml --duration 0.2 --json
eq "sipr call --json exits 0" "$RC" 0
check "one JSON object per line, with the events in order" python3 - "$WORK/answer_json.out" <<'PY'
import json, sys
ev = [json.loads(l)["event"] for l in open(sys.argv[1])]
want = ["invite", "provisional", "answered", "dialog", "media", "bye", "ended"]
sys.exit(0 if ev == want else print(ev) or 1)
PY

echo "== busy"
run_call busy uas_busy.xml
eq "sipr call exits 1 on 486" "$RC" 1
eq "the SIPp UAS got its ACK for the 486" "$SRC" 0
check "the final status is said on stderr" grep -q '486 Busy Here' "$WORK/busy.errout"

echo "== no answer, --cancel-after"
run_call cancel uas_noanswer.xml --cancel-after 0.5
eq "sipr call exits 1 when cancelled" "$RC" 1
eq "the SIPp UAS saw CANCEL and the ACK for its 487" "$SRC" 0
check "the 487 is printed" grep -q '487 Request Terminated' "$WORK/cancel.out"
check "the CANCEL is printed" grep -q 'CANCEL (no answer)' "$WORK/cancel.out"

for k in 401 407; do
  echo "== $k challenge answered"
  name=auth$k
  port=$(free_port)
  sipp_uas "$name" "uas_auth$k.xml" "$port"
  printf 'secret\n' | "$SIPR" call "sip:bob@127.0.0.1:$port" --from sip:alice@127.0.0.1 \
    --user alice --password-stdin --duration 0.3 --timeout 10 \
    >"$WORK/$name.out" 2>"$WORK/$name.errout"
  RC=$?
  sipp_wait "$name"
  SRC=$?
  eq "sipr call exits 0 after answering the $k" "$RC" 0
  eq "SIPp verified the credentials and saw ACK and BYE" "$SRC" 0
  check "no 403 from the verifier" bash -c "! grep -q 403 '$WORK/$name.out'"
  check "the digest response is right for alice/secret (MD5, qop=auth, nc=1)" \
    python3 - "$WORK/$name.msg" <<'PY'
import hashlib, re, sys
text = open(sys.argv[1], encoding="latin-1").read()
m = re.search(r"^(?:Proxy-)?Authorization: Digest (.*)$", text, re.M | re.I)
if not m:
    sys.exit("no credentials")
p = dict(re.findall(r'(\w+)="?([^",]*)"?', m.group(1)))
h = lambda s: hashlib.md5(s.encode()).hexdigest()
ha1 = h("alice:sipp.test:secret")
ha2 = h("INVITE:" + p["uri"])
want = h(":".join([ha1, p["nonce"], p["nc"], p["cnonce"], p["qop"], ha2]))
sys.exit(0 if want == p["response"] and p["nc"] == "00000001" else "bad response")
PY
  [ "$RC" -ne 0 ] && show "$WORK/$name.out" && show "$WORK/$name.errout"
done

echo "== 401 challenge with a wrong password"
port=$(free_port)
sipp_uas wrong uas_auth401.xml "$port"
printf 'wrong\n' | "$SIPR" call "sip:bob@127.0.0.1:$port" --from sip:alice@127.0.0.1 \
  --user alice --password-stdin --duration 0.3 --timeout 10 \
  >"$WORK/wrong.out" 2>"$WORK/wrong.errout"
eq "sipr call exits 1 when the credentials are refused" "$?" 1
check "the 403 is said on stderr" grep -q '403' "$WORK/wrong.errout"
sipp_wait wrong >/dev/null

echo "== forked 2xx"
run_call fork uas_fork.xml --duration 0.5
eq "sipr call exits 0" "$RC" 0
eq "SIPp saw both ACKs, the BYE for branch B at once, then A's BYE" "$SRC" 0
check "the extra 2xx is reported" grep -q 'another branch: ACK and BYE sent' "$WORK/fork.out"
[ "$SRC" -ne 0 ] && show "$WORK/fork.out"

echo "== bad input"
"$SIPR" call "sip:bob@@" >"$WORK/bad.out" 2>&1
eq "a bad URI exits 1" "$?" 1
check "and says so" grep -q "bad" "$WORK/bad.out"
"$SIPR" call >/dev/null 2>&1
eq "no URI is a usage error (2)" "$?" 2
"$SIPR" call sip:x@127.0.0.1 --duration abc >/dev/null 2>&1
eq "a bad --duration is a usage error (2)" "$?" 2
"$SIPR" call --help >"$WORK/help.out" 2>&1
eq "--help exits 0" "$?" 0
check "--help names --cancel-after" grep -q -- '--cancel-after' "$WORK/help.out"

finish
