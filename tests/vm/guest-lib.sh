#!/bin/bash
# Helpers sourced INSIDE the L1 VM (tests/vm/run) by test scripts:
#   . /project/tests/vm/guest-lib.sh
# They drive LIO's configfs directly for the "vhost" fabric, which both tcm_vhost.ko and
# Debian's vhost_scsi.ko serve, so every helper works unchanged with either module.
# Helpers return non-zero (with a message on stderr) on failure; they never exit.

TARGET_CFS=/sys/kernel/config/target
VHOST_CFS=$TARGET_CFS/vhost
: "${KV:=$(uname -r)}"
: "${PROJECT:=/project}"

_glib_err() { echo "guest-lib: $*" >&2; return 1; }

# ---- result lines: the project's result format, counted by `make check` ----------------
RESULT_PASS=0 RESULT_FAIL=0 RESULT_SKIP=0
report_pass() { echo "PASS: $1"; RESULT_PASS=$((RESULT_PASS + 1)); }
report_fail() { echo "FAIL: $1: ${2:-failed}"; RESULT_FAIL=$((RESULT_FAIL + 1)); }
report_skip() { echo "SKIP: $1: ${2:-skipped}"; RESULT_SKIP=$((RESULT_SKIP + 1)); }
# report_check NAME REASON CMD...: PASS if CMD succeeds, else FAIL with REASON.
report_check() {
	local name=$1 reason=$2
	shift 2
	if "$@"; then report_pass "$name"; else report_fail "$name" "$reason"; fi
}
# report_status: one summary line (deliberately not the "N passed" form), status 1 if any FAIL.
report_status() {
	echo "summary: pass=$RESULT_PASS fail=$RESULT_FAIL skip=$RESULT_SKIP"
	((RESULT_FAIL == 0))
}

# ---- modules ----------------------------------------------------------------------------
_glib_configfs() {
	modprobe configfs || return 1
	grep -q ' /sys/kernel/config configfs' /proc/mounts ||
		mount -t configfs configfs /sys/kernel/config
	modprobe target_core_mod || return 1
	[[ -d $TARGET_CFS ]] || _glib_err "no $TARGET_CFS after loading target_core_mod"
}

# The vhost fabric module currently loaded (tcm_vhost or vhost_scsi), empty if none.
fabric_loaded() {
	local m
	for m in tcm_vhost vhost_scsi; do
		[[ -d /sys/module/$m ]] && { echo "$m"; return 0; }
	done
	return 0
}

# _glib_depmod [KO]: what `depmod -a $KV` does once KO is installed as
# updates/tcm_vhost.ko (without KO: once it is removed).  In a test VM the host
# built those indexes already (tests/vm/kernel.sh depmod): they are copied in.
_glib_depmod() {
	local idx=${VM_CACHE_DIR:-/nonexistent}/depmod/stock
	[[ -z ${1:-} ]] || idx=${idx%/*}/$(sha256sum "$1" | cut -c1-16)
	if [[ -f $idx/modules.dep.bin ]] && cp "$idx"/modules.* "/lib/modules/$KV/"; then
		return 0
	fi
	depmod -a "$KV"
}

# fabric_install tcm_vhost|vhost_scsi: make a plain `modprobe tcm_vhost` (what
# targetcli/rtslib does) load MOD, without loading it. tcm_vhost: installs $TCM_VHOST_KO
# (default /project/tcm_vhost.ko) as /lib/modules/$KV/updates/tcm_vhost.ko, which wins
# over vhost_scsi's "tcm_vhost" alias; vhost_scsi: removes that file again.
fabric_install() {
	local mod=${1:-${FABRIC_MODULE:-tcm_vhost}} ko upd=/lib/modules/$KV/updates/tcm_vhost.ko
	case $mod in
	tcm_vhost)
		ko=${TCM_VHOST_KO:-$PROJECT/tcm_vhost.ko}
		[[ -f $ko ]] || { _glib_err "$ko not found (build the module first)"; return 1; }
		mkdir -p "${upd%/*}" && cp "$ko" "$upd" && _glib_depmod "$ko"
		;;
	vhost_scsi)
		[[ -f $upd ]] || return 0
		rm -f "$upd" && _glib_depmod
		;;
	*) _glib_err "unknown fabric module '$mod' (tcm_vhost|vhost_scsi)" ;;
	esac
}

# fabric_load tcm_vhost|vhost_scsi: fabric_install, then load it; /dev/vhost-scsi must appear.
fabric_load() {
	local mod=${1:-${FABRIC_MODULE:-tcm_vhost}} other
	_glib_configfs || return 1
	other=$(fabric_loaded)
	if [[ -n $other && $other != "$mod" ]]; then
		_glib_err "$other is loaded; fabric_unload it before loading $mod"
		return 1
	fi
	fabric_install "$mod" || return 1
	modprobe "$mod" || { _glib_err "modprobe $mod failed"; return 1; }
	[[ -d /sys/module/$mod ]] || { _glib_err "modprobe $mod did not load $mod"; return 1; }
	[[ -c /dev/vhost-scsi ]] || { _glib_err "/dev/vhost-scsi missing after loading $mod"; return 1; }
}

# Remove everything under one TPG: ACL mappings, LUN links, the nexus, the TPG itself.
_glib_tpg_teardown() {
	local tpg=$1 d l
	for d in "$tpg"/acls/*/; do
		[[ -d $d ]] || continue
		for l in "$d"lun_*/; do
			[[ -d $l ]] || continue
			find "$l" -maxdepth 1 -type l -delete
			rmdir "$l"
		done
		rmdir "$d"
	done
	for l in "$tpg"/lun/lun_*/; do
		[[ -d $l ]] || continue
		find "$l" -maxdepth 1 -type l -delete
		rmdir "$l" || _glib_err "cannot remove $l"
	done
	if [[ -f $tpg/nexus ]] && [[ -n $(cat "$tpg/nexus" 2>/dev/null) ]]; then
		echo NULL >"$tpg/nexus" 2>/dev/null || _glib_err "cannot drop the nexus of $tpg"
	fi
	rmdir "$tpg" || _glib_err "cannot remove $tpg"
}

# Tear down a fabric's configfs tree (WWNs, TPGs, LUNs, nexus) and its own directory.
_glib_fabric_teardown() {
	local fab=$1 wwn tpg rc=0
	[[ -d $fab ]] || return 0
	for wwn in "$fab"/*/; do
		# WWNs only: the fabric dir also has default groups such as discovery_auth
		[[ -d $wwn && $(basename "$wwn") == *.* ]] || continue
		for tpg in "$wwn"tpgt_*/; do
			[[ -d $tpg ]] || continue
			_glib_tpg_teardown "${tpg%/}" || rc=1
		done
		rmdir "$wwn" || { _glib_err "cannot remove $wwn"; rc=1; }
	done
	# the fabric dir itself holds a reference on the fabric module
	rmdir "$fab" || { _glib_err "cannot remove $fab"; rc=1; }
	return $rc
}

# fabric_unload: tear the vhost fabric down and rmmod whichever module serves it.
fabric_unload() {
	local mod rc=0
	_glib_fabric_teardown "$VHOST_CFS" || rc=1
	mod=$(fabric_loaded)
	if [[ -n $mod ]]; then
		rmmod "$mod" || { _glib_err "rmmod $mod failed (refcnt $(cat "/sys/module/$mod/refcnt" 2>/dev/null))"; rc=1; }
	fi
	return $rc
}

# ---- configfs objects -------------------------------------------------------------------
# rd_create NAME SIZE_MB: an enabled rd_mcp (RAM) backstore; prints its configfs path.
rd_create() {
	local name=$1 mb=$2 dir
	_glib_configfs || return 1
	dir=$TARGET_CFS/core/rd_mcp_0/$name
	mkdir -p "$dir" || return 1
	echo "rd_pages=$((mb * 256))" >"$dir/control" || return 1
	echo 1 >"$dir/enable" || return 1
	echo "$dir"
}

# vhost_tpg_create WWPN TPGT: prints the TPG's configfs path.
vhost_tpg_create() {
	local wwpn=$1 tpgt=$2 dir
	dir=$VHOST_CFS/$wwpn/tpgt_$tpgt
	mkdir -p "$dir" || { _glib_err "cannot create $dir"; return 1; }
	echo "$dir"
}

# vhost_lun_link WWPN TPGT LUN BACKSTORE_PATH
vhost_lun_link() {
	local wwpn=$1 tpgt=$2 lun=$3 bs=$4 dir
	dir=$VHOST_CFS/$wwpn/tpgt_$tpgt/lun/lun_$lun
	[[ -d $bs ]] || { _glib_err "no backstore $bs"; return 1; }
	mkdir -p "$dir" || return 1
	ln -s "$bs" "$dir/$(basename "$bs")" || { _glib_err "cannot link $bs into $dir"; return 1; }
}

# vhost_nexus WWPN TPGT [INITIATOR_WWN|NULL]: create (default initiator derived from the
# WWPN's fabric prefix) or drop (NULL) the I_T nexus.
vhost_nexus() {
	local wwpn=$1 tpgt=$2 init=${3:-} f
	f=$VHOST_CFS/$wwpn/tpgt_$tpgt/nexus
	if [[ -z $init ]]; then
		case $wwpn in
		fc.*) init=fc.5001405dead0000f ;;
		iqn.*) init=iqn.2003-01.org.linux-iscsi.tcmv:init ;;
		*) init=naa.5001405dead0000f ;;
		esac
	fi
	echo "$init" >"$f" || { _glib_err "cannot write '$init' to $f"; return 1; }
}

# target_teardown_all: every fabric's config (vhost, loopback) then every backstore and
# HBA. Modules stay loaded.
target_teardown_all() {
	local rc=0 fab so hba
	[[ -d $TARGET_CFS ]] || return 0
	for fab in "$VHOST_CFS" "$TARGET_CFS/loopback"; do
		_glib_fabric_teardown "$fab" || rc=1
	done
	for hba in "$TARGET_CFS"/core/*_*/; do
		[[ -d $hba ]] || continue
		for so in "$hba"*/; do
			[[ -d $so && $(basename "$so") != alua ]] || continue
			rmdir "$so" || { _glib_err "cannot remove backstore $so"; rc=1; }
		done
		rmdir "$hba" || { _glib_err "cannot remove HBA $hba"; rc=1; }
	done
	return $rc
}

# kvm_load: KVM for a nested L2 guest (TCG's -cpu max offers AMD SVM; kvm_amd needs ccp).
kvm_load() {
	modprobe kvm_amd || { _glib_err "modprobe kvm_amd failed"; return 1; }
	udevadm settle 2>/dev/null || true
	[[ -c /dev/kvm ]] || { _glib_err "/dev/kvm missing after loading kvm_amd"; return 1; }
}

# dmesg_mark: print a unique marker into the kernel log; dmesg_since MARK prints what
# came after it (for per-test kernel log checks).
dmesg_mark() {
	local m
	m="tcmv-mark-$(date +%s%N)"
	echo "$m" >/dev/kmsg
	echo "$m"
}
dmesg_since() { dmesg | sed -n "/$1/,\$p" | tail -n +2; }
# dmesg_complaints [MARK]: kernel complaint lines (since MARK), same patterns as tests/vm/run.
dmesg_complaints() {
	local src
	if [[ -n ${1:-} ]]; then src=$(dmesg_since "$1"); else src=$(dmesg); fi
	grep -E 'WARNING:|BUG:|Oops|refcount_t|use-after-free|list_del corruption|hung_task|blocked for more than|general protection|KASAN' <<<"$src" |
		grep -v 'Unhandled WRMSR' || true
}
