#!/bin/bash
# One libvsc point, profiled, for each implementation in turn in one L1 VM: where L1's CPU
# goes (perf, cpu-clock, every CPU, call graphs) and what each kind of thread did (run
# time, switches, io_schedule waits: prof-sched.py). For finding what a ratio of `make
# bench` is made of; it judges nothing.
#
#   tests/bench/prof.sh                                  # 2 queues, QD 32, rd_mcp
#   PROF_QD=128 BENCH_BACKSTORE=nullb BENCH_NULLB_QD=64 tests/bench/prof.sh
#
# Knobs (environment): PROF_IMPLS (default "tcm_vhost vhost_scsi-wpv"; also vhost_scsi),
# PROF_QUEUES (2), PROF_QD (32 per queue), PROF_PATTERN (rand4k:75), PROF_TIME (12 s),
# BENCH_BACKSTORE and BENCH_NULLB_QD (bench-lib.sh), KV, TCM_VHOST_KO.
# Results in build/prof/<timestamp>/: per implementation the IOPS line (IMPL.out), the
# profile by symbol with call graphs (IMPL.sym), by command (IMPL.comm) and the threads'
# statistics over the middle third of the run (IMPL.sched); summary.txt has the IOPS and the
# statistics of all.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
WWPN=naa.50014050000be001

in_vm() {
	local out=/project/$1 impl mod wpv pat pct snap t
	# shellcheck source=../vm/guest-lib.sh
	. "$top/tests/vm/guest-lib.sh"
	# shellcheck disable=SC2034 # read by bench-lib.sh
	bin=$top/tests/bin BENCH_NLUNS=1 BENCH_LUN_MB=16
	# shellcheck source=bench-lib.sh
	. "$here/bench-lib.sh"
	log() { echo "prof[$SECONDS s]: $*" >&2; }
	mkdir -p "$out"
	sysctl -qw kernel.sched_schedstats=1
	snap="python3 $here/prof-sched.py"
	$snap snap /tmp/prof-warm	# the first Python start is slow under TCG
	pat=${PROF_PATTERN%%:*} pct=${PROF_PATTERN#*:}
	t=$(awk -v t="$PROF_TIME" 'BEGIN { printf "%d", t / 3 }')
	for impl in $PROF_IMPLS; do
		mod=${impl%-wpv} wpv=()
		[[ $impl == *-wpv ]] && wpv=(--worker-per-vq)
		log "$impl: $PROF_QUEUES queue(s), QD $PROF_QD, $PROF_PATTERN, ${BENCH_BACKSTORE:-rd_mcp}"
		switch_to "$mod" || return 1
		# thread statistics over a third of the run, from a quarter of it after the
		# load generator appeared (perf and the device take a while to start under TCG)
		(
			until pgrep -x vsc-load >/dev/null; do sleep 0.2; done
			sleep "$((t * 3 / 4))"; $snap snap /tmp/prof-a; sleep "$t"; $snap snap /tmp/prof-b
		) &
		perf record -a -g -e cpu-clock -F 2000 -o /tmp/perf.data -- \
			"$bin/vsc-load" --wwpn "$WWPN" --luns 0 --queues "$PROF_QUEUES" \
			--iodepth "$PROF_QD" --pattern "$pat" --read-pct "$pct" --time "$PROF_TIME" \
			--ramp 0.5 --label "$impl" "${wpv[@]}" >"$out/$impl.out" 2>"$out/$impl.err"
		wait
		perf report -i /tmp/perf.data --no-children --sort sym --stdio 2>/dev/null |
			grep -v '^#' >"$out/$impl.sym"
		perf report -i /tmp/perf.data --no-children --sort comm --stdio -g none \
			2>/dev/null | grep -v '^#' >"$out/$impl.comm"
		$snap diff /tmp/prof-a /tmp/prof-b >"$out/$impl.sched"
		{
			echo "== $impl: $(grep -o '"iops":[0-9.]*' "$out/$impl.out")"
			cat "$out/$impl.sched"
		} >>"$out/summary.txt"
	done
}

: "${PROF_IMPLS:=tcm_vhost vhost_scsi-wpv}" "${PROF_QUEUES:=2}" "${PROF_QD:=32}"
: "${PROF_PATTERN:=rand4k:75}" "${PROF_TIME:=12}"
export PROF_IMPLS PROF_QUEUES PROF_QD PROF_PATTERN PROF_TIME

if [[ ${1:-} == --in-vm ]]; then
	in_vm "$2"
	exit
fi

# shellcheck source=host-lib.sh
. "$here/host-lib.sh"
rel=$(bench_host_prepare prof) || exit 1
bench_host_vm "$rel" 900 '^(PROF_|BENCH_BACKSTORE$|BENCH_NULLB_QD$|TCM_VHOST_KO$)' tests/bench/prof.sh
rc=$?
cat "$top/$rel/summary.txt" 2>/dev/null
echo "prof: results in $rel" >&2
exit $rc
