#!/bin/bash
# Build the debug kernel of the VM test bed (#13), once, into the cache.
#
#   scripts/debug-kernel.sh [SERIES]     SERIES: 6.1 (default) or 6.12
#   scripts/debug-kernel.sh --check [SERIES]   exit 0 if that kernel is built
#                                        with every debug option listed here
#
# From Debian's linux-source-SERIES (the same source as the kernel the
# suites run), with a config trimmed to what the test bed loads plus
# KASAN, lockdep, DEBUG_ATOMIC_SLEEP, DEBUG_OBJECTS, kmemleak, KCOV,
# GCOV_KERNEL and fault injection.  The result, in
# ${TCM_VHOST_CACHE:-/var/cache/tcm_vhost}/debug-SERIES/:
#   build/            the kernel build tree (modules build against it: its
#                     vhost.h is this build's)
#   vmlinuz, image/lib/modules/RELEASE/   as tests/vm/kernel.sh lays out
#                     a Debian kernel
#   release           the kernel release string (uname -r in the VM)
# A second run only rebuilds what changed.  A progress line every minute.
set -euo pipefail

check=0
if [ "${1:-}" = --check ]; then
	check=1
	shift
fi
series=${1:-6.1}
cache=${TCM_VHOST_CACHE:-/var/cache/tcm_vhost}/debug-$series
tarball=/usr/src/linux-source-$series.tar.xz
jobs=$(nproc)

say() { echo "debug-kernel: $*" >&2; }
die() { say "$*"; exit 1; }

# What the test bed needs (built in, so the initramfs has nothing to load),
# then the module's neighbours as modules (the suites load and unload
# them), then the debug options.
builtin=(VIRTIO VIRTIO_PCI VIRTIO_CONSOLE SCSI_VIRTIO NET_9P NET_9P_VIRTIO
	9P_FS 9P_FS_POSIX_ACL OVERLAY_FS TMPFS DEVTMPFS BLK_DEV_INITRD
	SERIAL_8250 SERIAL_8250_CONSOLE BLK_DEV_SD CHR_DEV_SG EVENTFD
	CGROUPS MEMCG MD)
modular=(CONFIGFS_FS TARGET_CORE TCM_IBLOCK TCM_FILEIO TCM_PSCSI
	LOOPBACK_TARGET VHOST VHOST_SCSI KVM KVM_AMD KVM_INTEL BLK_DEV_DM
	DM_DELAY DM_FLAKEY SCSI_DEBUG BLK_DEV_LOOP)
# KASAN_VMALLOC: the command pools and big scatterlists are vmalloc'ed;
# it also gives back VMAP_STACK, as Debian's kernels have.
debug=(KASAN KASAN_GENERIC KASAN_INLINE KASAN_VMALLOC VMAP_STACK
	PROVE_LOCKING DEBUG_ATOMIC_SLEEP
	DEBUG_OBJECTS DEBUG_OBJECTS_WORK DEBUG_OBJECTS_TIMERS
	DEBUG_OBJECTS_RCU_HEAD DEBUG_KMEMLEAK KCOV GCOV_KERNEL FAULT_INJECTION
	FAILSLAB FAIL_PAGE_ALLOC FUNCTION_ERROR_INJECTION FAIL_FUNCTION
	FAULT_INJECTION_DEBUG_FS DEBUG_FS MODULES MODULE_UNLOAD KALLSYMS)
build=$cache/build

# has_debug_options: the cached tree's config has every option of debug[]
has_debug_options() {
	local o
	for o in "${debug[@]}"; do
		grep -q "^CONFIG_$o=y" "$build/.config" 2>/dev/null || return 1
	done
}

if [ "$check" = 1 ]; then
	[ -s "$cache/release" ] && [ -f "$cache/vmlinuz" ] && has_debug_options
	exit
fi

# the kernel's own build tools, where missing
need=()
for t in flex:flex bison:bison bc:bc pahole:dwarves; do
	command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
done
for h in libelf:libelf-dev openssl/opensslv:libssl-dev; do
	[ -f "/usr/include/${h%%:*}.h" ] || need+=("${h#*:}")
done
[ -f "$tarball" ] || need+=("linux-source-$series")
if [ ${#need[@]} -gt 0 ]; then
	say "installing ${need[*]}"
	apt-get install -y "${need[@]}" >/dev/null || die "cannot install ${need[*]}"
fi
mkdir -p "$cache"
src=$cache/linux-source-$series
if [ ! -f "$src/Makefile" ]; then
	say "unpacking $tarball"
	tar -C "$cache" -xf "$tarball"
fi

mkdir -p "$build"
cfg() { "$src/scripts/config" --file "$build/.config" "$@"; }
if [ ! -f "$build/.config" ]; then
	say "configuring (x86_64 defconfig + KVM guest + the test bed's needs)"
	make -s -C "$src" O="$build" x86_64_defconfig kvm_guest.config
	for o in "${builtin[@]}"; do cfg -e "$o"; done
	for o in "${modular[@]}"; do cfg -m "$o"; done
	cfg -d DEBUG_INFO -d DEBUG_INFO_BTF -d KASAN_OUTLINE -d GCOV_PROFILE_ALL
	cfg --set-str LOCALVERSION "-tcmvdebug" -d LOCALVERSION_AUTO
fi
# A debug option added above reaches a cached tree too (then most of it is
# built again).
if ! has_debug_options; then
	for o in "${debug[@]}"; do cfg -e "$o"; done
	make -s -C "$src" O="$build" olddefconfig
	for o in "${builtin[@]}" "${debug[@]}"; do
		grep -q "^CONFIG_$o=y" "$build/.config" || say "note: CONFIG_$o is not y"
	done
	for o in "${modular[@]}"; do
		grep -q "^CONFIG_$o=[ym]" "$build/.config" || say "note: CONFIG_$o is off"
	done
fi

say "building with $jobs jobs (log: $build/build.log)"
start=$(date +%s)
make -C "$src" O="$build" -j"$jobs" bzImage modules >"$build/build.log" 2>&1 &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
	sleep 60
	say "$(( ($(date +%s) - start) / 60 )) min, $(find "$build" -name '*.o' | wc -l) objects"
done
wait "$pid" || { tail -n 30 "$build/build.log" >&2; die "build failed"; }

release=$(make -s -C "$src" O="$build" kernelrelease)
rm -rf "$cache/image"
make -s -C "$src" O="$build" INSTALL_MOD_PATH="$cache/image" modules_install \
	>>"$build/build.log" 2>&1
# build/ is an O= tree without the sources' include/: tools that compile
# against the kernel's headers (bpftrace, with no BTF in this config) find
# them through source/, as in a kernel built in place.
ln -sfn "$src" "$cache/image/lib/modules/$release/source"
cp "$build/arch/x86/boot/bzImage" "$cache/vmlinuz"
echo "$release" >"$cache/release"
say "built $release in $(( ($(date +%s) - start) / 60 )) min: $cache"
