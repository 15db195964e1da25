#!/bin/bash
# tests/vm/irq-while-masked.sh LOG: did a kernel in LOG (a VM's console) take a
# maskable interrupt while interrupts were masked, or a CPU in a nested guest never take
# one?  Prints where, and exits 0 if so.  A CPU never does that, whatever the kernel
# runs: it is the emulation.  Four kinds of evidence:
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
# - A soft lockup of a CPU that waits for another to run its IPI
#   (smp_call_function_many_cond), where that other CPU then answers not even the
#   NMI of the all-CPU backtrace (tests/vm/run and l2.sh boot with
#   softlockup_all_cpu_backtrace=1): no "NMI backtrace for cpu N" of it, and the
#   panic comes only after the 10 s the kernel waits for that backtrace.  Only GIF
#   clear holds off an NMI: the CPU sits in a nested guest's VMRUN and the emulation
#   never lets it out (seen: khugepaged's TLB flush waiting 26 s while a 2-vCPU L2
#   booted).  A CPU stuck anywhere else, a module's loop with interrupts off
#   included, prints its backtrace.  The VMs have 2 CPUs unless the log says.
# - A vCPU thread (a task of QEMU running KVM, as the first kind) that panics with
#   "corrupted stack end detected inside scheduler": its stack overflowed, the end
#   state of the first kind's fault loop when it overflows before anything prints
#   (seen: L1 CPU 1 stalled, then CPU 0's vCPU thread of a 2-vCPU L2).  The module
#   never runs on a vCPU thread's stack.
set -euo pipefail
log=${1:?usage: irq-while-masked.sh LOG}
[[ -r $log ]] || exit 1
# shellcheck disable=SC2016 # the $ are awk's
awk '
	{
		sub(/^l2\| /, "")	# a line of the nested guest kernel (tests/e2e/l2.sh)
		ts = ""
		if (match($0, /^\[ *[0-9.]+\]/))
			ts = substr($0, 2, RLENGTH - 2) + 0
		sub(/^\[ *[0-9.]+\] */, "")
	}
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
	/^Kernel panic - not syncing: corrupted stack end detected inside scheduler/ {
		stackend = 1; next
	}
	stackend == 1 && /^CPU: [0-9]+ .* Comm: qemu-system-x8/ { stackend = 2; next }
	stackend == 2 && /^ *(\? )?(kvm_vcpu_ioctl|kvm_arch_vcpu_ioctl_run|vcpu_run)\+/ {
		printf "a vCPU thread of QEMU overflowed its stack (corrupted stack end)\n"
		found = 1
		exit
	}
	/ Brought up [0-9]+ nodes?, [0-9]+ CPUs/ { ncpus = $(NF - 1) }
	/^watchdog: BUG: soft lockup - CPU#[0-9]+ stuck/ && stuck == "" {
		stuck = substr($6, 5) + 0; t_stuck = ts
	}
	stuck != "" && /^RIP: 0010:smp_call_function_many_cond\+/ { waiting = 1 }
	/^Kernel panic - not syncing: softlockup/ { t_panic = ts }
	/^NMI backtrace for cpu [0-9]+/ { answered[$NF] = 1 }
	{ prev = $0 }
	END {
		if (!ncpus)
			ncpus = 2
		if (!found && waiting && t_stuck != "" && t_panic != "" && t_panic - t_stuck >= 9.5)
			for (c = 0; c < ncpus; c++)
				if (c != stuck && !(c in answered)) {
					printf "no IPI or NMI taken by CPU %d while CPU %d waited for it\n", c, stuck
					found = 1
					break
				}
		exit !found
	}' "$log"
