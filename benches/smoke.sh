#!/usr/bin/env bash
# Runs every benchmark at a tiny scale (seconds each) so none rots unnoticed: CI calls it
# after the tests, with the debug binary they built. A crash fails; a missed speed
# target does not (figures at this scale mean nothing; targets are for real runs).
#
#   bash benches/smoke.sh [PHLB]     (default target/debug/phlb)
set -euo pipefail
cd "$(dirname "$0")/.."
phlb=$(realpath "${1:-target/debug/phlb}")
work=$(mktemp -d /tmp/phlb-smoke.XXXXXX)
trap 'rm -rf "$work"' EXIT

run() {
  local name=$1; shift
  echo "== bench smoke: $name"
  local start=$SECONDS code=0
  "$@" > "$work/out" 2>&1 || code=$?
  # 3: a speed target missed (see each script); anything else non-zero is a crash.
  if [ "$code" -ne 0 ] && [ "$code" -ne 3 ]; then
    cat "$work/out"
    echo "bench smoke: $name failed (exit $code)"
    exit 1
  fi
  echo "   ok in $((SECONDS - start)) s"
}

run compare.py python3 benches/compare.py --phlb "$phlb" --scale 0.002 --reps 1 \
  --cache-gib 0 --work "$work/compare"
run resume.py python3 benches/resume.py --phlb "$phlb" --files 6 --mib 16 --reps 1 \
  --work "$work/resume"
run xattrs.py python3 benches/xattrs.py "$phlb" --scale 0.002 --reps 1 --work "$work/xattrs"
run ab.py python3 benches/ab.py "$phlb" "$phlb" --scale 0.002 --reps 1 --work "$work/ab"
run reflink.py python3 benches/reflink.py --phlb "$phlb" --scale 0.002 --reps 1 \
  --work "$work/reflink"
run remote.py python3 benches/remote.py --phlb "$phlb" --hosts 2 --files 20 --kib 8 \
  --work "$work/remote"
run scale.py python3 benches/scale.py "$phlb" --files 1700 --snapshots 6 --reps 1 \
  --work "$work/scale"
run "scale.py --source-mode" python3 benches/scale.py "$phlb" --source-mode --files 1700 \
  --reps 1 --work "$work/scale-source"
# benches/peers.py is left out: CI does not install rsnapshot, restic and borg (see it).
# The Rust benchmarks, built in the test profile (no release build in CI).
run queries.rs env PHLB_BENCH_FILES=5000 PHLB_BENCH_SNAPSHOTS=3 cargo test -q --bench queries
run micro.rs cargo test -q --bench micro
