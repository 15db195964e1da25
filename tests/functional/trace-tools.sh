# shellcheck shell=bash
# Sourced by tests/functional/run.sh INSIDE L1, after the suite binary: the
# module's trace events through the tools the README names (trace-cmd, perf,
# bpftrace), around a 1 s vsc-load run (1 queue, QD 4, 4k, half reads) on one
# ramdisk LUN of its own TPG.
#
#   run.trace_cmd  trace-cmd's report of that run: as many tvh_cmd_taken lines
#                  of READ(10) with dir=read and of WRITE(10) with dir=write as
#                  the load counted READs and WRITEs (tt_near), and a
#                  tvh_cmd_done for each
#   run.perf       perf stat counts tvh_cmd_taken, _submitted and _done alike,
#                  at least the load's I/Os
#   run.bpftrace   a bpftrace script's counts by the dir field (2: read,
#                  1: write) and its latency histogram of tvh_cmd_done
# Debian's vhost_scsi has no such events: there each is its XFAIL.

TT_WWPN=naa.5001405ace0000a1
TT_LOAD=(--wwpn "$TT_WWPN" --queues 1 --iodepth 4 --time 1 --ramp 0
	 --pattern rand4k --read-pct 50)

# tt_result NAME OK WHY: PASS, or FAIL (XFAIL against vhost_scsi).
tt_result() {
	if (($2)); then
		ok "$1"
	elif [[ $mod == vhost_scsi ]]; then
		echo "XFAIL: $suite_name/run.$1: Debian's vhost_scsi has no tcm_vhost trace events ($3)"
		xfail=$((xfail + 1))
	else
		ko "$1" "$3"
	fi
}

# tt_load [TOOL ARGS... --]: one vsc-load run (under TOOL if given); sets
# tt_reads and tt_writes, the I/Os it counted (0 if none)
tt_load() {
	"$@" "$PROJECT/tests/bin/vsc-load" "${TT_LOAD[@]}" >"$tmp/load.json" 2>/dev/null
	tt_reads=$(jq -r '.reads // 0' <"$tmp/load.json" 2>/dev/null)
	tt_writes=$(jq -r '.writes // 0' <"$tmp/load.json" 2>/dev/null)
	tt_reads=${tt_reads:-0} tt_writes=${tt_writes:-0}
}

# tt_near N COUNTED: the events number the load's I/Os, plus at most its queue
# depth twice (commands it sent but did not count at the end of its time)
tt_near() { (($1 >= $2 && $1 <= $2 + 8)); }

tt_trace_cmd() {
	local dat=$tmp/trace.dat rep=$tmp/trace.txt r w d good
	tt_load trace-cmd record -q -e tcm_vhost -o "$dat" --
	trace-cmd report -i "$dat" >"$rep" 2>/dev/null
	r=$(grep -c 'tvh_cmd_taken: .* opcode=0x28 len=4096 dir=read$' "$rep")
	w=$(grep -c 'tvh_cmd_taken: .* opcode=0x2a len=4096 dir=write$' "$rep")
	d=$(grep -c 'tvh_cmd_done: ' "$rep")
	good=0
	((tt_reads > 0 && d >= r + w)) && tt_near "$r" "$tt_reads" && tt_near "$w" "$tt_writes" && good=1
	tt_result trace_cmd "$good" \
		"trace-cmd report: $r READ(10) dir=read, $w WRITE(10) dir=write, $d done; the load did $tt_reads reads, $tt_writes writes"
	# what an operator sees: one command's three events, for the log
	grep -m 3 -E 'tvh_cmd_(taken|submitted|done): ' "$rep" | sed 's/^ */# trace-cmd: /'
}

tt_perf() {
	local out=$tmp/perf.txt t s d
	tt_load perf stat -x, -a -o "$out" \
		-e tcm_vhost:tvh_cmd_taken,tcm_vhost:tvh_cmd_submitted,tcm_vhost:tvh_cmd_done --
	t=$(awk -F, '$3 == "tcm_vhost:tvh_cmd_taken" { print $1 + 0 }' "$out" 2>/dev/null)
	s=$(awk -F, '$3 == "tcm_vhost:tvh_cmd_submitted" { print $1 + 0 }' "$out" 2>/dev/null)
	d=$(awk -F, '$3 == "tcm_vhost:tvh_cmd_done" { print $1 + 0 }' "$out" 2>/dev/null)
	t=${t:-0} s=${s:-0} d=${d:-0}
	tt_result perf "$((tt_reads > 0 && t >= tt_reads + tt_writes && t == s && s == d))" \
		"perf stat: taken $t, submitted $s, done $d; the load did $((tt_reads + tt_writes)) I/Os"
}

# bpftrace compiles its script for several seconds under TCG: the load starts
# once it says it has attached.
tt_bpftrace() {
	local out=$tmp/bpftrace.txt pid i r w h
	bpftrace -e 'tracepoint:tcm_vhost:tvh_cmd_taken { @dir[args->dir] = count(); }
		tracepoint:tcm_vhost:tvh_cmd_done { @us = hist(args->latency_ns / 1000); }' \
		>"$out" 2>&1 &
	pid=$!
	for ((i = 0; i < 120; i++)); do
		grep -q '^Attaching' "$out" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.5
	done
	sleep 1
	tt_load
	kill -INT "$pid" 2>/dev/null
	wait "$pid"
	r=$(sed -n 's/^@dir\[2\]: //p' "$out")
	w=$(sed -n 's/^@dir\[1\]: //p' "$out")
	h=$(grep -c '^\[.*) *[0-9]* |' "$out")
	r=${r:-0} w=${w:-0}
	tt_result bpftrace "$((tt_reads > 0 && r >= tt_reads && w >= tt_writes && h > 0))" \
		"bpftrace: @dir[2] $r, @dir[1] $w, $h histogram lines; the load did $tt_reads reads, $tt_writes writes: $(head -c 300 "$out" | tr '\n' ';')"
}

# trace_tools_check: the three, each SKIPped when its tool is missing; what it
# configures goes with the suite's teardown.
trace_tools_check() {
	local bs tool
	if ! bs=$(rd_create tt_r0 16) || ! vhost_tpg_create "$TT_WWPN" 1 >/dev/null ||
	   ! vhost_lun_link "$TT_WWPN" 1 0 "$bs" || ! vhost_nexus "$TT_WWPN" 1; then
		ko trace_tools "cannot configure $TT_WWPN"
		return
	fi
	mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
	for tool in trace_cmd perf bpftrace; do
		if ! command -v "${tool/_/-}" >/dev/null; then
			sk "$tool" "${tool/_/-} is not installed"
		elif [[ $tool == bpftrace && ! -d /sys/fs/bpf ]]; then
			# (the debug kernel of make check-debug is built without it)
			sk "$tool" "this kernel has no bpf() system call (CONFIG_BPF_SYSCALL)"
		else
			"tt_$tool"
		fi
	done
	if [[ $mod == tcm_vhost ]]; then tt_stats; fi
}

# tt_stats: the TPG's counters in the middle of a fourth run, for the log
# (they are there only while a device uses the TPG); no result
tt_stats() {
	local f=$VHOST_CFS/$TT_WWPN/tpgt_1/stats i
	tt_load &
	for ((i = 0; i < 50; i++)); do
		grep -q 'requests [1-9]' "$f" 2>/dev/null && break
		sleep 0.1
	done
	sleep 0.3
	sed 's/^/# stats: /' "$f" 2>/dev/null
	wait
}
