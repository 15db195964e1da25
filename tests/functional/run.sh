#!/bin/bash
# Functional suite INSIDE L1: load MODULE, run vsc-functional, tear down, unload, then
# check slab growth and dmesg.
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
# shellcheck source=../vm/suite-lib.sh
. "$here/../vm/suite-lib.sh"
bin=$PROJECT/tests/bin/vsc-functional

suite_begin functional
[[ -x $bin ]] || { ko build "$bin missing: run make -C tests"; suite_finish; }

mark=$(dmesg_mark)
tmp=$(mktemp -d /tmp/vsc-functional.XXXXXX)
# configfs + target core first, so their own allocations are in the baseline
_glib_configfs >/dev/null 2>&1 || true
modprobe target_core_mod 2>/dev/null || true
mem_snapshot "$tmp/before"

if fabric_load "$mod"; then ok fabric_load; else ko fabric_load "fabric_load $mod failed"; suite_finish; fi
suite_run "$bin" --module "$mod" "$@"

# Teardown: nothing of ours may be left, the module must unload, and the vhost fabric dir
# removal + rmmod must give back what the run allocated.
suite_teardown
suite_unload "$mod"
mem_snapshot "$tmp/after"
mem_check "$tmp/before" "$tmp/after" 1024 16384
rm -rf "$tmp"
suite_dmesg "$mark"
suite_finish
