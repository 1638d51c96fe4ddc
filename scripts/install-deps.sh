#!/usr/bin/env bash
# install-deps.sh -- install the Debian 12 packages logtap builds, runs and
# tests with. Idempotent: does nothing when everything is already installed.
# Needs root (or sudo) only when something is missing. clang-14 and its
# runtimes build the fuzz harnesses (scripts/fuzz.sh). chromium and nodejs
# are for the dashboard's browser tests (scripts/test.sh then installs
# playwright-core into test/browser with npm ci). libsystemd-dev lets the
# collector tell systemd it is ready (optional at build time); dpkg-dev,
# debootstrap, groff-base and man-db are for scripts/build-deb.sh and the
# package's test (test/e2e/test_package.py), which enters its Debian root
# with iproute2's ip and util-linux's unshare, nsenter and setpriv, and
# judges the unit with systemd-analyze.
set -euo pipefail

packages=(
  gcc g++ libc6-dev pkg-config meson ninja-build
  libzmq3-dev libmsgpack-dev libsqlite3-dev libmicrohttpd-dev
  libcurl4-openssl-dev libjansson-dev libssl-dev
  python3 procps clang-format
  clang-14 libclang-rt-14-dev
  chromium nodejs
  libsystemd-dev dpkg-dev debootstrap groff-base man-db iproute2 util-linux systemd
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# npm comes with NodeSource's nodejs package, and is a package of its own in Debian.
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
