#!/bin/bash
# Sourced by the e2e tests (tests/e2e/*.sh): module selection, re-exec into L1 when started
# on the host, and the target layout the tests share.
# Usage in a test:  . "$(dirname "$0")/common.sh"; e2e_init NAME "$@"

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/vm/guest-lib.sh
. "$E2E_DIR/../vm/guest-lib.sh"

WWPN=${E2E_WWPN:-naa.5001405c0ffee001}
TPGT=1
E2E_SECONDS=${E2E_SECONDS:-10}
# shellcheck disable=SC2034 # used by the tests
L2=$E2E_DIR/l2.sh
# L2 timeout: boot (~20 s idle, several times that on a busy machine) + the workload
l2_timeout() { echo $((${E2E_L2_TIMEOUT:-240} + ${1:-0})); }

# e2e_init TEST [MODULE]: sets MODULE (arg, else $FABRIC_MODULE, else tcm_vhost) and
# SUITE (the result prefix e2e-$MODULE). Outside the VM (tests/vm/run sets TCMV_LEVEL=1)
# the test re-runs itself inside a fresh L1.
e2e_init() {
	E2E_TEST=$1
	MODULE=${2:-${FABRIC_MODULE:-tcm_vhost}}
	SUITE=e2e-$MODULE
	if [[ ${TCMV_LEVEL:-} != 1 ]]; then
		local self
		self=$(realpath --relative-to="$E2E_DIR/../.." "$0")
		exec "$E2E_DIR/../vm/run" -t "${E2E_VM_TIMEOUT:-1500}" -- "$self" "$MODULE"
	fi
	case $MODULE in
	tcm_vhost | vhost_scsi) ;;
	*) echo "$E2E_TEST: unknown module '$MODULE' (tcm_vhost|vhost_scsi)" >&2; exit 2 ;;
	esac
	echo "== $E2E_TEST with $MODULE (E2E_SECONDS=$E2E_SECONDS)"
	E2E_MARK=$(dmesg_mark)
}

# e2e_load: load the fabric (SKIP the whole test if tcm_vhost.ko is not built) and KVM.
e2e_load() {
	if [[ $MODULE == tcm_vhost && ! -f ${TCM_VHOST_KO:-$PROJECT/tcm_vhost.ko} ]]; then
		report_skip "$SUITE/$E2E_TEST" "tcm_vhost.ko not built"
		exit 0
	fi
	fabric_load "$MODULE" || { report_fail "$SUITE/$E2E_TEST-load" "fabric_load $MODULE failed"; return 1; }
	kvm_load || { report_fail "$SUITE/$E2E_TEST-kvm" "kvm_amd did not load"; return 1; }
	e2e_kvm_hold
}

# e2e_kvm_hold: keep one empty KVM VM open in L1 until it powers off.  Every VM that KVM
# creates or destroys flips a static key the scheduler tests on each context switch
# (preempt notifiers), which rewrites __schedule() while the other CPU runs it; under TCG
# that CPU was seen executing the rewrite's temporary int3 ("Oops: int3" in __schedule,
# L1 panics). With a VM held, nested guests coming and going no longer flip the key, and
# the one flip happens here with CPU 1 offline.
e2e_kvm_hold() {
	local pidf=/run/tcmv-kvm-hold.pid cpu1=/sys/devices/system/cpu/cpu1/online off=
	[[ -s $pidf ]] && kill -0 "$(cat "$pidf")" 2>/dev/null && return 0
	if [[ -w $cpu1 && $(cat "$cpu1") == 1 ]] && echo 0 >"$cpu1" 2>/dev/null; then
		off=1
	fi
	qemu-system-x86_64 -accel kvm -M none -m 16 -display none -nodefaults -S \
		-daemonize -pidfile "$pidf" >/dev/null 2>&1 ||
		echo "e2e: could not start the KVM holder VM (nested guests flip the key themselves)" >&2
	[[ -n $off ]] && echo 1 >"$cpu1"
	return 0
}

# e2e_target NLUNS [SIZE_MB]: rd_mcp LUNs 0..NLUNS-1 on $WWPN/tpgt_$TPGT, with a nexus.
e2e_target() {
	local n=$1 mb=${2:-64} i bs
	vhost_tpg_create "$WWPN" "$TPGT" >/dev/null || return 1
	for ((i = 0; i < n; i++)); do
		bs=$(rd_create "rd$i" "$mb") || return 1
		vhost_lun_link "$WWPN" "$TPGT" "$i" "$bs" || return 1
	done
	vhost_nexus "$WWPN" "$TPGT"
}

# e2e_lun_cmds LUN: SCSI commands the target has received on that LUN so far.
e2e_lun_cmds() {
	cat "$VHOST_CFS/$WWPN/tpgt_$TPGT/lun/lun_$1/statistics/scsi_tgt_port/in_cmds" 2>/dev/null || echo 0
}

# e2e_dmesg_check: one result for L1's kernel log since e2e_init.
e2e_dmesg_check() {
	local c
	c=$(dmesg_complaints "$E2E_MARK")
	if [[ -z $c ]]; then
		report_pass "$SUITE/$E2E_TEST-l1-dmesg"
	else
		echo "$c"
		report_fail "$SUITE/$E2E_TEST-l1-dmesg" "kernel complained in L1"
	fi
}

# e2e_finish: unload what is left, check dmesg, print the summary; exit status 1 on any FAIL.
e2e_finish() {
	target_teardown_all >/dev/null 2>&1
	[[ -n $(fabric_loaded) ]] && fabric_unload
	e2e_dmesg_check
	report_status
}
