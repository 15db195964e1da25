#!/bin/bash
# Benchmark body, run INSIDE one L1 VM by tests/bench/run.sh (tests/vm/run):
#
#   tests/bench/in-vm.sh OUTDIR        (OUTDIR relative to /project)
#
# run.sh runs a snapshot of this script, fio-set.sh, guest-lib.sh, l2.sh and stage2.sh
# copied to OUTDIR/raw/snapshot/ (same layout), so that edits made to the tree while the
# benchmark runs cannot change it halfway.
#
# The run is a plan of steps (see "steps" below). First BENCH_ROUNDS rounds, each running
# tcm_vhost and Debian's vhost_scsi in alternating order (A,B then B,A, ...): unload the
# other module, tear down and recreate the same rd_mcp LUNs, load the module, configure
# naa.$WWPN/tpgt_1 with every LUN and a nexus, then
#   1. the libvsc matrix (tests/bin/vsc-load, no guest)      -> OUTDIR/raw/vsc.jsonl
#   2. device memory per request-queue count (tests/bin/vsc-mem) -> OUTDIR/raw/mem.jsonl
# and, when vhost_scsi is benchmarked and its kernel offers it (the vhost worker ioctls,
# Linux 6.5 on), a third implementation in the same rounds, vhost_scsi-wpv: vhost_scsi with
# a vhost worker per request queue, as QEMU's worker_per_virtqueue=on (vsc-load
# --worker-per-vq), libvsc matrix only. The first such step probes the mode once (2 queues);
# raw/wpv-probe.json keeps the answer, and on a kernel without it (6.1: ENOTTY) the
# vhost_scsi-wpv steps do nothing. BENCH_WPV=0 leaves them out of the plan.
# Then, BENCH_L2_ROUNDS times (default 2; QUICK: 1), for each module in the order of that round:
#   3. the seed's fio table in a nested L2 guest (tests/e2e/l2.sh, vhost-scsi-pci)
#                                                             -> OUTDIR/raw/fio.jsonl
# and the same fio table natively in L1 through tcm_loop on the same LUNs. run.sh boots
# another VM for the steps a stopped VM did not finish.
# Knobs (environment, set by run.sh): BENCH_QUICK=1 and the BENCH_* variables below;
# BENCH_BACKSTORE=nullb puts the LUNs on iblock over null_blk devices that complete from a
# timer (10 us), as a disk completes from its interrupt, instead of on rd_mcp, which
# completes inside the submitting call (bench-lib.sh).
# Exit status: 0 if every step this VM ran passed; 1 otherwise (the others are recorded).
set -uo pipefail

out=/project/${1:?usage: in-vm.sh OUTDIR}
raw=$out/raw
mkdir -p "$raw"
tree=$(cd "$(dirname "$0")/../.." && pwd)	# tests/.. of the scripts (snapshot or repo)
# shellcheck source=../vm/guest-lib.sh
. "$tree/tests/vm/guest-lib.sh"
bin=$tree/tests/bin
# shellcheck source=bench-lib.sh
. "$tree/tests/bench/bench-lib.sh"

quick=${BENCH_QUICK:-0}
if ((quick)); then
	: "${BENCH_ROUNDS:=2}" "${BENCH_VSC_TIME:=2}" "${BENCH_FIO_TIME:=2}"
	: "${BENCH_QUEUES:=1 2 4}" "${BENCH_DEPTHS:=1 32}" "${BENCH_PATTERNS:=rand4k:75}"
	: "${BENCH_FIO_LUNS:=1 4}" "${BENCH_FIO_MIXES:=75}" "${BENCH_FIO_SIZES:=4k}"
	: "${BENCH_MEM_QUEUES:=1 16}" "${BENCH_MEM_REPS:=2}" "${BENCH_NLUNS:=4}"
	: "${BENCH_L2_ROUNDS:=1}"
else
	: "${BENCH_ROUNDS:=3}" "${BENCH_VSC_TIME:=3}" "${BENCH_FIO_TIME:=3}"
	: "${BENCH_QUEUES:=1 2 4}" "${BENCH_DEPTHS:=1 32 128}"
	: "${BENCH_PATTERNS:=rand4k:75 rand4k:25 seq1m:75}"
	: "${BENCH_FIO_LUNS:=1 16 32}" "${BENCH_FIO_MIXES:=25 75}" "${BENCH_FIO_SIZES:=4k 1m}"
	: "${BENCH_MEM_QUEUES:=1 4 16}" "${BENCH_MEM_REPS:=3}" "${BENCH_NLUNS:=32}"
	# The fio table takes ~2.5 min a module. A nested guest's IOPS vary by ~10% from one
	# boot to the next, and the first guest of a pair ran slower in some runs: two rounds,
	# the second in the other order.
	: "${BENCH_L2_ROUNDS:=2}"
fi
# One request queue, hence one vCPU in L2 (tests/e2e/l2.sh: a 2-vCPU L2 is not reliable
# under this test bed's nested emulation).
: "${BENCH_LUN_MB:=16}" "${BENCH_L2_QUEUES:=1}" "${BENCH_FIO_JOBS:=2}"
: "${BENCH_MODULES:=tcm_vhost vhost_scsi}" "${BENCH_NATIVE:=1}" "${BENCH_L2:=1}"
: "${BENCH_WPV:=1}"

WWPN=naa.50014050000be001
LOOP_WWPN=naa.50014050000be002
LOOP_INIT=naa.50014050000be0ff
WPV=vhost_scsi-wpv	# vhost_scsi with worker_per_virtqueue=on
failures=0
t0=$(date +%s)

log() { echo "bench[$(($(date +%s) - t0))s]: $*" | tee -a "$raw/timing.log" >&2; }
fail() { log "FAILED: $*"; failures=$((failures + 1)); }

{
	echo "kernel $(uname -r), $(nproc) vCPUs, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
	echo "tcm_vhost.ko: $(modinfo -F srcversion /project/tcm_vhost.ko 2>/dev/null)"
	echo "settings: quick=$quick rounds=$BENCH_ROUNDS vsc_time=$BENCH_VSC_TIME fio_time=$BENCH_FIO_TIME"
	echo "  queues='$BENCH_QUEUES' depths='$BENCH_DEPTHS' patterns='$BENCH_PATTERNS'"
	echo "  fio luns='$BENCH_FIO_LUNS' mixes='$BENCH_FIO_MIXES' sizes='$BENCH_FIO_SIZES' jobs=$BENCH_FIO_JOBS l2_queues=$BENCH_L2_QUEUES"
	echo "  mem queues='$BENCH_MEM_QUEUES' reps=$BENCH_MEM_REPS; $BENCH_NLUNS ${BENCH_BACKSTORE:-rd_mcp} LUNs of $BENCH_LUN_MB MiB; L2/native in $BENCH_L2_ROUNDS round(s)"
	echo "  modules='$BENCH_MODULES' wpv=$BENCH_WPV"
} >"$raw/settings.txt"
cat "$raw/settings.txt" >&2

# tag_lines TARGET ROUND: BENCH-FIO lines -> JSON objects with target and round.
# (l2.sh repeats the console tail after a failure: stop there, no duplicates)
tag_fio() {
	sed -n -e '/^----- last [0-9]* lines/q' -e "s/^BENCH-FIO {/{\"target\":\"$1\",\"round\":$2,/p"
}

# run_vsc_matrix IMPL ROUND [VSC-LOAD ARGS...]: rows labelled IMPL/ROUND
run_vsc_matrix() {
	local mod=$1 r=$2 q d p pat pct
	shift 2
	for p in $BENCH_PATTERNS; do
		pat=${p%%:*} pct=${p##*:}
		for q in $BENCH_QUEUES; do
			for d in $BENCH_DEPTHS; do
				"$bin/vsc-load" --wwpn "$WWPN" --luns 0 --queues "$q" --iodepth "$d" \
					--pattern "$pat" --read-pct "$pct" --time "$BENCH_VSC_TIME" \
					--ramp 0.5 --label "$mod/$r" "$@" >>"$part/vsc.jsonl" 2>>"$raw/vsc.err" ||
					fail "vsc-load $mod q$q d$d $p"
			done
		done
	done
}

# wpv_probe: does vhost_scsi (loaded and configured) take a worker per request queue?
# One short read-only run with 2 queues (with 1 there is nothing to attach); its JSON line,
# "workers":"per-vq" or "per-vq-refused", goes to $raw/wpv-probe.json for every later step.
wpv_probe() {
	local f=$part/wpv-probe.json
	"$bin/vsc-load" --wwpn "$WWPN" --luns 0 --queues 2 --iodepth 1 --read-pct 100 \
		--time 0.3 --ramp 0 --worker-per-vq --label "$WPV/probe" >"$f" 2>>"$raw/vsc.err" ||
		{ fail "$WPV probe (vsc-load --worker-per-vq --queues 2)"; return 1; }
	grep -q '"workers":"per-vq' "$f" || { fail "$WPV probe: no \"workers\" in $f"; return 1; }
	cp "$f" "$raw/wpv-probe.json"
	log "  $WPV probe: $(grep -o '"workers":"[^"]*"' "$f") on $(uname -r)"
}

# run_wpv ROUND: the libvsc matrix on vhost_scsi with --worker-per-vq, fresh LUNs as for
# the others. The probe runs on whatever vhost_scsi setup is there (so that a kernel without
# the mode costs no module switch), else on a fresh one that the matrix then uses.
run_wpv() {
	local r=$1 fresh=1
	if [[ ! -s $raw/wpv-probe.json ]]; then
		if [[ $current != vhost_scsi ]]; then
			need_module vhost_scsi 1 || { fail "setup of vhost_scsi for $WPV in round $r"; return; }
			fresh=0
		fi
		wpv_probe || return
	fi
	if ! grep -q '"workers":"per-vq"' "$raw/wpv-probe.json"; then
		log "  $WPV: vhost_scsi on $(uname -r) has no worker per virtqueue (ENOTTY): skipped"
		return
	fi
	need_module vhost_scsi "$fresh" || { fail "setup of vhost_scsi for $WPV in round $r"; return; }
	run_vsc_matrix "$WPV" "$r" --worker-per-vq
}

run_mem() {
	local mod=$1 r=$2 q
	for q in $BENCH_MEM_QUEUES; do
		"$bin/vsc-mem" --wwpn "$WWPN" --queues "$q" --reps "$BENCH_MEM_REPS" \
			--label "$mod/$r" >>"$part/mem.jsonl" 2>>"$raw/mem.err" || fail "vsc-mem $mod q$q"
	done
}

fio_args() {
	printf '%q %q %q %q %q %q' "$1" "$BENCH_FIO_TIME" "$BENCH_FIO_LUNS" "$BENCH_FIO_MIXES" \
		"$BENCH_FIO_SIZES" "$BENCH_FIO_JOBS"
}

fio_points() {
	local -a n s m
	read -r -a n <<<"$BENCH_FIO_LUNS"
	read -r -a s <<<"$BENCH_FIO_SIZES"
	read -r -a m <<<"$BENCH_FIO_MIXES"
	echo $((${#n[@]} * ${#s[@]} * ${#m[@]}))
}

run_l2() {
	local mod=$1 r=$2 lg=$raw/l2-$1-r$2.log tmo
	tmo=$((180 + $(fio_points) * (BENCH_FIO_TIME + 27)))
	"$tree/tests/e2e/l2.sh" --wwpn "$WWPN" --queues "$BENCH_L2_QUEUES" --timeout "$tmo" \
		--log "$raw/l2-console-$mod-r$r.log" -- \
		"bash $tree/tests/bench/fio-set.sh $(fio_args virtio_scsi)" >"$lg" 2>&1 ||
		fail "L2 fio via $mod round $r (see $lg)"
	tag_fio "guest-$mod" "$r" <"$lg" >>"$part/fio.jsonl"
}

run_native() {
	local r=$1 lg=$raw/native-r$1.log
	# no udev in the VM: sd_mod is not loaded on demand
	modprobe -a tcm_loop sd_mod || { fail "modprobe tcm_loop sd_mod"; return; }
	# (vsc-cfg writes the nexus first, then links the LUNs)
	"$bin/vsc-cfg" loop "$LOOP_WWPN" "$LOOP_INIT" "$BENCH_NLUNS" || { fail "tcm_loop setup"; return; }
	udevadm settle 2>/dev/null || true
	bash "$tree/tests/bench/fio-set.sh" tcm_loop "$BENCH_FIO_TIME" "$BENCH_FIO_LUNS" \
		"$BENCH_FIO_MIXES" "$BENCH_FIO_SIZES" "$BENCH_FIO_JOBS" >"$lg" 2>&1 ||
		fail "native fio round $r (see $lg)"
	tag_fio native "$r" <"$lg" >>"$part/fio.jsonl"
	# the loopback config goes with the next unload_all
}

# ---------------------------------------------------------------- steps
# The run is a list of steps, written to $raw/plan by the first VM:
#   vsc.rR.MODULE  switch to MODULE (fresh LUNs), libvsc matrix, device memory
#                  (vsc.rR.vhost_scsi-wpv: vhost_scsi, libvsc matrix with --worker-per-vq)
#   l2.rR.MODULE   the fio table in a nested guest through MODULE
#   native.rR      the fio table in L1 through tcm_loop
# steps.log records "start STEP" and "done STEP ok|failed". run.sh boots another VM when one
# stops before the end (this test bed's emulation sometimes leaves an L1 CPU without timer
# interrupts while a nested guest runs); that VM runs the steps not done yet, in plan order.
# A step started twice without finishing is given up ("lost"), so one step that kills its VM
# cannot take the whole run with it. A step writes its results under $raw/part/STEP/ and
# they join vsc/mem/fio.jsonl only when it finishes: a step cut short leaves no half rows.

# vsc_impls: what the libvsc rounds compare: the modules, and vhost_scsi-wpv after vhost_scsi
vsc_impls() {
	local mod list=()
	for mod in $BENCH_MODULES; do
		list+=("$mod")
		[[ $mod == vhost_scsi ]] && ((BENCH_WPV)) && list+=("$WPV")
	done
	echo "${list[*]}"
}

write_plan() {
	local r mod
	for ((r = 0; r < BENCH_ROUNDS; r++)); do
		for mod in $(round_order $r "$(vsc_impls)"); do echo "vsc.r$r.$mod"; done
	done
	# Nested guests last: a guest leaves L1 busy for a while after it exits (in one run,
	# vhost_scsi's 1-queue QD1 point measured right after one found both vCPUs 97% busy,
	# against 37% otherwise), which disturbs the libvsc points measured next.
	for ((r = 0; r < BENCH_L2_ROUNDS; r++)); do
		if ((BENCH_L2)); then
			for mod in $(round_order $r); do echo "l2.r$r.$mod"; done
		fi
		((BENCH_NATIVE)) && echo "native.r$r"
	done
	return 0
}

# step_state STEP: done, lost (started twice without finishing) or todo
step_state() {
	local n
	grep -qxE "done $1 (ok|failed)" "$raw/steps.log" 2>/dev/null && { echo "done"; return; }
	n=$(grep -cx "start $1" "$raw/steps.log" 2>/dev/null)
	((${n:-0} >= 2)) && echo lost || echo todo
}

current=''	# the fabric module loaded and configured in this VM, with fresh LUNs

# need_module MODULE FRESH: make MODULE serve the LUNs (FRESH=1: recreate them anyway)
need_module() {
	[[ $current == "$1" && $2 == 0 ]] && return 0
	current=''
	switch_to "$1" || return 1
	current=$1
}

part=''		# run_step: the results folder of the running step

run_step() {
	local step=$1 kind round mod r f before=$failures
	IFS=. read -r kind round mod <<<"$step"
	r=${round#r}
	part=$raw/part/$step
	rm -rf "$part" && mkdir -p "$part"
	echo "start $step" >>"$raw/steps.log"
	log "step $step"
	case $kind in
	vsc)
		if [[ $mod == "$WPV" ]]; then
			run_wpv "$r"
		elif need_module "$mod" 1; then
			run_vsc_matrix "$mod" "$r"
			log "  memory"
			run_mem "$mod" "$r"
		else
			fail "setup of $mod in round $r"
		fi
		;;
	l2)
		if ((!BENCH_L2)); then
			fail "no nested guest for $step"
		elif need_module "$mod" 0; then
			run_l2 "$mod" "$r"
		else
			fail "setup of $mod in round $r"
		fi
		;;
	native)
		current=''	# the loopback config goes with the next switch_to
		run_native "$r"
		;;
	*) fail "unknown step $step" ;;
	esac
	for f in vsc mem fio; do
		[[ -s $part/$f.jsonl ]] && cat "$part/$f.jsonl" >>"$raw/$f.jsonl"
	done
	if ((failures == before)); then
		echo "done $step ok" >>"$raw/steps.log"
	else
		echo "done $step failed" >>"$raw/steps.log"
	fi
}

cd /project || exit 1
# L1 alive: run.sh stops a VM whose heartbeat is older than BENCH_STALL_S seconds.
(while :; do touch "$raw/heartbeat"; sleep 10; done) &
heartbeat=$!
trap 'kill $heartbeat 2>/dev/null' EXIT
vm=$(($(cat "$raw/vm-count" 2>/dev/null || echo 0) + 1))
echo "$vm" >"$raw/vm-count"
[[ -s $raw/plan ]] || write_plan >"$raw/plan"
todo=()
while read -r step; do
	case $(step_state "$step") in
	todo) todo+=("$step") ;;
	lost) grep -qx "lost $step" "$raw/steps.log" ||
		{ echo "lost $step" >>"$raw/steps.log"; fail "step $step stopped its VM twice; given up"; } ;;
	esac
done <"$raw/plan"
log "VM $vm: ${#todo[@]} of $(wc -l <"$raw/plan") steps to run"
if ((BENCH_L2)) && printf '%s\n' "${todo[@]}" | grep -q '^l2\.'; then
	kvm_load || { fail "kvm_load: no nested guest"; BENCH_L2=0; }
fi
for step in "${todo[@]}"; do
	run_step "$step"
done
log "teardown"
unload_all || fail "final teardown"
log "done, $failures failure(s) in VM $vm"
echo "end $vm $failures" >>"$raw/steps.log"
((failures == 0))
