#!/bin/bash
# The registrar's rules (RFC 3261 §10.3, RFC 3327, RFC 5626, RFC 4475
# §3.3.4/3.3.12-14) against a running `sipr serve` on loopback: each check
# sends crafted REGISTERs with tests/server/reg_driver.py (UDP unless said
# otherwise) and asserts the exact status and the headers of the answer;
# what is stored is checked with query REGISTERs and with sqlite3 on the
# store file.
# usage: registrar_rules.sh SIPR   (SIPR_TORTURE_DIR: the RFC 4475 files)
SIPR=$1
LIMIT=150
. "$(dirname "$0")/lib.sh"
need sqlite3 sqlite3
DRV="$HERE/reg_driver.py"
TORTURE=${SIPR_TORTURE_DIR:-$HERE/../../../shared/torture}
for f in unksm2 cparam01 cparam02 regescrt; do
  if [ ! -f "$TORTURE/rfc4475/$f.dat" ]; then
    echo "FAIL: RFC 4475 message $TORTURE/rfc4475/$f.dat is missing (set SIPR_TORTURE_DIR)"
    exit 1
  fi
done

# reg NAME [driver options]: one REGISTER (see reg_driver.py); the final
# answer goes to $WORK/NAME.ans. Prints nothing.
reg() {
  local name=$1
  shift
  python3 "$DRV" "$PORT" "$@" >"$WORK/$name.ans" 2>"$WORK/$name.err" ||
    echo "(no answer: $(cat "$WORK/$name.err"))" >>"$WORK/$name.ans"
}
# first NAME: the status line of the answer.
first() { head -1 "$WORK/$1.ans"; }
# hdr NAME HEADER: every value of HEADER in the answer, one a line.
hdr() {
  awk -v h="$2" 'NR > 1 && $0 == "" { exit }
    NR > 1 { i = index($0, ":"); n = substr($0, 1, i - 1)
      if (tolower(n) == tolower(h)) { v = substr($0, i + 1); sub(/^[ \t]+/, "", v); print v } }' \
    "$WORK/$1.ans"
}
# contacts NAME: the Contact values joined by " | ".
contacts() { hdr "$1" Contact | paste -sd'|' | sed 's/|/ | /g'; }
db() { sqlite3 "$DB" "$1" 2>&1; }
# expect_status NAME CODE [REASON]: the status line is "SIP/2.0 CODE ..."
# (with exactly REASON when given).
expect_status() {
  local line
  line=$(first "$1")
  if [ -n "${3:-}" ]; then
    eq "$1: status" "$line" "SIP/2.0 $2 $3"
  else
    case $line in
    "SIP/2.0 $2 "?*) ok "$1: status ($line)" ;;
    *) bad "$1: expected 'SIP/2.0 $2 <reason>', got '$line'" ;;
    esac
  fi
}
# between LOW HIGH VALUE
between() { [ -n "$3" ] && [ "$3" -ge "$1" ] && [ "$3" -le "$2" ]; }

cat >"$WORK/limits.yaml" <<'YAML'
expires_min: 60
expires_default: 3600
expires_max: 7200
YAML
start_server srv --auth off --domain example.com -c "$WORK/limits.yaml" || finish

echo "== step 1: Request-URI domain"
reg dom --ruri sip:other.org --to sip:alice@other.org --contact '<sip:alice@192.0.2.1>'
expect_status dom 404
eq "nothing stored for the foreign AOR" "$(db "select count(*) from location where aor like '%other.org'")" 0
reg dom_ok --ruri sip:example.com --to sip:alice@example.com
expect_status dom_ok 200 OK

echo "== step 2: Require"
reg req --header 'Require: foo' --contact '<sip:alice@192.0.2.1>'
expect_status req 420
eq "420 names the option" "$(hdr req Unsupported)" foo
reg req2 --header 'Require: path, foo, bar' --header 'Supported: path' --contact '<sip:alice@192.0.2.1>'
expect_status req2 420
eq "420 names every unknown option, not path" "$(hdr req2 Unsupported)" "foo, bar"

echo "== RFC 3327 §5.3: Path without Supported: path"
reg path420 --header 'Path: <sip:edge.example.net;lr>' --contact '<sip:alice@192.0.2.1>'
expect_status path420 420
eq "420 Unsupported: path" "$(hdr path420 Unsupported)" path
eq "nothing stored for alice" "$(db "select count(*) from location where aor = 'sip:alice@example.com'")" 0

echo "== RFC 4475 unksm2 (byte-exact, over TCP): To is not a sip/sips URI"
# The torture messages go over TCP so that their Via (UDP, a sent-by that
# is not ours) need not change: the answer comes back on the connection
# (§18.2.2). Their Request-URI sip:example.com is one of our domains.
reg unksm2 --tcp --raw "$TORTURE/rfc4475/unksm2.dat"
expect_status unksm2 400
eq "unksm2 stored nothing" "$(db "select count(*) from location where contact like 'name:%'")" 0

echo "== step 6: Contact *"
reg star0 --to sip:sam@example.com --call-id star-a --cseq 1 \
  --contact '<sip:sam@192.0.2.1>, <sip:sam@192.0.2.2>'
expect_status star0 200 OK
reg star_noexp --to sip:sam@example.com --call-id star-a --cseq 2 --contact '*'
expect_status star_noexp 400
reg star_exp --to sip:sam@example.com --call-id star-a --cseq 3 --contact '*' --header 'Expires: 30'
expect_status star_exp 400
reg star_other --to sip:sam@example.com --call-id star-a --cseq 4 --contact '*' \
  --contact '<sip:sam@192.0.2.3>' --header 'Expires: 0'
expect_status star_other 400
reg star_ooo --to sip:sam@example.com --call-id star-a --cseq 1 --contact '*' --header 'Expires: 0'
expect_status star_ooo 500
reg star_q1 --to sip:sam@example.com --call-id star-a --cseq 5
eq "after the refused * requests both bindings remain" "$(hdr star_q1 Contact | wc -l)" 2
eq "both rows in the database" "$(db "select count(*) from location where aor = 'sip:sam@example.com'")" 2
reg star --to sip:sam@example.com --call-id star-b --cseq 1 --contact '*' --header 'Expires: 0'
expect_status star 200 OK
eq "the 200 to * lists no Contact" "$(hdr star Contact | wc -l)" 0
reg star_q2 --to sip:sam@example.com --call-id star-b --cseq 2
eq "a query lists no binding" "$(hdr star_q2 Contact | wc -l)" 0
eq "no row left in the database" "$(db "select count(*) from location where aor = 'sip:sam@example.com'")" 0

echo "== step 7: expires parameter over Expires over the default; min and max"
reg exp1 --to sip:bob@example.com --call-id exp-1 --cseq 1 --header 'Expires: 300' \
  --contact '<sip:bob@192.0.2.1>;expires=120' --contact '<sip:bob@192.0.2.2>'
expect_status exp1 200 OK
check "expires param (120) beats the Expires header" grep -qx 'Contact: <sip:bob@192.0.2.1>;expires=120' "$WORK/exp1.ans"
check "Expires header (300) beats the default" grep -qx 'Contact: <sip:bob@192.0.2.2>;expires=300' "$WORK/exp1.ans"
reg exp2 --to sip:bob@example.com --call-id exp-1 --cseq 2 --contact '<sip:bob@192.0.2.3>'
expect_status exp2 200 OK
check "neither: the default (3600)" grep -qx 'Contact: <sip:bob@192.0.2.3>;expires=3600' "$WORK/exp2.ans"
eq "the 200 lists every current binding" "$(hdr exp2 Contact | wc -l)" 3
reg brief --to sip:bob@example.com --call-id exp-1 --cseq 3 --contact '<sip:bob@192.0.2.4>;expires=30' \
  --contact '<sip:bob@192.0.2.5>'
expect_status brief 423 "Interval Too Brief"
eq "423 carries Min-Expires" "$(hdr brief Min-Expires)" 60
reg brief2 --to sip:bob@example.com --call-id exp-1 --cseq 4 --header 'Expires: 59' --contact '<sip:bob@192.0.2.4>'
expect_status brief2 423 "Interval Too Brief"
eq "nothing stored by the 423s" "$(db "select count(*) from location where aor = 'sip:bob@example.com'")" 3
reg clamp --to sip:bob@example.com --call-id exp-1 --cseq 5 --contact '<sip:bob@192.0.2.6>;expires=100000'
expect_status clamp 200 OK
check "above the maximum: clamped to 7200" grep -qx 'Contact: <sip:bob@192.0.2.6>;expires=7200' "$WORK/clamp.ans"
now=$(date +%s)
left=$(db "select expires - $now from location where contact = 'sip:bob@192.0.2.6'")
check "the stored expiry is ~7200 s away ($left)" between 7195 7200 "$left"

echo "== q-values"
reg q --to sip:quinn@example.com --contact '<sip:quinn@192.0.2.1>;q=0.1' \
  --contact '<sip:quinn@192.0.2.2>;q=0.9, <sip:quinn@192.0.2.3>;q=0.500' --contact '<sip:quinn@192.0.2.4>;q=1'
expect_status q 200 OK
eq "q kept, highest first" "$(contacts q)" \
  "<sip:quinn@192.0.2.4>;q=1;expires=3600 | <sip:quinn@192.0.2.2>;q=0.9;expires=3600 | <sip:quinn@192.0.2.3>;q=0.5;expires=3600 | <sip:quinn@192.0.2.1>;q=0.1;expires=3600"
eq "q in the database (thousandths)" "$(db "select q from location where aor = 'sip:quinn@example.com' order by contact" | paste -sd' ')" \
  "100 900 500 1000"

echo "== step 7: Call-ID and CSeq"
reg ord1 --to sip:dave@example.com --call-id ord-1 --cseq 5 --contact '<sip:dave@192.0.2.1>;expires=600' \
  --contact '<sip:dave@192.0.2.2>;expires=900'
expect_status ord1 200 OK
before=$(db "select * from location where aor = 'sip:dave@example.com' order by contact")
reg ord_eq --to sip:dave@example.com --call-id ord-1 --cseq 5 --contact '<sip:dave@192.0.2.1>;expires=0'
expect_status ord_eq 500
reg ord_lt --to sip:dave@example.com --call-id ord-1 --cseq 4 --contact '<sip:dave@192.0.2.1>;expires=1200' \
  --contact '<sip:dave@192.0.2.9>'
expect_status ord_lt 500
eq "the out-of-order requests changed no row" "$(db "select * from location where aor = 'sip:dave@example.com' order by contact")" "$before"
reg ord_q --to sip:dave@example.com --call-id ord-1 --cseq 6
exp1=$(hdr ord_q Contact | sed -n 's/^<sip:dave@192\.0\.2\.1>;expires=\([0-9]*\)$/\1/p')
check "a query still shows the first binding with its time ($exp1)" between 590 600 "$exp1"
eq "and only the two bindings" "$(hdr ord_q Contact | wc -l)" 2
reg ord_new --to sip:dave@example.com --call-id ord-2 --cseq 1 --contact '<sip:dave@192.0.2.1>;expires=1800'
expect_status ord_new 200 OK
check "a new Call-ID replaces the binding whatever its CSeq" grep -qx 'Contact: <sip:dave@192.0.2.1>;expires=1800' "$WORK/ord_new.ans"
eq "the row carries the new Call-ID and CSeq" "$(db "select call_id || ' ' || cseq from location where contact = 'sip:dave@192.0.2.1'")" "ord-2 1"

echo "== expires=0 removes one binding"
reg rm1 --to sip:dave@example.com --call-id ord-2 --cseq 2 --contact '<sip:dave@192.0.2.1>;expires=0'
expect_status rm1 200 OK
rest=$(hdr rm1 Contact)
case $rest in
"<sip:dave@192.0.2.2>;expires="[0-9]*) ok "the 200 lists only the other binding ($rest)" ;;
*) bad "the 200 after removing one binding lists '$rest'" ;;
esac
eq "one row left" "$(db "select contact from location where aor = 'sip:dave@example.com'")" "sip:dave@192.0.2.2"

echo "== step 8: remaining time and Date"
sleep 2
reg rem --to sip:bob@example.com --call-id exp-1 --cseq 9
expect_status rem 200 OK
eq "every binding of bob listed" "$(hdr rem Contact | wc -l)" 4
r120=$(hdr rem Contact | sed -n 's/^<sip:bob@192\.0\.2\.1>;expires=\([0-9]*\)$/\1/p')
check "the remaining time is counted down (registered 120, now $r120)" between 60 118 "$r120"
date_v=$(hdr rem Date)
check "Date is an RFC 1123 GMT date close to now ($date_v)" python3 -c '
import email.utils, sys, time, re
v = sys.argv[1]
assert re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT", v)
assert abs(email.utils.parsedate_to_datetime(v).timestamp() - time.time()) < 10
' "$date_v"

echo "== RFC 3327 Path stored and returned; RFC 5626 +sip.instance, reg-id"
reg path --to sip:pat@example.com --header 'Supported: path' \
  --header 'Path: <sip:edge.example.net;lr>, <sip:p2.example.net;lr>' \
  --contact '<sip:pat@192.0.2.1;transport=tcp>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1'
expect_status path 200 OK
eq "the 200 returns the Path" "$(hdr path Path)" "<sip:edge.example.net;lr>, <sip:p2.example.net;lr>"
eq "the 200 keeps +sip.instance and reg-id" "$(hdr path Contact)" \
  '<sip:pat@192.0.2.1;transport=tcp>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1;expires=3600'
eq "stored path | instance | reg-id" "$(db "select path || ' | ' || instance || ' | ' || reg_id from location where aor = 'sip:pat@example.com'")" \
  '<sip:edge.example.net;lr>, <sip:p2.example.net;lr> | "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>" | 1'
reg path_q --to sip:pat@example.com
check "a later query returns instance and reg-id" grep -q '^Contact: <sip:pat@192.0.2.1;transport=tcp>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1;expires=' "$WORK/path_q.ans"

echo "== RFC 4475 cparam01, cparam02, regescrt (byte-exact, over TCP)"
reg cparam01 --tcp --raw "$TORTURE/rfc4475/cparam01.dat"
expect_status cparam01 200 OK
eq "cparam01: unknownparam stays a contact-param" "$(contacts cparam01)" \
  "<sip:+19725552222@gw1.example.net>;unknownparam;expires=3600"
eq "cparam01: stored URI | params" "$(db "select contact || ' | ' || params from location where aor = 'sip:watson@example.com'")" \
  "sip:+19725552222@gw1.example.net | ;unknownparam"
reg cparam01_q --to sip:watson@example.com --cseq 3
check "cparam01: a later fetch keeps it outside the URI" \
  grep -q '^Contact: <sip:+19725552222@gw1\.example\.net>;unknownparam;expires=' "$WORK/cparam01_q.ans"
# The two Contact URIs are equivalent (§19.1.4: a parameter in only one URI
# is ignored) and the Call-IDs differ: cparam02 updates the same binding.
reg cparam02 --tcp --raw "$TORTURE/rfc4475/cparam02.dat"
expect_status cparam02 200 OK
eq "cparam02: unknownparam is a URI parameter inside <>" "$(contacts cparam02)" \
  "<sip:+19725552222@gw1.example.net;unknownparam>;expires=3600"
eq "cparam02: stored URI | params" "$(db "select contact || ' | ' || params from location where aor = 'sip:watson@example.com'")" \
  "sip:+19725552222@gw1.example.net;unknownparam | "
reg cparam02_q --to sip:watson@example.com --cseq 4
check "cparam02: a later fetch keeps it inside the URI" \
  grep -q '^Contact: <sip:+19725552222@gw1\.example\.net;unknownparam>;expires=' "$WORK/cparam02_q.ans"
reg regescrt --tcp --raw "$TORTURE/rfc4475/regescrt.dat"
expect_status regescrt 200 OK
eq "regescrt: the escaped Route header stays in the URI" "$(contacts regescrt)" \
  "<sip:user@example.com?Route=%3Csip:sip.example.com%3E>;expires=3600"
reg regescrt_q --to sip:user@example.com --cseq 1
check "regescrt: a later fetch returns it unchanged" \
  grep -q '^Contact: <sip:user@example\.com?Route=%3Csip:sip\.example\.com%3E>;expires=' "$WORK/regescrt_q.ans"
eq "regescrt: stored contact" "$(db "select contact from location where aor = 'sip:user@example.com'")" \
  "sip:user@example.com?Route=%3Csip:sip.example.com%3E"

echo "== a broken Contact among good ones: 400 naming it, nothing changes"
reg erin0 --to sip:erin@example.com --call-id erin-1 --cseq 1 --contact '<sip:erin@192.0.2.1>'
expect_status erin0 200 OK
before=$(db "select * from location where aor = 'sip:erin@example.com'")
reg bad_syntax --to sip:erin@example.com --call-id erin-1 --cseq 2 \
  --contact '<sip:erin@192.0.2.1>;expires=0' --contact '<sip:erin@192.0.2.2>, <sip:erin@[bad>'
expect_status bad_syntax 400 "unterminated IPv6 reference"
reg bad_scheme --to sip:erin@example.com --call-id erin-1 --cseq 3 \
  --contact '<sip:erin@192.0.2.1>;expires=0' --contact '<sip:erin@192.0.2.2>, <mailto:erin@example.com>'
expect_status bad_scheme 400 "Unsupported Contact URI Scheme"
reg bad_regid --to sip:erin@example.com --call-id erin-1 --cseq 4 \
  --contact '<sip:erin@192.0.2.3>' --contact '<sip:erin@192.0.2.2>;reg-id=0'
expect_status bad_regid 400 "Bad reg-id In Contact"
reg erin_q --to sip:erin@example.com --call-id erin-1 --cseq 5
eq "a query lists only the first binding" "$(hdr erin_q Contact | sed 's/;expires=[0-9]*$//')" "<sip:erin@192.0.2.1>"
eq "the database row is unchanged" "$(db "select * from location where aor = 'sip:erin@example.com'")" "$before"
check "server still running" kill -0 "$SRV_PID"
stop_server

echo "== authentication (auth on, realm example.com, algorithms MD5 then SHA-256)"
DB="$WORK/auth.db"
for u in alice:secret bob:bobpw; do
  printf '%s\n' "${u#*:}" | "$SIPR" user add "${u%%:*}@example.com" --password-stdin \
    --store "sqlite:$DB" >"$WORK/useradd.out" 2>&1
  eq "sipr user add ${u%%:*}@example.com" "$?" 0
done
printf 'auth: on\nrealm: example.com\nauth_algorithms: [MD5, SHA-256]\n' >"$WORK/auth.yaml"
start_server srv_auth --domain example.com -c "$WORK/auth.yaml" || finish

reg unknown --to sip:mallory@example.com --contact '<sip:mallory@192.0.2.66>'
expect_status unknown 404
reg nocred --to sip:alice@example.com --contact '<sip:alice@192.0.2.1>'
expect_status nocred 401
hdr nocred WWW-Authenticate >"$WORK/chal.txt"
eq "two challenges" "$(wc -l <"$WORK/chal.txt")" 2
eq "algorithms in the configured order" \
  "$(grep -o 'algorithm=[A-Za-z0-9-]*' "$WORK/chal.txt" | paste -sd' ')" "algorithm=MD5 algorithm=SHA-256"
for k in 'realm="example.com"' 'nonce="[^"]\+"' 'opaque="[^"]\+"' 'qop="auth"'; do
  eq "every challenge has $k" "$(grep -c "$k" "$WORK/chal.txt")" 2
done
reg wrong --to sip:alice@example.com --contact '<sip:alice@192.0.2.1>' --auth alice:wrong
expect_status wrong 401
check "the second 401 challenges again" grep -q '^WWW-Authenticate: Digest ' "$WORK/wrong.ans"
reg good_md5 --to sip:alice@example.com --contact '<sip:alice@192.0.2.1>' --auth alice:secret --alg MD5
expect_status good_md5 200 OK
reg good_sha --to sip:alice@example.com --contact '<sip:alice@192.0.2.2>' --auth alice:secret --alg SHA-256
expect_status good_sha 200 OK
eq "alice's bindings stored" "$(db "select contact from location where aor = 'sip:alice@example.com' order by contact" | paste -sd' ')" \
  "sip:alice@192.0.2.1 sip:alice@192.0.2.2"
reg other --to sip:bob@example.com --contact '<sip:alice@192.0.2.1>' --auth alice:secret
expect_status other 403
eq "nothing stored for bob" "$(db "select count(*) from location where aor = 'sip:bob@example.com'")" 0
stop_server

if [ "$FAILS" -ne 0 ]; then
  echo "--- server logs"
  tail -n 30 "$WORK/srv.log" "$WORK/srv_auth.log"
fi
finish
