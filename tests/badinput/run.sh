#!/bin/bash
# Malformed-input suite INSIDE L1: load MODULE, slab baseline, run vsc-badinput, tear down,
# unload, then check slab growth, free memory and dmesg.
#
#   tests/badinput/run.sh tcm_vhost|vhost_scsi [vsc-badinput args, e.g. --filter desc_]
#
# Prints the binary's PASS/FAIL/SKIP/XFAIL lines plus badinput/run.* checks, then
# "N passed, N failed, N skipped, N xfail". Exit status 1 on any FAIL.
set -uo pipefail

mod=${1:-${FABRIC_MODULE:-tcm_vhost}}
shift || true
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../vm/suite-lib.sh
. "$here/../vm/suite-lib.sh"
bin=$PROJECT/tests/bin/vsc-badinput

suite_begin badinput
[[ -x $bin ]] || { ko build "$bin missing: make -C tests/badinput"; suite_finish; }

mark=$(dmesg_mark)
tmp=$(mktemp -d /tmp/vsc-badinput.XXXXXX)
_glib_configfs >/dev/null 2>&1 || true
for m in target_core_iblock target_core_mod dm_mod loop; do modprobe "$m" 2>/dev/null || true; done
mem_snapshot "$tmp/before"

if fabric_load "$mod"; then ok fabric_load; else ko fabric_load "fabric_load $mod failed"; suite_finish; fi
suite_run "$bin" --module "$mod" "$@"

dmsetup remove --noudevsync vsc_bi_hold >/dev/null 2>&1 || true
suite_teardown
suite_unload "$mod"
mem_snapshot "$tmp/after"
mem_check "$tmp/before" "$tmp/after" 512 8192 65536
rm -rf "$tmp"
suite_dmesg "$mark"
suite_finish
