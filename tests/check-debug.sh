#!/bin/bash
# make check-debug: the suites against tcm_vhost on a debug kernel (#13).
#
# Boots the kernel that scripts/debug-kernel.sh builds once into the cache
# (KASAN, lockdep, DEBUG_ATOMIC_SLEEP, DEBUG_OBJECTS, kmemleak, KCOV, gcov,
# fault injection) and runs functional, badinput, tmf and fuzz against a
# tcm_vhost.ko built against that tree with gcov (tests/check.sh with
# CHECK_OUT=build/check-debug), with the test-only modules of tests/kmod
# built against it too (CHECK_KMOD=1: badinput's
# close_while_last_recycle_waits needs tvh_wake_delay.ko).  A KASAN,
# lockdep, DEBUG_OBJECTS or
# "sleeping function called from invalid context" report, or an object that
# kmemleak finds unreferenced at the end of a step, fails that step
# (tests/vm/stage2.sh).  Then it prints the module's line coverage
# (tests/coverage.py) and ends with the usual "N passed, N failed" line.
#
#   DEBUG_SERIES=6.12 (default) or 6.1: the linux-source the kernel is built from
#   CHECK_ONLY=badinput,tmf picks suites (default: all four)
#
# Not part of make check: the kernel build alone takes longer than make
# check's budget (see README.md), and every step runs slower under KASAN.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
series=${DEBUG_SERIES:-6.12}
cache=${TCM_VHOST_CACHE:-/var/cache/tcm_vhost}
dbg=$cache/debug-$series
out=$top/build/check-debug

if ! scripts/debug-kernel.sh --check "$series"; then
	if ! scripts/debug-kernel.sh "$series"; then
		echo "0 passed, 1 failed"
		exit 1
	fi
fi
release=$(cat "$dbg/release")
# tests/vm/kernel.sh finds a kernel as the cache dir named after its release.
ln -sfn "debug-$series" "$cache/$release"

unset TVH_KV_DEFAULTED
mkdir -p "$top/build"	# a fresh clone has none: tee would write nowhere
KV=$release KDIR=$dbg/build VHOST_H_DIR=$dbg/linux-source-$series/drivers/vhost TVH_GCOV=1 \
	CHECK_OUT=$out CHECK_TARGET=check-debug CHECK_ONLY=${CHECK_ONLY:-functional,badinput,tmf,fuzz} \
	CHECK_UPSTREAM=0 CHECK_KMOD=1 TCMV_GCOV_DIR=/project/build/check-debug/gcda \
	tests/check.sh | tee "$top/build/check-debug.log"
rc=${PIPESTATUS[0]}

echo
# shellcheck disable=SC2046 # file names without blanks
if ! python3 tests/coverage.py "$out/$release/ko" "$out/gcda" $(scripts/sources.sh); then
	echo "coverage: no gcov data (see $out)"
fi
tail -n 1 "$top/build/check-debug.log"
exit "$rc"
