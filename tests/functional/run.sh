#!/bin/bash
# Functional suite INSIDE L1: load MODULE, run vsc-functional, tear down, unload, then
# check slab growth and dmesg.
#
#   tests/functional/run.sh tcm_vhost|vhost_scsi [vsc-functional args, e.g. --filter io.]
#
# Prints the binary's PASS/FAIL/SKIP/XFAIL lines plus its own checks (functional/run.*:
# on a whole run the trace tools of trace-tools.sh, then the teardown's), then one
# summary line "N passed, N failed, N skipped, N xfail".
# Exit status 1 on any FAIL.
suite=functional
# shellcheck source=../lib/suite-preamble.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/suite-preamble.sh"

suite_start functional "$bin" "$mod"
suite_run "$bin" --module "$mod" "$@"
# shellcheck source=trace-tools.sh
. "$here/trace-tools.sh"
[[ $# -eq 0 ]] && trace_tools_check
# Nothing of ours may be left, the module must unload, and the vhost fabric dir removal
# and rmmod must give back what the run allocated.
suite_end "$mod" 1024 16384
