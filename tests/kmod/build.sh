#!/bin/bash
# Build the test-only modules of tests/kmod in OUT (a copy: the tree stays
# clean) against the kernel build tree KDIR, with W=1; any warning fails.
#
#   KDIR=/path/to/build tests/kmod/build.sh OUT
#
# Prints the path of OUT/tvh_wake_delay.ko.  Used by tests/check.sh for make
# check-debug and by tests/selftest/mutants.py.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: KDIR=... tests/kmod/build.sh OUT}
: "${KDIR:?KDIR names the kernel build tree}"
rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)
cp "$here/Kbuild" "$here"/*.c "$out/"
log=$(make -s -C "$KDIR" M="$out" W=1 modules 2>&1) || { echo "$log" >&2; exit 1; }
log=$(grep -vE 'directory|Skipping BTF' <<<"$log" || true)
[[ -z $log ]] || { echo "$log" >&2; exit 1; }
echo "$out/tvh_wake_delay.ko"
