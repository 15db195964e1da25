#!/bin/bash
# Long fuzz run of one seed: tests/fuzz/run-long.sh SECONDS SEED [MODULE]
# On the build machine it boots an L1 VM (tests/vm/run) and re-runs itself inside, where it
# loads the module, fuzzes for SECONDS, unloads and checks for leaks (tests/fuzz/run.sh).
# Wired as: make fuzz SECONDS=N SEED=S  ->  tests/fuzz/run-long.sh N S
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

if [[ ${1:-} == --in-vm ]]; then
	shift
	FUZZ_SECONDS=${1:-600} FUZZ_SEEDS=${2:-1} exec bash "$here/run.sh" "${3:-tcm_vhost}"
fi
secs=${1:-600} seed=${2:-1} mod=${3:-tcm_vhost}
[[ $secs =~ ^[0-9]+$ && $seed =~ ^[0-9]+$ ]] || { echo "usage: $0 SECONDS SEED [MODULE]" >&2; exit 2; }
make -C "$root/tests/fuzz" >/dev/null || exit 1
# VM boot + module load (depmod) + the run + teardown
exec "$root/tests/vm/run" -t $((secs + 900)) -- bash tests/fuzz/run-long.sh --in-vm "$secs" "$seed" "$mod"
