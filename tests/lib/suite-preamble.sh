# shellcheck shell=bash
# shellcheck disable=SC2034 # mod, here and bin are the runner's
# The start of every suite runner INSIDE L1 (tests/{functional,badinput,tmf,fuzz}/run.sh),
# sourced without arguments once the runner has named its suite:
#
#   suite=badinput
#   # shellcheck source=../lib/suite-preamble.sh
#   . "$(dirname "${BASH_SOURCE[0]}")/../lib/suite-preamble.sh"
#
# Sets -uo pipefail; mod: the module, the runner's first argument (else $FABRIC_MODULE,
# else tcm_vhost), shifted off the runner's arguments, which are the binary's from then
# on; here: the runner's directory; sources tests/vm/suite-lib.sh (which sets PROJECT);
# bin: the suite's binary, tests/bin/vsc-$suite.
set -uo pipefail

mod=${1:-${FABRIC_MODULE:-tcm_vhost}}
shift || true
here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
# shellcheck source=../vm/suite-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../vm/suite-lib.sh"
bin=$PROJECT/tests/bin/vsc-${suite:?the runner sets suite before sourcing this}
