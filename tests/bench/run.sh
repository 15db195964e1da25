#!/bin/bash
# make bench: tcm_vhost vs Debian's vhost_scsi, measured in one L1 VM (tests/vm/run), or
# in as few as this test bed allows (see "One VM normally runs every step" below).
#
#   tests/bench/run.sh            full run (3 rounds of libvsc, 2 of L2 and native; ~24 min idle)
#   QUICK=1 tests/bench/run.sh    short run (trimmed matrix; ~5 min on an idle machine)
#
# The VM runs tests/bench/in-vm.sh: rounds alternating the two modules on identical rd_mcp
# LUNs (libvsc load matrix, device memory, the seed's fio table in a nested L2 guest) plus
# the same fio table natively through tcm_loop. Any BENCH_* variable (see in-vm.sh) is
# forwarded into the VM to override a setting, e.g. BENCH_ROUNDS=5 or BENCH_L2=0.
# Results go to build/bench/<timestamp>[-quick]/: results.md, results.json, chart.png and
# raw/ (JSON lines, logs, the VM console). The markdown table is printed at the end.
# Numbers are reported, never judged: the exit status only says whether everything ran.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
quick=${QUICK:-0}
[[ $quick == 0 || -z $quick ]] && quick=0 || quick=1

stamp=$(date +%Y%m%d-%H%M%S)
rel=build/bench/$stamp$( ((quick)) && echo -quick || true)
out=$top/$rel
mkdir -p "$out/raw"

if ! command -v gnuplot >/dev/null; then
	echo "bench: installing gnuplot-nox for the chart" >&2
	apt-get install -y gnuplot-nox >/dev/null 2>&1 ||
		echo "bench: gnuplot-nox not installed; no chart.png" >&2
fi

echo "bench: building the module and the benchmark programs" >&2
make -C "$top" >"$out/raw/build.log" 2>&1 || { cat "$out/raw/build.log" >&2; exit 1; }
make -C "$here" >>"$out/raw/build.log" 2>&1 || { cat "$out/raw/build.log" >&2; exit 1; }

# Snapshot of the scripts and programs the VM runs (same layout under raw/snapshot): edits to the tree
# during the run cannot change the benchmark halfway.
snap=$out/raw/snapshot
mkdir -p "$snap/tests/bench" "$snap/tests/vm" "$snap/tests/e2e" "$snap/tests/bin"
cp "$here/in-vm.sh" "$here/bench-lib.sh" "$here/fio-set.sh" "$snap/tests/bench/"
cp "$top/tests/bin/vsc-load" "$top/tests/bin/vsc-mem" "$top/tests/bin/vsc-cfg" "$snap/tests/bin/"
cp "$top/tests/vm/guest-lib.sh" "$top/tests/vm/stage2.sh" "$snap/tests/vm/"
cp "$top/tests/e2e/l2.sh" "$snap/tests/e2e/"

envs=(-e "BENCH_QUICK=$quick")
while IFS= read -r name; do
	[[ $name == BENCH_QUICK ]] || envs+=(-e "$name=${!name}")
done < <(compgen -v | grep -E '^BENCH_' || true)
tmo=${BENCH_VM_TIMEOUT:-$( ((quick)) && echo 1200 || echo 4800)}

{
	echo "host: $(hostname), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
	echo "other QEMU processes at start: $(pgrep -c qemu-system || true)"
} >"$out/raw/host.txt"

# One VM normally runs every step. The nested guests of this test bed sometimes leave an L1
# CPU without timer interrupts and the VM stops making progress: in-vm.sh touches
# raw/heartbeat every 10 s, and a VM whose heartbeat is older than BENCH_STALL_S is stopped.
# Another VM then runs the steps not finished yet (in-vm.sh keeps the plan in raw/), up to
# BENCH_MAX_VMS VMs in all.
stall=${BENCH_STALL_S:-150}
max_vms=${BENCH_MAX_VMS:-3}
steps=$out/raw/steps.log

# watch_vm SID START: stop the VM of session SID when its heartbeat goes stale (boot: 120 s grace)
watch_vm() {
	local sid=$1 start=$2 seen age
	while kill -0 "$sid" 2>/dev/null; do
		sleep 5
		seen=0
		[[ -f $out/raw/heartbeat ]] && seen=$(stat -c %Y "$out/raw/heartbeat")
		((seen < start + 120)) && seen=$((start + 120))
		age=$(($(date +%s) - seen))
		if ((age > stall)); then
			echo "bench: no heartbeat from the VM for ${age}s: stopping it" >&2
			pkill -TERM -s "$sid" -f qemu-system-x86_64 || true
			sleep 10
			pkill -KILL -s "$sid" -f qemu-system-x86_64 || true
			return
		fi
	done
}

# Stopped from outside (Ctrl-C, kill): stop the VM that runs and start no other.  wait
# returns at once for a trapped signal, so no VM is started after this one.
sid=
stop_bench() {
	echo "bench: stopped; stopping the L1 VM" >&2
	[[ -n $sid ]] && pkill -TERM -s "$sid" 2>/dev/null
	exit 143
}
trap stop_bench TERM INT

start=$(date +%s)
vm=0
rc=0
while ((vm < max_vms)); do
	vm=$((vm + 1))
	rm -f "$out/raw/heartbeat"
	echo "bench: L1 VM $vm (timeout ${tmo}s); results in $rel" >&2
	vstart=$(date +%s)
	setsid "$top/tests/vm/run" -t "$tmo" -l "$out/raw/vm-$vm.log" "${envs[@]}" -- \
		"bash $rel/raw/snapshot/tests/bench/in-vm.sh $rel" &
	sid=$!
	watch_vm "$sid" "$vstart" &
	watcher=$!
	set +e
	wait "$sid"
	rc=$?
	set -e
	kill "$watcher" 2>/dev/null || true
	wait "$watcher" 2>/dev/null || true
	echo "VM $vm: wall time $(($(date +%s) - vstart))s, exit status $rc" >>"$out/raw/host.txt"
	# the VM reached the end of the plan: whatever failed in it is recorded
	grep -q "^end $vm " "$steps" 2>/dev/null && break
	if ((vm < max_vms)); then
		echo "bench: VM $vm stopped before the end (status $rc); VM $((vm + 1)) runs" \
			"the steps not finished" >&2
	fi
done
wall=$(($(date +%s) - start))
# Whole run: every step of the plan done and passed, and the last VM reached the end.
if [[ -s $out/raw/plan ]] && grep -q "^end $vm " "$steps" 2>/dev/null &&
	! grep -qE '^(done .* failed|lost )' "$steps"; then
	rc=0
else
	rc=1
fi
{
	echo "VM wall time: ${wall}s in $vm VM(s) (exit status $rc)"
	echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at end; other QEMU processes: $(($(pgrep -c qemu-system || true)))"
} >>"$out/raw/host.txt"

python3 "$here/report.py" "$out" >/dev/null
if command -v gnuplot >/dev/null && [[ -s $out/chart.dat ]]; then
	gnuplot "$out/chart.gp" 2>"$out/raw/gnuplot.err" ||
		echo "bench: gnuplot failed (see raw/gnuplot.err)" >&2
fi
cat "$out/results.md"
echo
echo "bench: exit status $rc, wall time ${wall}s in $vm VM(s); results in $rel/" \
	"(results.md, results.json, chart.png, raw/)"
exit "$rc"
