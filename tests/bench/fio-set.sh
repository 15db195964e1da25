#!/bin/bash
# The seed's fio table on the SCSI disks of one driver, run in L2 (virtio_scsi, the guest
# side of vhost-scsi) or in L1 (tcm_loop, "native"). Prints one line per point:
#   BENCH-FIO {"luns":N,"bs":"4k","read_pct":P,"iops":...,"mbps":...,...}
#
#   fio-set.sh DRIVER DURATION_S "LUN_COUNTS" "MIXES" "SIZES" [NUMJOBS]
#   e.g. fio-set.sh virtio_scsi 3 "1 16 32" "25 75" "4k 1m" 2
# DRIVER is (a prefix of) the SCSI host's proc_name; disks are taken in LUN order. MIXES are read
# percentages. 4k: randrw, iodepth 32; 1m: sequential rw, iodepth 16; libaio, direct.
# FIO_SET_QD overrides the iodepth of every point (probe.sh's QD1 latency points);
# FIO_SET_ENGINE the engine and its options (default libaio; probe.sh's polled guest:
# "io_uring --hipri", the completions reaped by polling the disk's poll queue).
set -uo pipefail
drv=$1 dur=$2 counts=$3 mixes=$4 sizes=$5 jobs=${6:-2}

# Few processes: under nested emulation every fork+exec costs a lot, so builtins only here.
sys=${FIO_SET_SYSFS:-/sys}
max=0
for n in $counts; do ((n > max)) && max=$n; done
for ((try = 0; try < 50; try++)); do
	bylun=()
	for a in "$sys"/class/scsi_disk/*:*:*:*; do
		[[ -e $a ]] || continue
		addr=${a##*/} pn=
		read -r pn <"$sys/class/scsi_host/host${addr%%:*}/proc_name" 2>/dev/null
		[[ $pn == "$drv"* ]] || continue
		for b in "$a"/device/block/*; do
			[[ -e $b ]] && bylun[${addr##*:}]=/dev/${b##*/}
		done
	done
	disks=("${bylun[@]}")	# in LUN order (indexed array)
	((${#disks[@]} >= max)) && break
	read -rt 0.2 <> <(:) || true
done
echo "fio-set: ${#disks[@]} $drv disks: ${disks[*]:0:4}..." >&2
if ((${#disks[@]} < max)); then
	echo "fio-set: only ${#disks[@]} disks, wanted $max" >&2
	exit 1
fi

# A device that never completes I/O would hang fio in D state: probe the first disk.
# (an I/O stuck in the device cannot be killed either: poll instead of waiting)
dd if="${disks[0]}" of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null &
pid=$!
for ((try = 0; try < 100; try++)); do
	kill -0 "$pid" 2>/dev/null || break
	read -rt 0.2 <> <(:) || true
done
if kill -0 "$pid" 2>/dev/null || ! wait "$pid"; then
	echo "fio-set: ${disks[0]} does not answer a 4k direct read within 20 s; giving up" >&2
	exit 1
fi

rc=0
for n in $counts; do
	files=$(IFS=:; echo "${disks[*]:0:n}")
	for bs in $sizes; do
		for mix in $mixes; do
			if [[ $bs == 4k ]]; then rw=randrw qd=32; else rw=rw qd=16; fi
			qd=${FIO_SET_QD:-$qd}
			# shellcheck disable=SC2086 # FIO_SET_ENGINE is an engine and its options
			line=$(fio --name=bench --ioengine=${FIO_SET_ENGINE:-libaio} --direct=1 --rw=$rw --rwmixread="$mix" \
				--bs="$bs" --iodepth=$qd --numjobs="$jobs" --group_reporting \
				--time_based --runtime="$dur" --ramp_time=1 --filename="$files" \
				--output-format=terse 2>/tmp/fio-set.err | awk -F';' -v n="$n" -v bs="$bs" \
				-v mix="$mix" -v jobs="$jobs" -v qd="$qd" '
				$1 == 3 {
					for (i = 18; i <= 37; i++) {
						split($i, a, "=")
						if (a[1] == "50.000000%") p50 = a[2]
						if (a[1] == "99.000000%") p99 = a[2]
					}
					printf "{\"luns\":%d,\"bs\":\"%s\",\"read_pct\":%d,\"jobs\":%d,\"iodepth\":%d,", n, bs, mix, jobs, qd
					printf "\"iops\":%.1f,\"mbps\":%.2f,\"read_p50_us\":%s,\"read_p99_us\":%s,\"errors\":%d}\n", $8 + $49, ($7 + $48) * 1024 / 1e6, p50 + 0, p99 + 0, $5
					ok = 1
				}
				END { exit !ok }')
			if [[ -z $line || $line == *'"iops":0.0,'* ]]; then
				echo "fio-set: no I/O for $n LUNs $bs $mix: $(head -c 600 /tmp/fio-set.err)" >&2
				rc=1
				continue
			fi
			echo "BENCH-FIO $line"
		done
	done
done
exit $rc
