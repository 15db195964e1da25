#!/bin/bash
# PID 1 of a test VM (L1 or L2) after the initramfs switched into the shared root.
# Its run dir (the dir of this file) holds:
#   env   exported variables (TCMV_NONCE, TCMV_CWD, KV, forwarded test variables)
#   cmd   the command, run with `bash -c`
# It prints TCMV-BEGIN-<nonce>, the command's output, any kernel complaints found in dmesg,
# then "TCMV-END-<nonce> rc=<status> complaints=<count>", saves dmesg to the run dir and
# powers off.
set -u
run=$(dirname "$0")
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C.UTF-8
# shellcheck source=/dev/null
. "$run/env"

mkdir -p /dev/pts /dev/shm
# devtmpfs lacks the /dev/fd links that bash process substitution needs
ln -sfn /proc/self/fd /dev/fd
ln -sfn /proc/self/fd/0 /dev/stdin
ln -sfn /proc/self/fd/1 /dev/stdout
ln -sfn /proc/self/fd/2 /dev/stderr
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
modprobe configfs 2>/dev/null
mount -t configfs configfs /sys/kernel/config 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
hostname "${TCMV_HOSTNAME:-vm}"
ip link set lo up 2>/dev/null

echo "TCMV-BEGIN-$TCMV_NONCE"
# A task that hangs in the kernel is reported (hung_task, KERN_ERR) without its stack, which
# the console's loglevel hides; nothing after it can finish either. So the first report gets
# the blocked tasks' stacks and the CPUs' backtraces printed here, and the VM powers off a
# minute later instead of running into its timeout. The parent sees no exit marker.
hang_watch() {
	local s
	while sleep 10; do
		dmesg | grep -q 'blocked for more than' || continue
		echo "stage2: a task hung in the kernel; blocked tasks and CPU backtraces follow"
		s=$(dmesg | wc -l)
		echo w >/proc/sysrq-trigger
		echo l >/proc/sysrq-trigger
		sleep 2
		dmesg | grep -m 3 'blocked for more than'
		dmesg | tail -n +"$s" | head -n 300
		sleep 60
		echo "stage2: powering off after the hung task"
		echo o >/proc/sysrq-trigger
		return
	done
}
hang_watch &
hang_pid=$!
cd "${TCMV_CWD:-/}" || echo "stage2: cannot cd to $TCMV_CWD"
bash -c "$(<"$run/cmd")" </dev/null
rc=$?
kill "$hang_pid" 2>/dev/null

# On a debug kernel (make check-debug): kmemleak's report of what is
# unreferenced now (two scans: an object must be seen unreferenced twice),
# and the module's line counts (gcov) into TCMV_GCOV_DIR/<this run>.
if [[ -w /sys/kernel/debug/kmemleak ]]; then
	echo scan >/sys/kernel/debug/kmemleak
	sleep 6
	echo scan >/sys/kernel/debug/kmemleak
	cat /sys/kernel/debug/kmemleak >"$run/kmemleak" 2>/dev/null
	leaks=$(grep -c '^unreferenced object' "$run/kmemleak")
	if ((leaks > 0)); then
		echo "kmemleak: $leaks unreferenced objects; the first:" >/dev/kmsg
		awk '/^unreferenced object/ { n++ } n == 1' "$run/kmemleak" | head -n 20 |
			sed 's/^/kmemleak: /'
	fi
fi
if [[ -n ${TCMV_GCOV_DIR:-} && -d /sys/kernel/debug/gcov ]]; then
	mkdir -p "$TCMV_GCOV_DIR/$TCMV_NONCE"
	find /sys/kernel/debug/gcov -name 'tcm_vhost*.gcda' | while IFS= read -r f; do
		cat "$f" >"$TCMV_GCOV_DIR/$TCMV_NONCE/${f##*/}"
	done
fi

# Kernel complaints: anything that means the kernel found a bug. Harmless emulation
# artifacts are ignored: kvm_amd's "Unhandled WRMSR" in L1, and L2's boot-time
# "XSAVE consistency problem" warning (nested SVM under TCG reports an XSAVE size that
# does not match the features it offers; it fires before any module is loaded); so is
# the debug kernel's boot line that names an RCU debug option.
pattern='WARNING:|BUG:|Oops|refcount_t|use-after-free|list_del corruption|hung_task|blocked for more than|general protection|KASAN|kmemleak: [0-9]+ unreferenced'
ignore='Unhandled WRMSR|WARNING: CPU: [0-9]+ PID: 0 at arch/x86/kernel/fpu/xstate.c:[0-9]+ fpu__init_system_xstate|RCU callback double-/use-after-free debug is enabled'
complaints=$(dmesg | grep -E "$pattern" | grep -Ev "$ignore")
n=0
if [[ -n $complaints ]]; then
	n=$(wc -l <<<"$complaints")
	while IFS= read -r line; do echo "KERNEL-COMPLAINT: $line"; done <<<"$complaints"
fi
dmesg >"$run/dmesg" 2>/dev/null
# The result file is what the parent reads first; the console marker is the fallback
# (kernel messages can interleave with it on the serial line).
echo "rc=$rc complaints=$n" >"$run/result"
sync
# From here on only builtins: once power-off starts, executables on 9p may not load, and
# PID 1 must not exit (that would panic). A FIFO held open gives read -t a blocking input.
mkfifo /run/tcmv-wait && exec 3<>/run/tcmv-wait
echo "TCMV-END-$TCMV_NONCE rc=$rc complaints=$n"
read -r -t 0.3 -u 3 # let the tty drain before the power-off messages
echo o >/proc/sysrq-trigger
while :; do read -r -t 60 -u 3 || sleep 1; done
