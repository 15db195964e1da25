#!/bin/bash
# Fuzzer INSIDE L1: load MODULE, slab baseline, run vsc-fuzz over a fixed seed list
# (~2 minutes in total), tear down, unload, check slab growth and dmesg.
#
#   tests/fuzz/run.sh [tcm_vhost|vhost_scsi]
#   FUZZ_SEEDS="1 2 3" FUZZ_SECONDS=20 tests/fuzz/run.sh tcm_vhost   (seconds per seed)
#
# Prints PASS/FAIL: fuzz/seed-<S> per seed plus fuzz/run.* checks, then
# "N passed, N failed, N skipped". Exit status 1 on any FAIL.
set -uo pipefail

mod=${1:-${FABRIC_MODULE:-tcm_vhost}}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=$root/tests/bin/vsc-fuzz
seeds=${FUZZ_SEEDS:-"1 2 3 4 5 6"}
secs=${FUZZ_SECONDS:-20}
export PROJECT=$root
# shellcheck source=../vm/guest-lib.sh
. "$root/tests/vm/guest-lib.sh"

pass=0 fail=0 skip=0
ok() { echo "PASS: fuzz/run.$1"; pass=$((pass + 1)); }
ko() { echo "FAIL: fuzz/run.$1: $2"; fail=$((fail + 1)); }
finish() { echo "$pass passed, $fail failed, $skip skipped"; ((fail == 0)); exit; }

snap() {
	sync
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
	sleep 1
	awk 'NR > 2 { print $1, $2, $4 }' /proc/slabinfo >"$1"
	awk '/^SUnreclaim:/ { print $2 }' /proc/meminfo >"$1.su"
	awk '/^MemFree:/ { print $2 }' /proc/meminfo >"$1.free"
}
growth() {
	awk 'NR == FNR { b[$1] = $2; next }
	     { d = $2 - b[$1]; if (d > 256 && d * $3 > 524288)
		printf "%s +%d objs (+%d KiB)\n", $1, d, d * $3 / 1024 }' "$1" "$2"
}

[[ -x $bin ]] || { ko build "$bin missing: make -C tests/fuzz"; finish; }
mark=$(dmesg_mark)
tmp=$(mktemp -d /tmp/vsc-fuzz.XXXXXX)
_glib_configfs >/dev/null 2>&1 || true
modprobe target_core_mod 2>/dev/null || true
snap "$tmp/before"
if fabric_load "$mod"; then ok fabric_load; else ko fabric_load "fabric_load $mod failed"; finish; fi

for s in $seeds; do
	out=$tmp/seed-$s.out
	timeout $((secs + 180)) "$bin" --module "$mod" --seed "$s" --seconds "$secs" >"$out" 2>&1
	rc=$?
	grep -E '^(fuzz:|FAILURE|  )' "$out" | head -n 40
	if grep -q "^PASS: fuzz/seed-$s\$" "$out" && ((rc == 0)); then
		echo "PASS: fuzz/seed-$s"; pass=$((pass + 1))
	else
		why=$(grep -m1 '^FAILURE' "$out" | cut -c1-300)
		echo "FAIL: fuzz/seed-$s: exit $rc${why:+: $why}"; fail=$((fail + 1))
	fi
done

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
if ((fr_b - fr_a > 65536)); then ko memfree_back "MemFree dropped by $((fr_b - fr_a)) kB"; else ok memfree_back; fi
rm -rf "$tmp"
complaints=$(dmesg_complaints "$mark")
if [[ -z $complaints ]]; then ok dmesg_clean; else ko dmesg_clean "$(head -n 3 <<<"$complaints" | tr '\n' ';')"; fi
finish
