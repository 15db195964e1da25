#!/bin/bash
# Functional suite INSIDE L1: load MODULE, run vsc-functional, tear down, unload.
#
#   tests/functional/run.sh tcm_vhost|vhost_scsi [vsc-functional args, e.g. --filter io.]
#
# Prints the binary's PASS/FAIL/SKIP/XFAIL lines plus its own checks
# (functional/run.*), then one summary line "N passed, N failed, N skipped, N xfail".
# Exit status 1 on any FAIL.
set -uo pipefail

mod=${1:-${FABRIC_MODULE:-tcm_vhost}}
shift || true
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=$root/tests/bin/vsc-functional
export PROJECT=$root
# shellcheck source=../vm/guest-lib.sh
. "$root/tests/vm/guest-lib.sh"

pass=0 fail=0 skip=0 xfail=0
ok() { echo "PASS: functional/run.$1"; pass=$((pass + 1)); }
ko() { echo "FAIL: functional/run.$1: $2"; fail=$((fail + 1)); }

# Slab usage: "name active_objs objsize" per cache, and unreclaimable slab in kB.
slab_snapshot() {
	sync
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
	sleep 1
	awk 'NR > 2 { print $1, $2, $4 }' /proc/slabinfo >"$1" 2>/dev/null
	awk '/^SUnreclaim:/ { print $2 }' /proc/meminfo >"$1.sunreclaim"
}

# Caches that grew by more than 1 MiB and 256 objects between two snapshots.
slab_growth() {
	awk 'NR == FNR { before[$1] = $2; next }
	     { d = $2 - before[$1]; if (d > 256 && d * $3 > 1048576)
		printf "%s +%d objs (+%d KiB)\n", $1, d, d * $3 / 1024 }' "$1" "$2"
}

if [[ ! -x $bin ]]; then
	ko build "$bin missing: run make -C tests"
	echo "$pass passed, $fail failed, $skip skipped, $xfail xfail"
	exit 1
fi

mark=$(dmesg_mark)
before=$(mktemp /tmp/vsc-slab-before.XXXXXX)
after=$(mktemp /tmp/vsc-slab-after.XXXXXX)
# configfs + target core first, so their own allocations are in the baseline
_glib_configfs >/dev/null 2>&1 || true
modprobe target_core_mod 2>/dev/null || true
slab_snapshot "$before"

start=$(date +%s)
if fabric_load "$mod"; then
	ok fabric_load
else
	ko fabric_load "fabric_load $mod failed"
	echo "$pass passed, $fail failed, $skip skipped, $xfail xfail"
	exit 1
fi

# Run the suite; count its lines, swallow its own summary line.
summary_seen=0
while IFS= read -r line; do
	case $line in
	PASS:*) pass=$((pass + 1)); echo "$line" ;;
	FAIL:*) fail=$((fail + 1)); echo "$line" ;;
	SKIP:*) skip=$((skip + 1)); echo "$line" ;;
	XFAIL:*) xfail=$((xfail + 1)); echo "$line" ;;
	*" passed, "*" failed"*) summary_seen=1; echo "# vsc-functional: $line" ;;
	*) echo "$line" ;;
	esac
done < <("$bin" --module "$mod" "$@" 2>&1)
if ((summary_seen)); then
	ok suite_completed
else
	ko suite_completed "vsc-functional ended without its summary line (crash or watchdog)"
fi
echo "# vsc-functional run time: $(($(date +%s) - start)) s"

# Teardown: nothing of ours may be left; then the module must unload.
if target_teardown_all; then ok teardown; else ko teardown "target_teardown_all failed"; fi
if fabric_unload; then
	ok fabric_unload
else
	ko fabric_unload "fabric_unload failed: module still referenced"
fi
if [[ -d /sys/module/$mod ]]; then
	ko module_gone "/sys/module/$mod still present"
else
	ok module_gone
fi

# The vhost fabric dir removal + rmmod must give back what the run allocated.
slab_snapshot "$after"
grown=$(slab_growth "$before" "$after")
su_b=$(cat "$before.sunreclaim") su_a=$(cat "$after.sunreclaim")
echo "# SUnreclaim: ${su_b} kB before load, ${su_a} kB after unload"
if [[ -n $grown ]]; then
	ko slab_no_growth "$(tr '\n' ';' <<<"$grown")"
elif ((su_a - su_b > 16384)); then
	ko slab_no_growth "unreclaimable slab grew by $((su_a - su_b)) kB"
else
	ok slab_no_growth
fi
rm -f "$before" "$after" "$before.sunreclaim" "$after.sunreclaim"

complaints=$(dmesg_complaints "$mark")
if [[ -z $complaints ]]; then
	ok dmesg_clean
else
	ko dmesg_clean "$(head -n 3 <<<"$complaints" | tr '\n' ';')"
fi

echo "$pass passed, $fail failed, $skip skipped, $xfail xfail"
((fail == 0))
