#!/bin/bash
# A Debian 13 (trixie) root for the test bed: QEMU 10 and targetcli-fb from
# Debian's current stable release, run inside L1 (or on the build machine)
# through chroot.  Built once from Debian's package registry with debootstrap,
# cached outside the repo: ${TCM_VHOST_CACHE:-/var/cache/tcm_vhost}/trixie-root.
#
#   trixie.sh prepare            build the root if missing; print its path
#   trixie.sh path               print its path (exit 1 if it is not built)
#   trixie.sh run CMD [ARGS...]  run CMD in the root, with this system's /
#                                on /host and its /dev, /proc, /sys, /lib/modules
#                                (bound in a private mount namespace)
#
# Under `run`, paths of this system are /host/PATH: callers prefix them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${TCM_VHOST_CACHE:-/var/cache/tcm_vhost}
root=$cache/trixie-root
packages=(qemu-system-x86 targetcli-fb kmod dbus fio)
backports=
# TVH_TRIXIE_EMULATOR=1: the root of the emulator that runs L1 (tests/vm/run),
# trixie-backports' QEMU.  The likely cause of 10.0's lost L1s (a reading of
# its source, not a proof): VMRUN of a nested guest with V_IRQ set ORs a bit
# into the vCPU's interrupt_request without the lock other threads take to
# raise an IPI there, so that IPI can be lost; later QEMU sets those bits
# atomically.
if [[ ${TVH_TRIXIE_EMULATOR:-} == 1 ]]; then
	root=$cache/trixie-emulator-root
	packages=(qemu-system-x86)
	backports=trixie-backports
fi

die() { echo "trixie.sh: $*" >&2; exit 1; }

prepare() {
	local m tmp
	[[ -x $root/usr/bin/qemu-system-x86_64 ]] && { echo "$root"; return; }
	command -v debootstrap >/dev/null ||
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
	m=$("$here/../../scripts/debian-mirror.sh")
	[[ -n $m ]] || die "no Debian mirror in /etc/apt/sources.list*"
	tmp=$root.tmp
	rm -rf "$tmp"
	echo "trixie.sh: debootstrap trixie into $root (once; about a minute)" >&2
	debootstrap --variant=minbase trixie "$tmp" "$m" >"$root.log" 2>&1 ||
		die "debootstrap failed: see $root.log"
	mount -t proc proc "$tmp/proc"
	if [[ -n $backports ]]; then
		echo "deb $m $backports main" >"$tmp/etc/apt/sources.list.d/$backports.list"
		chroot "$tmp" apt-get update -qq >>"$root.log" 2>&1
	fi
	chroot "$tmp" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends ${backports:+-t "$backports"} "${packages[@]}" \
		>>"$root.log" 2>&1 ||
		{ umount "$tmp/proc"; die "apt-get install in the trixie root failed: see $root.log"; }
	umount "$tmp/proc"
	chroot "$tmp" apt-get clean
	mkdir -p "$tmp/host"
	mv "$tmp" "$root"
	echo "$root"
}

bind() {
	local src=$1 dst=$root$2
	mountpoint -q "$dst" && return
	mkdir -p "$dst"
	mount --rbind "$src" "$dst"
}

case ${1:-} in
prepare)
	mkdir -p "$cache"
	exec 8>>"$root.lock"
	flock 8
	prepare
	;;
path)
	[[ -x $root/usr/bin/qemu-system-x86_64 ]] || die "no trixie root (tests/vm/trixie.sh prepare)"
	echo "$root"
	;;
run)
	shift
	[[ -x $root/usr/bin/qemu-system-x86_64 ]] || die "no trixie root (tests/vm/trixie.sh prepare)"
	# The binds live in a mount namespace of this command's own: left on the
	# system, / under the root's /host would loop for anyone who later shares
	# / (a VM's 9p root, whose own trixie.sh then cannot bind).
	if [[ -z ${TVH_TRIXIE_NS:-} ]]; then
		TVH_TRIXIE_NS=1 exec unshare --mount --propagation private "$here/trixie.sh" run "$@"
	fi
	bind / /host
	bind /dev /dev
	bind /proc /proc
	bind /sys /sys
	[[ -d /lib/modules ]] && bind /lib/modules /lib/modules
	[[ -d /run ]] && bind /run /run	# the D-Bus system bus targetcli asks
	exec chroot "$root" "$@"
	;;
*)
	echo "usage: $0 prepare|path|run CMD..." >&2
	exit 2
	;;
esac
