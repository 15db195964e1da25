#!/bin/bash
# E2E: the nested guest started by libvirt, the way the README configures it.
#   tests/e2e/libvirt.sh [tcm_vhost|vhost_scsi]     (inside L1, or on the host: re-runs in L1)
# libvirtd (this system's, with its QEMU driver) runs in L1; l2.sh gives it a transient
# domain whose disk is <hostdev mode='subsystem' type='scsi_host'><source protocol='vhost'
# wwpn='...'/>: libvirt opens /dev/vhost-scsi in libvirtd and passes the descriptor to
# QEMU (vhostfd=), which then owns the device.  The guest runs verified fio; afterwards
# no domain may be left and the fabric must unload.
set -euo pipefail
# shellcheck source=tests/e2e/common.sh
. "$(dirname "$0")/common.sh"
e2e_init libvirt "$@"

if ! command -v libvirtd >/dev/null || ! command -v virsh >/dev/null; then
	report_skip "$SUITE/libvirt" "libvirt is not installed (scripts/deps.sh)"
	exit 0
fi
e2e_load || { e2e_finish; exit 1; }

# libvirtd as the test bed allows: QEMU as root without a security driver
# (it reads the kernel and the 9p shares of this system), its output to
# files (no virtlogd), no cgroups or /dev namespace of its own.  Debian's
# libvirt resolves its built-in QEMU user and group (libvirt-qemu) before it
# reads qemu.conf: they must exist, as libvirt-daemon-system would make them.
libvirtd_start() {
	mkdir -p /etc/libvirt /run/libvirt /var/lib/libvirt/qemu /var/log/libvirt/qemu /var/cache/libvirt
	getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
	getent passwd libvirt-qemu >/dev/null ||
		useradd --system --no-create-home -g libvirt-qemu libvirt-qemu
	cat >/etc/libvirt/qemu.conf <<-CONF
		user = "root"
		group = "root"
		dynamic_ownership = 0
		remember_owner = 0
		security_driver = "none"
		stdio_handler = "file"
		cgroup_controllers = [ ]
		namespaces = [ ]
	CONF
	LIBVIRT_LOG_OUTPUTS="3:file:/var/log/libvirt/libvirtd.log" libvirtd -d || return 1
	# it probes QEMU's capabilities first: ~20 s in L1
	for _ in $(seq 120); do
		virsh -q uri >/dev/null 2>&1 && return 0
		sleep 1
	done
	grep -a ' error : ' /var/log/libvirt/libvirtd.log | tail -n 5
	return 1
}
export LIBVIRT_DEFAULT_URI=qemu:///system
if ! libvirtd_start; then
	report_fail "$SUITE/libvirt-daemon" "libvirtd did not start"
	e2e_finish
	exit 1
fi
report_pass "$SUITE/libvirt-daemon"

if ! e2e_target 1 64; then
	report_fail "$SUITE/libvirt-target" "target setup failed"
else
	before=$(e2e_lun_cmds 0)
	if L2_LIBVIRT=1 "$L2" --wwpn "$WWPN" --timeout "$(l2_timeout $((2 * E2E_SECONDS)))" -- \
		tests/e2e/l2-fio.sh 1 "$E2E_SECONDS"; then
		if (($(e2e_lun_cmds 0) > before)); then
			report_pass "$SUITE/libvirt-guest-io"
			# libvirt opened the device and passed it on: vhostfd=N
			grep -aoh 'vhost-scsi-pci[^ ]*' /var/log/libvirt/qemu/*.log 2>/dev/null | tail -n 1 || true
		else
			report_fail "$SUITE/libvirt-guest-io" "LUN 0 saw no commands"
		fi
	else
		report_fail "$SUITE/libvirt-guest-io" "the libvirt-started guest failed (status $?)"
		tail -n 20 /var/log/libvirt/qemu/*.log 2>/dev/null || true
	fi
fi
report_check "$SUITE/libvirt-no-domain-left" "a domain is still defined or running" \
	test -z "$(virsh -q list --all --name 2>/dev/null)"
pkill -x libvirtd || true
e2e_finish
