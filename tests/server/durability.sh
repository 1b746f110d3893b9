#!/bin/bash
# (c) durability: SIPp registers N users at a rate; the server is killed
# with SIGKILL mid-run; restarted on the same SQLite file, it must still
# hold the binding of every AOR whose REGISTER SIPp saw answered 200
# (queried with REGISTERs without Contact, and counted in the database).
# usage: durability.sh SIPR
SIPR=$1
LIMIT=150
N=${N:-400}
RATE=${RATE:-200}
. "$(dirname "$0")/lib.sh"
need sipp sip-tester
need sqlite3 sqlite3

echo "== $N REGISTERs at $RATE/s, kill -9 mid-run"
start_server srv --auth off || finish
{
  echo SEQUENTIAL
  for i in $(seq 1 "$N"); do echo "user$i;"; done
} >"$WORK/users.csv"

sipp_run load register.xml -t u1 -inf "$WORK/users.csv" -m "$N" -r "$RATE" \
  -rp 1000 -l 200 -recv_timeout 3000 &
SIPP_PID=$!
PIDS+=("$SIPP_PID")
# Kill once about half were answered.
n=0
while [ $n -lt 200 ]; do
  answered=$(grep -c '^SIP/2.0 200' "$WORK/load.msg" 2>/dev/null || true)
  [ "${answered:-0}" -ge $((N / 2)) ] && break
  sleep 0.05
  n=$((n + 1))
done
kill -9 "$SRV_PID"
wait "$SRV_PID" 2>/dev/null
wait_pid "$SIPP_PID" 60

sipp_received "$WORK/load.msg" | awk -F'|' '$1 ~ /^SIP\/2.0 200/ {
  if (match($2, /sip:[^@]+@/)) print substr($2, RSTART + 4, RLENGTH - 5) }' |
  sort -u >"$WORK/answered.txt"
answered=$(wc -l <"$WORK/answered.txt")
echo "  SIPp saw $answered of $N REGISTERs answered 200 before the kill"
check "some REGISTERs were answered before the kill" test "$answered" -gt 0
check "the kill came before the end of the run" test "$answered" -lt "$N"

echo "== restart on the same database"
start_server srv2 --auth off || finish
{
  echo SEQUENTIAL
  sed 's/$/;/' "$WORK/answered.txt"
} >"$WORK/query.csv"
sipp_run query query.xml -t u1 -inf "$WORK/query.csv" -m "$answered" -r 200 -l 100
eq "every AOR answered 200 before the kill is still bound (sipp status)" "$?" 0
failed=$(grep -c 'Failed call' "$WORK/query.err" 2>/dev/null || true)
stop_server

# The same from the file itself: every answered AOR has a row.
sqlite3 "$DB" .dump >"$WORK/dump.sql"
missing=0
while read -r u; do
  grep -q "$u@127.0.0.1" "$WORK/dump.sql" || missing=$((missing + 1))
done <"$WORK/answered.txt"
eq "answered AORs missing from the database file" "$missing" 0
[ "$FAILS" -ne 0 ] && { echo "--- server log (restart)"; cat "$WORK/srv2.log"; echo "query failures: $failed"; }
finish
