#!/bin/bash
# Install (only what is missing) every Debian package the project needs to
# build, check, test and benchmark tcm_vhost for kernel KV.  Idempotent and
# quiet when everything is there.
#
#   scripts/deps.sh            build + test packages, for every kernel of
#                              kernel-version.sh --all (or KV=... alone)
#   scripts/deps.sh --print    list them, install nothing
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

say() { echo "deps: $*" >&2; }

# apt-cache needs package lists: a fresh machine has none.
if ! apt-cache show linux-image-amd64 >/dev/null 2>&1; then
	say "apt-get update (no package lists yet)"
	apt-get update -qq >&2
fi
# Every kernel the suite runs on (KV=... picks one): headers, and the tree
# whose drivers/vhost/vhost.h and scripts/checkpatch.pl match them exactly.
if [ -n "${KV:-}" ] && [ "${TVH_KV_DEFAULTED:-}" != 1 ]; then
	kvs=$KV
else
	kvs=$("$top/scripts/kernel-version.sh" --all)
fi
kernel_packages=()
for kv in $kvs; do
	# built here by scripts/debug-kernel.sh (the cache names its release)
	[ -f "${TCM_VHOST_CACHE:-/var/cache/tcm_vhost}/$kv/release" ] && continue
	mm=$(echo "$kv" | sed -E 's/^([0-9]+\.[0-9]+).*/\1/')
	ver=$(apt-cache show "linux-headers-$kv" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1)
	[ -n "$ver" ] || { say "no linux-headers-$kv in the package lists"; exit 1; }
	kernel_packages+=("linux-headers-$kv" "linux-source-$mm=$ver")
done

packages=(
	make gcc perl xz-utils sparse "${kernel_packages[@]}"
	# the VM test bed and its guests
	qemu-system-x86 busybox-static kmod cpio
	# workloads and real clients inside the VM (targetcli needs a D-Bus
	# system bus; the TMF tests a dm-delay device)
	fio sg3-utils targetcli-fb dbus dmsetup jq
	# the trace tools the README names (tests/functional/trace-tools.sh)
	trace-cmd linux-perf bpftrace
	# a guest started by libvirt (tests/e2e/libvirt.sh)
	libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
	# benchmark report
	gnuplot-nox
)
if [ "${1:-}" = --print ]; then
	printf '%s\n' "${packages[@]}"
	exit 0
fi

missing=()
for p in "${packages[@]}"; do
	name=${p%%=*}
	want=${p#*=}
	[ "$want" = "$p" ] && want=
	have=$(dpkg-query -W -f '${Status} ${Version}' "$name" 2>/dev/null || true)
	case $have in
	"install ok installed ${want:-}"*) ;;
	*) missing+=("$p") ;;
	esac
done
[ ${#missing[@]} -eq 0 ] && exit 0
say "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
	{ apt-get update -qq >&2 &&
	  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; }
