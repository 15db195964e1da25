#!/bin/bash
# E2E: online resize, as a nested guest sees it.
#   tests/e2e/resize.sh [tcm_vhost|vhost_scsi]     (inside L1, or on the host: re-runs in L1)
# A fileio backstore on a loop device (target_core reads a block device's size at each READ
# CAPACITY; a regular file's is fixed when the backstore is made) of 64 MiB, LUN 0 of a TPG.
# The guest (tests/e2e/l2-resize.sh) checks the size, prints its marker; L1 then grows the
# file to 128 MiB, `losetup -c`, and writes the LUN to the TPG's capacity_changed (tcm_vhost
# only: it sends the PARAM_CHANGE event to a guest that negotiated VIRTIO_SCSI_F_CHANGE).
# The guest must see the new size, from the event or its own rescan.
set -euo pipefail
# shellcheck source=tests/e2e/common.sh
. "$(dirname "$0")/common.sh"
e2e_init resize "$@"

MB_BEFORE=64 MB_AFTER=128
img=/tmp/e2e-resize.img
console=/tmp/e2e-resize-l2.log
grown=/tmp/e2e-resize.grown
marker='/var/tmp/l2.*/resize-before'	# l2.sh's run directory, the guest's share
loop='' grower=''
cleanup() {
	if [[ -n $grower ]]; then kill "$grower" 2>/dev/null || true; fi
	target_teardown_all >/dev/null 2>&1 || true
	[[ -n $loop ]] && losetup -d "$loop" 2>/dev/null
	rm -f "$img" "$grown"
}
trap cleanup EXIT

e2e_load
make_target() {
	local so=$TARGET_CFS/core/fileio_0/grow
	modprobe loop 2>/dev/null
	truncate -s "${MB_BEFORE}M" "$img" && loop=$(losetup -f --show "$img") &&
		mkdir -p "$so" && echo "fd_dev_name=$loop" >"$so/control" && echo 1 >"$so/enable" &&
		vhost_tpg_create "$WWPN" "$TPGT" >/dev/null &&
		vhost_lun_link "$WWPN" "$TPGT" 0 "$so" && vhost_nexus "$WWPN" "$TPGT"
}
report_check "$SUITE/resize-setup" "fileio on $loop, LUN 0 and nexus" make_target

# Grow the backstore each time a guest has checked the old size: its marker in the
# directory l2.sh shares with it, or on its console (a nested guest's console can lag
# by minutes, its share does not). A guest that l2.sh boots again after a
# nested-emulation reset must find the old size: L2_RETRY_HOOK empties the console
# (l2.sh kept a copy), removes the marker, shrinks the file back and removes $grown,
# so that this grows it again.
grow() {
	local seen
	while :; do
		seen=''
		if [[ ! -e $grown ]]; then
			if compgen -G "$marker" >/dev/null; then
				seen="the guest's marker in its share"
			elif grep -aq RESIZE-BEFORE "$console" 2>/dev/null; then
				seen="the guest's console"
			fi
		fi
		if [[ -n $seen ]]; then
			truncate -s "${MB_AFTER}M" "$img"
			losetup -c "$loop"
			: >"$grown"
			echo "L1: $loop grown to $(blockdev --getsize64 "$loop") bytes (seen: $seen)"
			if [[ $MODULE == tcm_vhost ]]; then
				echo 0 >"$VHOST_CFS/$WWPN/tpgt_$TPGT/capacity_changed"
			fi
		fi
		sleep 0.5
	done
}
# shellcheck disable=SC2086 # $marker is a pattern
rm -f "$grown" $marker
: >"$console"
grow &
grower=$!
report_check "$SUITE/resize-guest-sees-new-size" "the guest did not see the new size" \
	env L2_RETRY_HOOK=": >$console && rm -f $marker && truncate -s ${MB_BEFORE}M $img && losetup -c $loop && rm -f $grown && echo 'L1: $loop back to ${MB_BEFORE} MiB for the next boot'" \
	"$L2" --wwpn "$WWPN" --queues 1 --log "$console" --timeout "$(l2_timeout 90)" -- \
	tests/e2e/l2-resize.sh $((MB_BEFORE << 20)) $((MB_AFTER << 20))
kill "$grower" 2>/dev/null || true
wait "$grower" 2>/dev/null || true
grower=''
target_teardown_all >/dev/null 2>&1 || true
e2e_finish
