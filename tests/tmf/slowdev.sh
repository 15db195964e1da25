#!/bin/bash
# Slow block devices for TMF tests, INSIDE L1: dm-delay over loop devices on tmpfs files,
# so that commands on an iblock backstore stay in flight for a known time.
# (Not brd: brd wants 512-byte aligned segments, and iblock hands it the guest's buffers
# as they are, e.g. 128-byte aligned ones from libvsc's guarded arena.)
#
#   tests/tmf/slowdev.sh setup [COUNT [DELAY_MS [SIZE_MB]]]   prints the device paths
#   tests/tmf/slowdev.sh teardown
#
# Devices: /dev/mapper/tmf_slowN (N = 0..COUNT-1) over a loop device on
# $TMF_SLOW_DIR/tmf_slowN.img (default /dev/shm); reads and writes are delayed by DELAY_MS
# (default 1000). Needs dm_delay, loop, losetup and dmsetup.
set -uo pipefail

prefix=tmf_slow
dir=${TMF_SLOW_DIR:-/dev/shm}

die() { echo "slowdev: $*" >&2; exit 1; }

setup() {
	local count=${1:-2} delay=${2:-1000} mb=${3:-64} i sectors img loopdev
	command -v dmsetup >/dev/null || die "dmsetup missing (apt-get install -y dmsetup on the host)"
	modprobe dm_delay || die "modprobe dm_delay failed"
	modprobe loop 2>/dev/null || true
	for ((i = 0; i < count; i++)); do
		img=$dir/$prefix$i.img
		truncate -s "${mb}M" "$img" || die "cannot create $img"
		loopdev=$(losetup --find --show --direct-io=off "$img") || die "losetup $img failed"
		sectors=$(blockdev --getsz "$loopdev") || die "blockdev $loopdev"
		# delay <dev> <offset> <read ms> [<write dev> <offset> <write ms>]
		dmsetup create "$prefix$i" --table \
			"0 $sectors delay $loopdev 0 $delay $loopdev 0 $delay" ||
			die "dmsetup create $prefix$i failed"
	done
	udevadm settle 2>/dev/null || true
	for ((i = 0; i < count; i++)); do
		# no udev rules in the test VM: make the node if needed
		if [[ ! -b /dev/mapper/$prefix$i ]]; then
			dmsetup mknodes "$prefix$i" >/dev/null 2>&1 || true
		fi
		[[ -b /dev/mapper/$prefix$i ]] || die "/dev/mapper/$prefix$i missing"
		echo "/dev/mapper/$prefix$i"
	done
}

teardown() {
	local rc=0 n l
	for n in $(dmsetup ls 2>/dev/null | awk -v p="$prefix" 'index($1, p) == 1 { print $1 }'); do
		dmsetup remove --retry "$n" || { echo "slowdev: cannot remove $n" >&2; rc=1; }
	done
	for n in "$dir/$prefix"*.img; do
		[[ -f $n ]] || continue
		for l in $(losetup -j "$n" -O NAME -n 2>/dev/null); do
			losetup -d "$l" || { echo "slowdev: cannot detach $l" >&2; rc=1; }
		done
		rm -f "$n"
	done
	return $rc
}

case ${1:-} in
setup) shift; setup "$@" ;;
teardown) teardown ;;
*) sed -n '7,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
