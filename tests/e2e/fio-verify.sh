#!/bin/bash
# E2E: verified fio in a nested guest through the vhost fabric.
#   tests/e2e/fio-verify.sh [tcm_vhost|vhost_scsi]     (inside L1, or on the host: re-runs in L1)
# rd_mcp LUNs (1 and 4) x num_queues (1 and 4); in L2, fio 4k randrw and 1M sequential rw
# with crc32c verification, E2E_SECONDS (default 10) per workload. Each combination must
# finish with fio status 0, no errors, and a clean L2 kernel log (l2.sh checks it).
# E2E_FIO_CASES picks other combinations, each LUNSxQUEUES (default "1x1 1x4 4x1 4x4").
# A guest with more than one queue gets E2E_L2_CPUS vCPUs (default 1, see tests/e2e/l2.sh;
# Linux's virtio_scsi drives min(queues, CPUs) request queues) and must show completions on
# that many of them.
set -euo pipefail
# shellcheck source=tests/e2e/common.sh
. "$(dirname "$0")/common.sh"
e2e_init fio-verify "$@"

e2e_load || { e2e_finish; exit 1; }
cases=${E2E_FIO_CASES:-1x1 1x4 4x1 4x4}
for luns in $(printf '%s\n' $cases | cut -dx -f1 | awk '!seen[$0]++'); do
	if ! e2e_target "$luns" 64; then
		report_fail "$SUITE/fio-luns$luns" "target setup failed"
		continue
	fi
	for q in $(printf '%s\n' $cases | awk -F x -v l="$luns" '$1 == l { print $2 }'); do
		name=$SUITE/fio-luns$luns-q$q
		cpus=1
		((q > 1)) && cpus=${E2E_L2_CPUS:-1}
		before=$(e2e_lun_cmds 0)
		if E2E_L2_MIN_QUEUES=$((cpus < q ? cpus : q)) \
			"$L2" --wwpn "$WWPN" --queues "$q" --cpus "$cpus" \
			--timeout "$(l2_timeout $((4 * E2E_SECONDS)))" -- \
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
