#!/bin/bash
# make demo: from a fresh Debian 12 machine (as root) to a nested guest doing
# verified I/O through tcm_vhost.  Installs what is missing, builds, boots the
# test VM (Debian's kernel, this machine's root), and runs tests/e2e/demo.sh
# there: load tcm_vhost, create a ramdisk LUN, boot a guest with QEMU
# vhost-scsi-pci, write a pattern, read it back, compare, report.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

echo "== installing what is missing"
scripts/deps.sh
export KV=${KV:-$(scripts/kernel-version.sh)}
echo "== building tcm_vhost.ko for $KV"
make -s modules
echo "== preparing the VM (kernel $KV)"
tests/vm/kernel.sh prepare >/dev/null
echo "== booting the VM"
exec tests/vm/run -t "${DEMO_TIMEOUT:-900}" -- tests/e2e/demo.sh tcm_vhost
