#!/bin/bash
# Runs INSIDE L2 for tests/e2e/demo.sh: show the disk as the guest sees it, write a random
# pattern of MB MiB to it, read it back, compare.
#   l2-demo.sh MB
set -euo pipefail
mb=$1
dev=/dev/sda
for ((i = 0; i < 50; i++)); do [[ -b $dev ]] && break; sleep 0.2; done
[[ -b $dev ]] || { echo "demo: the guest sees no $dev" >&2; exit 1; }

ms() { echo $(($(date +%s%N) / 1000000)); }
rate() { echo "$(($1 * 1000 / ($2 > 0 ? $2 : 1))) MiB/s"; }

echo "--- the guest's view of the disk"
lsblk -d -o NAME,SIZE,VENDOR,MODEL,TRAN,HCTL "$dev" 2>/dev/null || true
inq=$(sg_inq "$dev")
vendor=$(sed -n 's/^ *Vendor identification: *//p' <<<"$inq")
product=$(sed -n 's/^ *Product identification: *//p' <<<"$inq")
bytes=$(blockdev --getsize64 "$dev")
echo "SCSI INQUIRY: vendor '$vendor', product '$product'; capacity $((bytes >> 20)) MiB" \
	"($(blockdev --getss "$dev")-byte sectors); driver: $(basename "$(readlink -f "/sys/block/${dev#/dev/}/device/../../../driver" 2>/dev/null || echo virtio_scsi)")"
((bytes >= mb << 20)) || { echo "demo: disk smaller than $mb MiB" >&2; exit 1; }

echo "--- writing $mb MiB of random data, reading it back (O_DIRECT, 1 MiB blocks)"
head -c $((mb << 20)) /dev/urandom >/tmp/pattern
t0=$(ms)
dd if=/tmp/pattern of="$dev" bs=1M oflag=direct conv=fsync status=none
t1=$(ms)
dd if="$dev" of=/tmp/readback bs=1M count="$mb" iflag=direct status=none
t2=$(ms)
echo "write: $mb MiB in $((t1 - t0)) ms ($(rate "$mb" $((t1 - t0))))"
echo "read:  $mb MiB in $((t2 - t1)) ms ($(rate "$mb" $((t2 - t1))))"
if cmp -s /tmp/pattern /tmp/readback; then
	echo "compare: identical ($(sha256sum </tmp/pattern | cut -c1-16)...)"
else
	echo "compare: MISMATCH at $(cmp /tmp/pattern /tmp/readback | head -n1)"
	exit 1
fi
