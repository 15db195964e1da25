#!/bin/bash
# Print a directory that holds drivers/vhost/vhost.h matching kernel KV.
#
# vhost.h is private to the kernel tree (linux-headers does not ship it), and
# tcm_vhost embeds struct vhost_dev and struct vhost_virtqueue, so the header
# must match the running vhost.ko exactly.  Looked for, in order:
#   1. $VHOST_H_DIR/vhost.h
#   2. $KDIR/drivers/vhost/vhost.h (a full kernel tree)
#   3. Debian's linux-source-X.Y package of exactly the kernel's version,
#      extracted once into CACHE_DIR.
#
# usage: vhost-h.sh KV KDIR CACHE_DIR
set -euo pipefail
kv=$1 kdir=$2 cache=$3

if [ -n "${VHOST_H_DIR:-}" ]; then
	if [ ! -f "$VHOST_H_DIR/vhost.h" ]; then
		echo "error: VHOST_H_DIR=$VHOST_H_DIR has no vhost.h" >&2
		exit 1
	fi
	echo "$VHOST_H_DIR"
	exit 0
fi
if [ -f "$kdir/drivers/vhost/vhost.h" ]; then
	echo "$kdir/drivers/vhost"
	exit 0
fi

mm=$(echo "$kv" | sed -E 's/^([0-9]+\.[0-9]+).*/\1/')
pkg=linux-source-$mm
want=$(dpkg-query -W -f '${Version}' "linux-headers-$kv" 2>/dev/null || true)
have=$(dpkg-query -W -f '${Version}' "$pkg" 2>/dev/null || true)
tarball=/usr/src/$pkg.tar.xz
if [ -z "$want" ] || [ "$have" != "$want" ] || [ ! -f "$tarball" ]; then
	cat >&2 <<MSG
error: drivers/vhost/vhost.h for $kv not found.
  It comes from Debian's $pkg package of the same version as
  linux-headers-$kv (${want:-not installed}); installed: ${have:-none}.
  Fix one of:  apt-get install $pkg${want:+=$want}   (or: make deps)
               make VHOST_H_DIR=/path/to/dir/with/vhost.h
               make KDIR=/path/to/full/kernel/tree
MSG
	exit 1
fi
out=$cache/vhost-h/$kv-$want
if [ ! -f "$out/vhost.h" ]; then
	mkdir -p "$out"
	tar -xJf "$tarball" -O "$pkg/drivers/vhost/vhost.h" >"$out/vhost.h.tmp"
	mv "$out/vhost.h.tmp" "$out/vhost.h"
fi
echo "$out"
