#!/bin/bash
# tests/vm/irq-while-masked.sh LOG: did a kernel in LOG (a VM's console) take a
# maskable interrupt while interrupts were masked?  Prints where, and exits 0 if so.
# A CPU never does that, whatever the kernel runs: it is the emulation.  Two kinds of
# evidence:
#
# - A backtrace whose RIP is in __svm_vcpu_run: between VMRUN and the host's VMLOAD the
#   CPU runs with GIF clear, where no interrupt can arrive; one that TCG delivers there
#   runs with the guest's GS base and faults until the stack overflows.
# - A backtrace (a soft-lockup panic, an oops) whose task part was interrupted by
#   asm_common_interrupt or asm_sysvec_* at a RIP whose EFLAGS has IF clear.  Seen
# under TCG's nested SVM (L0 QEMU 10) in L1 and L2: the interrupt arrives inside
# spin_lock_irqsave() of 9p's channel lock, its handler spins on the same lock, and the
# CPU is stuck for good (a soft lockup in p9_virtio_request -> vp_notify, with
# req_done spinning above it).
set -euo pipefail
log=${1:?usage: irq-while-masked.sh LOG}
[[ -r $log ]] || exit 1
# shellcheck disable=SC2016 # the $ are awk's
awk '
	{ sub(/^\[ *[0-9.]+\] */, "") }
	/^RIP: 0010:__svm_vcpu_run\+/ {
		printf "an interrupt at %s, where GIF is clear\n", substr($2, 6)
		found = 1
		exit
	}
	/^ *<\/IRQ>/ { task = 1; prev = ""; next }
	task && /^RIP: 0010:/ {
		entry = prev ~ /asm_(common_interrupt|sysvec_[a-z_]+)\+/
		rip = substr($2, 6)
		if (!entry)
			task = 0
		next
	}
	task && entry && /EFLAGS: [0-9a-f]+/ {
		match($0, /EFLAGS: [0-9a-f]+/)
		fl = substr($0, RSTART + 8, RLENGTH - 8)
		d = index("0123456789abcdef", substr(fl, length(fl) - 2, 1)) - 1
		if (int(d / 2) % 2 == 0) {
			printf "an interrupt arrived at %s with interrupts masked (EFLAGS %s)\n", rip, fl
			found = 1
			exit
		}
		task = 0
	}
	{ prev = $0 }
	END { exit !found }' "$log"
