#!/bin/bash
# A locked database: after alice registers, another process holds an
# EXCLUSIVE transaction on the SQLite file (in WAL mode that blocks every
# other writer). A REGISTER for bob must then get a 500 with Retry-After
# within a bounded time (the store's busy timeout is 5 s) while the server
# keeps answering OPTIONS; once the lock is released bob registers (200) and
# alice's earlier binding is still there (query REGISTER and the file).
# usage: locked_db.sh SIPR
SIPR=$1
LIMIT=60
. "$(dirname "$0")/lib.sh"
need sqlite3 sqlite3

# reg_msg FILE USER N [CONTACT]: a REGISTER for USER (fresh branch, CSeq N);
# without CONTACT a query.
reg_msg() {
  {
    echo "REGISTER sip:127.0.0.1 SIP/2.0"
    echo "Via: SIP/2.0/TCP 127.0.0.1:LPORT;branch=z9hG4bK-lk-$$-$2-$3;rport"
    echo "Max-Forwards: 70"
    echo "From: <sip:$2@127.0.0.1>;tag=lk$3"
    echo "To: <sip:$2@127.0.0.1>"
    echo "Call-ID: lk-$2-$$@127.0.0.1"
    echo "CSeq: $3 REGISTER"
    if [ -n "${4:-}" ]; then
      echo "Contact: <$4>"
      echo "Expires: 600"
    fi
    echo "Content-Length: 0"
    echo
  } >"$1"
}

# send_final FILE WAIT: sends FILE over TCP and prints the first final
# answer (provisional ones skipped), "" after WAIT s without one; the
# elapsed seconds go to FILE.secs.
send_final() {
  python3 - "$1" "$PORT" "$2" <<'PY'
import socket, sys, time
path, port, wait = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
data = open(path, "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
t0 = time.monotonic()
s = socket.create_connection(("127.0.0.1", port), timeout=wait)
data = data.replace(b"LPORT", str(s.getsockname()[1]).encode())
s.sendall(data)
buf, final = b"", b""
while not final:
    left = wait - (time.monotonic() - t0)
    if left <= 0:
        break
    s.settimeout(left)
    try:
        chunk = s.recv(65535)
    except socket.timeout:
        break
    if not chunk:
        break
    buf += chunk
    while b"\r\n\r\n" in buf:  # Content-Length: 0 answers only
        msg, buf = buf.split(b"\r\n\r\n", 1)
        code = msg.split(b" ", 2)[1] if msg.startswith(b"SIP/2.0 ") else b""
        if code[:1] != b"1":
            final = msg
            break
open(path + ".secs", "w").write("%.1f\n" % (time.monotonic() - t0))
print(final.decode("latin-1").replace("\r\n", "\n"))
PY
}

start_server srv --auth off || finish

echo "== alice registers"
reg_msg "$WORK/alice.sip" alice 1 "sip:alice@127.0.0.1:5071"
send_final "$WORK/alice.sip" 5 >"$WORK/alice.ans"
eq "REGISTER alice answered" "$(head -1 "$WORK/alice.ans")" "SIP/2.0 200 OK"

echo "== another process holds an EXCLUSIVE transaction on the database"
python3 - "$DB" "$WORK/locked" "$WORK/release" <<'PY' >"$WORK/locker.log" 2>&1 &
import os, sqlite3, sys, time
db, locked, release = sys.argv[1:4]
c = sqlite3.connect(db, timeout=10, isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
open(locked, "w").write("%s\n" % c.execute("PRAGMA journal_mode").fetchone()[0])
t0 = time.monotonic()
while not os.path.exists(release) and time.monotonic() - t0 < 40:
    time.sleep(0.05)
c.execute("ROLLBACK")
c.close()
PY
LOCK_PID=$!
PIDS+=("$LOCK_PID")
n=0
while [ ! -s "$WORK/locked" ] && [ $n -lt 200 ] && kill -0 "$LOCK_PID" 2>/dev/null; do
  sleep 0.05
  n=$((n + 1))
done
check "the locker holds BEGIN EXCLUSIVE" test -s "$WORK/locked"
eq "the database is in WAL mode" "$(cat "$WORK/locked" 2>/dev/null)" wal
check "a writer is really blocked (sqlite3 CLI insert fails busy)" \
  bash -c "! sqlite3 '$DB' 'PRAGMA busy_timeout=100; CREATE TABLE lk_probe(x);' >/dev/null 2>&1"

reg_msg "$WORK/bob1.sip" bob 1 "sip:bob@127.0.0.1:5072"
send_final "$WORK/bob1.sip" 15 >"$WORK/bob1.ans" &
BOB_PID=$!
PIDS+=("$BOB_PID")
# Meanwhile the server keeps answering what needs no store write (a
# REGISTER query, even without Contact, goes through the writer queue).
sleep 0.5
cat >"$WORK/options.sip" <<'SIP'
OPTIONS sip:127.0.0.1 SIP/2.0
Via: SIP/2.0/TCP 127.0.0.1:LPORT;branch=z9hG4bK-lk-opt
Max-Forwards: 70
To: <sip:127.0.0.1>
From: <sip:t@127.0.0.1>;tag=1
Call-ID: lk-opt@test
CSeq: 1 OPTIONS
Content-Length: 0

SIP
send_final "$WORK/options.sip" 3 >"$WORK/options.ans"
eq "OPTIONS answered while the store is locked" "$(head -1 "$WORK/options.ans")" "SIP/2.0 200 OK"
check "bob's REGISTER was still waiting then" kill -0 "$BOB_PID"
wait_pid "$BOB_PID" 20
secs=$(cat "$WORK/bob1.sip.secs" 2>/dev/null)
eq "REGISTER bob while locked answered" "$(head -1 "$WORK/bob1.ans" | cut -d' ' -f1-2)" "SIP/2.0 500"
check "the 500 carries Retry-After" grep -qi '^Retry-After: *[0-9]' "$WORK/bob1.ans"
check "the 500 came within 10 s (${secs:-none} s; busy timeout 5 s)" \
  python3 -c "import sys; sys.exit(not (0 < float('${secs:-99}') <= 10))"
check "server still running" kill -0 "$SRV_PID"

echo "== the lock is released"
touch "$WORK/release"
wait_pid "$LOCK_PID" 5
eq "the locker exited cleanly" "$?" 0
reg_msg "$WORK/bob2.sip" bob 2 "sip:bob@127.0.0.1:5072"
send_final "$WORK/bob2.sip" 10 >"$WORK/bob2.ans"
eq "REGISTER bob after the release answered" "$(head -1 "$WORK/bob2.ans")" "SIP/2.0 200 OK"
check "bob's 200 lists his Contact" grep -qi '^Contact:.*bob@127\.0\.0\.1:5072' "$WORK/bob2.ans"
reg_msg "$WORK/aq2.sip" alice 3
send_final "$WORK/aq2.sip" 5 >"$WORK/aq2.ans"
eq "query for alice answered" "$(head -1 "$WORK/aq2.ans")" "SIP/2.0 200 OK"
check "alice's binding is still listed" grep -qi '^Contact:.*alice@127\.0\.0\.1:5071' "$WORK/aq2.ans"
stop_server

rows=$(sqlite3 "$DB" "select aor from location order by aor" | tr '\n' ' ')
eq "bindings in the database file" "$rows" "sip:alice@127.0.0.1 sip:bob@127.0.0.1 "

if [ "$FAILS" -ne 0 ]; then
  for f in alice options bob1 bob2 aq2; do echo "--- $f.ans"; cat "$WORK/$f.ans"; done
  echo "--- locker"; cat "$WORK/locker.log"
  echo "--- server log"; tail -50 "$WORK/srv.log"
fi
finish
