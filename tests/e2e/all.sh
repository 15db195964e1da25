#!/bin/bash
# All end-to-end tests for one module, in sequence, in one L1 VM.
#   tests/e2e/all.sh [tcm_vhost|vhost_scsi]     (inside L1, or on the host: re-runs in L1)
# E2E_TESTS picks a subset (default "fio-verify lifecycle targetcli resize sg-reset demo libvirt"); E2E_SECONDS
# sets the fio time per workload. Exit status 1 if any test failed.
set -euo pipefail
# shellcheck source=tests/e2e/common.sh
. "$(dirname "$0")/common.sh"
e2e_init all "$@"

rc=0
for t in ${E2E_TESTS:-fio-verify lifecycle targetcli resize sg-reset demo libvirt}; do
	start=$SECONDS
	# each test cleans up after itself; make sure the next one starts from nothing
	target_teardown_all >/dev/null 2>&1 || true
	[[ -z $(fabric_loaded) ]] || fabric_unload >/dev/null 2>&1 || true
	if ! "$E2E_DIR/$t.sh" "$MODULE"; then
		rc=1
	fi
	echo "== $t: $((SECONDS - start)) s"
done
exit $rc
