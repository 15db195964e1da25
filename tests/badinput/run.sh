#!/bin/bash
# Malformed-input suite INSIDE L1: load MODULE, slab baseline, run vsc-badinput, tear down,
# unload, then check slab growth and dmesg.
#
#   tests/badinput/run.sh tcm_vhost|vhost_scsi [vsc-badinput args, e.g. --filter desc_]
#
# Prints the binary's PASS/FAIL/SKIP/XFAIL lines plus badinput/run.* checks, then
# "N passed, N failed, N skipped[, N xfail]". Exit status 1 on any FAIL.
set -uo pipefail

mod=${1:-${FABRIC_MODULE:-tcm_vhost}}
shift || true
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=$root/tests/bin/vsc-badinput
export PROJECT=$root
# shellcheck source=../vm/guest-lib.sh
. "$root/tests/vm/guest-lib.sh"

pass=0 fail=0 skip=0 xfail=0
ok() { echo "PASS: badinput/run.$1"; pass=$((pass + 1)); }
ko() { echo "FAIL: badinput/run.$1: $2"; fail=$((fail + 1)); }
finish() {
	if ((xfail)); then
		echo "$pass passed, $fail failed, $skip skipped, $xfail xfail"
	else
		echo "$pass passed, $fail failed, $skip skipped"
	fi
	((fail == 0))
	exit
}

# "cache active_objs objsize" for every slab cache, and SUnreclaim / MemFree in kB.
snap() {
	sync
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
	sleep 1
	awk 'NR > 2 { print $1, $2, $4 }' /proc/slabinfo >"$1"
	awk '/^SUnreclaim:/ { print $2 }' /proc/meminfo >"$1.su"
	awk '/^MemFree:/ { print $2 }' /proc/meminfo >"$1.free"
}
# caches (kmalloc-*, se_*, vhost/target/bio ones, and any other) that grew by > 256 objs and > 512 KiB
growth() {
	awk 'NR == FNR { b[$1] = $2; next }
	     { d = $2 - b[$1]; if (d > 256 && d * $3 > 524288)
		printf "%s +%d objs (+%d KiB)\n", $1, d, d * $3 / 1024 }' "$1" "$2"
}

[[ -x $bin ]] || { ko build "$bin missing: make -C tests/badinput"; finish; }

mark=$(dmesg_mark)
tmp=$(mktemp -d /tmp/vsc-badinput.XXXXXX)
_glib_configfs >/dev/null 2>&1 || true
modprobe target_core_iblock 2>/dev/null || true
modprobe target_core_mod 2>/dev/null || true
modprobe dm_mod 2>/dev/null || true
modprobe loop 2>/dev/null || true
snap "$tmp/before"

if fabric_load "$mod"; then ok fabric_load; else ko fabric_load "fabric_load $mod failed"; finish; fi

start=$(date +%s)
seen=0
while IFS= read -r line; do
	case $line in
	PASS:*) pass=$((pass + 1)); echo "$line" ;;
	FAIL:*) fail=$((fail + 1)); echo "$line" ;;
	SKIP:*) skip=$((skip + 1)); echo "$line" ;;
	XFAIL:*) xfail=$((xfail + 1)); echo "$line" ;;
	*" passed, "*" failed"*) seen=1; echo "# vsc-badinput: $line" ;;
	*) echo "$line" ;;
	esac
done < <("$bin" --module "$mod" "$@" 2>&1)
if ((seen)); then ok suite_completed; else ko suite_completed "vsc-badinput ended without its summary line"; fi
echo "# vsc-badinput run time: $(($(date +%s) - start)) s"

dmsetup remove --noudevsync vsc_bi_hold >/dev/null 2>&1 || true
if target_teardown_all; then ok teardown; else ko teardown "target_teardown_all failed"; fi
if fabric_unload; then ok fabric_unload; else ko fabric_unload "fabric_unload failed: module still referenced"; fi
if [[ -d /sys/module/$mod ]]; then ko module_gone "/sys/module/$mod still present"; else ok module_gone; fi

snap "$tmp/after"
grown=$(growth "$tmp/before" "$tmp/after")
su_b=$(cat "$tmp/before.su") su_a=$(cat "$tmp/after.su")
fr_b=$(cat "$tmp/before.free") fr_a=$(cat "$tmp/after.free")
echo "# SUnreclaim ${su_b} -> ${su_a} kB; MemFree ${fr_b} -> ${fr_a} kB"
if [[ -n $grown ]]; then
	ko slab_no_growth "$(tr '\n' ';' <<<"$grown")"
elif ((su_a - su_b > 8192)); then
	ko slab_no_growth "unreclaimable slab grew by $((su_a - su_b)) kB"
else
	ok slab_no_growth
fi
# pinned guest pages that were never put back would show up as lost free memory
if ((fr_b - fr_a > 65536)); then
	ko memfree_back "MemFree dropped by $((fr_b - fr_a)) kB"
else
	ok memfree_back
fi
rm -rf "$tmp"

complaints=$(dmesg_complaints "$mark")
if [[ -z $complaints ]]; then ok dmesg_clean; else ko dmesg_clean "$(head -n 3 <<<"$complaints" | tr '\n' ';')"; fi
finish
