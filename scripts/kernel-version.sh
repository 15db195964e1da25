#!/bin/bash
# Print the kernel release (KV) the project builds and tests for.
#   KV set in the environment wins; otherwise Debian's current
#   linux-image-amd64 decides (e.g. 6.1.0-56-amd64), never a hard-coded N.
set -euo pipefail
if [ -n "${KV:-}" ]; then
	echo "$KV"
	exit 0
fi
kv=$(apt-cache depends linux-image-amd64 2>/dev/null |
	sed -n 's/^ *Depends: linux-image-\(.*\)$/\1/p' | head -n 1)
if [ -z "$kv" ]; then
	echo "kernel-version: cannot resolve linux-image-amd64 (run apt-get update, or set KV=)" >&2
	exit 1
fi
echo "$kv"
