#!/usr/bin/env bash
# Install the Debian packages that sipr's build, tests and benchmarks need.
# Runs `apt-get update` once, and only when something is missing; installs
# only what is missing. Safe to run again (every make target calls it).
set -euo pipefail

PKGS=(
  # build
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  # libraries
  libjansson-dev libsqlite3-dev sqlite3 libssl-dev libfyaml-dev libc-ares-dev
  # tests
  libcmocka-dev python3
  # parse benchmark peers
  libosip2-dev libsofia-sip-ua-dev
  # interop peers
  sip-tester sipsak baresip-core kamailio
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
