#!/bin/bash
# The DKMS package on a clean Debian system, as a user installs it.
#
#   tests/pkg/dkms.sh [SUITE]        (as root; SUITE bookworm (default) or trixie)
#
# A debootstrap root of SUITE (built once, cached in ${TCM_VHOST_CACHE:-/var/cache/tcm_vhost}/
# pkg-SUITE; each run works on a fresh copy) gets only the headers and linux-source of the
# first kernel, then `apt-get install ./tcm-vhost-dkms_*.deb`: dkms status must show
# tcm_vhost installed for it.  Then the second kernel's headers arrive as a kernel update
# would bring them, and DKMS must build the module for it by itself.  The module's
# vermagic must match each kernel, the modprobe.d file must be there, and removing the
# package must remove the modules.  Kernels: scripts/kernel-version.sh --all (bookworm:
# 6.1 and 6.12), or the suite's own linux-image-amd64 for trixie.
# Output: PASS/FAIL lines "pkg/...", then "N passed, N failed"; exit status 1 on a FAIL.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
suite=${1:-bookworm}
cache=${TCM_VHOST_CACHE:-/var/cache/tcm_vhost}
base=$cache/pkg-$suite
work=$cache/pkg-$suite.run
log=$top/build/pkg-$suite.log
pass=0 fail=0
ok() { echo "PASS: pkg/$suite/$1"; pass=$((pass + 1)); }
ko() { echo "FAIL: pkg/$suite/$1: $2"; fail=$((fail + 1)); }
die() { ko "$1" "$2"; echo "$pass passed, $fail failed"; exit 1; }
in_root() { chroot "$work" env DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 "$@"; }

mkdir -p "$top/build" "$cache"
: >"$log"
deb=$("$top/scripts/mkdeb.sh") || die build "make deb failed"

if [ ! -x "$base/usr/bin/apt-get" ]; then
	command -v debootstrap >/dev/null ||
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >>"$log" 2>&1
	m=$("$top/scripts/debian-mirror.sh")
	echo "pkg: debootstrap $suite into $base (once)" >&2
	rm -rf "$base.tmp"
	debootstrap --variant=minbase "$suite" "$base.tmp" "$m" >>"$log" 2>&1 ||
		die debootstrap "see $log"
	mv "$base.tmp" "$base"
fi

cleanup() {
	for d in var/cache/apt/archives dev/pts dev proc sys; do
		mountpoint -q "$work/$d" && umount -l "$work/$d"
	done
	rm -rf "$work"
}
trap cleanup EXIT
cleanup
cp -a "$base" "$work"
mount -t proc proc "$work/proc"
mount -t sysfs sys "$work/sys"
mount --bind /dev "$work/dev"
mount --bind /dev/pts "$work/dev/pts"
# Downloaded packages are kept for the next run (the root itself is fresh each time).
mkdir -p "$cache/pkg-$suite.archives/partial"
mount --bind "$cache/pkg-$suite.archives" "$work/var/cache/apt/archives"
cp /etc/resolv.conf "$work/etc/resolv.conf" 2>/dev/null
# The suite with its updates and security archives, from this machine's apt sources
# (kernel packages are updated there, not in the release).
if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
	rm -f "$work/etc/apt/sources.list"
	sed "s/\bbookworm\b/$suite/g" /etc/apt/sources.list.d/*.sources \
		>"$work/etc/apt/sources.list.d/debian.sources"
fi
# A kernel package's initramfs is of no use in a chroot and costs minutes.
in_root dpkg-divert --local --rename --add /usr/sbin/update-initramfs >>"$log" 2>&1
ln -sf /bin/true "$work/usr/sbin/update-initramfs"
in_root apt-get update -qq >>"$log" 2>&1 || die apt-update "see $log"

if [ "$suite" = bookworm ]; then
	kvs=$("$top/scripts/kernel-version.sh" --all | sort -V)
else
	kvs=$(in_root apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/.*Depends: linux-image-\([0-9].*-amd64\)$/\1/p' | head -n 1)
fi
[ -n "$kvs" ] || die kernels "no kernel found for $suite"
first=$(echo "$kvs" | head -n 1)
source_pkgs() {
	local kv v
	for kv in "$@"; do
		v=$(in_root apt-cache show "linux-headers-$kv" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1)
		echo "linux-source-$(echo "$kv" | sed -E 's/^([0-9]+\.[0-9]+).*/\1/')=$v"
	done
}
echo "pkg: $suite, kernels: $(echo $kvs)" >&2
# shellcheck disable=SC2046
in_root apt-get install -y -qq --no-install-recommends "linux-headers-$first" \
	$(source_pkgs $kvs) >>"$log" 2>&1 || die "headers-$first" "see $log"

# installed_for KV: dkms status says so, and the module is built for KV.
installed_for() {
	local kv=$1 ko vm
	in_root dkms status -m tcm-vhost -k "$kv" 2>/dev/null | grep -q ": installed" || return 1
	ko=$(in_root modinfo -k "$kv" -n tcm_vhost 2>/dev/null) || return 1
	vm=$(in_root modinfo -k "$kv" -F vermagic tcm_vhost 2>/dev/null)
	[[ $ko == */updates/dkms/* && $vm == "$kv "* ]]
}

cp "$deb" "$work/tmp/"
if in_root apt-get install -y -qq "/tmp/$(basename "$deb")" >>"$log" 2>&1; then
	ok install
else
	ko install "apt-get install ./$(basename "$deb") failed (see $log)"
fi
if installed_for "$first"; then
	ok "built-$first"
else
	ko "built-$first" "dkms status: $(in_root dkms status 2>&1 | tr '\n' ' ')"
fi
[ -f "$work/etc/modprobe.d/tcm-vhost.conf" ] && ok modprobe-conf ||
	ko modprobe-conf "/etc/modprobe.d/tcm-vhost.conf missing"

# A kernel update: its headers arrive after the package; DKMS's hook builds it.
for kv in $(echo "$kvs" | tail -n +2); do
	if ! in_root apt-get install -y -qq --no-install-recommends "linux-headers-$kv" >>"$log" 2>&1; then
		ko "headers-$kv" "see $log"
		continue
	fi
	if installed_for "$kv"; then
		ok "built-after-update-$kv"
	else
		ko "built-after-update-$kv" "dkms status: $(in_root dkms status 2>&1 | tr '\n' ' ')"
	fi
done

if in_root apt-get remove -y -qq tcm-vhost-dkms >>"$log" 2>&1 &&
	[ -z "$(in_root dkms status -m tcm-vhost 2>/dev/null)" ] &&
	! find "$work/lib/modules" -name 'tcm_vhost.ko*' | grep -q .; then
	ok remove
else
	ko remove "modules or DKMS state left after apt-get remove"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
