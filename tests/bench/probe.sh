#!/bin/bash
# One real-guest point, measured with its costs: fio in a nested L2 guest (QEMU
# vhost-scsi-pci, Linux virtio_scsi) through each configuration, alternated, plus what
# each I/O cost in exits, interrupts, kicks and CPU time.
#
#   tests/bench/probe.sh                     # on the host: boots one L1 VM (tests/vm/run)
#   PROBE_LIVE="poll_us=0 poll_us=50" PROBE_ROUNDS=3 tests/bench/probe.sh
#
# Knobs (environment):
#   PROBE_BOOTS   guests per round, each MODULE[@KO][:param=value,...][%QEMU_OPTS] (default
#                 "tcm_vhost vhost_scsi"); QEMU_OPTS are vhost-scsi-pci properties for that
#                 guest (vhost_scsi%worker_per_virtqueue=on); the parameters are written before the guest
#                 boots, so load-time ones (vq_threads, offload) apply to its device;
#                 tcm_vhost@KO loads that build (a path under the project) instead of
#                 $TCM_VHOST_KO, to compare two builds of the module
#   PROBE_LIVE    settings alternated inside every tcm_vhost guest, each param=value[,...]
#                 written while the guest runs (default "-": none); one boot per round
#                 then compares them on the same guest, which removes the boot-to-boot noise
#   PROBE_ROUNDS  rounds (default 3); odd rounds run the guests in reverse order
#   PROBE_REPS    points per live setting in one guest (default 2), in alternation
#   PROBE_BS PROBE_QD PROBE_MIX PROBE_LUNS PROBE_JOBS PROBE_TIME  the fio point (default
#                 4k, 32, 75 (% read), 1, 2 jobs, 5 s); 4k is randrw, anything else rw
#   PROBE_CPUS PROBE_QUEUES  L2 vCPUs and vhost-scsi-pci num_queues (default 1 and 1)
#   PROBE_GUEST_POLL  N > 0: the guest polls: N of its request queues are virtio_scsi poll
#                 queues (virtscsi_poll_queues, Linux 5.18+: 6.12 guests, not 6.1), which
#                 ask for no interrupt, and fio reaps its completions by polling them
#                 (io_uring --hipri); the device gets at least N + 1 queues and the guest
#                 as many possible CPUs (L2_MAXCPUS), as virtio_scsi uses no more queues
#                 than that (default 0: interrupts, libaio)
#   PROBE_L2_TIMEOUT  seconds each guest may take (default 240 + 35 per point)
#   KV            the L1 kernel (tests/vm/run)
#   PROBE_L1_BOOTS  L1 VMs at most (default 3): an L1 lost in a round sets that round's
#                 points aside (lost-points.jsonl) and the next L1 runs it again
#   PROBE_L2_KV   the guests' kernel (default: L1's); with KV a debug kernel
#                 (make check-debug), the guests still boot a fast one
#   E2E_ROOT      trixie: the guests run under Debian 13's QEMU 10 in L1 (tests/e2e/l2.sh)
# Prints one PROBE line per point, then the medians per configuration and the ratio of
# each to the first, per round (min..max): build/probe/<timestamp>/{points.jsonl,summary.md}.
# Counters per I/O: L1's kvm exits, by kind too, and injected interrupts (debugfs kvm),
# the guest's request-queue interrupts, CPU time busy in L2 and in L1 (/proc/stat), and
# tcm_vhost's own kicks, polled passes, signals and signals held back (tpgt_1/stats).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
WWPN=naa.50014050000be001

# ------------------------------------------------------------------ L2: the guest side
# probe.sh --in-l2 LABELS...: for each rep, each label in turn: ask L1 to apply it, run
# fio, ask L1 for its counters, print one PROBE line.
in_l2() {
	local rw k=0 rep lab line l1 irq0 irq1 cpu0 cpu1 io0 io1
	rw=$(sed -n 's/.* tcmv\.rw=\([^ ]*\).*/\1/p' /proc/cmdline)
	[[ -d $rw ]] || { echo "probe: no shared run dir in L2" >&2; return 1; }
	if ((PROBE_GUEST_POLL > 0)); then
		guest_poll_queues "$PROBE_GUEST_POLL" || return 1
		export FIO_SET_ENGINE="io_uring --hipri"
	fi
	for ((rep = 0; rep < PROBE_REPS; rep++)); do
		for lab in "$@"; do
			k=$((k + 1))
			l1_call "$rw" "$k set $lab" || return 1
			irq0=$(guest_irqs) cpu0=$(cpu_busy_us) io0=$(disk_ios)
			line=$(FIO_SET_QD=$PROBE_QD bash "$here/fio-set.sh" virtio_scsi "$PROBE_TIME" \
				"$PROBE_LUNS" "$PROBE_MIX" "$PROBE_BS" "$PROBE_JOBS" | sed -n 's/^BENCH-FIO {//p')
			irq1=$(guest_irqs) cpu1=$(cpu_busy_us) io1=$(disk_ios)
			l1_call "$rw" "$k end" || return 1
			l1=$(cat "$rw/l1-$k")
			[[ -n $line ]] || { echo "probe: no fio result for $lab" >&2; return 1; }
			echo "PROBE {\"label\":\"$lab\",\"rep\":$rep,$l1,\"l2_irqs\":$((irq1 - irq0)),\"l2_busy_us\":$((cpu1 - cpu0)),\"l2_ios\":$((io1 - io0)),$line"
		done
	done
}

# guest_poll_queues N: bind virtio_scsi again with N poll queues (the L2 initramfs
# loads it with insmod, which ignores the kernel command line); fails unless a
# disk then polls
guest_poll_queues() {
	local drv=/sys/bus/virtio/drivers/virtio_scsi dev f i
	echo "$1" >/sys/module/virtio_scsi/parameters/virtscsi_poll_queues || return 1
	for dev in "$drv"/virtio*; do
		[[ -e $dev ]] || continue
		echo "${dev##*/}" >"$drv/unbind" && echo "${dev##*/}" >"$drv/bind" || return 1
	done
	for ((i = 0; i < 100; i++)); do # the disks come back from an asynchronous scan
		for f in /sys/block/sd*/queue/io_poll; do
			[[ -e $f && $(<"$f") == 1 ]] && return 0
		done
		read -rt 0.2 <> <(:) || true
	done
	echo "probe: no disk polls after virtscsi_poll_queues=$1: $(dmesg | grep -a 'poll queues' | tail -n1)" >&2
	return 1
}

# l1_call RUNDIR REQUEST: hand REQUEST to L1's watcher and wait for its answer
l1_call() {
	local i ack
	echo "$2" >"$1/req.tmp" && mv "$1/req.tmp" "$1/req"
	for ((i = 0; i < 300; i++)); do
		ack=$(cat "$1/ack" 2>/dev/null)
		[[ $ack == "$2" ]] && return 0
		read -rt 0.1 <> <(:) || true
	done
	echo "probe: L1 did not answer '$2'" >&2
	return 1
}

# guest_irqs: interrupts of the virtio request queues so far (all CPUs)
guest_irqs() {
	awk '/virtio.*request/ { for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i }
		END { print n + 0 }' /proc/interrupts
}

# disk_ios: reads and writes the SCSI disks completed so far
disk_ios() {
	awk '$3 ~ /^sd[a-z]+$/ { n += $4 + $8 } END { print n + 0 }' /proc/diskstats
}

# cpu_busy_us: CPU time spent not idle so far, all CPUs, in microseconds
cpu_busy_us() {
	awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" {
		print int(($2 + $3 + $4 + $7 + $8 + $9) * 1000000 / hz) }' /proc/stat
}

# ------------------------------------------------------------------ L1: around the guest
kvm_stat() { cat "/sys/kernel/debug/kvm/$1" 2>/dev/null || echo 0; }

# tvh_io_stat NAME: tcm_vhost's counter NAME summed over the request queues (0 otherwise)
tvh_io_stat() {
	awk -v n="$1" '$1 == "io" { for (i = 2; i < NF; i += 2) if ($i == n) print $(i + 1) }' \
		"/sys/kernel/config/target/vhost/$WWPN/tpgt_1/stats" 2>/dev/null | grep . || echo 0
}

# What the exits were: L1's kvm counters after the first eight fields, in this order
KVM_EXITS_BY="halt_exits halt_successful_poll halt_wakeup irq_exits irq_window_exits insn_emulation io_exits mmio_exits"

l1_counters() {
	local k
	echo "$(kvm_stat exits) $(kvm_stat irq_injections) $(cpu_busy_us)" \
		"$(tvh_io_stat kicks) $(tvh_io_stat polled) $(tvh_io_stat signals)" \
		"$(awk '$1 == "ctxt" { print $2 }' /proc/stat) $(tvh_io_stat signals_held)" \
		"$(for k in $KVM_EXITS_BY; do kvm_stat "$k"; done | xargs)"
}

# set_params MODULE SETTING: write param=value[,...] to MODULE's parameters ("-": none)
set_params() {
	local kv
	[[ $2 == - ]] && return 0
	for kv in ${2//,/ }; do
		echo "${kv#*=}" >"/sys/module/$1/parameters/${kv%%=*}" ||
			{ echo "probe: cannot set $1 $kv" >&2; return 1; }
	done
}

# watch_guest MODULE: serve the L2 guest's requests (set LABEL / end) until it is gone
watch_guest() {
	local mod=$1 rw='' req last='' k what lab c0 c1 i stat
	while :; do
		[[ -n $rw ]] || rw=$(find /var/tmp -maxdepth 1 -name 'l2.*' -type d | tail -n1)
		req=$(cat "$rw/req" 2>/dev/null) || req=''
		if [[ -n $req && $req != "$last" ]]; then
			read -r k what lab <<<"$req"
			if [[ $what == set ]]; then
				[[ $mod == tcm_vhost ]] && set_params "$mod" "$lab"
				read -r -a c0 <<<"$(l1_counters)"
			else
				read -r -a c1 <<<"$(l1_counters)"
				printf '"exits":%d,"irq_inj":%d,"l1_busy_us":%d,"kicks":%d,"polled":%d,"signals":%d,"l1_ctxsw":%d,"held":%d' \
					$((c1[0] - c0[0])) $((c1[1] - c0[1])) $((c1[2] - c0[2])) \
					$((c1[3] - c0[3])) $((c1[4] - c0[4])) $((c1[5] - c0[5])) \
					$((c1[6] - c0[6])) $((c1[7] - c0[7])) >"$rw/l1-$k"
				i=8
				for stat in $KVM_EXITS_BY; do
					printf ',"%s":%d' "$stat" $((c1[i] - c0[i]))
					i=$((i + 1))
				done >>"$rw/l1-$k"
			fi
			echo "$req" >"$rw/ack"
			last=$req
		fi
		read -rt 0.05 <> <(:) || true
	done
}

in_vm() {
	local out=/project/$1 r i b mod params labels lg ko qopts wpid dpid l2t
	local queues=$PROBE_QUEUES maxcpus=''
	local l2_cache=${TCM_VHOST_CACHE:-/var/cache/tcm_vhost}/${PROBE_L2_KV:-$(uname -r)}
	if ((PROBE_GUEST_POLL > 0 && queues <= PROBE_GUEST_POLL)); then
		queues=$((PROBE_GUEST_POLL + 1))
	fi
	((PROBE_CPUS < queues)) && maxcpus=$queues
	# shellcheck source=../vm/guest-lib.sh
	. "$top/tests/vm/guest-lib.sh"
	# shellcheck disable=SC2034 # read by bench-lib.sh
	bin=$top/tests/bin BENCH_NLUNS=$PROBE_LUNS BENCH_LUN_MB=64
	# shellcheck source=bench-lib.sh
	. "$here/bench-lib.sh"
	log() { echo "probe[$SECONDS s]: $*" >&2; }
	mkdir -p "$out"
	mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
	kvm_load || return 1
	# where L1's kernel and KVM are (KASLR): to name an L1 RIP seen from outside
	# (QEMU's gdbstub) in KVM; Debian ships no real System.map (linux-image-*-dbg
	# has it), so core-kernel RIPs stay unnamed
	awk '$3 == "_stext" || $4 ~ /^\[kvm(_amd)?\]$/' /proc/kallsyms >"$out/l1-kallsyms.txt"
	for ((r = ${PROBE_FIRST_ROUND:-0}; r < PROBE_ROUNDS; r++)); do
		for b in $(round_order "$r" "$PROBE_BOOTS"); do
			qopts=${b#*%} mod=${b%%%*}
			[[ $b == *%* ]] || qopts=
			params=- ko=${TCM_VHOST_KO:-}
			[[ $mod == *:* ]] && params=${mod#*:}
			mod=${mod%%:*}
			[[ $mod == *@* ]] && ko=/project/${mod#*@} mod=${mod%%@*}
			labels=-
			# odd rounds also reverse the live settings
			[[ $mod == tcm_vhost ]] && labels=$(round_order "$r" "$PROBE_LIVE" | xargs)
			log "round $r: $b, live settings: $labels"
			TCM_VHOST_KO=$ko switch_to "$mod" && set_params "$mod" "$params" || return 1
			watch_guest "$mod" &
			wpid=$!
			lg=$out/l2-$r-${b//[^A-Za-z0-9_.+-]/_}.log
			l2t=${PROBE_L2_TIMEOUT:-$((240 + PROBE_REPS * $(wc -w <<<"$labels") * (PROBE_TIME + 30)))}
			# l2.sh kills QEMU at its timeout; a guest still there a minute later is stuck
			# in L1's kernel: show L1's blocked tasks and CPUs (builtins only, no exec)
			(
				read -rt $((l2t + 60)) <> <(:)
				echo "probe: guest of $b outlived its ${l2t}s timeout by 60 s: sysrq w, l" >/dev/kmsg
				echo w >/proc/sysrq-trigger
				echo l >/proc/sysrq-trigger
			) &
			dpid=$!
			E2E_VHOST_OPTS=$qopts L2_MAXCPUS=$maxcpus VM_CACHE_DIR=$l2_cache \
				"$top/tests/e2e/l2.sh" --wwpn "$WWPN" \
				--queues "$queues" --cpus "$PROBE_CPUS" --timeout "$l2t" --log "$lg.console" -- \
				"$(printf 'PROBE_REPS=%q PROBE_TIME=%q PROBE_BS=%q PROBE_QD=%q PROBE_MIX=%q PROBE_LUNS=%q PROBE_JOBS=%q PROBE_GUEST_POLL=%q bash %q --in-l2 %s' \
					"$PROBE_REPS" "$PROBE_TIME" "$PROBE_BS" "$PROBE_QD" "$PROBE_MIX" \
					"$PROBE_LUNS" "$PROBE_JOBS" "$PROBE_GUEST_POLL" "$here/probe.sh" "$labels")" >"$lg" 2>&1
			i=$?
			kill "$wpid" "$dpid" 2>/dev/null
			wait 2>/dev/null
			rm -rf /var/tmp/l2.*
			((i == 0)) || log "guest of $b ended with status $i (see $lg)"
			sed -n 's|^PROBE {|{"boot":"'"$b"'","round":'"$r"',|p' "$lg" | tee -a "$out/points.jsonl"
		done
		echo "$r" >>"$out/rounds.done"
	done
	unload_all
}

# probe_l1_boots REL: the L1 VMs that run the rounds. An L1 lost in a round (the test
# bed's nested emulation resets or panics L1 now and then, with or without tcm_vhost:
# TESTBED.md) leaves that round unfinished: its points move to lost-points.jsonl, so
# every round kept has each configuration in its order, and another L1 runs the rounds
# left, up to PROBE_L1_BOOTS VMs in all. Returns the last VM's status.
probe_l1_boots() {
	local rel=$1 boot=1 done_r=0 rc name
	while :; do
		name=vm
		((boot > 1)) && name=vm-$boot
		PROBE_FIRST_ROUND=$done_r bench_host_vm "$rel" \
			"${PROBE_VM_TIMEOUT:-$((600 + (PROBE_ROUNDS - done_r) * 900))}" \
			'^(PROBE_|TCM_VHOST_KO$|E2E_ROOT$)' tests/bench/probe.sh "$name"
		rc=$?
		touch "$top/$rel/rounds.done" "$top/$rel/points.jsonl"
		done_r=$(wc -l <"$top/$rel/rounds.done")
		((done_r < PROBE_ROUNDS)) || return "$rc"
		echo "probe: L1 VM $boot ended (status $rc, $name.log) after $done_r of" \
			"$PROBE_ROUNDS rounds; round $done_r's points set aside" >&2
		grep -F "\"round\":$done_r," "$top/$rel/points.jsonl" >>"$top/$rel/lost-points.jsonl"
		grep -vF "\"round\":$done_r," "$top/$rel/points.jsonl" >"$top/$rel/points.tmp"
		mv "$top/$rel/points.tmp" "$top/$rel/points.jsonl"
		((boot < PROBE_L1_BOOTS)) || return "$rc"
		boot=$((boot + 1))
		echo "probe: booting L1 VM $boot for rounds $done_r.." >&2
	done
}

# ------------------------------------------------------------------ host
: "${PROBE_BOOTS:=tcm_vhost vhost_scsi}" "${PROBE_LIVE:=-}" "${PROBE_ROUNDS:=3}" "${PROBE_REPS:=2}"
: "${PROBE_BS:=4k}" "${PROBE_QD:=32}" "${PROBE_MIX:=75}" "${PROBE_LUNS:=1}" "${PROBE_JOBS:=2}"
: "${PROBE_TIME:=5}" "${PROBE_CPUS:=1}" "${PROBE_QUEUES:=1}" "${PROBE_GUEST_POLL:=0}"
: "${PROBE_L2_KV:=}" "${PROBE_L1_BOOTS:=3}"
export PROBE_BOOTS PROBE_LIVE PROBE_ROUNDS PROBE_REPS PROBE_BS PROBE_QD PROBE_MIX PROBE_LUNS
export PROBE_JOBS PROBE_TIME PROBE_CPUS PROBE_QUEUES PROBE_GUEST_POLL PROBE_L2_KV

case ${1:-} in
--in-l2) shift; in_l2 "$@"; exit ;;
--in-vm) in_vm "$2"; exit ;;
esac

# shellcheck source=host-lib.sh
. "$here/host-lib.sh"
rel=$(bench_host_prepare probe) || exit 1
echo "probe: boots '$PROBE_BOOTS', live '$PROBE_LIVE', $PROBE_ROUNDS rounds x $PROBE_REPS reps," \
	"fio $PROBE_BS QD$PROBE_QD ${PROBE_MIX}% read, $PROBE_LUNS LUN(s), $PROBE_JOBS jobs, ${PROBE_TIME}s;" \
	"L2 $PROBE_CPUS vCPU(s), $PROBE_QUEUES queue(s), $PROBE_GUEST_POLL polled; results in $rel" >&2
probe_l1_boots "$rel"
rc=$?
python3 "$here/probe-report.py" "$top/$rel/points.jsonl" | tee "$top/$rel/summary.md"
exit $rc
