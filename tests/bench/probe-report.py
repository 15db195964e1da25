#!/usr/bin/env python3
"""Summarise tests/bench/probe.sh's points.jsonl as markdown.

One row per configuration (the guest's boot configuration, plus its live setting): the
medians over every point of IOPS, p50/p99 read latency and the costs per I/O; then the
ratio of each configuration's IOPS to the first one's, per round (a round's value is the
ratio of its medians), as median and min..max over rounds.
"""
import json
import statistics
import sys
from collections import defaultdict

PER_IO = [("exits", "exits"), ("irq_inj", "L1 irq inj"), ("l2_irqs", "L2 irqs"),
          ("kicks", "kicks"), ("polled", "polled"), ("signals", "signals"), ("held", "held"),
          ("l2_busy_us", "L2 CPU us"), ("l1_busy_us", "L1 CPU us"),
          ("l1_ctxsw", "L1 ctx sw")]
# What L1's exits were (probe.sh's KVM_EXITS_BY): a second table, where the points have them
EXITS_BY = [("halt_exits", "halts"), ("halt_successful_poll", "halt polls won"),
            ("halt_wakeup", "halt wake-ups"), ("irq_exits", "host irqs"),
            ("irq_window_exits", "irq windows"), ("insn_emulation", "emulated"),
            ("io_exits", "PIO to user"), ("mmio_exits", "MMIO to user")]


def config(p):
    return p["boot"] + ("" if p["label"] == "-" else "/" + p["label"])


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main(path):
    try:
        points = [json.loads(line) for line in open(path) if line.startswith("{")]
    except FileNotFoundError:
        points = []
    if not points:
        print("probe: no points")
        return 1
    by = defaultdict(list)
    for p in points:
        by[config(p)].append(p)
    names = list(by)
    print("| configuration | points | IOPS | p50 us | p99 us | "
          + " | ".join(h + "/IO" for _, h in PER_IO) + " |")
    print("|" + " --- |" * (4 + len(PER_IO) + 0) + " --- |")
    for n in names:
        ps = by[n]
        row = [n, str(len(ps)), "%.0f" % med([p["iops"] for p in ps]),
               "%.0f" % med([p["read_p50_us"] for p in ps]),
               "%.0f" % med([p["read_p99_us"] for p in ps])]
        for key, _ in PER_IO:
            row.append("%.2f" % med([p[key] / p["l2_ios"] for p in ps
                                     if p["l2_ios"] and key in p]))
        print("| " + " | ".join(row) + " |")
    have = [(k, h) for k, h in EXITS_BY if any(k in p for p in points)]
    if have:
        print()
        print("| configuration | " + " | ".join(h + "/IO" for _, h in have) + " |")
        print("|" + " --- |" * (1 + len(have)))
        for n in names:
            print("| " + " | ".join([n] + ["%.2f" % med([p[k] / p["l2_ios"] for p in by[n]
                                                        if p["l2_ios"] and k in p])
                                           for k, _ in have]) + " |")
    base = names[0]
    rounds = sorted({p["round"] for p in points})
    print()
    print("IOPS ratio to %s, per round: median (min..max) [rounds]" % base)
    for n in names[1:]:
        rs = []
        for r in rounds:
            a = [p["iops"] for p in by[n] if p["round"] == r]
            b = [p["iops"] for p in by[base] if p["round"] == r]
            if a and b:
                rs.append(med(a) / med(b))
        if rs:
            print("- %s: %.2f (%.2f..%.2f) %s" % (n, med(rs), min(rs), max(rs),
                                                 " ".join("%.2f" % x for x in rs)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
