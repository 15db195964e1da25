#!/bin/bash
# Fuzzer INSIDE L1: load MODULE, slab baseline, run vsc-fuzz over a fixed seed list
# (~2 minutes in total), tear down, unload, check slab growth, free memory and dmesg.
#
#   tests/fuzz/run.sh [tcm_vhost|vhost_scsi]
#   FUZZ_SEEDS="1 2 3" FUZZ_SECONDS=20 tests/fuzz/run.sh tcm_vhost   (seconds per seed)
#
# Then the corpus (tests/fuzz/corpus/corpus.txt), each of its cases once: fuzz/corpus.
# On a kernel with KCOV (the debug kernel) the seeds are coverage-guided by that corpus
# (vsc-fuzz --kcov), print the module edges they reached, and append the cases that
# reached new ones to build/fuzz-corpus-new.txt (FUZZ_CORPUS_OUT), to be merged by hand.
# A request unanswered for 3 s fails (vsc-fuzz --stall-ms); on the debug kernel (it has
# kmemleak), where pinning one 32 MiB request takes seconds under TCG, 20 s
# (FUZZ_STALL_MS sets either).
# Prints PASS/FAIL: fuzz/seed-<S> per seed plus fuzz/run.* checks, then
# "N passed, N failed, N skipped, N xfail". Exit status 1 on any FAIL.
suite=fuzz
# shellcheck source=../lib/suite-preamble.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/suite-preamble.sh"
seeds=${FUZZ_SEEDS:-"1 2 3 4 5 6"}
secs=${FUZZ_SECONDS:-20}

suite_start fuzz "$bin" "$mod"

corpus=$here/corpus/corpus.txt
guide=()
mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
if [[ -w /sys/kernel/debug/kcov ]]; then
	guide=(--kcov --corpus-out "${FUZZ_CORPUS_OUT:-$PROJECT/build/fuzz-corpus-new.txt}")
	[[ -s $corpus ]] && guide+=(--corpus "$corpus")
fi

stall=${FUZZ_STALL_MS:-}
[[ -z $stall && -e /sys/kernel/debug/kmemleak ]] && stall=20000

# fuzz_run NAME TIMEOUT ARGS...: one vsc-fuzz run, reported as fuzz/NAME
fuzz_run() {
	local name=$1 tmo=$2 out=$tmp/$1.out rc why
	shift 2
	timeout "$tmo" "$bin" --module "$mod" ${stall:+--stall-ms "$stall"} "$@" >"$out" 2>&1
	rc=$?
	grep -E '^(fuzz:|FAILURE|  )' "$out" | head -n 40
	if grep -q '^PASS: fuzz/seed-' "$out" && ((rc == 0)); then
		echo "PASS: fuzz/$name"; pass=$((pass + 1))
	else
		why=$(grep -m1 '^FAILURE' "$out" | cut -c1-300)
		echo "FAIL: fuzz/$name: exit $rc${why:+: $why}"; fail=$((fail + 1))
	fi
}

for s in $seeds; do
	fuzz_run "seed-$s" $((secs + 180)) --seed "$s" --seconds "$secs" "${guide[@]}"
done
[[ -s $corpus ]] && fuzz_run corpus 600 --replay "$corpus"

suite_end "$mod" 512 8192 65536
