# The shell test harness shared by tests/interop and tests/server (bash).
# Source it after setting WORK (a fresh folder, removed on exit unless a
# check failed and KEEP_WORK is set) and LIMIT (the script's time limit, in
# seconds). It provides: PIDS (processes stopped by PID on exit), a
# watchdog, ok/bad/check/eq accounting with finish (exit 1 when any check
# failed), and need PROGRAM PACKAGE.

PIDS=()
FAILS=0
CHECKS=0

cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill "$p" 2>/dev/null
  done
  for p in "${PIDS[@]}"; do
    wait "$p" 2>/dev/null
  done
  if [ "$FAILS" -ne 0 ] && [ -n "${KEEP_WORK:-}" ]; then
    echo "(logs kept in $WORK)"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'echo "FAIL: interrupted (time limit or signal)"; FAILS=$((FAILS + 1)); exit 124' TERM INT

# The watchdog: the whole script gets LIMIT seconds. Its sleep is killed
# with it, so nothing holds the test's output open after the script ends.
(
  sleep "$LIMIT" &
  sp=$!
  trap 'kill $sp 2>/dev/null; exit 0' TERM
  wait $sp
  echo "FAIL: $(basename "$0") ran past its ${LIMIT}s limit"
  kill -TERM $$
) 2>/dev/null &
PIDS+=($!)

ok() {
  CHECKS=$((CHECKS + 1))
  echo "  ok: $*"
}
bad() {
  CHECKS=$((CHECKS + 1))
  FAILS=$((FAILS + 1))
  echo "  FAIL: $*"
}
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}
eq() {
  if [ "$2" = "$3" ]; then ok "$1 ($2)"; else bad "$1: got '$2', expected '$3'"; fi
}
finish() {
  if [ "$FAILS" -ne 0 ]; then
    echo "$(basename "$0"): $FAILS of $CHECKS checks FAILED"
    exit 1
  fi
  echo "$(basename "$0"): all $CHECKS checks passed"
  exit 0
}

# need PROGRAM PACKAGE: a missing peer fails the test (never a skip).
need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "FAIL: $1 (Debian package $2) is not installed; run scripts/deps.sh" >&2
    exit 1
  fi
}
