#!/bin/bash
# Shared by in-vm.sh and probe.sh, INSIDE L1: switch the vhost fabric between modules on
# the same LUNs (rd_mcp, or with BENCH_BACKSTORE=nullb iblock over null_blk). The caller
# sources tests/vm/guest-lib.sh first and sets bin (the test programs), WWPN, BENCH_NLUNS,
# BENCH_LUN_MB and a log function.
# shellcheck disable=SC2154 # bin, WWPN and the BENCH_ values come from the caller

# unload_all: tear down every fabric's config and backstore, rmmod the vhost fabric module.
unload_all() {
	local mod
	"$bin/vsc-cfg" teardown || return 1
	mod=$(fabric_loaded)
	[[ -z $mod ]] || rmmod "$mod"
}

# load_fabric MODULE: like guest-lib's fabric_load, without its depmod (slow under TCG):
# tcm_vhost.ko ($TCM_VHOST_KO, default /project's) is insmod'ed after its dependencies,
# vhost_scsi modprobe'd by name.
load_fabric() {
	local mod=$1 ko=${TCM_VHOST_KO:-/project/tcm_vhost.ko} deps
	[[ -z $(fabric_loaded) ]] || { echo "bench: $(fabric_loaded) still loaded" >&2; return 1; }
	case $mod in
	tcm_vhost)
		deps=$(modinfo -F depends "$ko") || return 1
		modprobe -a ${deps//,/ } && insmod "$ko" || return 1
		;;
	*) modprobe "$mod" || return 1 ;;
	esac
	[[ -c /dev/vhost-scsi && -d /sys/module/$mod ]] ||
		{ echo "bench: $mod did not give /dev/vhost-scsi" >&2; return 1; }
}

# switch_to MODULE: unload whatever serves the vhost fabric, recreate the same LUNs
# from scratch, load MODULE, configure the TPG (every LUN, then the nexus).
switch_to() {
	local mod=$1
	_glib_configfs || return 1
	unload_all || return 1
	log "  unloaded"
	if [[ ${BENCH_BACKSTORE:-rd_mcp} == nullb ]]; then
		# null_blk completing from a timer, as a disk's interrupt would, with
		# BENCH_NULLB_QD tags per hardware queue (null_blk's default: 64)
		[[ -b /dev/nullb$((BENCH_NLUNS - 1)) ]] ||
			{ rmmod null_blk 2>/dev/null; modprobe null_blk nr_devices="$BENCH_NLUNS" \
				queue_mode=2 irqmode=2 completion_nsec=10000 gb=1 bs=512 \
				hw_queue_depth="${BENCH_NULLB_QD:-64}"; } || return 1
		export VSC_CFG_NULLB=1
	fi
	"$bin/vsc-cfg" luns "$BENCH_NLUNS" "$BENCH_LUN_MB" || return 1
	log "  $BENCH_NLUNS ${BENCH_BACKSTORE:-rd_mcp} LUNs created"
	load_fabric "$mod" || return 1
	"$bin/vsc-cfg" vhost "$WWPN" "$BENCH_NLUNS" || return 1
	log "  $mod loaded and configured"
}

# round_order R [LIST]: LIST (default the modules) in the order round R runs them
# (reversed in odd rounds)
round_order() {
	local -a mods
	local i
	read -r -a mods <<<"${2:-${BENCH_MODULES:-}}"
	if (($1 % 2)); then
		for ((i = ${#mods[@]} - 1; i >= 0; i--)); do echo "${mods[i]}"; done
	else
		printf '%s\n' "${mods[@]}"
	fi
}
