#!/bin/bash
# Expiry across a restart: with expires_min 1, a REGISTER with Expires: 5;
# the server is stopped (SIGTERM) and restarted on the same SQLite file
# 2 s later: a REGISTER without Contact lists the binding with about 3 s
# left; once the 5 s are over, the binding is gone.
# usage: expiry_restart.sh SIPR
SIPR=$1
LIMIT=60
. "$(dirname "$0")/lib.sh"
need sqlite3 sqlite3

# reg_msg FILE N [CONTACT EXPIRES]: a REGISTER for alice (a fresh branch
# and CSeq N each time); without CONTACT a query.
reg_msg() {
  {
    echo "REGISTER sip:127.0.0.1 SIP/2.0"
    echo "Via: SIP/2.0/UDP 127.0.0.1:LPORT;branch=z9hG4bK-exp-$$-$2;rport"
    echo "Max-Forwards: 70"
    echo "From: <sip:alice@127.0.0.1>;tag=exp$2"
    echo "To: <sip:alice@127.0.0.1>"
    echo "Call-ID: exp-$$@127.0.0.1"
    echo "CSeq: $2 REGISTER"
    if [ -n "${3:-}" ]; then
      echo "Contact: <$3>"
      echo "Expires: $4"
    fi
    echo "Content-Length: 0"
    echo
  } >"$1"
}
# contact_expires ANSWER-FILE: the expires= of the Contact for 5999, or "".
contact_expires() {
  grep -i '^Contact:.*127\.0\.0\.1:5999' "$1" | grep -o 'expires=[0-9]*' | head -1 | cut -d= -f2
}

printf 'auth: off\nexpires_min: 1\n' >"$WORK/low.yaml"
echo "== REGISTER with Expires: 5"
start_server srv -c "$WORK/low.yaml" || finish
check "banner shows expires min 1" grep -q 'expires: min 1,' "$WORK/srv.log"
reg_msg "$WORK/reg.sip" 1 "sip:alice@127.0.0.1:5999" 5
t0=$(date +%s.%N)
sip_send udp "$WORK/reg.sip" full >"$WORK/reg.ans"
eq "REGISTER answered" "$(head -1 "$WORK/reg.ans")" "SIP/2.0 200 OK"
eq "the 200 grants expires=5" "$(contact_expires "$WORK/reg.ans")" 5
stop_server

echo "== restart on the same database 2 s later"
sleep 2
start_server srv2 -c "$WORK/low.yaml" || finish
reg_msg "$WORK/q1.sip" 2
sip_send udp "$WORK/q1.sip" full >"$WORK/q1.ans"
eq "query after the restart answered" "$(head -1 "$WORK/q1.ans")" "SIP/2.0 200 OK"
left=$(contact_expires "$WORK/q1.ans")
check "the binding survived the restart with about 3 s left (expires=${left:-none})" \
  test -n "$left" -a "${left:-0}" -ge 1 -a "${left:-9}" -le 3
dbleft=$(sqlite3 "$DB" "select expires - strftime('%s','now') from location where aor = 'sip:alice@127.0.0.1'")
check "the store row expires in 1..3 s (${dbleft:-none})" \
  test -n "$dbleft" -a "${dbleft:-0}" -ge 1 -a "${dbleft:-9}" -le 3

echo "== after the 5 s"
# wait until 6 s after the REGISTER
python3 -c "import time; time.sleep(max(0, $t0 + 6 - time.time()))"
reg_msg "$WORK/q2.sip" 3
sip_send udp "$WORK/q2.sip" full >"$WORK/q2.ans"
eq "query after expiry answered" "$(head -1 "$WORK/q2.ans")" "SIP/2.0 200 OK"
check "the expired binding is no longer listed" \
  bash -c "! grep -qi '^Contact:' '$WORK/q2.ans'"
stop_server
rows=$(sqlite3 "$DB" "select count(*) from location where aor = 'sip:alice@127.0.0.1' and expires > strftime('%s','now')")
eq "no live binding of alice left in the store" "$rows" 0
echo "  (rows of alice still in the file, expired: $(sqlite3 "$DB" "select count(*) from location where aor = 'sip:alice@127.0.0.1'"))"

if [ "$FAILS" -ne 0 ]; then
  for f in reg q1 q2; do echo "--- $f.ans"; cat "$WORK/$f.ans"; done
  echo "--- server logs"; cat "$WORK/srv.log" "$WORK/srv2.log"
fi
finish
