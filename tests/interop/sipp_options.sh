#!/bin/sh
# Interop: SIPp sends OPTIONS to tp_uas (the transport layer alone) over
# UDP, then TCP; every one must be answered 200. Usage: sipp_options.sh
# PATH/TO/tp_uas. Fails when sipp is not installed (scripts/deps.sh installs it).
set -eu
uas=$1
here=$(cd "$(dirname "$0")" && pwd)
command -v sipp >/dev/null 2>&1 || { echo "FAIL: sipp (Debian package sip-tester) is not installed; run scripts/deps.sh" >&2; exit 1; }
dir=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
"$uas" >"$dir/port" 2>"$dir/uas.log" &
pid=$!
i=0
while [ ! -s "$dir/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
port=$(head -n 1 "$dir/port")
[ -n "$port" ] || { echo "tp_uas did not start"; cat "$dir/uas.log"; exit 1; }
for t in u1 t1; do
  if ! sipp 127.0.0.1:"$port" -sf "$here/options.xml" -t "$t" -i 127.0.0.1 \
      -m 200 -r 200 -l 50 -nostdin -timeout 30s -timeout_error \
      -trace_err -error_file "$dir/sipp-$t.err" >"$dir/sipp-$t.out" 2>&1; then
    echo "sipp -t $t failed"; tail -n 30 "$dir/sipp-$t.out"
    cat "$dir/sipp-$t.err" 2>/dev/null | head -n 40
    exit 1
  fi
  echo "sipp -t $t: 200 OPTIONS answered"
done
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
cat "$dir/uas.log"
