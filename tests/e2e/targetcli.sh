#!/bin/bash
# E2E: the target built with targetcli-fb (rtslib), then served to a nested guest.
#   tests/e2e/targetcli.sh [tcm_vhost|vhost_scsi]     (inside L1, or on the host: re-runs in L1)
# targetcli itself loads the fabric (rtslib runs `modprobe tcm_vhost`), creates two ramdisk
# backstores, the vhost WWN (rtslib adds tpg1 and a random nexus), a LUN for each, and an ACL
# that maps the second alone, as the guest's LUN 0.  After saveconfig, clearconfig and
# restoreconfig (which gives the TPG a new random nexus) a guest must see that one disk and
# do verified I/O on it; `targetcli clearconfig confirm=True` must leave nothing behind.
set -euo pipefail
# shellcheck source=tests/e2e/common.sh
. "$(dirname "$0")/common.sh"
e2e_init targetcli "$@"

if [[ $MODULE == tcm_vhost && ! -f ${TCM_VHOST_KO:-$PROJECT/tcm_vhost.ko} ]]; then
	report_skip "$SUITE/targetcli" "tcm_vhost.ko not built"
	exit 0
fi
# E2E_ROOT=trixie: Debian 13's targetcli-fb and rtslib (tests/vm/trixie.sh).
tc() {
	echo "+ targetcli $*"
	if [[ ${E2E_ROOT:-} == trixie ]]; then
		"$E2E_DIR/../vm/trixie.sh" run env TARGETCLI_HOME="$TARGETCLI_HOME" targetcli "$@"
	else
		targetcli "$@"
	fi
}
_glib_configfs
fabric_install "$MODULE"
kvm_load
# targetcli asks the system D-Bus about tcmu user backstores and dies without one
if [[ ! -S /run/dbus/system_bus_socket ]]; then
	mkdir -p /run/dbus
	dbus-daemon --system --fork
fi
export TARGETCLI_HOME=/var/tmp/targetcli-home # its prefs; keep /root clean
tc set global auto_save_on_exit=false color_mode=false >/dev/null

# The ACL names an initiator of its own: the nexus rtslib made takes it (a
# vhost TPG has one initiator), and so does the random one restoreconfig makes.
ACL_WWN=naa.5001405acc000001
setup() {
	tc /backstores/ramdisk create name=rd0 size=64M &&
		tc /backstores/ramdisk create name=rd1 size=32M &&
		tc /vhost create "$WWPN" &&
		tc "/vhost/$WWPN/tpg1/luns" create /backstores/ramdisk/rd0 &&
		tc "/vhost/$WWPN/tpg1/luns" create /backstores/ramdisk/rd1 &&
		tc "/vhost/$WWPN/tpg1/acls" create "$ACL_WWN" add_mapped_luns=false &&
		tc "/vhost/$WWPN/tpg1/acls/$ACL_WWN" create mapped_lun=0 tpg_lun_or_backstore=lun1
}
report_check "$SUITE/targetcli-setup" "targetcli could not build the target" setup
tc ls / || true
report_check "$SUITE/targetcli-loaded-$MODULE" "rtslib's modprobe tcm_vhost did not load $MODULE" \
	test "$(fabric_loaded)" = "$MODULE"
nexus=$(cat "$VHOST_CFS/$WWPN/tpgt_1/nexus" 2>/dev/null || true)
report_check "$SUITE/targetcli-nexus" "rtslib made no nexus" test -n "$nexus"
echo "nexus: $nexus"

# What targetcli's service does at boot: the saved configuration restored
# over a cleared one.  rtslib saves no nexus, so the restored TPG gets a new
# one; the guest below runs on the restored target.
saved=$TARGETCLI_HOME/saveconfig.json
restore_ok() {
	tc saveconfig "$saved" && tc clearconfig confirm=True &&
		[[ ! -e $VHOST_CFS/$WWPN ]] && tc restoreconfig "$saved" &&
		[[ -n $(cat "$VHOST_CFS/$WWPN/tpgt_1/nexus" 2>/dev/null) ]] &&
		[[ -e $VHOST_CFS/$WWPN/tpgt_1/lun/lun_1 ]] &&
		[[ -e $VHOST_CFS/$WWPN/tpgt_1/acls/$ACL_WWN/lun_0 ]]
}
report_check "$SUITE/targetcli-restoreconfig" \
	"saveconfig, clearconfig and restoreconfig did not rebuild the target" restore_ok
nexus=$(cat "$VHOST_CFS/$WWPN/tpgt_1/nexus" 2>/dev/null || true)
echo "nexus after restoreconfig: $nexus"

# Debian's vhost_scsi keeps the random nexus, which no ACL names: its guest
# sees both TPG LUNs (demo mode).
disks=1
if [[ $MODULE == vhost_scsi ]]; then
	disks=2
else
	report_check "$SUITE/targetcli-acl-nexus" "the restored nexus is $nexus, not the ACL's $ACL_WWN" \
		test "$nexus" = "$ACL_WWN"
fi
report_check "$SUITE/targetcli-guest-io" \
	"the guest did not see $disks disk(s), or verified I/O on the targetcli-built LUN failed" \
	"$L2" --wwpn "$WWPN" --queues 1 --timeout "$(l2_timeout $((2 * E2E_SECONDS)))" -- \
	tests/e2e/l2-fio.sh "$disks" "$E2E_SECONDS" randrw4k

clear_ok() {
	tc clearconfig confirm=True &&
		[[ -z $(find "$VHOST_CFS" -mindepth 1 -maxdepth 1 -name '*.*' 2>/dev/null) ]] &&
		[[ -z $(find "$TARGET_CFS/core" -mindepth 2 -maxdepth 2 -type d ! -path '*/core/alua/*' 2>/dev/null) ]]
}
report_check "$SUITE/targetcli-clearconfig" "clearconfig left configuration behind" clear_ok
find "$TARGET_CFS" -maxdepth 3 -type d | head -n 20
e2e_finish
