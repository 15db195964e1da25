#!/bin/bash
# Print the kernel release(s) (KV) the project builds and tests for.
#
#   kernel-version.sh          the default kernel: KV from the environment if
#                              set, else the first of --all
#   kernel-version.sh --all    every Debian kernel series the package lists
#                              offer, newest first, one release a line: what
#                              linux-image-amd64 depends on (6.1 on Debian 12,
#                              6.12 on Debian 13) and each series meta-package
#                              linux-image-X.Y-amd64 (Debian 12's 6.12)
#
# Resolved from the package lists at run time, never a hard-coded ABI number.
set -euo pipefail

release_of() {
	apt-cache depends "$1" 2>/dev/null |
		sed -n 's/^ *Depends: linux-image-\(.*\)$/\1/p' | head -n 1
}

all_releases() {
	local meta
	{
		release_of linux-image-amd64
		apt-cache pkgnames linux-image- 2>/dev/null |
			grep -E '^linux-image-[0-9]+\.[0-9]+-amd64$' |
			while read -r meta; do release_of "$meta"; done
	} | grep -v '^$' | sort -u -V -r
}

if [ "${1:-}" = --all ]; then
	kvs=$(all_releases)
	[ -n "$kvs" ] || { echo "kernel-version: no kernel in the package lists (run apt-get update)" >&2; exit 1; }
	echo "$kvs"
	exit 0
fi
if [ -n "${KV:-}" ]; then
	echo "$KV"
	exit 0
fi
kv=$(all_releases | head -n 1)
if [ -z "$kv" ]; then
	echo "kernel-version: cannot resolve linux-image-amd64 (run apt-get update, or set KV=)" >&2
	exit 1
fi
echo "$kv"
