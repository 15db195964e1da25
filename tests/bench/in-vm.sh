#!/bin/bash
# Benchmark body, run INSIDE one L1 VM by tests/bench/run.sh (tests/vm/run):
#
#   tests/bench/in-vm.sh OUTDIR        (OUTDIR relative to /project)
#
# run.sh runs a snapshot of this script, fio-set.sh, guest-lib.sh, l2.sh and stage2.sh
# copied to OUTDIR/raw/snapshot/ (same layout), so that edits made to the tree while the
# benchmark runs cannot change it halfway.
#
# For every round, for tcm_vhost and Debian's vhost_scsi in alternating order (A,B then
# B,A, ...): unload the other module, tear down and recreate the same rd_mcp LUNs, load
# the module, configure naa.$WWPN/tpgt_1 with every LUN and a nexus, then
#   1. the libvsc matrix (tests/bin/vsc-load, no guest)      -> OUTDIR/raw/vsc.jsonl
#   2. device memory per request-queue count (tests/bin/vsc-mem) -> OUTDIR/raw/mem.jsonl
#   3. the seed's fio table in a nested L2 guest (tests/e2e/l2.sh, vhost-scsi-pci)
#                                                             -> OUTDIR/raw/fio.jsonl
# and once per round the same fio table natively in L1 through tcm_loop on the same LUNs.
# Knobs (environment, set by run.sh): BENCH_QUICK=1 and the BENCH_* variables below.
# Exit status: 0 if every point ran; 1 if some failed (the others are still recorded).
set -uo pipefail

out=/project/${1:?usage: in-vm.sh OUTDIR}
raw=$out/raw
mkdir -p "$raw"
tree=$(cd "$(dirname "$0")/../.." && pwd)	# tests/.. of the scripts (snapshot or repo)
# shellcheck source=../vm/guest-lib.sh
. "$tree/tests/vm/guest-lib.sh"
bin=$tree/tests/bin

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
	: "${BENCH_L2_ROUNDS:=1}"	# an L2 with 32 LUNs takes minutes to boot
fi
# One request queue, hence one vCPU in L2 (tests/e2e/l2.sh: a 2-vCPU L2 is not reliable
# under this test bed's nested emulation).
: "${BENCH_LUN_MB:=16}" "${BENCH_L2_QUEUES:=1}" "${BENCH_FIO_JOBS:=2}"
: "${BENCH_MODULES:=tcm_vhost vhost_scsi}" "${BENCH_NATIVE:=1}" "${BENCH_L2:=1}"

WWPN=naa.50014050000be001
LOOP_WWPN=naa.50014050000be002
LOOP_INIT=naa.50014050000be0ff
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
	echo "  mem queues='$BENCH_MEM_QUEUES' reps=$BENCH_MEM_REPS; $BENCH_NLUNS rd_mcp LUNs of $BENCH_LUN_MB MiB; L2/native in $BENCH_L2_ROUNDS round(s)"
} >"$raw/settings.txt"
cat "$raw/settings.txt" >&2

# unload_all: tear down every fabric's config and backstore, rmmod the vhost fabric module.
unload_all() {
	local mod
	"$bin/vsc-cfg" teardown || return 1
	mod=$(fabric_loaded)
	[[ -z $mod ]] || rmmod "$mod"
}

# load_fabric MODULE: like guest-lib's fabric_load, without its depmod (slow under TCG):
# tcm_vhost.ko is insmod'ed after its dependencies, vhost_scsi modprobe'd by name.
load_fabric() {
	local mod=$1 ko=/project/tcm_vhost.ko deps
	[[ -z $(fabric_loaded) ]] || { echo "bench: $(fabric_loaded) still loaded" >&2; return 1; }
	case $mod in
	tcm_vhost)
		deps=$(modinfo -F depends "$ko") || return 1
		modprobe -a ${deps//,/ } && insmod "$ko" || return 1
		;;
	*) modprobe "$mod" || return 1 ;;
	esac
	[[ -c /dev/vhost-scsi && -d /sys/module/$mod ]] ||
		{ echo "bench: $mod did not give /dev/vhost-scsi" >&2; return 1; }
}

# switch_to MODULE: unload whatever serves the vhost fabric, recreate the same rd_mcp LUNs
# from scratch, load MODULE, configure the TPG (every LUN, then the nexus).
switch_to() {
	local mod=$1
	_glib_configfs || return 1
	unload_all || return 1
	log "  unloaded"
	"$bin/vsc-cfg" luns "$BENCH_NLUNS" "$BENCH_LUN_MB" || return 1
	log "  $BENCH_NLUNS LUNs created"
	load_fabric "$mod" || return 1
	"$bin/vsc-cfg" vhost "$WWPN" "$BENCH_NLUNS" || return 1
	log "  $mod loaded and configured"
}

# tag_lines TARGET ROUND: BENCH-FIO lines -> JSON objects with target and round.
# (l2.sh repeats the console tail after a failure: stop there, no duplicates)
tag_fio() {
	sed -n -e '/^----- last [0-9]* lines/q' -e "s/^BENCH-FIO {/{\"target\":\"$1\",\"round\":$2,/p"
}

run_vsc_matrix() {
	local mod=$1 r=$2 q d p pat pct
	for p in $BENCH_PATTERNS; do
		pat=${p%%:*} pct=${p##*:}
		for q in $BENCH_QUEUES; do
			for d in $BENCH_DEPTHS; do
				"$bin/vsc-load" --wwpn "$WWPN" --luns 0 --queues "$q" --iodepth "$d" \
					--pattern "$pat" --read-pct "$pct" --time "$BENCH_VSC_TIME" \
					--ramp 0.5 --label "$mod/$r" >>"$raw/vsc.jsonl" 2>>"$raw/vsc.err" ||
					fail "vsc-load $mod q$q d$d $p"
			done
		done
	done
}

run_mem() {
	local mod=$1 r=$2 q
	for q in $BENCH_MEM_QUEUES; do
		"$bin/vsc-mem" --wwpn "$WWPN" --queues "$q" --reps "$BENCH_MEM_REPS" \
			--label "$mod/$r" >>"$raw/mem.jsonl" 2>>"$raw/mem.err" || fail "vsc-mem $mod q$q"
	done
}

fio_args() {
	printf '%q %q %q %q %q %q' "$1" "$BENCH_FIO_TIME" "$BENCH_FIO_LUNS" "$BENCH_FIO_MIXES" \
		"$BENCH_FIO_SIZES" "$BENCH_FIO_JOBS"
}

fio_points() {
	local n s m c=0
	for n in $BENCH_FIO_LUNS; do for s in $BENCH_FIO_SIZES; do for m in $BENCH_FIO_MIXES; do
		c=$((c + 1))
	done; done; done
	echo $c
}

run_l2() {
	local mod=$1 r=$2 lg=$raw/l2-$1-r$2.log tmo
	tmo=$((180 + $(fio_points) * (BENCH_FIO_TIME + 27)))
	"$tree/tests/e2e/l2.sh" --wwpn "$WWPN" --queues "$BENCH_L2_QUEUES" --timeout "$tmo" \
		--log "$raw/l2-console-$mod-r$r.log" -- \
		"bash $tree/tests/bench/fio-set.sh $(fio_args virtio_scsi)" >"$lg" 2>&1 ||
		fail "L2 fio via $mod round $r (see $lg)"
	tag_fio "guest-$mod" "$r" <"$lg" >>"$raw/fio.jsonl"
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
	tag_fio native "$r" <"$lg" >>"$raw/fio.jsonl"
	# the loopback config goes with the next unload_all
}

cd /project || exit 1
if ((BENCH_L2)); then
	kvm_load || { fail "kvm_load: no nested guest"; BENCH_L2=0; }
fi
read -r -a mods <<<"$BENCH_MODULES"
for ((r = 0; r < BENCH_ROUNDS; r++)); do
	order=("${mods[@]}")
	if ((r % 2)); then
		order=()
		for ((i = ${#mods[@]} - 1; i >= 0; i--)); do order+=("${mods[i]}"); done
	fi
	for mod in "${order[@]}"; do
		log "round $r: switching to $mod"
		if ! switch_to "$mod"; then
			fail "setup of $mod in round $r"
			continue
		fi
		log "round $r $mod: libvsc matrix"
		run_vsc_matrix "$mod" "$r"
		log "round $r $mod: memory"
		run_mem "$mod" "$r"
		if ((BENCH_L2 && r < BENCH_L2_ROUNDS)); then
			log "round $r $mod: L2 fio"
			run_l2 "$mod" "$r"
		fi
	done
	if ((BENCH_NATIVE && r < BENCH_L2_ROUNDS)); then
		log "round $r: native fio (tcm_loop)"
		run_native "$r"
	fi
done
log "teardown"
unload_all || fail "final teardown"
log "done, $failures failure(s)"
((failures == 0))
