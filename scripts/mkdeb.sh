#!/bin/bash
# make deb: build/deb/tcm-vhost-dkms_<version>_all.deb from this tree.
# Sources go to /usr/src/tcm-vhost-<version> (what dkms.conf builds), the
# modprobe.d snippet to /etc/modprobe.d/tcm-vhost.conf.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
version=$(sed -n 's/^#define TVH_VERSION "\(.*\)"$/\1/p' tcm_vhost.h)
dkms_version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' dkms.conf)
if [ -z "$version" ] || [ "$version" != "$dkms_version" ]; then
	echo "mkdeb: TVH_VERSION ($version) and dkms.conf's PACKAGE_VERSION ($dkms_version) differ" >&2
	exit 1
fi
out=$top/build/deb
pkg=$out/pkg
rm -rf "$pkg"
src=$pkg/usr/src/tcm-vhost-$version
mkdir -p "$src/scripts" "$pkg/DEBIAN" "$pkg/etc/modprobe.d" \
	"$pkg/usr/share/doc/tcm-vhost-dkms"
cp Kbuild Makefile dkms.conf $(scripts/sources.sh) "$src/"
cp scripts/vhost-h.sh scripts/kernel-version.sh scripts/sources.sh "$src/scripts/"
cp packaging/tcm-vhost.modprobe.conf "$pkg/etc/modprobe.d/tcm-vhost.conf"
cp README.md "$pkg/usr/share/doc/tcm-vhost-dkms/"
printf 'tcm_vhost\nLicense: GPL-2.0\n' >"$pkg/usr/share/doc/tcm-vhost-dkms/copyright"
for f in control postinst prerm; do
	sed "s/@VERSION@/$version/g" "packaging/$f" >"$pkg/DEBIAN/$f"
done
chmod 755 "$pkg/DEBIAN/postinst" "$pkg/DEBIAN/prerm"
echo /etc/modprobe.d/tcm-vhost.conf >"$pkg/DEBIAN/conffiles"
deb=$out/tcm-vhost-dkms_${version}_all.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "$deb"
