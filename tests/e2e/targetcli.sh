#!/bin/bash
# E2E: the target built with targetcli-fb (rtslib), then served to a nested guest.
#   tests/e2e/targetcli.sh [tcm_vhost|vhost_scsi]     (inside L1, or on the host: re-runs in L1)
# targetcli itself loads the fabric (rtslib runs `modprobe tcm_vhost`), creates the ramdisk
# backstore, the vhost WWN (rtslib adds tpg1 and a random nexus), and the LUN; a guest does
# verified I/O after saveconfig, clearconfig and restoreconfig; `targetcli clearconfig
# confirm=True` must leave nothing behind.
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

setup() {
	tc /backstores/ramdisk create name=rd0 size=64M &&
		tc /vhost create "$WWPN" &&
		tc "/vhost/$WWPN/tpg1/luns" create /backstores/ramdisk/rd0
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
		[[ -e $VHOST_CFS/$WWPN/tpgt_1/lun/lun_0 ]]
}
report_check "$SUITE/targetcli-restoreconfig" \
	"saveconfig, clearconfig and restoreconfig did not rebuild the target" restore_ok
echo "nexus after restoreconfig: $(cat "$VHOST_CFS/$WWPN/tpgt_1/nexus" 2>/dev/null || true)"

report_check "$SUITE/targetcli-guest-io" "verified I/O through the targetcli-built LUN failed" \
	"$L2" --wwpn "$WWPN" --queues 1 --timeout "$(l2_timeout $((2 * E2E_SECONDS)))" -- \
	tests/e2e/l2-fio.sh 1 "$E2E_SECONDS" randrw4k

clear_ok() {
	tc clearconfig confirm=True &&
		[[ -z $(find "$VHOST_CFS" -mindepth 1 -maxdepth 1 -name '*.*' 2>/dev/null) ]] &&
		[[ -z $(find "$TARGET_CFS/core" -mindepth 2 -maxdepth 2 -type d ! -path '*/core/alua/*' 2>/dev/null) ]]
}
report_check "$SUITE/targetcli-clearconfig" "clearconfig left configuration behind" clear_ok
find "$TARGET_CFS" -maxdepth 3 -type d | head -n 20
e2e_finish
