#!/bin/bash
# Boot a nested L2 guest with KVM from INSIDE L1 (tests/vm/run) and run a command in it.
#
#   tests/e2e/l2.sh [--wwpn WWPN] [--queues N] [--vhost-opts K=V,...] [--timeout S]
#                   [--mem MB] [--cpus N] [--pidfile FILE] [--log FILE] [--ready-within S --ready-marker TEXT] [--] CMD [ARGS...]
#
# L2 sees L1's / read-only (overlay, tmpfs upper) exactly as L1 sees the host's, so /project
# and every tool are there. With --wwpn, L2 gets -device vhost-scsi-pci,wwpn=WWPN,
# num_queues=N (the vhost fabric must be loaded and configured); its disks are /dev/sd*.
# CMD (one argument: a shell line; several: an exact argv) runs under bash -c, cwd /project.
# Output between L2's markers is printed, L2's kernel lines with "l2| " in front (L1's
# own complaints are told from the nested guest's); the whole L2 console goes to --log
# (default a new l2-console-*.log in E2E_L2_LOG_DIR if set, which make check
# points into its logs, else /tmp in L1). --pidfile gets QEMU's pid, so a test can run l2.sh in
# the background and kill -9 QEMU. --ready-within S --ready-marker TEXT: a guest whose
# console has not shown TEXT S seconds after its boot began has timed out (for a test that
# waits on a long-running guest: it gets the retries below, which a kill of its own
# would forgo).
# Exit status: CMD's; 124 on timeout or a guest that died without reporting (also after
# kill -9); 125 if CMD passed but L2's kernel complained (see tests/vm/stage2.sh).
#
# vCPUs (--cpus, L2_CPUS): 1 by default, and in make check; fio-verify gives its
# multi-queue guests E2E_L2_CPUS (default 1: see below for 2). Under Debian 12's QEMU 7.2
# as the emulator (L0), 3 of 8 such 2-vCPU boots were lost (a guest that reset itself,
# an L1 CPU without timer interrupts). With Debian 13's QEMU 10 as L0 (tests/vm/run's
# default), 26 of 27 2-vCPU, 4-queue boots ran fio verify to the end (2026-12-04: 14 of
# 15 on 6.12 with QEMU 10 in L1, 12 of 12 on 6.1 with QEMU 7.2 in L1); the 27th was L1
# itself resetting silently, which check.sh boots again (died_of_nesting). Later, 5 of
# 10 L1s under QEMU 10 died during 2-vCPU boots;
# under trixie-backports' QEMU 11.1 (tests/vm/run's default once its root is prepared),
# 6 of 6 2-vCPU, 4-queue boots in 2 L1s ran fio verify to the end (2026-12-05). It did
# not hold: 6 of 12 2-vCPU boots under fio load finished (2026-12-06, tests/bench/probe.sh;
# 4 of the 6 lost took L1 down), CI lost one 2-vCPU guest to a soft lockup of an L2 CPU
# waiting for the other's IPI while booting, and the next such boot here lost its L1 (a
# CPU whose timer stopped). So make check's nested guests have one vCPU again.
# L2_MAXCPUS: CPUs the guest may hot-add (-smp N,maxcpus=M): its nr_cpu_ids, which bounds
# the request queues virtio_scsi uses, without the cost of running more vCPUs.
# L2_LIBVIRT=1: libvirt starts the guest instead (tests/e2e/libvirt.sh starts libvirtd in L1):
# a transient domain with the same kernel, 9p shares and console, and the disk as
# <hostdev type='scsi_host'><source protocol='vhost' wwpn=.../> (libvirt opens
# /dev/vhost-scsi itself and hands QEMU the descriptor); no --pidfile, one queue.
# E2E_ROOT=trixie runs Debian 13's QEMU 10 (tests/vm/trixie.sh) instead of this system's;
# E2E_VHOST_OPTS adds vhost-scsi-pci properties (e.g. worker_per_virtqueue=on, QEMU 9+).
# Linux's virtio_scsi uses min(num_queues, CPUs) request queues: a 1-vCPU guest drives one
# whatever --queues says. A guest that resets itself without printing anything is booted
# again and says so ("l2: RETRY"); so is one that timed out while its target owed it
# nothing (stalled_owing_nothing), and one whose kernel (softlockup_panic=1) shows an
# interrupt taken with interrupts masked (tests/vm/irq-while-masked.sh): at most two more
# boots in all, whichever of these ended the last one (make check once saw a silent reset,
# then a stall owing nothing, in one 1-vCPU guest on 6.1). One stuck in page faults of its
# own exception entry (entry_fault_loop) is booted again only as the first retry; another
# timeout, a kernel complaint or a failed command never is.
# L2_RETRY_HOOK: a command run in L1 (bash -c) before each such boot, for a test whose
# guest changes the target's state (tests/e2e/resize.sh puts the backstore back); the
# guest is not booted again if it fails.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
vmdir=$(cd "$here/../vm" && pwd)
: "${KV:=$(uname -r)}"
cache=${VM_CACHE_DIR:-${TCM_VHOST_CACHE:-/var/cache/tcm_vhost}/$KV}

wwpn='' queues=1 vhost_opts=${E2E_VHOST_OPTS:-} timeout_s=${L2_TIMEOUT:-300} mem=${L2_MEM:-1024} cpus=${L2_CPUS:-}
pidfile='' log='' ready_within='' ready_marker=''

usage() {
	sed -n '4,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

while (($#)); do
	case $1 in
	--wwpn) wwpn=$2; shift 2 ;;
	--queues) queues=$2; shift 2 ;;
	--vhost-opts) vhost_opts=$2; shift 2 ;;
	--timeout) timeout_s=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--cpus) cpus=$2; shift 2 ;;
	--pidfile) pidfile=$2; shift 2 ;;
	--ready-within) ready_within=$2; shift 2 ;;
	--ready-marker) ready_marker=$2; shift 2 ;;
	--log) log=$2; shift 2 ;;
	--vhostfd) echo "l2.sh: --vhostfd is not supported" >&2; exit 2 ;;
	--) shift; break ;;
	-*) usage ;;
	*) break ;;
	esac
done
(($# > 0)) || usage
[[ -z $ready_within && -z $ready_marker ]] || [[ -n $ready_within && -n $ready_marker ]] || usage
for f in vmlinuz initrd-l2.gz; do
	[[ -f $cache/$f ]] || { echo "l2.sh: $cache/$f missing (tests/vm/kernel.sh prepare)" >&2; exit 2; }
done
[[ -c /dev/kvm ]] || modprobe kvm_amd || { echo "l2.sh: no /dev/kvm" >&2; exit 2; }

[[ -n $cpus ]] || cpus=1

# The run dir is shared read-write with L2 (9p tag "rw", same path inside): env, cmd and
# stage2 go in, dmesg comes back.
run_dir=$(mktemp -d /var/tmp/l2.XXXXXX)
trap 'rm -rf "$run_dir"' EXIT
log=${log:-$(mktemp --tmpdir="${E2E_L2_LOG_DIR:-/tmp}" l2-console-XXXXXX.log)}
cp "$vmdir/stage2.sh" "$run_dir/stage2"
if (($# == 1)); then
	printf '%s\n' "$1" >"$run_dir/cmd"
else
	printf '%q ' "$@" >"$run_dir/cmd"
	echo >>"$run_dir/cmd"
fi

# QEMU from a Debian 13 root sees this system under /host.
hp='' qemu_bin=(qemu-system-x86_64)
if [[ ${E2E_ROOT:-} == trixie ]]; then
	hp=/host qemu_bin=("$vmdir/trixie.sh" run qemu-system-x86_64)
fi
append="console=ttyS0 quiet loglevel=4 panic=-1 softlockup_panic=1 softlockup_all_cpu_backtrace=1 scsi_mod.scan=sync tcmv.run=$run_dir tcmv.rw=$run_dir"
# shellcheck disable=SC2054 # the commas are QEMU's
qemu=("${qemu_bin[@]}" -accel kvm -cpu "${L2_CPU:-max}" -M q35 -smp "$cpus${L2_MAXCPUS:+,maxcpus=$L2_MAXCPUS}" -m "$mem"
	-nographic -nodefaults -no-reboot -serial stdio -monitor none
	-kernel "$hp$cache/vmlinuz" -initrd "$hp$cache/initrd-l2.gz"
	-fsdev "local,id=hostroot,path=$hp/,security_model=none,readonly=on,multidevs=remap"
	-device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot
	-fsdev "local,id=rw,path=$hp$run_dir,security_model=none,multidevs=remap"
	-device virtio-9p-pci,fsdev=rw,mount_tag=rw
	-append "$append")
if [[ -n $wwpn ]]; then
	qemu+=(-device "vhost-scsi-pci,wwpn=$wwpn,num_queues=$queues${vhost_opts:+,$vhost_opts}")
fi
[[ -n $pidfile ]] && qemu+=(-pidfile "$hp$pidfile")

# The same guest as a libvirt domain (L2_LIBVIRT=1).
# shellcheck disable=SC2016 # the quotes are XML's: $wwpn expands in the here-document
libvirt_domain() {
	local fs
	fs="type='mount' accessmode='passthrough' multidevs='remap'"
	cat <<-XML
		<domain type='kvm'>
		  <name>tcmv-l2-$$</name>
		  <memory unit='MiB'>$mem</memory>
		  <vcpu>$cpus</vcpu>
		  <os>
		    <type arch='x86_64' machine='q35'>hvm</type>
		    <kernel>$cache/vmlinuz</kernel>
		    <initrd>$cache/initrd-l2.gz</initrd>
		    <cmdline>$append</cmdline>
		  </os>
		  <cpu mode='maximum'/>
		  <on_poweroff>destroy</on_poweroff>
		  <on_reboot>destroy</on_reboot>
		  <on_crash>destroy</on_crash>
		  <devices>
		    <filesystem $fs><source dir='/'/><target dir='hostroot'/><readonly/></filesystem>
		    <filesystem $fs><source dir='$run_dir'/><target dir='rw'/></filesystem>
		    <serial type='file'><source path='$run_dir/console'/><target port='0'/></serial>
		    <controller type='usb' model='none'/>
		    <memballoon model='none'/>
		    ${wwpn:+<hostdev mode='subsystem' type='scsi_host' managed='no'><source protocol='vhost' wwpn='$wwpn'/></hostdev>}
		  </devices>
		</domain>
	XML
}
if [[ ${L2_LIBVIRT:-} == 1 ]]; then
	[[ -z $pidfile ]] || { echo "l2.sh: --pidfile needs QEMU itself (not L2_LIBVIRT)" >&2; exit 2; }
	libvirt_domain >"$run_dir/domain.xml"
	qemu_bin=(libvirtd) # for the boot line: libvirt's version
	qemu=("$here/virsh-run.sh" "$run_dir/domain.xml" "$run_dir/console")
fi
awk=(awk)
awk -W version 2>&1 | grep -q mawk && awk=(awk -W interactive) # line by line, not blocks

# tpg_stats: each line of the stats of tcm_vhost's TPGs (of --wwpn's target, if given),
# after the TPG's configfs path.
tpg_stats() {
	local f cfs=/sys/kernel/config/target/vhost
	for f in "$cfs"/*/tpgt_*/stats; do
		[[ -r $f && ( -z $wwpn || $f == "$cfs/$wwpn/"* ) ]] || continue
		sed "s|^|${f#"$cfs"/} |" "$f" 2>/dev/null || true
	done
}

# stop_guest [SIGNAL]: end this run's QEMU (found by its tcmv.run= argument) from the watcher
stop_guest() {
	pkill "-${1:-TERM}" -f "tcmv.run=$run_dir " 2>/dev/null
}

# boot_once: one L2 run; sets qemu_rc, elapsed and end (the exit marker, empty if none).
boot_once() {
	local nonce start watch
	nonce=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
	rm -f "$run_dir/result" "$run_dir/dmesg" "$run_dir/stats.early" "$run_dir/stats.late" \
		"$run_dir/not_ready"
	{
		printf 'export %s=%q\n' TCMV_NONCE "$nonce" TCMV_CWD /project KV "$KV" \
			TCMV_HOSTNAME l2 TCMV_LEVEL 2
		while IFS= read -r name; do
			printf 'export %s=%q\n' "$name" "${!name}"
		done < <(compgen -v | grep -E '^(FABRIC_MODULE$|E2E_)' || true)
	} >"$run_dir/env"
	echo "l2: booting with $("${qemu_bin[@]}" --version | head -n 1) (wwpn=${wwpn:-none} queues=$queues cpus=$cpus mem=${mem}M timeout=${timeout_s}s)" >&2
	start=$(date +%s)
	: >"$log"
	# A guest in an entry fault loop (below) never leaves it: stop it then.
	# Sixty and ten seconds before the timeout it records what tcm_vhost's
	# TPGs hold (their stats; the later ones are printed): a guest waiting
	# on the target shows requests that were never completed, a guest
	# stuck by itself does not (stalled_owing_nothing). Until the guest
	# prints --ready-marker, the timeout is --ready-within.
	(
		early=0 late=0 limit=$timeout_s ready=1
		[[ -n $ready_marker ]] && limit=$ready_within ready=0
		while sleep 5; do
			if (($(entry_faults) >= 20)); then
				stop_guest
				exit 0
			fi
			if ((!ready)) && grep -aqF -- "$ready_marker" "$log"; then
				ready=1 limit=$timeout_s early=0 late=0
			fi
			if ((!early && $(date +%s) - start >= limit - 60)); then
				early=1
				tpg_stats >"$run_dir/stats.early"
			fi
			if ((!late && $(date +%s) - start >= limit - 10)); then
				late=1
				tpg_stats >"$run_dir/stats.late"
				sed 's|^|# l2: L1 |' "$run_dir/stats.late" >&2
			fi
			if ((!ready && $(date +%s) - start >= limit)); then
				: >"$run_dir/not_ready"
				stop_guest KILL
				exit 0
			fi
		done
	) &
	watch=$!
	set +e
	# shellcheck disable=SC2016 # the $ are awk's
	timeout -k 5 "$timeout_s" "${qemu[@]}" </dev/null 2>&1 |
		"${awk[@]}" -v logf="$log" -v nonce="$nonce" '
			{ sub(/\r+$/, ""); print > logf; fflush(logf) }
			index($0, "TCMV-END-" nonce) { show = 0 }
			show && /^\[ *[0-9]+\.[0-9]+\]/ { printf "l2| " }
			show { print; fflush() }
			index($0, "TCMV-BEGIN-" nonce) { show = 1 }'
	qemu_rc=${PIPESTATUS[0]}
	kill "$watch" 2>/dev/null
	wait "$watch" 2>/dev/null
	set -e
	elapsed=$(($(date +%s) - start))
	# stage2 writes the result file before printing the console marker; either will do.
	end=$(cat "$run_dir/result" 2>/dev/null || grep -a "TCMV-END-$nonce " "$log" | tail -n1 || true)
}

fail() {
	local code=$1
	shift
	echo "l2: $* (after ${elapsed}s); L2 console: $log" >&2
	echo "----- last 40 lines of the L2 console -----" >&2
	tail -n 40 "$log" >&2 || true
	echo "-----" >&2
	exit "$code"
}

# QEMU exits 0 without a marker when the guest reset itself (-no-reboot): no panic, no
# oops on the console. Not after kill -9 (status 137) or a timeout (124).
silent_reset() {
	[[ -z $end ]] && ((qemu_rc == 0)) &&
		! grep -aqE 'Kernel panic|BUG:|Oops|WARNING:|general protection|rcu: INFO|blocked for more than' "$log"
}
# A guest kernel that takes page faults in its own exception entry, one inside the
# other (RIP in error_entry / exc_page_fault, a stack of them), until the timeout: its
# CPU state (GS base, stack) is gone. Seen in CI's runs under the emulated SVM with one
# vCPU and no other message, never reproduced here in 12 boots of either QEMU. A
# write of the module into guest memory could in principle do the same, so it is
# booted again only once, says so, and is counted in make check's summary.
entry_faults() {
	local n
	n=$(grep -acE 'RIP: 0010:(error_entry|exc_page_fault|asm_exc_page_fault)\+' "$log" 2>/dev/null) || true
	echo "${n:-0}"
}
entry_fault_loop() {
	[[ -z $end ]] && (($(entry_faults) >= 5))
}
# A guest that timed out while the target owed it nothing: every request its device
# took in the last minute's samples was answered (completed, aborted or refused), none
# came in during the last 50 s, and the control queue saw no new request in that minute
# (a Linux guest sends ABORT TASK for a command that has not completed after 30 s; a
# test's own earlier TMF, such as sg-reset's LUN reset, does not count). A guest waiting on
# the target does not look like that; one whose vCPUs stopped under the nested
# emulation does (a 2-vCPU L2 once in about ten boots: L1's CPU stuck in the vCPU
# thread, or L2 silent after fio). Booted again once, and counted by make check.
timed_out() {
	((qemu_rc == 124)) || [[ -e $run_dir/not_ready ]]
}
stalled_owing_nothing() {
	timed_out && [[ -z $end && -s $run_dir/stats.early && -s $run_dir/stats.late ]] ||
		return 1
	# shellcheck disable=SC2016 # the $ are awk's
	awk '
		function owed() {
			return v["requests"] - v["completed"] - v["aborted"] - v["queue_full"] - v["busy"] - v["rejected"]
		}
		{ split("", v); for (i = 3; i < NF; i += 2) v[$i] = $(i + 1) }
		FNR == NR { if ($2 == "io" || $2 == "ctl") early[$1, $2] = v["requests"]; next }
		$2 == "io" { n++; if (!(($1, $2) in early) || early[$1, $2] != v["requests"] || owed() != 0) bad = 1 }
		$2 == "ctl" && early[$1, $2] != v["requests"] { bad = 1 }
		END { exit !(n > 0 && !bad) }' "$run_dir/stats.early" "$run_dir/stats.late"
}

boot_once
for try in 1 2; do
	if stalled_owing_nothing; then
		echo "l2: RETRY: the guest stopped for its last 60 of ${elapsed}s while the target owed it nothing (nested-virtualization artifact, see l2.sh); booting it again ($try/2)" >&2
	elif [[ -z $end ]] && masked=$("$vmdir/irq-while-masked.sh" "$log"); then
		echo "l2: RETRY: the guest kernel took $masked after ${elapsed}s (nested-virtualization artifact, tests/vm/irq-while-masked.sh); booting it again ($try/2)" >&2
	elif silent_reset; then
		echo "l2: RETRY: the guest reset itself after ${elapsed}s without a kernel message (nested-virtualization artifact, see l2.sh); booting it again ($try/2)" >&2
	elif ((try == 1)) && entry_fault_loop; then
		echo "l2: RETRY: the guest kernel faulted in its own exception entry after ${elapsed}s, over and over (nested-virtualization artifact?, see l2.sh); booting it again once" >&2
	else
		break
	fi
	cp "$log" "$log.reset$try"
	if [[ -n ${L2_RETRY_HOOK:-} ]] && ! bash -c "$L2_RETRY_HOOK"; then
		echo "l2: L2_RETRY_HOOK failed: not booting the guest again" >&2
		break
	fi
	boot_once
done
if [[ -z $end ]]; then
	[[ -e $run_dir/not_ready ]] && fail 124 "no '$ready_marker' from the guest within ${ready_within}s"
	((qemu_rc == 124)) && fail 124 "timed out after ${timeout_s}s"
	fail 124 "L2 ended without an exit marker (qemu status $qemu_rc)"
fi
rc=$(sed -n 's/.*rc=\([0-9]*\).*/\1/p' <<<"$end")
complaints=$(sed -n 's/.*complaints=\([0-9]*\).*/\1/p' <<<"$end")
if ((complaints > 0)); then
	grep -a '^KERNEL-COMPLAINT: ' "$log" | sed 's/^/L2 /' >&2 || true
	((rc == 0)) && fail 125 "L2 kernel complained"
fi
((rc == 0)) || fail "$rc" "L2 command exited $rc"
echo "l2: command succeeded in ${elapsed}s" >&2
