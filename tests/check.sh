#!/bin/bash
# make check: from a fresh Debian machine (as root) to one summary line.
#
# On every Debian kernel series the package lists offer (newest first: 6.12,
# then 6.1; scripts/kernel-version.sh --all), or on KV=... alone:
#   1. install what is missing (scripts/deps.sh), build module and tests
#   2. static checks: W=1 build, sparse (per kernel), checkpatch --strict
#   3. in a VM booting that Debian kernel (a fresh one per step, each step
#      ending with unload + leak checks): the functional suite against
#      Debian's vhost_scsi.ko and against tcm_vhost.ko; the malformed-input
#      suite against both; task management and hotplug; a short fuzzing
#      campaign; the end-to-end tests with a nested QEMU guest through
#      tcm_vhost (fio verify, restart, kill -9, targetcli, sg_reset, the
#      demo; the older kernels run fio verify, sg_reset and a guest that
#      libvirt starts)
#   4. the DKMS package in clean Debian 12 and 13 roots (tests/pkg/dkms.sh)
#   5. print every failure, then "N passed, N failed, N skipped"; exit 1 on
#      any failure
#
# Results are lines "PASS: KV/x", "FAIL: KV/x: why", "SKIP: KV/x: why" and,
# for behaviour beyond upstream that Debian's module lacks, "XFAIL: KV/x: why".
# Logs: build/check/KV/ (the VM console logs are named in any failure).
# CHECK_ONLY=static,functional,badinput,tmf,fuzz,e2e,pkg picks parts (default:
# all); E2E_SECONDS sets fio's time per workload (default 5).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
# CHECK_OUT: where results and logs go (tests/check-debug.sh: build/check-debug)
check_out=${CHECK_OUT:-$top/build/check}
rel=${check_out#"$top"/}
out=$check_out
rm -rf "$out"
mkdir -p "$out"
parts=${CHECK_ONLY:-static,functional,badinput,tmf,fuzz,e2e,pkg}
start=$(date +%s)

results=$out/results.txt
: >"$results"

say() { printf '== %s\n' "$*"; step_t0=$SECONDS; }
step_t0=0
result() { echo "$*" | tee -a "$results"; }

# The result lines of a finished step (output in build/check/NAME.out); a
# step that failed without saying which test failed becomes one failure of
# its own.  Returns RC.
record_step() {
	local name=$1 rc=$2
	# (a failed VM's console tail repeats lines: each result counts once)
	grep -E '^(PASS|FAIL|SKIP|XFAIL): ' "$out/$name.out" | awk '!seen[$0]++' |
		sed -E "s#^(PASS|FAIL|SKIP|XFAIL): #\1: $tag/#" | tee -a "$results"
	if [ "$rc" -ne 0 ] && ! grep -q '^FAIL: ' "$out/$name.out"; then
		result "FAIL: $tag/$name: exit status $rc (see $out/$name.out)"
		tail -n 15 "$out/$name.out" | sed 's/^/    /'
	fi
	if [ "$rc" -ne 0 ]; then
		{ echo "$tag/$name:"; step_evidence "$out/$name.out"; } >>"$check_out/evidence.txt"
		step_evidence "$out/$name.out"
	fi
	echo "$tag/$name $((SECONDS - step_t0))" >>"$check_out/times.txt"
	echo "   ($name: $((SECONDS - step_t0)) s)"
	return "$rc"
}

# What a failed step's output says about why, in a few lines: the hang
# watcher's stacks (tests/vm/stage2.sh), kernel complaints, nested guests
# that timed out or died.
step_evidence() {
	grep -aE 'stage2: a task hung|blocked for more than|^(# )?(L2 )?(\[ *[0-9.]+\] *)?(RIP:|Call Trace|  [a-z_]+\+0x)|KERNEL-COMPLAINT|^(# )?l2: .*\(after|^vm: .*\(after|^# (sg_reset|fio: |L[12]: )' "$1" |
		awk '{ k = $0; sub(/\[ *[0-9.]+\] */, "", k) } !seen[k]++' | head -n 30 | sed 's/^/    | /'
}

run_step() {
	local name=$1
	shift
	say "$name"
	"$@" >"$out/$name.out" 2>&1
	record_step "$name" $?
}

static_result() {
	local name=$1 logf=$out/$1.out
	shift
	if "$@" >"$logf" 2>&1 && [ ! -s "$logf" ]; then
		result "PASS: $tag/static/$name"
	else
		result "FAIL: $tag/static/$name: see $logf"
		head -n 20 "$logf" | sed 's/^/    /'
	fi
}

say "dependencies"
tag=setup
if ! scripts/deps.sh; then
	result "FAIL: setup/deps: package installation failed"
	echo "0 passed, 1 failed"
	exit 1
fi
# KV=... (given by the user, not defaulted by the Makefile) runs one kernel.
if [ -n "${KV:-}" ] && [ "${TVH_KV_DEFAULTED:-}" != 1 ]; then
	kvs=$KV
else
	kvs=$(scripts/kernel-version.sh --all)
fi
say "kernels: $(xargs <<<"$kvs")"
newest_kv=$(echo "$kvs" | head -n 1)
# Debian 13's root gives the e2e tests their L1 userspace (QEMU 10, targetcli-fb),
# and the VMs their emulator when the next root is missing.  Without both the VMs
# fall back to this system's QEMU.
say "Debian 13 userspace (QEMU 10 and targetcli-fb in L1)"
if ! trixie_root=$(tests/vm/trixie.sh prepare 2>"$out/trixie.out"); then
	trixie_root=
	if [[ $parts == *e2e* ]]; then
		result "FAIL: setup/trixie-root: see $rel/trixie.out"
	else
		say "no Debian 13 root ($rel/trixie.out): this system's QEMU emulates the VMs"
	fi
fi
# trixie-backports' QEMU as the emulator when it can be had: Debian 13's QEMU 10
# can drop an interrupt of a vCPU that enters its nested guest (tests/vm/run).
say "trixie-backports' QEMU as the emulator"
if ! TVH_TRIXIE_EMULATOR=1 tests/vm/trixie.sh prepare >/dev/null 2>"$out/emulator.out"; then
	say "no trixie-backports root ($rel/emulator.out): Debian 13's QEMU 10 emulates the VMs"
fi
if ! make -s -C tests >"$out/tests-build.out" 2>&1; then
	result "FAIL: setup/tests-build: see $rel/tests-build.out"
	tail -n 20 "$out/tests-build.out"
	echo "0 passed, 1 failed"
	exit 1
fi
tag=all
# shellcheck disable=SC2207 # file names without blanks
sources=($(scripts/sources.sh))
static_result checkpatch scripts/lint.sh checkpatch "${sources[@]}" tests/kmod/*.c
# make mutants is not part of the check, but whether each mutant still applies is:
static_result mutants-apply python3 tests/selftest/mutants.py --applies

# check_kernel KV: build the module for KV in build/check/KV/ko (a copy of the
# sources, so that the kernels' builds never mix), then its static checks and
# VM steps.  Results are tagged with the kernel's series (6.1, 6.12).
check_kernel() {
	local kv=$1 ko_dir
	export KV=$kv
	tag=$(echo "$kv" | sed -E 's/^([0-9]+\.[0-9]+).*/\1/')
	out=$check_out/$kv
	mkdir -p "$out"
	ko_dir=$out/ko
	say "kernel $KV: build"
	rm -rf "$ko_dir" && mkdir -p "$ko_dir" &&
		cp -r Kbuild Makefile scripts "${sources[@]}" "$ko_dir/"
	if ! make -s -C "$ko_dir" modules W=1 >"$out/build.out" 2>&1; then
		result "FAIL: $tag/static/build: see $out/build.out"
		tail -n 20 "$out/build.out"
		return
	fi
	export TCM_VHOST_KO=/project/${ko_dir#"$top"/}/tcm_vhost.ko
	# CHECK_KMOD=1 (check-debug): the test-only modules of tests/kmod too;
	# badinput's close_while_last_recycle_waits loads tvh_wake_delay.ko
	# (without it, it is skipped).  TCMV_* variables reach the VMs.
	unset TCMV_WAKE_DELAY_KO
	if [[ ${CHECK_KMOD:-0} == 1 ]]; then
		if tests/kmod/build.sh "$out/kmod" >"$out/kmod.out" 2>&1; then
			export TCMV_WAKE_DELAY_KO=/project/${out#"$top"/}/kmod/tvh_wake_delay.ko
		else
			result "FAIL: $tag/static/kmod-build: see $out/kmod.out"
			tail -n 20 "$out/kmod.out"
		fi
	fi
	if [[ $parts == *static* ]]; then
		say "kernel $KV: static checks"
		# The build above was W=1; kbuild prints only progress lines when
		# there is nothing to say.
		static_result w1-build bash -c "grep -vE 'directory|Skipping BTF' '$out/build.out' || true"
		static_result sparse bash -c \
			"make -s -C '$ko_dir' modules C=2 2>&1 | grep -vE '^ *CHECK |directory|Skipping BTF' || true"
	fi

	if ! tests/vm/kernel.sh prepare >"$out/prepare.out" 2>&1; then
		result "FAIL: $tag/setup/vm-prepare: see $out/prepare.out"
		tail -n 20 "$out/prepare.out"
		return
	fi
	# One fresh VM per step: a step that breaks the kernel takes only
	# itself down, and every step ends with its own unload + leak checks.
	# vm_run NAME TIMEOUT DIED CMD...: CMD in one VM, into $out/NAME.out
	# and .log.  A VM that DIED NAME says was killed by the emulation, not
	# by the step, is booted again, at most twice (earlier tries stay as
	# NAME.tryN.*); DIED prints why, for the RETRY line.
	vm_run() {
		local name=$1 timeout=$2 died=$3 try rc why
		shift 3
		for try in 1 2 3; do
			tests/vm/run -t "$timeout" -l "$out/$name.log" -- "$@" >"$out/$name.out" 2>&1
			rc=$?
			if [ $rc -eq 0 ] || [ $try -eq 3 ] || ! why=$("$died" "$name"); then
				break
			fi
			echo "RETRY: $name: $why"
			mv "$out/$name.log" "$out/$name.try$try.log"
			mv "$out/$name.out" "$out/$name.try$try.out"
		done
		return $rc
	}
	# died_of_int3 NAME: the VM's kernel died of an int3 trap before the
	# step printed a result: TCG ran the temporary int3 of a jump label
	# being patched (seen at 2-3 s of boot, before any module was loaded;
	# see e2e_kvm_hold).
	died_of_int3() {
		grep -qE '^(PASS|FAIL|SKIP|XFAIL): ' "$out/$1.out" && return 1
		grep -aq 'Oops: int3' "$out/$1.log" || return 1
		echo "the VM's kernel died of an int3 trap before the step began (TCG)"
	}
	# died_of_nesting NAME: an e2e VM stopped without a word and without a
	# FAIL.  An L1 CPU that lost its timer says so; that and what follows
	# from it (hung tasks) is the emulation, and so is an int3 trap (as
	# above).  So is an interrupt taken where none can arrive: inside
	# __svm_vcpu_run (GIF clear), or with IF clear (L1 stuck on 9p's
	# channel lock in a soft-lockup panic); tests/vm/irq-while-masked.sh
	# says which.  Another complaint of L1's kernel is not the emulation;
	# the nested guest's (lines "l2| [...]") follow from L1's stop: an L2
	# whose vCPU L1 no longer runs reports an RCU stall, then L1 resets.
	died_of_nesting() {
		local masked
		grep -q '^FAIL: ' "$out/$1.out" && return 1
		grep -q 'timed out\|without an exit marker' "$out/$1.out" || return 1
		if masked=$(tests/vm/irq-while-masked.sh "$out/$1.log"); then
			echo "the VM's kernel took $masked, after: $(grep -E '^(PASS|l2: )' "$out/$1.out" | tail -n 1)"
			return 0
		fi
		if ! grep -aq 'timer wakeup didn.t happen\|Oops: int3' "$out/$1.log" &&
			grep -av '^l2| ' "$out/$1.log" |
			grep -aqE 'WARNING:|BUG|Oops|rcu: INFO|blocked for more than|general protection'; then
			return 1
		fi
		echo "the VM stopped without a word after: $(grep -E '^(PASS|l2: )' "$out/$1.out" | tail -n 1)"
	}
	vm_step() {
		local name=$1 timeout=$2
		shift 2
		say "$name"
		vm_run "$name" "$timeout" died_of_int3 "$@"
		record_step "$name" $?
	}
	# Against Debian's vhost_scsi a crash of the VM's kernel is upstream's
	# defect, not a failure of ours: reported as XFAIL with its first line
	# (the VM panics on any oops, so this costs no timeout).
	upstream_step() {
		local name=$1 timeout=$2 rc crash=
		shift 2
		# CHECK_UPSTREAM=0 (check-debug): tcm_vhost only
		[ "${CHECK_UPSTREAM:-1}" = 1 ] || return 0
		say "$name"
		vm_run "$name" "$timeout" died_of_int3 "$@"
		rc=$?
		# Its own warnings were reported as its XFAIL (suite_dmesg).
		if [ $rc -eq 125 ] && grep -q "^XFAIL: .*run.dmesg_clean: Debian's vhost_scsi warned" "$out/$name.out"; then
			rc=0
		fi
		if [ $rc -ne 0 ] && ! grep -q '^FAIL: ' "$out/$name.out"; then
			# kernel lines only: a test's SKIP reason may name a crash
			crash=$(grep -aE -m1 '^\[ *[0-9.]+\] .*(kernel BUG|Oops|general protection|list_(add|del) corruption|BUG: unable)' \
				"$out/$name.log" | sed 's/^\[ *[0-9.]*\] //')
		fi
		if [ -z "$crash" ]; then
			record_step "$name" $rc
			return
		fi
		record_step "$name" 0
		result "XFAIL: $tag/$name/host_crash: Debian's vhost_scsi crashed the VM's kernel: $crash (see $out/$name.log)"
	}
	e2e_step() {
		local name=$1 timeout=$2 test=$3
		say "$name${E2E_ROOT:+ (userspace: $E2E_ROOT)}${E2E_VHOST_OPTS:+ ($E2E_VHOST_OPTS)}"
		# The nested guests' consoles stay with the step's logs (L1 sees
		# the project at /project).
		local l2_logs=''
		[[ $out == "$top"/* ]] && l2_logs=/project/${out#"$top"/}
		E2E_TESTS=${test//+/ } E2E_SECONDS=${E2E_SECONDS:-5} E2E_L2_LOG_DIR=$l2_logs \
			vm_run "$name" "$timeout" died_of_nesting tests/e2e/all.sh tcm_vhost
		record_step "$name" $?
	}
	if [[ $parts == *functional* ]]; then
		upstream_step functional-vhost_scsi 900 tests/functional/run.sh vhost_scsi
		vm_step functional-tcm_vhost 900 tests/functional/run.sh tcm_vhost
	fi
	if [[ $parts == *badinput* ]]; then
		# Pages as the allocator hands them out, poisoned when freed: a
		# buffer the module forgets to clear shows up as 0xaa in a guest.
		VM_APPEND="init_on_alloc=0 page_poison=1" \
			vm_step badinput-tcm_vhost 900 tests/badinput/run.sh tcm_vhost
		VM_APPEND="init_on_alloc=0 page_poison=1" \
			upstream_step badinput-vhost_scsi 900 tests/badinput/run.sh vhost_scsi
	fi
	if [[ $parts == *tmf* ]]; then
		vm_step tmf-tcm_vhost 900 tests/tmf/run.sh tcm_vhost
	fi
	if [[ $parts == *fuzz* ]]; then
		# The older kernels differ from the newest in few paths (the
		# compat layer): half the seeds.  15 s a seed (about 20,000
		# cases); make fuzz runs longer campaigns.
		local seeds="1 2 3 4 5 6"
		[ "$kv" = "$newest_kv" ] || seeds="1 2 3"
		vm_step fuzz-tcm_vhost 600 env FUZZ_SEEDS="$seeds" FUZZ_SECONDS=15 \
			tests/fuzz/run.sh tcm_vhost
	fi
	if [[ $parts == *e2e* ]]; then
		# One L1 VM per step; tests joined by "+" share it, each from an
		# empty target (tests/e2e/all.sh), which saves about 40 s of L1
		# boot per test.  L1 itself sometimes stops dead while it runs a
		# nested guest (no console output, or a CPU whose timer stopped: the
		# nested emulation, seen with either module).  Such a step is run
		# again, at most twice; one that printed a FAIL or another kernel
		# complaint never is.
		# The newest kernel's guests are started by Debian 13's QEMU 10
		# and configured by its targetcli (tests/vm/trixie.sh), in both
		# of QEMU's worker modes; the others' by this system's.
		# The older kernels run the tests whose path through the kernel
		# differs (multiqueue with several LUNs in one guest, resets from
		# a real guest), not the whole matrix again: restart, kill -9,
		# targetcli and the demo go through the same vhost and configfs
		# paths that functional, badinput and tmf cover on every kernel.
		# libvirt (this system's, Debian 12's) starts its guest on the
		# older kernel, with this system's QEMU.
		# Verified fio on the newest kernel: four LUNs on four queues with
		# QEMU's default (one worker), one LUN on four queues with a worker
		# per queue; one LUN on one queue is what the demo, sg-reset and
		# lifecycle guests verify, and the mixed pairs take the same paths
		# (each nested boot costs about a minute).
		# Every nested guest has one vCPU, so drives one of its queues:
		# 2-vCPU guests are lost to the emulation too often to gate on
		# (tests/e2e/l2.sh; E2E_L2_CPUS=2 runs them by hand).  QEMU still
		# sets up all four queues, and with worker_per_virtqueue=on asks
		# for a worker for each.
		# The newest kernel's worker_per_virtqueue=on L1 also runs
		# sg-reset and the demo, whose guests have one queue (QEMU asks
		# for workers only with more than one).  Lifecycle keeps an L1 of
		# its own: its loaded guest's long timeout (below) would make a
		# retried shared step cost the most.
		local root="" tests="fio-verify+targetcli+resize lifecycle sg-reset+demo" cases=4x4
		local wpv=""
		if [ "$kv" = "$newest_kv" ] && [ -n "$trixie_root" ]; then
			root=trixie
			tests="fio-verify+targetcli+resize lifecycle"
			wpv="sg-reset+demo+fio-verify"
		elif [ "$kv" != "$newest_kv" ]; then
			tests="fio-verify+sg-reset+libvirt"
		fi
		# 600 s: these steps take 100-220 s here (330 s on a machine
		# 1.5x slower); an L1 whose CPU lost its timer is stopped a
		# minute after RCU reports it (tests/vm/run), and is then booted
		# again.  fio-verify gets 900 s: a guest that the emulation
		# stops costs its L2 timeout and another boot (tests/e2e/l2.sh);
		# lifecycle 1200: its loaded guest may be booted three times
		# (240 s each) before it starts fio (tests/e2e/lifecycle.sh).
		local tmo
		for t in $tests; do
			tmo=600
			case $t in *fio-verify*) tmo=900 ;; lifecycle) tmo=1200 ;; esac
			E2E_ROOT=$root E2E_FIO_CASES=$cases e2e_step "e2e-$t" "$tmo" "$t"
		done
		if [ -n "$wpv" ]; then
			E2E_ROOT=$root E2E_VHOST_OPTS=worker_per_virtqueue=on E2E_FIO_CASES=1x4 \
				e2e_step "e2e-$wpv-worker_per_virtqueue" 900 "$wpv"
		fi
	fi
}

for kv in $kvs; do
	check_kernel "$kv"
done

# The DKMS package, installed as a user would on a clean Debian 12 and 13
# (tests/pkg/dkms.sh: every kernel of the suite, and one arriving later).
if [[ $parts == *pkg* ]]; then
	tag=all
	for suite in bookworm trixie; do
		run_step "pkg-$suite" tests/pkg/dkms.sh "$suite"
	done
fi
out=$check_out

passed=$(grep -c '^PASS: ' "$results")
failed=$(grep -c '^FAIL: ' "$results")
skipped=$(grep -c '^SKIP: ' "$results")
xfailed=$(grep -c '^XFAIL: ' "$results")
echo
if [ "$xfailed" -gt 0 ]; then
	echo "Beyond upstream (expected to differ on Debian's vhost_scsi): $xfailed"
	grep '^XFAIL: ' "$results" | sed 's/^/  /'
fi
# Where the kernels' vhost_scsi differ: XFAILs seen on one kernel only.
series=$(sed -n 's/^[A-Z]*: \([0-9][0-9.]*\)\/.*/\1/p' "$results" | sort -u -V)
if [ "$(echo "$series" | wc -w)" -gt 1 ]; then
	xf_of() { sed -n "s#^XFAIL: $1/\([^:]*\):.*#\1#p" "$results" | sort -u; }
	for a in $series; do
		for b in $series; do
			[ "$a" = "$b" ] && continue
			only=$(comm -23 <(xf_of "$a") <(xf_of "$b") | sed 's/^/  /')
			[ -n "$only" ] && printf 'XFAIL on %s only:\n%s\n' "$a" "$only"
		done
	done
fi
if [ "$failed" -gt 0 ]; then
	echo "Failures:"
	grep '^FAIL: ' "$results" | sed 's/^/  /'
	# Again here, where a reader of the summary's tail looks for them.
	if [ -s "$check_out/evidence.txt" ]; then
		echo "What the failed steps said ($rel/evidence.txt):"
		sed 's/^/  /' "$check_out/evidence.txt" | head -n 120
	fi
fi
retried=$(find "$out" -name '*.out' -exec grep -h 'l2: RETRY: ' {} + 2>/dev/null | sed 's/^.*l2: RETRY: /  /')
if [ -n "$retried" ]; then
	echo "Nested guests booted again after the nested emulation stopped them: $(wc -l <<<"$retried") (tests/e2e/l2.sh):"
	echo "$retried"
fi
rerun=$(find "$out" -name '*.try[0-9].out' | wc -l)
if [ "$rerun" -gt 0 ]; then
	echo "Step VMs booted again after the emulation stopped them (the RETRY lines above): $rerun ($rel/*/*.tryN.*)"
fi
for s in $series; do
	printf '%s: %s passed, %s failed, %s skipped, %s xfail\n' "$s" \
		"$(grep -c "^PASS: $s/" "$results")" "$(grep -c "^FAIL: $s/" "$results")" \
		"$(grep -c "^SKIP: $s/" "$results")" "$(grep -c "^XFAIL: $s/" "$results")"
done | paste -sd ';' | sed 's/;/; /g; s/^/per kernel: /'
echo "make ${CHECK_TARGET:-check} took $(($(date +%s) - start)) s; logs in $rel/"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
