#!/bin/bash
# (d) configuration: invalid files are refused at start with FILE:LINE and
# exit 1; flags override the file; SIGHUP with a bad file keeps the running
# configuration (and the server running); SIGHUP with a good file applies
# what is live (auth on/off here, seen from a REGISTER's answer).
# usage: config.sh SIPR
SIPR=$1
LIMIT=90
. "$(dirname "$0")/lib.sh"
need sipp sip-tester
need sipsak sipsak

# refused NAME LINE REASON-PATTERN: sipr serve -c $WORK/NAME.yaml must exit
# 1 and print NAME.yaml:LINE: and the reason.
refused() {
  local f="$WORK/$1.yaml" rc
  "$SIPR" serve -c "$f" --store "sqlite:$DB" >"$WORK/$1.out" 2>&1 &
  local pid=$!
  wait_pid "$pid" 10
  rc=$?
  eq "$1: refused with exit 1" "$rc" 1
  if grep -q "$f:$2: .*$3" "$WORK/$1.out"; then
    ok "$1: says $f:$2: $3"
  else
    bad "$1: expected '$f:$2: ...$3', got: $(head -3 "$WORK/$1.out")"
  fi
}

echo "== invalid files refused at start"
printf 'auth: off\nlisten:\n  - udp:127.0.0.1:5060\n  - bogus\n' >"$WORK/badlisten.yaml"
refused badlisten 4 "bad listen address"
printf 'auth: off\n\nfrobnicate: 1\n' >"$WORK/unknown.yaml"
refused unknown 3 "unknown key 'frobnicate'"
printf 'auth: maybe\n' >"$WORK/badauth.yaml"
refused badauth 1 "bad auth"
printf 'workers: 2\nexpires_min: 600\nexpires_max: 60\n' >"$WORK/order.yaml"
refused order 3 "expires_min (600) is above expires_max (60)"
printf 'auth: off\ndomains: [a.example, "b example"]\n' >"$WORK/baddomain.yaml"
refused baddomain 2 "bad domain"
printf 'auth: off\nlog_level: [debug\n' >"$WORK/syntax.yaml"
"$SIPR" serve -c "$WORK/syntax.yaml" >"$WORK/syntax.out" 2>&1
eq "broken YAML: exit 1" "$?" 1
check "broken YAML: FILE:LINE in the message" grep -q "$WORK/syntax.yaml:[0-9][0-9]*:" "$WORK/syntax.out"
"$SIPR" serve -c "$WORK/nonexistent.yaml" >"$WORK/nofile.out" 2>&1
eq "missing file: exit 1" "$?" 1
"$SIPR" serve --workers many >"$WORK/badflag.out" 2>&1
eq "bad flag value: usage error, exit 2" "$?" 2

echo "== flags override the file; SIGHUP reloads"
PORT=$(free_port)
cat >"$WORK/sipr.yaml" <<YAML
# a good file
listen:
  - udp:127.0.0.1:$PORT
domains: [127.0.0.1]
auth: on
log_level: info
log_format: text
expires_min: 60
expires_default: 3600
expires_max: 86400
YAML
"$SIPR" serve -c "$WORK/sipr.yaml" --listen "udp:127.0.0.1:$PORT" \
  --listen "tcp:127.0.0.1:$PORT" --store "sqlite:$DB" --auth off --workers 1 \
  >"$WORK/srv.out" 2>"$WORK/srv.log" &
SRV_PID=$!
PIDS+=("$SRV_PID")
n=0
until grep -q 'workers:' "$WORK/srv.log" || [ $n -ge 200 ]; do sleep 0.05; n=$((n + 1)); done
check "server started with the file" grep -q 'workers: 1' "$WORK/srv.log"
check "--auth off overrides the file's auth: on" grep -q 'auth: off' "$WORK/srv.log"
check "--listen replaces the file's list (tcp listed)" grep -q "listen: tcp:127.0.0.1:$PORT" "$WORK/srv.log"

printf 'SEQUENTIAL\nalice;\n' >"$WORK/users.csv"
sipp_run before register.xml -t u1 -inf "$WORK/users.csv" -m 1
eq "auth off: REGISTER answered 200" "$?" 0

# A bad file: refused, the server keeps running with what it had.
cp "$WORK/sipr.yaml" "$WORK/good.yaml"
printf 'auth: off\nlog_level: loud\n' >"$WORK/sipr.yaml"
kill -HUP "$SRV_PID"
n=0
until grep -q 'reload refused' "$WORK/srv.log" || [ $n -ge 100 ]; do sleep 0.05; n=$((n + 1)); done
check "bad reload logged with FILE:LINE" grep -q "reload refused.*sipr.yaml:2: bad log_level" "$WORK/srv.log"
check "server still running after a bad reload" kill -0 "$SRV_PID"
sipsak -s "sip:127.0.0.1:$PORT" >/dev/null 2>&1
eq "OPTIONS still answered after the bad reload (sipsak status)" "$?" 0
sipp_run after_bad register.xml -t u1 -inf "$WORK/users.csv" -m 1
eq "running config kept: REGISTER still 200 without auth" "$?" 0

# A good file without the flag's override: auth stays off (the flag still
# overrides), but log_format switches to json at once.
sed -e 's/log_format: text/log_format: json/' "$WORK/good.yaml" >"$WORK/sipr.yaml"
kill -HUP "$SRV_PID"
n=0
until grep -q '"msg":"reloaded' "$WORK/srv.log" || [ $n -ge 100 ]; do sleep 0.05; n=$((n + 1)); done
check "good reload: log lines are JSON from then on" grep -q '"msg":"reloaded' "$WORK/srv.log"
check "the --auth off flag still overrides after a reload" grep -q '"msg":"reloaded.*auth off' "$WORK/srv.log"
stop_server

echo "== SIGHUP switches auth on live"
"$SIPR" serve -c "$WORK/good.yaml" --listen "udp:127.0.0.1:$PORT" \
  --store "sqlite:$DB" --workers 1 >"$WORK/srv3.out" 2>"$WORK/srv3.log" &
SRV_PID=$!
PIDS+=("$SRV_PID")
n=0
until grep -q 'workers:' "$WORK/srv3.log" || [ $n -ge 200 ]; do sleep 0.05; n=$((n + 1)); done
sed -e 's/auth: on/auth: off/' "$WORK/good.yaml" >"$WORK/off.yaml"
cp "$WORK/off.yaml" "$WORK/good.yaml"
sipp_run on register.xml -t u1 -inf "$WORK/users.csv" -m 1
check "auth on from the file: REGISTER not answered 200" test "$?" -ne 0
kill -HUP "$SRV_PID"
n=0
until grep -q 'reloaded' "$WORK/srv3.log" || [ $n -ge 100 ]; do sleep 0.05; n=$((n + 1)); done
sipp_run off register.xml -t u1 -inf "$WORK/users.csv" -m 1
eq "after SIGHUP with auth: off, REGISTER answered 200" "$?" 0
stop_server
[ "$FAILS" -ne 0 ] && { echo "--- server logs"; cat "$WORK/srv.log" "$WORK/srv3.log"; }
finish
