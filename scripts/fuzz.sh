#!/usr/bin/env bash
# fuzz.sh -- run the libFuzzer harnesses (test/fuzz/) for a while.
#
#   scripts/fuzz.sh [--seconds N] [--build DIR] [HARNESS...]
#
# Builds the fuzz tree DIR (default build-fuzz: clang-14, ASan + UBSan,
# -Dfuzz=true) if it is missing, then runs each HARNESS (default: all of
# them: frame assembler ring http timelevel sse credentials) for N seconds
# (default 60), one after the other, over a scratch copy of its seed corpus
# test/fuzz/corpus/HARNESS/ (nothing found is written into the source
# tree). Prints per harness: executions, exec/s, coverage (cov, from
# libFuzzer's final stats) and crashes; a crash's input and log are kept
# under DIR/fuzz-runs/HARNESS/. Exits non-zero if any harness crashed.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=60
build=build-fuzz
all=(frame assembler ring http timelevel sse credentials)
harnesses=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=${2:?--seconds needs N}; shift 2 ;;
    --build) build=${2:?--build needs DIR}; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    *) harnesses+=("$1"); shift ;;
  esac
done
[ ${#harnesses[@]} -eq 0 ] && harnesses=("${all[@]}")
case "$seconds" in ''|*[!0-9]*) echo "fuzz.sh: --seconds takes a whole number" >&2; exit 2 ;; esac

if [ ! -f "$build/build.ninja" ]; then
  CC=clang-14 meson setup "$build" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
    >"$build.setup.log" 2>&1 || { cat "$build.setup.log"; exit 1; }
fi
meson compile -C "$build" >"$build.compile.log" 2>&1 || { cat "$build.compile.log"; exit 1; }

export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
crashed=0
printf '%-12s %14s %10s %8s %8s\n' harness executions exec/s cov crashes
for h in "${harnesses[@]}"; do
  exe="$build/test/fuzz/fuzz-$h"
  if [ ! -x "$exe" ]; then
    echo "fuzz.sh: no harness '$h' (have: ${all[*]})" >&2
    crashed=1
    continue
  fi
  run="$build/fuzz-runs/$h"
  rm -rf "$run" && mkdir -p "$run/corpus" "$run/artifacts"
  cp test/fuzz/corpus/"$h"/* "$run/corpus/" 2>/dev/null
  # Harnesses on a real store keep its caches between inputs: libFuzzer's
  # leak check would run most inputs twice to look (test/fuzz/meson.build).
  leaks=()
  case "$h" in frame|assembler|ring) leaks=(-detect_leaks=0) ;; esac
  "$exe" -max_total_time="$seconds" -print_final_stats=1 "${leaks[@]}" -artifact_prefix="$run/artifacts/" \
    "$run/corpus" >"$run/log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$run/log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$run/log" | tail -1 | cut -d' ' -f2)
  crashes=$(find "$run/artifacts" -type f | wc -l)
  if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
    crashes=1 # died without leaving an input (e.g. out of memory in the harness)
  fi
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$run/log" | tail -1)
  printf '%-12s %14s %10s %8s %8s\n' "$h" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$crashes"
  if [ "$crashes" -ne 0 ]; then
    crashed=1
    echo "  see $run/log and $run/artifacts/" >&2
  fi
done
exit $crashed
