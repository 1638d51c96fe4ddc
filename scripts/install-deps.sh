#!/usr/bin/env bash
# install-deps.sh -- install the Debian 12 packages logtap builds, runs and
# tests with. Idempotent: does nothing when everything is already installed.
# Needs root (or sudo) only when something is missing.
#
#   scripts/install-deps.sh [--build | --all]
#
# --build  what building and running logtap needs (scripts/demo.sh): the
#          compiler, meson and ninja, the libraries' -dev packages, python3
# --all    (the default) that and what the tests need (scripts/test.sh):
#          g++ (the C++ capture test), procps, clang-format (the style
#          test), clang-14 and its runtimes (the fuzz harnesses,
#          scripts/fuzz.sh), chromium and nodejs/npm (the dashboard's
#          browser tests; scripts/test.sh then installs playwright-core into
#          test/browser with npm ci), rsyslog (the syslog drain's receiver:
#          the tests run a private rsyslogd of their own, never the
#          system's), and for scripts/build-deb.sh and the
#          package's test (test/e2e/test_package.py): dpkg-dev, debootstrap,
#          groff-base, man-db, iproute2 and util-linux (to enter its Debian
#          root), systemd (systemd-analyze judges the unit)
# libsystemd-dev (both) lets the collector tell systemd it is ready.
set -euo pipefail
what=all
case "${1:-}" in
  --build) what=build ;;
  --all|"") ;;
  -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "install-deps.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
esac

packages=(
  gcc libc6-dev pkg-config meson ninja-build
  libzmq3-dev libmsgpack-dev libsqlite3-dev libmicrohttpd-dev
  libcurl4-openssl-dev libjansson-dev libssl-dev
  python3 libsystemd-dev
)
if [ "$what" = all ]; then
  packages+=(
    g++ procps clang-format
    clang-14 libclang-rt-14-dev
    chromium nodejs
    dpkg-dev debootstrap groff-base man-db iproute2 util-linux systemd
    rsyslog
  )
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# npm comes with NodeSource's nodejs package, and is a package of its own in Debian.
[ "$what" = build ] || command -v npm >/dev/null 2>&1 || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
