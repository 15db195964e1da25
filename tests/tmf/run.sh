#!/bin/bash
# TMF / AN / hotplug event suite INSIDE L1 (tests/vm/run): load MODULE, set up slow
# backstores, run vsc-tmf, tear everything down, unload.
#
#   tests/tmf/run.sh tcm_vhost|vhost_scsi [vsc-tmf args, e.g. --filter abort -v]
#
# From the host:  tests/vm/run -t 600 -- tests/tmf/run.sh tcm_vhost
# Environment: TMF_DELAY_MS (dm-delay latency, default 1000).
# Prints the binary's PASS/FAIL/SKIP/XFAIL lines, its own checks (tmf/run.*), and one
# summary line "N passed, N failed, N skipped, N xfail". Exit status 1 on any FAIL.
suite=tmf
# shellcheck source=../lib/suite-preamble.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/suite-preamble.sh"

start=$(date +%s)
suite_start tmf "$bin" "$mod" dm_mod
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
suite_run "$bin" --module "$mod" "${args[@]}" "$@"

# A test process stuck in the kernel keeps the device open: report it, it blocks unload.
stuck=$(ps -eo pid,stat,comm | awk '$3 == "vsc-tmf" { print $1 "(" $2 ")" }' | tr '\n' ' ')
[[ -n $stuck ]] && ko no_stuck_process "vsc-tmf processes left: $stuck"

suite_teardown
if ((${#slow[@]})); then
	if "$here/slowdev.sh" teardown; then ok slowdev_teardown; else
		ko slowdev_teardown "slowdev.sh teardown failed"
	fi
fi
suite_unload "$mod"
rm -rf "$tmp"
suite_dmesg "$mark"
suite_finish
