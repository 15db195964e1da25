#!/bin/bash
# E2E: verified fio in a nested guest through the vhost fabric.
#   tests/e2e/fio-verify.sh [tcm_vhost|vhost_scsi]     (inside L1, or on the host: re-runs in L1)
# rd_mcp LUNs (1 and 4) x num_queues (1 and 4); in L2, fio 4k randrw and 1M sequential rw
# with crc32c verification, E2E_SECONDS (default 10) per workload. Each combination must
# finish with fio status 0, no errors, and a clean L2 kernel log (l2.sh checks it).
# E2E_FIO_LUNS and E2E_FIO_QUEUES pick other LUN counts and num_queues values.
set -euo pipefail
# shellcheck source=tests/e2e/common.sh
. "$(dirname "$0")/common.sh"
e2e_init fio-verify "$@"

e2e_load || { e2e_finish; exit 1; }
for luns in ${E2E_FIO_LUNS:-1 4}; do
	if ! e2e_target "$luns" 64; then
		report_fail "$SUITE/fio-luns$luns" "target setup failed"
		continue
	fi
	for q in ${E2E_FIO_QUEUES:-1 4}; do
		name=$SUITE/fio-luns$luns-q$q
		before=$(e2e_lun_cmds 0)
		if "$L2" --wwpn "$WWPN" --queues "$q" --timeout "$(l2_timeout $((4 * E2E_SECONDS)))" -- \
			tests/e2e/l2-fio.sh "$luns" "$E2E_SECONDS"; then
			# the I/O really went through this target (not some other disk)
			if (($(e2e_lun_cmds 0) > before)); then
				report_pass "$name"
			else
				report_fail "$name" "LUN 0 saw no commands"
			fi
		else
			report_fail "$name" "fio or L2 failed (status $?)"
		fi
	done
	target_teardown_all || report_fail "$SUITE/fio-luns$luns-teardown" "target teardown failed"
done
e2e_finish
