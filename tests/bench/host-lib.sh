#!/bin/bash
# Shared by probe.sh and prof.sh, ON THE HOST: a results directory, the builds, and one L1
# VM that runs the script's --in-vm part. The caller sets top (the tree).
# shellcheck disable=SC2154 # top comes from the caller

# bench_host_prepare KIND: make build/KIND/<timestamp> and print its path relative to the
# tree; build the module and the test programs, logged to its build.log
bench_host_prepare() {
	local rel
	rel=build/$1/$(date +%Y%m%d-%H%M%S)
	mkdir -p "$top/$rel" && echo "$rel"
	make -s -C "$top" >"$top/$rel/build.log" 2>&1 &&
		make -s -C "$top/tests" >>"$top/$rel/build.log" 2>&1 ||
		{ cat "$top/$rel/build.log" >&2; return 1; }
}

# bench_host_vm REL TIMEOUT ENV_REGEX SCRIPT [NAME]: run "bash SCRIPT --in-vm REL" in one
# L1 VM (tests/vm/run) for at most TIMEOUT seconds, with the variables whose names match
# ENV_REGEX; the VM's log goes to REL/NAME.log, its output to REL/NAME.out (NAME: vm).
# Returns the VM's status.
bench_host_vm() {
	local name envs=() vm=${5:-vm}
	for name in $(compgen -v | grep -E "$3"); do envs+=(-e "$name=${!name}"); done
	"$top/tests/vm/run" -t "$2" -l "$top/$1/$vm.log" "${envs[@]}" -- \
		"bash $4 --in-vm $1" >"$top/$1/$vm.out" 2>&1
}
