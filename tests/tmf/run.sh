#!/bin/bash
# TMF / AN / hotplug event suite INSIDE L1 (tests/vm/run): load MODULE, set up slow
# backstores, run vsc-tmf, tear everything down, unload.
#
#   tests/tmf/run.sh tcm_vhost|vhost_scsi [vsc-tmf args, e.g. --filter abort -v]
#
# From the host:  tests/vm/run -t 600 -- tests/tmf/run.sh tcm_vhost
# Environment: TMF_DELAY_MS (dm-delay latency, default 1000).
# Prints the binary's PASS/FAIL/SKIP/XFAIL lines, its own checks (tmf/run.*), and one
# summary line "N passed, N failed, N skipped". Exit status 1 on any FAIL.
set -uo pipefail

mod=${1:-${FABRIC_MODULE:-tcm_vhost}}
shift || true
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=$root/tests/bin/vsc-tmf
export PROJECT=$root
# shellcheck source=../vm/guest-lib.sh
. "$root/tests/vm/guest-lib.sh"

pass=0 fail=0 skip=0 xfail=0
ok() { echo "PASS: tmf/run.$1"; pass=$((pass + 1)); }
ko() { echo "FAIL: tmf/run.$1: $2"; fail=$((fail + 1)); }
summary() {
	((xfail)) && echo "# $xfail xfail (upstream differs; not counted below)"
	echo "$pass passed, $fail failed, $skip skipped"
}

if [[ ! -x $bin ]]; then
	ko build "$bin missing: run make -C tests/tmf"
	summary
	exit 1
fi

mark=$(dmesg_mark)
start=$(date +%s)
if fabric_load "$mod"; then ok fabric_load; else
	ko fabric_load "fabric_load $mod failed"
	summary
	exit 1
fi

echo "# fabric_load: $(($(date +%s) - start)) s"
slow=()
if devs=$("$here/slowdev.sh" setup 2 "${TMF_DELAY_MS:-1000}"); then
	mapfile -t slow <<<"$devs"
	ok slowdev_setup
else
	ko slowdev_setup "slowdev.sh setup failed: in-flight tests will be skipped"
fi
echo "# slowdev setup done at $(($(date +%s) - start)) s"
args=()
for d in "${slow[@]}"; do args+=(--slowdev "$d"); done

summary_seen=0
while IFS= read -r line; do
	case $line in
	PASS:*) pass=$((pass + 1)); echo "$line" ;;
	FAIL:*) fail=$((fail + 1)); echo "$line" ;;
	SKIP:*) skip=$((skip + 1)); echo "$line" ;;
	XFAIL:*) xfail=$((xfail + 1)); echo "$line" ;;
	*" passed, "*" failed, "*" skipped") summary_seen=1; echo "# vsc-tmf: $line" ;;
	*) echo "$line" ;;
	esac
done < <("$bin" --module "$mod" "${args[@]}" "$@" 2>&1)
if ((summary_seen)); then ok suite_completed; else
	ko suite_completed "vsc-tmf ended without its summary line (crash?)"
fi
echo "# vsc-tmf run time: $(($(date +%s) - start)) s"

# A test process stuck in the kernel keeps the device open: report it, it blocks unload.
stuck=$(ps -eo pid,stat,comm | awk '$3 == "vsc-tmf" { print $1 "(" $2 ")" }' | tr '\n' ' ')
[[ -n $stuck ]] && ko no_stuck_process "vsc-tmf processes left: $stuck"

if target_teardown_all; then ok teardown; else ko teardown "target_teardown_all failed"; fi
if ((${#slow[@]})); then
	if "$here/slowdev.sh" teardown; then ok slowdev_teardown; else
		ko slowdev_teardown "slowdev.sh teardown failed"
	fi
fi
if fabric_unload; then ok fabric_unload; else ko fabric_unload "fabric_unload failed"; fi
if [[ -d /sys/module/$mod ]]; then ko module_gone "/sys/module/$mod still present"; else
	ok module_gone
fi
complaints=$(dmesg_complaints "$mark")
if [[ -z $complaints ]]; then ok dmesg_clean; else
	ko dmesg_clean "$(head -n 3 <<<"$complaints" | tr '\n' ';')"
fi
summary
((fail == 0))
