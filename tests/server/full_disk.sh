#!/bin/bash
# A full disk: the SQLite store lives on a small tmpfs mounted in a private
# mount namespace (unshare -m: the mount is the test's alone and goes away
# with it). Some AORs register (200), then a file fills the tmpfs to the
# last byte. REGISTERs must then get a 500 with Retry-After and a reason,
# change nothing, and the server must keep answering OPTIONS; once the file
# is removed REGISTERs succeed again; after a restart every binding answered
# 200 is still there (query REGISTERs and sqlite3 on the file), none
# answered 500 is, and the database passes PRAGMA integrity_check.
# Needs root (mount); refused unshare or mount FAILS the test.
# usage: full_disk.sh SIPR
if [ "${SIPR_FULL_DISK_NS:-}" != 1 ]; then
  if ! command -v unshare >/dev/null 2>&1; then
    echo "FAIL: unshare (util-linux) is not installed"
    exit 1
  fi
  if ! unshare -m true 2>"${TMPDIR:-/tmp}/sipr-unshare.$$"; then
    echo "FAIL: unshare -m refused (root needed for a private mount namespace): $(cat "${TMPDIR:-/tmp}/sipr-unshare.$$")"
    rm -f "${TMPDIR:-/tmp}/sipr-unshare.$$"
    exit 1
  fi
  rm -f "${TMPDIR:-/tmp}/sipr-unshare.$$"
  # --propagation private: nothing mounted inside leaks to the host.
  SIPR_FULL_DISK_NS=1 exec unshare -m --propagation private "$0" "$@"
fi

SIPR=$1
LIMIT=120
. "$(dirname "$0")/lib.sh"
need sqlite3 sqlite3
DRV="$HERE/reg_driver.py"
DISK="$WORK/disk"
mkdir -p "$DISK"
if ! mount -t tmpfs -o size=4m,mode=0700 sipr-full-disk "$DISK" 2>"$WORK/mount.err"; then
  echo "FAIL: mount -t tmpfs refused: $(cat "$WORK/mount.err")"
  exit 1
fi
trap 'umount -l "$DISK" 2>/dev/null; cleanup' EXIT
DB="$DISK/sipr.db"

# reg NAME USER [CSEQ]: a REGISTER of sip:USER@example.com with one
# Contact and a long User-Agent (more bytes per commit); the answer goes
# to $WORK/NAME.ans and its status line is printed.
reg() {
  python3 "$DRV" "$PORT" --to "sip:$2@example.com" --call-id "fd-$2" --cseq "${3:-1}" \
    --contact "<sip:$2@192.0.2.1:5060;transport=udp>;expires=3600" \
    --header "User-Agent: sipr-full-disk-test $(printf 'x%.0s' $(seq 200))" \
    >"$WORK/$1.ans" 2>"$WORK/$1.err"
  head -1 "$WORK/$1.ans"
}
# query NAME USER CSEQ: the Contact lines of a query REGISTER.
query() {
  python3 "$DRV" "$PORT" --to "sip:$2@example.com" --call-id "fd-q-$2" --cseq "$3" \
    >"$WORK/$1.ans" 2>"$WORK/$1.err"
  grep -i '^Contact:' "$WORK/$1.ans"
}
cat >"$WORK/options.sip" <<'SIP'
OPTIONS sip:127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:LPORT;branch=z9hG4bK-fd-opt;rport
Max-Forwards: 70
To: <sip:127.0.0.1>
From: <sip:t@127.0.0.1>;tag=1
Call-ID: fd-opt@test
CSeq: 1 OPTIONS
Content-Length: 0

SIP

start_server srv --auth off --domain example.com || finish
check "the store is on the private tmpfs" grep -q "store: sqlite:$DISK/sipr.db" "$WORK/srv.log"

echo "== registrations while there is room"
ACKED=()
for i in $(seq 1 10); do
  line=$(reg ok$i u$i)
  if [ "$line" = "SIP/2.0 200 OK" ]; then ACKED+=("u$i"); fi
done
eq "AORs answered 200 before the disk fills" "${#ACKED[@]}" 10

echo "== the disk fills up"
LC_ALL=C dd if=/dev/zero of="$DISK/fill" bs=4k >/dev/null 2>"$WORK/dd.err"
check "dd stopped on a full disk" grep -q 'No space left on device' "$WORK/dd.err"
eq "free blocks on the tmpfs" "$(df --output=avail "$DISK" | tail -1 | tr -d ' ')" 0

# The commits already written may have left room in the WAL's last page:
# keep registering new AORs until one is refused (each one answered 200
# meanwhile counts as acknowledged).
REFUSED=()
first500=
for i in $(seq 11 60); do
  line=$(reg full$i u$i)
  case $line in
  "SIP/2.0 200 OK") ACKED+=("u$i") ;;
  "SIP/2.0 500 "*) first500=full$i; REFUSED+=("u$i"); break ;;
  *) bad "REGISTER u$i on a full disk: unexpected answer '$line'"; break ;;
  esac
done
if [ -n "$first500" ]; then
  ok "a REGISTER on the full disk is refused: '$(head -1 "$WORK/$first500.ans")' (after $((${#ACKED[@]} - 10)) more 200s)"
  eq "the 500 says why" "$(head -1 "$WORK/$first500.ans")" "SIP/2.0 500 Store Unavailable"
  check "the 500 carries Retry-After" grep -qiE '^Retry-After: *[0-9]+' "$WORK/$first500.ans"
else
  bad "no REGISTER was refused with 500 on the full disk"
fi
for i in 61 62 63; do
  line=$(reg again$i u$i)
  case $line in
  "SIP/2.0 500 "?*) ok "REGISTER u$i while full: '$line'"; REFUSED+=("u$i") ;;
  *) bad "REGISTER u$i while full: expected 500, got '$line'" ;;
  esac
  check "  with Retry-After" grep -qiE '^Retry-After: *[0-9]+' "$WORK/again$i.ans"
done
# A refresh of an acknowledged binding fails too and must not lose it.
line=$(reg refresh u1 2)
case $line in
"SIP/2.0 500 "?*) ok "refresh of u1 while full: '$line'" ;;
*) bad "refresh of u1 while full: expected 500, got '$line'" ;;
esac
check "server still running on the full disk" kill -0 "$SRV_PID"
eq "OPTIONS answered while the disk is full" "$(sip_send udp "$WORK/options.sip")" "SIP/2.0 200 OK"
eq "u1 is still bound (query while full)" "$(query q_u1 u1 1 | sed 's/;expires=[0-9]*$//')" \
  "Contact: <sip:u1@192.0.2.1:5060;transport=udp>"
eq "u61 is not (its REGISTER was refused)" "$(query q_u61 u61 1)" ""

echo "== a stop and a start while the disk is still full"
stop_server
start_server srv_full --auth off --domain example.com || finish
eq "after the restart on the full disk u2 is bound" "$(query q2_u2 u2 1 | sed 's/;expires=[0-9]*$//')" \
  "Contact: <sip:u2@192.0.2.1:5060;transport=udp>"
line=$(reg again64 u64)
case $line in
"SIP/2.0 500 "?*) ok "REGISTER u64 while still full: '$line'"; REFUSED+=("u64") ;;
*) bad "REGISTER u64 while still full: expected 500, got '$line'" ;;
esac

echo "== space is freed"
rm -f "$DISK/fill"
line=$(reg after1 u100)
eq "REGISTER after freeing space" "$line" "SIP/2.0 200 OK"
[ "$line" = "SIP/2.0 200 OK" ] && ACKED+=("u100")
line=$(reg after2 u61 5)
eq "a refused AOR registers now" "$line" "SIP/2.0 200 OK"
[ "$line" = "SIP/2.0 200 OK" ] && ACKED+=("u61")
stop_server

echo "== after a restart nothing acknowledged is lost"
eq "PRAGMA integrity_check" "$(sqlite3 "$DB" 'PRAGMA integrity_check' 2>&1)" ok
want=$(printf 'sip:%s@example.com\n' "${ACKED[@]}" | sort | paste -sd' ')
got=$(sqlite3 "$DB" 'select aor from location order by aor' 2>&1 | sort | paste -sd' ')
eq "rows in the database = the AORs answered 200 (${#ACKED[@]})" "$got" "$want"
eq "u1's row is the acknowledged one (its refresh failed)" \
  "$(sqlite3 "$DB" "select call_id || ' ' || cseq from location where aor = 'sip:u1@example.com'" 2>&1)" "fd-u1 1"
start_server srv2 --auth off --domain example.com || finish
missing=
for u in "${ACKED[@]}"; do
  c=$(query rq_$u "$u" 1)
  case $c in
  "Contact: <sip:$u@192.0.2.1:5060;transport=udp>;expires="[0-9]*) ;;
  *) missing="$missing $u" ;;
  esac
done
eq "every binding answered 200 is served after the restart" "${missing:-none}" none
eq "u62 (refused, never retried) is not there" "$(query rq_u62 u62 1)" ""
stop_server

if [ "$FAILS" -ne 0 ]; then
  echo "--- server logs"
  tail -n 30 "$WORK/srv.log" "$WORK/srv_full.log" "$WORK/srv2.log"
fi
umount "$DISK" 2>/dev/null
finish
