#!/bin/sh
# Tests of `sipr parse`: exit status, JSON on stdout, the reason on stderr.
#
# usage: test_parse.sh SIPR_BINARY [SHARED_DIR]
# SHARED_DIR (optional): the folder holding torture/rfc4475 and
# torture/rfc5118; when given, every torture message must give exit 0 or 1
# (never a crash) and, when anything is printed, valid JSON.
#
# Prints one line per case, then "N passed, M failed"; exits 1 on any
# failure. Needs python3 (JSON validation).

SIPR=$1
SHARED=$2
if [ -z "$SIPR" ] || [ ! -x "$SIPR" ]; then
  echo "usage: $0 SIPR_BINARY [SHARED_DIR]" >&2
  exit 2
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/sipr-cli-test.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM

pass=0
fail=0
name=
case_ok=1

begin() { name=$1; case_ok=1; }
no() {
  case_ok=0
  echo "  $name: $1"
}
end() {
  if [ "$case_ok" = 1 ]; then
    pass=$((pass + 1))
    echo "ok   $name"
  else
    fail=$((fail + 1))
    echo "FAIL $name"
    echo "  --- exit status: $rc"
    echo "  --- stderr:"; sed 's/^/  | /' "$T/err" | head -20
    echo "  --- stdout:"; sed 's/^/  | /' "$T/out" | head -20
  fi
}

# run [ARGS...]: runs sipr with stdin from $IN (default /dev/null).
run() {
  "$SIPR" "$@" <"${IN:-/dev/null}" >"$T/out" 2>"$T/err"
  rc=$?
}

want_rc() { [ "$rc" = "$1" ] || no "exit status $rc, want $1"; }
want_err() { grep -Eq -- "$1" "$T/err" || no "stderr lacks /$1/"; }
want_out() { grep -Eq -- "$1" "$T/out" || no "stdout lacks /$1/"; }
want_no_out() { [ ! -s "$T/out" ] || no "stdout not empty"; }
want_err_lines() {
  n=$(wc -l <"$T/err")
  [ "$n" -eq "$1" ] || no "stderr has $n lines, want $1"
}

have_python=0
command -v python3 >/dev/null 2>&1 && have_python=1

# want_json [PYTHON_ASSERTIONS]: stdout is one valid JSON document, and
# the Python statements (with the document as `d`) hold.
want_json() {
  if [ "$have_python" = 0 ]; then
    no "python3 not found: cannot validate the JSON"
    return
  fi
  python3 -m json.tool "$T/out" >/dev/null 2>"$T/pyerr" ||
    { no "stdout is not valid JSON: $(head -1 "$T/pyerr")"; return; }
  [ -z "$1" ] && return
  # From a file, so that a failed assert shows its own line.
  cat >"$T/check.py" <<EOF
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
$1
EOF
  python3 "$T/check.py" "$T/out" >"$T/pyerr" 2>&1 ||
    no "JSON check failed: $(grep -v '^[ ^~]*$' "$T/pyerr" | tail -2 | tr -s ' \n' ' ')"
}

# msg FILE LINE...: writes the lines with CRLF ends, then an empty line.
msg() {
  f=$1
  shift
  : >"$f"
  for l in "$@"; do printf '%s\r\n' "$l" >>"$f"; done
  printf '\r\n' >>"$f"
}

# ---- messages -------------------------------------------------------------
sdp='v=0
o=alice 2890844526 2890844526 IN IP4 192.0.2.10
s=-
c=IN IP4 192.0.2.10
t=0 0
m=audio 49170 RTP/AVP 0
a=rtpmap:0 PCMU/8000
'
printf '%s' "$sdp" | sed 's/$/\r/' >"$T/sdp"
sdplen=$(wc -c <"$T/sdp" | tr -d ' ')

msg "$T/invite" \
  "INVITE sip:bob@example.com SIP/2.0" \
  "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport" \
  "Max-Forwards: 70" \
  "To: Bob <sip:bob@example.com>" \
  "From: \"Alice\" <sip:alice@example.org>;tag=1928301774" \
  "Call-ID: a84b4c76e66710@pc33.example.org" \
  "CSeq: 314159 INVITE" \
  "Contact: <sip:alice@192.0.2.10:5060;transport=udp>;q=0.7;expires=600" \
  "X-Custom: anything at all" \
  "Content-Type: application/sdp" \
  "Content-Length: $sdplen"
cat "$T/sdp" >>"$T/invite"

base_hdrs() { # CSEQ
  echo "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKnashds8"
  echo "Max-Forwards: 70"
  echo "To: <sip:bob@example.com>"
  echo "From: <sip:alice@example.org>;tag=88sja8x"
  echo "Call-ID: 987asjd97y7atg"
  echo "CSeq: $1"
  echo "Content-Length: 0"
}
lines() { # FILE START-LINE CSEQ
  f=$1 s=$2 c=$3
  old_ifs=$IFS
  IFS='
'
  # shellcheck disable=SC2046
  msg "$f" "$s" $(base_hdrs "$c")
  IFS=$old_ifs
}
lines "$T/mismatch" "OPTIONS sip:bob@example.com SIP/2.0" "8 INVITE"
lines "$T/badvers" "OPTIONS sip:bob@example.com SIP/7.0" "8 OPTIONS"
lines "$T/resp_badcseq" "SIP/2.0 200 OK" "99999999999 OPTIONS"
lines "$T/options" "OPTIONS sip:bob@example.com SIP/2.0" "8 OPTIONS"
# A raw header with a byte that is not UTF-8 (0xE9, Latin-1 e-acute).
lines "$T/latin1" "OPTIONS sip:bob@example.com SIP/2.0" "8 OPTIONS"
printf 'Subject: caf\351\r\n\r\n' >"$T/tail"
# Insert Subject before the empty line: drop the final CRLF, append.
head -c $(($(wc -c <"$T/latin1") - 2)) "$T/latin1" >"$T/latin1.tmp"
cat "$T/latin1.tmp" "$T/tail" >"$T/latin1"

# ---- cases ----------------------------------------------------------------
begin "valid INVITE: exit 0, JSON with typed headers"
IN="$T/invite" run parse
want_rc 0
want_json "
assert d['type'] == 'request', d['type']
assert d['method'] == 'INVITE'
assert d['request_uri'] == 'sip:bob@example.com'
u = d['request_uri_parsed']
assert u['user'] == 'bob' and u['host'] == 'example.com', u
assert d['version'] == 'SIP/2.0'
assert d['body_length'] == $sdplen, d['body_length']
assert d['trailing_bytes'] == 0
h = {x['name']: x for x in d['headers']}
assert len(d['headers']) == 10, len(d['headers'])
v = h['Via']['parsed'][0]
assert v['transport'] == 'UDP' and v['host'] == '192.0.2.10', v
assert v['port'] == 5060 and v['branch'] == 'z9hG4bK776asdhds', v
assert h['CSeq']['parsed'] == {'seq': 314159, 'method': 'INVITE'}
assert h['Max-Forwards']['parsed']['value'] == 70
assert h['From']['parsed']['tag'] == '1928301774'
assert h['From']['parsed']['uri']['user'] == 'alice'
c = h['Contact']['parsed'][0]
assert c['q'] == 0.7 and c['expires'] == 600, c
assert h['Content-Type']['parsed']['subtype'] == 'sdp'
assert h['Call-ID']['parsed'] == 'a84b4c76e66710@pc33.example.org'
assert h['X-Custom']['canonical'] is None
assert h['X-Custom']['value'] == 'anything at all'
assert 'parsed' not in h['X-Custom']
assert all('error' not in x for x in d['headers']), d['headers']
"
[ -s "$T/err" ] && no "stderr not empty"
end

begin "valid INVITE from a FILE argument"
run parse "$T/invite"
want_rc 0
want_json "assert d['method'] == 'INVITE'"
end

begin "valid INVITE from '-'"
IN="$T/invite" run parse -
want_rc 0
want_json "assert d['method'] == 'INVITE'"
end

begin "CSeq method mismatch: exit 1, 400 on stderr, JSON still printed"
run parse "$T/mismatch"
want_rc 1
want_err '^sipr parse: 400 '
want_err '[Cc][Ss][Ee][Qq]'
want_err_lines 1
want_json "assert d['method'] == 'OPTIONS'"
end

begin "SIP/7.0: exit 1, 505"
run parse "$T/badvers"
want_rc 1
want_err '^sipr parse: 505 '
want_err_lines 1
end

begin "response with an overlarge CSeq: exit 1, drop"
run parse "$T/resp_badcseq"
want_rc 1
want_err '^sipr parse: drop: '
want_err_lines 1
end

begin "response JSON"
printf 'SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP a.example.com;branch=z9hG4bK1\r\nVia: SIP/2.0/TCP b.example.com:5070;branch=z9hG4bK2;received=192.0.2.4\r\nTo: <sip:bob@example.com>;tag=x\r\nFrom: <sip:alice@example.org>;tag=y\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n' >"$T/resp"
run parse "$T/resp"
want_rc 0
want_json "
assert d['type'] == 'response'
assert d['status'] == 180 and d['reason'] == 'Ringing'
assert 'method' not in d
vias = [x for x in d['headers'] if x['canonical'] == 'Via']
assert len(vias) == 2
assert vias[1]['parsed'][0]['received'] == '192.0.2.4'
assert vias[1]['parsed'][0]['port'] == 5070
"
end

begin "a byte that is not UTF-8 comes out as Latin-1, JSON stays valid"
run parse "$T/latin1"
want_rc 0
want_json "
s = [x for x in d['headers'] if x['name'] == 'Subject'][0]
assert s['value'] == 'caf\\u00e9', repr(s['value'])
"
end

begin "garbage: exit 1, no JSON"
printf 'this is not SIP\r\n\r\n' >"$T/garbage"
run parse "$T/garbage"
want_rc 1
want_err '^sipr parse: '
want_no_out
end

begin "empty input: exit 1"
IN=/dev/null run parse
want_rc 1
want_err '^sipr parse: '
end

begin "more than 65535 bytes: exit 1, message too large"
head -c 65536 /dev/zero | tr '\0' 'a' >"$T/big"
run parse "$T/big"
want_rc 1
want_err 'message too large'
want_no_out
end

begin "65535 bytes are read (not too large)"
head -c 65535 /dev/zero | tr '\0' 'a' >"$T/max"
run parse "$T/max"
want_rc 1
grep -q 'too large' "$T/err" && no "65535 bytes refused as too large"
end

begin "unreadable file: exit 1"
run parse "$T/does-not-exist"
want_rc 1
want_err 'does-not-exist'
want_no_out
end

begin "a directory: exit 1"
run parse "$T"
want_rc 1
want_no_out
end

begin "parse --help: exit 0, usage on stdout"
run parse --help
want_rc 0
want_out '^usage: sipr parse'
end

begin "sipr --help: exit 0, lists parse"
run --help
want_rc 0
want_out 'parse'
end

begin "sipr --version"
run --version
want_rc 0
want_out '^sipr [0-9]+\.[0-9]+\.[0-9]+$'
end

begin "usage: two files: exit 2"
run parse "$T/invite" "$T/invite"
want_rc 2
want_err 'sipr parse'
want_no_out
end

begin "usage: unknown option: exit 2"
run parse --frobnicate
want_rc 2
want_no_out
end

begin "usage: no command: exit 2"
run
want_rc 2
want_err 'usage'
want_no_out
end

begin "usage: unknown command: exit 2"
run frobnicate
want_rc 2
want_err 'unknown command'
want_no_out
end

begin "'--' ends options"
run parse -- "$T/invite"
want_rc 0
want_json "assert d['method'] == 'INVITE'"
end

# Every torture message: exit 0 or 1, never a crash; JSON when printed.
if [ -n "$SHARED" ] && [ -d "$SHARED/torture/rfc4475" ]; then
  for f in "$SHARED"/torture/rfc4475/*.dat "$SHARED"/torture/rfc5118/*; do
    case $f in *.tsv | *SHA256SUMS) continue ;; esac
    begin "torture $(basename "$(dirname "$f")")/$(basename "$f")"
    run parse "$f"
    [ "$rc" = 0 ] || [ "$rc" = 1 ] || no "exit status $rc (crash?)"
    if [ "$rc" = 1 ]; then
      want_err '^sipr parse: '
      want_err_lines 1
    fi
    [ -s "$T/out" ] && want_json ""
    end
  done
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
