# shellcheck shell=bash
# The frame every suite runner puts around its binary INSIDE L1
# (tests/{functional,badinput,tmf,fuzz}/run.sh): result counters, the binary's result
# lines, teardown and unload, leak and dmesg checks, one summary line:
#
#   suite_start badinput "$bin" "$mod" dm_mod   counters, baseline, module loaded; the
#                                 runner's own checks are "PASS: badinput/run.NAME"
#   suite_run "$bin" --module "$mod" "$@"
#   suite_end "$mod" 512 8192 65536   teardown, unload, memory back (mem_check bounds),
#                                 dmesg clean, "N passed, N failed, N skipped, N xfail";
#                                 exit 1 on a FAIL
#
# A runner with steps of its own in between uses the parts: suite_begin, mem_snapshot,
# suite_teardown, suite_unload, mem_check, suite_dmesg, suite_finish.
#
# check.sh keeps only the PASS/FAIL/SKIP/XFAIL lines; the summary line is for people.
# Sourcing this also sources guest-lib.sh and sets PROJECT (the repo root).

PROJECT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export PROJECT
# shellcheck source=guest-lib.sh
. "$PROJECT/tests/vm/guest-lib.sh"

# suite_begin NAME: zero the counters; ok/ko report the runner's own checks as NAME/run.*.
suite_begin() {
	suite_name=$1
	pass=0 fail=0 skip=0 xfail=0
}

ok() { echo "PASS: $suite_name/run.$1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $suite_name/run.$1: $2"; fail=$((fail + 1)); }
sk() { echo "SKIP: $suite_name/run.$1: $2"; skip=$((skip + 1)); }

suite_finish() {
	echo "$pass passed, $fail failed, $skip skipped, $xfail xfail"
	((fail == 0))
	exit
}

# suite_run BINARY [ARGS...]: run a suite binary, pass its result lines on and count them.
# Its own summary line becomes a comment; a binary that ends without one (crash, watchdog)
# fails run.suite_completed.
suite_run() {
	local name=${1##*/} line seen=0 start
	start=$(date +%s)
	while IFS= read -r line; do
		case $line in
		PASS:*) pass=$((pass + 1)); echo "$line" ;;
		FAIL:*) fail=$((fail + 1)); echo "$line" ;;
		SKIP:*) skip=$((skip + 1)); echo "$line" ;;
		XFAIL:*) xfail=$((xfail + 1)); echo "$line" ;;
		*" passed, "*" failed"*) seen=1; echo "# $name: $line" ;;
		*) echo "$line" ;;
		esac
	done < <("$@" 2>&1)
	if ((seen)); then
		ok suite_completed
	else
		ko suite_completed "$name ended without its summary line (crash or watchdog?)"
	fi
	echo "# $name run time: $(($(date +%s) - start)) s"
}

# suite_teardown: every fabric's config and backstore goes (run.teardown).
suite_teardown() {
	if target_teardown_all; then ok teardown; else ko teardown "target_teardown_all failed"; fi
}

# suite_unload MODULE: the module unloads and is gone (run.fabric_unload, run.module_gone).
suite_unload() {
	if fabric_unload; then
		ok fabric_unload
	else
		ko fabric_unload "fabric_unload failed: module still referenced"
	fi
	if [[ -d /sys/module/$1 ]]; then
		ko module_gone "/sys/module/$1 still present"
	else
		ok module_gone
	fi
}

# suite_dmesg MARK: no kernel complaint since MARK (run.dmesg_clean); against vhost_scsi
# (the runner's \$mod), complaints all from vhost_scsi's own code are its XFAIL.
suite_dmesg() {
	local complaints
	complaints=$(dmesg_complaints "$1")
	if [[ -z $complaints ]]; then
		ok dmesg_clean
	elif [[ ${mod:-} == vhost_scsi ]] && ! grep -qv 'drivers/vhost/scsi\.c\|\[vhost_scsi\]' <<<"$complaints"; then
		# Debian's own module warning about its own input (6.12 WARNs once
		# on misaligned I/O with more than 256 segments): upstream's
		# behaviour, not a failure of the suite.
		echo "XFAIL: $suite_name/run.dmesg_clean: Debian's vhost_scsi warned: $(head -n 1 <<<"$complaints")"
		xfail=$((xfail + 1))
	else
		ko dmesg_clean "$(head -n 3 <<<"$complaints" | tr '\n' ';')"
	fi
}

# mem_snapshot FILE: "cache active_objs objsize" for every slab cache, then FILE.su and
# FILE.free with SUnreclaim and MemFree in kB, after dropping the page cache.
mem_snapshot() {
	sync
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
	sleep 1
	awk 'NR > 2 { print $1, $2, $4 }' /proc/slabinfo >"$1" 2>/dev/null
	awk '/^SUnreclaim:/ { print $2 }' /proc/meminfo >"$1.su"
	awk '/^MemFree:/ { print $2 }' /proc/meminfo >"$1.free"
}

# mem_check BEFORE AFTER CACHE_KIB SU_KB [FREE_KB]: what the run allocated came back.
#   run.slab_no_growth: no cache grew by more than 256 objects and CACHE_KIB KiB, and
#                       SUnreclaim by at most SU_KB kB;
#   run.memfree_back (with FREE_KB): MemFree dropped by at most FREE_KB kB (pinned guest
#                       pages never put back would show there).
# On the debug kernel (make check-debug) KASAN's quarantine keeps freed objects in
# their caches for a while, so both are SKIPped there: kmemleak looks for what was
# leaked instead, at the end of the VM (tests/vm/stage2.sh).
mem_check() {
	local before=$1 after=$2 cache_kib=$3 su_kb=$4 free_kb=${5:-} grown su_b su_a fr_b fr_a
	if [[ -e /sys/kernel/debug/kmemleak ]]; then
		sk slab_no_growth "kmemleak checks leaks on this kernel (KASAN's quarantine holds freed objects)"
		[[ -z $free_kb ]] || sk memfree_back "as slab_no_growth"
		return 0
	fi
	grown=$(awk -v lim=$((cache_kib * 1024)) 'NR == FNR { b[$1] = $2; next }
		{ d = $2 - b[$1]; if (d > 256 && d * $3 > lim)
			printf "%s +%d objs (+%d KiB)\n", $1, d, d * $3 / 1024 }' "$before" "$after")
	su_b=$(cat "$before.su") su_a=$(cat "$after.su")
	fr_b=$(cat "$before.free") fr_a=$(cat "$after.free")
	echo "# SUnreclaim ${su_b} -> ${su_a} kB; MemFree ${fr_b} -> ${fr_a} kB"
	if [[ -n $grown ]]; then
		ko slab_no_growth "$(tr '\n' ';' <<<"$grown")"
	elif ((su_a - su_b > su_kb)); then
		ko slab_no_growth "unreclaimable slab grew by $((su_a - su_b)) kB"
	else
		ok slab_no_growth
	fi
	[[ -n $free_kb ]] || return 0
	if ((fr_b - fr_a > free_kb)); then
		ko memfree_back "MemFree dropped by $((fr_b - fr_a)) kB"
	else
		ok memfree_back
	fi
}

# suite_start NAME BINARY MODULE [KMOD...]: the common start of a runner.  Sets $mark
# (dmesg) and $tmp (scratch, removed by suite_end).  configfs, target_core_mod and the
# KMODs are loaded before the memory baseline, so that their own allocations are in it;
# then MODULE (run.fabric_load).  A missing binary or a failed load ends the suite.
suite_start() {
	local bin=$2 m
	suite_begin "$1"
	[[ -x $bin ]] || { ko build "$bin missing: run make -C tests"; suite_finish; }
	mark=$(dmesg_mark)
	tmp=$(mktemp -d "/tmp/vsc-$1.XXXXXX")
	_glib_configfs >/dev/null 2>&1 || true
	for m in target_core_mod "${@:4}"; do modprobe "$m" 2>/dev/null || true; done
	mem_snapshot "$tmp/before"
	if fabric_load "$3"; then
		ok fabric_load
	else
		ko fabric_load "fabric_load $3 failed"
		suite_finish
	fi
}

# suite_end MODULE CACHE_KIB SU_KB [FREE_KB]: the common end: teardown, unload, what the
# run allocated given back (mem_check with these bounds), no kernel complaint, summary.
suite_end() {
	local m=$1
	shift
	suite_teardown
	suite_unload "$m"
	mem_snapshot "$tmp/after"
	mem_check "$tmp/before" "$tmp/after" "$@"
	rm -rf "$tmp"
	suite_dmesg "$mark"
	suite_finish
}
