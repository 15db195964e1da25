#!/bin/bash
# Runs INSIDE L2: verified fio on the guest's SCSI disks (the vhost-scsi LUNs).
#   l2-fio.sh NLUNS SECONDS [WORKLOAD...]   workloads: randrw4k (default both) seq1m
# Waits for NLUNS disks, runs each workload on all of them at once (one fio job per disk)
# with crc32c verification, prints one line per workload, exits non-zero on any fio error,
# verify error or missing disk, or when fewer than E2E_L2_MIN_QUEUES (default 1) request
# queues saw an interrupt (a guest with several vCPUs must use several queues).
set -euo pipefail
n=$1 secs=$2
shift 2
if (($#)); then workloads=("$@"); else workloads=(randrw4k seq1m); fi

# Disks ordered by LUN (the last field of H:C:T:L).
list_disks() {
	local d
	for d in /sys/block/sd*; do
		[[ -e $d/device ]] || continue
		echo "$(basename "$(readlink -f "$d/device")" | awk -F: '{print $4}') $(basename "$d")"
	done | sort -n | awk '{print $2}'
}
for ((i = 0; i < 100; i++)); do
	mapfile -t disks < <(list_disks)
	((${#disks[@]} >= n)) && break
	sleep 0.2
done
if ((${#disks[@]} != n)); then
	echo "l2-fio: expected $n disks, found ${#disks[@]}: ${disks[*]:-none}" >&2
	exit 1
fi

rc=0
for wl in "${workloads[@]}"; do
	case $wl in
	randrw4k) opts=(--rw=randrw --rwmixread=75 --bs=4k --iodepth=32) ;;
	seq1m) opts=(--rw=rw --rwmixread=75 --bs=1M --iodepth=16) ;;
	*) echo "l2-fio: unknown workload $wl" >&2; exit 2 ;;
	esac
	jobs=()
	for d in "${disks[@]}"; do jobs+=(--name="$wl-$d" --filename="/dev/$d"); done
	out=/tmp/fio-$wl.json
	set +e
	fio --eta=never --ioengine=libaio --direct=1 --verify=crc32c --do_verify=1 --verify_fatal=1 \
		--time_based --runtime="$secs" "${opts[@]}" --output-format=json --output="$out" \
		"${jobs[@]}" 2>"/tmp/fio-$wl.err"
	frc=$?
	set -e
	errs=$(jq '[.jobs[].error] | add' "$out" 2>/dev/null || echo unknown)
	verr=$(grep -c 'verify' "/tmp/fio-$wl.err" || true)
	jq -r --arg wl "$wl" --arg n "$n" '
		([.jobs[].read.iops] | add) as $ri | ([.jobs[].write.iops] | add) as $wi |
		([.jobs[].read.bw_bytes] | add) as $rb | ([.jobs[].write.bw_bytes] | add) as $wb |
		"fio \($wl) luns=\($n): read \($ri | floor) IOPS \($rb / 1048576 | floor) MiB/s, write \($wi | floor) IOPS \($wb / 1048576 | floor) MiB/s"' \
		"$out" 2>/dev/null || true
	echo "fio $wl: exit=$frc errors=$errs verify-messages=$verr"
	if ((frc != 0)) || [[ $errs != 0 ]] || ((verr != 0)); then
		head -n 20 "/tmp/fio-$wl.err" >&2
		rc=1
	fi
done
# /proc/interrupts: one line per request queue's vector, a column per CPU, the name last:
# "virtioN-request" for virtio-scsi (9p's queue is "virtioN-requests").
used=$(awk '$NF ~ /^virtio[0-9]+-request$/ { n = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i; if (n) q++ }
	END { print q + 0 }' /proc/interrupts)
echo "request queues with completions: $used ($(nproc) vCPUs)"
if ((used < ${E2E_L2_MIN_QUEUES:-1})); then
	echo "l2-fio: only $used request queue(s) interrupted, want ${E2E_L2_MIN_QUEUES}" >&2
	rc=1
fi
exit $rc
