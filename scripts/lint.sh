#!/bin/bash
# Static checks for the kernel sources; silent and exit 0 when clean.
#   lint.sh checkpatch FILES...   checkpatch.pl --strict --no-tree
#   lint.sh all FILES...          checkpatch + sparse (C=2) + a W=1 build
# checkpatch.pl comes from Debian's linux-source-X.Y tarball (extracted once).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
mode=$1
shift
kv=${KV:-$("$top/scripts/kernel-version.sh")}
mm=$(echo "$kv" | sed -E 's/^([0-9]+\.[0-9]+).*/\1/')
tools=$top/build/tools
cp_pl=$tools/linux-source-$mm/scripts/checkpatch.pl
if [ ! -f "$cp_pl" ]; then
	tarball=/usr/src/linux-source-$mm.tar.xz
	if [ ! -f "$tarball" ]; then
		echo "lint: $tarball missing: apt-get install linux-source-$mm (or: make deps)" >&2
		exit 1
	fi
	mkdir -p "$tools"
	tar -xJf "$tarball" -C "$tools" \
		"linux-source-$mm/scripts/checkpatch.pl" \
		"linux-source-$mm/scripts/spelling.txt" \
		"linux-source-$mm/scripts/const_structs.checkpatch"
fi

fail=0
cd "$top"
out=$(perl "$cp_pl" --strict --no-tree --quiet --show-types -f "$@" 2>&1) || fail=1
if [ -n "$out" ]; then
	echo "$out"
	fail=1
fi
if [ "$mode" = all ]; then
	command -v sparse >/dev/null || { echo "lint: sparse missing: apt-get install sparse" >&2; exit 1; }
	log=$(make -s modules C=2 W=1 2>&1 | grep -vE '^\s*(CHECK|CC|LD|MODPOST|BTF)' || true)
	# Anything kbuild prints besides progress is a warning or an error.
	log=$(echo "$log" | grep -vE "^make(\[[0-9]+\])?: (Entering|Leaving) directory|Skipping BTF" || true)
	if [ -n "$log" ]; then
		echo "$log"
		fail=1
	fi
fi
exit $fail
