# Shared by the server_*.sh interop scripts (bash): `sipr serve` on a free
# loopback port with a temporary SQLite store, against real peers (SIPp,
# sipsak). Source it after setting SIPR (the sipr binary) and LIMIT (the
# script's time limit, seconds). It provides a work folder removed on exit,
# processes stopped by PID on exit, a watchdog, ok/bad accounting (finish
# exits 1 when a check failed) and helpers to start and query the server.
# A missing peer is a failure, never a skip.

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sipr-server.XXXXXX")
. "$HERE/../lib/harness.sh"
need python3 python3
if [ ! -x "$SIPR" ]; then
  echo "FAIL: no sipr binary at '$SIPR'" >&2
  exit 1
fi

# free_port: a port free for both UDP and TCP on 127.0.0.1.
# free_port [N]: a port P such that P..P+N-1 (default N=1) are free for
# both TCP and UDP on 127.0.0.1 (baresip also takes P+1 for TLS).
free_port() {
  python3 - "${1:-1}" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
def free(p):
    socks = []
    try:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            s = socket.socket(socket.AF_INET, kind)
            socks.append(s)
            s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()
for _ in range(200):
    p = random.randint(20000, 60000 - n)
    if all(free(p + k) for k in range(n)):
        print(p)
        break
PY
}

# port_bound udp|tcp PORT
port_bound() {
  local hex
  hex=$(printf '%04X' "$2")
  if [ "$1" = udp ]; then
    grep -qE "^ *[0-9]+: [0-9A-F]+:$hex [0-9A-F]+:[0-9A-F]+ 07 " /proc/net/udp /proc/net/udp6 2>/dev/null
  else
    grep -qE "^ *[0-9]+: [0-9A-F]+:$hex [0-9A-F]+:[0-9A-F]+ 0A " /proc/net/tcp /proc/net/tcp6 2>/dev/null
  fi
}

# wait_pid PID SECONDS: its exit status, 124 when it had to be killed.
wait_pid() {
  local pid=$1 limit=$2 n=0
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$n" -ge $((limit * 20)) ]; then
      kill -9 "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
      return 124
    fi
    sleep 0.05
    n=$((n + 1))
  done
  wait "$pid"
}

DB="$WORK/sipr.db"
PORT=

# start_server NAME [ARGS...]: `sipr serve` on udp+tcp 127.0.0.1:$PORT (a
# free port, chosen once per script unless PORT is set) with the store
# sqlite:$DB, domain 127.0.0.1, 2 workers, and ARGS. Sets SRV_PID; its
# stderr goes to $WORK/NAME.log. Returns 1 when it did not come up.
start_server() {
  local name=$1 n=0
  shift
  [ -n "$PORT" ] || PORT=$(free_port)
  "$SIPR" serve --listen "udp:127.0.0.1:$PORT" --listen "tcp:127.0.0.1:$PORT" \
    --domain 127.0.0.1 --store "sqlite:$DB" --workers 2 "$@" \
    >"$WORK/$name.out" 2>"$WORK/$name.log" &
  SRV_PID=$!
  PIDS+=("$SRV_PID")
  while [ $n -lt 200 ]; do
    if ! kill -0 "$SRV_PID" 2>/dev/null; then
      echo "  FAIL: sipr serve exited at start:"
      sed 's/^/    /' "$WORK/$name.log"
      return 1
    fi
    if grep -q 'workers:' "$WORK/$name.log" && port_bound udp "$PORT" &&
      port_bound tcp "$PORT"; then
      return 0
    fi
    sleep 0.05
    n=$((n + 1))
  done
  echo "  FAIL: sipr serve did not come up within 10 s:"
  sed 's/^/    /' "$WORK/$name.log"
  return 1
}

# stop_server: SIGTERM; checks it exits 0 within 5 s.
stop_server() {
  kill -TERM "$SRV_PID" 2>/dev/null
  wait_pid "$SRV_PID" 5
  local rc=$?
  eq "sipr serve exits 0 on SIGTERM" "$rc" 0
}

# sipp_run NAME SCENARIO [ARGS...]: SIPp as UAC against the server, in the
# foreground, with a message trace ($WORK/NAME.msg); returns SIPp's status.
sipp_run() {
  local name=$1 scen=$2
  shift 2
  sipp "127.0.0.1:$PORT" -sf "$HERE/$scen" -i 127.0.0.1 -p "$(free_port)" -nostdin \
    -timeout 60s -trace_msg -message_file "$WORK/$name.msg" \
    -trace_err -error_file "$WORK/$name.err" "$@" >"$WORK/$name.sipp" 2>&1
}

# sipp_received FILE: the first line and To of every message SIPp
# received, "STATUS-LINE|TO" one a line.
sipp_received() {
  awk '
    /^-+ [0-9]+-[0-9]+-[0-9]+ [0-9]+:[0-9]+:[0-9.]+$/ { state = 1; next }
    state == 1 { state = ($0 ~ /message received/) ? 2 : 0; first = ""; next }
    state == 2 || state == 3 {
      sub(/\r$/, "")
      if (state == 2 && $0 != "") { first = $0; state = 3; next }
      if (state == 3 && tolower(substr($0, 1, 3)) == "to:") { print first "|" substr($0, 5); state = 0 }
    }' "$1"
}

# sipp_received_msgs FILE: every received message, separated by "====".
sipp_received_msgs() {
  awk '
    /^-+ [0-9]+-[0-9]+-[0-9]+ [0-9]+:[0-9]+:[0-9.]+$/ { if (state == 2) print "===="; state = 1; next }
    state == 1 { state = ($0 ~ /message received/) ? 2 : 0; next }
    state == 2 { sub(/\r$/, ""); print }
    END { if (state == 2) print "====" }' "$1"
}

# sip_send PROTO MESSAGE-FILE [full]: sends the bytes of MESSAGE-FILE (LF
# line ends turned into CRLF, LPORT replaced by the local port) to the
# server from a fresh 127.0.0.1 socket and prints the first line of the
# answer (the whole answer with "full"; "" after 3 s without one).
sip_send() {
  python3 - "$1" "$2" "$PORT" "${3:-}" <<'PY'
import socket, sys
proto, path, port, full = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
data = open(path, "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
if proto == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    lport = s.getsockname()[1]
    data = data.replace(b"LPORT", str(lport).encode())
    s.settimeout(3)
    s.sendto(data, ("127.0.0.1", port))
    try:
        resp = s.recv(65535)
    except socket.timeout:
        resp = b""
else:
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    lport = s.getsockname()[1]
    data = data.replace(b"LPORT", str(lport).encode())
    s.sendall(data)
    try:
        resp = s.recv(65535)
    except socket.timeout:
        resp = b""
if full:
    print(resp.decode("latin-1").replace("\r\n", "\n"))
else:
    print(resp.split(b"\r\n", 1)[0].decode("latin-1"))
PY
}
