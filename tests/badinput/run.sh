#!/bin/bash
# Malformed-input suite INSIDE L1: load MODULE, slab baseline, run vsc-badinput, tear down,
# unload, then check slab growth, free memory and dmesg.
#
#   tests/badinput/run.sh tcm_vhost|vhost_scsi [vsc-badinput args, e.g. --filter desc_]
#
# Prints the binary's PASS/FAIL/SKIP/XFAIL lines plus badinput/run.* checks, then
# "N passed, N failed, N skipped, N xfail". Exit status 1 on any FAIL.
suite=badinput
# shellcheck source=../lib/suite-preamble.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/suite-preamble.sh"

suite_start badinput "$bin" "$mod" target_core_iblock dm_mod loop
suite_run "$bin" --module "$mod" "$@"
dmsetup remove --noudevsync vsc_bi_hold >/dev/null 2>&1 || true
# backend_errors_reach_the_guest's device, if the binary did not end cleanly
dmsetup remove --noudevsync vsc_bi_err >/dev/null 2>&1 || true
for dev in $(losetup -j /tmp/vsc-bi-err.img -O NAME -n 2>/dev/null); do losetup -d "$dev"; done
rm -f /tmp/vsc-bi-err.img
suite_end "$mod" 512 8192 65536
