#!/bin/bash
# Runs INSIDE L2: the guest's view of an online resize (tests/e2e/resize.sh).
#   l2-resize.sh BYTES_BEFORE BYTES_AFTER
# Waits for the LIO disk, checks its size is BYTES_BEFORE, prints the marker RESIZE-BEFORE
# (L1 grows the backstore when it sees it on the console), then waits up to 60 s for the
# size to become BYTES_AFTER: first from the PARAM_CHANGE event alone (a guest whose VMM
# offers VIRTIO_SCSI_F_CHANGE rescans on it), after 10 s with the guest's own rescan every
# 2 s (QEMU's vhost-scsi-pci offers no F_CHANGE).  Prints "resize: ..." and exits non-zero
# if the size is wrong before or never right after.
set -euo pipefail
before=$1 after=$2

disk=''
for _ in $(seq 1 100); do
	for d in /sys/block/sd*; do
		[[ -e $d/device/vendor ]] && grep -q LIO "$d/device/vendor" && disk=$d && break 2
	done
	sleep 0.2
done
[[ -n $disk ]] || { echo "resize: no LIO disk in the guest" >&2; exit 1; }
bytes() { echo $(($(cat "$disk/size") * 512)); }
# target_core reports the backstore's size less one block (its READ CAPACITY arithmetic)
near() { (($1 <= $2 && $2 - $1 <= 4096)); }
size=$(bytes)
if ! near "$size" "$before"; then
	echo "resize: $(basename "$disk") has $size bytes before the resize, want about $before" >&2
	exit 1
fi
echo "RESIZE-BEFORE $size"
# The same marker in the directory L1 shares with this guest (tests/e2e/l2.sh): a nested
# guest's serial output can lag behind by minutes, and L1 waits for the marker to grow
# the disk.
rw=$(sed -n 's/.* tcmv\.rw=\([^ ]*\).*/\1/p' /proc/cmdline)
[[ -n $rw && -d $rw ]] && echo "$size" >"$rw/resize-before"

how=event
for ((t = 0; t < 300; t++)); do
	size=$(bytes)
	near "$size" "$after" && break
	if ((t >= 50 && t % 10 == 0)); then
		how=rescan
		echo 1 >"$disk/device/rescan"
	fi
	sleep 0.2
done
echo "resize: $(basename "$disk") before ${before} bytes, after $size bytes (want about $after), seen by $how"
near "$size" "$after"
