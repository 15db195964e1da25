#!/bin/bash
# The product demo: a nested guest does verified I/O through the vhost fabric module.
#   tests/e2e/demo.sh [tcm_vhost|vhost_scsi]     (inside L1, or on the host: re-runs in L1)
# Loads the module (default tcm_vhost), creates a RAM-disk LUN, boots a guest with QEMU
# -device vhost-scsi-pci, writes DEMO_MB (default 64) MiB of random data through it, reads
# it back and compares. Ends with "DEMO: data verified (N MiB)"; non-zero exit otherwise.
set -euo pipefail
# shellcheck source=tests/e2e/common.sh
. "$(dirname "$0")/common.sh"
e2e_init demo "$@"
mb=${DEMO_MB:-64}

demo_fail() {
	report_fail "$SUITE/demo" "$1"
	echo "DEMO: FAILED: $1"
	e2e_finish || true
	exit 1
}

echo "--- loading $MODULE into $(uname -r)"
e2e_load || demo_fail "cannot load $MODULE"
echo "module: $MODULE $(modinfo -F version "$MODULE" 2>/dev/null || true) ($(modinfo -n "$MODULE"))"
echo "--- target: $WWPN tpgt $TPGT, LUN 0 = rd_mcp RAM disk of $((2 * mb)) MiB"
vhost_tpg_create "$WWPN" "$TPGT" >/dev/null || demo_fail "cannot create the TPG"
bs=$(rd_create demo $((2 * mb))) || demo_fail "cannot create the RAM disk"
vhost_lun_link "$WWPN" "$TPGT" 0 "$bs" || demo_fail "cannot link the LUN"
vhost_nexus "$WWPN" "$TPGT" || demo_fail "cannot create the nexus"
stats=$VHOST_CFS/$WWPN/tpgt_$TPGT/lun/lun_0/statistics/scsi_tgt_port

echo "--- booting a guest: qemu -accel kvm -device vhost-scsi-pci,wwpn=$WWPN,num_queues=1"
t0=$SECONDS
"$L2" --wwpn "$WWPN" --queues 1 --timeout "$(l2_timeout 0)" -- tests/e2e/l2-demo.sh "$mb" ||
	demo_fail "the guest could not verify its data (see above)"
echo "--- the target's side: $(cat "$stats/in_cmds") SCSI commands, $(cat "$stats/write_mbytes") MB" \
	"written, $(cat "$stats/read_mbytes") MB read on LUN 0 (guest boot and run: $((SECONDS - t0)) s)"
fabric_unload || demo_fail "unloading $MODULE failed"
target_teardown_all
echo "--- $MODULE unloaded cleanly"
report_pass "$SUITE/demo"
e2e_dmesg_check
report_status >/dev/null || demo_fail "kernel complained"
echo "DEMO: data verified ($mb MiB)"
