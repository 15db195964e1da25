#!/bin/bash
# Kernel and initramfs cache for the VM test bed.
#
#   kernel.sh kv        print the Debian kernel ABI name (KV) the VMs boot
#   kernel.sh deps      apt-get install the host tools the VMs need (only missing ones)
#   kernel.sh prepare   fill ${TCM_VHOST_CACHE:-/var/cache/tcm_vhost}/$KV and print that dir
#   kernel.sh depmod [KO]  the module indexes with KO as updates/tcm_vhost.ko (or
#                       without it), under $KV/depmod/; print their dir
#
# KV defaults to what linux-image-amd64 depends on; override with KV=... (e.g. a 6.12 kernel).
# The cache dir holds: vmlinuz, lib/modules/$KV (extracted from the image .deb, depmod'ed),
# initrd.gz (L1 initramfs) and initrd-l2.gz (L2 initramfs).
set -euo pipefail

CACHE_ROOT=${TCM_VHOST_CACHE:-/var/cache/tcm_vhost}
# dbus: targetcli needs a system bus in the VM; xz-utils: for compressed modules

die() { echo "kernel.sh: $*" >&2; exit 1; }
say() { echo "kernel.sh: $*" >&2; }

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# The project's one answer to "which kernel" and "which packages".
resolve_kv() { "$top/scripts/kernel-version.sh"; }
apt_install_missing() { "$top/scripts/deps.sh"; }

# The /init of both initramfs images (busybox sh). Kernel command line parameters:
#   tcmv.run=DIR    per-run dir (after switch_root) holding stage2 + cmd
#   tcmv.mods=PATH  L1 only: extracted modules dir on the host root, bind-mounted on
#                   /lib/modules/$(uname -r)
#   tcmv.rw=PATH    mount the 9p share "rw" read-write on PATH (L1: the project on
#                   /project; L2: the run dir L1 made for it)
# The 9p share "hostroot" is the parent's / (read-only), overlaid with a tmpfs.
write_init() {
	cat <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() { echo "initramfs: $*"; echo o >/proc/sysrq-trigger; sleep 100; }
# a failed insmod (e.g. a CPU-specific crc helper) is not fatal: the mounts below tell
while read -r m; do insmod "/mods/$m" || echo "initramfs: insmod $m failed"; done </mods/order
run= mods= rw=
for a in $(cat /proc/cmdline); do
	case $a in
	tcmv.run=*) run=${a#*=} ;;
	tcmv.mods=*) mods=${a#*=} ;;
	tcmv.rw=*) rw=${a#*=} ;;
	esac
done
mkdir -p /lower /rw /root
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 hostroot /lower ||
	fail "cannot mount hostroot"
mount -t tmpfs -o mode=0755 rw /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /root ||
	fail "cannot mount overlay"
for d in tmp run; do mount -t tmpfs -o mode=1777 "$d" "/root/$d"; done
if [ -n "$mods" ]; then
	mkdir -p "/root/lib/modules/$(uname -r)"
	mount --bind "/root$mods" "/root/lib/modules/$(uname -r)" || fail "cannot bind $mods"
fi
if [ -n "$rw" ]; then
	mkdir -p "/root$rw"
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 rw "/root$rw" ||
		fail "cannot mount the rw share on $rw"
fi
for d in proc sys dev; do mount --move "/$d" "/root/$d"; done
[ -f "/root$run/stage2" ] || fail "no $run/stage2"
exec switch_root /root /bin/bash "$run/stage2"
EOF
}

# Modules (in load order, .ko files relative to the modules dir) that the initramfs needs.
module_list() {
	local base=$1 kv=$2
	shift 2
	local m
	for m in "$@"; do
		modprobe -d "$base" -S "$kv" --show-depends "$m" ||
			die "module $m not found for $kv"
	done | sed -n 's|^insmod [^ ]*/lib/modules/[^/]*/||p' | awk '!seen[$0]++'
}

build_initrd() {
	local out=$1 base=$2 kv=$3
	shift 3
	local tmp mdir m dst
	tmp=$(mktemp -d)
	mdir=$(modules_dir "$base" "$kv")
	mkdir -p "$tmp"/{bin,mods,proc,sys,dev}
	cp /bin/busybox "$tmp/bin/busybox"
	write_init >"$tmp/init"
	chmod 755 "$tmp/init"
	: >"$tmp/mods/order"
	while read -r m; do
		dst=$(basename "$m")
		case $dst in
		*.ko.xz) xz -dc "$mdir/$m" >"$tmp/mods/${dst%.xz}"; dst=${dst%.xz} ;;
		*.ko.zst) zstd -qdc "$mdir/$m" >"$tmp/mods/${dst%.zst}"; dst=${dst%.zst} ;;
		*.ko.gz) gzip -dc "$mdir/$m" >"$tmp/mods/${dst%.gz}"; dst=${dst%.gz} ;;
		*) cp "$mdir/$m" "$tmp/mods/$dst" ;;
		esac
		echo "$dst" >>"$tmp/mods/order"
	done < <(module_list "$base" "$kv" "$@")
	(cd "$tmp" && find . | cpio -o -H newc --quiet) | gzip -1 >"$out.tmp"
	mv "$out.tmp" "$out"
	rm -rf "$tmp"
}

# Debian 12 keeps modules in /lib/modules; newer packages may use /usr/lib/modules.
modules_dir() {
	local base=$1 kv=$2
	if [[ -d $base/lib/modules/$kv ]]; then
		echo "$base/lib/modules/$kv"
	else
		echo "$base/usr/lib/modules/$kv"
	fi
}

# The module indexes that `depmod -a` writes (modules.dep, .alias, .symbols,
# their .bin forms, ...): every modules.* file but depmod's own inputs.
index_files() {
	find "$1" -maxdepth 1 -name 'modules.*' ! -name modules.order \
		! -name modules.builtin ! -name modules.builtin.modinfo
}

# depmod_index KV [KO]: a dir with KV's module indexes as `depmod -a` writes
# them once KO is installed as updates/tcm_vhost.ko (without KO: the kernel's
# own), built here once per KO.  Natively that takes seconds; depmod in L1,
# under TCG, reads every (xz-compressed) module over 9p: about a minute on
# 6.12, half that on 6.1, at each fabric_load.  guest-lib.sh's fabric_install
# copies these in instead.
depmod_index() {
	local kv=$1 ko=${2:-} mdir out tmp base f
	mdir=$(modules_dir "$CACHE_ROOT/$kv/image" "$kv")
	out=$CACHE_ROOT/$kv/depmod/stock
	[[ -z $ko ]] || out=$CACHE_ROOT/$kv/depmod/$(sha256sum "$ko" | cut -c1-16)
	if [[ ! -f $out/modules.dep.bin ]]; then
		tmp=$(mktemp -d "$CACHE_ROOT/$kv/depmod.XXXXXX")
		base=$tmp/lib/modules/$kv
		if [[ -z $ko ]]; then
			base=$mdir
		else
			mkdir -p "$base/updates"
			for f in kernel modules.order modules.builtin modules.builtin.modinfo; do
				[[ ! -e $mdir/$f ]] || ln -s "$mdir/$f" "$base/$f"
			done
			cp "$ko" "$base/updates/tcm_vhost.ko"
			depmod -b "$tmp" "$kv" || die "depmod for $ko failed"
		fi
		mkdir -p "$tmp/out"
		index_files "$base" | xargs cp -t "$tmp/out"
		mkdir -p "${out%/*}"
		rm -rf "$out"
		mv "$tmp/out" "$out"
		rm -rf "$tmp"
		# one index per module build: keep the last day's
		find "${out%/*}" -mindepth 1 -maxdepth 1 -type d ! -name stock -mtime +0 \
			-exec rm -rf {} + 2>/dev/null || true
	fi
	touch "$out"
	echo "$out"
}

L1_MODULES=(virtio_pci 9pnet_virtio 9p overlay)
L2_MODULES=(virtio_pci 9pnet_virtio 9p overlay virtio_scsi sd_mod)

prepare() {
	local kv=$1 dir deb stamp want
	dir=$CACHE_ROOT/$kv
	mkdir -p "$dir"
	if [[ ! -f $dir/vmlinuz || ! -d $dir/image ]]; then
		deb=$(find "$CACHE_ROOT" -maxdepth 1 -name "linux-image-${kv}-unsigned_*.deb" | head -n1)
		if [[ -z $deb ]]; then
			say "downloading linux-image-$kv-unsigned"
			(cd "$CACHE_ROOT" && apt-get download "linux-image-$kv-unsigned" >&2) ||
				die "apt-get download linux-image-$kv-unsigned failed"
			deb=$(find "$CACHE_ROOT" -maxdepth 1 -name "linux-image-${kv}-unsigned_*.deb" | head -n1)
		fi
		say "extracting $(basename "$deb")"
		rm -rf "$dir/image.tmp"
		dpkg -x "$deb" "$dir/image.tmp"
		depmod -b "$dir/image.tmp" "$kv" ||
			depmod -b "$dir/image.tmp/usr" "$kv"
		rm -rf "$dir/image" "$dir/depmod"
		mv "$dir/image.tmp" "$dir/image"
		cp "$dir/image/boot/vmlinuz-$kv" "$dir/vmlinuz.tmp"
		mv "$dir/vmlinuz.tmp" "$dir/vmlinuz"
	fi
	# Rebuild the initramfs images whenever the init script or module lists change.
	want=$({ write_init; echo "${L1_MODULES[*]} / ${L2_MODULES[*]}"; } | md5sum | cut -d' ' -f1)
	stamp=$dir/initrd.stamp
	if [[ ! -f $dir/initrd.gz || ! -f $dir/initrd-l2.gz || $(cat "$stamp" 2>/dev/null) != "$want" ]]; then
		say "building initramfs images"
		build_initrd "$dir/initrd.gz" "$dir/image" "$kv" "${L1_MODULES[@]}"
		build_initrd "$dir/initrd-l2.gz" "$dir/image" "$kv" "${L2_MODULES[@]}"
		echo "$want" >"$stamp"
	fi
	echo "$dir"
}

case ${1:-} in
kv) resolve_kv ;;
deps) apt_install_missing ;;
prepare)
	apt_install_missing
	mkdir -p "$CACHE_ROOT"
	exec 8>>"$CACHE_ROOT/.prepare.lock" # concurrent runs must not build the same files
	flock 8
	prepare "$(resolve_kv)"
	;;
depmod)
	# Host side of fabric_install: the indexes with KO ($2) installed, or
	# without it; prints their dir.
	mkdir -p "$CACHE_ROOT"
	exec 8>>"$CACHE_ROOT/.prepare.lock"
	flock 8
	depmod_index "$(resolve_kv)" "${2:-}"
	;;
mods-dir)
	# Helper for run: path of the extracted modules for KV inside the cache.
	kv=$(resolve_kv)
	modules_dir "$CACHE_ROOT/$kv/image" "$kv"
	;;
*)
	echo "usage: $0 kv|deps|prepare|depmod [KO]|mods-dir" >&2
	exit 2
	;;
esac
