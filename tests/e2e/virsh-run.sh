#!/bin/bash
# Run a transient libvirt domain to its end, with its serial console (a file) on stdout:
# what l2.sh runs instead of QEMU when L2_LIBVIRT=1.
#   tests/e2e/virsh-run.sh DOMAIN.xml CONSOLE-FILE
# Exit status 0 once the domain is gone (it powered off), 1 if libvirt would not start it;
# on SIGTERM (l2.sh's timeout) the domain is destroyed.
set -uo pipefail
xml=$1 console=$2
name=$(sed -n 's|.*<name>\(.*\)</name>.*|\1|p' "$xml")
tail_pid=
# shellcheck disable=SC2317 # the trap calls it
stop() {
	virsh -q destroy "$name" >/dev/null 2>&1
	[[ -n $tail_pid ]] && kill "$tail_pid" 2>/dev/null
	exit 124
}
trap stop TERM INT
: >"$console"
virsh -q create "$xml" >&2 || exit 1
tail -n +1 -F "$console" 2>/dev/null &
tail_pid=$!
while virsh -q domstate "$name" 2>/dev/null | grep -q running; do
	sleep 1
done
sleep 1 # the last console lines
kill "$tail_pid" 2>/dev/null
wait "$tail_pid" 2>/dev/null
exit 0
