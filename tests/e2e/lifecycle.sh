#!/bin/bash
# E2E: target lifecycle around a nested guest.
#   tests/e2e/lifecycle.sh [tcm_vhost|vhost_scsi]     (inside L1, or on the host: re-runs in L1)
# 1. a guest writes a pattern, shuts down; a second guest on the same target (QEMU does
#    CLEAR_ENDPOINT then SET_ENDPOINT again) reads it back;
# 2. that second guest then runs fio past the pattern, and its QEMU is killed with SIGKILL
#    under that load; the device is released; a new guest does verified I/O;
# 3. LUN unlink, nexus drop, tpgt/wwn removal and rmmod succeed;
# 4. a second load / serve / unload cycle works.
set -euo pipefail
# shellcheck source=tests/e2e/common.sh
. "$(dirname "$0")/common.sh"
e2e_init lifecycle "$@"

pattern=/var/tmp/e2e-pattern # /var/tmp: L2 sees L1's root, but its own /tmp
head -c $((8 << 20)) /dev/urandom >"$pattern"
write_cmd="dd if=$pattern of=/dev/sda bs=1M oflag=direct status=none"
check_cmd="dd if=/dev/sda bs=1M count=8 iflag=direct status=none | cmp - $pattern"
refcnt() { cat "/sys/module/$MODULE/refcnt"; }

e2e_load || { e2e_finish; exit 1; }
e2e_target 1 64 || { report_fail "$SUITE/lifecycle-setup" "target setup failed"; e2e_finish; exit 1; }
idle_ref=$(refcnt)

# 1. shutdown and start again on the same target
report_check "$SUITE/lifecycle-boot1-write" "guest could not write and verify the pattern" \
	"$L2" --wwpn "$WWPN" --timeout "$(l2_timeout 0)" -- "$write_cmd && $check_cmd"

# 2. the second guest reads the pattern back (one boot fewer than a guest of its own),
# then loads the disk past it and is killed with kill -9. It must start fio within the
# usual L2 timeout; l2.sh boots it again if the emulation stopped it before that (CI once
# lost this guest for 236 s before it read anything, and killing it here forwent l2.sh's
# retries).
pidf=/var/tmp/l2-qemu.pid bglog=/var/tmp/l2-bg.log
rm -f "$pidf"
base=$(e2e_lun_cmds 0)
"$L2" --wwpn "$WWPN" --queues 1 --pidfile "$pidf" --timeout "$(l2_timeout 600)" \
	--ready-within "$(l2_timeout)" --ready-marker e2e-fio-starts -- \
	"if $check_cmd; then echo e2e-pattern-read-back; fi
	echo e2e-fio-starts
	fio --name=load --filename=/dev/sda --offset=8M --ioengine=libaio --direct=1 --rw=randrw \
	--bs=4k --iodepth=32 --numjobs=2 --time_based --runtime=600 >/dev/null" >"$bglog" 2>&1 &
bg=$!
# Wait until fio is clearly running (the boot itself issues only a few dozen commands):
# l2.sh ends a guest that does not start fio in time, and boots it at most twice more.
deadline=$((SECONDS + 3 * $(l2_timeout) + 60))
while (($(e2e_lun_cmds 0) < base + 3000)) && ((SECONDS < deadline)) && kill -0 "$bg" 2>/dev/null; do
	sleep 1
done
loaded=$(($(e2e_lun_cmds 0) - base))
if grep -q '^e2e-pattern-read-back' "$bglog"; then
	report_pass "$SUITE/lifecycle-reboot-read"
else
	report_fail "$SUITE/lifecycle-reboot-read" "second guest did not read back the first guest's data"
fi
qpid=$(cat "$pidf" 2>/dev/null || true)
if [[ -n $qpid ]] && ((loaded >= 3000)) && kill -9 "$qpid"; then
	wait "$bg" || true
	# the device must be released: module refcount back to idle, vhost worker gone
	for ((i = 0; i < 60; i++)); do
		(($(refcnt) == idle_ref)) && ! pgrep -x "vhost-$qpid" >/dev/null && break
		sleep 0.5
	done
	if (($(refcnt) == idle_ref)) && ! pgrep -x "vhost-$qpid" >/dev/null; then
		report_pass "$SUITE/lifecycle-kill9"
	else
		report_fail "$SUITE/lifecycle-kill9" "device not released after kill -9 (refcnt $(refcnt), idle $idle_ref)"
	fi
else
	report_fail "$SUITE/lifecycle-kill9" "guest never got under load ($loaded commands)"
	[[ -n $qpid ]] && { kill -9 "$qpid" 2>/dev/null || true; }
	wait "$bg" || true
	tail -n 20 "$bglog"
fi
report_check "$SUITE/lifecycle-restart-after-kill" "verified I/O failed after kill -9" \
	"$L2" --wwpn "$WWPN" --queues 1 --timeout "$(l2_timeout $((2 * E2E_SECONDS)))" -- \
	tests/e2e/l2-fio.sh 1 "$E2E_SECONDS" randrw4k

# 3. teardown, step by step
tpg=$VHOST_CFS/$WWPN/tpgt_$TPGT
report_check "$SUITE/lifecycle-lun-unlink" "LUN unlink failed" \
	bash -c "rm -f $tpg/lun/lun_0/rd0 && rmdir $tpg/lun/lun_0"
report_check "$SUITE/lifecycle-nexus-drop" "nexus drop failed" vhost_nexus "$WWPN" "$TPGT" NULL
report_check "$SUITE/lifecycle-rmmod" "fabric_unload/rmmod failed" fabric_unload
target_teardown_all

# 4. second cycle
cycle2() {
	fabric_load "$MODULE" && e2e_target 1 64 &&
		"$L2" --wwpn "$WWPN" --timeout "$(l2_timeout 0)" -- "$write_cmd && $check_cmd" &&
		fabric_unload && target_teardown_all
}
report_check "$SUITE/lifecycle-cycle2" "second load/serve/unload cycle failed" cycle2
rm -f "$pattern" "$pidf" "$bglog"
e2e_finish
